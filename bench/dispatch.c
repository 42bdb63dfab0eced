// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What dispatch costs, by BPF_PROG_TEST_RUN on one 64-byte UDP/IPv4 frame:
 *
 *   - the default pipeline (parse, acl with 1,000 rules, ratelimit, count)
 *     against the same stage code inlined into one program, for two ACL
 *     rule sets (see acl_build());
 *   - entry + N pass stages, N = 1..9: the slope is the cost of one more
 *     stage, for a constant next index (direct jump), a variable one
 *     (indirect, retpoline), and a stage that only tail-calls (no
 *     sluice_stage_enter() bookkeeping);
 *   - a 4-stage chain with its per-packet context in XDP metadata against
 *     the same chain with it in a per-CPU array;
 *   - the capture pipeline of bench/xsk.sh (parse, acl with one xsk rule,
 *     xsk) against the bare redirect of sluice-xsk --attach: what the XDP
 *     side of the AF_XDP ratio is made of.
 *
 * Every case runs behind bench_front (bpf/bench/harness.bpf.c), which undoes
 * the previous run's metadata; "net" subtracts the front alone. Time is the
 * kernel's own run-time accounting (BPF_ENABLE_STATS: run_time_ns / run_cnt
 * of the front, which includes everything it tail-calls): unlike wall time
 * it leaves out the test-run loop and any time the task was rescheduled, so
 * other load on the machine moves the figures much less. Rounds interleave
 * the cases so drift hits all of them alike; each figure is the median over
 * rounds, and the best round is printed next to it. Each case is checked
 * once for its verdict and metadata, and its counters after the runs, so a
 * figure never comes from an error path.
 *
 * Usage: dispatch [--quick] [--rounds N] [--repeat N] [--cpu N] [--wall]   (root)
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/mount.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "acl.h"
#include "jit.h"
#include "pipeline.h"
#include "pkt.h"
#include "harness.skel.h"
#include "inlined.skel.h"
#include "ctx_meta.skel.h"
#include "ctx_percpu.skel.h"
#include "xsk_redirect.skel.h"

#define ACL_RULES	1000
#define MAX_PASS	9		/* entry + 1..MAX_PASS pass stages */
#define MAX_CASES	48
#define MAX_ROUNDS	101
/* The frame's flow (pkt_spec_default): 10.0.0.1:1000 -> 10.0.0.2:2000 UDP. */
#define FLOW_SRC	"10.0.0.1/32"
#define FLOW_DPORT	2000
/* Rates no benchmark run reaches, so every packet takes ratelimit's in-rate path. */
#define RL_RATE		1000000000
#define RL_BURST	1000000000

enum acl_set { ACL_PREFIX, ACL_SCAN, ACL_NR_SETS };
static const char *const acl_set_name[ACL_NR_SETS] = { "prefix", "scan" };

struct bench_case {
	char name[64];
	int fd;				/* program the front tail-calls */
	uint32_t expect_path;		/* meta.path after one run, 0 = not checked */
	uint32_t expect_rule;
	struct pipeline *pl;		/* NULL when not a pipeline */
	int stats_fd;			/* sluice_pipe_stats of the case, -1 = none */
	int scratch_fd;			/* per-CPU context to check instead of metadata, -1 = none */
	double ns[MAX_ROUNDS];
	double median;
	double best;
};

static struct bench_ctx {
	struct harness_bpf *front;
	struct inlined_bpf *inl[ACL_NR_SETS][2];	/* [set][slot_stats] */
	struct ctx_meta_bpf *cmeta;
	struct ctx_percpu_bpf *cpcpu;
	struct xsk_redirect_bpf *xsk_redirect;
	struct bench_case cases[MAX_CASES];
	int nr_cases;
	char root[PATH_MAX];
	char objdir[PATH_MAX];
	uint8_t frame[128];
	int len;
	int rounds, repeat;
	int stats_fd;			/* BPF_ENABLE_STATS while open; -1 = wall time */
	int cpu;			/* every run is on this CPU */
} B;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, int n, double *best)
{
	double s[MAX_ROUNDS];

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_double);
	*best = s[0];
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static int front_set(int fd)
{
	__u32 zero = 0;

	if (bpf_map_update_elem(bpf_map__fd(B.front->maps.bench_target), &zero, &fd, BPF_ANY))
		return -errno;
	return 0;
}

