/* Operator API (docs/api.md): policies, certified TPM list, alarms, events,
 * tokens, status (handlers of the route table in routes.c) and /metrics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "base64.h"
#include "b64enc.h"
#include "err.h"
#include "hex.h"
#include "policy.h"
#include "textbuf.h"
#include "api_routes.h"
#include "api_notify.h"

/* ------------------------------------------------------------------ */
/* policies */

static json_t *policy_json(const struct store_policy *p, bool body)
{
	json_t *j = json_pack("{s:s,s:b,s:I,s:o,s:o}", "name", p->name, "default", p->is_default,
	                      "hosts", (json_int_t)p->nhosts, "created_at", api_time(p->created_at),
	                      "updated_at", api_time(p->updated_at));
	if (body)
		json_object_set_new(j, "body", api_parse_stored(p->body_json));
	return j;
}

/* Validate a policy document with the policy engine; on success *ret is its
 * canonical JSON (caller frees). Replies 400 and returns false otherwise. */
static bool policy_check(struct https_request *req, json_t *doc, char **ret)
{
	if (!json_is_object(doc)) {
		https_reply_error(req, 400, "INVALID_FIELD", "the policy must be a JSON object");
		return false;
	}
	char *text = json_dumps(doc, JSON_COMPACT);
	struct policy *p = NULL;
	struct policy_error pe;
	memset(&pe, 0, sizeof pe);
	int rc = text ? policy_parse(text, strlen(text), &p, &pe) : ATTEST_E_NOMEM;
	free(text);
	if (rc < 0) {
		char m[600];
		snprintf(m, sizeof m, "the policy is refused: %s", pe.message);
		https_reply_error(req, 400, "INVALID_FIELD", m);
		return false;
	}
	char *canon = NULL;
	rc = policy_to_json(p, false, &canon);
	policy_free(p);
	if (rc < 0) {
		https_reply_error(req, 500, "INTERNAL", "cannot serialise the policy");
		return false;
	}
	*ret = canon;
	return true;
}

static void policy_reply(struct verifier *v, struct https_request *req, int status,
                         const char *name, json_t *extra)
{
	struct store_policy *p = NULL;
	int rc = store_policy_get_by_name(v->store, name, &p);
	if (rc < 0) {
		json_decref(extra);
		api_store_error(v, req, rc, "policy");
		return;
	}
	json_t *j = policy_json(p, true);
	store_policy_free(p);
	if (extra)
		json_object_update(j, extra);
	json_decref(extra);
	https_reply_json(req, status, j);
}

void api_policy_put(struct api_call *c)
{
	struct verifier *v = c->v;
	struct https_request *req = c->req;
	const char *name = c->key;
	char *canon = NULL;
	char nb[160], msg[200];
	const char *np = api_name_problem(name, nb, sizeof nb);
	if (np != NULL) {
		snprintf(msg, sizeof msg, "policy name %s", np);
		https_reply_error(req, 400, "INVALID_FIELD", msg);
		return;
	}
	if (!policy_check(req, c->body, &canon))
		return;
	struct store_policy *old = NULL;
	int64_t now = verifier_now();
	int rc;
	int status = 201;
	if ((rc = api_change_begin(v)) == 0) {
		if (store_policy_get_by_name(v->store, name, &old) == 0) {
			rc = store_policy_update(v->store, old->id, canon, now);
			status = 200;
			store_policy_free(old);
		} else {
			rc = store_policy_add(v->store, name, canon, false, now, NULL);
		}
		rc = api_change_end(v, rc, 0, "policy", c->ctx.actor, "policy %s %s", name,
		                    status == 201 ? "created" : "replaced");
	}
	if (rc < 0) {
		api_store_error(v, req, rc, "policy");
		goto out;
	}
	policy_reply(v, req, status, name, NULL);
out:
	free(canon);
}

