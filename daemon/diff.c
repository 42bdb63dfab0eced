// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Shadow diff: what a candidate stage would do to real traffic, before it
 * goes live. The entry copies frames it admits into the sluice_samples ring
 * (before any stage ran, so frames later dropped are sampled too); the
 * daemon runs each one through two scratch copies of the pipeline, the live
 * stages and the candidate's, with BPF_PROG_TEST_RUN over copies of the
 * state, and counts the frames whose verdicts differ, keeping the first of
 * them for a pcap. Live state and live traffic are untouched: the scratch
 * copies have their own maps, and the sampling knob is the only thing the
 * live entry sees.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>
#include "clock.h"
#include "sluiced.h"

#define DIFF_KEEP	64	/* differing frames kept for the pcap */
#define DIFF_MAX_JOBS	4

struct diff_frame {
	uint32_t len;
	uint8_t live, cand;
	uint8_t data[SLUICE_SAMPLE_SNAP];
};

struct diff_job {
	uint32_t id;
	char ifname[IF_NAMESIZE];
	char stage[SLUICE_NAME_LEN];
	struct pipeline_scratch *live, *cand;
	struct ring_buffer *rb;
	int samples_fd;
	long every;			/* sampling: 1 frame in every */
	uint64_t until_ms;
	uint32_t want, seen, differ, errors;
	uint32_t udp, tcp;		/* sampled frames by L4 protocol, for the report */
	uint64_t matrix[SLUICE_NR_VERDICTS][SLUICE_NR_VERDICTS];	/* [live][candidate] */
	struct diff_frame *kept;
	uint32_t nr_kept;
	bool done;
	char error[256];
};

struct diff_state {
	struct diff_job *jobs[DIFF_MAX_JOBS];
	uint32_t next_id;
};

static struct diff_state *state(struct daemon *d)
{
	if (!d->diff)
		d->diff = calloc(1, sizeof(struct diff_state));
	return d->diff;
}

/* The L4 protocol of an untagged IPv4 or IPv6 frame, 0 for anything else. */
static int l4_proto(const uint8_t *f, size_t len)
{
	if (len >= 14 + 20 && f[12] == 0x08 && f[13] == 0x00)
		return f[14 + 9];
	if (len >= 14 + 40 && f[12] == 0x86 && f[13] == 0xdd)
		return f[14 + 6];
	return 0;
}

static int on_sample(void *ctx, void *data, size_t size)
{
	struct diff_job *j = ctx;
	const struct sluice_sample *s = data;
	uint32_t a = 0, b = 0;

	if (j->done || size < sizeof(*s) || j->seen >= j->want)
		return 0;
	if (pipeline__scratch_run(j->live, s->data, s->caplen, &a) ||
	    pipeline__scratch_run(j->cand, s->data, s->caplen, &b)) {
		j->errors++;
		return 0;
	}
	j->seen++;
	switch (l4_proto(s->data, s->caplen)) {
	case 6:
		j->tcp++;
		break;
	case 17:
		j->udp++;
		break;
	}
	if (a < SLUICE_NR_VERDICTS && b < SLUICE_NR_VERDICTS)
		j->matrix[a][b]++;
	if (a == b)
		return 0;
	j->differ++;
	if (j->nr_kept < DIFF_KEEP) {
		struct diff_frame *f = &j->kept[j->nr_kept++];

		f->len = s->caplen;
		f->live = (uint8_t)a;
		f->cand = (uint8_t)b;
		memcpy(f->data, s->data, s->caplen);
	}
	return 0;
}

static void job_free(struct diff_job *j)
{
	if (!j)
		return;
	ring_buffer__free(j->rb);
	if (j->samples_fd >= 0)
		close(j->samples_fd);
	pipeline__scratch_close(j->live);
	pipeline__scratch_close(j->cand);
	free(j->kept);
	free(j);
}

/* Stops sampling on the interface, if it still runs a pipeline. */
static void job_finish(struct daemon *d, struct diff_job *j, const char *error)
{
	struct iface *ifc = daemon__iface(d, j->ifname);

	if (j->done)
		return;
	j->done = true;
	if (error)
		snprintf(j->error, sizeof(j->error), "%s", error);
	if (ifc)
		pipeline__set_knobs(&ifc->pl, -1, 0, -1);
	/* What the scratch copies held is of no more use. */
	pipeline__scratch_close(j->live);
	pipeline__scratch_close(j->cand);
	j->live = j->cand = NULL;
	log_notice("%s: shadow diff %u of stage '%s': %u frames, %u with another verdict%s%s",
		   j->ifname, j->id, j->stage, j->seen, j->differ, error ? ": " : "", error ? error : "");
}

