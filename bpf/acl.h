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
 *     address the rules name; with the summary's bitmaps of the rules that
 *     name no prefix there, they give the candidates, tested in position
 *     order by a bpf_loop that costs one step per candidate. The bitmaps
 *     are combined a 64-bit word at a time, only for the words the scan
 *     visits. A side no rule names costs no lookup.
 * Every rule's kind, protocol, TCP flags, ICMP type and code, and which
 * headers it needs, are one masked 64-bit compare against the frame's key.
 * Frame fields only some rules use (MAC, VLAN, addresses of a small table)
 * are read only when the summary says a rule needs them, and tested behind
 * one test of the rule's need.
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
#include <stddef.h>
#include <bpf/bpf_helpers.h>
#include <sluice/abi.h>
#include <sluice/stage.bpf.h>

/* Farther than any L2 header the parse stage accepts: bounds l3_off for the verifier. */
#define SLUICE_ACL_L3_OFF_MAX	256
/* Bounds l4_off: past IPv4 options or 8 IPv6 extension headers, parse reads no L4. */
#define SLUICE_ACL_L4_OFF_MAX	0x3fff
/* Index in sluice_acl_hits of packets that matched no rule. */
#define SLUICE_ACL_HITS_DEFAULT	SLUICE_ACL_POSITIONS

#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6		58	/* linux/in6.h: not included by linux/in.h */
#endif
/*
 * The first 6 bytes of an Ethernet/IPv4 ARP header (00 01 08 00 06 04) as a
 * little-endian load: sluice is x86-64 only, and MAC addresses are compared
 * as loaded the same way (lib/acl.c copies them into a __u64).
 */
#define SLUICE_ACL_ARP_ETH_IP4	0x040600080100ULL
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the acl stage compares frame bytes as little-endian loads"
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
	__uint(max_entries, SLUICE_ACL_POSITIONS);
	__type(key, __u32);
	__type(value, struct sluice_acl_rule);
} sluice_acl_rules SEC(".maps");

/* Hits per rule position; the last entry counts packets no rule matched. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_ACL_POSITIONS + 1);
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

/* Hosts (full-length prefixes) by trie and address -> the same bitmaps as the tries'. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * SLUICE_ACL_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_RDONLY_PROG);
	__type(key, struct sluice_acl_host4_key);
	__type(value, struct sluice_acl_bitmap);
} sluice_acl_hosts4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 3 * SLUICE_ACL_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_RDONLY_PROG);
	__type(key, struct sluice_acl_host6_key);
	__type(value, struct sluice_acl_bitmap);
} sluice_acl_hosts6 SEC(".maps");

/* Prefix -> rules whose prefix on that side contains it (enum sluice_acl_trie). */
SLUICE_ACL_TRIE(sluice_acl_src4, struct sluice_lpm4_key);
SLUICE_ACL_TRIE(sluice_acl_dst4, struct sluice_lpm4_key);
SLUICE_ACL_TRIE(sluice_acl_src6, struct sluice_lpm6_key);
SLUICE_ACL_TRIE(sluice_acl_dst6, struct sluice_lpm6_key);
SLUICE_ACL_TRIE(sluice_acl_nd6, struct sluice_lpm6_key);

/* Verdict when no rule matches: XDP_PASS goes on to the next stage. */
const volatile __u32 default_action = XDP_PASS;

/*
 * The frame as rules see it: the key and ports always, the rest when some
 * rule needs it. Every member is a __u64 written whole on every path, so the
 * verifier finds the same kind of stack slot whichever way the frame was
 * read, and prunes.
 */
struct sluice_acl_pkt {
	__u64 key;			/* SLUICE_ACL_KEY_* */
	__u64 ports;			/* sport | dport << 16 | vlan << 32 | inner vlan << 48 */
	__u64 addr[SLUICE_ACL_NR_ADDRS][2];	/* as in the frame; IPv4 in the first 4 bytes */
	__u64 smac, dmac;
};

