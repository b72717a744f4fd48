/* The HTTPS + mutual-TLS transport (common/https*.c, common/tlsid.c) against
 * itself and against raw OpenSSL clients, on loopback only, with ephemeral
 * ports. Every identity lives in a fresh mkdtemp directory. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "err.h"
#include "https.h"
#include "loopback.h"
#include "tlsid.h"

static char tmpdir[] = "/tmp/attest-https-XXXXXX";
static struct tlsid *server_id, *client_id, *other_id;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
}

/* Run the loop until *flag becomes non-zero or ms pass. */
static void run_until(struct event_base *base, const int *flag, unsigned ms)
{
	struct event *t = event_new(base, -1, EV_PERSIST, tick, NULL);
	struct timeval tv = {0, 10000};
	event_add(t, &tv);
	double end = now_s() + ms / 1000.0;
	while (!*flag && now_s() < end)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(t);
}

/* ------------------------------------------------------------------ */
/* A server with a few routes                                          */

struct srvctx {
	int calls;
};

static void h_echo(struct https_request *req, void *arg)
{
	struct srvctx *s = arg;
	s->calls++;
	const uint8_t *body;
	size_t len;
	https_request_body(req, &body, &len);
	const char *tp = https_request_peer_thumbprint(req);
	const char *tok = https_request_bearer(req);
	const char *q = https_request_query(req, "x");
	https_reply_json(req, 200,
	                 json_pack("{s:s?,s:I,s:s,s:s,s:s?,s:s?}", "peer", tp, "len",
	                           (json_int_t)len, "method", https_request_method(req), "rest",
	                           https_request_path_rest(req), "token", tok, "x", q));
}

static void h_ping(struct https_request *req, void *arg)
{
	struct srvctx *s = arg;
	s->calls++;
	https_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
}

static unsigned next_keepalive_ms; /* keepalive_ms of the next start_server */

static struct https_server *start_server(struct event_base *base, struct srvctx *sc,
                                         const char *listen, enum https_client_cert mode,
                                         size_t max_body, unsigned timeout_ms, unsigned max_conn)
{
	struct https_server_config cfg = {
	    .listen = listen,
	    .identity = server_id,
	    .client_cert = mode,
	    .max_body = max_body,
	    .timeout_ms = timeout_ms,
	    .max_connections = max_conn,
	    .keepalive_ms = next_keepalive_ms,
	};
	next_keepalive_ms = 0;
	struct https_server *srv = NULL;
	char err[256];
	int rc = https_server_new(base, &cfg, &srv, err, sizeof err);
	if (rc < 0) {
		print_message("server on %s: %s\n", listen, err);
		return NULL;
	}
	assert_int_equal(https_server_route(srv, "POST", "/v1/echo", h_echo, sc), 0);
	assert_int_equal(https_server_route(srv, "GET", "/v1/ping", h_ping, sc), 0);
	assert_int_equal(https_server_route(srv, "GET", "/v1/things/", h_echo, sc), 0);
	assert_true(https_server_port(srv) > 0);
	return srv;
}

/* ------------------------------------------------------------------ */
/* Client results                                                      */

struct res {
	int done;
	int error;
	int status;
	char msg[512];
	char thumb[TLSID_THUMBPRINT_SIZE];
	char body[4096];
	int *counter; /* counts completions when set */
};

static void on_done(const struct https_result *r, void *arg)
{
	struct res *x = arg;
	x->done = 1;
	x->error = r->error;
	x->status = r->status;
	snprintf(x->msg, sizeof x->msg, "%s", r->message);
	snprintf(x->thumb, sizeof x->thumb, "%s", r->peer_thumbprint ? r->peer_thumbprint : "");
	snprintf(x->body, sizeof x->body, "%.*s", (int)(r->body_len < 4000 ? r->body_len : 4000),
	         (const char *)r->body);
	if (x->counter)
		(*x->counter)++;
}

static void do_call(struct event_base *base, struct https_client *cli, struct https_call *call,
                    struct res *out)
{
	memset(out, 0, sizeof *out);
	assert_int_equal(https_client_request(cli, call, on_done, out), 0);
	run_until(base, &out->done, 10000);
	assert_true(out->done);
}

/* ------------------------------------------------------------------ */
/* Raw TLS client in a thread (for malformed or slow behaviour)        */

struct raw {
	uint16_t port;
	int tls;
	const struct tlsid *id; /* client certificate or NULL */
	const char *send;       /* bytes to send after the handshake, or NULL */
	const char *src;        /* source address (127.0.0.X), or NULL: 127.0.0.1 */
	char out[8192];
	size_t outlen;
	int handshake_ok;
	double elapsed; /* from connect to the server closing */
	int done;
};

static void *raw_thread(void *arg)
{
	struct raw *r = arg;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(r->port)};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	double t0 = now_s();
	if (r->src) {
		struct sockaddr_in src = {.sin_family = AF_INET};
		inet_pton(AF_INET, r->src, &src.sin_addr);
		if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0)
			goto out;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		goto out;
	if (!r->tls) {
		if (r->send)
			(void)!write(fd, r->send, strlen(r->send));
		char buf[512];
		while (read(fd, buf, sizeof buf) > 0)
			;
		goto out;
	}
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (r->id) {
		SSL_CTX_use_certificate(ctx, r->id->cert);
		SSL_CTX_use_PrivateKey(ctx, r->id->key);
	}
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) == 1) {
		r->handshake_ok = 1;
		if (r->send)
			SSL_write(ssl, r->send, (int)strlen(r->send));
		int n;
		while ((n = SSL_read(ssl, r->out + r->outlen,
		                     (int)(sizeof r->out - 1 - r->outlen))) > 0)
			r->outlen += (size_t)n;
		r->out[r->outlen] = 0;
	}
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	ERR_clear_error();
out:
	r->elapsed = now_s() - t0;
	close(fd);
	r->done = 1;
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */

