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

/* Whole-pipeline counters, as the entry keeps them. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sluice_pipe_stats);
} sluice_pipe_stats SEC(".maps");

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
	struct sluice_pipe_stats *ps;
	struct sluice_meta *m;
	__u32 zero = 0;
	int ret;

	ps = bpf_map_lookup_elem(&sluice_pipe_stats, &zero);
	if (!ps)
		return XDP_ABORTED;
	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(*m))) {
		ps->no_meta++;
		ret = XDP_ABORTED;
		goto out;
	}
	m = (void *)(long)ctx->data_meta;
	if ((void *)(m + 1) > (void *)(long)ctx->data) {
		ps->no_meta++;
		ret = XDP_ABORTED;
		goto out;
	}
	__builtin_memset(m, 0, sizeof(*m));
	m->last = SLUICE_SLOT_NONE;
	ret = inl_stages(ctx, m);
	m = (void *)(long)ctx->data_meta;
	if (slot_stats && (void *)(m + 1) <= (void *)(long)ctx->data) {
		/* What the entry does for the last slot that ran. */
		__u32 last = m->last;
		struct sluice_slot_stats *st = bpf_map_lookup_elem(&sluice_slot_stats, &last);

		if (st) {
			st->packets++;
			st->bytes += ctx->data_end - ctx->data;
			if (ret >= 0 && ret < SLUICE_NR_VERDICTS)
				st->verdict[ret]++;
		}
	}
out:
	ps->packets++;
	ps->bytes += ctx->data_end - ctx->data;
	if (ret >= 0 && ret < SLUICE_NR_VERDICTS)
		ps->verdict[ret]++;
	return ret;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
