/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one ABI shared by bpf/, lib/, daemon/, cli/, tools/ and tests/: per-packet
 * metadata, map value layouts, slot numbers, pin names. Anything that crosses
 * the kernel/user boundary or a daemon restart is defined here and nowhere else.
 */
#ifndef SLUICE_ABI_H
#define SLUICE_ABI_H

#ifdef __BPF__
#include <linux/types.h>
#else
#include <linux/types.h>
#include <stddef.h>
#endif

#define SLUICE_ABI_VERSION	3	/* bumped with any change to a pinned map's layout */

/*
 * What <sluice/stage.bpf.h> compiles into every stage (sluice_stage_cfg.abi),
 * so the loader can refuse a stage built against a header that cannot find
 * the per-packet context where this pipeline keeps it. 0: before carriers.
 */
#define SLUICE_STAGE_ABI	1

/*
 * A pipeline's prog_array has SLUICE_NR_BANKS banks of SLUICE_MAX_STAGES
 * slots. A generation lives in one bank: the stage at position i sits in slot
 * bank * SLUICE_MAX_STAGES + i and tail-calls the next position of the same
 * bank. The entry reads the interface's switch word once per packet and
 * tail-calls the first slot of the bank it names, with one constant index per
 * bank, so every tail call stays a JIT-patched direct jump. Changing what
 * packets run is one 8-byte store into the switch word: the live bank, the
 * previous one (rollback), a prepared candidate and a canary can all be
 * loaded at once. Positions (0..SLUICE_MAX_STAGES-1) are what metadata and
 * counters name.
 */
#define SLUICE_MAX_STAGES	16
#define SLUICE_NR_BANKS		4
#define SLUICE_PROG_SLOTS	(SLUICE_NR_BANKS * SLUICE_MAX_STAGES)
#define sluice_bank_base(bank)	((bank) * SLUICE_MAX_STAGES)
#define SLUICE_SLOT_END		0xffffffffu	/* "next" of the last stage */
#define SLUICE_SLOT_NONE	0xff		/* meta.last before any stage ran */

/* The kernel's MAX_TAIL_CALL_CNT: tail calls one packet may take. */
#define SLUICE_MAX_TAIL_CALLS	33
/* A subprogram may tail-call only while the frames below it use less. */
#define SLUICE_MAX_TAIL_CALL_STACK 256

/*
 * What the dispatch returns when a tail call found its slot empty. No XDP
 * action has this value, so the entry can tell it from a stage's verdict.
 */
#define SLUICE_RET_MISSED	0x5c1cedu

#define SLUICE_NR_VERDICTS	5	/* XDP_ABORTED .. XDP_REDIRECT */

/*
 * Where the per-packet context lives. Both carriers hold the same struct
 * sluice_meta and stages reach it through sluice_stage_enter() either way:
 * the choice is a .rodata constant the verifier prunes.
 */
enum sluice_carrier {
	SLUICE_CARRIER_META = 0,	/* XDP metadata in front of the frame */
	SLUICE_CARRIER_PERCPU,		/* sluice_ctx, a per-CPU map the entry resets per packet */
};

/* meta.flags */
enum {
	SLUICE_PKT_PARSED	= 1 << 0,	/* parse stage ran */
	SLUICE_PKT_TRUNC	= 1 << 1,	/* a header ran past the frame end */
	SLUICE_PKT_MALFORMED	= 1 << 2,	/* a header field is impossible */
	SLUICE_PKT_FRAG		= 1 << 3,	/* an IP fragment */
	SLUICE_PKT_FRAG_LATER	= 1 << 4,	/* a fragment with offset > 0: no L4 */
	SLUICE_PKT_IPOPT	= 1 << 5,	/* IPv4 options present */
	SLUICE_PKT_EXTHDR	= 1 << 6,	/* IPv6 extension headers present */
	SLUICE_PKT_EXT_LIMIT	= 1 << 7,	/* parser stopped at its ext-hdr bound */
	SLUICE_PKT_VLAN_LIMIT	= 1 << 8,	/* more VLAN tags than the parser reads */
	SLUICE_PKT_MIXED	= 1 << 9,	/* a stage of another bank ran */
	SLUICE_PKT_OVERLIMIT	= 1 << 10,	/* ratelimit found the source over rate */
	SLUICE_PKT_XSK		= 1 << 11,	/* selected for an AF_XDP socket */
	SLUICE_PKT_ARP		= 1 << 12,
};

/* meta.xflags: how the entry admitted the packet. */
enum {
	SLUICE_X_TIMED		= 1 << 0,	/* sampled for stage timing */
	SLUICE_X_CANARY		= 1 << 1,	/* the canary's share sent it to the canary bank */
	SLUICE_X_PERCPU		= 1 << 2,	/* in the per-CPU carrier (metadata refused or not chosen) */
};

