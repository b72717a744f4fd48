/* The agent's answers to the verifier (docs/protocol.md, Agent API v1),
 * parsed with no network, database or clock: the job (enroll.c,
 * appraise.c) calls these on every answer, fuzz/fuzz_verifier_request.c
 * feeds them arbitrary bytes. An agent on a compromised host controls every
 * byte here, so this is the verifier's most exposed surface: everything is
 * capped, nothing is trusted. */
#ifndef ATTEST_VERIFIER_AGENT_ANSWER_H
#define ATTEST_VERIFIER_AGENT_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tpm.h"

#define AGENT_ANSWER_MAX        (24u * 1024u * 1024u) /* = BUNDLE_MAX_SIZE: the largest answer */
#define AGENT_ANSWER_CERTS_MAX  8u                    /* EK certificates looked at */
#define AGENT_ANSWER_SECRET_MAX 64u                   /* = CREDENTIAL_MAX */
#define AGENT_ANSWER_MSG_SIZE   256u

/* GET /v1/identity. */
struct agent_identity {
	bool present;       /* tpm.present is true */
	json_t *keep;       /* what the store keeps: the tpm object without ek_public,
	                     * ek_certificates and ek_chain, plus agent_version and boot_id (strings
	                     * only); owned */
	uint8_t *ek_public; /* TPM2B_PUBLIC as sent (present only), malloc'd */
	size_t ek_public_len;
	bool ek_ok; /* ek_public decoded; else ek_error says why */
	char ek_error[AGENT_ANSWER_MSG_SIZE];
	TPMT_PUBLIC ek; /* decoded ek_public */
	size_t ncerts;  /* EK certificates that are base64 (others skipped) */
	struct {
		uint8_t *der; /* malloc'd, at most EKCERT_MAX_SIZE */
		size_t len;
		char nv_index[16]; /* as sent if a short string, else "" */
	} certs[AGENT_ANSWER_CERTS_MAX];
	size_t nchain; /* the EK certificate's issuer chain from NV (tpm.ek_chain) */
	struct {
		uint8_t *der; /* malloc'd, at most EKCERT_MAX_SIZE */
		size_t len;
	} chain[AGENT_ANSWER_CERTS_MAX];
};

/* Parse an identity answer. 0: *ret filled (free with
 * agent_identity_clear); with the TPM present, ek_ok says whether ek_public
 * is a usable TPM2B_PUBLIC (else ek_error says why and ek_public is NULL).
 * ATTEST_E_FORMAT with a sentence in msg when it is not a JSON object with a
 * "tpm" object, ATTEST_E_NOMEM; *ret is then empty. */
int agent_answer_identity(const uint8_t *body, size_t len, struct agent_identity *ret,
                          char msg[static AGENT_ANSWER_MSG_SIZE]);
void agent_identity_clear(struct agent_identity *id);

/* POST /v1/ak: {"ak_public": base64 TPM2B_PUBLIC, ...}. 0 with the raw
 * bytes (malloc'd, caller frees) and the decoded area; ATTEST_E_FORMAT with
 * msg otherwise, nothing allocated. */
int agent_answer_ak(const uint8_t *body, size_t len, uint8_t **ret_public, size_t *ret_len,
                    TPMT_PUBLIC *ret_ak, char msg[static AGENT_ANSWER_MSG_SIZE]);

/* POST /v1/activate: {"secret": base64}. 0 with 1..AGENT_ANSWER_SECRET_MAX
 * bytes copied into secret and *ret_len; ATTEST_E_FORMAT otherwise. The
 * caller compares in constant time and wipes. */
int agent_answer_activate(const uint8_t *body, size_t len,
                          uint8_t secret[static AGENT_ANSWER_SECRET_MAX], size_t *ret_len);

/* An error answer {"error": {"code", "message"}} as one sentence "the agent
 * answered HTTP STATUS CODE: MESSAGE" into text, and the code (or "") into
 * code; control characters from the agent become '?'. Never fails. */
void agent_answer_error(const uint8_t *body, size_t len, int status, char *text, size_t textcap,
                        char *code, size_t codecap);

#endif
