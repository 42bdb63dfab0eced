// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <sched.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "harness.h"
#include "pipeline.h"
#include "probe.h"

enum sluice_carrier test_carrier(void)
{
	static int carrier = -1;
	const char *env = getenv("SLUICE_TEST_CARRIER");

	if (carrier >= 0)
		return carrier;
	if (env && *env && strcmp(env, "auto"))
		carrier = sluice_carrier_parse(env);
	if (carrier < 0)
		carrier = probe__carrier_auto(NULL, 0);
	return carrier;
}

/*
 * The per-CPU context map a program uses, found through its map ids, so
 * tests keep passing a program fd whatever the carrier. -ENOENT if none.
 */
static int ctx_map_of(int prog_fd)
{
	struct bpf_prog_info info = {};
	__u32 ids[64], len = sizeof(info);
	int fd;

	info.nr_map_ids = 64;
	info.map_ids = (__u64)(unsigned long)ids;
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return -errno;
	for (__u32 i = 0; i < info.nr_map_ids && i < 64; i++) {
		struct bpf_map_info mi = {};
		__u32 mlen = sizeof(mi);

		fd = bpf_map_get_fd_by_id(ids[i]);
		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &mi, &mlen) && !strcmp(mi.name, SLUICE_MAP_CTX))
			return fd;
		close(fd);
	}
	return -ENOENT;
}

/* Writes m into every CPU's slot of the context map (NULL: reads this CPU's into m). */
static int ctx_access(int map_fd, struct sluice_meta *m, bool write, int cpu)
{
	int ncpu = libbpf_num_possible_cpus(), ret = 0;
	struct sluice_meta *v = calloc(ncpu > 0 ? ncpu : 1, sizeof(*v));
	__u32 zero = 0;

	if (!v || ncpu < 1 || cpu >= ncpu) {
		free(v);
		return -ENOMEM;
	}
	if (write) {
		for (int c = 0; c < ncpu; c++)
			v[c] = *m;
		ret = bpf_map_update_elem(map_fd, &zero, v, 0) ? -errno : 0;
	} else {
		ret = bpf_map_lookup_elem(map_fd, &zero, v) ? -errno : 0;
		if (!ret)
			*m = v[cpu];
	}
	free(v);
	return ret;
}

void meta_init(struct sluice_meta *m, uint16_t gen)
{
	memset(m, 0, sizeof(*m));
	m->gen = gen;
	m->last = SLUICE_SLOT_NONE;
}

/*
 * Linux 5.10 refuses an xdp_md context in BPF_PROG_TEST_RUN (EINVAL), and
 * the tests feed and read sluice's metadata through it: a test run that
 * fails so on such a kernel is a skip, not a failure (docs/kernels.md).
 */
bool xdp_ctx_refused(void)
{
	static int refused = -1;
	const struct bpf_insn pass[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	uint8_t frame[64] = { 0 };
	struct xdp_md ctx = { .data_end = sizeof(frame) };
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = frame,
		.data_size_in = sizeof(frame),
		.ctx_in = &ctx,
		.ctx_size_in = sizeof(ctx),
		.repeat = 1,
	);
	int fd;

	if (refused >= 0)
		return refused;
	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "sluice_ctx_chk", "GPL", pass, 2, NULL);
	if (fd < 0)
		return false;
	refused = bpf_prog_test_run_opts(fd, &opts) && errno == EINVAL;
	close(fd);
	return refused;
}

