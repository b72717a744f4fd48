/* mitm_agent: a TEST-ONLY adversary for tests/integration/test_attacks_*.sh.
 * Never installed, never shipped, never linked into a shipped program.
 *
 * It plays an attacker who sits between the verifier and a real attest-agent
 * (or who controls the host's OS and so the agent): it serves Agent API v1
 * under its own TLS identity (the verifier in a test pins that identity) and
 * forwards each call to a real agent over mutual TLS (its client certificate
 * is the same identity; the agent pins it as its verifier). Answers can be
 * rewritten according to a mode read from a file on every request, so a test
 * changes the attack between rounds with `echo MODE > FILE`:
 *
 *   pass                   forward unchanged
 *   certs FILE             identity: ek_certificates = [FILE (DER)] only
 *   interface VALUE        identity: tpm.interface = VALUE
 *   identity-upstream2     identity: taken from the second agent (another TPM)
 *   unrestricted-ak        /v1/ak: clear `restricted` in the AK's objectAttributes
 *   foreign-ak             /v1/ak and /v1/activate go to the second agent
 *   old-ak                 /v1/ak: answer the first AK ever seen (captured)
 *   replay-quote           /v1/quote: answer the first quote ever seen (captured)
 *   swap-nonce             /v1/quote: forwarded (same nonce) to the second agent
 *   edit-pcr               /v1/quote: change the reported sha256 PCR 0 value
 *   edit-pcr-digest        /v1/quote: flip a bit of TPMS_ATTEST's pcrDigest
 *   flip-signature-bit     /v1/quote: flip a bit of TPMT_SIGNATURE
 *   lie-log                /v1/quote: SecureBoot variable data 0 -> 1 in the
 *                          event log, event digests untouched (the request's
 *                          eventlog_sha256 is dropped, so the log is sent)
 *   old-agent              /v1/quote: drop the request's eventlog_sha256 (an
 *                          agent that predates it: always the whole log)
 *   claim-unchanged        /v1/quote: drop the request's eventlog_sha256, and
 *                          answer "eventlog_unchanged": true without the log
 *                          whatever the log is (a lying agent)
 *
 * Usage:
 *   mitm_agent --data-dir DIR --init           create the identity, print its thumbprint
 *   mitm_agent --listen ADDR:PORT --data-dir DIR --mode-file F
 *              --upstream HOST:PORT --pin TP [--upstream2 HOST:PORT --pin2 TP]
 * Prints "thumbprint SHA256:..." and "listening ADDR:PORT", then one line per
 * request ("request METHOD PATH mode=M upstream=N status=S"). SIGTERM stops it. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "b64enc.h"
#include "base64.h"
#include "err.h"
#include "fileio.h"
#include "https.h"
#include "tlsid.h"

#define MODE_MAX 1024
#define FILE_MAX (64u * 1024u)
#define B64_MAX  (32u << 20)

struct upstream {
	char host[64];
	uint16_t port;
	char pin[TLSID_THUMBPRINT_SIZE];
	int set;
};

struct mitm {
	struct event_base *base;
	struct https_server *srv;
	struct https_client *cli;
	struct upstream up[2];
	const char *mode_file;
	char *saved_quote; /* first successful quote answer, as received */
	char *saved_ak;    /* first successful /v1/ak answer, as received */
};

struct pending {
	struct mitm *m;
	struct https_request *req;
	char mode[MODE_MAX];
	char *arg; /* inside mode, or "" */
	char path[256];
	char method[16];
	int target;
	char *body;
};

static void read_mode(const struct mitm *m, struct pending *p)
{
	snprintf(p->mode, sizeof p->mode, "pass");
	uint8_t *buf = NULL;
	size_t len = 0;
	if (m->mode_file && fileio_read(m->mode_file, MODE_MAX - 1, &buf, &len) == 0) {
		memcpy(p->mode, buf, len);
		p->mode[len] = '\0';
		free(buf);
		p->mode[strcspn(p->mode, "\r\n")] = '\0';
		if (p->mode[0] == '\0')
			snprintf(p->mode, sizeof p->mode, "pass");
	}
	char *sp = strchr(p->mode, ' ');
	if (sp) {
		*sp = '\0';
		p->arg = sp + 1;
	} else {
		p->arg = p->mode + strlen(p->mode);
	}
}

static int is(const struct pending *p, const char *mode)
{
	return strcmp(p->mode, mode) == 0;
}

