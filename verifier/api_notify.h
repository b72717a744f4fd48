/* The notification targets' API (api_notify.c; docs/api.md,
 * "Notifications"): handlers of the route table in routes.c. */
#ifndef ATTEST_VERIFIER_API_NOTIFY_H
#define ATTEST_VERIFIER_API_NOTIFY_H

#include "api_routes.h"
#include "textbuf.h"

/* A target's body: a CA bundle of up to STORE_NOTIFY_CA_MAX, escaped. */
#define API_NOTIFY_BODY_MAX (256u * 1024u)

void api_notify_list(struct api_call *c);
void api_notify_add(struct api_call *c);
void api_notify_show(struct api_call *c);
void api_notify_remove(struct api_call *c);
void api_notify_test(struct api_call *c);
/* The notification lines of /metrics. */
void api_notify_metrics(struct verifier *v, struct textbuf *b);

#endif
