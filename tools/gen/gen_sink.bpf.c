// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Receive-side checker for generator tests: counts frames carrying a
 * struct sluice_payload, verifies each payload checksum, records every
 * sequence number in a bitmap, hands a sample of frames to user space for
 * pkt_check() and drops everything.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <sluice/abi.h>
#include "gen_stamp.h"
#include "gen_sink.h"

/* Hand every Nth frame (by seq) to user space; 0 = none. */
const volatile __u64 sample_every = 0;
/* Hash payload bodies in BPF: exact but costs per byte. */
const volatile __u8 check_body = 1;

/* Counters, one entry. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gen_sink_stats);
} sink_stats SEC(".maps");

/* Seen seqs: bit seq % 64 of word seq / 64; sized by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sink_seen SEC(".maps");

/* Sampled frames for user-space checks. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} sink_samples SEC(".maps");

static __always_inline __u32 body_fnv(void *body, void *data_end, __u32 len)
{
	__u32 h = 2166136261u;
	__u8 *b = body;
	__u32 i;

	for (i = 0; i < GEN_SINK_MAX_BODY; i++) {
		if (i >= len || (void *)(b + i + 1) > data_end)
			break;
		h ^= b[i];
		h *= 16777619u;
	}
	return h;
}

/* Returns the payload of a frame built by lib/pkt.c, or NULL. */
static __always_inline struct sluice_payload *find_payload(void *data, void *data_end)
{
	struct ethhdr *eth = data;
	struct iphdr *ip;
	__u16 proto;
	void *l4;
	int i;

	if ((void *)(eth + 1) > data_end)
		return NULL;
	proto = eth->h_proto;
	data = eth + 1;
#pragma unroll
	for (i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if (data + 4 > data_end)
			return NULL;
		proto = *(__u16 *)(data + 2);
		data += 4;
	}
	if (proto != bpf_htons(ETH_P_IP))
		return NULL;
	ip = data;
	if ((void *)(ip + 1) > data_end || ip->ihl != 5)
		return NULL;
	l4 = ip + 1;
	if (ip->protocol == IPPROTO_UDP) {
		l4 += 8;
	} else if (ip->protocol == IPPROTO_TCP) {
		if (l4 + 20 > data_end)
			return NULL;
		l4 += (((__u8 *)l4)[12] >> 4) * 4;
	} else {
		return NULL;
	}
	if (l4 + sizeof(struct sluice_payload) > data_end)
		return NULL;
	return l4;
}

SEC("xdp")
int gen_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct gen_sink_stats *st;
	struct sluice_payload *pl;
	__u32 zero = 0, word;
	__u64 seq, *bits, bit;

	st = bpf_map_lookup_elem(&sink_stats, &zero);
	if (!st)
		return XDP_DROP;
	st->packets++;
	st->bytes += data_end - data;
	pl = find_payload(data, data_end);
	if (!pl || pl->magic != bpf_htonl(SLUICE_PAYLOAD_MAGIC)) {
		st->foreign++;
		return XDP_DROP;
	}
	seq = bpf_be64_to_cpu(pl->seq);
	if (check_body) {
		__u32 fnv = body_fnv(pl + 1, data_end, bpf_ntohl(pl->len));
		__u32 want = gen_payload_csum(fnv ^ bpf_ntohl(pl->flow), seq);

		if (want != bpf_ntohl(pl->csum))
			st->bad_csum++;
	}
	if (seq < st->next_seq)
		st->reorder++;
	st->next_seq = seq + 1;

	word = (__u32)(seq / 64);
	bit = 1ull << (seq % 64);
	bits = seq / 64 < 0xffffffffull ? bpf_map_lookup_elem(&sink_seen, &word) : NULL;
	if (!bits) {
		st->beyond++;
	} else {
		if (*bits & bit)
			st->dups++;
		*bits |= bit;
	}

	if (sample_every && seq % sample_every == 0) {
		struct gen_sink_sample *s;
		__u32 len = data_end - data;

		__u32 cap = len < GEN_SINK_SAMPLE_LEN ? len : GEN_SINK_SAMPLE_LEN;

		s = bpf_ringbuf_reserve(&sink_samples, sizeof(*s), 0);
		if (s) {
			s->len = len;
			s->cap = 0;
			/* Masked into 1..SAMPLE_LEN so the verifier sees the bound. */
			cap = ((cap - 1) & (GEN_SINK_SAMPLE_LEN - 1)) + 1;
			if (len && !bpf_xdp_load_bytes(ctx, 0, s->data, cap))
				s->cap = cap;
			bpf_ringbuf_submit(s, 0);
			st->sampled++;
		}
	}
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
