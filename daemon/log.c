// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Logging to stderr. Under systemd (JOURNAL_STREAM set) each line starts with
 * the "<N>" priority prefix journald understands; otherwise a readable level.
 */
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include "sluiced.h"

static int max_level = LOG_INFO;
static bool journal;

static const char *const level_names[] = {
	"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug",
};

void log_init(int level, bool under_journald)
{
	max_level = level;
	journal = under_journald;
}

void log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio > max_level)
		return;
	if (journal)
		fprintf(stderr, "<%d>", prio);
	else
		fprintf(stderr, "sluiced: %s: ", level_names[prio & 7]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
