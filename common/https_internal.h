/* Internal to common/https_*.c: the TLS context settings both sides share. */
#ifndef ATTEST_HTTPS_INTERNAL_H
#define ATTEST_HTTPS_INTERNAL_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "tlsid.h"

/* A TLS context with the project's settings: TLS 1.2 minimum (1.3 is
 * preferred by OpenSSL's negotiation), ECDHE + AEAD suites only for 1.2, no
 * renegotiation, no compression, and identity (may be NULL) as the
 * certificate and key. NULL on failure (OpenSSL's queue cleared). */
SSL_CTX *https_tls_ctx_new(int server, const struct tlsid *identity);

/* Make writes to a peer that has gone away fail with EPIPE instead of
 * killing the process: OpenSSL writes to sockets with write(2), which raises
 * SIGPIPE. Sets SIGPIPE to ignored if it still has its default action. */
void https_ignore_sigpipe(void);

/* Turn off Nagle's algorithm on the TLS object's socket: evhttp writes
 * headers and body separately, and a second small segment waiting for a
 * delayed ACK costs 40 ms per request. Called at handshake start. */
void https_tls_nodelay(const SSL *ssl);

/* Keep a connection's TLS record buffers (about 17 KB each way) while a
 * request is in flight on it. SSL_MODE_RELEASE_BUFFERS frees the write
 * buffer after every record written and the read buffer after every
 * record read, and also after every read that finds the socket empty
 * (each SSL_read ending in "want read"): two or three 17 KB malloc/free
 * pairs per request, the largest blocks the event loop allocates, which
 * glibc serves only after sorting its free lists. The caller gives them
 * back with https_tls_release_buffers when the connection goes idle, so
 * an idle connection still holds none. Only where that release is safe
 * (see https_tls.c); elsewhere a no-op. NULL accepted. */
void https_tls_hold_buffers(SSL *ssl);

/* Free the TLS record buffers of a connection that goes idle (parked
 * between requests) and free them after each record from then on
 * (SSL_MODE_RELEASE_BUFFERS again, after https_tls_hold_buffers). That
 * mode alone is not enough: OpenSSL 3.0 keeps its 16 KB read buffer on a
 * TLS 1.3 client once it has read the server's session ticket after the
 * handshake: on a verifier holding a connection per agent, the largest
 * part of an idle one. A buffer with unread data is kept (and freed by
 * the mode after the read that empties it). NULL accepted. */
void https_tls_release_buffers(SSL *ssl);

/* evhttp puts a message's head and body into the connection's output as
 * two pieces, which bufferevent_openssl writes as two TLS records in two
 * write(2) calls, and the peer reads as four read(2) calls (a record's
 * header, then its body) and decrypts as two records. Called right after
 * evhttp_make_request or evhttp_send_reply with the output's length
 * before it (the write runs later, from the loop): when the output was
 * empty before and the message fits one record, the pieces are joined
 * into one. Otherwise, or if that allocation fails, nothing changes.
 * NULL accepted. */
struct bufferevent;
void https_join_output(struct bufferevent *bev, size_t before);

/* Text of the first OpenSSL error code (reason string) into buf. */
void https_tls_errstr(unsigned long code, char *buf, size_t len);

#endif
