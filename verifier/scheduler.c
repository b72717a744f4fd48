/* The scheduler: rounds (a random 50-150 % of a second apart) that claim
 * due hosts through store leases (store_claim_due_hosts) and start a job for
 * each (job.c); lease renewal while a job runs and release when it ends,
 * with the next due time (backoff is decided by job.c); waiters, callers
 * told when an attestation that starts after they asked has ended; learn
 * requests, answered by appraise.c or refused here when the job ends without
 * verified evidence. Nothing here must survive a restart: a killed verifier
 * loses at most the attestations in flight, whose hosts are claimed again
 * when the leases end (or at once by the same instance name, see main.c). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "err.h"
#include "job.h"
#include "log.h"
#include "store_loop.h"
#include "verifier.h"

#define TICK_MS        1000 /* mean time between scheduler rounds; each is 50-150 % of it */
#define EXPIRE_EVERY_S 5

struct waiter {
	struct waiter *next;
	struct verifier *v;
	int64_t host_id;
	uint64_t after_seq;
	scheduler_wait_fn fn;
	void *arg;
	struct event *timer;
};

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

/* Tell w's caller how its wait ended, and forget it. */
static void waiter_end(struct verifier *v, struct waiter *w, int64_t host_id,
                       enum scheduler_wait_end end)
{
	scheduler_wait_fn fn = w->fn;
	void *arg = w->arg;
	waiter_drop(v, w);
	fn(v, host_id, end, arg);
}

/* A job's end on its way to the database (job_end_with). */
struct endw {
	struct verifier *v;
	struct job *j;
	int64_t host_id;
	char *conn_msg, *reasons, *software;
	char *audit_ev, audit_log_sha[65]; /* the verdict's evidence (job.h) */
	uint8_t *audit_log;
	size_t audit_log_len;
	struct job_outcome o;
	uint8_t nonce[VERIFIER_NONCE_SIZE]; /* o.nonce points here */
	bool again;                         /* a waiter asked after the job started: due now */
	double secs;                        /* the attestation's time, start to verdict */
	bool timed;                         /* an attestation's phases are counted */
	struct timespec t_verdict;          /* queued for the writer */
	int64_t started_ms;
	/* written by the work */
	int vrc, rrc; /* verdict, release: 0 or ATTEST_E_* */
	struct store_transition tr;
	char vmsg[200], rmsg[200];
};

