/* HTTPS client: evhttp connections over bufferevent_openssl, with
 * thumbprint pinning, CA verification or thumbprint fetching, a deadline per
 * request and classified errors. Contract in https.h.
 *
 * Kept-alive connections (https_client_set_keepalive): a connection whose
 * answer came back complete and without "Connection: close" is parked in an
 * idle pool keyed by (verify mode, host, port, pinned thumbprint), for at
 * most idle_ms, and the next request with the same key takes it instead of
 * a new TLS handshake. A parked connection that the peer closes is dropped
 * (evhttp's close callback). A request sent on a reused connection that
 * fails before any byte of the answer came back is sent once more on a new
 * connection, but only if the caller marked it retry_safe (idempotent).
 *
 * Life of a request (struct call): https_client_request() starts it and arms
 * its timer with the deadline. evhttp's callbacks only record the outcome
 * and activate the timer; the timer callback (never inside evhttp's stack)
 * frees the connection, calls the user's callback once, and frees the call.
 * So evhttp never sees its connection vanish under its feet, and the user is
 * never called re-entrantly from https_client_request(). */
#include "https.h"
#include "hex.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "err.h"
#include "https_internal.h"

#define HTTPS_CLIENT_MAX_HEADERS (64u * 1024u)
#define HTTPS_MAX_HOST           253

/* A parked, kept-alive connection (the pool is a list, most recent first,
 * and a hash on (host, port) so that taking one does not walk the pool). */
struct idle {
	struct https_client *cli;
	struct idle *prev, *next;
	struct idle *chain; /* hash bucket */
	int closed;         /* the peer closed it: freed from the timer */
	struct evhttp_connection *evcon;
	struct bufferevent *bev; /* owned by evcon */
	SSL *ssl;                /* owned by bev */
	struct event *timer;     /* idle timeout, or activated when the peer closed */
	enum https_verify verify;
	uint16_t port;
	char seen[TLSID_THUMBPRINT_SIZE]; /* the peer's thumbprint, checked at the handshake */
	char host[]; /* NUL-terminated: a verifier parks one per agent, so no fixed 254 bytes */
};

/* A TLS session to resume, per (host, port, pin); pin mode only. Kept
 * serialized (i2d_SSL_SESSION) and without its server certificate (about
 * 0.8 KB with the server's ticket) rather than as an SSL_SESSION, whose
 * parsed certificate alone takes about 4 KB: a verifier keeps one per
 * agent. Parsed again (d2i, a few microseconds without the certificate,
 * whose parse would cost about 0.2 ms on OpenSSL 3.0) only for the
 * handshake that offers it. The certificate's place is taken by its
 * thumbprint: the session is kept only when that was the pin, and the
 * pin is compared with it again when the session is resumed
 * (check_resumed). */
struct sess {
	struct sess *chain;       /* hash bucket */
	struct sess *prev, *next; /* LRU, most recent first */
	uint8_t *der;             /* the session, malloc'd */
	uint16_t port;
	uint16_t der_len;
	uint8_t pin[32]; /* the pinned thumbprint's SHA-256 value */
	char host[];     /* NUL-terminated */
};
/* A session larger than this is not kept (one with a certificate chain of
 * unusual size): the next connection makes a full handshake. */
#define SESS_MAX_DER 8192u

#define SESS_BUCKETS 1024u
#define IDLE_BUCKETS 4096u
/* A parked connection is given back this long before the server said it
 * would close it (Keep-Alive: timeout=N), so that a request does not meet
 * the server's close on the way. */
#define IDLE_MARGIN_MS 2000u

struct https_client {
	struct event_base *base;
	struct evdns_base *dns; /* made on first use of a host name */
	SSL_CTX *ctx;
	int have_ca;
	struct call *calls;
	unsigned pending;
	struct idle *idle; /* parked connections, most recently parked first */
	struct idle *idle_tail;
	struct idle *idle_buckets[IDLE_BUCKETS];
	unsigned idle_count, idle_max, idle_ms;
	struct sess *sess_buckets[SESS_BUCKETS];
	struct sess *sess_head, *sess_tail;
	unsigned sess_count, sess_max;
	size_t sess_bytes; /* their DER */
	struct https_client_stats st;
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
	int host_is_ip;
	unsigned timeout_ms;
	char pin[TLSID_THUMBPRINT_SIZE];
	char seen[TLSID_THUMBPRINT_SIZE];
	int have_seen;
	int pin_mismatch;
	int verify_error; /* X509_V_ERR_* in CA mode, 0 if none */
	int tls_received; /* a TLS record came back from the server */
	int finished;     /* outcome recorded; timer activated to complete */
	int reused;       /* sent on a kept-alive connection from the pool */
	int answer_seen;  /* application data came back on the reused connection */
	int keep;         /* the answer allows keeping the connection */
	unsigned keep_ms; /* the server keeps it idle this long (Keep-Alive), 0: not said */
	int retry_safe;   /* idempotent: may be sent again (see https.h) */
	int retried;
	int resumed_checked; /* the resumed session's peer was checked */
	SSL_SESSION *offer;  /* a session to resume (a reference), or NULL */
	/* the thumbprint of the server certificate offer was issued with */
	char offer_seen[TLSID_THUMBPRINT_SIZE];
	struct timespec deadline; /* CLOCK_MONOTONIC end of the whole request */
	uint16_t port;
	enum evhttp_cmd_type cmd;
	char *path;
	uint8_t *reqbody; /* copies for a second send; bearer requests never retry */
	size_t reqbody_len;
	char reqtype[128];
	char **xheaders; /* extra headers: name, value, ..., NULL */
	size_t max_response;
	int evreq_error; /* enum evhttp_request_error + 1, 0 if none */
	int sock_errno;  /* errno seen at failure */
	unsigned long ssl_error;
	/* outcome */
	int error;
	int status;
	uint8_t *body;
	size_t body_len;
	char content_type[128];
	/* Made by setmsg (a failure's sentence, MESSAGE_MAX), NULL otherwise:
	 * with host at the end, a call stays under 1 KB, a size glibc hands
	 * out from its per-thread cache instead of its sorted free lists. */
	char *message;
	char host[]; /* NUL-terminated, at most HTTPS_MAX_HOST */
};
#define MESSAGE_MAX 512

