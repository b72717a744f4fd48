/* store_copy(): every table of one store into another (store_copy.h).
 *
 * Generic over the schema: rows are read with SELECT * and written with
 * INSERT ... VALUES ($1..$n) in the same column order, which both databases
 * share because both were built by the same migrations (store_schema.c; new
 * columns are only ever appended). The one thing to keep up to date is the
 * table list below: a new table goes after the tables it references, and
 * tests/integration/test_store.c fails if a table in the schema is missing
 * from it. */
#include "store_copy.h"

#include "store_internal.h"

#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COPY_PAGE 500 /* rows read per statement */

struct copy_table {
	const char *name;
	const char *key; /* primary key, the copy order */
	bool int_key;    /* integer key: paged by key, else read at once */
	bool identity;   /* key is generated (SQLite AUTOINCREMENT / PG identity) */
	int since;       /* schema version that created the table */
};

/* Dependency order: every table after the tables it references. */
static const struct copy_table copy_tables[] = {
    {"policies", "id", true, true, 1},
    {"hosts", "id", true, true, 1},
    {"aks", "id", true, true, 1},
    {"nonces", "value", false, false, 1},
    {"results", "id", true, true, 1},
    {"alarms", "id", true, true, 1},
    {"events", "id", true, true, 1},
    {"tpm_cas", "id", true, true, 1},
    {"api_tokens", "id", true, true, 1},
    {"evidence", "host_id", true, false, 2},
    {"catalog", "id", true, true, 5},
    {"notify_targets", "id", true, true, 7},
    {"notify_outbox", "id", true, true, 7},
    {"audit_log", "seq", true, false, 8},
    {"audit_head", "id", true, false, 8},
    {"audit_eventlogs", "sha256", false, false, 8},
    {"push_beats", "instance", false, false, 11},
    {"generations", "name", false, false, 12},
    {"evidence_logs", "host_id", true, false, 13},
};

const char *store_copy_table(size_t i)
{
	if (i >= sizeof(copy_tables) / sizeof(copy_tables[0]) ||
	    copy_tables[i].since > store_schema_latest())
		return NULL;
	return copy_tables[i].name;
}

static bool is_pg(const struct store *s)
{
	return strcmp(store_backend_name(s), "postgresql") == 0;
}

static int fail(char **ret_err, const char *table, const char *what, struct store *s, int rc)
{
	if (ret_err) {
		const char *m = s ? store_errmsg(s) : attest_strerror(rc);
		size_t n = strlen(table) + strlen(what) + strlen(m) + 32;
		*ret_err = malloc(n);
		if (*ret_err)
			snprintf(*ret_err, n, "table %s: %s: %s", table, what, m);
	}
	return rc;
}

/* The highest id the source ever handed out for a table: its generator's
 * value (ids of deleted rows included), or 0. */
static int src_last_id(struct store *src, const char *table, int64_t *ret)
{
	int rc;
	*ret = 0;
	if (is_pg(src))
		rc = store_query_int(src,
		                     "SELECT COALESCE(pg_sequence_last_value("
		                     "pg_get_serial_sequence($1, 'id')::regclass), 0)",
		                     PARAMS(V_TEXT(table)), ret);
	else
		rc = store_query_int(src, "SELECT seq FROM sqlite_sequence WHERE name = $1",
		                     PARAMS(V_TEXT(table)), ret);
	return rc == ATTEST_E_NOTFOUND ? 0 : rc;
}

/* Make dst's generator hand out ids above last. */
static int dst_set_last_id(struct store *dst, const char *table, int64_t last)
{
	int64_t ignored;
	if (last <= 0)
		return 0;
	if (is_pg(dst))
		return store_query_int(dst, "SELECT setval(pg_get_serial_sequence($1, 'id'), $2)",
		                       PARAMS(V_TEXT(table), V_INT(last)), &ignored);
	int rc = store_exec(dst, "UPDATE sqlite_sequence SET seq = $2 WHERE name = $1 AND seq < $2",
	                    PARAMS(V_TEXT(table), V_INT(last)), NULL);
	if (rc == 0)
		rc = store_exec(dst,
		                "INSERT INTO sqlite_sequence (name, seq) SELECT $1, $2 "
		                "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = $1)",
		                PARAMS(V_TEXT(table), V_INT(last)), NULL);
	return rc;
}