/* The front's accumulated run time and runs, from the kernel's stats. */
static int front_stats(__u64 *ns, __u64 *cnt)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(bpf_program__fd(B.front->progs.bench_front), &info, &len))
		return -errno;
	*ns = info.run_time_ns;
	*cnt = info.run_cnt;
	return 0;
}

/* Runs the frame through the front into fd, repeat times; ns gets the time per run. */
static int front_run(int fd, int repeat, uint32_t *retval, struct sluice_meta *meta, double *ns)
{
	uint8_t out[sizeof(B.frame) + sizeof(*meta)];
	struct xdp_md ctx = { .data_end = (__u32)B.len }, ctx_out = {};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = B.frame, .data_size_in = (__u32)B.len,
		    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .ctx_out = &ctx_out, .ctx_size_out = sizeof(ctx_out),
		    .repeat = repeat);
	__u64 t0 = 0, t1 = 0, c0 = 0, c1 = 0;
	double w0;
	int ret;

	ret = front_set(fd);
	if (!ret && B.stats_fd >= 0)
		ret = front_stats(&t0, &c0);
	if (ret)
		return ret;
	w0 = now_ns();
	if (bpf_prog_test_run_opts(bpf_program__fd(B.front->progs.bench_front), &opts))
		return -errno;
	if (ns && B.stats_fd >= 0) {
		ret = front_stats(&t1, &c1);
		if (ret)
			return ret;
		*ns = c1 > c0 ? (double)(t1 - t0) / (c1 - c0) : 0;
	} else if (ns) {
		*ns = (now_ns() - w0) / repeat;
	}
	*retval = opts.retval;
	if (meta) {
		memset(meta, 0, sizeof(*meta));
		if (ctx_out.data - ctx_out.data_meta == sizeof(*meta))
			memcpy(meta, out, sizeof(*meta));
	}
	return 0;
}

static struct bench_case *case_add(const char *name, int fd)
{
	struct bench_case *c;

	if (B.nr_cases == MAX_CASES)
		return NULL;
	c = &B.cases[B.nr_cases++];
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->fd = fd;
	c->stats_fd = -1;
	c->scratch_fd = -1;
	return c;
}

static struct bench_case *case_find(const char *name)
{
	for (int i = 0; i < B.nr_cases; i++)
		if (!strcmp(B.cases[i].name, name))
			return &B.cases[i];
	return NULL;
}

/* ---- ACL rule sets ---- */

/*
 * Both sets have 1,000 rules and the frame matches only the last one, a
 * "pass" rule, so the acl stage goes on to ratelimit.
 *   prefix: rules 1..999 drop a /32 source the frame does not come from.
 *           The source trie hands the scan one candidate: the usual case.
 *   scan:   rules 1..999 name no prefix and drop UDP to ports the frame does
 *           not use. All 1,000 are candidates and fail on the port one by
 *           one: the worst case a first-match scan can meet.
 */
static int acl_build(enum acl_set set, struct acl_rule_spec *rules)
{
	char text[128], err[256];

	for (int i = 0; i < ACL_RULES; i++) {
		if (i == ACL_RULES - 1)
			snprintf(text, sizeof(text), "pass proto udp src %s dport %d", FLOW_SRC, FLOW_DPORT);
		else if (set == ACL_PREFIX)
			snprintf(text, sizeof(text), "drop src 192.168.%d.%d/32", i / 256, i % 256);
		else
			snprintf(text, sizeof(text), "drop proto udp dport %d", 3000 + i);
		if (acl_rule_parse(text, &rules[i], err, sizeof(err))) {
			fprintf(stderr, "dispatch: rule \"%s\": %s\n", text, err);
			while (i--)
				acl_rule_spec_free(&rules[i]);
			return -EINVAL;
		}
		rules[i].id = i + 1;
	}
	return 0;
}

