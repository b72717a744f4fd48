/* attest-agent --push URL[,URL...]: the agent without a listening socket
 * (docs/protocol.md, "Push carrier"; docs/agent.md). It connects out to a
 * verifier over mutual TLS (the verifier's certificate pinned by
 * --verifier-thumbprint or DATA_DIR/verifiers; ours pinned by the verifier
 * on a host added with --push), long-polls POST /push/v1/poll for the next
 * request, carries it out exactly as the daemon's routes do (the same
 * request parsers, the same TPM worker), and posts the answer with the
 * request's id, which also asks for the next request. On any failure it
 * moves to the next verifier address, with backoff. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "agent.h"
#include "daemon.h"
#include "err.h"
#include "https.h"
#include "log.h"
#include "push.h"
#include "request.h"

/* A poll's own timeout: the hold it asks for (?wait=, --push-wait) and this
 * much for the answer to travel; a verifier that predates ?wait= holds 25 s. */
#define PUSH_POLL_SLACK_MS (15u * 1000u)
#define PUSH_BACKOFF_MAX_S 30u
#define PUSH_REFUSED_S     5u /* at least, after a 403: our certificate is not pinned there */
#define PUSH_ID_HEX        32u
#define PUSH_REQ_MAX       (256u * 1024u) /* a request from the verifier */

struct push_target {
	char host[256];
	uint16_t port;
	char url[300];
	int pin; /* index into pins of the one this verifier presented, -1: try the first */
};

struct agent_push {
	const struct agentd_config *cfg;
	struct event_base *base;
	struct https_client *cli;
	struct agentd_worker *worker;
	struct event *timer;
	struct push_target targets[AGENT_PUSH_MAX_TARGETS];
	size_t ntargets, cur;
	const char (*pins)[TLSID_THUMBPRINT_SIZE];
	size_t npins;
	unsigned backoff_s;
	bool connected; /* the last poll succeeded (log the change only) */
	/* the answer to post with the next poll */
	bool have_answer;
	char answer_id[PUSH_ID_HEX + 1];
	int answer_status;
	char *answer_body;
	char path[128];
	char job_id[PUSH_ID_HEX + 1]; /* the request the TPM worker is on (one at a time) */
};

/* "https://HOST:PORT" (IPv6 in brackets, an optional trailing '/'). */
static int parse_url(const char *u, size_t len, struct push_target *t)
{
	static const char pfx[] = "https://";
	if (len <= sizeof pfx - 1 || strncmp(u, pfx, sizeof pfx - 1) != 0 ||
	    len - (sizeof pfx - 1) >= sizeof t->host)
		return ATTEST_E_FORMAT;
	char buf[sizeof t->host];
	memcpy(buf, u + sizeof pfx - 1, len - (sizeof pfx - 1));
	buf[len - (sizeof pfx - 1)] = '\0';
	size_t n = strlen(buf);
	if (n > 0 && buf[n - 1] == '/')
		buf[--n] = '\0';
	char *colon = strrchr(buf, ':');
	if (colon == NULL || colon == buf)
		return ATTEST_E_FORMAT;
	*colon = '\0';
	char *end = NULL;
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port == 0 || port > 65535)
		return ATTEST_E_FORMAT;
	char *h = buf;
	if (h[0] == '[') {
		size_t hl = strlen(h);
		if (hl < 3 || h[hl - 1] != ']')
			return ATTEST_E_FORMAT;
		h[hl - 1] = '\0';
		h++;
	} else if (strchr(h, ':') != NULL) {
		return ATTEST_E_FORMAT;
	}
	if (h[0] == '\0' || strchr(h, '/') || strchr(h, '@'))
		return ATTEST_E_FORMAT;
	snprintf(t->host, sizeof t->host, "%s", h);
	t->port = (uint16_t)port;
	snprintf(t->url, sizeof t->url, "%.*s", (int)len, u);
	t->pin = -1;
	return 0;
}

int agent_push_parse_urls(const char *list, struct push_target_list *ret)
{
	memset(ret, 0, sizeof *ret);
	const char *p = list;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (ret->n == AGENT_PUSH_MAX_TARGETS)
			return ATTEST_E_LIMIT;
		struct push_target t;
		if (parse_url(p, len, &t) != 0)
			return ATTEST_E_FORMAT;
		snprintf(ret->url[ret->n], sizeof ret->url[0], "%s", t.url);
		ret->n++;
		p += len;
		if (*p == ',')
			p++;
	}
	return ret->n > 0 ? 0 : ATTEST_E_FORMAT;
}

