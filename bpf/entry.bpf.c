// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The XDP entry of a pipeline generation. It reserves the per-packet metadata,
 * then calls a __noinline subprogram that tail-calls the first stage. Stages
 * chain to each other from their main programs, so whatever the last stage
 * returns comes back here, to the caller of the subprogram: the one place
 * where every final verdict is counted and a missed tail call gets the
 * pipeline's default verdict.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <sluice/abi.h>
#include "entry.h"

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

SEC("xdp")
int sluice_entry_prog(struct xdp_md *ctx)
{
	struct sluice_pipe_stats *ps;
	__u32 zero = 0;
	bool missed;
	int ret;

	ps = bpf_map_lookup_elem(&sluice_pipe_stats, &zero);
	if (!ps)
		return XDP_ABORTED;
	if (!sluice_entry_begin(ctx, ps, sluice_entry.gen))
		return sluice_entry_end(ctx, ps, XDP_ABORTED);

	ret = sluice_dispatch(ctx);
	missed = ret == SLUICE_RET_MISSED;
	if (missed) {
		ps->missed++;
		ret = sluice_entry.default_verdict;
	} else if (ret < 0 || ret >= SLUICE_NR_VERDICTS) {
		ps->bad_verdict++;
		ret = XDP_ABORTED;
	}
	sluice_entry_count_slots(ctx, ret, missed, 0);
	return sluice_entry_end(ctx, ps, ret);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
