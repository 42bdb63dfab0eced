// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The parse stage, one frame per table row: frames built with lib/pkt.h and
 * patched, or written byte by byte for what the builder cannot make, run
 * through the loaded stage with a fresh sluice_meta in front. Every row
 * states the verdict and every metadata field parse owns; all are compared.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "harness.h"
#include "pkt.h"
#include "parse.skel.h"

#define FRAME_MAX	1024
#define ETH		ETH_HLEN
#define IP4		(ETH + 20)
#define IP6		(ETH + 40)

#define P		SLUICE_PKT_PARSED
/* SLUICE_PARSE_MAX_EXT_HDRS of bpf/parse.h: the documented bound. */
#define SLUICE_PARSE_TEST_MAX_EXT	8

/* Writes b[off..off+1] big-endian. */
static void put16(uint8_t *b, size_t off, uint16_t v)
{
	b[off] = v >> 8;
	b[off + 1] = v & 0xff;
}

static int build(uint8_t *b, int family, uint8_t proto, int vlans)
{
	struct pkt_spec s;

	pkt_spec_default(&s);
	s.family = family;
	s.proto = proto;
	s.vlans = vlans;
	return pkt_build(&s, b, FRAME_MAX);
}

static int ipv4_udp(uint8_t *b)
{
	return build(b, AF_INET, IPPROTO_UDP, 0);
}

static int ipv4_tcp(uint8_t *b)
{
	struct pkt_spec s;

	pkt_spec_default(&s);
	s.proto = IPPROTO_TCP;
	s.sport = 43210;
	s.dport = 443;
	s.tcp_flags = 0x12;	/* SYN|ACK */
	s.ttl = 7;
	return pkt_build(&s, b, FRAME_MAX);
}

static int ipv4_icmp(uint8_t *b)
{
	struct pkt_spec s;

	pkt_spec_default(&s);
	s.proto = IPPROTO_ICMP;
	s.sport = 3;	/* type: destination unreachable */
	s.dport = 4;	/* code: fragmentation needed */
	return pkt_build(&s, b, FRAME_MAX);
}

static int ipv6_udp(uint8_t *b)
{
	return build(b, AF_INET6, IPPROTO_UDP, 0);
}

static int ipv6_tcp(uint8_t *b)
{
	struct pkt_spec s;

	pkt_spec_default(&s);
	s.family = AF_INET6;
	s.proto = IPPROTO_TCP;
	s.sport = 22;
	s.dport = 50000;
	s.tcp_flags = 0x18;	/* PSH|ACK */
	s.ttl = 255;
	s.frame_len = 128;
	return pkt_build(&s, b, FRAME_MAX);
}

static int ipv6_icmpv6(uint8_t *b)
{
	struct pkt_spec s;

	pkt_spec_default(&s);
	s.family = AF_INET6;
	s.proto = IPPROTO_ICMPV6;
	s.sport = 128;	/* echo request */
	s.dport = 0;
	return pkt_build(&s, b, FRAME_MAX);
}

static int vlan_ipv4_udp(uint8_t *b)
{
	struct pkt_spec s;

	pkt_spec_default(&s);
	s.vlans = 1;
	s.vlan_id[0] = 100;
	return pkt_build(&s, b, FRAME_MAX);
}

static int qinq_ipv6_udp(uint8_t *b)
{
	struct pkt_spec s;

	pkt_spec_default(&s);
	s.family = AF_INET6;
	s.vlans = 2;
	s.vlan_tpid[0] = ETH_P_8021AD;
	s.vlan_id[0] = 200;
	s.vlan_id[1] = 300;
	return pkt_build(&s, b, FRAME_MAX);
}

/* Three tags: the builder stops at two, so a third is spliced in. */
static int vlan_three_tags(uint8_t *b)
{
	struct pkt_spec s;
	int len;

	pkt_spec_default(&s);
	s.vlans = 2;
	s.vlan_id[0] = 10;
	s.vlan_id[1] = 20;
	len = pkt_build(&s, b, FRAME_MAX);
	memmove(b + 24, b + 20, len - 20);
	put16(b, 20, ETH_P_8021Q);
	put16(b, 22, 30);
	return len + 4;
}

