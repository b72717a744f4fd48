/* verifier/api_parse.c: every accept path and every refusal of the operator
 * API's request bodies, with the exact status, code and sentence the
 * handlers send, and the outputs untouched when a body is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api_parse.h"
#include "err.h"

#define SENTINEL 0xa5

static json_t *obj(const char *text)
{
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
	assert_non_null(j);
	return j;
}

static void assert_refused(const struct api_refusal *why, int status, const char *code,
                           const char *message)
{
	assert_int_equal(why->status, status);
	assert_string_equal(why->code, code);
	assert_string_equal(why->message, message);
}

static bool all_sentinel(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i] != SENTINEL)
			return false;
	return true;
}

/* ---- api_name_ok ---- */

static void test_name_ok(void **state)
{
	char longest[API_PARSE_NAME_MAX + 2];
	memset(longest, 'n', sizeof longest);
	longest[API_PARSE_NAME_MAX] = '\0';
	assert_true(api_name_ok("web-01.example"));
	assert_true(api_name_ok("x"));
	assert_true(api_name_ok("~!@$^&*()_+=[]{};:'\"<>,.|\\"));
	assert_true(api_name_ok(longest));
	longest[API_PARSE_NAME_MAX] = 'n';
	longest[API_PARSE_NAME_MAX + 1] = '\0';
	assert_false(api_name_ok(longest)); /* one too long */
	assert_false(api_name_ok(""));
	assert_false(api_name_ok("a b"));
	assert_false(api_name_ok("a/b"));
	assert_false(api_name_ok("a?b"));
	assert_false(api_name_ok("a#b"));
	assert_false(api_name_ok("a%b"));
	assert_false(api_name_ok("a\tb"));
	assert_false(api_name_ok("a\x7f"));
}

/* ---- verifier_split_address ---- */

