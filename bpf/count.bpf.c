// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The count stage as a pipeline program; the logic is in count.h. It never decides. */
#include <sluice/stage.bpf.h>
#include "count.h"

SEC("xdp")
int sluice_count(struct xdp_md *ctx)
{
	struct sluice_meta *m = sluice_stage_enter(ctx);
	int v;

	if (!m)
		return XDP_ABORTED;
	v = sluice_count_run(ctx, m);
	if (v == SLUICE_CONTINUE)
		return sluice_next(ctx);
	return sluice_verdict(ctx, v);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
