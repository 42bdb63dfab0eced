/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Building test frames in C: one builder for unit tests, benchmarks, the
 * generator and the AF_XDP checker, so they all agree on what a frame is.
 */
#ifndef SLUICE_PKT_H
#define SLUICE_PKT_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <sluice/abi.h>

struct pkt_spec {
	uint8_t src_mac[6], dst_mac[6];
	int vlans;			/* 0, 1 or 2 tags */
	uint16_t vlan_tpid[2];		/* 0 = 0x8100 (outer 0x88a8 for QinQ is the caller's choice) */
	uint16_t vlan_id[2];
	int family;			/* AF_INET or AF_INET6 */
	struct in_addr src4, dst4;
	struct in6_addr src6, dst6;
	uint8_t proto;			/* IPPROTO_UDP, _TCP, _ICMP, _ICMPV6 */
	uint16_t sport, dport;		/* or ICMP type, code */
	uint8_t tcp_flags;
	uint8_t ttl;			/* 0 = 64 */
	size_t frame_len;		/* total frame length, padded with payload; min is headers */
	bool with_payload;		/* put a struct sluice_payload after L4 */
	bool with_stamp;		/* and a struct sluice_stamp (tx_ns 0) at the end */
	uint32_t flow;
	uint64_t seq;
};

/* Fills spec with a UDP/IPv4 flow 10.0.0.1:1000 -> 10.0.0.2:2000, 64 bytes. */
void pkt_spec_default(struct pkt_spec *spec);

/* Writes the frame into buf; returns its length or -ENOSPC / -EINVAL. */
int pkt_build(const struct pkt_spec *spec, void *buf, size_t size);

/*
 * Finds and checks a struct sluice_payload in a frame built by pkt_build()
 * (any VLAN depth, IPv4 or IPv6, UDP). Returns 0 and the sequence number and
 * flow, -ENOENT when the frame carries no payload, -EBADMSG when its
 * checksum does not verify.
 */
int pkt_check(const void *frame, size_t len, uint64_t *seq, uint32_t *flow);

/*
 * The transmit time in a frame built with_stamp (written by the sender);
 * -ENOENT when the frame carries no payload or no stamp.
 */
int pkt_get_stamp(const void *frame, size_t len, uint64_t *tx_ns);

/* Rewrites seq (and the checksum) of a frame pkt_build() made with a payload. */
int pkt_set_seq(void *frame, size_t len, uint64_t seq);

uint32_t pkt_fnv1a32(const void *data, size_t len);
uint16_t pkt_csum_fold(uint32_t sum);
uint32_t pkt_csum_add(uint32_t sum, const void *data, size_t len);

#endif
