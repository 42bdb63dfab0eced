// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Least privilege: once the pipelines are attached, the capture sockets
 * opened and the metrics port bound, sluiced keeps only what changing a
 * running pipeline needs (docs/security.md says why each):
 *
 *   CAP_BPF        load programs, create and update maps, pin, test-run
 *   CAP_PERFMON    the verifier's full checks for privileged programs
 *                  (pointer arithmetic, bounded loops in stages as written)
 *   CAP_NET_ADMIN  bpf_link_update of the XDP link, netlink XDP replace
 *   CAP_SYS_ADMIN  only with an `attach: libxdp` interface: libxdp finds
 *                  its dispatcher by id (BPF_PROG_GET_FD_BY_ID)
 *
 * Everything else leaves the bounding set too, no_new_privs is set and the
 * root securebits are locked, so neither an exec nor a setuid brings any
 * back. It runs before any thread starts: capabilities are per thread.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <linux/securebits.h>
#include <sys/capability.h>
#include "sluiced.h"

static bool uses_libxdp(const struct sluice_config *cfg)
{
	for (size_t i = 0; i < cfg->nr_ifaces; i++)
		if (cfg->ifaces[i].attach == CFG_ATTACH_LIBXDP)
			return true;
	return false;
}

int caps__keep(const struct sluice_config *cfg, cap_value_t *keep, int max)
{
	int n = 0;

	if (max < 4)
		return -EINVAL;
	keep[n++] = CAP_BPF;
	keep[n++] = CAP_PERFMON;
	keep[n++] = CAP_NET_ADMIN;
	if (uses_libxdp(cfg))
		keep[n++] = CAP_SYS_ADMIN;
	return n;
}

int caps__drop(const struct sluice_config *cfg, char *held, size_t len)
{
	cap_value_t keep[8];
	int n = caps__keep(cfg, keep, 8), ret = 0;
	cap_t c = NULL;
	char *text;

	held[0] = '\0';
	if (n < 0)
		return n;
	/* Not root to begin with (a test run, a sandbox that dropped them): nothing to keep. */
	if (!CAP_IS_SUPPORTED(CAP_SETPCAP) || prctl(PR_CAPBSET_READ, CAP_SETPCAP) != 1)
		goto set;
	for (cap_value_t v = 0; v < (cap_value_t)cap_max_bits(); v++) {
		bool k = false;

		for (int i = 0; i < n; i++)
			k |= keep[i] == v;
		if (!k && CAP_IS_SUPPORTED(v) && prctl(PR_CAPBSET_DROP, v, 0, 0, 0) && errno != EINVAL) {
			ret = -errno;
			snprintf(held, len, "dropping capability %d from the bounding set: %s", (int)v,
				 strerror(errno));
			return ret;
		}
	}
set:
	/* uid 0 must not get a full set back from an exec: lock that door too. */
	if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
		  SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED) && errno != EPERM) {
		ret = -errno;
		snprintf(held, len, "securebits: %s", strerror(errno));
		return ret;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		ret = -errno;
		snprintf(held, len, "no_new_privs: %s", strerror(errno));
		return ret;
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	c = cap_get_proc();
	if (!c)
		return -errno;
	/* The kept ones, where the process had them; nothing inheritable. */
	for (int i = 0; i < n; i++) {
		cap_flag_value_t have = CAP_CLEAR;

		cap_get_flag(c, keep[i], CAP_PERMITTED, &have);
		if (have != CAP_SET)
			keep[i--] = keep[--n];
	}
	cap_clear(c);
	if (n && (cap_set_flag(c, CAP_PERMITTED, n, keep, CAP_SET) ||
		  cap_set_flag(c, CAP_EFFECTIVE, n, keep, CAP_SET))) {
		ret = -errno;
		goto out;
	}
	if (cap_set_proc(c)) {
		ret = -errno;
		snprintf(held, len, "setting capabilities: %s", strerror(errno));
		goto out;
	}
	cap_free(c);
	c = cap_get_proc();
	text = c ? cap_to_text(c, NULL) : NULL;
	snprintf(held, len, "%s", text ? text : "?");
	cap_free(text);
out:
	cap_free(c);
	return ret;
}
