// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * swapload: the zero-loss hot-swap proof. With sluiced running a pipeline
 * that ends in the seqcheck sink (examples/seqcheck.bpf.c), it
 *
 *   1. clears the sink's maps and snapshots the pipeline counters,
 *   2. starts the generator given after "--" and waits until its packets
 *      reach the pipeline,
 *   3. sends N stage swaps (or N transactions) through the control socket,
 *      alternating two versions, timing each from send to reply; with -u it
 *      goes on until the generator ends, so no traffic time is wasted,
 *   4. waits for the generator to end (or stops it with SIGINT, -k), lets
 *      the rings drain, and reads the sink's maps and the pipeline counters.
 *
 * It prints the latency percentiles and sent/seen/lost/duplicated/mixed/
 * missed, and exits 1 when any packet was lost, duplicated, mixed, missed
 * its slot or took the wrong path, when an operation was refused, or when
 * the traffic stopped before the last operation: those are the proof. No
 * timing is asserted.
 *
 * With --direct there is no daemon: swapload loads the pipeline (every -x
 * stage's first version, in order) on the interface itself with libsluice
 * and changes it by calling the library, which is how prepared commits
 * (pipeline__prepare, then pipeline__commit_prepared: one store into the
 * switch word) are timed until the daemon serves them. Run it inside the
 * interface's network namespace (nsenter keeps the host's bpffs).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/limits.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>
#include <sluice/abi.h>
#include "ctl.h"
#include "pipeline.h"
#include "probe.h"
#include "seqcheck.h"

#define MAX_TXN_STAGES		SLUICE_MAX_STAGES
#define CTL_TIMEOUT_MS		30000
#define TRAFFIC_WAIT_MS		10000
#define GEN_OUT_MAX		4096

/* A stage an operation replaces: version a on even operations, b on odd ones. */
struct op_stage {
	char name[SLUICE_NAME_LEN];
	const char *obj[4];	/* versions, taken in turn */
	int nobj;
};

enum op_mode { MODE_SWAP, MODE_TXN, MODE_PREPARED };

struct opts {
	const char *socket;
	const char *pin_root;
	const char *iface;
	enum op_mode mode;
	bool direct;		/* no daemon: own the pipeline through libsluice */
	const char *lat_file;	/* every operation's latency, us, one a line */
	long ops;
	int settle_ms;
	int gap_ms;		/* pause between operations; 0 = back to back */
	bool json;
	bool stop_gen;
	bool until_end;
	struct op_stage stages[MAX_TXN_STAGES];
	int nr_stages;
	char **gen_argv;
};

struct sink_maps {
	int stats_fd, flows_fd, seen_fd;
	__u32 seen_chunks;
};

struct result {
	uint64_t sent, gen_errors;
	double gen_pps;
	uint64_t packets, seen, lost, dups, beyond, foreign, sink_mixed, bad_path, last_path;
	uint64_t unexpected;		/* seqs at or past `sent`: not from this run */
	uint64_t reorder, flows, flow_beyond;
	uint64_t pipe_packets, pipe_mixed, pipe_missed, pipe_bad_verdict;
	long ops_done, ops_failed;
	long ops_traffic;		/* completed while the generator still ran */
	uint64_t lat_p50, lat_p90, lat_p99, lat_max, srv_p50, srv_p99;
	uint64_t live_p50, live_p90, live_p99, live_max;	/* send -> the switch (daemon's switch_at_us) */
	uint64_t sw_p50, sw_p99, sw_max;	/* --direct: the step packets see (pipeline's switch_us) */
	uint64_t prep_p50, prep_p99;		/* --direct prepared: building the candidate */
};

static int nr_cpus;

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: swapload (-s SOCKET | -D) -i IFACE [options] -- GENERATOR [ARGS...]\n"
		"  -s, --socket PATH        sluiced's control socket\n"
		"  -i, --iface IF           interface whose pipeline ends in the seqcheck sink\n"
		"  -r, --pin-root DIR       the daemon's pin_root (default %s)\n"
		"  -m, --mode swap|txn|prepared\n"
		"                           one-slot swaps (default), transactions, or prepared\n"
		"                           transactions committed in one store (timed: the commit;\n"
		"                           the daemon's time is from the request to the switch)\n"
		"  -D, --direct             no daemon: load the -x stages (first versions) on IFACE\n"
		"                           and change them through libsluice (run inside its netns)\n"
		"  -l, --lat-file FILE      write each operation's send -> reply (us) to FILE, one a\n"
		"                           line, send -> switch to FILE.live (the switch alone\n"
		"                           to FILE.switch with -D)\n"
		"  -n, --ops N              operations to run (default 1000)\n"
		"  -u, --until-end          with -n as the minimum, go on while the generator runs\n"
		"  -x, --stage NAME=A[,B..] a stage to replace, taking up to 4 versions in turn\n"
		"                           (swap: exactly one; txn: one or more, in one request)\n"
		"  -w, --settle-ms MS       wait after the generator stops (default 200)\n"
		"  -g, --gap-ms MS          pause between operations (default 0: back to back)\n"
		"  -k, --kill-generator     SIGINT the generator once the operations are done\n"
		"  -j, --json               print the result as one JSON object\n"
		"The generator (normally sluice-gen ... -j) must outlast the operations: give\n"
		"it a --count or --duration long enough, or -k if it ends cleanly on SIGINT.\n"
		"Its JSON summary gives the packets sent.\n"
		"Exit: 0 proof held, 1 a check failed, 2 usage or setup error.\n",
		SLUICE_PIN_ROOT);
}