void api_policy_create(struct api_call *c)
{
	struct verifier *v = c->v;
	struct https_request *req = c->req;
	char *canon = NULL;
	json_t *dry = json_object_get(c->body, "dry_run");
	if (dry != NULL && !json_is_false(dry)) {
		api_evidence_dry_run(v, req, c->body); /* api_evidence.c: stores nothing */
		goto out;
	}
	struct api_policy_create in;
	struct api_refusal why;
	if (api_parse_policy_create(c->body, &in, &why) < 0) {
		https_reply_error(req, why.status, why.code, why.message);
		goto out;
	}
	const char *name = in.name;
	json_t *body = in.body;
	if (in.from_host != NULL) {
		struct store_host *h = NULL;
		struct store_policy *exist = NULL;
		if (store_policy_get_by_name(v->store, name, &exist) == 0) {
			store_policy_free(exist);
			https_reply_error(req, 409, "EXISTS", "a policy with that name exists");
			goto out;
		}
		int rc = store_host_get_by_name(v->store, in.from_host, &h);
		if (rc < 0) {
			api_store_error(v, req, rc, "host");
			goto out;
		}
		bool enabled = h->enabled;
		int64_t hid = h->id;
		store_host_free(h);
		if (!enabled) {
			https_reply_error(req, 409, "BUSY",
			                  "the host is disconnected; reconnect it first");
			goto out;
		}
		/* Answered when the host's fresh evidence has been verified. */
		scheduler_learn(v, hid, name, c->ctx.actor, req);
		goto out;
	}
	if (!policy_check(req, body, &canon))
		goto out;
	int rc = api_change_begin(v);
	if (rc == 0)
		rc = store_policy_add(v->store, name, canon, false, verifier_now(), NULL);
	rc = api_change_end(v, rc, 0, "policy", c->ctx.actor, "policy %s created", name);
	if (rc < 0) {
		api_store_error(v, req, rc, "policy");
		goto out;
	}
	policy_reply(v, req, 201, name, NULL);
out:
	free(canon);
}

void api_policy_assign(struct api_call *c)
{
	struct verifier *v = c->v;
	struct https_request *req = c->req;
	const char *name = c->key;
	struct api_policy_assign in;
	struct api_refusal why;
	if (api_parse_policy_assign(c->body, &in, &why) < 0) {
		https_reply_error(req, why.status, why.code, why.message);
		return;
	}
	struct store_policy *p = NULL;
	int rc = store_policy_get_by_name(v->store, name, &p);
	if (rc < 0) {
		api_store_error(v, req, rc, "policy");
		return;
	}
	int64_t pid = p->id, now = verifier_now();
	store_policy_free(p);
	const char *host = in.host;
	if (host) {
		struct store_host *h = NULL;
		rc = store_host_get_by_name(v->store, host, &h);
		if (rc < 0) {
			api_store_error(v, req, rc, "host");
			return;
		}
		int64_t hid = h->id;
		store_host_free(h);
		if ((rc = api_change_begin(v)) == 0) {
			rc = store_host_set_policy(v->store, hid, pid, now);
			if (rc == 0)
				rc = store_host_set_next_due(v->store, hid, now, v->cfg.instance,
				                             now);
			rc = api_change_end(v, rc, hid, "policy", c->ctx.actor,
			                    "policy %s assigned to host %s", name, host);
		}
	} else if ((rc = api_change_begin(v)) == 0) {
		rc = store_policy_set_default(v->store, pid, now);
		rc = api_change_end(v, rc, 0, "policy", c->ctx.actor, "policy %s is the default",
		                    name);
	}
	if (rc < 0) {
		api_store_error(v, req, rc, "policy");
		return;
	}
	scheduler_kick(v);
	policy_reply(v, req, 200, name, NULL);
}

void api_policies_list(struct api_call *c)
{
	struct store_page pg;
	struct store_policy_list *pl = NULL;
	if (!api_page(c->req, &pg))
		return;
	int rc = store_policy_list(c->v->store, &pg, &pl);
	if (rc < 0) {
		api_store_error(c->v, c->req, rc, "policies");
		return;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < pl->n; i++)
		json_array_append_new(a, policy_json(&pl->v[i], false));
	store_policy_list_free(pl);
	https_reply_json(c->req, 200, json_pack("{s:o}", "policies", a));
}

void api_policy_show(struct api_call *c)
{
	policy_reply(c->v, c->req, 200, c->key, NULL);
}

