/* Endorsement Key certificates: parse leniently, verify strictly.
 *
 * The trust store (the *certified TPM list*) is a set of CA certificates
 * handed over as buffers (DER, or PEM with one or more certificates); the
 * program reads them from a directory. Every certificate in the store is a
 * trust anchor, whether self-signed or not: listing a vendor's intermediate
 * CA is how an operator trusts that vendor line (as keylime does), and some
 * vendors' roots are not public. Chains are built through the store's
 * certificates; verification time is the caller's `now`.
 *
 * Real EK certificates have quirks we accept deliberately:
 *  - an empty subject with a critical subjectAltName whose directoryName
 *    holds the TPM manufacturer/model/version (OIDs 2.23.133.2.1/2/3);
 *  - critical extensions OpenSSL does not know (TCG OIDs 2.23.133.*,
 *    subjectDirectoryAttributes) on the EK certificate itself, never on CAs;
 *  - bytes after the DER (NV indices are larger than the certificate);
 *  - encodings that are not strict DER but that OpenSSL still reads: reported
 *    in info->strict_der = false, not refused.
 * Everything else a chain check finds is a failure with a precise sentence:
 * unknown issuer (named), expired or not yet valid (dates), bad signature. */
#ifndef ATTEST_EKCERT_H
#define ATTEST_EKCERT_H

#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <tss2/tss2_tpm2_types.h>

#define EKCERT_MAX_SIZE  (64u * 1024) /* one certificate or PEM buffer */
#define EKCERT_STORE_MAX 4096u        /* certificates in a trust store */

struct ekcert_store;

/* A new, empty trust store; free with ekcert_store_free(). ATTEST_E_NOMEM. */
int ekcert_store_new(struct ekcert_store **ret);

/* Frees a store; NULL is fine. */
void ekcert_store_free(struct ekcert_store *s);

/* Add the certificate(s) in buf (DER, or PEM with one or more CERTIFICATE
 * blocks). On success *ret_added (optional) is how many were added.
 * ATTEST_E_FORMAT if nothing in buf is a certificate, ATTEST_E_LIMIT past
 * EKCERT_MAX_SIZE or EKCERT_STORE_MAX. Nothing is added on failure. */
int ekcert_store_add(struct ekcert_store *s, const uint8_t *buf, size_t len, size_t *ret_added);

/* Number of certificates in the store. */
size_t ekcert_store_count(const struct ekcert_store *s);

/* Facts read from an EK certificate. */
struct ekcert_info {
	bool strict_der;          /* re-encoding gives back the input bytes */
	size_t trailing_bytes;    /* bytes after the DER certificate (NV padding) */
	bool has_tpm_san;         /* manufacturer etc. found (SAN or subject) */
	char manufacturer_id[32]; /* as written, e.g. "id:49465800" */
	char manufacturer[8];     /* the vendor ID as ASCII, e.g. "IFX" */
	char model[64];
	char version[32];  /* as written, e.g. "id:00070002" */
	char subject[256]; /* one line; "" for an empty subject */
	char issuer[256];
	char not_before[32]; /* "2026-11-27T00:01:52Z" */
	char not_after[32];
	char key_type[16]; /* "RSA-2048", "EC-P-384", ... */
};

/* Parse an EK certificate (DER, possibly followed by padding) and read its
 * facts. On success *ret (optional) is the certificate (caller frees with
 * X509_free) and *info is filled. ATTEST_E_FORMAT if OpenSSL cannot read it
 * at all (msg, optional, says why, e.g. not DER), ATTEST_E_LIMIT if too big. */
int ekcert_parse(const uint8_t *buf, size_t len, X509 **ret, struct ekcert_info *info,
                 char msg[static 160]);

