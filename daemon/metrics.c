// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Prometheus text exposition on GET /metrics (docs/metrics.md names every
 * series and the question it answers).
 *
 * libmicrohttpd serves from its own thread, but never reads a pipeline: it
 * asks the event loop for a snapshot through an eventfd and waits for it.
 * The loop renders between requests, where no swap or reload can be half
 * done, so no lock is held across a render and a slow scraper cannot stall
 * a swap. Several scrapes waiting at once share one render.
 *
 * No client of this port can starve the daemon: libmicrohttpd (poll, not
 * select) holds at most METRICS_MAX_CONNS connections, a quarter of the
 * descriptors under a low limit, METRICS_PER_IP from one address, each for
 * METRICS_TIMEOUT_S and METRICS_MEM bytes. Its thread starts after the
 * daemon dropped its capabilities (metrics__serve), so it holds only what
 * the daemon keeps.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <microhttpd.h>
#include "acl.h"
#include "sluiced.h"

/* How long a scrape waits for the loop before it gets the last snapshot. */
#define SNAPSHOT_WAIT_MS	5000
#define METRICS_MAX_CONNS	32
#define METRICS_PER_IP		4
#define METRICS_TIMEOUT_S	5
#define METRICS_MEM		32768

struct metrics {
	struct MHD_Daemon *mhd;
	int fd;				/* the listening socket, until libmicrohttpd has it */
	int efd;			/* the HTTP thread's "render one" to the loop */
	pthread_mutex_t mu;		/* guards what follows */
	pthread_cond_t cv;
	char *text;			/* the latest snapshot */
	size_t len;
	uint64_t started, done;		/* renders begun and published */
	bool stopping;
};

/* ---- counters the event loop keeps for metrics ---- */

#define MAX_ROLLBACK_IFS 64

static struct {
	bool loaded;			/* a configuration was loaded once */
	bool last_ok;
	double last_ok_time;
	uint64_t hash;
	uint64_t reloads[2];		/* [0] failed, [1] ok */
	struct {
		char ifname[IF_NAMESIZE];
		uint64_t n[2];
	} rollbacks[MAX_ROLLBACK_IFS];
	size_t nr_rollbacks;
	double start_time;
	double last_render_s;
} ctr;

static double now_realtime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t rollback_index(const char *ifname)
{
	for (size_t i = 0; i < ctr.nr_rollbacks; i++)
		if (!strcmp(ctr.rollbacks[i].ifname, ifname))
			return i;
	if (ctr.nr_rollbacks == MAX_ROLLBACK_IFS)
		return MAX_ROLLBACK_IFS;
	snprintf(ctr.rollbacks[ctr.nr_rollbacks].ifname, IF_NAMESIZE, "%s", ifname);
	return ctr.nr_rollbacks++;
}

void metrics__count_auto_rollback(const char *ifname, bool ok)
{
	size_t i = rollback_index(ifname);

	if (i < MAX_ROLLBACK_IFS)
		ctr.rollbacks[i].n[ok]++;
}

/* FNV-1a of the file's bytes: which configuration runs, comparable across hosts. */
static int file_hash(const char *path, uint64_t *out)
{
	uint64_t h = 0xcbf29ce484222325ull;
	unsigned char buf[4096];
	size_t n;
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		for (size_t i = 0; i < n; i++) {
			h ^= buf[i];
			h *= 0x100000001b3ull;
		}
	}
	fclose(f);
	*out = h;
	return 0;
}

void metrics__config_loaded(const char *path, bool ok, bool reload)
{
	if (!ctr.start_time)
		ctr.start_time = now_realtime();
	if (reload)
		ctr.reloads[ok]++;
	ctr.last_ok = ok;
	if (!ok)
		return;
	ctr.loaded = true;
	ctr.last_ok_time = now_realtime();
	if (file_hash(path, &ctr.hash))
		ctr.hash = 0;
}

/* ---- text ---- */

struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void bputn(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		char *p;

		while (b->len + n + 1 > cap)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void bputs(struct buf *b, const char *s)
{
	bputn(b, s, strlen(s));
}

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(struct buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(tmp)) {
		bputn(b, tmp, (size_t)n);
		return;
	}
	va_start(ap, fmt);
	{
		char *big = malloc((size_t)n + 1);

		if (big) {
			vsnprintf(big, (size_t)n + 1, fmt, ap);
			bputn(b, big, (size_t)n);
			free(big);
		} else {
			b->oom = true;
		}
	}
	va_end(ap);
}

/*
 * A label value as the exposition format wants it: backslash, double quote
 * and newline escaped. Linux allows all three in an interface name.
 */
static void bput_label_value(struct buf *b, const char *s)
{
	const char *run = s;

	for (; *s; s++) {
		const char *esc = *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" : *s == '\n' ? "\\n" : NULL;

		if (!esc)
			continue;
		bputn(b, run, (size_t)(s - run));
		bputs(b, esc);
		run = s + 1;
	}
	bputn(b, run, (size_t)(s - run));
}

static void family(struct buf *b, const char *name, const char *type, const char *help)
{
	bprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/*
 * name{k1="v1",...} then the value's text. Labels are (key, value) pairs
 * of strings ending with a NULL key.
 */
static void series_start(struct buf *b, const char *name, va_list ap)
{
	const char *k;
	bool first = true;

	bputs(b, name);
	while ((k = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);

		bputs(b, first ? "{" : ",");
		bputs(b, k);
		bputs(b, "=\"");
		bput_label_value(b, v ? v : "");
		bputs(b, "\"");
		first = false;
	}
	if (!first)
		bputs(b, "}");
}

static void su64(struct buf *b, const char *name, uint64_t v, ...)
{
	va_list ap;

	va_start(ap, v);
	series_start(b, name, ap);
	va_end(ap);
	bprintf(b, " %llu\n", (unsigned long long)v);
}

static void sdbl(struct buf *b, const char *name, double v, ...)
{
	va_list ap;

	va_start(ap, v);
	series_start(b, name, ap);
	va_end(ap);
	bprintf(b, " %.15g\n", v);
}

/* ---- what one render reads of an interface ---- */

struct ifdata {
	struct iface *ifc;
	const char *name;
	bool stats;
	struct sluice_pipe_stats ps;
	struct sluice_slot_stats slots[SLUICE_MAX_STAGES];
	int drift;
	struct acl_rule_hits *hits;
	int nr_hits;			/* < 0: no acl stage */
	struct acl_rule_hits dflt;
	bool rl, xsk;
	uint64_t rl_stats[2];
	uint64_t xsk_verdicts[SLUICE_NR_VERDICTS];
	bool time;
	struct sluice_stage_time t[OBSERVE_NR_TIMES];
	const uint64_t *anomalies;	/* [OBSERVE_NR_REASONS][OBSERVE_NR_SLOTS] or NULL */
	bool record;
	uint64_t time_sample;
};

static void ifdata_read(struct daemon *d, struct iface *ifc, struct ifdata *x)
{
	const struct pipeline *pl = &ifc->pl;
	char dir[PATH_MAX];
	struct acl_maps maps;

	memset(x, 0, sizeof(*x));
	x->ifc = ifc;
	x->name = pl->ifname;
	x->stats = !pipeline__stats(pl, &x->ps, x->slots);
	x->drift = pipeline__drift(pl, NULL);
	x->nr_hits = -1;
	snprintf(dir, sizeof(dir), "%s/%s", pl->dir, SLUICE_PIN_MAPS);
	if (!acl_maps__open_pinned(dir, &maps)) {
		x->hits = calloc(SLUICE_ACL_MAX_RULES, sizeof(*x->hits));
		if (x->hits)
			x->nr_hits = acl__read_hits(&maps, x->hits, SLUICE_ACL_MAX_RULES, &x->dflt);
		if (x->nr_hits > SLUICE_ACL_MAX_RULES)
			x->nr_hits = SLUICE_ACL_MAX_RULES;
		acl_maps__close(&maps);
	}
	x->rl = !pipeline__percpu_sum(pl, "sluice_rl_stats", x->rl_stats, 2, 1);
	x->xsk = !pipeline__percpu_sum(pl, "sluice_xsk_verdicts", x->xsk_verdicts, SLUICE_NR_VERDICTS, 1);
	x->time = !observe__stage_time(pl, x->t);
	if (observe__counts(d, pl->ifname, &x->anomalies))
		x->anomalies = NULL;
	observe__get(ifc, &x->record, &x->time_sample);
}

/* Capture mode: one series per socket, labelled by interface and queue. */
static void xsk_render(struct buf *b, const struct capture *c)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} ctr_[] = {
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
	int n = c ? capture__nr_queues(c) : 0;
	char q[16];

	for (int i = 0; i < n; i++) {
		memset(&st[i], 0, sizeof(st[i]));
		capture__queue_stats(c, i, &st[i]);
	}
	for (size_t k = 0; n && k < sizeof(ctr_) / sizeof(ctr_[0]); k++) {
		family(b, ctr_[k].name, "counter", ctr_[k].help);
		for (int i = 0; i < n; i++) {
			snprintf(q, sizeof(q), "%u", st[i].queue_id);
			su64(b, ctr_[k].name,
			     *(const unsigned long long *)((const char *)&st[i] + ctr_[k].off), "iface",
			     capture__ifname(c), "queue", q, NULL);
		}
	}
}

