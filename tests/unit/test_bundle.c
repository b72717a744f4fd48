/* Evidence bundles: parse errors, and whole verification of bundles built
 * here (key generated, quote over PCRs replayed from a real event log). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "bundle.h"
#include "err.h"
#include "eventlog.h"
#include "evidence.h"
#include "hex.h"
#include "tpm_build.h"
#include "testutil.h"

#define LOG       TESTDATA_DIR "/eventlogs/gce-ubuntu2104-no-secureboot.bin"
#define OTHER_LOG TESTDATA_DIR "/eventlogs/gce-rhel8-secureboot.bin"

static char *b64(const uint8_t *b, size_t n)
{
	char *s = malloc(BASE64_ENCODED_SIZE(n));
	base64_encode(b, n, s);
	return s;
}

/* A bundle as JSON: key signs a quote over pcrs (sha256 0-7) for nonce and
 * meta; log (may be NULL) attached. */
static json_t *make_bundle(EVP_PKEY *key, const uint8_t pcrs[8][32], const uint8_t nonce[32],
                           json_t *meta, const uint8_t *log, size_t log_len)
{
	TPMT_PUBLIC ak;
	tb_public(key, TB_AK_ATTRS, TPM2_ALG_RSASSA, &ak);
	uint8_t pub[1024], att[2048], sig[1024];
	size_t publen = tb_marshal_public(&ak, pub, sizeof pub);
	char *canon = NULL;
	assert_int_equal(evidence_metadata_canonical(meta, &canon), 0);
	uint8_t qd[32];
	assert_int_equal(
	    evidence_qualifying_data(nonce, 32, (const uint8_t *)canon, strlen(canon), qd), 0);
	free(canon);
	TPML_PCR_SELECTION sel;
	tb_sel(0xffu, &sel);
	uint8_t cat[8 * 32], d[32];
	memcpy(cat, pcrs, sizeof cat);
	EVP_Digest(cat, sizeof cat, d, NULL, EVP_sha256(), NULL);
	size_t alen = tb_attest(qd, 32, &sel, d, att, sizeof att);
	size_t slen = tb_sign(key, TPM2_ALG_RSASSA, TPM2_ALG_SHA256, att, alen, sig, sizeof sig);
	json_t *bank = json_object();
	for (int i = 0; i < 8; i++) {
		char hex[65], k[4];
		hex_encode(pcrs[i], 32, hex);
		snprintf(k, sizeof k, "%d", i);
		json_object_set_new(bank, k, json_string(hex));
	}
	char nhex[65];
	hex_encode(nonce, 32, nhex);
	char *a = b64(pub, publen), *q = b64(att, alen), *s = b64(sig, slen);
	json_t *o =
	    json_pack("{s:s, s:s, s:s, s:{s:o}, s:s, s:O}", "ak_public", a, "quote", q, "signature",
	              s, "pcrs", "sha256", bank, "nonce", nhex, "metadata", meta);
	free(a);
	free(q);
	free(s);
	if (log) {
		char *l = b64(log, log_len);
		json_object_set_new(o, "eventlog", json_string(l));
		free(l);
	}
	return o;
}

static struct bundle *parse_json(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	struct bundle *b = NULL;
	struct diag err;
	int e = bundle_parse((const uint8_t *)s, strlen(s), &b, &err);
	if (e != 0)
		fail_msg("bundle_parse: %s", err.message);
	free(s);
	return b;
}

static void replayed_pcrs(const uint8_t *log, size_t len, uint8_t out[8][32])
{
	struct eventlog *l = NULL;
	assert_int_equal(eventlog_parse(log, len, &l, NULL), 0);
	struct eventlog_pcrs *p = malloc(sizeof *p);
	assert_int_equal(eventlog_replay(l, p), 0);
	const struct eventlog_pcr_bank *b = eventlog_pcrs_bank(p, EVENTLOG_ALG_SHA256);
	assert_non_null(b);
	for (int i = 0; i < 8; i++)
		memcpy(out[i], b->pcr[i], 32);
	free(p);
	eventlog_free(l);
}

