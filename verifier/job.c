/* One host's job: its start (enroll or quote, from what the store knows),
 * its HTTPS requests to the agent (pinned to the host's thumbprint) and the
 * dispatch of each answer to the step waiting for it (enroll.c, appraise.c),
 * and the endings every step shares: a verdict, red with reasons, the agent
 * or its TPM not responding (with backoff), a store failure (no verdict). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "agent_answer.h"
#include "err.h"
#include "job.h"
#include "log.h"
#include "reason.h"
#include "store_loop.h"
#include "verifier.h"

/* A reasons array with one or two entries. */
static char *reasons1(const char *code, const char *msg, const char *code2, const char *msg2)
{
	json_t *a = json_array();
	json_array_append_new(a, json_pack("{s:s,s:s}", "code", code, "message", msg));
	if (code2 != NULL)
		json_array_append_new(a, json_pack("{s:s,s:s}", "code", code2, "message", msg2));
	char *s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return s;
}

void job_free(struct job *j)
{
	if (j == NULL)
		return;
	free(j->reqbody);
	free(j->quote_sel);
	free(j->ak_public);
	free(j->audit_ev);
	free(j->audit_log);
	store_host_free(j->claimed);
	OPENSSL_cleanse(j->secret, sizeof j->secret);
	OPENSSL_cleanse(j->nonce, sizeof j->nonce);
	free(j);
}

/* A spread for due times, not a secret: xorshift64* from a seed drawn once
 * (a RAND_bytes call per attestation, for four bytes, cost as much as the
 * nonce's). Only the loop thread draws. */
static uint32_t jitter_draw(void)
{
	static uint64_t x;
	while (x == 0)
		if (RAND_bytes((unsigned char *)&x, sizeof x) != 1)
			x = (uint64_t)verifier_now() | 1;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	return (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32);
}

static int64_t jittered(const struct verifier *v, int64_t interval)
{
	uint32_t r = jitter_draw();
	/* +/- 10 %, and at least a second from 2 s up: due times are whole
	 * seconds, so without it hosts attested together stay in step forever
	 * and arrive at the instances sharing a database in one lump. */
	int64_t span = interval / 10;
	if (span < 1 && interval >= 2)
		span = 1;
	if (span <= 0)
		return interval;
	return interval - span + (int64_t)(r % (uint32_t)(2 * span + 1));
}

/* Write a verdict reached while talking to the agent (so it is connected):
 * with the connection state and the lease release, as one work of the
 * storage writer's next group commit (job_end_with). */
int job_host(struct job *j, const struct store_host **ret, struct store_host **ret_own)
{
	*ret_own = NULL;
	/* An enrollment writes the row (identity, EK, AK, boot counters) on the
	 * loop's connection: read it again after one. Otherwise the claim read
	 * it moments ago in the transaction that leased the host, and only an
	 * operator's change since then would differ, which a read here would
	 * miss just the same a moment later (docs/architecture.md, "State"). */
	if (j->claimed != NULL && j->enrollments == 0) {
		*ret = j->claimed;
		return 0;
	}
	int rc = store_loop_host(j->v->store, j->host_id, ret_own);
	*ret = *ret_own;
	return rc;
}

void job_verdict(struct job *j, enum store_trust trust, const char *reasons_json,
                 const char *software_json, bool attested)
{
	struct verifier *v = j->v;
	struct store_host *h = NULL;
	const struct store_host *hr = j->host_now; /* judged by a moment ago, same step */
	if (hr == NULL && job_host(j, &hr, &h) < 0) {
		log_error("%s: verdict not stored: %s", j->name, store_errmsg(v->store));
		job_end(j, verifier_now() + STORE_RETRY_S, -1);
		return;
	}
	/* Disconnected or removed meanwhile: the operator's word wins. */
	struct job_outcome o = {
	    .set_conn = hr->enabled,
	    .conn = STORE_CONN_CONNECTED,
	    .conn_msg = "the agent answers",
	    .verdict = hr->enabled,
	    .trust = trust,
	    .reasons_json = reasons_json,
	    .software_json = software_json,
	    .attested = attested,
	    .next_in = jittered(v, hr->interval_s),
	    .failures = 0,
	    .nonce = j->nonce_used ? j->nonce : NULL,
	    .nonce_issued = j->nonce_issued,
	    .nonce_expires = j->nonce_expires,
	};
	store_host_free(h);
	job_end_with(j, &o);
}

