/* Operator API request bodies -> checked values (see api_parse.h). */
#include <ctype.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_parse.h"
#include "base64.h"
#include "err.h"
#include "jsontext.h"
#include "termtext.h"

__attribute__((format(printf, 4, 5))) static int refuse(struct api_refusal *why, int status,
                                                        const char *code, const char *fmt, ...)
{
	why->status = status;
	why->code = code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why->message, sizeof why->message, fmt, ap);
	va_end(ap);
	return status == 413 ? ATTEST_E_LIMIT : ATTEST_E_FORMAT;
}

const char *api_name_problem(const char *name, char *buf, size_t cap)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0)
		return "is empty";
	if (n > API_PARSE_NAME_MAX) {
		snprintf(buf, cap, "is %zu bytes long (at most %u)", n, API_PARSE_NAME_MAX);
		return buf;
	}
	/* Controls, bidirectional formatting and invalid UTF-8: the one
	 * definition of what may not reach a terminal (lib/termtext.h). A name
	 * is shown in every listing, so it is refused rather than escaped. */
	uint32_t cp = 0;
	bool invalid = false;
	size_t at = termtext_first_unsafe(name, n, &cp, &invalid);
	if (at < n) {
		if (invalid)
			snprintf(buf, cap, "is not valid UTF-8 (byte 0x%02X at offset %zu)",
			         (unsigned)cp, at);
		else
			snprintf(
			    buf, cap,
			    "contains U+%04X at offset %zu: control and bidirectional formatting "
			    "characters are not allowed",
			    (unsigned)cp, at);
		return buf;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == ' ' || c == '/' || c == '?' || c == '#' || c == '%') {
			snprintf(buf, cap,
			         "contains '%c' at offset %zu: spaces, '/', '?', '#' and '%%' "
			         "are not allowed",
			         c, i);
			return buf;
		}
	}
	return NULL;
}

bool api_name_ok(const char *name)
{
	char buf[160];
	return api_name_problem(name, buf, sizeof buf) == NULL;
}

int verifier_split_address(const char *addr, char *host, size_t cap, uint16_t *port)
{
	const char *colon, *h = addr;
	size_t hl;
	if (addr[0] == '[') {
		const char *rb = strchr(addr, ']');
		if (rb == NULL || rb[1] != ':')
			return ATTEST_E_FORMAT;
		h = addr + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL || strchr(addr, ':') != colon)
			return ATTEST_E_FORMAT;
		hl = (size_t)(colon - addr);
	}
	if (hl == 0 || hl >= cap)
		return ATTEST_E_FORMAT;
	for (size_t i = 0; i < hl; i++)
		if ((unsigned char)h[i] <= 0x20 || h[i] == '/' || h[i] == '@')
			return ATTEST_E_FORMAT;
	char *end = NULL;
	errno = 0;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != '\0' || p == 0 || p > 65535 ||
	    colon[1] == '+' || colon[1] == '-')
		return ATTEST_E_FORMAT;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (uint16_t)p;
	return 0;
}

static int json_depth(const json_t *j, int depth)
{
	if (depth > API_PARSE_DEPTH_MAX)
		return depth;
	int max = depth;
	if (json_is_object(j)) {
		const char *k;
		json_t *x;
		json_object_foreach((json_t *)j, k, x)
		{
			int d = json_depth(x, depth + 1);
			if (d > max)
				max = d;
			if (max > API_PARSE_DEPTH_MAX)
				break;
		}
	} else if (json_is_array(j)) {
		size_t i;
		json_t *x;
		json_array_foreach(j, i, x)
		{
			int d = json_depth(x, depth + 1);
			if (d > max)
				max = d;
			if (max > API_PARSE_DEPTH_MAX)
				break;
		}
	}
	return max;
}

int api_parse_body(const uint8_t *body, size_t len, size_t cap, json_t **ret,
                   struct api_refusal *why)
{
	if (len > cap)
		return refuse(why, 413, "BODY_TOO_LARGE",
		              "the request body is larger than %zu bytes", cap);
	/* Depth first, on the text: jansson would recurse before we could. */
	if (jsontext_depth(body, len) > API_PARSE_DEPTH_MAX)
		return refuse(why, 400, "JSON_TOO_DEEP", "the JSON body is nested too deeply");
	json_t *j;
	if (len == 0) {
		j = json_object();
		if (j == NULL)
			return ATTEST_E_NOMEM;
	} else {
		json_error_t jerr;
		j = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
		if (j == NULL)
			return refuse(
			    why, 400, "INVALID_JSON",
			    "the body is not valid JSON: invalid JSON at line %d column %d: "
			    "%s",
			    jerr.line, jerr.column, jerr.text);
	}
	if (!json_is_object(j)) {
		json_decref(j);
		return refuse(why, 400, "INVALID_JSON", "the body must be a JSON object");
	}
	if (json_depth(j, 1) > API_PARSE_DEPTH_MAX) {
		json_decref(j);
		return refuse(why, 400, "JSON_TOO_DEEP", "the JSON body is nested too deeply");
	}
	*ret = j;
	return 0;
}

