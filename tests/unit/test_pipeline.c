// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The pipeline library through BPF_PROG_TEST_RUN, under the carrier the
 * suite runs with: generations load and pin, a slot swap and its rollback
 * change the verdict, a transaction builds a new generation in another bank
 * and keeps the old one for rollback, prepared candidates commit with one
 * store (or are refused when stale), a canary splits flows, a group commit
 * switches several interfaces together, slot drift is found and repaired,
 * adoption trusts what runs, and every bad input (verifier refusal, corrupt
 * object, a stage of another header, too many tail calls, stack before a
 * tail call, pre-flight mismatch, unknown parameter) leaves what runs
 * untouched.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include "harness.h"
#include "pkt.h"
#include "pipeline.h"
#include "probe.h"

static int probe_verdict_fd(int v)
{
	int fd = probe__load_verdict(v);

	assert_true(fd >= 0);
	return fd;
}

static char objdir[512];

static void src_set(struct stage_src *s, const char *name, const char *object)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->object, sizeof(s->object), "%s", object);
}

static void src_verdict(struct stage_src *s, const char *name, int verdict)
{
	src_set(s, name, "verdict");
	stage_src__set_param(s, "verdict", verdict);
}

static void src_testdata(struct stage_src *s, const char *name, const char *file)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/testdata/%s", objdir, file);
	src_set(s, name, path);
}

static int frame(uint8_t *buf)
{
	struct pkt_spec s;

	pkt_spec_default(&s);
	return pkt_build(&s, buf, 256);
}

static uint32_t run(struct pipeline *pl, struct sluice_meta *m)
{
	uint8_t buf[256];
	uint32_t v = 0xdead;
	int len = frame(buf), err;

	err = pipeline__test_run(pl, buf, len, &v, m);

	/* It reads the metadata back through an xdp_md context, which 5.10 refuses. */
	if (err == -EINVAL && xdp_ctx_refused())
		skip();
	assert_int_equal(err, 0);
	return v;
}

/* pass -> verdict(drop): a 2-stage pipeline loaded, not attached. */
static void load_two(struct pipeline *pl, const char *ifname)
{
	struct stage_src src[2];
	struct pipeline_err err = {};

	require_bpf();
	assert_non_null(test_pin_root());
	assert_int_equal(pipeline__init(pl, test_pin_root(), ifname), 0);
	pipeline__set_carrier(pl, test_carrier(), 0);
	src_set(&src[0], "first", "pass");
	src_verdict(&src[1], "decide", XDP_DROP);
	if (pipeline__load(pl, src, 2, XDP_PASS, &err))
		fail_msg("load: %s\n%s", err.msg, err.verifier_log ? err.verifier_log : "");
	pipeline_err__clear(&err);
}

static bool pinned(const struct pipeline *pl, const char *rel)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", pl->dir, rel);
	return stat(path, &st) == 0;
}

/* Whether a scratch copy (pre-flight, shadow diff) is still pinned. */
static bool scratch_left(const struct pipeline *pl)
{
	DIR *d = opendir(pl->dir);
	struct dirent *e;
	bool left = false;

	assert_non_null(d);
	while ((e = readdir(d)))
		left |= !strncmp(e->d_name, "scratch", 7);
	closedir(d);
	return left;
}

static void test_load_runs_every_stage(void **state)
{
	struct sluice_slot_stats slots[SLUICE_MAX_STAGES];
	struct sluice_pipe_stats ps;
	struct sluice_meta m;
	struct pipeline pl;

	load_two(&pl, "load");
	assert_int_equal(run(&pl, &m), XDP_DROP);
	assert_int_equal(m.path, 0x3);
	assert_int_equal(m.gen, 1);
	assert_int_equal(m.bank, 0);
	assert_int_equal(m.last, 1);
	assert_false(m.flags & SLUICE_PKT_MIXED);
	/* Generation 1 lives in bank 0; the entry serves every bank. */
	assert_true(pinned(&pl, "progs") && pinned(&pl, "entry") && pinned(&pl, "bank0/stage1"));
	assert_true(pinned(&pl, "maps/sluice_switch") && pinned(&pl, "maps/sluice_ctx"));
	assert_true(pinned(&pl, "maps/sluice_slot_stats") && pinned(&pl, "info"));
	assert_int_equal(pipeline__stats(&pl, &ps, slots), 0);
	assert_int_equal(ps.packets, 1);
	assert_int_equal(ps.verdict[XDP_DROP], 1);
	/* Counted once, by the last slot; what entered each slot is derived. */
	assert_int_equal(slots[0].packets, 1);
	assert_int_equal(slots[1].packets, 1);
	assert_int_equal(slots[2].packets, 0);
	assert_int_equal(slots[0].verdict[XDP_DROP], 0);
	assert_int_equal(slots[1].verdict[XDP_DROP], 1);
	assert_int_equal(ps.missed, 0);
	pipeline__destroy(&pl);
	assert_false(pinned(&pl, "info"));
	pipeline__close(&pl);
}