static double elapsed_s(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void endw_free(struct endw *e)
{
	OPENSSL_cleanse(e->nonce, sizeof e->nonce);
	free(e->conn_msg);
	free(e->reasons);
	free(e->software);
	free(e->audit_ev);
	free(e->audit_log);
	free(e);
}

/* On the writer thread: the used nonce, the verdict with the connection and
 * the release in one row write; or, without a verdict (or when it failed),
 * the connection and the release. A verdict the database did not take is
 * no verdict: the host is tried again soon. */
static int endw_work(struct store *s, void *arg)
{
	struct endw *e = arg;
	const struct verifier_config *cfg = &e->v->cfg;
	int64_t now = verifier_now();
	int64_t next = now + e->o.next_in, failures = e->o.failures;
	if (e->o.verdict && e->o.nonce != NULL) {
		/* No verdict on a nonce the database refuses (ever recorded). */
		e->vrc = store_nonce_used(s, e->host_id, e->o.nonce, sizeof e->nonce,
		                          e->o.nonce_issued, e->o.nonce_expires, now);
		if (e->vrc < 0)
			snprintf(e->vmsg, sizeof e->vmsg, "the used nonce: %s", store_errmsg(s));
	}
	if (e->o.verdict && e->vrc == 0) {
		struct store_verdict vd = {
		    .host_id = e->host_id,
		    .trust = e->o.trust,
		    .reasons_json = e->reasons,
		    .attested = e->o.attested,
		    .duration_ms = (int64_t)(e->secs * 1000),
		    .started_ms = e->started_ms,
		    .evidence_expires =
		        e->o.trust == STORE_TRUST_GREEN ? now + cfg->evidence_validity_s : 0,
		    .software_json = e->software,
		    .set_conn = e->o.set_conn,
		    .conn = e->o.conn,
		    .conn_msg = e->conn_msg,
		    .release = true,
		    .next_due = e->again ? now : next,
		    .failures = failures,
		};
		struct store_audit_evidence ae = {
		    .json = e->audit_ev,
		    .eventlog_sha256 = e->audit_log_sha[0] ? e->audit_log_sha : NULL,
		    .eventlog = e->audit_log,
		    .eventlog_len = e->audit_log_len,
		};
		if (e->audit_ev)
			vd.evidence = &ae;
		e->vrc = store_host_set_trust(s, &vd, cfg->instance, "verifier", now, &e->tr);
		if (e->vrc == 0)
			return 0; /* released too */
		snprintf(e->vmsg, sizeof e->vmsg, "%s", store_errmsg(s));
	}
	if (e->o.verdict && e->vrc < 0) {
		next = now + STORE_RETRY_S;
		failures = -1;
	}
	/* A verdict refused as not ours (the lease is another instance's, or
	 * the operator disconnected the host meanwhile): so is its connection
	 * state. */
	if (e->o.set_conn && !(e->o.verdict && e->vrc == ATTEST_E_STATE))
		(void)store_host_set_connection(s, e->host_id, e->o.conn, "verifier", e->conn_msg,
		                                now, NULL);
	e->rrc =
	    store_lease_release(s, e->host_id, cfg->instance, e->again ? now : next, failures, now);
	if (e->rrc < 0)
		snprintf(e->rmsg, sizeof e->rmsg, "%s", store_errmsg(s));
	return 0;
}

/* Wake the waiters, answer the learn requests the job did not serve, free
 * the job, start more work. */
static void job_finish(struct job *j)
{
	struct verifier *v = j->v;
	bool late = false;
	struct waiter *w = v->waiters;
	while (w) {
		struct waiter *nx = w->next;
		if (w->host_id == j->host_id && j->seq > w->after_seq)
			waiter_end(v, w, j->host_id, SCHEDULER_WAIT_DONE);
		else if (w->host_id == j->host_id)
			late = true; /* asked while the end was being written */
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
	int64_t host_id = j->host_id;
	for (struct job **p = &v->jobs; *p; p = &(*p)->next)
		if (*p == j) {
			*p = j->next;
			break;
		}
	/* Claim more at once only when this job's end frees a slot that was
	 * missing, the host is wanted again now, or due hosts are waiting (the
	 * last claim was full), and then in batches (below). Otherwise the next random round
	 * claims: an instance that kicked a round at every job end would be first at every second
	 * and take the due hosts from the others. */
	bool was_full = v->in_flight + v->pending >= v->cfg.concurrency;
	v->in_flight--;
	j->finished = true;
	if (j->refs == 0)
		job_free(j); /* else the last completion that uses it frees it */
	if (late) {
		/* The release may have set a later due time than the waiter's. */
		int64_t now = verifier_now();
		(void)store_host_set_next_due(v->store, host_id, now, v->cfg.instance, now);
	}
	/* With starts paced, job ends come one at a time: a claim at each
	 * would lease one host per writer transaction. Claim once the queue of
	 * paced starts runs dry or a quarter of the slots is free. */
	unsigned busy = v->in_flight + v->pending, batch = v->cfg.concurrency / 4;
	bool worth = v->pending == 0 || (busy < v->cfg.concurrency &&
	                                 v->cfg.concurrency - busy >= (batch ? batch : 1));
	if (late || ((was_full || v->backlog) && worth))
		scheduler_kick(v);
}

/* On the loop, once the end's group committed (or failed). */
static void endw_done(void *arg, int rc, const char *msg)
{
	struct endw *e = arg;
	struct verifier *v = e->v;
	struct job *j = e->j;
	if (rc < 0) {
		if (e->o.verdict)
			log_error("%s: verdict not stored: %s", j->name, msg);
		if (!j->lost)
			log_warning("%s: lease not released (%s); the host waits for it to expire "
			            "(%lld s)",
			            j->name, msg, (long long)v->cfg.lease_s);
	} else {
		if (e->o.verdict && e->vrc < 0)
			log_error("%s: verdict not stored: %s", j->name, e->vmsg);
		else if (e->o.verdict && e->tr.changed)
			log_info("%s: %s -> %s", j->name, store_trust_name(e->tr.previous),
			         store_trust_name(e->o.trust));
		if (e->rrc < 0 && !j->lost)
			log_warning("%s: lease not released (%s); the host waits for it to expire "
			            "(%lld s)",
			            j->name, e->rmsg, (long long)v->cfg.lease_s);
	}
	if (e->o.verdict)
		metrics_verdict(v, e->o.trust, e->secs);
	if (e->timed) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		metrics_phase(v, PHASE_COMMIT, &e->t_verdict, &now);
	}
	endw_free(e);
	job_finish(j);
}

static char *dup_or_null(const char *s, bool *oom)
{
	if (s == NULL)
		return NULL;
	char *d = strdup(s);
	if (d == NULL)
		*oom = true;
	return d;
}

/* Whether a job's end is waited on: an API caller (?wait=1, a learn
 * request) for its host, or a new host's first verdict (an enrollment). */
static bool end_urgent(const struct verifier *v, const struct job *j)
{
	if (j->enrollments > 0)
		return true;
	for (const struct waiter *w = v->waiters; w; w = w->next)
		if (w->host_id == j->host_id)
			return true;
	for (const struct learn *l = v->learns; l; l = l->next)
		if (l->host_id == j->host_id)
			return true;
	return false;
}

/* About what an end writes (the commit window's size cap). */
static size_t endw_bytes(const struct endw *e)
{
	size_t n = 512 + e->audit_log_len;
	const char *t[] = {e->conn_msg, e->reasons, e->software, e->audit_ev};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		n += t[i] ? strlen(t[i]) : 0;
	return n;
}

void job_end_with(struct job *j, const struct job_outcome *o)
{
	struct verifier *v = j->v;
	if (j->ending) {
		if (!j->finished)
			log_error("%s: job ended twice (ignored)", j->name);
		return;
	}
	j->ending = true;
	struct endw *e = calloc(1, sizeof *e);
	bool oom = e == NULL;
	if (e != NULL) {
		e->v = v;
		e->j = j;
		e->host_id = j->host_id;
		e->o = *o;
		if (o->nonce != NULL) {
			memcpy(e->nonce, o->nonce, sizeof e->nonce);
			e->o.nonce = e->nonce;
		}
		e->conn_msg = dup_or_null(o->conn_msg, &oom);
		e->reasons = dup_or_null(o->reasons_json, &oom);
		e->software = dup_or_null(o->software_json, &oom);
		e->secs = elapsed_s(&j->t0);
		/* An attestation without enrollment: where its time went. */
		e->timed = o->verdict && j->enrollments == 0 && j->t_answer.tv_sec != 0;
		clock_gettime(CLOCK_MONOTONIC, &e->t_verdict);
		if (e->timed) {
			metrics_phase(v, PHASE_CLAIM, &j->t_claim, &j->t0);
			metrics_phase(v, PHASE_START, &j->t0, &j->t_sent);
			metrics_phase(v, PHASE_AGENT, &j->t_sent, &j->t_answer);
			metrics_phase(v, PHASE_VERIFY, &j->t_answer, &e->t_verdict);
			if (j->host_us >= 0) {
				/* the host's word, but never more than the verifier saw pass */
				double agent =
				    (double)(j->t_answer.tv_sec - j->t_sent.tv_sec) +
				    (double)(j->t_answer.tv_nsec - j->t_sent.tv_nsec) / 1e9;
				double host = (double)j->host_us / 1e6;
				if (host > agent)
					host = agent;
				metrics_phase_secs(v, PHASE_HOST, host);
				metrics_phase_secs(v, PHASE_OWN, e->secs - host);
			}
		}
		e->started_ms = j->started_ms;
		/* The verdict's evidence moves to the end's work. */
		e->audit_ev = j->audit_ev;
		e->audit_log = j->audit_log;
		e->audit_log_len = j->audit_log_len;
		memcpy(e->audit_log_sha, j->audit_log_sha, sizeof e->audit_log_sha);
		j->audit_ev = NULL;
		j->audit_log = NULL;
		for (struct waiter *w = v->waiters; w; w = w->next)
			if (w->host_id == j->host_id && w->after_seq >= j->seq)
				e->again =
				    true; /* asked after this job started: attest again now */
	}
	if (oom) {
		/* Nothing written; the lease runs out by itself. */
		log_error("%s: out of memory ending the job; the host waits for its lease to "
		          "expire",
		          j->name);
		if (e != NULL)
			endw_free(e);
		job_finish(j);
		return;
	}
	/* A routine end (nobody waits for it) may wait for the commit window;
	 * one an operator or a caller waits on is committed at once. */
	if (end_urgent(v, j))
		verifier_store_later(v, endw_work, endw_done, e);
	else
		verifier_store_routine(v, endw_work, endw_done, e, endw_bytes(e));
}

void job_end(struct job *j, int64_t next_due, int64_t failures)
{
	int64_t in = next_due - verifier_now();
	struct job_outcome o = {.next_in = in > 0 ? in : 0, .failures = failures};
	job_end_with(j, &o);
}

/* A lease renewal on its way to the database. */
struct renew {
	struct job *j;      /* used on the loop only */
	struct verifier *v; /* its configuration is read on the writer */
	int64_t host_id;
	int64_t at; /* when the writer renewed it */
	int rc;
	char msg[200];
};

static int renew_work(struct store *s, void *arg)
{
	struct renew *r = arg;
	const struct verifier_config *cfg = &r->v->cfg;
	r->at = verifier_now();
	r->rc = store_lease_renew(s, r->host_id, cfg->instance, r->at, cfg->lease_s);
	if (r->rc < 0)
		snprintf(r->msg, sizeof r->msg, "%s", store_errmsg(s));
	return 0;
}

/* The job outlives this: it holds a reference for the renewal, whose
 * completion may come after the job's end (on PostgreSQL the renewal runs on
 * the writer's apart lane, not ordered with the groups). */
static void renew_done(void *arg, int rc, const char *msg)
{
	struct renew *r = arg;
	struct job *j = r->j;
	j->renewing = false;
	if (j->finished) {
		free(r);
		job_unref(j);
		return;
	}
	if (rc == 0 && r->rc == 0) {
		j->lease_until = r->at + j->v->cfg.lease_s;
	} else if (rc == 0 && r->rc == ATTEST_E_STATE && !j->lost) {
		j->lost = true;
		log_warning("%s: lease lost (expired, or the host was reconnected): abandoning "
		            "this attestation, another instance may have the host",
		            j->name);
	} else if (!j->lost) {
		/* A database error leaves the lease as it was: keep working while it
		 * lasts (job_hold); past it, another instance may have the host. */
		log_warning("%s: lease not renewed: %s", j->name, rc < 0 ? msg : r->msg);
	}
	free(r);
	job_unref(j);
}

/* Keep the lease on the job's host: renew it (on the writer thread) once
 * less than half of it is left. False once it is lost (expired here, or the
 * database says another instance holds the host): the job must then write
 * nothing, since the host may be another instance's now (the store refuses
 * a stale owner's verdict as well). Never waits for the database. */
bool job_hold(struct job *j)
{
	struct verifier *v = j->v;
	if (j->lost)
		return false;
	int64_t now = verifier_now(), lease = v->cfg.lease_s;
	if (now >= j->lease_until) {
		j->lost = true;
		log_warning("%s: lease lost (expired before it could be renewed): abandoning this "
		            "attestation, another instance may have the host",
		            j->name);
		return false;
	}
	if (now + lease / 2 < j->lease_until || j->renewing || j->ending)
		return true;
	struct renew *r = calloc(1, sizeof *r);
	if (r == NULL)
		return true; /* tried again at the next answer or round */
	r->j = j;
	r->v = v;
	r->host_id = j->host_id;
	j->renewing = true;
	job_ref(j);
	verifier_store_apart(v, renew_work, renew_done, r, true);
	return true;
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
	(void)store_host_set_next_due(v->store, host_id, now, v->cfg.instance, now);
	scheduler_kick(v);
}

/* A lease claim on its way to the database. */
struct claim {
	struct verifier *v;
	size_t room;
	int64_t at;             /* when the writer claimed: the leases run from then */
	struct timespec queued; /* when the claim was handed to the writer */
	struct store_host_list *hl;
	int mrc; /* the markers' read (appraise_markers): 0 or ATTEST_E_* */
	struct store_loop_markers markers;
};

static int claim_work(struct store *s, void *arg)
{
	struct claim *c = arg;
	const struct verifier_config *cfg = &c->v->cfg;
	c->at = verifier_now();
	int rc = store_claim_due_hosts(s, cfg->instance, c->at, cfg->lease_s, c->room, &c->hl);
	/* Once a round, off the loop: whether the cached policies and catalog
	 * still hold (appraise_cache.c). */
	c->mrc = store_loop_markers(s, &c->markers);
	/* A failed read may have spoilt the group's transaction: undo the
	 * claim with it (the hosts are claimed again at the next round). */
	return rc < 0 ? rc : c->mrc;
}

/* Pacing. A claim brings every host due in this round (up to the room
 * left), and starting their jobs together makes their answers arrive
 * together: each then waits on the loop for the verification of those
 * before it, which is most of an attestation's latency when a fleet is
 * large. So the claimed hosts wait here, their leases held and their slots
 * of --concurrency taken, and start PACE_BATCH at a time, a gap apart of
 * PACE_BATCH times the loop's own CPU time per attestation, measured over
 * the last rounds (pace_measure). Started at the rate the loop can serve
 * them, a batch's answers come in about when the previous batch is done;
 * the first batch of a claim starts at once, and the gap never limits the
 * rate below what the loop could do. Why batches and not one at a time:
 * every start then costs the loop, the agent and the storage writer a
 * wakeup of its own (a group commit of one verdict), which measured nearly
 * doubled their CPU per attestation; four together cost what the unpaced
 * bursts did, and their answers wait for at most three others. */
#define PACE_MIN_NS   50000ull   /* 0.05 ms */
#define PACE_MAX_NS   5000000ull /* 5 ms */
#define PACE_FIRST_NS 500000ull  /* before anything was measured */
#define PACE_MIN_JOBS 20         /* jobs between two measures */
#define PACE_STALE_S  10         /* fewer jobs in that long: measure afresh */
#define PACE_BATCH    4          /* jobs started together, then a gap of as many */

struct pending_start {
	struct pending_start *next;
	struct store_host *h;
	int64_t claimed_at;
	struct timespec queued;
};

static uint64_t thread_cpu_ns(void)
{
	struct timespec t;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) < 0)
		return 0;
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* Once a round: the loop thread's CPU time per job started since the last
 * measure, folded into the gap. */