static void test_identity(void **state)
{
	char dir[512], path[600], err[512];
	snprintf(dir, sizeof dir, "%s/id", tmpdir);
	const char *sans[] = {"localhost", "127.0.0.1", "::1", NULL};
	struct tlsid *a = NULL, *b = NULL;
	assert_int_equal(tlsid_load_or_create(dir, "agent", sans, &a, err, sizeof err), 0);
	assert_int_equal(a->created, 1);
	struct stat st;
	snprintf(path, sizeof path, "%s/agent.key", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* Thumbprint format: SHA256: + 64 lowercase hex. */
	assert_int_equal(strlen(a->thumbprint), TLSID_THUMBPRINT_LEN);
	assert_memory_equal(a->thumbprint, "SHA256:", 7);
	for (int i = 7; i < TLSID_THUMBPRINT_LEN; i++)
		assert_non_null(strchr("0123456789abcdef", a->thumbprint[i]));
	/* Certificate contents. */
	assert_int_equal(X509_get_version(a->cert), X509_VERSION_3);
	assert_int_equal(X509_check_host(a->cert, "localhost", 0, 0, NULL), 1);
	assert_int_equal(X509_check_ip_asc(a->cert, "127.0.0.1", 0), 1);
	assert_int_equal(X509_check_ip_asc(a->cert, "::1", 0), 1);
	assert_int_equal(X509_check_ip_asc(a->cert, "127.0.0.2", 0), 0);
	assert_int_equal(X509_get_signature_nid(a->cert), NID_ecdsa_with_SHA256);
	assert_int_equal(EVP_PKEY_get_bits(a->key), 256);
	char cn[128];
	X509_NAME_get_text_by_NID(X509_get_subject_name(a->cert), NID_commonName, cn, sizeof cn);
	assert_string_equal(cn, "agent");
	assert_true(
	    ASN1_TIME_cmp_time_t(X509_get0_notAfter(a->cert), time(NULL) + 9L * 365 * 86400) > 0);

	/* Reloaded identical. */
	assert_int_equal(tlsid_load_or_create(dir, "agent", sans, &b, err, sizeof err), 0);
	assert_int_equal(b->created, 0);
	assert_string_equal(a->thumbprint, b->thumbprint);
	assert_int_equal(EVP_PKEY_eq(a->key, b->key), 1);
	tlsid_free(b);
	b = NULL;

	/* Key readable by group: refused, and the message says why. */
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(tlsid_load_or_create(dir, "agent", sans, &b, err, sizeof err),
	                 ATTEST_E_STATE);
	assert_null(b);
	assert_non_null(strstr(err, "group or others"));
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(tlsid_load_or_create(dir, "agent", sans, &b, err, sizeof err),
	                 ATTEST_E_STATE);
	assert_int_equal(chmod(path, 0600), 0);

	/* Certificate without its key: refused, nothing replaced. */
	char moved[700];
	snprintf(moved, sizeof moved, "%s.moved", path);
	assert_int_equal(rename(path, moved), 0);
	assert_int_equal(tlsid_load_or_create(dir, "agent", sans, &b, err, sizeof err),
	                 ATTEST_E_NOTFOUND);
	assert_non_null(strstr(err, "missing"));
	assert_int_equal(rename(moved, path), 0);

	/* Key without certificate (start interrupted): same key, new cert. */
	char crt[600];
	snprintf(crt, sizeof crt, "%s/agent.crt", dir);
	assert_int_equal(unlink(crt), 0);
	assert_int_equal(tlsid_load_or_create(dir, "agent", sans, &b, err, sizeof err), 0);
	assert_int_equal(EVP_PKEY_eq(a->key, b->key), 1);
	assert_string_not_equal(a->thumbprint, b->thumbprint);
	tlsid_free(b);

	/* Names that would escape the directory are refused. */
	assert_int_equal(tlsid_load_or_create(dir, "../x", NULL, &b, err, sizeof err),
	                 ATTEST_E_ARG);
	assert_int_equal(tlsid_load_or_create(dir, "", NULL, &b, err, sizeof err), ATTEST_E_ARG);
	tlsid_free(a);
}

static void test_thumbprint_parse(void **state)
{
	char out[TLSID_THUMBPRINT_SIZE], canon[TLSID_THUMBPRINT_SIZE], text[200];
	const char *tp = server_id->thumbprint;
	assert_int_equal(tlsid_thumbprint_parse(tp, out), 0);
	assert_string_equal(out, tp);
	snprintf(canon, sizeof canon, "%s", tp);
	/* Upper case, prefix in lower case, no prefix, colon pairs. */
	for (size_t i = 0; text[i] = (char)(i < 7 ? tp[i] : (tp[i] >= 'a' ? tp[i] - 32 : tp[i])),
	            i < TLSID_THUMBPRINT_LEN;
	     i++)
		;
	assert_int_equal(tlsid_thumbprint_parse(text, out), 0);
	assert_string_equal(out, canon);
	snprintf(text, sizeof text, "sha256:%s", tp + 7);
	assert_int_equal(tlsid_thumbprint_parse(text, out), 0);
	assert_string_equal(out, canon);
	assert_int_equal(tlsid_thumbprint_parse(tp + 7, out), 0);
	assert_string_equal(out, canon);
	size_t k = 0;
	for (int i = 0; i < 32; i++) {
		if (i)
			text[k++] = ':';
		text[k++] = (char)(tp[7 + 2 * i] >= 'a' ? tp[7 + 2 * i] - 32 : tp[7 + 2 * i]);
		text[k++] = (char)(tp[8 + 2 * i] >= 'a' ? tp[8 + 2 * i] - 32 : tp[8 + 2 * i]);
	}
	text[k] = 0;
	assert_int_equal(tlsid_thumbprint_parse(text, out), 0);
	assert_string_equal(out, canon);
	/* Refused: short, long, non-hex, other algorithm, spaces. */
	memset(out, 'Z', sizeof out);
	snprintf(text, sizeof text, "%.70s", tp);
	assert_int_equal(tlsid_thumbprint_parse(text, out), ATTEST_E_FORMAT);
	assert_int_equal(out[0], 'Z'); /* untouched on failure */
	snprintf(text, sizeof text, "%s0", tp);
	assert_int_equal(tlsid_thumbprint_parse(text, out), ATTEST_E_FORMAT);
	snprintf(text, sizeof text, "%s", tp);
	text[20] = 'g';
	assert_int_equal(tlsid_thumbprint_parse(text, out), ATTEST_E_FORMAT);
	snprintf(text, sizeof text, "SHA1:%s", tp + 7);
	assert_int_equal(tlsid_thumbprint_parse(text, out), ATTEST_E_FORMAT);
	snprintf(text, sizeof text, " %s", tp);
	assert_int_equal(tlsid_thumbprint_parse(text, out), ATTEST_E_FORMAT);
	assert_int_equal(tlsid_thumbprint_parse(NULL, out), ATTEST_E_FORMAT);
	assert_true(tlsid_thumbprint_equal(tp, canon));
	assert_false(tlsid_thumbprint_equal(tp, client_id->thumbprint));
}

/* Kept-alive client connections: reused per (host, port, pin), never for
 * another pin, dropped when the server closes them, freed with the client. */
static void test_keepalive(void **state)
{
	struct event_base *base = event_base_new();
	struct srvctx sc = {0};
	/* the server closes an idle connection after 600 ms */
	struct https_server *srv =
	    start_server(base, &sc, "127.0.0.1:0", HTTPS_CLIENT_CERT_REQUIRED, 0, 600, 0);
	assert_non_null(srv);
	struct https_client *cli = NULL;
	assert_int_equal(https_client_new(base, client_id, NULL, &cli, NULL, 0), 0);
	https_client_set_keepalive(cli, 4, 5000);
	struct https_call call = {
	    .host = "127.0.0.1",
	    .port = https_server_port(srv),
	    .path = "/v1/ping",
	    .verify = HTTPS_VERIFY_PIN,
	    .pin = server_id->thumbprint,
	    .retry_safe = true,
	};
	struct res r;
	for (int i = 0; i < 3; i++) {
		do_call(base, cli, &call, &r);
		assert_int_equal(r.error, HTTPS_OK);
		assert_int_equal(r.status, 200);
		assert_string_equal(r.thumb, server_id->thumbprint);
	}
	struct https_client_stats st;
	https_client_get_stats(cli, &st);
	assert_int_equal(st.requests, 3);
	assert_int_equal(st.connections, 1);
	assert_int_equal(st.reused, 2);
	assert_int_equal(st.idle, 1);
	assert_int_equal(https_server_connections(srv), 1);

	/* Another pin for the same address never takes the parked connection:
	 * a new handshake, where the pin is refused. */
	call.pin = other_id->thumbprint;
	do_call(base, cli, &call, &r);
	assert_int_equal(r.error, HTTPS_E_PIN);
	https_client_get_stats(cli, &st);
	assert_int_equal(st.connections, 2);
	assert_int_equal(st.reused, 2);

	/* The server closes the idle connection: the next request still gets
	 * its answer, on a new connection. */
	call.pin = server_id->thumbprint;
	int never = 0;
	run_until(base, &never, 1200);
	assert_int_equal(https_server_connections(srv), 0);
	do_call(base, cli, &call, &r);
	assert_int_equal(r.error, HTTPS_OK);
	assert_int_equal(r.status, 200);
	https_client_get_stats(cli, &st);
	assert_int_equal(st.connections, 3);
	assert_true(st.peer_closed + st.retried >= 1);

	/* Without keep-alive: a connection per request, "Connection: close". */
	https_client_set_keepalive(cli, 0, 0);
	https_client_get_stats(cli, &st);
	assert_int_equal(st.idle, 0);
	do_call(base, cli, &call, &r);
	assert_int_equal(r.error, HTTPS_OK);
	https_client_get_stats(cli, &st);
	assert_int_equal(st.connections, 4);
	assert_int_equal(st.idle, 0);

	/* Resumed sessions: no certificate exchange, the same peers seen on
	 * both sides (the server still gets our certificate's thumbprint). */
	https_client_set_resumption(cli, 8);
	call.method = "POST";
	call.path = "/v1/echo";
	call.body = "{}";
	call.body_len = 2;
	for (int i = 0; i < 3; i++) {
		do_call(base, cli, &call, &r);
		assert_int_equal(r.error, HTTPS_OK);
		assert_int_equal(r.status, 200);
		assert_string_equal(r.thumb, server_id->thumbprint);
		json_t *j = json_loads(r.body, 0, NULL);
		assert_non_null(j);
		assert_string_equal(json_string_value(json_object_get(j, "peer")),
		                    client_id->thumbprint);
		json_decref(j);
	}
	https_client_get_stats(cli, &st);
	assert_int_equal(st.connections, 7);
	assert_int_equal(st.resumed, 2);
	/* another pin: the session is not offered, the pin refuses the server */
	call.pin = other_id->thumbprint;
	do_call(base, cli, &call, &r);
	assert_int_equal(r.error, HTTPS_E_PIN);
	https_client_get_stats(cli, &st);
	assert_int_equal(st.resumed, 2);
	call.pin = server_id->thumbprint;
	call.method = NULL;
	call.path = "/v1/ping";
	call.body = NULL;
	call.body_len = 0;

	/* Freed with a parked connection. */
	https_client_set_keepalive(cli, 4, 0);
	do_call(base, cli, &call, &r);
	https_client_get_stats(cli, &st);
	assert_int_equal(st.idle, 1);
	https_client_free(cli);
	https_server_free(srv);
	event_base_free(base);
	(void)state;
}

/* Kept connections and resumption together (the verifier's setting): a
 * parked connection stands for its peer's TLS session, so no serialized
 * copy is kept beside it; the copy is made again from the connection when
 * the client closes it, and the next connection resumes with it. */
static void test_keepalive_session(void **state)
{
	struct event_base *base = event_base_new();
	struct https_server_config cfg = {
	    .listen = "127.0.0.1:0",
	    .identity = server_id,
	    .client_cert = HTTPS_CLIENT_CERT_REQUIRED,
	    .session_cache = 16, /* as attest-agent */
	};
	struct https_server *srv = NULL;
	char err[256];
	assert_int_equal(https_server_new(base, &cfg, &srv, err, sizeof err), 0);
	struct srvctx sc = {0};
	assert_int_equal(https_server_route(srv, "GET", "/v1/ping", h_ping, &sc), 0);
	struct https_client *cli = NULL;
	assert_int_equal(https_client_new(base, client_id, NULL, &cli, NULL, 0), 0);
	https_client_set_keepalive(cli, 4, 5000);
	https_client_set_resumption(cli, 8);
	struct https_call call = {.host = "127.0.0.1",
	                          .port = https_server_port(srv),
	                          .path = "/v1/ping",
	                          .verify = HTTPS_VERIFY_PIN,
	                          .pin = server_id->thumbprint};
	struct res r;
	struct https_client_stats st;
	for (int round = 0; round < 2; round++) {
		do_call(base, cli, &call, &r);
		assert_int_equal(r.error, HTTPS_OK);
		assert_int_equal(r.status, 200);
		assert_string_equal(r.thumb, server_id->thumbprint);
		https_client_get_stats(cli, &st);
		assert_int_equal(st.connections, round + 1);
		assert_int_equal(st.resumed, round); /* the second one resumed */
		assert_int_equal(st.idle, 1);
		assert_int_equal(st.sessions, 0); /* the parked connection stands for it */
		/* reused while parked: no handshake, still no copy */
		do_call(base, cli, &call, &r);
		assert_int_equal(r.error, HTTPS_OK);
		https_client_get_stats(cli, &st);
		assert_int_equal(st.connections, round + 1);
		assert_int_equal(st.sessions, 0);
		/* the client closes it: its session is kept to resume */
		https_client_set_keepalive(cli, 0, 0);
		https_client_get_stats(cli, &st);
		assert_int_equal(st.idle, 0);
		assert_int_equal(st.sessions, 1);
		assert_true(st.session_bytes > 0 && st.session_bytes < 400);
		https_client_set_keepalive(cli, 4, 5000);
	}
	/* the kept session is the pinned server's: another pin is not offered
	 * it, and is refused */
	https_client_set_keepalive(cli, 0, 0);
	call.pin = other_id->thumbprint;
	do_call(base, cli, &call, &r);
	assert_int_equal(r.error, HTTPS_E_PIN);
	https_client_get_stats(cli, &st);
	assert_int_equal(st.resumed, 1);
	assert_int_equal(st.sessions, 1);
	https_client_free(cli);
	https_server_free(srv);
	event_base_free(base);
	(void)state;
}

/* A server's keepalive_ms: after an answer, the connection outlives the
 * idle timeout of the first request and says so (Keep-Alive: timeout=N);
 * the client parks it as long as it wishes but 2 s less than that. */
static void test_keepalive_server(void **state)
{
	struct event_base *base = event_base_new();
	struct srvctx sc = {0};
	/* idle timeout 600 ms; kept alive 3 s after an answer */
	next_keepalive_ms = 3000;
	struct https_server *srv =
	    start_server(base, &sc, "127.0.0.1:0", HTTPS_CLIENT_CERT_REQUIRED, 0, 600, 0);
	assert_non_null(srv);
	struct https_client *cli = NULL;
	assert_int_equal(https_client_new(base, client_id, NULL, &cli, NULL, 0), 0);
	https_client_set_keepalive(cli, 4, 60000);
	struct https_call call = {
	    .host = "127.0.0.1",
	    .port = https_server_port(srv),
	    .path = "/v1/ping",
	    .verify = HTTPS_VERIFY_PIN,
	    .pin = server_id->thumbprint,
	    .retry_safe = true,
	    .timeout_ms = 700, /* not the parked connection's timeout */
	};
	struct res r;
	do_call(base, cli, &call, &r);
	assert_int_equal(r.error, HTTPS_OK);
	/* past the idle timeout and the request's, within the keep-alive
	 * time: reused */
	int never = 0;
	run_until(base, &never, 900);
	assert_int_equal(https_server_connections(srv), 1);
	do_call(base, cli, &call, &r);
	assert_int_equal(r.error, HTTPS_OK);
	struct https_client_stats st;
	https_client_get_stats(cli, &st);
	assert_int_equal(st.connections, 1);
	assert_int_equal(st.reused, 1);
	/* the client gives it back 2 s before the server's 3 s: after 1.5 s
	 * it closed it itself (the server did not have to) */
	run_until(base, &never, 1500);
	https_client_get_stats(cli, &st);
	assert_int_equal(st.idle, 0);
	assert_int_equal(st.peer_closed, 0);
	do_call(base, cli, &call, &r);
	assert_int_equal(r.error, HTTPS_OK);
	https_client_get_stats(cli, &st);
	assert_int_equal(st.connections, 2);
	https_client_free(cli);
	https_server_free(srv);

	/* A server that says nothing: parked at most HTTPS_DEFAULT_IDLE_MS
	 * whatever the client wished (here the server outlives it). */
	srv = start_server(base, &sc, "127.0.0.1:0", HTTPS_CLIENT_CERT_REQUIRED, 0, 60000, 0);
	assert_non_null(srv);
	assert_int_equal(https_client_new(base, client_id, NULL, &cli, NULL, 0), 0);
	https_client_set_keepalive(cli, 4, 60000);
	call.port = https_server_port(srv);
	do_call(base, cli, &call, &r);
	assert_int_equal(r.error, HTTPS_OK);
	run_until(base, &never, HTTPS_DEFAULT_IDLE_MS + 500);
	https_client_get_stats(cli, &st);
	assert_int_equal(st.idle, 0);
	assert_int_equal(st.peer_closed, 0);
	https_client_free(cli);
	https_server_free(srv);
	event_base_free(base);
	(void)state;
}

/* A TLS server in a thread that answers the first request on each of its
 * connections, then reads the next request and closes without answering:
 * what a client sees when the server closes a kept-alive connection just
 * as a request arrives. Serves `conns` connections. */
struct dropsrv {
	int lfd;
	uint16_t port;
	int conns;
	int requests; /* requests read, answered or not */
};

static int read_request(SSL *ssl)
{
	char buf[4096];
	size_t len = 0;
	while (len < sizeof buf - 1) {
		int r = SSL_read(ssl, buf + len, (int)(sizeof buf - 1 - len));
		if (r <= 0)
			return -1;
		len += (size_t)r;
		buf[len] = 0;
		if (strstr(buf, "\r\n\r\n"))
			return 0; /* our test requests carry no body */
	}
	return -1;
}

static void *dropsrv_run(void *arg)
{
	struct dropsrv *d = arg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX_use_certificate(ctx, server_id->cert);
	SSL_CTX_use_PrivateKey(ctx, server_id->key);
	SSL_CTX_set_num_tickets(ctx, 0);
	for (int k = 0; k < d->conns; k++) {
		int fd = accept(d->lfd, NULL, NULL);
		if (fd < 0)
			break;
		SSL *ssl = SSL_new(ctx);
		SSL_set_fd(ssl, fd);
		if (SSL_accept(ssl) == 1 && read_request(ssl) == 0) {
			d->requests++;
			static const char ans[] = "HTTP/1.1 200 OK\r\nContent-Type: "
			                          "application/json\r\nContent-Length: 2\r\n\r\n{}";
			SSL_write(ssl, ans, sizeof ans - 1);
			if (read_request(ssl) == 0)
				d->requests++;
		}
		SSL_free(ssl); /* no close_notify: the socket just closes */
		close(fd);
	}
	SSL_CTX_free(ctx);
	return NULL;
}

/* A request sent on a reused connection that closes before any answer is
 * sent once more on a new connection if it is retry_safe, and fails if not. */
static void test_keepalive_retry(void **state)
{
	struct dropsrv d = {.conns = 2};
	d.lfd = loopback_listener(&d.port);
	pthread_t th;
	pthread_create(&th, NULL, dropsrv_run, &d);

	struct event_base *base = event_base_new();
	struct https_client *cli = NULL;
	assert_int_equal(https_client_new(base, client_id, NULL, &cli, NULL, 0), 0);
	https_client_set_keepalive(cli, 4, 5000);
	struct https_call call = {
	    .host = "127.0.0.1",
	    .port = d.port,
	    .path = "/v1/ping",
	    .verify = HTTPS_VERIFY_PIN,
	    .pin = server_id->thumbprint,
	    .timeout_ms = 5000,
	    .retry_safe = true,
	};
	struct res r;
	do_call(base, cli, &call, &r); /* connection 1, answered, parked */
	assert_int_equal(r.error, HTTPS_OK);
	do_call(base, cli, &call, &r); /* on connection 1: dropped; again on 2 */
	assert_int_equal(r.error, HTTPS_OK);
	assert_int_equal(r.status, 200);
	struct https_client_stats st;
	https_client_get_stats(cli, &st);
	assert_int_equal(st.connections, 2);
	assert_int_equal(st.reused, 1);
	assert_int_equal(st.retried, 1);
	call.retry_safe = false; /* on connection 2: dropped, not sent again */
	do_call(base, cli, &call, &r);
	/* the end of the stream without close_notify: OpenSSL's "unexpected eof" */
	assert_true(r.error == HTTPS_E_PROTOCOL || r.error == HTTPS_E_TLS);
	https_client_get_stats(cli, &st);
	assert_int_equal(st.connections, 2);
	assert_int_equal(st.retried, 1);
	pthread_join(th, NULL);
	assert_int_equal(d.requests, 4);
	close(d.lfd);
	https_client_free(cli);
	event_base_free(base);
	(void)state;
}

static void test_mtls_roundtrip(void **state)
{
	struct event_base *base = event_base_new();
	struct srvctx sc = {0};
	struct https_server *srv =
	    start_server(base, &sc, "127.0.0.1:0", HTTPS_CLIENT_CERT_REQUIRED, 0, 0, 0);
	assert_non_null(srv);
	struct https_client *cli = NULL;
	assert_int_equal(https_client_new(base, client_id, NULL, &cli, NULL, 0), 0);
	static const char body[] = "{\"hello\":\"world\"}";
	struct https_call call = {
	    .host = "127.0.0.1",
	    .port = https_server_port(srv),
	    .method = "POST",
	    .path = "/v1/echo/sub?x=a%20b",
	    .body = body,
	    .body_len = sizeof body - 1,
	    .bearer = "tok-123.abc",
	    .verify = HTTPS_VERIFY_PIN,
	    .pin = server_id->thumbprint,
	};
	struct res r;
	do_call(base, cli, &call, &r);
	assert_int_equal(r.error, HTTPS_OK);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.thumb, server_id->thumbprint);
	json_t *j = json_loads(r.body, 0, NULL);
	assert_non_null(j);
	/* The server saw our client certificate's thumbprint. */
	assert_string_equal(json_string_value(json_object_get(j, "peer")), client_id->thumbprint);
	assert_int_equal(json_integer_value(json_object_get(j, "len")),
	                 (json_int_t)(sizeof body - 1));
	assert_string_equal(json_string_value(json_object_get(j, "rest")), "sub");
	assert_string_equal(json_string_value(json_object_get(j, "token")), "tok-123.abc");
	assert_string_equal(json_string_value(json_object_get(j, "x")), "a b");
	json_decref(j);
	assert_int_equal(sc.calls, 1);

	/* Router: unknown path 404, wrong method 405, prefix with trailing '/'. */
	call.path = "/v1/nothing";
	do_call(base, cli, &call, &r);
	assert_int_equal(r.status, 404);
	call.path = "/v1/echoes";
	do_call(base, cli, &call, &r);
	assert_int_equal(r.status, 404);
	call.method = "GET";
	call.path = "/v1/echo";
	call.body = NULL;
	call.body_len = 0;
	do_call(base, cli, &call, &r);
	assert_int_equal(r.status, 405);
	call.path = "/v1/things/a/b";
	do_call(base, cli, &call, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\"rest\":\"a/b\""));
	assert_int_equal(sc.calls, 2);

	/* Pin given in another accepted form (upper case, no prefix). */
	char upper[80];
	snprintf(upper, sizeof upper, "%s", server_id->thumbprint + 7);
	for (char *p = upper; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 32);
	call.pin = upper;
	call.path = "/v1/ping";
	do_call(base, cli, &call, &r);
	assert_int_equal(r.status, 200);

	/* Response headers, seen by a raw client. */
	struct raw raw = {.port = https_server_port(srv),
	                  .tls = 1,
	                  .id = client_id,
	                  .send = "GET /v1/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"};
	pthread_t th;
	pthread_create(&th, NULL, raw_thread, &raw);
	run_until(base, &raw.done, 5000);
	pthread_join(th, NULL);
	assert_true(raw.handshake_ok);
	assert_non_null(strstr(raw.out, "HTTP/1.1 200"));
	assert_non_null(strstr(raw.out, "Content-Type: application/json"));
	assert_non_null(strstr(raw.out, "Cache-Control: no-store"));
	assert_non_null(strstr(raw.out, "X-Content-Type-Options: nosniff"));
	assert_non_null(strstr(raw.out, "Content-Security-Policy: default-src 'none'"));

	https_client_free(cli);
	https_server_free(srv);
	event_base_free(base);
}

