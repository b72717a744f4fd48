/* Operator API (docs/api.md): authentication, shared helpers, and the host
 * inventory endpoints. Other resources are in api_admin.c. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ekcert.h"
#include "err.h"
#include "verifier.h"
#include "jsontext.h"

/* ------------------------------------------------------------------ */
/* helpers */

json_t *api_time(int64_t t)
{
	return t > 0 ? json_integer((json_int_t)t) : json_null();
}

json_t *api_parse_stored(const char *text)
{
	if (text == NULL)
		return json_null();
	json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
	return j ? j : json_null();
}

bool api_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > STORE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x21 || c == 0x7f || c == '/' || c == '?' || c == '#' || c == '%')
			return false;
	}
	return true;
}

void api_event(struct verifier *v, int64_t host_id, const char *kind, const char *actor,
	       const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	struct store_event_new e = {.host_id = host_id, .kind = kind, .actor = actor,
				    .message = msg};
	(void)store_event_add(v->store, &e, verifier_now(), NULL);
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

static int json_depth(const json_t *j, int depth)
{
	if (depth > VERIFIER_JSON_DEPTH_MAX)
		return depth;
	int max = depth;
	if (json_is_object(j)) {
		const char *k;
		json_t *x;
		json_object_foreach((json_t *)j, k, x)
		{
			int d = json_depth(x, depth + 1);
			if (d > max)
				max = d;
			if (max > VERIFIER_JSON_DEPTH_MAX)
				break;
		}
	} else if (json_is_array(j)) {
		size_t i;
		json_t *x;
		json_array_foreach(j, i, x)
		{
			int d = json_depth(x, depth + 1);
			if (d > max)
				max = d;
			if (max > VERIFIER_JSON_DEPTH_MAX)
				break;
		}
	}
	return max;
}

bool api_body(struct https_request *req, size_t cap, json_t **ret)
{
	const uint8_t *b;
	size_t n;
	https_request_body(req, &b, &n);
	if (n > cap) {
		char m[128];
		snprintf(m, sizeof m, "the request body is larger than %zu bytes", cap);
		https_reply_error(req, 413, "BODY_TOO_LARGE", m);
		return false;
	}
	if (jsontext_depth(b, n) > VERIFIER_JSON_DEPTH_MAX) {
		https_reply_error(req, 400, "JSON_TOO_DEEP", "the JSON body is nested too deeply");
		return false;
	}
	json_t *j = NULL;
	char err[256] = "";
	if (n == 0) {
		j = json_object();
	} else if (https_request_json(req, &j, err, sizeof err) < 0) {
		char m[400];
		snprintf(m, sizeof m, "the body is not valid JSON: %s", err);
		https_reply_error(req, 400, "INVALID_JSON", m);
		return false;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		https_reply_error(req, 400, "INVALID_JSON", "the body must be a JSON object");
		return false;
	}
	if (json_depth(j, 1) > VERIFIER_JSON_DEPTH_MAX) {
		json_decref(j);
		https_reply_error(req, 400, "JSON_TOO_DEEP", "the JSON body is nested too deeply");
		return false;
	}
	*ret = j;
	return true;
}

bool api_known_fields(struct https_request *req, json_t *obj, const char *const *keys)
{
	const char *k;
	json_t *x;
	json_object_foreach(obj, k, x)
	{
		bool ok = false;
		for (size_t i = 0; keys[i] != NULL; i++)
			if (strcmp(keys[i], k) == 0)
				ok = true;
		if (!ok) {
			char m[STORE_NAME_MAX + 64];
			snprintf(m, sizeof m, "unknown field \"%.*s\"", STORE_NAME_MAX, k);
			https_reply_error(req, 400, "UNKNOWN_FIELD", m);
			return false;
		}
	}
	return true;
}

void api_store_error(struct verifier *v, struct https_request *req, int rc, const char *what)
{
	char m[512];
	switch (rc) {
	case ATTEST_E_NOTFOUND:
		snprintf(m, sizeof m, "%s: not found", what);
		https_reply_error(req, 404, "NOT_FOUND", m);
		return;
	case ATTEST_E_EXISTS:
		snprintf(m, sizeof m, "%s: already exists", what);
		https_reply_error(req, 409, "EXISTS", m);
		return;
	case ATTEST_E_ARG:
	case ATTEST_E_LIMIT:
	case ATTEST_E_FORMAT:
		snprintf(m, sizeof m, "%s: invalid value (%s)", what, attest_strerror(rc));
		https_reply_error(req, 400, "INVALID_FIELD", m);
		return;
	case ATTEST_E_STATE:
		snprintf(m, sizeof m, "%s: not possible in the current state", what);
		https_reply_error(req, 409, "BUSY", m);
		return;
	default:
		fprintf(stderr, "attest-verifier: database: %s: %s\n", what,
			store_errmsg(v->store));
		https_reply_error(req, 500, "INTERNAL", "database failure; nothing was changed");
	}
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

int api_load_castore(struct verifier *v, struct ekcert_store **ret)
{
	struct ekcert_store *es = NULL;
	int rc = ekcert_store_new(&es);
	if (rc < 0)
		return rc;
	uint64_t off = 0;
	for (;;) {
		struct store_ca_list *cl = NULL;
		struct store_page pg = {.limit = STORE_PAGE_MAX, .offset = off};
		rc = store_ca_list(v->store, &pg, &cl);
		if (rc < 0)
			break;
		for (size_t i = 0; i < cl->n; i++)
			(void)ekcert_store_add(es, cl->v[i].der, cl->v[i].der_len, NULL);
		size_t n = cl->n;
		store_ca_list_free(cl);
		if (n < STORE_PAGE_MAX)
			break;
		off += n;
	}
	if (rc < 0) {
		ekcert_store_free(es);
		return rc;
	}
	*ret = es;
	return 0;
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
	json_t *boot = json_pack("{s:o,s:o,s:o}", "reset_count",
				 h->reset_count >= 0 ? json_integer(h->reset_count) : json_null(),
				 "restart_count",
				 h->restart_count >= 0 ? json_integer(h->restart_count)
						       : json_null(),
				 "boot_id", h->boot_id ? json_string(h->boot_id) : json_null());
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

/* Split "host:port" / "[v6]:port" into host (cap bytes) and port. */
int verifier_split_address(const char *addr, char *host, size_t cap, uint16_t *port)
{
	const char *colon, *h = addr;
	size_t hl;
	if (addr[0] == '[') {
		const char *rb = strchr(addr, ']');
		if (rb == NULL || rb[1] != ':')
			return ATTEST_E_FORMAT;
		h = addr + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL || strchr(addr, ':') != colon)
			return ATTEST_E_FORMAT;
		hl = (size_t)(colon - addr);
	}
	if (hl == 0 || hl >= cap)
		return ATTEST_E_FORMAT;
	for (size_t i = 0; i < hl; i++)
		if ((unsigned char)h[i] <= 0x20 || h[i] == '/' || h[i] == '@')
			return ATTEST_E_FORMAT;
	char *end = NULL;
	errno = 0;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != '\0' || p == 0 || p > 65535 ||
	    colon[1] == '+' || colon[1] == '-')
		return ATTEST_E_FORMAT;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (uint16_t)p;
	return 0;
}

struct add_ctx {
	struct verifier *v;
	struct https_request *req;
	char actor[STORE_NAME_MAX + 1];
	char *name, *address, *policy;
	int64_t interval_s;
	bool accept, wait;
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
	struct store_host_new hn = {.name = a->name, .address = a->address,
				    .thumbprint = thumbprint, .policy_id = policy_id,
				    .interval_s = a->interval_s};
	int rc = store_host_add(v->store, &hn, now, &id);
	if (rc < 0) {
		api_store_error(v, req, rc, "host");
		return;
	}
	struct store_verdict vd = {
	    .host_id = id, .trust = STORE_TRUST_UNKNOWN,
	    .reasons_json = "[{\"code\":\"NOT_YET_ATTESTED\",\"message\":\"the host was added; "
			    "enrollment and attestation are pending\"}]"};
	(void)store_host_set_trust(v->store, &vd, NULL, a->actor, now, NULL);
	api_event(v, id, "host", a->actor, "host %s added at %s, agent thumbprint %s pinned",
		  a->name, a->address, thumbprint);
	scheduler_kick(v);
	if (a->wait)
		scheduler_wait(v, id, req, 201);
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

static void hosts_add(struct verifier *v, struct https_request *req, struct api_ctx *ctx)
{
	static const char *const keys[] = {"address", "name", "thumbprint", "accept_thumbprint",
					   "policy", "interval_s", NULL};
	json_t *b = NULL;
	if (!api_body(req, VERIFIER_API_BODY_MAX, &b))
		return;
	struct add_ctx *a = NULL;
	if (!api_known_fields(req, b, keys))
		goto out;
	json_t *jaddr = json_object_get(b, "address"), *jname = json_object_get(b, "name"),
	       *jtp = json_object_get(b, "thumbprint"),
	       *jacc = json_object_get(b, "accept_thumbprint"),
	       *jpol = json_object_get(b, "policy"), *jint = json_object_get(b, "interval_s");
	char hostpart[256];
	uint16_t port;
	if (jaddr == NULL) {
		https_reply_error(req, 400, "MISSING_FIELD", "address is required (host:port)");
		goto out;
	}
	if (!json_is_string(jaddr) || json_string_length(jaddr) > STORE_TEXT_MAX ||
	    verifier_split_address(json_string_value(jaddr), hostpart, sizeof hostpart, &port) <
		0) {
		https_reply_error(req, 400, "INVALID_FIELD",
				  "address must be host:port (IPv6 as [addr]:port)");
		goto out;
	}
	const char *name = json_string_value(jaddr);
	if (jname != NULL && !json_is_null(jname)) {
		if (!json_is_string(jname) || !api_name_ok(json_string_value(jname))) {
			https_reply_error(req, 400, "INVALID_FIELD",
					  "name must be 1-255 printable characters without "
					  "spaces, '/', '?', '#' or '%'");
			goto out;
		}
		name = json_string_value(jname);
	} else if (!api_name_ok(name)) {
		https_reply_error(req, 400, "INVALID_FIELD", "give the host a name");
		goto out;
	}
	char tp[TLSID_THUMBPRINT_SIZE] = "";
	if (jtp != NULL && !json_is_null(jtp)) {
		if (!json_is_string(jtp) || tlsid_thumbprint_parse(json_string_value(jtp), tp) < 0) {
			https_reply_error(req, 400, "INVALID_FIELD",
					  "thumbprint must be SHA256: followed by 64 hex digits");
			goto out;
		}
	}
	if (jacc != NULL && !json_is_boolean(jacc)) {
		https_reply_error(req, 400, "INVALID_FIELD", "accept_thumbprint must be a boolean");
		goto out;
	}
	if (jpol != NULL && !json_is_null(jpol) &&
	    (!json_is_string(jpol) || !api_name_ok(json_string_value(jpol)))) {
		https_reply_error(req, 400, "INVALID_FIELD", "policy must be a policy name");
		goto out;
	}
	int64_t interval = v->cfg.interval_s;
	if (jint != NULL) {
		if (!json_is_integer(jint) || json_integer_value(jint) < 1 ||
		    json_integer_value(jint) > 86400 * 7) {
			https_reply_error(req, 400, "INVALID_FIELD",
					  "interval_s must be an integer from 1 to 604800");
			goto out;
		}
		interval = json_integer_value(jint);
	}
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
	memcpy(a->actor, ctx->actor, sizeof a->actor);
	a->name = strdup(name);
	a->address = strdup(json_string_value(jaddr));
	a->policy = jpol && json_is_string(jpol) ? strdup(json_string_value(jpol)) : NULL;
	a->interval_s = interval;
	a->accept = jacc != NULL && json_is_true(jacc);
	a->wait = flag_query(req, "wait");
	if (a->name == NULL || a->address == NULL ||
	    (jpol && json_is_string(jpol) && a->policy == NULL))
		goto nomem;
	if (tp[0] != '\0') {
		add_finish(a, tp);
		goto out;
	}
	/* Show me the thumbprint: connect, read the certificate, send nothing. */
	struct https_call call = {.host = hostpart, .port = port, .verify = HTTPS_VERIFY_FETCH,
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
	json_decref(b);
}

static void hosts_list(struct verifier *v, struct https_request *req)
{
	struct store_page pg;
	if (!api_page(req, &pg))
		return;
	const char *ftrust = https_request_query(req, "trust");
	const char *fconn = https_request_query(req, "connection");
	enum store_trust t = STORE_TRUST_UNKNOWN;
	enum store_conn c = STORE_CONN_DISCONNECTED;
	if ((ftrust && store_trust_parse(ftrust, &t) < 0) ||
	    (fconn && store_conn_parse(fconn, &c) < 0)) {
		https_reply_error(req, 400, "INVALID_PARAMETER",
				  "trust is green|red|unknown, connection is "
				  "connected|disconnected|not_responding");
		return;
	}
	struct store_host_list *hl = NULL;
	int64_t total = 0;
	int rc = store_host_list(v->store, &pg, &hl);
	if (rc == 0)
		rc = store_host_count(v->store, &total);
	if (rc < 0) {
		store_host_list_free(hl);
		api_store_error(v, req, rc, "hosts");
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < hl->n; i++) {
		if ((ftrust && hl->v[i].trust != t) || (fconn && hl->v[i].connection != c))
			continue;
		json_array_append_new(arr, api_host_json(&hl->v[i]));
	}
	store_host_list_free(hl);
	https_reply_json(req, 200, json_pack("{s:o,s:I}", "hosts", arr, "total", (json_int_t)total));
}

static void host_show(struct verifier *v, struct https_request *req, struct store_host *h)
{
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

static void host_disconnect(struct verifier *v, struct https_request *req, struct store_host *h,
			    struct api_ctx *ctx)
{
	int64_t now = verifier_now();
	int rc = store_host_set_enabled(v->store, h->id, false, now);
	if (rc == 0)
		rc = store_host_set_connection(v->store, h->id, STORE_CONN_DISCONNECTED, ctx->actor,
					       "disconnected by the operator", now, NULL);
	if (rc == 0) {
		struct store_verdict vd = {
		    .host_id = h->id, .trust = STORE_TRUST_UNKNOWN,
		    .reasons_json = "[{\"code\":\"HOST_DISCONNECTED\",\"message\":\"the operator "
				    "disconnected the host; it is not attested until reconnected\"}]"};
		rc = store_host_set_trust(v->store, &vd, NULL, ctx->actor, now, NULL);
	}
	if (rc < 0) {
		api_store_error(v, req, rc, "host");
		return;
	}
	api_event(v, h->id, "host", ctx->actor, "host %s disconnected", h->name);
	api_reply_host(v, req, 200, h->id);
}

static void host_reconnect(struct verifier *v, struct https_request *req, struct store_host *h,
			   struct api_ctx *ctx)
{
	int64_t now = verifier_now();
	struct store_identity none = {0};
	int rc = store_host_set_enabled(v->store, h->id, true, now);
	if (rc == 0)
		rc = store_ak_retire_all(v->store, h->id, now, NULL);
	if (rc == 0)
		rc = store_host_set_identity(v->store, h->id, &none, now);
	if (rc == 0)
		rc = store_host_set_boot(v->store, h->id, -1, -1, NULL, now);
	if (rc == 0) {
		struct store_verdict vd = {
		    .host_id = h->id, .trust = STORE_TRUST_UNKNOWN,
		    .reasons_json = "[{\"code\":\"NOT_YET_ATTESTED\",\"message\":\"the host was "
				    "reconnected; its TPM identity is read again and a new AK "
				    "enrolled\"}]"};
		rc = store_host_set_trust(v->store, &vd, NULL, ctx->actor, now, NULL);
	}
	if (rc == 0)
		rc = store_host_set_next_due(v->store, h->id, now, now);
	if (rc < 0) {
		api_store_error(v, req, rc, "host");
		return;
	}
	api_event(v, h->id, "host", ctx->actor,
		  "host %s reconnected: TPM identity re-read, AK re-enrolled", h->name);
	scheduler_kick(v);
	if (flag_query(req, "wait"))
		scheduler_wait(v, h->id, req, 200);
	else
		api_reply_host(v, req, 202, h->id);
}

static void host_attest(struct verifier *v, struct https_request *req, struct store_host *h)
{
	if (!h->enabled) {
		https_reply_error(req, 409, "BUSY",
				  "the host is disconnected; reconnect it to attest it");
		return;
	}
	int64_t now = verifier_now();
	int rc = store_host_set_next_due(v->store, h->id, now, now);
	if (rc < 0) {
		api_store_error(v, req, rc, "host");
		return;
	}
	scheduler_kick(v);
	if (flag_query(req, "wait"))
		scheduler_wait(v, h->id, req, 200);
	else
		https_reply_json(req, 202, json_pack("{s:b}", "queued", 1));
}

static void host_remove(struct verifier *v, struct https_request *req, struct store_host *h,
			struct api_ctx *ctx)
{
	int rc = store_host_remove(v->store, h->id);
	if (rc < 0) {
		api_store_error(v, req, rc, "host");
		return;
	}
	api_event(v, 0, "host", ctx->actor, "host %s (%s) removed", h->name, h->address);
	https_reply_json(req, 200, json_pack("{s:s}", "removed", h->name));
}

static void route_hosts(struct https_request *req, void *arg)
{
	struct verifier *v = arg;
	const char *method = https_request_method(req);
	const char *rest = https_request_path_rest(req);
	bool get = strcmp(method, "GET") == 0;
	struct api_ctx ctx;
	if (!api_auth(v, req, !get, false, &ctx))
		return;
	if (rest[0] == '\0') {
		if (get)
			hosts_list(v, req);
		else if (strcmp(method, "POST") == 0)
			hosts_add(v, req, &ctx);
		else
			https_reply_error(req, 405, "METHOD_NOT_ALLOWED", "GET or POST");
		return;
	}
	char name[STORE_NAME_MAX + 1];
	const char *slash = strchr(rest, '/');
	size_t nl = slash ? (size_t)(slash - rest) : strlen(rest);
	const char *action = slash ? slash + 1 : "";
	if (nl == 0 || nl > STORE_NAME_MAX) {
		https_reply_error(req, 404, "NOT_FOUND", "no such host");
		return;
	}
	memcpy(name, rest, nl);
	name[nl] = '\0';
	struct store_host *h = NULL;
	int rc = store_host_get_by_name(v->store, name, &h);
	if (rc < 0) {
		api_store_error(v, req, rc, "host");
		return;
	}
	if (action[0] == '\0') {
		if (get)
			host_show(v, req, h);
		else if (strcmp(method, "DELETE") == 0)
			host_remove(v, req, h, &ctx);
		else
			https_reply_error(req, 405, "METHOD_NOT_ALLOWED", "GET or DELETE");
	} else if (strcmp(action, "evidence") == 0) {
		api_evidence_host(v, req, h); /* api_evidence.c */
	} else if (strcmp(action, "disconnect") == 0 || strcmp(action, "reconnect") == 0 ||
		   strcmp(action, "attest") == 0) {
		if (strcmp(method, "POST") != 0)
			https_reply_error(req, 405, "METHOD_NOT_ALLOWED", "POST");
		else if (action[0] == 'd')
			host_disconnect(v, req, h, &ctx);
		else if (action[0] == 'r')
			host_reconnect(v, req, h, &ctx);
		else
			host_attest(v, req, h);
	} else {
		https_reply_error(req, 404, "NOT_FOUND", "no such host action");
	}
	store_host_free(h);
}

int api_register(struct verifier *v)
{
	return https_server_route(v->srv, NULL, "/api/v1/hosts", route_hosts, v);
}
