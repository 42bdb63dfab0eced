// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What dispatch costs, by BPF_PROG_TEST_RUN on one 64-byte UDP/IPv4 frame
 * (other frames where a case says so), with the per-packet context in each
 * carrier the kernel allows (XDP metadata, the per-CPU map):
 *
 *   - the default pipeline (parse, acl with 1,000 rules, ratelimit, count)
 *     against the same stage code inlined into one program; with the anomaly
 *     recorder on, with stage timing at 1/64, with a canary, and behind the
 *     entry of ABI 2 (bpf/bench/oldentry.bpf.c); the same pipeline run twice
 *     measures the noise;
 *   - entry + N pass stages, N = 1, 2, 4, 8, 16, for sluice's dispatch and
 *     for the designs it did not take: tail calls from main programs only,
 *     from nested subprograms, with variable indexes, and everything inlined;
 *   - the two workloads the kernel's tail-calls-from-subprograms feature was
 *     measured on, in spirit: a chain of up to 32 tail calls, and a
 *     flow-dissector-shaped parser, each with and without subprogram dispatch;
 *   - each built-in stage's own cost (entry + parse, + count, + ratelimit);
 *   - the ACL against its size (10 .. 100,000 prefixes), first and last rule;
 *   - one clock read;
 *   - the capture pipeline of bench/xsk.sh against a bare AF_XDP redirect.
 *
 * Every case runs behind bench_front (bpf/bench/harness.bpf.c), which undoes
 * the previous run's metadata (the trap of BPF_PROG_TEST_RUN's repeat) and
 * counts what every run returned: a case whose runs did not all return the
 * verdict it expects fails the benchmark. "net" subtracts the front alone.
 * Time is the kernel's own run-time accounting (BPF_ENABLE_STATS: run_time_ns
 * / run_cnt of the front, which includes everything it tail-calls): unlike
 * wall time it leaves out the test-run loop and any time the task was
 * rescheduled. Rounds interleave the cases, odd rounds in reverse order, so
 * drift hits all of them alike; a figure comparing cases is taken within each
 * round and the median over rounds printed. Each case is also checked once for
 * its context (path, rule, carrier) and, after the rounds, its counters.
 *
 * Usage: dispatch [--quick] [--rounds N] [--repeat N] [--cpu N] [--wall] [--data DIR] [--only G,..]
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/mount.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "acl.h"
#include "jit.h"
#include "pipeline.h"
#include "pkt.h"
#include "probe.h"

#define ACL_RULES	1000
#define MAX_CASES	192
#define MAX_ROUNDS	101
#define MAX_OBJS	96
/* The frame's flow (pkt_spec_default): 10.0.0.1:1000 -> 10.0.0.2:2000 UDP. */
#define FLOW_SRC	"10.0.0.1/32"
#define FLOW_DPORT	2000
/* Rates no benchmark run reaches, so every packet takes ratelimit's in-rate path. */
#define RL_RATE		1000000000
#define RL_BURST	1000000000
/* Targets (issues #10, #14, #15). */
#define TARGET_RATIO	1.10
#define TARGET_STAGE_NS	3.0
#define TARGET_CAPTURE_NS	30.0
#define CAPTURE_RULES	10		/* the capture pipeline's ACL: the frame matches the last */
#define CANARY_SHARE	(SLUICE_SHARE_ONE / 10)
#define TIME_SHIFT	6
#define CLOCK_READS	16
#define BENCH_VERDICT_OTHER	SLUICE_NR_VERDICTS

static const int stage_ns[] = { 1, 2, 4, 8, 16 };
#define NR_STAGE_NS	(int)(sizeof(stage_ns) / sizeof(stage_ns[0]))
static const int tc_ns[] = { 1, 2, 4, 8, 16, 32 };
#define NR_TC_NS	(int)(sizeof(tc_ns) / sizeof(tc_ns[0]))
static const int acl_sizes[] = { 10, 100, 1000, 10000, 100000 };
#define NR_ACL_SIZES	(int)(sizeof(acl_sizes) / sizeof(acl_sizes[0]))
#define ACL_SWEEP_RULES	1000

/* The flow-dissector frames. */
enum { FL_IPV4_UDP, FL_IPV6_TCP, FL_VLAN_IPV4, FL_QINQ_IPV6, FL_NR };
static const char *const fl_name[FL_NR] = { "ipv4-udp", "ipv6-tcp", "vlan-ipv4-udp", "qinq-ipv6-udp" };

/* Where a case's per-packet context can be read back after one run. */
enum ctx_where {
	CTX_NONE,
	CTX_META,		/* in front of the frame, in data_out */
	CTX_MAP,		/* this CPU's entry 0 of ctx_fd (a per-CPU sluice_ctx) */
};

struct bench_case {
	char name[64];
	int fd;				/* program the front tail-calls */
	int expect;			/* the verdict every run must return */
	const uint8_t *frame;
	int len;
	/* After one run: */
	enum ctx_where ctx;
	int ctx_fd;			/* CTX_MAP: the per-CPU context map (borrowed) */
	uint32_t expect_path;		/* 0 = not checked */
	uint32_t expect_rule;		/* the deciding ACL rule's id, 0 = not checked */
	int rules_fd;			/* the ACL rules map meta.rule points into (borrowed) */
	int flow_dport;			/* > 0: flow_state's keys must show this port */
	int flow_fd;
	/* Counters after the rounds: */
	struct pipeline *pl;		/* the case's pipeline, or NULL */
	bool own_pl;			/* destroyed with the case */
	int stats_fd;			/* else a sluice_pipe_stats to check (owned), -1 = none */
	bool stats_no_verdicts;		/* the program counts packets but not verdicts */
	/* Knobs of pl set before each run of this case. */
	int time_shift, record;
	double ns[MAX_ROUNDS];
	double median, best;
};

static struct bench_ctx {
	struct bpf_object *front;	/* harness.bpf.o or harness_plain.bpf.o */
	int front_fd, nop_fd, target_fd, verdicts_fd;
	struct bpf_object *objs[MAX_OBJS];
	int nr_objs;
	struct bench_case cases[MAX_CASES];
	int nr_cases;
	char root[PATH_MAX];
	char objdir[PATH_MAX];
	char datadir[PATH_MAX];
	uint8_t frame[128];
	int len;
	uint8_t fl_frame[FL_NR][160];
	int fl_len[FL_NR];
	uint8_t acl_frame[NR_ACL_SIZES][2][128];
	int acl_len;
	int rounds, repeat;
	int stats_fd;			/* BPF_ENABLE_STATS while open; -1 = wall time */
	int cpu;			/* every run is on this CPU */
	int ncpu;
	bool has_meta;
	char meta_why[256];
	enum sluice_carrier carrier;	/* the default: metadata where the kernel has it */
	bool quick;
	char only[256];			/* comma-separated groups to set up; "" = all */
	char *extra[16];		/* --stage NAME=OBJECT[:PARAM=VALUE,...] */
	int nr_extra;
} B;

/* Whether group g is wanted (--only). */
static bool want(const char *g)
{
	char list[sizeof(B.only) + 2], item[64];

	if (!B.only[0])
		return true;
	snprintf(list, sizeof(list), ",%s,", B.only);
	snprintf(item, sizeof(item), ",%s,", g);
	return strstr(list, item) != NULL;
}

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

static double median_of(const double *v, int n, double *best)
{
	double s[MAX_ROUNDS];

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_double);
	if (best)
		*best = s[0];
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* ---- BPF objects by path, .rodata by variable name ---- */

static struct bpf_object *obj_open(const char *name)
{
	char path[PATH_MAX + 64];
	struct bpf_object *obj;

	if (B.nr_objs == MAX_OBJS) {
		errno = E2BIG;
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/%s.bpf.o", B.objdir, name);
	obj = bpf_object__open_file(path, NULL);
	if (!obj) {
		fprintf(stderr, "dispatch: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	B.objs[B.nr_objs++] = obj;
	return obj;
}

/*
 * Sets a const volatile variable of obj before load, found by name in its
 * .rodata; -ENOENT (said when loud) when there is none.
 */
static int rodata_set_(struct bpf_object *obj, const char *var, const void *val, size_t size, bool loud)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, ".rodata");
	struct btf *btf = bpf_object__btf(obj);
	const struct btf_var_secinfo *vs;
	const struct btf_type *sec;
	const void *init;
	size_t len;
	void *buf;
	int id, ret;

	if (!map || !btf)
		return -ENOENT;
	id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
	if (id < 0)
		return id;
	sec = btf__type_by_id(btf, id);
	vs = btf_var_secinfos(sec);
	for (int i = 0; i < btf_vlen(sec); i++, vs++) {
		const struct btf_type *v = btf__type_by_id(btf, vs->type);

		if (strcmp(btf__name_by_offset(btf, v->name_off), var))
			continue;
		init = bpf_map__initial_value(map, &len);
		if (!init || vs->offset + size > len || size > vs->size)
			return -EINVAL;
		buf = malloc(len);
		if (!buf)
			return -ENOMEM;
		memcpy(buf, init, len);
		memcpy((char *)buf + vs->offset, val, size);
		ret = bpf_map__set_initial_value(map, buf, len);
		free(buf);
		return ret;
	}
	if (loud)
		fprintf(stderr, "dispatch: %s has no .rodata variable %s\n", bpf_object__name(obj), var);
	return -ENOENT;
}

static int rodata_set(struct bpf_object *obj, const char *var, const void *val, size_t size)
{
	return rodata_set_(obj, var, val, size, true);
}

static int rodata_u32(struct bpf_object *obj, const char *var, uint32_t v)
{
	return rodata_set(obj, var, &v, sizeof(v));
}

/*
 * What the loader writes for stages and the entry: the carrier, in
 * sluice_cfg where the object has stage code, in sluice_entry.
 */
static int rodata_carrier(struct bpf_object *obj, enum sluice_carrier carrier)
{
	struct sluice_stage_cfg cfg = { .next = SLUICE_SLOT_END, .carrier = carrier,
					.abi = SLUICE_STAGE_ABI };
	struct sluice_entry_cfg ecfg = { .carrier = carrier };
	int ret = rodata_set_(obj, "sluice_cfg", &cfg, sizeof(cfg), false);

	if (ret && ret != -ENOENT)
		return ret;
	return rodata_set(obj, "sluice_entry", &ecfg, sizeof(ecfg));
}

static int obj_reuse(struct bpf_object *obj, const char *map, int fd)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, map);

	if (!m)
		return -ENOENT;
	return bpf_map__reuse_fd(m, fd);
}

