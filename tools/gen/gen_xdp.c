// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The XDP engine: BPF_PROG_TEST_RUN in live-frames mode. The kernel builds
 * frames from our template in a page pool and transmits what the program
 * returns XDP_TX for out of ctx.ingress_ifindex; one syscall sends `repeat`
 * frames, so we pace by choosing repeat per call.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <net/if.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "gen.h"
#include "gen_xdp.skel.h"

/*
 * Frames per syscall at most. Each live-frames call sets up and tears down
 * a page pool, which costs 1-2 ms here; 2^18 frames (~35 ms at full rate)
 * make that small and still give timely progress ticks.
 */
#define GEN_XDP_CHUNK		(1u << 18)
/*
 * Frames between flushes to the device. The kernel runs the receiving
 * veth's NAPI after each batch, so a batch below the veth ring size (256)
 * keeps the ring from overflowing while the receiver keeps up.
 */
#define GEN_XDP_BATCH		64

static void sleep_until(uint64_t t_ns)
{
	uint64_t now = gen_now_ns();
	struct timespec ts;

	if (t_ns <= now)
		return;
	ts.tv_sec = (time_t)((t_ns - now) / 1000000000ull);
	ts.tv_nsec = (long)((t_ns - now) % 1000000000ull);
	nanosleep(&ts, NULL);
}

static int gen_xdp_send(int prog_fd, const struct gen_traffic *t, struct xdp_md *ctx,
			uint32_t n)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = t->frame,
		.data_size_in = t->len,
		.ctx_in = ctx,
		.ctx_size_in = sizeof(*ctx),
		.repeat = (int)n,
		.batch_size = n < GEN_XDP_BATCH ? n : GEN_XDP_BATCH,
		.flags = BPF_F_TEST_XDP_LIVE_FRAMES,
	);

	return bpf_prog_test_run_opts(prog_fd, &opts) ? -errno : 0;
}

int gen_xdp_run(const struct gen_opts *o, const struct gen_traffic *t, struct gen_stats *st)
{
	struct xdp_md ctx = { .data_end = t->len };
	struct gen_xdp_bpf *skel;
	uint64_t drop0 = 0, drop1 = 0, sent = 0, left, now;
	struct gen_run run;
	sigset_t stop_sigs, old_sigs;
	uint32_t f, n;
	int prog_fd, err;

	sigemptyset(&stop_sigs);
	sigaddset(&stop_sigs, SIGINT);
	sigaddset(&stop_sigs, SIGTERM);
	ctx.ingress_ifindex = if_nametoindex(o->ifname);
	if (!ctx.ingress_ifindex) {
		fprintf(stderr, "sluice-gen: no interface %s\n", o->ifname);
		return -ENODEV;
	}

	skel = gen_xdp_bpf__open();
	if (!skel) {
		err = -errno;
		fprintf(stderr, "sluice-gen: opening the XDP engine: %s\n", strerror(-err));
		return err;
	}
	skel->rodata->gen_layout = t->layout;
	skel->rodata->gen_nr_flows = t->nr_flows;
	err = bpf_map__set_max_entries(skel->maps.gen_flows, t->nr_flows);
	if (!err)
		err = gen_xdp_bpf__load(skel);
	if (err) {
		fprintf(stderr, "sluice-gen: loading the XDP engine: %s\n", strerror(-err));
		goto out;
	}
	for (f = 0; f < t->nr_flows; f++) {
		err = bpf_map__update_elem(skel->maps.gen_flows, &f, sizeof(f), &t->flows[f],
					   sizeof(t->flows[f]), BPF_ANY);
		if (err) {
			fprintf(stderr, "sluice-gen: filling flows: %s\n", strerror(-err));
			goto out;
		}
	}
	prog_fd = bpf_program__fd(skel->progs.gen_xdp);
	gen_netdev_tx_dropped(o->ifname, &drop0);

	gen_run_start(&run, o, t);
	while (!gen_run_tick(&run, sent)) {
		left = gen_run_left(&run, sent);
		n = GEN_XDP_CHUNK;
		if (o->rate) {
			/*
			 * Send all the schedule allows by now. A call's fixed
			 * cost sets the burst: rate x 1-2 ms frames, flushed
			 * to the device GEN_XDP_BATCH at a time.
			 */
			uint64_t due;

			now = gen_now_ns();
			due = gen_run_due(&run, now, sent);
			if (due <= sent) {
				sleep_until(gen_run_due_ns(&run, sent));
				continue;
			}
			if (due - sent < n)
				n = (uint32_t)(due - sent);
		}
		if (n > left)
			n = (uint32_t)left;
		/*
		 * A signal inside the test run would abort it with EINTR and lose
		 * its frames from the count: let it land between runs instead,
		 * where gen_stop ends the loop with an exact summary.
		 */
		sigprocmask(SIG_BLOCK, &stop_sigs, &old_sigs);
		err = gen_xdp_send(prog_fd, t, &ctx, n);
		sigprocmask(SIG_SETMASK, &old_sigs, NULL);
		if (err) {
			fprintf(stderr, "sluice-gen: live-frames test run: %s\n", strerror(-err));
			break;
		}
		sent += n;
	}
	st->seconds = (double)(gen_now_ns() - run.start_ns) / 1e9;
	st->sent = skel->bss->gen_seq;
	/* XDP_TX into a veth whose ring is full is dropped and counted here. */
	if (!gen_netdev_tx_dropped(o->ifname, &drop1))
		st->errors = drop1 - drop0;
	if (st->sent != sent && !err) {
		fprintf(stderr, "sluice-gen: program stamped %llu frames, expected %llu\n",
			(unsigned long long)st->sent, (unsigned long long)sent);
		err = -EPROTO;
	}
out:
	gen_xdp_bpf__destroy(skel);
	return err;
}