static int acl_load(enum acl_set set, const struct acl_maps *maps)
{
	static struct acl_rule_spec rules[ACL_RULES];
	int ret;

	memset(rules, 0, sizeof(rules));
	ret = acl_build(set, rules);
	if (ret)
		return ret;
	ret = acl__apply(maps, rules, ACL_RULES);
	for (int i = 0; i < ACL_RULES; i++)
		acl_rule_spec_free(&rules[i]);
	if (ret)
		fprintf(stderr, "dispatch: applying %s rules: %s\n", acl_set_name[set], strerror(-ret));
	return ret;
}

/* ---- cases ---- */

static void src_set(struct stage_src *s, const char *name, const char *object)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->object, sizeof(s->object), "%s", object);
}

static void src_ratelimit(struct stage_src *s)
{
	src_set(s, "ratelimit", "ratelimit");
	stage_src__set_param(s, "rate_pps", RL_RATE);
	stage_src__set_param(s, "burst", RL_BURST);
}

static int pipeline_case(const char *name, const struct stage_src *src, int n,
			 uint32_t expect_rule, struct bench_case **out)
{
	struct pipeline_err err = {};
	char dir[IF_NAMESIZE];
	struct bench_case *c;
	struct pipeline *pl;
	int ret;

	pl = calloc(1, sizeof(*pl));
	if (!pl)
		return -ENOMEM;
	/* The pipeline's directory is named like an interface: keep it short. */
	snprintf(dir, sizeof(dir), "case%d", B.nr_cases);
	ret = pipeline__init(pl, B.root, dir);
	if (!ret)
		ret = pipeline__load(pl, src, n, XDP_ABORTED, &err);
	if (ret) {
		fprintf(stderr, "dispatch: pipeline %s: %s\n%s", name, err.msg,
			err.verifier_log ? err.verifier_log : "");
		pipeline_err__clear(&err);
		free(pl);
		return ret;
	}
	c = case_add(name, pl->entry.fd);
	if (!c) {
		pipeline__destroy(pl);
		free(pl);
		return -E2BIG;
	}
	c->pl = pl;
	c->expect_path = (1u << n) - 1;
	c->expect_rule = expect_rule;
	c->stats_fd = pipeline__map_fd(pl, SLUICE_MAP_PIPE_STATS);
	if (out)
		*out = c;
	return 0;
}

static int default_pipelines(void)
{
	struct stage_src src[4];
	char name[64], dir[PATH_MAX];
	struct bench_case *c;
	struct acl_maps maps;
	int ret;

	src_set(&src[0], "parse", "parse");
	src_set(&src[1], "acl", "acl");
	src_ratelimit(&src[2]);
	src_set(&src[3], "count", "count");
	for (int set = 0; set < ACL_NR_SETS; set++) {
		snprintf(name, sizeof(name), "pipeline-acl-%s", acl_set_name[set]);
		ret = pipeline_case(name, src, 4, ACL_RULES, &c);
		if (ret)
			return ret;
		snprintf(dir, sizeof(dir), "%s/%s", c->pl->dir, SLUICE_PIN_MAPS);
		ret = acl_maps__open_pinned(dir, &maps);
		if (ret) {
			fprintf(stderr, "dispatch: %s: %s\n", dir, strerror(-ret));
			return ret;
		}
		ret = acl_load(set, &maps);
		acl_maps__close(&maps);
		if (ret)
			return ret;
	}
	return 0;
}

