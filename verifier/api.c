/* Operator API (docs/api.md): authentication, shared helpers, the host
 * inventory endpoints and the reason table. Other resources are in
 * api_admin.c; the route table that calls them all is routes.c. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ekcert.h"
#include "err.h"
#include "api_parse.h"
#include "api_routes.h"
#include "jsontext.h"
#include "log.h"
#include "reason.h"

/* ------------------------------------------------------------------ */
/* helpers */

json_t *api_time(int64_t t)
{
	return t > 0 ? json_integer((json_int_t)t) : json_null();
}

json_t *api_parse_stored(const char *text)
{
	return verifier_json_stored(text);
}

int api_change_begin(struct verifier *v)
{
	return store_write_begin(v->store);
}

static int change_vevent(struct verifier *v, int64_t host_id, const char *kind, const char *actor,
                         const char *fmt, va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof msg, fmt, ap);
	struct store_event_new e = {
	    .host_id = host_id, .kind = kind, .actor = actor, .message = msg};
	return store_event_add(v->store, &e, verifier_now(), NULL);
}

int api_change_event(struct verifier *v, int64_t host_id, const char *kind, const char *actor,
                     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = change_vevent(v, host_id, kind, actor, fmt, ap);
	va_end(ap);
	return rc;
}

int api_change_end(struct verifier *v, int rc, int64_t host_id, const char *kind, const char *actor,
                   const char *fmt, ...)
{
	if (rc == 0 && fmt != NULL) {
		va_list ap;
		va_start(ap, fmt);
		rc = change_vevent(v, host_id, kind, actor, fmt, ap);
		va_end(ap);
	}
	if (rc == 0)
		return store_write_commit(v->store);
	store_write_rollback(v->store);
	return rc;
}

bool api_auth(struct verifier *v, struct https_request *req, bool change, bool admin_only,
              struct api_ctx *ctx)
{
	const char *tok = https_request_bearer(req);
	uint8_t hash[STORE_TOKEN_HASH_SIZE];
	struct store_token *t = NULL;
	if (tok == NULL || store_token_hash(tok, strlen(tok), hash) < 0 ||
	    store_token_lookup(v->store, hash, &t) < 0) {
		OPENSSL_cleanse(hash, sizeof hash);
		https_reply_header(req, "WWW-Authenticate", "Bearer realm=\"attest\"");
		https_reply_error(req, 401, "UNAUTHENTICATED",
		                  tok == NULL ? "an Authorization: Bearer token is required"
		                              : "unknown token");
		return false;
	}
	OPENSSL_cleanse(hash, sizeof hash);
	ctx->v = v;
	ctx->role = t->role;
	snprintf(ctx->actor, sizeof ctx->actor, "%s", t->name);
	store_token_free(t);
	if ((change || admin_only) && ctx->role != STORE_ROLE_ADMIN) {
		https_reply_error(req, 403, "FORBIDDEN",
		                  admin_only ? "this needs an admin token"
		                             : "a viewer token may only read; this change needs an "
		                               "admin token");
		return false;
	}
	return true;
}

bool api_body(struct https_request *req, size_t cap, json_t **ret)
{
	const uint8_t *b;
	size_t n;
	struct api_refusal why;
	https_request_body(req, &b, &n);
	int rc = api_parse_body(b, n, cap, ret, &why);
	if (rc == ATTEST_E_NOMEM)
		https_reply_error(req, 500, "INTERNAL", "out of memory");
	else if (rc)
		https_reply_error(req, why.status, why.code, why.message);
	return rc == 0;
}

bool api_known_fields(struct https_request *req, json_t *obj, const char *const *keys)
{
	struct api_refusal why;
	if (api_parse_known_fields(obj, keys, &why) == 0)
		return true;
	https_reply_error(req, why.status, why.code, why.message);
	return false;
}

