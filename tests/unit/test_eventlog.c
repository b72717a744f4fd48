/* Event log parser and replay: generated logs for every error path, and
 * the real logs of ../shared/testdata against their stated PCR values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "err.h"
#include "eventlog.h"
#include "eventlog_build.h"
#include "hex.h"
#include "testutil.h"

static const struct tbanks two = {2, {EVENTLOG_ALG_SHA1, EVENTLOG_ALG_SHA256}, {20, 32}};
static const uint8_t sep[4] = {0, 0, 0, 0};

/* Parse expecting failure with code; the message must name the offset. */
static void expect_error(const struct tbuf *b, int code, size_t offset, size_t event)
{
	struct eventlog *log = (struct eventlog *)0x1;
	struct diag err;
	int e = eventlog_parse(b->p, b->len, &log, &err);
	if (e != code)
		fail_msg("expected %d, got %d (%s)", code, e, err.message);
	assert_ptr_equal(log, (struct eventlog *)0x1); /* untouched */
	assert_int_equal(err.offset, offset);
	assert_int_equal(err.event, event);
	char want[64];
	snprintf(want, sizeof want, "at offset %zu", offset);
	if (!strstr(err.message, want))
		fail_msg("message '%s' lacks '%s'", err.message, want);
}

static struct eventlog *parse_ok(const struct tbuf *b)
{
	struct eventlog *log = NULL;
	struct diag err;
	int e = eventlog_parse(b->p, b->len, &log, &err);
	if (e != 0)
		fail_msg("parse failed: %d %s", e, err.message);
	return log;
}

/* Spec ID + separator in PCR 0..7 + EFI action in PCR 4. */
static void build_basic(struct tbuf *b)
{
	tb_spec_id(b, &two);
	for (uint32_t i = 0; i < 8; i++)
		tb_agile(b, &two, i, EV_SEPARATOR, sep, 4);
	tb_agile(b, &two, 4, EV_EFI_ACTION, "Calling EFI Application from Boot Option", 40);
}

static void test_empty(void **state)
{
	struct tbuf b = {0};
	uint8_t one = 0;
	b.p = &one;
	expect_error(&b, ATTEST_E_FORMAT, 0, 0);
	struct eventlog *log = NULL;
	assert_int_equal(eventlog_parse(NULL, 0, &log, NULL), ATTEST_E_FORMAT);
	assert_int_equal(eventlog_parse(NULL, 5, &log, NULL), ATTEST_E_ARG);
	assert_null(log);
	eventlog_free(NULL);
}

static void test_agile_ok_and_replay(void **state)
{
	struct tbuf b = {0};
	build_basic(&b);
	struct eventlog *log = parse_ok(&b);
	assert_int_equal(log->format, EVENTLOG_FORMAT_CRYPTO_AGILE);
	assert_int_equal(log->bank_count, 2);
	assert_int_equal(log->banks[1].alg, EVENTLOG_ALG_SHA256);
	assert_int_equal(log->event_count, 10);
	assert_int_equal(log->events[9].type, EV_EFI_ACTION);
	assert_int_equal(log->events[9].data_len, 40);
	assert_int_equal(log->trailing_bytes, 0);

	struct eventlog_pcrs p;
	assert_int_equal(eventlog_replay(log, &p), 0);
	const struct eventlog_pcr_bank *s256 = eventlog_pcrs_bank(&p, EVENTLOG_ALG_SHA256);
	assert_non_null(s256);
	assert_int_equal(s256->touched, 0xFF);
	uint8_t want[32] = {0}, d[32];
	tb_hash(EVENTLOG_ALG_SHA256, 32, sep, 4, d);
	tb_extend(EVENTLOG_ALG_SHA256, 32, want, d);
	uint8_t want4[32];
	memcpy(want4, want, 32);
	tb_hash(EVENTLOG_ALG_SHA256, 32, "Calling EFI Application from Boot Option", 40, d);
	tb_extend(EVENTLOG_ALG_SHA256, 32, want4, d);
	assert_memory_equal(s256->pcr[0], want, 32);
	assert_memory_equal(s256->pcr[4], want4, 32);
	assert_null(eventlog_pcrs_bank(&p, EVENTLOG_ALG_SHA384));
	eventlog_free(log);
	free(b.p);
}

