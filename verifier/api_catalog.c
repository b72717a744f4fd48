/* Operator API: the software catalog (api_catalog.h). Entries come from
 * `attestctl catalog import`, which reads the packages on the operator's
 * side; the verifier checks each entry strictly (catalog_entry_from_json)
 * and stores it. Adding or removing an entry is an event in the history. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_catalog.h"
#include "catalog.h"
#include "err.h"
#include "store_catalog.h"

static json_t *entries_json(const struct catalog_entry *e, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, catalog_entry_to_json(&e[i]));
	return json_pack("{s:o}", "entries", a ? a : json_array());
}

void api_catalog_list(struct api_call *c)
{
	const char *package = https_request_query(c->req, "package");
	const char *kind = https_request_query(c->req, "kind");
	struct catalog_entry *e = NULL;
	size_t n = 0;
	int rc = store_catalog_list(c->v->store, package && package[0] ? package : NULL,
	                            kind && kind[0] ? kind : NULL, &e, &n);
	if (rc < 0) {
		api_store_error(c->v, c->req, rc, "catalog");
		return;
	}
	https_reply_json(c->req, 200, entries_json(e, n));
	free(e);
}

void api_catalog_add(struct api_call *c)
{
	struct catalog_entry e;
	char msg[CATALOG_MSG_SIZE];
	if (catalog_entry_from_json(c->body, &e, msg) < 0) {
		https_reply_error(c->req, 400, "INVALID_FIELD", msg);
		return;
	}
	int64_t now = verifier_now(), id = 0;
	char what[600] = "";
	int rc = api_change_begin(c->v);
	if (rc == 0)
		rc = store_catalog_add(c->v->store, &e, now, &id);
	if (rc == 0)
		catalog_entry_describe(&e, what, sizeof what);
	rc = api_change_end(c->v, rc, 0, "catalog", c->ctx.actor,
	                    "catalog entry %lld added: %s: %s %s", (long long)id, e.kind, what,
	                    e.path);
	if (rc == ATTEST_E_EXISTS) {
		https_reply_error(c->req, 409, "EXISTS",
		                  "this binary of this package version is in the catalog");
		return;
	}
	if (rc < 0) {
		api_store_error(c->v, c->req, rc, "catalog entry");
		return;
	}
	e.id = id;
	e.added_at = now;
	https_reply_json(c->req, 201, catalog_entry_to_json(&e));
}

static bool is_hex64(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

/* The path parameter as an id; 0 if it is not one. */
static int64_t key_id(const char *k)
{
	char *end = NULL;
	long long id = strtoll(k, &end, 10);
	return (k[0] >= '0' && k[0] <= '9' && *end == '\0' && id > 0 && strlen(k) < 19) ? id : 0;
}

void api_catalog_show(struct api_call *c)
{
	int64_t id = key_id(c->key);
	struct catalog_entry one, *e = NULL;
	size_t n = 0;
	int rc;
	if (id > 0) {
		rc = store_catalog_get(c->v->store, id, &one);
		if (rc == 0) {
			https_reply_json(c->req, 200, entries_json(&one, 1));
			return;
		}
	} else if (is_hex64(c->key)) {
		rc = store_catalog_find(c->v->store, c->key, &e, &n);
		if (rc == 0 && n == 0)
			rc = ATTEST_E_NOTFOUND;
	} else {
		rc = ATTEST_E_NOTFOUND;
	}
	if (rc == ATTEST_E_NOTFOUND)
		https_reply_error(c->req, 404, "NOT_FOUND", "no such catalog entry");
	else if (rc < 0)
		api_store_error(c->v, c->req, rc, "catalog entry");
	else
		https_reply_json(c->req, 200, entries_json(e, n));
	free(e);
}

void api_catalog_remove(struct api_call *c)
{
	int64_t id = key_id(c->key);
	struct catalog_entry e;
	int rc = id > 0 ? store_catalog_get(c->v->store, id, &e) : ATTEST_E_NOTFOUND;
	if (rc == 0 && (rc = api_change_begin(c->v)) == 0) {
		rc = store_catalog_remove(c->v->store, id);
		rc = api_change_end(c->v, rc, 0, "catalog", c->ctx.actor,
		                    "catalog entry %lld removed: %s %s %s", (long long)id,
		                    e.package, e.version, e.path);
	}
	if (rc == ATTEST_E_NOTFOUND) {
		https_reply_error(c->req, 404, "NOT_FOUND", "no such catalog entry");
		return;
	}
	if (rc < 0) {
		api_store_error(c->v, c->req, rc, "catalog entry");
		return;
	}
	https_reply_json(c->req, 200, json_pack("{s:I}", "removed", (json_int_t)id));
}
