/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The acl stage: ordered rules, first match wins.
 *
 * A packet first reads the live summary (two array lookups, inlined by the
 * verifier). It says how to match and what to read:
 *   - EMPTY: no rule; the default action, nothing read from the frame.
 *   - SMALL: up to SLUICE_ACL_SMALL_MAX entries, each a whole rule with at
 *     most one prefix per address, tested in order in one bounded loop: no
 *     helper call, no LPM lookup. Sets of a few rules cost a few ns.
 *   - BITMAP: each LPM trie maps a prefix to the bitmap of rules whose prefix
 *     contains it (lib/acl.c precomputes the containment). One lookup per
 *     address the rules name, ANDed with the summary's bitmaps of rules that
 *     name no prefix there, leaves the candidates, tested in position order
 *     by a bpf_loop that costs one step per candidate. A side no rule names
 *     costs no lookup.
 * Frame fields only some rules use (MAC, VLAN, ICMP, ND target) are read
 * only when the summary says a rule needs them.
 *
 * Rules change by map writes only; lib/acl.c says in what order, so that a
 * packet sees the old rule set or the new one, never a mix.
 */
#ifndef SLUICE_BPF_ACL_H
#define SLUICE_BPF_ACL_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>
#include <sluice/abi.h>
#include <sluice/stage.bpf.h>

/* Farther than any L2 header the parse stage accepts: bounds l3_off for the verifier. */
#define SLUICE_ACL_L3_OFF_MAX	256
/* Bounds l4_off: past IPv4 options or 8 IPv6 extension headers, parse reads no L4. */
#define SLUICE_ACL_L4_OFF_MAX	0x3fff
/* Index in sluice_acl_hits of packets that matched no rule. */
#define SLUICE_ACL_HITS_DEFAULT	SLUICE_ACL_MAX_RULES

#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6		58	/* linux/in6.h: not included by linux/in.h */
#endif
#define SLUICE_ACL_ICMP6_NS	135
#define SLUICE_ACL_ICMP6_NA	136

/*
 * Rules by position (the bitmap mode's). Configuration maps are
 * BPF_F_RDONLY_PROG: the verifier holds the stage to reading them, and a
 * pre-flight may share them instead of copying.
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

/*
 * Which summary is live. Userspace writes it through mmap, the one way to
 * make the switch a single atomic store (a map update is a memcpy); a
 * writable mmap rules out BPF_F_RDONLY_PROG.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sluice_acl_ctl);
} sluice_acl_ctl SEC(".maps");

/* The summaries: one live, the others written while idle. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_RDONLY_PROG);
	__uint(max_entries, SLUICE_ACL_SLOTS);
	__type(key, __u32);
	__type(value, struct sluice_acl_summary);
} sluice_acl_sum SEC(".maps");

#define SLUICE_ACL_TRIE(name, key_type)						\
	struct {								\
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);				\
		__uint(max_entries, SLUICE_ACL_MAX_PREFIXES);			\
		__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_RDONLY_PROG);	\
		__type(key, key_type);						\
		__type(value, struct sluice_acl_bitmap);			\
	} name SEC(".maps")

/* Prefix -> rules whose prefix on that side contains it (enum sluice_acl_trie). */
SLUICE_ACL_TRIE(sluice_acl_src4, struct sluice_lpm4_key);
SLUICE_ACL_TRIE(sluice_acl_dst4, struct sluice_lpm4_key);
SLUICE_ACL_TRIE(sluice_acl_src6, struct sluice_lpm6_key);
SLUICE_ACL_TRIE(sluice_acl_dst6, struct sluice_lpm6_key);
SLUICE_ACL_TRIE(sluice_acl_nd6, struct sluice_lpm6_key);

/* Verdict when no rule matches: XDP_PASS goes on to the next stage. */
const volatile __u32 default_action = XDP_PASS;

/* The frame as rules see it; addresses only when some rule needs them. */
struct sluice_acl_pkt {
	__u64 addr[SLUICE_ACL_NR_ADDRS][2];	/* as in the frame; IPv4 in the first 4 bytes */
	__u64 smac, dmac;
	__u32 have;			/* SLUICE_ACL_N_* whose headers the frame has */
	__u16 sport, dport;
	__u16 vlan, ivlan;
	__u8 kind;			/* one SLUICE_ACL_K_* */
	__u8 proto, tcp_flags, icmp_type, icmp_code;
	__u8 pad[3];
};

