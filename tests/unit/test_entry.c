// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The entry itself, loaded by the real loaders under the carrier the suite
 * runs with: a stage's verdict comes back to the entry; an empty slot is
 * counted and gets its bank's verdict; the switch word picks the bank, a
 * canary splits flows by hash and a selector switches a group; a packet
 * whose metadata is refused still gets its verdict through the per-CPU
 * carrier; the percpu entry never names bpf_xdp_adjust_meta; anomalies and
 * stage times are recorded; and the dispatch's result stays unknown to
 * clang and the verifier.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "harness.h"
#include "pkt.h"
#include "pipeline.h"
#include "stage_load.h"
#include "probe.h"

struct fixture {
	char dir[PATH_MAX], mdir[PATH_MAX];
	int progs_fd;
	struct stage_inst entry;
	struct stage_inst st[8];
	int nr_st;
	struct sluice_switch *sw;
	int sw_fd;
};

static int nfix;

static void fixture_init(struct fixture *f, uint8_t flags)
{
	struct entry_load_req req = { .carrier = (uint8_t)test_carrier(), .flags = flags };
	char err[1024], *vlog = NULL;
	const char *root = test_pin_root();

	assert_non_null(root);
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "%s/entry%d", root, nfix++);
	snprintf(f->mdir, sizeof(f->mdir), "%s/maps", f->dir);
	assert_int_equal(mkdir(f->dir, 0700), 0);
	assert_int_equal(mkdir(f->mdir, 0700), 0);
	f->progs_fd = bpf_map_create(BPF_MAP_TYPE_PROG_ARRAY, SLUICE_MAP_PROGS, 4, 4, SLUICE_PROG_SLOTS, NULL);
	assert_true(f->progs_fd >= 0);
	req.maps = (struct stage_maps){ .progs_fd = f->progs_fd, .maps_dir = f->mdir, .root_dir = f->dir };
	if (entry__load(&req, &f->entry, err, sizeof(err), &vlog))
		fail_msg("entry: %s\n%s", err, vlog ? vlog : "");
	snprintf(err, sizeof(err), "%s/%s", f->mdir, SLUICE_MAP_SWITCH);
	f->sw_fd = bpf_obj_get(err);
	assert_true(f->sw_fd >= 0);
	f->sw = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, f->sw_fd, 0);
	assert_true(f->sw != MAP_FAILED);
}

/* Loads a verdict stage (or pass, verdict < 0) into slot bank*16+pos. */
static void stage_put(struct fixture *f, int bank, int pos, int verdict, uint32_t next)
{
	struct stage_src src = {};
	struct stage_load_req req = {
		.src = &src,
		.maps = { .progs_fd = f->progs_fd, .maps_dir = f->mdir, .root_dir = f->dir },
		.slot = (uint32_t)pos,
		.next = next,
		.gen = (uint16_t)(bank + 10),
		.bank = (uint8_t)bank,
		.carrier = (uint8_t)test_carrier(),
	};
	char err[1024], *vlog = NULL;
	__u32 key = sluice_bank_base((uint32_t)bank) + (uint32_t)pos;
	struct stage_inst *s = &f->st[f->nr_st++];

	snprintf(src.name, sizeof(src.name), "s%d_%d", bank, pos);
	snprintf(src.object, sizeof(src.object), "%s", verdict < 0 ? "pass" : "verdict");
	if (verdict >= 0)
		stage_src__set_param(&src, "verdict", verdict);
	if (stage__load(&req, s, err, sizeof(err), &vlog))
		fail_msg("stage: %s\n%s", err, vlog ? vlog : "");
	assert_int_equal(bpf_map_update_elem(f->progs_fd, &key, &s->fd, 0), 0);
}

static void word_set(struct fixture *f, int bank, int gen, int alt, int alt_gen, int share)
{
	union sluice_word w = { .raw = 0 };

	w.bank = (__u8)bank;
	w.gen = (__u16)gen;
	w.alt_bank = (__u8)alt;
	w.alt_gen = (__u16)alt_gen;
	w.share = (__u16)share;
	__atomic_store_n(&f->sw->word.raw, w.raw, __ATOMIC_RELEASE);
}

