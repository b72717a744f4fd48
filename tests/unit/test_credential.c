/* MakeCredential: the KDFs against OpenSSL's independent implementations
 * (KBKDF counter mode = KDFa, SSKDF = KDFe), and a round trip through the
 * TPM's half (ActivateCredential) written here from the spec with the EK's
 * private key. The real TPM accepts our blobs in
 * tests/integration/test_evidence_tools.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <stdlib.h>
#include <string.h>

#include "credential.h"
#include "err.h"
#include "tpm.h"
#include "tpm_build.h"

static void test_kdfa_matches_openssl_kbkdf(void **state)
{
	uint8_t key[32], u[34], v[5], ours[80], theirs[80];
	memset(key, 0x0b, sizeof key);
	memset(u, 0x11, sizeof u);
	memset(v, 0x22, sizeof v);
	for (int withv = 0; withv < 2; withv++) {
		assert_int_equal(credential_kdfa(TPM2_ALG_SHA256, key, sizeof key, "STORAGE", u,
		                                 sizeof u, withv ? v : NULL, withv ? sizeof v : 0,
		                                 sizeof ours * 8, ours),
		                 0);
		/* KBKDF hashes Label || 0x00 || Context: the TPM's label NUL. */
		uint8_t ctx[sizeof u + sizeof v];
		memcpy(ctx, u, sizeof u);
		memcpy(ctx + sizeof u, v, sizeof v);
		EVP_KDF *kdf = EVP_KDF_fetch(NULL, "KBKDF", NULL);
		EVP_KDF_CTX *kc = EVP_KDF_CTX_new(kdf);
		OSSL_PARAM p[] = {
		    OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, "HMAC", 0),
		    OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0),
		    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, key, sizeof key),
		    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, "STORAGE", 7),
		    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, ctx,
		                                      sizeof u + (withv ? sizeof v : 0)),
		    OSSL_PARAM_construct_end(),
		};
		assert_int_equal(EVP_KDF_derive(kc, theirs, sizeof theirs, p), 1);
		assert_memory_equal(ours, theirs, sizeof ours);
		EVP_KDF_CTX_free(kc);
		EVP_KDF_free(kdf);
	}
	/* bad arguments */
	assert_int_equal(credential_kdfa(TPM2_ALG_SHA256, key, 32, "X", NULL, 0, NULL, 0, 12, ours),
	                 ATTEST_E_ARG);
	assert_int_equal(credential_kdfa(0x1234, key, 32, "X", NULL, 0, NULL, 0, 128, ours),
	                 ATTEST_E_ARG);
}

static void test_kdfe_matches_openssl_sskdf(void **state)
{
	uint8_t z[48], u[48], v[48], ours[48], theirs[48];
	memset(z, 0x5a, sizeof z);
	memset(u, 0x01, sizeof u);
	memset(v, 0x02, sizeof v);
	assert_int_equal(credential_kdfe(TPM2_ALG_SHA384, z, sizeof z, "IDENTITY", u, sizeof u, v,
	                                 sizeof v, sizeof ours * 8, ours),
	                 0);
	uint8_t info[9 + 96];
	memcpy(info, "IDENTITY", 9); /* with the NUL */
	memcpy(info + 9, u, 48);
	memcpy(info + 57, v, 48);
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SSKDF", NULL);
	EVP_KDF_CTX *kc = EVP_KDF_CTX_new(kdf);
	OSSL_PARAM p[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA384", 0),
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, z, sizeof z),
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof info),
	    OSSL_PARAM_construct_end(),
	};
	assert_int_equal(EVP_KDF_derive(kc, theirs, sizeof theirs, p), 1);
	assert_memory_equal(ours, theirs, sizeof ours);
	EVP_KDF_CTX_free(kc);
	EVP_KDF_free(kdf);
}

/* An EK-like storage key: restricted decrypt with AES-bits CFB. */
static void ek_public(EVP_PKEY *k, unsigned aes_bits, TPM2_ALG_ID name_alg, TPMT_PUBLIC *p)
{
	tb_public(k,
	          TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
	              TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT,
	          TPM2_ALG_NULL, p);
	p->nameAlg = name_alg;
	TPMT_SYM_DEF_OBJECT *s = p->type == TPM2_ALG_RSA ? &p->parameters.rsaDetail.symmetric
	                                                 : &p->parameters.eccDetail.symmetric;
	s->algorithm = TPM2_ALG_AES;
	s->keyBits.aes = (TPMI_AES_KEY_BITS)aes_bits;
	s->mode.aes = TPM2_ALG_CFB;
}

