// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The bare AF_XDP redirect sluice-xsk --attach loads (tools/xsk), for
 * bench/dispatch to weigh the capture pipeline [parse, acl, xsk] against.
 * No socket is bound in a test run, so both end on the redirect's fallback.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <sluice/abi.h>

/* Queue -> AF_XDP socket; left empty by the benchmark. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, SLUICE_XSK_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xskbare_xsks SEC(".maps");

SEC("xdp")
int xskbare(struct xdp_md *ctx)
{
	return bpf_redirect_map(&xskbare_xsks, ctx->rx_queue_index, XDP_PASS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
