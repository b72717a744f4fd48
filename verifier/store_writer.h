/* The storage writer: a thread with its own database connection that runs
 * the writes handed to it, in order, and commits them in groups
 * (docs/storage.md, "The writer thread").
 *
 * A caller (the verifier's event loop) submits work: a function run on the
 * writer thread against the writer's connection, and a completion run back
 * on the caller's thread once the work's group has COMMITTED (or failed).
 * So nothing that follows the completion (a verdict answered to an
 * operator, a waiter woken) can be seen before it is durable, and the
 * caller's thread never waits for a lock, a fsync or a round trip.
 *
 * Groups: the thread takes every queued work (up to STORE_WRITER_BATCH_MAX),
 * opens one write transaction, runs each work under a savepoint of its own
 * (a work that returns < 0 is rolled back alone: nothing of it half
 * written), and commits once: one fsync (SQLite, synchronous=FULL) or one
 * WAL flush (PostgreSQL) for the whole group, or none for a group without
 * a change of state after store_writer_set_sync(w, false). If the COMMIT fails, every
 * work of the group is reported failed with the commit's error, and none of
 * it is in the database. The store functions called inside a work keep
 * their own all-or-nothing guarantees (their transactions become savepoints
 * in the group).
 *
 * The window (store_writer_set_window; none by default): work submitted as
 * windowed (store_writer_submit_window, the routine kind: a verdict, a
 * lease release, last evidence) may wait up to the window's length for
 * more to share its commit; work submitted with store_writer_submit is
 * urgent and ends the window at once, committing whatever is queued before
 * it in the same group. A group is also due once it holds
 * STORE_WRITER_BATCH_MAX works or the windowed works' size hints reach the
 * window's byte cap, on store_writer_flush() and when closing. Waiting
 * holds no lock and no transaction: the group's BEGIN comes after the
 * window. Nothing changes for the completions: each still runs only after
 * its group committed, so a windowed work is acknowledged later, never
 * before it is durable.
 *
 * The apart lane (PostgreSQL): a group on PostgreSQL first locks the audit
 * chain's head (store_batch_begin) and holds it until its COMMIT, so work
 * queued behind it waits for the group, and for every other instance's
 * group before it. Work that appends nothing to the chain and never waits
 * for a row lock while holding others (lease claims: FOR UPDATE SKIP
 * LOCKED; renewals: one row) is submitted with store_writer_submit_apart:
 * a second thread with its own connection runs each such work at once, in
 * a transaction of its own begun without the head (store_batch_begin_apart),
 * beside the groups. On SQLite, whose one write lock serialises writers
 * anyway, there is no such lane: apart work is urgent work in the groups.
 * Completions of apart work and of groups are not ordered with each other.
 *
 * The completions wait in a list; the writer makes store_writer_fd()
 * readable when there are some, and store_writer_deliver() runs them, in
 * submission order (each lane's: see the apart lane), on the caller's thread. */
#ifndef ATTEST_STORE_WRITER_H
#define ATTEST_STORE_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define STORE_WRITER_BATCH_MAX     512                /* works per group commit */
#define STORE_WRITER_WINDOW_BYTES  (4u * 1024 * 1024) /* windowed bytes that end a window */
#define STORE_WRITER_WINDOW_MAX_MS 1000               /* the longest window */

struct store_writer;

/* Runs on the writer thread with the writer's connection; may touch only
 * its arg (and thread-safe functions). < 0: everything it wrote is rolled
 * back and rc goes to the completion. */
typedef int store_work_fn(struct store *s, void *arg);
/* Runs on the thread calling store_writer_deliver(): rc is the work's
 * result, or the group's failure (BEGIN or COMMIT); msg says why (never
 * NULL; "" on success). Must free what arg owns. */
typedef void store_done_fn(void *arg, int rc, const char *msg);

/* Open the writer's own connection to url (schema already migrated by the
 * caller's store_open) and start the thread. lock_ms: how long the writer
 * waits for another connection's lock (0: the store's default). */
int store_writer_open(const char *url, unsigned lock_ms, struct store_writer **ret, char **ret_err);

/* store_set_sync(full) on the writer's connection, before its next group
 * (full by default): not full, a group is fsync'ed only when a work in it
 * wrote a change of state (store_durable; docs/storage.md, "Durability"). */
void store_writer_set_sync(struct store_writer *w, bool full);

/* Readable when completions are waiting (watch it with the event loop). */
int store_writer_fd(const struct store_writer *w);

/* Queue work (done may be NULL). ATTEST_E_STATE once closing began,
 * ATTEST_E_NOMEM: then neither function will run. */
int store_writer_submit(struct store_writer *w, store_work_fn *work, store_done_fn *done,
                        void *arg);

/* Queue work that appends nothing to the audit chain and waits for no row
 * lock while holding one (a lease claim, a renewal): run at once on the
 * apart lane where there is one (store_writer_has_apart), else as
 * store_writer_submit. Errors as store_writer_submit. */
int store_writer_submit_apart(struct store_writer *w, store_work_fn *work, store_done_fn *done,
                              void *arg);
/* Whether the writer has an apart lane (PostgreSQL). */
bool store_writer_has_apart(const struct store_writer *w);

/* Queue routine work that may wait for the window (store_writer_set_window)
 * before its group commits; bytes: about how much it will write (the
 * window ends once the queued windowed work's sizes reach the cap). Errors
 * as store_writer_submit. */
int store_writer_submit_window(struct store_writer *w, store_work_fn *work, store_done_fn *done,
                               void *arg, size_t bytes);

/* Let windowed work wait up to ms (at most STORE_WRITER_WINDOW_MAX_MS; 0:
 * none, every work is committed as soon as the thread is free) for company,
 * and end a window once its windowed works' size hints reach bytes (0:
 * STORE_WRITER_WINDOW_BYTES). Applies from the next group. */
void store_writer_set_window(struct store_writer *w, unsigned ms, size_t bytes);

/* Commit what is queued now without waiting for the rest of its window. */
void store_writer_flush(struct store_writer *w);

/* Run the waiting completions; returns how many ran. */
size_t store_writer_deliver(struct store_writer *w);

struct store_writer_stats {
	uint64_t works;   /* works run */
	uint64_t groups;  /* transactions committed or failed */
	uint64_t failed;  /* works reported failed */
	uint64_t largest; /* most works in one group */
	uint64_t cut;     /* windows ended early: urgent work, a size cap, a flush */
	uint64_t apart;   /* works run on the apart lane (counted in works, not groups) */
	size_t queued;    /* waiting for the thread now */
};
void store_writer_stats(struct store_writer *w, struct store_writer_stats *ret);

/* Finish every queued work (committing it), stop the thread, run the last
 * completions (works they submit are refused), close the connection, free.
 * NULL is fine. */
void store_writer_close(struct store_writer *w);

#endif
