// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Recognising tail-call sites in x86-64 JIT images (arch/x86/net/bpf_jit_comp.c).
 *
 * Both kinds start with the MAX_TAIL_CALL_CNT check followed by a short jump:
 *   6.10+:      mov rax,[rbp-off]; cmp qword [rax],0x21; jae out
 *   5.16-6.9:   mov eax,[rbp-off]; cmp eax,0x21;         jae out
 *   5.10-5.15:  mov eax,[rbp-off]; cmp eax,0x20;         ja out
 * Before 6.10 the direct site bumps the counter (add eax,1; mov [rbp-off],eax)
 * between that jump and its bypass, and 5.10 pads with 66 66 66 66 90
 * rather than the 0f 1f 44 00 00 of later kernels.
 * What follows the jae tells them apart:
 *   direct   (emit_bpf_tail_call_direct): the 5-byte "bypass" (jmp out while
 *            the slot is empty, a nop once it is filled), and "out" is right
 *            after the 5-byte poke target (a nop, or jmp <stage> when filled);
 *   indirect (emit_bpf_tail_call_indirect): mov rcx,[rsi+rdx*8+ptrs] loads
 *            array->ptrs[index] and the code jumps through %rcx, a retpoline
 *            thunk or an lfence; on older kernels a few bytes of counter
 *            update come first.
 * A byte match can in theory hit an immediate; requiring the whole shape
 * (check, jae, then a 5-byte site whose "out" label lines up) makes that
 * practically impossible in the small images sluice loads.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "jit.h"

#define X86_JAE8	0x73
#define X86_JA8		0x77
#define X86_JMP32	0xe9
#define X86_PATCH_SIZE	5
#define JIT_MAX_TAIL_CALL_CNT 33	/* the kernel's MAX_TAIL_CALL_CNT, an imm8 in the check */
/* How far after the jae the old indirect path may load ptrs[index]. */
#define INDIRECT_WINDOW	24

static const uint8_t nop5[X86_PATCH_SIZE] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
static const uint8_t nop5_old[X86_PATCH_SIZE] = { 0x66, 0x66, 0x66, 0x66, 0x90 };
static const uint8_t tcc_check_new[] = { 0x48, 0x83, 0x38, JIT_MAX_TAIL_CALL_CNT };
static const uint8_t tcc_check_old[] = { 0x83, 0xf8, JIT_MAX_TAIL_CALL_CNT };
/* 5.10-5.15: MAX_TAIL_CALL_CNT was 32, checked with ja rather than jae. */
static const uint8_t tcc_check_510[] = { 0x83, 0xf8, JIT_MAX_TAIL_CALL_CNT - 1 };
static const uint8_t tcc_inc[] = { 0x83, 0xc0, 0x01 };
static const uint8_t load_ptrs[] = { 0x48, 0x8b, 0x8c, 0xd6 };

int jit__image(int prog_fd, uint8_t **img, uint32_t *len)
{
	struct bpf_prog_info info = {};
	__u32 info_len = sizeof(info);
	uint32_t n;
	uint8_t *buf;

	if (bpf_obj_get_info_by_fd(prog_fd, &info, &info_len))
		return -errno;
	n = info.jited_prog_len;
	if (!n)
		return -ENODATA;
	buf = malloc(n);
	if (!buf)
		return -ENOMEM;
	memset(&info, 0, sizeof(info));
	info.jited_prog_len = n;
	info.jited_prog_insns = (__u64)(unsigned long)buf;
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &info_len)) {
		free(buf);
		return -errno;
	}
	/* The image can only change size by a reload, which gives a new fd. */
	if (info.jited_prog_len != n) {
		free(buf);
		return -EAGAIN;
	}
	*img = buf;
	*len = n;
	return 0;
}

static bool match(const uint8_t *img, uint32_t len, uint32_t at, const uint8_t *pat, uint32_t n)
{
	return at <= len && n <= len - at && !memcmp(img + at, pat, n);
}

static bool is_patch_site(const uint8_t *img, uint32_t len, uint32_t at)
{
	return match(img, len, at, nop5, X86_PATCH_SIZE) || match(img, len, at, nop5_old, X86_PATCH_SIZE) ||
	       (at < len && len - at >= X86_PATCH_SIZE && img[at] == X86_JMP32);
}

/* Classifies the site whose jae starts at @jae; 0 if it is neither shape. */
static void classify(const uint8_t *img, uint32_t len, uint32_t jae, uint8_t jcc,
		     struct jit_tail_calls *tc)
{
	uint32_t body = jae + 2, site, i;
	int64_t out;

	if (body > len || img[jae] != jcc)
		return;
	out = (int64_t)body + (int8_t)img[jae + 1];
	/* Before 6.10: add eax,1; mov [rbp+disp32 or disp8],eax, then the bypass. */
	site = body;
	if (match(img, len, site, tcc_inc, sizeof(tcc_inc)) && site + 5 <= len && img[site + 3] == 0x89)
		site += sizeof(tcc_inc) + (img[site + 4] == 0x85 ? 6 : 3);
	if (is_patch_site(img, len, site) && out >= X86_PATCH_SIZE && out <= len &&
	    is_patch_site(img, len, (uint32_t)out - X86_PATCH_SIZE)) {
		tc->direct++;
		if (img[out - X86_PATCH_SIZE] == X86_JMP32)
			tc->patched++;
		return;
	}
	for (i = body; i < body + INDIRECT_WINDOW && i < len; i++) {
		if (match(img, len, i, load_ptrs, sizeof(load_ptrs))) {
			tc->indirect++;
			return;
		}
	}
}

int jit__scan_image(const uint8_t *img, uint32_t len, struct jit_tail_calls *tc)
{
	uint32_t i;

	memset(tc, 0, sizeof(*tc));
	if (!img)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (match(img, len, i, tcc_check_new, sizeof(tcc_check_new)))
			classify(img, len, i + sizeof(tcc_check_new), X86_JAE8, tc);
		else if (match(img, len, i, tcc_check_old, sizeof(tcc_check_old)))
			classify(img, len, i + sizeof(tcc_check_old), X86_JAE8, tc);
		else if (match(img, len, i, tcc_check_510, sizeof(tcc_check_510)))
			classify(img, len, i + sizeof(tcc_check_510), X86_JA8, tc);
	}
	return 0;
}

int jit__scan(int prog_fd, struct jit_tail_calls *tc)
{
	uint8_t *img;
	uint32_t len;
	int err;

	err = jit__image(prog_fd, &img, &len);
	if (err)
		return err;
	err = jit__scan_image(img, len, tc);
	free(img);
	return err;
}

int jit__count_tail_calls(int prog_fd, int *direct, int *indirect)
{
	struct jit_tail_calls tc;
	int err;

	err = jit__scan(prog_fd, &tc);
	if (err)
		return err;
	if (direct)
		*direct = tc.direct;
	if (indirect)
		*indirect = tc.indirect;
	return 0;
}
