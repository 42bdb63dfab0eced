/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The count stage: per-CPU packets and bytes by protocol class and by the
 * verdict the packet has so far, with fragments and packets that crossed
 * two generations counted alongside. It reads only the metadata parse
 * wrote, never the packet, and always goes on.
 */
#ifndef SLUICE_BPF_COUNT_H
#define SLUICE_BPF_COUNT_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <sluice/abi.h>
#include <sluice/stage.bpf.h>

#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6	58
#endif

/* Counters at [proto class * SLUICE_NR_VERDICTS + verdict so far]. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_PC_MAX * SLUICE_NR_VERDICTS);
	__type(key, __u32);
	__type(value, struct sluice_count);
} sluice_counts SEC(".maps");

static __always_inline __u32 sluice_count_l4_class(__u8 proto, __u32 tcp, __u32 udp, __u32 icmp,
						   __u8 icmp_proto, __u32 other)
{
	if (proto == IPPROTO_TCP)
		return tcp;
	if (proto == IPPROTO_UDP)
		return udp;
	if (proto == icmp_proto)
		return icmp;
	return other;
}

static __always_inline __u32 sluice_count_class(const struct sluice_meta *m)
{
	if (m->flags & (SLUICE_PKT_MALFORMED | SLUICE_PKT_TRUNC))
		return SLUICE_PC_MALFORMED;
	if ((m->flags & SLUICE_PKT_ARP) || m->l3_proto == ETH_P_ARP)
		return SLUICE_PC_ARP;
	if (m->l3_proto == ETH_P_IP)
		return sluice_count_l4_class(m->l4_proto, SLUICE_PC_IPV4_TCP, SLUICE_PC_IPV4_UDP,
					     SLUICE_PC_IPV4_ICMP, IPPROTO_ICMP, SLUICE_PC_IPV4_OTHER);
	if (m->l3_proto == ETH_P_IPV6)
		return sluice_count_l4_class(m->l4_proto, SLUICE_PC_IPV6_TCP, SLUICE_PC_IPV6_UDP,
					     SLUICE_PC_IPV6_ICMP, IPPROTO_ICMPV6, SLUICE_PC_IPV6_OTHER);
	return SLUICE_PC_OTHER;
}

static __always_inline int sluice_count_run(struct xdp_md *ctx, struct sluice_meta *m)
{
	/* A packet still moving has been dropped by nobody: it passes, or goes to a socket. */
	__u32 verdict = m->flags & SLUICE_PKT_XSK ? XDP_REDIRECT : XDP_PASS;
	__u32 key = sluice_count_class(m) * SLUICE_NR_VERDICTS + verdict;
	struct sluice_count *c;

	c = bpf_map_lookup_elem(&sluice_counts, &key);
	if (c) {
		c->packets++;
		c->bytes += ctx->data_end - ctx->data;
		if (m->flags & SLUICE_PKT_FRAG)
			c->frags++;
		if (m->flags & SLUICE_PKT_MIXED)
			c->mixed++;
	}
	return SLUICE_CONTINUE;
}

#endif /* SLUICE_BPF_COUNT_H */
