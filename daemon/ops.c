// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The control requests (docs/control.md): each takes the request object and
 * returns a reply object. Only these functions change a running pipeline, so
 * requests are serialised by the event loop that calls them.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include "acl.h"
#include "ctl.h"
#include "pcap_read.h"
#include "trust.h"
#include "sluiced.h"

#define PCAP_MAX_PACKETS	4096

static struct json_object *reply_ok(void)
{
	struct json_object *r = json_object_new_object();

	json_object_object_add(r, "ok", json_object_new_boolean(1));
	return r;
}

static struct json_object *reply_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static struct json_object *reply_err(const char *fmt, ...)
{
	struct json_object *r = json_object_new_object();
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(r, "ok", json_object_new_boolean(0));
	json_object_object_add(r, "error", json_object_new_string(msg));
	return r;
}

static const char *str_arg(struct json_object *req, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(req, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static void add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v ? v : ""));
}

static void add_int(struct json_object *o, const char *k, int64_t v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

static struct json_object *verdicts_json(const __u64 *v)
{
	struct json_object *o = json_object_new_object();

	for (int i = 0; i < SLUICE_NR_VERDICTS; i++)
		add_int(o, xdp_verdict_name(i), (int64_t)v[i]);
	return o;
}

static struct json_object *stage_json(const struct iface *ifc, int i)
{
	const struct pipeline *pl = &ifc->pl;
	struct json_object *s = json_object_new_object();
	struct json_object *params = json_object_new_object();

	add_int(s, "slot", i);
	add_str(s, "name", pl->src[i].name);
	add_str(s, "object", pl->src[i].object);
	add_str(s, "program", pl->src[i].program);
	add_int(s, "prog_id", pl->live[i].prog_id);
	add_str(s, "tag", pl->live[i].tag);
	add_int(s, "ver", pl->live[i].ver);
	add_int(s, "prev_prog_id", pl->prev[i].fd >= 0 ? pl->prev[i].prog_id : 0);
	for (int p = 0; p < pl->src[i].nr_params; p++)
		add_int(params, pl->src[i].params[p].name, pl->src[i].params[p].value);
	json_object_object_add(s, "params", params);
	return s;
}

static struct json_object *iface_json(const struct iface *ifc)
{
	const struct pipeline *pl = &ifc->pl;
	struct json_object *o = json_object_new_object();
	struct json_object *stages = json_object_new_array();

	add_str(o, "name", pl->ifname);
	add_int(o, "ifindex", pl->ifindex);
	add_str(o, "pipeline", ifc->cfg && ifc->cfg->pipe ? ifc->cfg->pipe->name : "");
	add_str(o, "mode", pl->native ? "native" : "generic");
	add_str(o, "attach", pl->how == SLUICE_ATTACH_LIBXDP ? "libxdp" : "link");
	add_int(o, "link_id", pl->link_id);
	add_int(o, "gen", pl->gen);
	add_int(o, "entry_prog_id", pl->entry.prog_id);
	add_str(o, "default_verdict", xdp_verdict_name(pl->default_verdict));
	for (int i = 0; i < pl->nr_stages; i++)
		json_object_array_add(stages, stage_json(ifc, i));
	json_object_object_add(o, "stages", stages);
	return o;
}

static struct json_object *ifaces_json(struct daemon *d, const char *only)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < d->nr_ifs; i++)
		if (!only || !strcmp(only, d->ifs[i].pl.ifname))
			json_object_array_add(a, iface_json(&d->ifs[i]));
	return a;
}

static struct json_object *op_status(struct daemon *d, struct json_object *req, uid_t uid)
{
	struct json_object *r = reply_ok();

	add_str(r, "version", SLUICE_VERSION);
	add_int(r, "pid", getpid());
	add_int(r, "uptime_s", (int64_t)((ctl__now_ms() - d->start_ms) / 1000));
	add_str(r, "config", d->config_path);
	add_int(r, "swaps", (int64_t)d->swaps);
	json_object_object_add(r, "interfaces", ifaces_json(d, NULL));
	return r;
}

static struct json_object *op_stage_list(struct daemon *d, struct json_object *req, uid_t uid)
{
	const char *name = str_arg(req, "iface");
	struct json_object *r;

	if (name && !daemon__iface(d, name))
		return reply_err("no interface '%s' in the configuration", name);
	r = reply_ok();
	json_object_object_add(r, "interfaces", ifaces_json(d, name));
	return r;
}