/*
 * Per-packet context, carried in XDP metadata (bpf_xdp_adjust_meta) in front
 * of the frame, or in the per-CPU sluice_ctx map where the kernel or the
 * driver has no metadata. In metadata it costs no map lookup, is private to
 * the packet, and reaches AF_XDP sockets with the frame. The kernel caps
 * metadata at 32 bytes.
 */
struct sluice_meta {
	__u16 path;		/* bit i: the stage at position i ran */
	__u8 bank;		/* bank the entry sent the packet into */
	__u8 xflags;		/* SLUICE_X_* */
	__u32 rule;		/* position + 1 in sluice_acl_rules of the rule that matched (its
				 * id is sluice_acl_rules[rule - 1].id), 0 = none */
	__u16 gen;		/* generation of the bank that admitted the packet */
	__u16 gen_other;	/* with SLUICE_PKT_MIXED: generation of a stage of another bank */
	__u16 flags;		/* SLUICE_PKT_* */
	__u16 l3_off;		/* offset of the L3 header from data, 0 = none */
	__u16 l4_off;		/* offset of the L4 header, 0 = none */
	__u16 l3_proto;		/* ethertype of L3, host order */
	__u16 sport;		/* TCP/UDP source port, host order */
	__u16 dport;		/* TCP/UDP destination port; ICMP type << 8 | code */
	__u16 vlan_id;		/* outermost VLAN id */
	__u8 l4_proto;		/* IPPROTO_*, 0 = none */
	__u8 vlans;		/* VLAN tags in front of L3 */
	__u8 last;		/* position of the last stage that ran */
	__u8 tcp_flags;
	__u8 ip_ttl;		/* TTL / hop limit */
	__u8 ext_hdrs;		/* IPv6 extension headers walked */
};

/*
 * The switch word: which bank packets start in. The entry loads it once per
 * packet with one 8-byte load; user space changes it with one 8-byte store
 * into the mmapped switch map, so a packet sees the old word or the new one,
 * never half of each. Every field a switch changes is in it.
 *
 * share: 0 = every packet to bank;
 *   1..SLUICE_SHARE_ONE: a canary: packets whose flow hash (15 bits) is below
 *   share go to alt_bank, the rest to bank;
 *   SLUICE_SHARE_GROUP | N: bank, unless selector word N (a map shared by the
 *   interfaces of a pin root) is odd, then alt_bank: interfaces that follow
 *   one selector switch together with one store into it.
 */
#define SLUICE_SHARE_BITS	15
#define SLUICE_SHARE_ONE	(1u << SLUICE_SHARE_BITS)
#define SLUICE_SHARE_GROUP	0x8000u
#define SLUICE_NR_SELECTORS	256
union sluice_word {
	__u64 raw;
	struct {
		__u8 bank;
		__u8 alt_bank;
		__u16 share;
		__u16 gen;	/* generation in bank */
		__u16 alt_gen;	/* generation in alt_bank */
	};
};

/*
 * The value of an interface's switch map (one entry, mmapped by user space).
 * Besides the word, knobs the entry reads with it, each written on its own.
 */
struct sluice_switch {
	union sluice_word word;
	__u8 verdict[SLUICE_NR_BANKS];	/* each bank's verdict for a packet that met an empty slot */
	__u8 time_shift;	/* stage timing: 0 = off, n = 1 packet in 2^(n-1) is timed */
	__u8 sample_shift;	/* shadow diff: 0 = off, n = 1 packet in 2^(n-1) is sampled */
	__u8 record;		/* anomaly recorder on */
	__u8 pad;
};

/*
 * Per-slot counters (sluice_slot_stats, per-CPU) at bank * SLUICE_MAX_STAGES
 * + position, written by the entry once per packet for the last slot that
 * ran. pipeline__stats() turns packets and bytes into what entered each
 * slot: the sum over this slot and those after.
 */
struct sluice_slot_stats {
	__u64 packets;		/* packets whose last stage was this slot */
	__u64 bytes;
	__u64 missed;		/* tail calls into this slot that found it empty */
	__u64 verdict[SLUICE_NR_VERDICTS];	/* final verdicts with this slot last */
};

