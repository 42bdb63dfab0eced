// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A stage that ends the pipeline with a fixed verdict (set in .rodata by its
 * "verdict" parameter): the building block of tests and of the hot-swap proof.
 */
#include <sluice/stage.bpf.h>

const volatile __u32 verdict = XDP_PASS;

SEC("xdp")
int sluice_verdict_stage(struct xdp_md *ctx)
{
	if (!sluice_stage_enter(ctx))
		return XDP_ABORTED;
	return sluice_verdict(ctx, verdict);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
