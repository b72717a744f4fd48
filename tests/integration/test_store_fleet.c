/* The fleet view's store queries (issue 14) against a real SQLite file:
 * store_host_query() filters (states, text, policy), sorts and pages in SQL
 * with a total that counts the matches, escapes the search text, refuses bad arguments before
 * touching the database; store_host_tally() counts every state in one
 * query. (test_hosts_query.sh runs the same through the API on SQLite and
 * PostgreSQL.) */
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

#define T0 1700000000

/* Host i of 1..12: trust by i % 3 (0 red, 1 unknown, 2 green), connection
 * by i % 4 (0 not_responding, 1 disconnected, else connected), attested at
 * T0 - i (never when unknown); names h01..h12, addresses 10.0.0.i:4433;
 * h07 is "web_%7" to test the escaping. */
static void add_fleet(struct store *s)
{
	for (int i = 1; i <= 12; i++) {
		char name[32], addr[32];
		snprintf(name, sizeof name, i == 7 ? "web_%%7" : "h%02d", i);
		snprintf(addr, sizeof addr, "10.0.0.%d:4433", i);
		struct store_host_new h = {.name = name, .address = addr, .interval_s = 60};
		int64_t id = 0;
		assert_int_equal(store_host_add(s, &h, T0, &id), 0);
		enum store_trust t = i % 3 == 0   ? STORE_TRUST_RED
		                     : i % 3 == 1 ? STORE_TRUST_UNKNOWN
		                                  : STORE_TRUST_GREEN;
		if (t != STORE_TRUST_UNKNOWN) {
			struct store_verdict v = {.host_id = id, .trust = t, .attested = true};
			assert_int_equal(store_host_set_trust(s, &v, NULL, "test", T0 - i, NULL),
			                 0);
		}
		enum store_conn k = i % 4 == 0   ? STORE_CONN_NOT_RESPONDING
		                    : i % 4 == 1 ? STORE_CONN_DISCONNECTED
		                                 : STORE_CONN_CONNECTED;
		assert_int_equal(store_host_set_connection(s, id, k, "test", NULL, T0, NULL), 0);
	}
}

static int setup(void **state)
{
	struct store_fixture *c = store_fixture_new("fleet");
	if (!c)
		return -1;
	add_fleet(c->s);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	store_fixture_free(*state);
	return 0;
}

/* The names of one page, space-separated, and the total. */
static void page(struct store *s, const struct store_host_query *q, uint32_t limit, uint64_t off,
                 char *out, size_t cap, int64_t *total)
{
	struct store_page pg = {.limit = limit, .offset = off};
	struct store_host_list *l = NULL;
	assert_int_equal(store_host_query(s, q, &pg, &l, total), 0);
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; i < l->n; i++)
		n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? " " : "", l->v[i].name);
	store_host_list_free(l);
}

static void test_filters_and_total(void **state)
{
	struct store_fixture *c = *state;
	char names[512];
	int64_t total = -1;
	page(c->s, NULL, 0, 0, names, sizeof names, &total);
	assert_int_equal(total, 12);
	assert_string_equal(names, "h01 h02 h03 h04 h05 h06 h08 h09 h10 h11 h12 web_%7");
	struct store_host_query q = {.by_trust = true, .trust = STORE_TRUST_RED};
	page(c->s, &q, 0, 0, names, sizeof names, &total);
	assert_int_equal(total, 4);
	assert_string_equal(names, "h03 h06 h09 h12");
	/* The filter applies before the page: page 2 of 2 red hosts. */
	page(c->s, &q, 2, 2, names, sizeof names, &total);
	assert_int_equal(total, 4);
	assert_string_equal(names, "h09 h12");
	q.by_conn = true;
	q.conn = STORE_CONN_NOT_RESPONDING;
	page(c->s, &q, 0, 0, names, sizeof names, &total);
	assert_int_equal(total, 1);
	assert_string_equal(names, "h12");
	/* The search: name or address, ASCII case folded, % and _ literal. */
	struct store_host_query t = {.text = "H1"};
	page(c->s, &t, 0, 0, names, sizeof names, &total);
	assert_string_equal(names, "h10 h11 h12");
	t.text = "10.0.0.7:";
	page(c->s, &t, 0, 0, names, sizeof names, &total);
	assert_string_equal(names, "web_%7");
	t.text = "_%";
	page(c->s, &t, 0, 0, names, sizeof names, &total);
	assert_string_equal(names, "web_%7");
	t.text = "h_1";
	page(c->s, &t, 0, 0, names, sizeof names, &total);
	assert_int_equal(total, 0);
	t.text = "%";
	page(c->s, &t, 0, 0, names, sizeof names, &total);
	assert_int_equal(total, 1);
	/* Past the end: an empty page, the same total. */
	page(c->s, NULL, 5, 100, names, sizeof names, &total);
	assert_string_equal(names, "");
	assert_int_equal(total, 12);
	/* total may be NULL. */
	page(c->s, NULL, 1, 0, names, sizeof names, NULL);
	assert_string_equal(names, "h01");
}

