/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The ratelimit stage: a token bucket per source address. Tokens are kept
 * in nanopackets so that refilling is one multiply (elapsed ns * packets/s)
 * and a packet costs 1e9 of them: integer math, no division on the fast path.
 *
 * What a packet costs is a lookup and a compare. bpf_ktime_get_ns() costs
 * more than all the rest of the stage on machines like the one sluice is
 * measured on (docs/BENCHMARKS.md), so the bucket is refilled from the
 * clock only on the first packet of each scheduler tick (bpf_jiffies64(),
 * which the verifier inlines), or when the bucket has no packet's worth
 * left: within the tick of its last refill a bucket that still holds a
 * packet admits it without reading the clock, and the credit for that part
 * of the tick comes with the next refill. The only inexactness: a bucket
 * that fills up part-way through a tick in which it also spent tokens may
 * hold up to rate_pps/HZ packets more than an exact bucket would; over any
 * longer window the rate is exact, and a bucket never admits on credit it
 * has not earned when it is empty.
 *
 * IPv4 sources are keyed by their address alone, which hashes in a quarter
 * of the time of the 20-byte key IPv6 and non-IP packets (one shared
 * bucket) use. Buckets are shared by all CPUs and updated without a lock:
 * two CPUs taking the same bucket at the same instant may both see the same
 * balance and admit one packet more than the rate. RSS keeps a source on one
 * queue in the common case, and a lost update never underflows the bucket.
 */
#ifndef SLUICE_BPF_RATELIMIT_H
#define SLUICE_BPF_RATELIMIT_H

#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <sluice/abi.h>
#include <sluice/stage.bpf.h>

#define SLUICE_RL_NSEC		1000000000ULL
#define SLUICE_RL_L3_OFF_MAX	256
/* Sources tracked at once, per family; the least recently seen are evicted first. */
#define SLUICE_RL_MAX_SOURCES	65536
/* Below this many ns of idleness elapsed * rate_pps cannot overflow 64 bits. */
#define SLUICE_RL_SHORT_NS	(1ULL << 32)

/* Token bucket per IPv4 source, keyed by the address in network order. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SLUICE_RL_MAX_SOURCES);
	__type(key, __u32);
	__type(value, struct sluice_rl_bucket);
} sluice_rl_buckets4 SEC(".maps");

/* Token bucket per IPv6 source; non-IP packets share the key of family 0. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SLUICE_RL_MAX_SOURCES);
	__type(key, struct sluice_rl_key);
	__type(value, struct sluice_rl_bucket);
} sluice_rl_buckets SEC(".maps");

/* Packets per outcome (SLUICE_RL_STAT_*), per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_RL_NR_STATS);
	__type(key, __u32);
	__type(value, __u64);
} sluice_rl_stats SEC(".maps");

/* Sustained packets per second allowed per source. */
const volatile __u32 rate_pps = 1000;
/* Packets a source may send at once after being idle. */
const volatile __u32 burst = 1000;
/* Verdict for a packet over rate; XDP_PASS marks it SLUICE_PKT_OVERLIMIT and goes on. */
const volatile __u32 over_action = XDP_DROP;

/*
 * The packet's bucket: IPv4 sources in sluice_rl_buckets4, the others in
 * sluice_rl_buckets. k4 or k6 gets the key (for creating the bucket); *v4
 * says which.
 */
static __always_inline struct sluice_rl_bucket *sluice_rl_find(struct xdp_md *ctx,
							      struct sluice_meta *m, __u32 *k4,
							      struct sluice_rl_key *k6, bool *v4)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 off = m->l3_off;
	/* The mask changes nothing below the bound; the verifier needs it to know the bound. */
	__u8 *l3 = data + (off & (2 * SLUICE_RL_L3_OFF_MAX - 1));

	*v4 = false;
	if (off && off <= SLUICE_RL_L3_OFF_MAX) {
		if (m->l3_proto == ETH_P_IP && (void *)(l3 + 20) <= data_end) {
			*k4 = *(__u32 *)(l3 + 12);
			*v4 = true;
			return bpf_map_lookup_elem(&sluice_rl_buckets4, k4);
		}
		if (m->l3_proto == ETH_P_IPV6 && (void *)(l3 + 40) <= data_end) {
			k6->family = 6;
			__builtin_memcpy(k6->addr, l3 + 8, 16);
		}
	}
	return bpf_map_lookup_elem(&sluice_rl_buckets, k6);
}