static size_t verify(struct bundle *b, const uint8_t *nonce, struct bundle_result *res)
{
	assert_int_equal(bundle_verify(b, NULL, nonce, nonce ? 32 : 0, res), 0);
	return res->reasons.count;
}

static void test_whole_verification(void **state)
{
	if (!testutil_have_shared())
		skip();
	size_t len, olen;
	uint8_t *log = testutil_read_file(LOG, &len), *other = testutil_read_file(OTHER_LOG, &olen);
	assert_non_null(log);
	assert_non_null(other);
	uint8_t pcrs[8][32], nonce[32];
	replayed_pcrs(log, len, pcrs);
	memset(nonce, 0x6e, sizeof nonce);
	EVP_PKEY *key = tb_rsa_key();
	json_t *meta = json_pack("{s:s, s:s}", "hostname", "h1", "agent_version", "0.1.0");
	struct bundle_result *res = calloc(1, sizeof *res);

	json_t *o = make_bundle(key, pcrs, nonce, meta, log, len);
	struct bundle *b = parse_json(o);
	assert_int_equal(verify(b, nonce, res), 0);
	assert_true(res->replayed);
	assert_true(res->ak_decoded);
	assert_int_equal(res->quote.clock.resetCount, 7);
	/* freshness: another nonce was asked for */
	uint8_t asked[32];
	memset(asked, 0x01, sizeof asked);
	assert_int_equal(verify(b, asked, res), 1);
	assert_int_equal(res->reasons.list[0].status, QUOTE_NONCE_NOT_FRESH);
	bundle_free(b);

	/* metadata edited after quoting */
	json_object_set_new(json_object_get(o, "metadata"), "hostname", json_string("h2"));
	b = parse_json(o);
	assert_int_equal(verify(b, NULL, res), 1);
	assert_int_equal(res->reasons.list[0].status, QUOTE_NONCE_MISMATCH);
	bundle_free(b);
	json_decref(o);

	/* the log of another machine: replay mismatch naming PCRs */
	o = make_bundle(key, pcrs, nonce, meta, other, olen);
	b = parse_json(o);
	assert_true(verify(b, NULL, res) >= 1);
	for (size_t i = 0; i < res->reasons.count; i++) {
		assert_int_equal(res->reasons.list[i].status, QUOTE_EVENTLOG_REPLAY_MISMATCH);
		assert_true(res->reasons.list[i].pcr >= 0 && res->reasons.list[i].pcr < 8);
		assert_int_equal(strlen(res->reasons.list[i].expected), 64);
		assert_int_equal(strlen(res->reasons.list[i].actual), 64);
	}
	bundle_free(b);
	json_decref(o);

	/* a PCR extended behind the log's back: exactly that PCR */
	pcrs[4][0] ^= 0xff;
	o = make_bundle(key, pcrs, nonce, meta, log, len);
	b = parse_json(o);
	assert_int_equal(verify(b, NULL, res), 1);
	assert_int_equal(res->reasons.list[0].status, QUOTE_EVENTLOG_REPLAY_MISMATCH);
	assert_int_equal(res->reasons.list[0].pcr, 4);
	assert_string_equal(quote_status_code(res->reasons.list[0].status),
	                    "EVENTLOG_REPLAY_MISMATCH");
	bundle_free(b);
	json_decref(o);
	pcrs[4][0] ^= 0xff;

	/* no log, a log that does not parse */
	o = make_bundle(key, pcrs, nonce, meta, NULL, 0);
	b = parse_json(o);
	assert_int_equal(verify(b, NULL, res), 1);
	assert_int_equal(res->reasons.list[0].status, QUOTE_EVENTLOG_MISSING);
	bundle_free(b);
	json_decref(o);
	o = make_bundle(key, pcrs, nonce, meta, (const uint8_t *)"not a log at all", 16);
	b = parse_json(o);
	assert_int_equal(verify(b, NULL, res), 1);
	assert_int_equal(res->reasons.list[0].status, QUOTE_EVENTLOG_INVALID);
	bundle_free(b);

	/* the enrolled AK is another key: the signature fails */
	EVP_PKEY *enrolled = tb_rsa_key();
	TPMT_PUBLIC eak;
	tb_public(enrolled, TB_AK_ATTRS, TPM2_ALG_RSASSA, &eak);
	b = parse_json(o);
	assert_int_equal(bundle_verify(b, &eak, NULL, 0, res), 0);
	assert_true(quote_reasons_has(&res->reasons, QUOTE_SIGNATURE_INVALID));
	bundle_free(b);
	json_decref(o);
	EVP_PKEY_free(enrolled);

	free(res);
	json_decref(meta);
	EVP_PKEY_free(key);
	free(log);
	free(other);
}

