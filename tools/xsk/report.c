// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Output: the live progress line, and the summary, which is one walk over
 * the results that an emitter turns into either text or JSON, so the two
 * always carry the same fields under the same names.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include "xsk_tool.h"

#define OUT_MAX_DEPTH	8

struct out {
	bool json;
	FILE *f;
	int depth;
	int indent;			/* text: headings currently open */
	json_object *stack[OUT_MAX_DEPTH];
	bool array[OUT_MAX_DEPTH];
	bool titled[OUT_MAX_DEPTH];
};

static void out_add(struct out *o, const char *key, json_object *val)
{
	json_object *cur = o->stack[o->depth];

	if (o->array[o->depth])
		json_object_array_add(cur, val);
	else
		json_object_object_add(cur, key, val);
}

/* Opens an object (or array) under key; title is its heading in text. */
static void out_open(struct out *o, const char *key, bool array, const char *fmt, ...)
{
	va_list ap;

	if (o->depth + 1 >= OUT_MAX_DEPTH)
		return;
	if (o->json) {
		json_object *obj = array ? json_object_new_array() : json_object_new_object();

		out_add(o, key, obj);
		o->stack[o->depth + 1] = obj;
	} else if (fmt) {
		fprintf(o->f, "%*s", 2 * o->indent, "");
		va_start(ap, fmt);
		vfprintf(o->f, fmt, ap);
		va_end(ap);
		fputs(":\n", o->f);
		o->indent++;
	}
	o->depth++;
	o->array[o->depth] = array;
	o->titled[o->depth] = !o->json && fmt;
}

static void out_close(struct out *o)
{
	if (o->depth <= 0)
		return;
	if (o->titled[o->depth])
		o->indent--;
	o->depth--;
}

static void out_text_key(struct out *o, const char *key)
{
	fprintf(o->f, "%*s%s: ", 2 * o->indent, "", key);
}

static void out_u64(struct out *o, const char *key, __u64 v)
{
	if (o->json) {
		out_add(o, key, json_object_new_uint64(v));
		return;
	}
	out_text_key(o, key);
	fprintf(o->f, "%llu\n", (unsigned long long)v);
}

static void out_double(struct out *o, const char *key, double v, int prec)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%.*f", prec, v);
	if (o->json) {
		out_add(o, key, json_object_new_double_s(v, buf));
		return;
	}
	out_text_key(o, key);
	fprintf(o->f, "%s\n", buf);
}

static void out_str(struct out *o, const char *key, const char *s)
{
	if (o->json) {
		out_add(o, key, json_object_new_string(s));
		return;
	}
	out_text_key(o, key);
	fprintf(o->f, "%s\n", s);
}

static double rate(__u64 n, double secs, double unit)
{
	return secs > 0 ? (double)n / secs / unit : 0;
}

static void out_rates(struct out *o, const struct xt_counters *c, double secs)
{
	out_u64(o, "rx_packets", c->rx_packets);
	out_u64(o, "rx_bytes", c->rx_bytes);
	out_double(o, "rx_mpps", rate(c->rx_packets, secs, 1e6), 3);
	out_double(o, "rx_mbit_s", rate(c->rx_bytes * 8, secs, 1e6), 1);
	out_u64(o, "tx_packets", c->tx_packets);
	out_u64(o, "tx_bytes", c->tx_bytes);
	out_double(o, "tx_mpps", rate(c->tx_packets, secs, 1e6), 3);
	out_double(o, "tx_mbit_s", rate(c->tx_bytes * 8, secs, 1e6), 1);
}

static void out_drops(struct out *o, const struct xdp_statistics *s)
{
	out_open(o, "drops", false, "drops");
	out_u64(o, "rx_dropped", s->rx_dropped);
	out_u64(o, "rx_invalid_descs", s->rx_invalid_descs);
	out_u64(o, "tx_invalid_descs", s->tx_invalid_descs);
	out_u64(o, "rx_ring_full", s->rx_ring_full);
	out_u64(o, "rx_fill_ring_empty_descs", s->rx_fill_ring_empty_descs);
	out_u64(o, "tx_ring_empty_descs", s->tx_ring_empty_descs);
	out_close(o);
}

static void out_tally(struct out *o, const char *key, const struct xt_tally *t, bool hex)
{
	char name[24];
	__u32 i;

	out_open(o, key, false, "%s", key);
	for (i = 0; i < XT_TALLY_SLOTS; i++) {
		if (!t->count[i])
			continue;
		snprintf(name, sizeof(name), hex ? "0x%x" : "%u", t->key[i]);
		out_u64(o, name, t->count[i]);
	}
	if (t->other)
		out_u64(o, "other", t->other);
	out_close(o);
}

