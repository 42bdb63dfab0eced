// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The pass stage with the stage-timing mark of sluice_stage_enter() moved
 * into a __noinline subprogram. Inlined, the mark's few registers make the
 * JIT save and restore three more callee-saved registers in every stage's
 * prologue and before every tail call, timed or not; out of line it costs a
 * call only on timed packets. The dispatch benchmark weighs it against the
 * pass stage ("lean" series), as evidence for <sluice/stage.bpf.h>.
 */
#include <sluice/stage.bpf.h>

static __noinline int lean_mark(__u32 slot)
{
	sluice_time_mark(slot);
	return 0;
}

static __always_inline struct sluice_meta *lean_enter(struct xdp_md *ctx)
{
	struct sluice_meta *m = sluice_meta(ctx);
	__u32 slot = sluice_cfg.slot;

	if (!m)
		return NULL;
	if (m->bank != sluice_cfg.bank) {
		m->flags |= SLUICE_PKT_MIXED;
		m->gen_other = sluice_cfg.gen;
	}
	m->path |= 1u << (slot & (SLUICE_MAX_STAGES - 1));
	m->last = slot;
	if (m->xflags & SLUICE_X_TIMED)
		lean_mark(slot);
	return m;
}

SEC("xdp")
int sluice_passlean(struct xdp_md *ctx)
{
	if (!lean_enter(ctx))
		return XDP_ABORTED;
	return sluice_next(ctx);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
