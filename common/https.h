/* HTTPS (HTTP/1.1 over TLS 1.2+) server and client on one libevent loop.
 *
 * One event_base, one TLS stack (OpenSSL 3 through bufferevent_openssl),
 * nothing blocks: DNS goes through evdns, every connection has a timeout.
 * Trust is by certificate thumbprint (tlsid.h), not by certificate chains:
 *  - a server in mutual-TLS mode accepts any client certificate at the TLS
 *    level (the handshake still proves the client holds its key) and hands
 *    the handler the client's thumbprint to compare with its pins;
 *  - a client either pins the server's thumbprint, or trusts a CA file
 *    (with host name checks), or only fetches the thumbprint.
 * See docs/transport.md for limits, the thumbprint format and the reasons.
 *
 * Threading: everything runs on the thread running the event_base. */
#ifndef ATTEST_HTTPS_H
#define ATTEST_HTTPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tlsid.h"

struct event_base;
struct sockaddr;

/* ------------------------------------------------------------------ */
/* Defaults (used where a config field is 0) and hard caps.           */

#define HTTPS_DEFAULT_MAX_BODY            (1u << 20)    /* request body, server */
#define HTTPS_DEFAULT_MAX_HEADERS         (16u * 1024u) /* all request headers */
#define HTTPS_DEFAULT_TIMEOUT_MS          30000u        /* idle read/write */
#define HTTPS_DEFAULT_REQUEST_DEADLINE_MS 20000u        /* whole request, see below */
#define HTTPS_DEFAULT_MAX_PER_PEER        256u          /* connections from one address */
#define HTTPS_DEFAULT_MAX_CONNECTIONS     1024u
#define HTTPS_DEFAULT_MAX_RESPONSE        (16u << 20) /* response body, client */
#define HTTPS_DEFAULT_REQUEST_TIMEOUT_MS  30000u
/* Kept-alive client connections: how long one may stay parked. Below the
 * agent's idle timeout (10 s by default) and the server's request deadline
 * (20 s), so the client normally closes first. */
#define HTTPS_DEFAULT_IDLE_MS 5000u
#define HTTPS_MAX_ROUTES      128

/* ------------------------------------------------------------------ */
/* Server                                                             */

enum https_client_cert {
	HTTPS_CLIENT_CERT_NONE = 0, /* plain TLS: no client certificate asked */
	HTTPS_CLIENT_CERT_OPTIONAL, /* asked for; connections without one still served */
	HTTPS_CLIENT_CERT_REQUIRED, /* mutual TLS: handshake fails without one */
};

struct https_server_config {
	/* "127.0.0.1:8443", "[::1]:0", "0.0.0.0:8443", "[::]:8443". Port 0 picks
	 * a free port: read it back with https_server_port(). */
	const char *listen;
	/* server certificate + key (not owned); may be NULL with select_identity */
	const struct tlsid *identity;
	enum https_client_cert client_cert;
	size_t max_body;          /* request body cap: larger -> 413, handler never called */
	size_t max_headers;       /* request line + headers cap */
	unsigned timeout_ms;      /* idle timeout per connection, TLS handshake included */
	unsigned max_connections; /* above it, accepting pauses until one closes */
	/* Total time a client has, from the accept (or from the previous reply
	 * on a kept-alive connection) to the end of its request: TLS handshake,
	 * request line, headers and body. The idle timeout alone lets a client
	 * that trickles a byte now and then keep its slot forever; past this
	 * deadline the connection is closed whatever it sends. While a handler
	 * works on a request the deadline does not run. */
	unsigned request_deadline_ms;
	/* How long a connection may wait for its next request after a reply
	 * (kept alive between a verifier's attestations), that request's own
	 * time included: from the first reply on, it is both the connection's
	 * idle timeout and its request deadline. 0: timeout_ms and
	 * request_deadline_ms as for the first request. Announced in each
	 * reply as "Keep-Alive: timeout=N" (seconds, from 1000 ms up), which a
	 * client of https_client_set_keepalive follows. */
	unsigned keepalive_ms;
	/* Most connections open at once from one client address; a connection
	 * above it is closed as soon as its TLS handshake starts, so that one
	 * peer cannot take every one of max_connections. */
	unsigned max_per_peer;
	/* Several TLS identities on one listener (attest-swarm's emulated
	 * hosts, each with its own address on one port): called at each
	 * ClientHello with the local address the connection arrived on
	 * (getsockname of the accepted socket). It returns the identity to
	 * present (NULL: the handshake fails) and sets *ret_tag, which the
	 * handlers read with https_request_tag. Sessions are bound to the
	 * identity chosen: a ticket issued under one is not resumed under
	 * another. NULL: identity for every connection. */
	const struct tlsid *(*select_identity)(const struct sockaddr *local, void *arg,
	                                       void **ret_tag);
	void *select_arg;
	/* Accept only connections that come through this network interface
	 * (SO_BINDTODEVICE, e.g. "lo" for a wildcard address that must serve
	 * loopback only); needs CAP_NET_RAW: ATTEST_E_IO (errno EPERM)
	 * otherwise. NULL: any. */
	const char *bind_device;
	/* Resumption state kept by the server instead of in its tickets:
	 * up to this many sessions in the server's cache (the oldest
	 * dropped first), each ticket only naming one (TLS 1.3 stateful
	 * tickets, SSL_OP_NO_TICKET). A client then keeps about 0.2 KB per
	 * session instead of about 0.8 KB (a ticket carries the whole
	 * session, its client certificate included), and a resumed
	 * handshake does not parse the client certificate again (about
	 * 0.2 ms on OpenSSL 3.0). For a server with few clients that resume
	 * (an agent: its verifiers); each cached session costs the server a
	 * few KB. 0: stateless tickets, nothing kept. */
	unsigned session_cache;
};