static void test_ipv6_loopback(void **state)
{
	struct event_base *base = event_base_new();
	struct srvctx sc = {0};
	struct https_server *srv =
	    start_server(base, &sc, "[::1]:0", HTTPS_CLIENT_CERT_REQUIRED, 0, 0, 0);
	if (!srv) {
		event_base_free(base);
		skip(); /* no IPv6 loopback in this sandbox */
	}
	struct https_client *cli = NULL;
	assert_int_equal(https_client_new(base, client_id, NULL, &cli, NULL, 0), 0);
	struct https_call call = {.host = "::1",
	                          .port = https_server_port(srv),
	                          .path = "/v1/ping",
	                          .verify = HTTPS_VERIFY_PIN,
	                          .pin = server_id->thumbprint};
	struct res r;
	do_call(base, cli, &call, &r);
	assert_int_equal(r.error, HTTPS_OK);
	assert_int_equal(r.status, 200);
	https_client_free(cli);
	https_server_free(srv);
	event_base_free(base);
}

static void test_refusals(void **state)
{
	struct event_base *base = event_base_new();
	struct srvctx sc = {0};
	struct https_server *srv =
	    start_server(base, &sc, "127.0.0.1:0", HTTPS_CLIENT_CERT_REQUIRED, 0, 0, 0);
	assert_non_null(srv);
	struct https_client *anon = NULL, *cli = NULL;
	assert_int_equal(https_client_new(base, NULL, NULL, &anon, NULL, 0), 0);
	assert_int_equal(https_client_new(base, client_id, NULL, &cli, NULL, 0), 0);
	struct https_call call = {.host = "127.0.0.1",
	                          .port = https_server_port(srv),
	                          .path = "/v1/ping",
	                          .verify = HTTPS_VERIFY_PIN,
	                          .pin = server_id->thumbprint,
	                          .timeout_ms = 5000};
	struct res r;

	/* No client certificate in mTLS mode: refused, handler never runs. */
	do_call(base, anon, &call, &r);
	print_message("no client cert: %s (%s)\n", https_error_name(r.error), r.msg);
	assert_true(r.error == HTTPS_E_TLS || r.error == HTTPS_E_PROTOCOL);
	assert_int_equal(r.status, 0);
	assert_int_equal(sc.calls, 0);

	/* Wrong pin: refused before sending, seen thumbprint reported. */
	call.pin = other_id->thumbprint;
	do_call(base, cli, &call, &r);
	assert_int_equal(r.error, HTTPS_E_PIN);
	assert_string_equal(r.thumb, server_id->thumbprint);
	char want[200];
	snprintf(want, sizeof want, "TLS: thumbprint mismatch (got %s)", server_id->thumbprint);
	assert_string_equal(r.msg, want);
	assert_int_equal(sc.calls, 0);

	/* Fetch mode: thumbprint, no request, even without a client cert. */
	call.verify = HTTPS_VERIFY_FETCH;
	call.pin = NULL;
	do_call(base, anon, &call, &r);
	assert_int_equal(r.error, HTTPS_OK);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.thumb, server_id->thumbprint);
	assert_int_equal(sc.calls, 0);

	/* A bad pin string is a caller error, reported at once. */
	call.verify = HTTPS_VERIFY_PIN;
	call.pin = "SHA256:abc";
	assert_int_equal(https_client_request(cli, &call, on_done, &r), ATTEST_E_ARG);
	/* CA mode without a CA file is a caller error too. */
	call.verify = HTTPS_VERIFY_CA;
	assert_int_equal(https_client_request(cli, &call, on_done, &r), ATTEST_E_ARG);

	/* Raw TLS client without a certificate: no HTTP answer at all. */
	struct raw raw = {.port = https_server_port(srv),
	                  .tls = 1,
	                  .send = "GET /v1/ping HTTP/1.1\r\nHost: x\r\n\r\n"};
	pthread_t th;
	pthread_create(&th, NULL, raw_thread, &raw);
	run_until(base, &raw.done, 5000);
	pthread_join(th, NULL);
	assert_null(strstr(raw.out, "HTTP/1.1"));
	assert_int_equal(sc.calls, 0);

	https_client_free(anon);
	https_client_free(cli);
	https_server_free(srv);
	event_base_free(base);
}

