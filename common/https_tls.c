/* TLS context settings shared by the HTTPS server and client. */
#include "https_internal.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <openssl/err.h>

/* TLS 1.2 suites: forward secrecy and AEAD only. TLS 1.3 suites are
 * OpenSSL's defaults, all of which qualify. */
#define HTTPS_TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20"
/* TLS 1.3 suites a client offers: OpenSSL's default three, ChaCha20-Poly1305
 * first. Its two record contexts hold about 0.9 KB less than AES-256-GCM's
 * (the AES key schedule and GHASH tables), and its SHA-256 transcript less
 * than SHA-384's: a verifier keeps one connection per agent. A server of
 * ours takes the client's ChaCha20 preference (SSL_OP_PRIORITIZE_CHACHA)
 * and otherwise its own order, so browsers keep AES-GCM. */
#define HTTPS_TLS13_CLIENT_SUITES                                                                  \
	"TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256"

SSL_CTX *https_tls_ctx_new(int server, const struct tlsid *identity)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!ctx)
		goto fail;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, HTTPS_TLS12_CIPHERS) ||
	    (!server && !SSL_CTX_set_ciphersuites(ctx, HTTPS_TLS13_CLIENT_SUITES)))
		goto fail;
	SSL_CTX_set_options(
	    ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
	             (server ? SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA : 0));
	/* Idle connections (thousands on a verifier) keep no I/O buffers. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* One TLS 1.3 ticket per handshake, not OpenSSL's two: a client keeps
	 * one session per peer, so the second was decrypted, copied and
	 * dropped by every new connection. */
	if (server)
		(void)SSL_CTX_set_num_tickets(ctx, 1);
	if (identity) {
		if (SSL_CTX_use_certificate(ctx, identity->cert) != 1 ||
		    SSL_CTX_use_PrivateKey(ctx, identity->key) != 1 ||
		    SSL_CTX_check_private_key(ctx) != 1)
			goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return NULL;
}

/* SSL_free_buffers() may free a buffer still in use before OpenSSL 3.0.14,
 * 3.1.6, 3.2.2 and 3.3.1 (CVE-2024-4741): only called on later versions. */
static int free_buffers_safe(void)
{
	unsigned long v = OpenSSL_version_num();
	unsigned long major = v >> 28, minor = (v >> 20) & 0xff, patch = (v >> 4) & 0xff;
	if (major != 3)
		return major > 3;
	switch (minor) {
	case 0: return patch >= 14;
	case 1: return patch >= 6;
	case 2: return patch >= 2;
	case 3: return patch >= 1;
	default: return 1;
	}
}

void https_tls_hold_buffers(SSL *ssl)
{
	if (ssl != NULL && free_buffers_safe())
		SSL_clear_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
}

void https_tls_release_buffers(SSL *ssl)
{
	if (ssl == NULL)
		return;
	SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
	if (free_buffers_safe())
		(void)SSL_free_buffers(ssl); /* 0 (kept) when a record is pending */
	ERR_clear_error();
}

void https_join_output(struct bufferevent *bev, size_t before)
{
	struct evbuffer *out = bev ? bufferevent_get_output(bev) : NULL;
	size_t len = out ? evbuffer_get_length(out) : 0;
	if (before == 0 && len > 0 && len <= SSL3_RT_MAX_PLAIN_LENGTH &&
	    evbuffer_peek(out, -1, NULL, NULL, 0) > 1)
		(void)evbuffer_pullup(out, -1); /* NULL: left in pieces */
}

void https_tls_errstr(unsigned long code, char *buf, size_t len)
{
	const char *reason = ERR_reason_error_string(code);
	if (reason)
		snprintf(buf, len, "%s", reason);
	else
		snprintf(buf, len, "error %lu", code);
}

void https_ignore_sigpipe(void)
{
	struct sigaction old;
	if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = SIG_IGN;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGPIPE, &sa, NULL);
	}
}

void https_tls_nodelay(const SSL *ssl)
{
	int fd = SSL_get_fd(ssl);
	int one = 1;
	if (fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}
