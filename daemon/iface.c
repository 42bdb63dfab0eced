// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * From configuration to running pipelines: start (adopt what is pinned, or
 * load and attach), apply a new configuration as one transaction, and keep
 * the ACL rules of the interface in the acl stage's maps.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "ctl.h"
#include "acl.h"
#include "probe.h"
#include "sluiced.h"

int iface__src_from_cfg(const struct cfg_pipeline *p, struct stage_src *src)
{
	for (size_t i = 0; i < p->nr_stages; i++) {
		const struct cfg_stage *cs = &p->stages[i];
		struct stage_src *s = &src[i];

		memset(s, 0, sizeof(*s));
		snprintf(s->name, sizeof(s->name), "%s", cs->name);
		snprintf(s->object, sizeof(s->object), "%s", cs->object);
		if (cs->program)
			snprintf(s->program, sizeof(s->program), "%s", cs->program);
		s->tail_calls = (int)cs->tail_calls;
		for (size_t j = 0; j < cs->nr_params; j++)
			if (stage_src__set_param(s, cs->params[j].name, cs->params[j].value))
				return -E2BIG;
	}
	return (int)p->nr_stages;
}

struct iface *daemon__iface(struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->nr_ifs; i++)
		if (!strcmp(d->ifs[i].pl.ifname, name))
			return &d->ifs[i];
	return NULL;
}

const struct cfg_stage *iface__cfg_stage(const struct iface *ifc, const char *name)
{
	const struct cfg_pipeline *p = ifc->cfg ? ifc->cfg->pipe : NULL;

	for (size_t i = 0; p && i < p->nr_stages; i++)
		if (!strcmp(p->stages[i].name, name))
			return &p->stages[i];
	return NULL;
}

/* The slot of the stage that keeps ACL rules, found by its maps. */
int iface__acl_slot(const struct iface *ifc)
{
	int fd = pipeline__map_fd(&ifc->pl, ACL_MAP_RULES);

	if (fd < 0)
		return -ENOENT;
	close(fd);
	for (int i = 0; i < ifc->pl.nr_stages; i++)
		if (!strcmp(ifc->pl.src[i].object, "acl"))
			return i;
	return 0;
}

static struct acl_rule_spec *cfg_rules(const struct cfg_pipeline *p, size_t *n);

static void rules_free(struct acl_rule_spec *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		acl_rule_spec_free(&r[i]);
	free(r);
}

static int rules_copy(const struct acl_rule_spec *src, size_t n, struct acl_rule_spec **out)
{
	struct acl_rule_spec *r = calloc(n ? n : 1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (acl_rule_spec_copy(&r[i], &src[i])) {
			rules_free(r, i);
			return -ENOMEM;
		}
	}
	*out = r;
	return 0;
}

/*
 * A fingerprint of a rule set: FNV-1a over the rules as text, all of it
 * (a rule has no length limit). Returns 0 when a rule cannot be printed.
 */
static int rules_hash(const struct acl_rule_spec *r, size_t n, uint64_t *hash)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		char *text = acl_rule_text(&r[i]);

		if (!text)
			return -ENOMEM;
		for (const char *p = text; *p; p++) {
			h ^= (uint8_t)*p;
			h *= 0x100000001b3ull;
		}
		h ^= '\n';
		h *= 0x100000001b3ull;
		free(text);
	}
	*hash = h;
	return 0;
}

static void rules_path(const struct daemon *d, const struct iface *ifc, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.rules", d->cfg->state_dir, ifc->pl.ifname);
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* fsync of the folder holding path: makes a rename into it durable. */
static int fsync_parent(const char *path)
{
	char dir[PATH_MAX], *slash;
	int fd, ret = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd))
		ret = -errno;
	close(fd);
	return ret;
}

/*
 * The live rule set, as text, so that rules added or removed with sluicectl
 * survive a restart of the daemon. The first line names the configuration's
 * rules they grew from: when those change, the configuration wins (see
 * docs/config.md, "Rules changed with sluicectl"). Written whole to a
 * temporary file, fsynced, renamed over the old one and the folder fsynced:
 * a crash leaves the old set or the new one, never a mix or a cut rule.
 */
