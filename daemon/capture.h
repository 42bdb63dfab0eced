/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Capture mode (the configuration's xsk section): sluiced's own AF_XDP
 * sockets in the pipeline's XSKMAP, one receive thread per queue, counting
 * what the pipeline's xsk stage hands them.
 */
#ifndef SLUICED_CAPTURE_H
#define SLUICED_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/if_xdp.h>
#include <linux/types.h>

struct capture;
struct daemon;
struct json_object;

/* What one queue's thread counted so far; the xdp part is the kernel's. */
struct capture_queue_stats {
	__u32 queue_id;
	bool zerocopy;
	__u64 packets, bytes;
	__u64 valid;		/* frames whose sluice payload verified (lib/pkt.c pkt_check) */
	__u64 no_payload;
	__u64 corrupt;		/* payload magic found, checksum or length wrong */
	__u64 gaps;		/* sequence numbers skipped, per flow */
	__u64 reordered;	/* a number below one already seen: late or duplicate */
	__u64 no_meta;		/* frames without a sluice_meta in front */
	struct xdp_statistics xdp;
};

/*
 * Opens one socket per configured queue into the capture interface's pinned
 * XSKMAP (the pipeline must be attached); capture__run() starts the threads.
 * *out stays NULL without an xsk section.
 */
int capture__start(struct daemon *d, struct capture **out, char *err, size_t len);
/* Starts the receive threads of what capture__start() opened; NULL is no capture. */
int capture__run(struct capture *c, char *err, size_t len);
/* Stops and joins the threads, closes the sockets (their XSKMAP entries go). */
void capture__stop(struct capture *c);

const char *capture__ifname(const struct capture *c);
int capture__nr_queues(const struct capture *c);
int capture__queue_stats(const struct capture *c, int i, struct capture_queue_stats *st);
/* The xsk.stats reply body: interface, queues[] and total, rule ids resolved. */
struct json_object *capture__json(struct daemon *d, const struct capture *c);

#endif
