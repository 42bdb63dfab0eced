// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What the entry records and times, on the daemon's side: each interface's
 * sluice_anomalies ring buffer drained in the event loop into the last N
 * records (counted by reason and slot for metrics), the record and
 * time_sample knobs of the switch map, and the per-stage time histograms.
 * Logs are kept by interface name, not in struct iface, so that the
 * interface array may move under them (`down`).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>
#include "sluiced.h"

struct anomaly_rec {
	uint64_t seq;		/* 1, 2, ... per interface, in arrival order */
	int64_t time_ns;	/* CLOCK_REALTIME of the record's ts_ns */
	char stage[SLUICE_NAME_LEN];	/* name of the stage at the record's slot, then */
	struct sluice_anomaly a;
};

struct anomaly_log {
	char ifname[IF_NAMESIZE];
	struct daemon *d;
	struct ring_buffer *rb;
	int map_fd;
	struct anomaly_rec *v;	/* keep entries, a ring: seq s lives at (s - 1) % keep */
	size_t keep;
	uint64_t seq;		/* records received; the newest has this seq */
	uint64_t first;		/* the oldest held: v holds first..seq */
	uint64_t bad;		/* records of a size this daemon does not know */
	uint64_t count[OBSERVE_NR_REASONS][OBSERVE_NR_SLOTS];
	bool live;		/* still named by an interface: sync's mark */
};

struct observe {
	struct anomaly_log **logs;
	size_t n;
};

static const char *const reason_names[OBSERVE_NR_REASONS] = {
	[0] = "unknown",
	[SLUICE_AN_ABORTED] = "aborted",
	[SLUICE_AN_MISSED] = "missed",
	[SLUICE_AN_MIXED] = "mixed",
	[SLUICE_AN_BAD_VERDICT] = "bad_verdict",
	[SLUICE_AN_SAMPLE] = "sample",
};

const char *observe__reason_name(int reason)
{
	return reason >= 0 && reason < OBSERVE_NR_REASONS && reason_names[reason] ? reason_names[reason]
										   : "unknown";
}

/* The name of the stage at slot of bank, as the pipeline has it now; "" if none. */
const char *observe__stage_name(const struct pipeline *pl, int bank, int slot)
{
	if (slot < 0 || slot >= SLUICE_MAX_STAGES)
		return "";
	if (bank < 0 || bank == pl->bank)
		return slot < pl->nr_stages && pl->src ? pl->src[slot].name : "";
	if (bank < SLUICE_NR_BANKS && pl->banks[bank].state != SLUICE_BANK_FREE && pl->banks[bank].src &&
	    slot < pl->banks[bank].nr_stages)
		return pl->banks[bank].src[slot].name;
	return "";
}

static int64_t realtime_of(uint64_t mono_ns)
{
	struct timespec rt, mono;

	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	return (int64_t)mono_ns + ((int64_t)rt.tv_sec - (int64_t)mono.tv_sec) * 1000000000 +
	       ((int64_t)rt.tv_nsec - (int64_t)mono.tv_nsec);
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct anomaly_log *log = ctx;
	struct anomaly_rec *r;
	struct iface *ifc;
	int slot;

	if (size < sizeof(struct sluice_anomaly)) {
		log->bad++;
		return 0;
	}
	r = &log->v[log->seq % log->keep];
	memset(r, 0, sizeof(*r));
	memcpy(&r->a, data, sizeof(r->a));
	if (r->a.caplen > SLUICE_ANOMALY_SNAP)
		r->a.caplen = SLUICE_ANOMALY_SNAP;
	r->seq = ++log->seq;
	if (log->seq - log->first + 1 > log->keep)
		log->first = log->seq - log->keep + 1;
	r->time_ns = realtime_of(r->a.ts_ns);
	ifc = daemon__iface(log->d, log->ifname);
	if (ifc)
		snprintf(r->stage, sizeof(r->stage), "%s",
			 observe__stage_name(&ifc->pl, r->a.bank, r->a.slot));
	slot = r->a.slot < SLUICE_MAX_STAGES ? r->a.slot : SLUICE_MAX_STAGES;
	log->count[r->a.reason < OBSERVE_NR_REASONS ? r->a.reason : 0][slot]++;
	return 0;
}