static const char *slot_str(int s, char *buf)
{
	snprintf(buf, 8, "%d", s);
	return buf;
}

/* Positions worth a series: the pipeline's stages and any other that counted something. */
static bool slot_shown(const struct ifdata *x, int s)
{
	const struct sluice_slot_stats *st = &x->slots[s];

	return s < x->ifc->pl.nr_stages || st->packets || st->missed;
}

static void daemon_render(struct buf *b, struct daemon *d)
{
	char hash[24], abi[8];

	family(b, "sluice_build_info", "gauge", "Always 1: the version and pinned-map ABI of this sluiced.");
	snprintf(abi, sizeof(abi), "%d", SLUICE_ABI_VERSION);
	su64(b, "sluice_build_info", 1, "version", SLUICE_VERSION, "abi", abi, NULL);
	family(b, "sluice_start_time_seconds", "gauge", "When this sluiced started, in seconds since the epoch.");
	sdbl(b, "sluice_start_time_seconds", ctr.start_time, NULL);
	family(b, "sluice_config_info", "gauge",
	       "Always 1: the FNV-1a hash of the configuration file as last loaded with success.");
	snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)ctr.hash);
	su64(b, "sluice_config_info", 1, "hash", hash, NULL);
	family(b, "sluice_config_last_reload_successful", "gauge",
	       "1 when the last load of the configuration (start or reload) succeeded.");
	su64(b, "sluice_config_last_reload_successful", ctr.last_ok, NULL);
	family(b, "sluice_config_last_reload_success_timestamp_seconds", "gauge",
	       "When the configuration was last loaded with success (start or reload).");
	sdbl(b, "sluice_config_last_reload_success_timestamp_seconds", ctr.last_ok_time, NULL);
	family(b, "sluice_reloads_total", "counter", "Configuration reloads (SIGHUP or sluicectl reload), by result.");
	su64(b, "sluice_reloads_total", ctr.reloads[1], "result", "ok", NULL);
	su64(b, "sluice_reloads_total", ctr.reloads[0], "result", "failed", NULL);
	family(b, "sluice_changes_total", "counter",
	       "Pipeline changes asked for (stage.swap, txn, prepare, commit, canary.*, ...), by kind and result.");
	for (int k = 0; k < CHANGE_NR; k++) {
		su64(b, "sluice_changes_total", d->changes[k][0], "kind", change_names[k], "result", "ok", NULL);
		su64(b, "sluice_changes_total", d->changes[k][1], "kind", change_names[k], "result", "failed",
		     NULL);
	}
	for (size_t i = 0; i < d->nr_ifs; i++)
		rollback_index(d->ifs[i].pl.ifname);
	family(b, "sluice_auto_rollbacks_total", "counter",
	       "Automatic rollbacks (a swapped stage, a transaction, a canary) that misbehaved in their watch window, by result.");
	for (size_t i = 0; i < ctr.nr_rollbacks; i++) {
		su64(b, "sluice_auto_rollbacks_total", ctr.rollbacks[i].n[1], "iface", ctr.rollbacks[i].ifname,
		     "result", "ok", NULL);
		su64(b, "sluice_auto_rollbacks_total", ctr.rollbacks[i].n[0], "iface",
		     ctr.rollbacks[i].ifname, "result", "failed", NULL);
	}
}