static void test_ca_mode(void **state)
{
	struct event_base *base = event_base_new();
	struct srvctx sc = {0};
	struct https_server *srv =
	    start_server(base, &sc, "127.0.0.1:0", HTTPS_CLIENT_CERT_NONE, 0, 0, 0);
	assert_non_null(srv);
	char ca[600], wrong[600];
	snprintf(ca, sizeof ca, "%s/server.crt", tmpdir);
	snprintf(wrong, sizeof wrong, "%s/other.crt", tmpdir);
	struct https_client *cli = NULL, *bad = NULL;
	assert_int_equal(https_client_new(base, NULL, ca, &cli, NULL, 0), 0);
	assert_int_equal(https_client_new(base, NULL, wrong, &bad, NULL, 0), 0);
	struct https_call call = {.host = "127.0.0.1",
	                          .port = https_server_port(srv),
	                          .path = "/v1/ping",
	                          .verify = HTTPS_VERIFY_CA,
	                          .bearer = "t"};
	struct res r;
	do_call(base, cli, &call, &r);
	assert_int_equal(r.error, HTTPS_OK);
	assert_int_equal(r.status, 200);
	/* By name (resolved through evdns and /etc/hosts). */
	call.host = "localhost";
	do_call(base, cli, &call, &r);
	print_message("localhost: %s %d %s\n", https_error_name(r.error), r.status, r.msg);
	assert_int_equal(r.error, HTTPS_OK);
	/* A name the certificate does not carry: a server whose certificate
	 * names only "client", trusted through that same certificate. */
	struct srvctx sc2 = {0};
	char cca[600];
	snprintf(cca, sizeof cca, "%s/client.crt", tmpdir);
	struct https_server_config cfg2 = {.listen = "127.0.0.1:0", .identity = client_id};
	struct https_server *srv2 = NULL;
	assert_int_equal(https_server_new(base, &cfg2, &srv2, NULL, 0), 0);
	assert_int_equal(https_server_route(srv2, NULL, "/", h_ping, &sc2), 0);
	struct https_client *cli2 = NULL;
	assert_int_equal(https_client_new(base, NULL, cca, &cli2, NULL, 0), 0);
	call.port = https_server_port(srv2);
	do_call(base, cli2, &call, &r);
	print_message("name not in the certificate: %s (%s)\n", https_error_name(r.error), r.msg);
	assert_int_equal(r.error, HTTPS_E_TLS);
	assert_non_null(strstr(r.msg, "verification failed"));
	assert_int_equal(sc2.calls, 0);
	https_client_free(cli2);
	https_server_free(srv2);
	/* A CA file that does not vouch for this server. */
	call.host = "127.0.0.1";
	call.port = https_server_port(srv);
	do_call(base, bad, &call, &r);
	assert_int_equal(r.error, HTTPS_E_TLS);
	assert_string_equal(r.thumb, server_id->thumbprint);
	assert_int_equal(sc.calls, 2);

	https_client_free(cli);
	https_client_free(bad);
	https_server_free(srv);
	event_base_free(base);
}