/*
 * The start of struct sluice_acl_pkt: what the inline scan reads (key,
 * ports, IP source and destination), and all the slow path is handed.
 */
struct sluice_acl_base {
	__u64 key;
	__u64 ports;
	__u64 addr[2][2];
};

#define SLUICE_ACL_SPORT(p)	((__u16)(p)->ports)
#define SLUICE_ACL_DPORT(p)	((__u16)((p)->ports >> 16))
#define SLUICE_ACL_VLAN(p)	((__u16)((p)->ports >> 32))
#define SLUICE_ACL_IVLAN(p)	((__u16)((p)->ports >> 48))

/*
 * Everything the bitmap scan needs, on the stack so the bpf_loop callback
 * can reach it. Candidates of word w: for each side i,
 * (t[i]->w[w] & live->w[w]) | a[i]->w[w], ANDed: the trie's rules that are
 * live, and the rules naming no prefix on that side.
 */
struct sluice_acl_scan {
	const struct sluice_acl_bitmap *t[3], *a[3], *live;
	struct sluice_acl_pkt p;
	__u64 bits;			/* candidates left in word */
	__u32 words;			/* words not yet visited that may hold candidates */
	__u32 word;
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

/*
 * Non-zero when v is outside lo..lo+span, in 16 bits, without a branch: the
 * barrier keeps clang from turning the subtraction back into a compare and
 * select, which is a branch in BPF.
 */
static __always_inline __u64 sluice_acl_out(__u16 v, __u16 lo, __u16 span)
{
	__u64 t = (__u64)span - (__u16)(v - lo);

	asm volatile("" : "+r"(t));
	return t >> 63;
}

/*
 * MAC, VLAN: what the key leaves out, for the few rules that name it. A
 * field a rule does not name has a zero mask or a full range (lib/acl.c),
 * so every term is computed and one test decides: one branch for the
 * verifier to follow, not one per field.
 */
static __always_inline __u64 sluice_acl_slow_miss(const struct sluice_acl_match *r,
						  const struct sluice_acl_pkt *p)
{
	return ((p->smac & r->src_mac_mask) ^ r->src_mac) | ((p->dmac & r->dst_mac_mask) ^ r->dst_mac) |
	       sluice_acl_out(SLUICE_ACL_VLAN(p), r->vlan_lo, r->vlan_span) |
	       sluice_acl_out(SLUICE_ACL_IVLAN(p), r->ivlan_lo, r->ivlan_span);
}

/* Non-zero when the frame's address a is outside the entry's prefix (mask 0: no prefix). */
static __always_inline __u64 sluice_acl_addr_miss(const __u64 *a, const __u64 *v, const __u64 *m)
{
	return ((a[0] ^ v[0]) & m[0]) | ((a[1] ^ v[1]) & m[1]);
}

/* Everything but prefixes, with the frame's key and ports at hand; slow: the frame's MAC and VLAN fields were read. */
static __always_inline int sluice_acl_match_k(const struct sluice_acl_match *r, __u64 key, __u16 sport,
					      __u16 dport, const struct sluice_acl_pkt *p, int slow)
{
	if ((key & r->key_mask) != r->key_val)
		return 0;
	if ((__u16)(sport - r->sport_lo) > r->sport_span || (__u16)(dport - r->dport_lo) > r->dport_span)
		return 0;
	if (!slow || !(r->need & SLUICE_ACL_N_SLOW))
		return 1;
	return !sluice_acl_slow_miss(r, p);
}

static __always_inline int sluice_acl_match(const struct sluice_acl_match *r,
					    const struct sluice_acl_pkt *p, int slow)
{
	return sluice_acl_match_k(r, p->key, SLUICE_ACL_SPORT(p), SLUICE_ACL_DPORT(p), p, slow);
}

static __always_inline void sluice_acl_count(__u32 pos, __u32 len)
{
	struct sluice_acl_hits *h = bpf_map_lookup_elem(&sluice_acl_hits, &pos);

	if (h) {
		h->packets++;
		h->bytes += len;
	}
}

/* len bytes at off, or NULL when the frame is shorter. The bound on off keeps the verifier's range finite. */
static __always_inline __u8 *sluice_acl_bytes(void *data, void *data_end, __u32 off, __u32 len)
{
	__u8 *h;

	if (off > SLUICE_ACL_L4_OFF_MAX)
		return NULL;
	/*
	 * Bound the register the pointer is made from, too: clang may test a
	 * copy, and verifiers before 6.18 then see the full 16 bits and give up
	 * on the bounds check below (umax + len past MAX_PACKET_OFF, seen on 6.1).
	 */
	asm volatile("" : "+r"(off));
	off &= SLUICE_ACL_L4_OFF_MAX;
	h = data + off;
	if ((void *)(h + len) > data_end)
		return NULL;
	return h;
}

/*
 * The frame's key and ports: its kind, the headers it has, protocol, TCP
 * flags, ICMP type and code, from parse's metadata. Whatever a frame lacks
 * (a header, or the bytes of one) stays out of the key's headers, so no rule
 * needing it can match. p may be a struct sluice_acl_pkt, or just its first
 * two members.
 */
static __always_inline __u64 sluice_acl_ld64(const __u8 *h);
static __always_inline __u64 sluice_acl_ld32(const __u8 *h);

static __always_inline __u32 sluice_acl_pkt_base(struct xdp_md *ctx, const struct sluice_meta *m,
						 __u32 fields, struct sluice_acl_base *p)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 l3 = m->l3_off, have = SLUICE_ACL_N_PROTO, kind = SLUICE_ACL_K_OTHER;
	__u32 proto = m->l4_proto, flags = 0, icmp = 0, ports = 0;
	__u64 s0 = 0, s1 = 0, d0 = 0, d1 = 0;
	int addrs = !!(fields & (SLUICE_ACL_N_SRC | SLUICE_ACL_N_DST));
	__u8 *h;

