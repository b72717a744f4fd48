/* What the verifier's service modules and its API share without depending
 * on each other: the clock, the audit event log, stored JSON read back. */
#include <stdarg.h>
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>

#include "err.h"
#include "log.h"
#include "verifier.h"

int64_t verifier_now(void)
{
	return (int64_t)time(NULL);
}

void verifier_vevent(struct verifier *v, int64_t host_id, const char *kind, const char *actor,
                     const char *fmt, va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof msg, fmt, ap);
	struct store_event_new e = {
	    .host_id = host_id, .kind = kind, .actor = actor, .message = msg};
	/* The action itself is done; say so when its event (and audit record)
	 * could not be written, e.g. the database was busy past the lock wait. */
	if (store_event_add(v->store, &e, verifier_now(), NULL) < 0)
		log_error("event not recorded (history and audit chain): %s: %s: %s", kind, msg,
		          store_errmsg(v->store));
}

void verifier_event(struct verifier *v, int64_t host_id, const char *kind, const char *actor,
                    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verifier_vevent(v, host_id, kind, actor, fmt, ap);
	va_end(ap);
}

json_t *verifier_json_stored(const char *text)
{
	if (text == NULL)
		return json_null();
	json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
	return j ? j : json_null();
}

void verifier_store_later(struct verifier *v, store_work_fn *work, store_done_fn *done, void *arg)
{
	int rc = v->writer ? store_writer_submit(v->writer, work, done, arg) : ATTEST_E_STATE;
	if (rc < 0 && done)
		done(arg, rc,
		     rc == ATTEST_E_NOMEM ? "out of memory" : "the storage writer is stopped");
}

void verifier_store_routine(struct verifier *v, store_work_fn *work, store_done_fn *done, void *arg,
                            size_t bytes)
{
	int rc = v->writer ? store_writer_submit_window(v->writer, work, done, arg, bytes)
	                   : ATTEST_E_STATE;
	if (rc < 0 && done)
		done(arg, rc,
		     rc == ATTEST_E_NOMEM ? "out of memory" : "the storage writer is stopped");
}

void verifier_store_apart(struct verifier *v, store_work_fn *work, store_done_fn *done, void *arg,
                          bool urgent)
{
	if (v->writer == NULL || !store_writer_has_apart(v->writer)) {
		if (urgent)
			verifier_store_later(v, work, done, arg);
		else
			verifier_store_routine(v, work, done, arg, 0);
		return;
	}
	int rc = store_writer_submit_apart(v->writer, work, done, arg);
	if (rc < 0 && done)
		done(arg, rc,
		     rc == ATTEST_E_NOMEM ? "out of memory" : "the storage writer is stopped");
}

/* Pulled agents' connections are kept from one attestation to the next
 * (docs/transport.md): one descriptor per host, so the soft open-files
 * limit (1024 under most service managers) is raised toward the hard one,
 * and the pool stays below what is left after the API's share. */
unsigned verifier_agent_pool_max(void)
{
	const rlim_t reserve = 1024; /* the API, the database, push channels' room */
	const rlim_t want = VERIFIER_AGENT_IDLE_MAX + reserve;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	if (rl.rlim_cur < want) {
		rlim_t before = rl.rlim_cur;
		rl.rlim_cur =
		    rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
		if (rl.rlim_cur <= before || setrlimit(RLIMIT_NOFILE, &rl) != 0)
			rl.rlim_cur = before;
	}
	if (rl.rlim_cur <= 2 * reserve)
		return (unsigned)(rl.rlim_cur / 2);
	rlim_t n = rl.rlim_cur - reserve;
	return n > VERIFIER_AGENT_IDLE_MAX ? VERIFIER_AGENT_IDLE_MAX : (unsigned)n;
}

unsigned verifier_agent_idle_ms(const struct verifier_config *cfg)
{
	if (cfg->agent_keepalive_s == 0)
		return 5000;
	if (cfg->agent_keepalive_s > 0)
		return (unsigned)cfg->agent_keepalive_s * 1000u;
	/* Longer than the longest jittered interval (+10 %), with room for a
	 * verifier that falls behind (under load, 1.1 x + 5 s lost a third of
	 * the connections); the agent's own Keep-Alive timeout caps it. */
	int64_t ms = cfg->interval_s * 1500 + 10000;
	if (ms < 5000)
		ms = 5000;
	if (ms > 600000)
		ms = 600000;
	return (unsigned)ms;
}
