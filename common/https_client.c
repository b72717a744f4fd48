/* HTTPS client: one evhttp connection per request over bufferevent_openssl,
 * with thumbprint pinning, CA verification or thumbprint fetching, a
 * deadline per request and classified errors. Contract in https.h.
 *
 * Life of a request (struct call): https_client_request() starts it and arms
 * its timer with the deadline. evhttp's callbacks only record the outcome
 * and activate the timer; the timer callback (never inside evhttp's stack)
 * frees the connection, calls the user's callback once, and frees the call.
 * So evhttp never sees its connection vanish under its feet, and the user is
 * never called re-entrantly from https_client_request(). */
#include "https.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "err.h"
#include "https_internal.h"

#define HTTPS_CLIENT_MAX_HEADERS (64u * 1024u)
#define HTTPS_MAX_HOST           253

struct https_client {
	struct event_base *base;
	struct evdns_base *dns; /* made on first use of a host name */
	SSL_CTX *ctx;
	int have_ca;
	struct call *calls;
	unsigned pending;
};

struct call {
	struct https_client *cli;
	struct call *prev, *next;
	struct evhttp_connection *evcon;
	struct bufferevent *bev; /* owned by evcon */
	SSL *ssl;                /* owned by bev */
	struct event *timer;
	https_done_fn done;
	void *arg;
	enum https_verify verify;
	char host[HTTPS_MAX_HOST + 1];
	int host_is_ip;
	unsigned timeout_ms;
	char pin[TLSID_THUMBPRINT_SIZE];
	char seen[TLSID_THUMBPRINT_SIZE];
	int have_seen;
	int pin_mismatch;
	int verify_error; /* X509_V_ERR_* in CA mode, 0 if none */
	int tls_received; /* a TLS record came back from the server */
	int finished;     /* outcome recorded; timer activated to complete */
	int evreq_error;  /* enum evhttp_request_error + 1, 0 if none */
	int sock_errno;   /* errno seen at failure */
	unsigned long ssl_error;
	/* outcome */
	int error;
	int status;
	uint8_t *body;
	size_t body_len;
	char content_type[128];
	char message[512];
};

__attribute__((format(printf, 2, 3))) static void setmsg(struct call *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->message, sizeof c->message, fmt, ap);
	va_end(ap);
}

const char *https_error_name(int error)
{
	switch (error) {
	case HTTPS_OK: return "ok";
	case HTTPS_E_CONNECT: return "connect";
	case HTTPS_E_TIMEOUT: return "timeout";
	case HTTPS_E_TLS: return "tls";
	case HTTPS_E_PIN: return "pin";
	case HTTPS_E_PROTOCOL: return "protocol";
	case HTTPS_E_TOO_LARGE: return "too_large";
	case HTTPS_E_INTERNAL: return "internal";
	}
	return "unknown";
}

/* ---------------------------------------------------------------- */
/* TLS verification                                                  */

static struct call *call_of_store(X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	return ssl ? SSL_get_app_data(ssl) : NULL;
}

/* Per-certificate callback. The leaf is what we pin and report; OpenSSL may
 * call this several times (once per chain position, and per error). */
static int verify_cb(int preverify_ok, X509_STORE_CTX *x)
{
	struct call *c = call_of_store(x);
	if (!c)
		return 0;
	if (!c->have_seen) {
		X509 *leaf = X509_STORE_CTX_get0_cert(x);
		if (!leaf || tlsid_thumbprint_of(leaf, c->seen) < 0)
			return 0;
		c->have_seen = 1;
	}
	switch (c->verify) {
	case HTTPS_VERIFY_PIN:
		if (!tlsid_thumbprint_equal(c->seen, c->pin)) {
			c->pin_mismatch = 1;
			return 0;
		}
		return 1; /* the pin is the whole decision: chain errors do not matter */
	case HTTPS_VERIFY_FETCH:
		return 0; /* we have what we came for: stop before sending anything */
	case HTTPS_VERIFY_CA:
		if (!preverify_ok && !c->verify_error)
			c->verify_error = X509_STORE_CTX_get_error(x);
		return preverify_ok;
	}
	return 0;
}

