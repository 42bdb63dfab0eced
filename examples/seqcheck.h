/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Map layouts of the seqcheck sink stage (seqcheck.bpf.c), shared with the
 * user space that reads them (bench/swapload.c). The maps are pinned by the
 * pipeline under <pin root>/<iface>/maps/<name> like any stage state.
 */
#ifndef SLUICE_SEQCHECK_H
#define SLUICE_SEQCHECK_H

#include <linux/types.h>

#define SEQCHECK_MAP_STATS	"seqcheck_stats"
#define SEQCHECK_MAP_FLOWS	"seqcheck_flows"
#define SEQCHECK_MAP_SEEN	"seqcheck_seen"

/*
 * The seen-bitmap is a per-CPU array of 4096-bit chunks: seq s is bit s % 64
 * of word (s / 64) % 64 of chunk s / 4096. 2^15 chunks = 128M sequence
 * numbers, 16 MiB per CPU. Build with -DSEQCHECK_SEEN_CHUNKS=N for another
 * bound; the map is shared by name, so every version in one pipeline must
 * agree.
 */
#define SEQCHECK_CHUNK_WORDS	64
#define SEQCHECK_CHUNK_BITS	(SEQCHECK_CHUNK_WORDS * 64)
#ifndef SEQCHECK_SEEN_CHUNKS
#define SEQCHECK_SEEN_CHUNKS	(1u << 15)
#endif

struct seqcheck_chunk {
	__u64 w[SEQCHECK_CHUNK_WORDS];
};

/* Flows with their own counters; flows past this are counted in flow_beyond. */
#define SEQCHECK_MAX_FLOWS	1024

/* Whole-sink counters (per CPU, one entry; user space adds CPUs up). */
struct seqcheck_stats {
	__u64 packets;		/* packets that reached the sink */
	__u64 foreign;		/* no UDP sluice_payload: not generated traffic */
	__u64 mixed;		/* meta carried SLUICE_PKT_MIXED */
	__u64 bad_path;		/* meta.path was not the expected set of slots */
	__u64 dups;		/* seq whose bit this CPU had set already */
	__u64 beyond;		/* seq past the bitmap or the max_seq parameter */
	__u64 flow_beyond;	/* flow id >= SEQCHECK_MAX_FLOWS */
	__u64 last_path;	/* meta.path of the last bad_path packet, for the report */
};

/* Per-flow counters (per CPU). */
struct seqcheck_flow {
	__u64 packets;
	__u64 next_seq;		/* highest seq seen + 1; 0 = none */
	__u64 reorder;		/* seq below the highest seen before, on this CPU */
	__u64 pad;
};

#endif /* SLUICE_SEQCHECK_H */
