/* Test helpers: build TPM structures the way a TPM would, with tss2-mu and
 * OpenSSL keys generated in the test, so every verification branch can be
 * exercised without a TPM. Test code only (aborts on failure). */
#ifndef ATTEST_TPM_BUILD_H
#define ATTEST_TPM_BUILD_H

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tpm2_types.h>

#define TB_AK_ATTRS                                                                                \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |        \
	 TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT)

static inline void tb_die(const char *what)
{
	fprintf(stderr, "tpm_build: %s failed\n", what);
	abort();
}

static inline EVP_PKEY *tb_rsa_key(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (!k)
		tb_die("RSA keygen");
	return k;
}

static inline EVP_PKEY *tb_ec_key(const char *group)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
	if (!k)
		tb_die("EC keygen");
	return k;
}

static inline void tb_bn(EVP_PKEY *k, const char *param, uint8_t *out, size_t n)
{
	BIGNUM *b = NULL;
	if (!EVP_PKEY_get_bn_param(k, param, &b) || BN_bn2binpad(b, out, (int)n) != (int)n)
		tb_die("get_bn_param");
	BN_free(b);
}

/* A TPMT_PUBLIC for key k with attributes attrs and signing scheme
 * (TPM2_ALG_NULL, RSASSA, RSAPSS, ECDSA) with SHA-256. */
static inline void tb_public(EVP_PKEY *k, TPMA_OBJECT attrs, TPM2_ALG_ID scheme, TPMT_PUBLIC *p)
{
	memset(p, 0, sizeof *p);
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = attrs;
	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA) {
		p->type = TPM2_ALG_RSA;
		p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
		p->parameters.rsaDetail.scheme.scheme = scheme;
		if (scheme != TPM2_ALG_NULL)
			p->parameters.rsaDetail.scheme.details.anySig.hashAlg = TPM2_ALG_SHA256;
		p->parameters.rsaDetail.keyBits = 2048;
		p->parameters.rsaDetail.exponent = 0;
		p->unique.rsa.size = 256;
		tb_bn(k, OSSL_PKEY_PARAM_RSA_N, p->unique.rsa.buffer, 256);
	} else {
		char g[32];
		size_t gl = 0;
		EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, g, sizeof g, &gl);
		int p384 = strstr(g, "384") != NULL;
		size_t n = p384 ? 48 : 32;
		p->type = TPM2_ALG_ECC;
		p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
		p->parameters.eccDetail.scheme.scheme = scheme;
		if (scheme != TPM2_ALG_NULL)
			p->parameters.eccDetail.scheme.details.anySig.hashAlg = TPM2_ALG_SHA256;
		p->parameters.eccDetail.curveID = p384 ? TPM2_ECC_NIST_P384 : TPM2_ECC_NIST_P256;
		p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
		p->unique.ecc.x.size = (uint16_t)n;
		p->unique.ecc.y.size = (uint16_t)n;
		tb_bn(k, OSSL_PKEY_PARAM_EC_PUB_X, p->unique.ecc.x.buffer, n);
		tb_bn(k, OSSL_PKEY_PARAM_EC_PUB_Y, p->unique.ecc.y.buffer, n);
	}
}

/* Marshalled TPM2B_PUBLIC. */
static inline size_t tb_marshal_public(const TPMT_PUBLIC *p, uint8_t *out, size_t cap)
{
	TPM2B_PUBLIC b;
	memset(&b, 0, sizeof b);
	b.publicArea = *p;
	size_t off = 0;
	if (Tss2_MU_TPM2B_PUBLIC_Marshal(&b, out, cap, &off) != TSS2_RC_SUCCESS)
		tb_die("TPM2B_PUBLIC_Marshal");
	return off;
}

