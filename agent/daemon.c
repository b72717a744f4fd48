/* attest-agent --listen ADDR:PORT ...: the attester daemon (docs/agent.md).
 *
 * This file is the network side, all on one libevent loop: flags, the TLS
 * identity, the verifier pins (DATA_DIR/verifiers), the Agent API v1 routes
 * (docs/protocol.md) and their input checks. Anything that needs the TPM or
 * the AK files is a job for the worker thread (daemon_worker.c); a request
 * is checked completely before it becomes a job, so a refused request
 * changes nothing. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent.h"
#include "base64.h"
#include "daemon.h"
#include "err.h"
#include "evidence.h"
#include "fileio.h"
#include "hex.h"
#include "https.h"
#include "push.h"
#include "request.h"
#include "tlsid.h"
#include "log.h"

#define DEFAULT_TCTI     "device:/dev/tpmrm0"
#define DEFAULT_EVENTLOG "/sys/kernel/security/tpm0/binary_bios_measurements"
#define DEFAULT_DATA_DIR "/var/lib/attest-agent"
#define TLSID_NAME       "agent"

_Static_assert(AGENT_REQ_NAME_MAX <= AGENTD_NAME_MAX, "AK Name does not fit the job");
_Static_assert(AGENT_REQ_BLOB_MAX == TPMDEV_BLOB_MAX, "blob caps differ");
_Static_assert(AGENT_REQ_AK_RSA == (int)TPMDEV_AK_RSA && AGENT_REQ_AK_ECC == (int)TPMDEV_AK_ECC,
               "AK kinds differ");
_Static_assert(AGENT_REQ_NONCE_MAX <= sizeof(((struct agentd_job *)0)->nonce), "nonce size");

struct agentd {
	struct agentd_config cfg;
	struct event_base *base;
	struct https_server *srv;
	struct agentd_worker *worker;
	char verifiers[AGENTD_MAX_VERIFIERS][TLSID_THUMBPRINT_SIZE];
	size_t nverifiers;
	bool tofu;             /* --trust-first-verifier: pin the first caller (labs only) */
	struct stat pins_seen; /* DATA_DIR/verifiers as last read (st_ino 0: absent) */
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: attest-agent --listen ADDR:PORT [--tcti TCTI] [--eventlog FILE]\n"
	    "                    [--data-dir DIR] [--trust-verifier SHA256:HEX]... [--timeout S]\n"
	    "                    [--trust-first-verifier]\n"
	    "                    [--tpm-timeout S]\n"
	    "       attest-agent --push https://VERIFIER:PORT[,https://OTHER:PORT...]\n"
	    "                    --verifier-thumbprint SHA256:HEX... [--tcti TCTI]\n"
	    "                    [--eventlog FILE] [--data-dir DIR] [--tpm-timeout S]\n"
	    "                    [--push-wait S]\n"
	    "       attest-agent [--data-dir DIR] --trust-verifier SHA256:HEX...\n"
	    "\n"
	    "Serve the Agent API v1 (docs/protocol.md) over HTTPS with mutual TLS; with\n"
	    "--push, open no port and carry it over a connection to the verifier instead.\n"
	    "Only the verifiers whose certificate thumbprints are in DIR/verifiers are\n"
	    "answered; an agent with none refuses every caller. The verifier prints its\n"
	    "thumbprint at start (also: attest-verifier thumbprint --data-dir DIR).\n"
	    "\n"
	    "  --listen ADDR:PORT     e.g. 0.0.0.0:7443, [::]:7443; port 0 picks a free port\n"
	    "  --tcti TCTI            the TPM (default " DEFAULT_TCTI ")\n"
	    "  --eventlog FILE        measured-boot event log, read for every quote\n"
	    "                         (default " DEFAULT_EVENTLOG ")\n"
	    "  --data-dir DIR         TLS identity, verifier pins, AKs (default " DEFAULT_DATA_DIR
	    ")\n"
	    "  --trust-verifier TP    add a verifier certificate thumbprint to DIR/verifiers;\n"
	    "                         without --listen: add it and exit (a running agent\n"
	    "                         reads DIR/verifiers again when it changes)\n"
	    "  --trust-first-verifier LABS ONLY: with no verifier trusted yet, trust\n"
	    "                         whichever client first calls GET /v1/identity\n"
	    "                         (trust on first use; logged as a warning)\n"
	    "  --timeout S            drop a connection idle for S seconds before its first\n"
	    "                         answer (default %u); after one, a verifier's connection\n"
	    "                         is kept up to 150 s for its next request\n"
	    "  --tpm-timeout S        wait at most S seconds for each TPM command, then answer\n"
	    "                         503 TPM_TIMEOUT and reopen the TPM (default %u)\n"
	    "  --push URL[,URL...]    push mode: open no port; connect out to the verifier's\n"
	    "                         --push-listen address (https://HOST:PORT) and carry out\n"
	    "                         the requests it sends over a long poll; on failure the\n"
	    "                         next address, with backoff (docs/protocol.md)\n"
	    "  --verifier-thumbprint TP  push mode: a verifier certificate thumbprint to\n"
	    "                         accept (repeat for several verifiers; those in\n"
	    "                         DIR/verifiers are accepted too)\n"
	    "  --push-wait S          push mode: the verifier may hold a poll S seconds before\n"
	    "                         answering that it has nothing (1 to %u, default %u;\n"
	    "                         lower it if a proxy or NAT on the way closes quieter\n"
	    "                         connections)\n"
	    "\n"
	    "On start it prints \"thumbprint SHA256:...\" and \"listening ADDR:PORT\" on stdout\n"
	    "(push mode: \"push URL\" for each address instead of \"listening\") and logs\n"
	    "to stderr. SIGTERM or SIGINT stop it.\n",
	    AGENTD_DEFAULT_TIMEOUT_S, AGENTD_DEFAULT_TPM_TIMEOUT_S, AGENTD_PUSH_WAIT_MAX_S,
	    AGENTD_DEFAULT_PUSH_WAIT_S);
}

