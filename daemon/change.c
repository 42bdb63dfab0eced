// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The one way a running pipeline changes. A request handler parses what it
 * was asked into a struct change; change__apply() takes the lock, times the
 * call into the pipeline library, records history, logs once, counts the
 * result and starts any watch; change__reply() renders it. Automatic
 * rollbacks and canary decisions go through the same path.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include "clock.h"
#include "sluiced.h"

const char *const change_names[CHANGE_NR] = {
	[CHANGE_SWAP] = "stage.swap",
	[CHANGE_STAGE_ROLLBACK] = "stage.rollback",
	[CHANGE_COMMIT] = "txn",
	[CHANGE_PREPARE] = "prepare",
	[CHANGE_COMMIT_PREPARED] = "commit",
	[CHANGE_DROP] = "drop",
	[CHANGE_ROLLBACK] = "txn.rollback",
	[CHANGE_CANARY_START] = "canary.start",
	[CHANGE_CANARY_PROMOTE] = "canary.promote",
	[CHANGE_CANARY_ABORT] = "canary.abort",
	[CHANGE_REPAIR] = "repair",
	[CHANGE_GROUP_COMMIT] = "group.commit",
};


void change__init(struct change *c, enum change_kind kind, struct iface *ifc)
{
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	c->ifc = ifc;
	c->idx = -1;
}

void change__free(struct change *c)
{
	free(c->src);
	c->src = NULL;
	iface__free_preflight(c->pf, c->nr_pf);
	c->pf = NULL;
	c->nr_pf = 0;
	pipeline_err__clear(&c->err);
}

int change__alloc_src(struct change *c, const struct pipeline *pl)
{
	c->src = calloc(SLUICE_MAX_STAGES, sizeof(*c->src));
	if (!c->src)
		return -ENOMEM;
	memcpy(c->src, pl->src, sizeof(*c->src) * SLUICE_MAX_STAGES);
	c->n = pl->nr_stages;
	return 0;
}

void change__name(struct change *c, const char *stage)
{
	if (c->nr_what < SLUICE_MAX_STAGES)
		c->what[c->nr_what++] = stage;
}

static int call(struct change *c)
{
	struct pipeline *pl = &c->ifc->pl;

	switch (c->kind) {
	case CHANGE_SWAP:
		return pipeline__swap_stage(pl, c->idx, &c->src[0], c->pf, c->nr_pf, &c->err);
	case CHANGE_STAGE_ROLLBACK:
		return pipeline__rollback_stage(pl, c->idx, &c->err);
	case CHANGE_COMMIT:
		return pipeline__commit(pl, c->src, c->n, c->pf, c->nr_pf, &c->err);
	case CHANGE_PREPARE:
		return pipeline__prepare(pl, c->src, c->n, c->pf, c->nr_pf, &c->cand, &c->err);
	case CHANGE_COMMIT_PREPARED:
		return pipeline__commit_prepared(pl, c->cand, &c->err);
	case CHANGE_DROP:
		return pipeline__drop_candidate(pl, c->cand, &c->err);
	case CHANGE_ROLLBACK:
		return pipeline__rollback_commit(pl, &c->err);
	case CHANGE_CANARY_START:
		return pipeline__canary_start(pl, c->cand, c->share, &c->err);
	case CHANGE_CANARY_PROMOTE:
		return pipeline__canary_promote(pl, &c->err);
	case CHANGE_CANARY_ABORT:
		return pipeline__canary_abort(pl, &c->err);
	case CHANGE_REPAIR: {
		int n = pipeline__repair(pl, &c->err);

		c->repaired = n > 0 ? n : 0;
		return n < 0 ? n : 0;
	}
	default:
		c->err.msg[0] = '\0';
		snprintf(c->err.msg, sizeof(c->err.msg), "change %d cannot apply to one interface",
			 c->kind);
		return -EINVAL;
	}
}

