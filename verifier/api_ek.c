/* Operator API: the EK certificate an operator supplies for a host whose
 * TPM holds none in NV (docs/api.md, docs/operations.md):
 *   PUT    /api/v1/hosts/NAME/ek-cert  {"pem": text} or {"der": base64}
 *   DELETE /api/v1/hosts/NAME/ek-cert
 * The certificate is stored as given and checked at the next enrollment
 * like one read from NV: it must chain to the certified TPM list and carry
 * the TPM's own EK (tpm.ek_trust then says operator_certificate). Setting
 * or removing it makes the host due now, so the check runs at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ekcert.h"
#include "err.h"
#include "verifier.h"

#define API_EK_CERT_MAX (16u * 1024u) /* a certificate; EK certificates are ~1-2 kB */

void api_host_ek_cert(struct verifier *v, struct https_request *req, const struct store_host *h,
                      const struct api_ctx *ctx)
{
	const char *method = https_request_method(req);
	int64_t now = verifier_now();
	uint8_t *der = NULL;
	size_t len = 0;
	json_t *b = NULL;
	int rc;
	if (strcmp(method, "PUT") == 0) {
		if (!api_body(req, 4 * API_EK_CERT_MAX, &b))
			return;
		struct api_refusal why;
		rc = api_parse_ek_cert(b, API_EK_CERT_MAX, &der, &len, &why);
		json_decref(b);
		if (rc == ATTEST_E_NOMEM) {
			https_reply_error(req, 500, "INTERNAL", "out of memory");
			return;
		}
		if (rc < 0) {
			https_reply_error(req, why.status, why.code, why.message);
			return;
		}
		struct ekcert_info info;
		char msg[160];
		if (ekcert_parse(der, len, NULL, &info, msg) < 0) {
			free(der);
			https_reply_error(req, 400, "INVALID_FIELD", msg);
			return;
		}
		rc = store_host_set_ek_cert(v->store, h->id, der, len, now);
		free(der);
		if (rc < 0) {
			api_store_error(v, req, rc, "host");
			return;
		}
		api_event(v, h->id, "host", ctx->actor,
		          "EK certificate supplied for %s: \"%s\" issued by \"%s\"", h->name,
		          info.subject, info.issuer);
	} else if (strcmp(method, "DELETE") == 0) {
		rc = store_host_set_ek_cert(v->store, h->id, NULL, 0, now);
		if (rc < 0) {
			api_store_error(v, req, rc, "host");
			return;
		}
		api_event(v, h->id, "host", ctx->actor, "EK certificate of %s removed", h->name);
	} else {
		https_reply_error(req, 405, "METHOD_NOT_ALLOWED", "PUT or DELETE");
		return;
	}
	/* Enrollment reads it: run it now (a host without an AK re-enrolls). */
	if (h->enabled && store_host_set_next_due(v->store, h->id, now, now) == 0)
		scheduler_kick(v);
	api_reply_host(v, req, 200, h->id);
}