static void test_swap_and_rollback(void **state)
{
	struct pipeline_err err = {};
	struct stage_src s;
	struct pipeline pl;
	uint32_t old_id;

	load_two(&pl, "swap");
	old_id = pl.live[1].prog_id;
	src_verdict(&s, "decide", XDP_PASS);
	assert_int_equal(pipeline__swap_stage(&pl, 1, &s, NULL, 0, &err), 0);
	assert_int_equal(run(&pl, NULL), XDP_PASS);
	assert_int_not_equal(pl.live[1].prog_id, old_id);
	assert_int_equal(pl.prev[1].prog_id, old_id);
	assert_true(pinned(&pl, "prev/stage1"));

	assert_int_equal(pipeline__rollback_stage(&pl, 1, &err), 0);
	assert_int_equal(pl.live[1].prog_id, old_id);
	assert_int_equal(run(&pl, NULL), XDP_DROP);
	pipeline__destroy(&pl);
	pipeline__close(&pl);
}

static void test_bad_stages_leave_pipeline_untouched(void **state)
{
	struct sluice_slot_stats slots[SLUICE_MAX_STAGES];
	struct sluice_pipe_stats ps;
	struct pipeline_err err = {};
	struct stage_src s;
	struct pipeline pl;
	char path[PATH_MAX];
	uint32_t id;
	FILE *f;

	load_two(&pl, "bad");
	assert_int_equal(run(&pl, NULL), XDP_DROP);
	id = pl.live[1].prog_id;

	/* The verifier's reason comes back. */
	src_testdata(&s, "decide", "oob.bpf.o");
	assert_int_not_equal(pipeline__swap_stage(&pl, 1, &s, NULL, 0, &err), 0);
	if (!strstr(err.msg, "verifier refused"))
		fail_msg("%s", err.msg);
	assert_non_null(err.verifier_log);
	assert_non_null(strstr(err.verifier_log, "invalid access to packet"));
	pipeline_err__clear(&err);

	/* The stack rule for frames below a tail call, named. */
	src_testdata(&s, "decide", "bigstack.bpf.o");
	assert_int_not_equal(pipeline__swap_stage(&pl, 1, &s, NULL, 0, &err), 0);
	if (!strstr(err.msg, "256 bytes"))
		fail_msg("%s\n%s", err.msg, err.verifier_log ? err.verifier_log : "");
	pipeline_err__clear(&err);

	/* A corrupt object. */
	snprintf(path, sizeof(path), "%s/corrupt.bpf.o", test_pin_root());
	snprintf(path, sizeof(path), "/tmp/sluice-corrupt-%d.bpf.o", (int)getpid());
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("\x7f" "ELF this is not an object", f);
	fclose(f);
	src_set(&s, "decide", path);
	assert_int_not_equal(pipeline__swap_stage(&pl, 1, &s, NULL, 0, &err), 0);
	assert_non_null(strstr(err.msg, "not a loadable BPF object"));
	unlink(path);

	/* A parameter the object does not have. */
	src_set(&s, "decide", "verdict");
	stage_src__set_param(&s, "no_such_knob", 1);
	assert_int_equal(pipeline__swap_stage(&pl, 1, &s, NULL, 0, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "no parameter 'no_such_knob'"));
	assert_non_null(strstr(err.msg, "verdict"));

	/* A value the parameter cannot hold is refused, not cut to its width. */
	src_set(&s, "decide", "verdict");
	stage_src__set_param(&s, "verdict", (INT64_C(1) << 32) + XDP_PASS);
	assert_int_equal(pipeline__swap_stage(&pl, 1, &s, NULL, 0, &err), -ERANGE);
	assert_non_null(strstr(err.msg, "parameter 'verdict' cannot hold 4294967298"));
	src_set(&s, "decide", "verdict");
	stage_src__set_param(&s, "verdict", -1);
	assert_int_equal(pipeline__swap_stage(&pl, 1, &s, NULL, 0, &err), -ERANGE);

	/* A file the trust policy refuses: the rule is named, not only an errno. */
	src_set(&s, "decide", "/nonexistent/sluice-none.bpf.o");
	assert_int_not_equal(pipeline__swap_stage(&pl, 1, &s, NULL, 0, &err), 0);
	if (!strstr(err.msg, "sluice-none.bpf.o") || !strstr(err.msg, "stage 'decide'"))
		fail_msg("%s", err.msg);

	assert_int_equal(pl.live[1].prog_id, id);
	assert_int_equal(pl.prev[1].fd, -1);
	assert_int_equal(run(&pl, NULL), XDP_DROP);
	assert_int_equal(pipeline__stats(&pl, &ps, slots), 0);
	assert_int_equal(ps.packets, 2);	/* only our two runs */
	pipeline__destroy(&pl);
	pipeline__close(&pl);
}

