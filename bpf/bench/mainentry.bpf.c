// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Today's entry with its first tail call made from the main program instead
 * of a __noinline subprogram: the design sluice does not use, kept for the
 * dispatch benchmark's "tail calls from main programs only" series. The
 * tail-called stage replaces this program, so whatever the chain returns
 * leaves the XDP hook directly: nothing counts the verdict, a missed slot
 * gets no default verdict. The benchmark binds it to a pass pipeline's
 * prog_array, switch map and per-CPU context and puts it in front of the
 * same stages as the real entry.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <sluice/abi.h>
#include "../entry.h"

#define main_tail_call_bank(ctx, b)						\
	asm volatile("r1 = %[c]\n\t"						\
		     "r2 = %[map]\n\t"						\
		     "r3 = %[slot]\n\t"						\
		     "call 12"							\
		     :: [c]"r"(ctx), [map]"r"(&sluice_progs),			\
			[slot]"i"(sluice_bank_base(b))				\
		     : "r0", "r1", "r2", "r3", "r4", "r5")

SEC("xdp")
int bench_mainentry(struct xdp_md *ctx)
{
	struct sluice_entry_state st;
	struct sluice_pipe_stats *ps;
	struct sluice_meta *m;
	__u32 bank;
	int ret;

	m = sluice_entry_start(ctx, &st, &ret);
	if (!m)
		return ret;
	ps = st.ps;
	bank = st.bank;
	/* Counted before the chain, the only place left to count it. */
	ps->packets++;
	if (bank == 0)
		main_tail_call_bank(ctx, 0);
	else if (bank == 1)
		main_tail_call_bank(ctx, 1);
	else if (bank == 2)
		main_tail_call_bank(ctx, 2);
	else
		main_tail_call_bank(ctx, 3);
	ps->missed++;
	return XDP_ABORTED;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
