/* common/fileio.c: fileio_write_atomic writes the whole file or nothing, sets
 * the mode exactly, and never follows a symlink planted at its temporary
 * name "PATH.tmp.PID" (an attacker with write access to the directory could
 * otherwise make a secret land in a file of their choosing). Test code: real
 * files in a fresh directory under $TMPDIR. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "err.h"
#include "fileio.h"

struct dirs {
	char dir[256];
};

static int setup(void **state)
{
	struct dirs *d = calloc(1, sizeof *d);
	assert_non_null(d);
	const char *t = getenv("TMPDIR");
	snprintf(d->dir, sizeof d->dir, "%s/attest-fileio-XXXXXX", t && *t ? t : "/tmp");
	assert_non_null(mkdtemp(d->dir));
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct dirs *d = *state;
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->dir);
	assert_int_equal(system(cmd), 0);
	free(d);
	return 0;
}

static void path_in(const struct dirs *d, const char *name, char *out, size_t cap)
{
	assert_true((size_t)snprintf(out, cap, "%s/%s", d->dir, name) < cap);
}

static void tmp_of(const char *path, char *out, size_t cap)
{
	assert_true((size_t)snprintf(out, cap, "%s.tmp.%ld", path, (long)getpid()) < cap);
}

static void assert_content(const char *path, const char *expect)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	assert_int_equal(fileio_read(path, 4096, &buf, &len), 0);
	assert_int_equal(len, strlen(expect));
	assert_memory_equal(buf, expect, len);
	free(buf);
}

static void plant(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void test_write_and_replace(void **state)
{
	struct dirs *d = *state;
	char path[512], tmp[600];
	path_in(d, "state.json", path, sizeof path);
	assert_int_equal(fileio_write_atomic(path, "first", 5, 0640), 0);
	assert_content(path, "first");
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640); /* exactly, whatever the umask */
	assert_int_equal(fileio_write_atomic(path, "second, longer", 14, 0600), 0);
	assert_content(path, "second, longer");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(fileio_write_atomic(path, "", 0, 0644), 0); /* empty file */
	assert_content(path, "");
	tmp_of(path, tmp, sizeof tmp);
	assert_int_equal(access(tmp, F_OK), -1); /* no temporary left */
}

static void test_planted_symlink_not_followed(void **state)
{
	struct dirs *d = *state;
	char path[512], tmp[600], victim[512];
	path_in(d, "agent.key", path, sizeof path);
	path_in(d, "victim", victim, sizeof victim);
	plant(victim, "do not touch");
	tmp_of(path, tmp, sizeof tmp);
	assert_int_equal(symlink(victim, tmp), 0);
	assert_int_equal(fileio_write_atomic(path, "secret", 6, 0600), 0);
	assert_content(victim, "do not touch"); /* the link's target is untouched */
	assert_content(path, "secret");
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(lstat(tmp, &st), -1);

	/* a dangling link to a file the attacker wants created */
	char wanted[512];
	path_in(d, "wanted", wanted, sizeof wanted);
	assert_int_equal(symlink(wanted, tmp), 0);
	assert_int_equal(fileio_write_atomic(path, "again", 5, 0600), 0);
	assert_int_equal(access(wanted, F_OK), -1);
	assert_content(path, "again");
}

static void test_planted_file_replaced(void **state)
{
	struct dirs *d = *state;
	char path[512], tmp[600];
	path_in(d, "token", path, sizeof path);
	tmp_of(path, tmp, sizeof tmp);
	/* a world-readable leftover at the temporary name is not reused */
	plant(tmp, "stale bytes that are longer");
	assert_int_equal(chmod(tmp, 0666), 0);
	assert_int_equal(fileio_write_atomic(path, "tok", 3, 0600), 0);
	assert_content(path, "tok");
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_failures(void **state)
{
	struct dirs *d = *state;
	char path[512];
	path_in(d, "missing-dir/file", path, sizeof path);
	assert_int_equal(fileio_write_atomic(path, "x", 1, 0600), ATTEST_E_IO);
	path_in(d, "missing-dir", path, sizeof path);
	assert_int_equal(access(path, F_OK), -1);

	/* the target is a directory: rename fails, the temporary is removed */
	path_in(d, "adir", path, sizeof path);
	assert_int_equal(mkdir(path, 0700), 0);
	char tmp[600];
	tmp_of(path, tmp, sizeof tmp);
	assert_int_equal(fileio_write_atomic(path, "x", 1, 0600), ATTEST_E_IO);
	assert_int_equal(access(tmp, F_OK), -1);

	/* a path too long for the temporary name */
	char *longpath = malloc(5000);
	assert_non_null(longpath);
	memset(longpath, 'a', 4999);
	longpath[4999] = '\0';
	assert_int_equal(fileio_write_atomic(longpath, "x", 1, 0600), ATTEST_E_ARG);
	free(longpath);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_write_and_replace, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_planted_symlink_not_followed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_planted_file_replaced, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failures, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