static void test_sorts(void **state)
{
	struct store_fixture *c = *state;
	char names[512];
	int64_t total;
	struct store_host_query q = {.sort = STORE_SORT_TRUST};
	/* red (h03 h06 h09 h12), then unknown, then green; within a trust
	 * state not_responding, disconnected, connected; then the name. */
	page(c->s, &q, 0, 0, names, sizeof names, &total);
	assert_string_equal(names, "h12 h09 h03 h06 h04 h01 h10 web_%7 h08 h05 h02 h11");
	q.desc = true;
	page(c->s, &q, 0, 0, names, sizeof names, &total);
	assert_string_equal(names, "h11 h02 h05 h08 web_%7 h10 h01 h04 h06 h03 h09 h12");
	q = (struct store_host_query){.sort = STORE_SORT_LAST_ATTESTED};
	page(c->s, &q, 4, 0, names, sizeof names, &total); /* never first (unknown) */
	assert_string_equal(names, "h01 h04 h10 web_%7");
	q.desc = true;
	page(c->s, &q, 3, 0, names, sizeof names, &total);
	assert_string_equal(names, "h02 h03 h05");
	q = (struct store_host_query){.sort = STORE_SORT_CONNECTION};
	page(c->s, &q, 3, 0, names, sizeof names, &total);
	assert_string_equal(names, "h12 h04 h08");
	q = (struct store_host_query){.sort = STORE_SORT_NAME, .desc = true};
	page(c->s, &q, 2, 0, names, sizeof names, &total);
	assert_string_equal(names, "web_%7 h12");
	q = (struct store_host_query){.sort = STORE_SORT_ADDRESS};
	page(c->s, &q, 3, 0, names, sizeof names, &total); /* "10.0.0.10:" < "10.0.0.1:" */
	assert_string_equal(names, "h10 h11 h12");
	/* Every sort pages exactly: 12 pages of one give the one page of 12. */
	for (int so = STORE_SORT_NAME; so <= STORE_SORT_ADDRESS; so++) {
		for (int d = 0; d < 2; d++) {
			q = (struct store_host_query){.sort = (enum store_host_sort)so, .desc = d};
			char all[512], one[64], joined[512] = "";
			size_t jl = 0;
			page(c->s, &q, 0, 0, all, sizeof all, &total);
			for (uint64_t i = 0; i < 12; i++) {
				page(c->s, &q, 1, i, one, sizeof one, &total);
				jl += (size_t)snprintf(joined + jl, sizeof joined - jl, "%s%s",
				                       i ? " " : "", one);
			}
			assert_string_equal(joined, all);
		}
	}
	enum store_host_sort k;
	assert_int_equal(store_host_sort_parse("last_attested", &k), 0);
	assert_int_equal(k, STORE_SORT_LAST_ATTESTED);
	assert_string_equal(store_host_sort_name(k), "last_attested");
	assert_int_equal(store_host_sort_parse("Name", &k), ATTEST_E_ARG);
	assert_int_equal(store_host_sort_parse(NULL, &k), ATTEST_E_ARG);
}

