// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The ratelimit stage: a source gets exactly `burst` packets, then its
 * over-rate verdict, while other sources (IPv4 and IPv6) keep their own
 * buckets; the bucket refills at rate_pps; over_action XDP_PASS marks and
 * goes on; the clock is read once a tick for a bucket that has tokens, and
 * always for one that has none. Refill assertions leave 100 ms of slack, so
 * a slow machine cannot make them flaky.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "harness.h"
#include "pkt.h"
#include "ratelimit.skel.h"

#define CONT	SLUICE_RET_MISSED
#define NSEC	1000000000ULL

static struct ratelimit_bpf *load(__u32 rate, __u32 burst, __u32 over)
{
	struct ratelimit_bpf *s = ratelimit_bpf__open();

	assert_non_null(s);
	s->rodata->rate_pps = rate;
	s->rodata->burst = burst;
	s->rodata->over_action = over;
	s->rodata->sluice_cfg.next = 1;	/* empty: going on returns CONT */
	assert_int_equal(ratelimit_bpf__load(s), 0);
	return s;
}

/* Runs one UDP packet from src through the stage, meta as parse writes it. */
static struct xdp_run send_from(struct ratelimit_bpf *s, const char *src)
{
	struct sluice_meta m;
	struct pkt_spec p;
	struct xdp_run r;
	uint8_t buf[128];
	int len;

	pkt_spec_default(&p);
	if (strchr(src, ':')) {
		p.family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, src, &p.src6), 1);
	} else {
		assert_int_equal(inet_pton(AF_INET, src, &p.src4), 1);
	}
	len = pkt_build(&p, buf, sizeof(buf));
	assert_true(len > 0);
	meta_init(&m, 0);
	m.flags = SLUICE_PKT_PARSED;
	m.l3_off = ETH_HLEN;
	m.l3_proto = p.family == AF_INET ? ETH_P_IP : ETH_P_IPV6;
	m.l4_proto = IPPROTO_UDP;
	assert_int_equal(xdp_run_meta(bpf_program__fd(s->progs.sluice_ratelimit), buf, len, &m, &r), 0);
	return r;
}

static __u64 stat(struct ratelimit_bpf *s, __u32 key)
{
	__u64 v[256] = {}, sum = 0;
	int i, ncpu = libbpf_num_possible_cpus();

	assert_true(ncpu > 0 && ncpu <= 256);
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(s->maps.sluice_rl_stats), &key, v), 0);
	for (i = 0; i < ncpu; i++)
		sum += v[i];
	return sum;
}

static void test_burst_then_drop(void **state)
{
	/* rate 0: no refill at all, so the count is exact whatever the timing. */
	struct ratelimit_bpf *s;
	struct sluice_rl_key k = { .family = 6 };
	struct sluice_rl_bucket b;
	struct xdp_run r;
	__u32 k4;
	int i;

	require_bpf();
	s = load(0, 5, XDP_DROP);
	for (i = 0; i < 5; i++) {
		r = send_from(s, "10.0.0.1");
		assert_int_equal(r.retval, CONT);
		assert_false(r.meta.flags & SLUICE_PKT_OVERLIMIT);
	}
	/* IPv4 sources are keyed by the address alone, in their own map. */
	inet_pton(AF_INET, "10.0.0.1", &k4);
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(s->maps.sluice_rl_buckets4), &k4, &b), 0);
	assert_int_equal(b.tokens, 0);
	r = send_from(s, "10.0.0.1");
	assert_int_equal(r.retval, XDP_DROP);
	assert_true(r.meta.flags & SLUICE_PKT_OVERLIMIT);
	/* Other sources have their own buckets. */
	r = send_from(s, "10.0.0.9");
	assert_int_equal(r.retval, CONT);
	r = send_from(s, "fd00::1");
	assert_int_equal(r.retval, CONT);
	inet_pton(AF_INET6, "fd00::1", k.addr);
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(s->maps.sluice_rl_buckets), &k, &b), 0);
	assert_int_equal(b.tokens, 4 * NSEC);
	assert_int_equal(stat(s, SLUICE_RL_STAT_WITHIN), 7);
	assert_int_equal(stat(s, SLUICE_RL_STAT_OVER), 1);
	ratelimit_bpf__destroy(s);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void test_refill(void **state)
{
	/* 10 pps: a token every 100 ms; burst 2. */
	struct ratelimit_bpf *s;
	struct xdp_run r;

	require_bpf();
	s = load(10, 2, XDP_DROP);
	assert_int_equal(send_from(s, "10.0.0.1").retval, CONT);
	assert_int_equal(send_from(s, "10.0.0.1").retval, CONT);
	/* Less than 100 ms after the first: empty. */
	r = send_from(s, "10.0.0.1");
	assert_int_equal(r.retval, XDP_DROP);
	/* 250 ms refill two tokens, no more: the bucket holds at most burst. */
	sleep_ms(250);
	assert_int_equal(send_from(s, "10.0.0.1").retval, CONT);
	assert_int_equal(send_from(s, "10.0.0.1").retval, CONT);
	assert_int_equal(send_from(s, "10.0.0.1").retval, XDP_DROP);
	ratelimit_bpf__destroy(s);
}