static void test_body_cap(void **state)
{
	struct event_base *base = event_base_new();
	struct srvctx sc = {0};
	struct https_server *srv =
	    start_server(base, &sc, "127.0.0.1:0", HTTPS_CLIENT_CERT_REQUIRED, 1024, 0, 0);
	assert_non_null(srv);
	struct https_client *cli = NULL;
	assert_int_equal(https_client_new(base, client_id, NULL, &cli, NULL, 0), 0);
	static char big[1025];
	memset(big, 'a', sizeof big);
	struct https_call call = {.host = "127.0.0.1",
	                          .port = https_server_port(srv),
	                          .method = "POST",
	                          .path = "/v1/echo",
	                          .body = big,
	                          .body_len = 1024,
	                          .content_type = "text/plain",
	                          .verify = HTTPS_VERIFY_PIN,
	                          .pin = server_id->thumbprint};
	struct res r;
	do_call(base, cli, &call, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(sc.calls, 1);
	call.body_len = 1025;
	do_call(base, cli, &call, &r);
	print_message("over the cap: %s %d %s\n", https_error_name(r.error), r.status, r.msg);
	assert_int_equal(r.error, HTTPS_OK);
	assert_int_equal(r.status, 413);
	assert_int_equal(sc.calls, 1);

	/* Headers over the 16 KiB default: refused, handler not called. */
	static char hdr[20000 + 200];
	int k = snprintf(hdr, sizeof hdr, "GET /v1/ping HTTP/1.1\r\nHost: x\r\nX-Big: ");
	memset(hdr + k, 'b', 20000);
	memcpy(hdr + k + 20000, "\r\n\r\n", 5);
	struct raw raw = {.port = https_server_port(srv), .tls = 1, .id = client_id, .send = hdr};
	pthread_t th;
	pthread_create(&th, NULL, raw_thread, &raw);
	run_until(base, &raw.done, 5000);
	pthread_join(th, NULL);
	print_message("20 KB of headers: %.40s\n", raw.out);
	assert_non_null(strstr(raw.out, "HTTP/1.1 400"));
	assert_int_equal(sc.calls, 1);
	https_client_free(cli);
	https_server_free(srv);
	event_base_free(base);
}

static void test_slow_clients_dropped(void **state)
{
	struct event_base *base = event_base_new();
	struct srvctx sc = {0};
	struct https_server *srv =
	    start_server(base, &sc, "127.0.0.1:0", HTTPS_CLIENT_CERT_REQUIRED, 0, 1000, 0);
	assert_non_null(srv);
	uint16_t port = https_server_port(srv);
	/* 1: TCP connect, send nothing (stuck before the TLS handshake).
	 * 2: TLS handshake, then half a request header. */
	struct raw silent = {.port = port, .tls = 0};
	struct raw half = {.port = port,
	                   .tls = 1,
	                   .id = client_id,
	                   .send = "GET /v1/ping HTTP/1.1\r\nHost: x\r\nX-Slow: "};
	pthread_t t1, t2;
	pthread_create(&t1, NULL, raw_thread, &silent);
	pthread_create(&t2, NULL, raw_thread, &half);
	int never = 0;
	run_until(base, &never, 300);
	assert_int_equal(https_server_connections(srv), 2);
	/* Meanwhile a normal client is served at once. */
	struct https_client *cli = NULL;
	assert_int_equal(https_client_new(base, client_id, NULL, &cli, NULL, 0), 0);
	struct https_call call = {.host = "127.0.0.1",
	                          .port = port,
	                          .path = "/v1/ping",
	                          .verify = HTTPS_VERIFY_PIN,
	                          .pin = server_id->thumbprint};
	struct res r;
	double t0 = now_s();
	do_call(base, cli, &call, &r);
	assert_int_equal(r.status, 200);
	assert_true(now_s() - t0 < 0.5);
	assert_false(silent.done);
	assert_false(half.done);
	/* Both slow ones are dropped after about the timeout. */
	run_until(base, &silent.done, 4000);
	run_until(base, &half.done, 4000);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	print_message("silent dropped after %.2f s, half header after %.2f s\n", silent.elapsed,
	              half.elapsed);
	assert_true(silent.done && half.done);
	assert_true(half.handshake_ok);
	assert_true(silent.elapsed > 0.8 && silent.elapsed < 3.0);
	assert_true(half.elapsed > 0.8 && half.elapsed < 3.0);
	assert_null(strstr(half.out, "200 OK"));
	run_until(base, &never, 100);
	assert_int_equal(https_server_connections(srv), 0);
	https_client_free(cli);
	https_server_free(srv);
	event_base_free(base);
}

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
	       ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

/* accept() failing for want of descriptors: the server rests its listener
 * instead of spinning on the readable socket, and takes the queued
 * connection once descriptors are free again. */
static void test_accept_out_of_descriptors(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct srvctx sc = {0};
	struct https_server *srv =
	    start_server(base, &sc, "127.0.0.1:0", HTTPS_CLIENT_CERT_REQUIRED, 0, 1000, 0);
	assert_non_null(srv);
	/* A TCP connection waiting in the backlog (the kernel completes it). */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(https_server_port(srv))};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	/* No descriptor above the ones open now. */
	struct rlimit old;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	int lowest = dup(0);
	assert_true(lowest >= 0);
	close(lowest);
	struct rlimit tight = {(rlim_t)lowest, old.rlim_max};
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &tight), 0);
	int never = 0;
	double c0 = cpu_s(), t0 = now_s();
	run_until(base, &never, 600);
	double cpu = cpu_s() - c0, wall = now_s() - t0;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	print_message("out of descriptors for %.2f s: %.3f s of CPU\n", wall, cpu);
	assert_int_equal(https_server_connections(srv), 0);
	assert_true(cpu < 0.5 * wall); /* spinning would take all of it */
	/* Descriptors again: the queued connection is taken after the rest. */
	run_until(base, &never, 400);
	assert_int_equal(https_server_connections(srv), 1);
	close(fd);
	run_until(base, &never, 200);
	https_server_free(srv);
	event_base_free(base);
}

