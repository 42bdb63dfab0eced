// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The XDP entry of an interface's pipeline, one for every bank. It reads the
 * switch word once, resets the per-packet context, then calls a __noinline
 * subprogram that tail-calls the first slot of the chosen bank. Stages chain
 * to each other from their main programs, so whatever the last stage returns
 * comes back here, to the caller of the subprogram: the one place where
 * every final verdict is counted, a missed tail call gets the bank's default
 * verdict, and what went wrong is recorded.
 *
 * Built twice: entry.bpf.o chooses the carrier from .rodata; with
 * SLUICE_ENTRY_PERCPU_ONLY (entry_percpu.bpf.o) it never names
 * bpf_xdp_adjust_meta, for kernels that refuse the helper to XDP programs.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <sluice/abi.h>
#include "entry.h"

/*
 * One tail call per bank, each with an immediate index: the asm texts
 * differ, so clang cannot merge them into one call with a variable key,
 * and the JIT turns each into a patched direct jump.
 */
#define sluice_tail_call_bank(ctx, b)						\
	asm volatile("r1 = %[c]\n\t"						\
		     "r2 = %[map]\n\t"						\
		     "r3 = %[slot]\n\t"						\
		     "call 12"							\
		     :: [c]"r"(ctx), [map]"r"(&sluice_progs),			\
			[slot]"i"(sluice_bank_base(b))				\
		     : "r0", "r1", "r2", "r3", "r4", "r5")

/*
 * What a tail call into an empty slot falls through to. Not const: read at
 * run time, so the verifier cannot know it. Kernels before 6.18 take a
 * subprogram's fall-through value as its only return value and prune the
 * caller's branches on it: every packet would count as missed and the
 * stages' verdicts would be lost.
 */
volatile int sluice_missed_sentinel = SLUICE_RET_MISSED;

/*
 * The tail call replaces this frame, so the stage chain's verdict is what
 * this call returns to sluice_entry_prog(). clang 14 assumes the helper call
 * returns normally and folds the result to the value it read, losing that
 * verdict: the empty asm makes the value opaque to it.
 */
static __noinline int sluice_dispatch(struct xdp_md *ctx, __u32 bank)
{
	int ret;

	if (bank == 0)
		sluice_tail_call_bank(ctx, 0);
	else if (bank == 1)
		sluice_tail_call_bank(ctx, 1);
	else if (bank == 2)
		sluice_tail_call_bank(ctx, 2);
	else
		sluice_tail_call_bank(ctx, 3);
	ret = sluice_missed_sentinel;
#ifndef SLUICE_NO_RETURN_BARRIER
	asm volatile("" : "+r"(ret));
#endif
	return ret;
}
_Static_assert(SLUICE_NR_BANKS == 4, "sluice_dispatch has one tail call per bank");

SEC("xdp")
int sluice_entry_prog(struct xdp_md *ctx)
{
	struct sluice_entry_state st;
	struct sluice_pipe_stats *ps;
	struct sluice_switch *sw;
	struct sluice_meta *m;
	__u32 bank, last;
	bool missed;
	int ret;

	m = sluice_entry_start(ctx, &st, &ret);
	if (!m)
		return ret;
	sw = st.sw;
	ps = st.ps;
	bank = st.bank;
	if (sw->sample_shift && !(ps->packets & ((1ull << ((sw->sample_shift - 1) & 63)) - 1)))
		sluice_entry_sample(ctx, bank);

	ret = sluice_dispatch(ctx, bank);
	/*
	 * bank lived on the stack across the call: verifiers before 6.18 lose
	 * its bound there, so bound it again (the asm keeps clang from
	 * dropping a mask it knows is redundant).
	 */
	asm volatile("" : "+r"(bank));
	bank &= SLUICE_NR_BANKS - 1;

	/* The stages may have moved the frame: find the context again. */
	m = sluice_entry_ctx(ctx);
	if (!m)
		return sluice_entry_end(ctx, ps, NULL, XDP_ABORTED);
	last = m->last;
	missed = ret == SLUICE_RET_MISSED;
	if (missed) {
		ps->missed++;
		ret = sw->verdict[bank];
		if (sw->record)
			sluice_entry_record(ctx, ps, m, bank, SLUICE_AN_MISSED,
					    last == SLUICE_SLOT_NONE ? 0 : last + 1, ret);
	} else if (ret < 0 || ret >= SLUICE_NR_VERDICTS) {
		ps->bad_verdict++;
		ret = XDP_ABORTED;
		if (sw->record)
			sluice_entry_record(ctx, ps, m, bank, SLUICE_AN_BAD_VERDICT, last, ret);
	} else if (sw->record && ret == XDP_ABORTED) {
		sluice_entry_record(ctx, ps, m, bank, SLUICE_AN_ABORTED, last, ret);
	} else if (sw->record && (m->flags & SLUICE_PKT_MIXED)) {
		sluice_entry_record(ctx, ps, m, bank, SLUICE_AN_MIXED, last, ret);
	}
	if (m->xflags & SLUICE_X_TIMED)
		sluice_time_mark(SLUICE_SLOT_NONE);
	sluice_entry_count_slots(ctx, m, bank, ret, missed);
	return sluice_entry_end(ctx, ps, m, ret);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
