// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <linux/membarrier.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include "pipeline.h"
#include "stage_load.h"

/* One generation: its bank's stages and the entry that starts there. */
struct gen {
	uint32_t gen;
	int progs_fd;
	bool own_progs;			/* a scratch prog_array (pre-flight), else the pipeline's */
	struct stage_inst entry;
	struct stage_inst st[SLUICE_MAX_STAGES];
	bool reused[SLUICE_MAX_STAGES];	/* already in its slot from an earlier generation */
	int n;
};

static const char *const verdict_names[] = { "aborted", "drop", "pass", "tx", "redirect" };

const char *xdp_verdict_name(int v)
{
	return v >= 0 && v < SLUICE_NR_VERDICTS ? verdict_names[v] : "invalid";
}

int xdp_verdict_parse(const char *s)
{
	for (int i = 0; i < SLUICE_NR_VERDICTS; i++)
		if (!strcmp(s, verdict_names[i]))
			return i;
	return -EINVAL;
}

void pipeline_err__clear(struct pipeline_err *e)
{
	free(e->verifier_log);
	e->verifier_log = NULL;
	e->msg[0] = '\0';
}

static void inst_reset(struct stage_inst *s)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

static void inst_close(struct stage_inst *s)
{
	if (s->fd >= 0)
		close(s->fd);
	inst_reset(s);
}

static void gen_init(struct gen *g, uint32_t n)
{
	memset(g, 0, sizeof(*g));
	g->gen = n;
	g->progs_fd = -1;
	g->own_progs = false;
	inst_reset(&g->entry);
	for (int i = 0; i < SLUICE_MAX_STAGES; i++)
		inst_reset(&g->st[i]);
}

static void gen_close(struct gen *g)
{
	if (g->own_progs && g->progs_fd >= 0)
		close(g->progs_fd);
	g->progs_fd = -1;
	inst_close(&g->entry);
	for (int i = 0; i < SLUICE_MAX_STAGES; i++)
		inst_close(&g->st[i]);
}

int pipeline__init(struct pipeline *pl, const char *pin_root, const char *ifname)
{
	memset(pl, 0, sizeof(*pl));
	if (strlen(ifname) >= sizeof(pl->ifname))
		return -ENAMETOOLONG;
	strcpy(pl->ifname, ifname);
	pl->ifindex = (int)if_nametoindex(ifname);
	if (snprintf(pl->dir, sizeof(pl->dir), "%s/%s", pin_root ? pin_root : SLUICE_PIN_ROOT,
		     ifname) >= (int)sizeof(pl->dir))
		return -ENAMETOOLONG;
	pl->progs_fd = -1;
	pl->link_fd = -1;
	pl->default_verdict = XDP_PASS;
	pl->next_ver = 1;
	inst_reset(&pl->entry);
	for (int i = 0; i < SLUICE_MAX_STAGES; i++) {
		inst_reset(&pl->live[i]);
		inst_reset(&pl->prev[i]);
		inst_reset(&pl->idle[i]);
	}
	return 0;
}