static void pipeline_render(struct buf *b, struct ifdata *x, size_t n)
{
	family(b, "sluice_pipeline_info", "gauge",
	       "Always 1: the pipeline an interface runs, its context carrier, attach method and XDP mode.");
	for (size_t i = 0; i < n; i++) {
		const struct iface *ifc = x[i].ifc;
		const struct pipeline *pl = &ifc->pl;

		su64(b, "sluice_pipeline_info", 1, "iface", x[i].name, "pipeline",
		     ifc->cfg && ifc->cfg->pipe ? ifc->cfg->pipe->name : "", "carrier",
		     sluice_carrier_name(pl->carrier), "attach",
		     pl->how == SLUICE_ATTACH_LIBXDP ? "libxdp" : "link", "mode",
		     pl->native ? "native" : "generic", NULL);
	}
	family(b, "sluice_pipeline_attached", "gauge", "1 while the interface runs sluice's entry program.");
	for (size_t i = 0; i < n; i++)
		su64(b, "sluice_pipeline_attached", pipeline__attached(&x[i].ifc->pl), "iface", x[i].name, NULL);
	family(b, "sluice_generation", "gauge", "The live generation of the interface's pipeline.");
	for (size_t i = 0; i < n; i++)
		su64(b, "sluice_generation", x[i].ifc->pl.gen, "iface", x[i].name, NULL);
	family(b, "sluice_live_bank", "gauge", "The prog_array bank the live generation runs in.");
	for (size_t i = 0; i < n; i++)
		su64(b, "sluice_live_bank", (uint64_t)x[i].ifc->pl.bank, "iface", x[i].name, NULL);
	family(b, "sluice_pipeline_stages", "gauge", "Stages in the live generation.");
	for (size_t i = 0; i < n; i++)
		su64(b, "sluice_pipeline_stages", (uint64_t)x[i].ifc->pl.nr_stages, "iface", x[i].name, NULL);

	family(b, "sluice_packets_total", "counter", "Packets through the pipeline, by final verdict.");
	for (size_t i = 0; i < n; i++)
		for (int v = 0; x[i].stats && v < SLUICE_NR_VERDICTS; v++)
			su64(b, "sluice_packets_total", x[i].ps.verdict[v], "iface", x[i].name, "verdict",
			     xdp_verdict_name(v), NULL);
#define PIPE_CTR(metric, field, help)							\
	do {										\
		family(b, metric, "counter", help);					\
		for (size_t i = 0; i < n; i++)						\
			if (x[i].stats)							\
				su64(b, metric, x[i].ps.field, "iface", x[i].name, NULL);	\
	} while (0)
	PIPE_CTR("sluice_bytes_total", bytes, "Bytes through the pipeline.");
	PIPE_CTR("sluice_missed_tail_calls_total", missed,
		 "Packets that met an empty slot and got the default verdict.");
	PIPE_CTR("sluice_mixed_generation_packets_total", mixed,
		 "Packets that ran stages of two generations (must stay 0).");
	PIPE_CTR("sluice_bad_verdict_packets_total", bad_verdict,
		 "Packets whose last stage returned no XDP action; they got XDP_ABORTED.");
	PIPE_CTR("sluice_context_fallback_packets_total", no_meta,
		 "Packets whose metadata was refused and that carried their context per CPU instead.");
#undef PIPE_CTR
}