struct https_server;
struct https_request;

/* A route handler. It must answer exactly once with one of the https_reply_*
 * functions, now or later (asynchronously, from another callback on the same
 * event_base). req stays valid until that reply (or https_server_free). */
typedef void (*https_handler_fn)(struct https_request *req, void *arg);

/* Bind, listen and serve on base. On failure returns ATTEST_E_ARG (bad
 * config or address), ATTEST_E_IO (bind/listen failed, errno kept),
 * ATTEST_E_CRYPTO or ATTEST_E_NOMEM, with a sentence in errbuf if given. */
int https_server_new(struct event_base *base, const struct https_server_config *cfg,
                     struct https_server **ret, char *errbuf, size_t errlen);

/* The port actually bound (useful after port 0). */
uint16_t https_server_port(const struct https_server *srv);

/* Route requests whose method equals method (NULL: any method) and whose
 * path is prefix, or starts with prefix followed by '/' (a prefix ending in
 * '/' matches anything below it). The longest matching prefix wins; a path
 * matched only with other methods gets 405, an unmatched path 404.
 * ATTEST_E_LIMIT beyond HTTPS_MAX_ROUTES, ATTEST_E_ARG on a bad prefix. */
int https_server_route(struct https_server *srv, const char *method, const char *prefix,
                       https_handler_fn fn, void *arg);

/* Number of connections currently open. */
unsigned https_server_connections(const struct https_server *srv);

/* Stop listening, close every connection, free everything (NULL accepted).
 * Requests still waiting for an asynchronous reply are dropped: their
 * pointers become invalid, so cancel the work that holds them first. */
void https_server_free(struct https_server *srv);

/* --- request accessors (valid until the reply) --- */

const char *https_request_method(const struct https_request *req); /* "GET", ... */
/* Decoded path ("/v1/hosts/web-1"), never NULL. */
const char *https_request_path(const struct https_request *req);
/* Part of the path after the matched route prefix and its '/' ("web-1" for
 * route "/v1/hosts"); "" if none. */
const char *https_request_path_rest(const struct https_request *req);
/* Value of a query parameter (decoded), or NULL. */
const char *https_request_query(const struct https_request *req, const char *name);
/* Value of a request header (case-insensitive name), or NULL. */
const char *https_request_header(const struct https_request *req, const char *name);
/* "SHA256:..." of the client certificate, or NULL if it sent none. */
const char *https_request_peer_thumbprint(const struct https_request *req);
/* Client address as text ("127.0.0.1", "::1"), for logs; never NULL. */
const char *https_request_peer_addr(const struct https_request *req);
/* The request body (already limited to max_body). *ret points into the
 * request (valid until the reply) and is NUL-terminated; may be empty. */
void https_request_body(const struct https_request *req, const uint8_t **ret, size_t *ret_len);
/* Free the request body once the handler is done with it, so that a
 * request it holds for long (a push long poll) keeps no copy of it; the
 * body reads as empty afterwards. */
void https_request_drop_body(struct https_request *req);
/* The body parsed as JSON (jansson, duplicate keys rejected). On success
 * *ret is a new reference (caller decrefs). ATTEST_E_FORMAT if it is not
 * JSON (if errbuf is given, jansson's message). */
int https_request_json(const struct https_request *req, json_t **ret, char *errbuf, size_t errlen);
/* The token of an "Authorization: Bearer TOKEN" header, or NULL if there is
 * no such header or the token has characters outside RFC 6750's token68.
 * Compare it in constant time. */
const char *https_request_bearer(const struct https_request *req);
/* The tag select_identity gave the request's connection (NULL without
 * select_identity). */
void *https_request_tag(const struct https_request *req);
/* The event_base the server runs on (to schedule asynchronous work). */
struct event_base *https_request_base(const struct https_request *req);