static int obj_load(struct bpf_object *obj)
{
	char why[256];
	int ret = probe__check_denied_helpers(obj, why, sizeof(why));

	if (ret) {
		fprintf(stderr, "dispatch: loading %s: %s\n", bpf_object__name(obj), why);
		return ret;
	}
	ret = bpf_object__load(obj);
	if (ret)
		fprintf(stderr, "dispatch: loading %s: %s\n", bpf_object__name(obj), strerror(-ret));
	return ret;
}

static int prog_fd(struct bpf_object *obj, const char *name)
{
	struct bpf_program *p = bpf_object__find_program_by_name(obj, name);

	return p ? bpf_program__fd(p) : -ENOENT;
}

static int map_fd(struct bpf_object *obj, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);

	return m ? bpf_map__fd(m) : -ENOENT;
}

/* ---- the front ---- */

static int front_set(int fd)
{
	__u32 zero = 0;

	if (bpf_map_update_elem(B.target_fd, &zero, &fd, BPF_ANY))
		return -errno;
	return 0;
}

/* The front's accumulated run time and runs, from the kernel's stats. */
static int front_stats(__u64 *ns, __u64 *cnt)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(B.front_fd, &info, &len))
		return -errno;
	*ns = info.run_time_ns;
	*cnt = info.run_cnt;
	return 0;
}

/* Every CPU's verdict counts, summed: what each run of the front returned. */
static int verdicts_read(__u64 *sum)
{
	__u64 *v = calloc((size_t)B.ncpu, sizeof(__u64) * (BENCH_VERDICT_OTHER + 1));
	__u32 zero = 0;

	if (!v)
		return -ENOMEM;
	memset(sum, 0, sizeof(__u64) * (BENCH_VERDICT_OTHER + 1));
	if (bpf_map_lookup_elem(B.verdicts_fd, &zero, v)) {
		free(v);
		return -errno;
	}
	for (int c = 0; c < B.ncpu; c++)
		for (int k = 0; k <= BENCH_VERDICT_OTHER; k++)
			sum[k] += v[c * (BENCH_VERDICT_OTHER + 1) + k];
	free(v);
	return 0;
}

static int verdicts_clear(void)
{
	__u64 *v = calloc((size_t)B.ncpu, sizeof(__u64) * (BENCH_VERDICT_OTHER + 1));
	__u32 zero = 0;
	int ret = 0;

	if (!v)
		return -ENOMEM;
	if (bpf_map_update_elem(B.verdicts_fd, &zero, v, BPF_ANY))
		ret = -errno;
	free(v);
	return ret;
}

/* The switch word's knobs for this case: timing on 1 packet in 2^time_shift, the recorder. */
static int knobs_set(const struct bench_case *c)
{
	if (!c->pl)
		return 0;
	return pipeline__set_knobs(c->pl, c->time_shift ? 1L << c->time_shift : 0, -1, c->record);
}

/*
 * Runs the case's frame through the front into it, repeat times: ns gets
 * the time per run, meta the context in front of the frame after the last
 * run (zeroed when there is none). Fails unless every run returned the
 * case's verdict.
 */
static int front_run(const struct bench_case *c, int repeat, double *ns, struct sluice_meta *meta)
{
	uint8_t out[256];
	struct xdp_md ctx = { .data_end = (__u32)c->len }, ctx_out = {};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = c->frame, .data_size_in = (__u32)c->len,
		    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .ctx_out = &ctx_out, .ctx_size_out = sizeof(ctx_out),
		    .repeat = repeat);
	__u64 t0 = 0, t1 = 0, c0 = 0, c1 = 0, v[BENCH_VERDICT_OTHER + 1];
	double w0;
	int ret;

	ret = knobs_set(c);
	if (!ret)
		ret = front_set(c->fd);
	if (!ret)
		ret = verdicts_clear();
	if (!ret && B.stats_fd >= 0)
		ret = front_stats(&t0, &c0);
	if (ret)
		return ret;
	w0 = now_ns();
	if (bpf_prog_test_run_opts(B.front_fd, &opts))
		return -errno;
	if (ns && B.stats_fd >= 0) {
		ret = front_stats(&t1, &c1);
		if (ret)
			return ret;
		*ns = c1 > c0 ? (double)(t1 - t0) / (c1 - c0) : 0;
	} else if (ns) {
		*ns = (now_ns() - w0) / repeat;
	}
	ret = verdicts_read(v);
	if (ret)
		return ret;
	if (v[c->expect] != (__u64)repeat) {
		fprintf(stderr, "dispatch: %s: %llu of %d runs returned %s (aborted %llu, drop %llu, "
			"pass %llu, tx %llu, redirect %llu, other %llu; last %#x)\n", c->name,
			(unsigned long long)v[c->expect], repeat, xdp_verdict_name(c->expect),
			(unsigned long long)v[0], (unsigned long long)v[1], (unsigned long long)v[2],
			(unsigned long long)v[3], (unsigned long long)v[4], (unsigned long long)v[5],
			opts.retval);
		return -EPROTO;
	}
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

	if (B.nr_cases == MAX_CASES) {
		fprintf(stderr, "dispatch: more than %d cases\n", MAX_CASES);
		return NULL;
	}
	c = &B.cases[B.nr_cases++];
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->fd = fd;
	c->expect = XDP_PASS;
	c->frame = B.frame;
	c->len = B.len;
	c->ctx_fd = c->flow_fd = c->stats_fd = c->rules_fd = -1;
	c->time_shift = c->record = 0;
	return c;
}

static struct bench_case *case_find(const char *name)
{
	for (int i = 0; i < B.nr_cases; i++)
		if (!strcmp(B.cases[i].name, name))
			return &B.cases[i];
	return NULL;
}

/* The median of a case, NAN when the case does not exist (a carrier the kernel refuses). */
static double med(const char *name)
{
	const struct bench_case *c = case_find(name);

	return c ? c->median : NAN;
}

static double net(const char *name)
{
	return med(name) - med("front-nop");
}

/* ---- ACL rule sets ---- */

/*
 * The default pipeline's 1,000 rules: the frame matches only the last, a
 * "pass" rule, so the acl stage goes on to ratelimit. Rules 1..999 drop a
 * /32 source the frame does not come from: the source trie hands the scan
 * one candidate, the usual case.
 */
static int acl_default(const struct acl_maps *maps)
{
	static struct acl_rule_spec rules[ACL_RULES];
	char text[128], err[256];
	int ret = 0, n = 0;

	memset(rules, 0, sizeof(rules));
	for (; n < ACL_RULES; n++) {
		if (n == ACL_RULES - 1)
			snprintf(text, sizeof(text), "pass proto udp src %s dport %d", FLOW_SRC, FLOW_DPORT);
		else
			snprintf(text, sizeof(text), "drop src 192.168.%d.%d/32", n / 256, n % 256);
		if (acl_rule_parse(text, &rules[n], err, sizeof(err))) {
			fprintf(stderr, "dispatch: rule \"%s\": %s\n", text, err);
			ret = -EINVAL;
			break;
		}
		rules[n].id = n + 1;
	}
	if (!ret)
		ret = acl__apply(maps, rules, ACL_RULES);
	for (int i = 0; i < n; i++)
		acl_rule_spec_free(&rules[i]);
	if (ret)
		fprintf(stderr, "dispatch: applying the default rules: %s\n", strerror(-ret));
	return ret;
}

/* The n-th prefix of the sweep: /32s counted up from 172.16.0.0. */
static uint32_t sweep_addr(int n)
{
	return 0xac100000u + (uint32_t)n;
}

static int sweep_rules(int prefixes)
{
	return prefixes < ACL_SWEEP_RULES ? prefixes : ACL_SWEEP_RULES;
}

/*
 * prefixes /32 sources spread over min(prefixes, 1,000) "pass" rules in
 * blocks, so the frame from sweep_addr(0) matches rule 1 and the frame from
 * sweep_addr(prefixes - 1) only the last rule.
 */
