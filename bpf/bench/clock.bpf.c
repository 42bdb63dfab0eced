// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What one clock read costs in XDP: bpf_ktime_get_ns() (what stage timing,
 * the anomaly recorder and ratelimit use) or bpf_ktime_get_coarse_ns(),
 * `reads` times per run. The dispatch benchmark takes the slope between
 * two instances.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define CLOCK_MAX_READS	32

const volatile __u32 reads = 0;
const volatile __u32 coarse = 0;

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
		sum += coarse ? bpf_ktime_get_coarse_ns() : bpf_ktime_get_ns();
	}
	clock_sink += sum;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