static void fixture_fini(struct fixture *f)
{
	char cmd[PATH_MAX + 16];

	for (int i = 0; i < f->nr_st; i++)
		close(f->st[i].fd);
	close(f->entry.fd);
	munmap(f->sw, 4096);
	close(f->sw_fd);
	close(f->progs_fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
}

static int frame_flow(uint8_t *buf, uint16_t sport)
{
	struct pkt_spec s;

	pkt_spec_default(&s);
	s.sport = sport;
	return pkt_build(&s, buf, 256);
}

static uint32_t run(struct fixture *f, uint16_t sport, struct xdp_run *r)
{
	uint8_t buf[256];
	int len = frame_flow(buf, sport);

	assert_int_equal(xdp_run(f->entry.fd, buf, len, r), 0);
	return r->retval;
}

/* Sums one per-CPU entry of a pinned map of u64 counters into out. */
static void percpu_read(struct fixture *f, const char *map, __u32 key, void *out, size_t size)
{
	int ncpu = libbpf_num_possible_cpus(), fd;
	char path[PATH_MAX];
	__u64 *v = calloc(ncpu, size), *o = out;

	snprintf(path, sizeof(path), "%s/%s", f->mdir, map);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	assert_int_equal(bpf_map_lookup_elem(fd, &key, v), 0);
	memset(out, 0, size);
	for (int c = 0; c < ncpu; c++)
		for (size_t w = 0; w < size / 8; w++)
			o[w] += v[c * size / 8 + w];
	close(fd);
	free(v);
}

static void test_stage_verdict_reaches_entry(void **state)
{
	struct fixture f;
	struct xdp_run r;

	require_bpf();
	fixture_init(&f, 0);
	stage_put(&f, 0, 0, XDP_DROP, SLUICE_SLOT_END);
	word_set(&f, 0, 7, 0, 7, 0);
	assert_int_equal(run(&f, 1000, &r), XDP_DROP);
	assert_int_equal(r.meta.gen, 7);
	assert_int_equal(r.meta.bank, 0);
	assert_int_equal(r.meta.path, 1);
	assert_int_equal(r.meta.last, 0);
	assert_false(r.meta.flags & SLUICE_PKT_MIXED);
	assert_int_equal(!!(r.meta.xflags & SLUICE_X_PERCPU), test_carrier() == SLUICE_CARRIER_PERCPU);
	fixture_fini(&f);
}

static void test_empty_slot_counted_default_verdict(void **state)
{
	struct sluice_slot_stats st;
	struct sluice_pipe_stats ps;
	struct fixture f;
	struct xdp_run r;

	require_bpf();
	fixture_init(&f, 0);
	/* bank 1 slot 0 left empty; its verdict is drop, bank 0's pass */
	f.sw->verdict[0] = XDP_PASS;
	f.sw->verdict[1] = XDP_DROP;
	word_set(&f, 1, 3, 1, 3, 0);
	assert_int_equal(run(&f, 1000, &r), XDP_DROP);
	percpu_read(&f, SLUICE_MAP_SLOT_STATS, sluice_bank_base(1), &st, sizeof(st));
	percpu_read(&f, SLUICE_MAP_PIPE_STATS, 1, &ps, sizeof(ps));
	assert_int_equal(st.missed, 1);
	assert_int_equal(ps.missed, 1);
	assert_int_equal(ps.verdict[XDP_DROP], 1);
	percpu_read(&f, SLUICE_MAP_PIPE_STATS, 0, &ps, sizeof(ps));
	assert_int_equal(ps.packets, 0);
	fixture_fini(&f);
}

static void test_switch_word_picks_bank(void **state)
{
	struct fixture f;
	struct xdp_run r;

	require_bpf();
	fixture_init(&f, 0);
	stage_put(&f, 0, 0, XDP_DROP, SLUICE_SLOT_END);
	stage_put(&f, 2, 0, -1, sluice_bank_base(2) + 1);
	stage_put(&f, 2, 1, XDP_TX, SLUICE_SLOT_END);
	word_set(&f, 0, 4, 0, 4, 0);
	assert_int_equal(run(&f, 1000, &r), XDP_DROP);
	word_set(&f, 2, 5, 2, 5, 0);
	assert_int_equal(run(&f, 1000, &r), XDP_TX);
	assert_int_equal(r.meta.bank, 2);
	assert_int_equal(r.meta.gen, 5);
	assert_int_equal(r.meta.path, 3);
	assert_false(r.meta.flags & SLUICE_PKT_MIXED);
	fixture_fini(&f);
}

/* A stage of another bank in a bank's chain marks the packet mixed. */
static void test_mixed_bank_detected(void **state)
{
	struct sluice_pipe_stats ps;
	struct fixture f;
	struct xdp_run r;

	require_bpf();
	fixture_init(&f, 0);
	/* a bank-3 stage sitting in bank 0's slot */
	stage_put(&f, 3, 0, XDP_PASS, SLUICE_SLOT_END);
	{
		__u32 key = 0, fd = (__u32)f.st[0].fd;

		assert_int_equal(bpf_map_update_elem(f.progs_fd, &key, &fd, 0), 0);
	}
	word_set(&f, 0, 1, 0, 1, 0);
	assert_int_equal(run(&f, 1000, &r), XDP_PASS);
	assert_true(r.meta.flags & SLUICE_PKT_MIXED);
	assert_int_equal(r.meta.gen_other, 13);
	percpu_read(&f, SLUICE_MAP_PIPE_STATS, 0, &ps, sizeof(ps));
	assert_int_equal(ps.mixed, 1);
	fixture_fini(&f);
}

static void test_canary_splits_flows_by_hash(void **state)
{
	struct fixture f;
	struct xdp_run r;
	int canary = 0, n = 2000;

	require_bpf();
	fixture_init(&f, 0);
	stage_put(&f, 0, 0, XDP_PASS, SLUICE_SLOT_END);
	stage_put(&f, 1, 0, XDP_DROP, SLUICE_SLOT_END);
	word_set(&f, 0, 1, 1, 2, SLUICE_SHARE_ONE / 4);
	for (int i = 0; i < n; i++) {
		uint32_t v = run(&f, (uint16_t)(1000 + i), &r);

		if (v == XDP_DROP) {
			canary++;
			assert_int_equal(r.meta.bank, 1);
			assert_int_equal(r.meta.gen, 2);
			assert_true(r.meta.xflags & SLUICE_X_CANARY);
		} else {
			assert_int_equal(v, XDP_PASS);
			assert_int_equal(r.meta.bank, 0);
			assert_false(r.meta.xflags & SLUICE_X_CANARY);
		}
		/* A flow stays on its side. */
		assert_int_equal(run(&f, (uint16_t)(1000 + i), &r), v);
	}
	print_message("# canary 25%%: %d of %d flows\n", canary, n);
	assert_true(canary > n * 20 / 100 && canary < n * 30 / 100);
	fixture_fini(&f);
}

static void test_selector_switches_group(void **state)
{
	struct fixture f;
	struct xdp_run r;
	__u64 *sel;
	char path[PATH_MAX];
	int fd;

	require_bpf();
	fixture_init(&f, 0);
	stage_put(&f, 0, 0, XDP_PASS, SLUICE_SLOT_END);
	stage_put(&f, 3, 0, XDP_DROP, SLUICE_SLOT_END);
	snprintf(path, sizeof(path), "%s/%s", f.dir, SLUICE_PIN_SELECTORS);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	sel = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(sel != MAP_FAILED);
	word_set(&f, 0, 1, 3, 9, SLUICE_SHARE_GROUP | 5);
	sel[5] = 2;
	assert_int_equal(run(&f, 1000, &r), XDP_PASS);
	sel[5] = 3;
	assert_int_equal(run(&f, 1000, &r), XDP_DROP);
	assert_int_equal(r.meta.gen, 9);
	sel[5] = 0;
	munmap(sel, 4096);
	close(fd);
	fixture_fini(&f);
}

/*
 * Metadata chosen but refused for a packet (a driver without support): the
 * packet takes the per-CPU carrier, gets its verdict and is counted; never
 * an abort. Forced with the entry's test-only flag.
 */
static void test_meta_refused_falls_back(void **state)
{
	struct sluice_pipe_stats ps;
	struct fixture f;
	struct xdp_run r;

	require_bpf();
	if (test_carrier() != SLUICE_CARRIER_META)
		skip();	/* only metadata can be refused */
	fixture_init(&f, SLUICE_ENTRY_F_NO_META);
	stage_put(&f, 0, 0, -1, 1);
	stage_put(&f, 0, 1, XDP_DROP, SLUICE_SLOT_END);
	word_set(&f, 0, 1, 0, 1, 0);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(run(&f, 1000, &r), XDP_DROP);
		assert_true(r.meta.xflags & SLUICE_X_PERCPU);
		assert_int_equal(r.meta.path, 3);
	}
	percpu_read(&f, SLUICE_MAP_PIPE_STATS, 0, &ps, sizeof(ps));
	assert_int_equal(ps.no_meta, 10);
	assert_int_equal(ps.verdict[XDP_DROP], 10);
	assert_int_equal(ps.verdict[XDP_ABORTED], 0);
	fixture_fini(&f);
}

