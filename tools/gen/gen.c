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
#include <json-c/json.h>
#include "pkt.h"
#include "gen.h"

volatile sig_atomic_t gen_stop;
volatile sig_atomic_t gen_continued;

static void on_signal(int sig)
{
	gen_stop = 1;
}

static void on_continue(int sig)
{
	gen_continued = 1;
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
	run->lag_ns = GEN_MAX_LAG_NS;
}

uint64_t gen_run_due(struct gen_run *run, uint64_t now_ns, uint64_t sent)
{
	double rate = (double)run->opts->rate;
	uint64_t lag = (uint64_t)(rate * (double)run->lag_ns / 1e9) + 1;
	uint64_t due = (uint64_t)((double)(now_ns - run->pace_ns) * rate / 1e9) + 1;

	if (due > sent + lag) {
		due = sent + lag;
		run->pace_ns = now_ns - (uint64_t)((double)due * 1e9 / rate);
	}
	return due;
}

uint64_t gen_run_due_end(const struct gen_run *run, uint64_t sent)
{
	uint64_t end = run->start_ns + (uint64_t)(run->opts->duration * 1e9);
	uint64_t due;

	if (end <= run->pace_ns)
		return sent;
	due = (uint64_t)((double)(end - run->pace_ns) * (double)run->opts->rate / 1e9) + 1;
	return due > sent ? due : sent;
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

void gen_sleep_until(uint64_t t_ns)
{
	uint64_t now = gen_now_ns();
	struct timespec ts;

	if (t_ns <= now)
		return;
	ts.tv_sec = (time_t)((t_ns - now) / 1000000000ull);
	ts.tv_nsec = (long)((t_ns - now) % 1000000000ull);
	nanosleep(&ts, NULL);
}

/* How the engine was chosen: what the user asked for, and why not the first choice. */
struct gen_choice {
	const struct gen_engine *engine;
	const char *requested;		/* "auto" or an engine's name */
	char fallback[320];		/* why auto did not take a faster engine, or "" */
};

static void json_add_num(struct json_object *o, const char *key, double v, const char *fmt)
{
	char buf[64];

	snprintf(buf, sizeof(buf), fmt, v);
	json_object_object_add(o, key, json_object_new_double_s(v, buf));
}

/* The one print path of a run: a human line, or one JSON object (-j). */
static void gen_report(const struct gen_opts *o, const struct gen_traffic *t,
		       const struct gen_choice *ch, const struct gen_stats *st)
{
	const char *engine = ch->engine->name;
	double pps = st->seconds > 0 ? st->sent / st->seconds : 0;
	struct json_object *j;

	if (!o->json) {
		printf("engine %s  iface %s  size %u  flows %u\n"
		       "sent %" PRIu64 " in %.3f s: %.4f Mpps, %.1f Mbit/s, errors %" PRIu64 "\n",
		       engine, o->ifname, t->len, t->nr_flows, st->sent, st->seconds,
		       pps / 1e6, mbits(st->sent, t->len, st->seconds), st->errors);
		fflush(stdout);
		return;
	}
	j = json_object_new_object();
	if (!j)
		return;
	json_object_object_add(j, "engine", json_object_new_string(engine));
	json_object_object_add(j, "requested", json_object_new_string(ch->requested));
	json_object_object_add(j, "fallback",
			       ch->fallback[0] ? json_object_new_string(ch->fallback) : NULL);
	json_object_object_add(j, "iface", json_object_new_string(o->ifname));
	json_object_object_add(j, "size", json_object_new_int64(t->len));
	json_object_object_add(j, "flows", json_object_new_int64(t->nr_flows));
	json_object_object_add(j, "queues", json_object_new_int64(o->queues ? o->queues : 1));
	json_object_object_add(j, "stamp", json_object_new_boolean(o->stamp));
	json_object_object_add(j, "sent", json_object_new_uint64(st->sent));
	json_add_num(j, "seconds", st->seconds, "%.6f");
	json_add_num(j, "pps", pps, "%.0f");
	json_add_num(j, "mpps", pps / 1e6, "%.4f");
	json_add_num(j, "mbps", mbits(st->sent, t->len, st->seconds), "%.1f");
	json_object_object_add(j, "errors", json_object_new_uint64(st->errors));
	printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(j);
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
		/* pkt_build() puts the stamp in the last bytes. */
		if (spec->with_stamp)
			t->layout.st_off = (uint16_t)(len - sizeof(struct sluice_stamp));
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

/*
 * --engine auto tries these in order and takes the first that opens: the
 * fastest first, by bench/gen.sh's figures (docs/generator.md). DPDK is not
 * among them: its af_xdp vdev goes through the same kernel path as the xsk
 * engine and is not faster, and its EAL costs a second to start.
 */
static const struct gen_engine *const gen_auto_order[] = {
	&gen_engine_xdp,
	&gen_engine_xsk,
	&gen_engine_packet,
};

static const struct gen_engine *const gen_engines[] = {
	&gen_engine_xdp,
	&gen_engine_xsk,
	&gen_engine_packet,
	&gen_engine_dpdk,
};

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static const struct gen_engine *engine_by_name(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(gen_engines); i++)
		if (!strcmp(gen_engines[i]->name, name))
			return gen_engines[i];
	return NULL;
}

/*
 * --queues is for an engine that picks the transmit queue of each frame.
 * The XDP engine cannot: a veth puts an XDP_TX frame on its peer's receive
 * queue of the CPU that sends it (veth_select_rxq()).
 */
static int engine_open_one(const struct gen_engine *e, const struct gen_opts *o,
			   const struct gen_traffic *t, void **priv, char *why, size_t len)
{
	if (o->queues > 1 && !e->multi_queue) {
		snprintf(why, len, "--queues %u: it cannot choose a frame's queue (the xsk engine can)",
			 o->queues);
		return -ENOTSUP;
	}
	return e->open(o, t, priv, why, len);
}

/*
 * Opens the engine asked for, or with "auto" the first of gen_auto_order
 * that opens, saying on stderr which and, when a faster one could not,
 * why. Errors are printed here, naming the option.
 */
static int engine_open(const struct gen_opts *o, const struct gen_traffic *t,
		       struct gen_choice *ch, void **priv)
{
	char why[256] = "";
	size_t i;
	int err;

	ch->requested = o->engine;
	ch->fallback[0] = '\0';
	if (strcmp(o->engine, "auto")) {
		ch->engine = engine_by_name(o->engine);
		*priv = NULL;
		err = engine_open_one(ch->engine, o, t, priv, why, sizeof(why));
		if (err) {
			fprintf(stderr, "sluice-gen: --engine %s (%s) cannot run here: %s%s\n",
				ch->engine->name, ch->engine->what, why,
				ch->engine == &gen_engine_dpdk ? "" : "; --engine auto picks one that can");
			ch->engine->close(*priv);
			*priv = NULL;
		}
		return err;
	}
	for (i = 0; i < ARRAY_SIZE(gen_auto_order); i++) {
		const struct gen_engine *e = gen_auto_order[i];

		*priv = NULL;
		why[0] = '\0';
		err = engine_open_one(e, o, t, priv, why, sizeof(why));
		if (!err) {
			ch->engine = e;
			if (ch->fallback[0])
				fprintf(stderr, "sluice-gen: --engine auto: %s (%s), not %s\n",
					e->name, e->what, ch->fallback);
			else if (!o->quiet)
				fprintf(stderr, "sluice-gen: --engine auto: %s (%s)\n", e->name, e->what);
			return 0;
		}
		e->close(*priv);
		*priv = NULL;
		/* The reason auto reports is the first, fastest engine's. */
		if (!ch->fallback[0])
			snprintf(ch->fallback, sizeof(ch->fallback), "%s: %s", e->name, why);
		else
			fprintf(stderr, "sluice-gen: --engine auto: %s cannot run here either: %s\n",
				e->name, why);
	}
	fprintf(stderr, "sluice-gen: --engine auto: no engine can run here (%s)\n", ch->fallback);
	return -ENOTSUP;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sluice-gen --iface IF (--count N | --duration S) [OPTIONS]\n"
		"Sends bounded test traffic whose every frame carries a sequence number and a\n"
		"checksum (struct sluice_payload) out of IF, in this network namespace.\n"
		"\n"
		"  -i, --iface IF          transmit out of IF\n"
		"  -e, --engine NAME       auto (default): the fastest that works here, said on\n"
		"                          stderr; xdp: XDP live frames; xsk: AF_XDP TX ring;\n"
		"                          packet: AF_PACKET TX ring; dpdk: a DPDK vdev on IF\n"
		"      --vdev-type T       dpdk engine's vdev: af_xdp (default) or af_packet\n"
		"  -n, --count N           packets to send\n"
		"  -d, --duration S        seconds to send for\n"
		"  -r, --rate PPS          packets per second, 0 = as fast as possible\n"
		"  -s, --size BYTES        frame length without FCS; a smaller one is raised to\n"
		"                          the headers and payload (66 for UDP, the default;\n"
		"                          82 with --stamp)\n"
		"      --src A[-B]         IPv4 source (a range is cycled over flows)\n"
		"      --dst A[-B]         IPv4 destination\n"
		"      --sport P[-Q]       source port\n"
		"      --dport P[-Q]       destination port\n"
		"      --proto udp|tcp     L4 protocol (default udp)\n"
		"      --vlan ID           one 802.1Q tag\n"
		"      --flows N           flows to cycle (default: the largest range)\n"
		"      --queues N          spread flows over transmit queues 0..N-1, flow f on\n"
		"                          queue f %% N (xsk engine; a veth delivers to the same\n"
		"                          queue of its peer)\n"
		"      --stamp             write the transmit time (CLOCK_MONOTONIC ns, struct\n"
		"                          sluice_stamp) into the last 16 bytes of each frame\n"
		"      --src-mac MAC       default: IF's address\n"
		"      --dst-mac MAC       default 02:00:00:00:00:02\n"
		"  -q, --quiet             no progress line\n"
		"  -j, --json              the summary as one JSON object on stdout\n"
		"  -h, --help              this help\n"
		"  -V, --version           the version\n"
		"See sluice-gen(1).\n");
}

