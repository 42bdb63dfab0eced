// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Capture mode: with an xsk section, sluiced binds its own AF_XDP sockets
 * (lib/xsk.c) into the capture interface's pinned XSKMAP and drains each in
 * a thread of its own. The pipeline's xsk stage redirects what an ACL rule
 * marked xsk; every frame is counted, its sluice payload checked and its
 * sluice_meta read for the rule that selected it.
 *
 * Each counter has one writer, its queue's thread, and is read by the event
 * loop (xsk.stats) and the metrics thread with relaxed atomics: a reader may
 * see one counter a burst ahead of another, never a torn value.
 *
 * Sockets do not outlive the process: until the next sluiced binds new ones,
 * the xsk stage gives marked frames its fallback verdict, counted.
 */
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <json-c/json.h>
#include <sluice/abi.h>
#include "acl.h"
#include "capture.h"
#include "pkt.h"
#include "sluiced.h"
#include "xsk.h"

/* Descriptors per ring operation, as sluice-xsk's default. */
#define CAPTURE_BATCH		64
/* An idle thread sleeps in poll(); this bounds how long a stop waits for it. */
#define CAPTURE_POLL_MS		100
/* The umem's completion ring: capture never transmits, the ring must exist. */
#define CAPTURE_COMP_RING	64
/* Flows tracked per queue for sequence gaps; more are counted but not tracked. */
#define CAPTURE_FLOWS		256

struct capture_flow {
	bool used;
	__u32 flow;
	__u64 next;		/* one past the highest sequence number seen */
};

struct capture_queue {
	struct capture *cap;
	struct sluice_xsk sock;
	__u32 queue_id;
	pthread_t thread;
	bool started;
	struct capture_queue_stats st;	/* written by the thread only */
	/* meta.rule (ACL position + 1, 0 = none) -> frames; written by the thread only */
	__u64 by_rule[SLUICE_ACL_POSITIONS + 1];
	struct capture_flow flows[CAPTURE_FLOWS];	/* the thread's own */
};

struct capture {
	char ifname[IF_NAMESIZE];
	int nr_queues;
	int stop;		/* atomic: every thread ends */
	struct capture_queue q[];
};

static void bump(__u64 *c, __u64 n)
{
	__atomic_store_n(c, *c + n, __ATOMIC_RELAXED);
}

