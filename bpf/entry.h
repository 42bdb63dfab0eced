/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the entry does around the stage chain, before and after: reserve the
 * per-packet metadata, then count the final verdict for the pipeline and for
 * the last slot that ran. Shared by the entry and the inlined benchmark
 * program, so the benchmark measures dispatch and nothing else.
 */
#ifndef SLUICE_ENTRY_H
#define SLUICE_ENTRY_H

#include <stdbool.h>
#include <sluice/dispatch.bpf.h>

/* Counters of the whole pipeline, one entry. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sluice_pipe_stats);
} sluice_pipe_stats SEC(".maps");

/* Reserves and clears the metadata; NULL (counted) when the kernel refuses. */
static __always_inline struct sluice_meta *sluice_entry_begin(struct xdp_md *ctx,
							    struct sluice_pipe_stats *ps, __u16 gen)
{
	struct sluice_meta *m;

	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(*m)))
		goto none;
	m = (void *)(long)ctx->data_meta;
	if ((void *)(m + 1) > (void *)(long)ctx->data)
		goto none;
	__builtin_memset(m, 0, sizeof(*m));
	m->gen = gen;
	m->last = SLUICE_SLOT_NONE;
	return m;
none:
	ps->no_meta++;
	return NULL;
}

/*
 * Counts the packet for the last slot that ran, which is all user space needs
 * to know how many entered each slot: a packet that ended at slot j went
 * through every slot before it. A miss is also counted for the empty slot,
 * the one after the last that ran (stage i tail-calls slot i + 1).
 */
static __always_inline void sluice_entry_count_slots(struct xdp_md *ctx, int ret, bool missed,
						     __u32 first_pos)
{
	struct sluice_meta *m = (void *)(long)ctx->data_meta;
	struct sluice_slot_stats *st;
	__u32 last, slot;

	if ((void *)(m + 1) > (void *)(long)ctx->data || m->last == SLUICE_SLOT_NONE) {
		last = SLUICE_SLOT_NONE;
		slot = first_pos;
	} else {
		last = m->last;
		slot = last + 1;
	}
	if (missed) {
		st = bpf_map_lookup_elem(&sluice_slot_stats, &slot);
		if (st)
			st->missed++;
	}
	if (last == SLUICE_SLOT_NONE)
		return;
	st = bpf_map_lookup_elem(&sluice_slot_stats, &last);
	if (!st)
		return;
	st->packets++;
	st->bytes += ctx->data_end - ctx->data;
	if (!missed && ret >= 0 && ret < SLUICE_NR_VERDICTS)
		st->verdict[ret]++;
}

/* Counts the final verdict for the pipeline; returns it. */
static __always_inline int sluice_entry_end(struct xdp_md *ctx, struct sluice_pipe_stats *ps, int ret)
{
	struct sluice_meta *m = (void *)(long)ctx->data_meta;

	if ((void *)(m + 1) <= (void *)(long)ctx->data && (m->flags & SLUICE_PKT_MIXED))
		ps->mixed++;
	ps->packets++;
	ps->bytes += ctx->data_end - ctx->data;
	if (ret >= 0 && ret < SLUICE_NR_VERDICTS)
		ps->verdict[ret]++;
	return ret;
}

#endif /* SLUICE_ENTRY_H */