/* Refills tokens (clamped to cap) from b->last_ns up to now. */
static __always_inline __u64 sluice_rl_refill(struct sluice_rl_bucket *b, __u64 tokens, __u64 cap,
					      __u64 now)
{
	__u64 elapsed = now > b->last_ns ? now - b->last_ns : 0, add;

	if (!rate_pps || !elapsed)
		return tokens;
	/* Long idle: compare instead of multiplying, which could overflow. */
	if (elapsed >= SLUICE_RL_SHORT_NS && elapsed > cap / rate_pps)
		add = cap;
	else
		add = elapsed * rate_pps;
	b->last_ns = now;
	return add >= cap - tokens ? cap : tokens + add;
}

/*
 * Takes one packet from b; returns 1 if it had one. Reads the clock (and
 * counts it in *clock) only on the first packet of a tick or when the
 * bucket is empty.
 */
static __always_inline int sluice_rl_take(struct sluice_rl_bucket *b, __u32 *clock)
{
	__u64 cap = (__u64)burst * SLUICE_RL_NSEC, tokens = b->tokens, j = bpf_jiffies64();

	/* A reload with a smaller burst keeps the buckets: clamp them. */
	if (tokens > cap)
		tokens = cap;
	if (j != b->last_jiffies || tokens < SLUICE_RL_NSEC) {
		tokens = sluice_rl_refill(b, tokens, cap, bpf_ktime_get_ns());
		b->last_jiffies = j;
		(*clock)++;
	}
	if (tokens < SLUICE_RL_NSEC) {
		b->tokens = tokens;
		return 0;
	}
	b->tokens = tokens - SLUICE_RL_NSEC;
	return 1;
}

static __always_inline void sluice_rl_count(__u32 key)
{
	__u64 *st = bpf_map_lookup_elem(&sluice_rl_stats, &key);

	if (st)
		(*st)++;
}

static __always_inline int sluice_ratelimit_run(struct xdp_md *ctx, struct sluice_meta *m)
{
	struct sluice_rl_key k6 = {};
	struct sluice_rl_bucket *b;
	__u32 over = 0, clock = 0, k4 = 0;
	bool v4;

	b = sluice_rl_find(ctx, m, &k4, &k6, &v4);
	if (b) {
		over = !sluice_rl_take(b, &clock);
	} else if (burst) {
		/* A new source starts with a full bucket, less this packet. */
		struct sluice_rl_bucket nb = {
			.tokens = ((__u64)burst - 1) * SLUICE_RL_NSEC,
			.last_ns = bpf_ktime_get_ns(),
			.last_jiffies = bpf_jiffies64(),
		};

		clock = 1;
		if (v4)
			bpf_map_update_elem(&sluice_rl_buckets4, &k4, &nb, BPF_NOEXIST);
		else
			bpf_map_update_elem(&sluice_rl_buckets, &k6, &nb, BPF_NOEXIST);
	} else {
		over = 1;
	}
	sluice_rl_count(over ? SLUICE_RL_STAT_OVER : SLUICE_RL_STAT_WITHIN);
	if (clock)
		sluice_rl_count(SLUICE_RL_STAT_CLOCK);
	if (!over)
		return SLUICE_CONTINUE;
	m->flags |= SLUICE_PKT_OVERLIMIT;
	return over_action == XDP_PASS ? SLUICE_CONTINUE : (int)over_action;
}

#endif /* SLUICE_BPF_RATELIMIT_H */
