/* Agent API v1 request bodies: JSON -> struct agent_req, every check the
 * daemon makes before a request may become a TPM job (see request.h). */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "base64.h"
#include "err.h"
#include "evidence.h"
#include "hex.h"
#include "request.h"

_Static_assert(AGENT_REQ_NONCE_MAX == EVIDENCE_NONCE_MAX, "nonce caps differ");
_Static_assert(AGENT_REQ_PCRS_MAX <= PCRSEL_TEXT_MAX, "pcrs cap above the parser's");

__attribute__((format(printf, 2, 3))) static int refuse(char *msg, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, AGENT_REQ_MSG_SIZE, fmt, ap);
	va_end(ap);
	return ATTEST_E_FORMAT;
}

/* The body as a JSON object (duplicate keys refused); an empty body is {}
 * where empty_ok. NULL with msg set otherwise. */
static json_t *body_object(const uint8_t *body, size_t len, bool empty_ok, char *msg)
{
	if (len == 0) {
		if (empty_ok)
			return json_object();
		refuse(msg, "the request body is empty; a JSON object is expected");
		return NULL;
	}
	json_error_t jerr;
	json_t *o = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o) {
		refuse(msg, "the request body is not JSON: invalid JSON at line %d column %d: %s",
		       jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		refuse(msg, "the request body must be a JSON object");
		return NULL;
	}
	return o;
}

/* A string member: 0 and *ret (NULL if absent), or ATTEST_E_FORMAT if it is
 * present but not a string (or holds a NUL, which C code would cut short). */
static int member_string(json_t *o, const char *key, const char **ret, char *msg)
{
	json_t *v = json_object_get(o, key);
	*ret = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return refuse(msg, "\"%s\" must be a string", key);
	*ret = json_string_value(v);
	return 0;
}

/* A required base64 member, decoded into a new buffer of at least 2 bytes
 * (a TPM2B structure's size). */
static int member_b64(json_t *o, const char *key, uint8_t **ret, size_t *ret_len, char *msg)
{
	const char *s;
	int rc = member_string(o, key, &s, msg);
	if (rc)
		return rc;
	if (!s)
		return refuse(msg, "\"%s\" is missing", key);
	uint8_t *buf = NULL;
	size_t n = 0;
	rc = base64_decode_alloc(s, strlen(s), AGENT_REQ_BLOB_MAX, &buf, &n);
	if (rc == ATTEST_E_LIMIT) {
		refuse(msg, "\"%s\" is larger than %u bytes", key, AGENT_REQ_BLOB_MAX);
		return ATTEST_E_LIMIT;
	}
	if (rc)
		return refuse(msg, "\"%s\" is not base64 (RFC 4648, standard alphabet, padded)",
		              key);
	if (n < 2) {
		free(buf);
		return refuse(msg, "\"%s\" is too short to be a TPM2B structure", key);
	}
	*ret = buf;
	*ret_len = n;
	return 0;
}

int agent_request_ak(const uint8_t *body, size_t len, struct agent_req *ret,
                     char msg[static AGENT_REQ_MSG_SIZE])
{
	json_t *o = body_object(body, len, true, msg);
	if (!o)
		return ATTEST_E_FORMAT;
	const char *type;
	enum agent_req_ak_alg alg = AGENT_REQ_AK_RSA;
	int rc = member_string(o, "type", &type, msg);
	if (!rc && type) {
		if (strcmp(type, "rsa") == 0)
			alg = AGENT_REQ_AK_RSA;
		else if (strcmp(type, "ecc") == 0)
			alg = AGENT_REQ_AK_ECC;
		else
			rc =
			    refuse(msg, "\"type\" must be \"rsa\" or \"ecc\", not \"%.32s\"", type);
	}
	json_decref(o);
	if (rc)
		return rc;
	memset(ret, 0, sizeof *ret);
	ret->ak_alg = alg;
	return 0;
}

