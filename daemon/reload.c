// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Reload: parse the new file, bring each interface to it transactionally,
 * and when anything fails put every interface already changed back and keep
 * the old configuration, as relayd does. The old configuration is freed only
 * once nothing points into it any more.
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

#define RELOAD_MAX_IFACES	64

static int collect_errors(const char *path, struct sluice_config **cfg, char *err, size_t len)
{
	struct config_errors errs = {};
	size_t off = 0;
	int ret = config__load(path, cfg, &errs);

	/* What a start would refuse on this host, a reload refuses too. */
	if (!ret && config__check_env(*cfg, &errs, NULL)) {
		config__free(*cfg);
		*cfg = NULL;
		ret = -EINVAL;
	}

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
	const struct cfg_iface *next[RELOAD_MAX_IFACES];
	struct iface_undo *undo = NULL;
	bool ch[RELOAD_MAX_IFACES] = {};
	size_t i, done = 0;
	bool trust_set = false;
	int ret;

	ret = collect_errors(d->config_path, &ncfg, err, len);
	if (ret)
		return ret;
	if (strcmp(ncfg->pin_root, old->pin_root) || strcmp(ncfg->control.socket, old->control.socket) ||
	    strcmp(ncfg->state_dir, old->state_dir)) {
		snprintf(err, len, "pin_root, state_dir and control.socket cannot change on reload: "
			 "restart sluiced");
		ret = -EINVAL;
		goto out;
	}
	if (ncfg->nr_ifaces > RELOAD_MAX_IFACES || d->nr_ifs > RELOAD_MAX_IFACES) {
		snprintf(err, len, "reload handles at most %d interfaces", RELOAD_MAX_IFACES);
		ret = -E2BIG;
		goto out;
	}
	for (i = 0; i < ncfg->nr_ifaces; i++) {
		if (!daemon__iface(d, ncfg->ifaces[i].name)) {
			snprintf(err, len, "%s: adding an interface needs a restart (it would attach XDP)",
				 ncfg->ifaces[i].name);
			ret = -EINVAL;
			goto out;
		}
	}
	/*
	 * An interface the file no longer names keeps running: a reload never
	 * detaches. Its pipeline would be described by a configuration that
	 * is gone, so the reload is refused instead.
	 */
	for (i = 0; i < d->nr_ifs; i++) {
		size_t j;

		for (j = 0; j < ncfg->nr_ifaces; j++)
			if (!strcmp(ncfg->ifaces[j].name, d->ifs[i].pl.ifname))
				break;
		if (j == ncfg->nr_ifaces) {
			snprintf(err, len, "%s: the file no longer names this interface; a reload never "
				 "detaches: `sluicectl down %s` first, or restart sluiced",
				 d->ifs[i].pl.ifname, d->ifs[i].pl.ifname);
			ret = -EINVAL;
			goto out;
		}
		next[i] = &ncfg->ifaces[j];
	}
	/* The new file's objects load under the new file's trust policy. */
	ret = daemon__set_trust(ncfg);
	if (ret) {
		snprintf(err, len, "out of memory");
		goto out;
	}
	trust_set = true;
	undo = calloc(d->nr_ifs ? d->nr_ifs : 1, sizeof(*undo));
	if (!undo) {
		snprintf(err, len, "out of memory");
		ret = -ENOMEM;
		goto out;
	}

	/*
	 * All or nothing: each interface is brought to the new file in turn;
	 * when one fails, what it and those before it changed is put back, and
	 * every interface keeps describing itself with the old configuration.
	 */
	pthread_mutex_lock(&d->lock);
	for (i = 0; i < d->nr_ifs; i++) {
		ret = iface__apply(d, &d->ifs[i], next[i], &undo[i], &ch[i], err, len);
		if (ret)
			break;
		done++;
	}
	if (ret) {
		while (done--)
			iface__undo(&d->ifs[done], &undo[done]);
		pthread_mutex_unlock(&d->lock);
		goto out;
	}
	for (i = 0; i < d->nr_ifs; i++) {
		d->ifs[i].cfg = next[i];
		iface__undo_free(&undo[i]);
		if (ch[i] && changed)
			json_object_array_add(changed, json_object_new_string(d->ifs[i].pl.ifname));
	}
	d->cfg = ncfg;
	ncfg = NULL;
	pthread_mutex_unlock(&d->lock);
	for (i = 0; i < d->nr_ifs; i++)
		if (iface__save_rules(d, &d->ifs[i]))
			log_warn("%s: could not save the live rules in %s", d->ifs[i].pl.ifname,
				 d->cfg->state_dir);
	config__free(old);
	log_notice("configuration reloaded from %s", d->config_path);
out:
	if (ret && trust_set && daemon__set_trust(old))
		log_err("could not restore the trust policy of the running configuration");
	free(undo);
	config__free(ncfg);
	return ret;
}

int daemon__set_trust(const struct sluice_config *cfg)
{
	struct trust_policy pol;
	int ret = config__trust_policy(cfg, &pol);

	if (!ret)
		ret = trust__set_policy(&pol);
	config__trust_policy_free(&pol);
	return ret;
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
