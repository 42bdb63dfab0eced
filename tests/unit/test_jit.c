// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluice's dispatch cost rests on every tail call having an index the
 * verifier knows, so the x86-64 JIT emits a patched direct jump instead of
 * the retpoline path. These tests read the JIT images of the real stage and
 * entry objects and check that, with a variable-key program as the control
 * that must come out indirect (so the recogniser can fail).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "harness.h"
#include "jit.h"
#include "pkt.h"
#include "probe.h"
#include "entry_percpu.skel.h"
#include "pass.skel.h"

static void require_x86_jit(void)
{
	struct utsname u;

	require_bpf();
	if (uname(&u) || strcmp(u.machine, "x86_64"))
		skip();
}

static int frame(uint8_t *buf)
{
	struct pkt_spec s;

	pkt_spec_default(&s);
	return pkt_build(&s, buf, 256);
}

static void test_image_readable(void **state)
{
	uint8_t *img = NULL;
	uint32_t len = 0;
	int fd;

	require_x86_jit();
	fd = probe__load_verdict(XDP_PASS);
	assert_true(fd >= 0);
	assert_int_equal(jit__image(fd, &img, &len), 0);
	assert_non_null(img);
	/* At least a prologue, mov eax,2 and leave, then the return. */
	assert_true(len >= 8);
	/*
	 * The return is `ret` (0xc3), or `jmp __x86_return_thunk` (0xe9 rel32)
	 * where the kernel mitigates retbleed/SRSO with return thunks (seen on
	 * Debian's kernels under qemu -cpu max); int3 padding may follow
	 * either (CONFIG_MITIGATION_SLS).
	 */
	while (len > 8 && img[len - 1] == 0xcc)
		len--;
	assert_true(img[len - 1] == 0xc3 || img[len - 5] == 0xe9);
	free(img);
	close(fd);
	assert_true(jit__image(-1, &img, &len) < 0);
}

static void test_scan_rejects_noise(void **state)
{
	static const uint8_t noise[] = {
		/* the counter check followed by neither shape */
		0x48, 0x83, 0x38, 0x21, 0x73, 0x05, 0x90, 0x90, 0x90, 0x90, 0x90, 0xc3,
	};
	struct jit_tail_calls tc;

	assert_int_equal(jit__scan_image(noise, sizeof(noise), &tc), 0);
	assert_int_equal(tc.direct, 0);
	assert_int_equal(tc.indirect, 0);
	/* Truncated right after the check: must not read past the end. */
	assert_int_equal(jit__scan_image(noise, 5, &tc), 0);
	assert_int_equal(tc.direct + tc.indirect, 0);
}

/*
 * Direct sites as kernels before 6.10 emit them (read from their images
 * under qemu in tests/kernels): the counter bump between the check's jump
 * and the bypass, and on 5.10 the older check and 5-byte nop.
 */
static void test_scan_older_kernels(void **state)
{
	static const uint8_t k61[] = {
		0x8b, 0x85, 0xfc, 0xff, 0xff, 0xff,		/* mov eax,[rbp-4] */
		0x83, 0xf8, 0x21, 0x73, 22,			/* cmp eax,33; jae out */
		0x83, 0xc0, 0x01,				/* add eax,1 */
		0x89, 0x85, 0xfc, 0xff, 0xff, 0xff,		/* mov [rbp-4],eax */
		0x0f, 0x1f, 0x44, 0x00, 0x00,			/* bypass: nop while filled */
		0x41, 0x5d, 0x5b,				/* pop r13; pop rbx */
		0xe9, 0x10, 0x20, 0x30, 0x00,			/* poke: jmp <stage> */
		0xc3,						/* out: */
	};
	static const uint8_t k510[] = {
		0x8b, 0x85, 0xfc, 0xff, 0xff, 0xff,
		0x83, 0xf8, 0x20, 0x77, 19,			/* cmp eax,32; ja out */
		0x83, 0xc0, 0x01,
		0x89, 0x45, 0xfc,				/* mov [rbp-4],eax (disp8) */
		0x66, 0x66, 0x66, 0x66, 0x90,			/* bypass */
		0x41, 0x5d, 0x5b,
		0x66, 0x66, 0x66, 0x66, 0x90,			/* poke: empty slot */
		0xc3,
	};
	struct jit_tail_calls tc;

	assert_int_equal(jit__scan_image(k61, sizeof(k61), &tc), 0);
	assert_int_equal(tc.direct, 1);
	assert_int_equal(tc.patched, 1);
	assert_int_equal(tc.indirect, 0);
	assert_int_equal(jit__scan_image(k510, sizeof(k510), &tc), 0);
	assert_int_equal(tc.direct, 1);
	assert_int_equal(tc.patched, 0);
	assert_int_equal(tc.indirect, 0);
}