/* Looks up iface and stage arguments; on failure *reply holds the error. */
static struct iface *find_stage(struct daemon *d, struct json_object *req, int *idx,
				struct json_object **reply)
{
	const char *name = str_arg(req, "iface"), *stage = str_arg(req, "stage");
	struct iface *ifc;

	if (!name || !stage) {
		*reply = reply_err("'iface' and 'stage' are required");
		return NULL;
	}
	ifc = daemon__iface(d, name);
	if (!ifc) {
		*reply = reply_err("no interface '%s' in the configuration", name);
		return NULL;
	}
	*idx = pipeline__find_stage(&ifc->pl, stage);
	if (*idx < 0) {
		*reply = reply_err("%s: no stage '%s' in pipeline '%s'", name, stage,
				   ifc->cfg->pipe->name);
		return NULL;
	}
	return ifc;
}

static struct json_object *slot_stats_json(const struct sluice_slot_stats *s)
{
	struct json_object *o = json_object_new_object();

	add_int(o, "packets", (int64_t)s->packets);
	add_int(o, "bytes", (int64_t)s->bytes);
	add_int(o, "missed", (int64_t)s->missed);
	json_object_object_add(o, "verdicts", verdicts_json(s->verdict));
	return o;
}

static struct json_object *op_stage_show(struct daemon *d, struct json_object *req, uid_t uid)
{
	struct sluice_slot_stats slots[SLUICE_MAX_STAGES];
	struct sluice_pipe_stats ps;
	struct json_object *r = NULL;
	struct iface *ifc;
	int idx;

	ifc = find_stage(d, req, &idx, &r);
	if (!ifc)
		return r;
	if (pipeline__stats(&ifc->pl, &ps, slots))
		memset(slots, 0, sizeof(slots));
	r = reply_ok();
	json_object_object_add(r, "stage", stage_json(ifc, idx));
	json_object_object_add(r, "stats", slot_stats_json(&slots[idx]));
	return r;
}

static struct trust_peer trust_peer_of(const struct daemon *d)
{
	struct trust_peer p = { .uid = 0 };

	if (d->peer)
		p = (struct trust_peer){ d->peer->uid, d->peer->gid, d->peer->groups, d->peer->nr_groups };
	return p;
}

/* Fills src from a request's object/program/params over the current source. */
static int src_from_req(const struct daemon *d, const struct stage_src *cur, struct json_object *req,
			struct stage_src *src, char *err, size_t len)
{
	struct trust_peer peer = trust_peer_of(d);
	const char *object = str_arg(req, "object"), *program = str_arg(req, "program");
	struct json_object *params;

	if (!object) {
		snprintf(err, len, "'object' is required");
		return -EINVAL;
	}
	if (object[0] != '/' && !stage_src__is_builtin(object)) {
		snprintf(err, len, "object '%s' is neither a built-in stage nor an absolute path", object);
		return -EINVAL;
	}
	/* As the client could read it, under the trust policy: the refusal names the rule. */
	if (object[0] == '/' && trust__check(object, TRUST_OBJECT, &peer, err, len))
		return -EPERM;
	*src = *cur;
	/* The parameters belong to the code they were written for. */
	if (strcmp(cur->object, object))
		src->nr_params = 0;
	snprintf(src->object, sizeof(src->object), "%s", object);
	snprintf(src->program, sizeof(src->program), "%s", program ? program : "");
	if (json_object_object_get_ex(req, "params", &params)) {
		if (!json_object_is_type(params, json_type_object)) {
			snprintf(err, len, "'params' must be an object of integers");
			return -EINVAL;
		}
		src->nr_params = 0;
		json_object_object_foreach(params, k, v) {
			if (!json_object_is_type(v, json_type_int)) {
				snprintf(err, len, "parameter '%s' must be an integer", k);
				return -EINVAL;
			}
			/* A built-in's parameters are known here: never cut to 32 bits at load. */
			if (config__builtin_param_check(src->object, k, json_object_get_int64(v), err, len))
				return -EINVAL;
			if (stage_src__set_param(src, k, json_object_get_int64(v))) {
				snprintf(err, len, "too many parameters");
				return -E2BIG;
			}
		}
	}
	return 0;
}

