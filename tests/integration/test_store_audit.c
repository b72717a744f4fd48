/* The audit chain in the store (store_audit.c) against a real SQLite file,
 * or the PostgreSQL database of ATTEST_STORE_URL (test_audit_pg.sh):
 * records appended with events and verdicts, event logs kept once per
 * digest, a work rolled back inside a group commit leaving no gap, and
 * processes appending at once (each its own connection) keeping one linear
 * chain that lib/audit.c checks whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "audit.h"
#include "err.h"
#include "hex.h"
#include "store.h"
#include "store_db.h"
#include "store_internal.h" /* the group commit calls, driven by hand */
#include "store_writer.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define T0    1700000000
#define NPROC 4
#define NEACH 40

static int setup(void **state)
{
	return store_db_setup(state, "audit");
}

static int teardown(void **state)
{
	return store_db_teardown(state);
}

static int64_t add_host(struct store *s, const char *name)
{
	struct store_host_new h = {.name = name,
	                           .address = "127.0.0.1:8443",
	                           .thumbprint = "SHA256:00aa",
	                           .interval_s = 60};
	int64_t id = 0;
	assert_int_equal(store_host_add(s, &h, T0, &id), 0);
	return id;
}

/* Read the whole chain a page at a time and check it; returns its length. */
static int64_t chain_whole(struct store *s)
{
	struct audit_chain ch;
	struct audit_problem p;
	audit_chain_init(&ch, 1, NULL);
	int64_t after = 0;
	for (;;) {
		struct store_audit_list *l = NULL;
		assert_int_equal(store_audit_list(s, after, 7, &l), 0);
		for (size_t i = 0; i < l->n; i++) {
			const struct store_audit *a = &l->v[i];
			struct audit_record r = {.seq = a->seq,
			                         .at = a->at,
			                         .kind = a->kind,
			                         .actor = a->actor,
			                         .host_id = a->host_id,
			                         .host = a->host_name,
			                         .body = a->body,
			                         .body_len = strlen(a->body)};
			size_t n;
			assert_int_equal(hex_decode(a->prev_hash, r.prev_hash, 32, &n), 0);
			assert_int_equal(hex_decode(a->hash, r.hash, 32, &n), 0);
			int rc = audit_chain_next(&ch, &r, &p);
			if (rc != 0)
				fprintf(stderr, "%s\n", p.message);
			assert_int_equal(rc, 0);
			after = a->seq;
		}
		size_t n = l->n;
		store_audit_list_free(l);
		if (n < 7)
			break;
	}
	int64_t head = 0;
	char hh[65], last[65];
	assert_int_equal(store_audit_head(s, &head, hh), 0);
	assert_int_equal(head, ch.next_seq - 1);
	hex_encode(ch.last, 32, last);
	assert_string_equal(hh, last);
	return ch.count;
}

static int64_t count_kind(struct store *s, const char *kind)
{
	struct store_audit_list *l = NULL;
	int64_t n = 0;
	assert_int_equal(store_audit_list(s, 0, STORE_AUDIT_PAGE_MAX, &l), 0);
	for (size_t i = 0; i < l->n; i++)
		n += strcmp(l->v[i].kind, kind) == 0;
	store_audit_list_free(l);
	return n;
}

static const uint8_t the_log[] = "not really an event log, but bytes all the same";
#define LOG_SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int verdict(struct store *s, int64_t host, enum store_trust t, const char *owner)
{
	struct store_audit_evidence ev = {.json = "{\"nonce\":\"00\"}",
	                                  .eventlog_sha256 = LOG_SHA,
	                                  .eventlog = the_log,
	                                  .eventlog_len = sizeof the_log};
	struct store_verdict v = {.host_id = host,
	                          .trust = t,
	                          .reasons_json = "[]",
	                          .attested = true,
	                          .duration_ms = 5,
	                          .evidence = &ev};
	return store_host_set_trust(s, &v, owner, "verifier", T0 + 1, NULL);
}