/* Whole-pipeline counters (sluice_pipe_stats, per-CPU), one entry per bank. */
struct sluice_pipe_stats {
	__u64 packets;
	__u64 bytes;
	__u64 verdict[SLUICE_NR_VERDICTS];	/* final verdicts */
	__u64 missed;		/* packets that met an empty slot */
	__u64 mixed;		/* packets stamped by two banks */
	__u64 bad_verdict;	/* a stage returned no XDP action: made ABORTED */
	__u64 no_meta;		/* metadata chosen but refused for this packet: per-CPU carrier used */
	__u64 recorded;		/* anomalies written to the ring buffer */
};

/*
 * .rodata of every stage, set by the loader before load so the verifier sees
 * constants: the tail call to "next" then becomes a JIT-patched direct jump,
 * and the carrier not in use is pruned.
 */
struct sluice_stage_cfg {
	__u32 slot;		/* position in the pipeline (not the prog_array index) */
	__u32 next;		/* prog_array index of the next stage; SLUICE_SLOT_END for the last */
	__u16 gen;		/* generation the instance was built for */
	__u16 ver;
	__u8 bank;		/* the bank it serves: a packet of another bank is MIXED */
	__u8 carrier;		/* enum sluice_carrier */
	__u8 abi;		/* SLUICE_STAGE_ABI of the header it was built with */
	__u8 pad;
};

/* .rodata of the entry program: one per interface, for all banks. */
enum {
	SLUICE_ENTRY_F_NO_META	= 1 << 0,	/* test only: act as if metadata were refused */
	SLUICE_ENTRY_F_SAMPLER	= 1 << 1,	/* the kernel has bpf_xdp_load_bytes: shadow-diff samples */
};
struct sluice_entry_cfg {
	__u8 carrier;		/* enum sluice_carrier */
	__u8 flags;		/* SLUICE_ENTRY_F_* */
	__u16 pad;
	__u32 pad2;
};

/*
 * Stage timing (sampled): the entry stamps SLUICE_X_TIMED on 1 packet in
 * 2^(time_shift - 1); each stage then adds the time since the previous mark to the
 * stage before it, in sluice_stage_time[position] (index SLUICE_MAX_STAGES:
 * the entry's own time before the first stage). Buckets are powers of two of
 * nanoseconds: bucket b counts times in [2^b, 2^(b+1)).
 */
#define SLUICE_TIME_BUCKETS	16
struct sluice_time_mark {
	__u64 ns;		/* time of the last mark */
	__u32 pos;		/* position that mark started; SLUICE_SLOT_NONE = none */
	__u32 pad;
};

struct sluice_stage_time {
	__u64 count;
	__u64 sum_ns;
	__u64 bucket[SLUICE_TIME_BUCKETS];
};

/*
 * Anomaly recorder: packets that got XDP_ABORTED, met an empty slot or saw
 * two banks, with their first bytes, through the sluice_anomalies ring
 * buffer. Samples for a shadow diff go through the same ring.
 */
#define SLUICE_ANOMALY_SNAP	128
#define SLUICE_ANOMALY_PER_SEC	64	/* records per CPU, reason and second, at most */
enum sluice_anomaly_reason {
	SLUICE_AN_ABORTED = 1,	/* the last stage returned XDP_ABORTED */
	SLUICE_AN_MISSED,	/* a tail call found slot `slot` empty */
	SLUICE_AN_MIXED,	/* a stage of another bank ran */
	SLUICE_AN_BAD_VERDICT,	/* a stage returned no XDP action */
	SLUICE_AN_SAMPLE,	/* a shadow-diff sample, before any verdict */
};

struct sluice_anomaly {
	__u64 ts_ns;		/* bpf_ktime_get_ns() */
	__u32 len;		/* frame length */
	__u16 caplen;		/* bytes in data */
	__u8 reason;		/* enum sluice_anomaly_reason */
	__u8 slot;		/* the empty slot, the stage that aborted, or the last that ran */
	__u8 bank;
	__u8 verdict;		/* what the packet got */
	__u16 gen;
	__u16 gen_other;
	__u16 flags;		/* meta.flags */
	__u32 path;
	__u32 rx_queue;
	__u8 data[SLUICE_ANOMALY_SNAP];
};

/* The shadow-diff sampler keeps whole frames up to this size. */
#define SLUICE_SAMPLE_SNAP	1536
struct sluice_sample {
	__u64 ts_ns;
	__u32 len;		/* frame length */
	__u16 caplen;
	__u8 reason;		/* SLUICE_AN_SAMPLE */
	__u8 bank;
	__u8 data[SLUICE_SAMPLE_SNAP];
};

/*
 * Pipeline description kept in a pinned array map, so a restarted daemon
 * knows what runs without any file of its own.
 */
#define SLUICE_NAME_LEN		32
struct sluice_stage_info {
	char name[SLUICE_NAME_LEN];
	__u64 hash;		/* of object bytes, program name and parameters */
	__u32 ver;		/* load counter of the instance in the slot */
	__u32 prog_id;
};