static int arp_request(uint8_t *b)
{
	static const uint8_t arp[28] = {
		0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01,	/* Ethernet/IPv4, request */
		0x02, 0, 0, 0, 0, 0x01, 10, 0, 0, 1,
		0, 0, 0, 0, 0, 0, 10, 0, 0, 2,
	};

	memset(b, 0, 60);
	memset(b, 0xff, 6);
	b[6] = 0x02;
	b[11] = 0x01;
	put16(b, 12, ETH_P_ARP);
	memcpy(b + ETH, arp, sizeof(arp));
	return 60;
}

static int qinq_arp(uint8_t *b)
{
	int len = arp_request(b);

	memmove(b + 20, b + 12, len - 20);
	put16(b, 12, ETH_P_8021AD);
	put16(b, 14, 200);
	put16(b, 16, ETH_P_8021Q);
	put16(b, 18, 2001);
	return len;
}

static int llc_frame(uint8_t *b)
{
	memset(b, 0, 60);
	put16(b, 12, 38);	/* 802.3 length */
	b[14] = 0x42;		/* STP SAPs */
	b[15] = 0x42;
	b[16] = 0x03;
	return 60;
}

static int eth_only(uint8_t *b)
{
	ipv4_udp(b);
	return ETH;
}

static int vlan_nothing_behind(uint8_t *b)
{
	vlan_ipv4_udp(b);
	return ETH;	/* the TPID says a tag follows; the frame ends */
}

static int vlan_no_l3(uint8_t *b)
{
	vlan_ipv4_udp(b);
	return ETH + 4;
}

static int ipv4_ihl_lt5(uint8_t *b)
{
	int len = ipv4_udp(b);

	b[ETH] = 0x44;
	return len;
}

static int ipv4_totlen_beyond(uint8_t *b)
{
	int len = ipv4_udp(b);

	put16(b, ETH + 2, len - ETH + 1);
	return len;
}

static int ipv4_totlen_lt_hdr(uint8_t *b)
{
	int len = ipv4_udp(b);

	put16(b, ETH + 2, 19);
	return len;
}

/* The frame is padded, but the datagram ends right after the IP header. */
static int ipv4_l4_past_datagram(uint8_t *b)
{
	int len = ipv4_udp(b);

	put16(b, ETH + 2, 20);
	return len;
}

static int ipv4_truncated_hdr(uint8_t *b)
{
	ipv4_udp(b);
	return ETH + 19;
}

static int ipv4_options(uint8_t *b)
{
	int len = ipv4_tcp(b);

	/* Router Alert (RFC 2113), 4 bytes: IHL 6. */
	memmove(b + IP4 + 4, b + IP4, len - IP4);
	b[IP4] = 0x94;
	b[IP4 + 1] = 4;
	b[IP4 + 2] = 0;
	b[IP4 + 3] = 0;
	b[ETH] = 0x46;
	put16(b, ETH + 2, len + 4 - ETH);
	return len + 4;
}

static int ipv4_truncated_options(uint8_t *b)
{
	ipv4_udp(b);
	b[ETH] = 0x4f;	/* 60-byte header in a 34-byte frame */
	put16(b, ETH + 2, 80);
	return IP4;
}

static int ipv4_version_mismatch(uint8_t *b)
{
	int len = ipv4_udp(b);

	put16(b, 12, ETH_P_IPV6);
	return len;
}

static int ipv4_tcp_truncated(uint8_t *b)
{
	ipv4_tcp(b);
	put16(b, ETH + 2, 20 + 10);
	return IP4 + 10;
}

static int ipv4_tcp_doff_lt5(uint8_t *b)
{
	int len = ipv4_tcp(b);

	b[IP4 + 12] = 4 << 4;
	return len;
}

/* Data offset 15 (60 bytes) in a 64-byte frame: options cut. */
static int ipv4_tcp_options_cut(uint8_t *b)
{
	int len = ipv4_tcp(b);

	b[IP4 + 12] = 15 << 4;
	return len;
}

static int ipv4_first_fragment(uint8_t *b)
{
	int len = ipv4_udp(b);

	put16(b, ETH + 6, 0x2000);	/* MF, offset 0 */
	return len;
}

static int ipv4_later_fragment(uint8_t *b)
{
	int len = ipv4_udp(b);

	put16(b, ETH + 6, 100);		/* offset 800, last fragment */
	return len;
}

static int ipv4_gre(uint8_t *b)
{
	int len = ipv4_udp(b);

	b[ETH + 9] = IPPROTO_GRE;
	return len;
}