static struct json_object *prog_ref(const struct stage_inst *s)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "prog_id", json_object_new_int64(s->prog_id));
	json_object_object_add(o, "tag", json_object_new_string(s->tag));
	return o;
}

/* What changed, for history.jsonl and `sluicectl history`. */
static struct json_object *history_entry(const struct change *c, uid_t uid, int ret)
{
	const struct pipeline *pl = &c->ifc->pl;
	struct json_object *e = json_object_new_object(), *stages, *old, *new;

	json_object_object_add(e, "time", json_object_new_int64((int64_t)time(NULL)));
	json_object_object_add(e, "uid", json_object_new_int64((int64_t)uid));
	json_object_object_add(e, "op", json_object_new_string(c->auto_reason ? "auto-rollback" :
							       change_names[c->kind]));
	json_object_object_add(e, "iface", json_object_new_string(pl->ifname));
	stages = json_object_new_array();
	old = json_object_new_array();
	new = json_object_new_array();
	for (int i = 0; i < c->nr_what; i++) {
		int idx = pipeline__find_stage(pl, c->what[i]);

		json_object_array_add(stages, json_object_new_string(c->what[i]));
		if (idx >= 0) {
			json_object_array_add(old, prog_ref(&c->before[idx]));
			if (!ret)
				json_object_array_add(new, prog_ref(&pl->live[idx]));
		}
	}
	json_object_object_add(e, "stages", stages);
	json_object_object_add(e, "old", old);
	json_object_object_add(e, "new", new);
	json_object_object_add(e, "old_gen", json_object_new_int64(c->old_gen));
	json_object_object_add(e, "new_gen", json_object_new_int64(ret ? c->old_gen : pl->gen));
	if (c->cand)
		json_object_object_add(e, "candidate", json_object_new_int64(c->cand));
	if (c->auto_reason)
		json_object_object_add(e, "reason", json_object_new_string(c->auto_reason));
	json_object_object_add(e, "duration_us", json_object_new_int64((int64_t)c->us));
	json_object_object_add(e, "result", json_object_new_string(ret ? "failed" : "ok"));
	if (ret)
		json_object_object_add(e, "error", json_object_new_string(c->err.msg));
	return e;
}

void change__history(struct daemon *d, struct iface *ifc, const char *op, uid_t uid, const char *what,
		     uint64_t us, const char *error)
{
	struct json_object *e = json_object_new_object(), *stages = json_object_new_array();

	json_object_array_add(stages, json_object_new_string(what));
	json_object_object_add(e, "time", json_object_new_int64((int64_t)time(NULL)));
	json_object_object_add(e, "uid", json_object_new_int64((int64_t)uid));
	json_object_object_add(e, "op", json_object_new_string(op));
	json_object_object_add(e, "iface", json_object_new_string(ifc->pl.ifname));
	json_object_object_add(e, "stages", stages);
	json_object_object_add(e, "old", json_object_new_array());
	json_object_object_add(e, "new", json_object_new_array());
	json_object_object_add(e, "duration_us", json_object_new_int64((int64_t)us));
	json_object_object_add(e, "result", json_object_new_string(error ? "failed" : "ok"));
	if (error)
		json_object_object_add(e, "error", json_object_new_string(error));
	history__add(d->hist, e);
}

/* Every change of a slot or a generation ends the watches it makes moot. */
static void watches_after(struct iface *ifc, const struct change *c)
{
	switch (c->kind) {
	case CHANGE_SWAP:
	case CHANGE_STAGE_ROLLBACK:
		ifc->watch[c->idx].active = false;
		break;
	case CHANGE_COMMIT:
	case CHANGE_COMMIT_PREPARED:
	case CHANGE_ROLLBACK:
	case CHANGE_CANARY_PROMOTE:
	case CHANGE_CANARY_ABORT:
		/* Another generation: every stage watch and the canary's are over. */
		for (int i = 0; i <= WATCH_COMMIT; i++)
			ifc->watch[i].active = false;
		ifc->canary.active = false;
		break;
	default:
		break;
	}
}

