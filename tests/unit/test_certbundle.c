/* lib/certbundle.c: PEM bundles (with text around them) and single DER
 * certificates split into certificates, as the trust store and the
 * verifier's certified TPM list read them. Certificates made here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "certbundle.h"
#include "err.h"

static X509 *make_cert(const char *cn)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	assert_non_null(k);
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509_set_pubkey(x, k);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	EVP_PKEY_free(k);
	return x;
}

/* The certificates as PEM, between the given texts. */
static char *pem_of(X509 *const *certs, size_t n, const char *before, const char *after)
{
	BIO *b = BIO_new(BIO_s_mem());
	assert_non_null(b);
	BIO_puts(b, before);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(PEM_write_bio_X509(b, certs[i]), 1);
	BIO_puts(b, after);
	char *data = NULL;
	long len = BIO_get_mem_data(b, &data);
	char *out = malloc((size_t)len + 1);
	assert_non_null(out);
	memcpy(out, data, (size_t)len);
	out[len] = '\0';
	BIO_free(b);
	return out;
}

static void assert_cn(STACK_OF(X509) * s, int i, const char *cn)
{
	char buf[64];
	X509_NAME_get_text_by_NID(X509_get_subject_name(sk_X509_value(s, i)), NID_commonName, buf,
	                          sizeof buf);
	assert_string_equal(buf, cn);
}

static int split(const void *buf, size_t len, STACK_OF(X509) * *ret)
{
	return certbundle_split(buf, len, ret);
}

static void test_pem_bundle(void **state)
{
	X509 *c[3] = {make_cert("one"), make_cert("two"), make_cert("three")};
	char *pem = pem_of(c, 3, "Vendor bundle, issued 2026\n", "trailing notes\n");
	assert_true(certbundle_is_pem((uint8_t *)pem, strlen(pem)));
	STACK_OF(X509) *s = NULL;
	assert_int_equal(split(pem, strlen(pem), &s), 0);
	assert_int_equal(sk_X509_num(s), 3);
	assert_cn(s, 0, "one");
	assert_cn(s, 1, "two");
	assert_cn(s, 2, "three");
	sk_X509_pop_free(s, X509_free);
	free(pem);

	/* a block that does not read ends the list there */
	pem = pem_of(c, 1, "", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
	char *tail = pem_of(c + 1, 1, pem, "");
	assert_int_equal(split(tail, strlen(tail), &s), 0);
	assert_int_equal(sk_X509_num(s), 1);
	assert_cn(s, 0, "one");
	sk_X509_pop_free(s, X509_free);
	free(pem);
	free(tail);
	for (int i = 0; i < 3; i++)
		X509_free(c[i]);
}

static void test_der(void **state)
{
	X509 *c = make_cert("der");
	uint8_t *der = NULL;
	int n = i2d_X509(c, &der);
	assert_true(n > 0);
	assert_false(certbundle_is_pem(der, (size_t)n));
	STACK_OF(X509) *s = NULL;
	assert_int_equal(split(der, (size_t)n, &s), 0);
	assert_int_equal(sk_X509_num(s), 1);
	assert_cn(s, 0, "der");
	sk_X509_pop_free(s, X509_free);
	/* short by one: nothing reads */
	assert_int_equal(split(der, (size_t)n - 1, &s), 0);
	assert_int_equal(sk_X509_num(s), 0);
	sk_X509_pop_free(s, X509_free);
	OPENSSL_free(der);
	X509_free(c);
}

static void test_nothing(void **state)
{
	static const char *const texts[] = {"", "hello", "-----BEGIN",
	                                    "-----BEGIN CERTIFICATE-----"};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		STACK_OF(X509) *s = NULL;
		assert_int_equal(split(texts[i], strlen(texts[i]), &s), 0);
		assert_non_null(s);
		assert_int_equal(sk_X509_num(s), 0);
		sk_X509_pop_free(s, X509_free);
	}
	assert_false(certbundle_is_pem((const uint8_t *)"-----BEGI", 9));
	assert_true(certbundle_is_pem((const uint8_t *)"-----BEGIN", 10));
	assert_false(certbundle_is_pem(NULL, 0));
	STACK_OF(X509) *untouched = (STACK_OF(X509) *)&texts;
	assert_int_equal(certbundle_split(NULL, 1, &untouched), ATTEST_E_ARG);
	assert_ptr_equal(untouched, (STACK_OF(X509) *)&texts);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pem_bundle),
	    cmocka_unit_test(test_der),
	    cmocka_unit_test(test_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