static void stage_render(struct buf *b, struct ifdata *x, size_t n)
{
	char s[8];

#define SLOT_LOOP(i, k)									\
	for (size_t i = 0; i < n; i++)							\
		for (int k = 0; x[i].stats && k < SLUICE_MAX_STAGES; k++)		\
			if (slot_shown(&x[i], k))
#define SLOT_LABELS(i, k) "iface", x[i].name, "slot", slot_str(k, s), "stage",		\
			  observe__stage_name(&x[i].ifc->pl, -1, k)
	family(b, "sluice_stage_packets_total", "counter", "Packets that entered each stage (slot).");
	SLOT_LOOP(i, k) su64(b, "sluice_stage_packets_total", x[i].slots[k].packets, SLOT_LABELS(i, k), NULL);
	family(b, "sluice_stage_bytes_total", "counter", "Bytes of the packets that entered each stage.");
	SLOT_LOOP(i, k) su64(b, "sluice_stage_bytes_total", x[i].slots[k].bytes, SLOT_LABELS(i, k), NULL);
	family(b, "sluice_stage_verdicts_total", "counter",
	       "Final verdicts of packets whose last stage was this one, by verdict.");
	SLOT_LOOP(i, k)
		for (int v = 0; v < SLUICE_NR_VERDICTS; v++)
			su64(b, "sluice_stage_verdicts_total", x[i].slots[k].verdict[v], SLOT_LABELS(i, k),
			     "verdict", xdp_verdict_name(v), NULL);
	family(b, "sluice_stage_missed_tail_calls_total", "counter",
	       "Tail calls into this slot that found it empty (the packet got the default verdict).");
	SLOT_LOOP(i, k) su64(b, "sluice_stage_missed_tail_calls_total", x[i].slots[k].missed, SLOT_LABELS(i, k),
			     NULL);
	family(b, "sluice_slot_drift", "gauge",
	       "1 when the slot holds another program than the one sluiced put there (or none).");
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < x[i].ifc->pl.nr_stages; k++)
			su64(b, "sluice_slot_drift", x[i].drift >= 0 && (x[i].drift >> k) & 1,
			     SLOT_LABELS(i, k), NULL);
#undef SLOT_LOOP
#undef SLOT_LABELS
}

