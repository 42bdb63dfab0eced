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
#include "clock.h"
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

/* The banks besides the live one: the previous generation, candidates, a canary. */
static struct json_object *banks_json(const struct pipeline *pl)
{
	struct json_object *a = json_object_new_array();

	for (int b = 0; b < SLUICE_NR_BANKS; b++) {
		const struct bank *bk = &pl->banks[b];
		struct json_object *o, *names;

		if (b == pl->bank || bk->state == SLUICE_BANK_FREE)
			continue;
		o = json_object_new_object();
		names = json_object_new_array();
		add_int(o, "bank", b);
		add_str(o, "state", sluice_bank_state_name(bk->state));
		add_int(o, "gen", bk->gen);
		if (bk->cand) {
			add_int(o, "candidate", bk->cand);
			add_int(o, "stale", bk->base != pl->changes);
		}
		for (int i = 0; i < bk->nr_stages; i++) {
			struct json_object *st = json_object_new_object();

			add_str(st, "name", bk->src[i].name);
			add_str(st, "object", bk->src[i].object);
			add_int(st, "prog_id", bk->st[i].prog_id);
			json_object_array_add(names, st);
		}
		json_object_object_add(o, "stages", names);
		json_object_array_add(a, o);
	}
	return a;
}

static struct json_object *iface_json(const struct iface *ifc)
{
	const struct pipeline *pl = &ifc->pl;
	struct json_object *o = json_object_new_object();
	struct json_object *stages = json_object_new_array(), *drift;

	add_str(o, "name", pl->ifname);
	add_int(o, "ifindex", pl->ifindex);
	add_str(o, "pipeline", ifc->cfg && ifc->cfg->pipe ? ifc->cfg->pipe->name : "");
	add_str(o, "mode", pl->native ? "native" : "generic");
	add_str(o, "attach", pl->how == SLUICE_ATTACH_LIBXDP ? "libxdp" : "link");
	add_int(o, "link_id", pl->link_id);
	add_int(o, "gen", pl->gen);
	add_int(o, "bank", pl->bank);
	add_str(o, "context", sluice_carrier_name(pl->carrier));
	add_int(o, "entry_prog_id", pl->entry.prog_id);
	add_str(o, "default_verdict", xdp_verdict_name(pl->default_verdict));
	for (int i = 0; i < pl->nr_stages; i++)
		json_object_array_add(stages, stage_json(ifc, i));
	json_object_object_add(o, "stages", stages);
	json_object_object_add(o, "banks", banks_json(pl));
	drift = json_object_new_array();
	for (int i = 0; i < pl->nr_stages; i++)
		if (ifc->drift & (1u << i))
			json_object_array_add(drift, json_object_new_int(i));
	json_object_object_add(o, "drift", drift);
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

/* The client whose request is served, as the trust policy sees it (root for the daemon's own). */
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

/* Pre-flight packets for a change of the named stages: the config's tests, a pcap. */
static int change_preflight(const struct daemon *d, struct iface *ifc, struct json_object *req,
			    struct change *c, char *err,
			    size_t len)
{
	const char *pcap = str_arg(req, "pcap"), *expect = str_arg(req, "expect");
	struct json_object *force;
	int ev, ret;

	if (!json_object_object_get_ex(req, "force", &force) || !json_object_get_boolean(force)) {
		ret = iface__preflight(ifc->cfg->pipe, c->what, (size_t)c->nr_what, &c->pf, &c->nr_pf);
		if (ret) {
			snprintf(err, len, "building pre-flight packets: %s", strerror(-ret));
			return ret;
		}
	}
	if (!pcap)
		return 0;
	if (!expect || (ev = xdp_verdict_parse(expect)) < 0) {
		snprintf(err, len, "'pcap' needs 'expect': aborted, drop, pass, tx or redirect");
		return -EINVAL;
	}
	return pcap_preflight(d, pcap, ev, &c->pf, &c->nr_pf, err, len);
}

/* Applies c and renders the reply; c is freed. */
static struct json_object *apply(struct daemon *d, struct change *c, uid_t uid)
{
	int ret = change__apply(d, c, uid);
	struct json_object *r = change__reply(d, c, ret);