static int inlined_programs(void)
{
	struct acl_maps maps;
	char name[64];
	int ret;

	for (int set = 0; set < ACL_NR_SETS; set++) {
		for (int stats = 1; stats >= 0; stats--) {
			struct inlined_bpf *skel = inlined_bpf__open();
			struct bench_case *c;

			if (!skel)
				return -errno;
			B.inl[set][stats] = skel;
			skel->rodata->slot_stats = stats;
			skel->rodata->rate_pps = RL_RATE;
			skel->rodata->burst = RL_BURST;
			ret = inlined_bpf__load(skel);
			if (ret) {
				fprintf(stderr, "dispatch: loading inlined.bpf.o: %s\n", strerror(-ret));
				return ret;
			}
			ret = acl_maps__from_object(skel->obj, &maps);
			if (!ret)
				ret = acl_load(set, &maps);
			if (ret)
				return ret;
			snprintf(name, sizeof(name), "inlined-acl-%s%s", acl_set_name[set],
				 stats ? "" : "-nostats");
			c = case_add(name, bpf_program__fd(skel->progs.sluice_inlined));
			if (!c)
				return -E2BIG;
			c->expect_path = stats ? 0xf : 0;
			c->expect_rule = ACL_RULES;
			c->stats_fd = bpf_map__fd(skel->maps.sluice_pipe_stats);
		}
	}
	return 0;
}

/* Entry + 1..MAX_PASS stages of one object; bare stages leave meta.path alone. */
static int pass_pipelines(const char *object, const char *prefix, bool bare)
{
	struct stage_src src[MAX_PASS];
	struct bench_case *c;
	char name[64];
	int ret;

	for (int n = 1; n <= MAX_PASS; n++) {
		for (int i = 0; i < n; i++) {
			snprintf(name, sizeof(name), "pass%d", i);
			src_set(&src[i], name, object);
		}
		snprintf(name, sizeof(name), "%s-%d", prefix, n);
		ret = pipeline_case(name, src, n, 0, &c);
		if (ret)
			return ret;
		if (bare)
			c->expect_path = 0;
	}
	return 0;
}

static int fill_chain(int progs_fd, struct bpf_program **stages, int n)
{
	for (__u32 i = 0; i < (__u32)n; i++) {
		int fd = bpf_program__fd(stages[i]);

		if (bpf_map_update_elem(progs_fd, &i, &fd, BPF_ANY))
			return -errno;
	}
	return 0;
}

static int ctx_chains(void)
{
	struct bench_case *c;
	int ret;

	B.cmeta = ctx_meta_bpf__open_and_load();
	B.cpcpu = ctx_percpu_bpf__open_and_load();
	if (!B.cmeta || !B.cpcpu)
		return -errno;
	ret = fill_chain(bpf_map__fd(B.cmeta->maps.ctx_progs), (struct bpf_program *[]){
		B.cmeta->progs.ctx_stage0, B.cmeta->progs.ctx_stage1,
		B.cmeta->progs.ctx_stage2, B.cmeta->progs.ctx_stage3 }, 4);
	if (!ret)
		ret = fill_chain(bpf_map__fd(B.cpcpu->maps.ctx_progs), (struct bpf_program *[]){
			B.cpcpu->progs.ctx_stage0, B.cpcpu->progs.ctx_stage1,
			B.cpcpu->progs.ctx_stage2, B.cpcpu->progs.ctx_stage3 }, 4);
	if (ret)
		return ret;
	c = case_add("ctx-metadata", bpf_program__fd(B.cmeta->progs.ctx_entry));
	if (!c)
		return -E2BIG;
	c->expect_path = 0xf;
	c = case_add("ctx-percpu", bpf_program__fd(B.cpcpu->progs.ctx_entry));
	if (!c)
		return -E2BIG;
	c->expect_path = 0xf;
	c->scratch_fd = bpf_map__fd(B.cpcpu->maps.ctx_scratch);
	return 0;
}

/*
 * [parse, acl with one rule selecting the frame for AF_XDP, xsk] vs a bare
 * redirect, and the pipeline built up a stage at a time (xsk with all=1
 * redirects without the ACL's mark), so the difference splits by stage.
 */