int change__apply(struct daemon *d, struct change *c, uid_t uid)
{
	struct iface *ifc = c->ifc;
	struct pipeline *pl = &ifc->pl;
	uint64_t t0;
	int ret;

	memcpy(c->before, pl->live, sizeof(c->before));
	c->old_gen = pl->gen;
	t0 = sluice_now_us();
	pthread_mutex_lock(&d->lock);
	ret = call(c);
	pthread_mutex_unlock(&d->lock);
	c->us = sluice_now_us() - t0;
	c->build_us = pl->last_build_us;
	c->switch_us = pl->last_switch_us;
	d->changes[c->kind][ret ? 1 : 0]++;
	/* A watch's decision to undo, by interface, for sluice_auto_rollbacks_total. */
	if (c->auto_reason && c->kind != CHANGE_CANARY_PROMOTE)
		metrics__count_auto_rollback(pl->ifname, !ret);
	if (!ret && c->kind != CHANGE_PREPARE && c->kind != CHANGE_DROP)
		d->swaps++;
	history__add(d->hist, history_entry(c, uid, ret));
	if (ret) {
		log_warn("%s: %s refused (uid %u): %s", pl->ifname, change_names[c->kind], (unsigned int)uid,
			 c->err.msg);
		return ret;
	}
	watches_after(ifc, c);
	change__check_drift(ifc);
	if (c->kind == CHANGE_SWAP && c->nr_what)
		log_notice("%s: stage '%s' now runs %s (program %u, was %u) after %llu us (uid %u)",
			   pl->ifname, c->what[0], pl->src[c->idx].object, pl->live[c->idx].prog_id,
			   c->before[c->idx].prog_id, (unsigned long long)c->us, (unsigned int)uid);
	else
		log_notice("%s: %s%s%s: generation %u -> %u, candidate %u, after %llu us (uid %u)",
			   pl->ifname, change_names[c->kind], c->auto_reason ? " because " : "",
			   c->auto_reason ? c->auto_reason : "", c->old_gen, pl->gen, c->cand,
			   (unsigned long long)c->us, (unsigned int)uid);
	return 0;
}

struct json_object *change__reply(const struct daemon *d, const struct change *c, int ret)
{
	const struct pipeline *pl = &c->ifc->pl;
	struct json_object *r = json_object_new_object();

	json_object_object_add(r, "ok", json_object_new_boolean(!ret));
	if (ret) {
		json_object_object_add(r, "error", json_object_new_string(c->err.msg));
		if (c->err.verifier_log)
			json_object_object_add(r, "verifier_log",
					       json_object_new_string(c->err.verifier_log));
		return r;
	}
	if (c->idx >= 0) {
		json_object_object_add(r, "old_prog_id", json_object_new_int64(c->before[c->idx].prog_id));
		json_object_object_add(r, "new_prog_id", json_object_new_int64(pl->live[c->idx].prog_id));
	}
	json_object_object_add(r, "old_gen", json_object_new_int64(c->old_gen));
	json_object_object_add(r, "new_gen", json_object_new_int64(pl->gen));
	if (c->cand)
		json_object_object_add(r, "candidate", json_object_new_int64(c->cand));
	if (c->kind == CHANGE_REPAIR)
		json_object_object_add(r, "repaired", json_object_new_int64(c->repaired));
	json_object_object_add(r, "duration_us", json_object_new_int64((int64_t)c->us));
	json_object_object_add(r, "build_us", json_object_new_int64((int64_t)c->build_us));
	json_object_object_add(r, "switch_us", json_object_new_int64((int64_t)c->switch_us));
	/*
	 * From the request's arrival to the step packets see, grace period
	 * excluded; and that step on CLOCK_MONOTONIC, so that a client on this
	 * machine can time its own command to the moment it went live.
	 */
	if (pl->last_switch_at_us >= d->req_us && d->req_us) {
		json_object_object_add(r, "to_switch_us",
				       json_object_new_int64((int64_t)(pl->last_switch_at_us - d->req_us)));
		json_object_object_add(r, "switch_at_us", json_object_new_int64((int64_t)pl->last_switch_at_us));
	}
	return r;
}

