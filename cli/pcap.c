// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Frames the daemon sent back (hex in JSON) written as a pcap for tshark or tcpdump. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <pcap/pcap.h>
#include <json-c/json.h>
#include "sluicectl.h"

static int unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = strlen(s) / 2;

	if (n > max)
		return -E2BIG;
	for (size_t i = 0; i < n; i++) {
		unsigned int b;

		if (sscanf(s + 2 * i, "%2x", &b) != 1)
			return -EINVAL;
		out[i] = (uint8_t)b;
	}
	return (int)n;
}

int cli_write_pcap(const char *path, struct json_object *frames)
{
	uint8_t buf[65536];
	pcap_dumper_t *dump;
	pcap_t *p;

	p = pcap_open_dead(DLT_EN10MB, sizeof(buf));
	if (!p)
		return -ENOMEM;
	dump = pcap_dump_open(p, path);
	if (!dump) {
		fprintf(stderr, "sluicectl: %s: %s\n", path, pcap_geterr(p));
		pcap_close(p);
		return -EIO;
	}
	for (size_t i = 0; i < jlen(frames); i++) {
		struct json_object *f = json_object_array_get_idx(frames, i);
		struct pcap_pkthdr h = {};
		int len = unhex(jstr(f, "hex"), buf, sizeof(buf));

		if (len < 0)
			continue;
		gettimeofday(&h.ts, NULL);
		h.caplen = h.len = (bpf_u_int32)len;
		pcap_dump((u_char *)dump, &h, buf);
	}
	pcap_dump_close(dump);
	pcap_close(p);
	return 0;
}