static void test_split_address_accepts(void **state)
{
	char host[64];
	uint16_t port = 0;
	assert_int_equal(verifier_split_address("10.0.0.1:8443", host, sizeof host, &port), 0);
	assert_string_equal(host, "10.0.0.1");
	assert_int_equal(port, 8443);
	assert_int_equal(verifier_split_address("[::1]:1", host, sizeof host, &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 1);
	assert_int_equal(verifier_split_address("h:65535", host, sizeof host, &port), 0);
	assert_string_equal(host, "h");
	assert_int_equal(port, 65535);
	/* exact fit: 3 characters and the NUL in a 4-byte buffer */
	char small[4];
	assert_int_equal(verifier_split_address("abc:7", small, sizeof small, &port), 0);
	assert_string_equal(small, "abc");
}

static void test_split_address_refuses(void **state)
{
	static const char *const bad[] = {
	    "",           "host",    ":80",          "host:",    "host:0",
	    "host:65536", "host:-1", "host:+80",     "host:80x", "host:99999999999999999999",
	    "a:b:80",     "::1:80",  "[::1]80",      "[::1",     "[]:80",
	    "a b:80",     "a/b:80",  "user@host:80", "\x01:80",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char host[32];
		uint16_t port;
		memset(host, SENTINEL, sizeof host);
		memset(&port, SENTINEL, sizeof port);
		if (verifier_split_address(bad[i], host, sizeof host, &port) != ATTEST_E_FORMAT)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_true(all_sentinel(host, sizeof host));
		assert_true(all_sentinel(&port, sizeof port));
	}
	/* one byte short: the host and its NUL do not fit */
	char small[3];
	uint16_t port;
	memset(small, SENTINEL, sizeof small);
	assert_int_equal(verifier_split_address("abc:7", small, sizeof small, &port),
	                 ATTEST_E_FORMAT);
	assert_true(all_sentinel(small, sizeof small));
}

/* ---- api_parse_body ---- */

static int body(const char *text, size_t cap, json_t **ret, struct api_refusal *why)
{
	return api_parse_body((const uint8_t *)text, strlen(text), cap, ret, why);
}

static void test_body_accepts(void **state)
{
	struct api_refusal why;
	json_t *j = NULL;
	assert_int_equal(api_parse_body(NULL, 0, 100, &j, &why), 0); /* empty is {} */
	assert_true(json_is_object(j));
	assert_int_equal(json_object_size(j), 0);
	json_decref(j);
	assert_int_equal(body("{\"a\": [1, {\"b\": 2}]}", 100, &j, &why), 0);
	assert_int_equal(
	    json_integer_value(json_object_get(json_array_get(json_object_get(j, "a"), 1), "b")),
	    2);
	json_decref(j);
	/* exactly at the cap */
	assert_int_equal(body("{\"a\":1}", 7, &j, &why), 0);
	json_decref(j);
}

static void test_body_too_large(void **state)
{
	struct api_refusal why;
	json_t *j = (json_t *)&why; /* must stay as it is */
	assert_int_equal(body("{\"a\":1}", 6, &j, &why), ATTEST_E_LIMIT);
	assert_ptr_equal(j, (json_t *)&why);
	assert_refused(&why, 413, "BODY_TOO_LARGE", "the request body is larger than 6 bytes");
}

static void test_body_not_json(void **state)
{
	static const char *const bad[] = {"{", "{\"a\":}", "{} x", "{\"a\":1,\"a\":2}", "nul"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct api_refusal why;
		json_t *j = NULL;
		assert_int_equal(body(bad[i], 100, &j, &why), ATTEST_E_FORMAT);
		assert_null(j);
		assert_int_equal(why.status, 400);
		assert_string_equal(why.code, "INVALID_JSON");
		const char *prefix = "the body is not valid JSON: invalid JSON at line 1 column ";
		if (strncmp(why.message, prefix, strlen(prefix)) != 0)
			fail_msg("\"%s\": %s", bad[i], why.message);
	}
	struct api_refusal why;
	json_t *j = NULL;
	assert_int_equal(body("{\"a\":1,\"a\":2}", 100, &j, &why), ATTEST_E_FORMAT);
	assert_non_null(strstr(why.message, "duplicate object key"));
}

static void test_body_not_object(void **state)
{
	static const char *const arrays[] = {"[]", "[{}]"};
	for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) {
		struct api_refusal why;
		json_t *j = NULL;
		assert_int_equal(body(arrays[i], 100, &j, &why), ATTEST_E_FORMAT);
		assert_null(j);
		assert_refused(&why, 400, "INVALID_JSON", "the body must be a JSON object");
	}
	/* a bare value is not even a JSON text to the parser (no JSON_DECODE_ANY) */
	static const char *const scalars[] = {"1", "\"x\"", "null", "true"};
	for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++) {
		struct api_refusal why;
		json_t *j = NULL;
		assert_int_equal(body(scalars[i], 100, &j, &why), ATTEST_E_FORMAT);
		assert_null(j);
		assert_int_equal(why.status, 400);
		assert_string_equal(why.code, "INVALID_JSON");
		assert_non_null(strstr(why.message, "the body is not valid JSON: "));
	}
}

