// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Umem and socket setup, and where the packets come from: a pipeline's
 * pinned XSKMAP or our own bare redirect program. libxdp never loads its
 * default program (XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD): the XDP side is
 * always sluice's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "xsk_tool.h"
#include "xsk_redirect.skel.h"

static void queue_close(struct xt_queue *q)
{
	if (q->xsk)
		xsk_socket__delete(q->xsk);
	q->xsk = NULL;
	if (q->umem)
		xsk_umem__delete(q->umem);
	q->umem = NULL;
	q->fd = -1;
}

static int queue_bind(struct xt_ctx *ctx, struct xt_queue *q, __u16 copy_flag)
{
	const struct xt_opts *o = &ctx->opts;
	struct xsk_umem_config ucfg = {
		.fill_size = o->fill_size,
		.comp_size = o->comp_size,
		.frame_size = o->frame_size,
	};
	struct xsk_socket_config scfg = {
		.rx_size = o->rx_size,
		.tx_size = o->tx_size,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = copy_flag | (o->need_wakeup ? XDP_USE_NEED_WAKEUP : 0),
	};
	struct xdp_options xopts = {};
	socklen_t len = sizeof(xopts);
	int err;

	err = xsk_umem__create(&q->umem, q->buf, q->buf_len, &q->fill, &q->comp, &ucfg);
	if (err) {
		q->umem = NULL;
		return err;
	}
	/* Only the rings the mode uses: an rx ring nobody reads fills and drops. */
	err = xsk_socket__create(&q->xsk, o->ifname, q->queue_id, q->umem,
				 o->mode == XT_TXONLY ? NULL : &q->rx,
				 o->mode == XT_RXDROP ? NULL : &q->tx, &scfg);
	if (err) {
		q->xsk = NULL;
		queue_close(q);
		return err;
	}
	q->fd = xsk_socket__fd(q->xsk);
	if (getsockopt(q->fd, SOL_XDP, XDP_OPTIONS, &xopts, &len))
		return -errno;
	q->zerocopy = xopts.flags & XDP_OPTIONS_ZEROCOPY;
	return 0;
}

static int queue_busy_poll(struct xt_ctx *ctx, struct xt_queue *q)
{
	int one = 1, usecs = 20, budget = (int)ctx->opts.batch;

	if (setsockopt(q->fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &one, sizeof(one)) ||
	    setsockopt(q->fd, SOL_SOCKET, SO_BUSY_POLL, &usecs, sizeof(usecs)) ||
	    setsockopt(q->fd, SOL_SOCKET, SO_BUSY_POLL_BUDGET, &budget, sizeof(budget)))
		return -errno;
	return 0;
}

/* Hands every frame to the kernel: the fill ring was sized to take them all. */
static int queue_fill(struct xt_ctx *ctx, struct xt_queue *q)
{
	const struct xt_opts *o = &ctx->opts;
	__u32 idx, i;

	if (xsk_ring_prod__reserve(&q->fill, o->frames, &idx) != o->frames)
		return -ENOSPC;
	for (i = 0; i < o->frames; i++)
		*xsk_ring_prod__fill_addr(&q->fill, idx++) = (__u64)i * o->frame_size;
	xsk_ring_prod__submit(&q->fill, o->frames);
	return 0;
}

static int queue_open(struct xt_ctx *ctx, struct xt_queue *q)
{
	const struct xt_opts *o = &ctx->opts;
	int err;

	q->fd = -1;
	q->buf_len = (size_t)o->frames * o->frame_size;
	q->buf = mmap(NULL, q->buf_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (q->buf == MAP_FAILED) {
		q->buf = NULL;
		err = -errno;
		fprintf(stderr, "sluice-xsk: umem of %zu bytes: %s\n", q->buf_len, strerror(-err));
		return err;
	}

	switch (o->copy) {
	case XT_COPY_FORCE:
		err = queue_bind(ctx, q, XDP_COPY);
		break;
	case XT_ZEROCOPY_FORCE:
		err = queue_bind(ctx, q, XDP_ZEROCOPY);
		break;
	default:
		err = queue_bind(ctx, q, XDP_ZEROCOPY);
		if (err) {
			if (!o->quiet)
				fprintf(stderr, "sluice-xsk: %s queue %u: no zero-copy (%s), using copy mode\n",
					o->ifname, q->queue_id, strerror(-err));
			err = queue_bind(ctx, q, XDP_COPY);
		}
		break;
	}
	if (err) {
		fprintf(stderr, "sluice-xsk: AF_XDP socket on %s queue %u: %s\n",
			o->ifname, q->queue_id, strerror(-err));
		return err;
	}
	if (o->wait == XT_WAIT_BUSY_POLL) {
		err = queue_busy_poll(ctx, q);
		if (err) {
			fprintf(stderr, "sluice-xsk: busy poll on queue %u: %s\n",
				q->queue_id, strerror(-err));
			return err;
		}
	}
	if (o->mode != XT_TXONLY) {
		err = queue_fill(ctx, q);
		if (err) {
			fprintf(stderr, "sluice-xsk: fill ring: %s\n", strerror(-err));
			return err;
		}
	}
	if (o->verify || o->meta) {
		q->verify = xt_verify_new();
		if (!q->verify)
			return -ENOMEM;
	}
	return 0;
}

static int xskmap_open(struct xt_ctx *ctx)
{
	const struct xt_opts *o = &ctx->opts;
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int fd, err, i;

	fd = bpf_obj_get(o->xskmap);
	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "sluice-xsk: %s: %s\n", o->xskmap, strerror(-err));
		return err;
	}
	ctx->xskmap_fd = fd;
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		err = -errno;
		fprintf(stderr, "sluice-xsk: %s: %s\n", o->xskmap, strerror(-err));
		return err;
	}
	if (info.type != BPF_MAP_TYPE_XSKMAP) {
		fprintf(stderr, "sluice-xsk: %s is not an XSKMAP\n", o->xskmap);
		return -EINVAL;
	}
	for (i = 0; i < o->nr_queues; i++) {
		if (o->queues[i] >= info.max_entries) {
			fprintf(stderr, "sluice-xsk: queue %u is beyond %s (%u entries)\n",
				o->queues[i], o->xskmap, info.max_entries);
			return -ERANGE;
		}
	}
	return 0;
}