/* A failure's sentence: c's own, or the one for running out of memory. */
static const char *call_message(const struct call *c)
{
	return c->message ? c->message : "out of memory";
}

__attribute__((format(printf, 2, 3))) static void setmsg(struct call *c, const char *fmt, ...)
{
	if (!c->message && !(c->message = malloc(MESSAGE_MAX)))
		return; /* call_message() says "out of memory" */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->message, MESSAGE_MAX, fmt, ap);
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

/* Notes that the server spoke TLS (tells "refused" from "TLS failed"), and
 * on a reused connection whether any of the answer came back: application
 * data (TLS 1.3 hides the real type inside the record; an encrypted
 * close_notify is an alert there, so it does not count as an answer). */
static void msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
	struct call *c = SSL_get_app_data(ssl);
	if (!c || write_p)
		return;
	if (content_type != SSL3_RT_HEADER)
		c->tls_received = 1;
	const uint8_t *b = buf;
	if (!c->reused || len < 1)
		return;
	if (content_type == SSL3_RT_INNER_CONTENT_TYPE && b[0] == SSL3_RT_APPLICATION_DATA)
		c->answer_seen = 1;
	else if (content_type == SSL3_RT_HEADER && b[0] == SSL3_RT_APPLICATION_DATA &&
	         SSL_version(ssl) != TLS1_3_VERSION)
		c->answer_seen = 1;
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

/* ---------------------------------------------------------------- */
/* TLS sessions to resume                                            */

