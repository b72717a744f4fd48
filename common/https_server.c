/* HTTPS server: evhttp over bufferevent_openssl, a small router, replies
 * with security headers. Contract in https.h, reasons in docs/transport.md. */
#include "https.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "err.h"
#include "https_internal.h"

#define HTTPS_MAX_PREFIX 256

struct https_route {
	char method[16]; /* "" = any */
	char prefix[HTTPS_MAX_PREFIX];
	size_t plen;
	https_handler_fn fn;
	void *arg;
};

/* One per accepted connection, hung on its SSL object so that OpenSSL tells
 * us (through the ex_data free callback) when the connection is gone. */
struct https_conn {
	struct https_server *srv; /* NULL once the server is freed */
	struct https_conn *prev, *next;
	struct bufferevent *bev;  /* the connection's (owned by evhttp) */
	struct event *deadline;   /* request deadline timer, or NULL */
	int counted;              /* peer address known and counted */
	int live;                 /* counted in its address's share (not refused, not evicted) */
	struct https_peer *share; /* that share while live */
	int busy;                 /* a handler has its request: not evicted */
	unsigned long long seq;   /* accept order: the oldest is evicted first */
	void *tag;                /* select_identity's, for the handlers */
	int keep_session;         /* session_cache: keep its session in the cache */
	char peer[INET6_ADDRSTRLEN];
};

/* The connections one client address holds (live ones only); freed when
 * it holds none. */
struct https_peer {
	struct https_peer *prev, *next;
	char addr[INET6_ADDRSTRLEN];
	unsigned n;
};

struct https_server {
	struct event_base *base;
	struct evhttp *http;
	struct evconnlistener *listener; /* owned by http */
	SSL_CTX *ctx;
	uint16_t port;
	unsigned nconn, max_conn, max_per_peer;
	unsigned hard_max; /* accepted sockets, refused ones still closing included */
	unsigned nlive;    /* connections counted in the budget (max_conn) */
	unsigned long long seq;
	struct https_peer *peers; /* addresses holding live connections */
	struct timeval deadline;
	struct timeval keepalive; /* after a reply: the next request's time (>= deadline) */
	char keepalive_hdr[32];   /* "timeout=N" of the Keep-Alive header, "" if none */
	int paused;
	/* accept() failing for want of descriptors or memory: the listener
	 * rests ACCEPT_REST_MS (instead of libevent retrying at once, which
	 * spins the loop at full CPU while the socket stays readable) */
	struct event *accept_rest;
	int accept_resting;
	unsigned long accept_failures;
	struct https_server *by_http_next; /* server_by_http's chain */
	size_t max_body;
	struct https_conn *conns;
	struct https_request *live; /* requests awaiting their reply */
	struct https_route routes[HTTPS_MAX_ROUTES];
	size_t nroutes;
	const struct tlsid *(*select_identity)(const struct sockaddr *, void *, void **);
	void *select_arg;
	int session_cache;
};

struct https_request {
	struct https_server *srv;
	struct evhttp_request *req;
	struct https_request *prev, *next;
	const char *method;
	char *path; /* decoded */
	const char *rest;
	struct evkeyvalq query;
	int have_query;
	uint8_t *body;
	size_t body_len;
	char thumb[TLSID_THUMBPRINT_SIZE];
	int have_thumb;
	void *tag;
	char peer[64];
};

