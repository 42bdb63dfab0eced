// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The acl stage as a pipeline program; the logic is in acl.h. */
#include <sluice/stage.bpf.h>
#include "acl.h"

SEC("xdp")
int sluice_acl(struct xdp_md *ctx)
{
	struct sluice_meta *m = sluice_stage_enter(ctx);
	int v;

	if (!m)
		return XDP_ABORTED;
	v = sluice_acl_run(ctx, m);
	if (v == SLUICE_CONTINUE)
		return sluice_next(ctx);
	return sluice_verdict(ctx, v);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
