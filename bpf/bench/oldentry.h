/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The little of the ABI before the switch word (ABI 2, commit 52a3cbe^) that
 * its entry needs, for bpf/bench/oldentry.bpf.c only: the benchmark weighs
 * that entry against today's. Nothing else may include this; the one ABI is
 * include/sluice/abi.h.
 */
#ifndef SLUICE_BENCH_OLDENTRY_H
#define SLUICE_BENCH_OLDENTRY_H

#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define SLUICE_MAX_STAGES	16
/*
 * ABI 2 had 2 banks (32 slots). The copy is bound to today's prog_array of
 * 4 banks, whose size must match for libbpf to reuse it; the entry only
 * ever calls the slot in .rodata, so the size changes nothing it does.
 */
#define SLUICE_PROG_SLOTS	64
#define SLUICE_SLOT_NONE	0xff
#define SLUICE_RET_MISSED	0x5c1cedu
#define SLUICE_NR_VERDICTS	5
#define SLUICE_PKT_MIXED	(1 << 9)

/*
 * ABI 2's metadata: path was 32 bits where today's has path (16), bank and
 * xflags. Cleared, the two read alike, so today's stages of bank 0 run
 * behind this entry exactly as behind their own.
 */
struct sluice_meta {
	__u32 path;
	__u32 rule;
	__u16 gen;
	__u16 gen_other;
	__u16 flags;
	__u16 l3_off;
	__u16 l4_off;
	__u16 l3_proto;
	__u16 sport;
	__u16 dport;
	__u16 vlan_id;
	__u8 l4_proto;
	__u8 vlans;
	__u8 last;
	__u8 tcp_flags;
	__u8 ip_ttl;
	__u8 ext_hdrs;
};

struct sluice_slot_stats {
	__u64 packets;
	__u64 bytes;
	__u64 missed;
	__u64 verdict[SLUICE_NR_VERDICTS];
};

/* Same layout as today's up to no_meta (the benchmark reads packets, verdicts, missed, no_meta). */
struct sluice_pipe_stats {
	__u64 packets;
	__u64 bytes;
	__u64 verdict[SLUICE_NR_VERDICTS];
	__u64 missed;
	__u64 mixed;
	__u64 bad_verdict;
	__u64 no_meta;
	__u64 pad;
};

/* One entry per generation: its bank's first slot was a .rodata constant. */
struct sluice_entry_cfg {
	__u32 first;
	__u16 gen;
	__u8 default_verdict;
	__u8 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, SLUICE_PROG_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} sluice_progs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_MAX_STAGES);
	__type(key, __u32);
	__type(value, struct sluice_slot_stats);
} sluice_slot_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sluice_pipe_stats);
} sluice_pipe_stats SEC(".maps");

static __always_inline void sluice_tail_call(void *ctx, void *map, __u32 slot)
{
	asm volatile("r1 = %[ctx]\n\t"
		     "r2 = %[map]\n\t"
		     "r3 = %[slot]\n\t"
		     "call 12"
		     :: [ctx]"r"(ctx), [map]"r"(map), [slot]"r"(slot)
		     : "r0", "r1", "r2", "r3", "r4", "r5");
}

#endif /* SLUICE_BENCH_OLDENTRY_H */
