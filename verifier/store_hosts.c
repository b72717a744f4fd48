/* Store records about hosts: inventory, trust transitions with their alarms,
 * leases, AKs, nonces, result history, alarms. The SQL here is shared by
 * every backend (store_driver.h lists the rules it follows). */
#include "store_internal.h"
#include "store_notify.h"

#include "err.h"
#include "hex.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------ */
/* Host rows */

/* The columns decode_host() reads, in order. Qualified with the table name,
 * not an alias: SQLite's RETURNING clause does not see aliases. */
#define HOST_COLS                                                                                  \
	"hosts.id, hosts.name, hosts.address, hosts.thumbprint, hosts.policy_id, "                 \
	"(SELECT p.name FROM policies p WHERE p.id = hosts.policy_id), "                           \
	"hosts.enabled, hosts.conn_state, hosts.trust_state, hosts.reasons, "                      \
	"hosts.last_attested, hosts.last_seen, hosts.evidence_expires, hosts.tpm, "                \
	"hosts.ek_public, hosts.ek_certified, hosts.software, "                                    \
	"(SELECT a.name FROM aks a WHERE a.host_id = hosts.id AND a.retired_at IS NULL), "         \
	"hosts.reset_count, hosts.restart_count, hosts.boot_id, hosts.interval_s, "                \
	"hosts.next_due, hosts.failures, hosts.lease_owner, hosts.lease_expires, "                 \
	"hosts.created_at, hosts.updated_at, (CASE WHEN hosts.mode = 'push' THEN 1 ELSE 0 END), "  \
	"hosts.push_instance"

static void host_clear(void *item)
{
	struct store_host *h = item;
	free(h->name);
	free(h->address);
	free(h->thumbprint);
	free(h->policy_name);
	free(h->reasons_json);
	free(h->tpm_json);
	free(h->ek_public);
	free(h->software_json);
	free(h->ak_name);
	free(h->boot_id);
	free(h->lease_owner);
	free(h->push_instance);
}

void store_host_free(struct store_host *h)
{
	if (!h)
		return;
	host_clear(h);
	free(h);
}

void store_host_list_free(struct store_host_list *l)
{
	if (l)
		store_items_free(l->v, l->n, sizeof(*l->v), host_clear);
	free(l);
}

static void decode_host(struct store_rows *rows, size_t r, void *item)
{
	struct store_host *h = item;
	enum store_conn conn = STORE_CONN_DISCONNECTED;
	enum store_trust trust = STORE_TRUST_UNKNOWN;
	char *cs = store_cell_take(rows, r, 7, NULL), *ts = store_cell_take(rows, r, 8, NULL);
	/* The schema's CHECKs allow only known words; anything else reads as
	 * the safe default (disconnected, unknown: never green). */
	(void)store_conn_parse(cs, &conn);
	(void)store_trust_parse(ts, &trust);
	free(cs);
	free(ts);
	size_t ek_len;
	uint8_t *ek = store_cell_take(rows, r, 14, &ek_len);
	*h = (struct store_host){
	    .id = store_cell_int(rows, r, 0),
	    .name = store_cell_take(rows, r, 1, NULL),
	    .address = store_cell_take(rows, r, 2, NULL),
	    .thumbprint = store_cell_take(rows, r, 3, NULL),
	    .policy_id = store_cell_int(rows, r, 4),
	    .policy_name = store_cell_take(rows, r, 5, NULL),
	    .enabled = store_cell_int(rows, r, 6) != 0,
	    .connection = conn,
	    .trust = trust,
	    .reasons_json = store_cell_take(rows, r, 9, NULL),
	    .last_attested = store_cell_int(rows, r, 10),
	    .last_seen = store_cell_int(rows, r, 11),
	    .evidence_expires = store_cell_int(rows, r, 12),
	    .tpm_json = store_cell_take(rows, r, 13, NULL),
	    .ek_public = ek,
	    .ek_public_len = ek_len,
	    .ek_certified = store_cell_int(rows, r, 15) != 0,
	    .software_json = store_cell_take(rows, r, 16, NULL),
	    .ak_name = store_cell_take(rows, r, 17, NULL),
	    .reset_count = store_cell_count(rows, r, 18),
	    .restart_count = store_cell_count(rows, r, 19),
	    .boot_id = store_cell_take(rows, r, 20, NULL),
	    .interval_s = store_cell_int(rows, r, 21),
	    .next_due = store_cell_int(rows, r, 22),
	    .failures = store_cell_int(rows, r, 23),
	    .lease_owner = store_cell_take(rows, r, 24, NULL),
	    .lease_expires = store_cell_int(rows, r, 25),
	    .created_at = store_cell_int(rows, r, 26),
	    .updated_at = store_cell_int(rows, r, 27),
	    .push = store_cell_int(rows, r, 28) != 0,
	    .push_instance = store_cell_take(rows, r, 29, NULL),
	};
}

static int hosts_from_rows(struct store_rows *rows, struct store_host_list **ret)
{
	struct store_host_list *l = calloc(1, sizeof(*l));
	void *v = NULL;
	if (!l)
		return ATTEST_E_NOMEM;
	int rc = store_rows_decode(rows, sizeof(*l->v), decode_host, &v, &l->n);
	if (rc) {
		free(l);
		return rc;
	}
	l->v = v;
	*ret = l;
	return 0;
}

static int host_one(struct store *s, const char *sql, const struct store_value *p, size_t n,
                    struct store_host **ret)
{
	void *h = NULL;
	int rc = store_query_one(s, sql, p, n, sizeof(**ret), decode_host, &h);
	if (rc == 0)
		*ret = h;
	return rc;
}

/* ------------------------------------------------------------------ */
/* Inventory */

static int policy_exists(struct store *s, int64_t policy_id)
{
	int64_t one;
	if (policy_id == 0)
		return 0;
	return store_query_int(s, "SELECT 1 FROM policies WHERE id = $1", PARAMS(V_INT(policy_id)),
	                       &one);
}

int store_host_add(struct store *s, const struct store_host_new *h, int64_t now, int64_t *ret_id)
{
	int64_t id = 0;
	int rc;
	if (!h)
		return ATTEST_E_ARG;
	if ((rc = store_check_name(s, "host name", h->name)) ||
	    (rc = store_check_text(s, "address", h->address, STORE_TEXT_MAX, false)) ||
	    (rc = store_check_text(s, "thumbprint", h->thumbprint, STORE_TEXT_MAX, true)))
		return rc;
	if (h->interval_s <= 0 || h->policy_id < 0)
		return store_fail(s, ATTEST_E_ARG, "interval must be positive");
	if ((rc = store_tx_begin(s, true)))
		return rc;
	rc = policy_exists(s, h->policy_id);
	if (rc)
		goto rollback;
	rc = store_query_int(
	    s,
	    "INSERT INTO hosts (name, address, thumbprint, policy_id, interval_s, next_due, "
	    "created_at, updated_at, mode) VALUES ($1, $2, $3, $4, $5, $6, $6, $6, $7) "
	    "RETURNING id",
	    PARAMS(V_TEXT(h->name), V_TEXT(h->address), V_TEXT(h->thumbprint),
	           h->policy_id ? V_INT(h->policy_id) : V_NULL, V_INT(h->interval_s), V_INT(now),
	           V_TEXT(h->push ? "push" : "pull")),
	    &id);
	if (rc == 0)
		rc = store_outbox_host(s, "host", id, "host added", NULL, NULL, NULL, now);
	if (rc)
		goto rollback;
	if ((rc = store_tx_commit(s)))
		return rc;
	if (ret_id)
		*ret_id = id;
	return 0;
rollback:
	store_tx_rollback(s);
	if (rc == ATTEST_E_EXISTS)
		store_fail(s, rc, "a host with that name already exists");
	return rc;
}

/* The name in the first row of a one-column query, or ATTEST_E_NOTFOUND. */
static int first_name(struct store *s, const char *sql, const struct store_value *p, size_t n,
                      char **ret_name)
{
	struct store_rows *rows = NULL;
	int rc = store_query(s, sql, p, n, 1, &rows);
	if (rc)
		return rc;
	char *name = rows->nrows ? store_cell_take(rows, 0, 0, NULL) : NULL;
	store_rows_free(rows);
	if (!name)
		return ATTEST_E_NOTFOUND;
	*ret_name = name;
	return 0;
}

int store_host_with_thumbprint(struct store *s, const char *thumbprint, int64_t exclude_id,
                               char **ret_name)
{
	int rc = store_check_text(s, "thumbprint", thumbprint, STORE_TEXT_MAX, false);
	if (rc)
		return rc;
	return first_name(s,
	                  "SELECT name FROM hosts WHERE thumbprint = $1 AND id <> $2 "
	                  "ORDER BY id LIMIT 1",
	                  PARAMS(V_TEXT(thumbprint), V_INT(exclude_id)), ret_name);
}