void api_policy_remove(struct api_call *c)
{
	struct verifier *v = c->v;
	struct https_request *req = c->req;
	struct store_policy *p = NULL;
	int rc = store_policy_get_by_name(v->store, c->key, &p);
	if (rc == 0) {
		if ((rc = api_change_begin(v)) == 0) {
			rc = store_policy_remove(v->store, p->id);
			rc = api_change_end(v, rc, 0, "policy", c->ctx.actor, "policy %s removed",
			                    c->key);
		}
		store_policy_free(p);
	}
	if (rc == ATTEST_E_STATE) {
		https_reply_error(req, 409, "POLICY_IN_USE",
		                  "the policy is the default or assigned to hosts");
		return;
	}
	if (rc < 0) {
		api_store_error(v, req, rc, "policy");
		return;
	}
	https_reply_json(req, 200, json_pack("{s:s}", "removed", c->key));
}

/* ------------------------------------------------------------------ */
/* certified TPM list */

static json_t *ca_json(const struct store_ca *c, bool pem)
{
	json_t *j = json_pack("{s:I,s:s,s:s,s:s,s:o}", "id", (json_int_t)c->id, "fingerprint",
	                      c->fingerprint, "subject", c->subject ? c->subject : "", "source",
	                      c->source ? c->source : "", "added_at", api_time(c->added_at));
	if (pem) {
		const unsigned char *p = c->der;
		X509 *x = d2i_X509(NULL, &p, (long)c->der_len);
		BIO *bio = BIO_new(BIO_s_mem());
		if (x && bio && PEM_write_bio_X509(bio, x) == 1) {
			char *data = NULL;
			long n = BIO_get_mem_data(bio, &data);
			json_object_set_new(j, "pem", json_stringn(data, (size_t)n));
		}
		BIO_free(bio);
		X509_free(x);
	}
	return j;
}

int api_ca_find(struct verifier *v, const char *key, struct store_ca **ret)
{
	char *end = NULL;
	long long id = strtoll(key, &end, 10);
	if (end != key && *end == '\0' && strlen(key) < 20) {
		uint64_t off = 0;
		for (;;) {
			struct store_ca_list *cl = NULL;
			struct store_page pg = {.limit = STORE_PAGE_MAX, .offset = off};
			int rc = store_ca_list(v->store, &pg, &cl);
			if (rc < 0)
				return rc;
			for (size_t i = 0; i < cl->n; i++)
				if (cl->v[i].id == id) {
					rc = store_ca_get_by_fingerprint(v->store,
					                                 cl->v[i].fingerprint, ret);
					store_ca_list_free(cl);
					return rc;
				}
			size_t n = cl->n;
			store_ca_list_free(cl);
			if (n < STORE_PAGE_MAX)
				return ATTEST_E_NOTFOUND;
			off += n;
		}
	}
	char lower[80];
	size_t l = strlen(key);
	if (l >= sizeof lower)
		return ATTEST_E_NOTFOUND;
	for (size_t i = 0; i <= l; i++)
		lower[i] = (char)((key[i] >= 'A' && key[i] <= 'F') ? key[i] + 32 : key[i]);
	return store_ca_get_by_fingerprint(v->store, lower, ret);
}

