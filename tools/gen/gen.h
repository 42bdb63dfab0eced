/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * sluice-gen: one CLI, two transmit engines (DPDK vdev, XDP live frames)
 * that take the same options and report through the same print path.
 */
#ifndef SLUICE_GEN_H
#define SLUICE_GEN_H

#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include "gen_stamp.h"

#define GEN_MAX_FRAME	1518

enum gen_engine {
	GEN_ENGINE_XDP,
	GEN_ENGINE_DPDK,
};

struct gen_opts {
	enum gen_engine engine;
	const char *ifname;
	const char *vdev_type;	/* DPDK: "af_xdp" or "af_packet" */
	uint64_t count;		/* 0 = until duration */
	double duration;	/* seconds, 0 = until count */
	uint64_t rate;		/* packets per second, 0 = as fast as possible */
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
	uint64_t last_ns;
	uint64_t last_sent;
};

extern volatile sig_atomic_t gen_stop;

uint64_t gen_now_ns(void);
void gen_run_start(struct gen_run *run, const struct gen_opts *opts,
		   const struct gen_traffic *traffic);
bool gen_run_tick(struct gen_run *run, uint64_t sent);
/*
 * Frames --rate allows by now_ns to a sender that has sent `sent`. A sender
 * more than GEN_MAX_LAG_NS late (it was descheduled) moves the schedule on
 * instead of owing the backlog: catching up at full speed would put bursts
 * far above --rate on the wire, and a receiver would be judged by them.
 */
#define GEN_MAX_LAG_NS	2000000ull
uint64_t gen_run_due(struct gen_run *run, uint64_t now_ns, uint64_t sent);
/* When the schedule allows frame `sent`. */
uint64_t gen_run_due_ns(const struct gen_run *run, uint64_t sent);
/* Packets still allowed by --count, UINT64_MAX when unbounded. */
uint64_t gen_run_left(const struct gen_run *run, uint64_t sent);

/* tx_dropped of a netdev in this namespace, for engines the kernel counts. */
int gen_netdev_tx_dropped(const char *ifname, uint64_t *val);

int gen_xdp_run(const struct gen_opts *opts, const struct gen_traffic *t,
		struct gen_stats *st);
int gen_dpdk_run(const struct gen_opts *opts, const struct gen_traffic *t,
		 struct gen_stats *st);

#endif