static int ipv6_truncated_hdr(uint8_t *b)
{
	ipv6_udp(b);
	return ETH + 39;
}

static int ipv6_udp_truncated(uint8_t *b)
{
	ipv6_udp(b);
	put16(b, ETH + 4, 4);
	return IP6 + 4;
}

/*
 * IPv6 with n extension headers in front of a UDP header: cycles through
 * the kinds parse walks (an atomic Fragment header among them, AH last of
 * the cycle). Returns the frame length.
 */
static int ipv6_ext_chain(uint8_t *b, int n)
{
	static const uint8_t kinds[] = {
		IPPROTO_HOPOPTS, IPPROTO_DSTOPTS, IPPROTO_ROUTING, IPPROTO_FRAGMENT, IPPROTO_AH,
	};
	size_t off = IP6;
	int i, len;

	len = ipv6_udp(b);
	memset(b + IP6, 0, FRAME_MAX - IP6);
	for (i = 0; i < n; i++) {
		uint8_t kind = kinds[i % sizeof(kinds)];
		uint8_t next = i + 1 < n ? kinds[(i + 1) % sizeof(kinds)] : IPPROTO_UDP;

		if (i == 0)
			b[ETH + 6] = kind;
		b[off] = next;
		switch (kind) {
		case IPPROTO_FRAGMENT:
			off += 8;	/* offset 0, M 0: atomic */
			break;
		case IPPROTO_AH:
			b[off + 1] = 4;	/* (4 + 2) * 4 = 24 bytes */
			off += 24;
			break;
		default:
			b[off + 1] = 1;	/* (1 + 1) * 8 = 16 bytes */
			off += 16;
			break;
		}
	}
	if (!n)
		b[ETH + 6] = IPPROTO_UDP;
	put16(b, off, 5353);
	put16(b, off + 2, 53);
	put16(b, off + 4, 8);
	len = off + 8;
	put16(b, ETH + 4, len - IP6);
	return len;
}

static int ipv6_ext_8(uint8_t *b)
{
	return ipv6_ext_chain(b, SLUICE_PARSE_TEST_MAX_EXT);
}

static int ipv6_ext_9(uint8_t *b)
{
	return ipv6_ext_chain(b, SLUICE_PARSE_TEST_MAX_EXT + 1);
}

static int ipv6_ext_truncated(uint8_t *b)
{
	ipv6_ext_chain(b, 1);
	return IP6 + 1;		/* HBH announced, one byte of it present */
}

/* Hop-by-hop claims 2048 bytes: past the datagram. */
static int ipv6_ext_past_datagram(uint8_t *b)
{
	int len = ipv6_ext_chain(b, 1);

	b[IP6 + 1] = 255;
	return len;
}

static int ipv6_later_fragment(uint8_t *b)
{
	int len = ipv6_ext_chain(b, 1);

	b[ETH + 6] = IPPROTO_FRAGMENT;
	b[IP6] = IPPROTO_UDP;
	b[IP6 + 1] = 0;
	put16(b, IP6 + 2, 185 << 3);	/* offset 1480 */
	put16(b, ETH + 4, 16);
	return len - 8;
}

static int ipv6_first_fragment(uint8_t *b)
{
	int len = ipv6_ext_chain(b, 4);	/* HBH, DST, RT, FRAG */

	/* The Fragment header is at IP6 + 48: set M, keep offset 0. */
	put16(b, IP6 + 48 + 2, 1);
	return len;
}

static int ipv6_version_mismatch(uint8_t *b)
{
	int len = ipv6_udp(b);

	put16(b, 12, ETH_P_IP);
	return len;
}

struct parse_case {
	const char *name;
	int (*build)(uint8_t *b);
	uint32_t verdict;
	uint32_t drop_verdict;		/* with drop_malformed set */
	struct sluice_meta want;	/* parse's fields; path/last/gen implied */
};

#define T	(P | SLUICE_PKT_TRUNC)
#define M	(P | SLUICE_PKT_MALFORMED)

