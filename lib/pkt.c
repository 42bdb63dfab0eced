// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <linux/tcp.h>
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include "pkt.h"

void pkt_spec_default(struct pkt_spec *spec)
{
	static const uint8_t src[6] = { 0x02, 0, 0, 0, 0, 0x01 };
	static const uint8_t dst[6] = { 0x02, 0, 0, 0, 0, 0x02 };

	memset(spec, 0, sizeof(*spec));
	memcpy(spec->src_mac, src, 6);
	memcpy(spec->dst_mac, dst, 6);
	spec->family = AF_INET;
	inet_pton(AF_INET, "10.0.0.1", &spec->src4);
	inet_pton(AF_INET, "10.0.0.2", &spec->dst4);
	inet_pton(AF_INET6, "fd00::1", &spec->src6);
	inet_pton(AF_INET6, "fd00::2", &spec->dst6);
	spec->proto = IPPROTO_UDP;
	spec->sport = 1000;
	spec->dport = 2000;
	spec->frame_len = 64;
}

uint32_t pkt_fnv1a32(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t h = 2166136261u;

	while (len--) {
		h ^= *p++;
		h *= 16777619u;
	}
	return h;
}

uint32_t pkt_csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (; len > 1; len -= 2, p += 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

uint16_t pkt_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* The payload checksum covers the body and folds in flow and seq, cheaply. */
static uint32_t payload_csum(uint32_t body_fnv, uint32_t flow, uint64_t seq)
{
	return body_fnv ^ flow ^ (uint32_t)seq ^ (uint32_t)(seq >> 32) * 0x9e3779b1u;
}

static uint32_t l4_pseudo(const struct pkt_spec *s, size_t l4_len)
{
	uint32_t sum = 0;

	if (s->family == AF_INET) {
		sum = pkt_csum_add(sum, &s->src4, 4);
		sum = pkt_csum_add(sum, &s->dst4, 4);
	} else {
		sum = pkt_csum_add(sum, &s->src6, 16);
		sum = pkt_csum_add(sum, &s->dst6, 16);
	}
	return sum + s->proto + (uint32_t)l4_len;
}

static size_t l4_hdr_len(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return sizeof(struct tcphdr);
	case IPPROTO_UDP:
		return sizeof(struct udphdr);
	default:
		return 8;	/* ICMP and ICMPv6 echo */
	}
}

