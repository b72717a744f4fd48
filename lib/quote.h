/* Verifying a TPM2_Quote, and the attributes an Attestation Key must have.
 *
 * Verification failures are RESULTS, not errors: each is a struct
 * quote_reason with a stable code (quote_status_code(), e.g.
 * "QUOTE_SIGNATURE_INVALID", "NONCE_MISMATCH", "PCR_DIGEST_MISMATCH"), a
 * sentence, and the evidence that failed (PCR index and bank, expected and
 * actual values in hex). A function returns a negative ATTEST_E_* only when
 * it could not do its job (bad arguments, OpenSSL out of memory).
 *
 * The same reason list is used by the evidence bundle (bundle.h), so the
 * codes of the whole verification live in one enum here. */
#ifndef ATTEST_QUOTE_H
#define ATTEST_QUOTE_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "tpm.h"

#define QUOTE_NUM_PCRS    24u /* PCRs 0..23: what PC Client TPMs have */
#define QUOTE_MAX_BANKS   4u  /* banks a caller may report values for */
#define QUOTE_MAX_DIGEST  64u /* bytes, SHA-512 */
#define QUOTE_MAX_REASONS 32u /* further reasons are counted, not stored */
#define QUOTE_HEX_MAX     (2u * 64u + 1u)

enum quote_status {
	QUOTE_OK = 0,
	/* quote */
	QUOTE_MALFORMED,                 /* "QUOTE_MALFORMED" TPMS_ATTEST does not decode */
	QUOTE_SIGNATURE_MALFORMED,       /* "SIGNATURE_MALFORMED" TPMT_SIGNATURE does not decode */
	QUOTE_SIGNATURE_UNSUPPORTED,     /* "SIGNATURE_UNSUPPORTED" scheme/hash we do not verify */
	QUOTE_SIGNATURE_SCHEME_MISMATCH, /* "SIGNATURE_SCHEME_MISMATCH" not the AK's scheme */
	QUOTE_SIGNATURE_INVALID,         /* "QUOTE_SIGNATURE_INVALID" */
	QUOTE_BAD_MAGIC,                 /* "QUOTE_BAD_MAGIC" not TPM_GENERATED_VALUE */
	QUOTE_BAD_TYPE,                  /* "QUOTE_BAD_TYPE" not TPM_ST_ATTEST_QUOTE */
	QUOTE_NONCE_MISMATCH,            /* "NONCE_MISMATCH" extraData != qualifying data */
	QUOTE_PCR_DIGEST_MISMATCH,       /* "PCR_DIGEST_MISMATCH" */
	QUOTE_PCR_SELECTION_MISMATCH,    /* "PCR_SELECTION_MISMATCH" */
	QUOTE_PCR_SELECTION_UNSUPPORTED, /* "PCR_SELECTION_UNSUPPORTED" bank or PCR >= 24 */
	QUOTE_PCR_VALUE_MISSING,         /* "PCR_VALUE_MISSING" quoted but not reported */
	QUOTE_PCR_NOT_QUOTED,            /* "PCR_NOT_QUOTED" reported but not quoted */
	/* attestation key */
	QUOTE_AK_UNSUPPORTED,               /* "AK_UNSUPPORTED" not RSA-2048 / ECC P-256/P-384 */
	QUOTE_AK_NOT_RESTRICTED,            /* "AK_NOT_RESTRICTED" */
	QUOTE_AK_NOT_SIGNING,               /* "AK_NOT_SIGNING" */
	QUOTE_AK_DECRYPT,                   /* "AK_DECRYPT" */
	QUOTE_AK_NOT_FIXED_TPM,             /* "AK_NOT_FIXED_TPM" */
	QUOTE_AK_NOT_FIXED_PARENT,          /* "AK_NOT_FIXED_PARENT" */
	QUOTE_AK_NOT_SENSITIVE_DATA_ORIGIN, /* "AK_NOT_SENSITIVE_DATA_ORIGIN" */
	QUOTE_AK_NAME_ALG,                  /* "AK_NAME_ALG" nameAlg is not SHA-256 */
	QUOTE_AK_SCHEME,                    /* "AK_SCHEME" not a SHA-256 signing scheme */
	/* evidence bundle (bundle.h) */
	QUOTE_NONCE_NOT_FRESH,          /* "NONCE_NOT_FRESH" bundle nonce != the one asked for */
	QUOTE_EVENTLOG_MISSING,         /* "EVENTLOG_MISSING" */
	QUOTE_EVENTLOG_INVALID,         /* "EVENTLOG_INVALID" does not parse */
	QUOTE_EVENTLOG_BANK_MISSING,    /* "EVENTLOG_BANK_MISSING" log lacks a quoted bank */
	QUOTE_EVENTLOG_REPLAY_MISMATCH, /* "EVENTLOG_REPLAY_MISMATCH" names the PCR */
	QUOTE_STATUS__COUNT
};

