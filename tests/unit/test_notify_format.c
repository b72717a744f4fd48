/* verifier/notify_format.c: target addresses accepted and refused, the
 * webhook signature (RFC 4231 HMAC-SHA256 vector), the RFC 5424 message and
 * its RFC 6587 octet-counting frame, and which HTTP answers are retried. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "err.h"
#include "notify_format.h"

static void test_url_accepts(void **state)
{
	(void)state;
	struct notify_url u;
	char msg[128];
	assert_int_equal(notify_url_parse("https://hooks.example.com/a/b?x=1", &u, msg, sizeof msg),
	                 0);
	assert_int_equal(u.scheme, NOTIFY_HTTPS);
	assert_string_equal(u.host, "hooks.example.com");
	assert_int_equal(u.port, 443);
	assert_string_equal(u.path, "/a/b?x=1");
	assert_int_equal(notify_url_parse("https://[::1]:8443", &u, msg, sizeof msg), 0);
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 8443);
	assert_string_equal(u.path, "/");
	assert_int_equal(notify_url_parse("unix:/dev/log", &u, msg, sizeof msg), 0);
	assert_int_equal(u.scheme, NOTIFY_UNIX);
	assert_string_equal(u.path, "/dev/log");
	assert_int_equal(notify_url_parse("tcp://10.0.0.5:514", &u, msg, sizeof msg), 0);
	assert_int_equal(u.scheme, NOTIFY_TCP);
	assert_int_equal(u.port, 514);
	assert_int_equal(notify_url_parse("tls://[2001:db8::1]:6514", &u, msg, sizeof msg), 0);
	assert_int_equal(u.scheme, NOTIFY_TLS);
	assert_string_equal(u.host, "2001:db8::1");
}

static void refused(const char *url, const char *want)
{
	struct notify_url u;
	char msg[128] = "";
	assert_int_equal(notify_url_parse(url, &u, msg, sizeof msg), ATTEST_E_ARG);
	if (!strstr(msg, want))
		fail_msg("%s: \"%s\" does not say \"%s\"", url, msg, want);
}

static void test_url_refuses(void **state)
{
	(void)state;
	refused("http://example.com/", "plain http");
	refused("ftp://example.com/", "must start with");
	refused("https://user:pw@example.com/", "user info");
	refused("https://example.com/#frag", "fragment");
	refused("https://example.com:0/", "port");
	refused("https://example.com:65536/", "port");
	refused("https://exa mple.com/", "space");
	refused("https://", "host is empty");
	refused("https://exa_mple.com/", "character");
	refused("tcp://collector.example:514", "IP address");
	refused("tcp://10.0.0.5", "PORT");
	refused("tcp://10.0.0.5:514/x", "no path");
	refused("unix:dev/log", "absolute");
	refused("https://[::1", "unclosed");
	refused("", "empty");
}

static void test_sign(void **state)
{
	(void)state;
	char sig[NOTIFY_SIGNATURE_SIZE];
	static const char data[] = "what do ya want for nothing?";
	assert_int_equal(notify_sign((const uint8_t *)"Jefe", 4, data, strlen(data), sig), 0);
	assert_string_equal(
	    sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_syslog(void **state)
{
	(void)state;
	char *m = NULL;
	size_t n = 0;
	const char *body = "{\"at\":1796554835,\"event\":\"alarm raised\",\"host\":\"web-1\","
	                   "\"idempotency_key\":\"k1\",\"kind\":\"alarm\",\"trust\":\"red\","
	                   "\"reasons\":[{\"code\":\"A\"},{\"code\":\"B\"}],"
	                   "\"address\":\"x\\\"]\"}";
	static const char want[] =
	    "<26>1 2026-12-06T11:00:35Z vhost attest-verifier - alarm [attest@32473 key=\"k1\" "
	    "kind=\"alarm\" host=\"web-1\" event=\"alarm raised\" trust=\"red\" reasons=\"A,B\"] "
	    "web-1: alarm raised, trust red";
	assert_int_equal(notify_syslog_message(body, "vhost", 0, &m, &n), 0);
	assert_string_equal(m, want);
	assert_int_equal(n, strlen(want));
	free(m);
	assert_int_equal(notify_syslog_message(body, "vhost", 1, &m, &n), 0);
	char framed[512];
	snprintf(framed, sizeof framed, "%zu %s", strlen(want), want);
	assert_string_equal(m, framed);
	assert_int_equal(n, strlen(framed));
	free(m);
	/* Values are escaped, a host name with a space becomes "-". */
	assert_int_equal(notify_syslog_message("{\"kind\":\"host\",\"host\":\"a\\\"b]c\\\\\"}",
	                                       "bad host", 0, &m, &n),
	                 0);
	assert_non_null(strstr(m, "host=\"a\\\"b\\]c\\\\\""));
	assert_non_null(strstr(m, "<30>1 - - attest-verifier"));
	free(m);
	assert_int_equal(notify_syslog_message("[1]", NULL, 0, &m, &n), ATTEST_E_FORMAT);
	assert_int_equal(notify_syslog_message("not json", NULL, 0, &m, &n), ATTEST_E_FORMAT);
}

static void test_http_class(void **state)
{
	(void)state;
	assert_int_equal(notify_http_class(200), 0);
	assert_int_equal(notify_http_class(204), 0);
	assert_int_equal(notify_http_class(400), 2);
	assert_int_equal(notify_http_class(404), 2);
	assert_int_equal(notify_http_class(408), 1);
	assert_int_equal(notify_http_class(429), 1);
	assert_int_equal(notify_http_class(500), 1);
	assert_int_equal(notify_http_class(503), 1);
	assert_int_equal(notify_http_class(301), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_url_accepts), cmocka_unit_test(test_url_refuses),
	    cmocka_unit_test(test_sign),        cmocka_unit_test(test_syslog),
	    cmocka_unit_test(test_http_class),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