static const struct parse_case cases[] = {
	{ "ipv4 udp", ipv4_udp, XDP_PASS, XDP_PASS,
	  { .flags = P, .l3_off = ETH, .l4_off = IP4, .l3_proto = ETH_P_IP,
	    .l4_proto = IPPROTO_UDP, .sport = 1000, .dport = 2000, .ip_ttl = 64 } },
	{ "ipv4 tcp", ipv4_tcp, XDP_PASS, XDP_PASS,
	  { .flags = P, .l3_off = ETH, .l4_off = IP4, .l3_proto = ETH_P_IP,
	    .l4_proto = IPPROTO_TCP, .sport = 43210, .dport = 443, .tcp_flags = 0x12,
	    .ip_ttl = 7 } },
	{ "ipv4 icmp", ipv4_icmp, XDP_PASS, XDP_PASS,
	  { .flags = P, .l3_off = ETH, .l4_off = IP4, .l3_proto = ETH_P_IP,
	    .l4_proto = IPPROTO_ICMP, .dport = 3 << 8 | 4, .ip_ttl = 64 } },
	{ "ipv6 udp", ipv6_udp, XDP_PASS, XDP_PASS,
	  { .flags = P, .l3_off = ETH, .l4_off = IP6, .l3_proto = ETH_P_IPV6,
	    .l4_proto = IPPROTO_UDP, .sport = 1000, .dport = 2000, .ip_ttl = 64 } },
	{ "ipv6 tcp", ipv6_tcp, XDP_PASS, XDP_PASS,
	  { .flags = P, .l3_off = ETH, .l4_off = IP6, .l3_proto = ETH_P_IPV6,
	    .l4_proto = IPPROTO_TCP, .sport = 22, .dport = 50000, .tcp_flags = 0x18,
	    .ip_ttl = 255 } },
	{ "ipv6 icmpv6", ipv6_icmpv6, XDP_PASS, XDP_PASS,
	  { .flags = P, .l3_off = ETH, .l4_off = IP6, .l3_proto = ETH_P_IPV6,
	    .l4_proto = IPPROTO_ICMPV6, .dport = 128 << 8, .ip_ttl = 64 } },
	{ "802.1Q ipv4 udp", vlan_ipv4_udp, XDP_PASS, XDP_PASS,
	  { .flags = P, .l3_off = ETH + 4, .l4_off = IP4 + 4, .l3_proto = ETH_P_IP,
	    .l4_proto = IPPROTO_UDP, .sport = 1000, .dport = 2000, .ip_ttl = 64,
	    .vlans = 1, .vlan_id = 100 } },
	{ "802.1ad QinQ ipv6 udp", qinq_ipv6_udp, XDP_PASS, XDP_PASS,
	  { .flags = P, .l3_off = ETH + 8, .l4_off = IP6 + 8, .l3_proto = ETH_P_IPV6,
	    .l4_proto = IPPROTO_UDP, .sport = 1000, .dport = 2000, .ip_ttl = 64,
	    .vlans = 2, .vlan_id = 200 } },
	{ "three VLAN tags", vlan_three_tags, XDP_PASS, XDP_PASS,
	  { .flags = P | SLUICE_PKT_VLAN_LIMIT, .vlans = 2, .vlan_id = 10 } },
	{ "arp", arp_request, XDP_PASS, XDP_PASS,
	  { .flags = P | SLUICE_PKT_ARP, .l3_off = ETH, .l3_proto = ETH_P_ARP } },
	{ "802.1ad QinQ arp", qinq_arp, XDP_PASS, XDP_PASS,
	  { .flags = P | SLUICE_PKT_ARP, .l3_off = ETH + 8, .l3_proto = ETH_P_ARP,
	    .vlans = 2, .vlan_id = 200 } },
	{ "802.3 llc", llc_frame, XDP_PASS, XDP_PASS, { .flags = P } },
	{ "14-byte frame", eth_only, XDP_PASS, XDP_DROP,
	  { .flags = T, .l3_proto = ETH_P_IP } },
	{ "vlan tag with nothing behind", vlan_nothing_behind, XDP_PASS, XDP_DROP,
	  { .flags = T } },
	{ "vlan tag then no l3", vlan_no_l3, XDP_PASS, XDP_DROP,
	  { .flags = T, .l3_proto = ETH_P_IP, .vlans = 1, .vlan_id = 100 } },
	{ "ipv4 ihl < 5", ipv4_ihl_lt5, XDP_PASS, XDP_DROP,
	  { .flags = M, .l3_off = ETH, .l3_proto = ETH_P_IP } },
	{ "ipv4 header truncated", ipv4_truncated_hdr, XDP_PASS, XDP_DROP,
	  { .flags = T, .l3_off = ETH, .l3_proto = ETH_P_IP } },
	{ "ipv4 total length beyond frame", ipv4_totlen_beyond, XDP_PASS, XDP_DROP,
	  { .flags = T, .l3_off = ETH, .l4_off = IP4, .l3_proto = ETH_P_IP,
	    .l4_proto = IPPROTO_UDP, .sport = 1000, .dport = 2000, .ip_ttl = 64 } },
	{ "ipv4 total length < header", ipv4_totlen_lt_hdr, XDP_PASS, XDP_DROP,
	  { .flags = M, .l3_off = ETH, .l3_proto = ETH_P_IP, .ip_ttl = 64 } },
	{ "ipv4 l4 past datagram end", ipv4_l4_past_datagram, XDP_PASS, XDP_DROP,
	  { .flags = T, .l3_off = ETH, .l3_proto = ETH_P_IP, .l4_proto = IPPROTO_UDP,
	    .ip_ttl = 64 } },
	{ "ipv4 options", ipv4_options, XDP_PASS, XDP_PASS,
	  { .flags = P | SLUICE_PKT_IPOPT, .l3_off = ETH, .l4_off = IP4 + 4,
	    .l3_proto = ETH_P_IP, .l4_proto = IPPROTO_TCP, .sport = 43210, .dport = 443,
	    .tcp_flags = 0x12, .ip_ttl = 7 } },
	{ "ipv4 options truncated", ipv4_truncated_options, XDP_PASS, XDP_DROP,
	  { .flags = T | SLUICE_PKT_IPOPT, .l3_off = ETH, .l3_proto = ETH_P_IP,
	    .ip_ttl = 64 } },
	{ "ipv4 in ethertype 0x86dd", ipv4_version_mismatch, XDP_PASS, XDP_DROP,
	  { .flags = M, .l3_proto = ETH_P_IPV6 } },
	{ "ipv4 tcp header truncated", ipv4_tcp_truncated, XDP_PASS, XDP_DROP,
	  { .flags = T, .l3_off = ETH, .l3_proto = ETH_P_IP, .l4_proto = IPPROTO_TCP,
	    .ip_ttl = 7 } },
	{ "ipv4 tcp data offset < 5", ipv4_tcp_doff_lt5, XDP_PASS, XDP_DROP,
	  { .flags = M, .l3_off = ETH, .l3_proto = ETH_P_IP, .l4_proto = IPPROTO_TCP,
	    .ip_ttl = 7 } },
	{ "ipv4 tcp options cut", ipv4_tcp_options_cut, XDP_PASS, XDP_DROP,
	  { .flags = T, .l3_off = ETH, .l4_off = IP4, .l3_proto = ETH_P_IP,
	    .l4_proto = IPPROTO_TCP, .sport = 43210, .dport = 443, .tcp_flags = 0x12,
	    .ip_ttl = 7 } },
	{ "ipv4 first fragment", ipv4_first_fragment, XDP_PASS, XDP_PASS,
	  { .flags = P | SLUICE_PKT_FRAG, .l3_off = ETH, .l4_off = IP4,
	    .l3_proto = ETH_P_IP, .l4_proto = IPPROTO_UDP, .sport = 1000, .dport = 2000,
	    .ip_ttl = 64 } },
	{ "ipv4 later fragment", ipv4_later_fragment, XDP_PASS, XDP_PASS,
	  { .flags = P | SLUICE_PKT_FRAG | SLUICE_PKT_FRAG_LATER, .l3_off = ETH,
	    .l3_proto = ETH_P_IP, .ip_ttl = 64 } },
	{ "ipv4 gre", ipv4_gre, XDP_PASS, XDP_PASS,
	  { .flags = P, .l3_off = ETH, .l4_off = IP4, .l3_proto = ETH_P_IP,
	    .l4_proto = IPPROTO_GRE, .ip_ttl = 64 } },
	{ "ipv6 header truncated", ipv6_truncated_hdr, XDP_PASS, XDP_DROP,
	  { .flags = T, .l3_off = ETH, .l3_proto = ETH_P_IPV6 } },
	{ "ipv6 udp header truncated", ipv6_udp_truncated, XDP_PASS, XDP_DROP,
	  { .flags = T, .l3_off = ETH, .l3_proto = ETH_P_IPV6, .l4_proto = IPPROTO_UDP,
	    .ip_ttl = 64 } },
	{ "ipv6 in ethertype 0x0800", ipv6_version_mismatch, XDP_PASS, XDP_DROP,
	  { .flags = M, .l3_proto = ETH_P_IP } },
	{ "ipv6 8 extension headers", ipv6_ext_8, XDP_PASS, XDP_PASS,
	  { .flags = P | SLUICE_PKT_EXTHDR | SLUICE_PKT_FRAG, .l3_off = ETH,
	    .l4_off = IP6 + 16 + 16 + 16 + 8 + 24 + 16 + 16 + 16,
	    .l3_proto = ETH_P_IPV6, .l4_proto = IPPROTO_UDP, .sport = 5353, .dport = 53,
	    .ip_ttl = 64, .ext_hdrs = 8 } },
	{ "ipv6 9 extension headers", ipv6_ext_9, XDP_PASS, XDP_PASS,
	  { .flags = P | SLUICE_PKT_EXTHDR | SLUICE_PKT_FRAG | SLUICE_PKT_EXT_LIMIT,
	    .l3_off = ETH, .l3_proto = ETH_P_IPV6, .ip_ttl = 64, .ext_hdrs = 8 } },
	{ "ipv6 extension header truncated", ipv6_ext_truncated, XDP_PASS, XDP_DROP,
	  { .flags = T | SLUICE_PKT_EXTHDR, .l3_off = ETH, .l3_proto = ETH_P_IPV6,
	    .ip_ttl = 64 } },
	{ "ipv6 extension header past datagram", ipv6_ext_past_datagram, XDP_PASS, XDP_DROP,
	  { .flags = T | SLUICE_PKT_EXTHDR, .l3_off = ETH, .l3_proto = ETH_P_IPV6,
	    .ip_ttl = 64, .ext_hdrs = 1 } },
	{ "ipv6 first fragment", ipv6_first_fragment, XDP_PASS, XDP_PASS,
	  { .flags = P | SLUICE_PKT_EXTHDR | SLUICE_PKT_FRAG, .l3_off = ETH,
	    .l4_off = IP6 + 16 + 16 + 16 + 8, .l3_proto = ETH_P_IPV6,
	    .l4_proto = IPPROTO_UDP, .sport = 5353, .dport = 53, .ip_ttl = 64,
	    .ext_hdrs = 4 } },
	{ "ipv6 later fragment", ipv6_later_fragment, XDP_PASS, XDP_PASS,
	  { .flags = P | SLUICE_PKT_EXTHDR | SLUICE_PKT_FRAG | SLUICE_PKT_FRAG_LATER,
	    .l3_off = ETH, .l3_proto = ETH_P_IPV6, .ip_ttl = 64, .ext_hdrs = 1 } },
};