/* Everything the bitmap scan needs, on the stack so the bpf_loop callback can reach it. */
struct sluice_acl_scan {
	struct sluice_acl_bitmap cand;
	struct sluice_acl_pkt p;
	__u64 bits;			/* candidates left in cand.w[word] */
	__u32 word;			/* cand.words keeps the words not yet visited */
	__u32 len;			/* frame bytes, for the hit counters */
	__u32 hit;			/* position + 1 of the deciding rule */
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

/* Everything but prefixes. The first two tests reject most rules that do not apply. */
static __always_inline int sluice_acl_match(const struct sluice_acl_match *r,
					    const struct sluice_acl_pkt *p)
{
	__u32 need = r->need;

	if (!(r->kinds & p->kind) || (need & ~p->have))
		return 0;
	if ((need & SLUICE_ACL_N_PROTO) && r->proto != p->proto)
		return 0;
	if ((need & SLUICE_ACL_N_PORTS) &&
	    (p->sport < r->sport_lo || p->sport > r->sport_hi ||
	     p->dport < r->dport_lo || p->dport > r->dport_hi))
		return 0;
	if ((need & SLUICE_ACL_N_TCP_FLAGS) &&
	    (p->tcp_flags & r->tcp_flags_mask) != r->tcp_flags_value)
		return 0;
	if (!(need & SLUICE_ACL_N_EXT))
		return 1;
	if ((need & SLUICE_ACL_N_ICMP_TYPE) && p->icmp_type != r->icmp_type)
		return 0;
	if ((need & SLUICE_ACL_N_ICMP_CODE) && p->icmp_code != r->icmp_code)
		return 0;
	if ((need & SLUICE_ACL_N_SRC_MAC) && (p->smac & r->src_mac_mask) != r->src_mac)
		return 0;
	if ((need & SLUICE_ACL_N_DST_MAC) && (p->dmac & r->dst_mac_mask) != r->dst_mac)
		return 0;
	if ((need & SLUICE_ACL_N_VLAN) && (p->vlan < r->vlan_lo || p->vlan > r->vlan_hi))
		return 0;
	if ((need & SLUICE_ACL_N_VLAN_INNER) && (p->ivlan < r->ivlan_lo || p->ivlan > r->ivlan_hi))
		return 0;
	return 1;
}

static __always_inline int sluice_acl_addr_in(const __u64 *a, const __u64 *v, const __u64 *m)
{
	return !(((a[0] ^ v[0]) & m[0]) | ((a[1] ^ v[1]) & m[1]));
}

static __always_inline void sluice_acl_count(__u32 pos, __u32 len)
{
	struct sluice_acl_hits *h = bpf_map_lookup_elem(&sluice_acl_hits, &pos);

	if (h) {
		h->packets++;
		h->bytes += len;
	}
}

/*
 * Reads what the summary's rules need from the frame into p. Whatever a
 * frame lacks (a header, or the bytes of one) stays out of p->have, so no
 * rule needing it can match.
 */
/* len bytes at off, or NULL when the frame is shorter. The bound on off keeps the verifier's range finite. */
static __always_inline __u8 *sluice_acl_bytes(void *data, void *data_end, __u32 off, __u32 len)
{
	__u8 *h;

	if (off > SLUICE_ACL_L4_OFF_MAX)
		return NULL;
	h = data + off;
	if ((void *)(h + len) > data_end)
		return NULL;
	return h;
}

/*
 * Reads what the summary's rules need from the frame into p. Whatever a
 * frame lacks (a header, or the bytes of one) stays out of p->have, so no
 * rule needing it can match.
 */
static __always_inline void sluice_acl_pkt_read(struct xdp_md *ctx, const struct sluice_meta *m,
						__u32 fields, struct sluice_acl_pkt *p)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 l3 = m->l3_off, l4 = m->l4_off;
	bool addrs = fields & (SLUICE_ACL_N_SRC | SLUICE_ACL_N_DST);
	__u8 *h;

