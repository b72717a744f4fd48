/* agent/request.c: the Agent API v1 request bodies as the agent reads them.
 * Every accept path and every refusal (empty, short, wrong type, too long,
 * caps, trailing bytes) with the exact sentence for the 400, and *ret
 * untouched when a body is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base64.h"
#include "err.h"
#include "request.h"

typedef int (*parse_fn)(const uint8_t *, size_t, struct agent_req *, char *);

static int parse(parse_fn fn, const char *text, struct agent_req *r, char *msg)
{
	return fn((const uint8_t *)text, text ? strlen(text) : 0, r, msg);
}

static bool untouched(const struct agent_req *r)
{
	const uint8_t *b = (const uint8_t *)r;
	for (size_t i = 0; i < sizeof *r; i++)
		if (b[i] != 0xa5)
			return false;
	return true;
}

/* fn refuses text with rc and exactly the sentence expect (or, when expect
 * ends in '*', a sentence that starts with what comes before it). */
static void check_refused(parse_fn fn, const char *text, int rc, const char *expect)
{
	struct agent_req r;
	memset(&r, 0xa5, sizeof r);
	char msg[AGENT_REQ_MSG_SIZE] = "";
	int got = parse(fn, text, &r, msg);
	if (got != rc)
		fail_msg("%s: returned %d, not %d (%s)", text, got, rc, msg);
	if (!untouched(&r))
		fail_msg("%s: *ret changed on a refusal", text);
	size_t n = strlen(expect);
	bool prefix = n > 0 && expect[n - 1] == '*';
	if (prefix ? strncmp(msg, expect, n - 1) != 0 : strcmp(msg, expect) != 0)
		fail_msg("%s: \"%s\"", text, msg);
}

/* ---- the body itself, common to all three ---- */

static void test_body_refusals(void **state)
{
	static const parse_fn fns[] = {agent_request_ak, agent_request_activate,
	                               agent_request_quote};
	const char *not_json = "the request body is not JSON: invalid JSON at line 1 column *";
	const char *not_object = "the request body must be a JSON object";
	for (size_t i = 0; i < 3; i++) {
		check_refused(fns[i], "{", ATTEST_E_FORMAT, not_json);
		check_refused(fns[i], "{\"type\":\"rsa\",}", ATTEST_E_FORMAT, not_json);
		check_refused(fns[i], "{} {}", ATTEST_E_FORMAT, not_json);
		check_refused(fns[i], "{}x", ATTEST_E_FORMAT, not_json);
		check_refused(fns[i], "{\"a\":1,\"a\":1}", ATTEST_E_FORMAT, not_json);
		check_refused(fns[i], "[]", ATTEST_E_FORMAT, not_object);
		check_refused(fns[i], "[{}]", ATTEST_E_FORMAT, not_object);
		/* a bare value is not a JSON text to the parser (no JSON_DECODE_ANY) */
		check_refused(fns[i], "\"{}\"", ATTEST_E_FORMAT, not_json);
		check_refused(fns[i], "null", ATTEST_E_FORMAT, not_json);
		check_refused(fns[i], "7", ATTEST_E_FORMAT, not_json);
		/* a NUL inside a string is refused by the parser already */
		check_refused(fns[i], "{\"type\":\"rsa\\u0000\"}", ATTEST_E_FORMAT, not_json);
	}
	/* empty: {} for /v1/ak only */
	const char *empty = "the request body is empty; a JSON object is expected";
	check_refused(agent_request_activate, "", ATTEST_E_FORMAT, empty);
	check_refused(agent_request_quote, "", ATTEST_E_FORMAT, empty);
	struct agent_req r;
	memset(&r, 0xa5, sizeof r);
	char msg[AGENT_REQ_MSG_SIZE];
	assert_int_equal(agent_request_ak(NULL, 0, &r, msg), 0);
	assert_int_equal(r.ak_alg, AGENT_REQ_AK_RSA);
	assert_null(r.cred);
}

/* ---- POST /v1/ak ---- */