void api_store_error(struct verifier *v, struct https_request *req, int rc, const char *what)
{
	static const struct {
		int rc, status;
		const char *code, *says; /* NULL: "invalid value (the error's name)" */
	} answers[] = {
	    {ATTEST_E_NOTFOUND, 404, "NOT_FOUND", "not found"},
	    {ATTEST_E_EXISTS, 409, "EXISTS", "already exists"},
	    {ATTEST_E_ARG, 400, "INVALID_FIELD", NULL},
	    {ATTEST_E_LIMIT, 400, "INVALID_FIELD", NULL},
	    {ATTEST_E_FORMAT, 400, "INVALID_FIELD", NULL},
	    {ATTEST_E_STATE, 409, "BUSY", "not possible in the current state"},
	};
	for (size_t i = 0; i < sizeof answers / sizeof answers[0]; i++) {
		if (answers[i].rc != rc)
			continue;
		char m[512];
		if (answers[i].says)
			snprintf(m, sizeof m, "%s: %s", what, answers[i].says);
		else
			snprintf(m, sizeof m, "%s: invalid value (%s)", what, attest_strerror(rc));
		https_reply_error(req, answers[i].status, answers[i].code, m);
		return;
	}
	if (rc == ATTEST_E_IO && store_busy(v->store)) {
		/* Another writer held the lock past --db-lock-wait-ms: the event
		 * loop does not wait longer (docs/storage.md). */
		log_warning("database busy: %s: %s", what, store_errmsg(v->store));
		https_reply_header(req, "Retry-After", "1");
		https_reply_error(req, 503, "DATABASE_BUSY",
		                  "the database is locked by another writer; nothing was changed, "
		                  "try again");
		return;
	}
	log_error("database: %s: %s", what, store_errmsg(v->store));
	https_reply_error(req, 500, "INTERNAL", "database failure; nothing was changed");
}

bool api_query_int(struct https_request *req, const char *name, int64_t *val)
{
	const char *s = https_request_query(req, name);
	if (s == NULL)
		return true;
	char *end = NULL;
	errno = 0;
	long long x = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || x < 0) {
		char m[128];
		snprintf(m, sizeof m, "query parameter %s must be a non-negative integer", name);
		https_reply_error(req, 400, "INVALID_PARAMETER", m);
		return false;
	}
	*val = x;
	return true;
}

bool api_page(struct https_request *req, struct store_page *page)
{
	int64_t limit = 0, offset = 0;
	if (!api_query_int(req, "limit", &limit) || !api_query_int(req, "offset", &offset))
		return false;
	if (limit > STORE_PAGE_MAX) {
		https_reply_error(req, 400, "INVALID_PARAMETER", "limit is at most 1000");
		return false;
	}
	page->limit = (uint32_t)limit;
	page->offset = (uint64_t)offset;
	return true;
}

static bool flag_query(struct https_request *req, const char *name)
{
	const char *s = https_request_query(req, name);
	return s != NULL && (strcmp(s, "1") == 0 || strcmp(s, "true") == 0);
}

/* ------------------------------------------------------------------ */
/* hosts */

json_t *api_host_json(const struct store_host *h)
{
	json_t *reasons = api_parse_stored(h->reasons_json);
	if (!json_is_array(reasons)) {
		json_decref(reasons);
		reasons = json_array();
	}
	json_t *boot = json_pack(
	    "{s:o,s:o,s:o}", "reset_count",
	    h->reset_count >= 0 ? json_integer(h->reset_count) : json_null(), "restart_count",
	    h->restart_count >= 0 ? json_integer(h->restart_count) : json_null(), "boot_id",
	    h->boot_id ? json_string(h->boot_id) : json_null());
	json_t *j = json_pack(
	    "{s:s,s:s,s:o,s:o,s:b,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:I,s:I,s:o,s:b,s:o,s:o,s:o,s:o,s:o,"
	    "s:o}",
	    "name", h->name, "address", h->address, "thumbprint",
	    h->thumbprint ? json_string(h->thumbprint) : json_null(), "policy",
	    h->policy_name ? json_string(h->policy_name) : json_null(), "enabled", h->enabled,
	    "trust", store_trust_name(h->trust), "connection", store_conn_name(h->connection),
	    "reasons", reasons, "last_attested", api_time(h->last_attested), "last_seen",
	    api_time(h->last_seen), "evidence_expires", api_time(h->evidence_expires), "next_due",
	    h->enabled ? api_time(h->next_due) : json_null(), "interval_s",
	    (json_int_t)h->interval_s, "failures", (json_int_t)h->failures, "ak_name",
	    h->ak_name ? json_string(h->ak_name) : json_null(), "ek_certified", h->ek_certified,
	    "tpm", api_parse_stored(h->tpm_json), "software", api_parse_stored(h->software_json),
	    "boot", boot ? boot : json_null(), "created_at", api_time(h->created_at), "updated_at",
	    api_time(h->updated_at), "lease_owner",
	    h->lease_owner ? json_string(h->lease_owner) : json_null());
	/* Push hosts (docs/protocol.md, "Push carrier"): no address; which
	 * verifier instance holds the agent's channel. */
	if (j != NULL) {
		json_object_set_new(j, "mode", json_string(h->push ? "push" : "pull"));
		json_object_set_new(j, "push_instance",
		                    h->push && h->push_instance ? json_string(h->push_instance)
		                                                : json_null());
		if (h->push)
			json_object_set_new(j, "address", json_null());
	}
	return j;
}

