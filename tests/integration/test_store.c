/* The verifier's store against real SQLite files in a temporary directory:
 * migrations, durability across reopen and kill -9, unique keys, single-use
 * nonces, alarms raised once under races between connections, AK
 * retirement, leases shared by several connections. Concurrency tests fork
 * processes that open their own connection to the same file and start
 * together on a pipe barrier.
 *
 * With ATTEST_STORE_URL=postgresql://... in the environment (set by
 * test_store_pg.sh, which starts a throwaway server) the same tests run
 * against that PostgreSQL database instead, emptied before each test; the
 * few SQLite-only checks (file mode, WAL, integrity_check) are replaced by
 * PostgreSQL ones (connection loss and reconnect, SQLite -> PostgreSQL copy). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "store.h"
#include "store_catalog.h"
#include "store_copy.h"
#include "store_db.h"
#include "store_writer.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef ATTEST_HAVE_LIBPQ
#include <libpq-fe.h>
#endif

#define T0    1700000000 /* "now" in these tests */
#define NPROC 4          /* concurrent connections in the race tests */

#ifdef ATTEST_HAVE_LIBPQ
static void pg_quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* The test's own connection (not the store's driver) to check the rows. */
static PGconn *pg_connect(const struct store_db *c)
{
	PGconn *db = PQconnectdb(c->url);
	if (PQstatus(db) != CONNECTION_OK)
		fprintf(stderr, "%s: %s", c->url, PQerrorMessage(db));
	assert_int_equal(PQstatus(db), CONNECTION_OK);
	PQsetNoticeProcessor(db, pg_quiet, NULL);
	return db;
}

static void pg_run(const struct store_db *c, const char *sql, char *out, size_t cap)
{
	PGconn *db = pg_connect(c);
	PGresult *res = PQexec(db, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
		fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(res));
	assert_true(PQresultStatus(res) == PGRES_TUPLES_OK ||
	            PQresultStatus(res) == PGRES_COMMAND_OK);
	if (out) {
		assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
		assert_true(PQntuples(res) >= 1);
		snprintf(out, cap, "%s", PQgetvalue(res, 0, 0));
	}
	PQclear(res);
	PQfinish(db);
}
#endif

/* Each test starts from an empty database (store_db.h). */
static int setup(void **state)
{
	return store_db_setup(state, "store");
}

static int teardown(void **state)
{
	return store_db_teardown(state);
}

static int64_t add_host(struct store *s, const char *name, int64_t now)
{
	struct store_host_new h = {.name = name,
	                           .address = "127.0.0.1:8443",
	                           .thumbprint = "SHA256:00aa",
	                           .interval_s = 60};
	int64_t id = 0;
	int rc = store_host_add(s, &h, now, &id);
	if (rc)
		fprintf(stderr, "host_add %s: %s (%s)\n", name, attest_strerror(rc),
		        store_errmsg(s));
	assert_int_equal(rc, 0);
	assert_true(id > 0);
	return id;
}

/* Run one SQL query directly (test's own connection) returning one text or
 * integer value as text. */
