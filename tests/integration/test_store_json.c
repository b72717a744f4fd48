/* store_check_json's quick path (store.c) against jansson: on valid texts
 * and on every one-byte change, truncation and insertion of them, the
 * check must answer exactly what json_loads(JSON_REJECT_DUPLICATES) and the
 * type test answer (the quick path may only say yes where jansson does). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool jansson_ok(const char *v, json_type type)
{
	json_error_t err;
	json_t *j = json_loads(v, JSON_REJECT_DUPLICATES, &err);
	bool ok = j && json_typeof(j) == type;
	json_decref(j);
	return ok;
}

static long checked;

static void agree(struct store *s, const char *v, json_type type)
{
	bool want = jansson_ok(v, type);
	int rc = store_check_json(s, "t", v, type, false);
	if ((rc == 0) != want)
		fprintf(stderr, "disagree on %s (type %d): store %d, jansson %d\n", v, (int)type,
		        rc, want);
	assert_int_equal(rc == 0, want);
	checked++;
}

static const char *const samples[] = {
    "{\"sha256\":{\"0\":\"aa\",\"1\":\"bb\",\"10\":\"cc\"},\"sha1\":{\"0\":null}}",
    "[{\"code\":\"PCR_MISMATCH\",\"message\":\"pcr 7\",\"pcr\":7,\"n\":-12}]",
    "[]",
    "{}",
    " { \"a\" : [ 1 , -0 , true , false , null , \"\" ] , \"b\" : {\"\":0} } ",
    "{\"a\":1,\"a\":2}",
    "{\"a\":1.5,\"b\":1e3,\"c\":\"\\u00e9\",\"d\":\"tab\\t\"}",
    "{\"big\":123456789012345678901234567890}",
    "[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]",
    "{\"k\":\"caf\xc3\xa9\"}",
    "[01]",
    "[1,]",
    "{\"a\" 1}",
    "[\"unterminated]",
    "[tru]",
    "[nul]",
    "{\"a\":1}x",
    "{\"x\":-}",
};

static void mutate_all(struct store *s, const char *base)
{
	static const char bytes[] = "{}[]\":,-0159aetnulfrs \\.eE\x01\x7f\xc3";
	size_t n = strlen(base);
	char *b = malloc(n + 2);
	assert_non_null(b);
	for (json_type t = JSON_OBJECT; t <= JSON_ARRAY; t++) {
		agree(s, base, t);
		for (size_t i = 0; i <= n; i++) {
			/* truncated at i */
			memcpy(b, base, i);
			b[i] = 0;
			agree(s, b, t);
			for (size_t k = 0; k < sizeof bytes - 1; k++) {
				if (i < n) { /* byte i replaced */
					memcpy(b, base, n + 1);
					b[i] = bytes[k];
					agree(s, b, t);
				}
				/* a byte inserted before i */
				memcpy(b, base, i);
				b[i] = bytes[k];
				memcpy(b + i + 1, base + i, n - i + 1);
				agree(s, b, t);
			}
		}
	}
	free(b);
}

static void test_quick_json_agrees_with_jansson(void **state)
{
	(void)state;
	struct store *s = NULL;
	char *err = NULL;
	assert_int_equal(store_open("sqlite::memory:", &s, &err), 0);
	for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++)
		mutate_all(s, samples[i]);
	/* Larger objects than the quick path takes (64 keys) and a duplicate
	 * at the end of one. */
	char big[4096];
	for (int dup = 0; dup < 2; dup++) {
		size_t len = 0;
		len += (size_t)snprintf(big + len, sizeof big - len, "{");
		for (int i = 0; i < 80; i++)
			len += (size_t)snprintf(big + len, sizeof big - len, "%s\"k%d\":%d",
			                        i ? "," : "", dup && i == 79 ? 0 : i, i);
		snprintf(big + len, sizeof big - len, "}");
		agree(s, big, JSON_OBJECT);
	}
	fprintf(stderr, "%ld texts checked: the quick path and jansson agree\n", checked);
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_quick_json_agrees_with_jansson),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
