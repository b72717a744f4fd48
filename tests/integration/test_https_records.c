/* What a request on a kept-alive connection costs the HTTPS client
 * (common/https_client.c) and server (common/https_server.c), seen from
 * outside. Against a raw OpenSSL server in a thread, the request goes out
 * as one TLS record (not its head and body as two, each a write(2) of its
 * own); a raw OpenSSL client gets each reply as one record too; the client's
 * TLS record buffers (OpenSSL allocations of 16 KB and more, counted
 * through CRYPTO_set_mem_functions on the client's thread) are made once
 * per request, not again at every record and every empty read, and are
 * all freed once the connection is parked. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "https.h"
#include "loopback.h"
#include "tlsid.h"

static char tmpdir[] = "/tmp/attest-https-records-XXXXXX";
static struct tlsid *server_id, *client_id;

/* ------------------------------------------------------------------ */
/* OpenSSL's large allocations on the client's (main) thread           */

#define BIG        16000u /* a TLS record buffer is about 16.7 KB */
#define MAX_BLOCKS 64
static pthread_t main_thread;
static int counting;
static unsigned big_made;
static void *big_live[MAX_BLOCKS];

static void big_keep(void *p)
{
	for (size_t i = 0; i < MAX_BLOCKS; i++)
		if (!big_live[i]) {
			big_live[i] = p;
			return;
		}
}

static void big_note(void *p, size_t n)
{
	if (!p || !counting || n < BIG || !pthread_equal(pthread_self(), main_thread))
		return;
	big_made++;
	big_keep(p);
}

/* Whether p was a counted block (it is not any more). */
static bool big_forget(void *p)
{
	for (size_t i = 0; p && i < MAX_BLOCKS; i++)
		if (big_live[i] == p) {
			big_live[i] = NULL;
			return true;
		}
	return false;
}

static unsigned big_outstanding(void)
{
	unsigned n = 0;
	for (size_t i = 0; i < MAX_BLOCKS; i++)
		n += big_live[i] != NULL;
	return n;
}

static void *m_malloc(size_t n, const char *file, int line)
{
	void *p = malloc(n);
	big_note(p, n);
	return p;
}

static void *m_realloc(void *old, size_t n, const char *file, int line)
{
	bool was = big_forget(old); /* before realloc: old may be freed by it */
	void *p = realloc(old, n);
	if (!p && n != 0 && was)
		big_keep(old); /* still there */
	big_note(p, n);
	return p;
}

static void m_free(void *p, const char *file, int line)
{
	big_forget(p);
	free(p);
}

/* As common/https_tls.c: SSL_free_buffers() is used from OpenSSL 3.0.14,
 * 3.1.6, 3.2.2 and 3.3.1 on (CVE-2024-4741); before, buffers are released
 * after each record as they always were. */
static int free_buffers_safe(void)
{
	unsigned long v = OpenSSL_version_num();
	unsigned long major = v >> 28, minor = (v >> 20) & 0xff, patch = (v >> 4) & 0xff;
	if (major != 3)
		return major > 3;
	return minor == 0   ? patch >= 14
	       : minor == 1 ? patch >= 6
	       : minor == 2 ? patch >= 2
	       : minor == 3 ? patch >= 1
	                    : 1;
}

/* ------------------------------------------------------------------ */
/* A raw TLS server serving one connection                             */

struct srv {
	int lfd;
	uint16_t port;
	int requests;    /* answered */
	int records[4];  /* application-data records each request came in */
	int cur_records; /* of the request being read */
	int done;
};

static void srv_msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
                       SSL *ssl, void *arg)
{
	struct srv *s = arg;
	const uint8_t *b = buf;
	if (!write_p && content_type == SSL3_RT_INNER_CONTENT_TYPE && len >= 1 &&
	    b[0] == SSL3_RT_APPLICATION_DATA)
		s->cur_records++;
}

/* Reads one request (head, then Content-Length bytes of body); 0 at its
 * end, -1 when the client closed or sent something else. */
static int srv_read_request(SSL *ssl)
{
	char buf[4096] = "";
	size_t got = 0;
	char *end = NULL;
	while (!(end = strstr(buf, "\r\n\r\n"))) {
		if (got >= sizeof buf - 1)
			return -1;
		int n = SSL_read(ssl, buf + got, (int)(sizeof buf - 1 - got));
		if (n <= 0)
			return -1;
		got += (size_t)n;
		buf[got] = 0;
	}
	const char *cl = strstr(buf, "Content-Length: ");
	size_t want = cl ? (size_t)strtoul(cl + 16, NULL, 10) : 0;
	size_t have = got - (size_t)(end + 4 - buf);
	while (have < want) {
		int n = SSL_read(ssl, buf, (int)sizeof buf);
		if (n <= 0)
			return -1;
		have += (size_t)n;
	}
	return 0;
}