static int parse_str(const char *s, struct diag *err)
{
	struct bundle *b = NULL;
	int e = bundle_parse((const uint8_t *)s, strlen(s), &b, err);
	bundle_free(b);
	return e;
}

static void test_parse_errors(void **state)
{
	EVP_PKEY *key = tb_rsa_key();
	uint8_t pcrs[8][32] = {{0}}, nonce[32] = {1};
	json_t *meta = json_object();
	json_t *good = make_bundle(key, pcrs, nonce, meta, NULL, 0);
	struct diag err;
	static const struct {
		const char *key;
		const char *json; /* replacement value, JSON text; NULL deletes */
		const char *msg;  /* expected in the error */
	} cases[] = {
	    {"ak_public", NULL, "\"ak_public\" is missing"},
	    {"quote", "\"AAA\"", "not strict base64"},
	    {"signature", "42", "base64 string"},
	    {"pcrs", "{\"sha256\": {\"01\": \"00\"}}", "not a PCR index"},
	    {"pcrs", "{\"sha256\": {\"24\": \"00\"}}", "not a PCR index"},
	    {"pcrs", "{\"sha256\": {\"-1\": \"00\"}}", "not a PCR index"},
	    {"pcrs", "{\"md5\": {}}", "unknown PCR bank"},
	    {"pcrs", "{\"sha256\": {\"0\": \"0011\"}}", "32 bytes of hex"},
	    {"pcrs", "[]", "object of banks"},
	    {"nonce", "\"0011\"", "\"nonce\""},
	    {"nonce", "\"zz\"", "\"nonce\""},
	    {"metadata", "[]", "\"metadata\" must be an object"},
	    {"eventlog", "\"@@@@\"", "\"eventlog\" is not strict base64"},
	    {"eventlog_unchanged", "1", "\"eventlog_unchanged\" must be true or false"},
	    {"eventlog_unchanged", "\"yes\"", "\"eventlog_unchanged\" must be true or false"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *o = json_deep_copy(good);
		if (cases[i].json)
			json_object_set_new(o, cases[i].key,
			                    json_loads(cases[i].json, JSON_DECODE_ANY, NULL));
		else
			json_object_del(o, cases[i].key);
		char *s = json_dumps(o, JSON_COMPACT);
		memset(&err, 0, sizeof err);
		assert_int_not_equal(parse_str(s, &err), 0);
		if (!strstr(err.message, cases[i].msg))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.message, cases[i].msg);
		free(s);
		json_decref(o);
	}
	/* "eventlog_unchanged": only without "eventlog" */
	{
		json_t *o = json_deep_copy(good);
		json_object_set_new(o, "eventlog", json_string("AAAA"));
		json_object_set_new(o, "eventlog_unchanged", json_true());
		char *t = json_dumps(o, JSON_COMPACT);
		memset(&err, 0, sizeof err);
		assert_int_equal(parse_str(t, &err), ATTEST_E_FORMAT);
		assert_non_null(strstr(err.message, "but an \"eventlog\" is sent"));
		free(t);
		json_object_del(o, "eventlog");
		t = json_dumps(o, JSON_COMPACT);
		struct bundle *ub = NULL;
		assert_int_equal(bundle_parse((const uint8_t *)t, strlen(t), &ub, &err), 0);
		assert_true(ub->eventlog_unchanged);
		assert_null(ub->eventlog);
		bundle_free(ub);
		free(t);
		json_object_set_new(o, "eventlog_unchanged", json_false());
		t = json_dumps(o, JSON_COMPACT);
		assert_int_equal(bundle_parse((const uint8_t *)t, strlen(t), &ub, &err), 0);
		assert_false(ub->eventlog_unchanged);
		bundle_free(ub);
		free(t);
		json_decref(o);
	}
	/* the unchanged bundle parses; unknown members are ignored */
	json_object_set_new(good, "future_field", json_true());
	char *s = json_dumps(good, JSON_COMPACT);
	assert_int_equal(parse_str(s, &err), 0);
	/* duplicate keys are refused */
	char *dup = malloc(strlen(s) + 32);
	snprintf(dup, strlen(s) + 32, "{\"nonce\":\"00\",%s", s + 1);
	assert_int_equal(parse_str(dup, &err), ATTEST_E_FORMAT);
	free(dup);
	free(s);
	/* nesting, size, non-objects */
	assert_int_equal(parse_str("[[[[[[[[[1]]]]]]]]]", &err), ATTEST_E_LIMIT);
	assert_int_equal(parse_str("{\"a\":\"[[[[[[[[[[[[\"}", &err), ATTEST_E_FORMAT);
	assert_int_equal(parse_str("[]", &err), ATTEST_E_FORMAT);
	assert_int_equal(parse_str("", &err), ATTEST_E_FORMAT);
	struct bundle *b = NULL;
	assert_int_equal(bundle_parse((const uint8_t *)"{}", (size_t)BUNDLE_MAX_SIZE + 1, &b, &err),
	                 ATTEST_E_LIMIT);
	assert_null(b);
	json_decref(good);
	json_decref(meta);
	EVP_PKEY_free(key);
}

