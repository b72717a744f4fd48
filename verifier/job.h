/* The verifier's attestation job, shared by the rooms that run it (internal
 * to the service; the API never includes this):
 *   scheduler.c  claims hosts, starts jobs, renews and releases leases,
 *                answers waiters when a job ends (job_end, job_hold);
 *   job.c        one host's job: its start, its HTTPS requests to the agent,
 *                the verdict and the failure paths every step shares;
 *   enroll.c     the enrollment steps (identity, EK checks, AK, activation);
 *   appraise.c   the attestation steps (nonce, quote, verification, verdict,
 *                learning a policy from the evidence).
 * A job is a chain of HTTPS callbacks on the one libevent loop. */
#ifndef ATTEST_VERIFIER_JOB_H
#define ATTEST_VERIFIER_JOB_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "bundle.h"
#include "tpm.h"
#include "verifier.h"

#define CREDENTIAL_SIZE  32
#define IDENTITY_MAX     (256u * 1024u)
#define QUOTE_ANSWER_MAX BUNDLE_MAX_SIZE
#define STORE_RETRY_S    5 /* a job the database failed is tried again after this */

/* A learn request waiting for a host's next verified evidence. */
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
	bool push;         /* the agent's requests go down its push channel (push.c) */
	int64_t policy_id; /* the host's policy as claimed (0: the default) */
	struct timespec t0;
	/* phases (CLOCK_MONOTONIC, 0: not reached): the claim was queued, the
	 * quote request sent, its answer in, the verdict queued */
	struct timespec t_claim, t_sent, t_answer, t_verdict;
	int64_t host_us;    /* the agent's own time for its quote answer (bundle.h), -1: not said */
	int64_t started_ms; /* wall clock at the start, unix ms (history) */
	int64_t lease_until; /* our lease on the host ends then unless renewed */
	bool lost;           /* the lease could not be renewed: write nothing more */
	bool renewing;       /* a lease renewal is with the storage writer */
	bool ending;         /* its end is with the storage writer: no more steps */
	bool finished;       /* over (unlinked); freed once refs is 0 */
	unsigned refs;       /* writer completions still to come that use the job */
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
	int64_t nonce_issued, nonce_expires; /* unix seconds */
	bool nonce_live;                     /* issued, not yet consumed */
	bool nonce_used;                     /* consumed: written with the verdict */
	bool quote_sha256_only;              /* the quote asked for sha256 PCRs and no other bank */
	char *quote_sel;                     /* the PCR selection asked for ("sha256:0-7") */
	bool log_named;                      /* the quote request named log_sha256 (appraise.c) */
	bool log_wanted; /* ask for the whole log: the memo could not stand for it */
	uint8_t log_sha256[32];
	/* the host's row as the claim read it, in the writer's transaction that
	 * leased the host (store_claim_due_hosts): what a job that enrolled
	 * nothing judges and ends by (job_host), no read of its own on the loop */
	struct store_host *claimed;
	/* the host row read by this attestation step, while it runs (job_verdict
	 * needs nothing newer); NULL otherwise */
	const struct store_host *host_now;
	bool have_policy;          /* the quote was asked for under this policy */
	uint8_t policy_digest[32]; /* (appraise_policy's digest of its text) */
	/* what the verdict was judged from, for its audit record (appraise.c;
	 * handed to the job's end, which owns them then) */
	char *audit_ev;     /* JSON object (store_audit_evidence.json) */
	uint8_t *audit_log; /* the log's bytes when the agent sent them */
	size_t audit_log_len;
	char audit_log_sha[65]; /* "" : no log */
};

/* --- job.c --- */

/* Start a job for host h (malloc'd, as store_host_free frees it; it moves
 * to the job), claimed at claimed_at (linked into v->jobs). */
void job_start(struct verifier *v, struct store_host *h, int64_t claimed_at,
               const struct timespec *claim_queued);
/* The host's row as this job should judge it: the claim's while the job
 * has written nothing to it (no enrollment), else read now (*ret_own: what
 * the caller frees, NULL when it is the claim's). */
int job_host(struct job *j, const struct store_host **ret, struct store_host **ret_own);
void job_free(struct job *j);
/* Send a request to the job's agent (body consumed, may be NULL); the answer
 * goes to the step in j->step. */
void job_request(struct job *j, const char *method, const char *path, json_t *body,
                 size_t max_response);
/* The same with the body already encoded (malloc'd text, consumed; NULL:
 * none). */
void job_request_text(struct job *j, const char *method, const char *path, char *body,
                      size_t max_response);
/* A verdict reached while talking to the agent (so it is connected). */
void job_verdict(struct job *j, enum store_trust trust, const char *reasons_json,
                 const char *software_json, bool attested);
