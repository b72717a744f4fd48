/* The notification outbox (store_notify.h) against a real SQLite file:
 * targets added, refused and removed; store_outbox_enqueue writes one row per
 * subscribed target with the key, kind and time added to the document, and
 * nothing when the transaction around it rolls back; trust changes, alarms
 * and host changes enqueue themselves; claims lease rows to one owner only;
 * outcomes: delivered (deleted), retried with a doubling wait, dead after
 * the budget or at once when permanent, refused for a lease not held. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "store.h"
#include "store_fixture.h"
#include "store_internal.h"
#include "store_notify.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 1700000000

static int setup(void **state)
{
	struct store_fixture *c = store_fixture_new("notify");
	if (!c)
		return -1;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	store_fixture_free(*state);
	return 0;
}

static void add_target(struct store *s, const char *name, const char *events, int64_t attempts)
{
	struct store_notify_new t = {.name = name,
	                             .url = "https://127.0.0.1:9/x",
	                             .events = events,
	                             .secret = (const uint8_t *)"k",
	                             .secret_len = 1,
	                             .max_attempts = attempts};
	assert_int_equal(store_notify_add(s, &t, T0, NULL), 0);
}

static int64_t count(struct store *s, const char *sql)
{
	int64_t n = -1;
	assert_int_equal(store_query_int(s, sql, NULL, 0, &n), 0);
	return n;
}

static void test_targets(void **state)
{
	struct store_fixture *c = *state;
	struct store_notify_new t = {.name = "a", .url = "https://x/", .events = "alarm,bogus"};
	assert_int_equal(store_notify_add(c->s, &t, T0, NULL), ATTEST_E_ARG);
	t.events = "alarm,alarm";
	assert_int_equal(store_notify_add(c->s, &t, T0, NULL), ATTEST_E_ARG);
	t.events = "";
	assert_int_equal(store_notify_add(c->s, &t, T0, NULL), ATTEST_E_ARG);
	t.events = NULL;
	t.max_attempts = 101;
	assert_int_equal(store_notify_add(c->s, &t, T0, NULL), ATTEST_E_ARG);
	assert_int_equal(count(c->s, "SELECT COUNT(*) FROM notify_targets"), 0);
	add_target(c->s, "a", NULL, 0);
	t.max_attempts = 0;
	assert_int_equal(store_notify_add(c->s, &t, T0, NULL), ATTEST_E_EXISTS);
	struct store_notify_target *g = NULL;
	assert_int_equal(store_notify_get(c->s, "a", &g), 0);
	assert_string_equal(g->events, "alarm,trust,host,coverage");
	assert_true(g->has_secret);
	assert_int_equal(g->max_attempts, STORE_NOTIFY_ATTEMPTS_DEF);
	store_notify_target_free(g);
	assert_int_equal(store_notify_remove(c->s, "a"), 0);
	assert_int_equal(store_notify_remove(c->s, "a"), ATTEST_E_NOTFOUND);
	assert_int_equal(store_notify_get(c->s, "a", &g), ATTEST_E_NOTFOUND);
}

static void test_enqueue(void **state)
{
	struct store_fixture *c = *state;
	/* No target: nothing written, no error. */
	assert_int_equal(store_outbox_enqueue(c->s, "alarm", "{}", T0), 0);
	add_target(c->s, "all", NULL, 0);
	add_target(c->s, "alarms", "alarm", 0);
	add_target(c->s, "cov", "coverage,host", 0);
	assert_int_equal(store_outbox_enqueue(c->s, "bogus", "{}", T0), ATTEST_E_ARG);
	assert_int_equal(store_outbox_enqueue(c->s, "alarm", "[1]", T0), ATTEST_E_ARG);
	assert_int_equal(store_outbox_enqueue(c->s, "alarm", "{\"x\":1}", T0), 0);
	assert_int_equal(count(c->s, "SELECT COUNT(*) FROM notify_outbox"), 2);
	assert_int_equal(count(c->s, "SELECT COUNT(DISTINCT idem_key) FROM notify_outbox"), 1);
	assert_int_equal(store_outbox_enqueue(c->s, "coverage", "{\"share\":0.5}", T0), 0);
	assert_int_equal(count(c->s, "SELECT COUNT(*) FROM notify_outbox WHERE kind = 'coverage'"),
	                 2);
	/* The body: the document plus key, kind and time. */
	struct store_rows *rows = NULL;
	assert_int_equal(
	    store_query(c->s,
	                "SELECT body, idem_key FROM notify_outbox WHERE kind = 'alarm' "
	                "LIMIT 1",
	                NULL, 0, 1, &rows),
	    0);
	json_t *j = json_loads((const char *)rows->cells[0].p, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "alarm");
	assert_string_equal(json_string_value(json_object_get(j, "idempotency_key")),
	                    (const char *)rows->cells[1].p);
	assert_int_equal(json_integer_value(json_object_get(j, "at")), T0);
	assert_int_equal(json_integer_value(json_object_get(j, "x")), 1);
	json_decref(j);
	store_rows_free(rows);
	/* Rolled back with the caller's transaction. */
	int64_t before = count(c->s, "SELECT COUNT(*) FROM notify_outbox");
	assert_int_equal(store_tx_begin(c->s, true), 0);
	assert_int_equal(store_outbox_enqueue(c->s, "alarm", "{}", T0), 0);
	store_tx_rollback(c->s);
	assert_int_equal(count(c->s, "SELECT COUNT(*) FROM notify_outbox"), before);
}