static void sql_text(const struct store_db *c, const char *sql, char *out, size_t cap)
{
#ifdef ATTEST_HAVE_LIBPQ
	if (c->pg) {
		pg_run(c, sql, out, cap);
		return;
	}
#endif
	const char *path = c->path;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static int64_t sql_int(const struct store_db *c, const char *sql)
{
	char buf[64];
	sql_text(c, sql, buf, sizeof(buf));
	return strtoll(buf, NULL, 10);
}

static void sql_exec(const struct store_db *c, const char *sql)
{
#ifdef ATTEST_HAVE_LIBPQ
	if (c->pg) {
		pg_run(c, sql, NULL, 0);
		return;
	}
#endif
	const char *path = c->path;
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* ------------------------------------------------------------------ */
/* Forked workers: each opens its own connection, waits on the barrier,
 * runs fn, writes its int64 results to the pipe and exits. */

typedef void (*worker_fn)(struct store *s, int idx, void *arg, int out_fd);

static void put64(int fd, int64_t v)
{
	ssize_t n = write(fd, &v, sizeof(v));
	if (n != (ssize_t)sizeof(v))
		_exit(3);
}

/* Start n workers; returns every int64 they wrote (caller frees). */
static int64_t *run_workers(const struct store_db *c, int n, worker_fn fn, void *arg,
                            size_t *ret_count)
{
	int barrier[2], results[2];
	pid_t pids[NPROC];
	assert_true(n <= NPROC);
	assert_int_equal(pipe(barrier), 0);
	assert_int_equal(pipe(results), 0);
	for (int i = 0; i < n; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct store *s = NULL;
			char b;
			close(barrier[1]);
			close(results[0]);
			if (store_open(c->url, &s, NULL) != 0)
				_exit(2);
			/* Wait until the parent releases everyone at once. */
			while (read(barrier[0], &b, 1) < 0 && errno == EINTR)
				;
			fn(s, i, arg, results[1]);
			store_close(s);
			_exit(0);
		}
	}
	close(barrier[0]);
	close(results[1]);
	usleep(100 * 1000); /* let every worker open its connection */
	close(barrier[1]);  /* go */

	size_t cap = 1024, count = 0;
	int64_t *vals = malloc(cap * sizeof(*vals));
	assert_non_null(vals);
	int64_t v;
	while (read(results[0], &v, sizeof(v)) == (ssize_t)sizeof(v)) {
		if (count == cap) {
			cap *= 2;
			vals = realloc(vals, cap * sizeof(*vals));
			assert_non_null(vals);
		}
		vals[count++] = v;
	}
	close(results[0]);
	for (int i = 0; i < n; i++) {
		int st = 0;
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	*ret_count = count;
	return vals;
}

/* ------------------------------------------------------------------ */

static void test_migrate_from_empty(void **state)
{
	struct store_db *c = *state;
	struct store *s = store_db_open(c);
	int v = 0;
	assert_int_equal(store_schema_version(s, &v), 0);
	assert_int_equal(v, store_schema_latest());
	assert_string_equal(store_backend_name(s), c->pg ? "postgresql" : "sqlite");
	store_close(s);

	if (c->pg) {
		/* Ids are 64-bit identities, blobs BYTEA. */
		assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM information_schema.columns "
		                            "WHERE table_name = 'hosts' AND column_name = 'id' "
		                            "AND data_type = 'bigint' AND is_identity = 'YES'"),
		                 1);
		assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM information_schema.columns "
		                            "WHERE table_name = 'nonces' AND column_name = 'value' "
		                            "AND data_type = 'bytea'"),
		                 1);
	} else {
		/* Private file, WAL mode. */
		struct stat st;
		assert_int_equal(stat(c->path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
		char mode[16];
		sql_text(c, "PRAGMA journal_mode", mode, sizeof(mode));
		assert_string_equal(mode, "wal");
	}
	/* One row per migration, even after reopening. */
	s = store_db_open(c);
	store_close(s);
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM schema_version"), store_schema_latest());

	/* A database written by a newer program is refused, untouched. */
	sql_exec(c, "INSERT INTO schema_version VALUES (999, 'future', 0)");
	char *err = NULL;
	assert_int_equal(store_open(c->url, &s, &err), ATTEST_E_UNSUPPORTED);
	assert_non_null(err);
	assert_non_null(strstr(err, "newer"));
	free(err);
}

static void test_bad_urls(void **state)
{
	(void)state;
	struct store *s = NULL;
	char *err = NULL;
	assert_int_equal(store_open("mysql://x", &s, &err), ATTEST_E_ARG);
	free(err);
	err = NULL;
	assert_int_equal(store_open("sqlite:", &s, NULL), ATTEST_E_ARG);
	int rc = store_open("postgresql://127.0.0.1:1/none", &s, &err);
	/* Without libpq built in: unsupported; with it: cannot connect. */
	assert_true(rc == ATTEST_E_UNSUPPORTED || rc == ATTEST_E_IO);
	free(err);
	assert_int_equal(store_open("sqlite:/nonexistent-dir/x.db", &s, NULL), ATTEST_E_IO);
	assert_null(s);
}

static void test_reopen_keeps_everything(void **state)
{
	struct store_db *c = *state;
	struct store *s = store_db_open(c);
	int64_t pid = 0, hid, tid = 0, cid = 0;
	const uint8_t ak[34] = {0x00, 0x0b, 1, 2, 3};
	const uint8_t akpub[] = {0xde, 0xad, 0xbe, 0xef};
	const uint8_t nonce[32] = {7};
	const uint8_t der[] = {0x30, 0x03, 0x02, 0x01, 0x01};
	uint8_t hash[STORE_TOKEN_HASH_SIZE];

	assert_int_equal(store_policy_add(s, "default", "{\"secure_boot\":true}", false, T0, &pid),
	                 0);
	hid = add_host(s, "web-1", T0);
	assert_int_equal(store_host_set_policy(s, hid, pid, T0), 0);
	struct store_identity ident = {.tpm_json =
	                                   "{\"manufacturer\":\"IBM\",\"banks\":[\"sha256\"]}",
	                               .ek_public = akpub,
	                               .ek_public_len = sizeof(akpub),
	                               .ek_certified = true};
	assert_int_equal(store_host_set_identity(s, hid, &ident, T0), 0);
	assert_int_equal(store_host_set_boot(s, hid, 3, 1, "boot-abc", T0), 0);
	assert_int_equal(
	    store_ak_enroll(s, hid, NULL, ak, sizeof(ak), akpub, sizeof(akpub), T0, NULL), 0);
	assert_int_equal(store_nonce_add(s, hid, nonce, sizeof(nonce), T0, T0 + 30), 0);
	struct store_verdict v = {.host_id = hid,
	                          .trust = STORE_TRUST_RED,
	                          .attested = true,
	                          .reasons_json =
	                              "[{\"code\":\"SECURE_BOOT_DISABLED\",\"message\":\"off\"}]",
	                          .duration_ms = 42,
	                          .evidence_expires = T0 + 300,
	                          .software_json = "{\"kernel\":\"6.1.0\"}"};
	struct store_transition t;
	assert_int_equal(store_host_set_trust(s, &v, NULL, NULL, T0 + 1, &t), 0);
	assert_true(t.alarm_id > 0);
	assert_int_equal(
	    store_host_set_connection(s, hid, STORE_CONN_CONNECTED, NULL, NULL, T0 + 1, NULL), 0);
	assert_int_equal(store_ca_add(s, der, sizeof(der), "CN=Test CA", "test", T0, &cid), 0);
	assert_int_equal(store_token_hash("secret-token", 12, hash), 0);
	assert_int_equal(store_token_add(s, "admin", STORE_ROLE_ADMIN, hash, T0, &tid), 0);
	store_close(s);

	s = store_db_open(c);
	struct store_host *h = NULL;
	assert_int_equal(store_host_get_by_name(s, "web-1", &h), 0);
	assert_int_equal(h->id, hid);
	assert_string_equal(h->address, "127.0.0.1:8443");
	assert_string_equal(h->thumbprint, "SHA256:00aa");
	assert_int_equal(h->policy_id, pid);
	assert_string_equal(h->policy_name, "default");
	assert_int_equal(h->trust, STORE_TRUST_RED);
	assert_int_equal(h->connection, STORE_CONN_CONNECTED);
	assert_non_null(strstr(h->reasons_json, "SECURE_BOOT_DISABLED"));
	assert_int_equal(h->last_attested, T0 + 1);
	assert_int_equal(h->last_seen, T0 + 1);
	assert_int_equal(h->evidence_expires, T0 + 300);
	assert_non_null(strstr(h->tpm_json, "IBM"));
	assert_int_equal(h->ek_public_len, sizeof(akpub));
	assert_memory_equal(h->ek_public, akpub, sizeof(akpub));
	assert_true(h->ek_certified);
	assert_string_equal(h->software_json, "{\"kernel\":\"6.1.0\"}");
	assert_int_equal(h->reset_count, 3);
	assert_int_equal(h->restart_count, 1);
	assert_string_equal(h->boot_id, "boot-abc");
	assert_non_null(h->ak_name);
	assert_int_equal(strlen(h->ak_name), 2 * sizeof(ak));
	assert_int_equal(strncmp(h->ak_name, "000b010203", 10), 0);
	store_host_free(h);

	assert_int_equal(store_ak_check(s, hid, ak, sizeof(ak)), 0);
	assert_int_equal(store_nonce_consume(s, hid, nonce, sizeof(nonce), T0 + 2), 0);
	struct store_alarm_list *al = NULL;
	struct store_alarm_filter open = {.open_only = true};
	assert_int_equal(store_alarm_list(s, &open, NULL, &al), 0);
	assert_int_equal(al->n, 1);
	assert_string_equal(al->v[0].summary, "SECURE_BOOT_DISABLED");
	assert_string_equal(al->v[0].host_name, "web-1");
	store_alarm_list_free(al);
	struct store_result_list *rl = NULL;
	assert_int_equal(store_result_list(s, hid, NULL, &rl), 0);
	assert_int_equal(rl->n, 1);
	assert_int_equal(rl->v[0].duration_ms, 42);
	assert_int_equal(rl->v[0].trust, STORE_TRUST_RED);
	store_result_list_free(rl);
	struct store_event_list *el = NULL;
	assert_int_equal(store_event_list(s, NULL, NULL, &el), 0);
	assert_true(el->n >= 4); /* ak, trust, alarm, connection */
	store_event_list_free(el);
	struct store_token *tok = NULL;
	assert_int_equal(store_token_lookup(s, hash, &tok), 0);
	assert_int_equal(tok->id, tid);
	assert_int_equal(tok->role, STORE_ROLE_ADMIN);
	assert_string_equal(tok->name, "admin");
	store_token_free(tok);
	struct store_ca_list *cl = NULL;
	assert_int_equal(store_ca_list(s, NULL, &cl), 0);
	assert_int_equal(cl->n, 1);
	assert_int_equal(cl->v[0].der_len, sizeof(der));
	assert_memory_equal(cl->v[0].der, der, sizeof(der));
	struct store_ca *ca = NULL;
	assert_int_equal(store_ca_get_by_fingerprint(s, cl->v[0].fingerprint, &ca), 0);
	assert_int_equal(ca->id, cid);
	store_ca_free(ca);
	store_ca_list_free(cl);
	store_close(s);

	/* Only the token's hash is in the database, never the token. */
	assert_int_equal(sql_int(c, c->pg ? "SELECT COUNT(*) FROM api_tokens WHERE "
	                                    "position('secret' IN encode(token_hash, 'escape')) > 0"
	                                  : "SELECT COUNT(*) FROM api_tokens "
	                                    "WHERE instr(CAST(token_hash AS TEXT), 'secret') > 0"),
	                 0);
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM api_tokens"), 1);
}

static void test_unique_violations(void **state)
{
	struct store_db *c = *state;
	struct store *s = store_db_open(c);
	int64_t hid = add_host(s, "db-1", T0), n = 0, pid = 0;
	struct store_host_new dup = {.name = "db-1", .address = "10.0.0.9:1", .interval_s = 5};
	int64_t id = -1;
	assert_int_equal(store_host_add(s, &dup, T0, &id), ATTEST_E_EXISTS);
	assert_int_equal(id, -1); /* out-param untouched */
	assert_non_null(strstr(store_errmsg(s), "name already exists"));
	assert_int_equal(store_host_count(s, &n), 0);
	assert_int_equal(n, 1);
	struct store_host *h = NULL;
	assert_int_equal(store_host_get(s, hid, &h), 0);
	assert_string_equal(h->address, "127.0.0.1:8443");
	assert_int_equal(h->interval_s, 60);
	store_host_free(h);

	assert_int_equal(store_policy_add(s, "p", "{}", false, T0, &pid), 0);
	assert_int_equal(store_policy_add(s, "p", "{\"x\":1}", true, T0, NULL), ATTEST_E_EXISTS);
	struct store_policy *p = NULL;
	assert_int_equal(store_policy_get(s, pid, &p), 0);
	assert_string_equal(p->body_json, "{}");
	assert_false(p->is_default); /* the refused add (make_default) changed nothing */
	store_policy_free(p);

	const uint8_t der[] = {1, 2, 3};
	assert_int_equal(store_ca_add(s, der, sizeof(der), "CN=a", "test", T0, NULL), 0);
	assert_int_equal(store_ca_add(s, der, sizeof(der), "CN=b", "test", T0, NULL),
	                 ATTEST_E_EXISTS);

	uint8_t h1[32], h2[32];
	store_token_hash("t1", 2, h1);
	store_token_hash("t2", 2, h2);
	assert_int_equal(store_token_add(s, "ops", STORE_ROLE_VIEWER, h1, T0, NULL), 0);
	assert_int_equal(store_token_add(s, "ops", STORE_ROLE_ADMIN, h2, T0, NULL),
	                 ATTEST_E_EXISTS);
	assert_int_equal(store_token_add(s, "ops2", STORE_ROLE_ADMIN, h1, T0, NULL),
	                 ATTEST_E_EXISTS);
	struct store_token *tok = NULL;
	assert_int_equal(store_token_lookup(s, h2, &tok), ATTEST_E_NOTFOUND);
	assert_int_equal(store_token_lookup(s, h1, &tok), 0);
	assert_int_equal(tok->role, STORE_ROLE_VIEWER);
	store_token_free(tok);

	/* Bad input is refused before touching the database. */
	struct store_host_new bad = {.name = "a\nb", .address = "x:1", .interval_s = 5};
	assert_int_equal(store_host_add(s, &bad, T0, NULL), ATTEST_E_ARG);
	bad.name = "";
	assert_int_equal(store_host_add(s, &bad, T0, NULL), ATTEST_E_ARG);
	bad.name = "ok";
	bad.policy_id = 999;
	assert_int_equal(store_host_add(s, &bad, T0, NULL), ATTEST_E_NOTFOUND);
	struct store_verdict v = {.host_id = hid, .trust = STORE_TRUST_GREEN, .reasons_json = "{}"};
	assert_int_equal(store_host_set_trust(s, &v, NULL, NULL, T0, NULL), ATTEST_E_FORMAT);
	v.reasons_json = "[1,";
	assert_int_equal(store_host_set_trust(s, &v, NULL, NULL, T0, NULL), ATTEST_E_FORMAT);
	struct store_page big = {.limit = STORE_PAGE_MAX + 1};
	struct store_host_list *hl = NULL;
	assert_int_equal(store_host_list(s, &big, &hl), ATTEST_E_LIMIT);
	assert_int_equal(store_host_count(s, &n), 0);
	assert_int_equal(n, 1);
	store_close(s);
}

/* ------------------------------------------------------------------ */
/* Nonces */

#define NNONCES 40

static void nonce_of(int i, uint8_t out[32])
{
	memset(out, 0x5a, 32);
	out[0] = (uint8_t)i;
}

static void consume_all(struct store *s, int idx, void *arg, int fd)
{
	int64_t hid = *(int64_t *)arg, ok = 0;
	for (int i = 0; i < NNONCES; i++) {
		uint8_t n[32];
		nonce_of(i, n);
		int rc = store_nonce_consume(s, hid, n, sizeof(n), T0 + 1);
		if (rc == 0)
			ok++;
		else if (rc != ATTEST_E_STATE)
			_exit(4);
	}
	put64(fd, ok);
}

static void test_nonce_single_use(void **state)
{
	struct store_db *c = *state;
	struct store *s = store_db_open(c);
	int64_t hid = add_host(s, "n-1", T0), other = add_host(s, "n-2", T0);
	uint8_t n[32];

	nonce_of(200, n);
	assert_int_equal(store_nonce_add(s, hid, n, sizeof(n), T0, T0 + 30), 0);
	assert_int_equal(store_nonce_add(s, hid, n, sizeof(n), T0, T0 + 30), ATTEST_E_EXISTS);
	assert_int_equal(store_nonce_consume(s, other, n, sizeof(n), T0 + 1), ATTEST_E_NOTFOUND);
	assert_int_equal(store_nonce_consume(s, hid, n, sizeof(n), T0 + 1), 0);
	assert_int_equal(store_nonce_consume(s, hid, n, sizeof(n), T0 + 1), ATTEST_E_STATE);
	nonce_of(201, n);
	assert_int_equal(store_nonce_add(s, hid, n, sizeof(n), T0, T0 + 30), 0);
	assert_int_equal(store_nonce_consume(s, hid, n, sizeof(n), T0 + 30), ATTEST_E_STATE);
	nonce_of(202, n);
	assert_int_equal(store_nonce_consume(s, hid, n, sizeof(n), T0 + 1), ATTEST_E_NOTFOUND);
	assert_int_equal(store_nonce_add(s, 9999, n, sizeof(n), T0, T0 + 30), ATTEST_E_NOTFOUND);

	/* NPROC connections race to consume the same NNONCES nonces. */
	for (int i = 0; i < NNONCES; i++) {
		nonce_of(i, n);
		assert_int_equal(store_nonce_add(s, hid, n, sizeof(n), T0, T0 + 60), 0);
	}
	size_t count = 0;
	int64_t *ok = run_workers(c, NPROC, consume_all, &hid, &count);
	int64_t total = 0;
	assert_int_equal(count, NPROC);
	for (size_t i = 0; i < count; i++)
		total += ok[i];
	free(ok);
	assert_int_equal(total, NNONCES);
	for (int i = 0; i < NNONCES; i++) {
		nonce_of(i, n);
		assert_int_equal(store_nonce_consume(s, hid, n, sizeof(n), T0 + 2), ATTEST_E_STATE);
	}

	int64_t purged = 0;
	assert_int_equal(store_nonce_purge(s, T0 + 61, &purged), 0);
	assert_int_equal(purged, NNONCES + 2);
	store_close(s);
}

/* ------------------------------------------------------------------ */
/* Alarms */

#define NHOSTS 20

static void go_red(struct store *s, int idx, void *arg, int fd)
{
	const int64_t *ids = arg;
	for (int i = 0; i < NHOSTS; i++) {
		struct store_verdict v = {.host_id = ids[i],
		                          .trust = STORE_TRUST_RED,
		                          .attested = true,
		                          .reasons_json = "[{\"code\":\"PCR_DIGEST_MISMATCH\"}]"};
		struct store_transition t = {0};
		if (store_host_set_trust(s, &v, NULL, NULL, T0 + 10, &t) != 0)
			_exit(5);
		if (t.alarm_id)
			put64(fd, ids[i]);
	}
}

static void test_alarm_raised_once(void **state)
{
	struct store_db *c = *state;
	struct store *s = store_db_open(c);
	int64_t ids[NHOSTS];
	for (int i = 0; i < NHOSTS; i++) {
		char name[32];
		snprintf(name, sizeof(name), "host-%02d", i);
		ids[i] = add_host(s, name, T0);
	}
	size_t count = 0;
	int64_t *raised = run_workers(c, NPROC, go_red, ids, &count);
	/* Each host's alarm raised by exactly one of the racing connections. */
	assert_int_equal(count, NHOSTS);
	for (int i = 0; i < NHOSTS; i++) {
		int seen = 0;
		for (size_t j = 0; j < count; j++)
			seen += raised[j] == ids[i];
		assert_int_equal(seen, 1);
	}
	free(raised);
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM alarms"), NHOSTS);
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM events WHERE kind = 'trust'"), NHOSTS);
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM results"), NPROC * NHOSTS);

	/* Red again: no new alarm. Green: cleared. Red: a new one. */
	int64_t h = ids[0];
	struct store_verdict red = {.host_id = h, .trust = STORE_TRUST_RED};
	struct store_verdict green = {.host_id = h, .trust = STORE_TRUST_GREEN, .attested = true};
	struct store_transition t;
	assert_int_equal(store_host_set_trust(s, &red, NULL, NULL, T0 + 20, &t), 0);
	assert_false(t.changed);
	assert_int_equal(t.alarm_id, 0);
	assert_int_equal(store_host_set_trust(s, &green, NULL, NULL, T0 + 30, &t), 0);
	assert_true(t.changed);
	assert_int_equal(t.previous, STORE_TRUST_RED);
	assert_int_equal(t.cleared, 1);
	struct store_alarm_filter f = {.host_id = h};
	struct store_alarm_list *al = NULL;
	assert_int_equal(store_alarm_list(s, &f, NULL, &al), 0);
	assert_int_equal(al->n, 1);
	assert_int_equal(al->v[0].cleared_at, T0 + 30);
	int64_t first = al->v[0].id;
	store_alarm_list_free(al);
	assert_int_equal(store_host_set_trust(s, &red, NULL, NULL, T0 + 40, &t), 0);
	assert_true(t.alarm_id > first);
	assert_string_equal(store_trust_name(t.previous), "green");

	/* Acknowledge: once; the alarm stays open until green. */
	assert_int_equal(store_alarm_ack(s, t.alarm_id, "alice", T0 + 41), 0);
	assert_int_equal(store_alarm_ack(s, t.alarm_id, "bob", T0 + 42), ATTEST_E_STATE);
	assert_int_equal(store_alarm_ack(s, 99999, "bob", T0 + 42), ATTEST_E_NOTFOUND);
	struct store_alarm *a = NULL;
	assert_int_equal(store_alarm_get(s, t.alarm_id, &a), 0);
	assert_int_equal(a->acked_at, T0 + 41);
	assert_string_equal(a->acked_by, "alice");
	assert_int_equal(a->cleared_at, 0);
	store_alarm_free(a);
	struct store_alarm_filter unacked = {.open_only = true, .unacked_only = true};
	assert_int_equal(store_alarm_list(s, &unacked, NULL, &al), 0);
	assert_int_equal(al->n, NHOSTS - 1);
	store_alarm_list_free(al);

	/* The event history of host 0, newest first, paged with the cursor. */
	struct store_event_filter ef = {.host_id = h};
	struct store_page pg = {.limit = 2};
	struct store_event_list *el = NULL;
	int64_t seen = 0, last = 0;
	do {
		assert_int_equal(store_event_list(s, &ef, &pg, &el), 0);
		for (size_t i = 0; i < el->n; i++) {
			assert_string_equal(el->v[i].host_name, "host-00");
			if (last)
				assert_true(el->v[i].id < last);
			last = el->v[i].id;
		}
		seen += (int64_t)el->n;
		ef.before_id = last;
		size_t n = el->n;
		store_event_list_free(el);
		if (n < 2)
			break;
	} while (1);
	/* trust u->r, alarm raised, trust r->g, alarm cleared, trust g->r,
	 * alarm raised, alarm acked */
	assert_int_equal(seen, 7);
	ef = (struct store_event_filter){.host_id = h, .kind = "trust"};
	assert_int_equal(store_event_list(s, &ef, NULL, &el), 0);
	assert_int_equal(el->n, 3);
	assert_string_equal(el->v[0].message, "trust green -> red");
	assert_string_equal(el->v[0].details_json, "{\"from\":\"green\",\"to\":\"red\"}");
	store_event_list_free(el);

	/* Removing the host removes its alarms; its events stay, named. */
	assert_int_equal(store_host_remove(s, h), 0);
	assert_int_equal(store_host_remove(s, h), ATTEST_E_NOTFOUND);
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM events WHERE host_name = 'host-00' "
	                            "AND host_id IS NULL"),
	                 7);
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM alarms WHERE host_id = 1"), 0);
	store_close(s);
}

