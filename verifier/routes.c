/* The operator API's route table: every /api/v1 endpoint with who may call
 * it, how large a body it reads and what answers it. One dispatcher
 * authenticates, resolves the path parameter, answers 404/405 from the table
 * and parses the body, so the handlers (api.c, api_admin.c) do neither.
 *
 * Outside the table: GET /metrics (api_admin.c; Prometheus' path, not under
 * /api/v1, any valid token), the dashboard's static files (web.c, no token)
 * and the 404 for every other /api/ path (api_admin.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "api_catalog.h"
#include "api_notify.h"
#include "api_policy_check.h"
#include "api_routes.h"

/* Who may call a route: any valid token, or an admin token. */
enum api_role { API_VIEWER, API_ADMIN };

static void call_host_evidence(struct api_call *c)
{
	api_evidence_host(c->v, c->req, c->host); /* api_evidence.c */
}
static void call_host_ek_cert_put(struct api_call *c)
{
	api_host_ek_cert_put(c->v, c->req, c->host, &c->ctx, c->body); /* api_ek.c */
}
static void call_host_ek_cert_delete(struct api_call *c)
{
	api_host_ek_cert_delete(c->v, c->req, c->host, &c->ctx); /* api_ek.c */
}

/* A pattern is a base path (below), optionally followed by "/{param}" and
 * "/ACTION". Paths of a base that match no pattern: 404; a pattern with
 * other methods only: 405 naming them. docs/api.md documents each route
 * (tests/integration/test_api_routes.sh checks both ways). */
static const struct api_route {
	const char *method;
	const char *pattern;
	enum api_role role;
	size_t body_cap; /* 0: the route reads no body */
	void (*handler)(struct api_call *c);
} routes[] = {
    {"GET", "/api/v1/hosts", API_VIEWER, 0, api_hosts_list},
    {"POST", "/api/v1/hosts", API_ADMIN, VERIFIER_API_BODY_MAX, api_hosts_add},
    {"GET", "/api/v1/hosts/{name}", API_VIEWER, 0, api_host_show},
    {"DELETE", "/api/v1/hosts/{name}", API_ADMIN, 0, api_host_remove},
    {"GET", "/api/v1/hosts/{name}/evidence", API_VIEWER, 0, call_host_evidence},
    {"PUT", "/api/v1/hosts/{name}/ek-cert", API_ADMIN, 4 * API_EK_CERT_MAX, call_host_ek_cert_put},
    {"DELETE", "/api/v1/hosts/{name}/ek-cert", API_ADMIN, 0, call_host_ek_cert_delete},
    {"POST", "/api/v1/hosts/{name}/attest", API_ADMIN, 0, api_host_attest},
    {"POST", "/api/v1/hosts/{name}/disconnect", API_ADMIN, 0, api_host_disconnect},
    {"POST", "/api/v1/hosts/{name}/reconnect", API_ADMIN, 0, api_host_reconnect},
    {"GET", "/api/v1/policies", API_VIEWER, 0, api_policies_list},
    {"POST", "/api/v1/policies", API_ADMIN, VERIFIER_POLICY_BODY_MAX, api_policy_create},
    {"GET", "/api/v1/policies/{name}", API_VIEWER, 0, api_policy_show},
    {"PUT", "/api/v1/policies/{name}", API_ADMIN, VERIFIER_POLICY_BODY_MAX, api_policy_put},
    {"DELETE", "/api/v1/policies/{name}", API_ADMIN, 0, api_policy_remove},
    {"POST", "/api/v1/policies/{name}/assign", API_ADMIN, VERIFIER_API_BODY_MAX, api_policy_assign},
    {"GET", "/api/v1/policies/{name}/check", API_VIEWER, 0, api_policy_check},
    {"GET", "/api/v1/cas", API_VIEWER, 0, api_cas_list},
    {"POST", "/api/v1/cas", API_ADMIN, VERIFIER_API_BODY_MAX, api_ca_add},
    {"GET", "/api/v1/cas/{fingerprint}", API_VIEWER, 0, api_ca_show},
    {"DELETE", "/api/v1/cas/{fingerprint}", API_ADMIN, 0, api_ca_remove},
    {"GET", "/api/v1/alarms", API_VIEWER, 0, api_alarms_list},
    {"GET", "/api/v1/alarms/{id}", API_VIEWER, 0, api_alarm_show},
    {"POST", "/api/v1/alarms/{id}/ack", API_ADMIN, 0, api_alarm_ack},
    {"GET", "/api/v1/events", API_VIEWER, 0, api_events_list},
    {"GET", "/api/v1/tokens", API_ADMIN, 0, api_tokens_list},
    {"POST", "/api/v1/tokens", API_ADMIN, VERIFIER_API_BODY_MAX, api_token_add},
    {"DELETE", "/api/v1/tokens/{name}", API_ADMIN, 0, api_token_remove},
    {"GET", "/api/v1/status", API_VIEWER, 0, api_status},
    {"GET", "/api/v1/reasons", API_VIEWER, 0, api_reasons},
    {"GET", "/api/v1/catalog", API_VIEWER, 0, api_catalog_list},
    {"POST", "/api/v1/catalog", API_ADMIN, API_CATALOG_BODY_MAX, api_catalog_add},
    {"GET", "/api/v1/catalog/{id}", API_VIEWER, 0, api_catalog_show},
    {"DELETE", "/api/v1/catalog/{id}", API_ADMIN, 0, api_catalog_remove},
    {"GET", "/api/v1/notify", API_VIEWER, 0, api_notify_list},
    {"POST", "/api/v1/notify", API_ADMIN, API_NOTIFY_BODY_MAX, api_notify_add},
    {"GET", "/api/v1/notify/{name}", API_VIEWER, 0, api_notify_show},
    {"DELETE", "/api/v1/notify/{name}", API_ADMIN, 0, api_notify_remove},
    {"POST", "/api/v1/notify/{name}/test", API_ADMIN, 0, api_notify_test},
    {"GET", "/api/v1/audit", API_VIEWER, 0, api_audit_list},
    {"POST", "/api/v1/audit/prune", API_ADMIN, 1024, api_audit_prune},
    {"GET", "/api/v1/eventlogs/{id}", API_VIEWER, 0, api_eventlog_get}, /* id: SHA-256 */
};
#define NROUTES (sizeof routes / sizeof routes[0])

