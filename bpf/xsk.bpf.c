// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The xsk stage as a pipeline program; the logic is in xsk.h. */
#include <sluice/stage.bpf.h>
#include "xsk.h"

SEC("xdp")
int sluice_xsk(struct xdp_md *ctx)
{
	struct sluice_meta *m = sluice_stage_enter(ctx);
	int v;

	if (!m)
		return XDP_ABORTED;
	v = sluice_xsk_run(ctx, m);
	if (v == SLUICE_CONTINUE)
		return sluice_next(ctx);
	return sluice_verdict(ctx, v);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