/* A push host's holder counts as seen at the later of its attach and its
 * instance's one heartbeat row: another instance claims the host only once
 * both are STORE_PUSH_STALE_LEASES leases old, and a heartbeat rewrites no
 * host row. */
static void test_push_heartbeat(void **state)
{
	struct store_db *c = *state;
	struct store *s = store_db_open(c);
	struct store_host_new h = {.name = "pushed",
	                           .address = "",
	                           .thumbprint = "SHA256:00bb",
	                           .interval_s = 60,
	                           .push = true};
	int64_t id = 0;
	struct store_host_list *l = NULL;
	assert_int_equal(store_host_add(s, &h, T0, &id), 0);
	assert_int_equal(store_push_attach(s, id, "a", T0, T0), 0);
	assert_int_equal(store_push_heartbeat(s, "a", T0 + 50), 0);
	assert_int_equal(store_push_heartbeat(s, "a", T0 + 50), 0); /* renewed in place */
	assert_int_equal(sql_int(c, "SELECT push_seen FROM hosts WHERE name = 'pushed'"), T0);
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM push_beats"), 1);
	/* Lease 30 s: at T0 + 70 the attach is stale but the beat is not. */
	assert_int_equal(store_claim_due_hosts(s, "b", T0 + 70, 30, 10, &l), 0);
	assert_int_equal(l->n, 0);
	store_host_list_free(l);
	/* At T0 + 111 the beat is 61 s old: the holder is gone, b claims. */
	assert_int_equal(store_claim_due_hosts(s, "b", T0 + 111, 30, 10, &l), 0);
	assert_int_equal(l->n, 1);
	assert_int_equal(l->v[0].id, id);
	store_host_list_free(l);
	store_close(s);
}

/* The history keeps its newest STORE_RESULTS_PER_HOST rows through the
 * per-host count of results written (the next one's slot in the host's ring,
 * migration 16). */
static void test_results_count(void **state)
{
	struct store_db *c = *state;
	struct store *s = store_db_open(c);
	int64_t h = add_host(s, "counted", T0);
	int64_t other = add_host(s, "other", T0);
	for (int i = 0; i < 20; i++) {
		struct store_verdict v = {
		    .host_id = i % 2 ? h : other, .trust = STORE_TRUST_GREEN, .attested = true};
		assert_int_equal(store_host_set_trust(s, &v, NULL, NULL, T0 + i, NULL), 0);
	}
	assert_int_equal(sql_int(c, "SELECT results_n FROM hosts WHERE name = 'counted'"), 10);
	/* A count that is off (as after a copy by hand) only picks the slot the
	 * next result takes: the ring keeps its size, the newest rows stay, and
	 * the new result reads first. */
	sql_exec(c, "UPDATE hosts SET results_n = 505 WHERE name = 'counted'");
	struct store_verdict v = {.host_id = h,
	                          .trust = STORE_TRUST_RED,
	                          .attested = true,
	                          .reasons_json = "[]",
	                          .duration_ms = 77};
	assert_int_equal(store_host_set_trust(s, &v, NULL, NULL, T0 + 100, NULL), 0);
	assert_int_equal(sql_int(c, "SELECT results_n FROM hosts WHERE name = 'counted'"), 506);
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM results WHERE host_id = (SELECT id "
	                            "FROM hosts WHERE name = 'counted')"),
	                 10); /* slot 505 mod 500 = 5 (the 6th oldest) rewritten */
	char q[160];
	snprintf(q, sizeof q, "SELECT COUNT(*) FROM results WHERE host_id = %lld AND at >= %d",
	         (long long)h, T0 + 13);
	assert_int_equal(sql_int(c, q), 5); /* the 4 newest of before stay, and the new one */
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM results WHERE host_id = (SELECT id "
	                            "FROM hosts WHERE name = 'other')"),
	                 10);
	struct store_result_list *rl = NULL;
	struct store_page pg = {.limit = 1};
	assert_int_equal(store_result_list(s, h, &pg, &rl), 0);
	assert_int_equal(rl->v[0].duration_ms, 77);
	store_result_list_free(rl);
	store_close(s);
}

static void test_results_capped(void **state)
{
	struct store_db *c = *state;
	struct store *s = store_db_open(c);
	int64_t h = add_host(s, "busy", T0);
	for (int i = 0; i < STORE_RESULTS_PER_HOST + 10; i++) {
		struct store_verdict v = {
		    .host_id = h, .trust = STORE_TRUST_GREEN, .attested = true, .duration_ms = i};
		assert_int_equal(store_host_set_trust(s, &v, NULL, NULL, T0 + i, NULL), 0);
	}
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM results"), STORE_RESULTS_PER_HOST);
	/* The full ring's rows were rewritten in place: no row was added
	 * past the first STORE_RESULTS_PER_HOST. */
	assert_int_equal(sql_int(c, "SELECT MAX(id) - MIN(id) + 1 FROM results"),
	                 STORE_RESULTS_PER_HOST);
	/* Newest first, every one of the last STORE_RESULTS_PER_HOST, in order. */
	struct store_result_list *rl = NULL;
	for (int off = 0; off < STORE_RESULTS_PER_HOST; off += 100) {
		struct store_page pg = {.limit = 100, .offset = (uint64_t)off};
		assert_int_equal(store_result_list(s, h, &pg, &rl), 0);
		assert_int_equal(rl->n, 100);
		for (size_t k = 0; k < rl->n; k++) {
			assert_int_equal(rl->v[k].duration_ms,
			                 STORE_RESULTS_PER_HOST + 9 - off - (int64_t)k);
			assert_int_equal(rl->v[k].at,
			                 T0 + STORE_RESULTS_PER_HOST + 9 - off - (int64_t)k);
		}
		store_result_list_free(rl);
	}
	store_close(s);
}

/* Migration 16 on a history written before it: each host keeps its newest
 * STORE_RESULTS_PER_HOST rows in id order, its count becomes what it has,
 * and the next verdicts go on from there (the oldest slot rewritten). */
static void test_results_ring_migration(void **state)
{
	struct store_db *c = *state;
	struct store *s = store_db_open(c);
	int64_t a = add_host(s, "ring-a", T0), b = add_host(s, "ring-b", T0);
	store_close(s);
	char q[1024];
	/* Back to schema 15, then a history as the verdicts before wrote it:
	 * a with 510 rows (more than the cap, as a copy by hand could leave)
	 * and an off count, b with 3 interleaved. */
	sql_exec(c, "DROP INDEX results_slot");
	sql_exec(c, "ALTER TABLE results DROP COLUMN seq");
	sql_exec(c, "ALTER TABLE results DROP COLUMN slot");
	sql_exec(c, "CREATE INDEX results_host ON results (host_id, id)");
	sql_exec(c, "DELETE FROM schema_version WHERE version = 16");
	sql_exec(c, "DROP INDEX hosts_coverage"); /* and 17 after it */
	sql_exec(c, "DELETE FROM schema_version WHERE version = 17");
	snprintf(q, sizeof q,
	         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 510) "
	         "INSERT INTO results (host_id, at, trust_state, reasons, duration_ms) "
	         "SELECT CASE WHEN i %% 200 = 0 THEN %lld ELSE %lld END, %d + i, 'green', '[]', i "
	         "FROM n ORDER BY i",
	         (long long)b, (long long)a, T0);
	sql_exec(c, q);
	snprintf(q, sizeof q,
	         "UPDATE hosts SET results_n = CASE WHEN id = %lld THEN 3 ELSE 700 END",
	         (long long)b);
	sql_exec(c, q);
	s = store_db_open(c);
	snprintf(q, sizeof q, "SELECT results_n FROM hosts WHERE id = %lld", (long long)a);
	assert_int_equal(sql_int(c, q), 500);
	snprintf(q, sizeof q, "SELECT COUNT(*) FROM results WHERE host_id = %lld", (long long)a);
	assert_int_equal(sql_int(c, q), 500);
	snprintf(q, sizeof q, "SELECT results_n FROM hosts WHERE id = %lld", (long long)b);
	assert_int_equal(sql_int(c, q), 2); /* i = 200, 400 */
	/* a's newest 500 of 508, newest first: i = 510 .. 3 without 200, 400. */
	struct store_result_list *rl = NULL;
	struct store_page pg = {.limit = 500};
	assert_int_equal(store_result_list(s, a, &pg, &rl), 0);
	assert_int_equal(rl->n, 500);
	int64_t want = 510;
	for (size_t k = 0; k < rl->n; k++, want--) {
		if (want % 200 == 0)
			want--;
		assert_int_equal(rl->v[k].duration_ms, want);
	}
	store_result_list_free(rl);
	/* The next verdict of a rewrites a's oldest row; b's takes slot 2. */
	struct store_verdict v = {.host_id = a,
	                          .trust = STORE_TRUST_GREEN,
	                          .attested = true,
	                          .reasons_json = "[]",
	                          .duration_ms = 9999};
	assert_int_equal(store_host_set_trust(s, &v, NULL, NULL, T0 + 1000, NULL), 0);
	v.host_id = b;
	assert_int_equal(store_host_set_trust(s, &v, NULL, NULL, T0 + 1000, NULL), 0);
	snprintf(q, sizeof q, "SELECT COUNT(*) FROM results WHERE host_id = %lld", (long long)a);
	assert_int_equal(sql_int(c, q), 500);
	snprintf(q, sizeof q,
	         "SELECT COUNT(*) FROM results WHERE host_id = %lld AND duration_ms = 3",
	         (long long)a);
	assert_int_equal(sql_int(c, q), 0); /* the oldest went */
	snprintf(q, sizeof q, "SELECT COUNT(*) FROM results WHERE host_id = %lld", (long long)b);
	assert_int_equal(sql_int(c, q), 3);
	pg.limit = 2;
	assert_int_equal(store_result_list(s, a, &pg, &rl), 0);
	assert_int_equal(rl->v[0].duration_ms, 9999);
	assert_int_equal(rl->v[1].duration_ms, 510);
	store_result_list_free(rl);
	assert_int_equal(store_result_list(s, b, &pg, &rl), 0);
	assert_int_equal(rl->v[0].duration_ms, 9999);
	assert_int_equal(rl->v[1].duration_ms, 400);
	store_result_list_free(rl);
	store_close(s);
}

/* ------------------------------------------------------------------ */
/* AKs */