static int parse_stage(const char *arg, struct op_stage *s)
{
	const char *eq = strchr(arg, '='), *comma;
	size_t len = eq ? (size_t)(eq - arg) : 0;

	if (!eq || !len || len >= sizeof(s->name) || !eq[1])
		return -EINVAL;
	memcpy(s->name, arg, len);
	s->name[len] = '\0';
	s->obj[0] = strdup(eq + 1);
	if (!s->obj[0])
		return -ENOMEM;
	s->nobj = 1;
	while ((comma = strchr(s->obj[s->nobj - 1], ','))) {
		if (s->nobj == 4)
			return -E2BIG;
		*(char *)comma = '\0';
		s->obj[s->nobj++] = comma + 1;
	}
	for (int i = 0; i < s->nobj; i++)
		if (!s->obj[i][0])
			return -EINVAL;
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "iface", required_argument, NULL, 'i' },
		{ "pin-root", required_argument, NULL, 'r' },
		{ "mode", required_argument, NULL, 'm' },
		{ "direct", no_argument, NULL, 'D' },
		{ "lat-file", required_argument, NULL, 'l' },
		{ "ops", required_argument, NULL, 'n' },
		{ "stage", required_argument, NULL, 'x' },
		{ "settle-ms", required_argument, NULL, 'w' },
		{ "gap-ms", required_argument, NULL, 'g' },
		{ "json", no_argument, NULL, 'j' },
		{ "kill-generator", no_argument, NULL, 'k' },
		{ "until-end", no_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c;

	o->pin_root = SLUICE_PIN_ROOT;
	o->ops = 1000;
	o->settle_ms = 200;
	while ((c = getopt_long(argc, argv, "+s:i:r:m:n:x:w:g:jkuhDl:", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->socket = optarg;
			break;
		case 'i':
			o->iface = optarg;
			break;
		case 'r':
			o->pin_root = optarg;
			break;
		case 'm':
			if (!strcmp(optarg, "swap"))
				o->mode = MODE_SWAP;
			else if (!strcmp(optarg, "txn"))
				o->mode = MODE_TXN;
			else if (!strcmp(optarg, "prepared"))
				o->mode = MODE_PREPARED;
			else
				goto bad;
			break;
		case 'D':
			o->direct = true;
			break;
		case 'l':
			o->lat_file = optarg;
			break;
		case 'n':
			o->ops = strtol(optarg, NULL, 0);
			if (o->ops < 1)
				goto bad;
			break;
		case 'x':
			if (o->nr_stages == MAX_TXN_STAGES ||
			    parse_stage(optarg, &o->stages[o->nr_stages++]))
				goto bad;
			break;
		case 'w':
			o->settle_ms = atoi(optarg);
			break;
		case 'g':
			o->gap_ms = atoi(optarg);
			break;
		case 'j':
			o->json = true;
			break;
		case 'k':
			o->stop_gen = true;
			break;
		case 'u':
			o->until_end = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			goto bad;
		}
	}
	if ((!o->socket && !o->direct) || !o->iface || optind >= argc || !o->nr_stages ||
	    (!o->direct && o->mode == MODE_SWAP && o->nr_stages != 1))
		goto bad;
	o->gen_argv = argv + optind;
	return 0;
bad:
	usage(stderr);
	return -EINVAL;
}

static int map_open(const struct opts *o, const char *name)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s/%s/%s", o->pin_root, o->iface, SLUICE_PIN_MAPS, name);
	fd = bpf_obj_get(path);
	if (fd < 0) {
		fd = -errno;
		fprintf(stderr, "swapload: %s: %s (is the seqcheck sink in the pipeline?)\n", path,
			strerror(-fd));
	}
	return fd;
}

static void sink_maps__close(struct sink_maps *s)
{
	if (s->stats_fd >= 0)
		close(s->stats_fd);
	if (s->flows_fd >= 0)
		close(s->flows_fd);
	if (s->seen_fd >= 0)
		close(s->seen_fd);
}