static void test_max_connections(void **state)
{
	struct event_base *base = event_base_new();
	struct srvctx sc = {0};
	struct https_server *srv =
	    start_server(base, &sc, "127.0.0.1:0", HTTPS_CLIENT_CERT_REQUIRED, 0, 1000, 2);
	assert_non_null(srv);
	uint16_t port = https_server_port(srv);
	struct raw s1 = {.port = port}, s2 = {.port = port};
	pthread_t t1, t2;
	pthread_create(&t1, NULL, raw_thread, &s1);
	pthread_create(&t2, NULL, raw_thread, &s2);
	int never = 0;
	run_until(base, &never, 200);
	assert_int_equal(https_server_connections(srv), 2);
	/* The table is full and this address holds all of it: a third
	 * connection from it is refused at once (no other address to take a
	 * slot from); once the idle ones time out it is served. */
	struct https_client *cli = NULL;
	assert_int_equal(https_client_new(base, client_id, NULL, &cli, NULL, 0), 0);
	struct https_call call = {.host = "127.0.0.1",
	                          .port = port,
	                          .path = "/v1/ping",
	                          .verify = HTTPS_VERIFY_PIN,
	                          .pin = server_id->thumbprint};
	struct res r;
	double t0 = now_s();
	do_call(base, cli, &call, &r);
	double waited = now_s() - t0;
	print_message("third connection from the same address: %s after %.2f s\n", r.msg, waited);
	assert_int_not_equal(r.status, 200);
	assert_true(waited < 0.5);
	run_until(base, &s1.done, 3000);
	run_until(base, &s2.done, 3000);
	t0 = now_s();
	do_call(base, cli, &call, &r);
	assert_int_equal(r.status, 200);
	assert_true(now_s() - t0 < 0.5);
	run_until(base, &s1.done, 3000);
	run_until(base, &s2.done, 3000);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	https_client_free(cli);
	https_server_free(srv);
	event_base_free(base);
}

static void test_many_concurrent(void **state)
{
	enum { N = 200 };
	struct event_base *base = event_base_new();
	struct srvctx sc = {0};
	struct https_server *srv =
	    start_server(base, &sc, "127.0.0.1:0", HTTPS_CLIENT_CERT_REQUIRED, 0, 0, 0);
	assert_non_null(srv);
	struct https_client *cli = NULL;
	assert_int_equal(https_client_new(base, client_id, NULL, &cli, NULL, 0), 0);
	struct res *rs = calloc(N, sizeof *rs);
	int completed = 0;
	char body[64];
	double t0 = now_s();
	for (int i = 0; i < N; i++) {
		snprintf(body, sizeof body, "{\"i\":%d}", i);
		struct https_call call = {.host = "127.0.0.1",
		                          .port = https_server_port(srv),
		                          .method = "POST",
		                          .path = "/v1/echo",
		                          .body = body,
		                          .body_len = strlen(body),
		                          .verify = HTTPS_VERIFY_PIN,
		                          .pin = server_id->thumbprint,
		                          .timeout_ms = 20000};
		rs[i].counter = &completed;
		assert_int_equal(https_client_request(cli, &call, on_done, &rs[i]), 0);
	}
	assert_int_equal(https_client_pending(cli), N);
	struct {
		int *c;
	} w = {&completed};
	int all = 0;
	double end = now_s() + 20;
	while (!all && now_s() < end) {
		run_until(base, &all, 50);
		all = *w.c == N;
	}
	double dt = now_s() - t0;
	print_message("%d concurrent requests (new TLS connection each) in %.2f s\n", N, dt);
	assert_int_equal(completed, N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(rs[i].error, HTTPS_OK);
		assert_int_equal(rs[i].status, 200);
	}
	assert_int_equal(sc.calls, N);
	assert_int_equal(https_client_pending(cli), 0);
	free(rs);
	https_client_free(cli);
	https_server_free(srv);
	event_base_free(base);
}

static void test_client_errors(void **state)
{
	struct event_base *base = event_base_new();
	struct https_client *cli = NULL;
	assert_int_equal(https_client_new(base, client_id, NULL, &cli, NULL, 0), 0);
	/* A port with nobody listening: bind one, note it, close it. */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	socklen_t sl = sizeof sa;
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	uint16_t dead = ntohs(sa.sin_port);
	close(fd);
	struct https_call call = {.host = "127.0.0.1",
	                          .port = dead,
	                          .path = "/v1/ping",
	                          .verify = HTTPS_VERIFY_PIN,
	                          .pin = server_id->thumbprint};
	struct res r;
	do_call(base, cli, &call, &r);
	print_message("closed port: %s (%s)\n", https_error_name(r.error), r.msg);
	assert_int_equal(r.error, HTTPS_E_CONNECT);
	assert_string_equal(r.msg, "connection refused");

	/* A listener that never answers the TLS handshake: timeout. */
	fd = loopback_listener(&call.port);
	call.timeout_ms = 500;
	double t0 = now_s();
	do_call(base, cli, &call, &r);
	double dt = now_s() - t0;
	print_message("silent server: %s (%s) after %.2f s\n", https_error_name(r.error), r.msg,
	              dt);
	assert_int_equal(r.error, HTTPS_E_TIMEOUT);
	assert_true(dt >= 0.45 && dt < 2.0);
	assert_non_null(strstr(r.msg, "timed out"));
	close(fd);

	/* Synchronous wrapper on the refused port. */
	struct https_response resp;
	call.port = dead;
	call.timeout_ms = 2000;
	assert_int_equal(https_request_sync(client_id, NULL, &call, &resp), 0);
	assert_int_equal(resp.error, HTTPS_E_CONNECT);
	assert_non_null(resp.body);
	https_response_clear(&resp);

	/* Freeing the client with requests in flight calls nothing, leaks nothing. */
	fd = loopback_listener(&call.port); /* silent again, on a port of its own */
	memset(&r, 0, sizeof r);
	assert_int_equal(https_client_request(cli, &call, on_done, &r), 0);
	int never = 0;
	run_until(base, &never, 50);
	https_client_free(cli);
	assert_false(r.done);
	close(fd);
	event_base_free(base);
}

/* The synchronous wrapper against a server running in another thread. */
struct srvthread {
	struct event_base *base;
	struct https_server *srv;
	struct srvctx sc;
	volatile int stop;
};

static void stop_check(evutil_socket_t fd, short what, void *arg)
{
	struct srvthread *t = arg;
	if (t->stop)
		event_base_loopbreak(t->base);
}

static void *server_thread(void *arg)
{
	struct srvthread *t = arg;
	struct event *ev = event_new(t->base, -1, EV_PERSIST, stop_check, t);
	struct timeval tv = {0, 10000};
	event_add(ev, &tv);
	event_base_dispatch(t->base);
	event_free(ev);
	return NULL;
}

static void test_sync_wrapper(void **state)
{
	struct srvthread t = {0};
	t.base = event_base_new();
	t.srv = start_server(t.base, &t.sc, "127.0.0.1:0", HTTPS_CLIENT_CERT_NONE, 0, 0, 0);
	assert_non_null(t.srv);
	pthread_t th;
	pthread_create(&th, NULL, server_thread, &t);
	char ca[600];
	snprintf(ca, sizeof ca, "%s/server.crt", tmpdir);
	struct https_call call = {.host = "127.0.0.1",
	                          .port = https_server_port(t.srv),
	                          .path = "/v1/ping",
	                          .verify = HTTPS_VERIFY_CA,
	                          .bearer = "tok"};
	struct https_response resp;
	assert_int_equal(https_request_sync(NULL, ca, &call, &resp), 0);
	assert_int_equal(resp.error, HTTPS_OK);
	assert_int_equal(resp.status, 200);
	assert_string_equal((char *)resp.body, "{\"ok\":true}");
	assert_string_equal(resp.content_type, "application/json");
	assert_string_equal(resp.peer_thumbprint, server_id->thumbprint);
	https_response_clear(&resp);
	call.verify = HTTPS_VERIFY_FETCH;
	assert_int_equal(https_request_sync(NULL, NULL, &call, &resp), 0);
	assert_int_equal(resp.error, HTTPS_OK);
	assert_string_equal(resp.peer_thumbprint, server_id->thumbprint);
	https_response_clear(&resp);
	t.stop = 1;
	pthread_join(th, NULL);
	assert_int_equal(t.sc.calls, 1);
	https_server_free(t.srv);
	event_base_free(t.base);
}