int iface__save_rules(const struct daemon *d, const struct iface *ifc)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8], head[256];
	const struct acl_rule_spec *cfg;
	size_t nr_cfg;
	uint64_t h;
	int fd, ret;

	cfg = cfg_rules(ifc->cfg->pipe, &nr_cfg);
	ret = rules_hash(cfg, nr_cfg, &h);
	if (ret)
		return ret;
	rules_path(d, ifc, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	snprintf(head, sizeof(head), "# sluiced live ACL rules of %s; config rules %016llx\n",
		 ifc->pl.ifname, (unsigned long long)h);
	ret = write_all(fd, head, strlen(head));
	for (size_t i = 0; !ret && i < ifc->nr_rules; i++) {
		char *text = acl_rule_text(&ifc->rules[i]);

		if (!text) {
			ret = -ENOMEM;
			break;
		}
		ret = write_all(fd, text, strlen(text));
		if (!ret)
			ret = write_all(fd, "\n", 1);
		free(text);
	}
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret) {
		unlink(tmp);
		return ret;
	}
	return fsync_parent(path);
}

/* The saved rule set, when it grew from the configuration's current rules. */
static int saved_rules(const struct daemon *d, const struct iface *ifc, struct acl_rule_spec **out,
		       size_t *n)
{
	char path[PATH_MAX], err[256];
	unsigned long long want;
	struct acl_rule_spec *v = NULL;
	size_t nr_cfg, cnt = 0, cap = 0;
	const struct acl_rule_spec *cfg = cfg_rules(ifc->cfg->pipe, &nr_cfg);
	char *line = NULL;
	size_t line_cap = 0;
	ssize_t len;
	uint64_t h;
	int fd, ret = 0;
	FILE *f;

	rules_path(d, ifc, path, sizeof(path));
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	if (rules_hash(cfg, nr_cfg, &h) || getline(&line, &line_cap, f) < 0 ||
	    !strstr(line, "config rules ") ||
	    sscanf(strstr(line, "config rules ") + 13, "%llx", &want) != 1 || want != h) {
		free(line);
		fclose(f);
		return -ESTALE;
	}
	while ((len = getline(&line, &line_cap, f)) >= 0) {
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (!line[0])
			continue;
		if (cnt == SLUICE_ACL_MAX_RULES) {
			log_warn("%s: %s: ignoring the saved rules: more than %d", ifc->pl.ifname, path,
				 SLUICE_ACL_MAX_RULES);
			ret = -E2BIG;
			break;
		}
		if (cnt == cap) {
			struct acl_rule_spec *nv = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof(*v));

			if (!nv) {
				ret = -ENOMEM;
				break;
			}
			v = nv;
		}
		memset(&v[cnt], 0, sizeof(v[cnt]));
		ret = acl_rule_parse(line, &v[cnt], err, sizeof(err));
		if (ret) {
			log_warn("%s: %s: ignoring the saved rules: %s", ifc->pl.ifname, path, err);
			break;
		}
		cnt++;
	}
	free(line);
	fclose(f);
	if (ret) {
		rules_free(v, cnt);
		return ret;
	}
	*out = v;
	*n = cnt;
	return 0;
}

/*
 * Writes a whole rule set into the acl stage's maps. Pipelines without an
 * acl stage have no rule maps and take no rules.
 */