static int acl_sweep(const struct acl_maps *maps, int prefixes)
{
	int nr = sweep_rules(prefixes), per = prefixes / nr, ret;
	struct acl_rule_spec *rules = calloc((size_t)nr, sizeof(*rules));

	if (!rules)
		return -ENOMEM;
	for (int r = 0; r < nr; r++) {
		int k = r == nr - 1 ? prefixes - r * per : per;

		rules[r].id = r + 1;
		rules[r].action = SLUICE_ACL_PASS;
		rules[r].sport_hi = rules[r].dport_hi = 65535;
		rules[r].src = calloc((size_t)k, sizeof(*rules[r].src));
		if (!rules[r].src) {
			ret = -ENOMEM;
			goto out;
		}
		rules[r].nr_src = (size_t)k;
		for (int i = 0; i < k; i++) {
			uint32_t a = htonl(sweep_addr(r * per + i));

			rules[r].src[i].family = AF_INET;
			rules[r].src[i].len = 32;
			memcpy(rules[r].src[i].addr, &a, 4);
		}
	}
	ret = acl__apply(maps, rules, (size_t)nr);
	if (ret)
		fprintf(stderr, "dispatch: applying %d prefixes: %s\n", prefixes, strerror(-ret));
out:
	for (int r = 0; r < nr; r++)
		acl_rule_spec_free(&rules[r]);
	free(rules);
	return ret;
}

static int acl_apply_pinned(struct pipeline *pl, int prefixes)
{
	char dir[PATH_MAX + 16];
	struct acl_maps maps;
	int ret;

	snprintf(dir, sizeof(dir), "%s/%s", pl->dir, SLUICE_PIN_MAPS);
	ret = acl_maps__open_pinned(dir, &maps);
	if (ret) {
		fprintf(stderr, "dispatch: %s: %s\n", dir, strerror(-ret));
		return ret;
	}
	ret = prefixes ? acl_sweep(&maps, prefixes) : acl_default(&maps);
	acl_maps__close(&maps);
	return ret;
}

/* ---- pipelines ---- */

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

/* The default pipeline: parse, acl, ratelimit, count. src has room for 4. */
static void src_default(struct stage_src *src)
{
	src_set(&src[0], "parse", "parse");
	src_set(&src[1], "acl", "acl");
	src_ratelimit(&src[2]);
	src_set(&src[3], "count", "count");
}

static struct pipeline *pl_load(const struct stage_src *src, int n, enum sluice_carrier carrier)
{
	static int seq;
	struct pipeline_err err = {};
	char dir[IF_NAMESIZE];
	struct pipeline *pl;
	int ret;

	pl = calloc(1, sizeof(*pl));
	if (!pl)
		return NULL;
	/* The pipeline's folder is named like an interface: keep it short. */
	snprintf(dir, sizeof(dir), "p%d", seq++);
	ret = pipeline__init(pl, B.root, dir);
	if (!ret) {
		pipeline__set_carrier(pl, carrier, 0);
		ret = pipeline__load(pl, src, n, XDP_ABORTED, &err);
	}
	if (ret) {
		fprintf(stderr, "dispatch: pipeline of %d stages (%s...): %s\n%s", n, src[0].object,
			err.msg, err.verifier_log ? err.verifier_log : "");
		pipeline_err__clear(&err);
		pipeline__destroy(pl);
		pipeline__close(pl);
		free(pl);
		return NULL;
	}
	pipeline_err__clear(&err);
	return pl;
}

static void pl_free(struct pipeline *pl)
{
	if (!pl)
		return;
	pipeline__destroy(pl);
	pipeline__close(pl);
	free(pl);
}

/* Where a program of carrier carrier leaves its context, read from ctx_map when per-CPU. */
static void case_ctx(struct bench_case *c, enum sluice_carrier carrier, int ctx_map)
{
	c->ctx = carrier == SLUICE_CARRIER_META ? CTX_META : CTX_MAP;
	c->ctx_fd = ctx_map;
}

/* Maps of pipelines (the per-CPU context, the ACL rules), opened once for the run. */
static int pl_map_fd(struct pipeline *pl, const char *map)
{
	static struct {
		struct pipeline *pl;
		const char *map;
		int fd;
	} open[2 * MAX_CASES];
	static int n;

	for (int i = 0; i < n; i++)
		if (open[i].pl == pl && !strcmp(open[i].map, map))
			return open[i].fd;
	if (n == (int)(sizeof(open) / sizeof(open[0])))
		return -E2BIG;
	open[n].pl = pl;
	open[n].map = map;
	open[n].fd = pipeline__map_fd(pl, map);
	return open[n++].fd;
}

static struct bench_case *pipeline_case(const char *name, struct pipeline *pl, bool own,
					uint32_t expect_path, uint32_t expect_rule)
{
	struct bench_case *c = case_add(name, pl->entry.fd);

	if (!c) {
		if (own)
			pl_free(pl);
		return NULL;
	}
	c->pl = pl;
	c->own_pl = own;
	c->expect_path = expect_path;
	c->expect_rule = expect_rule;
	if (expect_rule)
		c->rules_fd = pl_map_fd(pl, ACL_MAP_RULES);
	case_ctx(c, pl->carrier, pl_map_fd(pl, SLUICE_MAP_CTX));
	return c;
}

/* ---- cases ---- */

/*
 * The default pipeline and the same code inlined, in each carrier; in the
 * default carrier also: the same pipeline again (the noise), with the
 * recorder on, with timing at 1/64, behind ABI 2's entry, and with a canary.
 */
static int default_cases(void)
{
	struct stage_src src[4];
	char name[64];

	src_default(src);
	for (int carrier = 0; carrier < 2; carrier++) {
		const char *cn = sluice_carrier_name(carrier);
		struct bpf_object *obj;
		struct pipeline *pl;
		struct bench_case *c;
		struct acl_maps maps;
		int ret;

		if (carrier == SLUICE_CARRIER_META && !B.has_meta)
			continue;
		pl = pl_load(src, 4, carrier);
		if (!pl || acl_apply_pinned(pl, 0))
			return -EINVAL;
		snprintf(name, sizeof(name), "pipeline-%s", cn);
		if (!pipeline_case(name, pl, true, 0xf, ACL_RULES))
			return -E2BIG;
		if (carrier == (int)B.carrier) {
			snprintf(name, sizeof(name), "pipeline-%s-again", cn);
			if (!pipeline_case(name, pl, false, 0xf, ACL_RULES))
				return -E2BIG;
			snprintf(name, sizeof(name), "pipeline-%s-record", cn);
			c = pipeline_case(name, pl, false, 0xf, ACL_RULES);
			if (!c)
				return -E2BIG;
			c->record = 1;
			snprintf(name, sizeof(name), "pipeline-%s-time%d", cn, TIME_SHIFT);
			c = pipeline_case(name, pl, false, 0xf, ACL_RULES);
			if (!c)
				return -E2BIG;
			c->time_shift = TIME_SHIFT;
		}

		/* The same stage code as one program. */
		obj = obj_open(carrier == SLUICE_CARRIER_META ? "inlined" : "inlined_percpu");
		if (!obj)
			return -errno;
		ret = rodata_carrier(obj, carrier);
		if (!ret)
			ret = rodata_u32(obj, "rate_pps", RL_RATE);
		if (!ret)
			ret = rodata_u32(obj, "burst", RL_BURST);
		if (!ret)
			ret = obj_load(obj);
		if (!ret)
			ret = acl_maps__from_object(obj, &maps);
		if (!ret)
			ret = acl_default(&maps);
		if (ret)
			return ret;
		snprintf(name, sizeof(name), "inlined-%s", cn);
		c = case_add(name, prog_fd(obj, "sluice_inlined"));
		if (!c)
			return -E2BIG;
		c->expect_path = 0xf;
		c->expect_rule = ACL_RULES;
		c->rules_fd = map_fd(obj, ACL_MAP_RULES);
		case_ctx(c, carrier, map_fd(obj, SLUICE_MAP_CTX));
		c->stats_fd = dup(map_fd(obj, SLUICE_MAP_PIPE_STATS));
	}
	return 0;
}

/* Entry + 1 pass stage and the default pipeline behind ABI 2's entry (metadata only). */
static int oldentry_case(const char *name, struct pipeline *pl, uint32_t path, uint32_t rule)
{
	struct sluice_entry_old_cfg {
		__u32 first;
		__u16 gen;
		__u8 default_verdict;
		__u8 pad;
	} cfg = { .first = sluice_bank_base((uint32_t)pl->bank), .gen = (__u16)pl->gen,
		  .default_verdict = XDP_ABORTED };
	struct bpf_object *obj = obj_open("oldentry");
	struct bench_case *c;
	int ret;

	if (!obj)
		return -errno;
	ret = rodata_set(obj, "sluice_entry", &cfg, sizeof(cfg));
	if (!ret)
		ret = obj_reuse(obj, SLUICE_MAP_PROGS, pl->progs_fd);
	if (!ret)
		ret = obj_load(obj);
	if (ret)
		return ret;
	c = case_add(name, prog_fd(obj, "sluice_entry_prog"));
	if (!c)
		return -E2BIG;
	c->expect_path = path;
	c->expect_rule = rule;
	if (rule)
		c->rules_fd = pl_map_fd(pl, ACL_MAP_RULES);
	c->ctx = CTX_META;
	c->stats_fd = dup(map_fd(obj, SLUICE_MAP_PIPE_STATS));
	return 0;
}