static void acl_render(struct buf *b, struct ifdata *x, size_t n)
{
	char id[16];

	family(b, "sluice_acl_rules", "gauge", "ACL rules live in the interface's acl stage.");
	for (size_t i = 0; i < n; i++)
		if (x[i].nr_hits >= 0)
			su64(b, "sluice_acl_rules", (uint64_t)x[i].nr_hits, "iface", x[i].name, NULL);
	family(b, "sluice_acl_rule_hits_total", "counter", "Packets each ACL rule matched, by rule id.");
	for (size_t i = 0; i < n; i++)
		for (int r = 0; r < x[i].nr_hits; r++)
			su64(b, "sluice_acl_rule_hits_total", x[i].hits[r].packets, "iface", x[i].name, "rule",
			     (snprintf(id, sizeof(id), "%u", x[i].hits[r].id), id), NULL);
	family(b, "sluice_acl_rule_bytes_total", "counter", "Bytes of the packets each ACL rule matched.");
	for (size_t i = 0; i < n; i++)
		for (int r = 0; r < x[i].nr_hits; r++)
			su64(b, "sluice_acl_rule_bytes_total", x[i].hits[r].bytes, "iface", x[i].name, "rule",
			     (snprintf(id, sizeof(id), "%u", x[i].hits[r].id), id), NULL);
	family(b, "sluice_acl_unmatched_packets_total", "counter",
	       "Packets no ACL rule matched (they got the stage's default_action).");
	for (size_t i = 0; i < n; i++)
		if (x[i].nr_hits >= 0)
			su64(b, "sluice_acl_unmatched_packets_total", x[i].dflt.packets, "iface", x[i].name, NULL);
	family(b, "sluice_acl_unmatched_bytes_total", "counter", "Bytes of the packets no ACL rule matched.");
	for (size_t i = 0; i < n; i++)
		if (x[i].nr_hits >= 0)
			su64(b, "sluice_acl_unmatched_bytes_total", x[i].dflt.bytes, "iface", x[i].name, NULL);

	family(b, "sluice_ratelimit_packets_total", "counter",
	       "Packets the ratelimit stage judged, by result: within the rate or over the limit.");
	for (size_t i = 0; i < n; i++) {
		if (!x[i].rl)
			continue;
		su64(b, "sluice_ratelimit_packets_total", x[i].rl_stats[0], "iface", x[i].name, "result",
		     "within", NULL);
		su64(b, "sluice_ratelimit_packets_total", x[i].rl_stats[1], "iface", x[i].name, "result",
		     "over", NULL);
	}
	family(b, "sluice_xsk_stage_packets_total", "counter",
	       "Packets the xsk stage handed on, by verdict: redirect reached a socket, others had none.");
	for (size_t i = 0; i < n; i++)
		for (int v = 0; x[i].xsk && v < SLUICE_NR_VERDICTS; v++)
			su64(b, "sluice_xsk_stage_packets_total", x[i].xsk_verdicts[v], "iface", x[i].name,
			     "verdict", xdp_verdict_name(v), NULL);
}

/* k1="v1",k2="v2" of (key, value) pairs ending with a NULL key, escaped. */
static void labels_fmt(struct buf *lb, ...)
{
	const char *k;
	va_list ap;

	va_start(ap, lb);
	while ((k = va_arg(ap, const char *))) {
		if (lb->len)
			bputs(lb, ",");
		bputs(lb, k);
		bputs(lb, "=\"");
		bput_label_value(lb, va_arg(ap, const char *));
		bputs(lb, "\"");
	}
	va_end(ap);
}

/* One log2 histogram as a Prometheus histogram in seconds: bucket b holds [2^b, 2^(b+1)) ns. */
static void hist_render(struct buf *b, const char *name, const struct sluice_stage_time *t,
			const char *labels)
{
	uint64_t cum = 0;

	/* The last bucket is open-ended (2^15 ns and more): it only reaches +Inf. */
	for (int k = 0; k < SLUICE_TIME_BUCKETS - 1; k++) {
		cum += t->bucket[k];
		bprintf(b, "%s_bucket{%s,le=\"%.9g\"} %llu\n", name, labels,
			(double)(1ull << (k + 1)) / 1e9, (unsigned long long)cum);
	}
	bprintf(b, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, labels, (unsigned long long)t->count);
	bprintf(b, "%s_sum{%s} %.15g\n", name, labels, (double)t->sum_ns / 1e9);
	bprintf(b, "%s_count{%s} %llu\n", name, labels, (unsigned long long)t->count);
}