int iface__set_rules(struct iface *ifc, const struct acl_rule_spec *rules, size_t n, char *err,
		     size_t len)
{
	char warn[256];
	struct acl_maps maps;
	struct acl_rule_spec *copy;
	char dir[PATH_MAX];
	int ret;

	snprintf(dir, sizeof(dir), "%s/%s", ifc->pl.dir, SLUICE_PIN_MAPS);
	ret = acl_maps__open_pinned(dir, &maps);
	if (ret == -ENOENT && !n)
		return 0;
	if (ret) {
		snprintf(err, len, "%s: the pipeline has no acl stage to hold rules", ifc->pl.ifname);
		return ret;
	}
	for (size_t i = 0; i < n; i++) {
		ret = acl_rule_check(&rules[i], err, len);
		if (ret) {
			acl_maps__close(&maps);
			return ret;
		}
	}
	ret = rules_copy(rules, n, &copy);
	if (!ret) {
		ret = acl__apply(&maps, rules, n);
		if (ret) {
			snprintf(err, len, "%s: writing %zu ACL rules: %s", ifc->pl.ifname, n,
				 strerror(-ret));
			rules_free(copy, n);
		}
	}
	acl_maps__close(&maps);
	if (ret)
		return ret;
	rules_free(ifc->rules, ifc->nr_rules);
	ifc->rules = copy;
	ifc->nr_rules = n;
	if (iface__vlan_warning(ifc, warn, sizeof(warn)))
		log_warn("%s", warn);
	return 0;
}

const char *iface__vlan_warning(const struct iface *ifc, char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < ifc->nr_rules; i++)
		if (ifc->rules[i].has & ACL_HAS_VLAN)
			break;
	if (i == ifc->nr_rules || acl_iface_rxvlan(ifc->pl.ifname) != 1)
		return NULL;
	snprintf(buf, len, "%s: rx VLAN offload is on, so the NIC strips VLAN tags before XDP "
		 "and rules naming vlan match nothing; turn it off: ethtool -K %s rxvlan off",
		 ifc->pl.ifname, ifc->pl.ifname);
	return buf;
}

static struct acl_rule_spec *cfg_rules(const struct cfg_pipeline *p, size_t *n)
{
	for (size_t i = 0; i < p->nr_stages; i++) {
		if (p->stages[i].nr_rules) {
			*n = p->stages[i].nr_rules;
			return p->stages[i].rules;
		}
	}
	*n = 0;
	return NULL;
}

void iface__free_preflight(struct preflight_pkt *pf, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((void *)pf[i].frame);
	free(pf);
}

/*
 * The pre-flight packets of the named stages (all stages when stages is
 * NULL), built from their `tests:` in the configuration.
 */
int iface__preflight(const struct cfg_pipeline *p, const char *const *stages, size_t nr_stages,
		     struct preflight_pkt **pf, size_t *nr_pf)
{
	struct preflight_pkt *v = NULL;
	size_t n = 0, cap = 0;

	for (size_t i = 0; p && i < p->nr_stages; i++) {
		const struct cfg_stage *cs = &p->stages[i];
		bool want = !stages;

		for (size_t j = 0; stages && j < nr_stages; j++)
			want |= !strcmp(stages[j], cs->name);
		for (size_t t = 0; want && t < cs->nr_tests; t++) {
			uint8_t *buf = malloc(2048);
			int len;

			if (n == cap) {
				struct preflight_pkt *nv = realloc(v, (cap = cap ? 2 * cap : 8) * sizeof(*v));

				if (!nv) {
					free(buf);
					goto nomem;
				}
				v = nv;
			}
			if (!buf)
				goto nomem;
			len = pkt_build(&cs->tests[t].pkt, buf, 2048);
			if (len < 0) {
				free(buf);
				iface__free_preflight(v, n);
				return len;
			}
			v[n].frame = buf;
			v[n].len = (size_t)len;
			v[n].expect = cs->tests[t].expect;
			n++;
		}
	}
	*pf = v;
	*nr_pf = n;
	return 0;
nomem:
	iface__free_preflight(v, n);
	return -ENOMEM;
}

static enum sluice_xdp_mode xdp_mode(enum cfg_xdp_mode m)
{
	return m == CFG_XDP_NATIVE ? SLUICE_XDP_NATIVE : m == CFG_XDP_SKB ? SLUICE_XDP_SKB :
	       SLUICE_XDP_AUTO;
}