/* Packets of a pcap file as pre-flight packets that must all get one verdict. */
static int pcap_preflight(const struct daemon *d, const char *path, int expect,
			  struct preflight_pkt **pf, size_t *n, char *err, size_t len)
{
	struct trust_peer peer = trust_peer_of(d);
	struct frame *frames;
	struct preflight_pkt *v;
	size_t nf;
	int ret;

	ret = pcap__read_frames(path, &peer, PCAP_MAX_PACKETS, &frames, &nf, err, len);
	if (ret)
		return ret;
	v = realloc(*pf, (*n + nf + 1) * sizeof(*v));
	if (!v) {
		frames__free(frames, nf);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nf; i++) {
		/* The frame buffers move into the pre-flight list. */
		v[*n + i].frame = frames[i].data;
		v[*n + i].len = frames[i].len;
		v[*n + i].expect = expect;
	}
	*pf = v;
	*n += nf;
	free(frames);
	return 0;
}

static struct json_object *history_entry(struct iface *ifc, const char *op, uid_t uid,
					 struct json_object *stages, struct json_object *old,
					 struct json_object *new, uint64_t us, const char *error)
{
	struct json_object *e = json_object_new_object();

	add_int(e, "time", (int64_t)time(NULL));
	add_int(e, "uid", (int64_t)uid);
	add_str(e, "op", op);
	add_str(e, "iface", ifc->pl.ifname);
	json_object_object_add(e, "stages", stages);
	json_object_object_add(e, "old", old);
	json_object_object_add(e, "new", new);
	add_int(e, "duration_us", (int64_t)us);
	add_str(e, "result", error ? "failed" : "ok");
	if (error)
		add_str(e, "error", error);
	return e;
}

static struct json_object *prog_ref(const struct stage_inst *s)
{
	struct json_object *o = json_object_new_object();

	add_int(o, "prog_id", s->prog_id);
	add_str(o, "tag", s->tag);
	return o;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void watch_start(struct iface *ifc, int idx)
{
	const struct cfg_stage *cs = iface__cfg_stage(ifc, ifc->pl.src[idx].name);
	struct sluice_slot_stats slots[SLUICE_MAX_STAGES];
	struct rollback_watch *w = &ifc->watch[idx];

	w->active = false;
	if (!cs || !cs->auto_rollback.enabled)
		return;
	if (pipeline__stats(&ifc->pl, &w->base, slots))
		return;
	w->base_slot = slots[idx];
	w->policy = cs->auto_rollback;
	w->idx = idx;
	w->until_ms = ctl__now_ms() + cs->auto_rollback.window_ms;
	w->active = true;
}

static struct json_object *op_stage_swap(struct daemon *d, struct json_object *req, uid_t uid)
{
	const char *pcap = str_arg(req, "pcap"), *expect = str_arg(req, "expect");
	struct json_object *r = NULL, *force, *stages, *old, *new;
	struct pipeline_err perr = {};
	struct preflight_pkt *pf = NULL;
	struct stage_inst before;
	struct stage_src src;
	struct iface *ifc;
	size_t nr_pf = 0;
	uint64_t t0;
	char err[512];
	int idx, ret, ev = XDP_PASS;

	ifc = find_stage(d, req, &idx, &r);
	if (!ifc)
		return r;
	if (src_from_req(d, &ifc->pl.src[idx], req, &src, err, sizeof(err)))
		return reply_err("%s", err);
	if (!json_object_object_get_ex(req, "force", &force) || !json_object_get_boolean(force)) {
		const char *name = src.name;

		ret = iface__preflight(ifc->cfg->pipe, &name, 1, &pf, &nr_pf);
		if (ret)
			return reply_err("building pre-flight packets: %s", strerror(-ret));
	}
	if (pcap) {
		if (!expect || (ev = xdp_verdict_parse(expect)) < 0) {
			iface__free_preflight(pf, nr_pf);
			return reply_err("'pcap' needs 'expect': aborted, drop, pass, tx or redirect");
		}
		if (pcap_preflight(d, pcap, ev, &pf, &nr_pf, err, sizeof(err))) {
			iface__free_preflight(pf, nr_pf);
			return reply_err("%s", err);
		}
	}

	before = ifc->pl.live[idx];
	t0 = now_us();
	pthread_mutex_lock(&d->lock);
	ret = pipeline__swap_stage(&ifc->pl, idx, &src, pf, nr_pf, &perr);
	pthread_mutex_unlock(&d->lock);
	t0 = now_us() - t0;
	iface__free_preflight(pf, nr_pf);

