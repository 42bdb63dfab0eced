// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Per-queue sockets (lib/xsk.c), and where the packets come from: a
 * pipeline's pinned XSKMAP or our own bare redirect program. libxdp never
 * loads its default program (XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD): the XDP
 * side is always sluice's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "xsk_tool.h"
#include "xsk_redirect.skel.h"

static int queue_busy_poll(struct xt_ctx *ctx, struct xt_queue *q)
{
	int one = 1, usecs = 20, budget = (int)ctx->opts.batch;

	if (setsockopt(q->sock.fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &one, sizeof(one)) ||
	    setsockopt(q->sock.fd, SOL_SOCKET, SO_BUSY_POLL, &usecs, sizeof(usecs)) ||
	    setsockopt(q->sock.fd, SOL_SOCKET, SO_BUSY_POLL_BUDGET, &budget, sizeof(budget)))
		return -errno;
	return 0;
}

static int queue_open(struct xt_ctx *ctx, struct xt_queue *q)
{
	const struct xt_opts *o = &ctx->opts;
	static const enum sluice_xsk_bind bind[] = {
		[XT_COPY_AUTO] = SLUICE_XSK_AUTO,
		[XT_COPY_FORCE] = SLUICE_XSK_COPY,
		[XT_ZEROCOPY_FORCE] = SLUICE_XSK_ZEROCOPY,
	};
	/* Only the rings the mode uses: an rx ring nobody reads fills and drops. */
	struct sluice_xsk_opts so = {
		.ifname = o->ifname,
		.queue_id = q->queue_id,
		.rx_size = o->mode == XT_TXONLY ? 0 : o->rx_size,
		.tx_size = o->mode == XT_RXDROP ? 0 : o->tx_size,
		.fill_size = o->fill_size,
		.comp_size = o->comp_size,
		.frames = o->frames,
		.frame_size = o->frame_size,
		.bind = bind[o->copy],
		.need_wakeup = o->need_wakeup,
	};
	char err[256];
	int ret;

	ret = sluice_xsk__open(&q->sock, &so, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "sluice-xsk: %s\n", err);
		return ret;
	}
	if (q->sock.zc_err && !o->quiet)
		fprintf(stderr, "sluice-xsk: %s queue %u: no zero-copy (%s), using copy mode\n",
			o->ifname, q->queue_id, strerror(-q->sock.zc_err));
	if (o->wait == XT_WAIT_BUSY_POLL) {
		ret = queue_busy_poll(ctx, q);
		if (ret) {
			fprintf(stderr, "sluice-xsk: busy poll on queue %u: %s\n",
				q->queue_id, strerror(-ret));
			return ret;
		}
	}
	if (o->verify || o->meta) {
		q->verify = xt_verify_new();
		if (!q->verify)
			return -ENOMEM;
	}
	if (o->latency) {
		q->hist = calloc(1, sizeof(*q->hist));
		if (!q->hist)
			return -ENOMEM;
	}
	return 0;
}

static int xskmap_open(struct xt_ctx *ctx)
{
	const struct xt_opts *o = &ctx->opts;
	char msg[256];
	int fd, err;

	fd = bpf_obj_get(o->xskmap);
	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "sluice-xsk: %s: %s\n", o->xskmap, strerror(-err));
		return err;
	}
	ctx->xskmap_fd = fd;
	err = sluice_xsk__check_map(fd, o->queues, o->nr_queues, msg, sizeof(msg));
	if (err)
		fprintf(stderr, "sluice-xsk: %s: %s\n", o->xskmap, msg);
	return err;
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
		ctx->queues[i].sock.fd = -1;
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
			err = sluice_xsk__update_map(&q->sock, ctx->xskmap_fd);
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

		sluice_xsk__close(&q->sock);
		free(q->verify);
		q->verify = NULL;
		free(q->hist);
		q->hist = NULL;
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
	return sluice_xsk__stats(&q->sock, &q->stats);
}
