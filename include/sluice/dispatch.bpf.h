/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the entry and every stage share: the prog_array, the per-CPU context
 * carrier, the stage-timing maps, and the tail call with a constant index.
 */
#ifndef SLUICE_DISPATCH_BPF_H
#define SLUICE_DISPATCH_BPF_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <sluice/abi.h>

/* The interface's prog_array: bank b's stage i in slot b * SLUICE_MAX_STAGES + i. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, SLUICE_PROG_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} sluice_progs SEC(".maps");

/*
 * The per-packet context where it is not in XDP metadata. XDP runs a packet
 * to completion on one CPU with migration off, so the entry and the stages
 * of one packet see the same slot, and no other packet can run on that CPU
 * before this one returns (docs/datapath.md; PREEMPT_RT differs).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sluice_meta);
} sluice_ctx SEC(".maps");

/* Stage timing: the last mark of a timed packet on this CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sluice_time_mark);
} sluice_time_marks SEC(".maps");

/* Stage timing: histograms per position, the entry's own at SLUICE_MAX_STAGES. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_MAX_STAGES + 1);
	__type(key, __u32);
	__type(value, struct sluice_stage_time);
} sluice_stage_time SEC(".maps");

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

/* log2 bucket of a time in ns, without a loop: the verifier sees five compares. */
static __always_inline __u32 sluice_time_bucket(__u64 ns)
{
	__u32 b = 0;

	if (ns >> 32)
		return SLUICE_TIME_BUCKETS - 1;
	if (ns >= 1u << 16) { b += 16; ns >>= 16; }
	if (ns >= 1u << 8) { b += 8; ns >>= 8; }
	if (ns >= 1u << 4) { b += 4; ns >>= 4; }
	if (ns >= 1u << 2) { b += 2; ns >>= 2; }
	if (ns >= 1u << 1) b += 1;
	return b < SLUICE_TIME_BUCKETS ? b : SLUICE_TIME_BUCKETS - 1;
}

/*
 * Ends the running mark (charging it to the position that started it) and
 * starts one for pos. Only timed packets come here: two clock reads and two
 * lookups per stage would otherwise be most of what a stage costs.
 */
static __always_inline void sluice_time_mark(__u32 pos)
{
	struct sluice_time_mark *tm;
	struct sluice_stage_time *st;
	__u64 now = bpf_ktime_get_ns(), d;
	__u32 zero = 0, key;

	tm = bpf_map_lookup_elem(&sluice_time_marks, &zero);
	if (!tm)
		return;
	key = tm->pos;
	if (key <= SLUICE_MAX_STAGES) {
		st = bpf_map_lookup_elem(&sluice_stage_time, &key);
		if (st) {
			d = now - tm->ns;
			st->count++;
			st->sum_ns += d;
			st->bucket[sluice_time_bucket(d) & (SLUICE_TIME_BUCKETS - 1)]++;
		}
	}
	tm->ns = now;
	tm->pos = pos;
}

#endif /* SLUICE_DISPATCH_BPF_H */
