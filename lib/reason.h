/* Reason codes: the stable strings a verification failure is reported
 * with, and a default sentence for each.
 *
 * A reason code is part of the API (REST, CLI --json, alarms, scripts):
 * once published it is never renamed. The codes of the quote and bundle
 * layers are spelled in quote.h (quote_status_code()); the codes the
 * verification pipeline (verify.h) and enrollment add are spelled here.
 * The EK certificate codes are spelled in ekcert.h (ekcert_status_code()).
 * reason_sentence() knows every set, so any code the project emits has a
 * default sentence; docs/policy.md and docs/api.md list them with their
 * meaning. */
#ifndef ATTEST_REASON_H
#define ATTEST_REASON_H

#include <stddef.h>

/* Enrollment (the verifier's enrollment flow). */
#define REASON_TPM_NOT_CERTIFIED    "TPM_NOT_CERTIFIED"
#define REASON_AK_ACTIVATION_FAILED "AK_ACTIVATION_FAILED"
#define REASON_EK_ALREADY_ENROLLED  "EK_ALREADY_ENROLLED"
#define REASON_EK_KEY_NOT_APPROVED  "EK_KEY_NOT_APPROVED"
/* Connection (not a verdict): the agent's TPM did not answer in time. */
#define REASON_TPM_TIMEOUT "TPM_TIMEOUT"
/* Verification pipeline (verify.h), in pipeline order. */
#define REASON_AK_NOT_ENROLLED            "AK_NOT_ENROLLED"
#define REASON_HOST_RESTARTED_REENROLLING "HOST_RESTARTED_REENROLLING"
#define REASON_EVENT_CONTENT_MISMATCH     "EVENT_CONTENT_MISMATCH"
#define REASON_SECURE_BOOT_DISABLED       "SECURE_BOOT_DISABLED"
#define REASON_SHA256_BANK_MISSING        "SHA256_BANK_MISSING"
#define REASON_PCR_BANK_MISSING           "PCR_BANK_MISSING"
#define REASON_NOT_UEFI                   "NOT_UEFI"
#define REASON_TPM_INTERFACE_NOT_ALLOWED  "TPM_INTERFACE_NOT_ALLOWED"
#define REASON_EK_TRUST_NOT_ALLOWED       "EK_TRUST_NOT_ALLOWED"
#define REASON_AGENT_VERSION_TOO_OLD      "AGENT_VERSION_TOO_OLD"
#define REASON_CONFIGURATION_NOT_APPROVED "CONFIGURATION_NOT_APPROVED"
#define REASON_VERIFIER_ERROR             "VERIFIER_ERROR"
/* The service (verifier/): talking to the agent, and host states. */
#define REASON_AGENT_ERROR                  "AGENT_ERROR"
#define REASON_AGENT_THUMBPRINT_MISMATCH    "AGENT_THUMBPRINT_MISMATCH"
#define REASON_EVIDENCE_MALFORMED           "EVIDENCE_MALFORMED"
#define REASON_EK_CERT_MISSING              "EK_CERT_MISSING"
#define REASON_NOT_YET_ATTESTED             "NOT_YET_ATTESTED"
#define REASON_HOST_DISCONNECTED            "HOST_DISCONNECTED"
#define REASON_EVIDENCE_EXPIRED             "EVIDENCE_EXPIRED"
#define REASON_TPM_NOT_PRESENT              "TPM_NOT_PRESENT"
#define REASON_TPM_ADDED_RECONNECT_REQUIRED "TPM_ADDED_RECONNECT_REQUIRED"
/* fleet alarms (verifier/coverage.c) */
#define REASON_COVERAGE_LOW       "COVERAGE_LOW"
#define REASON_NO_RECENT_VERDICTS "NO_RECENT_VERDICTS"

/* One known code, its default sentence (what it means), and, for the codes
 * where an operator can do something about it, advice (what to do; NULL
 * otherwise). The verifier serves the table (GET /api/v1/reasons) and the
 * dashboard shows the advice from there. */
struct reason_info {
	const char *code;
	const char *sentence;
	const char *advice;
};

/* Default sentence for a code (any code in quote.h or above), or NULL if
 * the code is not known. */
const char *reason_sentence(const char *code);

/* The whole table (static, never freed): *ret_count entries. */
const struct reason_info *reason_table(size_t *ret_count);

#endif
