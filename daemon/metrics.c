// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Prometheus text exposition on GET /metrics. libmicrohttpd serves it from
 * its own thread; the daemon lock keeps it from reading a pipeline while the
 * main thread swaps it.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>
#include "sluiced.h"

struct metrics {
	struct MHD_Daemon *mhd;
};

struct buf {
	char *p;
	size_t len, cap;
};

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		b->cap = (b->cap + (size_t)n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			return;
	}
}

static void help(struct buf *b, const char *name, const char *type, const char *text)
{
	bprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

/* Capture mode: one series per socket, labelled by interface and queue. */
static void xsk_render(struct buf *b, const struct capture *c)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} ctr[] = {
#define XSK_CTR(n, f, h) { "sluice_xsk_" n "_total", h, offsetof(struct capture_queue_stats, f) }
		XSK_CTR("packets", packets, "Frames received on the daemon's AF_XDP sockets."),
		XSK_CTR("bytes", bytes, "Bytes of those frames."),
		XSK_CTR("valid", valid, "Frames whose sluice payload verified."),
		XSK_CTR("corrupt", corrupt, "Frames whose sluice payload failed its checksum or length."),
		XSK_CTR("gaps", gaps, "Sequence numbers missing, per flow."),
		XSK_CTR("reordered", reordered, "Frames numbered below one already seen in their flow."),
		XSK_CTR("rx_dropped", xdp.rx_dropped, "Frames the kernel dropped at the socket."),
		XSK_CTR("rx_ring_full", xdp.rx_ring_full, "Frames dropped because the rx ring was full."),
		XSK_CTR("rx_fill_ring_empty", xdp.rx_fill_ring_empty_descs,
			"Times the kernel found the fill ring empty."),
#undef XSK_CTR
	};
	struct capture_queue_stats st[SLUICE_XSK_MAX_QUEUES];
	int n = capture__nr_queues(c);

	for (int i = 0; i < n; i++) {
		memset(&st[i], 0, sizeof(st[i]));
		capture__queue_stats(c, i, &st[i]);
	}
	for (size_t k = 0; n && k < sizeof(ctr) / sizeof(ctr[0]); k++) {
		help(b, ctr[k].name, "counter", ctr[k].help);
		for (int i = 0; i < n; i++)
			bprintf(b, "%s{iface=\"%s\",queue=\"%u\"} %llu\n", ctr[k].name,
				capture__ifname(c), st[i].queue_id,
				*(const unsigned long long *)((const char *)&st[i] + ctr[k].off));
	}
}

char *metrics__render(struct daemon *d)
{
	struct sluice_slot_stats slots[SLUICE_MAX_STAGES];
	struct sluice_pipe_stats ps[64];
	struct buf b = {};
	size_t n;

	pthread_mutex_lock(&d->lock);
	n = d->nr_ifs < 64 ? d->nr_ifs : 64;
	help(&b, "sluice_packets_total", "counter", "Packets by final verdict.");
	for (size_t i = 0; i < n; i++) {
		struct pipeline *pl = &d->ifs[i].pl;

		if (pipeline__stats(pl, &ps[i], slots))
			memset(&ps[i], 0, sizeof(ps[i]));
		for (int v = 0; v < SLUICE_NR_VERDICTS; v++)
			bprintf(&b, "sluice_packets_total{iface=\"%s\",verdict=\"%s\"} %llu\n", pl->ifname,
				xdp_verdict_name(v), (unsigned long long)ps[i].verdict[v]);
	}
	help(&b, "sluice_bytes_total", "counter", "Bytes seen by the pipeline.");
	for (size_t i = 0; i < n; i++)
		bprintf(&b, "sluice_bytes_total{iface=\"%s\"} %llu\n", d->ifs[i].pl.ifname,
			(unsigned long long)ps[i].bytes);
	help(&b, "sluice_missed_tail_calls_total", "counter",
	     "Packets that met an empty slot and got the default verdict.");
	for (size_t i = 0; i < n; i++)
		bprintf(&b, "sluice_missed_tail_calls_total{iface=\"%s\"} %llu\n", d->ifs[i].pl.ifname,
			(unsigned long long)ps[i].missed);
	help(&b, "sluice_mixed_generation_packets_total", "counter",
	     "Packets stamped by stages of two generations (must stay 0).");
	for (size_t i = 0; i < n; i++)
		bprintf(&b, "sluice_mixed_generation_packets_total{iface=\"%s\"} %llu\n",
			d->ifs[i].pl.ifname, (unsigned long long)ps[i].mixed);
	help(&b, "sluice_generation", "gauge", "Live pipeline generation.");
	for (size_t i = 0; i < n; i++)
		bprintf(&b, "sluice_generation{iface=\"%s\"} %u\n", d->ifs[i].pl.ifname, d->ifs[i].pl.gen);
	help(&b, "sluice_stage_packets_total", "counter", "Packets that entered each stage.");
	for (size_t i = 0; i < n; i++) {
		struct pipeline *pl = &d->ifs[i].pl;

		if (pipeline__stats(pl, &ps[i], slots))
			continue;
		for (int s = 0; s < pl->nr_stages; s++)
			bprintf(&b, "sluice_stage_packets_total{iface=\"%s\",stage=\"%s\",slot=\"%d\"} %llu\n",
				pl->ifname, pl->src[s].name, s, (unsigned long long)slots[s].packets);
	}
	xsk_render(&b, d->capture);
	help(&b, "sluice_swaps_total", "counter", "Stage swaps and transactions applied.");
	bprintf(&b, "sluice_swaps_total %llu\n", (unsigned long long)d->swaps);
	pthread_mutex_unlock(&d->lock);
	return b.p;
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url,
			     const char *method, const char *version, const char *upload,
			     size_t *upload_len, void **state)
{
	struct daemon *d = cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	unsigned int code = MHD_HTTP_OK;
	char *body;

	if (strcmp(method, "GET"))
		return MHD_NO;
	if (strcmp(url, "/metrics")) {
		static char nf[] = "not found: try /metrics\n";

		body = strdup(nf);
		code = MHD_HTTP_NOT_FOUND;
	} else {
		body = metrics__render(d);
	}
	if (!body)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4");
	ret = MHD_queue_response(conn, code, resp);
	MHD_destroy_response(resp);
	return ret;
}

struct metrics *metrics__start(struct daemon *d)
{
	struct metrics *m;

	if (!d->cfg->metrics.listen)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
				  serve, d, MHD_OPTION_SOCK_ADDR, &d->cfg->metrics.addr,
				  MHD_OPTION_CONNECTION_TIMEOUT, 5u, MHD_OPTION_END);
	if (!m->mhd) {
		log_err("metrics: cannot listen on %s", d->cfg->metrics.listen);
		free(m);
		return NULL;
	}
	log_info("metrics on http://%s/metrics", d->cfg->metrics.listen);
	return m;
}

void metrics__stop(struct metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->mhd);
	free(m);
}