/* Options without a short form; above any character. */
enum {
	OPT_VDEV_TYPE = 256,
	OPT_SRC,
	OPT_DST,
	OPT_SPORT,
	OPT_DPORT,
	OPT_PROTO,
	OPT_VLAN,
	OPT_FLOWS,
	OPT_SRC_MAC,
	OPT_DST_MAC,
	OPT_QUEUES,
	OPT_STAMP,
};

static const struct option longopts[] = {
	{ "iface", required_argument, NULL, 'i' },
	{ "engine", required_argument, NULL, 'e' },
	{ "vdev-type", required_argument, NULL, OPT_VDEV_TYPE },
	{ "count", required_argument, NULL, 'n' },
	{ "duration", required_argument, NULL, 'd' },
	{ "rate", required_argument, NULL, 'r' },
	{ "size", required_argument, NULL, 's' },
	{ "src", required_argument, NULL, OPT_SRC },
	{ "dst", required_argument, NULL, OPT_DST },
	{ "sport", required_argument, NULL, OPT_SPORT },
	{ "dport", required_argument, NULL, OPT_DPORT },
	{ "proto", required_argument, NULL, OPT_PROTO },
	{ "vlan", required_argument, NULL, OPT_VLAN },
	{ "flows", required_argument, NULL, OPT_FLOWS },
	{ "src-mac", required_argument, NULL, OPT_SRC_MAC },
	{ "dst-mac", required_argument, NULL, OPT_DST_MAC },
	{ "queues", required_argument, NULL, OPT_QUEUES },
	{ "stamp", no_argument, NULL, OPT_STAMP },
	{ "quiet", no_argument, NULL, 'q' },
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{},
};

