// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The front program every dispatch benchmark case runs through.
 *
 * BPF_PROG_TEST_RUN with repeat > 1 runs the program again and again on the
 * same xdp_buff without restoring it: the metadata a first run reserved is
 * still there on the second, where the entry's bpf_xdp_adjust_meta(-32)
 * would make it 64 bytes, which the kernel refuses. The entry would then
 * fall back to the per-CPU carrier (and count no_meta) for every later run,
 * so a "metadata" figure would time the other carrier. bench_front gives
 * the metadata back before each run.
 *
 * It then calls a subprogram that tail-calls the program under test
 * (a constant index: a direct jump), so whatever the program under test
 * returns comes back here and is counted in bench_verdicts: the benchmark
 * checks that every one of the repeat runs, not only the last, returned the
 * verdict it expects. bench_nop is the target that measures this front
 * alone, to be subtracted.
 *
 * Built twice: harness.bpf.o, and with BENCH_NO_META harness_plain.bpf.o,
 * which never names bpf_xdp_adjust_meta, for kernels that refuse the helper
 * (there nothing under test can have reserved metadata).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <sluice/abi.h>

/* Slot 0: the program under test. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} bench_target SEC(".maps");

/* Runs by what they returned: [0, SLUICE_NR_VERDICTS) XDP actions, then anything else. */
#define BENCH_VERDICT_OTHER	SLUICE_NR_VERDICTS
struct bench_verdicts {
	__u64 n[BENCH_VERDICT_OTHER + 1];
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bench_verdicts);
} bench_verdicts SEC(".maps");

/* See bpf/entry.bpf.c: the empty asm keeps clang from folding the verdict away. */
static __noinline int bench_call(struct xdp_md *ctx)
{
	int ret = SLUICE_RET_MISSED;

	bpf_tail_call_static(ctx, &bench_target, 0);
	asm volatile("" : "+r"(ret));
	return ret;
}

SEC("xdp")
int bench_front(struct xdp_md *ctx)
{
	struct bench_verdicts *v;
	__u32 zero = 0, k;
	int ret;

#ifndef BENCH_NO_META
	void *meta = (void *)(long)ctx->data_meta;

	/* Programs under test reserve exactly one struct sluice_meta. */
	if (meta + sizeof(struct sluice_meta) <= (void *)(long)ctx->data &&
	    bpf_xdp_adjust_meta(ctx, (int)sizeof(struct sluice_meta)))
		return XDP_ABORTED;
#endif
	ret = bench_call(ctx);
	k = (__u32)ret < SLUICE_NR_VERDICTS ? (__u32)ret : BENCH_VERDICT_OTHER;
	/* Makes clang index with the clamped register, whose bound the verifier knows. */
	asm volatile("" : "+r"(k));
	v = bpf_map_lookup_elem(&bench_verdicts, &zero);
	if (v && k <= BENCH_VERDICT_OTHER)
		v->n[k]++;
	return ret;
}

SEC("xdp")
int bench_nop(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