/* The path parameter of a base, resolved before the method is matched (so an
 * unknown host or CA is 404 whatever the method). Replies and returns false
 * if there is no such thing. */
static bool find_host(struct api_call *c)
{
	int rc = store_host_get_by_name(c->v->store, c->key, &c->host);
	if (rc < 0)
		api_store_error(c->v, c->req, rc, "host");
	return rc == 0;
}

static bool find_ca(struct api_call *c)
{
	int rc = api_ca_find(c->v, c->key, &c->ca);
	if (rc < 0)
		api_store_error(c->v, c->req, rc, "CA certificate");
	return rc == 0;
}

static bool find_alarm_id(struct api_call *c)
{
	char *end = NULL;
	long long id = strtoll(c->key, &end, 10);
	if (*end != '\0' || id <= 0 || strlen(c->key) >= 20) {
		https_reply_error(c->req, 404, "NOT_FOUND", "no such alarm");
		return false;
	}
	c->id = id;
	return true;
}

/* The base paths (each registered with the HTTP server once), the noun of
 * their "no such ..." answers, and how their parameter is resolved (NULL:
 * the handler uses the text). */
static const struct api_base {
	const char *path;
	const char *noun;
	bool (*find)(struct api_call *c);
} bases[] = {
    {"/api/v1/hosts", "host", find_host},       {"/api/v1/policies", "policy", NULL},
    {"/api/v1/cas", "CA certificate", find_ca}, {"/api/v1/alarms", "alarm", find_alarm_id},
    {"/api/v1/events", "resource", NULL},       {"/api/v1/tokens", "token", NULL},
    {"/api/v1/status", "resource", NULL},       {"/api/v1/reasons", "resource", NULL},
    {"/api/v1/catalog", "catalog entry", NULL}, {"/api/v1/notify", "notification target", NULL},
    {"/api/v1/catalog", "catalog entry", NULL}, {"/api/v1/audit", "resource", NULL},
    {"/api/v1/eventlogs", "event log", NULL},
};
#define NBASES (sizeof bases / sizeof bases[0])

/* A pattern's or a path's parts below its base: whether it has a parameter,
 * the parameter (not NUL-terminated: key_len bytes) and the action. */
struct parts {
	bool named;
	const char *key;
	size_t key_len;
	const char *action; /* "" for none */
};