static int sink_maps__open(const struct opts *o, struct sink_maps *s)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int ret;

	s->stats_fd = s->flows_fd = s->seen_fd = -1;
	s->stats_fd = map_open(o, SEQCHECK_MAP_STATS);
	s->flows_fd = map_open(o, SEQCHECK_MAP_FLOWS);
	s->seen_fd = map_open(o, SEQCHECK_MAP_SEEN);
	if (s->stats_fd < 0 || s->flows_fd < 0 || s->seen_fd < 0) {
		ret = -ENOENT;
		goto err;
	}
	ret = bpf_obj_get_info_by_fd(s->seen_fd, &info, &len);
	if (ret) {
		ret = -errno;
		goto err;
	}
	if (info.type != BPF_MAP_TYPE_PERCPU_ARRAY || info.value_size != sizeof(struct seqcheck_chunk)) {
		fprintf(stderr, "swapload: %s is not a seqcheck bitmap\n", SEQCHECK_MAP_SEEN);
		ret = -EINVAL;
		goto err;
	}
	s->seen_chunks = info.max_entries;
	return 0;
err:
	sink_maps__close(s);
	return ret;
}

/* Zeroes every CPU's copy of entries [0, n) of a per-CPU array. */
static int percpu_clear(int fd, __u32 n, size_t value_size)
{
	void *zero = calloc(nr_cpus, value_size);
	int ret = 0;

	if (!zero)
		return -ENOMEM;
	for (__u32 k = 0; k < n && !ret; k++)
		if (bpf_map_update_elem(fd, &k, zero, BPF_ANY))
			ret = -errno;
	free(zero);
	return ret;
}

/* Only while no traffic flows: the sink writes these maps without locks. */
static int sink_maps__reset(struct sink_maps *s)
{
	int ret;

	ret = percpu_clear(s->seen_fd, s->seen_chunks, sizeof(struct seqcheck_chunk));
	if (!ret)
		ret = percpu_clear(s->stats_fd, 1, sizeof(struct seqcheck_stats));
	if (!ret)
		ret = percpu_clear(s->flows_fd, SEQCHECK_MAX_FLOWS, sizeof(struct seqcheck_flow));
	if (ret)
		fprintf(stderr, "swapload: clearing the sink's counters: %s\n", strerror(-ret));
	return ret;
}

/* The pipeline's counters summed over CPUs and banks: a commit moves packets to another bank. */
static int pipe_stats_read(int fd, struct sluice_pipe_stats *sum)
{
	struct sluice_pipe_stats *v = calloc(nr_cpus, sizeof(*v));

	if (!v)
		return -ENOMEM;
	memset(sum, 0, sizeof(*sum));
	for (__u32 bank = 0; bank < SLUICE_NR_BANKS; bank++) {
		if (bpf_map_lookup_elem(fd, &bank, v)) {
			free(v);
			return -errno;
		}
		for (int c = 0; c < nr_cpus; c++) {
			sum->packets += v[c].packets;
			sum->missed += v[c].missed;
			sum->mixed += v[c].mixed;
			sum->bad_verdict += v[c].bad_verdict;
		}
	}
	free(v);
	return 0;
}

static int sink_read(struct sink_maps *s, struct result *r)
{
	struct seqcheck_stats *st = calloc(nr_cpus, sizeof(*st));
	struct seqcheck_flow *fl = calloc(nr_cpus, sizeof(*fl));
	struct seqcheck_chunk *ch = calloc(nr_cpus, sizeof(*ch));
	__u32 zero = 0;
	int ret = 0;

	if (!st || !fl || !ch) {
		ret = -ENOMEM;
		goto out;
	}
	if (bpf_map_lookup_elem(s->stats_fd, &zero, st)) {
		ret = -errno;
		goto out;
	}
	for (int c = 0; c < nr_cpus; c++) {
		r->packets += st[c].packets;
		r->foreign += st[c].foreign;
		r->sink_mixed += st[c].mixed;
		r->bad_path += st[c].bad_path;
		r->dups += st[c].dups;
		r->beyond += st[c].beyond;
		r->flow_beyond += st[c].flow_beyond;
		if (st[c].bad_path)
			r->last_path = st[c].last_path;
	}
	for (__u32 k = 0; k < SEQCHECK_MAX_FLOWS; k++) {
		uint64_t pk = 0;

		if (bpf_map_lookup_elem(s->flows_fd, &k, fl)) {
			ret = -errno;
			goto out;
		}
		for (int c = 0; c < nr_cpus; c++) {
			pk += fl[c].packets;
			r->reorder += fl[c].reorder;
		}
		r->flows += pk != 0;
	}
	/*
	 * Seqs 0..sent-1 must each have their bit; any other bit is a stranger.
	 * A bit set on k CPUs is k - 1 duplicates the CPUs could not see.
	 */
	for (__u32 k = 0; k < s->seen_chunks; k++) {
		if (bpf_map_lookup_elem(s->seen_fd, &k, ch)) {
			ret = -errno;
			goto out;
		}
		for (int w = 0; w < SEQCHECK_CHUNK_WORDS; w++) {
			uint64_t first = (uint64_t)k * SEQCHECK_CHUNK_BITS + (uint64_t)w * 64;
			uint64_t bits = 0, in;
			int sum = 0;

			for (int c = 0; c < nr_cpus; c++) {
				bits |= ch[c].w[w];
				sum += __builtin_popcountll(ch[c].w[w]);
			}
			if (!bits)
				continue;
			r->dups += (uint64_t)(sum - __builtin_popcountll(bits));
			in = bits;
			if (first + 64 > r->sent)
				in = first >= r->sent ? 0 : bits & ((1ull << (r->sent % 64)) - 1);
			r->seen += __builtin_popcountll(in);
			r->unexpected += __builtin_popcountll(bits & ~in);
		}
	}
	/*
	 * Frames the generator's veth dropped (its tx_dropped: the DUT's ring
	 * was full) never reached the DUT's XDP hook, so no stage could lose
	 * them: what must be seen is what was delivered.
	 */
	r->lost = r->sent - r->gen_errors > r->seen ? r->sent - r->gen_errors - r->seen : 0;
out:
	free(st);
	free(fl);
	free(ch);
	return ret;
}