void api_ca_add(struct api_call *call)
{
	struct verifier *v = call->v;
	struct https_request *req = call->req;
	struct api_ctx *ctx = &call->ctx;
	uint8_t *buf = NULL;
	size_t len = 0;
	const char *source = NULL;
	struct api_refusal why;
	int prc = api_parse_ca_add(call->body, VERIFIER_API_BODY_MAX, &buf, &len, &source, &why);
	if (prc == ATTEST_E_NOMEM)
		goto nomem;
	if (prc < 0) {
		https_reply_error(req, why.status, why.code, why.message);
		goto out;
	}
	json_t *added = json_array();
	size_t n_ok = 0, n_dup = 0;
	/* The CAs and one event per CA added commit together. */
	int rc = api_change_begin(v);
	if (rc == 0)
		rc = castore_import(v->store, buf, len, source, added, &n_ok, &n_dup);
	size_t i;
	json_t *x;
	json_array_foreach(added, i, x)
	{
		struct store_ca *c = NULL;
		char key[32];
		snprintf(key, sizeof key, "%lld",
		         (long long)json_integer_value(json_object_get(x, "id")));
		if (rc == 0 && (rc = api_ca_find(v, key, &c)) == 0)
			rc = api_change_event(v, 0, "ca", ctx->actor,
			                      "CA added to the certified TPM list: %s",
			                      c->subject ? c->subject : c->fingerprint);
		store_ca_free(c);
	}
	rc = api_change_end(v, rc, 0, NULL, NULL, NULL);
	if (rc == ATTEST_E_FORMAT) {
		json_decref(added);
		https_reply_error(req, 400, "INVALID_FIELD", "no X.509 certificate in the body");
		goto out;
	}
	if (rc < 0) {
		json_decref(added);
		api_store_error(v, req, rc, "CA certificate");
		goto out;
	}
	if (n_ok == 0) {
		json_decref(added);
		https_reply_error(req, 409, "EXISTS", "every certificate given is already listed");
		goto out;
	}
	/* The answer names each added CA with its fingerprint. */
	json_t *outl = json_array();
	json_array_foreach(added, i, x)
	{
		json_int_t id = json_integer_value(json_object_get(x, "id"));
		char key[32];
		snprintf(key, sizeof key, "%lld", (long long)id);
		struct store_ca *c = NULL;
		if (api_ca_find(v, key, &c) == 0) {
			json_array_append_new(outl, ca_json(c, false));
			store_ca_free(c);
		}
	}
	json_decref(added);
	https_reply_json(
	    req, 201, json_pack("{s:o,s:I}", "added", outl, "already_present", (json_int_t)n_dup));
	goto out;
nomem:
	https_reply_error(req, 500, "INTERNAL", "out of memory");
out:
	free(buf);
}

void api_cas_list(struct api_call *c)
{
	struct store_page pg;
	struct store_ca_list *cl = NULL;
	if (!api_page(c->req, &pg))
		return;
	int rc = store_ca_list(c->v->store, &pg, &cl);
	if (rc < 0) {
		api_store_error(c->v, c->req, rc, "CAs");
		return;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < cl->n; i++)
		json_array_append_new(a, ca_json(&cl->v[i], false));
	store_ca_list_free(cl);
	https_reply_json(c->req, 200, json_pack("{s:o}", "cas", a));
}

void api_ca_show(struct api_call *c)
{
	https_reply_json(c->req, 200, ca_json(c->ca, true));
}

void api_ca_remove(struct api_call *c)
{
	int rc = api_change_begin(c->v);
	if (rc == 0)
		rc = store_ca_remove(c->v->store, c->ca->id);
	rc = api_change_end(c->v, rc, 0, "ca", c->ctx.actor,
	                    "CA removed from the certified TPM list: %s",
	                    c->ca->subject ? c->ca->subject : c->ca->fingerprint);
	if (rc < 0) {
		api_store_error(c->v, c->req, rc, "CA certificate");
		return;
	}
	https_reply_json(c->req, 200, json_pack("{s:s}", "removed", c->ca->fingerprint));
}

/* ------------------------------------------------------------------ */
/* alarms, events */

static json_t *alarm_json(const struct store_alarm *a)
{
	/* A fleet alarm (kind "coverage", "dead_man") has no host: null. */
	return json_pack("{s:I,s:o,s:s,s:o,s:s,s:o,s:o,s:o,s:o}", "id", (json_int_t)a->id, "host",
	                 a->host_name ? json_string(a->host_name) : json_null(), "kind",
	                 a->kind ? a->kind : "host", "raised_at", api_time(a->raised_at), "summary",
	                 a->summary ? a->summary : "", "reasons", api_parse_stored(a->reasons_json),
	                 "cleared_at", api_time(a->cleared_at), "acked_at", api_time(a->acked_at),
	                 "acked_by", a->acked_by ? json_string(a->acked_by) : json_null());
}

static bool host_filter(struct verifier *v, struct https_request *req, int64_t *ret)
{
	const char *host = https_request_query(req, "host");
	*ret = 0;
	if (host == NULL)
		return true;
	struct store_host *h = NULL;
	int rc = store_host_get_by_name(v->store, host, &h);
	if (rc < 0) {
		api_store_error(v, req, rc, "host");
		return false;
	}
	*ret = h->id;
	store_host_free(h);
	return true;
}

