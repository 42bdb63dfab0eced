// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Loading one program of a pipeline (a stage or the entry) from any object:
 * built-in stages come from their skeletons' embedded ELF, user stages from
 * files, and both go through the same generic path so that a user stage is
 * loaded, bound and verified exactly like ours.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "probe.h"
#include "stage_load.h"
#include "trust.h"
#include "entry.skel.h"
#include "entry_percpu.skel.h"
#include "parse.skel.h"
#include "acl.skel.h"
#include "ratelimit.skel.h"
#include "xsk.skel.h"
#include "count.skel.h"
#include "pass.skel.h"
#include "verdict.skel.h"

static const struct builtin {
	const char *name;
	const void *(*elf_bytes)(size_t *sz);
} builtins[] = {
	{ "parse", parse_bpf__elf_bytes },
	{ "acl", acl_bpf__elf_bytes },
	{ "ratelimit", ratelimit_bpf__elf_bytes },
	{ "xsk", xsk_bpf__elf_bytes },
	{ "count", count_bpf__elf_bytes },
	{ "pass", pass_bpf__elf_bytes },
	{ "verdict", verdict_bpf__elf_bytes },
};

bool stage_src__is_builtin(const char *object)
{
	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
		if (!strcmp(object, builtins[i].name))
			return true;
	return false;
}

/* Object bytes: borrowed for built-ins, malloc'd (*owned) for files. */
static int object_bytes(const char *object, const void **data, size_t *size, void **owned,
			char *err, size_t errlen)
{
	struct stat st;
	ssize_t n;
	void *buf;
	int fd;

	*owned = NULL;
	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
		if (!strcmp(object, builtins[i].name)) {
			*data = builtins[i].elf_bytes(size);
			return 0;
		}
	}
	fd = trust__open_object(object, err, errlen);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) || st.st_size <= 0 || st.st_size > 64 << 20) {
		snprintf(err, errlen, "%s: not a BPF object (size %lld)", object, (long long)st.st_size);
		close(fd);
		return -EINVAL;
	}
	buf = malloc(st.st_size);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	n = read(fd, buf, st.st_size);
	close(fd);
	if (n != st.st_size) {
		snprintf(err, errlen, "%s: short read", object);
		free(buf);
		return -EIO;
	}
	*data = buf;
	*size = st.st_size;
	*owned = buf;
	return 0;
}

static uint64_t fnv1a64(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len--) {
		h ^= *p++;
		h *= 0x100000001b3ull;
	}
	return h;
}

int stage_src__hash(const struct stage_src *src, uint64_t *hash, char *err, size_t errlen)
{
	char scratch[256];
	const void *data;
	void *owned;
	size_t size;
	uint64_t h = 0xcbf29ce484222325ull;
	int ret;

	if (!err) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	err[0] = '\0';
	ret = object_bytes(src->object, &data, &size, &owned, err, errlen);
	if (ret)
		return ret;
	h = fnv1a64(h, data, size);
	h = fnv1a64(h, src->program, strlen(src->program) + 1);
	for (int i = 0; i < src->nr_params; i++) {
		h = fnv1a64(h, src->params[i].name, strlen(src->params[i].name) + 1);
		h = fnv1a64(h, &src->params[i].value, sizeof(src->params[i].value));
	}
	free(owned);
	*hash = h;
	return 0;
}

int stage_src__set_param(struct stage_src *src, const char *name, int64_t value)
{
	int i;

	for (i = 0; i < src->nr_params; i++)
		if (!strcmp(src->params[i].name, name))
			break;
	if (i == STAGE_MAX_PARAMS)
		return -E2BIG;
	if (i == src->nr_params) {
		if (strlen(name) >= sizeof(src->params[i].name))
			return -ENAMETOOLONG;
		strcpy(src->params[i].name, name);
		src->nr_params++;
	}
	src->params[i].value = value;
	return 0;
}

static struct bpf_map *rodata_map(struct bpf_object *obj)
{
	struct bpf_map *map;
	const char *name;
	size_t len;

	bpf_object__for_each_map(map, obj) {
		name = bpf_map__name(map);
		len = strlen(name);
		if (bpf_map__is_internal(map) && len >= 7 && !strcmp(name + len - 7, ".rodata"))
			return map;
	}
	return NULL;
}

