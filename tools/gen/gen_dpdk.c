// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The DPDK engine: an EAL without hugepages or PCI, one vdev on the
 * interface (net_af_xdp or net_af_packet), one TX queue fed by
 * rte_eth_tx_burst and paced by the TSC. Frames a burst could not place are
 * kept and offered again first, so seq goes out in order with no gap.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_cycles.h>
#include <rte_lcore.h>
#include "probe.h"
#include "gen.h"

#define GEN_DPDK_BURST		64
#define GEN_DPDK_TX_DESC	2048
#define GEN_DPDK_RX_DESC	1024
/*
 * The pool must be sized explicitly: without hugepages the default sizes
 * do not fit in -m 256. It covers the TX ring, the RX ring the vdev
 * fills and bursts in flight.
 */
#define GEN_DPDK_MBUFS		(8192 - 1)
#define GEN_DPDK_CACHE		256

/*
 * The af_xdp vdev loads its XDP program through the same libbpf and libxdp
 * we link: keep their warnings, drop their chatter about ELF sections and
 * the dispatcher fallback that `ip netns exec` (no bpffs) makes normal.
 */
static int libbpf_warnings(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

static int libxdp_warnings(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	return level == LIBXDP_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

static int gen_dpdk_eal_init(const struct gen_opts *o)
{
	char prefix[64], vdev[128];
	char *argv[] = {
		"sluice-gen", "-l", "0", "--no-huge", "-m", "256", "--no-pci",
		"--file-prefix", prefix, "--vdev", vdev, "--log-level", "*:warning",
		"--no-telemetry", NULL,
	};
	int ret;

	/* A unique prefix lets runs in several namespaces coexist. */
	snprintf(prefix, sizeof(prefix), "sluice-gen-%d", (int)getpid());
	if (!strcmp(o->vdev_type, "af_packet"))
		snprintf(vdev, sizeof(vdev), "net_af_packet0,iface=%s", o->ifname);
	else
		snprintf(vdev, sizeof(vdev), "net_af_xdp0,iface=%s", o->ifname);
	libbpf_set_print(libbpf_warnings);
	libxdp_set_print(libxdp_warnings);
	ret = rte_eal_init((int)(sizeof(argv) / sizeof(argv[0])) - 1, argv);
	return ret < 0 ? -rte_errno : 0;
}

static int gen_dpdk_port_init(uint16_t port, struct rte_mempool *pool)
{
	struct rte_eth_conf conf = {};
	int ret;

	ret = rte_eth_dev_configure(port, 1, 1, &conf);
	if (!ret)
		ret = rte_eth_rx_queue_setup(port, 0, GEN_DPDK_RX_DESC,
					     rte_eth_dev_socket_id(port), NULL, pool);
	if (!ret)
		ret = rte_eth_tx_queue_setup(port, 0, GEN_DPDK_TX_DESC,
					     rte_eth_dev_socket_id(port), NULL);
	if (!ret)
		ret = rte_eth_dev_start(port);
	return ret;
}

/* Fills mbufs with the next frames, seq first .. first + n - 1. */
static int gen_dpdk_fill(struct rte_mempool *pool, const struct gen_traffic *t,
			 struct rte_mbuf **m, unsigned int n, uint64_t first)
{
	uint64_t now = t->layout.st_off ? gen_now_ns() : 0;
	unsigned int i;

	if (rte_pktmbuf_alloc_bulk(pool, m, n))
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		uint64_t seq = first + i;
		uint8_t *p = (uint8_t *)rte_pktmbuf_append(m[i], (uint16_t)t->len);

		rte_memcpy(p, t->frame, t->len);
		gen_stamp(p, &t->layout, &t->flows[seq % t->nr_flows], seq, now);
	}
	return 0;
}

static int gen_dpdk_loop(const struct gen_opts *o, const struct gen_traffic *t,
			 uint16_t port, struct rte_mempool *pool, uint64_t *sent_out)
{
	struct rte_mbuf *pkts[GEN_DPDK_BURST];
	unsigned int pending = 0, n, tx;
	uint64_t sent = 0, built = 0, left;
	struct gen_run run;
	int err = 0;

	gen_run_start(&run, o, t);
	while (!gen_run_tick(&run, sent)) {
		left = gen_run_left(&run, built);
		n = GEN_DPDK_BURST - pending;
		if (o->rate) {
			uint64_t due = gen_run_due(&run, gen_now_ns(), built);

			if (due <= built) {
				if (!pending) {
					rte_pause();
					continue;
				}
				n = 0;
			} else if (due - built < n) {
				n = (unsigned int)(due - built);
			}
		}
		if (n > left)
			n = (unsigned int)left;
		if (n) {
			err = gen_dpdk_fill(pool, t, pkts + pending, n, built);
			if (err)
				n = 0;	/* mbufs still in the TX ring: retry later */
			built += n;
			pending += n;
		}
		if (!pending)
			continue;
		tx = rte_eth_tx_burst(port, 0, pkts, (uint16_t)pending);
		sent += tx;
		pending -= tx;
		if (pending && tx)
			memmove(pkts, pkts + tx, pending * sizeof(pkts[0]));
	}
	/* Stopped by a signal or duration: frames never sent are not counted. */
	rte_pktmbuf_free_bulk(pkts, pending);
	*sent_out = sent;
	return 0;
}

struct gen_dpdk {
	const struct gen_opts *o;
	const struct gen_traffic *t;
	struct rte_mempool *pool;
	uint16_t port;
	bool eal, started;
};

static int gen_dpdk_open(const struct gen_opts *o, const struct gen_traffic *t, void **priv,
			 char *why, size_t len)
{
	struct gen_dpdk *d;
	int err;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	*priv = d;
	d->o = o;
	d->t = t;
	/* The af_xdp vdev opens an AF_XDP socket: refused with the feature. */
	if (strcmp(o->vdev_type, "af_packet") && probe__denied("af_xdp")) {
		snprintf(why, len, "AF_XDP socket on %s: %s (SLUICE_DENY_FEATURES names af_xdp)",
			 o->ifname, strerror(EAFNOSUPPORT));
		return -EAFNOSUPPORT;
	}
	err = gen_dpdk_eal_init(o);
	if (err) {
		snprintf(why, len, "EAL init: %s", rte_strerror(-err));
		return err;
	}
	d->eal = true;
	if (!rte_eth_dev_count_avail()) {
		snprintf(why, len, "the %s vdev on %s did not probe", o->vdev_type, o->ifname);
		return -ENODEV;
	}
	d->port = (uint16_t)rte_eth_find_next_owned_by(0, RTE_ETH_DEV_NO_OWNER);
	d->pool = rte_pktmbuf_pool_create("sluice_gen", GEN_DPDK_MBUFS, GEN_DPDK_CACHE, 0,
					  RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	if (!d->pool) {
		snprintf(why, len, "mbuf pool: %s", rte_strerror(rte_errno));
		return -rte_errno;
	}
	err = gen_dpdk_port_init(d->port, d->pool);
	if (err) {
		snprintf(why, len, "port setup on %s: %s", o->ifname, rte_strerror(-err));
		return err;
	}
	d->started = true;
	return 0;
}

static int gen_dpdk_run(void *priv, struct gen_stats *st)
{
	struct gen_dpdk *d = priv;
	struct rte_eth_stats stats = {};
	uint64_t start, sent = 0;
	int err;

	start = gen_now_ns();
	err = gen_dpdk_loop(d->o, d->t, d->port, d->pool, &sent);
	st->seconds = (double)(gen_now_ns() - start) / 1e9;
	st->sent = sent;
	if (!rte_eth_stats_get(d->port, &stats))
		st->errors = stats.oerrors;
	return err;
}

static void gen_dpdk_close(void *priv)
{
	struct gen_dpdk *d = priv;

	if (!d)
		return;
	if (d->started) {
		rte_eth_dev_stop(d->port);
		rte_eth_dev_close(d->port);
	}
	rte_mempool_free(d->pool);
	if (d->eal)
		rte_eal_cleanup();
	free(d);
}

const struct gen_engine gen_engine_dpdk = {
	.name = "dpdk",
	.what = "DPDK vdev",
	.open = gen_dpdk_open,
	.run = gen_dpdk_run,
	.close = gen_dpdk_close,
};
