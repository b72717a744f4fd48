/* Credential activation, verifier half: TPM2_MakeCredential in software.
 *
 * The verifier wraps a random credential so that only the TPM holding the EK
 * can unwrap it, and only for the key whose Name is given (the AK). The
 * derivation follows TPM 2.0 Part 1 "Credential Protection" and "Secret
 * Sharing" (see docs/evidence.md for the exact steps):
 *  - seed: RSA EK: random, OAEP-encrypted to the EK (hash = EK nameAlg,
 *    label "IDENTITY\0"); ECC EK: ephemeral ECDH, seed =
 *    KDFe(nameAlg, Z, "IDENTITY", ephemeral.x, EK.x, digest bits);
 *  - symKey = KDFa(nameAlg, seed, "STORAGE", name, "", EK's AES key bits);
 *  - encIdentity = AES-CFB(symKey, IV = 0, TPM2B_DIGEST(credential));
 *  - HMACkey = KDFa(nameAlg, seed, "INTEGRITY", "", "", digest bits);
 *  - outerHMAC = HMAC(nameAlg, HMACkey, encIdentity || name).
 * Every intermediate secret is wiped before returning. */
#ifndef ATTEST_CREDENTIAL_H
#define ATTEST_CREDENTIAL_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#define CREDENTIAL_MAX 64u /* bytes of credential (TPM2B_DIGEST) */
/* Marshalled outputs: TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET. */
#define CREDENTIAL_BLOB_MAX   (2u + sizeof(((TPM2B_ID_OBJECT *)0)->credential))
#define CREDENTIAL_SECRET_MAX (2u + sizeof(((TPM2B_ENCRYPTED_SECRET *)0)->secret))

struct credential_out {
	uint8_t blob[CREDENTIAL_BLOB_MAX]; /* marshalled TPM2B_ID_OBJECT */
	size_t blob_len;
	uint8_t secret[CREDENTIAL_SECRET_MAX]; /* marshalled TPM2B_ENCRYPTED_SECRET */
	size_t secret_len;
};

/* MakeCredential for credential (1..CREDENTIAL_MAX bytes) bound to the
 * object Name name (2..66 bytes, e.g. from tpm_public_name()) under the
 * storage key ek (RSA-2048 or ECC P-256/P-384 with an AES-128/256 CFB
 * symmetric definition, as EKs have). On success fills *ret.
 * ATTEST_E_ARG for bad sizes, ATTEST_E_UNSUPPORTED for an EK we cannot
 * use (says nothing more: the caller knows the EK), ATTEST_E_CRYPTO if
 * OpenSSL fails. *ret untouched on failure. */
int credential_make(const TPMT_PUBLIC *ek, const uint8_t *name, size_t name_len,
                    const uint8_t *credential, size_t credential_len, struct credential_out *ret);

/* KDFa (Part 1, 11.4.10.2), HMAC counter mode with hash alg: writes
 * bits/8 bytes (bits a multiple of 8, at most 8*512) to out. The label is
 * hashed with its terminating NUL. */
int credential_kdfa(TPM2_ALG_ID alg, const uint8_t *key, size_t key_len, const char *label,
                    const uint8_t *context_u, size_t u_len, const uint8_t *context_v, size_t v_len,
                    unsigned bits, uint8_t *out);

/* KDFe (Part 1, 11.4.10.3), the ECDH KDF: hash counter mode over
 * Z || label\0 || party_u || party_v; bits/8 bytes to out. */
int credential_kdfe(TPM2_ALG_ID alg, const uint8_t *z, size_t z_len, const char *label,
                    const uint8_t *party_u, size_t u_len, const uint8_t *party_v, size_t v_len,
                    unsigned bits, uint8_t *out);

/* The EK's symmetric definition as an OpenSSL cipher: AES-128 or AES-256
 * in CFB mode (bits in *ret_bits), or NULL for anything else. Shared with
 * the TPM's half (credential_activate.h). */
const EVP_CIPHER *credential_ek_cipher(const TPMT_PUBLIC *ek, unsigned *ret_bits);

#endif