	if (m->l3_proto == ETH_P_IP) {
		h = sluice_acl_bytes(data, data_end, l3, 20);
		if (h && l3) {
			kind = SLUICE_ACL_K_IP4;
			have |= SLUICE_ACL_N_SRC | SLUICE_ACL_N_DST;
			if (addrs) {
				s0 = sluice_acl_ld32(h + 12);
				d0 = sluice_acl_ld32(h + 16);
			}
		}
	} else if (m->l3_proto == ETH_P_IPV6) {
		h = sluice_acl_bytes(data, data_end, l3, 40);
		if (h && l3) {
			kind = SLUICE_ACL_K_IP6;
			have |= SLUICE_ACL_N_SRC | SLUICE_ACL_N_DST;
			if (addrs) {
				s0 = sluice_acl_ld64(h + 8);
				s1 = sluice_acl_ld64(h + 16);
				d0 = sluice_acl_ld64(h + 24);
				d1 = sluice_acl_ld64(h + 32);
			}
		}
	} else if (m->flags & SLUICE_PKT_ARP) {
		kind = SLUICE_ACL_K_ARP;
		proto = 0;
	}
	/* Parse reads no L4 header of a later fragment, nor one cut short: no l4_off. */
	if (kind > SLUICE_ACL_K_IP6 || !m->l4_off || (m->flags & SLUICE_PKT_FRAG_LATER))
		goto out;
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP) {
		ports = m->sport | (__u32)m->dport << 16;
		have |= SLUICE_ACL_N_PORTS;
		if (proto == IPPROTO_TCP) {
			flags = m->tcp_flags;
			have |= SLUICE_ACL_N_TCP_FLAGS;
		}
	} else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		/* parse keeps ICMP type << 8 | code in dport */
		icmp = m->dport;
		have |= SLUICE_ACL_N_ICMP_TYPE | SLUICE_ACL_N_ICMP_CODE;
	}