/* A canary of the same stages at 10% of flows: the entry hashes every packet's flow. */
static int canary_case(const char *name, const struct stage_src *src, int n, uint32_t path,
		       uint32_t rule, bool acl)
{
	struct pipeline_err err = {};
	struct pipeline *pl = pl_load(src, n, B.carrier);
	uint32_t cand;
	int ret;

	if (!pl)
		return -EINVAL;
	ret = acl ? acl_apply_pinned(pl, 0) : 0;
	if (!ret)
		ret = pipeline__prepare(pl, src, n, NULL, 0, &cand, &err);
	if (!ret)
		ret = pipeline__canary_start(pl, cand, CANARY_SHARE, &err);
	if (ret) {
		fprintf(stderr, "dispatch: %s: %s\n", name, err.msg);
		pipeline_err__clear(&err);
		pl_free(pl);
		return ret;
	}
	pipeline_err__clear(&err);
	return pipeline_case(name, pl, true, path, rule) ? 0 : -E2BIG;
}

/* Entry + n stages of one object, in each N of stage_ns. */
static int pass_cases(const char *object, const char *prefix, enum sluice_carrier carrier, bool bare)
{
	struct stage_src *src = calloc(SLUICE_MAX_STAGES, sizeof(*src));
	char name[64];
	int ret = 0;

	if (!src)
		return -ENOMEM;
	for (int k = 0; k < NR_STAGE_NS && !ret; k++) {
		int n = stage_ns[k];
		struct pipeline *pl;

		for (int i = 0; i < n; i++) {
			snprintf(name, sizeof(name), "s%d", i);
			src_set(&src[i], name, object);
		}
		pl = pl_load(src, n, carrier);
		if (!pl) {
			ret = -EINVAL;
			break;
		}
		snprintf(name, sizeof(name), "%s-%d", prefix, n);
		/* Bare stages leave the path alone. */
		if (!pipeline_case(name, pl, true, bare ? 0 : (1u << n) - 1, 0))
			ret = -E2BIG;
	}
	free(src);
	return ret;
}

/* The stage chains the designs sluice did not take run behind. */
static int stage_cases(void)
{
	char obj[PATH_MAX + 32], name[64];
	const char *cn = sluice_carrier_name(B.carrier);
	int ret = 0;

	for (int carrier = 0; carrier < 2 && !ret; carrier++) {
		if (carrier == SLUICE_CARRIER_META && !B.has_meta)
			continue;
		snprintf(name, sizeof(name), "pass-%s", sluice_carrier_name(carrier));
		ret = pass_cases("pass", name, carrier, false);
	}
	snprintf(obj, sizeof(obj), "%s/passnest.bpf.o", B.objdir);
	if (!ret)
		ret = pass_cases(obj, "nest", B.carrier, false);
	snprintf(obj, sizeof(obj), "%s/passvar.bpf.o", B.objdir);
	if (!ret)
		ret = pass_cases(obj, "var", B.carrier, false);
	snprintf(obj, sizeof(obj), "%s/passbare.bpf.o", B.objdir);
	if (!ret)
		ret = pass_cases(obj, "bare", B.carrier, true);
	snprintf(obj, sizeof(obj), "%s/passlean.bpf.o", B.objdir);
	if (!ret)
		ret = pass_cases(obj, "lean", B.carrier, false);
	if (ret)
		return ret;

	/* Main-program dispatch, in front of the pass pipelines' own slots and context. */
	for (int k = 0; k < NR_STAGE_NS; k++) {
		struct bench_case *pc, *c;
		struct bpf_object *o;
		struct pipeline *pl;
		int n = stage_ns[k], sw, ctxm;

		snprintf(name, sizeof(name), "pass-%s-%d", cn, n);
		pc = case_find(name);
		pl = pc->pl;
		o = obj_open(B.carrier == SLUICE_CARRIER_META ? "mainentry" : "mainentry_percpu");
		if (!o)
			return -errno;
		sw = pipeline__map_fd(pl, SLUICE_MAP_SWITCH);
		ctxm = pl_map_fd(pl, SLUICE_MAP_CTX);
		ret = rodata_carrier(o, B.carrier);
		if (!ret)
			ret = obj_reuse(o, SLUICE_MAP_PROGS, pl->progs_fd);
		if (!ret)
			ret = sw < 0 ? sw : obj_reuse(o, SLUICE_MAP_SWITCH, sw);
		if (!ret)
			ret = ctxm < 0 ? ctxm : obj_reuse(o, SLUICE_MAP_CTX, ctxm);
		if (sw >= 0)
			close(sw);
		if (!ret)
			ret = obj_load(o);
		if (ret)
			return ret;
		snprintf(name, sizeof(name), "main-%d", n);
		c = case_add(name, prog_fd(o, "bench_mainentry"));
		if (!c)
			return -E2BIG;
		c->expect_path = (1u << n) - 1;
		case_ctx(c, B.carrier, ctxm);
	}

	/* Everything inlined. */
	for (int k = 0; k < NR_STAGE_NS; k++) {
		struct bench_case *c;
		struct bpf_object *o;
		int n = stage_ns[k];

		o = obj_open(B.carrier == SLUICE_CARRIER_META ? "passinl" : "passinl_percpu");
		if (!o)
			return -errno;
		ret = rodata_carrier(o, B.carrier);
		if (!ret)
			ret = rodata_u32(o, "nr_stages", (uint32_t)n);
		if (!ret)
			ret = obj_load(o);
		if (ret)
			return ret;
		snprintf(name, sizeof(name), "inl-%d", n);
		c = case_add(name, prog_fd(o, "bench_passinl"));
		if (!c)
			return -E2BIG;
		c->expect_path = (1u << n) - 1;
		case_ctx(c, B.carrier, map_fd(o, SLUICE_MAP_CTX));
		c->stats_fd = dup(map_fd(o, SLUICE_MAP_PIPE_STATS));
	}
	return 0;
}

/*
 * Entry + parse, then + pass, + count, + ratelimit, + acl without rules:
 * each built-in stage's own cost, and what of it is a stage's bare overhead.
 */
static int stage_cost_cases(void)
{
	static const char *const second[] = { NULL, "pass", "count", "ratelimit", "acl" };
	struct stage_src src[2];
	char name[64];

	for (size_t i = 0; i < sizeof(second) / sizeof(second[0]); i++) {
		struct pipeline *pl;
		int n = second[i] ? 2 : 1;

		src_set(&src[0], "parse", "parse");
		if (second[i] && !strcmp(second[i], "ratelimit"))
			src_ratelimit(&src[1]);
		else if (second[i])
			src_set(&src[1], second[i], second[i]);
		pl = pl_load(src, n, B.carrier);
		if (!pl)
			return -EINVAL;
		snprintf(name, sizeof(name), "parse%s%s", second[i] ? "+" : "", second[i] ? second[i] : "");
		if (!pipeline_case(name, pl, true, (1u << n) - 1, 0))
			return -E2BIG;
	}
	/* Stages of the user's own, after parse: --stage NAME=OBJECT[:PARAM=VALUE,...]. */
	for (int i = 0; i < B.nr_extra; i++) {
		char *spec = strdup(B.extra[i]), *eq = strchr(spec, '='), *colon, *p, *save = NULL;
		struct pipeline *pl;

		if (!eq) {
			fprintf(stderr, "dispatch: --stage %s: want NAME=OBJECT\n", spec);
			free(spec);
			return -EINVAL;
		}
		*eq = '\0';
		colon = strchr(eq + 1, ':');
		if (colon)
			*colon = '\0';
		src_set(&src[0], "parse", "parse");
		src_set(&src[1], spec, eq + 1);
		for (p = colon ? strtok_r(colon + 1, ",", &save) : NULL; p; p = strtok_r(NULL, ",", &save)) {
			char *v = strchr(p, '=');

			if (v) {
				*v = '\0';
				stage_src__set_param(&src[1], p, strtoll(v + 1, NULL, 0));
			}
		}
		pl = pl_load(src, 2, B.carrier);
		snprintf(name, sizeof(name), "parse+%s", spec);
		free(spec);
		if (!pl)
			return -EINVAL;
		if (!pipeline_case(name, pl, true, 0x3, 0))
			return -E2BIG;
	}
	return 0;
}

/* A chain of n tail calls, from main programs or from subprograms. */
static int tc_cases(void)
{
	char name[64], pname[32];

	for (int sub = 0; sub < 2; sub++) {
		for (int k = 0; k < NR_TC_NS; k++) {
			struct bpf_object *o = obj_open(sub ? "tcchain_sub" : "tcchain");
			int n = tc_ns[k], pfd, ret;

			if (!o)
				return -errno;
			ret = rodata_u32(o, "chain_len", (uint32_t)n);
			if (!ret)
				ret = obj_load(o);
			if (ret)
				return ret;
			pfd = map_fd(o, "tc_progs");
			for (__u32 i = 0; i < 32; i++) {
				int fd;

				snprintf(pname, sizeof(pname), "tc_prog%u", i + 1);
				fd = prog_fd(o, pname);
				if (bpf_map_update_elem(pfd, &i, &fd, BPF_ANY))
					return -errno;
			}
			snprintf(name, sizeof(name), "tc-%s-%d", sub ? "sub" : "main", n);
			if (!case_add(name, prog_fd(o, "tc_entry")))
				return -E2BIG;
		}
	}
	return 0;
}