	if (!ret && c->kind == CHANGE_SWAP)
		change__watch_stage(c->ifc, c->idx);
	else if (!ret && (c->kind == CHANGE_COMMIT || c->kind == CHANGE_COMMIT_PREPARED))
		change__watch_commit(c->ifc, c);
	change__free(c);
	return r;
}

static struct json_object *op_stage_swap(struct daemon *d, struct json_object *req, uid_t uid)
{
	struct json_object *r = NULL;
	struct change c;
	struct iface *ifc;
	char err[512];
	int idx;

	ifc = find_stage(d, req, &idx, &r);
	if (!ifc)
		return r;
	change__init(&c, CHANGE_SWAP, ifc);
	c.idx = idx;
	c.src = calloc(1, sizeof(*c.src));
	if (!c.src)
		return reply_err("out of memory");
	change__name(&c, ifc->pl.src[idx].name);
	if (src_from_req(d, &ifc->pl.src[idx], req, c.src, err, sizeof(err)) ||
	    change_preflight(d, ifc, req, &c, err, sizeof(err))) {
		change__free(&c);
		return reply_err("%s", err);
	}
	return apply(d, &c, uid);
}

static struct json_object *op_stage_rollback(struct daemon *d, struct json_object *req, uid_t uid)
{
	struct json_object *r = NULL;
	struct change c;
	struct iface *ifc;
	int idx;

	ifc = find_stage(d, req, &idx, &r);
	if (!ifc)
		return r;
	change__init(&c, CHANGE_STAGE_ROLLBACK, ifc);
	c.idx = idx;
	change__name(&c, ifc->pl.src[idx].name);
	return apply(d, &c, uid);
}

/*
 * Parses {stage, object, program?, params?} items into a copy of the live
 * sources: what a transaction, a prepared candidate or a canary builds.
 */
static int change_stages(const struct daemon *d, struct iface *ifc, struct json_object *list,
			 struct change *c, char *err,
			 size_t len)
{
	size_t n;

	if (!list || !json_object_is_type(list, json_type_array) || !(n = json_object_array_length(list))) {
		snprintf(err, len, "'stages' must be a non-empty array of {stage, object, program?, params?}");
		return -EINVAL;
	}
	if (change__alloc_src(c, &ifc->pl))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct json_object *it = json_object_array_get_idx(list, i);
		const char *stage = str_arg(it, "stage");
		int idx = stage ? pipeline__find_stage(&ifc->pl, stage) : -1;

		if (idx < 0) {
			snprintf(err, len, "%s: no stage '%s' in pipeline '%s'", ifc->pl.ifname,
				 stage ? stage : "", ifc->cfg->pipe->name);
			return -ENOENT;
		}
		for (int j = 0; j < c->nr_what; j++) {
			if (!strcmp(c->what[j], stage)) {
				snprintf(err, len, "stage '%s' appears twice", stage);
				return -EINVAL;
			}
		}
		if (src_from_req(d, &ifc->pl.src[idx], it, &c->src[idx], err, len))
			return -EINVAL;
		change__name(c, ifc->pl.src[idx].name);
	}
	return 0;
}

/* One interface's part of a transaction, parsed and pre-flighted; *r on error. */
static int txn_part(struct daemon *d, struct json_object *part, enum change_kind kind,
		    struct change *c, struct json_object **r)
{
	const char *name = str_arg(part, "iface");
	struct json_object *list = NULL;
	struct iface *ifc = name ? daemon__iface(d, name) : NULL;
	char err[512], msg[600];