/*
 * Finds a .rodata variable by name through BTF. Returns a pointer into the
 * map's initial value, which libbpf copies into the map at load; is_signed
 * (may be NULL) says whether it is a signed integer.
 */
static void *rodata_var(struct bpf_object *obj, const char *var, size_t *size, bool *is_signed)
{
	struct btf *btf = bpf_object__btf(obj);
	struct bpf_map *map = rodata_map(obj);
	const struct btf_var_secinfo *vs;
	const struct btf_type *sec;
	size_t data_sz;
	char *data;
	int id;

	if (!btf || !map)
		return NULL;
	id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
	if (id < 0)
		return NULL;
	sec = btf__type_by_id(btf, id);
	/* Writable until load: libbpf copies it into the map then freezes it. */
	data = (char *)bpf_map__initial_value(map, &data_sz);
	if (!data)
		return NULL;
	vs = btf_var_secinfos(sec);
	for (int i = 0; i < btf_vlen(sec); i++, vs++) {
		const struct btf_type *t = btf__type_by_id(btf, vs->type);

		if (strcmp(btf__name_by_offset(btf, t->name_off), var))
			continue;
		if (vs->offset + vs->size > data_sz)
			return NULL;
		/* The variable's type, under its typedefs and qualifiers. */
		t = btf__type_by_id(btf, btf__resolve_type(btf, btf__type_by_id(btf, vs->type)->type));
		if (is_signed)
			*is_signed = t && btf_is_int(t) && (btf_int_encoding(t) & BTF_INT_SIGNED);
		*size = vs->size;
		return data + vs->offset;
	}
	return NULL;
}

/* Names of the object's integer .rodata variables, for error messages. */
static void rodata_names(struct bpf_object *obj, char *buf, size_t len)
{
	struct btf *btf = bpf_object__btf(obj);
	const struct btf_var_secinfo *vs;
	const struct btf_type *sec;
	size_t off = 0;
	int id;

	buf[0] = '\0';
	if (!btf || (id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC)) < 0)
		return;
	sec = btf__type_by_id(btf, id);
	vs = btf_var_secinfos(sec);
	for (int i = 0; i < btf_vlen(sec); i++, vs++) {
		const char *n = btf__name_by_offset(btf, btf__type_by_id(btf, vs->type)->name_off);

		if (!strncmp(n, "sluice_", 7) || vs->size > 8 || off >= len)
			continue;
		off += snprintf(buf + off, len - off, "%s%s", off ? ", " : "", n);
	}
}

int stage__set_rodata(struct bpf_object *obj, const char *var, int64_t value)
{
	bool is_signed = false;
	size_t size = 0;
	void *v = rodata_var(obj, var, &size, &is_signed);

	if (!v || !size || size > 8)
		return -ENOENT;
	/* A value cut to the variable's width would be another value. */
	if (size < 8) {
		int64_t lo = is_signed ? -(INT64_C(1) << (8 * size - 1)) : 0;
		int64_t hi = is_signed ? (INT64_C(1) << (8 * size - 1)) - 1 : (INT64_C(1) << (8 * size)) - 1;

		if (value < lo || value > hi)
			return -ERANGE;
	} else if (!is_signed && value < 0) {
		return -ERANGE;
	}
	/* Little-endian: the low bytes of the value are the variable. */
	memcpy(v, &value, size);
	return 0;
}

static int set_params(struct bpf_object *obj, const struct stage_src *src, char *err, size_t errlen)
{
	for (int i = 0; i < src->nr_params; i++) {
		const struct stage_param *p = &src->params[i];
		char names[256];

		int ret = strncmp(p->name, "sluice_", 7) ? stage__set_rodata(obj, p->name, p->value)
							 : -ENOENT;

		if (ret == -ERANGE) {
			snprintf(err, errlen, "stage '%s': %s: parameter '%s' cannot hold %lld",
				 src->name, src->object, p->name, (long long)p->value);
			return ret;
		}
		if (ret) {
			rodata_names(obj, names, sizeof(names));
			snprintf(err, errlen, "stage '%s': %s has no parameter '%s' (parameters: %s)",
				 src->name, src->object, p->name, names[0] ? names : "none");
			return -ENOENT;
		}
	}
	return 0;
}

