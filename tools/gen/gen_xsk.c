// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The AF_XDP engine: one AF_XDP socket with a TX ring only (lib/xsk.c on
 * libxdp's xsk API) per queue, queues 0 .. --queues - 1 of the interface.
 * It needs neither live frames nor an XDP program: on a veth, copy mode
 * turns each TX descriptor into an skb on the socket's queue inside
 * sendto(), and a veth delivers an skb to the same queue of its peer: the
 * way to put traffic on several receive queues of a veth.
 *
 * Every umem frame holds the template from the start; sending a frame
 * stamps the per-packet fields (gen_stamp()) into a free umem frame and
 * posts it on the TX ring. The kernel takes descriptors in ring order, so
 * seqs leave in order, and a descriptor the device could not take now
 * (EAGAIN) stays at the head of the ring for the next kick.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "xsk.h"
#include "probe.h"
#include "gen.h"

#define GEN_XSK_FRAMES		4096
#define GEN_XSK_FRAME_SIZE	2048
#define GEN_XSK_RING		2048
/* Descriptors per reserve/submit. */
#define GEN_XSK_BATCH		64
/* Descriptors one copy-mode sendto() may transmit, where the kernel lets us say. */
#define GEN_XSK_TX_BUDGET	256
#ifndef XDP_MAX_TX_SKB_BUDGET
#define XDP_MAX_TX_SKB_BUDGET	9
#endif
/* How long a queue another socket just left may stay busy. */
#define GEN_XSK_BUSY_NS		5000000000ull
/* How long a finished sender waits for the kernel to complete what it queued. */
#define GEN_XSK_DRAIN_NS	1000000000ull

/* One socket, with its own umem, per transmit queue. */
struct gen_xsk_q {
	struct sluice_xsk sock;
	uint32_t *free_frames;	/* stack of free umem frame numbers */
	uint32_t nr_free;
	uint32_t posted;	/* reserved in this post, not yet submitted */
	uint64_t queued;	/* posted to this socket */
	uint64_t done;		/* completed by the kernel */
};

struct gen_xsk {
	const struct gen_opts *o;
	const struct gen_traffic *t;
	struct gen_xsk_q q[GEN_MAX_QUEUES];
	uint32_t nr_q;
	uint64_t queued;	/* stamped and posted: the next seq */
	uint64_t done;		/* completed by the kernel */
};

static int gen_xsk_open_queue(struct gen_xsk *x, struct gen_xsk_q *q, uint32_t queue_id,
			      char *why, size_t len)
{
	const struct gen_opts *o = x->o;
	const struct gen_traffic *t = x->t;
	struct sluice_xsk_opts so = {
		.ifname = o->ifname,
		.queue_id = queue_id,
		.tx_size = GEN_XSK_RING,
		/* The kernel wants a fill ring on the umem even if nothing is received. */
		.fill_size = GEN_XSK_RING,
		.comp_size = GEN_XSK_RING,
		.frames = GEN_XSK_FRAMES,
		.frame_size = GEN_XSK_FRAME_SIZE,
		/*
		 * Copy mode, asked for outright: veth has no zero-copy, and a
		 * driver that has it would want frames from its own queue's
		 * NAPI, which is more than a generator needs.
		 */
		.bind = SLUICE_XSK_COPY,
		.need_wakeup = true,
	};
	unsigned int budget;
	uint64_t deadline;
	uint32_t i;
	int err;

	/*
	 * The kernel frees a closed socket's hold on its queue a moment after
	 * close (in a work item): a socket closed just before, ours or another
	 * program's, makes the bind fail with EBUSY for a while.
	 */
	deadline = gen_now_ns() + GEN_XSK_BUSY_NS;
	while ((err = sluice_xsk__open(&q->sock, &so, why, len)) == -EBUSY &&
	       gen_now_ns() < deadline)
		gen_sleep_until(gen_now_ns() + 20000000ull);
	if (err)
		return err;
	/*
	 * Linux >= 6.17 lets one sendto() take more than 32 descriptors in
	 * copy mode: fewer syscalls, about 5% more here. Older kernels refuse
	 * the option, which only costs those syscalls.
	 */
	budget = GEN_XSK_TX_BUDGET;
	setsockopt(q->sock.fd, SOL_XDP, XDP_MAX_TX_SKB_BUDGET, &budget, sizeof(budget));
	q->free_frames = calloc(GEN_XSK_FRAMES, sizeof(*q->free_frames));
	if (!q->free_frames)
		return -ENOMEM;
	for (i = 0; i < GEN_XSK_FRAMES; i++) {
		memcpy((uint8_t *)q->sock.buf + (size_t)i * GEN_XSK_FRAME_SIZE, t->frame, t->len);
		q->free_frames[i] = GEN_XSK_FRAMES - 1 - i;
	}
	q->nr_free = GEN_XSK_FRAMES;
	return 0;
}