out:
	p->addr[SLUICE_ACL_A_SRC][0] = s0;
	p->addr[SLUICE_ACL_A_SRC][1] = s1;
	p->addr[SLUICE_ACL_A_DST][0] = d0;
	p->addr[SLUICE_ACL_A_DST][1] = d1;
	p->ports = ports;
	p->key = SLUICE_ACL_KEY_KIND(kind) | SLUICE_ACL_KEY_HAVE(have) | SLUICE_ACL_KEY_PROTO(proto) |
		 SLUICE_ACL_KEY_TCP_FLAGS(flags) | SLUICE_ACL_KEY_ICMP_TYPE(icmp >> 8) |
		 SLUICE_ACL_KEY_ICMP_CODE(icmp & 0xff);
	return kind;
}

/* 8 bytes of the frame at h, as in memory (x86 and the verifier take them unaligned). */
static __always_inline __u64 sluice_acl_ld64(const __u8 *h)
{
	return *(const __u64 *)h;
}

static __always_inline __u64 sluice_acl_ld32(const __u8 *h)
{
	return *(const __u32 *)h;
}

/*
 * What only some rules need (fields), past the base: ARP addresses (in the
 * IP addresses' place), the ND target, MAC addresses, VLAN ids (0 where
 * absent); adds the headers found to the key.
 */
static __always_inline __u32 sluice_acl_pkt_extra(struct xdp_md *ctx, const struct sluice_meta *m,
						  __u32 fields, struct sluice_acl_pkt *p)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 kind = p->key & 0xf, have = 0, icmp_type = (p->key >> 40) & 0xff;
	__u64 n0 = 0, n1 = 0, smac = 0, dmac = 0, vlans = 0;
	__u8 *h;

	if ((fields & (SLUICE_ACL_N_SRC | SLUICE_ACL_N_DST)) && kind == SLUICE_ACL_K_ARP) {
		/* Ethernet/IPv4 ARP: htype 1, ptype 0x0800, hlen 6, plen 4; addresses at 14 and 24. */
		h = sluice_acl_bytes(data, data_end, m->l3_off, 28);
		if (h && (sluice_acl_ld64(h) & 0xffffffffffffULL) == SLUICE_ACL_ARP_ETH_IP4) {
			p->addr[SLUICE_ACL_A_SRC][0] = sluice_acl_ld32(h + 14);
			p->addr[SLUICE_ACL_A_DST][0] = sluice_acl_ld32(h + 24);
			have |= SLUICE_ACL_N_SRC | SLUICE_ACL_N_DST;
		}
	}
	if ((fields & SLUICE_ACL_N_ND) && kind == SLUICE_ACL_K_IP6 &&
	    (p->key & SLUICE_ACL_KEY_HAVE(SLUICE_ACL_N_ICMP_TYPE)) &&
	    (icmp_type == SLUICE_ACL_ICMP6_NS || icmp_type == SLUICE_ACL_ICMP6_NA)) {
		/* NS and NA: 4 bytes of header, 4 reserved, then the target */
		h = sluice_acl_bytes(data, data_end, m->l4_off, 24);
		if (h) {
			n0 = sluice_acl_ld64(h + 8);
			n1 = sluice_acl_ld64(h + 16);
			have |= SLUICE_ACL_N_ND | SLUICE_ACL_N_ND_TARGET;
		}
	}
	if (fields & (SLUICE_ACL_N_SRC_MAC | SLUICE_ACL_N_DST_MAC)) {
		h = sluice_acl_bytes(data, data_end, 0, ETH_HLEN);
		if (h) {
			dmac = sluice_acl_ld32(h) | (sluice_acl_ld32(h + 2) >> 16 << 32);
			smac = sluice_acl_ld32(h + 6) | (sluice_acl_ld32(h + 8) >> 16 << 32);
			have |= SLUICE_ACL_N_SRC_MAC | SLUICE_ACL_N_DST_MAC;
		}
	}
	if ((fields & (SLUICE_ACL_N_VLAN | SLUICE_ACL_N_VLAN_INNER)) && m->vlans) {
		vlans = (__u64)m->vlan_id << 32;
		have |= SLUICE_ACL_N_VLAN;
		/* parse read both tags: the inner TCI is at 18 */
		h = m->vlans > 1 ? sluice_acl_bytes(data, data_end, 0, 22) : NULL;
		if (h) {
			vlans |= (__u64)(((__u16)h[18] << 8 | h[19]) & 0x0fff) << 48;
			have |= SLUICE_ACL_N_VLAN_INNER;
		}
	}
	p->addr[SLUICE_ACL_A_ND][0] = n0;
	p->addr[SLUICE_ACL_A_ND][1] = n1;
	p->smac = smac;
	p->dmac = dmac;
	p->ports = (p->ports & 0xffffffff) | vlans;
	p->key |= SLUICE_ACL_KEY_HAVE(have);
	return have;
}