static void test_body_depth(void **state)
{
	struct api_refusal why;
	json_t *j = NULL;
	/* {"a":[[...]]}: the object and API_PARSE_DEPTH_MAX - 1 arrays are
	 * accepted, one more array is one level too deep */
	char ok[256], deep[256];
	snprintf(ok, sizeof ok, "{\"a\":%.*s%.*s}", API_PARSE_DEPTH_MAX - 1,
	         "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", API_PARSE_DEPTH_MAX - 1,
	         "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
	snprintf(deep, sizeof deep, "{\"a\":%.*s%.*s}", API_PARSE_DEPTH_MAX,
	         "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", API_PARSE_DEPTH_MAX,
	         "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
	assert_int_equal(body(ok, sizeof ok, &j, &why), 0);
	json_decref(j);
	j = NULL;
	assert_int_equal(body(deep, sizeof deep, &j, &why), ATTEST_E_FORMAT);
	assert_null(j);
	assert_refused(&why, 400, "JSON_TOO_DEEP", "the JSON body is nested too deeply");
	/* too deep and not even valid JSON: the depth is refused first */
	deep[strlen(deep) - 1] = '\0';
	assert_int_equal(body(deep, sizeof deep, &j, &why), ATTEST_E_FORMAT);
	assert_refused(&why, 400, "JSON_TOO_DEEP", "the JSON body is nested too deeply");
}

/* ---- api_parse_known_fields ---- */

static void test_known_fields(void **state)
{
	static const char *const keys[] = {"a", "b", NULL};
	struct api_refusal why;
	json_t *j = obj("{\"a\":1,\"b\":2}");
	assert_int_equal(api_parse_known_fields(j, keys, &why), 0);
	json_decref(j);
	j = obj("{}");
	assert_int_equal(api_parse_known_fields(j, keys, &why), 0);
	json_decref(j);
	j = obj("{\"a\":1,\"c\":2}");
	assert_int_equal(api_parse_known_fields(j, keys, &why), ATTEST_E_FORMAT);
	assert_refused(&why, 400, "UNKNOWN_FIELD", "unknown field \"c\"");
	json_decref(j);
	/* a long key is quoted cut to 255 characters */
	char key[400], text[420], expect[300];
	memset(key, 'k', sizeof key - 1);
	key[sizeof key - 1] = '\0';
	snprintf(text, sizeof text, "{\"%s\":1}", key);
	snprintf(expect, sizeof expect, "unknown field \"%.255s\"", key);
	j = obj(text);
	assert_int_equal(api_parse_known_fields(j, keys, &why), ATTEST_E_FORMAT);
	assert_refused(&why, 400, "UNKNOWN_FIELD", expect);
	json_decref(j);
}

/* ---- api_parse_host_add ---- */

#define TP_HEX "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static void test_host_add_minimal(void **state)
{
	struct api_refusal why;
	struct api_host_add a;
	json_t *j = obj("{\"address\":\"10.0.0.5:8443\"}");
	assert_int_equal(api_parse_host_add(j, 300, &a, &why), 0);
	assert_string_equal(a.address, "10.0.0.5:8443");
	assert_string_equal(a.name, "10.0.0.5:8443"); /* defaults to the address */
	assert_string_equal(a.host, "10.0.0.5");
	assert_int_equal(a.port, 8443);
	assert_false(a.have_thumbprint);
	assert_false(a.accept_thumbprint);
	assert_null(a.policy);
	assert_int_equal(a.interval_s, 300);
	json_decref(j);
}

static void test_host_add_full(void **state)
{
	struct api_refusal why;
	struct api_host_add a;
	json_t *j =
	    obj("{\"address\":\"[fd00::1]:9\",\"name\":\"web1\",\"thumbprint\":\"SHA256:" TP_HEX
	        "\",\"accept_thumbprint\":true,\"policy\":\"base\",\"interval_s\":604800}");
	assert_int_equal(api_parse_host_add(j, 300, &a, &why), 0);
	assert_string_equal(a.name, "web1");
	assert_string_equal(a.host, "fd00::1");
	assert_int_equal(a.port, 9);
	assert_true(a.have_thumbprint);
	assert_string_equal(a.thumbprint, "SHA256:" TP_HEX);
	assert_true(a.accept_thumbprint);
	assert_string_equal(a.policy, "base");
	assert_int_equal(a.interval_s, API_PARSE_INTERVAL_MAX);
	json_decref(j);
	/* nulls mean "absent"; accept_thumbprint false; interval 1 */
	j = obj("{\"address\":\"h:1\",\"name\":null,\"thumbprint\":null,\"policy\":null,"
	        "\"accept_thumbprint\":false,\"interval_s\":1}");
	assert_int_equal(api_parse_host_add(j, 300, &a, &why), 0);
	assert_string_equal(a.name, "h:1");
	assert_false(a.have_thumbprint);
	assert_false(a.accept_thumbprint);
	assert_null(a.policy);
	assert_int_equal(a.interval_s, 1);
	json_decref(j);
}

static void check_host_add_refused(const char *text, const char *code, const char *message)
{
	struct api_refusal why;
	struct api_host_add a;
	memset(&a, SENTINEL, sizeof a);
	json_t *j = obj(text);
	if (api_parse_host_add(j, 300, &a, &why) != ATTEST_E_FORMAT)
		fail_msg("accepted %s", text);
	json_decref(j);
	assert_true(all_sentinel(&a, sizeof a));
	if (why.status != 400 || strcmp(why.code, code) != 0 || strcmp(why.message, message) != 0)
		fail_msg("%s: got %d %s \"%s\"", text, why.status, why.code, why.message);
}

static void test_host_add_refusals(void **state)
{
	const char *addr = "address must be host:port (IPv6 as [addr]:port)";
	const char *name = "name must be 1-255 printable characters without spaces, '/', '?', "
	                   "'#' or '%'";
	const char *interval = "interval_s must be an integer from 1 to 604800";
	check_host_add_refused("{}", "MISSING_FIELD", "address is required (host:port)");
	check_host_add_refused("{\"address\":\"h:1\",\"x\":1}", "UNKNOWN_FIELD",
	                       "unknown field \"x\"");
	check_host_add_refused("{\"address\":null}", "INVALID_FIELD", addr);
	check_host_add_refused("{\"address\":8443}", "INVALID_FIELD", addr);
	check_host_add_refused("{\"address\":\"\"}", "INVALID_FIELD", addr);
	check_host_add_refused("{\"address\":\"host\"}", "INVALID_FIELD", addr);
	check_host_add_refused("{\"address\":\"h\\u0000x:1\"}", "INVALID_FIELD", addr);
	check_host_add_refused(
	    "{\"address\":\"a%b:1\"}", "INVALID_FIELD",
	    "give the host a name (the address as a name contains '%' at offset 1: "
	    "spaces, '/', '?', '#' and '%' are not allowed)");
	check_host_add_refused("{\"address\":\"h:1\",\"name\":\"\"}", "INVALID_FIELD",
	                       "host name is empty");
	check_host_add_refused("{\"address\":\"h:1\",\"name\":\"a b\"}", "INVALID_FIELD",
	                       "host name contains ' ' at offset 1: spaces, '/', '?', '#' and '%' "
	                       "are not allowed");
	check_host_add_refused("{\"address\":\"h:1\",\"name\":7}", "INVALID_FIELD", name);
	check_host_add_refused("{\"address\":\"h:1\",\"thumbprint\":\"SHA1:00\"}", "INVALID_FIELD",
	                       "thumbprint must be SHA256: followed by 64 hex digits");
	check_host_add_refused("{\"address\":\"h:1\",\"thumbprint\":1}", "INVALID_FIELD",
	                       "thumbprint must be SHA256: followed by 64 hex digits");
	check_host_add_refused("{\"address\":\"h:1\",\"thumbprint\":\"SHA256:" TP_HEX "00\"}",
	                       "INVALID_FIELD",
	                       "thumbprint must be SHA256: followed by 64 hex digits");
	check_host_add_refused("{\"address\":\"h:1\",\"accept_thumbprint\":1}", "INVALID_FIELD",
	                       "accept_thumbprint must be a boolean");
	check_host_add_refused("{\"address\":\"h:1\",\"accept_thumbprint\":null}", "INVALID_FIELD",
	                       "accept_thumbprint must be a boolean");
	check_host_add_refused("{\"address\":\"h:1\",\"policy\":\"a/b\"}", "INVALID_FIELD",
	                       "policy must be a policy name");
	check_host_add_refused("{\"address\":\"h:1\",\"policy\":[]}", "INVALID_FIELD",
	                       "policy must be a policy name");
	check_host_add_refused("{\"address\":\"h:1\",\"interval_s\":0}", "INVALID_FIELD", interval);
	check_host_add_refused("{\"address\":\"h:1\",\"interval_s\":604801}", "INVALID_FIELD",
	                       interval);
	check_host_add_refused("{\"address\":\"h:1\",\"interval_s\":1.5}", "INVALID_FIELD",
	                       interval);
	check_host_add_refused("{\"address\":\"h:1\",\"interval_s\":\"60\"}", "INVALID_FIELD",
	                       interval);
	check_host_add_refused("{\"address\":\"h:1\",\"interval_s\":null}", "INVALID_FIELD",
	                       interval);
}

/* Push hosts (docs/protocol.md, "Push carrier"): no address, name and
 * thumbprint required. */
static void test_host_add_push(void **state)
{
	(void)state;
	struct api_refusal why;
	struct api_host_add a;
	json_t *j =
	    obj("{\"mode\":\"push\",\"name\":\"web-01\",\"thumbprint\":\"SHA256:" TP_HEX "\"}");
	assert_int_equal(api_parse_host_add(j, 300, &a, &why), 0);
	assert_true(a.push);
	assert_string_equal(a.address, "");
	assert_string_equal(a.name, "web-01");
	assert_true(a.have_thumbprint);
	json_decref(j);
	j = obj("{\"mode\":\"pull\",\"address\":\"h:1\"}");
	assert_int_equal(api_parse_host_add(j, 300, &a, &why), 0);
	assert_false(a.push);
	json_decref(j);
	check_host_add_refused("{\"mode\":\"push\",\"name\":\"w\"}", "MISSING_FIELD",
	                       "a push host needs the agent's thumbprint (attest-agent prints it)");
	check_host_add_refused("{\"mode\":\"push\",\"thumbprint\":\"SHA256:" TP_HEX "\"}",
	                       "MISSING_FIELD", "a push host needs a name");
	check_host_add_refused("{\"mode\":\"push\",\"name\":\"w\",\"address\":\"h:1\","
	                       "\"thumbprint\":\"SHA256:" TP_HEX "\"}",
	                       "INVALID_FIELD",
	                       "a push host has no address: its agent connects to the verifier");
	check_host_add_refused("{\"mode\":\"push\",\"name\":\"w\",\"accept_thumbprint\":true,"
	                       "\"thumbprint\":\"SHA256:" TP_HEX "\"}",
	                       "INVALID_FIELD",
	                       "accept_thumbprint needs an address to fetch from; give thumbprint");
	check_host_add_refused("{\"mode\":\"poll\",\"address\":\"h:1\"}", "INVALID_FIELD",
	                       "mode must be \"pull\" or \"push\"");
}

static void test_host_add_address_cap(void **state)
{
	/* an address longer than API_PARSE_TEXT_MAX is refused before it is split */
	size_t n = API_PARSE_TEXT_MAX + 1;
	char *text = malloc(n + 32);
	assert_non_null(text);
	memcpy(text, "{\"address\":\"", 12);
	memset(text + 12, 'a', n - 2);
	memcpy(text + 12 + n - 2, ":1\"}", 5);
	check_host_add_refused(text, "INVALID_FIELD",
	                       "address must be host:port (IPv6 as [addr]:port)");
	free(text);
}

/* ---- api_parse_policy_create ---- */

static void check_policy_create_refused(const char *text, const char *code, const char *message)
{
	struct api_refusal why;
	struct api_policy_create p;
	memset(&p, SENTINEL, sizeof p);
	json_t *j = obj(text);
	if (api_parse_policy_create(j, &p, &why) != ATTEST_E_FORMAT)
		fail_msg("accepted %s", text);
	json_decref(j);
	assert_true(all_sentinel(&p, sizeof p));
	if (why.status != 400 || strcmp(why.code, code) != 0 || strcmp(why.message, message) != 0)
		fail_msg("%s: got %d %s \"%s\"", text, why.status, why.code, why.message);
}

static void test_policy_create(void **state)
{
	struct api_refusal why;
	struct api_policy_create p;
	json_t *j = obj("{\"name\":\"base\",\"body\":{\"pcrs\":{}}}");
	assert_int_equal(api_parse_policy_create(j, &p, &why), 0);
	assert_string_equal(p.name, "base");
	assert_ptr_equal(p.body, json_object_get(j, "body")); /* borrowed */
	assert_null(p.from_host);
	json_decref(j);
	j = obj("{\"name\":\"learned\",\"from_host\":\"web1\",\"dry_run\":false}");
	assert_int_equal(api_parse_policy_create(j, &p, &why), 0);
	assert_string_equal(p.name, "learned");
	assert_null(p.body);
	assert_string_equal(p.from_host, "web1");
	json_decref(j);

	check_policy_create_refused("{\"name\":\"a\",\"body\":{},\"x\":1}", "UNKNOWN_FIELD",
	                            "unknown field \"x\"");
	check_policy_create_refused("{\"body\":{}}", "MISSING_FIELD",
	                            "name (a policy name) is required");
	check_policy_create_refused("{\"name\":1,\"body\":{}}", "MISSING_FIELD",
	                            "name (a policy name) is required");
	check_policy_create_refused(
	    "{\"name\":\"a b\",\"body\":{}}", "INVALID_FIELD",
	    "policy name contains ' ' at offset 1: spaces, '/', '?', '#' and "
	    "'%' are not allowed");
	check_policy_create_refused("{\"name\":\"\",\"body\":{}}", "INVALID_FIELD",
	                            "policy name is empty");
	check_policy_create_refused("{\"name\":\"a\"}", "INVALID_FIELD",
	                            "give exactly one of body or from_host");
	check_policy_create_refused("{\"name\":\"a\",\"body\":{},\"from_host\":\"h\"}",
	                            "INVALID_FIELD", "give exactly one of body or from_host");
	check_policy_create_refused("{\"name\":\"a\",\"from_host\":5}", "INVALID_FIELD",
	                            "from_host must be a host name");
}

/* ---- api_parse_policy_assign ---- */

static void test_policy_assign(void **state)
{
	struct api_refusal why;
	struct api_policy_assign p;
	json_t *j = obj("{\"host\":\"web1\"}");
	assert_int_equal(api_parse_policy_assign(j, &p, &why), 0);
	assert_string_equal(p.host, "web1");
	json_decref(j);
	j = obj("{\"default\":true}");
	memset(&p, SENTINEL, sizeof p);
	assert_int_equal(api_parse_policy_assign(j, &p, &why), 0);
	assert_null(p.host);
	json_decref(j);

	static const char *const bad[] = {
	    "{}",
	    "{\"host\":\"a\",\"default\":true}",
	    "{\"host\":1}",
	    "{\"host\":null}",
	    "{\"default\":false}",
	    "{\"default\":1}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&p, SENTINEL, sizeof p);
		j = obj(bad[i]);
		assert_int_equal(api_parse_policy_assign(j, &p, &why), ATTEST_E_FORMAT);
		json_decref(j);
		assert_true(all_sentinel(&p, sizeof p));
		assert_refused(&why, 400, "INVALID_FIELD",
		               "give {\"host\": NAME} or {\"default\": true}");
	}
	j = obj("{\"hosts\":\"a\"}");
	assert_int_equal(api_parse_policy_assign(j, &p, &why), ATTEST_E_FORMAT);
	assert_refused(&why, 400, "UNKNOWN_FIELD", "unknown field \"hosts\"");
	json_decref(j);
}

/* ---- api_parse_ca_add ---- */

static void test_ca_add_pem(void **state)
{
	struct api_refusal why;
	uint8_t *buf = NULL;
	size_t len = 0;
	const char *source = NULL;
	json_t *j = obj("{\"pem\":\"-----BEGIN CERTIFICATE-----\\n\"}");
	assert_int_equal(api_parse_ca_add(j, 100, &buf, &len, &source, &why), 0);
	assert_int_equal(len, 28);
	assert_string_equal((char *)buf, "-----BEGIN CERTIFICATE-----\n"); /* NUL-terminated */
	assert_string_equal(source, "attestctl");
	free(buf);
	json_decref(j);
}

static void test_ca_add_der(void **state)
{
	struct api_refusal why;
	uint8_t *buf = NULL;
	size_t len = 0;
	const char *source = NULL;
	json_t *j = obj("{\"der\":\"AAEC\",\"source\":\"vendor-bundle\"}");
	assert_int_equal(api_parse_ca_add(j, 3, &buf, &len, &source, &why), 0); /* exact fit */
	assert_int_equal(len, 3);
	assert_memory_equal(buf, "\x00\x01\x02", 3);
	assert_string_equal(source, "vendor-bundle");
	free(buf);
	json_decref(j);
	/* an empty or overlong source falls back to "attestctl" */
	char text[400];
	char src[API_PARSE_NAME_MAX + 2];
	memset(src, 's', sizeof src - 1);
	src[sizeof src - 1] = '\0';
	snprintf(text, sizeof text, "{\"der\":\"AAEC\",\"source\":\"%s\"}", src);
	j = obj(text);
	assert_int_equal(api_parse_ca_add(j, 3, &buf, &len, &source, &why), 0);
	assert_string_equal(source, "attestctl");
	free(buf);
	json_decref(j);
	j = obj("{\"der\":\"AAEC\",\"source\":\"\"}");
	assert_int_equal(api_parse_ca_add(j, 3, &buf, &len, &source, &why), 0);
	assert_string_equal(source, "attestctl");
	free(buf);
	json_decref(j);
}

static void test_ca_add_refusals(void **state)
{
	static const char *const bad[] = {
	    "{}",
	    "{\"pem\":\"x\",\"der\":\"AAEC\"}",
	    "{\"pem\":1}",
	    "{\"der\":null}",
	    "{\"pem\":\"x\",\"source\":2}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct api_refusal why;
		uint8_t *buf = (uint8_t *)&why;
		size_t len = 77;
		const char *source = "untouched";
		json_t *j = obj(bad[i]);
		assert_int_equal(api_parse_ca_add(j, 100, &buf, &len, &source, &why),
		                 ATTEST_E_FORMAT);
		json_decref(j);
		assert_ptr_equal(buf, (uint8_t *)&why);
		assert_int_equal(len, 77);
		assert_string_equal(source, "untouched");
		assert_refused(&why, 400, "INVALID_FIELD",
		               "give exactly one of pem (text) or der (base64)");
	}
	/* not base64, and one byte over der_max */
	static const char *const bad_der[] = {"{\"der\":\"AA=C\"}", "{\"der\":\"AAE\"}",
	                                      "{\"der\":\"AAECAw==\"}", "{\"der\":\"AAEC \"}"};
	for (size_t i = 0; i < sizeof bad_der / sizeof bad_der[0]; i++) {
		struct api_refusal why;
		uint8_t *buf = NULL;
		size_t len = 77;
		const char *source = "untouched";
		json_t *j = obj(bad_der[i]);
		assert_int_equal(api_parse_ca_add(j, 3, &buf, &len, &source, &why),
		                 ATTEST_E_FORMAT);
		json_decref(j);
		assert_null(buf);
		assert_int_equal(len, 77);
		assert_string_equal(source, "untouched");
		assert_refused(&why, 400, "INVALID_FIELD", "der must be strict base64");
	}
	struct api_refusal why;
	uint8_t *buf = NULL;
	size_t len;
	const char *source;
	json_t *j = obj("{\"pem\":\"x\",\"name\":\"y\"}");
	assert_int_equal(api_parse_ca_add(j, 3, &buf, &len, &source, &why), ATTEST_E_FORMAT);
	assert_refused(&why, 400, "UNKNOWN_FIELD", "unknown field \"name\"");
	json_decref(j);
}

/* ---- api_parse_token_add ---- */

static void test_token_add(void **state)
{
	struct api_refusal why;
	const char *name = NULL, *role = NULL;
	json_t *j = obj("{\"name\":\"ci\",\"role\":\"viewer\"}");
	assert_int_equal(api_parse_token_add(j, &name, &role, &why), 0);
	assert_string_equal(name, "ci");
	assert_string_equal(role, "viewer");
	json_decref(j);
	j = obj("{\"name\":\"ops\",\"role\":\"admin\"}");
	assert_int_equal(api_parse_token_add(j, &name, &role, &why), 0);
	assert_string_equal(name, "ops");
	assert_string_equal(role, "admin");
	json_decref(j);

	static const char *const bad[] = {
	    "{}",
	    "{\"name\":\"ci\"}",
	    "{\"role\":\"admin\"}",
	    "{\"name\":\"ci\",\"role\":\"root\"}",
	    "{\"name\":\"ci\",\"role\":\"Admin\"}",
	    "{\"name\":1,\"role\":\"admin\"}",
	    "{\"name\":\"ci\",\"role\":true}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		name = role = "untouched";
		j = obj(bad[i]);
		assert_int_equal(api_parse_token_add(j, &name, &role, &why), ATTEST_E_FORMAT);
		json_decref(j);
		assert_string_equal(name, "untouched");
		assert_string_equal(role, "untouched");
		assert_refused(&why, 400, "INVALID_FIELD", "give name and role (viewer or admin)");
	}
	name = role = "untouched";
	j = obj("{\"name\":\"c i\",\"role\":\"admin\"}");
	assert_int_equal(api_parse_token_add(j, &name, &role, &why), ATTEST_E_FORMAT);
	json_decref(j);
	assert_string_equal(name, "untouched");
	assert_refused(&why, 400, "INVALID_FIELD",
	               "token name contains ' ' at offset 1: spaces, '/', '?', '#' and '%' are not "
	               "allowed");
	j = obj("{\"name\":\"ci\",\"role\":\"admin\",\"expires\":1}");
	assert_int_equal(api_parse_token_add(j, &name, &role, &why), ATTEST_E_FORMAT);
	assert_refused(&why, 400, "UNKNOWN_FIELD", "unknown field \"expires\"");
	json_decref(j);
}

/* ---- api_parse_id ---- */

static void test_parse_id(void **state)
{
	int64_t id = 0;
	assert_int_equal(api_parse_id("1", &id), 0);
	assert_int_equal(id, 1);
	assert_int_equal(api_parse_id("9223372036854775807", &id), 0);
	assert_true(id == INT64_MAX);
	static const char *const bad[] = {
	    "",
	    "0",
	    "01",
	    "-1",
	    "+1",
	    " 1",
	    "1 ",
	    "1x",
	    "x",
	    "9223372036854775808",
	    "99999999999999999999999",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		id = 42;
		if (api_parse_id(bad[i], &id) != ATTEST_E_FORMAT)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(id, 42);
	}
	assert_int_equal(api_parse_id(NULL, &id), ATTEST_E_FORMAT);
	assert_int_equal(id, 42);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_name_ok),
	    cmocka_unit_test(test_split_address_accepts),
	    cmocka_unit_test(test_split_address_refuses),
	    cmocka_unit_test(test_body_accepts),
	    cmocka_unit_test(test_body_too_large),
	    cmocka_unit_test(test_body_not_json),
	    cmocka_unit_test(test_body_not_object),
	    cmocka_unit_test(test_body_depth),
	    cmocka_unit_test(test_known_fields),
	    cmocka_unit_test(test_host_add_minimal),
	    cmocka_unit_test(test_host_add_full),
	    cmocka_unit_test(test_host_add_refusals),
	    cmocka_unit_test(test_host_add_address_cap),
	    cmocka_unit_test(test_host_add_push),
	    cmocka_unit_test(test_policy_create),
	    cmocka_unit_test(test_policy_assign),
	    cmocka_unit_test(test_ca_add_pem),
	    cmocka_unit_test(test_ca_add_der),
	    cmocka_unit_test(test_ca_add_refusals),
	    cmocka_unit_test(test_token_add),
	    cmocka_unit_test(test_parse_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