void pipeline__close(struct pipeline *pl)
{
	if (pl->progs_fd >= 0)
		close(pl->progs_fd);
	pl->progs_fd = -1;
	if (pl->link_fd >= 0)
		close(pl->link_fd);
	pl->link_fd = -1;
	inst_close(&pl->entry);
	for (int i = 0; i < SLUICE_MAX_STAGES; i++) {
		inst_close(&pl->live[i]);
		inst_close(&pl->prev[i]);
		inst_close(&pl->idle[i]);
	}
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int errf(struct pipeline_err *err, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int errf(struct pipeline_err *err, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return ret;
}

int pipeline__validate(const struct stage_src *src, int n, struct pipeline_err *err)
{
	int calls = 0;

	if (n < 1)
		return errf(err, -EINVAL, "a pipeline needs at least one stage");
	if (n > SLUICE_MAX_STAGES)
		return errf(err, -E2BIG, "%d stages: a pipeline has at most %d slots", n,
			    SLUICE_MAX_STAGES);
	for (int i = 0; i < n; i++) {
		if (!src[i].name[0])
			return errf(err, -EINVAL, "stage %d has no name", i);
		for (int j = 0; j < i; j++)
			if (!strcmp(src[i].name, src[j].name))
				return errf(err, -EINVAL, "stage name '%s' is used twice", src[i].name);
		if (src[i].tail_calls < 0)
			return errf(err, -EINVAL, "stage '%s': negative tail_calls", src[i].name);
		/* One tail call reaches the stage, plus those it makes itself. */
		calls += 1 + src[i].tail_calls;
		if (calls > SLUICE_MAX_TAIL_CALLS)
			return errf(err, -E2BIG, "a packet may take %d tail calls by stage '%s' (%d of %d "
				    "stages); the kernel allows %d (MAX_TAIL_CALL_CNT)", calls,
				    src[i].name, i + 1, n, SLUICE_MAX_TAIL_CALLS);
	}
	return 0;
}

/* ---- pins ---- */

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

static int pin_at(int fd, const char *dir, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	return bpf_obj_pin(fd, path) ? -errno : 0;
}

static void unpin_at(const char *dir, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
}

static int get_at(const char *dir, const char *name)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

static void rm_tree(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (e->d_type == DT_DIR)
			rm_tree(path);
		else
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static void sub_dir(const struct pipeline *pl, const char *fmt, uint32_t n, char *buf, size_t len)
{
	int off = snprintf(buf, len, "%s/", pl->dir);

	snprintf(buf + off, len - off, fmt, n);
}

static void maps_dir(const struct pipeline *pl, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", pl->dir, SLUICE_PIN_MAPS);
}

static void inst_from_fd(struct stage_inst *s, int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	inst_reset(s);
	s->fd = fd;
	if (!bpf_obj_get_info_by_fd(fd, &info, &len)) {
		s->prog_id = info.id;
		for (int i = 0; i < 8; i++)
			snprintf(s->tag + 2 * i, 3, "%02x", info.tag[i]);
	}
}

/* ---- the info map: what runs, for a restarted daemon ---- */

static int info_fd(const struct pipeline *pl, bool create)
{
	int fd = get_at(pl->dir, SLUICE_PIN_INFO);

	if (fd >= 0 || !create)
		return fd;
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, SLUICE_MAP_INFO, 4,
			    sizeof(struct sluice_pipeline_info), 1, NULL);
	if (fd < 0)
		return -errno;
	if (pin_at(fd, pl->dir, SLUICE_PIN_INFO)) {
		close(fd);
		return -errno;
	}
	return fd;
}

static int info_write(const struct pipeline *pl)
{
	struct sluice_pipeline_info info = {
		.magic = SLUICE_INFO_MAGIC,
		.abi = SLUICE_ABI_VERSION,
		.gen = pl->gen,
		.nr_stages = (uint32_t)pl->nr_stages,
		.default_verdict = (uint32_t)pl->default_verdict,
		.next_ver = pl->next_ver,
	};
	__u32 zero = 0;
	int fd, ret;

	for (int i = 0; i < pl->nr_stages; i++) {
		snprintf(info.stages[i].name, sizeof(info.stages[i].name), "%s", pl->src[i].name);
		info.stages[i].hash = pl->live[i].hash;
		info.stages[i].ver = pl->live[i].ver;
		info.stages[i].prog_id = pl->live[i].prog_id;
	}
	fd = info_fd(pl, true);
	if (fd < 0)
		return fd;
	ret = bpf_map_update_elem(fd, &zero, &info, 0) ? -errno : 0;
	close(fd);
	return ret;
}

/* ---- building a generation ---- */

/*
 * A scratch generation (pre-flight) keeps copies of shared maps next to its
 * other copies; a real one uses the pin root's shared folder.
 */
static const char *shared_dir_for(const struct pipeline *pl, const char *mdir)
{
	char live[PATH_MAX];

	maps_dir(pl, live, sizeof(live));
	return strcmp(mdir, live) ? mdir : pl->shared_dir;
}

int pipeline__share_maps(struct pipeline *pl, const char *pin_root, char *const *names, size_t n)
{
	if (n > SLUICE_MAX_SHARED)
		return -E2BIG;
	snprintf(pl->shared_dir, sizeof(pl->shared_dir), "%s/shared",
		 pin_root ? pin_root : SLUICE_PIN_ROOT);
	for (size_t i = 0; i < n; i++) {
		if (strlen(names[i]) >= sizeof(pl->shared[i]))
			return -ENAMETOOLONG;
		strcpy(pl->shared[i], names[i]);
	}
	pl->nr_shared = (int)n;
	return n ? mkdir_p(pl->shared_dir) : 0;
}

static int load_one(struct pipeline *pl, const struct stage_src *src, const char *mdir, int progs_fd,
		    uint32_t slot, uint32_t next, uint32_t gen, uint32_t ver, struct stage_inst *out,
		    struct pipeline_err *err)
{
	struct stage_load_req req = {
		.src = src,
		.progs_fd = progs_fd,
		.maps_dir = mdir,
		.shared_dir = shared_dir_for(pl, mdir),
		.shared = pl->shared,
		.nr_shared = pl->nr_shared,
		.slot = slot,
		.next = next,
		.gen = (uint16_t)gen,
		.ver = ver,
	};
	uint64_t hash = 0;
	int ret;

	ret = stage_src__hash(src, &hash);
	if (ret)
		return errf(err, ret, "stage '%s': %s: %s", src->name, src->object, strerror(-ret));
	free(err->verifier_log);
	err->verifier_log = NULL;
	ret = stage__load(&req, out, err->msg, sizeof(err->msg), &err->verifier_log);
	if (ret)
		return ret;
	out->hash = hash;
	out->next = next;
	return 0;
}

static int load_entry(struct pipeline *pl, const char *mdir, struct gen *g, int default_verdict,
		      struct pipeline_err *err)
{
	struct stage_src src = { .name = "entry", .object = STAGE_ENTRY_OBJECT };
	struct stage_load_req req = {
		.src = &src,
		.progs_fd = g->progs_fd,
		.maps_dir = mdir,
		.shared_dir = shared_dir_for(pl, mdir),
		.shared = pl->shared,
		.nr_shared = pl->nr_shared,
		.slot = sluice_bank_base(g->gen),
		.gen = (uint16_t)g->gen,
		.entry = true,
		.default_verdict = default_verdict,
	};

	return stage__load(&req, &g->entry, err->msg, sizeof(err->msg), &err->verifier_log);
}

/* The prog_array index stage i of an n-stage generation tail-calls. */
static uint32_t next_slot(uint32_t gen, int i, int n)
{
	return i + 1 < n ? sluice_bank_base(gen) + (uint32_t)i + 1 : SLUICE_SLOT_END;
}

struct build_job {
	struct pipeline *pl;
	const struct stage_src *src;
	const char *mdir;
	struct gen *g;
	int n;
	uint32_t ver0;
	int next;			/* next stage index to take */
	pthread_mutex_t lock;
	int ret[SLUICE_MAX_STAGES];
	struct pipeline_err err[SLUICE_MAX_STAGES];
};

static void *build_worker(void *arg)
{
	struct build_job *j = arg;
	int i;

	for (;;) {
		pthread_mutex_lock(&j->lock);
		i = j->next++;
		pthread_mutex_unlock(&j->lock);
		if (i >= j->n)
			return NULL;
		if (j->g->reused[i])
			continue;
		j->ret[i] = load_one(j->pl, &j->src[i], j->mdir, j->g->progs_fd, (uint32_t)i,
				     next_slot(j->g->gen, i, j->n), j->g->gen, j->ver0 + (uint32_t)i,
				     &j->g->st[i], &j->err[i]);
	}
}

/*
 * Verifying is most of a transaction's time and each load is independent, so
 * stages load on every CPU at once. Only where the state maps exist already:
 * two loads must not race to create and pin the same map.
 */
static int build_stages(struct pipeline *pl, const struct stage_src *src, int n, const char *mdir,
			struct gen *g, bool parallel, struct pipeline_err *err)
{
	struct build_job *j = calloc(1, sizeof(*j));
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	pthread_t tid[SLUICE_MAX_STAGES];
	int nthreads = 0, ret = 0;

	if (!j)
		return errf(err, -ENOMEM, "out of memory");
	*j = (struct build_job){ .pl = pl, .src = src, .mdir = mdir, .g = g, .n = n,
				 .ver0 = pl->next_ver };
	pthread_mutex_init(&j->lock, NULL);
	if (parallel && n > 1 && ncpu > 1)
		for (; nthreads < ncpu - 1 && nthreads < n - 1; nthreads++)
			if (pthread_create(&tid[nthreads], NULL, build_worker, j))
				break;
	build_worker(j);
	for (int t = 0; t < nthreads; t++)
		pthread_join(tid[t], NULL);
	for (int i = 0; i < n; i++) {
		if (j->ret[i] && !ret) {
			ret = j->ret[i];
			memcpy(err->msg, j->err[i].msg, sizeof(err->msg));
			free(err->verifier_log);
			err->verifier_log = j->err[i].verifier_log;
			j->err[i].verifier_log = NULL;
		}
		free(j->err[i].verifier_log);
	}
	if (!ret)
		pl->next_ver += (uint32_t)n;	/* positions, loaded or kept: versions stay unique */
	pthread_mutex_destroy(&j->lock);
	free(j);
	return ret;
}

static bool maps_exist(const char *mdir)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", mdir, SLUICE_MAP_SLOT_STATS);
	return !stat(path, &st);
}

/*
 * Fills generation gen's bank: every stage whose instance there already runs
 * the same code at the same position towards the same next slot is kept
 * (reuse), the others load, on every CPU at once, and go into their slots,
 * then a new entry starting at the bank. The bank is idle (no entry leads
 * into it) and quiescent (an RCU grace period has passed since it was left),
 * so failing anywhere leaves what runs untouched.
 */
static int gen_build(struct pipeline *pl, const struct stage_src *src, int n, uint32_t gen,
		     int default_verdict, const char *mdir, bool reuse, struct gen *g,
		     struct pipeline_err *err)
{
	bool parallel = maps_exist(mdir);
	uint32_t base = sluice_bank_base(gen);
	uint64_t hash;
	int ret;

	gen_init(g, gen);
	g->n = n;
	if (reuse) {
		g->progs_fd = pl->progs_fd;
	} else {
		g->own_progs = true;
		g->progs_fd = bpf_map_create(BPF_MAP_TYPE_PROG_ARRAY, SLUICE_MAP_PROGS, 4, 4,
					     SLUICE_PROG_SLOTS, NULL);
		if (g->progs_fd < 0)
			return errf(err, -errno, "creating the prog_array: %s", strerror(errno));
	}
	for (int i = 0; reuse && i < n; i++) {
		struct stage_inst *old = &pl->idle[i];

		if (old->fd < 0 || old->next != next_slot(gen, i, n) ||
		    stage_src__hash(&src[i], &hash) || hash != old->hash)
			continue;
		g->st[i] = *old;
		g->st[i].fd = fcntl(old->fd, F_DUPFD_CLOEXEC, 3);
		g->reused[i] = g->st[i].fd >= 0;
	}
	ret = build_stages(pl, src, n, mdir, g, parallel, err);
	if (ret && parallel) {
		/* A stage new to the pipeline may bring maps two loads raced for. */
		for (int i = 0; i < SLUICE_MAX_STAGES; i++)
			if (!g->reused[i])
				inst_close(&g->st[i]);
		pipeline_err__clear(err);
		ret = build_stages(pl, src, n, mdir, g, false, err);
	}
	if (ret)
		goto fail;
	for (int i = 0; i < SLUICE_MAX_STAGES; i++) {
		__u32 key = base + (uint32_t)i;

		if (i < n && g->reused[i])
			continue;
		if (i >= n) {
			/* Nothing may linger past the end of a shorter pipeline. */
			bpf_map_delete_elem(g->progs_fd, &key);
			continue;
		}
		if (bpf_map_update_elem(g->progs_fd, &key, &g->st[i].fd, BPF_ANY)) {
			ret = errf(err, -errno, "filling slot %u: %s", key, strerror(errno));
			goto fail;
		}
	}
	ret = load_entry(pl, mdir, g, default_verdict, err);
	if (ret)
		goto fail;
	return 0;
fail:
	gen_close(g);
	return ret;
}

static int gen_pin(struct pipeline *pl, struct gen *g, struct pipeline_err *err)
{
	char dir[PATH_MAX], name[32];
	int ret;

	sub_dir(pl, SLUICE_PIN_BANK_FMT, g->gen & 1, dir, sizeof(dir));
	ret = mkdir_p(dir);
	if (!ret)
		ret = pin_at(g->entry.fd, dir, SLUICE_PIN_ENTRY);
	/* Kept instances are pinned there already; past the end, nothing may stay. */
	for (int i = 0; !ret && i < SLUICE_MAX_STAGES; i++) {
		snprintf(name, sizeof(name), SLUICE_PIN_STAGE_FMT, i);
		if (i >= g->n)
			unpin_at(dir, name);
		else if (!g->reused[i])
			ret = pin_at(g->st[i].fd, dir, name);
	}
	if (ret)
		return errf(err, ret, "pinning generation %u under %s: %s", g->gen, dir, strerror(-ret));
	return 0;
}

/* Makes g the live generation of pl (fds move over). */
static void gen_adopt_into(struct pipeline *pl, struct gen *g, const struct stage_src *src)
{
	inst_close(&pl->entry);
	pl->entry = g->entry;
	for (int i = 0; i < SLUICE_MAX_STAGES; i++) {
		/* The bank just left keeps its instances: the next transaction may reuse them. */
		inst_close(&pl->idle[i]);
		pl->idle[i] = pl->live[i];
		pl->live[i] = g->st[i];
		if (src && src != pl->src && i < g->n)
			pl->src[i] = src[i];
	}
	pl->nr_stages = g->n;
	pl->gen = g->gen;
	gen_init(g, 0);
}

void sluice_rcu_wait(void)
{
	/*
	 * XDP programs run inside RCU read-side sections; MEMBARRIER_CMD_GLOBAL
	 * returns after synchronize_rcu(), so afterwards no packet can still be
	 * inside anything we unhooked before the call.
	 */
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0))
		usleep(50 * 1000);
}

