// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The acl stage and its compiler: rule text round trips, first match wins
 * over nested IPv4 and IPv6 prefixes, port ranges and TCP flags, count
 * rules count and go on, per-rule hits are exact; every field added for
 * firewall users (MAC, VLAN, ARP, ICMP type and code, ND target, IPv4-mapped
 * IPv6) matches, misses, and misses on frames without its header or with it
 * cut short, through the real parse stage; all of it in both matching modes
 * (the small table and the tries). Updates: a replaced rule set takes effect
 * with hits following rule ids, one-rule changes write only that rule, and
 * at every step of an update a packet is judged by the old set or the new
 * one; 100,000 prefixes load, match, and change one rule at a time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "harness.h"
#include "pkt.h"
#include "acl.h"
#include "acl.skel.h"
#include "parse.skel.h"

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
static int apply_text_info(struct fixture *f, const char *const *text, size_t n,
			   struct acl_apply_info *info)
{
	struct acl_rule_spec *rules = calloc(n ? n : 1, sizeof(*rules));
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
	ret = acl__apply_info(&f->maps, rules, n, info);
	for (i = 0; i < n; i++)
		acl_rule_spec_free(&rules[i]);
	free(rules);
	return ret;
}

static int apply_text(struct fixture *f, const char *const *text, size_t n)
{
	return apply_text_info(f, text, n, NULL);
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
		/* MAC: exact, a mask as a MAC or as a number of bits, printed as a MAC */
		{ "drop id 3 src_mac 02:00:00:00:00:01", "drop id 3 src_mac 02:00:00:00:00:01" },
		{ "drop id 3 dst_mac 33:33:0:0:0:0/ff:ff:0:0:0:0",
		  "drop id 3 dst_mac 33:33:00:00:00:00/ff:ff:00:00:00:00" },
		{ "drop id 3 src_mac 02:AB:00:00:00:00/24", "drop id 3 src_mac 02:ab:00:00:00:00/ff:ff:ff:00:00:00" },
		{ "drop id 3 src_mac 02:00:00:00:00:01/48", "drop id 3 src_mac 02:00:00:00:00:01" },
		/* VLAN: outer, range, any, outer:inner */
		{ "drop id 4 vlan 100", "drop id 4 vlan 100" },
		{ "drop id 4 vlan 100-199", "drop id 4 vlan 100-199" },
		{ "drop id 4 vlan 0-4095", "drop id 4 vlan any" },
		{ "drop id 4 vlan any:200", "drop id 4 vlan any:200" },
		{ "drop id 4 vlan 5:10-20", "drop id 4 vlan 5:10-20" },
		/* ARP */
		{ "drop id 5 proto arp", "drop id 5 proto arp" },
		{ "drop id 5 arp_target 10.0.0.1 proto arp arp_sender 192.0.2.0/24,198.51.100.1",
		  "drop id 5 proto arp arp_sender 192.0.2.0/24,198.51.100.1/32 arp_target 10.0.0.1/32" },
		/* ICMP names per family: echo-request is 8 in ICMP, 128 in ICMPv6 */
		{ "drop id 6 icmp_type echo-request proto icmp", "drop id 6 proto icmp icmp_type echo-request" },
		{ "drop id 6 proto icmp icmp_type 8", "drop id 6 proto icmp icmp_type echo-request" },
		{ "drop id 6 proto icmpv6 icmp_type echo-request", "drop id 6 proto icmpv6 icmp_type echo-request" },
		{ "drop id 6 proto icmpv6 icmp_type 128", "drop id 6 proto icmpv6 icmp_type echo-request" },
		{ "drop id 6 proto icmp icmp_type 200", "drop id 6 proto icmp icmp_type 200" },
		{ "drop id 6 proto icmp icmp_type destination-unreachable icmp_code port-unreachable",
		  "drop id 6 proto icmp icmp_type destination-unreachable icmp_code port-unreachable" },
		{ "drop id 6 proto icmpv6 icmp_type 1 icmp_code port-unreachable",
		  "drop id 6 proto icmpv6 icmp_type destination-unreachable icmp_code port-unreachable" },
		{ "drop id 6 proto icmp icmp_code port-unreachable", "drop id 6 proto icmp icmp_code 3" },
		{ "drop id 6 proto icmp icmp_type echo-request icmp_code 0",
		  "drop id 6 proto icmp icmp_type echo-request icmp_code 0" },
		/* ND targets, IPv4-mapped IPv6 as written */
		{ "drop id 7 proto icmpv6 nd_target 2001:db8::/64,fe80::1",
		  "drop id 7 proto icmpv6 nd_target 2001:db8::/64,fe80::1/128" },
		{ "drop id 7 proto icmpv6 icmp_type nd-neighbor-solicit nd_target 2001:db8::1",
		  "drop id 7 proto icmpv6 icmp_type nd-neighbor-solicit nd_target 2001:db8::1/128" },
		{ "drop id 8 src ::ffff:10.0.0.0/104", "drop id 8 src ::ffff:10.0.0.0/104" },
	};
	static const char *const bad[] = {
		"", "proto tcp", "drop pass", "drop src 10.0.0.1/8", "drop src 10.0.0.0/33",
		"drop dport 5-4", "drop proto icmp dport 22", "drop flags syn", "drop proto tcp flags syn/ack",
		"drop family 4 src 2001:db8::/32", "drop src 10.0.0.0/8 dst 2001:db8::/32", "drop id",
		"drop bogus 1", "drop id 99999999999",
		/* MAC */
		"drop src_mac 02:00:00:00:00", "drop src_mac 02:00:00:00:00:01:02", "drop src_mac 0g:00:00:00:00:01",
		"drop src_mac 02:00:00:00:00:01/ff:ff:ff:00:00:00", "drop src_mac 02:00:00:00:00:00/0",
		"drop dst_mac 02:00:00:00:00:00/49",
		/* VLAN */
		"drop vlan 4096", "drop vlan 200-100", "drop vlan 1:4096", "drop vlan x", "drop vlan 1:2:3",
		/* ARP */
		"drop arp_sender 10.0.0.1", "drop proto arp arp_sender 2001:db8::1", "drop proto arp src 10.0.0.1",
		"drop proto arp dport 22", "drop proto arp family 4", "drop proto udp arp_target 10.0.0.1",
		/* ICMP */
		"drop icmp_type 8", "drop proto udp icmp_type 8", "drop icmp_type echo-request",
		"drop proto icmp icmp_type bogus", "drop proto icmp icmp_type 256", "drop proto icmp icmp_code x",
		"drop proto icmp family 6", "drop proto icmpv6 icmp_type nd-neighbor-solicit family 4",
		/* ND */
		"drop nd_target 2001:db8::1", "drop proto icmpv6 nd_target 10.0.0.1",
		"drop proto icmpv6 icmp_type echo-request nd_target 2001:db8::1",
		"drop proto icmp nd_target 2001:db8::1",
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

/* Both matching modes: the small table (the default for a set this size) and the tries. */
static const size_t modes[] = { SLUICE_ACL_SMALL_MAX, 0 };
#define FOR_MODES(m) for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++)

static void test_first_match_prefixes_ports_flags_hits(void **state)
{
	FOR_MODES(mode) {
	struct id_hits hits[32] = {};
	size_t nr_hits = 0;
	struct fixture f;
	struct acl_apply_info info;

	require_bpf();
	acl__set_small_max(modes[mode]);
	assert_int_equal(fixture_load(&f, XDP_PASS), 0);
	assert_int_equal(apply_text_info(&f, rules1, sizeof(rules1) / sizeof(rules1[0]), &info), 0);
	assert_int_equal(info.mode, modes[mode] ? SLUICE_ACL_MODE_SMALL : SLUICE_ACL_MODE_BITMAP);
	run_cases(&f, cases1, sizeof(cases1) / sizeof(cases1[0]), hits, &nr_hits);
	/* Twice: counters add up exactly. */
	run_cases(&f, cases1, sizeof(cases1) / sizeof(cases1[0]), hits, &nr_hits);
	check_hits(&f, hits, nr_hits, sizeof(rules1) / sizeof(rules1[0]));
	acl_bpf__destroy(f.skel);
	}
	acl__set_small_max(SLUICE_ACL_SMALL_MAX);
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
 * (70, 134, the count and the pass rule) put their words in the source
 * side's words mask; the filler rules have no destination prefix, so the
 * destination side names nearly every word. The words of 70 and 134 are
 * thus "maybe" in both masks yet hold no common candidate; the packet's
 * rules are the count at 900 and the pass at 950, and rule 192 would match
 * but for its prefix. The scan must jump over the empty words and decide
 * exactly as a rule-by-rule scan would.
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
 * A new set replaces the old: removed prefixes stop matching, rules that
 * stay keep their hits by id, a changed rule takes its id's hits along.
 * Then 1,000 rules, reversed: every rule but one moves, in one switch, with
 * no window where packets match nothing.
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

	FOR_MODES(mode) {
	struct id_hits hits[32] = {}, keep[32] = {};
	size_t nr_hits = 0, nr_keep = 0, i;
	struct acl_apply_info info;
	struct acl_rule_spec *big;
	struct fixture f;
	char text[64], err[64];

	require_bpf();
	acl__set_small_max(modes[mode]);
	assert_int_equal(fixture_load(&f, XDP_PASS), 0);
	assert_int_equal(apply_text(&f, rules1, sizeof(rules1) / sizeof(rules1[0])), 0);
	run_cases(&f, &case4, 1, hits, &nr_hits);
	run_cases(&f, &case4, 1, hits, &nr_hits);
	/* Only ids 3 and 4 survive, with the hits they had. */
	for (i = 0; i < nr_hits; i++)
		if (hits[i].id == 3 || hits[i].id == 4)
			keep[nr_keep++] = hits[i];
	assert_int_equal(apply_text_info(&f, rules2, 3, &info), 0);
	/* 3 is the same rule, moved before 4's new self: one of them stays put. */
	assert_int_equal(info.kept + info.placed, 3);
	assert_int_equal(info.retired, sizeof(rules1) / sizeof(rules1[0]) - info.kept);
	assert_false(info.blanked);
	run_cases(&f, cases2, 3, keep, &nr_keep);
	check_hits(&f, keep, nr_keep, 3);

	big = calloc(1000, sizeof(*big));
	assert_non_null(big);
	for (i = 0; i < 1000; i++) {
		snprintf(text, sizeof(text), "drop id %zu src 10.%zu.%zu.0/24", 1000 + i, i / 256, i % 256);
		assert_int_equal(acl_rule_parse(text, &big[i], err, sizeof(err)), 0);
	}
	assert_int_equal(acl__apply_info(&f.maps, big, 1000, &info), 0);
	assert_int_equal(info.placed, 1000);
	assert_int_equal(info.mode, SLUICE_ACL_MODE_BITMAP);
	/* Reverse the order and give the last a new id: every rule changes place. */
	for (i = 0; i < 500; i++) {
		struct acl_rule_spec t = big[i];

		big[i] = big[999 - i];
		big[999 - i] = t;
	}
	big[0].id = 5;
	assert_int_equal(acl__apply_info(&f.maps, big, 1000, &info), 0);
	assert_false(info.blanked);
	assert_int_equal(info.kept + info.moved, 999);
	assert_true(info.moved >= 998);
	{
		/* 10.3.231.0/24 was rule 999, now first, with id 5. */
		static const struct pk p = { AF_INET, "10.3.231.7", "1.1.1.1", IPPROTO_UDP, 1, 2 };
		static const struct pk q = { AF_INET, "10.0.0.7", "1.1.1.1", IPPROTO_UDP, 1, 2 };
		static const struct pk miss = { AF_INET, "10.4.0.7", "1.1.1.1", IPPROTO_UDP, 1, 2 };
		struct xdp_run r, r2;
		int len;

		r = run_pk(&f, &p, &len);
		assert_int_equal(r.retval, XDP_DROP);
		assert_int_equal(rule_id(&f, r.meta.rule), 5);
		r2 = run_pk(&f, &q, &len);
		assert_int_equal(r2.retval, XDP_DROP);
		assert_int_equal(rule_id(&f, r2.meta.rule), 1000);
		/* Positions follow rule order. */
		assert_true(r.meta.rule < r2.meta.rule);
		r = run_pk(&f, &miss, &len);
		assert_int_equal(r.retval, CONT);
	}
	for (i = 0; i < 1000; i++)
		acl_rule_spec_free(&big[i]);
	free(big);
	acl_bpf__destroy(f.skel);
	}
	acl__set_small_max(SLUICE_ACL_SMALL_MAX);
}

/*
 * A count rule naming a prefix and one inside it counts a packet once: the
 * small table holds one entry per prefix, and the inner one is dropped.
 */
static void test_count_once(void **state)
{
	static const char *const rules[] = {
		"count id 1 src 10.1.0.0/16,10.0.0.0/8,10.1.2.0/24 dst 1.1.1.1,1.1.0.0/16",
		"count id 2 src 10.1.2.3,2001:db8::1",
	};
	static const struct pk p = { AF_INET, "10.1.2.3", "1.1.1.1", IPPROTO_UDP, 1, 2 };

	FOR_MODES(mode) {
	struct acl_rule_hits got[4], dflt;
	struct acl_apply_info info;
	struct fixture f;
	struct xdp_run r;
	int len;

	require_bpf();
	acl__set_small_max(modes[mode]);
	assert_int_equal(fixture_load(&f, XDP_PASS), 0);
	assert_int_equal(apply_text_info(&f, rules, 2, &info), 0);
	assert_int_equal(info.mode, modes[mode] ? SLUICE_ACL_MODE_SMALL : SLUICE_ACL_MODE_BITMAP);
	r = run_pk(&f, &p, &len);
	assert_int_equal(r.retval, CONT);
	assert_int_equal(acl__read_hits(&f.maps, got, 4, &dflt), 2);
	assert_int_equal(got[0].packets, 1);
	assert_int_equal(got[1].packets, 1);
	assert_int_equal(dflt.packets, 1);
	acl_bpf__destroy(f.skel);
	}
}

/* Rules naming no prefix at all: no lookup in either mode, the same verdicts. */
static void test_no_prefix(void **state)
{
	static const char *const rules[] = {
		"drop id 1 proto udp dport 53", "pass id 2 family 6 proto udp", "count id 3 proto tcp",
		"xsk id 4 proto udp",
	};
	static const struct acl_case cases[] = {
		{ "v4 udp 53", { AF_INET, "10.0.0.1", "10.0.0.2", IPPROTO_UDP, 1, 53 }, XDP_DROP, 1, false, { 1 } },
		{ "v4 udp 54", { AF_INET, "10.0.0.1", "10.0.0.2", IPPROTO_UDP, 1, 54 }, CONT, 4, true, { 4 } },
		{ "v6 udp 53", { AF_INET6, "2001:db8::1", "2001:db8::2", IPPROTO_UDP, 1, 53 }, XDP_DROP, 1, false,
		  { 1 } },
		{ "v6 udp 54", { AF_INET6, "2001:db8::1", "2001:db8::2", IPPROTO_UDP, 1, 54 }, CONT, 2, false,
		  { 2 } },
		{ "v4 tcp", { AF_INET, "10.0.0.1", "10.0.0.2", IPPROTO_TCP, 1, 80 }, CONT, -1, false, { 3, -1 } },
		{ "ARP", { 0 }, CONT, -1, false, { -1 } },
	};

	FOR_MODES(mode) {
	struct id_hits hits[8] = {};
	struct acl_apply_info info;
	size_t nr_hits = 0;
	struct fixture f;

	require_bpf();
	acl__set_small_max(modes[mode]);
	assert_int_equal(fixture_load(&f, XDP_PASS), 0);
	assert_int_equal(apply_text_info(&f, rules, 4, &info), 0);
	assert_int_equal(info.mode, modes[mode] ? SLUICE_ACL_MODE_SMALL : SLUICE_ACL_MODE_BITMAP);
	run_cases(&f, cases, sizeof(cases) / sizeof(cases[0]), hits, &nr_hits);
	check_hits(&f, hits, nr_hits, 4);
	acl_bpf__destroy(f.skel);
	}
}

/* ---- updates: one rule at a time, and old-or-new at every step ---- */

struct probe {
	struct pk pk;
	uint32_t verdict;	/* under the set it belongs to */
	long id;
};

struct step_check {
	struct fixture *f;
	const struct probe *old, *new;
	size_t n;
	int written, switched;
};

static void probes_check(struct fixture *f, const struct probe *want, size_t n, const char *when)
{
	for (size_t i = 0; i < n; i++) {
		struct xdp_run r;
		int len;

		r = run_pk(f, &want[i].pk, &len);
		if (r.retval != want[i].verdict || rule_id(f, r.meta.rule) != want[i].id)
			fail_msg("%s, probe %zu (%s): verdict %u rule %ld, want %u and %ld", when, i,
				 want[i].pk.src, r.retval, rule_id(f, r.meta.rule), want[i].verdict,
				 want[i].id);
	}
}

/* Before the switch packets see the old set, after it the new one: never a mix. */
static void step_hook(const char *step, void *arg)
{
	struct step_check *c = arg;

	if (!strcmp(step, "written")) {
		probes_check(c->f, c->old, c->n, "written, old set live");
		c->written++;
	} else if (!strcmp(step, "switched")) {
		probes_check(c->f, c->new, c->n, "switched, new set live");
		c->switched++;
	}
}

static int apply_checked(struct fixture *f, const char *const *text, size_t n, const struct probe *old,
			 const struct probe *new, size_t nr_probes, struct acl_apply_info *info)
{
	struct step_check c = { .f = f, .old = old, .new = new, .n = nr_probes };
	int ret;

	acl__set_step_hook(step_hook, &c);
	ret = apply_text_info(f, text, n, info);
	acl__set_step_hook(NULL, NULL);
	assert_int_equal(c.written, 1);
	assert_int_equal(c.switched, 1);
	probes_check(f, new, nr_probes, "after the update");
	return ret;
}

#define PROBE(src, v, id) { { AF_INET, src, "1.1.1.1", IPPROTO_UDP, 1, 2 }, v, id }

/*
 * Inserting before a rule, deleting one, swapping two: at every step of
 * each update the probes get the old set's verdicts, then the new set's.
 * In the tries mode, where packets read positions and trie bits, and with
 * rules in front so that the inserts must move rules out of the way.
 */
static void test_two_phase(void **state)
{
	static const char *base[] = {
		"drop id 1 src 10.1.0.0/16", "pass id 2 src 10.0.0.0/8",
	};
	static const char *ins[] = {
		"pass id 3 src 10.1.2.0/24", "drop id 1 src 10.1.0.0/16", "pass id 2 src 10.0.0.0/8",
	};
	static const char *swapped[] = {
		"pass id 2 src 10.0.0.0/8", "pass id 3 src 10.1.2.0/24", "drop id 1 src 10.1.0.0/16",
	};
	static const char *deleted[] = {
		"pass id 2 src 10.0.0.0/8", "pass id 3 src 10.1.2.0/24",
	};
	/* A host (in the tries mode, in the host map) inside prefixes of the trie, before and after them. */
	static const char *host_first[] = {
		"drop id 5 src 10.1.2.3", "pass id 2 src 10.0.0.0/8", "pass id 3 src 10.1.2.0/24",
	};
	static const char *host_last[] = {
		"pass id 3 src 10.1.2.0/24", "drop id 5 src 10.1.2.3", "pass id 2 src 10.0.0.0/8",
	};
	static const struct probe p_base[] = {
		PROBE("10.1.2.3", XDP_DROP, 1), PROBE("10.2.0.1", CONT, 2), PROBE("11.0.0.1", CONT, -1),
	};
	static const struct probe p_ins[] = {
		PROBE("10.1.2.3", CONT, 3), PROBE("10.2.0.1", CONT, 2), PROBE("11.0.0.1", CONT, -1),
	};
	static const struct probe p_swapped[] = {
		PROBE("10.1.2.3", CONT, 2), PROBE("10.2.0.1", CONT, 2), PROBE("11.0.0.1", CONT, -1),
	};
	static const struct probe p_deleted[] = {
		PROBE("10.1.2.3", CONT, 2), PROBE("10.2.0.1", CONT, 2), PROBE("11.0.0.1", CONT, -1),
	};
	static const struct probe p_host_first[] = {
		PROBE("10.1.2.3", XDP_DROP, 5), PROBE("10.1.2.4", CONT, 2), PROBE("11.0.0.1", CONT, -1),
	};
	static const struct probe p_host_last[] = {
		PROBE("10.1.2.3", CONT, 3), PROBE("10.1.2.4", CONT, 3), PROBE("11.0.0.1", CONT, -1),
	};

	FOR_MODES(mode) {
	struct acl_apply_info info;
	struct fixture f;
	const size_t np = 3;

	require_bpf();
	acl__set_small_max(modes[mode]);
	assert_int_equal(fixture_load(&f, XDP_PASS), 0);
	assert_int_equal(apply_text(&f, base, 2), 0);
	probes_check(&f, p_base, np, "base");
	assert_int_equal(apply_checked(&f, ins, 3, p_base, p_ins, np, &info), 0);
	assert_int_equal(info.placed, 1);
	assert_int_equal(info.kept, 2);
	assert_int_equal(apply_checked(&f, swapped, 3, p_ins, p_swapped, np, &info), 0);
	assert_true(info.moved >= 1);
	assert_int_equal(apply_checked(&f, deleted, 2, p_swapped, p_deleted, np, &info), 0);
	assert_int_equal(info.retired, 1);
	assert_int_equal(info.placed, 0);
	assert_int_equal(apply_checked(&f, host_first, 3, p_deleted, p_host_first, np, &info), 0);
	assert_int_equal(info.placed, 1);
	assert_int_equal(apply_checked(&f, host_last, 3, p_host_first, p_host_last, np, &info), 0);
	acl_bpf__destroy(f.skel);
	}
	acl__set_small_max(SLUICE_ACL_SMALL_MAX);
}

/*
 * 1,000 rules: inserting again and again before the same rule uses up the
 * gap there, and then rules move to make room, still in one switch, still
 * old-or-new for the probes. Adding and deleting one rule writes only it.
 */
static void test_one_rule_changes(void **state)
{
	enum { N = 1000, INSERTS = 6 };
	static char text[N + INSERTS + 1][64];
	const char *v[N + INSERTS + 1];
	struct probe old[INSERTS + 2], new[INSERTS + 2];
	struct acl_apply_info info;
	struct fixture f;
	size_t n = N, i, at = 500;

	require_bpf();
	assert_int_equal(fixture_load(&f, XDP_PASS), 0);
	for (i = 0; i < N; i++) {
		snprintf(text[i], sizeof(text[i]), "drop id %zu src 10.%zu.%zu.1", i + 1, i / 256, i % 256);
		v[i] = text[i];
	}
	assert_int_equal(apply_text_info(&f, v, N, &info), 0);
	assert_int_equal(info.placed, N);
	/* Re-applied as it is: nothing to write. */
	assert_int_equal(apply_text_info(&f, v, N, &info), 0);
	assert_int_equal(info.kept, N);
	assert_int_equal(info.keys_written, 0);

	/* Insert passes before rule 501, each for a source rule 501 also drops. */
	for (int k = 0; k < INSERTS; k++) {
		size_t np = 0;

		snprintf(text[N + k], sizeof(text[N + k]), "pass id %d src 10.%zu.%zu.0/24", 5000 + k,
			 at / 256, at % 256);
		memmove(&v[at + 1], &v[at], (n - at) * sizeof(v[0]));
		v[at] = text[N + k];
		n++;
		/* The probe: rule 501's address; before, the last insert (or 501) decides. */
		old[np] = (struct probe)PROBE("10.1.244.1", k ? CONT : XDP_DROP, k ? 5000 + k - 1 : 501);
		new[np++] = (struct probe)PROBE("10.1.244.1", CONT, 5000 + k);
		old[np] = (struct probe)PROBE("10.0.0.1", XDP_DROP, 1);
		new[np] = old[np];
		np++;
		old[np] = (struct probe)PROBE("10.3.231.1", XDP_DROP, 1000);
		new[np] = old[np];
		np++;
		assert_int_equal(apply_checked(&f, v, n, old, new, np, &info), 0);
		assert_false(info.blanked);
		assert_int_equal(info.placed, 1 + info.moved);
		assert_int_equal(info.kept, n - 1 - info.moved);
	}
	/* Past the first insert or two the gap is gone: rules moved for the later ones. */
	assert_true(info.moved > 0 || n > N);

	/* One rule at the end, with one new prefix: one trie key; then away again. */
	snprintf(text[N + INSERTS], sizeof(text[N + INSERTS]), "drop id 9000 src 192.0.2.9");
	v[n] = text[N + INSERTS];
	assert_int_equal(apply_text_info(&f, v, n + 1, &info), 0);
	assert_int_equal(info.placed, 1);
	assert_int_equal(info.moved, 0);
	assert_int_equal(info.keys_written, 1);
	assert_int_equal(apply_text_info(&f, v, n, &info), 0);
	assert_int_equal(info.retired, 1);
	assert_int_equal(info.placed, 0);
	/* A deletion does not wait to clear its key: the next update, once it is due, does. */
	assert_int_equal(info.keys_written, 0);
	usleep(2000);
	assert_int_equal(apply_text_info(&f, v, n, &info), 0);
	assert_int_equal(info.kept, n);
	assert_int_equal(info.keys_written, 1);

	/* Another process's mirror: the generation moved on, so the maps are read back first. */
	{
		struct sluice_acl_ctl ctl;
		__u32 zero = 0;

		assert_int_equal(bpf_map_lookup_elem(f.maps.ctl, &zero, &ctl), 0);
		ctl.gen += 7;
		assert_int_equal(bpf_map_update_elem(f.maps.ctl, &zero, &ctl, BPF_ANY), 0);
		assert_int_equal(apply_text_info(&f, v, n, &info), 0);
		assert_true(info.rebuilt);
		assert_int_equal(info.kept, n);
		assert_int_equal(info.keys_written, 0);
		probes_check(&f, new, 3, "after reading the maps back");
	}
	acl_bpf__destroy(f.skel);
}

/* ---- the fields firewall users expect, through the real parse stage ---- */

static const char *const rules_ext[] = {
	"drop id 1 src_mac 02:aa:00:00:00:01",
	"drop id 2 dst_mac 02:bb:00:00:00:00/ff:ff:00:00:00:00",
	"drop id 3 vlan 100",
	"drop id 4 vlan any:200",
	"drop id 5 vlan 300-310:400",
	"drop id 6 proto arp arp_sender 192.0.2.0/24",
	"drop id 7 proto arp arp_target 198.51.100.7",
	"drop id 8 proto icmp icmp_type echo-request",
	"drop id 9 proto icmpv6 icmp_type echo-request",
	"drop id 10 proto icmp icmp_type destination-unreachable icmp_code port-unreachable",
	"drop id 11 proto icmpv6 nd_target 2001:db8::7,2001:db8:1::/64",
	"drop id 12 src ::ffff:10.1.0.0/112",
	"pass id 13 proto arp",
	"count id 14",
};

/* A frame the way a test case wants it; defaults are pkt_spec_default()'s. */
struct fr {
	int kind;			/* 0 IPv4, 6 IPv6, 'a' ARP */
	const char *src_mac, *dst_mac;
	int vlans;
	uint16_t vlan[2];
	uint8_t proto;			/* 0: UDP */
	uint8_t type, code;		/* ICMP */
	const char *src, *dst;		/* IP, or ARP sender and target */
	const char *nd_target;		/* with type 135/136: written at the ICMPv6 header + 8 */
	uint16_t frag;			/* IPv4 frag_off field (host order) */
	int cut;			/* > 0: the frame is cut to this many bytes */
};

static void mac_parse(const char *s, uint8_t *mac)
{
	unsigned int b[6];

	assert_int_equal(sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]), 6);
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
}