void api_reply_host(struct verifier *v, struct https_request *req, int status, int64_t host_id)
{
	struct store_host *h = NULL;
	int rc = store_host_get(v->store, host_id, &h);
	if (rc < 0) {
		api_store_error(v, req, rc, "host");
		return;
	}
	json_t *j = api_host_json(h);
	store_host_free(h);
	if (j == NULL) {
		https_reply_error(req, 500, "INTERNAL", "out of memory");
		return;
	}
	https_reply_json(req, status, j);
}

/* Make a host unknown with one reason (code and message: constant text, no
 * JSON escaping needed), as actor. */
static int host_set_unknown(struct verifier *v, int64_t host_id, const char *code,
                            const char *message, const char *actor, int64_t now)
{
	char reasons[512];
	snprintf(reasons, sizeof reasons, "[{\"code\":\"%s\",\"message\":\"%s\"}]", code, message);
	struct store_verdict vd = {
	    .host_id = host_id, .trust = STORE_TRUST_UNKNOWN, .reasons_json = reasons};
	return store_host_set_trust(v->store, &vd, NULL, actor, now, NULL);
}
/* A caller of ?wait=1 waiting for the host's next attestation to end. */
struct host_wait {
	struct https_request *req;
	int status;
};

static void host_waited(struct verifier *v, int64_t host_id, enum scheduler_wait_end end, void *arg)
{
	struct host_wait *w = arg;
	if (end == SCHEDULER_WAIT_DONE)
		api_reply_host(v, w->req, w->status, host_id);
	else if (end == SCHEDULER_WAIT_TIMEOUT)
		https_reply_error(w->req, 504, "ATTESTATION_PENDING",
		                  "the attestation has not finished yet; look at the host later");
	free(w);
}

/* Answer req with the host (with status) once an attestation of host_id
 * that starts now has finished, or with 504 after a timeout. */
static void wait_host(struct verifier *v, int64_t host_id, struct https_request *req, int status)
{
	struct host_wait *w = malloc(sizeof *w);
	if (w != NULL) {
		*w = (struct host_wait){.req = req, .status = status};
		if (scheduler_wait(v, host_id, host_waited, w) == 0)
			return;
		free(w);
	}
	https_reply_error(req, 500, "INTERNAL", "out of memory");
}

struct add_ctx {
	struct verifier *v;
	struct https_request *req;
	char actor[STORE_NAME_MAX + 1];
	char *name, *address, *policy;
	int64_t interval_s;
	bool accept, wait, push;
	char ek[72]; /* operator-approved EK key hash, or "" */
};

static void add_ctx_free(struct add_ctx *a)
{
	if (a == NULL)
		return;
	free(a->name);
	free(a->address);
	free(a->policy);
	free(a);
}