/* ---- small mode ---- */

/*
 * Tests the entries in order; count entries count and go on. Returns the
 * position + 1 of the deciding entry's rule (0: none) and its action. slow
 * is a constant where inlined: without MAC, VLAN or address fields the loop
 * has no code for them.
 */
/* p may be a struct sluice_acl_base when !slow: the scan then reads no more of it. */
static __always_inline __u32 sluice_acl_small_scan(const struct sluice_acl_summary *sum,
						   const struct sluice_acl_pkt *p, __u32 len,
						   __u8 *action, const int slow)
{
	__u32 n = sum->nr_small, i;
	/* In registers for the whole loop, not reloaded from the stack per entry. */
	__u64 key = p->key;
	__u16 sport = SLUICE_ACL_SPORT(p), dport = SLUICE_ACL_DPORT(p);

#pragma unroll
	for (i = 0; i < SLUICE_ACL_SMALL_MAX; i++) {
		const struct sluice_acl_small *e = &sum->small[i];
		__u32 need;

		if (i >= n)
			break;
		if ((key & e->m.key_mask) != e->m.key_val ||
		    (__u16)(sport - e->m.sport_lo) > e->m.sport_span ||
		    (__u16)(dport - e->m.dport_lo) > e->m.dport_span)
			continue;
		need = e->m.need;
		if (need & SLUICE_ACL_N_SLOW) {
			__u64 miss = sluice_acl_addr_miss(p->addr[SLUICE_ACL_A_SRC], e->addr[SLUICE_ACL_A_SRC],
							  e->mask[SLUICE_ACL_A_SRC]) |
				     sluice_acl_addr_miss(p->addr[SLUICE_ACL_A_DST], e->addr[SLUICE_ACL_A_DST],
							  e->mask[SLUICE_ACL_A_DST]);

			if (slow)
				miss |= sluice_acl_slow_miss(&e->m, p) |
					sluice_acl_addr_miss(p->addr[SLUICE_ACL_A_ND],
							     e->addr[SLUICE_ACL_A_ND],
							     e->mask[SLUICE_ACL_A_ND]);
			if (miss)
				continue;
		}
		sluice_acl_count(e->pos, len);
		if (e->m.action == SLUICE_ACL_COUNT)
			continue;
		*action = e->m.action;
		return e->pos + 1;
	}
	return 0;
}

/* ---- bitmap mode ---- */

static __always_inline __u64 sluice_acl_word(const struct sluice_acl_scan *s, __u32 w)
{
	__u64 live;

	w &= SLUICE_ACL_WORDS - 1;
	live = s->live->w[w];
	return ((s->t[0]->w[w] & live) | s->a[0]->w[w]) & ((s->t[1]->w[w] & live) | s->a[1]->w[w]) &
	       ((s->t[2]->w[w] & live) | s->a[2]->w[w]);
}