struct fixture {
	struct parse_bpf *skel[2];	/* [drop_malformed] */
};

static int load_parse(struct parse_bpf **out, __u32 drop)
{
	struct parse_bpf *skel = parse_bpf__open();
	int err;

	if (!skel)
		return -errno;
	skel->rodata->sluice_cfg.next = SLUICE_SLOT_END;
	skel->rodata->drop_malformed = drop;
	err = parse_bpf__load(skel);
	if (err) {
		parse_bpf__destroy(skel);
		return err;
	}
	*out = skel;
	return 0;
}

static int group_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	*state = f;
	if (geteuid() != 0)
		return 0;	/* each test skips */
	if (load_parse(&f->skel[0], 0) || load_parse(&f->skel[1], 1))
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	struct fixture *f = *state;

	parse_bpf__destroy(f->skel[0]);
	parse_bpf__destroy(f->skel[1]);
	free(f);
	return 0;
}

#define CHECK(field)								\
	do {									\
		if ((long)got->field != (long)want->field) {			\
			print_error("%s: " #field " = %#lx, want %#lx\n", name,	\
				    (long)got->field, (long)want->field);	\
			bad++;							\
		}								\
	} while (0)

/* Compares every field parse owns, and the stage bookkeeping. */
static int meta_diff(const char *name, const struct sluice_meta *got,
		     const struct sluice_meta *want)
{
	int bad = 0;

	CHECK(flags);
	CHECK(l3_off);
	CHECK(l4_off);
	CHECK(l3_proto);
	CHECK(l4_proto);
	CHECK(vlans);
	CHECK(vlan_id);
	CHECK(sport);
	CHECK(dport);
	CHECK(tcp_flags);
	CHECK(ip_ttl);
	CHECK(ext_hdrs);
	if (got->path != 1 || got->last != 0 || got->rule || got->gen) {
		print_error("%s: stage bookkeeping path %#x last %u rule %u gen %u\n", name,
			    got->path, got->last, got->rule, got->gen);
		bad++;
	}
	return bad;
}

