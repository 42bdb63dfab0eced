// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The count stage: every packet goes on, and lands in the counter of its
 * protocol class and its verdict so far, with fragments and packets that
 * crossed two generations counted there too.
 */
#include <string.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "harness.h"
#include "pkt.h"
#include "count.skel.h"

#define CONT	SLUICE_RET_MISSED

struct count_case {
	uint16_t l3_proto;
	uint8_t l4_proto;
	uint16_t flags;
	uint32_t class;
	uint32_t verdict;
};

static const struct count_case cases[] = {
	{ ETH_P_IP, IPPROTO_TCP, 0, SLUICE_PC_IPV4_TCP, XDP_PASS },
	{ ETH_P_IP, IPPROTO_UDP, 0, SLUICE_PC_IPV4_UDP, XDP_PASS },
	{ ETH_P_IP, IPPROTO_UDP, SLUICE_PKT_XSK, SLUICE_PC_IPV4_UDP, XDP_REDIRECT },
	{ ETH_P_IP, IPPROTO_ICMP, 0, SLUICE_PC_IPV4_ICMP, XDP_PASS },
	{ ETH_P_IP, IPPROTO_GRE, 0, SLUICE_PC_IPV4_OTHER, XDP_PASS },
	{ ETH_P_IP, IPPROTO_UDP, SLUICE_PKT_FRAG | SLUICE_PKT_FRAG_LATER, SLUICE_PC_IPV4_UDP, XDP_PASS },
	{ ETH_P_IPV6, IPPROTO_TCP, SLUICE_PKT_MIXED, SLUICE_PC_IPV6_TCP, XDP_PASS },
	{ ETH_P_IPV6, IPPROTO_UDP, 0, SLUICE_PC_IPV6_UDP, XDP_PASS },
	{ ETH_P_IPV6, IPPROTO_ICMPV6, 0, SLUICE_PC_IPV6_ICMP, XDP_PASS },
	{ ETH_P_IPV6, IPPROTO_SCTP, 0, SLUICE_PC_IPV6_OTHER, XDP_PASS },
	{ ETH_P_ARP, 0, SLUICE_PKT_ARP, SLUICE_PC_ARP, XDP_PASS },
	{ ETH_P_IP, IPPROTO_TCP, SLUICE_PKT_TRUNC, SLUICE_PC_MALFORMED, XDP_PASS },
	{ ETH_P_IPV6, 0, SLUICE_PKT_MALFORMED, SLUICE_PC_MALFORMED, XDP_PASS },
	{ 0x88cc, 0, 0, SLUICE_PC_OTHER, XDP_PASS },
};

static void test_classes(void **state)
{
	enum { N = sizeof(cases) / sizeof(cases[0]) };
	struct sluice_count want[SLUICE_PC_MAX * SLUICE_NR_VERDICTS] = {}, got[256];
	int ncpu = libbpf_num_possible_cpus(), fd, c;
	struct count_bpf *s;
	struct pkt_spec p;
	uint8_t buf[128];
	size_t i;
	__u32 k;
	int len;

	require_bpf();
	assert_true(ncpu > 0 && ncpu <= 256);
	s = count_bpf__open();
	assert_non_null(s);
	s->rodata->sluice_cfg.next = 1;
	assert_int_equal(count_bpf__load(s), 0);
	fd = bpf_program__fd(s->progs.sluice_count);
	pkt_spec_default(&p);
	/* The stage reads only the metadata: one frame, many metas, different sizes. */
	for (i = 0; i < 3 * N; i++) {
		const struct count_case *c = &cases[i % N];
		struct sluice_meta m;
		struct xdp_run r;
		struct sluice_count *w;

		p.frame_len = 64 + i;
		len = pkt_build(&p, buf, sizeof(buf));
		assert_true(len > 0);
		meta_init(&m, 0);
		m.flags = SLUICE_PKT_PARSED | c->flags;
		m.l3_off = ETH_HLEN;
		m.l3_proto = c->l3_proto;
		m.l4_proto = c->l4_proto;
		assert_int_equal(xdp_run_meta(fd, buf, len, &m, &r), 0);
		assert_int_equal(r.retval, CONT);
		w = &want[c->class * SLUICE_NR_VERDICTS + c->verdict];
		w->packets++;
		w->bytes += len;
		w->frags += !!(c->flags & SLUICE_PKT_FRAG);
		w->mixed += !!(c->flags & SLUICE_PKT_MIXED);
	}
	for (k = 0; k < SLUICE_PC_MAX * SLUICE_NR_VERDICTS; k++) {
		struct sluice_count sum = {};

		assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(s->maps.sluice_counts), &k, got), 0);
		for (c = 0; c < ncpu; c++) {
			sum.packets += got[c].packets;
			sum.bytes += got[c].bytes;
			sum.frags += got[c].frags;
			sum.mixed += got[c].mixed;
		}
		if (memcmp(&sum, &want[k], sizeof(sum)))
			fail_msg("class %u verdict %u: %llu/%llu/%llu/%llu, want %llu/%llu/%llu/%llu",
				 k / SLUICE_NR_VERDICTS, k % SLUICE_NR_VERDICTS,
				 (unsigned long long)sum.packets, (unsigned long long)sum.bytes,
				 (unsigned long long)sum.frags, (unsigned long long)sum.mixed,
				 (unsigned long long)want[k].packets, (unsigned long long)want[k].bytes,
				 (unsigned long long)want[k].frags, (unsigned long long)want[k].mixed);
	}
	count_bpf__destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classes),
	};

	libbpf_set_print(NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