/* Notes that the server spoke TLS (tells "refused" from "TLS failed"). */
static void msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
	struct call *c = SSL_get_app_data(ssl);
	if (c && !write_p && content_type != SSL3_RT_HEADER)
		c->tls_received = 1;
}

/* The socket error that ended a connection (ECONNREFUSED, ...) is seen by
 * the first read or write on the socket, deep inside OpenSSL; by the time
 * libevent reports the failure errno says ENOTCONN. So we watch the socket
 * BIO's results and keep the first hard error. */
static long bio_cb(BIO *b, int oper, const char *argp, size_t len, int argi, long argl, int ret,
                   size_t *processed)
{
	struct call *c = (struct call *)BIO_get_callback_arg(b);
	if (c && (oper & BIO_CB_RETURN) && ret <= 0 && !c->sock_errno &&
	    ((oper & ~BIO_CB_RETURN) == BIO_CB_READ || (oper & ~BIO_CB_RETURN) == BIO_CB_WRITE) &&
	    errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != 0)
		c->sock_errno = errno;
	return ret;
}

/* libevent makes the socket BIO when it connects; hook it when the
 * handshake starts, before any I/O on it. */
static void info_cb(const SSL *ssl, int where, int ret)
{
	struct call *c = SSL_get_app_data(ssl);
	if (!c || !(where & SSL_CB_HANDSHAKE_START))
		return;
	https_tls_nodelay(ssl);
	BIO *b = SSL_get_wbio(ssl);
	if (b && !BIO_get_callback_ex(b)) {
		BIO_set_callback_arg(b, (char *)c);
		BIO_set_callback_ex(b, bio_cb);
	}
}

static void unhook(struct call *c)
{
	if (!c->ssl)
		return;
	SSL_set_app_data(c->ssl, NULL);
	BIO *b = SSL_get_wbio(c->ssl);
	if (b && BIO_get_callback_ex(b) == bio_cb) {
		BIO_set_callback_ex(b, NULL);
		BIO_set_callback_arg(b, NULL);
	}
}

/* ---------------------------------------------------------------- */
/* Completion                                                        */

static void call_unlink(struct call *c)
{
	struct https_client *cli = c->cli;
	if (c->prev)
		c->prev->next = c->next;
	else
		cli->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	cli->pending--;
}

/* Drop the connection (and its request, without callbacks) and the call. */
static void call_free(struct call *c)
{
	unhook(c);
	if (c->evcon)
		evhttp_connection_free(c->evcon);
	else if (c->bev)
		bufferevent_free(c->bev);
	if (c->timer)
		event_free(c->timer);
	free(c->body);
	free(c);
}