/* Stable reason code string for a status ("NONCE_MISMATCH"); never NULL. */
const char *quote_status_code(enum quote_status s);

/* PCR values reported beside a quote (or replayed from a log). */
struct quote_pcr_bank {
	uint16_t alg;     /* TPM_ALG_ID */
	uint16_t size;    /* digest size of alg */
	uint32_t present; /* bit i set: value[i] was reported */
	uint8_t value[QUOTE_NUM_PCRS][QUOTE_MAX_DIGEST];
};

struct quote_pcrs {
	uint32_t bank_count;
	struct quote_pcr_bank banks[QUOTE_MAX_BANKS];
};

/* The bank for alg, or NULL. */
const struct quote_pcr_bank *quote_pcrs_bank(const struct quote_pcrs *p, uint16_t alg);

/* Set PCR index of bank alg to value (size must be alg's digest size);
 * adds the bank if needed. ATTEST_E_ARG for a bad index/size/algorithm,
 * ATTEST_E_LIMIT if QUOTE_MAX_BANKS banks are already in use. */
int quote_pcrs_set(struct quote_pcrs *p, uint16_t alg, unsigned index, const uint8_t *value,
                   size_t size);

struct quote_reason {
	enum quote_status status;
	int pcr;      /* PCR index the reason is about, or -1 */
	uint16_t alg; /* bank (TPM_ALG_ID), or 0 */
	char message[256];
	char expected[QUOTE_HEX_MAX]; /* hex, "" if not applicable */
	char actual[QUOTE_HEX_MAX];
};

struct quote_reasons {
	size_t count;   /* entries in list */
	size_t dropped; /* reasons beyond QUOTE_MAX_REASONS, counted only */
	struct quote_reason list[QUOTE_MAX_REASONS];
};

/* Append a reason; expected/actual may be NULL (then ""). Values longer
 * than 64 bytes are cut in the hex (the message should say more). */
void quote_reasons_add(struct quote_reasons *rs, enum quote_status st, int pcr, uint16_t alg,
                       const uint8_t *expected, size_t expected_len, const uint8_t *actual,
                       size_t actual_len, const char *fmt, ...)
    __attribute__((format(printf, 9, 10)));

/* Whether any reason with status st is in the list. */
bool quote_reasons_has(const struct quote_reasons *rs, enum quote_status st);

/* What a quote says, for the caller (restart detection, display). Filled
 * as far as the quote decodes; `decoded` tells whether it did. */
struct quote_info {
	bool decoded;
	TPMS_CLOCK_INFO clock; /* clock, resetCount, restartCount, safe */
	uint64_t firmware_version;
	uint8_t signer[TPM_NAME_MAX]; /* qualifiedSigner */
	size_t signer_len;
	TPML_PCR_SELECTION selection;
	uint8_t pcr_digest[QUOTE_MAX_DIGEST];
	size_t pcr_digest_len;
	uint8_t extra_data[64];
	size_t extra_data_len;
};

/* Check that a public area is acceptable as an AK: restricted, sign, not
 * decrypt, fixedTPM, fixedParent, sensitiveDataOrigin (userWithAuth is
 * allowed), nameAlg SHA-256, scheme NULL or a SHA-256 signing scheme of the
 * key's type. Each failed property adds its own reason. */