/* Whether a store call failed for the database's sake (locked, full,
 * connection lost, out of memory) rather than because of what was asked. */
bool job_store_failure(int rc)
{
	return rc == ATTEST_E_IO || rc == ATTEST_E_NOMEM;
}

/* The verifier's own storage failed in the middle of a job. Nothing about
 * the host was decided, so no verdict is written: not red (the host did
 * nothing wrong, and an alarm would be false), never green (a check could
 * not run). The trust state stays as the last completed attestation left
 * it, and turns unknown when its evidence expires; the host is tried again
 * after STORE_RETRY_S. */
void job_store_error(struct job *j, const char *what)
{
	job_store_failed(j, what, store_errmsg(j->v->store));
}

void job_store_failed(struct job *j, const char *what, const char *msg)
{
	struct verifier *v = j->v;
	if (j->ending)
		return; /* a late answer for a job already over (shutdown) */
	log_error("%s: database error while %s: %s; no verdict written, retry in %d s", j->name,
	          what, msg, STORE_RETRY_S);
	v->m.attest_error++;
	job_end(j, verifier_now() + STORE_RETRY_S, -1);
}

void job_ref(struct job *j)
{
	j->refs++;
}

void job_unref(struct job *j)
{
	if (--j->refs == 0 && j->finished)
		job_free(j);
}

/* The quote's nonce lives on the job, not in the database, until the
 * verdict: it is drawn fresh for one request to one host, compared with
 * the quote's extraData once (consumed here, before the appraisal), and
 * written as a used nonce in the verdict's own write (job_verdict). Why
 * that keeps every guarantee the issue-then-consume rows gave:
 * docs/security.md, "Nonces". */
int job_nonce_issue(struct job *j, int64_t validity_s)
{
	int64_t now = verifier_now();
	j->nonce_issued = now;
	j->nonce_expires = now + validity_s;
	j->nonce_live = true;
	j->nonce_used = false;
	return 0;
}

void job_nonce_consume(struct job *j, job_consumed_fn *next, void *arg)
{
	bool fresh = j->nonce_live && verifier_now() < j->nonce_expires;
	if (j->nonce_live)
		j->nonce_used = true; /* burnt: recorded with the verdict */
	j->nonce_live = false;
	if (next != NULL)
		next(j, arg, fresh ? 0 : ATTEST_E_STATE,
		     fresh ? "" : "the nonce was already used or has expired");
}

/* A write nobody waits for: its failure is logged. */
struct later_w {
	int64_t host_id;
	char name[STORE_NAME_MAX + 1];
	const char *what;
	int kind; /* LATER_BOOT, LATER_RESTARTED, LATER_EVIDENCE */
	int64_t reset_count, restart_count;
	char *boot_id;
	struct store_evidence ev; /* owns its buffers */
	/* LATER_EVIDENCE: the log's digest and the row that holds it */
	struct verifier *v;
	bool have_digest, unchanged;
	uint8_t digest[32];
	int64_t prev_at;
	enum { KEPT_NONE, KEPT_PUT, KEPT_TOUCHED } kept; /* set by the writer */
};

enum { LATER_BOOT, LATER_RESTARTED, LATER_EVIDENCE };

static void later_w_free(struct later_w *w)
{
	free(w->boot_id);
	free(w->ev.eventlog);
	free(w->ev.pcrs_json);
	free(w->ev.metadata_json);
	free(w);
}

/* The stored row already holds this log: rewrite the other columns only.
 * Not ours any more (another instance wrote since) and no log in hand:
 * the stored one stays. Otherwise the whole row. */
static int evidence_work(struct store *s, struct later_w *w)
{
	int rc = ATTEST_E_NOTFOUND;
	w->kept = KEPT_NONE;
	if (w->prev_at > 0)
		rc = store_evidence_touch(s, &w->ev, w->prev_at);
	if (rc == 0)
		w->kept = KEPT_TOUCHED;
	if (rc != ATTEST_E_NOTFOUND)
		return rc;
	if (w->unchanged)
		return 0;
	rc = store_evidence_put(s, &w->ev);
	if (rc == 0)
		w->kept = KEPT_PUT;
	return rc;
}