/* Pull what we can learn about a failure out of the connection's state. */
static void classify_failure(struct call *c)
{
	if (c->verify == HTTPS_VERIFY_FETCH && c->have_seen) {
		c->error = HTTPS_OK;
		c->message[0] = '\0';
		return;
	}
	if (c->pin_mismatch) {
		c->error = HTTPS_E_PIN;
		setmsg(c, "TLS: thumbprint mismatch (got %s)", c->seen);
		return;
	}
	if (c->verify_error) {
		c->error = HTTPS_E_TLS;
		setmsg(c, "TLS: certificate verification failed: %s",
		       X509_verify_cert_error_string(c->verify_error));
		return;
	}
	if (c->evreq_error == EVREQ_HTTP_TIMEOUT + 1) {
		c->error = HTTPS_E_TIMEOUT;
		setmsg(c, "timed out after %u ms", c->timeout_ms);
		return;
	}
	if (c->evreq_error == EVREQ_HTTP_DATA_TOO_LONG + 1) {
		c->error = HTTPS_E_TOO_LARGE;
		setmsg(c, "response larger than the limit");
		return;
	}
	if (c->bev) {
		int dnserr = bufferevent_socket_get_dns_error(c->bev);
		if (dnserr) {
			c->error = HTTPS_E_CONNECT;
			setmsg(c, "cannot resolve %s: %s", c->host, evutil_gai_strerror(dnserr));
			return;
		}
		/* libevent queues OpenSSL's error codes, and also bare SSL_ERROR_*
		 * values (SSL_ERROR_SYSCALL = a socket error, not a TLS one). */
		unsigned long e;
		while ((e = bufferevent_get_openssl_error(c->bev)) != 0)
			if (e > 0xff && !c->ssl_error)
				c->ssl_error = e;
	}
	if (c->ssl_error) {
		char buf[256];
		https_tls_errstr(c->ssl_error, buf, sizeof buf);
		c->error = HTTPS_E_TLS;
		setmsg(c, "TLS: %s", buf);
		return;
	}
	if (!c->tls_received) {
		c->error = HTTPS_E_CONNECT;
		if (c->sock_errno == ECONNREFUSED)
			setmsg(c, "connection refused");
		else if (c->sock_errno)
			setmsg(c, "cannot connect: %s", strerror(c->sock_errno));
		else
			setmsg(c, "connection closed before TLS started");
		return;
	}
	c->error = HTTPS_E_PROTOCOL;
	if (c->ssl && !SSL_is_init_finished(c->ssl))
		setmsg(c, "TLS: handshake failed%s",
		       c->sock_errno ? " (connection reset)" : " (server closed the connection)");
	else
		setmsg(c, "connection closed before a complete response");
}

static void finish(struct call *c)
{
	if (c->finished)
		return;
	c->finished = 1;
	ERR_clear_error(); /* OpenSSL's queue is per thread: leave it clean */
	event_active(c->timer, EV_TIMEOUT, 0);
}

static void on_error(enum evhttp_request_error err, void *arg)
{
	struct call *c = arg;
	c->evreq_error = (int)err + 1;
	if (!c->sock_errno)
		c->sock_errno = EVUTIL_SOCKET_ERROR();
}

static void on_response(struct evhttp_request *req, void *arg)
{
	struct call *c = arg;
	if (c->finished)
		return;
	int code = req ? evhttp_request_get_response_code(req) : 0;
	if (!c->sock_errno)
		c->sock_errno = EVUTIL_SOCKET_ERROR();
	if (code == 0) {
		classify_failure(c);
		finish(c);
		return;
	}
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	c->body = malloc(n + 1);
	if (!c->body) {
		c->error = HTTPS_E_INTERNAL;
		setmsg(c, "out of memory");
		finish(c);
		return;
	}
	if (n)
		evbuffer_remove(in, c->body, n);
	c->body[n] = 0;
	c->body_len = n;
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	if (ct)
		snprintf(c->content_type, sizeof c->content_type, "%s", ct);
	c->status = code;
	c->error = HTTPS_OK;
	finish(c);
}

/* Deadline reached, or activated by finish(): complete the call. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct call *c = arg;
	if (!c->finished) {
		c->finished = 1;
		if (c->verify == HTTPS_VERIFY_FETCH && c->have_seen) {
			c->error = HTTPS_OK;
		} else if (c->pin_mismatch) {
			classify_failure(c);
		} else {
			c->error = HTTPS_E_TIMEOUT;
			setmsg(c, "timed out after %u ms", c->timeout_ms);
		}
	}
	static const uint8_t empty[1];
	struct https_result res = {
	    .error = c->error,
	    .message = c->error ? c->message : "",
	    .status = c->error ? 0 : c->status,
	    .body = c->body && !c->error ? c->body : empty,
	    .body_len = c->body && !c->error ? c->body_len : 0,
	    .content_type = c->content_type[0] ? c->content_type : NULL,
	    .peer_thumbprint = c->have_seen ? c->seen : NULL,
	};
	https_done_fn done = c->done;
	void *darg = c->arg;
	call_unlink(c);
	/* Free the connection first so a callback that starts a new request
	 * does not count this one; the result still points into c. */
	unhook(c);
	if (c->evcon)
		evhttp_connection_free(c->evcon);
	c->evcon = NULL;
	c->bev = NULL;
	c->ssl = NULL;
	ERR_clear_error();
	done(&res, darg);
	call_free(c);
}