/* Every truncation of a generated log: an error naming the event being
 * read, never a crash; the exact fit parses. */
static void test_short_by_one_every_prefix(void **state)
{
	struct tbuf b = {0};
	build_basic(&b);
	for (size_t n = 1; n < b.len; n++) {
		struct eventlog *log = NULL;
		struct diag err;
		int e = eventlog_parse(b.p, n, &log, &err);
		if (e == 0) {
			/* Only at a record boundary (or into zero padding). */
			assert_true(log->event_count >= 1);
			eventlog_free(log);
			continue;
		}
		assert_true(e == ATTEST_E_TRUNCATED || e == ATTEST_E_FORMAT);
		assert_null(log);
		assert_non_null(strstr(err.message, "offset"));
		assert_true(err.offset <= n);
	}
	/* Short by one: the last event's data is cut. */
	struct tbuf s = b;
	s.len--;
	size_t last_off = b.len - (12 + 22 + 34 + 4 + 40);
	expect_error(&s, ATTEST_E_TRUNCATED, last_off + 12 + 22 + 34 + 4, 9);
	free(b.p);
}

static void test_trailing(void **state)
{
	struct tbuf b = {0};
	build_basic(&b);
	static const uint8_t zeros[100];
	tb_put(&b, zeros, 100);
	struct eventlog *log = parse_ok(&b);
	assert_int_equal(log->event_count, 10);
	assert_int_equal(log->trailing_bytes, 100);
	eventlog_free(log);
	/* A non-zero byte in the padding is a record that does not parse. */
	size_t end = b.len - 100;
	b.p[b.len - 1] = 1;
	expect_error(&b, ATTEST_E_FORMAT, end + 8, 10); /* PCR 0, type 0, count 0 */
	b.len = end + 3;
	b.p[end + 2] = 7;
	expect_error(&b, ATTEST_E_TRUNCATED, end, 10);
	free(b.p);
}

static void test_caps(void **state)
{
	/* Log size. */
	size_t big = (size_t)EVENTLOG_MAX_SIZE + 1;
	uint8_t *p = calloc(1, big);
	assert_non_null(p);
	struct tbuf b = {p, big, big};
	expect_error(&b, ATTEST_E_LIMIT, 0, 0);
	free(p);

	/* Event data size, checked before reading. */
	struct tbuf c = {0};
	tb_spec_id(&c, &two);
	size_t off = c.len;
	tb_agile(&c, &two, 0, EV_SEPARATOR, sep, 4);
	size_t size_field = off + 12 + 22 + 34;
	uint32_t huge = EVENTLOG_MAX_EVENT_DATA + 1;
	memcpy(c.p + size_field, &huge, 4);
	expect_error(&c, ATTEST_E_LIMIT, size_field, 1);
	free(c.p);

	/* Event count: legacy records of 32 bytes each. */
	struct tbuf rec = {0}, d = {0};
	tb_legacy_h(&rec, 1, EV_POST_CODE, "", 0, NULL, 0);
	assert_int_equal(rec.len, 32);
	for (uint32_t i = 0; i <= EVENTLOG_MAX_EVENTS; i++)
		tb_put(&d, rec.p, rec.len);
	free(rec.p);
	expect_error(&d, ATTEST_E_LIMIT, (size_t)EVENTLOG_MAX_EVENTS * 32, EVENTLOG_MAX_EVENTS);
	d.len -= 32; /* exactly at the cap: fine */
	struct eventlog *log = parse_ok(&d);
	assert_int_equal(log->event_count, EVENTLOG_MAX_EVENTS);
	assert_int_equal(log->format, EVENTLOG_FORMAT_LEGACY_SHA1);
	eventlog_free(log);
	free(d.p);
}