int change__apply_group(struct daemon *d, struct iface **ifcs, const uint32_t *cands, int n,
			uid_t uid, struct pipeline_err *err)
{
	struct pipeline *pls[SLUICE_MAX_GROUP];
	uint32_t old_gen[SLUICE_MAX_GROUP];
	uint64_t t0;
	int ret;

	if (n < 1 || n > SLUICE_MAX_GROUP) {
		snprintf(err->msg, sizeof(err->msg), "a commit names 1 to %d interfaces", SLUICE_MAX_GROUP);
		return -EINVAL;
	}
	for (int i = 0; i < n; i++) {
		pls[i] = &ifcs[i]->pl;
		old_gen[i] = pls[i]->gen;
	}
	t0 = sluice_now_us();
	pthread_mutex_lock(&d->lock);
	ret = pipeline__commit_group(pls, cands, n, err);
	pthread_mutex_unlock(&d->lock);
	t0 = sluice_now_us() - t0;
	d->changes[CHANGE_GROUP_COMMIT][ret ? 1 : 0]++;
	for (int i = 0; i < n; i++) {
		struct change c;

		change__init(&c, CHANGE_GROUP_COMMIT, ifcs[i]);
		c.old_gen = old_gen[i];
		c.cand = cands[i];
		c.us = t0;
		memcpy(c.before, pls[i]->live, sizeof(c.before));
		if (ret)
			snprintf(c.err.msg, sizeof(c.err.msg), "%s", err->msg);
		history__add(d->hist, history_entry(&c, uid, ret));
		if (!ret)
			watches_after(ifcs[i], &(struct change){ .kind = CHANGE_COMMIT });
	}
	if (ret) {
		log_warn("group commit of %d interfaces refused (uid %u): %s", n, (unsigned int)uid, err->msg);
		return ret;
	}
	d->swaps++;
	for (int i = 0; i < n; i++)
		log_notice("%s: group commit: generation %u -> %u with %d other interface(s) after %llu us "
			   "(uid %u)", pls[i]->ifname, old_gen[i], pls[i]->gen, n - 1,
			   (unsigned long long)t0, (unsigned int)uid);
	return 0;
}

/* ---- watches: auto-rollback after a change, and a canary's verdict ---- */

void change__watch_stage(struct iface *ifc, int idx)
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

/* After a transaction: the strictest policy of the stages it named watches the generation. */
void change__watch_commit(struct iface *ifc, const struct change *c)
{
	struct rollback_watch *w = &ifc->watch[WATCH_COMMIT];
	bool any = false;

	w->active = false;
	for (int i = 0; i < c->nr_what; i++) {
		const struct cfg_stage *cs = iface__cfg_stage(ifc, c->what[i]);

		if (!cs || !cs->auto_rollback.enabled)
			continue;
		if (!any || cs->auto_rollback.max_aborted < w->policy.max_aborted)
			w->policy.max_aborted = cs->auto_rollback.max_aborted;
		if (!any || cs->auto_rollback.max_missed < w->policy.max_missed)
			w->policy.max_missed = cs->auto_rollback.max_missed;
		if (!any || cs->auto_rollback.max_drop_ratio < w->policy.max_drop_ratio)
			w->policy.max_drop_ratio = cs->auto_rollback.max_drop_ratio;
		if (!any || cs->auto_rollback.window_ms > w->policy.window_ms)
			w->policy.window_ms = cs->auto_rollback.window_ms;
		any = true;
	}
	if (!any || pipeline__stats_bank(&ifc->pl, ifc->pl.bank, &w->base, NULL))
		return;
	w->idx = -1;
	w->until_ms = ctl__now_ms() + w->policy.window_ms;
	w->active = true;
}