void api_alarms_list(struct api_call *c)
{
	struct verifier *v = c->v;
	struct https_request *req = c->req;
	struct store_page pg;
	struct store_alarm_filter f = {0};
	if (!api_page(req, &pg) || !host_filter(v, req, &f.host_id))
		return;
	const char *o = https_request_query(req, "open"), *u = https_request_query(req, "unacked");
	f.open_only = o && strcmp(o, "1") == 0;
	f.unacked_only = u && strcmp(u, "1") == 0;
	struct store_alarm_list *al = NULL;
	int rc = store_alarm_list(v->store, &f, &pg, &al);
	if (rc < 0) {
		api_store_error(v, req, rc, "alarms");
		return;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < al->n; i++)
		json_array_append_new(a, alarm_json(&al->v[i]));
	store_alarm_list_free(al);
	https_reply_json(req, 200, json_pack("{s:o}", "alarms", a));
}

void api_alarm_show(struct api_call *c)
{
	struct store_alarm *a = NULL;
	int rc = store_alarm_get(c->v->store, c->id, &a);
	if (rc < 0) {
		api_store_error(c->v, c->req, rc, "alarm");
		return;
	}
	https_reply_json(c->req, 200, alarm_json(a));
	store_alarm_free(a);
}

void api_alarm_ack(struct api_call *c)
{
	int rc = store_alarm_ack(c->v->store, c->id, c->ctx.actor, verifier_now());
	if (rc == ATTEST_E_STATE) {
		https_reply_error(c->req, 409, "ALREADY_ACKNOWLEDGED",
		                  "the alarm was already acknowledged");
		return;
	}
	if (rc < 0) {
		api_store_error(c->v, c->req, rc, "alarm");
		return;
	}
	api_alarm_show(c);
}

void api_events_list(struct api_call *c)
{
	struct verifier *v = c->v;
	struct https_request *req = c->req;
	struct store_page pg;
	struct store_event_filter f = {0};
	if (!api_page(req, &pg) || !host_filter(v, req, &f.host_id) ||
	    !api_query_int(req, "since", &f.since) || !api_query_int(req, "until", &f.until) ||
	    !api_query_int(req, "before_id", &f.before_id))
		return;
	f.kind = https_request_query(req, "kind");
	struct store_event_list *el = NULL;
	int rc = store_event_list(v->store, &f, &pg, &el);
	if (rc < 0) {
		api_store_error(v, req, rc, "events");
		return;
	}
	json_t *a = json_array();
	int64_t last = 0;
	for (size_t i = 0; i < el->n; i++) {
		const struct store_event *e = &el->v[i];
		json_array_append_new(
		    a, json_pack("{s:I,s:I,s:o,s:s,s:s,s:s,s:o}", "id", (json_int_t)e->id, "at",
		                 (json_int_t)e->at, "host",
		                 e->host_name ? json_string(e->host_name) : json_null(), "kind",
		                 e->kind ? e->kind : "", "actor", e->actor ? e->actor : "",
		                 "message", e->message ? e->message : "", "details",
		                 api_parse_stored(e->details_json)));
		last = e->id;
	}
	uint32_t lim = pg.limit ? pg.limit : STORE_PAGE_DEFAULT;
	json_t *j = json_pack("{s:o}", "events", a);
	if (el->n == lim && last > 0)
		json_object_set_new(j, "next_before_id", json_integer(last));
	store_event_list_free(el);
	https_reply_json(req, 200, j);
}

/* ------------------------------------------------------------------ */
/* tokens */

void api_tokens_list(struct api_call *c)
{
	struct store_page pg;
	struct store_token_list *tl = NULL;
	if (!api_page(c->req, &pg))
		return;
	int rc = store_token_list(c->v->store, &pg, &tl);
	if (rc < 0) {
		api_store_error(c->v, c->req, rc, "tokens");
		return;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < tl->n; i++)
		json_array_append_new(a, json_pack("{s:I,s:s,s:s,s:o}", "id",
		                                   (json_int_t)tl->v[i].id, "name", tl->v[i].name,
		                                   "role", store_role_name(tl->v[i].role),
		                                   "created_at", api_time(tl->v[i].created_at)));
	store_token_list_free(tl);
	https_reply_json(c->req, 200, json_pack("{s:o}", "tokens", a));
}