static void test_ak(void **state)
{
	struct agent_req r;
	char msg[AGENT_REQ_MSG_SIZE];
	memset(&r, 0xa5, sizeof r);
	assert_int_equal(parse(agent_request_ak, "{}", &r, msg), 0);
	assert_int_equal(r.ak_alg, AGENT_REQ_AK_RSA);
	assert_null(r.cred); /* zeroed first */
	assert_null(r.secret);
	assert_int_equal(r.nonce_len, 0);
	assert_int_equal(parse(agent_request_ak, "{\"type\":\"rsa\"}", &r, msg), 0);
	assert_int_equal(r.ak_alg, AGENT_REQ_AK_RSA);
	assert_int_equal(parse(agent_request_ak, "{\"type\":\"ecc\",\"unknown\":[1]}", &r, msg), 0);
	assert_int_equal(r.ak_alg, AGENT_REQ_AK_ECC);
	assert_int_equal(parse(agent_request_ak, "{\"type\":null}", &r, msg), ATTEST_E_FORMAT);

	check_refused(agent_request_ak, "{\"type\":\"RSA\"}", ATTEST_E_FORMAT,
	              "\"type\" must be \"rsa\" or \"ecc\", not \"RSA\"");
	check_refused(agent_request_ak, "{\"type\":\"\"}", ATTEST_E_FORMAT,
	              "\"type\" must be \"rsa\" or \"ecc\", not \"\"");
	check_refused(agent_request_ak, "{\"type\":\"0123456789abcdef0123456789abcdef0123456789\"}",
	              ATTEST_E_FORMAT,
	              "\"type\" must be \"rsa\" or \"ecc\", not "
	              "\"0123456789abcdef0123456789abcdef\""); /* quoted cut to 32 */
	check_refused(agent_request_ak, "{\"type\":1}", ATTEST_E_FORMAT,
	              "\"type\" must be a string");
	check_refused(agent_request_ak, "{\"type\":null}", ATTEST_E_FORMAT,
	              "\"type\" must be a string");
}

/* ---- POST /v1/activate ---- */

static char *activate_body(const char *name, size_t cred_len, size_t secret_len)
{
	uint8_t *blob = malloc(cred_len + secret_len + 1);
	assert_non_null(blob);
	for (size_t i = 0; i < cred_len + secret_len; i++)
		blob[i] = (uint8_t)i;
	char *c = malloc(BASE64_ENCODED_SIZE(cred_len)),
	     *s = malloc(BASE64_ENCODED_SIZE(secret_len));
	assert_non_null(c);
	assert_non_null(s);
	base64_encode(blob, cred_len, c);
	base64_encode(blob + cred_len, secret_len, s);
	free(blob);
	size_t cap = strlen(name) + strlen(c) + strlen(s) + 100;
	char *text = malloc(cap);
	assert_non_null(text);
	snprintf(text, cap, "{\"ak_name\":\"%s\",\"credential_blob\":\"%s\",\"secret\":\"%s\"}",
	         name, c, s);
	free(c);
	free(s);
	return text;
}

