// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The xsk stage with no AF_XDP socket bound (an XSKMAP with no entry):
 * marked packets get the fallback verdict and are counted under it,
 * unmarked ones go on, and `all` takes every packet.
 */
#include <string.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "harness.h"
#include "pkt.h"
#include "xsk.skel.h"

#define CONT	SLUICE_RET_MISSED

static struct xsk_bpf *load(__u32 all, __u32 fallback)
{
	struct xsk_bpf *s = xsk_bpf__open();

	assert_non_null(s);
	s->rodata->all = all;
	s->rodata->fallback = fallback;
	s->rodata->sluice_cfg.next = 1;
	assert_int_equal(xsk_bpf__load(s), 0);
	return s;
}

static uint32_t run(struct xsk_bpf *s, uint16_t flags)
{
	struct sluice_meta m;
	struct pkt_spec p;
	struct xdp_run r;
	uint8_t buf[128];
	int len;

	pkt_spec_default(&p);
	len = pkt_build(&p, buf, sizeof(buf));
	assert_true(len > 0);
	meta_init(&m, 0);
	m.flags = SLUICE_PKT_PARSED | flags;
	m.l3_off = ETH_HLEN;
	m.l3_proto = ETH_P_IP;
	assert_int_equal(xdp_run_meta(bpf_program__fd(s->progs.sluice_xsk), buf, len, &m, &r), 0);
	return r.retval;
}

static __u64 counted(struct xsk_bpf *s, __u32 verdict)
{
	__u64 v[256] = {}, sum = 0;
	int i, ncpu = libbpf_num_possible_cpus();

	assert_true(ncpu > 0 && ncpu <= 256);
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(s->maps.sluice_xsk_verdicts), &verdict, v), 0);
	for (i = 0; i < ncpu; i++)
		sum += v[i];
	return sum;
}

static void test_fallback_counted(void **state)
{
	static const struct {
		__u32 all, fallback;
		uint16_t flags;
		uint32_t want;
	} cases[] = {
		{ 0, XDP_PASS, SLUICE_PKT_XSK, XDP_PASS },
		{ 0, XDP_PASS, 0, CONT },
		{ 0, XDP_DROP, SLUICE_PKT_XSK, XDP_DROP },
		{ 0, XDP_DROP, 0, CONT },
		{ 1, XDP_DROP, 0, XDP_DROP },
		{ 1, XDP_TX, SLUICE_PKT_XSK, XDP_TX },
	};
	size_t i;

	require_bpf();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct xsk_bpf *s = load(cases[i].all, cases[i].fallback);
		__u32 v;

		assert_int_equal(run(s, cases[i].flags), cases[i].want);
		assert_int_equal(run(s, cases[i].flags), cases[i].want);
		/* Only a packet the stage took is counted, under its fallback. */
		for (v = 0; v < SLUICE_NR_VERDICTS; v++)
			assert_int_equal(counted(s, v), cases[i].want != CONT && v == cases[i].fallback ? 2 : 0);
		xsk_bpf__destroy(s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fallback_counted),
	};

	libbpf_set_print(NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