int store_host_with_ek(struct store *s, const uint8_t *ek_public, size_t len, int64_t exclude_id,
                       char **ret_name)
{
	int rc = store_check_blob(s, "EK public area", ek_public, len, STORE_BLOB_MAX, false);
	if (rc)
		return rc;
	return first_name(s,
	                  "SELECT name FROM hosts WHERE ek_public = $1 AND id <> $2 "
	                  "ORDER BY id LIMIT 1",
	                  PARAMS(V_BLOB(ek_public, len), V_INT(exclude_id)), ret_name);
}

int store_host_get(struct store *s, int64_t id, struct store_host **ret)
{
	return host_one(s, "SELECT " HOST_COLS " FROM hosts WHERE hosts.id = $1", PARAMS(V_INT(id)),
	                ret);
}

int store_host_get_by_name(struct store *s, const char *name, struct store_host **ret)
{
	int rc = store_check_text(s, "host name", name, STORE_NAME_MAX, false);
	if (rc)
		return rc;
	return host_one(s, "SELECT " HOST_COLS " FROM hosts WHERE hosts.name = $1",
	                PARAMS(V_TEXT(name)), ret);
}

int store_host_list(struct store *s, const struct store_page *page, struct store_host_list **ret)
{
	int64_t limit, offset;
	struct store_rows *rows = NULL;
	int rc = store_check_page(s, page, &limit, &offset);
	if (rc)
		return rc;
	rc =
	    store_query(s, "SELECT " HOST_COLS " FROM hosts ORDER BY hosts.name LIMIT $1 OFFSET $2",
	                PARAMS(V_INT(limit), V_INT(offset)), (size_t)limit, &rows);
	if (rc)
		return rc;
	rc = hosts_from_rows(rows, ret);
	store_rows_free(rows);
	return rc;
}

int store_host_count(struct store *s, int64_t *ret)
{
	return store_query_int(s, "SELECT COUNT(*) FROM hosts", NULL, 0, ret);
}

/* ------------------------------------------------------------------ */
/* The fleet view's query */

static const char *const sort_names[] = {"name",          "trust",     "connection",
                                         "last_attested", "last_seen", "address"};

/* Severity ranks: the worst state sorts first. */
#define TRUST_RANK "CASE hosts.trust_state WHEN 'red' THEN 0 WHEN 'unknown' THEN 1 ELSE 2 END"
#define CONN_RANK                                                                                  \
	"CASE hosts.conn_state WHEN 'not_responding' THEN 0 WHEN 'disconnected' THEN 1 ELSE 2 END"

/* The sort keys of each order; the last is always the (unique) name. */
static const char *const sort_keys[][4] = {
    [STORE_SORT_NAME] = {"hosts.name", NULL},
    [STORE_SORT_TRUST] = {TRUST_RANK, CONN_RANK, "hosts.name", NULL},
    [STORE_SORT_CONNECTION] = {CONN_RANK, TRUST_RANK, "hosts.name", NULL},
    [STORE_SORT_LAST_ATTESTED] = {"COALESCE(hosts.last_attested, 0)", "hosts.name", NULL},
    [STORE_SORT_LAST_SEEN] = {"COALESCE(hosts.last_seen, 0)", "hosts.name", NULL},
    [STORE_SORT_ADDRESS] = {"hosts.address", "hosts.name", NULL},
};

const char *store_host_sort_name(enum store_host_sort sort)
{
	return (unsigned)sort < sizeof sort_names / sizeof sort_names[0] ? sort_names[sort]
	                                                                 : "name";
}

int store_host_sort_parse(const char *s, enum store_host_sort *ret)
{
	for (size_t i = 0; s && i < sizeof sort_names / sizeof sort_names[0]; i++) {
		if (strcmp(s, sort_names[i]) == 0) {
			*ret = (enum store_host_sort)i;
			return 0;
		}
	}
	return ATTEST_E_ARG;
}

/* The LIKE pattern for a substring: '%' + text with ASCII letters lowered
 * and \, %, _ escaped + '%'. NULL on bad text (message set in s). */
static char *like_pattern(struct store *s, const char *text, int *rc)
{
	size_t n = strlen(text);
	if (n > STORE_QUERY_TEXT_MAX) {
		*rc = store_fail(s, ATTEST_E_LIMIT, "search text is longer than 255 bytes");
		return NULL;
	}
	char *p = malloc(2 * n + 3), *o = p;
	if (!p) {
		*rc = ATTEST_E_NOMEM;
		return NULL;
	}
	*o++ = '%';
	for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
		if (*c < 0x20 || *c == 0x7f) {
			free(p);
			*rc =
			    store_fail(s, ATTEST_E_ARG, "search text contains a control character");
			return NULL;
		}
		if (*c == '\\' || *c == '%' || *c == '_')
			*o++ = '\\';
		*o++ = (char)(*c >= 'A' && *c <= 'Z' ? *c + ('a' - 'A') : *c);
	}
	*o++ = '%';
	*o = '\0';
	return p;
}

/* Append printf text to buf (size cap); false if it did not fit. */
static bool sql_add(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool sql_add(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *len)
		return false;
	*len += (size_t)n;
	return true;
}

#define QUERY_SQL_MAX 2048

int store_host_query(struct store *s, const struct store_host_query *q,
                     const struct store_page *page, struct store_host_list **ret,
                     int64_t *ret_total)
{
	static const struct store_host_query all = {.sort = STORE_SORT_NAME};
	int64_t limit, offset;
	int rc = store_check_page(s, page, &limit, &offset);
	if (rc)
		return rc;
	if (!q)
		q = &all;
	if ((unsigned)q->sort >= sizeof sort_keys / sizeof sort_keys[0])
		return store_fail(s, ATTEST_E_ARG, "unknown sort");
	if ((q->by_trust && (unsigned)q->trust > STORE_TRUST_RED) ||
	    (q->by_conn && (unsigned)q->conn > STORE_CONN_NOT_RESPONDING) || q->policy_id < 0)
		return store_fail(s, ATTEST_E_ARG, "unknown state");
	char *pattern = NULL;
	if (q->text && *q->text && !(pattern = like_pattern(s, q->text, &rc)))
		return rc;

	/* The WHERE clause names only the filters given (so an index on the
	 * state can serve it); values are bound, never written into the SQL. */
	struct store_value p[6];
	size_t np = 0, wl = 0, ol = 0;
	char where[512] = "", order[512] = "", sql[QUERY_SQL_MAX];
	bool ok = true;
	if (q->by_trust) {
		p[np++] = V_TEXT(store_trust_name(q->trust));
		ok = ok && sql_add(where, sizeof where, &wl, " AND hosts.trust_state = $%zu", np);
	}
	if (q->by_conn) {
		p[np++] = V_TEXT(store_conn_name(q->conn));
		ok = ok && sql_add(where, sizeof where, &wl, " AND hosts.conn_state = $%zu", np);
	}
	if (q->policy_id > 0) {
		p[np++] = V_INT(q->policy_id);
		ok = ok && sql_add(where, sizeof where, &wl,
		                   q->policy_default
		                       ? " AND (hosts.policy_id = $%zu OR hosts.policy_id IS NULL)"
		                       : " AND hosts.policy_id = $%zu",
		                   np);
	}
	if (pattern) {
		p[np++] = V_TEXT(pattern);
		ok = ok && sql_add(where, sizeof where, &wl,
		                   " AND (lower(hosts.name) LIKE $%zu ESCAPE '\\' OR "
		                   "lower(hosts.address) LIKE $%zu ESCAPE '\\')",
		                   np, np);
	}
	for (size_t i = 0; sort_keys[q->sort][i]; i++)
		ok = ok && sql_add(order, sizeof order, &ol, "%s%s%s", i ? ", " : "",
		                   sort_keys[q->sort][i], q->desc ? " DESC" : "");
	/* The page's ids first, then the full rows of those only: the
	 * per-row subqueries of HOST_COLS run for one page, not the fleet. */
	size_t sl = 0;
	ok = ok && sql_add(sql, sizeof sql, &sl,
	                   "SELECT " HOST_COLS " FROM hosts WHERE hosts.id IN (SELECT hosts.id "
	                   "FROM hosts WHERE 1 = 1%s ORDER BY %s LIMIT $%zu OFFSET $%zu) "
	                   "ORDER BY %s",
	                   where, order, np + 1, np + 2, order);
	if (!ok) {
		free(pattern);
		return store_fail(s, ATTEST_E_LIMIT, "host query too long");
	}
	struct store_rows *rows = NULL;
	int64_t total = 0;
	if ((rc = store_tx_begin(s, false))) {
		free(pattern);
		return rc;
	}
	if (ret_total) {
		char count[QUERY_SQL_MAX];
		snprintf(count, sizeof count, "SELECT COUNT(*) FROM hosts WHERE 1 = 1%s", where);
		rc = store_query_int(s, count, p, np, &total);
	}
	if (rc == 0) {
		p[np] = V_INT(limit);
		p[np + 1] = V_INT(offset);
		rc = store_query(s, sql, p, np + 2, (size_t)limit, &rows);
	}
	free(pattern);
	if (rc == 0)
		rc = store_tx_commit(s);
	else
		store_tx_rollback(s);
	if (rc == 0)
		rc = hosts_from_rows(rows, ret);
	store_rows_free(rows);
	if (rc == 0 && ret_total)
		*ret_total = total;
	return rc;
}

