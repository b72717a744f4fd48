/* TPM2_MakeCredential in software (TPM 2.0 Part 1, credential protection). */
#include "credential.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <string.h>

#include "err.h"
#include "tpm.h"

#define KDF_MAX_BYTES   512u
#define KDF_LABEL_MAX   32u
#define KDF_CONTEXT_MAX 128u

static void put_u32be(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int credential_kdfa(TPM2_ALG_ID alg, const uint8_t *key, size_t key_len, const char *label,
                    const uint8_t *context_u, size_t u_len, const uint8_t *context_v, size_t v_len,
                    unsigned bits, uint8_t *out)
{
	const EVP_MD *md = tpm_alg_md(alg);
	if (!md || !key || !label || !out || bits == 0 || bits % 8 || bits / 8 > KDF_MAX_BYTES ||
	    (!context_u && u_len) || (!context_v && v_len) || u_len > KDF_CONTEXT_MAX ||
	    v_len > KDF_CONTEXT_MAX || strlen(label) > KDF_LABEL_MAX)
		return ATTEST_E_ARG;
	size_t want = bits / 8, done = 0;
	size_t dsize = (size_t)EVP_MD_get_size(md);
	size_t label_len = strlen(label) + 1; /* the NUL is part of the label */
	/* counter || label || contextU || contextV || bits, HMAC'd per block */
	uint8_t msg[4 + KDF_LABEL_MAX + 1 + 2 * KDF_CONTEXT_MAX + 4];
	uint8_t block[EVP_MAX_MD_SIZE];
	size_t m = 4;
	memcpy(msg + m, label, label_len);
	m += label_len;
	if (u_len)
		memcpy(msg + m, context_u, u_len);
	m += u_len;
	if (v_len)
		memcpy(msg + m, context_v, v_len);
	m += v_len;
	put_u32be(msg + m, bits);
	m += 4;
	int rc = ATTEST_E_CRYPTO;
	for (uint32_t i = 1; done < want; i++) {
		unsigned int n = 0;
		put_u32be(msg, i);
		if (!HMAC(md, key, (int)key_len, msg, m, block, &n) || n != dsize)
			goto out;
		size_t take = want - done < dsize ? want - done : dsize;
		memcpy(out + done, block, take);
		done += take;
	}
	rc = 0;
out:
	OPENSSL_cleanse(block, sizeof block);
	OPENSSL_cleanse(msg, sizeof msg);
	return rc;
}

int credential_kdfe(TPM2_ALG_ID alg, const uint8_t *z, size_t z_len, const char *label,
                    const uint8_t *party_u, size_t u_len, const uint8_t *party_v, size_t v_len,
                    unsigned bits, uint8_t *out)
{
	const EVP_MD *md = tpm_alg_md(alg);
	if (!md || !z || !label || !out || bits == 0 || bits % 8 || bits / 8 > KDF_MAX_BYTES ||
	    (!party_u && u_len) || (!party_v && v_len))
		return ATTEST_E_ARG;
	size_t want = bits / 8, done = 0;
	size_t dsize = (size_t)EVP_MD_get_size(md);
	uint8_t block[EVP_MAX_MD_SIZE];
	uint8_t ctr[4];
	int rc = ATTEST_E_CRYPTO;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	if (!c)
		return ATTEST_E_NOMEM;
	for (uint32_t i = 1; done < want; i++) {
		unsigned int n = 0;
		put_u32be(ctr, i);
		if (!EVP_DigestInit_ex(c, md, NULL) || !EVP_DigestUpdate(c, ctr, 4) ||
		    !EVP_DigestUpdate(c, z, z_len) ||
		    !EVP_DigestUpdate(c, label, strlen(label) + 1) ||
		    (u_len && !EVP_DigestUpdate(c, party_u, u_len)) ||
		    (v_len && !EVP_DigestUpdate(c, party_v, v_len)) ||
		    !EVP_DigestFinal_ex(c, block, &n) || n != dsize)
			goto out;
		size_t take = want - done < dsize ? want - done : dsize;
		memcpy(out + done, block, take);
		done += take;
	}
	rc = 0;
out:
	OPENSSL_cleanse(block, sizeof block);
	EVP_MD_CTX_free(c);
	return rc;
}

const EVP_CIPHER *credential_ek_cipher(const TPMT_PUBLIC *ek, unsigned *ret_bits)
{
	const TPMT_SYM_DEF_OBJECT *s = ek->type == TPM2_ALG_RSA
	                                   ? &ek->parameters.rsaDetail.symmetric
	                                   : &ek->parameters.eccDetail.symmetric;
	if (s->algorithm != TPM2_ALG_AES || s->mode.aes != TPM2_ALG_CFB)
		return NULL;
	*ret_bits = s->keyBits.aes;
	if (s->keyBits.aes == 128)
		return EVP_aes_128_cfb128();
	if (s->keyBits.aes == 256)
		return EVP_aes_256_cfb128();
	return NULL;
}

/* RSA: random seed, OAEP to the EK with label "IDENTITY\0". */
static int seed_rsa(const TPMT_PUBLIC *ek, const EVP_MD *md, uint8_t *seed, size_t seed_len,
                    uint8_t *enc, size_t enc_cap, size_t *enc_len)
{
	static const char label[] = "IDENTITY";
	int rc = ATTEST_E_CRYPTO;
	EVP_PKEY *key = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	unsigned char *lab = NULL;
	int e = tpm_public_to_pkey(ek, &key);
	if (e < 0)
		return e;
	if (RAND_bytes(seed, (int)seed_len) != 1)
		goto out;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	lab = OPENSSL_memdup(label, sizeof label); /* with its NUL */
	if (!ctx || !lab || EVP_PKEY_encrypt_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0)
		goto out;
	if (EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, lab, (int)sizeof label) <= 0)
		goto out;
	lab = NULL; /* owned by ctx now */
	size_t outlen = enc_cap;
	if (EVP_PKEY_encrypt(ctx, enc, &outlen, seed, seed_len) <= 0)
		goto out;
	*enc_len = outlen;
	rc = 0;
out:
	OPENSSL_free(lab);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(key);
	return rc;
}