/*
 * One step of the scan tests the lowest candidate left, first moving to the
 * next word that may hold one: words where a side names no rule cost
 * nothing, so a lone match at position 1999 takes one step, not thirty-two.
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
		s->words &= s->words - 1;
		if (!s->words)
			return 1;
		s->word = sluice_acl_bit_index(s->words & -s->words);
		s->bits = sluice_acl_word(s, s->word);
		if (!s->bits)
			return 0;	/* the masks overstated the word */
	}
	bit = s->bits & -s->bits;
	s->bits &= s->bits - 1;
	pos = (s->word & (SLUICE_ACL_WORDS - 1)) * 64 + sluice_acl_bit_index(bit);
	r = bpf_map_lookup_elem(&sluice_acl_rules, &pos);
	if (!r || !sluice_acl_match(&r->m, &s->p, 1))
		return 0;
	sluice_acl_count(pos, s->len);
	if (r->m.action == SLUICE_ACL_COUNT)
		return 0;
	s->hit = pos + 1;
	s->action = r->m.action;
	return 1;
}

/*
 * Side i: the rules whose prefix in trie t contains the address (a host
 * entry if some rule names hosts there and this is one, else the longest
 * prefix in the trie), and those naming none. Every trie holds a /0 key
 * (lib/acl.c), so its lookup finds an entry for any address, and the side
 * always points at a host or trie value: two kinds of pointer, not three,
 * for the verifier to walk the scan with. Returns 0 if it found none all
 * the same (the maps were written by something else): the frame then
 * matches nothing.
 */
static __always_inline int sluice_acl_side(struct sluice_acl_scan *s,
					   const struct sluice_acl_summary *sum, int i, __u32 t,
					   void *hosts, void *trie, __u32 *key, __u32 bits, __u32 hbit)
{
	const struct sluice_acl_bitmap *v = NULL;

	if (t >= SLUICE_ACL_NR_TRIES)
		return 0;
	s->a[i] = &sum->any[t];
	/* One buffer for both keys: a host key is (trie, address), an LPM key (length, address). */
	key[0] = t;
	hbit &= SLUICE_ACL_HOST_BITS - 1;
	if ((sum->hosts & (1u << t)) && (sum->host_bits[t][hbit / 64] & (1ULL << (hbit % 64))))
		v = bpf_map_lookup_elem(hosts, key);
	if (!v) {
		key[0] = bits;
		v = bpf_map_lookup_elem(trie, key);
	}
	if (!v)
		return 0;
	s->t[i] = v;
	return 1;
}

/*
 * kind and have (the headers pkt_extra found) come as their own values, not
 * from the key: a test of the key's bits the verifier can decide would make
 * it track the whole key exactly, and walk what follows once per protocol.
 */
