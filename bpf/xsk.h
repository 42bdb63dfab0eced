/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The xsk stage: hands packets the acl stage marked SLUICE_PKT_XSK (or all
 * packets) to the AF_XDP socket bound to the receive queue they came in on.
 * A queue with no socket gets the fallback verdict, counted, so a consumer
 * that died or has not bound yet shows up in the counters.
 */
#ifndef SLUICE_BPF_XSK_H
#define SLUICE_BPF_XSK_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <sluice/abi.h>
#include <sluice/stage.bpf.h>

/* AF_XDP sockets by receive queue, shared by every stage version (SLUICE_MAP_XSKS). */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, SLUICE_XSK_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} sluice_xsks SEC(".maps");

/* Marked packets by outcome: XDP_REDIRECT reached a socket, the fallback verdict did not. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_NR_VERDICTS);
	__type(key, __u32);
	__type(value, __u64);
} sluice_xsk_verdicts SEC(".maps");

/* 1: redirect every packet, not only those marked SLUICE_PKT_XSK. */
const volatile __u32 all = 0;
/* Verdict when the queue has no socket: XDP_PASS, XDP_DROP or XDP_TX. */
const volatile __u32 fallback = XDP_PASS;

static __always_inline int sluice_xsk_run(struct xdp_md *ctx, struct sluice_meta *m)
{
	__u32 v;
	__u64 *c;

	if (!all && !(m->flags & SLUICE_PKT_XSK))
		return SLUICE_CONTINUE;
	/* The low bits of flags are what bpf_redirect_map() returns on a miss. */
	v = bpf_redirect_map(&sluice_xsks, ctx->rx_queue_index, fallback & 3);
	c = bpf_map_lookup_elem(&sluice_xsk_verdicts, &v);
	if (c)
		(*c)++;
	return v;
}

#endif /* SLUICE_BPF_XSK_H */
