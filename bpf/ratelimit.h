/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The ratelimit stage: a token bucket per source address. Tokens are kept
 * in nanopackets so that refilling is one multiply (elapsed ns * packets/s)
 * and a packet costs 1e9 of them: integer math, no division on the fast path.
 *
 * Buckets are shared by all CPUs and updated without a lock: two CPUs
 * taking the same bucket at the same instant may both see the same balance
 * and admit one packet more than the rate. RSS keeps a source on one queue
 * in the common case, and a lost update never underflows the bucket.
 */
#ifndef SLUICE_BPF_RATELIMIT_H
#define SLUICE_BPF_RATELIMIT_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <sluice/abi.h>
#include <sluice/stage.bpf.h>

#define SLUICE_RL_NSEC		1000000000ULL
#define SLUICE_RL_L3_OFF_MAX	256
/* Sources tracked at once; the least recently seen are evicted first. */
#define SLUICE_RL_MAX_SOURCES	65536
/* Below this many ns of idleness elapsed * rate_pps cannot overflow 64 bits. */
#define SLUICE_RL_SHORT_NS	(1ULL << 32)

/* Token bucket per source address; non-IP packets share the zero key. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SLUICE_RL_MAX_SOURCES);
	__type(key, struct sluice_rl_key);
	__type(value, struct sluice_rl_bucket);
} sluice_rl_buckets SEC(".maps");

/* Packets per outcome: key 0 within rate, key 1 over rate. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} sluice_rl_stats SEC(".maps");

/* Sustained packets per second allowed per source. */
const volatile __u32 rate_pps = 1000;
/* Packets a source may send at once after being idle. */
const volatile __u32 burst = 1000;
/* Verdict for a packet over rate; XDP_PASS marks it SLUICE_PKT_OVERLIMIT and goes on. */
const volatile __u32 over_action = XDP_DROP;

static __always_inline void sluice_rl_key_of(struct xdp_md *ctx, struct sluice_meta *m,
					     struct sluice_rl_key *k)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 off = m->l3_off;
	__u8 *l3 = data + off;

	if (!off || off > SLUICE_RL_L3_OFF_MAX)
		return;
	if (m->l3_proto == ETH_P_IP) {
		if ((void *)(l3 + 20) > data_end)
			return;
		k->family = 4;
		__builtin_memcpy(k->addr, l3 + 12, 4);
	} else if (m->l3_proto == ETH_P_IPV6) {
		if ((void *)(l3 + 40) > data_end)
			return;
		k->family = 6;
		__builtin_memcpy(k->addr, l3 + 8, 16);
	}
}

/* Refills b up to now and takes one packet from it; returns 1 if it had one. */
static __always_inline int sluice_rl_take(struct sluice_rl_bucket *b, __u64 now)
{
	__u64 cap = (__u64)burst * SLUICE_RL_NSEC, add, tokens = b->tokens;
	__u64 elapsed = now > b->last_ns ? now - b->last_ns : 0;

	/* A reload with a smaller burst keeps the buckets: clamp them. */
	if (tokens > cap)
		tokens = cap;
	if (rate_pps && elapsed) {
		/* Long idle: compare instead of multiplying, which could overflow. */
		if (elapsed >= SLUICE_RL_SHORT_NS && elapsed > cap / rate_pps)
			add = cap;
		else
			add = elapsed * rate_pps;
		tokens = add >= cap - tokens ? cap : tokens + add;
		b->last_ns = now;
	}
	if (tokens < SLUICE_RL_NSEC) {
		b->tokens = tokens;
		return 0;
	}
	b->tokens = tokens - SLUICE_RL_NSEC;
	return 1;
}

static __always_inline int sluice_ratelimit_run(struct xdp_md *ctx, struct sluice_meta *m)
{
	struct sluice_rl_key k = {};
	struct sluice_rl_bucket *b;
	__u64 now = bpf_ktime_get_ns(), *st;
	__u32 over = 0;

	sluice_rl_key_of(ctx, m, &k);
	b = bpf_map_lookup_elem(&sluice_rl_buckets, &k);
	if (b) {
		over = !sluice_rl_take(b, now);
	} else if (burst) {
		/* A new source starts with a full bucket, less this packet. */
		struct sluice_rl_bucket nb = {
			.tokens = ((__u64)burst - 1) * SLUICE_RL_NSEC,
			.last_ns = now,
		};

		bpf_map_update_elem(&sluice_rl_buckets, &k, &nb, BPF_NOEXIST);
	} else {
		over = 1;
	}
	st = bpf_map_lookup_elem(&sluice_rl_stats, &over);
	if (st)
		(*st)++;
	if (!over)
		return SLUICE_CONTINUE;
	m->flags |= SLUICE_PKT_OVERLIMIT;
	return over_action == XDP_PASS ? SLUICE_CONTINUE : (int)over_action;
}

#endif /* SLUICE_BPF_RATELIMIT_H */