static void pace_measure(struct verifier *v, int64_t now)
{
	uint64_t cpu = thread_cpu_ns(), jobs = v->job_seq;
	if (v->pace_ns == 0)
		v->pace_ns = PACE_FIRST_NS;
	if (v->pace_cpu_ns == 0 || cpu < v->pace_cpu_ns || now - v->pace_at > PACE_STALE_S) {
		v->pace_cpu_ns = cpu;
		v->pace_jobs = jobs;
		v->pace_at = now;
		return;
	}
	if (jobs - v->pace_jobs < PACE_MIN_JOBS)
		return;
	uint64_t per = (cpu - v->pace_cpu_ns) / (jobs - v->pace_jobs);
	v->pace_ns = (3 * v->pace_ns + per) / 4;
	if (v->pace_ns < PACE_MIN_NS)
		v->pace_ns = PACE_MIN_NS;
	if (v->pace_ns > PACE_MAX_NS)
		v->pace_ns = PACE_MAX_NS;
	v->pace_cpu_ns = cpu;
	v->pace_jobs = jobs;
	v->pace_at = now;
}

static void pace_arm(struct verifier *v, uint64_t ns)
{
	if (v->pace == NULL || v->pend_head == NULL || event_pending(v->pace, EV_TIMEOUT, NULL))
		return;
	struct timeval tv = {.tv_sec = (time_t)(ns / 1000000000ull),
	                     .tv_usec = (suseconds_t)(ns % 1000000000ull / 1000)};
	event_add(v->pace, &tv);
}