/* Keeps the part of a verifier log that says why: its last lines. */
static char *log_tail(const char *log, size_t max)
{
	size_t len = strlen(log);
	const char *start = log;

	while (len && (log[len - 1] == '\n' || log[len - 1] == ' '))
		len--;
	if (len > max) {
		start = log + len - max;
		while (*start && *start != '\n')
			start++;
		if (*start)
			start++;
	}
	return strndup(start, len - (start - log));
}

static const char *explain_verifier(const char *log)
{
	if (strstr(log, "tail_calls are not allowed when call stack of previous frames"))
		return "the frames before a tail call use 256 bytes of stack or more (the kernel's limit for a "
		       "subprogram that tail-calls)";
	if (strstr(log, "combined stack size"))
		return "the call chain uses more than 512 bytes of stack";
	if (strstr(log, "invalid access to packet") || strstr(log, "invalid access to map value"))
		return "an access is not bounds-checked";
	if (strstr(log, "program is too large") || strstr(log, "BPF program is too large"))
		return "the program is too complex for the verifier";
	return NULL;
}

/* ---- the steps of a load ---- */

struct loading {
	const char *name;		/* the stage's name in the pipeline, for messages */
	const char *object;
	struct bpf_object *obj;
	struct bpf_program *prog;
	char *log;
	void *owned;			/* object bytes read from a file */
	char *err;
	size_t errlen;
};

#define LOG_SIZE	(1u << 20)

static int loading__open(struct loading *l, const void *data, size_t size)
{
	char objname[64];

	l->log = calloc(1, LOG_SIZE);
	if (!l->log)
		return -ENOMEM;
	snprintf(objname, sizeof(objname), "%.31s", l->name);
	LIBBPF_OPTS(bpf_object_open_opts, opts,
		.object_name = objname,
		.kernel_log_buf = l->log,
		.kernel_log_size = LOG_SIZE,
	);
	l->obj = bpf_object__open_mem(data, size, &opts);
	if (!l->obj) {
		int ret = -errno;

		snprintf(l->err, l->errlen, "stage '%s': %s is not a loadable BPF object: %s", l->name,
			 l->object, strerror(-ret));
		return ret;
	}
	return 0;
}

/* Picks the program to load: the one named, else the object's first XDP program. */
static int loading__select(struct loading *l, const char *program)
{
	struct bpf_program *p;

	bpf_object__for_each_program(p, l->obj) {
		bool want = program[0] ? !strcmp(bpf_program__name(p), program)
				       : bpf_program__type(p) == BPF_PROG_TYPE_XDP && !l->prog;

		bpf_program__set_autoload(p, want);
		if (want)
			l->prog = p;
	}
	if (!l->prog) {
		snprintf(l->err, l->errlen, "stage '%s': %s has no %s%s%s", l->name, l->object,
			 program[0] ? "program '" : "XDP program", program, program[0] ? "'" : "");
		return -ENOENT;
	}
	if (bpf_program__type(l->prog) != BPF_PROG_TYPE_XDP) {
		snprintf(l->err, l->errlen, "stage '%s': program '%s' is not an XDP program (SEC(\"xdp\"))",
			 l->name, bpf_program__name(l->prog));
		return -EINVAL;
	}
	return 0;
}

/*
 * Binds sluice_progs to the interface's prog_array and pins every other map
 * by name: state that must outlive this program, reused by the next version
 * and, where the config shares it, by other interfaces.
 */
