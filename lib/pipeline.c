// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * One interface's pipeline: an entry, a prog_array of SLUICE_NR_BANKS banks
 * and a switch word, pinned in bpffs and attached through one XDP link. A
 * generation lives in one bank; what packets run changes by one slot update
 * (a single stage) or one store into the switch word (a whole generation, a
 * prepared candidate, a canary, a rollback).
 */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include "clock.h"
#include "pipeline.h"
#include "stage_load.h"

/* A generation being built into a bank, before it is anything of the pipeline's. */
struct gen {
	uint32_t gen;
	int bank;
	int progs_fd;
	bool own_progs;			/* a scratch prog_array (pre-flight), else the pipeline's */
	struct stage_inst entry;	/* scratch generations only: their own entry */
	struct stage_inst st[SLUICE_MAX_STAGES];
	bool reused[SLUICE_MAX_STAGES];	/* already in its slot from an earlier generation */
	bool touched;			/* a slot of the bank was changed */
	int n;
};

/* ---- vocabulary ---- */

static const char *const verdict_names[] = { "aborted", "drop", "pass", "tx", "redirect" };
static const char *const carrier_names[] = { "meta", "percpu" };
static const char *const bank_state_names[] = { "free", "live", "previous", "prepared", "canary" };

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

const char *sluice_carrier_name(int c)
{
	return c >= 0 && c < (int)(sizeof(carrier_names) / sizeof(carrier_names[0])) ? carrier_names[c]
										  : "invalid";
}

int sluice_carrier_parse(const char *s)
{
	for (int i = 0; i < (int)(sizeof(carrier_names) / sizeof(carrier_names[0])); i++)
		if (!strcmp(s, carrier_names[i]))
			return i;
	return -EINVAL;
}

const char *sluice_bank_state_name(int st)
{
	return st >= 0 && st < (int)(sizeof(bank_state_names) / sizeof(bank_state_names[0]))
		       ? bank_state_names[st] : "invalid";
}