static void test_validation_limits(void **state)
{
	struct stage_src src[SLUICE_MAX_STAGES];
	struct pipeline_err err = {};

	for (int i = 0; i < 4; i++) {
		char name[16];

		snprintf(name, sizeof(name), "s%d", i);
		src_set(&src[i], name, "pass");
	}
	assert_int_equal(pipeline__validate(src, 4, &err), 0);
	src[2].tail_calls = 30;	/* 1 + 1 + 31 + 1 = 34 */
	assert_int_equal(pipeline__validate(src, 4, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "34 tail calls"));
	assert_non_null(strstr(err.msg, "33"));
	src[2].tail_calls = 29;
	assert_int_equal(pipeline__validate(src, 4, &err), 0);
	src_set(&src[3], "s0", "pass");
	assert_int_equal(pipeline__validate(src, 4, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'s0' is used twice"));
	assert_int_equal(pipeline__validate(src, SLUICE_MAX_STAGES + 1, &err), -E2BIG);
}

static void test_transaction_new_generation(void **state)
{
	struct pipeline_err err = {};
	struct stage_src src[3];
	struct pipeline pl;
	struct sluice_meta m;

	load_two(&pl, "txn");
	src_set(&src[0], "first", "pass");
	src_set(&src[1], "middle", "pass");
	src_verdict(&src[2], "decide", XDP_TX);
	if (pipeline__commit(&pl, src, 3, NULL, 0, &err))
		fail_msg("commit: %s", err.msg);
	assert_int_equal(pl.gen, 2);
	assert_int_equal(pl.nr_stages, 3);
	assert_int_equal(run(&pl, &m), XDP_TX);
	assert_int_equal(m.gen, 2);
	assert_int_equal(m.bank, 1);
	assert_int_equal(m.path, 0x7);
	assert_false(m.flags & SLUICE_PKT_MIXED);
	assert_true(pinned(&pl, "bank1/stage2"));
	assert_true(pinned(&pl, "bank0/stage1"));	/* kept: rollback, and reuse by the next */
	assert_int_equal(pl.banks[0].state, SLUICE_BANK_PREV);
	pipeline__destroy(&pl);
	pipeline__close(&pl);
}

/*
 * A transaction builds the idle bank and keeps every instance there that
 * already runs the same code at the same position: only changed stages are
 * verified again, and what the packets see is still all one generation.
 */
static void test_transaction_reuses_unchanged_stages(void **state)
{
	struct pipeline_err err = {};
	struct stage_src src[3];
	struct pipeline pl;
	struct sluice_meta m;
	uint32_t gen1[3], gen2[3];

	load_two(&pl, "reuse");
	src_set(&src[0], "first", "pass");
	src_verdict(&src[1], "decide", XDP_DROP);
	for (int i = 0; i < 2; i++)
		gen1[i] = pl.live[i].prog_id;
	/* Generation 2 (bank 1) adds a stage: nothing there to reuse yet. */
	src_set(&src[1], "middle", "pass");
	src_verdict(&src[2], "decide", XDP_DROP);
	assert_int_equal(pipeline__commit(&pl, src, 3, NULL, 0, &err), 0);
	for (int i = 0; i < 3; i++)
		gen2[i] = pl.live[i].prog_id;
	assert_int_not_equal(gen2[0], gen1[0]);
	/* Generation 3 (bank 0) is generation 1 again with "decide" changed. */
	src_verdict(&src[1], "decide", XDP_TX);
	assert_int_equal(pipeline__commit(&pl, src, 2, NULL, 0, &err), 0);
	assert_int_equal(pl.gen, 3);
	assert_int_equal(pl.live[0].prog_id, gen1[0]);	/* kept: same code, same place */
	assert_int_not_equal(pl.live[1].prog_id, gen1[1]);	/* changed: loaded */
	assert_int_equal(run(&pl, &m), XDP_TX);
	assert_int_equal(m.gen, 3);
	assert_int_equal(m.path, 0x3);
	assert_false(m.flags & SLUICE_PKT_MIXED);
	assert_false(pinned(&pl, "bank0/stage2"));	/* nothing past the end */
	/* Generation 4 (bank 1): the three stages of generation 2, all reused. */
	src_set(&src[1], "middle", "pass");
	src_verdict(&src[2], "decide", XDP_DROP);
	assert_int_equal(pipeline__commit(&pl, src, 3, NULL, 0, &err), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pl.live[i].prog_id, gen2[i]);
	assert_int_equal(run(&pl, &m), XDP_DROP);
	assert_int_equal(m.gen, 4);
	assert_false(m.flags & SLUICE_PKT_MIXED);
	pipeline__destroy(&pl);
	pipeline__close(&pl);
}

static void test_preflight_mismatch_changes_nothing(void **state)
{
	struct sluice_slot_stats slots[SLUICE_MAX_STAGES];
	struct sluice_pipe_stats ps;
	struct pipeline_err err = {};
	struct preflight_pkt pf;
	struct stage_src s;
	struct pipeline pl;
	uint8_t buf[256];
	uint32_t id;

	load_two(&pl, "preflt");
	id = pl.live[1].prog_id;
	pf.frame = buf;
	pf.len = (size_t)frame(buf);
	pf.expect = XDP_DROP;
	src_verdict(&s, "decide", XDP_PASS);	/* would pass what must drop */
	assert_int_equal(pipeline__swap_stage(&pl, 1, &s, &pf, 1, &err), -EBADE);
	assert_non_null(strstr(err.msg, "verdict pass, expected drop"));
	assert_int_equal(pl.live[1].prog_id, id);
	assert_int_equal(pipeline__stats(&pl, &ps, slots), 0);
	assert_int_equal(ps.packets, 0);	/* the scratch run counted elsewhere */

	pf.expect = XDP_PASS;
	assert_int_equal(pipeline__swap_stage(&pl, 1, &s, &pf, 1, &err), 0);
	assert_int_equal(run(&pl, NULL), XDP_PASS);
	assert_int_equal(pipeline__stats(&pl, &ps, slots), 0);
	assert_int_equal(ps.packets, 1);
	assert_false(scratch_left(&pl));
	pipeline__destroy(&pl);
	pipeline__close(&pl);
}

static void test_adopt_pins(void **state)
{
	struct pipeline_err err = {};
	struct pipeline pl, again;
	struct stage_src s;
	uint32_t live_id, prev_id;

	load_two(&pl, "adopt");
	src_verdict(&s, "decide", XDP_PASS);
	assert_int_equal(pipeline__swap_stage(&pl, 1, &s, NULL, 0, &err), 0);
	live_id = pl.live[1].prog_id;
	prev_id = pl.prev[1].prog_id;
	pipeline__close(&pl);	/* as if the daemon died: pins keep it */

	assert_int_equal(pipeline__init(&again, test_pin_root(), "adopt"), 0);
	if (pipeline__adopt(&again, &err))
		fail_msg("adopt: %s", err.msg);
	assert_int_equal(again.nr_stages, 2);
	assert_string_equal(again.src[1].name, "decide");
	assert_int_equal(again.live[1].prog_id, live_id);
	assert_int_equal(again.prev[1].prog_id, prev_id);
	assert_int_equal(run(&again, NULL), XDP_PASS);
	assert_int_equal(pipeline__rollback_stage(&again, 1, &err), 0);
	assert_int_equal(run(&again, NULL), XDP_DROP);
	assert_int_equal(again.carrier, test_carrier());
	pipeline__destroy(&again);
	pipeline__close(&again);
}

static uint32_t map_id(const struct pipeline *pl, const char *name)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int fd = pipeline__map_fd(pl, name);

	assert_true(fd >= 0);
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	close(fd);
	return info.id;
}

/* Two interfaces naming a map in shared_maps use one map; the rest stay theirs. */
static void test_shared_maps(void **state)
{
	char *shared[] = { "sluice_counts" };
	struct pipeline_err err = {};
	struct pipeline a, b;
	struct stage_src src;

	require_bpf();
	src_set(&src, "count", "count");
	assert_int_equal(pipeline__init(&a, test_pin_root(), "sha"), 0);
	assert_int_equal(pipeline__init(&b, test_pin_root(), "shb"), 0);
	pipeline__set_carrier(&a, test_carrier(), 0);
	pipeline__set_carrier(&b, test_carrier(), 0);
	assert_int_equal(pipeline__share_maps(&a, test_pin_root(), shared, 1), 0);
	assert_int_equal(pipeline__share_maps(&b, test_pin_root(), shared, 1), 0);
	if (pipeline__load(&a, &src, 1, XDP_PASS, &err) || pipeline__load(&b, &src, 1, XDP_PASS, &err))
		fail_msg("load: %s", err.msg);
	assert_int_equal(map_id(&a, "sluice_counts"), map_id(&b, "sluice_counts"));
	assert_int_not_equal(map_id(&a, SLUICE_MAP_PIPE_STATS), map_id(&b, SLUICE_MAP_PIPE_STATS));
	assert_true(pinned(&a, "../shared/sluice_counts"));
	assert_false(pinned(&a, "maps/sluice_counts"));
	pipeline__destroy(&a);
	pipeline__destroy(&b);
	pipeline__close(&a);
	pipeline__close(&b);
}

/* Rolling back a transaction is one store back to the previous bank. */
static void test_rollback_commit(void **state)
{
	struct pipeline_err err = {};
	struct stage_src src[2];
	struct pipeline pl;
	struct sluice_meta m;
	uint32_t gen1[2];

	load_two(&pl, "txrb");
	for (int i = 0; i < 2; i++)
		gen1[i] = pl.live[i].prog_id;
	assert_int_equal(pipeline__rollback_commit(&pl, &err), -ENOENT);
	src_set(&src[0], "first", "pass");
	src_verdict(&src[1], "decide", XDP_TX);
	assert_int_equal(pipeline__commit(&pl, src, 2, NULL, 0, &err), 0);
	assert_int_equal(run(&pl, NULL), XDP_TX);
	assert_int_equal(pipeline__rollback_commit(&pl, &err), 0);
	assert_int_equal(run(&pl, &m), XDP_DROP);
	assert_int_equal(m.gen, 1);
	assert_int_equal(pl.gen, 1);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pl.live[i].prog_id, gen1[i]);
	/* And forward again: the rolled-back generation is now the previous one. */
	assert_int_equal(pipeline__rollback_commit(&pl, &err), 0);
	assert_int_equal(run(&pl, &m), XDP_TX);
	assert_int_equal(m.gen, 2);
	pipeline__destroy(&pl);
	pipeline__close(&pl);
}

