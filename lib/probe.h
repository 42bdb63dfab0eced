/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Kernel feature probe: does this machine have what sluice relies on? Each
 * probe loads a tiny program built from instructions (no object files), tries
 * the feature for real and cleans up after itself. The daemon refuses to start
 * without the required ones; `sluice probe` prints them all.
 */
#ifndef SLUICE_PROBE_H
#define SLUICE_PROBE_H

#include <stdbool.h>
#include <stddef.h>

struct bpf_object;

struct probe_result {
	const char *name;	/* short id, e.g. "tail_call_subprog" */
	bool ok;
	bool required;		/* sluice cannot run without it */
	char detail[256];	/* what was seen, or why it failed */
	const char *needs;	/* e.g. "Linux >= 5.10 on x86-64" */
};

/*
 * Runs every probe. *res is a malloc()ed array of *n results (free() it), in
 * a fixed order. Returns 0, or a negative errno if the probe itself could not
 * run (out of memory): a missing feature is a result, not an error.
 */
int probe__run(struct probe_result **res, size_t *n);

/*
 * Runs every probe and prints a table, or JSON (pretty-printed if asked) on
 * stdout. Returns 0 when every required feature is there, 1 when one is
 * missing, a negative errno if the probe could not run.
 */
int probe__run_print(bool json, bool pretty);

/*
 * For the daemon: 0 if every required feature is there, else -ENOTSUP with
 * err naming each missing feature, why, and the kernel it needs.
 */
int probe__require(char *err, size_t len);

/*
 * Loads an XDP program that tail-calls slot 0 of prog_array_fd and returns
 * SLUICE_RET_MISSED if the slot is empty. The key is a constant, or read from
 * the first u32 of the one-entry array key_map_fd when key_map_fd >= 0, so
 * the verifier cannot know it. With subprog the tail call sits in a bpf2bpf
 * callee, as in sluice's entry, and the main program returns XDP_TX when the
 * callee gave back XDP_DROP, proving the verdict came back to the caller.
 * Returns the program fd or a negative errno.
 */
int probe__load_tail_caller(int prog_array_fd, int key_map_fd, bool subprog);

/*
 * A test knob: SLUICE_DENY_FEATURES="xdp_adjust_meta,xdp_live_frames" makes
 * the probe (and so sluiced, sluice-gen and the tests) act as on a kernel
 * that refuses those features, which is how the suite proves the fallbacks
 * on a kernel that has them.
 */
bool probe__denied(const char *feature);

/*
 * The kernel's side of that knob, for every object sluice loads: with
 * xdp_adjust_meta denied, an object whose programs call the helper is refused
 * as such a kernel's verifier refuses it (-EINVAL, its message in why), so a
 * loader that picks the wrong build fails here too, not only there.
 */
int probe__check_denied_helpers(const struct bpf_object *obj, char *why, size_t len);

/* Single probes, quick enough for a loader to ask. why gets the detail. */
bool probe__xdp_meta(char *why, size_t len);
bool probe__live_frames(char *why, size_t len);
bool probe__load_bytes(void);

/* A PREEMPT_RT kernel (/sys/kernel/realtime): the per-CPU carrier is not chosen by itself. */
bool probe__preempt_rt(void);

/* The carrier context: auto picks here (enum sluice_carrier), with the reason. */
int probe__carrier_auto(char *why, size_t len);

/*
 * The oldest kernel the test matrix (tests/kernels/matrix.sh) passes whole;
 * older ones may load sluice but nothing proves they run it right.
 */
#define SLUICE_OLDEST_PROVEN_KERNEL "6.1"

/* Loads an XDP program that returns verdict. Returns its fd or a negative errno. */
int probe__load_verdict(int verdict);

#endif /* SLUICE_PROBE_H */