int pkt_build(const struct pkt_spec *s, void *buf, size_t size)
{
	uint8_t *p = buf, *l3, *l4;
	size_t l2_len = ETH_HLEN + 4 * s->vlans;
	size_t l3_len = s->family == AF_INET ? sizeof(struct iphdr) : sizeof(struct ipv6hdr);
	size_t l4_len = l4_hdr_len(s->proto);
	size_t pl_len = s->with_payload ? sizeof(struct sluice_payload) : 0;
	size_t st_len = s->with_payload && s->with_stamp ? sizeof(struct sluice_stamp) : 0;
	size_t len = l2_len + l3_len + l4_len + pl_len + st_len;
	uint16_t ethertype = s->family == AF_INET ? ETH_P_IP : ETH_P_IPV6;
	size_t l4_total;
	uint32_t sum;
	int i;

	if (s->vlans < 0 || s->vlans > 2 || (s->family != AF_INET && s->family != AF_INET6))
		return -EINVAL;
	if (s->frame_len > len)
		len = s->frame_len;
	if (len > size)
		return -ENOSPC;
	memset(p, 0, len);

	memcpy(p, s->dst_mac, 6);
	memcpy(p + 6, s->src_mac, 6);
	for (i = 0; i < s->vlans; i++) {
		uint16_t tpid = s->vlan_tpid[i] ? s->vlan_tpid[i] : ETH_P_8021Q;
		uint16_t tci = htons(s->vlan_id[i] & 0xfff);

		tpid = htons(tpid);
		memcpy(p + 12 + 4 * i, &tpid, 2);
		memcpy(p + 14 + 4 * i, &tci, 2);
	}
	ethertype = htons(ethertype);
	memcpy(p + 12 + 4 * s->vlans, &ethertype, 2);

	l3 = p + l2_len;
	l4 = l3 + l3_len;
	l4_total = len - l2_len - l3_len;
	/*
	 * Headers are built in aligned locals and copied in: after 14 bytes of
	 * Ethernet the IP header is not 4-byte aligned, and a struct access
	 * there is undefined behaviour (UBSan says so from the control fuzzer).
	 */
	if (s->family == AF_INET) {
		struct iphdr ip = {};

		ip.version = 4;
		ip.ihl = 5;
		ip.tot_len = htons(l3_len + l4_total);
		ip.ttl = s->ttl ? s->ttl : 64;
		ip.protocol = s->proto;
		ip.saddr = s->src4.s_addr;
		ip.daddr = s->dst4.s_addr;
		ip.check = pkt_csum_fold(pkt_csum_add(0, &ip, sizeof(ip)));
		memcpy(l3, &ip, sizeof(ip));
	} else {
		struct ipv6hdr ip6 = {};

		ip6.version = 6;
		ip6.payload_len = htons(l4_total);
		ip6.nexthdr = s->proto;
		ip6.hop_limit = s->ttl ? s->ttl : 64;
		ip6.saddr = s->src6;
		ip6.daddr = s->dst6;
		memcpy(l3, &ip6, sizeof(ip6));
	}

	if (s->with_payload) {
		uint8_t *body_at = l4 + l4_len + sizeof(struct sluice_payload);
		struct sluice_payload pl = {};
		size_t body = len - (size_t)(body_at - p) - st_len;

		for (size_t j = 0; j < body; j++)
			body_at[j] = (uint8_t)(j * 7 + 1);
		if (st_len) {
			struct sluice_stamp st = { .magic = htonl(SLUICE_STAMP_MAGIC) };

			memcpy(p + len - st_len, &st, sizeof(st));
		}
		pl.magic = htonl(SLUICE_PAYLOAD_MAGIC);
		pl.flow = htonl(s->flow);
		pl.seq = htobe64(s->seq);
		pl.len = htonl((uint32_t)body);
		pl.csum = htonl(payload_csum(pkt_fnv1a32(body_at, body), s->flow, s->seq));
		memcpy(l4 + l4_len, &pl, sizeof(pl));
	}

	switch (s->proto) {
	case IPPROTO_UDP: {
		struct udphdr udp = {};

		udp.source = htons(s->sport);
		udp.dest = htons(s->dport);
		udp.len = htons(l4_total);
		memcpy(l4, &udp, sizeof(udp));
		if (s->family == AF_INET6) {
			sum = pkt_csum_add(l4_pseudo(s, l4_total), l4, l4_total);
			udp.check = pkt_csum_fold(sum);
			if (!udp.check)
				udp.check = 0xffff;
			memcpy(l4, &udp, sizeof(udp));
		}
		break;
	}
	case IPPROTO_TCP: {
		struct tcphdr tcp = {};

		tcp.source = htons(s->sport);
		tcp.dest = htons(s->dport);
		tcp.doff = 5;
		((uint8_t *)&tcp)[13] = s->tcp_flags;
		tcp.window = htons(65535);
		memcpy(l4, &tcp, sizeof(tcp));
		sum = pkt_csum_add(l4_pseudo(s, l4_total), l4, l4_total);
		tcp.check = pkt_csum_fold(sum);
		memcpy(l4, &tcp, sizeof(tcp));
		break;
	}
	default:
		l4[0] = (uint8_t)s->sport;	/* type */
		l4[1] = (uint8_t)s->dport;	/* code */
		sum = s->family == AF_INET6 ? l4_pseudo(s, l4_total) : 0;
		sum = pkt_csum_add(sum, l4, l4_total);
		memcpy(l4 + 2, &(uint16_t){ pkt_csum_fold(sum) }, 2);
		break;
	}
	return (int)len;
}

/* Finds the UDP payload of a frame: returns its offset or -ENOENT. */
static int find_payload(const uint8_t *p, size_t len, size_t *l3_off, int *family)
{
	size_t off = ETH_HLEN;
	uint16_t proto;
	int depth;

	if (len < ETH_HLEN)
		return -ENOENT;
	proto = (uint16_t)(p[12] << 8 | p[13]);
	for (depth = 0; depth < 2 && (proto == ETH_P_8021Q || proto == ETH_P_8021AD); depth++) {
		if (len < off + 4)
			return -ENOENT;
		proto = (uint16_t)(p[off + 2] << 8 | p[off + 3]);
		off += 4;
	}
	*l3_off = off;
	/* Headers are copied out: in a frame they sit at any alignment. */
	if (proto == ETH_P_IP) {
		struct iphdr ip;

		if (len < off + sizeof(ip))
			return -ENOENT;
		memcpy(&ip, p + off, sizeof(ip));
		if (ip.protocol != IPPROTO_UDP || ip.ihl < 5)
			return -ENOENT;
		*family = AF_INET;
		off += ip.ihl * 4u;
	} else if (proto == ETH_P_IPV6) {
		struct ipv6hdr ip6;

		if (len < off + sizeof(ip6))
			return -ENOENT;
		memcpy(&ip6, p + off, sizeof(ip6));
		if (ip6.nexthdr != IPPROTO_UDP)
			return -ENOENT;
		*family = AF_INET6;
		off += sizeof(ip6);
	} else {
		return -ENOENT;
	}
	off += sizeof(struct udphdr);
	if (len < off + sizeof(struct sluice_payload))
		return -ENOENT;
	return (int)off;
}