static void poll_now(struct agent_push *a);

static void clear_answer(struct agent_push *a)
{
	a->have_answer = false;
	free(a->answer_body);
	a->answer_body = NULL;
	OPENSSL_cleanse(a->answer_id, sizeof a->answer_id);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	poll_now(arg);
}

static void poll_later(struct agent_push *a, unsigned s)
{
	struct timeval tv = {(time_t)s, 0};
	evtimer_add(a->timer, &tv);
}

/* The verifier at cur failed us: the next address, after a backoff. */
static void next_target(struct agent_push *a, unsigned at_least_s)
{
	clear_answer(a);
	a->connected = false;
	a->cur = (a->cur + 1) % a->ntargets;
	a->backoff_s = a->backoff_s ? a->backoff_s * 2 : 1;
	if (a->backoff_s > PUSH_BACKOFF_MAX_S)
		a->backoff_s = PUSH_BACKOFF_MAX_S;
	poll_later(a, a->backoff_s > at_least_s ? a->backoff_s : at_least_s);
}

static bool pinned(const struct agent_push *a, const char *tp, int *ret)
{
	for (size_t i = 0; tp && i < a->npins; i++)
		if (tlsid_thumbprint_equal(a->pins[i], tp)) {
			*ret = (int)i;
			return true;
		}
	return false;
}

/* ---- carrying out a request ---------------------------------------------------- */

static void set_answer(struct agent_push *a, const char *id, int status, json_t *body)
{
	clear_answer(a);
	a->answer_body = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (a->answer_body == NULL)
		return; /* out of memory: the verifier's request times out */
	memcpy(a->answer_id, id, PUSH_ID_HEX + 1);
	a->answer_status = status;
	a->have_answer = true;
}

static void answer_error(struct agent_push *a, const char *id, int status, const char *code,
                         const char *msg)
{
	set_answer(a, id, status,
	           json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg));
}

/* Turn the verifier's request into a TPM job, as daemon.c's routes do.
 * 0: submitted (the answer comes through on_job_done); otherwise the error
 * answer is set. */
static int carry_out(struct agent_push *a, const char *id, const char *method, const char *path,
                     json_t *jbody)
{
	char *text = jbody ? json_dumps(jbody, JSON_COMPACT) : NULL;
	const uint8_t *b = (const uint8_t *)(text ? text : "");
	size_t n = text ? strlen(text) : 0;
	struct agent_req r;
	char msg[AGENT_REQ_MSG_SIZE];
	enum agentd_job_kind kind;
	int rc = 0;
	memset(&r, 0, sizeof r);
	if (strcmp(method, "GET") == 0 && strcmp(path, "/v1/identity") == 0) {
		kind = AGENTD_JOB_IDENTITY;
	} else if (strcmp(method, "POST") == 0 && strcmp(path, "/v1/ak") == 0) {
		kind = AGENTD_JOB_AK;
		rc = agent_request_ak(b, n, &r, msg);
	} else if (strcmp(method, "POST") == 0 && strcmp(path, "/v1/activate") == 0) {
		kind = AGENTD_JOB_ACTIVATE;
		rc = agent_request_activate(b, n, &r, msg);
	} else if (strcmp(method, "POST") == 0 && strcmp(path, "/v1/quote") == 0) {
		kind = AGENTD_JOB_QUOTE;
		rc = agent_request_quote(b, n, &r, msg);
	} else {
		free(text);
		answer_error(a, id, 404, "not_found", "no such resource");
		return -1;
	}
	free(text);
	if (rc != 0) {
		answer_error(a, id, 400, "BAD_REQUEST", msg);
		return -1;
	}
	struct agentd_job *j = calloc(1, sizeof *j);
	if (j == NULL) {
		agent_request_clear(&r);
		answer_error(a, id, 500, "INTERNAL", "out of memory");
		return -1;
	}
	memcpy(a->job_id, id, PUSH_ID_HEX + 1);
	j->kind = kind;
	j->req = a; /* opaque to the worker; the id is a->job_id */
	j->start_ns = agent_now_ns();
	j->ak_alg = r.ak_alg == AGENT_REQ_AK_ECC ? TPMDEV_AK_ECC : TPMDEV_AK_RSA;
	memcpy(j->ak_name, r.ak_name, r.ak_name_len);
	j->ak_name_len = r.ak_name_len;
	j->cred = r.cred;
	j->cred_len = r.cred_len;
	j->secret = r.secret;
	j->secret_len = r.secret_len;
	r.cred = r.secret = NULL;
	memcpy(j->nonce, r.nonce, r.nonce_len);
	j->nonce_len = r.nonce_len;
	j->sel = r.sel;
	j->have_log_sha256 = r.have_log_sha256;
	memcpy(j->log_sha256, r.log_sha256, sizeof j->log_sha256);
	agent_request_clear(&r);
	if (agentd_worker_submit(a->worker, j) != 0) {
		j->req = NULL;
		agentd_job_free(j);
		answer_error(a, id, 503, "BUSY", "too many TPM requests waiting; retry shortly");
		return -1;
	}
	return 0;
}