/* ---------------------------------------------------------------- */
/* Public API                                                        */

int https_client_new(struct event_base *base, const struct tlsid *identity, const char *ca_file,
                     struct https_client **ret, char *errbuf, size_t errlen)
{
	if (!base || !ret)
		return ATTEST_E_ARG;
	https_ignore_sigpipe();
	struct https_client *cli = calloc(1, sizeof *cli);
	if (!cli)
		return ATTEST_E_NOMEM;
	cli->base = base;
	cli->ctx = https_tls_ctx_new(0, identity);
	if (!cli->ctx) {
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "cannot set up TLS with the client identity");
		free(cli);
		return ATTEST_E_CRYPTO;
	}
	if (ca_file) {
		if (SSL_CTX_load_verify_locations(cli->ctx, ca_file, NULL) != 1) {
			ERR_clear_error();
			if (errbuf && errlen)
				snprintf(errbuf, errlen, "%s: cannot load CA certificates",
				         ca_file);
			SSL_CTX_free(cli->ctx);
			free(cli);
			return ATTEST_E_IO;
		}
		cli->have_ca = 1;
	}
	*ret = cli;
	return 0;
}

void https_client_free(struct https_client *cli)
{
	if (!cli)
		return;
	while (cli->calls) {
		struct call *c = cli->calls;
		call_unlink(c);
		call_free(c);
	}
	if (cli->dns)
		evdns_base_free(cli->dns, 1);
	SSL_CTX_free(cli->ctx);
	free(cli);
}

unsigned https_client_pending(const struct https_client *cli)
{
	return cli->pending;
}

static int host_ok(const char *h)
{
	size_t n = strlen(h);
	if (n == 0 || n > HTTPS_MAX_HOST)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = h[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == ':'))
			return 0;
	}
	return 1;
}

static enum evhttp_cmd_type method_cmd(const char *m)
{
	if (!m || strcmp(m, "GET") == 0)
		return EVHTTP_REQ_GET;
	if (strcmp(m, "POST") == 0)
		return EVHTTP_REQ_POST;
	if (strcmp(m, "PUT") == 0)
		return EVHTTP_REQ_PUT;
	if (strcmp(m, "DELETE") == 0)
		return EVHTTP_REQ_DELETE;
	if (strcmp(m, "PATCH") == 0)
		return EVHTTP_REQ_PATCH;
	if (strcmp(m, "HEAD") == 0)
		return EVHTTP_REQ_HEAD;
	return (enum evhttp_cmd_type)0;
}