enum sluice_bank_state {
	SLUICE_BANK_FREE = 0,
	SLUICE_BANK_LIVE,	/* what the switch word's bank names */
	SLUICE_BANK_PREV,	/* what the last commit replaced: rollback is one store */
	SLUICE_BANK_PREPARED,	/* a candidate built and verified, not yet live */
	SLUICE_BANK_CANARY,	/* a candidate serving the canary's share */
};

struct sluice_bank_info {
	__u32 gen;
	__u32 cand;		/* candidate id (PREPARED, CANARY), 0 = none */
	__u32 base;		/* the live pipeline's change count the candidate was built against */
	__u8 state;		/* enum sluice_bank_state */
	__u8 nr_stages;
	__u8 default_verdict;
	__u8 pad;
	struct sluice_stage_info stages[SLUICE_MAX_STAGES];
};

struct sluice_pipeline_info {
	__u32 magic;		/* SLUICE_INFO_MAGIC */
	__u32 abi;		/* SLUICE_ABI_VERSION */
	__u32 next_gen;		/* generations are numbered across banks */
	__u32 next_ver;		/* next stage instance version */
	__u32 next_cand;	/* next candidate id */
	__u32 changes;		/* changes to what runs (commits, swaps, rollbacks): a candidate's base */
	__u8 carrier;		/* enum sluice_carrier of the entry and every stage */
	__u8 bank;		/* live bank, as last written (the switch word decides) */
	__u8 entry_flags;	/* SLUICE_ENTRY_F_* the entry was loaded with */
	__u8 pad;
	__u32 pad2;
	struct sluice_bank_info banks[SLUICE_NR_BANKS];
};
#define SLUICE_INFO_MAGIC	0x51c1ce03u

/*
 * ACL (bpf/acl.h, lib/acl.c). Ordered rules, first match wins; a rule sits at
 * a position and positions increase with rule order. There are twice as many
 * positions as rules, so a rule can always move to make room for another
 * without waiting for a position to free up. What packets read is chosen by
 * one summary (struct sluice_acl_summary) among SLUICE_ACL_SLOTS, selected by
 * sluice_acl_ctl.sel: userspace fills an idle slot and then stores sel, so a
 * packet sees the old summary or the new one, whole.
 */
#define SLUICE_ACL_MAX_RULES	1024	/* rules in a set */
#define SLUICE_ACL_POSITIONS	2048
#define SLUICE_ACL_MAX_PREFIXES	131072
#define SLUICE_ACL_SMALL_MAX	16	/* entries a small rule set compiles into, at most */
#define SLUICE_ACL_SLOTS	4	/* summaries: the live one, the next, retired ones */

enum sluice_acl_action {
	SLUICE_ACL_PASS = 0,
	SLUICE_ACL_DROP,
	SLUICE_ACL_XSK,		/* mark for the xsk stage */
	SLUICE_ACL_COUNT,	/* count and go on to the next rule */
};

/* How packets are matched (sluice_acl_summary.mode). */
enum sluice_acl_mode {
	SLUICE_ACL_MODE_EMPTY = 0,	/* no rule: default_action, nothing read */
	SLUICE_ACL_MODE_SMALL,		/* a linear scan of summary.small[]: key, ports, IP addresses */
	SLUICE_ACL_MODE_BITMAP,		/* trie lookups, then a scan of candidate positions */
	SLUICE_ACL_MODE_SMALL_FULL,	/* the scan, with MAC, VLAN, ARP addresses, ND targets too */
};

/* Kinds of frame: one per frame, a set per rule. */
enum {
	SLUICE_ACL_K_IP4	= 1 << 0,	/* IPv4 with both addresses in the frame */
	SLUICE_ACL_K_IP6	= 1 << 1,	/* IPv6 with both addresses in the frame */
	SLUICE_ACL_K_ARP	= 1 << 2,	/* ethertype ARP */
	SLUICE_ACL_K_OTHER	= 1 << 3,	/* anything else, an IP header cut short included */
};

/*
 * What a rule tests (sluice_acl_match.need). A frame gets the same bits for
 * the headers it has (ports only for a TCP, UDP or SCTP header in the frame,
 * ICMP fields only for an ICMP header, ...), so a rule needing a header the
 * frame lacks cannot match. The summary's fields are the union over its
 * rules: the frame fields the stage reads at all.
 */
