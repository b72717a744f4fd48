/* Credential activation, the TPM's half: TPM2_ActivateCredential in
 * software, for programs that hold an EK private key outside a TPM (the
 * emulated hosts of attest-swarm, see docs/simulator.md). The inverse of
 * credential_make() (credential.h), following TPM 2.0 Part 1 "Credential
 * Protection":
 *  - seed: RSA EK: OAEP-decrypted with the EK (hash = EK nameAlg, label
 *    "IDENTITY\0"); ECC EK: Z = x of ECDH(EK, ephemeral point in the
 *    secret), seed = KDFe(nameAlg, Z, "IDENTITY", ephemeral.x, EK.x);
 *  - HMACkey = KDFa(nameAlg, seed, "INTEGRITY"); the blob's outerHMAC must
 *    equal HMAC(HMACkey, encIdentity || name) (compared in constant time);
 *  - symKey = KDFa(nameAlg, seed, "STORAGE", name); the credential is
 *    AES-CFB-decrypted (IV 0) from encIdentity, a TPM2B_DIGEST.
 * Every intermediate secret is wiped before returning. */
#ifndef ATTEST_CREDENTIAL_ACTIVATE_H
#define ATTEST_CREDENTIAL_ACTIVATE_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "credential.h"

/* ActivateCredential: ek is the EK's public area, ek_priv its private key
 * (RSA-2048 or ECC P-256/P-384, matching ek; not checked here), name the
 * Name of the key the credential was made for (2..66 bytes), blob the
 * marshalled TPM2B_ID_OBJECT and secret the marshalled
 * TPM2B_ENCRYPTED_SECRET (both with their 2-byte sizes, nothing after). On
 * success writes the credential to out (CREDENTIAL_MAX bytes of room) and
 * its length to *ret_len.
 * Returns ATTEST_E_ARG for bad arguments, ATTEST_E_FORMAT (or
 * ATTEST_E_TRUNCATED, ATTEST_E_LIMIT, ATTEST_E_TRAILING) for blobs that do
 * not parse, ATTEST_E_VERIFY when the seed cannot be recovered with this
 * EK or the integrity HMAC does not match (another EK, another Name, a
 * tampered blob: what a TPM answers TPM_RC_INTEGRITY or TPM_RC_VALUE for),
 * ATTEST_E_UNSUPPORTED for an EK we cannot use, ATTEST_E_CRYPTO if OpenSSL
 * fails. out and *ret_len are untouched on failure. */
int credential_activate(const TPMT_PUBLIC *ek, EVP_PKEY *ek_priv, const uint8_t *name,
                        size_t name_len, const uint8_t *blob, size_t blob_len,
                        const uint8_t *secret, size_t secret_len, uint8_t out[CREDENTIAL_MAX],
                        size_t *ret_len);

#endif
