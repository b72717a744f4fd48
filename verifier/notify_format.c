/* Notification wire formats, no I/O (notify_format.h). */
#include "notify_format.h"

#include "err.h"
#include "hex.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdbool.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SYSLOG_SD_ID "attest@32473" /* 32473: the documentation PEN of RFC 5612 */

static int bad(char *msg, size_t msglen, const char *why)
{
	if (msg && msglen)
		snprintf(msg, msglen, "%s", why);
	return ATTEST_E_ARG;
}

/* Digits of a port 1..65535 (exactly the text from p to end). */
static int parse_port(const char *p, const char *end, uint16_t *ret)
{
	unsigned v = 0;
	if (p == end || end - p > 5)
		return -1;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*ret = (uint16_t)v;
	return 0;
}

/* HOST[:PORT] or [V6][:PORT] from p to end. */
static int parse_authority(const char *p, const char *end, struct notify_url *u, bool need_ip,
                           bool need_port, char *msg, size_t msglen)
{
	const char *hs = p, *he, *colon = NULL;
	if (p < end && *p == '[') {
		hs = p + 1;
		he = memchr(hs, ']', (size_t)(end - hs));
		if (!he)
			return bad(msg, msglen, "unclosed [ in the address");
		if (he + 1 < end) {
			if (he[1] != ':')
				return bad(msg, msglen, "unexpected text after ]");
			colon = he + 1;
		}
	} else {
		colon = p < end ? memchr(p, ':', (size_t)(end - p)) : NULL;
		he = colon ? colon : end;
	}
	if (he == hs || (size_t)(he - hs) > NOTIFY_HOST_MAX)
		return bad(msg, msglen, "the host is empty or too long");
	for (const char *c = hs; c < he; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '.' || *c == '-' || *c == ':'))
			return bad(msg, msglen, "the host has a character outside [A-Za-z0-9.-:]");
	memcpy(u->host, hs, (size_t)(he - hs));
	u->host[he - hs] = '\0';
	unsigned char ip[16];
	bool is_ip = inet_pton(AF_INET, u->host, ip) == 1 || inet_pton(AF_INET6, u->host, ip) == 1;
	if (need_ip && !is_ip)
		return bad(msg, msglen, "a syslog collector is given by IP address");
	if (!is_ip && strchr(u->host, ':'))
		return bad(msg, msglen, "an IPv6 address goes inside [ ]");
	if (colon) {
		if (parse_port(colon + 1, end, &u->port) < 0)
			return bad(msg, msglen, "the port is not a number from 1 to 65535");
	} else if (need_port)
		return bad(msg, msglen, "the address needs a :PORT");
	return 0;
}

int notify_url_parse(const char *url, struct notify_url *ret, char *msg, size_t msglen)
{
	struct notify_url u = {0};
	int rc;
	if (!url || !ret)
		return bad(msg, msglen, "no URL");
	size_t n = strlen(url);
	if (n == 0 || n > 2048)
		return bad(msg, msglen, "the URL is empty or too long");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
			return bad(msg, msglen,
			           "the URL has a space, control or non-ASCII character");
	if (strncmp(url, "unix:", 5) == 0) {
		const char *p = url + 5;
		if (p[0] != '/' || strlen(p) > NOTIFY_PATH_MAX || strlen(p) >= 108)
			return bad(msg, msglen,
			           "unix: takes an absolute socket path (under 108 bytes)");
		u.scheme = NOTIFY_UNIX;
		memcpy(u.path, p, strlen(p) + 1);
		*ret = u;
		return 0;
	}
	const char *rest;
	if (strncmp(url, "https://", 8) == 0) {
		u.scheme = NOTIFY_HTTPS;
		rest = url + 8;
	} else if (strncmp(url, "tcp://", 6) == 0) {
		u.scheme = NOTIFY_TCP;
		rest = url + 6;
	} else if (strncmp(url, "tls://", 6) == 0) {
		u.scheme = NOTIFY_TLS;
		rest = url + 6;
	} else if (strncmp(url, "http://", 7) == 0) {
		return bad(msg, msglen, "plain http:// is refused: use https://");
	} else {
		return bad(msg, msglen,
		           "the URL must start with https://, unix:, tcp:// or tls://");
	}
	if (strpbrk(rest, "@#"))
		return bad(msg, msglen, "the URL may not carry user info or a fragment");
	const char *slash = strchr(rest, '/');
	const char *aend = slash ? slash : rest + strlen(rest);
	if (u.scheme != NOTIFY_HTTPS && slash && slash[1] != '\0')
		return bad(msg, msglen, "a syslog address has no path");
	rc = parse_authority(rest, aend, &u, u.scheme != NOTIFY_HTTPS, u.scheme != NOTIFY_HTTPS,
	                     msg, msglen);
	if (rc)
		return rc;
	if (u.scheme == NOTIFY_HTTPS) {
		if (!u.port)
			u.port = 443;
		const char *path = slash ? slash : "/";
		if (strlen(path) > NOTIFY_PATH_MAX)
			return bad(msg, msglen, "the path is too long");
		memcpy(u.path, path, strlen(path) + 1);
	}
	*ret = u;
	return 0;
}

int notify_sign(const uint8_t *key, size_t key_len, const void *body, size_t body_len,
                char out[NOTIFY_SIGNATURE_SIZE])
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	static const uint8_t nokey[1];
	if (!HMAC(EVP_sha256(), key_len ? key : nokey, (int)key_len,
	          body_len ? body : (const void *)nokey, body_len, mac, &mac_len) ||
	    mac_len != 32)
		return ATTEST_E_CRYPTO;
	memcpy(out, "sha256=", 7);
	hex_encode(mac, 32, out + 7);
	out[7 + 64] = '\0';
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