static void test_events_enqueue(void **state)
{
	struct store_fixture *c = *state;
	add_target(c->s, "t", NULL, 0);
	struct store_host_new h = {.name = "web-1", .address = "10.0.0.1:4433", .interval_s = 60};
	int64_t id = 0;
	assert_int_equal(store_host_add(c->s, &h, T0, &id), 0);
	assert_int_equal(count(c->s, "SELECT COUNT(*) FROM notify_outbox WHERE kind = 'host'"), 1);
	struct store_verdict v = {.host_id = id,
	                          .trust = STORE_TRUST_RED,
	                          .attested = true,
	                          .reasons_json = "[{\"code\":\"SECURE_BOOT_DISABLED\"}]"};
	assert_int_equal(store_host_set_trust(c->s, &v, NULL, "test", T0 + 1, NULL), 0);
	assert_int_equal(count(c->s, "SELECT COUNT(*) FROM notify_outbox WHERE kind = 'trust'"), 1);
	assert_int_equal(count(c->s, "SELECT COUNT(*) FROM notify_outbox WHERE kind = 'alarm'"), 1);
	/* Red again: no change, nothing more. */
	assert_int_equal(store_host_set_trust(c->s, &v, NULL, "test", T0 + 2, NULL), 0);
	assert_int_equal(count(c->s, "SELECT COUNT(*) FROM notify_outbox"), 3);
	v.trust = STORE_TRUST_GREEN;
	v.reasons_json = "[]";
	v.evidence_expires = T0 + 10;
	assert_int_equal(store_host_set_trust(c->s, &v, NULL, "test", T0 + 3, NULL), 0);
	assert_int_equal(count(c->s, "SELECT COUNT(*) FROM notify_outbox WHERE body LIKE "
	                             "'%alarm cleared%'"),
	                 1);
	/* Evidence expiry is a trust change too. */
	int64_t n = 0;
	assert_int_equal(store_expire_evidence(c->s, T0 + 20, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(count(c->s, "SELECT COUNT(*) FROM notify_outbox WHERE kind = 'trust' AND "
	                             "body LIKE '%\"trust\":\"unknown\"%'"),
	                 1);
	assert_int_equal(store_host_remove(c->s, id), 0);
	assert_int_equal(count(c->s, "SELECT COUNT(*) FROM notify_outbox WHERE body LIKE "
	                             "'%host removed%' AND body LIKE '%web-1%'"),
	                 1);
}

static void test_claim_and_outcomes(void **state)
{
	struct store_fixture *c = *state;
	add_target(c->s, "t", "alarm", 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(store_outbox_enqueue(c->s, "alarm", "{}", T0), 0);
	bool due = false;
	assert_int_equal(store_outbox_due(c->s, T0, &due), 0);
	assert_true(due);
	struct store_delivery_list *a = NULL, *b = NULL;
	assert_int_equal(store_outbox_claim(c->s, "v1", T0, 30, 2, &a), 0);
	assert_int_equal(a->n, 2);
	assert_non_null(a->v[0].secret);
	assert_int_equal(a->v[0].secret_len, 1);
	assert_int_equal(a->v[0].max_attempts, 3);
	/* Another owner gets only the row left; then nothing. */
	assert_int_equal(store_outbox_claim(c->s, "v2", T0, 30, 10, &b), 0);
	assert_int_equal(b->n, 1);
	store_delivery_list_free(b);
	assert_int_equal(store_outbox_claim(c->s, "v2", T0, 30, 10, &b), 0);
	assert_int_equal(b->n, 0);
	store_delivery_list_free(b);
	assert_int_equal(store_outbox_due(c->s, T0, &due), 0);
	assert_false(due);
	/* An outcome from an owner that does not hold the lease is refused. */
	bool dead = false;
	assert_int_equal(store_outbox_result(c->s, a->v[0].id, "v2", true, false, NULL, T0, &dead),
	                 ATTEST_E_STATE);
	/* Delivered: the row goes. */
	assert_int_equal(store_outbox_result(c->s, a->v[0].id, "v1", true, false, NULL, T0, &dead),
	                 0);
	assert_false(dead);
	/* Failed: retried 2 s later, then 4 s, then dead (budget 3). */
	int64_t id = a->v[1].id;
	assert_int_equal(store_outbox_result(c->s, id, "v1", false, false, "HTTP 503", T0, &dead),
	                 0);
	assert_false(dead);
	assert_int_equal(count(c->s, "SELECT next_at FROM notify_outbox WHERE attempts = 1"),
	                 T0 + 2);
	store_delivery_list_free(a);
	/* Leases expire: v1 died, v3 takes its row over. */
	assert_int_equal(store_outbox_claim(c->s, "v3", T0 + 31, 30, 10, &a), 0);
	assert_int_equal(a->n, 2); /* the retried one (due at T0+2) and v2's expired one */
	for (size_t i = 0; i < a->n; i++) {
		bool permanent = a->v[i].id != id;
		assert_int_equal(store_outbox_result(c->s, a->v[i].id, "v3", false, permanent,
		                                     "HTTP 400", T0 + 31, &dead),
		                 0);
		assert_int_equal(dead, permanent); /* a 4xx is dead at once */
	}
	store_delivery_list_free(a);
	assert_int_equal(count(c->s, "SELECT next_at FROM notify_outbox WHERE attempts = 2"),
	                 T0 + 31 + 4);
	assert_int_equal(store_outbox_claim(c->s, "v3", T0 + 40, 30, 10, &a), 0);
	assert_int_equal(a->n, 1);
	assert_int_equal(
	    store_outbox_result(c->s, a->v[0].id, "v3", false, false, "timeout", T0 + 40, &dead),
	    0);
	assert_true(dead);
	store_delivery_list_free(a);
	int64_t pending = -1, ndead = -1;
	assert_int_equal(store_outbox_depth(c->s, &pending, &ndead), 0);
	assert_int_equal(pending, 0);
	assert_int_equal(ndead, 2);
	struct store_notify_target *t = NULL;
	assert_int_equal(store_notify_get(c->s, "t", &t), 0);
	assert_int_equal(t->delivered, 1);
	assert_int_equal(t->failed, 4);
	assert_int_equal(t->dead, 2);
	assert_int_equal(t->ndead, 2);
	assert_string_equal(t->deadv[0].last_error, "timeout");
	assert_int_equal(t->deadv[0].attempts, 3);
	store_notify_target_free(t);
	/* Release: an owner's rows become claimable at once. */
	assert_int_equal(store_outbox_enqueue(c->s, "alarm", "{}", T0 + 50), 0);
	assert_int_equal(store_outbox_claim(c->s, "v4", T0 + 50, 300, 10, &a), 0);
	assert_int_equal(a->n, 1);
	store_delivery_list_free(a);
	assert_int_equal(store_outbox_release(c->s, "v4"), 0);
	assert_int_equal(store_outbox_due(c->s, T0 + 50, &due), 0);
	assert_true(due);
	/* Removing the target removes its rows, dead letters included. */
	assert_int_equal(store_notify_remove(c->s, "t"), 0);
	assert_int_equal(count(c->s, "SELECT COUNT(*) FROM notify_outbox"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_targets, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_enqueue, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_events_enqueue, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_claim_and_outcomes, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
