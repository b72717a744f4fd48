/* lib/alg.c: the one hash algorithm table agrees with OpenSSL and with the
 * names the API and policies use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "alg.h"

static void test_banks(void **state)
{
	static const struct {
		uint16_t id;
		const char *name;
		size_t size;
	} want[] = {{0x0004, "sha1", 20},
	            {0x000b, "sha256", 32},
	            {0x000c, "sha384", 48},
	            {0x000d, "sha512", 64}};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		const struct alg_hash *h = alg_bank_by_id(want[i].id);
		assert_non_null(h);
		assert_ptr_equal(h, alg_hash_by_id(want[i].id));
		assert_ptr_equal(h, alg_bank_by_name(want[i].name, strlen(want[i].name)));
		assert_string_equal(h->name, want[i].name);
		assert_int_equal(h->size, want[i].size);
		assert_true(h->bank);
		/* OpenSSL agrees on the size, by getter and by name */
		assert_non_null(h->md);
		assert_int_equal(EVP_MD_get_size(h->md()), (int)h->size);
		EVP_MD *md = EVP_MD_fetch(NULL, h->evp_name, NULL);
		assert_non_null(md);
		assert_int_equal(EVP_MD_get_size(md), (int)h->size);
		EVP_MD_free(md);
	}
}

static void test_sm3_is_known_but_not_a_bank(void **state)
{
	const struct alg_hash *h = alg_hash_by_id(0x0012);
	assert_non_null(h);
	assert_string_equal(h->name, "sm3_256");
	assert_string_equal(h->evp_name, "SM3");
	assert_int_equal(h->size, 32);
	assert_null(h->md);
	assert_false(h->bank);
	assert_null(alg_bank_by_id(0x0012));
	assert_null(alg_bank_by_name("sm3_256", 7));
}

static void test_unknown(void **state)
{
	assert_null(alg_hash_by_id(0x0000));
	assert_null(alg_hash_by_id(0x0001)); /* RSA: not a hash */
	assert_null(alg_hash_by_id(0x0010)); /* TPM_ALG_NULL */
	assert_null(alg_bank_by_name("", 0));
	assert_null(alg_bank_by_name("SHA256", 6)); /* exact, lowercase */
	assert_null(alg_bank_by_name("sha25", 5));
	assert_null(alg_bank_by_name("sha2566", 7));
	assert_null(alg_bank_by_name("sha256", 5)); /* only the n bytes count */
	assert_non_null(alg_bank_by_name("sha256:0-7", 6));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_banks),
	    cmocka_unit_test(test_sm3_is_known_but_not_a_bank),
	    cmocka_unit_test(test_unknown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