/* --- replies: each ends the request (req is invalid afterwards) --- */

/* Add or replace a response header before replying (e.g. a page's own
 * Content-Security-Policy, or Retry-After). Invalid values are ignored. */
void https_reply_header(struct https_request *req, const char *name, const char *value);
/* JSON reply; takes the reference to body (NULL: empty object). */
void https_reply_json(struct https_request *req, int status, json_t *body);
/* {"error": {"code": CODE, "message": MESSAGE}} with the status. */
void https_reply_error(struct https_request *req, int status, const char *code,
                       const char *message);
/* Raw bytes with a content type (e.g. "text/html; charset=utf-8"). */
void https_reply_bytes(struct https_request *req, int status, const char *content_type,
                       const void *body, size_t len);

/* Every reply carries: Content-Type, Cache-Control: no-store,
 * X-Content-Type-Options: nosniff, X-Frame-Options: DENY, Referrer-Policy:
 * no-referrer and Content-Security-Policy: default-src 'none';
 * frame-ancestors 'none' (replace the last with https_reply_header for
 * HTML pages). Errors libevent answers itself (400 malformed, 413 too
 * large) carry its small fixed HTML body. */

/* ------------------------------------------------------------------ */
/* Client                                                             */

struct https_client;

/* Create a client on base. identity (may be NULL) is the certificate the
 * client presents when a server asks for one; ca_file (may be NULL) is the
 * PEM bundle used by HTTPS_VERIFY_CA requests. Neither is owned after the
 * call returns (the certificate and key are referenced by the TLS context).
 * ATTEST_E_IO if ca_file cannot be loaded, ATTEST_E_CRYPTO, ATTEST_E_NOMEM. */
int https_client_new(struct event_base *base, const struct tlsid *identity, const char *ca_file,
                     struct https_client **ret, char *errbuf, size_t errlen);

/* Trust the CA certificates of pem (PEM text, several allowed) for
 * HTTPS_VERIFY_CA requests, in addition to a ca_file; pem NULL: the
 * system's default CA store (OpenSSL's default paths). ATTEST_E_FORMAT if
 * pem holds no certificate, ATTEST_E_CRYPTO. */
int https_client_add_ca_pem(struct https_client *cli, const char *pem);

/* Cancel every request in flight (their callbacks are NOT called) and free
 * the client (NULL accepted). Never call it from inside a completion
 * callback of the same client. */
void https_client_free(struct https_client *cli);

/* Requests in flight. */
unsigned https_client_pending(const struct https_client *cli);

/* Keep up to max_idle connections open after their answer (0, the default:
 * every request has its own connection and sends "Connection: close"), each
 * for at most idle_ms (0: HTTPS_DEFAULT_IDLE_MS), and never past the
 * server's word: 2 s less than a "Keep-Alive: timeout=N" of its answer, at
 * most HTTPS_DEFAULT_IDLE_MS when it said nothing. A request takes a parked
 * connection with the same verify mode, host and port, and in pin mode only
 * one whose server thumbprint, checked at its handshake, equals the
 * request's pin; otherwise it opens a new one (a new handshake, where the
 * pin is checked). Fetch requests never keep or take one. When the pool is
 * full, the least recently parked connection is closed. */
void https_client_set_keepalive(struct https_client *cli, unsigned max_idle, unsigned idle_ms);

/* Resume TLS sessions (TLS 1.3 tickets, or 1.2 session ids) of pin-mode
 * connections: up to max_sessions kept, one per (host, port, pin), the least
 * recently issued dropped first; 0 (the default): none. A resumed handshake
 * skips the certificate exchange; the session's server certificate is still
 * compared with the pin before the request is sent (HTTPS_E_PIN otherwise). */
void https_client_set_resumption(struct https_client *cli, unsigned max_sessions);

/* Counters since the client was created. */
struct https_client_stats {
	uint64_t requests;    /* requests sent (a second send counts again) */
	uint64_t connections; /* new connections (TLS handshakes started) */
	uint64_t reused;      /* requests sent on a parked connection */
	uint64_t retried;     /* idempotent requests sent again after a reused
	                       * connection closed before any answer */
	uint64_t peer_closed; /* parked connections the server closed */
	uint64_t resumed;     /* new connections whose TLS session was resumed */
	unsigned idle;        /* connections parked now */
	unsigned sessions;    /* TLS sessions kept to resume now */
	size_t session_bytes; /* their size, serialized (without the certificates) */
};
void https_client_get_stats(const struct https_client *cli, struct https_client_stats *ret);