void quote_check_ak(const TPMT_PUBLIC *ak, struct quote_reasons *rs);

/* Verify a quote.
 *  ak, ak_key: the AK's public area and, optionally, the same key already
 *    converted with tpm_public_to_pkey() (NULL: converted here).
 *  attest: the TPMS_ATTEST bytes that were signed; sig: TPMT_SIGNATURE bytes.
 *  qualifying: expected extraData (e.g. evidence_qualifying_data()).
 *  pcrs: reported PCR values; every quoted PCR must be present and every
 *    reported PCR must be quoted.
 *  want: if non-NULL, PCR selection the quote must cover (a policy's).
 * Checks the signature (scheme consistent with the AK; SHA-256 only), magic,
 * type, extraData (constant time), the PCR digest over the reported values
 * in the TPM's order (selections as listed, PCR index ascending). Adds one
 * reason per failure to rs (which the caller zeroes first) and fills info
 * (optional). Returns 0 when the checks ran (verified iff rs->count == 0),
 * ATTEST_E_ARG, ATTEST_E_NOMEM or ATTEST_E_CRYPTO otherwise. */
int quote_verify(const TPMT_PUBLIC *ak, EVP_PKEY *ak_key, const uint8_t *attest, size_t attest_len,
                 const uint8_t *sig, size_t sig_len, const uint8_t *qualifying,
                 size_t qualifying_len, const struct quote_pcrs *pcrs,
                 const TPML_PCR_SELECTION *want, struct quote_info *info, struct quote_reasons *rs);

/* An enrolled AK made ready to verify quote after quote: its public key
 * converted to an OpenSSL key once, SHA-256 fetched once, and an OpenSSL
 * verification context set up once for the signature scheme the quotes
 * use, so that a quote costs the signature's arithmetic and not its setup.
 * Holds no secret. Not thread-safe: one quote_ak serves one
 * quote_verify_ak() at a time (a host's memo keeps one, verify_memo.h). */
struct quote_ak;

/* Prepare ak (which the caller keeps). On success *ret is new (free with
 * quote_ak_free). ATTEST_E_UNSUPPORTED or ATTEST_E_FORMAT when the key
 * cannot be used (quote_verify reports that as AK_UNSUPPORTED),
 * ATTEST_E_NOMEM, ATTEST_E_ARG; *ret untouched on failure. */
int quote_ak_new(const TPMT_PUBLIC *ak, struct quote_ak **ret);

/* NULL is fine. */
void quote_ak_free(struct quote_ak *k);

/* Bytes a quote_ak holds, estimated (OpenSSL's key and context inside). */
size_t quote_ak_bytes(const struct quote_ak *k);

/* The SHA-256 the AK fetched (an EVP_MD the caller may use for as long as
 * it holds k; never NULL for a prepared AK). */
const EVP_MD *quote_ak_sha256(const struct quote_ak *k);

/* quote_verify() with a prepared AK: the same checks in the same order,
 * the same reasons, the same returns. The signature is verified on every
 * call; only the key's conversion and the context's setup are reused. */
int quote_verify_ak(struct quote_ak *ak, const uint8_t *attest, size_t attest_len,
                    const uint8_t *sig, size_t sig_len, const uint8_t *qualifying,
                    size_t qualifying_len, const struct quote_pcrs *pcrs,
                    const TPML_PCR_SELECTION *want, struct quote_info *info,
                    struct quote_reasons *rs);

/* Hash of the reported PCR values selected by sel, in the TPM's order, with
 * hash algorithm alg, into out (*ret_len = digest size). ATTEST_E_NOTFOUND if
 * a selected value is missing, ATTEST_E_UNSUPPORTED for an unknown bank or a
 * PCR index >= QUOTE_NUM_PCRS. */
int quote_pcr_digest(const TPML_PCR_SELECTION *sel, const struct quote_pcrs *pcrs, TPM2_ALG_ID alg,
                     uint8_t out[static QUOTE_MAX_DIGEST], size_t *ret_len);

#endif