/* What went wrong since base, by policy; "" when nothing did. */
static void judge(const struct cfg_auto_rollback *p, const struct sluice_pipe_stats *now,
		  const struct sluice_pipe_stats *base, double drop_ratio_base, char *why, size_t len)
{
	uint64_t aborted = now->verdict[XDP_ABORTED] - base->verdict[XDP_ABORTED];
	uint64_t missed = now->missed - base->missed;
	uint64_t pkts = now->packets - base->packets;
	uint64_t drops = now->verdict[XDP_DROP] - base->verdict[XDP_DROP];
	double ratio = pkts ? (double)drops / (double)pkts : 0;

	why[0] = '\0';
	if (aborted > p->max_aborted)
		snprintf(why, len, "%llu aborted verdicts (limit %llu)", (unsigned long long)aborted,
			 (unsigned long long)p->max_aborted);
	else if (missed > p->max_missed)
		snprintf(why, len, "%llu missed tail calls (limit %llu)", (unsigned long long)missed,
			 (unsigned long long)p->max_missed);
	else if (pkts >= 100 && ratio - drop_ratio_base > p->max_drop_ratio)
		snprintf(why, len, "drop ratio %.2f, %.2f above the baseline (limit %.2f)", ratio,
			 ratio - drop_ratio_base, p->max_drop_ratio);
}

static void watch_tick_stage(struct daemon *d, struct iface *ifc, struct rollback_watch *w,
			     uint64_t now)
{
	struct sluice_slot_stats slots[SLUICE_MAX_STAGES];
	struct sluice_pipe_stats ps, slot_now = {}, slot_base = {};
	struct change c;
	char why[256];

	if (pipeline__stats(&ifc->pl, &ps, slots))
		return;
	/* Aborts and misses anywhere count; drops only where the new stage decided them. */
	slot_now = ps;
	slot_base = w->base;
	slot_now.packets = slots[w->idx].packets;
	slot_now.verdict[XDP_DROP] = slots[w->idx].verdict[XDP_DROP];
	slot_base.packets = w->base_slot.packets;
	slot_base.verdict[XDP_DROP] = w->base_slot.verdict[XDP_DROP];
	judge(&w->policy, &slot_now, &slot_base, 0, why, sizeof(why));
	if (!why[0]) {
		if (now >= w->until_ms)
			w->active = false;
		return;
	}
	w->active = false;
	change__init(&c, CHANGE_STAGE_ROLLBACK, ifc);
	c.idx = w->idx;
	c.auto_reason = why;
	change__name(&c, ifc->pl.src[w->idx].name);
	log_warn("%s: stage '%s': %s within %u ms of the swap: rolling back", ifc->pl.ifname,
		 ifc->pl.src[w->idx].name, why, w->policy.window_ms);
	if (!change__apply(d, &c, 0))
		d->auto_rollbacks++;
	change__free(&c);
}

static void watch_tick_commit(struct daemon *d, struct iface *ifc, struct rollback_watch *w,
			      uint64_t now)
{
	struct sluice_pipe_stats ps;
	struct change c;
	char why[256];

	if (pipeline__stats_bank(&ifc->pl, ifc->pl.bank, &ps, NULL))
		return;
	judge(&w->policy, &ps, &w->base, 0, why, sizeof(why));
	if (!why[0]) {
		if (now >= w->until_ms)
			w->active = false;
		return;
	}
	w->active = false;
	change__init(&c, CHANGE_ROLLBACK, ifc);
	c.auto_reason = why;
	log_warn("%s: generation %u: %s within %u ms of the transaction: rolling back", ifc->pl.ifname,
		 ifc->pl.gen, why, w->policy.window_ms);
	if (!change__apply(d, &c, 0))
		d->auto_rollbacks++;
	change__free(&c);
}

/*
 * A canary with --auto: aborted when its side is worse than the live side
 * by the margins, promoted when its window passes without that.
 */
