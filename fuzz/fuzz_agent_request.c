/* Fuzz the Agent API v1 request bodies (agent/request.c): the bytes a
 * verifier, or anyone holding a pinned verifier certificate, can send to
 * POST /v1/ak, /v1/activate and /v1/quote. Every input goes through all
 * three parsers; a parsed request must be internally consistent. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../agent/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char msg[AGENT_REQ_MSG_SIZE];
	struct agent_req r;

	if (agent_request_ak(data, size, &r, msg) == 0) {
		if (r.ak_alg != AGENT_REQ_AK_RSA && r.ak_alg != AGENT_REQ_AK_ECC)
			abort();
		agent_request_clear(&r);
	}
	if (agent_request_activate(data, size, &r, msg) == 0) {
		if (r.ak_name_len < 2 || r.ak_name_len > sizeof r.ak_name || !r.cred ||
		    r.cred_len < 2 || r.cred_len > AGENT_REQ_BLOB_MAX || !r.secret ||
		    r.secret_len < 2 || r.secret_len > AGENT_REQ_BLOB_MAX)
			abort();
		agent_request_clear(&r);
	}
	if (agent_request_quote(data, size, &r, msg) == 0) {
		if (r.nonce_len < 16 || r.nonce_len > sizeof r.nonce || r.sel.count == 0 ||
		    r.sel.count > PCRSEL_MAX_BANKS)
			abort();
		agent_request_clear(&r);
	}
	/* A refusal always says why. */
	msg[sizeof msg - 1] = '\0';
	return strlen(msg) < sizeof msg ? 0 : 1;
}
