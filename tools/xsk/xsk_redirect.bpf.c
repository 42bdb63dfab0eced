// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The bare baseline sluice-xsk --attach puts on an interface: every frame goes
 * to the socket bound to its rx queue, or to the stack when there is none.
 * Nothing else runs, so "pipeline vs bare redirect" measures the pipeline.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <sluice/abi.h>

/* AF_XDP sockets by rx queue, filled by sluice-xsk. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, SLUICE_XSK_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

SEC("xdp")
int xsk_redirect(struct xdp_md *ctx)
{
	return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
