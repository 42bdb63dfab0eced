// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A parser shaped like the kernel's flow dissector program
 * (tools/testing/selftests/bpf/progs/bpf_flow.c), the other workload the
 * tail-calls-from-subprograms feature was measured on: an entry reads the
 * Ethernet header and dispatches on the ethertype through a prog_array to
 * one program per protocol (IPv4, IPv6, VLAN, which dispatches again), each
 * writing what it found into per-CPU flow keys. Built twice: as is, the
 * dispatch is inlined into each program's main body and the program that
 * finishes the packet also finishes the keys; with BENCH_SUBPROG
 * (flow_sub.bpf.o) it is a __noinline subprogram, so the verdict comes back
 * to the entry, which finishes the keys once. Same work either way.
 */
#include <stddef.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <sluice/abi.h>

enum { FLOW_IP, FLOW_IPV6, FLOW_VLAN, FLOW_NR };

struct flow_keys {
	__u16 nhoff;		/* offset of the next header */
	__u16 thoff;		/* offset of L4 */
	__u16 n_proto;		/* ethertype of L3, network order */
	__u8 ip_proto;
	__u8 is_frag;
	__u32 src[4], dst[4];
	__u16 sport, dport;	/* network order */
	__u32 done;		/* packets finished (the check counts them) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, FLOW_NR);
	__type(key, __u32);
	__type(value, __u32);
} flow_jmp SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct flow_keys);
} flow_state SEC(".maps");

struct vlan_tag {
	__be16 tci;
	__be16 proto;
};

static __always_inline struct flow_keys *flow_keys_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&flow_state, &zero);
}

/* What the packet's last step does with the keys: here, count it. */
static __always_inline int flow_finish(struct flow_keys *k, int verdict)
{
	k->done++;
	return verdict;
}

#ifdef BENCH_SUBPROG
#define FLOW_DISPATCH_ATTR static __noinline
/* The entry finishes the keys once the chain's verdict is back. */
#define FLOW_LEAF_FINISH(k, v) (v)
#else
#define FLOW_DISPATCH_ATTR static __always_inline
#define FLOW_LEAF_FINISH(k, v) flow_finish(k, v)
#endif

/* Tail-calls the program of an ethertype; what it returns if none takes it. */
FLOW_DISPATCH_ATTR int flow_dispatch(struct xdp_md *ctx, __u32 proto)
{
	int ret = XDP_DROP;

	switch (proto) {
	case bpf_htons(ETH_P_IP):
		bpf_tail_call_static(ctx, &flow_jmp, FLOW_IP);
		break;
	case bpf_htons(ETH_P_IPV6):
		bpf_tail_call_static(ctx, &flow_jmp, FLOW_IPV6);
		break;
	case bpf_htons(ETH_P_8021Q):
	case bpf_htons(ETH_P_8021AD):
		bpf_tail_call_static(ctx, &flow_jmp, FLOW_VLAN);
		break;
	}
	/* See bpf/entry.bpf.c: keeps clang from folding the chain's verdict away. */
	asm volatile("" : "+r"(ret));
	return ret;
}

/* Ports of TCP and UDP; anything else ends at L3. */
static __always_inline int flow_l4(struct xdp_md *ctx, struct flow_keys *k)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u16 *ports = data + (k->thoff & 0x3ff);

	if (!k->is_frag && (k->ip_proto == IPPROTO_TCP || k->ip_proto == IPPROTO_UDP)) {
		if ((void *)(ports + 2) > end)
			return FLOW_LEAF_FINISH(k, XDP_DROP);
		k->sport = ports[0];
		k->dport = ports[1];
	}
	return FLOW_LEAF_FINISH(k, XDP_PASS);
}

SEC("xdp")
int flow_dissect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct flow_keys *k = flow_keys_get();
	__u32 done;
	int ret;

	if (!k)
		return XDP_ABORTED;
	done = k->done;
	__builtin_memset(k, 0, sizeof(*k));
	k->done = done;
	if ((void *)(eth + 1) > end)
		return flow_finish(k, XDP_DROP);
	k->nhoff = sizeof(*eth);
	k->n_proto = eth->h_proto;
	ret = flow_dispatch(ctx, eth->h_proto);
	/* With subprogram dispatch, every packet's verdict; else only one no program took. */
	return flow_finish(k, ret);
}

SEC("xdp")
int flow_ip(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct flow_keys *k = flow_keys_get();
	struct iphdr *ip;

	if (!k)
		return XDP_ABORTED;
	ip = data + (k->nhoff & 0xff);
	if ((void *)(ip + 1) > end || ip->ihl < 5)
		return FLOW_LEAF_FINISH(k, XDP_DROP);
	k->ip_proto = ip->protocol;
	k->src[0] = ip->saddr;
	k->dst[0] = ip->daddr;
	k->is_frag = !!(ip->frag_off & bpf_htons(0x3fff));
	k->thoff = k->nhoff + ip->ihl * 4;
	return flow_l4(ctx, k);
}

SEC("xdp")
int flow_ipv6(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct flow_keys *k = flow_keys_get();
	struct ipv6hdr *ip6;

	if (!k)
		return XDP_ABORTED;
	ip6 = data + (k->nhoff & 0xff);
	if ((void *)(ip6 + 1) > end)
		return FLOW_LEAF_FINISH(k, XDP_DROP);
	k->ip_proto = ip6->nexthdr;
	__builtin_memcpy(k->src, &ip6->saddr, 16);
	__builtin_memcpy(k->dst, &ip6->daddr, 16);
	k->thoff = k->nhoff + sizeof(*ip6);
	return flow_l4(ctx, k);
}

/* Up to two tags, then the protocol behind them. */
SEC("xdp")
int flow_vlan(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct flow_keys *k = flow_keys_get();
	struct vlan_tag *tag;
	__u16 proto;

	if (!k)
		return XDP_ABORTED;
	proto = k->n_proto;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		tag = data + (k->nhoff & 0xff);
		if ((void *)(tag + 1) > end)
			return FLOW_LEAF_FINISH(k, XDP_DROP);
		proto = tag->proto;
		k->nhoff += sizeof(*tag);
	}
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD))
		return FLOW_LEAF_FINISH(k, XDP_DROP);
	k->n_proto = proto;
	return FLOW_LEAF_FINISH(k, flow_dispatch(ctx, proto));
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
