/* PostgreSQL driver for the store (store_driver.h), on libpq.
 *
 * The store's SQL is shared with SQLite; this file only connects, runs
 * statements and transactions, and says how PostgreSQL spells the dialect
 * words. Choices (docs/storage.md, "PostgreSQL"):
 * - Write transactions are BEGIN ISOLATION LEVEL READ COMMITTED, said
 *   explicitly so a server default cannot change it. Every compare-then-write
 *   in the store either locks its row first (lock_suffix, FOR UPDATE) or is
 *   one guarded UPDATE, which PostgreSQL re-checks against the newest row
 *   version after waiting for a concurrent writer; lease claims use
 *   FOR UPDATE SKIP LOCKED. SERIALIZABLE would turn every such wait into an
 *   abort-and-retry without adding a guarantee the locks do not give.
 * - The store's guarded transactions take their locks in their first
 *   statement, so a deadlock (40P01) or serialization failure (40001) there
 *   hits a statement the driver may run again on its own: an autocommit
 *   statement, or the first statement after BEGIN (the driver rolls back,
 *   begins again and re-runs it; nothing the caller saw depended on the
 *   aborted try). STORE_PG_ATTEMPTS tries at most; the last server message
 *   is kept. A later statement is never replayed: its failure is returned.
 * - Blob parameters go in binary format (paramFormats 1, type bytea): no
 *   escaping. Integers and text go as text and take the type the statement
 *   gives them. Results come as text and are converted by column type OID.
 * - Prepared statements are cached per connection under a name derived from
 *   a hash of the SQL text (PQprepare once, PQexecPrepared after); the full
 *   text is compared, so a hash collision only costs an unprepared run.
 * - Connection loss: the call that meets it fails with ATTEST_E_IO and
 *   libpq's message; the next call outside a transaction reconnects
 *   (PQreset) and starts a fresh statement cache.
 * - A script run outside a transaction (the store's CREATE TABLE IF NOT
 *   EXISTS schema_version) is run in its own transaction under the migration
 *   advisory lock, since concurrent CREATE TABLE IF NOT EXISTS can fail on
 *   PostgreSQL's catalogue unique indexes.
 * - BEGIN, and savepoints inside a transaction (the group commit's
 *   SAVEPOINT and RELEASE SAVEPOINT around each work and each nested
 *   transaction), are not sent on their own: they wait in c->pending and go
 *   in one libpq pipeline with the next statement or the COMMIT, one round
 *   trip for all. A transaction with no statement sends nothing. They
 *   cannot fail on their own in an open transaction; if one does, its error
 *   is the statement's (which the server then skips).
 * - Server notices (e.g. "relation already exists, skipping") are dropped:
 *   the store never logs. */
#include "store_driver.h"

#include "err.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORE_PG_CACHE           256  /* prepared statements kept per connection */
#define STORE_PG_ATTEMPTS        4    /* tries of a statement hit by 40001/40P01 */
#define STORE_PG_PARAMS_MAX      64   /* parameters of one statement */
#define STORE_PG_CONNECT_TIMEOUT "10" /* seconds, unless the URL says otherwise */
#define STORE_PG_PENDING         8    /* savepoint commands waiting for a statement */
#define STORE_PG_PENDING_LEN     64   /* the longest one (with its NUL) */
/* Key of the advisory lock serialising schema migrations ("attest" in hex). */
#define STORE_PG_MIGRATION_KEY "617474657374"

/* Type OIDs (server catalog pg_type, stable across versions). */
#define OID_BYTEA 17
#define OID_INT8  20
#define OID_INT2  21
#define OID_INT4  23

struct pg_stmt {
	char *sql;
	uint64_t hash;
	char name[24];
};

