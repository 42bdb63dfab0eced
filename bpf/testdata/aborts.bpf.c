// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A stage that loads fine and aborts every packet: the auto-rollback trigger. */
#include <sluice/stage.bpf.h>

SEC("xdp")
int aborts(struct xdp_md *ctx)
{
	if (!sluice_stage_enter(ctx))
		return XDP_ABORTED;
	return sluice_verdict(ctx, XDP_ABORTED);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