static __always_inline int sluice_acl_cand(struct sluice_acl_scan *s,
					   const struct sluice_acl_summary *sum, __u32 kind, __u32 have)
{
	__u32 w, lw;
	int i;

	s->live = &sum->live;
	/* A side that does not apply passes every live rule. */
	s->t[2] = s->a[2] = &sum->live;
	if (kind == SLUICE_ACL_K_OTHER) {
		s->t[0] = s->a[0] = &sum->other;
		s->t[1] = s->a[1] = &sum->live;
	} else if ((kind == SLUICE_ACL_K_ARP && !(have & SLUICE_ACL_N_SRC)) ||
		   (kind != SLUICE_ACL_K_IP6 && !(sum->tries | sum->hosts))) {
		/*
		 * An ARP frame without IPv4 addresses, or a rule set naming no
		 * prefix at all: the rules that name none, without a lookup.
		 */
		s->t[0] = s->a[0] = &sum->any[SLUICE_ACL_T_SRC4];
		s->t[1] = s->a[1] = &sum->any[SLUICE_ACL_T_DST4];
	} else if (kind == SLUICE_ACL_K_IP6 && !(sum->tries | sum->hosts)) {
		s->t[0] = s->a[0] = &sum->any[SLUICE_ACL_T_SRC6];
		s->t[1] = s->a[1] = &sum->any[SLUICE_ACL_T_DST6];
		if (have & SLUICE_ACL_N_ND_TARGET)
			s->t[2] = s->a[2] = &sum->any[SLUICE_ACL_T_ND6];
	} else if (kind != SLUICE_ACL_K_IP6) {
		struct sluice_lpm4_key k;

		k.addr = (__u32)s->p.addr[SLUICE_ACL_A_SRC][0];
		if (!sluice_acl_side(s, sum, 0, SLUICE_ACL_T_SRC4, &sluice_acl_hosts4, &sluice_acl_src4,
				     &k.prefixlen, 32, sluice_acl_host_bit4(k.addr)))
			return 0;
		k.addr = (__u32)s->p.addr[SLUICE_ACL_A_DST][0];
		if (!sluice_acl_side(s, sum, 1, SLUICE_ACL_T_DST4, &sluice_acl_hosts4, &sluice_acl_dst4,
				     &k.prefixlen, 32, sluice_acl_host_bit4(k.addr)))
			return 0;
	} else {
		struct sluice_lpm6_key k;

		__builtin_memcpy(k.addr, s->p.addr[SLUICE_ACL_A_SRC], 16);
		if (!sluice_acl_side(s, sum, 0, SLUICE_ACL_T_SRC6, &sluice_acl_hosts6, &sluice_acl_src6,
				     &k.prefixlen, 128,
				     sluice_acl_host_bit6(s->p.addr[SLUICE_ACL_A_SRC][0], s->p.addr[SLUICE_ACL_A_SRC][1])))
			return 0;
		__builtin_memcpy(k.addr, s->p.addr[SLUICE_ACL_A_DST], 16);
		if (!sluice_acl_side(s, sum, 1, SLUICE_ACL_T_DST6, &sluice_acl_hosts6, &sluice_acl_dst6,
				     &k.prefixlen, 128,
				     sluice_acl_host_bit6(s->p.addr[SLUICE_ACL_A_DST][0], s->p.addr[SLUICE_ACL_A_DST][1])))
			return 0;
		/* Only NS and NA have a target; other frames are kept from nd_target rules by their need. */
		if (have & SLUICE_ACL_N_ND_TARGET) {
			__builtin_memcpy(k.addr, s->p.addr[SLUICE_ACL_A_ND], 16);
			if (!sluice_acl_side(s, sum, 2, SLUICE_ACL_T_ND6, &sluice_acl_hosts6, &sluice_acl_nd6,
					     &k.prefixlen, 128,
					     sluice_acl_host_bit6(s->p.addr[SLUICE_ACL_A_ND][0],
								  s->p.addr[SLUICE_ACL_A_ND][1])))
				return 0;
		}
	}
	lw = sum->live.words;
	w = lw;
	for (i = 0; i < 3; i++)
		w &= (s->t[i]->words & lw) | s->a[i]->words;
	s->words = w;
	return w != 0;
}

static __always_inline void sluice_acl_bitmap_scan(const struct sluice_acl_summary *sum,
						   struct sluice_acl_scan *s, __u32 kind, __u32 have)
{
	if (!sluice_acl_cand(s, sum, kind, have))
		return;
	/* One step per candidate, and per word the masks overstate. */
	s->word = sluice_acl_bit_index(s->words & -s->words);
	s->bits = sluice_acl_word(s, s->word);
	bpf_loop(SLUICE_ACL_POSITIONS + SLUICE_ACL_WORDS, sluice_acl_scan_step, s, 0);
	/*
	 * The sides point into a trie, a host map or the summary: forgotten
	 * here, the verifier's states meet again instead of walking the rest
	 * of the program once per combination.
	 */
	__builtin_memset(s->t, 0, sizeof(s->t) + sizeof(s->a) + sizeof(s->live));
}

/*
 * Every rule set but a small one without MAC, VLAN or address fields: the
 * small table's scan with those fields, and the bitmap mode. A global
 * function, so the verifier checks it once, and with the frame's key in
 * memory it cannot see into, so once for every kind of frame (inlined, it
 * was checked once per way the frame could be read, and took seconds); the
 * call costs a few ns on sets that cost more anyway. It looks the live
 * summary up itself (a global function may not take a read-only map
 * value): if a switch came in between, it judges the frame by the newer
 * set, whole. Returns the deciding rule's position + 1 (0: none) | its
 * action << 16.
 */
