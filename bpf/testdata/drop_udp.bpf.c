// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A candidate that drops every UDP packet and hands the rest on: the shadow diff's subject. */
#include <linux/in.h>
#include <sluice/stage.bpf.h>

SEC("xdp")
int drop_udp(struct xdp_md *ctx)
{
	struct sluice_meta *m = sluice_stage_enter(ctx);

	if (!m)
		return XDP_ABORTED;
	if (m->l4_proto == IPPROTO_UDP)
		return sluice_verdict(ctx, XDP_DROP);
	return sluice_next(ctx);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