static void watch_tick_canary(struct daemon *d, struct iface *ifc, uint64_t now)
{
	struct canary_watch *w = &ifc->canary;
	struct sluice_pipe_stats live, cand;
	double live_ratio;
	uint64_t lp, ld;
	struct change c;
	char why[256];
	int b = pipeline__canary_bank(&ifc->pl);

	if (b < 0) {
		w->active = false;
		return;
	}
	if (pipeline__stats_bank(&ifc->pl, ifc->pl.bank, &live, NULL) ||
	    pipeline__stats_bank(&ifc->pl, b, &cand, NULL))
		return;
	lp = live.packets - w->base_live.packets;
	ld = live.verdict[XDP_DROP] - w->base_live.verdict[XDP_DROP];
	live_ratio = lp ? (double)ld / (double)lp : 0;
	judge(&w->policy, &cand, &w->base_cand, live_ratio, why, sizeof(why));
	if (!why[0] && now < w->until_ms)
		return;
	w->active = false;
	change__init(&c, why[0] ? CHANGE_CANARY_ABORT : CHANGE_CANARY_PROMOTE, ifc);
	c.auto_reason = why[0] ? why : "its window passed cleanly";
	log_notice("%s: canary: %s: %s", ifc->pl.ifname, why[0] ? "aborting" : "promoting",
		   c.auto_reason);
	if (!change__apply(d, &c, 0) && why[0])
		d->auto_rollbacks++;
	change__free(&c);
}

void change__watch_canary(struct iface *ifc, const struct cfg_auto_rollback *policy)
{
	struct canary_watch *w = &ifc->canary;
	int b = pipeline__canary_bank(&ifc->pl);

	w->active = false;
	if (b < 0 || pipeline__stats_bank(&ifc->pl, ifc->pl.bank, &w->base_live, NULL) ||
	    pipeline__stats_bank(&ifc->pl, b, &w->base_cand, NULL))
		return;
	w->policy = *policy;
	w->until_ms = ctl__now_ms() + policy->window_ms;
	w->active = true;
}

/*
 * Slot drift: a slot of the live bank holding another program than the one
 * the daemon put there (someone ran bpftool map update on the pin). Logged
 * when it appears or clears; status and metrics show it; `sluicectl repair`
 * puts the recorded programs back.
 */
#define DRIFT_CHECK_MS	2000

void change__check_drift(struct iface *ifc)
{
	uint32_t running[SLUICE_MAX_STAGES];
	int drift = pipeline__drift(&ifc->pl, running);

	if (drift < 0 || (uint32_t)drift == ifc->drift)
		return;
	for (int i = 0; i < ifc->pl.nr_stages; i++)
		if ((drift & (1 << i)) && !(ifc->drift & (1u << i)))
			log_warn("%s: slot %d (stage '%s') runs program %u, not the %u sluice put there; "
				 "'sluicectl repair %s' restores it", ifc->pl.ifname, i, ifc->pl.src[i].name,
				 running[i], ifc->pl.live[i].prog_id, ifc->pl.ifname);
	if (!drift)
		log_notice("%s: no slot drift any more", ifc->pl.ifname);
	ifc->drift = (uint32_t)drift;
}

void daemon__watch_tick(struct daemon *d)
{
	uint64_t now = ctl__now_ms();
	bool drift = now - d->drift_check_ms >= DRIFT_CHECK_MS;

	if (drift)
		d->drift_check_ms = now;

	for (size_t i = 0; i < d->nr_ifs; i++) {
		struct iface *ifc = &d->ifs[i];

		for (int s = 0; s < ifc->pl.nr_stages; s++)
			if (ifc->watch[s].active)
				watch_tick_stage(d, ifc, &ifc->watch[s], now);
		if (ifc->watch[WATCH_COMMIT].active)
			watch_tick_commit(d, ifc, &ifc->watch[WATCH_COMMIT], now);
		if (ifc->canary.active)
			watch_tick_canary(d, ifc, now);
		if (drift)
			change__check_drift(ifc);
	}
	diff__tick(d);
}
