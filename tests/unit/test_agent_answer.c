/* verifier/agent_answer.c: the agent's answers as the verifier reads them.
 * Every accept path and every refusal (empty, short, wrong type, too long,
 * caps, trailing bytes), with the exact sentences, and nothing handed out
 * when an answer is refused. Keys are generated here (tpm_build.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agent_answer.h"
#include "base64.h"
#include "ekcert.h"
#include "err.h"
#include "tpm_build.h"

struct keys {
	uint8_t pub[1024]; /* a TPM2B_PUBLIC of a P-256 key */
	size_t pub_len;
	TPMT_PUBLIC area;
	char pub_b64[BASE64_ENCODED_SIZE(1024)];
};

static int setup(void **state)
{
	struct keys *k = calloc(1, sizeof *k);
	assert_non_null(k);
	EVP_PKEY *key = tb_ec_key("P-256");
	tb_public(key, TB_AK_ATTRS, TPM2_ALG_ECDSA, &k->area);
	k->pub_len = tb_marshal_public(&k->area, k->pub, sizeof k->pub);
	base64_encode(k->pub, k->pub_len, k->pub_b64);
	EVP_PKEY_free(key);
	*state = k;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

static const uint8_t *u8(const char *s)
{
	return (const uint8_t *)s;
}

static char *b64(const uint8_t *in, size_t n)
{
	char *out = malloc(BASE64_ENCODED_SIZE(n));
	assert_non_null(out);
	base64_encode(in, n, out);
	return out;
}

/* ---- identity ---- */

static int identity(const char *text, struct agent_identity *id, char *msg)
{
	return agent_answer_identity(u8(text), strlen(text), id, msg);
}

static void test_identity_absent_tpm(void **state)
{
	struct agent_identity id;
	char msg[AGENT_ANSWER_MSG_SIZE] = "";
	assert_int_equal(identity("{\"tpm\":{\"present\":false,\"ek_public\":\"AAEC\"},"
	                          "\"agent_version\":\"1.2\",\"boot_id\":\"b-1\",\"x\":1}",
	                          &id, msg),
	                 0);
	assert_false(id.present);
	assert_false(id.ek_ok);
	assert_null(id.ek_public);
	assert_int_equal(id.ncerts, 0);
	/* keep: the tpm object without ek_public, plus the agent's version and boot id */
	char *kept = json_dumps(id.keep, JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(kept,
	                    "{\"agent_version\":\"1.2\",\"boot_id\":\"b-1\",\"present\":false}");
	free(kept);
	agent_identity_clear(&id);
	assert_null(id.keep);
	agent_identity_clear(NULL);
}

static void test_identity_present(void **state)
{
	struct keys *k = *state;
	static const uint8_t der1[] = {0x30, 0x03, 0x02, 0x01, 0x01};
	char *c1 = b64(der1, sizeof der1);
	char text[4096];
	snprintf(text, sizeof text,
	         "{\"tpm\":{\"present\":true,\"manufacturer\":\"SIM\",\"ek_public\":\"%s\","
	         "\"ek_certificates\":[{\"der\":\"%s\",\"nv_index\":\"0x01c0000a\"},"
	         "{\"der\":\"not base64!\"},{\"nv_index\":\"0x01c00002\"},7,"
	         "{\"der\":\"%s\",\"nv_index\":\"0x0123456789abcdef0\"}]},"
	         "\"agent_version\":7,\"boot_id\":null}",
	         k->pub_b64, c1, c1);
	free(c1);
	struct agent_identity id;
	char msg[AGENT_ANSWER_MSG_SIZE] = "";
	assert_int_equal(identity(text, &id, msg), 0);
	assert_true(id.present);
	assert_true(id.ek_ok);
	assert_string_equal(id.ek_error, "");
	assert_int_equal(id.ek_public_len, k->pub_len);
	assert_memory_equal(id.ek_public, k->pub, k->pub_len);
	assert_int_equal(id.ek.type, TPM2_ALG_ECC);
	assert_memory_equal(id.ek.unique.ecc.x.buffer, k->area.unique.ecc.x.buffer, 32);
	/* only the base64 certificates; a 17-character nv_index is not kept */
	assert_int_equal(id.ncerts, 2);
	assert_int_equal(id.certs[0].len, sizeof der1);
	assert_memory_equal(id.certs[0].der, der1, sizeof der1);
	assert_string_equal(id.certs[0].nv_index, "0x01c0000a");
	assert_string_equal(id.certs[1].nv_index, "");
	/* non-string agent_version and boot_id are not kept */
	char *kept = json_dumps(id.keep, JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(kept, "{\"manufacturer\":\"SIM\",\"present\":true}");
	free(kept);
	agent_identity_clear(&id);
}

static void test_identity_cert_cap(void **state)
{
	struct keys *k = *state;
	/* ten certificates, AGENT_ANSWER_CERTS_MAX looked at */
	char text[4096];
	int n = snprintf(text, sizeof text,
	                 "{\"tpm\":{\"present\":true,\"ek_public\":\"%s\","
	                 "\"ek_certificates\":[",
	                 k->pub_b64);
	for (int i = 0; i < 10; i++)
		n += snprintf(text + n, sizeof text - (size_t)n, "%s{\"der\":\"AQ==\"}",
		              i ? "," : "");
	snprintf(text + n, sizeof text - (size_t)n, "]}}");
	struct agent_identity id;
	char msg[AGENT_ANSWER_MSG_SIZE];
	assert_int_equal(identity(text, &id, msg), 0);
	assert_int_equal(id.ncerts, AGENT_ANSWER_CERTS_MAX);
	for (size_t i = 0; i < id.ncerts; i++)
		assert_int_equal(id.certs[i].len, 1);
	agent_identity_clear(&id);

	/* a certificate over EKCERT_MAX_SIZE is skipped, one at the cap kept */
	size_t big = EKCERT_MAX_SIZE + 1;
	uint8_t *der = calloc(1, big);
	assert_non_null(der);
	char *over = b64(der, big), *fit = b64(der, big - 1);
	free(der);
	size_t cap = strlen(over) + strlen(fit) + 4096;
	char *t = malloc(cap);
	assert_non_null(t);
	snprintf(t, cap,
	         "{\"tpm\":{\"present\":true,\"ek_public\":\"%s\",\"ek_certificates\":"
	         "[{\"der\":\"%s\"},{\"der\":\"%s\"}]}}",
	         k->pub_b64, over, fit);
	free(over);
	free(fit);
	assert_int_equal(identity(t, &id, msg), 0);
	free(t);
	assert_int_equal(id.ncerts, 1);
	assert_int_equal(id.certs[0].len, EKCERT_MAX_SIZE);
	agent_identity_clear(&id);
}

static void check_ek_unusable(const char *ek_member, const char *ek_error)
{
	char text[4096];
	snprintf(text, sizeof text, "{\"tpm\":{\"present\":true%s}}", ek_member);
	struct agent_identity id;
	char msg[AGENT_ANSWER_MSG_SIZE] = "";
	assert_int_equal(identity(text, &id, msg), 0); /* still an answer */
	assert_true(id.present);
	assert_false(id.ek_ok);
	assert_null(id.ek_public);
	assert_int_equal(id.ek_public_len, 0);
	if (strcmp(id.ek_error, ek_error) != 0)
		fail_msg("%s: \"%s\"", ek_member, id.ek_error);
	assert_non_null(id.keep);
	assert_null(json_object_get(id.keep, "ek_public"));
	agent_identity_clear(&id);
}

static void test_identity_ek_unusable(void **state)
{
	struct keys *k = *state;
	const char *missing = "the agent's EK public area is unusable: missing or not base64";
	check_ek_unusable("", missing);
	check_ek_unusable(",\"ek_public\":null", missing);
	check_ek_unusable(",\"ek_public\":12", missing);
	check_ek_unusable(",\"ek_public\":\"AAE\"", missing);
	check_ek_unusable(",\"ek_public\":\"\"",
	                  "the agent's EK public area is unusable: TPM2B_PUBLIC: 0 bytes, too "
	                  "short for its size field");
	check_ek_unusable(",\"ek_public\":\"AA==\"",
	                  "the agent's EK public area is unusable: TPM2B_PUBLIC: 1 bytes, too "
	                  "short for its size field");
	/* short by one, and one trailing byte */
	char member[2048];
	char *s = b64(k->pub, k->pub_len - 1);
	snprintf(member, sizeof member, ",\"ek_public\":\"%s\"", s);
	free(s);
	char expect[256];
	snprintf(expect, sizeof expect,
	         "the agent's EK public area is unusable: TPM2B_PUBLIC announces %zu bytes but "
	         "only %zu follow",
	         k->pub_len - 2, k->pub_len - 3);
	check_ek_unusable(member, expect);
	uint8_t longer[1024];
	memcpy(longer, k->pub, k->pub_len);
	longer[k->pub_len] = 0;
	s = b64(longer, k->pub_len + 1);
	snprintf(member, sizeof member, ",\"ek_public\":\"%s\"", s);
	free(s);
	check_ek_unusable(member, "the agent's EK public area is unusable: TPM2B_PUBLIC: 1 "
	                          "trailing bytes after the structure");
	/* over TPM_PUBLIC_MAX */
	size_t big = TPM_PUBLIC_MAX + 1;
	uint8_t *zero = calloc(1, big);
	assert_non_null(zero);
	s = b64(zero, big);
	free(zero);
	char *m = malloc(strlen(s) + 32);
	assert_non_null(m);
	sprintf(m, ",\"ek_public\":\"%s\"", s);
	free(s);
	check_ek_unusable(m, missing);
	free(m);
}

static void check_identity_refused(const uint8_t *body, size_t len)
{
	struct agent_identity id;
	memset(&id, 0xa5, sizeof id);
	char msg[AGENT_ANSWER_MSG_SIZE] = "";
	assert_int_equal(agent_answer_identity(body, len, &id, msg), ATTEST_E_FORMAT);
	assert_string_equal(msg, "the agent's identity answer has no tpm object");
	/* *ret is empty: clearing it is harmless */
	assert_null(id.keep);
	assert_null(id.ek_public);
	assert_int_equal(id.ncerts, 0);
	agent_identity_clear(&id);
}

static void test_identity_refusals(void **state)
{
	static const char *const bad[] = {
	    "{}",
	    "[]",
	    "{\"tpm\":null}",
	    "{\"tpm\":[]}",
	    "{\"tpm\":true}",
	    "{\"tpm\":{}",
	    "{\"tpm\":{}} x",
	    "{\"tpm\":{},\"tpm\":{}}",
	    "null",
	    "\"tpm\"",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		check_identity_refused(u8(bad[i]), strlen(bad[i]));
	check_identity_refused(NULL, 0);
	check_identity_refused(u8(""), 0);
	/* over AGENT_ANSWER_MAX: refused before it is parsed */
	check_identity_refused(u8("{\"tpm\":{}}"), (size_t)AGENT_ANSWER_MAX + 1);
}

/* ---- ak ---- */

static void test_ak_accepts(void **state)
{
	struct keys *k = *state;
	char text[2048];
	snprintf(text, sizeof text, "{\"ak_public\":\"%s\",\"ak_name\":\"000b\"}", k->pub_b64);
	uint8_t *pub = NULL;
	size_t len = 0;
	TPMT_PUBLIC ak;
	char msg[AGENT_ANSWER_MSG_SIZE] = "";
	assert_int_equal(agent_answer_ak(u8(text), strlen(text), &pub, &len, &ak, msg), 0);
	assert_int_equal(len, k->pub_len);
	assert_memory_equal(pub, k->pub, len);
	assert_int_equal(ak.type, TPM2_ALG_ECC);
	assert_int_equal(ak.objectAttributes, TB_AK_ATTRS);
	free(pub);
}

static void check_ak_refused(const uint8_t *body, size_t len, const char *why)
{
	uint8_t *pub = (uint8_t *)&len;
	size_t pl = 99;
	TPMT_PUBLIC ak;
	memset(&ak, 0xa5, sizeof ak);
	char msg[AGENT_ANSWER_MSG_SIZE] = "";
	assert_int_equal(agent_answer_ak(body, len, &pub, &pl, &ak, msg), ATTEST_E_FORMAT);
	char expect[AGENT_ANSWER_MSG_SIZE];
	snprintf(expect, sizeof expect, "the agent's AK public area is unusable: %s", why);
	assert_string_equal(msg, expect);
	assert_ptr_equal(pub, (uint8_t *)&len);
	assert_int_equal(pl, 99);
	for (size_t i = 0; i < sizeof ak; i++)
		assert_int_equal(((uint8_t *)&ak)[i], 0xa5);
}

static void test_ak_refusals(void **state)
{
	struct keys *k = *state;
	const char *missing = "missing or not base64";
	static const char *const bad[] = {
	    "{}",
	    "[]",
	    "{\"ak_public\":null}",
	    "{\"ak_public\":1}",
	    "{\"ak_public\":\"AA A\"}",
	    "{\"ak_public\":\"AAEC\",",
	    "{\"ak_public\":\"AAEC\"} {}",
	    "{\"ak_public\":\"AAEC\",\"ak_public\":\"AAEC\"}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		check_ak_refused(u8(bad[i]), strlen(bad[i]), missing);
	check_ak_refused(NULL, 0, missing);
	check_ak_refused(u8("{}"), (size_t)AGENT_ANSWER_MAX + 1, missing);
	check_ak_refused(u8("{\"ak_public\":\"\"}"), 16,
	                 "TPM2B_PUBLIC: 0 bytes, too short for "
	                 "its size field");
	/* trailing byte after the TPM2B_PUBLIC */
	uint8_t longer[1024];
	memcpy(longer, k->pub, k->pub_len);
	longer[k->pub_len] = 0x01;
	char *s = b64(longer, k->pub_len + 1);
	char text[2048];
	snprintf(text, sizeof text, "{\"ak_public\":\"%s\"}", s);
	free(s);
	check_ak_refused(u8(text), strlen(text),
	                 "TPM2B_PUBLIC: 1 trailing bytes after the structure");
	/* a key attest does not support */
	TPMT_PUBLIC p = k->area;
	p.parameters.eccDetail.curveID = TPM2_ECC_BN_P256;
	uint8_t pub[1024];
	size_t pl = tb_marshal_public(&p, pub, sizeof pub);
	s = b64(pub, pl);
	snprintf(text, sizeof text, "{\"ak_public\":\"%s\"}", s);
	free(s);
	check_ak_refused(u8(text), strlen(text),
	                 "ECC curve 0x0010 is not supported (need NIST P-256 or P-384)");
}

/* ---- activate ---- */

static void test_activate(void **state)
{
	uint8_t secret[AGENT_ANSWER_SECRET_MAX];
	size_t len = 0;
	const char *one = "{\"secret\":\"AQ==\"}";
	assert_int_equal(agent_answer_activate(u8(one), strlen(one), secret, &len), 0);
	assert_int_equal(len, 1);
	assert_int_equal(secret[0], 1);
	/* exactly AGENT_ANSWER_SECRET_MAX bytes */
	uint8_t full[AGENT_ANSWER_SECRET_MAX + 1];
	for (size_t i = 0; i < sizeof full; i++)
		full[i] = (uint8_t)(i + 1);
	char *s = b64(full, AGENT_ANSWER_SECRET_MAX);
	char text[256];
	snprintf(text, sizeof text, "{\"secret\":\"%s\",\"other\":1}", s);
	free(s);
	assert_int_equal(agent_answer_activate(u8(text), strlen(text), secret, &len), 0);
	assert_int_equal(len, AGENT_ANSWER_SECRET_MAX);
	assert_memory_equal(secret, full, AGENT_ANSWER_SECRET_MAX);

	/* refusals: the output is untouched */
	s = b64(full, AGENT_ANSWER_SECRET_MAX + 1);
	char over[256];
	snprintf(over, sizeof over, "{\"secret\":\"%s\"}", s);
	free(s);
	const char *bad[] = {
	    over,
	    "{}",
	    "[]",
	    "{\"secret\":\"\"}",
	    "{\"secret\":null}",
	    "{\"secret\":1}",
	    "{\"secret\":\"AQ=\"}",
	    "{\"secret\":\"AQ==\"",
	    "{\"secret\":\"AQ==\"}]",
	    "{\"secret\":\"AQ==\",\"secret\":\"AQ==\"}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(secret, 0xa5, sizeof secret);
		len = 99;
		if (agent_answer_activate(u8(bad[i]), strlen(bad[i]), secret, &len) !=
		    ATTEST_E_FORMAT)
			fail_msg("accepted %s", bad[i]);
		assert_int_equal(len, 99);
		for (size_t j = 0; j < sizeof secret; j++)
			assert_int_equal(secret[j], 0xa5);
	}
	assert_int_equal(agent_answer_activate(NULL, 0, secret, &len), ATTEST_E_FORMAT);
	assert_int_equal(agent_answer_activate(u8(one), (size_t)AGENT_ANSWER_MAX + 1, secret, &len),
	                 ATTEST_E_FORMAT);
	assert_int_equal(len, 99);
}

/* ---- error ---- */

static void answer_error(const char *body, int status, char *text, size_t textcap, char *code,
                         size_t codecap)
{
	agent_answer_error(u8(body), body ? strlen(body) : 0, status, text, textcap, code, codecap);
}

static void test_error(void **state)
{
	char text[512], code[64];
	answer_error("{\"error\":{\"code\":\"TPM_ERROR\",\"message\":\"the TPM is busy\"}}", 503,
	             text, sizeof text, code, sizeof code);
	assert_string_equal(text, "the agent answered HTTP 503 TPM_ERROR: the TPM is busy");
	assert_string_equal(code, "TPM_ERROR");
	answer_error("{\"error\":{\"code\":\"NOT_FOUND\"}}", 404, text, sizeof text, code,
	             sizeof code);
	assert_string_equal(text, "the agent answered HTTP 404 NOT_FOUND");
	assert_string_equal(code, "NOT_FOUND");
	answer_error("{\"error\":{\"message\":\"why\"}}", 400, text, sizeof text, code,
	             sizeof code);
	assert_string_equal(text, "the agent answered HTTP 400: why");
	assert_string_equal(code, "");
	/* not an error object, not JSON, nothing at all: the status alone */
	static const char *const plain[] = {"{}", "{\"error\":\"x\"}", "<html>", "[]", ""};
	for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
		answer_error(plain[i], 500, text, sizeof text, code, sizeof code);
		assert_string_equal(text, "the agent answered HTTP 500");
		assert_string_equal(code, "");
	}
	agent_answer_error(NULL, 0, 502, text, sizeof text, code, sizeof code);
	assert_string_equal(text, "the agent answered HTTP 502");
	/* control characters from the agent become '?' */
	answer_error("{\"error\":{\"code\":\"A\\nB\",\"message\":\"x\\u001b[31my\\u007f\"}}", 500,
	             text, sizeof text, code, sizeof code);
	assert_string_equal(text, "the agent answered HTTP 500 A?B: x?[31my?");
	assert_string_equal(code, "A?B");
	/* long code and message are cut (63 and 399 characters), the text to its cap */
	char body[2048], longcode[100], longmsg[600];
	memset(longcode, 'C', sizeof longcode - 1);
	longcode[sizeof longcode - 1] = '\0';
	memset(longmsg, 'm', sizeof longmsg - 1);
	longmsg[sizeof longmsg - 1] = '\0';
	snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", longcode,
	         longmsg);
	char big[1024];
	answer_error(body, 500, big, sizeof big, code, sizeof code);
	assert_int_equal(strlen(code), 63);
	assert_int_equal(strlen(big), strlen("the agent answered HTTP 500 ") + 63 + 2 + 399);
	char small[16], tiny[4];
	answer_error(body, 500, small, sizeof small, tiny, sizeof tiny);
	assert_string_equal(small, "the agent answe");
	assert_string_equal(tiny, "CCC");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_identity_absent_tpm),
	    cmocka_unit_test(test_identity_present),
	    cmocka_unit_test(test_identity_cert_cap),
	    cmocka_unit_test(test_identity_ek_unusable),
	    cmocka_unit_test(test_identity_refusals),
	    cmocka_unit_test(test_ak_accepts),
	    cmocka_unit_test(test_ak_refusals),
	    cmocka_unit_test(test_activate),
	    cmocka_unit_test(test_error),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