int api_parse_known_fields(json_t *obj, const char *const *keys, struct api_refusal *why)
{
	const char *k;
	json_t *x;
	json_object_foreach(obj, k, x)
	{
		bool known = false;
		for (size_t i = 0; keys[i] && !known; i++)
			known = strcmp(k, keys[i]) == 0;
		if (!known)
			return refuse(why, 400, "UNKNOWN_FIELD", "unknown field \"%.255s\"", k);
	}
	return 0;
}

int api_parse_host_add(json_t *b, int64_t default_interval, struct api_host_add *ret,
                       struct api_refusal *why)
{
	static const char *const keys[] = {
	    "address", "name", "thumbprint", "accept_thumbprint", "policy", "interval_s",
	    "ek",      "mode", NULL};
	int rc = api_parse_known_fields(b, keys, why);
	if (rc)
		return rc;
	json_t *jaddr = json_object_get(b, "address"), *jname = json_object_get(b, "name"),
	       *jtp = json_object_get(b, "thumbprint"),
	       *jacc = json_object_get(b, "accept_thumbprint"),
	       *jpol = json_object_get(b, "policy"), *jint = json_object_get(b, "interval_s");
	struct api_host_add a;
	memset(&a, 0, sizeof a);
	json_t *jmode = json_object_get(b, "mode");
	if (jmode != NULL && !json_is_null(jmode)) {
		const char *m = json_is_string(jmode) ? json_string_value(jmode) : "";
		if (strcmp(m, "push") == 0)
			a.push = true;
		else if (strcmp(m, "pull") != 0)
			return refuse(why, 400, "INVALID_FIELD",
			              "mode must be \"pull\" or \"push\"");
	}
	/* Push (docs/protocol.md, "Push carrier"): the agent connects to us, so
	 * there is no address and nothing to fetch: the operator gives the
	 * name and the agent's thumbprint. */
	if (a.push && jaddr != NULL && !json_is_null(jaddr))
		return refuse(why, 400, "INVALID_FIELD",
		              "a push host has no address: its agent connects to the verifier");
	if (a.push && (jname == NULL || json_is_null(jname)))
		return refuse(why, 400, "MISSING_FIELD", "a push host needs a name");
	if (a.push && (jtp == NULL || json_is_null(jtp)))
		return refuse(why, 400, "MISSING_FIELD",
		              "a push host needs the agent's thumbprint (attest-agent prints it)");
	if (a.push && json_is_true(jacc))
		return refuse(why, 400, "INVALID_FIELD",
		              "accept_thumbprint needs an address to fetch from; give thumbprint");
	if (a.push)
		a.address = "";
	else if (jaddr == NULL)
		return refuse(why, 400, "MISSING_FIELD", "address is required (host:port)");
	else if (!json_is_string(jaddr) || json_string_length(jaddr) > API_PARSE_TEXT_MAX ||
	         strlen(json_string_value(jaddr)) != json_string_length(jaddr) ||
	         verifier_split_address(json_string_value(jaddr), a.host, sizeof a.host, &a.port) <
	             0)
		return refuse(why, 400, "INVALID_FIELD",
		              "address must be host:port (IPv6 as [addr]:port)");
	if (!a.push)
		a.address = a.name = json_string_value(jaddr);
	char nb[160];
	const char *np;
	if (jname != NULL && !json_is_null(jname)) {
		if (!json_is_string(jname) ||
		    strlen(json_string_value(jname)) != json_string_length(jname))
			return refuse(
			    why, 400, "INVALID_FIELD",
			    "name must be 1-255 printable characters without spaces, '/', "
			    "'?', '#' or '%%'");
		if ((np = api_name_problem(json_string_value(jname), nb, sizeof nb)) != NULL)
			return refuse(why, 400, "INVALID_FIELD", "host name %s", np);
		a.name = json_string_value(jname);
	} else if ((np = api_name_problem(a.name, nb, sizeof nb)) != NULL) {
		return refuse(why, 400, "INVALID_FIELD",
		              "give the host a name (the address as a name %s)", np);
	}
	if (jtp != NULL && !json_is_null(jtp)) {
		if (!json_is_string(jtp) ||
		    tlsid_thumbprint_parse(json_string_value(jtp), a.thumbprint) < 0)
			return refuse(why, 400, "INVALID_FIELD",
			              "thumbprint must be SHA256: followed by 64 hex digits");
		a.have_thumbprint = true;
	}
	if (jacc != NULL && !json_is_boolean(jacc))
		return refuse(why, 400, "INVALID_FIELD", "accept_thumbprint must be a boolean");
	a.accept_thumbprint = json_is_true(jacc);
	if (jpol != NULL && !json_is_null(jpol)) {
		if (!json_is_string(jpol) || !api_name_ok(json_string_value(jpol)))
			return refuse(why, 400, "INVALID_FIELD", "policy must be a policy name");
		a.policy = json_string_value(jpol);
	}
	a.interval_s = default_interval;
	if (jint != NULL) {
		if (!json_is_integer(jint) || json_integer_value(jint) < 1 ||
		    json_integer_value(jint) > API_PARSE_INTERVAL_MAX)
			return refuse(why, 400, "INVALID_FIELD",
			              "interval_s must be an integer from 1 to %d",
			              API_PARSE_INTERVAL_MAX);
		a.interval_s = json_integer_value(jint);
	}
	json_t *jek = json_object_get(b, "ek");
	if (jek != NULL && !json_is_null(jek)) {
		const char *e = json_is_string(jek) ? json_string_value(jek) : "";
		bool ok = strlen(e) == 7 + 64 && strncasecmp(e, "SHA256:", 7) == 0;
		for (size_t i = 7; ok && i < 7 + 64; i++)
			ok = isxdigit((unsigned char)e[i]) != 0;
		if (!ok)
			return refuse(why, 400, "INVALID_FIELD",
			              "ek must be SHA256: followed by the 64 hex digits of the EK "
			              "key hash (attest-agent ek prints it)");
		memcpy(a.ek, "SHA256:", 7);
		for (size_t i = 7; i < 7 + 64; i++)
			a.ek[i] = (char)tolower((unsigned char)e[i]);
		a.ek[71] = '\0';
		a.have_ek = true;
	}
	*ret = a;
	return 0;
}