/* What a kernel that refuses the helper will see: no call to it anywhere. */
static void test_percpu_entry_never_calls_adjust_meta(void **state)
{
	char path[PATH_MAX];
	struct bpf_object *obj;
	struct bpf_program *p;
	int calls = 0, insns = 0;

	snprintf(path, sizeof(path), "%s/bpf/entry_percpu.bpf.o",
		 getenv("SLUICE_BUILD") ? getenv("SLUICE_BUILD") : "build");
	obj = bpf_object__open_file(path, NULL);
	assert_non_null(obj);
	bpf_object__for_each_program(p, obj) {
		const struct bpf_insn *in = bpf_program__insns(p);

		for (size_t i = 0; i < bpf_program__insn_cnt(p); i++, insns++)
			if (in[i].code == (BPF_JMP | BPF_CALL) && in[i].src_reg == 0 &&
			    in[i].imm == BPF_FUNC_xdp_adjust_meta)
				calls++;
	}
	bpf_object__close(obj);
	assert_true(insns > 50);
	assert_int_equal(calls, 0);
}

static int anomaly_cb(void *ctx, void *data, size_t size)
{
	struct sluice_anomaly *out = ctx;

	if (size >= sizeof(*out))
		*out = *(struct sluice_anomaly *)data;
	return 0;
}