static int capture_cases(void)
{
	struct acl_rule_spec rule = {};
	struct stage_src src[3];
	struct bench_case *c;
	char text[64], dir[PATH_MAX], err[256];
	struct acl_maps maps;
	int ret;

	src_set(&src[0], "parse", "parse");
	src_set(&src[1], "acl", "acl");
	src_set(&src[2], "xsk", "xsk");
	ret = pipeline_case("capture-pipeline", src, 3, 1, &c);
	if (ret)
		return ret;
	snprintf(text, sizeof(text), "xsk proto udp dport %d", FLOW_DPORT);
	ret = acl_rule_parse(text, &rule, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "dispatch: rule \"%s\": %s\n", text, err);
		return ret;
	}
	rule.id = 1;
	snprintf(dir, sizeof(dir), "%s/%s", c->pl->dir, SLUICE_PIN_MAPS);
	ret = acl_maps__open_pinned(dir, &maps);
	if (!ret) {
		ret = acl__apply(&maps, &rule, 1);
		acl_maps__close(&maps);
	}
	acl_rule_spec_free(&rule);
	if (ret) {
		fprintf(stderr, "dispatch: capture rule: %s\n", strerror(-ret));
		return ret;
	}

	src_set(&src[0], "xsk", "xsk");
	stage_src__set_param(&src[0], "all", 1);
	ret = pipeline_case("capture-xsk", src, 1, 0, NULL);
	if (ret)
		return ret;
	src_set(&src[0], "parse", "parse");
	src_set(&src[1], "xsk", "xsk");
	stage_src__set_param(&src[1], "all", 1);
	ret = pipeline_case("capture-parse-xsk", src, 2, 0, NULL);
	if (ret)
		return ret;

	B.xsk_redirect = xsk_redirect_bpf__open_and_load();
	if (!B.xsk_redirect)
		return -errno;
	return case_add("capture-bare", bpf_program__fd(B.xsk_redirect->progs.xsk_redirect)) ? 0 : -E2BIG;
}

/* ---- checks ---- */

static int pipe_stats_read(int fd, struct sluice_pipe_stats *sum)
{
	int ncpu = libbpf_num_possible_cpus();
	struct sluice_pipe_stats *v;
	__u32 zero = 0;

	if (ncpu < 0)
		return ncpu;
	v = calloc(ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &zero, v)) {
		free(v);
		return -errno;
	}
	memset(sum, 0, sizeof(*sum));
	for (int i = 0; i < ncpu; i++) {
		sum->packets += v[i].packets;
		sum->verdict[XDP_PASS] += v[i].verdict[XDP_PASS];
		sum->no_meta += v[i].no_meta;
		sum->missed += v[i].missed;
	}
	free(v);
	return 0;
}

/* This CPU's copy of the per-CPU context: what the chain left there. */
static int scratch_read(int fd, struct sluice_meta *m)
{
	int ncpu = libbpf_num_possible_cpus();
	struct sluice_meta *v;
	__u32 zero = 0;
	int ret = 0;

	if (ncpu < 0)
		return ncpu;
	if (B.cpu >= ncpu)
		return -EINVAL;
	v = calloc(ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &zero, v))
		ret = -errno;
	else
		*m = v[B.cpu];
	free(v);
	return ret;
}

/* One run: the verdict is PASS and the context shows every stage ran. */
static int case_check_once(const struct bench_case *c)
{
	struct sluice_meta m;
	uint32_t v;
	int ret;

	ret = front_run(c->fd, 1, &v, &m, NULL);
	if (!ret && c->scratch_fd >= 0)
		ret = scratch_read(c->scratch_fd, &m);
	if (ret) {
		fprintf(stderr, "dispatch: %s: test run: %s\n", c->name, strerror(-ret));
		return ret;
	}
	if (v != XDP_PASS || (c->expect_path && m.path != c->expect_path) ||
	    (c->expect_rule && m.rule != c->expect_rule)) {
		fprintf(stderr, "dispatch: %s: verdict %s path %#x rule %u, want PASS path %#x rule %u\n",
			c->name, xdp_verdict_name((int)v), m.path, m.rule, c->expect_path, c->expect_rule);
		return -EPROTO;
	}
	return 0;
}

