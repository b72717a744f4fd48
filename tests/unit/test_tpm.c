/* TPM structure decoding, Names and OpenSSL key conversion. Real structures
 * come from swtpm + tpm2-tools (tests/unit/data/tpm/), others are built with
 * tss2-mu from keys generated here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "tpm.h"
#include "tpm_build.h"
#include "testutil.h"

#define DATA "tests/unit/data/tpm/"

static uint8_t *load(const char *name, size_t *len)
{
	uint8_t *b = testutil_read_file(name, len);
	assert_non_null(b);
	return b;
}

static void test_real_publics_and_names(void **state)
{
	static const char *const keys[][2] = {
	    {DATA "ak-rsa.pub", DATA "ak-rsa.name"},
	    {DATA "ak-ecc.pub", DATA "ak-ecc.name"},
	};
	for (size_t i = 0; i < 2; i++) {
		size_t len, nlen;
		uint8_t *pub = load(keys[i][0], &len), *want = load(keys[i][1], &nlen);
		TPMT_PUBLIC p;
		assert_int_equal(tpm_public_decode(pub, len, &p, NULL), 0);
		uint8_t name[TPM_NAME_MAX];
		size_t n = 0;
		assert_int_equal(tpm_public_name(&p, name, &n), 0);
		assert_int_equal(n, nlen); /* tpm2-tools' Name of the same key */
		assert_memory_equal(name, want, n);
		EVP_PKEY *k = NULL;
		assert_int_equal(tpm_public_to_pkey(&p, &k), 0);
		assert_int_equal(tpm_public_matches_pkey(&p, k), 1);
		EVP_PKEY_free(k);
		free(pub);
		free(want);
	}
}

static void test_real_eks(void **state)
{
	size_t len;
	uint8_t *pub = load(DATA "ek-ecc384.pub", &len);
	TPMT_PUBLIC p;
	assert_int_equal(tpm_public_decode(pub, len, &p, NULL), 0);
	assert_int_equal(p.type, TPM2_ALG_ECC);
	assert_int_equal(p.parameters.eccDetail.curveID, TPM2_ECC_NIST_P384);
	assert_int_equal(p.nameAlg, TPM2_ALG_SHA384); /* high-range EK template */
	assert_int_equal(p.parameters.eccDetail.symmetric.keyBits.aes, 256);
	uint8_t name[TPM_NAME_MAX];
	size_t n = 0;
	assert_int_equal(tpm_public_name(&p, name, &n), 0);
	assert_int_equal(n, 2 + 48);
	free(pub);
	pub = load(DATA "ek-rsa.pub", &len);
	assert_int_equal(tpm_public_decode(pub, len, &p, NULL), 0);
	assert_int_equal(p.parameters.rsaDetail.symmetric.keyBits.aes, 128);
	free(pub);
}

/* Every proper prefix fails, leaves the output untouched; one more byte is
 * ATTEST_E_TRAILING. */
static void test_public_truncations_and_trailing(void **state)
{
	size_t len;
	uint8_t *pub = load(DATA "ak-rsa.pub", &len);
	TPMT_PUBLIC p, canary;
	memset(&canary, 0x5a, sizeof canary);
	for (size_t cut = 0; cut < len; cut++) {
		memcpy(&p, &canary, sizeof p);
		int e = tpm_public_decode(pub, cut, &p, NULL);
		assert_true(e == ATTEST_E_TRUNCATED || e == ATTEST_E_FORMAT);
		assert_memory_equal(&p, &canary, sizeof p);
	}
	uint8_t *more = malloc(len + 1);
	memcpy(more, pub, len);
	more[len] = 0;
	struct diag err;
	assert_int_equal(tpm_public_decode(more, len + 1, &p, &err), ATTEST_E_TRAILING);
	assert_non_null(strstr(err.message, "trailing"));
	/* size field one too small: the TPMT_PUBLIC no longer fits */
	more[1] = (uint8_t)(more[1] - 1);
	assert_int_not_equal(tpm_public_decode(more, len, &p, NULL), 0);
	free(more);
	free(pub);
}