void api_token_add(struct api_call *c)
{
	struct verifier *v = c->v;
	struct https_request *req = c->req;
	const char *tn = NULL, *rn = NULL;
	enum store_role role;
	struct api_refusal why = {.status = 400,
	                          .code = "INVALID_FIELD",
	                          .message = "give name and role (viewer or admin)"};
	if (api_parse_token_add(c->body, &tn, &rn, &why) < 0 || store_role_parse(rn, &role) < 0) {
		https_reply_error(req, why.status, why.code, why.message);
		return;
	}
	uint8_t raw[32], hash[STORE_TOKEN_HASH_SIZE];
	char tok[65];
	if (RAND_bytes(raw, sizeof raw) != 1) {
		https_reply_error(req, 500, "INTERNAL", "no randomness");
		return;
	}
	hex_encode(raw, sizeof raw, tok);
	OPENSSL_cleanse(raw, sizeof raw);
	int rc = store_token_hash(tok, strlen(tok), hash);
	if (rc == 0 && (rc = api_change_begin(v)) == 0) {
		rc = store_token_add(v->store, tn, role, hash, verifier_now(), NULL);
		rc = api_change_end(v, rc, 0, "token", c->ctx.actor, "%s token %s created", rn, tn);
	}
	OPENSSL_cleanse(hash, sizeof hash);
	if (rc < 0) {
		OPENSSL_cleanse(tok, sizeof tok);
		api_store_error(v, req, rc, "token");
		return;
	}
	https_reply_json(req, 201,
	                 json_pack("{s:s,s:s,s:s}", "name", tn, "role", rn, "token", tok));
	OPENSSL_cleanse(tok, sizeof tok);
}

void api_token_remove(struct api_call *c)
{
	struct store_token_list *tl = NULL;
	struct store_page pg = {.limit = STORE_PAGE_MAX};
	int rc = store_token_list(c->v->store, &pg, &tl);
	int64_t id = 0;
	if (rc == 0) {
		for (size_t i = 0; i < tl->n; i++)
			if (strcmp(tl->v[i].name, c->key) == 0)
				id = tl->v[i].id;
		store_token_list_free(tl);
		rc = id ? api_change_begin(c->v) : ATTEST_E_NOTFOUND;
		if (rc == 0) {
			rc = store_token_remove(c->v->store, id);
			rc = api_change_end(c->v, rc, 0, "token", c->ctx.actor, "token %s removed",
			                    c->key);
		}
	}
	if (rc < 0) {
		api_store_error(c->v, c->req, rc, "token");
		return;
	}
	https_reply_json(c->req, 200, json_pack("{s:s}", "removed", c->key));
}

/* ------------------------------------------------------------------ */
/* status and metrics */

void api_status(struct api_call *call)
{
	struct verifier *v = call->v;
	struct https_request *req = call->req;
	struct store_host_tally c;
	if (store_host_tally(v->store, &c) < 0) {
		api_store_error(v, req, ATTEST_E_IO, "hosts");
		return;
	}
	json_t *hosts = api_tally_json(&c);
	https_reply_json(req, 200,
	                 json_pack("{s:s,s:s,s:s,s:s,s:o,s:I,s:s,s:o}", "version", ATTEST_VERSION,
	                           "instance", v->cfg.instance, "thumbprint", v->id->thumbprint,
	                           "db_backend", store_backend_name(v->store), "hosts", hosts,
	                           "in_flight", (json_int_t)v->in_flight, "role",
	                           store_role_name(call->ctx.role), "coverage", coverage_json(v)));
}

/* The metrics page is small (a few kB); the cap only bounds a runaway. */
#define METRICS_TEXT_MAX (1u << 20)

