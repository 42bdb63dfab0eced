/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the entry does around the stage chain, before and after: read the
 * switch word and choose the bank, reset the per-packet context in its
 * carrier, then count the final verdict for the pipeline and for the last
 * slot that ran and record what went wrong. Shared by the entry and the
 * inlined benchmark program, so the benchmark measures dispatch and nothing
 * else.
 */
#ifndef SLUICE_ENTRY_H
#define SLUICE_ENTRY_H

#include <stdbool.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <sluice/dispatch.bpf.h>

/* Counters of the whole pipeline, one entry per bank. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_NR_BANKS);
	__type(key, __u32);
	__type(value, struct sluice_pipe_stats);
} sluice_pipe_stats SEC(".maps");

/* Packets, bytes, verdicts and missed tail calls per bank and position. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_PROG_SLOTS);
	__type(key, __u32);
	__type(value, struct sluice_slot_stats);
} sluice_slot_stats SEC(".maps");

/* The interface's switch word and knobs; user space writes it through mmap. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct sluice_switch);
} sluice_switch SEC(".maps");

/* Selector words of the pin root: interfaces that follow one switch together. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_NR_SELECTORS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} sluice_selectors SEC(".maps");

/* Anomalies (aborted, missed, mixed packets) for sluicectl anomalies. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} sluice_anomalies SEC(".maps");

/* Shadow-diff samples: whole frames before any stage ran. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} sluice_samples SEC(".maps");

/*
 * The recorder's budget on this CPU, per reason (a flood of one kind must
 * not hide another): [2r] start of the second, [2r + 1] records in it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * (SLUICE_AN_SAMPLE + 1));
	__type(key, __u32);
	__type(value, __u64);
} sluice_record_budget SEC(".maps");

/* Set by the loader. */
const volatile struct sluice_entry_cfg sluice_entry = {
	.carrier = SLUICE_CARRIER_META,
};

/* One round of a multiplicative hash: enough to spread flows evenly over a share. */
static __always_inline __u32 sluice_mix(__u32 h, __u32 v)
{
	h ^= v;
	h *= 0x9e3779b1u;
	return (h << 13) | (h >> 19);
}

/*
 * A hash of the flow: addresses, protocol and, outside fragments, ports.
 * Only interfaces with a canary pay for it. Fragments hash without ports so
 * that all fragments of a datagram land on one side.
 */
static __always_inline __u32 sluice_flow_hash(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	void *l3, *l4 = 0;
	__u32 h = 0x2545f491u;
	__u16 proto;
	__u8 l4proto = 0;

	if ((void *)(eth + 1) > end)
		return 0;
	proto = eth->h_proto;
	l3 = eth + 1;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if (l3 + 4 > end)
			return 0;
		proto = *(__u16 *)(l3 + 2);
		l3 += 4;
	}
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > end)
			return 0;
		h = sluice_mix(h, ip->saddr);
		h = sluice_mix(h, ip->daddr);
		l4proto = ip->protocol;
		if (!(ip->frag_off & bpf_htons(0x3fff)))
			l4 = l3 + ((ip->ihl & 0xf) << 2);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > end)
			return 0;
#pragma unroll
		for (int i = 0; i < 4; i++) {
			h = sluice_mix(h, ip6->saddr.in6_u.u6_addr32[i]);
			h = sluice_mix(h, ip6->daddr.in6_u.u6_addr32[i]);
		}
		l4proto = ip6->nexthdr;
		l4 = ip6 + 1;
	} else {
		return 0;
	}
	h = sluice_mix(h, l4proto);
	if (l4 && (l4proto == IPPROTO_TCP || l4proto == IPPROTO_UDP) && l4 + 4 <= end)
		h = sluice_mix(h, *(__u32 *)l4);
	/* murmur3's finaliser: every input bit reaches the top bits the share reads */
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/*
 * Which bank this packet starts in, from a word with a share: a canary's
 * flow-hash split, or a selector word followed with other interfaces.
 */