	if (!ifc) {
		*r = reply_err("no interface '%s' in the configuration", name ? name : "");
		return -ENOENT;
	}
	change__init(c, kind, ifc);
	json_object_object_get_ex(part, "stages", &list);
	if (change_stages(d, ifc, list, c, err, sizeof(err)) ||
	    change_preflight(d, ifc, part, c, err, sizeof(err))) {
		snprintf(msg, sizeof(msg), "%s: %s", name, err);
		*r = reply_err("%s", msg);
		change__free(c);
		return -EINVAL;
	}
	return 0;
}

/*
 * A transaction: {iface, stages} or {parts: [{iface, stages}, ...]}, made
 * live at once, or with prepare only built as candidates. Several
 * interfaces switch together through a selector word: all or none.
 */
static struct json_object *op_txn(struct daemon *d, struct json_object *req, uid_t uid)
{
	struct json_object *parts = NULL, *prep, *r = NULL, *cands;
	bool prepare = json_object_object_get_ex(req, "prepare", &prep) && json_object_get_boolean(prep);
	struct iface *ifcs[SLUICE_MAX_GROUP];
	uint32_t ids[SLUICE_MAX_GROUP];
	struct pipeline_err perr = {};
	struct change c;
	size_t n, built = 0;
	int ret = 0;

	if (!json_object_object_get_ex(req, "parts", &parts)) {
		if (txn_part(d, req, prepare ? CHANGE_PREPARE : CHANGE_COMMIT, &c, &r))
			return r;
		return apply(d, &c, uid);
	}
	if (!json_object_is_type(parts, json_type_array) || !(n = json_object_array_length(parts)) ||
	    n > SLUICE_MAX_GROUP)
		return reply_err("'parts' must be an array of 1 to %d {iface, stages}", SLUICE_MAX_GROUP);
	/* Every part is built as a candidate first: a refused one leaves all as they are. */
	for (size_t i = 0; i < n && !r; i++) {
		if (txn_part(d, json_object_array_get_idx(parts, i), CHANGE_PREPARE, &c, &r))
			break;
		for (size_t j = 0; j < built; j++)
			if (ifcs[j] == c.ifc)
				r = reply_err("%s is named twice", c.ifc->pl.ifname);
		if (!r && (ret = change__apply(d, &c, uid)))
			r = change__reply(d, &c, ret);
		if (!r) {
			ifcs[built] = c.ifc;
			ids[built++] = c.cand;
		}
		change__free(&c);
	}
	if (!r && !prepare && change__apply_group(d, ifcs, ids, (int)n, uid, &perr))
		r = reply_err("%s", perr.msg);
	if (r) {
		/* Drop what was built for the parts before the one that failed. */
		for (size_t i = 0; i < built; i++)
			pipeline__drop_candidate(&ifcs[i]->pl, ids[i], &perr);
		return r;
	}
	r = reply_ok();
	cands = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();

		add_str(o, "iface", ifcs[i]->pl.ifname);
		add_int(o, prepare ? "candidate" : "new_gen", prepare ? ids[i] : ifcs[i]->pl.gen);
		json_object_array_add(cands, o);
	}
	json_object_object_add(r, "parts", cands);
	return r;
}

/* stage.prepare: the live pipeline with one stage replaced, built as a candidate. */
static struct json_object *op_stage_prepare(struct daemon *d, struct json_object *req, uid_t uid)
{
	struct json_object *r = NULL;
	struct change c;
	struct iface *ifc;
	char err[512];
	int idx;

	ifc = find_stage(d, req, &idx, &r);
	if (!ifc)
		return r;
	change__init(&c, CHANGE_PREPARE, ifc);
	if (change__alloc_src(&c, &ifc->pl)) {
		change__free(&c);
		return reply_err("out of memory");
	}
	change__name(&c, ifc->pl.src[idx].name);
	if (src_from_req(d, &ifc->pl.src[idx], req, &c.src[idx], err, sizeof(err)) ||
	    change_preflight(d, ifc, req, &c, err, sizeof(err))) {
		change__free(&c);
		return reply_err("%s", err);
	}
	return apply(d, &c, uid);
}

