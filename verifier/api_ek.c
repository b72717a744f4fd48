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

/* After a change: enrollment reads the certificate, so run it now (a host
 * without an AK re-enrolls), and answer with the host. */
static void ek_cert_changed(struct verifier *v, struct https_request *req,
                            const struct store_host *h, int64_t now)
{
	if (h->enabled && store_host_set_next_due(v->store, h->id, now, v->cfg.instance, now) == 0)
		scheduler_kick(v);
	api_reply_host(v, req, 200, h->id);
}

void api_host_ek_cert_put(struct verifier *v, struct https_request *req, const struct store_host *h,
                          const struct api_ctx *ctx, json_t *b)
{
	int64_t now = verifier_now();
	uint8_t *der = NULL;
	size_t len = 0;
	struct api_refusal why;
	int rc = api_parse_ek_cert(b, API_EK_CERT_MAX, &der, &len, &why);
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
	rc = api_change_begin(v);
	if (rc == 0)
		rc = store_host_set_ek_cert(v->store, h->id, der, len, now);
	rc = api_change_end(v, rc, h->id, "host", ctx->actor,
	                    "EK certificate supplied for %s: \"%s\" issued by \"%s\"", h->name,
	                    info.subject, info.issuer);
	free(der);
	if (rc < 0) {
		api_store_error(v, req, rc, "host");
		return;
	}
	ek_cert_changed(v, req, h, now);
}

void api_host_ek_cert_delete(struct verifier *v, struct https_request *req,
                             const struct store_host *h, const struct api_ctx *ctx)
{
	int64_t now = verifier_now();
	int rc = api_change_begin(v);
	if (rc == 0)
		rc = store_host_set_ek_cert(v->store, h->id, NULL, 0, now);
	rc = api_change_end(v, rc, h->id, "host", ctx->actor, "EK certificate of %s removed",
	                    h->name);
	if (rc < 0) {
		api_store_error(v, req, rc, "host");
		return;
	}
	ek_cert_changed(v, req, h, now);
}