/* Prepare, then commit with one store; a candidate whose base moved is refused. */
static void test_prepare_commit_and_stale(void **state)
{
	struct pipeline_err err = {};
	struct stage_src src[2];
	struct pipeline pl;
	uint32_t a, b;

	load_two(&pl, "prep");
	src_set(&src[0], "first", "pass");
	src_verdict(&src[1], "decide", XDP_TX);
	assert_int_equal(pipeline__prepare(&pl, src, 2, NULL, 0, &a, &err), 0);
	assert_true(a > 0);
	assert_int_equal(run(&pl, NULL), XDP_DROP);	/* prepared is not live */
	assert_int_equal(pipeline__candidate_bank(&pl, a), 1);
	src_verdict(&src[1], "decide", XDP_PASS);
	assert_int_equal(pipeline__prepare(&pl, src, 2, NULL, 0, &b, &err), 0);
	assert_int_not_equal(a, b);
	pl.last_switch_us = 12345;
	assert_int_equal(pipeline__commit_prepared(&pl, b, &err), 0);
	assert_true(pl.last_switch_us < 12345);
	assert_int_equal(run(&pl, NULL), XDP_PASS);
	/* a was built against generation 1; generation 3 is live now. */
	assert_int_equal(pipeline__commit_prepared(&pl, a, &err), -ESTALE);
	assert_non_null(strstr(err.msg, "prepare it again"));
	assert_int_equal(run(&pl, NULL), XDP_PASS);
	assert_int_equal(pipeline__drop_candidate(&pl, a, &err), 0);
	assert_int_equal(pipeline__commit_prepared(&pl, a, &err), -ENOENT);
	/* A single stage swapped after the prepare makes it stale too: it would undo the swap. */
	assert_int_equal(pipeline__prepare(&pl, src, 2, NULL, 0, &a, &err), 0);
	src_verdict(&src[1], "decide", XDP_TX);
	assert_int_equal(pipeline__swap_stage(&pl, 1, &src[1], NULL, 0, &err), 0);
	assert_int_equal(pipeline__commit_prepared(&pl, a, &err), -ESTALE);
	assert_int_equal(run(&pl, NULL), XDP_TX);
	pipeline__destroy(&pl);
	pipeline__close(&pl);
}

