/* ActivateCredential in software: round trips with credential_make() for
 * every EK kind, and every way a blob can be wrong (another Name, another
 * EK, a flipped bit anywhere, short by one, trailing bytes), each refused
 * with the output untouched. The verifier's real half is checked against a
 * real TPM in tests/integration/test_evidence_tools.sh; this half against
 * the verifier in tests/integration/test_swarm.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "credential.h"
#include "credential_activate.h"
#include "err.h"
#include "tpm.h"
#include "tpm_build.h"

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

static const uint8_t canary[CREDENTIAL_MAX] = {0x5a};

static int activate(const TPMT_PUBLIC *ek, EVP_PKEY *k, const uint8_t *name, size_t nl,
                    const uint8_t *blob, size_t bl, const uint8_t *sec, size_t sl)
{
	uint8_t out[CREDENTIAL_MAX];
	size_t ol = 777;
	memcpy(out, canary, sizeof out);
	int rc = credential_activate(ek, k, name, nl, blob, bl, sec, sl, out, &ol);
	if (rc) {
		assert_memory_equal(out, canary, sizeof out);
		assert_int_equal(ol, 777);
	}
	return rc;
}

static void round_trip(EVP_PKEY *k, unsigned aes_bits, TPM2_ALG_ID name_alg)
{
	TPMT_PUBLIC ek;
	ek_public(k, aes_bits, name_alg, &ek);
	uint8_t name[34] = {0x00, 0x0b}, cred[32], out[CREDENTIAL_MAX];
	memset(name + 2, 0xa5, 32);
	memset(cred, 0xc3, sizeof cred);
	struct credential_out co;
	assert_int_equal(credential_make(&ek, name, sizeof name, cred, sizeof cred, &co), 0);
	size_t ol = 0;
	assert_int_equal(credential_activate(&ek, k, name, sizeof name, co.blob, co.blob_len,
	                                     co.secret, co.secret_len, out, &ol),
	                 0);
	assert_int_equal(ol, sizeof cred);
	assert_memory_equal(out, cred, sizeof cred);

	/* bound to the Name */
	uint8_t other[34];
	memcpy(other, name, sizeof other);
	other[33] ^= 1;
	assert_int_equal(
	    activate(&ek, k, other, sizeof other, co.blob, co.blob_len, co.secret, co.secret_len),
	    ATTEST_E_VERIFY);
	/* a flipped bit anywhere after the sizes is refused */
	for (size_t i = 4; i < co.blob_len; i++) {
		co.blob[i] ^= 0x10;
		assert_int_not_equal(activate(&ek, k, name, sizeof name, co.blob, co.blob_len,
		                              co.secret, co.secret_len),
		                     0);
		co.blob[i] ^= 0x10;
	}
	for (size_t i = 2; i < co.secret_len; i += 7) {
		co.secret[i] ^= 0x01;
		assert_int_not_equal(activate(&ek, k, name, sizeof name, co.blob, co.blob_len,
		                              co.secret, co.secret_len),
		                     0);
		co.secret[i] ^= 0x01;
	}
	/* short by one, trailing byte */
	assert_int_equal(
	    activate(&ek, k, name, sizeof name, co.blob, co.blob_len - 1, co.secret, co.secret_len),
	    ATTEST_E_TRUNCATED);
	assert_int_equal(
	    activate(&ek, k, name, sizeof name, co.blob, co.blob_len, co.secret, co.secret_len - 1),
	    ATTEST_E_TRUNCATED);
	uint8_t longer[CREDENTIAL_SECRET_MAX + 1];
	memcpy(longer, co.secret, co.secret_len);
	longer[co.secret_len] = 0;
	assert_int_equal(
	    activate(&ek, k, name, sizeof name, co.blob, co.blob_len, longer, co.secret_len + 1),
	    ATTEST_E_TRAILING);
	/* still good after all that */
	assert_int_equal(
	    activate(&ek, k, name, sizeof name, co.blob, co.blob_len, co.secret, co.secret_len), 0);
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
	const char *groups[] = {NULL, "P-256"};
	for (int g = 0; g < 2; g++) {
		EVP_PKEY *a = groups[g] ? tb_ec_key(groups[g]) : tb_rsa_key();
		EVP_PKEY *b = groups[g] ? tb_ec_key(groups[g]) : tb_rsa_key();
		TPMT_PUBLIC ea, eb;
		ek_public(a, 128, TPM2_ALG_SHA256, &ea);
		ek_public(b, 128, TPM2_ALG_SHA256, &eb);
		uint8_t name[34] = {0x00, 0x0b}, cred[16] = {1};
		struct credential_out co;
		assert_int_equal(credential_make(&ea, name, sizeof name, cred, sizeof cred, &co),
		                 0);
		assert_int_equal(activate(&eb, b, name, sizeof name, co.blob, co.blob_len,
		                          co.secret, co.secret_len),
		                 ATTEST_E_VERIFY);
		EVP_PKEY_free(a);
		EVP_PKEY_free(b);
	}
}

static void test_refusals(void **state)
{
	EVP_PKEY *k = tb_ec_key("P-256");
	TPMT_PUBLIC ek;
	ek_public(k, 128, TPM2_ALG_SHA256, &ek);
	uint8_t name[34] = {0x00, 0x0b}, b[8] = {0};
	assert_int_equal(activate(&ek, k, name, 1, b, sizeof b, b, sizeof b), ATTEST_E_ARG);
	assert_int_equal(activate(&ek, NULL, name, sizeof name, b, sizeof b, b, sizeof b),
	                 ATTEST_E_ARG);
	assert_int_equal(activate(&ek, k, name, sizeof name, b, 0, b, 0), ATTEST_E_TRUNCATED);
	ek.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
	assert_int_equal(activate(&ek, k, name, sizeof name, b, sizeof b, b, sizeof b),
	                 ATTEST_E_UNSUPPORTED);
	EVP_PKEY_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_rsa),
	    cmocka_unit_test(test_round_trip_ecc),
	    cmocka_unit_test(test_another_ek_fails),
	    cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