/* Both readers leave the same bundle. */
static void same_bundle(const struct bundle *a, const struct bundle *b)
{
	assert_int_equal(a->ak_public_len, b->ak_public_len);
	assert_memory_equal(a->ak_public, b->ak_public, a->ak_public_len);
	assert_int_equal(a->quote_len, b->quote_len);
	assert_memory_equal(a->quote, b->quote, a->quote_len);
	assert_int_equal(a->signature_len, b->signature_len);
	assert_memory_equal(a->signature, b->signature, a->signature_len);
	assert_memory_equal(&a->pcrs, &b->pcrs, sizeof a->pcrs);
	assert_int_equal(a->nonce_len, b->nonce_len);
	assert_memory_equal(a->nonce, b->nonce, a->nonce_len);
	assert_string_equal(a->metadata_canonical, b->metadata_canonical);
	assert_true(json_equal(a->metadata, b->metadata));
	assert_int_equal(a->eventlog_unchanged, b->eventlog_unchanged);
	assert_int_equal(a->host_us, b->host_us);
	assert_int_equal(a->eventlog == NULL, b->eventlog == NULL);
	assert_int_equal(a->eventlog_len, b->eventlog_len);
	if (a->eventlog)
		assert_memory_equal(a->eventlog, b->eventlog, a->eventlog_len);
}

/* One input through bundle_parse, its plain reader and the jansson reader:
 * the plain reader takes only what jansson takes, to the same bundle, and
 * bundle_parse answers as jansson does (code and sentence). Returns 2 if
 * the plain reader took it, 1 if only jansson did, 0 if neither. */