/*
 * The option as the user typed it: "--count" for the long form, "-n" for
 * the short one (with its long name, so the man page is easy to find).
 */
static const char *opt_typed(int c, int longindex, char *buf, size_t len)
{
	size_t i;

	if (longindex >= 0) {
		snprintf(buf, len, "--%s", longopts[longindex].name);
		return buf;
	}
	for (i = 0; longopts[i].name; i++)
		if (longopts[i].val == c)
			break;
	snprintf(buf, len, "-%c (--%s)", c, longopts[i].name ? longopts[i].name : "?");
	return buf;
}

int main(int argc, char **argv)
{
	struct gen_opts o = { .engine = "auto", .vdev_type = "af_xdp" };
	struct flow_args fa = {
		.src = { 0x0a000001, 1 }, .dst = { 0x0a000002, 1 },
		.sport = { 1000, 1 }, .dport = { 2000, 1 },
	};
	struct gen_choice choice = {};
	struct gen_traffic *t = NULL;
	struct gen_stats st = {};
	struct pkt_spec spec;
	bool have_src_mac = false;
	const char *expect;
	void *priv = NULL;
	char name[48];
	int c, err, li;
	uint64_t v;

	pkt_spec_default(&spec);
	spec.with_payload = true;
	for (;;) {
		li = -1;
		c = getopt_long(argc, argv, "i:e:n:d:r:s:qjhV", longopts, &li);
		if (c == -1)
			break;
		err = 0;
		expect = NULL;
		switch (c) {
		case 'i':
			o.ifname = optarg;
			err = *optarg ? 0 : -EINVAL;
			expect = "an interface name";
			break;
		case 'e':
			o.engine = optarg;
			err = strcmp(optarg, "auto") && !engine_by_name(optarg) ? -EINVAL : 0;
			expect = "auto, xdp, xsk, packet or dpdk";
			break;
		case OPT_VDEV_TYPE:
			o.vdev_type = optarg;
			err = strcmp(optarg, "af_xdp") && strcmp(optarg, "af_packet") ? -EINVAL : 0;
			expect = "af_xdp or af_packet";
			break;
		case 'n':
			err = parse_u64(optarg, &o.count);
			if (!err && !o.count)
				err = -EINVAL;
			expect = "a number of packets, at least 1";
			break;
		case 'd': {
			char *end;

			o.duration = strtod(optarg, &end);
			err = end != optarg && !*end && o.duration > 0 ? 0 : -EINVAL;
			expect = "seconds, more than 0";
			break;
		}
		case 'r':
			err = parse_u64(optarg, &o.rate);
			expect = "packets per second (0 = as fast as possible)";
			break;
		case 's':
			err = parse_u64(optarg, &v);
			if (!err && v > GEN_MAX_FRAME)
				err = -EINVAL;
			spec.frame_len = (size_t)v;
			expect = "a frame length in bytes, at most 1518";
			break;
		case OPT_SRC:
			err = parse_ip_range(optarg, &fa.src);
			expect = "an IPv4 address or range A-B";
			break;
		case OPT_DST:
			err = parse_ip_range(optarg, &fa.dst);
			expect = "an IPv4 address or range A-B";
			break;
		case OPT_SPORT:
			err = parse_port_range(optarg, &fa.sport);
			expect = "a port or range P-Q";
			break;
		case OPT_DPORT:
			err = parse_port_range(optarg, &fa.dport);
			expect = "a port or range P-Q";
			break;
		case OPT_PROTO:
			if (!strcmp(optarg, "udp"))
				spec.proto = IPPROTO_UDP;
			else if (!strcmp(optarg, "tcp"))
				spec.proto = IPPROTO_TCP;
			else
				err = -EINVAL;
			expect = "udp or tcp";
			break;
		case OPT_VLAN:
			err = parse_u64(optarg, &v);
			if (!err && (v < 1 || v > 4094))
				err = -EINVAL;
			spec.vlans = 1;
			spec.vlan_id[0] = (uint16_t)v;
			expect = "a VLAN id, 1-4094";
			break;
		case OPT_FLOWS:
			err = parse_u64(optarg, &v);
			if (!err && (v < 1 || v > GEN_MAX_FLOWS))
				err = -EINVAL;
			fa.nr_flows = (uint32_t)v;
			expect = "a number of flows, 1-65536";
			break;
		case OPT_SRC_MAC:
			err = parse_mac(optarg, spec.src_mac);
			have_src_mac = true;
			expect = "a MAC address xx:xx:xx:xx:xx:xx";
			break;
		case OPT_DST_MAC:
			err = parse_mac(optarg, spec.dst_mac);
			expect = "a MAC address xx:xx:xx:xx:xx:xx";
			break;
		case OPT_QUEUES:
			err = parse_u64(optarg, &v);
			if (!err && (v < 1 || v > GEN_MAX_QUEUES))
				err = -EINVAL;
			o.queues = (uint32_t)v;
			expect = "a number of queues, 1-8";
			break;
		case OPT_STAMP:
			o.stamp = true;
			spec.with_stamp = true;
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
		case 'V':
			printf("sluice-gen %s\n", SLUICE_VERSION);
			return 0;
		default:
			/* getopt said what it did not understand, as typed. */
			fprintf(stderr, "Try 'sluice-gen --help'.\n");
			return 2;
		}
		if (err) {
			fprintf(stderr, "sluice-gen: %s: bad value '%s', expected %s\n",
				opt_typed(c, li, name, sizeof(name)), optarg, expect);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "sluice-gen: unexpected argument '%s'\n"
			"Try 'sluice-gen --help'.\n", argv[optind]);
		return 2;
	}
	if (!o.ifname) {
		fprintf(stderr, "sluice-gen: --iface is required\nTry 'sluice-gen --help'.\n");
		return 2;
	}
	if (!o.count && !o.duration) {
		/* Bounded traffic only: a run always has an end. */
		fprintf(stderr, "sluice-gen: --count or --duration is required: traffic is bounded\n"
			"Try 'sluice-gen --help'.\n");
		return 2;
	}
	if (!have_src_mac && iface_mac(o.ifname, spec.src_mac)) {
		fprintf(stderr, "sluice-gen: --iface %s: no such interface in this network namespace\n",
			o.ifname);
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
	signal(SIGCONT, on_continue);
	err = engine_open(&o, t, &choice, &priv);
	if (err)
		goto out;
	err = choice.engine->run(priv, &st);
	choice.engine->close(priv);
	if (!err)
		gen_report(&o, t, &choice, &st);
out:
	if (t)
		free(t->flows);
	free(t);
	return err ? 1 : 0;
}
