// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The pass stage dispatching from a __noinline subprogram, as the entry
 * does, instead of from its main program: each stage's main frame stays on
 * the stack under the next stage, and the verdict returns through every one
 * of them. The design sluice does not use for stages; the dispatch benchmark
 * measures what it would cost ("tail calls from nested subprograms").
 */
#include <sluice/stage.bpf.h>

static __noinline int passnest_next(struct xdp_md *ctx)
{
	int ret = sluice_next(ctx);

	/* See bpf/entry.bpf.c: keeps clang from folding the chain's verdict away. */
	asm volatile("" : "+r"(ret));
	return ret;
}

SEC("xdp")
int sluice_passnest(struct xdp_md *ctx)
{
	if (!sluice_stage_enter(ctx))
		return XDP_ABORTED;
	return passnest_next(ctx);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