/* The request of operation i: each stage's versions in turn. */
static struct json_object *op_request(const struct opts *o, long i)
{
	struct json_object *req = json_object_new_object(), *list;
	const struct op_stage *s = &o->stages[0];

	json_object_object_add(req, "iface", json_object_new_string(o->iface));
	if (o->mode == MODE_SWAP) {
		json_object_object_add(req, "op", json_object_new_string("stage.swap"));
		json_object_object_add(req, "stage", json_object_new_string(s->name));
		json_object_object_add(req, "object", json_object_new_string(s->obj[i % s->nobj]));
		return req;
	}
	list = json_object_new_array();
	json_object_object_add(req, "op", json_object_new_string("txn"));
	for (int k = 0; k < o->nr_stages; k++) {
		struct json_object *it = json_object_new_object();

		s = &o->stages[k];
		json_object_object_add(it, "stage", json_object_new_string(s->name));
		json_object_object_add(it, "object", json_object_new_string(s->obj[i % s->nobj]));
		json_object_array_add(list, it);
	}
	json_object_object_add(req, "stages", list);
	/* Through the daemon, a prepared transaction is built first and committed after. */
	if (o->mode == MODE_PREPARED)
		json_object_object_add(req, "prepare", json_object_new_boolean(1));
	return req;
}

/* Sends req (consumed) and checks the reply is ok; *rep keeps it, *lat times it. */
static int call(const struct opts *o, long i, struct json_object *req, uint64_t *lat,
		uint64_t *sent, struct json_object **rep)
{
	struct json_object *r = NULL, *v;
	uint64_t t0;
	int fd, type, ret;

	fd = ctl__connect(o->socket, CTL_TIMEOUT_MS);
	if (fd < 0) {
		fprintf(stderr, "swapload: %s: %s\n", o->socket, strerror(-fd));
		json_object_put(req);
		return fd;
	}
	t0 = now_us();
	if (sent)
		*sent = t0;
	ret = ctl__send(fd, CTL_MSG_REQUEST, req, CTL_TIMEOUT_MS);
	if (!ret)
		ret = ctl__recv(fd, &type, &r, CTL_TIMEOUT_MS);
	if (lat)
		*lat = now_us() - t0;
	close(fd);
	json_object_put(req);
	if (ret) {
		fprintf(stderr, "swapload: operation %ld: %s\n", i, strerror(-ret));
		return ret;
	}
	if (!json_object_object_get_ex(r, "ok", &v) || !json_object_get_boolean(v)) {
		fprintf(stderr, "swapload: operation %ld refused: %s\n", i,
			json_object_object_get_ex(r, "error", &v) ? json_object_get_string(v) : "?");
		json_object_put(r);
		return -EPERM;
	}
	*rep = r;
	return 0;
}

/*
 * One operation; *lat gets send -> reply in us, *live send -> the switch
 * packets see (the daemon's switch_at_us, the same clock), *srv what the
 * daemon says it took. A prepared one is prepared
 * untimed, then its commit is timed, and the daemon's figure is from the
 * request's arrival to the switch.
 */