/* ---- pre-flight in a scratch generation ---- */

/*
 * A scratch generation must see the same rules as the live one but must not
 * count into the live counters: maps programs may write are copied into fresh
 * maps of the same shape (per-CPU counters start empty), pinned under a
 * scratch folder the loader reuses; maps programs only read are shared.
 */
static int map_copy(int src_fd, const char *dir, const char *name)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int fd, ret = 0;
	size_t vsz;
	void *key = NULL, *next = NULL, *val = NULL;
	bool percpu;

	if (bpf_obj_get_info_by_fd(src_fd, &info, &len))
		return -errno;
	/* Programs cannot write it: configuration, shared as it is. */
	if (info.map_flags & BPF_F_RDONLY_PROG)
		return pin_at(src_fd, dir, name);
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = info.map_flags,
		    .map_extra = info.map_extra);
	fd = bpf_map_create(info.type, name, info.key_size, info.value_size, info.max_entries, &opts);
	if (fd < 0)
		return -errno;
	/* Sockets and programs cannot be copied: the scratch run falls back. */
	if (info.type == BPF_MAP_TYPE_XSKMAP || info.type == BPF_MAP_TYPE_PROG_ARRAY ||
	    info.type == BPF_MAP_TYPE_DEVMAP || info.type == BPF_MAP_TYPE_CPUMAP)
		goto pin;
	percpu = info.type == BPF_MAP_TYPE_PERCPU_ARRAY || info.type == BPF_MAP_TYPE_PERCPU_HASH ||
		 info.type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
	/* Counters start at zero in the scratch copy; only configuration matters. */
	if (percpu)
		goto pin;
	vsz = info.value_size;
	key = calloc(1, info.key_size);
	next = calloc(1, info.key_size);
	val = calloc(1, vsz);
	if (!key || !next || !val) {
		ret = -ENOMEM;
		goto out;
	}
	if (bpf_map_get_next_key(src_fd, NULL, next))
		goto pin;
	do {
		memcpy(key, next, info.key_size);
		if (!bpf_map_lookup_elem(src_fd, key, val))
			bpf_map_update_elem(fd, key, val, BPF_ANY);
	} while (!bpf_map_get_next_key(src_fd, key, next));
