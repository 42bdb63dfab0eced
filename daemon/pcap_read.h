/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Reading frames from a capture file, for pre-flight runs. Its own file so
 * that only it includes libpcap, whose headers would otherwise bring a
 * struct bpf_insn of their own next to the kernel's.
 */
#ifndef SLUICED_PCAP_READ_H
#define SLUICED_PCAP_READ_H

#include <stddef.h>
#include <stdio.h>
#include "trust.h"

struct frame {
	void *data;
	size_t len;
};

/* Reads up to max Ethernet frames; *frames is malloc'd, free with frames__free(). */
int pcap__read_frames(const char *path, const struct trust_peer *peer, size_t max,
		      struct frame **frames, size_t *n, char *err, size_t len);
/* The same from an open stream, which it closes (the fuzz target reads memory). */
int pcap__read_stream(FILE *f, const char *path, size_t max, struct frame **frames, size_t *n,
		      char *err, size_t len);
void frames__free(struct frame *f, size_t n);

#endif