/* The newest candidate of an interface, for a commit that names none. */
static uint32_t newest_candidate(const struct iface *ifc)
{
	uint32_t best = 0;

	for (int b = 0; b < SLUICE_NR_BANKS; b++)
		if (ifc->pl.banks[b].state == SLUICE_BANK_PREPARED && ifc->pl.banks[b].cand > best)
			best = ifc->pl.banks[b].cand;
	return best;
}

static int cand_arg(struct json_object *req, const struct iface *ifc, uint32_t *cand, char *err,
		    size_t len)
{
	struct json_object *v;
	int64_t id;

	if (!json_object_object_get_ex(req, "candidate", &v)) {
		*cand = newest_candidate(ifc);
		if (!*cand) {
			snprintf(err, len, "%s has no prepared candidate", ifc->pl.ifname);
			return -ENOENT;
		}
		return 0;
	}
	if (!json_object_is_type(v, json_type_int) || (id = json_object_get_int64(v)) < 1 ||
	    id > UINT32_MAX) {
		snprintf(err, len, "'candidate' must be a candidate id");
		return -EINVAL;
	}
	*cand = (uint32_t)id;
	return 0;
}

static struct iface *iface_arg(struct daemon *d, struct json_object *req, struct json_object **r)
{
	const char *name = str_arg(req, "iface");
	struct iface *ifc = name ? daemon__iface(d, name) : NULL;

	if (!ifc)
		*r = reply_err("no interface '%s' in the configuration", name ? name : "");
	return ifc;
}

/* commit: {iface, candidate?} or {parts: [{iface, candidate}]} for several at once. */
static struct json_object *op_commit(struct daemon *d, struct json_object *req, uid_t uid)
{
	struct json_object *parts, *r = NULL;
	struct iface *ifcs[SLUICE_MAX_GROUP];
	uint32_t ids[SLUICE_MAX_GROUP];
	struct pipeline_err perr = {};
	struct change c;
	char err[256];
	size_t n;

	if (!json_object_object_get_ex(req, "parts", &parts)) {
		struct iface *ifc = iface_arg(d, req, &r);

		if (!ifc)
			return r;
		change__init(&c, CHANGE_COMMIT_PREPARED, ifc);
		if (cand_arg(req, ifc, &c.cand, err, sizeof(err)))
			return reply_err("%s", err);
		return apply(d, &c, uid);
	}
	if (!json_object_is_type(parts, json_type_array) || !(n = json_object_array_length(parts)) ||
	    n > SLUICE_MAX_GROUP)
		return reply_err("'parts' must be an array of 1 to %d {iface, candidate}", SLUICE_MAX_GROUP);
	for (size_t i = 0; i < n; i++) {
		struct json_object *part = json_object_array_get_idx(parts, i);

		ifcs[i] = iface_arg(d, part, &r);
		if (!ifcs[i])
			return r;
		if (cand_arg(part, ifcs[i], &ids[i], err, sizeof(err)))
			return reply_err("%s", err);
	}
	if (change__apply_group(d, ifcs, ids, (int)n, uid, &perr))
		return reply_err("%s", perr.msg);
	return reply_ok();
}

static struct json_object *op_candidate_drop(struct daemon *d, struct json_object *req, uid_t uid)
{
	struct json_object *r = NULL;
	struct iface *ifc = iface_arg(d, req, &r);
	struct change c;
	char err[256];

	if (!ifc)
		return r;
	change__init(&c, CHANGE_DROP, ifc);
	if (cand_arg(req, ifc, &c.cand, err, sizeof(err)))
		return reply_err("%s", err);
	return apply(d, &c, uid);
}