pin:
	ret = pin_at(fd, dir, name);
out:
	free(key);
	free(next);
	free(val);
	close(fd);
	return ret;
}

static int scratch_maps(struct pipeline *pl, char *dir, size_t len)
{
	char live[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int ret = 0;

	snprintf(dir, len, "%s/scratch", pl->dir);
	rm_tree(dir);
	ret = mkdir_p(dir);
	if (ret)
		return ret;
	maps_dir(pl, live, sizeof(live));
	d = opendir(live);
	if (!d)
		return 0;
	while (!ret && (e = readdir(d))) {
		int fd;

		if (e->d_name[0] == '.')
			continue;
		fd = get_at(live, e->d_name);
		if (fd < 0)
			continue;
		ret = map_copy(fd, dir, e->d_name);
		close(fd);
	}
	closedir(d);
	for (int i = 0; !ret && i < pl->nr_shared; i++) {
		int fd = get_at(pl->shared_dir, pl->shared[i]);

		if (fd < 0)
			continue;
		ret = map_copy(fd, dir, pl->shared[i]);
		close(fd);
	}
	return ret;
}

static int run_one(int prog_fd, const struct preflight_pkt *p, uint32_t *verdict)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = p->frame, .data_size_in = (uint32_t)p->len,
		    .repeat = 1);

	if (bpf_prog_test_run_opts(prog_fd, &opts))
		return -errno;
	*verdict = opts.retval;
	return 0;
}

static int preflight(struct pipeline *pl, const struct stage_src *src, int n,
		     const struct preflight_pkt *pf, size_t nr_pf, struct pipeline_err *err)
{
	char dir[PATH_MAX];
	struct gen g;
	uint32_t ver = pl->next_ver, v = 0;
	int ret;

	if (!nr_pf)
		return 0;
	ret = scratch_maps(pl, dir, sizeof(dir));
	if (ret)
		return errf(err, ret, "pre-flight: copying state maps: %s", strerror(-ret));
	ret = gen_build(pl, src, n, pl->gen + 1, pl->default_verdict, dir, false, &g, err);
	pl->next_ver = ver;	/* scratch instances are not versions */
	if (ret)
		goto out;
	for (size_t i = 0; i < nr_pf; i++) {
		ret = run_one(g.entry.fd, &pf[i], &v);
		if (ret) {
			errf(err, ret, "pre-flight packet %zu: test run failed: %s", i + 1, strerror(-ret));
			break;
		}
		if ((int)v != pf[i].expect) {
			ret = errf(err, -EBADE, "pre-flight packet %zu: verdict %s, expected %s", i + 1,
				   xdp_verdict_name((int)v), xdp_verdict_name(pf[i].expect));
			break;
		}
	}
	gen_close(&g);
out:
	rm_tree(dir);
	return ret;
}