enum https_verify {
	/* The server certificate's thumbprint must equal call.pin. Chains and
	 * names are not checked: the pin is the whole trust decision. */
	HTTPS_VERIFY_PIN = 0,
	/* The server certificate must chain to the client's ca_file and name
	 * call.host (DNS name or IP address in subjectAltName). */
	HTTPS_VERIFY_CA,
	/* Connect, take the server certificate's thumbprint, and stop before
	 * sending anything (the "accept this thumbprint?" step of adding a host).
	 * Success is error == 0, status == 0, peer_thumbprint set. */
	HTTPS_VERIFY_FETCH,
};

/* Outcome classes (result.error). */
enum https_error {
	HTTPS_OK = 0,
	HTTPS_E_CONNECT = -1,   /* refused, unreachable, name not resolved */
	HTTPS_E_TIMEOUT = -2,   /* no complete answer within timeout_ms */
	HTTPS_E_TLS = -3,       /* handshake failed (protocol, CA check, our certificate refused) */
	HTTPS_E_PIN = -4,       /* server thumbprint differs from the pin (see peer_thumbprint) */
	HTTPS_E_PROTOCOL = -5,  /* connection closed early or malformed HTTP */
	HTTPS_E_TOO_LARGE = -6, /* response above max_response */
	HTTPS_E_INTERNAL = -7,  /* out of memory or a local failure */
};

/* Short name of an https_error ("connect", "timeout", "tls", "pin", ...). */
const char *https_error_name(int error);

struct https_call {
	const char *host; /* DNS name, IPv4 or IPv6 literal (without brackets) */
	uint16_t port;
	const char *method; /* "GET", "POST", "PUT", "DELETE"; NULL = GET */
	const char *path;   /* "/v1/quote?x=1"; NULL = "/" */
	const void *body;   /* may be NULL */
	size_t body_len;
	const char *content_type; /* of the body; NULL = application/json if body */
	const char *bearer;       /* adds "Authorization: Bearer ..." if not NULL */
	enum https_verify verify;
	const char *pin; /* HTTPS_VERIFY_PIN: thumbprint (any form tlsid_thumbprint_parse takes) */
	unsigned timeout_ms; /* whole request; 0 = HTTPS_DEFAULT_REQUEST_TIMEOUT_MS */
	size_t max_response; /* body cap; 0 = HTTPS_DEFAULT_MAX_RESPONSE */
	/* The request is idempotent: if it went out on a reused (kept-alive)
	 * connection that ended before any byte of the answer came back (the
	 * server closed it as we wrote), it is sent once more on a new
	 * connection within the same deadline. Never set it for a request
	 * whose repetition could change the outcome; ignored with a bearer. */
	bool retry_safe;
	/* Extra request headers: name, value, name, value, ..., NULL (may be
	 * NULL). Names and values are checked like the others (no CR/LF);
	 * at most HTTPS_MAX_EXTRA_HEADERS pairs, copied by the call. */
	const char *const *headers;
};
#define HTTPS_MAX_EXTRA_HEADERS 8

struct https_result {
	int error;           /* HTTPS_OK or an https_error */
	const char *message; /* "" on success, else e.g. "connection refused", "timed out
	                      * after 5000 ms", "TLS: thumbprint mismatch (got SHA256:...)" */
	int status;          /* HTTP status (0 if no response) */
	const uint8_t *body; /* response body, NUL-terminated (never NULL) */
	size_t body_len;
	const char *content_type;    /* response Content-Type or NULL */
	const char *peer_thumbprint; /* server certificate seen, or NULL if none */
};

/* Everything in *res is valid only during the callback: copy what you keep.
 * The callback may start new requests. */
typedef void (*https_done_fn)(const struct https_result *res, void *arg);

/* Start a request. The callback is called exactly once, later (never from
 * inside this call), unless the client is freed first. Returns 0, or
 * ATTEST_E_ARG (bad call: no host, bad pin, CA mode without ca_file),
 * ATTEST_E_NOMEM / ATTEST_E_CRYPTO (callback not called then). */
int https_client_request(struct https_client *cli, const struct https_call *call,
                         https_done_fn done, void *arg);

/* ------------------------------------------------------------------ */
/* Synchronous wrapper (for attestctl): runs a private event_base until the
 * one request completes. */

struct https_response {
	int error;
	char message[512];
	int status;
	uint8_t *body; /* malloc'd, NUL-terminated (never NULL after a call) */
	size_t body_len;
	char content_type[128];
	char peer_thumbprint[TLSID_THUMBPRINT_SIZE]; /* "" if none seen */
};

/* Perform call synchronously with the given client identity and CA file
 * (both may be NULL). Returns 0 when the exchange produced a result (look at
 * ret->error and ret->status), or a negative ATTEST_E_* if it could not be
 * started (then ret holds only a message). Free with https_response_clear. */
int https_request_sync(const struct tlsid *identity, const char *ca_file,
                       const struct https_call *call, struct https_response *ret);

/* Free the body of a response and zero it (NULL accepted). */
void https_response_clear(struct https_response *resp);

#endif
