// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer target: the ACL rule text parser (lib/acl.c), as `sluicectl
 * rule add` and the saved rules files feed it. A rule that parses must
 * print back to text that parses to the same rule: a rule whose meaning
 * changes across a restart (issue #11, defect 1) is a crash here.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "acl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct acl_rule_spec r, again;
	char err[256], *text, *out, *out2;

	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (acl_rule_parse(text, &r, err, sizeof(err))) {
		free(text);
		return 0;
	}
	out = acl_rule_text(&r);
	if (!out)
		abort();
	if (acl_rule_parse(out, &again, err, sizeof(err))) {
		fprintf(stderr, "\"%s\" printed as \"%s\", which does not parse: %s\n", text, out, err);
		abort();
	}
	out2 = acl_rule_text(&again);
	if (!out2 || strcmp(out, out2) || r.nr_src != again.nr_src || r.nr_dst != again.nr_dst ||
	    r.dport_lo != again.dport_lo || r.dport_hi != again.dport_hi ||
	    r.sport_lo != again.sport_lo || r.sport_hi != again.sport_hi || r.proto != again.proto ||
	    r.action != again.action || r.id != again.id || r.family != again.family ||
	    r.tcp_flags_mask != again.tcp_flags_mask || r.tcp_flags_value != again.tcp_flags_value ||
	    r.has != again.has || r.vlan_lo != again.vlan_lo || r.vlan_hi != again.vlan_hi) {
		fprintf(stderr, "\"%s\" changed meaning: \"%s\" -> \"%s\"\n", text, out, out2 ? out2 : "?");
		abort();
	}
	if (acl_rule_check(&r, err, sizeof(err)))
		abort();
	free(out);
	free(out2);
	acl_rule_spec_free(&r);
	acl_rule_spec_free(&again);
	free(text);
	return 0;
}
