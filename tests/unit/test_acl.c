// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The acl stage and its compiler: rule text round trips, first match wins
 * over nested IPv4 and IPv6 prefixes, port ranges and TCP flags, count
 * rules count and go on, per-rule hits are exact, a replaced rule set takes
 * effect with hits following rule ids (in both update modes), and 100,000
 * prefixes load and match.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <unistd.h>
#include <time.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "harness.h"
#include "pkt.h"
#include "acl.h"
#include "acl.skel.h"

/* What sluice_next() returns when the next slot is empty: "the stage went on". */
#define CONT	SLUICE_RET_MISSED
#define TCP_SYN	0x02
#define TCP_ACK	0x10

struct fixture {
	struct acl_bpf *skel;
	struct acl_maps maps;
	int prog;
};

static int fixture_load(struct fixture *f, __u32 default_action)
{
	int err;

	memset(f, 0, sizeof(*f));
	f->skel = acl_bpf__open();
	if (!f->skel)
		return -errno;
	f->skel->rodata->default_action = default_action;
	/* Slot 1 is empty: a packet the stage lets through comes back as CONT. */
	f->skel->rodata->sluice_cfg.next = 1;
	err = acl_bpf__load(f->skel);
	if (err)
		return err;
	f->prog = bpf_program__fd(f->skel->progs.sluice_acl);
	return acl_maps__from_object(f->skel->obj, &f->maps);
}

/* Rules from text, as `sluicectl rule add` would give them. */
static int apply_text(struct fixture *f, const char *const *text, size_t n)
{
	struct acl_rule_spec *rules = calloc(n, sizeof(*rules));
	char err[128] = "";
	size_t i;
	int ret;

	assert_non_null(rules);
	for (i = 0; i < n; i++) {
		ret = acl_rule_parse(text[i], &rules[i], err, sizeof(err));
		if (ret)
			print_error("rule \"%s\": %s\n", text[i], err);
		assert_int_equal(ret, 0);
	}
	ret = acl__apply(&f->maps, rules, n);
	for (i = 0; i < n; i++)
		acl_rule_spec_free(&rules[i]);
	free(rules);
	return ret;
}

struct pk {
	int family;		/* AF_INET, AF_INET6, 0 = ARP */
	const char *src, *dst;
	uint8_t proto;
	uint16_t sport, dport;
	uint8_t tcp_flags;
};

/* Builds the frame and the metadata the parse stage would have written. */
static int pk_build(const struct pk *p, uint8_t *buf, size_t size, struct sluice_meta *m)
{
	struct pkt_spec s;
	int len;

	meta_init(m, 0);
	if (!p->family) {
		struct ethhdr *eth = (void *)buf;

		memset(buf, 0, 60);
		memset(eth->h_dest, 0xff, 6);
		eth->h_proto = htons(ETH_P_ARP);
		m->flags = SLUICE_PKT_PARSED | SLUICE_PKT_ARP;
		m->l3_off = sizeof(*eth);
		m->l3_proto = ETH_P_ARP;
		return 60;
	}
	pkt_spec_default(&s);
	s.family = p->family;
	if (p->family == AF_INET) {
		assert_int_equal(inet_pton(AF_INET, p->src, &s.src4), 1);
		assert_int_equal(inet_pton(AF_INET, p->dst, &s.dst4), 1);
	} else {
		assert_int_equal(inet_pton(AF_INET6, p->src, &s.src6), 1);
		assert_int_equal(inet_pton(AF_INET6, p->dst, &s.dst6), 1);
	}
	s.proto = p->proto;
	s.sport = p->sport;
	s.dport = p->dport;
	s.tcp_flags = p->tcp_flags;
	len = pkt_build(&s, buf, size);
	assert_true(len > 0);
	m->flags = SLUICE_PKT_PARSED;
	m->l3_off = ETH_HLEN;
	m->l3_proto = p->family == AF_INET ? ETH_P_IP : ETH_P_IPV6;
	m->l4_off = ETH_HLEN + (p->family == AF_INET ? 20 : 40);
	m->l4_proto = p->proto;
	m->sport = p->sport;
	m->dport = p->dport;
	m->tcp_flags = p->tcp_flags;
	return len;
}

static struct xdp_run run_pk(struct fixture *f, const struct pk *p, int *len)
{
	struct sluice_meta m;
	struct xdp_run r;
	uint8_t buf[256];

