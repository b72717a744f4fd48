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

#include <event2/event.h>
#include <openssl/rand.h>

#include "err.h"
#include "job.h"
#include "log.h"
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

/* The job is over: release the host with its next due time, answer the
 * waiters, start more work. */
void job_end(struct job *j, int64_t next_due, int64_t failures)
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
		log_warning("%s: lease not released (%s); the host waits for it to expire (%lld s)",
		            j->name, store_errmsg(v->store), (long long)v->cfg.lease_s);
	struct waiter *w = v->waiters;
	while (w) {
		struct waiter *nx = w->next;
		if (w->host_id == j->host_id && j->seq > w->after_seq) {
			waiter_end(v, w, j->host_id, SCHEDULER_WAIT_DONE);
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

/* Keep the lease on the job's host: renew it once less than half of it is
 * left. False once it is lost (expired, or another instance holds the
 * host): the job must then write nothing, since the host may be another
 * instance's now (the store refuses a stale owner's verdict as well). */
bool job_hold(struct job *j)
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
	log_warning("%s: lease lost (%s): abandoning this attestation, another instance may "
	            "have the host",
	            j->name, rc == ATTEST_E_STATE ? "expired" : store_errmsg(v->store));
	return false;
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
			log_info("evidence expired for %lld host(s)", (long long)n);
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
		log_error("claiming hosts: %s", store_errmsg(v->store));
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
	v->tick = v->kick = NULL;
}
