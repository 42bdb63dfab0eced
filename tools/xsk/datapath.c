// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The per-queue packet loops, one thread each: rxdrop, txonly and l2fwd, in
 * the shape of the kernel's xdpsock so the figures compare with it.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include "pkt.h"
#include "xsk_tool.h"

/* How long a stopping sender waits for the kernel to complete what it queued. */
#define XT_DRAIN_NS	1000000000ull
#define XT_POLL_MS	100

__u64 xt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

static bool stopping(const struct xt_ctx *ctx)
{
	return __atomic_load_n(&ctx->stop, __ATOMIC_RELAXED);
}

/*
 * --count: every queue takes what it may still handle before it handles it,
 * so N packets means exactly N even with several queues.
 */
static __u32 budget_take(struct xt_ctx *ctx, __u32 want)
{
	__u64 left, n;

	if (!ctx->opts.count)
		return want;
	left = __atomic_load_n(&ctx->budget, __ATOMIC_RELAXED);
	do {
		if (!left)
			return 0;
		n = left < want ? left : want;
	} while (!__atomic_compare_exchange_n(&ctx->budget, &left, left - n, false,
					      __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return (__u32)n;
}

static void budget_return(struct xt_ctx *ctx, __u32 n)
{
	if (ctx->opts.count && n)
		__atomic_add_fetch(&ctx->budget, n, __ATOMIC_RELAXED);
}

/* The last packet of --count stops every queue. */
static void count_done(struct xt_ctx *ctx, __u32 n)
{
	if (ctx->opts.count &&
	    __atomic_add_fetch(&ctx->done, n, __ATOMIC_RELAXED) >= ctx->opts.count)
		__atomic_store_n(&ctx->stop, 1, __ATOMIC_RELAXED);
}

static void account(struct xt_counters *c, __u64 *pkts, __u64 *bytes, __u32 n, __u64 len)
{
	__u64 now = xt_now_ns();

	if (!c->first_ns)
		xt_store(&c->first_ns, now);
	xt_store(&c->last_ns, now);
	xt_store(pkts, *pkts + n);
	xt_store(bytes, *bytes + len);
}

/* Returns false when the caller should look at the rings again later. */
static bool wait_ready(struct xt_queue *q, short events)
{
	struct pollfd pfd = { .fd = q->sock.fd, .events = events };

	if (q->ctx->opts.wait != XT_WAIT_POLL)
		return true;
	return poll(&pfd, 1, XT_POLL_MS) > 0;
}

static void kick_rx(struct xt_queue *q)
{
	sluice_xsk__kick_rx(&q->sock, q->ctx->opts.wait == XT_WAIT_BUSY_POLL);
}

/* Copy mode transmits only inside this syscall, a batch at a time. */
static int kick_tx(struct xt_queue *q)
{
	const struct xt_opts *o = &q->ctx->opts;

	if (o->need_wakeup && o->wait != XT_WAIT_BUSY_POLL && !xsk_ring_prod__needs_wakeup(&q->sock.tx))
		return 0;
	if (sendto(q->sock.fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0)
		return 0;
	/* The kernel could not take it all now: the ring keeps the rest. */
	if (errno == EAGAIN || errno == EBUSY || errno == ENOBUFS || errno == ENETDOWN)
		return 0;
	return -errno;
}

static void frame_inspect(void *arg, void *pkt, __u32 len)
{
	struct xt_queue *q = arg;
	const struct xt_opts *o = &q->ctx->opts;

	if (o->verify)
		xt_verify_frame(q->verify, pkt, len);
	if (o->meta)
		xt_verify_meta(q->verify, (__u8 *)pkt - sizeof(struct sluice_meta));
	if (o->latency && !q->lat_skip--) {
		q->lat_skip = o->sample - 1;
		if (!q->rx_ns)
			q->rx_ns = xt_now_ns();
		xt_hist_frame(q->hist, pkt, len, q->rx_ns);
	}
}

static bool inspecting(const struct xt_opts *o)
{
	return o->verify || o->meta || o->latency;
}

/*
 * --latency: one clock read a burst, at its first sampled frame. The burst
 * was in the ring by then, so no frame's stamp can be later than it, and a
 * frame's latency is too long by at most the burst's own handling.
 */
static void burst_time(struct xt_queue *q)
{
	q->rx_ns = 0;
}

static int rxdrop_run(struct xt_queue *q)
{
	struct xt_ctx *ctx = q->ctx;
	const struct xt_opts *o = &ctx->opts;
	sluice_xsk_frame_fn inspect = inspecting(o) ? frame_inspect : NULL;
	__u32 want, rcvd;
	__u64 bytes;

	while (!stopping(ctx)) {
		if (!wait_ready(q, POLLIN))
			continue;
		want = budget_take(ctx, o->batch);
		burst_time(q);
		rcvd = want ? sluice_xsk__rx_burst(&q->sock, want, inspect, q, &bytes) : 0;
		budget_return(ctx, want - rcvd);
		if (!rcvd) {
			kick_rx(q);
			continue;
		}
		account(&q->cnt, &q->cnt.rx_packets, &q->cnt.rx_bytes, rcvd, bytes);
		count_done(ctx, rcvd);
	}
	return 0;
}

/* txonly: completed frames go back on the free stack. */
static void tx_complete_free(struct xt_queue *q)
{
	const struct xt_opts *o = &q->ctx->opts;
	__u32 n, idx, i;

	if (!q->outstanding)
		return;
	n = xsk_ring_cons__peek(&q->sock.comp, o->comp_size, &idx);
	for (i = 0; i < n; i++)
		q->free_frames[q->nr_free++] =
			(__u32)(*xsk_ring_cons__comp_addr(&q->sock.comp, idx++) / o->frame_size);
	xsk_ring_cons__release(&q->sock.comp, n);
	q->outstanding -= n;
	if (n)
		account(&q->cnt, &q->cnt.tx_packets, &q->cnt.tx_bytes, n, (__u64)n * q->tx_len);
}

/* One template frame, copied into every umem frame; only seq changes per send. */
static int tx_prepare(struct xt_queue *q)
{
	const struct xt_opts *o = &q->ctx->opts;
	struct pkt_spec spec;
	__u32 i;
	int len;

	q->free_frames = calloc(o->frames, sizeof(*q->free_frames));
	if (!q->free_frames)
		return -ENOMEM;
	pkt_spec_default(&spec);
	spec.frame_len = o->pkt_size;
	spec.with_payload = true;
	spec.flow = o->flow + (__u32)(q - q->ctx->queues);
	len = pkt_build(&spec, q->sock.buf, o->frame_size);
	if (len < 0)
		return len;
	q->tx_len = (__u32)len;
	for (i = 0; i < o->frames; i++) {
		if (i)
			memcpy((__u8 *)q->sock.buf + (size_t)i * o->frame_size, q->sock.buf, (size_t)len);
		q->free_frames[i] = o->frames - 1 - i;
	}
	q->nr_free = o->frames;
	return 0;
}

/* At the end: what was queued still goes out, and its completions counted. */
static int tx_drain(struct xt_queue *q, void (*complete)(struct xt_queue *q))
{
	__u64 deadline = xt_now_ns() + XT_DRAIN_NS;
	int err;

	while (q->outstanding && xt_now_ns() < deadline) {
		err = kick_tx(q);
		if (err)
			return err;
		complete(q);
	}
	return 0;
}

static int txonly_run(struct xt_queue *q)
{
	struct xt_ctx *ctx = q->ctx;
	const struct xt_opts *o = &ctx->opts;
	__u32 want, idx, i;
	int err;

	err = tx_prepare(q);
	if (err)
		return err;
	while (!stopping(ctx)) {
		if (!wait_ready(q, POLLOUT))
			continue;
		tx_complete_free(q);
		want = o->batch < q->nr_free ? o->batch : q->nr_free;
		want = budget_take(ctx, want);
		if (!want && !q->outstanding && o->count && !xt_load(&ctx->budget))
			break;	/* this queue's share of --count is out */
		if (want && xsk_ring_prod__reserve(&q->sock.tx, want, &idx) != want) {
			budget_return(ctx, want);
			want = 0;
		}
		for (i = 0; i < want; i++) {
			struct xdp_desc *d = xsk_ring_prod__tx_desc(&q->sock.tx, idx++);
			__u64 addr = (__u64)q->free_frames[--q->nr_free] * o->frame_size;

			pkt_set_seq((__u8 *)q->sock.buf + addr, q->tx_len, q->seq++);
			d->addr = addr;
			d->len = q->tx_len;
		}
		if (want) {
			xsk_ring_prod__submit(&q->sock.tx, want);
			q->outstanding += want;
		}
		err = kick_tx(q);
		if (err)
			return err;
	}
	return tx_drain(q, tx_complete_free);
}

static void swap_macs(__u8 *pkt)
{
	__u8 tmp[6];

	memcpy(tmp, pkt, 6);
	memcpy(pkt, pkt + 6, 6);
	memcpy(pkt + 6, tmp, 6);
}

/* l2fwd: completed frames go straight back to the fill ring. */
static void tx_complete_fill(struct xt_queue *q)
{
	const struct xt_opts *o = &q->ctx->opts;
	__u32 n, idx_cq, idx_fq, i;
	__u64 addr, bytes = 0;

	if (!q->outstanding)
		return;
	n = xsk_ring_cons__peek(&q->sock.comp, o->comp_size, &idx_cq);
	if (!n)
		return;
	/* Cannot fail: the fill ring holds every frame of the umem. */
	if (xsk_ring_prod__reserve(&q->sock.fill, n, &idx_fq) != n)
		return;
	for (i = 0; i < n; i++) {
		addr = *xsk_ring_cons__comp_addr(&q->sock.comp, idx_cq++);
		bytes += q->tx_lens[xsk_umem__extract_addr(addr) / o->frame_size];
		*xsk_ring_prod__fill_addr(&q->sock.fill, idx_fq++) = addr;
	}
	xsk_ring_prod__submit(&q->sock.fill, n);
	xsk_ring_cons__release(&q->sock.comp, n);
	q->outstanding -= n;
	account(&q->cnt, &q->cnt.tx_packets, &q->cnt.tx_bytes, n, bytes);
}

static int l2fwd_run(struct xt_queue *q)
{
	struct xt_ctx *ctx = q->ctx;
	const struct xt_opts *o = &ctx->opts;
	__u32 want, rcvd, idx_rx, idx_tx, i;
	__u64 bytes;
	int err;

	/* The completion ring gives back addresses only: remember lengths. */
	q->tx_lens = calloc(o->frames, sizeof(*q->tx_lens));
	if (!q->tx_lens)
		return -ENOMEM;
	while (!stopping(ctx)) {
		tx_complete_fill(q);
		if (q->outstanding) {
			err = kick_tx(q);
			if (err)
				return err;
		}
		if (!wait_ready(q, POLLIN))
			continue;
		want = budget_take(ctx, o->batch);
		burst_time(q);
		rcvd = want ? xsk_ring_cons__peek(&q->sock.rx, want, &idx_rx) : 0;
		budget_return(ctx, want - rcvd);
		if (!rcvd) {
			kick_rx(q);
			continue;
		}
		while (xsk_ring_prod__reserve(&q->sock.tx, rcvd, &idx_tx) != rcvd) {
			if (stopping(ctx))
				return 0;
			tx_complete_fill(q);
			err = kick_tx(q);
			if (err)
				return err;
		}
		bytes = 0;
		for (i = 0; i < rcvd; i++) {
			const struct xdp_desc *rd = xsk_ring_cons__rx_desc(&q->sock.rx, idx_rx++);
			struct xdp_desc *td = xsk_ring_prod__tx_desc(&q->sock.tx, idx_tx++);
			__u8 *pkt = xsk_umem__get_data(q->sock.buf, xsk_umem__add_offset_to_addr(rd->addr));

			if (inspecting(o))
				frame_inspect(q, pkt, rd->len);
			swap_macs(pkt);
			td->addr = rd->addr;
			td->len = rd->len;
			q->tx_lens[xsk_umem__extract_addr(rd->addr) / o->frame_size] = rd->len;
			bytes += rd->len;
		}
		xsk_ring_prod__submit(&q->sock.tx, rcvd);
		xsk_ring_cons__release(&q->sock.rx, rcvd);
		q->outstanding += rcvd;
		account(&q->cnt, &q->cnt.rx_packets, &q->cnt.rx_bytes, rcvd, bytes);
		count_done(ctx, rcvd);
	}
	return tx_drain(q, tx_complete_fill);
}

void *xt_queue_run(void *arg)
{
	struct xt_queue *q = arg;
	struct xt_ctx *ctx = q->ctx;
	int err = 0;

	switch (ctx->opts.mode) {
	case XT_RXDROP:
		err = rxdrop_run(q);
		break;
	case XT_TXONLY:
		err = txonly_run(q);
		break;
	case XT_L2FWD:
		err = l2fwd_run(q);
		break;
	}
	q->err = err;
	__atomic_sub_fetch(&ctx->running, 1, __ATOMIC_RELEASE);
	return NULL;
}