int store_host_tally(struct store *s, struct store_host_tally *ret)
{
	struct store_rows *rows = NULL;
	/* At most 3 x 3 groups. */
	int rc = store_query(s,
	                     "SELECT hosts.trust_state, hosts.conn_state, COUNT(*) FROM hosts "
	                     "GROUP BY hosts.trust_state, hosts.conn_state",
	                     NULL, 0, 9, &rows);
	if (rc)
		return rc;
	struct store_host_tally t;
	memset(&t, 0, sizeof t);
	for (size_t r = 0; r < rows->nrows; r++) {
		enum store_trust tr = STORE_TRUST_UNKNOWN;
		enum store_conn cn = STORE_CONN_DISCONNECTED;
		const struct store_cell *c = &rows->cells[r * rows->ncols];
		/* Unknown words count as the safe default, as decode_host() reads them. */
		(void)store_trust_parse(c[0].type == STORE_V_TEXT ? (const char *)c[0].p : "", &tr);
		(void)store_conn_parse(c[1].type == STORE_V_TEXT ? (const char *)c[1].p : "", &cn);
		int64_t n = store_cell_int(rows, r, 2);
		t.total += n;
		t.trust[tr] += n;
		t.conn[cn] += n;
		t.matrix[tr][cn] += n;
	}
	store_rows_free(rows);
	*ret = t;
	return 0;
}

/* Run an UPDATE/DELETE of one host: ATTEST_E_NOTFOUND if no row changed. */
static int one_row(struct store *s, const char *sql, const struct store_value *p, size_t n)
{
	int64_t changed = 0;
	int rc = store_exec(s, sql, p, n, &changed);
	if (rc == 0 && changed == 0)
		rc = ATTEST_E_NOTFOUND;
	return rc;
}

int store_host_remove(struct store *s, int64_t id)
{
	int rc = store_tx_begin(s, true);
	if (rc)
		return rc;
	/* The notification is queued before the row (and its name) goes. */
	rc = store_outbox_host(s, "host", id, "host removed", NULL, NULL, NULL, time(NULL));
	if (rc == 0)
		rc = one_row(s, "DELETE FROM hosts WHERE id = $1", PARAMS(V_INT(id)));
	if (rc) {
		store_tx_rollback(s);
		return rc;
	}
	return store_tx_commit(s);
}

int store_host_set_address(struct store *s, int64_t id, const char *address, int64_t now)
{
	int rc = store_check_text(s, "address", address, STORE_TEXT_MAX, false);
	if (rc)
		return rc;
	return one_row(s, "UPDATE hosts SET address = $2, updated_at = $3 WHERE id = $1",
	               PARAMS(V_INT(id), V_TEXT(address), V_INT(now)));
}

int store_host_set_thumbprint(struct store *s, int64_t id, const char *thumbprint, int64_t now)
{
	int rc = store_check_text(s, "thumbprint", thumbprint, STORE_TEXT_MAX, true);
	if (rc)
		return rc;
	return one_row(s, "UPDATE hosts SET thumbprint = $2, updated_at = $3 WHERE id = $1",
	               PARAMS(V_INT(id), V_TEXT(thumbprint), V_INT(now)));
}

int store_host_set_policy(struct store *s, int64_t id, int64_t policy_id, int64_t now)
{
	int rc;
	if (policy_id < 0)
		return ATTEST_E_ARG;
	if ((rc = store_tx_begin(s, true)))
		return rc;
	rc = policy_exists(s, policy_id);
	if (rc == 0)
		rc = one_row(s, "UPDATE hosts SET policy_id = $2, updated_at = $3 WHERE id = $1",
		             PARAMS(V_INT(id), policy_id ? V_INT(policy_id) : V_NULL, V_INT(now)));
	if (rc) {
		store_tx_rollback(s);
		return rc;
	}
	return store_tx_commit(s);
}

int store_host_set_enabled(struct store *s, int64_t id, bool enabled, int64_t now)
{
	return one_row(s, "UPDATE hosts SET enabled = $2, updated_at = $3 WHERE id = $1",
	               PARAMS(V_INT(id), V_INT(enabled ? 1 : 0), V_INT(now)));
}

int store_host_set_interval(struct store *s, int64_t id, int64_t interval_s, int64_t now)
{
	if (interval_s <= 0)
		return store_fail(s, ATTEST_E_ARG, "interval must be positive");
	return one_row(s, "UPDATE hosts SET interval_s = $2, updated_at = $3 WHERE id = $1",
	               PARAMS(V_INT(id), V_INT(interval_s), V_INT(now)));
}

int store_host_set_next_due(struct store *s, int64_t id, int64_t next_due, const char *wanted_by,
                            int64_t now)
{
	int rc;
	if (wanted_by == NULL)
		return one_row(s, "UPDATE hosts SET next_due = $2, updated_at = $3 WHERE id = $1",
		               PARAMS(V_INT(id), V_INT(next_due), V_INT(now)));
	if ((rc = store_check_name(s, "instance", wanted_by)))
		return rc;
	return one_row(
	    s, "UPDATE hosts SET next_due = $2, updated_at = $3, wanted_by = $4 WHERE id = $1",
	    PARAMS(V_INT(id), V_INT(next_due), V_INT(now), V_TEXT(wanted_by)));
}

int store_host_set_identity(struct store *s, int64_t id, const struct store_identity *ident,
                            int64_t now)
{
	int rc;
	if (!ident)
		return ATTEST_E_ARG;
	if ((rc = store_check_json(s, "TPM identity", ident->tpm_json, JSON_OBJECT, true)) ||
	    (rc = store_check_blob(s, "EK public area", ident->ek_public, ident->ek_public_len,
	                           STORE_BLOB_MAX, true)))
		return rc;
	return one_row(s,
	               "UPDATE hosts SET tpm = $2, ek_public = $3, ek_certified = $4, "
	               "updated_at = $5 WHERE id = $1",
	               PARAMS(V_INT(id), V_TEXT(ident->tpm_json),
	                      V_BLOB(ident->ek_public, ident->ek_public_len),
	                      V_INT(ident->ek_certified ? 1 : 0), V_INT(now)));
}

int store_host_set_boot(struct store *s, int64_t id, int64_t reset_count, int64_t restart_count,
                        const char *boot_id, int64_t now)
{
	int rc = store_check_text(s, "boot id", boot_id, STORE_NAME_MAX, true);
	if (rc)
		return rc;
	return one_row(s,
	               "UPDATE hosts SET reset_count = $2, restart_count = $3, boot_id = $4, "
	               "updated_at = $5 WHERE id = $1",
	               PARAMS(V_INT(id), V_COUNT(reset_count), V_COUNT(restart_count),
	                      V_TEXT(boot_id), V_INT(now)));
}

/* {"from": a, "to": b} as compact JSON (caller frees), or NULL. */
static char *from_to_json(const char *from, const char *to)
{
	json_t *j = json_pack("{s:s, s:s}", "from", from, "to", to);
	char *out = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	return out;
}

/* Lock the host row for the rest of the transaction (PostgreSQL; SQLite's
 * write transaction is already exclusive) and read one text column. */
static int lock_host_text(struct store *s, int64_t id, const char *col_sql, char **ret)
{
	char sql[256];
	struct store_rows *rows = NULL;
	int rc =
	    store_query(s, store_sql_join(sql, sizeof(sql), col_sql, s->drv->lock_suffix, NULL),
	                PARAMS(V_INT(id)), 1, &rows);
	if (rc)
		return rc;
	if (rows->nrows == 0)
		rc = ATTEST_E_NOTFOUND;
	else
		*ret = store_cell_take(rows, 0, 0, NULL);
	store_rows_free(rows);
	return rc;
}

