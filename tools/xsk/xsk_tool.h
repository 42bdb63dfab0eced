/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * sluice-xsk internals: options, per-queue state and the interfaces between
 * socket setup (sock.c), the packet loops (datapath.c), payload and metadata
 * checks (verify.c) and output (report.c).
 */
#ifndef SLUICE_XSK_TOOL_H
#define SLUICE_XSK_TOOL_H

#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <xdp/xsk.h>
#include <sluice/abi.h>
#include "xsk.h"

enum xt_mode {
	XT_RXDROP,
	XT_TXONLY,
	XT_L2FWD,
};

enum xt_copy {
	XT_COPY_AUTO,		/* zero-copy if the driver has it, else copy */
	XT_COPY_FORCE,
	XT_ZEROCOPY_FORCE,
};

enum xt_wait {
	XT_WAIT_SPIN,		/* poll the rings, kick the kernel when it asks */
	XT_WAIT_POLL,		/* poll(2) the socket */
	XT_WAIT_BUSY_POLL,	/* SO_PREFER_BUSY_POLL: the syscall runs the NAPI */
};

struct xt_opts {
	const char *ifname;
	unsigned int ifindex;
	__u32 queues[SLUICE_XSK_MAX_QUEUES];
	int nr_queues;
	enum xt_mode mode;
	enum xt_copy copy;
	enum xt_wait wait;
	const char *xskmap;	/* pinned XSKMAP of a pipeline */
	bool attach;		/* attach xsk_redirect.bpf.c instead */
	bool skb_mode;		/* attach it in generic (skb) mode */
	__u32 rx_size, tx_size, fill_size, comp_size;
	__u32 frames, frame_size;
	__u32 batch;
	bool need_wakeup;
	double duration;	/* seconds, 0 = until a signal or --count */
	__u64 count;		/* stop after this many received (sent in txonly) */
	bool quiet, json, verify, meta;
	bool latency;		/* read the transmit stamp of received frames */
	__u32 sample;		/* --latency: of every Nth frame */
	__u64 interval_ns;	/* -I: one JSON line per interval, 0 = none */
	const char *interval_file;	/* where they go, NULL = stdout */
	__u32 pkt_size;		/* txonly frame length */
	__u32 flow;		/* txonly: flow id of queue i is flow + i */
};

/* A small key -> count table for the metadata tallies. */
#define XT_TALLY_SLOTS	64
struct xt_tally {
	__u32 key[XT_TALLY_SLOTS];
	__u64 count[XT_TALLY_SLOTS];
	__u32 used;
	__u64 other;		/* keys that found the table full */
};

/*
 * Sequence tracking of one flow. Numbers may come late (reordered): a window
 * of the last XT_SEQ_WINDOW numbers tells a late one from a duplicate.
 */
#define XT_SEQ_WINDOW	4096
struct xt_flow {
	bool used;
	__u32 flow;
	__u64 first, next;	/* first seen; one past the highest seen */
	__u64 valid, gaps, dups, late, stale, corrupt;
	__u64 seen[XT_SEQ_WINDOW / 64];	/* bit (seq % WINDOW): seq was seen */
};

#define XT_MAX_FLOWS	256
struct xt_verify {
	__u64 valid, corrupt, no_payload, untracked;
	__u64 gaps, dups, late, stale;	/* only in totals (xt_verify_sum) */
	struct xt_flow flows[XT_MAX_FLOWS];
	/* --meta */
	__u64 meta_frames, meta_none, meta_mixed;
	struct xt_tally by_rule, by_path, by_gen;
};

/* --latency: log-linear histogram of receive time - transmit stamp (hist.c). */
#define XT_HIST_SUB_BITS	4
#define XT_HIST_SUB		(1u << XT_HIST_SUB_BITS)
#define XT_HIST_BUCKETS		((64 - XT_HIST_SUB_BITS + 1) * XT_HIST_SUB)
struct xt_hist {
	__u64 samples;		/* stamped frames measured */
	__u64 unstamped;	/* sampled frames without a (sane) stamp */
	__u64 sum_ns, max_ns;
	__u64 b[XT_HIST_BUCKETS];
};

/* Counters the queue thread writes and the progress line reads. */
struct xt_counters {
	__u64 rx_packets, rx_bytes;
	__u64 tx_packets, tx_bytes;
	__u64 first_ns, last_ns;	/* first and last packet handled */
};

struct xt_queue {
	struct xt_ctx *ctx;
	__u32 queue_id;
	pthread_t thread;
	bool started;
	int err;			/* the thread's exit status */

	struct sluice_xsk sock;		/* umem, socket and rings (lib/xsk.h) */

	__u32 *free_frames;		/* txonly: frames not in the kernel */
	__u32 nr_free;
	__u32 tx_len;			/* txonly: frame length */
	__u32 *tx_lens;			/* l2fwd: length sent, by frame */
	__u64 outstanding;		/* sent, not yet completed */
	__u64 seq;			/* txonly: next sequence number */

	struct xt_counters cnt;
	struct xdp_statistics stats;
	struct xt_verify *verify;
	struct xt_hist *hist;		/* --latency */
	__u64 rx_ns;			/* --latency: when this burst was taken */
	__u32 lat_skip;			/* --latency: frames until the next sample */
};

struct xt_ctx {
	struct xt_opts opts;
	struct xt_queue queues[SLUICE_XSK_MAX_QUEUES];
	struct xsk_redirect_bpf *skel;	/* --attach */
	int link_fd;			/* --attach: the XDP bpf_link */
	int xskmap_fd;
	__u64 start_ns, stop_ns;
	int stop;			/* atomic: every loop ends */
	int running;			/* atomic: queue threads still looping */
	__u64 budget;			/* atomic: --count not yet taken by a queue */
	__u64 done;			/* atomic: --count handled */
};

/* opts.c */
int xt_opts_parse(struct xt_opts *o, int argc, char **argv);
const char *xt_mode_name(enum xt_mode mode);

/* sock.c */
int xt_sockets_open(struct xt_ctx *ctx);
void xt_sockets_close(struct xt_ctx *ctx);
int xt_queue_stats(struct xt_queue *q);

/* datapath.c */
void *xt_queue_run(void *arg);
__u64 xt_now_ns(void);

/* verify.c */
struct xt_verify *xt_verify_new(void);
void xt_verify_frame(struct xt_verify *v, const void *frame, __u32 len);
void xt_verify_meta(struct xt_verify *v, void *meta);
void xt_verify_sum(struct xt_verify *sum, const struct xt_verify *v);

/* hist.c */
void xt_hist_frame(struct xt_hist *h, const void *frame, __u32 len, __u64 rx_ns);
void xt_hist_add(struct xt_hist *sum, const struct xt_hist *h, const struct xt_hist *prev);
void xt_hist_copy(struct xt_hist *dst, const struct xt_hist *src);
__u64 xt_hist_pct(const struct xt_hist *h, double pct);

/* report.c */
void xt_report_progress(struct xt_ctx *ctx, __u64 now_ns);
int xt_report_interval_open(struct xt_ctx *ctx);
int xt_report_interval(struct xt_ctx *ctx, __u64 now_ns, bool last);
void xt_report_interval_close(void);
int xt_report_summary(struct xt_ctx *ctx);

static inline __u64 xt_load(const __u64 *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void xt_store(__u64 *p, __u64 v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

#endif
