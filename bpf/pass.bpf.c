// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A stage that only hands the packet on: the unit of dispatch cost. */
#include <sluice/stage.bpf.h>

SEC("xdp")
int sluice_pass(struct xdp_md *ctx)
{
	if (!sluice_stage_enter(ctx))
		return XDP_ABORTED;
	return sluice_next(ctx);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
