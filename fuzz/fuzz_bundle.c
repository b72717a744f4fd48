/* Fuzz evidence bundle parsing and verification (JSON, base64, hex, TPM
 * structures, event log) with arbitrary input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bundle *b = NULL;
	struct diag err;
	if (bundle_parse(data, size, &b, &err) != 0)
		return 0;
	struct bundle_result *res = malloc(sizeof *res);
	if (res) {
		bundle_verify(b, NULL, NULL, 0, res);
		free(res);
	}
	bundle_free(b);
	return 0;
}
