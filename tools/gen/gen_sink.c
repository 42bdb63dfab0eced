// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluice-gen-sink: attaches gen_sink.bpf.c to an interface of this network
 * namespace, waits for an expected number of generated frames and judges
 * them: every seq 0..N-1 seen exactly once, every payload checksum valid in
 * BPF, sampled frames valid again in user space with pkt_check(). Exits 0
 * only when all of that holds. Test tool: it drops all it receives.
 *
 *   sluice-gen-sink -i IF --expect N [--timeout S] [--sample-every K]
 *                   [--ready FILE] [-j]
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "pkt.h"
#include "gen_sink.h"
#include "gen_sink.skel.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

struct sample_check {
	uint64_t checked;
	uint64_t bad;
};

/*
 * The header checksums a generator rewrites per flow and per packet: IPv4
 * always, TCP over the pseudo-header. pkt_check() covers the UDP payload.
 */
static int headers_check(const uint8_t *p, size_t len, bool *tcp)
{
	size_t off = 14, ihl, l4_len;
	uint16_t proto = (uint16_t)(p[12] << 8 | p[13]);
	uint32_t sum;
	int i;

	for (i = 0; i < 2 && (proto == 0x8100 || proto == 0x88a8); i++) {
		if (len < off + 4)
			return -EBADMSG;
		proto = (uint16_t)(p[off + 2] << 8 | p[off + 3]);
		off += 4;
	}
	if (proto != 0x0800 || len < off + 20)
		return -EBADMSG;
	ihl = (p[off] & 0xf) * 4u;
	if (ihl < 20 || len < off + ihl || pkt_csum_fold(pkt_csum_add(0, p + off, ihl)))
		return -EBADMSG;
	*tcp = p[off + 9] == IPPROTO_TCP;
	if (!*tcp)
		return 0;
	l4_len = (size_t)(p[off + 2] << 8 | p[off + 3]) - ihl;
	if (len < off + ihl + l4_len)
		return -EBADMSG;
	sum = pkt_csum_add(0, p + off + 12, 8) + IPPROTO_TCP + (uint32_t)l4_len;
	sum = pkt_csum_add(sum, p + off + ihl, l4_len);
	return pkt_csum_fold(sum) ? -EBADMSG : 0;
}