/* ---- verifier pins --------------------------------------------------------- */

static int verifiers_path(const struct agentd *d, char *out, size_t cap)
{
	if ((size_t)snprintf(out, cap, "%s/verifiers", d->cfg.data_dir) >= cap)
		return ATTEST_E_ARG;
	return 0;
}

/* Read DATA_DIR/verifiers: one thumbprint per line, '#' comments and blank
 * lines allowed. A missing file is an empty list; a bad line is an error
 * (the operator wrote something we would otherwise silently not trust).
 * The pins change only if the whole file reads well. */
static int verifiers_load(struct agentd *d)
{
	char path[AGENTD_PATH_MAX];
	int rc = verifiers_path(d, path, sizeof path);
	uint8_t *buf = NULL;
	size_t len = 0;
	struct stat st;
	if (!rc && stat(path, &st) != 0)
		memset(&st, 0, sizeof st);
	if (!rc)
		rc = fileio_read(path, AGENTD_VERIFIERS_FILE_MAX, &buf, &len);
	if (rc == ATTEST_E_IO && errno == ENOENT) {
		d->nverifiers = 0;
		memset(&d->pins_seen, 0, sizeof d->pins_seen);
		return 0;
	}
	if (rc) {
		log_error("cannot read %s: %s", path,
		          rc == ATTEST_E_IO ? strerror(errno) : attest_strerror(rc));
		return rc;
	}
	if (memchr(buf, '\0', len)) {
		log_error("%s is not a text file", path);
		free(buf);
		return ATTEST_E_FORMAT;
	}
	static char pins[AGENTD_MAX_VERIFIERS][TLSID_THUMBPRINT_SIZE]; /* event loop only */
	size_t npins = 0;
	unsigned lineno = 0;
	rc = 0;
	for (char *p = (char *)buf; p && *p && !rc;) {
		char *eol = strchr(p, '\n');
		if (eol)
			*eol = '\0';
		lineno++;
		char *s = p;
		while (*s == ' ' || *s == '\t')
			s++;
		char *e = s + strlen(s);
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			*--e = '\0';
		if (*s && *s != '#') {
			char tp[TLSID_THUMBPRINT_SIZE];
			if (tlsid_thumbprint_parse(s, tp) != 0) {
				log_error("%s line %u: \"%.80s\" is not a SHA256:<64 hex> "
				          "thumbprint",
				          path, lineno, s);
				rc = ATTEST_E_FORMAT;
			} else if (npins >= AGENTD_MAX_VERIFIERS) {
				log_error("%s: more than %u thumbprints", path,
				          AGENTD_MAX_VERIFIERS);
				rc = ATTEST_E_LIMIT;
			} else {
				memcpy(pins[npins++], tp, sizeof tp);
			}
		}
		p = eol ? eol + 1 : NULL;
	}
	free(buf);
	if (!rc) {
		memcpy(d->verifiers, pins, npins * sizeof pins[0]);
		d->nverifiers = npins;
		d->pins_seen = st;
	}
	return rc;
}

