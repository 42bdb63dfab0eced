// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The per-packet context in a per-CPU array slot, the alternative to metadata. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <sluice/abi.h>

/* The context of the packet this CPU is running, one entry. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sluice_meta);
} ctx_scratch SEC(".maps");

static __always_inline struct sluice_meta *ctx_get(struct xdp_md *ctx)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&ctx_scratch, &zero);
}

static __always_inline struct sluice_meta *ctx_init(struct xdp_md *ctx)
{
	struct sluice_meta *m = ctx_get(ctx);

	if (m)
		__builtin_memset(m, 0, sizeof(*m));
	return m;
}

#include "ctx_chain.h"
