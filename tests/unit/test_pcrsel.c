/* lib/pcrsel.c: the one parser and encoder of PCR selection text, used by
 * the agent's request parser, its evidence command and the policy loader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "err.h"
#include "pcrsel.h"

#define SHA1   0x0004
#define SHA256 0x000b
#define SHA384 0x000c
#define SHA512 0x000d

static uint32_t ranges(const char *s)
{
	uint32_t m = 0xdeadbeef;
	assert_int_equal(pcrsel_ranges_parse(s, strlen(s), &m), 0);
	return m;
}

static void test_ranges(void **state)
{
	(void)state;
	assert_int_equal(ranges("0"), 1u);
	assert_int_equal(ranges("0-7"), 0xffu);
	assert_int_equal(ranges("0-9,14"), 0x43ffu);
	assert_int_equal(ranges("23"), 1u << 23);
	assert_int_equal(ranges("all"), 0xffffffu);
	assert_int_equal(ranges("0-23"), 0xffffffu);
	assert_int_equal(ranges("7,0"), 0x81u);    /* any order */
	assert_int_equal(ranges("1,1,0-2"), 0x7u); /* duplicates and overlaps merge */
	assert_int_equal(ranges("5-5"), 1u << 5);
	assert_int_equal(ranges("07"), 1u << 7); /* leading zeros, as policies had */
	/* only the n bytes count */
	uint32_t m = 0;
	assert_int_equal(pcrsel_ranges_parse("0-7,99", 3, &m), 0);
	assert_int_equal(m, 0xffu);
}

static void test_ranges_refused(void **state)
{
	(void)state;
	const char *bad[] = {"",      "24",  "0-24",  "100", "0-",    "-1",         "1,",
	                     ",1",    "a",   "0 - 7", " 0",  "0 ",    "3-1",        "0,,1",
	                     "1-2-3", "0x1", "+1",    "ALL", "all,1", "00000000001"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint32_t m = 0x1234;
		assert_int_equal(pcrsel_ranges_parse(bad[i], strlen(bad[i]), &m), ATTEST_E_FORMAT);
		assert_int_equal(m, 0x1234); /* untouched */
	}
	uint32_t m;
	assert_int_equal(pcrsel_ranges_parse(NULL, 0, &m), ATTEST_E_FORMAT);
}

static void test_parse(void **state)
{
	(void)state;
	struct pcrsel s;
	assert_int_equal(pcrsel_parse("sha256:0-7", &s), 0);
	assert_int_equal(s.count, 1);
	assert_int_equal(s.banks[0].alg, SHA256);
	assert_int_equal(s.banks[0].mask, 0xffu);

	assert_int_equal(pcrsel_parse("sha256:0-7,14+sha1:0,1", &s), 0);
	assert_int_equal(s.count, 2);
	assert_int_equal(s.banks[0].alg, SHA256);
	assert_int_equal(s.banks[0].mask, 0x40ffu);
	assert_int_equal(s.banks[1].alg, SHA1);
	assert_int_equal(s.banks[1].mask, 0x3u);

	assert_int_equal(pcrsel_parse("sha1:all+sha256:0+sha384:1+sha512:23", &s), 0);
	assert_int_equal(s.count, PCRSEL_MAX_BANKS);
	assert_int_equal(s.banks[0].mask, 0xffffffu);
	assert_int_equal(s.banks[2].alg, SHA384);
	assert_int_equal(s.banks[3].alg, SHA512);
	assert_int_equal(s.banks[3].mask, 1u << 23);
}