static int differential(const uint8_t *buf, size_t len)
{
	struct bundle *p = NULL, *j = NULL, *b = NULL;
	struct diag ej, eb;
	memset(&ej, 0, sizeof ej);
	memset(&eb, 0, sizeof eb);
	int rp = bundle_plain_parse(buf, len, &p);
	int rj = bundle_parse_json(buf, len, &j, &ej);
	int rb = bundle_parse(buf, len, &b, &eb);
	assert_true(rp == 0 || rp == 1);
	if (rp == 1) {
		if (rj != 0)
			fail_msg("the plain reader took what jansson refuses (%s): %.*s",
			         ej.message, (int)(len > 300 ? 300 : len), (const char *)buf);
		same_bundle(p, j);
	} else {
		assert_null(p);
	}
	assert_int_equal(rb, rj);
	if (rj == 0)
		same_bundle(b, j);
	else
		assert_string_equal(eb.message, ej.message);
	bundle_free(p);
	bundle_free(j);
	bundle_free(b);
	return rp == 1 ? 2 : rj == 0;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	uint8_t *buf = malloc(64 * 1024);
	*len = fread(buf, 1, 64 * 1024, f);
	fclose(f);
	return buf;
}

/* The plain reader against jansson on the corpus answers, hand-made edge
 * cases and random mutations of both (fixed seed). */