static void on_ready(struct daemon *d, void *ctx)
{
	struct anomaly_log *log = ctx;

	ring_buffer__consume(log->rb);
}

static void log_free(struct daemon *d, struct anomaly_log *log)
{
	if (!log)
		return;
	if (log->rb) {
		events__del(d, ring_buffer__epoll_fd(log->rb));
		ring_buffer__free(log->rb);
	}
	if (log->map_fd >= 0)
		close(log->map_fd);
	free(log->v);
	free(log);
}

static struct anomaly_log *log_find(struct observe *o, const char *ifname)
{
	for (size_t i = 0; o && i < o->n; i++)
		if (!strcmp(o->logs[i]->ifname, ifname))
			return o->logs[i];
	return NULL;
}

/* Keeps the newest records when keep changes. */
static int log_resize(struct anomaly_log *log, size_t keep)
{
	struct anomaly_rec *v;

	if (keep == log->keep)
		return 0;
	v = calloc(keep, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (!log->first)
		log->first = 1;
	if (log->seq >= keep && log->seq - keep + 1 > log->first)
		log->first = log->seq - keep + 1;
	for (uint64_t s = log->first; log->v && s <= log->seq; s++)
		v[(s - 1) % keep] = log->v[(s - 1) % log->keep];
	free(log->v);
	log->v = v;
	log->keep = keep;
	return 0;
}

static int log_open(struct daemon *d, struct iface *ifc, struct anomaly_log **out)
{
	struct anomaly_log *log = calloc(1, sizeof(*log));
	int ret;

	if (!log)
		return -ENOMEM;
	snprintf(log->ifname, sizeof(log->ifname), "%s", ifc->pl.ifname);
	log->d = d;
	log->map_fd = pipeline__map_fd(&ifc->pl, SLUICE_MAP_ANOMALIES);
	if (log->map_fd < 0) {
		ret = log->map_fd;
		goto err;
	}
	ret = log_resize(log, ifc->cfg ? ifc->cfg->observe.keep : CONFIG_OBSERVE_KEEP);
	if (ret)
		goto err;
	log->rb = ring_buffer__new(log->map_fd, on_record, log, NULL);
	if (!log->rb) {
		ret = -errno;
		goto err;
	}
	ret = events__add(d, ring_buffer__epoll_fd(log->rb), on_ready, log);
	if (ret)
		goto err;
	/* What the entry recorded while no daemon was reading. */
	ring_buffer__consume(log->rb);
	*out = log;
	return 0;
err:
	if (log->rb) {
		ring_buffer__free(log->rb);
		log->rb = NULL;
	}
	log_free(d, log);
	return ret;
}

int observe__sync(struct daemon *d)
{
	struct observe *o = d->observe;
	int ret = 0;

	if (!o) {
		o = calloc(1, sizeof(*o));
		if (!o)
			return -ENOMEM;
		d->observe = o;
	}
	for (size_t i = 0; i < o->n; i++)
		o->logs[i]->live = false;
	for (size_t i = 0; i < d->nr_ifs; i++) {
		struct iface *ifc = &d->ifs[i];
		struct anomaly_log *log = log_find(o, ifc->pl.ifname), **v;
		int err;

		if (log) {
			log->live = true;
			if (ifc->cfg && log_resize(log, ifc->cfg->observe.keep))
				ret = -ENOMEM;
			continue;
		}
		err = log_open(d, ifc, &log);
		if (err) {
			log_warn("%s: anomaly recorder: cannot read %s: %s", ifc->pl.ifname,
				 SLUICE_MAP_ANOMALIES, strerror(-err));
			ret = ret ? ret : err;
			continue;
		}
		v = realloc(o->logs, (o->n + 1) * sizeof(*v));
		if (!v) {
			log_free(d, log);
			ret = -ENOMEM;
			continue;
		}
		o->logs = v;
		log->live = true;
		o->logs[o->n++] = log;
	}
	for (size_t i = o->n; i-- > 0;) {
		if (o->logs[i]->live)
			continue;
		log_free(d, o->logs[i]);
		o->logs[i] = o->logs[--o->n];
	}
	return ret;
}

void observe__free(struct daemon *d)
{
	struct observe *o = d->observe;

	if (!o)
		return;
	for (size_t i = 0; i < o->n; i++)
		log_free(d, o->logs[i]);
	free(o->logs);
	free(o);
	d->observe = NULL;
}

/* ---- knobs ---- */

static int shift_of(uint32_t every)
{
	int s = 0;

	while (every > 1) {
		every >>= 1;
		s++;
	}
	return s;
}

int observe__set(struct iface *ifc, int record, int64_t time_sample)
{
	int shift = -1;

	if (time_sample == 0)
		shift = 0;
	else if (time_sample > 0)
		shift = shift_of((uint32_t)time_sample);
	return pipeline__set_knobs(&ifc->pl, shift, -1, record);
}

void observe__get(const struct iface *ifc, bool *record, uint64_t *time_sample)
{
	const struct sluice_switch *sw = ifc->pl.sw;
	uint8_t shift;

	*record = sw && __atomic_load_n(&sw->record, __ATOMIC_RELAXED);
	shift = sw ? __atomic_load_n(&sw->time_shift, __ATOMIC_RELAXED) : 0;
	*time_sample = shift ? 1ull << (shift & 63) : 0;
}

int observe__apply_cfg(struct daemon *d)
{
	int ret = 0;

	for (size_t i = 0; i < d->nr_ifs; i++) {
		struct iface *ifc = &d->ifs[i];
		int err;

		if (!ifc->cfg)
			continue;
		err = observe__set(ifc, ifc->cfg->observe.record, ifc->cfg->observe.time_sample);
		if (err) {
			log_warn("%s: observe: cannot set the recorder and timing knobs: %s",
				 ifc->pl.ifname, strerror(-err));
			ret = ret ? ret : err;
		}
	}
	return ret;
}

void observe__reloaded(struct daemon *d, bool ok)
{
	metrics__config_loaded(d->config_path, ok, true);
	if (!ok)
		return;
	observe__apply_cfg(d);
	observe__sync(d);
}

/* ---- stage time ---- */

_Static_assert(sizeof(struct sluice_stage_time) % sizeof(__u64) == 0, "stage time: u64 counters only");

int observe__stage_time(const struct pipeline *pl, struct sluice_stage_time *t)
{
	return pipeline__percpu_sum(pl, SLUICE_MAP_STAGE_TIME, (uint64_t *)t, OBSERVE_NR_TIMES,
				    sizeof(*t) / sizeof(__u64));
}

/* ---- reading, for metrics and the control ops ---- */

int observe__counts(struct daemon *d, const char *ifname,
		    const uint64_t **count /* [OBSERVE_NR_REASONS][OBSERVE_NR_SLOTS] */)
{
	struct anomaly_log *log = log_find(d->observe, ifname);

	if (!log)
		return -ENOENT;
	ring_buffer__consume(log->rb);
	*count = &log->count[0][0];
	return 0;
}

static void add_int(struct json_object *o, const char *k, int64_t v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

static struct json_object *rec_json(const struct anomaly_rec *r)
{
	static const char hex[] = "0123456789abcdef";
	struct json_object *o = json_object_new_object();
	char data[2 * SLUICE_ANOMALY_SNAP + 1];
	const char *verdict = xdp_verdict_name(r->a.verdict);

	for (int i = 0; i < r->a.caplen; i++) {
		data[2 * i] = hex[r->a.data[i] >> 4];
		data[2 * i + 1] = hex[r->a.data[i] & 15];
	}
	data[2 * r->a.caplen] = '\0';
	add_int(o, "seq", (int64_t)r->seq);
	add_int(o, "time_ns", r->time_ns);
	json_object_object_add(o, "reason", json_object_new_string(observe__reason_name(r->a.reason)));
	add_int(o, "slot", r->a.slot < SLUICE_MAX_STAGES ? r->a.slot : -1);
	json_object_object_add(o, "stage", json_object_new_string(r->stage));
	add_int(o, "bank", r->a.bank);
	add_int(o, "gen", r->a.gen);
	add_int(o, "gen_other", r->a.gen_other);
	json_object_object_add(o, "verdict", json_object_new_string(verdict ? verdict : "?"));
	add_int(o, "flags", r->a.flags);
	add_int(o, "path", r->a.path);
	add_int(o, "rx_queue", r->a.rx_queue);
	add_int(o, "len", r->a.len);
	add_int(o, "caplen", r->a.caplen);
	json_object_object_add(o, "data", json_object_new_string(data));
	return o;
}

struct json_object *observe__anomalies_json(struct daemon *d, const char *ifname, uint64_t after,
					    size_t limit)
{
	struct anomaly_log *log = log_find(d->observe, ifname);
	struct json_object *o, *a;
	uint64_t first, s;

	if (!log)
		return NULL;
	ring_buffer__consume(log->rb);
	first = log->first;
	o = json_object_new_object();
	a = json_object_new_array();
	s = after + 1 > first ? after + 1 : first;
	for (; s <= log->seq && limit; s++, limit--)
		json_object_array_add(a, rec_json(&log->v[(s - 1) % log->keep]));
	json_object_object_add(o, "records", a);
	/* Where the next request starts; lost: records that went before they were read. */
	add_int(o, "next", (int64_t)(s - 1 > after ? s - 1 : after));
	add_int(o, "first", (int64_t)first);
	add_int(o, "total", (int64_t)log->seq);
	add_int(o, "lost", (int64_t)(first > after + 1 ? first - after - 1 : 0));
	add_int(o, "keep", (int64_t)log->keep);
	return o;
}

/* ---- control ops ---- */

static struct json_object *ok_reply(void)
{
	struct json_object *r = json_object_new_object();

	json_object_object_add(r, "ok", json_object_new_boolean(1));
	return r;
}

static struct json_object *err_reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static struct json_object *err_reply(const char *fmt, ...)
{
	struct json_object *r = json_object_new_object();
	char msg[512];
	va_list ap;

	json_object_object_add(r, "ok", json_object_new_boolean(0));
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(r, "error", json_object_new_string(msg));
	return r;
}

static struct iface *req_iface(struct daemon *d, struct json_object *req, struct json_object **r)
{
	struct json_object *v;
	const char *name = json_object_object_get_ex(req, "iface", &v) &&
			   json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
	struct iface *ifc = name ? daemon__iface(d, name) : NULL;

	if (!name)
		*r = err_reply("'iface' is required");
	else if (!ifc)
		*r = err_reply("no interface '%s' in the configuration", name);
	return ifc;
}

/* An optional non-negative integer argument; false (with *r set) when it is something else. */
static bool req_u64(struct json_object *req, const char *key, uint64_t *out, struct json_object **r)
{
	struct json_object *v;

	if (!json_object_object_get_ex(req, key, &v))
		return true;
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0) {
		*r = err_reply("'%s' must be a non-negative integer", key);
		return false;
	}
	*out = (uint64_t)json_object_get_int64(v);
	return true;
}

#define ANOMALIES_LIMIT	4096	/* records in one reply: about 2.5 MB of JSON at most */

struct json_object *observe__op_anomalies(struct daemon *d, struct json_object *req, uid_t uid)
{
	struct json_object *r = NULL, *body;
	uint64_t after = 0, limit = 1024;
	struct iface *ifc = req_iface(d, req, &r);
	bool record;
	uint64_t every;

	if (!ifc)
		return r;
	if (!req_u64(req, "after", &after, &r) || !req_u64(req, "limit", &limit, &r))
		return r;
	if (!limit || limit > ANOMALIES_LIMIT)
		limit = ANOMALIES_LIMIT;
	body = observe__anomalies_json(d, ifc->pl.ifname, after, (size_t)limit);
	if (!body)
		return err_reply("%s: the anomaly recorder's ring buffer could not be opened",
			     ifc->pl.ifname);
	r = ok_reply();
	json_object_object_add(r, "iface", json_object_new_string(ifc->pl.ifname));
	observe__get(ifc, &record, &every);
	json_object_object_add(r, "record", json_object_new_boolean(record));
	json_object_object_foreach(body, k, v)
		json_object_object_add(r, k, json_object_get(v));
	json_object_put(body);
	return r;
}

struct json_object *observe__op_observe(struct daemon *d, struct json_object *req, uid_t uid)
{
	struct json_object *r = NULL, *v;
	struct iface *ifc = req_iface(d, req, &r);
	uint64_t every = UINT64_MAX;
	int record = -1, ret;
	bool rec;

	if (!ifc)
		return r;
	if (json_object_object_get_ex(req, "record", &v)) {
		if (!json_object_is_type(v, json_type_boolean))
			return err_reply("'record' must be true or false");
		record = json_object_get_boolean(v);
	}
	if (!req_u64(req, "time_sample", &every, &r))
		return r;
	if (every != UINT64_MAX && every && (every < 2 || every > (1u << 30) || (every & (every - 1))))
		return err_reply("time_sample %llu: time 1 packet in a power of two from 2 to %u, or 0 "
			     "for off", (unsigned long long)every, 1u << 30);
	ret = observe__set(ifc, record, every == UINT64_MAX ? -1 : (int64_t)every);
	if (ret)
		return err_reply("%s: %s", ifc->pl.ifname, strerror(-ret));
	observe__get(ifc, &rec, &every);
	if (record >= 0 || json_object_object_get_ex(req, "time_sample", NULL)) {
		char timing[48] = "off";

		if (every)
			snprintf(timing, sizeof(timing), "1 packet in %llu", (unsigned long long)every);
		log_notice("%s: anomaly recorder %s, stage timing %s", ifc->pl.ifname, rec ? "on" : "off",
			   timing);
	}
	r = ok_reply();
	json_object_object_add(r, "iface", json_object_new_string(ifc->pl.ifname));
	json_object_object_add(r, "record", json_object_new_boolean(rec));
	json_object_object_add(r, "time_sample", json_object_new_int64((int64_t)every));
	return r;
}

static struct json_object *time_json(const struct sluice_stage_time *t)
{
	struct json_object *o = json_object_new_object(), *a = json_object_new_array();

	add_int(o, "count", (int64_t)t->count);
	add_int(o, "sum_ns", (int64_t)t->sum_ns);
	for (int b = 0; b < SLUICE_TIME_BUCKETS; b++)
		json_object_array_add(a, json_object_new_int64((int64_t)t->bucket[b]));
	json_object_object_add(o, "buckets", a);
	return o;
}

struct json_object *observe__stats_json(struct daemon *d, const struct iface *ifc)
{
	struct sluice_stage_time t[OBSERVE_NR_TIMES];
	struct json_object *o = json_object_new_object(), *a;
	struct anomaly_log *log = log_find(d->observe, ifc->pl.ifname);
	uint64_t every;
	bool record;

	observe__get(ifc, &record, &every);
	json_object_object_add(o, "record", json_object_new_boolean(record));
	add_int(o, "time_sample", (int64_t)every);
	if (log)
		ring_buffer__consume(log->rb);
	add_int(o, "anomalies", log ? (int64_t)log->seq : 0);
	if (observe__stage_time(&ifc->pl, t))
		return o;
	json_object_object_add(o, "entry_time", time_json(&t[SLUICE_MAX_STAGES]));
	a = json_object_new_array();
	for (int i = 0; i < ifc->pl.nr_stages; i++) {
		struct json_object *s = time_json(&t[i]);

		add_int(s, "slot", i);
		json_object_object_add(s, "name", json_object_new_string(ifc->pl.src[i].name));
		json_object_array_add(a, s);
	}
	json_object_object_add(o, "stage_time", a);
	return o;
}
