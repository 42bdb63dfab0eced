/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The parse stage's logic: reads the outermost headers of a frame once and
 * leaves what later stages need in struct sluice_meta, so no other stage
 * touches packet bytes to classify it. Kept in one header of
 * __always_inline functions so the same code builds both as the parse
 * stage (parse.bpf.c) and inside a single inlined benchmark program.
 *
 * Rules every function here follows:
 * - nothing is read that was not bounds-checked against data_end;
 * - a header that runs past the frame, or past the IP datagram's own
 *   length, sets SLUICE_PKT_TRUNC; a field that cannot be right sets
 *   SLUICE_PKT_MALFORMED; either stops the walk, leaving the fields read
 *   so far;
 * - a field of meta is only filled from a header that is complete, so a
 *   consumer never sees half a header's worth of values.
 * See docs/parse.md for the bounds and the meaning of every flag.
 */
#ifndef SLUICE_BPF_PARSE_H
#define SLUICE_BPF_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <sluice/abi.h>
#include <sluice/stage.bpf.h>

/* VLAN tags read in front of L3; one more is SLUICE_PKT_VLAN_LIMIT. */
#define SLUICE_PARSE_MAX_VLANS		2
/* IPv6 extension headers walked; one more is SLUICE_PKT_EXT_LIMIT. */
#define SLUICE_PARSE_MAX_EXT_HDRS	8
/*
 * Largest header offset parse reads at. XDP sees at most one page of linear
 * data, so nothing real lies beyond; the bound gives the verifier a range.
 */
#define SLUICE_PARSE_MAX_OFF		0x3fff
/*
 * ICMP and ICMPv6 share type, code and checksum (RFC 792, RFC 4443 2.1);
 * what follows depends on the type, so only these 4 bytes are required.
 */
#define SLUICE_PARSE_ICMP_HLEN		4
/* struct arphdr's fixed part; linux/if_arp.h drags in libc headers. */
#define SLUICE_PARSE_ARP_HLEN		8

#ifndef ETH_P_8021AD
#define ETH_P_8021AD			0x88A8
#endif
#ifndef IP_MF
#define IP_MF				0x2000
#define IP_OFFSET			0x1FFF
#endif
#define SLUICE_IP6_FRAG_OFFSET		0xfff8	/* offset bits of the Fragment header's frag_off */

/* Drop frames parse flags truncated or malformed, instead of handing them on. */
const volatile __u32 drop_malformed = 0;

struct sluice_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

struct sluice_ip6_ext {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct sluice_ip6_frag {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 id;
};

/*
 * A pointer to len bytes at off, or NULL if they are not all in the frame.
 * The explicit bound on off keeps the verifier's packet range finite.
 */
static __always_inline void *sluice_parse_hdr(void *data, void *data_end, __u32 off, __u32 len)
{
	void *p;

	if (off > SLUICE_PARSE_MAX_OFF)
		return NULL;
	p = data + off;
	if (p + len > data_end)
		return NULL;
	return p;
}

/*
 * The upper-layer header at off. end is where the IP datagram ends (never
 * past the frame). The protocol is known from the IP header even when its
 * header is cut short; offsets, ports and flags only when it is whole.
 */
static __always_inline void sluice_parse_l4(void *data, void *data_end, struct sluice_meta *m,
					    __u8 proto, __u32 off, __u32 end)
{
	m->l4_proto = proto;
	if (proto == IPPROTO_TCP) {
		struct tcphdr *th;
		__u32 doff;

		th = sluice_parse_hdr(data, data_end, off, sizeof(*th));
		if (!th || off + sizeof(*th) > end) {
			m->flags |= SLUICE_PKT_TRUNC;
			return;
		}
		doff = th->doff * 4;
		if (doff < sizeof(*th)) {
			m->flags |= SLUICE_PKT_MALFORMED;
			return;
		}
		/* Fixed header whole, options cut: the fields read are right. */
		if (off + doff > end)
			m->flags |= SLUICE_PKT_TRUNC;
		m->l4_off = off;
		m->sport = bpf_ntohs(th->source);
		m->dport = bpf_ntohs(th->dest);
		m->tcp_flags = ((__u8 *)th)[13];
	} else if (proto == IPPROTO_UDP) {
		struct udphdr *uh;

		uh = sluice_parse_hdr(data, data_end, off, sizeof(*uh));
		if (!uh || off + sizeof(*uh) > end) {
			m->flags |= SLUICE_PKT_TRUNC;
			return;
		}
		m->l4_off = off;
		m->sport = bpf_ntohs(uh->source);
		m->dport = bpf_ntohs(uh->dest);
	} else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		__u8 *ih;

		ih = sluice_parse_hdr(data, data_end, off, SLUICE_PARSE_ICMP_HLEN);
		if (!ih || off + SLUICE_PARSE_ICMP_HLEN > end) {
			m->flags |= SLUICE_PKT_TRUNC;
			return;
		}
		m->l4_off = off;
		m->dport = (__u16)ih[0] << 8 | ih[1];
	} else if (off < end) {
		/* GRE, ESP, IP-in-IP...: where it starts is all parse knows. */
		m->l4_off = off;
	}
}

