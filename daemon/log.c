// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Logging to stderr. Under systemd (JOURNAL_STREAM set) each line starts with
 * the "<N>" priority prefix journald understands; otherwise a readable level.
 *
 * Every message is one line: control characters (a newline in an object
 * path a client chose, an escape sequence) are written as \n, \t or \xNN, so
 * no input can forge a log line. Lines are rate limited (LOG_BURST at once,
 * LOG_RATE a second after that); what is dropped is counted and said.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include "sluiced.h"

#define LOG_LINE	4096
#define LOG_RATE	50	/* lines per second, sustained */
#define LOG_BURST	200

static int max_level = LOG_INFO;
static bool journal;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static double tokens = LOG_BURST;
static struct timespec last;
static unsigned long long suppressed;

static const char *const level_names[] = {
	"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug",
};

void log_init(int level, bool under_journald)
{
	max_level = level;
	journal = under_journald;
}

size_t log_escape(char *out, size_t len, const char *in)
{
	static const char hexd[] = "0123456789abcdef";
	size_t o = 0;

	for (; *in && o + 5 < len; in++) {
		unsigned char c = (unsigned char)*in;

		if (c == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if (c == '\t') {
			out[o++] = '\\';
			out[o++] = 't';
		} else if (c == '\\') {
			out[o++] = '\\';
			out[o++] = '\\';
		} else if (c < 0x20 || c == 0x7f) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hexd[c >> 4];
			out[o++] = hexd[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	if (len)
		out[o < len ? o : len - 1] = '\0';
	return o;
}

/* A token bucket: true when this line may go out. */
static bool log_admit(void)
{
	struct timespec now;
	double dt;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (last.tv_sec || last.tv_nsec) {
		dt = (double)(now.tv_sec - last.tv_sec) + (double)(now.tv_nsec - last.tv_nsec) / 1e9;
		tokens += dt * LOG_RATE;
		if (tokens > LOG_BURST)
			tokens = LOG_BURST;
	}
	last = now;
	if (tokens < 1)
		return false;
	tokens -= 1;
	return true;
}

static void emit(int prio, const char *line)
{
	if (journal)
		fprintf(stderr, "<%d>%s\n", prio, line);
	else
		fprintf(stderr, "sluiced: %s: %s\n", level_names[prio & 7], line);
}

void log_msg(int prio, const char *fmt, ...)
{
	char raw[LOG_LINE], line[LOG_LINE];
	va_list ap;

	if (prio > max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	log_escape(line, sizeof(line), raw);

	pthread_mutex_lock(&log_lock);
	if (!log_admit()) {
		suppressed++;
		pthread_mutex_unlock(&log_lock);
		return;
	}
	if (suppressed) {
		char note[96];

		snprintf(note, sizeof(note), "%llu log lines suppressed (more than %d a second)",
			 suppressed, LOG_RATE);
		emit(LOG_WARNING, note);
		suppressed = 0;
	}
	emit(prio, line);
	pthread_mutex_unlock(&log_lock);
}
