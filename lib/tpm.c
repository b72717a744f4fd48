/* Decoding TPM structures from untrusted bytes, Names, and OpenSSL keys. */
#include "tpm.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "alg.h"
#include "err.h"

/* tss2-mu codes -> ours. INSUFFICIENT_BUFFER is the only "ran out of bytes". */
static int mu_err(TSS2_RC rc)
{
	if (rc == TSS2_MU_RC_INSUFFICIENT_BUFFER)
		return ATTEST_E_TRUNCATED;
	return ATTEST_E_FORMAT;
}

/* The outcome of unmarshalling one whole structure (what) from len bytes:
 * 0 when it decoded and took every byte, else the error with its sentence. */
static int mu_whole(TSS2_RC rc, size_t off, size_t len, const char *what, struct diag *err)
{
	if (rc != TSS2_RC_SUCCESS) {
		diag_set(err, "%s does not decode (%s)", what,
		         rc == TSS2_MU_RC_INSUFFICIENT_BUFFER ? "truncated" : "bad value or size");
		return mu_err(rc);
	}
	if (off != len) {
		diag_set(err, "%s: %zu trailing bytes after the structure", what, len - off);
		return ATTEST_E_TRAILING;
	}
	return 0;
}

const EVP_MD *tpm_alg_md(TPM2_ALG_ID alg)
{
	const struct alg_hash *h = alg_bank_by_id(alg);
	return h ? h->md() : NULL;
}

size_t tpm_alg_digest_size(TPM2_ALG_ID alg)
{
	const struct alg_hash *h = alg_bank_by_id(alg);
	return h ? h->size : 0;
}

const char *tpm_alg_name(TPM2_ALG_ID alg)
{
	const struct alg_hash *h = alg_hash_by_id(alg);
	if (h)
		return h->name;
	switch (alg) {
	case TPM2_ALG_RSA: return "rsa";
	case TPM2_ALG_ECC: return "ecc";
	case TPM2_ALG_KEYEDHASH: return "keyedhash";
	case TPM2_ALG_SYMCIPHER: return "symcipher";
	case TPM2_ALG_RSASSA: return "rsassa";
	case TPM2_ALG_RSAPSS: return "rsapss";
	case TPM2_ALG_ECDSA: return "ecdsa";
	case TPM2_ALG_ECDAA: return "ecdaa";
	case TPM2_ALG_SM2: return "sm2";
	case TPM2_ALG_ECSCHNORR: return "ecschnorr";
	case TPM2_ALG_HMAC: return "hmac";
	case TPM2_ALG_AES: return "aes";
	case TPM2_ALG_CFB: return "cfb";
	case TPM2_ALG_NULL: return "null";
	default: return "unknown";
	}
}

size_t tpm_ecc_curve_size(TPM2_ECC_CURVE curve)
{
	switch (curve) {
	case TPM2_ECC_NIST_P256: return 32;
	case TPM2_ECC_NIST_P384: return 48;
	default: return 0;
	}
}

static const char *curve_group_name(TPM2_ECC_CURVE curve)
{
	switch (curve) {
	case TPM2_ECC_NIST_P256: return "P-256";
	case TPM2_ECC_NIST_P384: return "P-384";
	default: return NULL;
	}
}

int tpm_public_marshal(const TPMT_PUBLIC *pub, uint8_t *out, size_t cap, size_t *ret_len)
{
	size_t off = 0;
	TSS2_RC rc = Tss2_MU_TPMT_PUBLIC_Marshal(pub, out, cap, &off);
	if (rc == TSS2_MU_RC_INSUFFICIENT_BUFFER)
		return ATTEST_E_LIMIT;
	if (rc != TSS2_RC_SUCCESS)
		return ATTEST_E_FORMAT;
	*ret_len = off;
	return 0;
}

/* What attest accepts as a key: the caller has a structurally valid
 * TPMT_PUBLIC; say precisely what we refuse. */