	p->kind = SLUICE_ACL_K_OTHER;
	p->have = SLUICE_ACL_N_PROTO;
	p->proto = m->l4_proto;
	if (m->l3_proto == ETH_P_IP) {
		h = sluice_acl_bytes(data, data_end, l3, 20);
		if (h && l3) {
			p->kind = SLUICE_ACL_K_IP4;
			p->have |= SLUICE_ACL_N_SRC | SLUICE_ACL_N_DST;
			if (addrs) {
				__builtin_memcpy(&p->addr[SLUICE_ACL_A_SRC][0], h + 12, 4);
				__builtin_memcpy(&p->addr[SLUICE_ACL_A_DST][0], h + 16, 4);
			}
		}
	} else if (m->l3_proto == ETH_P_IPV6) {
		h = sluice_acl_bytes(data, data_end, l3, 40);
		if (h && l3) {
			p->kind = SLUICE_ACL_K_IP6;
			p->have |= SLUICE_ACL_N_SRC | SLUICE_ACL_N_DST;
			if (addrs) {
				__builtin_memcpy(p->addr[SLUICE_ACL_A_SRC], h + 8, 16);
				__builtin_memcpy(p->addr[SLUICE_ACL_A_DST], h + 24, 16);
			}
		}
	} else if (m->flags & SLUICE_PKT_ARP) {
		p->kind = SLUICE_ACL_K_ARP;
		p->proto = 0;
		/* Ethernet/IPv4 ARP (htype 1, ptype 0x0800, hlen 6, plen 4): addresses at 14 and 24. */
		h = addrs ? sluice_acl_bytes(data, data_end, l3, 28) : NULL;
		if (h && l3 && h[0] == 0 && h[1] == 1 && h[2] == 0x08 && h[3] == 0 && h[4] == 6 &&
		    h[5] == 4) {
			__builtin_memcpy(&p->addr[SLUICE_ACL_A_SRC][0], h + 14, 4);
			__builtin_memcpy(&p->addr[SLUICE_ACL_A_DST][0], h + 24, 4);
			p->have |= SLUICE_ACL_N_SRC | SLUICE_ACL_N_DST;
		}
	}
	/* Parse reads no L4 header of a later fragment, nor one cut short: no l4_off. */
	if (!l4 || (m->flags & SLUICE_PKT_FRAG_LATER) || p->kind > SLUICE_ACL_K_IP6)
		goto l2;
	if (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP || p->proto == IPPROTO_SCTP) {
		p->sport = m->sport;
		p->dport = m->dport;
		p->have |= SLUICE_ACL_N_PORTS;
		if (p->proto == IPPROTO_TCP) {
			p->tcp_flags = m->tcp_flags;
			p->have |= SLUICE_ACL_N_TCP_FLAGS;
		}
	} else if (p->proto == IPPROTO_ICMP || p->proto == IPPROTO_ICMPV6) {
		/* parse keeps ICMP type << 8 | code in dport */
		p->icmp_type = m->dport >> 8;
		p->icmp_code = m->dport & 0xff;
		p->have |= SLUICE_ACL_N_ICMP_TYPE | SLUICE_ACL_N_ICMP_CODE;
		if ((fields & (SLUICE_ACL_N_ND | SLUICE_ACL_N_ND_TARGET)) && p->kind == SLUICE_ACL_K_IP6 &&
		    (p->icmp_type == SLUICE_ACL_ICMP6_NS || p->icmp_type == SLUICE_ACL_ICMP6_NA)) {
			/* NS and NA: 4 bytes of header, 4 reserved, then the target */
			h = sluice_acl_bytes(data, data_end, l4, 24);
			if (h) {
				__builtin_memcpy(p->addr[SLUICE_ACL_A_ND], h + 8, 16);
				p->have |= SLUICE_ACL_N_ND | SLUICE_ACL_N_ND_TARGET;
			}
		}
	}
l2:
	if (fields & (SLUICE_ACL_N_SRC_MAC | SLUICE_ACL_N_DST_MAC)) {
		h = sluice_acl_bytes(data, data_end, 0, ETH_HLEN);
		if (h) {
			__builtin_memcpy(&p->dmac, h, 6);
			__builtin_memcpy(&p->smac, h + 6, 6);
			p->have |= SLUICE_ACL_N_SRC_MAC | SLUICE_ACL_N_DST_MAC;
		}
	}
	if ((fields & (SLUICE_ACL_N_VLAN | SLUICE_ACL_N_VLAN_INNER)) && m->vlans) {
		p->vlan = m->vlan_id;
		p->have |= SLUICE_ACL_N_VLAN;
		/* parse read both tags: the inner TCI is at 18 */
		h = m->vlans > 1 ? sluice_acl_bytes(data, data_end, 0, 22) : NULL;
		if (h) {
			p->ivlan = ((__u16)h[18] << 8 | h[19]) & 0x0fff;
			p->have |= SLUICE_ACL_N_VLAN_INNER;
		}
	}
}

/* ---- small mode ---- */

