// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluice-gen: bounded test traffic for sluice, from inside a generator
 * namespace. Frames come from lib/pkt.c and carry a struct sluice_payload
 * (flow, seq, checksum) that sinks and stages check.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include "pkt.h"
#include "gen.h"

volatile sig_atomic_t gen_stop;

static void on_signal(int sig)
{
	gen_stop = 1;
}

uint64_t gen_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void gen_run_start(struct gen_run *run, const struct gen_opts *opts,
		   const struct gen_traffic *traffic)
{
	memset(run, 0, sizeof(*run));
	run->opts = opts;
	run->traffic = traffic;
	run->start_ns = run->last_ns = gen_now_ns();
	run->pace_ns = run->start_ns;
}

uint64_t gen_run_due(struct gen_run *run, uint64_t now_ns, uint64_t sent)
{
	double rate = (double)run->opts->rate;
	uint64_t lag = (uint64_t)(rate * GEN_MAX_LAG_NS / 1e9) + 1;
	uint64_t due = (uint64_t)((double)(now_ns - run->pace_ns) * rate / 1e9) + 1;

	if (due > sent + lag) {
		due = sent + lag;
		run->pace_ns = now_ns - (uint64_t)((double)due * 1e9 / rate);
	}
	return due;
}

uint64_t gen_run_due_ns(const struct gen_run *run, uint64_t sent)
{
	return run->pace_ns + (uint64_t)((double)sent * 1e9 / (double)run->opts->rate);
}

uint64_t gen_run_left(const struct gen_run *run, uint64_t sent)
{
	if (!run->opts->count)
		return UINT64_MAX;
	return sent < run->opts->count ? run->opts->count - sent : 0;
}

static double mbits(uint64_t pkts, unsigned int len, double secs)
{
	return secs > 0 ? (double)pkts * len * 8 / secs / 1e6 : 0;
}

bool gen_run_tick(struct gen_run *run, uint64_t sent)
{
	const struct gen_opts *o = run->opts;
	uint64_t now = gen_now_ns();

	if (!o->quiet && now - run->last_ns >= 1000000000ull) {
		double dt = (double)(now - run->last_ns) / 1e9;
		uint64_t d = sent - run->last_sent;

		fprintf(stderr, "sluice-gen: %6.1fs  sent %12" PRIu64 "  %8.3f Mpps  %9.1f Mbit/s\n",
			(double)(now - run->start_ns) / 1e9, sent, d / dt / 1e6,
			mbits(d, run->traffic->len, dt));
		run->last_ns = now;
		run->last_sent = sent;
	}
	if (gen_stop)
		return true;
	if (o->count && sent >= o->count)
		return true;
	return o->duration > 0 && (double)(now - run->start_ns) / 1e9 >= o->duration;
}

int gen_netdev_tx_dropped(const char *ifname, uint64_t *val)
{
	char path[128];
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/tx_dropped", ifname);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	ret = fscanf(f, "%" SCNu64, val) == 1 ? 0 : -EIO;
	fclose(f);
	return ret;
}

/* The one print path of a run: a human line, or one JSON object (-j). */
static void gen_report(const struct gen_opts *o, const struct gen_traffic *t,
		       const struct gen_stats *st)
{
	const char *engine = o->engine == GEN_ENGINE_DPDK ? "dpdk" : "xdp";
	double pps = st->seconds > 0 ? st->sent / st->seconds : 0;

	if (o->json)
		printf("{\"engine\":\"%s\",\"iface\":\"%s\",\"size\":%u,\"flows\":%u,"
		       "\"sent\":%" PRIu64 ",\"seconds\":%.6f,\"pps\":%.0f,\"mpps\":%.4f,"
		       "\"mbps\":%.1f,\"errors\":%" PRIu64 "}\n",
		       engine, o->ifname, t->len, t->nr_flows, st->sent, st->seconds, pps,
		       pps / 1e6, mbits(st->sent, t->len, st->seconds), st->errors);
	else
		printf("engine %s  iface %s  size %u  flows %u\n"
		       "sent %" PRIu64 " in %.3f s: %.4f Mpps, %.1f Mbit/s, errors %" PRIu64 "\n",
		       engine, o->ifname, t->len, t->nr_flows, st->sent, st->seconds,
		       pps / 1e6, mbits(st->sent, t->len, st->seconds), st->errors);
	fflush(stdout);
}

struct range {
	uint32_t lo, n;		/* host order, n values from lo */
};

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno || end == s || *end || *s == '-' ? -EINVAL : 0;
}

static int parse_ip_range(const char *arg, struct range *r)
{
	char buf[64], *dash;
	struct in_addr a, b;

	snprintf(buf, sizeof(buf), "%s", arg);
	dash = strchr(buf, '-');
	if (dash)
		*dash++ = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1 || (dash && inet_pton(AF_INET, dash, &b) != 1))
		return -EINVAL;
	r->lo = ntohl(a.s_addr);
	r->n = dash ? ntohl(b.s_addr) - r->lo + 1 : 1;
	return dash && ntohl(b.s_addr) < r->lo ? -EINVAL : 0;
}

