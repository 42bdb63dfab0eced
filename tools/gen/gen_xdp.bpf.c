// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Live-frames transmit engine: user space runs this program through
 * BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES, so the kernel feeds it
 * frames from a page pool and sends every XDP_TX out of ctx's ingress
 * interface. Pages are recycled as the previous packet left them, so each
 * run stamps the whole per-packet state: flow fields, seq, checksums.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <sluice/abi.h>
#include "gen_stamp.h"

/* Set before load: constant offsets let the verifier check one bound. */
const volatile struct gen_layout gen_layout;
const volatile __u32 gen_nr_flows = 1;

/* Per-flow fields, index = seq % gen_nr_flows; sized by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gen_flow);
} gen_flows SEC(".maps");

/*
 * Next sequence number. A test run executes the program on one CPU, one
 * frame after the other, so a plain increment is exact.
 */
__u64 gen_seq;

SEC("xdp")
int gen_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct gen_layout lay = {
		.l3_off = gen_layout.l3_off,
		.l4_off = gen_layout.l4_off,
		.pl_off = gen_layout.pl_off,
		.st_off = gen_layout.st_off,
		.proto = gen_layout.proto,
	};
	struct gen_flow *fl;
	__u64 seq = gen_seq;
	__u32 idx;

	if (data + lay.pl_off + sizeof(struct sluice_payload) > data_end)
		return XDP_ABORTED;
	if (lay.st_off && data + lay.st_off + sizeof(struct sluice_stamp) > data_end)
		return XDP_ABORTED;
	idx = gen_nr_flows > 1 ? (__u32)(seq % gen_nr_flows) : 0;
	fl = bpf_map_lookup_elem(&gen_flows, &idx);
	if (!fl)
		return XDP_ABORTED;
	/* The clock of CLOCK_MONOTONIC: receivers compare it with their own. */
	gen_stamp(data, &lay, fl, seq, lay.st_off ? bpf_ktime_get_ns() : 0);
	gen_seq = seq + 1;
	return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