int agent_request_activate(const uint8_t *body, size_t len, struct agent_req *ret,
                           char msg[static AGENT_REQ_MSG_SIZE])
{
	json_t *o = body_object(body, len, false, msg);
	if (!o)
		return ATTEST_E_FORMAT;
	struct agent_req r;
	memset(&r, 0, sizeof r);
	const char *name;
	int rc = member_string(o, "ak_name", &name, msg);
	if (!rc && !name)
		rc = refuse(msg, "\"ak_name\" is missing");
	if (!rc && (hex_decode(name, r.ak_name, sizeof r.ak_name, &r.ak_name_len) != 0 ||
	            r.ak_name_len < 2))
		rc = refuse(msg, "\"ak_name\" must be a TPM Name in hex (4 to %u digits)",
		            2 * AGENT_REQ_NAME_MAX);
	if (!rc)
		rc = member_b64(o, "credential_blob", &r.cred, &r.cred_len, msg);
	if (!rc)
		rc = member_b64(o, "secret", &r.secret, &r.secret_len, msg);
	json_decref(o);
	if (rc) {
		agent_request_clear(&r);
		return rc;
	}
	*ret = r;
	OPENSSL_cleanse(&r, sizeof r);
	return 0;
}

int agent_request_quote(const uint8_t *body, size_t len, struct agent_req *ret,
                        char msg[static AGENT_REQ_MSG_SIZE])
{
	json_t *o = body_object(body, len, false, msg);
	if (!o)
		return ATTEST_E_FORMAT;
	struct agent_req r;
	memset(&r, 0, sizeof r);
	const char *nonce, *pcrs = NULL;
	int rc = member_string(o, "nonce", &nonce, msg);
	if (!rc && !nonce)
		rc = refuse(msg, "\"nonce\" is missing");
	if (!rc) {
		size_t nlen = strlen(nonce);
		bool len_ok = nlen >= 2 * EVIDENCE_NONCE_MIN && nlen <= 2 * EVIDENCE_NONCE_MAX;
		if (!len_ok || hex_decode(nonce, r.nonce, sizeof r.nonce, &r.nonce_len) != 0 ||
		    r.nonce_len < EVIDENCE_NONCE_MIN)
			rc =
			    refuse(msg,
			           "\"nonce\" must be %u to %u bytes in hex (%u to %u digits); got "
			           "%zu characters%s",
			           EVIDENCE_NONCE_MIN, EVIDENCE_NONCE_MAX, 2 * EVIDENCE_NONCE_MIN,
			           2 * EVIDENCE_NONCE_MAX, nlen, len_ok ? " that are not hex" : "");
	}
	if (!rc)
		rc = member_string(o, "pcrs", &pcrs, msg);
	if (!rc) {
		if (!pcrs)
			pcrs = AGENT_REQ_DEFAULT_PCRS;
		if (strlen(pcrs) > AGENT_REQ_PCRS_MAX || pcrsel_parse(pcrs, &r.sel) != 0)
			rc =
			    refuse(msg,
			           "\"pcrs\" \"%.64s\" is not a PCR selection: expected e.g. "
			           "sha256:0-7,14+sha1:0 (banks sha1, sha256, sha384, sha512; PCRs "
			           "0-23)",
			           pcrs);
	}
	const char *logd = NULL;
	if (!rc)
		rc = member_string(o, "eventlog_sha256", &logd, msg);
	if (!rc && logd) {
		size_t n = 0;
		if (strlen(logd) != 64 ||
		    hex_decode(logd, r.log_sha256, sizeof r.log_sha256, &n) != 0 ||
		    n != sizeof r.log_sha256)
			rc = refuse(msg, "\"eventlog_sha256\" must be a SHA-256 digest in hex (64 "
			                 "digits)");
		else
			r.have_log_sha256 = true;
	}
	json_decref(o);
	if (rc)
		return rc;
	*ret = r;
	return 0;
}

void agent_request_clear(struct agent_req *r)
{
	if (!r)
		return;
	if (r->cred) {
		OPENSSL_cleanse(r->cred, r->cred_len);
		free(r->cred);
	}
	if (r->secret) {
		OPENSSL_cleanse(r->secret, r->secret_len);
		free(r->secret);
	}
	OPENSSL_cleanse(r, sizeof *r);
}
