/* SQLite driver for the store (store_driver.h).
 *
 * Settings, chosen for a verifier that must survive kill -9 and share the
 * file with other connections:
 * - journal_mode=WAL: readers never block the writer and a crash at any
 *   point leaves the last committed transaction intact;
 * - synchronous=FULL by default: each commit is fsync'ed to the WAL before
 *   it returns, so it also survives power loss or an OS crash, not only a
 *   killed process. store_set_sync(s, false) sets NORMAL (enough for
 *   kill -9; power loss may roll back the last commits), except for a
 *   transaction marked durable (store_durable): the WAL is fsync'ed right
 *   after its COMMIT, which is what FULL does for every commit
 *   (docs/storage.md, "Durability"). Cost of FULL: one fsync per commit;
 * - busy_timeout: a writer waits up to STORE_SQLITE_BUSY_MS for another
 *   connection's write transaction instead of failing at once;
 * - foreign_keys=ON: SQLite leaves them off by default;
 * - temp_store=MEMORY: the statement journal of a savepoint (each work of
 *   the storage writer's group commit runs under one) stays in memory.
 *   SQLite keeps it in memory up to 64 KiB and then moves it to a deleted
 *   temporary file for the rest of the transaction, so a group whose works
 *   once passed that size wrote every page each later work changed to that
 *   file before changing it (a pwrite of 4 KiB each: two thirds of the
 *   verifier's write calls at 2,000 hosts). In memory it holds one work's
 *   pages at most, released with its savepoint. Temporary tables and
 *   sorts larger than the page cache also stay in memory: the store's
 *   largest (the fleet view sorting every host) is a few MB at 10,000;
 * - write transactions start with BEGIN IMMEDIATE, taking the write lock
 *   before the first read, so a read-then-write transaction never has to
 *   upgrade its lock (in WAL mode an upgrade can fail with SQLITE_BUSY
 *   without waiting) and concurrent writers are strictly serialised, which
 *   is what makes the store's compare-then-write transactions exclusive.
 * Prepared statements are cached per connection (keyed by SQL text). */
#include "store_driver.h"

#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STORE_SQLITE_BUSY_MS 10000
#define STORE_SQLITE_CACHE   128
#define STORE_SQLITE_PARAMS  32 /* $1..$n mapped at prepare; more: looked up by name */

struct sqlite_conn {
	sqlite3 *db;
	struct {
		char *sql;
		uint32_t hash; /* of sql: most lookups compare no text but the hit's */
		sqlite3_stmt *stmt;
		int nparams;
		unsigned char idx[STORE_SQLITE_PARAMS]; /* $i+1's bind index, 0: by name */
	} cache[STORE_SQLITE_CACHE];
	size_t next_evict;
	char msg[256];
	bool busy;     /* the last failure was a lock wait that ran out */
	bool lazy;     /* synchronous=NORMAL */
	bool sync_due; /* fsync the WAL once the open transaction commits */
};

static void set_msg(struct sqlite_conn *c, const char *what)
{
	snprintf(c->msg, sizeof(c->msg), "%s: %s", what,
	         c->db ? sqlite3_errmsg(c->db) : "no database");
}

/* Map SQLite's extended result code of the last failure to ATTEST_E_*. */
static int map_error(struct sqlite_conn *c, const char *what)
{
	set_msg(c, what);
	int prim = sqlite3_extended_errcode(c->db) & 0xff;
	c->busy = prim == SQLITE_BUSY || prim == SQLITE_LOCKED;
	switch (sqlite3_extended_errcode(c->db)) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY: return ATTEST_E_EXISTS;
	case SQLITE_CONSTRAINT_FOREIGNKEY: return ATTEST_E_STATE;
	case SQLITE_CONSTRAINT_CHECK:
	case SQLITE_CONSTRAINT_NOTNULL: return ATTEST_E_ARG;
	case SQLITE_NOMEM: return ATTEST_E_NOMEM;
	default: return ATTEST_E_IO;
	}
}

