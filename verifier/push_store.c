/* The push channel's rows in the hosts table (docs/protocol.md, "Push
 * carrier"): which push host an agent's certificate is, and which verifier
 * instance holds its channel, and the holders' heartbeats (push_beats, one
 * row per instance). The claim query's side is STORE_PUSH_CLAIM
 * (store.h, used by store_claim_due_hosts). */
#include "store_internal.h"

#include "err.h"

int store_push_host_by_thumbprint(struct store *s, const char *tp, int64_t *ret_id,
                                  bool *ret_enabled)
{
	struct store_rows *rows = NULL;
	int rc = store_check_text(s, "thumbprint", tp, STORE_TEXT_MAX, false);
	if (rc)
		return rc;
	rc = store_query(s,
	                 "SELECT id, enabled FROM hosts WHERE thumbprint = $1 AND mode = 'push' "
	                 "ORDER BY id LIMIT 1",
	                 PARAMS(V_TEXT(tp)), 1, &rows);
	if (rc)
		return rc;
	if (rows->nrows == 0) {
		store_rows_free(rows);
		return ATTEST_E_NOTFOUND;
	}
	*ret_id = store_cell_int(rows, 0, 0);
	*ret_enabled = store_cell_int(rows, 0, 1) != 0;
	store_rows_free(rows);
	return 0;
}

int store_push_attach(struct store *s, int64_t host_id, const char *instance, int64_t now,
                      int64_t due)
{
	int rc = store_check_name(s, "instance", instance);
	if (rc)
		return rc;
	return store_exec(s,
	                  "UPDATE hosts SET push_instance = $2, push_seen = $3, failures = 0, "
	                  "next_due = CASE WHEN next_due > $4 THEN $4 ELSE next_due END "
	                  "WHERE id = $1 AND mode = 'push'",
	                  PARAMS(V_INT(host_id), V_TEXT(instance), V_INT(now), V_INT(due)), NULL);
}

int store_push_detach(struct store *s, int64_t host_id, const char *instance)
{
	int rc = store_check_name(s, "instance", instance);
	if (rc)
		return rc;
	return store_exec(s,
	                  "UPDATE hosts SET push_instance = NULL WHERE id = $1 AND "
	                  "push_instance = $2",
	                  PARAMS(V_INT(host_id), V_TEXT(instance)), NULL);
}

int store_push_heartbeat(struct store *s, const char *instance, int64_t now)
{
	int rc = store_check_name(s, "instance", instance);
	if (rc)
		return rc;
	/* One row per instance, not one write per held channel: at 10,000
	 * hosts the per-host refresh cost as many row writes as the verdicts. */
	return store_exec(s,
	                  "INSERT INTO push_beats (instance, seen) VALUES ($1, $2) "
	                  "ON CONFLICT (instance) DO UPDATE SET seen = excluded.seen",
	                  PARAMS(V_TEXT(instance), V_INT(now)), NULL);
}