static void test_plain_reader(void **state)
{
	(void)state;
	static const char *files[] = {
	    "fuzz/corpus/bundle/swtpm-ecc.json", "fuzz/corpus/bundle/swtpm-rsa.json",
	    "fuzz/corpus/bundle/unchanged-log.json", "fuzz/corpus/bundle/minimal.json"};
	enum { NF = sizeof files / sizeof files[0] };
	uint8_t *seed[NF];
	size_t seed_len[NF];
	for (size_t i = 0; i < NF; i++) {
		seed[i] = slurp(files[i], &seed_len[i]);
		/* the usual answers are the plain reader's */
		assert_int_equal(differential(seed[i], seed_len[i]), 2);
	}
	static const char *edge[] = {"",
	                             " ",
	                             "{}",
	                             "[]",
	                             "{\"a\":1}",
	                             "{\"a\":-0}",
	                             "{\"a\":01}",
	                             "{\"a\":1.5}",
	                             "{\"a\":1e3}",
	                             "{\"a\":0.25}",
	                             "{\"a\":-1.}",
	                             "{\"a\":123456789012345678}",
	                             "{\"a\":1234567890123456789}",
	                             "{\"a\":99999999999999999999}",
	                             "{\"a\":tru}",
	                             "{\"a\":truex}",
	                             "{\"a\":nul}",
	                             "{\"a\":[1,2,]}",
	                             "{\"a\":{},}",
	                             "{\"a\" 1}",
	                             "{\"a\":\"\\u0041\"}",
	                             "{\"a\":1}x",
	                             "{\"a\":1} ",
	                             "\xef\xbb\xbf{}",
	                             "{\"a\":[[[[[[[1]]]]]]]}",
	                             "{\"a\":[[[[[[[[1]]]]]]]]}",
	                             "{\"a\":\"\x7f\"}",
	                             "{\"a\":1,\"a\":2}"};
	for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++)
		(void)differential((const uint8_t *)edge[i], strlen(edge[i]));
	/* splice each edge case in as the metadata and as an unknown member */
	static const char *vals[] = {"-0",
	                             "0.5",
	                             "-0.0",
	                             "1.",
	                             ".5",
	                             "1.5e3",
	                             "1.5E-3",
	                             "-",
	                             "1.2.3",
	                             "0.1234567890123456789012345",
	                             "123456789012345678.5",
	                             "1234567890123456789.5",
	                             "{\"tpm_ms\":0.123456,\"total_ms\":12.5}",
	                             "01",
	                             "1.5",
	                             "1e3",
	                             "123456789012345678",
	                             "99999999999999999999",
	                             "\"\\u00e9\"",
	                             "\"\xc3\xa9\"",
	                             "{\"x\":1,\"x\":1}",
	                             "{\"x\":{\"y\":[null,true,false]}}",
	                             "[[[[[[1]]]]]]",
	                             "[[[[[[[1]]]]]]]",
	                             "\"\"",
	                             "{}",
	                             "[]"};
	{
		/* as agents answer now: with "timing" (numbers with fractions) */
		char *t = malloc(seed_len[0] + 64);
		int n = snprintf(t, seed_len[0] + 64,
		                 "{\"timing\":{\"tpm_ms\":31.25,\"total_ms\":0.5},%.*s",
		                 (int)(seed_len[0] - 1), (const char *)seed[0] + 1);
		assert_int_equal(differential((const uint8_t *)t, (size_t)n), 2);
		free(t);
	}
	const char *m = strstr((const char *)seed[0], "\"metadata\": {");
	assert_non_null(m);
	size_t mpos = (size_t)(m - (const char *)seed[0]) + strlen("\"metadata\": {");
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		char *t = malloc(seed_len[0] + 256);
		int n = snprintf(t, seed_len[0] + 256, "%.*s\"k\":%s,%.*s", (int)mpos,
		                 (const char *)seed[0], vals[i], (int)(seed_len[0] - mpos),
		                 (const char *)seed[0] + mpos);
		(void)differential((const uint8_t *)t, (size_t)n);
		n = snprintf(t, seed_len[0] + 256, "{\"future\":%s,%.*s", vals[i],
		             (int)(seed_len[0] - 1), (const char *)seed[0] + 1);
		(void)differential((const uint8_t *)t, (size_t)n);
		/* and as the host's reported time, and as "timing" itself */
		n = snprintf(t, seed_len[0] + 256, "{\"timing\":{\"total_ms\":%s},%.*s", vals[i],
		             (int)(seed_len[0] - 1), (const char *)seed[0] + 1);
		(void)differential((const uint8_t *)t, (size_t)n);
		n = snprintf(t, seed_len[0] + 256, "{\"timing\":%s,%.*s", vals[i],
		             (int)(seed_len[0] - 1), (const char *)seed[0] + 1);
		(void)differential((const uint8_t *)t, (size_t)n);
		free(t);
	}
	/* metadata of strings only: its tree and canonical text are made from
	 * the spans, keys sorted by byte value (a prefix first, capitals before
	 * small letters, the empty key first) as jansson sorts them */
	static const char *strmeta[] = {
	    "\"host\":\"x\",\"A\":\"y\",\"\":\"z\",", "\"hostnamf\":\"\",\"hostnam\":\"a b/c\",",
	    "\"zz\":\"~\",\"Z\":\"'\",\"a\":\"1\",\"ab\":\"2\",\"aa\":\"3\","};
	for (size_t i = 0; i < sizeof strmeta / sizeof strmeta[0]; i++) {
		char *t = malloc(seed_len[0] + 256);
		int n =
		    snprintf(t, seed_len[0] + 256, "%.*s%s%.*s", (int)mpos, (const char *)seed[0],
		             strmeta[i], (int)(seed_len[0] - mpos), (const char *)seed[0] + mpos);
		assert_int_equal(differential((const uint8_t *)t, (size_t)n), 2);
		free(t);
	}
	/* random mutations: bytes changed, inserted, deleted, slices repeated */
	static const char interesting[] = "\"\\{}[],:0123-.eE tfnu\x80\xc3\xa9\x01\n";
	srand(14);
	size_t took = 0, parsed = 0, rounds = 20000;
	uint8_t *buf = malloc(3 * 64 * 1024);
	for (size_t r = 0; r < rounds; r++) {
		size_t k = (size_t)rand() % NF, len = seed_len[k];
		memcpy(buf, seed[k], len);
		for (int edits = 1 + rand() % 3; edits > 0 && len > 0; edits--) {
			size_t at = (size_t)rand() % len;
			uint8_t c = rand() % 2
			                ? (uint8_t)interesting[rand() % (sizeof interesting - 1)]
			                : (uint8_t)rand();
			switch (rand() % 4) {
			case 0: buf[at] = c; break;
			case 1:
				memmove(buf + at + 1, buf + at, len - at);
				buf[at] = c;
				len++;
				break;
			case 2:
				memmove(buf + at, buf + at + 1, len - at - 1);
				len--;
				break;
			default: {
				size_t n = (size_t)rand() % 40;
				if (n > len - at)
					n = len - at;
				memmove(buf + at + n, buf + at, len - at);
				len += n;
			}
			}
		}
		int d = differential(buf, len);
		took += d == 2;
		parsed += d > 0;
	}
	/* most mutations that still parse are the plain reader's: not vacuous */
	print_message("plain reader: took %zu of %zu mutations that parse (%zu rounds)\n", took,
	              parsed, rounds);
	assert_true(took > 0 && took * 2 > parsed);
	free(buf);
	for (size_t i = 0; i < NF; i++)
		free(seed[i]);
}

