/* Fuzz evidence bundle parsing and verification (JSON, base64, hex, TPM
 * structures, event log) with arbitrary input; and the plain reader
 * (bundle_plain.c) against the jansson reader: whatever the plain one takes,
 * jansson must take too, to the same bundle. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_or_abort(const struct bundle *a, const struct bundle *b)
{
	if (a->ak_public_len != b->ak_public_len ||
	    memcmp(a->ak_public, b->ak_public, a->ak_public_len) != 0 ||
	    a->quote_len != b->quote_len || memcmp(a->quote, b->quote, a->quote_len) != 0 ||
	    a->signature_len != b->signature_len ||
	    memcmp(a->signature, b->signature, a->signature_len) != 0 ||
	    memcmp(&a->pcrs, &b->pcrs, sizeof a->pcrs) != 0 || a->nonce_len != b->nonce_len ||
	    memcmp(a->nonce, b->nonce, a->nonce_len) != 0 ||
	    strcmp(a->metadata_canonical, b->metadata_canonical) != 0 ||
	    !json_equal(a->metadata, b->metadata) ||
	    a->eventlog_unchanged != b->eventlog_unchanged || a->host_us != b->host_us ||
	    (a->eventlog == NULL) != (b->eventlog == NULL) || a->eventlog_len != b->eventlog_len ||
	    (a->eventlog && memcmp(a->eventlog, b->eventlog, a->eventlog_len) != 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bundle *p = NULL, *j = NULL;
	struct diag jerr;
	int rp = bundle_plain_parse(data, size, &p);
	int rj = bundle_parse_json(data, size, &j, &jerr);
	if (rp == 1 && rj != 0)
		abort(); /* the plain reader took what jansson refuses */
	if (rp == 1)
		same_or_abort(p, j);
	bundle_free(p);
	bundle_free(j);
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
