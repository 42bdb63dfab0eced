// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Command line of sluice-xsk. Defaults are explained in docs/afxdp.md. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "xsk_tool.h"

/*
 * Sized from measurement (docs/afxdp.md): on a 2-core machine the receiving
 * thread is descheduled for up to ~20 ms, so the rx ring must absorb that
 * much traffic; a fill ring smaller than the umem would strand frames.
 */
#define XT_DEF_RX_RING		8192
#define XT_DEF_TX_RING		4096
#define XT_DEF_COMP_RING	4096
#define XT_DEF_FRAMES		8192
#define XT_DEF_FRAME_SIZE	2048
#define XT_DEF_BATCH		64
#define XT_DEF_PKT_SIZE		64
#define XT_MAX_RING		(1u << 20)

enum {
	OPT_RX_RING = 256,
	OPT_TX_RING,
	OPT_FILL_RING,
	OPT_COMP_RING,
	OPT_FRAMES,
	OPT_FRAME_SIZE,
	OPT_POLL_BUSY,
	OPT_NO_WAKEUP,
	OPT_XSKMAP,
	OPT_ATTACH,
	OPT_VERIFY,
	OPT_META,
	OPT_FLOW,
	OPT_MODE,
	OPT_QUIET,
	OPT_LATENCY,
	OPT_SAMPLE,
	OPT_INTERVAL_FILE,
};

static const struct option long_opts[] = {
	{ "interface",		required_argument,	NULL, 'i' },
	{ "queue",		required_argument,	NULL, 'q' },
	{ "rxdrop",		no_argument,		NULL, 'r' },
	{ "txonly",		no_argument,		NULL, 't' },
	{ "l2fwd",		no_argument,		NULL, 'l' },
	{ "mode",		required_argument,	NULL, OPT_MODE },
	{ "copy",		no_argument,		NULL, 'c' },
	{ "zero-copy",		no_argument,		NULL, 'z' },
	{ "xskmap",		required_argument,	NULL, OPT_XSKMAP },
	{ "attach",		no_argument,		NULL, OPT_ATTACH },
	{ "skb",		no_argument,		NULL, 'S' },
	{ "rx-ring",		required_argument,	NULL, OPT_RX_RING },
	{ "tx-ring",		required_argument,	NULL, OPT_TX_RING },
	{ "fill-ring",		required_argument,	NULL, OPT_FILL_RING },
	{ "comp-ring",		required_argument,	NULL, OPT_COMP_RING },
	{ "frames",		required_argument,	NULL, OPT_FRAMES },
	{ "frame-size",		required_argument,	NULL, OPT_FRAME_SIZE },
	{ "batch",		required_argument,	NULL, 'b' },
	{ "poll",		no_argument,		NULL, 'p' },
	{ "busy-poll",		no_argument,		NULL, OPT_POLL_BUSY },
	{ "no-need-wakeup",	no_argument,		NULL, OPT_NO_WAKEUP },
	{ "duration",		required_argument,	NULL, 'd' },
	{ "count",		required_argument,	NULL, 'n' },
	{ "quiet",		no_argument,		NULL, OPT_QUIET },
	{ "json",		no_argument,		NULL, 'j' },
	{ "verify",		no_argument,		NULL, OPT_VERIFY },
	{ "meta",		no_argument,		NULL, OPT_META },
	{ "latency",		no_argument,		NULL, OPT_LATENCY },
	{ "sample",		required_argument,	NULL, OPT_SAMPLE },
	{ "interval",		required_argument,	NULL, 'I' },
	{ "interval-file",	required_argument,	NULL, OPT_INTERVAL_FILE },
	{ "pkt-size",		required_argument,	NULL, 's' },
	{ "flow",		required_argument,	NULL, OPT_FLOW },
	{ "help",		no_argument,		NULL, 'h' },
	{ "version",		no_argument,		NULL, 'V' },
	{ }
};