/* Spec ID header variants; data starts at offset 32. */
static void spec_with(struct tbuf *b, uint32_t n, const uint16_t *pairs, uint8_t vendor,
                      size_t extra)
{
	struct tbuf d = {0};
	tb_put(&d, "Spec ID Event03", 16);
	tb_u32(&d, 0);
	tb_u8(&d, 0);
	tb_u8(&d, 2);
	tb_u8(&d, 0);
	tb_u8(&d, 2);
	tb_u32(&d, n);
	for (uint32_t i = 0; i < n && i < 16; i++) {
		tb_u16(&d, pairs[2 * i]);
		tb_u16(&d, pairs[2 * i + 1]);
	}
	tb_u8(&d, vendor);
	for (size_t i = 0; i < extra; i++)
		tb_u8(&d, 0x55);
	static const uint8_t zero[20];
	tb_u32(b, 0);
	tb_u32(b, EV_NO_ACTION);
	tb_put(b, zero, 20);
	tb_u32(b, (uint32_t)d.len);
	tb_put(b, d.p, d.len);
	free(d.p);
}

static void test_bad_spec_header(void **state)
{
	const uint16_t ok[] = {EVENTLOG_ALG_SHA256, 32, EVENTLOG_ALG_SHA1, 20};
	struct tbuf b = {0};

	spec_with(&b, 0, ok, 0, 0);
	expect_error(&b, ATTEST_E_FORMAT, 32 + 24, 0);
	b.len = 0;
	uint16_t nine[18];
	for (int i = 0; i < 9; i++) {
		nine[2 * i] = (uint16_t)(0x7000 + i);
		nine[2 * i + 1] = 32;
	}
	spec_with(&b, 9, nine, 0, 0);
	expect_error(&b, ATTEST_E_LIMIT, 32 + 24, 0);
	b.len = 0;
	const uint16_t dup[] = {EVENTLOG_ALG_SHA256, 32, EVENTLOG_ALG_SHA256, 32};
	spec_with(&b, 2, dup, 0, 0);
	expect_error(&b, ATTEST_E_FORMAT, 32 + 32, 0);
	b.len = 0;
	const uint16_t badsize[] = {EVENTLOG_ALG_SHA256, 20};
	spec_with(&b, 1, badsize, 0, 0);
	expect_error(&b, ATTEST_E_FORMAT, 32 + 30, 0);
	b.len = 0;
	const uint16_t toobig[] = {0x7777, 65};
	spec_with(&b, 1, toobig, 0, 0);
	expect_error(&b, ATTEST_E_LIMIT, 32 + 30, 0);
	b.len = 0;
	const uint16_t zero[] = {0x7777, 0};
	spec_with(&b, 1, zero, 0, 0);
	expect_error(&b, ATTEST_E_FORMAT, 32 + 30, 0);
	b.len = 0;
	spec_with(&b, 2, ok, 5, 0); /* vendor info runs past the data */
	expect_error(&b, ATTEST_E_FORMAT, 32 + 36, 0);
	b.len = 0;
	spec_with(&b, 2, ok, 0, 3); /* bytes after the vendor info */
	expect_error(&b, ATTEST_E_FORMAT, 32 + 37, 0);
	b.len = 0;
	/* Algorithm list cut short: numberOfAlgorithms says 2, room for 1. */
	spec_with(&b, 1, ok, 0, 0);
	b.p[32 + 24] = 2;
	expect_error(&b, ATTEST_E_FORMAT, 32 + 32, 0);
	b.len = 0;
	/* Spec ID on PCR 1. */
	spec_with(&b, 2, ok, 0, 0);
	b.p[0] = 1;
	expect_error(&b, ATTEST_E_FORMAT, 0, 0);
	b.len = 0;
	/* uintnSize 3. */
	spec_with(&b, 2, ok, 0, 0);
	b.p[32 + 23] = 3;
	expect_error(&b, ATTEST_E_FORMAT, 32 + 23, 0);
	/* Fixed part too short. */
	b.len = 0;
	tb_legacy_h(&b, 0, EV_NO_ACTION, "", 0, "Spec ID Event03\0abc", 20);
	expect_error(&b, ATTEST_E_FORMAT, 32, 0);
	free(b.p);
}