static void on_job_done(struct agentd_job *j, void *arg)
{
	struct agent_push *a = arg;
	const char *id = a->job_id;
	j->req = NULL;
	double total_ms = (double)(agent_now_ns() - j->start_ns) / 1e6;
	double tpm_ms = (double)j->tpm_ns / 1e6;
	if (j->status == 200 && j->kind == AGENTD_JOB_QUOTE &&
	    json_object_set_new(j->answer, "timing",
	                        json_pack("{s:f,s:f}", "tpm_ms", tpm_ms, "total_ms", total_ms)) !=
	        0) {
		j->status = 500;
		j->code = "INTERNAL";
		snprintf(j->message, sizeof j->message, "out of memory");
	}
	static const char *const names[] = {"identity", "ak", "activate", "quote"};
	const char *name = (unsigned)j->kind < 4 ? names[j->kind] : "?";
	if (j->status == 200) {
		log_info("%s (push): 200 in %.1f ms (TPM %.1f ms)%s", name, total_ms, tpm_ms,
		         j->log_unchanged ? ", event log unchanged, not sent" : "");
		set_answer(a, id, 200, j->answer);
		j->answer = NULL;
	} else {
		log_warning("%s (push): %d %s: %s", name, j->status, j->code, j->message);
		answer_error(a, id, j->status, j->code, j->message);
	}
	agentd_job_free(j);
	poll_now(a);
}

/* ---- the poll -------------------------------------------------------------------- */

