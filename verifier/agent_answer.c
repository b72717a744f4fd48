/* Agent answers -> verifier structures (see agent_answer.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "agent_answer.h"
#include "base64.h"
#include "ekcert.h"
#include "err.h"

/* The answer as a JSON object (duplicate keys refused), or NULL. */
static json_t *answer_object(const uint8_t *body, size_t len)
{
	if (body == NULL || len == 0 || len > AGENT_ANSWER_MAX)
		return NULL;
	json_t *o = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, NULL);
	if (o != NULL && !json_is_object(o)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

/* Decode a base64 string member of obj into a new buffer of at most max. */
static int b64_member(json_t *obj, const char *key, size_t max, uint8_t **ret, size_t *ret_len)
{
	json_t *s = json_object_get(obj, key);
	if (!json_is_string(s))
		return ATTEST_E_FORMAT;
	return base64_decode_alloc(json_string_value(s), json_string_length(s), max, ret, ret_len);
}

void agent_identity_clear(struct agent_identity *id)
{
	if (id == NULL)
		return;
	json_decref(id->keep);
	free(id->ek_public);
	for (size_t i = 0; i < id->ncerts; i++)
		free(id->certs[i].der);
	for (size_t i = 0; i < id->nchain; i++)
		free(id->chain[i].der);
	memset(id, 0, sizeof *id);
}

int agent_answer_identity(const uint8_t *body, size_t len, struct agent_identity *ret,
                          char msg[static AGENT_ANSWER_MSG_SIZE])
{
	memset(ret, 0, sizeof *ret);
	json_t *o = answer_object(body, len);
	json_t *tpm = json_object_get(o, "tpm");
	if (!json_is_object(tpm)) {
		json_decref(o);
		snprintf(msg, AGENT_ANSWER_MSG_SIZE,
		         "the agent's identity answer has no tpm object");
		return ATTEST_E_FORMAT;
	}
	int rc = ATTEST_E_NOMEM;
	ret->present = json_is_true(json_object_get(tpm, "present"));
	ret->keep = json_deep_copy(tpm);
	if (ret->keep == NULL)
		goto fail;
	json_object_del(ret->keep, "ek_public");
	json_object_del(ret->keep, "ek_certificates");
	json_object_del(ret->keep, "ek_chain");
	json_t *av = json_object_get(o, "agent_version"), *bid = json_object_get(o, "boot_id");
	if ((json_is_string(av) && json_object_set(ret->keep, "agent_version", av) != 0) ||
	    (json_is_string(bid) && json_object_set(ret->keep, "boot_id", bid) != 0))
		goto fail;
	if (!ret->present) {
		json_decref(o);
		return 0;
	}
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(tpm, "ek_certificates"), i, c)
	{
		if (ret->ncerts == AGENT_ANSWER_CERTS_MAX)
			break;
		uint8_t *der = NULL;
		size_t dl = 0;
		if (b64_member(c, "der", EKCERT_MAX_SIZE, &der, &dl) < 0) {
			free(der);
			continue;
		}
		ret->certs[ret->ncerts].der = der;
		ret->certs[ret->ncerts].len = dl;
		const char *nv = json_string_value(json_object_get(c, "nv_index"));
		if (nv != NULL && strlen(nv) < sizeof ret->certs[0].nv_index)
			memcpy(ret->certs[ret->ncerts].nv_index, nv, strlen(nv) + 1);
		ret->ncerts++;
	}
	json_array_foreach(json_object_get(tpm, "ek_chain"), i, c)
	{
		if (ret->nchain == AGENT_ANSWER_CERTS_MAX)
			break;
		uint8_t *der = NULL;
		size_t dl = 0;
		if (b64_member(c, "der", EKCERT_MAX_SIZE, &der, &dl) < 0) {
			free(der);
			continue;
		}
		ret->chain[ret->nchain].der = der;
		ret->chain[ret->nchain].len = dl;
		ret->nchain++;
	}
	struct tpm_error te = {0};
	if (b64_member(tpm, "ek_public", TPM_PUBLIC_MAX, &ret->ek_public, &ret->ek_public_len) <
	        0 ||
	    tpm_public_decode(ret->ek_public, ret->ek_public_len, &ret->ek, &te) < 0) {
		free(ret->ek_public);
		ret->ek_public = NULL;
		ret->ek_public_len = 0;
		snprintf(ret->ek_error, sizeof ret->ek_error,
		         "the agent's EK public area is unusable: %.215s",
		         te.message[0] ? te.message : "missing or not base64");
	} else {
		ret->ek_ok = true;
	}
	json_decref(o);
	return 0;
fail:
	json_decref(o);
	agent_identity_clear(ret);
	snprintf(msg, AGENT_ANSWER_MSG_SIZE, "out of memory");
	return rc;
}

int agent_answer_ak(const uint8_t *body, size_t len, uint8_t **ret_public, size_t *ret_len,
                    TPMT_PUBLIC *ret_ak, char msg[static AGENT_ANSWER_MSG_SIZE])
{
	json_t *o = answer_object(body, len);
	uint8_t *pub = NULL;
	size_t pl = 0;
	TPMT_PUBLIC ak;
	struct tpm_error te = {0};
	if (o == NULL || b64_member(o, "ak_public", TPM_PUBLIC_MAX, &pub, &pl) < 0 ||
	    tpm_public_decode(pub, pl, &ak, &te) < 0) {
		free(pub);
		json_decref(o);
		snprintf(msg, AGENT_ANSWER_MSG_SIZE,
		         "the agent's AK public area is unusable: %.215s",
		         te.message[0] ? te.message : "missing or not base64");
		return ATTEST_E_FORMAT;
	}
	json_decref(o);
	*ret_public = pub;
	*ret_len = pl;
	*ret_ak = ak;
	return 0;
}

int agent_answer_activate(const uint8_t *body, size_t len,
                          uint8_t secret[static AGENT_ANSWER_SECRET_MAX], size_t *ret_len)
{
	json_t *o = answer_object(body, len);
	uint8_t *sec = NULL;
	size_t sl = 0;
	int rc = o ? b64_member(o, "secret", AGENT_ANSWER_SECRET_MAX, &sec, &sl) : ATTEST_E_FORMAT;
	json_decref(o);
	if (rc == 0 && sl == 0)
		rc = ATTEST_E_FORMAT;
	if (rc == 0) {
		memcpy(secret, sec, sl);
		*ret_len = sl;
	}
	if (sec) {
		OPENSSL_cleanse(sec, sl);
		free(sec);
	}
	return rc < 0 ? ATTEST_E_FORMAT : 0;
}

/* Copy s into out (cap bytes), control characters replaced. */
static void clean_copy(char *out, size_t cap, const char *s)
{
	size_t i = 0;
	for (; s && s[i] && i + 1 < cap; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	if (cap)
		out[i] = '\0';
}

void agent_answer_error(const uint8_t *body, size_t len, int status, char *text, size_t textcap,
                        char *code, size_t codecap)
{
	json_t *e = answer_object(body, len);
	json_t *err = json_object_get(e, "error");
	const char *c = json_string_value(json_object_get(err, "code"));
	const char *m = json_string_value(json_object_get(err, "message"));
	char cc[64], mm[400];
	clean_copy(cc, sizeof cc, c);
	clean_copy(mm, sizeof mm, m);
	snprintf(code, codecap, "%s", cc);
	snprintf(text, textcap, "the agent answered HTTP %d%s%s%s%s", status, c ? " " : "",
	         c ? cc : "", m ? ": " : "", m ? mm : "");
	json_decref(e);
}