static int fr_build(const struct fr *x, uint8_t *buf, size_t size)
{
	struct pkt_spec s;
	int len, l2;

	pkt_spec_default(&s);
	if (x->src_mac)
		mac_parse(x->src_mac, s.src_mac);
	if (x->dst_mac)
		mac_parse(x->dst_mac, s.dst_mac);
	s.vlans = x->vlans;
	s.vlan_id[0] = x->vlan[0];
	s.vlan_id[1] = x->vlan[1];
	l2 = ETH_HLEN + 4 * x->vlans;
	if (x->kind == 'a') {
		/* Ethernet/IPv4 ARP request: htype 1, ptype 0x0800, hlen 6, plen 4, op 1. */
		static const uint8_t fixed[8] = { 0, 1, 8, 0, 6, 4, 0, 1 };
		uint8_t *a;

		s.family = AF_INET;
		s.proto = IPPROTO_UDP;
		len = pkt_build(&s, buf, size);
		assert_true(len > 0);
		buf[l2 - 2] = ETH_P_ARP >> 8;
		buf[l2 - 1] = ETH_P_ARP & 0xff;
		a = buf + l2;
		memset(a, 0, 28);
		memcpy(a, fixed, 8);
		memcpy(a + 8, s.src_mac, 6);
		assert_int_equal(inet_pton(AF_INET, x->src ? x->src : "10.0.0.1", a + 14), 1);
		assert_int_equal(inet_pton(AF_INET, x->dst ? x->dst : "10.0.0.2", a + 24), 1);
		len = l2 + 28 > 60 ? l2 + 28 : 60;
	} else {
		s.family = x->kind == 6 ? AF_INET6 : AF_INET;
		s.proto = x->proto ? x->proto : IPPROTO_UDP;
		if (s.family == AF_INET6) {
			assert_int_equal(inet_pton(AF_INET6, x->src ? x->src : "2001:db8:ff::1", &s.src6), 1);
			assert_int_equal(inet_pton(AF_INET6, x->dst ? x->dst : "2001:db8:ff::2", &s.dst6), 1);
		} else {
			if (x->src)
				assert_int_equal(inet_pton(AF_INET, x->src, &s.src4), 1);
			if (x->dst)
				assert_int_equal(inet_pton(AF_INET, x->dst, &s.dst4), 1);
		}
		if (s.proto == IPPROTO_ICMP || s.proto == IPPROTO_ICMPV6) {
			s.sport = x->type;
			s.dport = x->code;
		}
		s.frame_len = 96;
		len = pkt_build(&s, buf, size);
		assert_true(len > 0);
		if (x->nd_target)
			assert_int_equal(inet_pton(AF_INET6, x->nd_target, buf + l2 + 40 + 8), 1);
		if (x->frag) {
			buf[l2 + 6] = (uint8_t)(x->frag >> 8);
			buf[l2 + 7] = (uint8_t)x->frag;
		}
	}
	if (x->cut > 0)
		len = x->cut;
	return len;
}