/* "timing"."total_ms", the host's own account of its time: kept in
 * microseconds by both readers when it is a number from 0 to an hour,
 * -1 otherwise, and never a reason to refuse the bundle. */
static void test_host_time(void **state)
{
	(void)state;
	static const struct {
		const char *timing; /* NULL: no "timing" member */
		int64_t us;
	} cases[] = {
	    {NULL, -1},
	    {"{\"tpm_ms\":31.25,\"total_ms\":0.5}", 500},
	    {"{\"total_ms\":12.3456}", 12346},
	    {"{\"total_ms\":7}", 7000},
	    {"{\"total_ms\":0}", 0},
	    {"{\"total_ms\":-0}", 0},
	    {"{\"total_ms\":3600000}", 3600000000},
	    {"{\"total_ms\":3600000.5}", -1},
	    {"{\"total_ms\":-1}", -1},
	    {"{\"total_ms\":1e3}", 1000000}, /* jansson's reader: the same figure */
	    {"{\"total_ms\":\"5\"}", -1},
	    {"{\"total_ms\":null}", -1},
	    {"{\"tpm_ms\":5}", -1},
	    {"{}", -1},
	    {"[5]", -1},
	    {"5", -1},
	    {"\"fast\"", -1},
	};
	size_t len;
	uint8_t *seed = slurp("fuzz/corpus/bundle/swtpm-rsa.json", &len);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *t = malloc(len + 128);
		int n = cases[i].timing
		            ? snprintf(t, len + 128, "{\"timing\":%s,%.*s", cases[i].timing,
		                       (int)(len - 1), (const char *)seed + 1)
		            : snprintf(t, len + 128, "%.*s", (int)len, (const char *)seed);
		assert_true(differential((const uint8_t *)t, (size_t)n) > 0);
		struct bundle *b = NULL;
		assert_int_equal(bundle_parse((const uint8_t *)t, (size_t)n, &b, NULL), 0);
		if (b->host_us != cases[i].us)
			fail_msg("timing %s: host_us %lld, expected %lld", cases[i].timing,
			         (long long)b->host_us, (long long)cases[i].us);
		bundle_free(b);
		free(t);
	}
	free(seed);
}

/* The plain reader skips through long strings eight bytes at a time: a
 * byte that is not plain (a control byte, DEL, a non-ASCII byte, a
 * backslash) at any position of a long string, also at each position of
 * an eight-byte word and in the tail after the last whole word, sends the
 * answer to jansson; printable bytes at the edges of the range stay plain. */
static void test_plain_long_strings(void **state)
{
	(void)state;
	size_t len0;
	uint8_t *seed = slurp("fuzz/corpus/bundle/swtpm-ecc.json", &len0);
	const char *m = strstr((const char *)seed, "\"metadata\": {");
	assert_non_null(m);
	size_t mpos = (size_t)(m - (const char *)seed) + strlen("\"metadata\": {");
	static const uint8_t notplain[] = {0x01, 0x1f, 0x7f, 0x80, 0xc3, 0xff, '\\'};
	static const uint8_t plain[] = {0x20, 0x7e, '!', '#', '[', ']'};
	char *t = malloc(len0 + 256);
	for (size_t vlen = 1; vlen <= 27; vlen++) {
		for (size_t at = 0; at < vlen; at++) {
			for (size_t k = 0; k < sizeof notplain + sizeof plain; k++) {
				bool bad = k < sizeof notplain;
				char v[32];
				memset(v, 'A' + (char)(vlen % 26), vlen);
				v[at] = (char)(bad ? notplain[k] : plain[k - sizeof notplain]);
				int n = snprintf(t, len0 + 256, "%.*s\"long\":\"%.*s\",%.*s",
				                 (int)mpos, (const char *)seed, (int)vlen, v,
				                 (int)(len0 - mpos), (const char *)seed + mpos);
				int d = differential((const uint8_t *)t, (size_t)n);
				if (bad && d == 2)
					fail_msg("byte 0x%02x at %zu of %zu taken as plain",
					         v[at] & 0xff, at, vlen);
				if (!bad && d != 2)
					fail_msg("byte 0x%02x at %zu of %zu not taken as plain",
					         v[at] & 0xff, at, vlen);
			}
		}
	}
	free(t);
	free(seed);
}