static void put_tpm2b(uint8_t *p, const uint8_t *b, size_t n)
{
	p[0] = (uint8_t)(n >> 8);
	p[1] = (uint8_t)n;
	memcpy(p + 2, b, n);
}

/* ECC: ephemeral key on the EK's curve; Z = x of the shared point;
 * seed = KDFe(nameAlg, Z, "IDENTITY", ephemeral.x, EK.x); the secret is the
 * marshalled ephemeral TPMS_ECC_POINT. */
static int seed_ecc(const TPMT_PUBLIC *ek, TPM2_ALG_ID name_alg, uint8_t *seed, size_t seed_len,
                    uint8_t *enc, size_t enc_cap, size_t *enc_len)
{
	size_t n = tpm_ecc_curve_size(ek->parameters.eccDetail.curveID);
	const char *group = n == 32 ? "P-256" : "P-384";
	if (!n || enc_cap < 4 + 2 * n)
		return ATTEST_E_UNSUPPORTED;
	int rc = ATTEST_E_CRYPTO;
	EVP_PKEY *peer = NULL, *eph = NULL;
	EVP_PKEY_CTX *dctx = NULL;
	BIGNUM *x = NULL, *y = NULL;
	uint8_t z[48], ex[48], ey[48];
	size_t zlen = sizeof z;
	int e = tpm_public_to_pkey(ek, &peer);
	if (e < 0)
		return e;
	eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
	if (!eph)
		goto out;
	dctx = EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL);
	if (!dctx || EVP_PKEY_derive_init(dctx) <= 0 || EVP_PKEY_derive_set_peer(dctx, peer) <= 0 ||
	    EVP_PKEY_derive(dctx, z, &zlen) <= 0 || zlen != n)
		goto out;
	if (!EVP_PKEY_get_bn_param(eph, OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
	    !EVP_PKEY_get_bn_param(eph, OSSL_PKEY_PARAM_EC_PUB_Y, &y) ||
	    BN_bn2binpad(x, ex, (int)n) != (int)n || BN_bn2binpad(y, ey, (int)n) != (int)n)
		goto out;
	e = credential_kdfe(name_alg, z, n, "IDENTITY", ex, n, ek->unique.ecc.x.buffer, n,
	                    (unsigned)(seed_len * 8), seed);
	if (e < 0) {
		rc = e;
		goto out;
	}
	put_tpm2b(enc, ex, n);
	put_tpm2b(enc + 2 + n, ey, n);
	*enc_len = 4 + 2 * n;
	rc = 0;
out:
	OPENSSL_cleanse(z, sizeof z);
	BN_free(x);
	BN_free(y);
	EVP_PKEY_CTX_free(dctx);
	EVP_PKEY_free(eph); /* EVP_PKEY_free clears the private key */
	EVP_PKEY_free(peer);
	return rc;
}

