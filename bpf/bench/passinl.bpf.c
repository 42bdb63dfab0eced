// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Entry + N pass stages as one program: the entry's work from bpf/entry.h
 * before and after, and for each stage what sluice_stage_enter() does (bank
 * check, path bit, last position, timing check), with no tail call at all.
 * The "everything inlined" series of the dispatch benchmark, against entry
 * + N real pass stages. Built twice, like inlined.bpf.c.
 */
#include <sluice/stage.bpf.h>
#include "../entry.h"

/* Pass stages to inline, 1..SLUICE_MAX_STAGES; set before load. */
const volatile __u32 nr_stages = 1;

static __always_inline void inl_enter(struct sluice_meta *m, __u32 slot)
{
	if (m->bank != sluice_cfg.bank) {
		m->flags |= SLUICE_PKT_MIXED;
		m->gen_other = sluice_cfg.gen;
	}
	m->path |= 1u << slot;
	m->last = slot;
	if (m->xflags & SLUICE_X_TIMED)
		sluice_time_mark(slot);
}

SEC("xdp")
int bench_passinl(struct xdp_md *ctx)
{
	struct sluice_pipe_stats *ps;
	struct sluice_switch *sw;
	struct sluice_meta *m;
	union sluice_word w;
	__u32 zero = 0, bank, gen, xflags = 0;
	int ret = XDP_PASS;

	sw = bpf_map_lookup_elem(&sluice_switch, &zero);
	if (!sw)
		return XDP_ABORTED;
	w.raw = *(volatile __u64 *)&sw->word.raw;
	bank = w.bank;
	gen = w.gen;
	if (w.share)
		sluice_entry_choose(ctx, &w, &bank, &gen, &xflags);
	bank &= SLUICE_NR_BANKS - 1;
	ps = bpf_map_lookup_elem(&sluice_pipe_stats, &bank);
	if (!ps)
		return XDP_ABORTED;
	m = sluice_entry_begin(ctx, ps, bank, gen, xflags);
	if (!m)
		return sluice_entry_end(ctx, ps, NULL, XDP_ABORTED);
	if (sw->time_shift && !(ps->packets & ((1ull << (sw->time_shift & 63)) - 1))) {
		m->xflags |= SLUICE_X_TIMED;
		sluice_time_start();
	}
#pragma unroll
	for (__u32 i = 0; i < SLUICE_MAX_STAGES; i++) {
		if (i >= nr_stages)
			break;
		inl_enter(m, i);
	}
	if (sw->record && (m->flags & SLUICE_PKT_MIXED))
		sluice_entry_record(ctx, ps, m, bank, SLUICE_AN_MIXED, m->last, ret);
	if (m->xflags & SLUICE_X_TIMED)
		sluice_time_mark(SLUICE_SLOT_NONE);
	sluice_entry_count_slots(ctx, m, bank, ret, false);
	return sluice_entry_end(ctx, ps, m, ret);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