int diff__start(struct daemon *d, struct iface *ifc, int idx, const struct stage_src *src,
		uint32_t samples, uint32_t seconds, uint32_t *id, char *err, size_t len)
{
	struct diff_state *st = state(d);
	struct pipeline_err perr = {};
	struct stage_src *cand = NULL;
	struct diff_job *j = NULL;
	int slot = -1, ret;

	if (!st)
		return -ENOMEM;
	if (!ifc->pl.sw || !(ifc->pl.entry_flags & SLUICE_ENTRY_F_SAMPLER)) {
		snprintf(err, len, "%s: this kernel cannot copy whole frames out of XDP "
			 "(bpf_xdp_load_bytes, Linux 5.18): no shadow diff", ifc->pl.ifname);
		return -ENOTSUP;
	}
	for (int i = 0; i < DIFF_MAX_JOBS; i++) {
		if (st->jobs[i] && !st->jobs[i]->done && !strcmp(st->jobs[i]->ifname, ifc->pl.ifname)) {
			snprintf(err, len, "%s: shadow diff %u is still running", ifc->pl.ifname,
				 st->jobs[i]->id);
			return -EBUSY;
		}
		if (slot < 0 && (!st->jobs[i] || st->jobs[i]->done))
			slot = i;
	}
	if (slot < 0) {
		snprintf(err, len, "%d shadow diffs are running", DIFF_MAX_JOBS);
		return -EBUSY;
	}
	j = calloc(1, sizeof(*j));
	cand = calloc(SLUICE_MAX_STAGES, sizeof(*cand));
	if (!j || !cand) {
		ret = -ENOMEM;
		goto fail;
	}
	j->samples_fd = -1;
	j->kept = calloc(DIFF_KEEP, sizeof(*j->kept));
	if (!j->kept) {
		ret = -ENOMEM;
		goto fail;
	}
	snprintf(j->ifname, sizeof(j->ifname), "%s", ifc->pl.ifname);
	snprintf(j->stage, sizeof(j->stage), "%s", ifc->pl.src[idx].name);
	memcpy(cand, ifc->pl.src, sizeof(*cand) * SLUICE_MAX_STAGES);
	cand[idx] = *src;
	memcpy(cand[idx].name, ifc->pl.src[idx].name, sizeof(cand[idx].name));
	ret = pipeline__scratch_open(&ifc->pl, ifc->pl.src, ifc->pl.nr_stages, &j->live, &perr);
	if (!ret)
		ret = pipeline__scratch_open(&ifc->pl, cand, ifc->pl.nr_stages, &j->cand, &perr);
	if (ret) {
		snprintf(err, len, "%s", perr.msg);
		pipeline_err__clear(&perr);
		goto fail;
	}
	j->samples_fd = pipeline__map_fd(&ifc->pl, "sluice_samples");
	if (j->samples_fd < 0) {
		ret = j->samples_fd;
		snprintf(err, len, "%s: no samples ring: %s", ifc->pl.ifname, strerror(-ret));
		goto fail;
	}
	j->rb = ring_buffer__new(j->samples_fd, on_sample, j, NULL);
	if (!j->rb) {
		ret = -errno;
		snprintf(err, len, "reading the samples ring: %s", strerror(-ret));
		goto fail;
	}
	/* Whatever an earlier diff left in the ring is not this candidate's traffic. */
	j->done = true;
	ring_buffer__consume(j->rb);
	j->done = false;
	j->want = samples;
	j->every = 1;
	j->until_ms = sluice_now_ms() + (uint64_t)seconds * 1000;
	j->id = ++st->next_id;
	ret = pipeline__set_knobs(&ifc->pl, -1, j->every, -1);
	if (ret) {
		snprintf(err, len, "starting the sampler: %s", strerror(-ret));
		goto fail;
	}
	job_free(st->jobs[slot]);
	st->jobs[slot] = j;
	*id = j->id;
	free(cand);
	log_notice("%s: shadow diff %u of stage '%s' against %s: up to %u frames in %u s",
		   ifc->pl.ifname, j->id, j->stage, src->object, samples, seconds);
	return 0;
fail:
	free(cand);
	job_free(j);
	return ret;
}