static bool pending_has(const struct verifier *v, int64_t host_id)
{
	for (const struct pending_start *p = v->pend_head; p; p = p->next)
		if (p->h->id == host_id)
			return true;
	return false;
}

static struct pending_start *pending_pop(struct verifier *v)
{
	struct pending_start *p = v->pend_head;
	if (p == NULL)
		return NULL;
	v->pend_head = p->next;
	if (v->pend_head == NULL)
		v->pend_tail = NULL;
	v->pending--;
	return p;
}

static void pending_free(struct pending_start *p)
{
	store_host_free(p->h);
	free(p);
}

static void on_pace(evutil_socket_t fd, short what, void *arg)
{
	struct verifier *v = arg;
	unsigned n = 0;
	for (struct pending_start *p; n < PACE_BATCH && (p = pending_pop(v)) != NULL; n++) {
		/* Stopping: the leases run out (or are released at the next start). */
		if (!v->stopping && !scheduler_busy(v, p->h->id)) {
			job_start(v, p->h, p->claimed_at, &p->queued); /* the row moves to it */
			p->h = NULL;
		}
		pending_free(p);
	}
	if (v->stopping) {
		for (struct pending_start *p; (p = pending_pop(v)) != NULL;)
			pending_free(p);
		return;
	}
	pace_arm(v, v->pace_ns * n);
}

