/* What a notification looks like on the wire, without any I/O
 * (notify_format.c; unit-tested in tests/unit/test_notify_format.c):
 * a target's address, the webhook signature and the RFC 5424 syslog
 * message built from an outbox body (docs/operations.md, "Notifications"). */
#ifndef ATTEST_NOTIFY_FORMAT_H
#define ATTEST_NOTIFY_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define NOTIFY_HOST_MAX 253
#define NOTIFY_PATH_MAX 1024
/* "sha256=" + 64 hex digits + NUL */
#define NOTIFY_SIGNATURE_SIZE 72
/* Longest syslog message (RFC 5424 asks receivers to take at least 2048;
 * rsyslog's default is 8 KB). Longer values are cut. */
#define NOTIFY_SYSLOG_MAX 8192

enum notify_scheme {
	NOTIFY_HTTPS = 1, /* https://HOST[:PORT][/PATH] (port 443) */
	NOTIFY_UNIX,      /* unix:/PATH: a local datagram socket (/dev/log) */
	NOTIFY_TCP,       /* tcp://IP:PORT: syslog, RFC 6587 octet counting */
	NOTIFY_TLS,       /* tls://IP:PORT: the same inside TLS (RFC 5425) */
};

struct notify_url {
	enum notify_scheme scheme;
	char host[NOTIFY_HOST_MAX + 1]; /* without brackets */
	uint16_t port;
	char path[NOTIFY_PATH_MAX + 1]; /* HTTPS path ("/" at least) or the socket path */
};

/* Parse a target's URL. No http:// (never plain text over the network),
 * no user info, no fragment; tcp:// and tls:// take an IP literal (no name
 * resolution on the delivery path). ATTEST_E_ARG with a sentence in msg. */
int notify_url_parse(const char *url, struct notify_url *ret, char *msg, size_t msglen);

/* "sha256=" + lowercase hex HMAC-SHA256(key, body) into out. 0 or
 * ATTEST_E_CRYPTO. */
int notify_sign(const uint8_t *key, size_t key_len, const void *body, size_t body_len,
                char out[NOTIFY_SIGNATURE_SIZE]);

/* The RFC 5424 message for an outbox body (JSON text):
 *   <PRI>1 TIMESTAMP HOSTNAME attest-verifier - KIND [attest@32473 key="..."
 *   kind="..." host="..." event="..." trust="..." from="..." reasons="C1,C2"] TEXT
 * PRI is facility daemon (3) with a severity from the event (alarm raised
 * or trust red: 2 critical; other alarm and trust events: 5 notice; host,
 * coverage, test: 6 informational). hostname: the sender's (NULL: "-").
 * With octet_counting the message is framed "LEN SP MSG" (RFC 6587).
 * *ret is malloc'd (caller frees), *ret_len its length (no NUL counted).
 * ATTEST_E_FORMAT if body is not a JSON object, ATTEST_E_NOMEM. */
int notify_syslog_message(const char *body, const char *hostname, int octet_counting, char **ret,
                          size_t *ret_len);

/* Whether an HTTP status is a success (2xx), a failure to retry (5xx,
 * 408, 429, anything else unexpected) or permanent (other 4xx): 0, 1, 2. */
int notify_http_class(int status);

#endif