/* The built `pass` stage with a next slot: sluice_next() must be direct. */
static void test_stage_next_is_direct(void **state)
{
	struct sluice_meta meta;
	struct jit_tail_calls tc;
	struct pass_bpf *skel;
	struct xdp_run r;
	uint8_t buf[256];
	int len = frame(buf), map_fd, stage_fd, drop_fd;
	__u32 slot;

	require_x86_jit();
	skel = pass_bpf__open();
	assert_non_null(skel);
	skel->rodata->sluice_cfg.slot = 0;
	skel->rodata->sluice_cfg.next = 1;
	assert_int_equal(pass_bpf__load(skel), 0);
	map_fd = bpf_map__fd(skel->maps.sluice_progs);
	stage_fd = bpf_program__fd(skel->progs.sluice_pass);
	drop_fd = probe__load_verdict(XDP_DROP);
	assert_true(drop_fd >= 0);

	/* Empty slot 1: the site exists, bypassed, still direct. */
	assert_int_equal(jit__scan(stage_fd, &tc), 0);
	assert_true(tc.direct >= 1);
	assert_int_equal(tc.indirect, 0);
	assert_int_equal(tc.patched, 0);

	slot = 0;
	assert_int_equal(bpf_map_update_elem(map_fd, &slot, &stage_fd, 0), 0);
	slot = 1;
	assert_int_equal(bpf_map_update_elem(map_fd, &slot, &drop_fd, 0), 0);
	assert_int_equal(jit__scan(stage_fd, &tc), 0);
	assert_true(tc.direct >= 1);
	assert_int_equal(tc.indirect, 0);
	assert_true(tc.patched >= 1);	/* the kernel poked jmp <slot 1> in */

	/* And the patched jump really goes there: slot 1 decides DROP. */
	meta_init(&meta, 0);
	assert_int_equal(xdp_run_meta(stage_fd, buf, len, &meta, &r), 0);
	assert_int_equal(r.retval, XDP_DROP);
	assert_int_equal(r.meta.path, 1);

	close(drop_fd);
	pass_bpf__destroy(skel);
}

/*
 * The entry's dispatch subprogram tail-calls one immediate index per bank:
 * all direct, only the filled slot patched.
 */
static void test_entry_dispatch_is_direct(void **state)
{
	struct jit_tail_calls tc;
	struct entry_percpu_bpf *skel;
	struct xdp_run r;
	uint8_t buf[256];
	int len = frame(buf), fd, drop_fd;
	__u32 slot = 0;

	require_x86_jit();
	skel = entry_percpu_bpf__open();
	assert_non_null(skel);
	skel->rodata->sluice_entry.carrier = SLUICE_CARRIER_PERCPU;
	assert_int_equal(entry_percpu_bpf__load(skel), 0);
	fd = bpf_program__fd(skel->progs.sluice_entry_prog);
	drop_fd = probe__load_verdict(XDP_DROP);
	assert_true(drop_fd >= 0);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(skel->maps.sluice_progs), &slot, &drop_fd, 0), 0);

	assert_int_equal(jit__scan(fd, &tc), 0);
	assert_int_equal(tc.direct, SLUICE_NR_BANKS);
	assert_int_equal(tc.indirect, 0);
	assert_int_equal(tc.patched, 1);
	assert_int_equal(xdp_run(fd, buf, len, &r), 0);
	assert_int_equal(r.retval, XDP_DROP);

	close(drop_fd);
	entry_percpu_bpf__destroy(skel);
}

/* The control: a key read from a map is unknown to the verifier. */
static void test_variable_key_is_indirect(void **state)
{
	int pa, km, fd, direct = -1, indirect = -1;
	size_t i;
	const bool subprog[] = { false, true };

	require_x86_jit();
	/* The slots tail-called (left empty) and the key the verifier cannot see. */
	pa = bpf_map_create(BPF_MAP_TYPE_PROG_ARRAY, "test_jit_pa", 4, 4, 2, NULL);
	km = bpf_map_create(BPF_MAP_TYPE_ARRAY, "test_jit_key", 4, 4, 1, NULL);
	assert_true(pa >= 0 && km >= 0);
	for (i = 0; i < sizeof(subprog) / sizeof(subprog[0]); i++) {
		fd = probe__load_tail_caller(pa, km, subprog[i]);
		assert_true(fd >= 0);
		assert_int_equal(jit__count_tail_calls(fd, &direct, &indirect), 0);
		assert_int_equal(direct, 0);
		assert_int_equal(indirect, 1);
		close(fd);

		/* Same program shape with a constant key: direct. */
		fd = probe__load_tail_caller(pa, -1, subprog[i]);
		assert_true(fd >= 0);
		assert_int_equal(jit__count_tail_calls(fd, &direct, &indirect), 0);
		assert_int_equal(direct, 1);
		assert_int_equal(indirect, 0);
		close(fd);
	}
	close(km);
	close(pa);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_image_readable),
		cmocka_unit_test(test_scan_rejects_noise),
		cmocka_unit_test(test_scan_older_kernels),
		cmocka_unit_test(test_stage_next_is_direct),
		cmocka_unit_test(test_entry_dispatch_is_direct),
		cmocka_unit_test(test_variable_key_is_indirect),
	};

	libbpf_set_print(NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