/* ---- lifecycle ---- */

int pipeline__load(struct pipeline *pl, const struct stage_src *src, int n, int default_verdict,
		   struct pipeline_err *err)
{
	char mdir[PATH_MAX];
	struct gen g;
	int ret;

	ret = pipeline__validate(src, n, err);
	if (ret)
		return ret;
	maps_dir(pl, mdir, sizeof(mdir));
	ret = mkdir_p(mdir);
	if (ret)
		return errf(err, ret, "%s: %s (is bpffs mounted?)", mdir, strerror(-ret));
	pl->default_verdict = default_verdict;
	pl->progs_fd = bpf_map_create(BPF_MAP_TYPE_PROG_ARRAY, SLUICE_MAP_PROGS, 4, 4,
				      SLUICE_PROG_SLOTS, NULL);
	if (pl->progs_fd < 0)
		return errf(err, -errno, "creating the prog_array: %s", strerror(errno));
	ret = pin_at(pl->progs_fd, pl->dir, SLUICE_PIN_PROGS);
	if (ret)
		return errf(err, ret, "pinning the prog_array: %s", strerror(-ret));
	ret = gen_build(pl, src, n, pl->gen + 1, default_verdict, mdir, true, &g, err);
	if (ret)
		return ret;
	ret = gen_pin(pl, &g, err);
	if (ret) {
		gen_close(&g);
		return ret;
	}
	gen_adopt_into(pl, &g, src);
	return info_write(pl);
}

static int link_create(struct pipeline *pl, int prog_fd, __u32 flags)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = flags);
	int fd = bpf_link_create(prog_fd, pl->ifindex, BPF_XDP, &opts);

	return fd < 0 ? -errno : fd;
}

int pipeline__attach(struct pipeline *pl, enum sluice_xdp_mode mode, enum sluice_attach how,
		     struct pipeline_err *err)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	int fd = -ENODEV;

	pl->mode = mode;
	pl->how = how;
	if (!pl->ifindex)
		pl->ifindex = (int)if_nametoindex(pl->ifname);
	if (!pl->ifindex)
		return errf(err, -ENODEV, "interface %s does not exist", pl->ifname);
	if (how == SLUICE_ATTACH_LIBXDP) {
		struct xdp_program *xp = xdp_program__from_fd(pl->entry.fd);
		int ret;

		if (libxdp_get_error(xp))
			return errf(err, -EINVAL, "libxdp cannot use the entry program");
		ret = xdp_program__attach(xp, pl->ifindex, mode == SLUICE_XDP_SKB ? XDP_MODE_SKB :
					  mode == SLUICE_XDP_NATIVE ? XDP_MODE_NATIVE : XDP_MODE_UNSPEC, 0);
		xdp_program__close(xp);
		if (ret)
			return errf(err, ret, "libxdp could not attach to %s: %s", pl->ifname,
				    strerror(-ret));
		pl->native = mode != SLUICE_XDP_SKB;
		return 0;
	}
	if (mode != SLUICE_XDP_SKB) {
		fd = link_create(pl, pl->entry.fd, XDP_FLAGS_DRV_MODE);
		pl->native = fd >= 0;
	}
	if (fd < 0 && mode != SLUICE_XDP_NATIVE)
		fd = link_create(pl, pl->entry.fd, XDP_FLAGS_SKB_MODE);
	if (fd < 0)
		return errf(err, fd, "attaching XDP to %s (%s mode): %s%s", pl->ifname,
			    mode == SLUICE_XDP_NATIVE ? "native" : mode == SLUICE_XDP_SKB ? "generic" : "auto",
			    strerror(-fd), fd == -EBUSY ? " (another XDP program is attached)" : "");
	if (pin_at(fd, pl->dir, SLUICE_PIN_LINK)) {
		int e = -errno;

		close(fd);
		return errf(err, e, "pinning the XDP link: %s", strerror(-e));
	}
	pl->link_fd = fd;
	if (!bpf_obj_get_info_by_fd(fd, &info, &len))
		pl->link_id = info.id;
	return 0;
}

int pipeline__create(struct pipeline *pl, const struct stage_src *src, int n, int default_verdict,
		     struct pipeline_err *err)
{
	int ret = pipeline__load(pl, src, n, default_verdict, err);

	if (ret)
		return ret;
	ret = pipeline__attach(pl, pl->mode, pl->how, err);
	if (ret) {
		char msg[sizeof(err->msg)];

		memcpy(msg, err->msg, sizeof(msg));
		pipeline__destroy(pl);
		memcpy(err->msg, msg, sizeof(msg));
	}
	return ret;
}

/* The program the interface runs: through our link, or attached directly. */
static uint32_t running_prog(const struct pipeline *pl)
{
	struct bpf_link_info li = {};
	__u32 len = sizeof(li);
	int fd = get_at(pl->dir, SLUICE_PIN_LINK);

	if (fd >= 0) {
		uint32_t id = bpf_obj_get_info_by_fd(fd, &li, &len) ? 0 : li.prog_id;

		close(fd);
		return id;
	}
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	return pl->ifindex && !bpf_xdp_query(pl->ifindex, 0, &q) ? q.prog_id : 0;
}

static uint32_t pinned_prog_id(const char *dir, const char *name)
{
	struct bpf_prog_info pi = {};
	__u32 len = sizeof(pi);
	int fd = get_at(dir, name);
	uint32_t id;

	if (fd < 0)
		return 0;
	id = bpf_obj_get_info_by_fd(fd, &pi, &len) ? 0 : pi.id;
	close(fd);
	return id;
}