static int gen_xsk_open(const struct gen_opts *o, const struct gen_traffic *t, void **priv,
			char *why, size_t len)
{
	struct gen_xsk *x;
	uint32_t i;
	int err;

	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	*priv = x;
	x->o = o;
	x->t = t;
	x->nr_q = o->queues ? o->queues : 1;
	for (i = 0; i < GEN_MAX_QUEUES; i++)
		x->q[i].sock.fd = -1;
	if (probe__denied("af_xdp")) {
		snprintf(why, len, "AF_XDP socket on %s queue 0: %s (SLUICE_DENY_FEATURES names af_xdp)",
			 o->ifname, strerror(EAFNOSUPPORT));
		return -EAFNOSUPPORT;
	}
	for (i = 0; i < x->nr_q; i++) {
		err = gen_xsk_open_queue(x, &x->q[i], i, why, len);
		if (err)
			return err;
	}
	return 0;
}

static void gen_xsk_close(void *priv)
{
	struct gen_xsk *x = priv;
	uint32_t i;

	if (!x)
		return;
	for (i = 0; i < GEN_MAX_QUEUES; i++) {
		if (x->q[i].sock.fd >= 0)
			sluice_xsk__close(&x->q[i].sock);
		free(x->q[i].free_frames);
	}
	free(x);
}

/* Completed frames go back on the free stacks. */
static void gen_xsk_complete(struct gen_xsk *x)
{
	uint32_t n, idx, i, k;

	if (x->done == x->queued)
		return;
	for (k = 0; k < x->nr_q; k++) {
		struct gen_xsk_q *q = &x->q[k];

		if (q->done == q->queued)
			continue;
		n = xsk_ring_cons__peek(&q->sock.comp, GEN_XSK_RING, &idx);
		for (i = 0; i < n; i++)
			q->free_frames[q->nr_free++] = (uint32_t)(*xsk_ring_cons__comp_addr(&q->sock.comp,
											  idx++) /
								  GEN_XSK_FRAME_SIZE);
		xsk_ring_cons__release(&q->sock.comp, n);
		q->done += n;
		x->done += n;
	}
}

/*
 * Copy mode transmits inside this syscall only, a bounded batch at a time
 * (the kernel's TX budget per call). EAGAIN and EBUSY mean the device took
 * less than offered: the ring keeps the rest, and a frame the device dropped
 * is completed anyway and counted in its tx_dropped.
 */