/* Returns the position + 1 of the deciding entry's rule (0: none) and its action. */
static __always_inline __u32 sluice_acl_small_scan(const struct sluice_acl_summary *sum,
						   const struct sluice_acl_pkt *p, __u32 len,
						   __u8 *action)
{
	__u32 n = sum->nr_small, i;

	for (i = 0; i < SLUICE_ACL_SMALL_MAX; i++) {
		const struct sluice_acl_small *e = &sum->small[i];
		__u32 need;

		if (i >= n)
			break;
		if (!sluice_acl_match(&e->m, p))
			continue;
		need = e->m.need;
		if ((need & SLUICE_ACL_N_SRC) &&
		    !sluice_acl_addr_in(p->addr[SLUICE_ACL_A_SRC], e->addr[SLUICE_ACL_A_SRC],
					e->mask[SLUICE_ACL_A_SRC]))
			continue;
		if ((need & SLUICE_ACL_N_DST) &&
		    !sluice_acl_addr_in(p->addr[SLUICE_ACL_A_DST], e->addr[SLUICE_ACL_A_DST],
					e->mask[SLUICE_ACL_A_DST]))
			continue;
		if ((need & SLUICE_ACL_N_ND_TARGET) &&
		    !sluice_acl_addr_in(p->addr[SLUICE_ACL_A_ND], e->addr[SLUICE_ACL_A_ND],
					e->mask[SLUICE_ACL_A_ND]))
			continue;
		sluice_acl_count(e->pos, len);
		if (e->m.action == SLUICE_ACL_COUNT)
			continue;
		*action = e->m.action;
		return e->pos + 1;
	}
	return 0;
}

/* ---- bitmap mode ---- */

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
	struct sluice_acl_rule *r;
	__u32 pos;
	__u64 bit;

	if (!s->bits) {
		s->cand.words &= s->cand.words - 1;
		if (!s->cand.words)
			return 1;
		s->word = sluice_acl_bit_index(s->cand.words & -s->cand.words);
		s->bits = s->cand.w[s->word & (SLUICE_ACL_WORDS - 1)];
		if (!s->bits)
			return 0;	/* the masks overstated the word */
	}
	bit = s->bits & -s->bits;
	s->bits &= s->bits - 1;
	pos = (s->word & (SLUICE_ACL_WORDS - 1)) * 64 + sluice_acl_bit_index(bit);
	r = bpf_map_lookup_elem(&sluice_acl_rules, &pos);
	if (!r || !sluice_acl_match(&r->m, &s->p))
		return 0;
	sluice_acl_count(pos, s->len);
	if (r->m.action == SLUICE_ACL_COUNT)
		return 0;
	s->hit = pos + 1;
	s->action = r->m.action;
	return 1;
}

/*
 * The candidates of one address: rules whose prefix in trie t contains it
 * (if the trie is worth a lookup), live ones only, and the rules that name
 * no prefix there. The first side sets cand, the others AND into it.
 */
static __always_inline void sluice_acl_side(struct sluice_acl_scan *s,
					    const struct sluice_acl_summary *sum, __u32 t,
					    void *trie, void *key, int first)
{
	const struct sluice_acl_bitmap *any, *v = NULL;
	__u32 words;
	int i;

	if (t >= SLUICE_ACL_NR_TRIES)
		return;
	any = &sum->any[t];
	if (sum->tries & (1u << t))
		v = bpf_map_lookup_elem(trie, key);
	if (v) {
		words = (v->words & sum->live.words) | any->words;
#pragma unroll
		for (i = 0; i < SLUICE_ACL_WORDS; i++) {
			__u64 x = (v->w[i] & sum->live.w[i]) | any->w[i];

			s->cand.w[i] = first ? x : s->cand.w[i] & x;
		}
	} else {
		words = any->words;
#pragma unroll
		for (i = 0; i < SLUICE_ACL_WORDS; i++)
			s->cand.w[i] = first ? any->w[i] : s->cand.w[i] & any->w[i];
	}
	s->cand.words = first ? words : s->cand.words & words;
}

