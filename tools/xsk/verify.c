// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * --verify: the sluice payload of every frame (lib/pkt.c pkt_check), tracked
 * per flow so loss, duplication and reordering show separately.
 * --meta: the struct sluice_meta the pipeline entry put in front of the frame.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "pkt.h"
#include "xsk_tool.h"

struct xt_verify *xt_verify_new(void)
{
	return calloc(1, sizeof(struct xt_verify));
}

static __u32 slot_of(__u32 key, __u32 slots)
{
	return (key * 2654435761u) % slots;
}

static struct xt_flow *flow_lookup(struct xt_verify *v, __u32 flow, bool create)
{
	__u32 h = slot_of(flow, XT_MAX_FLOWS), i;

	for (i = 0; i < XT_MAX_FLOWS; i++) {
		struct xt_flow *f = &v->flows[(h + i) % XT_MAX_FLOWS];

		if (f->used && f->flow == flow)
			return f;
		if (!f->used) {
			if (!create)
				return NULL;
			f->used = true;
			f->flow = flow;
			return f;
		}
	}
	return NULL;
}

static bool seen_test(const struct xt_flow *f, __u64 seq)
{
	__u64 bit = seq % XT_SEQ_WINDOW;

	return f->seen[bit / 64] & (1ull << (bit % 64));
}

static void seen_set(struct xt_flow *f, __u64 seq, bool on)
{
	__u64 bit = seq % XT_SEQ_WINDOW;

	if (on)
		f->seen[bit / 64] |= 1ull << (bit % 64);
	else
		f->seen[bit / 64] &= ~(1ull << (bit % 64));
}

/*
 * A flow's numbers count from the first one seen, so a generator may start
 * anywhere; losing the very first packets then shows only in "valid".
 */
static void flow_seq(struct xt_flow *f, __u64 seq)
{
	__u64 s;

	f->valid++;
	if (f->valid == 1) {
		f->first = seq;
		f->next = seq + 1;
		seen_set(f, seq, true);
		return;
	}
	if (seq >= f->next) {
		f->gaps += seq - f->next;
		/* Numbers skipped over leave the window: forget what was there. */
		if (seq - f->next >= XT_SEQ_WINDOW)
			memset(f->seen, 0, sizeof(f->seen));
		else
			for (s = f->next; s < seq; s++)
				seen_set(f, s, false);
		seen_set(f, seq, true);
		f->next = seq + 1;
	} else if (seq < f->first || f->next - seq > XT_SEQ_WINDOW) {
		f->stale++;
	} else if (seen_test(f, seq)) {
		f->dups++;
	} else {
		seen_set(f, seq, true);
		f->late++;
		f->gaps--;
	}
}

void xt_verify_frame(struct xt_verify *v, const void *frame, __u32 len)
{
	struct xt_flow *f;
	uint64_t seq = 0;
	uint32_t flow = 0;
	int err;

	err = pkt_check(frame, len, &seq, &flow);
	if (err == -ENOENT) {
		v->no_payload++;
		return;
	}
	if (err) {
		/* The flow field may be the corrupt part: never make a flow of it. */
		v->corrupt++;
		f = flow_lookup(v, flow, false);
		if (f)
			f->corrupt++;
		return;
	}
	v->valid++;
	f = flow_lookup(v, flow, true);
	if (!f) {
		v->untracked++;
		return;
	}
	flow_seq(f, seq);
}

static void tally_add(struct xt_tally *t, __u32 key, __u64 n)
{
	__u32 h = slot_of(key, XT_TALLY_SLOTS), i, s;

	for (i = 0; i < XT_TALLY_SLOTS; i++) {
		s = (h + i) % XT_TALLY_SLOTS;
		if (t->count[s] && t->key[s] == key) {
			t->count[s] += n;
			return;
		}
		if (!t->count[s]) {
			t->key[s] = key;
			t->count[s] = n;
			t->used++;
			return;
		}
	}
	t->other += n;
}

void xt_verify_meta(struct xt_verify *v, void *p)
{
	static const struct sluice_meta none;
	struct sluice_meta m;

	memcpy(&m, p, sizeof(m));
	if (!memcmp(&m, &none, sizeof(m))) {
		v->meta_none++;
		return;
	}
	/*
	 * The kernel writes only the metadata a program reserved: clear ours so
	 * the next frame landing in this umem frame without any does not
	 * inherit it.
	 */
	memset(p, 0, sizeof(m));
	v->meta_frames++;
	if (m.flags & SLUICE_PKT_MIXED)
		v->meta_mixed++;
	tally_add(&v->by_rule, m.rule, 1);
	tally_add(&v->by_path, m.path, 1);
	tally_add(&v->by_gen, m.gen, 1);
}

static void tally_sum(struct xt_tally *sum, const struct xt_tally *t)
{
	__u32 i;

	for (i = 0; i < XT_TALLY_SLOTS; i++)
		if (t->count[i])
			tally_add(sum, t->key[i], t->count[i]);
	sum->other += t->other;
}

/* Totals over queues; flows are per queue and are not merged. */
void xt_verify_sum(struct xt_verify *sum, const struct xt_verify *v)
{
	__u32 i;

	sum->valid += v->valid;
	sum->corrupt += v->corrupt;
	sum->no_payload += v->no_payload;
	sum->untracked += v->untracked;
	for (i = 0; i < XT_MAX_FLOWS; i++) {
		const struct xt_flow *f = &v->flows[i];

		if (!f->used)
			continue;
		sum->gaps += f->gaps;
		sum->dups += f->dups;
		sum->late += f->late;
		sum->stale += f->stale;
	}
	sum->meta_frames += v->meta_frames;
	sum->meta_none += v->meta_none;
	sum->meta_mixed += v->meta_mixed;
	tally_sum(&sum->by_rule, &v->by_rule);
	tally_sum(&sum->by_path, &v->by_path);
	tally_sum(&sum->by_gen, &v->by_gen);
}