static __always_inline void sluice_entry_choose(struct xdp_md *ctx, const union sluice_word *w,
						__u32 *bank, __u32 *gen, __u32 *xflags)
{
	if (w->share & SLUICE_SHARE_GROUP) {
		__u32 idx = w->share & (SLUICE_NR_SELECTORS - 1);
		__u64 *sel = bpf_map_lookup_elem(&sluice_selectors, &idx);

		if (!sel || !(*(volatile __u64 *)sel & 1))
			return;
	} else if ((sluice_flow_hash(ctx) >> (32 - SLUICE_SHARE_BITS)) >= w->share) {
		return;
	} else {
		*xflags |= SLUICE_X_CANARY;
	}
	*bank = w->alt_bank;
	*gen = w->alt_gen;
}

/*
 * The packet's context, where the stages find it: metadata when chosen and
 * reserved for this packet, else this CPU's sluice_ctx (sluice_meta() in
 * <sluice/stage.bpf.h> decides the same way).
 */
static __always_inline struct sluice_meta *sluice_entry_ctx(struct xdp_md *ctx)
{
	__u32 zero = 0;

	if (sluice_entry.carrier == SLUICE_CARRIER_META) {
		struct sluice_meta *m = (void *)(long)ctx->data_meta;

		if ((void *)(m + 1) <= (void *)(long)ctx->data)
			return m;
	}
	return bpf_map_lookup_elem(&sluice_ctx, &zero);
}

/*
 * Reserves and clears the context. Where metadata was chosen but is refused
 * for this packet (a driver without support, no headroom), the packet takes
 * the per-CPU carrier instead and is counted: never an abort. The
 * percpu-only build has no call to bpf_xdp_adjust_meta at all, for kernels
 * whose verifier refuses the helper in XDP programs.
 */
static __always_inline struct sluice_meta *sluice_entry_begin(struct xdp_md *ctx,
							    struct sluice_pipe_stats *ps,
							    __u32 bank, __u32 gen, __u32 xflags)
{
	struct sluice_meta *m = NULL;
	__u32 zero = 0;

#ifndef SLUICE_ENTRY_PERCPU_ONLY
	if (sluice_entry.carrier == SLUICE_CARRIER_META) {
		if (!(sluice_entry.flags & SLUICE_ENTRY_F_NO_META) &&
		    !bpf_xdp_adjust_meta(ctx, -(int)sizeof(*m))) {
			m = (void *)(long)ctx->data_meta;
			if ((void *)(m + 1) > (void *)(long)ctx->data)
				m = NULL;
		}
		if (!m)
			ps->no_meta++;
	}
#endif
	if (!m) {
		m = bpf_map_lookup_elem(&sluice_ctx, &zero);
		if (!m)
			return NULL;
		xflags |= SLUICE_X_PERCPU;
	}
	__builtin_memset(m, 0, sizeof(*m));
	m->bank = bank;
	m->gen = gen;
	m->xflags = xflags;
	m->last = SLUICE_SLOT_NONE;
	return m;
}

/*
 * counters[ret]++ for a verdict in range, with constant offsets: verifiers
 * before 6.18 may keep the bound a range check put on one copy of a
 * register from the copy the compiler indexes with (seen on 6.1).
 */
static __always_inline void sluice_count_verdict(__u64 *counters, int ret)
{
	switch (ret) {
	case XDP_ABORTED:
		counters[XDP_ABORTED]++;
		break;
	case XDP_DROP:
		counters[XDP_DROP]++;
		break;
	case XDP_PASS:
		counters[XDP_PASS]++;
		break;
	case XDP_TX:
		counters[XDP_TX]++;
		break;
	case XDP_REDIRECT:
		counters[XDP_REDIRECT]++;
		break;
	}
}
_Static_assert(SLUICE_NR_VERDICTS == XDP_REDIRECT + 1, "sluice_count_verdict counts every verdict");