enum {
	SLUICE_ACL_N_PROTO	= 1 << 0,
	SLUICE_ACL_N_PORTS	= 1 << 1,	/* sport or dport range */
	SLUICE_ACL_N_TCP_FLAGS	= 1 << 2,
	SLUICE_ACL_N_ICMP_TYPE	= 1 << 3,
	SLUICE_ACL_N_ICMP_CODE	= 1 << 4,
	SLUICE_ACL_N_SRC_MAC	= 1 << 5,
	SLUICE_ACL_N_DST_MAC	= 1 << 6,
	SLUICE_ACL_N_VLAN	= 1 << 7,	/* the outer tag */
	SLUICE_ACL_N_VLAN_INNER	= 1 << 8,	/* the second tag */
	SLUICE_ACL_N_ND		= 1 << 9,	/* an ICMPv6 NS or NA with its target in the frame */
	/* Prefixes: in the tries for the bitmap mode, in the entry for the small one. */
	SLUICE_ACL_N_SRC	= 1 << 10,	/* IP source or ARP sender address */
	SLUICE_ACL_N_DST	= 1 << 11,	/* IP destination or ARP target address */
	SLUICE_ACL_N_ND_TARGET	= 1 << 12,
};
/* What the key does not cover: tested behind one test of need. */
#define SLUICE_ACL_N_SLOW	(SLUICE_ACL_N_SRC_MAC | SLUICE_ACL_N_DST_MAC | SLUICE_ACL_N_VLAN | \
				 SLUICE_ACL_N_VLAN_INNER | SLUICE_ACL_N_SRC | SLUICE_ACL_N_DST | \
				 SLUICE_ACL_N_ND_TARGET)
/* Of which the small mode's inline scan reads none (SLUICE_ACL_MODE_SMALL_FULL does). */
#define SLUICE_ACL_N_FULL	(SLUICE_ACL_N_SRC_MAC | SLUICE_ACL_N_DST_MAC | SLUICE_ACL_N_VLAN | \
				 SLUICE_ACL_N_VLAN_INNER | SLUICE_ACL_N_ND_TARGET)

/*
 * A frame's key, and a match's key_mask and key_val: the match holds when
 * (key & key_mask) == key_val. Its kind, the headers it has (need bits),
 * protocol, TCP flags, ICMP type and code, in one 64-bit test.
 */
#define SLUICE_ACL_KEY_KIND(k)		((__u64)(k))		/* bits 0-3 */
#define SLUICE_ACL_KEY_HAVE(n)		((__u64)(n) << 4)	/* bits 4-16 */
#define SLUICE_ACL_KEY_PROTO(p)		((__u64)(p) << 24)
#define SLUICE_ACL_KEY_TCP_FLAGS(f)	((__u64)(f) << 32)
#define SLUICE_ACL_KEY_ICMP_TYPE(t)	((__u64)(t) << 40)
#define SLUICE_ACL_KEY_ICMP_CODE(c)	((__u64)(c) << 48)

/* The LPM tries, by index (bit i of sluice_acl_summary.tries). */
enum sluice_acl_trie {
	SLUICE_ACL_T_SRC4 = 0,	/* IPv4 source and ARP sender */
	SLUICE_ACL_T_DST4,	/* IPv4 destination and ARP target */
	SLUICE_ACL_T_SRC6,
	SLUICE_ACL_T_DST6,
	SLUICE_ACL_T_ND6,	/* ICMPv6 neighbour discovery target */
	SLUICE_ACL_NR_TRIES,
};

struct sluice_lpm4_key {
	__u32 prefixlen;
	__u32 addr;		/* network order */
};

struct sluice_lpm6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/*
 * Full-length prefixes (hosts) are not in the tries but in two hash maps,
 * by trie and address: one hash lookup instead of a walk down a trie of
 * many hosts. A miss falls back to the trie, which holds the shorter ones.
 */
struct sluice_acl_host4_key {
	__u32 trie;		/* enum sluice_acl_trie */
	__u32 addr;		/* network order */
};

struct sluice_acl_host6_key {
	__u32 trie;
	__u8 addr[16];
};

/*
 * A set of rule positions. A trie maps a prefix to the rules whose prefix
 * on its side contains it (own and enclosing prefixes, precomputed by
 * lib/acl.c), so one longest-prefix lookup gives every rule that matches
 * the address. Every trie holds a /0 key, so every lookup finds an entry.
 */
#define SLUICE_ACL_WORDS	(SLUICE_ACL_POSITIONS / 64)
struct sluice_acl_bitmap {
	__u64 w[SLUICE_ACL_WORDS];
	/* bit i set when w[i] may be non-zero: the scan jumps over empty words */
	__u32 words;
	__u32 pad;
};

