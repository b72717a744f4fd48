/* The fleet watched as a whole (store.h): coverage in one aggregate read of
 * the hosts table, and the fleet alarms (alarms rows with host_id NULL and a
 * kind, schema 9) raised and cleared idempotently by any instance. */
#include "store_internal.h"
#include "store_notify.h"

#include "err.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const fleet_names[STORE_FLEET_ALARMS] = {"coverage", "dead_man"};

const char *store_fleet_alarm_name(enum store_fleet_alarm kind)
{
	return (unsigned)kind < STORE_FLEET_ALARMS ? fleet_names[kind] : NULL;
}

void store_coverage_free(struct store_coverage *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].instance);
	free(c->v);
	free(c);
}

/* One row per instance that wrote a last verdict. A read of every enabled
 * host, from the index that covers it (hosts_coverage, migration 17: a
 * verdict moves its entry toward the end of its range, so a group commit
 * rewrites a few pages of it), not from the rows, one
 * 4 KB page each; the caller runs it every few seconds, off the event loop
 * (coverage.c). */
#define COVERAGE_SELECT                                                                            \
	"SELECT last_instance, COUNT(*), "                                                         \
	"SUM(CASE WHEN last_attested IS NOT NULL AND last_attested + "                             \
	"(CASE WHEN 3 * interval_s > $2 THEN 3 * interval_s ELSE $2 END) > $1 "                    \
	"THEN 1 ELSE 0 END), MAX(last_attested) FROM hosts WHERE enabled = 1"

int store_coverage_read(struct store *s, int64_t now, int64_t validity_s,
                        struct store_coverage **ret)
{
	struct store_rows *rows = NULL;
	if (!s || !ret || validity_s <= 0)
		return ATTEST_E_ARG;
	int rc =
	    store_query(s,
	                COVERAGE_SELECT " GROUP BY last_instance ORDER BY COUNT(*) DESC, "
	                                "last_instance LIMIT $3",
	                PARAMS(V_INT(now), V_INT(validity_s), V_INT(STORE_COVERAGE_GROUPS_MAX + 1)),
	                STORE_COVERAGE_GROUPS_MAX + 1, &rows);
	if (rc)
		return rc;
	struct store_coverage *c = calloc(1, sizeof *c);
	size_t n =
	    rows->nrows > STORE_COVERAGE_GROUPS_MAX ? STORE_COVERAGE_GROUPS_MAX : rows->nrows;
	if (!c || (n && !(c->v = calloc(n, sizeof *c->v)))) {
		free(c);
		store_rows_free(rows);
		return ATTEST_E_NOMEM;
	}
	for (size_t r = 0; r < rows->nrows; r++) {
		int64_t en = store_cell_int(rows, r, 1), cov = store_cell_int(rows, r, 2),
		        newest = store_cell_int(rows, r, 3);
		if (r < n) {
			struct store_coverage_group *g = &c->v[c->n++];
			g->instance = store_cell_take(rows, r, 0, NULL);
			g->enabled = en;
			g->covered = cov;
			g->newest = newest;
		}
		c->enabled += en;
		c->covered += cov;
		if (newest > c->newest)
			c->newest = newest;
	}
	bool more = rows->nrows > STORE_COVERAGE_GROUPS_MAX;
	store_rows_free(rows);
	if (!more) {
		*ret = c;
		return 0;
	}
	/* More instances than are listed: the fleet's counts in one more read. */
	rows = NULL;
	rc = store_query(s, COVERAGE_SELECT, PARAMS(V_INT(now), V_INT(validity_s)), 1, &rows);
	if (rc == 0 && rows->nrows == 1) {
		c->enabled = store_cell_int(rows, 0, 1);
		c->covered = store_cell_int(rows, 0, 2);
		c->newest = store_cell_int(rows, 0, 3);
	}
	store_rows_free(rows);
	if (rc) {
		store_coverage_free(c);
		return rc;
	}
	*ret = c;
	return 0;
}

/* The reason codes of a raise, comma-separated, as a host alarm's summary. */
static int summary_of(const char *reasons_json, char *buf, size_t size)
{
	json_t *j = json_loads(reasons_json, 0, NULL), *r;
	size_t i, len = 0;
	buf[0] = 0;
	json_array_foreach(j, i, r)
	{
		const char *code = json_string_value(json_object_get(r, "code"));
		if (!code)
			continue;
		int k = snprintf(buf + len, size - len, "%s%s", len ? ", " : "", code);
		if (k < 0 || (size_t)k >= size - len) {
			buf[len] = 0;
			break;
		}
		len += (size_t)k;
	}
	json_decref(j);
	return len ? 0 : ATTEST_E_ARG;
}