	stages = json_object_new_array();
	json_object_array_add(stages, json_object_new_string(src.name));
	old = json_object_new_array();
	json_object_array_add(old, prog_ref(&before));
	new = json_object_new_array();
	if (!ret)
		json_object_array_add(new, prog_ref(&ifc->pl.live[idx]));
	history__add(d->hist, history_entry(ifc, "stage.swap", uid, stages, old, new, t0,
					    ret ? perr.msg : NULL));
	if (ret) {
		log_warn("%s: swap of stage '%s' refused: %s", ifc->pl.ifname, src.name, perr.msg);
		r = reply_err("%s", perr.msg);
		if (perr.verifier_log)
			add_str(r, "verifier_log", perr.verifier_log);
		pipeline_err__clear(&perr);
		return r;
	}
	d->swaps++;
	log_notice("%s: stage '%s' now runs %s (program %u, was %u) after %llu us", ifc->pl.ifname,
		   src.name, src.object, ifc->pl.live[idx].prog_id, before.prog_id,
		   (unsigned long long)t0);
	watch_start(ifc, idx);
	r = reply_ok();
	add_int(r, "old_prog_id", before.prog_id);
	add_int(r, "new_prog_id", ifc->pl.live[idx].prog_id);
	add_int(r, "duration_us", (int64_t)t0);
	add_int(r, "build_us", (int64_t)ifc->pl.last_build_us);
	add_int(r, "switch_us", (int64_t)ifc->pl.last_switch_us);
	return r;
}

static int rollback(struct daemon *d, struct iface *ifc, int idx, uid_t uid, const char *op,
		    struct json_object **r)
{
	struct json_object *stages, *old, *new;
	struct pipeline_err perr = {};
	struct stage_inst before = ifc->pl.live[idx];
	uint64_t t0 = now_us();
	int ret;

	pthread_mutex_lock(&d->lock);
	ret = pipeline__rollback_stage(&ifc->pl, idx, &perr);
	pthread_mutex_unlock(&d->lock);
	t0 = now_us() - t0;
	stages = json_object_new_array();
	json_object_array_add(stages, json_object_new_string(ifc->pl.src[idx].name));
	old = json_object_new_array();
	json_object_array_add(old, prog_ref(&before));
	new = json_object_new_array();
	if (!ret)
		json_object_array_add(new, prog_ref(&ifc->pl.live[idx]));
	history__add(d->hist, history_entry(ifc, op, uid, stages, old, new, t0, ret ? perr.msg : NULL));
	if (ret) {
		if (r)
			*r = reply_err("%s", perr.msg);
		return ret;
	}
	ifc->watch[idx].active = false;
	if (r) {
		*r = reply_ok();
		add_int(*r, "old_prog_id", before.prog_id);
		add_int(*r, "new_prog_id", ifc->pl.live[idx].prog_id);
		add_int(*r, "duration_us", (int64_t)t0);
	}
	return 0;
}

static struct json_object *op_stage_rollback(struct daemon *d, struct json_object *req, uid_t uid)
{
	struct json_object *r = NULL;
	struct iface *ifc;
	int idx;

	ifc = find_stage(d, req, &idx, &r);
	if (!ifc)
		return r;
	if (!rollback(d, ifc, idx, uid, "stage.rollback", &r))
		log_notice("%s: stage '%s' rolled back to program %u", ifc->pl.ifname,
			   ifc->pl.src[idx].name, ifc->pl.live[idx].prog_id);
	return r;
}

static struct json_object *op_txn(struct daemon *d, struct json_object *req, uid_t uid)
{
	const char *name = str_arg(req, "iface");
	struct stage_src src[SLUICE_MAX_STAGES];
	const char *names[SLUICE_MAX_STAGES];
	struct json_object *list, *stages, *old, *new, *r;
	struct stage_inst before[SLUICE_MAX_STAGES];
	struct pipeline_err perr = {};
	struct preflight_pkt *pf = NULL;
	uint32_t old_gen;
	struct iface *ifc;
	size_t nr_pf = 0, n;
	uint64_t t0;
	char err[512];
	int ret;