/* The claim committed (or not): queue a start for each host leased. */
static void claim_done(void *arg, int rc, const char *msg)
{
	struct claim *c = arg;
	struct verifier *v = c->v;
	v->claiming = false;
	/* A claim that filled its room may have left due hosts behind: each
	 * job end claims again (below, job_end) until a claim comes back short,
	 * so a busy fleet is limited by --concurrency over an attestation's
	 * time, not by one claim per round. */
	v->backlog = rc == 0 && c->hl && c->room > 0 && c->hl->n >= c->room;
	if (rc < 0)
		log_error("claiming hosts: %s", msg);
	appraise_markers(v, rc == 0 && c->mrc == 0 ? &c->markers : NULL);
	bool idle = v->pend_head == NULL;
	for (size_t i = 0; rc == 0 && !v->stopping && c->hl && i < c->hl->n; i++) {
		struct store_host *h = &c->hl->v[i];
		if (scheduler_busy(v, h->id))
			continue;
		struct pending_start *p = calloc(1, sizeof *p);
		struct store_host *own = malloc(sizeof *own);
		if (own == NULL) {
			/* The lease runs out and the host is claimed again. */
			free(p);
			continue;
		}
		/* The row moves to the queue (then to its job); the list frees
		 * what is left. */
		*own = *h;
		memset(h, 0, sizeof *h);
		if (p == NULL) {
			job_start(v, own, c->at, &c->queued); /* no room to wait: at once */
			continue;
		}
		p->h = own;
		p->claimed_at = c->at;
		p->queued = c->queued;
		if (v->pend_tail)
			v->pend_tail->next = p;
		else
			v->pend_head = p;
		v->pend_tail = p;
		v->pending++;
	}
	store_host_list_free(c->hl);
	free(c);
	/* The first at once when none was waiting; the others a gap apart. */
	pace_arm(v, idle ? 0 : v->pace_ns);
}

