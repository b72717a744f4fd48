/* The software catalog in the verifier's database (schema v5; lib/catalog.h
 * for what an entry is). Conventions as store.h. */
#ifndef ATTEST_STORE_CATALOG_H
#define ATTEST_STORE_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "store.h"

#define STORE_CATALOG_MAX 20000u /* entries read at once (list, appraisal) */

/* Add e (checked by catalog_entry_from_json). *ret_id (may be NULL) gets its
 * id. ATTEST_E_EXISTS if the same package, version, path and digest is
 * listed already. */
int store_catalog_add(struct store *s, const struct catalog_entry *e, int64_t now, int64_t *ret_id);

/* Entries, oldest first: all of them (package and kind NULL), or those of
 * one kind and/or whose package matches a shell wildcard pattern. *ret is a
 * malloc'd array of *ret_n entries (caller frees). */
int store_catalog_list(struct store *s, const char *package_pattern, const char *kind,
                       struct catalog_entry **ret, size_t *ret_n);

/* One entry by id; ATTEST_E_NOTFOUND. */
int store_catalog_get(struct store *s, int64_t id, struct catalog_entry *ret);

/* Entries whose Authenticode or file SHA-256 is hex (64 lowercase hex
 * digits); *ret_n may be 0. */
int store_catalog_find(struct store *s, const char *hex, struct catalog_entry **ret, size_t *ret_n);

/* Remove one entry; ATTEST_E_NOTFOUND. */
int store_catalog_remove(struct store *s, int64_t id);

/* The catalog's marker: its entry count and highest id, read in one
 * statement. Ids are never reused and entries never edited, so any import
 * or removal changes it. */
int store_catalog_marker(struct store *s, int64_t *ret_count, int64_t *ret_max_id);

#endif