static int op_run(const struct opts *o, long i, uint64_t *lat, uint64_t *live, uint64_t *srv)
{
	struct json_object *req = op_request(o, i), *rep = NULL, *v;
	uint64_t sent = 0;
	int64_t cand, at;
	int ret;

	if (o->mode == MODE_PREPARED) {
		ret = call(o, i, req, NULL, NULL, &rep);
		if (ret)
			return ret;
		cand = json_object_object_get_ex(rep, "candidate", &v) ? json_object_get_int64(v) : 0;
		json_object_put(rep);
		req = json_object_new_object();
		json_object_object_add(req, "op", json_object_new_string("commit"));
		json_object_object_add(req, "iface", json_object_new_string(o->iface));
		json_object_object_add(req, "candidate", json_object_new_int64(cand));
	}
	ret = call(o, i, req, lat, &sent, &rep);
	if (ret)
		return ret;
	*srv = json_object_object_get_ex(rep, o->mode == MODE_PREPARED ? "to_switch_us" : "duration_us", &v) ?
	       (uint64_t)json_object_get_int64(v) : 0;
	at = json_object_object_get_ex(rep, "switch_at_us", &v) ? json_object_get_int64(v) : 0;
	/* A reply without the switch's time bounds it by the reply's own. */
	*live = at > 0 && (uint64_t)at >= sent ? (uint64_t)at - sent : *lat;
	json_object_put(rep);
	return 0;
}

static pid_t gen_start(char **argv, int *out_fd)
{
	int p[2];
	pid_t pid;

	if (pipe(p))
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (!pid) {
		dup2(p[1], STDOUT_FILENO);
		close(p[0]);
		close(p[1]);
		execvp(argv[0], argv);
		fprintf(stderr, "swapload: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	*out_fd = p[0];
	return pid;
}

/* Reaps the generator and parses its -j summary. */
static int gen_finish(pid_t pid, int fd, struct result *r)
{
	char buf[GEN_OUT_MAX] = "";
	struct json_object *o, *v;
	size_t len = 0;
	ssize_t n;
	int status;

	while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fd);
	if (waitpid(pid, &status, 0) < 0) {
		fprintf(stderr, "swapload: waiting for the generator: %s\n", strerror(errno));
		return -ECHILD;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "swapload: the generator failed (status %d)\n", status);
		return -ECHILD;
	}
	o = json_tokener_parse(buf);
	if (!o || !json_object_object_get_ex(o, "sent", &v)) {
		fprintf(stderr, "swapload: no JSON summary with \"sent\" from the generator (run it with -j)\n");
		json_object_put(o);
		return -EBADMSG;
	}
	r->sent = (uint64_t)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "errors", &v))
		r->gen_errors = (uint64_t)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "pps", &v))
		r->gen_pps = json_object_get_double(v);
	json_object_put(o);
	return 0;
}

/* True while the generator runs; WNOWAIT leaves it for gen_finish() to reap. */
static bool gen_running(pid_t pid)
{
	siginfo_t si = {};

	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT))
		return false;
	return si.si_pid == 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static uint64_t pct(const uint64_t *v, long n, int p)
{
	long k = (long)((p * n + 99) / 100);

	return n ? v[k > 0 ? k - 1 : 0] : 0;
}

static bool result__ok(const struct result *r, long ops)
{
	return r->sent && !r->lost && !r->dups && !r->unexpected && !r->sink_mixed &&
	       !r->pipe_mixed && !r->pipe_missed && !r->pipe_bad_verdict && !r->bad_path &&
	       !r->beyond && !r->ops_failed && r->ops_traffic >= ops;
}

/* Per-operation times, us: latency, to live, what the daemon reported, the switch, the prepare. */
struct samples {
	uint64_t *lat, *live, *srv, *sw, *prep;
	long cap;
};

/* Room for one more sample in each array. */
static int samples_grow(struct samples *sm, long n)
{
	uint64_t **arr[] = { &sm->lat, &sm->live, &sm->srv, &sm->sw, &sm->prep };
	long c = sm->cap;

	if (n < c)
		return 0;
	c = c ? 2 * c : 1024;
	for (size_t k = 0; k < sizeof(arr) / sizeof(arr[0]); k++) {
		uint64_t *a = realloc(*arr[k], c * sizeof(*a));

		if (!a)
			return -ENOMEM;
		memset(a + sm->cap, 0, (c - sm->cap) * sizeof(*a));
		*arr[k] = a;
	}
	sm->cap = c;
	return 0;
}

static void samples_free(struct samples *sm)
{
	free(sm->lat);
	free(sm->live);
	free(sm->srv);
	free(sm->sw);
	free(sm->prep);
}

/* One number a line, in operation order, under a '# title' line. */
static int samples_write(const char *path, const char *title, const uint64_t *v, long n)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		fprintf(stderr, "swapload: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	fprintf(f, "# %s\n", title);
	for (long i = 0; i < n; i++)
		fprintf(f, "%" PRIu64 "\n", v[i]);
	return fclose(f) ? -errno : 0;
}

static const char *mode_name(const struct opts *o)
{
	return o->mode == MODE_SWAP ? "swap" : o->mode == MODE_TXN ? "txn" : "prepared";
}

/* ---- --direct: the pipeline through libsluice, no daemon ---- */

static struct pipeline direct_pl;
static bool direct_up;