struct pg_conn {
	PGconn *db;
	bool in_tx;        /* between a successful BEGIN and COMMIT/ROLLBACK */
	bool tx_write;     /* the open transaction's kind, to begin it again */
	unsigned tx_stmts; /* statements run since BEGIN */
	unsigned lock_ms;  /* lock_timeout of the session (0: the server's) */
	bool lazy;         /* synchronous_commit = off for the session */
	bool busy;         /* the last failure was a lock wait that ran out */
	bool broken;       /* a pipeline could not be sent whole: reconnect */
	bool begin_sent;   /* the open transaction's BEGIN left c->pending */
	size_t npending;   /* savepoint commands not sent yet (see top) */
	char pending[STORE_PG_PENDING][STORE_PG_PENDING_LEN];
	size_t ncache;
	struct pg_stmt cache[STORE_PG_CACHE];
	char msg[512];
};

static void ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* FNV-1a 64 of the SQL text: the prepared statement's name. */
static uint64_t sql_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* libpq's messages end with a newline; keep one line per part. */
static void set_msg(struct pg_conn *c, const char *what, const char *detail)
{
	snprintf(c->msg, sizeof(c->msg), "%s: %s", what,
	         detail && *detail ? detail : "unknown error");
	size_t n = strlen(c->msg);
	while (n > 0 && (c->msg[n - 1] == '\n' || c->msg[n - 1] == ' '))
		c->msg[--n] = 0;
	/* One line: newlines and tabs become single spaces. */
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = c->msg[i] == '\n' || c->msg[i] == '\t' ? ' ' : c->msg[i];
		if (ch == ' ' && o > 0 && c->msg[o - 1] == ' ')
			continue;
		c->msg[o++] = ch;
	}
	c->msg[o] = 0;
}

static void cache_clear(struct pg_conn *c)
{
	for (size_t i = 0; i < c->ncache; i++)
		free(c->cache[i].sql);
	c->ncache = 0;
}

static bool retryable(const char *sqlstate)
{
	return sqlstate && (strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "40P01") == 0);
}

/* Turn a failed result into ATTEST_E_* and a message. res may be NULL (no
 * result at all: the connection is gone or out of memory). */
static int map_result(struct pg_conn *c, const PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	/* 55P03 lock_not_available (lock_timeout), 57014 query_canceled. */
	c->busy = state && (strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0);
	if (!state || PQstatus(c->db) == CONNECTION_BAD) {
		/* No server error: libpq's own message (connection lost, ...). */
		const char *m = res ? PQresultErrorMessage(res) : "";
		char w[96];
		snprintf(w, sizeof(w), "postgresql: %s: %s", what,
		         PQstatus(c->db) == CONNECTION_BAD
		             ? "connection lost (reconnecting on the next call)"
		             : "no answer");
		set_msg(c, w, *m ? m : PQerrorMessage(c->db));
		return ATTEST_E_IO;
	}
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
	char detail[400];
	/* The primary message and the constraint, never DETAIL: it quotes row
	 * values (nonces, token hashes) that have no place in a log. */
	snprintf(detail, sizeof(detail), "%s (SQLSTATE %s%s%s)", primary ? primary : "error", state,
	         constraint ? ", constraint " : "", constraint ? constraint : "");
	set_msg(c, what, detail);
	if (strcmp(state, "23505") == 0)
		return ATTEST_E_EXISTS;
	if (strcmp(state, "23503") == 0)
		return ATTEST_E_STATE;
	if (strcmp(state, "23514") == 0 || strcmp(state, "23502") == 0)
		return ATTEST_E_ARG;
	if (strcmp(state, "53200") == 0)
		return ATTEST_E_NOMEM;
	return ATTEST_E_IO;
}

/* A savepoint command that may wait for the next statement (see top). */
static bool deferrable(const char *sql)
{
	return (strncmp(sql, "SAVEPOINT ", 10) == 0 ||
	        strncmp(sql, "RELEASE SAVEPOINT ", 18) == 0) &&
	       strchr(sql, ';') == NULL && strlen(sql) < STORE_PG_PENDING_LEN;
}

/* Collect the one result of a query sent in pipeline mode (NULL when the
 * connection broke). */
static PGresult *pipe_result(struct pg_conn *c)
{
	PGresult *res = PQgetResult(c->db), *more;
	while (res && (more = PQgetResult(c->db)) != NULL) /* NULL ends each query's */
		PQclear(more);
	return res;
}