/*
 * The carrier a new pipeline of this interface uses: the configuration's,
 * or for auto, XDP metadata where the kernel lets XDP programs reserve it
 * and the per-CPU map elsewhere. Metadata asked for where it is refused is
 * an error at start, with the probe's reason.
 */
static int iface_carrier(const struct cfg_iface *cfg, enum sluice_carrier *out, char *err, size_t len)
{
	char why[256];
	bool meta;

	if (cfg->context == CFG_CONTEXT_PERCPU) {
		if (probe__preempt_rt())
			log_warn("%s: context: percpu on a PREEMPT_RT kernel: a packet preempted by another "
				 "on its CPU may see that packet's context (docs/datapath.md)", cfg->name);
		*out = SLUICE_CARRIER_PERCPU;
		return 0;
	}
	meta = probe__xdp_meta(why, sizeof(why));
	if (!meta && cfg->context == CFG_CONTEXT_AUTO && probe__preempt_rt()) {
		snprintf(err, len, "%s: XDP metadata unavailable (%s) and this is a PREEMPT_RT kernel, "
			 "where the per-CPU carrier is not safe by default; set context: percpu to run "
			 "with it anyway (docs/datapath.md)", cfg->name, why);
		return -ENOTSUP;
	}
	if (cfg->context == CFG_CONTEXT_META && !meta) {
		snprintf(err, len, "%s: context: meta, but this kernel refuses XDP metadata (%s); use "
			 "context: percpu or auto", cfg->name, why);
		return -ENOTSUP;
	}
	*out = meta ? SLUICE_CARRIER_META : SLUICE_CARRIER_PERCPU;
	if (cfg->context == CFG_CONTEXT_AUTO && !meta)
		log_notice("%s: XDP metadata unavailable (%s): the per-packet context rides in a per-CPU map",
			   cfg->name, why);
	return 0;
}

/* A fresh pipeline object for the interface, as the configuration sets it up. */
static int iface_pipeline_init(struct daemon *d, struct iface *ifc, const struct cfg_iface *cfg,
			       char *err, size_t len)
{
	enum sluice_carrier carrier;
	int ret;

	ret = iface_carrier(cfg, &carrier, err, len);
	if (ret)
		return ret;
	ret = pipeline__init(&ifc->pl, d->cfg->pin_root, cfg->name);
	if (ret) {
		snprintf(err, len, "%s: %s", cfg->name, strerror(-ret));
		return ret;
	}
	/*
	 * SLUICE_TEST_ENTRY_NO_META is a test knob: the entry acts as on a
	 * driver without metadata support, every packet falling back to the
	 * per-CPU carrier.
	 */
	pipeline__set_carrier(&ifc->pl, carrier,
			      (probe__load_bytes() ? SLUICE_ENTRY_F_SAMPLER : 0) |
			      (getenv("SLUICE_TEST_ENTRY_NO_META") ? SLUICE_ENTRY_F_NO_META : 0));
	ifc->pl.mode = xdp_mode(cfg->mode);
	ifc->pl.how = cfg->attach == CFG_ATTACH_LIBXDP ? SLUICE_ATTACH_LIBXDP : SLUICE_ATTACH_LINK;
	ret = pipeline__share_maps(&ifc->pl, d->cfg->pin_root, cfg->shared_maps, cfg->nr_shared_maps);
	if (ret)
		snprintf(err, len, "%s: shared_maps: %s", cfg->name, strerror(-ret));
	return ret;
}

/* Whether the pinned pipeline runs exactly what the configuration says. */
static bool matches(const struct pipeline *pl, const struct stage_src *src, int n, int verdict)
{
	uint64_t h;

	if (pl->nr_stages != n || pl->default_verdict != verdict)
		return false;
	for (int i = 0; i < n; i++) {
		if (strcmp(pl->src[i].name, src[i].name) || stage_src__hash(&src[i], &h, NULL, 0) ||
		    h != pl->live[i].hash)
			return false;
	}
	return true;
}

static int start_rules(struct daemon *d, struct iface *ifc, char *err, size_t len);

