// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Reload: parse the new file, bring each interface to it transactionally,
 * and when anything fails put every interface already changed back and keep
 * the old configuration, as relayd does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif
#include "sluiced.h"

static int collect_errors(const char *path, struct sluice_config **cfg, char *err, size_t len)
{
	struct config_errors errs = {};
	size_t off = 0;
	int ret = config__load(path, cfg, &errs);

	err[0] = '\0';
	for (size_t i = 0; i < errs.n && off < len; i++)
		off += snprintf(err + off, len - off, "%s%s", i ? "\n" : "", errs.v[i].msg);
	if (ret && !errs.n)
		snprintf(err, len, "%s: %s", path, strerror(-ret));
	config_errors__free(&errs);
	return ret;
}

static int reload(struct daemon *d, struct json_object *changed, char *err, size_t len)
{
	struct sluice_config *ncfg = NULL, *old = d->cfg;
	const struct cfg_iface *prev[64];
	bool done[64] = {}, ch;
	size_t i;
	int ret;

	ret = collect_errors(d->config_path, &ncfg, err, len);
	if (ret)
		return ret;
	if (strcmp(ncfg->pin_root, old->pin_root) || strcmp(ncfg->control.socket, old->control.socket)) {
		snprintf(err, len, "pin_root and control.socket cannot change on reload: restart sluiced");
		config__free(ncfg);
		return -EINVAL;
	}
	if (ncfg->nr_ifaces > 64 || d->nr_ifs > 64) {
		snprintf(err, len, "reload handles at most 64 interfaces");
		config__free(ncfg);
		return -E2BIG;
	}
	for (i = 0; i < ncfg->nr_ifaces; i++) {
		if (!daemon__iface(d, ncfg->ifaces[i].name)) {
			snprintf(err, len, "%s: adding an interface needs a restart (it would attach XDP)",
				 ncfg->ifaces[i].name);
			config__free(ncfg);
			return -EINVAL;
		}
	}

	pthread_mutex_lock(&d->lock);
	for (i = 0; i < d->nr_ifs; i++)
		prev[i] = d->ifs[i].cfg;
	for (i = 0; i < ncfg->nr_ifaces; i++) {
		struct iface *ifc = daemon__iface(d, ncfg->ifaces[i].name);

		ret = iface__apply(d, ifc, &ncfg->ifaces[i], &ch, err, len);
		if (ret)
			break;
		done[ifc - d->ifs] = true;
		if (ch && changed)
			json_object_array_add(changed, json_object_new_string(ifc->pl.ifname));
	}
	if (ret) {
		char ignored[512];

		/* Put back what changed, from the old configuration. */
		for (size_t j = 0; j < d->nr_ifs; j++)
			if (done[j] && iface__apply(d, &d->ifs[j], prev[j], &ch, ignored, sizeof(ignored)))
				log_err("%s: could not restore the previous pipeline: %s",
					d->ifs[j].pl.ifname, ignored);
		pthread_mutex_unlock(&d->lock);
		config__free(ncfg);
		return ret;
	}
	d->cfg = ncfg;
	pthread_mutex_unlock(&d->lock);
	config__free(old);
	log_notice("configuration reloaded from %s", d->config_path);
	return 0;
}

/*
 * Debian 12's systemd (252) has no Type=notify-reload, but a Type=notify
 * unit already follows RELOADING=1 ... READY=1: `systemctl reload` (whose
 * ExecReload, sluicectl reload, waits for the reply) and a bare SIGHUP both
 * show the unit reloading until the result is in, and STATUS= says which.
 * MONOTONIC_USEC is what systemd 253 and later want beside RELOADING=1.
 */
static void notify_reloading(void)
{
#ifdef HAVE_SYSTEMD
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading the configuration",
		   (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
#endif
}

static void notify_reloaded(int ret, const char *err)
{
#ifdef HAVE_SYSTEMD
	/* STATUS= is one line: the first of the errors. */
	if (ret)
		sd_notifyf(0, "READY=1\nSTATUS=reload failed, the running configuration stays: %.*s",
			   (int)strcspn(err, "\n"), err);
	else
		sd_notify(0, "READY=1\nSTATUS=running; configuration reloaded");
#endif
}

int daemon__reload(struct daemon *d, struct json_object *changed, char *err, size_t len)
{
	int ret;

	notify_reloading();
	ret = reload(d, changed, err, len);
	notify_reloaded(ret, err);
	return ret;
}