/* Send the pending savepoint commands, then last (a prepared statement when
 * st is set, else with its text; NULL: none), in one pipeline, and read
 * their answers. *ret_res gets last's result (even a failed one). An error
 * of a pending command is the one returned (last then only says "aborted"). */
static int pipe_run(struct pg_conn *c, const struct pg_stmt *st, const char *last, int n,
                    const Oid *types, const char *const *values, const int *lengths,
                    const int *formats, PGresult **ret_res)
{
	size_t np = c->npending, sent = 0;
	int rc = 0;
	c->npending = 0;
	c->begin_sent = true;
	*ret_res = NULL;
	if (!PQenterPipelineMode(c->db)) {
		set_msg(c, "postgresql: pipeline", PQerrorMessage(c->db));
		return ATTEST_E_IO;
	}
	bool ok = true;
	for (size_t i = 0; ok && i < np; i++, sent++)
		ok = PQsendQueryParams(c->db, c->pending[i], 0, NULL, NULL, NULL, NULL, 0) == 1;
	if (ok && last) {
		ok =
		    st ? PQsendQueryPrepared(c->db, st->name, n, values, lengths, formats, 0) == 1
		       : PQsendQueryParams(c->db, last, n, types, values, lengths, formats, 0) == 1;
		sent += ok;
	}
	if (!ok || PQpipelineSync(c->db) != 1) {
		/* Part of it may be on its way without a sync point to answer
		 * it: the session is no use any more (the transaction fails;
		 * the next call outside one reconnects). */
		set_msg(c, "postgresql: pipeline", PQerrorMessage(c->db));
		c->broken = true;
		return ATTEST_E_IO;
	}
	for (size_t i = 0; i < sent; i++) {
		PGresult *res = pipe_result(c);
		ExecStatusType status = PQresultStatus(res);
		bool good = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
		if (i < np) {
			if (!good && rc == 0)
				rc = map_result(c, res, c->pending[i]);
			PQclear(res);
		} else {
			if (!good && rc == 0)
				rc = map_result(c, res, "query");
			*ret_res = res;
		}
	}
	PGresult *sync = PQgetResult(c->db); /* PGRES_PIPELINE_SYNC */
	if (PQresultStatus(sync) != PGRES_PIPELINE_SYNC) {
		if (rc == 0) {
			set_msg(c, "postgresql: pipeline", "no sync point in the answer");
			rc = ATTEST_E_IO;
		}
		c->broken = true;
	}
	PQclear(sync);
	/* Fails only when answers are left (a broken connection): the next
	 * call's PQreset leaves pipeline mode with it. */
	(void)PQexitPipelineMode(c->db);
	return rc;
}

/* Send the pending savepoint commands now (before a command that goes on
 * its own). */
static int flush_pending(struct pg_conn *c)
{
	if (c->npending == 0)
		return 0;
	PGresult *res = NULL;
	int rc = pipe_run(c, NULL, NULL, 0, NULL, NULL, NULL, NULL, &res);
	PQclear(res);
	return rc;
}

