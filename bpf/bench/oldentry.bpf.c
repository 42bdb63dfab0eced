// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The entry of ABI 2 (bpf/entry.bpf.c and bpf/entry.h at 52a3cbe^), kept as a
 * benchmark-only program: one entry per generation, the first slot a
 * .rodata constant, the context always in XDP metadata, a generation
 * switched in by a link update. bench/dispatch weighs it against today's
 * entry (the switch word read per packet, four direct jumps, either
 * carrier) in front of the same stages. Built against bpf/bench/oldentry.h,
 * not include/sluice.
 */
#include "oldentry.h"

const volatile struct sluice_entry_cfg sluice_entry = {
	.first = 0,
	.default_verdict = XDP_PASS,
};

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

static __noinline int sluice_dispatch(struct xdp_md *ctx)
{
	int ret = SLUICE_RET_MISSED;
	__u32 first = sluice_entry.first;

	sluice_tail_call(ctx, &sluice_progs, first);
	asm volatile("" : "+r"(ret));
	return ret;
}

SEC("xdp")
int sluice_entry_prog(struct xdp_md *ctx)
{
	struct sluice_pipe_stats *ps;
	__u32 zero = 0;
	bool missed;
	int ret;

	ps = bpf_map_lookup_elem(&sluice_pipe_stats, &zero);
	if (!ps)
		return XDP_ABORTED;
	if (!sluice_entry_begin(ctx, ps, sluice_entry.gen))
		return sluice_entry_end(ctx, ps, XDP_ABORTED);

	ret = sluice_dispatch(ctx);
	missed = ret == SLUICE_RET_MISSED;
	if (missed) {
		ps->missed++;
		ret = sluice_entry.default_verdict;
	} else if (ret < 0 || ret >= SLUICE_NR_VERDICTS) {
		ps->bad_verdict++;
		ret = XDP_ABORTED;
	}
	sluice_entry_count_slots(ctx, ret, missed, 0);
	return sluice_entry_end(ctx, ps, ret);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