	if (!name || !(ifc = daemon__iface(d, name)))
		return reply_err("no interface '%s' in the configuration", name ? name : "");
	if (!json_object_object_get_ex(req, "stages", &list) ||
	    !json_object_is_type(list, json_type_array) || !(n = json_object_array_length(list)))
		return reply_err("'stages' must be a non-empty array of {stage, object, program?, params?}");
	memcpy(src, ifc->pl.src, sizeof(src));
	for (size_t i = 0; i < n; i++) {
		struct json_object *it = json_object_array_get_idx(list, i);
		const char *stage = str_arg(it, "stage");
		int idx = stage ? pipeline__find_stage(&ifc->pl, stage) : -1;

		if (idx < 0)
			return reply_err("%s: no stage '%s' in pipeline '%s'", name, stage ? stage : "",
					 ifc->cfg->pipe->name);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(names[j], stage))
				return reply_err("stage '%s' appears twice in the transaction", stage);
		if (src_from_req(d, &ifc->pl.src[idx], it, &src[idx], err, sizeof(err)))
			return reply_err("stage '%s': %s", stage, err);
		names[i] = ifc->pl.src[idx].name;
	}
	ret = iface__preflight(ifc->cfg->pipe, names, n, &pf, &nr_pf);
	if (ret)
		return reply_err("building pre-flight packets: %s", strerror(-ret));

	memcpy(before, ifc->pl.live, sizeof(before));
	old_gen = ifc->pl.gen;
	t0 = now_us();
	pthread_mutex_lock(&d->lock);
	ret = pipeline__commit(&ifc->pl, src, ifc->pl.nr_stages, pf, nr_pf, &perr);
	pthread_mutex_unlock(&d->lock);
	t0 = now_us() - t0;
	iface__free_preflight(pf, nr_pf);

	stages = json_object_new_array();
	old = json_object_new_array();
	new = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		int idx = pipeline__find_stage(&ifc->pl, names[i]);

		json_object_array_add(stages, json_object_new_string(names[i]));
		json_object_array_add(old, prog_ref(&before[idx]));
		if (!ret)
			json_object_array_add(new, prog_ref(&ifc->pl.live[idx]));
	}
	history__add(d->hist, history_entry(ifc, "txn", uid, stages, old, new, t0,
					    ret ? perr.msg : NULL));
	if (ret) {
		log_warn("%s: transaction refused: %s", name, perr.msg);
		r = reply_err("%s", perr.msg);
		if (perr.verifier_log)
			add_str(r, "verifier_log", perr.verifier_log);
		pipeline_err__clear(&perr);
		return r;
	}
	d->swaps++;
	log_notice("%s: transaction of %zu stage(s) live as generation %u after %llu us", name, n,
		   ifc->pl.gen, (unsigned long long)t0);
	r = reply_ok();
	add_int(r, "old_gen", old_gen);
	add_int(r, "new_gen", ifc->pl.gen);
	add_int(r, "duration_us", (int64_t)t0);
	add_int(r, "build_us", (int64_t)ifc->pl.last_build_us);
	add_int(r, "switch_us", (int64_t)ifc->pl.last_switch_us);
	return r;
}

static struct json_object *rules_json(struct iface *ifc)
{
	struct json_object *a = json_object_new_array();
	struct acl_rule_hits *hits = calloc(ifc->nr_rules ? ifc->nr_rules : 1, sizeof(*hits));
	size_t nr_hits = 0;
	char dir[PATH_MAX];
	struct acl_maps maps;
	int ret;

	snprintf(dir, sizeof(dir), "%s/%s", ifc->pl.dir, SLUICE_PIN_MAPS);
	if (hits && !acl_maps__open_pinned(dir, &maps)) {
		ret = acl__read_hits(&maps, hits, ifc->nr_rules, NULL);
		nr_hits = ret > 0 ? (size_t)ret : 0;
		acl_maps__close(&maps);
	}
	for (size_t i = 0; i < ifc->nr_rules; i++) {
		struct json_object *o = json_object_new_object();
		uint64_t packets = 0, bytes = 0;
		char *text;

		/* Hits follow rules by id, whatever their position. */
		for (size_t h = 0; h < nr_hits && h < ifc->nr_rules; h++) {
			if (hits[h].id == ifc->rules[i].id) {
				packets = hits[h].packets;
				bytes = hits[h].bytes;
			}
		}
		text = acl_rule_text(&ifc->rules[i]);
		add_int(o, "id", ifc->rules[i].id);
		add_str(o, "text", text);
		free(text);
		add_int(o, "packets", (int64_t)packets);
		add_int(o, "bytes", (int64_t)bytes);
		json_object_array_add(a, o);
	}
	free(hits);
	return a;
}

