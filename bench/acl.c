// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What the acl stage costs, by BPF_PROG_TEST_RUN, and what a rule change
 * costs, by the clock:
 *
 *   - pipelines [parse, acl, count] with rule sets of every shape (none, a
 *     few without prefixes, 10 plain rules, 10 using the MAC/VLAN/ARP/ICMP/ND
 *     fields, 100,000 prefixes), against [parse, count]: the difference is the
 *     ACL's cost per packet;
 *   - the peer: xdp-tools' xdp-filter (its program, by id, as `xdp-filter
 *     load` left it) against [parse, acl, count] with the same rules, on the
 *     same 64-byte UDP frame to port 53 that no rule matches;
 *   - one-rule add, insert and delete with 1,000 rules and with 100,000
 *     prefixes, through acl__apply() as the daemon calls it.
 *
 * Every case runs behind bench_front (bpf/bench/harness.bpf.c), which undoes
 * the previous run's metadata (the trap of repeated test runs,
 * docs/datapath.md); net figures subtract the front alone. Time per packet
 * is the front's run_time_ns / run_cnt from the kernel's run-time stats.
 * Rounds interleave the cases; figures are medians, the best round next to
 * them. Each case is run once first and its verdict and meta.rule checked;
 * after the rounds, its counters must show every packet took the expected
 * verdict (the pipeline's stats, or xdp-filter's own per-action counters).
 *
 * It builds against an older libsluice too (no MAC/VLAN/... fields, no small
 * table): cases it cannot express there are left out, which is how the
 * "before" figures of docs/BENCHMARKS.md were taken.
 *
 * Usage: acl [--quick] [--rounds N] [--repeat N] [--cpu N] [--xdp-filter-id ID]
 *            [--no-updates]   (root)
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
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "acl.h"
#include "pipeline.h"
#include "pkt.h"
#include "probe.h"
#include "harness.skel.h"
#include "harness_plain.skel.h"

#define MAX_CASES	24
#define MAX_ROUNDS	101
#define MAX_RULES	1024

/* The default frame: 10.0.0.1:1000 -> 10.0.0.2:2000 UDP, 64 bytes (pkt_spec_default). */
#define PEER_DPORT	53

struct bench_case {
	char name[48];
	const char *what;
	int fd;				/* program the front tail-calls */
	struct pipeline *pl;
	int stats_fd;			/* sluice_pipe_stats, -1 = none */
	int peer_stats_fd;		/* xdp-filter's xdp_stats_map, -1 = none */
	uint64_t peer0[XDP_REDIRECT + 1];	/* its counts by action before the rounds */
	uint32_t expect_rule;		/* meta.rule after one run (pipelines) */
	uint8_t frame[128];
	int len;
	double ns[MAX_ROUNDS];
	double median, best;
};

static struct {
	/* The front: harness gives the metadata back; harness_plain never names the helper. */
	struct harness_bpf *front;
	struct harness_plain_bpf *front_plain;
	int front_fd, nop_fd, target_fd;
	enum sluice_carrier carrier;	/* what sluiced would pick here */
	struct bench_case cases[MAX_CASES];
	int nr_cases;
	char root[PATH_MAX];
	int rounds, repeat, cpu;
	int stats_fd;
	int peer_id;
	bool updates;
	const char *only;		/* --only: cases whose name contains it (and the baselines) */
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

/* Sorts v in place; the median, and the best (lowest) in *best. */
static double median(double *v, int n, double *best)
{
	qsort(v, n, sizeof(*v), cmp_double);
	if (best)
		*best = v[0];
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double pct(double *sorted, int n, double p)
{
	int i = (int)(p * (n - 1) + 0.5);

	return sorted[i < n ? i : n - 1];
}

static int front_stats(uint64_t *ns, uint64_t *cnt)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(B.front_fd, &info, &len))
		return -errno;
	*ns = info.run_time_ns;
	*cnt = info.run_cnt;
	return 0;
}

static int front_run(struct bench_case *c, int repeat, uint32_t *retval, struct sluice_meta *meta,
		     double *ns)
{
	uint8_t out[sizeof(c->frame) + sizeof(*meta)];
	struct xdp_md ctx = { .data_end = (__u32)c->len }, ctx_out = {};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = c->frame, .data_size_in = (__u32)c->len,
		    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .ctx_out = &ctx_out, .ctx_size_out = sizeof(ctx_out),
		    .repeat = repeat);
	uint64_t t0 = 0, t1 = 0, c0 = 0, c1 = 0;
	__u32 zero = 0;
	double w0;
	int ret = 0;

	if (bpf_map_update_elem(B.target_fd, &zero, &c->fd, BPF_ANY))
		return -errno;
	if (B.stats_fd >= 0)
		ret = front_stats(&t0, &c0);
	if (ret)
		return ret;
	w0 = now_ns();
	if (bpf_prog_test_run_opts(B.front_fd, &opts))
		return -errno;
	if (ns && B.stats_fd >= 0) {
		ret = front_stats(&t1, &c1);
		*ns = c1 > c0 ? (double)(t1 - t0) / (double)(c1 - c0) : 0;
	} else if (ns) {
		*ns = (now_ns() - w0) / repeat;
	}
	*retval = opts.retval;
	if (meta) {
		memset(meta, 0, sizeof(*meta));
		if (ctx_out.data - ctx_out.data_meta == sizeof(*meta))
			memcpy(meta, out, sizeof(*meta));
	}
	return ret;
}

static struct bench_case *case_add(const char *name, const char *what, int fd, uint16_t dport)
{
	struct bench_case *c;
	struct pkt_spec s;

	if (B.nr_cases == MAX_CASES)
		return NULL;
	c = &B.cases[B.nr_cases++];
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->what = what;
	c->fd = fd;
	c->stats_fd = c->peer_stats_fd = -1;
	pkt_spec_default(&s);
	s.dport = dport;
	c->len = pkt_build(&s, c->frame, sizeof(c->frame));
	return c->len > 0 ? c : NULL;
}

static struct bench_case *case_find(const char *name)
{
	for (int i = 0; i < B.nr_cases; i++)
		if (!strcmp(B.cases[i].name, name))
			return &B.cases[i];
	return NULL;
}

/* ---- rule sets ---- */

static int rules_parse(const char *const *text, size_t n, struct acl_rule_spec *rules)
{
	char err[256];

	for (size_t i = 0; i < n; i++) {
		if (acl_rule_parse(text[i], &rules[i], err, sizeof(err))) {
			fprintf(stderr, "acl: rule \"%s\": %s\n", text[i], err);
			while (i--)
				acl_rule_spec_free(&rules[i]);
			return -EINVAL;
		}
		if (!rules[i].id)
			rules[i].id = (uint32_t)i + 1;
	}
	return 0;
}

static void rules_free(struct acl_rule_spec *rules, size_t n)
{
	for (size_t i = 0; i < n; i++)
		acl_rule_spec_free(&rules[i]);
}

/* The peer's rules as sluice writes them. */
static const char *const rules_peer[] = {
	"drop proto udp dport 10000", "drop proto tcp dport 10000", "drop src 10.9.9.9",
};

/* A few rules without any prefix: the case where no LPM lookup is needed. */
static const char *const rules_noprefix[] = {
	"drop proto udp dport 10000", "drop proto tcp dport 10000", "drop proto tcp flags syn/syn,ack",
};

/* 10 rules of the kinds that existed before the MAC/VLAN/ARP/ICMP/ND fields; none matches. */
static const char *const rules_plain[] = {
	"drop src 192.0.2.1", "drop src 192.0.2.2 proto tcp dport 22", "drop dst 198.51.100.0/24",
	"drop proto udp dport 10000-10100", "drop proto tcp dport 23", "drop src 2001:db8::/32",
	"count proto tcp flags syn/syn,ack", "drop src 203.0.113.0/24 proto udp", "xsk proto udp dport 4789",
	"drop family 6 proto udp dport 53",
};

#ifdef ACL_VLAN_MAX
/* 10 rules using the new fields; none matches the frame (its MACs are pkt_spec_default's). */
static const char *const rules_new[] = {
	"drop src_mac 02:00:00:00:00:99", "drop dst_mac 33:33:00:00:00:00/ff:ff:00:00:00:00",
	"drop vlan 100", "drop vlan any:200", "drop proto arp arp_sender 192.0.2.1",
	"drop proto arp arp_target 198.51.100.0/24", "drop proto icmp icmp_type echo-request",
	"drop proto icmpv6 icmp_type echo-request", "drop proto icmpv6 nd_target 2001:db8::1",
	"drop proto icmp icmp_type destination-unreachable icmp_code port-unreachable",
};
#endif

/* n rules "pass src ..." of 1000 /32 each (rule k: addresses i with i % n == k), then "pass src 10/8". */
static int rules_prefixes(struct acl_rule_spec *rules, size_t n, size_t pfx, const char *action)
{
	char err[128], text[64];

	for (size_t k = 0; k < n; k++) {
		snprintf(text, sizeof(text), "%s id %zu src 10.255.255.255", action, k + 1);
		if (acl_rule_parse(text, &rules[k], err, sizeof(err)))
			return -EINVAL;
		free(rules[k].src);
		rules[k].src = calloc(pfx / n + 1, sizeof(*rules[k].src));
		rules[k].nr_src = 0;
		if (!rules[k].src)
			return -ENOMEM;
	}
	for (size_t i = 0; i < pfx; i++) {
		struct acl_rule_spec *r = &rules[i % n];
		struct acl_prefix *p = &r->src[r->nr_src++];
		uint32_t a = htonl(0x0a000000u + (uint32_t)i * 3 + 3);

		p->family = AF_INET;
		p->len = 32;
		memcpy(p->addr, &a, 4);
	}
	snprintf(text, sizeof(text), "%s id %zu src 10.0.0.0/8", action, n + 1);
	return acl_rule_parse(text, &rules[n], err, sizeof(err)) ? -EINVAL : 0;
}

/* ---- pipelines ---- */

static void src_set(struct stage_src *s, const char *name)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->object, sizeof(s->object), "%s", name);
}

/* What a pipeline has between parse and count. */
enum { PL_ACL = 1 << 0, PL_RATELIMIT = 1 << 1 };

/* Rate and burst far above what a test run sends: every source stays in rate. */
#define RL_RATE		1000000000
#define RL_BURST	1000000000

static struct pipeline *pipeline_new(const char *name, unsigned int stages, struct acl_maps *maps)
{
	struct pipeline_err err = {};
	struct stage_src src[4];
	char dir[IF_NAMESIZE], mdir[PATH_MAX];
	static int seq;
	struct pipeline *pl;
	int n = 0;

	pl = calloc(1, sizeof(*pl));
	if (!pl)
		return NULL;
	src_set(&src[n++], "parse");
	if (stages & PL_ACL)
		src_set(&src[n++], "acl");
	if (stages & PL_RATELIMIT) {
		src_set(&src[n], "ratelimit");
		stage_src__set_param(&src[n], "rate_pps", RL_RATE);
		stage_src__set_param(&src[n++], "burst", RL_BURST);
	}
	src_set(&src[n++], "count");
	snprintf(dir, sizeof(dir), "acl%d", seq++);
	if (pipeline__init(pl, B.root, dir)) {
		free(pl);
		return NULL;
	}
	pipeline__set_carrier(pl, B.carrier, 0);
	if (pipeline__load(pl, src, n, XDP_ABORTED, &err)) {
		fprintf(stderr, "acl: pipeline %s: %s\n%s", name, err.msg,
			err.verifier_log ? err.verifier_log : "");
		pipeline_err__clear(&err);
		free(pl);
		return NULL;
	}
	snprintf(mdir, sizeof(mdir), "%s/%s", pl->dir, SLUICE_PIN_MAPS);
	if (maps && acl_maps__open_pinned(mdir, maps)) {
		fprintf(stderr, "acl: %s: no acl maps\n", name);
		pipeline__destroy(pl);
		free(pl);
		return NULL;
	}
	return pl;
}

static struct bench_case *pipeline_case(const char *name, const char *what, unsigned int stages,
					uint16_t dport, struct acl_maps *maps)
{
	struct pipeline *pl = pipeline_new(name, stages, maps);
	struct bench_case *c;

	if (!pl)
		return NULL;
	c = case_add(name, what, pl->entry.fd, dport);
	if (!c) {
		if (maps)
			acl_maps__close(maps);
		pipeline__destroy(pl);
		free(pl);
		return NULL;
	}
	c->pl = pl;
	c->stats_fd = pipeline__map_fd(pl, SLUICE_MAP_PIPE_STATS);
	return c;
}

/*
 * A [parse, acl, count] case with rules ([parse, acl, ratelimit, count] with
 * PL_RATELIMIT in stages); every rule set here lets the frame through.
 */
static int acl_case_in(const char *name, const char *what, unsigned int stages,
		       const struct acl_rule_spec *rules, size_t n, uint16_t dport, uint32_t expect_rule)
{
	struct acl_maps maps;
	struct bench_case *c;
	double t0 = now_ns();
	int ret;

	if (B.only && !strstr(name, B.only))
		return 0;
	c = pipeline_case(name, what, stages | PL_ACL, dport, &maps);
	if (!c)
		return -EINVAL;
	ret = acl__apply(&maps, rules, n);
	if (n > 1000)
		printf("# %s: %zu rules applied in %.0f ms\n", name, n, (now_ns() - t0) / 1e6);
	acl_maps__close(&maps);
	c->expect_rule = expect_rule;
	if (ret)
		fprintf(stderr, "acl: %s: applying rules: %s\n", name, strerror(-ret));
	return ret;
}

static int acl_case(const char *name, const char *what, const struct acl_rule_spec *rules, size_t n,
		    uint16_t dport, uint32_t expect_rule)
{
	return acl_case_in(name, what, 0, rules, n, dport, expect_rule);
}

static int acl_case_text_in(const char *name, const char *what, unsigned int stages,
			    const char *const *text, size_t n, uint16_t dport)
{
	struct acl_rule_spec rules[16] = {};
	int ret = rules_parse(text, n, rules);

	if (!ret)
		ret = acl_case_in(name, what, stages, rules, n, dport, 0);
	rules_free(rules, n);
	return ret;
}

static int acl_case_text(const char *name, const char *what, const char *const *text, size_t n,
			 uint16_t dport)
{
	return acl_case_text_in(name, what, 0, text, n, dport);
}

/* xdp-filter's program, by id, and its per-action counters (xdp_stats_map). */
static int peer_case(int id)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), map_ids[16];
	struct bench_case *c;
	int fd, ret = -ENOENT;

	fd = bpf_prog_get_fd_by_id((__u32)id);
	if (fd < 0) {
		fprintf(stderr, "acl: xdp-filter program %d: %s\n", id, strerror(errno));
		return -errno;
	}
	info.nr_map_ids = 16;
	info.map_ids = (__u64)(unsigned long)map_ids;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	c = case_add("xdp-filter", "xdp-filter: port 10000, ip 10.9.9.9 -m src", fd, PEER_DPORT);
	if (!c)
		return -E2BIG;
	for (__u32 i = 0; i < info.nr_map_ids && i < 16; i++) {
		struct bpf_map_info mi = {};
		__u32 ml = sizeof(mi);
		int mfd = bpf_map_get_fd_by_id(map_ids[i]);

		if (mfd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(mfd, &mi, &ml) && !strcmp(mi.name, "xdp_stats_map")) {
			c->peer_stats_fd = mfd;
			ret = 0;
			continue;
		}
		close(mfd);
	}
	if (ret)
		fprintf(stderr, "acl: xdp-filter program %d has no xdp_stats_map\n", id);
	return ret;
}

/* xdp-filter's packets by action, over CPUs: struct datarec starts with rx_packets. */
static int peer_count(const struct bench_case *c, __u32 key, uint64_t *out)
{
	int ncpu = libbpf_num_possible_cpus();
	struct bpf_map_info mi = {};
	__u32 ml = sizeof(mi);
	uint8_t *v;

	if (ncpu < 0 || bpf_obj_get_info_by_fd(c->peer_stats_fd, &mi, &ml))
		return -EINVAL;
	v = calloc((size_t)ncpu, (mi.value_size + 7) & ~7u);
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(c->peer_stats_fd, &key, v)) {
		free(v);
		return -errno;
	}
	*out = 0;
	for (int i = 0; i < ncpu; i++) {
		uint64_t p;

		memcpy(&p, v + (size_t)i * ((mi.value_size + 7) & ~7u), sizeof(p));
		*out += p;
	}
	free(v);
	return 0;
}

static int cases_setup(void)
{
	struct acl_rule_spec *big;
	int ret;

	if (!case_add("front-nop", "the benchmark's front alone", B.nop_fd,
		      2000))
		return -E2BIG;
	if (!pipeline_case("parse-count", "[parse, count]: the pipeline without acl", 0, 2000, NULL) ||
	    !pipeline_case("parse-count-53", "[parse, count], UDP to port 53", 0, PEER_DPORT, NULL))
		return -EINVAL;
	ret = acl_case("acl-empty", "no rule", NULL, 0, 2000, 0);
	ret = ret ?: acl_case_text("acl-noprefix-3", "3 rules, no prefix (ports, flags)", rules_noprefix,
				   3, 2000);
	ret = ret ?: acl_case_text("acl-peer-3", "the peer's rules: udp/tcp dport 10000, src 10.9.9.9",
				   rules_peer, 3, PEER_DPORT);
	ret = ret ?: acl_case_text_in("default-peer-3", "the default pipeline (ratelimit too), the peer's rules",
				      PL_RATELIMIT, rules_peer, 3, PEER_DPORT);
	ret = ret ?: acl_case_text("acl-plain-10", "10 rules without the new fields", rules_plain, 10,
				   2000);
#ifdef ACL_VLAN_MAX
	ret = ret ?: acl_case_text("acl-new-10", "10 rules using MAC, VLAN, ARP, ICMP, ND fields",
				   rules_new, 10, 2000);
	if (!ret) {
		/* The same 10 plain rules where the small table is off: the tries and the scan. */
		acl__set_small_max(0);
		ret = acl_case_text("acl-plain-10-bitmap", "acl-plain-10 without the small table",
				    rules_plain, 10, 2000);
		ret = ret ?: acl_case_text("acl-peer-3-bitmap", "acl-peer-3 without the small table",
					   rules_peer, 3, PEER_DPORT);
		acl__set_small_max(SLUICE_ACL_SMALL_MAX);
	}
#endif
	if (ret)
		return ret;
	/* 100,000 /32 in 100 rules and a /8 around them; the frame's source is in rule 1's. */
	big = calloc(MAX_RULES, sizeof(*big));
	if (!big)
		return -ENOMEM;
	ret = rules_prefixes(big, 100, 100000, "pass");
	if (!ret) {
		struct bench_case *c;

		ret = acl_case("acl-100k", "100,000 /32 in 100 rules + a /8; the frame in rule 1", big, 101,
			       2000, 0);
		/* pkt_spec_default's source is 10.0.0.1: 10.0.0.3 is rule 1's first address. */
		c = case_find("acl-100k");
		if (!ret && c) {
			c->frame[26 + 3] = 3;
			c->frame[24] = c->frame[25] = 0;	/* the IPv4 checksum is not checked */
		}
	}
	rules_free(big, 101);
	free(big);
	if (!ret && B.peer_id)
		ret = peer_case(B.peer_id);
	return ret;
}

/* ---- checks ---- */

static int pipe_pass(int fd, uint64_t *packets, uint64_t *passed)
{
	int ncpu = libbpf_num_possible_cpus();
	struct sluice_pipe_stats *v;
	__u32 zero = 0;

	if (ncpu < 0)
		return ncpu;
	v = calloc((size_t)ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &zero, v)) {
		free(v);
		return -errno;
	}
	*packets = *passed = 0;
	for (int i = 0; i < ncpu; i++) {
		*packets += v[i].packets;
		*passed += v[i].verdict[XDP_PASS];
	}
	free(v);
	return 0;
}

static int case_check_once(struct bench_case *c)
{
	struct sluice_meta m;
	uint32_t v;
	int ret = front_run(c, 1, &v, &m, NULL);

	if (ret)
		return ret;
	if (v != XDP_PASS || (c->pl && m.rule != c->expect_rule && c->expect_rule)) {
		fprintf(stderr, "acl: %s: verdict %u rule %u, want PASS rule %u\n", c->name, v, m.rule,
			c->expect_rule);
		return -EPROTO;
	}
	for (__u32 a = 0; c->peer_stats_fd >= 0 && a <= XDP_REDIRECT && !ret; a++)
		ret = peer_count(c, a, &c->peer0[a]);
	return ret;
}

static int case_check_stats(struct bench_case *c, uint64_t runs)
{
	uint64_t packets = 0, passed = 0;
	int ret;

	if (c->stats_fd >= 0) {
		ret = pipe_pass(c->stats_fd, &packets, &passed);
		if (ret)
			return ret;
		if (!packets || packets != passed) {
			fprintf(stderr, "acl: %s: %llu packets, %llu passed\n", c->name,
				(unsigned long long)packets, (unsigned long long)passed);
			return -EPROTO;
		}
	}
	/* Every run passed (frames the veth itself carries may add passes, never another action). */
	for (__u32 a = 0; c->peer_stats_fd >= 0 && a <= XDP_REDIRECT; a++) {
		uint64_t n;

		ret = peer_count(c, a, &n);
		if (ret)
			return ret;
		n -= c->peer0[a];
		if ((a == XDP_PASS && n < runs) || (a != XDP_PASS && n)) {
			fprintf(stderr, "acl: xdp-filter: %llu packets with action %u over %llu runs\n",
				(unsigned long long)n, a, (unsigned long long)runs);
			return -EPROTO;
		}
	}
	return 0;
}

/* ---- rule changes ---- */

struct upd {
	const char *name;
	double ms[MAX_ROUNDS];
	int n;
};

static void upd_print(struct upd *u, double target)
{
	double p50, best;

	if (!u->n)
		return;
	p50 = median(u->ms, u->n, &best);
	printf("%-52s %8.2f %8.2f %8.2f", u->name, p50, pct(u->ms, u->n, 0.99), u->ms[u->n - 1]);
	if (target > 0)
		printf("   %s (< %.0f ms)", u->ms[u->n - 1] < target ? "met" : "MISSED", target);
	printf("\n");
}

static int timed_apply(const struct acl_maps *maps, const struct acl_rule_spec *r, size_t n,
		       struct upd *u)
{
	double t0 = now_ns();
	int ret = acl__apply(maps, r, n);

	if (ret) {
		fprintf(stderr, "acl: %s: %s\n", u->name, strerror(-ret));
		return ret;
	}
	if (u->n < MAX_ROUNDS)
		u->ms[u->n++] = (now_ns() - t0) / 1e6;
	return 0;
}

/*
 * base[0..n) live; each round adds `extra` at the end, deletes it, inserts
 * it before base[at], deletes it again: four one-rule changes, each timed.
 */
static int update_rounds(const struct acl_maps *maps, struct acl_rule_spec *base, size_t n,
			 const struct acl_rule_spec *extra, size_t at, struct upd *u, int rounds)
{
	struct acl_rule_spec *v = calloc(n + 1, sizeof(*v));
	int ret = 0;

	if (!v)
		return -ENOMEM;
	for (int r = 0; r < rounds && !ret; r++) {
		memcpy(v, base, n * sizeof(*v));
		v[n] = *extra;
		ret = timed_apply(maps, v, n + 1, &u[0]) ?: timed_apply(maps, base, n, &u[1]);
		memcpy(v, base, at * sizeof(*v));
		v[at] = *extra;
		memcpy(v + at + 1, base + at, (n - at) * sizeof(*v));
		ret = ret ?: timed_apply(maps, v, n + 1, &u[2]) ?: timed_apply(maps, base, n, &u[3]);
	}
	free(v);
	return ret;
}

static int updates(void)
{
	static const char *const names[2][4] = {
		{ "1,000 rules: add one at the end", "1,000 rules: delete it",
		  "1,000 rules: insert one before rule 500", "1,000 rules: delete it" },
		{ "100,000 prefixes: add one rule at the end", "100,000 prefixes: delete it",
		  "100,000 prefixes: insert one before rule 50", "100,000 prefixes: delete it" },
	};
	struct acl_rule_spec *rules = calloc(MAX_RULES, sizeof(*rules)), extra = {};
	struct upd u[2][4] = {};
	struct pipeline *pl;
	struct acl_maps maps;
	char text[64], err[128];
	int ret, rounds = B.rounds < 11 ? 11 : B.rounds;
	double t0;

	if (!rules)
		return -ENOMEM;
	for (int s = 0; s < 2; s++)
		for (int i = 0; i < 4; i++)
			u[s][i].name = names[s][i];
	pl = pipeline_new("updates", PL_ACL, &maps);
	if (!pl) {
		free(rules);
		return -EINVAL;
	}
	ret = acl_rule_parse("drop id 5000 proto tcp dport 5000 src 192.0.2.77", &extra, err, sizeof(err));
	/* The dispatch benchmark's 1,000: 999 /32 sources, then one pass rule. */
	for (int i = 0; i < 1000 && !ret; i++) {
		if (i == 999)
			snprintf(text, sizeof(text), "pass id %d proto udp src 10.0.0.1/32 dport 2000", i + 1);
		else
			snprintf(text, sizeof(text), "drop id %d src 192.168.%d.%d/32", i + 1, i / 256, i % 256);
		ret = acl_rule_parse(text, &rules[i], err, sizeof(err));
	}
	t0 = now_ns();
	ret = ret ?: acl__apply(&maps, rules, 1000);
	printf("\n1,000 rules applied in %.1f ms\n", (now_ns() - t0) / 1e6);
	ret = ret ?: update_rounds(&maps, rules, 1000, &extra, 500, u[0], rounds);
	rules_free(rules, 1000);
	memset(rules, 0, MAX_RULES * sizeof(*rules));
	ret = ret ?: rules_prefixes(rules, 100, 100000, "drop");
	t0 = now_ns();
	ret = ret ?: acl__apply(&maps, rules, 101);
	printf("100,000 prefixes in 101 rules applied in %.1f ms\n", (now_ns() - t0) / 1e6);
	ret = ret ?: update_rounds(&maps, rules, 101, &extra, 50, u[1], rounds);
	rules_free(rules, 101);
	acl_rule_spec_free(&extra);
	free(rules);
	acl_maps__close(&maps);
	pipeline__destroy(pl);
	free(pl);
	if (ret)
		return ret;
	printf("\n%-52s %8s %8s %8s\n", "one-rule change, acl__apply(), ms", "p50", "p99", "max");
	for (int s = 0; s < 2; s++)
		for (int i = 0; i < 4; i++)
			upd_print(&u[s][i], s ? 50 : 5);
	return 0;
}

/* ---- report ---- */

static double med(const char *name)
{
	struct bench_case *c = case_find(name);

	return c ? c->median : -1;
}

static void report(void)
{
	double floor = med("front-nop"), base = med("parse-count"), base53 = med("parse-count-53");

	printf("BPF_PROG_TEST_RUN, 64-byte UDP/IPv4 frame, repeat %d, %d rounds, ns/packet by %s\n",
	       B.repeat, B.rounds, B.stats_fd >= 0 ? "kernel run-time stats" : "wall clock");
	printf("ns: median of rounds; net: ns - front-nop; acl: ns - [parse, count] on the same frame; best: best round, net\n\n");
	printf("%-22s %8s %8s %8s %8s  %s\n", "case", "ns", "net", "acl", "best", "what");
	for (int i = 0; i < B.nr_cases; i++) {
		struct bench_case *c = &B.cases[i];
		bool acl = !strncmp(c->name, "acl-", 4);
		bool p53 = strstr(c->name, "peer") != NULL;

		printf("%-22s %8.2f %8.2f ", c->name, c->median, c->median - floor);
		if (acl)
			printf("%8.2f ", c->median - (p53 ? base53 : base));
		else
			printf("%8s ", "");
		printf("%8.2f  %s\n", c->best - case_find("front-nop")->best, c->what);
	}
	printf("\n%-62s %8s\n", "figure", "value");
#define HAVE(n) (case_find(n) != NULL)
	if (HAVE("acl-empty"))
		printf("%-62s %8.2f\n", "acl with no rule, ns", med("acl-empty") - base);
	if (HAVE("acl-empty") && HAVE("acl-noprefix-3"))
		printf("%-62s %8.2f  %s\n", "3 rules without prefixes - no rule, ns (target <= 5)",
		       med("acl-noprefix-3") - med("acl-empty"),
		       med("acl-noprefix-3") - med("acl-empty") <= 5 ? "met" : "MISSED");
	if (HAVE("acl-plain-10"))
		printf("%-62s %8.2f\n", "10 plain rules, ns", med("acl-plain-10") - base);
	if (HAVE("acl-new-10"))
		printf("%-62s %8.2f\n", "10 rules with the new fields, ns", med("acl-new-10") - base);
	if (HAVE("acl-plain-10-bitmap"))
		printf("%-62s %8.2f\n", "10 plain rules without the small table, ns",
		       med("acl-plain-10-bitmap") - base);
	if (HAVE("acl-100k"))
		printf("%-62s %8.2f\n", "100,000 prefixes, frame in one of them, ns", med("acl-100k") - base);
	if (HAVE("xdp-filter") && HAVE("acl-peer-3")) {
		double peer = med("xdp-filter") - floor, ours = med("acl-peer-3") - floor;

		printf("%-62s %8.2f\n", "xdp-filter, net ns", peer);
		printf("%-62s %8.2f\n", "[parse, acl, count] with the same rules, net ns", ours);
		printf("%-62s %8.3f  %s\n", "sluice / xdp-filter (target <= 1.2)", ours / peer,
		       ours / peer <= 1.2 ? "met" : "MISSED");
	}
	if (HAVE("xdp-filter") && HAVE("default-peer-3")) {
		double peer = med("xdp-filter") - floor, ours = med("default-peer-3") - floor;

		printf("%-62s %8.2f\n", "[parse, acl, ratelimit, count], same rules, net ns", ours);
		printf("%-62s %8.3f  %s\n", "default pipeline / xdp-filter (target <= 2.0)", ours / peer,
		       ours / peer <= 2.0 ? "met" : "MISSED");
	}
}

/* ---- main ---- */

/* The front that suits this kernel: only where it has metadata may the front give it back. */
static int front_load(void)
{
	struct bpf_object *obj;
	char why[256];
	int ret;

	B.carrier = (enum sluice_carrier)probe__carrier_auto(why, sizeof(why));
	if (B.carrier == SLUICE_CARRIER_META) {
		B.front = harness_bpf__open();
		obj = B.front ? B.front->obj : NULL;
	} else {
		B.front_plain = harness_plain_bpf__open();
		obj = B.front_plain ? B.front_plain->obj : NULL;
	}
	if (!obj)
		return -errno;
	ret = probe__check_denied_helpers(obj, why, sizeof(why));
	if (ret) {
		fprintf(stderr, "acl: the front: %s\n", why);
		return ret;
	}
	ret = bpf_object__load(obj);
	if (ret)
		return ret;
	B.front_fd = bpf_program__fd(bpf_object__find_program_by_name(obj, "bench_front"));
	B.nop_fd = bpf_program__fd(bpf_object__find_program_by_name(obj, "bench_nop"));
	B.target_fd = bpf_map__fd(bpf_object__find_map_by_name(obj, "bench_target"));
	return 0;
}

static int setup(void)
{
	struct statfs st;
	int ret;

	if ((statfs("/sys/fs/bpf", &st) || st.f_type != BPF_FS_MAGIC) &&
	    mount("bpf", "/sys/fs/bpf", "bpf", 0, NULL))
		return -errno;
	snprintf(B.root, sizeof(B.root), "/sys/fs/bpf/sluice-benchacl-%d", (int)getpid());
	if (mkdir(B.root, 0700))
		return -errno;
	ret = front_load();
	if (ret)
		return ret;
	return cases_setup();
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
			c->pl = NULL;
		}
		if (c->peer_stats_fd >= 0)
			close(c->peer_stats_fd);
	}
	harness_bpf__destroy(B.front);
	harness_plain_bpf__destroy(B.front_plain);
	if (B.stats_fd >= 0)
		close(B.stats_fd);
	if (B.root[0])
		rmdir(B.root);
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: acl [--quick] [--rounds N] [--repeat N] [--cpu N] [--xdp-filter-id ID] [--no-updates]\n"
		   "  --quick             3 rounds of 100000: for CI, not for figures\n"
		   "  --rounds N          rounds per case (default 11); also one-rule changes of each kind\n"
		   "  --repeat N          BPF_PROG_TEST_RUN repeat per round (default 1000000)\n"
		   "  --cpu N             CPU to run on (default: the current one)\n"
		   "  --xdp-filter-id ID  also time xdp-filter's program ID (bench/acl.sh loads it)\n"
		   "  --no-updates        leave out the one-rule change timings\n"
		   "  --only NAME         only the acl cases whose name contains NAME\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "repeat", required_argument, NULL, 'n' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "xdp-filter-id", required_argument, NULL, 'x' },
		{ "no-updates", no_argument, NULL, 'u' },
		{ "only", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int opt, ret;
	cpu_set_t set;

	B.rounds = 11;
	B.repeat = 1000000;
	B.cpu = sched_getcpu();
	B.updates = true;
	B.stats_fd = -1;
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
			B.cpu = atoi(optarg);
			break;
		case 'x':
			B.peer_id = atoi(optarg);
			break;
		case 'u':
			B.updates = false;
			break;
		case 'o':
			B.only = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (B.rounds < 1 || B.rounds > MAX_ROUNDS || B.repeat < 1 || B.cpu < 0) {
		usage(stderr);
		return 2;
	}
	CPU_ZERO(&set);
	CPU_SET(B.cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		perror("acl: sched_setaffinity");
		return 1;
	}
	libbpf_set_print(libbpf_quiet);
	B.stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (B.stats_fd < 0)
		fprintf(stderr, "acl: BPF_ENABLE_STATS: %s; timing by wall clock\n", strerror(errno));

	ret = setup();
	if (ret) {
		fprintf(stderr, "acl: setup: %s\n", strerror(-ret));
		goto out;
	}
	for (int i = 0; i < B.nr_cases && !ret; i++)
		ret = case_check_once(&B.cases[i]);
	for (int r = 0; r < B.rounds && !ret; r++) {
		for (int i = 0; i < B.nr_cases && !ret; i++) {
			struct bench_case *c = &B.cases[i];
			uint32_t v;

			ret = front_run(c, B.repeat, &v, NULL, &c->ns[r]);
			if (!ret && v != XDP_PASS) {
				fprintf(stderr, "acl: %s: verdict %u in round %d\n", c->name, v, r);
				ret = -EPROTO;
			}
		}
	}
	for (int i = 0; i < B.nr_cases && !ret; i++) {
		ret = case_check_stats(&B.cases[i], (uint64_t)B.rounds * (uint64_t)B.repeat);
		B.cases[i].median = median(B.cases[i].ns, B.rounds, &B.cases[i].best);
	}
	if (!ret)
		report();
	if (!ret && B.updates)
		ret = updates();
out:
	teardown();
	return ret ? 1 : 0;
}
