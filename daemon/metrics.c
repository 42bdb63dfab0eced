// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Prometheus text exposition on GET /metrics. libmicrohttpd serves it from
 * its own thread, from a snapshot the main thread renders once a second:
 * the HTTP side never reads a pipeline and never takes the daemon's lock,
 * so no client of this port can slow a swap. Connections are capped in
 * all and per address, and time out, so the port cannot take the
 * descriptors the control socket and the swaps need.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>
#include "sluiced.h"

#define METRICS_REFRESH_MS	1000
#define METRICS_MAX_CONNS	32	/* at most; fewer under a low descriptor limit */
#define METRICS_PER_IP		4
#define METRICS_TIMEOUT_S	5

struct metrics {
	struct MHD_Daemon *mhd;
	int fd;				/* the listening socket, bound before the capabilities go */
	pthread_mutex_t lock;		/* the snapshot only */
	char *snapshot;
	uint64_t rendered_ms;
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

	/* The main thread's own data: it alone changes pipelines, so no lock. */
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
	return b.p;
}

void metrics__refresh(struct daemon *d, bool now)
{
	struct metrics *m = d->metrics;
	uint64_t t = ctl__now_ms();
	char *body, *old;

	if (!m || (!now && t - m->rendered_ms < METRICS_REFRESH_MS))
		return;
	body = metrics__render(d);
	if (!body)
		return;
	pthread_mutex_lock(&m->lock);
	old = m->snapshot;
	m->snapshot = body;
	m->rendered_ms = t;
	pthread_mutex_unlock(&m->lock);
	free(old);
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url,
			     const char *method, const char *version, const char *upload,
			     size_t *upload_len, void **state)
{
	struct metrics *m = cls;
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
		pthread_mutex_lock(&m->lock);
		body = m->snapshot ? strdup(m->snapshot) : NULL;
		pthread_mutex_unlock(&m->lock);
	}
	if (!body)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4");
	ret = MHD_queue_response(conn, code, resp);
	MHD_destroy_response(resp);
	return ret;
}

/*
 * How many connections the HTTP side may hold: a quarter of the descriptors
 * (main() raised the soft limit to the hard one), at most METRICS_MAX_CONNS,
 * so the rest stays for the control path and the swaps.
 */
static unsigned int metrics_conn_limit(void)
{
	struct rlimit rl;
	rlim_t cur;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 4;
	cur = rl.rlim_cur == RLIM_INFINITY ? 4 * METRICS_MAX_CONNS : rl.rlim_cur;
	return cur / 4 > METRICS_MAX_CONNS ? METRICS_MAX_CONNS : cur / 4 ? (unsigned int)(cur / 4) : 1;
}

/*
 * Binds the endpoint's socket while the daemon may still bind any port;
 * metrics__start() serves it later, from a thread that starts with the
 * capabilities the daemon keeps.
 */
int metrics__listen(struct daemon *d, struct metrics **out)
{
	const struct sockaddr_storage *sa = &d->cfg->metrics.addr;
	struct metrics *m;
	int fd, off = 0, on = 1, ret;

	*out = NULL;
	if (!d->cfg->metrics.listen)
		return 0;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	m->fd = -1;
	fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto err;
	/* ":PORT" is every address, IPv6 and IPv4 alike. */
	if (sa->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (bind(fd, (const struct sockaddr *)sa, d->cfg->metrics.addrlen) || listen(fd, 16))
		goto err;
	m->fd = fd;
	*out = m;
	return 0;
err:
	ret = -errno;
	log_err("metrics: cannot listen on %s: %s", d->cfg->metrics.listen, strerror(errno));
	if (fd >= 0)
		close(fd);
	pthread_mutex_destroy(&m->lock);
	free(m);
	return ret;
}

int metrics__start(struct daemon *d, struct metrics *m)
{
	unsigned int limit = metrics_conn_limit();

	if (!m)
		return 0;
	d->metrics = m;
	metrics__refresh(d, true);
	m->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG,
				  0, NULL, NULL, serve, m,
				  MHD_OPTION_LISTEN_SOCKET, m->fd,
				  MHD_OPTION_CONNECTION_LIMIT, limit,
				  MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)METRICS_PER_IP,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)METRICS_TIMEOUT_S,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
				  MHD_OPTION_END);
	if (!m->mhd) {
		log_err("metrics: cannot serve %s", d->cfg->metrics.listen);
		return -EIO;
	}
	log_info("metrics on http://%s/metrics (at most %u connections, %d per address)",
		 d->cfg->metrics.listen, limit, METRICS_PER_IP);
	return 0;
}

void metrics__stop(struct metrics *m)
{
	if (!m)
		return;
	if (m->mhd)
		MHD_stop_daemon(m->mhd);
	if (m->fd >= 0)
		close(m->fd);
	pthread_mutex_destroy(&m->lock);
	free(m->snapshot);
	free(m);
}