static void *srv_thread(void *arg)
{
	struct srv *s = arg;
	int fd = accept(s->lfd, NULL, NULL);
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX_use_certificate(ctx, server_id->cert);
	SSL_CTX_use_PrivateKey(ctx, server_id->key);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	SSL_set_msg_callback(ssl, srv_msg_cb);
	SSL_set_msg_callback_arg(ssl, s);
	static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	                             "Content-Length: 2\r\nKeep-Alive: timeout=30\r\n\r\n{}";
	if (fd >= 0 && SSL_accept(ssl) == 1) {
		while (s->requests < 4) {
			s->cur_records = 0;
			if (srv_read_request(ssl) < 0)
				break;
			s->records[s->requests] = s->cur_records;
			if (SSL_write(ssl, answer, (int)sizeof answer - 1) <= 0)
				break;
			s->requests++;
		}
	}
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	if (fd >= 0)
		close(fd);
	s->done = 1;
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Client side                                                         */

static void tick(evutil_socket_t fd, short what, void *arg)
{
}

static void run_until(struct event_base *base, const int *flag, unsigned ms)
{
	struct event *t = event_new(base, -1, EV_PERSIST, tick, NULL);
	struct timeval tv = {0, 10000};
	event_add(t, &tv);
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (*flag)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 > ms)
			break;
		event_base_loop(base, EVLOOP_ONCE);
	}
	event_free(t);
}

struct res {
	int done, error, status;
};

static void on_done(const struct https_result *r, void *arg)
{
	struct res *x = arg;
	x->done = 1;
	x->error = r->error;
	x->status = r->status;
}

static void test_kept_request(void **state)
{
	struct srv s = {0};
	s.lfd = loopback_listener(&s.port);
	pthread_t th;
	pthread_create(&th, NULL, srv_thread, &s);

	struct event_base *base = event_base_new();
	struct https_client *cli = NULL;
	assert_int_equal(https_client_new(base, client_id, NULL, &cli, NULL, 0), 0);
	https_client_set_keepalive(cli, 4, 10000);
	static const char body[] = "{\"nonce\":\"00112233445566778899aabbccddeeff\"}";
	struct https_call call = {
	    .host = "127.0.0.1",
	    .port = s.port,
	    .method = "POST",
	    .path = "/v1/quote",
	    .body = body,
	    .body_len = sizeof body - 1,
	    .verify = HTTPS_VERIFY_PIN,
	    .pin = server_id->thumbprint,
	};
	struct res r[3] = {{0}};
	for (int i = 0; i < 3; i++) {
		if (i == 2) { /* the third: on a kept connection, counted */
			counting = 1;
			big_made = 0;
		}
		assert_int_equal(https_client_request(cli, &call, on_done, &r[i]), 0);
		run_until(base, &r[i].done, 5000);
		counting = 0;
		assert_true(r[i].done);
		assert_int_equal(r[i].error, HTTPS_OK);
		assert_int_equal(r[i].status, 200);
	}
	struct https_client_stats st;
	https_client_get_stats(cli, &st);
	assert_int_equal(st.connections, 1);
	assert_int_equal(st.reused, 2);
	assert_int_equal(st.idle, 1);
	print_message("records per request: %d %d %d; 16 KB+ blocks made by the third: %u, "
	              "still held when parked: %u\n",
	              s.records[0], s.records[1], s.records[2], big_made, big_outstanding());
	/* head and body in one record on the kept connection */
	assert_int_equal(s.records[1], 1);
	assert_int_equal(s.records[2], 1);
	/* one write buffer and one read buffer at most, and none kept idle
	 * (where the client may free buffers: https_tls.c) */
	if (free_buffers_safe()) {
		assert_true(big_made <= 2);
		assert_int_equal(big_outstanding(), 0);
	}

	https_client_free(cli);
	run_until(base, &s.done, 3000);
	pthread_join(th, NULL);
	close(s.lfd);
	event_base_free(base);
	(void)state;
}

/* The other way: a reply of our server on a kept connection comes as one
 * TLS record, head and body, to a raw OpenSSL client (in a thread). */
