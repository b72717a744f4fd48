/* libFuzzer target: the policy parser, and the canonical-JSON round trip
 * (whatever parses must serialise to JSON that parses back to the same
 * bytes). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy *p = NULL;
	struct diag err;
	if (policy_parse((const char *)data, size, &p, &err) < 0)
		return 0;
	char *a = NULL, *b = NULL;
	struct policy *q = NULL;
	if (policy_to_json(p, false, &a) == 0) {
		if (policy_parse(a, strlen(a), &q, &err) < 0)
			abort(); /* our own output must parse */
		if (policy_to_json(q, false, &b) == 0 && strcmp(a, b) != 0)
			abort(); /* and be canonical */
	}
	TPML_PCR_SELECTION sel;
	policy_tpm_selection(p, &sel);
	free(a);
	free(b);
	policy_free(q);
	policy_free(p);
	return 0;
}
