// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define PCAP_DONT_INCLUDE_PCAP_BPF_H
#include <pcap/pcap.h>
#include <pcap/dlt.h>
#include "pcap_read.h"
#include "trust.h"

void frames__free(struct frame *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(f[i].data);
	free(f);
}

int pcap__read_frames(const char *path, const struct trust_peer *peer, size_t max,
		      struct frame **frames, size_t *n, char *err, size_t len)
{
	FILE *f;
	int fd;

	/* Never "-" (the daemon's stdin), a FIFO, a symlink or a file the client cannot read. */
	fd = trust__open(path, TRUST_PCAP, peer, err, len);
	if (fd < 0)
		return fd;
	f = fdopen(fd, "rb");
	if (!f) {
		close(fd);
		snprintf(err, len, "pcap %s: out of memory", path);
		return -ENOMEM;
	}
	return pcap__read_stream(f, path, max, frames, n, err, len);
}

int pcap__read_stream(FILE *f, const char *path, size_t max, struct frame **frames, size_t *n,
		      char *err, size_t len)
{
	char ebuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	struct frame *v = NULL;
	const u_char *data;
	size_t cnt = 0, cap = 0;
	pcap_t *p;

	p = pcap_fopen_offline(f, ebuf);
	if (!p) {
		fclose(f);
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
		if (cnt == cap) {
			nv = realloc(v, (cap = cap ? 2 * cap : 64) * sizeof(*v));
			if (!nv)
				goto nomem;
			v = nv;
		}
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