struct ext_case {
	const char *what;
	struct fr fr;
	uint32_t verdict;
	long id;			/* deciding rule, -1 = none */
};

#define IP_MF		0x2000
#define FRAG_LATER	0x0005		/* offset 40 bytes, no MF */

static const struct ext_case cases_ext[] = {
	/* MAC: every frame has both; a tag in between changes nothing */
	{ "src_mac matches", { .src_mac = "02:aa:00:00:00:01" }, XDP_DROP, 1 },
	{ "src_mac misses", { .src_mac = "02:aa:00:00:00:02" }, CONT, -1 },
	{ "dst_mac under its mask", { .dst_mac = "02:bb:12:34:56:78" }, XDP_DROP, 2 },
	{ "dst_mac outside its mask", { .dst_mac = "02:bc:12:34:56:78" }, CONT, -1 },
	{ "src_mac on a VLAN-tagged frame", { .src_mac = "02:aa:00:00:00:01", .vlans = 1, .vlan = { 7 } },
	  XDP_DROP, 1 },
	{ "src_mac on an ARP frame", { .kind = 'a', .src_mac = "02:aa:00:00:00:01" }, XDP_DROP, 1 },
	/* VLAN */
	{ "vlan 100", { .vlans = 1, .vlan = { 100 } }, XDP_DROP, 3 },
	{ "vlan 101", { .vlans = 1, .vlan = { 101 } }, CONT, -1 },
	{ "vlan rule, untagged frame", { .vlans = 0 }, CONT, -1 },
	{ "vlan 100 outer, any inner", { .vlans = 2, .vlan = { 100, 5 } }, XDP_DROP, 3 },
	{ "inner 200 under any outer", { .vlans = 2, .vlan = { 7, 200 } }, XDP_DROP, 4 },
	{ "inner rule, one tag of 200", { .vlans = 1, .vlan = { 200 } }, CONT, -1 },
	{ "inner rule, second tag cut off", { .vlans = 2, .vlan = { 7, 200 }, .cut = 20 }, CONT, -1 },
	{ "vlan 305:400", { .vlans = 2, .vlan = { 305, 400 } }, XDP_DROP, 5 },
	{ "vlan 305:401", { .vlans = 2, .vlan = { 305, 401 } }, CONT, -1 },
	{ "vlan 311:400", { .vlans = 2, .vlan = { 311, 400 } }, CONT, -1 },
	/* ARP */
	{ "arp_sender in its /24", { .kind = 'a', .src = "192.0.2.5" }, XDP_DROP, 6 },
	{ "arp_target", { .kind = 'a', .src = "192.0.3.5", .dst = "198.51.100.7" }, XDP_DROP, 7 },
	{ "ARP matching neither: proto arp", { .kind = 'a', .src = "192.0.3.5" }, CONT, 13 },
	{ "ARP cut before its addresses: proto arp only",
	  { .kind = 'a', .src = "192.0.2.5", .cut = ETH_HLEN + 20 }, CONT, 13 },
	{ "ARP behind a VLAN tag", { .kind = 'a', .src = "192.0.2.5", .vlans = 1, .vlan = { 9 } },
	  XDP_DROP, 6 },
	{ "arp_sender's address as an IPv4 source", { .src = "192.0.2.5" }, CONT, -1 },
	/* ICMP */
	{ "ICMP echo-request (8)", { .proto = IPPROTO_ICMP, .type = 8 }, XDP_DROP, 8 },
	{ "ICMP echo-reply", { .proto = IPPROTO_ICMP, .type = 0 }, CONT, -1 },
	{ "ICMPv6 echo-request (128)", { .kind = 6, .proto = IPPROTO_ICMPV6, .type = 128 }, XDP_DROP, 9 },
	{ "ICMPv6 type 8 is not echo-request", { .kind = 6, .proto = IPPROTO_ICMPV6, .type = 8 }, CONT, -1 },
	{ "ICMP type and code", { .proto = IPPROTO_ICMP, .type = 3, .code = 3 }, XDP_DROP, 10 },
	{ "ICMP type, other code", { .proto = IPPROTO_ICMP, .type = 3, .code = 1 }, CONT, -1 },
	{ "ICMP header cut short", { .proto = IPPROTO_ICMP, .type = 8, .cut = ETH_HLEN + 20 + 2 }, CONT, -1 },
	{ "ICMP first fragment", { .proto = IPPROTO_ICMP, .type = 8, .frag = IP_MF }, XDP_DROP, 8 },
	{ "ICMP later fragment: no header", { .proto = IPPROTO_ICMP, .type = 8, .frag = FRAG_LATER }, CONT, -1 },
	{ "ICMP type rule on UDP", { .proto = IPPROTO_UDP }, CONT, -1 },
	/* ND */
	{ "NS target", { .kind = 6, .proto = IPPROTO_ICMPV6, .type = 135, .nd_target = "2001:db8::7" },
	  XDP_DROP, 11 },
	{ "NA target in a /64", { .kind = 6, .proto = IPPROTO_ICMPV6, .type = 136, .nd_target = "2001:db8:1::9" },
	  XDP_DROP, 11 },
	{ "NS, other target", { .kind = 6, .proto = IPPROTO_ICMPV6, .type = 135, .nd_target = "2001:db8::8" },
	  CONT, -1 },
	{ "router solicitation: no target", { .kind = 6, .proto = IPPROTO_ICMPV6, .type = 133,
	  .nd_target = "2001:db8::7" }, CONT, -1 },
	{ "NS cut inside its target", { .kind = 6, .proto = IPPROTO_ICMPV6, .type = 135,
	  .nd_target = "2001:db8::7", .cut = ETH_HLEN + 40 + 8 + 10 }, CONT, -1 },
	/* IPv4-mapped IPv6: IPv6 frames only */
	{ "IPv6 from ::ffff:10.1.2.3", { .kind = 6, .src = "::ffff:10.1.2.3" }, XDP_DROP, 12 },
	{ "IPv4 from 10.1.2.3", { .src = "10.1.2.3" }, CONT, -1 },
};

