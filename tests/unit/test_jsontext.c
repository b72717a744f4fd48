/* jsontext_depth: bracket nesting counted without recursion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "jsontext.h"

static size_t depth(const char *s)
{
	return jsontext_depth((const uint8_t *)s, strlen(s));
}

static void test_depths(void **state)
{
	assert_int_equal(depth(""), 0);
	assert_int_equal(depth("1"), 0);
	assert_int_equal(depth("{}"), 1);
	assert_int_equal(depth("{\"a\":[1,{\"b\":[]}]}"), 4);
	assert_int_equal(depth("[[]][[[]]]"), 3);
}

static void test_brackets_in_strings_do_not_count(void **state)
{
	assert_int_equal(depth("{\"[[[[\":\"{{{{\"}"), 1);
	assert_int_equal(depth("[\"\\\"[[[\"]"), 1); /* escaped quote stays inside */
	assert_int_equal(depth("[\"\\\\\",[]]"), 2); /* escaped backslash ends the escape */
}

static void test_unbalanced_text_does_not_underflow(void **state)
{
	assert_int_equal(depth("]]]]{"), 1);
	assert_int_equal(depth("}{}{"), 1);
}

static void test_very_deep(void **state)
{
	size_t n = 100000;
	char *s = malloc(n + 1);
	assert_non_null(s);
	memset(s, '[', n);
	s[n] = 0;
	assert_int_equal(depth(s), n);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_depths),
	    cmocka_unit_test(test_brackets_in_strings_do_not_count),
	    cmocka_unit_test(test_unbalanced_text_does_not_underflow),
	    cmocka_unit_test(test_very_deep),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