/* Candidates survive a restart: adoption finds them in their bank. */
static void test_candidate_survives_adopt(void **state)
{
	struct pipeline_err err = {};
	struct stage_src src[2];
	struct pipeline pl, again;
	uint32_t a;

	load_two(&pl, "prepad");
	src_set(&src[0], "first", "pass");
	src_verdict(&src[1], "decide", XDP_TX);
	assert_int_equal(pipeline__prepare(&pl, src, 2, NULL, 0, &a, &err), 0);
	pipeline__close(&pl);
	assert_int_equal(pipeline__init(&again, test_pin_root(), "prepad"), 0);
	if (pipeline__adopt(&again, &err))
		fail_msg("adopt: %s", err.msg);
	assert_int_equal(run(&again, NULL), XDP_DROP);
	assert_int_equal(pipeline__commit_prepared(&again, a, &err), 0);
	assert_int_equal(run(&again, NULL), XDP_TX);
	pipeline__destroy(&again);
	pipeline__close(&again);
}

/*
 * A daemon killed between the switch store and its info write: what runs
 * (the word) wins, and the generation it replaced becomes the previous one.
 */
static void test_adopt_after_crash_in_commit(void **state)
{
	struct pipeline_err err = {};
	struct stage_src src[2];
	struct pipeline pl, again;
	union sluice_word w = { .raw = 0 };
	uint32_t a;
	int b;

	load_two(&pl, "crash");
	src_set(&src[0], "first", "pass");
	src_verdict(&src[1], "decide", XDP_TX);
	assert_int_equal(pipeline__prepare(&pl, src, 2, NULL, 0, &a, &err), 0);
	b = pipeline__candidate_bank(&pl, a);
	w.bank = w.alt_bank = (__u8)b;
	w.gen = w.alt_gen = (__u16)pl.banks[b].gen;
	__atomic_store_n(&pl.sw->word.raw, w.raw, __ATOMIC_RELEASE);
	pipeline__close(&pl);	/* died before writing info */
	assert_int_equal(pipeline__init(&again, test_pin_root(), "crash"), 0);
	if (pipeline__adopt(&again, &err))
		fail_msg("adopt: %s", err.msg);
	assert_int_equal(again.bank, b);
	assert_int_equal(again.gen, w.gen);
	assert_int_equal(run(&again, NULL), XDP_TX);
	assert_int_equal(again.banks[0].state, SLUICE_BANK_PREV);
	assert_int_equal(pipeline__rollback_commit(&again, &err), 0);
	assert_int_equal(run(&again, NULL), XDP_DROP);
	pipeline__destroy(&again);
	pipeline__close(&again);
}

