// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The default pipeline (parse, acl, ratelimit, count) as one program: the
 * same stage logic from the same headers, the entry's metadata reservation
 * and pipeline counters, and each stage's slot bookkeeping, with every tail
 * call replaced by straight-line code. The dispatch benchmark compares it
 * with the real pipeline, so the difference is the cost of dispatch alone.
 */
#include <sluice/stage.bpf.h>
#include "../parse.h"
#include "../acl.h"
#include "../ratelimit.h"
#include "../count.h"
#include "../entry.h"

/*
 * 1: do what sluice_stage_enter() does for each stage and the entry's count
 * for the last slot; 0: skip it, to show what that bookkeeping costs.
 */
const volatile __u32 slot_stats = 1;

enum { SLOT_PARSE, SLOT_ACL, SLOT_RATELIMIT, SLOT_COUNT };

static __always_inline void inl_enter(struct xdp_md *ctx, struct sluice_meta *m, __u32 slot)
{
	if (!slot_stats)
		return;
	m->path |= 1u << slot;
	m->last = slot;
}

static __always_inline int inl_stages(struct xdp_md *ctx, struct sluice_meta *m)
{
	int v;

	inl_enter(ctx, m, SLOT_PARSE);
	v = sluice_parse_run(ctx, m);
	if (v != SLUICE_CONTINUE)
		return v;
	inl_enter(ctx, m, SLOT_ACL);
	v = sluice_acl_run(ctx, m);
	if (v != SLUICE_CONTINUE)
		return v;
	inl_enter(ctx, m, SLOT_RATELIMIT);
	v = sluice_ratelimit_run(ctx, m);
	if (v != SLUICE_CONTINUE)
		return v;
	inl_enter(ctx, m, SLOT_COUNT);
	v = sluice_count_run(ctx, m);
	if (v != SLUICE_CONTINUE)
		return v;
	/* The last stage's sluice_next() passes. */
	return XDP_PASS;
}

SEC("xdp")
int sluice_inlined(struct xdp_md *ctx)
{
	struct sluice_entry_state st;
	struct sluice_meta *m;
	int ret;

	/* What the entry does before the chain: the switch word, the bank, the context. */
	m = sluice_entry_start(ctx, &st, &ret);
	if (!m)
		return ret;
	ret = inl_stages(ctx, m);
	if (slot_stats)
		sluice_entry_count_slots(ctx, m, st.bank, ret, false);
	return sluice_entry_end(ctx, st.ps, m, ret);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