static int setup(void **state)
{
	if (!mkdtemp(tmpdir))
		return -1;
	const char *sans[] = {"localhost", "127.0.0.1", "::1", NULL};
	char err[256];
	if (tlsid_load_or_create(tmpdir, "server", sans, &server_id, err, sizeof err) < 0 ||
	    tlsid_load_or_create(tmpdir, "client", NULL, &client_id, err, sizeof err) < 0 ||
	    tlsid_load_or_create(tmpdir, "other", sans, &other_id, err, sizeof err) < 0) {
		fprintf(stderr, "identity: %s\n", err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	tlsid_free(server_id);
	tlsid_free(client_id);
	tlsid_free(other_id);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* RFC 9112 6.3: a request with more than one Content-Length is answered 400
 * and its connection closed; what follows its body is never parsed as a
 * request of its own (a smuggling attempt). */
static void test_content_length_repeated(void **state)
{
	static const char *const reqs[] = {
	    /* conflicting: the first frames 5 bytes; the rest would be a second request */
	    "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 48\r\n"
	    "\r\n{\"a\":1GET /v1/ping HTTP/1.1\r\nHost: x\r\n\r\n",
	    /* identical copies: refused as well (documented choice) */
	    "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\ncontent-length: 7\r\n"
	    "\r\n{\"a\":1}GET /v1/ping HTTP/1.1\r\nHost: x\r\n\r\n",
	};
	struct event_base *base = event_base_new();
	struct srvctx sc = {0};
	struct https_server *srv =
	    start_server(base, &sc, "127.0.0.1:0", HTTPS_CLIENT_CERT_REQUIRED, 0, 0, 0);
	assert_non_null(srv);
	for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
		struct raw raw = {
		    .port = https_server_port(srv), .tls = 1, .id = client_id, .send = reqs[i]};
		pthread_t th;
		pthread_create(&th, NULL, raw_thread, &raw);
		run_until(base, &raw.done, 5000);
		pthread_join(th, NULL);
		print_message("repeated Content-Length %zu: %.60s\n", i, raw.out);
		assert_true(raw.done);
		assert_non_null(strstr(raw.out, "HTTP/1.1 400"));
		assert_non_null(strstr(raw.out, "Content-Length"));
		/* one answer only, then the server closed (raw.done: EOF seen) */
		assert_null(strstr(strstr(raw.out, "HTTP/1.1 400") + 1, "HTTP/1.1"));
		assert_true(raw.elapsed < 2.0);
	}
	assert_int_equal(sc.calls, 0); /* neither the echo nor the smuggled ping ran */
	/* One Content-Length: served as ever. */
	struct raw ok = {.port = https_server_port(srv),
	                 .tls = 1,
	                 .id = client_id,
	                 .send = "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n"
	                         "Connection: close\r\n\r\n{\"a\":1}"};
	pthread_t th;
	pthread_create(&th, NULL, raw_thread, &ok);
	run_until(base, &ok.done, 5000);
	pthread_join(th, NULL);
	assert_non_null(strstr(ok.out, "HTTP/1.1 200"));
	assert_int_equal(sc.calls, 1);
	https_server_free(srv);
	event_base_free(base);
}

/* The connection budget: with the table full, a newcomer address evicts
 * the oldest connection of the address holding the most; an address that
 * already holds as much as every other is refused instead. */
/* ------------------------------------------------------------------ */
/* Several identities on one listener (select_identity)                */

/* 127.0.0.1 is server_id's address, 127.0.0.2 other_id's; no other. */
static const struct tlsid *pick_identity(const struct sockaddr *local, void *arg, void **ret_tag)
{
	if (local->sa_family != AF_INET)
		return NULL;
	uint32_t a = ntohl(((const struct sockaddr_in *)local)->sin_addr.s_addr);
	if (a == 0x7f000001u) {
		*ret_tag = "a";
		return server_id;
	}
	if (a == 0x7f000002u) {
		*ret_tag = "b";
		return other_id;
	}
	return NULL;
}

static void h_tag(struct https_request *req, void *arg)
{
	const char *tag = https_request_tag(req);
	https_reply_json(req, 200, json_pack("{s:s?}", "tag", tag));
}

/* A raw client: a session from the host at 127.0.0.1, offered to the host
 * at 127.0.0.2 (what a confused client could do). */
struct cross {
	uint16_t port;
	int first_ok, second_ok, second_reused;
	char second_peer[TLSID_THUMBPRINT_SIZE];
	int done;
};

static SSL *raw_get(SSL_CTX *ctx, const char *addr, uint16_t port, SSL_SESSION *offer, int *fdp)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, addr, &sa.sin_addr);
	*fdp = fd;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		return NULL;
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (offer)
		SSL_set_session(ssl, offer);
	static const char req[] = "GET /v1/tag HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	char buf[2048];
	if (SSL_connect(ssl) != 1 || SSL_write(ssl, req, (int)sizeof req - 1) <= 0) {
		SSL_free(ssl);
		return NULL;
	}
	/* The ticket comes before the answer; read the answer, not the close
	 * (an end without close_notify makes the session not resumable). */
	size_t got = 0;
	int n;
	buf[0] = 0;
	while (!strchr(buf, '}') && got < sizeof buf - 1 &&
	       (n = SSL_read(ssl, buf + got, (int)(sizeof buf - 1 - got))) > 0) {
		got += (size_t)n;
		buf[got] = 0;
	}
	return ssl;
}

static void *cross_thread(void *arg)
{
	struct cross *x = arg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_use_certificate(ctx, client_id->cert);
	SSL_CTX_use_PrivateKey(ctx, client_id->key);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT);
	int fd1 = -1, fd2 = -1;
	SSL *a = raw_get(ctx, "127.0.0.1", x->port, NULL, &fd1);
	SSL_SESSION *sess = a ? SSL_get1_session(a) : NULL;
	x->first_ok = a && sess && SSL_SESSION_is_resumable(sess);
	SSL *b = x->first_ok ? raw_get(ctx, "127.0.0.2", x->port, sess, &fd2) : NULL;
	if (b) {
		x->second_ok = 1;
		x->second_reused = SSL_session_reused(b);
		X509 *peer = SSL_get0_peer_certificate(b);
		if (peer)
			tlsid_thumbprint_of(peer, x->second_peer);
	}
	SSL_SESSION_free(sess);
	SSL_free(a);
	SSL_free(b);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	if (fd1 >= 0)
		close(fd1);
	if (fd2 >= 0)
		close(fd2);
	x->done = 1;
	return NULL;
}

/* An Ed25519 identity (an agent's): created, loaded back as it is (also
 * when asked for P-256: an identity is never replaced), and served over
 * mutual TLS 1.3 and 1.2 to a client that pins it. */
struct tls12 {
	uint16_t port;
	char version[16];
	int done;
};

static void *tls12_thread(void *arg)
{
	struct tls12 *x = arg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_use_certificate(ctx, client_id->cert);
	SSL_CTX_use_PrivateKey(ctx, client_id->key);
	int fd = -1;
	SSL *ssl = raw_get(ctx, "127.0.0.1", x->port, NULL, &fd);
	snprintf(x->version, sizeof x->version, "%s", ssl ? SSL_get_version(ssl) : "failed");
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	if (fd >= 0)
		close(fd);
	x->done = 1;
	return NULL;
}

static void test_identity_ed25519(void **state)
{
	char dir[512], err[512];
	snprintf(dir, sizeof dir, "%s/ided", tmpdir);
	struct tlsid *a = NULL, *b = NULL;
	assert_int_equal(
	    tlsid_load_or_create_ex(dir, "agent", NULL, TLSID_KEY_ED25519, &a, err, sizeof err), 0);
	assert_int_equal(a->created, 1);
	assert_int_equal(EVP_PKEY_get_id(a->key), EVP_PKEY_ED25519);
	assert_int_equal(X509_get_signature_nid(a->cert), NID_ED25519);
	assert_int_equal(X509_verify(a->cert, a->key), 1);
	assert_int_equal(tlsid_load_or_create(dir, "agent", NULL, &b, err, sizeof err), 0);
	assert_int_equal(b->created, 0);
	assert_string_equal(a->thumbprint, b->thumbprint);
	tlsid_free(b);
	assert_int_equal(
	    tlsid_load_or_create_ex(dir, "agent", NULL, (enum tlsid_key)7, &b, err, sizeof err),
	    ATTEST_E_ARG);

	struct event_base *base = event_base_new();
	struct https_server_config cfg = {
	    .listen = "127.0.0.1:0",
	    .identity = a,
	    .client_cert = HTTPS_CLIENT_CERT_REQUIRED,
	};
	struct https_server *srv = NULL;
	assert_int_equal(https_server_new(base, &cfg, &srv, err, sizeof err), 0);
	assert_int_equal(https_server_route(srv, "GET", "/v1/tag", h_tag, NULL), 0);
	struct https_client *cli = NULL;
	assert_int_equal(https_client_new(base, client_id, NULL, &cli, NULL, 0), 0);
	struct https_call call = {.host = "127.0.0.1",
	                          .port = https_server_port(srv),
	                          .path = "/v1/tag",
	                          .verify = HTTPS_VERIFY_PIN,
	                          .pin = a->thumbprint};
	struct res r;
	do_call(base, cli, &call, &r);
	assert_int_equal(r.error, HTTPS_OK);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.thumb, a->thumbprint);
	struct tls12 x = {.port = https_server_port(srv)};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, tls12_thread, &x), 0);
	run_until(base, &x.done, 10000);
	pthread_join(t, NULL);
	assert_string_equal(x.version, "TLSv1.2");
	https_client_free(cli);
	https_server_free(srv);
	event_base_free(base);
	tlsid_free(a);
}

/* TLS 1.3 suites: a client that puts ChaCha20-Poly1305 first (ours does:
 * its record state is smaller, and a verifier keeps a connection per
 * agent) gets it; any other client gets the server's own order, AES-GCM
 * first (browsers with AES in hardware). */
struct suites {
	uint16_t port;
	char plain[64], chacha[64];
	int done;
};