/* Ops that name only an interface: txn.rollback, canary.promote, canary.abort, repair. */
static struct json_object *iface_change(struct daemon *d, struct json_object *req, uid_t uid,
					enum change_kind kind)
{
	struct json_object *r = NULL;
	struct iface *ifc = iface_arg(d, req, &r);
	struct change c;

	if (!ifc)
		return r;
	change__init(&c, kind, ifc);
	return apply(d, &c, uid);
}

static struct json_object *op_txn_rollback(struct daemon *d, struct json_object *req, uid_t uid)
{
	return iface_change(d, req, uid, CHANGE_ROLLBACK);
}

static struct json_object *op_canary_promote(struct daemon *d, struct json_object *req, uid_t uid)
{
	return iface_change(d, req, uid, CHANGE_CANARY_PROMOTE);
}

static struct json_object *op_canary_abort(struct daemon *d, struct json_object *req, uid_t uid)
{
	return iface_change(d, req, uid, CHANGE_CANARY_ABORT);
}

static struct json_object *op_repair(struct daemon *d, struct json_object *req, uid_t uid)
{
	return iface_change(d, req, uid, CHANGE_REPAIR);
}

static int num_arg(struct json_object *req, const char *key, double lo, double hi, double *out,
		   char *err, size_t len)
{
	struct json_object *v;

	if (!json_object_object_get_ex(req, key, &v))
		return 1;
	if ((!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double)) ||
	    json_object_get_double(v) < lo || json_object_get_double(v) > hi) {
		snprintf(err, len, "'%s' must be a number from %g to %g", key, lo, hi);
		return -EINVAL;
	}
	*out = json_object_get_double(v);
	return 0;
}

/*
 * canary.start: {iface, stages, share (percent), window_ms?, auto?,
 * max_aborted?, max_missed?, max_drop_ratio?}. A candidate with those
 * stages serves share% of the flows; with auto the daemon promotes it after
 * the window or aborts it when its side is worse than the live side.
 */
static struct json_object *op_canary_start(struct daemon *d, struct json_object *req, uid_t uid)
{
	struct cfg_auto_rollback policy = { .enabled = true, .window_ms = 10000, .max_aborted = 0,
					    .max_missed = 0, .max_drop_ratio = 0.05 };
	struct json_object *r = NULL, *a;
	double share = -1, v;
	struct change c, start;
	char err[512];
	int ret;

	if (num_arg(req, "share", 0.001, 100, &share, err, sizeof(err)) || share < 0)
		return reply_err("%s", share < 0 ? "'share' (percent of flows) is required" : err);
	if ((ret = num_arg(req, "window_ms", 1, 86400000, &v, err, sizeof(err))) < 0)
		return reply_err("%s", err);
	if (!ret)
		policy.window_ms = (uint32_t)v;
	if ((ret = num_arg(req, "max_aborted", 0, 1e18, &v, err, sizeof(err))) < 0)
		return reply_err("%s", err);
	if (!ret)
		policy.max_aborted = (uint64_t)v;
	if ((ret = num_arg(req, "max_missed", 0, 1e18, &v, err, sizeof(err))) < 0)
		return reply_err("%s", err);
	if (!ret)
		policy.max_missed = (uint64_t)v;
	if ((ret = num_arg(req, "max_drop_ratio", 0, 1, &v, err, sizeof(err))) < 0)
		return reply_err("%s", err);
	if (!ret)
		policy.max_drop_ratio = v;
	if (txn_part(d, req, CHANGE_PREPARE, &c, &r))
		return r;
	ret = change__apply(d, &c, uid);
	if (ret) {
		r = change__reply(d, &c, ret);
		change__free(&c);
		return r;
	}
	change__init(&start, CHANGE_CANARY_START, c.ifc);
	start.cand = c.cand;
	start.share = (uint32_t)(share / 100.0 * SLUICE_SHARE_ONE + 0.5);
	if (!start.share)
		start.share = 1;
	memcpy(start.what, c.what, sizeof(start.what));
	start.nr_what = c.nr_what;
	change__free(&c);
	ret = change__apply(d, &start, uid);
	r = change__reply(d, &start, ret);
	if (ret) {
		pipeline__drop_candidate(&start.ifc->pl, start.cand, &start.err);
	} else if (json_object_object_get_ex(req, "auto", &a) && json_object_get_boolean(a)) {
		change__watch_canary(start.ifc, &policy);
		add_int(r, "window_ms", policy.window_ms);
	}
	change__free(&start);
	return r;
}

