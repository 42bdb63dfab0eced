/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The acl stage: ordered rules, first match wins.
 *
 * Prefixes are not tested rule by rule. Each of the four LPM tries maps a
 * prefix to the bitmap of rule positions whose prefix contains it (userspace,
 * lib/acl.c, precomputes the containment, and a rule with no prefix on one
 * side sits in that side's /0 entry). One lookup per side and an AND leave the
 * candidate rules; only those are tested for protocol, ports and TCP flags,
 * in position order, so the cost grows with the candidates, not the rule set.
 *
 * Rules change by map updates only; see lib/acl.c for the update order that
 * lets packets in flight see the old set or the new one, never a third.
 */
#ifndef SLUICE_BPF_ACL_H
#define SLUICE_BPF_ACL_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <sluice/abi.h>
#include <sluice/stage.bpf.h>

/* Farther than any L2 header the parse stage accepts: bounds l3_off for the verifier. */
#define SLUICE_ACL_L3_OFF_MAX	256
/* Index in sluice_acl_hits of packets that matched no rule. */
#define SLUICE_ACL_HITS_DEFAULT	SLUICE_ACL_MAX_RULES

/*
 * Rules by position: a position is live when some trie bitmap names it.
 * Configuration maps are BPF_F_RDONLY_PROG: the verifier holds the stage to
 * reading them, and a pre-flight may share them instead of copying.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_RDONLY_PROG);
	__uint(max_entries, SLUICE_ACL_MAX_RULES);
	__type(key, __u32);
	__type(value, struct sluice_acl_rule);
} sluice_acl_rules SEC(".maps");

/* Hits per rule position; the last entry counts packets no rule matched. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_ACL_MAX_RULES + 1);
	__type(key, __u32);
	__type(value, struct sluice_acl_hits);
} sluice_acl_hits SEC(".maps");

/* Positions of the live rule set, kept by userspace only (the stage never reads it). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_RDONLY_PROG);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sluice_acl_bitmap);
} sluice_acl_live SEC(".maps");

/* IPv4 source prefix -> rules whose source contains it. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SLUICE_ACL_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_RDONLY_PROG);
	__type(key, struct sluice_lpm4_key);
	__type(value, struct sluice_acl_bitmap);
} sluice_acl_src4 SEC(".maps");

/* IPv4 destination prefix -> rules whose destination contains it. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SLUICE_ACL_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_RDONLY_PROG);
	__type(key, struct sluice_lpm4_key);
	__type(value, struct sluice_acl_bitmap);
} sluice_acl_dst4 SEC(".maps");

/* IPv6 source prefix -> rules whose source contains it. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SLUICE_ACL_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_RDONLY_PROG);
	__type(key, struct sluice_lpm6_key);
	__type(value, struct sluice_acl_bitmap);
} sluice_acl_src6 SEC(".maps");

/* IPv6 destination prefix -> rules whose destination contains it. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SLUICE_ACL_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_RDONLY_PROG);
	__type(key, struct sluice_lpm6_key);
	__type(value, struct sluice_acl_bitmap);
} sluice_acl_dst6 SEC(".maps");

/* Verdict when no rule matches: XDP_PASS goes on to the next stage. */
const volatile __u32 default_action = XDP_PASS;

/* Everything the scan needs, on the stack so the bpf_loop callback can reach it. */
struct sluice_acl_scan {
	__u64 cand[SLUICE_ACL_WORDS];	/* src bitmap AND dst bitmap */
	__u64 bits;			/* candidates left in cand[word] */
	__u32 words;			/* bit w: cand[w] may hold candidates; the lowest is word */
	__u32 word;
	__u32 len;			/* frame bytes, for the hit counters */
	__u32 hit;			/* position + 1 of the deciding rule */
	__u16 sport, dport;
	__u8 proto, tcp_flags, family;
	__u8 ported;			/* sport and dport are real ports */
	__u8 action;
};

/* Index of the only set bit: a SWAR popcount of the bits below it (clang 14 cannot lower cttz for BPF). */
static __always_inline __u32 sluice_acl_bit_index(__u64 bit)
{
	__u64 v = bit - 1;

	v = v - ((v >> 1) & 0x5555555555555555ULL);
	v = (v & 0x3333333333333333ULL) + ((v >> 2) & 0x3333333333333333ULL);
	v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (v * 0x0101010101010101ULL) >> 56;
}

static __always_inline int sluice_acl_rule_match(const struct sluice_acl_rule *r,
						 const struct sluice_acl_scan *s)
{
	if (r->family && r->family != s->family)
		return 0;
	if (r->proto && r->proto != s->proto)
		return 0;
	/* A port range never matches ICMP codes or a fragment without L4 header. */
	if (!s->ported && (r->sport_lo || r->dport_lo || (r->sport_hi & r->dport_hi) != 0xffff))
		return 0;
	if (s->sport < r->sport_lo || s->sport > r->sport_hi)
		return 0;
	if (s->dport < r->dport_lo || s->dport > r->dport_hi)
		return 0;
	return (s->tcp_flags & r->tcp_flags_mask) == r->tcp_flags_value;
}

/*
 * One step of the scan tests the lowest candidate left, first moving to the
 * next word that may hold one: words where either side names no rule cost
 * nothing, so a lone match at position 999 takes one step, not sixteen.
 * Straight-line code, so the verifier checks it once however many rules
 * there are. Returns 1 to stop.
 */
static long sluice_acl_scan_step(__u32 i, void *ctx)
{
	struct sluice_acl_scan *s = ctx;
	struct sluice_acl_hits *h;
	struct sluice_acl_rule *r;
	__u32 w, pos;
	__u64 bit;

	if (!s->bits) {
		s->words &= s->words - 1;
		if (!s->words)
			return 1;
		s->word = sluice_acl_bit_index(s->words & -s->words);
		s->bits = s->cand[s->word & (SLUICE_ACL_WORDS - 1)];
		if (!s->bits)
			return 0;	/* both sides had rules in the word, none in common */
	}
	w = s->word;
	bit = s->bits & -s->bits;
	s->bits &= s->bits - 1;
	pos = (w & (SLUICE_ACL_WORDS - 1)) * 64 + sluice_acl_bit_index(bit);
	r = bpf_map_lookup_elem(&sluice_acl_rules, &pos);
	if (!r || !sluice_acl_rule_match(r, s))
		return 0;
	h = bpf_map_lookup_elem(&sluice_acl_hits, &pos);
	if (h) {
		h->packets++;
		h->bytes += s->len;
	}
	if (r->action == SLUICE_ACL_COUNT)
		return 0;
	s->hit = pos + 1;
	s->action = r->action;
	return 1;
}

/*
 * ANDs the two sides' bitmaps into the scan; a side with no entry matches no
 * rule. The words masks (kept by lib/acl.c) AND into the words that may hold
 * candidates: a word in both whose AND is empty costs the scan one step.
 */
static __always_inline int sluice_acl_cand(struct sluice_acl_scan *s,
					   const struct sluice_acl_bitmap *a,
					   const struct sluice_acl_bitmap *b)
{
	int i;

	if (!a || !b)
		return 0;
#pragma unroll
	for (i = 0; i < SLUICE_ACL_WORDS; i++)
		s->cand[i] = a->w[i] & b->w[i];
	s->words = a->words & b->words;
	return s->words != 0;
}

/* Candidates of a packet with no IP header: rules with no prefix and family "any". */
static __always_inline int sluice_acl_cand_nonip(struct sluice_acl_scan *s)
{
	struct sluice_lpm4_key k4 = {};
	struct sluice_lpm6_key k6 = {};
	struct sluice_acl_bitmap *a, *b, *c, *d;
	int i;

	a = bpf_map_lookup_elem(&sluice_acl_src4, &k4);
	b = bpf_map_lookup_elem(&sluice_acl_dst4, &k4);
	c = bpf_map_lookup_elem(&sluice_acl_src6, &k6);
	d = bpf_map_lookup_elem(&sluice_acl_dst6, &k6);
	if (!a || !b || !c || !d)
		return 0;
#pragma unroll
	for (i = 0; i < SLUICE_ACL_WORDS; i++)
		s->cand[i] = a->w[i] & b->w[i] & c->w[i] & d->w[i];
	s->words = a->words & b->words & c->words & d->words;
	return s->words != 0;
}

static __always_inline int sluice_acl_cand_ip(struct xdp_md *ctx, struct sluice_meta *m,
					      struct sluice_acl_scan *s)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 off = m->l3_off;
	__u8 *l3;

	if (!off || off > SLUICE_ACL_L3_OFF_MAX)
		return -1;
	l3 = data + off;
	if (m->l3_proto == ETH_P_IP) {
		struct sluice_lpm4_key src = { .prefixlen = 32 }, dst = { .prefixlen = 32 };

		/* saddr and daddr: bytes 12..19 of the IPv4 header */
		if ((void *)(l3 + 20) > data_end)
			return -1;
		__builtin_memcpy(&src.addr, l3 + 12, 4);
		__builtin_memcpy(&dst.addr, l3 + 16, 4);
		s->family = 4;
		return sluice_acl_cand(s, bpf_map_lookup_elem(&sluice_acl_src4, &src),
				       bpf_map_lookup_elem(&sluice_acl_dst4, &dst));
	}
	if (m->l3_proto == ETH_P_IPV6) {
		struct sluice_lpm6_key src = { .prefixlen = 128 }, dst = { .prefixlen = 128 };

		/* saddr and daddr: bytes 8..39 of the IPv6 header */
		if ((void *)(l3 + 40) > data_end)
			return -1;
		__builtin_memcpy(src.addr, l3 + 8, 16);
		__builtin_memcpy(dst.addr, l3 + 24, 16);
		s->family = 6;
		return sluice_acl_cand(s, bpf_map_lookup_elem(&sluice_acl_src6, &src),
				       bpf_map_lookup_elem(&sluice_acl_dst6, &dst));
	}
	return -1;
}

