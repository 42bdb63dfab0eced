// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A test sink for canaries: records, per UDP/TCP source port (the flow),
 * the banks its packets ran in (one bit each), then ends the pipeline with
 * its verdict parameter. A flow that ever ran in two banks shows two bits.
 */
#include <sluice/stage.bpf.h>

const volatile __u32 verdict = XDP_DROP;

/* Banks seen by source port: bit b = bank b. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u64);
} sides_by_sport SEC(".maps");

SEC("xdp")
int sides(struct xdp_md *ctx)
{
	struct sluice_meta *m = sluice_stage_enter(ctx);
	__u32 key;
	__u64 *v;

	if (!m)
		return XDP_ABORTED;
	key = m->sport;
	v = bpf_map_lookup_elem(&sides_by_sport, &key);
	if (v)
		__sync_fetch_and_or(v, 1ull << (m->bank & 7));
	return sluice_verdict(ctx, verdict);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
