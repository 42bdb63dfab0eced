/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the entry and every stage share: the generation's prog_array, the
 * per-slot counters, and the tail call with a .rodata index.
 */
#ifndef SLUICE_DISPATCH_BPF_H
#define SLUICE_DISPATCH_BPF_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <sluice/abi.h>

/* The generation's prog_array: slot i holds stage i. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, SLUICE_PROG_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} sluice_progs SEC(".maps");

/* Packets, bytes, verdicts and missed tail calls per slot. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_MAX_STAGES);
	__type(key, __u32);
	__type(value, struct sluice_slot_stats);
} sluice_slot_stats SEC(".maps");

/*
 * bpf_tail_call_static() wants a compile-time index; ours is a .rodata
 * constant that only the verifier knows. Keeping r2 and r3 in one asm block
 * stops clang from merging paths with different keys, which would make the
 * verifier poison the key and fall back to the retpoline path.
 */
static __always_inline void sluice_tail_call(void *ctx, void *map, __u32 slot)
{
	asm volatile("r1 = %[ctx]\n\t"
		     "r2 = %[map]\n\t"
		     "r3 = %[slot]\n\t"
		     "call 12"
		     :: [ctx]"r"(ctx), [map]"r"(map), [slot]"r"(slot)
		     : "r0", "r1", "r2", "r3", "r4", "r5");
}

#endif /* SLUICE_DISPATCH_BPF_H */
