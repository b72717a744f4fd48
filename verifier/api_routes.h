/* The operator API's route table (routes.c) and the handlers it calls
 * (api.c: hosts and reasons; api_admin.c: policies, CAs, alarms, events,
 * tokens, status). Each handler is called authenticated, with its path
 * parameter resolved and its body parsed; it replies exactly once. */
#ifndef ATTEST_VERIFIER_API_ROUTES_H
#define ATTEST_VERIFIER_API_ROUTES_H

#include "verifier.h"

/* One request on its way through the table. */
struct api_call {
	struct verifier *v;
	struct https_request *req;
	struct api_ctx ctx;
	char key[STORE_NAME_MAX + 1]; /* the path parameter ({name}, {id}, ...), "" if none */
	int64_t id;                   /* alarms/{id}: the id */
	struct store_host *host;      /* hosts/{name}: the host (owned by the dispatcher) */
	struct store_ca *ca;          /* cas/{fingerprint}: the CA (owned by the dispatcher) */
	json_t *body;                 /* routes with a body cap (owned by the dispatcher) */
};

/* api.c */
void api_hosts_list(struct api_call *c);
void api_hosts_add(struct api_call *c);
void api_host_show(struct api_call *c);
void api_host_remove(struct api_call *c);
void api_host_attest(struct api_call *c);
void api_host_disconnect(struct api_call *c);
void api_host_reconnect(struct api_call *c);
void api_reasons(struct api_call *c);
/* The whole fleet's counts per state ({"total", "green", ..., "not_responding"}). */
json_t *api_tally_json(const struct store_host_tally *t);

/* api_admin.c */
void api_policies_list(struct api_call *c);
void api_policy_create(struct api_call *c);
void api_policy_show(struct api_call *c);
void api_policy_put(struct api_call *c);
void api_policy_remove(struct api_call *c);
void api_policy_assign(struct api_call *c);
void api_cas_list(struct api_call *c);
void api_ca_add(struct api_call *c);
void api_ca_show(struct api_call *c);
void api_ca_remove(struct api_call *c);
/* Find a CA by fingerprint (any case) or numeric id. */
int api_ca_find(struct verifier *v, const char *key, struct store_ca **ret);
void api_alarms_list(struct api_call *c);
void api_alarm_show(struct api_call *c);
void api_alarm_ack(struct api_call *c);
void api_events_list(struct api_call *c);
void api_tokens_list(struct api_call *c);
void api_token_add(struct api_call *c);
void api_token_remove(struct api_call *c);
void api_status(struct api_call *c);

/* api_audit.c */
void api_audit_list(struct api_call *c);
void api_eventlog_get(struct api_call *c);
void api_audit_prune(struct api_call *c);

#endif