/* Decode base64 member key of obj, let fn edit the bytes, encode it back. */
static int edit_b64(json_t *obj, const char *key, int (*fn)(uint8_t *, size_t))
{
	json_t *s = json_object_get(obj, key);
	if (!json_is_string(s))
		return -1;
	uint8_t *b = NULL;
	size_t n = 0;
	if (base64_decode_alloc(json_string_value(s), json_string_length(s), B64_MAX, &b, &n) < 0)
		return -1;
	int rc = fn(b, n);
	char *e = rc == 0 ? b64enc(b, n) : NULL;
	free(b);
	if (e == NULL)
		return -1;
	json_object_set_new(obj, key, json_string(e));
	free(e);
	return 0;
}

/* TPM2B_PUBLIC: size(2) type(2) nameAlg(2) objectAttributes(4, big-endian);
 * restricted is bit 16, in the second attribute byte. */
static int clear_restricted(uint8_t *b, size_t n)
{
	if (n < 10 || !(b[7] & 0x01))
		return -1;
	b[7] &= (uint8_t)~0x01;
	return 0;
}

/* TPMS_ATTEST of a quote ends with pcrDigest (TPM2B_DIGEST). */
static int flip_last(uint8_t *b, size_t n)
{
	if (n < 4)
		return -1;
	b[n - 1] ^= 0x01;
	return 0;
}

/* UEFI_VARIABLE_DATA: VariableName GUID(16), UnicodeNameLength(8 LE),
 * VariableDataLength(8 LE), the name in UTF-16LE, then the data. Set the
 * one data byte of every "SecureBoot" variable holding 0 to 1. */
static int lie_secureboot(uint8_t *b, size_t n)
{
	static const uint8_t name[] = {'S', 0, 'e', 0, 'c', 0, 'u', 0, 'r', 0,
	                               'e', 0, 'B', 0, 'o', 0, 'o', 0, 't', 0};
	int edits = 0;
	for (size_t i = 32; i + sizeof name < n; i++) {
		if (memcmp(b + i, name, sizeof name) != 0)
			continue;
		const uint8_t *nl = b + i - 16, *dl = b + i - 8;
		int ok = nl[0] == 10 && dl[0] == 1;
		for (int k = 1; k < 8; k++)
			ok = ok && nl[k] == 0 && dl[k] == 0;
		if (ok && b[i + sizeof name] == 0) {
			b[i + sizeof name] = 1;
			edits++;
		}
	}
	fprintf(stderr, "mitm: lie-log: %d SecureBoot variable(s) edited\n", edits);
	return edits > 0 ? 0 : -1;
}

static int edit_pcr0(json_t *ans)
{
	json_t *bank = json_object_get(json_object_get(ans, "pcrs"), "sha256");
	json_t *v = json_object_get(bank, "0");
	if (!json_is_string(v) || json_string_length(v) < 2)
		return -1;
	char *s = strdup(json_string_value(v));
	if (!s)
		return -1;
	s[0] = s[0] == '0' ? '1' : '0';
	json_object_set_new(bank, "0", json_string(s));
	free(s);
	return 0;
}

static int set_certs(json_t *ans, const char *file)
{
	uint8_t *der = NULL;
	size_t n = 0;
	if (fileio_read(file, FILE_MAX, &der, &n) < 0)
		return -1;
	char *e = b64enc(der, n);
	free(der);
	if (!e)
		return -1;
	json_t *tpm = json_object_get(ans, "tpm");
	json_object_set_new(tpm, "ek_certificates",
	                    json_pack("[{s:s,s:s}]", "nv_index", "0x01c00002", "der", e));
	free(e);
	return 0;
}

/* Apply the mode to a successful JSON answer. Returns the new body (malloc'd)
 * or NULL if the mode could not be applied (the test must notice). */
static char *rewrite(struct pending *p, const uint8_t *body, size_t len)
{
	json_t *ans = json_loadb((const char *)body, len, 0, NULL);
	if (!ans)
		return NULL;
	int rc = 0;
	if (strcmp(p->path, "/v1/identity") == 0) {
		if (is(p, "certs"))
			rc = set_certs(ans, p->arg);
		else if (is(p, "interface"))
			rc = json_object_set_new(json_object_get(ans, "tpm"), "interface",
			                         json_string(p->arg));
	} else if (strcmp(p->path, "/v1/ak") == 0) {
		if (is(p, "unrestricted-ak"))
			rc = edit_b64(ans, "ak_public", clear_restricted);
	} else if (strcmp(p->path, "/v1/quote") == 0) {
		if (is(p, "edit-pcr"))
			rc = edit_pcr0(ans);
		else if (is(p, "edit-pcr-digest"))
			rc = edit_b64(ans, "quote", flip_last);
		else if (is(p, "flip-signature-bit"))
			rc = edit_b64(ans, "signature", flip_last);
		else if (is(p, "lie-log"))
			rc = edit_b64(ans, "eventlog", lie_secureboot);
		else if (is(p, "claim-unchanged"))
			rc =
			    json_object_del(ans, "eventlog") != 0 ||
			            json_object_set_new(ans, "eventlog_unchanged", json_true()) != 0
			        ? -1
			        : 0;
	}
	char *out = rc == 0 ? json_dumps(ans, JSON_COMPACT) : NULL;
	json_decref(ans);
	return out;
}