static void test_policy(void **state)
{
	struct store_fixture *c = *state;
	char names[512];
	int64_t total, p1 = 0, pd = 0;
	assert_int_equal(store_policy_add(c->s, "p1", "{}", false, T0, &p1), 0);
	assert_int_equal(store_policy_add(c->s, "base", "{}", true, T0, &pd), 0);
	struct store_host *h = NULL;
	assert_int_equal(store_host_get_by_name(c->s, "h02", &h), 0);
	assert_int_equal(store_host_set_policy(c->s, h->id, p1, T0), 0);
	store_host_free(h);
	assert_int_equal(store_host_get_by_name(c->s, "h05", &h), 0);
	assert_int_equal(store_host_set_policy(c->s, h->id, p1, T0), 0);
	store_host_free(h);
	assert_int_equal(store_host_get_by_name(c->s, "h12", &h), 0);
	assert_int_equal(store_host_set_policy(c->s, h->id, pd, T0), 0);
	store_host_free(h);
	struct store_host_query q = {.policy_id = p1};
	page(c->s, &q, 0, 0, names, sizeof names, &total);
	assert_int_equal(total, 2);
	assert_string_equal(names, "h02 h05");
	/* The default policy: assigned explicitly (h12) or not at all. */
	q = (struct store_host_query){
	    .policy_id = pd, .policy_default = true, .by_trust = true, .trust = STORE_TRUST_RED};
	page(c->s, &q, 0, 0, names, sizeof names, &total);
	assert_string_equal(names, "h03 h06 h09 h12");
	q.by_trust = false;
	page(c->s, &q, 0, 0, names, sizeof names, &total);
	assert_int_equal(total, 10);
	q.policy_default = false; /* the same policy, were it not the default */
	page(c->s, &q, 0, 0, names, sizeof names, &total);
	assert_string_equal(names, "h12");
}

static void test_refused(void **state)
{
	struct store_fixture *c = *state;
	struct store_page pg = {0};
	struct store_host_list *l = NULL;
	int64_t total = -7;
	struct store_host_query q = {.sort = (enum store_host_sort)99};
	assert_int_equal(store_host_query(c->s, &q, &pg, &l, &total), ATTEST_E_ARG);
	q = (struct store_host_query){.by_trust = true, .trust = (enum store_trust)7};
	assert_int_equal(store_host_query(c->s, &q, &pg, &l, &total), ATTEST_E_ARG);
	char long_text[STORE_QUERY_TEXT_MAX + 2];
	memset(long_text, 'x', sizeof long_text - 1);
	long_text[sizeof long_text - 1] = '\0';
	q = (struct store_host_query){.text = long_text};
	assert_int_equal(store_host_query(c->s, &q, &pg, &l, &total), ATTEST_E_LIMIT);
	long_text[STORE_QUERY_TEXT_MAX] = '\0'; /* exactly the cap: accepted */
	assert_int_equal(store_host_query(c->s, &q, &pg, &l, &total), 0);
	assert_int_equal(total, 0);
	store_host_list_free(l);
	l = NULL;
	total = -7;
	q.text = "a\tb";
	assert_int_equal(store_host_query(c->s, &q, &pg, &l, &total), ATTEST_E_ARG);
	assert_non_null(strstr(store_errmsg(c->s), "control character"));
	struct store_page big = {.limit = STORE_PAGE_MAX + 1};
	assert_int_equal(store_host_query(c->s, NULL, &big, &l, &total), ATTEST_E_LIMIT);
	assert_null(l);
	assert_int_equal(total, -7); /* out-parameters untouched on failure */
}

static void test_tally(void **state)
{
	struct store_fixture *c = *state;
	struct store_host_tally t;
	assert_int_equal(store_host_tally(c->s, &t), 0);
	assert_int_equal(t.total, 12);
	assert_int_equal(t.trust[STORE_TRUST_RED], 4);
	assert_int_equal(t.trust[STORE_TRUST_GREEN], 4);
	assert_int_equal(t.trust[STORE_TRUST_UNKNOWN], 4);
	assert_int_equal(t.conn[STORE_CONN_NOT_RESPONDING], 3);
	assert_int_equal(t.conn[STORE_CONN_DISCONNECTED], 3);
	assert_int_equal(t.conn[STORE_CONN_CONNECTED], 6);
	assert_int_equal(t.matrix[STORE_TRUST_RED][STORE_CONN_NOT_RESPONDING], 1); /* h12 */
	int64_t sum = 0;
	for (int i = 0; i < 3; i++)
		for (int k = 0; k < 3; k++)
			sum += t.matrix[i][k];
	assert_int_equal(sum, 12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_filters_and_total, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sorts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_policy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tally, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
