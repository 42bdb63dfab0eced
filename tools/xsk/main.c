// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluice-xsk: AF_XDP measurement tool. One socket and one thread per queue;
 * the main thread only prints progress, watches the clock and reports.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <bpf/libbpf.h>
#include "xsk_tool.h"

/* How often the main thread looks for the end of the run. */
#define XT_TICK_NS	10000000ull
#define XT_PROGRESS_NS	1000000000ull

static struct xt_ctx ctx;

static void on_signal(int sig)
{
	__atomic_store_n(&ctx.stop, 1, __ATOMIC_RELAXED);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_DEBUG ? 0 : vfprintf(stderr, fmt, ap);
}

/* One line once every socket is bound and in its map: traffic may start. */
static void ready_print(const struct xt_ctx *ctx)
{
	const struct xt_opts *o = &ctx->opts;
	int i;

	fprintf(stderr, "sluice-xsk: %s on %s:", xt_mode_name(o->mode), o->ifname);
	for (i = 0; i < o->nr_queues; i++)
		fprintf(stderr, " queue %u %s,", ctx->queues[i].queue_id,
			ctx->queues[i].sock.zerocopy ? "zero-copy" : "copy");
	fprintf(stderr, " ready\n");
}

static int threads_start(struct xt_ctx *ctx)
{
	sigset_t block, old;
	int i, err = 0;

	/* Signals go to the main thread only: it is the one that sleeps. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	ctx->running = ctx->opts.nr_queues;
	for (i = 0; i < ctx->opts.nr_queues; i++) {
		struct xt_queue *q = &ctx->queues[i];

		err = -pthread_create(&q->thread, NULL, xt_queue_run, q);
		if (err) {
			fprintf(stderr, "sluice-xsk: thread for queue %u: %s\n",
				q->queue_id, strerror(-err));
			__atomic_sub_fetch(&ctx->running, ctx->opts.nr_queues - i, __ATOMIC_RELAXED);
			__atomic_store_n(&ctx->stop, 1, __ATOMIC_RELAXED);
			break;
		}
		q->started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}

static int threads_join(struct xt_ctx *ctx)
{
	int i, err = 0;

	__atomic_store_n(&ctx->stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < ctx->opts.nr_queues; i++) {
		struct xt_queue *q = &ctx->queues[i];

		if (!q->started)
			continue;
		pthread_join(q->thread, NULL);
		if (q->err && !err) {
			fprintf(stderr, "sluice-xsk: queue %u: %s\n", q->queue_id, strerror(-q->err));
			err = q->err;
		}
	}
	return err;
}

static void run_wait(struct xt_ctx *ctx)
{
	const struct xt_opts *o = &ctx->opts;
	__u64 deadline = o->duration > 0 ? ctx->start_ns + (__u64)(o->duration * 1e9) : 0;
	__u64 next_progress = ctx->start_ns + XT_PROGRESS_NS, now;
	__u64 next_interval = ctx->start_ns + o->interval_ns;
	struct timespec tick = { .tv_nsec = XT_TICK_NS };

	/* Intervals shorter than the tick: wake for each, they carry their own length. */
	if (o->interval_ns && o->interval_ns < XT_TICK_NS)
		tick.tv_nsec = (long)o->interval_ns;
	for (;;) {
		nanosleep(&tick, NULL);
		now = xt_now_ns();
		if (__atomic_load_n(&ctx->stop, __ATOMIC_RELAXED) ||
		    !__atomic_load_n(&ctx->running, __ATOMIC_ACQUIRE))
			break;
		if (deadline && now >= deadline)
			break;
		if (o->interval_ns && now >= next_interval) {
			xt_report_interval(ctx, now, false);
			while (next_interval <= now)
				next_interval += o->interval_ns;
		}
		if (!o->quiet && now >= next_progress) {
			xt_report_progress(ctx, now);
			next_progress += XT_PROGRESS_NS;
		}
	}
	ctx->stop_ns = now;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	int err, i;

	err = xt_opts_parse(&ctx.opts, argc, argv);
	if (err)
		return 2;
	libbpf_set_print(libbpf_print);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	err = xt_sockets_open(&ctx);
	if (!err && ctx.opts.interval_ns)
		err = xt_report_interval_open(&ctx);
	if (err)
		goto out;
	if (!ctx.opts.quiet)
		ready_print(&ctx);
	ctx.budget = ctx.opts.count;
	ctx.start_ns = xt_now_ns();
	err = threads_start(&ctx);
	if (!err)
		run_wait(&ctx);
	else
		ctx.stop_ns = xt_now_ns();
	err = threads_join(&ctx) ?: err;
	if (ctx.opts.interval_ns)
		xt_report_interval(&ctx, xt_now_ns(), true);

	for (i = 0; i < ctx.opts.nr_queues; i++) {
		int serr = xt_queue_stats(&ctx.queues[i]);

		if (serr)
			fprintf(stderr, "sluice-xsk: XDP_STATISTICS on queue %u: %s\n",
				ctx.queues[i].queue_id, strerror(-serr));
	}
	err = xt_report_summary(&ctx) ?: err;
out:
	xt_report_interval_close();
	xt_sockets_close(&ctx);
	return err ? 1 : 0;
}