/* Store the host with its pinned thumbprint and start enrolling it. */
static void add_finish(struct add_ctx *a, const char *thumbprint)
{
	struct verifier *v = a->v;
	struct https_request *req = a->req;
	int64_t policy_id = 0, id = 0, now = verifier_now();
	if (a->policy != NULL) {
		struct store_policy *p = NULL;
		int rc = store_policy_get_by_name(v->store, a->policy, &p);
		if (rc < 0) {
			api_store_error(v, req, rc, "policy");
			return;
		}
		policy_id = p->id;
		store_policy_free(p);
	}
	/* One agent is one host: a second name for it would make the two
	 * enrollments replace each other's AK (the first host red for ever). */
	char *other = NULL;
	int orc = store_host_with_thumbprint(v->store, thumbprint, 0, &other);
	if (orc == 0) {
		char m[STORE_NAME_MAX + 300];
		snprintf(m, sizeof m,
		         "host \"%s\" already has the agent with thumbprint %s; an agent can be "
		         "one host only (remove \"%s\" first to rename it)",
		         other, thumbprint, other);
		json_t *e =
		    json_pack("{s:{s:s,s:s,s:s,s:s}}", "error", "code", "AGENT_ALREADY_ADDED",
		              "message", m, "host", other, "thumbprint", thumbprint);
		free(other);
		https_reply_json(req, 409, e);
		return;
	}
	if (orc != ATTEST_E_NOTFOUND) {
		api_store_error(v, req, orc, "host");
		return;
	}
	struct store_host_new hn = {.name = a->name,
	                            .address = a->address,
	                            .thumbprint = thumbprint,
	                            .policy_id = policy_id,
	                            .interval_s = a->interval_s,
	                            .push = a->push};
	/* One transaction: a refused write (locked) leaves nothing half-added,
	 * and the host is never there without its event and audit record. */
	int rc = api_change_begin(v);
	if (rc == 0)
		rc = store_host_add(v->store, &hn, now, &id);
	if (rc == 0 && a->ek[0])
		rc = store_host_set_ek_key(v->store, id, a->ek, now);
	if (rc == 0)
		rc = host_set_unknown(v, id, REASON_NOT_YET_ATTESTED,
		                      "the host was added; enrollment and attestation are pending",
		                      a->actor, now);
	if (rc == 0 && a->push) /* docs/protocol.md, "Push carrier" */
		rc =
		    store_host_set_connection(v->store, id, STORE_CONN_NOT_RESPONDING, a->actor,
		                              "waiting for the agent to connect (push)", now, NULL);
	if (a->push)
		rc = api_change_end(v, rc, id, "host", a->actor,
		                    "host %s added (push), agent thumbprint %s pinned", a->name,
		                    thumbprint);
	else
		rc = api_change_end(v, rc, id, "host", a->actor,
		                    "host %s added at %s, agent thumbprint %s pinned", a->name,
		                    a->address, thumbprint);
	if (rc < 0) {
		api_store_error(v, req, rc, "host");
		return;
	}
	scheduler_kick(v);
	if (a->wait)
		wait_host(v, id, req, 201);
	else
		api_reply_host(v, req, 201, id);
}

static void add_fetched(const struct https_result *res, void *arg)
{
	struct add_ctx *a = arg;
	struct https_request *req = a->req;
	if (res->peer_thumbprint == NULL) {
		char m[600];
		snprintf(m, sizeof m, "cannot reach the agent at %s: %s", a->address,
		         res->message ? res->message : https_error_name(res->error));
		https_reply_error(req, 502, "HOST_UNREACHABLE", m);
	} else if (a->accept) {
		add_finish(a, res->peer_thumbprint);
	} else {
		char m[600];
		snprintf(m, sizeof m,
		         "the agent at %s presents the certificate thumbprint %s; check it against "
		         "the one attest-agent printed, then add the host again with that "
		         "thumbprint (or accept_thumbprint)",
		         a->address, res->peer_thumbprint);
		json_t *e = json_pack("{s:{s:s,s:s,s:s,s:s}}", "error", "code",
		                      "THUMBPRINT_NOT_CONFIRMED", "message", m, "address",
		                      a->address, "thumbprint", res->peer_thumbprint);
		https_reply_json(req, 409, e);
	}
	add_ctx_free(a);
}