/*
 * What a rule tests, but for its prefixes. Port and VLAN ranges are LO and
 * HI - LO, tested as (v - lo) <= span in 16 bits (any: 0 and 65535). MAC
 * addresses are the 6 bytes as in the frame, in the low-addressed bytes of a
 * zeroed __u64 (memcpy), so the stage compares them as loaded.
 */
struct sluice_acl_match {
	__u64 key_mask, key_val;	/* see SLUICE_ACL_KEY_* */
	__u16 sport_lo, sport_span;
	__u16 dport_lo, dport_span;
	__u32 need;			/* SLUICE_ACL_N_* */
	__u8 action;			/* enum sluice_acl_action */
	__u8 pad[3];
	__u16 vlan_lo, vlan_span;	/* with N_VLAN */
	__u16 ivlan_lo, ivlan_span;	/* with N_VLAN_INNER */
	__u64 src_mac, src_mac_mask;	/* with N_SRC_MAC: (mac & mask) == value */
	__u64 dst_mac, dst_mac_mask;
};

/* sluice_acl_rules[position]: the bitmap mode's rules. */
struct sluice_acl_rule {
	struct sluice_acl_match m;
	__u32 id;			/* user-visible rule id */
	__u32 pad;
};

/*
 * One entry of a small rule set: a rule with at most one prefix per
 * address, tested in place. A rule naming several prefixes takes one entry
 * per combination; the compiler keeps them disjoint, so a count rule counts
 * a packet once. Addresses as in the frame, IPv4 in the first 4 bytes.
 */
enum { SLUICE_ACL_A_SRC = 0, SLUICE_ACL_A_DST, SLUICE_ACL_A_ND, SLUICE_ACL_NR_ADDRS };
struct sluice_acl_small {
	struct sluice_acl_match m;
	__u32 pos;			/* the rule's position: hits, meta.rule */
	__u32 pad;
	__u64 addr[SLUICE_ACL_NR_ADDRS][2];	/* with N_SRC, N_DST, N_ND_TARGET */
	__u64 mask[SLUICE_ACL_NR_ADDRS][2];
};

/*
 * A filter of the hosts each trie's side names, in the summary: bit
 * sluice_acl_host_bit(address) set for every host. A frame whose address
 * has its bit clear is no host, and skips the host map.
 */
#define SLUICE_ACL_HOST_BITS	1024
static inline __u32 sluice_acl_host_bit4(__u32 addr)	/* addr as loaded from the frame */
{
	return (__u32)(addr * 0x9e3779b1u) >> 22;
}

static inline __u32 sluice_acl_host_bit6(__u64 a0, __u64 a1)
{
	return (__u32)(((a0 ^ a1) * 0x9e3779b97f4a7c15ull) >> 54);
}

/* What packets read, in one of sluice_acl_sum's slots. */
struct sluice_acl_summary {
	__u32 mode;			/* enum sluice_acl_mode */
	__u32 fields;			/* SLUICE_ACL_N_* some rule needs */
	__u32 tries;			/* bit t: some rule names a prefix shorter than a host in trie t */
	__u32 hosts;			/* bit t: some rule names a host in trie t's side */
	__u32 nr_small;			/* entries of small[] in use */
	__u32 pad[3];
	__u64 host_bits[SLUICE_ACL_NR_TRIES][SLUICE_ACL_HOST_BITS / 64];
	struct sluice_acl_bitmap live;	/* positions of the rule set */
	/* per trie: live rules that may match its kinds of frame and name no prefix in it */
	struct sluice_acl_bitmap any[SLUICE_ACL_NR_TRIES];
	struct sluice_acl_bitmap other;	/* live rules that may match SLUICE_ACL_K_OTHER frames */
	struct sluice_acl_small small[SLUICE_ACL_SMALL_MAX];
};

/* sluice_acl_ctl[0]: written through mmap, so a store of sel is one atomic store. */
struct sluice_acl_ctl {
	__u32 sel;			/* the summary slot packets read */
	__u32 pad;
	__u64 gen;			/* bumped by every update: tells a writer its mirror is current */
};

/* Per-rule hits (sluice_acl_hits, per-CPU). */
struct sluice_acl_hits {
	__u64 packets;
	__u64 bytes;
};

/*
 * Rate limiter (bpf/ratelimit.bpf.c): one bucket per source address, IPv4
 * sources in sluice_rl_buckets4 keyed by the address (__u32, network
 * order), IPv6 and non-IP (family 0, one bucket) in sluice_rl_buckets.
 */
struct sluice_rl_key {
	__u8 family;
	__u8 pad[3];
	__u8 addr[16];
};