static int insert_rows(struct store *dst, const char *table, const struct store_rows *rows)
{
	struct store_value vals[64];
	char sql[1024];
	size_t len;
	if (rows->ncols == 0 || rows->ncols > sizeof(vals) / sizeof(vals[0]))
		return store_fail(dst, ATTEST_E_LIMIT, "too many columns to copy");
	len = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO %s VALUES (", table);
	for (size_t i = 0; i < rows->ncols && len < sizeof(sql); i++)
		len +=
		    (size_t)snprintf(sql + len, sizeof(sql) - len, "%s$%zu", i ? ", " : "", i + 1);
	if (len + 2 > sizeof(sql))
		return store_fail(dst, ATTEST_E_LIMIT, "statement too long");
	memcpy(sql + len, ")", 2);
	for (size_t r = 0; r < rows->nrows; r++) {
		for (size_t i = 0; i < rows->ncols; i++) {
			const struct store_cell *x = &rows->cells[r * rows->ncols + i];
			switch (x->type) {
			case STORE_V_INT: vals[i] = V_INT(x->i); break;
			case STORE_V_TEXT: vals[i] = V_TEXT((const char *)x->p); break;
			case STORE_V_BLOB: vals[i] = V_BLOB(x->p, x->len); break;
			default: vals[i] = V_NULL; break;
			}
		}
		int rc = store_exec(dst, sql, vals, rows->ncols, NULL);
		if (rc)
			return rc;
	}
	return 0;
}

/* Copy one table; *ret_n += rows, *ret_max = highest integer key. */
static int copy_table(struct store *src, struct store *dst, const struct copy_table *t,
                      store_copy_progress_fn *fn, void *arg, int64_t *ret_n, int64_t *ret_max,
                      char **ret_err)
{
	char sql[256];
	int64_t after = 0, n = 0;
	int rc;
	if (t->int_key)
		snprintf(sql, sizeof(sql), "SELECT * FROM %s WHERE %s > $1 ORDER BY %s LIMIT $2",
		         t->name, t->key, t->key);
	else
		snprintf(sql, sizeof(sql), "SELECT * FROM %s ORDER BY %s LIMIT $2 OFFSET $1",
		         t->name, t->key);
	for (;;) {
		struct store_rows *rows = NULL;
		/* Keys are positive; an integer key pages by the last one seen. */
		rc = store_query(src, sql, PARAMS(V_INT(t->int_key ? after : n), V_INT(COPY_PAGE)),
		                 COPY_PAGE, &rows);
		if (rc)
			return fail(ret_err, t->name, "reading", src, rc);
		rc = insert_rows(dst, t->name, rows);
		if (rc) {
			store_rows_free(rows);
			return fail(ret_err, t->name, "writing", dst, rc);
		}
		size_t got = rows->nrows;
		if (got && t->int_key)
			after = rows->cells[(got - 1) * rows->ncols].i;
		n += (int64_t)got;
		store_rows_free(rows);
		if (fn)
			fn(t->name, n, got < COPY_PAGE, arg);
		if (got < COPY_PAGE)
			break;
	}
	*ret_n += n;
	*ret_max = after;
	return 0;
}

int store_copy(struct store *src, struct store *dst, int64_t *ret_rows, char **ret_err)
{
	return store_copy_progress(src, dst, NULL, NULL, ret_rows, ret_err);
}

int store_copy_progress(struct store *src, struct store *dst, store_copy_progress_fn *fn, void *arg,
                        int64_t *ret_rows, char **ret_err)
{
	int sv = 0, dv = 0, rc;
	int64_t total = 0;
	if (!src || !dst || src == dst)
		return ATTEST_E_ARG;
	if ((rc = store_schema_version(src, &sv)) || (rc = store_schema_version(dst, &dv)))
		return fail(ret_err, "schema_version", "reading", NULL, rc);
	if (sv != dv || sv != store_schema_latest())
		return fail(ret_err, "schema_version", "source and destination differ", NULL,
		            ATTEST_E_STATE);
	if ((rc = store_tx_begin(src, false)))
		return fail(ret_err, "-", "starting the read", src, rc);
	if ((rc = store_tx_begin(dst, true))) {
		store_tx_rollback(src);
		return fail(ret_err, "-", "starting the write", dst, rc);
	}
	for (size_t i = 0; i < sizeof(copy_tables) / sizeof(copy_tables[0]); i++) {
		const struct copy_table *t = &copy_tables[i];
		char sql[128];
		int64_t count = 0, max_key = 0, last = 0;
		if (t->since > sv)
			continue;
		snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s", t->name);
		if ((rc = store_query_int(dst, sql, NULL, 0, &count))) {
			fail(ret_err, t->name, "counting", dst, rc);
			goto out;
		}
		if (count != 0) {
			rc = fail(ret_err, t->name, "the destination already holds records", NULL,
			          ATTEST_E_STATE);
			goto out;
		}
		if ((rc = copy_table(src, dst, t, fn, arg, &total, &max_key, ret_err)))
			goto out;
		if (!t->identity)
			continue;
		if ((rc = src_last_id(src, t->name, &last))) {
			fail(ret_err, t->name, "reading the id generator", src, rc);
			goto out;
		}
		if ((rc = dst_set_last_id(dst, t->name, last > max_key ? last : max_key))) {
			fail(ret_err, t->name, "setting the id generator", dst, rc);
			goto out;
		}
	}
	rc = store_tx_commit(dst);
	if (rc)
		fail(ret_err, "-", "commit", dst, rc);
out:
	if (rc)
		store_tx_rollback(dst);
	store_tx_rollback(src);
	if (rc == 0 && ret_rows)
		*ret_rows = total;
	return rc;
}