int notify_http_class(int status)
{
	if (status >= 200 && status < 300)
		return 0;
	if (status >= 400 && status < 500 && status != 408 && status != 429)
		return 2;
	return 1;
}

/* A fixed buffer that cuts what does not fit. */
struct sbuf {
	char *p;
	size_t len, cap;
};

static void sb_raw(struct sbuf *b, const char *s, size_t n)
{
	if (n > b->cap - b->len)
		n = b->cap - b->len;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_raw(b, s, strlen(s));
}

/* RFC 5424 PARAM-VALUE: '"', '\' and ']' escaped with '\'; control
 * characters become '?' (a value may not end a line in a SIEM). */
static void sb_param(struct sbuf *b, const char *name, const char *v)
{
	if (!v)
		return;
	sb_str(b, " ");
	sb_str(b, name);
	sb_str(b, "=\"");
	for (; *v; v++) {
		char c = *v;
		if (c == '"' || c == '\\' || c == ']')
			sb_raw(b, "\\", 1);
		if ((unsigned char)c < 0x20 || c == 0x7f)
			c = '?';
		sb_raw(b, &c, 1);
	}
	sb_str(b, "\"");
}

/* A header field: PRINTUSASCII without spaces, 1..max characters, else "-". */
static void sb_field(struct sbuf *b, const char *v, size_t max)
{
	size_t n = 0;
	sb_str(b, " ");
	for (; v && v[n] && n < max; n++)
		if ((unsigned char)v[n] <= 0x20 || (unsigned char)v[n] >= 0x7f)
			break;
	if (n == 0 || (v && v[n] && n < max))
		sb_str(b, "-");
	else
		sb_raw(b, v, n);
}

static const char *jstr(json_t *j, const char *key)
{
	return json_string_value(json_object_get(j, key));
}

static int severity(const char *kind, const char *event, const char *trust)
{
	if (strcmp(kind, "alarm") == 0 || strcmp(kind, "trust") == 0) {
		if ((event && strcmp(event, "alarm raised") == 0) ||
		    (strcmp(kind, "trust") == 0 && trust && strcmp(trust, "red") == 0))
			return 2;
		return 5;
	}
	return 6;
}

int notify_syslog_message(const char *body, const char *hostname, int octet_counting, char **ret,
                          size_t *ret_len)
{
	json_t *j = json_loads(body ? body : "", 0, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return ATTEST_E_FORMAT;
	}
	char *buf = malloc(NOTIFY_SYSLOG_MAX + 16);
	if (!buf) {
		json_decref(j);
		return ATTEST_E_NOMEM;
	}
	const char *kind = jstr(j, "kind") ? jstr(j, "kind") : "event";
	const char *event = jstr(j, "event"), *trust = jstr(j, "trust");
	struct sbuf b = {.p = buf + 16, .cap = NOTIFY_SYSLOG_MAX};
	char head[48], ts[32];
	time_t at = (time_t)json_integer_value(json_object_get(j, "at"));
	struct tm tm;
	if (at > 0 && gmtime_r(&at, &tm) && strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm))
		;
	else
		memcpy(ts, "-", 2);
	snprintf(head, sizeof(head), "<%d>1 %s", 3 * 8 + severity(kind, event, trust), ts);
	sb_str(&b, head);
	sb_field(&b, hostname, 255);
	sb_field(&b, "attest-verifier", 48);
	sb_field(&b, "-", 128);
	sb_field(&b, kind, 32);
	/* Reasons: their codes, comma-separated. */
	char codes[1024];
	size_t cl = 0;
	size_t i;
	json_t *r;
	codes[0] = '\0';
	json_array_foreach(json_object_get(j, "reasons"), i, r)
	{
		const char *c = jstr(r, "code");
		if (!c)
			continue;
		int w = snprintf(codes + cl, sizeof(codes) - cl, "%s%s", cl ? "," : "", c);
		if (w < 0 || (size_t)w >= sizeof(codes) - cl) {
			codes[cl] = '\0';
			break;
		}
		cl += (size_t)w;
	}
	sb_str(&b, " [" SYSLOG_SD_ID);
	sb_param(&b, "key", jstr(j, "idempotency_key"));
	sb_param(&b, "kind", kind);
	sb_param(&b, "host", jstr(j, "host"));
	sb_param(&b, "event", event);
	sb_param(&b, "trust", trust);
	sb_param(&b, "from", jstr(j, "from"));
	sb_param(&b, "reasons", codes);
	sb_str(&b, "] ");
	/* MSG: a sentence for people. */
	char text[512];
	const char *host = jstr(j, "host"), *msgtext = jstr(j, "message");
	if (host)
		snprintf(text, sizeof(text), "%s: %s%s%s", host, event ? event : kind,
		         trust ? ", trust " : "", trust ? trust : "");
	else
		snprintf(text, sizeof(text), "%s", msgtext ? msgtext : (event ? event : kind));
	for (char *c = text; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	sb_str(&b, text);
	json_decref(j);
	size_t start = 16;
	if (octet_counting) {
		char pre[16];
		int w = snprintf(pre, sizeof(pre), "%zu ", b.len);
		start = 16 - (size_t)w;
		memcpy(buf + start, pre, (size_t)w);
	}
	memmove(buf, buf + start, b.len + 16 - start);
	*ret_len = b.len + 16 - start;
	buf[*ret_len] = '\0';
	*ret = buf;
	return 0;
}
