// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define PCAP_DONT_INCLUDE_PCAP_BPF_H
#include <pcap/pcap.h>
#include <pcap/dlt.h>
#include "pcap_read.h"

void frames__free(struct frame *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(f[i].data);
	free(f);
}

int pcap__read_frames(const char *path, size_t max, struct frame **frames, size_t *n, char *err,
		      size_t len)
{
	char ebuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	struct frame *v = NULL;
	const u_char *data;
	size_t cnt = 0;
	pcap_t *p;

	p = pcap_open_offline(path, ebuf);
	if (!p) {
		snprintf(err, len, "pcap %s: %s", path, ebuf);
		return -EINVAL;
	}
	if (pcap_datalink(p) != DLT_EN10MB) {
		pcap_close(p);
		snprintf(err, len, "pcap %s: not an Ethernet capture", path);
		return -EINVAL;
	}
	while (cnt < max && pcap_next_ex(p, &h, &data) == 1) {
		struct frame *nv;

		/* BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header. */
		if (h->caplen < 14)
			continue;
		nv = realloc(v, (cnt + 1) * sizeof(*v));
		if (!nv)
			goto nomem;
		v = nv;
		v[cnt].data = malloc(h->caplen);
		if (!v[cnt].data)
			goto nomem;
		memcpy(v[cnt].data, data, h->caplen);
		v[cnt].len = h->caplen;
		cnt++;
	}
	pcap_close(p);
	*frames = v;
	*n = cnt;
	return 0;
nomem:
	pcap_close(p);
	frames__free(v, cnt);
	snprintf(err, len, "pcap %s: out of memory", path);
	return -ENOMEM;
}
