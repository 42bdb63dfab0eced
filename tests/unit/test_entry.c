// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The dispatch mechanism itself: an entry whose __noinline subprogram
 * tail-calls a stage gets that stage's verdict back; an empty slot is
 * counted and gets the default verdict; and the clang 14 return-value trap
 * is real (the entry built without the barrier loses the verdict).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "harness.h"
#include "pkt.h"
#include "entry.skel.h"
#include "verdict.skel.h"

struct fixture {
	struct entry_bpf *entry;
	struct verdict_bpf *stage;
	int nobarrier_fd;
	struct bpf_object *nobarrier;
};

static int load_entry_pair(struct fixture *f, __u32 stage_verdict, __u8 default_verdict)
{
	int err;

	f->entry = entry_bpf__open();
	if (!f->entry)
		return -errno;
	f->entry->rodata->sluice_entry.gen = 7;
	f->entry->rodata->sluice_entry.default_verdict = default_verdict;
	err = entry_bpf__load(f->entry);
	if (err)
		return err;

	f->stage = verdict_bpf__open();
	if (!f->stage)
		return -errno;
	f->stage->rodata->verdict = stage_verdict;
	f->stage->rodata->sluice_cfg.gen = 7;
	f->stage->rodata->sluice_cfg.next = SLUICE_SLOT_END;
	bpf_map__reuse_fd(f->stage->maps.sluice_progs, bpf_map__fd(f->entry->maps.sluice_progs));
	bpf_map__reuse_fd(f->stage->maps.sluice_slot_stats, bpf_map__fd(f->entry->maps.sluice_slot_stats));
	return verdict_bpf__load(f->stage);
}

static void fill_slot0(struct fixture *f)
{
	__u32 slot = 0;
	int fd = bpf_program__fd(f->stage->progs.sluice_verdict_stage);

	assert_int_equal(bpf_map_update_elem(bpf_map__fd(f->entry->maps.sluice_progs), &slot, &fd, 0), 0);
}

static void teardown(struct fixture *f)
{
	verdict_bpf__destroy(f->stage);
	entry_bpf__destroy(f->entry);
	bpf_object__close(f->nobarrier);
}

static int frame(uint8_t *buf)
{
	struct pkt_spec s;

	pkt_spec_default(&s);
	return pkt_build(&s, buf, 256);
}

static void test_stage_verdict_reaches_entry(void **state)
{
	struct fixture f = {};
	struct xdp_run r;
	uint8_t buf[256];
	int len = frame(buf);

	require_bpf();
	assert_int_equal(load_entry_pair(&f, XDP_DROP, XDP_PASS), 0);
	fill_slot0(&f);
	assert_int_equal(xdp_run(bpf_program__fd(f.entry->progs.sluice_entry_prog), buf, len, &r), 0);
	assert_int_equal(r.retval, XDP_DROP);
	assert_int_equal(r.meta.gen, 7);
	assert_int_equal(r.meta.path, 1);
	assert_int_equal(r.meta.last, 0);
	assert_false(r.meta.flags & SLUICE_PKT_MIXED);
	teardown(&f);
}

static void test_empty_slot_counted_default_verdict(void **state)
{
	struct fixture f = {};
	struct sluice_slot_stats st[64];
	struct sluice_pipe_stats ps[64];
	__u32 slot = 0, zero = 0;
	struct xdp_run r;
	uint8_t buf[256];
	int len = frame(buf), ncpu = libbpf_num_possible_cpus(), i;
	__u64 missed = 0, pmissed = 0, drops = 0;

	require_bpf();
	assert_true(ncpu <= 64);
	assert_int_equal(load_entry_pair(&f, XDP_PASS, XDP_DROP), 0);
	/* slot 0 left empty */
	assert_int_equal(xdp_run(bpf_program__fd(f.entry->progs.sluice_entry_prog), buf, len, &r), 0);
	assert_int_equal(r.retval, XDP_DROP);
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(f.entry->maps.sluice_slot_stats), &slot, st), 0);
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(f.entry->maps.sluice_pipe_stats), &zero, ps), 0);
	for (i = 0; i < ncpu; i++) {
		missed += st[i].missed;
		pmissed += ps[i].missed;
		drops += ps[i].verdict[XDP_DROP];
	}
	assert_int_equal(missed, 1);
	assert_int_equal(pmissed, 1);
	assert_int_equal(drops, 1);
	teardown(&f);
}

/*
 * The same entry built without the barrier: clang 14 folds the dispatch
 * result, so the stage's XDP_DROP is replaced by the default verdict. If a
 * future clang stops doing this the test says so instead of failing.
 */
static void test_clang_return_fold_trap(void **state)
{
	struct fixture f = {};
	char path[512];
	struct bpf_map *map;
	struct bpf_program *prog;
	struct xdp_run r;
	uint8_t buf[256];
	int len = frame(buf);
	__u32 slot = 0;
	int fd;

	require_bpf();
	assert_int_equal(load_entry_pair(&f, XDP_DROP, XDP_PASS), 0);
	snprintf(path, sizeof(path), "%s/bpf/entry_nobarrier.bpf.o",
		 getenv("SLUICE_BUILD") ? getenv("SLUICE_BUILD") : "build");
	f.nobarrier = bpf_object__open_file(path, NULL);
	assert_non_null(f.nobarrier);
	bpf_object__for_each_map(map, f.nobarrier) {
		if (!strcmp(bpf_map__name(map), SLUICE_MAP_PROGS))
			bpf_map__reuse_fd(map, bpf_map__fd(f.entry->maps.sluice_progs));
		if (!strcmp(bpf_map__name(map), SLUICE_MAP_SLOT_STATS))
			bpf_map__reuse_fd(map, bpf_map__fd(f.entry->maps.sluice_slot_stats));
	}
	assert_int_equal(bpf_object__load(f.nobarrier), 0);
	prog = bpf_object__find_program_by_name(f.nobarrier, "sluice_entry_prog");
	assert_non_null(prog);
	fd = bpf_program__fd(f.stage->progs.sluice_verdict_stage);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(f.entry->maps.sluice_progs), &slot, &fd, 0), 0);

	assert_int_equal(xdp_run(bpf_program__fd(f.entry->progs.sluice_entry_prog), buf, len, &r), 0);
	assert_int_equal(r.retval, XDP_DROP);	/* with the barrier: right */
	assert_int_equal(xdp_run(bpf_program__fd(prog), buf, len, &r), 0);
	if (r.retval == XDP_DROP) {
		teardown(&f);
		skip();	/* this compiler no longer folds: the barrier is belt and braces */
	}
	/* The fold turned the verdict into the "missed" sentinel, then the default. */
	assert_int_equal(r.retval, XDP_PASS);
	teardown(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stage_verdict_reaches_entry),
		cmocka_unit_test(test_empty_slot_counted_default_verdict),
		cmocka_unit_test(test_clang_return_fold_trap),
	};

	libbpf_set_print(NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