__attribute__((format(printf, 3, 4))) static void seterr(char *buf, size_t len, const char *fmt,
                                                         ...)
{
	if (!buf || !len)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------- */
/* Connection accounting                                             */

static int conn_idx = -1;
static CRYPTO_ONCE conn_idx_once = CRYPTO_ONCE_STATIC_INIT;

static void conn_unlink(struct https_server *srv, struct https_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

/* ---------------------------------------------------------------- */
/* The connection budget: max_conn live connections, shared fairly    */
/* among client addresses (docs/transport.md, "Connection budget").  */

static struct https_peer *peer_find(struct https_server *srv, const char *addr)
{
	for (struct https_peer *p = srv->peers; p; p = p->next)
		if (strcmp(p->addr, addr) == 0)
			return p;
	return NULL;
}

/* Count c in its address's share (p: that share, or NULL if the address
 * holds nothing yet). 0, or -1 out of memory (c is then not admitted). */
static int conn_hold(struct https_server *srv, struct https_conn *c, struct https_peer *p)
{
	if (!p) {
		p = calloc(1, sizeof *p);
		if (!p)
			return -1;
		memcpy(p->addr, c->peer, sizeof p->addr);
		p->next = srv->peers;
		if (srv->peers)
			srv->peers->prev = p;
		srv->peers = p;
	}
	p->n++;
	c->share = p;
	c->live = 1;
	srv->nlive++;
	return 0;
}

/* c no longer counts (closed, refused or evicted). */
static void conn_release(struct https_server *srv, struct https_conn *c)
{
	if (!c->live)
		return;
	struct https_peer *p = c->share;
	c->live = 0;
	c->share = NULL;
	srv->nlive--;
	if (--p->n)
		return;
	if (p->prev)
		p->prev->next = p->next;
	else
		srv->peers = p->next;
	if (p->next)
		p->next->prev = p->prev;
	free(p);
}

/* Called by OpenSSL from SSL_free (when libevent frees the connection). */
static void conn_gone(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	struct https_conn *c = ptr;
	if (!c)
		return;
	/* OpenSSL drops a connection's session from the server's cache when
	 * the connection ends without our close_notify (libevent frees it
	 * without SSL_shutdown), which would make every stateful ticket
	 * useless. Marking it shut down keeps the session: a concern for TLS
	 * 1.2 truncation, not for these connections, whose HTTP messages are
	 * framed by their length. */
	if (c->keep_session && parent)
		SSL_set_shutdown(parent, SSL_get_shutdown(parent) | SSL_SENT_SHUTDOWN);
	if (c->deadline)
		event_free(c->deadline);
	struct https_server *srv = c->srv;
	if (srv) {
		conn_release(srv, c);
		conn_unlink(srv, c);
		srv->nconn--;
		if (srv->paused && srv->nconn < srv->hard_max && srv->listener &&
		    !srv->accept_resting) {
			evconnlistener_enable(srv->listener);
			srv->paused = 0;
		}
	}
	free(c);
}

static void conn_idx_init(void)
{
	conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_gone);
}

/* Close a connection from underneath evhttp: shutting the socket down makes
 * the next read see end-of-file, and evhttp frees the connection through its
 * ordinary "peer closed" path, whatever state it is in (TLS handshake,
 * request line, headers, body, idle keep-alive). */
static void conn_cut(struct https_conn *c)
{
	evutil_socket_t fd = c->bev ? bufferevent_getfd(c->bev) : -1;
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

static void conn_count_peer(struct https_conn *c);

/* The timer's first run comes at once after the accept (evhttp has given the
 * bufferevent its socket by then): count the peer, then run the deadline. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct https_conn *c = arg;
	if (!c->srv)
		return;
	if (!c->counted) {
		conn_count_peer(c);
		evtimer_add(c->deadline, &c->srv->deadline);
		return;
	}
	conn_cut(c);
}

static void deadline_arm(struct https_conn *c)
{
	if (c)
		c->busy = 0;
	if (c && c->srv && c->deadline && c->counted)
		evtimer_add(c->deadline, &c->srv->keepalive);
}

static void deadline_stop(struct https_conn *c)
{
	if (c)
		c->busy = 1;
	if (c && c->deadline && c->counted)
		evtimer_del(c->deadline);
}

/* The connection record of an evhttp request (NULL if it is gone). */
static struct https_conn *conn_of(struct evhttp_request *ev)
{
	struct evhttp_connection *evcon = ev ? evhttp_request_get_connection(ev) : NULL;
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	return ssl && conn_idx >= 0 ? SSL_get_ex_data(ssl, conn_idx) : NULL;
}

/* Close c now (before any TLS work if it was just accepted). */
static void conn_refuse(struct https_server *srv, struct https_conn *c)
{
	conn_release(srv, c);
	conn_cut(c);
}

/* The table is full and a connection arrived from the address whose share
 * is own (NULL: none yet): the connection to close in its favour, or NULL
 * if the newcomer must be refused itself. The victim is the oldest
 * connection (not in a handler) of the address holding the most, and only
 * if that address holds more than the newcomer's does now: so shares even
 * out (none grows past another at its expense), and a newcomer address
 * always gets its first connection. O(addresses + connections). */
static struct https_conn *budget_victim(struct https_server *srv, const struct https_peer *own)
{
	unsigned most = 0, mine = own ? own->n : 0;
	for (const struct https_peer *p = srv->peers; p; p = p->next)
		if (p != own && p->n > most)
			most = p->n;
	if (most <= mine)
		return NULL;
	struct https_conn *victim = NULL;
	for (struct https_conn *o = srv->conns; o; o = o->next)
		if (o->live && !o->busy && o->share != own && o->share->n == most &&
		    (!victim || o->seq < victim->seq))
			victim = o;
	return victim;
}

/* First sight of the socket: learn the peer's address, enforce the
 * per-address cap and the budget (a connection refused is cut before any
 * TLS work). */
static void conn_count_peer(struct https_conn *c)
{
	struct https_server *srv = c->srv;
	c->counted = 1;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	evutil_socket_t fd = c->bev ? bufferevent_getfd(c->bev) : -1;
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return;
	const void *a = ss.ss_family == AF_INET6
	                    ? (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
	                    : (const void *)&((struct sockaddr_in *)&ss)->sin_addr;
	if (!inet_ntop(ss.ss_family, a, c->peer, sizeof c->peer)) {
		c->peer[0] = '\0';
		return;
	}
	struct https_peer *own = peer_find(srv, c->peer);
	if (own && own->n >= srv->max_per_peer) {
		conn_refuse(srv, c); /* evhttp closes it at once */
		return;
	}
	if (srv->nlive >= srv->max_conn) {
		struct https_conn *victim = budget_victim(srv, own);
		if (!victim) {
			conn_refuse(srv, c);
			return;
		}
		conn_refuse(srv, victim); /* own survives: victim is another address's */
	}
	if (conn_hold(srv, c, own) < 0)
		conn_refuse(srv, c);
}

/* evhttp asks for a bufferevent for each accepted socket. It must never get
 * NULL: it would then speak plain HTTP on that socket. If we cannot make a
 * TLS one, we hand it a TLS bufferevent on a context-less path that fails
 * the handshake; if even that fails, we abort rather than serve cleartext. */
static struct bufferevent *server_bevcb(struct event_base *base, void *arg)
{
	struct https_server *srv = arg;
	SSL *ssl = SSL_new(srv->ctx);
	struct https_conn *c = calloc(1, sizeof *c);
	if (!ssl || !c || conn_idx < 0 || !SSL_set_ex_data(ssl, conn_idx, c)) {
		free(c);
		SSL_free(ssl);
		ERR_clear_error();
		abort(); /* out of memory in the accept path: never fall back to cleartext */
	}
	c->srv = srv;
	c->seq = ++srv->seq;
	c->keep_session = srv->session_cache;
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->nconn++;
	struct bufferevent *bev =
	    bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
	                                   BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (!bev)
		abort(); /* same reason as above; SSL_new just succeeded */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	c->bev = bev;
	/* Without a timer the connection still has the idle timeout. */
	c->deadline = evtimer_new(base, on_deadline, c);
	if (c->deadline) {
		static const struct timeval now = {0, 0};
		evtimer_add(c->deadline, &now); /* first run: count the peer */
	}
	if (srv->nconn >= srv->hard_max && !srv->paused && srv->listener) {
		evconnlistener_disable(srv->listener);
		srv->paused = 1;
	}
	return bev;
}

#define ACCEPT_REST_MS 100

/* libevent hands the listener's error callback the evhttp it was bound to,
 * not our server: the servers by their evhttp (the loop's thread only). */
#define BY_HTTP_BUCKETS 1024u
static struct https_server *by_http[BY_HTTP_BUCKETS];

static size_t by_http_slot(const struct evhttp *http)
{
	return (size_t)(((uintptr_t)http >> 4) % BY_HTTP_BUCKETS);
}

static void by_http_add(struct https_server *srv)
{
	size_t k = by_http_slot(srv->http);
	srv->by_http_next = by_http[k];
	by_http[k] = srv;
}

static void by_http_remove(struct https_server *srv)
{
	for (struct https_server **p = &by_http[by_http_slot(srv->http)]; *p;
	     p = &(*p)->by_http_next)
		if (*p == srv) {
			*p = srv->by_http_next;
			return;
		}
}

static struct https_server *server_by_http(const struct evhttp *http)
{
	for (struct https_server *s = by_http[by_http_slot(http)]; s; s = s->by_http_next)
		if (s->http == http)
			return s;
	return NULL;
}

static void on_accept_rested(evutil_socket_t fd, short what, void *arg)
{
	struct https_server *srv = arg;
	(void)fd;
	(void)what;
	srv->accept_resting = 0;
	if (srv->listener && !srv->paused)
		evconnlistener_enable(srv->listener);
}

/* accept() failed. Out of descriptors (EMFILE, ENFILE) or memory, the
 * pending connection stays queued and the socket readable: rest a moment
 * so the connections being served can finish and free theirs. Other
 * errors (the peer reset before accept) need nothing. */
static void on_accept_error(struct evconnlistener *lst, void *arg)
{
	int e = EVUTIL_SOCKET_ERROR();
	struct https_server *srv = server_by_http(arg);
	if (!srv || (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM))
		return;
	if (srv->accept_failures++ % 100 == 0)
		fprintf(stderr,
		        "https: port %u: cannot accept a connection: %s (%lu times); "
		        "resting %d ms\n",
		        srv->port, strerror(e), srv->accept_failures, ACCEPT_REST_MS);
	if (!srv->accept_rest || srv->accept_resting)
		return;
	static const struct timeval rest = {0, ACCEPT_REST_MS * 1000};
	evconnlistener_disable(lst);
	srv->accept_resting = 1;
	evtimer_add(srv->accept_rest, &rest);
}

/* mTLS: any certificate is accepted here (its key was proven by the
 * handshake); whether it is trusted is the handler's thumbprint check. */
static void server_info_cb(const SSL *ssl, int where, int ret)
{
	if ((where & SSL_CB_HANDSHAKE_START) && !SSL_is_init_finished(ssl))
		https_tls_nodelay(ssl);
}

static int accept_any_cert(int preverify_ok, X509_STORE_CTX *x509)
{
	return 1;
}

/* select_identity: the certificate and key of the address the connection
 * arrived on, set on this connection before the server's first flight.
 * The session id context becomes the identity's thumbprint, so that a
 * ticket issued under one identity is never resumed under another (OpenSSL
 * compares it before accepting a session). */
static int select_identity_cb(SSL *ssl, int *al, void *arg)
{
	struct https_server *srv = arg;
	struct https_conn *c = conn_idx >= 0 ? SSL_get_ex_data(ssl, conn_idx) : NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	int fd = SSL_get_fd(ssl);
	const struct tlsid *id = NULL;
	void *tag = NULL;
	if (c && fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		id = srv->select_identity((const struct sockaddr *)&ss, srv->select_arg, &tag);
	/* "SHA256:" and the first 32 hex digits: 128 bits of the thumbprint. */
	if (!id || strlen(id->thumbprint) < 7 + SSL_MAX_SID_CTX_LENGTH ||
	    SSL_use_certificate(ssl, id->cert) != 1 || SSL_use_PrivateKey(ssl, id->key) != 1 ||
	    SSL_set_session_id_context(ssl, (const unsigned char *)id->thumbprint + 7,
	                               SSL_MAX_SID_CTX_LENGTH) != 1) {
		*al = SSL_AD_HANDSHAKE_FAILURE;
		return SSL_CLIENT_HELLO_ERROR;
	}
	c->tag = tag;
	return SSL_CLIENT_HELLO_SUCCESS;
}

/* ---------------------------------------------------------------- */
/* Requests and replies                                              */

static void request_free(struct https_request *r)
{
	struct https_server *srv = r->srv;
	if (r->prev)
		r->prev->next = r->next;
	else if (srv)
		srv->live = r->next;
	if (r->next)
		r->next->prev = r->prev;
	if (r->have_query)
		evhttp_clear_headers(&r->query);
	free(r->path);
	free(r->body);
	free(r);
}

static int header_value_ok(const char *v)
{
	for (; *v; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			return 0;
	return 1;
}

void https_reply_header(struct https_request *req, const char *name, const char *value)
{
	if (!req || !name || !value || !header_value_ok(name) || !header_value_ok(value) ||
	    strchr(name, ':'))
		return;
	struct evkeyvalq *h = evhttp_request_get_output_headers(req->req);
	evhttp_remove_header(h, name);
	evhttp_add_header(h, name, value);
}

static void add_default(struct evkeyvalq *h, const char *name, const char *value)
{
	if (!evhttp_find_header(h, name))
		evhttp_add_header(h, name, value);
}

void https_reply_bytes(struct https_request *req, int status, const char *content_type,
                       const void *body, size_t len)
{
	if (!req)
		return;
	struct evkeyvalq *h = evhttp_request_get_output_headers(req->req);
	evhttp_remove_header(h, "Content-Type");
	evhttp_add_header(h, "Content-Type",
	                  content_type && header_value_ok(content_type)
	                      ? content_type
	                      : "application/octet-stream");
	add_default(h, "Cache-Control", "no-store");
	add_default(h, "X-Content-Type-Options", "nosniff");
	add_default(h, "X-Frame-Options", "DENY");
	add_default(h, "Referrer-Policy", "no-referrer");
	add_default(h, "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
	if (req->srv && req->srv->keepalive_hdr[0])
		add_default(h, "Keep-Alive", req->srv->keepalive_hdr);
	struct evbuffer *out = evbuffer_new();
	if (out && len)
		evbuffer_add(out, body, len);
	if (status < 100 || status > 599)
		status = 500;
	/* The next request on this connection (keep-alive) gets its own deadline,
	 * which also bounds a client that does not read this answer. */
	deadline_arm(conn_of(req->req));
	/* Kept alive: evhttp's idle timeout (the connection's from now on)
	 * would close it before the wait allowed; the deadline bounds it. */
	struct evhttp_connection *evcon = evhttp_request_get_connection(req->req);
	if (evcon && req->srv && req->srv->keepalive_hdr[0])
		evhttp_connection_set_timeout_tv(evcon, &req->srv->keepalive);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	size_t before = bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 1;
	/* evhttp frees req after sending (or at once if the client is gone);
	 * the connection and its bufferevent stay until the loop runs. */
	evhttp_send_reply(req->req, status, NULL, out);
	/* head and body in one TLS record (a verifier reads it in two
	 * read(2) calls instead of four) */
	https_join_output(bev, before);
	evbuffer_free(out);
	request_free(req);
}

void https_reply_json(struct https_request *req, int status, json_t *body)
{
	if (!req) {
		json_decref(body);
		return;
	}
	if (!body)
		body = json_object();
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text) {
		static const char oom[] =
		    "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
		https_reply_bytes(req, 500, "application/json", oom, sizeof oom - 1);
		return;
	}
	https_reply_bytes(req, status, "application/json", text, strlen(text));
	free(text);
}

void https_reply_error(struct https_request *req, int status, const char *code, const char *message)
{
	json_t *o = json_pack("{s:{s:s,s:s}}", "error", "code", code ? code : "error", "message",
	                      message ? message : "");
	https_reply_json(req, status, o);
}

const char *https_request_method(const struct https_request *req)
{
	return req->method;
}

const char *https_request_path(const struct https_request *req)
{
	return req->path;
}

const char *https_request_path_rest(const struct https_request *req)
{
	return req->rest ? req->rest : "";
}

const char *https_request_query(const struct https_request *req, const char *name)
{
	if (!req->have_query)
		return NULL;
	return evhttp_find_header(&req->query, name);
}

const char *https_request_header(const struct https_request *req, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(req->req), name);
}

const char *https_request_peer_thumbprint(const struct https_request *req)
{
	return req->have_thumb ? req->thumb : NULL;
}

const char *https_request_peer_addr(const struct https_request *req)
{
	return req->peer;
}

void https_request_body(const struct https_request *req, const uint8_t **ret, size_t *ret_len)
{
	*ret = req->body ? req->body : (const uint8_t *)"";
	*ret_len = req->body_len;
}

void https_request_drop_body(struct https_request *req)
{
	free(req->body);
	req->body = NULL;
	req->body_len = 0;
}

int https_request_json(const struct https_request *req, json_t **ret, char *errbuf, size_t errlen)
{
	json_error_t jerr;
	json_t *j =
	    json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		seterr(errbuf, errlen, "invalid JSON at line %d column %d: %s", jerr.line,
		       jerr.column, jerr.text);
		return ATTEST_E_FORMAT;
	}
	*ret = j;
	return 0;
}

/* RFC 6750: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
const char *https_request_bearer(const struct https_request *req)
{
	const char *v = https_request_header(req, "Authorization");
	if (!v || strncasecmp(v, "Bearer ", 7) != 0)
		return NULL;
	v += 7;
	while (*v == ' ')
		v++;
	size_t i = 0;
	while ((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
	       (v[i] >= '0' && v[i] <= '9') || (v[i] && strchr("-._~+/", v[i])))
		i++;
	if (i == 0)
		return NULL;
	size_t j = i;
	while (v[j] == '=')
		j++;
	return v[j] == '\0' ? v : NULL;
}

void *https_request_tag(const struct https_request *req)
{
	return req->tag;
}

struct event_base *https_request_base(const struct https_request *req)
{
	return req->srv->base;
}

static const char *method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE: return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH: return "PATCH";
	}
	return "UNKNOWN";
}

/* Does route prefix p (length n) cover path? Returns the rest or NULL. */
static const char *prefix_match(const char *p, size_t n, const char *path)
{
	if (strncmp(path, p, n) != 0)
		return NULL;
	if (p[n - 1] == '/')
		return path + n;
	if (path[n] == '\0')
		return path + n;
	if (path[n] == '/')
		return path + n + 1;
	return NULL;
}

/* More than one Content-Length field (RFC 9112 section 6.3: a message
 * whose length is ambiguous is refused; equal copies are refused too, as
 * no client of ours sends them). evhttp framed the body by the first one. */
static int content_length_repeated(struct evhttp_request *ev)
{
	const struct evkeyvalq *h = evhttp_request_get_input_headers(ev);
	unsigned n = 0;
	for (const struct evkeyval *kv = h ? h->tqh_first : NULL; kv; kv = kv->next.tqe_next)
		if (evutil_ascii_strcasecmp(kv->key, "Content-Length") == 0)
			n++;
	return n > 1;
}

static void dispatch(struct evhttp_request *ev, void *arg)
{
	struct https_server *srv = arg;
	struct https_request *r = calloc(1, sizeof *r);
	if (!r) {
		evhttp_send_error(ev, 500, NULL);
		return;
	}
	r->srv = srv;
	r->req = ev;
	r->method = method_name(evhttp_request_get_command(ev));
	r->next = srv->live;
	if (srv->live)
		srv->live->prev = r;
	srv->live = r;
	snprintf(r->peer, sizeof r->peer, "?");

	/* The whole request has arrived: the handler's time is not the client's. */
	deadline_stop(conn_of(ev));
	struct evhttp_connection *evcon = evhttp_request_get_connection(ev);
	if (evcon) {
		char *addr = NULL;
		ev_uint16_t port = 0;
		evhttp_connection_get_peer(evcon, &addr, &port);
		if (addr)
			snprintf(r->peer, sizeof r->peer, "%s", addr);
		SSL *ssl = bufferevent_openssl_get_ssl(evhttp_connection_get_bufferevent(evcon));
		X509 *peer = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
		if (peer && tlsid_thumbprint_of(peer, r->thumb) == 0)
			r->have_thumb = 1;
		struct https_conn *c = conn_of(ev);
		r->tag = c ? c->tag : NULL;
	}

	if (content_length_repeated(ev)) {
		/* The connection's framing is lost: answer, then close it. */
		https_reply_header(r, "Connection", "close");
		https_reply_error(r, 400, "bad_request",
		                  "more than one Content-Length header (RFC 9112 6.3)");
		return;
	}

	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
	const char *raw = uri ? evhttp_uri_get_path(uri) : NULL;
	size_t dlen = 0;
	r->path = evhttp_uridecode(raw && *raw ? raw : "/", 0, &dlen);
	if (!r->path || strlen(r->path) != dlen || r->path[0] != '/') {
		https_reply_error(r, 400, "bad_request", "invalid request path");
		return;
	}
	const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
	if (q) {
		/* evhttp_parse_query_str initialises the list (and empties it on error). */
		r->have_query = 1;
		if (evhttp_parse_query_str(q, &r->query) < 0) {
			https_reply_error(r, 400, "bad_request", "invalid query string");
			return;
		}
	}

	/* Longest matching prefix; remember whether the path matched at all. */
	const struct https_route *best = NULL;
	int path_known = 0;
	for (size_t i = 0; i < srv->nroutes; i++) {
		const struct https_route *rt = &srv->routes[i];
		if (!prefix_match(rt->prefix, rt->plen, r->path))
			continue;
		path_known = 1;
		if (rt->method[0] && strcmp(rt->method, r->method) != 0)
			continue;
		if (!best || rt->plen > best->plen)
			best = rt;
	}
	if (!best) {
		if (path_known)
			https_reply_error(r, 405, "method_not_allowed", "method not allowed here");
		else
			https_reply_error(r, 404, "not_found", "no such resource");
		return;
	}
	r->rest = prefix_match(best->prefix, best->plen, r->path);

	struct evbuffer *in = evhttp_request_get_input_buffer(ev);
	size_t n = evbuffer_get_length(in);
	if (n > srv->max_body) { /* evhttp enforces this; a second look costs nothing */
		https_reply_error(r, 413, "too_large", "request body too large");
		return;
	}
	r->body = malloc(n + 1);
	if (!r->body) {
		https_reply_error(r, 500, "internal", "out of memory");
		return;
	}
	if (n && evbuffer_remove(in, r->body, n) != (int)n) {
		https_reply_error(r, 500, "internal", "cannot read the request body");
		return;
	}
	r->body[n] = 0;
	r->body_len = n;
	best->fn(r, best->arg);
}

/* ---------------------------------------------------------------- */
/* Server lifecycle                                                  */

int https_server_route(struct https_server *srv, const char *method, const char *prefix,
                       https_handler_fn fn, void *arg)
{
	if (!srv || !prefix || prefix[0] != '/' || !fn || strlen(prefix) >= HTTPS_MAX_PREFIX ||
	    (method && strlen(method) >= sizeof srv->routes[0].method))
		return ATTEST_E_ARG;
	if (srv->nroutes >= HTTPS_MAX_ROUTES)
		return ATTEST_E_LIMIT;
	struct https_route *rt = &srv->routes[srv->nroutes++];
	snprintf(rt->method, sizeof rt->method, "%s", method ? method : "");
	snprintf(rt->prefix, sizeof rt->prefix, "%s", prefix);
	rt->plen = strlen(prefix);
	rt->fn = fn;
	rt->arg = arg;
	return 0;
}

uint16_t https_server_port(const struct https_server *srv)
{
	return srv->port;
}

unsigned https_server_connections(const struct https_server *srv)
{
	return srv->nconn;
}

/* "ADDR:PORT" with a numeric address ("[v6]:PORT" for IPv6); port 0 allowed
 * (evutil_parse_sockaddr_port refuses it, hence our own parser). */
static int parse_listen(const char *s, struct sockaddr_storage *ss, int *sslen)
{
	const char *colon = strrchr(s, ':');
	if (!colon || !colon[1] || strlen(colon + 1) > 5)
		return ATTEST_E_ARG;
	for (const char *p = colon + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return ATTEST_E_ARG;
	unsigned long port = strtoul(colon + 1, NULL, 10);
	if (port > 65535)
		return ATTEST_E_ARG;
	char addr[INET6_ADDRSTRLEN + 1];
	size_t alen = (size_t)(colon - s);
	memset(ss, 0, sizeof *ss);
	if (s[0] == '[') {
		if (alen < 3 || s[alen - 1] != ']' || alen - 2 >= sizeof addr)
			return ATTEST_E_ARG;
		memcpy(addr, s + 1, alen - 2);
		addr[alen - 2] = '\0';
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, addr, &a6->sin6_addr) != 1)
			return ATTEST_E_ARG;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*sslen = (int)sizeof *a6;
		return 0;
	}
	if (alen == 0 || alen >= sizeof addr)
		return ATTEST_E_ARG;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	if (inet_pton(AF_INET, addr, &a4->sin_addr) != 1)
		return ATTEST_E_ARG;
	a4->sin_family = AF_INET;
	a4->sin_port = htons((uint16_t)port);
	*sslen = (int)sizeof *a4;
	return 0;
}

int https_server_new(struct event_base *base, const struct https_server_config *cfg,
                     struct https_server **ret, char *errbuf, size_t errlen)
{
	if (!base || !cfg || !cfg->listen || (!cfg->identity && !cfg->select_identity) || !ret) {
		seterr(errbuf, errlen, "missing listen address or identity");
		return ATTEST_E_ARG;
	}
	struct sockaddr_storage ss;
	int sslen;
	if (parse_listen(cfg->listen, &ss, &sslen) < 0) {
		seterr(errbuf, errlen, "invalid listen address '%s' (want IP:PORT or [IPv6]:PORT)",
		       cfg->listen);
		return ATTEST_E_ARG;
	}
	if (!CRYPTO_THREAD_run_once(&conn_idx_once, conn_idx_init) || conn_idx < 0)
		return ATTEST_E_CRYPTO;
	https_ignore_sigpipe();

	struct https_server *srv = calloc(1, sizeof *srv);
	int rc = ATTEST_E_NOMEM;
	if (!srv)
		return rc;
	srv->base = base;
	srv->max_conn = cfg->max_connections ? cfg->max_connections : HTTPS_DEFAULT_MAX_CONNECTIONS;
	srv->max_body = cfg->max_body ? cfg->max_body : HTTPS_DEFAULT_MAX_BODY;
	srv->max_per_peer = cfg->max_per_peer ? cfg->max_per_peer : HTTPS_DEFAULT_MAX_PER_PEER;
	/* Room above the budget for sockets being refused or evicted (they
	 * close within a loop turn or two); accepting pauses only there. */
	srv->hard_max = srv->max_conn + (srv->max_conn / 4 > 8 ? srv->max_conn / 4 : 8);

	unsigned dl =
	    cfg->request_deadline_ms ? cfg->request_deadline_ms : HTTPS_DEFAULT_REQUEST_DEADLINE_MS;
	srv->deadline.tv_sec = dl / 1000;
	srv->deadline.tv_usec = (suseconds_t)(dl % 1000) * 1000;
	unsigned ka = cfg->keepalive_ms > dl ? cfg->keepalive_ms : dl;
	srv->keepalive.tv_sec = ka / 1000;
	srv->keepalive.tv_usec = (suseconds_t)(ka % 1000) * 1000;
	if (cfg->keepalive_ms >= 1000)
		snprintf(srv->keepalive_hdr, sizeof srv->keepalive_hdr, "timeout=%u",
		         cfg->keepalive_ms / 1000);

	srv->ctx = https_tls_ctx_new(1, cfg->identity);
	if (!srv->ctx) {
		seterr(errbuf, errlen, "cannot set up TLS with the server identity");
		rc = ATTEST_E_CRYPTO;
		goto fail;
	}
	SSL_CTX_set_info_callback(srv->ctx, server_info_cb);
	if (cfg->select_identity) {
		srv->select_identity = cfg->select_identity;
		srv->select_arg = cfg->select_arg;
		SSL_CTX_set_client_hello_cb(srv->ctx, select_identity_cb, srv);
	}
	static const unsigned char sid[] = "attest";
	SSL_CTX_set_session_id_context(srv->ctx, sid, sizeof sid - 1);
	if (cfg->session_cache) {
		srv->session_cache = 1;
		/* A client that closes without close_notify (the verifier ending
		 * a kept connection: libevent sends none) is an end of file, not
		 * an error: OpenSSL would otherwise send itself a fatal alert,
		 * which drops the session from the cache. */
		SSL_CTX_set_options(srv->ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
		SSL_CTX_set_session_cache_mode(srv->ctx, SSL_SESS_CACHE_SERVER);
		SSL_CTX_sess_set_cache_size(srv->ctx, cfg->session_cache);
	}
	switch (cfg->client_cert) {
	case HTTPS_CLIENT_CERT_NONE: SSL_CTX_set_verify(srv->ctx, SSL_VERIFY_NONE, NULL); break;
	case HTTPS_CLIENT_CERT_OPTIONAL:
		SSL_CTX_set_verify(srv->ctx, SSL_VERIFY_PEER, accept_any_cert);
		break;
	case HTTPS_CLIENT_CERT_REQUIRED:
		SSL_CTX_set_verify(srv->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
		                   accept_any_cert);
		break;
	default: rc = ATTEST_E_ARG; goto fail;
	}

	srv->http = evhttp_new(base);
	if (!srv->http)
		goto fail;
	evhttp_set_bevcb(srv->http, server_bevcb, srv);
	evhttp_set_gencb(srv->http, dispatch, srv);
	evhttp_set_max_body_size(srv->http, (ev_ssize_t)srv->max_body);
	evhttp_set_max_headers_size(
	    srv->http,
	    (ev_ssize_t)(cfg->max_headers ? cfg->max_headers : HTTPS_DEFAULT_MAX_HEADERS));
	unsigned tmo = cfg->timeout_ms ? cfg->timeout_ms : HTTPS_DEFAULT_TIMEOUT_MS;
	struct timeval tv = {.tv_sec = tmo / 1000, .tv_usec = (tmo % 1000) * 1000};
	evhttp_set_timeout_tv(srv->http, &tv);
	evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	                                          EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH);
	evhttp_set_default_content_type(srv->http, "text/plain; charset=utf-8");
	/* Read (and drop) the rest of an oversized body before closing, so the
	 * client gets its 413 instead of a connection reset. */
	evhttp_set_flags(srv->http, EVHTTP_SERVER_LINGERING_CLOSE);

	struct evconnlistener *lst = evconnlistener_new_bind(
	    base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    128, (struct sockaddr *)&ss, sslen);
	if (!lst) {
		int e = errno;
		seterr(errbuf, errlen, "cannot listen on %s: %s", cfg->listen, strerror(e));
		errno = e;
		rc = ATTEST_E_IO;
		goto fail;
	}
	if (cfg->bind_device &&
	    setsockopt(evconnlistener_get_fd(lst), SOL_SOCKET, SO_BINDTODEVICE, cfg->bind_device,
	               (socklen_t)strlen(cfg->bind_device)) != 0) {
		int e = errno;
		seterr(errbuf, errlen, "cannot bind %s to the interface %s: %s", cfg->listen,
		       cfg->bind_device, strerror(e));
		evconnlistener_free(lst);
		errno = e;
		rc = ATTEST_E_IO;
		goto fail;
	}
	struct sockaddr_storage bound;
	socklen_t blen = sizeof bound;
	if (getsockname(evconnlistener_get_fd(lst), (struct sockaddr *)&bound, &blen) < 0) {
		evconnlistener_free(lst);
		rc = ATTEST_E_IO;
		goto fail;
	}
	srv->port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
	                                        : ntohs(((struct sockaddr_in *)&bound)->sin_port);
	if (!evhttp_bind_listener(srv->http, lst)) {
		evconnlistener_free(lst);
		goto fail;
	}
	srv->listener = lst;
	srv->accept_rest = evtimer_new(base, on_accept_rested, srv);
	by_http_add(srv);
	evconnlistener_set_error_cb(lst, on_accept_error);
	*ret = srv;
	return 0;
fail:
	https_server_free(srv);
	return rc;
}

void https_server_free(struct https_server *srv)
{
	if (!srv)
		return;
	/* Requests evhttp already detached (client gone, reply pending) are ours
	 * to free; the others go with their connections in evhttp_free. */
	while (srv->live) {
		struct https_request *r = srv->live;
		if (!evhttp_request_get_connection(r->req))
			evhttp_request_free(r->req);
		request_free(r);
	}
	/* Connections are finalised later by libevent: cut their link to us. */
	for (struct https_conn *c = srv->conns, *next; c; c = next) {
		next = c->next;
		c->srv = NULL;
		c->prev = c->next = NULL;
	}
	srv->conns = NULL;
	if (srv->listener)
		by_http_remove(srv);
	srv->listener = NULL;
	if (srv->accept_rest)
		event_free(srv->accept_rest);
	if (srv->http)
		evhttp_free(srv->http);
	SSL_CTX_free(srv->ctx);
	for (struct https_peer *p = srv->peers, *next; p; p = next) {
		next = p->next;
		free(p);
	}
	free(srv);
}