/* Has DATA_DIR/verifiers changed since it was read (an operator ran
 * attest-agent --trust-verifier, or edited it)? Then read it again; if the
 * new content does not read well, keep the pins we had (and say so once). */
static void verifiers_refresh(struct agentd *d)
{
	char path[AGENTD_PATH_MAX];
	struct stat st;
	if (verifiers_path(d, path, sizeof path) != 0)
		return;
	if (stat(path, &st) != 0)
		memset(&st, 0, sizeof st);
	const struct stat *o = &d->pins_seen;
	if (st.st_ino == o->st_ino && st.st_dev == o->st_dev && st.st_size == o->st_size &&
	    st.st_mtim.tv_sec == o->st_mtim.tv_sec && st.st_mtim.tv_nsec == o->st_mtim.tv_nsec)
		return;
	size_t before = d->nverifiers;
	if (verifiers_load(d) == 0) {
		log_info("%s changed: %zu verifier(s) trusted (was %zu)", path, d->nverifiers,
		         before);
	} else {
		d->pins_seen = st;
		log_warning("%s changed but cannot be used: still trusting the %zu "
		            "verifier(s) read before",
		            path, d->nverifiers);
	}
}

static int verifiers_save(const struct agentd *d)
{
	char path[AGENTD_PATH_MAX];
	int rc = verifiers_path(d, path, sizeof path);
	if (rc)
		return rc;
	size_t cap = 128 + d->nverifiers * (TLSID_THUMBPRINT_LEN + 1);
	char *text = malloc(cap);
	if (!text)
		return ATTEST_E_NOMEM;
	size_t n = (size_t)snprintf(text, cap,
	                            "# attest-agent: verifier certificates this agent answers "
	                            "(one thumbprint per line)\n");
	for (size_t i = 0; i < d->nverifiers && n < cap; i++)
		n += (size_t)snprintf(text + n, cap - n, "%s\n", d->verifiers[i]);
	rc = fileio_write_atomic(path, text, n, 0644);
	free(text);
	return rc;
}

static bool verifier_known(const struct agentd *d, const char *tp)
{
	bool found = false;
	for (size_t i = 0; i < d->nverifiers; i++)
		found |= tlsid_thumbprint_equal(d->verifiers[i], tp) != 0;
	return found;
}

/* Add a thumbprint (memory and file). 0 if added or already there. */
static int verifier_add(struct agentd *d, const char *tp)
{
	if (verifier_known(d, tp))
		return 0;
	if (d->nverifiers >= AGENTD_MAX_VERIFIERS)
		return ATTEST_E_LIMIT;
	memcpy(d->verifiers[d->nverifiers++], tp, TLSID_THUMBPRINT_SIZE);
	int rc = verifiers_save(d);
	if (rc) {
		d->nverifiers--;
		return rc;
	}
	char path[AGENTD_PATH_MAX];
	if (verifiers_path(d, path, sizeof path) == 0 && stat(path, &d->pins_seen) != 0)
		memset(&d->pins_seen, 0, sizeof d->pins_seen);
	return 0;
}

/* May this caller use the API? Replies 403 (or 500) and returns false if
 * not. Nobody is pinned by default: only with --trust-first-verifier (labs)
 * and no pin yet does the first GET /v1/identity (pin_first) pin its
 * caller. */