static int u32_arg(struct json_object *req, const char *key, uint32_t def, uint32_t max, uint32_t *out,
		   char *err, size_t len)
{
	struct json_object *v;
	int64_t x;

	*out = def;
	if (!json_object_object_get_ex(req, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int) || (x = json_object_get_int64(v)) < 1 || x > max) {
		snprintf(err, len, "'%s' must be an integer from 1 to %u", key, max);
		return -EINVAL;
	}
	*out = (uint32_t)x;
	return 0;
}

/* stage.diff: {iface, stage, object, program?, params?, samples?, seconds?} starts a shadow diff. */
static struct json_object *op_stage_diff(struct daemon *d, struct json_object *req, uid_t uid)
{
	struct json_object *r = NULL;
	struct stage_src src;
	struct iface *ifc;
	uint32_t samples, seconds, id;
	char err[512];
	int idx;

	ifc = find_stage(d, req, &idx, &r);
	if (!ifc)
		return r;
	if (u32_arg(req, "samples", 1000, 1000000, &samples, err, sizeof(err)) ||
	    u32_arg(req, "seconds", 10, 3600, &seconds, err, sizeof(err)) ||
	    src_from_req(d, &ifc->pl.src[idx], req, &src, err, sizeof(err)) ||
	    diff__start(d, ifc, idx, &src, samples, seconds, &id, err, sizeof(err)))
		return reply_err("%s", err);
	log_notice("%s: shadow diff %u started by uid %u", ifc->pl.ifname, id, (unsigned int)uid);
	r = reply_ok();
	add_int(r, "id", id);
	return r;
}

static struct json_object *op_diff_status(struct daemon *d, struct json_object *req, uid_t uid)
{
	struct json_object *r, *o;
	uint32_t id;
	char err[256];

	if (u32_arg(req, "id", 0, UINT32_MAX, &id, err, sizeof(err)) || !id)
		return reply_err("%s", id ? err : "'id' is required");
	o = diff__json(d, id, err, sizeof(err));
	if (!o)
		return reply_err("%s", err);
	r = reply_ok();
	json_object_object_add(r, "diff", o);
	return r;
}

static struct json_object *pipe_stats_json(const struct sluice_pipe_stats *ps)
{
	struct json_object *p = json_object_new_object();

	add_int(p, "packets", (int64_t)ps->packets);
	add_int(p, "bytes", (int64_t)ps->bytes);
	json_object_object_add(p, "verdicts", verdicts_json(ps->verdict));
	add_int(p, "missed", (int64_t)ps->missed);
	add_int(p, "mixed", (int64_t)ps->mixed);
	add_int(p, "bad_verdict", (int64_t)ps->bad_verdict);
	add_int(p, "no_meta", (int64_t)ps->no_meta);
	return p;
}

static struct json_object *op_canary_status(struct daemon *d, struct json_object *req, uid_t uid)
{
	struct json_object *r = NULL, *side;
	struct iface *ifc = iface_arg(d, req, &r);
	struct sluice_pipe_stats ps;
	union sluice_word w;
	int b;