/* The flow-dissector-shaped parser on four frames, with and without subprogram dispatch. */
static int flow_cases(void)
{
	static const char *const progs[] = { "flow_ip", "flow_ipv6", "flow_vlan" };
	char name[64];

	for (int sub = 0; sub < 2; sub++) {
		struct bpf_object *o = obj_open(sub ? "flow_sub" : "flow");
		int jmp;

		if (!o)
			return -errno;
		if (obj_load(o))
			return -EINVAL;
		jmp = map_fd(o, "flow_jmp");
		for (__u32 i = 0; i < 3; i++) {
			int fd = prog_fd(o, progs[i]);

			if (bpf_map_update_elem(jmp, &i, &fd, BPF_ANY))
				return -errno;
		}
		for (int f = 0; f < FL_NR; f++) {
			struct bench_case *c;

			snprintf(name, sizeof(name), "flow-%s-%s", sub ? "sub" : "main", fl_name[f]);
			c = case_add(name, prog_fd(o, "flow_dissect"));
			if (!c)
				return -E2BIG;
			c->frame = B.fl_frame[f];
			c->len = B.fl_len[f];
			c->flow_fd = map_fd(o, "flow_state");
			c->flow_dport = f == FL_IPV6_TCP ? 443 : FLOW_DPORT;
		}
	}
	return 0;
}

/* [parse, acl] with 10 .. 100,000 prefixes; frames from the first and the last rule. */
static int acl_cases(void)
{
	struct stage_src src[2];
	char name[64];

	src_set(&src[0], "parse", "parse");
	src_set(&src[1], "acl", "acl");
	for (int k = 0; k < NR_ACL_SIZES; k++) {
		int p = acl_sizes[k];
		struct pipeline *pl = pl_load(src, 2, B.carrier);
		struct bench_case *c;

		if (!pl || acl_apply_pinned(pl, p))
			return -EINVAL;
		for (int last = 0; last < 2; last++) {
			snprintf(name, sizeof(name), "acl-%d-%s", p, last ? "last" : "first");
			c = pipeline_case(name, pl, !last, 0x3, last ? (uint32_t)sweep_rules(p) : 1);
			if (!c)
				return -E2BIG;
			c->frame = B.acl_frame[k][last];
			c->len = B.acl_len;
		}
	}
	return 0;
}

/* One clock read: `reads` reads against none, of either clock. */
static int clock_cases(void)
{
	static const struct { const char *name; uint32_t reads, kind; } cl[] = {
		{ "clock-0", 0, 0 }, { "clock-ktime", CLOCK_READS, 0 }, { "clock-coarse", CLOCK_READS, 1 },
		{ "clock-jiffies", CLOCK_READS, 2 },
	};

	for (size_t i = 0; i < sizeof(cl) / sizeof(cl[0]); i++) {
		struct bpf_object *o = obj_open("clock");
		int ret;

		if (!o)
			return -errno;
		ret = rodata_u32(o, "reads", cl[i].reads);
		if (!ret)
			ret = rodata_u32(o, "kind", cl[i].kind);
		if (!ret)
			ret = obj_load(o);
		if (ret)
			return ret;
		if (!case_add(cl[i].name, prog_fd(o, "bench_clock")))
			return -E2BIG;
	}
	return 0;
}

/*
 * [parse, acl with 10 rules, xsk] vs a bare redirect: the frame matches only
 * the last rule, which selects it for AF_XDP. Then the pipeline built up a
 * stage at a time (xsk with all=1 redirects without the ACL's mark), so the
 * difference splits by stage. With no socket bound every one of them passes
 * the frame on.
 */
static int capture_cases(void)
{
	struct acl_rule_spec rules[CAPTURE_RULES] = {};
	struct stage_src src[3];
	char text[64], dir[PATH_MAX + 16], err[256];
	struct pipeline *pl;
	struct acl_maps maps;
	struct bpf_object *o;
	int ret = 0, n = 0;

	src_set(&src[0], "parse", "parse");
	src_set(&src[1], "acl", "acl");
	src_set(&src[2], "xsk", "xsk");
	pl = pl_load(src, 3, B.carrier);
	if (!pl || !pipeline_case("capture-pipeline", pl, true, 0x7, CAPTURE_RULES))
		return -EINVAL;
	for (; !ret && n < CAPTURE_RULES; n++) {
		if (n == CAPTURE_RULES - 1)
			snprintf(text, sizeof(text), "xsk proto udp dport %d", FLOW_DPORT);
		else
			snprintf(text, sizeof(text), "drop proto tcp dport %d", 1000 + n);
		ret = acl_rule_parse(text, &rules[n], err, sizeof(err));
		if (ret)
			fprintf(stderr, "dispatch: rule \"%s\": %s\n", text, err);
		rules[n].id = (uint32_t)n + 1;
	}
	snprintf(dir, sizeof(dir), "%s/%s", pl->dir, SLUICE_PIN_MAPS);
	if (!ret)
		ret = acl_maps__open_pinned(dir, &maps);
	if (!ret) {
		ret = acl__apply(&maps, rules, CAPTURE_RULES);
		acl_maps__close(&maps);
		if (ret)
			fprintf(stderr, "dispatch: capture rules: %s\n", strerror(-ret));
	}
	for (int i = 0; i < n; i++)
		acl_rule_spec_free(&rules[i]);
	if (ret)
		return ret;

	src_set(&src[0], "xsk", "xsk");
	stage_src__set_param(&src[0], "all", 1);
	pl = pl_load(src, 1, B.carrier);
	if (!pl || !pipeline_case("capture-xsk", pl, true, 0x1, 0))
		return -EINVAL;
	src_set(&src[0], "parse", "parse");
	src_set(&src[1], "xsk", "xsk");
	stage_src__set_param(&src[1], "all", 1);
	pl = pl_load(src, 2, B.carrier);
	if (!pl || !pipeline_case("capture-parse-xsk", pl, true, 0x3, 0))
		return -EINVAL;

	o = obj_open("xsk_redirect");
	if (!o || obj_load(o))
		return -EINVAL;
	return case_add("capture-bare", prog_fd(o, "xsk_redirect")) ? 0 : -E2BIG;
}

/* ---- checks ---- */

/* This CPU's copy of a per-CPU array's entry 0 (size bytes). */
static int percpu_read(int fd, void *out, size_t size)
{
	size_t vsz = (size + 7) & ~(size_t)7;
	char *v = calloc((size_t)B.ncpu, vsz);
	__u32 zero = 0;
	int ret = 0;

	if (!v)
		return -ENOMEM;
	if (B.cpu >= B.ncpu)
		ret = -EINVAL;
	else if (bpf_map_lookup_elem(fd, &zero, v))
		ret = -errno;
	else
		memcpy(out, v + (size_t)B.cpu * vsz, size);
	free(v);
	return ret;
}

struct flow_keys_view {
	__u16 nhoff, thoff, n_proto;
	__u8 ip_proto, is_frag;
	__u32 src[4], dst[4];
	__u16 sport, dport;
	__u32 done;
};

/*
 * The id of the ACL rule meta.rule names (its position + 1: where a rule
 * sits moves with every update), 0 for none.
 */
static uint32_t rule_id(int rules_fd, uint32_t meta_rule)
{
	struct sluice_acl_rule r;
	__u32 pos = meta_rule - 1;

	if (!meta_rule || rules_fd < 0 || bpf_map_lookup_elem(rules_fd, &pos, &r))
		return 0;
	return r.id;
}

/* One run: the verdict and the context: every stage ran, the rule matched, in the right carrier. */
static int case_check_once(const struct bench_case *c)
{
	struct sluice_meta m = {};
	bool percpu = false;
	int ret;

	ret = front_run(c, 1, NULL, &m);
	if (ret)
		goto fail;
	if (c->ctx == CTX_MAP) {
		ret = c->ctx_fd < 0 ? c->ctx_fd : percpu_read(c->ctx_fd, &m, sizeof(m));
		if (ret)
			goto fail;
		percpu = true;
	}
	if (c->ctx != CTX_NONE &&
	    ((c->expect_path && m.path != c->expect_path) ||
	     (c->expect_rule && rule_id(c->rules_fd, m.rule) != c->expect_rule) ||
	     /* ABI 2's entry has no xflags: the byte is path's third, 0. */
	     (!!(m.xflags & SLUICE_X_PERCPU) != percpu))) {
		fprintf(stderr, "dispatch: %s: path %#x rule %u xflags %#x, want path %#x rule %u in %s\n",
			c->name, m.path, rule_id(c->rules_fd, m.rule), m.xflags, c->expect_path, c->expect_rule,
			percpu ? "the per-CPU map" : "metadata");
		return -EPROTO;
	}
	if (c->flow_dport > 0) {
		struct flow_keys_view k;

		ret = percpu_read(c->flow_fd, &k, sizeof(k));
		if (ret)
			goto fail;
		if (ntohs(k.dport) != c->flow_dport) {
			fprintf(stderr, "dispatch: %s: flow keys dport %u, want %d\n", c->name,
				ntohs(k.dport), c->flow_dport);
			return -EPROTO;
		}
	}
	return 0;
fail:
	fprintf(stderr, "dispatch: %s: test run: %s\n", c->name, strerror(-ret));
	return ret;
}

/* Sums every key of a per-CPU sluice_pipe_stats map (one per bank, or one). */
static int pipe_stats_sum(int fd, struct sluice_pipe_stats *sum)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	struct sluice_pipe_stats *v;

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	v = calloc((size_t)B.ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	memset(sum, 0, sizeof(*sum));
	for (__u32 k = 0; k < info.max_entries; k++) {
		if (bpf_map_lookup_elem(fd, &k, v)) {
			free(v);
			return -errno;
		}
		for (int i = 0; i < B.ncpu; i++) {
			__u64 *a = (__u64 *)sum, *b = (__u64 *)&v[i];

			/* ABI 2's last field is padding, today's `recorded`: both must stay 0 here. */
			for (size_t w = 0; w < sizeof(*sum) / 8; w++)
				a[w] += b[w];
		}
	}
	free(v);
	return 0;
}