/* Pins that cannot be adopted are an error, never "nothing pinned"; create refuses them. */
static void test_incomplete_pins_refused(void **state)
{
	struct pipeline_err err = {};
	struct stage_src src[2];
	struct pipeline pl, again;
	char path[PATH_MAX];
	struct stat st;
	DIR *d;
	struct dirent *e;

	load_two(&pl, "incompl");
	pipeline__close(&pl);
	snprintf(path, sizeof(path), "%s/incompl/info", test_pin_root());
	assert_int_equal(unlink(path), 0);
	assert_int_equal(pipeline__init(&again, test_pin_root(), "incompl"), 0);
	pipeline__set_carrier(&again, test_carrier(), 0);
	assert_int_equal(pipeline__adopt(&again, &err), -EUCLEAN);
	assert_non_null(strstr(err.msg, "sluicectl down"));
	src_set(&src[0], "first", "pass");
	src_verdict(&src[1], "decide", XDP_DROP);
	assert_int_equal(pipeline__create(&again, src, 2, XDP_PASS, &err), -EEXIST);
	/* Still there: create touched nothing. */
	snprintf(path, sizeof(path), "%s/incompl/link", test_pin_root());
	snprintf(path, sizeof(path), "%s/incompl/progs", test_pin_root());
	assert_int_equal(stat(path, &st), 0);
	/* No temporary pins were left by the atomic replacement. */
	snprintf(path, sizeof(path), "%s/incompl", test_pin_root());
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)))
		assert_null(strstr(e->d_name, "tmp-"));
	closedir(d);
	pipeline__destroy(&again);
	pipeline__close(&again);
	/* Nothing at all pinned: that, and only that, is -ENOENT. */
	assert_int_equal(pipeline__init(&again, test_pin_root(), "nothing"), 0);
	assert_int_equal(pipeline__adopt(&again, &err), -ENOENT);
	pipeline__close(&again);
}

