// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The per-packet context in XDP metadata, as sluice carries it. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <sluice/abi.h>

static __always_inline struct sluice_meta *ctx_get(struct xdp_md *ctx)
{
	struct sluice_meta *m = (void *)(long)ctx->data_meta;

	if ((void *)(m + 1) > (void *)(long)ctx->data)
		return NULL;
	return m;
}

static __always_inline struct sluice_meta *ctx_init(struct xdp_md *ctx)
{
	struct sluice_meta *m;

	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(*m)))
		return NULL;
	m = ctx_get(ctx);
	if (m)
		__builtin_memset(m, 0, sizeof(*m));
	return m;
}

#include "ctx_chain.h"
