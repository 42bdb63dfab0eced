// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer target: the pcap reader of pre-flight captures
 * (daemon/pcap_read.c over libpcap), on any bytes as a capture file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "pcap_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame *frames = NULL;
	size_t n = 0, total = 0;
	char err[256];
	FILE *f;

	if (!size)
		return 0;
	f = fmemopen((void *)data, size, "rb");
	if (!f)
		return 0;
	if (pcap__read_stream(f, "fuzz.pcap", 4096, &frames, &n, err, sizeof(err)))
		return 0;
	/* Every frame is whole and at least an Ethernet header. */
	for (size_t i = 0; i < n; i++) {
		if (frames[i].len < 14)
			abort();
		total += ((volatile uint8_t *)frames[i].data)[frames[i].len - 1];
	}
	(void)total;
	frames__free(frames, n);
	return 0;
}