	*len = pk_build(p, buf, sizeof(buf), &m);
	assert_int_equal(xdp_run_meta(f->prog, buf, *len, &m, &r), 0);
	return r;
}

/* The id of the rule at meta.rule, or -1 for none. */
static long rule_id(struct fixture *f, __u32 meta_rule)
{
	struct sluice_acl_rule r;
	__u32 pos = meta_rule - 1;

	if (!meta_rule)
		return -1;
	assert_int_equal(bpf_map_lookup_elem(f->maps.rules, &pos, &r), 0);
	return r.id;
}

static void test_parse_format(void **state)
{
	static const struct {
		const char *in, *out;
	} ok[] = {
		{ "drop proto tcp src 10.0.0.0/8,192.168.0.0/16 dport 22-23 flags syn/syn,ack",
		  "drop id 0 proto tcp src 10.0.0.0/8,192.168.0.0/16 dport 22-23 flags syn/syn,ack" },
		{ "id 7 pass dst 2001:db8::/32 family 6", "pass id 7 family 6 dst 2001:db8::/32" },
		{ "xsk id 3 proto udp sport 53 src 10.0.0.1", "xsk id 3 proto udp src 10.0.0.1/32 sport 53" },
		{ "count id 9", "count id 9" },
		{ "drop id 1 proto 47", "drop id 1 proto gre" },
		{ "drop id 2 proto tcp flags none/rst", "drop id 2 proto tcp flags none/rst" },
	};
	static const char *const bad[] = {
		"", "proto tcp", "drop pass", "drop src 10.0.0.1/8", "drop src 10.0.0.0/33",
		"drop dport 5-4", "drop proto icmp dport 22", "drop flags syn", "drop proto tcp flags syn/ack",
		"drop family 4 src 2001:db8::/32", "drop src 10.0.0.0/8 dst 2001:db8::/32", "drop id",
		"drop bogus 1", "drop id 99999999999",
	};
	struct acl_rule_spec r, again;
	char buf[256], err[128];
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(acl_rule_parse(ok[i].in, &r, err, sizeof(err)), 0);
		assert_true(acl_rule_format(&r, buf, sizeof(buf)) > 0);
		assert_string_equal(buf, ok[i].out);
		/* What format prints, parse reads back to the same text. */
		assert_int_equal(acl_rule_parse(buf, &again, err, sizeof(err)), 0);
		assert_true(acl_rule_format(&again, buf, sizeof(buf)) > 0);
		assert_string_equal(buf, ok[i].out);
		acl_rule_spec_free(&r);
		acl_rule_spec_free(&again);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		if (!acl_rule_parse(bad[i], &r, err, sizeof(err)))
			fail_msg("\"%s\" parsed", bad[i]);
		assert_true(err[0] != 0);
	}
	assert_int_equal(acl_rule_parse("drop src 10.0.0.0/8", &r, err, sizeof(err)), 0);
	assert_int_equal(acl_rule_format(&r, buf, 8), -ENOSPC);
	acl_rule_spec_free(&r);
}

static const char *const rules1[] = {
	"count id 100 dport 53",
	"drop id 1 src 10.1.0.0/16 proto tcp dport 22-23",
	"pass id 2 src 10.1.2.0/24",
	"drop id 3 src 10.0.0.0/8",
	"xsk id 4 dst 192.168.0.0/16 proto udp sport 1000-1999",
	"drop id 5 proto tcp flags syn/syn,ack",
	"drop id 6 src 2001:db8::/32",
	"pass id 7 src 2001:db8:1::/48 dport 80",
	"drop id 8 family 6 dst fd00::/8 proto udp",
	"count id 9",
};

#define MAX_IDS 4
struct acl_case {
	const char *what;
	struct pk pk;
	uint32_t verdict;
	long id;			/* deciding rule, -1 = default */
	bool xsk;
	long hits[MAX_IDS];		/* every rule counted, 0-terminated; -1 = default */
};

