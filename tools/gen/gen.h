/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * sluice-gen: one CLI, several transmit engines (XDP live frames, AF_XDP,
 * AF_PACKET TX ring, DPDK vdev) that take the same options, stamp the same
 * bytes and report through the same print path.
 */
#ifndef SLUICE_GEN_H
#define SLUICE_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include "gen_stamp.h"

#define GEN_MAX_FRAME	1518
/* --queues: sockets of the xsk engine. */
#define GEN_MAX_QUEUES	8

struct gen_opts {
	const char *engine;	/* as typed: "auto", "xdp", "xsk", "packet", "dpdk" */
	const char *ifname;
	const char *vdev_type;	/* DPDK: "af_xdp" or "af_packet" */
	uint64_t count;		/* 0 = until duration */
	double duration;	/* seconds, 0 = until count */
	uint64_t rate;		/* packets per second, 0 = as fast as possible */
	uint32_t queues;	/* transmit queues, flow f on queue f % queues; 0 = 1 */
	bool stamp;		/* a struct sluice_stamp (transmit time) in each frame */
	bool quiet;
	bool json;
};

/* Everything an engine needs to put frames on the wire. */
struct gen_traffic {
	uint8_t frame[GEN_MAX_FRAME];	/* flow 0, seq 0 */
	unsigned int len;
	struct gen_layout layout;
	struct gen_flow *flows;
	uint32_t nr_flows;
};

struct gen_stats {
	uint64_t sent;
	uint64_t errors;
	double seconds;
};

/*
 * Progress, called by an engine's transmit loop with its running totals;
 * prints a line once a second unless quiet. Returns true when the run is
 * over (count or duration reached, or a signal came).
 */
struct gen_run {
	const struct gen_opts *opts;
	const struct gen_traffic *traffic;
	uint64_t start_ns;
	uint64_t pace_ns;	/* --rate schedule's origin: start_ns, moved by gen_run_due() */
	uint64_t lag_ns;	/* lateness gen_run_due() still makes up, GEN_MAX_LAG_NS or more */
	uint64_t last_ns;
	uint64_t last_sent;
};

extern volatile sig_atomic_t gen_stop;
/* Set by SIGCONT: the process was stopped (SIGSTOP, SIGTSTP) since it was cleared. */
extern volatile sig_atomic_t gen_continued;

uint64_t gen_now_ns(void);
void gen_run_start(struct gen_run *run, const struct gen_opts *opts,
		   const struct gen_traffic *traffic);
bool gen_run_tick(struct gen_run *run, uint64_t sent);
/*
 * Frames --rate allows by now_ns to a sender that has sent `sent`. A sender
 * more than GEN_MAX_LAG_NS late (it was descheduled) moves the schedule on
 * instead of owing the backlog: catching up at full speed would put bursts
 * far above --rate on the wire, and a receiver would be judged by them. An
 * engine whose every send call has a fixed cost raises run->lag_ns by it,
 * or that cost alone would hold it below --rate.
 */
#define GEN_MAX_LAG_NS	2000000ull
uint64_t gen_run_due(struct gen_run *run, uint64_t now_ns, uint64_t sent);
/* What the schedule allows by the end of --duration (at least `sent`). */
uint64_t gen_run_due_end(const struct gen_run *run, uint64_t sent);
/* When the schedule allows frame `sent`. */
uint64_t gen_run_due_ns(const struct gen_run *run, uint64_t sent);
/* Packets still allowed by --count, UINT64_MAX when unbounded. */
uint64_t gen_run_left(const struct gen_run *run, uint64_t sent);

/* tx_dropped of a netdev in this namespace, for engines the kernel counts. */
int gen_netdev_tx_dropped(const char *ifname, uint64_t *val);
/* Sleeps until t_ns (CLOCK_MONOTONIC), or not at all when it has passed. */
void gen_sleep_until(uint64_t t_ns);

/*
 * A transmit engine. open() sets up everything that can fail before a frame
 * leaves (so --engine auto can move on to the next engine having sent
 * nothing) and, on failure, says why in `why`; run() sends until the run is
 * over; close() releases what open() took, after run() or instead of it.
 * Where SLUICE_DENY_FEATURES (tests only, probe__denied()) names a feature
 * an engine needs, it fails as on a kernel that refuses it: "xdp_live_frames"
 * makes every live-frames test run fail with EPERM, "af_xdp" every AF_XDP
 * socket with EAFNOSUPPORT.
 */
struct gen_engine {
	const char *name;
	const char *what;		/* for humans: "XDP live frames" */
	bool multi_queue;		/* can spread flows over --queues */
	int (*open)(const struct gen_opts *o, const struct gen_traffic *t, void **priv,
		    char *why, size_t len);
	int (*run)(void *priv, struct gen_stats *st);
	void (*close)(void *priv);
};

extern const struct gen_engine gen_engine_xdp;
extern const struct gen_engine gen_engine_xsk;
extern const struct gen_engine gen_engine_packet;
extern const struct gen_engine gen_engine_dpdk;

#endif