void api_hosts_add(struct api_call *c)
{
	struct verifier *v = c->v;
	struct https_request *req = c->req;
	struct add_ctx *a = NULL;
	struct api_host_add in;
	struct api_refusal why;
	if (api_parse_host_add(c->body, v->cfg.interval_s, &in, &why) < 0) {
		https_reply_error(req, why.status, why.code, why.message);
		goto out;
	}
	const char *name = in.name;
	const char *tp = in.have_thumbprint ? in.thumbprint : "";
	struct store_host *existing = NULL;
	if (store_host_get_by_name(v->store, name, &existing) == 0) {
		store_host_free(existing);
		https_reply_error(req, 409, "EXISTS", "a host with that name exists");
		goto out;
	}
	a = calloc(1, sizeof *a);
	if (a == NULL)
		goto nomem;
	a->v = v;
	a->req = req;
	memcpy(a->actor, c->ctx.actor, sizeof a->actor);
	a->name = strdup(name);
	a->address = strdup(in.address);
	a->policy = in.policy ? strdup(in.policy) : NULL;
	a->interval_s = in.interval_s;
	a->accept = in.accept_thumbprint;
	a->push = in.push;
	a->wait = flag_query(req, "wait");
	if (in.have_ek)
		memcpy(a->ek, in.ek, sizeof a->ek);
	if (a->name == NULL || a->address == NULL || (in.policy && a->policy == NULL))
		goto nomem;
	if (tp[0] != '\0') {
		add_finish(a, tp);
		goto out;
	}
	/* Show me the thumbprint: connect, read the certificate, send nothing. */
	struct https_call call = {.host = in.host,
	                          .port = in.port,
	                          .verify = HTTPS_VERIFY_FETCH,
	                          .timeout_ms = v->cfg.timeout_ms};
	if (https_client_request(v->cli, &call, add_fetched, a) < 0) {
		https_reply_error(req, 502, "HOST_UNREACHABLE", "cannot start a connection");
		goto out;
	}
	a = NULL; /* owned by the callback */
	goto out;
nomem:
	https_reply_error(req, 500, "INTERNAL", "out of memory");
out:
	add_ctx_free(a);
}

/* The fleet counts (every host, whatever the filters) as the API spells
 * them, in GET /api/v1/hosts and GET /api/v1/status. */
json_t *api_tally_json(const struct store_host_tally *t)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "total", (json_int_t)t->total, "green",
	                 (json_int_t)t->trust[STORE_TRUST_GREEN], "red",
	                 (json_int_t)t->trust[STORE_TRUST_RED], "unknown",
	                 (json_int_t)t->trust[STORE_TRUST_UNKNOWN], "connected",
	                 (json_int_t)t->conn[STORE_CONN_CONNECTED], "disconnected",
	                 (json_int_t)t->conn[STORE_CONN_DISCONNECTED], "not_responding",
	                 (json_int_t)t->conn[STORE_CONN_NOT_RESPONDING]);
}

static void bad_parameter(struct https_request *req, const char *msg)
{
	https_reply_error(req, 400, "INVALID_PARAMETER", msg);
}

/* The query parameters of GET /api/v1/hosts beyond limit and offset, each
 * checked: a value the verifier does not know is a 400 naming the
 * parameter and what it accepts, never silently ignored. */
static bool hosts_query(struct https_request *req, struct store_host_query *q)
{
	const char *trust = https_request_query(req, "trust"),
	           *conn = https_request_query(req, "connection"),
	           *text = https_request_query(req, "q"), *sort = https_request_query(req, "sort"),
	           *order = https_request_query(req, "order");
	memset(q, 0, sizeof *q);
	if (trust && store_trust_parse(trust, &q->trust) < 0) {
		bad_parameter(req, "query parameter trust must be green, red or unknown");
		return false;
	}
	if (conn && store_conn_parse(conn, &q->conn) < 0) {
		bad_parameter(req, "query parameter connection must be connected, disconnected or "
		                   "not_responding");
		return false;
	}
	q->by_trust = trust != NULL;
	q->by_conn = conn != NULL;
	if (sort && store_host_sort_parse(sort, &q->sort) < 0) {
		bad_parameter(req, "query parameter sort must be name, trust, connection, "
		                   "last_attested, last_seen or address");
		return false;
	}
	if (order && strcmp(order, "asc") != 0 && strcmp(order, "desc") != 0) {
		bad_parameter(req, "query parameter order must be asc or desc");
		return false;
	}
	q->desc = order && strcmp(order, "desc") == 0;
	if (text) {
		if (strlen(text) > STORE_QUERY_TEXT_MAX) {
			bad_parameter(req, "query parameter q is at most 255 bytes");
			return false;
		}
		for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
			if (*c < 0x20 || *c == 0x7f) {
				bad_parameter(req,
				              "query parameter q contains a control character");
				return false;
			}
		}
		q->text = text;
	}
	return true;
}