/*
 * Pins of another layout (an older sluice): build the new pipeline beside
 * them with every state map that kept its layout, put the rules in, and
 * switch the interface to it in one step. What runs is never detached, and
 * a failure before the switch leaves it running as it was.
 */
static int iface_upgrade(struct daemon *d, struct iface *ifc, const struct stage_src *src, int n,
			 char *err, size_t len)
{
	const struct cfg_iface *cfg = ifc->cfg;
	struct pipeline_err perr = {};
	uint64_t t0 = ctl__now_ms();
	char reset[1024];
	int ret;

	log_notice("%s: pinned by a sluice of another layout: upgrading in place to layout %d",
		   cfg->name, SLUICE_ABI_VERSION);
	ret = pipeline__upgrade_prepare(&ifc->pl, src, n, cfg->pipe->default_verdict, reset,
					sizeof(reset), &perr);
	if (!ret)
		ret = start_rules(d, ifc, err, len);
	else
		snprintf(err, len, "%s: building the new layout beside the running pipeline: %s",
			 cfg->name, perr.msg);
	if (!ret) {
		ret = pipeline__upgrade_switch(&ifc->pl, &perr);
		if (ret)
			snprintf(err, len, "%s: switching to the new layout: %s (the old pipeline still "
				 "runs)", cfg->name, perr.msg);
	}
	if (!ret)
		log_notice("%s: upgraded without a detach (link %u) in %llu ms; kept every state map but: "
			   "%s", cfg->name, ifc->pl.link_id, (unsigned long long)(ctl__now_ms() - t0),
			   reset[0] ? reset : "none");
	pipeline_err__clear(&perr);
	return ret;
}

int iface__start(struct daemon *d, struct iface *ifc, const struct cfg_iface *cfg, char *err, size_t len)
{
	const struct cfg_pipeline *p = cfg->pipe;
	struct stage_src src[SLUICE_MAX_STAGES];
	struct pipeline_err perr = {};
	uint64_t t0 = ctl__now_ms();
	int n, ret;

	ifc->cfg = cfg;
	ret = iface_pipeline_init(d, ifc, cfg, err, len);
	if (ret)
		return ret;
	n = iface__src_from_cfg(p, src);
	if (n < 0) {
		snprintf(err, len, "%s: too many parameters", cfg->name);
		return n;
	}

	/* A daemon killed in the middle of an upgrade: the new layout runs, finish moving it. */
	if (pipeline__upgrade_pending(&ifc->pl)) {
		ret = pipeline__upgrade_resume(&ifc->pl, &perr);
		if (ret) {
			snprintf(err, len, "%s: finishing an interrupted upgrade: %s", cfg->name, perr.msg);
			goto out;
		}
		log_notice("%s: finished an upgrade a previous run had switched to", cfg->name);
	}
	ret = pipeline__adopt(&ifc->pl, &perr);
	if (ret == -EPROTONOSUPPORT) {
		ret = iface_upgrade(d, ifc, src, n, err, len);
		goto out;
	}
	if (ret == 0 && pipeline__attached(&ifc->pl)) {
		/* Sources are not pinned: the configuration is their record. */
		if (matches(&ifc->pl, src, n, p->default_verdict)) {
			for (int i = 0; i < n; i++)
				ifc->pl.src[i] = src[i];
			log_notice("%s: adopted pipeline '%s' (generation %u, link %u) in %llu ms",
				   cfg->name, p->name, ifc->pl.gen, ifc->pl.link_id,
				   (unsigned long long)(ctl__now_ms() - t0));
		} else {
			struct preflight_pkt *pf = NULL;
			size_t nr_pf = 0;

			ret = iface__preflight(p, NULL, 0, &pf, &nr_pf);
			if (!ret) {
				ifc->pl.default_verdict = p->default_verdict;
				ret = pipeline__commit(&ifc->pl, src, n, pf, nr_pf, &perr);
			}
			iface__free_preflight(pf, nr_pf);
			if (ret) {
				snprintf(err, len, "%s: the pinned pipeline differs from the configuration and "
					 "applying it failed: %s", cfg->name, perr.msg);
				goto out;
			}
			log_notice("%s: adopted pipeline and applied the configuration as generation %u",
				   cfg->name, ifc->pl.gen);
		}
	} else {
		if (ret == 0) {
			/* Pins of a pipeline that never got attached: a half-built start. */
			pipeline__destroy(&ifc->pl);
			pipeline__close(&ifc->pl);
			ret = iface_pipeline_init(d, ifc, cfg, err, len);
			if (ret)
				goto out;
		} else if (ret != -ENOENT) {
			snprintf(err, len, "%s: cannot adopt what is pinned: %s", cfg->name, perr.msg);
			goto out;
		}
		ret = pipeline__load(&ifc->pl, src, n, p->default_verdict, &perr);
		if (ret) {
			snprintf(err, len, "%s: %s", cfg->name, perr.msg);
			if (perr.verifier_log) {
				/* One log line per verifier line: log lines never hold a newline. */
				char *save, *ln;

				log_err("%s: verifier log:", cfg->name);
				for (ln = strtok_r(perr.verifier_log, "\n", &save); ln;
				     ln = strtok_r(NULL, "\n", &save))
					log_err("%s:   %s", cfg->name, ln);
			}
			goto out;
		}
		/* Rules go in before the first packet, like every stage. */
		ret = start_rules(d, ifc, err, len);
		if (ret) {
			pipeline__destroy(&ifc->pl);
			goto out;
		}
		ret = pipeline__attach(&ifc->pl, ifc->pl.mode, ifc->pl.how, &perr);
		if (ret) {
			snprintf(err, len, "%s: %s", cfg->name, perr.msg);
			pipeline__destroy(&ifc->pl);
			goto out;
		}
		log_notice("%s: pipeline '%s' attached (%s, link %u) in %llu ms", cfg->name, p->name,
			   ifc->pl.native ? "native" : "generic", ifc->pl.link_id,
			   (unsigned long long)(ctl__now_ms() - t0));
		goto out;
	}
	ret = start_rules(d, ifc, err, len);
out:
	pipeline_err__clear(&perr);
	return ret;
}

