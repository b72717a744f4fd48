/* The store: each host's last attestation evidence (schema migration 2;
 * its event log in evidence_logs since migration 12, written only when the
 * log changes: the evidence row's other columns are rewritten at every
 * attestation, and SQLite rewrites a row whole, overflow pages included).
 *
 * One row per host, replaced by every completed attestation: what the
 * dashboard's Security view shows (event log browser, PCR table, facts) and
 * what a dry-run "approve this host's configuration" learns from. Older
 * evidence is not kept: the results table holds the verdict history. */
#include "store_internal.h"

#include "err.h"

#include <stdlib.h>
#include <string.h>

void store_evidence_free(struct store_evidence *e)
{
	if (!e)
		return;
	free(e->eventlog);
	free(e->pcrs_json);
	free(e->metadata_json);
	free(e);
}

int store_evidence_put(struct store *s, const struct store_evidence *e)
{
	int64_t changed = 0;
	int rc;
	if (!e || e->host_id <= 0)
		return ATTEST_E_ARG;
	if ((rc = store_check_blob(s, "event log", e->eventlog, e->eventlog_len,
	                           STORE_EVIDENCE_LOG_MAX, true)) ||
	    (rc = store_check_json(s, "pcrs", e->pcrs_json, JSON_OBJECT, false)) ||
	    (rc = store_check_json(s, "metadata", e->metadata_json, JSON_OBJECT, true)))
		return rc;
	if ((rc = store_tx_begin(s, true)))
		return rc;
	/* A slower instance must not replace newer evidence with older; the
	 * log (schema migration 12: a table of its own) goes with its row. */
	rc = store_exec(s,
	                "INSERT INTO evidence (host_id, at, eventlog, pcrs, metadata, verified) "
	                "VALUES ($1, $2, NULL, $3, $4, $5) "
	                "ON CONFLICT (host_id) DO UPDATE SET at = excluded.at, "
	                "eventlog = NULL, pcrs = excluded.pcrs, "
	                "metadata = excluded.metadata, verified = excluded.verified "
	                "WHERE evidence.at <= excluded.at",
	                PARAMS(V_INT(e->host_id), V_INT(e->at), V_TEXT(e->pcrs_json),
	                       e->metadata_json ? V_TEXT(e->metadata_json) : V_NULL,
	                       V_INT(e->verified ? 1 : 0)),
	                &changed);
	if (rc == 0 && changed > 0 && e->eventlog)
		rc = store_exec(s,
		                "INSERT INTO evidence_logs (host_id, eventlog) VALUES ($1, $2) "
		                "ON CONFLICT (host_id) DO UPDATE SET eventlog = excluded.eventlog",
		                PARAMS(V_INT(e->host_id), V_BLOB(e->eventlog, e->eventlog_len)),
		                NULL);
	else if (rc == 0 && changed > 0)
		rc = store_exec(s, "DELETE FROM evidence_logs WHERE host_id = $1",
		                PARAMS(V_INT(e->host_id)), NULL);
	if (rc) {
		store_tx_rollback(s);
		return rc;
	}
	return store_tx_commit(s);
}

int store_evidence_touch(struct store *s, const struct store_evidence *e, int64_t prev_at)
{
	int64_t changed = 0;
	int rc;
	if (!e || e->host_id <= 0)
		return ATTEST_E_ARG;
	if ((rc = store_check_json(s, "pcrs", e->pcrs_json, JSON_OBJECT, false)) ||
	    (rc = store_check_json(s, "metadata", e->metadata_json, JSON_OBJECT, true)))
		return rc;
	rc = store_exec(s,
	                "UPDATE evidence SET at = $2, pcrs = $3, metadata = $4, verified = $5 "
	                "WHERE host_id = $1 AND at = $6 AND at <= $2",
	                PARAMS(V_INT(e->host_id), V_INT(e->at), V_TEXT(e->pcrs_json),
	                       e->metadata_json ? V_TEXT(e->metadata_json) : V_NULL,
	                       V_INT(e->verified ? 1 : 0), V_INT(prev_at)),
	                &changed);
	return rc ? rc : changed ? 0 : ATTEST_E_NOTFOUND;
}

static void decode_evidence(struct store_rows *rows, size_t r, void *item)
{
	struct store_evidence *e = item;
	e->host_id = store_cell_int(rows, r, 0);
	e->at = store_cell_int(rows, r, 1);
	e->eventlog = store_cell_take(rows, r, 2, &e->eventlog_len);
	e->pcrs_json = store_cell_take(rows, r, 3, NULL);
	e->metadata_json = store_cell_take(rows, r, 4, NULL);
	e->verified = store_cell_int(rows, r, 5) != 0;
}

int store_evidence_get(struct store *s, int64_t host_id, struct store_evidence **ret)
{
	void *v = NULL;
	int rc = store_query_one(s,
	                         "SELECT e.host_id, e.at, l.eventlog, e.pcrs, e.metadata, "
	                         "e.verified FROM evidence e LEFT JOIN evidence_logs l "
	                         "ON l.host_id = e.host_id WHERE e.host_id = $1",
	                         PARAMS(V_INT(host_id)), sizeof(**ret), decode_evidence, &v);
	if (rc)
		return rc;
	struct store_evidence *e = v;
	if (!e->pcrs_json) {
		store_evidence_free(e);
		return ATTEST_E_IO;
	}
	*ret = e;
	return 0;
}
