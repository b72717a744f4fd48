/* The database a cmocka store test with a PostgreSQL variant runs against
 * (test_store.c, test_store_audit.c): a fresh SQLite file in its own
 * directory under /tmp, or, when ATTEST_STORE_URL names a PostgreSQL database
 * (test_store_pg.sh, test_audit_pg.sh start one), that database emptied.
 * Unlike store_fixture.h it opens no store: the tests open their own, often
 * several. Include after <cmocka.h>. */
#ifndef ATTEST_TEST_STORE_DB_H
#define ATTEST_TEST_STORE_DB_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef ATTEST_HAVE_LIBPQ
#include <libpq-fe.h>
#endif

#include "err.h"
#include "store.h"
#include "store_fixture.h"

struct store_db {
	char dir[64];
	char path[128]; /* the SQLite file (made by the first store_open) */
	char url[STORE_URL_MAX + 1];
	bool pg; /* url is ATTEST_STORE_URL, a PostgreSQL database */
};

/* True when ATTEST_STORE_URL names a PostgreSQL database. */
static inline bool store_db_env_is_pg(void)
{
	const char *env = getenv("ATTEST_STORE_URL");
	return env && strncmp(env, "postgres", 8) == 0;
}

/* True, having said why on stdout, when ATTEST_STORE_URL names a PostgreSQL
 * database and this build has no libpq: main then exits 77 (skipped). */
static inline bool store_db_unsupported(void)
{
#ifdef ATTEST_HAVE_LIBPQ
	return false;
#else
	if (!store_db_env_is_pg())
		return false;
	printf("SKIP: ATTEST_STORE_URL is PostgreSQL and this build has no libpq\n");
	return true;
#endif
}

#ifdef ATTEST_HAVE_LIBPQ
/* Drop and make again the public schema of c->url; fails the test if it
 * cannot. */
static inline void store_db_empty_pg(const struct store_db *c)
{
	PGconn *db = PQconnectdb(c->url);
	if (PQstatus(db) != CONNECTION_OK)
		fprintf(stderr, "%s: %s", c->url, PQerrorMessage(db));
	assert_int_equal(PQstatus(db), CONNECTION_OK);
	/* No NOTICE per object the CASCADE drops. */
	PQclear(PQexec(db, "SET client_min_messages = warning"));
	PGresult *r = PQexec(db, "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public");
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fprintf(stderr, "emptying %s: %s", c->url, PQresultErrorMessage(r));
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	PQfinish(db);
}
#endif

/* A cmocka setup's body: a database for one test in *state, the directory
 * /tmp/attest-TAG-XXXXXX with a SQLite URL to verifier.db in it, or
 * ATTEST_STORE_URL's PostgreSQL database emptied (the directory is made all
 * the same). -1 if the directory cannot be made; fails the test if the
 * PostgreSQL database cannot be emptied. */
static inline int store_db_setup(void **state, const char *tag)
{
	struct store_db *c = calloc(1, sizeof *c);
	if (!c)
		return -1;
	snprintf(c->dir, sizeof c->dir, "/tmp/attest-%s-XXXXXX", tag);
	if (!mkdtemp(c->dir)) {
		free(c);
		return -1;
	}
	snprintf(c->path, sizeof c->path, "%s/verifier.db", c->dir);
	snprintf(c->url, sizeof c->url, "sqlite:%s", c->path);
	if (store_db_env_is_pg()) {
#ifdef ATTEST_HAVE_LIBPQ
		snprintf(c->url, sizeof c->url, "%s", getenv("ATTEST_STORE_URL"));
		c->pg = true;
		store_db_empty_pg(c);
#endif
	}
	*state = c;
	return 0;
}

/* A cmocka teardown's body: remove the SQLite file, its WAL and journal,
 * and the directory of store_db_setup's *state. */
static inline int store_db_teardown(void **state)
{
	struct store_db *c = *state;
	if (!c)
		return 0;
	store_files_remove(c->path, c->dir);
	free(c);
	return 0;
}

/* A new connection to the test's database; fails the test (with the
 * driver's message) if it cannot be opened. The caller closes it. */
static inline struct store *store_db_open(const struct store_db *c)
{
	struct store *s = NULL;
	char *err = NULL;
	int rc = store_open(c->url, &s, &err);
	if (rc)
		fprintf(stderr, "store_open: %s (%s)\n", attest_strerror(rc), err ? err : "");
	free(err);
	assert_int_equal(rc, 0);
	assert_non_null(s);
	return s;
}

#endif