/* The "connection" event of a change from prev (NULL: unknown) to name. */
static int conn_event(struct store *s, int64_t id, const char *prev, const char *name,
                      const char *actor, const char *message, int64_t now)
{
	char m[STORE_TEXT_MAX + 64];
	char *details = from_to_json(prev ? prev : "", name);
	snprintf(m, sizeof(m), "connection %s -> %s%s%s", prev ? prev : "?", name,
	         message ? ": " : "", message ? message : "");
	int rc = details ? store_event_insert(s, id, "connection", actor ? actor : "verifier", m,
	                                      details, now, NULL)
	                 : ATTEST_E_NOMEM;
	free(details);
	return rc;
}

int store_host_set_connection(struct store *s, int64_t id, enum store_conn c, const char *actor,
                              const char *message, int64_t now, bool *ret_changed)
{
	char *prev = NULL;
	const char *name = store_conn_name(c);
	int rc;
	if ((unsigned)c > STORE_CONN_NOT_RESPONDING)
		return ATTEST_E_ARG;
	if ((rc = store_check_name(s, "actor", actor ? actor : "verifier")) ||
	    (rc = store_check_text(s, "message", message, STORE_TEXT_MAX, true)))
		return rc;
	if ((rc = store_tx_begin(s, true)))
		return rc;
	rc = lock_host_text(s, id, "SELECT conn_state FROM hosts WHERE id = $1", &prev);
	if (rc)
		goto rollback;
	if (c == STORE_CONN_CONNECTED)
		rc = store_exec(s,
		                "UPDATE hosts SET conn_state = $2, last_seen = $3, updated_at = $3 "
		                "WHERE id = $1",
		                PARAMS(V_INT(id), V_TEXT(name), V_INT(now)), NULL);
	else
		rc =
		    store_exec(s, "UPDATE hosts SET conn_state = $2, updated_at = $3 WHERE id = $1",
		               PARAMS(V_INT(id), V_TEXT(name), V_INT(now)), NULL);
	if (rc)
		goto rollback;
	bool changed = !prev || strcmp(prev, name) != 0;
	if (changed && (rc = conn_event(s, id, prev, name, actor, message, now)))
		goto rollback;
	if (changed)
		store_durable(s);
	free(prev);
	if ((rc = store_tx_commit(s)))
		return rc;
	if (ret_changed)
		*ret_changed = changed;
	return 0;
rollback:
	free(prev);
	store_tx_rollback(s);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Trust transitions and alarms */

/* "CODE1, CODE2" from a reasons array (malloc'd), capped; a generic
 * sentence when no codes are present. */
static char *alarm_summary(const char *reasons_json)
{
	char buf[STORE_TEXT_MAX / 4];
	size_t len = 0;
	json_t *j = json_loads(reasons_json, 0, NULL);
	size_t i;
	json_t *r;
	buf[0] = 0;
	json_array_foreach(j, i, r)
	{
		const char *code = json_string_value(json_object_get(r, "code"));
		if (!code)
			continue;
		int n = snprintf(buf + len, sizeof(buf) - len, "%s%s", len ? ", " : "", code);
		if (n < 0 || (size_t)n >= sizeof(buf) - len) {
			buf[len] = 0; /* keep whole codes only */
			break;
		}
		len += (size_t)n;
	}
	json_decref(j);
	return strdup(len ? buf : "trust state entered red");
}

int store_host_set_trust(struct store *s, const struct store_verdict *v, const char *lease_owner,
                         const char *actor, int64_t now, struct store_transition *ret)
{
	struct store_transition t = {0};
	struct store_rows *rows = NULL;
	char *details = NULL, *summary = NULL;
	const char *reasons = v && v->reasons_json ? v->reasons_json : "[]";
	const char *who = actor ? actor : "verifier";
	char sql[512];
	int rc;

	if (!v || (unsigned)v->trust > STORE_TRUST_RED || v->duration_ms < 0)
		return ATTEST_E_ARG;
	if ((rc = store_check_json(s, "reasons", reasons, JSON_ARRAY, false)) ||
	    (rc = store_check_json(s, "software", v->software_json, JSON_OBJECT, true)) ||
	    (rc = store_check_name(s, "actor", who)) ||
	    (rc = store_check_text(s, "lease owner", lease_owner, STORE_NAME_MAX, true)))
		return rc;
	if (v->set_conn &&
	    ((unsigned)v->conn > STORE_CONN_NOT_RESPONDING ||
	     (rc = store_check_text(s, "message", v->conn_msg, STORE_TEXT_MAX, true))))
		return rc ? rc : ATTEST_E_ARG;
	if (v->release && !lease_owner)
		return store_fail(s, ATTEST_E_ARG, "a lease release needs its owner");
	const char *to = store_trust_name(v->trust);
	const char *conn = v->set_conn ? store_conn_name(v->conn) : NULL;

	if ((rc = store_tx_begin(s, true)))
		return rc;
	/* Read the previous state with the row locked, so the comparison and
	 * the writes below are one step for every instance. */
	rc = store_query(
	    s,
	    store_sql_join(sql, sizeof(sql),
	                   "SELECT trust_state, lease_owner, lease_expires, conn_state, results_n, "
	                   "last_instance, failures, enabled, name FROM hosts WHERE id = $1",
	                   s->drv->lock_suffix, NULL),
	    PARAMS(V_INT(v->host_id)), 1, &rows);
	if (rc)
		goto rollback;
	if (rows->nrows == 0) {
		rc = ATTEST_E_NOTFOUND;
		goto rollback;
	}
	(void)store_trust_parse((const char *)rows->cells[0].p, &t.previous);
	if (lease_owner) {
		const char *held = (const char *)rows->cells[1].p;
		if (!held || strcmp(held, lease_owner) != 0 || store_cell_int(rows, 0, 2) <= now) {
			rc = store_fail(s, ATTEST_E_STATE,
			                "the host's lease is not held by this owner");
			goto rollback;
		}
		/* An operator who disconnected the host while its attestation
		 * was in flight has the last word: the job's verdict (and the
		 * connection state it saw) would undo the disconnect. */
		if (store_cell_int(rows, 0, 7) == 0) {
			rc = store_fail(s, ATTEST_E_STATE,
			                "the host was disconnected while it was attested");
			goto rollback;
		}
	}
	t.changed = t.previous != v->trust;

	/* One UPDATE of the row for everything the verdict changes. */
	const char *prev_conn = (const char *)rows->cells[3].p;
	struct store_value pv[12];
	size_t np = 0, len = 0;
	char up[512];
	bool conn_changed = conn && (!prev_conn || strcmp(prev_conn, conn) != 0);
	pv[np++] = V_INT(v->host_id);
	pv[np++] = V_INT(now);
	pv[np++] = V_TEXT(reasons);
	(void)sql_add(up, sizeof up, &len, "UPDATE hosts SET updated_at = $2, reasons = $3");
	/* trust_state and conn_state only when they change: SQLite rewrites
	 * the entries of every index on a column the SET names, changed or
	 * not (hosts_trust_conn, hosts_conn: two page writes per verdict). */
	if (t.changed) {
		pv[np++] = V_TEXT(to);
		(void)sql_add(up, sizeof up, &len, ", trust_state = $%zu", np);
	}
	/* The history is a ring of STORE_RESULTS_PER_HOST slots (migration
	 * 16): results_n counts the results ever written, the next goes to
	 * slot results_n mod the ring's size, over the oldest once full. */
	int64_t results_n = store_cell_int(rows, 0, 4);
	if (results_n < 0)
		results_n = 0;
	if (v->attested) {
		pv[np++] = V_INT(results_n + 1);
		(void)sql_add(up, sizeof up, &len, ", last_attested = $2, results_n = $%zu", np);
		/* last_instance: who wrote the verdict, for per-instance coverage;
		 * named only when it changes, like failures below (hosts_share,
		 * migration 15, indexes both). */
		const char *prev_inst = (const char *)rows->cells[5].p;
		if ((prev_inst == NULL) != (lease_owner == NULL) ||
		    (prev_inst && strcmp(prev_inst, lease_owner) != 0)) {
			pv[np++] = V_TEXT(lease_owner);
			(void)sql_add(up, sizeof up, &len, ", last_instance = $%zu", np);
		}
	}
	if (v->evidence_expires) {
		pv[np++] = V_INT(v->evidence_expires);
		(void)sql_add(up, sizeof up, &len, ", evidence_expires = $%zu", np);
	}
	if (v->software_json) {
		pv[np++] = V_TEXT(v->software_json);
		(void)sql_add(up, sizeof up, &len, ", software = $%zu", np);
	}
	if (conn_changed) {
		pv[np++] = V_TEXT(conn);
		(void)sql_add(up, sizeof up, &len, ", conn_state = $%zu", np);
	}
	if (conn && v->conn == STORE_CONN_CONNECTED)
		(void)sql_add(up, sizeof up, &len, ", last_seen = $2");
	if (v->release) {
		pv[np++] = V_INT(v->next_due);
		(void)sql_add(up, sizeof up, &len,
		              ", lease_owner = NULL, lease_expires = NULL, next_due = $%zu", np);
		if (v->failures >= 0 && v->failures != store_cell_int(rows, 0, 6)) {
			pv[np++] = V_INT(v->failures);
			(void)sql_add(up, sizeof up, &len, ", failures = $%zu", np);
		}
	}
	(void)sql_add(up, sizeof up, &len, " WHERE id = $1");
	rc = store_exec(s, up, pv, np, NULL);
	if (rc)
		goto rollback;
	if (conn_changed &&
	    (rc = conn_event(s, v->host_id, prev_conn, conn, who, v->conn_msg, now)))
		goto rollback;
	if (v->attested) {
		/* One row write: a new row while the ring fills, then the oldest
		 * row rewritten in place (its slot, so its (host_id, slot) index
		 * entry, stays), where it took a DELETE of the oldest row and an
		 * INSERT, each with its index entry. seq orders the history. */
		rc = store_exec(
		    s,
		    "INSERT INTO results (host_id, at, trust_state, reasons, duration_ms, "
		    "started_ms, instance, slot, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
		    "ON CONFLICT (host_id, slot) DO UPDATE SET at = excluded.at, "
		    "trust_state = excluded.trust_state, reasons = excluded.reasons, "
		    "duration_ms = excluded.duration_ms, started_ms = excluded.started_ms, "
		    "instance = excluded.instance, seq = excluded.seq",
		    PARAMS(V_INT(v->host_id), V_INT(now), V_TEXT(to), V_TEXT(reasons),
		           V_INT(v->duration_ms), V_TIME(v->started_ms), V_TEXT(lease_owner),
		           V_INT(results_n % STORE_RESULTS_PER_HOST), V_INT(results_n + 1)),
		    NULL);
		if (rc)
			goto rollback;
	}
	/* The verdict's audit record, with what it was judged from. */
	rc = store_audit_verdict(s, v, (const char *)rows->cells[8].p, store_trust_name(t.previous),
	                         to, lease_owner, who, now);
	if (rc)
		goto rollback;

	if (t.changed) {
		char m[96];
		const char *from = store_trust_name(t.previous);
		snprintf(m, sizeof(m), "trust %s -> %s", from, to);
		details = from_to_json(from, to);
		rc = details
		         ? store_event_insert(s, v->host_id, "trust", who, m, details, now, NULL)
		         : ATTEST_E_NOMEM;
		if (rc == 0)
			rc = store_outbox_host(s, "trust", v->host_id, "trust changed", from, to,
			                       reasons, now);
		if (rc)
			goto rollback;
	}
	if (t.changed && v->trust == STORE_TRUST_RED) {
		/* Entering red: raise an alarm unless one is still open (the
		 * partial unique index alarms_one_open makes that a database
		 * guarantee, whatever the callers do). */
		struct store_rows *ins = NULL;
		summary = alarm_summary(reasons);
		if (!summary) {
			rc = ATTEST_E_NOMEM;
			goto rollback;
		}
		rc = store_query(
		    s,
		    "INSERT INTO alarms (host_id, raised_at, summary, reasons) "
		    "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING id",
		    PARAMS(V_INT(v->host_id), V_INT(now), V_TEXT(summary), V_TEXT(reasons)), 1,
		    &ins);
		if (rc)
			goto rollback;
		t.alarm_id = ins->nrows ? store_cell_int(ins, 0, 0) : 0;
		store_rows_free(ins);
		if (t.alarm_id) {
			char m[STORE_TEXT_MAX];
			snprintf(m, sizeof(m), "alarm raised: %s", summary);
			rc = store_event_insert(s, v->host_id, "alarm", who, m, NULL, now, NULL);
			if (rc == 0)
				rc = store_outbox_host(s, "alarm", v->host_id, "alarm raised", NULL,
				                       to, reasons, now);
			if (rc)
				goto rollback;
		}
	}
	/* A host green before this verdict has no open alarm: the verdict that
	 * made it green cleared it, and only entering red opens one. */
	if (v->trust == STORE_TRUST_GREEN && t.previous != STORE_TRUST_GREEN) {
		rc = store_exec(
		    s,
		    "UPDATE alarms SET cleared_at = $2 WHERE host_id = $1 AND cleared_at IS NULL",
		    PARAMS(V_INT(v->host_id), V_INT(now)), &t.cleared);
		if (rc)
			goto rollback;
		if (t.cleared) {
			rc = store_event_insert(s, v->host_id, "alarm", who,
			                        "alarm cleared: trust is green", NULL, now, NULL);
			if (rc == 0)
				rc = store_outbox_host(s, "alarm", v->host_id, "alarm cleared",
				                       NULL, to, NULL, now);
			if (rc)
				goto rollback;
		}
	}
	/* A transition survives power loss even with store_set_sync(s, false). */
	if (t.changed || t.cleared || conn_changed)
		store_durable(s);
	store_rows_free(rows);
	free(details);
	free(summary);
	if ((rc = store_tx_commit(s)))
		return rc;
	if (ret)
		*ret = t;
	return 0;
rollback:
	store_rows_free(rows);
	free(details);
	free(summary);
	store_tx_rollback(s);
	return rc;
}

/* The trust changes of store_expire_evidence, to the notification
 * outbox (nothing to do without a target). */
static int expire_notify(struct store *s, int64_t now, const char *reasons)
{
	struct store_rows *rows = NULL;
	int64_t targets = 0;
	int rc = store_query_int(s, "SELECT COUNT(*) FROM notify_targets", NULL, 0, &targets);
	if (rc || targets == 0)
		return rc;
	rc = store_query(
	    s, "SELECT id FROM hosts WHERE trust_state = 'green' AND evidence_expires <= $1",
	    PARAMS(V_INT(now)), SIZE_MAX, &rows);
	for (size_t i = 0; rc == 0 && i < rows->nrows; i++)
		rc = store_outbox_host(s, "trust", store_cell_int(rows, i, 0), "trust changed",
		                       "green", "unknown", reasons, now);
	store_rows_free(rows);
	return rc;
}

int store_expire_evidence(struct store *s, int64_t now, int64_t *ret_n)
{
	static const char reasons[] =
	    "[{\"code\":\"" STORE_REASON_EVIDENCE_EXPIRED "\","
	    "\"message\":\"no valid attestation within the evidence validity\"}]";
	char sql[256];
	int64_t n = 0;
	struct store_rows *ids = NULL;
	int rc = store_tx_begin(s, true);
	if (rc)
		return rc;
	/* Lock the rows first (PostgreSQL) so that an instance running this at
	 * the same time waits, then finds nothing left to change. */
	rc = store_query(s,
	                 store_sql_join(sql, sizeof(sql),
	                                "SELECT id FROM hosts WHERE trust_state = 'green' "
	                                "AND evidence_expires <= $1",
	                                s->drv->lock_suffix, NULL),
	                 PARAMS(V_INT(now)), SIZE_MAX, &ids);
	for (size_t i = 0; rc == 0 && i < ids->nrows; i++) /* the audit chain's records */
		rc = store_audit_append(s, "trust", "verifier", store_cell_int(ids, i, 0),
		                        "{\"from\":\"green\",\"message\":\"trust green -> unknown: "
		                        "evidence expired\",\"to\":\"unknown\"}",
		                        now);
	/* Nothing expired (nearly every run, every few seconds): the three
	 * statements below would each scan the green hosts again for nothing. */
	bool none = rc == 0 && ids->nrows == 0;
	store_rows_free(ids);
	if (none) {
		store_tx_rollback(s);
		if (ret_n)
			*ret_n = 0;
		return 0;
	}
	if (rc == 0)
		rc = expire_notify(s, now, reasons);
	if (rc == 0)
		rc = store_exec(
		    s,
		    "INSERT INTO events (at, host_id, host_name, kind, actor, message, details) "
		    "SELECT $1, id, name, 'trust', 'verifier', "
		    "'trust green -> unknown: evidence expired', "
		    "'{\"from\":\"green\",\"to\":\"unknown\"}' FROM hosts "
		    "WHERE trust_state = 'green' AND evidence_expires <= $1",
		    PARAMS(V_INT(now)), NULL);
	if (rc == 0)
		rc = store_exec(
		    s,
		    "UPDATE hosts SET trust_state = 'unknown', reasons = $2, updated_at = $1 "
		    "WHERE trust_state = 'green' AND evidence_expires <= $1",
		    PARAMS(V_INT(now), V_TEXT(reasons)), &n);
	if (rc == 0 && n > 0)
		store_durable(s);
	if (rc) {
		store_tx_rollback(s);
		return rc;
	}
	if ((rc = store_tx_commit(s)))
		return rc;
	if (ret_n)
		*ret_n = n;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Leases */

/* Lease affinity (docs/storage.md, "Leases"): an instance takes the due
 * hosts it attested last (hosts.last_instance), hosts nobody attested yet,
 * push hosts (their channel decides), hosts whose last attempt failed (maybe
 * another instance reaches the agent), and any host once it is
 * store_claim_grace() seconds past due: its instance is dead or behind. So
 * a kept-alive agent connection is reused by the next attestation instead of
 * a new handshake on whichever instance claimed first. A pulled host an
 * operator asked one instance to attest now (hosts.wanted_by) is that
 * instance's alone until a whole lease past due, failed or not: else another
 * instance could take it (and clear the mark) while the asking one's caller
 * waits. Not half a lease as for the others: when the instance attesting the
 * host at the moment of the ask releases it, the host falls due again at its
 * next interval, and the asking instance must claim it in that window; its
 * rounds come up to 1.5 s apart, and half a short lease can be 1 s.
 * $1 owner, $3 now, $6 the grace's end (now - grace), $7 a lease ago. */
#define CLAIM_AFFINITY                                                                             \
	"AND (mode = 'push' OR last_instance IS NULL OR last_instance = $1 OR failures > 0 "       \
	"OR wanted_by = $1 OR next_due <= $6) "                                                    \
	"AND (mode = 'push' OR wanted_by IS NULL OR wanted_by = $1 OR next_due <= $7) "
#define CLAIM_DUE                                                                                  \
	"UPDATE hosts SET lease_owner = $1, lease_expires = $2, wanted_by = NULL "                 \
	"WHERE hosts.id IN (SELECT id FROM hosts "                                                 \
	"WHERE enabled = 1 AND next_due <= $3 "                                                    \
	"AND (lease_owner IS NULL OR lease_expires <= $3) " STORE_PUSH_CLAIM

int64_t store_claim_grace(int64_t lease_seconds)
{
	return lease_seconds / 2 > 1 ? lease_seconds / 2 : 1;
}

/* How many hosts this instance may take from the busiest one before their
 * grace (a share below the fair one: it just started, or came back), read
 * at most every STORE_SHARE_EVERY seconds in one aggregate of the hosts that
 * were attested without failure. The fair share counts the instances that
 * wrote those hosts' last verdicts, and this one. Sets s->share_steal and
 * s->share_donor; 0 when balanced. */
static int claim_share(struct store *s, const char *owner, int64_t now)
{
	struct store_rows *rows = NULL;
	if (s->share_at != 0 && now >= s->share_at && now - s->share_at < STORE_SHARE_EVERY)
		return 0;
	int rc = store_query(s,
	                     "SELECT last_instance, COUNT(*) FROM hosts WHERE enabled = 1 "
	                     "AND failures = 0 AND last_instance IS NOT NULL "
	                     "GROUP BY last_instance ORDER BY COUNT(*) DESC, last_instance "
	                     "LIMIT 1000",
	                     NULL, 0, 1000, &rows);
	if (rc)
		return rc;
	int64_t total = 0, mine = 0, n = 1;
	for (size_t i = 0; i < rows->nrows; i++) {
		const char *who = (const char *)rows->cells[i * rows->ncols].p;
		int64_t c = store_cell_int(rows, i, 1);
		total += c;
		if (who && strcmp(who, owner) == 0)
			mine = c;
		else
			n++;
	}
	s->share_at = now;
	s->share_steal = 0;
	s->share_donor[0] = '\0';
	const char *top = rows->nrows ? (const char *)rows->cells[0].p : NULL;
	int64_t top_n = rows->nrows ? store_cell_int(rows, 0, 1) : 0;
	int64_t fair = (total + n - 1) / n;
	/* A slack of 1 in 50 (at least 1): no host moves back and forth for a
	 * share that is off by a few. */
	int64_t slack = fair / 50 > 1 ? fair / 50 : 1;
	if (top && strcmp(top, owner) != 0 && mine + slack < fair && top_n > fair) {
		s->share_steal = fair - mine < top_n - fair ? fair - mine : top_n - fair;
		snprintf(s->share_donor, sizeof s->share_donor, "%s", top);
	}
	store_rows_free(rows);
	return 0;
}

static int host_list_join(struct store_host_list *a, struct store_host_list *b)
{
	if (b->n == 0)
		return 0;
	struct store_host *v = realloc(a->v, (a->n + b->n) * sizeof(*v));
	if (!v)
		return ATTEST_E_NOMEM;
	memcpy(v + a->n, b->v, b->n * sizeof(*v));
	a->v = v;
	a->n += b->n;
	free(b->v); /* the items moved to a */
	b->v = NULL;
	b->n = 0;
	return 0;
}

int store_claim_due_hosts(struct store *s, const char *owner, int64_t now, int64_t lease_seconds,
                          size_t max, struct store_host_list **ret)
{
	/* One statement: pick the due, unleased hosts (earliest first) this
	 * instance has affinity with (CLAIM_AFFINITY) and lease them.
	 * PostgreSQL appends FOR UPDATE SKIP LOCKED to the inner SELECT so
	 * concurrent claimers skip each other's rows; SQLite's BEGIN
	 * IMMEDIATE makes the whole statement exclusive. A second one, only
	 * while this instance holds less than its share, takes some of the
	 * busiest instance's due hosts before their grace. */
	char sql[2048];
	struct store_rows *rows = NULL;
	struct store_host_list *l = NULL, *more = NULL;
	int rc;
	if ((rc = store_check_name(s, "lease owner", owner)))
		return rc;
	if (lease_seconds <= 0 || max == 0 || max > STORE_CLAIM_MAX)
		return store_fail(s, ATTEST_E_ARG, "lease seconds and max must be positive");
	int64_t stale = now - STORE_PUSH_STALE_LEASES * lease_seconds;
	int64_t grace_end = now - store_claim_grace(lease_seconds);
	if ((rc = store_tx_begin(s, true)))
		return rc;
	store_sql_join(sql, sizeof(sql), CLAIM_DUE CLAIM_AFFINITY "ORDER BY next_due, id LIMIT $4",
	               s->drv->skip_locked, ") RETURNING " HOST_COLS);
	rc = store_query(s, sql,
	                 PARAMS(V_TEXT(owner), V_INT(now + lease_seconds), V_INT(now), V_INT(max),
	                        V_INT(stale), V_INT(grace_end), V_INT(now - lease_seconds)),
	                 max, &rows);
	if (rc == 0) {
		rc = hosts_from_rows(rows, &l);
		store_rows_free(rows);
		rows = NULL;
	}
	if (rc == 0)
		rc = claim_share(s, owner, now);
	if (rc == 0 && s->share_steal > 0 && l->n < max) {
		int64_t take =
		    (int64_t)(max - l->n) < s->share_steal ? (int64_t)(max - l->n) : s->share_steal;
		store_sql_join(sql, sizeof(sql),
		               CLAIM_DUE
		               "AND last_instance = $6 AND failures = 0 AND wanted_by IS NULL "
		               "ORDER BY next_due, id LIMIT $4",
		               s->drv->skip_locked, ") RETURNING " HOST_COLS);
		rc = store_query(s, sql,
		                 PARAMS(V_TEXT(owner), V_INT(now + lease_seconds), V_INT(now),
		                        V_INT(take), V_INT(stale), V_TEXT(s->share_donor)),
		                 (size_t)take, &rows);
		if (rc == 0)
			rc = hosts_from_rows(rows, &more);
		store_rows_free(rows);
		if (rc == 0) {
			s->share_steal -= (int64_t)more->n;
			rc = host_list_join(l, more);
		}
		store_host_list_free(more);
	}
	if (rc) {
		store_tx_rollback(s);
		store_host_list_free(l);
		return rc;
	}
	if ((rc = store_tx_commit(s))) {
		store_host_list_free(l);
		return rc;
	}
	*ret = l;
	return 0;
}

/* After an UPDATE guarded by the lease matched nothing: NOTFOUND if the
 * host is gone, else STATE (the lease is not ours). */
static int lease_lost(struct store *s, int64_t host_id)
{
	int64_t one;
	int rc =
	    store_query_int(s, "SELECT 1 FROM hosts WHERE id = $1", PARAMS(V_INT(host_id)), &one);
	if (rc)
		return rc;
	return store_fail(s, ATTEST_E_STATE, "the host's lease is not held by this owner");
}

int store_lease_renew(struct store *s, int64_t host_id, const char *owner, int64_t now,
                      int64_t lease_seconds)
{
	int64_t changed = 0;
	int rc;
	if ((rc = store_check_name(s, "lease owner", owner)))
		return rc;
	if (lease_seconds <= 0)
		return ATTEST_E_ARG;
	rc = store_exec(
	    s,
	    "UPDATE hosts SET lease_expires = $3 "
	    "WHERE id = $1 AND lease_owner = $2 AND lease_expires > $4",
	    PARAMS(V_INT(host_id), V_TEXT(owner), V_INT(now + lease_seconds), V_INT(now)),
	    &changed);
	if (rc == 0 && changed == 0)
		rc = lease_lost(s, host_id);
	return rc;
}

int store_lease_release(struct store *s, int64_t host_id, const char *owner, int64_t next_due,
                        int64_t failures, int64_t now)
{
	int64_t changed = 0;
	int rc;
	if ((rc = store_check_name(s, "lease owner", owner)))
		return rc;
	rc = store_exec(
	    s,
	    "UPDATE hosts SET lease_owner = NULL, lease_expires = NULL, next_due = $3, "
	    "failures = COALESCE($4, failures), updated_at = $5 "
	    "WHERE id = $1 AND lease_owner = $2",
	    PARAMS(V_INT(host_id), V_TEXT(owner), V_INT(next_due), V_COUNT(failures), V_INT(now)),
	    &changed);
	if (rc == 0 && changed == 0)
		rc = lease_lost(s, host_id);
	return rc;
}

int store_lease_drop(struct store *s, int64_t host_id, int64_t now)
{
	return one_row(s,
	               "UPDATE hosts SET lease_owner = NULL, lease_expires = NULL, updated_at = $2 "
	               "WHERE id = $1",
	               PARAMS(V_INT(host_id), V_INT(now)));
}

/* ------------------------------------------------------------------ */
/* AKs */

void store_ak_free(struct store_ak *ak)
{
	if (!ak)
		return;
	free(ak->name_hex);
	free(ak->public_area);
	free(ak);
}

static int name_to_hex(struct store *s, const uint8_t *name, size_t len,
                       char out[static 2 * STORE_AK_NAME_MAX + 1])
{
	int rc = store_check_blob(s, "AK name", name, len, STORE_AK_NAME_MAX, false);
	if (rc)
		return rc;
	hex_encode(name, len, out);
	return 0;
}

int store_ak_enroll(struct store *s, int64_t host_id, const char *lease_owner, const uint8_t *name,
                    size_t name_len, const uint8_t *public_area, size_t public_len, int64_t now,
                    int64_t *ret_id)
{
	char hex[2 * STORE_AK_NAME_MAX + 1], m[2 * STORE_AK_NAME_MAX + 32];
	char *prev = NULL;
	int64_t id = 0;
	int rc;
	if ((rc = name_to_hex(s, name, name_len, hex)) ||
	    (rc = store_check_blob(s, "AK public area", public_area, public_len, STORE_BLOB_MAX,
	                           false)))
		return rc;
	if ((rc = store_tx_begin(s, true)))
		return rc;
	rc = lock_host_text(s, host_id, "SELECT name FROM hosts WHERE id = $1", &prev);
	free(prev);
	if (rc)
		goto rollback;
	/* An instance that lost the host (its lease expired, or a reconnect took
	 * it) enrolls nothing: the AK the host's holder enrolls stays current. */
	if (lease_owner) {
		int64_t held = 0;
		rc =
		    store_query_int(s,
		                    "SELECT COUNT(*) FROM hosts WHERE id = $1 AND lease_owner = $2 "
		                    "AND lease_expires > $3",
		                    PARAMS(V_INT(host_id), V_TEXT(lease_owner), V_INT(now)), &held);
		if (rc == 0 && held == 0)
			rc = store_fail(s, ATTEST_E_STATE,
			                "the host's lease is not held by this owner");
		if (rc)
			goto rollback;
	}
	rc = store_exec(s,
	                "UPDATE aks SET retired_at = $2 WHERE host_id = $1 AND retired_at IS NULL",
	                PARAMS(V_INT(host_id), V_INT(now)), NULL);
	if (rc)
		goto rollback;
	rc = store_query_int(
	    s,
	    "INSERT INTO aks (host_id, name, public_area, enrolled_at) "
	    "VALUES ($1, $2, $3, $4) RETURNING id",
	    PARAMS(V_INT(host_id), V_TEXT(hex), V_BLOB(public_area, public_len), V_INT(now)), &id);
	if (rc == ATTEST_E_EXISTS)
		store_fail(s, rc, "this AK was enrolled before; an AK is never accepted again");
	if (rc)
		goto rollback;
	snprintf(m, sizeof(m), "AK %s enrolled", hex);
	rc = store_event_insert(s, host_id, "ak", "verifier", m, NULL, now, NULL);
	if (rc)
		goto rollback;
	if ((rc = store_tx_commit(s)))
		return rc;
	if (ret_id)
		*ret_id = id;
	return 0;
rollback:
	store_tx_rollback(s);
	return rc;
}

static void decode_ak(struct store_rows *rows, size_t r, void *item)
{
	struct store_ak *ak = item;
	ak->id = store_cell_int(rows, r, 0);
	ak->host_id = store_cell_int(rows, r, 1);
	ak->name_hex = store_cell_take(rows, r, 2, NULL);
	ak->public_area = store_cell_take(rows, r, 3, &ak->public_len);
	ak->enrolled_at = store_cell_int(rows, r, 4);
	ak->retired_at = store_cell_int(rows, r, 5);
}

int store_ak_current(struct store *s, int64_t host_id, struct store_ak **ret)
{
	void *ak = NULL;
	int rc = store_query_one(s,
	                         "SELECT id, host_id, name, public_area, enrolled_at, retired_at "
	                         "FROM aks WHERE host_id = $1 AND retired_at IS NULL",
	                         PARAMS(V_INT(host_id)), sizeof(**ret), decode_ak, &ak);
	if (rc == 0)
		*ret = ak;
	return rc;
}

int store_ak_check(struct store *s, int64_t host_id, const uint8_t *name, size_t name_len)
{
	char hex[2 * STORE_AK_NAME_MAX + 1];
	struct store_rows *rows = NULL;
	int rc = name_to_hex(s, name, name_len, hex);
	if (rc)
		return rc;
	rc = store_query(s, "SELECT retired_at FROM aks WHERE host_id = $1 AND name = $2",
	                 PARAMS(V_INT(host_id), V_TEXT(hex)), 1, &rows);
	if (rc)
		return rc;
	if (rows->nrows == 0)
		rc = ATTEST_E_NOTFOUND;
	else if (!store_cell_is_null(rows, 0, 0))
		rc = store_fail(s, ATTEST_E_STATE, "this AK is retired and never accepted again");
	store_rows_free(rows);
	return rc;
}

int store_ak_retire_all(struct store *s, int64_t host_id, int64_t now, int64_t *ret_n)
{
	int64_t n = 0;
	store_durable(s); /* a restart: the AKs must stay retired */
	int rc = store_exec(
	    s, "UPDATE aks SET retired_at = $2 WHERE host_id = $1 AND retired_at IS NULL",
	    PARAMS(V_INT(host_id), V_INT(now)), &n);
	if (rc == 0 && ret_n)
		*ret_n = n;
	return rc;
}

/* ------------------------------------------------------------------ */
/* Nonces */

int store_nonce_add(struct store *s, int64_t host_id, const uint8_t *nonce, size_t len, int64_t now,
                    int64_t expires_at)
{
	int rc = store_check_blob(s, "nonce", nonce, len, STORE_NONCE_MAX, false);
	if (rc)
		return rc;
	if (expires_at <= now)
		return store_fail(s, ATTEST_E_ARG, "nonce must expire after now");
	rc = store_exec(s,
	                "INSERT INTO nonces (value, host_id, created_at, expires_at) "
	                "VALUES ($1, $2, $3, $4)",
	                PARAMS(V_BLOB(nonce, len), V_INT(host_id), V_INT(now), V_INT(expires_at)),
	                NULL);
	if (rc == ATTEST_E_STATE) /* foreign key: no such host */
		rc = ATTEST_E_NOTFOUND;
	return rc;
}

int store_nonce_consume(struct store *s, int64_t host_id, const uint8_t *nonce, size_t len,
                        int64_t now)
{
	int64_t changed = 0, one;
	int rc = store_check_blob(s, "nonce", nonce, len, STORE_NONCE_MAX, false);
	if (rc)
		return rc;
	/* The guarded UPDATE is the whole decision: of any number of
	 * concurrent consumers on any instance, exactly one changes the row. */
	rc = store_exec(s,
	                "UPDATE nonces SET used_at = $3 WHERE value = $1 AND host_id = $2 "
	                "AND used_at IS NULL AND expires_at > $3",
	                PARAMS(V_BLOB(nonce, len), V_INT(host_id), V_INT(now)), &changed);
	if (rc || changed == 1)
		return rc;
	rc = store_query_int(s, "SELECT 1 FROM nonces WHERE value = $1 AND host_id = $2",
	                     PARAMS(V_BLOB(nonce, len), V_INT(host_id)), &one);
	if (rc)
		return rc;
	return store_fail(s, ATTEST_E_STATE, "nonce already used or expired");
}

int store_nonce_used(struct store *s, int64_t host_id, const uint8_t *nonce, size_t len,
                     int64_t issued_at, int64_t expires_at, int64_t now)
{
	int rc = store_check_blob(s, "nonce", nonce, len, STORE_NONCE_MAX, false);
	if (rc)
		return rc;
	if (expires_at <= issued_at)
		return store_fail(s, ATTEST_E_ARG, "nonce must expire after its issue");
	/* One statement, so no transaction of its own: a refused row changes
	 * nothing, and inside a group commit on PostgreSQL (where an error
	 * aborts the transaction) store_exec gives a statement outside any
	 * store transaction a savepoint, so the rest of the group stays usable
	 * (two statements fewer per verdict than a savepoint of our own). */
	rc = store_exec(s,
	                "INSERT INTO nonces (value, host_id, created_at, expires_at, used_at) "
	                "VALUES ($1, $2, $3, $4, $5)",
	                PARAMS(V_BLOB(nonce, len), V_INT(host_id), V_INT(issued_at),
	                       V_INT(expires_at), V_INT(now)),
	                NULL);
	return rc == ATTEST_E_STATE ? ATTEST_E_NOTFOUND : rc; /* FK: no such host */
}

int store_nonce_purge(struct store *s, int64_t before, int64_t *ret_n)
{
	int64_t n = 0;
	int rc =
	    store_exec(s, "DELETE FROM nonces WHERE expires_at < $1", PARAMS(V_INT(before)), &n);
	if (rc == 0 && ret_n)
		*ret_n = n;
	return rc;
}

/* ------------------------------------------------------------------ */
/* Results */

static void result_clear(void *item)
{
	struct store_result *x = item;
	free(x->reasons_json);
	free(x->instance);
}

void store_result_list_free(struct store_result_list *l)
{
	if (l)
		store_items_free(l->v, l->n, sizeof(*l->v), result_clear);
	free(l);
}

static void decode_result(struct store_rows *rows, size_t r, void *item)
{
	struct store_result *x = item;
	x->id = store_cell_int(rows, r, 0);
	x->host_id = store_cell_int(rows, r, 1);
	x->at = store_cell_int(rows, r, 2);
	x->trust = STORE_TRUST_UNKNOWN;
	(void)store_trust_parse((const char *)rows->cells[r * rows->ncols + 3].p, &x->trust);
	x->reasons_json = store_cell_take(rows, r, 4, NULL);
	x->duration_ms = store_cell_int(rows, r, 5);
	x->started_ms = store_cell_int(rows, r, 6);
	x->instance = store_cell_take(rows, r, 7, NULL);
}

int store_result_list(struct store *s, int64_t host_id, const struct store_page *page,
                      struct store_result_list **ret)
{
	int64_t limit, offset;
	void *v = NULL;
	int rc = store_check_page(s, page, &limit, &offset);
	if (rc)
		return rc;
	struct store_result_list *l = calloc(1, sizeof(*l));
	if (!l)
		return ATTEST_E_NOMEM;
	rc = store_query_items(s,
	                       "SELECT id, host_id, at, trust_state, reasons, duration_ms, "
	                       "started_ms, instance FROM results "
	                       "WHERE host_id = $1 ORDER BY seq DESC LIMIT $2 OFFSET $3",
	                       PARAMS(V_INT(host_id), V_INT(limit), V_INT(offset)), (size_t)limit,
	                       sizeof(*l->v), decode_result, &v, &l->n);
	if (rc) {
		free(l);
		return rc;
	}
	l->v = v;
	*ret = l;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Alarms */

/* LEFT JOIN: a fleet alarm has no host (host_id NULL, schema 9). */
#define ALARM_COLS                                                                                 \
	"a.id, a.host_id, h.name, a.raised_at, a.summary, a.reasons, a.cleared_at, a.acked_at, "   \
	"a.acked_by, a.kind FROM alarms a LEFT JOIN hosts h ON h.id = a.host_id"

static void alarm_clear(void *item)
{
	struct store_alarm *a = item;
	free(a->host_name);
	free(a->summary);
	free(a->reasons_json);
	free(a->acked_by);
	free(a->kind);
}

void store_alarm_free(struct store_alarm *a)
{
	if (!a)
		return;
	alarm_clear(a);
	free(a);
}

void store_alarm_list_free(struct store_alarm_list *l)
{
	if (l)
		store_items_free(l->v, l->n, sizeof(*l->v), alarm_clear);
	free(l);
}

static void decode_alarm(struct store_rows *rows, size_t r, void *item)
{
	struct store_alarm *a = item;
	a->id = store_cell_int(rows, r, 0);
	a->host_id = store_cell_int(rows, r, 1);
	a->host_name = store_cell_take(rows, r, 2, NULL);
	a->raised_at = store_cell_int(rows, r, 3);
	a->summary = store_cell_take(rows, r, 4, NULL);
	a->reasons_json = store_cell_take(rows, r, 5, NULL);
	a->cleared_at = store_cell_int(rows, r, 6);
	a->acked_at = store_cell_int(rows, r, 7);
	a->acked_by = store_cell_take(rows, r, 8, NULL);
	a->kind = store_cell_take(rows, r, 9, NULL);
}

int store_alarm_list(struct store *s, const struct store_alarm_filter *filter,
                     const struct store_page *page, struct store_alarm_list **ret)
{
	struct store_alarm_filter f = filter ? *filter : (struct store_alarm_filter){0};
	int64_t limit, offset;
	void *v = NULL;
	int rc = store_check_page(s, page, &limit, &offset);
	if (rc)
		return rc;
	struct store_alarm_list *l = calloc(1, sizeof(*l));
	if (!l)
		return ATTEST_E_NOMEM;
	/* Each filter is "off" when its parameter is 0; the column comparison
	 * comes first so PostgreSQL infers the parameter as BIGINT. */
	rc = store_query_items(
	    s,
	    "SELECT " ALARM_COLS " WHERE (a.host_id = $1 OR $1 = 0) "
	    "AND ($2 = 0 OR a.cleared_at IS NULL) AND ($3 = 0 OR a.acked_at IS NULL) "
	    "ORDER BY a.id DESC LIMIT $4 OFFSET $5",
	    PARAMS(V_INT(f.host_id), V_INT(f.open_only), V_INT(f.unacked_only), V_INT(limit),
	           V_INT(offset)),
	    (size_t)limit, sizeof(*l->v), decode_alarm, &v, &l->n);
	if (rc) {
		free(l);
		return rc;
	}
	l->v = v;
	*ret = l;
	return 0;
}

int store_alarm_get(struct store *s, int64_t id, struct store_alarm **ret)
{
	void *a = NULL;
	int rc = store_query_one(s, "SELECT " ALARM_COLS " WHERE a.id = $1", PARAMS(V_INT(id)),
	                         sizeof(**ret), decode_alarm, &a);
	if (rc == 0)
		*ret = a;
	return rc;
}

int store_alarm_ack(struct store *s, int64_t id, const char *by, int64_t now)
{
	char sql[256], m[STORE_NAME_MAX + 64];
	struct store_rows *rows = NULL;
	int rc;
	if ((rc = store_check_name(s, "acknowledged by", by)))
		return rc;
	if ((rc = store_tx_begin(s, true)))
		return rc;
	rc = store_query(s,
	                 store_sql_join(sql, sizeof(sql),
	                                "SELECT host_id, acked_at FROM alarms WHERE id = $1",
	                                s->drv->lock_suffix, NULL),
	                 PARAMS(V_INT(id)), 1, &rows);
	if (rc)
		goto rollback;
	if (rows->nrows == 0) {
		rc = ATTEST_E_NOTFOUND;
		goto rollback;
	}
	if (!store_cell_is_null(rows, 0, 1)) {
		rc = store_fail(s, ATTEST_E_STATE, "alarm already acknowledged");
		goto rollback;
	}
	rc = store_exec(s, "UPDATE alarms SET acked_at = $2, acked_by = $3 WHERE id = $1",
	                PARAMS(V_INT(id), V_INT(now), V_TEXT(by)), NULL);
	if (rc)
		goto rollback;
	snprintf(m, sizeof(m), "alarm %lld acknowledged by %s", (long long)id, by);
	rc = store_event_insert(s, store_cell_int(rows, 0, 0), "alarm", by, m, NULL, now, NULL);
	if (rc)
		goto rollback;
	store_rows_free(rows);
	return store_tx_commit(s);
rollback:
	store_rows_free(rows);
	store_tx_rollback(s);
	return rc;
}