static void usage(FILE *f)
{
	fprintf(f,
"Usage: sluice-xsk -i IF [-q QUEUE]... [MODE] [OPTIONS]\n"
"AF_XDP measurement: receive, send or forward on IF's queues, one socket and\n"
"one thread per queue, and report rates, kernel drop reasons and payload checks.\n"
"\n"
"Where packets come from (one of):\n"
"  --xskmap PATH       a sluice pipeline's pinned XSKMAP, e.g.\n"
"                      " SLUICE_PIN_ROOT "/IF/" SLUICE_PIN_MAPS "/" SLUICE_MAP_XSKS "\n"
"  --attach            attach a bare redirect-to-socket program to IF (bpf_link),\n"
"                      removed at exit; -S/--skb attaches it in generic mode\n"
"  (neither)           only bind: something else must redirect (or txonly)\n"
"Modes:\n"
"  -r, --rxdrop        receive and recycle (default)\n"
"  -t, --txonly        send generated UDP frames carrying a sluice payload\n"
"  -l, --l2fwd         swap MACs and send back out of the same queue\n"
"      --mode NAME     rxdrop | txonly | l2fwd\n"
"Socket:\n"
"  -i, --interface IF  interface (required)\n"
"  -q, --queue Q       queue to bind; repeat or give a list (0,2) or range (0-3)\n"
"  -c, --copy          force copy mode\n"
"  -z, --zero-copy     force zero-copy (default: try zero-copy, fall back to copy)\n"
"      --rx-ring N     rx ring entries (default %u)\n"
"      --tx-ring N     tx ring entries (default %u)\n"
"      --fill-ring N   fill ring entries (default: --frames; must hold them all)\n"
"      --comp-ring N   completion ring entries (default %u)\n"
"      --frames N      umem frames per queue (default %u)\n"
"      --frame-size N  umem frame size, 2048 or 4096 (default %u)\n"
"  -b, --batch N       descriptors per ring operation (default %u)\n"
"  -p, --poll          wait in poll(2) instead of spinning\n"
"      --busy-poll     prefer busy polling: the syscalls drive the NAPI\n"
"      --no-need-wakeup  kick the kernel on every batch\n"
"Run:\n"
"  -d, --duration S    stop after S seconds\n"
"  -n, --count N       stop after N packets received (txonly: sent)\n"
"  -s, --pkt-size N    txonly frame length (default %u)\n"
"      --flow N        txonly: flow id of the first queue (default 0)\n"
"      --verify        check each frame's sluice payload: valid, gaps,\n"
"                      duplicates, late, corrupt, per flow\n"
"      --meta          read the 32-byte sluice_meta in front of each frame\n"
"                      (the pipeline entry ran): counts by rule, path, gen\n"
"      --latency       receive time minus the transmit stamp sluice-gen --stamp\n"
"                      writes (same host, CLOCK_MONOTONIC): p50/p90/p99/max\n"
"                      per queue and in total\n"
"      --sample N      --latency reads every Nth frame's stamp (default 1)\n"
"  -I, --interval MS   one JSON line every MS milliseconds: its end on the\n"
"                      monotonic and real clocks, packets per queue, rate and\n"
"                      (--latency) percentiles of that interval alone\n"
"      --interval-file F  write those lines to F (default: stdout)\n"
"      --quiet         no progress line\n"
"  -j, --json          summary as JSON on stdout\n"
"  -h, --help          this text\n"
"  -V, --version       sluice-xsk's version\n",
		XT_DEF_RX_RING, XT_DEF_TX_RING, XT_DEF_COMP_RING, XT_DEF_FRAMES,
		XT_DEF_FRAME_SIZE, XT_DEF_BATCH, XT_DEF_PKT_SIZE);
}

const char *xt_mode_name(enum xt_mode mode)
{
	switch (mode) {
	case XT_RXDROP:
		return "rxdrop";
	case XT_TXONLY:
		return "txonly";
	case XT_L2FWD:
		return "l2fwd";
	}
	return "?";
}

