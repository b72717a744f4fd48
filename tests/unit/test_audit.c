/* lib/audit: canonical bytes, hash and the chain check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "audit.h"
#include "err.h"
#include "hex.h"

static const uint8_t zero[AUDIT_HASH_SIZE];

static struct audit_record rec(int64_t seq, const char *body)
{
	return (struct audit_record){.seq = seq,
	                             .at = 1700000000 + seq,
	                             .kind = "verdict",
	                             .actor = "verifier",
	                             .host_id = 3,
	                             .host = "web-1",
	                             .body = body,
	                             .body_len = strlen(body)};
}

/* The hash is SHA-256 over prev and exactly the documented text. */
static void test_hash_is_documented_bytes(void **state)
{
	(void)state;
	struct audit_record r = rec(7, "{\"trust\":\"green\"}");
	uint8_t h[AUDIT_HASH_SIZE], want[AUDIT_HASH_SIZE];
	assert_int_equal(audit_hash(zero, &r, h), 0);
	const char text[] = "attest-audit/1\n7\n1700000007\nverdict\nverifier\n3\nweb-1\n"
	                    "{\"trust\":\"green\"}";
	uint8_t buf[AUDIT_HASH_SIZE + sizeof text];
	memset(buf, 0, AUDIT_HASH_SIZE);
	memcpy(buf + AUDIT_HASH_SIZE, text, sizeof text - 1);
	unsigned n = 0;
	assert_true(
	    EVP_Digest(buf, AUDIT_HASH_SIZE + sizeof text - 1, want, &n, EVP_sha256(), NULL));
	assert_memory_equal(h, want, AUDIT_HASH_SIZE);
	/* No host: id 0 and an empty line. */
	r.host = NULL;
	r.host_id = 0;
	const char t2[] =
	    "attest-audit/1\n7\n1700000007\nverdict\nverifier\n0\n\n{\"trust\":\"green\"}";
	memcpy(buf + AUDIT_HASH_SIZE, t2, sizeof t2 - 1);
	assert_true(EVP_Digest(buf, AUDIT_HASH_SIZE + sizeof t2 - 1, want, &n, EVP_sha256(), NULL));
	assert_int_equal(audit_hash(zero, &r, h), 0);
	assert_memory_equal(h, want, AUDIT_HASH_SIZE);
}

static void test_hash_depends_on_every_field(void **state)
{
	(void)state;
	struct audit_record base = rec(1, "{}");
	uint8_t h0[AUDIT_HASH_SIZE], h[AUDIT_HASH_SIZE], prev[AUDIT_HASH_SIZE];
	assert_int_equal(audit_hash(zero, &base, h0), 0);
	struct audit_record r = base;
	r.seq = 2;
	assert_int_equal(audit_hash(zero, &r, h), 0);
	assert_memory_not_equal(h, h0, AUDIT_HASH_SIZE);
	r = base;
	r.at++;
	assert_int_equal(audit_hash(zero, &r, h), 0);
	assert_memory_not_equal(h, h0, AUDIT_HASH_SIZE);
	r = base;
	r.kind = "alarm";
	assert_int_equal(audit_hash(zero, &r, h), 0);
	assert_memory_not_equal(h, h0, AUDIT_HASH_SIZE);
	r = base;
	r.actor = "admin";
	assert_int_equal(audit_hash(zero, &r, h), 0);
	assert_memory_not_equal(h, h0, AUDIT_HASH_SIZE);
	r = base;
	r.host_id = 4;
	assert_int_equal(audit_hash(zero, &r, h), 0);
	assert_memory_not_equal(h, h0, AUDIT_HASH_SIZE);
	r = base;
	r.host = "web-2";
	assert_int_equal(audit_hash(zero, &r, h), 0);
	assert_memory_not_equal(h, h0, AUDIT_HASH_SIZE);
	r = base;
	r.body = "{ }";
	r.body_len = 3;
	assert_int_equal(audit_hash(zero, &r, h), 0);
	assert_memory_not_equal(h, h0, AUDIT_HASH_SIZE);
	memset(prev, 1, sizeof prev);
	assert_int_equal(audit_hash(prev, &base, h), 0);
	assert_memory_not_equal(h, h0, AUDIT_HASH_SIZE);
	/* Moving text between fields cannot give the same bytes: "\n" is
	 * refused inside them. */
	r = base;
	r.kind = "verdict\nverifier";
	assert_int_equal(audit_hash(zero, &r, h), ATTEST_E_ARG);
}