static void run_table(struct fixture *f, int drop)
{
	int prog = bpf_program__fd(f->skel[drop]->progs.sluice_parse);
	uint8_t frame[FRAME_MAX];
	struct xdp_run r;
	size_t i;
	int bad = 0;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct parse_case *c = &cases[i];
		uint32_t verdict = drop ? c->drop_verdict : c->verdict;
		int len = c->build(frame);

		assert_true(len > 0 && len <= FRAME_MAX);
		assert_int_equal(xdp_run_meta(prog, frame, len, NULL, &r), 0);
		if (r.retval != verdict) {
			print_error("%s: verdict %u, want %u\n", c->name, r.retval, verdict);
			bad++;
		}
		bad += meta_diff(c->name, &r.meta, &c->want);
	}
	assert_int_equal(bad, 0);
}

static void test_parse_table(void **state)
{
	require_bpf();
	run_table(*state, 0);
}

static void test_parse_table_drop_malformed(void **state)
{
	require_bpf();
	run_table(*state, 1);
}

static const struct parse_case *find_case(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!strcmp(cases[i].name, name))
			return &cases[i];
	fail_msg("no case %s", name);
	return NULL;
}

/* Stale values from a packet's earlier life must not survive parse. */
static void test_meta_fields_reset(void **state)
{
	struct fixture *f = *state;
	struct sluice_meta stale;
	uint8_t frame[FRAME_MAX];
	struct xdp_run r;
	int len = arp_request(frame);

	require_bpf();
	meta_init(&stale, 0);
	stale.flags = SLUICE_PKT_FRAG | SLUICE_PKT_TRUNC;
	stale.l4_off = 99;
	stale.sport = 1;
	stale.dport = 2;
	stale.l4_proto = 6;
	stale.ip_ttl = 3;
	stale.ext_hdrs = 4;
	assert_int_equal(xdp_run_meta(bpf_program__fd(f->skel[0]->progs.sluice_parse), frame, len,
				      &stale, &r), 0);
	assert_int_equal(meta_diff("stale arp", &r.meta, &find_case("arp")->want), 0);
}