/* Red with one or two reasons (code2 may be NULL). */
void job_red(struct job *j, const char *code, const char *msg, const char *code2, const char *msg2);
/* Whether a store call failed for the database's sake, not the request's. */
bool job_store_failure(int rc);
/* The verifier's own storage failed: no verdict, retry soon. */
void job_store_error(struct job *j, const char *what);
/* The same with the database's message (a write that failed off the loop). */
void job_store_failed(struct job *j, const char *what, const char *msg);

/* A job's writes on its way, run by the storage writer thread (never on the
 * loop) in the order given; the job's end is queued after them, so they are
 * committed no later than its verdict. */
/* j->nonce (drawn by the caller) is valid for validity_s from now; it stays
 * on the job (docs/security.md, "Nonces"). Returns 0. */
int job_nonce_issue(struct job *j, int64_t validity_s);
/* Consume j->nonce (single use): next(j, arg, rc, msg) at once, rc 0 if it
 * was issued, not yet consumed and unexpired, else ATTEST_E_STATE. A
 * consumed nonce is recorded as used with the job's verdict (job_verdict).
 * next NULL: just burn it. */
typedef void job_consumed_fn(struct job *j, void *arg, int rc, const char *msg);
void job_nonce_consume(struct job *j, job_consumed_fn *next, void *arg);
/* Without waiting (failures logged): the restart counters and boot id last
 * seen; a restart (every AK retired, counters forgotten); the last evidence
 * (copied). */
void job_store_boot(struct job *j, int64_t reset_count, int64_t restart_count, const char *boot_id);
void job_store_restarted(struct job *j);
/* What evidence_keep knows of the log for the evidence write: its digest
 * (NULL: none), the time of the stored evidence row that already holds this
 * log (prev_at, 0: none known: the whole row is written), and whether the
 * agent left the log out as unchanged (then no row is written without one). */
struct job_evidence_log {
	const uint8_t *digest;
	int64_t prev_at;
	bool unchanged;
};

/* The host's last evidence, by the writer thread; nobody waits for it. When
 * it ends, appraise_kept_log_set records which log the stored row holds. */
void job_store_evidence(struct job *j, const struct store_evidence *e,
                        const struct job_evidence_log *kl);
/* A writer completion to come will use j: keep it until job_unref. */
void job_ref(struct job *j);
void job_unref(struct job *j);
/* Transport failures and thumbprint mismatches end the job; true: go on. */
bool job_answer_ok(struct job *j, const struct https_result *res);
/* A 503 TPM_TIMEOUT answer ends the job as not responding; true if it was. */
bool job_tpm_timeout(struct job *j, const struct https_result *res, const char *code,
                     const char *m);
/* "the agent answered HTTP ... CODE: message" of an agent error answer. */
void job_agent_error(const struct https_result *res, char *buf, size_t cap, char *code,
                     size_t codecap);

/* --- scheduler.c --- */

/* What a job's end writes, as one work of a group commit on the storage
 * writer thread: the used nonce, then the verdict (fenced by our lease)
 * with the connection state and the lease release (next due time) in the
 * same UPDATE of the host's row; without a verdict, the connection state
 * and the release. Times are taken on the writer when it writes. Strings
 * are copied. */
struct job_outcome {
	bool set_conn;
	enum store_conn conn;
	const char *conn_msg;
	bool verdict;
	enum store_trust trust;
	const char *reasons_json, *software_json;
	bool attested;
	int64_t next_in;  /* next due, seconds after the write */
	int64_t failures; /* the host's count of failed tries, -1 to leave it */
	/* the nonce the verdict was reached on, recorded as used (NULL: none) */
	const uint8_t *nonce;
	int64_t nonce_issued, nonce_expires;
};

/* The job is over: write its outcome (off the loop); once that committed,
 * answer the waiters, free the job, start more work. Nothing is reported
 * (waiters, metrics, logs of the transition) before the commit. */
void job_end_with(struct job *j, const struct job_outcome *o);
/* job_end_with() for a release alone, due at next_due (unix seconds). */
void job_end(struct job *j, int64_t next_due, int64_t failures);
/* Keep the job's lease (renewed once half of it is gone); false once lost. */
bool job_hold(struct job *j);

/* --- enroll.c --- */

/* Enroll: identity, EK checks, AK, activation, then the first quote. */
void enroll_start(struct job *j);
/* The host restarted: retire its AKs and enroll again. */
void enroll_again(struct job *j);
void enroll_on_identity(const struct https_result *res, void *arg);
void enroll_on_ak(const struct https_result *res, void *arg);
void enroll_on_activate(const struct https_result *res, void *arg);

/* --- appraise.c --- */

/* Issue a nonce and ask for a quote over the host policy's selection. */
void quote_start(struct job *j);
void appraise_on_quote(const struct https_result *res, void *arg);

#endif