/*
 * Counts the packet for the last slot that ran, which is all user space needs
 * to know how many entered each slot: a packet that ended at slot j went
 * through every slot before it. A miss is also counted for the empty slot,
 * the one after the last that ran (stage i tail-calls slot i + 1).
 */
static __always_inline void sluice_entry_count_slots(struct xdp_md *ctx, const struct sluice_meta *m,
						     __u32 bank, int ret, bool missed)
{
	struct sluice_slot_stats *st;
	__u32 last = m->last, key;

	if (missed) {
		key = sluice_bank_base(bank) + (last == SLUICE_SLOT_NONE ? 0 : last + 1);
		st = bpf_map_lookup_elem(&sluice_slot_stats, &key);
		if (st)
			st->missed++;
	}
	if (last == SLUICE_SLOT_NONE)
		return;
	key = sluice_bank_base(bank) + last;
	st = bpf_map_lookup_elem(&sluice_slot_stats, &key);
	if (!st)
		return;
	st->packets++;
	st->bytes += ctx->data_end - ctx->data;
	if (!missed)
		sluice_count_verdict(st->verdict, ret);
}

/* Counts the final verdict for the pipeline; returns it. */
static __always_inline int sluice_entry_end(struct xdp_md *ctx, struct sluice_pipe_stats *ps,
					    const struct sluice_meta *m, int ret)
{
	if (m && (m->flags & SLUICE_PKT_MIXED))
		ps->mixed++;
	ps->packets++;
	ps->bytes += ctx->data_end - ctx->data;
	sluice_count_verdict(ps->verdict, ret);
	return ret;
}

/* Starts a timed packet: the entry's own time runs until the first stage's mark. */
static __always_inline void sluice_time_start(void)
{
	struct sluice_time_mark *tm;
	__u32 zero = 0;

	tm = bpf_map_lookup_elem(&sluice_time_marks, &zero);
	if (!tm)
		return;
	tm->ns = bpf_ktime_get_ns();
	tm->pos = SLUICE_MAX_STAGES;
}

/* What an entry found before the chain, for the counting after it. */
struct sluice_entry_state {
	struct sluice_switch *sw;
	struct sluice_pipe_stats *ps;
	__u32 bank;
};

/*
 * The start of every entry, and of the benchmark's programs that stand for
 * one: the switch word read once, the bank it names (or a canary's or a
 * group's share of it), that bank's counters, the packet's context reserved
 * and reset, and 1 packet in 2^(time_shift - 1) timed. Returns the context;
 * NULL when the packet ends here, with *verdict what to return.
 */
static __always_inline struct sluice_meta *sluice_entry_start(struct xdp_md *ctx,
							    struct sluice_entry_state *st,
							    int *verdict)
{
	struct sluice_pipe_stats *ps;
	struct sluice_switch *sw;
	struct sluice_meta *m;
	union sluice_word w;
	__u32 zero = 0, bank, gen, xflags = 0;

	*verdict = XDP_ABORTED;
	sw = bpf_map_lookup_elem(&sluice_switch, &zero);
	if (!sw)
		return NULL;
	w.raw = *(volatile __u64 *)&sw->word.raw;
	bank = w.bank;
	gen = w.gen;
	if (w.share)
		sluice_entry_choose(ctx, &w, &bank, &gen, &xflags);
	bank &= SLUICE_NR_BANKS - 1;
	ps = bpf_map_lookup_elem(&sluice_pipe_stats, &bank);
	if (!ps)
		return NULL;
	m = sluice_entry_begin(ctx, ps, bank, gen, xflags);
	if (!m) {
		*verdict = sluice_entry_end(ctx, ps, NULL, XDP_ABORTED);
		return NULL;
	}
	if (sw->time_shift && !(ps->packets & ((1ull << ((sw->time_shift - 1) & 63)) - 1))) {
		m->xflags |= SLUICE_X_TIMED;
		sluice_time_start();
	}
	st->sw = sw;
	st->ps = ps;
	st->bank = bank;
	return m;
}