/*
 * A daemon killed between a transaction's link update and its info write
 * leaves info naming the generation before the one that runs, whose entry
 * is in the other bank. Trust what runs, and forget the stage hashes, which
 * describe the other generation (the configuration is then applied again).
 */
static void running_gen(const struct pipeline *pl, struct sluice_pipeline_info *info)
{
	uint32_t run = running_prog(pl);
	char dir[PATH_MAX], name[32];

	sub_dir(pl, SLUICE_PIN_BANK_FMT, info->gen & 1, dir, sizeof(dir));
	if (!run || pinned_prog_id(dir, SLUICE_PIN_ENTRY) == run)
		return;
	sub_dir(pl, SLUICE_PIN_BANK_FMT, (info->gen + 1) & 1, dir, sizeof(dir));
	if (pinned_prog_id(dir, SLUICE_PIN_ENTRY) != run)
		return;
	info->gen++;
	for (info->nr_stages = 0; info->nr_stages < SLUICE_MAX_STAGES; info->nr_stages++) {
		snprintf(name, sizeof(name), SLUICE_PIN_STAGE_FMT, info->nr_stages);
		if (!pinned_prog_id(dir, name))
			break;
		info->stages[info->nr_stages].hash = 0;
	}
}

int pipeline__adopt(struct pipeline *pl, struct pipeline_err *err)
{
	struct sluice_pipeline_info info;
	struct bpf_link_info li = {};
	__u32 zero = 0, len = sizeof(li);
	char gdir[PATH_MAX], pdir[PATH_MAX], name[32];
	int fd, ret;

	fd = info_fd(pl, false);
	if (fd < 0)
		return fd == -ENOENT ? -ENOENT : errf(err, fd, "%s/%s: %s", pl->dir, SLUICE_PIN_INFO,
						       strerror(-fd));
	ret = bpf_map_lookup_elem(fd, &zero, &info) ? -errno : 0;
	close(fd);
	if (ret)
		return errf(err, ret, "reading %s/%s: %s", pl->dir, SLUICE_PIN_INFO, strerror(-ret));
	if (info.magic != SLUICE_INFO_MAGIC || info.abi != SLUICE_ABI_VERSION)
		return errf(err, -EPROTO, "%s was pinned by an incompatible sluice (abi %u)", pl->dir,
			    info.abi);
	if (info.nr_stages < 1 || info.nr_stages > SLUICE_MAX_STAGES)
		return errf(err, -EPROTO, "%s: corrupt pipeline info", pl->dir);

	running_gen(pl, &info);
	sub_dir(pl, SLUICE_PIN_BANK_FMT, info.gen & 1, gdir, sizeof(gdir));
	snprintf(pdir, sizeof(pdir), "%s/%s", pl->dir, SLUICE_PIN_PREV);
	pl->gen = info.gen;
	pl->nr_stages = (int)info.nr_stages;
	pl->default_verdict = (int)info.default_verdict;
	pl->next_ver = info.next_ver;
	pl->progs_fd = get_at(pl->dir, SLUICE_PIN_PROGS);
	fd = get_at(gdir, SLUICE_PIN_ENTRY);
	if (pl->progs_fd < 0 || fd < 0) {
		ret = pl->progs_fd < 0 ? pl->progs_fd : fd;
		if (fd >= 0)
			close(fd);
		pipeline__close(pl);
		return errf(err, ret, "%s: generation %u is incomplete", gdir, info.gen);
	}
	inst_from_fd(&pl->entry, fd);
	for (int i = 0; i < pl->nr_stages; i++) {
		snprintf(name, sizeof(name), SLUICE_PIN_STAGE_FMT, i);
		fd = get_at(gdir, name);
		if (fd < 0) {
			pipeline__close(pl);
			return errf(err, fd, "%s/%s: %s", gdir, name, strerror(-fd));
		}
		inst_from_fd(&pl->live[i], fd);
		pl->live[i].hash = info.stages[i].hash;
		pl->live[i].ver = info.stages[i].ver;
		pl->live[i].next = next_slot(info.gen, i, pl->nr_stages);
		snprintf(pl->src[i].name, sizeof(pl->src[i].name), "%s", info.stages[i].name);
		fd = get_at(pdir, name);
		if (fd >= 0) {
			/* Its code is pinned; where it came from is not recorded. */
			inst_from_fd(&pl->prev[i], fd);
			pl->prev_src[i] = pl->src[i];
			snprintf(pl->prev_src[i].object, sizeof(pl->prev_src[i].object),
				 "(previous version)");
		}
	}
	pl->link_fd = get_at(pl->dir, SLUICE_PIN_LINK);
	if (pl->link_fd >= 0 && !bpf_obj_get_info_by_fd(pl->link_fd, &li, &len)) {
		pl->link_id = li.id;
		pl->ifindex = (int)li.xdp.ifindex;
		LIBBPF_OPTS(bpf_xdp_query_opts, q);
		if (!bpf_xdp_query(pl->ifindex, 0, &q))
			pl->native = q.attach_mode == XDP_ATTACHED_DRV;
		if (li.prog_id != pl->entry.prog_id) {
			pipeline__close(pl);
			return errf(err, -EPROTO, "%s: the link runs program %u, generation %u's entry is %u",
				    pl->dir, li.prog_id, info.gen, pl->entry.prog_id);
		}
	} else if (pl->ifindex) {
		/* Attached without a link (libxdp): the interface itself says what runs. */
		LIBBPF_OPTS(bpf_xdp_query_opts, q);

		if (!bpf_xdp_query(pl->ifindex, 0, &q) && q.prog_id == pl->entry.prog_id) {
			pl->how = SLUICE_ATTACH_LIBXDP;
			pl->native = q.attach_mode == XDP_ATTACHED_DRV;
		}
	}
	return 0;
}