/* Evidence expiry and the purge of old nonces, on the writer thread. */
struct chores {
	struct verifier *v;
	int64_t expired;
};

static int chores_work(struct store *s, void *arg)
{
	struct chores *c = arg;
	int64_t now = verifier_now();
	int rc = store_expire_evidence(s, now, &c->expired);
	(void)store_nonce_purge(s, now - 3600, NULL);
	return rc;
}

static void chores_done(void *arg, int rc, const char *msg)
{
	struct chores *c = arg;
	c->v->housekeeping = false;
	if (rc < 0)
		log_error("expiring evidence: %s", msg);
	else if (c->expired > 0)
		log_info("evidence expired for %lld host(s)", (long long)c->expired);
	free(c);
}

static void schedule_round(struct verifier *v)
{
	if (v->stopping)
		return;
	int64_t now = verifier_now();
	v->last_round = now; /* /healthz: the scheduler runs */
	/* Renew the leases of long jobs before they run out. */
	for (struct job *j = v->jobs; j; j = j->next)
		(void)job_hold(j);
	if (now - v->last_expire >= EXPIRE_EVERY_S && !v->housekeeping) {
		struct chores *c = calloc(1, sizeof *c);
		if (c != NULL) {
			v->last_expire = now;
			v->housekeeping = true;
			c->v = v;
			verifier_store_later(v, chores_work, chores_done, c);
		}
	}
	pace_measure(v, now);
	if (v->in_flight + v->pending >= v->cfg.concurrency || v->claiming)
		return;
	size_t room = v->cfg.concurrency - v->in_flight - v->pending;
	if (room > STORE_CLAIM_MAX)
		room = STORE_CLAIM_MAX;
	/* A lease lasts --lease-seconds; jobs that run longer (enrollment, a
	 * re-enrollment after a restart, slow agents) renew it (job_hold). Only
	 * this claim starts jobs, so the room only grows until it is back. */
	struct claim *c = calloc(1, sizeof *c);
	if (c == NULL)
		return;
	c->v = v;
	c->room = room;
	clock_gettime(CLOCK_MONOTONIC, &c->queued);
	v->claiming = true;
	/* PostgreSQL: at once, in a transaction of its own beside the groups
	 * (the apart lane), so it waits neither for the commit window nor for
	 * the groups queued on the audit chain's head, this instance's or
	 * another's. SQLite: routine unless an API caller waits for an
	 * attestation, then its group commits at once (else the claim shares
	 * the commit window of the job ends that freed the room, instead of
	 * cutting it short). */
	verifier_store_apart(v, claim_work, claim_done, c, v->waiters || v->learns);
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
	v->pace = evtimer_new(v->base, on_pace, v);
	if (v->tick == NULL || v->kick == NULL || v->pace == NULL)
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
	return pending_has(v, host_id);
}