int pkt_check(const void *frame, size_t len, uint64_t *seq, uint32_t *flow)
{
	const uint8_t *p = frame;
	struct sluice_payload pl;
	size_t l3_off, body;
	int family, off;

	off = find_payload(p, len, &l3_off, &family);
	if (off < 0)
		return off;
	memcpy(&pl, p + off, sizeof(pl));
	if (ntohl(pl.magic) != SLUICE_PAYLOAD_MAGIC)
		return -ENOENT;
	body = ntohl(pl.len);
	if (body > len - (size_t)off - sizeof(pl))
		return -EBADMSG;
	*seq = be64toh(pl.seq);
	*flow = ntohl(pl.flow);
	if (ntohl(pl.csum) != payload_csum(pkt_fnv1a32(p + off + sizeof(pl), body), *flow, *seq))
		return -EBADMSG;
	return 0;
}

int pkt_get_stamp(const void *frame, size_t len, uint64_t *tx_ns)
{
	const uint8_t *p = frame;
	struct sluice_payload pl;
	struct sluice_stamp st;
	size_t l3_off, end;
	int family, off;

	off = find_payload(p, len, &l3_off, &family);
	if (off < 0)
		return off;
	/* Copies: a frame's payload is not aligned for the structs. */
	memcpy(&pl, p + off, sizeof(pl));
	if (ntohl(pl.magic) != SLUICE_PAYLOAD_MAGIC)
		return -ENOENT;
	/* Unstamped frames end with the checksummed bytes: no room for one. */
	end = (size_t)off + sizeof(pl) + ntohl(pl.len);
	if (end < (size_t)off || end > len || len - end < sizeof(st))
		return -ENOENT;
	memcpy(&st, p + end, sizeof(st));
	if (ntohl(st.magic) != SLUICE_STAMP_MAGIC)
		return -ENOENT;
	*tx_ns = be64toh(st.tx_ns);
	return 0;
}

int pkt_set_seq(void *frame, size_t len, uint64_t seq)
{
	uint8_t *p = frame;
	struct sluice_payload pl;
	size_t l3_off;
	uint32_t csum, flow;
	uint64_t old;
	int family, off;

	off = find_payload(p, len, &l3_off, &family);
	if (off < 0)
		return off;
	memcpy(&pl, p + off, sizeof(pl));
	old = be64toh(pl.seq);
	flow = ntohl(pl.flow);
	/* Undo the old seq's contribution, then add the new one's. */
	csum = ntohl(pl.csum) ^ payload_csum(0, flow, old) ^ payload_csum(0, flow, seq);
	pl.seq = htobe64(seq);
	pl.csum = htonl(csum);
	memcpy(p + off, &pl, sizeof(pl));
	if (family == AF_INET6) {
		uint8_t *ip6 = p + l3_off, *udp = ip6 + sizeof(struct ipv6hdr);
		struct udphdr uh;
		size_t l4_len;
		uint32_t sum = 0;

		memcpy(&uh, udp, sizeof(uh));
		l4_len = ntohs(uh.len);
		if (l4_len > len - l3_off - sizeof(struct ipv6hdr))
			return -EBADMSG;
		uh.check = 0;
		memcpy(udp, &uh, sizeof(uh));
		sum = pkt_csum_add(sum, ip6 + offsetof(struct ipv6hdr, saddr), 16);
		sum = pkt_csum_add(sum, ip6 + offsetof(struct ipv6hdr, daddr), 16);
		sum += IPPROTO_UDP + (uint32_t)l4_len;
		uh.check = pkt_csum_fold(pkt_csum_add(sum, udp, l4_len));
		if (!uh.check)
			uh.check = 0xffff;
		memcpy(udp, &uh, sizeof(uh));
	}
	return 0;
}