static int later_work(struct store *s, void *arg)
{
	struct later_w *w = arg;
	int64_t now = verifier_now();
	switch (w->kind) {
	case LATER_BOOT:
		return store_host_set_boot(s, w->host_id, w->reset_count, w->restart_count,
		                           w->boot_id, now);
	case LATER_RESTARTED: {
		int rc = store_ak_retire_all(s, w->host_id, now, NULL);
		if (rc == 0)
			rc = store_host_set_boot(s, w->host_id, -1, -1, NULL, now);
		return rc;
	}
	default: return evidence_work(s, w);
	}
}

static void later_done(void *arg, int rc, const char *msg)
{
	struct later_w *w = arg;
	if (w->kind == LATER_EVIDENCE) {
		/* Which log the stored row holds now, for the next evidence_keep. */
		bool held = rc == 0 && w->kept != KEPT_NONE && w->have_digest;
		appraise_kept_log_set(w->v, w->host_id, held ? w->digest : NULL,
		                      held ? w->ev.at : 0);
	}
	/* A host removed meanwhile has nothing left to update. */
	if (rc < 0 && rc != ATTEST_E_NOTFOUND &&
	    !(w->kind == LATER_EVIDENCE && rc == ATTEST_E_STATE))
		log_error("%s: %s not stored: %s", w->name, w->what, msg);
	later_w_free(w);
}

static struct later_w *later_new(struct job *j, int kind, const char *what)
{
	struct later_w *w = calloc(1, sizeof *w);
	if (w == NULL) {
		log_error("%s: %s not stored: out of memory", j->name, what);
		return NULL;
	}
	w->host_id = j->host_id;
	snprintf(w->name, sizeof w->name, "%s", j->name);
	w->kind = kind;
	w->what = what;
	return w;
}

void job_store_boot(struct job *j, int64_t reset_count, int64_t restart_count, const char *boot_id)
{
	struct later_w *w = later_new(j, LATER_BOOT, "restart counters");
	if (w == NULL)
		return;
	w->reset_count = reset_count;
	w->restart_count = restart_count;
	if (boot_id != NULL && (w->boot_id = strdup(boot_id)) == NULL) {
		log_error("%s: restart counters not stored: out of memory", j->name);
		later_w_free(w);
		return;
	}
	verifier_store_later(j->v, later_work, later_done, w);
}

void job_store_restarted(struct job *j)
{
	struct later_w *w = later_new(j, LATER_RESTARTED, "the restart (AKs retired)");
	if (w != NULL)
		verifier_store_later(j->v, later_work, later_done, w);
}

static char *dup_text(const char *s, bool *oom)
{
	if (s == NULL)
		return NULL;
	char *d = strdup(s);
	*oom |= d == NULL;
	return d;
}

void job_store_evidence(struct job *j, const struct store_evidence *e,
                        const struct job_evidence_log *kl)
{
	struct later_w *w = later_new(j, LATER_EVIDENCE, "last evidence");
	if (w == NULL) {
		appraise_kept_log_set(j->v, j->host_id, NULL, 0);
		return;
	}
	w->v = j->v;
	w->have_digest = kl->digest != NULL;
	if (kl->digest)
		memcpy(w->digest, kl->digest, sizeof w->digest);
	w->prev_at = kl->prev_at;
	w->unchanged = kl->unchanged;
	bool oom = false;
	w->ev = *e;
	w->ev.pcrs_json = dup_text(e->pcrs_json, &oom);
	w->ev.metadata_json = dup_text(e->metadata_json, &oom);
	w->ev.eventlog = NULL;
	if (e->eventlog != NULL && e->eventlog_len > 0) {
		w->ev.eventlog = malloc(e->eventlog_len);
		if (w->ev.eventlog != NULL)
			memcpy(w->ev.eventlog, e->eventlog, e->eventlog_len);
		oom |= w->ev.eventlog == NULL;
	}
	if (oom) {
		log_error("%s: last evidence not stored: out of memory", j->name);
		appraise_kept_log_set(j->v, j->host_id, NULL, 0);
		later_w_free(w);
		return;
	}
	/* Routine: it shares the commit window with the job's end. */
	size_t bytes = 512 + w->ev.eventlog_len;
	bytes += w->ev.pcrs_json ? strlen(w->ev.pcrs_json) : 0;
	bytes += w->ev.metadata_json ? strlen(w->ev.metadata_json) : 0;
	verifier_store_routine(j->v, later_work, later_done, w, bytes);
}