static struct iface *rule_iface(struct daemon *d, struct json_object *req, struct json_object **r)
{
	const char *name = str_arg(req, "iface");
	struct iface *ifc = name ? daemon__iface(d, name) : NULL;

	if (!ifc)
		*r = reply_err("no interface '%s' in the configuration", name ? name : "");
	return ifc;
}

static struct json_object *op_rule_list(struct daemon *d, struct json_object *req, uid_t uid)
{
	struct json_object *r = NULL;
	struct iface *ifc = rule_iface(d, req, &r);

	if (!ifc)
		return r;
	r = reply_ok();
	json_object_object_add(r, "rules", rules_json(ifc));
	return r;
}

static struct json_object *rules_commit(struct daemon *d, struct iface *ifc, struct acl_rule_spec *v,
					size_t n, const char *op, uid_t uid, const char *what)
{
	struct json_object *stages;
	char err[512] = "";
	uint64_t t0 = now_us();
	int ret;

	pthread_mutex_lock(&d->lock);
	ret = iface__set_rules(ifc, v, n, err, sizeof(err));
	pthread_mutex_unlock(&d->lock);
	t0 = now_us() - t0;
	stages = json_object_new_array();
	json_object_array_add(stages, json_object_new_string(what));
	history__add(d->hist, history_entry(ifc, op, uid, stages, json_object_new_array(),
					    json_object_new_array(), t0, ret ? err : NULL));
	if (ret)
		return reply_err("%s", err);
	if (iface__save_rules(d, ifc))
		log_warn("%s: could not save the live rules in %s", ifc->pl.ifname, d->cfg->state_dir);
	log_notice("%s: %s %s", ifc->pl.ifname, op, what);
	return reply_ok();
}

static struct json_object *op_rule_add(struct daemon *d, struct json_object *req, uid_t uid)
{
	const char *text = str_arg(req, "rule");
	struct json_object *r = NULL, *before_o;
	struct iface *ifc = rule_iface(d, req, &r);
	struct acl_rule_spec rule = {}, *v;
	size_t pos, n;
	uint32_t max_id = 0;
	char err[256];

	if (!ifc)
		return r;
	if (!text)
		return reply_err("'rule' is required");
	if (acl_rule_parse(text, &rule, err, sizeof(err)))
		return reply_err("rule '%s': %s", text, err);
	n = ifc->nr_rules;
	pos = n;
	for (size_t i = 0; i < n; i++) {
		if (ifc->rules[i].id > max_id)
			max_id = ifc->rules[i].id;
		if (rule.id && ifc->rules[i].id == rule.id) {
			acl_rule_spec_free(&rule);
			return reply_err("a rule with id %u exists already", rule.id);
		}
	}
	if (!rule.id)
		rule.id = max_id + 1;
	if (json_object_object_get_ex(req, "before", &before_o)) {
		uint32_t before = (uint32_t)json_object_get_int64(before_o);

		for (pos = 0; pos < n && ifc->rules[pos].id != before; pos++)
			;
		if (pos == n) {
			acl_rule_spec_free(&rule);
			return reply_err("no rule with id %u to insert before", before);
		}
	}
	/* A shallow array: the prefixes stay owned by ifc->rules and rule. */
	v = calloc(n + 1, sizeof(*v));
	if (!v) {
		acl_rule_spec_free(&rule);
		return reply_err("out of memory");
	}
	memcpy(v, ifc->rules, pos * sizeof(*v));
	v[pos] = rule;
	memcpy(v + pos + 1, ifc->rules + pos, (n - pos) * sizeof(*v));
	snprintf(err, sizeof(err), "rule %u: %s", rule.id, text);
	r = rules_commit(d, ifc, v, n + 1, "rule.add", uid, err);
	free(v);
	acl_rule_spec_free(&rule);
	if (json_object_get_boolean(json_object_object_get(r, "ok")))
		add_int(r, "id", rule.id);
	return r;
}

static struct json_object *op_rule_del(struct daemon *d, struct json_object *req, uid_t uid)
{
	struct json_object *r = NULL, *id_o;
	struct iface *ifc = rule_iface(d, req, &r);
	struct acl_rule_spec *v;
	size_t n, pos;
	uint32_t id;
	char what[64];