/* After the rounds: every packet the case counted took the PASS path. */
static int case_check_stats(const struct bench_case *c)
{
	struct sluice_pipe_stats ps;
	int ret;

	if (c->stats_fd < 0)
		return 0;
	ret = pipe_stats_read(c->stats_fd, &ps);
	if (ret)
		return ret;
	if (!ps.packets || ps.verdict[XDP_PASS] != ps.packets || ps.no_meta || ps.missed) {
		fprintf(stderr, "dispatch: %s: %llu packets, %llu passed, %llu without metadata, %llu missed\n",
			c->name, (unsigned long long)ps.packets, (unsigned long long)ps.verdict[XDP_PASS],
			(unsigned long long)ps.no_meta, (unsigned long long)ps.missed);
		return -EPROTO;
	}
	return 0;
}

/* ---- report ---- */

/* Least-squares slope of median ns over n = 1..MAX_PASS for prefix-n cases. */
static double pass_slope(const char *prefix)
{
	double sx = 0, sy = 0, sxx = 0, sxy = 0;
	char name[64];

	for (int n = 1; n <= MAX_PASS; n++) {
		snprintf(name, sizeof(name), "%s-%d", prefix, n);
		double y = case_find(name)->median;

		sx += n;
		sy += y;
		sxx += (double)n * n;
		sxy += n * y;
	}
	return (MAX_PASS * sxy - sx * sy) / (MAX_PASS * sxx - sx * sx);
}

static double med(const char *name)
{
	return case_find(name)->median;
}

/* Tail-call sites in the JIT image of slot 0 of a pass-chain case, as "direct/indirect". */
static void jit_sites(const char *name, char *buf, size_t len)
{
	const struct bench_case *c = case_find(name);
	int direct, indirect;

	if (!c || !c->pl || jit__count_tail_calls(c->pl->live[0].fd, &direct, &indirect))
		snprintf(buf, len, "?");
	else
		snprintf(buf, len, "%d/%d", direct, indirect);
}