void api_hosts_list(struct api_call *c)
{
	struct verifier *v = c->v;
	struct https_request *req = c->req;
	struct store_page pg;
	struct store_host_query q;
	if (!api_page(req, &pg) || !hosts_query(req, &q))
		return;
	/* policy=NAME: the hosts judged against that policy. */
	const char *policy = https_request_query(req, "policy");
	if (policy) {
		struct store_policy *p = NULL;
		int prc = store_policy_get_by_name(v->store, policy, &p);
		if (prc == ATTEST_E_NOTFOUND || prc == ATTEST_E_ARG || prc == ATTEST_E_LIMIT) {
			bad_parameter(req, "query parameter policy names no policy");
			return;
		}
		if (prc < 0) {
			api_store_error(v, req, prc, "policy");
			return;
		}
		q.policy_id = p->id;
		q.policy_default = p->is_default;
		store_policy_free(p);
	}
	struct store_host_list *hl = NULL;
	struct store_host_tally tally;
	int64_t total = 0;
	int rc = store_host_query(v->store, &q, &pg, &hl, &total);
	if (rc == 0)
		rc = store_host_tally(v->store, &tally);
	if (rc < 0) {
		store_host_list_free(hl);
		api_store_error(v, req, rc, "hosts");
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < hl->n; i++)
		json_array_append_new(arr, api_host_json(&hl->v[i]));
	store_host_list_free(hl);
	https_reply_json(req, 200,
	                 json_pack("{s:o,s:I,s:o}", "hosts", arr, "total", (json_int_t)total,
	                           "counts", api_tally_json(&tally)));
}

void api_host_show(struct api_call *c)
{
	struct verifier *v = c->v;
	struct https_request *req = c->req;
	const struct store_host *h = c->host;
	json_t *j = api_host_json(h);
	struct store_result_list *rl = NULL;
	struct store_page pg = {.limit = 10};
	json_t *res = json_array();
	if (store_result_list(v->store, h->id, &pg, &rl) == 0) {
		for (size_t i = 0; i < rl->n; i++) {
			const struct store_result *r = &rl->v[i];
			json_t *o = json_pack("{s:I,s:s,s:o,s:I}", "at", (json_int_t)r->at, "trust",
			                      store_trust_name(r->trust), "reasons",
			                      api_parse_stored(r->reasons_json), "duration_ms",
			                      (json_int_t)r->duration_ms);
			/* Which verifier instance ran it, and its start in ms: with
			 * several instances, shows no two overlapped. */
			json_object_set_new(o, "started_ms",
			                    r->started_ms ? json_integer(r->started_ms)
			                                  : json_null());
			json_object_set_new(o, "instance",
			                    r->instance ? json_string(r->instance) : json_null());
			json_array_append_new(res, o);
		}
		store_result_list_free(rl);
	}
	json_object_set_new(j, "results", res);
	https_reply_json(req, 200, j);
}

void api_host_disconnect(struct api_call *c)
{
	struct verifier *v = c->v;
	struct https_request *req = c->req;
	const struct store_host *h = c->host;
	int64_t now = verifier_now();
	int rc = api_change_begin(v); /* all or nothing, the event with it */
	if (rc == 0)
		rc = store_host_set_enabled(v->store, h->id, false, now);
	if (rc == 0)
		rc = store_host_set_connection(v->store, h->id, STORE_CONN_DISCONNECTED,
		                               c->ctx.actor, "disconnected by the operator", now,
		                               NULL);
	if (rc == 0)
		rc = host_set_unknown(
		    v, h->id, REASON_HOST_DISCONNECTED,
		    "the operator disconnected the host; it is not attested until reconnected",
		    c->ctx.actor, now);
	rc = api_change_end(v, rc, h->id, "host", c->ctx.actor, "host %s disconnected", h->name);
	if (rc < 0) {
		api_store_error(v, req, rc, "host");
		return;
	}
	api_reply_host(v, req, 200, h->id);
}