	if (!ifc)
		return r;
	if (!json_object_object_get_ex(req, "id", &id_o))
		return reply_err("'id' is required");
	id = (uint32_t)json_object_get_int64(id_o);
	n = ifc->nr_rules;
	for (pos = 0; pos < n && ifc->rules[pos].id != id; pos++)
		;
	if (pos == n)
		return reply_err("%s: no rule with id %u", ifc->pl.ifname, id);
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return reply_err("out of memory");
	memcpy(v, ifc->rules, pos * sizeof(*v));
	memcpy(v + pos, ifc->rules + pos + 1, (n - pos - 1) * sizeof(*v));
	snprintf(what, sizeof(what), "rule %u", id);
	r = rules_commit(d, ifc, v, n - 1, "rule.del", uid, what);
	free(v);
	return r;
}

static struct json_object *stats_json(struct iface *ifc)
{
	struct sluice_slot_stats slots[SLUICE_MAX_STAGES];
	struct sluice_pipe_stats ps;
	struct json_object *o = json_object_new_object(), *p, *a;

	add_str(o, "name", ifc->pl.ifname);
	add_int(o, "gen", ifc->pl.gen);
	if (pipeline__stats(&ifc->pl, &ps, slots)) {
		memset(&ps, 0, sizeof(ps));
		memset(slots, 0, sizeof(slots));
	}
	p = json_object_new_object();
	add_int(p, "packets", (int64_t)ps.packets);
	add_int(p, "bytes", (int64_t)ps.bytes);
	json_object_object_add(p, "verdicts", verdicts_json(ps.verdict));
	add_int(p, "missed", (int64_t)ps.missed);
	add_int(p, "mixed", (int64_t)ps.mixed);
	add_int(p, "bad_verdict", (int64_t)ps.bad_verdict);
	add_int(p, "no_meta", (int64_t)ps.no_meta);
	json_object_object_add(o, "pipeline", p);
	a = json_object_new_array();
	for (int i = 0; i < ifc->pl.nr_stages; i++) {
		struct json_object *s = slot_stats_json(&slots[i]);

		add_int(s, "slot", i);
		add_str(s, "name", ifc->pl.src[i].name);
		json_object_array_add(a, s);
	}
	json_object_object_add(o, "stages", a);
	return o;
}

static struct json_object *op_stats(struct daemon *d, struct json_object *req, uid_t uid)
{
	const char *name = str_arg(req, "iface");
	struct json_object *r, *a;

	if (name && !daemon__iface(d, name))
		return reply_err("no interface '%s' in the configuration", name);
	r = reply_ok();
	a = json_object_new_array();
	for (size_t i = 0; i < d->nr_ifs; i++)
		if (!name || !strcmp(name, d->ifs[i].pl.ifname))
			json_object_array_add(a, stats_json(&d->ifs[i]));
	json_object_object_add(r, "interfaces", a);
	return r;
}

static struct json_object *op_history(struct daemon *d, struct json_object *req, uid_t uid)
{
	struct json_object *r = reply_ok(), *lim;
	size_t limit = 100;

	if (json_object_object_get_ex(req, "limit", &lim) && json_object_get_int64(lim) > 0)
		limit = (size_t)json_object_get_int64(lim);
	json_object_object_add(r, "entries", history__list(d->hist, limit));
	return r;
}

static struct json_object *op_reload(struct daemon *d, struct json_object *req, uid_t uid)
{
	struct json_object *changed = json_object_new_array(), *r;
	char err[4096];

	if (daemon__reload(d, changed, err, sizeof(err))) {
		json_object_put(changed);
		return reply_err("%s", err);
	}
	r = reply_ok();
	json_object_object_add(r, "changed", changed);
	return r;
}

static struct json_object *op_down(struct daemon *d, struct json_object *req, uid_t uid)
{
	const char *name = str_arg(req, "iface");
	struct iface *ifc = name ? daemon__iface(d, name) : NULL;
	size_t i;

	if (!ifc)
		return reply_err("no interface '%s' runs a pipeline", name ? name : "");
	pthread_mutex_lock(&d->lock);
	pipeline__destroy(&ifc->pl);
	iface__free(ifc);
	i = (size_t)(ifc - d->ifs);
	memmove(ifc, ifc + 1, (d->nr_ifs - i - 1) * sizeof(*ifc));
	d->nr_ifs--;
	pthread_mutex_unlock(&d->lock);
	log_notice("%s: pipeline detached and unpinned (until the next reload or restart)", name);
	return reply_ok();
}

