// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The XDP entry of a pipeline generation. It reserves the per-packet metadata,
 * then calls a __noinline subprogram that tail-calls the first stage. Stages
 * chain to each other from their main programs, so whatever the last stage
 * returns comes back here, to the caller of the subprogram: the one place
 * where every final verdict is counted and a missed tail call gets the
 * pipeline's default verdict.
 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <sluice/abi.h>
#include <sluice/dispatch.bpf.h>

/* Counters of the whole pipeline, one entry. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sluice_pipe_stats);
} sluice_pipe_stats SEC(".maps");

const volatile struct sluice_entry_cfg sluice_entry = {
	.first = 0,
	.default_verdict = XDP_PASS,
};

/*
 * The tail call replaces this frame, so the stage chain's verdict is what
 * this call returns to sluice_entry_prog(). clang 14 assumes the helper call
 * returns normally and folds the result to the constant below, losing that
 * verdict: the empty asm makes the value opaque to it.
 */
static __noinline int sluice_dispatch(struct xdp_md *ctx)
{
	int ret = SLUICE_RET_MISSED;
	__u32 first = sluice_entry.first;

	sluice_tail_call(ctx, &sluice_progs, first);
#ifndef SLUICE_NO_RETURN_BARRIER
	asm volatile("" : "+r"(ret));
#endif
	return ret;
}

/*
 * Counts the packet for the last slot that ran, which is all user space needs
 * to know how many entered each slot: a packet that ended at slot j went
 * through every slot before it. A miss is also counted for the empty slot.
 */
static __always_inline void count_slots(struct xdp_md *ctx, int ret, bool missed)
{
	struct sluice_meta *m = (void *)(long)ctx->data_meta;
	struct sluice_slot_stats *st;
	__u32 last, slot;

	if ((void *)(m + 1) > (void *)(long)ctx->data || m->last == SLUICE_SLOT_NONE) {
		last = SLUICE_SLOT_NONE;
		slot = sluice_entry.first;
	} else {
		/* Stage i tail-calls slot i + 1: a miss was just past the last one. */
		last = m->last;
		slot = last + 1;
	}
	if (missed) {
		st = bpf_map_lookup_elem(&sluice_slot_stats, &slot);
		if (st)
			st->missed++;
	}
	if (last == SLUICE_SLOT_NONE)
		return;
	st = bpf_map_lookup_elem(&sluice_slot_stats, &last);
	if (!st)
		return;
	st->packets++;
	st->bytes += ctx->data_end - ctx->data;
	if (!missed && ret >= 0 && ret < SLUICE_NR_VERDICTS)
		st->verdict[ret]++;
}

SEC("xdp")
int sluice_entry_prog(struct xdp_md *ctx)
{
	struct sluice_pipe_stats *ps;
	struct sluice_meta *m;
	__u32 zero = 0;
	bool missed;
	int ret;

	ps = bpf_map_lookup_elem(&sluice_pipe_stats, &zero);
	if (!ps)
		return XDP_ABORTED;

	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(*m))) {
		ps->no_meta++;
		ret = XDP_ABORTED;
		goto out;
	}
	m = (void *)(long)ctx->data_meta;
	if ((void *)(m + 1) > (void *)(long)ctx->data) {
		ps->no_meta++;
		ret = XDP_ABORTED;
		goto out;
	}
	__builtin_memset(m, 0, sizeof(*m));
	m->gen = sluice_entry.gen;
	m->last = SLUICE_SLOT_NONE;

	ret = sluice_dispatch(ctx);
	missed = ret == SLUICE_RET_MISSED;
	if (missed) {
		ps->missed++;
		ret = sluice_entry.default_verdict;
	} else if (ret < 0 || ret >= SLUICE_NR_VERDICTS) {
		ps->bad_verdict++;
		ret = XDP_ABORTED;
	}
	count_slots(ctx, ret, missed);
	m = (void *)(long)ctx->data_meta;
	if ((void *)(m + 1) <= (void *)(long)ctx->data && (m->flags & SLUICE_PKT_MIXED))
		ps->mixed++;
out:
	ps->packets++;
	ps->bytes += ctx->data_end - ctx->data;
	if (ret >= 0 && ret < SLUICE_NR_VERDICTS)
		ps->verdict[ret]++;
	return ret;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