static int gen_xsk_kick_one(struct gen_xsk_q *q)
{
	if (q->done == q->queued || !xsk_ring_prod__needs_wakeup(&q->sock.tx))
		return 0;
	if (sendto(q->sock.fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0)
		return 0;
	if (errno == EAGAIN || errno == EBUSY || errno == ENOBUFS || errno == EINTR)
		return 0;
	return -errno;
}

static int gen_xsk_kick(struct gen_xsk *x)
{
	uint32_t k;
	int err;

	for (k = 0; k < x->nr_q; k++) {
		err = gen_xsk_kick_one(&x->q[k]);
		if (err)
			return err;
	}
	return 0;
}

/*
 * Stamps and posts up to n frames, in seq order; returns how many. Flow f
 * leaves on queue f % nr_q, so each flow keeps its order on one queue; the
 * post stops at the first frame whose queue has no room.
 */
static uint32_t gen_xsk_post(struct gen_xsk *x, uint32_t n)
{
	const struct gen_traffic *t = x->t;
	/* One time for the batch: it leaves in the kick that follows. */
	uint64_t now = t->layout.st_off ? gen_now_ns() : 0;
	uint32_t idx, i, k;

	for (i = 0; i < n; i++) {
		uint64_t seq = x->queued + i;
		uint32_t flow = (uint32_t)(seq % t->nr_flows);
		struct gen_xsk_q *q = &x->q[x->nr_q > 1 ? flow % x->nr_q : 0];
		struct xdp_desc *d;
		uint64_t addr;

		if (q->nr_free == q->posted || xsk_ring_prod__reserve(&q->sock.tx, 1, &idx) != 1)
			break;
		d = xsk_ring_prod__tx_desc(&q->sock.tx, idx);
		addr = (uint64_t)q->free_frames[q->nr_free - 1 - q->posted++] * GEN_XSK_FRAME_SIZE;
		gen_stamp((uint8_t *)q->sock.buf + addr, &t->layout, &t->flows[flow], seq, now);
		d->addr = addr;
		d->len = t->len;
	}
	for (k = 0; k < x->nr_q; k++) {
		struct gen_xsk_q *q = &x->q[k];

		if (!q->posted)
			continue;
		/* Several reserves, one submit: the producer moves once. */
		xsk_ring_prod__submit(&q->sock.tx, q->posted);
		q->nr_free -= q->posted;
		q->queued += q->posted;
		q->posted = 0;
	}
	x->queued += i;
	return i;
}

static int gen_xsk_run(void *priv, struct gen_stats *st)
{
	struct gen_xsk *x = priv;
	const struct gen_opts *o = x->o;
	uint64_t drop0 = 0, drop1 = 0, left, due, drain_end = 0;
	struct gen_run run;
	uint32_t n;
	int err = 0;

	gen_netdev_tx_dropped(o->ifname, &drop0);
	gen_run_start(&run, o, x->t);
	/* A frame counts as sent when the kernel completes it. */
	while (!gen_run_tick(&run, x->done)) {
		gen_xsk_complete(x);
		left = gen_run_left(&run, x->queued);
		n = GEN_XSK_BATCH;
		if (o->rate) {
			due = gen_run_due(&run, gen_now_ns(), x->queued);
			if (due <= x->queued && x->done == x->queued) {
				/* Nothing due nor in flight: wait for the next frame's time. */
				gen_sleep_until(gen_run_due_ns(&run, x->queued));
				continue;
			}
			n = due > x->queued ? (uint32_t)(due - x->queued < n ? due - x->queued : n) : 0;
		}
		if (n > left)
			n = (uint32_t)left;
		if (n)
			gen_xsk_post(x, n);
		if (!left && x->done != x->queued) {
			/* All of --count is posted: what is left is the completions. */
			if (!drain_end)
				drain_end = gen_now_ns() + GEN_XSK_DRAIN_NS;
			else if (gen_now_ns() > drain_end)
				break;
		}
		if (x->done != x->queued) {
			err = gen_xsk_kick(x);
			if (err) {
				fprintf(stderr, "sluice-gen: AF_XDP transmit on %s: %s\n",
					o->ifname, strerror(-err));
				break;
			}
		}
	}
	/* Stopped by a signal or --duration: what was posted still goes out. */
	drain_end = gen_now_ns() + GEN_XSK_DRAIN_NS;
	while (!err && x->done != x->queued && gen_now_ns() < drain_end) {
		err = gen_xsk_kick(x);
		if (err)
			fprintf(stderr, "sluice-gen: AF_XDP transmit on %s: %s\n", o->ifname,
				strerror(-err));
		gen_xsk_complete(x);
	}
	st->seconds = (double)(gen_now_ns() - run.start_ns) / 1e9;
	st->sent = x->done;
	if (!gen_netdev_tx_dropped(o->ifname, &drop1))
		st->errors = drop1 - drop0;
	if (!err && x->done != x->queued) {
		fprintf(stderr, "sluice-gen: %llu of %llu posted frames never completed\n",
			(unsigned long long)(x->queued - x->done), (unsigned long long)x->queued);
		err = -ETIMEDOUT;
	}
	return err;
}

const struct gen_engine gen_engine_xsk = {
	.name = "xsk",
	.what = "AF_XDP TX ring, copy mode",
	.multi_queue = true,
	.open = gen_xsk_open,
	.run = gen_xsk_run,
	.close = gen_xsk_close,
};
