/* The scheduler and the per-host jobs: enrollment (identity, EK certificate
 * chain, AK, credential activation) and attestation (nonce, quote,
 * verification, verdict). Event-driven on the one libevent loop: a job is a
 * chain of HTTPS callbacks, never a blocking call. Hosts are taken through
 * store leases (store_claim_due_hosts), so nothing here must survive a
 * restart: a killed verifier loses at most the attestations in flight,
 * whose hosts are claimed again when the leases end (or at once by the same
 * instance name, see main.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "agent_answer.h"
#include "base64.h"
#include "b64enc.h"
#include "bundle.h"
#include "credential.h"
#include "ekcert.h"
#include "err.h"
#include "eventlog.h"
#include "eventlog_facts.h"
#include "hex.h"
#include "host_policy.h"
#include "policy.h"
#include "quote.h"
#include "reason.h"
#include "tpm.h"
#include "verifier.h"
#include "verify.h"

#define TICK_MS          1000 /* mean time between scheduler rounds; each is 50-150 % of it */
#define EXPIRE_EVERY_S   5
#define CREDENTIAL_SIZE  32
#define IDENTITY_MAX     (256u * 1024u)
#define QUOTE_ANSWER_MAX BUNDLE_MAX_SIZE
#define STORE_RETRY_S    5 /* a job the database failed is tried again after this */

static const double hist_bounds[VERIFIER_HIST_BUCKETS] = {0.05, 0.1, 0.25, 0.5, 1,  2,
                                                          5,    10,  20,   30,  60, 120};

struct waiter {
	struct waiter *next;
	struct verifier *v;
	int64_t host_id;
	uint64_t after_seq;
	int status;
	struct https_request *req;
	struct event *timer;
};

struct learn {
	struct learn *next;
	int64_t host_id;
	uint64_t after_seq;
	char name[STORE_NAME_MAX + 1];
	char actor[STORE_NAME_MAX + 1];
	struct https_request *req;
};

enum job_step { STEP_IDENTITY, STEP_AK, STEP_ACTIVATE, STEP_QUOTE };

struct job {
	struct job *next;
	struct verifier *v;
	uint64_t seq;
	int64_t host_id;
	char name[STORE_NAME_MAX + 1];
	char host[256];
	uint16_t port;
	char pin[TLSID_THUMBPRINT_SIZE];
	struct timespec t0;
	int64_t started_ms;  /* wall clock at the start, unix ms (history) */
	int64_t lease_until; /* our lease on the host ends then unless renewed */
	bool lost;           /* the lease could not be renewed: write nothing more */
	enum job_step step;
	int enrollments; /* done in this job (restart: once more) */
	bool check_only; /* host had no TPM at connect: only look whether one appeared */
	char *reqbody;
	/* enrollment */
	TPMT_PUBLIC ek;
	uint8_t *ak_public;
	size_t ak_public_len;
	uint8_t ak_name[TPM_NAME_MAX];
	size_t ak_name_len;
	uint8_t secret[CREDENTIAL_SIZE];
	/* attestation */
	uint8_t nonce[VERIFIER_NONCE_SIZE];
	bool quote_sha256_only; /* the quote asked for sha256 PCRs and no other bank */
};

static void job_request(struct job *j, const char *method, const char *path, json_t *body,
                        size_t max_response);

/* ------------------------------------------------------------------ */
/* small helpers */