/* The stage list of operation i: each -x stage's version (i + 1) % n; i = -1: the first ones. */
static void direct_src(const struct opts *o, long i, struct stage_src *src)
{
	for (int k = 0; k < o->nr_stages; k++) {
		const struct op_stage *st = &o->stages[k];

		memset(&src[k], 0, sizeof(src[k]));
		snprintf(src[k].name, sizeof(src[k].name), "%s", st->name);
		snprintf(src[k].object, sizeof(src[k].object), "%s", st->obj[(i + 1) % st->nobj]);
	}
}

static int direct_setup(const struct opts *o)
{
	struct stage_src *src = calloc(SLUICE_MAX_STAGES, sizeof(*src));
	struct pipeline_err err = {};
	char why[256];
	int ret;

	if (!src)
		return -ENOMEM;
	ret = pipeline__init(&direct_pl, o->pin_root, o->iface);
	if (!ret) {
		pipeline__set_carrier(&direct_pl, probe__carrier_auto(why, sizeof(why)), 0);
		direct_src(o, -1, src);
		ret = pipeline__create(&direct_pl, src, o->nr_stages, XDP_PASS, &err);
		if (ret)
			fprintf(stderr, "swapload: loading the pipeline on %s: %s\n%s", o->iface, err.msg,
				err.verifier_log ? err.verifier_log : "");
	}
	pipeline_err__clear(&err);
	free(src);
	if (ret) {
		pipeline__destroy(&direct_pl);
		pipeline__close(&direct_pl);
		return ret;
	}
	direct_up = true;
	return 0;
}

static void direct_teardown(void)
{
	if (!direct_up)
		return;
	pipeline__destroy(&direct_pl);
	pipeline__close(&direct_pl);
	direct_up = false;
}

/*
 * One operation through the library: *lat the call (for a prepared one,
 * the commit alone), *sw the step packets see as the library reports it
 * (recording the candidate and the store, not the grace period after),
 * *prep building and verifying the candidate.
 */
static int direct_op(const struct opts *o, long i, uint64_t *lat, uint64_t *sw, uint64_t *prep)
{
	struct stage_src *src = calloc(SLUICE_MAX_STAGES, sizeof(*src));
	struct pipeline_err err = {};
	uint32_t cand = 0;
	uint64_t t0;
	int ret, idx;

	if (!src)
		return -ENOMEM;
	direct_src(o, i, src);
	*prep = 0;
	switch (o->mode) {
	case MODE_SWAP:
		idx = pipeline__find_stage(&direct_pl, src[0].name);
		t0 = now_us();
		ret = idx < 0 ? idx : pipeline__swap_stage(&direct_pl, idx, &src[0], NULL, 0, &err);
		*lat = now_us() - t0;
		break;
	case MODE_TXN:
		t0 = now_us();
		ret = pipeline__commit(&direct_pl, src, o->nr_stages, NULL, 0, &err);
		*lat = now_us() - t0;
		break;
	default:
		t0 = now_us();
		ret = pipeline__prepare(&direct_pl, src, o->nr_stages, NULL, 0, &cand, &err);
		*prep = now_us() - t0;
		t0 = now_us();
		if (!ret)
			ret = pipeline__commit_prepared(&direct_pl, cand, &err);
		*lat = now_us() - t0;
		break;
	}
	*sw = direct_pl.last_switch_us;
	if (ret)
		fprintf(stderr, "swapload: operation %ld refused: %s\n", i, err.msg);
	pipeline_err__clear(&err);
	free(src);
	return ret;
}

