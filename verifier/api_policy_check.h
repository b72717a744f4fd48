/* Operator API: what-if for a policy (api_policy_check.c; docs/api.md):
 *   GET /api/v1/policies/{name}/check
 * judges every host's last stored evidence against the named policy and
 * says which hosts would change colour and why, changing nothing. */
#ifndef ATTEST_VERIFIER_API_POLICY_CHECK_H
#define ATTEST_VERIFIER_API_POLICY_CHECK_H

#include "api_routes.h"
#include "quote.h"

void api_policy_check(struct api_call *c);

/* Stored PCR values ({"sha256": {"0": "hex", ...}}) back into *out
 * (api_evidence.c). 0 or ATTEST_E_FORMAT / ATTEST_E_LIMIT. */
int evidence_pcrs_from_json(json_t *j, struct quote_pcrs *out);

#endif