static int get_stmt(struct sqlite_conn *c, const char *sql, sqlite3_stmt **ret, size_t *ret_slot);

/* One statement without parameters or rows (BEGIN, COMMIT, SAVEPOINT ...):
 * from the statement cache, not parsed again at every call as
 * sqlite3_exec does (a group commit runs four of them per work). Text with
 * several statements goes to sqlite3_exec. */
static int exec_simple(struct sqlite_conn *c, const char *sql)
{
	sqlite3_stmt *st = NULL;
	size_t slot = 0;
	if (strchr(sql, ';') == NULL && get_stmt(c, sql, &st, &slot) == 0) {
		int rc = sqlite3_step(st);
		if (rc != SQLITE_DONE && rc != SQLITE_ROW)
			rc = map_error(c, sql);
		else
			rc = 0;
		sqlite3_reset(st);
		return rc;
	}
	if (sqlite3_exec(c->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return map_error(c, sql);
	return 0;
}

static void sqlite_close(void *conn)
{
	struct sqlite_conn *c = conn;
	if (!c)
		return;
	for (size_t i = 0; i < STORE_SQLITE_CACHE; i++) {
		sqlite3_finalize(c->cache[i].stmt);
		free(c->cache[i].sql);
	}
	sqlite3_close(c->db);
	free(c);
}

static char *dup_msg(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 3;
	char *m = malloc(n);
	if (m)
		snprintf(m, n, "%s: %s", a, b);
	return m;
}

/* Create a new database file with mode 0600 (SQLite would use the umask);
 * its -wal and -shm files take the same mode. An existing file is left as
 * it is. */
static int precreate(const char *path, char **ret_err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	if (ret_err)
		*ret_err = dup_msg(path, strerror(errno));
	return ATTEST_E_IO;
}

/* The journal mode of the connection's database ("wal", "delete", ...)
 * after running pragma (a query or a change) into buf; the SQLite result
 * code of the step. */
static int journal_mode(struct sqlite_conn *c, const char *pragma, char *buf, size_t cap)
{
	sqlite3_stmt *st = NULL;
	buf[0] = 0;
	int rc = sqlite3_prepare_v2(c->db, pragma, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW && sqlite3_column_text(st, 0))
			snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	return rc;
}

/* Put the database in WAL mode (persistent: done once per file). Switching
 * a new file needs it to itself for an instant; several processes opening
 * the same new file at once (verifier instances starting together) can find
 * it busy while another switches it, without SQLite's busy handler running.
 * So: look first, switch, and on a busy answer look again a bounded number
 * of times (at most about 2 s, at open only) until one of them has done it. */
static int ensure_wal(struct sqlite_conn *c, char **ret_err, const char *path)
{
	char mode[16];
	int rc = SQLITE_OK;
	for (int attempt = 0; attempt < 100; attempt++) {
		rc = journal_mode(c, "PRAGMA journal_mode", mode, sizeof mode);
		if (rc == SQLITE_ROW && strcmp(mode, "wal") == 0)
			return 0;
		if (rc == SQLITE_ROW)
			rc = journal_mode(c, "PRAGMA journal_mode = WAL", mode, sizeof mode);
		if (rc == SQLITE_ROW && strcmp(mode, "wal") == 0)
			return 0;
		bool busy = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED ||
		            (rc == SQLITE_ROW && strcmp(mode, "wal") != 0);
		if (!busy)
			break;
		struct timespec ts = {.tv_sec = 0, .tv_nsec = 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (ret_err)
		*ret_err = dup_msg(path, rc == SQLITE_ROW ? "cannot switch the database to WAL mode"
		                                          : sqlite3_errmsg(c->db));
	return ATTEST_E_IO;
}

static int sqlite_open(const char *path, void **ret_conn, char **ret_err)
{
	static const char *const setup[] = {
	    "PRAGMA foreign_keys = ON",
	    "PRAGMA synchronous = FULL",
	    "PRAGMA temp_store = MEMORY",
	};
	if (!path || !*path)
		return ATTEST_E_ARG;
	if (strcmp(path, ":memory:") != 0) {
		int rc = precreate(path, ret_err);
		if (rc)
			return rc;
	}
	struct sqlite_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return ATTEST_E_NOMEM;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	int rc = ATTEST_E_IO;
	if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
		if (ret_err)
			*ret_err = dup_msg(path, c->db ? sqlite3_errmsg(c->db) : "cannot open");
		goto fail;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, STORE_SQLITE_BUSY_MS);

	/* journal_mode answers with the mode it got; anything but "wal" (e.g. a
	 * file system without shared memory) is refused rather than run with
	 * weaker guarantees than documented. */
	bool mem = strcmp(path, ":memory:") == 0;
	if (!mem && ensure_wal(c, ret_err, path) < 0)
		goto fail;
	for (size_t i = 0; i < sizeof(setup) / sizeof(setup[0]); i++) {
		rc = exec_simple(c, setup[i]);
		if (rc) {
			if (ret_err)
				*ret_err = dup_msg(path, c->msg);
			goto fail;
		}
	}
	*ret_conn = c;
	return 0;
fail:
	sqlite_close(c);
	return rc ? rc : ATTEST_E_IO;
}

/* What FULL does after a commit: the WAL (holding the committed frames) to
 * disk. */
static int wal_sync(struct sqlite_conn *c)
{
	sqlite3_file *f = NULL;
	c->sync_due = false;
	if (sqlite3_file_control(c->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &f) != SQLITE_OK ||
	    f == NULL || f->pMethods == NULL) {
		snprintf(c->msg, sizeof c->msg, "sync: the write-ahead log is not open");
		return ATTEST_E_IO;
	}
	if (f->pMethods->xSync(f, SQLITE_SYNC_NORMAL) != SQLITE_OK) {
		snprintf(c->msg, sizeof c->msg, "sync: fsync of the write-ahead log failed");
		return ATTEST_E_IO;
	}
	return 0;
}

static int sqlite_set_sync(void *conn, bool full)
{
	struct sqlite_conn *c = conn;
	int rc = exec_simple(c, full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
	if (rc == 0)
		c->lazy = !full;
	return rc;
}

static int sqlite_durable(void *conn)
{
	struct sqlite_conn *c = conn;
	c->sync_due = c->lazy;
	return 0;
}

static int sqlite_begin(void *conn, bool write)
{
	return exec_simple(conn, write ? "BEGIN IMMEDIATE" : "BEGIN");
}

static int sqlite_commit(void *conn)
{
	struct sqlite_conn *c = conn;
	int rc = exec_simple(c, "COMMIT");
	if (rc == 0 && c->sync_due)
		rc = wal_sync(c); /* committed, but not known to be on disk */
	return rc;
}

static void sqlite_rollback(void *conn)
{
	struct sqlite_conn *c = conn;
	c->sync_due = false;
	/* Some errors (e.g. SQLITE_FULL) already rolled back: only roll back
	 * what is still open. */
	if (!sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

static int sqlite_script(void *conn, const char *sql)
{
	struct sqlite_conn *c = conn;
	if (strchr(sql, ';') == NULL)
		return exec_simple(c, sql);
	if (sqlite3_exec(c->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return map_error(c, "schema");
	return 0;
}

/* FNV-1a of the SQL text. */
static uint32_t sql_hash(const char *sql)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)sql; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h;
}

/* A prepared statement for sql from the cache, or newly prepared; *ret_slot:
 * its cache slot. */
static int get_stmt(struct sqlite_conn *c, const char *sql, sqlite3_stmt **ret, size_t *ret_slot)
{
	uint32_t h = sql_hash(sql);
	for (size_t i = 0; i < STORE_SQLITE_CACHE; i++) {
		if (c->cache[i].sql && c->cache[i].hash == h && strcmp(c->cache[i].sql, sql) == 0) {
			*ret = c->cache[i].stmt;
			*ret_slot = i;
			return 0;
		}
	}
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
		return map_error(c, "prepare");
	char *copy = strdup(sql);
	if (!copy) {
		sqlite3_finalize(st);
		return ATTEST_E_NOMEM;
	}
	size_t slot = c->next_evict;
	c->next_evict = (c->next_evict + 1) % STORE_SQLITE_CACHE;
	sqlite3_finalize(c->cache[slot].stmt);
	free(c->cache[slot].sql);
	c->cache[slot].sql = copy;
	c->cache[slot].hash = h;
	c->cache[slot].stmt = st;
	/* $1..$n by name once here, not at every bind. */
	c->cache[slot].nparams = sqlite3_bind_parameter_count(st);
	for (int i = 0; i < STORE_SQLITE_PARAMS; i++) {
		char name[24];
		snprintf(name, sizeof(name), "$%d", i + 1);
		int idx = i < c->cache[slot].nparams ? sqlite3_bind_parameter_index(st, name) : 0;
		c->cache[slot].idx[i] = idx > 0 && idx <= 255 ? (unsigned char)idx : 0;
	}
	*ret = st;
	*ret_slot = slot;
	return 0;
}

/* Bind $1..$n by name: a statement may use a parameter several times or in
 * any order, as PostgreSQL allows. */
static int bind_params(struct sqlite_conn *c, size_t slot, const struct store_value *params,
                       size_t n)
{
	sqlite3_stmt *st = c->cache[slot].stmt;
	if ((size_t)c->cache[slot].nparams != n) {
		snprintf(c->msg, sizeof(c->msg), "statement expects %d parameters, got %zu",
		         c->cache[slot].nparams, n);
		return ATTEST_E_ARG;
	}
	for (size_t i = 0; i < n; i++) {
		char name[24] = "";
		int idx = i < STORE_SQLITE_PARAMS ? c->cache[slot].idx[i] : 0;
		if (idx == 0) {
			snprintf(name, sizeof(name), "$%zu", i + 1);
			idx = sqlite3_bind_parameter_index(st, name);
		}
		if (idx == 0) {
			snprintf(c->msg, sizeof(c->msg), "statement has no parameter %s", name);
			return ATTEST_E_ARG;
		}
		int rc;
		const struct store_value *v = &params[i];
		switch (v->type) {
		case STORE_V_INT: rc = sqlite3_bind_int64(st, idx, v->i); break;
		case STORE_V_TEXT:
			rc = v->p ? sqlite3_bind_text(st, idx, v->p, -1, SQLITE_STATIC)
			          : sqlite3_bind_null(st, idx);
			break;
		case STORE_V_BLOB:
			if (v->len > INT32_MAX)
				return ATTEST_E_LIMIT;
			rc = v->p ? sqlite3_bind_blob(st, idx, v->p, (int)v->len, SQLITE_STATIC)
			          : sqlite3_bind_null(st, idx);
			break;
		default: rc = sqlite3_bind_null(st, idx); break;
		}
		if (rc != SQLITE_OK)
			return map_error(c, "bind");
	}
	return 0;
}

static int copy_cell(sqlite3_stmt *st, int col, struct store_cell *cell)
{
	switch (sqlite3_column_type(st, col)) {
	case SQLITE_INTEGER:
		cell->type = STORE_V_INT;
		cell->i = sqlite3_column_int64(st, col);
		return 0;
	case SQLITE_NULL: cell->type = STORE_V_NULL; return 0;
	case SQLITE_TEXT:
	case SQLITE_BLOB: {
		bool text = sqlite3_column_type(st, col) == SQLITE_TEXT;
		const void *p = text ? (const void *)sqlite3_column_text(st, col)
		                     : sqlite3_column_blob(st, col);
		int n = sqlite3_column_bytes(st, col);
		if (n < 0 || (!p && n > 0))
			return ATTEST_E_NOMEM;
		cell->p = malloc((size_t)n + 1);
		if (!cell->p)
			return ATTEST_E_NOMEM;
		if (n)
			memcpy(cell->p, p, (size_t)n);
		cell->p[n] = 0;
		cell->len = (size_t)n;
		cell->type = text ? STORE_V_TEXT : STORE_V_BLOB;
		return 0;
	}
	default: /* REAL: the schema has none */ return ATTEST_E_FORMAT;
	}
}

static int sqlite_query(void *conn, const char *sql, const struct store_value *params, size_t n,
                        size_t max_rows, struct store_rows **ret_rows, int64_t *ret_changes)
{
	struct sqlite_conn *c = conn;
	sqlite3_stmt *st = NULL;
	struct store_rows *rows = NULL;
	size_t slot = 0;
	int rc = get_stmt(c, sql, &st, &slot);
	if (rc)
		return rc;
	rc = bind_params(c, slot, params, n);
	if (rc)
		goto out;
	rows = calloc(1, sizeof(*rows));
	if (!rows) {
		rc = ATTEST_E_NOMEM;
		goto out;
	}
	rows->ncols = (size_t)sqlite3_column_count(st);
	for (;;) {
		int s = sqlite3_step(st);
		if (s == SQLITE_DONE)
			break;
		if (s != SQLITE_ROW) {
			rc = map_error(c, "step");
			goto out;
		}
		if (!ret_rows)
			continue; /* rows not wanted (e.g. SELECT ... FOR UPDATE) */
		if (rows->nrows >= max_rows) {
			snprintf(c->msg, sizeof(c->msg), "more than %zu rows", max_rows);
			rc = ATTEST_E_LIMIT;
			goto out;
		}
		struct store_cell *row = store_rows_add_row(rows);
		if (!row) {
			rc = ATTEST_E_NOMEM;
			goto out;
		}
		for (size_t i = 0; i < rows->ncols; i++) {
			rc = copy_cell(st, (int)i, &row[i]);
			if (rc)
				goto out;
		}
	}
	if (ret_changes)
		*ret_changes = sqlite3_stmt_readonly(st) ? 0 : (int64_t)sqlite3_changes64(c->db);
	if (c->sync_due && sqlite3_get_autocommit(c->db))
		rc = wal_sync(c); /* a statement outside a transaction */
	if (ret_rows) {
		*ret_rows = rows;
		rows = NULL;
	}
out:
	store_rows_free(rows);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

static const char *sqlite_errmsg(void *conn)
{
	struct sqlite_conn *c = conn;
	return c->msg;
}

static bool sqlite_busy(void *conn)
{
	struct sqlite_conn *c = conn;
	return c->busy;
}

static int sqlite_set_lock_wait(void *conn, unsigned ms)
{
	struct sqlite_conn *c = conn;
	return sqlite3_busy_timeout(c->db, (int)ms) == SQLITE_OK ? 0 : ATTEST_E_IO;
}

static bool sqlite_in_tx(void *conn)
{
	struct sqlite_conn *c = conn;
	return !sqlite3_get_autocommit(c->db);
}

const struct store_driver store_sqlite_driver = {
    .name = "sqlite",
    .id_type = "INTEGER PRIMARY KEY AUTOINCREMENT",
    .blob_type = "BLOB",
    .lock_suffix = "",
    .skip_locked = "",
    .migration_lock = "",
    .open = sqlite_open,
    .close = sqlite_close,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .script = sqlite_script,
    .query = sqlite_query,
    .errmsg = sqlite_errmsg,
    .busy = sqlite_busy,
    .set_lock_wait = sqlite_set_lock_wait,
    .in_tx = sqlite_in_tx,
    .set_sync = sqlite_set_sync,
    .durable = sqlite_durable,
};