/* The TPM's half, from Part 1: recover the seed, check the HMAC, decrypt. */
static int activate(EVP_PKEY *ek_priv, const TPMT_PUBLIC *ek, const uint8_t *name, size_t name_len,
                    const struct credential_out *co, uint8_t *out, size_t *out_len)
{
	const EVP_MD *md = tpm_alg_md(ek->nameAlg);
	size_t ds = tpm_alg_digest_size(ek->nameAlg);
	uint8_t seed[256]; /* OpenSSL wants room for a whole RSA block */
	size_t seed_len = sizeof seed;
	size_t slen = (size_t)co->secret[0] << 8 | co->secret[1];
	assert_int_equal(slen + 2, co->secret_len);
	if (ek->type == TPM2_ALG_RSA) {
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(ek_priv, NULL);
		assert_int_equal(EVP_PKEY_decrypt_init(c), 1);
		EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING);
		EVP_PKEY_CTX_set_rsa_oaep_md(c, md);
		EVP_PKEY_CTX_set_rsa_mgf1_md(c, md);
		EVP_PKEY_CTX_set0_rsa_oaep_label(c, OPENSSL_memdup("IDENTITY", 9), 9);
		int ok = EVP_PKEY_decrypt(c, seed, &seed_len, co->secret + 2, slen);
		EVP_PKEY_CTX_free(c);
		ERR_clear_error();
		if (ok != 1)
			return -1;
	} else {
		size_t n = tpm_ecc_curve_size(ek->parameters.eccDetail.curveID);
		const uint8_t *x = co->secret + 4, *y = co->secret + 6 + n;
		TPMT_PUBLIC eph = *ek;
		memcpy(eph.unique.ecc.x.buffer, x, n);
		memcpy(eph.unique.ecc.y.buffer, y, n);
		EVP_PKEY *ephk = NULL;
		assert_int_equal(tpm_public_to_pkey(&eph, &ephk), 0);
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(ek_priv, NULL);
		uint8_t z[48];
		size_t zl = sizeof z;
		assert_int_equal(EVP_PKEY_derive_init(c), 1);
		assert_int_equal(EVP_PKEY_derive_set_peer(c, ephk), 1);
		assert_int_equal(EVP_PKEY_derive(c, z, &zl), 1);
		EVP_PKEY_CTX_free(c);
		EVP_PKEY_free(ephk);
		assert_int_equal(credential_kdfe(ek->nameAlg, z, zl, "IDENTITY", x, n,
		                                 ek->unique.ecc.x.buffer, n, (unsigned)ds * 8,
		                                 seed),
		                 0);
		seed_len = ds;
	}
	assert_int_equal(seed_len, ds);
	/* blob: size || TPM2B(hmac) || encIdentity */
	size_t inner = (size_t)co->blob[0] << 8 | co->blob[1];
	assert_int_equal(inner + 2, co->blob_len);
	size_t hl = (size_t)co->blob[2] << 8 | co->blob[3];
	assert_int_equal(hl, ds);
	const uint8_t *mac = co->blob + 4, *enc = co->blob + 4 + hl;
	size_t enc_len = inner - 2 - hl;
	uint8_t hkey[64], want[64], msg[256];
	unsigned int wl = 0;
	assert_int_equal(credential_kdfa(ek->nameAlg, seed, ds, "INTEGRITY", NULL, 0, NULL, 0,
	                                 (unsigned)ds * 8, hkey),
	                 0);
	memcpy(msg, enc, enc_len);
	memcpy(msg + enc_len, name, name_len);
	HMAC(md, hkey, (int)ds, msg, enc_len + name_len, want, &wl);
	if (CRYPTO_memcmp(want, mac, ds) != 0)
		return -2; /* TPM_RC_INTEGRITY */
	const TPMT_SYM_DEF_OBJECT *s = ek->type == TPM2_ALG_RSA
	                                   ? &ek->parameters.rsaDetail.symmetric
	                                   : &ek->parameters.eccDetail.symmetric;
	uint8_t sym[32], iv[16] = {0}, plain[256];
	assert_int_equal(credential_kdfa(ek->nameAlg, seed, ds, "STORAGE", name, name_len, NULL, 0,
	                                 s->keyBits.aes, sym),
	                 0);
	EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0;
	EVP_DecryptInit_ex(cc, s->keyBits.aes == 128 ? EVP_aes_128_cfb128() : EVP_aes_256_cfb128(),
	                   NULL, sym, iv);
	EVP_DecryptUpdate(cc, plain, &l1, enc, (int)enc_len);
	EVP_DecryptFinal_ex(cc, plain + l1, &l2);
	EVP_CIPHER_CTX_free(cc);
	size_t cl = (size_t)plain[0] << 8 | plain[1];
	assert_int_equal(cl + 2, enc_len);
	memcpy(out, plain + 2, cl);
	*out_len = cl;
	return 0;
}