static void observe_render(struct buf *b, struct daemon *d, struct ifdata *x, size_t n)
{
	char s[8];

	family(b, "sluice_anomaly_recorder_enabled", "gauge",
	       "1 while the entry records aborted, missed and mixed packets for sluicectl anomalies.");
	for (size_t i = 0; i < n; i++)
		su64(b, "sluice_anomaly_recorder_enabled", x[i].record, "iface", x[i].name, NULL);
	family(b, "sluice_anomalies_total", "counter",
	       "Anomalous packets recorded (rate-limited: at most 64 a second per CPU), by reason and slot.");
	for (size_t i = 0; i < n; i++) {
		for (int r = 0; x[i].anomalies && r < OBSERVE_NR_REASONS; r++) {
			for (int k = 0; k < OBSERVE_NR_SLOTS; k++) {
				uint64_t c = x[i].anomalies[r * OBSERVE_NR_SLOTS + k];

				if (!c)
					continue;
				su64(b, "sluice_anomalies_total", c, "iface", x[i].name, "reason",
				     observe__reason_name(r), "slot",
				     k < SLUICE_MAX_STAGES ? slot_str(k, s) : "", "stage",
				     observe__stage_name(&x[i].ifc->pl, -1, k), NULL);
			}
		}
	}
	family(b, "sluice_stage_timing_sample_every", "gauge",
	       "Stage timing: 1 packet in this many is timed; 0 when timing is off.");
	for (size_t i = 0; i < n; i++)
		su64(b, "sluice_stage_timing_sample_every", x[i].time_sample, "iface", x[i].name, NULL);
	family(b, "sluice_stage_duration_seconds", "histogram",
	       "Time from a sampled packet's entry into a stage to the next stage (or the verdict).");
	for (size_t i = 0; i < n; i++) {
		for (int k = 0; x[i].time && k < x[i].ifc->pl.nr_stages; k++) {
			struct buf lb = {};

			labels_fmt(&lb, "iface", x[i].name, "slot", slot_str(k, s), "stage",
				   observe__stage_name(&x[i].ifc->pl, -1, k), NULL);
			if (lb.p)
				hist_render(b, "sluice_stage_duration_seconds", &x[i].t[k], lb.p);
			free(lb.p);
		}
	}
	family(b, "sluice_entry_duration_seconds", "histogram",
	       "Time a sampled packet spent in the entry before its first stage.");
	for (size_t i = 0; i < n; i++) {
		struct buf lb = {};

		if (!x[i].time)
			continue;
		labels_fmt(&lb, "iface", x[i].name, NULL);
		if (lb.p)
			hist_render(b, "sluice_entry_duration_seconds", &x[i].t[SLUICE_MAX_STAGES], lb.p);
		free(lb.p);
	}
	(void)d;
}

