/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the generator writes into each frame, shared by the BPF live-frames
 * engine and the DPDK engine so both put out byte-identical traffic.
 *
 * User space builds one frame per flow with pkt_build() (seq 0) and keeps
 * the bytes that differ between flows in a struct gen_flow. Stamping a frame
 * then writes those bytes plus seq, and patches the payload checksum (and,
 * for TCP, the TCP checksum) incrementally instead of hashing the body again.
 * Every stamped field is written whole, so a frame buffer may hold any
 * earlier packet of the same layout: XDP live frames recycle pages without
 * re-initialising them.
 */
#ifndef SLUICE_GEN_STAMP_H
#define SLUICE_GEN_STAMP_H

#include <linux/types.h>

#define GEN_MAX_FLOWS		65536
/* The multiplier of the seq-high word in lib/pkt.c's payload checksum. */
#define GEN_PAYLOAD_CSUM_MUL	0x9e3779b1u

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define gen_be32(x)	__builtin_bswap32(x)
#define gen_be64(x)	__builtin_bswap64(x)
#else
#define gen_be32(x)	(x)
#define gen_be64(x)	(x)
#endif

/* Where the fields are, fixed for one run (IPv4, 0..2 VLAN tags). */
struct gen_layout {
	__u16 l3_off;
	__u16 l4_off;
	__u16 pl_off;		/* struct sluice_payload */
	__u16 st_off;		/* struct sluice_stamp (--stamp), 0 = none */
	__u8 proto;		/* IPPROTO_UDP or IPPROTO_TCP */
	__u8 pad[3];
};

/* Per-flow bytes; addresses, ports and checksums in network order. */
struct gen_flow {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u16 ip_check;
	__u16 l4_check;		/* TCP checksum of the flow's seq-0 frame */
	__u32 flow;		/* payload flow id, network order */
	__u32 csum0;		/* payload csum at seq 0, host order */
};

static __always_inline __u32 gen_payload_csum(__u32 csum0, __u64 seq)
{
	return csum0 ^ (__u32)seq ^ (__u32)(seq >> 32) * GEN_PAYLOAD_CSUM_MUL;
}

static __always_inline __u32 gen_csum_words(const __u16 *w, int n)
{
	__u32 sum = 0;
	int i;

	for (i = 0; i < n; i++)
		sum += w[i];
	return sum;
}

static __always_inline __u16 gen_csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/*
 * Writes flow fl, sequence number seq and, when the layout has a stamp, the
 * transmit time tx_ns into frame. The caller has checked that
 * lay->pl_off + sizeof(struct sluice_payload) bytes, and the stamp's 16
 * after lay->st_off, are there.
 */
static __always_inline void gen_stamp(__u8 *frame, const struct gen_layout *lay,
				      const struct gen_flow *fl, __u64 seq, __u64 tx_ns)
{
	__u8 *ip = frame + lay->l3_off, *l4 = frame + lay->l4_off;
	__u8 *pl = frame + lay->pl_off;
	__u32 csum = gen_be32(gen_payload_csum(fl->csum0, seq));
	__u64 seq_be = gen_be64(seq);
	__u64 ts_be = gen_be64(tx_ns);

	__builtin_memcpy(ip + 10, &fl->ip_check, 2);
	__builtin_memcpy(ip + 12, &fl->saddr, 4);
	__builtin_memcpy(ip + 16, &fl->daddr, 4);
	__builtin_memcpy(l4, &fl->sport, 2);
	__builtin_memcpy(l4 + 2, &fl->dport, 2);
	__builtin_memcpy(pl + 4, &fl->flow, 4);
	__builtin_memcpy(pl + 8, &seq_be, 8);
	__builtin_memcpy(pl + 16, &csum, 4);
	/* The payload checksum ends before the stamp: only TCP's sees it. */
	if (lay->st_off)
		__builtin_memcpy(frame + lay->st_off + 8, &ts_be, 8);

	if (lay->proto == 6 /* IPPROTO_TCP */) {
		/*
		 * RFC 1624: the seq-0 frame had seq words 0, stamp words 0 and
		 * csum words csum0, so add the new words and the complement of
		 * the old. A ones' complement sum of raw 16-bit loads is the
		 * same in either byte order.
		 */
		__u32 csum0 = gen_be32(fl->csum0);
		__u16 nw[6], ow[2], tw[4];
		__u32 sum;
		__u16 check;

		__builtin_memcpy(nw, &seq_be, 8);
		__builtin_memcpy(nw + 4, &csum, 4);
		__builtin_memcpy(ow, &csum0, 4);
		__builtin_memcpy(tw, &ts_be, 8);
		sum = (__u16)~fl->l4_check;
		sum += gen_csum_words(nw, 6);
		if (lay->st_off)
			sum += gen_csum_words(tw, 4);
		sum += (__u16)~ow[0];
		sum += (__u16)~ow[1];
		check = (__u16)~gen_csum_fold(sum);
		__builtin_memcpy(l4 + 16, &check, 2);
	}
}

#endif