static int run(int prog_fd, const void *frame, size_t len, const struct sluice_meta *meta,
	       struct xdp_run *res)
{
	uint8_t in[4096], out[4096 + 256];
	size_t mlen = meta ? sizeof(*meta) : 0;
	struct xdp_md ctx = {
		.data = (uint32_t)mlen,
		.data_end = (uint32_t)(mlen + len),
	}, ctx_out = {};
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = in,
		.data_size_in = (uint32_t)(mlen + len),
		.data_out = out,
		.data_size_out = sizeof(out),
		.ctx_in = &ctx,
		.ctx_size_in = sizeof(ctx),
		.ctx_out = &ctx_out,
		.ctx_size_out = sizeof(ctx_out),
		.repeat = 1,
	);
	uint32_t meta_len, frame_len;
	int ctx_fd = ctx_map_of(prog_fd), cpu, ret = 0;
	cpu_set_t old, one;

	if (len > sizeof(in) - sizeof(struct sluice_meta))
		return -E2BIG;
	/*
	 * Under the per-CPU carrier the context goes into this CPU's slot of
	 * sluice_ctx instead of in front of the frame, and comes back from
	 * there: the thread stays on one CPU for the run and the read.
	 */
	if (sched_getaffinity(0, sizeof(old), &old))
		return -errno;
	cpu = sched_getcpu();
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	sched_setaffinity(0, sizeof(one), &one);
	if (meta && test_carrier() == SLUICE_CARRIER_PERCPU && ctx_fd >= 0) {
		ret = ctx_access(ctx_fd, (struct sluice_meta *)meta, true, cpu);
		mlen = 0;
		ctx.data = 0;
		ctx.data_end = (uint32_t)len;
		opts.data_size_in = (uint32_t)len;
	} else if (ctx_fd >= 0) {
		struct sluice_meta stale;

		/* A run that leaves no metadata must not read an older run's context. */
		memset(&stale, 0, sizeof(stale));
		ret = ctx_access(ctx_fd, &stale, true, cpu);
	}
	if (meta)
		memcpy(in, meta, mlen);
	memcpy(in + mlen, frame, len);
	if (!ret && bpf_prog_test_run_opts(prog_fd, &opts)) {
		ret = -errno;
		if (ret == -EINVAL && xdp_ctx_refused()) {
			sched_setaffinity(0, sizeof(old), &old);
			if (ctx_fd >= 0)
				close(ctx_fd);
			print_message("BPF_PROG_TEST_RUN takes no xdp_md context on this kernel (5.10 refuses it)\n");
			skip();
		}
	}
	memset(res, 0, sizeof(*res));
	res->retval = opts.retval;
	/* The kernel copies data_meta..data_end out; ctx_out says where data starts. */
	meta_len = ctx_out.data - ctx_out.data_meta;
	frame_len = ctx_out.data_end - ctx_out.data;
	if (!ret && meta_len == sizeof(struct sluice_meta))
		memcpy(&res->meta, out, sizeof(res->meta));
	else if (!ret && ctx_fd >= 0)
		ret = ctx_access(ctx_fd, &res->meta, false, cpu);
	sched_setaffinity(0, sizeof(old), &old);
	if (ctx_fd >= 0)
		close(ctx_fd);
	if (ret)
		return ret;
	if (frame_len > sizeof(res->out))
		frame_len = sizeof(res->out);
	memcpy(res->out, out + meta_len, frame_len);
	res->out_len = frame_len;
	return 0;
}

int xdp_run(int prog_fd, const void *frame, size_t len, struct xdp_run *res)
{
	return run(prog_fd, frame, len, NULL, res);
}

int xdp_run_meta(int prog_fd, const void *frame, size_t len, const struct sluice_meta *meta,
		 struct xdp_run *res)
{
	struct sluice_meta fresh;

	if (!meta) {
		meta_init(&fresh, 0);
		meta = &fresh;
	}
	return run(prog_fd, frame, len, meta, res);
}

static char pin_root[128];

static void remove_pin_root(void)
{
	char cmd[256];

	if (!pin_root[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pin_root);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", pin_root);
}

const char *test_pin_root(void)
{
	struct statfs st;

	if (pin_root[0])
		return pin_root;
	if (statfs("/sys/fs/bpf", &st) || st.f_type != BPF_FS_MAGIC) {
		if (mount("bpf", "/sys/fs/bpf", "bpf", 0, NULL))
			return NULL;
	}
	snprintf(pin_root, sizeof(pin_root), "/sys/fs/bpf/sluice-test-%d", (int)getpid());
	if (mkdir(pin_root, 0700) && errno != EEXIST)
		return NULL;
	atexit(remove_pin_root);
	return pin_root;
}

void require_bpf(void)
{
	if (geteuid() != 0)
		skip();
}
