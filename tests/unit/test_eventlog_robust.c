/* Hostile input: every truncation of every real log and a few thousand
 * deterministic bit flips give an error or a valid parse, never a crash
 * (this runs under ASan/UBSan in make check). Whatever parses also goes
 * through replay, content checks, facts and descriptions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "eventlog.h"
#include "eventlog_facts.h"
#include "testutil.h"

#define FLIPS_PER_LOG 300

static size_t parsed_ok, parse_errors;

static void full_pipeline(const uint8_t *buf, size_t len)
{
	struct eventlog *log = NULL;
	struct diag err;
	int e = eventlog_parse(buf, len, &log, &err);
	if (e < 0) {
		assert_true(e > ATTEST_E__MIN);
		assert_null(log);
		assert_true(err.offset <= len);
		assert_non_null(strstr(err.message, "offset"));
		parse_errors++;
		return;
	}
	parsed_ok++;
	struct eventlog_pcrs p;
	assert_int_equal(eventlog_replay(log, &p), 0);
	struct eventlog_checks *c = NULL;
	struct eventlog_facts *f = NULL;
	assert_int_equal(eventlog_content_check(log, &c), 0);
	assert_int_equal(eventlog_facts_derive(log, c, &f), 0);
	char line[512];
	for (size_t i = 0; i < log->event_count; i++) {
		int n = eventlog_event_describe(&log->events[i], line, sizeof line);
		assert_true(n >= 0 && (size_t)n < sizeof line);
		assert_int_equal(strlen(line), (size_t)n);
	}
	eventlog_facts_free(f);
	eventlog_checks_free(c);
	eventlog_free(log);
}

/* xorshift64: deterministic, so a failure reproduces. */
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void for_each_log(void (*fn)(const char *name, uint8_t *buf, size_t len))
{
	DIR *d = opendir(TESTDATA_DIR "/eventlogs");
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t nl = strlen(de->d_name);
		if (nl < 5 || strcmp(de->d_name + nl - 4, ".bin"))
			continue;
		char path[512];
		snprintf(path, sizeof path, "%s/eventlogs/%s", TESTDATA_DIR, de->d_name);
		size_t len;
		uint8_t *buf = testutil_read_file(path, &len);
		assert_non_null(buf);
		fn(de->d_name, buf, len);
		free(buf);
	}
	closedir(d);
}

static void truncations(const char *name, uint8_t *buf, size_t len)
{
	for (size_t n = 0; n <= len; n++) {
		/* The parser reads only its own exact-size heap copy of the
		 * input, so ASan sees any read past n without another copy. */
		const uint8_t *cut = buf;
		struct eventlog *log = NULL;
		int e = eventlog_parse(cut, n, &log, NULL);
		if (e == 0) {
			/* Cheap path for the many boundary cuts; the full pipeline
			 * runs on a sample and on the whole log. */
			if (n % 97 == 0 || n == len) {
				eventlog_free(log);
				full_pipeline(cut, n);
			} else {
				eventlog_free(log);
			}
		} else {
			assert_null(log);
		}
	}
}

static void flips(const char *name, uint8_t *buf, size_t len)
{
	if (len == 0)
		return;
	for (int i = 0; i < FLIPS_PER_LOG; i++) {
		size_t pos = (size_t)(next() % len);
		uint8_t bit = (uint8_t)(1u << (next() % 8));
		int extra = (int)(next() % 3); /* sometimes flip more than one */
		buf[pos] ^= bit;
		size_t pos2 = (size_t)(next() % len);
		if (extra)
			buf[pos2] ^= 0x80;
		full_pipeline(buf, len);
		buf[pos] ^= bit;
		if (extra)
			buf[pos2] ^= 0x80;
	}
}

static void test_truncations(void **state)
{
	if (!testutil_have_shared())
		skip();
	for_each_log(truncations);
}

static void test_bit_flips(void **state)
{
	if (!testutil_have_shared())
		skip();
	parsed_ok = parse_errors = 0;
	for_each_log(flips);
	printf("bit flips: %zu parsed, %zu rejected\n", parsed_ok, parse_errors);
	assert_true(parsed_ok + parse_errors >= 3000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_truncations),
	    cmocka_unit_test(test_bit_flips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