static size_t sess_bucket(const char *host, uint16_t port)
{
	uint32_t h = 2166136261u ^ port;
	for (const char *p = host; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return h % SESS_BUCKETS;
}

/* The 32 bytes of a "SHA256:" + 64 hex digits thumbprint (normalized by
 * tlsid_thumbprint_parse). -1 if it is not one. */
static int pin_bytes(const char *pin, uint8_t out[32])
{
	if (strncmp(pin, "SHA256:", 7) != 0 || strlen(pin + 7) != 64)
		return -1;
	for (size_t i = 0; i < 32; i++) {
		int v = 0;
		for (size_t k = 0; k < 2; k++) {
			char ch = pin[7 + 2 * i + k];
			int d = ch >= '0' && ch <= '9'   ? ch - '0'
			        : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
			        : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
			                                 : -1;
			if (d < 0)
				return -1;
			v = v * 16 + d;
		}
		out[i] = (uint8_t)v;
	}
	return 0;
}

static struct sess *sess_find(struct https_client *cli, const char *host, uint16_t port,
                              const char *pin)
{
	uint8_t raw[32];
	if (pin_bytes(pin, raw) < 0)
		return NULL;
	for (struct sess *e = cli->sess_buckets[sess_bucket(host, port)]; e; e = e->chain)
		if (e->port == port && strcmp(e->host, host) == 0 &&
		    memcmp(e->pin, raw, sizeof raw) == 0)
			return e;
	return NULL;
}

static void sess_drop(struct https_client *cli, struct sess *e)
{
	struct sess **pp = &cli->sess_buckets[sess_bucket(e->host, e->port)];
	while (*pp && *pp != e)
		pp = &(*pp)->chain;
	if (*pp)
		*pp = e->chain;
	if (e->prev)
		e->prev->next = e->next;
	else
		cli->sess_head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		cli->sess_tail = e->prev;
	OPENSSL_cleanse(e->der, e->der_len); /* the resumption secret */
	free(e->der);
	cli->sess_bytes -= e->der_len;
	free(e);
	cli->sess_count--;
}

/* One DER element at in[0..len): its tag (single-byte tags only, as every
 * field of an SSL_SESSION has) and where its content starts and ends.
 * -1 if it does not fit in len or uses a form we do not expect. */
static int der_next(const uint8_t *in, size_t len, uint8_t *ret_tag, size_t *ret_hdr,
                    size_t *ret_total)
{
	if (len < 2 || (in[0] & 0x1f) == 0x1f)
		return -1;
	size_t n, h;
	if (in[1] < 0x80) {
		n = in[1];
		h = 2;
	} else if (in[1] == 0x81 && len >= 3) {
		n = in[2];
		h = 3;
	} else if (in[1] == 0x82 && len >= 4) {
		n = (size_t)in[2] << 8 | in[3];
		h = 4;
	} else {
		return -1;
	}
	if (n > len - h)
		return -1;
	*ret_tag = in[0];
	*ret_hdr = h;
	*ret_total = h + n;
	return 0;
}

/* The session der[0..len) re-encoded without its peer certificate (the
 * [3] field of OpenSSL's SSL_SESSION_ASN1), into a new malloc'd buffer;
 * checked by parsing it back. NULL if it is not the shape we expect or
 * out of memory: then the session is not kept. */
static uint8_t *sess_strip_peer(const uint8_t *der, size_t len, size_t *ret_len)
{
	uint8_t tag;
	size_t hdr, total;
	if (der_next(der, len, &tag, &hdr, &total) < 0 || tag != 0x30 || total != len)
		return NULL;
	uint8_t *out = malloc(len + 4); /* the body is copied at out + 4 first */
	if (!out)
		return NULL;
	size_t body = 0;
	int dropped = 0;
	for (size_t at = hdr; at < len;) {
		size_t eh, et;
		if (der_next(der + at, len - at, &tag, &eh, &et) < 0)
			goto fail;
		if (tag == 0xa3 && !dropped)
			dropped = 1;
		else {
			memcpy(out + 4 + body, der + at, et); /* room for the longest header */
			body += et;
		}
		at += et;
	}
	if (body > 0xffff)
		goto fail;
	/* The header, then the body moved right behind it. */
	size_t h = body < 0x80 ? 2 : body <= 0xff ? 3 : 4;
	out[0] = 0x30;
	if (h == 2)
		out[1] = (uint8_t)body;
	else if (h == 3)
		out[1] = 0x81, out[2] = (uint8_t)body;
	else
		out[1] = 0x82, out[2] = (uint8_t)(body >> 8), out[3] = (uint8_t)body;
	memmove(out + h, out + 4, body);
	const unsigned char *r = out;
	SSL_SESSION *back = d2i_SSL_SESSION(NULL, &r, (long)(h + body));
	int ok = back && r == out + h + body && SSL_SESSION_get0_peer(back) == NULL &&
	         SSL_SESSION_is_resumable(back);
	SSL_SESSION_free(back);
	/* Kept in a block of its own size: the work buffer had room for the
	 * certificate too (about 570 bytes against 176 with an agent). */
	uint8_t *fit = ok ? malloc(h + body) : NULL;
	if (!fit)
		goto fail;
	memcpy(fit, out, h + body);
	OPENSSL_cleanse(out, len + 4);
	free(out);
	*ret_len = h + body;
	return fit;
fail:
	OPENSSL_cleanse(out, len + 4);
	free(out);
	ERR_clear_error();
	return NULL;
}

/* Keep s, serialized, as the session to resume for (host, port, pin):
 * replacing the one kept there, else the least recently issued makes room.
 * pin is the server certificate's thumbprint s was issued with (checked
 * against the pin by the caller). Nothing is kept when it does not fit or
 * does not serialize. */
static void sess_keep(struct https_client *cli, SSL_SESSION *s, const char *host, uint16_t port,
                      const char *pin)
{
	uint8_t raw[32];
	if (cli->sess_max == 0 || !SSL_SESSION_is_resumable(s) || pin_bytes(pin, raw) < 0)
		return;
	int full_len = i2d_SSL_SESSION(s, NULL);
	if (full_len <= 0 || (unsigned)full_len > SESS_MAX_DER) {
		ERR_clear_error();
		return;
	}
	uint8_t *full = malloc((size_t)full_len), *w = full;
	if (!full || i2d_SSL_SESSION(s, &w) != full_len) {
		if (full)
			OPENSSL_cleanse(full, (size_t)full_len);
		free(full);
		ERR_clear_error();
		return;
	}
	size_t n = 0;
	uint8_t *der = sess_strip_peer(full, (size_t)full_len, &n);
	OPENSSL_cleanse(full, (size_t)full_len);
	free(full);
	if (!der)
		return;
	struct sess *e = sess_find(cli, host, port, pin);
	if (e) {
		OPENSSL_cleanse(e->der, e->der_len);
		free(e->der);
		cli->sess_bytes += n - e->der_len;
		e->der = der;
		e->der_len = (uint16_t)n;
		if (e != cli->sess_head) { /* most recent first */
			e->prev->next = e->next;
			if (e->next)
				e->next->prev = e->prev;
			else
				cli->sess_tail = e->prev;
			e->prev = NULL;
			e->next = cli->sess_head;
			cli->sess_head->prev = e;
			cli->sess_head = e;
		}
		return;
	}
	if (cli->sess_count >= cli->sess_max && cli->sess_tail)
		sess_drop(cli, cli->sess_tail);
	size_t hl = strlen(host);
	e = calloc(1, sizeof *e + hl + 1);
	if (!e) {
		OPENSSL_cleanse(der, n);
		free(der);
		return;
	}
	e->der = der;
	e->der_len = (uint16_t)n;
	cli->sess_bytes += n;
	e->port = port;
	memcpy(e->host, host, hl + 1);
	memcpy(e->pin, raw, sizeof raw);
	size_t b = sess_bucket(e->host, e->port);
	e->chain = cli->sess_buckets[b];
	cli->sess_buckets[b] = e;
	cli->sess_count++;
	e->next = cli->sess_head;
	if (cli->sess_head)
		cli->sess_head->prev = e;
	cli->sess_head = e;
	if (!cli->sess_tail)
		cli->sess_tail = e;
}

/* OpenSSL hands over a session the server issued (TLS 1.3: a ticket after
 * the handshake). It is kept, serialized, for the call's (host, port, pin)
 * if its server certificate is the pinned one: the original stays the
 * connection's, and OpenSSL marks it not resumable when the connection
 * ends without a TLS shutdown. Returns 0: OpenSSL keeps its reference. */
static int sess_new_cb(SSL *ssl, SSL_SESSION *s)
{
	struct call *c = SSL_get_app_data(ssl);
	if (!c || c->verify != HTTPS_VERIFY_PIN || !c->have_seen || c->pin_mismatch ||
	    !tlsid_thumbprint_equal(c->seen, c->pin))
		return 0;
	sess_keep(c->cli, s, c->host, c->port, c->pin);
	return 0;
}

/* A resumed handshake runs no certificate verification: the server proved
 * it holds the session's secret, which only the server that passed the pin
 * check got. Still, the thumbprint of the server certificate the session
 * was issued with (kept beside it, the certificate itself is not) is
 * compared with the pin here, before any request byte is written; on a
 * mismatch the socket is shut and the request fails as HTTPS_E_PIN. */
static void check_resumed(const SSL *ssl, struct call *c)
{
	if (c->resumed_checked || !SSL_session_reused((SSL *)ssl))
		return;
	c->resumed_checked = 1;
	c->cli->st.resumed++;
	X509 *peer = SSL_get0_peer_certificate(ssl);
	int known = peer ? tlsid_thumbprint_of(peer, c->seen) == 0 : c->offer && c->offer_seen[0];
	if (!peer && known)
		memcpy(c->seen, c->offer_seen, sizeof c->seen);
	if (known) {
		c->have_seen = 1;
		if (c->verify != HTTPS_VERIFY_PIN || tlsid_thumbprint_equal(c->seen, c->pin))
			return;
	}
	c->pin_mismatch = 1;
	int fd = SSL_get_fd(ssl);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

/* libevent makes the socket BIO when it connects; hook it when the
 * handshake starts, before any I/O on it. */
static void info_cb(const SSL *ssl, int where, int ret)
{
	struct call *c = SSL_get_app_data(ssl);
	if (c && (where & SSL_CB_HANDSHAKE_DONE))
		check_resumed(ssl, c);
	if (!c || !(where & SSL_CB_HANDSHAKE_START))
		return;
	/* libevent clears the TLS object when it connects the socket, which
	 * drops a session set before: offer it now, before the ClientHello. */
	if (c->offer && !SSL_is_init_finished(ssl) && SSL_get_session(ssl) == NULL)
		(void)SSL_set_session((SSL *)ssl, c->offer);
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
	free(c->message);
	free(c->path);
	free(c->reqbody);
	for (size_t i = 0; c->xheaders && c->xheaders[i]; i++) {
		OPENSSL_cleanse(c->xheaders[i], strlen(c->xheaders[i]));
		free(c->xheaders[i]);
	}
	free(c->xheaders);
	SSL_SESSION_free(c->offer);
	free(c);
}

/* Pull what we can learn about a failure out of the connection's state. */
static void classify_failure(struct call *c)
{
	if (c->verify == HTTPS_VERIFY_FETCH && c->have_seen) {
		c->error = HTTPS_OK;
		free(c->message);
		c->message = NULL;
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

/* The "timeout=N" (seconds) of a Keep-Alive header, in ms; 0 if absent or
 * malformed (then the client's own idle time alone applies). */
static unsigned keepalive_ms(const char *v)
{
	const char *t = v ? strcasestr(v, "timeout=") : NULL;
	if (!t)
		return 0;
	unsigned long n = 0;
	int digits = 0;
	for (t += 8; *t >= '0' && *t <= '9' && digits < 6; t++, digits++)
		n = n * 10 + (unsigned long)(*t - '0');
	if (digits == 0 || digits == 6)
		return 0;
	return (unsigned)n * 1000u;
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
	/* The three headers we read, in one pass over the answer's (the first
	 * of each name counts, as with evhttp_find_header). */
	const char *ct = NULL, *conn = NULL, *ka = NULL;
	const struct evkeyvalq *hs = evhttp_request_get_input_headers(req);
	for (const struct evkeyval *h = hs->tqh_first; h; h = h->next.tqe_next) {
		const char *k = h->key;
		if ((k[0] | 0x20) == 'c') {
			if (!ct && strcasecmp(k, "Content-Type") == 0)
				ct = h->value;
			else if (!conn && strcasecmp(k, "Connection") == 0)
				conn = h->value;
		} else if ((k[0] | 0x20) == 'k' && !ka && strcasecmp(k, "Keep-Alive") == 0) {
			ka = h->value;
		}
	}
	if (ct)
		snprintf(c->content_type, sizeof c->content_type, "%s", ct);
	c->status = code;
	c->error = HTTPS_OK;
	/* Our requests are HTTP/1.1 without "Connection: close": the
	 * connection stays open unless the answer says otherwise. */
	c->keep = !conn || !strcasestr(conn, "close");
	c->keep_ms = keepalive_ms(ka);
	finish(c);
}

static int conn_new(struct call *c);
static int call_send(struct call *c);
static void idle_park(struct call *c);

/* A connection taken from the pool closes without being parked again:
 * keep its TLS session to resume (idle_park dropped the copy), if OpenSSL
 * still holds it resumable. Not after a pin or TLS failure. */
static void call_keep_session(struct call *c)
{
	if (!c->reused || !c->ssl || c->verify != HTTPS_VERIFY_PIN || c->pin_mismatch ||
	    !c->have_seen || c->error == HTTPS_E_PIN || c->error == HTTPS_E_TLS ||
	    !tlsid_thumbprint_equal(c->seen, c->pin))
		return;
	SSL_SESSION *s = SSL_get_session(c->ssl);
	if (s)
		sess_keep(c->cli, s, c->host, c->port, c->pin);
	ERR_clear_error();
}

/* A request sent on a reused connection failed before any byte of its
 * answer came back: the peer most likely closed the idle connection as we
 * wrote. If the caller said the request is idempotent and time is left,
 * send it once more on a new connection. 0: sent again (the timer rearmed). */
static int call_retry(struct call *c)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t left = (int64_t)(c->deadline.tv_sec - now.tv_sec) * 1000 +
	               (c->deadline.tv_nsec - now.tv_nsec) / 1000000;
	if (!c->reused || c->answer_seen || !c->retry_safe || c->retried || left < 50 ||
	    c->error == HTTPS_E_TIMEOUT || c->error == HTTPS_E_PIN || c->error == HTTPS_E_INTERNAL)
		return -1;
	call_keep_session(c);
	unhook(c);
	if (c->evcon)
		evhttp_connection_free(c->evcon);
	c->evcon = NULL;
	c->bev = NULL;
	c->ssl = NULL;
	ERR_clear_error();
	c->reused = c->answer_seen = c->keep = 0;
	c->tls_received = c->finished = c->evreq_error = c->sock_errno = 0;
	c->pin_mismatch = c->verify_error = c->have_seen = 0;
	c->ssl_error = 0;
	c->error = HTTPS_OK;
	free(c->message);
	c->message = NULL;
	c->retried = 1;
	c->cli->st.retried++;
	if (conn_new(c) < 0) {
		c->error = HTTPS_E_INTERNAL;
		setmsg(c, "cannot start a new connection");
		c->finished = 1;
		return -1;
	}
	struct timeval tv = {.tv_sec = left / 1000, .tv_usec = (left % 1000) * 1000};
	evhttp_connection_set_timeout_tv(c->evcon, &tv);
	event_add(c->timer, &tv);
	if (call_send(c) < 0 && !c->finished) {
		classify_failure(c);
		if (!c->error) {
			c->error = HTTPS_E_CONNECT;
			setmsg(c, "cannot start the connection");
		}
		finish(c);
	}
	return 0;
}

/* Deadline reached, or activated by finish(): complete the call. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct call *c = arg;
	if (c->finished && c->error != HTTPS_OK && call_retry(c) == 0)
		return;
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
	    .message = c->error ? call_message(c) : "",
	    .status = c->error ? 0 : c->status,
	    .body = c->body && !c->error ? c->body : empty,
	    .body_len = c->body && !c->error ? c->body_len : 0,
	    .content_type = c->content_type[0] ? c->content_type : NULL,
	    .peer_thumbprint = c->have_seen ? c->seen : NULL,
	};
	https_done_fn done = c->done;
	void *darg = c->arg;
	call_unlink(c);
	if ((c->error == HTTPS_E_PIN || c->error == HTTPS_E_TLS) && c->verify == HTTPS_VERIFY_PIN) {
		struct sess *e = sess_find(c->cli, c->host, c->port, c->pin);
		if (e)
			sess_drop(c->cli, e); /* never offer it again */
	}
	/* Park or free the connection first, so that a callback that starts
	 * a new request to the same peer can take it (or does not count it);
	 * the result still points into c. */
	unhook(c);
	if (c->evcon && c->error == HTTPS_OK && c->keep && c->verify != HTTPS_VERIFY_FETCH)
		idle_park(c);
	if (c->evcon)
		call_keep_session(c);
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
/* The idle pool                                                     */

static size_t idle_bucket(const char *host, uint16_t port)
{
	uint32_t h = 2166136261u ^ port;
	for (const char *p = host; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return h % IDLE_BUCKETS;
}

static void idle_unlink(struct idle *e)
{
	struct https_client *cli = e->cli;
	struct idle **pp = &cli->idle_buckets[idle_bucket(e->host, e->port)];
	while (*pp && *pp != e)
		pp = &(*pp)->chain;
	if (*pp)
		*pp = e->chain;
	e->chain = NULL;
	if (e->prev)
		e->prev->next = e->next;
	else
		cli->idle = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		cli->idle_tail = e->prev;
	e->prev = e->next = NULL;
	cli->idle_count--;
}

/* Close a parked connection (never from inside evhttp's callbacks). With
 * keep_session, its TLS session is kept to resume the next connection to
 * that peer (idle_park dropped the copy while the connection stood for
 * it), if OpenSSL still holds it resumable: not after a fatal error, such
 * as the peer's end of file without a close_notify. */
static void idle_free(struct idle *e, int keep_session)
{
	if (keep_session && e->verify == HTTPS_VERIFY_PIN && e->ssl) {
		SSL_SESSION *s = SSL_get_session(e->ssl);
		if (s)
			sess_keep(e->cli, s, e->host, e->port, e->seen);
		ERR_clear_error();
	}
	idle_unlink(e);
	evhttp_connection_set_closecb(e->evcon, NULL, NULL);
	evhttp_connection_free(e->evcon);
	event_free(e->timer);
	free(e);
}

/* Idle timeout reached, or activated by idle_closed. */
static void idle_on_timer(evutil_socket_t fd, short what, void *arg)
{
	idle_free(arg, 1);
}

/* evhttp saw the peer close the parked connection (inside its stack):
 * mark it so that nobody takes it, and free it from the timer. */
static void idle_closed(struct evhttp_connection *evcon, void *arg)
{
	struct idle *e = arg;
	evhttp_connection_set_closecb(evcon, NULL, NULL);
	e->closed = 1; /* nobody takes it */
	e->cli->st.peer_closed++;
	event_active(e->timer, EV_TIMEOUT, 0);
}

/* Move c's connection into the pool if it is still open and there is room
 * (the least recently parked one makes room). c->evcon is NULL afterwards
 * if it was taken. */
static void idle_park(struct call *c)
{
	struct https_client *cli = c->cli;
	if (cli->idle_max == 0 || !c->have_seen || bufferevent_getfd(c->bev) < 0 ||
	    SSL_get_shutdown(c->ssl) != 0)
		return;
	/* As long as we wish, but never past the server's own word on it; a
	 * server that said nothing may close soon (HTTPS_DEFAULT_IDLE_MS is
	 * below the usual idle timeouts). */
	unsigned ms = cli->idle_ms;
	if (c->keep_ms == 0 && ms > HTTPS_DEFAULT_IDLE_MS)
		ms = HTTPS_DEFAULT_IDLE_MS;
	if (c->keep_ms && c->keep_ms <= IDLE_MARGIN_MS)
		return;
	if (c->keep_ms && ms > c->keep_ms - IDLE_MARGIN_MS)
		ms = c->keep_ms - IDLE_MARGIN_MS;
	if (cli->idle_count >= cli->idle_max && cli->idle_tail)
		idle_free(cli->idle_tail, 1);
	size_t hl = strlen(c->host);
	struct idle *e = calloc(1, sizeof *e + hl + 1);
	if (!e)
		return;
	e->timer = evtimer_new(cli->base, idle_on_timer, e);
	if (!e->timer) {
		free(e);
		return;
	}
	e->cli = cli;
	e->evcon = c->evcon;
	e->bev = c->bev;
	e->ssl = c->ssl;
	https_tls_release_buffers(e->ssl);
	e->verify = c->verify;
	e->port = c->port;
	memcpy(e->host, c->host, hl + 1);
	memcpy(e->seen, c->seen, sizeof e->seen);
	evhttp_connection_set_closecb(e->evcon, idle_closed, e);
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	event_add(e->timer, &tv);
	/* The request's timeout would close the parked connection before our
	 * timer (the next request sets its own). */
	struct timeval ptv = {.tv_sec = ms / 1000 + 5, .tv_usec = 0};
	evhttp_connection_set_timeout_tv(e->evcon, &ptv);
	e->next = cli->idle;
	if (cli->idle)
		cli->idle->prev = e;
	else
		cli->idle_tail = e;
	cli->idle = e;
	size_t b = idle_bucket(e->host, e->port);
	e->chain = cli->idle_buckets[b];
	cli->idle_buckets[b] = e;
	cli->idle_count++;
	c->evcon = NULL;
	c->bev = NULL;
	c->ssl = NULL;
	/* While it is parked the connection stands for its peer's session:
	 * the serialized copy goes (a verifier parks one per agent), and is
	 * made again from the connection when it closes (idle_free). */
	struct sess *se =
	    e->verify == HTTPS_VERIFY_PIN ? sess_find(cli, e->host, e->port, e->seen) : NULL;
	if (se)
		sess_drop(cli, se);
}

/* Take a parked connection for c: same verify mode, host and port, and in
 * pin mode a peer whose thumbprint (checked when that connection's
 * handshake ran) equals c's pin. 1 if taken. */
static int idle_take(struct call *c)
{
	struct https_client *cli = c->cli;
	for (struct idle *e = cli->idle_buckets[idle_bucket(c->host, c->port)]; e; e = e->chain) {
		if (e->closed || e->port != c->port || e->verify != c->verify ||
		    strcmp(e->host, c->host) != 0)
			continue;
		if (c->verify == HTTPS_VERIFY_PIN && !tlsid_thumbprint_equal(e->seen, c->pin))
			continue;
		if (bufferevent_getfd(e->bev) < 0 || SSL_get_shutdown(e->ssl) != 0)
			continue;
		idle_unlink(e);
		evhttp_connection_set_closecb(e->evcon, NULL, NULL);
		c->evcon = e->evcon;
		c->bev = e->bev;
		c->ssl = e->ssl;
		memcpy(c->seen, e->seen, sizeof c->seen);
		c->have_seen = 1;
		c->tls_received = 1;
		c->reused = 1;
		c->resumed_checked = 1;
		event_free(e->timer);
		free(e);
		https_tls_hold_buffers(c->ssl); /* released when parked again */
		SSL_set_app_data(c->ssl, c);
		BIO *b = SSL_get_wbio(c->ssl);
		if (b) {
			BIO_set_callback_arg(b, (char *)c);
			BIO_set_callback_ex(b, bio_cb);
		}
		return 1;
	}
	return 0;
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
	/* Sessions are kept per (host, port, pin) by sess_new_cb, not in
	 * OpenSSL's cache (keyed by server name, which two pins can share). */
	SSL_CTX_set_session_cache_mode(cli->ctx,
	                               SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(cli->ctx, sess_new_cb);
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

int https_client_add_ca_pem(struct https_client *cli, const char *pem)
{
	if (!cli)
		return ATTEST_E_ARG;
	if (!pem) {
		if (SSL_CTX_set_default_verify_paths(cli->ctx) != 1) {
			ERR_clear_error();
			return ATTEST_E_CRYPTO;
		}
		cli->have_ca = 1;
		return 0;
	}
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509_STORE *st = SSL_CTX_get_cert_store(cli->ctx);
	X509 *x;
	int n = 0;
	if (!bio)
		return ATTEST_E_NOMEM;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (X509_STORE_add_cert(st, x) == 1)
			n++;
		X509_free(x);
	}
	ERR_clear_error();
	BIO_free(bio);
	if (n == 0)
		return ATTEST_E_FORMAT;
	cli->have_ca = 1;
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
	while (cli->idle)
		idle_free(cli->idle, 0);
	while (cli->sess_head)
		sess_drop(cli, cli->sess_head);
	if (cli->dns)
		evdns_base_free(cli->dns, 1);
	SSL_CTX_free(cli->ctx);
	free(cli);
}

unsigned https_client_pending(const struct https_client *cli)
{
	return cli->pending;
}

void https_client_set_keepalive(struct https_client *cli, unsigned max_idle, unsigned idle_ms)
{
	cli->idle_max = max_idle;
	cli->idle_ms = idle_ms ? idle_ms : HTTPS_DEFAULT_IDLE_MS;
	while (cli->idle_count > cli->idle_max && cli->idle_tail)
		idle_free(cli->idle_tail, 1);
}

void https_client_set_resumption(struct https_client *cli, unsigned max_sessions)
{
	cli->sess_max = max_sessions;
	while (cli->sess_count > cli->sess_max && cli->sess_tail)
		sess_drop(cli, cli->sess_tail);
}

void https_client_get_stats(const struct https_client *cli, struct https_client_stats *ret)
{
	*ret = cli->st;
	ret->idle = cli->idle_count;
	ret->sessions = cli->sess_count;
	ret->session_bytes = cli->sess_bytes;
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

/* A new connection for c: TLS object with c's verification, bufferevent,
 * evhttp connection (not connected yet). 0 or ATTEST_E_*. */
static int conn_new(struct call *c)
{
	struct https_client *cli = c->cli;
	c->ssl = SSL_new(cli->ctx);
	if (!c->ssl)
		goto fail;
	https_tls_hold_buffers(c->ssl); /* released when parked (idle_park) */
	SSL_set_app_data(c->ssl, c);
	SSL_set_verify(c->ssl, SSL_VERIFY_PEER, verify_cb);
	SSL_set_msg_callback(c->ssl, msg_cb);
	SSL_set_info_callback(c->ssl, info_cb);
	if (!c->host_is_ip && !SSL_set_tlsext_host_name(c->ssl, c->host))
		goto fail;
	SSL_SESSION_free(c->offer);
	c->offer = NULL;
	c->offer_seen[0] = '\0';
	if (c->verify == HTTPS_VERIFY_PIN && cli->sess_max) {
		struct sess *e = sess_find(cli, c->host, c->port, c->pin);
		const unsigned char *r = e ? e->der : NULL;
		SSL_SESSION *s = e ? d2i_SSL_SESSION(NULL, &r, e->der_len) : NULL;
		if (s && SSL_SESSION_is_resumable(s)) {
			c->offer = s; /* set when the handshake starts (info_cb) */
			memcpy(c->offer_seen, "SHA256:", 7);
			hex_encode(e->pin, sizeof e->pin, c->offer_seen + 7);
			c->offer_seen[7 + 2 * sizeof e->pin] = '\0';
		} else if (e) {
			SSL_SESSION_free(s);
			sess_drop(cli, e);
			ERR_clear_error();
		}
	}
	if (c->verify == HTTPS_VERIFY_CA) {
		int ok = c->host_is_ip
		             ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), c->host)
		             : SSL_set1_host(c->ssl, c->host);
		if (ok != 1)
			goto fail;
	}
	c->bev = bufferevent_openssl_socket_new(cli->base, -1, c->ssl, BUFFEREVENT_SSL_CONNECTING,
	                                        BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (!c->bev)
		goto fail;
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	struct evdns_base *dns = NULL;
	if (!c->host_is_ip) {
		if (!cli->dns)
			cli->dns = evdns_base_new(cli->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
			                                         EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (!cli->dns)
			return ATTEST_E_NOMEM; /* bev freed by call_free */
		dns = cli->dns;
	}
	c->evcon = evhttp_connection_base_bufferevent_new(cli->base, dns, c->bev, c->host, c->port);
	if (!c->evcon)
		return ATTEST_E_NOMEM; /* bev freed by call_free */
	evhttp_connection_set_retries(c->evcon, 0);
	cli->st.connections++;
	return 0;
fail:
	if (c->ssl && !c->bev) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	ERR_clear_error();
	return ATTEST_E_CRYPTO;
}

/* Build c's request and hand it to its connection (c->evcon). bearer is
 * only given on the first send. Returns 0; a negative value when evhttp
 * would not start it (then the caller completes c with an error). */
static int call_send_with(struct call *c, const char *bearer)
{
	struct timeval tv = {.tv_sec = c->timeout_ms / 1000,
	                     .tv_usec = (c->timeout_ms % 1000) * 1000};
	if (!c->retried)
		evhttp_connection_set_timeout_tv(c->evcon, &tv);
	evhttp_connection_set_max_body_size(
	    c->evcon, (ev_ssize_t)(c->max_response ? c->max_response : HTTPS_DEFAULT_MAX_RESPONSE));
	evhttp_connection_set_max_headers_size(c->evcon, HTTPS_CLIENT_MAX_HEADERS);
	struct evhttp_request *req = evhttp_request_new(on_response, c);
	if (!req)
		return ATTEST_E_NOMEM;
	evhttp_request_set_error_cb(req, on_error);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char hostport[HTTPS_MAX_HOST + 16];
	if (strchr(c->host, ':'))
		snprintf(hostport, sizeof hostport, "[%s]:%u", c->host, (unsigned)c->port);
	else
		snprintf(hostport, sizeof hostport, "%s:%u", c->host, (unsigned)c->port);
	evhttp_add_header(h, "Host", hostport);
	evhttp_add_header(h, "User-Agent", "attest/" ATTEST_VERSION);
	evhttp_add_header(h, "Accept", "application/json");
	if (c->cli->idle_max == 0 || c->verify == HTTPS_VERIFY_FETCH)
		evhttp_add_header(h, "Connection", "close");
	if (bearer) {
		char auth[1024];
		if ((size_t)snprintf(auth, sizeof auth, "Bearer %s", bearer) >= sizeof auth) {
			OPENSSL_cleanse(auth, sizeof auth);
			evhttp_request_free(req);
			return ATTEST_E_ARG;
		}
		evhttp_add_header(h, "Authorization", auth);
		OPENSSL_cleanse(auth, sizeof auth);
	}
	for (size_t i = 0; c->xheaders && c->xheaders[i]; i += 2)
		evhttp_add_header(h, c->xheaders[i], c->xheaders[i + 1]);
	if (c->reqbody) {
		evhttp_add_header(h, "Content-Type", c->reqtype);
		if (evbuffer_add(evhttp_request_get_output_buffer(req), c->reqbody,
		                 c->reqbody_len) < 0) {
			evhttp_request_free(req);
			return ATTEST_E_NOMEM;
		}
	}
	c->cli->st.requests++;
	if (c->reused)
		c->cli->st.reused++;
	/* From here on evhttp owns req. libevent 2.1 fails here only on
	 * allocation or socket setup errors; on some of those it frees req, on
	 * others not, and we cannot tell which: req is left alone (a rare leak
	 * beats a double free). Connection errors proper come through
	 * on_response. */
	struct evbuffer *out = c->bev ? bufferevent_get_output(c->bev) : NULL;
	size_t before = out ? evbuffer_get_length(out) : 1;
	if (evhttp_make_request(c->evcon, req, c->cmd, c->path) < 0) {
		c->sock_errno = errno;
		return ATTEST_E_IO;
	}
	/* On a connection already open (a kept one) the request is in the
	 * output now: one TLS record rather than two. */
	https_join_output(c->bev, before);
	return 0;
}

static int call_send(struct call *c)
{
	return call_send_with(c, NULL);
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
	size_t nx = 0;
	for (; call->headers && call->headers[nx]; nx += 2)
		if (nx >= 2 * HTTPS_MAX_EXTRA_HEADERS || !call->headers[nx + 1] ||
		    !value_ok(call->headers[nx]) || !value_ok(call->headers[nx + 1]) ||
		    strchr(call->headers[nx], ':'))
			return ATTEST_E_ARG;
	if (call->verify != HTTPS_VERIFY_PIN && call->verify != HTTPS_VERIFY_CA &&
	    call->verify != HTTPS_VERIFY_FETCH)
		return ATTEST_E_ARG;

	size_t hl = strlen(call->host); /* host_ok: at most HTTPS_MAX_HOST */
	struct call *c = calloc(1, sizeof *c + hl + 1);
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
	c->port = call->port;
	c->cmd = cmd;
	c->max_response = call->max_response;
	c->retry_safe = call->retry_safe && !call->bearer;
	c->timeout_ms = call->timeout_ms ? call->timeout_ms : HTTPS_DEFAULT_REQUEST_TIMEOUT_MS;
	clock_gettime(CLOCK_MONOTONIC, &c->deadline);
	c->deadline.tv_sec += c->timeout_ms / 1000;
	c->deadline.tv_nsec += (long)(c->timeout_ms % 1000) * 1000000L;
	if (c->deadline.tv_nsec >= 1000000000L) {
		c->deadline.tv_sec++;
		c->deadline.tv_nsec -= 1000000000L;
	}
	memcpy(c->host, call->host, hl + 1);
	unsigned char ipbuf[16];
	c->host_is_ip =
	    inet_pton(AF_INET, c->host, ipbuf) == 1 || inet_pton(AF_INET6, c->host, ipbuf) == 1;
	if (!c->host_is_ip && strchr(c->host, ':')) {
		free(c);
		return ATTEST_E_ARG;
	}
	int rc = ATTEST_E_NOMEM;
	c->path = strdup(path);
	if (!c->path)
		goto fail;
	if (nx) {
		if (!(c->xheaders = calloc(nx + 1, sizeof(char *))))
			goto fail;
		for (size_t i = 0; i < nx; i++)
			if (!(c->xheaders[i] = strdup(call->headers[i])))
				goto fail;
	}
	if (call->body) {
		c->reqbody = malloc(call->body_len ? call->body_len : 1);
		if (!c->reqbody)
			goto fail;
		if (call->body_len)
			memcpy(c->reqbody, call->body, call->body_len);
		c->reqbody_len = call->body_len;
		snprintf(c->reqtype, sizeof c->reqtype, "%s",
		         call->content_type ? call->content_type : "application/json");
	}
	c->timer = evtimer_new(cli->base, on_timer, c);
	if (!c->timer)
		goto fail;
	if (!(c->verify != HTTPS_VERIFY_FETCH && idle_take(c)) && (rc = conn_new(c)) < 0)
		goto fail;

	c->next = cli->calls;
	if (cli->calls)
		cli->calls->prev = c;
	cli->calls = c;
	cli->pending++;
	struct timeval dl = {.tv_sec = c->timeout_ms / 1000,
	                     .tv_usec = (c->timeout_ms % 1000) * 1000};
	event_add(c->timer, &dl);
	/* A failure to start is reported through the callback like any other
	 * (finish() defers it to the timer). */
	rc = call_send_with(c, call->bearer);
	if (rc == ATTEST_E_ARG) {
		call_unlink(c);
		call_free(c);
		return rc;
	}
	if (rc < 0 && !c->finished) {
		classify_failure(c);
		if (!c->error) {
			c->error = HTTPS_E_CONNECT;
			setmsg(c, "cannot start the connection");
		}
		finish(c);
	}
	return 0;

fail:
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
