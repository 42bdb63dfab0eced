// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The parse stage: classifies the frame into sluice_meta for the stages
 * after it (logic in parse.h). It decides no verdict of its own unless the
 * loader set drop_malformed.
 */
#include <sluice/stage.bpf.h>
#include "parse.h"

SEC("xdp")
int sluice_parse(struct xdp_md *ctx)
{
	struct sluice_meta *m = sluice_stage_enter(ctx);
	int v;

	if (!m)
		return XDP_ABORTED;
	v = sluice_parse_run(ctx, m);
	if (v == SLUICE_CONTINUE)
		return sluice_next(ctx);
	return sluice_verdict(ctx, v);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