static int value_ok(const char *v)
{
	for (; *v; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			return 0;
	return 1;
}

int https_client_request(struct https_client *cli, const struct https_call *call,
                         https_done_fn done, void *arg)
{
	if (!cli || !call || !done || !call->host || !host_ok(call->host) || call->port == 0)
		return ATTEST_E_ARG;
	enum evhttp_cmd_type cmd = method_cmd(call->method);
	const char *path = call->path ? call->path : "/";
	if (!cmd || path[0] != '/' || !value_ok(path) ||
	    (call->bearer && !value_ok(call->bearer)) ||
	    (call->content_type && !value_ok(call->content_type)) ||
	    (call->body_len && !call->body))
		return ATTEST_E_ARG;
	if (call->verify == HTTPS_VERIFY_CA && !cli->have_ca)
		return ATTEST_E_ARG;
	if (call->verify != HTTPS_VERIFY_PIN && call->verify != HTTPS_VERIFY_CA &&
	    call->verify != HTTPS_VERIFY_FETCH)
		return ATTEST_E_ARG;

	struct call *c = calloc(1, sizeof *c);
	if (!c)
		return ATTEST_E_NOMEM;
	if (call->verify == HTTPS_VERIFY_PIN && tlsid_thumbprint_parse(call->pin, c->pin) < 0) {
		free(c);
		return ATTEST_E_ARG;
	}
	c->cli = cli;
	c->done = done;
	c->arg = arg;
	c->verify = call->verify;
	c->timeout_ms = call->timeout_ms ? call->timeout_ms : HTTPS_DEFAULT_REQUEST_TIMEOUT_MS;
	snprintf(c->host, sizeof c->host, "%s", call->host);
	unsigned char ipbuf[16];
	c->host_is_ip =
	    inet_pton(AF_INET, c->host, ipbuf) == 1 || inet_pton(AF_INET6, c->host, ipbuf) == 1;
	if (!c->host_is_ip && strchr(c->host, ':')) {
		free(c);
		return ATTEST_E_ARG;
	}
	int rc = ATTEST_E_NOMEM;
	struct evhttp_request *req = NULL;

	c->timer = evtimer_new(cli->base, on_timer, c);
	if (!c->timer)
		goto fail;
	c->ssl = SSL_new(cli->ctx);
	if (!c->ssl)
		goto fail;
	SSL_set_app_data(c->ssl, c);
	SSL_set_verify(c->ssl, SSL_VERIFY_PEER, verify_cb);
	SSL_set_msg_callback(c->ssl, msg_cb);
	SSL_set_info_callback(c->ssl, info_cb);
	if (!c->host_is_ip && !SSL_set_tlsext_host_name(c->ssl, c->host))
		goto fail_ssl;
	if (c->verify == HTTPS_VERIFY_CA) {
		int ok = c->host_is_ip
		             ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), c->host)
		             : SSL_set1_host(c->ssl, c->host);
		if (ok != 1)
			goto fail_ssl;
	}
	c->bev = bufferevent_openssl_socket_new(cli->base, -1, c->ssl, BUFFEREVENT_SSL_CONNECTING,
	                                        BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (!c->bev)
		goto fail_ssl;
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);

	struct evdns_base *dns = NULL;
	if (!c->host_is_ip) {
		if (!cli->dns)
			cli->dns = evdns_base_new(cli->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
			                                         EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (!cli->dns)
			goto fail;
		dns = cli->dns;
	}
	c->evcon =
	    evhttp_connection_base_bufferevent_new(cli->base, dns, c->bev, c->host, call->port);
	if (!c->evcon)
		goto fail; /* bev freed by call_free */
	struct timeval tv = {.tv_sec = c->timeout_ms / 1000,
	                     .tv_usec = (c->timeout_ms % 1000) * 1000};
	evhttp_connection_set_timeout_tv(c->evcon, &tv);
	evhttp_connection_set_retries(c->evcon, 0);
	evhttp_connection_set_max_body_size(
	    c->evcon,
	    (ev_ssize_t)(call->max_response ? call->max_response : HTTPS_DEFAULT_MAX_RESPONSE));
	evhttp_connection_set_max_headers_size(c->evcon, HTTPS_CLIENT_MAX_HEADERS);

	req = evhttp_request_new(on_response, c);
	if (!req)
		goto fail;
	evhttp_request_set_error_cb(req, on_error);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char hostport[HTTPS_MAX_HOST + 16];
	if (strchr(c->host, ':'))
		snprintf(hostport, sizeof hostport, "[%s]:%u", c->host, (unsigned)call->port);
	else
		snprintf(hostport, sizeof hostport, "%s:%u", c->host, (unsigned)call->port);
	evhttp_add_header(h, "Host", hostport);
	evhttp_add_header(h, "User-Agent", "attest/" ATTEST_VERSION);
	evhttp_add_header(h, "Accept", "application/json");
	evhttp_add_header(h, "Connection", "close");
	if (call->bearer) {
		char auth[1024];
		if ((size_t)snprintf(auth, sizeof auth, "Bearer %s", call->bearer) >= sizeof auth) {
			rc = ATTEST_E_ARG;
			goto fail;
		}
		evhttp_add_header(h, "Authorization", auth);
		OPENSSL_cleanse(auth, sizeof auth);
	}
	if (call->body) {
		evhttp_add_header(h, "Content-Type",
		                  call->content_type ? call->content_type : "application/json");
		if (evbuffer_add(evhttp_request_get_output_buffer(req), call->body,
		                 call->body_len) < 0)
			goto fail;
	}

	c->next = cli->calls;
	if (cli->calls)
		cli->calls->prev = c;
	cli->calls = c;
	cli->pending++;
	struct timeval dl = tv;
	event_add(c->timer, &dl);
	/* From here on evhttp owns req. A failure to start is reported through
	 * the callback like any other (finish() defers it to the timer). */
	if (evhttp_make_request(c->evcon, req, cmd, path) < 0 && !c->finished) {
		/* libevent 2.1 fails here only on allocation or socket setup
		 * errors; on some of those it frees req, on others not, and we
		 * cannot tell which: req is left alone (a rare leak beats a
		 * double free). Connection errors proper come through on_response. */
		c->sock_errno = errno;
		classify_failure(c);
		if (!c->error) {
			c->error = HTTPS_E_CONNECT;
			setmsg(c, "cannot start the connection");
		}
		finish(c);
	}
	return 0;

fail_ssl:
	if (!c->bev) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	rc = ATTEST_E_CRYPTO;
fail:
	ERR_clear_error();
	if (req)
		evhttp_request_free(req);
	call_free(c);
	return rc;
}