static void test_unsupported_keys(void **state)
{
	EVP_PKEY *k = tb_ec_key("P-256");
	TPMT_PUBLIC p, q;
	uint8_t buf[1024];
	struct diag err;
	tb_public(k, TB_AK_ATTRS, TPM2_ALG_ECDSA, &p);
	size_t n = tb_marshal_public(&p, buf, sizeof buf);
	assert_int_equal(tpm_public_decode(buf, n, &q, NULL), 0);
	assert_int_equal(q.parameters.eccDetail.curveID, TPM2_ECC_NIST_P256);

	TPMT_PUBLIC bad = p;
	bad.parameters.eccDetail.curveID = TPM2_ECC_NIST_P521;
	n = tb_marshal_public(&bad, buf, sizeof buf);
	assert_int_equal(tpm_public_decode(buf, n, &q, &err), ATTEST_E_UNSUPPORTED);
	assert_non_null(strstr(err.message, "curve 0x0005"));

	bad = p;
	bad.nameAlg = TPM2_ALG_SHA1;
	n = tb_marshal_public(&bad, buf, sizeof buf);
	assert_int_equal(tpm_public_decode(buf, n, &q, &err), ATTEST_E_UNSUPPORTED);
	assert_non_null(strstr(err.message, "sha1"));

	bad = p;
	bad.unique.ecc.x.size = 31;
	n = tb_marshal_public(&bad, buf, sizeof buf);
	assert_int_equal(tpm_public_decode(buf, n, &q, &err), ATTEST_E_FORMAT);

	bad = p;
	bad.type = TPM2_ALG_KEYEDHASH;
	bad.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
	bad.unique.keyedHash.size = 32;
	n = tb_marshal_public(&bad, buf, sizeof buf);
	assert_int_equal(tpm_public_decode(buf, n, &q, &err), ATTEST_E_UNSUPPORTED);
	assert_non_null(strstr(err.message, "keyedhash"));

	/* a point that is not on the curve is refused by the conversion */
	bad = p;
	bad.unique.ecc.y.buffer[31] ^= 1;
	EVP_PKEY *out = NULL;
	assert_int_equal(tpm_public_to_pkey(&bad, &out), ATTEST_E_CRYPTO);
	assert_null(out);
	EVP_PKEY_free(k);

	EVP_PKEY *r = tb_rsa_key();
	tb_public(r, TB_AK_ATTRS, TPM2_ALG_RSASSA, &p);
	bad = p;
	bad.parameters.rsaDetail.keyBits = 3072;
	n = tb_marshal_public(&bad, buf, sizeof buf);
	assert_int_equal(tpm_public_decode(buf, n, &q, &err), ATTEST_E_UNSUPPORTED);
	assert_non_null(strstr(err.message, "3072"));
	EVP_PKEY_free(r);
}

static void test_pkey_match(void **state)
{
	EVP_PKEY *a = tb_rsa_key(), *b = tb_rsa_key(), *e = tb_ec_key("P-384");
	TPMT_PUBLIC pa, pe;
	tb_public(a, TB_AK_ATTRS, TPM2_ALG_RSASSA, &pa);
	tb_public(e, TB_AK_ATTRS, TPM2_ALG_ECDSA, &pe);
	assert_int_equal(tpm_public_matches_pkey(&pa, a), 1);
	assert_int_equal(tpm_public_matches_pkey(&pa, b), 0);
	assert_int_equal(tpm_public_matches_pkey(&pa, e), 0);
	assert_int_equal(tpm_public_matches_pkey(&pe, e), 1);
	/* exponent 0 means 65537: an explicit 65537 is the same key */
	pa.parameters.rsaDetail.exponent = 65537;
	assert_int_equal(tpm_public_matches_pkey(&pa, a), 1);
	pa.parameters.rsaDetail.exponent = 3;
	assert_int_equal(tpm_public_matches_pkey(&pa, a), 0);
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
	EVP_PKEY_free(e);
}

static void test_attest_and_signature(void **state)
{
	size_t alen, slen;
	uint8_t *att = load(DATA "quote-rsa.attest", &alen);
	uint8_t *sig = load(DATA "quote-rsa.sig", &slen);
	TPMS_ATTEST a;
	TPMT_SIGNATURE s;
	assert_int_equal(tpm_attest_decode(att, alen, &a, NULL), 0);
	assert_int_equal(a.magic, TPM2_GENERATED_VALUE);
	assert_int_equal(a.type, TPM2_ST_ATTEST_QUOTE);
	assert_int_equal(a.attested.quote.pcrSelect.count, 1);
	assert_int_equal(tpm_signature_decode(sig, slen, &s, NULL), 0);
	assert_int_equal(s.sigAlg, TPM2_ALG_RSASSA);
	TPMS_ATTEST ca;
	memset(&ca, 0x33, sizeof ca);
	for (size_t cut = 0; cut < alen; cut++) {
		TPMS_ATTEST t = ca;
		assert_int_not_equal(tpm_attest_decode(att, cut, &t, NULL), 0);
		assert_memory_equal(&t, &ca, sizeof t);
	}
	for (size_t cut = 0; cut < slen; cut++)
		assert_int_not_equal(tpm_signature_decode(sig, cut, &s, NULL), 0);
	uint8_t *more = malloc(alen + 1);
	memcpy(more, att, alen);
	more[alen] = 1;
	assert_int_equal(tpm_attest_decode(more, alen + 1, &a, NULL), ATTEST_E_TRAILING);
	free(more);
	more = malloc(slen + 1);
	memcpy(more, sig, slen);
	more[slen] = 1;
	assert_int_equal(tpm_signature_decode(more, slen + 1, &s, NULL), ATTEST_E_TRAILING);
	free(more);
	free(att);
	free(sig);
	assert_int_equal(tpm_attest_decode(NULL, 0, &a, NULL), ATTEST_E_TRUNCATED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_real_publics_and_names),
	    cmocka_unit_test(test_real_eks),
	    cmocka_unit_test(test_public_truncations_and_trailing),
	    cmocka_unit_test(test_unsupported_keys),
	    cmocka_unit_test(test_pkey_match),
	    cmocka_unit_test(test_attest_and_signature),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