/* The rules an interface starts with: CLI edits saved by the last run, or the config's. */
static int start_rules(struct daemon *d, struct iface *ifc, char *err, size_t len)
{
	struct acl_rule_spec *rules;
	size_t nr_rules;
	int ret;

	err[0] = '\0';
	if (!saved_rules(d, ifc, &rules, &nr_rules)) {
		/* Edits made with sluicectl before the restart. */
		ret = iface__set_rules(ifc, rules, nr_rules, err, len);
		rules_free(rules, nr_rules);
		if (!ret && nr_rules)
			log_info("%s: restored %zu live ACL rule(s) saved by the previous run",
				 ifc->pl.ifname, nr_rules);
	} else {
		rules = cfg_rules(ifc->cfg->pipe, &nr_rules);
		ret = iface__set_rules(ifc, rules, nr_rules, err, len);
		if (!ret)
			iface__save_rules(d, ifc);
	}
	return ret;
}

/* Whether two rule sets print the same, rule by rule. */
static bool rules_same(const struct acl_rule_spec *a, size_t na, const struct acl_rule_spec *b,
		       size_t nb)
{
	uint64_t ha, hb;

	if (na != nb)
		return false;
	return !rules_hash(a, na, &ha) && !rules_hash(b, nb, &hb) && ha == hb;
}

/*
 * Brings a running interface to a new configuration without switching
 * ifc->cfg: a transaction when the code changes, then the rules. What it
 * changed is recorded in u, so iface__undo() can put it back when this or
 * another interface of the same reload fails. Rules follow the documented
 * policy: when the configuration's rules for the interface are unchanged,
 * the live set (with its sluicectl edits) stays; when they changed, the
 * configuration's replace it.
 */