static bool authorized(struct agentd *d, struct https_request *req, bool pin_first)
{
	const char *tp = https_request_peer_thumbprint(req);
	if (!tp) { /* cannot happen with mutual TLS required; be explicit */
		https_reply_header(req, "Connection", "close");
		https_reply_error(req, 403, "VERIFIER_NOT_TRUSTED", "no client certificate");
		return false;
	}
	verifiers_refresh(d); /* a stat per request: pins added or removed apply at once */
	if (verifier_known(d, tp))
		return true;
	if (d->nverifiers == 0 && d->tofu && pin_first) {
		int rc = verifier_add(d, tp);
		if (rc) {
			log_error("cannot pin verifier %s: %s", tp,
			          rc == ATTEST_E_IO ? strerror(errno) : attest_strerror(rc));
			https_reply_error(req, 500, "STATE_NOT_SAVED",
			                  "cannot record the verifier's thumbprint");
			return false;
		}
		log_warning(
		    "WARNING: trust on first use (--trust-first-verifier): "
		    "pinned the first caller %s (from %s) as this agent's verifier, unchecked",
		    tp, https_request_peer_addr(req));
		return true;
	}
	log_warning("refused %s %s from %s: certificate %s is not trusted%s",
	            https_request_method(req), https_request_path(req),
	            https_request_peer_addr(req), tp,
	            d->nverifiers ? "" : " (no verifier is trusted yet)");
	char msg[AGENTD_MSG_SIZE];
	if (d->nverifiers)
		snprintf(msg, sizeof msg, "client certificate %s is not a trusted verifier", tp);
	else if (d->tofu)
		snprintf(msg, sizeof msg,
		         "client certificate %s is not trusted: no verifier is pinned yet, and "
		         "only GET /v1/identity pins the first one",
		         tp);
	else
		snprintf(msg, sizeof msg,
		         "client certificate %s is not trusted: this agent trusts no verifier "
		         "yet; give it the verifier's thumbprint (attest-agent --trust-verifier)",
		         tp);
	/* Not kept alive (AGENTD_KEEPALIVE_S is for verifiers): an untrusted
	 * client's connection ends with its refusal. */
	https_reply_header(req, "Connection", "close");
	https_reply_error(req, 403, "VERIFIER_NOT_TRUSTED", msg);
	return false;
}

/* ---- requests --------------------------------------------------------------- */

