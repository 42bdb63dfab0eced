// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The ratelimit stage as a pipeline program; the logic is in ratelimit.h. */
#include <sluice/stage.bpf.h>
#include "ratelimit.h"

SEC("xdp")
int sluice_ratelimit(struct xdp_md *ctx)
{
	struct sluice_meta *m = sluice_stage_enter(ctx);
	int v;

	if (!m)
		return XDP_ABORTED;
	v = sluice_ratelimit_run(ctx, m);
	if (v == SLUICE_CONTINUE)
		return sluice_next(ctx);
	return sluice_verdict(ctx, v);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
