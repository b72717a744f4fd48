/* EK templates from the TCG EK Credential Profile for TPM Family 2.0
 * (Annex B: L-1, L-2 low range; H-1, H-2, H-3 high range), the policy
 * digests they carry, and attest's AK template. */
#include "tpmdev_templates.h"

#include <string.h>

#include "hex.h"

/* Policy digests (EK Credential Profile, "Computing PolicyA/B/C"). PolicyA
 * is PolicySecret(TPM_RH_ENDORSEMENT); PolicyC is PolicyAuthorizeNV of the
 * profile's EK policy NV index; PolicyB is PolicyOR(PolicyA, PolicyC).
 * docs/agent-tpm.md shows how to recompute A and B. */
static const char POLICY_A_SHA256[] =
    "837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa";
static const char POLICY_B_SHA256[] =
    "ca3d0a99a2b93906f7a3342414efcfb3a385d44cd1fd459089d19b5071c0b7a0";
static const char POLICY_C_SHA256[] =
    "3767e2edd43ff45a3a7e1eaefcef78643dca964632e7aad82c673a30d8633fde";
static const char POLICY_A_SHA384[] = "8bbf2266537c171cb56e403c4dc1d4b64f432611dc386e6f"
                                      "532050c3278c930e143e8bb1133824ccb431053871c6db53";
static const char POLICY_B_SHA384[] = "b26e7d28d11a50bc53d882bcf5fd3a1a074148bb35d3b4e4"
                                      "cb1c0ad9bde419cacb47ba09699646150f9fc000f3f80e12";
static const char POLICY_C_SHA384[] = "d6032ce61f2fb3c240eb3cf6a33237ef2b6a16f4293c22b4"
                                      "55e261cffd217ad5b4947c2d73e63005eed2dc2b3593d165";

/* fixedTPM | fixedParent | sensitiveDataOrigin | adminWithPolicy |
 * restricted | decrypt: the low-range EK (no userWithAuth). */
#define EK_ATTRS_L                                                                                 \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |        \
	 TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT)
/* The high range adds userWithAuth. */
#define EK_ATTRS_H (EK_ATTRS_L | TPMA_OBJECT_USERWITHAUTH)

static void set_digest(TPM2B_DIGEST *d, const char *hex)
{
	size_t n = 0;
	/* The constants above are well formed; a failure leaves size 0, which no
	 * EK policy matches, so it cannot pass unnoticed. */
	if (hex_decode(hex, d->buffer, sizeof d->buffer, &n) != 0)
		n = 0;
	d->size = (UINT16)n;
}

bool ek_template(enum tpmdev_ek_kind kind, bool zero_unique, TPM2B_PUBLIC *ret)
{
	TPM2B_PUBLIC p;
	memset(&p, 0, sizeof p);
	TPMT_PUBLIC *a = &p.publicArea;
	bool rsa = kind == TPMDEV_EK_RSA2048 || kind == TPMDEV_EK_RSA2048_H;
	bool high = kind == TPMDEV_EK_RSA2048_H || kind == TPMDEV_EK_ECC_P256_H ||
	            kind == TPMDEV_EK_ECC_P384_H;
	if ((unsigned)kind >= TPMDEV_EK_KIND_COUNT)
		return false;

	a->nameAlg = kind == TPMDEV_EK_ECC_P384_H ? TPM2_ALG_SHA384 : TPM2_ALG_SHA256;
	a->objectAttributes = high ? EK_ATTRS_H : EK_ATTRS_L;
	if (kind == TPMDEV_EK_ECC_P384_H)
		set_digest(&a->authPolicy, POLICY_B_SHA384);
	else
		set_digest(&a->authPolicy, high ? POLICY_B_SHA256 : POLICY_A_SHA256);

	TPMT_SYM_DEF_OBJECT sym = {
	    .algorithm = TPM2_ALG_AES,
	    .keyBits.aes = kind == TPMDEV_EK_ECC_P384_H ? 256 : 128,
	    .mode.aes = TPM2_ALG_CFB,
	};
	if (rsa) {
		a->type = TPM2_ALG_RSA;
		a->parameters.rsaDetail.symmetric = sym;
		a->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
		a->parameters.rsaDetail.keyBits = 2048;
		a->parameters.rsaDetail.exponent = 0;
		a->unique.rsa.size = zero_unique ? 256 : 0;
	} else {
		UINT16 n = kind == TPMDEV_EK_ECC_P384_H ? 48 : 32;
		a->type = TPM2_ALG_ECC;
		a->parameters.eccDetail.symmetric = sym;
		a->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
		a->parameters.eccDetail.curveID =
		    kind == TPMDEV_EK_ECC_P384_H ? TPM2_ECC_NIST_P384 : TPM2_ECC_NIST_P256;
		a->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
		a->unique.ecc.x.size = zero_unique ? n : 0;
		a->unique.ecc.y.size = zero_unique ? n : 0;
	}
	*ret = p;
	return true;
}