	if (!ifc)
		return r;
	b = pipeline__canary_bank(&ifc->pl);
	if (b < 0)
		return reply_err("%s runs no canary", ifc->pl.ifname);
	w.raw = __atomic_load_n(&ifc->pl.sw->word.raw, __ATOMIC_ACQUIRE);
	r = reply_ok();
	add_int(r, "candidate", ifc->pl.banks[b].cand);
	json_object_object_add(r, "share", json_object_new_double(100.0 * w.share / SLUICE_SHARE_ONE));
	add_int(r, "auto", ifc->canary.active);
	if (ifc->canary.active)
		add_int(r, "remaining_ms", (int64_t)(ifc->canary.until_ms > ctl__now_ms() ?
						      ifc->canary.until_ms - ctl__now_ms() : 0));
	side = json_object_new_object();
	add_int(side, "gen", ifc->pl.gen);
	add_int(side, "bank", ifc->pl.bank);
	if (!pipeline__stats_bank(&ifc->pl, ifc->pl.bank, &ps, NULL))
		json_object_object_add(side, "stats", pipe_stats_json(&ps));
	json_object_object_add(r, "live", side);
	side = json_object_new_object();
	add_int(side, "gen", ifc->pl.banks[b].gen);
	add_int(side, "bank", b);
	if (!pipeline__stats_bank(&ifc->pl, b, &ps, NULL))
		json_object_object_add(side, "stats", pipe_stats_json(&ps));
	json_object_object_add(r, "canary", side);
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
	struct json_object *r;
	char err[512] = "";
	uint64_t t0 = sluice_now_us();
	int ret;

	pthread_mutex_lock(&d->lock);
	ret = iface__set_rules(ifc, v, n, err, sizeof(err));
	pthread_mutex_unlock(&d->lock);
	change__history(d, ifc, op, uid, what, sluice_now_us() - t0, ret ? err : NULL);
	if (ret)
		return reply_err("%s", err);
	if (iface__save_rules(d, ifc))
		log_warn("%s: could not save the live rules in %s", ifc->pl.ifname, d->cfg->state_dir);
	log_notice("%s: %s %s", ifc->pl.ifname, op, what);
	r = reply_ok();
	if (iface__vlan_warning(ifc, err, sizeof(err)))
		add_str(r, "warning", err);
	return r;
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

static struct json_object *stats_json(struct daemon *d, struct iface *ifc)
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
	p = pipe_stats_json(&ps);
	json_object_object_add(o, "pipeline", p);
	a = json_object_new_array();
	for (int i = 0; i < ifc->pl.nr_stages; i++) {
		struct json_object *s = slot_stats_json(&slots[i]);

		add_int(s, "slot", i);
		add_str(s, "name", ifc->pl.src[i].name);
		json_object_array_add(a, s);
	}
	json_object_object_add(o, "stages", a);
	json_object_object_add(o, "observe", observe__stats_json(d, ifc));
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
			json_object_array_add(a, stats_json(d, &d->ifs[i]));
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
		observe__reloaded(d, false);
		json_object_put(changed);
		return reply_err("%s", err);
	}
	observe__reloaded(d, true);
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
	observe__sync(d);
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
	{ "stage.prepare", op_stage_prepare },
	{ "txn", op_txn },
	{ "commit", op_commit },
	{ "candidate.drop", op_candidate_drop },
	{ "txn.rollback", op_txn_rollback },
	{ "canary.start", op_canary_start },
	{ "canary.status", op_canary_status },
	{ "canary.promote", op_canary_promote },
	{ "canary.abort", op_canary_abort },
	{ "repair", op_repair },
	{ "stage.diff", op_stage_diff },
	{ "diff.status", op_diff_status },
	{ "rule.add", op_rule_add },
	{ "rule.del", op_rule_del },
	{ "rule.list", op_rule_list },
	{ "stats", op_stats },
	{ "history", op_history },
	{ "reload", op_reload },
	{ "down", op_down },
	{ "xsk.stats", op_xsk_stats },
	{ "anomalies", observe__op_anomalies },
	{ "observe", observe__op_observe },
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
	d->req_us = sluice_now_us();
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(op, ops[i].name))
			return ops[i].fn(d, req, uid);
	return reply_err("unknown op '%s'", op);
}
