// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * stats [IFACE] [-w SECONDS [-n COUNT]]: pipeline and per-stage counters.
 * With -w, every SECONDS the difference to the previous sample divided by
 * the time between them: the same JSON shape with rates per second in place
 * of totals, printed by the same formatter.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include "sluicectl.h"

/* Numbers that name something rather than count it: copied, never rated. */
static const char *const identity_keys[] = { "slot", "ifindex", "gen", "prog_id", "ver", "id",
					      "time_sample" };
static bool rating;

static bool is_identity(const char *key)
{
	size_t i;

	for (i = 0; key && i < sizeof(identity_keys) / sizeof(identity_keys[0]); i++)
		if (!strcmp(key, identity_keys[i]))
			return true;
	return false;
}

/* The element of prev an array element of cur pairs with. */
static struct json_object *pair_of(struct json_object *prev, struct json_object *e, size_t idx)
{
	const char *key = jget(e, "name") ? "name" : jget(e, "slot") ? "slot" : NULL;
	size_t i, n = jlen(prev);

	if (!key)
		return idx < n ? json_object_array_get_idx(prev, idx) : NULL;
	for (i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(prev, i);

		if (!strcmp(jstr(p, key), jstr(e, key)))
			return p;
	}
	return NULL;
}

static struct json_object *rates(struct json_object *prev, struct json_object *cur,
				 const char *key, double dt)
{
	struct json_object *out;
	double d;
	size_t i;

	switch (json_object_get_type(cur)) {
	case json_type_int:
	case json_type_double:
		if (is_identity(key))
			return json_object_get(cur);
		/* A stage that appeared since, or a counter that went back: no rate. */
		if (!prev || !json_object_is_type(prev, json_object_get_type(cur)))
			return NULL;
		d = json_object_get_double(cur) - json_object_get_double(prev);
		return d < 0 ? NULL : json_object_new_double(d / dt);
	case json_type_object:
		out = json_object_new_object();
		json_object_object_foreach(cur, k, v)
			json_object_object_add(out, k, rates(jget(prev, k), v, k, dt));
		return out;
	case json_type_array:
		out = json_object_new_array();
		for (i = 0; i < jlen(cur); i++) {
			struct json_object *e = json_object_array_get_idx(cur, i);

			json_object_array_add(out, rates(pair_of(prev, e, i), e, NULL, dt));
		}
		return out;
	default:
		return json_object_get(cur);
	}
}

/*
 * The q-quantile of a log2 histogram (bucket b: [2^b, 2^(b+1)) ns), linear
 * inside its bucket; the last bucket is open, so an answer there is its
 * lower bound and *open is set. Counts may be rates (-w): only ratios matter.
 */
static double log2_quantile(struct json_object *buckets, double q, bool *open)
{
	size_t n = jlen(buckets);
	double total = 0, want, cum = 0;

	*open = false;
	for (size_t b = 0; b < n; b++)
		total += json_object_get_double(json_object_array_get_idx(buckets, b));
	if (total <= 0)
		return -1;
	want = q * total;
	for (size_t b = 0; b < n; b++) {
		double c = json_object_get_double(json_object_array_get_idx(buckets, b));
		double lo = (double)(1ull << b);

		if (c > 0 && cum + c >= want) {
			if (b == n - 1) {
				*open = true;
				return lo;
			}
			return lo + lo * (want - cum) / c;
		}
		cum += c;
	}
	return -1;
}

static const char *fmt_ns(double ns, bool open, char *buf, size_t len)
{
	const char *gt = open ? ">=" : "";

	if (ns < 0)
		snprintf(buf, len, "-");
	else if (ns < 10000)
		snprintf(buf, len, "%s%.0f ns", gt, ns);
	else if (ns < 1e7)
		snprintf(buf, len, "%s%.1f us", gt, ns / 1e3);
	else
		snprintf(buf, len, "%s%.1f ms", gt, ns / 1e6);
	return buf;
}

static void print_time_row(const char *slot, const char *name, struct json_object *t)
{
	struct json_object *bk = jget(t, "buckets");
	double count = json_object_get_double(jget(t, "count"));
	double sum = json_object_get_double(jget(t, "sum_ns"));
	char b[4][32];
	bool o50, o99;
	double p50 = log2_quantile(bk, 0.50, &o50), p99 = log2_quantile(bk, 0.99, &o99);

	printf("  %-4s %-16s %-12s %-10s %-10s %-10s\n", slot, name, jnum(t, "count", b[0], 32),
	       fmt_ns(count > 0 ? sum / count : -1, false, b[1], 32), fmt_ns(p50, o50, b[2], 32),
	       fmt_ns(p99, o99, b[3], 32));
}

/* Stage time: a row per stage from its log2 histogram, when timing is on or has counted. */
static void print_timing(struct json_object *obs)
{
	struct json_object *st = jget(obs, "stage_time"), *entry = jget(obs, "entry_time");
	double every = json_object_get_double(jget(obs, "time_sample"));
	double any = entry ? json_object_get_double(jget(entry, "count")) : 0;

	for (size_t j = 0; j < jlen(st); j++)
		any += json_object_get_double(jget(json_object_array_get_idx(st, j), "count"));
	if (!every && any <= 0)
		return;
	if (every)
		printf("  stage time, 1 packet in %.0f timed:\n", every);
	else
		printf("  stage time (timing now off):\n");
	printf("  %-4s %-16s %-12s %-10s %-10s %-10s\n", "SLOT", "STAGE", rating ? "TIMED/S" : "TIMED",
	       "MEAN", "P50", "P99");
	if (entry)
		print_time_row("-", "(entry)", entry);
	for (size_t j = 0; j < jlen(st); j++) {
		struct json_object *t = json_object_array_get_idx(st, j);

		print_time_row(jstr(t, "slot"), jstr(t, "name"), t);
	}
}