static void test_bad_ak_in_bundle(void **state)
{
	/* an AK the decoder refuses is a reason, not a crash */
	const char *s =
	    "{\"ak_public\":\"AAA=\",\"quote\":\"AA==\",\"signature\":\"AA==\","
	    "\"pcrs\":{},\"nonce\":\"00000000000000000000000000000000\",\"metadata\":{}}";
	struct bundle *b = NULL;
	struct diag err;
	assert_int_equal(bundle_parse((const uint8_t *)s, strlen(s), &b, &err), 0);
	struct bundle_result *res = calloc(1, sizeof *res);
	assert_int_equal(bundle_verify(b, NULL, NULL, 0, res), 0);
	assert_int_equal(res->reasons.count, 1);
	assert_int_equal(res->reasons.list[0].status, QUOTE_AK_UNSUPPORTED);
	free(res);
	bundle_free(b);
}

/* qualifyingData = SHA-256(nonce || SHA-256(metadata)), with SHA-256
 * fetched by the caller or not: the same bytes; nonce bounds kept. */
static void test_qualifying_data_md(void **state)
{
	(void)state;
	uint8_t nonce[EVIDENCE_NONCE_MAX], a[32], b[32], want[32], mh[32];
	memset(nonce, 0x5a, sizeof nonce);
	const char *meta = "{\"agent_version\":\"1.0.0\"}";
	EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
	assert_non_null(md);
	assert_int_equal(EVP_Digest(meta, strlen(meta), mh, NULL, EVP_sha256(), NULL), 1);
	uint8_t cat[EVIDENCE_NONCE_MAX + 32];
	memcpy(cat, nonce, 32);
	memcpy(cat + 32, mh, 32);
	assert_int_equal(EVP_Digest(cat, 64, want, NULL, EVP_sha256(), NULL), 1);
	assert_int_equal(
	    evidence_qualifying_data(nonce, 32, (const uint8_t *)meta, strlen(meta), a), 0);
	assert_int_equal(
	    evidence_qualifying_data_md(md, nonce, 32, (const uint8_t *)meta, strlen(meta), b), 0);
	assert_memory_equal(a, want, 32);
	assert_memory_equal(b, want, 32);
	assert_int_equal(evidence_qualifying_data_md(NULL, nonce, 32, NULL, 0, a), 0);
	assert_int_equal(evidence_qualifying_data_md(md, nonce, 32, NULL, 0, b), 0);
	assert_memory_equal(a, b, 32);
	assert_int_equal(evidence_qualifying_data_md(md, nonce, EVIDENCE_NONCE_MIN - 1, NULL, 0, b),
	                 ATTEST_E_ARG);
	assert_int_equal(evidence_qualifying_data_md(md, nonce, EVIDENCE_NONCE_MAX + 1, NULL, 0, b),
	                 ATTEST_E_ARG);
	assert_int_equal(evidence_qualifying_data_md(md, NULL, 32, NULL, 0, b), ATTEST_E_ARG);
	EVP_MD_free(md);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_whole_verification), cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_bad_ak_in_bundle),   cmocka_unit_test(test_qualifying_data_md),
	    cmocka_unit_test(test_plain_reader),       cmocka_unit_test(test_plain_long_strings),
	    cmocka_unit_test(test_host_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