static void suite_of(const char *list, uint16_t port, char *out, size_t len)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_use_certificate(ctx, client_id->cert);
	SSL_CTX_use_PrivateKey(ctx, client_id->key);
	if (list)
		SSL_CTX_set_ciphersuites(ctx, list);
	int fd = -1;
	SSL *ssl = raw_get(ctx, "127.0.0.1", port, NULL, &fd);
	snprintf(out, len, "%s", ssl ? SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)) : "failed");
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	if (fd >= 0)
		close(fd);
}

static void *suites_thread(void *arg)
{
	struct suites *x = arg;
	suite_of(NULL, x->port, x->plain, sizeof x->plain);
	suite_of("TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384", x->port, x->chacha,
	         sizeof x->chacha);
	x->done = 1;
	return NULL;
}

static void test_tls13_suites(void **state)
{
	struct event_base *base = event_base_new();
	struct srvctx sc = {0};
	struct https_server *srv =
	    start_server(base, &sc, "127.0.0.1:0", HTTPS_CLIENT_CERT_REQUIRED, 0, 0, 0);
	assert_non_null(srv);
	struct suites x = {.port = https_server_port(srv)};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, suites_thread, &x), 0);
	run_until(base, &x.done, 10000);
	pthread_join(t, NULL);
	assert_string_equal(x.plain, "TLS_AES_256_GCM_SHA384");
	assert_string_equal(x.chacha, "TLS_CHACHA20_POLY1305_SHA256");
	https_server_free(srv);
	event_base_free(base);
}

static void test_select_identity(void **state)
{
	struct event_base *base = event_base_new();
	struct https_server_config cfg = {
	    .listen = "0.0.0.0:0",
	    .select_identity = pick_identity,
	    .client_cert = HTTPS_CLIENT_CERT_REQUIRED,
	    .bind_device = "lo",
	    .session_cache = 16, /* as attest-swarm and attest-agent */
	};
	struct https_server *srv = NULL;
	char err[256];
	int rc = https_server_new(base, &cfg, &srv, err, sizeof err);
	if (rc == ATTEST_E_IO) { /* SO_BINDTODEVICE needs CAP_NET_RAW */
		cfg.bind_device = NULL;
		rc = https_server_new(base, &cfg, &srv, err, sizeof err);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(https_server_route(srv, "GET", "/v1/tag", h_tag, NULL), 0);
	struct https_client *cli = NULL;
	assert_int_equal(https_client_new(base, client_id, NULL, &cli, NULL, 0), 0);
	https_client_set_resumption(cli, 8);
	struct https_call call = {
	    .port = https_server_port(srv), .path = "/v1/tag", .verify = HTTPS_VERIFY_PIN};
	struct res r;
	/* Each address presents its own certificate and reaches its handler's
	 * tag; twice, the second time over resumed sessions. */
	for (int round = 0; round < 2; round++) {
		call.host = "127.0.0.1";
		call.pin = server_id->thumbprint;
		do_call(base, cli, &call, &r);
		assert_int_equal(r.error, HTTPS_OK);
		assert_string_equal(r.thumb, server_id->thumbprint);
		assert_non_null(strstr(r.body, "\"tag\":\"a\""));
		call.host = "127.0.0.2";
		call.pin = other_id->thumbprint;
		do_call(base, cli, &call, &r);
		assert_int_equal(r.error, HTTPS_OK);
		assert_string_equal(r.thumb, other_id->thumbprint);
		assert_non_null(strstr(r.body, "\"tag\":\"b\""));
	}
	struct https_client_stats st;
	https_client_get_stats(cli, &st);
	assert_int_equal(st.resumed, 2);
	/* The sessions the server keeps: the client keeps only their names,
	 * without the server's certificate (well under 400 bytes each). */
	assert_int_equal(st.sessions, 2);
	assert_true(st.session_bytes > 0 && st.session_bytes < 2 * 400);
	/* The client ends a kept connection first, without close_notify (as
	 * the verifier does after --agent-keepalive): the server keeps the
	 * session all the same, and the next connection resumes it. */
	https_client_set_keepalive(cli, 4, 100);
	call.host = "127.0.0.1";
	call.pin = server_id->thumbprint;
	do_call(base, cli, &call, &r);
	assert_int_equal(r.error, HTTPS_OK);
	int never = 0;
	run_until(base, &never, 600); /* the client's idle timer closes it */
	https_client_get_stats(cli, &st);
	assert_int_equal(st.idle, 0);
	run_until(base, &never, 200); /* the server reads the end of file */
	https_client_set_keepalive(cli, 0, 0);
	do_call(base, cli, &call, &r);
	assert_int_equal(r.error, HTTPS_OK);
	assert_non_null(strstr(r.body, "\"tag\":\"a\""));
	https_client_get_stats(cli, &st);
	assert_int_equal(st.resumed, 4);
	/* An address with no identity: no handshake. */
	call.host = "127.0.0.3";
	call.pin = server_id->thumbprint;
	do_call(base, cli, &call, &r);
	assert_int_equal(r.error, HTTPS_E_TLS);
	/* A session the host at .1 issued, offered at .2: not resumed, .2
	 * makes a full handshake with its own certificate. */
	struct cross x = {.port = https_server_port(srv)};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, cross_thread, &x), 0);
	run_until(base, &x.done, 10000);
	pthread_join(th, NULL);
	assert_true(x.first_ok);
	assert_true(x.second_ok);
	assert_int_equal(x.second_reused, 0);
	assert_string_equal(x.second_peer, other_id->thumbprint);
	https_client_free(cli);
	https_server_free(srv);
	event_base_free(base);
}

static void test_budget_fair_share(void **state)
{
	struct event_base *base = event_base_new();
	struct srvctx sc = {0};
	struct https_server *srv =
	    start_server(base, &sc, "127.0.0.1:0", HTTPS_CLIENT_CERT_REQUIRED, 0, 20000, 4);
	assert_non_null(srv);
	uint16_t port = https_server_port(srv);
	enum { A1, A2, A3, A4, B, C, D, E, F, N };
	static const char *const src[N] = {"127.0.0.1", "127.0.0.1", "127.0.0.1",
	                                   "127.0.0.1", "127.0.0.2", "127.0.0.1",
	                                   "127.0.0.3", "127.0.0.2", "127.0.0.4"};
	struct raw r[N];
	pthread_t th[N];
	int never = 0;
	for (int i = 0; i < N; i++) {
		r[i] = (struct raw){.port = port, .src = src[i]};
		if (i == F) { /* a real request from a fourth address */
			r[i].tls = 1;
			r[i].id = client_id;
			r[i].send = "GET /v1/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
		}
		pthread_create(&th[i], NULL, raw_thread, &r[i]);
		run_until(base, i == F ? &r[i].done : &never, i == F ? 5000 : 150);
	}
	run_until(base, &never, 200);
	/* .1 filled the table (4); B (.2) evicted A1; C (.1, holding 3 against 1)
	 * was refused; D (.3) evicted A2; E (.2, 1 against 2) evicted A3; F (.4)
	 * found .1 .2 .3 at 1 2 1, evicted B, and was served. */
	static const int closed[N] = {[A1] = 1, [A2] = 1, [A3] = 1, [B] = 1, [C] = 1, [F] = 1};
	for (int i = 0; i < N; i++) {
		print_message("connection %d from %s: %s\n", i, src[i],
		              r[i].done ? "closed" : "open");
		assert_int_equal(r[i].done, closed[i]);
	}
	assert_non_null(strstr(r[F].out, "HTTP/1.1 200"));
	assert_true(r[F].elapsed < 2.0);
	assert_true(https_server_connections(srv) <= 4);
	https_server_free(srv); /* closes A4, D, E */
	for (int i = 0; i < N; i++) {
		run_until(base, &r[i].done, 3000);
		pthread_join(th[i], NULL);
	}
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_identity),
	    cmocka_unit_test(test_identity_ed25519),
	    cmocka_unit_test(test_thumbprint_parse),
	    cmocka_unit_test(test_mtls_roundtrip),
	    cmocka_unit_test(test_ipv6_loopback),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_ca_mode),
	    cmocka_unit_test(test_body_cap),
	    cmocka_unit_test(test_slow_clients_dropped),
	    cmocka_unit_test(test_max_connections),
	    cmocka_unit_test(test_accept_out_of_descriptors),
	    cmocka_unit_test(test_content_length_repeated),
	    cmocka_unit_test(test_budget_fair_share),
	    cmocka_unit_test(test_select_identity),
	    cmocka_unit_test(test_tls13_suites),
	    cmocka_unit_test(test_many_concurrent),
	    cmocka_unit_test(test_client_errors),
	    cmocka_unit_test(test_sync_wrapper),
	    cmocka_unit_test(test_keepalive),
	    cmocka_unit_test(test_keepalive_server),
	    cmocka_unit_test(test_keepalive_session),
	    cmocka_unit_test(test_keepalive_retry),
	};
	return cmocka_run_group_tests_name("https", tests, setup, teardown);
}
