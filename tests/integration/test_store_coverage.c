/* The fleet watched as a whole, in the store (issue 16), against real
 * SQLite files: store_coverage_read() counts enabled hosts with a verdict
 * younger than max(validity, 3 x interval), grouped by the instance that
 * wrote it; store_fleet_alarm_set() raises and clears the fleet alarms once,
 * with one event each, whatever the number of callers (two handles on one
 * file stand for two instances); they list and acknowledge like host
 * alarms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "store.h"
#include "store_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOW   1800000000
#define FAR   4102444800 /* next due in 2100: nobody claims it again */
#define VALID 30         /* --evidence-validity */

static int setup(void **state)
{
	struct store_fixture *c = store_fixture_new("cov");
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

/* Add a host; when owner is set, that instance attests it at `at` (claim,
 * verdict fenced by the lease, release far in the future). */
static int64_t host(struct store *s, const char *name, int64_t interval, const char *owner,
                    int64_t at, enum store_trust t)
{
	struct store_host_new h = {
	    .name = name, .address = "10.0.0.1:4433", .interval_s = interval};
	int64_t id = 0;
	assert_int_equal(store_host_add(s, &h, NOW - 5000, &id), 0);
	struct store_host_list *l = NULL;
	assert_int_equal(
	    store_claim_due_hosts(s, owner ? owner : "nobody", at ? at : NOW - 5000, 30, 10, &l),
	    0);
	assert_int_equal(l->n, 1);
	assert_int_equal(l->v[0].id, id);
	store_host_list_free(l);
	if (!owner) { /* never attested: released without a verdict */
		assert_int_equal(store_lease_release(s, id, "nobody", FAR, 0, NOW - 5000), 0);
		return id;
	}
	struct store_verdict v = {.host_id = id, .trust = t, .attested = true};
	assert_int_equal(store_host_set_trust(s, &v, owner, "test", at, NULL), 0);
	assert_int_equal(store_lease_release(s, id, owner, FAR, 0, at), 0);
	return id;
}

static const struct store_coverage_group *group(const struct store_coverage *c, const char *inst)
{
	for (size_t i = 0; i < c->n; i++)
		if ((inst == NULL && c->v[i].instance == NULL) ||
		    (inst && c->v[i].instance && strcmp(c->v[i].instance, inst) == 0))
			return &c->v[i];
	return NULL;
}

static void test_coverage_counts(void **state)
{
	struct store_fixture *c = *state;
	struct store_coverage *cov = NULL;
	/* Empty fleet: nothing enabled, nothing covered, no group. */
	assert_int_equal(store_coverage_read(c->s, NOW, VALID, &cov), 0);
	assert_int_equal(cov->enabled, 0);
	assert_int_equal(cov->n, 0);
	store_coverage_free(cov);

	/* Interval 60: validity max(30, 180) = 180 s. */
	host(c->s, "fresh", 60, "v1", NOW - 10, STORE_TRUST_GREEN);
	host(c->s, "red", 60, "v1", NOW - 179, STORE_TRUST_RED); /* red is watched */
	host(c->s, "stale", 60, "v2", NOW - 181, STORE_TRUST_GREEN);
	host(c->s, "never", 60, NULL, 0, STORE_TRUST_GREEN);
	/* Interval 600: validity 1800 s, so 1000 s old is fresh. */
	host(c->s, "slow", 600, "v2", NOW - 1000, STORE_TRUST_GREEN);
	/* Disconnected (not enabled): outside coverage, newest verdict too. */
	int64_t off = host(c->s, "off", 60, "v1", NOW - 2, STORE_TRUST_GREEN);
	assert_int_equal(store_host_set_enabled(c->s, off, false, NOW), 0);

	assert_int_equal(store_coverage_read(c->s, NOW, VALID, &cov), 0);
	assert_int_equal(cov->enabled, 5);
	assert_int_equal(cov->covered, 3);
	assert_int_equal(cov->newest, NOW - 10);
	assert_int_equal(cov->n, 3);
	const struct store_coverage_group *g = group(cov, "v1");
	assert_non_null(g);
	assert_int_equal(g->enabled, 2);
	assert_int_equal(g->covered, 2);
	g = group(cov, "v2");
	assert_non_null(g);
	assert_int_equal(g->enabled, 2);
	assert_int_equal(g->covered, 1);
	assert_int_equal(g->newest, NOW - 181);
	g = group(cov, NULL);
	assert_non_null(g);
	assert_int_equal(g->enabled, 1);
	assert_int_equal(g->covered, 0);
	assert_int_equal(g->newest, 0);
	store_coverage_free(cov);

	/* A longer validity covers the stale one too. */
	assert_int_equal(store_coverage_read(c->s, NOW, 200, &cov), 0);
	assert_int_equal(cov->covered, 4);
	store_coverage_free(cov);
	store_coverage_free(NULL);
	assert_int_equal(store_coverage_read(c->s, NOW, 0, &cov), ATTEST_E_ARG);
}

static size_t fleet_events(struct store *s)
{
	struct store_event_filter f = {.kind = "alarm"};
	struct store_page pg = {.limit = 100};
	struct store_event_list *l = NULL;
	assert_int_equal(store_event_list(s, &f, &pg, &l), 0);
	size_t n = 0;
	for (size_t i = 0; i < l->n; i++)
		n += l->v[i].host_id == 0;
	store_event_list_free(l);
	return n;
}

static const char reasons[] = "[{\"code\":\"COVERAGE_LOW\",\"message\":\"coverage 50%\"}]";
static const char dm[] = "[{\"code\":\"NO_RECENT_VERDICTS\",\"message\":\"silence\"}]";

static void test_fleet_alarms_once(void **state)
{
	struct store_fixture *c = *state;
	struct store *other = NULL; /* a second instance on the same database */
	assert_int_equal(store_open(c->url, &other, NULL), 0);
	bool changed = false;
	unsigned mask = 99;
	assert_int_equal(store_fleet_alarms_open(c->s, &mask), 0);
	assert_int_equal(mask, 0);

	assert_int_equal(store_fleet_alarm_set(c->s, STORE_FLEET_COVERAGE, true, reasons,
	                                       "coverage low", NOW, &changed),
	                 0);
	assert_true(changed);
	assert_int_equal(store_fleet_alarm_set(other, STORE_FLEET_COVERAGE, true, reasons,
	                                       "coverage low", NOW + 1, &changed),
	                 0);
	assert_false(changed); /* already open: nothing written */
	assert_int_equal(store_fleet_alarm_set(other, STORE_FLEET_DEAD_MAN, true, dm, "silence",
	                                       NOW + 2, &changed),
	                 0);
	assert_true(changed);
	assert_int_equal(store_fleet_alarms_open(c->s, &mask), 0);
	assert_int_equal(mask, 3u);
	assert_int_equal(fleet_events(c->s), 2);

	/* A host alarm beside them: the indexes are per host and per kind. */
	int64_t h = host(c->s, "h", 60, "v1", NOW, STORE_TRUST_RED);
	struct store_alarm_filter f = {.open_only = true};
	struct store_page pg = {.limit = 10};
	struct store_alarm_list *al = NULL;
	assert_int_equal(store_alarm_list(c->s, &f, &pg, &al), 0);
	assert_int_equal(al->n, 3);
	int fleet = 0;
	for (size_t i = 0; i < al->n; i++) {
		if (al->v[i].host_id == h) {
			assert_string_equal(al->v[i].kind, "host");
			continue;
		}
		fleet++;
		assert_int_equal(al->v[i].host_id, 0);
		assert_null(al->v[i].host_name);
		assert_string_equal(al->v[i].summary, strcmp(al->v[i].kind, "coverage") == 0
		                                          ? "COVERAGE_LOW"
		                                          : "NO_RECENT_VERDICTS");
	}
	assert_int_equal(fleet, 2);
	int64_t cov_id = 0;
	for (size_t i = 0; i < al->n; i++)
		if (al->v[i].kind && strcmp(al->v[i].kind, "coverage") == 0)
			cov_id = al->v[i].id;
	store_alarm_list_free(al);
	/* A host filter lists no fleet alarm. */
	f.host_id = h;
	assert_int_equal(store_alarm_list(c->s, &f, &pg, &al), 0);
	assert_int_equal(al->n, 1);
	store_alarm_list_free(al);
	/* Acknowledged like any alarm. */
	assert_int_equal(store_alarm_ack(c->s, cov_id, "admin", NOW + 3), 0);
	struct store_alarm *a = NULL;
	assert_int_equal(store_alarm_get(c->s, cov_id, &a), 0);
	assert_string_equal(a->acked_by, "admin");
	store_alarm_free(a);

	/* Cleared once. */
	assert_int_equal(store_fleet_alarm_set(other, STORE_FLEET_COVERAGE, false, NULL,
	                                       "coverage back", NOW + 4, &changed),
	                 0);
	assert_true(changed);
	assert_int_equal(store_fleet_alarm_set(c->s, STORE_FLEET_COVERAGE, false, NULL,
	                                       "coverage back", NOW + 5, &changed),
	                 0);
	assert_false(changed);
	assert_int_equal(store_fleet_alarms_open(c->s, &mask), 0);
	assert_int_equal(mask, 1u << STORE_FLEET_DEAD_MAN);
	/* A new raise after the clear is a new alarm. */
	assert_int_equal(store_fleet_alarm_set(c->s, STORE_FLEET_COVERAGE, true, reasons,
	                                       "coverage low", NOW + 6, &changed),
	                 0);
	assert_true(changed);
	size_t n = fleet_events(c->s);
	assert_true(n >= 4); /* 2 raises, 1 clear, 1 raise (+ the ack's event) */
	store_close(other);
}

static void test_fleet_alarm_refused(void **state)
{
	struct store_fixture *c = *state;
	bool changed = true;
	/* No reason code, bad JSON, unknown kind: nothing written. */
	assert_int_equal(
	    store_fleet_alarm_set(c->s, STORE_FLEET_COVERAGE, true, "[]", "m", NOW, &changed),
	    ATTEST_E_ARG);
	assert_false(changed);
	assert_int_equal(
	    store_fleet_alarm_set(c->s, STORE_FLEET_COVERAGE, true, "[{", "m", NOW, NULL),
	    ATTEST_E_FORMAT);
	assert_int_equal(
	    store_fleet_alarm_set(c->s, (enum store_fleet_alarm)7, true, reasons, "m", NOW, NULL),
	    ATTEST_E_ARG);
	assert_int_equal(
	    store_fleet_alarm_set(c->s, STORE_FLEET_COVERAGE, false, NULL, NULL, NOW, NULL),
	    ATTEST_E_ARG);
	assert_null(store_fleet_alarm_name((enum store_fleet_alarm)2));
	unsigned mask = 9;
	assert_int_equal(store_fleet_alarms_open(c->s, &mask), 0);
	assert_int_equal(mask, 0);
	assert_int_equal(fleet_events(c->s), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_coverage_counts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fleet_alarms_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fleet_alarm_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
