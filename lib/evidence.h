/* The binding between a quote and the host metadata sent beside it.
 *
 * qualifyingData = SHA-256(nonce || SHA-256(metadata)), where metadata is the
 * canonical serialisation of the metadata JSON object: compact, keys sorted,
 * non-ASCII escaped (jansson JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII).
 * The agent signs exactly these bytes; the verifier re-serialises the object
 * it received the same way, so any edit to the metadata changes the quote's
 * extraData. docs/protocol.md gives the bytes. */
#ifndef ATTEST_EVIDENCE_H
#define ATTEST_EVIDENCE_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#define EVIDENCE_QUALIFYING_SIZE 32u
#define EVIDENCE_NONCE_MIN       16u /* bytes; shorter nonces are refused */
#define EVIDENCE_NONCE_MAX       64u

/* Compute qualifyingData into out. ATTEST_E_ARG if the nonce length is out of
 * [EVIDENCE_NONCE_MIN, EVIDENCE_NONCE_MAX]; ATTEST_E_CRYPTO if hashing fails. */
int evidence_qualifying_data(const uint8_t *nonce, size_t nonce_len, const uint8_t *metadata,
                             size_t metadata_len, uint8_t out[static EVIDENCE_QUALIFYING_SIZE]);

/* The same with SHA-256 given (an EVP_MD the caller fetched once: an
 * implicit fetch per hash costs more than hashing a nonce). sha256 must be
 * SHA-256; NULL: EVP_sha256(). */
int evidence_qualifying_data_md(const EVP_MD *sha256, const uint8_t *nonce, size_t nonce_len,
                                const uint8_t *metadata, size_t metadata_len,
                                uint8_t out[static EVIDENCE_QUALIFYING_SIZE]);

/* Canonical bytes of a metadata object. On success *ret is a malloc'd
 * NUL-terminated string (caller frees). ATTEST_E_FORMAT if meta is not an
 * object. */
int evidence_metadata_canonical(const json_t *meta, char **ret);

#endif