static int flow_cmp(const void *a, const void *b)
{
	const struct xt_flow *x = *(const struct xt_flow * const *)a;
	const struct xt_flow *y = *(const struct xt_flow * const *)b;

	return x->flow < y->flow ? -1 : x->flow > y->flow;
}

static void out_flows(struct out *o, const struct xt_verify *v)
{
	const struct xt_flow *sorted[XT_MAX_FLOWS];
	__u32 i, n = 0;

	for (i = 0; i < XT_MAX_FLOWS; i++)
		if (v->flows[i].used)
			sorted[n++] = &v->flows[i];
	qsort(sorted, n, sizeof(sorted[0]), flow_cmp);
	out_open(o, "flows", true, NULL);
	for (i = 0; i < n; i++) {
		const struct xt_flow *f = sorted[i];

		out_open(o, NULL, false, "flow %u", f->flow);
		out_u64(o, "flow", f->flow);
		out_u64(o, "first_seq", f->first);
		out_u64(o, "last_seq", f->next - 1);
		out_u64(o, "valid", f->valid);
		out_u64(o, "gaps", f->gaps);
		out_u64(o, "dups", f->dups);
		out_u64(o, "late", f->late);
		out_u64(o, "stale", f->stale);
		out_u64(o, "corrupt", f->corrupt);
		out_close(o);
	}
	out_close(o);
}

/* sum: counts already totalled by xt_verify_sum(); else one queue's, with flows. */
static void out_verify(struct out *o, const struct xt_opts *opts, const struct xt_verify *v,
		       bool sum)
{
	struct xt_verify tot = {};

	if (!sum) {
		xt_verify_sum(&tot, v);
		v = &tot;
	}
	if (opts->verify) {
		out_open(o, "verify", false, "verify");
		out_u64(o, "valid", v->valid);
		out_u64(o, "corrupt", v->corrupt);
		out_u64(o, "no_payload", v->no_payload);
		out_u64(o, "gaps", v->gaps);
		out_u64(o, "dups", v->dups);
		out_u64(o, "late", v->late);
		out_u64(o, "stale", v->stale);
		out_u64(o, "untracked", v->untracked);
		out_close(o);
	}
	if (opts->meta) {
		out_open(o, "meta", false, "meta");
		out_u64(o, "frames", v->meta_frames);
		out_u64(o, "none", v->meta_none);
		out_u64(o, "mixed", v->meta_mixed);
		out_tally(o, "by_rule", &v->by_rule, false);
		out_tally(o, "by_path", &v->by_path, true);
		out_tally(o, "by_gen", &v->by_gen, false);
		out_close(o);
	}
}

static void out_latency(struct out *o, const struct xt_hist *h)
{
	out_open(o, "latency", false, "latency (transmit stamp to socket)");
	out_u64(o, "samples", h->samples);
	out_u64(o, "unstamped", h->unstamped);
	out_u64(o, "mean_ns", h->samples ? h->sum_ns / h->samples : 0);
	out_u64(o, "p50_ns", xt_hist_pct(h, 50));
	out_u64(o, "p90_ns", xt_hist_pct(h, 90));
	out_u64(o, "p99_ns", xt_hist_pct(h, 99));
	out_u64(o, "max_ns", h->max_ns);
	out_close(o);
}

static const char *source_name(const struct xt_opts *o)
{
	if (o->xskmap)
		return "xskmap";
	return o->attach ? "attach" : "none";
}

