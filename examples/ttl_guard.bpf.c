// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * An example of a user-written stage, built against <sluice/stage.bpf.h>
 * only: drop IPv4 packets whose TTL (and, with ipv6 = 1, IPv6 packets whose
 * hop limit) is below min_ttl. It reads the TTL the parse stage put in the
 * metadata, so it must run after parse.
 */
#include <linux/if_ether.h>
#include <sluice/stage.bpf.h>

/* Packets with a TTL below this are dropped. Set by the loader. */
const volatile __u32 min_ttl = 2;
/* 1: also apply min_ttl to the IPv6 hop limit. */
const volatile __u32 ipv6 = 0;

/* Packets dropped for their TTL, per CPU (one entry). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} ttl_guard_drops SEC(".maps");

SEC("xdp")
int ttl_guard(struct xdp_md *ctx)
{
	struct sluice_meta *m = sluice_stage_enter(ctx);
	__u32 zero = 0;
	__u64 *drops;

	if (!m)
		return XDP_ABORTED;
	if (!(m->l3_proto == ETH_P_IP || (ipv6 && m->l3_proto == ETH_P_IPV6)) || m->ip_ttl >= min_ttl)
		return sluice_next(ctx);
	drops = bpf_map_lookup_elem(&ttl_guard_drops, &zero);
	if (drops)
		(*drops)++;
	return sluice_verdict(ctx, XDP_DROP);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
