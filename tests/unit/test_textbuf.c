/* lib/textbuf.c and lib/diag.c: the one text builder (fixed buffers cut
 * with "...", growable ones capped) and the one diagnostic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "diag.h"
#include "textbuf.h"

static void test_fixed(void **state)
{
	(void)state;
	char buf[16];
	struct textbuf t;
	textbuf_fixed(&t, buf, sizeof buf);
	assert_string_equal(buf, "");
	textbuf_add(&t, "%s=%d", "a", 1);
	textbuf_add(&t, ",%s", "b");
	assert_string_equal(buf, "a=1,b");
	assert_int_equal(t.len, 5);
	assert_false(t.cut);
	textbuf_add(&t, "%s", "0123456789abcdef"); /* does not fit: cut, marked */
	assert_true(t.cut);
	assert_int_equal(strlen(buf), sizeof buf - 1);
	assert_string_equal(buf + sizeof buf - 4, "...");
	assert_memory_equal(buf, "a=1,b0123456", 12);
	textbuf_add(&t, "more"); /* nothing after a cut */
	assert_int_equal(strlen(buf), sizeof buf - 1);

	char tiny[3];
	textbuf_fixed(&t, tiny, sizeof tiny);
	textbuf_add(&t, "abcdef"); /* too small to mark: cut, terminated */
	assert_true(t.cut);
	assert_string_equal(tiny, "ab");
}

static void test_growable(void **state)
{
	(void)state;
	struct textbuf t;
	textbuf_growable(&t, 4096);
	assert_null(t.buf);
	for (int i = 0; i < 300; i++)
		textbuf_add(&t, "%04d\n", i); /* 1500 bytes: grows past 1024 */
	assert_int_equal(t.len, 1500);
	assert_memory_equal(t.buf + 1495, "0299\n", 5);
	char big[3000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	textbuf_add(&t, "%s", big); /* would pass max: left out */
	assert_int_equal(t.len, 1500);
	textbuf_add(&t, "end"); /* shorter ones still go in */
	assert_int_equal(t.len, 1503);
	assert_false(t.nomem);
	char *s = textbuf_take(&t);
	assert_non_null(s);
	assert_int_equal(strlen(s), 1503);
	assert_null(t.buf);
	assert_int_equal(t.len, 0);
	free(s);

	textbuf_growable(&t, 100);
	s = textbuf_take(&t); /* nothing added: "" */
	assert_string_equal(s, "");
	free(s);
	textbuf_add(&t, "x");
	textbuf_free(&t);
	assert_null(t.buf);
	textbuf_free(&t); /* twice is fine */
}

static void test_diag(void **state)
{
	(void)state;
	struct diag d = {0};
	diag_set(&d, "field %s: %d", "x", 7);
	assert_string_equal(d.message, "field x: 7");
	diag_set(NULL, "ignored %d", 1); /* NULL: no sentence wanted */
	char big[400];
	memset(big, 'y', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	diag_set(&d, "%s", big);
	assert_int_equal(strlen(d.message), DIAG_MESSAGE_MAX - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fixed),
	    cmocka_unit_test(test_growable),
	    cmocka_unit_test(test_diag),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