struct sluice_rl_bucket {
	__u64 tokens;		/* in nanopackets: rate * ns / 1e9 avoids division */
	__u64 last_ns;		/* bpf_ktime_get_ns() the tokens were refilled up to */
	__u64 last_jiffies;	/* bpf_jiffies64() of that refill: none again in the same tick */
};

/* Keys of sluice_rl_stats (per-CPU packet counts). */
enum {
	SLUICE_RL_STAT_WITHIN = 0,	/* admitted */
	SLUICE_RL_STAT_OVER,		/* over rate */
	SLUICE_RL_STAT_CLOCK,		/* packets that read the clock (a refill) */
	SLUICE_RL_NR_STATS,
};

/* Counting stage (bpf/count.bpf.c): [proto class][verdict so far]. */
enum sluice_proto_class {
	SLUICE_PC_OTHER = 0,
	SLUICE_PC_ARP,
	SLUICE_PC_IPV4_TCP,
	SLUICE_PC_IPV4_UDP,
	SLUICE_PC_IPV4_ICMP,
	SLUICE_PC_IPV4_OTHER,
	SLUICE_PC_IPV6_TCP,
	SLUICE_PC_IPV6_UDP,
	SLUICE_PC_IPV6_ICMP,
	SLUICE_PC_IPV6_OTHER,
	SLUICE_PC_MALFORMED,
	SLUICE_PC_MAX,
};

struct sluice_count {
	__u64 packets;
	__u64 bytes;
	__u64 frags;
	__u64 mixed;
};

/*
 * Names of maps shared by every stage of a pipeline, reused across stage
 * versions and generations by name; also their pin names under maps/.
 */
#define SLUICE_MAP_PROGS	"sluice_progs"
#define SLUICE_MAP_SLOT_STATS	"sluice_slot_stats"
#define SLUICE_MAP_PIPE_STATS	"sluice_pipe_stats"
#define SLUICE_MAP_XSKS		"sluice_xsks"
#define SLUICE_MAP_INFO		"sluice_info"
#define SLUICE_MAP_CTX		"sluice_ctx"
#define SLUICE_MAP_SWITCH	"sluice_switch"
#define SLUICE_MAP_SELECTORS	"sluice_selectors"
#define SLUICE_MAP_ANOMALIES	"sluice_anomalies"
#define SLUICE_MAP_STAGE_TIME	"sluice_stage_time"

#define SLUICE_XSK_MAX_QUEUES	64

/*
 * Pins, relative to the pin root (default /sys/fs/bpf/sluice):
 *   selectors                    sluice_selectors: words interfaces switch together by
 *   <iface>/link                 the XDP bpf_link
 *   <iface>/entry                the entry program (one for all banks)
 *   <iface>/info                 sluice_info
 *   <iface>/progs                the prog_array (every bank)
 *   <iface>/maps/<map>           state maps shared by all generations, the switch map among them
 *   <iface>/bank<B>/stage<I>     program at position I of bank B
 *   <iface>/prev/stage<I>        the version a swap replaced, for rollback
 * A pin is replaced by pinning under a temporary name and renaming over it,
 * so a crash leaves the old pin or the new one, never none.
 */
#define SLUICE_PIN_ROOT		"/sys/fs/bpf/sluice"
#define SLUICE_PIN_LINK		"link"
#define SLUICE_PIN_INFO		"info"
#define SLUICE_PIN_MAPS		"maps"
#define SLUICE_PIN_BANK_FMT	"bank%u"
#define SLUICE_PIN_PROGS	"progs"
#define SLUICE_PIN_ENTRY	"entry"
#define SLUICE_PIN_STAGE_FMT	"stage%u"
#define SLUICE_PIN_PREV		"prev"
#define SLUICE_PIN_SELECTORS	"selectors"

/*
 * Payload of generated test traffic, right after the UDP header: the
 * generator stamps it, stages and sinks check it. csum is the 32-bit FNV-1a
 * of the bytes after this header, so corruption anywhere shows.
 */
#define SLUICE_PAYLOAD_MAGIC	0x534c4345u	/* "SLCE" */
struct sluice_payload {
	__u32 magic;		/* network order */
	__u32 flow;		/* network order */
	__u64 seq;		/* network order */
	__u32 csum;		/* network order */
	__u32 len;		/* bytes covered by csum, network order */
};

/*
 * A transmit time, when the generator is asked for one (sluice-gen
 * --stamp): the last bytes of the frame, right after the bytes the payload
 * checksum covers, so writing it at send time touches no checksum a sink
 * or stage verifies. CLOCK_MONOTONIC, which is bpf_ktime_get_ns()'s clock:
 * a receiver on the same host subtracts it from its own clock.
 */