static void test_records_of_events_and_verdicts(void **state)
{
	struct store_db *c = *state;
	struct store *s = store_db_open(c);
	assert_int_equal(chain_whole(s), 0); /* empty: no head row yet */
	int64_t h = add_host(s, "a1");
	struct store_event_new e = {.host_id = h,
	                            .kind = "host",
	                            .actor = "admin",
	                            .message = "host a1 added",
	                            .details_json = "{\"x\":1}"};
	assert_int_equal(store_event_add(s, &e, T0, NULL), 0);
	assert_int_equal(verdict(s, h, STORE_TRUST_RED, NULL), 0);   /* verdict, trust, alarm */
	assert_int_equal(verdict(s, h, STORE_TRUST_GREEN, NULL), 0); /* verdict, trust, cleared */
	assert_int_equal(chain_whole(s), 7);
	assert_int_equal(count_kind(s, "verdict"), 2);
	assert_int_equal(count_kind(s, "alarm"), 2);
	/* The log is kept once, whatever the number of verdicts naming it. */
	uint8_t *log = NULL;
	size_t len = 0;
	assert_int_equal(store_audit_eventlog(s, LOG_SHA, &log, &len), 0);
	assert_int_equal(len, sizeof the_log);
	assert_memory_equal(log, the_log, len);
	free(log);
	assert_int_equal(store_audit_eventlog(s, "ff" LOG_SHA, &log, &len), ATTEST_E_NOTFOUND);
	/* The verdict's body carries the evidence as given. */
	struct store_audit_list *l = NULL;
	assert_int_equal(store_audit_list(s, 0, 100, &l), 0);
	bool seen = false;
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].kind, "verdict") == 0) {
			assert_non_null(strstr(l->v[i].body, "\"evidence\":{\"nonce\":\"00\"}"));
			assert_string_equal(l->v[i].host_name, "a1");
			seen = true;
		}
	assert_true(seen);
	store_audit_list_free(l);
	/* A public append, and bad input refused with nothing written. */
	assert_int_equal(store_audit_append(s, "coverage", "verifier", 0, "{\"share\":0.5}", T0),
	                 0);
	assert_int_equal(store_audit_append(s, "coverage", "verifier", 0, "[1]", T0),
	                 ATTEST_E_FORMAT);
	assert_int_equal(store_audit_append(s, "a\nb", "verifier", 0, "{}", T0), ATTEST_E_ARG);
	assert_int_equal(chain_whole(s), 8);
	/* A fenced verdict (no lease) writes nothing, its record neither. */
	assert_int_equal(verdict(s, h, STORE_TRUST_RED, "other"), ATTEST_E_STATE);
	assert_int_equal(chain_whole(s), 8);
	/* Records outlive their host. */
	assert_int_equal(store_host_remove(s, h), 0);
	assert_int_equal(chain_whole(s), 8);
	store_close(s);
}

/* Writer works: a verdict, then a work that appends and fails (undone
 * alone), then a verdict: two verdict records, no gap. */
static int w_ok(struct store *s, void *arg)
{
	return verdict(s, *(int64_t *)arg, STORE_TRUST_RED, NULL);
}
static int w_fail(struct store *s, void *arg)
{
	(void)arg;
	int rc = store_audit_append(s, "test", "verifier", 0, "{\"undone\":true}", T0);
	return rc < 0 ? rc : ATTEST_E_STATE;
}
static int w_green(struct store *s, void *arg)
{
	return verdict(s, *(int64_t *)arg, STORE_TRUST_GREEN, NULL);
}
static int delivered;
static void w_done(void *arg, int rc, const char *msg)
{
	(void)arg;
	(void)rc;
	(void)msg;
	delivered++;
}

static void test_group_rollback_leaves_no_gap(void **state)
{
	struct store_db *c = *state;
	struct store *s = store_db_open(c);
	int64_t h = add_host(s, "g1");
	struct store_writer *w = NULL;
	char *err = NULL;
	assert_int_equal(store_writer_open(c->url, 0, &w, &err), 0);
	delivered = 0;
	assert_int_equal(store_writer_submit(w, w_ok, w_done, &h), 0);
	assert_int_equal(store_writer_submit(w, w_fail, w_done, NULL), 0);
	assert_int_equal(store_writer_submit(w, w_green, w_done, &h), 0);
	for (int i = 0; i < 500 && delivered < 3; i++) {
		struct pollfd p = {.fd = store_writer_fd(w), .events = POLLIN};
		(void)poll(&p, 1, 20);
		store_writer_deliver(w);
	}
	assert_int_equal(delivered, 3);
	store_writer_close(w);
	assert_int_equal(count_kind(s, "test"), 0);
	assert_int_equal(count_kind(s, "verdict"), 2);
	assert_int_equal(chain_whole(s), 6); /* 2 verdicts, 2 trust, raised, cleared */
	store_close(s);
}

/* One group driven by hand: the head the group holds in memory is put back
 * by each savepoint rolled back (a work undone whole, a nested store
 * transaction rolled back inside a work that stays), written once at the
 * commit, and forgotten with a group rolled back whole. */
static int append(struct store *s, const char *kind)
{
	return store_audit_append(s, kind, "verifier", 0, "{}", T0);
}