/* Whether s is base b or below it; fills *p. */
static bool split(const char *b, const char *s, struct parts *p)
{
	size_t n = strlen(b);
	if (strncmp(s, b, n) != 0 || (s[n] != '\0' && s[n] != '/'))
		return false;
	const char *rest = s[n] == '/' ? s + n + 1 : s + n;
	if (rest[0] == '\0') { /* the base itself, with or without a final '/' */
		*p = (struct parts){false, NULL, 0, ""};
		return true;
	}
	const char *slash = strchr(rest, '/');
	*p = (struct parts){true, rest, slash ? (size_t)(slash - rest) : strlen(rest),
	                    slash ? slash + 1 : ""};
	return true;
}

static bool same_shape(const struct parts *pattern, const struct parts *path)
{
	return pattern->named == path->named && strcmp(pattern->action, path->action) == 0;
}

/* The one handler of every base: authenticate (the route's role; for a
 * method the path does not have, a change needs an admin, and so does
 * anything on a base whose every route is admin-only), resolve the
 * parameter, answer 404/405 from the table, read the body, call. */
static void route_table(struct https_request *req, void *arg)
{
	struct api_call c = {.v = arg, .req = req};
	const char *method = https_request_method(req);
	const char *path = https_request_path(req);
	const struct api_base *b = NULL;
	struct parts pp = {0}, rp;
	for (size_t i = 0; i < NBASES && b == NULL; i++)
		if (split(bases[i].path, path, &pp))
			b = &bases[i];
	const struct api_route *hit = NULL;
	bool base_named = false, all_admin = true;
	for (size_t i = 0; b != NULL && i < NROUTES; i++) {
		if (!split(b->path, routes[i].pattern, &rp))
			continue;
		base_named |= rp.named;
		all_admin &= routes[i].role == API_ADMIN;
		if (!hit && same_shape(&rp, &pp) && strcmp(routes[i].method, method) == 0)
			hit = &routes[i];
	}
	bool admin = hit ? hit->role == API_ADMIN : strcmp(method, "GET") != 0 || all_admin;
	if (!api_auth(c.v, req, admin, false, &c.ctx))
		return;
	if (b == NULL || (pp.named && !base_named)) {
		https_reply_error(req, 404, "NOT_FOUND", "no such API path (see docs/api.md)");
		return;
	}
	char m[64];
	if (pp.named) {
		if (pp.key_len == 0 || pp.key_len >= sizeof c.key) {
			snprintf(m, sizeof m, "no such %s", b->noun);
			https_reply_error(req, 404, "NOT_FOUND", m);
			return;
		}
		memcpy(c.key, pp.key, pp.key_len);
		c.key[pp.key_len] = '\0';
		if (b->find != NULL && !b->find(&c))
			goto out;
	}
	if (hit == NULL) {
		const char *allowed[8];
		size_t n = 0;
		for (size_t i = 0; i < NROUTES && n < 8; i++)
			if (split(b->path, routes[i].pattern, &rp) && same_shape(&rp, &pp))
				allowed[n++] = routes[i].method;
		m[0] = '\0';
		for (size_t i = 0; i < n; i++) /* "GET", "GET or POST", "GET, PUT or DELETE" */
			snprintf(m + strlen(m), sizeof m - strlen(m), "%s%s",
			         i == 0       ? ""
			         : i + 1 == n ? " or "
			                      : ", ",
			         allowed[i]);
		if (n > 0)
			https_reply_error(req, 405, "METHOD_NOT_ALLOWED", m);
		else {
			snprintf(m, sizeof m, "no such %s action", b->noun);
			https_reply_error(req, 404, "NOT_FOUND", m);
		}
		goto out;
	}
	if (hit->body_cap > 0 && !api_body(req, hit->body_cap, &c.body))
		goto out;
	hit->handler(&c);
out:
	json_decref(c.body);
	store_host_free(c.host);
	store_ca_free(c.ca);
}

void api_routes_print(FILE *f)
{
	for (size_t i = 0; i < NROUTES; i++)
		fprintf(f, "%s %s %s %zu\n", routes[i].method, routes[i].pattern,
		        routes[i].role == API_ADMIN ? "admin" : "viewer", routes[i].body_cap);
}

int api_register(struct verifier *v)
{
	for (size_t i = 0; i < NBASES; i++) {
		int rc = https_server_route(v->srv, NULL, bases[i].path, route_table, v);
		if (rc < 0)
			return rc;
	}
	return 0;
}
