/* Internal to the store: the handle, query helpers and input checks shared
 * by store.c, store_hosts.c and store_admin.c. */
#ifndef ATTEST_STORE_INTERNAL_H
#define ATTEST_STORE_INTERNAL_H

#include "store.h"
#include "store_driver.h"

#include <jansson.h>

/* The audit chain's head as this group commit's transaction sees it
 * (store_audit.c): read once, moved in memory by each append, written back
 * once before the commit (store_batch_commit). Valid only inside the group:
 * its transaction holds the head (SQLite's write transaction is exclusive;
 * PostgreSQL's store_batch_begin locks the row), and a savepoint rolled
 * back puts back the copy taken when it was set (its records are gone). */
struct store_head {
	bool known;         /* seq/hash read in this transaction */
	int64_t seq;        /* the last record's seq (0: none yet) */
	int64_t stored_seq; /* what the head row holds now */
	uint8_t hash[32];   /* the last record's hash (AUDIT_HASH_SIZE) */
};
#define STORE_HEAD_DEPTH 8 /* store_tx_begin savepoints whose head is kept */

struct store {
	const struct store_driver *drv;
	void *conn;
	char msg[256];             /* store-level message (input checks), else the driver's */
	bool msg_own;              /* msg holds the last error (not the driver) */
	bool batch;                /* inside a group commit (store_writer.c): transactions nest */
	bool lazy;                 /* store_set_sync(s, false): commits are not fsync'ed */
	unsigned depth;            /* open store_tx_begin savepoints inside the group */
	struct store_head head;    /* in a group only */
	struct store_head head_op; /* at store_batch_mark */
	struct store_head head_tx[STORE_HEAD_DEPTH]; /* at each store_tx_begin */
	/* Lease claims' share (store_claim_due_hosts): when it was last read,
	 * how many hosts this instance may still take from share_donor. */
	int64_t share_at, share_steal;
	char share_donor[STORE_NAME_MAX + 1];
};
#define STORE_SHARE_EVERY 5 /* seconds between two reads of the claims' share */

/* Parameter constructors. V_TIME/V_COUNT map the API's "not set" (0 / -1)
 * to NULL. */
#define V_NULL       ((struct store_value){.type = STORE_V_NULL})
#define V_INT(x)     ((struct store_value){.type = STORE_V_INT, .i = (int64_t)(x)})
#define V_TEXT(s)    ((struct store_value){.type = STORE_V_TEXT, .p = (s)})
#define V_BLOB(b, n) ((struct store_value){.type = STORE_V_BLOB, .p = (b), .len = (n)})
#define V_TIME(t)    ((t) != 0 ? V_INT(t) : V_NULL)
#define V_COUNT(c)   ((c) >= 0 ? V_INT(c) : V_NULL)

/* PARAMS(a, b, c) expands to the array and its length, for store_exec(),
 * store_query() and the like. */
#define PARAMS(...)                                                                                \
	(const struct store_value[]){__VA_ARGS__},                                                 \
	    (sizeof((const struct store_value[]){__VA_ARGS__}) / sizeof(struct store_value))

/* The open transaction carries a change of state that must survive power
 * loss: commit it durably even on a connection set to store_set_sync(s,
 * false). Call inside the transaction. */
void store_durable(struct store *s);

/* Run a statement; *ret_changes (may be NULL) = rows changed. */
int store_exec(struct store *s, const char *sql, const struct store_value *p, size_t n,
               int64_t *ret_changes);
/* Run a query returning at most max rows (more = ATTEST_E_LIMIT). */
int store_query(struct store *s, const char *sql, const struct store_value *p, size_t n, size_t max,
                struct store_rows **ret);
/* A query returning one integer: ATTEST_E_NOTFOUND if no row; NULL reads 0. */
int store_query_int(struct store *s, const char *sql, const struct store_value *p, size_t n,
                    int64_t *ret);

/* The one path from rows to structs: decode(rows, r, item) moves row r's
 * cells into item (an array element of `size` bytes, zeroed before). */
typedef void store_decode_fn(struct store_rows *rows, size_t r, void *item);
/* Decode every row into a new array (at least one item long: NULL only on
 * ATTEST_E_NOMEM); *ret_n = the number of rows. rows stays the caller's. */
int store_rows_decode(struct store_rows *rows, size_t size, store_decode_fn *decode, void **ret_v,
                      size_t *ret_n);
/* Run a query of at most max rows and decode them as store_rows_decode(). */
int store_query_items(struct store *s, const char *sql, const struct store_value *p, size_t n,
                      size_t max, size_t size, store_decode_fn *decode, void **ret_v,
                      size_t *ret_n);
