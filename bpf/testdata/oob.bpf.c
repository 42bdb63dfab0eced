// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A stage the verifier must refuse: it reads the packet without a bounds check. */
#include <sluice/stage.bpf.h>

SEC("xdp")
int oob(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;

	if (!sluice_stage_enter(ctx))
		return XDP_ABORTED;
	if (data[20] == 0x45)
		return sluice_verdict(ctx, XDP_DROP);
	return sluice_next(ctx);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