char *metrics__render(struct daemon *d)
{
	struct timespec t0, t1;
	struct ifdata *x;
	struct buf b = {};
	size_t n = d->nr_ifs;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	x = calloc(n ? n : 1, sizeof(*x));
	if (!x)
		return NULL;
	for (size_t i = 0; i < n; i++)
		ifdata_read(d, &d->ifs[i], &x[i]);
	daemon_render(&b, d);
	pipeline_render(&b, x, n);
	stage_render(&b, x, n);
	acl_render(&b, x, n);
	observe_render(&b, d, x, n);
	xsk_render(&b, d->capture);
	for (size_t i = 0; i < n; i++)
		free(x[i].hits);
	free(x);
	family(&b, "sluice_metrics_render_seconds", "gauge",
	       "Time the previous scrape's snapshot took to render in the event loop.");
	sdbl(&b, "sluice_metrics_render_seconds", ctr.last_render_s, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ctr.last_render_s = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* ---- the loop's side: render when asked ---- */

static void on_request(struct daemon *d, void *ctx)
{
	struct metrics *m = ctx;
	uint64_t v;
	char *text;

	if (read(m->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&m->mu);
	m->started++;
	pthread_mutex_unlock(&m->mu);
	text = metrics__render(d);
	pthread_mutex_lock(&m->mu);
	if (text) {
		free(m->text);
		m->text = text;
		m->len = strlen(text);
	}
	m->done = m->started;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

/* ---- the HTTP thread's side ---- */

/* A copy of a snapshot rendered after this call began, or the last one when the loop is busy. */
static char *snapshot(struct metrics *m, size_t *len)
{
	struct timespec until;
	uint64_t want, one = 1;
	char *copy = NULL;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += SNAPSHOT_WAIT_MS / 1000;
	until.tv_nsec += (long)(SNAPSHOT_WAIT_MS % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&m->mu);
	want = m->started + 1;
	if (write(m->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		want = 0;
	while (!m->stopping && m->done < want)
		if (pthread_cond_timedwait(&m->cv, &m->mu, &until) == ETIMEDOUT)
			break;
	if (m->text) {
		copy = malloc(m->len + 1);
		if (copy) {
			memcpy(copy, m->text, m->len + 1);
			*len = m->len;
		}
	}
	pthread_mutex_unlock(&m->mu);
	return copy;
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url,
			     const char *method, const char *version, const char *upload,
			     size_t *upload_len, void **state)
{
	static char not_found[] = "not found: try /metrics\n";
	static char busy[] = "sluiced has no metrics snapshot yet: try again\n";
	struct metrics *m = cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	unsigned int code = MHD_HTTP_OK;
	size_t len = 0;
	char *body;

	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return MHD_NO;
	if (strcmp(url, "/metrics")) {
		code = MHD_HTTP_NOT_FOUND;
		resp = MHD_create_response_from_buffer(strlen(not_found), not_found, MHD_RESPMEM_PERSISTENT);
	} else if ((body = snapshot(m, &len))) {
		resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	} else {
		code = MHD_HTTP_SERVICE_UNAVAILABLE;
		resp = MHD_create_response_from_buffer(strlen(busy), busy, MHD_RESPMEM_PERSISTENT);
	}
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(conn, code, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Our own socket: a bind failure is reported with its reason, before readiness. */
static int listen_socket(const struct sockaddr_storage *addr, socklen_t len)
{
	int fd, one = 1;

	fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* ":PORT" is every address, IPv6 and IPv4 alike. */
	if (addr->ss_family == AF_INET6) {
		int off = 0;

		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)addr, len) || listen(fd, 64)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int metrics__start(struct daemon *d, struct metrics **out)
{
	struct metrics *m;
	int fd, ret;

	*out = NULL;
	if (!ctr.start_time)
		ctr.start_time = now_realtime();
	if (!d->cfg->metrics.listen)
		return 0;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->fd = -1;
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->cv, NULL);
	m->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (m->efd < 0) {
		ret = -errno;
		goto err;
	}
	ret = events__add(d, m->efd, on_request, m);
	if (ret)
		goto err_efd;
	fd = listen_socket(&d->cfg->metrics.addr, d->cfg->metrics.addrlen);
	if (fd < 0) {
		ret = fd;
		log_err("metrics: cannot listen on %s: %s", d->cfg->metrics.listen, strerror(-ret));
		goto err_events;
	}
	/* Served once the daemon holds only what it keeps: metrics__serve(). */
	m->fd = fd;
	*out = m;
	return 0;
err_events:
	events__del(d, m->efd);
err_efd:
	close(m->efd);
err:
	pthread_cond_destroy(&m->cv);
	pthread_mutex_destroy(&m->mu);
	free(m);
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

int metrics__serve(struct daemon *d, struct metrics *m)
{
	unsigned int limit = metrics_conn_limit();

	if (!m)
		return 0;
	m->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG,
				  0, NULL, NULL, serve, m,
				  MHD_OPTION_LISTEN_SOCKET, m->fd,
				  MHD_OPTION_CONNECTION_LIMIT, limit,
				  MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)METRICS_PER_IP,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)METRICS_TIMEOUT_S,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)METRICS_MEM,
				  MHD_OPTION_END);
	if (!m->mhd) {
		log_err("metrics: cannot serve on %s", d->cfg->metrics.listen);
		return -EIO;
	}
	m->fd = -1;	/* libmicrohttpd's now */
	log_info("metrics on http://%s/metrics (at most %u connections, %d per address)",
		 d->cfg->metrics.listen, limit, METRICS_PER_IP);
	return 0;
}

void metrics__stop(struct daemon *d, struct metrics *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	m->stopping = true;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
	if (m->mhd)
		MHD_stop_daemon(m->mhd);
	if (m->fd >= 0)
		close(m->fd);
	events__del(d, m->efd);
	close(m->efd);
	free(m->text);
	pthread_cond_destroy(&m->cv);
	pthread_mutex_destroy(&m->mu);
	free(m);
}
