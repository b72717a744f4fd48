/* Strict base64: RFC 4648 vectors, and everything a lenient decoder accepts
 * that we refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "err.h"

static const char *const vec[][2] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void test_rfc4648_vectors(void **state)
{
	for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
		char enc[64];
		uint8_t dec[64];
		size_t n = 99;
		base64_encode((const uint8_t *)vec[i][0], strlen(vec[i][0]), enc);
		assert_string_equal(enc, vec[i][1]);
		assert_int_equal(base64_decode(vec[i][1], strlen(vec[i][1]), dec, sizeof dec, &n),
		                 0);
		assert_int_equal(n, strlen(vec[i][0]));
		assert_memory_equal(dec, vec[i][0], n);
	}
}

static void test_all_bytes_round_trip(void **state)
{
	uint8_t in[256], out[256];
	char enc[BASE64_ENCODED_SIZE(256)];
	for (int i = 0; i < 256; i++)
		in[i] = (uint8_t)i;
	for (size_t len = 0; len <= 256; len++) {
		size_t n = 0;
		base64_encode(in, len, enc);
		assert_int_equal(strlen(enc) + 1, BASE64_ENCODED_SIZE(len));
		assert_int_equal(base64_decode(enc, strlen(enc), out, len, &n), 0);
		assert_int_equal(n, len);
		assert_memory_equal(in, out, len);
	}
}

static void test_refusals(void **state)
{
	static const char *const bad[] = {
	    "Zg=",              /* length not a multiple of 4 */
	    "Zg",               /* missing padding */
	    "Zh==",             /* non-zero bits under the padding */
	    "Zm9=",             /* idem, one '=' */
	    "Z===",             /* too much padding */
	    "=Zg=",             /* padding first */
	    "Zg==Zg==",         /* padding in the middle */
	    "Zm9v\n",           /* whitespace */
	    "Zm 9v",            /* space */
	    "Zm9-",             /* URL-safe alphabet */
	    "Zm9_",     "Zm=v", /* '=' then data */
	};
	uint8_t out[16];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t n = 77;
		int e = base64_decode(bad[i], strlen(bad[i]), out, sizeof out, &n);
		if (e != ATTEST_E_FORMAT)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(n, 77);
	}
	/* an embedded NUL counts as a bad character */
	size_t n;
	assert_int_equal(base64_decode("Zm\0v", 4, out, sizeof out, &n), ATTEST_E_FORMAT);
}

static void test_caps(void **state)
{
	uint8_t out[3];
	size_t n;
	assert_int_equal(base64_decode("Zm9vYg==", 8, out, 3, &n), ATTEST_E_LIMIT);
	assert_int_equal(base64_decode("Zm9v", 4, out, 3, &n), 0);
	uint8_t *p = NULL;
	assert_int_equal(base64_decode_alloc("Zm9vYmFy", 8, 5, &p, &n), ATTEST_E_LIMIT);
	assert_null(p);
	assert_int_equal(base64_decode_alloc("Zm9vYmE=", 8, 5, &p, &n), 0);
	assert_int_equal(n, 5);
	free(p);
	assert_int_equal(base64_decode_alloc("", 0, 5, &p, &n), 0);
	assert_int_equal(n, 0);
	free(p);
	assert_int_equal(base64_decode_alloc("Zm9", 3, 5, &p, &n), ATTEST_E_FORMAT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc4648_vectors),
	    cmocka_unit_test(test_all_bytes_round_trip),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_caps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
