/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Reading what the x86-64 JIT made of a loaded program. sluice relies on
 * every stage-to-stage tail call having a constant index, so the JIT emits a
 * patched direct jump instead of the retpoline path; this is how tests and
 * `sluice probe` prove it on the running kernel rather than assume it.
 */
#ifndef SLUICE_JIT_H
#define SLUICE_JIT_H

#include <stdint.h>

/* Tail-call sites found in one JIT image. */
struct jit_tail_calls {
	int direct;	/* poke sites: 5-byte nop or jmp patched by the kernel */
	int patched;	/* of those, currently a jmp (their slot is filled) */
	int indirect;	/* loads array->ptrs[index] and jumps through a register */
};

/*
 * Copies the JIT image of prog_fd into a malloc()ed buffer (*img, free() it)
 * of *len bytes. -ENODATA when the program is not JITed or the kernel hides
 * its image from us.
 */
int jit__image(int prog_fd, uint8_t **img, uint32_t *len);

/* Classifies the tail-call sites of an x86-64 JIT image. */
int jit__scan_image(const uint8_t *img, uint32_t len, struct jit_tail_calls *tc);

/* jit__image() and jit__scan_image() on a loaded program. */
int jit__scan(int prog_fd, struct jit_tail_calls *tc);

/* The direct and indirect tail-call site counts of prog_fd; either may be NULL. */
int jit__count_tail_calls(int prog_fd, int *direct, int *indirect);

#endif /* SLUICE_JIT_H */