static int check_supported_key(const TPMT_PUBLIC *p, struct diag *err)
{
	if (!tpm_alg_md(p->nameAlg) || p->nameAlg == TPM2_ALG_SHA1) {
		diag_set(err,
		         "TPMT_PUBLIC nameAlg %s (0x%04x) is not supported (need sha256, sha384 or "
		         "sha512)",
		         tpm_alg_name(p->nameAlg), p->nameAlg);
		return ATTEST_E_UNSUPPORTED;
	}
	if (p->type == TPM2_ALG_RSA) {
		const TPMS_RSA_PARMS *r = &p->parameters.rsaDetail;
		if (r->keyBits != 2048) {
			diag_set(err, "RSA key of %u bits is not supported (need 2048)",
			         r->keyBits);
			return ATTEST_E_UNSUPPORTED;
		}
		if (p->unique.rsa.size != 256) {
			diag_set(err, "RSA-2048 modulus is %u bytes, expected 256",
			         p->unique.rsa.size);
			return ATTEST_E_FORMAT;
		}
		return 0;
	}
	if (p->type == TPM2_ALG_ECC) {
		const TPMS_ECC_PARMS *e = &p->parameters.eccDetail;
		size_t n = tpm_ecc_curve_size(e->curveID);
		if (!n) {
			diag_set(err,
			         "ECC curve 0x%04x is not supported (need NIST P-256 or P-384)",
			         e->curveID);
			return ATTEST_E_UNSUPPORTED;
		}
		if (p->unique.ecc.x.size != n || p->unique.ecc.y.size != n) {
			diag_set(err, "ECC point coordinates are %u and %u bytes, expected %zu",
			         p->unique.ecc.x.size, p->unique.ecc.y.size, n);
			return ATTEST_E_FORMAT;
		}
		return 0;
	}
	diag_set(err, "TPMT_PUBLIC type %s (0x%04x) is not supported (need rsa or ecc)",
	         tpm_alg_name(p->type), p->type);
	return ATTEST_E_UNSUPPORTED;
}

int tpm_public_decode(const uint8_t *buf, size_t len, TPMT_PUBLIC *ret, struct diag *err)
{
	if (!buf && len) {
		diag_set(err, "no buffer");
		return ATTEST_E_ARG;
	}
	if (len < 2) {
		diag_set(err, "TPM2B_PUBLIC: %zu bytes, too short for its size field", len);
		return ATTEST_E_TRUNCATED;
	}
	size_t declared = (size_t)buf[0] << 8 | buf[1];
	if (len - 2 < declared) {
		diag_set(err, "TPM2B_PUBLIC announces %zu bytes but only %zu follow", declared,
		         len - 2);
		return ATTEST_E_TRUNCATED;
	}
	if (len - 2 > declared) {
		diag_set(err, "TPM2B_PUBLIC: %zu trailing bytes after the structure",
		         len - 2 - declared);
		return ATTEST_E_TRAILING;
	}
	if (declared == 0) {
		diag_set(err, "TPM2B_PUBLIC is empty");
		return ATTEST_E_FORMAT;
	}
	TPMT_PUBLIC p;
	memset(&p, 0, sizeof p);
	size_t off = 0;
	TSS2_RC rc = Tss2_MU_TPMT_PUBLIC_Unmarshal(buf + 2, declared, &off, &p);
	if (rc != TSS2_RC_SUCCESS) {
		diag_set(err, "TPMT_PUBLIC does not decode (%s)",
		         rc == TSS2_MU_RC_INSUFFICIENT_BUFFER ? "truncated" : "bad value or size");
		return mu_err(rc);
	}
	if (off != declared) {
		diag_set(err, "TPM2B_PUBLIC size says %zu bytes but the TPMT_PUBLIC is %zu",
		         declared, off);
		return ATTEST_E_FORMAT;
	}
	/* The Name is computed over a re-marshalling: make sure it is the same
	 * byte string the peer sent, so nothing is hidden in a lax encoding. */
	uint8_t again[sizeof(TPMT_PUBLIC)];
	size_t again_len = 0;
	if (tpm_public_marshal(&p, again, sizeof again, &again_len) < 0 || again_len != declared ||
	    memcmp(again, buf + 2, declared) != 0) {
		diag_set(err, "TPMT_PUBLIC is not canonically encoded");
		return ATTEST_E_FORMAT;
	}
	int e = check_supported_key(&p, err);
	if (e < 0)
		return e;
	*ret = p;
	return 0;
}

int tpm_attest_decode(const uint8_t *buf, size_t len, TPMS_ATTEST *ret, struct diag *err)
{
	if (!buf && len) {
		diag_set(err, "no buffer");
		return ATTEST_E_ARG;
	}
	if (len > TPM_ATTEST_MAX) {
		diag_set(err, "TPMS_ATTEST of %zu bytes exceeds the cap of %zu", len,
		         TPM_ATTEST_MAX);
		return ATTEST_E_LIMIT;
	}
	if (len == 0) { /* tss2-mu logs an error for an empty buffer */
		diag_set(err, "TPMS_ATTEST: no bytes");
		return ATTEST_E_TRUNCATED;
	}
	TPMS_ATTEST a;
	memset(&a, 0, sizeof a);
	size_t off = 0;
	TSS2_RC rc = Tss2_MU_TPMS_ATTEST_Unmarshal(buf, len, &off, &a);
	int e = mu_whole(rc, off, len, "TPMS_ATTEST", err);
	if (e < 0)
		return e;
	*ret = a;
	return 0;
}