bool pipeline__attached(const struct pipeline *pl)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (pl->link_fd >= 0)
		return true;
	return pl->ifindex && pl->entry.fd >= 0 && !bpf_xdp_query(pl->ifindex, 0, &q) &&
	       q.prog_id == pl->entry.prog_id;
}

int pipeline__destroy(struct pipeline *pl)
{
	/* Unpinning the link and closing our fd detaches the program. */
	rm_tree(pl->dir);
	if (pl->how == SLUICE_ATTACH_LIBXDP && pl->ifindex && pl->entry.fd >= 0) {
		LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = pl->entry.fd);
		bpf_xdp_detach(pl->ifindex, XDP_FLAGS_REPLACE, &o);
	}
	pipeline__close(pl);
	pl->gen = 0;
	pl->nr_stages = 0;
	return 0;
}

/* ---- changes under traffic ---- */

int pipeline__swap_stage(struct pipeline *pl, int idx, const struct stage_src *src,
			 const struct preflight_pkt *pf, size_t nr_pf, struct pipeline_err *err)
{
	char mdir[PATH_MAX], pdir[PATH_MAX], gdir[PATH_MAX], name[32];
	struct stage_src cand[SLUICE_MAX_STAGES];
	struct stage_inst ni;
	__u32 key = sluice_bank_base(pl->gen) + (__u32)idx;
	uint64_t t0, t1;
	int ret;

	if (idx < 0 || idx >= pl->nr_stages)
		return errf(err, -ENOENT, "no stage in slot %d", idx);
	if (nr_pf) {
		memcpy(cand, pl->src, sizeof(cand));
		cand[idx] = *src;
		snprintf(cand[idx].name, sizeof(cand[idx].name), "%s", pl->src[idx].name);
		ret = preflight(pl, cand, pl->nr_stages, pf, nr_pf, err);
		if (ret)
			return ret;
	}
	maps_dir(pl, mdir, sizeof(mdir));
	t0 = now_us();
	ret = load_one(pl, src, mdir, pl->progs_fd, (uint32_t)idx, next_slot(pl->gen, idx, pl->nr_stages),
		       pl->gen, pl->next_ver, &ni, err);
	if (ret)
		return ret;
	pl->next_ver++;
	t1 = now_us();

	/* The one step packets see: a single slot update is atomic for them. */
	if (bpf_map_update_elem(pl->progs_fd, &key, &ni.fd, BPF_ANY)) {
		ret = -errno;
		inst_close(&ni);
		return errf(err, ret, "updating slot %u: %s", key, strerror(-ret));
	}
	pl->last_build_us = t1 - t0;
	pl->last_switch_us = now_us() - t1;

	/* Keep the replaced version pinned: rollback is one more update. */
	snprintf(pdir, sizeof(pdir), "%s/%s", pl->dir, SLUICE_PIN_PREV);
	sub_dir(pl, SLUICE_PIN_BANK_FMT, pl->gen & 1, gdir, sizeof(gdir));
	snprintf(name, sizeof(name), SLUICE_PIN_STAGE_FMT, idx);
	mkdir_p(pdir);
	inst_close(&pl->prev[idx]);
	pl->prev[idx] = pl->live[idx];
	pin_at(pl->prev[idx].fd, pdir, name);
	pin_at(ni.fd, gdir, name);
	pl->live[idx] = ni;
	pl->prev_src[idx] = pl->src[idx];
	pl->src[idx] = *src;
	memcpy(pl->src[idx].name, pl->prev_src[idx].name, sizeof(pl->src[idx].name));
	return info_write(pl);
}

int pipeline__rollback_stage(struct pipeline *pl, int idx, struct pipeline_err *err)
{
	char pdir[PATH_MAX], gdir[PATH_MAX], name[32];
	struct stage_inst tmp;
	__u32 key = sluice_bank_base(pl->gen) + (__u32)idx;

	if (idx < 0 || idx >= pl->nr_stages)
		return errf(err, -ENOENT, "no stage in slot %d", idx);
	if (pl->prev[idx].fd < 0)
		return errf(err, -ENOENT, "stage '%s' has no previous version to roll back to",
			    pl->src[idx].name);
	if (bpf_map_update_elem(pl->progs_fd, &key, &pl->prev[idx].fd, BPF_ANY))
		return errf(err, -errno, "updating slot %u: %s", key, strerror(errno));
	tmp = pl->live[idx];
	pl->live[idx] = pl->prev[idx];
	pl->prev[idx] = tmp;
	snprintf(pdir, sizeof(pdir), "%s/%s", pl->dir, SLUICE_PIN_PREV);
	sub_dir(pl, SLUICE_PIN_BANK_FMT, pl->gen & 1, gdir, sizeof(gdir));
	snprintf(name, sizeof(name), SLUICE_PIN_STAGE_FMT, idx);
	pin_at(pl->live[idx].fd, gdir, name);
	pin_at(pl->prev[idx].fd, pdir, name);
	{
		struct stage_src s = pl->src[idx];

		pl->src[idx] = pl->prev_src[idx];
		pl->prev_src[idx] = s;
	}
	return info_write(pl);
}

static int switch_entry(struct pipeline *pl, int new_fd, struct pipeline_err *err)
{
	if (pl->how == SLUICE_ATTACH_LIBXDP) {
		LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = pl->entry.fd);
		__u32 flags = XDP_FLAGS_REPLACE | (pl->native ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE);

		if (bpf_xdp_attach(pl->ifindex, new_fd, flags, &o))
			return errf(err, -errno, "replacing the XDP program on %s: %s", pl->ifname,
				    strerror(errno));
		return 0;
	}
	if (pl->link_fd < 0)
		return 0;	/* loaded, not attached: nothing to switch */
	LIBBPF_OPTS(bpf_link_update_opts, o, .flags = BPF_F_REPLACE, .old_prog_fd = pl->entry.fd);
	if (bpf_link_update(pl->link_fd, new_fd, &o))
		return errf(err, -errno, "updating the XDP link: %s", strerror(errno));
	return 0;
}