static void test_ak_retire(void **state)
{
	struct store_db *c = *state;
	struct store *s = store_db_open(c);
	int64_t h = add_host(s, "ak-host", T0), h2 = add_host(s, "other", T0);
	uint8_t a[34] = {0x00, 0x0b, 0xaa}, b[34] = {0x00, 0x0b, 0xbb}, x[34] = {0x00, 0x0b, 0xcc};
	const uint8_t pub[] = {1, 2, 3, 4};
	int64_t ida = 0, idb = 0;
	struct store_ak *ak = NULL;

	assert_int_equal(store_ak_current(s, h, &ak), ATTEST_E_NOTFOUND);
	assert_int_equal(store_ak_enroll(s, h, NULL, a, sizeof(a), pub, sizeof(pub), T0, &ida), 0);
	assert_int_equal(store_ak_check(s, h, a, sizeof(a)), 0);
	assert_int_equal(store_ak_check(s, h2, a, sizeof(a)), ATTEST_E_NOTFOUND);
	/* Restart: new AK; the old one is refused from now on. */
	assert_int_equal(store_ak_enroll(s, h, NULL, b, sizeof(b), pub, sizeof(pub), T0 + 5, &idb),
	                 0);
	assert_int_equal(store_ak_check(s, h, a, sizeof(a)), ATTEST_E_STATE);
	assert_int_equal(store_ak_check(s, h, b, sizeof(b)), 0);
	assert_int_equal(store_ak_check(s, h, x, sizeof(x)), ATTEST_E_NOTFOUND);
	/* An old AK can never come back, even for another host. */
	assert_int_equal(store_ak_enroll(s, h, NULL, a, sizeof(a), pub, sizeof(pub), T0 + 6, NULL),
	                 ATTEST_E_EXISTS);
	assert_int_equal(store_ak_enroll(s, h2, NULL, a, sizeof(a), pub, sizeof(pub), T0 + 6, NULL),
	                 ATTEST_E_EXISTS);
	assert_int_equal(store_ak_enroll(s, 9999, NULL, x, sizeof(x), pub, sizeof(pub), T0, NULL),
	                 ATTEST_E_NOTFOUND);
	assert_int_equal(store_ak_current(s, h, &ak), 0);
	assert_int_equal(ak->id, idb);
	assert_int_equal(ak->enrolled_at, T0 + 5);
	assert_int_equal(ak->retired_at, 0);
	assert_int_equal(ak->public_len, sizeof(pub));
	store_ak_free(ak);
	int64_t n = 0;
	assert_int_equal(store_ak_retire_all(s, h, T0 + 7, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_ak_check(s, h, b, sizeof(b)), ATTEST_E_STATE);
	assert_int_equal(store_ak_current(s, h, &ak), ATTEST_E_NOTFOUND);
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM events WHERE kind = 'ak'"), 2);
	store_close(s);
}

/* ------------------------------------------------------------------ */
/* Leases */

#define NLEASE 30

static void claim_some(struct store *s, int idx, void *arg, int fd)
{
	char owner[32];
	snprintf(owner, sizeof(owner), "verifier-%d", idx);
	/* Several small claims each, so the connections interleave. */
	for (int round = 0; round < 10; round++) {
		struct store_host_list *l = NULL;
		if (store_claim_due_hosts(s, owner, T0 + 100, 30, 2, &l) != 0)
			_exit(6);
		for (size_t i = 0; i < l->n; i++) {
			if (strcmp(l->v[i].lease_owner, owner) != 0)
				_exit(7);
			put64(fd, l->v[i].id);
		}
		store_host_list_free(l);
	}
}

static void test_leases(void **state)
{
	struct store_db *c = *state;
	struct store *s = store_db_open(c);
	int64_t ids[NLEASE];
	for (int i = 0; i < NLEASE; i++) {
		char name[32];
		snprintf(name, sizeof(name), "lease-%02d", i);
		ids[i] = add_host(s, name, T0 + i);
	}
	/* Disabled (operator-disconnected) hosts are never claimed. */
	int64_t off = add_host(s, "disabled", T0);
	assert_int_equal(store_host_set_enabled(s, off, false, T0), 0);

	size_t count = 0;
	int64_t *got = run_workers(c, NPROC, claim_some, NULL, &count);
	/* 4 workers x 10 rounds x 2 = 80 slots for 30 hosts: each host leased
	 * exactly once while the leases are live. */
	assert_int_equal(count, NLEASE);
	for (int i = 0; i < NLEASE; i++) {
		int seen = 0;
		for (size_t j = 0; j < count; j++)
			seen += got[j] == ids[i];
		assert_int_equal(seen, 1);
	}
	free(got);

	struct store_host_list *l = NULL;
	assert_int_equal(store_claim_due_hosts(s, "late", T0 + 129, 30, 100, &l), 0);
	assert_int_equal(l->n, 0);
	store_host_list_free(l);

	/* After expiry (T0+130) another instance takes them over, earliest due
	 * first; the old owner's renew and verdict are refused. */
	struct store_host *h = NULL;
	assert_int_equal(store_host_get(s, ids[0], &h), 0);
	char old_owner[32];
	snprintf(old_owner, sizeof(old_owner), "%s", h->lease_owner);
	store_host_free(h);
	assert_int_equal(store_claim_due_hosts(s, "late", T0 + 130, 30, 5, &l), 0);
	assert_int_equal(l->n, 5);
	assert_int_equal(l->v[0].id, ids[0]);
	assert_string_equal(l->v[0].lease_owner, "late");
	assert_int_equal(l->v[0].lease_expires, T0 + 160);
	store_host_list_free(l);
	assert_int_equal(store_lease_renew(s, ids[0], old_owner, T0 + 131, 30), ATTEST_E_STATE);
	struct store_verdict v = {.host_id = ids[0], .trust = STORE_TRUST_GREEN, .attested = true};
	assert_int_equal(store_host_set_trust(s, &v, old_owner, NULL, T0 + 131, NULL),
	                 ATTEST_E_STATE);
	assert_int_equal(store_host_get(s, ids[0], &h), 0);
	assert_int_equal(h->trust, STORE_TRUST_UNKNOWN);
	store_host_free(h);
	assert_int_equal(store_host_set_trust(s, &v, "late", NULL, T0 + 131, NULL), 0);
	assert_int_equal(store_lease_renew(s, ids[0], "late", T0 + 131, 30), 0);
	assert_int_equal(store_lease_release(s, ids[0], old_owner, T0 + 200, 0, T0 + 131),
	                 ATTEST_E_STATE);
	/* Disconnected by the operator while its attestation was in flight:
	 * the lease holder's verdict is refused and changes nothing. */
	assert_int_equal(store_host_set_enabled(s, ids[0], false, T0 + 131), 0);
	struct store_verdict red = {.host_id = ids[0],
	                            .trust = STORE_TRUST_RED,
	                            .attested = true,
	                            .set_conn = true,
	                            .conn = STORE_CONN_NOT_RESPONDING,
	                            .release = true,
	                            .next_due = T0 + 140};
	assert_int_equal(store_host_set_trust(s, &red, "late", NULL, T0 + 131, NULL),
	                 ATTEST_E_STATE);
	assert_non_null(strstr(store_errmsg(s), "disconnected while it was attested"));
	assert_int_equal(store_host_get(s, ids[0], &h), 0);
	assert_int_equal(h->trust, STORE_TRUST_GREEN);
	assert_int_not_equal(h->connection, STORE_CONN_NOT_RESPONDING);
	assert_string_equal(h->lease_owner, "late");
	store_host_free(h);
	assert_int_equal(store_host_set_enabled(s, ids[0], true, T0 + 131), 0);
	assert_int_equal(store_lease_release(s, ids[0], "late", T0 + 191, 2, T0 + 132), 0);
	assert_int_equal(store_lease_release(s, 9999, "late", T0, 0, T0), ATTEST_E_NOTFOUND);
	assert_int_equal(store_host_get(s, ids[0], &h), 0);
	assert_null(h->lease_owner);
	assert_int_equal(h->next_due, T0 + 191);
	assert_int_equal(h->failures, 2);
	assert_int_equal(h->trust, STORE_TRUST_GREEN);
	store_host_free(h);
	/* Evidence expiry: green -> unknown once, with its reason and event. */
	int64_t expired = 0;
	assert_int_equal(store_host_set_trust(s,
	                                      &(struct store_verdict){.host_id = ids[1],
	                                                              .trust = STORE_TRUST_GREEN,
	                                                              .attested = true,
	                                                              .evidence_expires = T0 + 150},
	                                      NULL, NULL, T0 + 131, NULL),
	                 0);
	assert_int_equal(store_expire_evidence(s, T0 + 149, &expired), 0);
	assert_int_equal(expired, 0);
	assert_int_equal(store_expire_evidence(s, T0 + 150, &expired), 0);
	assert_int_equal(expired, 1);
	assert_int_equal(store_expire_evidence(s, T0 + 151, &expired), 0);
	assert_int_equal(expired, 0);
	assert_int_equal(store_host_get(s, ids[1], &h), 0);
	assert_int_equal(h->trust, STORE_TRUST_UNKNOWN);
	assert_non_null(strstr(h->reasons_json, STORE_REASON_EVIDENCE_EXPIRED));
	store_host_free(h);
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM events WHERE message = "
	                            "'trust green -> unknown: evidence expired'"),
	                 1);

	/* Released and not yet due: not claimed; due: claimed again. */
	assert_int_equal(store_claim_due_hosts(s, "x", T0 + 190, 30, 1000, &l), 0);
	for (size_t i = 0; i < l->n; i++)
		assert_true(l->v[i].id != ids[0] && l->v[i].id != off);
	store_host_list_free(l);
	assert_int_equal(store_host_set_next_due(s, ids[0], T0 + 190, NULL, T0 + 190), 0);
	assert_int_equal(store_claim_due_hosts(s, "x", T0 + 190, 30, 10, &l), 0);
	assert_int_equal(l->n, 1);
	assert_int_equal(l->v[0].id, ids[0]);
	store_host_list_free(l);
	assert_int_equal(store_claim_due_hosts(s, "x", T0, 30, 0, &l), ATTEST_E_ARG);
	store_close(s);
}

/* Attest the hosts in l as owner: a verdict that releases the lease,
 * due again at next_due. */
static void attest_all(struct store *s, struct store_host_list *l, const char *owner, int64_t now,
                       int64_t next_due)
{
	for (size_t i = 0; i < l->n; i++) {
		struct store_verdict v = {.host_id = l->v[i].id,
		                          .trust = STORE_TRUST_GREEN,
		                          .attested = true,
		                          .release = true,
		                          .next_due = next_due,
		                          .failures = 0};
		assert_int_equal(store_host_set_trust(s, &v, owner, NULL, now, NULL), 0);
	}
	store_host_list_free(l);
}

static size_t claim_n(struct store *s, const char *owner, int64_t now, struct store_host_list **l)
{
	*l = NULL;
	assert_int_equal(store_claim_due_hosts(s, owner, now, 30, 100, l), 0);
	for (size_t i = 0; i < (*l)->n; i++)
		assert_string_equal((*l)->v[i].lease_owner, owner);
	return (*l)->n;
}

