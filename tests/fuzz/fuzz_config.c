// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer target: the configuration parser (lib/config.c) on any bytes,
 * as sluiced -n and a reload read them. Whatever the input, it returns a
 * configuration or errors, within its limits, and frees all of it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "config.h"

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors errs = {};
	struct sluice_config *cfg = NULL;
	char *text;

	libbpf_set_print(quiet);
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (!config__parse_string(text, "/tmp/fuzz.yaml", &cfg, &errs)) {
		struct trust_policy pol;

		/* A configuration that parses also yields its trust policy. */
		if (!config__trust_policy(cfg, &pol))
			config__trust_policy_free(&pol);
		config__free(cfg);
	}
	config_errors__free(&errs);
	free(text);
	return 0;
}
