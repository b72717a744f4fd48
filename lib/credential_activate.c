/* TPM2_ActivateCredential in software (TPM 2.0 Part 1, credential
 * protection): the TPM's half of credential.c. */
#include "credential_activate.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>
#include <string.h>

#include "err.h"
#include "reader.h"
#include "tpm.h"

#define SEED_MAX 64u /* a nameAlg digest: SHA-512 at most */

/* RSA: seed = OAEP-decrypt(EK, enc, label "IDENTITY\0"). */
static int seed_rsa(EVP_PKEY *priv, const EVP_MD *md, const uint8_t *enc, size_t enc_len,
                    uint8_t *seed, size_t seed_len)
{
	static const char label[] = "IDENTITY";
	uint8_t buf[512]; /* OpenSSL wants room for a whole RSA block */
	size_t n = sizeof buf;
	int rc = ATTEST_E_VERIFY;
	unsigned char *lab = OPENSSL_memdup(label, sizeof label); /* with its NUL */
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
	if (!lab || !c || EVP_PKEY_decrypt_init(c) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(c, md) <= 0 || EVP_PKEY_CTX_set_rsa_mgf1_md(c, md) <= 0 ||
	    EVP_PKEY_CTX_set0_rsa_oaep_label(c, lab, (int)sizeof label) <= 0) {
		rc = ATTEST_E_CRYPTO;
		goto out;
	}
	lab = NULL; /* owned by c now */
	if (EVP_PKEY_decrypt(c, buf, &n, enc, enc_len) <= 0 || n != seed_len)
		goto out;
	memcpy(seed, buf, n);
	rc = 0;
out:
	OPENSSL_cleanse(buf, sizeof buf);
	OPENSSL_free(lab);
	EVP_PKEY_CTX_free(c);
	ERR_clear_error();
	return rc;
}

/* ECC: enc is a TPMS_ECC_POINT (the verifier's ephemeral key); Z = x of
 * ECDH with the EK; seed = KDFe(nameAlg, Z, "IDENTITY", eph.x, EK.x). */
static int seed_ecc(const TPMT_PUBLIC *ek, EVP_PKEY *priv, const uint8_t *enc, size_t enc_len,
                    uint8_t *seed, size_t seed_len)
{
	size_t n = tpm_ecc_curve_size(ek->parameters.eccDetail.curveID);
	if (!n || n > sizeof ek->unique.ecc.x.buffer)
		return ATTEST_E_UNSUPPORTED;
	struct reader r, rx, ry;
	reader_init(&r, enc, enc_len);
	int rc = reader_tpm2b(&r, n, &rx);
	if (!rc)
		rc = reader_tpm2b(&r, n, &ry);
	if (rc)
		return rc;
	if (reader_left(&r))
		return ATTEST_E_TRAILING;
	if (reader_left(&rx) != n || reader_left(&ry) != n)
		return ATTEST_E_FORMAT;
	/* The ephemeral point as a public area on the EK's curve. */
	TPMT_PUBLIC eph = *ek;
	reader_copy(&rx, eph.unique.ecc.x.buffer, n);
	reader_copy(&ry, eph.unique.ecc.y.buffer, n);
	eph.unique.ecc.x.size = eph.unique.ecc.y.size = (UINT16)n;
	EVP_PKEY *peer = NULL;
	if (tpm_public_to_pkey(&eph, &peer) < 0)
		return ATTEST_E_VERIFY; /* not a point on the curve */
	uint8_t z[66];
	size_t zl = sizeof z;
	rc = ATTEST_E_VERIFY;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
	if (c && EVP_PKEY_derive_init(c) > 0 && EVP_PKEY_derive_set_peer(c, peer) > 0 &&
	    EVP_PKEY_derive(c, z, &zl) > 0 && zl == n)
		rc = credential_kdfe(ek->nameAlg, z, n, "IDENTITY", eph.unique.ecc.x.buffer, n,
		                     ek->unique.ecc.x.buffer, n, (unsigned)(seed_len * 8), seed);
	OPENSSL_cleanse(z, sizeof z);
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(peer);
	ERR_clear_error();
	return rc;
}

