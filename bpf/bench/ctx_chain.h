/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A 4-stage chain of pass-like stages shaped like a sluice pipeline (an
 * entry whose __noinline subprogram tail-calls slot 0, stages chaining with
 * constant indexes from their main programs), parameterised by where the
 * per-packet context lives. The including file defines ctx_init(), which
 * reserves and clears the context, and ctx_get(), which finds it again.
 * Each stage reads a field and writes two, as a real stage would.
 */
#ifndef SLUICE_BENCH_CTX_CHAIN_H
#define SLUICE_BENCH_CTX_CHAIN_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <sluice/abi.h>

#define CTX_CHAIN_STAGES	4

/* The chain's slots. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, CTX_CHAIN_STAGES);
	__type(key, __u32);
	__type(value, __u32);
} ctx_progs SEC(".maps");

static __noinline int ctx_dispatch(struct xdp_md *ctx)
{
	int ret = XDP_ABORTED;

	bpf_tail_call_static(ctx, &ctx_progs, 0);
	/* See entry.bpf.c: keeps clang from folding the chain's verdict away. */
	asm volatile("" : "+r"(ret));
	return ret;
}

SEC("xdp")
int ctx_entry(struct xdp_md *ctx)
{
	struct sluice_meta *m = ctx_init(ctx);

	if (!m)
		return XDP_ABORTED;
	m->last = SLUICE_SLOT_NONE;
	return ctx_dispatch(ctx);
}

#define CTX_STAGE(i)								\
SEC("xdp")									\
int ctx_stage##i(struct xdp_md *ctx)						\
{										\
	struct sluice_meta *m = ctx_get(ctx);					\
										\
	if (!m)									\
		return XDP_ABORTED;						\
	if (m->flags & SLUICE_PKT_MALFORMED)					\
		return XDP_DROP;						\
	m->path |= 1u << (i);							\
	m->last = (i);								\
	if ((i) == CTX_CHAIN_STAGES - 1)					\
		return XDP_PASS;						\
	bpf_tail_call_static(ctx, &ctx_progs, (i) + 1);				\
	return XDP_ABORTED;							\
}

CTX_STAGE(0)
CTX_STAGE(1)
CTX_STAGE(2)
CTX_STAGE(3)

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#endif /* SLUICE_BENCH_CTX_CHAIN_H */