/* A slot changed behind the pipeline's back is found, then put back. */
static void test_drift_and_repair(void **state)
{
	struct pipeline_err err = {};
	struct pipeline pl, again;
	uint32_t running[SLUICE_MAX_STAGES];
	__u32 key;
	int other;

	load_two(&pl, "drift");
	assert_int_equal(pipeline__drift(&pl, NULL), 0);
	other = probe_verdict_fd(XDP_TX);
	key = sluice_bank_base((uint32_t)pl.bank) + 1;
	assert_int_equal(bpf_map_update_elem(pl.progs_fd, &key, &other, 0), 0);
	assert_int_equal(run(&pl, NULL), XDP_TX);
	assert_int_equal(pipeline__drift(&pl, running), 1 << 1);
	assert_int_not_equal(running[1], pl.live[1].prog_id);
	/* Adoption trusts what runs, and forgets the hash so the config is applied again. */
	assert_int_equal(pipeline__init(&again, test_pin_root(), "drift"), 0);
	assert_int_equal(pipeline__adopt(&again, &err), 0);
	assert_int_equal(again.live[1].prog_id, running[1]);
	assert_int_equal(again.live[1].hash, 0);
	pipeline__close(&again);
	assert_int_equal(pipeline__repair(&pl, &err), 1);
	assert_int_equal(pipeline__drift(&pl, NULL), 0);
	assert_int_equal(run(&pl, NULL), XDP_DROP);
	close(other);
	pipeline__destroy(&pl);
	pipeline__close(&pl);
}

static void test_canary(void **state)
{
	struct sluice_pipe_stats live, cand;
	struct pipeline_err err = {};
	struct stage_src src[2];
	struct pipeline pl;
	uint8_t buf[256];
	struct pkt_spec sp;
	uint32_t a, v;
	int dropped = 0, n = 400, len, b;

	load_two(&pl, "canary");	/* drops */
	src_set(&src[0], "first", "pass");
	src_verdict(&src[1], "decide", XDP_PASS);
	assert_int_equal(pipeline__prepare(&pl, src, 2, NULL, 0, &a, &err), 0);
	assert_int_equal(pipeline__canary_start(&pl, a, SLUICE_SHARE_ONE / 2, &err), 0);
	b = pipeline__canary_bank(&pl);
	assert_true(b >= 0 && b != pl.bank);
	pkt_spec_default(&sp);
	for (int i = 0; i < n; i++) {
		sp.sport = (uint16_t)(2000 + i);
		len = pkt_build(&sp, buf, sizeof(buf));
		assert_int_equal(pipeline__test_run(&pl, buf, (size_t)len, &v, NULL), 0);
		dropped += v == XDP_DROP;
	}
	assert_true(dropped > n * 35 / 100 && dropped < n * 65 / 100);
	assert_int_equal(pipeline__stats_bank(&pl, pl.bank, &live, NULL), 0);
	assert_int_equal(pipeline__stats_bank(&pl, b, &cand, NULL), 0);
	assert_int_equal(live.packets, dropped);
	assert_int_equal(cand.packets, n - dropped);
	assert_int_equal(live.verdict[XDP_DROP], dropped);
	assert_int_equal(cand.verdict[XDP_PASS], n - dropped);
	/* Abort: every flow back on the live side, the candidate gone. */
	assert_int_equal(pipeline__canary_abort(&pl, &err), 0);
	assert_int_equal(pipeline__canary_bank(&pl), -ENOENT);
	for (int i = 0; i < 50; i++) {
		sp.sport = (uint16_t)(2000 + i);
		len = pkt_build(&sp, buf, sizeof(buf));
		assert_int_equal(pipeline__test_run(&pl, buf, (size_t)len, &v, NULL), 0);
		assert_int_equal(v, XDP_DROP);
	}
	/* Again, promoted this time. */
	assert_int_equal(pipeline__prepare(&pl, src, 2, NULL, 0, &a, &err), 0);
	assert_int_equal(pipeline__canary_start(&pl, a, 1, &err), 0);
	assert_int_equal(pipeline__canary_promote(&pl, &err), 0);
	assert_int_equal(run(&pl, NULL), XDP_PASS);
	assert_int_equal(pipeline__rollback_commit(&pl, &err), 0);
	assert_int_equal(run(&pl, NULL), XDP_DROP);
	pipeline__destroy(&pl);
	pipeline__close(&pl);
}

