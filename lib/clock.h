/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one clock user space measures with: CLOCK_MONOTONIC, which neither
 * steps nor slews with the wall clock, in the units callers want.
 */
#ifndef SLUICE_CLOCK_H
#define SLUICE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t sluice_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t sluice_now_us(void)
{
	return sluice_now_ns() / 1000;
}

static inline uint64_t sluice_now_ms(void)
{
	return sluice_now_ns() / 1000000;
}

#endif