enum ekcert_status {
	EKCERT_OK = 0,
	EKCERT_MALFORMED,          /* "EK_CERT_MALFORMED" */
	EKCERT_UNKNOWN_ISSUER,     /* "EK_CERT_UNKNOWN_ISSUER" */
	EKCERT_EXPIRED,            /* "EK_CERT_EXPIRED" (leaf or a CA) */
	EKCERT_NOT_YET_VALID,      /* "EK_CERT_NOT_YET_VALID" */
	EKCERT_BAD_SIGNATURE,      /* "EK_CERT_BAD_SIGNATURE" */
	EKCERT_UNHANDLED_CRITICAL, /* "EK_CERT_UNHANDLED_CRITICAL_EXTENSION" */
	EKCERT_CHAIN_INVALID,      /* "EK_CERT_CHAIN_INVALID" anything else */
	EKCERT_KEY_MISMATCH,       /* "EK_CERT_KEY_MISMATCH" cert key != EK */
};

/* Stable reason code for a status; never NULL. */
const char *ekcert_status_code(enum ekcert_status s);

struct ekcert_result {
	enum ekcert_status status;
	int depth;         /* chain depth of the failing certificate, -1 if n/a */
	char message[512]; /* a sentence naming the certificate, dates, issuer */
};

/* Verify the EK certificate in buf against store at time now: the chain
 * (signatures, validity, CA constraints) and, if ek is non-NULL, that the
 * certificate's key equals ek. info (optional) gets ekcert_parse()'s facts.
 * Returns 0 when the verification ran (res->status says the outcome),
 * ATTEST_E_ARG / ATTEST_E_NOMEM / ATTEST_E_CRYPTO if it could not. */
int ekcert_verify(const struct ekcert_store *store, const uint8_t *buf, size_t len,
                  const TPMT_PUBLIC *ek, time_t now, struct ekcert_info *info,
                  struct ekcert_result *res);

/* One DER certificate (borrowed). */
struct ekcert_der {
	const uint8_t *der;
	size_t len;
};

#define EKCERT_CHAIN_MAX 8u /* certificates a TPM's chain may offer */

/* ekcert_verify() with the issuer chain the TPM holds in NV (TCG EK
 * Credential Profile indices 0x01c00100..): those certificates help build
 * the path to the trust store, but only the store's certificates are
 * anchors, so a store holding just the vendor's root is enough. A chain
 * certificate that does not parse is EKCERT_CHAIN_INVALID. ATTEST_E_ARG
 * past EKCERT_CHAIN_MAX. */
int ekcert_verify_chain(const struct ekcert_store *store, const uint8_t *buf, size_t len,
                        const struct ekcert_der *chain, size_t nchain, const TPMT_PUBLIC *ek,
                        time_t now, struct ekcert_info *info, struct ekcert_result *res);

/* Like ekcert_verify() but for a certificate already parsed, and with only
 * the store's self-signed certificates as anchors when roots_only is true
 * (used to check that a store's intermediates chain to its roots). */
int ekcert_verify_x509(const struct ekcert_store *store, X509 *cert, const TPMT_PUBLIC *ek,
                       time_t now, bool roots_only, struct ekcert_result *res);

/* The EK key hash operators approve a TPM by (attestctl host add --ek):
 * SHA-256 of the DER SubjectPublicKeyInfo of the EK public key, the same
 * bytes `openssl pkey -pubin -outform der` writes for it. 0, or
 * ATTEST_E_UNSUPPORTED for a key type lib/tpm.c cannot convert,
 * ATTEST_E_NOMEM / ATTEST_E_CRYPTO. */
int ekcert_key_sha256(const TPMT_PUBLIC *ek, uint8_t out[32]);

/* "SHA256:" and 64 lowercase hex digits of a hash, in out (72 bytes). */
void ekcert_key_sha256_text(const uint8_t hash[32], char out[72]);

/* The store's certificates, for callers that list it. Borrowed pointer,
 * NULL past the end. */
X509 *ekcert_store_get(const struct ekcert_store *s, size_t i);

#endif
