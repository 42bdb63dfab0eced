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
#include <bpf/bpf.h>
#include "harness.h"

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

	if (mlen + len > sizeof(in))
		return -E2BIG;
	if (meta)
		memcpy(in, meta, mlen);
	memcpy(in + mlen, frame, len);
	if (bpf_prog_test_run_opts(prog_fd, &opts)) {
		int err = -errno;

		if (err == -EINVAL && xdp_ctx_refused()) {
			print_message("BPF_PROG_TEST_RUN takes no xdp_md context on this kernel (5.10 refuses it)\n");
			skip();
		}
		return err;
	}
	memset(res, 0, sizeof(*res));
	res->retval = opts.retval;
	/* The kernel copies data_meta..data_end out; ctx_out says where data starts. */
	meta_len = ctx_out.data - ctx_out.data_meta;
	frame_len = ctx_out.data_end - ctx_out.data;
	if (meta_len == sizeof(struct sluice_meta))
		memcpy(&res->meta, out, sizeof(res->meta));
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
