// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What one clock read costs in XDP: bpf_ktime_get_ns() (what stage timing
 * and the anomaly recorder use), bpf_ktime_get_coarse_ns() or
 * bpf_jiffies64() (which the verifier inlines), `reads` times per run. The
 * dispatch benchmark takes the difference from an instance with no read.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define CLOCK_MAX_READS	32

const volatile __u32 reads = 0;
/* 0: bpf_ktime_get_ns, 1: bpf_ktime_get_coarse_ns, 2: bpf_jiffies64. */
const volatile __u32 kind = 0;

/* Where the sum goes, so no read can be left out. */
__u64 clock_sink;

SEC("xdp")
int bench_clock(struct xdp_md *ctx)
{
	__u64 sum = 0;

#pragma unroll
	for (__u32 i = 0; i < CLOCK_MAX_READS; i++) {
		if (i >= reads)
			break;
		sum += kind == 2 ? bpf_jiffies64() : kind == 1 ? bpf_ktime_get_coarse_ns() : bpf_ktime_get_ns();
	}
	clock_sink += sum;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