void job_red(struct job *j, const char *code, const char *msg, const char *code2, const char *msg2)
{
	char *r = reasons1(code, msg, code2, msg2);
	log_info("%s: %s: %s", j->name, code, msg);
	job_verdict(j, STORE_TRUST_RED, r, NULL, true);
	free(r);
}

/* The agent, or its TPM, does not answer: connection not_responding with
 * msg, backoff; the trust state is left alone until its evidence expires
 * (never red: the host did nothing wrong; never green: nothing was
 * checked). */
static void job_not_responding(struct job *j, const char *msg)
{
	struct verifier *v = j->v;
	struct store_host *own = NULL;
	const struct store_host *h = NULL;
	int64_t failures = 1, interval = v->cfg.interval_s;
	bool enabled = false;
	if (job_host(j, &h, &own) == 0) {
		failures = h->failures + 1;
		interval = h->interval_s;
		enabled = h->enabled;
	}
	store_host_free(own);
	v->m.attest_error++;
	/* Backoff: 5 s, 10 s, 20 s ... capped by the interval and an hour. */
	int64_t delay = 5;
	for (int64_t i = 1; i < failures && delay < VERIFIER_BACKOFF_MAX; i++)
		delay *= 2;
	if (delay > interval)
		delay = interval;
	if (delay > VERIFIER_BACKOFF_MAX)
		delay = VERIFIER_BACKOFF_MAX;
	log_warning("%s: %s (retry in %lld s)", j->name, msg, (long long)delay);
	struct job_outcome o = {
	    .set_conn = enabled,
	    .conn = STORE_CONN_NOT_RESPONDING,
	    .conn_msg = msg,
	    .next_in = jittered(v, delay),
	    .failures = failures,
	};
	job_end_with(j, &o);
}

/* The agent could not be reached. */
static void job_unreachable(struct job *j, const struct https_result *res)
{
	char msg[600];
	const char *why =
	    res->message && res->message[0] ? res->message : https_error_name(res->error);
	if (j->push)
		snprintf(msg, sizeof msg, "the agent (push) does not answer: %s", why);
	else
		snprintf(msg, sizeof msg, "the agent at %s:%u does not answer: %s", j->host,
		         (unsigned)j->port, why);
	job_not_responding(j, msg);
}

/* The agent answered 503 TPM_TIMEOUT: its TPM did not answer within the
 * agent's --tpm-timeout. Not the host's fault and nothing verified:
 * not_responding with reason TPM_TIMEOUT. true if that was the answer. */
bool job_tpm_timeout(struct job *j, const struct https_result *res, const char *code, const char *m)
{
	if (res->status != 503 || strcmp(code, REASON_TPM_TIMEOUT) != 0)
		return false;
	char msg[800];
	snprintf(msg, sizeof msg, "%s: %s", REASON_TPM_TIMEOUT, m);
	job_not_responding(j, msg);
	return true;
}

/* Common handling of an agent answer: transport failures and thumbprint
 * mismatches end the job; returns true when the caller should go on. */
bool job_answer_ok(struct job *j, const struct https_result *res)
{
	if (res->error == HTTPS_E_PIN) {
		char m[700];
		snprintf(
		    m, sizeof m, "the agent at %s:%u presents %s, not the pinned certificate %s",
		    j->host, (unsigned)j->port,
		    res->peer_thumbprint ? res->peer_thumbprint : "another certificate", j->pin);
		job_red(j, REASON_AGENT_THUMBPRINT_MISMATCH, m, NULL, NULL);
		return false;
	}
	if (res->error != HTTPS_OK) {
		job_unreachable(j, res);
		return false;
	}
	return true;
}

/* "the agent answered HTTP ... CODE: message" of an agent error answer. */
void job_agent_error(const struct https_result *res, char *buf, size_t cap, char *code,
                     size_t codecap)
{
	agent_answer_error(res->body, res->body_len, res->status, buf, cap, code, codecap);
}