/* After the rounds: every packet the case counted took the expected path, none met an error. */
static int case_check_stats(const struct bench_case *c)
{
	struct sluice_pipe_stats ps;
	int ret;

	if (c->pl)
		ret = pipeline__stats(c->pl, &ps, NULL);
	else if (c->stats_fd >= 0)
		ret = pipe_stats_sum(c->stats_fd, &ps);
	else
		return 0;
	if (ret)
		return ret;
	if (!ps.packets || ps.verdict[c->expect] != ps.packets || ps.no_meta || ps.missed ||
	    ps.bad_verdict || ps.mixed || ps.recorded) {
		fprintf(stderr, "dispatch: %s: %llu packets, %llu %s, %llu without metadata, %llu missed, "
			"%llu bad verdicts, %llu mixed, %llu recorded\n", c->name,
			(unsigned long long)ps.packets, (unsigned long long)ps.verdict[c->expect],
			xdp_verdict_name(c->expect), (unsigned long long)ps.no_meta,
			(unsigned long long)ps.missed, (unsigned long long)ps.bad_verdict,
			(unsigned long long)ps.mixed, (unsigned long long)ps.recorded);
		return -EPROTO;
	}
	return 0;
}

/* The timed case: the entry and stage 0 have histograms, so timing ran. */
static int check_timed(const char *name)
{
	const struct bench_case *c = case_find(name);
	struct sluice_stage_time *v;
	__u64 count = 0;
	__u32 key = 0;
	int fd;

	if (!c)
		return 0;
	fd = pipeline__map_fd(c->pl, SLUICE_MAP_STAGE_TIME);
	if (fd < 0)
		return fd;
	v = calloc((size_t)B.ncpu, sizeof(*v));
	if (v && !bpf_map_lookup_elem(fd, &key, v))
		for (int i = 0; i < B.ncpu; i++)
			count += v[i].count;
	free(v);
	close(fd);
	if (!count) {
		fprintf(stderr, "dispatch: %s: no stage was timed\n", name);
		return -EPROTO;
	}
	return 0;
}

/* ---- report ---- */

/*
 * Figures compare cases round by round: a difference, ratio or slope is
 * taken within each round, whose cases ran seconds apart, and the median
 * over rounds is reported. Load from other work drifts between rounds much
 * more than within one.
 */

/* Case ns in round r less the front's in the same round. */
static double rnet(const struct bench_case *c, int r)
{
	return c->ns[r] - B.cases[0].ns[r];
}

enum pair_op { PAIR_DIFF, PAIR_RATIO_NET, PAIR_ABSDIFF };

static double paired(const char *a, const char *b, enum pair_op op)
{
	const struct bench_case *x = case_find(a), *y = case_find(b);
	double d[MAX_ROUNDS];

	if (!x || !y)
		return NAN;
	for (int r = 0; r < B.rounds; r++) {
		if (op == PAIR_RATIO_NET)
			d[r] = rnet(x, r) / rnet(y, r);
		else if (op == PAIR_DIFF)
			d[r] = x->ns[r] - y->ns[r];
		else
			d[r] = fabs(x->ns[r] - y->ns[r]);
	}
	return median_of(d, B.rounds, NULL);
}

/* The median over rounds of the least-squares slope of ns over stage_ns, for prefix-N cases. */
static double slope(const char *prefix)
{
	const struct bench_case *c[NR_STAGE_NS];
	double d[MAX_ROUNDS];
	char name[64];

	for (int k = 0; k < NR_STAGE_NS; k++) {
		snprintf(name, sizeof(name), "%s-%d", prefix, stage_ns[k]);
		c[k] = case_find(name);
		if (!c[k])
			return NAN;
	}
	for (int r = 0; r < B.rounds; r++) {
		double sx = 0, sy = 0, sxx = 0, sxy = 0, n = NR_STAGE_NS;

		for (int k = 0; k < NR_STAGE_NS; k++) {
			sx += stage_ns[k];
			sy += c[k]->ns[r];
			sxx += (double)stage_ns[k] * stage_ns[k];
			sxy += stage_ns[k] * c[k]->ns[r];
		}
		d[r] = (n * sxy - sx * sy) / (n * sxx - sx * sx);
	}
	return median_of(d, B.rounds, NULL);
}

/* Tail-call sites in the JIT image of slot 0 of a pipeline case, as "direct/indirect". */
static void jit_sites(const char *name, char *buf, size_t len)
{
	const struct bench_case *c = case_find(name);
	int direct, indirect;

	if (!c || !c->pl || jit__count_tail_calls(c->pl->live[0].fd, &direct, &indirect))
		snprintf(buf, len, "?");
	else
		snprintf(buf, len, "%d/%d", direct, indirect);
}

/* One figure: what the report prints and what its FIGURE line says. */
struct fig {
	char name[80];			/* FIGURE name */
	char what[96];			/* the report's words */
	double v;
	const char *unit;
	char target[32];		/* "-" = none */
	const char *status;		/* met, missed, info */
};

static struct fig figs[96];
static int nr_figs;

static struct fig *fig_add(const char *name, const char *what, double v, const char *unit)
{
	struct fig *f = &figs[nr_figs < 95 ? nr_figs++ : 95];

	snprintf(f->name, sizeof(f->name), "%s", name);
	snprintf(f->what, sizeof(f->what), "%s", what);
	f->v = v;
	f->unit = unit;
	snprintf(f->target, sizeof(f->target), "-");
	f->status = "info";
	return f;
}

/* A figure with a target: at most (le) or at least max. */
static void fig_target(const char *name, const char *what, double v, const char *unit, bool le, double t)
{
	struct fig *f = fig_add(name, what, v, unit);

	snprintf(f->target, sizeof(f->target), "%s%g", le ? "<=" : ">=", t);
	if (!isnan(v))
		f->status = (le ? v <= t : v >= t) ? "met" : "missed";
}

