/* What the verifier's service modules and its API share without depending
 * on each other: the clock, the audit event log, stored JSON read back. */
#include <stdarg.h>
#include <stdio.h>
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