static __always_inline void sluice_parse_ipv4(void *data, void *data_end, struct sluice_meta *m,
					      __u32 off)
{
	__u32 frame_len = data_end - data;
	__u32 ihl, tot, end;
	struct iphdr *iph;
	__u16 frag;
	__u8 *vb;

	vb = sluice_parse_hdr(data, data_end, off, 1);
	if (!vb) {
		m->flags |= SLUICE_PKT_TRUNC;
		return;
	}
	/* Not IPv4 whatever the ethertype says: no L3 to report. */
	if (*vb >> 4 != 4) {
		m->flags |= SLUICE_PKT_MALFORMED;
		return;
	}
	m->l3_off = off;
	ihl = (*vb & 0xf) * 4;
	if (ihl < sizeof(*iph)) {
		m->flags |= SLUICE_PKT_MALFORMED;
		return;
	}
	if (ihl > sizeof(*iph))
		m->flags |= SLUICE_PKT_IPOPT;
	iph = sluice_parse_hdr(data, data_end, off, sizeof(*iph));
	if (!iph) {
		m->flags |= SLUICE_PKT_TRUNC;
		return;
	}
	m->ip_ttl = iph->ttl;
	frag = bpf_ntohs(iph->frag_off);
	if (frag & (IP_MF | IP_OFFSET))
		m->flags |= SLUICE_PKT_FRAG;
	if (frag & IP_OFFSET)
		m->flags |= SLUICE_PKT_FRAG_LATER;
	tot = bpf_ntohs(iph->tot_len);
	if (tot < ihl) {
		m->flags |= SLUICE_PKT_MALFORMED;
		return;
	}
	/* Options are not interpreted, only skipped: they must be there. */
	if (off + ihl > frame_len) {
		m->flags |= SLUICE_PKT_TRUNC;
		return;
	}
	/* A frame may carry padding after the datagram, but not less of it. */
	end = off + tot;
	if (end > frame_len) {
		m->flags |= SLUICE_PKT_TRUNC;
		end = frame_len;
	}
	/* A later fragment carries payload bytes, not an L4 header. */
	if (frag & IP_OFFSET)
		return;
	sluice_parse_l4(data, data_end, m, iph->protocol, off + ihl, end);
}

/*
 * Walks hop-by-hop, routing, fragment, destination options and AH headers,
 * at most SLUICE_PARSE_MAX_EXT_HDRS of them, counting each in meta.ext_hdrs.
 * Mobility and ESP end the walk as the upper layer, as they carry none that
 * parse could read.
 */
static __always_inline void sluice_parse_ipv6(void *data, void *data_end, struct sluice_meta *m,
					      __u32 off)
{
	__u32 frame_len = data_end - data;
	struct ipv6hdr *ip6;
	__u32 end, len;
	__u8 nexthdr;
	__u8 *vb;
	int i;

	vb = sluice_parse_hdr(data, data_end, off, 1);
	if (!vb) {
		m->flags |= SLUICE_PKT_TRUNC;
		return;
	}
	if (*vb >> 4 != 6) {
		m->flags |= SLUICE_PKT_MALFORMED;
		return;
	}
	m->l3_off = off;
	ip6 = sluice_parse_hdr(data, data_end, off, sizeof(*ip6));
	if (!ip6) {
		m->flags |= SLUICE_PKT_TRUNC;
		return;
	}
	m->ip_ttl = ip6->hop_limit;
	nexthdr = ip6->nexthdr;
	off += sizeof(*ip6);
	end = off + bpf_ntohs(ip6->payload_len);
	if (end > frame_len) {
		m->flags |= SLUICE_PKT_TRUNC;
		end = frame_len;
	}

#pragma unroll
	for (i = 0; i < SLUICE_PARSE_MAX_EXT_HDRS; i++) {
		struct sluice_ip6_ext *eh;

		if (nexthdr != IPPROTO_HOPOPTS && nexthdr != IPPROTO_ROUTING &&
		    nexthdr != IPPROTO_DSTOPTS && nexthdr != IPPROTO_FRAGMENT &&
		    nexthdr != IPPROTO_AH)
			break;
		m->flags |= SLUICE_PKT_EXTHDR;
		if (nexthdr == IPPROTO_FRAGMENT) {
			struct sluice_ip6_frag *fh;

			fh = sluice_parse_hdr(data, data_end, off, sizeof(*fh));
			if (!fh || off + sizeof(*fh) > end) {
				m->flags |= SLUICE_PKT_TRUNC;
				return;
			}
			/* Atomic fragments too: the sender used fragmentation. */
			m->flags |= SLUICE_PKT_FRAG;
			m->ext_hdrs++;
			if (fh->frag_off & bpf_htons(SLUICE_IP6_FRAG_OFFSET)) {
				m->flags |= SLUICE_PKT_FRAG_LATER;
				return;
			}
			nexthdr = fh->nexthdr;
			off += sizeof(*fh);
			continue;
		}
		eh = sluice_parse_hdr(data, data_end, off, sizeof(*eh));
		if (!eh || off + sizeof(*eh) > end) {
			m->flags |= SLUICE_PKT_TRUNC;
			return;
		}
		/* AH counts its length in 4-byte units less 2, the others in 8 less 1. */
		if (nexthdr == IPPROTO_AH)
			len = ((__u32)eh->hdrlen + 2) * 4;
		else
			len = ((__u32)eh->hdrlen + 1) * 8;
		m->ext_hdrs++;
		nexthdr = eh->nexthdr;
		off += len;
		if (off > end) {
			m->flags |= SLUICE_PKT_TRUNC;
			return;
		}
	}
	if (nexthdr == IPPROTO_HOPOPTS || nexthdr == IPPROTO_ROUTING ||
	    nexthdr == IPPROTO_DSTOPTS || nexthdr == IPPROTO_FRAGMENT ||
	    nexthdr == IPPROTO_AH) {
		m->flags |= SLUICE_PKT_EXT_LIMIT;
		return;
	}
	sluice_parse_l4(data, data_end, m, nexthdr, off, end);
}