/* The notification of a fleet alarm raised or cleared (kind "coverage",
 * store_notify.h), queued in the caller's transaction:
 * {"event": "alarm raised" | "alarm cleared", "alarm": KIND, "message",
 *  "reasons"}. No host: a fleet alarm is about all of them. */
static int enqueue_fleet_alarm(struct store *s, const char *name, bool open,
                               const char *reasons_json, const char *message, int64_t now)
{
	json_t *reasons = open && reasons_json ? json_loads(reasons_json, 0, NULL) : json_array();
	json_t *doc = json_pack("{s:s, s:s, s:s, s:o}", "event",
	                        open ? "alarm raised" : "alarm cleared", "alarm", name, "message",
	                        message, "reasons", reasons ? reasons : json_array());
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!text)
		return store_fail(s, ATTEST_E_NOMEM, "out of memory");
	int rc = store_outbox_enqueue(s, "coverage", text, now);
	free(text);
	return rc;
}

int store_fleet_alarm_set(struct store *s, enum store_fleet_alarm kind, bool open,
                          const char *reasons_json, const char *message, int64_t now,
                          bool *ret_changed)
{
	const char *name = store_fleet_alarm_name(kind);
	char summary[256], details[96];
	int64_t changed = 0;
	int rc;
	if (ret_changed)
		*ret_changed = false;
	if (!s || !name)
		return ATTEST_E_ARG;
	if ((rc = store_check_text(s, "message", message, STORE_TEXT_MAX, false)))
		return rc;
	if (open) {
		if ((rc = store_check_json(s, "reasons", reasons_json, JSON_ARRAY, false)))
			return rc;
		if (summary_of(reasons_json, summary, sizeof summary))
			return store_fail(s, ATTEST_E_ARG, "a fleet alarm needs a reason code");
	}
	if ((rc = store_tx_begin(s, true)))
		return rc;
	if (open) {
		/* The partial unique index alarms_one_fleet_open keeps one open
		 * alarm of each kind: an instance raising it second changes
		 * nothing. */
		struct store_rows *ins = NULL;
		rc = store_query(
		    s,
		    "INSERT INTO alarms (host_id, kind, raised_at, summary, reasons) "
		    "VALUES (NULL, $1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING id",
		    PARAMS(V_TEXT(name), V_INT(now), V_TEXT(summary), V_TEXT(reasons_json)), 1,
		    &ins);
		if (rc == 0)
			changed = (int64_t)ins->nrows;
		store_rows_free(ins);
	} else {
		rc = store_exec(
		    s,
		    "UPDATE alarms SET cleared_at = $2 WHERE host_id IS NULL AND kind = $1 "
		    "AND cleared_at IS NULL",
		    PARAMS(V_TEXT(name), V_INT(now)), &changed);
	}
	if (rc == 0 && changed > 0) {
		snprintf(details, sizeof details, "{\"fleet\":\"%s\",\"state\":\"%s\"}", name,
		         open ? "raised" : "cleared");
		rc = store_event_insert(s, 0, "alarm", "verifier", message, details, now, NULL);
		if (rc == 0)
			rc = enqueue_fleet_alarm(s, name, open, reasons_json, message, now);
	}
	if (rc) {
		store_tx_rollback(s);
		return rc;
	}
	if ((rc = store_tx_commit(s)))
		return rc;
	if (ret_changed)
		*ret_changed = changed > 0;
	return 0;
}

int store_fleet_alarms_open(struct store *s, unsigned *ret_mask)
{
	struct store_rows *rows = NULL;
	if (!s || !ret_mask)
		return ATTEST_E_ARG;
	int rc =
	    store_query(s, "SELECT kind FROM alarms WHERE host_id IS NULL AND cleared_at IS NULL",
	                NULL, 0, STORE_FLEET_ALARMS + 1, &rows);
	if (rc)
		return rc;
	unsigned mask = 0;
	for (size_t r = 0; r < rows->nrows; r++) {
		const char *k = (const char *)rows->cells[r * rows->ncols].p;
		for (unsigned i = 0; k && i < STORE_FLEET_ALARMS; i++)
			if (strcmp(k, fleet_names[i]) == 0)
				mask |= 1u << i;
	}
	store_rows_free(rows);
	*ret_mask = mask;
	return 0;
}