struct rawcli {
	uint16_t port;
	int records[3]; /* application-data records of each reply */
	int cur;
	int replies, done;
};

static void cli_msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
                       SSL *ssl, void *arg)
{
	struct rawcli *x = arg;
	const uint8_t *b = buf;
	if (!write_p && content_type == SSL3_RT_INNER_CONTENT_TYPE && len >= 1 &&
	    b[0] == SSL3_RT_APPLICATION_DATA)
		x->cur++;
}

static void *rawcli_thread(void *arg)
{
	struct rawcli *x = arg;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(x->port)};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_use_certificate(ctx, client_id->cert);
	SSL_CTX_use_PrivateKey(ctx, client_id->key);
	SSL *ssl = SSL_new(ctx);
	SSL_set_msg_callback(ssl, cli_msg_cb);
	SSL_set_msg_callback_arg(ssl, x);
	static const char req[] = "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
	                          "Content-Type: application/json\r\n\r\n{}";
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && SSL_set_fd(ssl, fd) == 1 &&
	    SSL_connect(ssl) == 1) {
		for (int i = 0; i < 3; i++) {
			if (SSL_write(ssl, req, (int)sizeof req - 1) <= 0)
				break;
			/* the session ticket comes before the first answer: not counted */
			x->cur = 0;
			char buf[4096] = "";
			size_t got = 0;
			const char *end = NULL, *cl = NULL;
			while (got < sizeof buf - 1) {
				int n = SSL_read(ssl, buf + got, (int)(sizeof buf - 1 - got));
				if (n <= 0)
					break;
				got += (size_t)n;
				buf[got] = 0;
				if ((end = strstr(buf, "\r\n\r\n")) &&
				    (cl = strstr(buf, "Content-Length: ")) &&
				    got - (size_t)(end + 4 - buf) >= strtoul(cl + 16, NULL, 10))
					break;
			}
			if (!end || !strstr(buf, "HTTP/1.1 200"))
				break;
			x->records[i] = x->cur;
			x->replies++;
		}
	}
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	close(fd);
	x->done = 1;
	return NULL;
}

static void h_echo(struct https_request *req, void *arg)
{
	const uint8_t *body;
	size_t len;
	https_request_body(req, &body, &len);
	https_reply_json(req, 200,
	                 json_pack("{s:I,s:s}", "len", (json_int_t)len, "pad",
	                           "a reply body of some size, as an agent's is"));
}

static void test_reply_one_record(void **state)
{
	struct event_base *base = event_base_new();
	struct https_server_config cfg = {
	    .listen = "127.0.0.1:0",
	    .identity = server_id,
	    .client_cert = HTTPS_CLIENT_CERT_REQUIRED,
	    .keepalive_ms = 10000,
	};
	struct https_server *srv = NULL;
	char err[256];
	assert_int_equal(https_server_new(base, &cfg, &srv, err, sizeof err), 0);
	assert_int_equal(https_server_route(srv, "POST", "/v1/echo", h_echo, NULL), 0);
	struct rawcli x = {.port = https_server_port(srv)};
	pthread_t th;
	pthread_create(&th, NULL, rawcli_thread, &x);
	run_until(base, &x.done, 5000);
	pthread_join(th, NULL);
	print_message("records per reply: %d %d %d\n", x.records[0], x.records[1], x.records[2]);
	assert_int_equal(x.replies, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(x.records[i], 1);
	https_server_free(srv);
	event_base_free(base);
	(void)state;
}

static int setup(void **state)
{
	if (!mkdtemp(tmpdir))
		return -1;
	const char *sans[] = {"localhost", "127.0.0.1", NULL};
	char err[256];
	if (tlsid_load_or_create(tmpdir, "server", sans, &server_id, err, sizeof err) < 0 ||
	    tlsid_load_or_create(tmpdir, "client", NULL, &client_id, err, sizeof err) < 0) {
		fprintf(stderr, "identity: %s\n", err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	tlsid_free(server_id);
	tlsid_free(client_id);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	main_thread = pthread_self();
	/* before OpenSSL allocates anything */
	if (!CRYPTO_set_mem_functions(m_malloc, m_realloc, m_free)) {
		fprintf(stderr, "CRYPTO_set_mem_functions refused\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kept_request),
	    cmocka_unit_test(test_reply_one_record),
	};
	return cmocka_run_group_tests_name("https_records", tests, setup, teardown);
}