static int redirect_load(struct xt_ctx *ctx)
{
	int err;

	ctx->skel = xsk_redirect_bpf__open_and_load();
	if (!ctx->skel) {
		err = -errno;
		fprintf(stderr, "sluice-xsk: loading the redirect program: %s\n", strerror(-err));
		return err;
	}
	ctx->xskmap_fd = bpf_map__fd(ctx->skel->maps.xsks);
	return 0;
}

/* Attached last, once every socket is in the map, so no frame is passed by mistake. */
static int redirect_attach(struct xt_ctx *ctx)
{
	const struct xt_opts *o = &ctx->opts;
	LIBBPF_OPTS(bpf_link_create_opts, lopts,
		.flags = o->skb_mode ? XDP_FLAGS_SKB_MODE : 0);
	int fd, err;

	fd = bpf_link_create(bpf_program__fd(ctx->skel->progs.xsk_redirect), (int)o->ifindex,
			     BPF_XDP, &lopts);
	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "sluice-xsk: attaching to %s: %s\n", o->ifname, strerror(-err));
		return err;
	}
	ctx->link_fd = fd;
	return 0;
}

int xt_sockets_open(struct xt_ctx *ctx)
{
	const struct xt_opts *o = &ctx->opts;
	int i, err = 0;

	ctx->xskmap_fd = -1;
	ctx->link_fd = -1;
	for (i = 0; i < o->nr_queues; i++) {
		ctx->queues[i].ctx = ctx;
		ctx->queues[i].queue_id = o->queues[i];
		ctx->queues[i].fd = -1;
	}
	if (o->xskmap)
		err = xskmap_open(ctx);
	else if (o->attach)
		err = redirect_load(ctx);
	if (err)
		return err;

	for (i = 0; i < o->nr_queues; i++) {
		struct xt_queue *q = &ctx->queues[i];

		err = queue_open(ctx, q);
		if (err)
			return err;
		if (ctx->xskmap_fd >= 0 && o->mode != XT_TXONLY) {
			err = xsk_socket__update_xskmap(q->xsk, ctx->xskmap_fd);
			if (err) {
				fprintf(stderr, "sluice-xsk: XSKMAP entry %u: %s\n",
					q->queue_id, strerror(-err));
				return err;
			}
		}
	}
	if (o->attach)
		err = redirect_attach(ctx);
	return err;
}

void xt_sockets_close(struct xt_ctx *ctx)
{
	int i;

	/* Detach first: a frame redirected to a closing socket is a drop. */
	if (ctx->link_fd >= 0)
		close(ctx->link_fd);
	ctx->link_fd = -1;
	/* Closing a socket also removes it from every XSKMAP it is in. */
	for (i = 0; i < ctx->opts.nr_queues; i++) {
		struct xt_queue *q = &ctx->queues[i];

		queue_close(q);
		if (q->buf)
			munmap(q->buf, q->buf_len);
		q->buf = NULL;
		free(q->verify);
		q->verify = NULL;
		free(q->free_frames);
		q->free_frames = NULL;
		free(q->tx_lens);
		q->tx_lens = NULL;
	}
	if (ctx->xskmap_fd >= 0 && !ctx->skel)
		close(ctx->xskmap_fd);
	ctx->xskmap_fd = -1;
	xsk_redirect_bpf__destroy(ctx->skel);
	ctx->skel = NULL;
}

int xt_queue_stats(struct xt_queue *q)
{
	socklen_t len = sizeof(q->stats);

	if (q->fd < 0)
		return -EBADF;
	if (getsockopt(q->fd, SOL_XDP, XDP_STATISTICS, &q->stats, &len))
		return -errno;
	return 0;
}