void api_host_reconnect(struct api_call *c)
{
	struct verifier *v = c->v;
	struct https_request *req = c->req;
	const struct store_host *h = c->host;
	int64_t now = verifier_now();
	struct store_identity none = {0};
	int rc = api_change_begin(v); /* all or nothing, the event with it */
	if (rc == 0)
		rc = store_host_set_enabled(v->store, h->id, true, now);
	if (rc == 0)
		rc = store_ak_retire_all(v->store, h->id, now, NULL);
	if (rc == 0)
		rc = store_host_set_identity(v->store, h->id, &none, now);
	if (rc == 0)
		rc = store_host_set_boot(v->store, h->id, -1, -1, NULL, now);
	if (rc == 0)
		rc =
		    host_set_unknown(v, h->id, REASON_NOT_YET_ATTESTED,
		                     "the host was reconnected; its TPM identity is read again and "
		                     "a new AK enrolled",
		                     c->ctx.actor, now);
	/* An attestation in flight (here or on another instance) was judged
	 * against the identity just cleared: its lease goes, so its verdict is
	 * refused, and the host is this instance's to enroll again. */
	if (rc == 0)
		rc = store_lease_drop(v->store, h->id, now);
	if (rc == 0)
		rc = store_host_set_next_due(v->store, h->id, now, v->cfg.instance, now);
	rc = api_change_end(v, rc, h->id, "host", c->ctx.actor,
	                    "host %s reconnected: TPM identity re-read, AK re-enrolled", h->name);
	if (rc < 0) {
		api_store_error(v, req, rc, "host");
		return;
	}
	scheduler_kick(v);
	if (flag_query(req, "wait"))
		wait_host(v, h->id, req, 200);
	else
		api_reply_host(v, req, 202, h->id);
}

void api_host_attest(struct api_call *c)
{
	struct verifier *v = c->v;
	struct https_request *req = c->req;
	const struct store_host *h = c->host;
	if (!h->enabled) {
		https_reply_error(req, 409, "BUSY",
		                  "the host is disconnected; reconnect it to attest it");
		return;
	}
	int64_t now = verifier_now();
	int rc = api_change_begin(v);
	if (rc == 0)
		rc = store_host_set_next_due(v->store, h->id, now, v->cfg.instance, now);
	rc = api_change_end(v, rc, h->id, "host", c->ctx.actor, "attestation of host %s requested",
	                    h->name);
	if (rc < 0) {
		api_store_error(v, req, rc, "host");
		return;
	}
	scheduler_kick(v);
	if (flag_query(req, "wait"))
		wait_host(v, h->id, req, 200);
	else
		https_reply_json(req, 202, json_pack("{s:b}", "queued", 1));
}

void api_host_remove(struct api_call *c)
{
	struct verifier *v = c->v;
	struct https_request *req = c->req;
	const struct store_host *h = c->host;
	int rc = api_change_begin(v);
	if (rc == 0)
		rc = store_host_remove(v->store, h->id);
	rc = api_change_end(v, rc, 0, "host", c->ctx.actor, "host %s (%s) removed", h->name,
	                    h->push ? "push" : h->address);
	if (rc < 0) {
		api_store_error(v, req, rc, "host");
		return;
	}
	https_reply_json(req, 200, json_pack("{s:s}", "removed", h->name));
}

/* GET /api/v1/reasons (viewer): every reason code with its sentence and
 * advice, from lib/reason.c, so that clients (the dashboard) keep no copy. */
void api_reasons(struct api_call *c)
{
	struct https_request *req = c->req;
	size_t n = 0;
	const struct reason_info *t = reason_table(&n);
	json_t *list = json_array();
	for (size_t i = 0; list != NULL && i < n; i++) {
		json_t *r = json_pack("{s:s,s:s,s:s?}", "code", t[i].code, "sentence",
		                      t[i].sentence, "advice", t[i].advice);
		if (r == NULL || json_array_append_new(list, r) != 0) {
			json_decref(list);
			list = NULL;
		}
	}
	if (list == NULL) {
		https_reply_error(req, 500, "INTERNAL", "out of memory");
		return;
	}
	https_reply_json(req, 200, json_pack("{s:o}", "reasons", list));
}
