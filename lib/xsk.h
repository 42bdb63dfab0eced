/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * One AF_XDP socket with its own umem, on libxdp's xsk API: what sluice-xsk
 * and sluiced's capture mode share. libxdp never loads its default program
 * (XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD): frames come from a sluice pipeline's
 * XSKMAP or from a program the caller attaches.
 */
#ifndef SLUICE_XSK_H
#define SLUICE_XSK_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/if_xdp.h>
#include <xdp/xsk.h>

enum sluice_xsk_bind {
	SLUICE_XSK_AUTO,	/* zero-copy if the driver has it, else copy */
	SLUICE_XSK_COPY,
	SLUICE_XSK_ZEROCOPY,
};

struct sluice_xsk_opts {
	const char *ifname;
	__u32 queue_id;
	__u32 rx_size, tx_size;		/* 0: that ring is not created */
	__u32 fill_size, comp_size;
	__u32 frames, frame_size;	/* umem: aligned frames */
	enum sluice_xsk_bind bind;
	bool need_wakeup;
};

struct sluice_xsk {
	void *buf;			/* umem area */
	size_t buf_len;
	__u32 frame_size;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fill, tx;
	struct xsk_ring_cons comp, rx;
	int fd;				/* -1 when closed */
	bool zerocopy;			/* read back with XDP_OPTIONS */
	int zc_err;			/* SLUICE_XSK_AUTO: why zero-copy was refused, else 0 */
};

/*
 * Maps the umem and creates the socket on o->ifname, o->queue_id. With an rx
 * ring, min(frames, fill_size) frames are handed to the fill ring: a fill
 * ring that holds every posted frame never refuses one given back. On failure
 * everything is released and err says which step failed.
 */
int sluice_xsk__open(struct sluice_xsk *s, const struct sluice_xsk_opts *o, char *err, size_t len);
void sluice_xsk__close(struct sluice_xsk *s);

/*
 * Checks that fd is an XSKMAP with an entry for every queue; err names the
 * first problem.
 */
int sluice_xsk__check_map(int map_fd, const __u32 *queues, int nr_queues, char *err, size_t len);
/* Puts the socket at its queue's index of the XSKMAP; closing it removes it. */
int sluice_xsk__update_map(struct sluice_xsk *s, int map_fd);

/* The kernel's drop counters of the socket (getsockopt XDP_STATISTICS). */
int sluice_xsk__stats(const struct sluice_xsk *s, struct xdp_statistics *st);

/* A received frame: data at frame, len bytes; XDP metadata, if any, in front. */
typedef void (*sluice_xsk_frame_fn)(void *ctx, void *frame, __u32 len);

/*
 * Takes up to max received frames, hands each to fn (may be NULL) and gives
 * them back to the fill ring. Returns how many, their bytes in *bytes; 0 when
 * the rx ring is empty (or, never with a fill ring sized as above, full).
 */
__u32 sluice_xsk__rx_burst(struct sluice_xsk *s, __u32 max, sluice_xsk_frame_fn fn, void *ctx,
			   __u64 *bytes);

/* Asks the kernel to look at the fill ring when it said it needs that. */
void sluice_xsk__kick_rx(struct sluice_xsk *s, bool always);

#endif
