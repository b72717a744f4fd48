/* Fuzz what reaches the verifier from outside: the agents' answers
 * (verifier/agent_answer.c: identity, AK, activation, errors; the quote
 * answer is an evidence bundle, lib/bundle.c) and the operator API's request
 * bodies (verifier/api_parse.c: body, hosts, policies, CAs, tokens). Every
 * input goes through every parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../verifier/agent_answer.h"
#include "../verifier/api_parse.h"
#include "bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void operator_bodies(const uint8_t *data, size_t size)
{
	json_t *b = NULL;
	struct api_refusal why;
	if (api_parse_body(data, size, 64 * 1024, &b, &why) != 0)
		return;
	struct api_host_add ha;
	if (api_parse_host_add(b, 60, &ha, &why) == 0 &&
	    (ha.port == 0 || !api_name_ok(ha.name) || ha.interval_s < 1))
		abort();
	struct api_policy_create pc;
	if (api_parse_policy_create(b, &pc, &why) == 0 &&
	    (pc.body == NULL) == (pc.from_host == NULL))
		abort();
	struct api_policy_assign pa;
	(void)api_parse_policy_assign(b, &pa, &why);
	uint8_t *buf = NULL;
	size_t len = 0;
	const char *src = NULL;
	if (api_parse_ca_add(b, 64 * 1024, &buf, &len, &src, &why) == 0)
		free(buf);
	const char *tn, *tr;
	(void)api_parse_token_add(b, &tn, &tr, &why);
	json_decref(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char msg[AGENT_ANSWER_MSG_SIZE];
	struct agent_identity id;
	if (agent_answer_identity(data, size, &id, msg) == 0) {
		if (id.keep == NULL || id.ncerts > AGENT_ANSWER_CERTS_MAX ||
		    (id.ek_ok && id.ek_public == NULL))
			abort();
		agent_identity_clear(&id);
	}
	uint8_t *pub = NULL;
	size_t pl = 0;
	TPMT_PUBLIC ak;
	if (agent_answer_ak(data, size, &pub, &pl, &ak, msg) == 0)
		free(pub);
	uint8_t secret[AGENT_ANSWER_SECRET_MAX];
	size_t sl = 0;
	if (agent_answer_activate(data, size, secret, &sl) == 0 && (sl == 0 || sl > sizeof secret))
		abort();
	char text[700], code[64];
	agent_answer_error(data, size, 409, text, sizeof text, code, sizeof code);
	struct bundle *bd = NULL;
	struct diag be;
	if (bundle_parse(data, size, &bd, &be) == 0)
		bundle_free(bd);
	operator_bodies(data, size);
	char idtext[32];
	size_t n = size < sizeof idtext - 1 ? size : sizeof idtext - 1;
	memcpy(idtext, data, n);
	idtext[n] = '\0';
	int64_t x;
	(void)api_parse_id(idtext, &x);
	return 0;
}