static const struct acl_case cases1[] = {
	{ "nested /16 before its /24", { AF_INET, "10.1.2.3", "1.1.1.1", IPPROTO_TCP, 999, 22 },
	  XDP_DROP, 1, false, { 1 } },
	{ "count then the /24", { AF_INET, "10.1.2.3", "1.1.1.1", IPPROTO_UDP, 999, 53 },
	  CONT, 2, false, { 100, 2 } },
	{ "enclosing /8 outside the /24", { AF_INET, "10.1.3.3", "1.1.1.1", IPPROTO_UDP, 999, 5000 },
	  XDP_DROP, 3, false, { 3 } },
	{ "/16 port range misses, /8 drops", { AF_INET, "10.1.9.9", "1.1.1.1", IPPROTO_TCP, 999, 24 },
	  XDP_DROP, 3, false, { 3 } },
	{ "dst prefix, sport in range", { AF_INET, "172.16.0.1", "192.168.5.5", IPPROTO_UDP, 1500, 7 },
	  CONT, 4, true, { 4 } },
	{ "dst prefix, sport out of range", { AF_INET, "172.16.0.1", "192.168.5.5", IPPROTO_UDP, 2500, 7 },
	  CONT, -1, false, { 9, -1 } },
	{ "bare SYN", { AF_INET, "172.16.0.1", "8.8.8.8", IPPROTO_TCP, 999, 443, TCP_SYN },
	  XDP_DROP, 5, false, { 5 } },
	{ "SYN+ACK", { AF_INET, "172.16.0.1", "8.8.8.8", IPPROTO_TCP, 999, 443, TCP_SYN | TCP_ACK },
	  CONT, -1, false, { 9, -1 } },
	{ "v6 /32 before the /48 inside it", { AF_INET6, "2001:db8:1::1", "fd00::2", IPPROTO_TCP, 999, 80 },
	  XDP_DROP, 6, false, { 6 } },
	{ "v6 dst /8 udp", { AF_INET6, "2001:db9::1", "fd00::2", IPPROTO_UDP, 999, 1 },
	  XDP_DROP, 8, false, { 8 } },
	{ "v6 dst /8 tcp: default", { AF_INET6, "2001:db9::1", "fd00::2", IPPROTO_TCP, 999, 1 },
	  CONT, -1, false, { 9, -1 } },
	{ "v6 nothing", { AF_INET6, "2001:db9::1", "fe80::2", IPPROTO_UDP, 999, 53 },
	  CONT, -1, false, { 100, 9, -1 } },
	{ "ICMP echo has no ports", { AF_INET, "172.16.0.1", "8.8.8.8", IPPROTO_ICMP, 0, 53 },
	  CONT, -1, false, { 9, -1 } },
	{ "ARP: only the rule with no fields", { 0 }, CONT, -1, false, { 9, -1 } },
};

struct id_hits {
	long id;
	uint64_t packets, bytes;
};

static struct id_hits *id_hits_of(struct id_hits *h, size_t *n, long id)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (h[i].id == id)
			return &h[i];
	memset(&h[*n], 0, sizeof(h[*n]));
	h[*n].id = id;
	return &h[(*n)++];
}

/* Runs the cases and checks verdicts and meta; hits adds what they should count. */
static void run_cases(struct fixture *f, const struct acl_case *c, size_t nr, struct id_hits *hits,
		      size_t *nr_hits)
{
	struct xdp_run r;
	size_t i, j;
	int len;

	for (i = 0; i < nr; i++) {
		r = run_pk(f, &c[i].pk, &len);
		if (r.retval != c[i].verdict || rule_id(f, r.meta.rule) != c[i].id)
			fail_msg("%s: verdict %u rule id %ld, want %u and %ld", c[i].what, r.retval,
				 rule_id(f, r.meta.rule), c[i].verdict, c[i].id);
		assert_int_equal(!!(r.meta.flags & SLUICE_PKT_XSK), c[i].xsk);
		for (j = 0; j < MAX_IDS && c[i].hits[j]; j++) {
			struct id_hits *h = id_hits_of(hits, nr_hits, c[i].hits[j]);

			h->packets++;
			h->bytes += len;
		}
	}
}

static void check_hits(struct fixture *f, struct id_hits *want, size_t nr_want, size_t nr_rules)
{
	struct acl_rule_hits got[SLUICE_ACL_MAX_RULES], dflt;
	struct id_hits none = {};
	int n, i;

	n = acl__read_hits(&f->maps, got, SLUICE_ACL_MAX_RULES, &dflt);
	assert_int_equal(n, nr_rules);
	for (i = 0; i < n; i++) {
		size_t cnt = nr_want;
		struct id_hits *w = id_hits_of(want, &cnt, got[i].id);

		if (cnt != nr_want)
			w = &none;	/* not expected to be hit */
		if (got[i].packets != w->packets || got[i].bytes != w->bytes)
			fail_msg("rule %u: %llu packets %llu bytes, want %llu and %llu", got[i].id,
				 (unsigned long long)got[i].packets, (unsigned long long)got[i].bytes,
				 (unsigned long long)w->packets, (unsigned long long)w->bytes);
		/* Hits come in rule order: positions increase. */
		if (i)
			assert_true(got[i].pos > got[i - 1].pos);
	}
	{
		size_t cnt = nr_want;
		struct id_hits *w = id_hits_of(want, &cnt, -1);

		if (cnt != nr_want)
			w = &none;
		assert_int_equal(dflt.packets, w->packets);
		assert_int_equal(dflt.bytes, w->bytes);
	}
}