static void bad_request(struct https_request *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void bad_request(struct https_request *req, const char *fmt, ...)
{
	char msg[AGENTD_MSG_SIZE];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	https_reply_error(req, 400, "BAD_REQUEST", msg);
}

static bool route_exact(struct https_request *req)
{
	if (https_request_path_rest(req)[0] == '\0')
		return true;
	https_reply_error(req, 404, "not_found", "no such resource");
	return false;
}

static struct agentd_job *job_new(enum agentd_job_kind kind, struct https_request *req)
{
	struct agentd_job *j = calloc(1, sizeof *j);
	if (!j) {
		https_reply_error(req, 500, "INTERNAL", "out of memory");
		return NULL;
	}
	j->kind = kind;
	j->req = req;
	j->start_ns = agent_now_ns();
	return j;
}

static void submit(struct agentd *d, struct agentd_job *j)
{
	if (agentd_worker_submit(d->worker, j) == 0)
		return;
	https_reply_header(j->req, "Retry-After", "1");
	https_reply_error(j->req, 503, "BUSY", "too many TPM requests waiting; retry shortly");
	agentd_job_free(j);
}

static void on_identity(struct https_request *req, void *arg)
{
	struct agentd *d = arg;
	if (!route_exact(req) || !authorized(d, req, true))
		return;
	struct agentd_job *j = job_new(AGENTD_JOB_IDENTITY, req);
	if (j)
		submit(d, j);
}

/* Parse the request body with parse (agent/request.c); replies 400 and
 * returns false if it is refused. */
static bool parse_body(struct https_request *req,
                       int (*parse)(const uint8_t *, size_t, struct agent_req *,
                                    char[static AGENT_REQ_MSG_SIZE]),
                       struct agent_req *r)
{
	const uint8_t *b;
	size_t n;
	char msg[AGENT_REQ_MSG_SIZE];
	https_request_body(req, &b, &n);
	if (parse(b, n, r, msg) == 0)
		return true;
	bad_request(req, "%s", msg);
	return false;
}

static void on_ak(struct https_request *req, void *arg)
{
	struct agentd *d = arg;
	struct agent_req r;
	if (!route_exact(req) || !authorized(d, req, false) ||
	    !parse_body(req, agent_request_ak, &r))
		return;
	struct agentd_job *j = job_new(AGENTD_JOB_AK, req);
	if (j) {
		j->ak_alg = r.ak_alg == AGENT_REQ_AK_ECC ? TPMDEV_AK_ECC : TPMDEV_AK_RSA;
		submit(d, j);
	}
	agent_request_clear(&r);
}

static void on_activate(struct https_request *req, void *arg)
{
	struct agentd *d = arg;
	struct agent_req r;
	if (!route_exact(req) || !authorized(d, req, false) ||
	    !parse_body(req, agent_request_activate, &r))
		return;
	struct agentd_job *j = job_new(AGENTD_JOB_ACTIVATE, req);
	if (j) {
		memcpy(j->ak_name, r.ak_name, r.ak_name_len);
		j->ak_name_len = r.ak_name_len;
		j->cred = r.cred; /* the job owns the blobs from here */
		j->cred_len = r.cred_len;
		j->secret = r.secret;
		j->secret_len = r.secret_len;
		r.cred = r.secret = NULL;
		submit(d, j);
	}
	agent_request_clear(&r);
}

static void on_quote(struct https_request *req, void *arg)
{
	struct agentd *d = arg;
	struct agent_req r;
	if (!route_exact(req) || !authorized(d, req, false) ||
	    !parse_body(req, agent_request_quote, &r))
		return;
	struct agentd_job *j = job_new(AGENTD_JOB_QUOTE, req);
	if (j) {
		memcpy(j->nonce, r.nonce, r.nonce_len);
		j->nonce_len = r.nonce_len;
		j->sel = r.sel;
		j->have_log_sha256 = r.have_log_sha256;
		memcpy(j->log_sha256, r.log_sha256, sizeof j->log_sha256);
		submit(d, j);
	}
	agent_request_clear(&r);
}

static const char *job_name(enum agentd_job_kind k)
{
	switch (k) {
	case AGENTD_JOB_IDENTITY: return "identity";
	case AGENTD_JOB_AK: return "ak";
	case AGENTD_JOB_ACTIVATE: return "activate";
	case AGENTD_JOB_QUOTE: return "quote";
	}
	return "?";
}

/* A job came back from the worker: answer its request. */
static void on_job_done(struct agentd_job *j, void *arg)
{
	struct https_request *req = j->req;
	uint64_t total = agent_now_ns() - j->start_ns;
	double total_ms = (double)total / 1e6, tpm_ms = (double)j->tpm_ns / 1e6;
	if (j->status == 200 && j->kind == AGENTD_JOB_QUOTE &&
	    json_object_set_new(j->answer, "timing",
	                        json_pack("{s:f,s:f}", "tpm_ms", tpm_ms, "total_ms", total_ms)) !=
	        0) {
		j->status = 500;
		j->code = "INTERNAL";
		snprintf(j->message, sizeof j->message, "out of memory");
	}
	if (j->status == 200) {
		log_info("%s from %s: 200 in %.1f ms (TPM %.1f ms)%s", job_name(j->kind),
		         https_request_peer_addr(req), total_ms, tpm_ms,
		         j->log_unchanged ? ", event log unchanged, not sent" : "");
		https_reply_json(req, 200, j->answer);
		j->answer = NULL;
	} else {
		log_warning("%s from %s: %d %s: %s", job_name(j->kind),
		            https_request_peer_addr(req), j->status, j->code, j->message);
		https_reply_error(req, j->status, j->code, j->message);
	}
	agentd_job_free(j);
}

/* ---- start and stop ----------------------------------------------------------- */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct agentd *d = arg;
	log_info("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	event_base_loopbreak(d->base);
}

static int ensure_dir(const char *dir)
{
	if (mkdir(dir, 0700) == 0 || errno == EEXIST) {
		struct stat st;
		if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
			return 0;
		errno = ENOTDIR;
	}
	log_error("data directory %s: %s", dir, strerror(errno));
	return ATTEST_E_IO;
}

/* "ADDR:PORT" of the listen address with the port actually bound. */
static void bound_address(const char *listen, uint16_t port, char *out, size_t cap)
{
	const char *colon = strrchr(listen, ':');
	int alen = colon ? (int)(colon - listen) : (int)strlen(listen);
	snprintf(out, cap, "%.*s:%u", alen, listen, (unsigned)port);
}

int cmd_daemon(int argc, char **argv)
{
	static const struct option opts[] = {{"listen", required_argument, NULL, 'l'},
	                                     {"tcti", required_argument, NULL, 't'},
	                                     {"eventlog", required_argument, NULL, 'e'},
	                                     {"data-dir", required_argument, NULL, 'd'},
	                                     {"trust-verifier", required_argument, NULL, 'v'},
	                                     {"timeout", required_argument, NULL, 'T'},
	                                     {"trust-first-verifier", no_argument, NULL, 'F'},
	                                     {"tpm-timeout", required_argument, NULL, 'M'},
	                                     {"push", required_argument, NULL, 'P'},
	                                     {"verifier-thumbprint", required_argument, NULL, 'X'},
	                                     {"push-wait", required_argument, NULL, 'W'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	const char *listen = NULL, *push = NULL;
	const char *trust[AGENTD_MAX_VERIFIERS];
	size_t ntrust = 0;
	static char pins[2 * AGENTD_MAX_VERIFIERS][TLSID_THUMBPRINT_SIZE];
	size_t npins = 0;
	struct push_target_list urls;
	unsigned long timeout_s = AGENTD_DEFAULT_TIMEOUT_S;
	struct agentd *d = calloc(1, sizeof *d);
	if (!d) {
		log_error("out of memory");
		return 1;
	}
	d->cfg.tcti = DEFAULT_TCTI;
	d->cfg.eventlog = DEFAULT_EVENTLOG;
	d->cfg.data_dir = DEFAULT_DATA_DIR;
	d->cfg.tpm_timeout_ms = AGENTD_DEFAULT_TPM_TIMEOUT_S * 1000u;
	d->cfg.push_wait_s = AGENTD_DEFAULT_PUSH_WAIT_S;
	bool push_wait = false;
	int status = 2, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen = optarg; break;
		case 't': d->cfg.tcti = optarg; break;
		case 'e': d->cfg.eventlog = optarg; break;
		case 'd': d->cfg.data_dir = optarg; break;
		case 'v':
			if (ntrust == AGENTD_MAX_VERIFIERS) {
				fprintf(stderr, "attest-agent: too many --trust-verifier\n");
				goto out;
			}
			trust[ntrust++] = optarg;
			break;
		case 'F': d->tofu = true; break;
		case 'P': push = optarg; break;
		case 'X':
			if (npins == AGENTD_MAX_VERIFIERS ||
			    tlsid_thumbprint_parse(optarg, pins[npins]) != 0) {
				fprintf(
				    stderr,
				    "attest-agent: --verifier-thumbprint \"%s\": expected SHA256: "
				    "followed by 64 hex digits (at most %u)\n",
				    optarg, AGENTD_MAX_VERIFIERS);
				goto out;
			}
			npins++;
			break;
		case 'T': {
			char *end = NULL;
			errno = 0;
			timeout_s = strtoul(optarg, &end, 10);
			if (errno || !end || *end || end == optarg || timeout_s == 0 ||
			    timeout_s > 3600) {
				fprintf(
				    stderr,
				    "attest-agent: --timeout \"%s\": expected 1 to 3600 seconds\n",
				    optarg);
				goto out;
			}
			break;
		}
		case 'M': {
			char *end = NULL;
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 10);
			if (errno || !end || *end || end == optarg || v == 0 || v > 3600) {
				fprintf(stderr,
				        "attest-agent: --tpm-timeout \"%s\": expected 1 to 3600 "
				        "seconds\n",
				        optarg);
				goto out;
			}
			d->cfg.tpm_timeout_ms = (unsigned)v * 1000u;
			break;
		}
		case 'W': {
			char *end = NULL;
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 10);
			if (errno || !end || *end || end == optarg || v == 0 ||
			    v > AGENTD_PUSH_WAIT_MAX_S) {
				fprintf(
				    stderr,
				    "attest-agent: --push-wait \"%s\": expected 1 to %u seconds\n",
				    optarg, AGENTD_PUSH_WAIT_MAX_S);
				goto out;
			}
			d->cfg.push_wait_s = (unsigned)v;
			push_wait = true;
			break;
		}
		case 'h':
			usage(stdout);
			status = 0;
			goto out;
		default: usage(stderr); goto out;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "attest-agent: unexpected argument \"%s\"\n", argv[optind]);
		goto out;
	}
	if (push && listen) {
		fprintf(stderr, "attest-agent: --push and --listen exclude each other\n");
		goto out;
	}
	if (push && agent_push_parse_urls(push, &urls) != 0) {
		fprintf(stderr,
		        "attest-agent: --push \"%s\": expected https://HOST:PORT[,https://...] (at "
		        "most %d)\n",
		        push, AGENT_PUSH_MAX_TARGETS);
		goto out;
	}
	if (push_wait && !push) {
		fprintf(stderr, "attest-agent: --push-wait goes with --push\n");
		goto out;
	}
	if (push && d->tofu) {
		fprintf(stderr, "attest-agent: --trust-first-verifier does not apply to --push: "
		                "give the verifier's --verifier-thumbprint\n");
		goto out;
	}
	if (npins && !push) {
		fprintf(stderr, "attest-agent: --verifier-thumbprint goes with --push\n");
		goto out;
	}
	if (!listen && !push && ntrust == 0) {
		fprintf(stderr, "attest-agent: --listen ADDR:PORT is required\n");
		usage(stderr);
		goto out;
	}
	char tps[AGENTD_MAX_VERIFIERS][TLSID_THUMBPRINT_SIZE];
	for (size_t i = 0; i < ntrust; i++)
		if (tlsid_thumbprint_parse(trust[i], tps[i]) != 0) {
			fprintf(
			    stderr,
			    "attest-agent: --trust-verifier \"%s\": expected SHA256: followed by "
			    "64 hex digits\n",
			    trust[i]);
			goto out;
		}

	status = 1;
	if (ensure_dir(d->cfg.data_dir) != 0 || verifiers_load(d) != 0)
		goto out;
	for (size_t i = 0; i < ntrust; i++) {
		bool known = verifier_known(d, tps[i]);
		int rc = verifier_add(d, tps[i]);
		if (rc) {
			log_error("cannot add %s to %s/verifiers: %s", tps[i], d->cfg.data_dir,
			          rc == ATTEST_E_IO ? strerror(errno) : attest_strerror(rc));
			goto out;
		}
		if (!known)
			log_info("verifier %s trusted from now on", tps[i]);
	}
	if (!listen && !push) {
		status = 0;
		goto out;
	}
	if (push) { /* the verifiers we accept: the flags, then DIR/verifiers */
		for (size_t i = 0; i < d->nverifiers; i++)
			memcpy(pins[npins++], d->verifiers[i], TLSID_THUMBPRINT_SIZE);
		if (npins == 0) {
			fprintf(stderr,
			        "attest-agent: --push needs --verifier-thumbprint SHA256:... "
			        "(attest-verifier prints its thumbprint at start)\n");
			status = 2;
			goto out;
		}
	}

	char err[512];
	struct tlsid *id = NULL;
	/* Only verifiers connect to an agent: an Ed25519 identity costs each
	 * of them less per kept connection (tlsid.h); one made before stays. */
	int rc = tlsid_load_or_create_ex(d->cfg.data_dir, TLSID_NAME, NULL, TLSID_KEY_ED25519, &id,
	                                 err, sizeof err);
	if (rc) {
		log_error("TLS identity: %s", err);
		goto out;
	}
	memcpy(d->cfg.thumbprint, id->thumbprint, sizeof d->cfg.thumbprint);
	if (id->created)
		log_info("created a new TLS identity in %s/%s.{key,crt}", d->cfg.data_dir,
		         TLSID_NAME);
	if (push) {
		status = agent_push_run(&d->cfg, id, &urls, pins, npins);
		tlsid_free(id);
		goto out;
	}

	struct event *sigterm = NULL, *sigint = NULL;
	d->base = event_base_new();
	if (!d->base)
		goto stop;
	sigterm = evsignal_new(d->base, SIGTERM, on_signal, d);
	sigint = evsignal_new(d->base, SIGINT, on_signal, d);
	if (!sigterm || !sigint || evsignal_add(sigterm, NULL) || evsignal_add(sigint, NULL))
		goto stop;
	rc = agentd_worker_start(&d->cfg, d->base, on_job_done, d, &d->worker);
	if (rc) {
		log_error("cannot start the TPM worker: %s", attest_strerror(rc));
		goto stop;
	}
	struct https_server_config sc = {
	    .listen = listen,
	    .identity = id,
	    .client_cert = HTTPS_CLIENT_CERT_REQUIRED,
	    .max_body = AGENTD_MAX_BODY,
	    .timeout_ms = (unsigned)timeout_s * 1000u,
	    .keepalive_ms = AGENTD_KEEPALIVE_S * 1000u,
	    .max_connections = AGENTD_MAX_CONNECTIONS,
	    .max_per_peer = AGENTD_MAX_PER_PEER,
	    /* its verifiers' sessions kept here: their tickets are small */
	    .session_cache = AGENTD_SESSION_CACHE,
	};
	rc = https_server_new(d->base, &sc, &d->srv, err, sizeof err);
	if (rc) {
		log_error("%s", err);
		goto stop;
	}
	if (https_server_route(d->srv, "GET", "/v1/identity", on_identity, d) ||
	    https_server_route(d->srv, "POST", "/v1/ak", on_ak, d) ||
	    https_server_route(d->srv, "POST", "/v1/activate", on_activate, d) ||
	    https_server_route(d->srv, "POST", "/v1/quote", on_quote, d))
		goto stop;
	char where[128];
	bound_address(listen, https_server_port(d->srv), where, sizeof where);
	if (printf("thumbprint %s\nlistening %s\n", d->cfg.thumbprint, where) < 0 ||
	    fflush(stdout) != 0)
		goto stop;
	fprintf(stderr,
	        "attest-agent %s: listening on %s, TPM %s, event log %s, data %s, %zu verifier(s) "
	        "trusted\n",
	        ATTEST_VERSION, where, d->cfg.tcti, d->cfg.eventlog, d->cfg.data_dir,
	        d->nverifiers);
	if (d->tofu && d->nverifiers == 0)
		log_warning(
		    "WARNING: --trust-first-verifier: no verifier is trusted yet, "
		    "and whichever client first calls GET /v1/identity will be trusted as this "
		    "agent's verifier, unchecked. Use this in a lab only; elsewhere give the "
		    "verifier's thumbprint with --trust-verifier.");
	else if (d->nverifiers == 0)
		fprintf(
		    stderr,
		    "attest-agent: no verifier is trusted yet: every request is refused until "
		    "one is. Give the verifier's certificate thumbprint (attest-verifier prints "
		    "it at start; attest-verifier thumbprint --data-dir DIR shows it):\n"
		    "  attest-agent --data-dir %s --trust-verifier SHA256:...\n"
		    "(this running agent reads %s/verifiers again when it changes)\n",
		    d->cfg.data_dir, d->cfg.data_dir);
	if (event_base_dispatch(d->base) < 0)
		goto stop;
	status = 0;
stop:
	/* The worker first: it drops the jobs that still hold requests, which
	 * the server then frees with their connections. */
	agentd_worker_stop(d->worker);
	https_server_free(d->srv);
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	if (d->base)
		event_base_free(d->base);
	tlsid_free(id);
out:
	free(d);
	return status;
}