#define SLUICE_STAMP_MAGIC	0x534c5453u	/* "SLTS" */
struct sluice_stamp {
	__u32 magic;		/* network order */
	__u32 zero;
	__u64 tx_ns;		/* network order */
};

#ifndef __BPF__
_Static_assert(sizeof(struct sluice_payload) == 24, "payload layout");
_Static_assert(sizeof(struct sluice_stamp) == 16, "stamp layout");
_Static_assert(sizeof(struct sluice_meta) == 32, "XDP metadata is at most 32 bytes");
_Static_assert(sizeof(struct sluice_meta) % 4 == 0, "metadata length must be 4-aligned");
_Static_assert(sizeof(struct sluice_slot_stats) == 64, "slot stats: one cache line");
_Static_assert(sizeof(struct sluice_pipe_stats) == 96, "pipe stats layout");
_Static_assert(sizeof(union sluice_word) == 8, "the switch word is one 8-byte store");
_Static_assert(sizeof(struct sluice_switch) == 16, "switch map value layout");
_Static_assert(sizeof(struct sluice_stage_cfg) == 16, "stage cfg layout");
_Static_assert(sizeof(struct sluice_entry_cfg) == 8, "entry cfg layout");
_Static_assert(sizeof(struct sluice_time_mark) == 16, "time mark layout");
_Static_assert(sizeof(struct sluice_stage_time) == 16 + 8 * SLUICE_TIME_BUCKETS, "stage time layout");
_Static_assert(sizeof(struct sluice_anomaly) == 32 + SLUICE_ANOMALY_SNAP, "anomaly record layout");
_Static_assert(sizeof(struct sluice_sample) == 16 + SLUICE_SAMPLE_SNAP, "sample record layout");
_Static_assert(sizeof(struct sluice_stage_info) == 48, "stage info layout");
_Static_assert(sizeof(struct sluice_bank_info) == 16 + 48 * SLUICE_MAX_STAGES, "bank info layout");
_Static_assert(sizeof(struct sluice_pipeline_info) == 32 + SLUICE_NR_BANKS * sizeof(struct sluice_bank_info),
	       "info layout");
_Static_assert(SLUICE_NR_BANKS <= 8, "a bank fits meta.bank and the switch word's bytes");
_Static_assert(SLUICE_SHARE_ONE <= SLUICE_SHARE_GROUP, "a canary share never reads as a group");
_Static_assert(sizeof(struct sluice_acl_match) == 72, "acl match layout");
_Static_assert(sizeof(struct sluice_acl_rule) == 80, "acl rule layout");
_Static_assert(sizeof(struct sluice_acl_small) == 176, "acl small entry layout");
_Static_assert(sizeof(struct sluice_acl_summary) ==
	       32 + SLUICE_ACL_NR_TRIES * SLUICE_ACL_HOST_BITS / 8 + (2 + SLUICE_ACL_NR_TRIES) * sizeof(struct sluice_acl_bitmap) +
	       SLUICE_ACL_SMALL_MAX * sizeof(struct sluice_acl_small), "acl summary layout");
_Static_assert(sizeof(struct sluice_acl_ctl) == 16, "acl ctl layout");
_Static_assert(sizeof(struct sluice_acl_host4_key) == 8, "acl host4 key layout");
_Static_assert(sizeof(struct sluice_acl_host6_key) == 20, "acl host6 key layout");
_Static_assert((SLUICE_ACL_SLOTS & (SLUICE_ACL_SLOTS - 1)) == 0, "acl slots: a power of 2");
_Static_assert(sizeof(struct sluice_acl_hits) == 16, "acl hits layout");
_Static_assert(sizeof(struct sluice_acl_bitmap) == SLUICE_ACL_POSITIONS / 8 + 8, "acl bitmap layout");
_Static_assert(SLUICE_ACL_POSITIONS >= 2 * SLUICE_ACL_MAX_RULES, "acl: room to move any rule");
_Static_assert(SLUICE_ACL_N_ND_TARGET < (1 << 13), "acl: need bits fit the key's 13");
_Static_assert(SLUICE_ACL_WORDS <= 32, "acl bitmap words is a 32-bit mask");
_Static_assert(sizeof(struct sluice_rl_key) == 20, "rl key layout");
_Static_assert(sizeof(struct sluice_rl_bucket) == 24, "rl bucket layout");
_Static_assert(sizeof(struct sluice_count) == 32, "count layout");
_Static_assert(SLUICE_MAX_STAGES <= 16, "meta.path is a 16-bit mask");
_Static_assert(SLUICE_MAX_STAGES < SLUICE_SLOT_NONE, "meta.last is a byte");
#endif

#endif /* SLUICE_ABI_H */