static void figures_compute(void)
{
	const char *dc = sluice_carrier_name(B.carrier);
	char a[64], b[64], n[96], w[96];
	double noise, d;
	struct fig *f;

	for (int carrier = 0; carrier < 2; carrier++) {
		const char *cn = sluice_carrier_name(carrier);

		snprintf(a, sizeof(a), "pipeline-%s", cn);
		snprintf(b, sizeof(b), "inlined-%s", cn);
		snprintf(n, sizeof(n), "dispatch.pipeline_over_inlined.%s", cn);
		snprintf(w, sizeof(w), "default pipeline / inlined, %s carrier (net)", cn);
		fig_target(n, w, paired(a, b, PAIR_RATIO_NET), "ratio", true, TARGET_RATIO);
		snprintf(n, sizeof(n), "dispatch.pipeline_minus_inlined.%s", cn);
		snprintf(w, sizeof(w), "default pipeline - inlined, %s carrier", cn);
		fig_add(n, w, paired(a, b, PAIR_DIFF), "ns");
		snprintf(n, sizeof(n), "dispatch.pipeline.%s", cn);
		snprintf(w, sizeof(w), "default pipeline, %s carrier (net)", cn);
		fig_add(n, w, net(a), "ns");
		snprintf(n, sizeof(n), "dispatch.inlined.%s", cn);
		snprintf(w, sizeof(w), "the same code inlined, %s carrier (net)", cn);
		fig_add(n, w, net(b), "ns");
	}
	for (int carrier = 0; carrier < 2; carrier++) {
		const char *cn = sluice_carrier_name(carrier);

		snprintf(a, sizeof(a), "pass-%s", cn);
		snprintf(n, sizeof(n), "dispatch.stage_ns.%s", cn);
		snprintf(w, sizeof(w), "each extra pass stage, %s carrier", cn);
		fig_target(n, w, slope(a), "ns", true, TARGET_STAGE_NS);
	}
	fig_add("dispatch.stage_ns.main_only", "each extra stage, tail calls from main programs only",
		slope("main"), "ns");
	fig_add("dispatch.stage_ns.nested_subprog", "each extra stage, tail calls from nested subprograms",
		slope("nest"), "ns");
	fig_add("dispatch.stage_ns.variable_index", "each extra stage, variable-index tail calls",
		slope("var"), "ns");
	fig_add("dispatch.stage_ns.tail_call_only", "each extra stage that only tail-calls", slope("bare"),
		"ns");
	fig_add("dispatch.stage_ns.inlined", "each extra pass stage, everything inlined", slope("inl"), "ns");
	fig_add("dispatch.stage_ns.timing_out_of_line", "each extra pass stage, timing mark out of line",
		slope("lean"), "ns");

	fig_add("dispatch.entry_minus_abi2.pass1", "entry (switch word, meta) - ABI 2 entry, + 1 pass stage",
		paired("pass-meta-1", "oldentry-pass-1", PAIR_DIFF), "ns");
	fig_add("dispatch.entry_minus_abi2.default", "entry (switch word, meta) - ABI 2 entry, default pipeline",
		paired("pipeline-meta", "oldentry-default", PAIR_DIFF), "ns");
	fig_add("dispatch.entry_percpu_minus_abi2.pass1", "entry (per-CPU carrier) - ABI 2 entry, + 1 pass stage",
		paired("pass-percpu-1", "oldentry-pass-1", PAIR_DIFF), "ns");
	snprintf(a, sizeof(a), "pass-%s-1", dc);
	fig_add("dispatch.canary_cost.pass1", "an active canary (10% of flows) - none, + 1 pass stage",
		paired("canary-1", a, PAIR_DIFF), "ns");
	snprintf(a, sizeof(a), "pipeline-%s", dc);
	fig_add("dispatch.canary_cost.default", "an active canary (10% of flows) - none, default pipeline",
		paired("canary-default", a, PAIR_DIFF), "ns");

	snprintf(b, sizeof(b), "pipeline-%s-again", dc);
	noise = paired(a, b, PAIR_ABSDIFF);
	fig_add("dispatch.noise", "noise: median |difference| between two runs of one pipeline in a round",
		noise, "ns");
	snprintf(b, sizeof(b), "pipeline-%s-record", dc);
	d = paired(b, a, PAIR_DIFF);
	f = fig_add("dispatch.recorder_cost", "anomaly recorder on - off, nothing anomalous", d, "ns");
	snprintf(f->target, sizeof(f->target), "|d|<=%.2f", noise);
	if (!isnan(d) && !isnan(noise))
		f->status = fabs(d) <= noise ? "met" : "missed";
	snprintf(b, sizeof(b), "pipeline-%s-time%d", dc, TIME_SHIFT);
	fig_add("dispatch.timing_cost.1_in_64", "stage timing on 1 packet in 64 - off", paired(b, a, PAIR_DIFF),
		"ns");
	fig_add("dispatch.clock_read.ktime", "one bpf_ktime_get_ns()",
		paired("clock-ktime", "clock-0", PAIR_DIFF) / CLOCK_READS, "ns");
	fig_add("dispatch.clock_read.coarse", "one bpf_ktime_get_coarse_ns()",
		paired("clock-coarse", "clock-0", PAIR_DIFF) / CLOCK_READS, "ns");
	fig_add("dispatch.clock_read.jiffies", "one bpf_jiffies64()",
		paired("clock-jiffies", "clock-0", PAIR_DIFF) / CLOCK_READS, "ns");

	snprintf(a, sizeof(a), "pass-%s-1", dc);
	fig_add("dispatch.stage.parse", "parse's logic ([parse] - [pass])", paired("parse", a, PAIR_DIFF), "ns");
	fig_add("dispatch.stage.pass", "a pass stage after parse ([parse, pass] - [parse])",
		paired("parse+pass", "parse", PAIR_DIFF), "ns");
	fig_add("dispatch.stage.count", "count after parse ([parse, count] - [parse])",
		paired("parse+count", "parse", PAIR_DIFF), "ns");
	fig_add("dispatch.stage.ratelimit", "ratelimit after parse, in rate ([parse, ratelimit] - [parse])",
		paired("parse+ratelimit", "parse", PAIR_DIFF), "ns");
	fig_add("dispatch.stage.acl_empty", "acl without rules after parse ([parse, acl] - [parse])",
		paired("parse+acl", "parse", PAIR_DIFF), "ns");
	for (int i = 0; i < B.nr_extra; i++) {
		char *eq = strchr(B.extra[i], '=');

		snprintf(a, sizeof(a), "parse+%.*s", (int)(eq ? eq - B.extra[i] : 0), B.extra[i]);
		snprintf(n, sizeof(n), "dispatch.stage.%s", a + 6);
		snprintf(w, sizeof(w), "%s after parse ([parse, it] - [parse])", a + 6);
		fig_add(n, w, paired(a, "parse", PAIR_DIFF), "ns");
	}

	fig_target("dispatch.capture_minus_bare",
		   "capture pipeline [parse, acl with 10 rules, xsk] - bare AF_XDP redirect",
		   paired("capture-pipeline", "capture-bare", PAIR_DIFF), "ns", true, TARGET_CAPTURE_NS);
	fig_add("dispatch.tc_chain32.main", "32 tail calls from main programs (net)", net("tc-main-32"), "ns");
	fig_add("dispatch.tc_chain32.subprog", "32 tail calls from subprograms (net)", net("tc-sub-32"), "ns");
	for (int k = 0; k < FL_NR; k++) {
		snprintf(a, sizeof(a), "flow-main-%s", fl_name[k]);
		snprintf(b, sizeof(b), "flow-sub-%s", fl_name[k]);
		snprintf(n, sizeof(n), "dispatch.flow.%s.subprog_minus_main", fl_name[k]);
		snprintf(w, sizeof(w), "flow dissector, %s: subprogram - main-program dispatch", fl_name[k]);
		fig_add(n, w, paired(b, a, PAIR_DIFF), "ns");
	}
	for (int k = 0; k < NR_ACL_SIZES; k++) {
		for (int last = 0; last < 2; last++) {
			snprintf(a, sizeof(a), "acl-%d-%s", acl_sizes[k], last ? "last" : "first");
			snprintf(n, sizeof(n), "dispatch.acl.%d.%s", acl_sizes[k], last ? "last" : "first");
			snprintf(w, sizeof(w), "[parse, acl], %d prefixes, %s rule matches (net)", acl_sizes[k],
				 last ? "only the last" : "the first");
			fig_add(n, w, net(a), "ns");
		}
	}
}

static void report(void)
{
	char pass_jit[32], var_jit[32];

	printf("BPF_PROG_TEST_RUN, %d-byte UDP/IPv4 frame, repeat %d, %d rounds, ns/packet by %s, CPU %d\n",
	       B.len, B.repeat, B.rounds, B.stats_fd >= 0 ? "kernel run-time stats" : "wall clock", B.cpu);
	if (B.has_meta)
		printf("carriers: metadata and the per-CPU map; default here: metadata\n");
	else
		printf("carriers: the per-CPU map only: metadata UNAVAILABLE (%s); its figures say n/a\n",
		       B.meta_why);
	printf("ns: median of rounds; net: ns - front-nop (the benchmark's front program%s); best: best round, net\n\n",
	       B.stats_fd >= 0 ? " and the stats' own clock reads" : " and the test-run loop");
	printf("%-34s %9s %9s %9s\n", "case", "ns", "net", "best");
	for (int i = 0; i < B.nr_cases; i++)
		printf("%-34s %9.2f %9.2f %9.2f\n", B.cases[i].name, B.cases[i].median,
		       B.cases[i].median - B.cases[0].median, B.cases[i].best - B.cases[0].best);

	printf("\nfigures (each the median over rounds of the figure taken within a round):\n");
	for (int i = 0; i < nr_figs; i++) {
		const struct fig *f = &figs[i];

		if (isnan(f->v) && strcmp(f->status, "info"))
			printf("  %-78s %9s %-5s (target %s)\n", f->what, "n/a", f->unit, f->target);
		else if (isnan(f->v))
			continue;
		else if (strcmp(f->target, "-"))
			printf("  %-78s %9.2f %-5s (target %s: %s)\n", f->what, f->v, f->unit, f->target,
			       f->status);
		else
			printf("  %-78s %9.2f %-5s\n", f->what, f->v, f->unit);
	}
	jit_sites("pass-meta-2", pass_jit, sizeof(pass_jit));
	if (!strcmp(pass_jit, "?"))
		jit_sites("pass-percpu-2", pass_jit, sizeof(pass_jit));
	jit_sites("var-2", var_jit, sizeof(var_jit));
	printf("  JIT tail-call sites (direct/indirect) of a pass stage: %s, of a passvar stage: %s\n",
	       pass_jit, var_jit);
}

/* The figures docs/BENCHMARKS.md names, for bench/run.sh --summary. */
static void summary(void)
{
	printf("\n");
	for (int i = 0; i < nr_figs; i++) {
		const struct fig *f = &figs[i];

		if (isnan(f->v))
			printf("FIGURE %s n/a %s %s info\n", f->name, f->unit, f->target);
		else
			printf("FIGURE %s %.3f %s %s %s\n", f->name, f->v, f->unit, f->target, f->status);
	}
}

/* Writes name with a header line; "?" for a case this kernel could not run. */
static FILE *data_open(const char *name, const char *columns)
{
	char path[PATH_MAX + 64];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", B.datadir, name);
	f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "dispatch: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	fprintf(f, "# bench/dispatch: BPF_PROG_TEST_RUN, repeat %d, median of %d rounds, ns/packet net of "
		"the front; default carrier %s\n# %s\n", B.repeat, B.rounds,
		sluice_carrier_name(B.carrier), columns);
	return f;
}

static void data_val(FILE *f, double v)
{
	if (isnan(v))
		fprintf(f, " ?");
	else
		fprintf(f, " %.3f", v);
}

