/* Evidence bundles: the JSON an agent produces for one attestation, and its
 * whole verification.
 *
 *   { "ak_public": base64 TPM2B_PUBLIC, "quote": base64 TPMS_ATTEST,
 *     "signature": base64 TPMT_SIGNATURE,
 *     "pcrs": { "sha256": { "0": hex, ... }, ... }, "nonce": hex,
 *     "metadata": { ... }, "eventlog": base64 (optional),
 *     "eventlog_unchanged": true (optional, only without "eventlog") }
 *
 * Parsing checks shape, sizes and encodings (strict base64, hex, PCR indexes
 * "0".."23" without leading zeros, known banks) and fails with a sentence;
 * unknown members are ignored. Verification failures are reasons
 * (quote.h), never parse errors. */
#ifndef ATTEST_BUNDLE_H
#define ATTEST_BUNDLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "diag.h"
#include "evidence.h"
#include "quote.h"

#define BUNDLE_MAX_SIZE     (24u * 1024 * 1024) /* JSON text: a 16 MiB log in base64 fits */
#define BUNDLE_MAX_DEPTH    8u                  /* nesting of arrays/objects */
#define BUNDLE_METADATA_MAX (64u * 1024)        /* canonical metadata bytes */

struct bundle {
	uint8_t *ak_public; /* marshalled TPM2B_PUBLIC */
	size_t ak_public_len;
	uint8_t *quote; /* TPMS_ATTEST bytes */
	size_t quote_len;
	uint8_t *signature; /* TPMT_SIGNATURE bytes */
	size_t signature_len;
	struct quote_pcrs pcrs;
	uint8_t nonce[EVIDENCE_NONCE_MAX];
	size_t nonce_len;
	json_t *metadata;         /* the object as received */
	char *metadata_canonical; /* evidence_metadata_canonical() of it */
	uint8_t *eventlog;        /* NULL if the bundle has none */
	size_t eventlog_len;
	/* The agent left the log out because its current log has the digest
	 * the verifier named in its request (docs/protocol.md); eventlog is
	 * NULL then. A claim, not a fact: verify.h says how it is used. */
	bool eventlog_unchanged;
	/* The agent's own account of the quote's time, "timing"."total_ms"
	 * (docs/protocol.md), in microseconds, rounded; -1 when it is absent
	 * or not a number from 0 to BUNDLE_HOST_MS_MAX. A claim the host makes
	 * about itself: never judged, never a reason to refuse a bundle; the
	 * verifier's metrics use it to tell the host's share of an
	 * attestation's time from its own. */
	int64_t host_us;
};

#define BUNDLE_HOST_MS_MAX 3600000 /* an hour: larger reported times are unknown */

/* "total_ms" as the readers keep it (host_us): ms in microseconds, or -1
 * outside 0..BUNDLE_HOST_MS_MAX (NaN included). */
int64_t bundle_host_us(double ms);

/* Why parsing failed: struct diag (diag.h). */

/* Parse a bundle (len bytes of JSON, at most BUNDLE_MAX_SIZE, nesting at
 * most BUNDLE_MAX_DEPTH). On success *ret is a new bundle the caller frees
 * with bundle_free(). ATTEST_E_LIMIT, ATTEST_E_FORMAT or ATTEST_E_NOMEM with
 * err (optional) filled in; *ret untouched on failure. */
int bundle_parse(const uint8_t *buf, size_t len, struct bundle **ret, struct diag *err);

/* The two readers bundle_parse() is made of, for the differential test and
 * the fuzz target. bundle_plain_parse(): the usual answer (strings of
 * printable ASCII without escapes, numbers without exponent and at most 18
 * digits before the point, objects of
 * at most 64 members) read without a JSON tree; returns 1 with *ret set
 * exactly as bundle_parse_json() would set it, or 0 (nothing kept, *ret
 * untouched) for anything else, which it never judges: bundle_parse() then
 * takes bundle_parse_json(), the jansson reader, whose result and error
 * sentence are the contract above. */
int bundle_plain_parse(const uint8_t *buf, size_t len, struct bundle **ret);
int bundle_parse_json(const uint8_t *buf, size_t len, struct bundle **ret, struct diag *err);

/* Frees a bundle; NULL is fine. */
void bundle_free(struct bundle *b);

struct bundle_result {
	struct quote_reasons reasons; /* empty: verified */
	struct quote_info quote;      /* what the quote says, if it decoded */
	bool ak_decoded;
	TPMT_PUBLIC ak;
	uint8_t ak_name[TPM_NAME_MAX];
	size_t ak_name_len;
	bool replayed; /* the event log parsed and replayed */
};

/* Verify a bundle: AK attributes, quote signature (by enrolled_ak if given,
 * else by the bundle's own ak_public), magic/type, extraData against
 * SHA-256(nonce || SHA-256(canonical metadata)), PCR digest, and the event
 * log replayed against every quoted PCR (EVENTLOG_REPLAY_MISMATCH names the
 * PCR, expected = quoted value, actual = replayed). If expected_nonce is
 * non-NULL the bundle's nonce must equal it (NONCE_NOT_FRESH otherwise).
 * Returns 0 when the checks ran (verified iff res->reasons.count == 0),
 * negative ATTEST_E_* if they could not (memory, OpenSSL). */
int bundle_verify(const struct bundle *b, const TPMT_PUBLIC *enrolled_ak,
                  const uint8_t *expected_nonce, size_t expected_nonce_len,
                  struct bundle_result *res);

/* Bank name in bundles ("sha256") to TPM_ALG_ID, 0 if unknown; and back
 * (NULL if unknown). */
uint16_t bundle_bank_alg(const char *name);
const char *bundle_bank_name(uint16_t alg);

#endif
