/* Copying a whole store into another database: how an existing SQLite
 * installation moves to PostgreSQL (docs/storage.md, "Moving from SQLite to
 * PostgreSQL"). The CLI entry point is
 * `attest-verifier migrate-db --from sqlite:PATH --to postgresql://...`. */
#ifndef ATTEST_STORE_COPY_H
#define ATTEST_STORE_COPY_H

#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Copy every row of every table of src into dst, in dependency order
 * (policies before hosts before AKs ...), keeping every id, then move dst's
 * id generators past the copied ids (and past ids SQLite handed out and
 * deleted since, so none is ever reused). src is read in one transaction (a
 * consistent snapshot; stop the verifiers first so nothing changes after
 * it); dst is written in one transaction, so a failure leaves it empty.
 * Both stores must be open (store_open brings both schemas to the same,
 * newest version), and dst must hold no records: ATTEST_E_STATE otherwise.
 * Works in any direction (SQLite <-> PostgreSQL, or same backend).
 * *ret_rows (may be NULL) is the number of rows copied. On failure,
 * *ret_err (may be NULL) gets a malloc'd sentence naming the table and the
 * database's message. */
int store_copy(struct store *src, struct store *dst, int64_t *ret_rows, char **ret_err);

/* Called by store_copy_progress() after each batch of rows written: the
 * table, the rows of it copied so far, and done = true once for each table
 * when it is complete (also for an empty table). */
typedef void store_copy_progress_fn(const char *table, int64_t rows, bool done, void *arg);

/* store_copy() reporting progress through fn (may be NULL) with arg. */
int store_copy_progress(struct store *src, struct store *dst, store_copy_progress_fn *fn, void *arg,
                        int64_t *ret_rows, char **ret_err);

/* The i-th table store_copy() copies, in its order, or NULL past the end
 * (tests check that every table of the schema is in the list). */
const char *store_copy_table(size_t i);

#endif