__noinline int sluice_acl_slow_path(struct xdp_md *ctx, const struct sluice_meta *m,
				    const struct sluice_acl_base *b, __u32 len)
{
	struct sluice_acl_summary *sum;
	struct sluice_acl_ctl *ctl;
	struct sluice_acl_pkt p;
	__u32 zero = 0, sel, hit;
	__u8 action = 0;

	if (!ctx || !m || !b)
		return 0;
	ctl = bpf_map_lookup_elem(&sluice_acl_ctl, &zero);
	if (!ctl)
		return 0;
	sel = *(volatile __u32 *)&ctl->sel & (SLUICE_ACL_SLOTS - 1);
	sum = bpf_map_lookup_elem(&sluice_acl_sum, &sel);
	/* A switch to another mode came after the caller's look: this frame goes by no rule. */
	if (!sum || (sum->mode != SLUICE_ACL_MODE_SMALL && sum->mode != SLUICE_ACL_MODE_SMALL_FULL))
		return 0;
	__builtin_memcpy(&p, b, sizeof(*b));
	sluice_acl_pkt_extra(ctx, m, sum->fields, &p);
	hit = sluice_acl_small_scan(sum, &p, len, &action, 1);
	return hit ? (int)(hit | (__u32)action << 16) : 0;
}

static __always_inline int sluice_acl_run(struct xdp_md *ctx, struct sluice_meta *m)
{
	struct sluice_acl_summary *sum;
	struct sluice_acl_ctl *ctl;
	/* Stages inlined into one program share 512 bytes of stack with the slow path. */
	struct sluice_acl_scan s;
	struct sluice_acl_base *b = (struct sluice_acl_base *)&s.p;
	__u32 zero = 0, sel, len, hit = 0, kind, have;
	__u8 action = 0;

	len = ctx->data_end - ctx->data;
	ctl = bpf_map_lookup_elem(&sluice_acl_ctl, &zero);
	if (!ctl)
		goto dflt;
	/* One load: the slot a writer switched to last (lib/acl.c never rewrites it while live). */
	sel = *(volatile __u32 *)&ctl->sel & (SLUICE_ACL_SLOTS - 1);
	sum = bpf_map_lookup_elem(&sluice_acl_sum, &sel);
	if (!sum || sum->mode == SLUICE_ACL_MODE_EMPTY)
		goto dflt;
	/* The bitmap mode's tries want the addresses whatever the rules' fields. */
	kind = sluice_acl_pkt_base(ctx, m, sum->mode == SLUICE_ACL_MODE_BITMAP ? ~0u : sum->fields, b);
	if (sum->mode == SLUICE_ACL_MODE_SMALL) {
		/* The fast path: a few rules on the key, ports and IP addresses, inlined. */
		hit = sluice_acl_small_scan(sum, &s.p, len, &action, 0);
	} else if (sum->mode == SLUICE_ACL_MODE_BITMAP) {
		s.len = len;
		s.hit = 0;
		s.action = 0;
		have = sluice_acl_pkt_extra(ctx, m, sum->fields | SLUICE_ACL_N_SRC | SLUICE_ACL_N_DST, &s.p);
		sluice_acl_bitmap_scan(sum, &s, kind, have);
		hit = s.hit;
		action = s.action;
	} else {
		/* A copy: global functions take pointers to memory they can size, not to metadata. */
		struct sluice_meta mc = *m;
		int r = sluice_acl_slow_path(ctx, &mc, b, len);

		hit = (__u32)r & 0xffff;
		action = (__u32)r >> 16;
	}
	if (hit) {
		m->rule = hit;
		switch (action) {
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
	sluice_acl_count(SLUICE_ACL_HITS_DEFAULT, len);
	return default_action == XDP_PASS ? SLUICE_CONTINUE : (int)default_action;
}

#endif /* SLUICE_BPF_ACL_H */