static void log_line(const struct pending *p, const char *what)
{
	printf("request %s %s mode=%s upstream=%d %s\n", p->method, p->path, p->mode, p->target + 1,
	       what);
	fflush(stdout);
}

static void pending_free(struct pending *p)
{
	free(p->body);
	free(p);
}

static void on_upstream(const struct https_result *res, void *arg)
{
	struct pending *p = arg;
	struct mitm *m = p->m;
	char what[64];
	if (res->error != HTTPS_OK) {
		snprintf(what, sizeof what, "error=%s", https_error_name(res->error));
		log_line(p, what);
		https_reply_error(p->req, 502, "MITM_UPSTREAM", res->message);
		pending_free(p);
		return;
	}
	snprintf(what, sizeof what, "status=%d", res->status);
	log_line(p, what);
	if (res->status != 200) {
		https_reply_bytes(p->req, res->status, "application/json", res->body,
		                  res->body_len);
		pending_free(p);
		return;
	}
	/* Captures for the replay modes: the first good answers from agent 1. */
	if (p->target == 0 && strcmp(p->path, "/v1/quote") == 0 && !m->saved_quote)
		m->saved_quote = strdup((const char *)res->body);
	if (p->target == 0 && strcmp(p->path, "/v1/ak") == 0 && !m->saved_ak)
		m->saved_ak = strdup((const char *)res->body);
	char *out = rewrite(p, res->body, res->body_len);
	if (!out) {
		fprintf(stderr, "mitm: mode %s could not be applied to %s\n", p->mode, p->path);
		https_reply_error(p->req, 500, "MITM_REWRITE", "the mode could not be applied");
	} else {
		https_reply_bytes(p->req, 200, "application/json", out, strlen(out));
	}
	free(out);
	pending_free(p);
}

static void handle(struct https_request *req, void *arg)
{
	struct mitm *m = arg;
	struct pending *p = calloc(1, sizeof *p);
	if (!p) {
		https_reply_error(req, 500, "MITM", "out of memory");
		return;
	}
	p->m = m;
	p->req = req;
	read_mode(m, p);
	snprintf(p->path, sizeof p->path, "%s", https_request_path(req));
	snprintf(p->method, sizeof p->method, "%s", https_request_method(req));
	const uint8_t *b = NULL;
	size_t bl = 0;
	https_request_body(req, &b, &bl);
	if (bl) {
		p->body = malloc(bl);
		if (!p->body) {
			https_reply_error(req, 500, "MITM", "out of memory");
			free(p);
			return;
		}
		memcpy(p->body, b, bl);
	}
	int q = strcmp(p->path, "/v1/quote") == 0, ak = strcmp(p->path, "/v1/ak") == 0;
	if (q && bl && (is(p, "lie-log") || is(p, "old-agent") || is(p, "claim-unchanged"))) {
		/* Ask the agent for the whole log, whatever the verifier holds. */
		json_t *o = json_loadb((const char *)p->body, bl, 0, NULL);
		char *t = o && json_object_del(o, "eventlog_sha256") == 0
		              ? json_dumps(o, JSON_COMPACT)
		              : NULL;
		json_decref(o);
		if (t) {
			free(p->body);
			p->body = t;
			bl = strlen(t);
			log_line(p, "eventlog_sha256-dropped");
		}
	}
	/* Answers from the captures, without asking any agent. */
	const char *canned = NULL;
	if (q && is(p, "replay-quote"))
		canned = m->saved_quote;
	if (ak && is(p, "old-ak"))
		canned = m->saved_ak;
	if ((q && is(p, "replay-quote")) || (ak && is(p, "old-ak"))) {
		if (canned) {
			log_line(p, "canned");
			https_reply_bytes(req, 200, "application/json", canned, strlen(canned));
		} else {
			log_line(p, "nothing-captured");
			https_reply_error(req, 500, "MITM_NO_CAPTURE", "nothing captured yet");
		}
		pending_free(p);
		return;
	}
	if ((strcmp(p->path, "/v1/identity") == 0 && is(p, "identity-upstream2")) ||
	    ((ak || strcmp(p->path, "/v1/activate") == 0) && is(p, "foreign-ak")) ||
	    (q && is(p, "swap-nonce")))
		p->target = 1;
	const struct upstream *u = &m->up[p->target];
	if (!u->set) {
		log_line(p, "no-upstream");
		https_reply_error(req, 500, "MITM_NO_UPSTREAM", "that upstream is not configured");
		pending_free(p);
		return;
	}
	struct https_call call = {
	    .host = u->host,
	    .port = u->port,
	    .method = p->method,
	    .path = p->path,
	    .body = p->body,
	    .body_len = bl,
	    .verify = HTTPS_VERIFY_PIN,
	    .pin = u->pin,
	    .timeout_ms = 20000,
	};
	if (https_client_request(m->cli, &call, on_upstream, p) < 0) {
		https_reply_error(req, 500, "MITM", "cannot start the upstream request");
		pending_free(p);
	}
}