static void test_unknown_alg(void **state)
{
	/* A bank we cannot hash parses (declared size) and is left untouched. */
	const struct tbanks bk = {2, {0x7777, EVENTLOG_ALG_SHA256}, {24, 32}};
	struct tbuf b = {0};
	tb_spec_id(&b, &bk);
	tb_agile(&b, &bk, 7, EV_SEPARATOR, sep, 4);
	struct eventlog *log = parse_ok(&b);
	assert_int_equal(log->bank_count, 2);
	assert_int_equal(log->events[1].digests[0].size, 24);
	struct eventlog_pcrs p;
	assert_int_equal(eventlog_replay(log, &p), 0);
	assert_int_equal(p.banks[0].touched, 0);
	assert_int_equal(p.banks[1].touched, 1u << 7);
	assert_null(eventlog_alg_name(0x7777));
	assert_int_equal(eventlog_alg_size(0x7777), 0);
	eventlog_free(log);
	free(b.p);
}

static void test_event_digest_errors(void **state)
{
	struct tbuf b = {0};
	tb_spec_id(&b, &two);
	size_t off = b.len;
	tb_agile(&b, &two, 0, EV_SEPARATOR, sep, 4);

	/* Algorithm not declared in the header. */
	b.p[off + 12] = 0x0c;
	expect_error(&b, ATTEST_E_FORMAT, off + 12, 1);
	/* Same algorithm twice. */
	b.p[off + 12] = 0x0b;
	b.p[off + 12 + 22] = 0x04;
	b.p[off + 12 + 22 + 1] = 0x00;
	/* digest 0 is now sha256 id with 32-byte size; layout shifts, so
	 * rebuild for the duplicate case instead. */
	b.len = off;
	tb_u32(&b, 0);
	tb_u32(&b, EV_SEPARATOR);
	tb_u32(&b, 2);
	uint8_t h[32] = {0};
	tb_u16(&b, EVENTLOG_ALG_SHA1);
	tb_put(&b, h, 20);
	tb_u16(&b, EVENTLOG_ALG_SHA1);
	tb_put(&b, h, 20);
	tb_u32(&b, 0);
	expect_error(&b, ATTEST_E_FORMAT, off + 12 + 22, 1);

	/* More digests than banks; and zero digests on an extended event. */
	b.len = off;
	tb_u32(&b, 0);
	tb_u32(&b, EV_SEPARATOR);
	tb_u32(&b, 3);
	expect_error(&b, ATTEST_E_FORMAT, off + 8, 1);
	b.p[off + 8] = 200;
	expect_error(&b, ATTEST_E_LIMIT, off + 8, 1);
	b.len = off;
	tb_u32(&b, 0);
	tb_u32(&b, EV_SEPARATOR);
	tb_u32(&b, 0);
	tb_u32(&b, 0);
	expect_error(&b, ATTEST_E_FORMAT, off + 8, 1);
	/* ... but an EV_NO_ACTION may carry none. */
	b.p[off + 4] = EV_NO_ACTION;
	struct eventlog *log = parse_ok(&b);
	assert_int_equal(log->events[1].digest_count, 0);
	eventlog_free(log);

	/* A subset of the banks (Windows after boot): parsed, replayed per bank. */
	b.len = off;
	struct tbanks only256 = {1, {EVENTLOG_ALG_SHA256}, {32}};
	tb_agile(&b, &only256, 11, EV_COMPACT_HASH, sep, 4);
	log = parse_ok(&b);
	struct eventlog_pcrs p;
	assert_int_equal(eventlog_replay(log, &p), 0);
	assert_int_equal(eventlog_pcrs_bank(&p, EVENTLOG_ALG_SHA256)->touched, 1u << 11);
	assert_int_equal(eventlog_pcrs_bank(&p, EVENTLOG_ALG_SHA1)->touched, 0);
	eventlog_free(log);

	/* Digest cut short. */
	b.len = off;
	tb_u32(&b, 0);
	tb_u32(&b, EV_SEPARATOR);
	tb_u32(&b, 2);
	tb_u16(&b, EVENTLOG_ALG_SHA1);
	tb_put(&b, h, 10);
	expect_error(&b, ATTEST_E_TRUNCATED, off + 14, 1);
	free(b.p);
}