static void round_trip(EVP_PKEY *k, unsigned aes_bits, TPM2_ALG_ID name_alg)
{
	TPMT_PUBLIC ek;
	ek_public(k, aes_bits, name_alg, &ek);
	uint8_t name[34] = {0x00, 0x0b}, other[34];
	memset(name + 2, 0xa5, 32);
	memcpy(other, name, sizeof other);
	other[33] ^= 1;
	uint8_t cred[32], got[64];
	size_t got_len = 0;
	memset(cred, 0xc3, sizeof cred);
	struct credential_out co;
	assert_int_equal(credential_make(&ek, name, sizeof name, cred, sizeof cred, &co), 0);
	assert_int_equal(activate(k, &ek, name, sizeof name, &co, got, &got_len), 0);
	assert_int_equal(got_len, sizeof cred);
	assert_memory_equal(got, cred, sizeof cred);
	/* bound to the Name: another AK's Name fails the integrity check */
	assert_int_equal(activate(k, &ek, other, sizeof other, &co, got, &got_len), -2);
	/* fresh randomness each time */
	struct credential_out co2;
	assert_int_equal(credential_make(&ek, name, sizeof name, cred, sizeof cred, &co2), 0);
	assert_memory_not_equal(co.secret, co2.secret, co.secret_len);
}

static void test_round_trip_rsa(void **state)
{
	EVP_PKEY *k = tb_rsa_key();
	round_trip(k, 128, TPM2_ALG_SHA256);
	round_trip(k, 256, TPM2_ALG_SHA384);
	EVP_PKEY_free(k);
}

static void test_round_trip_ecc(void **state)
{
	EVP_PKEY *k = tb_ec_key("P-256");
	round_trip(k, 128, TPM2_ALG_SHA256);
	EVP_PKEY_free(k);
	k = tb_ec_key("P-384");
	round_trip(k, 256, TPM2_ALG_SHA384);
	EVP_PKEY_free(k);
}

static void test_another_ek_fails(void **state)
{
	EVP_PKEY *a = tb_rsa_key(), *b = tb_rsa_key();
	TPMT_PUBLIC ea, eb;
	ek_public(a, 128, TPM2_ALG_SHA256, &ea);
	ek_public(b, 128, TPM2_ALG_SHA256, &eb);
	uint8_t name[34] = {0x00, 0x0b}, cred[16] = {1}, got[64];
	size_t gl;
	struct credential_out co;
	assert_int_equal(credential_make(&ea, name, sizeof name, cred, sizeof cred, &co), 0);
	assert_int_equal(activate(b, &eb, name, sizeof name, &co, got, &gl), -1);
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
}

static void test_refusals(void **state)
{
	EVP_PKEY *k = tb_ec_key("P-256");
	TPMT_PUBLIC ek;
	uint8_t name[34] = {0x00, 0x0b}, cred[65] = {0};
	struct credential_out co;
	memset(&co, 0x7e, sizeof co);
	struct credential_out canary = co;
	ek_public(k, 128, TPM2_ALG_SHA256, &ek);
	assert_int_equal(credential_make(&ek, name, sizeof name, cred, 65, &co), ATTEST_E_ARG);
	assert_int_equal(credential_make(&ek, name, sizeof name, cred, 0, &co), ATTEST_E_ARG);
	assert_int_equal(credential_make(&ek, name, 1, cred, 16, &co), ATTEST_E_ARG);
	ek.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL; /* not a storage key */
	assert_int_equal(credential_make(&ek, name, sizeof name, cred, 16, &co),
	                 ATTEST_E_UNSUPPORTED);
	ek_public(k, 192, TPM2_ALG_SHA256, &ek);
	assert_int_equal(credential_make(&ek, name, sizeof name, cred, 16, &co),
	                 ATTEST_E_UNSUPPORTED);
	ek_public(k, 128, TPM2_ALG_SHA1, &ek);
	assert_int_equal(credential_make(&ek, name, sizeof name, cred, 16, &co),
	                 ATTEST_E_UNSUPPORTED);
	assert_memory_equal(&co, &canary, sizeof co);
	EVP_PKEY_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kdfa_matches_openssl_kbkdf),
	    cmocka_unit_test(test_kdfe_matches_openssl_sskdf),
	    cmocka_unit_test(test_round_trip_rsa),
	    cmocka_unit_test(test_round_trip_ecc),
	    cmocka_unit_test(test_another_ek_fails),
	    cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