static int parse_upstream(const char *s, struct upstream *u)
{
	const char *c = strrchr(s, ':');
	if (!c || (size_t)(c - s) >= sizeof u->host)
		return -1;
	char *end = NULL;
	unsigned long port = strtoul(c + 1, &end, 10);
	if (end == c + 1 || *end || port == 0 || port > 65535)
		return -1;
	memcpy(u->host, s, (size_t)(c - s));
	u->host[c - s] = '\0';
	u->port = (uint16_t)port;
	return 0;
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

static int usage(void)
{
	fprintf(stderr, "usage: mitm_agent --data-dir DIR --init\n"
	                "       mitm_agent --listen ADDR:PORT --data-dir DIR --mode-file F\n"
	                "                  --upstream HOST:PORT --pin TP [--upstream2 HOST:PORT "
	                "--pin2 TP]\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *listen = NULL, *dir = NULL;
	int init = 0;
	struct mitm m = {0};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--init") == 0) {
			init = 1;
			continue;
		}
		if (!v)
			return usage();
		i++;
		if (strcmp(a, "--listen") == 0)
			listen = v;
		else if (strcmp(a, "--data-dir") == 0)
			dir = v;
		else if (strcmp(a, "--mode-file") == 0)
			m.mode_file = v;
		else if (strcmp(a, "--upstream") == 0 || strcmp(a, "--upstream2") == 0) {
			struct upstream *u = &m.up[a[10] == '2'];
			if (parse_upstream(v, u) < 0)
				return usage();
			u->set = 1;
		} else if (strcmp(a, "--pin") == 0 || strcmp(a, "--pin2") == 0) {
			if (tlsid_thumbprint_parse(v, m.up[a[5] == '2'].pin) < 0)
				return usage();
		} else
			return usage();
	}
	if (!dir || (!init && (!listen || !m.up[0].set)))
		return usage();
	char err[512];
	struct tlsid *id = NULL;
	if (tlsid_load_or_create(dir, "mitm", NULL, &id, err, sizeof err) < 0) {
		fprintf(stderr, "mitm: %s\n", err);
		return 1;
	}
	printf("thumbprint %s\n", id->thumbprint);
	fflush(stdout);
	if (init) {
		tlsid_free(id);
		return 0;
	}
	int rc = 1;
	struct event *sig = NULL;
	m.base = event_base_new();
	struct https_server_config sc = {
	    .listen = listen,
	    .identity = id,
	    .client_cert = HTTPS_CLIENT_CERT_OPTIONAL,
	};
	if (!m.base || https_server_new(m.base, &sc, &m.srv, err, sizeof err) < 0 ||
	    https_client_new(m.base, id, NULL, &m.cli, err, sizeof err) < 0 ||
	    https_server_route(m.srv, NULL, "/", handle, &m) < 0) {
		fprintf(stderr, "mitm: %s\n", err);
		goto out;
	}
	sig = evsignal_new(m.base, SIGTERM, on_signal, m.base);
	if (!sig || evsignal_add(sig, NULL) < 0)
		goto out;
	const char *colon = strrchr(listen, ':');
	printf("listening %.*s:%u\n", (int)(colon - listen), listen,
	       (unsigned)https_server_port(m.srv));
	fflush(stdout);
	event_base_dispatch(m.base);
	rc = 0;
out:
	if (sig)
		event_free(sig);
	https_client_free(m.cli);
	https_server_free(m.srv);
	if (m.base)
		event_base_free(m.base);
	free(m.saved_quote);
	free(m.saved_ak);
	tlsid_free(id);
	return rc;
}