static __u64 load(const __u64 *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static struct capture_flow *flow_lookup(struct capture_queue *q, __u32 flow)
{
	__u32 h = (flow * 2654435761u) % CAPTURE_FLOWS, i;

	for (i = 0; i < CAPTURE_FLOWS; i++) {
		struct capture_flow *f = &q->flows[(h + i) % CAPTURE_FLOWS];

		if (!f->used) {
			f->used = true;
			f->flow = flow;
			return f;
		}
		if (f->flow == flow)
			return f;
	}
	return NULL;
}

/* Numbers count from the first one seen in each flow: a generator may start anywhere. */
static void frame_payload(struct capture_queue *q, const void *frame, __u32 len)
{
	struct capture_flow *f;
	uint64_t seq;
	uint32_t flow;
	int err;

	err = pkt_check(frame, len, &seq, &flow);
	if (err == -ENOENT) {
		bump(&q->st.no_payload, 1);
		return;
	}
	if (err) {
		bump(&q->st.corrupt, 1);
		return;
	}
	bump(&q->st.valid, 1);
	f = flow_lookup(q, flow);
	if (!f)
		return;
	if (f->next && seq < f->next) {
		bump(&q->st.reordered, 1);
		return;
	}
	if (f->next)
		bump(&q->st.gaps, seq - f->next);
	f->next = seq + 1;
}

static void frame_meta(struct capture_queue *q, void *p)
{
	static const struct sluice_meta none;
	struct sluice_meta m;

	memcpy(&m, p, sizeof(m));
	if (!memcmp(&m, &none, sizeof(m))) {
		bump(&q->st.no_meta, 1);
		return;
	}
	/*
	 * The kernel writes only the metadata a program reserved: clear it so a
	 * later frame in this umem frame without any does not inherit it.
	 */
	memset(p, 0, sizeof(m));
	bump(&q->by_rule[m.rule <= SLUICE_ACL_POSITIONS ? m.rule : 0], 1);
}

static void frame_handle(void *arg, void *frame, __u32 len)
{
	struct capture_queue *q = arg;

	frame_payload(q, frame, len);
	frame_meta(q, (__u8 *)frame - sizeof(struct sluice_meta));
}

/*
 * Drains the rx ring in batches and sleeps in poll() when it is empty: a
 * daemon must not spin a CPU while no traffic is selected.
 */
static void *queue_run(void *arg)
{
	struct capture_queue *q = arg;
	struct pollfd pfd = { .fd = q->sock.fd, .events = POLLIN };
	__u64 bytes;
	__u32 n;

	while (!__atomic_load_n(&q->cap->stop, __ATOMIC_RELAXED)) {
		n = sluice_xsk__rx_burst(&q->sock, CAPTURE_BATCH, frame_handle, q, &bytes);
		if (n) {
			bump(&q->st.packets, n);
			bump(&q->st.bytes, bytes);
			continue;
		}
		sluice_xsk__kick_rx(&q->sock, false);
		poll(&pfd, 1, CAPTURE_POLL_MS);
	}
	return NULL;
}

static int queue_open(struct capture_queue *q, const struct cfg_xsk *cx, int map_fd, char *err,
		      size_t len)
{
	static const enum sluice_xsk_bind bind[] = {
		[CFG_XSK_AUTO] = SLUICE_XSK_AUTO,
		[CFG_XSK_COPY] = SLUICE_XSK_COPY,
		[CFG_XSK_ZEROCOPY] = SLUICE_XSK_ZEROCOPY,
	};
	struct sluice_xsk_opts o = {
		.ifname = cx->interface,
		.queue_id = q->queue_id,
		.rx_size = cx->rx_ring,
		.fill_size = cx->fill_ring,
		.comp_size = CAPTURE_COMP_RING,
		.frames = cx->frames,
		.frame_size = cx->frame_size,
		.bind = bind[cx->mode],
		.need_wakeup = true,
	};
	int ret;

	ret = sluice_xsk__open(&q->sock, &o, err, len);
	if (ret)
		return ret;
	if (q->sock.zc_err)
		log_info("xsk: %s queue %u: no zero-copy (%s), using copy mode", cx->interface,
			 q->queue_id, strerror(-q->sock.zc_err));
	ret = sluice_xsk__update_map(&q->sock, map_fd);
	if (ret)
		snprintf(err, len, "xsk: XSKMAP entry %u of %s: %s", q->queue_id, cx->interface,
			 strerror(-ret));
	return ret;
}

int capture__start(struct daemon *d, struct capture **out, char *err, size_t len)
{
	const struct cfg_xsk *cx = &d->cfg->xsk;
	struct capture *c;
	struct iface *ifc;
	int map_fd, ret, i;

	*out = NULL;
	if (!cx->enabled)
		return 0;
	ifc = daemon__iface(d, cx->interface);
	if (!ifc) {
		snprintf(err, len, "xsk: interface %s runs no pipeline", cx->interface);
		return -ENOENT;
	}
	map_fd = pipeline__map_fd(&ifc->pl, SLUICE_MAP_XSKS);
	if (map_fd < 0) {
		snprintf(err, len, "xsk: %s has no %s (does its pipeline have an xsk stage?): %s",
			 cx->interface, SLUICE_MAP_XSKS, strerror(-map_fd));
		return map_fd;
	}
	ret = sluice_xsk__check_map(map_fd, cx->queues, (int)cx->nr_queues, err, len);
	if (ret)
		goto out_map;
	c = calloc(1, sizeof(*c) + cx->nr_queues * sizeof(c->q[0]));
	if (!c) {
		ret = -ENOMEM;
		snprintf(err, len, "xsk: %s", strerror(-ret));
		goto out_map;
	}
	snprintf(c->ifname, sizeof(c->ifname), "%s", cx->interface);
	for (i = 0; i < (int)cx->nr_queues; i++) {
		struct capture_queue *q = &c->q[i];

		q->cap = c;
		q->queue_id = cx->queues[i];
		q->st.queue_id = q->queue_id;
		/* Counted first: capture__stop() closes a half-opened socket too. */
		c->nr_queues++;
		ret = queue_open(q, cx, map_fd, err, len);
		if (ret)
			goto out_cap;
		q->st.zerocopy = q->sock.zerocopy;
	}
	/* The sockets hold their XSKMAP entries; the pin holds the map. */
	close(map_fd);
	*out = c;
	return 0;

out_cap:
	capture__stop(c);
out_map:
	close(map_fd);
	return ret;
}

/*
 * The receive threads, started apart from the sockets: the sockets need
 * CAP_NET_RAW and CAP_IPC_LOCK, the threads (which read what the network
 * sends) get only what the daemon keeps once it has dropped those.
 */
int capture__run(struct capture *c, char *err, size_t len)
{
	int ret;

	if (!c)
		return 0;
	for (int i = 0; i < c->nr_queues; i++) {
		ret = -pthread_create(&c->q[i].thread, NULL, queue_run, &c->q[i]);
		if (ret) {
			snprintf(err, len, "xsk: thread of queue %u: %s", c->q[i].queue_id,
				 strerror(-ret));
			return ret;
		}
		c->q[i].started = true;
	}
	log_notice("xsk: capturing on %s, %d queue(s), %s mode", c->ifname, c->nr_queues,
		   c->nr_queues && c->q[0].sock.zerocopy ? "zero-copy" : "copy");
	return 0;
}

void capture__stop(struct capture *c)
{
	__u64 total = 0;
	int i;

	if (!c)
		return;
	__atomic_store_n(&c->stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < c->nr_queues; i++)
		if (c->q[i].started)
			pthread_join(c->q[i].thread, NULL);
	/* After the threads: closing removes the entry, the xsk stage then falls back. */
	for (i = 0; i < c->nr_queues; i++) {
		total += c->q[i].st.packets;
		sluice_xsk__close(&c->q[i].sock);
	}
	log_notice("xsk: %d queue thread(s) joined, sockets on %s closed after %llu frames",
		   c->nr_queues, c->ifname, (unsigned long long)total);
	free(c);
}

const char *capture__ifname(const struct capture *c)
{
	return c->ifname;
}

int capture__nr_queues(const struct capture *c)
{
	return c ? c->nr_queues : 0;
}

int capture__queue_stats(const struct capture *c, int i, struct capture_queue_stats *st)
{
	const struct capture_queue *q;

	if (i < 0 || i >= c->nr_queues)
		return -ERANGE;
	q = &c->q[i];
	st->queue_id = q->queue_id;
	st->zerocopy = q->st.zerocopy;
	st->packets = load(&q->st.packets);
	st->bytes = load(&q->st.bytes);
	st->valid = load(&q->st.valid);
	st->no_payload = load(&q->st.no_payload);
	st->corrupt = load(&q->st.corrupt);
	st->gaps = load(&q->st.gaps);
	st->reordered = load(&q->st.reordered);
	st->no_meta = load(&q->st.no_meta);
	return sluice_xsk__stats(&q->sock, &st->xdp);
}

static void add_u64(struct json_object *o, const char *k, __u64 v)
{
	json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

/* One walk for a queue and for the total, so both carry the same names. */
static void counters_json(struct json_object *o, const struct capture_queue_stats *s)
{
	struct json_object *x = json_object_new_object();

	add_u64(o, "packets", s->packets);
	add_u64(o, "bytes", s->bytes);
	add_u64(o, "valid", s->valid);
	add_u64(o, "no_payload", s->no_payload);
	add_u64(o, "corrupt", s->corrupt);
	add_u64(o, "gaps", s->gaps);
	add_u64(o, "reordered", s->reordered);
	add_u64(o, "no_meta", s->no_meta);
	add_u64(x, "rx_dropped", s->xdp.rx_dropped);
	add_u64(x, "rx_invalid_descs", s->xdp.rx_invalid_descs);
	add_u64(x, "rx_ring_full", s->xdp.rx_ring_full);
	add_u64(x, "rx_fill_ring_empty_descs", s->xdp.rx_fill_ring_empty_descs);
	json_object_object_add(o, "xdp", x);
}

static void stats_sum(struct capture_queue_stats *t, const struct capture_queue_stats *s)
{
	t->packets += s->packets;
	t->bytes += s->bytes;
	t->valid += s->valid;
	t->no_payload += s->no_payload;
	t->corrupt += s->corrupt;
	t->gaps += s->gaps;
	t->reordered += s->reordered;
	t->no_meta += s->no_meta;
	t->xdp.rx_dropped += s->xdp.rx_dropped;
	t->xdp.rx_invalid_descs += s->xdp.rx_invalid_descs;
	t->xdp.rx_ring_full += s->xdp.rx_ring_full;
	t->xdp.rx_fill_ring_empty_descs += s->xdp.rx_fill_ring_empty_descs;
}

/*
 * meta.rule is a position in the live rule array, not an id: resolved
 * through the pinned sluice_acl_rules now, so frames counted before a rule
 * set edit moved the rules may name the rule now at their position.
 */
static struct json_object *by_rule_json(const __u64 *n, int rules_fd)
{
	struct json_object *a = json_object_new_array(), *e;
	struct sluice_acl_rule r;
	__u32 pos;

	for (__u32 i = 0; i <= SLUICE_ACL_POSITIONS; i++) {
		if (!n[i])
			continue;
		e = json_object_new_object();
		add_u64(e, "rule", i);
		pos = i - 1;
		if (i && rules_fd >= 0 && !bpf_map_lookup_elem(rules_fd, &pos, &r))
			add_u64(e, "id", r.id);
		else
			json_object_object_add(e, "id", NULL);
		add_u64(e, "packets", n[i]);
		json_object_array_add(a, e);
	}
	return a;
}

struct json_object *capture__json(struct daemon *d, const struct capture *c)
{
	struct json_object *o = json_object_new_object(), *qs = json_object_new_array(), *e;
	struct capture_queue_stats s, t = {};
	struct iface *ifc = daemon__iface(d, c->ifname);
	int rules_fd = ifc ? pipeline__map_fd(&ifc->pl, ACL_MAP_RULES) : -1;
	__u64 *rules = calloc(SLUICE_ACL_POSITIONS + 1, sizeof(*rules)), *qr;

	json_object_object_add(o, "interface", json_object_new_string(c->ifname));
	for (int i = 0; i < c->nr_queues; i++) {
		/* A socket whose counters cannot be read shows zeros, not a failed reply. */
		memset(&s, 0, sizeof(s));
		capture__queue_stats(c, i, &s);
		e = json_object_new_object();
		add_u64(e, "queue", s.queue_id);
		json_object_object_add(e, "xdp_mode",
				       json_object_new_string(s.zerocopy ? "zerocopy" : "copy"));
		counters_json(e, &s);
		qr = calloc(SLUICE_ACL_POSITIONS + 1, sizeof(*qr));
		for (__u32 k = 0; qr && k <= SLUICE_ACL_POSITIONS; k++) {
			qr[k] = load(&c->q[i].by_rule[k]);
			if (rules)
				rules[k] += qr[k];
		}
		if (qr)
			json_object_object_add(e, "by_rule", by_rule_json(qr, rules_fd));
		free(qr);
		json_object_array_add(qs, e);
		stats_sum(&t, &s);
	}
	json_object_object_add(o, "queues", qs);
	e = json_object_new_object();
	counters_json(e, &t);
	if (rules)
		json_object_object_add(e, "by_rule", by_rule_json(rules, rules_fd));
	json_object_object_add(o, "total", e);
	free(rules);
	if (rules_fd >= 0)
		close(rules_fd);
	return o;
}