static void test_activate_accepts(void **state)
{
	struct agent_req r;
	char msg[AGENT_REQ_MSG_SIZE];
	char *text = activate_body("000B0102", 2, 3);
	assert_int_equal(parse(agent_request_activate, text, &r, msg), 0);
	free(text);
	assert_int_equal(r.ak_name_len, 4);
	assert_memory_equal(r.ak_name, "\x00\x0b\x01\x02", 4);
	assert_int_equal(r.cred_len, 2);
	assert_memory_equal(r.cred, "\x00\x01", 2);
	assert_int_equal(r.secret_len, 3);
	assert_memory_equal(r.secret, "\x02\x03\x04", 3);
	agent_request_clear(&r);
	assert_null(r.cred);
	assert_null(r.secret);
	agent_request_clear(NULL);

	/* the largest: a 68-byte name, blobs of AGENT_REQ_BLOB_MAX */
	char name[2 * AGENT_REQ_NAME_MAX + 1];
	memset(name, 'f', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	text = activate_body(name, AGENT_REQ_BLOB_MAX, AGENT_REQ_BLOB_MAX);
	assert_int_equal(parse(agent_request_activate, text, &r, msg), 0);
	free(text);
	assert_int_equal(r.ak_name_len, AGENT_REQ_NAME_MAX);
	assert_int_equal(r.cred_len, AGENT_REQ_BLOB_MAX);
	assert_int_equal(r.secret_len, AGENT_REQ_BLOB_MAX);
	agent_request_clear(&r);
}

static void test_activate_refusals(void **state)
{
	char name_msg[128];
	snprintf(name_msg, sizeof name_msg,
	         "\"ak_name\" must be a TPM Name in hex (4 to %u digits)", 2 * AGENT_REQ_NAME_MAX);
	check_refused(agent_request_activate, "{}", ATTEST_E_FORMAT, "\"ak_name\" is missing");
	check_refused(agent_request_activate, "{\"ak_name\":1}", ATTEST_E_FORMAT,
	              "\"ak_name\" must be a string");
	check_refused(agent_request_activate, "{\"ak_name\":\"\"}", ATTEST_E_FORMAT, name_msg);
	check_refused(agent_request_activate, "{\"ak_name\":\"00\"}", ATTEST_E_FORMAT, name_msg);
	check_refused(agent_request_activate, "{\"ak_name\":\"000\"}", ATTEST_E_FORMAT, name_msg);
	check_refused(agent_request_activate, "{\"ak_name\":\"000g\"}", ATTEST_E_FORMAT, name_msg);
	char name[2 * AGENT_REQ_NAME_MAX + 3];
	memset(name, '0', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	char *text = activate_body(name, 2, 2); /* one byte too long */
	check_refused(agent_request_activate, text, ATTEST_E_FORMAT, name_msg);
	free(text);

	check_refused(agent_request_activate, "{\"ak_name\":\"000b\"}", ATTEST_E_FORMAT,
	              "\"credential_blob\" is missing");
	check_refused(agent_request_activate, "{\"ak_name\":\"000b\",\"credential_blob\":[]}",
	              ATTEST_E_FORMAT, "\"credential_blob\" must be a string");
	check_refused(agent_request_activate, "{\"ak_name\":\"000b\",\"credential_blob\":\"AAE\"}",
	              ATTEST_E_FORMAT,
	              "\"credential_blob\" is not base64 (RFC 4648, standard alphabet, padded)");
	check_refused(agent_request_activate, "{\"ak_name\":\"000b\",\"credential_blob\":\"AA==\"}",
	              ATTEST_E_FORMAT, "\"credential_blob\" is too short to be a TPM2B structure");
	check_refused(agent_request_activate, "{\"ak_name\":\"000b\",\"credential_blob\":\"\"}",
	              ATTEST_E_FORMAT, "\"credential_blob\" is too short to be a TPM2B structure");
	check_refused(agent_request_activate, "{\"ak_name\":\"000b\",\"credential_blob\":\"AAE=\"}",
	              ATTEST_E_FORMAT, "\"secret\" is missing");
	check_refused(agent_request_activate,
	              "{\"ak_name\":\"000b\",\"credential_blob\":\"AAE=\",\"secret\":false}",
	              ATTEST_E_FORMAT, "\"secret\" must be a string");
	check_refused(agent_request_activate,
	              "{\"ak_name\":\"000b\",\"credential_blob\":\"AAE=\",\"secret\":\"AA\"}",
	              ATTEST_E_FORMAT,
	              "\"secret\" is not base64 (RFC 4648, standard alphabet, padded)");
	check_refused(agent_request_activate,
	              "{\"ak_name\":\"000b\",\"credential_blob\":\"AAE=\",\"secret\":\"AA==\"}",
	              ATTEST_E_FORMAT, "\"secret\" is too short to be a TPM2B structure");

	/* one byte over AGENT_REQ_BLOB_MAX: ATTEST_E_LIMIT, and nothing leaks (ASan) */
	char limit[64];
	snprintf(limit, sizeof limit, "\"credential_blob\" is larger than %u bytes",
	         AGENT_REQ_BLOB_MAX);
	text = activate_body("000b", AGENT_REQ_BLOB_MAX + 1, 2);
	check_refused(agent_request_activate, text, ATTEST_E_LIMIT, limit);
	free(text);
	snprintf(limit, sizeof limit, "\"secret\" is larger than %u bytes", AGENT_REQ_BLOB_MAX);
	text = activate_body("000b", 2, AGENT_REQ_BLOB_MAX + 1);
	check_refused(agent_request_activate, text, ATTEST_E_LIMIT, limit);
	free(text);
}

/* ---- POST /v1/quote ---- */

#define NONCE16 "00112233445566778899aabbccddeeff"

static void test_quote_accepts(void **state)
{
	struct agent_req r;
	char msg[AGENT_REQ_MSG_SIZE];
	assert_int_equal(parse(agent_request_quote, "{\"nonce\":\"" NONCE16 "\"}", &r, msg), 0);
	assert_int_equal(r.nonce_len, 16);
	assert_memory_equal(r.nonce,
	                    "\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff", 16);
	/* the default selection, sha256:0-9 (as the default policy) */
	assert_int_equal(r.sel.count, 1);
	assert_int_equal(r.sel.banks[0].alg, 0x000b);
	assert_int_equal(r.sel.banks[0].mask, 0x3ff);
	assert_null(r.cred);

	char text[256];
	snprintf(text, sizeof text, "{\"nonce\":\"%s%s%s%s\",\"pcrs\":\"sha1:0,23+sha384:all\"}",
	         NONCE16, NONCE16, NONCE16, NONCE16); /* 64 bytes */
	assert_int_equal(parse(agent_request_quote, text, &r, msg), 0);
	assert_int_equal(r.nonce_len, 64);
	assert_int_equal(r.sel.count, 2);
	assert_int_equal(r.sel.banks[0].alg, 0x0004);
	assert_int_equal(r.sel.banks[0].mask, 0x800001);
	assert_int_equal(r.sel.banks[1].alg, 0x000c);
	assert_int_equal(r.sel.banks[1].mask, 0xffffff);
	assert_int_equal(parse(agent_request_quote,
	                       "{\"nonce\":\"" NONCE16 "\",\"pcrs\":null,\"extra\":1}", &r, msg),
	                 ATTEST_E_FORMAT); /* null is not a string */
	/* the memoized log's digest */
	assert_int_equal(parse(agent_request_quote, "{\"nonce\":\"" NONCE16 "\"}", &r, msg), 0);
	assert_false(r.have_log_sha256);
	assert_int_equal(parse(agent_request_quote,
	                       "{\"nonce\":\"" NONCE16 "\",\"eventlog_sha256\":\"" NONCE16 NONCE16
	                       "\"}",
	                       &r, msg),
	                 0);
	assert_true(r.have_log_sha256);
	assert_memory_equal(r.log_sha256, r.nonce, 16);
	assert_memory_equal(r.log_sha256 + 16, r.nonce, 16);
}

#define NONCE_FMT "\"nonce\" must be 16 to 64 bytes in hex (32 to 128 digits); got %zu characters%s"
#define PCRS_FMT                                                                                   \
	"\"pcrs\" \"%.64s\" is not a PCR selection: expected e.g. sha256:0-7,14+sha1:0 (banks "    \
	"sha1, sha256, sha384, sha512; PCRs 0-23)"

static void test_quote_refusals(void **state)
{
	char expect[256];
	check_refused(agent_request_quote, "{}", ATTEST_E_FORMAT, "\"nonce\" is missing");
	check_refused(agent_request_quote, "{\"pcrs\":\"sha256:0\"}", ATTEST_E_FORMAT,
	              "\"nonce\" is missing");
	check_refused(agent_request_quote, "{\"nonce\":16}", ATTEST_E_FORMAT,
	              "\"nonce\" must be a string");
	snprintf(expect, sizeof expect, NONCE_FMT, (size_t)0, "");
	check_refused(agent_request_quote, "{\"nonce\":\"\"}", ATTEST_E_FORMAT, expect);
	/* short by one byte, and by one digit */
	snprintf(expect, sizeof expect, NONCE_FMT, (size_t)30, "");
	check_refused(agent_request_quote, "{\"nonce\":\"00112233445566778899aabbccddee\"}",
	              ATTEST_E_FORMAT, expect);
	snprintf(expect, sizeof expect, NONCE_FMT, (size_t)33, " that are not hex");
	check_refused(agent_request_quote, "{\"nonce\":\"" NONCE16 "0\"}", ATTEST_E_FORMAT, expect);
	snprintf(expect, sizeof expect, NONCE_FMT, (size_t)32, " that are not hex");
	check_refused(agent_request_quote, "{\"nonce\":\"00112233445566778899aabbccddeexy\"}",
	              ATTEST_E_FORMAT, expect);
	/* one byte over the cap */
	char text[256];
	snprintf(text, sizeof text, "{\"nonce\":\"%s%s%s%s00\"}", NONCE16, NONCE16, NONCE16,
	         NONCE16);
	snprintf(expect, sizeof expect, NONCE_FMT, (size_t)130, "");
	check_refused(agent_request_quote, text, ATTEST_E_FORMAT, expect);

	static const char *const bad_logd[] = {
	    "\"" NONCE16 "\"",
	    "\"" NONCE16 NONCE16 "00\"",
	    "\"" NONCE16 NONCE16 "\"x",
	    "42",
	    "\"" NONCE16 "00112233445566778899aabbccddeexy\"",
	};
	for (size_t i = 0; i < sizeof bad_logd / sizeof bad_logd[0]; i++) {
		char t[256];
		snprintf(t, sizeof t, "{\"nonce\":\"" NONCE16 "\",\"eventlog_sha256\":%s}",
		         bad_logd[i]);
		struct agent_req r;
		char m[AGENT_REQ_MSG_SIZE];
		assert_int_equal(parse(agent_request_quote, t, &r, m), ATTEST_E_FORMAT);
	}
	static const char *const bad_pcrs[] = {
	    "",           "sha256",    "sha256:",  "sha256:24", "md5:0", "sha256:0+sha256:1",
	    "sha256:7-3", "sha256:0,", "SHA256:0",
	};
	for (size_t i = 0; i < sizeof bad_pcrs / sizeof bad_pcrs[0]; i++) {
		snprintf(text, sizeof text, "{\"nonce\":\"%s\",\"pcrs\":\"%s\"}", NONCE16,
		         bad_pcrs[i]);
		snprintf(expect, sizeof expect, PCRS_FMT, bad_pcrs[i]);
		check_refused(agent_request_quote, text, ATTEST_E_FORMAT, expect);
	}
	check_refused(agent_request_quote, "{\"nonce\":\"" NONCE16 "\",\"pcrs\":7}",
	              ATTEST_E_FORMAT, "\"pcrs\" must be a string");
	/* over AGENT_REQ_PCRS_MAX characters, even if each part is valid; quoted cut to 64 */
	char pcrs[AGENT_REQ_PCRS_MAX + 8];
	size_t n = (size_t)snprintf(pcrs, sizeof pcrs, "sha256:0");
	while (n <= AGENT_REQ_PCRS_MAX)
		n += (size_t)snprintf(pcrs + n, sizeof pcrs - n, ",0");
	char big[512];
	snprintf(big, sizeof big, "{\"nonce\":\"%s\",\"pcrs\":\"%s\"}", NONCE16, pcrs);
	snprintf(expect, sizeof expect, PCRS_FMT, pcrs);
	check_refused(agent_request_quote, big, ATTEST_E_FORMAT, expect);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_body_refusals),    cmocka_unit_test(test_ak),
	    cmocka_unit_test(test_activate_accepts), cmocka_unit_test(test_activate_refusals),
	    cmocka_unit_test(test_quote_accepts),    cmocka_unit_test(test_quote_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