static int on_sample(void *ctx, void *data, size_t size)
{
	struct sample_check *sc = ctx;
	const struct gen_sink_sample *s = data;
	uint64_t seq;
	uint32_t flow;
	bool tcp;

	if (size < sizeof(*s))
		return 0;
	sc->checked++;
	/* A sample shorter than its frame cannot be hashed: count it bad. */
	if (!s->cap || s->cap < s->len || s->cap < 14 || headers_check(s->data, s->cap, &tcp))
		sc->bad++;
	else if (!tcp && pkt_check(s->data, s->cap, &seq, &flow))
		sc->bad++;
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int stats_read(struct gen_sink_bpf *skel, int ncpu, struct gen_sink_stats *sum)
{
	struct gen_sink_stats *v;
	uint32_t zero = 0;
	int i, err;

	v = calloc(ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	err = bpf_map__lookup_elem(skel->maps.sink_stats, &zero, sizeof(zero), v,
				   sizeof(*v) * ncpu, 0);
	memset(sum, 0, sizeof(*sum));
	for (i = 0; !err && i < ncpu; i++) {
		sum->packets += v[i].packets;
		sum->bytes += v[i].bytes;
		sum->foreign += v[i].foreign;
		sum->bad_csum += v[i].bad_csum;
		sum->dups += v[i].dups;
		sum->reorder += v[i].reorder;
		sum->beyond += v[i].beyond;
		sum->sampled += v[i].sampled;
	}
	free(v);
	return err;
}

/*
 * Seqs 0..expect-1 seen (on any CPU) and seqs seen on two CPUs, which the
 * per-CPU duplicate counter cannot tell.
 */
static int seen_count(struct gen_sink_bpf *skel, int ncpu, uint64_t expect,
		      uint64_t *seen, uint64_t *cross_dups)
{
	uint32_t words = bpf_map__max_entries(skel->maps.sink_seen), w;
	uint64_t *v;
	int i, err = 0;

	v = calloc(ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	*seen = *cross_dups = 0;
	for (w = 0; w < words && !err; w++) {
		uint64_t any = 0, mask = ~0ull;
		int total = 0;

		err = bpf_map__lookup_elem(skel->maps.sink_seen, &w, sizeof(w), v,
					   sizeof(*v) * ncpu, 0);
		if ((uint64_t)w * 64 + 64 > expect)
			mask = (uint64_t)w * 64 >= expect ? 0 : (1ull << (expect - (uint64_t)w * 64)) - 1;
		for (i = 0; i < ncpu; i++) {
			total += __builtin_popcountll(v[i]);
			any |= v[i];
		}
		*cross_dups += total - __builtin_popcountll(any);
		*seen += __builtin_popcountll(any & mask);
	}
	free(v);
	return err;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "iface", required_argument, NULL, 'i' },
		{ "expect", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ "sample-every", required_argument, NULL, 'k' },
		{ "ready", required_argument, NULL, 'r' },
		{ "no-body-check", no_argument, NULL, 'B' },
		{ "json", no_argument, NULL, 'j' },
		{},
	};
	const char *ifname = NULL, *ready = NULL;
	uint64_t expect = 0, sample_every = 0, seen = 0, cross = 0, deadline, settle = 0;
	double timeout = 10;
	struct sample_check sc = {};
	struct gen_sink_stats st = {};
	struct gen_sink_bpf *skel;
	struct ring_buffer *rb = NULL;
	struct bpf_link *link = NULL;
	bool json = false, body = true, ok;
	int ifindex, ncpu, c, err;

	while ((c = getopt_long(argc, argv, "i:n:t:k:r:j", longopts, NULL)) != -1) {
		switch (c) {
		case 'i': ifname = optarg; break;
		case 'n': expect = strtoull(optarg, NULL, 0); break;
		case 't': timeout = strtod(optarg, NULL); break;
		case 'k': sample_every = strtoull(optarg, NULL, 0); break;
		case 'r': ready = optarg; break;
		case 'B': body = false; break;
		case 'j': json = true; break;
		default:
			fprintf(stderr, "usage: sluice-gen-sink -i IF --expect N [--timeout S] "
				"[--sample-every K] [--ready FILE] [--no-body-check] [-j]\n");
			return 2;
		}
	}
	ifindex = ifname ? (int)if_nametoindex(ifname) : 0;
	if (!ifindex || !expect) {
		fprintf(stderr, "sluice-gen-sink: need -i IF (in this namespace) and --expect N\n");
		return 2;
	}
	ncpu = libbpf_num_possible_cpus();
	if (ncpu < 0)
		return 1;

	skel = gen_sink_bpf__open();
	if (!skel) {
		fprintf(stderr, "sluice-gen-sink: open: %s\n", strerror(errno));
		return 1;
	}
	skel->rodata->sample_every = sample_every;
	skel->rodata->check_body = body;
	/* Room for every expected seq, and a margin to see strays past it. */
	err = bpf_map__set_max_entries(skel->maps.sink_seen, (uint32_t)(expect / 64 + 2));
	if (!err)
		err = gen_sink_bpf__load(skel);
	if (err) {
		fprintf(stderr, "sluice-gen-sink: load: %s\n", strerror(-err));
		goto out;
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.sink_samples), on_sample, &sc, NULL);
	link = bpf_program__attach_xdp(skel->progs.gen_sink, ifindex);
	if (!rb || !link) {
		err = -errno;
		fprintf(stderr, "sluice-gen-sink: attach to %s: %s\n", ifname, strerror(-err));
		goto out;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (ready) {
		FILE *f = fopen(ready, "w");

		if (f) {
			fprintf(f, "%d\n", (int)getpid());
			fclose(f);
		}
	}

	/*
	 * Wait for the expected count, then a little longer so that duplicates
	 * or strays arriving after it are counted too.
	 */
	deadline = now_ms() + (uint64_t)(timeout * 1000);
	while (!stop && now_ms() < deadline) {
		ring_buffer__poll(rb, 50);
		if (stats_read(skel, ncpu, &st))
			break;
		if (st.packets - st.foreign >= expect) {
			if (!settle)
				settle = now_ms() + 200;
			else if (now_ms() >= settle)
				break;
		}
	}
	ring_buffer__consume(rb);
	err = stats_read(skel, ncpu, &st);
	if (!err)
		err = seen_count(skel, ncpu, expect, &seen, &cross);
	if (err) {
		fprintf(stderr, "sluice-gen-sink: reading maps: %s\n", strerror(-err));
		goto out;
	}

	ok = st.packets - st.foreign == expect && seen == expect && !st.dups && !cross &&
	     !st.bad_csum && !st.beyond && !sc.bad && (!sample_every || sc.checked);
	{
		/* __u64 is unsigned long long: print through one local table. */
		const unsigned long long v[] = {
			st.packets, st.bytes, st.foreign, expect, seen, expect - seen,
			st.dups + cross, st.reorder, st.beyond, st.bad_csum, sc.checked, sc.bad,
		};

		if (json)
			printf("{\"packets\":%llu,\"bytes\":%llu,\"foreign\":%llu,\"expect\":%llu,"
			       "\"seen\":%llu,\"missing\":%llu,\"dups\":%llu,\"reorder\":%llu,"
			       "\"beyond\":%llu,\"bad_csum\":%llu,\"samples\":%llu,"
			       "\"samples_bad\":%llu,\"ok\":%s}\n",
			       v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10],
			       v[11], ok ? "true" : "false");
		else
			printf("packets %llu (%llu bytes, foreign %llu) expect %llu: seen %llu, "
			       "missing %llu, dups %llu, reorder %llu, beyond %llu, bad csum %llu, "
			       "samples %llu (bad %llu): %s\n",
			       v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10],
			       v[11], ok ? "OK" : "FAIL");
	}
	fflush(stdout);
	err = ok ? 0 : -EBADMSG;
out:
	bpf_link__destroy(link);
	ring_buffer__free(rb);
	gen_sink_bpf__destroy(skel);
	return err ? 1 : 0;
}