static void test_group_head_follows_savepoints(void **state)
{
	struct store_db *c = *state;
	struct store *s = store_db_open(c);
	int64_t h = add_host(s, "s1"); /* one record: the head row exists */
	assert_int_equal(store_batch_begin(s), 0);
	/* A work kept. */
	assert_int_equal(store_batch_mark(s), 0);
	assert_int_equal(append(s, "kept"), 0);
	assert_int_equal(store_batch_keep(s), 0);
	/* A work undone after two appends. */
	assert_int_equal(store_batch_mark(s), 0);
	assert_int_equal(append(s, "undone"), 0);
	assert_int_equal(verdict(s, h, STORE_TRUST_RED, NULL), 0);
	store_batch_undo(s);
	/* A work kept whose second store transaction is rolled back, the
	 * third nested two deep. */
	assert_int_equal(store_batch_mark(s), 0);
	assert_int_equal(store_tx_begin(s, true), 0);
	assert_int_equal(append(s, "kept"), 0);
	assert_int_equal(store_tx_commit(s), 0);
	assert_int_equal(store_tx_begin(s, true), 0);
	assert_int_equal(append(s, "undone"), 0);
	store_tx_rollback(s);
	assert_int_equal(store_tx_begin(s, true), 0);
	assert_int_equal(store_tx_begin(s, true), 0);
	assert_int_equal(append(s, "undone"), 0);
	store_tx_rollback(s);
	assert_int_equal(append(s, "kept"), 0);
	assert_int_equal(store_tx_commit(s), 0);
	assert_int_equal(verdict(s, h, STORE_TRUST_GREEN, NULL), 0);
	assert_int_equal(store_batch_keep(s), 0);
	assert_int_equal(store_batch_commit(s), 0);
	assert_int_equal(count_kind(s, "undone"), 0);
	assert_int_equal(count_kind(s, "kept"), 3);
	assert_int_equal(count_kind(s, "verdict"), 1);
	int64_t n = chain_whole(s); /* the head row is the last record */
	/* A group rolled back whole moves nothing; the next one goes on. */
	assert_int_equal(store_batch_begin(s), 0);
	assert_int_equal(append(s, "undone"), 0);
	store_batch_rollback(s);
	assert_int_equal(chain_whole(s), n);
	assert_int_equal(store_batch_begin(s), 0);
	assert_int_equal(append(s, "kept"), 0);
	assert_int_equal(store_batch_commit(s), 0);
	assert_int_equal(chain_whole(s), n + 1);
	assert_int_equal(count_kind(s, "undone"), 0);
	store_close(s);
}

/* NPROC processes, each with its own connection and host, append verdicts
 * and records at once; one chain, whole, every record there. */
static void test_concurrent_appends(void **state)
{
	struct store_db *c = *state;
	struct store *s = store_db_open(c);
	int64_t hosts[NPROC];
	for (int i = 0; i < NPROC; i++) {
		char n[16];
		snprintf(n, sizeof n, "c%d", i);
		hosts[i] = add_host(s, n);
	}
	int go[2];
	assert_int_equal(pipe(go), 0);
	pid_t pids[NPROC];
	for (int i = 0; i < NPROC; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			close(go[1]);
			struct store *cs = NULL;
			char *err = NULL;
			if (store_open(c->url, &cs, &err) != 0)
				_exit(10);
			char b;
			(void)!read(go[0], &b, 1); /* the barrier: all start together */
			for (int k = 0; k < NEACH; k++) {
				int rc = verdict(cs, hosts[i],
				                 k % 2 ? STORE_TRUST_GREEN : STORE_TRUST_RED, NULL);
				if (rc == 0)
					rc = store_audit_append(cs, "test", "verifier", hosts[i],
					                        "{\"k\":1}", T0);
				if (rc != 0) {
					fprintf(stderr, "child %d: %s\n", i, store_errmsg(cs));
					_exit(11);
				}
			}
			store_close(cs);
			_exit(0);
		}
	}
	close(go[0]);
	close(go[1]); /* EOF releases every child at once */
	for (int i = 0; i < NPROC; i++) {
		int st = 0;
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	/* Per process: NEACH verdicts, NEACH tests, NEACH trust changes, and
	 * NEACH / 2 alarms raised and cleared each. */
	assert_int_equal(count_kind(s, "test"), NPROC * NEACH);
	assert_int_equal(chain_whole(s), NPROC * (4 * NEACH));
	store_close(s);
}

int main(void)
{
	if (store_db_unsupported())
		return 77; /* skipped */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_records_of_events_and_verdicts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group_rollback_leaves_no_gap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group_head_follows_savepoints, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_appends, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