static void on_answer(const struct https_result *res, void *arg)
{
	struct job *j = arg;
	free(j->reqbody);
	j->reqbody = NULL;
	if (j->step == STEP_QUOTE)
		clock_gettime(CLOCK_MONOTONIC, &j->t_answer);
	if (!job_hold(j)) {
		j->v->m.attest_error++;
		job_end(j, verifier_now(), -1);
		return;
	}
	switch (j->step) {
	case STEP_IDENTITY: enroll_on_identity(res, arg); break;
	case STEP_AK: enroll_on_ak(res, arg); break;
	case STEP_ACTIVATE: enroll_on_activate(res, arg); break;
	case STEP_QUOTE: appraise_on_quote(res, arg); break;
	}
}

void job_request(struct job *j, const char *method, const char *path, json_t *body,
                 size_t max_response)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	job_request_text(j, method, path, text, max_response);
}

void job_request_text(struct job *j, const char *method, const char *path, char *body,
                      size_t max_response)
{
	free(j->reqbody);
	j->reqbody = body;
	struct https_call call = {
	    .host = j->host,
	    .port = j->port,
	    .method = method,
	    .path = path,
	    .body = j->reqbody,
	    .body_len = j->reqbody ? strlen(j->reqbody) : 0,
	    .verify = HTTPS_VERIFY_PIN,
	    .pin = j->pin,
	    .timeout_ms = j->v->cfg.timeout_ms,
	    .max_response = max_response,
	    /* A quote over a fresh nonce and the identity are safe to send
	     * again; a new AK or an activation is not. */
	    .retry_safe = strcmp(path, "/v1/quote") == 0 || strcmp(method, "GET") == 0,
	};
	if (j->step == STEP_QUOTE)
		clock_gettime(CLOCK_MONOTONIC, &j->t_sent);
	/* The one seam between pull and push: only the carrier differs. */
	int rc = j->push ? push_request(j->v, j->host_id, &call, on_answer, j)
	                 : https_client_request(j->v->cli, &call, on_answer, j);
	if (rc < 0) {
		struct https_result r = {.error = HTTPS_E_INTERNAL,
		                         .message = "cannot start the request"};
		job_unreachable(j, &r);
	}
}

void job_start(struct verifier *v, struct store_host *h, int64_t claimed_at,
               const struct timespec *claim_queued)
{
	struct job *j = calloc(1, sizeof *j);
	if (j == NULL)
		goto fail;
	j->claimed = h;
	j->v = v;
	j->seq = ++v->job_seq;
	j->host_id = h->id;
	snprintf(j->name, sizeof j->name, "%s", h->name);
	clock_gettime(CLOCK_MONOTONIC, &j->t0);
	j->host_us = -1;
	if (claim_queued != NULL)
		j->t_claim = *claim_queued;
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	j->started_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
	j->lease_until = claimed_at + v->cfg.lease_s;
	j->next = v->jobs;
	v->jobs = j;
	v->in_flight++;
	j->push = h->push;
	j->policy_id = h->policy_id;
	if (j->push)
		snprintf(j->host, sizeof j->host, "push");
	else if (verifier_split_address(h->address, j->host, sizeof j->host, &j->port) < 0) {
		job_red(j, REASON_AGENT_ERROR, "the host's address is not host:port", NULL, NULL);
		return;
	}
	if (h->thumbprint == NULL || tlsid_thumbprint_parse(h->thumbprint, j->pin) < 0) {
		job_red(j, REASON_AGENT_THUMBPRINT_MISMATCH,
		        "no agent thumbprint is pinned for this host", NULL, NULL);
		return;
	}
	if (h->ak_name != NULL) {
		quote_start(j);
		return;
	}
	if (h->tpm_json != NULL) {
		json_t *t = verifier_json_stored(h->tpm_json);
		bool present = json_is_true(json_object_get(t, "present"));
		json_decref(t);
		if (!present) {
			j->check_only = true;
			j->step = STEP_IDENTITY;
			job_request(j, "GET", "/v1/identity", NULL, IDENTITY_MAX);
			return;
		}
	}
	enroll_start(j);
	return;
fail:
	(void)store_lease_release(v->store, h->id, v->cfg.instance, verifier_now() + 5, -1,
	                          verifier_now());
	store_host_free(h);
}