static void result__print(const struct opts *o, const struct result *r, bool ok)
{
	const char *kind = mode_name(o);

	if (o->json) {
		printf("{\"mode\":\"%s\",\"ops\":%ld,\"failed_ops\":%ld,\"ops_under_traffic\":%ld,"
		       "\"lat_us\":{\"p50\":%" PRIu64 ",\"p90\":%" PRIu64 ",\"p99\":%" PRIu64
		       ",\"max\":%" PRIu64 "},\"live_us\":{\"p50\":%" PRIu64 ",\"p90\":%" PRIu64
		       ",\"p99\":%" PRIu64 ",\"max\":%" PRIu64 "},\"daemon_us\":{\"p50\":%" PRIu64
		       ",\"p99\":%" PRIu64 "},"
		       "\"sent\":%" PRIu64 ",\"delivered\":%" PRIu64 ",\"gen_pps\":%.0f,\"gen_errors\":%" PRIu64 ","
		       "\"seen\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"duplicated\":%" PRIu64 ","
		       "\"unexpected\":%" PRIu64 ",\"reordered\":%" PRIu64 ",\"flows\":%" PRIu64 ","
		       "\"sink_packets\":%" PRIu64 ",\"foreign\":%" PRIu64 ",\"beyond\":%" PRIu64 ","
		       "\"bad_path\":%" PRIu64 ",\"mixed\":%" PRIu64 ",\"pipeline_mixed\":%" PRIu64 ","
		       "\"missed\":%" PRIu64 ",\"bad_verdict\":%" PRIu64 ",\"pipeline_packets\":%" PRIu64
		       ",\"direct\":%s,\"switch_us\":{\"p50\":%" PRIu64 ",\"p99\":%" PRIu64
		       ",\"max\":%" PRIu64 "},\"prepare_us\":{\"p50\":%" PRIu64 ",\"p99\":%" PRIu64 "},"
		       "\"ok\":%s}\n",
		       kind, r->ops_done, r->ops_failed, r->ops_traffic, r->lat_p50, r->lat_p90,
		       r->lat_p99, r->lat_max, r->live_p50, r->live_p90, r->live_p99, r->live_max,
		       r->srv_p50, r->srv_p99, r->sent, r->sent - r->gen_errors, r->gen_pps,
		       r->gen_errors, r->seen, r->lost, r->dups, r->unexpected, r->reorder, r->flows,
		       r->packets, r->foreign, r->beyond, r->bad_path, r->sink_mixed, r->pipe_mixed,
		       r->pipe_missed, r->pipe_bad_verdict, r->pipe_packets, o->direct ? "true" : "false",
		       r->sw_p50, r->sw_p99, r->sw_max, r->prep_p50, r->prep_p99, ok ? "true" : "false");
		return;
	}
	if (o->direct)
		printf("%s x %ld through libsluice: the call p50 %.3f ms p99 %.3f ms; the switch p50 %.3f ms "
		       "p99 %.3f ms max %.3f ms; preparing p50 %.3f ms p99 %.3f ms\n", kind, r->ops_done,
		       r->lat_p50 / 1e3, r->lat_p99 / 1e3, r->sw_p50 / 1e3, r->sw_p99 / 1e3,
		       r->sw_max / 1e3, r->prep_p50 / 1e3, r->prep_p99 / 1e3);
	printf("%s x %ld (%ld refused, %ld under traffic), send -> reply:\n"
	       "  p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms  (daemon: p50 %.3f ms, p99 %.3f ms)\n",
	       kind, r->ops_done, r->ops_failed, r->ops_traffic, r->lat_p50 / 1e3,
	       r->lat_p90 / 1e3, r->lat_p99 / 1e3, r->lat_max / 1e3, r->srv_p50 / 1e3,
	       r->srv_p99 / 1e3);
	if (!o->direct)
		printf("command to live (send -> the switch packets see):\n"
		       "  p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms\n", r->live_p50 / 1e3,
		       r->live_p90 / 1e3, r->live_p99 / 1e3, r->live_max / 1e3);
	printf("traffic: sent %" PRIu64 " at %.3f Mpps (generator tx errors %" PRIu64 ")\n",
	       r->sent, r->gen_pps / 1e6, r->gen_errors);
	printf("  seen %" PRIu64 "  lost %" PRIu64 "  duplicated %" PRIu64 "  mixed %" PRIu64
	       "  missed %" PRIu64 "\n", r->seen, r->lost, r->dups, r->sink_mixed, r->pipe_missed);
	printf("  bad path %" PRIu64 "  unexpected seqs %" PRIu64 "  beyond bitmap %" PRIu64
	       "  reordered %" PRIu64 "  flows %" PRIu64 "  foreign %" PRIu64 "\n",
	       r->bad_path, r->unexpected, r->beyond, r->reorder, r->flows, r->foreign);
	printf("  pipeline: packets %" PRIu64 "  mixed %" PRIu64 "  missed %" PRIu64
	       "  bad verdicts %" PRIu64 "\n", r->pipe_packets, r->pipe_mixed, r->pipe_missed,
	       r->pipe_bad_verdict);
	if (r->bad_path)
		printf("  last bad path: 0x%" PRIx64 "\n", r->last_path);
	printf("%s\n", ok ? "PASS: every packet sent was seen once, through one generation, "
			    "by every stage" : "FAIL");
}

/* Polls the pipeline counter until the generator's packets arrive. */
static int wait_traffic(int pipe_fd, const struct sluice_pipe_stats *base, pid_t gen)
{
	uint64_t until = now_us() + TRAFFIC_WAIT_MS * 1000ull;
	struct sluice_pipe_stats ps;

	while (now_us() < until) {
		if (pipe_stats_read(pipe_fd, &ps))
			return -EIO;
		if (ps.packets > base->packets + 1000)
			return 0;
		if (!gen_running(gen))
			return -ECHILD;
		usleep(1000);
	}
	return -ETIMEDOUT;
}

static void percentiles(uint64_t *v, long n, uint64_t *p50, uint64_t *p90, uint64_t *p99, uint64_t *max)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	*p50 = pct(v, n, 50);
	if (p90)
		*p90 = pct(v, n, 90);
	*p99 = pct(v, n, 99);
	if (max)
		*max = n ? v[n - 1] : 0;
}

