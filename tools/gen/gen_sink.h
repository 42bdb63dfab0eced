/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The test sink's counters and samples, shared by gen_sink.bpf.c and gen_sink.c. */
#ifndef SLUICE_GEN_SINK_H
#define SLUICE_GEN_SINK_H

#include <linux/types.h>

/* Bytes of a sampled frame handed to user space for pkt_check(); a power of 2. */
#define GEN_SINK_SAMPLE_LEN	2048
/* Longest payload body the sink hashes in BPF. */
#define GEN_SINK_MAX_BODY	1500

/* Per-CPU; user space adds the CPUs up. */
struct gen_sink_stats {
	__u64 packets;		/* frames seen */
	__u64 bytes;
	__u64 foreign;		/* no sluice payload (not ours) */
	__u64 bad_csum;		/* payload checksum did not verify */
	__u64 dups;		/* seq already seen on this CPU */
	__u64 reorder;		/* seq lower than the previous one on this CPU */
	__u64 beyond;		/* seq past the bitmap */
	__u64 next_seq;		/* previous seq + 1 on this CPU */
	__u64 sampled;
};

struct gen_sink_sample {
	__u32 len;		/* frame length */
	__u32 cap;		/* bytes copied */
	__u8 data[GEN_SINK_SAMPLE_LEN];
};

#endif