static void test_over_action_pass_marks(void **state)
{
	struct ratelimit_bpf *s;
	struct xdp_run r;

	require_bpf();
	s = load(0, 1, XDP_PASS);
	r = send_from(s, "10.0.0.1");
	assert_int_equal(r.retval, CONT);
	assert_false(r.meta.flags & SLUICE_PKT_OVERLIMIT);
	r = send_from(s, "10.0.0.1");
	assert_int_equal(r.retval, CONT);
	assert_true(r.meta.flags & SLUICE_PKT_OVERLIMIT);
	assert_int_equal(stat(s, SLUICE_RL_STAT_OVER), 1);
	ratelimit_bpf__destroy(s);
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/*
 * n back-to-back runs of one UDP packet from 10.0.0.1 in one test run, the
 * metadata as parse writes it in front; every run must go on.
 */
static void send_burst(struct ratelimit_bpf *s, int n)
{
	uint8_t in[256], out[512];
	struct sluice_meta *m = (struct sluice_meta *)in;
	struct pkt_spec p;
	struct xdp_md ctx = { .data = sizeof(*m) }, ctx_out = {};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_out = out,
		    .data_size_out = sizeof(out), .ctx_in = &ctx, .ctx_size_in = sizeof(ctx),
		    .ctx_out = &ctx_out, .ctx_size_out = sizeof(ctx_out), .repeat = n);
	int len;

	pkt_spec_default(&p);
	len = pkt_build(&p, in + sizeof(*m), sizeof(in) - sizeof(*m));
	assert_true(len > 0);
	meta_init(m, 0);
	m->flags = SLUICE_PKT_PARSED;
	m->l3_off = ETH_HLEN;
	m->l3_proto = ETH_P_IP;
	m->l4_proto = IPPROTO_UDP;
	ctx.data_end = sizeof(*m) + (uint32_t)len;
	opts.data_size_in = ctx.data_end;
	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(s->progs.sluice_ratelimit), &opts), 0);
	assert_int_equal(opts.retval, CONT);
}

static void test_clock_once_a_tick(void **state)
{
	/*
	 * A bucket that has tokens admits without the clock within the tick of
	 * its last refill: 10,000 packets in one test run read it once for the
	 * new bucket and once per tick after. HZ is at most 1000, so at most one
	 * tick a millisecond; the elapsed time bounds the ticks, however slow
	 * the machine.
	 */
	struct ratelimit_bpf *s;
	uint64_t t0, us, reads;

	require_bpf();
	s = load(1000000000, 1000000000, XDP_DROP);
	t0 = now_us();
	send_burst(s, 10000);
	us = now_us() - t0;
	reads = stat(s, SLUICE_RL_STAT_CLOCK);
	assert_int_equal(stat(s, SLUICE_RL_STAT_WITHIN), 10000);
	assert_true(reads >= 1);
	if (reads > 2 + us / 1000)
		fail_msg("%llu clock reads for 10000 packets in %llu us", (unsigned long long)reads,
			 (unsigned long long)us);
	ratelimit_bpf__destroy(s);
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void test_empty_bucket_reads_clock(void **state)
{
	/*
	 * 1,000,000 pps with a burst of 1: a token a microsecond, but the bucket
	 * holds one. A packet 200 us after the one that emptied it must pass
	 * even within the same tick: an empty bucket refills from the clock,
	 * not at the next tick. 20 pairs; most fall within one tick (>= 1 ms).
	 */
	struct ratelimit_bpf *s;
	char src[32];

	require_bpf();
	s = load(1000000, 1, XDP_DROP);
	for (int i = 0; i < 20; i++) {
		snprintf(src, sizeof(src), "10.0.1.%d", i + 1);
		assert_int_equal(send_from(s, src).retval, CONT);
		sleep_us(200);
		assert_int_equal(send_from(s, src).retval, CONT);
	}
	assert_int_equal(stat(s, SLUICE_RL_STAT_OVER), 0);
	ratelimit_bpf__destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_drop),
		cmocka_unit_test(test_refill),
		cmocka_unit_test(test_over_action_pass_marks),
		cmocka_unit_test(test_clock_once_a_tick),
		cmocka_unit_test(test_empty_bucket_reads_clock),
	};

	libbpf_set_print(NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