/*
 * Fills every field of meta that parse owns. Returns SLUICE_CONTINUE, or
 * XDP_DROP for a truncated or malformed frame when drop_malformed is set:
 * parse itself never judges a packet otherwise.
 */
static __always_inline int sluice_parse_run(struct xdp_md *ctx, struct sluice_meta *m)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct sluice_vlan_hdr *vh;
	struct ethhdr *eth;
	__u16 proto;
	__u32 off;
	int i;

	/* Clear only parse's fields: path, rule and gen belong to others. */
	m->flags &= ~(SLUICE_PKT_TRUNC | SLUICE_PKT_MALFORMED | SLUICE_PKT_FRAG |
		      SLUICE_PKT_FRAG_LATER | SLUICE_PKT_IPOPT | SLUICE_PKT_EXTHDR |
		      SLUICE_PKT_EXT_LIMIT | SLUICE_PKT_VLAN_LIMIT | SLUICE_PKT_ARP);
	m->l3_off = 0;
	m->l4_off = 0;
	m->l3_proto = 0;
	m->sport = 0;
	m->dport = 0;
	m->vlan_id = 0;
	m->l4_proto = 0;
	m->vlans = 0;
	m->tcp_flags = 0;
	m->ip_ttl = 0;
	m->ext_hdrs = 0;
	m->flags |= SLUICE_PKT_PARSED;

	eth = sluice_parse_hdr(data, data_end, 0, sizeof(*eth));
	if (!eth) {
		m->flags |= SLUICE_PKT_TRUNC;
		goto out;
	}
	proto = bpf_ntohs(eth->h_proto);
	off = sizeof(*eth);

#pragma unroll
	for (i = 0; i < SLUICE_PARSE_MAX_VLANS; i++) {
		if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
			break;
		vh = sluice_parse_hdr(data, data_end, off, sizeof(*vh));
		if (!vh) {
			m->flags |= SLUICE_PKT_TRUNC;
			goto out;
		}
		if (i == 0)
			m->vlan_id = bpf_ntohs(vh->tci) & 0x0fff;
		m->vlans++;
		proto = bpf_ntohs(vh->encap_proto);
		off += sizeof(*vh);
	}
	if (proto == ETH_P_8021Q || proto == ETH_P_8021AD) {
		m->flags |= SLUICE_PKT_VLAN_LIMIT;
		goto out;
	}
	/* Below 0x0600 the field is an 802.3 length, not an ethertype. */
	if (proto < ETH_P_802_3_MIN)
		goto out;
	m->l3_proto = proto;

	switch (proto) {
	case ETH_P_IP:
		sluice_parse_ipv4(data, data_end, m, off);
		break;
	case ETH_P_IPV6:
		sluice_parse_ipv6(data, data_end, m, off);
		break;
	case ETH_P_ARP:
		m->flags |= SLUICE_PKT_ARP;
		m->l3_off = off;
		if (!sluice_parse_hdr(data, data_end, off, SLUICE_PARSE_ARP_HLEN))
			m->flags |= SLUICE_PKT_TRUNC;
		break;
	default:
		break;
	}
out:
	if (drop_malformed && (m->flags & (SLUICE_PKT_TRUNC | SLUICE_PKT_MALFORMED)))
		return XDP_DROP;
	return SLUICE_CONTINUE;
}

#endif /* SLUICE_BPF_PARSE_H */