static void test_pcr_index(void **state)
{
	struct tbuf b = {0};
	tb_spec_id(&b, &two);
	size_t off = b.len;
	tb_agile(&b, &two, 24, EV_SEPARATOR, sep, 4);
	expect_error(&b, ATTEST_E_FORMAT, off, 1);
	b.len = off;
	tb_agile(&b, &two, EVENTLOG_PCR_NONE, EV_SEPARATOR, sep, 4);
	expect_error(&b, ATTEST_E_FORMAT, off, 1);
	/* Windows' trailing EV_NO_ACTION at 0xFFFFFFFF: fine, never extended. */
	b.len = off;
	tb_agile(&b, &two, 3, EV_SEPARATOR, sep, 4);
	tb_agile(&b, &two, EVENTLOG_PCR_NONE, EV_NO_ACTION, "AIK info", 8);
	struct eventlog *log = parse_ok(&b);
	assert_int_equal(log->events[2].pcr, EVENTLOG_PCR_NONE);
	struct eventlog_pcrs p;
	assert_int_equal(eventlog_replay(log, &p), 0);
	assert_int_equal(p.banks[0].touched, 1u << 3);
	eventlog_free(log);
	free(b.p);
}

static void test_startup_locality_and_hcrtm(void **state)
{
	struct tbuf b = {0};
	tb_spec_id(&b, &two);
	size_t loc_off = b.len;
	tb_agile(&b, &two, 0, EV_NO_ACTION, "StartupLocality\0\3", 17);
	tb_agile(&b, &two, 0, EV_SEPARATOR, sep, 4);
	struct eventlog *log = parse_ok(&b);
	assert_true(log->has_startup_locality);
	assert_int_equal(log->startup_locality, 3);
	struct eventlog_pcrs p;
	assert_int_equal(eventlog_replay(log, &p), 0);
	uint8_t want[32] = {0}, d[32];
	want[31] = 3;
	tb_hash(EVENTLOG_ALG_SHA256, 32, sep, 4, d);
	tb_extend(EVENTLOG_ALG_SHA256, 32, want, d);
	assert_memory_equal(eventlog_pcrs_bank(&p, EVENTLOG_ALG_SHA256)->pcr[0], want, 32);
	eventlog_free(log);

	/* A second StartupLocality is an error; so are a bad length and PCR. */
	tb_agile(&b, &two, 0, EV_NO_ACTION, "StartupLocality\0\0", 17);
	expect_error(&b, ATTEST_E_FORMAT, b.len - (12 + 22 + 34 + 4 + 17), 3);
	b.len = loc_off;
	tb_agile(&b, &two, 0, EV_NO_ACTION, "StartupLocality\0\3\3", 18);
	expect_error(&b, ATTEST_E_FORMAT, loc_off, 1);
	b.len = loc_off;
	tb_agile(&b, &two, 2, EV_NO_ACTION, "StartupLocality\0\3", 17);
	expect_error(&b, ATTEST_E_FORMAT, loc_off, 1);

	/* H-CRTM: PCR 0 starts at 4. */
	b.len = loc_off;
	tb_agile(&b, &two, 0, EV_EFI_HCRTM_EVENT, "HCRTM", 5);
	log = parse_ok(&b);
	assert_true(log->has_hcrtm);
	assert_int_equal(eventlog_replay(log, &p), 0);
	memset(want, 0, 32);
	want[31] = 4;
	tb_hash(EVENTLOG_ALG_SHA256, 32, "HCRTM", 5, d);
	tb_extend(EVENTLOG_ALG_SHA256, 32, want, d);
	assert_memory_equal(eventlog_pcrs_bank(&p, EVENTLOG_ALG_SHA256)->pcr[0], want, 32);
	eventlog_free(log);
	free(b.p);
}

