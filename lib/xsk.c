// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Umem, socket and XSKMAP handling shared by sluice-xsk and sluiced's
 * capture mode. Errors are returned and described in the caller's buffer:
 * the tool prints them, the daemon logs them.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include "xsk.h"

void sluice_xsk__close(struct sluice_xsk *s)
{
	/* Deleting the socket also removes it from every XSKMAP it is in. */
	if (s->xsk)
		xsk_socket__delete(s->xsk);
	s->xsk = NULL;
	if (s->umem)
		xsk_umem__delete(s->umem);
	s->umem = NULL;
	if (s->buf)
		munmap(s->buf, s->buf_len);
	s->buf = NULL;
	s->fd = -1;
}

static int bind_once(struct sluice_xsk *s, const struct sluice_xsk_opts *o, __u16 mode_flag)
{
	struct xsk_umem_config ucfg = {
		.fill_size = o->fill_size,
		.comp_size = o->comp_size,
		.frame_size = o->frame_size,
	};
	struct xsk_socket_config scfg = {
		.rx_size = o->rx_size,
		.tx_size = o->tx_size,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = mode_flag | (o->need_wakeup ? XDP_USE_NEED_WAKEUP : 0),
	};
	int err;

	err = xsk_umem__create(&s->umem, s->buf, s->buf_len, &s->fill, &s->comp, &ucfg);
	if (err) {
		s->umem = NULL;
		return err;
	}
	/* Only the rings the caller uses: an rx ring nobody reads fills and drops. */
	err = xsk_socket__create(&s->xsk, o->ifname, o->queue_id, s->umem,
				 o->rx_size ? &s->rx : NULL, o->tx_size ? &s->tx : NULL, &scfg);
	if (err) {
		s->xsk = NULL;
		xsk_umem__delete(s->umem);
		s->umem = NULL;
		return err;
	}
	return 0;
}

static int socket_bind(struct sluice_xsk *s, const struct sluice_xsk_opts *o)
{
	int err;

	switch (o->bind) {
	case SLUICE_XSK_COPY:
		return bind_once(s, o, XDP_COPY);
	case SLUICE_XSK_ZEROCOPY:
		return bind_once(s, o, XDP_ZEROCOPY);
	default:
		err = bind_once(s, o, XDP_ZEROCOPY);
		if (!err)
			return 0;
		s->zc_err = err;
		return bind_once(s, o, XDP_COPY);
	}
}

static int fill_all(struct sluice_xsk *s, __u32 n)
{
	__u32 idx, i;

	if (xsk_ring_prod__reserve(&s->fill, n, &idx) != n)
		return -ENOSPC;
	for (i = 0; i < n; i++)
		*xsk_ring_prod__fill_addr(&s->fill, idx++) = (__u64)i * s->frame_size;
	xsk_ring_prod__submit(&s->fill, n);
	return 0;
}

int sluice_xsk__open(struct sluice_xsk *s, const struct sluice_xsk_opts *o, char *err, size_t len)
{
	struct xdp_options xopts = {};
	socklen_t olen = sizeof(xopts);
	int ret;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->frame_size = o->frame_size;
	s->buf_len = (size_t)o->frames * o->frame_size;
	s->buf = mmap(NULL, s->buf_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (s->buf == MAP_FAILED) {
		s->buf = NULL;
		ret = -errno;
		snprintf(err, len, "umem of %zu bytes: %s", s->buf_len, strerror(-ret));
		return ret;
	}
	ret = socket_bind(s, o);
	if (ret) {
		snprintf(err, len, "AF_XDP socket on %s queue %u: %s", o->ifname, o->queue_id,
			 strerror(-ret));
		goto fail;
	}
	s->fd = xsk_socket__fd(s->xsk);
	if (getsockopt(s->fd, SOL_XDP, XDP_OPTIONS, &xopts, &olen)) {
		ret = -errno;
		snprintf(err, len, "XDP_OPTIONS on %s queue %u: %s", o->ifname, o->queue_id,
			 strerror(-ret));
		goto fail;
	}
	s->zerocopy = xopts.flags & XDP_OPTIONS_ZEROCOPY;
	if (o->rx_size) {
		ret = fill_all(s, o->frames < o->fill_size ? o->frames : o->fill_size);
		if (ret) {
			snprintf(err, len, "fill ring of %s queue %u: %s", o->ifname, o->queue_id,
				 strerror(-ret));
			goto fail;
		}
	}
	return 0;
fail:
	sluice_xsk__close(s);
	return ret;
}

int sluice_xsk__check_map(int map_fd, const __u32 *queues, int nr_queues, char *err, size_t len)
{
	struct bpf_map_info info = {};
	__u32 ilen = sizeof(info);
	int i, ret;

	if (bpf_obj_get_info_by_fd(map_fd, &info, &ilen)) {
		ret = -errno;
		snprintf(err, len, "map info: %s", strerror(-ret));
		return ret;
	}
	if (info.type != BPF_MAP_TYPE_XSKMAP) {
		snprintf(err, len, "map %s is not an XSKMAP", info.name);
		return -EINVAL;
	}
	for (i = 0; i < nr_queues; i++) {
		if (queues[i] >= info.max_entries) {
			snprintf(err, len, "queue %u is beyond the XSKMAP (%u entries)", queues[i],
				 info.max_entries);
			return -ERANGE;
		}
	}
	return 0;
}

int sluice_xsk__update_map(struct sluice_xsk *s, int map_fd)
{
	return xsk_socket__update_xskmap(s->xsk, map_fd);
}

int sluice_xsk__stats(const struct sluice_xsk *s, struct xdp_statistics *st)
{
	socklen_t len = sizeof(*st);

	if (s->fd < 0)
		return -EBADF;
	if (getsockopt(s->fd, SOL_XDP, XDP_STATISTICS, st, &len))
		return -errno;
	return 0;
}

__u32 sluice_xsk__rx_burst(struct sluice_xsk *s, __u32 max, sluice_xsk_frame_fn fn, void *ctx,
			   __u64 *bytes)
{
	__u32 rcvd, idx_rx, idx_fq, i;
	__u64 sum = 0;

	*bytes = 0;
	rcvd = xsk_ring_cons__peek(&s->rx, max, &idx_rx);
	if (!rcvd)
		return 0;
	if (xsk_ring_prod__reserve(&s->fill, rcvd, &idx_fq) != rcvd) {
		/* Left in the rx ring for the next call. */
		xsk_ring_cons__cancel(&s->rx, rcvd);
		return 0;
	}
	for (i = 0; i < rcvd; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&s->rx, idx_rx++);

		if (fn)
			fn(ctx, xsk_umem__get_data(s->buf, xsk_umem__add_offset_to_addr(d->addr)),
			   d->len);
		sum += d->len;
		*xsk_ring_prod__fill_addr(&s->fill, idx_fq++) = xsk_umem__extract_addr(d->addr);
	}
	xsk_ring_prod__submit(&s->fill, rcvd);
	xsk_ring_cons__release(&s->rx, rcvd);
	*bytes = sum;
	return rcvd;
}

void sluice_xsk__kick_rx(struct sluice_xsk *s, bool always)
{
	if (always || xsk_ring_prod__needs_wakeup(&s->fill))
		recvfrom(s->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
}