int api_parse_ek_cert(json_t *b, size_t der_max, uint8_t **ret, size_t *ret_len,
                      struct api_refusal *why)
{
	static const char *const keys[] = {"pem", "der", NULL};
	int rc = api_parse_known_fields(b, keys, why);
	if (rc)
		return rc;
	json_t *pem = json_object_get(b, "pem"), *der = json_object_get(b, "der");
	if ((pem == NULL) == (der == NULL) || (pem && !json_is_string(pem)) ||
	    (der && !json_is_string(der)))
		return refuse(why, 400, "INVALID_FIELD",
		              "give exactly one of pem (text) or der (base64)");
	X509 *x = NULL;
	if (pem) {
		if (json_string_length(pem) > der_max * 2)
			return refuse(why, 400, "INVALID_FIELD", "pem is larger than %zu bytes",
			              der_max * 2);
		BIO *bio = BIO_new_mem_buf(json_string_value(pem), (int)json_string_length(pem));
		x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
		BIO_free(bio);
	} else {
		uint8_t *buf = NULL;
		size_t len = 0;
		if (base64_decode_alloc(json_string_value(der), json_string_length(der), der_max,
		                        &buf, &len) < 0) {
			free(buf);
			return refuse(why, 400, "INVALID_FIELD", "der must be strict base64");
		}
		const unsigned char *p = buf;
		x = d2i_X509(NULL, &p, (long)len);
		if (x && p != buf + len) { /* one certificate, nothing after it */
			X509_free(x);
			x = NULL;
		}
		free(buf);
	}
	ERR_clear_error();
	if (x == NULL)
		return refuse(why, 400, "INVALID_FIELD", "not an X.509 certificate");
	unsigned char *out = NULL;
	int n = i2d_X509(x, &out);
	X509_free(x);
	if (n <= 0 || (size_t)n > der_max) {
		OPENSSL_free(out);
		ERR_clear_error();
		return refuse(why, 400, "INVALID_FIELD", "the certificate is larger than %zu bytes",
		              der_max);
	}
	uint8_t *copy = malloc((size_t)n);
	if (copy == NULL) {
		OPENSSL_free(out);
		return ATTEST_E_NOMEM;
	}
	memcpy(copy, out, (size_t)n);
	OPENSSL_free(out);
	*ret = copy;
	*ret_len = (size_t)n;
	return 0;
}