static void test_legacy(void **state)
{
	struct tbuf b = {0};
	tb_legacy_h(&b, 0, EV_S_CRTM_VERSION, "v1", 2, "v1", 2);
	tb_legacy_h(&b, 7, EV_SEPARATOR, sep, 4, sep, 4);
	struct eventlog *log = parse_ok(&b);
	assert_int_equal(log->format, EVENTLOG_FORMAT_LEGACY_SHA1);
	assert_int_equal(log->bank_count, 1);
	assert_int_equal(log->event_count, 2);
	struct eventlog_pcrs p;
	assert_int_equal(eventlog_replay(log, &p), 0);
	uint8_t want[20] = {0}, d[20];
	tb_hash(EVENTLOG_ALG_SHA1, 20, "v1", 2, d);
	tb_extend(EVENTLOG_ALG_SHA1, 20, want, d); /* first event is extended */
	assert_memory_equal(p.banks[0].pcr[0], want, 20);
	assert_int_equal(p.banks[0].touched, (1u << 0) | (1u << 7));
	eventlog_free(log);
	/* Truncated legacy record header, digest and data. */
	struct tbuf s = b;
	s.len = 32 + 2 + 5;
	expect_error(&s, ATTEST_E_TRUNCATED, 34, 1);
	s.len = 34 + 8 + 19;
	expect_error(&s, ATTEST_E_TRUNCATED, 34 + 8, 1);
	s.len = 34 + 28 + 2;
	expect_error(&s, ATTEST_E_TRUNCATED, 34 + 28, 1);
	s.len = 34 + 32 + 3;
	expect_error(&s, ATTEST_E_TRUNCATED, 34 + 32, 1);
	free(b.p);
}

static void test_names(void **state)
{
	assert_string_equal(eventlog_type_name(EV_SEPARATOR), "EV_SEPARATOR");
	assert_string_equal(eventlog_type_name(EV_EFI_VARIABLE_AUTHORITY),
	                    "EV_EFI_VARIABLE_AUTHORITY");
	assert_string_equal(eventlog_type_name(EV_EFI_HCRTM_EVENT), "EV_EFI_HCRTM_EVENT");
	assert_string_equal(eventlog_type_name(0x12345), "unknown");
	assert_string_equal(eventlog_alg_name(EVENTLOG_ALG_SM3_256), "sm3_256");
	assert_int_equal(eventlog_alg_size(EVENTLOG_ALG_SHA384), 48);
}

