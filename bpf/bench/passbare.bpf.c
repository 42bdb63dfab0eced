// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The pass stage without sluice_stage_enter(): no metadata check, path bit
 * or slot counters, only the constant-index tail call. Against pass.bpf.c it
 * splits a stage's cost into dispatch and bookkeeping.
 */
#include <sluice/stage.bpf.h>

SEC("xdp")
int sluice_passbare(struct xdp_md *ctx)
{
	return sluice_next(ctx);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