int main(int argc, char **argv)
{
	struct sluice_pipe_stats base, end;
	struct sink_maps sink = { .stats_fd = -1, .flows_fd = -1, .seen_fd = -1 };
	struct samples sm = {};
	struct result r = {};
	struct opts o = {};
	int pipe_fd = -1, gen_fd = -1, ret = 2;
	pid_t gen = -1;
	bool ok;

	if (parse_opts(argc, argv, &o))
		return 2;
	nr_cpus = libbpf_num_possible_cpus();
	if (nr_cpus <= 0) {
		fprintf(stderr, "swapload: cannot count CPUs\n");
		return 2;
	}
	if (o.direct && direct_setup(&o))
		goto out;
	if (sink_maps__open(&o, &sink))
		goto out;
	pipe_fd = map_open(&o, SLUICE_MAP_PIPE_STATS);
	if (pipe_fd < 0)
		goto out;
	if (sink_maps__reset(&sink) || pipe_stats_read(pipe_fd, &base))
		goto out;

	gen = gen_start(o.gen_argv, &gen_fd);
	if (gen < 0) {
		fprintf(stderr, "swapload: starting the generator: %s\n", strerror(-gen));
		goto out;
	}
	ret = wait_traffic(pipe_fd, &base, gen);
	if (ret) {
		fprintf(stderr, "swapload: no traffic reached the pipeline: %s\n", strerror(-ret));
		ret = 2;
		goto out;
	}

	for (long i = 0; i < o.ops || (o.until_end && gen_running(gen)); i++) {
		long n = r.ops_done;
		int err;

		if (samples_grow(&sm, n)) {
			ret = 2;
			goto out;
		}
		if (o.direct)
			err = direct_op(&o, i, &sm.lat[n], &sm.sw[n], &sm.prep[n]);
		else
			err = op_run(&o, i, &sm.lat[n], &sm.live[n], &sm.srv[n]);
		if (err) {
			r.ops_failed++;
			break;
		}
		r.ops_done++;
		if (o.gap_ms)
			usleep(o.gap_ms * 1000);
		/* An operation the generator did not outlast proves nothing. */
		if (gen_running(gen))
			r.ops_traffic++;
	}

	if (o.stop_gen)
		kill(gen, SIGINT);
	ret = gen_finish(gen, gen_fd, &r);
	gen = -1;
	gen_fd = -1;
	if (ret) {
		ret = 2;
		goto out;
	}
	/* Frames still in the veth ring or in a NAPI poll reach the sink now. */
	usleep(o.settle_ms * 1000);
	if (pipe_stats_read(pipe_fd, &end) || sink_read(&sink, &r)) {
		fprintf(stderr, "swapload: reading the counters failed\n");
		ret = 2;
		goto out;
	}
	r.pipe_packets = end.packets - base.packets;
	r.pipe_mixed = end.mixed - base.mixed;
	r.pipe_missed = end.missed - base.missed;
	r.pipe_bad_verdict = end.bad_verdict - base.bad_verdict;

	if (o.lat_file) {
		char path[PATH_MAX], title[128];

		snprintf(title, sizeof(title), "%s%s, %s", mode_name(&o), o.direct ? " (libsluice)" : "",
			 o.direct ? "the call" : "send -> reply");
		ret = samples_write(o.lat_file, title, sm.lat, r.ops_done);
		if (!ret && !o.direct) {
			snprintf(path, sizeof(path), "%s.live", o.lat_file);
			snprintf(title, sizeof(title), "%s, command to live (send -> the switch)", mode_name(&o));
			ret = samples_write(path, title, sm.live, r.ops_done);
		}
		if (!ret && o.direct) {
			snprintf(path, sizeof(path), "%s.switch", o.lat_file);
			snprintf(title, sizeof(title), "%s (libsluice), the switch", mode_name(&o));
			ret = samples_write(path, title, sm.sw, r.ops_done);
		}
		if (ret) {
			ret = 2;
			goto out;
		}
	}
	percentiles(sm.lat, r.ops_done, &r.lat_p50, &r.lat_p90, &r.lat_p99, &r.lat_max);
	percentiles(sm.live, r.ops_done, &r.live_p50, &r.live_p90, &r.live_p99, &r.live_max);
	percentiles(sm.srv, r.ops_done, &r.srv_p50, NULL, &r.srv_p99, NULL);
	percentiles(sm.sw, r.ops_done, &r.sw_p50, NULL, &r.sw_p99, &r.sw_max);
	percentiles(sm.prep, r.ops_done, &r.prep_p50, NULL, &r.prep_p99, NULL);

	ok = result__ok(&r, o.ops);
	result__print(&o, &r, ok);
	ret = ok ? 0 : 1;
out:
	if (gen > 0) {
		kill(gen, SIGINT);
		waitpid(gen, NULL, 0);
	}
	if (gen_fd >= 0)
		close(gen_fd);
	if (pipe_fd >= 0)
		close(pipe_fd);
	sink_maps__close(&sink);
	direct_teardown();
	samples_free(&sm);
	return ret;
}