uint32_t ek_template_index(enum tpmdev_ek_kind kind)
{
	switch (kind) {
	case TPMDEV_EK_RSA2048: return 0x01c00004u;
	case TPMDEV_EK_ECC_P256: return 0x01c0000cu;
	/* High range: the template index follows the certificate index. */
	case TPMDEV_EK_RSA2048_H: return TPMDEV_NV_RSA2048_HI_EKCERT + 1;
	case TPMDEV_EK_ECC_P256_H: return TPMDEV_NV_ECC_P256_HI_EKCERT + 1;
	case TPMDEV_EK_ECC_P384_H: return TPMDEV_NV_ECC_P384_HI_EKCERT + 1;
	default: return 0;
	}
}

uint32_t ek_nonce_index(enum tpmdev_ek_kind kind)
{
	switch (kind) {
	case TPMDEV_EK_RSA2048: return 0x01c00003u;
	case TPMDEV_EK_ECC_P256: return 0x01c0000bu;
	default: return 0;
	}
}

static bool digest_is(const TPM2B_DIGEST *d, const char *hex)
{
	TPM2B_DIGEST want;
	set_digest(&want, hex);
	return want.size != 0 && d->size == want.size &&
	       memcmp(d->buffer, want.buffer, d->size) == 0;
}

enum ek_policy ek_policy_of(TPMI_ALG_HASH name_alg, const TPM2B_DIGEST *p)
{
	if (name_alg == TPM2_ALG_SHA256) {
		if (digest_is(p, POLICY_A_SHA256))
			return EK_POLICY_A;
		if (digest_is(p, POLICY_B_SHA256))
			return EK_POLICY_B;
	} else if (name_alg == TPM2_ALG_SHA384) {
		if (digest_is(p, POLICY_A_SHA384))
			return EK_POLICY_A;
		if (digest_is(p, POLICY_B_SHA384))
			return EK_POLICY_B;
	}
	return 0;
}

bool ek_policy_branches(TPMI_ALG_HASH alg, TPM2B_DIGEST *ret_a, TPM2B_DIGEST *ret_c)
{
	if (alg == TPM2_ALG_SHA256) {
		set_digest(ret_a, POLICY_A_SHA256);
		set_digest(ret_c, POLICY_C_SHA256);
		return true;
	}
	if (alg == TPM2_ALG_SHA384) {
		set_digest(ret_a, POLICY_A_SHA384);
		set_digest(ret_c, POLICY_C_SHA384);
		return true;
	}
	return false;
}

void ak_template(enum tpmdev_ak_alg alg, TPM2B_PUBLIC *ret)
{
	TPM2B_PUBLIC p;
	memset(&p, 0, sizeof p);
	TPMT_PUBLIC *a = &p.publicArea;
	a->nameAlg = TPM2_ALG_SHA256;
	a->objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT |
	                      TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
	                      TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH;
	if (alg == TPMDEV_AK_ECC) {
		a->type = TPM2_ALG_ECC;
		a->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
		a->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
		a->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
		a->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
		a->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	} else {
		a->type = TPM2_ALG_RSA;
		a->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
		a->parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
		a->parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
		a->parameters.rsaDetail.keyBits = 2048;
		a->parameters.rsaDetail.exponent = 0;
	}
	*ret = p;
}