static int parse_port_range(const char *arg, struct range *r)
{
	unsigned long lo, hi;
	char *end;

	lo = strtoul(arg, &end, 10);
	hi = lo;
	if (*end == '-')
		hi = strtoul(end + 1, &end, 10);
	if (end == arg || *end || lo > 65535 || hi > 65535 || hi < lo)
		return -EINVAL;
	r->lo = (uint32_t)lo;
	r->n = (uint32_t)(hi - lo + 1);
	return 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2],
		      &mac[3], &mac[4], &mac[5]) == 6 ? 0 : -EINVAL;
}

static int iface_mac(const char *ifname, uint8_t mac[6])
{
	char path[128], line[32];
	FILE *f;
	int ret = -ENOENT;

	snprintf(path, sizeof(path), "/sys/class/net/%s/address", ifname);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	if (fgets(line, sizeof(line), f))
		ret = parse_mac(line, mac);
	fclose(f);
	return ret;
}

struct flow_args {
	struct range src, dst, sport, dport;
	uint32_t nr_flows;	/* 0 = the largest range */
};

static uint32_t max_u32(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

/* Builds flow 0's frame and the per-flow fields every engine stamps. */
static int traffic_build(struct gen_traffic *t, struct pkt_spec *spec, const struct flow_args *fa)
{
	uint8_t buf[GEN_MAX_FRAME];
	uint32_t f;
	int len;

	t->nr_flows = fa->nr_flows;
	if (!t->nr_flows)
		t->nr_flows = max_u32(max_u32(fa->src.n, fa->dst.n), max_u32(fa->sport.n, fa->dport.n));
	if (t->nr_flows > GEN_MAX_FLOWS)
		t->nr_flows = GEN_MAX_FLOWS;
	t->flows = calloc(t->nr_flows, sizeof(*t->flows));
	if (!t->flows)
		return -ENOMEM;

	t->layout.l3_off = ETH_HLEN + 4 * spec->vlans;
	t->layout.l4_off = t->layout.l3_off + 20;
	t->layout.pl_off = t->layout.l4_off + (spec->proto == IPPROTO_TCP ? 20 : 8);
	t->layout.proto = spec->proto;

	for (f = 0; f < t->nr_flows; f++) {
		struct gen_flow *fl = &t->flows[f];
		const uint8_t *ip, *l4, *pl;

		spec->src4.s_addr = htonl(fa->src.lo + f % fa->src.n);
		spec->dst4.s_addr = htonl(fa->dst.lo + f % fa->dst.n);
		spec->sport = (uint16_t)(fa->sport.lo + f % fa->sport.n);
		spec->dport = (uint16_t)(fa->dport.lo + f % fa->dport.n);
		spec->flow = f;
		spec->seq = 0;
		len = pkt_build(spec, f ? buf : t->frame, GEN_MAX_FRAME);
		if (len < 0)
			return len;
		t->len = (unsigned int)len;
		ip = (f ? buf : t->frame) + t->layout.l3_off;
		l4 = (f ? buf : t->frame) + t->layout.l4_off;
		pl = (f ? buf : t->frame) + t->layout.pl_off;
		memcpy(&fl->ip_check, ip + 10, 2);
		memcpy(&fl->saddr, ip + 12, 4);
		memcpy(&fl->daddr, ip + 16, 4);
		memcpy(&fl->sport, l4, 2);
		memcpy(&fl->dport, l4 + 2, 2);
		if (spec->proto == IPPROTO_TCP)
			memcpy(&fl->l4_check, l4 + 16, 2);
		memcpy(&fl->flow, pl + 4, 4);
		memcpy(&fl->csum0, pl + 16, 4);
		fl->csum0 = ntohl(fl->csum0);
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sluice-gen -i IF (--count N | --duration S) [options]\n"
		"  -i, --iface IF          transmit out of IF (in this network namespace)\n"
		"  -e, --engine xdp|dpdk   XDP live frames (default) or a DPDK vdev on IF\n"
		"      --vdev-type T       DPDK vdev: af_xdp (default) or af_packet\n"
		"  -n, --count N           packets to send\n"
		"  -d, --duration S        seconds to send for\n"
		"  -r, --rate PPS          packets per second, 0 = as fast as possible\n"
		"  -s, --size BYTES        frame length without FCS (default 64, min fits headers)\n"
		"      --src A[-B]         IPv4 source (range cycled over flows)\n"
		"      --dst A[-B]         IPv4 destination\n"
		"      --sport P[-Q]       source port\n"
		"      --dport P[-Q]       destination port\n"
		"      --proto udp|tcp     L4 protocol (default udp)\n"
		"      --vlan ID           one 802.1Q tag\n"
		"      --flows N           flows to cycle (default: the largest range)\n"
		"      --src-mac MAC       default: IF's address\n"
		"      --dst-mac MAC       default 02:00:00:00:00:02\n"
		"  -q, --quiet             no progress line\n"
		"  -j, --json              summary as one JSON object\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "iface", required_argument, NULL, 'i' },
		{ "engine", required_argument, NULL, 'e' },
		{ "vdev-type", required_argument, NULL, 'V' },
		{ "count", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'd' },
		{ "rate", required_argument, NULL, 'r' },
		{ "size", required_argument, NULL, 's' },
		{ "src", required_argument, NULL, 'S' },
		{ "dst", required_argument, NULL, 'D' },
		{ "sport", required_argument, NULL, 'P' },
		{ "dport", required_argument, NULL, 'Q' },
		{ "proto", required_argument, NULL, 'p' },
		{ "vlan", required_argument, NULL, 'v' },
		{ "flows", required_argument, NULL, 'f' },
		{ "src-mac", required_argument, NULL, 'M' },
		{ "dst-mac", required_argument, NULL, 'm' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct gen_opts o = { .engine = GEN_ENGINE_XDP, .vdev_type = "af_xdp" };
	struct flow_args fa = {
		.src = { 0x0a000001, 1 }, .dst = { 0x0a000002, 1 },
		.sport = { 1000, 1 }, .dport = { 2000, 1 },
	};
	struct gen_traffic *t = NULL;
	struct gen_stats st = {};
	struct pkt_spec spec;
	bool have_src_mac = false;
	uint64_t v;
	int c, err;

	pkt_spec_default(&spec);
	spec.with_payload = true;
	while ((c = getopt_long(argc, argv, "i:e:n:d:r:s:qjh", longopts, NULL)) != -1) {
		err = 0;
		switch (c) {
		case 'i':
			o.ifname = optarg;
			break;
		case 'e':
			if (!strcmp(optarg, "xdp"))
				o.engine = GEN_ENGINE_XDP;
			else if (!strcmp(optarg, "dpdk"))
				o.engine = GEN_ENGINE_DPDK;
			else
				err = -EINVAL;
			break;
		case 'V':
			o.vdev_type = optarg;
			err = strcmp(optarg, "af_xdp") && strcmp(optarg, "af_packet") ? -EINVAL : 0;
			break;
		case 'n':
			err = parse_u64(optarg, &o.count);
			break;
		case 'd':
			o.duration = strtod(optarg, NULL);
			err = o.duration > 0 ? 0 : -EINVAL;
			break;
		case 'r':
			err = parse_u64(optarg, &o.rate);
			break;
		case 's':
			err = parse_u64(optarg, &v);
			if (!err && v > GEN_MAX_FRAME)
				err = -EINVAL;
			spec.frame_len = (size_t)v;
			break;
		case 'S':
			err = parse_ip_range(optarg, &fa.src);
			break;
		case 'D':
			err = parse_ip_range(optarg, &fa.dst);
			break;
		case 'P':
			err = parse_port_range(optarg, &fa.sport);
			break;
		case 'Q':
			err = parse_port_range(optarg, &fa.dport);
			break;
		case 'p':
			if (!strcmp(optarg, "udp"))
				spec.proto = IPPROTO_UDP;
			else if (!strcmp(optarg, "tcp"))
				spec.proto = IPPROTO_TCP;
			else
				err = -EINVAL;
			break;
		case 'v':
			err = parse_u64(optarg, &v);
			if (!err && (v < 1 || v > 4094))
				err = -EINVAL;
			spec.vlans = 1;
			spec.vlan_id[0] = (uint16_t)v;
			break;
		case 'f':
			err = parse_u64(optarg, &v);
			if (!err && (v < 1 || v > GEN_MAX_FLOWS))
				err = -EINVAL;
			fa.nr_flows = (uint32_t)v;
			break;
		case 'M':
			err = parse_mac(optarg, spec.src_mac);
			have_src_mac = true;
			break;
		case 'm':
			err = parse_mac(optarg, spec.dst_mac);
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'j':
			o.json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (err) {
			fprintf(stderr, "sluice-gen: bad value '%s' for -%c\n", optarg, c);
			return 2;
		}
	}
	if (!o.ifname || (!o.count && !o.duration) || optind != argc) {
		/* Bounded traffic only: a run always has an end. */
		usage(stderr);
		return 2;
	}
	if (!have_src_mac && iface_mac(o.ifname, spec.src_mac)) {
		fprintf(stderr, "sluice-gen: no interface %s in this namespace\n", o.ifname);
		return 1;
	}

	t = calloc(1, sizeof(*t));
	if (!t)
		return 1;
	err = traffic_build(t, &spec, &fa);
	if (err) {
		fprintf(stderr, "sluice-gen: building frames: %s\n", strerror(-err));
		goto out;
	}

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (o.engine == GEN_ENGINE_DPDK)
		err = gen_dpdk_run(&o, t, &st);
	else
		err = gen_xdp_run(&o, t, &st);
	if (!err)
		gen_report(&o, t, &st);
out:
	if (t)
		free(t->flows);
	free(t);
	return err ? 1 : 0;
}