int iface__apply(struct daemon *d, struct iface *ifc, const struct cfg_iface *cfg,
		 struct iface_undo *u, bool *changed, char *err, size_t len)
{
	const struct cfg_pipeline *p = cfg->pipe;
	struct stage_src src[SLUICE_MAX_STAGES];
	struct pipeline_err perr = {};
	struct preflight_pkt *pf = NULL;
	const struct acl_rule_spec *rules, *old_cfg_rules;
	size_t nr_pf = 0, nr_rules, nr_old_cfg;
	int n, ret;

	memset(u, 0, sizeof(*u));
	*changed = false;
	n = iface__src_from_cfg(p, src);
	if (n < 0) {
		snprintf(err, len, "%s: too many parameters", cfg->name);
		return n;
	}
	rules = cfg_rules(p, &nr_rules);
	old_cfg_rules = cfg_rules(ifc->cfg->pipe, &nr_old_cfg);
	if (rules_same(rules, nr_rules, old_cfg_rules, nr_old_cfg)) {
		rules = ifc->rules;
		nr_rules = ifc->nr_rules;
	}
	/* Every rule is checked before anything changes. */
	for (size_t i = 0; i < nr_rules; i++) {
		ret = acl_rule_check(&rules[i], err, len);
		if (ret)
			return ret;
	}
	if (!matches(&ifc->pl, src, n, p->default_verdict)) {
		ret = iface__preflight(p, NULL, 0, &pf, &nr_pf);
		if (ret) {
			snprintf(err, len, "%s: building pre-flight packets: %s", cfg->name, strerror(-ret));
			return ret;
		}
		memcpy(u->src, ifc->pl.src, sizeof(u->src));
		u->nr_stages = ifc->pl.nr_stages;
		u->default_verdict = ifc->pl.default_verdict;
		ifc->pl.default_verdict = p->default_verdict;
		ret = pipeline__commit(&ifc->pl, src, n, pf, nr_pf, &perr);
		iface__free_preflight(pf, nr_pf);
		if (ret) {
			/* Nothing is live: the verdict the entry was built with stays. */
			ifc->pl.default_verdict = u->default_verdict;
			snprintf(err, len, "%s: %s", cfg->name, perr.msg);
			pipeline_err__clear(&perr);
			return ret;
		}
		u->committed = true;
		*changed = true;
	}
	if (rules != ifc->rules) {
		ret = rules_copy(ifc->rules, ifc->nr_rules, &u->rules);
		if (ret) {
			snprintf(err, len, "%s: out of memory", cfg->name);
			goto undo;
		}
		u->nr_rules = ifc->nr_rules;
		u->rules_set = true;
	}
	/* Always written: a new generation may bring a fresh acl stage. */
	ret = iface__set_rules(ifc, rules, nr_rules, err, len);
	if (ret)
		goto undo;
	return 0;
undo:
	iface__undo(ifc, u);
	return ret;
}

/* Puts back what iface__apply() changed; logs what it could not. */
void iface__undo(struct iface *ifc, struct iface_undo *u)
{
	struct pipeline_err perr = {};
	char err[512];

	if (u->rules_set) {
		if (iface__set_rules(ifc, u->rules, u->nr_rules, err, sizeof(err)))
			log_err("%s: could not restore the previous ACL rules: %s", ifc->pl.ifname, err);
	}
	if (u->committed) {
		int verdict = ifc->pl.default_verdict;

		ifc->pl.default_verdict = u->default_verdict;
		if (pipeline__commit(&ifc->pl, u->src, u->nr_stages, NULL, 0, &perr)) {
			ifc->pl.default_verdict = verdict;
			log_err("%s: could not restore the previous pipeline: %s", ifc->pl.ifname, perr.msg);
		}
		pipeline_err__clear(&perr);
	}
	iface__undo_free(u);
}

void iface__undo_free(struct iface_undo *u)
{
	rules_free(u->rules, u->nr_rules);
	memset(u, 0, sizeof(*u));
}

void iface__free(struct iface *ifc)
{
	rules_free(ifc->rules, ifc->nr_rules);
	ifc->rules = NULL;
	ifc->nr_rules = 0;
	pipeline__close(&ifc->pl);
}