/* Every real log with a .pcrs.json replays to exactly those values. */
static void test_real_logs_replay(void **state)
{
	if (!testutil_have_shared())
		skip();
	DIR *d = opendir(TESTDATA_DIR "/eventlogs");
	assert_non_null(d);
	struct dirent *de;
	int checked = 0;
	while ((de = readdir(d))) {
		size_t nl = strlen(de->d_name);
		if (nl < 11 || strcmp(de->d_name + nl - 10, ".pcrs.json"))
			continue;
		char jpath[512], bpath[512];
		snprintf(jpath, sizeof jpath, "%s/eventlogs/%s", TESTDATA_DIR, de->d_name);
		snprintf(bpath, sizeof bpath, "%s/eventlogs/%.*s.bin", TESTDATA_DIR, (int)(nl - 10),
		         de->d_name);
		json_error_t jerr;
		json_t *want = json_load_file(jpath, 0, &jerr);
		assert_non_null(want);
		size_t len;
		uint8_t *buf = testutil_read_file(bpath, &len);
		assert_non_null(buf);
		struct eventlog *log = NULL;
		struct diag err;
		if (eventlog_parse(buf, len, &log, &err) != 0)
			fail_msg("%s: %s", bpath, err.message);
		struct eventlog_pcrs p;
		assert_int_equal(eventlog_replay(log, &p), 0);
		const char *bank;
		json_t *pcrs;
		json_object_foreach(want, bank, pcrs)
		{
			uint16_t alg = !strcmp(bank, "sha1")      ? EVENTLOG_ALG_SHA1
			               : !strcmp(bank, "sha256")  ? EVENTLOG_ALG_SHA256
			               : !strcmp(bank, "sha384")  ? EVENTLOG_ALG_SHA384
			               : !strcmp(bank, "sm3_256") ? EVENTLOG_ALG_SM3_256
			                                          : 0;
			const struct eventlog_pcr_bank *pb = eventlog_pcrs_bank(&p, alg);
			if (!pb)
				fail_msg("%s: bank %s missing", bpath, bank);
			const char *idx;
			json_t *hexv;
			json_object_foreach(pcrs, idx, hexv)
			{
				char *end;
				unsigned long i = strtoul(idx, &end, 10);
				assert_true(*end == '\0' && i < EVENTLOG_NUM_PCRS);
				char got[2 * EVENTLOG_MAX_DIGEST + 1];
				hex_encode(pb->pcr[i], pb->size, got);
				if (!(pb->touched & (1u << i)) ||
				    strcmp(got, json_string_value(hexv)))
					fail_msg("%s: %s PCR %lu: got %s want %s", bpath, bank, i,
					         got, json_string_value(hexv));
				checked++;
			}
		}
		eventlog_free(log);
		free(buf);
		json_decref(want);
	}
	closedir(d);
	assert_true(checked >= 60);
	printf("checked %d stated PCR values\n", checked);
}

/* Real logs without .pcrs.json parse; the bogus one fails with a message. */
static void test_real_logs_parse(void **state)
{
	if (!testutil_have_shared())
		skip();
	static const char *const good[] = {
	    "lenovo-thinkpad-p51-windows-secureboot.bin",
	    "lenovo-sr645-server-pxe-no-secureboot.bin",
	    "supermicro-server-pxe-secureboot.bin",
	    "qemu-ovmf-ubuntu-secureboot.bin",
	};
	static const size_t counts[] = {59, 47, 60, 106};
	for (size_t i = 0; i < 4; i++) {
		char path[512];
		snprintf(path, sizeof path, "%s/eventlogs/%s", TESTDATA_DIR, good[i]);
		size_t len;
		uint8_t *buf = testutil_read_file(path, &len);
		assert_non_null(buf);
		struct eventlog *log = NULL;
		struct diag err;
		if (eventlog_parse(buf, len, &log, &err) != 0)
			fail_msg("%s: %s", path, err.message);
		assert_int_equal(log->event_count, counts[i]);
		eventlog_free(log);
		free(buf);
	}
	size_t len;
	uint8_t *buf =
	    testutil_read_file(TESTDATA_DIR "/eventlogs/malformed-keylime-bogus-text.bin", &len);
	assert_non_null(buf);
	struct eventlog *log = NULL;
	struct diag err;
	assert_true(eventlog_parse(buf, len, &log, &err) < 0);
	assert_null(log);
	assert_non_null(strstr(err.message, "offset 28"));
	assert_non_null(strstr(err.message, "1919248394")); /* quotes the bad value */
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_agile_ok_and_replay),
	    cmocka_unit_test(test_short_by_one_every_prefix),
	    cmocka_unit_test(test_trailing),
	    cmocka_unit_test(test_caps),
	    cmocka_unit_test(test_bad_spec_header),
	    cmocka_unit_test(test_unknown_alg),
	    cmocka_unit_test(test_event_digest_errors),
	    cmocka_unit_test(test_pcr_index),
	    cmocka_unit_test(test_startup_locality_and_hcrtm),
	    cmocka_unit_test(test_legacy),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_real_logs_replay),
	    cmocka_unit_test(test_real_logs_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
