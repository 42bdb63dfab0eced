// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The pass stage with a next index the verifier cannot know: the cost of a
 * tail call through the indirect (retpoline) path, against pass.bpf.c whose
 * .rodata index becomes a JIT-patched direct jump.
 */
#include <sluice/stage.bpf.h>

SEC("xdp")
int sluice_passvar(struct xdp_md *ctx)
{
	struct sluice_meta *m = sluice_stage_enter(ctx);
	__u32 next;

	if (!m)
		return XDP_ABORTED;
	if (sluice_cfg.next == SLUICE_SLOT_END)
		return XDP_PASS;
	/* Bit 15 of flags is never set: the key stays right but becomes unknown. */
	next = sluice_cfg.next + (m->flags >> 15);
	sluice_tail_call(ctx, &sluice_progs, next);
	return SLUICE_RET_MISSED;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
