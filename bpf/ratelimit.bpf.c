// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Placeholder until the ratelimit stage lands: hands the packet on. */
#include <sluice/stage.bpf.h>

SEC("xdp")
int sluice_ratelimit(struct xdp_md *ctx)
{
	if (!sluice_stage_enter(ctx))
		return XDP_ABORTED;
	return sluice_next(ctx);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