static void test_anomaly_recorded(void **state)
{
	struct sluice_anomaly rec = {};
	struct ring_buffer *rb;
	struct fixture f;
	struct xdp_run r;
	char path[PATH_MAX];
	uint8_t buf[256];
	int fd, len;

	require_bpf();
	fixture_init(&f, 0);
	stage_put(&f, 0, 0, -1, 1);	/* slot 1 empty */
	word_set(&f, 0, 1, 0, 1, 0);
	f.sw->verdict[0] = XDP_PASS;
	snprintf(path, sizeof(path), "%s/%s", f.mdir, SLUICE_MAP_ANOMALIES);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	rb = ring_buffer__new(fd, anomaly_cb, &rec, NULL);
	assert_non_null(rb);
	/* Off: nothing recorded. */
	assert_int_equal(run(&f, 1000, &r), XDP_PASS);
	assert_int_equal(ring_buffer__consume(rb), 0);
	f.sw->record = 1;
	len = frame_flow(buf, 4242);
	assert_int_equal(xdp_run(f.entry.fd, buf, len, &r), 0);
	assert_int_equal(r.retval, XDP_PASS);
	assert_int_equal(ring_buffer__consume(rb), 1);
	assert_int_equal(rec.reason, SLUICE_AN_MISSED);
	assert_int_equal(rec.slot, 1);
	assert_int_equal(rec.verdict, XDP_PASS);
	assert_int_equal(rec.len, len);
	assert_int_equal(rec.caplen, len < SLUICE_ANOMALY_SNAP ? len : SLUICE_ANOMALY_SNAP);
	assert_memory_equal(rec.data, buf, rec.caplen);
	ring_buffer__free(rb);
	close(fd);
	fixture_fini(&f);
}