/* SQLite's plan for a query: every row's detail, joined with "; ". */
static void sql_plan(const struct store_db *c, const char *sql, char *out, size_t cap)
{
	char q[1024];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	size_t len = 0;
	out[0] = '\0';
	snprintf(q, sizeof q, "EXPLAIN QUERY PLAN %s", sql);
	assert_int_equal(sqlite3_open_v2(c->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW && len < cap)
		len += (size_t)snprintf(out + len, cap - len, "%s; ", sqlite3_column_text(st, 3));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* The verdict names last_instance and failures only when they change
 * (hosts_share, migration 15, indexes them): the row still holds what the
 * last verdict said. The evidence expiry, the claims' share and the fleet's
 * coverage read their indexes, not every host row (SQLite's plan). */
static void test_verdict_indexed_columns(void **state)
{
	struct store_db *c = *state;
	struct store *s = store_db_open(c);
	struct store_host_list *l = NULL;
	int64_t id = add_host(s, "idx-1", T0);
	char q[256], plan[1024];
	const struct {
		const char *owner;
		int64_t failures;
	} steps[] = {{"A", 0}, {"A", 2}, {"B", 2}, {"B", 0}, {"A", 0}};
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		int64_t now = T0 + 100 * (int64_t)i;
		assert_int_equal(store_claim_due_hosts(s, steps[i].owner, now, 30, 10, &l), 0);
		assert_int_equal(l->n, 1);
		store_host_list_free(l);
		struct store_verdict v = {.host_id = id,
		                          .trust = STORE_TRUST_GREEN,
		                          .attested = true,
		                          .evidence_expires = now + 60,
		                          .release = true,
		                          .next_due = now + 1,
		                          .failures = steps[i].failures};
		assert_int_equal(store_host_set_trust(s, &v, steps[i].owner, NULL, now, NULL), 0);
		snprintf(q, sizeof q, "SELECT last_instance FROM hosts WHERE id = %lld",
		         (long long)id);
		sql_text(c, q, plan, sizeof plan);
		assert_string_equal(plan, steps[i].owner);
		snprintf(q, sizeof q, "SELECT failures FROM hosts WHERE id = %lld", (long long)id);
		assert_int_equal(sql_int(c, q), steps[i].failures);
		snprintf(q, sizeof q, "SELECT evidence_expires FROM hosts WHERE id = %lld",
		         (long long)id);
		assert_int_equal(sql_int(c, q), now + 60);
	}
	/* The last verdict's evidence expires at T0 + 460. */
	int64_t n = -1;
	assert_int_equal(store_expire_evidence(s, T0 + 459, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_expire_evidence(s, T0 + 460, &n), 0);
	assert_int_equal(n, 1);
	store_close(s);
	if (c->pg)
		return;
	sql_plan(c, "SELECT id FROM hosts WHERE trust_state = 'green' AND evidence_expires <= 5",
	         plan, sizeof plan);
	assert_non_null(strstr(plan, "hosts_trust_expires"));
	sql_plan(c,
	         "SELECT last_instance, COUNT(*) FROM hosts WHERE enabled = 1 AND failures = 0 "
	         "AND last_instance IS NOT NULL GROUP BY last_instance",
	         plan, sizeof plan);
	assert_non_null(strstr(plan, "COVERING INDEX hosts_share"));
	/* The fleet's coverage (store_coverage_read) reads its index only. */
	sql_plan(c,
	         "SELECT last_instance, COUNT(*), SUM(CASE WHEN last_attested IS NOT NULL AND "
	         "last_attested + (CASE WHEN 3 * interval_s > 60 THEN 3 * interval_s ELSE 60 END) "
	         "> 5 THEN 1 ELSE 0 END), MAX(last_attested) FROM hosts WHERE enabled = 1 "
	         "GROUP BY last_instance ORDER BY COUNT(*) DESC, last_instance LIMIT 9",
	         plan, sizeof plan);
	assert_non_null(strstr(plan, "COVERING INDEX hosts_coverage"));
	/* ... and the claim still reads the due hosts only. */
	sql_plan(c,
	         "SELECT id FROM hosts WHERE enabled = 1 AND next_due <= 5 "
	         "AND (lease_owner IS NULL OR lease_expires <= 5) ORDER BY next_due, id LIMIT 50",
	         plan, sizeof plan);
	assert_non_null(strstr(plan, "INDEX hosts_due"));
}

/* An operator reset the host's identity while instance A attested it
 * (store_lease_drop, the reconnect route): what A concluded from the old
 * identity is not written, nor an AK it was enrolling, its lease is gone,
 * and B may claim the host at once. */
static void test_lease_drop(void **state)
{
	struct store_db *c = *state;
	struct store *a = store_db_open(c), *b = store_db_open(c);
	struct store_host_list *l = NULL;
	struct store_host *h = NULL;
	int64_t id = add_host(a, "dropped", T0);
	assert_int_equal(store_claim_due_hosts(a, "A", T0, 30, 5, &l), 0);
	assert_int_equal(l->n, 1);
	store_host_list_free(l);
	/* Held by A: B gets nothing. */
	assert_int_equal(store_claim_due_hosts(b, "B", T0 + 1, 30, 5, &l), 0);
	assert_int_equal(l->n, 0);
	store_host_list_free(l);

	assert_int_equal(store_lease_drop(b, id, T0 + 2), 0);
	assert_int_equal(store_host_set_next_due(b, id, T0 + 2, "B", T0 + 2), 0);
	struct store_verdict v = {.host_id = id,
	                          .trust = STORE_TRUST_GREEN,
	                          .attested = true,
	                          .set_conn = true,
	                          .conn = STORE_CONN_CONNECTED,
	                          .release = true,
	                          .next_due = T0 + 60,
	                          .failures = 0};
	assert_int_equal(store_host_set_trust(a, &v, "A", NULL, T0 + 3, NULL), ATTEST_E_STATE);
	assert_non_null(strstr(store_errmsg(a), "lease is not held"));
	assert_int_equal(store_lease_renew(a, id, "A", T0 + 3, 30), ATTEST_E_STATE);
	assert_int_equal(store_lease_release(a, id, "A", T0 + 60, 0, T0 + 3), ATTEST_E_STATE);
	/* Nor does A enroll an AK (it was enrolling the host when it lost it). */
	uint8_t ak_a[34] = {0x00, 0x0b, 0xa1}, ak_b[34] = {0x00, 0x0b, 0xb1};
	const uint8_t pub[] = {1, 2, 3, 4};
	struct store_ak *ak = NULL;
	assert_int_equal(
	    store_ak_enroll(a, id, "A", ak_a, sizeof(ak_a), pub, sizeof(pub), T0 + 3, NULL),
	    ATTEST_E_STATE);
	assert_int_equal(store_ak_current(a, id, &ak), ATTEST_E_NOTFOUND);
	assert_int_equal(store_host_get(b, id, &h), 0);
	assert_int_equal(h->trust, STORE_TRUST_UNKNOWN);
	assert_null(h->lease_owner);
	assert_int_equal(h->next_due, T0 + 2);
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM results"), 0);
	store_host_free(h);

	/* B, which asked, claims it at once (A may not take it back). */
	assert_int_equal(store_claim_due_hosts(a, "A", T0 + 3, 30, 5, &l), 0);
	assert_int_equal(l->n, 0);
	store_host_list_free(l);
	assert_int_equal(store_claim_due_hosts(b, "B", T0 + 3, 30, 5, &l), 0);
	assert_int_equal(l->n, 1);
	assert_string_equal(l->v[0].lease_owner, "B");
	store_host_list_free(l);
	assert_int_equal(
	    store_ak_enroll(b, id, "B", ak_b, sizeof(ak_b), pub, sizeof(pub), T0 + 4, NULL), 0);
	assert_int_equal(store_ak_current(a, id, &ak), 0);
	assert_int_equal(store_ak_check(a, id, ak_b, sizeof(ak_b)), 0);
	store_ak_free(ak);
	assert_int_equal(store_host_set_trust(b, &v, "B", NULL, T0 + 4, NULL), 0);
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM results WHERE instance = 'B'"), 1);
	assert_int_equal(store_lease_drop(b, 9999, T0 + 4), ATTEST_E_NOTFOUND);
	store_close(a);
	store_close(b);
}

/* Lease affinity: a due host stays with the instance that attested it last
 * while that instance claims it within the grace (half a lease past due),
 * moves to another once the grace is over (its instance died), and an
 * instance below its share takes hosts from the busiest one at once. Each
 * instance is a connection of its own (the share is read per connection). */
static void test_lease_affinity(void **state)
{
	struct store_db *c = *state;
	struct store *a = store_db_open(c), *b = store_db_open(c), *n = store_db_open(c);
	struct store_host_list *l = NULL;
	int64_t ids[10];
	assert_int_equal(store_claim_grace(30), 15);
	assert_int_equal(store_claim_grace(3), 1);
	assert_int_equal(store_claim_grace(1), 1);
	for (int i = 0; i < 10; i++) {
		char name[32];
		snprintf(name, sizeof(name), "aff-%d", i);
		ids[i] = add_host(a, name, T0);
	}
	/* Nobody attested them yet: whoever claims first. */
	assert_int_equal(store_claim_due_hosts(a, "A", T0, 30, 6, &l), 0);
	assert_int_equal(l->n, 6);
	attest_all(a, l, "A", T0 + 1, T0 + 10);
	assert_int_equal(claim_n(b, "B", T0 + 1, &l), 4);
	attest_all(b, l, "B", T0 + 2, T0 + 10);
	/* Due again: B claims first but gets only its own four, A its six,
	 * round after round. */
	for (int64_t t = T0 + 10; t < T0 + 40; t += 10) {
		assert_int_equal(claim_n(b, "B", t + 1, &l), 4);
		for (size_t i = 0; i < l->n; i++)
			assert_true(l->v[i].id >= ids[6]);
		attest_all(b, l, "B", t + 2, t + 10);
		assert_int_equal(claim_n(a, "A", t + 2, &l), 6);
		for (size_t i = 0; i < l->n; i++)
			assert_true(l->v[i].id < ids[6]);
		attest_all(a, l, "A", t + 3, t + 10);
	}
	/* A stops at T0 + 40. B attests its own; A's six wait out the grace
	 * (due T0 + 40, taken from T0 + 55), then B takes them. */
	assert_int_equal(claim_n(b, "B", T0 + 41, &l), 4);
	attest_all(b, l, "B", T0 + 41, T0 + 70);
	assert_int_equal(claim_n(b, "B", T0 + 54, &l), 0);
	store_host_list_free(l);
	assert_int_equal(claim_n(b, "B", T0 + 55, &l), 6);
	attest_all(b, l, "B", T0 + 56, T0 + 70);
	/* A host whose last attempt failed is anyone's at once. */
	assert_int_equal(claim_n(b, "B", T0 + 70, &l), 10);
	for (size_t i = 0; i < l->n; i++)
		assert_int_equal(store_lease_release(b, l->v[i].id, "B", T0 + 80,
		                                     l->v[i].id == ids[0] ? 1 : 0, T0 + 71),
		                 0);
	store_host_list_free(l);
	/* A new instance N holds none of the ten B attested: it takes the one
	 * that failed at once and, nine counting for the share (one that
	 * failed does not), its fair share of five less what B would keep
	 * below it: four of B's due hosts before their grace. The share is
	 * read at most every STORE_SHARE_EVERY s, so no more until then. */
	assert_int_equal(claim_n(n, "N", T0 + 80, &l), 5);
	size_t failed = 0;
	for (size_t i = 0; i < l->n; i++)
		failed += l->v[i].id == ids[0];
	assert_int_equal(failed, 1);
	attest_all(n, l, "N", T0 + 81, T0 + 90);
	assert_int_equal(claim_n(b, "B", T0 + 81, &l), 5);
	attest_all(b, l, "B", T0 + 82, T0 + 90);
	/* Five each: each keeps its own from now on. */
	for (int64_t t = T0 + 90; t < T0 + 120; t += 10) {
		assert_int_equal(claim_n(n, "N", t, &l), 5);
		attest_all(n, l, "N", t + 1, t + 10);
		assert_int_equal(claim_n(b, "B", t + 1, &l), 5);
		attest_all(b, l, "B", t + 2, t + 10);
	}
	/* A host an operator asked B to attest now (wanted_by B) is B's at
	 * once although N attested it last; the claim clears the mark, so the
	 * next time it is due it is N's again. */
	assert_int_equal(claim_n(n, "N", T0 + 120, &l), 5);
	int64_t wanted = l->v[0].id;
	for (size_t i = 0; i < l->n; i++)
		assert_int_equal(store_lease_release(n, l->v[i].id, "N", T0 + 130,
		                                     l->v[i].id == wanted ? 1 : 0, T0 + 120),
		                 0);
	store_host_list_free(l);
	/* Failed last time: anyone's at once, but not while B is asked for it. */
	assert_int_equal(store_host_set_next_due(b, wanted, T0 + 120, "B", T0 + 120), 0);
	assert_int_equal(store_claim_due_hosts(n, "N", T0 + 121, 30, 100, &l), 0);
	for (size_t i = 0; i < l->n; i++) {
		assert_true(l->v[i].id != wanted);
		assert_int_equal(store_lease_release(n, l->v[i].id, "N", T0 + 120, 0, T0 + 121), 0);
	}
	store_host_list_free(l);
	assert_int_equal(store_host_set_next_due(b, wanted, T0 + 120, "bad\nname", T0 + 120),
	                 ATTEST_E_ARG);
	assert_int_equal(claim_n(b, "B", T0 + 121, &l), 6);
	size_t got = 0;
	for (size_t i = 0; i < l->n; i++) {
		got += l->v[i].id == wanted;
		assert_int_equal(store_lease_release(b, l->v[i].id, "B", T0 + 130, 0, T0 + 121), 0);
	}
	store_host_list_free(l);
	assert_int_equal(got, 1);
	assert_int_equal(claim_n(b, "B", T0 + 130, &l), 5);
	for (size_t i = 0; i < l->n; i++)
		assert_true(l->v[i].id != wanted);
	store_host_list_free(l);
	assert_int_equal(claim_n(n, "N", T0 + 130, &l), 5);
	/* B is asked for a host while N attests it: N's release makes it due
	 * at N's next interval, and it stays B's past the grace (half a lease,
	 * 15 s) until a whole lease past due (30 s: B is dead or stuck). */
	wanted = l->v[0].id;
	assert_int_equal(store_host_set_next_due(b, wanted, T0 + 130, "B", T0 + 130), 0);
	for (size_t i = 0; i < l->n; i++)
		assert_int_equal(store_lease_release(n, l->v[i].id, "N", T0 + 140, 0, T0 + 131), 0);
	store_host_list_free(l);
	assert_int_equal(store_claim_due_hosts(n, "N", T0 + 140 + 16, 30, 100, &l), 0);
	for (size_t i = 0; i < l->n; i++) {
		assert_true(l->v[i].id != wanted);
		assert_int_equal(store_lease_release(n, l->v[i].id, "N", T0 + 200, 0, T0 + 156), 0);
	}
	store_host_list_free(l);
	assert_int_equal(store_claim_due_hosts(n, "N", T0 + 140 + 30, 30, 100, &l), 0);
	got = 0;
	for (size_t i = 0; i < l->n; i++)
		got += l->v[i].id == wanted;
	assert_int_equal(got, 1);
	store_host_list_free(l);
	store_close(n);
	store_close(b);
	store_close(a);
}

/* ------------------------------------------------------------------ */

static void test_policies_and_connection(void **state)
{
	struct store_db *c = *state;
	struct store *s = store_db_open(c);
	struct store_policy *p = NULL;
	int64_t a = 0, b = 0;
	assert_int_equal(store_policy_get_default(s, &p), ATTEST_E_NOTFOUND);
	assert_int_equal(store_policy_add(s, "base", "{\"require\":{}}", false, T0, &a), 0);
	assert_int_equal(store_policy_add(s, "strict", "{}", false, T0, &b), 0);
	/* Adding never promotes a policy to default on its own. */
	assert_int_equal(store_policy_get_default(s, &p), ATTEST_E_NOTFOUND);
	assert_int_equal(store_policy_set_default(s, a, T0 + 1), 0);
	assert_int_equal(store_policy_get_default(s, &p), 0);
	assert_int_equal(p->id, a);
	store_policy_free(p);
	assert_int_equal(store_policy_set_default(s, b, T0 + 1), 0);
	assert_int_equal(store_policy_set_default(s, 999, T0 + 1), ATTEST_E_NOTFOUND);
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM policies WHERE is_default = 1"), 1);
	assert_int_equal(store_policy_remove(s, b), ATTEST_E_STATE);

	int64_t h = add_host(s, "pol-host", T0);
	assert_int_equal(store_policy_for_host(s, h, &p), 0);
	assert_int_equal(p->id, b);
	store_policy_free(p);
	assert_int_equal(store_host_set_policy(s, h, a, T0), 0);
	assert_int_equal(store_host_set_policy(s, h, 999, T0), ATTEST_E_NOTFOUND);
	assert_int_equal(store_policy_for_host(s, h, &p), 0);
	assert_int_equal(p->id, a);
	store_policy_free(p);
	assert_int_equal(store_policy_for_host(s, h + 1000, &p), ATTEST_E_NOTFOUND);
	assert_int_equal(store_policy_remove(s, a), ATTEST_E_STATE); /* assigned */
	assert_int_equal(store_policy_update(s, a, "{\"v\":2}", T0 + 2), 0);
	assert_int_equal(store_policy_update(s, a, "[]", T0 + 2), ATTEST_E_FORMAT);
	struct store_policy_list *pl = NULL;
	assert_int_equal(store_policy_list(s, NULL, &pl), 0);
	assert_int_equal(pl->n, 2);
	assert_string_equal(pl->v[0].name, "base");
	assert_int_equal(pl->v[0].nhosts, 1);
	assert_string_equal(pl->v[0].body_json, "{\"v\":2}");
	store_policy_list_free(pl);
	assert_int_equal(store_host_set_policy(s, h, 0, T0), 0);
	assert_int_equal(store_policy_remove(s, a), 0);

	bool changed = false;
	assert_int_equal(store_host_set_connection(s, h, STORE_CONN_NOT_RESPONDING, NULL, "timeout",
	                                           T0 + 3, &changed),
	                 0);
	assert_true(changed);
	assert_int_equal(store_host_set_connection(s, h, STORE_CONN_NOT_RESPONDING, NULL, "timeout",
	                                           T0 + 4, &changed),
	                 0);
	assert_false(changed);
	assert_int_equal(
	    store_host_set_connection(s, 999, STORE_CONN_CONNECTED, NULL, NULL, T0, &changed),
	    ATTEST_E_NOTFOUND);
	struct store_event_new e = {.host_id = h,
	                            .kind = "host",
	                            .actor = "alice",
	                            .message = "host disconnected by operator",
	                            .details_json = "{\"reason\":\"maintenance\"}"};
	assert_int_equal(store_event_add(s, &e, T0 + 5, NULL), 0);
	e.host_id = 999;
	assert_int_equal(store_event_add(s, &e, T0 + 5, NULL), ATTEST_E_NOTFOUND);
	struct store_event_list *el = NULL;
	struct store_event_filter ef = {.since = T0 + 3, .until = T0 + 6};
	assert_int_equal(store_event_list(s, &ef, NULL, &el), 0);
	assert_int_equal(el->n, 2);
	assert_string_equal(el->v[0].actor, "alice");
	assert_string_equal(el->v[1].message, "connection disconnected -> not_responding: timeout");
	store_event_list_free(el);
	store_close(s);
}

/* ------------------------------------------------------------------ */
/* kill -9 in the middle of writes */

static void test_kill9_loses_nothing_committed(void **state)
{
	struct store_db *c = *state;
	struct store *s = store_db_open(c);
	store_close(s);
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		struct store *w = NULL;
		if (store_open(c->url, &w, NULL) != 0)
			_exit(2);
		for (int64_t i = 0;; i++) {
			char name[32];
			snprintf(name, sizeof(name), "k-%06lld", (long long)i);
			struct store_host_new h = {.name = name, .address = "a:1", .interval_s = 1};
			int64_t id;
			if (store_host_add(w, &h, T0, &id) != 0)
				_exit(3);
			struct store_verdict v = {
			    .host_id = id, .trust = STORE_TRUST_RED, .attested = true};
			if (store_host_set_trust(w, &v, NULL, NULL, T0, NULL) != 0)
				_exit(4);
			put64(fds[1], i); /* both transactions of i committed */
		}
	}
	close(fds[1]);
	int64_t last = -1, v;
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		if (read(fds[0], &v, sizeof(v)) != (ssize_t)sizeof(v))
			break;
		last = v;
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (last < 300 && now.tv_sec - start.tv_sec < 5);
	kill(pid, SIGKILL);
	while (read(fds[0], &v, sizeof(v)) == (ssize_t)sizeof(v))
		last = v;
	close(fds[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	assert_true(last >= 10);

	if (!c->pg) {
		char ok[32];
		sql_text(c, "PRAGMA integrity_check", ok, sizeof(ok));
		assert_string_equal(ok, "ok");
	}
	s = store_db_open(c);
	int64_t n = 0;
	assert_int_equal(store_host_count(s, &n), 0);
	/* Every acknowledged iteration is there; at most one more host (added,
	 * verdict not yet acknowledged) may exist. */
	assert_true(n >= last + 1 && n <= last + 2);
	int64_t alarms = sql_int(c, "SELECT COUNT(*) FROM alarms");
	assert_true(alarms >= last + 1 && alarms <= n);
	for (int64_t i = 0; i <= last; i += 7) {
		char name[32];
		struct store_host *h = NULL;
		snprintf(name, sizeof(name), "k-%06lld", (long long)i);
		assert_int_equal(store_host_get_by_name(s, name, &h), 0);
		assert_int_equal(h->trust, STORE_TRUST_RED);
		store_host_free(h);
	}
	fprintf(stderr, "kill -9 after %lld committed iterations: all present\n",
	        (long long)last + 1);
	store_close(s);
}

/* ------------------------------------------------------------------ */
/* The storage writer thread: group commits (store_writer.h) */

struct tw {
	struct store *reader; /* the caller's own connection */
	int64_t host, other;
	int kind, rc, order;
	bool committed_first; /* the work's write was visible when done ran */
};

static int tw_order;

enum { TW_SLEEP, TW_RED, TW_UNDONE, TW_NONCES, TW_RED2 };

static int tw_work(struct store *s, void *arg)
{
	struct tw *t = arg;
	struct store_verdict v = {.host_id = t->host, .attested = true};
	uint8_t used[32] = {1}, fresh[32] = {2};
	switch (t->kind) {
	case TW_SLEEP: usleep(200 * 1000); return 0; /* the others queue meanwhile */
	case TW_RED:
	case TW_RED2:
		v.trust = STORE_TRUST_RED;
		return store_host_set_trust(s, &v, NULL, NULL, T0, NULL);
	case TW_UNDONE:
		/* Written, then the work fails: rolled back alone. */
		v.trust = STORE_TRUST_GREEN;
		if (store_host_set_trust(s, &v, NULL, NULL, T0, NULL) != 0)
			return ATTEST_E_IO;
		return ATTEST_E_STATE;
	default:
		/* A failed statement (unique key) leaves the group usable, even
		 * where an error aborts the transaction (PostgreSQL). */
		if (store_nonce_add(s, t->host, used, sizeof used, T0, T0 + 30) != ATTEST_E_EXISTS)
			return ATTEST_E_IO;
		return store_nonce_add(s, t->host, fresh, sizeof fresh, T0, T0 + 30);
	}
}

static void tw_done(void *arg, int rc, const char *msg)
{
	struct tw *t = arg;
	t->rc = rc;
	t->order = tw_order++;
	struct store_host *h = NULL;
	if (t->kind == TW_RED && store_host_get(t->reader, t->host, &h) == 0)
		t->committed_first = h->trust == STORE_TRUST_RED;
	store_host_free(h);
}

static void deliver_until(struct store_writer *w, const int *count, int n)
{
	struct pollfd p = {.fd = store_writer_fd(w), .events = POLLIN};
	for (int i = 0; *count < n && i < 200; i++) {
		(void)poll(&p, 1, 100);
		(void)store_writer_deliver(w);
	}
	assert_int_equal(*count, n);
}

static void test_writer_groups(void **state)
{
	struct store_db *c = *state;
	struct store *s = store_db_open(c);
	int64_t h1 = add_host(s, "g1", T0), h2 = add_host(s, "g2", T0);
	uint8_t used[32] = {1};
	assert_int_equal(store_nonce_add(s, h1, used, sizeof used, T0, T0 + 30), 0);
	struct store_writer *w = NULL;
	char *err = NULL;
	assert_int_equal(store_writer_open(c->url, 0, &w, &err), 0);
	struct tw t[5] = {
	    {.reader = s, .host = h1, .kind = TW_SLEEP},
	    {.reader = s, .host = h1, .kind = TW_RED},
	    {.reader = s, .host = h2, .kind = TW_UNDONE},
	    {.reader = s, .host = h1, .kind = TW_NONCES},
	    {.reader = s, .host = h2, .kind = TW_RED2},
	};
	tw_order = 0;
	for (int i = 0; i < 5; i++)
		assert_int_equal(store_writer_submit(w, tw_work, tw_done, &t[i]), 0);
	deliver_until(w, &tw_order, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(t[i].order, i); /* completions in submission order */
	assert_int_equal(t[0].rc, 0);
	assert_int_equal(t[1].rc, 0);
	assert_true(t[1].committed_first); /* done runs after the commit */
	assert_int_equal(t[2].rc, ATTEST_E_STATE);
	assert_int_equal(t[3].rc, 0);
	assert_int_equal(t[4].rc, 0);
	struct store_writer_stats st;
	store_writer_stats(w, &st);
	assert_int_equal(st.works, 5);
	assert_int_equal(st.failed, 1);
	assert_true(st.largest >= 4); /* queued while the first slept: one group */
	/* h2: the failed work's green left nothing (one result: the red). */
	struct store_host *h = NULL;
	assert_int_equal(store_host_get(s, h2, &h), 0);
	assert_int_equal(h->trust, STORE_TRUST_RED);
	store_host_free(h);
	char q[160];
	snprintf(q, sizeof q, "SELECT COUNT(*) FROM results WHERE host_id = %lld", (long long)h2);
	assert_int_equal(sql_int(c, q), 1);
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM alarms"), 2);
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM nonces"), 2);
	/* Closed: further work is refused. */
	store_writer_close(w);
	store_close(s);
}

static int kw_count;

struct kw {
	int64_t i;
	int fd;
};

static int kw_work(struct store *s, void *arg)
{
	struct kw *k = arg;
	char name[32];
	snprintf(name, sizeof(name), "w-%06lld", (long long)k->i);
	struct store_host_new h = {.name = name, .address = "a:1", .interval_s = 1};
	int64_t id;
	int rc = store_host_add(s, &h, T0, &id);
	if (rc == 0) {
		struct store_verdict v = {
		    .host_id = id, .trust = STORE_TRUST_RED, .attested = true};
		rc = store_host_set_trust(s, &v, NULL, NULL, T0, NULL);
	}
	return rc;
}

static void kw_done(void *arg, int rc, const char *msg)
{
	struct kw *k = arg;
	if (rc != 0)
		_exit(5);
	put64(k->fd, k->i); /* reported: its group committed */
	kw_count++;
	free(k);
}

/* A process writing through the writer, killed with SIGKILL: every work
 * whose completion ran (reported) is in the database, whole. */
/* full: the writer's default durability; else store_writer_set_sync(w,
 * false) (--db-sync normal), which must lose nothing on kill -9 either. */
/* window_ms > 0: the works are windowed (store_writer_submit_window), as
 * the verifier's routine verdicts are. */
static void writer_kill9(struct store_db *c, bool full, unsigned window_ms)
{
	struct store *s = store_db_open(c);
	store_close(s);
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		struct store_writer *w = NULL;
		if (store_writer_open(c->url, 0, &w, NULL) != 0)
			_exit(2);
		if (!full)
			store_writer_set_sync(w, false);
		store_writer_set_window(w, window_ms, 0);
		for (int64_t i = 0;; i += 16) {
			for (int64_t k = i; k < i + 16; k++) {
				struct kw *x = calloc(1, sizeof *x);
				if (x == NULL)
					_exit(3);
				x->i = k;
				x->fd = fds[1];
				if ((window_ms
				         ? store_writer_submit_window(w, kw_work, kw_done, x, 100)
				         : store_writer_submit(w, kw_work, kw_done, x)) != 0)
					_exit(4);
			}
			struct pollfd p = {.fd = store_writer_fd(w), .events = POLLIN};
			while (kw_count < i + 16) {
				(void)poll(&p, 1, 100);
				(void)store_writer_deliver(w);
			}
		}
	}
	close(fds[1]);
	int64_t last = -1, v, reported = 0;
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		if (read(fds[0], &v, sizeof(v)) != (ssize_t)sizeof(v))
			break;
		last = v > last ? v : last;
		reported++;
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (reported < 400 && now.tv_sec - start.tv_sec < 5);
	kill(pid, SIGKILL);
	while (read(fds[0], &v, sizeof(v)) == (ssize_t)sizeof(v)) {
		last = v > last ? v : last;
		reported++;
	}
	close(fds[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	assert_true(reported >= 16);
	if (!c->pg) {
		char ok[32];
		sql_text(c, "PRAGMA integrity_check", ok, sizeof(ok));
		assert_string_equal(ok, "ok");
	}
	s = store_db_open(c);
	/* Works are reported in order, a group at a time: 0..last all there,
	 * each with its verdict (nothing half written: a host without its red
	 * verdict would be unknown). */
	assert_int_equal(reported, last + 1);
	for (int64_t i = 0; i <= last; i++) {
		char name[32];
		struct store_host *h = NULL;
		snprintf(name, sizeof(name), "w-%06lld", (long long)i);
		assert_int_equal(store_host_get_by_name(s, name, &h), 0);
		assert_int_equal(h->trust, STORE_TRUST_RED);
		store_host_free(h);
	}
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM hosts WHERE trust_state <> 'red'"), 0);
	fprintf(stderr,
	        "writer (%s, window %u ms) killed after %lld reported works: all present, none "
	        "half written\n",
	        full ? "full" : "normal", window_ms, (long long)reported);
	store_close(s);
}

static void test_writer_kill9(void **state)
{
	writer_kill9(*state, true, 0);
}

static void test_writer_kill9_normal(void **state)
{
	writer_kill9(*state, false, 0);
}

static void test_writer_kill9_window(void **state)
{
	writer_kill9(*state, true, 20);
}

/* The commit window: windowed works wait for company and commit in one
 * group; urgent work, the size cap, a flush and closing end the window at
 * once; nothing is reported before its group committed. */
struct ww {
	int idx;
	int rc;
	int64_t done_ns;
	bool visible; /* its host was in the database when done ran */
	struct store *reader;
};

static int ww_count;

static int64_t mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int ww_work(struct store *s, void *arg)
{
	struct ww *x = arg;
	char name[32];
	snprintf(name, sizeof name, "ww-%03d", x->idx);
	struct store_host_new h = {.name = name, .address = "a:1", .interval_s = 60};
	int64_t id;
	return store_host_add(s, &h, T0, &id);
}

static void ww_done(void *arg, int rc, const char *msg)
{
	(void)msg;
	struct ww *x = arg;
	char name[32];
	snprintf(name, sizeof name, "ww-%03d", x->idx);
	struct store_host *h = NULL;
	x->rc = rc;
	x->done_ns = mono_ns();
	x->visible = store_host_get_by_name(x->reader, name, &h) == 0;
	store_host_free(h);
	ww_count++;
}

static void ww_submit(struct store_writer *w, struct ww *x, int idx, struct store *reader,
                      bool urgent, size_t bytes)
{
	*x = (struct ww){.idx = idx, .reader = reader};
	assert_int_equal(urgent ? store_writer_submit(w, ww_work, ww_done, x)
	                        : store_writer_submit_window(w, ww_work, ww_done, x, bytes),
	                 0);
}

static void test_writer_window(void **state)
{
	struct store_db *c = *state;
	struct store *s = store_db_open(c);
	struct store_writer *w = NULL;
	char *err = NULL;
	assert_int_equal(store_writer_open(c->url, 0, &w, &err), 0);
	struct ww x[40];
	struct store_writer_stats st;
	ww_count = 0;

	/* Ten windowed works: one group, committed once the window is up (it
	 * cannot commit earlier; when later does not matter). */
	store_writer_set_window(w, 1000, 0); /* long: a slow machine still queues all ten */
	int64_t t0 = mono_ns();
	for (int i = 0; i < 10; i++)
		ww_submit(w, &x[i], i, s, false, 100);
	deliver_until(w, &ww_count, 10);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(x[i].rc, 0);
		assert_true(x[i].visible); /* reported only once committed */
		assert_true(x[i].done_ns - t0 >= 1000 * 1000000LL);
	}
	store_writer_stats(w, &st);
	assert_int_equal(st.works, 10);
	assert_int_equal(st.groups, 1);
	assert_int_equal(st.cut, 0);

	/* Urgent work ends the window at once, with the windowed work queued
	 * before it in its group. */
	store_writer_set_window(w, 1000, 0);
	for (int i = 10; i < 15; i++)
		ww_submit(w, &x[i], i, s, false, 100);
	usleep(50 * 1000);
	ww_submit(w, &x[15], 15, s, true, 0);
	deliver_until(w, &ww_count, 16);
	store_writer_stats(w, &st);
	assert_int_equal(st.groups, 2);
	assert_int_equal(st.cut, 1);
	for (int i = 10; i < 16; i++)
		assert_true(x[i].rc == 0 && x[i].visible);

	/* The size cap: the third work's 400 bytes reach 1000. */
	store_writer_set_window(w, 1000, 1000);
	for (int i = 16; i < 19; i++)
		ww_submit(w, &x[i], i, s, false, 400);
	deliver_until(w, &ww_count, 19);
	store_writer_stats(w, &st);
	assert_int_equal(st.groups, 3);
	assert_int_equal(st.cut, 2);

	/* A flush. */
	store_writer_set_window(w, 1000, 0);
	for (int i = 19; i < 21; i++)
		ww_submit(w, &x[i], i, s, false, 10);
	store_writer_flush(w);
	deliver_until(w, &ww_count, 21);
	store_writer_stats(w, &st);
	assert_int_equal(st.groups, 4);
	assert_int_equal(st.cut, 3);

	/* Window 0: today's behaviour, no wait at all (nothing cut). */
	store_writer_set_window(w, 0, 0);
	ww_submit(w, &x[21], 21, s, false, 10);
	deliver_until(w, &ww_count, 22);
	store_writer_stats(w, &st);
	assert_int_equal(st.groups, 5);
	assert_int_equal(st.cut, 3);

	/* Closing commits what waits in a window and reports it. */
	store_writer_set_window(w, 1000, 0);
	for (int i = 22; i < 25; i++)
		ww_submit(w, &x[i], i, s, false, 10);
	store_writer_close(w);
	assert_int_equal(ww_count, 25);
	for (int i = 22; i < 25; i++)
		assert_true(x[i].rc == 0 && x[i].visible);
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM hosts WHERE name LIKE 'ww-%'"), 25);
	store_close(s);
}

/* The apart lane: on PostgreSQL a lease claim and a renewal complete while
 * another connection holds the audit chain's head in an open transaction
 * (as another instance's group does until its COMMIT), and a group queued
 * meanwhile waits for the head; on SQLite there is no lane, and apart work
 * is urgent work in the groups, as before. */
struct aw {
	int64_t host;
	bool renew;
	int rc;
	struct store_host_list *hl;
};

static int aw_count;

static int aw_work(struct store *s, void *arg)
{
	struct aw *a = arg;
	if (a->renew)
		return store_lease_renew(s, a->host, "apart", T0 + 10, 30);
	return store_claim_due_hosts(s, "apart", T0 + 5, 30, 10, &a->hl);
}

static void aw_done(void *arg, int rc, const char *msg)
{
	(void)msg;
	struct aw *a = arg;
	a->rc = rc;
	aw_count++;
}

static void test_writer_apart(void **state)
{
	struct store_db *c = *state;
	struct store *s = store_db_open(c);
	int64_t h1 = add_host(s, "ap1", T0);
	(void)add_host(s, "ap2", T0);
	struct store_writer *w = NULL;
	char *err = NULL;
	assert_int_equal(store_writer_open(c->url, 60000, &w, &err), 0);
	assert_int_equal(store_writer_has_apart(w), c->pg);
	struct store_writer_stats st;
	struct aw claim = {0}, renew = {.host = h1, .renew = true};
	aw_count = 0;
	ww_count = 0;
	if (!c->pg) {
		/* SQLite: a group of its own, at once, as store_writer_submit. */
		store_writer_set_window(w, 1000, 0);
		assert_int_equal(store_writer_submit_apart(w, aw_work, aw_done, &claim), 0);
		deliver_until(w, &aw_count, 1);
		assert_int_equal(claim.rc, 0);
		assert_int_equal(claim.hl->n, 2);
		store_writer_stats(w, &st);
		assert_int_equal(st.groups, 1);
		assert_int_equal(st.apart, 0);
		store_host_list_free(claim.hl);
		store_writer_close(w);
		store_close(s);
		return;
	}
	/* Another connection holds the head, as a group of another instance
	 * (an event's record creates the head row). */
	struct store_event_new ev = {.kind = "host", .actor = "test", .message = "m"};
	assert_int_equal(store_event_add(s, &ev, T0, NULL), 0);
	struct store *holder = store_db_open(c);
	assert_int_equal(store_write_begin(holder), 0);
	struct ww g;
	ww_submit(w, &g, 0, s, true, 0); /* a group: waits for the head */
	assert_int_equal(store_writer_submit_apart(w, aw_work, aw_done, &claim), 0);
	deliver_until(w, &aw_count, 1);
	assert_int_equal(claim.rc, 0);
	assert_int_equal(claim.hl->n, 2);
	assert_int_equal(ww_count, 0); /* the group still waits */
	assert_int_equal(store_writer_submit_apart(w, aw_work, aw_done, &renew), 0);
	deliver_until(w, &aw_count, 2);
	assert_int_equal(renew.rc, 0);
	assert_int_equal(ww_count, 0);
	struct store_host *h = NULL;
	assert_int_equal(store_host_get(s, h1, &h), 0); /* committed, seen by others */
	assert_string_equal(h->lease_owner, "apart");
	assert_int_equal(h->lease_expires, T0 + 40);
	store_host_free(h);
	/* The head goes: the group commits. */
	store_write_rollback(holder);
	deliver_until(w, &ww_count, 1);
	assert_int_equal(g.rc, 0);
	assert_true(g.visible);
	store_writer_stats(w, &st);
	assert_int_equal(st.apart, 2);
	assert_int_equal(st.works, 3);
	assert_int_equal(st.groups, 1);
	store_host_list_free(claim.hl);
	store_writer_close(w);
	store_close(holder);
	store_close(s);
}

/* ------------------------------------------------------------------ */
/* Several instances starting at once on an empty database */

static void noop_worker(struct store *s, int idx, void *arg, int fd)
{
	(void)arg;
	int v = 0;
	if (store_schema_version(s, &v) != 0)
		_exit(8);
	put64(fd, idx * 1000 + v);
}

static void test_concurrent_first_open(void **state)
{
	struct store_db *c = *state;
	size_t count = 0;
	/* Every worker opens (and so migrates) the empty database at once. */
	int64_t *got = run_workers(c, NPROC, noop_worker, NULL, &count);
	assert_int_equal(count, NPROC);
	for (size_t i = 0; i < count; i++)
		assert_int_equal(got[i] % 1000, store_schema_latest());
	free(got);
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM schema_version"), store_schema_latest());
}

/* ------------------------------------------------------------------ */
/* Connection loss (PostgreSQL): a clear error, then a new connection */

static void test_connection_loss(void **state)
{
	struct store_db *c = *state;
	if (!c->pg) {
		skip();
		return;
	}
	struct store *s = store_db_open(c);
	int64_t h = add_host(s, "survivor", T0), n = 0;
	assert_int_equal(store_host_count(s, &n), 0);
	/* The server ends every other session of this database, as a restart
	 * or a failover would. */
	const char *kill_sessions =
	    "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
	    "WHERE datname = current_database() AND pid <> pg_backend_pid()";
	assert_int_equal(sql_int(c, kill_sessions), 1);
	usleep(50 * 1000);
	assert_int_equal(store_host_count(s, &n), ATTEST_E_IO);
	fprintf(stderr, "connection loss reported as: %s\n", store_errmsg(s));
	assert_true(strstr(store_errmsg(s), "terminat") || strstr(store_errmsg(s), "closed"));
	/* The next call reconnects; prepared statements are prepared again. */
	assert_int_equal(store_host_count(s, &n), 0);
	assert_int_equal(n, 1);

	/* Lost in the middle of a transaction: nothing half-written. */
	assert_int_equal(sql_int(c, kill_sessions), 1);
	usleep(50 * 1000);
	struct store_verdict v = {.host_id = h, .trust = STORE_TRUST_RED, .attested = true};
	assert_int_equal(store_host_set_trust(s, &v, NULL, NULL, T0 + 1, NULL), ATTEST_E_IO);
	assert_int_equal(store_host_set_trust(s, &v, NULL, NULL, T0 + 2, NULL), 0);
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM alarms"), 1);
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM results"), 1);
	store_close(s);
}

/* ------------------------------------------------------------------ */
/* Moving an SQLite database to the store under test (PostgreSQL, or
 * another SQLite file), and back */

static struct store *open_url(const char *url)
{
	struct store *s = NULL;
	char *err = NULL;
	int rc = store_open(url, &s, &err);
	if (rc)
		fprintf(stderr, "store_open %s: %s\n", url, err ? err : "");
	free(err);
	assert_int_equal(rc, 0);
	return s;
}

static void copy_ok(struct store *from, struct store *to, int64_t *ret_rows)
{
	char *err = NULL;
	int rc = store_copy(from, to, ret_rows, &err);
	if (rc)
		fprintf(stderr, "store_copy: %s\n", err ? err : "");
	free(err);
	assert_int_equal(rc, 0);
}

/* Rows of every table: src and dst hold the same numbers. */
static void same_counts(const char *a_path, const struct store_db *b)
{
	struct store_db a = {0};
	snprintf(a.path, sizeof(a.path), "%s", a_path);
	for (size_t i = 0; store_copy_table(i); i++) {
		char sql[128];
		snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s", store_copy_table(i));
		assert_int_equal(sql_int(&a, sql), sql_int(b, sql));
	}
}

static void test_copy_sqlite(void **state)
{
	struct store_db *c = *state;
	char src_path[120], back_path[120], src_url[200], back_url[200];
	snprintf(src_path, sizeof(src_path), "%s/old.db", c->dir);
	snprintf(back_path, sizeof(back_path), "%s/back.db", c->dir);
	snprintf(src_url, sizeof(src_url), "sqlite:%s", src_path);
	snprintf(back_url, sizeof(back_url), "sqlite:%s", back_path);
	struct store_db src_ctx = {0};
	snprintf(src_ctx.path, sizeof(src_ctx.path), "%s", src_path);

	/* Every table of the schema is copied. */
	struct store *src = open_url(src_url);
	for (int64_t i = 1;; i++) {
		char sql[256], name[64];
		snprintf(sql, sizeof(sql),
		         "SELECT COALESCE((SELECT name FROM sqlite_master WHERE type = 'table' "
		         "AND name NOT IN ('sqlite_sequence', 'schema_version') "
		         "ORDER BY name LIMIT 1 OFFSET %lld), '')",
		         (long long)i - 1);
		sql_text(&src_ctx, sql, name, sizeof(name));
		if (!*name)
			break;
		bool listed = false;
		for (size_t j = 0; store_copy_table(j); j++)
			listed |= strcmp(store_copy_table(j), name) == 0;
		if (!listed)
			fprintf(stderr, "table %s is not in store_copy's list\n", name);
		assert_true(listed);
	}

	/* An SQLite verifier's history: two policies, hosts with identity,
	 * AKs (one retired), nonces, verdicts with alarms, events, CA, tokens,
	 * and a removed host whose id must never come back. */
	int64_t pa = 0, pb = 0, tid = 0;
	const uint8_t pub[] = {0x00, 0x01, 0xff, 0x00, 0x7f}, der[] = {0x30, 0x00, 0x01};
	uint8_t hash[STORE_TOKEN_HASH_SIZE];
	assert_int_equal(store_policy_add(src, "base", "{\"a\":1}", false, T0, &pa), 0);
	assert_int_equal(store_policy_add(src, "strict", "{\"b\":2}", true, T0, &pb), 0);
	int64_t ids[6];
	for (int i = 0; i < 6; i++) {
		char name[16];
		snprintf(name, sizeof(name), "m-%d", i);
		ids[i] = add_host(src, name, T0 + i);
		uint8_t ak[34] = {0x00, 0x0b, (uint8_t)i, 0x00, 0xff};
		assert_int_equal(
		    store_ak_enroll(src, ids[i], NULL, ak, sizeof(ak), pub, sizeof(pub), T0, NULL),
		    0);
		uint8_t nonce[32];
		nonce_of(i, nonce);
		assert_int_equal(store_nonce_add(src, ids[i], nonce, sizeof(nonce), T0, T0 + 60),
		                 0);
		struct store_verdict v = {.host_id = ids[i],
		                          .trust = i % 2 ? STORE_TRUST_RED : STORE_TRUST_GREEN,
		                          .attested = true,
		                          .reasons_json = "[{\"code\":\"X\"}]",
		                          .duration_ms = 10 + i};
		assert_int_equal(store_host_set_trust(src, &v, NULL, NULL, T0 + 10, NULL), 0);
	}
	uint8_t ak2[34] = {0x00, 0x0b, 0x99};
	assert_int_equal(
	    store_ak_enroll(src, ids[0], NULL, ak2, sizeof(ak2), pub, sizeof(pub), T0 + 20, NULL),
	    0);
	assert_int_equal(store_host_set_policy(src, ids[1], pa, T0), 0);
	struct store_identity ident = {.tpm_json = "{\"manufacturer\":\"NTC\"}",
	                               .ek_public = pub,
	                               .ek_public_len = sizeof(pub),
	                               .ek_certified = true};
	assert_int_equal(store_host_set_identity(src, ids[1], &ident, T0), 0);
	assert_int_equal(store_host_set_boot(src, ids[1], 7, 2, "boot-7", T0), 0);
	assert_int_equal(store_ca_add(src, der, sizeof(der), "CN=Vendor", "test", T0, NULL), 0);
	assert_int_equal(store_token_hash("tok", 3, hash), 0);
	assert_int_equal(store_token_add(src, "ops", STORE_ROLE_VIEWER, hash, T0, &tid), 0);
	assert_int_equal(store_host_remove(src, ids[5]), 0);
	store_close(src);

	/* Copy into the store under test, which must be empty. */
	src = open_url(src_url);
	struct store *dst = store_db_open(c);
	int64_t rows = 0;
	copy_ok(src, dst, &rows);
	assert_true(rows > 30);
	char *err = NULL;
	assert_int_equal(store_copy(src, dst, NULL, &err), ATTEST_E_STATE);
	assert_non_null(strstr(err, "already holds records"));
	free(err);
	store_close(src);
	store_close(dst);
	same_counts(src_path, c);

	/* Read back through the store. */
	dst = store_db_open(c);
	struct store_host *h = NULL;
	assert_int_equal(store_host_get_by_name(dst, "m-1", &h), 0);
	assert_int_equal(h->id, ids[1]);
	assert_int_equal(h->policy_id, pa);
	assert_string_equal(h->policy_name, "base");
	assert_int_equal(h->trust, STORE_TRUST_RED);
	assert_int_equal(h->ek_public_len, sizeof(pub));
	assert_memory_equal(h->ek_public, pub, sizeof(pub));
	assert_true(h->ek_certified);
	assert_int_equal(h->reset_count, 7);
	assert_string_equal(h->boot_id, "boot-7");
	assert_int_equal(h->created_at, T0 + 1);
	store_host_free(h);
	uint8_t ak0[34] = {0x00, 0x0b, 0x00, 0x00, 0xff};
	assert_int_equal(store_ak_check(dst, ids[0], ak0, sizeof(ak0)), ATTEST_E_STATE);
	assert_int_equal(store_ak_check(dst, ids[0], ak2, sizeof(ak2)), 0);
	uint8_t nonce[32];
	nonce_of(2, nonce);
	assert_int_equal(store_nonce_consume(dst, ids[2], nonce, sizeof(nonce), T0 + 11), 0);
	struct store_policy *p = NULL;
	assert_int_equal(store_policy_get_default(dst, &p), 0);
	assert_int_equal(p->id, pb);
	store_policy_free(p);
	struct store_token *tok = NULL;
	assert_int_equal(store_token_lookup(dst, hash, &tok), 0);
	assert_int_equal(tok->id, tid);
	store_token_free(tok);
	struct store_alarm_list *al = NULL;
	assert_int_equal(store_alarm_list(dst, NULL, NULL, &al), 0);
	assert_int_equal(al->n, 2); /* m-1, m-3 (m-5 removed) */
	store_alarm_list_free(al);
	struct store_ca_list *cl = NULL;
	assert_int_equal(store_ca_list(dst, NULL, &cl), 0);
	assert_int_equal(cl->n, 1);
	assert_memory_equal(cl->v[0].der, der, sizeof(der));
	store_ca_list_free(cl);
	/* New rows get new ids: above every id the old database handed out,
	 * the removed last host's included. */
	int64_t nid = add_host(dst, "after-move", T0 + 100), eid = 0;
	assert_true(nid > ids[5]);
	struct store_event_new e = {.kind = "host", .actor = "alice", .message = "moved"};
	assert_int_equal(store_event_add(dst, &e, T0 + 100, &eid), 0);
	assert_true(eid > sql_int(&src_ctx, "SELECT MAX(id) FROM events"));
	assert_int_equal(store_host_remove(dst, nid), 0);

	/* And back into a new SQLite file: the same rows again. */
	struct store *back = open_url(back_url);
	copy_ok(dst, back, NULL);
	store_close(back);
	store_close(dst);
	same_counts(back_path, c);
	back = open_url(back_url);
	assert_int_equal(add_host(back, "after-return", T0), nid + 1);
	store_close(back);
	const char *suffix[] = {"", "-wal", "-shm"};
	for (size_t i = 0; i < 3; i++) {
		char f[200];
		snprintf(f, sizeof(f), "%s%s", src_path, suffix[i]);
		unlink(f);
		snprintf(f, sizeof(f), "%s%s", back_path, suffix[i]);
		unlink(f);
	}
}

/* ------------------------------------------------------------------ */
/* The default policy under racing operators */

#define NPOLICY_ROUNDS 25

static void flip_default(struct store *s, int idx, void *arg, int fd)
{
	const int64_t *pids = arg;
	int64_t ok = 0;
	for (int i = 0; i < NPOLICY_ROUNDS; i++) {
		int rc = store_policy_set_default(s, pids[(idx + i) % NPROC], T0 + i);
		if (rc != 0) {
			fprintf(stderr, "set_default: %s (%s)\n", attest_strerror(rc),
			        store_errmsg(s));
			_exit(9);
		}
		ok++;
	}
	char name[32];
	snprintf(name, sizeof(name), "added-%d", idx);
	if (store_policy_add(s, name, "{}", true, T0, NULL) != 0)
		_exit(10);
	put64(fd, ok);
}

/* The evidence row keeps its log when touched; a touch after another
 * writer's put changes nothing. The catalog marker moves with every import
 * and removal. */
static void test_evidence_touch_and_catalog_marker(void **state)
{
	struct store_db *c = *state;
	struct store *s = store_db_open(c);
	int64_t hid = add_host(s, "ev-1", T0);
	uint8_t log[64];
	memset(log, 0x5a, sizeof log);
	struct store_evidence e = {.host_id = hid,
	                           .at = T0 + 1,
	                           .eventlog = log,
	                           .eventlog_len = sizeof log,
	                           .pcrs_json = "{\"sha256\":{}}",
	                           .verified = true};
	assert_int_equal(store_evidence_put(s, &e), 0);
	struct store_evidence t = {.host_id = hid,
	                           .at = T0 + 2,
	                           .pcrs_json = "{\"sha256\":{\"0\":\"00\"}}",
	                           .metadata_json = "{\"a\":\"b\"}",
	                           .verified = false};
	assert_int_equal(store_evidence_touch(s, &t, T0 + 1), 0);
	struct store_evidence *got = NULL;
	assert_int_equal(store_evidence_get(s, hid, &got), 0);
	assert_int_equal(got->at, T0 + 2);
	assert_int_equal(got->eventlog_len, sizeof log);
	assert_memory_equal(got->eventlog, log, sizeof log);
	assert_string_equal(got->pcrs_json, t.pcrs_json);
	assert_false(got->verified);
	store_evidence_free(got);
	/* written by someone else since T0 + 1: not ours to touch */
	t.at = T0 + 3;
	assert_int_equal(store_evidence_touch(s, &t, T0 + 1), ATTEST_E_NOTFOUND);
	int64_t n0 = -1, m0 = -1, n1 = -1, m1 = -1, n2 = -1, m2 = -1;
	assert_int_equal(store_catalog_marker(s, &n0, &m0), 0);
	assert_int_equal(n0, 0);
	assert_int_equal(m0, 0);
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
	assert_int_equal(store_catalog_marker(s, &n1, &m1), 0);
	assert_int_equal(n1, 1);
	assert_int_equal(m1, id);
	assert_int_equal(store_catalog_remove(s, id), 0);
	assert_int_equal(store_catalog_add(s, &ce, T0, &id), 0);
	assert_int_equal(store_catalog_marker(s, &n2, &m2), 0);
	assert_int_equal(n2, 1);
	assert_true(m2 > m1); /* ids are never reused: the marker moved */
	store_close(s);
}

static void test_default_policy_race(void **state)
{
	struct store_db *c = *state;
	struct store *s = store_db_open(c);
	int64_t pids[NPROC];
	for (int i = 0; i < NPROC; i++) {
		char name[32];
		snprintf(name, sizeof(name), "pol-%d", i);
		assert_int_equal(store_policy_add(s, name, "{}", false, T0, &pids[i]), 0);
	}
	size_t count = 0;
	int64_t *ok = run_workers(c, NPROC, flip_default, pids, &count);
	assert_int_equal(count, NPROC);
	for (size_t i = 0; i < count; i++)
		assert_int_equal(ok[i], NPOLICY_ROUNDS);
	free(ok);
	/* Every call succeeded, and there is still exactly one default. */
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM policies WHERE is_default = 1"), 1);
	assert_int_equal(sql_int(c, "SELECT COUNT(*) FROM policies"), 2 * NPROC);
	store_close(s);
}

int main(void)
{
	if (store_db_unsupported())
		return 77; /* skipped */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_migrate_from_empty, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_urls, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reopen_keeps_everything, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unique_violations, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nonce_single_use, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_alarm_raised_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_results_capped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_results_ring_migration, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ak_retire, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_leases, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lease_affinity, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lease_drop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verdict_indexed_columns, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_policies_and_connection, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kill9_loses_nothing_committed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_writer_groups, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_writer_kill9, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_writer_kill9_normal, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_writer_kill9_window, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_writer_window, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_writer_apart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_push_heartbeat, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_results_count, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_first_open, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connection_loss, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_copy_sqlite, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_default_policy_race, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_evidence_touch_and_catalog_marker, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