struct parse_fx {
	struct parse_bpf *skel;
	int prog;
};

/* The parse stage, last in its pipeline: it leaves its metadata and passes. */
static void parse_load(struct parse_fx *p)
{
	p->skel = parse_bpf__open();
	assert_non_null(p->skel);
	p->skel->rodata->sluice_cfg.next = SLUICE_SLOT_END;
	assert_int_equal(parse_bpf__load(p->skel), 0);
	p->prog = bpf_program__fd(p->skel->progs.sluice_parse);
}

/* The frame through parse, then through the acl stage with parse's metadata. */
static struct xdp_run run_parsed(struct fixture *f, struct parse_fx *p, const uint8_t *buf, int len)
{
	struct xdp_run pr, r;

	assert_int_equal(xdp_run_meta(p->prog, buf, (size_t)len, NULL, &pr), 0);
	assert_int_equal(pr.retval, XDP_PASS);
	assert_int_equal(xdp_run_meta(f->prog, buf, (size_t)len, &pr.meta, &r), 0);
	return r;
}

static void test_fields(void **state)
{
	const size_t nr_rules = sizeof(rules_ext) / sizeof(rules_ext[0]);
	const size_t nr_cases = sizeof(cases_ext) / sizeof(cases_ext[0]);

	FOR_MODES(mode) {
	struct id_hits hits[32] = {};
	struct acl_apply_info info;
	struct parse_fx p;
	struct fixture f;
	size_t nr_hits = 0;
	uint8_t buf[256];

	require_bpf();
	acl__set_small_max(modes[mode]);
	assert_int_equal(fixture_load(&f, XDP_PASS), 0);
	parse_load(&p);
	assert_int_equal(apply_text_info(&f, rules_ext, nr_rules, &info), 0);
	assert_int_equal(info.mode, modes[mode] ? SLUICE_ACL_MODE_SMALL_FULL : SLUICE_ACL_MODE_BITMAP);
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < nr_cases; i++) {
			const struct ext_case *c = &cases_ext[i];
			int len = fr_build(&c->fr, buf, sizeof(buf));
			struct xdp_run r = run_parsed(&f, &p, buf, len);
			struct id_hits *h;

			if (r.retval != c->verdict || rule_id(&f, r.meta.rule) != c->id)
				fail_msg("%s (%s): verdict %u rule %ld, want %u and %ld", c->what,
					 modes[mode] ? "small" : "tries", r.retval, rule_id(&f, r.meta.rule),
					 c->verdict, c->id);
			/* Rule 14, last and naming nothing, counts what no other rule decided. */
			if (c->id < 0) {
				h = id_hits_of(hits, &nr_hits, 14);
				h->packets++;
				h->bytes += (uint64_t)len;
			}
			h = id_hits_of(hits, &nr_hits, c->id);
			h->packets++;
			h->bytes += (uint64_t)len;
		}
	}
	check_hits(&f, hits, nr_hits, nr_rules);
	parse_bpf__destroy(p.skel);
	acl_bpf__destroy(f.skel);
	}
	acl__set_small_max(SLUICE_ACL_SMALL_MAX);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* 100 rules of 1,000 /32 each: rule k holds 10.0.0.0 + (i * 3 + base) with i % 100 == k, then a /8. */