static void report(void)
{
	double floor = med("front-nop");
	double slope, slope_var, slope_bare;
	char pass_jit[32], var_jit[32];

	printf("BPF_PROG_TEST_RUN, %d-byte UDP/IPv4 frame, repeat %d, %d rounds, ns/packet by %s\n",
	       B.len, B.repeat, B.rounds,
	       B.stats_fd >= 0 ? "kernel run-time stats" : "wall clock");
	printf("ns: median of rounds; net: ns - front-nop (the benchmark's front program%s); best: best round, net\n\n",
	       B.stats_fd >= 0 ? " and the stats' own clock reads" : " and the test-run loop");
	printf("%-34s %9s %9s %9s\n", "case", "ns", "net", "best");
	for (int i = 0; i < B.nr_cases; i++)
		printf("%-34s %9.2f %9.2f %9.2f\n", B.cases[i].name, B.cases[i].median,
		       B.cases[i].median - floor, B.cases[i].best - case_find("front-nop")->best);

	printf("\n%-58s %8s %8s\n", "figure", "raw", "net");
	for (int set = 0; set < ACL_NR_SETS; set++) {
		char p[64], q[64], r[64];

		snprintf(p, sizeof(p), "pipeline-acl-%s", acl_set_name[set]);
		snprintf(q, sizeof(q), "inlined-acl-%s", acl_set_name[set]);
		snprintf(r, sizeof(r), "inlined-acl-%s-nostats", acl_set_name[set]);
		printf("pipeline / inlined, acl %-6s (target <= 1.25)            %8.3f %8.3f  %s\n",
		       acl_set_name[set], med(p) / med(q), (med(p) - floor) / (med(q) - floor),
		       (med(p) - floor) / (med(q) - floor) <= 1.25 ? "met" : "MISSED");
		printf("pipeline / inlined without slot counters, acl %-6s      %8.3f %8.3f\n",
		       acl_set_name[set], med(p) / med(r), (med(p) - floor) / (med(r) - floor));
		printf("dispatch cost, acl %-6s (pipeline - inlined), ns         %8.2f\n",
		       acl_set_name[set], med(p) - med(q));
	}
	slope = pass_slope("pass");
	slope_var = pass_slope("passvar");
	slope_bare = pass_slope("passbare");
	printf("entry + 1 pass stage, ns                                  %8.2f %8.2f\n",
	       med("pass-1"), med("pass-1") - floor);
	printf("ns per extra pass stage, constant index (target <= 5)     %8.2f           %s\n",
	       slope, slope <= 5 ? "met" : "MISSED");
	printf("ns per extra pass stage, variable index                   %8.2f\n", slope_var);
	printf("ns per extra stage, tail call only (no stage bookkeeping) %8.2f\n", slope_bare);
	printf("variable - constant index, ns per tail call               %8.2f\n", slope_var - slope);
	jit_sites("pass-2", pass_jit, sizeof(pass_jit));
	jit_sites("passvar-2", var_jit, sizeof(var_jit));
	printf("JIT tail-call sites (direct/indirect) of a pass stage: %s, of a passvar stage: %s\n",
	       pass_jit, var_jit);
	printf("4-stage chain, context in XDP metadata, ns                %8.2f %8.2f\n",
	       med("ctx-metadata"), med("ctx-metadata") - floor);
	printf("4-stage chain, context in a per-CPU array, ns             %8.2f %8.2f\n",
	       med("ctx-percpu"), med("ctx-percpu") - floor);
	printf("per-CPU array - metadata, ns per packet                   %8.2f\n",
	       med("ctx-percpu") - med("ctx-metadata"));
	printf("capture pipeline [parse, acl, xsk] - bare redirect, ns    %8.2f\n",
	       med("capture-pipeline") - med("capture-bare"));
	printf("  of which entry and xsk stage, ns                        %8.2f\n",
	       med("capture-xsk") - med("capture-bare"));
	printf("  of which parse, ns                                      %8.2f\n",
	       med("capture-parse-xsk") - med("capture-xsk"));
	printf("  of which acl, ns                                        %8.2f\n",
	       med("capture-pipeline") - med("capture-parse-xsk"));
}

/* ---- setup and teardown ---- */

static int setup(void)
{
	struct pkt_spec spec;
	struct statfs st;
	char exe[PATH_MAX];
	ssize_t n;
	int ret;

	pkt_spec_default(&spec);
	B.len = pkt_build(&spec, B.frame, sizeof(B.frame));
	if (B.len < 0)
		return B.len;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -errno;
	exe[n] = '\0';
	snprintf(B.objdir, sizeof(B.objdir), "%.*s/bpf", (int)(strrchr(exe, '/') - exe), exe);
	if ((statfs("/sys/fs/bpf", &st) || st.f_type != BPF_FS_MAGIC) &&
	    mount("bpf", "/sys/fs/bpf", "bpf", 0, NULL))
		return -errno;
	snprintf(B.root, sizeof(B.root), "/sys/fs/bpf/sluice-bench-%d", (int)getpid());
	if (mkdir(B.root, 0700))
		return -errno;

	B.front = harness_bpf__open_and_load();
	if (!B.front)
		return -errno;
	if (!case_add("front-nop", bpf_program__fd(B.front->progs.bench_nop)))
		return -E2BIG;
	ret = default_pipelines();
	if (!ret)
		ret = inlined_programs();
	if (!ret)
		ret = pass_pipelines("pass", "pass", false);
	if (!ret) {
		char obj[PATH_MAX + 32];

		snprintf(obj, sizeof(obj), "%s/passvar.bpf.o", B.objdir);
		ret = pass_pipelines(obj, "passvar", false);
		if (!ret) {
			snprintf(obj, sizeof(obj), "%s/passbare.bpf.o", B.objdir);
			ret = pass_pipelines(obj, "passbare", true);
		}
	}
	if (!ret)
		ret = ctx_chains();
	if (!ret)
		ret = capture_cases();
	return ret;
}