/* A query of one row decoded into a new item; ATTEST_E_NOTFOUND if none. */
int store_query_one(struct store *s, const char *sql, const struct store_value *p, size_t n,
                    size_t size, store_decode_fn *decode, void **ret);
/* Clear each of n items with clear(item), then free the array (NULL ok). */
void store_items_free(void *v, size_t n, size_t size, void (*clear)(void *item));

/* Transactions (write = takes the write lock at once). */
int store_tx_begin(struct store *s, bool write);
int store_tx_commit(struct store *s);
void store_tx_rollback(struct store *s);

/* Group commits (store_writer.c): one write transaction holding many
 * callers' work. While it is open, store_tx_begin/commit/rollback become a
 * savepoint, its release and a rollback to it, so each store function keeps
 * its all-or-nothing guarantee inside the group. store_batch_mark/undo/keep
 * put one caller's whole work under a savepoint of its own ("op"). */
int store_batch_begin(struct store *s);
/* A group that appends nothing to the audit chain and takes no row lock it
 * would wait for while holding others (the writer's apart works: lease
 * claims, renewals): the same transaction without the chain's head, so it
 * neither waits for other groups nor can deadlock with them. */
int store_batch_begin_apart(struct store *s);
/* Whether store_batch_begin locks the audit chain's head (PostgreSQL). */
bool store_batch_takes_head(const struct store *s);
int store_batch_commit(struct store *s);
void store_batch_rollback(struct store *s);
/* Whether the group's transaction is still open (a failure such as a full
 * disk can roll it back whole). */
bool store_batch_alive(struct store *s);
int store_batch_mark(struct store *s);
int store_batch_keep(struct store *s);
void store_batch_undo(struct store *s);

/* Cell access; row r, column c. NULL reads as 0 / NULL. */
int64_t store_cell_int(const struct store_rows *rows, size_t r, size_t c);
/* NULL for a NULL cell; an integer read as -1 when NULL. */
int64_t store_cell_count(const struct store_rows *rows, size_t r, size_t c);
bool store_cell_is_null(const struct store_rows *rows, size_t r, size_t c);
/* Move a text/blob cell's buffer out (caller frees); NULL for NULL. */
void *store_cell_take(struct store_rows *rows, size_t r, size_t c, size_t *ret_len);

/* Input checks; each records a message in s and returns ATTEST_E_ARG or
 * ATTEST_E_LIMIT. */
int store_check_name(struct store *s, const char *what, const char *v);
int store_check_text(struct store *s, const char *what, const char *v, size_t max, bool nullable);
int store_check_json(struct store *s, const char *what, const char *v, json_type type,
                     bool nullable);
int store_check_blob(struct store *s, const char *what, const void *p, size_t len, size_t max,
                     bool nullable);
int store_check_page(struct store *s, const struct store_page *page, int64_t *ret_limit,
                     int64_t *ret_offset);
int store_fail(struct store *s, int rc, const char *msg);

/* Append an event inside the caller's transaction (store_admin.c). host_id 0
 * = none; the host's current name is copied into the event. */
int store_event_insert(struct store *s, int64_t host_id, const char *kind, const char *actor,
                       const char *message, const char *details_json, int64_t now, int64_t *ret_id);

/* The audit records of an event (kind and actor the event's) and of a
 * verdict (kind "verdict"), appended inside the caller's transaction
 * (store_audit.c). previous/to: trust names. host_name: the host's name
 * as the caller read it with its row locked, or NULL to read it here. */
int store_audit_event(struct store *s, int64_t event_id, int64_t host_id, const char *kind,
                      const char *actor, const char *message, const char *details_json,
                      int64_t now);
int store_audit_verdict(struct store *s, const struct store_verdict *v, const char *host_name,
                        const char *previous, const char *to, const char *instance,
                        const char *actor, int64_t now);

/* The group's audit chain head (store_audit.c): written back to its row
 * when an append moved it (store_batch_commit, before COMMIT); forgotten. */
int store_audit_head_flush(struct store *s);
/* Take the head of a savepoint being set / put it back at its rollback. A
 * savepoint deeper than STORE_HEAD_DEPTH: the head is written back at its
 * begin and read again after its rollback. */
int store_audit_head_save(struct store *s, struct store_head *to);
void store_audit_head_restore(struct store *s, const struct store_head *from);

/* Build "a" "b" into buf (for the dialect's lock suffixes; never values). */
const char *store_sql_join(char *buf, size_t size, const char *a, const char *b, const char *c);

#endif