static void rules_100k(struct acl_rule_spec *rules, uint32_t base, enum sluice_acl_action action)
{
	enum { NR_RULES = 100, NR_PFX = 100000 };
	size_t i, k;

	for (k = 0; k < NR_RULES; k++) {
		rules[k] = (struct acl_rule_spec){ .id = (uint32_t)k, .action = action,
			.sport_hi = 65535, .dport_hi = 65535 };
		rules[k].src = calloc(NR_PFX / NR_RULES, sizeof(struct acl_prefix));
		assert_non_null(rules[k].src);
	}
	for (i = 0; i < NR_PFX; i++) {
		struct acl_rule_spec *rl = &rules[i % NR_RULES];
		struct acl_prefix *p = &rl->src[rl->nr_src++];
		uint32_t a = htonl(0x0a000000u + (uint32_t)i * 3 + base);

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
}

/* Address i of rules_100k(base) decides by rule i % 100; the next one by the /8. */
static void check_100k(struct fixture *f, uint32_t base, uint32_t verdict)
{
	struct sluice_meta m;
	struct xdp_run r;
	uint8_t buf[128];
	int len;

	for (size_t i = 0; i < 100000; i += 997) {
		struct pk p = { AF_INET, NULL, "1.1.1.1", IPPROTO_UDP, 1, 2 };
		char src[INET_ADDRSTRLEN];
		uint32_t a = htonl(0x0a000000u + (uint32_t)i * 3 + base);

		inet_ntop(AF_INET, &a, src, sizeof(src));
		p.src = src;
		len = pk_build(&p, buf, sizeof(buf), &m);
		assert_int_equal(xdp_run_meta(f->prog, buf, len, &m, &r), 0);
		assert_int_equal(r.retval, verdict);
		assert_int_equal(rule_id(f, r.meta.rule), i % 100);
		a = htonl(0x0a000000u + (uint32_t)i * 3 + (base + 1) % 3);
		inet_ntop(AF_INET, &a, src, sizeof(src));
		len = pk_build(&p, buf, sizeof(buf), &m);
		assert_int_equal(xdp_run_meta(f->prog, buf, len, &m, &r), 0);
		assert_int_equal(r.retval, CONT);
		assert_int_equal(rule_id(f, r.meta.rule), 1000);
	}
}

/*
 * 100,000 prefixes: they load and match; applied again, nothing is written;
 * one rule added and removed writes its own key only; a different 100,000
 * cannot sit beside them in the tries, so that one update blanks first.
 */
static void test_100k_prefixes(void **state)
{
	enum { NR = 101 };
	struct acl_rule_spec rules[NR + 1] = {}, other[NR] = {};
	struct acl_apply_info info;
	struct fixture f;
	char err[64];
	double t0;
	size_t k;

	require_bpf();
	assert_int_equal(fixture_load(&f, XDP_PASS), 0);
	rules_100k(rules, 0, SLUICE_ACL_DROP);
	t0 = now_s();
	assert_int_equal(acl__apply_info(&f.maps, rules, NR, &info), 0);
	print_message("# acl: 100001 prefixes in 101 rules applied in %.0f ms\n", (now_s() - t0) * 1e3);
	assert_int_equal(info.mode, SLUICE_ACL_MODE_BITMAP);
	check_100k(&f, 0, XDP_DROP);

	t0 = now_s();
	assert_int_equal(acl__apply_info(&f.maps, rules, NR, &info), 0);
	print_message("# acl: same set re-applied in %.0f ms\n", (now_s() - t0) * 1e3);
	assert_int_equal(info.kept, NR);
	assert_int_equal(info.keys_written, 0);

	assert_int_equal(acl_rule_parse("drop id 5000 src 192.0.2.1", &rules[NR], err, sizeof(err)), 0);
	t0 = now_s();
	assert_int_equal(acl__apply_info(&f.maps, rules, NR + 1, &info), 0);
	print_message("# acl: one rule added in %.1f ms\n", (now_s() - t0) * 1e3);
	assert_int_equal(info.placed, 1);
	assert_int_equal(info.keys_written, 1);
	t0 = now_s();
	/* And away again: its one key goes, at the next update. */
	assert_int_equal(acl__apply_info(&f.maps, rules, NR, &info), 0);
	print_message("# acl: one rule deleted in %.1f ms\n", (now_s() - t0) * 1e3);
	assert_int_equal(info.retired, 1);
	assert_int_equal(info.keys_written, 0);
	check_100k(&f, 0, XDP_DROP);

	rules_100k(other, 1, SLUICE_ACL_XSK);
	assert_int_equal(acl__apply_info(&f.maps, other, NR, &info), 0);
	assert_true(info.blanked);
	check_100k(&f, 1, CONT);

	for (k = 0; k <= NR; k++)
		acl_rule_spec_free(&rules[k]);
	for (k = 0; k < NR; k++)
		acl_rule_spec_free(&other[k]);
	acl_bpf__destroy(f.skel);
}

/* The offload query: loopback strips nothing; a missing interface is an error, not "off". */
static void test_rxvlan(void **state)
{
	assert_int_equal(acl_iface_rxvlan("lo"), 0);
	assert_int_equal(acl_iface_rxvlan("sluice-none0"), -ENODEV);
	assert_int_equal(acl_iface_rxvlan("a-name-longer-than-ifnamsiz"), -EINVAL);
}

/* Another process wrote the maps last (a restarted daemon): the next update reads them back. */
static void mirror_stale(struct fixture *f)
{
	struct sluice_acl_ctl ctl;
	__u32 zero = 0;

	assert_int_equal(bpf_map_lookup_elem(f->maps.ctl, &zero, &ctl), 0);
	ctl.gen += 7;
	assert_int_equal(bpf_map_update_elem(f->maps.ctl, &zero, &ctl, BPF_ANY), 0);
}

/* The daemon opens the pinned maps for each update: a copy of every descriptor. */
static void maps_dup(const struct acl_maps *m, struct acl_maps *out)
{
	const int *from = (const int *)m;
	int *to = (int *)out;

	for (size_t i = 0; i < sizeof(*m) / sizeof(int); i++) {
		to[i] = dup(from[i]);
		assert_true(to[i] >= 0);
	}
}

/* Applies rule text through descriptors of its own, closed again after, as the daemon does. */
static int apply_dup(struct fixture *f, const char *const *text, size_t n, struct acl_maps *keep)
{
	struct fixture g = *f;
	int ret;

	maps_dup(&f->maps, &g.maps);
	ret = apply_text(&g, text, n);
	if (keep)
		*keep = g.maps;
	else
		acl_maps__close(&g.maps);
	return ret;
}

/*
 * Two acl stages in one process (a daemon with two interfaces), each update
 * through descriptors opened for it: one stage's update never writes into the
 * other's maps (a mirror once kept the first update's descriptors, and their
 * numbers came back as the other stage's), and a process that did not write
 * the maps reads them back first.
 */
static void test_two_stages_fresh_fds(void **state)
{
	static const char *const ports[] = { "drop id 10 proto udp dport 9" };
	static const char *const hosts[] = {
		"drop id 10 proto udp dport 9",
		"drop id 77 proto tcp src 10.0.0.100,10.0.7.179 dport 22",
	};
	static const char *const more[] = {
		"drop id 10 proto udp dport 9",
		"drop id 77 proto tcp src 10.0.0.100,10.0.7.179 dport 22",
		"drop id 78 src 10.9.0.0/16",
	};
	const struct pk host = { AF_INET, "10.0.7.179", "10.0.0.2", IPPROTO_TCP, 1000, 22, TCP_SYN };
	const struct pk net = { AF_INET, "10.9.3.4", "10.0.0.2", IPPROTO_UDP, 1000, 53 };
	struct acl_maps held;
	struct fixture a, b;
	int len;

	/* The bitmaps and tries, as for a large set (a small one is matched without them). */
	acl__set_small_max(0);
	assert_int_equal(fixture_load(&a, XDP_PASS), 0);
	assert_int_equal(fixture_load(&b, XDP_PASS), 0);
	assert_int_equal(apply_dup(&a, ports, 1, NULL), 0);
	/* a's first descriptors are closed: b's copies take their numbers. */
	assert_int_equal(apply_dup(&b, ports, 1, &held), 0);
	assert_int_equal(apply_dup(&a, hosts, 2, NULL), 0);
	assert_int_equal(run_pk(&a, &host, &len).retval, XDP_DROP);
	assert_int_equal(run_pk(&b, &host, &len).retval, CONT);
	acl_maps__close(&held);
	assert_int_equal(apply_dup(&a, more, 3, NULL), 0);
	assert_int_equal(run_pk(&a, &net, &len).retval, XDP_DROP);
	assert_int_equal(run_pk(&b, &net, &len).retval, CONT);
	mirror_stale(&b);
	assert_int_equal(apply_dup(&b, more, 3, NULL), 0);
	assert_int_equal(run_pk(&b, &host, &len).retval, XDP_DROP);
	assert_int_equal(apply_dup(&a, ports, 1, NULL), 0);
	assert_int_equal(run_pk(&a, &host, &len).retval, CONT);
	assert_int_equal(run_pk(&a, &net, &len).retval, CONT);
	assert_int_equal(run_pk(&b, &net, &len).retval, XDP_DROP);
	acl_bpf__destroy(a.skel);
	acl_bpf__destroy(b.skel);
}

/* A test that failed inside an update must not leave its hook or mode to the next. */
static int reset(void **state)
{
	acl__set_step_hook(NULL, NULL);
	acl__set_small_max(SLUICE_ACL_SMALL_MAX);
	return 0;
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_parse_format, reset),
		cmocka_unit_test_teardown(test_first_match_prefixes_ports_flags_hits, reset),
		cmocka_unit_test_teardown(test_default_drop_and_empty_set, reset),
		cmocka_unit_test_teardown(test_fields, reset),
		cmocka_unit_test_teardown(test_sparse_words, reset),
		cmocka_unit_test_teardown(test_count_once, reset),
		cmocka_unit_test_teardown(test_no_prefix, reset),
		cmocka_unit_test_teardown(test_replace, reset),
		cmocka_unit_test_teardown(test_two_phase, reset),
		cmocka_unit_test_teardown(test_one_rule_changes, reset),
		cmocka_unit_test_teardown(test_100k_prefixes, reset),
		cmocka_unit_test_teardown(test_rxvlan, reset),
		cmocka_unit_test(test_long_rule_text),
		cmocka_unit_test_teardown(test_two_stages_fresh_fds, reset),
	};

	libbpf_set_print(NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
