/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The public header for writing a sluice stage. A stage is one SEC("xdp")
 * program in its own object:
 *
 *	#include <sluice/stage.bpf.h>
 *
 *	SEC("xdp")
 *	int my_stage(struct xdp_md *ctx)
 *	{
 *		struct sluice_meta *m = sluice_stage_enter(ctx);
 *
 *		if (!m)
 *			return XDP_ABORTED;
 *		if (want_to_drop)
 *			return sluice_verdict(ctx, XDP_DROP);
 *		return sluice_next(ctx);
 *	}
 *
 * The loader sets sluice_cfg before load, binds sluice_progs to the
 * interface's prog_array and reuses every other map of the same name that
 * the pipeline already has, so state survives a swap of the stage's code.
 * The same object runs whether the per-packet context is carried in XDP
 * metadata or in a per-CPU map: sluice_stage_enter() finds it.
 */
#ifndef SLUICE_STAGE_BPF_H
#define SLUICE_STAGE_BPF_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <sluice/abi.h>
#include <sluice/dispatch.bpf.h>

/*
 * What a stage's logic returns to say "not decided here, go on". Built-in
 * stages keep their logic in __always_inline functions returning either this
 * or an XDP action, so the same code can also be built as one inlined
 * program for the dispatch-cost benchmark.
 */
#define SLUICE_CONTINUE		(-1)

/*
 * Set by the loader: this stage's slot, the next slot, its bank and
 * generation, and where the per-packet context lives. abi says which
 * version of this header the stage was built with; the loader reads it
 * before it writes the rest.
 */
const volatile struct sluice_stage_cfg sluice_cfg = {
	.slot = 0,
	.next = SLUICE_SLOT_END,
	.abi = SLUICE_STAGE_ABI,
};

/*
 * The packet's context: in XDP metadata when the pipeline chose metadata and
 * the entry could reserve it for this packet, otherwise in this CPU's slot
 * of sluice_ctx. With the per-CPU carrier chosen, the verifier prunes the
 * metadata branch. Returns NULL only when the map lookup fails.
 */
static __always_inline struct sluice_meta *sluice_meta(struct xdp_md *ctx)
{
	__u32 zero = 0;

	if (sluice_cfg.carrier == SLUICE_CARRIER_META) {
		struct sluice_meta *m = (void *)(long)ctx->data_meta;

		if ((void *)(m + 1) <= (void *)(long)ctx->data)
			return m;
	}
	return bpf_map_lookup_elem(&sluice_ctx, &zero);
}

/*
 * Marks the packet as seen by this slot and returns its context. NULL means
 * there is none to be had: such a stage should return XDP_ABORTED. Counting
 * is left to the entry, once per packet by the last slot that ran: a map
 * lookup per stage would be most of what a stage costs.
 */
static __always_inline struct sluice_meta *sluice_stage_enter(struct xdp_md *ctx)
{
	struct sluice_meta *m = sluice_meta(ctx);
	__u32 slot = sluice_cfg.slot;

	if (!m)
		return NULL;
	/* An entry's packets stay in the bank it chose: another bank's stage means a mix. */
	if (m->bank != sluice_cfg.bank) {
		m->flags |= SLUICE_PKT_MIXED;
		m->gen_other = sluice_cfg.gen;
	}
	m->path |= 1u << (slot & (SLUICE_MAX_STAGES - 1));
	m->last = slot;
	if (m->xflags & SLUICE_X_TIMED)
		sluice_time_mark(slot);
	return m;
}

/*
 * Ends the pipeline with a verdict this stage decided. The entry counts it
 * for this slot, since this slot is the last that ran.
 */
static __always_inline int sluice_verdict(struct xdp_md *ctx, int verdict)
{
	(void)ctx;
	return verdict;
}

/*
 * Hands the packet to the next stage. The last stage passes it. If the next
 * slot is empty the tail call falls through and the entry counts the miss and
 * applies the pipeline's default verdict.
 */
static __always_inline int sluice_next(struct xdp_md *ctx)
{
	if (sluice_cfg.next == SLUICE_SLOT_END)
		return XDP_PASS;
	sluice_tail_call(ctx, &sluice_progs, sluice_cfg.next);
	return SLUICE_RET_MISSED;
}

#endif /* SLUICE_STAGE_BPF_H */