int pipeline__commit(struct pipeline *pl, const struct stage_src *src, int n,
		     const struct preflight_pkt *pf, size_t nr_pf, struct pipeline_err *err)
{
	char mdir[PATH_MAX], pdir[PATH_MAX];
	struct gen g;
	uint64_t t0, t1;
	int ret;

	ret = pipeline__validate(src, n, err);
	if (ret)
		return ret;
	ret = preflight(pl, src, n, pf, nr_pf, err);
	if (ret)
		return ret;
	maps_dir(pl, mdir, sizeof(mdir));
	t0 = now_us();
	ret = gen_build(pl, src, n, pl->gen + 1, pl->default_verdict, mdir, true, &g, err);
	if (ret)
		goto stale;
	ret = gen_pin(pl, &g, err);
	if (ret)
		goto fail;
	t1 = now_us();
	/* The one step packets see: new packets enter the new generation's bank. */
	ret = switch_entry(pl, g.entry.fd, err);
	pl->last_build_us = t1 - t0;
	pl->last_switch_us = now_us() - t1;
	if (ret)
		goto fail;
	/*
	 * Packets already inside the old bank finish there. The next
	 * transaction rewrites its slots, so wait for them now, while the
	 * reply to this one is already decided.
	 */
	sluice_rcu_wait();
	/* Rollback after a transaction is another transaction: drop per-stage history. */
	snprintf(pdir, sizeof(pdir), "%s/%s", pl->dir, SLUICE_PIN_PREV);
	rm_tree(pdir);
	for (int i = 0; i < SLUICE_MAX_STAGES; i++)
		inst_close(&pl->prev[i]);
	gen_adopt_into(pl, &g, src);
	return info_write(pl);
fail:
	gen_close(&g);
stale:
	/* The idle bank's slots may hold what this attempt loaded: reuse nothing from it. */
	for (int i = 0; i < SLUICE_MAX_STAGES; i++)
		inst_close(&pl->idle[i]);
	return ret;
}

/* ---- reading ---- */

int pipeline__find_stage(const struct pipeline *pl, const char *name)
{
	for (int i = 0; i < pl->nr_stages; i++)
		if (!strcmp(pl->src[i].name, name))
			return i;
	return -ENOENT;
}

int pipeline__map_fd(const struct pipeline *pl, const char *name)
{
	char mdir[PATH_MAX];

	for (int i = 0; i < pl->nr_shared; i++)
		if (!strcmp(pl->shared[i], name))
			return get_at(pl->shared_dir, name);
	maps_dir(pl, mdir, sizeof(mdir));
	return get_at(mdir, name);
}

int pipeline__stats(const struct pipeline *pl, struct sluice_pipe_stats *ps,
		    struct sluice_slot_stats *slots)
{
	int ncpu = libbpf_num_possible_cpus(), fd, ret = 0;
	struct sluice_slot_stats *sv;
	struct sluice_pipe_stats *pv;
	__u32 key = 0;

	if (ncpu < 1)
		return ncpu;
	pv = calloc(ncpu, sizeof(*pv));
	sv = calloc(ncpu, sizeof(*sv));
	if (!pv || !sv) {
		ret = -ENOMEM;
		goto out;
	}
	memset(ps, 0, sizeof(*ps));
	memset(slots, 0, sizeof(*slots) * SLUICE_MAX_STAGES);
	fd = pipeline__map_fd(pl, SLUICE_MAP_PIPE_STATS);
	if (fd < 0) {
		ret = fd;
		goto out;
	}
	if (!bpf_map_lookup_elem(fd, &key, pv)) {
		for (int c = 0; c < ncpu; c++) {
			__u64 *dst = (__u64 *)ps, *s = (__u64 *)&pv[c];

			for (size_t w = 0; w < sizeof(*ps) / 8; w++)
				dst[w] += s[w];
		}
	}
	close(fd);
	fd = pipeline__map_fd(pl, SLUICE_MAP_SLOT_STATS);
	if (fd < 0) {
		ret = fd;
		goto out;
	}
	for (key = 0; key < SLUICE_MAX_STAGES; key++) {
		if (bpf_map_lookup_elem(fd, &key, sv))
			continue;
		for (int c = 0; c < ncpu; c++) {
			__u64 *dst = (__u64 *)&slots[key], *s = (__u64 *)&sv[c];

			for (size_t w = 0; w < sizeof(*slots) / 8; w++)
				dst[w] += s[w];
		}
	}
	close(fd);
	/* The map counts packets by the last slot they reached: entered = this one and later ones. */
	for (int i = SLUICE_MAX_STAGES - 2; i >= 0; i--) {
		slots[i].packets += slots[i + 1].packets;
		slots[i].bytes += slots[i + 1].bytes;
	}
out:
	free(pv);
	free(sv);
	return ret;
}

int pipeline__test_run(const struct pipeline *pl, const void *frame, size_t len, uint32_t *verdict,
		       struct sluice_meta *meta)
{
	uint8_t out[4096 + 256];
	struct xdp_md ctx = { .data_end = (__u32)len }, ctx_out = {};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = (__u32)len,
		    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .ctx_out = &ctx_out, .ctx_size_out = sizeof(ctx_out),
		    .repeat = 1);

	if (bpf_prog_test_run_opts(pl->entry.fd, &opts))
		return -errno;
	*verdict = opts.retval;
	if (meta) {
		memset(meta, 0, sizeof(*meta));
		if (ctx_out.data - ctx_out.data_meta == sizeof(*meta))
			memcpy(meta, out, sizeof(*meta));
	}
	return 0;
}
