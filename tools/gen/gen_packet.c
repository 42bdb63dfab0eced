// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The AF_PACKET engine: a TPACKET_V2 TX ring (PACKET_TX_RING) on a packet
 * socket bound to the interface with protocol 0, so it receives nothing,
 * and PACKET_QDISC_BYPASS, so each frame goes straight to the driver. It
 * needs no BPF and no AF_XDP: any kernel with CONFIG_PACKET can run it.
 *
 * Every ring slot holds the template from the start; sending a frame stamps
 * the per-packet fields into the next slot and hands the slot to the kernel
 * (TP_STATUS_SEND_REQUEST). One send() transmits every requested slot in
 * ring order, so seqs leave in order; the kernel gives a slot back
 * (TP_STATUS_AVAILABLE) when its skb is freed, which on a veth is when the
 * peer takes it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/if_packet.h>
#include "gen.h"

#define GEN_PKT_FRAME_SIZE	2048
#define GEN_PKT_BLOCK_SIZE	(1u << 16)
#define GEN_PKT_FRAMES		2048
/* Slots handed to the kernel between send() calls. */
#define GEN_PKT_BATCH		256
#define GEN_PKT_DRAIN_NS	1000000000ull
/* Where frame data starts in a TX slot: the kernel's TPACKET2 data offset. */
#define GEN_PKT_DATA_OFF	(TPACKET_ALIGN(sizeof(struct tpacket2_hdr)))

struct gen_pkt {
	const struct gen_opts *o;
	const struct gen_traffic *t;
	int fd;
	uint8_t *ring;
	size_t ring_len;
	uint64_t queued;	/* slots handed to the kernel: the next seq */
	uint64_t done;		/* slots it gave back */
	uint64_t bad;		/* slots it refused (TP_STATUS_WRONG_FORMAT) */
};

static struct tpacket2_hdr *slot(struct gen_pkt *p, uint64_t i)
{
	return (struct tpacket2_hdr *)(p->ring + (i % GEN_PKT_FRAMES) * GEN_PKT_FRAME_SIZE);
}

static uint32_t slot_status(struct tpacket2_hdr *h)
{
	return __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
}

static int gen_pkt_open(const struct gen_opts *o, const struct gen_traffic *t, void **priv,
			char *why, size_t len)
{
	struct tpacket_req req = {
		.tp_block_size = GEN_PKT_BLOCK_SIZE,
		.tp_block_nr = GEN_PKT_FRAMES / (GEN_PKT_BLOCK_SIZE / GEN_PKT_FRAME_SIZE),
		.tp_frame_size = GEN_PKT_FRAME_SIZE,
		.tp_frame_nr = GEN_PKT_FRAMES,
	};
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	int one = 1, version = TPACKET_V2;
	struct gen_pkt *p;
	uint32_t i;
	int err;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	*priv = p;
	p->o = o;
	p->t = t;
	p->ring = MAP_FAILED;
	/* Protocol 0: a TX-only socket, no receive hook on the device. */
	p->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (p->fd < 0) {
		err = -errno;
		snprintf(why, len, "packet socket: %s", strerror(-err));
		return err;
	}
	if (setsockopt(p->fd, SOL_PACKET, PACKET_VERSION, &version, sizeof(version))) {
		err = -errno;
		snprintf(why, len, "PACKET_VERSION TPACKET_V2: %s", strerror(-err));
		return err;
	}
	if (setsockopt(p->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one))) {
		err = -errno;
		snprintf(why, len, "PACKET_QDISC_BYPASS: %s", strerror(-err));
		return err;
	}
	if (setsockopt(p->fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req))) {
		err = -errno;
		snprintf(why, len, "PACKET_TX_RING of %u frames: %s", GEN_PKT_FRAMES, strerror(-err));
		return err;
	}
	p->ring_len = (size_t)req.tp_block_size * req.tp_block_nr;
	p->ring = mmap(NULL, p->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED, p->fd, 0);
	if (p->ring == MAP_FAILED) {
		err = -errno;
		snprintf(why, len, "mapping the TX ring: %s", strerror(-err));
		return err;
	}
	sll.sll_ifindex = (int)if_nametoindex(o->ifname);
	if (!sll.sll_ifindex) {
		snprintf(why, len, "no interface %s", o->ifname);
		return -ENODEV;
	}
	if (bind(p->fd, (struct sockaddr *)&sll, sizeof(sll))) {
		err = -errno;
		snprintf(why, len, "binding a packet socket to %s: %s", o->ifname, strerror(-err));
		return err;
	}
	for (i = 0; i < GEN_PKT_FRAMES; i++)
		memcpy((uint8_t *)slot(p, i) + GEN_PKT_DATA_OFF, t->frame, t->len);
	return 0;
}

