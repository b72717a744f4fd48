/* TPM 2.0 structures as the verifier sees them: decoded from untrusted bytes,
 * never produced by a TPM here.
 *
 * Decoders use tss2-mu (which checks every length against the buffer it is
 * given) and then insist that the input is exactly one structure: trailing
 * bytes are refused with ATTEST_E_TRAILING, and a TPM2B whose declared size
 * does not match its contents with ATTEST_E_FORMAT. Keys are restricted to
 * what attest supports (RSA-2048, ECC NIST P-256 and P-384; name algorithms
 * SHA-256, SHA-384, SHA-512); anything else is ATTEST_E_UNSUPPORTED with a
 * sentence in struct diag naming the field and its value.
 *
 * Nothing here allocates except tpm_public_to_pkey(). */
#ifndef ATTEST_TPM_H
#define ATTEST_TPM_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include <tss2/tss2_tpm2_types.h>

/* A Name is nameAlg (2 bytes, big endian) || H(TPMT_PUBLIC). */
#define TPM_NAME_MAX (2u + 64u)
/* Largest marshalled TPM2B_PUBLIC / TPMS_ATTEST / TPMT_SIGNATURE we read. */
#define TPM_PUBLIC_MAX    ((size_t)sizeof(TPM2B_PUBLIC))
#define TPM_ATTEST_MAX    ((size_t)sizeof(TPMS_ATTEST))
#define TPM_SIGNATURE_MAX ((size_t)sizeof(TPMT_SIGNATURE))

/* Why a decode failed: struct diag (diag.h), a sentence. Optional
 * everywhere (NULL is fine). */

/* Decode a marshalled TPM2B_PUBLIC (u16 size, then TPMT_PUBLIC) into *ret.
 * Checks: the size field equals the bytes of the TPMT_PUBLIC, nothing
 * follows, the key is RSA-2048 or ECC P-256/P-384 with a unique field of the
 * right length, the name algorithm is SHA-256/384/512.
 * Errors: ATTEST_E_TRUNCATED, ATTEST_E_FORMAT, ATTEST_E_TRAILING,
 * ATTEST_E_UNSUPPORTED; *ret untouched on failure. */
int tpm_public_decode(const uint8_t *buf, size_t len, TPMT_PUBLIC *ret, struct diag *err);

/* Decode marshalled TPMS_ATTEST bytes (what TPM2_Quote signs; the TPM2B
 * size prefix of TPM2B_ATTEST is NOT included). Only structure is checked
 * here (magic and type are verification results, see quote.h).
 * Errors as tpm_public_decode(). */
int tpm_attest_decode(const uint8_t *buf, size_t len, TPMS_ATTEST *ret, struct diag *err);

/* Decode a marshalled TPMT_SIGNATURE. Errors as tpm_public_decode(). */
int tpm_signature_decode(const uint8_t *buf, size_t len, TPMT_SIGNATURE *ret, struct diag *err);

/* Marshal a TPMT_PUBLIC into out (cap bytes). On success *ret_len is the
 * byte count. ATTEST_E_LIMIT if it does not fit, ATTEST_E_FORMAT if tss2-mu
 * refuses the structure. */
int tpm_public_marshal(const TPMT_PUBLIC *pub, uint8_t *out, size_t cap, size_t *ret_len);

/* The object's Name: nameAlg || H_nameAlg(marshalled TPMT_PUBLIC), written
 * to out (TPM_NAME_MAX bytes). *ret_len is 2 + digest size.
 * ATTEST_E_UNSUPPORTED for a name algorithm we do not hash. */
int tpm_public_name(const TPMT_PUBLIC *pub, uint8_t out[static TPM_NAME_MAX], size_t *ret_len);

/* OpenSSL digest for a TPM hash algorithm id; NULL if unsupported.
 * (SHA-1, SHA-256, SHA-384, SHA-512.) */
const EVP_MD *tpm_alg_md(TPM2_ALG_ID alg);

/* Digest size of a TPM hash algorithm id; 0 if unsupported. */
size_t tpm_alg_digest_size(TPM2_ALG_ID alg);

/* Short lowercase name of a TPM algorithm id ("sha256", "rsassa", "ecc"),
 * or "0x%04x"-style "unknown" for others. Never NULL. */
const char *tpm_alg_name(TPM2_ALG_ID alg);

/* The public key of an RSA or ECC TPMT_PUBLIC as an OpenSSL key (RSA
 * exponent 0 means 65537). The ECC point is checked to lie on the curve.
 * On success *ret is a new key the caller frees with EVP_PKEY_free().
 * ATTEST_E_UNSUPPORTED for other key types/curves, ATTEST_E_CRYPTO if
 * OpenSSL refuses the key (e.g. point not on the curve). */
int tpm_public_to_pkey(const TPMT_PUBLIC *pub, EVP_PKEY **ret);

/* Whether an OpenSSL public key (e.g. from an EK certificate) is the same key
 * as pub. Returns 1 if equal, 0 if not (different type, curve or value),
 * negative ATTEST_E_* if pub cannot be converted. */
int tpm_public_matches_pkey(const TPMT_PUBLIC *pub, const EVP_PKEY *pkey);

/* Curve size in bytes for a TPM ECC curve id (32, 48), 0 if unsupported. */
size_t tpm_ecc_curve_size(TPM2_ECC_CURVE curve);

#endif
