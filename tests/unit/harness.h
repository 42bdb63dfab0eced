/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What every unit test needs around bpf_prog_test_run_opts(): run a frame,
 * with or without sluice metadata in front of it, and read the result back.
 */
#ifndef SLUICE_TEST_HARNESS_H
#define SLUICE_TEST_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sluice/abi.h>

struct xdp_run {
	uint32_t retval;		/* the XDP action */
	struct sluice_meta meta;	/* metadata after the run */
	uint8_t out[2048];		/* frame after the run */
	uint32_t out_len;
};

/* Runs a frame through an XDP program with no metadata in front of it. */
int xdp_run(int prog_fd, const void *frame, size_t len, struct xdp_run *res);
/* True where BPF_PROG_TEST_RUN refuses an xdp_md context (as 5.10 does). */
bool xdp_ctx_refused(void);

/*
 * Runs a frame with meta in front (as the entry would have reserved it), the
 * way a stage is reached inside a pipeline. meta may be NULL for a fresh one.
 */
int xdp_run_meta(int prog_fd, const void *frame, size_t len, const struct sluice_meta *meta,
		 struct xdp_run *res);

/*
 * The context carrier the tests run under: SLUICE_TEST_CARRIER (meta,
 * percpu, auto), else what sluice would choose on this kernel. Stage runs
 * (xdp_run_meta) put the context where it says.
 */
enum sluice_carrier test_carrier(void);

/* A fresh metadata block as the entry program writes it. */
void meta_init(struct sluice_meta *m, uint16_t gen);

/* Turns bpffs on and returns a fresh pin root under it, removed at exit. */
const char *test_pin_root(void);

/* Skips the calling test (cmocka) unless we run as root with BPF. */
void require_bpf(void);

#endif