/* Two interfaces switch at one store; a stale part leaves both as they were. */
static void test_group_commit(void **state)
{
	struct pipeline_err err = {};
	struct stage_src src[2];
	struct pipeline a, b, *pls[2] = { &a, &b };
	uint32_t cands[2], ga, gb;

	load_two(&a, "grpa");
	load_two(&b, "grpb");
	src_set(&src[0], "first", "pass");
	src_verdict(&src[1], "decide", XDP_TX);
	assert_int_equal(pipeline__prepare(&a, src, 2, NULL, 0, &cands[0], &err), 0);
	assert_int_equal(pipeline__prepare(&b, src, 2, NULL, 0, &cands[1], &err), 0);
	/* b's candidate goes stale: b commits something else first. */
	src_verdict(&src[1], "decide", XDP_PASS);
	assert_int_equal(pipeline__commit(&b, src, 2, NULL, 0, &err), 0);
	ga = a.gen;
	gb = b.gen;
	assert_int_equal(pipeline__commit_group(pls, cands, 2, &err), -ESTALE);
	assert_int_equal(a.gen, ga);
	assert_int_equal(b.gen, gb);
	assert_int_equal(run(&a, NULL), XDP_DROP);
	assert_int_equal(run(&b, NULL), XDP_PASS);
	/* Fresh candidates: both move at once. */
	src_verdict(&src[1], "decide", XDP_TX);
	assert_int_equal(pipeline__prepare(&b, src, 2, NULL, 0, &cands[1], &err), 0);
	if (pipeline__commit_group(pls, cands, 2, &err))
		fail_msg("group: %s", err.msg);
	assert_int_equal(run(&a, NULL), XDP_TX);
	assert_int_equal(run(&b, NULL), XDP_TX);
	assert_int_not_equal(a.gen, ga);
	assert_int_not_equal(b.gen, gb);
	/* The selector was handed back. */
	{
		char path[PATH_MAX];
		__u64 v = 1;
		__u32 k;
		int fd;

		snprintf(path, sizeof(path), "%s/%s", test_pin_root(), SLUICE_PIN_SELECTORS);
		fd = bpf_obj_get(path);
		assert_true(fd >= 0);
		for (k = 0; k < SLUICE_NR_SELECTORS; k++) {
			assert_int_equal(bpf_map_lookup_elem(fd, &k, &v), 0);
			assert_int_equal(v, 0);
		}
		close(fd);
	}
	pipeline__destroy(&a);
	pipeline__destroy(&b);
	pipeline__close(&a);
	pipeline__close(&b);
}

/* A stage built against an older <sluice/stage.bpf.h> is refused with the reason. */
static void test_old_stage_header_refused(void **state)
{
	struct pipeline_err err = {};
	struct stage_src s;
	struct pipeline pl;

	load_two(&pl, "oldabi");
	src_testdata(&s, "decide", "oldabi.bpf.o");
	assert_int_equal(pipeline__swap_stage(&pl, 1, &s, NULL, 0, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "older <sluice/stage.bpf.h>"));
	assert_non_null(strstr(err.msg, "rebuild it"));
	assert_int_equal(run(&pl, NULL), XDP_DROP);
	pipeline__destroy(&pl);
	pipeline__close(&pl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_runs_every_stage),
		cmocka_unit_test(test_swap_and_rollback),
		cmocka_unit_test(test_bad_stages_leave_pipeline_untouched),
		cmocka_unit_test(test_validation_limits),
		cmocka_unit_test(test_transaction_new_generation),
		cmocka_unit_test(test_transaction_reuses_unchanged_stages),
		cmocka_unit_test(test_preflight_mismatch_changes_nothing),
		cmocka_unit_test(test_adopt_pins),
		cmocka_unit_test(test_shared_maps),
		cmocka_unit_test(test_rollback_commit),
		cmocka_unit_test(test_prepare_commit_and_stale),
		cmocka_unit_test(test_candidate_survives_adopt),
		cmocka_unit_test(test_adopt_after_crash_in_commit),
		cmocka_unit_test(test_incomplete_pins_refused),
		cmocka_unit_test(test_drift_and_repair),
		cmocka_unit_test(test_canary),
		cmocka_unit_test(test_group_commit),
		cmocka_unit_test(test_old_stage_header_refused),
	};

	snprintf(objdir, sizeof(objdir), "%s/bpf", getenv("SLUICE_BUILD") ? getenv("SLUICE_BUILD") : "build");
	print_message("# carrier: %s\n", sluice_carrier_name(test_carrier()));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