static void test_invalid_fields_refused(void **state)
{
	(void)state;
	uint8_t h[AUDIT_HASH_SIZE];
	memset(h, 0xaa, sizeof h);
	struct audit_record r = rec(0, "{}");
	assert_int_equal(audit_hash(zero, &r, h), ATTEST_E_ARG);
	r = rec(1, "");
	assert_int_equal(audit_hash(zero, &r, h), ATTEST_E_ARG);
	r = rec(1, "{}");
	r.host_id = -1;
	assert_int_equal(audit_hash(zero, &r, h), ATTEST_E_ARG);
	r = rec(1, "{}");
	r.actor = "a\tb";
	assert_int_equal(audit_hash(zero, &r, h), ATTEST_E_ARG);
	r = rec(1, "{}");
	r.kind = NULL;
	assert_int_equal(audit_hash(zero, &r, h), ATTEST_E_ARG);
	r = rec(1, "{}");
	r.body_len = AUDIT_BODY_MAX + 1;
	assert_int_equal(audit_hash(zero, &r, h), ATTEST_E_ARG);
	for (size_t i = 0; i < sizeof h; i++)
		assert_int_equal(h[i], 0xaa); /* untouched */
	char *big = malloc(AUDIT_FIELD_MAX + 2);
	assert_non_null(big);
	memset(big, 'a', AUDIT_FIELD_MAX + 1);
	big[AUDIT_FIELD_MAX + 1] = '\0';
	assert_false(audit_field_ok(big)); /* one byte over */
	big[AUDIT_FIELD_MAX] = '\0';
	assert_true(audit_field_ok(big)); /* exact fit */
	free(big);
	assert_true(audit_field_ok(""));
	assert_false(audit_field_ok("\x7f"));
}

/* A chain of n records built the way the store builds it. */
#define N 6
static struct audit_record chain[N];
static const char *bodies[N] = {"{\"a\":1}", "{\"a\":2}", "{\"a\":3}",
                                "{\"a\":4}", "{\"a\":5}", "{\"a\":6}"};

static void build_chain(void)
{
	uint8_t prev[AUDIT_HASH_SIZE] = {0};
	for (int i = 0; i < N; i++) {
		chain[i] = rec(i + 1, bodies[i]);
		memcpy(chain[i].prev_hash, prev, sizeof prev);
		assert_int_equal(audit_hash(prev, &chain[i], chain[i].hash), 0);
		memcpy(prev, chain[i].hash, sizeof prev);
	}
}

/* Feed records; the index of the first refused, or -1. */
static int check(const struct audit_record *v, int n, struct audit_problem *p)
{
	struct audit_chain c;
	audit_chain_init(&c, 1, NULL);
	for (int i = 0; i < n; i++) {
		int rc = audit_chain_next(&c, &v[i], p);
		assert_true(rc >= 0);
		if (rc == 1)
			return i;
	}
	assert_int_equal(c.count, n);
	return -1;
}

static void test_whole_chain(void **state)
{
	(void)state;
	struct audit_problem p;
	build_chain();
	assert_int_equal(check(chain, N, &p), -1);
	assert_int_equal(p.fault, AUDIT_FAULT_NONE);
}

static void test_edited_record_found(void **state)
{
	(void)state;
	struct audit_problem p;
	build_chain();
	chain[3].body = "{\"a\":40}";
	chain[3].body_len = strlen(chain[3].body);
	assert_int_equal(check(chain, N, &p), 3);
	assert_int_equal(p.fault, AUDIT_FAULT_HASH);
	assert_int_equal(p.seq, 4);
	assert_non_null(strstr(p.message, "record 4: its contents were changed"));
}