/* Called every tick of the event loop: reads samples, ends jobs. */
void diff__tick(struct daemon *d)
{
	struct diff_state *st = d->diff;

	if (!st)
		return;
	for (int i = 0; i < DIFF_MAX_JOBS; i++) {
		struct diff_job *j = st->jobs[i];
		struct iface *ifc;
		int n;

		if (!j || j->done)
			continue;
		ifc = daemon__iface(d, j->ifname);
		if (!ifc) {
			job_finish(d, j, "the interface's pipeline went away");
			continue;
		}
		n = ring_buffer__consume(j->rb);
		/* A ring nearly full (it holds about 670) loses frames: sample fewer. */
		if (n > 500 && j->every < (1 << 20)) {
			j->every *= 2;
			pipeline__set_knobs(&ifc->pl, -1, j->every, -1);
		}
		if (j->seen >= j->want || sluice_now_ms() >= j->until_ms)
			job_finish(d, j, NULL);
	}
}

static struct diff_job *find(struct daemon *d, uint32_t id)
{
	struct diff_state *st = d->diff;

	for (int i = 0; st && i < DIFF_MAX_JOBS; i++)
		if (st->jobs[i] && st->jobs[i]->id == id)
			return st->jobs[i];
	return NULL;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

struct json_object *diff__json(struct daemon *d, uint32_t id, char *err, size_t len)
{
	struct diff_job *j = find(d, id);
	struct json_object *o, *m, *frames;
	char *buf;

	if (!j) {
		snprintf(err, len, "no shadow diff %u", id);
		return NULL;
	}
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64(j->id));
	json_object_object_add(o, "iface", json_object_new_string(j->ifname));
	json_object_object_add(o, "stage", json_object_new_string(j->stage));
	json_object_object_add(o, "done", json_object_new_boolean(j->done));
	json_object_object_add(o, "samples", json_object_new_int64(j->seen));
	json_object_object_add(o, "differ", json_object_new_int64(j->differ));
	json_object_object_add(o, "udp", json_object_new_int64(j->udp));
	json_object_object_add(o, "tcp", json_object_new_int64(j->tcp));
	json_object_object_add(o, "errors", json_object_new_int64(j->errors));
	if (j->error[0])
		json_object_object_add(o, "error", json_object_new_string(j->error));
	m = json_object_new_array();
	for (int a = 0; a < SLUICE_NR_VERDICTS; a++)
		for (int b = 0; b < SLUICE_NR_VERDICTS; b++) {
			struct json_object *c;

			if (!j->matrix[a][b])
				continue;
			c = json_object_new_object();
			json_object_object_add(c, "live", json_object_new_string(xdp_verdict_name(a)));
			json_object_object_add(c, "candidate", json_object_new_string(xdp_verdict_name(b)));
			json_object_object_add(c, "frames", json_object_new_int64((int64_t)j->matrix[a][b]));
			json_object_array_add(m, c);
		}
	json_object_object_add(o, "verdicts", m);
	if (!j->done)
		return o;
	frames = json_object_new_array();
	buf = malloc(2 * SLUICE_SAMPLE_SNAP + 1);
	for (uint32_t i = 0; buf && i < j->nr_kept; i++) {
		struct json_object *f = json_object_new_object();

		hex(j->kept[i].data, j->kept[i].len, buf);
		json_object_object_add(f, "live", json_object_new_string(xdp_verdict_name(j->kept[i].live)));
		json_object_object_add(f, "candidate",
				       json_object_new_string(xdp_verdict_name(j->kept[i].cand)));
		json_object_object_add(f, "hex", json_object_new_string(buf));
		json_object_array_add(frames, f);
	}
	free(buf);
	json_object_object_add(o, "frames", frames);
	return o;
}

void diff__free(struct daemon *d)
{
	struct diff_state *st = d->diff;

	for (int i = 0; st && i < DIFF_MAX_JOBS; i++) {
		if (st->jobs[i] && !st->jobs[i]->done)
			job_finish(d, st->jobs[i], "the daemon stopped");
		job_free(st->jobs[i]);
	}
	free(st);
	d->diff = NULL;
}