int tpm_signature_decode(const uint8_t *buf, size_t len, TPMT_SIGNATURE *ret, struct diag *err)
{
	if (!buf && len) {
		diag_set(err, "no buffer");
		return ATTEST_E_ARG;
	}
	if (len == 0) {
		diag_set(err, "TPMT_SIGNATURE: no bytes");
		return ATTEST_E_TRUNCATED;
	}
	TPMT_SIGNATURE s;
	memset(&s, 0, sizeof s);
	size_t off = 0;
	TSS2_RC rc = Tss2_MU_TPMT_SIGNATURE_Unmarshal(buf, len, &off, &s);
	int e = mu_whole(rc, off, len, "TPMT_SIGNATURE", err);
	if (e < 0)
		return e;
	*ret = s;
	return 0;
}

int tpm_public_name(const TPMT_PUBLIC *pub, uint8_t out[static TPM_NAME_MAX], size_t *ret_len)
{
	const EVP_MD *md = tpm_alg_md(pub->nameAlg);
	if (!md)
		return ATTEST_E_UNSUPPORTED;
	uint8_t m[sizeof(TPMT_PUBLIC)];
	size_t mlen = 0;
	int e = tpm_public_marshal(pub, m, sizeof m, &mlen);
	if (e < 0)
		return e;
	uint8_t tmp[TPM_NAME_MAX];
	unsigned int dlen = 0;
	tmp[0] = (uint8_t)(pub->nameAlg >> 8);
	tmp[1] = (uint8_t)pub->nameAlg;
	if (!EVP_Digest(m, mlen, tmp + 2, &dlen, md, NULL))
		return ATTEST_E_CRYPTO;
	memcpy(out, tmp, 2 + (size_t)dlen);
	*ret_len = 2 + (size_t)dlen;
	return 0;
}

static int rsa_to_pkey(const TPMT_PUBLIC *pub, EVP_PKEY **ret)
{
	int rc = ATTEST_E_CRYPTO;
	uint32_t exp = pub->parameters.rsaDetail.exponent;
	if (exp == 0)
		exp = 65537; /* TPM 2.0 Part 2: zero means the default exponent */
	BIGNUM *n = BN_bin2bn(pub->unique.rsa.buffer, pub->unique.rsa.size, NULL);
	BIGNUM *e = BN_new();
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	if (!n || !e || !bld || !BN_set_word(e, exp))
		goto out;
	if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		goto out;
	*ret = pkey;
	pkey = NULL;
	rc = 0;
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return rc;
}

static int ecc_to_pkey(const TPMT_PUBLIC *pub, EVP_PKEY **ret)
{
	const char *group = curve_group_name(pub->parameters.eccDetail.curveID);
	size_t n = tpm_ecc_curve_size(pub->parameters.eccDetail.curveID);
	if (!group || pub->unique.ecc.x.size != n || pub->unique.ecc.y.size != n)
		return ATTEST_E_UNSUPPORTED;
	uint8_t point[1 + 2 * 48];
	point[0] = 0x04; /* uncompressed */
	memcpy(point + 1, pub->unique.ecc.x.buffer, n);
	memcpy(point + 1 + n, pub->unique.ecc.y.buffer, n);
	OSSL_PARAM params[3];
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * n);
	params[2] = OSSL_PARAM_construct_end();
	int rc = ATTEST_E_CRYPTO;
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		goto out;
	*ret = pkey;
	pkey = NULL;
	rc = 0;
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

int tpm_public_to_pkey(const TPMT_PUBLIC *pub, EVP_PKEY **ret)
{
	if (!pub || !ret)
		return ATTEST_E_ARG;
	if (pub->type == TPM2_ALG_RSA) {
		if (pub->unique.rsa.size == 0 ||
		    pub->unique.rsa.size > sizeof pub->unique.rsa.buffer)
			return ATTEST_E_FORMAT;
		return rsa_to_pkey(pub, ret);
	}
	if (pub->type == TPM2_ALG_ECC)
		return ecc_to_pkey(pub, ret);
	return ATTEST_E_UNSUPPORTED;
}

int tpm_public_matches_pkey(const TPMT_PUBLIC *pub, const EVP_PKEY *pkey)
{
	if (!pub || !pkey)
		return ATTEST_E_ARG;
	EVP_PKEY *mine = NULL;
	int e = tpm_public_to_pkey(pub, &mine);
	if (e < 0)
		return e;
	int eq = EVP_PKEY_eq(mine, pkey);
	EVP_PKEY_free(mine);
	return eq == 1 ? 1 : 0;
}