static void test_rehashed_record_breaks_next_link(void **state)
{
	(void)state;
	struct audit_problem p;
	build_chain();
	chain[2].actor = "mallory";
	assert_int_equal(audit_hash(chain[1].hash, &chain[2], chain[2].hash), 0);
	assert_int_equal(check(chain, N, &p), 3);
	assert_int_equal(p.fault, AUDIT_FAULT_LINK);
	assert_int_equal(p.seq, 4);
}

static void test_deleted_record_found(void **state)
{
	(void)state;
	struct audit_problem p;
	build_chain();
	struct audit_record v[N - 1];
	memcpy(v, chain, 2 * sizeof *v);
	memcpy(v + 2, chain + 3, (N - 3) * sizeof *v);
	assert_int_equal(check(v, N - 1, &p), 2);
	assert_int_equal(p.fault, AUDIT_FAULT_MISSING);
	assert_int_equal(p.seq, 3); /* the one missing */
	assert_string_equal(p.message, "record 3: missing (the chain jumps from 2 to 4)");
	/* Two gone. */
	memcpy(v + 2, chain + 4, (N - 4) * sizeof *v);
	assert_int_equal(check(v, N - 2, &p), 2);
	assert_int_equal(p.seq, 3);
	assert_non_null(strstr(p.message, "up to 4 (the chain jumps from 2 to 5)"));
	/* The first record gone. */
	assert_int_equal(check(chain + 1, N - 1, &p), 0);
	assert_int_equal(p.fault, AUDIT_FAULT_MISSING);
	assert_int_equal(p.seq, 1);
}

static void test_inserted_record_found(void **state)
{
	(void)state;
	struct audit_problem p;
	build_chain();
	/* A record slipped in as 3 with a correct hash over its predecessor,
	 * the later ones renumbered: the old 3 (now 4) no longer links. */
	struct audit_record v[N + 1];
	memcpy(v, chain, 2 * sizeof *v);
	v[2] = rec(3, "{\"forged\":true}");
	memcpy(v[2].prev_hash, chain[1].hash, AUDIT_HASH_SIZE);
	assert_int_equal(audit_hash(chain[1].hash, &v[2], v[2].hash), 0);
	for (int i = 2; i < N; i++) {
		v[i + 1] = chain[i];
		v[i + 1].seq = i + 2;
	}
	assert_int_equal(check(v, N + 1, &p), 3);
	assert_int_equal(p.fault, AUDIT_FAULT_LINK);
	assert_int_equal(p.seq, 4);
	/* Repeated seq. */
	memcpy(v, chain, N * sizeof *v);
	v[3] = chain[2];
	assert_int_equal(check(v, N, &p), 3);
	assert_int_equal(p.fault, AUDIT_FAULT_SEQ);
}

static void test_partial_chain_and_invalid(void **state)
{
	(void)state;
	struct audit_problem p;
	build_chain();
	struct audit_chain c;
	audit_chain_init(&c, 4, chain[2].hash);
	for (int i = 3; i < N; i++)
		assert_int_equal(audit_chain_next(&c, &chain[i], &p), 0);
	assert_int_equal(c.next_seq, N + 1);
	assert_memory_equal(c.last, chain[N - 1].hash, AUDIT_HASH_SIZE);
	chain[0].host = "bad\nhost";
	assert_int_equal(check(chain, N, &p), 0);
	assert_int_equal(p.fault, AUDIT_FAULT_INVALID);
	assert_string_equal(audit_fault_name(AUDIT_FAULT_LINK), "link");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hash_is_documented_bytes),
	    cmocka_unit_test(test_hash_depends_on_every_field),
	    cmocka_unit_test(test_invalid_fields_refused),
	    cmocka_unit_test(test_whole_chain),
	    cmocka_unit_test(test_edited_record_found),
	    cmocka_unit_test(test_rehashed_record_breaks_next_link),
	    cmocka_unit_test(test_deleted_record_found),
	    cmocka_unit_test(test_inserted_record_found),
	    cmocka_unit_test(test_partial_chain_and_invalid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
