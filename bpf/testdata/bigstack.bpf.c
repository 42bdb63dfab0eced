// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A stage the kernel must refuse: 256+ bytes of stack in the frame below a
 * subprogram that tail-calls. Tests check that the error says so.
 */
#include <sluice/stage.bpf.h>

static __noinline int hand_on(struct xdp_md *ctx)
{
	int ret = SLUICE_RET_MISSED;

	sluice_tail_call(ctx, &sluice_progs, sluice_cfg.next);
	asm volatile("" : "+r"(ret));
	return ret;
}

SEC("xdp")
int bigstack(struct xdp_md *ctx)
{
	if (!sluice_stage_enter(ctx))
		return XDP_ABORTED;
	/* Claims 264 bytes of this frame, as a large local buffer would. */
	asm volatile("r1 = 42\n\t"
		     "*(u64 *)(r10 - 264) = r1" ::: "r1");
	return hand_on(ctx);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
