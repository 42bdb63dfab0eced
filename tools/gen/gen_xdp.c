// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The XDP engine: BPF_PROG_TEST_RUN in live-frames mode. The kernel builds
 * frames from our template in a page pool and transmits what the program
 * returns XDP_TX for out of ctx.ingress_ifindex; one syscall sends `repeat`
 * frames, so we pace by choosing repeat per call.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "probe.h"
#include "gen.h"
#include "gen_xdp.skel.h"

/*
 * Frames per syscall at most. Each live-frames call has a fixed cost (it
 * sets up and tears down a page pool): 20-30 ms per call after the first
 * here, by strace -T. 2^18 frames (~60 ms at full rate) keep that small
 * and still give timely progress ticks.
 */
#define GEN_XDP_CHUNK		(1u << 18)
/*
 * Frames between flushes to the device. The kernel runs the receiving
 * veth's NAPI after each batch, so a batch below the veth ring size (256)
 * keeps the ring from overflowing while the receiver keeps up.
 */
#define GEN_XDP_BATCH		64

/*
 * Every live-frames test run goes through here, so SLUICE_DENY_FEATURES can
 * make it fail exactly where and how a kernel that refuses the flag does.
 */
static int gen_xdp_test_run(int prog_fd, struct bpf_test_run_opts *opts)
{
	if (probe__denied("xdp_live_frames"))
		return -EPERM;
	return bpf_prog_test_run_opts(prog_fd, opts) ? -errno : 0;
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

	return gen_xdp_test_run(prog_fd, &opts);
}

/*
 * Whether this kernel takes a live-frames test run, asked with a program
 * that drops its one frame: nothing leaves, so --engine auto can still pick
 * another engine having sent nothing.
 */
static int gen_xdp_probe(const struct gen_traffic *t, struct xdp_md *ctx)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = t->frame,
		.data_size_in = t->len,
		.ctx_in = ctx,
		.ctx_size_in = sizeof(*ctx),
		.repeat = 1,
		.flags = BPF_F_TEST_XDP_LIVE_FRAMES,
	);
	int fd, err;

	fd = probe__load_verdict(XDP_DROP);
	if (fd < 0)
		return fd;
	err = gen_xdp_test_run(fd, &opts);
	close(fd);
	return err;
}

struct gen_xdp {
	const struct gen_opts *o;
	const struct gen_traffic *t;
	struct gen_xdp_bpf *skel;
	struct xdp_md ctx;
};

static int gen_xdp_open(const struct gen_opts *o, const struct gen_traffic *t, void **priv,
			char *why, size_t len)
{
	struct gen_xdp *x;
	uint32_t f;
	int err;

	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	*priv = x;
	x->o = o;
	x->t = t;
	x->ctx.data_end = t->len;
	x->ctx.ingress_ifindex = if_nametoindex(o->ifname);
	if (!x->ctx.ingress_ifindex) {
		snprintf(why, len, "no interface %s", o->ifname);
		return -ENODEV;
	}
	err = gen_xdp_probe(t, &x->ctx);
	if (err) {
		snprintf(why, len, "the kernel refuses BPF_PROG_TEST_RUN with "
			 "BPF_F_TEST_XDP_LIVE_FRAMES: %s%s", strerror(-err),
			 probe__denied("xdp_live_frames") ?
			 " (SLUICE_DENY_FEATURES names xdp_live_frames)" : "");
		return err;
	}

	x->skel = gen_xdp_bpf__open();
	if (!x->skel) {
		err = -errno;
		snprintf(why, len, "opening the XDP program: %s", strerror(-err));
		return err;
	}
	x->skel->rodata->gen_layout = t->layout;
	x->skel->rodata->gen_nr_flows = t->nr_flows;
	err = bpf_map__set_max_entries(x->skel->maps.gen_flows, t->nr_flows);
	if (!err)
		err = gen_xdp_bpf__load(x->skel);
	if (err) {
		snprintf(why, len, "loading the XDP program: %s", strerror(-err));
		return err;
	}
	for (f = 0; f < t->nr_flows; f++) {
		err = bpf_map__update_elem(x->skel->maps.gen_flows, &f, sizeof(f), &t->flows[f],
					   sizeof(t->flows[f]), BPF_ANY);
		if (err) {
			snprintf(why, len, "filling flows: %s", strerror(-err));
			return err;
		}
	}
	return 0;
}