static __always_inline void sluice_acl_cand(struct sluice_acl_scan *s,
					    const struct sluice_acl_summary *sum)
{
	struct sluice_acl_pkt *p = &s->p;
	int i;

	if (p->kind == SLUICE_ACL_K_OTHER) {
		s->cand = sum->other;
		return;
	}
	if (p->kind == SLUICE_ACL_K_ARP && !(p->have & SLUICE_ACL_N_SRC)) {
		/* An ARP frame without IPv4 addresses: the rules that name none. */
		const struct sluice_acl_bitmap *a = &sum->any[SLUICE_ACL_T_SRC4];
		const struct sluice_acl_bitmap *b = &sum->any[SLUICE_ACL_T_DST4];

#pragma unroll
		for (i = 0; i < SLUICE_ACL_WORDS; i++)
			s->cand.w[i] = a->w[i] & b->w[i];
		s->cand.words = a->words & b->words;
		return;
	}
	if (p->kind != SLUICE_ACL_K_IP6) {
		struct sluice_lpm4_key src = { .prefixlen = 32 }, dst = { .prefixlen = 32 };

		src.addr = (__u32)p->addr[SLUICE_ACL_A_SRC][0];
		dst.addr = (__u32)p->addr[SLUICE_ACL_A_DST][0];
		sluice_acl_side(s, sum, SLUICE_ACL_T_SRC4, &sluice_acl_src4, &src, 1);
		sluice_acl_side(s, sum, SLUICE_ACL_T_DST4, &sluice_acl_dst4, &dst, 0);
		return;
	}
	{
		struct sluice_lpm6_key k = { .prefixlen = 128 };

		__builtin_memcpy(k.addr, p->addr[SLUICE_ACL_A_SRC], 16);
		sluice_acl_side(s, sum, SLUICE_ACL_T_SRC6, &sluice_acl_src6, &k, 1);
		__builtin_memcpy(k.addr, p->addr[SLUICE_ACL_A_DST], 16);
		sluice_acl_side(s, sum, SLUICE_ACL_T_DST6, &sluice_acl_dst6, &k, 0);
		if (p->have & SLUICE_ACL_N_ND_TARGET) {
			__builtin_memcpy(k.addr, p->addr[SLUICE_ACL_A_ND], 16);
			sluice_acl_side(s, sum, SLUICE_ACL_T_ND6, &sluice_acl_nd6, &k, 0);
		}
	}
}

static __always_inline __u32 sluice_acl_bitmap_scan(const struct sluice_acl_summary *sum,
						    struct sluice_acl_scan *s)
{
	sluice_acl_cand(s, sum);
	if (!s->cand.words)
		return 0;
	/* One step per candidate, and per word the masks overstate. */
	s->word = sluice_acl_bit_index(s->cand.words & -s->cand.words);
	s->bits = s->cand.w[s->word & (SLUICE_ACL_WORDS - 1)];
	bpf_loop(SLUICE_ACL_MAX_RULES + SLUICE_ACL_WORDS, sluice_acl_scan_step, s, 0);
	return s->hit;
}

static __always_inline int sluice_acl_run(struct xdp_md *ctx, struct sluice_meta *m)
{
	struct sluice_acl_summary *sum;
	struct sluice_acl_ctl *ctl;
	/* One frame for both modes: stages inlined into one program share 512 bytes of stack. */
	struct sluice_acl_scan s;
	__u32 zero = 0, sel, fields;

	s.len = ctx->data_end - ctx->data;
	s.hit = 0;
	ctl = bpf_map_lookup_elem(&sluice_acl_ctl, &zero);
	if (!ctl)
		goto dflt;
	/* One load: the slot a writer switched to last (lib/acl.c never rewrites it while live). */
	sel = *(volatile __u32 *)&ctl->sel & (SLUICE_ACL_SLOTS - 1);
	sum = bpf_map_lookup_elem(&sluice_acl_sum, &sel);
	if (!sum || sum->mode == SLUICE_ACL_MODE_EMPTY)
		goto dflt;
	__builtin_memset(&s.p, 0, sizeof(s.p));
	fields = sum->fields;
	if (sum->mode == SLUICE_ACL_MODE_SMALL) {
		sluice_acl_pkt_read(ctx, m, fields, &s.p);
		s.hit = sluice_acl_small_scan(sum, &s.p, s.len, &s.action);
	} else {
		/* Addresses are read only when a trie may hold them. */
		if (sum->tries)
			fields |= SLUICE_ACL_N_SRC | SLUICE_ACL_N_DST;
		sluice_acl_pkt_read(ctx, m, fields, &s.p);
		s.action = 0;
		sluice_acl_bitmap_scan(sum, &s);
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
dflt:
	sluice_acl_count(SLUICE_ACL_HITS_DEFAULT, s.len);
	return default_action == XDP_PASS ? SLUICE_CONTINUE : (int)default_action;
}

#endif /* SLUICE_BPF_ACL_H */