static void gen_pkt_close(void *priv)
{
	struct gen_pkt *p = priv;

	if (!p)
		return;
	if (p->ring != MAP_FAILED)
		munmap(p->ring, p->ring_len);
	if (p->fd >= 0)
		close(p->fd);
	free(p);
}

/* Slots the kernel gave back, oldest first. */
static void gen_pkt_complete(struct gen_pkt *p)
{
	while (p->done != p->queued) {
		struct tpacket2_hdr *h = slot(p, p->done);
		uint32_t st = slot_status(h);

		if (st & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING))
			break;
		if (st & TP_STATUS_WRONG_FORMAT) {
			p->bad++;
			__atomic_store_n(&h->tp_status, TP_STATUS_AVAILABLE, __ATOMIC_RELEASE);
		}
		p->done++;
	}
}

/* Stamps up to n free slots and hands them to the kernel; returns how many. */
static uint32_t gen_pkt_post(struct gen_pkt *p, uint32_t n)
{
	const struct gen_traffic *t = p->t;
	uint64_t room = GEN_PKT_FRAMES - (p->queued - p->done);
	/* One time for the batch: one send() puts all of it on the wire. */
	uint64_t now = t->layout.st_off ? gen_now_ns() : 0;
	uint32_t i;

	if (n > room)
		n = (uint32_t)room;
	for (i = 0; i < n; i++) {
		uint64_t seq = p->queued + i;
		struct tpacket2_hdr *h = slot(p, seq);

		gen_stamp((uint8_t *)h + GEN_PKT_DATA_OFF, &t->layout,
			  &t->flows[seq % t->nr_flows], seq, now);
		h->tp_len = t->len;
		__atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
	}
	p->queued += n;
	return n;
}

/*
 * One send() transmits every requested slot. ENOBUFS and EAGAIN mean the
 * device took less than offered (a frame it dropped is counted in its
 * tx_dropped): the slots still requested go with the next call.
 */
static int gen_pkt_kick(struct gen_pkt *p)
{
	if (send(p->fd, NULL, 0, MSG_DONTWAIT) >= 0)
		return 0;
	if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR)
		return 0;
	return -errno;
}

static int gen_pkt_run(void *priv, struct gen_stats *st)
{
	struct gen_pkt *p = priv;
	const struct gen_opts *o = p->o;
	uint64_t drop0 = 0, drop1 = 0, left, due, drain_end = 0;
	struct gen_run run;
	uint32_t n;
	int err = 0;

	gen_netdev_tx_dropped(o->ifname, &drop0);
	gen_run_start(&run, o, p->t);
	/* A slot counts as sent when the kernel gives it back. */
	while (!gen_run_tick(&run, p->done)) {
		gen_pkt_complete(p);
		left = gen_run_left(&run, p->queued);
		n = GEN_PKT_BATCH;
		if (o->rate) {
			due = gen_run_due(&run, gen_now_ns(), p->queued);
			if (due <= p->queued && p->done == p->queued) {
				gen_sleep_until(gen_run_due_ns(&run, p->queued));
				continue;
			}
			n = due > p->queued ? (uint32_t)(due - p->queued < n ? due - p->queued : n) : 0;
		}
		if (n > left)
			n = (uint32_t)left;
		if (n)
			n = gen_pkt_post(p, n);
		if (!left && p->done != p->queued) {
			if (!drain_end)
				drain_end = gen_now_ns() + GEN_PKT_DRAIN_NS;
			else if (gen_now_ns() > drain_end)
				break;
		}
		if (n || p->done != p->queued) {
			err = gen_pkt_kick(p);
			if (err) {
				fprintf(stderr, "sluice-gen: AF_PACKET transmit on %s: %s\n",
					o->ifname, strerror(-err));
				break;
			}
		}
	}
	drain_end = gen_now_ns() + GEN_PKT_DRAIN_NS;
	while (!err && p->done != p->queued && gen_now_ns() < drain_end) {
		err = gen_pkt_kick(p);
		if (err)
			fprintf(stderr, "sluice-gen: AF_PACKET transmit on %s: %s\n", o->ifname,
				strerror(-err));
		gen_pkt_complete(p);
	}
	st->seconds = (double)(gen_now_ns() - run.start_ns) / 1e9;
	st->sent = p->done - p->bad;
	if (!gen_netdev_tx_dropped(o->ifname, &drop1))
		st->errors = drop1 - drop0;
	st->errors += p->bad;
	if (!err && p->done != p->queued) {
		fprintf(stderr, "sluice-gen: %llu of %llu queued frames never left the TX ring\n",
			(unsigned long long)(p->queued - p->done), (unsigned long long)p->queued);
		err = -ETIMEDOUT;
	}
	return err;
}

const struct gen_engine gen_engine_packet = {
	.name = "packet",
	.what = "AF_PACKET TX ring",
	.open = gen_pkt_open,
	.run = gen_pkt_run,
	.close = gen_pkt_close,
};