static struct json_object *op_xsk_stats(struct daemon *d, struct json_object *req, uid_t uid)
{
	struct json_object *r;

	if (!d->capture)
		return reply_err("no capture: the configuration has no xsk section");
	r = reply_ok();
	json_object_object_add(r, "xsk", capture__json(d, d->capture));
	return r;
}

static const struct op {
	const char *name;
	struct json_object *(*fn)(struct daemon *d, struct json_object *req, uid_t uid);
} ops[] = {
	{ "status", op_status },
	{ "stage.list", op_stage_list },
	{ "stage.show", op_stage_show },
	{ "stage.swap", op_stage_swap },
	{ "stage.rollback", op_stage_rollback },
	{ "txn", op_txn },
	{ "rule.add", op_rule_add },
	{ "rule.del", op_rule_del },
	{ "rule.list", op_rule_list },
	{ "stats", op_stats },
	{ "history", op_history },
	{ "reload", op_reload },
	{ "down", op_down },
	{ "xsk.stats", op_xsk_stats },
};

struct json_object *ops__handle(struct daemon *d, struct json_object *req, uid_t uid)
{
	const char *op = str_arg(req, "op");
	char why[512];

	/* Every field of its exact type and range before any op reads one. */
	if (ctl__request_check(req, why, sizeof(why)))
		return reply_err("%s", why);
	if (d->peer && d->peer->role < ctl__op_role(op))
		return reply_err("permission denied: '%s' needs the admin role (root or control.group); "
				 "uid %u has the %s role", op, (unsigned int)uid, ctl__role_name(d->peer->role));
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(op, ops[i].name))
			return ops[i].fn(d, req, uid);
	return reply_err("unknown op '%s'", op);
}

/*
 * Automatic rollback: a stage swapped in with an auto_rollback policy is
 * watched for its window; too many aborts, missed tail calls or drops roll it
 * back to the version it replaced.
 */
void daemon__watch_tick(struct daemon *d)
{
	uint64_t now = ctl__now_ms();

	for (size_t n = 0; n < d->nr_ifs * SLUICE_MAX_STAGES; n++) {
		struct iface *ifc = &d->ifs[n / SLUICE_MAX_STAGES];
		struct rollback_watch *w = &ifc->watch[n % SLUICE_MAX_STAGES];
		struct sluice_slot_stats slots[SLUICE_MAX_STAGES];
		struct sluice_pipe_stats ps;
		uint64_t aborted, missed, drops, pkts;
		char why[256] = "";

		if (!w->active || pipeline__stats(&ifc->pl, &ps, slots))
			continue;
		/* What this stage did itself: another watched stage's aborts are not its own. */
		aborted = slots[w->idx].verdict[XDP_ABORTED] - w->base_slot.verdict[XDP_ABORTED];
		missed = slots[w->idx].missed - w->base_slot.missed;
		drops = slots[w->idx].verdict[XDP_DROP] - w->base_slot.verdict[XDP_DROP];
		pkts = slots[w->idx].packets - w->base_slot.packets;
		if (aborted > w->policy.max_aborted)
			snprintf(why, sizeof(why), "%llu aborted verdicts (limit %llu)",
				 (unsigned long long)aborted, (unsigned long long)w->policy.max_aborted);
		else if (missed > w->policy.max_missed)
			snprintf(why, sizeof(why), "%llu missed tail calls (limit %llu)",
				 (unsigned long long)missed, (unsigned long long)w->policy.max_missed);
		else if (pkts >= 100 && (double)drops / (double)pkts > w->policy.max_drop_ratio)
			snprintf(why, sizeof(why), "drop ratio %.2f (limit %.2f)",
				 (double)drops / (double)pkts, w->policy.max_drop_ratio);
		if (why[0]) {
			int idx = w->idx;

			log_warn("%s: stage '%s': %s within %u ms of the swap: rolling back", ifc->pl.ifname,
				 ifc->pl.src[idx].name, why, w->policy.window_ms);
			if (!rollback(d, ifc, idx, 0, "auto-rollback", NULL))
				log_notice("%s: stage '%s' rolled back to program %u", ifc->pl.ifname,
					   ifc->pl.src[idx].name, ifc->pl.live[idx].prog_id);
			w->active = false;
		} else if (now >= w->until_ms) {
			w->active = false;
		}
	}
}