/* ---------------------------------------------------------------- */
/* Synchronous wrapper                                               */

struct sync_state {
	struct event_base *base;
	struct https_response *resp;
	int done;
};

static void sync_done(const struct https_result *res, void *arg)
{
	struct sync_state *st = arg;
	struct https_response *r = st->resp;
	r->error = res->error;
	snprintf(r->message, sizeof r->message, "%s", res->message);
	r->status = res->status;
	r->body = malloc(res->body_len + 1);
	if (r->body) {
		memcpy(r->body, res->body, res->body_len);
		r->body[res->body_len] = 0;
		r->body_len = res->body_len;
	} else if (!r->error) {
		r->error = HTTPS_E_INTERNAL;
		snprintf(r->message, sizeof r->message, "out of memory");
	}
	snprintf(r->content_type, sizeof r->content_type, "%s",
	         res->content_type ? res->content_type : "");
	snprintf(r->peer_thumbprint, sizeof r->peer_thumbprint, "%s",
	         res->peer_thumbprint ? res->peer_thumbprint : "");
	st->done = 1;
	event_base_loopbreak(st->base);
}

int https_request_sync(const struct tlsid *identity, const char *ca_file,
                       const struct https_call *call, struct https_response *ret)
{
	memset(ret, 0, sizeof *ret);
	struct sync_state st = {.resp = ret};
	struct https_client *cli = NULL;
	int rc = ATTEST_E_NOMEM;
	st.base = event_base_new();
	if (!st.base) {
		snprintf(ret->message, sizeof ret->message, "cannot create an event loop");
		return rc;
	}
	rc = https_client_new(st.base, identity, ca_file, &cli, ret->message, sizeof ret->message);
	if (rc < 0)
		goto out;
	rc = https_client_request(cli, call, sync_done, &st);
	if (rc < 0) {
		snprintf(ret->message, sizeof ret->message, "invalid request: %s",
		         attest_strerror(rc));
		goto out;
	}
	while (!st.done)
		if (event_base_dispatch(st.base) < 0)
			break;
	if (!st.done) {
		rc = ATTEST_E_STATE;
		snprintf(ret->message, sizeof ret->message, "event loop stopped early");
	}
out:
	https_client_free(cli);
	event_base_free(st.base);
	if (!ret->body && rc == 0)
		ret->body = calloc(1, 1);
	return rc;
}

void https_response_clear(struct https_response *resp)
{
	if (!resp)
		return;
	free(resp->body);
	memset(resp, 0, sizeof *resp);
}
