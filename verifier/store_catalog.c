/* The software catalog's rows (store_catalog.h). */
#include "store_catalog.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "store_internal.h"

#define COLS                                                                                       \
	"id, kind, package, version, arch, vendor, path, authenticode_sha256, file_sha256, "       \
	"signer_subject, signer_issuer, added_at"

static void cell_text(struct store_rows *rows, size_t r, size_t c, char *out, size_t cap)
{
	char *t = store_cell_take(rows, r, c, NULL);
	snprintf(out, cap, "%s", t ? t : "");
	free(t);
}

static void decode(struct store_rows *rows, size_t r, void *item)
{
	struct catalog_entry *e = item;
	e->id = store_cell_int(rows, r, 0);
	cell_text(rows, r, 1, e->kind, sizeof e->kind);
	cell_text(rows, r, 2, e->package, sizeof e->package);
	cell_text(rows, r, 3, e->version, sizeof e->version);
	cell_text(rows, r, 4, e->arch, sizeof e->arch);
	cell_text(rows, r, 5, e->vendor, sizeof e->vendor);
	cell_text(rows, r, 6, e->path, sizeof e->path);
	cell_text(rows, r, 7, e->authenticode_sha256, sizeof e->authenticode_sha256);
	cell_text(rows, r, 8, e->file_sha256, sizeof e->file_sha256);
	cell_text(rows, r, 9, e->signer_subject, sizeof e->signer_subject);
	cell_text(rows, r, 10, e->signer_issuer, sizeof e->signer_issuer);
	e->added_at = store_cell_int(rows, r, 11);
}

int store_catalog_add(struct store *s, const struct catalog_entry *e, int64_t now, int64_t *ret_id)
{
	int64_t id = 0;
	if (!e || !e->kind[0] || !e->package[0] || !e->version[0] || !e->path[0] ||
	    strlen(e->authenticode_sha256) != 64 || strlen(e->file_sha256) != 64)
		return store_fail(s, ATTEST_E_ARG, "incomplete catalog entry");
	int rc = store_query_int(
	    s,
	    "INSERT INTO catalog (kind, package, version, arch, vendor, path, authenticode_sha256, "
	    "file_sha256, signer_subject, signer_issuer, added_at) "
	    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
	    PARAMS(V_TEXT(e->kind), V_TEXT(e->package), V_TEXT(e->version), V_TEXT(e->arch),
	           V_TEXT(e->vendor), V_TEXT(e->path), V_TEXT(e->authenticode_sha256),
	           V_TEXT(e->file_sha256), V_TEXT(e->signer_subject), V_TEXT(e->signer_issuer),
	           V_INT(now)),
	    &id);
	if (rc == ATTEST_E_EXISTS)
		return store_fail(s, rc, "this binary of this package version is in the catalog");
	if (rc == 0 && ret_id)
		*ret_id = id;
	return rc;
}

int store_catalog_list(struct store *s, const char *package_pattern, const char *kind,
                       struct catalog_entry **ret, size_t *ret_n)
{
	void *v = NULL;
	size_t n = 0;
	int rc = store_query_items(s, "SELECT " COLS " FROM catalog ORDER BY id", NULL, 0,
	                           STORE_CATALOG_MAX, sizeof(struct catalog_entry), decode, &v, &n);
	if (rc)
		return rc;
	struct catalog_entry *e = v;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (package_pattern && fnmatch(package_pattern, e[i].package, 0) != 0)
			continue;
		if (kind && strcmp(kind, e[i].kind) != 0)
			continue;
		e[k++] = e[i];
	}
	*ret = e;
	*ret_n = k;
	return 0;
}

int store_catalog_get(struct store *s, int64_t id, struct catalog_entry *ret)
{
	void *v = NULL;
	int rc = store_query_one(s, "SELECT " COLS " FROM catalog WHERE id = $1", PARAMS(V_INT(id)),
	                         sizeof(struct catalog_entry), decode, &v);
	if (rc == ATTEST_E_NOTFOUND)
		return store_fail(s, rc, "no such catalog entry");
	if (rc)
		return rc;
	*ret = *(struct catalog_entry *)v;
	free(v);
	return 0;
}

int store_catalog_find(struct store *s, const char *hex, struct catalog_entry **ret, size_t *ret_n)
{
	void *v = NULL;
	size_t n = 0;
	int rc = store_query_items(
	    s,
	    "SELECT " COLS " FROM catalog WHERE authenticode_sha256 = $1 OR file_sha256 = $1 "
	    "ORDER BY id",
	    PARAMS(V_TEXT(hex)), STORE_CATALOG_MAX, sizeof(struct catalog_entry), decode, &v, &n);
	if (rc)
		return rc;
	*ret = v;
	*ret_n = n;
	return 0;
}

int store_catalog_remove(struct store *s, int64_t id)
{
	int64_t changed = 0;
	int rc = store_exec(s, "DELETE FROM catalog WHERE id = $1", PARAMS(V_INT(id)), &changed);
	if (rc == 0 && changed == 0)
		rc = store_fail(s, ATTEST_E_NOTFOUND, "no such catalog entry");
	return rc;
}

int store_catalog_marker(struct store *s, int64_t *ret_count, int64_t *ret_max_id)
{
	struct store_rows *rows = NULL;
	int rc =
	    store_query(s, "SELECT COUNT(*), COALESCE(MAX(id), 0) FROM catalog", NULL, 0, 1, &rows);
	if (rc)
		return rc;
	if (rows->nrows != 1) {
		store_rows_free(rows);
		return ATTEST_E_IO;
	}
	*ret_count = store_cell_int(rows, 0, 0);
	*ret_max_id = store_cell_int(rows, 0, 1);
	store_rows_free(rows);
	return 0;
}