static int loading__bind_maps(struct loading *l, const struct stage_maps *m)
{
	struct bpf_map *map;
	int ret;

	bpf_object__for_each_map(map, l->obj) {
		const char *name = bpf_map__name(map), *dir = m->maps_dir;
		char path[PATH_MAX];

		if (bpf_map__is_internal(map))
			continue;
		if (!strcmp(name, SLUICE_MAP_PROGS)) {
			ret = bpf_map__reuse_fd(map, m->progs_fd);
		} else if (dir) {
			/* A map's name becomes a path under the pin root. */
			ret = trust__map_name(name, l->err, l->errlen);
			if (ret)
				return ret;
			for (int i = 0; i < m->nr_shared; i++)
				if (!strcmp(m->shared[i], name))
					dir = m->shared_dir;
			if (!strcmp(name, SLUICE_MAP_SELECTORS) && m->root_dir) {
				snprintf(path, sizeof(path), "%s/%s", m->root_dir, SLUICE_PIN_SELECTORS);
			} else {
				snprintf(path, sizeof(path), "%s/%s", dir, name);
			}
			ret = bpf_map__set_pin_path(map, path);
		} else {
			ret = 0;
		}
		if (ret) {
			snprintf(l->err, l->errlen, "stage '%s': map '%s': %s", l->name, name,
				 strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* Writes a stage's sluice_cfg after checking which header it was built with. */
static int loading__configure_stage(struct loading *l, const struct stage_load_req *req)
{
	struct sluice_stage_cfg sc = {
		.slot = req->slot,
		.next = req->next,
		.gen = req->gen,
		.ver = (__u16)req->ver,
		.bank = req->bank,
		.carrier = req->carrier,
		.abi = SLUICE_STAGE_ABI,
	};
	struct sluice_stage_cfg *cfg;
	size_t size = 0;

	cfg = rodata_var(l->obj, "sluice_cfg", &size, NULL);
	if (!cfg || size != sizeof(sc)) {
		snprintf(l->err, l->errlen, "stage '%s': %s was not built with <sluice/stage.bpf.h> "
			 "(no sluice_cfg in .rodata)", l->name, l->object);
		return -EINVAL;
	}
	if (cfg->abi != SLUICE_STAGE_ABI) {
		snprintf(l->err, l->errlen, "stage '%s': %s was built against %s <sluice/stage.bpf.h> "
			 "(stage ABI %u, this sluice needs %u): its per-packet context layout and "
			 "carrier differ (this pipeline carries it in %s); rebuild it against this "
			 "sluice's header", l->name, l->object, cfg->abi < SLUICE_STAGE_ABI ? "an older" :
			 "a newer", cfg->abi, SLUICE_STAGE_ABI, sluice_carrier_name(req->carrier));
		return -EPROTO;
	}
	memcpy(cfg, &sc, sizeof(sc));
	return set_params(l->obj, req->src, l->err, l->errlen);
}

/* Loads the selected program; a refusal says why, from the verifier's log. */
static int loading__load(struct loading *l, char **verifier_log)
{
	char denied[256];
	const char *why;
	int ret;

	ret = probe__check_denied_helpers(l->obj, denied, sizeof(denied));
	if (ret) {
		snprintf(l->err, l->errlen, "stage '%s': the verifier refused %s", l->name, denied);
		return ret;
	}
	ret = bpf_object__load(l->obj);
	if (!ret)
		return 0;
	why = explain_verifier(l->log);
	if (l->log[0]) {
		*verifier_log = log_tail(l->log, 4096);
		snprintf(l->err, l->errlen, "stage '%s': the verifier refused %s%s%s", l->name,
			 bpf_program__name(l->prog), why ? ": " : "", why ? why : "");
	} else if (ret == -EEXIST || ret == -EINVAL) {
		snprintf(l->err, l->errlen, "stage '%s': %s: a map does not match the pipeline's map of "
			 "the same name (type, key, value or size differ): %s", l->name, l->object,
			 strerror(-ret));
	} else {
		snprintf(l->err, l->errlen, "stage '%s': loading %s failed: %s", l->name, l->object,
			 strerror(-ret));
	}
	return ret;
}

/* Keeps the loaded program's fd (the object is closed) and what identifies it. */
static int loading__take(struct loading *l, struct stage_inst *out)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int fd;

	fd = fcntl(bpf_program__fd(l->prog), F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return -errno;
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	out->fd = fd;
	out->prog_id = info.id;
	for (int i = 0; i < 8; i++)
		snprintf(out->tag + 2 * i, 3, "%02x", info.tag[i]);
	return 0;
}

static void loading__close(struct loading *l)
{
	bpf_object__close(l->obj);
	free(l->owned);
	free(l->log);
}

int stage__load(const struct stage_load_req *req, struct stage_inst *out, char *err, size_t errlen,
		char **verifier_log)
{
	struct loading l = { .name = req->src->name, .object = req->src->object, .err = err,
			     .errlen = errlen };
	const void *data;
	size_t size;
	int ret;

	*verifier_log = NULL;
	out->fd = -1;
	ret = object_bytes(req->src->object, &data, &size, &l.owned, err, errlen);
	if (!ret)
		ret = loading__open(&l, data, size);
	if (!ret)
		ret = loading__select(&l, req->src->program);
	if (!ret)
		ret = loading__bind_maps(&l, &req->maps);
	if (!ret)
		ret = loading__configure_stage(&l, req);
	if (!ret)
		ret = loading__load(&l, verifier_log);
	if (!ret)
		ret = loading__take(&l, out);
	if (!ret)
		out->ver = req->ver;
	loading__close(&l);
	return ret;
}

/* Adds the maps object data defines to defs, skipping names already there. */
static int add_map_defs(const void *data, size_t size, struct stage_map_def *defs, int n, int max)
{
	struct bpf_object *obj = bpf_object__open_mem(data, size, NULL);
	struct bpf_map *map;

	if (!obj)
		return -errno;
	bpf_object__for_each_map(map, obj) {
		int i;

		if (bpf_map__is_internal(map))
			continue;
		for (i = 0; i < n && strcmp(defs[i].name, bpf_map__name(map)); i++)
			;
		if (i < n || n == max)
			continue;
		snprintf(defs[n].name, sizeof(defs[n].name), "%s", bpf_map__name(map));
		defs[n].type = bpf_map__type(map);
		defs[n].key_size = bpf_map__key_size(map);
		defs[n].value_size = bpf_map__value_size(map);
		defs[n].max_entries = bpf_map__max_entries(map);
		defs[n].flags = bpf_map__map_flags(map);
		n++;
	}
	bpf_object__close(obj);
	return n;
}

int stage__map_defs(const struct stage_src *src, int nr, uint8_t carrier, struct stage_map_def *defs,
		    int max, char *err, size_t errlen)
{
	const void *data;
	void *owned;
	size_t size;
	int n;

	data = carrier == SLUICE_CARRIER_PERCPU ? entry_percpu_bpf__elf_bytes(&size)
						: entry_bpf__elf_bytes(&size);
	n = add_map_defs(data, size, defs, 0, max);
	for (int i = 0; n >= 0 && i < nr; i++) {
		int ret = object_bytes(src[i].object, &data, &size, &owned, err, errlen);

		if (ret)
			return ret;
		n = add_map_defs(data, size, defs, n, max);
		free(owned);
	}
	return n;
}

int entry__load(const struct entry_load_req *req, struct stage_inst *out, char *err, size_t errlen,
		char **verifier_log)
{
	struct loading l = { .name = "entry", .object = "entry", .err = err, .errlen = errlen };
	struct sluice_entry_cfg ec = { .carrier = req->carrier, .flags = req->flags }, *cfg;
	const void *data;
	size_t size = 0;
	int ret;

	*verifier_log = NULL;
	out->fd = -1;
	/* Kernels that refuse bpf_xdp_adjust_meta refuse a program that names it, even unused. */
	data = req->carrier == SLUICE_CARRIER_PERCPU ? entry_percpu_bpf__elf_bytes(&size)
						     : entry_bpf__elf_bytes(&size);
	ret = loading__open(&l, data, size);
	if (!ret)
		ret = loading__select(&l, "");
	if (!ret)
		ret = loading__bind_maps(&l, &req->maps);
	if (!ret) {
		cfg = rodata_var(l.obj, "sluice_entry", &size, NULL);
		if (!cfg || size != sizeof(ec)) {
			snprintf(err, errlen, "entry object has no sluice_entry configuration");
			ret = -EINVAL;
		} else {
			memcpy(cfg, &ec, sizeof(ec));
		}
	}
	if (!ret)
		ret = loading__load(&l, verifier_log);
	if (!ret)
		ret = loading__take(&l, out);
	loading__close(&l);
	return ret;
}