int credential_activate(const TPMT_PUBLIC *ek, EVP_PKEY *ek_priv, const uint8_t *name,
                        size_t name_len, const uint8_t *blob, size_t blob_len,
                        const uint8_t *secret, size_t secret_len, uint8_t out[CREDENTIAL_MAX],
                        size_t *ret_len)
{
	if (!ek || !ek_priv || !name || !blob || !secret || !out || !ret_len || name_len < 2 ||
	    name_len > TPM_NAME_MAX)
		return ATTEST_E_ARG;
	if (ek->type != TPM2_ALG_RSA && ek->type != TPM2_ALG_ECC)
		return ATTEST_E_UNSUPPORTED;
	const EVP_MD *md = tpm_alg_md(ek->nameAlg);
	size_t ds = tpm_alg_digest_size(ek->nameAlg);
	unsigned sym_bits = 0;
	const EVP_CIPHER *cipher = credential_ek_cipher(ek, &sym_bits);
	if (!md || !cipher || ek->nameAlg == TPM2_ALG_SHA1 || ds > SEED_MAX)
		return ATTEST_E_UNSUPPORTED;

	/* Parse both blobs before any crypto: nothing is tried on bad input. */
	struct reader r, rs, rb, rmac;
	reader_init(&r, secret, secret_len);
	int rc = reader_tpm2b(&r, sizeof(((TPM2B_ENCRYPTED_SECRET *)0)->secret), &rs);
	if (rc)
		return rc;
	if (reader_left(&r))
		return ATTEST_E_TRAILING;
	reader_init(&r, blob, blob_len);
	if ((rc = reader_tpm2b(&r, sizeof(((TPM2B_ID_OBJECT *)0)->credential), &rb)) != 0)
		return rc;
	if (reader_left(&r))
		return ATTEST_E_TRAILING;
	if ((rc = reader_tpm2b(&rb, SEED_MAX, &rmac)) != 0)
		return rc;
	/* encIdentity: a TPM2B_DIGEST of 1..CREDENTIAL_MAX bytes, encrypted. */
	size_t enc_len = reader_left(&rb);
	if (reader_left(&rmac) != ds || enc_len < 3 || enc_len > 2 + CREDENTIAL_MAX)
		return ATTEST_E_FORMAT;
	const uint8_t *enc_secret = NULL, *mac = NULL, *enc_identity = NULL;
	reader_bytes(&rs, reader_left(&rs), &enc_secret);
	reader_bytes(&rmac, ds, &mac);
	reader_bytes(&rb, enc_len, &enc_identity);
	size_t enc_secret_len = (size_t)(secret_len - 2);

	uint8_t seed[SEED_MAX], hmac_key[SEED_MAX], want[EVP_MAX_MD_SIZE], sym_key[32];
	uint8_t mac_in[2 + CREDENTIAL_MAX + TPM_NAME_MAX], plain[2 + CREDENTIAL_MAX];
	uint8_t iv[16] = {0};
	EVP_CIPHER_CTX *cc = NULL;
	rc = ek->type == TPM2_ALG_RSA ? seed_rsa(ek_priv, md, enc_secret, enc_secret_len, seed, ds)
	                              : seed_ecc(ek, ek_priv, enc_secret, enc_secret_len, seed, ds);
	if (rc)
		goto out;

	/* Integrity first: nothing is decrypted for a blob not bound to name. */
	unsigned int wl = 0;
	if ((rc = credential_kdfa(ek->nameAlg, seed, ds, "INTEGRITY", NULL, 0, NULL, 0,
	                          (unsigned)(ds * 8), hmac_key)) != 0)
		goto out;
	memcpy(mac_in, enc_identity, enc_len);
	memcpy(mac_in + enc_len, name, name_len);
	rc = ATTEST_E_CRYPTO;
	if (!HMAC(md, hmac_key, (int)ds, mac_in, enc_len + name_len, want, &wl) || wl != ds)
		goto out;
	rc = ATTEST_E_VERIFY;
	if (CRYPTO_memcmp(want, mac, ds) != 0)
		goto out;

	if ((rc = credential_kdfa(ek->nameAlg, seed, ds, "STORAGE", name, name_len, NULL, 0,
	                          sym_bits, sym_key)) != 0)
		goto out;
	int l1 = 0, l2 = 0;
	rc = ATTEST_E_CRYPTO;
	cc = EVP_CIPHER_CTX_new();
	if (!cc || !EVP_DecryptInit_ex(cc, cipher, NULL, sym_key, iv) ||
	    !EVP_DecryptUpdate(cc, plain, &l1, enc_identity, (int)enc_len) ||
	    !EVP_DecryptFinal_ex(cc, plain + l1, &l2) || (size_t)(l1 + l2) != enc_len)
		goto out;
	size_t cl = (size_t)plain[0] << 8 | plain[1];
	rc = ATTEST_E_FORMAT;
	if (cl == 0 || cl != enc_len - 2)
		goto out;
	memcpy(out, plain + 2, cl);
	*ret_len = cl;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(cc);
	OPENSSL_cleanse(seed, sizeof seed);
	OPENSSL_cleanse(hmac_key, sizeof hmac_key);
	OPENSSL_cleanse(want, sizeof want);
	OPENSSL_cleanse(sym_key, sizeof sym_key);
	OPENSSL_cleanse(mac_in, sizeof mac_in);
	OPENSSL_cleanse(plain, sizeof plain);
	return rc;
}
