// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The front program every dispatch benchmark case runs through.
 *
 * BPF_PROG_TEST_RUN with repeat > 1 runs the program again and again on the
 * same xdp_buff without restoring it: the metadata a first run reserved is
 * still there on the second, where the entry's bpf_xdp_adjust_meta(-32)
 * would make it 64 bytes, which the kernel refuses. Every later run would
 * measure the no-metadata error path. bench_front gives the metadata back
 * and then tail-calls the program under test (a constant index: a direct
 * jump), so each run starts from a clean frame. bench_nop is the target that
 * measures this front alone, to be subtracted.
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

SEC("xdp")
int bench_front(struct xdp_md *ctx)
{
	void *meta = (void *)(long)ctx->data_meta;

	/* Programs under test reserve exactly one struct sluice_meta. */
	if (meta + sizeof(struct sluice_meta) <= (void *)(long)ctx->data &&
	    bpf_xdp_adjust_meta(ctx, (int)sizeof(struct sluice_meta)))
		return XDP_ABORTED;
	bpf_tail_call_static(ctx, &bench_target, 0);
	return XDP_ABORTED;
}

SEC("xdp")
int bench_nop(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