static int sample_cb(void *ctx, void *data, size_t size)
{
	struct sluice_sample *out = ctx;

	if (size >= sizeof(*out))
		*out = *(struct sluice_sample *)data;
	return 0;
}

/* Shadow-diff samples: whole frames, before any stage ran, only while asked for. */
static void test_frames_sampled_whole(void **state)
{
	struct sluice_sample *rec = calloc(1, sizeof(*rec));
	struct ring_buffer *rb;
	struct fixture f;
	struct xdp_run r;
	struct pkt_spec sp;
	char path[PATH_MAX];
	uint8_t buf[1500];
	int fd, len;

	require_bpf();
	if (!probe__load_bytes()) {
		free(rec);
		skip();	/* bpf_xdp_load_bytes: Linux 5.18 */
	}
	fixture_init(&f, SLUICE_ENTRY_F_SAMPLER);
	stage_put(&f, 0, 0, XDP_DROP, SLUICE_SLOT_END);
	word_set(&f, 0, 1, 0, 1, 0);
	snprintf(path, sizeof(path), "%s/sluice_samples", f.mdir);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	rb = ring_buffer__new(fd, sample_cb, rec, NULL);
	assert_non_null(rb);
	pkt_spec_default(&sp);
	sp.frame_len = 1400;
	len = pkt_build(&sp, buf, sizeof(buf));
	assert_int_equal(xdp_run(f.entry.fd, buf, len, &r), 0);
	assert_int_equal(ring_buffer__consume(rb), 0);	/* off */
	f.sw->sample_shift = 1;				/* every frame */
	assert_int_equal(xdp_run(f.entry.fd, buf, len, &r), 0);
	assert_int_equal(r.retval, XDP_DROP);
	assert_int_equal(ring_buffer__consume(rb), 1);
	assert_int_equal(rec->reason, SLUICE_AN_SAMPLE);
	assert_int_equal(rec->len, len);
	assert_int_equal(rec->caplen, len);
	assert_memory_equal(rec->data, buf, len);
	ring_buffer__free(rb);
	close(fd);
	free(rec);
	fixture_fini(&f);
}

static void test_stage_time_sampled(void **state)
{
	struct sluice_stage_time t0, t1, te;
	struct fixture f;
	struct xdp_run r;

	require_bpf();
	fixture_init(&f, 0);
	stage_put(&f, 0, 0, -1, 1);
	stage_put(&f, 0, 1, XDP_PASS, SLUICE_SLOT_END);
	word_set(&f, 0, 1, 0, 1, 0);
	f.sw->time_shift = 2;	/* 1 in 2^(2-1): every other packet */
	for (int i = 0; i < 64; i++)
		run(&f, 1000, &r);
	percpu_read(&f, SLUICE_MAP_STAGE_TIME, 0, &t0, sizeof(t0));
	percpu_read(&f, SLUICE_MAP_STAGE_TIME, 1, &t1, sizeof(t1));
	percpu_read(&f, SLUICE_MAP_STAGE_TIME, SLUICE_MAX_STAGES, &te, sizeof(te));
	assert_int_equal(t0.count, 32);
	assert_int_equal(t1.count, 32);
	assert_int_equal(te.count, 32);
	assert_true(t0.sum_ns > 0);
	f.sw->time_shift = 0;
	for (int i = 0; i < 64; i++)
		run(&f, 1000, &r);
	percpu_read(&f, SLUICE_MAP_STAGE_TIME, 0, &t0, sizeof(t0));
	assert_int_equal(t0.count, 32);
	fixture_fini(&f);
}