static void test_first_match_prefixes_ports_flags_hits(void **state)
{
	struct id_hits hits[32] = {};
	size_t nr_hits = 0;
	struct fixture f;

	require_bpf();
	assert_int_equal(fixture_load(&f, XDP_PASS), 0);
	assert_int_equal(apply_text(&f, rules1, sizeof(rules1) / sizeof(rules1[0])), 0);
	run_cases(&f, cases1, sizeof(cases1) / sizeof(cases1[0]), hits, &nr_hits);
	/* Twice: counters add up exactly. */
	run_cases(&f, cases1, sizeof(cases1) / sizeof(cases1[0]), hits, &nr_hits);
	check_hits(&f, hits, nr_hits, sizeof(rules1) / sizeof(rules1[0]));
	acl_bpf__destroy(f.skel);
}

static void test_default_drop_and_empty_set(void **state)
{
	static const struct pk p = { AF_INET, "10.0.0.1", "10.0.0.2", IPPROTO_UDP, 1, 2 };
	static const char *const one[] = { "pass id 1 src 10.0.0.0/8" };
	struct fixture f;
	struct xdp_run r;
	int len;

	require_bpf();
	assert_int_equal(fixture_load(&f, XDP_DROP), 0);
	/* No rules at all: the tries are empty, the default decides. */
	r = run_pk(&f, &p, &len);
	assert_int_equal(r.retval, XDP_DROP);
	assert_int_equal(apply_text(&f, one, 1), 0);
	r = run_pk(&f, &p, &len);
	assert_int_equal(r.retval, CONT);
	assert_int_equal(rule_id(&f, r.meta.rule), 1);
	assert_int_equal(apply_text(&f, NULL, 0), 0);
	r = run_pk(&f, &p, &len);
	assert_int_equal(r.retval, XDP_DROP);
	assert_int_equal(r.meta.rule, 0);
	acl_bpf__destroy(f.skel);
}

/*
 * Candidates spread over the bitmap words. Rules without a source prefix
 * (70, 134 and the packet's) put words 1, 2 and 14 in the source side's
 * words mask; the filler rules have no destination prefix, so the
 * destination side names words 0-14. Words 1 and 2 are thus "maybe" in
 * both masks yet hold no common rule, one after the other; the packet's
 * rules sit at 900 (count) and 950 (pass) in word 14, and position 192 has
 * a rule only its prefix keeps from matching. The scan must jump to word 14
 * and decide exactly as a rule-by-rule scan would.
 */
static void test_sparse_words(void **state)
{
	static const struct pk p = { AF_INET, "10.0.0.1", "10.0.0.2", IPPROTO_UDP, 1, 2 };
	struct acl_rule_hits got[SLUICE_ACL_MAX_RULES], dflt;
	enum { N = 960, COUNT_POS = 900, PASS_POS = 950 };
	static char text[N][64];
	const char *rules[N];
	struct fixture f;
	struct xdp_run r;
	int len, n, i;

	require_bpf();
	for (i = 0; i < N; i++) {
		if (i == 70 || i == 134)
			snprintf(text[i], sizeof(text[i]), "drop id %d dst 172.16.0.1/32", i + 1);
		else if (i == 192)	/* would match but for its prefix: a scan that misreads word 2 hits it */
			snprintf(text[i], sizeof(text[i]), "drop id %d src 172.16.0.2/32 proto udp", i + 1);
		else if (i == COUNT_POS)
			snprintf(text[i], sizeof(text[i]), "count id %d proto udp", i + 1);
		else if (i == PASS_POS)
			snprintf(text[i], sizeof(text[i]), "pass id %d proto udp dport 2", i + 1);
		else
			snprintf(text[i], sizeof(text[i]), "drop id %d src 192.168.%d.%d/32", i + 1,
				 i / 256, i % 256);
		rules[i] = text[i];
	}
	assert_int_equal(fixture_load(&f, XDP_DROP), 0);
	assert_int_equal(apply_text(&f, rules, N), 0);
	r = run_pk(&f, &p, &len);
	assert_int_equal(r.retval, CONT);
	assert_int_equal(rule_id(&f, r.meta.rule), PASS_POS + 1);
	n = acl__read_hits(&f.maps, got, SLUICE_ACL_MAX_RULES, &dflt);
	assert_int_equal(n, N);
	for (i = 0; i < n; i++)
		assert_int_equal(got[i].packets, got[i].id == COUNT_POS + 1 || got[i].id == PASS_POS + 1);
	assert_int_equal(dflt.packets, 0);
	acl_bpf__destroy(f.skel);
}

