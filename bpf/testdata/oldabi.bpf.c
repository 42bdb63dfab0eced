// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A stage as <sluice/stage.bpf.h> made them before the context could live
 * in a per-CPU map: its sluice_cfg has no abi byte (0 there) and it reads
 * the context only from XDP metadata, in the old layout. The loader must
 * refuse it with the reason instead of letting it abort packets.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct old_stage_cfg {
	__u32 slot;
	__u32 next;
	__u16 gen;
	__u16 ver;
	__u32 pad;
};

const volatile struct old_stage_cfg sluice_cfg = { .next = 0xffffffffu };

SEC("xdp")
int old_stage(struct xdp_md *ctx)
{
	__u32 *m = (void *)(long)ctx->data_meta;

	if ((void *)(m + 8) > (void *)(long)ctx->data)
		return XDP_ABORTED;
	m[0] |= 1u << (sluice_cfg.slot & 31);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
