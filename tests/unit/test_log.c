/* common/log.c: the line format on a terminal and under journald, levels,
 * one line per message, long messages cut. stderr is pointed at a file for
 * each case and read back. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

static char path[] = "/tmp/attest-test-log-XXXXXX";
static int saved_stderr = -1;

/* Point stderr at a fresh temporary file. */
static void capture(void)
{
	memcpy(path + strlen(path) - 6, "XXXXXX", 6); /* mkstemp replaced them */
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	close(fd);
}

/* Restore stderr; return what was written (caller frees). */
static char *captured(void)
{
	assert_true(dup2(saved_stderr, STDERR_FILENO) >= 0);
	close(saved_stderr);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	static char buf[8192];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	unlink(path);
	return strdup(buf);
}

static void test_plain_format_and_levels(void **state)
{
	(void)state;
	unsetenv("JOURNAL_STREAM");
	unsetenv("ATTEST_LOG_LEVEL");
	log_init("attest-test", LOG_LEVEL_INFO);
	capture();
	log_info("host %s: %s", "h1", "green");
	log_debug("not shown at info");
	log_error("two\nlines");
	char *out = captured();
	assert_string_equal(out, "attest-test: host h1: green\nattest-test: two lines\n");
	free(out);
}

static void test_env_level(void **state)
{
	(void)state;
	unsetenv("JOURNAL_STREAM");
	setenv("ATTEST_LOG_LEVEL", "warning", 1);
	log_init("p", LOG_LEVEL_DEBUG);
	capture();
	log_info("dropped");
	log_warning("kept");
	char *out = captured();
	assert_string_equal(out, "p: kept\n");
	free(out);
	unsetenv("ATTEST_LOG_LEVEL");
	assert_int_equal(log_level_parse("debug"), LOG_LEVEL_DEBUG);
	assert_int_equal(log_level_parse("Debug"), -1);
	assert_int_equal(log_level_parse(NULL), -1);
}

/* Under journald: "<N>" priority prefixes, no program name; only while
 * stderr is the stream JOURNAL_STREAM names. */
static void test_journal_prefix(void **state)
{
	(void)state;
	capture();
	struct stat st;
	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	char js[64];
	snprintf(js, sizeof js, "%llu:%llu", (unsigned long long)st.st_dev,
	         (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	log_init("p", LOG_LEVEL_INFO);
	log_error("bad");
	log_info("fine");
	setenv("JOURNAL_STREAM", "1:2", 1); /* another stream: plain lines */
	log_init("p", LOG_LEVEL_INFO);
	log_info("plain");
	setenv("JOURNAL_STREAM", "x:2", 1); /* malformed: plain */
	log_init("p", LOG_LEVEL_INFO);
	log_info("plain2");
	unsetenv("JOURNAL_STREAM");
	char *out = captured();
	assert_string_equal(out, "<3>bad\n<6>fine\np: plain\np: plain2\n");
	free(out);
}

static void test_long_message_cut(void **state)
{
	(void)state;
	unsetenv("JOURNAL_STREAM");
	log_init("p", LOG_LEVEL_INFO);
	char *big = malloc(5000);
	assert_non_null(big);
	memset(big, 'a', 4999);
	big[4999] = '\0';
	capture();
	log_info("%s", big);
	char *out = captured();
	size_t n = strlen(out);
	assert_true(n < 2100);
	assert_int_equal(out[n - 1], '\n');
	assert_memory_equal(out + n - 4, "...", 3);
	assert_int_equal(strchr(out, '\n') - out, (ptrdiff_t)(n - 1)); /* one line */
	free(out);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_format_and_levels),
	    cmocka_unit_test(test_env_level),
	    cmocka_unit_test(test_journal_prefix),
	    cmocka_unit_test(test_long_message_cut),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