/*
 * A new set replaces the old: removed prefixes stop matching, moved rules
 * keep their hits by id. Then a set too big to sit beside the old one
 * (the blanking update) gives the same result.
 */
static void test_replace(void **state)
{
	static const char *const rules2[] = {
		"drop id 4 dst 192.168.0.0/16 proto udp sport 1000-1999",
		"drop id 3 src 10.0.0.0/8",
		"pass id 20 src 10.1.0.0/16",
	};
	static const struct acl_case cases2[] = {
		{ "/16 now after the /8", { AF_INET, "10.1.2.3", "1.1.1.1", IPPROTO_TCP, 999, 22 },
		  XDP_DROP, 3, false, { 3 } },
		{ "rule 4 now drops", { AF_INET, "172.16.0.1", "192.168.5.5", IPPROTO_UDP, 1500, 7 },
		  XDP_DROP, 4, false, { 4 } },
		{ "v6 prefixes gone", { AF_INET6, "2001:db8:1::1", "fd00::2", IPPROTO_UDP, 999, 80 },
		  CONT, -1, false, { -1 } },
	};
	static const struct acl_case case4 = {
		"rule 4 before the replace", { AF_INET, "172.16.0.1", "192.168.5.5", IPPROTO_UDP, 1500, 7 },
		CONT, 4, true, { 4 } };
	struct id_hits hits[32] = {}, keep[32] = {};
	size_t nr_hits = 0, nr_keep = 0, i;
	struct acl_rule_spec *big;
	struct fixture f;
	char text[64], err[64];

	require_bpf();
	assert_int_equal(fixture_load(&f, XDP_PASS), 0);
	assert_int_equal(apply_text(&f, rules1, sizeof(rules1) / sizeof(rules1[0])), 0);
	run_cases(&f, &case4, 1, hits, &nr_hits);
	run_cases(&f, &case4, 1, hits, &nr_hits);
	/* Only ids 3 and 4 survive, with the hits they had. */
	for (i = 0; i < nr_hits; i++)
		if (hits[i].id == 3 || hits[i].id == 4)
			keep[nr_keep++] = hits[i];
	assert_int_equal(apply_text(&f, rules2, 3), 0);
	run_cases(&f, cases2, 3, keep, &nr_keep);
	check_hits(&f, keep, nr_keep, 3);

	/* 1000 rules cannot sit beside 3 + 1000: the second big apply blanks first. */
	big = calloc(1000, sizeof(*big));
	assert_non_null(big);
	for (i = 0; i < 1000; i++) {
		snprintf(text, sizeof(text), "drop id %zu src 10.%zu.%zu.0/24", 1000 + i, i / 256, i % 256);
		assert_int_equal(acl_rule_parse(text, &big[i], err, sizeof(err)), 0);
	}
	assert_int_equal(acl__apply(&f.maps, big, 1000), 0);
	/* Reverse the order and ids: every position gets a different rule. */
	for (i = 0; i < 500; i++) {
		struct acl_rule_spec t = big[i];

		big[i] = big[999 - i];
		big[999 - i] = t;
	}
	big[0].id = 5;
	assert_int_equal(acl__apply(&f.maps, big, 1000), 0);
	{
		/* 10.3.231.0/24 was rule 999, now first, with id 5. */
		static const struct pk p = { AF_INET, "10.3.231.7", "1.1.1.1", IPPROTO_UDP, 1, 2 };
		static const struct pk q = { AF_INET, "10.0.0.7", "1.1.1.1", IPPROTO_UDP, 1, 2 };
		static const struct pk miss = { AF_INET, "10.4.0.7", "1.1.1.1", IPPROTO_UDP, 1, 2 };
		struct xdp_run r;
		int len;

		r = run_pk(&f, &p, &len);
		assert_int_equal(r.retval, XDP_DROP);
		assert_int_equal(rule_id(&f, r.meta.rule), 5);
		assert_int_equal(r.meta.rule, 1);
		r = run_pk(&f, &q, &len);
		assert_int_equal(r.retval, XDP_DROP);
		assert_int_equal(rule_id(&f, r.meta.rule), 1000);
		assert_int_equal(r.meta.rule, 1000);
		r = run_pk(&f, &miss, &len);
		assert_int_equal(r.retval, CONT);
	}
	for (i = 0; i < 1000; i++)
		acl_rule_spec_free(&big[i]);
	free(big);
	acl_bpf__destroy(f.skel);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* 100,000 /32 prefixes over 100 rules: rule k holds addresses i with i % 100 == k. */
static void test_100k_prefixes(void **state)
{
	enum { NR_RULES = 100, NR_PFX = 100000 };
	struct acl_rule_spec rules[NR_RULES + 1] = {};
	struct fixture f;
	struct xdp_run r;
	uint8_t buf[128];
	struct sluice_meta m;
	double t0;
	size_t i, k;
	int len;

	require_bpf();
	assert_int_equal(fixture_load(&f, XDP_PASS), 0);
	for (k = 0; k < NR_RULES; k++) {
		rules[k].id = (uint32_t)k;
		rules[k].action = SLUICE_ACL_DROP;
		rules[k].sport_hi = rules[k].dport_hi = 65535;
		rules[k].src = calloc(NR_PFX / NR_RULES, sizeof(struct acl_prefix));
		assert_non_null(rules[k].src);
	}
	for (i = 0; i < NR_PFX; i++) {
		struct acl_rule_spec *rl = &rules[i % NR_RULES];
		struct acl_prefix *p = &rl->src[rl->nr_src++];
		uint32_t a = htonl(0x0a000000u + (uint32_t)i * 3);

		p->family = AF_INET;
		p->len = 32;
		memcpy(p->addr, &a, 4);
	}
	/* And one /8 around them all, last: it matches what the /32s do not. */
	rules[NR_RULES] = (struct acl_rule_spec){ .id = 1000, .action = SLUICE_ACL_PASS,
		.sport_hi = 65535, .dport_hi = 65535 };
	rules[NR_RULES].src = calloc(1, sizeof(struct acl_prefix));
	assert_non_null(rules[NR_RULES].src);
	assert_int_equal(acl_prefix_parse("10.0.0.0/8", rules[NR_RULES].src), 0);
	rules[NR_RULES].nr_src = 1;

	t0 = now_s();
	assert_int_equal(acl__apply(&f.maps, rules, NR_RULES + 1), 0);
	print_message("# acl: %d prefixes in %d rules applied in %.0f ms\n", NR_PFX + 1, NR_RULES + 1,
		      (now_s() - t0) * 1e3);
	for (i = 0; i < NR_PFX; i += 997) {
		struct pk p = { AF_INET, NULL, "1.1.1.1", IPPROTO_UDP, 1, 2 };
		char src[INET_ADDRSTRLEN];
		uint32_t a = htonl(0x0a000000u + (uint32_t)i * 3);

		inet_ntop(AF_INET, &a, src, sizeof(src));
		p.src = src;
		len = pk_build(&p, buf, sizeof(buf), &m);
		assert_int_equal(xdp_run_meta(f.prog, buf, len, &m, &r), 0);
		assert_int_equal(r.retval, XDP_DROP);
		assert_int_equal(rule_id(&f, r.meta.rule), i % NR_RULES);
		/* The address after it is in no /32: the /8 passes it. */
		a = htonl(0x0a000000u + (uint32_t)i * 3 + 1);
		inet_ntop(AF_INET, &a, src, sizeof(src));
		len = pk_build(&p, buf, sizeof(buf), &m);
		assert_int_equal(xdp_run_meta(f.prog, buf, len, &m, &r), 0);
		assert_int_equal(r.retval, CONT);
		assert_int_equal(rule_id(&f, r.meta.rule), 1000);
	}
	/* Reapplying the same set walks the full two-phase update over 100k keys. */
	t0 = now_s();
	assert_int_equal(acl__apply(&f.maps, rules, NR_RULES + 1), 0);
	print_message("# acl: same set re-applied in %.0f ms\n", (now_s() - t0) * 1e3);
	for (k = 0; k <= NR_RULES; k++)
		acl_rule_spec_free(&rules[k]);
	acl_bpf__destroy(f.skel);
}

/*
 * A rule longer than any fixed buffer: acl_rule_text() gives all of it and
 * it reads back as the same rule (80 source hosts and dport 22 once came
 * back as 78 prefixes and any port, from a 1,024-byte buffer).
 */
static void test_long_rule_text(void **state)
{
	struct acl_rule_spec r, again;
	char text[4096], buf[1024], err[128];
	size_t off;
	char *full, *full2;
	int i;

	off = (size_t)snprintf(text, sizeof(text), "drop id 5 proto tcp src ");
	for (i = 0; i < 80; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%s10.0.%d.%d", i ? "," : "",
					i / 10, 100 + i);
	snprintf(text + off, sizeof(text) - off, " dport 22");
	assert_int_equal(acl_rule_parse(text, &r, err, sizeof(err)), 0);
	assert_int_equal(r.nr_src, 80);
	/* A fixed buffer says it was too small rather than cutting silently. */
	assert_int_equal(acl_rule_format(&r, buf, sizeof(buf)), -ENOSPC);
	full = acl_rule_text(&r);
	assert_non_null(full);
	assert_true(strlen(full) > sizeof(buf));
	assert_int_equal(acl_rule_parse(full, &again, err, sizeof(err)), 0);
	assert_int_equal(again.nr_src, 80);
	assert_int_equal(again.dport_lo, 22);
	assert_int_equal(again.dport_hi, 22);
	assert_memory_equal(again.src, r.src, 80 * sizeof(*r.src));
	full2 = acl_rule_text(&again);
	assert_string_equal(full, full2);
	free(full);
	free(full2);
	acl_rule_spec_free(&r);
	acl_rule_spec_free(&again);
}

/*
 * acl__apply() failing while it reads the old rules' counters frees what it
 * allocated for them: 2,000 failed applies may not grow the heap by their
 * per-CPU buffers (a leak of ncpu * 16 bytes each, over 60 KiB here).
 */
static void test_failed_apply_leaks_nothing(void **state)
{
	struct sluice_acl_bitmap live = {};
	struct acl_rule_spec rule;
	struct fixture f;
	struct acl_maps broken;
	struct mallinfo2 before, after;
	char err[128];
	__u32 key0 = 0;
	int i, hash;

	require_bpf();
	assert_int_equal(fixture_load(&f, XDP_PASS), 0);
	/* One live rule, in a rules map where it cannot be found. */
	live.w[0] = 1;
	live.words = 1;
	assert_int_equal(bpf_map_update_elem(f.maps.live, &key0, &live, BPF_ANY), 0);
	hash = bpf_map_create(BPF_MAP_TYPE_HASH, NULL, sizeof(__u32), sizeof(struct sluice_acl_rule), 1,
			      NULL);
	assert_true(hash >= 0);
	broken = f.maps;
	broken.rules = hash;
	assert_int_equal(acl_rule_parse("drop id 1 proto udp", &rule, err, sizeof(err)), 0);
	assert_int_not_equal(acl__apply(&broken, &rule, 1), 0);
	before = mallinfo2();
	for (i = 0; i < 2000; i++)
		assert_int_not_equal(acl__apply(&broken, &rule, 1), 0);
	after = mallinfo2();
	print_message("# heap in use grew by %zd bytes over 2000 failed applies\n",
		      (ssize_t)(after.uordblks - before.uordblks));
	/* Under ASan mallinfo2 reads 0: LeakSanitizer checks this instead. */
	assert_true((ssize_t)(after.uordblks - before.uordblks) < 16384);
	acl_rule_spec_free(&rule);
	close(hash);
	acl_bpf__destroy(f.skel);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_format),
		cmocka_unit_test(test_first_match_prefixes_ports_flags_hits),
		cmocka_unit_test(test_default_drop_and_empty_set),
		cmocka_unit_test(test_sparse_words),
		cmocka_unit_test(test_replace),
		cmocka_unit_test(test_100k_prefixes),
		cmocka_unit_test(test_long_rule_text),
		cmocka_unit_test(test_failed_apply_leaks_nothing),
	};

	libbpf_set_print(NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