static __always_inline int sluice_acl_run(struct xdp_md *ctx, struct sluice_meta *m)
{
	struct sluice_acl_scan s = {};
	struct sluice_acl_hits *h;
	__u32 dflt = SLUICE_ACL_HITS_DEFAULT;
	int found;

	s.len = ctx->data_end - ctx->data;
	s.proto = m->l4_proto;
	s.sport = m->sport;
	s.dport = m->dport;
	s.tcp_flags = m->tcp_flags;
	s.ported = (s.proto == IPPROTO_TCP || s.proto == IPPROTO_UDP || s.proto == IPPROTO_SCTP) &&
		   !(m->flags & SLUICE_PKT_FRAG_LATER);
	found = sluice_acl_cand_ip(ctx, m, &s);
	if (found < 0) {
		s.family = 0;
		found = sluice_acl_cand_nonip(&s);
	}
	if (found) {
		/* One step per candidate, and per word the masks overstate. */
		s.word = s.words & 1 ? 0 : sluice_acl_bit_index(s.words & -s.words);
		s.bits = s.cand[s.word & (SLUICE_ACL_WORDS - 1)];
		bpf_loop(SLUICE_ACL_MAX_RULES + SLUICE_ACL_WORDS, sluice_acl_scan_step, &s, 0);
	}
	if (s.hit) {
		m->rule = s.hit;
		switch (s.action) {
		case SLUICE_ACL_DROP:
			return XDP_DROP;
		case SLUICE_ACL_XSK:
			m->flags |= SLUICE_PKT_XSK;
			return SLUICE_CONTINUE;
		default:
			return SLUICE_CONTINUE;
		}
	}
	h = bpf_map_lookup_elem(&sluice_acl_hits, &dflt);
	if (h) {
		h->packets++;
		h->bytes += s.len;
	}
	return default_action == XDP_PASS ? SLUICE_CONTINUE : (int)default_action;
}

#endif /* SLUICE_BPF_ACL_H */