int credential_make(const TPMT_PUBLIC *ek, const uint8_t *name, size_t name_len,
                    const uint8_t *credential, size_t credential_len, struct credential_out *ret)
{
	if (!ek || !name || !credential || !ret || name_len < 2 || name_len > TPM_NAME_MAX ||
	    credential_len == 0 || credential_len > CREDENTIAL_MAX)
		return ATTEST_E_ARG;
	if (ek->type != TPM2_ALG_RSA && ek->type != TPM2_ALG_ECC)
		return ATTEST_E_UNSUPPORTED;
	const EVP_MD *md = tpm_alg_md(ek->nameAlg);
	size_t dsize = tpm_alg_digest_size(ek->nameAlg);
	unsigned sym_bits = 0;
	const EVP_CIPHER *cipher = credential_ek_cipher(ek, &sym_bits);
	if (!md || !cipher || ek->nameAlg == TPM2_ALG_SHA1)
		return ATTEST_E_UNSUPPORTED;

	int rc = ATTEST_E_CRYPTO;
	uint8_t seed[64], sym_key[32], hmac_key[64], plain[2 + CREDENTIAL_MAX];
	uint8_t enc_identity[2 + CREDENTIAL_MAX], mac[EVP_MAX_MD_SIZE];
	uint8_t iv[16] = {0};
	struct credential_out out;
	EVP_CIPHER_CTX *cctx = NULL;
	memset(&out, 0, sizeof out);

	/* 1. the seed, and how the TPM recovers it. */
	uint8_t *enc = out.secret + 2;
	size_t enc_len = 0;
	int e = ek->type == TPM2_ALG_RSA
	            ? seed_rsa(ek, md, seed, dsize, enc, sizeof out.secret - 2, &enc_len)
	            : seed_ecc(ek, ek->nameAlg, seed, dsize, enc, sizeof out.secret - 2, &enc_len);
	if (e < 0) {
		rc = e;
		goto out;
	}
	out.secret[0] = (uint8_t)(enc_len >> 8);
	out.secret[1] = (uint8_t)enc_len;
	out.secret_len = 2 + enc_len;

	/* 2. encIdentity = CFB(symKey, 0, TPM2B_DIGEST(credential)). */
	e = credential_kdfa(ek->nameAlg, seed, dsize, "STORAGE", name, name_len, NULL, 0, sym_bits,
	                    sym_key);
	if (e < 0) {
		rc = e;
		goto out;
	}
	size_t plain_len = 2 + credential_len;
	put_tpm2b(plain, credential, credential_len);
	int outl = 0, finl = 0;
	cctx = EVP_CIPHER_CTX_new();
	if (!cctx || !EVP_EncryptInit_ex(cctx, cipher, NULL, sym_key, iv) ||
	    !EVP_EncryptUpdate(cctx, enc_identity, &outl, plain, (int)plain_len) ||
	    !EVP_EncryptFinal_ex(cctx, enc_identity + outl, &finl) ||
	    (size_t)(outl + finl) != plain_len)
		goto out;

	/* 3. outerHMAC = HMAC(KDFa(seed, "INTEGRITY"), encIdentity || name). */
	e = credential_kdfa(ek->nameAlg, seed, dsize, "INTEGRITY", NULL, 0, NULL, 0,
	                    (unsigned)(dsize * 8), hmac_key);
	if (e < 0) {
		rc = e;
		goto out;
	}
	unsigned int mac_len = 0;
	uint8_t mac_in[2 + CREDENTIAL_MAX + TPM_NAME_MAX];
	memcpy(mac_in, enc_identity, plain_len);
	memcpy(mac_in + plain_len, name, name_len);
	if (!HMAC(md, hmac_key, (int)dsize, mac_in, plain_len + name_len, mac, &mac_len) ||
	    mac_len != dsize)
		goto out;

	/* 4. TPM2B_ID_OBJECT: size || TPM2B_DIGEST(outerHMAC) || encIdentity. */
	size_t inner = 2 + dsize + plain_len;
	if (2 + inner > sizeof out.blob)
		goto out;
	out.blob[0] = (uint8_t)(inner >> 8);
	out.blob[1] = (uint8_t)inner;
	put_tpm2b(out.blob + 2, mac, dsize);
	memcpy(out.blob + 4 + dsize, enc_identity, plain_len);
	out.blob_len = 2 + inner;
	*ret = out;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(cctx);
	OPENSSL_cleanse(seed, sizeof seed);
	OPENSSL_cleanse(sym_key, sizeof sym_key);
	OPENSSL_cleanse(hmac_key, sizeof hmac_key);
	OPENSSL_cleanse(plain, sizeof plain);
	OPENSSL_cleanse(mac, sizeof mac);
	OPENSSL_cleanse(&out, sizeof out);
	return rc;
}
