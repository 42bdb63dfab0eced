// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The transmit stamp (struct sluice_stamp): a frame built with one still
 * passes every payload check, the generator's per-frame stamping
 * (tools/gen/gen_stamp.h) writes the time without breaking the payload or
 * TCP checksum, and a frame without one is told apart.
 */
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include "harness.h"
#include "pkt.h"
#include "../../tools/gen/gen_stamp.h"

/* The TCP checksum of an IPv4 frame, computed from scratch. */
static uint16_t tcp_check(const uint8_t *p, size_t len)
{
	const uint8_t *ip = p + ETH_HLEN, *l4 = ip + 20;
	size_t l4_len = len - ETH_HLEN - 20;
	uint8_t tmp[256];
	uint32_t sum = 0;

	memcpy(tmp, l4, l4_len);
	memset(tmp + 16, 0, 2);
	sum = pkt_csum_add(sum, ip + 12, 8);
	sum += IPPROTO_TCP + (uint32_t)l4_len;
	return pkt_csum_fold(pkt_csum_add(sum, tmp, l4_len));
}

static void build(struct pkt_spec *s, uint8_t proto, bool stamp, size_t frame_len)
{
	pkt_spec_default(s);
	s->proto = proto;
	s->with_payload = true;
	s->with_stamp = stamp;
	s->frame_len = frame_len;
}

static void test_stamped_frame_checks(void **state)
{
	static const size_t sizes[] = { 0, 64, 82, 128, 1500 };
	uint8_t buf[1600];
	struct pkt_spec s;
	uint64_t seq, ns;
	uint32_t flow;
	size_t i;
	int len;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		build(&s, IPPROTO_UDP, true, sizes[i]);
		s.flow = 7;
		s.seq = 42;
		len = pkt_build(&s, buf, sizeof(buf));
		assert_true(len >= 82);
		assert_true(sizes[i] <= 82 || (size_t)len == sizes[i]);
		assert_int_equal(pkt_check(buf, len, &seq, &flow), 0);
		assert_int_equal(seq, 42);
		assert_int_equal(flow, 7);
		assert_int_equal(pkt_get_stamp(buf, len, &ns), 0);
		assert_int_equal(ns, 0);

		/* The time is outside the checksummed bytes: writing it breaks nothing. */
		ns = htobe64(0x0123456789abcdefull);
		memcpy(buf + len - 8, &ns, 8);
		assert_int_equal(pkt_check(buf, len, &seq, &flow), 0);
		assert_int_equal(pkt_get_stamp(buf, len, &ns), 0);
		assert_true(ns == 0x0123456789abcdefull);
		assert_int_equal(pkt_set_seq(buf, len, 43), 0);
		assert_int_equal(pkt_check(buf, len, &seq, &flow), 0);
		assert_int_equal(seq, 43);

		/* A corrupt body still shows. */
		buf[len - 17] ^= 1;
		assert_int_equal(pkt_check(buf, len, &seq, &flow), -EBADMSG);
	}
}

static void test_unstamped_frame(void **state)
{
	uint8_t buf[256];
	struct pkt_spec s;
	uint64_t ns;
	int len;

	build(&s, IPPROTO_UDP, false, 128);
	len = pkt_build(&s, buf, sizeof(buf));
	assert_int_equal(len, 128);
	assert_int_equal(pkt_get_stamp(buf, len, &ns), -ENOENT);
	/* Bytes that look like a stamp inside the checksummed body are not one. */
	build(&s, IPPROTO_UDP, true, 128);
	len = pkt_build(&s, buf, sizeof(buf));
	assert_int_equal(pkt_get_stamp(buf, len - 1, &ns), -ENOENT);

	s.with_payload = false;
	len = pkt_build(&s, buf, sizeof(buf));
	assert_int_equal(pkt_get_stamp(buf, len, &ns), -ENOENT);
}

/* What the generator's engines do to each frame: flow, seq and the time. */
static void test_gen_stamp_time(void **state)
{
	static const uint8_t protos[] = { IPPROTO_UDP, IPPROTO_TCP };
	uint8_t tmpl[256], buf[256];
	struct gen_layout lay = {};
	struct gen_flow fl = {};
	struct pkt_spec s;
	uint64_t seq, ns;
	uint32_t flow;
	size_t i;
	int len;

	for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
		build(&s, protos[i], true, 100);
		s.flow = 3;
		len = pkt_build(&s, tmpl, sizeof(tmpl));
		assert_int_equal(len, 100);
		lay.l3_off = ETH_HLEN;
		lay.l4_off = ETH_HLEN + 20;
		lay.pl_off = lay.l4_off + (protos[i] == IPPROTO_TCP ? 20 : 8);
		lay.st_off = (uint16_t)(len - sizeof(struct sluice_stamp));
		lay.proto = protos[i];
		memcpy(&fl.ip_check, tmpl + lay.l3_off + 10, 2);
		memcpy(&fl.saddr, tmpl + lay.l3_off + 12, 4);
		memcpy(&fl.daddr, tmpl + lay.l3_off + 16, 4);
		memcpy(&fl.sport, tmpl + lay.l4_off, 2);
		memcpy(&fl.dport, tmpl + lay.l4_off + 2, 2);
		memcpy(&fl.l4_check, tmpl + lay.l4_off + 16, 2);
		memcpy(&fl.flow, tmpl + lay.pl_off + 4, 4);
		memcpy(&fl.csum0, tmpl + lay.pl_off + 16, 4);
		fl.csum0 = ntohl(fl.csum0);

		if (protos[i] == IPPROTO_TCP) {
			uint16_t have;

			memcpy(&have, tmpl + lay.l4_off + 16, 2);
			assert_int_equal(have, tcp_check(tmpl, len));
		}
		memcpy(buf, tmpl, len);
		gen_stamp(buf, &lay, &fl, 1000001, 0xfedcba9876543210ull);
		if (protos[i] == IPPROTO_TCP) {
			/* pkt_check() reads UDP only: the TCP checksum is the point here. */
			uint16_t have;

			memcpy(&have, buf + lay.l4_off + 16, 2);
			assert_int_equal(have, tcp_check(buf, len));
			memcpy(&ns, buf + lay.st_off + 8, 8);
			assert_true(be64toh(ns) == 0xfedcba9876543210ull);
			continue;
		}
		assert_int_equal(pkt_check(buf, len, &seq, &flow), 0);
		assert_int_equal(seq, 1000001);
		assert_int_equal(flow, 3);
		assert_int_equal(pkt_get_stamp(buf, len, &ns), 0);
		assert_true(ns == 0xfedcba9876543210ull);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stamped_frame_checks),
		cmocka_unit_test(test_unstamped_frame),
		cmocka_unit_test(test_gen_stamp_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