static void gen_xdp_close(void *priv)
{
	struct gen_xdp *x = priv;

	if (!x)
		return;
	gen_xdp_bpf__destroy(x->skel);
	free(x);
}

static int gen_xdp_run(void *priv, struct gen_stats *st)
{
	struct gen_xdp *x = priv;
	const struct gen_opts *o = x->o;
	const struct gen_traffic *t = x->t;
	uint64_t drop0 = 0, drop1 = 0, sent = 0, left, now, prev_ns = 0;
	struct gen_run run;
	sigset_t stop_sigs, old_sigs;
	int prog_fd, err = 0;
	uint32_t n;

	sigemptyset(&stop_sigs);
	sigaddset(&stop_sigs, SIGINT);
	sigaddset(&stop_sigs, SIGTERM);
	prog_fd = bpf_program__fd(x->skel->progs.gen_xdp);
	gen_netdev_tx_dropped(o->ifname, &drop0);

	gen_run_start(&run, o, t);
	while (!gen_run_tick(&run, sent)) {
		left = gen_run_left(&run, sent);
		n = GEN_XDP_CHUNK;
		if (o->rate) {
			/*
			 * Send all the schedule allows by now. A call's fixed
			 * cost sets the burst: rate x that cost frames, flushed
			 * to the device GEN_XDP_BATCH at a time.
			 */
			uint64_t due;

			now = gen_now_ns();
			due = gen_run_due(&run, now, sent);
			/*
			 * When --duration would end during the next call, that
			 * call sends what is due by the end: the run would
			 * otherwise stop up to a call's cost short of it.
			 */
			if (o->duration > 0 &&
			    now + run.lag_ns >= run.start_ns + (uint64_t)(o->duration * 1e9))
				due = gen_run_due_end(&run, sent);
			if (due <= sent) {
				gen_sleep_until(gen_run_due_ns(&run, sent));
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
		now = gen_now_ns();
		err = gen_xdp_send(prog_fd, t, &x->ctx, n);
		now = gen_now_ns() - now;
		sigprocmask(SIG_SETMASK, &old_sigs, NULL);
		/*
		 * A call's cost (see GEN_XDP_CHUNK) is lateness the next call
		 * must make up, or a paced run falls far below --rate: to 7%
		 * of it at 250 kpps here. The longer of the last two calls,
		 * as their cost varies (40-120 ms on a loaded machine); not
		 * a call the process was stopped in: that is lateness to
		 * forgive, not to burst out.
		 */
		if (gen_continued) {
			gen_continued = 0;
		} else {
			run.lag_ns = GEN_MAX_LAG_NS + (now > prev_ns ? now : prev_ns);
			prev_ns = now;
		}
		/*
		 * What the program stamped went out: a batch is flushed to
		 * the device before the kernel looks for signals between
		 * batches. A stop signal (SIGSTOP, which cannot be blocked)
		 * ends the call early with EINTR: the next call goes on.
		 */
		sent = x->skel->bss->gen_seq;
		if (err == -EINTR)
			continue;
		if (err) {
			fprintf(stderr, "sluice-gen: live-frames test run: %s\n", strerror(-err));
			break;
		}
	}
	st->seconds = (double)(gen_now_ns() - run.start_ns) / 1e9;
	st->sent = sent;
	/* XDP_TX into a veth whose ring is full is dropped and counted here. */
	if (!gen_netdev_tx_dropped(o->ifname, &drop1))
		st->errors = drop1 - drop0;
	if (o->count && sent > o->count && !err) {
		fprintf(stderr, "sluice-gen: program stamped %llu frames, --count is %llu\n",
			(unsigned long long)sent, (unsigned long long)o->count);
		err = -EPROTO;
	}
	return err;
}

const struct gen_engine gen_engine_xdp = {
	.name = "xdp",
	.what = "XDP live frames",
	.open = gen_xdp_open,
	.run = gen_xdp_run,
	.close = gen_xdp_close,
};