static void summary_walk(struct xt_ctx *ctx, struct out *o)
{
	const struct xt_opts *opts = &ctx->opts;
	double secs = (double)(ctx->stop_ns - ctx->start_ns) / 1e9;
	struct xt_counters tot = {};
	struct xdp_statistics dtot = {};
	struct xt_verify *vtot = NULL;
	struct xt_hist *htot = NULL;
	const char *xdp_mode = NULL;
	int i;

	if (opts->verify || opts->meta)
		vtot = xt_verify_new();
	if (opts->latency)
		htot = calloc(1, sizeof(*htot));

	out_str(o, "mode", xt_mode_name(opts->mode));
	out_str(o, "interface", opts->ifname);
	out_str(o, "source", source_name(opts));
	out_double(o, "duration_s", secs, 3);
	out_open(o, "queues", true, NULL);
	for (i = 0; i < opts->nr_queues; i++) {
		const struct xt_queue *q = &ctx->queues[i];
		const char *m = q->sock.zerocopy ? "zerocopy" : "copy";

		out_open(o, NULL, false, "queue %u (%s)", q->queue_id, m);
		out_u64(o, "queue", q->queue_id);
		out_str(o, "xdp_mode", m);
		out_rates(o, &q->cnt, secs);
		out_double(o, "active_s", q->cnt.last_ns > q->cnt.first_ns ?
			   (double)(q->cnt.last_ns - q->cnt.first_ns) / 1e9 : 0, 3);
		out_drops(o, &q->stats);
		if (q->verify) {
			out_verify(o, opts, q->verify, false);
			if (opts->verify)
				out_flows(o, q->verify);
			if (vtot)
				xt_verify_sum(vtot, q->verify);
		}
		if (q->hist) {
			out_latency(o, q->hist);
			if (htot)
				xt_hist_add(htot, q->hist, NULL);
		}
		out_close(o);

		tot.rx_packets += q->cnt.rx_packets;
		tot.rx_bytes += q->cnt.rx_bytes;
		tot.tx_packets += q->cnt.tx_packets;
		tot.tx_bytes += q->cnt.tx_bytes;
		dtot.rx_dropped += q->stats.rx_dropped;
		dtot.rx_invalid_descs += q->stats.rx_invalid_descs;
		dtot.tx_invalid_descs += q->stats.tx_invalid_descs;
		dtot.rx_ring_full += q->stats.rx_ring_full;
		dtot.rx_fill_ring_empty_descs += q->stats.rx_fill_ring_empty_descs;
		dtot.tx_ring_empty_descs += q->stats.tx_ring_empty_descs;
		if (!xdp_mode)
			xdp_mode = m;
		else if (strcmp(xdp_mode, m))
			xdp_mode = "mixed";
	}
	out_close(o);

	out_open(o, "total", false, "total");
	out_str(o, "xdp_mode", xdp_mode ?: "none");
	out_rates(o, &tot, secs);
	out_drops(o, &dtot);
	if (vtot)
		out_verify(o, opts, vtot, true);
	if (htot)
		out_latency(o, htot);
	out_close(o);
	free(vtot);
	free(htot);
}

int xt_report_summary(struct xt_ctx *ctx)
{
	struct out o = { .json = ctx->opts.json, .f = stdout };
	json_object *root = NULL;
	int err = 0;

	if (o.json) {
		root = json_object_new_object();
		if (!root)
			return -ENOMEM;
		o.stack[0] = root;
	}
	summary_walk(ctx, &o);
	if (root) {
		if (puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
							 JSON_C_TO_STRING_NOSLASHESCAPE)) < 0)
			err = -EIO;
		json_object_put(root);
	}
	fflush(stdout);
	return err;
}

void xt_report_progress(struct xt_ctx *ctx, __u64 now_ns)
{
	static __u64 prev_ns, prev_rx, prev_rxb, prev_tx, prev_txb;
	__u64 rx = 0, rxb = 0, tx = 0, txb = 0;
	double secs;
	int i;

	for (i = 0; i < ctx->opts.nr_queues; i++) {
		const struct xt_counters *c = &ctx->queues[i].cnt;

		rx += xt_load(&c->rx_packets);
		rxb += xt_load(&c->rx_bytes);
		tx += xt_load(&c->tx_packets);
		txb += xt_load(&c->tx_bytes);
	}
	if (!prev_ns)
		prev_ns = ctx->start_ns;
	secs = (double)(now_ns - prev_ns) / 1e9;
	fprintf(stderr, "sluice-xsk %s %s %5.1fs: rx %7.3f Mpps %8.1f Mbit/s  tx %7.3f Mpps %8.1f Mbit/s\n",
		xt_mode_name(ctx->opts.mode), ctx->opts.ifname,
		(double)(now_ns - ctx->start_ns) / 1e9,
		rate(rx - prev_rx, secs, 1e6), rate((rxb - prev_rxb) * 8, secs, 1e6),
		rate(tx - prev_tx, secs, 1e6), rate((txb - prev_txb) * 8, secs, 1e6));
	prev_ns = now_ns;
	prev_rx = rx;
	prev_rxb = rxb;
	prev_tx = tx;
	prev_txb = txb;
}

/*
 * -I: what each interval alone saw, as one JSON line, so a run can be cut
 * into windows and lined up with events outside it (a pipeline swap) by
 * either clock. Counts are differences of the queues' running totals; the
 * percentiles come from the difference of their histograms.
 */
