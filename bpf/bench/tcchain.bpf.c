// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A tail-call-heavy chain in the spirit of the kernel's own tail-call tests
 * (tools/testing/selftests/bpf/progs/tailcall*.c) that the feature sluice
 * rests on was measured with: an entry and up to 32 programs that do nothing
 * but tail-call the next one, chain_len tail calls in all. Built twice: as
 * is, every tail call is made from a main program; with BENCH_SUBPROG
 * (tcchain_sub.bpf.o) each program makes it from a __noinline subprogram,
 * so every frame stays on the stack and the verdict returns through all of
 * them. Constant indexes throughout (direct jumps).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <sluice/abi.h>

#define TC_MAX	32

/* Tail calls per packet, 1..TC_MAX; set before load. */
const volatile __u32 chain_len = 1;

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, TC_MAX);
	__type(key, __u32);
	__type(value, __u32);
} tc_progs SEC(".maps");

#ifdef BENCH_SUBPROG
#define TC_CALL(ctx, i) tc_call##i(ctx)
#define TC_CALLER(i)								\
static __noinline int tc_call##i(struct xdp_md *ctx)				\
{										\
	int ret = SLUICE_RET_MISSED;						\
										\
	bpf_tail_call_static(ctx, &tc_progs, i);				\
	asm volatile("" : "+r"(ret));						\
	return ret;								\
}
#else
#define TC_CALL(ctx, i) ({ bpf_tail_call_static(ctx, &tc_progs, i); (int)SLUICE_RET_MISSED; })
#define TC_CALLER(i)
#endif

/* Program i tail-calls slot i + 1 unless it is the chain's last. */
#define TC_PROG(i)								\
TC_CALLER(i)									\
SEC("xdp")									\
int tc_prog##i(struct xdp_md *ctx)						\
{										\
	if ((i) >= chain_len)							\
		return XDP_PASS;						\
	return TC_CALL(ctx, i);							\
}

TC_CALLER(0)
SEC("xdp")
int tc_entry(struct xdp_md *ctx)
{
	return TC_CALL(ctx, 0);
}

TC_PROG(1) TC_PROG(2) TC_PROG(3) TC_PROG(4) TC_PROG(5) TC_PROG(6) TC_PROG(7) TC_PROG(8)
TC_PROG(9) TC_PROG(10) TC_PROG(11) TC_PROG(12) TC_PROG(13) TC_PROG(14) TC_PROG(15) TC_PROG(16)
TC_PROG(17) TC_PROG(18) TC_PROG(19) TC_PROG(20) TC_PROG(21) TC_PROG(22) TC_PROG(23) TC_PROG(24)
TC_PROG(25) TC_PROG(26) TC_PROG(27) TC_PROG(28) TC_PROG(29) TC_PROG(30) TC_PROG(31)

/* The last slot can only end the chain. */
SEC("xdp")
int tc_prog32(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
