// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * seqcheck: a checking sink for the hot-swap proof. Placed last, after
 * parse, it takes the struct sluice_payload that sluice-gen stamps after the
 * UDP header and records, for a bounded run:
 *
 *  - one bit per sequence number in a per-CPU bitmap: a CPU that sees a seq
 *    twice counts the duplicate here; user space ORs the CPUs' bitmaps for
 *    what was seen and counts a bit set on several CPUs as duplicates, so
 *    lost and duplicated are exact without atomics on a shared line;
 *  - per flow (per CPU): packets, highest seq, packets below the highest;
 *  - packets that carry SLUICE_PKT_MIXED or whose meta.path is not the full
 *    path, i.e. a packet that met stages of two generations or skipped one.
 *
 * Then it drops the packet, so the device's stack never sees test traffic.
 * sluice-gen numbers packets across its flows (flow = seq % flows), so one
 * bitmap by seq covers every flow.
 */
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <sluice/stage.bpf.h>
#include "seqcheck.h"

/*
 * meta.path a packet must arrive with, this slot included; 0 = every slot
 * from 0 up to this one (the whole pipeline, with the sink last).
 */
const volatile __u32 want_path = 0;
/* Sequence numbers >= max_seq count as beyond; 0 = the bitmap's capacity. */
const volatile __u64 max_seq = 0;

/* Counters of the whole sink, one entry. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct seqcheck_stats);
} seqcheck_stats SEC(".maps");

/* Counters per flow id. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SEQCHECK_MAX_FLOWS);
	__type(key, __u32);
	__type(value, struct seqcheck_flow);
} seqcheck_flows SEC(".maps");

/*
 * Seen seqs per CPU, SEQCHECK_CHUNK_BITS per entry. Per-CPU also keeps the
 * pipeline's pre-flight runs out of it: they get an empty scratch copy.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SEQCHECK_SEEN_CHUNKS);
	__type(key, __u32);
	__type(value, struct seqcheck_chunk);
} seqcheck_seen SEC(".maps");

static __always_inline void seqcheck_record(struct seqcheck_stats *st, __u32 flow, __u64 seq)
{
	__u64 limit = max_seq ? max_seq : (__u64)SEQCHECK_SEEN_CHUNKS * SEQCHECK_CHUNK_BITS;
	struct seqcheck_chunk *chunk;
	struct seqcheck_flow *fl;
	__u64 *word, bit;
	__u32 idx;

	fl = flow < SEQCHECK_MAX_FLOWS ? bpf_map_lookup_elem(&seqcheck_flows, &flow) : NULL;
	if (fl) {
		fl->packets++;
		if (seq < fl->next_seq)
			fl->reorder++;
		else
			fl->next_seq = seq + 1;
	} else {
		st->flow_beyond++;
	}

	if (seq >= limit) {
		st->beyond++;
		return;
	}
	idx = (__u32)(seq / SEQCHECK_CHUNK_BITS);
	chunk = bpf_map_lookup_elem(&seqcheck_seen, &idx);
	if (!chunk) {
		st->beyond++;
		return;
	}
	word = &chunk->w[(seq / 64) % SEQCHECK_CHUNK_WORDS];
	bit = 1ull << (seq % 64);
	if (*word & bit)
		st->dups++;
	*word |= bit;
}

SEC("xdp")
int seqcheck(struct xdp_md *ctx)
{
	struct sluice_meta *m = sluice_stage_enter(ctx);
	__u32 path = want_path ? want_path : (2u << (sluice_cfg.slot & 31)) - 1;
	struct sluice_payload *pl;
	struct seqcheck_stats *st;
	void *data, *data_end;
	__u32 zero = 0;
	__u16 off;

	if (!m)
		return XDP_ABORTED;
	st = bpf_map_lookup_elem(&seqcheck_stats, &zero);
	if (!st)
		return sluice_verdict(ctx, XDP_DROP);
	st->packets++;
	if (m->flags & SLUICE_PKT_MIXED)
		st->mixed++;
	if (m->path != path) {
		st->bad_path++;
		st->last_path = m->path;
	}

	/* parse left the UDP header's offset; a later fragment has no payload. */
	off = m->l4_off;
	if (m->l4_proto != IPPROTO_UDP || !off || (m->flags & SLUICE_PKT_FRAG_LATER) || off > 1024) {
		st->foreign++;
		return sluice_verdict(ctx, XDP_DROP);
	}
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	pl = data + off + sizeof(struct udphdr);
	if ((void *)(pl + 1) > data_end || pl->magic != bpf_htonl(SLUICE_PAYLOAD_MAGIC)) {
		st->foreign++;
		return sluice_verdict(ctx, XDP_DROP);
	}
	seqcheck_record(st, bpf_ntohl(pl->flow), bpf_be64_to_cpu(pl->seq));
	return sluice_verdict(ctx, XDP_DROP);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
