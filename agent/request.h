/* The Agent API v1 request bodies (docs/protocol.md), parsed and checked
 * with no TPM, file or network: the daemon (daemon.c) turns a request into a
 * TPM job only after one of these accepted it, and fuzz/fuzz_agent_request.c
 * feeds them arbitrary bytes. Unknown JSON members are ignored. Nothing here
 * needs the TPM module (tpmdev/): PCR selections are read by lib/pcrsel.h. */
#ifndef ATTEST_AGENT_REQUEST_H
#define ATTEST_AGENT_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pcrsel.h"

#define AGENT_REQ_NAME_MAX     68u  /* TPM2B_NAME contents: 2-byte alg + SHA-512 */
#define AGENT_REQ_NONCE_MAX    64u  /* = EVIDENCE_NONCE_MAX */
#define AGENT_REQ_PCRS_MAX     256u /* characters of a "pcrs" selection */
#define AGENT_REQ_MSG_SIZE     384u
#define AGENT_REQ_DEFAULT_PCRS "sha256:0-9"
#define AGENT_REQ_BLOB_MAX     1024u /* = TPMDEV_BLOB_MAX: credential, secret */

/* The AK kinds of POST /v1/ak; the same values as enum tpmdev_ak_alg. */
enum agent_req_ak_alg {
	AGENT_REQ_AK_RSA = 0, /* RSA-2048, RSASSA with SHA-256 */
	AGENT_REQ_AK_ECC = 1  /* ECC NIST P-256, ECDSA with SHA-256 */
};

/* One parsed request; which fields are set depends on the route. */
struct agent_req {
	enum agent_req_ak_alg ak_alg;        /* POST /v1/ak */
	uint8_t ak_name[AGENT_REQ_NAME_MAX]; /* POST /v1/activate */
	size_t ak_name_len;
	uint8_t *cred; /* TPM2B_ID_OBJECT (with its size), malloc'd */
	size_t cred_len;
	uint8_t *secret; /* TPM2B_ENCRYPTED_SECRET (with its size), malloc'd */
	size_t secret_len;
	uint8_t nonce[AGENT_REQ_NONCE_MAX]; /* POST /v1/quote */
	size_t nonce_len;
	struct pcrsel sel;
	bool have_log_sha256;   /* POST /v1/quote: "eventlog_sha256" was given */
	uint8_t log_sha256[32]; /* the log the verifier holds memoized */
};

/* Parse the body of POST /v1/ak ({} or {"type": "rsa"|"ecc"}; an empty body
 * counts as {}). 0 and *ret filled (zeroed first), or ATTEST_E_FORMAT with a
 * sentence for a 400 BAD_REQUEST in msg and *ret untouched. */
int agent_request_ak(const uint8_t *body, size_t len, struct agent_req *ret,
                     char msg[static AGENT_REQ_MSG_SIZE]);

/* POST /v1/activate: {"ak_name": hex, "credential_blob": b64, "secret": b64}.
 * On success *ret owns cred and secret: release with agent_request_clear().
 * ATTEST_E_FORMAT or ATTEST_E_LIMIT (a blob above AGENT_REQ_BLOB_MAX) with
 * msg; nothing allocated then and *ret untouched. */
int agent_request_activate(const uint8_t *body, size_t len, struct agent_req *ret,
                           char msg[static AGENT_REQ_MSG_SIZE]);

/* POST /v1/quote: {"nonce": hex of 16-64 bytes, "pcrs": selection (default
 * AGENT_REQ_DEFAULT_PCRS), "eventlog_sha256": 64 hex digits (optional)}. Same contract as
 * agent_request_ak. */
int agent_request_quote(const uint8_t *body, size_t len, struct agent_req *ret,
                        char msg[static AGENT_REQ_MSG_SIZE]);

/* Free and wipe what a parsed request owns (NULL accepted); *r is zeroed. */
void agent_request_clear(struct agent_req *r);

#endif