static void teardown(void)
{
	for (int i = 0; i < B.nr_cases; i++) {
		struct bench_case *c = &B.cases[i];

		if (c->pl) {
			if (c->stats_fd >= 0)
				close(c->stats_fd);
			pipeline__destroy(c->pl);
			free(c->pl);
		}
	}
	for (int set = 0; set < ACL_NR_SETS; set++)
		for (int s = 0; s < 2; s++)
			inlined_bpf__destroy(B.inl[set][s]);
	ctx_meta_bpf__destroy(B.cmeta);
	ctx_percpu_bpf__destroy(B.cpcpu);
	xsk_redirect_bpf__destroy(B.xsk_redirect);
	harness_bpf__destroy(B.front);
	if (B.stats_fd >= 0)
		close(B.stats_fd);
	if (B.root[0])
		rmdir(B.root);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: dispatch [--quick] [--rounds N] [--repeat N] [--cpu N] [--wall]\n"
		   "  --quick     %s\n"
		   "  --rounds N  rounds per case, the median is printed (default 11)\n"
		   "  --repeat N  BPF_PROG_TEST_RUN repeat per round (default 1000000)\n"
		   "  --cpu N     CPU to run on (default: the current one)\n"
		   "  --wall      time by wall clock / repeat instead of the kernel's run-time stats\n",
		   "3 rounds of 100000: for CI, not for figures");
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "repeat", required_argument, NULL, 'n' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "wall", no_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int cpu = sched_getcpu(), opt, ret, wall = 0;
	cpu_set_t set;

	B.stats_fd = -1;
	B.rounds = 11;
	B.repeat = 1000000;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'q':
			B.rounds = 3;
			B.repeat = 100000;
			break;
		case 'r':
			B.rounds = atoi(optarg);
			break;
		case 'n':
			B.repeat = atoi(optarg);
			break;
		case 'c':
			cpu = atoi(optarg);
			break;
		case 'w':
			wall = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (B.rounds < 1 || B.rounds > MAX_ROUNDS || B.repeat < 1 || cpu < 0) {
		usage(stderr);
		return 2;
	}
	/* One CPU for every run: per-CPU state stays warm and no migration lands mid-round. */
	B.cpu = cpu;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		perror("dispatch: sched_setaffinity");
		return 1;
	}
	libbpf_set_print(libbpf_quiet);
	/* Run-time stats stay on only while this fd is open: nothing to restore after a crash. */
	B.stats_fd = wall ? -1 : bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (!wall && B.stats_fd < 0)
		fprintf(stderr, "dispatch: BPF_ENABLE_STATS: %s; timing by wall clock\n", strerror(errno));

	ret = setup();
	if (ret) {
		fprintf(stderr, "dispatch: setup: %s\n", strerror(-ret));
		goto out;
	}
	for (int i = 0; i < B.nr_cases && !ret; i++)
		ret = case_check_once(&B.cases[i]);
	for (int r = 0; r < B.rounds && !ret; r++) {
		for (int i = 0; i < B.nr_cases && !ret; i++) {
			struct bench_case *c = &B.cases[i];
			uint32_t v;

			ret = front_run(c->fd, B.repeat, &v, NULL, &c->ns[r]);
			if (!ret && v != XDP_PASS) {
				fprintf(stderr, "dispatch: %s: verdict %s in round %d\n", c->name,
					xdp_verdict_name((int)v), r);
				ret = -EPROTO;
			}
		}
	}
	for (int i = 0; i < B.nr_cases && !ret; i++) {
		ret = case_check_stats(&B.cases[i]);
		B.cases[i].median = median(B.cases[i].ns, B.rounds, &B.cases[i].best);
	}
	if (!ret)
		report();
out:
	teardown();
	return ret ? 1 : 0;
}
