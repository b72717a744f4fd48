/* struct reader: every read checks bounds and leaves the offset unchanged on
 * failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "hex.h"
#include "reader.h"

static void test_empty(void **state)
{
	struct reader r;
	uint8_t b;
	uint32_t v;
	reader_init(&r, NULL, 10); /* NULL buffer means empty whatever len says */
	assert_int_equal(reader_left(&r), 0);
	assert_int_equal(reader_u8(&r, &b), ATTEST_E_TRUNCATED);
	assert_int_equal(reader_u32le(&r, &v), ATTEST_E_TRUNCATED);
	assert_int_equal(reader_skip(&r, 0), 0);
	assert_int_equal(r.off, 0);
}

static void test_integers(void **state)
{
	const uint8_t in[] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct reader r;
	uint16_t a;
	uint32_t b;
	uint64_t c;
	reader_init(&r, in, sizeof in);
	assert_int_equal(reader_u16le(&r, &a), 0);
	assert_int_equal(a, 0x0201);
	assert_int_equal(reader_u16be(&r, &a), 0);
	assert_int_equal(a, 0x0304);
	assert_int_equal(reader_u32be(&r, &b), 0);
	assert_int_equal(b, 0x05060708);
	assert_int_equal(reader_left(&r), 0);
	reader_init(&r, in, sizeof in);
	assert_int_equal(reader_u32le(&r, &b), 0);
	assert_int_equal(b, 0x04030201);
	reader_init(&r, in, sizeof in);
	assert_int_equal(reader_u64le(&r, &c), 0);
	assert_true(c == 0x0807060504030201ull);
	reader_init(&r, in, sizeof in);
	assert_int_equal(reader_u64be(&r, &c), 0);
	assert_true(c == 0x0102030405060708ull);
}

static void test_short_by_one_leaves_offset(void **state)
{
	const uint8_t in[] = {1, 2, 3};
	struct reader r;
	uint32_t v;
	uint64_t w;
	const uint8_t *p;
	reader_init(&r, in, sizeof in);
	assert_int_equal(reader_skip(&r, 1), 0);
	assert_int_equal(reader_u32le(&r, &v), ATTEST_E_TRUNCATED);
	assert_int_equal(reader_u64be(&r, &w), ATTEST_E_TRUNCATED);
	assert_int_equal(reader_bytes(&r, 3, &p), ATTEST_E_TRUNCATED);
	assert_int_equal(r.off, 1);
	assert_int_equal(reader_bytes(&r, 2, &p), 0); /* exact fit */
	assert_ptr_equal(p, in + 1);
	assert_int_equal(reader_left(&r), 0);
}

static void test_huge_lengths_do_not_wrap(void **state)
{
	const uint8_t in[] = {1, 2, 3, 4};
	struct reader r, sub;
	reader_init(&r, in, sizeof in);
	assert_int_equal(reader_skip(&r, 2), 0);
	assert_int_equal(reader_skip(&r, SIZE_MAX), ATTEST_E_TRUNCATED);
	assert_int_equal(reader_sub(&r, SIZE_MAX - 1, &sub), ATTEST_E_TRUNCATED);
	assert_int_equal(r.off, 2);
}

static void test_sub_and_tpm2b(void **state)
{
	const uint8_t in[] = {0x00, 0x02, 0xaa, 0xbb, 0xcc};
	struct reader r, sub;
	uint8_t b;
	reader_init(&r, in, sizeof in);
	assert_int_equal(reader_tpm2b(&r, 1, &sub), ATTEST_E_LIMIT);
	assert_int_equal(r.off, 0);
	assert_int_equal(reader_tpm2b(&r, 2, &sub), 0);
	assert_int_equal(reader_left(&sub), 2);
	assert_int_equal(reader_u8(&sub, &b), 0);
	assert_int_equal(b, 0xaa);
	assert_int_equal(reader_left(&r), 1); /* trailing byte stays */

	const uint8_t bad[] = {0x00, 0x05, 0xaa};
	reader_init(&r, bad, sizeof bad);
	assert_int_equal(reader_tpm2b(&r, 100, &sub), ATTEST_E_TRUNCATED);
	assert_int_equal(r.off, 0);
}

static void test_hex(void **state)
{
	uint8_t out[4];
	size_t n;
	char s[9];
	assert_int_equal(hex_decode("0aFf", out, sizeof out, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(out[0], 0x0a);
	assert_int_equal(out[1], 0xff);
	hex_encode(out, n, s);
	assert_string_equal(s, "0aff");
	assert_int_equal(hex_decode("abc", out, sizeof out, &n), ATTEST_E_FORMAT);
	assert_int_equal(hex_decode("zz", out, sizeof out, &n), ATTEST_E_FORMAT);
	assert_int_equal(hex_decode("0011223344", out, sizeof out, &n), ATTEST_E_LIMIT);
	assert_int_equal(hex_decode("", out, sizeof out, &n), 0);
	assert_int_equal(n, 0);
}

static void test_strerror(void **state)
{
	for (int c = 0; c > ATTEST_E__MIN; c--)
		assert_string_not_equal(attest_strerror(c), "unknown error");
	assert_string_equal(attest_strerror(-999), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_integers),
	    cmocka_unit_test(test_short_by_one_leaves_offset),
	    cmocka_unit_test(test_huge_lengths_do_not_wrap),
	    cmocka_unit_test(test_sub_and_tpm2b),
	    cmocka_unit_test(test_hex),
	    cmocka_unit_test(test_strerror),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