/* Run a command without parameters or rows (BEGIN, COMMIT, ...). */
static int exec_cmd(struct pg_conn *c, const char *sql)
{
	int rc = flush_pending(c);
	if (rc)
		return rc;
	PGresult *res = PQexec(c->db, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = map_result(c, res, sql);
	PQclear(res);
	return rc;
}

/* The session's lock_timeout (c->lock_ms; 0 leaves the server's). */
static int apply_lock_wait(struct pg_conn *c)
{
	if (c->lock_ms == 0)
		return 0;
	char sql[64];
	snprintf(sql, sizeof sql, "SET lock_timeout = %u", c->lock_ms);
	return exec_cmd(c, sql);
}

/* Outside a transaction, a connection that broke is opened again. */
static int ensure_connected(struct pg_conn *c)
{
	if (PQstatus(c->db) == CONNECTION_OK && !c->broken)
		return 0;
	if (c->in_tx) {
		set_msg(c, "postgresql", "connection lost inside a transaction");
		return ATTEST_E_IO;
	}
	cache_clear(c); /* the server forgot the prepared statements */
	c->broken = false;
	c->npending = 0;
	PQreset(c->db);
	if (PQstatus(c->db) != CONNECTION_OK) {
		set_msg(c, "postgresql: reconnect", PQerrorMessage(c->db));
		return ATTEST_E_IO;
	}
	int rc = apply_lock_wait(c); /* a new session: its settings again */
	if (rc == 0 && c->lazy)
		rc = exec_cmd(c, "SET synchronous_commit = off");
	return rc;
}

static void pg_close(void *conn)
{
	struct pg_conn *c = conn;
	if (!c)
		return;
	cache_clear(c);
	PQfinish(c->db);
	free(c);
}

static int pg_open(const char *target, void **ret_conn, char **ret_err)
{
	/* Later keywords override earlier ones: the URL may set its own
	 * timeout and application name; the encoding is always UTF-8. */
	const char *const keys[] = {"connect_timeout", "fallback_application_name", "dbname",
	                            "client_encoding", NULL};
	const char *const vals[] = {STORE_PG_CONNECT_TIMEOUT, "attest-verifier", target, "UTF8",
	                            NULL};
	if (!target || !*target)
		return ATTEST_E_ARG;
	struct pg_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return ATTEST_E_NOMEM;
	c->db = PQconnectdbParams(keys, vals, 1);
	if (!c->db) {
		free(c);
		return ATTEST_E_NOMEM;
	}
	if (PQstatus(c->db) != CONNECTION_OK) {
		set_msg(c, "postgresql", PQerrorMessage(c->db));
		if (ret_err)
			*ret_err = strdup(c->msg);
		pg_close(c);
		return ATTEST_E_IO;
	}
	PQsetNoticeProcessor(c->db, ignore_notice, NULL);
	*ret_conn = c;
	return 0;
}

static const char *begin_sql(bool write)
{
	/* Reads see one snapshot; writes rely on row locks (see top). */
	return write ? "BEGIN ISOLATION LEVEL READ COMMITTED"
	             : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
}

static int pg_begin(void *conn, bool write)
{
	struct pg_conn *c = conn;
	int rc = ensure_connected(c);
	if (rc)
		return rc;
	if (c->in_tx || PQtransactionStatus(c->db) != PQTRANS_IDLE) {
		set_msg(c, "BEGIN", "a transaction is already open");
		return ATTEST_E_STATE;
	}
	/* Sent with the first statement (see top). */
	snprintf(c->pending[0], STORE_PG_PENDING_LEN, "%s", begin_sql(write));
	c->npending = 1;
	c->begin_sent = false;
	c->in_tx = true;
	c->tx_write = write;
	c->tx_stmts = 0;
	return 0;
}

static void pg_rollback(void *conn)
{
	struct pg_conn *c = conn;
	c->in_tx = false;
	c->npending = 0; /* its BEGIN or savepoints: never sent */
	if (!c->broken && PQstatus(c->db) == CONNECTION_OK &&
	    PQtransactionStatus(c->db) != PQTRANS_IDLE) {
		PGresult *res = PQexec(c->db, "ROLLBACK");
		PQclear(res);
	}
}

static int pg_commit(void *conn)
{
	struct pg_conn *c = conn;
	if (!c->in_tx) {
		set_msg(c, "COMMIT", "no transaction is open");
		return ATTEST_E_STATE;
	}
	if (!c->begin_sent) { /* no statement: nothing was sent */
		c->npending = 0;
		c->in_tx = false;
		return 0;
	}
	/* COMMIT of a failed transaction "succeeds" as a ROLLBACK: refuse it. */
	if (PQtransactionStatus(c->db) != PQTRANS_INTRANS) {
		set_msg(c, "COMMIT", "the transaction failed earlier and was not committed");
		return ATTEST_E_IO;
	}
	PGresult *res = NULL;
	int rc = 0;
	if (c->npending) /* the last RELEASE SAVEPOINT goes with the COMMIT */
		rc = pipe_run(c, NULL, "COMMIT", 0, NULL, NULL, NULL, NULL, &res);
	else
		res = PQexec(c->db, "COMMIT");
	if (rc)
		; /* the pending command's or the COMMIT's error, said */
	else if (PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = map_result(c, res, "COMMIT");
	else if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		set_msg(c, "COMMIT", "the server rolled the transaction back");
		rc = ATTEST_E_IO;
	}
	PQclear(res);
	if (rc == 0)
		c->in_tx = false;
	return rc;
}

static int pg_script(void *conn, const char *sql)
{
	struct pg_conn *c = conn;
	int rc = ensure_connected(c);
	if (rc)
		return rc;
	if (c->in_tx) {
		/* A statement of the transaction (a savepoint of a group commit):
		 * a later deadlock must not replay the transaction from BEGIN. */
		c->tx_stmts++;
		if (deferrable(sql) && c->npending < STORE_PG_PENDING) {
			snprintf(c->pending[c->npending++], STORE_PG_PENDING_LEN, "%s", sql);
			return 0;
		}
		return exec_cmd(c, sql);
	}
	/* Alone: atomically, one instance at a time (see top). */
	if ((rc = pg_begin(c, true)) ||
	    (rc = exec_cmd(c, "SELECT pg_advisory_xact_lock(" STORE_PG_MIGRATION_KEY ")")) ||
	    (rc = exec_cmd(c, sql)) || (rc = pg_commit(c))) {
		pg_rollback(c);
		return rc;
	}
	return 0;
}

/* The cached prepared statement for sql, preparing it if new. *ret is NULL
 * when the cache is full (the statement then runs unprepared). */
static int get_stmt(struct pg_conn *c, const char *sql, int nparams, const Oid *types,
                    const struct pg_stmt **ret)
{
	uint64_t h = sql_hash(sql);
	*ret = NULL;
	for (size_t i = 0; i < c->ncache; i++) {
		if (c->cache[i].hash == h && strcmp(c->cache[i].sql, sql) == 0) {
			*ret = &c->cache[i];
			return 0;
		}
	}
	if (c->ncache == STORE_PG_CACHE)
		return 0;
	struct pg_stmt *st = &c->cache[c->ncache];
	/* A different text with the same hash gets the next free name. */
	snprintf(st->name, sizeof(st->name), "a%016llx_%zu", (unsigned long long)h, c->ncache);
	st->sql = strdup(sql);
	if (!st->sql)
		return ATTEST_E_NOMEM;
	st->hash = h;
	PGresult *res = PQprepare(c->db, st->name, sql, nparams, types);
	int rc = 0;
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = map_result(c, res, "prepare");
	PQclear(res);
	if (rc) {
		free(st->sql);
		st->sql = NULL;
		return rc;
	}
	c->ncache++;
	*ret = st;
	return 0;
}

static int parse_int(const char *s, int64_t *ret)
{
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return ATTEST_E_FORMAT;
	*ret = v;
	return 0;
}

static int copy_cell(struct pg_conn *c, const PGresult *res, int r, int col,
                     struct store_cell *cell)
{
	if (PQgetisnull(res, r, col)) {
		cell->type = STORE_V_NULL;
		return 0;
	}
	const char *v = PQgetvalue(res, r, col);
	Oid type = PQftype(res, col);
	if (type == OID_INT8 || type == OID_INT4 || type == OID_INT2) {
		cell->type = STORE_V_INT;
		if (parse_int(v, &cell->i)) {
			set_msg(c, "result", "integer column does not parse");
			return ATTEST_E_FORMAT;
		}
		return 0;
	}
	const unsigned char *p = (const unsigned char *)v;
	size_t n = (size_t)PQgetlength(res, r, col);
	unsigned char *unesc = NULL;
	if (type == OID_BYTEA) {
		unesc = PQunescapeBytea(p, &n);
		if (!unesc)
			return ATTEST_E_NOMEM;
		p = unesc;
	}
	cell->p = malloc(n + 1);
	if (!cell->p) {
		PQfreemem(unesc);
		return ATTEST_E_NOMEM;
	}
	if (n)
		memcpy(cell->p, p, n);
	cell->p[n] = 0;
	cell->len = n;
	cell->type = type == OID_BYTEA ? STORE_V_BLOB : STORE_V_TEXT;
	PQfreemem(unesc);
	return 0;
}

static int rows_from_result(struct pg_conn *c, const PGresult *res, size_t max_rows,
                            struct store_rows **ret)
{
	size_t nrows = (size_t)PQntuples(res);
	if (nrows > max_rows) {
		snprintf(c->msg, sizeof(c->msg), "more than %zu rows", max_rows);
		return ATTEST_E_LIMIT;
	}
	struct store_rows *rows = calloc(1, sizeof(*rows));
	if (!rows)
		return ATTEST_E_NOMEM;
	rows->ncols = (size_t)PQnfields(res);
	for (size_t r = 0; r < nrows; r++) {
		struct store_cell *row = store_rows_add_row(rows);
		if (!row) {
			store_rows_free(rows);
			return ATTEST_E_NOMEM;
		}
		for (size_t i = 0; i < rows->ncols; i++) {
			int rc = copy_cell(c, res, (int)r, (int)i, &row[i]);
			if (rc) {
				store_rows_free(rows);
				return rc;
			}
		}
	}
	*ret = rows;
	return 0;
}

/* Run the statement once. *ret_res gets the result, even a failed one. */
static int run_once(struct pg_conn *c, const char *sql, int n, const Oid *types,
                    const char *const *values, const int *lengths, const int *formats,
                    PGresult **ret_res)
{
	const struct pg_stmt *st = NULL;
	/* (A protocol-level prepare is not transactional: it may go before
	 * the pending savepoints.) */
	int rc = get_stmt(c, sql, n, types, &st);
	if (rc)
		return rc;
	if (c->npending) /* the savepoints and the statement: one round trip */
		return pipe_run(c, st, sql, n, types, values, lengths, formats, ret_res);
	if (st)
		*ret_res = PQexecPrepared(c->db, st->name, n, values, lengths, formats, 0);
	else
		*ret_res = PQexecParams(c->db, sql, n, types, values, lengths, formats, 0);
	ExecStatusType status = PQresultStatus(*ret_res);
	if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
		return 0;
	return map_result(c, *ret_res, "query");
}

static int pg_query(void *conn, const char *sql, const struct store_value *params, size_t n,
                    size_t max_rows, struct store_rows **ret_rows, int64_t *ret_changes)
{
	struct pg_conn *c = conn;
	Oid types[STORE_PG_PARAMS_MAX];
	const char *values[STORE_PG_PARAMS_MAX];
	int lengths[STORE_PG_PARAMS_MAX], formats[STORE_PG_PARAMS_MAX];
	char ints[STORE_PG_PARAMS_MAX][24];
	PGresult *res = NULL;
	int rc;

	if (n > STORE_PG_PARAMS_MAX) {
		set_msg(c, "query", "too many parameters");
		return ATTEST_E_LIMIT;
	}
	if ((rc = ensure_connected(c)))
		return rc;
	for (size_t i = 0; i < n; i++) {
		const struct store_value *v = &params[i];
		types[i] = 0; /* the statement decides */
		values[i] = NULL;
		lengths[i] = 0;
		formats[i] = 0;
		switch (v->type) {
		case STORE_V_INT:
			snprintf(ints[i], sizeof(ints[i]), "%lld", (long long)v->i);
			values[i] = ints[i];
			break;
		case STORE_V_TEXT: values[i] = v->p; break;
		case STORE_V_BLOB:
			if (v->len > INT32_MAX)
				return ATTEST_E_LIMIT;
			types[i] = OID_BYTEA;
			formats[i] = 1; /* raw bytes, no escaping */
			lengths[i] = (int)v->len;
			values[i] = v->p ? (v->len ? v->p : "") : NULL;
			break;
		default: break;
		}
	}

	for (unsigned attempt = 1;; attempt++) {
		bool first = c->tx_stmts == 0;
		rc = run_once(c, sql, (int)n, types, values, lengths, formats, &res);
		if (c->in_tx)
			c->tx_stmts++;
		const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		if (rc == 0 || !retryable(state) || attempt == STORE_PG_ATTEMPTS ||
		    (c->in_tx && !first))
			break;
		/* Deadlock victim or serialization failure in a statement that
		 * may run again: the whole (so far one-statement) transaction. */
		PQclear(res);
		res = NULL;
		if (c->in_tx) {
			bool write = c->tx_write;
			pg_rollback(c);
			if ((rc = pg_begin(c, write)))
				return rc;
		}
	}
	if (rc) {
		if (retryable(res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL)) {
			size_t len = strlen(c->msg);
			snprintf(c->msg + len, sizeof(c->msg) - len, ", gave up after retrying");
		}
		PQclear(res);
		return rc;
	}
	if (ret_rows)
		rc = rows_from_result(c, res, max_rows, ret_rows);
	if (rc == 0 && ret_changes) {
		/* Rows inserted/updated/deleted; a SELECT changes none. */
		const char *status = PQcmdStatus(res);
		const char *tuples = PQcmdTuples(res);
		*ret_changes = 0;
		if (strncmp(status, "SELECT", 6) != 0 && *tuples && parse_int(tuples, ret_changes))
			rc = ATTEST_E_FORMAT;
	}
	PQclear(res);
	return rc;
}

static const char *pg_errmsg(void *conn)
{
	struct pg_conn *c = conn;
	return c->msg;
}

static bool pg_busy(void *conn)
{
	struct pg_conn *c = conn;
	return c->busy;
}

static int pg_set_lock_wait(void *conn, unsigned ms)
{
	struct pg_conn *c = conn;
	c->lock_ms = ms;
	if (PQstatus(c->db) != CONNECTION_OK)
		return 0; /* applied when it reconnects */
	return apply_lock_wait(c);
}

static int pg_set_sync(void *conn, bool full)
{
	struct pg_conn *c = conn;
	c->lazy = !full;
	if (PQstatus(c->db) != CONNECTION_OK)
		return 0; /* applied when it reconnects */
	return exec_cmd(c, full ? "SET synchronous_commit = on" : "SET synchronous_commit = off");
}

/* For the open transaction only (a statement of it: never replayed). */
static int pg_durable(void *conn)
{
	struct pg_conn *c = conn;
	if (!c->lazy || !c->in_tx)
		return 0;
	c->tx_stmts++;
	return exec_cmd(c, "SET LOCAL synchronous_commit = on");
}

static bool pg_in_tx(void *conn)
{
	struct pg_conn *c = conn;
	PGTransactionStatusType t = PQtransactionStatus(c->db);
	if (c->in_tx && !c->begin_sent) /* its BEGIN waits for a statement */
		return !c->broken && PQstatus(c->db) == CONNECTION_OK;
	return !c->broken && PQstatus(c->db) == CONNECTION_OK &&
	       (t == PQTRANS_INTRANS || t == PQTRANS_INERROR);
}

const struct store_driver store_pg_driver = {
    .name = "postgresql",
    .id_type = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    .blob_type = "BYTEA",
    .lock_suffix = " FOR UPDATE",
    .skip_locked = " FOR UPDATE SKIP LOCKED",
    .migration_lock = "SELECT pg_advisory_xact_lock(" STORE_PG_MIGRATION_KEY ")",
    .error_aborts_tx = true,
    .open = pg_open,
    .close = pg_close,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .script = pg_script,
    .query = pg_query,
    .errmsg = pg_errmsg,
    .busy = pg_busy,
    .set_lock_wait = pg_set_lock_wait,
    .in_tx = pg_in_tx,
    .set_sync = pg_set_sync,
    .durable = pg_durable,
};
