/* TLS identity of a program: an EC P-256 (or Ed25519) key and a self-signed
 * certificate kept in the program's data directory, and the certificate
 * thumbprint that operators see, compare and pin.
 *
 * Files (see docs/transport.md):
 *   DIR/NAME.key  PKCS#8 PEM private key, mode 0600, never readable by group
 *                 or others (a key file with such bits is refused)
 *   DIR/NAME.crt  PEM X.509 v3 certificate, mode 0644
 *
 * Thumbprint: "SHA256:" followed by the 64 lowercase hex digits of SHA-256
 * over the certificate's DER encoding. tlsid_thumbprint_parse() is lenient
 * in what operators may type (see there) and always yields that form. */
#ifndef ATTEST_TLSID_H
#define ATTEST_TLSID_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* "SHA256:" + 64 hex digits; the _SIZE includes the NUL. */
#define TLSID_THUMBPRINT_LEN  71
#define TLSID_THUMBPRINT_SIZE 72

/* Caps on the identity files read back (a P-256 key is ~250 bytes). */
#define TLSID_MAX_KEY_FILE  (16u * 1024u)
#define TLSID_MAX_CERT_FILE (64u * 1024u)
/* Most subjectAltName entries accepted when creating a certificate. */
#define TLSID_MAX_SANS 32
/* Validity of a created certificate. */
#define TLSID_VALIDITY_DAYS 3650

struct tlsid {
	EVP_PKEY *key; /* private key (owned) */
	X509 *cert;    /* certificate (owned) */
	char thumbprint[TLSID_THUMBPRINT_SIZE];
	int created; /* 1 if this call created the files, 0 if it loaded them */
};

/* Load DIR/NAME.key and DIR/NAME.crt, creating what is missing:
 *  - neither file exists: create a fresh P-256 key and a self-signed
 *    certificate (CN=name, subjectAltName from sans: each entry that parses
 *    as an IPv4/IPv6 address becomes an IP name, anything else a DNS name;
 *    sans may be NULL or NULL-terminated). Key written first, then cert, each
 *    atomically (temporary file, fsync, rename).
 *  - key exists, cert missing (a start that died between the two writes,
 *    before the thumbprint could be shown): a certificate is made for the
 *    existing key.
 *  - cert exists, key missing: refused (ATTEST_E_NOTFOUND); an identity is
 *    never replaced silently.
 *  - both exist: loaded; the key must belong to the certificate.
 * The key file must be a regular file not accessible by group or others
 * (ATTEST_E_STATE otherwise, with "chmod 600" advice in errbuf).
 * On success *ret is a new identity (free with tlsid_free). On failure
 * returns a negative ATTEST_E_* and, if errbuf is not NULL, a sentence
 * naming the file in errbuf (errlen bytes, always NUL-terminated). */
int tlsid_load_or_create(const char *dir, const char *name, const char *const *sans,
                         struct tlsid **ret, char *errbuf, size_t errlen);

/* The key a new identity gets. P-256 is what browsers accept (the
 * verifier's API and dashboard). Ed25519 for identities only our own
 * programs connect to (an agent's, which only verifiers reach): a
 * verifier keeps one connection per agent, and an agent's parsed
 * Ed25519 certificate holds about 1.8 KB less than a P-256 one there
 * (no EC group of its own), and parses faster. An existing identity is
 * loaded as it is, whatever its key. */
enum tlsid_key {
	TLSID_KEY_P256 = 0,
	TLSID_KEY_ED25519,
};

/* tlsid_load_or_create with the kind of key to create (ATTEST_E_ARG for
 * another value). */
int tlsid_load_or_create_ex(const char *dir, const char *name, const char *const *sans,
                            enum tlsid_key kind, struct tlsid **ret, char *errbuf, size_t errlen);

/* Free an identity (NULL accepted). The key is freed by OpenSSL, which
 * clears private key material. */
void tlsid_free(struct tlsid *id);

/* Thumbprint of a certificate into out (TLSID_THUMBPRINT_SIZE bytes).
 * ATTEST_E_ARG if cert is NULL, ATTEST_E_CRYPTO if it cannot be encoded. */
int tlsid_thumbprint_of(const X509 *cert, char out[TLSID_THUMBPRINT_SIZE]);

/* Normalise a thumbprint typed by an operator into the canonical form.
 * Accepted: an optional "SHA256:" prefix (any case), then 64 hex digits in
 * any case, or 32 hex pairs separated by ':' (as `openssl x509 -fingerprint
 * -sha256` prints them). Nothing else: no spaces, no other algorithm.
 * Returns 0 and writes the canonical "SHA256:<lowercase hex>" to out, or
 * ATTEST_E_FORMAT (out untouched). */
int tlsid_thumbprint_parse(const char *text, char out[TLSID_THUMBPRINT_SIZE]);

/* Constant-time equality of two canonical thumbprints (1 equal, 0 not). */
int tlsid_thumbprint_equal(const char *a, const char *b);

#endif
