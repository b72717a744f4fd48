/* The attestation loop's reads (verifier/store_loop.c) against a real
 * SQLite file, or the PostgreSQL database of ATTEST_STORE_URL (emptied
 * first): the policies' change counter moves with every change to a policy
 * (add, update, default, removal) and with nothing else; the catalog's
 * marker moves with an import or a removal; a policy's text by id and the
 * default's; the host's row as an attestation reads it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "store.h"
#include "store_catalog.h"
#include "store_loop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 1700000000

struct ctx {
	char dir[64];
	char url[STORE_URL_MAX + 1];
	struct store *s;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof *c);
	if (!c)
		return -1;
	snprintf(c->dir, sizeof c->dir, "/tmp/attest-store-loop-XXXXXX");
	if (!mkdtemp(c->dir)) {
		free(c);
		return -1;
	}
	snprintf(c->url, sizeof c->url, "sqlite:%s/verifier.db", c->dir);
	const char *env = getenv("ATTEST_STORE_URL");
	bool pg = env && strncmp(env, "postgres", 8) == 0;
	if (pg)
		snprintf(c->url, sizeof c->url, "%s", env);
	char *err = NULL;
	int rc = store_open(c->url, &c->s, &err);
	if (rc)
		fprintf(stderr, "store_open: %s (%s)\n", attest_strerror(rc), err ? err : "");
	free(err);
	if (rc) {
		free(c);
		return -1;
	}
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	store_close(c->s);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", c->dir);
	(void)!system(cmd);
	free(c);
	return 0;
}

static int64_t counter(struct store *s)
{
	struct store_loop_markers m;
	memset(&m, 0xff, sizeof m);
	assert_int_equal(store_loop_markers(s, &m), 0);
	return m.policies;
}

static void test_policy_counter(void **state)
{
	struct ctx *c = *state;
	struct store *s = c->s;
	int64_t g0 = counter(s), g, a = 0, b = 0;
	/* a host's changes are not the policies' */
	struct store_host_new hn = {
	    .name = "h1", .address = "127.0.0.1:1", .thumbprint = "SHA256:00", .interval_s = 60};
	int64_t hid = 0;
	assert_int_equal(store_host_add(s, &hn, T0, &hid), 0);
	assert_int_equal(counter(s), g0);
	assert_int_equal(store_policy_add(s, "pa", "{\"x\":1}", false, T0, &a), 0);
	assert_true((g = counter(s)) > g0);
	assert_int_equal(store_policy_add(s, "pb", "{\"x\":2}", false, T0, &b), 0);
	assert_true(counter(s) > g);
	g = counter(s);
	/* a refused change moves nothing */
	assert_int_equal(store_policy_add(s, "pa", "{}", false, T0, NULL), ATTEST_E_EXISTS);
	assert_int_equal(store_policy_update(s, 999999, "{}", T0), ATTEST_E_NOTFOUND);
	assert_int_equal(counter(s), g);
	assert_int_equal(store_policy_update(s, a, "{\"x\":3}", T0), 0);
	assert_true(counter(s) > g);
	g = counter(s);
	/* the same second, the same length: still seen */
	assert_int_equal(store_policy_update(s, a, "{\"x\":4}", T0), 0);
	assert_true(counter(s) > g);
	g = counter(s);
	assert_int_equal(store_policy_set_default(s, b, T0), 0);
	assert_true(counter(s) > g);
	g = counter(s);
	char *body = NULL;
	assert_int_equal(store_loop_policy(s, 0, &body), 0); /* the default: pb */
	assert_string_equal(body, "{\"x\":2}");
	free(body);
	assert_int_equal(store_loop_policy(s, a, &body), 0);
	assert_string_equal(body, "{\"x\":4}");
	free(body);
	assert_int_equal(store_loop_policy(s, 999999, &body), ATTEST_E_NOTFOUND);
	/* a host assigned to pa: its row says so; pa cannot go */
	assert_int_equal(store_host_set_policy(s, hid, a, T0), 0);
	assert_int_equal(counter(s), g);
	assert_int_not_equal(store_policy_remove(s, a), 0);
	assert_int_equal(counter(s), g);
	struct store_host *h = NULL;
	assert_int_equal(store_loop_host(s, hid, &h), 0);
	assert_int_equal(h->id, hid);
	assert_string_equal(h->name, "h1");
	assert_int_equal(h->policy_id, a);
	assert_true(h->enabled);
	assert_int_equal(h->interval_s, 60);
	assert_int_equal(h->reset_count, -1);
	assert_null(h->ak_name);
	assert_null(h->address); /* not an attestation's business */
	store_host_free(h);
	assert_int_equal(store_loop_host(s, hid + 1000, &h), ATTEST_E_NOTFOUND);
	assert_int_equal(store_host_set_policy(s, hid, 0, T0), 0);
	assert_int_equal(store_policy_remove(s, a), 0);
	assert_true(counter(s) > g);
}

static void test_catalog_marker(void **state)
{
	struct ctx *c = *state;
	struct store *s = c->s;
	struct store_loop_markers m0, m1, m2;
	assert_int_equal(store_loop_markers(s, &m0), 0);
	assert_int_equal(m0.catalog_count, 0);
	struct catalog_entry ce;
	memset(&ce, 0, sizeof ce);
	snprintf(ce.kind, sizeof ce.kind, "kernel");
	snprintf(ce.package, sizeof ce.package, "linux-image");
	snprintf(ce.version, sizeof ce.version, "1.0");
	snprintf(ce.path, sizeof ce.path, "/boot/vmlinuz");
	memset(ce.authenticode_sha256, 'a', 64);
	memset(ce.file_sha256, 'b', 64);
	int64_t id = 0;
	assert_int_equal(store_catalog_add(s, &ce, T0, &id), 0);
	assert_int_equal(store_loop_markers(s, &m1), 0);
	assert_int_equal(m1.catalog_count, 1);
	assert_int_equal(m1.catalog_max_id, id);
	assert_int_equal(m1.policies, m0.policies);
	assert_int_equal(store_catalog_remove(s, id), 0);
	assert_int_equal(store_catalog_add(s, &ce, T0, &id), 0);
	assert_int_equal(store_loop_markers(s, &m2), 0);
	assert_true(m2.catalog_max_id > m1.catalog_max_id);
}

int main(void)
{
	const char *env = getenv("ATTEST_STORE_URL");
	if (env && strncmp(env, "postgres", 8) == 0) {
		/* The PostgreSQL run is test_store_pg.sh's, on a database of its
		 * own; this program's tables would outlive it here. */
		printf("SKIP: ATTEST_STORE_URL is PostgreSQL (run through test_store_pg.sh)\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_policy_counter, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_catalog_marker, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