static void print_stats(struct json_object *req, struct json_object *reply)
{
	struct json_object *ifs = jget(reply, "interfaces"), *ifc, *p, *stages, *s, *v;
	size_t i, j, k, n = jlen(ifs);
	char b[6][32];

	for (i = 0; i < n; i++) {
		ifc = json_object_array_get_idx(ifs, i);
		p = jget(ifc, "pipeline");
		printf("%s: packets%s %s bytes%s %s missed %s mixed %s bad_verdict %s",
		       jstr(ifc, "name"), rating ? "/s" : "", jnum(p, "packets", b[0], 32),
		       rating ? "/s" : "", jnum(p, "bytes", b[1], 32), jnum(p, "missed", b[2], 32),
		       jnum(p, "mixed", b[3], 32), jnum(p, "bad_verdict", b[4], 32));
		if (jget(p, "no_meta"))
			printf(" no_meta %s", jnum(p, "no_meta", b[5], 32));
		printf("\n");
		print_verdicts("  ", jget(p, "verdicts"));
		stages = jget(ifc, "stages");
		if (!jlen(stages))
			continue;
		printf("  %-4s %-16s %-12s %-14s %-8s", "SLOT", "STAGE",
		       rating ? "PACKETS/S" : "PACKETS", rating ? "BYTES/S" : "BYTES", "MISSED");
		for (k = 0; k < 5; k++)
			printf(" %-9s", cli_verdicts[k]);
		printf("\n");
		for (j = 0; j < jlen(stages); j++) {
			s = json_object_array_get_idx(stages, j);
			v = jget(s, "verdicts");
			printf("  %-4s %-16s %-12s %-14s %-8s", jstr(s, "slot"), jstr(s, "name"),
			       jnum(s, "packets", b[0], 32), jnum(s, "bytes", b[1], 32),
			       jnum(s, "missed", b[2], 32));
			for (k = 0; k < 5; k++)
				printf(" %-9s", jnum(v, cli_verdicts[k], b[5], 32));
			printf("\n");
		}
		p = jget(ifc, "observe");
		if (p && json_object_get_double(jget(p, "anomalies")) > 0)
			printf("  anomalies%s %s (sluicectl anomalies %s)\n", rating ? "/s" : "",
			       jnum(p, "anomalies", b[0], 32), jstr(ifc, "name"));
		if (p)
			print_timing(p);
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int watch(struct json_object *req, double interval, uint64_t count)
{
	struct json_object *prev, *cur, *r;
	double t0, t1;
	uint64_t k;
	char tbuf[16];
	time_t now;
	int ret;

	ret = cli_call(req, &prev);
	if (ret)
		return ret;
	t0 = now_s();
	rating = true;
	for (k = 0; !count || k < count; k++) {
		sleep_s(interval);
		ret = cli_call(req, &cur);
		if (ret)
			break;
		t1 = now_s();
		r = rates(prev, cur, NULL, t1 - t0);
		json_object_object_add(r, "interval_s", json_object_new_double(t1 - t0));
		if (cli.json) {
			print_json(r);
		} else {
			now = time(NULL);
			strftime(tbuf, sizeof(tbuf), "%T", localtime(&now));
			printf("%s rates per second over %.1f s\n", tbuf, t1 - t0);
			print_stats(req, r);
			fflush(stdout);
		}
		json_object_put(r);
		json_object_put(prev);
		prev = cur;
		t0 = t1;
	}
	json_object_put(prev);
	return ret;
}

int cmd_stats(int argc, char **argv)
{
	struct json_object *req;
	const char *iface = NULL;
	double interval = 0;
	uint64_t count = 0;
	char *end;
	int i, ret;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-w")) {
			if (++i >= argc)
				return cli_usage_error("stats: -w needs SECONDS");
			interval = strtod(argv[i], &end);
			if (*end || !isfinite(interval) || interval < 0.1 || interval > 86400)
				return cli_usage_error("stats: bad interval '%s' (0.1 to 86400 s)",
						       argv[i]);
		} else if (!strcmp(argv[i], "-n")) {
			if (++i >= argc || cli_parse_u64(argv[i], &count) || !count)
				return cli_usage_error("stats: -n needs a COUNT > 0");
		} else if (argv[i][0] == '-') {
			return cli_usage_error("stats: unknown option '%s' (usage: sluicectl stats %s)",
					       argv[i], cli.synopsis);
		} else if (iface) {
			return cli_usage_error("stats: unexpected argument '%s' after IFACE '%s'",
					       argv[i], iface);
		} else {
			iface = argv[i];
		}
	}
	if (count && !interval)
		return cli_usage_error("stats: -n goes with -w");
	req = cli_req("stats");
	if (iface)
		json_object_object_add(req, "iface", json_object_new_string(iface));
	if (!interval)
		return cli_do(req, print_stats);
	ret = watch(req, interval, count);
	json_object_put(req);
	return ret;
}