int api_parse_policy_create(json_t *b, struct api_policy_create *ret, struct api_refusal *why)
{
	static const char *const keys[] = {"name", "body", "from_host", "dry_run", NULL};
	int rc = api_parse_known_fields(b, keys, why);
	if (rc)
		return rc;
	const char *name = json_string_value(json_object_get(b, "name"));
	json_t *body = json_object_get(b, "body"), *from = json_object_get(b, "from_host");
	char nb[160];
	const char *np;
	if (name == NULL)
		return refuse(why, 400, "MISSING_FIELD", "name (a policy name) is required");
	if (strlen(name) != json_string_length(json_object_get(b, "name")))
		return refuse(why, 400, "INVALID_FIELD", "policy name contains U+0000");
	if ((np = api_name_problem(name, nb, sizeof nb)) != NULL)
		return refuse(why, 400, "INVALID_FIELD", "policy name %s", np);
	if ((body == NULL) == (from == NULL))
		return refuse(why, 400, "INVALID_FIELD", "give exactly one of body or from_host");
	if (from != NULL && !json_is_string(from))
		return refuse(why, 400, "INVALID_FIELD", "from_host must be a host name");
	ret->name = name;
	ret->body = body;
	ret->from_host = from ? json_string_value(from) : NULL;
	return 0;
}

int api_parse_policy_assign(json_t *b, struct api_policy_assign *ret, struct api_refusal *why)
{
	static const char *const keys[] = {"host", "default", NULL};
	int rc = api_parse_known_fields(b, keys, why);
	if (rc)
		return rc;
	json_t *jh = json_object_get(b, "host"), *def = json_object_get(b, "default");
	const char *host = json_string_value(jh);
	if ((jh == NULL) == (def == NULL) || (jh && host == NULL) || (def && !json_is_true(def)))
		return refuse(why, 400, "INVALID_FIELD",
		              "give {\"host\": NAME} or {\"default\": true}");
	ret->host = host;
	return 0;
}

int api_parse_ca_add(json_t *b, size_t der_max, uint8_t **ret_buf, size_t *ret_len,
                     const char **ret_source, struct api_refusal *why)
{
	static const char *const keys[] = {"pem", "der", "source", NULL};
	int rc = api_parse_known_fields(b, keys, why);
	if (rc)
		return rc;
	json_t *pem = json_object_get(b, "pem"), *der = json_object_get(b, "der");
	json_t *src = json_object_get(b, "source");
	if ((pem == NULL) == (der == NULL) || (pem && !json_is_string(pem)) ||
	    (der && !json_is_string(der)) || (src && !json_is_string(src)))
		return refuse(why, 400, "INVALID_FIELD",
		              "give exactly one of pem (text) or der (base64)");
	uint8_t *buf = NULL;
	size_t len = 0;
	if (pem) {
		len = json_string_length(pem);
		buf = malloc(len + 1);
		if (buf == NULL)
			return ATTEST_E_NOMEM;
		memcpy(buf, json_string_value(pem), len + 1);
	} else if (base64_decode_alloc(json_string_value(der), json_string_length(der), der_max,
	                               &buf, &len) < 0) {
		free(buf);
		return refuse(why, 400, "INVALID_FIELD", "der must be strict base64");
	}
	const char *source = src ? json_string_value(src) : "attestctl";
	if (strlen(source) == 0 || strlen(source) > API_PARSE_NAME_MAX)
		source = "attestctl";
	*ret_buf = buf;
	*ret_len = len;
	*ret_source = source;
	return 0;
}

int api_parse_token_add(json_t *b, const char **ret_name, const char **ret_role,
                        struct api_refusal *why)
{
	static const char *const keys[] = {"name", "role", NULL};
	int rc = api_parse_known_fields(b, keys, why);
	if (rc)
		return rc;
	const char *tn = json_string_value(json_object_get(b, "name"));
	const char *rn = json_string_value(json_object_get(b, "role"));
	char nb[160];
	const char *np;
	if (tn != NULL && strlen(tn) != json_string_length(json_object_get(b, "name")))
		return refuse(why, 400, "INVALID_FIELD", "token name contains U+0000");
	if (tn != NULL && (np = api_name_problem(tn, nb, sizeof nb)) != NULL)
		return refuse(why, 400, "INVALID_FIELD", "token name %s", np);
	if (tn == NULL || rn == NULL || (strcmp(rn, "viewer") != 0 && strcmp(rn, "admin") != 0))
		return refuse(why, 400, "INVALID_FIELD", "give name and role (viewer or admin)");
	*ret_name = tn;
	*ret_role = rn;
	return 0;
}

int api_parse_id(const char *text, int64_t *ret)
{
	if (text == NULL || text[0] < '1' || text[0] > '9')
		return ATTEST_E_FORMAT;
	char *end = NULL;
	errno = 0;
	unsigned long long x = strtoull(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || x > (unsigned long long)INT64_MAX)
		return ATTEST_E_FORMAT;
	*ret = (int64_t)x;
	return 0;
}