static int parse_u64(const char *s, const char *what, __u64 max, __u64 *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || v > max || *s == '-') {
		fprintf(stderr, "sluice-xsk: bad %s '%s'\n", what, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_u32(const char *s, const char *what, __u32 max, __u32 *out)
{
	__u64 v;
	int err;

	err = parse_u64(s, what, max, &v);
	if (!err)
		*out = (__u32)v;
	return err;
}

/*
 * The option the current optarg came with, as the user typed it ("-b",
 * "--batch", "--bat"): naming a spelling the user never typed misleads.
 */
static const char *typed_opt(char **argv, const char *arg, char *buf, size_t len)
{
	const char *t = argv[optind - 1];

	if (t == arg)		/* "-b 64", "--batch 64": the option is the word before */
		return argv[optind - 2];
	/* "-b64", "--batch=64": the same word, up to the value */
	snprintf(buf, len, "%.*s", (int)(arg - t - (arg > t && arg[-1] == '=' && t[1] == '-')), t);
	return buf;
}

static int add_queue(struct xt_opts *o, __u32 q)
{
	int i;

	for (i = 0; i < o->nr_queues; i++)
		if (o->queues[i] == q)
			return 0;
	if (o->nr_queues == SLUICE_XSK_MAX_QUEUES)
		return -E2BIG;
	o->queues[o->nr_queues++] = q;
	return 0;
}

/* "0", "0,2", "1-3", "0,2-3". */
static int parse_queues(struct xt_opts *o, const char *arg)
{
	char *dup = strdup(arg), *tok, *save = NULL, *dash;
	__u32 lo, hi;
	int err = 0;

	if (!dup)
		return -ENOMEM;
	for (tok = strtok_r(dup, ",", &save); tok && !err; tok = strtok_r(NULL, ",", &save)) {
		dash = strchr(tok, '-');
		if (dash)
			*dash = '\0';
		err = parse_u32(tok, "queue", SLUICE_XSK_MAX_QUEUES - 1, &lo);
		hi = lo;
		if (!err && dash)
			err = parse_u32(dash + 1, "queue", SLUICE_XSK_MAX_QUEUES - 1, &hi);
		if (!err && hi < lo)
			err = -EINVAL;
		for (; !err && lo <= hi; lo++)
			err = add_queue(o, lo);
	}
	free(dup);
	if (err)
		fprintf(stderr, "sluice-xsk: bad queue list '%s'\n", arg);
	return err;
}

static bool is_pow2(__u32 v)
{
	return v && !(v & (v - 1));
}

static int check_ring(const char *name, __u32 v)
{
	if (is_pow2(v))
		return 0;
	fprintf(stderr, "sluice-xsk: --%s %u: ring sizes are powers of two\n", name, v);
	return -EINVAL;
}

/*
 * --meta reads what the pipeline's entry put in XDP metadata. A pipeline
 * that carries its context in a per-CPU map (where the kernel refuses XDP
 * metadata, or by choice) delivers none: say so instead of counting every
 * frame as "none". The pipeline's info sits two folders above its XSKMAP.
 */
static int meta_available(const char *xskmap)
{
	struct sluice_pipeline_info *info;
	char path[PATH_MAX], *slash;
	__u32 zero = 0;
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s", xskmap);
	for (int i = 0; i < 2; i++) {
		slash = strrchr(path, '/');
		if (!slash)
			return 0;
		*slash = '\0';
	}
	snprintf(path + strlen(path), sizeof(path) - strlen(path), "/%s", SLUICE_PIN_INFO);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;	/* not a sluice pipeline's map: nothing to say */
	info = calloc(1, sizeof(*info));
	if (info && !bpf_map_lookup_elem(fd, &zero, info) && info->magic == SLUICE_INFO_MAGIC &&
	    info->carrier == SLUICE_CARRIER_PERCPU) {
		fprintf(stderr, "sluice-xsk: --meta: this pipeline carries its per-packet context in a "
			"per-CPU map (context: percpu), so no sluice metadata reaches AF_XDP sockets; "
			"metadata delivery needs context: meta on a kernel that allows XDP metadata\n");
		ret = -ENOTSUP;
	}
	free(info);
	close(fd);
	return ret;
}

static int opts_validate(struct xt_opts *o)
{
	int err = 0;

	if (!o->ifname) {
		fprintf(stderr, "sluice-xsk: -i IF is required\n");
		return -EINVAL;
	}
	o->ifindex = if_nametoindex(o->ifname);
	if (!o->ifindex) {
		fprintf(stderr, "sluice-xsk: no interface '%s'\n", o->ifname);
		return -ENODEV;
	}
	if (o->xskmap && o->attach) {
		fprintf(stderr, "sluice-xsk: --xskmap and --attach exclude each other\n");
		return -EINVAL;
	}
	if (o->meta && o->xskmap && meta_available(o->xskmap))
		return -ENOTSUP;
	if (!o->nr_queues)
		add_queue(o, 0);
	if (!o->fill_size)
		o->fill_size = o->frames;
	err = err ?: check_ring("rx-ring", o->rx_size);
	err = err ?: check_ring("tx-ring", o->tx_size);
	err = err ?: check_ring("fill-ring", o->fill_size);
	err = err ?: check_ring("comp-ring", o->comp_size);
	err = err ?: check_ring("frames", o->frames);
	if (err)
		return err;
	if (o->frame_size != 2048 && o->frame_size != 4096) {
		fprintf(stderr, "sluice-xsk: --frame-size is 2048 or 4096 (aligned umem)\n");
		return -EINVAL;
	}
	/*
	 * Every frame not in our hands sits in the fill ring: a smaller ring
	 * leaves frames that can never be posted, so receive would stall.
	 */
	if (o->mode != XT_TXONLY && o->fill_size < o->frames) {
		fprintf(stderr, "sluice-xsk: --fill-ring %u cannot hold the %u umem frames\n",
			o->fill_size, o->frames);
		return -EINVAL;
	}
	if (!o->batch || o->batch > o->rx_size || o->batch > o->tx_size) {
		fprintf(stderr, "sluice-xsk: --batch must be 1..min(rx, tx ring)\n");
		return -EINVAL;
	}
	if (o->latency && o->mode == XT_TXONLY) {
		fprintf(stderr, "sluice-xsk: --latency measures received frames: rxdrop or l2fwd\n");
		return -EINVAL;
	}
	if (o->pkt_size > o->frame_size) {
		fprintf(stderr, "sluice-xsk: --pkt-size %u exceeds the frame size\n", o->pkt_size);
		return -EINVAL;
	}
	return 0;
}

int xt_opts_parse(struct xt_opts *o, int argc, char **argv)
{
	char typed[64];
	__u64 v;
	int c, err = 0;

	memset(o, 0, sizeof(*o));
	o->mode = XT_RXDROP;
	o->rx_size = XT_DEF_RX_RING;
	o->tx_size = XT_DEF_TX_RING;
	o->comp_size = XT_DEF_COMP_RING;
	o->frames = XT_DEF_FRAMES;
	o->frame_size = XT_DEF_FRAME_SIZE;
	o->batch = XT_DEF_BATCH;
	o->pkt_size = XT_DEF_PKT_SIZE;
	o->need_wakeup = true;
	o->sample = 1;

	while (!err && (c = getopt_long(argc, argv, "i:q:rtlczSb:pd:n:js:I:hV", long_opts, NULL)) != -1) {
		const char *opt = optarg ? typed_opt(argv, optarg, typed, sizeof(typed)) : NULL;

		switch (c) {
		case 'i':
			o->ifname = optarg;
			break;
		case 'q':
			err = parse_queues(o, optarg);
			break;
		case 'r':
			o->mode = XT_RXDROP;
			break;
		case 't':
			o->mode = XT_TXONLY;
			break;
		case 'l':
			o->mode = XT_L2FWD;
			break;
		case OPT_MODE:
			if (!strcmp(optarg, "rxdrop"))
				o->mode = XT_RXDROP;
			else if (!strcmp(optarg, "txonly"))
				o->mode = XT_TXONLY;
			else if (!strcmp(optarg, "l2fwd"))
				o->mode = XT_L2FWD;
			else
				err = -EINVAL;
			if (err)
				fprintf(stderr, "sluice-xsk: %s: unknown mode '%s' (rxdrop, txonly, l2fwd)\n",
					opt, optarg);
			break;
		case 'c':
			o->copy = XT_COPY_FORCE;
			break;
		case 'z':
			o->copy = XT_ZEROCOPY_FORCE;
			break;
		case OPT_XSKMAP:
			o->xskmap = optarg;
			break;
		case OPT_ATTACH:
			o->attach = true;
			break;
		case 'S':
			o->skb_mode = true;
			break;
		case OPT_RX_RING:
			err = parse_u32(optarg, opt, XT_MAX_RING, &o->rx_size);
			break;
		case OPT_TX_RING:
			err = parse_u32(optarg, opt, XT_MAX_RING, &o->tx_size);
			break;
		case OPT_FILL_RING:
			err = parse_u32(optarg, opt, XT_MAX_RING, &o->fill_size);
			break;
		case OPT_COMP_RING:
			err = parse_u32(optarg, opt, XT_MAX_RING, &o->comp_size);
			break;
		case OPT_FRAMES:
			err = parse_u32(optarg, opt, XT_MAX_RING, &o->frames);
			break;
		case OPT_FRAME_SIZE:
			err = parse_u32(optarg, opt, 4096, &o->frame_size);
			break;
		case 'b':
			err = parse_u32(optarg, opt, XT_MAX_RING, &o->batch);
			break;
		case 'p':
			o->wait = XT_WAIT_POLL;
			break;
		case OPT_POLL_BUSY:
			o->wait = XT_WAIT_BUSY_POLL;
			break;
		case OPT_NO_WAKEUP:
			o->need_wakeup = false;
			break;
		case 'd': {
			char *end;

			o->duration = strtod(optarg, &end);
			if (end == optarg || *end || o->duration < 0) {
				fprintf(stderr, "sluice-xsk: bad %s '%s' (seconds)\n", opt, optarg);
				err = -EINVAL;
			}
			break;
		}
		case 'n':
			err = parse_u64(optarg, opt, UINT64_MAX, &o->count);
			break;
		case OPT_QUIET:
			o->quiet = true;
			break;
		case 'j':
			o->json = true;
			break;
		case OPT_VERIFY:
			o->verify = true;
			break;
		case OPT_META:
			o->meta = true;
			break;
		case OPT_LATENCY:
			o->latency = true;
			break;
		case OPT_SAMPLE:
			err = parse_u32(optarg, opt, UINT32_MAX, &o->sample);
			if (!err && !o->sample) {
				fprintf(stderr, "sluice-xsk: bad %s '%s' (at least 1)\n", opt, optarg);
				err = -EINVAL;
			}
			break;
		case 'I':
			err = parse_u64(optarg, opt, 3600000, &v);
			if (!err && !v) {
				fprintf(stderr, "sluice-xsk: bad %s '%s' (milliseconds, at least 1)\n",
					opt, optarg);
				err = -EINVAL;
			}
			o->interval_ns = v * 1000000ull;
			break;
		case OPT_INTERVAL_FILE:
			o->interval_file = optarg;
			break;
		case 's':
			err = parse_u32(optarg, opt, 4096, &o->pkt_size);
			break;
		case OPT_FLOW:
			err = parse_u64(optarg, opt, UINT32_MAX, &v);
			o->flow = (__u32)v;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("sluice-xsk %s\n", SLUICE_VERSION);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (err)
		return err;
	if (optind < argc) {
		fprintf(stderr, "sluice-xsk: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return opts_validate(o);
}