/* The verifier's poll answer: {"id", "method", "path", "body"}. */
static void take_request(struct agent_push *a, const struct https_result *res)
{
	json_error_t jerr;
	json_t *m =
	    res->body_len <= PUSH_REQ_MAX
	        ? json_loadb((const char *)res->body, res->body_len, JSON_REJECT_DUPLICATES, &jerr)
	        : NULL;
	const char *id = json_string_value(json_object_get(m, "id"));
	const char *method = json_string_value(json_object_get(m, "method"));
	const char *path = json_string_value(json_object_get(m, "path"));
	json_t *body = json_object_get(m, "body");
	bool ok = id && method && path && strlen(id) == PUSH_ID_HEX &&
	          (body == NULL || json_is_null(body) || json_is_object(body));
	for (size_t i = 0; ok && i < PUSH_ID_HEX; i++)
		ok = (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f');
	if (!ok) {
		log_warning("push: %s sent a request that is not {id, method, path, body}; "
		            "polling again",
		            a->targets[a->cur].url);
		json_decref(m);
		poll_now(a);
		return;
	}
	if (carry_out(a, id, method, path, json_is_object(body) ? body : NULL) != 0)
		poll_now(a); /* the error answer goes with the next poll */
	json_decref(m);
}

static void on_poll(const struct https_result *res, void *arg)
{
	struct agent_push *a = arg;
	struct push_target *t = &a->targets[a->cur];
	int pin;
	if (res->error == HTTPS_E_PIN && pinned(a, res->peer_thumbprint, &pin) && t->pin != pin) {
		t->pin = pin; /* another of our verifiers' certificates: use it here */
		poll_now(a);
		return;
	}
	if (res->error != HTTPS_OK) {
		if (a->connected || a->backoff_s == 0)
			log_warning("push: %s: %s", t->url,
			            res->message && res->message[0] ? res->message
			                                            : https_error_name(res->error));
		next_target(a, 0);
		return;
	}
	clear_answer(a);
	bool served = res->status == 200 || res->status == 204 || res->status == 409;
	if (served && !a->connected)
		log_info("push: connected to %s", t->url);
	if (served)
		a->connected = true;
	if (res->status == 204 || res->status == 409) {
		a->backoff_s = 0;
		poll_now(a);
	} else if (res->status == 200) {
		a->backoff_s = 0;
		take_request(a, res);
	} else {
		log_warning("push: %s answered HTTP %d: %.*s", t->url, res->status,
		            (int)(res->body_len < 300 ? res->body_len : 300), res->body);
		a->connected = false;
		next_target(a, res->status == 403 ? PUSH_REFUSED_S : 0);
	}
}

static void poll_now(struct agent_push *a)
{
	struct push_target *t = &a->targets[a->cur];
	/* hello: the first poll since we started or lost the verifier (we may
	 * have restarted with the host: the verifier attests at once). */
	unsigned wait = a->cfg->push_wait_s;
	if (a->have_answer)
		snprintf(a->path, sizeof a->path, "/push/v1/poll?id=%s&status=%d&wait=%u",
		         a->answer_id, a->answer_status, wait);
	else
		snprintf(a->path, sizeof a->path, "/push/v1/poll?wait=%u%s", wait,
		         a->connected ? "" : "&hello=1");
	struct https_call call = {
	    .host = t->host,
	    .port = t->port,
	    .method = "POST",
	    .path = a->path,
	    .body = a->have_answer ? a->answer_body : NULL,
	    .body_len = a->have_answer ? strlen(a->answer_body) : 0,
	    .content_type = "application/json",
	    .verify = HTTPS_VERIFY_PIN,
	    .pin = a->pins[t->pin >= 0 ? t->pin : 0],
	    .timeout_ms = wait * 1000u + PUSH_POLL_SLACK_MS,
	    .max_response = PUSH_REQ_MAX,
	    .retry_safe = true, /* a poll, or an answer the verifier takes once only */
	};
	if (https_client_request(a->cli, &call, on_poll, a) != 0) {
		log_error("push: cannot start a request to %s", t->url);
		next_target(a, 0);
	}
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct agent_push *a = arg;
	log_info("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	event_base_loopbreak(a->base);
}

int agent_push_run(const struct agentd_config *cfg, const struct tlsid *id,
                   const struct push_target_list *urls, const char (*pins)[TLSID_THUMBPRINT_SIZE],
                   size_t npins)
{
	struct agent_push *a = calloc(1, sizeof *a);
	struct event *sigterm = NULL, *sigint = NULL;
	char err[512];
	int status = 1;
	if (a == NULL)
		return 1;
	a->cfg = cfg;
	a->pins = pins;
	a->npins = npins;
	for (size_t i = 0; i < urls->n; i++)
		(void)parse_url(urls->url[i], strlen(urls->url[i]), &a->targets[a->ntargets++]);
	a->base = event_base_new();
	if (a->base == NULL)
		goto out;
	sigterm = evsignal_new(a->base, SIGTERM, on_signal, a);
	sigint = evsignal_new(a->base, SIGINT, on_signal, a);
	a->timer = evtimer_new(a->base, on_timer, a);
	if (!sigterm || !sigint || !a->timer || evsignal_add(sigterm, NULL) ||
	    evsignal_add(sigint, NULL))
		goto out;
	if (https_client_new(a->base, id, NULL, &a->cli, err, sizeof err) != 0) {
		log_error("HTTPS client: %s", err);
		goto out;
	}
	/* The poll and the answers reuse one connection to the verifier. */
	https_client_set_keepalive(a->cli, 1, cfg->push_wait_s * 1000u + PUSH_POLL_SLACK_MS);
	if (agentd_worker_start(cfg, a->base, on_job_done, a, &a->worker) != 0) {
		log_error("cannot start the TPM worker");
		goto out;
	}
	printf("thumbprint %s\n", cfg->thumbprint);
	for (size_t i = 0; i < a->ntargets; i++)
		printf("push %s\n", a->targets[i].url);
	fflush(stdout);
	fprintf(stderr,
	        "attest-agent %s: push mode (no listening socket), %zu verifier address(es), "
	        "%zu verifier thumbprint(s) pinned, TPM %s, event log %s, data %s\n",
	        ATTEST_VERSION, a->ntargets, a->npins, cfg->tcti, cfg->eventlog, cfg->data_dir);
	poll_now(a);
	if (event_base_dispatch(a->base) == 0)
		status = 0;
out:
	agentd_worker_stop(a->worker);
	https_client_free(a->cli);
	clear_answer(a);
	if (a->timer)
		event_free(a->timer);
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	if (a->base)
		event_base_free(a->base);
	free(a);
	return status;
}