static void on_wait_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct waiter *w = arg;
	waiter_end(w->v, w, w->host_id, SCHEDULER_WAIT_TIMEOUT);
}

int scheduler_wait(struct verifier *v, int64_t host_id, scheduler_wait_fn fn, void *arg)
{
	struct waiter *w = calloc(1, sizeof *w);
	if (w == NULL)
		return ATTEST_E_NOMEM;
	w->v = v;
	w->host_id = host_id;
	w->after_seq = v->job_seq;
	w->fn = fn;
	w->arg = arg;
	w->timer = evtimer_new(v->base, on_wait_timeout, w);
	if (w->timer == NULL) {
		free(w);
		return ATTEST_E_NOMEM;
	}
	/* Long enough for a restart: two enrollments and two quotes. */
	uint64_t ms = (uint64_t)v->cfg.timeout_ms * 10 + 5000;
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
	                     .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(w->timer, &tv);
	w->next = v->waiters;
	v->waiters = w;
	return 0;
}

void scheduler_stop(struct verifier *v)
{
	if (v->tick)
		event_del(v->tick);
	if (v->pace)
		event_del(v->pace);
}

void scheduler_free(struct verifier *v)
{
	while (v->waiters)
		waiter_end(v, v->waiters, v->waiters->host_id, SCHEDULER_WAIT_CANCELLED);
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
	if (v->pace)
		event_free(v->pace);
	v->tick = v->kick = v->pace = NULL;
	for (struct pending_start *p; (p = pending_pop(v)) != NULL;)
		pending_free(p); /* their leases run out */
}
