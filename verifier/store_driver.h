/* Internal to the store: what a database backend provides.
 *
 * All of the store's semantics (schema, migrations, transactions, every SQL
 * statement) are written once, in store*.c, in the SQL that SQLite and
 * PostgreSQL share. A backend is a driver: connect, run a statement with
 * bound parameters and hand back the rows, run a transaction, and say how its
 * dialect spells the few things that differ. store_sqlite.c is one;
 * a store_pg.c (libpq) is the second.
 *
 * SQL conventions every statement follows so both drivers run it unchanged:
 * - parameters are written $1, $2, ... (PostgreSQL's form; SQLite accepts
 *   them as named parameters and the SQLite driver binds them by name);
 *   values are never pasted into SQL text;
 * - types: BIGINT for integers and unix-second timestamps, TEXT (JSON as
 *   TEXT), booleans as INTEGER 0/1; the schema's two dialect words are
 *   written {ID} (auto-increment primary key) and {BLOB};
 * - INSERT ... RETURNING, ON CONFLICT DO NOTHING, partial unique indexes,
 *   LIMIT/OFFSET: supported by both (SQLite >= 3.35);
 * - row locks are asked for with the driver's lock_suffix / skip_locked
 *   strings (empty for SQLite, whose write transactions are exclusive). */
#ifndef ATTEST_STORE_DRIVER_H
#define ATTEST_STORE_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum store_vtype { STORE_V_NULL = 0, STORE_V_INT, STORE_V_TEXT, STORE_V_BLOB };

/* A parameter value. Text is NUL-terminated (len unused); blobs use len. */
struct store_value {
	enum store_vtype type;
	int64_t i;
	const void *p;
	size_t len;
};

/* One cell of a result. Text and blob cells own p (malloc'd, with a NUL after
 * the len bytes so text can be used as a C string). */
struct store_cell {
	enum store_vtype type;
	int64_t i;
	uint8_t *p;
	size_t len;
};

/* A whole result set, row-major: cell (r, c) is cells[r * ncols + c]. */
struct store_rows {
	size_t nrows, ncols, cap;
	struct store_cell *cells;
};

struct store_driver {
	const char *name;        /* "sqlite", "postgresql" */
	const char *id_type;     /* replaces {ID} in the schema */
	const char *blob_type;   /* replaces {BLOB} */
	const char *lock_suffix; /* appended to a SELECT that must lock its rows */
	const char *skip_locked; /* appended to a SELECT that locks and skips locked rows */
	/* Extra statement run first in the migration transaction so that two
	 * instances starting together migrate one after the other ("" if the
	 * write transaction already guarantees it). */
	const char *migration_lock;
	/* A failed statement aborts the whole open transaction (PostgreSQL),
	 * rather than only itself (SQLite): inside a group commit the store puts
	 * a lone statement under a savepoint of its own. */
	bool error_aborts_tx;

	/* Connect to target (the URL without "sqlite:" for SQLite, the whole URL
	 * for PostgreSQL). On failure *ret_err may be set to a malloc'd message. */
	int (*open)(const char *target, void **ret_conn, char **ret_err);
	void (*close)(void *conn);
	/* BEGIN; write = the transaction will write (SQLite takes the write lock
	 * at once, so a read never has to be upgraded later). */
	int (*begin)(void *conn, bool write);
	int (*commit)(void *conn);
	void (*rollback)(void *conn);
	/* Run trusted SQL text with several statements and no parameters (the
	 * schema migrations). */
	int (*script)(void *conn, const char *sql);
	/* Run one statement. Rows (at most max_rows, else ATTEST_E_LIMIT) go to
	 * *ret_rows when it is not NULL, else they are read and dropped (a
	 * locking SELECT); *ret_changes (may be NULL) gets the rows
	 * inserted/updated/deleted. Errors: ATTEST_E_EXISTS unique violation,
	 * ATTEST_E_STATE foreign-key violation, ATTEST_E_ARG check/not-null
	 * violation, ATTEST_E_IO anything else. */
	int (*query)(void *conn, const char *sql, const struct store_value *params, size_t nparams,
	             size_t max_rows, struct store_rows **ret_rows, int64_t *ret_changes);
	/* Last error text of the connection (never NULL). */
	const char *(*errmsg)(void *conn);
	/* Whether the last failure was a lock wait that ran out (SQLite busy or
	 * locked; PostgreSQL lock_not_available or a cancelled statement). */
	bool (*busy)(void *conn);
	/* How long a statement of this connection waits for another
	 * connection's lock before failing (busy); set at open, kept across
	 * reconnections. */
	int (*set_lock_wait)(void *conn, unsigned ms);
	/* Whether a transaction is open on the connection (a failure may have
	 * rolled it back behind the caller's back). */
	bool (*in_tx)(void *conn);
	/* How durable this connection's commits are (outside a transaction):
	 * full, each commit is on disk before it returns (SQLite
	 * synchronous=FULL, PostgreSQL synchronous_commit=on); otherwise a
	 * killed process loses nothing but an OS crash or power loss may lose
	 * the last commits (NORMAL in WAL mode; synchronous_commit=off). Kept
	 * across reconnections. */
	int (*set_sync)(void *conn, bool full);
	/* The open transaction must be on disk when its COMMIT returns, whatever
	 * set_sync said (a change of state that must survive power loss). */
	int (*durable)(void *conn);
};

extern const struct store_driver store_sqlite_driver;
#ifdef ATTEST_HAVE_LIBPQ
extern const struct store_driver store_pg_driver;
#endif

/* Row helpers shared by the drivers and the store. */
void store_rows_free(struct store_rows *r);
/* Append an empty row of ncols cells; returns it or NULL on allocation
 * failure. */
struct store_cell *store_rows_add_row(struct store_rows *r);

/* One migration: version, description, SQL with {ID}/{BLOB} words. */
struct store_migration {
	int version;
	const char *description;
	const char *sql;
};
extern const struct store_migration store_migrations[];
extern const size_t store_migrations_count;

#endif
