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
	struct sluice_entry_state st;
	struct sluice_meta *m;
	int ret;

	m = sluice_entry_start(ctx, &st, &ret);
	if (!m)
		return ret;
	/* Every pass stage hands on; the last one passes. */
	ret = XDP_PASS;
#pragma unroll
	for (__u32 i = 0; i < SLUICE_MAX_STAGES; i++) {
		if (i >= nr_stages)
			break;
		inl_enter(m, i);
	}
	if (st.sw->record && (m->flags & SLUICE_PKT_MIXED))
		sluice_entry_record(ctx, st.ps, m, st.bank, SLUICE_AN_MIXED, m->last, ret);
	if (m->xflags & SLUICE_X_TIMED)
		sluice_time_mark(SLUICE_SLOT_NONE);
	sluice_entry_count_slots(ctx, m, st.bank, ret, false);
	return sluice_entry_end(ctx, st.ps, m, ret);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