static struct {
	FILE *f;
	__u64 prev_ns;
	__u64 prev_rx[SLUICE_XSK_MAX_QUEUES];
	struct xt_hist *prev[SLUICE_XSK_MAX_QUEUES];
	struct xt_hist *win;
} iv;

int xt_report_interval_open(struct xt_ctx *ctx)
{
	const struct xt_opts *o = &ctx->opts;
	int i;

	iv.f = stdout;
	if (o->interval_file) {
		iv.f = fopen(o->interval_file, "w");
		if (!iv.f) {
			fprintf(stderr, "sluice-xsk: --interval-file %s: %s\n", o->interval_file,
				strerror(errno));
			return -errno;
		}
	}
	if (!o->latency)
		return 0;
	iv.win = calloc(1, sizeof(*iv.win));
	if (!iv.win)
		return -ENOMEM;
	for (i = 0; i < o->nr_queues; i++) {
		iv.prev[i] = calloc(1, sizeof(*iv.prev[i]));
		if (!iv.prev[i])
			return -ENOMEM;
	}
	return 0;
}

void xt_report_interval_close(void)
{
	int i;

	if (iv.f && iv.f != stdout)
		fclose(iv.f);
	iv.f = NULL;
	free(iv.win);
	for (i = 0; i < SLUICE_XSK_MAX_QUEUES; i++)
		free(iv.prev[i]);
	memset(&iv, 0, sizeof(iv));
}

static __u64 real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

static void json_num(json_object *j, const char *key, double v, const char *fmt)
{
	char buf[64];

	snprintf(buf, sizeof(buf), fmt, v);
	json_object_object_add(j, key, json_object_new_double_s(v, buf));
}

int xt_report_interval(struct xt_ctx *ctx, __u64 now_ns, bool last)
{
	const struct xt_opts *o = &ctx->opts;
	json_object *j, *qs, *lat;
	__u64 rx, total = 0, dt;
	int i, err = 0;

	if (!iv.f)
		return 0;
	if (!iv.prev_ns)
		iv.prev_ns = ctx->start_ns;
	dt = now_ns - iv.prev_ns;
	j = json_object_new_object();
	qs = json_object_new_array();
	if (!j || !qs) {
		json_object_put(j);
		json_object_put(qs);
		return -ENOMEM;
	}
	json_object_object_add(j, "t_ns", json_object_new_uint64(now_ns));
	json_object_object_add(j, "real_ns", json_object_new_uint64(real_ns()));
	json_object_object_add(j, "dt_ns", json_object_new_uint64(dt));
	if (iv.win)
		memset(iv.win, 0, sizeof(*iv.win));
	for (i = 0; i < o->nr_queues; i++) {
		struct xt_queue *q = &ctx->queues[i];

		rx = xt_load(&q->cnt.rx_packets);
		json_object_array_add(qs, json_object_new_uint64(rx - iv.prev_rx[i]));
		total += rx - iv.prev_rx[i];
		iv.prev_rx[i] = rx;
		if (iv.win && q->hist) {
			xt_hist_add(iv.win, q->hist, iv.prev[i]);
			xt_hist_copy(iv.prev[i], q->hist);
		}
	}
	json_object_object_add(j, "rx", json_object_new_uint64(total));
	json_num(j, "mpps", dt ? (double)total * 1e3 / (double)dt : 0, "%.4f");
	json_object_object_add(j, "queues", qs);
	if (iv.win) {
		lat = json_object_new_object();
		if (lat) {
			json_object_object_add(lat, "samples", json_object_new_uint64(iv.win->samples));
			json_object_object_add(lat, "p50_ns", json_object_new_uint64(xt_hist_pct(iv.win, 50)));
			json_object_object_add(lat, "p90_ns", json_object_new_uint64(xt_hist_pct(iv.win, 90)));
			json_object_object_add(lat, "p99_ns", json_object_new_uint64(xt_hist_pct(iv.win, 99)));
			json_object_object_add(lat, "max_ns", json_object_new_uint64(xt_hist_pct(iv.win, 100)));
		}
		json_object_object_add(j, "latency", lat);
	}
	if (last)
		json_object_object_add(j, "last", json_object_new_boolean(true));
	if (fprintf(iv.f, "%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN)) < 0)
		err = -EIO;
	json_object_put(j);
	/* A reader follows the file while the run goes on. */
	fflush(iv.f);
	iv.prev_ns = now_ns;
	return err;
}
