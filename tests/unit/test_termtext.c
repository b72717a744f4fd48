/* termtext_escape: what reaches a terminal from a log or an agent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "termtext.h"

/* Escape n bytes into a buffer large enough; the result is static. */
static const char *esc_n(const char *s, size_t n)
{
	static char out[1024];
	bool cut = true;
	size_t len = termtext_escape(s, n, out, sizeof out, &cut);
	assert_false(cut);
	assert_int_equal(len, strlen(out));
	return out;
}

static const char *esc(const char *s)
{
	return esc_n(s, strlen(s));
}

/* No byte of s is a C0 control, DEL, or the start of a C1 control. */
static void assert_terminal_safe(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		assert_true(*p >= 0x20 && *p != 0x7F);
		if (*p == 0xC2)
			assert_false(p[1] >= 0x80 && p[1] <= 0x9F);
	}
}

static void test_printable_unchanged(void **state)
{
	assert_string_equal(esc(""), "");
	assert_string_equal(esc("\\EFI\\debian\\shimx64.efi"), "\\EFI\\debian\\shimx64.efi");
	assert_string_equal(esc("root=/dev/sda1 quiet ~!@#$%^&*()"),
	                    "root=/dev/sda1 quiet ~!@#$%^&*()");
	/* Non-ASCII text is kept: accents, CJK, an emoji (4-byte UTF-8). */
	assert_string_equal(esc("h\xc3\xa9t\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x94\x91"),
	                    "h\xc3\xa9t\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x94\x91");
	/* The neighbours of escaped ranges are kept: U+00A0, U+2065, U+206A. */
	assert_string_equal(esc("\xc2\xa0\xe2\x81\xa5\xe2\x81\xaa"),
	                    "\xc2\xa0\xe2\x81\xa5\xe2\x81\xaa");
}

static void test_c0_and_del(void **state)
{
	assert_string_equal(esc("a\x1b[2Jb"), "a\\x1b[2Jb");
	assert_string_equal(esc("\x07\r\n\t\x7f"), "\\x07\\x0d\\x0a\\x09\\x7f");
	assert_string_equal(esc_n("a\0b", 3), "a\\x00b");
	char all[32];
	for (int i = 1; i < 32; i++)
		all[i - 1] = (char)i;
	all[31] = 0;
	assert_terminal_safe(esc(all));
}

static void test_c1(void **state)
{
	/* U+0085 NEL, U+009B CSI, U+0090 DCS, U+0080 and U+009F bounds. */
	assert_string_equal(esc("x\xc2\x85y\xc2\x9b"
	                        "31m"),
	                    "x\\u0085y\\u009B31m");
	assert_string_equal(esc("\xc2\x80\xc2\x9f\xc2\x90"), "\\u0080\\u009F\\u0090");
	/* A lone C1 byte (not UTF-8) is an invalid byte. */
	assert_string_equal(esc("\x9b"
	                        "2J"),
	                    "\\x9b2J");
}

static void test_bidi(void **state)
{
	/* U+202E RIGHT-TO-LEFT OVERRIDE, the whole ranges and their kin. */
	assert_string_equal(esc("evil\xe2\x80\xaegpj.exe"), "evil\\u202Egpj.exe");
	const char *cps[] = {"\xe2\x80\xaa", "\xe2\x80\xab", "\xe2\x80\xac", "\xe2\x80\xad",
	                     "\xe2\x80\xae", "\xe2\x81\xa6", "\xe2\x81\xa7", "\xe2\x81\xa8",
	                     "\xe2\x81\xa9", "\xe2\x80\x8e", "\xe2\x80\x8f", "\xd8\x9c",
	                     "\xe2\x80\xa8", "\xe2\x80\xa9"};
	const char *want[] = {"\\u202A", "\\u202B", "\\u202C", "\\u202D", "\\u202E",
	                      "\\u2066", "\\u2067", "\\u2068", "\\u2069", "\\u200E",
	                      "\\u200F", "\\u061C", "\\u2028", "\\u2029"};
	for (size_t i = 0; i < sizeof cps / sizeof cps[0]; i++) {
		assert_string_equal(esc(cps[i]), want[i]);
		assert_true(termtext_needs_escape(cps[i], strlen(cps[i])));
	}
}