/* A quote over sel with pcrDigest = digest (32 bytes), marshalled. */
static inline size_t tb_attest(const uint8_t *extra, size_t extra_len,
                               const TPML_PCR_SELECTION *sel, const uint8_t digest[32],
                               uint8_t *out, size_t cap)
{
	TPMS_ATTEST a;
	memset(&a, 0, sizeof a);
	a.magic = TPM2_GENERATED_VALUE;
	a.type = TPM2_ST_ATTEST_QUOTE;
	a.qualifiedSigner.size = 34;
	a.qualifiedSigner.name[0] = 0x00;
	a.qualifiedSigner.name[1] = 0x0b;
	memset(a.qualifiedSigner.name + 2, 0xab, 32);
	a.extraData.size = (uint16_t)extra_len;
	memcpy(a.extraData.buffer, extra, extra_len);
	a.clockInfo.clock = 123456789;
	a.clockInfo.resetCount = 7;
	a.clockInfo.restartCount = 2;
	a.clockInfo.safe = 1;
	a.firmwareVersion = 0x2019102300163636ull;
	a.attested.quote.pcrSelect = *sel;
	a.attested.quote.pcrDigest.size = 32;
	memcpy(a.attested.quote.pcrDigest.buffer, digest, 32);
	size_t off = 0;
	if (Tss2_MU_TPMS_ATTEST_Marshal(&a, out, cap, &off) != TSS2_RC_SUCCESS)
		tb_die("TPMS_ATTEST_Marshal");
	return off;
}

/* Sign msg with k as a TPM would (scheme RSASSA/RSAPSS/ECDSA, hash), and
 * marshal the TPMT_SIGNATURE. */
static inline size_t tb_sign(EVP_PKEY *k, TPM2_ALG_ID scheme, TPM2_ALG_ID hash, const uint8_t *msg,
                             size_t len, uint8_t *out, size_t cap)
{
	const EVP_MD *md = hash == TPM2_ALG_SHA384 ? EVP_sha384() : EVP_sha256();
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	uint8_t sig[512];
	size_t siglen = sizeof sig;
	if (!ctx || EVP_DigestSignInit(ctx, &pctx, md, NULL, k) != 1)
		tb_die("DigestSignInit");
	if (scheme == TPM2_ALG_RSAPSS &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
		tb_die("pss");
	if (EVP_DigestSign(ctx, sig, &siglen, msg, len) != 1)
		tb_die("DigestSign");
	EVP_MD_CTX_free(ctx);
	TPMT_SIGNATURE s;
	memset(&s, 0, sizeof s);
	s.sigAlg = scheme;
	if (scheme == TPM2_ALG_ECDSA) {
		const uint8_t *p = sig;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
		if (!es)
			tb_die("d2i_ECDSA_SIG");
		int n = EVP_PKEY_get_bits(k) == 384 ? 48 : 32;
		s.signature.ecdsa.hash = hash;
		s.signature.ecdsa.signatureR.size = (uint16_t)n;
		s.signature.ecdsa.signatureS.size = (uint16_t)n;
		BN_bn2binpad(ECDSA_SIG_get0_r(es), s.signature.ecdsa.signatureR.buffer, n);
		BN_bn2binpad(ECDSA_SIG_get0_s(es), s.signature.ecdsa.signatureS.buffer, n);
		ECDSA_SIG_free(es);
	} else {
		s.signature.rsassa.hash = hash;
		s.signature.rsassa.sig.size = (uint16_t)siglen;
		memcpy(s.signature.rsassa.sig.buffer, sig, siglen);
	}
	size_t off = 0;
	if (Tss2_MU_TPMT_SIGNATURE_Marshal(&s, out, cap, &off) != TSS2_RC_SUCCESS)
		tb_die("TPMT_SIGNATURE_Marshal");
	return off;
}

/* A selection of PCRs (bitmask over 0..23) in one SHA-256 bank. */
static inline void tb_sel(uint32_t mask, TPML_PCR_SELECTION *sel)
{
	memset(sel, 0, sizeof *sel);
	sel->count = 1;
	sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
	sel->pcrSelections[0].sizeofSelect = 3;
	sel->pcrSelections[0].pcrSelect[0] = (uint8_t)mask;
	sel->pcrSelections[0].pcrSelect[1] = (uint8_t)(mask >> 8);
	sel->pcrSelections[0].pcrSelect[2] = (uint8_t)(mask >> 16);
}

#endif