/* Whether this CPU may write one more record of this reason this second. */
static __always_inline bool sluice_record_allowed(__u32 reason)
{
	__u32 k0 = 2 * (reason & 7), k1 = k0 + 1;
	__u64 *start = bpf_map_lookup_elem(&sluice_record_budget, &k0);
	__u64 *n = bpf_map_lookup_elem(&sluice_record_budget, &k1);
	__u64 now;

	if (!start || !n)
		return false;
	now = bpf_ktime_get_ns();
	if (now - *start >= 1000000000ull) {
		*start = now;
		*n = 0;
	}
	if (*n >= SLUICE_ANOMALY_PER_SEC)
		return false;
	(*n)++;
	return true;
}

/*
 * Keeps the first bytes of an anomalous packet with its context, in ring
 * buffer space (not on the stack below the tail-calling subprogram). Only
 * packets that went wrong come here.
 */
static __always_inline void sluice_entry_record(struct xdp_md *ctx, struct sluice_pipe_stats *ps,
						const struct sluice_meta *m, __u32 bank, __u32 reason,
						__u32 slot, int verdict)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct sluice_anomaly *rec;
	__u32 cap = 0;

	if (!sluice_record_allowed(reason))
		return;
	rec = bpf_ringbuf_reserve(&sluice_anomalies, sizeof(*rec), 0);
	if (!rec)
		return;
	rec->ts_ns = bpf_ktime_get_ns();
	rec->len = (__u32)(end - data);
	rec->reason = reason;
	rec->slot = slot;
	rec->bank = bank;
	rec->verdict = verdict;
	rec->gen = m->gen;
	rec->gen_other = m->gen_other;
	rec->flags = m->flags;
	rec->path = m->path;
	rec->rx_queue = ctx->rx_queue_index;
	/* Words while they fit, then bytes: a bounded copy every kernel's verifier takes. */
#pragma unroll
	for (int i = 0; i < SLUICE_ANOMALY_SNAP / 8; i++) {
		if (data + (i + 1) * 8 > end)
			break;
		*(__u64 *)&rec->data[i * 8] = *(__u64 *)(data + i * 8);
		cap = (i + 1) * 8;
	}
#pragma unroll
	for (int i = 0; i < 7; i++) {
		if (cap >= SLUICE_ANOMALY_SNAP || data + cap + 1 > end)
			break;
		rec->data[cap & (SLUICE_ANOMALY_SNAP - 1)] = *(__u8 *)(data + cap);
		cap++;
	}
	rec->caplen = cap;
	bpf_ringbuf_submit(rec, 0);
	ps->recorded++;
}

/* A whole frame for a shadow diff, before any stage ran. */
static __always_inline void sluice_entry_sample(struct xdp_md *ctx, __u32 bank)
{
	struct sluice_sample *s;
	__u64 len = ctx->data_end - ctx->data, n;

	if (!(sluice_entry.flags & SLUICE_ENTRY_F_SAMPLER))
		return;
	s = bpf_ringbuf_reserve(&sluice_samples, sizeof(*s), 0);
	if (!s)
		return;
	s->ts_ns = bpf_ktime_get_ns();
	s->len = len;
	s->reason = SLUICE_AN_SAMPLE;
	s->bank = bank;
	if (len > SLUICE_SAMPLE_SNAP)
		len = SLUICE_SAMPLE_SNAP;
	/*
	 * The helper's size must be bounded where the verifier sees it, and
	 * at least 1: as one less than it, checked as is (verifiers before
	 * 6.18 learn no lower bound from a test against 0), then plus one.
	 */
	n = len - 1;
	asm volatile("" : "+r"(n));
	if (n >= SLUICE_SAMPLE_SNAP || bpf_xdp_load_bytes(ctx, 0, s->data, n + 1)) {
		bpf_ringbuf_discard(s, 0);
		return;
	}
	s->caplen = len;
	bpf_ringbuf_submit(s, 0);
}

#endif /* SLUICE_ENTRY_H */