void pipeline_err__clear(struct pipeline_err *e)
{
	free(e->verifier_log);
	e->verifier_log = NULL;
	e->msg[0] = '\0';
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


/* ---- instances, banks, generations ---- */

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

static void insts_close(struct stage_inst *s)
{
	for (int i = 0; i < SLUICE_MAX_STAGES; i++)
		inst_close(&s[i]);
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

/*
 * A bank no generation needs any more. Its programs stay in their slots
 * (no word names the bank, so no packet reaches them) and are kept here,
 * so that the next generation built in it loads only what differs.
 */
static void bank_free(struct bank *b)
{
	b->state = SLUICE_BANK_FREE;
	b->gen = b->cand = b->base = 0;
	b->default_verdict = XDP_PASS;
}

/* Empties a bank of everything but its source array, its programs forgotten. */
static void bank_clear(struct bank *b)
{
	insts_close(b->st);
	bank_free(b);
	b->nr_stages = 0;
}

static void gen_init(struct gen *g, uint32_t n, int bank)
{
	memset(g, 0, sizeof(*g));
	g->gen = n;
	g->bank = bank;
	g->progs_fd = -1;
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
	insts_close(g->st);
}

int pipeline__init(struct pipeline *pl, const char *pin_root, const char *ifname)
{
	memset(pl, 0, sizeof(*pl));
	if (strlen(ifname) >= sizeof(pl->ifname))
		return -ENAMETOOLONG;
	strcpy(pl->ifname, ifname);
	pl->ifindex = (int)if_nametoindex(ifname);
	snprintf(pl->root, sizeof(pl->root), "%s", pin_root ? pin_root : SLUICE_PIN_ROOT);
	if (snprintf(pl->dir, sizeof(pl->dir), "%s/%s", pl->root, ifname) >= (int)sizeof(pl->dir))
		return -ENAMETOOLONG;
	pl->progs_fd = pl->link_fd = pl->switch_fd = -1;
	pl->default_verdict = XDP_PASS;
	pl->next_ver = pl->next_gen = pl->next_cand = 1;
	pl->carrier = SLUICE_CARRIER_META;
	inst_reset(&pl->entry);
	for (int i = 0; i < SLUICE_MAX_STAGES; i++) {
		inst_reset(&pl->live[i]);
		inst_reset(&pl->prev[i]);
	}
	/* stage_src is a few KiB: 16 of them per bank do not belong on a stack. */
	pl->src = calloc(SLUICE_MAX_STAGES, sizeof(*pl->src));
	pl->prev_src = calloc(SLUICE_MAX_STAGES, sizeof(*pl->prev_src));
	if (!pl->src || !pl->prev_src)
		goto nomem;
	for (int b = 0; b < SLUICE_NR_BANKS; b++) {
		pl->banks[b].src = calloc(SLUICE_MAX_STAGES, sizeof(*pl->banks[b].src));
		if (!pl->banks[b].src)
			goto nomem;
		for (int i = 0; i < SLUICE_MAX_STAGES; i++)
			inst_reset(&pl->banks[b].st[i]);
	}
	return 0;
nomem:
	pipeline__close(pl);
	return -ENOMEM;
}

void pipeline__set_carrier(struct pipeline *pl, enum sluice_carrier carrier, uint8_t entry_flags)
{
	pl->carrier = carrier;
	pl->entry_flags = entry_flags;
}

static void switch_unmap(struct pipeline *pl)
{
	if (pl->sw)
		munmap(pl->sw, sysconf(_SC_PAGESIZE));
	pl->sw = NULL;
	if (pl->switch_fd >= 0)
		close(pl->switch_fd);
	pl->switch_fd = -1;
}

/* Closes every fd, keeps the memory: the pipeline can be loaded or adopted again. */
static void pl_close_fds(struct pipeline *pl)
{
	if (pl->progs_fd >= 0)
		close(pl->progs_fd);
	pl->progs_fd = -1;
	if (pl->link_fd >= 0)
		close(pl->link_fd);
	pl->link_fd = -1;
	switch_unmap(pl);
	inst_close(&pl->entry);
	insts_close(pl->live);
	insts_close(pl->prev);
	for (int b = 0; b < SLUICE_NR_BANKS; b++)
		bank_clear(&pl->banks[b]);
}

void pipeline__close(struct pipeline *pl)
{
	pl_close_fds(pl);
	for (int b = 0; b < SLUICE_NR_BANKS; b++) {
		free(pl->banks[b].src);
		pl->banks[b].src = NULL;
	}
	free(pl->src);
	free(pl->prev_src);
	pl->src = pl->prev_src = NULL;
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

/*
 * Pins fd as dir/name, replacing what is there in one step: pinned under a
 * temporary name, then renamed over the old pin. A crash at any point leaves
 * the old pin or the new one, never a gap a restarted daemon would read as
 * "nothing pinned".
 */
static int pin_at(int fd, const char *dir, const char *name)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	int ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	/* bpffs refuses dots in names. */
	snprintf(tmp, sizeof(tmp), "%s/tmp-%d-%s", dir, (int)getpid(), name);
	unlink(tmp);
	if (bpf_obj_pin(fd, tmp))
		return -errno;
	if (rename(tmp, path)) {
		ret = -errno;
		unlink(tmp);
	}
	return ret;
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

static void bank_dir(const struct pipeline *pl, int bank, char *buf, size_t len)
{
	int off = snprintf(buf, len, "%s/", pl->dir);

	snprintf(buf + off, len - off, SLUICE_PIN_BANK_FMT, (unsigned int)bank);
}

static void maps_dir(const struct pipeline *pl, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", pl->dir, SLUICE_PIN_MAPS);
}

static void prev_dir(const struct pipeline *pl, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", pl->dir, SLUICE_PIN_PREV);
}

static void stage_pin_name(int i, char *buf, size_t len)
{
	snprintf(buf, len, SLUICE_PIN_STAGE_FMT, (unsigned int)i);
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
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

static void info_stages(struct sluice_bank_info *bi, const struct stage_src *src,
			const struct stage_inst *st, int n)
{
	bi->nr_stages = (__u8)n;
	for (int i = 0; i < n; i++) {
		snprintf(bi->stages[i].name, sizeof(bi->stages[i].name), "%s", src[i].name);
		bi->stages[i].hash = st[i].hash;
		bi->stages[i].ver = st[i].ver;
		bi->stages[i].prog_id = st[i].prog_id;
	}
}

static int info_write(const struct pipeline *pl)
{
	struct sluice_pipeline_info *info = calloc(1, sizeof(*info));
	__u32 zero = 0;
	int fd, ret;

	if (!info)
		return -ENOMEM;
	info->magic = SLUICE_INFO_MAGIC;
	info->abi = SLUICE_ABI_VERSION;
	info->next_gen = pl->next_gen;
	info->next_ver = pl->next_ver;
	info->next_cand = pl->next_cand;
	info->changes = pl->changes;
	info->carrier = (__u8)pl->carrier;
	info->bank = (__u8)pl->bank;
	info->entry_flags = pl->entry_flags;
	for (int b = 0; b < SLUICE_NR_BANKS; b++) {
		const struct bank *bk = &pl->banks[b];
		struct sluice_bank_info *bi = &info->banks[b];

		if (b == pl->bank && pl->gen) {
			bi->state = SLUICE_BANK_LIVE;
			bi->gen = pl->gen;
			bi->default_verdict = (__u8)pl->default_verdict;
			info_stages(bi, pl->src, pl->live, pl->nr_stages);
			continue;
		}
		bi->state = (__u8)bk->state;
		bi->gen = bk->gen;
		bi->cand = bk->cand;
		bi->base = bk->base;
		bi->default_verdict = (__u8)bk->default_verdict;
		if (bk->state != SLUICE_BANK_FREE)
			info_stages(bi, bk->src, bk->st, bk->nr_stages);
	}
	fd = info_fd(pl, true);
	if (fd < 0) {
		free(info);
		return fd;
	}
	ret = bpf_map_update_elem(fd, &zero, info, 0) ? -errno : 0;
	close(fd);
	free(info);
	return ret;
}

/* ---- the switch word ---- */

/* Opens and maps the interface's switch map, pinned under maps/ by the entry's load. */
static int switch_open(struct pipeline *pl)
{
	char mdir[PATH_MAX];
	void *p;

	switch_unmap(pl);
	maps_dir(pl, mdir, sizeof(mdir));
	pl->switch_fd = get_at(mdir, SLUICE_MAP_SWITCH);
	if (pl->switch_fd < 0)
		return pl->switch_fd;
	p = mmap(NULL, sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE, MAP_SHARED, pl->switch_fd, 0);
	if (p == MAP_FAILED) {
		int ret = -errno;

		switch_unmap(pl);
		return ret;
	}
	pl->sw = p;
	return 0;
}

static union sluice_word switch_read(const struct pipeline *pl)
{
	union sluice_word w = { .raw = __atomic_load_n(&pl->sw->word.raw, __ATOMIC_ACQUIRE) };

	return w;
}

/* The one step packets see: every packet after it reads the new word. */
static void switch_store(struct pipeline *pl, union sluice_word w)
{
	__atomic_store_n(&pl->sw->word.raw, w.raw, __ATOMIC_RELEASE);
}

static union sluice_word word_of(int bank, uint32_t gen)
{
	union sluice_word w = { .raw = 0 };

	w.bank = (__u8)bank;
	w.alt_bank = (__u8)bank;
	w.gen = (__u16)gen;
	w.alt_gen = (__u16)gen;
	return w;
}

/* 1 packet in every (a power of two, 0 = off) as the entry's shift byte: log2(every) + 1. */
static int every_to_shift(long every)
{
	int n = 0;

	if (every <= 0)
		return 0;
	if (every & (every - 1))
		return -EINVAL;
	while (every >> n > 1)
		n++;
	return n + 1;
}

int pipeline__set_knobs(struct pipeline *pl, long time_every, long sample_every, int record)
{
	int ts = every_to_shift(time_every), ss = every_to_shift(sample_every);

	if (!pl->sw)
		return -ENODEV;
	if (ts < 0 || ss < 0)
		return -EINVAL;
	if (time_every >= 0)
		__atomic_store_n(&pl->sw->time_shift, (__u8)ts, __ATOMIC_RELAXED);
	if (sample_every >= 0)
		__atomic_store_n(&pl->sw->sample_shift, (__u8)ss, __ATOMIC_RELAXED);
	if (record >= 0)
		__atomic_store_n(&pl->sw->record, (__u8)!!record, __ATOMIC_RELAXED);
	return 0;
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

static struct stage_maps maps_for(const struct pipeline *pl, const char *mdir, int progs_fd)
{
	struct stage_maps m = {
		.progs_fd = progs_fd,
		.maps_dir = mdir,
		.shared_dir = shared_dir_for(pl, mdir),
		.shared = pl->shared,
		.nr_shared = pl->nr_shared,
		.root_dir = pl->root,
	};

	return m;
}

static int load_one(struct pipeline *pl, const struct stage_src *src, const char *mdir, int progs_fd,
		    uint32_t slot, uint32_t next, int bank, uint32_t gen, uint32_t ver,
		    struct stage_inst *out, struct pipeline_err *err)
{
	struct stage_load_req req = {
		.src = src,
		.maps = maps_for(pl, mdir, progs_fd),
		.slot = slot,
		.next = next,
		.gen = (uint16_t)gen,
		.bank = (uint8_t)bank,
		.carrier = (uint8_t)pl->carrier,
		.ver = ver,
	};
	char why[256];
	uint64_t hash = 0;
	int ret;

	ret = stage_src__hash(src, &hash, why, sizeof(why));
	if (ret)
		return errf(err, ret, "stage '%s': %s", src->name,
			    why[0] ? why : strerror(-ret));
	free(err->verifier_log);
	err->verifier_log = NULL;
	ret = stage__load(&req, out, err->msg, sizeof(err->msg), &err->verifier_log);
	if (ret)
		return ret;
	out->hash = hash;
	out->next = next;
	return 0;
}

static int load_entry(struct pipeline *pl, const char *mdir, int progs_fd, struct stage_inst *out,
		      struct pipeline_err *err)
{
	struct entry_load_req req = {
		.maps = maps_for(pl, mdir, progs_fd),
		.carrier = (uint8_t)pl->carrier,
		.flags = pl->entry_flags,
	};

	free(err->verifier_log);
	err->verifier_log = NULL;
	return entry__load(&req, out, err->msg, sizeof(err->msg), &err->verifier_log);
}

/* The prog_array index stage i of an n-stage generation in bank tail-calls. */
static uint32_t next_slot(int bank, int i, int n)
{
	return i + 1 < n ? sluice_bank_base((uint32_t)bank) + (uint32_t)i + 1 : SLUICE_SLOT_END;
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
				     next_slot(j->g->bank, i, j->n), j->g->bank, j->g->gen,
				     j->ver0 + (uint32_t)i, &j->g->st[i], &j->err[i]);
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

	snprintf(path, sizeof(path), "%s/%s", mdir, SLUICE_MAP_SWITCH);
	return !stat(path, &st);
}

/*
 * Fills bank g->bank with a generation: every stage whose instance there
 * already runs the same code at the same position towards the same next
 * slot is kept (old: what the bank held, or NULL), the others load, on every
 * CPU at once, and go into their slots. The bank is idle (the switch word
 * names it nowhere) and quiescent (an RCU grace period has passed since it
 * was left), so failing anywhere leaves what runs untouched.
 */
static int gen_build(struct pipeline *pl, const struct stage_src *src, int n, const char *mdir,
		     const struct stage_inst *old, struct gen *g, struct pipeline_err *err)
{
	bool parallel = maps_exist(mdir);
	uint32_t base = sluice_bank_base((uint32_t)g->bank);
	uint64_t hash;
	int ret;

	g->n = n;
	for (int i = 0; old && i < n; i++) {
		if (old[i].fd < 0 || old[i].next != next_slot(g->bank, i, n) ||
		    stage_src__hash(&src[i], &hash, NULL, 0) || hash != old[i].hash)
			continue;
		g->st[i] = old[i];
		g->st[i].fd = fcntl(old[i].fd, F_DUPFD_CLOEXEC, 3);
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
		g->touched = true;
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
	return 0;
fail:
	gen_close(g);
	return ret;
}

static int gen_pin(struct pipeline *pl, struct gen *g, struct pipeline_err *err)
{
	char dir[PATH_MAX], name[32];
	int ret;

	bank_dir(pl, g->bank, dir, sizeof(dir));
	ret = mkdir_p(dir);
	/*
	 * Kept instances too: the bank's pins may have gone with a dropped
	 * candidate while its programs stayed. Past the end, nothing may stay.
	 */
	for (int i = 0; !ret && i < SLUICE_MAX_STAGES; i++) {
		stage_pin_name(i, name, sizeof(name));
		if (i >= g->n)
			unpin_at(dir, name);
		else
			ret = pin_at(g->st[i].fd, dir, name);
	}
	if (ret)
		return errf(err, ret, "pinning generation %u under %s: %s", g->gen, dir, strerror(-ret));
	return 0;
}

/*
 * A bank a new generation may be built in, never the live bank, a
 * candidate's or the canary's. A commit prefers the previous generation's
 * bank, whose unchanged stages it keeps instead of verifying them again
 * (its rollback then moves to the generation the commit replaces); a
 * candidate prefers a free bank, so that rollback stays.
 */
static int bank_pick(const struct pipeline *pl, bool prefer_prev, struct pipeline_err *err)
{
	int prev = -1, free_bank = -1;

	for (int b = 0; b < SLUICE_NR_BANKS; b++) {
		if (b == pl->bank && pl->gen)
			continue;
		if (pl->banks[b].state == SLUICE_BANK_FREE && free_bank < 0)
			free_bank = b;
		if (pl->banks[b].state == SLUICE_BANK_PREV)
			prev = b;
	}
	if (prefer_prev && prev >= 0)
		return prev;
	if (free_bank >= 0)
		return free_bank;
	if (prev >= 0)
		return prev;
	return errf(err, -EBUSY, "every bank of %s holds a candidate or a canary: commit or drop one "
		    "first", pl->ifname);
}

/* Builds generation src into an idle bank and pins it; nothing packets see changes. */
static int bank_build(struct pipeline *pl, const struct stage_src *src, int n, int default_verdict,
		      bool prefer_prev, struct gen *g, struct pipeline_err *err)
{
	char mdir[PATH_MAX];
	int bank, ret;

	bank = bank_pick(pl, prefer_prev, err);
	if (bank < 0)
		return bank;
	gen_init(g, pl->next_gen, bank);
	g->progs_fd = pl->progs_fd;
	maps_dir(pl, mdir, sizeof(mdir));
	ret = gen_build(pl, src, n, mdir, pl->banks[bank].st, g, err);
	if (ret) {
		/* Once a slot changed, what the bank held is no generation any more. */
		if (g->touched)
			bank_clear(&pl->banks[bank]);
		return ret;
	}
	ret = gen_pin(pl, g, err);
	if (ret) {
		gen_close(g);
		bank_clear(&pl->banks[bank]);
		return ret;
	}
	pl->next_gen++;
	/* What the bank held is gone from its slots now. */
	bank_clear(&pl->banks[bank]);
	if (pl->sw)
		__atomic_store_n(&pl->sw->verdict[bank], (__u8)default_verdict, __ATOMIC_RELAXED);
	return 0;
}

/* Gives bank g->bank generation g, in state st (fds move over). */
static void bank_take(struct pipeline *pl, struct gen *g, const struct stage_src *src,
		      int default_verdict, enum sluice_bank_state st)
{
	struct bank *b = &pl->banks[g->bank];

	bank_clear(b);
	b->state = st;
	b->gen = g->gen;
	b->default_verdict = default_verdict;
	b->nr_stages = g->n;
	for (int i = 0; i < SLUICE_MAX_STAGES; i++) {
		b->st[i] = g->st[i];
		if (i < g->n)
			b->src[i] = src[i];
	}
	gen_init(g, 0, 0);
}

/*
 * The live generation moves into banks[] (as state st) and bank nb's comes
 * out of it: pl->live/src describe what the switch word now names.
 */
static void bank_make_live(struct pipeline *pl, int nb, enum sluice_bank_state old_state)
{
	struct bank *b = &pl->banks[nb], *o = &pl->banks[pl->bank];
	struct stage_src *tmp;

	/* One previous generation at a time: the one this change replaces. */
	for (int i = 0; old_state == SLUICE_BANK_PREV && i < SLUICE_NR_BANKS; i++)
		if (i != nb && pl->banks[i].state == SLUICE_BANK_PREV)
			bank_free(&pl->banks[i]);
	if (pl->gen) {
		bank_clear(o);
		o->state = old_state;
		o->gen = pl->gen;
		o->default_verdict = pl->default_verdict;
		o->nr_stages = pl->nr_stages;
		memcpy(o->st, pl->live, sizeof(o->st));
		tmp = o->src;
		o->src = pl->src;
		pl->src = tmp;
	} else {
		insts_close(pl->live);
	}
	memcpy(pl->live, b->st, sizeof(pl->live));
	for (int i = 0; i < SLUICE_MAX_STAGES; i++)
		inst_reset(&b->st[i]);
	tmp = pl->src;
	pl->src = b->src;
	b->src = tmp;
	pl->bank = nb;
	pl->gen = b->gen;
	pl->default_verdict = b->default_verdict;
	pl->nr_stages = b->nr_stages;
	b->state = SLUICE_BANK_FREE;
	b->gen = b->cand = b->base = 0;
	b->nr_stages = 0;
	/* Per-stage rollback belongs to the generation that was swapped. */
	insts_close(pl->prev);
	{
		char pdir[PATH_MAX];

		prev_dir(pl, pdir, sizeof(pdir));
		rm_tree(pdir);
	}
}

/* ---- scratch copies: pre-flight ---- */

/*
 * A scratch generation must see the same rules as the live one but must not
 * count into the live counters: maps programs may write are copied into fresh
 * maps of the same shape (per-CPU counters and the per-CPU context start
 * empty), pinned under a scratch folder the loader reuses; maps programs only
 * read are shared.
 */
static int map_copy(int src_fd, const char *dir, const char *name)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int fd, ret = 0;
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
	/* Sockets, programs and ring buffers cannot be copied: the scratch run has its own. */
	if (info.type == BPF_MAP_TYPE_XSKMAP || info.type == BPF_MAP_TYPE_PROG_ARRAY ||
	    info.type == BPF_MAP_TYPE_DEVMAP || info.type == BPF_MAP_TYPE_CPUMAP ||
	    info.type == BPF_MAP_TYPE_RINGBUF)
		goto pin;
	percpu = info.type == BPF_MAP_TYPE_PERCPU_ARRAY || info.type == BPF_MAP_TYPE_PERCPU_HASH ||
		 info.type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
	/* Counters start at zero in the scratch copy; only configuration matters. */
	if (percpu)
		goto pin;
	key = calloc(1, info.key_size);
	next = calloc(1, info.key_size);
	val = calloc(1, info.value_size);
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

static int scratch_maps(struct pipeline *pl, const char *dir)
{
	char live[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int ret;

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

/*
 * A whole candidate pipeline over scratch copies of the state: its own
 * prog_array, entry, switch word and context map, never the live ones.
 * The caller runs frames through g->entry, then scratch_close().
 */
static int scratch_build(struct pipeline *pl, const struct stage_src *src, int n, char *dir,
			 size_t dirlen, struct gen *g, struct pipeline_err *err)
{
	static unsigned int seq;
	union sluice_word w;
	__u32 zero = 0;
	struct sluice_switch sw = {};
	uint32_t ver = pl->next_ver;
	int fd, ret;

	/* Several may exist at once (a shadow diff holds two): each its own folder. */
	snprintf(dir, dirlen, "%s/scratch%u", pl->dir, __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
	ret = scratch_maps(pl, dir);
	if (ret)
		return errf(err, ret, "pre-flight: copying state maps: %s", strerror(-ret));
	gen_init(g, pl->next_gen, pl->bank);
	g->own_progs = true;
	g->progs_fd = bpf_map_create(BPF_MAP_TYPE_PROG_ARRAY, SLUICE_MAP_PROGS, 4, 4,
				     SLUICE_PROG_SLOTS, NULL);
	if (g->progs_fd < 0) {
		ret = errf(err, -errno, "creating a scratch prog_array: %s", strerror(errno));
		goto fail;
	}
	ret = gen_build(pl, src, n, dir, NULL, g, err);
	pl->next_ver = ver;	/* scratch instances are not versions */
	if (ret)
		goto fail;
	ret = load_entry(pl, dir, g->progs_fd, &g->entry, err);
	if (ret)
		goto fail;
	fd = get_at(dir, SLUICE_MAP_SWITCH);
	if (fd < 0) {
		ret = errf(err, fd, "pre-flight: no scratch switch map: %s", strerror(-fd));
		goto fail;
	}
	w = word_of(g->bank, g->gen);
	sw.word = w;
	for (int b = 0; b < SLUICE_NR_BANKS; b++)
		sw.verdict[b] = (__u8)pl->default_verdict;
	ret = bpf_map_update_elem(fd, &zero, &sw, 0) ? -errno : 0;
	close(fd);
	if (ret) {
		errf(err, ret, "pre-flight: setting the scratch switch: %s", strerror(-ret));
		goto fail;
	}
	return 0;
fail:
	gen_close(g);
	rm_tree(dir);
	return ret;
}

static void scratch_close(struct gen *g, const char *dir)
{
	gen_close(g);
	rm_tree(dir);
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

struct pipeline_scratch {
	struct gen g;
	char dir[PATH_MAX];
};

int pipeline__scratch_open(struct pipeline *pl, const struct stage_src *src, int n,
			   struct pipeline_scratch **out, struct pipeline_err *err)
{
	struct pipeline_scratch *sc = calloc(1, sizeof(*sc));
	int ret;

	if (!sc)
		return errf(err, -ENOMEM, "out of memory");
	ret = pipeline__validate(src, n, err);
	if (!ret)
		ret = scratch_build(pl, src, n, sc->dir, sizeof(sc->dir), &sc->g, err);
	if (ret) {
		free(sc);
		return ret;
	}
	*out = sc;
	return 0;
}

int pipeline__scratch_run(struct pipeline_scratch *sc, const void *frame, size_t len, uint32_t *verdict)
{
	struct preflight_pkt p = { .frame = frame, .len = len };

	return run_one(sc->g.entry.fd, &p, verdict);
}

void pipeline__scratch_close(struct pipeline_scratch *sc)
{
	if (!sc)
		return;
	scratch_close(&sc->g, sc->dir);
	free(sc);
}

static int preflight(struct pipeline *pl, const struct stage_src *src, int n,
		     const struct preflight_pkt *pf, size_t nr_pf, struct pipeline_err *err)
{
	char dir[PATH_MAX];
	struct gen g;
	uint32_t v = 0;
	int ret;

	if (!nr_pf)
		return 0;
	ret = scratch_build(pl, src, n, dir, sizeof(dir), &g, err);
	if (ret)
		return ret;
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
	scratch_close(&g, dir);
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
	pl->progs_fd = bpf_map_create(BPF_MAP_TYPE_PROG_ARRAY, SLUICE_MAP_PROGS, 4, 4,
				      SLUICE_PROG_SLOTS, NULL);
	if (pl->progs_fd < 0)
		return errf(err, -errno, "creating the prog_array: %s", strerror(errno));
	ret = pin_at(pl->progs_fd, pl->dir, SLUICE_PIN_PROGS);
	if (ret)
		return errf(err, ret, "pinning the prog_array: %s", strerror(-ret));
	/* The entry first: its load creates and pins the switch map and the counters. */
	ret = load_entry(pl, mdir, pl->progs_fd, &pl->entry, err);
	if (ret)
		return ret;
	ret = pin_at(pl->entry.fd, pl->dir, SLUICE_PIN_ENTRY);
	if (ret)
		return errf(err, ret, "pinning the entry: %s", strerror(-ret));
	ret = switch_open(pl);
	if (ret)
		return errf(err, ret, "mapping the switch word: %s", strerror(-ret));
	pl->bank = 0;
	ret = bank_build(pl, src, n, default_verdict, false, &g, err);
	if (ret)
		return ret;
	ret = g.bank;
	bank_take(pl, &g, src, default_verdict, SLUICE_BANK_PREPARED);
	bank_make_live(pl, ret, SLUICE_BANK_FREE);
	/* Before anything is attached: the first packet already reads it. */
	switch_store(pl, word_of(pl->bank, pl->gen));
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

/* Whether anything of this interface is pinned (a folder with entries in it). */
static bool pins_present(const struct pipeline *pl)
{
	struct dirent *e;
	DIR *d = opendir(pl->dir);
	bool any = false;

	if (!d)
		return false;
	while (!any && (e = readdir(d)))
		any = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return any;
}

int pipeline__create(struct pipeline *pl, const struct stage_src *src, int n, int default_verdict,
		     struct pipeline_err *err)
{
	int ret;

	/* A pipeline pinned there may still carry traffic: only adoption may touch it. */
	if (pins_present(pl))
		return errf(err, -EEXIST, "%s holds pins of a pipeline: adopt it, or take it down with "
			    "'sluicectl down %s'", pl->dir, pl->ifname);
	ret = pipeline__load(pl, src, n, default_verdict, err);
	if (!ret)
		ret = pipeline__attach(pl, pl->mode, pl->how, err);
	if (ret) {
		char msg[sizeof(err->msg)];

		/* Nothing attached: everything under the folder is this call's own. */
		memcpy(msg, err->msg, sizeof(msg));
		pipeline__destroy(pl);
		memcpy(err->msg, msg, sizeof(msg));
	}
	return ret;
}

/* ---- adoption ---- */

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

/* The id of a pinned program, 0 when there is none. */
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

/* The id of the program in a prog_array slot, 0 = empty. */
static uint32_t slot_prog_id(int progs_fd, uint32_t key)
{
	__u32 id = 0;

	return bpf_map_lookup_elem(progs_fd, &key, &id) ? 0 : id;
}

/*
 * Opens bank b's stage i: its pin, unless the slot runs another program (a
 * daemon killed between a swap's slot update and its pin), in which case
 * what runs wins and its hash is forgotten (the configuration is applied
 * again). Returns the fd or a negative errno.
 */
static int adopt_stage(struct pipeline *pl, int b, int i, bool *drifted)
{
	char dir[PATH_MAX], name[32];
	uint32_t running = slot_prog_id(pl->progs_fd, sluice_bank_base((uint32_t)b) + (uint32_t)i);
	int fd;

	bank_dir(pl, b, dir, sizeof(dir));
	stage_pin_name(i, name, sizeof(name));
	fd = get_at(dir, name);
	if (fd >= 0 && running) {
		struct bpf_prog_info pi = {};
		__u32 len = sizeof(pi);

		if (!bpf_obj_get_info_by_fd(fd, &pi, &len) && pi.id == running)
			return fd;
		close(fd);
		fd = -ESTALE;
	}
	if (!running)
		return fd >= 0 ? -ENOENT : fd;
	fd = bpf_prog_get_fd_by_id(running);
	if (fd < 0)
		return -errno;
	*drifted = true;
	pin_at(fd, dir, name);
	return fd;
}

static int adopt_bank(struct pipeline *pl, const struct sluice_bank_info *bi, int b,
		      struct stage_inst *st, struct stage_src *src, struct pipeline_err *err)
{
	for (int i = 0; i < bi->nr_stages; i++) {
		bool drifted = false;
		int fd = adopt_stage(pl, b, i, &drifted);

		if (fd < 0)
			return errf(err, fd, "%s: bank %d has no program at position %d (stage '%.*s'): "
				    "%s", pl->dir, b, i, SLUICE_NAME_LEN, bi->stages[i].name,
				    strerror(-fd));
		inst_from_fd(&st[i], fd);
		st[i].hash = drifted ? 0 : bi->stages[i].hash;
		st[i].ver = bi->stages[i].ver;
		st[i].next = next_slot(b, i, bi->nr_stages);
		memset(&src[i], 0, sizeof(src[i]));
		snprintf(src[i].name, sizeof(src[i].name), "%.*s", SLUICE_NAME_LEN - 1,
			 bi->stages[i].name);
	}
	return 0;
}

int pipeline__adopt(struct pipeline *pl, struct pipeline_err *err)
{
	struct sluice_pipeline_info *info = NULL;
	char pdir[PATH_MAX], name[32];
	union sluice_word w;
	__u32 zero = 0;
	uint32_t run;
	int fd, ret, live;

	if (!pins_present(pl))
		return -ENOENT;
	info = calloc(1, sizeof(*info));
	if (!info)
		return errf(err, -ENOMEM, "out of memory");
	fd = info_fd(pl, false);
	if (fd < 0) {
		ret = errf(err, -EUCLEAN, "%s holds pins but no pipeline info (%s): traffic may still "
			   "run through what is attached; take it down with 'sluicectl down %s' "
			   "(or remove the folder) before starting", pl->dir, strerror(-fd), pl->ifname);
		goto out;
	}
	/* An info value of another layout reads short: the kernel refuses the lookup. */
	ret = bpf_map_lookup_elem(fd, &zero, info) ? -errno : 0;
	close(fd);
	if (ret || info->magic != SLUICE_INFO_MAGIC || info->abi != SLUICE_ABI_VERSION) {
		ret = errf(err, -EPROTONOSUPPORT, "%s was pinned by a sluice of another layout "
			   "(abi %u, this one is %d): upgrade it in place or take it down first",
			   pl->dir, ret ? 0 : info->abi, SLUICE_ABI_VERSION);
		goto out;
	}
	pl->carrier = info->carrier;
	pl->entry_flags = info->entry_flags;
	pl->next_gen = info->next_gen;
	pl->next_ver = info->next_ver;
	pl->next_cand = info->next_cand;
	pl->changes = info->changes;
	pl->progs_fd = get_at(pl->dir, SLUICE_PIN_PROGS);
	fd = get_at(pl->dir, SLUICE_PIN_ENTRY);
	if (pl->progs_fd < 0 || fd < 0) {
		ret = pl->progs_fd < 0 ? pl->progs_fd : fd;
		if (fd >= 0)
			close(fd);
		ret = errf(err, -EUCLEAN, "%s: the %s pin is missing (%s): the pipeline cannot be "
			   "adopted; take it down with 'sluicectl down %s'", pl->dir,
			   pl->progs_fd < 0 ? "prog_array" : "entry", strerror(-ret), pl->ifname);
		goto fail;
	}
	inst_from_fd(&pl->entry, fd);
	ret = switch_open(pl);
	if (ret) {
		ret = errf(err, -EUCLEAN, "%s: the switch map is missing (%s)", pl->dir, strerror(-ret));
		goto fail;
	}
	/*
	 * What runs is what the switch word names, whatever info says: a daemon
	 * killed between the store and its info write left the candidate it
	 * was committing there, and the generation before it is the previous one.
	 */
	w = switch_read(pl);
	live = w.bank & (SLUICE_NR_BANKS - 1);
	if (info->banks[live].state != SLUICE_BANK_LIVE) {
		for (int b = 0; b < SLUICE_NR_BANKS; b++)
			if (info->banks[b].state == SLUICE_BANK_LIVE)
				info->banks[b].state = SLUICE_BANK_PREV;
		info->banks[live].state = SLUICE_BANK_LIVE;
		info->banks[live].gen = w.gen;
	}
	if (info->banks[live].nr_stages < 1 || info->banks[live].nr_stages > SLUICE_MAX_STAGES) {
		ret = errf(err, -EUCLEAN, "%s: corrupt pipeline info (bank %d)", pl->dir, live);
		goto fail;
	}
	pl->bank = live;
	pl->gen = info->banks[live].gen;
	pl->nr_stages = info->banks[live].nr_stages;
	pl->default_verdict = info->banks[live].default_verdict;
	ret = adopt_bank(pl, &info->banks[live], live, pl->live, pl->src, err);
	if (ret)
		goto fail;
	for (int b = 0; b < SLUICE_NR_BANKS; b++) {
		struct sluice_bank_info *bi = &info->banks[b];
		struct bank *bk = &pl->banks[b];
		struct pipeline_err ignore = {};

		if (b == live || bi->state == SLUICE_BANK_FREE || bi->nr_stages > SLUICE_MAX_STAGES)
			continue;
		/* A bank that cannot be adopted whole is not live: forget it. */
		if (adopt_bank(pl, bi, b, bk->st, bk->src, &ignore)) {
			bank_clear(bk);
			continue;
		}
		bk->state = bi->state;
		bk->gen = bi->gen;
		bk->cand = bi->cand;
		bk->base = bi->base;
		bk->default_verdict = bi->default_verdict;
		bk->nr_stages = bi->nr_stages;
	}
	prev_dir(pl, pdir, sizeof(pdir));
	for (int i = 0; i < pl->nr_stages; i++) {
		stage_pin_name(i, name, sizeof(name));
		fd = get_at(pdir, name);
		if (fd < 0)
			continue;
		/* Its code is pinned; where it came from is not recorded. */
		inst_from_fd(&pl->prev[i], fd);
		pl->prev_src[i] = pl->src[i];
		snprintf(pl->prev_src[i].object, sizeof(pl->prev_src[i].object), "(previous version)");
	}
	pl->link_fd = get_at(pl->dir, SLUICE_PIN_LINK);
	run = running_prog(pl);
	if (pl->link_fd >= 0) {
		struct bpf_link_info li = {};
		__u32 len = sizeof(li);

		if (!bpf_obj_get_info_by_fd(pl->link_fd, &li, &len)) {
			pl->link_id = li.id;
			pl->ifindex = (int)li.xdp.ifindex;
		}
		LIBBPF_OPTS(bpf_xdp_query_opts, q);
		if (pl->ifindex && !bpf_xdp_query(pl->ifindex, 0, &q))
			pl->native = q.attach_mode == XDP_ATTACHED_DRV;
	} else if (run && run == pl->entry.prog_id) {
		/* Attached without a link (libxdp): the interface itself says what runs. */
		LIBBPF_OPTS(bpf_xdp_query_opts, q);

		pl->how = SLUICE_ATTACH_LIBXDP;
		if (!bpf_xdp_query(pl->ifindex, 0, &q))
			pl->native = q.attach_mode == XDP_ATTACHED_DRV;
	}
	if (run && run != pl->entry.prog_id) {
		ret = errf(err, -EUCLEAN, "%s: the interface runs program %u, the pinned entry is %u: "
			   "another program replaced sluice's", pl->dir, run, pl->entry.prog_id);
		goto fail;
	}
	free(info);
	return 0;
fail:
	pl_close_fds(pl);
	pl->gen = 0;
	pl->nr_stages = 0;
out:
	free(info);
	return ret;
}

bool pipeline__attached(const struct pipeline *pl)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (pl->link_fd >= 0)
		return true;
	return pl->ifindex && pl->entry.fd >= 0 && !bpf_xdp_query(pl->ifindex, 0, &q) &&
	       q.prog_id == pl->entry.prog_id;
}

/* The pin root's selector words go with its last interface. */
static void selectors_release(const struct pipeline *pl)
{
	struct dirent *e;
	DIR *d = opendir(pl->root);
	bool others = false;

	if (!d)
		return;
	while (!others && (e = readdir(d)))
		others = strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
			 strcmp(e->d_name, SLUICE_PIN_SELECTORS);
	closedir(d);
	if (!others)
		unpin_at(pl->root, SLUICE_PIN_SELECTORS);
}

int pipeline__destroy(struct pipeline *pl)
{
	/* Unpinning the link and closing our fd detaches the program. */
	rm_tree(pl->dir);
	selectors_release(pl);
	if (pl->how == SLUICE_ATTACH_LIBXDP && pl->ifindex && pl->entry.fd >= 0) {
		LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = pl->entry.fd);
		bpf_xdp_detach(pl->ifindex, XDP_FLAGS_REPLACE, &o);
	}
	pl_close_fds(pl);
	pl->gen = 0;
	pl->nr_stages = 0;
	return 0;
}

/* ---- changes under traffic ---- */

int pipeline__swap_stage(struct pipeline *pl, int idx, const struct stage_src *src,
			 const struct preflight_pkt *pf, size_t nr_pf, struct pipeline_err *err)
{
	char mdir[PATH_MAX], pdir[PATH_MAX], gdir[PATH_MAX], name[32];
	__u32 key = sluice_bank_base((uint32_t)pl->bank) + (__u32)idx;
	struct stage_src *cand;
	struct stage_inst ni;
	uint64_t t0, t1;
	int ret;

	if (idx < 0 || idx >= pl->nr_stages)
		return errf(err, -ENOENT, "no stage in slot %d", idx);
	if (nr_pf) {
		cand = calloc(SLUICE_MAX_STAGES, sizeof(*cand));
		if (!cand)
			return errf(err, -ENOMEM, "out of memory");
		memcpy(cand, pl->src, sizeof(*cand) * SLUICE_MAX_STAGES);
		cand[idx] = *src;
		memcpy(cand[idx].name, pl->src[idx].name, sizeof(cand[idx].name));
		ret = preflight(pl, cand, pl->nr_stages, pf, nr_pf, err);
		free(cand);
		if (ret)
			return ret;
	}
	maps_dir(pl, mdir, sizeof(mdir));
	t0 = sluice_now_us();
	ret = load_one(pl, src, mdir, pl->progs_fd, (uint32_t)idx, next_slot(pl->bank, idx, pl->nr_stages),
		       pl->bank, pl->gen, pl->next_ver, &ni, err);
	if (ret)
		return ret;
	pl->next_ver++;
	t1 = sluice_now_us();

	/* The one step packets see: a single slot update is atomic for them. */
	if (bpf_map_update_elem(pl->progs_fd, &key, &ni.fd, BPF_ANY)) {
		ret = -errno;
		inst_close(&ni);
		return errf(err, ret, "updating slot %u: %s", key, strerror(-ret));
	}
	pl->last_switch_at_us = sluice_now_us();
	pl->last_build_us = t1 - t0;
	pl->last_switch_us = pl->last_switch_at_us - t1;

	/*
	 * Keep the replaced version pinned: rollback is one more update. A
	 * crash before these pins is found by adoption, which trusts the slot.
	 */
	prev_dir(pl, pdir, sizeof(pdir));
	bank_dir(pl, pl->bank, gdir, sizeof(gdir));
	stage_pin_name(idx, name, sizeof(name));
	mkdir_p(pdir);
	inst_close(&pl->prev[idx]);
	pl->prev[idx] = pl->live[idx];
	pl->live[idx] = ni;
	pl->changes++;
	pl->prev_src[idx] = pl->src[idx];
	pl->src[idx] = *src;
	memcpy(pl->src[idx].name, pl->prev_src[idx].name, sizeof(pl->src[idx].name));
	ret = pin_at(pl->prev[idx].fd, pdir, name);
	if (!ret)
		ret = pin_at(ni.fd, gdir, name);
	if (!ret)
		ret = info_write(pl);
	if (ret)
		return errf(err, ret, "stage '%s' is live, but recording it under %s failed: %s",
			    pl->src[idx].name, pl->dir, strerror(-ret));
	return 0;
}

int pipeline__rollback_stage(struct pipeline *pl, int idx, struct pipeline_err *err)
{
	char pdir[PATH_MAX], gdir[PATH_MAX], name[32];
	__u32 key = sluice_bank_base((uint32_t)pl->bank) + (__u32)idx;
	struct stage_inst tmp;
	struct stage_src s;
	int ret;

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
	pl->changes++;
	s = pl->src[idx];
	pl->src[idx] = pl->prev_src[idx];
	pl->prev_src[idx] = s;
	prev_dir(pl, pdir, sizeof(pdir));
	bank_dir(pl, pl->bank, gdir, sizeof(gdir));
	stage_pin_name(idx, name, sizeof(name));
	ret = pin_at(pl->live[idx].fd, gdir, name);
	if (!ret)
		ret = pin_at(pl->prev[idx].fd, pdir, name);
	if (!ret)
		ret = info_write(pl);
	if (ret)
		return errf(err, ret, "rolled back, but recording it under %s failed: %s", pl->dir,
			    strerror(-ret));
	return 0;
}

/*
 * Makes bank nb live with one store into the switch word, then waits until
 * no packet can still be inside the bank it left. Info is written before
 * the store (nb recorded as a candidate) and after it, so a crash between
 * the two is resolved by adoption from the word.
 */
static int switch_to(struct pipeline *pl, int nb, struct pipeline_err *err)
{
	uint64_t t1 = sluice_now_us();
	int ret;

	ret = info_write(pl);
	if (ret)
		return errf(err, ret, "recording the candidate under %s: %s", pl->dir, strerror(-ret));
	switch_store(pl, word_of(nb, pl->banks[nb].gen));
	pl->last_switch_at_us = sluice_now_us();
	pl->last_switch_us = pl->last_switch_at_us - t1;
	/*
	 * Packets already inside the old bank finish there; a later build may
	 * rewrite its slots, so wait for them now.
	 */
	sluice_rcu_wait();
	bank_make_live(pl, nb, SLUICE_BANK_PREV);
	pl->changes++;
	ret = info_write(pl);
	if (ret)
		return errf(err, ret, "generation %u is live, but recording it under %s failed: %s",
			    pl->gen, pl->dir, strerror(-ret));
	return 0;
}

static int build_candidate(struct pipeline *pl, const struct stage_src *src, int n,
			   const struct preflight_pkt *pf, size_t nr_pf, bool prefer_prev,
			   enum sluice_bank_state st, struct pipeline_err *err)
{
	struct gen g;
	uint64_t t0;
	int ret, nb;

	ret = pipeline__validate(src, n, err);
	if (!ret)
		ret = preflight(pl, src, n, pf, nr_pf, err);
	if (ret)
		return ret;
	t0 = sluice_now_us();
	ret = bank_build(pl, src, n, pl->default_verdict, prefer_prev, &g, err);
	if (ret)
		return ret;
	pl->last_build_us = sluice_now_us() - t0;
	nb = g.bank;
	bank_take(pl, &g, src, pl->default_verdict, st);
	pl->banks[nb].base = pl->changes;
	if (st == SLUICE_BANK_PREPARED || st == SLUICE_BANK_CANARY)
		pl->banks[nb].cand = pl->next_cand++;
	return nb;
}

int pipeline__commit(struct pipeline *pl, const struct stage_src *src, int n,
		     const struct preflight_pkt *pf, size_t nr_pf, struct pipeline_err *err)
{
	int nb = build_candidate(pl, src, n, pf, nr_pf, true, SLUICE_BANK_PREPARED, err);

	if (nb < 0)
		return nb;
	return switch_to(pl, nb, err);
}

int pipeline__rollback_commit(struct pipeline *pl, struct pipeline_err *err)
{
	for (int b = 0; b < SLUICE_NR_BANKS; b++)
		if (b != pl->bank && pl->banks[b].state == SLUICE_BANK_PREV)
			return switch_to(pl, b, err);
	return errf(err, -ENOENT, "%s has no previous generation to roll back to", pl->ifname);
}

int pipeline__prepare(struct pipeline *pl, const struct stage_src *src, int n,
		      const struct preflight_pkt *pf, size_t nr_pf, uint32_t *cand,
		      struct pipeline_err *err)
{
	int nb = build_candidate(pl, src, n, pf, nr_pf, false, SLUICE_BANK_PREPARED, err), ret;

	if (nb < 0)
		return nb;
	*cand = pl->banks[nb].cand;
	ret = info_write(pl);
	return ret ? errf(err, ret, "recording the candidate: %s", strerror(-ret)) : 0;
}

int pipeline__candidate_bank(const struct pipeline *pl, uint32_t cand)
{
	for (int b = 0; b < SLUICE_NR_BANKS; b++)
		if (b != pl->bank && pl->banks[b].cand == cand &&
		    (pl->banks[b].state == SLUICE_BANK_PREPARED || pl->banks[b].state == SLUICE_BANK_CANARY))
			return b;
	return -ENOENT;
}

static int candidate_check(const struct pipeline *pl, uint32_t cand, struct pipeline_err *err)
{
	int b = pipeline__candidate_bank(pl, cand);

	if (b < 0)
		return errf(err, -ENOENT, "%s has no candidate %u", pl->ifname, cand);
	if (pl->banks[b].base != pl->changes)
		return errf(err, -ESTALE, "candidate %u of %s is stale: what runs has changed %u "
			    "time(s) since it was prepared (generation %u is live now): prepare it again",
			    cand, pl->ifname, pl->changes - pl->banks[b].base, pl->gen);
	return b;
}

int pipeline__commit_prepared(struct pipeline *pl, uint32_t cand, struct pipeline_err *err)
{
	int b = candidate_check(pl, cand, err);

	if (b < 0)
		return b;
	if (pl->banks[b].state == SLUICE_BANK_CANARY)
		return errf(err, -EBUSY, "candidate %u is a canary: promote or abort it", cand);
	return switch_to(pl, b, err);
}

static void bank_unpin(struct pipeline *pl, int b)
{
	char dir[PATH_MAX];

	bank_dir(pl, b, dir, sizeof(dir));
	rm_tree(dir);
}

int pipeline__drop_candidate(struct pipeline *pl, uint32_t cand, struct pipeline_err *err)
{
	int b = pipeline__candidate_bank(pl, cand);

	if (b < 0)
		return errf(err, -ENOENT, "%s has no candidate %u", pl->ifname, cand);
	if (pl->banks[b].state == SLUICE_BANK_CANARY)
		return errf(err, -EBUSY, "candidate %u is a canary: abort it", cand);
	bank_free(&pl->banks[b]);
	bank_unpin(pl, b);
	return info_write(pl);
}

int pipeline__canary_bank(const struct pipeline *pl)
{
	for (int b = 0; b < SLUICE_NR_BANKS; b++)
		if (b != pl->bank && pl->banks[b].state == SLUICE_BANK_CANARY)
			return b;
	return -ENOENT;
}

int pipeline__canary_start(struct pipeline *pl, uint32_t cand, uint32_t share,
			   struct pipeline_err *err)
{
	union sluice_word w;
	int b = candidate_check(pl, cand, err), ret;

	if (b < 0)
		return b;
	if (share < 1 || share > SLUICE_SHARE_ONE)
		return errf(err, -ERANGE, "a canary's share is between 1 and %u of %u", SLUICE_SHARE_ONE,
			    SLUICE_SHARE_ONE);
	ret = pipeline__canary_bank(pl);
	if (ret >= 0 && ret != b)
		return errf(err, -EBUSY, "%s already runs a canary (candidate %u)", pl->ifname,
			    pl->banks[ret].cand);
	pl->banks[b].state = SLUICE_BANK_CANARY;
	ret = info_write(pl);
	if (ret)
		return errf(err, ret, "recording the canary: %s", strerror(-ret));
	w = word_of(pl->bank, pl->gen);
	w.alt_bank = (__u8)b;
	w.alt_gen = (__u16)pl->banks[b].gen;
	w.share = (__u16)share;
	switch_store(pl, w);
	pl->last_switch_at_us = sluice_now_us();
	return 0;
}

int pipeline__canary_promote(struct pipeline *pl, struct pipeline_err *err)
{
	int b = pipeline__canary_bank(pl);

	if (b < 0)
		return errf(err, -ENOENT, "%s runs no canary", pl->ifname);
	return switch_to(pl, b, err);
}

int pipeline__canary_abort(struct pipeline *pl, struct pipeline_err *err)
{
	int b = pipeline__canary_bank(pl);

	if (b < 0)
		return errf(err, -ENOENT, "%s runs no canary", pl->ifname);
	switch_store(pl, word_of(pl->bank, pl->gen));
	/* Its flows may still be inside the canary's bank. */
	sluice_rcu_wait();
	bank_free(&pl->banks[b]);
	bank_unpin(pl, b);
	return info_write(pl);
}

/* ---- several interfaces at one instant ---- */

static int selectors_map(const char *root, __u64 **sel, struct pipeline_err *err)
{
	size_t len = (SLUICE_NR_SELECTORS * sizeof(__u64) + 4095) & ~(size_t)4095;
	int fd = get_at(root, SLUICE_PIN_SELECTORS);
	void *p;

	if (fd < 0)
		return errf(err, fd, "%s/%s: %s", root, SLUICE_PIN_SELECTORS, strerror(-fd));
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return errf(err, -errno, "mapping the selectors: %s", strerror(errno));
	*sel = p;
	return 0;
}

/*
 * Selector words: bit 1 = taken by a group commit, bit 0 = its interfaces
 * run their alternative bank. Taken with a compare-and-swap, so two daemons
 * of one pin root never share one.
 */
#define SEL_TAKEN	2ull
#define SEL_FLIP	1ull

int pipeline__commit_group(struct pipeline **pls, const uint32_t *cands, int n,
			   struct pipeline_err *err)
{
	size_t len = (SLUICE_NR_SELECTORS * sizeof(__u64) + 4095) & ~(size_t)4095;
	int banks[SLUICE_NR_BANKS * 16];
	__u64 *sel = NULL;
	int s = -1, ret;

	if (n < 1 || n > (int)(sizeof(banks) / sizeof(banks[0])))
		return errf(err, -EINVAL, "a group commit names 1 to %zu interfaces",
			    sizeof(banks) / sizeof(banks[0]));
	/* Every part first: a stale or missing candidate leaves every interface as it is. */
	for (int i = 0; i < n; i++) {
		banks[i] = candidate_check(pls[i], cands[i], err);
		if (banks[i] < 0)
			return banks[i];
		for (int j = 0; j < i; j++)
			if (!strcmp(pls[i]->root, pls[j]->root) && !strcmp(pls[i]->ifname, pls[j]->ifname))
				return errf(err, -EINVAL, "%s is named twice", pls[i]->ifname);
		if (strcmp(pls[i]->root, pls[0]->root))
			return errf(err, -EXDEV, "%s and %s have different pin roots: no selector "
				    "reaches both", pls[0]->ifname, pls[i]->ifname);
	}
	ret = selectors_map(pls[0]->root, &sel, err);
	if (ret)
		return ret;
	for (int i = 1; i < SLUICE_NR_SELECTORS && s < 0; i++) {
		__u64 expect = 0;

		if (__atomic_compare_exchange_n(&sel[i], &expect, SEL_TAKEN, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			s = i;
	}
	if (s < 0) {
		ret = errf(err, -EBUSY, "every selector of %s is taken", pls[0]->root);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		ret = info_write(pls[i]);
		if (ret) {
			errf(err, ret, "%s: recording the candidate: %s", pls[i]->ifname, strerror(-ret));
			goto release;
		}
	}
	/* Each interface follows the selector; while it is even, nothing changes. */
	for (int i = 0; i < n; i++) {
		union sluice_word w = word_of(pls[i]->bank, pls[i]->gen);

		w.alt_bank = (__u8)banks[i];
		w.alt_gen = (__u16)pls[i]->banks[banks[i]].gen;
		w.share = (__u16)(SLUICE_SHARE_GROUP | (unsigned int)s);
		switch_store(pls[i], w);
	}
	/* The one step packets see, on every interface at once. */
	__atomic_store_n(&sel[s], SEL_TAKEN | SEL_FLIP, __ATOMIC_RELEASE);
	for (int i = 0; i < n; i++)
		pls[i]->last_switch_at_us = sluice_now_us();
	/* Each word now names its new bank itself; the selector is free again. */
	for (int i = 0; i < n; i++)
		switch_store(pls[i], word_of(banks[i], pls[i]->banks[banks[i]].gen));
	sluice_rcu_wait();
	for (int i = 0; i < n; i++) {
		bank_make_live(pls[i], banks[i], SLUICE_BANK_PREV);
		pls[i]->changes++;
		info_write(pls[i]);
	}
	ret = 0;
release:
	__atomic_store_n(&sel[s], 0, __ATOMIC_RELEASE);
out:
	munmap(sel, len);
	return ret;
}

/* ---- slot drift ---- */

int pipeline__drift(const struct pipeline *pl, uint32_t *running)
{
	int drifted = 0;

	for (int i = 0; i < pl->nr_stages; i++) {
		uint32_t id = slot_prog_id(pl->progs_fd, sluice_bank_base((uint32_t)pl->bank) + (uint32_t)i);

		if (running)
			running[i] = id;
		if (id != pl->live[i].prog_id)
			drifted |= 1 << i;
	}
	return drifted;
}

int pipeline__repair(struct pipeline *pl, struct pipeline_err *err)
{
	int drifted = pipeline__drift(pl, NULL), fixed = 0;

	for (int i = 0; i < pl->nr_stages; i++) {
		__u32 key = sluice_bank_base((uint32_t)pl->bank) + (__u32)i;

		if (!(drifted & (1 << i)))
			continue;
		if (bpf_map_update_elem(pl->progs_fd, &key, &pl->live[i].fd, BPF_ANY))
			return errf(err, -errno, "restoring slot %u of %s: %s", key, pl->ifname,
				    strerror(errno));
		fixed++;
	}
	return fixed;
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

/* Adds every CPU's value of key into sum, a struct of n u64 counters. */
static int percpu_sum(int fd, __u32 key, __u64 *sum, size_t n, __u64 *buf, int ncpu)
{
	if (bpf_map_lookup_elem(fd, &key, buf))
		return -errno;
	for (int c = 0; c < ncpu; c++)
		for (size_t w = 0; w < n; w++)
			sum[w] += buf[(size_t)c * n + w];
	return 0;
}

int pipeline__percpu_sum(const struct pipeline *pl, const char *map, uint64_t *out, uint32_t n,
			 size_t words)
{
	int ncpu = libbpf_num_possible_cpus(), fd, ret = 0;
	__u64 *buf;

	memset(out, 0, n * words * sizeof(*out));
	if (ncpu < 1)
		return ncpu;
	fd = pipeline__map_fd(pl, map);
	if (fd < 0)
		return fd;
	buf = calloc((size_t)ncpu * words, sizeof(*buf));
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (uint32_t k = 0; k < n && !ret; k++)
		ret = percpu_sum(fd, k, (__u64 *)out + (size_t)k * words, words, buf, ncpu);
	free(buf);
	close(fd);
	return ret;
}

/* bank < 0: every bank. */
static int stats_of(const struct pipeline *pl, int bank, struct sluice_pipe_stats *ps,
		    struct sluice_slot_stats *slots)
{
	int ncpu = libbpf_num_possible_cpus(), pfd = -1, sfd = -1, ret = 0;
	__u64 *buf;

	if (ncpu < 1)
		return ncpu;
	buf = calloc((size_t)ncpu, sizeof(struct sluice_pipe_stats) > sizeof(struct sluice_slot_stats)
				   ? sizeof(struct sluice_pipe_stats) : sizeof(struct sluice_slot_stats));
	if (!buf)
		return -ENOMEM;
	memset(ps, 0, sizeof(*ps));
	if (slots)
		memset(slots, 0, sizeof(*slots) * SLUICE_MAX_STAGES);
	pfd = pipeline__map_fd(pl, SLUICE_MAP_PIPE_STATS);
	sfd = pipeline__map_fd(pl, SLUICE_MAP_SLOT_STATS);
	if (pfd < 0 || sfd < 0) {
		ret = pfd < 0 ? pfd : sfd;
		goto out;
	}
	for (int b = 0; b < SLUICE_NR_BANKS; b++) {
		if (bank >= 0 && b != bank)
			continue;
		percpu_sum(pfd, (__u32)b, (__u64 *)ps, sizeof(*ps) / 8, buf, ncpu);
		for (int i = 0; slots && i < SLUICE_MAX_STAGES; i++)
			percpu_sum(sfd, sluice_bank_base((__u32)b) + (__u32)i, (__u64 *)&slots[i],
				   sizeof(*slots) / 8, buf, ncpu);
	}
	/* The map counts packets by the last slot they reached: entered = this one and later ones. */
	for (int i = SLUICE_MAX_STAGES - 2; slots && i >= 0; i--) {
		slots[i].packets += slots[i + 1].packets;
		slots[i].bytes += slots[i + 1].bytes;
	}
out:
	if (pfd >= 0)
		close(pfd);
	if (sfd >= 0)
		close(sfd);
	free(buf);
	return ret;
}

int pipeline__stats(const struct pipeline *pl, struct sluice_pipe_stats *ps,
		    struct sluice_slot_stats *slots)
{
	return stats_of(pl, -1, ps, slots);
}

int pipeline__stats_bank(const struct pipeline *pl, int bank, struct sluice_pipe_stats *ps,
			 struct sluice_slot_stats *slots)
{
	if (bank < 0 || bank >= SLUICE_NR_BANKS)
		return -EINVAL;
	return stats_of(pl, bank, ps, slots);
}

/* This CPU's per-CPU context after a run. */
static int ctx_percpu_read(const struct pipeline *pl, int cpu, struct sluice_meta *meta)
{
	int ncpu = libbpf_num_possible_cpus(), fd, ret = 0;
	struct sluice_meta *v;
	__u32 zero = 0;

	if (ncpu < 1 || cpu >= ncpu)
		return -EINVAL;
	v = calloc((size_t)ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	fd = pipeline__map_fd(pl, SLUICE_MAP_CTX);
	if (fd < 0) {
		free(v);
		return fd;
	}
	if (bpf_map_lookup_elem(fd, &zero, v))
		ret = -errno;
	else
		*meta = v[cpu];
	close(fd);
	free(v);
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
	cpu_set_t old, one;
	int ret = 0, cpu;

	/*
	 * With the per-CPU carrier the context is read back from the CPU the
	 * run took: keep this thread on one CPU for the run and the read.
	 */
	if (sched_getaffinity(0, sizeof(old), &old))
		return -errno;
	cpu = sched_getcpu();
	CPU_ZERO(&one);
	CPU_SET(cpu < 0 ? 0 : cpu, &one);
	sched_setaffinity(0, sizeof(one), &one);
	/* The context only to read metadata back: Linux 5.10 refuses one. */
	if (!meta) {
		opts.ctx_in = opts.ctx_out = NULL;
		opts.ctx_size_in = opts.ctx_size_out = 0;
	}
	if (bpf_prog_test_run_opts(pl->entry.fd, &opts)) {
		ret = -errno;
		goto out;
	}
	*verdict = opts.retval;
	if (meta) {
		memset(meta, 0, sizeof(*meta));
		if (ctx_out.data - ctx_out.data_meta == sizeof(*meta))
			memcpy(meta, out, sizeof(*meta));
		else
			ret = ctx_percpu_read(pl, cpu < 0 ? 0 : cpu, meta);
	}
out:
	sched_setaffinity(0, sizeof(old), &old);
	return ret;
}

/* ---- upgrades across pin layouts ---- */

/*
 * The folders an upgrade uses beside <root>/<ifname>: the new layout is
 * built in one, the old one is moved to the other at the switch. A ':'
 * cannot be in an interface name, so they never meet one.
 */
static void upgrade_dir(const struct pipeline *pl, const char *what, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s:%s", pl->root, pl->ifname, what);
}

/* A map pinned by the old layout that the new one can keep, as it is. */
static bool map_carries(int fd, const struct stage_map_def *d)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return false;
	/* A program-writable map, and the kernel's view of the flags: ignore the rdonly bits libbpf adds. */
	return info.type == d->type && info.key_size == d->key_size && info.value_size == d->value_size &&
	       info.max_entries == d->max_entries &&
	       (info.map_flags & ~(BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) ==
	       (d->flags & ~(BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG));
}

/*
 * The program the interface runs now, as an fd (-errno when none), and the
 * XDP link pinned in dir, if any.
 */
static int running_fd(const struct pipeline *pl, const char *dir, int *link_fd)
{
	struct bpf_link_info li = {};
	__u32 len = sizeof(li), id = 0;
	int fd;

	*link_fd = get_at(dir, SLUICE_PIN_LINK);
	if (*link_fd >= 0 && !bpf_obj_get_info_by_fd(*link_fd, &li, &len))
		id = li.prog_id;
	if (!id) {
		LIBBPF_OPTS(bpf_xdp_query_opts, q);

		if (pl->ifindex && !bpf_xdp_query(pl->ifindex, 0, &q))
			id = q.prog_id;
	}
	if (!id)
		return -ENOENT;
	fd = bpf_prog_get_fd_by_id(id);
	return fd < 0 ? -errno : fd;
}

int pipeline__upgrade_prepare(struct pipeline *pl, const struct stage_src *src, int n,
			      int default_verdict, char *reset, size_t resetlen, struct pipeline_err *err)
{
	struct stage_map_def *defs = calloc(128, sizeof(*defs));
	char ndir[PATH_MAX], omaps[PATH_MAX], nmaps[PATH_MAX], from[PATH_MAX], to[PATH_MAX];
	size_t off = 0;
	int nr, ret;

	if (!defs)
		return errf(err, -ENOMEM, "out of memory");
	reset[0] = '\0';
	upgrade_dir(pl, "new", ndir, sizeof(ndir));
	rm_tree(ndir);
	snprintf(nmaps, sizeof(nmaps), "%s/%s", ndir, SLUICE_PIN_MAPS);
	snprintf(omaps, sizeof(omaps), "%s/%s/%s", pl->root, pl->ifname, SLUICE_PIN_MAPS);
	ret = mkdir_p(nmaps);
	if (ret) {
		free(defs);
		return errf(err, ret, "%s: %s", nmaps, strerror(-ret));
	}
	nr = stage__map_defs(src, n, (uint8_t)pl->carrier, defs, 128, err->msg, sizeof(err->msg));
	if (nr < 0) {
		free(defs);
		return nr;
	}
	/*
	 * State the new layout can use as it is (rules, buckets, counters,
	 * sockets) is carried by linking its pin into the new folder; the
	 * rest starts afresh and is named in reset.
	 */
	for (int i = 0; i < nr; i++) {
		int fd = get_at(omaps, defs[i].name);

		if (fd < 0)
			continue;
		snprintf(from, sizeof(from), "%s/%s", omaps, defs[i].name);
		snprintf(to, sizeof(to), "%s/%s", nmaps, defs[i].name);
		if ((!map_carries(fd, &defs[i]) || link(from, to)) && off + 1 < resetlen)
			off += (size_t)snprintf(reset + off, resetlen - off, "%s%s", off ? ", " : "",
						defs[i].name);
		close(fd);
		if (off >= resetlen)
			off = resetlen - 1;
	}
	free(defs);
	/* Until the switch, the pipeline object describes the new folder: state goes there. */
	snprintf(pl->dir, sizeof(pl->dir), "%s", ndir);
	return pipeline__load(pl, src, n, default_verdict, err);
}

/* Puts <ifname>:new in place of <ifname>, the old folder's link pin with it. */
static int upgrade_move(struct pipeline *pl, struct pipeline_err *err)
{
	char ndir[PATH_MAX], odir[PATH_MAX], final[PATH_MAX], from[PATH_MAX], to[PATH_MAX];
	int ret = 0;

	upgrade_dir(pl, "new", ndir, sizeof(ndir));
	upgrade_dir(pl, "old", odir, sizeof(odir));
	snprintf(final, sizeof(final), "%s/%s", pl->root, pl->ifname);
	snprintf(from, sizeof(from), "%s/%s", final, SLUICE_PIN_LINK);
	snprintf(to, sizeof(to), "%s/%s", ndir, SLUICE_PIN_LINK);
	/* The link first: a crash after it still finds it, in the folder that runs. */
	if (!access(from, F_OK) && rename(from, to))
		return errf(err, -errno, "moving the link pin: %s", strerror(errno));
	rm_tree(odir);
	if (rename(final, odir) && errno != ENOENT)
		return errf(err, -errno, "moving %s aside: %s", final, strerror(errno));
	if (rename(ndir, final))
		ret = errf(err, -errno, "moving %s into place: %s", ndir, strerror(errno));
	rm_tree(odir);
	snprintf(pl->dir, sizeof(pl->dir), "%s", final);
	return ret;
}

int pipeline__upgrade_switch(struct pipeline *pl, struct pipeline_err *err)
{
	char final[PATH_MAX];
	int link_fd, old_fd, ret = 0;

	snprintf(final, sizeof(final), "%s/%s", pl->root, pl->ifname);
	old_fd = running_fd(pl, final, &link_fd);
	if (old_fd < 0)
		return errf(err, old_fd, "%s runs no XDP program to upgrade: %s", pl->ifname,
			    strerror(-old_fd));
	/* The one step packets see: the interface runs the new entry from here on. */
	if (link_fd >= 0) {
		LIBBPF_OPTS(bpf_link_update_opts, o, .flags = BPF_F_REPLACE, .old_prog_fd = old_fd);

		if (bpf_link_update(link_fd, pl->entry.fd, &o))
			ret = errf(err, -errno, "updating the XDP link of %s: %s", pl->ifname, strerror(errno));
	} else {
		LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = old_fd);
		LIBBPF_OPTS(bpf_xdp_query_opts, q);
		__u32 mode = !bpf_xdp_query(pl->ifindex, 0, &q) && q.attach_mode == XDP_ATTACHED_SKB ?
			     XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;

		if (bpf_xdp_attach(pl->ifindex, pl->entry.fd, XDP_FLAGS_REPLACE | mode, &o))
			ret = errf(err, -errno, "replacing the XDP program of %s: %s", pl->ifname,
				   strerror(errno));
		pl->how = SLUICE_ATTACH_LIBXDP;
	}
	close(old_fd);
	if (ret) {
		if (link_fd >= 0)
			close(link_fd);
		return ret;
	}
	/* Packets still in the old programs finish before the old folder goes. */
	sluice_rcu_wait();
	ret = upgrade_move(pl, err);
	if (link_fd >= 0) {
		struct bpf_link_info li = {};
		__u32 len = sizeof(li);

		pl->link_fd = link_fd;
		if (!bpf_obj_get_info_by_fd(link_fd, &li, &len))
			pl->link_id = li.id;
	}
	return ret;
}

bool pipeline__upgrade_pending(const struct pipeline *pl)
{
	char ndir[PATH_MAX];
	uint32_t entry;

	upgrade_dir(pl, "new", ndir, sizeof(ndir));
	entry = pinned_prog_id(ndir, SLUICE_PIN_ENTRY);
	return entry && entry == running_prog(pl);
}

int pipeline__upgrade_resume(struct pipeline *pl, struct pipeline_err *err)
{
	/* Killed after the switch: the new folder's entry runs, only the moves are left. */
	return upgrade_move(pl, err);
}