static int data_write(void)
{
	char a[64];
	FILE *f;

	if (!B.datadir[0])
		return 0;
	f = data_open("stages.dat", "stages sluice-meta sluice-percpu main-only nested-subprog "
			 "variable-index inlined tail-call-only");
	if (!f)
		return -errno;
	for (int k = 0; k < NR_STAGE_NS; k++) {
		static const char *const p[] = { "pass-meta", "pass-percpu", "main", "nest", "var", "inl",
						 "bare" };

		fprintf(f, "%d", stage_ns[k]);
		for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
			snprintf(a, sizeof(a), "%s-%d", p[i], stage_ns[k]);
			data_val(f, net(a));
		}
		fprintf(f, "\n");
	}
	fclose(f);
	f = data_open("tcchain.dat", "tail-calls from-main from-subprograms");
	if (!f)
		return -errno;
	for (int k = 0; k < NR_TC_NS; k++) {
		fprintf(f, "%d", tc_ns[k]);
		snprintf(a, sizeof(a), "tc-main-%d", tc_ns[k]);
		data_val(f, net(a));
		snprintf(a, sizeof(a), "tc-sub-%d", tc_ns[k]);
		data_val(f, net(a));
		fprintf(f, "\n");
	}
	fclose(f);
	f = data_open("flow.dat", "frame main-dispatch subprogram-dispatch");
	if (!f)
		return -errno;
	for (int k = 0; k < FL_NR; k++) {
		fprintf(f, "%s", fl_name[k]);
		snprintf(a, sizeof(a), "flow-main-%s", fl_name[k]);
		data_val(f, net(a));
		snprintf(a, sizeof(a), "flow-sub-%s", fl_name[k]);
		data_val(f, net(a));
		fprintf(f, "\n");
	}
	fclose(f);
	f = data_open("acl.dat", "prefixes match-first match-last entry+parse-alone");
	if (!f)
		return -errno;
	for (int k = 0; k < NR_ACL_SIZES; k++) {
		fprintf(f, "%d", acl_sizes[k]);
		snprintf(a, sizeof(a), "acl-%d-first", acl_sizes[k]);
		data_val(f, net(a));
		snprintf(a, sizeof(a), "acl-%d-last", acl_sizes[k]);
		data_val(f, net(a));
		data_val(f, net("parse"));
		fprintf(f, "\n");
	}
	fclose(f);
	return 0;
}

/* ---- setup and teardown ---- */

static int frames_build(void)
{
	struct pkt_spec s;

	pkt_spec_default(&s);
	B.len = pkt_build(&s, B.frame, sizeof(B.frame));
	if (B.len < 0)
		return B.len;
	for (int f = 0; f < FL_NR; f++) {
		pkt_spec_default(&s);
		if (f == FL_IPV6_TCP || f == FL_QINQ_IPV6) {
			s.family = AF_INET6;
			inet_pton(AF_INET6, "fd00::1", &s.src6);
			inet_pton(AF_INET6, "fd00::2", &s.dst6);
		}
		if (f == FL_IPV6_TCP) {
			s.proto = IPPROTO_TCP;
			s.dport = 443;
		}
		if (f == FL_VLAN_IPV4) {
			s.vlans = 1;
			s.vlan_id[0] = 100;
		}
		if (f == FL_QINQ_IPV6) {
			s.vlans = 2;
			s.vlan_tpid[0] = 0x88a8;
			s.vlan_id[0] = 10;
			s.vlan_id[1] = 20;
		}
		B.fl_len[f] = pkt_build(&s, B.fl_frame[f], sizeof(B.fl_frame[f]));
		if (B.fl_len[f] < 0)
			return B.fl_len[f];
	}
	for (int k = 0; k < NR_ACL_SIZES; k++) {
		for (int last = 0; last < 2; last++) {
			pkt_spec_default(&s);
			s.src4.s_addr = htonl(sweep_addr(last ? acl_sizes[k] - 1 : 0));
			B.acl_len = pkt_build(&s, B.acl_frame[k][last], sizeof(B.acl_frame[k][last]));
			if (B.acl_len < 0)
				return B.acl_len;
		}
	}
	return 0;
}

static int front_load(void)
{
	B.front = obj_open(B.has_meta ? "harness" : "harness_plain");
	if (!B.front || obj_load(B.front))
		return -EINVAL;
	B.front_fd = prog_fd(B.front, "bench_front");
	B.nop_fd = prog_fd(B.front, "bench_nop");
	B.target_fd = map_fd(B.front, "bench_target");
	B.verdicts_fd = map_fd(B.front, "bench_verdicts");
	return case_add("front-nop", B.nop_fd) ? 0 : -E2BIG;
}

static int setup(void)
{
	struct stage_src src[4];
	struct statfs st;
	char exe[PATH_MAX];
	ssize_t n;
	int ret;

	ret = frames_build();
	if (ret)
		return ret;
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

	ret = front_load();
	if (!ret && want("default"))
		ret = default_cases();
	if (!ret && want("stages"))
		ret = stage_cases();
	if (!ret && B.has_meta && want("default") && want("stages")) {
		ret = oldentry_case("oldentry-pass-1", case_find("pass-meta-1")->pl, 0x1, 0);
		if (!ret)
			ret = oldentry_case("oldentry-default", case_find("pipeline-meta")->pl, 0xf, ACL_RULES);
	}
	if (!ret && want("canary")) {
		src_set(&src[0], "s0", "pass");
		ret = canary_case("canary-1", src, 1, 0x1, 0, false);
		if (!ret) {
			src_default(src);
			ret = canary_case("canary-default", src, 4, 0xf, ACL_RULES, true);
		}
	}
	if (!ret && want("cost"))
		ret = stage_cost_cases();
	if (!ret && want("tc"))
		ret = tc_cases();
	if (!ret && want("flow"))
		ret = flow_cases();
	if (!ret && want("acl"))
		ret = acl_cases();
	if (!ret && want("clock"))
		ret = clock_cases();
	if (!ret && want("capture"))
		ret = capture_cases();
	return ret;
}

static void teardown(void)
{
	for (int i = 0; i < B.nr_objs; i++)
		bpf_object__close(B.objs[i]);
	for (int i = 0; i < B.nr_cases; i++) {
		struct bench_case *c = &B.cases[i];

		if (c->own_pl)
			pl_free(c->pl);
		if (c->stats_fd >= 0)
			close(c->stats_fd);
	}
	if (B.stats_fd >= 0)
		close(B.stats_fd);
	if (B.root[0]) {
		char path[PATH_MAX + 16];

		/* The pin root's own map, which no pipeline removes. */
		snprintf(path, sizeof(path), "%s/%s", B.root, SLUICE_PIN_SELECTORS);
		unlink(path);
		if (rmdir(B.root))
			fprintf(stderr, "dispatch: %s: %s\n", B.root, strerror(errno));
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: dispatch [--quick] [--rounds N] [--repeat N] [--cpu N] [--wall] [--data DIR] [--only G,..]\n                [--stage NAME=OBJECT[:PARAM=VALUE,..]]\n"
		   "  --quick     %s\n"
		   "  --rounds N  rounds per case, the median is printed (default 11)\n"
		   "  --repeat N  BPF_PROG_TEST_RUN repeat per round (default 1000000)\n"
		   "  --cpu N     CPU to run on (default: the current one)\n"
		   "  --wall      time by wall clock / repeat instead of the kernel's run-time stats\n"
		   "  --data DIR  write the plots' data (stages, tcchain, flow, acl .dat) into DIR\n"
		   "  --only G,.. set up only these groups: default, stages (old entry: both),\n"
		   "              canary, cost, tc, flow, acl, clock, capture (figures of others say n/a)\n"
		   "  --stage NAME=OBJECT[:PARAM=VALUE,..]  also time [parse, OBJECT] (group cost)\n",
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
		{ "data", required_argument, NULL, 'd' },
		{ "only", required_argument, NULL, 'o' },
		{ "stage", required_argument, NULL, 's' },
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
			B.quick = true;
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
		case 'd':
			snprintf(B.datadir, sizeof(B.datadir), "%s", optarg);
			break;
		case 'o':
			snprintf(B.only, sizeof(B.only), "%s", optarg);
			break;
		case 's':
			if (B.nr_extra == (int)(sizeof(B.extra) / sizeof(B.extra[0]))) {
				usage(stderr);
				return 2;
			}
			B.extra[B.nr_extra++] = optarg;
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
	B.ncpu = libbpf_num_possible_cpus();
	if (B.ncpu < 1) {
		fprintf(stderr, "dispatch: cannot count CPUs\n");
		return 1;
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
	B.has_meta = probe__xdp_meta(B.meta_why, sizeof(B.meta_why));
	B.carrier = B.has_meta ? SLUICE_CARRIER_META : SLUICE_CARRIER_PERCPU;
	/* Run-time stats stay on only while this fd is open: nothing to restore after a crash. */
	B.stats_fd = wall ? -1 : bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (!wall && B.stats_fd < 0)
		fprintf(stderr, "dispatch: BPF_ENABLE_STATS: %s; timing by wall clock\n", strerror(errno));

	ret = setup();
	if (ret) {
		fprintf(stderr, "dispatch: setup: %s\n", strerror(ret < 0 ? -ret : ret));
		goto out;
	}
	for (int i = 0; i < B.nr_cases && !ret; i++)
		ret = case_check_once(&B.cases[i]);
	/*
	 * Odd rounds run the cases backwards, so no case always runs right after
	 * the same one and a drift within rounds hits both of a pair alike.
	 */
	for (int r = 0; r < B.rounds && !ret; r++) {
		for (int k = 0; k < B.nr_cases && !ret; k++) {
			int i = r % 2 ? B.nr_cases - 1 - k : k;

			ret = front_run(&B.cases[i], B.repeat, &B.cases[i].ns[r], NULL);
		}
	}
	for (int i = 0; i < B.nr_cases && !ret; i++) {
		ret = case_check_stats(&B.cases[i]);
		B.cases[i].median = median_of(B.cases[i].ns, B.rounds, &B.cases[i].best);
	}
	if (!ret) {
		char name[64];

		snprintf(name, sizeof(name), "pipeline-%s-time%d", sluice_carrier_name(B.carrier), TIME_SHIFT);
		ret = check_timed(name);
	}
	if (!ret) {
		figures_compute();
		report();
		summary();
		ret = data_write();
	}
out:
	teardown();
	return ret ? 1 : 0;
}
