/* verifier/host_policy.c against a real SQLite store: the policy a host is
 * judged by, and the parser's sentence kept when a stored policy no longer
 * parses (it used to be dropped). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "err.h"
#include "host_policy.h"

#define T0 1700000000

struct fx {
	char dir[128], url[200];
	struct store *s;
	int64_t host;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	const char *t = getenv("TMPDIR");
	snprintf(f->dir, sizeof f->dir, "%s/attest-hostpol-XXXXXX", t && *t ? t : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->url, sizeof f->url, "sqlite:%s/v.db", f->dir);
	char *err = NULL;
	assert_int_equal(store_open(f->url, &f->s, &err), 0);
	free(err);
	struct store_host_new h = {
	    .name = "web1", .address = "127.0.0.1:8443", .thumbprint = NULL, .interval_s = 60};
	assert_int_equal(store_host_add(f->s, &h, T0, &f->host), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	store_close(f->s);
	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void assign(struct fx *f, const char *name, const char *body)
{
	int64_t pid = 0;
	assert_int_equal(store_policy_add(f->s, name, body, false, T0, &pid), 0);
	assert_int_equal(store_host_set_policy(f->s, f->host, pid, T0), 0);
}

static void test_builtin_default(void **state)
{
	struct fx *f = *state;
	struct policy *p = NULL;
	struct diag pe;
	memset(&pe, 'x', sizeof pe);
	assert_int_equal(host_policy_load(f->s, f->host, &p, &pe), 0);
	assert_non_null(p);
	assert_string_equal(pe.message, "");
	policy_free(p);
}

static void test_assigned_policy(void **state)
{
	struct fx *f = *state;
	struct policy *d = NULL;
	char *text = NULL;
	assert_int_equal(policy_default(&d), 0);
	assert_int_equal(policy_to_json(d, false, &text), 0);
	policy_free(d);
	assign(f, "base", text);
	free(text);
	struct policy *p = NULL;
	struct diag pe;
	assert_int_equal(host_policy_load(f->s, f->host, &p, &pe), 0);
	assert_non_null(p);
	assert_string_equal(pe.message, "");
	policy_free(p);
}

static void test_parse_error_kept(void **state)
{
	struct fx *f = *state;
	/* stored, then no longer acceptable (e.g. written by another version) */
	assign(f, "odd", "{\"version\":1,\"requirements\":{\"banks\":[\"md5\"]}}");
	struct policy *p = NULL;
	struct diag pe;
	int rc = host_policy_load(f->s, f->host, &p, &pe);
	assert_true(rc < 0);
	assert_null(p);
	if (strstr(pe.message, "banks") == NULL || strstr(pe.message, "md5") == NULL)
		fail_msg("the parser's sentence is not kept: \"%s\"", pe.message);
}

static void test_newer_version_kept(void **state)
{
	struct fx *f = *state;
	assign(f, "future", "{\"version\":2}");
	struct policy *p = NULL;
	struct diag pe;
	assert_true(host_policy_load(f->s, f->host, &p, &pe) < 0);
	assert_null(p);
	if (strstr(pe.message, "version") == NULL)
		fail_msg("the parser's sentence is not kept: \"%s\"", pe.message);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_builtin_default, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_assigned_policy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parse_error_kept, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_newer_version_kept, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