static double elapsed_s(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

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

static void job_free(struct job *j)
{
	if (j == NULL)
		return;
	free(j->reqbody);
	free(j->ak_public);
	OPENSSL_cleanse(j->secret, sizeof j->secret);
	OPENSSL_cleanse(j->nonce, sizeof j->nonce);
	free(j);
}

static void waiter_drop(struct verifier *v, struct waiter *w)
{
	for (struct waiter **p = &v->waiters; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	if (w->timer)
		event_free(w->timer);
	free(w);
}

/* The job is over: release the host with its next due time, answer the
 * waiters, start more work. */
static void job_end(struct job *j, int64_t next_due, int64_t failures)
{
	struct verifier *v = j->v;
	int64_t now = verifier_now();
	bool again = false;
	for (struct waiter *w = v->waiters; w; w = w->next)
		if (w->host_id == j->host_id && w->after_seq >= j->seq)
			again = true; /* asked after this job started: attest again now */
	/* If the database cannot take the release (it is down), the lease runs
	 * out by itself: the host is attested again within --lease-seconds. */
	if (store_lease_release(v->store, j->host_id, v->cfg.instance, again ? now : next_due,
	                        failures, now) < 0 &&
	    !j->lost)
		fprintf(stderr,
		        "attest-verifier: %s: lease not released (%s); the host waits for it to "
		        "expire (%lld s)\n",
		        j->name, store_errmsg(v->store), (long long)v->cfg.lease_s);
	struct waiter *w = v->waiters;
	while (w) {
		struct waiter *nx = w->next;
		if (w->host_id == j->host_id && j->seq > w->after_seq) {
			api_reply_host(v, w->req, w->status, j->host_id);
			waiter_drop(v, w);
		}
		w = nx;
	}
	for (struct learn **lp = &v->learns; *lp;) {
		struct learn *l = *lp;
		if (l->host_id == j->host_id && j->seq > l->after_seq) {
			https_reply_error(l->req, 409, "HOST_NOT_ATTESTED",
			                  "the host's evidence could not be verified, so nothing "
			                  "was learned; see the host's reasons");
			*lp = l->next;
			free(l);
		} else
			lp = &l->next;
	}
	for (struct job **p = &v->jobs; *p; p = &(*p)->next)
		if (*p == j) {
			*p = j->next;
			break;
		}
	/* Claim more at once only when this job's end frees a slot that was
	 * missing (or the host is wanted again now). Otherwise the next random
	 * round claims: an instance that kicked a round at every job end would
	 * be first at every second and take the due hosts from the others. */
	bool was_full = v->in_flight >= v->cfg.concurrency;
	v->in_flight--;
	job_free(j);
	if (was_full || again)
		scheduler_kick(v);
}

static int64_t jittered(const struct verifier *v, int64_t interval)
{
	uint32_t r = 0;
	(void)RAND_bytes((unsigned char *)&r, sizeof r);
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

static void record_metrics(struct verifier *v, enum store_trust t, double secs)
{
	if (t == STORE_TRUST_GREEN)
		v->m.attest_green++;
	else if (t == STORE_TRUST_RED)
		v->m.attest_red++;
	else
		v->m.attest_unknown++;
	size_t b = 0;
	while (b < VERIFIER_HIST_BUCKETS && secs > hist_bounds[b])
		b++;
	v->m.hist[b]++;
	v->m.hist_sum += secs;
	v->m.hist_count++;
}

/* Write a verdict reached while talking to the agent (so it is connected). */
static void job_verdict(struct job *j, enum store_trust trust, const char *reasons_json,
                        const char *software_json, bool attested)
{
	struct verifier *v = j->v;
	int64_t now = verifier_now();
	struct store_host *h = NULL;
	int64_t interval = v->cfg.interval_s;
	bool stored = true;
	if (store_host_get(v->store, j->host_id, &h) == 0) {
		interval = h->interval_s;
		/* Disconnected or removed meanwhile: the operator's word wins. */
		if (h->enabled) {
			(void)store_host_set_connection(v->store, j->host_id, STORE_CONN_CONNECTED,
			                                "verifier", "the agent answers", now, NULL);
			double secs = elapsed_s(&j->t0);
			struct store_verdict vd = {
			    .host_id = j->host_id,
			    .trust = trust,
			    .reasons_json = reasons_json,
			    .attested = attested,
			    .duration_ms = (int64_t)(secs * 1000),
			    .started_ms = j->started_ms,
			    .evidence_expires =
			        trust == STORE_TRUST_GREEN ? now + v->cfg.evidence_validity_s : 0,
			    .software_json = software_json,
			};
			struct store_transition tr = {0};
			int rc = store_host_set_trust(v->store, &vd, v->cfg.instance, "verifier",
			                              now, &tr);
			if (rc < 0) {
				fprintf(stderr, "attest-verifier: %s: verdict not stored: %s\n",
				        j->name, store_errmsg(v->store));
				stored = false;
			} else if (tr.changed)
				fprintf(stderr, "attest-verifier: %s: %s -> %s\n", j->name,
				        store_trust_name(tr.previous), store_trust_name(trust));
			record_metrics(v, trust, secs);
		}
		store_host_free(h);
	} else {
		stored = false;
	}
	/* A verdict the database did not take is no verdict: try again soon. */
	job_end(j, stored ? now + jittered(v, interval) : now + STORE_RETRY_S, stored ? 0 : -1);
}

/* Whether a store call failed for the database's sake (locked, full,
 * connection lost, out of memory) rather than because of what was asked. */
static bool store_failure(int rc)
{
	return rc == ATTEST_E_IO || rc == ATTEST_E_NOMEM;
}

/* The verifier's own storage failed in the middle of a job. Nothing about
 * the host was decided, so no verdict is written: not red (the host did
 * nothing wrong, and an alarm would be false), never green (a check could
 * not run). The trust state stays as the last completed attestation left
 * it, and turns unknown when its evidence expires; the host is tried again
 * after STORE_RETRY_S. */
static void job_store_error(struct job *j, const char *what)
{
	struct verifier *v = j->v;
	fprintf(stderr,
	        "attest-verifier: %s: database error while %s: %s; no verdict written, retry in "
	        "%d s\n",
	        j->name, what, store_errmsg(v->store), STORE_RETRY_S);
	v->m.attest_error++;
	job_end(j, verifier_now() + STORE_RETRY_S, -1);
}

static void job_red(struct job *j, const char *code, const char *msg, const char *code2,
                    const char *msg2)
{
	char *r = reasons1(code, msg, code2, msg2);
	fprintf(stderr, "attest-verifier: %s: %s: %s\n", j->name, code, msg);
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
	int64_t now = verifier_now();
	struct store_host *h = NULL;
	int64_t failures = 1, interval = v->cfg.interval_s;
	if (store_host_get(v->store, j->host_id, &h) == 0) {
		failures = h->failures + 1;
		interval = h->interval_s;
		if (h->enabled)
			(void)store_host_set_connection(v->store, j->host_id,
			                                STORE_CONN_NOT_RESPONDING, "verifier", msg,
			                                now, NULL);
		store_host_free(h);
	}
	v->m.attest_error++;
	/* Backoff: 5 s, 10 s, 20 s ... capped by the interval and an hour. */
	int64_t delay = 5;
	for (int64_t i = 1; i < failures && delay < VERIFIER_BACKOFF_MAX; i++)
		delay *= 2;
	if (delay > interval)
		delay = interval;
	if (delay > VERIFIER_BACKOFF_MAX)
		delay = VERIFIER_BACKOFF_MAX;
	fprintf(stderr, "attest-verifier: %s: %s (retry in %lld s)\n", j->name, msg,
	        (long long)delay);
	job_end(j, now + jittered(v, delay), failures);
}

/* The agent could not be reached. */
static void job_unreachable(struct job *j, const struct https_result *res)
{
	char msg[600];
	snprintf(msg, sizeof msg, "the agent at %s:%u does not answer: %s", j->host,
	         (unsigned)j->port,
	         res->message && res->message[0] ? res->message : https_error_name(res->error));
	job_not_responding(j, msg);
}

/* The agent answered 503 TPM_TIMEOUT: its TPM did not answer within the
 * agent's --tpm-timeout. Not the host's fault and nothing verified:
 * not_responding with reason TPM_TIMEOUT. true if that was the answer. */
static bool job_tpm_timeout(struct job *j, const struct https_result *res, const char *code,
                            const char *m)
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
static bool job_answer_ok(struct job *j, const struct https_result *res)
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
static void agent_error_text(const struct https_result *res, char *buf, size_t cap, char *code,
                             size_t codecap)
{
	agent_answer_error(res->body, res->body_len, res->status, buf, cap, code, codecap);
}

/* ------------------------------------------------------------------ */
/* enrollment */

static void enroll_start(struct job *j);
static void quote_start(struct job *j);

static void enroll_failed_metric(struct job *j)
{
	j->v->m.enroll_failed++;
}

/* Check the EK certificates the agent read from NV. Fills summary (JSON
 * object, consumed) and returns 1 if one chains to the certified list and
 * carries the EK, 0 if none does (code and msg say why), or a negative
 * ATTEST_E_* when the certified TPM list cannot be read. */
static int check_ek_certs(struct job *j, const struct agent_identity *id, json_t *summary,
                          const char **code, char *msg, size_t msgcap)
{
	struct ekcert_store *es = NULL;
	int rc = api_load_castore(j->v, &es);
	if (rc < 0)
		return rc;
	bool have = false;
	int ok = 0;
	*code = REASON_EK_CERT_MISSING;
	snprintf(msg, msgcap, "the TPM has no EK certificate in NV (%s)",
	         ekcert_store_count(es) ? "cannot check it against the certified TPM list"
	                                : "and the certified TPM list is empty");
	for (size_t i = 0; i < id->ncerts; i++) {
		struct ekcert_info info;
		struct ekcert_result res;
		memset(&info, 0, sizeof info);
		memset(&res, 0, sizeof res);
		struct ekcert_der chain[AGENT_ANSWER_CERTS_MAX];
		for (size_t k = 0; k < id->nchain; k++)
			chain[k] = (struct ekcert_der){id->chain[k].der, id->chain[k].len};
		rc = ekcert_verify_chain(es, id->certs[i].der, id->certs[i].len, chain, id->nchain,
		                         &id->ek, time(NULL), &info, &res);
		if (rc < 0)
			continue;
		/* A certificate for another EK (RSA vs ECC) says nothing about ours. */
		if (res.status == EKCERT_KEY_MISMATCH && have)
			continue;
		have = true;
		json_object_set_new(summary, "nv_index", json_string(id->certs[i].nv_index));
		json_object_set_new(
		    summary, "status",
		    json_string(res.status == EKCERT_OK ? "ok" : ekcert_status_code(res.status)));
		json_object_set_new(summary, "strict_der", json_boolean(info.strict_der));
		json_object_set_new(summary, "subject", json_string(info.subject));
		json_object_set_new(summary, "issuer", json_string(info.issuer));
		json_object_set_new(summary, "not_after", json_string(info.not_after));
		json_object_set_new(summary, "message", json_string(res.message));
		if (info.manufacturer[0])
			json_object_set_new(summary, "manufacturer",
			                    json_string(info.manufacturer));
		if (res.status == EKCERT_OK) {
			ok = 1;
			break;
		}
		*code = ekcert_status_code(res.status);
		snprintf(msg, msgcap, "%s%s", res.message,
		         info.strict_der ? "" : " (the certificate is not strict DER)");
	}
	ekcert_store_free(es);
	return ok;
}

/* A TPM whose EK has no certificate that verifies from NV: what the
 * operator supplied for this host (docs/operations.md). Returns the EK
 * trust it establishes ("operator_certificate": their certificate chains to
 * the certified list and carries this EK; "operator_key": they approved
 * this EK's key hash), or NULL with code/msg updated when it establishes
 * none; *ret_err < 0 on a store failure. keep gets "ek_sha256" (need
 * false: only that). */
static const char *operator_ek(struct job *j, const struct agent_identity *id, bool need,
                               json_t *keep, json_t *summary, const char **code, char *msg,
                               size_t msgcap, int *ret_err)
{
	*ret_err = 0;
	uint8_t hash[32];
	char hex[72] = "";
	if (ekcert_key_sha256(&id->ek, hash) == 0) {
		ekcert_key_sha256_text(hash, hex);
		json_object_set_new(keep, "ek_sha256", json_string(hex));
	}
	if (!need)
		return NULL;
	uint8_t *der = NULL;
	size_t len = 0;
	char *key = NULL;
	int rc = store_host_get_ek_operator(j->v->store, j->host_id, &der, &len, &key);
	if (rc < 0) {
		*ret_err = rc;
		return NULL;
	}
	const char *trust = NULL;
	if (der) {
		struct ekcert_store *es = NULL;
		rc = api_load_castore(j->v, &es);
		if (rc < 0) {
			*ret_err = rc;
			goto out;
		}
		struct ekcert_der chain[AGENT_ANSWER_CERTS_MAX];
		for (size_t k = 0; k < id->nchain; k++)
			chain[k] = (struct ekcert_der){id->chain[k].der, id->chain[k].len};
		struct ekcert_info info;
		struct ekcert_result res;
		memset(&info, 0, sizeof info);
		memset(&res, 0, sizeof res);
		rc = ekcert_verify_chain(es, der, len, chain, id->nchain, &id->ek, time(NULL),
		                         &info, &res);
		ekcert_store_free(es);
		json_object_set_new(summary, "source", json_string("operator"));
		json_object_set_new(summary, "status",
		                    json_string(rc < 0 ? "EK_CERT_CHAIN_INVALID"
		                                : res.status == EKCERT_OK
		                                    ? "ok"
		                                    : ekcert_status_code(res.status)));
		json_object_set_new(summary, "subject", json_string(info.subject));
		json_object_set_new(summary, "issuer", json_string(info.issuer));
		json_object_set_new(summary, "not_after", json_string(info.not_after));
		json_object_set_new(summary, "message", json_string(res.message));
		if (rc == 0 && res.status == EKCERT_OK) {
			trust = "operator_certificate";
			goto out;
		}
		*code = rc < 0 ? "EK_CERT_CHAIN_INVALID" : ekcert_status_code(res.status);
		snprintf(msg, msgcap, "the EK certificate the operator supplied: %s", res.message);
	}
	if (key && hex[0] && strcmp(key, hex) == 0) {
		trust = "operator_key";
	} else if (key) {
		*code = REASON_EK_KEY_NOT_APPROVED;
		snprintf(msg, msgcap,
		         "the TPM's EK key hash is %s, not %s which the operator approved for this "
		         "host",
		         hex[0] ? hex : "unknown", key);
	}
out:
	free(der);
	free(key);
	return trust;
}

static void on_activate(const struct https_result *res, void *arg)
{
	struct job *j = arg;
	struct verifier *v = j->v;
	if (!job_answer_ok(j, res))
		return;
	char m[700], code[64];
	if (res->status != 200) {
		agent_error_text(res, m, sizeof m, code, sizeof code);
		if (job_tpm_timeout(j, res, code, m))
			return;
		enroll_failed_metric(j);
		job_red(j, REASON_AK_ACTIVATION_FAILED, m, NULL, NULL);
		return;
	}
	uint8_t sec[AGENT_ANSWER_SECRET_MAX];
	size_t sl = 0;
	bool ok = agent_answer_activate(res->body, res->body_len, sec, &sl) == 0 &&
	          sl == CREDENTIAL_SIZE && CRYPTO_memcmp(sec, j->secret, CREDENTIAL_SIZE) == 0;
	OPENSSL_cleanse(sec, sizeof sec);
	OPENSSL_cleanse(j->secret, sizeof j->secret);
	if (!ok) {
		enroll_failed_metric(j);
		job_red(j, REASON_AK_ACTIVATION_FAILED,
		        "the secret the agent returned is not the one sealed to its EK: the AK is "
		        "not in the same TPM as the EK",
		        NULL, NULL);
		return;
	}
	int64_t now = verifier_now();
	int rc = store_ak_enroll(v->store, j->host_id, j->ak_name, j->ak_name_len, j->ak_public,
	                         j->ak_public_len, now, NULL);
	if (store_failure(rc)) {
		job_store_error(j, "storing the AK");
		return;
	}
	if (rc < 0) {
		enroll_failed_metric(j);
		job_red(j, REASON_AK_ACTIVATION_FAILED,
		        rc == ATTEST_E_EXISTS ? "the agent offered an AK that was enrolled before; "
		                                "an AK is never accepted twice"
		                              : "the AK could not be stored",
		        NULL, NULL);
		return;
	}
	/* The next quote sets the restart baseline for this AK. */
	(void)store_host_set_boot(v->store, j->host_id, -1, -1, NULL, now);
	v->m.enroll_ok++;
	char hexname[2 * TPM_NAME_MAX + 1];
	hex_encode(j->ak_name, j->ak_name_len, hexname);
	fprintf(stderr, "attest-verifier: %s: AK %s enrolled\n", j->name, hexname);
	quote_start(j);
}

static void on_ak(const struct https_result *res, void *arg)
{
	struct job *j = arg;
	if (!job_answer_ok(j, res))
		return;
	char m[700], code[64];
	if (res->status != 200) {
		agent_error_text(res, m, sizeof m, code, sizeof code);
		if (job_tpm_timeout(j, res, code, m))
			return;
		enroll_failed_metric(j);
		job_red(j, REASON_AGENT_ERROR, m, NULL, NULL);
		return;
	}
	TPMT_PUBLIC ak;
	char am[AGENT_ANSWER_MSG_SIZE];
	free(j->ak_public);
	j->ak_public = NULL;
	if (agent_answer_ak(res->body, res->body_len, &j->ak_public, &j->ak_public_len, &ak, am) <
	    0) {
		enroll_failed_metric(j);
		job_red(j, REASON_AK_ACTIVATION_FAILED, am, REASON_AGENT_ERROR, am);
		return;
	}
	struct quote_reasons rs;
	memset(&rs, 0, sizeof rs);
	quote_check_ak(&ak, &rs);
	if (rs.count > 0) {
		enroll_failed_metric(j);
		job_red(j, REASON_AK_ACTIVATION_FAILED, "the AK the agent created is unacceptable",
		        quote_status_code(rs.list[0].status), rs.list[0].message);
		return;
	}
	if (tpm_public_name(&ak, j->ak_name, &j->ak_name_len) < 0) {
		enroll_failed_metric(j);
		job_red(j, REASON_AK_ACTIVATION_FAILED, "cannot compute the AK's Name", NULL, NULL);
		return;
	}
	struct credential_out co;
	if (RAND_bytes(j->secret, sizeof j->secret) != 1 ||
	    credential_make(&j->ek, j->ak_name, j->ak_name_len, j->secret, sizeof j->secret, &co) <
	        0) {
		enroll_failed_metric(j);
		job_red(j, REASON_AK_ACTIVATION_FAILED, "MakeCredential failed for this EK", NULL,
		        NULL);
		return;
	}
	char hexname[2 * TPM_NAME_MAX + 1];
	hex_encode(j->ak_name, j->ak_name_len, hexname);
	char *blob = b64enc(co.blob, co.blob_len), *sec = b64enc(co.secret, co.secret_len);
	json_t *body = json_pack("{s:s,s:s,s:s}", "ak_name", hexname, "credential_blob",
	                         blob ? blob : "", "secret", sec ? sec : "");
	free(blob);
	free(sec);
	OPENSSL_cleanse(&co, sizeof co);
	j->step = STEP_ACTIVATE;
	job_request(j, "POST", "/v1/activate", body, 64 * 1024);
}

static void on_identity(const struct https_result *res, void *arg)
{
	struct job *j = arg;
	struct verifier *v = j->v;
	if (!job_answer_ok(j, res))
		return;
	char m[700], code[64];
	if (res->status != 200) {
		agent_error_text(res, m, sizeof m, code, sizeof code);
		if (job_tpm_timeout(j, res, code, m))
			return;
		enroll_failed_metric(j);
		job_red(j, REASON_AGENT_ERROR, m, NULL, NULL);
		return;
	}
	struct agent_identity id;
	char am[AGENT_ANSWER_MSG_SIZE];
	int rc = agent_answer_identity(res->body, res->body_len, &id, am);
	if (rc == ATTEST_E_NOMEM) {
		job_store_error(j, "reading the agent's identity (out of memory)");
		return;
	}
	if (rc < 0) {
		enroll_failed_metric(j);
		job_red(j, REASON_AGENT_ERROR, am, NULL, NULL);
		return;
	}
	int64_t now = verifier_now();
	if (j->check_only) {
		/* TPM presence is read at connect time only. */
		bool present = id.present;
		agent_identity_clear(&id);
		if (present)
			job_verdict(j, STORE_TRUST_UNKNOWN,
			            "[{\"code\":\"" REASON_TPM_ADDED_RECONNECT_REQUIRED
			            "\",\"message\":\"a TPM "
			            "appeared after the host was connected; TPM presence and "
			            "identity are read at connect time only: disconnect and "
			            "reconnect the host to use it\"}]",
			            NULL, false);
		else
			job_verdict(j, STORE_TRUST_UNKNOWN,
			            "[{\"code\":\"" REASON_TPM_NOT_PRESENT
			            "\",\"message\":\"the host reported "
			            "no usable TPM when it was connected\"}]",
			            NULL, false);
		return;
	}
	if (!id.present) {
		char *t = json_dumps(id.keep, JSON_COMPACT);
		struct store_identity si = {.tpm_json = t};
		rc = t ? store_host_set_identity(v->store, j->host_id, &si, now) : ATTEST_E_NOMEM;
		free(t);
		agent_identity_clear(&id);
		if (store_failure(rc)) {
			job_store_error(j, "storing the host's TPM identity");
			return;
		}
		job_verdict(
		    j, STORE_TRUST_UNKNOWN,
		    "[{\"code\":\"" REASON_TPM_NOT_PRESENT
		    "\",\"message\":\"the agent reports no usable "
		    "TPM; a TPM added later is used only after the host is disconnected and "
		    "reconnected\"}]",
		    NULL, false);
		return;
	}
	if (!id.ek_ok) {
		snprintf(m, sizeof m, "%s", id.ek_error);
		agent_identity_clear(&id);
		enroll_failed_metric(j);
		job_red(j, REASON_TPM_NOT_CERTIFIED, m, NULL, NULL);
		return;
	}
	/* One TPM is one host: an EK already bound to another host is a cloned
	 * or moved TPM (or one machine added twice), never a second identity. */
	char *ek_owner = NULL;
	rc = store_host_with_ek(v->store, id.ek_public, id.ek_public_len, j->host_id, &ek_owner);
	if (rc == 0) {
		snprintf(
		    m, sizeof m,
		    "this TPM's endorsement key is already enrolled for host \"%s\" (a cloned or "
		    "moved TPM, or one machine added twice); if the TPM moved, remove \"%s\" "
		    "first",
		    ek_owner, ek_owner);
		free(ek_owner);
		agent_identity_clear(&id);
		enroll_failed_metric(j);
		job_red(j, REASON_EK_ALREADY_ENROLLED, m, NULL, NULL);
		return;
	}
	if (rc != ATTEST_E_NOTFOUND) {
		agent_identity_clear(&id);
		job_store_error(j, "comparing the EK with the other hosts'");
		return;
	}
	j->ek = id.ek;
	json_t *summary = json_object();
	const char *why = NULL;
	int certified = check_ek_certs(j, &id, summary, &why, m, sizeof m);
	if (certified < 0) {
		json_decref(summary);
		agent_identity_clear(&id);
		job_store_error(j, "loading the certified TPM list");
		return;
	}
	/* How the EK is trusted (tpm.ek_trust): its certificate from NV, else
	 * what the operator supplied for this host. operator_key is not a
	 * certified vendor: ek_certified stays false and the policy decides. */
	const char *ek_trust = certified == 1 ? "certified" : NULL;
	int oerr = 0;
	const char *op =
	    operator_ek(j, &id, certified != 1, id.keep, summary, &why, m, sizeof m, &oerr);
	if (oerr < 0) {
		json_decref(summary);
		agent_identity_clear(&id);
		job_store_error(j, "reading the operator's EK certificate or key");
		return;
	}
	if (!ek_trust && op) {
		ek_trust = op;
		if (strcmp(op, "operator_certificate") == 0)
			certified = 1;
	}
	if (ek_trust)
		json_object_set_new(id.keep, "ek_trust", json_string(ek_trust));
	json_object_set_new(id.keep, "ek_certificate", summary);
	char *t = json_dumps(id.keep, JSON_COMPACT);
	struct store_identity si = {.tpm_json = t,
	                            .ek_public = id.ek_public,
	                            .ek_public_len = id.ek_public_len,
	                            .ek_certified = certified == 1};
	rc = t ? store_host_set_identity(v->store, j->host_id, &si, now) : ATTEST_E_NOMEM;
	free(t);
	agent_identity_clear(&id);
	if (store_failure(rc)) {
		job_store_error(j, "storing the host's TPM identity");
		return;
	}
	if (rc < 0) {
		enroll_failed_metric(j);
		job_red(j, REASON_VERIFIER_ERROR, "cannot store the host's TPM identity", NULL,
		        NULL);
		return;
	}
	if (certified != 1 && !ek_trust) {
		char top[800];
		snprintf(top, sizeof top,
		         "the TPM's EK certificate does not chain to the certified TPM list (%s)",
		         why);
		enroll_failed_metric(j);
		job_red(j, REASON_TPM_NOT_CERTIFIED, top, why, m);
		return;
	}
	j->step = STEP_AK;
	json_t *body = json_object();
	job_request(j, "POST", "/v1/ak", body, 64 * 1024);
}

static void enroll_start(struct job *j)
{
	j->enrollments++;
	j->step = STEP_IDENTITY;
	job_request(j, "GET", "/v1/identity", NULL, IDENTITY_MAX);
}

/* ------------------------------------------------------------------ */
/* attestation */

/* "sha256:0,1,2" for the policy's selection. */
static void selection_text(const struct policy *p, char *buf, size_t cap)
{
	size_t off = 0;
	buf[0] = '\0';
	for (size_t b = 0; b < p->selection_count; b++) {
		const char *bank = bundle_bank_name(p->selection[b].alg);
		if (bank == NULL || p->selection[b].mask == 0)
			continue;
		off += (size_t)snprintf(buf + off, cap - off, "%s%s:", off ? "+" : "", bank);
		bool first = true;
		for (unsigned i = 0; i < QUOTE_NUM_PCRS && off < cap; i++)
			if (p->selection[b].mask & (1u << i)) {
				off += (size_t)snprintf(buf + off, cap - off, "%s%u",
				                        first ? "" : ",", i);
				first = false;
			}
		if (off >= cap)
			break;
	}
	if (buf[0] == '\0' || off >= cap)
		snprintf(buf, cap, "sha256:0-7");
}

static void quote_start(struct job *j)
{
	struct verifier *v = j->v;
	struct policy *p = NULL;
	struct policy_error pe;
	int prc = host_policy_load(v->store, j->host_id, &p, &pe);
	if (store_failure(prc)) {
		job_store_error(j, "loading the host's policy");
		return;
	}
	if (prc < 0) {
		char msg[320];
		snprintf(msg, sizeof msg, "the host's policy cannot be loaded%s%s",
		         pe.message[0] ? ": " : "", pe.message);
		job_red(j, REASON_VERIFIER_ERROR, msg, NULL, NULL);
		return;
	}
	char sel[256];
	selection_text(p, sel, sizeof sel);
	j->quote_sha256_only = !strncmp(sel, "sha256:", 7) && !strchr(sel, '+');
	policy_free(p);
	int64_t now = verifier_now();
	int64_t validity = (int64_t)(v->cfg.timeout_ms / 1000) * 2 + 30;
	int rc = ATTEST_E_EXISTS;
	for (int tries = 0; tries < 3 && rc == ATTEST_E_EXISTS; tries++) {
		if (RAND_bytes(j->nonce, sizeof j->nonce) != 1)
			break;
		rc = store_nonce_add(v->store, j->host_id, j->nonce, sizeof j->nonce, now,
		                     now + validity);
	}
	if (rc < 0) {
		job_store_error(j, "issuing a nonce");
		return;
	}
	char hexnonce[2 * VERIFIER_NONCE_SIZE + 1];
	hex_encode(j->nonce, sizeof j->nonce, hexnonce);
	json_t *body = json_pack("{s:s,s:s}", "nonce", hexnonce, "pcrs", sel);
	j->step = STEP_QUOTE;
	job_request(j, "POST", "/v1/quote", body, QUOTE_ANSWER_MAX);
}

/* The host restarted (or the evidence says so): forget the AK and enroll. */
static void reenroll(struct job *j)
{
	struct verifier *v = j->v;
	int64_t now = verifier_now();
	(void)store_ak_retire_all(v->store, j->host_id, now, NULL);
	(void)store_host_set_boot(v->store, j->host_id, -1, -1, NULL, now);
	api_event(v, j->host_id, "enroll", "verifier",
	          "host %s restarted: enrolling a new AK before trusting it again", j->name);
	enroll_start(j);
}

/* Answer the learn requests waiting for this job with a policy learned
 * from evidence b (already verified by the caller). */
static void learn_from(struct job *j, const struct bundle *b, const struct policy *base)
{
	struct verifier *v = j->v;
	for (struct learn **lp = &v->learns; *lp;) {
		struct learn *l = *lp;
		if (l->host_id != j->host_id || j->seq <= l->after_seq) {
			lp = &l->next;
			continue;
		}
		*lp = l->next;
		struct eventlog *log = NULL;
		struct eventlog_checks *c = NULL;
		struct eventlog_facts *f = NULL;
		struct policy *p = NULL;
		char *summary = NULL, *text = NULL;
		int64_t id = 0;
		int rc = b->eventlog ? eventlog_parse(b->eventlog, b->eventlog_len, &log, NULL)
		                     : ATTEST_E_FORMAT;
		if (rc == 0)
			rc = eventlog_content_check_bank(log, TPM2_ALG_SHA256, &c);
		if (rc == 0)
			rc = eventlog_facts_derive(log, c, &f);
		if (rc == 0) {
			struct policy_learn_input in = {
			    .log = log, .checks = c, .facts = f, .pcrs = &b->pcrs, .base = base};
			rc = policy_learn(&in, &p, &summary);
		}
		if (rc == 0)
			rc = policy_to_json(p, false, &text);
		if (rc == 0)
			rc = store_policy_add(v->store, l->name, text, false, verifier_now(), &id);
		if (rc == 0) {
			api_event(v, j->host_id, "policy", l->actor,
			          "policy %s learned from host %s", l->name, j->name);
			json_t *learned = json_array();
			char *save = NULL;
			for (char *line = summary ? strtok_r(summary, "\n", &save) : NULL; line;
			     line = strtok_r(NULL, "\n", &save))
				json_array_append_new(learned, json_string(line));
			json_t *body = json_loads(text, 0, NULL);
			https_reply_json(l->req, 201,
			                 json_pack("{s:s,s:b,s:I,s:o,s:o}", "name", l->name,
			                           "default", 0, "hosts", (json_int_t)0, "body",
			                           body ? body : json_null(), "learned", learned));
		} else if (rc == ATTEST_E_EXISTS) {
			https_reply_error(l->req, 409, "EXISTS", "a policy with that name exists");
		} else {
			https_reply_error(l->req, 500, "INTERNAL",
			                  "the policy could not be learned from this evidence");
		}
		free(summary);
		free(text);
		policy_free(p);
		eventlog_facts_free(f);
		eventlog_checks_free(c);
		eventlog_free(log);
		free(l);
	}
}

void scheduler_learn(struct verifier *v, int64_t host_id, const char *name, const char *actor,
                     struct https_request *req)
{
	struct learn *l = calloc(1, sizeof *l);
	if (l == NULL) {
		https_reply_error(req, 500, "INTERNAL", "out of memory");
		return;
	}
	l->host_id = host_id;
	l->after_seq = v->job_seq;
	snprintf(l->name, sizeof l->name, "%s", name);
	snprintf(l->actor, sizeof l->actor, "%s", actor);
	l->req = req;
	l->next = v->learns;
	v->learns = l;
	int64_t now = verifier_now();
	(void)store_host_set_next_due(v->store, host_id, now, now);
	scheduler_kick(v);
}

static uint16_t bank_id(const char *s)
{
	return s ? bundle_bank_alg(s) : 0;
}

static void verify_and_store(struct job *j, struct bundle *b, const struct store_host *h,
                             const struct store_ak *ak, struct policy *p)
{
	struct verifier *v = j->v;
	json_t *tpm = api_parse_stored(h->tpm_json);
	uint16_t banks[QUOTE_MAX_BANKS];
	size_t nb = 0;
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(tpm, "banks"), i, x)
	{
		uint16_t id = bank_id(json_string_value(x));
		if (id != 0 && nb < QUOTE_MAX_BANKS)
			banks[nb++] = id;
	}
	struct verify_input in = {
	    .bundle = b,
	    .ak_public = ak->public_area,
	    .ak_public_len = ak->public_len,
	    .nonce = j->nonce,
	    .nonce_len = sizeof j->nonce,
	    .previous = {.have_clock = h->reset_count >= 0 && h->restart_count >= 0,
	                 .reset_count = (uint32_t)(h->reset_count < 0 ? 0 : h->reset_count),
	                 .restart_count = (uint32_t)(h->restart_count < 0 ? 0 : h->restart_count),
	                 .boot_id = h->boot_id},
	    .host = {.tpm_interface = json_string_value(json_object_get(tpm, "interface")),
	             .banks = banks,
	             .bank_count = nb,
	             .agent_version = json_string_value(json_object_get(tpm, "agent_version")),
	             .ek_certified = h->ek_certified,
	             .ek_trust = json_string_value(json_object_get(tpm, "ek_trust"))},
	    .policy = p,
	};
	struct verify_result *r = NULL;
	int rc = verify_attestation(&in, &r);
	json_decref(tpm);
	if (rc < 0) {
		job_red(j, REASON_VERIFIER_ERROR, "the verification could not run", NULL, NULL);
		return;
	}
	if (r->verdict == VERIFY_RESTARTED && j->enrollments < 2) {
		verify_result_free(r);
		reenroll(j);
		return;
	}
	/* Learning needs evidence that verified; differences from the current
	 * policy are what a new policy is for. */
	bool learnable = r->verdict != VERIFY_RESTARTED;
	for (size_t k = 0; k < r->reason_count && learnable; k++)
		if (strcmp(r->reasons[k].code, REASON_CONFIGURATION_NOT_APPROVED) != 0)
			learnable = false;
	if (learnable && v->learns != NULL)
		learn_from(j, b, p);
	api_evidence_record(v, j->host_id, b, learnable); /* for the dashboard */
	json_t *reasons = NULL, *full = NULL;
	(void)verify_reasons_json(r, &reasons);
	(void)verify_result_json(r, &full);
	char *rj = reasons ? json_dumps(reasons, JSON_COMPACT) : NULL;
	char *sw = full ? json_dumps(json_object_get(full, "software"), JSON_COMPACT) : NULL;
	enum store_trust t = r->verdict == VERIFY_GREEN ? STORE_TRUST_GREEN : STORE_TRUST_RED;
	if (r->restarted) {
		/* Red with a restart: enroll afresh next time. */
		(void)store_ak_retire_all(v->store, j->host_id, verifier_now(), NULL);
		(void)store_host_set_boot(v->store, j->host_id, -1, -1, NULL, verifier_now());
	} else if (r->clock.known) {
		(void)store_host_set_boot(
		    v->store, j->host_id, r->clock.reset_count, r->clock.restart_count,
		    r->clock.boot_id[0] ? r->clock.boot_id : NULL, verifier_now());
	}
	if (t == STORE_TRUST_RED && r->reason_count > 0)
		fprintf(stderr, "attest-verifier: %s: red: %s: %s\n", j->name, r->reasons[0].code,
		        r->reasons[0].message);
	verify_result_free(r);
	json_decref(reasons);
	json_decref(full);
	job_verdict(j, t, rj ? rj : "[]", sw, true);
	free(rj);
	free(sw);
}

static void on_quote(const struct https_result *res, void *arg)
{
	struct job *j = arg;
	struct verifier *v = j->v;
	if (!job_answer_ok(j, res))
		return;
	char m[700], code[64];
	if (res->status != 200) {
		agent_error_text(res, m, sizeof m, code, sizeof code);
		(void)store_nonce_consume(v->store, j->host_id, j->nonce, sizeof j->nonce,
		                          verifier_now());
		if (job_tpm_timeout(j, res, code, m))
			return;
		if (res->status == 409 && strcmp(code, "NO_AK") == 0 && j->enrollments == 0) {
			(void)store_ak_retire_all(v->store, j->host_id, verifier_now(), NULL);
			enroll_start(j);
			return;
		}
		if (res->status == 422 && strcmp(code, "PCR_BANK_INACTIVE") == 0) {
			/* A TPM without the bank the policy quotes (a SHA-1-only TPM):
			 * a requirement unmet, named as such, not an agent fault. */
			job_red(j,
			        j->quote_sha256_only ? REASON_SHA256_BANK_MISSING
			                             : REASON_PCR_BANK_MISSING,
			        m, NULL, NULL);
			return;
		}
		job_red(j, REASON_AGENT_ERROR, m, NULL, NULL);
		return;
	}
	struct bundle *b = NULL;
	struct bundle_error be = {0};
	if (bundle_parse(res->body, res->body_len, &b, &be) < 0) {
		snprintf(m, sizeof m, "the agent's evidence is malformed: %s", be.message);
		job_red(j, REASON_EVIDENCE_MALFORMED, m, NULL, NULL);
		return;
	}
	/* Single use, across every instance sharing the database. */
	int rc =
	    store_nonce_consume(v->store, j->host_id, j->nonce, sizeof j->nonce, verifier_now());
	if (rc < 0 && rc != ATTEST_E_STATE && rc != ATTEST_E_NOTFOUND) {
		/* Not decided: the database could not say whether it is fresh. */
		bundle_free(b);
		job_store_error(j, "consuming the nonce");
		return;
	}
	if (rc < 0) {
		bundle_free(b);
		job_red(j, quote_status_code(QUOTE_NONCE_NOT_FRESH),
		        "the nonce of this quote was already used or has expired", NULL, NULL);
		return;
	}
	struct store_host *h = NULL;
	struct store_ak *ak = NULL;
	struct policy *p = NULL;
	struct policy_error pe = {0};
	if ((rc = store_host_get(v->store, j->host_id, &h)) < 0 ||
	    (rc = store_ak_current(v->store, j->host_id, &ak)) < 0 ||
	    (rc = host_policy_load(v->store, j->host_id, &p, &pe)) < 0) {
		char msg[320];
		snprintf(msg, sizeof msg, "the host, its AK or its policy cannot be loaded%s%s",
		         pe.message[0] ? ": " : "", pe.message);
		if (store_failure(rc))
			job_store_error(j, "loading the host, its AK or its policy");
		else
			job_red(j, REASON_VERIFIER_ERROR, msg, NULL, NULL);
	} else {
		verify_and_store(j, b, h, ak, p);
	}
	policy_free(p);
	store_ak_free(ak);
	store_host_free(h);
	bundle_free(b);
}

/* Keep the lease on the job's host: renew it once less than half of it is
 * left. False once it is lost (expired, or another instance holds the
 * host): the job must then write nothing, since the host may be another
 * instance's now (the store refuses a stale owner's verdict as well). */
static bool job_hold(struct job *j)
{
	struct verifier *v = j->v;
	if (j->lost)
		return false;
	int64_t now = verifier_now(), lease = v->cfg.lease_s;
	if (now + lease / 2 < j->lease_until)
		return true;
	int rc = store_lease_renew(v->store, j->host_id, v->cfg.instance, now, lease);
	if (rc == 0) {
		j->lease_until = now + lease;
		return true;
	}
	/* A database error leaves the lease as it was: keep working while it
	 * lasts; past it, another instance may have the host. */
	if (rc != ATTEST_E_STATE && now < j->lease_until)
		return true;
	j->lost = true;
	fprintf(stderr,
	        "attest-verifier: %s: lease lost (%s): abandoning this attestation, another "
	        "instance may have the host\n",
	        j->name, rc == ATTEST_E_STATE ? "expired" : store_errmsg(v->store));
	return false;
}

static void on_answer(const struct https_result *res, void *arg)
{
	struct job *j = arg;
	free(j->reqbody);
	j->reqbody = NULL;
	if (!job_hold(j)) {
		j->v->m.attest_error++;
		job_end(j, verifier_now(), -1);
		return;
	}
	switch (j->step) {
	case STEP_IDENTITY: on_identity(res, arg); break;
	case STEP_AK: on_ak(res, arg); break;
	case STEP_ACTIVATE: on_activate(res, arg); break;
	case STEP_QUOTE: on_quote(res, arg); break;
	}
}

static void job_request(struct job *j, const char *method, const char *path, json_t *body,
                        size_t max_response)
{
	free(j->reqbody);
	j->reqbody = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
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
	};
	if (https_client_request(j->v->cli, &call, on_answer, j) < 0) {
		struct https_result r = {.error = HTTPS_E_INTERNAL,
		                         .message = "cannot start the request"};
		job_unreachable(j, &r);
	}
}

static void job_start(struct verifier *v, const struct store_host *h, int64_t claimed_at)
{
	struct job *j = calloc(1, sizeof *j);
	if (j == NULL)
		goto fail;
	j->v = v;
	j->seq = ++v->job_seq;
	j->host_id = h->id;
	snprintf(j->name, sizeof j->name, "%s", h->name);
	clock_gettime(CLOCK_MONOTONIC, &j->t0);
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	j->started_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
	j->lease_until = claimed_at + v->cfg.lease_s;
	j->next = v->jobs;
	v->jobs = j;
	v->in_flight++;
	if (verifier_split_address(h->address, j->host, sizeof j->host, &j->port) < 0) {
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
		json_t *t = api_parse_stored(h->tpm_json);
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
}

/* ------------------------------------------------------------------ */
/* scheduler */

static void schedule_round(struct verifier *v)
{
	int64_t now = verifier_now();
	/* Renew the leases of long jobs before they run out. */
	for (struct job *j = v->jobs; j; j = j->next)
		(void)job_hold(j);
	if (now - v->last_expire >= EXPIRE_EVERY_S) {
		v->last_expire = now;
		int64_t n = 0;
		(void)store_expire_evidence(v->store, now, &n);
		if (n > 0)
			fprintf(stderr, "attest-verifier: evidence expired for %lld host(s)\n",
			        (long long)n);
		(void)store_nonce_purge(v->store, now - 3600, NULL);
	}
	if (v->in_flight >= v->cfg.concurrency)
		return;
	size_t room = v->cfg.concurrency - v->in_flight;
	if (room > STORE_CLAIM_MAX)
		room = STORE_CLAIM_MAX;
	/* A lease lasts --lease-seconds; jobs that run longer (enrollment, a
	 * re-enrollment after a restart, slow agents) renew it (job_hold). */
	int64_t lease = v->cfg.lease_s;
	struct store_host_list *hl = NULL;
	if (store_claim_due_hosts(v->store, v->cfg.instance, now, lease, room, &hl) < 0) {
		fprintf(stderr, "attest-verifier: claiming hosts: %s\n", store_errmsg(v->store));
		return;
	}
	for (size_t i = 0; i < hl->n; i++) {
		if (scheduler_busy(v, hl->v[i].id))
			continue;
		job_start(v, &hl->v[i], now);
	}
	store_host_list_free(hl);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	schedule_round(arg);
}

/* Arm the next round at a random 50-150 % of TICK_MS. Hosts fall due on
 * whole seconds; with a fixed period, the instance whose round comes first
 * after each second would claim every due host, always the same one. A
 * random period lets each of several instances sharing a database come
 * first in turn, so the hosts spread over them. */
static void tick_arm(struct verifier *v)
{
	uint32_t r = 0;
	(void)RAND_bytes((unsigned char *)&r, sizeof r);
	unsigned ms = TICK_MS / 2 + r % (TICK_MS + 1);
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	event_add(v->tick, &tv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct verifier *v = arg;
	schedule_round(v);
	tick_arm(v);
}

int scheduler_start(struct verifier *v)
{
	v->tick = event_new(v->base, -1, 0, on_timer, v);
	v->kick = event_new(v->base, -1, 0, on_tick, v);
	if (v->tick == NULL || v->kick == NULL)
		return ATTEST_E_NOMEM;
	tick_arm(v);
	event_active(v->kick, 0, 0);
	return 0;
}

void scheduler_kick(struct verifier *v)
{
	if (v->kick != NULL && !event_pending(v->kick, EV_TIMEOUT, NULL))
		event_active(v->kick, 0, 0);
}

bool scheduler_busy(const struct verifier *v, int64_t host_id)
{
	for (const struct job *j = v->jobs; j; j = j->next)
		if (j->host_id == host_id)
			return true;
	return false;
}

static void on_wait_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct waiter *w = arg;
	https_reply_error(w->req, 504, "ATTESTATION_PENDING",
	                  "the attestation has not finished yet; look at the host later");
	waiter_drop(w->v, w);
}

void scheduler_wait(struct verifier *v, int64_t host_id, struct https_request *req, int status)
{
	struct waiter *w = calloc(1, sizeof *w);
	if (w == NULL) {
		https_reply_error(req, 500, "INTERNAL", "out of memory");
		return;
	}
	w->v = v;
	w->host_id = host_id;
	w->after_seq = v->job_seq;
	w->status = status;
	w->req = req;
	w->timer = evtimer_new(v->base, on_wait_timeout, w);
	if (w->timer == NULL) {
		free(w);
		https_reply_error(req, 500, "INTERNAL", "out of memory");
		return;
	}
	/* Long enough for a restart: two enrollments and two quotes. */
	uint64_t ms = (uint64_t)v->cfg.timeout_ms * 10 + 5000;
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
	                     .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(w->timer, &tv);
	w->next = v->waiters;
	v->waiters = w;
}

void scheduler_stop(struct verifier *v)
{
	if (v->tick)
		event_del(v->tick);
}

void scheduler_free(struct verifier *v)
{
	while (v->waiters) {
		struct waiter *w = v->waiters;
		v->waiters = w->next;
		if (w->timer)
			event_free(w->timer);
		free(w);
	}
	while (v->learns) {
		struct learn *l = v->learns;
		v->learns = l->next;
		free(l);
	}
	/* The HTTPS client is freed after this (its callbacks never run again);
	 * the hosts' leases run out or are released at the next start. */
	while (v->jobs) {
		struct job *j = v->jobs;
		v->jobs = j->next;
		job_free(j);
	}
	if (v->tick)
		event_free(v->tick);
	if (v->kick)
		event_free(v->kick);
	v->tick = v->kick = NULL;
}

/* Used by api_admin.c for /metrics. */
const double *scheduler_hist_bounds(void);
const double *scheduler_hist_bounds(void)
{
	return hist_bounds;
}