static void route_metrics(struct https_request *req, void *arg)
{
	struct verifier *v = arg;
	struct api_ctx ctx;
	if (!api_auth(v, req, false, false, &ctx))
		return;
	struct store_host_tally c;
	if (store_host_tally(v->store, &c) < 0) {
		https_reply_error(req, 500, "INTERNAL", "database failure");
		return;
	}
	struct store_alarm_filter af = {.open_only = true};
	struct store_page pg = {.limit = STORE_PAGE_MAX};
	struct store_alarm_list *al = NULL;
	size_t open_alarms = 0;
	if (store_alarm_list(v->store, &af, &pg, &al) == 0) {
		open_alarms = al->n;
		store_alarm_list_free(al);
	}
	struct textbuf b;
	textbuf_growable(&b, METRICS_TEXT_MAX);
	textbuf_add(&b, "# HELP attest_hosts Hosts by trust and connection state.\n"
	                "# TYPE attest_hosts gauge\n");
	for (int t = 0; t < 3; t++)
		for (int k = 0; k < 3; k++)
			textbuf_add(&b, "attest_hosts{trust=\"%s\",connection=\"%s\"} %lld\n",
			            store_trust_name((enum store_trust)t),
			            store_conn_name((enum store_conn)k), (long long)c.matrix[t][k]);
	const struct verifier_metrics *m = &v->m;
	textbuf_add(&b,
	            "# HELP attest_attestations_total Attestations finished, by result.\n"
	            "# TYPE attest_attestations_total counter\n"
	            "attest_attestations_total{result=\"green\"} %llu\n"
	            "attest_attestations_total{result=\"red\"} %llu\n"
	            "attest_attestations_total{result=\"unknown\"} %llu\n"
	            "attest_attestations_total{result=\"error\"} %llu\n"
	            "# HELP attest_enrollments_total Enrollments, by result.\n"
	            "# TYPE attest_enrollments_total counter\n"
	            "attest_enrollments_total{result=\"ok\"} %llu\n"
	            "attest_enrollments_total{result=\"failed\"} %llu\n",
	            (unsigned long long)m->attest_green, (unsigned long long)m->attest_red,
	            (unsigned long long)m->attest_unknown, (unsigned long long)m->attest_error,
	            (unsigned long long)m->enroll_ok, (unsigned long long)m->enroll_failed);
	textbuf_add(&b, "# HELP attest_attestation_duration_seconds Request to verdict.\n"
	                "# TYPE attest_attestation_duration_seconds histogram\n");
	const double *bounds = metrics_hist_bounds();
	uint64_t cum = 0;
	for (int i = 0; i < VERIFIER_HIST_BUCKETS; i++) {
		cum += m->hist[i];
		textbuf_add(&b, "attest_attestation_duration_seconds_bucket{le=\"%g\"} %llu\n",
		            bounds[i], (unsigned long long)cum);
	}
	cum += m->hist[VERIFIER_HIST_BUCKETS];
	textbuf_add(&b,
	            "attest_attestation_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
	            "attest_attestation_duration_seconds_sum %.6f\n"
	            "attest_attestation_duration_seconds_count %llu\n"
	            "# HELP attest_in_flight Enrollments and attestations in progress.\n"
	            "# TYPE attest_in_flight gauge\n"
	            "attest_in_flight %u\n"
	            "# HELP attest_open_alarms Alarms not cleared.\n"
	            "# TYPE attest_open_alarms gauge\n"
	            "attest_open_alarms %zu\n",
	            (unsigned long long)cum, m->hist_sum, (unsigned long long)m->hist_count,
	            v->in_flight, open_alarms);
	metrics_phases_render(v, &b);
	struct https_client_stats cs;
	https_client_get_stats(v->cli, &cs);
	textbuf_add(&b,
	            "# HELP attest_agent_requests_total Requests sent to agents.\n"
	            "# TYPE attest_agent_requests_total counter\n"
	            "attest_agent_requests_total %llu\n"
	            "# HELP attest_agent_connections_total Connections to agents, by kind: new "
	            "(a TLS handshake), resumed (of those: a resumed TLS session), reused (a "
	            "kept-alive one), retried (an idempotent "
	            "request sent again), peer_closed (a kept-alive one the agent closed).\n"
	            "# TYPE attest_agent_connections_total counter\n"
	            "attest_agent_connections_total{kind=\"new\"} %llu\n"
	            "attest_agent_connections_total{kind=\"resumed\"} %llu\n"
	            "attest_agent_connections_total{kind=\"reused\"} %llu\n"
	            "attest_agent_connections_total{kind=\"retried\"} %llu\n"
	            "attest_agent_connections_total{kind=\"peer_closed\"} %llu\n"
	            "# HELP attest_agent_connections_idle Kept-alive connections parked now.\n"
	            "# TYPE attest_agent_connections_idle gauge\n"
	            "attest_agent_connections_idle %u\n"
	            "# HELP attest_eventlog_memo_total Event logs of quotes, by whether the "
	            "host's memoized result was reused (hit) or the log was parsed (miss).\n"
	            "# TYPE attest_eventlog_memo_total counter\n"
	            "attest_eventlog_memo_total{result=\"hit\"} %llu\n"
	            "attest_eventlog_memo_total{result=\"miss\"} %llu\n",
	            (unsigned long long)cs.requests, (unsigned long long)cs.connections,
	            (unsigned long long)cs.resumed, (unsigned long long)cs.reused,
	            (unsigned long long)cs.retried, (unsigned long long)cs.peer_closed, cs.idle,
	            (unsigned long long)m->eventlog_memo_hit,
	            (unsigned long long)m->eventlog_memo_miss);
	textbuf_add(&b,
	            "# HELP attest_push_channels Pushing agents connected to this instance "
	            "(docs/protocol.md, \"Push carrier\").\n"
	            "# TYPE attest_push_channels gauge\n"
	            "attest_push_channels %zu\n",
	            push_channels(v));
	struct store_writer_stats ws = {0};
	if (v->writer != NULL)
		store_writer_stats(v->writer, &ws);
	textbuf_add(&b,
	            "# HELP attest_store_writes_total Writes run by the storage writer thread.\n"
	            "# TYPE attest_store_writes_total counter\n"
	            "attest_store_writes_total{result=\"ok\"} %llu\n"
	            "attest_store_writes_total{result=\"failed\"} %llu\n"
	            "# HELP attest_store_groups_total Group commits (transactions) of the writer.\n"
	            "# TYPE attest_store_groups_total counter\n"
	            "attest_store_groups_total %llu\n"
	            "# HELP attest_store_queued Writes waiting for the storage writer thread.\n"
	            "# TYPE attest_store_queued gauge\n"
	            "attest_store_queued %zu\n",
	            (unsigned long long)(ws.works - ws.failed), (unsigned long long)ws.failed,
	            (unsigned long long)ws.groups, ws.queued);
	textbuf_add(&b,
	            "# HELP attest_eventlog_unchanged_total Quotes whose event log the agent left "
	            "out as unchanged (used: the memo stood for it; asked_again: it could not, "
	            "and the quote was asked for again with the log).\n"
	            "# TYPE attest_eventlog_unchanged_total counter\n"
	            "attest_eventlog_unchanged_total{result=\"used\"} %llu\n"
	            "attest_eventlog_unchanged_total{result=\"asked_again\"} %llu\n",
	            (unsigned long long)m->eventlog_unchanged,
	            (unsigned long long)m->eventlog_asked_again);
	api_notify_metrics(v, &b);
	coverage_metrics(v, &b);
	if (b.nomem || b.buf == NULL) {
		textbuf_free(&b);
		https_reply_error(req, 500, "INTERNAL", "out of memory");
		return;
	}
	https_reply_bytes(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.buf, b.len);
	textbuf_free(&b);
}

static void route_api_fallback(struct https_request *req, void *arg)
{
	https_reply_error(req, 404, "NOT_FOUND", "no such API path (see docs/api.md)");
}

int api_admin_register(struct verifier *v)
{
	/* Every /api/v1 route is in the table of routes.c (api_register); these
	 * two are not under it: Prometheus' /metrics and the 404 for the rest. */
	int rc = 0;
	rc |= https_server_route(v->srv, "GET", "/metrics", route_metrics, v);
	rc |= https_server_route(v->srv, NULL, "/api/", route_api_fallback, v);
	return rc < 0 ? ATTEST_E_ARG : 0;
}