static void test_invalid_utf8(void **state)
{
	assert_string_equal(esc("\xff\xfe"), "\\xff\\xfe");
	assert_string_equal(esc("\x80x"), "\\x80x");                 /* stray continuation */
	assert_string_equal(esc("\xc0\xaf"), "\\xc0\\xaf");          /* overlong '/' */
	assert_string_equal(esc("\xe0\x80\xaf"), "\\xe0\\x80\\xaf"); /* overlong, 3 bytes */
	assert_string_equal(esc("\xed\xa0\x80"), "\\xed\\xa0\\x80"); /* surrogate D800 */
	assert_string_equal(esc("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80"); /* > U+10FFFF */
	assert_string_equal(esc("ab\xe2\x80"), "ab\\xe2\\x80"); /* truncated at the end */
	/* An overlong ESC must not come out as ESC. */
	assert_string_equal(esc("\xc0\x9b"), "\\xc0\\x9b");
}

static void test_idempotent(void **state)
{
	const char *in = "a\x1b]0;t\x07\xe2\x80\xae\xc2\x9b\xff\\x1b";
	char once[256], twice[256];
	termtext_escape(in, strlen(in), once, sizeof once, NULL);
	termtext_escape(once, strlen(once), twice, sizeof twice, NULL);
	assert_string_equal(once, twice);
	assert_false(termtext_needs_escape(once, strlen(once)));
	assert_terminal_safe(once);
}

static void test_cut_never_splits(void **state)
{
	char out[8];
	bool cut = false;
	/* "ab" + "\x1b" (4) = 6 fits in 7; the next escape does not. */
	size_t n = termtext_escape("ab\x1b\x1b", 4, out, sizeof out, &cut);
	assert_true(cut);
	assert_int_equal(n, 6);
	assert_string_equal(out, "ab\\x1b");
	/* A multi-byte character is not split either. */
	n = termtext_escape("abcdef\xc3\xa9", 8, out, sizeof out, &cut);
	assert_true(cut);
	assert_string_equal(out, "abcdef");
	/* Exact fit. */
	n = termtext_escape("\xe2\x80\xae", 3, out, 7, &cut);
	assert_false(cut);
	assert_string_equal(out, "\\u202E");
	/* cap 1: the empty string; cap 0: nothing written. */
	n = termtext_escape("x", 1, out, 1, &cut);
	assert_true(cut);
	assert_int_equal(n, 0);
	assert_string_equal(out, "");
	out[0] = 'z';
	assert_int_equal(termtext_escape("x", 1, out, 0, &cut), 0);
	assert_true(cut);
	assert_int_equal(out[0], 'z');
}

static void test_worst_case_size(void **state)
{
	/* 4 * len + 1 holds any input: every byte invalid is the worst case. */
	char in[64], out[4 * sizeof in + 1];
	memset(in, 0xff, sizeof in);
	bool cut = true;
	size_t n = termtext_escape(in, sizeof in, out, sizeof out, &cut);
	assert_false(cut);
	assert_int_equal(n, 4 * sizeof in);
}

static void test_dup(void **state)
{
	assert_null(termtext_dup(NULL));
	char *d = termtext_dup("\x1b[31mred\xe2\x80\xae");
	assert_non_null(d);
	assert_string_equal(d, "\\x1b[31mred\\u202E");
	free(d);
	assert_false(termtext_needs_escape("plain \xc3\xa9", 8));
	assert_true(termtext_needs_escape("\r", 1));
}

static void test_first_unsafe(void **state)
{
	uint32_t cp = 0;
	bool inv = true;
	assert_int_equal(termtext_first_unsafe("web-01", 6, &cp, &inv), 6);
	assert_int_equal(termtext_first_unsafe("web\xe2\x80\xae"
	                                       "10",
	                                       8, &cp, &inv),
	                 3);
	assert_int_equal(cp, 0x202E);
	assert_false(inv);
	assert_int_equal(termtext_first_unsafe("h\xc3\xa9\x1b", 4, &cp, &inv), 3);
	assert_int_equal(cp, 0x1B);
	assert_int_equal(termtext_first_unsafe("ab\xff", 3, &cp, &inv), 2);
	assert_int_equal(cp, 0xFF);
	assert_true(inv);
	assert_int_equal(termtext_first_unsafe("\xc2\x9b", 2, &cp, &inv), 0);
	assert_int_equal(cp, 0x9B);
	assert_false(inv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_printable_unchanged),
	    cmocka_unit_test(test_c0_and_del),
	    cmocka_unit_test(test_c1),
	    cmocka_unit_test(test_bidi),
	    cmocka_unit_test(test_invalid_utf8),
	    cmocka_unit_test(test_idempotent),
	    cmocka_unit_test(test_cut_never_splits),
	    cmocka_unit_test(test_worst_case_size),
	    cmocka_unit_test(test_dup),
	    cmocka_unit_test(test_first_unsafe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
