/* Operator API (docs/api.md): the audit chain, read a page at a time, and
 * the event logs its verdict records name. Reading needs any valid token:
 * the chain holds what the history and the evidence views already show a
 * viewer. Pruning (retention, admin) is the one write. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_routes.h"
#include "b64enc.h"
#include "err.h"
#include "hex.h"

#define AUDIT_PAGE_DEFAULT 1000

void api_audit_list(struct api_call *c)
{
	struct verifier *v = c->v;
	struct https_request *req = c->req;
	int64_t after = 0, limit = AUDIT_PAGE_DEFAULT;
	if (!api_query_int(req, "after", &after) || !api_query_int(req, "limit", &limit))
		return;
	if (limit < 1 || limit > STORE_AUDIT_PAGE_MAX) {
		https_reply_error(req, 400, "INVALID_PARAMETER", "limit is from 1 to 5000");
		return;
	}
	/* The head first: a record appended between the two reads is then
	 * beyond the head, never a head beyond the records. */
	int64_t head_seq = 0;
	char head_hash[65];
	struct store_audit_list *l = NULL;
	int rc = store_audit_head(v->store, &head_seq, head_hash);
	if (rc == 0)
		rc = store_audit_list(v->store, after, limit, &l);
	if (rc < 0) {
		api_store_error(v, req, rc, "audit records");
		return;
	}
	json_t *a = json_array();
	for (size_t i = 0; a && i < l->n; i++) {
		const struct store_audit *r = &l->v[i];
		json_array_append_new(
		    a, json_pack("{s:I,s:I,s:s,s:s,s:I,s:s,s:s,s:s,s:s}", "seq", (json_int_t)r->seq,
		                 "at", (json_int_t)r->at, "kind", r->kind ? r->kind : "", "actor",
		                 r->actor ? r->actor : "", "host_id", (json_int_t)r->host_id,
		                 "host", r->host_name ? r->host_name : "", "body",
		                 r->body ? r->body : "", "prev_hash",
		                 r->prev_hash ? r->prev_hash : "", "hash", r->hash ? r->hash : ""));
	}
	json_t *j = json_pack("{s:o,s:{s:I,s:s}}", "records", a ? a : json_array(), "head", "seq",
	                      (json_int_t)head_seq, "hash", head_hash);
	if (j && l->n == (size_t)limit)
		json_object_set_new(j, "next_after", json_integer(l->v[l->n - 1].seq));
	store_audit_list_free(l);
	if (!j) {
		https_reply_error(req, 500, "INTERNAL", "out of memory");
		return;
	}
	https_reply_json(req, 200, j);
}

void api_eventlog_get(struct api_call *c)
{
	struct verifier *v = c->v;
	uint8_t d[32];
	size_t n = 0;
	char key[65];
	if (strlen(c->key) != 64 || hex_decode(c->key, d, sizeof d, &n) < 0 || n != 32) {
		https_reply_error(c->req, 404, "NOT_FOUND",
		                  "no such event log (the key is its SHA-256, 64 hex digits)");
		return;
	}
	hex_encode(d, sizeof d, key); /* the stored form: lowercase */
	uint8_t *log = NULL;
	size_t len = 0;
	int rc = store_audit_eventlog(v->store, key, &log, &len);
	if (rc < 0) {
		api_store_error(v, c->req, rc, "event log");
		return;
	}
	char *b64 = b64enc(log, len);
	free(log);
	json_t *j = b64 ? json_pack("{s:s,s:s}", "sha256", key, "eventlog", b64) : NULL;
	free(b64);
	if (!j) {
		https_reply_error(c->req, 500, "INTERNAL", "out of memory");
		return;
	}
	https_reply_json(c->req, 200, j);
}

/* POST /api/v1/audit/prune {"through": SEQ} (admin): delete the records up
 * to SEQ after the operator exported them, leaving a record that says so
 * (store_audit_prune). The change, its record and its event commit
 * together. */
void api_audit_prune(struct api_call *c)
{
	struct verifier *v = c->v;
	struct https_request *req = c->req;
	json_t *t = json_object_get(c->body, "through");
	if (!json_is_integer(t) || json_integer_value(t) < 1 || json_object_size(c->body) != 1) {
		https_reply_error(req, 400, "INVALID_FIELD",
		                  "give {\"through\": SEQ}: the last record to prune, from 1");
		return;
	}
	int64_t through = (int64_t)json_integer_value(t), head = 0, first = 0, deleted = 0;
	char head_hash[65], hash[65];
	struct store_audit_list *l = NULL;
	int rc = store_audit_head(v->store, &head, head_hash);
	if (rc == 0)
		rc = store_audit_list(v->store, 0, 1, &l);
	if (rc == 0 && l->n == 1)
		first = l->v[0].seq;
	store_audit_list_free(l);
	if (rc < 0) {
		api_store_error(v, req, rc, "audit records");
		return;
	}
	char m[200];
	if (through > head || first == 0 || through < first) {
		snprintf(m, sizeof m,
		         "the chain holds records %lld to %lld: prune through one of them",
		         (long long)first, (long long)head);
		https_reply_error(req, 409, "NOT_IN_CHAIN", m);
		return;
	}
	rc = api_change_begin(v);
	if (rc == 0)
		rc = store_audit_prune(v->store, through, c->ctx.actor, verifier_now(), &deleted,
		                       hash);
	rc = api_change_end(v, rc, 0, "audit", c->ctx.actor,
	                    "audit chain pruned: records %lld to %lld removed", (long long)first,
	                    (long long)through);
	if (rc < 0) {
		api_store_error(v, req, rc, "audit records");
		return;
	}
	https_reply_json(req, 200,
	                 json_pack("{s:I,s:I,s:s}", "pruned", (json_int_t)deleted, "through",
	                           (json_int_t)through, "through_hash", hash));
}