/*
 * Cost of the stage alone (its slot bookkeeping included), printed as TAP
 * comments: a figure to watch, not asserted, since it depends on the host.
 */
static void test_cost(void **state)
{
	static const struct {
		const char *name;
		int (*build)(uint8_t *b);
	} frames[] = {
		{ "ipv4 tcp", ipv4_tcp },
		{ "ipv6 4 ext hdrs + udp", ipv6_first_fragment },
		{ "ipv6 8 ext hdrs + udp", ipv6_ext_8 },
	};
	struct fixture *f = *state;
	int prog, len, round;
	size_t i;

	require_bpf();
	prog = bpf_program__fd(f->skel[0]->progs.sluice_parse);
	if (xdp_ctx_refused())
		skip();	/* the metadata goes in through the xdp_md context */
	for (i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
		uint8_t in[sizeof(struct sluice_meta) + FRAME_MAX];
		struct sluice_meta m;
		__u32 best = ~0u;

		meta_init(&m, 0);
		memcpy(in, &m, sizeof(m));
		len = frames[i].build(in + sizeof(m));
		for (round = 0; round < 5; round++) {
			struct xdp_md ctx = {
				.data = sizeof(m),
				.data_end = sizeof(m) + len,
			};
			LIBBPF_OPTS(bpf_test_run_opts, opts,
				.data_in = in,
				.data_size_in = sizeof(m) + len,
				.ctx_in = &ctx,
				.ctx_size_in = sizeof(ctx),
				.repeat = 1000000,
			);

			assert_int_equal(bpf_prog_test_run_opts(prog, &opts), 0);
			assert_int_equal(opts.retval, XDP_PASS);
			if (opts.duration < best)
				best = opts.duration;
		}
		print_message("# parse cost, %s: %u ns/packet (best of 5 x 1e6)\n",
			      frames[i].name, best);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_table_drop_malformed),
		cmocka_unit_test(test_meta_fields_reset),
		cmocka_unit_test(test_cost),
	};

	libbpf_set_print(NULL);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
