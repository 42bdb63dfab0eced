// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * --latency: the transmit stamp of received frames (struct sluice_stamp,
 * written by sluice-gen --stamp) against the receive time, in a log-linear
 * histogram: 16 buckets per power of two, so a percentile is within 6.25%
 * of the true value at any scale, in fixed memory, and adding a sample is
 * one store. The queue thread is the only writer; the main thread reads
 * the counters while it runs (interval lines), hence relaxed atomics.
 */
#include <string.h>
#include "pkt.h"
#include "xsk_tool.h"

static __u32 bucket_of(__u64 v)
{
	__u32 e;

	if (v < XT_HIST_SUB)
		return (__u32)v;
	e = 63 - (__u32)__builtin_clzll(v);
	return (e - XT_HIST_SUB_BITS + 1) * XT_HIST_SUB +
	       (__u32)((v >> (e - XT_HIST_SUB_BITS)) & (XT_HIST_SUB - 1));
}

/* The largest value bucket i holds. */
static __u64 bucket_high(__u32 i)
{
	__u32 shift;

	if (i < XT_HIST_SUB)
		return i;
	shift = i / XT_HIST_SUB - 1;
	return ((__u64)(XT_HIST_SUB + i % XT_HIST_SUB) << shift) + (1ull << shift) - 1;
}

void xt_hist_frame(struct xt_hist *h, const void *frame, __u32 len, __u64 rx_ns)
{
	uint64_t tx_ns;
	__u64 lat;
	__u32 b;

	if (pkt_get_stamp(frame, len, &tx_ns)) {
		xt_store(&h->unstamped, h->unstamped + 1);
		return;
	}
	/* Same host, same clock: a stamp from the future is not a time. */
	if (tx_ns > rx_ns) {
		xt_store(&h->unstamped, h->unstamped + 1);
		return;
	}
	lat = rx_ns - tx_ns;
	b = bucket_of(lat);
	xt_store(&h->b[b], h->b[b] + 1);
	xt_store(&h->sum_ns, h->sum_ns + lat);
	if (lat > h->max_ns)
		xt_store(&h->max_ns, lat);
	xt_store(&h->samples, h->samples + 1);
}

/* sum += h, or, with prev, sum += h - prev (what came since prev was taken). */
void xt_hist_add(struct xt_hist *sum, const struct xt_hist *h, const struct xt_hist *prev)
{
	__u32 i;

	for (i = 0; i < XT_HIST_BUCKETS; i++)
		sum->b[i] += xt_load(&h->b[i]) - (prev ? prev->b[i] : 0);
	sum->samples += xt_load(&h->samples) - (prev ? prev->samples : 0);
	sum->unstamped += xt_load(&h->unstamped) - (prev ? prev->unstamped : 0);
	sum->sum_ns += xt_load(&h->sum_ns) - (prev ? prev->sum_ns : 0);
	if (!prev && xt_load(&h->max_ns) > sum->max_ns)
		sum->max_ns = xt_load(&h->max_ns);
}

void xt_hist_copy(struct xt_hist *dst, const struct xt_hist *src)
{
	memset(dst, 0, sizeof(*dst));
	xt_hist_add(dst, src, NULL);
}

/*
 * The value under which pct percent of the samples lie: the top of the
 * bucket holding that rank, never above the largest sample when known.
 */
__u64 xt_hist_pct(const struct xt_hist *h, double pct)
{
	__u64 n = 0, rank;
	__u32 i;

	if (!h->samples)
		return 0;
	rank = (__u64)(pct / 100.0 * (double)h->samples + 0.999999);
	if (!rank)
		rank = 1;
	for (i = 0; i < XT_HIST_BUCKETS; i++) {
		n += h->b[i];
		if (n >= rank)
			return h->max_ns && bucket_high(i) > h->max_ns ? h->max_ns : bucket_high(i);
	}
	return h->max_ns;
}
