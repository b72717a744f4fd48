/* lib/debver.c: Debian version comparison, checked against pairs whose
 * order dpkg --compare-versions gives (and the kernels the catalog tests
 * use). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "debver.h"

static void less(const char *a, const char *b)
{
	if (debver_compare(a, b) >= 0 || debver_compare(b, a) <= 0)
		fail_msg("want %s < %s", a, b);
}

static void same(const char *a, const char *b)
{
	if (debver_compare(a, b) != 0 || debver_compare(b, a) != 0)
		fail_msg("want %s == %s", a, b);
}

static void test_order(void **state)
{
	less("6.1.192-1", "6.1.192-2");
	less("6.1.158-1", "6.1.192-1");
	less("6.1.9-1", "6.1.10-1");
	less("1.0~rc1", "1.0");
	less("1.0~~", "1.0~");
	less("1.0", "1.0+b1");
	less("1.0", "1.0a");
	less("1.0a", "1.0+");
	less("1.0-1", "1.0-1.1");
	less("9:1.0", "10:0.1");
	less("2.06-13+deb12u1", "2.06-13+deb12u2");
	less("1+2.06+13+deb12u1", "1+2.06+13+deb12u2");
	less("1.51~1+deb12u1+16.1-2~deb12u1", "1.51~1+deb12u1+16.1-2");
	less("6.1.0-47", "6.1.0-50");
	less("0.9", "1:0.1");
	same("1.0", "0:1.0");
	same("1.00", "1.0");
	same("1.0-01", "1.0-1");
	same("6.1.192-3", "6.1.192-3");
}

static void test_valid(void **state)
{
	assert_true(debver_valid("6.1.192-3"));
	assert_true(debver_valid("1:2.06-13+deb12u2"));
	assert_true(debver_valid("1.51~1+deb12u1+16.1-2~deb12u1"));
	assert_false(debver_valid(""));
	assert_false(debver_valid(NULL));
	assert_false(debver_valid("a1.0"));
	assert_false(debver_valid(":1.0"));
	assert_false(debver_valid("x:1.0"));
	assert_false(debver_valid("1:2:3"));
	assert_false(debver_valid("1.0-"));
	assert_false(debver_valid("1.0 2"));
	assert_false(debver_valid("1.0/../x"));
	char big[DEBVER_MAX + 2];
	memset(big, '1', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_false(debver_valid(big));
	big[DEBVER_MAX] = '\0';
	assert_true(debver_valid(big));
	/* an invalid version sorts as the oldest */
	assert_true(debver_compare("junk", "0.1") < 0);
	assert_true(debver_compare("0.1", "junk") > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_order),
	                                   cmocka_unit_test(test_valid)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