/*
 * The dispatch's return value must stay unknown to clang and to the verifier:
 * clang 14 folds a constant fall-through value over the tail-call helper
 * (the stage's verdict would be lost), and kernels before 6.18 take it as
 * the subprogram's only return value and remove the entry's code after the
 * call as dead. The fall-through comes from a volatile .data variable: the
 * entry built even without its asm barrier gets the stage's verdict, and
 * the entry the kernel keeps still has its counting code after the call.
 */
static void test_dispatch_result_stays_unknown(void **state)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	struct fixture f;
	char path[512];
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_map *map;
	struct xdp_run r;
	uint8_t buf[256];
	int blen = frame_flow(buf, 1000);

	require_bpf();
	fixture_init(&f, 0);
	stage_put(&f, 0, 0, XDP_DROP, SLUICE_SLOT_END);
	word_set(&f, 0, 1, 0, 1, 0);
	f.sw->verdict[0] = XDP_PASS;
	assert_int_equal(run(&f, 1000, &r), XDP_DROP);
	/* What the verifier kept: the entry's main program goes on after the call. */
	assert_int_equal(bpf_obj_get_info_by_fd(f.entry.fd, &info, &len), 0);
	print_message("# entry: %u translated instructions\n", info.xlated_prog_len / 8);
	assert_true(info.xlated_prog_len / 8 > 150);

	snprintf(path, sizeof(path), "%s/bpf/entry_nobarrier.bpf.o",
		 getenv("SLUICE_BUILD") ? getenv("SLUICE_BUILD") : "build");
	obj = bpf_object__open_file(path, NULL);
	assert_non_null(obj);
	bpf_object__for_each_map(map, obj) {
		char pin[PATH_MAX];

		if (bpf_map__is_internal(map))
			continue;
		if (!strcmp(bpf_map__name(map), SLUICE_MAP_PROGS)) {
			bpf_map__reuse_fd(map, f.progs_fd);
			continue;
		}
		snprintf(pin, sizeof(pin), "%s/%s", !strcmp(bpf_map__name(map), SLUICE_MAP_SELECTORS) ?
			 f.dir : f.mdir, !strcmp(bpf_map__name(map), SLUICE_MAP_SELECTORS) ?
			 SLUICE_PIN_SELECTORS : bpf_map__name(map));
		bpf_map__set_pin_path(map, pin);
	}
	assert_int_equal(bpf_object__load(obj), 0);
	prog = bpf_object__find_program_by_name(obj, "sluice_entry_prog");
	assert_non_null(prog);
	assert_int_equal(xdp_run(bpf_program__fd(prog), buf, blen, &r), 0);
	assert_int_equal(r.retval, XDP_DROP);
	bpf_object__close(obj);
	fixture_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stage_verdict_reaches_entry),
		cmocka_unit_test(test_empty_slot_counted_default_verdict),
		cmocka_unit_test(test_switch_word_picks_bank),
		cmocka_unit_test(test_mixed_bank_detected),
		cmocka_unit_test(test_canary_splits_flows_by_hash),
		cmocka_unit_test(test_selector_switches_group),
		cmocka_unit_test(test_meta_refused_falls_back),
		cmocka_unit_test(test_percpu_entry_never_calls_adjust_meta),
		cmocka_unit_test(test_anomaly_recorded),
		cmocka_unit_test(test_frames_sampled_whole),
		cmocka_unit_test(test_stage_time_sampled),
		cmocka_unit_test(test_dispatch_result_stays_unknown),
	};

	libbpf_set_print(NULL);
	print_message("# carrier: %s\n", sluice_carrier_name(test_carrier()));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