static void test_parse_refused(void **state)
{
	(void)state;
	const char *bad[] = {
	    "",                                         /* empty */
	    "sha256",                                   /* no list */
	    "sha256:",                                  /* empty list */
	    ":0-7",                                     /* no bank */
	    "sha3:0",                                   /* unknown bank */
	    "SHA256:0",                                 /* names are lowercase */
	    "sm3_256:0",                                /* known hash, not a bank */
	    "sha256:24",                                /* out of range */
	    "sha256:0-7+",                              /* empty bank after '+' */
	    "+sha256:0",                                /* empty bank before */
	    "sha256:0-7+sha256:8",                      /* a bank named twice */
	    "sha256:0-7 ",                              /* trailing garbage */
	    "sha256:0-7,",                              /* trailing comma */
	    "sha256:0-7x",                              /* trailing garbage */
	    "sha256:0:1",                               /* two colons */
	    "sha1:0+sha256:0+sha384:0+sha512:0+sha1:1", /* more banks than the cap */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct pcrsel s = {.count = 77};
		assert_int_equal(pcrsel_parse(bad[i], &s), ATTEST_E_FORMAT);
		assert_int_equal(s.count, 77); /* untouched */
	}
	struct pcrsel s;
	assert_int_equal(pcrsel_parse(NULL, &s), ATTEST_E_FORMAT);

	/* the text cap: PCRSEL_TEXT_MAX characters pass, one more is a limit */
	char text[PCRSEL_TEXT_MAX + 2];
	memcpy(text, "sha256:0", 8);
	for (size_t i = 8; i + 1 < PCRSEL_TEXT_MAX; i += 2)
		memcpy(text + i, ",1", 2);
	size_t n = 8 + ((PCRSEL_TEXT_MAX - 8) / 2) * 2;
	text[n] = '\0';
	assert_true(n <= PCRSEL_TEXT_MAX);
	assert_int_equal(pcrsel_parse(text, &s), 0);
	memset(text + n, '1', PCRSEL_TEXT_MAX + 1 - n);
	text[PCRSEL_TEXT_MAX + 1] = '\0';
	assert_int_equal(pcrsel_parse(text, &s), ATTEST_E_LIMIT);
}

static void test_format(void **state)
{
	(void)state;
	char out[128];
	assert_int_equal(pcrsel_ranges_format(0x40ffu, out, sizeof out), 0);
	assert_string_equal(out, "0-7,14");
	assert_int_equal(pcrsel_ranges_format(0x5u, out, sizeof out), 0);
	assert_string_equal(out, "0,2");
	assert_int_equal(pcrsel_ranges_format(0xffffffu, out, sizeof out), 0);
	assert_string_equal(out, "0-23");
	assert_int_equal(pcrsel_ranges_format(0, out, sizeof out), 0);
	assert_string_equal(out, "");
	/* every other PCR: the longest list, within 80 bytes */
	assert_int_equal(pcrsel_ranges_format(0x555555u, out, 80), 0);
	assert_string_equal(out, "0,2,4,6,8,10,12,14,16,18,20,22");
	assert_int_equal(pcrsel_ranges_format(0x40ffu, out, 4), ATTEST_E_LIMIT);
	assert_int_equal(strlen(out) < 4, 1);

	struct pcrsel s = {.count = 3};
	s.banks[0].alg = SHA256;
	s.banks[0].mask = 0x40ffu;
	s.banks[1].alg = SHA384;
	s.banks[1].mask = 0; /* empty banks are left out */
	s.banks[2].alg = SHA1;
	s.banks[2].mask = 0x3u;
	assert_int_equal(pcrsel_format(&s, out, sizeof out), 0);
	assert_string_equal(out, "sha256:0-7,14+sha1:0-1");
	assert_int_equal(pcrsel_format(&s, out, 10), ATTEST_E_LIMIT);
	assert_string_equal(out, "");

	/* round trip */
	struct pcrsel back;
	assert_int_equal(pcrsel_parse(out, &back), ATTEST_E_FORMAT); /* out was cut */
	assert_int_equal(pcrsel_format(&s, out, sizeof out), 0);
	assert_int_equal(pcrsel_parse(out, &back), 0);
	assert_int_equal(back.count, 2);
	assert_int_equal(back.banks[0].mask, 0x40ffu);
	assert_int_equal(back.banks[1].alg, SHA1);

	s.banks[0].alg = 0x0012; /* SM3: not a bank */
	assert_int_equal(pcrsel_format(&s, out, sizeof out), ATTEST_E_FORMAT);
	struct pcrsel none = {0};
	assert_int_equal(pcrsel_format(&none, out, sizeof out), ATTEST_E_FORMAT);
	none.count = PCRSEL_MAX_BANKS + 1;
	assert_int_equal(pcrsel_format(&none, out, sizeof out), ATTEST_E_FORMAT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ranges), cmocka_unit_test(test_ranges_refused),
	    cmocka_unit_test(test_parse),  cmocka_unit_test(test_parse_refused),
	    cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
