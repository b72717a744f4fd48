/* Notification targets and the outbox (store_notify.h). The SQL is shared
 * by SQLite and PostgreSQL like the rest of the store. */
#include "store_notify.h"
#include "store_internal.h"

#include "err.h"
#include "hex.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const notify_kinds[] = {"alarm", "trust", "host", "coverage", NULL};

bool store_notify_kind_ok(const char *kind)
{
	for (size_t i = 0; kind && notify_kinds[i]; i++)
		if (strcmp(kind, notify_kinds[i]) == 0)
			return true;
	return false;
}

bool store_notify_events_ok(const char *events)
{
	unsigned seen = 0;
	const char *p = events;
	if (!p || !*p)
		return false;
	for (;;) {
		size_t n = strcspn(p, ",");
		size_t i;
		for (i = 0; notify_kinds[i]; i++)
			if (strlen(notify_kinds[i]) == n && memcmp(p, notify_kinds[i], n) == 0)
				break;
		if (!notify_kinds[i] || (seen & (1u << i)))
			return false;
		seen |= 1u << i;
		if (p[n] == '\0')
			return true;
		p += n + 1;
	}
}

/* ------------------------------------------------------------------ */
/* Targets */

int store_notify_add(struct store *s, const struct store_notify_new *t, int64_t now,
                     int64_t *ret_id)
{
	int64_t id = 0, count = 0;
	int rc;
	if (!t)
		return ATTEST_E_ARG;
	const char *events = t->events ? t->events : "alarm,trust,host,coverage";
	int64_t attempts = t->max_attempts ? t->max_attempts : STORE_NOTIFY_ATTEMPTS_DEF;
	if ((rc = store_check_name(s, "target name", t->name)) ||
	    (rc = store_check_text(s, "url", t->url, STORE_TEXT_MAX, false)) ||
	    (rc = store_check_text(s, "thumbprint", t->thumbprint, STORE_TEXT_MAX, true)) ||
	    (rc = store_check_text(s, "CA certificates", t->ca_pem, STORE_NOTIFY_CA_MAX, true)) ||
	    (rc = store_check_blob(s, "secret", t->secret, t->secret_len, STORE_NOTIFY_SECRET_MAX,
	                           true)))
		return rc;
	if (!store_notify_events_ok(events))
		return store_fail(s, ATTEST_E_ARG,
		                  "events must be a list of alarm, trust, host, coverage");
	if (attempts < 1 || attempts > STORE_NOTIFY_ATTEMPTS_MAX)
		return store_fail(s, ATTEST_E_ARG, "attempts must be between 1 and 100");
	if ((rc = store_tx_begin(s, true)))
		return rc;
	rc = store_query_int(s, "SELECT COUNT(*) FROM notify_targets", NULL, 0, &count);
	if (rc == 0 && count >= STORE_NOTIFY_TARGETS_MAX)
		rc = store_fail(s, ATTEST_E_LIMIT, "too many notification targets");
	if (rc == 0)
		rc = store_query_int(
		    s,
		    "INSERT INTO notify_targets (name, url, events, secret, ca_pem, thumbprint, "
		    "max_attempts, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING "
		    "id",
		    PARAMS(V_TEXT(t->name), V_TEXT(t->url), V_TEXT(events),
		           t->secret ? V_BLOB(t->secret, t->secret_len) : V_NULL, V_TEXT(t->ca_pem),
		           V_TEXT(t->thumbprint), V_INT(attempts), V_INT(now)),
		    &id);
	if (rc) {
		store_tx_rollback(s);
		if (rc == ATTEST_E_EXISTS)
			store_fail(s, rc, "a notification target with that name already exists");
		return rc;
	}
	if ((rc = store_tx_commit(s)))
		return rc;
	if (ret_id)
		*ret_id = id;
	return 0;
}

#define TARGET_COLS                                                                                \
	"t.id, t.name, t.url, t.events, t.thumbprint, t.secret IS NOT NULL, t.ca_pem IS NOT "      \
	"NULL, "                                                                                   \
	"t.max_attempts, t.delivered, t.failed, t.created_at, t.last_error, t.last_error_at, "     \
	"t.last_delivered_at, "                                                                    \
	"(SELECT COUNT(*) FROM notify_outbox o WHERE o.target_id = t.id AND o.dead_at IS NULL), "  \
	"(SELECT COUNT(*) FROM notify_outbox o WHERE o.target_id = t.id AND o.dead_at IS NOT "     \
	"NULL)"

static void target_clear(void *item)
{
	struct store_notify_target *t = item;
	free(t->name);
	free(t->url);
	free(t->events);
	free(t->thumbprint);
	free(t->last_error);
	for (size_t i = 0; i < t->ndead; i++) {
		free(t->deadv[i].kind);
		free(t->deadv[i].idem_key);
		free(t->deadv[i].last_error);
	}
	free(t->deadv);
}

static void decode_target(struct store_rows *rows, size_t r, void *item)
{
	struct store_notify_target *t = item;
	t->id = store_cell_int(rows, r, 0);
	t->name = store_cell_take(rows, r, 1, NULL);
	t->url = store_cell_take(rows, r, 2, NULL);
	t->events = store_cell_take(rows, r, 3, NULL);
	t->thumbprint = store_cell_take(rows, r, 4, NULL);
	t->has_secret = store_cell_int(rows, r, 5) != 0;
	t->has_ca = store_cell_int(rows, r, 6) != 0;
	t->max_attempts = store_cell_int(rows, r, 7);
	t->delivered = store_cell_int(rows, r, 8);
	t->failed = store_cell_int(rows, r, 9);
	t->created_at = store_cell_int(rows, r, 10);
	t->last_error = store_cell_take(rows, r, 11, NULL);
	t->last_error_at = store_cell_int(rows, r, 12);
	t->last_delivered_at = store_cell_int(rows, r, 13);
	t->pending = store_cell_int(rows, r, 14);
	t->dead = store_cell_int(rows, r, 15);
}

void store_notify_target_free(struct store_notify_target *t)
{
	if (!t)
		return;
	target_clear(t);
	free(t);
}

void store_notify_list_free(struct store_notify_list *l)
{
	if (!l)
		return;
	store_items_free(l->v, l->n, sizeof(*l->v), target_clear);
	free(l);
}

int store_notify_list(struct store *s, struct store_notify_list **ret)
{
	struct store_notify_list *l = calloc(1, sizeof(*l));
	void *v = NULL;
	if (!l)
		return ATTEST_E_NOMEM;
	int rc = store_query_items(
	    s, "SELECT " TARGET_COLS " FROM notify_targets t ORDER BY t.name", NULL, 0,
	    STORE_NOTIFY_TARGETS_MAX, sizeof(*l->v), decode_target, &v, &l->n);
	if (rc) {
		free(l);
		return rc;
	}
	l->v = v;
	*ret = l;
	return 0;
}

static void decode_dead(struct store_rows *rows, size_t r, void *item)
{
	struct store_notify_dead *d = item;
	d->id = store_cell_int(rows, r, 0);
	d->kind = store_cell_take(rows, r, 1, NULL);
	d->idem_key = store_cell_take(rows, r, 2, NULL);
	d->last_error = store_cell_take(rows, r, 3, NULL);
	d->created_at = store_cell_int(rows, r, 4);
	d->dead_at = store_cell_int(rows, r, 5);
	d->attempts = store_cell_int(rows, r, 6);
}

int store_notify_get(struct store *s, const char *name, struct store_notify_target **ret)
{
	struct store_notify_target *t = NULL;
	void *v = NULL;
	size_t n = 0;
	int rc;
	if ((rc = store_check_name(s, "target name", name)))
		return rc;
	rc = store_query_one(s, "SELECT " TARGET_COLS " FROM notify_targets t WHERE t.name = $1",
	                     PARAMS(V_TEXT(name)), sizeof(*t), decode_target, (void **)&t);
	if (rc)
		return rc;
	rc = store_query_items(s,
	                       "SELECT id, kind, idem_key, last_error, created_at, dead_at, "
	                       "attempts FROM notify_outbox WHERE target_id = $1 AND dead_at IS "
	                       "NOT NULL ORDER BY dead_at DESC, id DESC LIMIT $2",
	                       PARAMS(V_INT(t->id), V_INT(STORE_NOTIFY_DEAD_SHOWN)),
	                       STORE_NOTIFY_DEAD_SHOWN, sizeof(struct store_notify_dead),
	                       decode_dead, &v, &n);
	if (rc) {
		store_notify_target_free(t);
		return rc;
	}
	t->deadv = v;
	t->ndead = n;
	*ret = t;
	return 0;
}

int store_notify_remove(struct store *s, const char *name)
{
	int64_t changed = 0;
	int rc;
	if ((rc = store_check_name(s, "target name", name)))
		return rc;
	rc = store_exec(s, "DELETE FROM notify_targets WHERE name = $1", PARAMS(V_TEXT(name)),
	                &changed);
	if (rc == 0 && changed == 0)
		rc = ATTEST_E_NOTFOUND;
	return rc;
}

/* ------------------------------------------------------------------ */
/* The outbox */

/* The body: doc's members plus idempotency_key, kind and at (malloc'd). */
static char *outbox_body(const char *kind, const char *doc, const char *key, int64_t now)
{
	json_t *j = json_loads(doc, JSON_REJECT_DUPLICATES, NULL);
	char *out = NULL;
	if (!json_is_object(j))
		goto done;
	if (json_object_set_new(j, "idempotency_key", json_string(key)) ||
	    json_object_set_new(j, "kind", json_string(kind)) ||
	    json_object_set_new(j, "at", json_integer((json_int_t)now)))
		goto done;
	out = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
done:
	json_decref(j);
	return out;
}

static int outbox_insert(struct store *s, const char *kind, const char *doc, const char *target,
                         int64_t now)
{
	uint8_t rnd[16];
	char key[2 * sizeof(rnd) + 1];
	int rc;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return ATTEST_E_CRYPTO;
	hex_encode(rnd, sizeof(rnd), key);
	char *body = outbox_body(strcmp(kind, "test") == 0 ? "test" : kind, doc, key, now);
	if (!body)
		return store_fail(s, ATTEST_E_ARG, "the event document is not a JSON object");
	if (strlen(body) > STORE_NOTIFY_DOC_MAX) {
		free(body);
		return store_fail(s, ATTEST_E_LIMIT, "the event document is too large");
	}
	/* One row per subscribed target: ",alarm,trust," LIKE "%,alarm,%". */
	if (target)
		rc =
		    store_exec(s,
		               "INSERT INTO notify_outbox (target_id, kind, idem_key, body, "
		               "created_at, next_at) SELECT id, 'test', $1, $2, $3, $3 "
		               "FROM notify_targets WHERE name = $4",
		               PARAMS(V_TEXT(key), V_TEXT(body), V_INT(now), V_TEXT(target)), NULL);
	else {
		char like[32];
		snprintf(like, sizeof(like), "%%,%s,%%", kind);
		rc = store_exec(
		    s,
		    "INSERT INTO notify_outbox (target_id, kind, idem_key, body, "
		    "created_at, next_at) SELECT id, $1, $2, $3, $4, $4 "
		    "FROM notify_targets WHERE ',' || events || ',' LIKE $5",
		    PARAMS(V_TEXT(kind), V_TEXT(key), V_TEXT(body), V_INT(now), V_TEXT(like)),
		    NULL);
	}
	free(body);
	return rc;
}

int store_outbox_enqueue(struct store *s, const char *kind, const char *json_doc, int64_t now)
{
	int64_t n = 0;
	int rc;
	if (!store_notify_kind_ok(kind))
		return store_fail(s, ATTEST_E_ARG, "unknown notification kind");
	if ((rc = store_check_text(s, "event document", json_doc, STORE_NOTIFY_DOC_MAX, false)))
		return rc;
	/* Most databases have no target: skip building the body then. */
	rc = store_query_int(s, "SELECT COUNT(*) FROM notify_targets", NULL, 0, &n);
	if (rc || n == 0)
		return rc;
	/* One INSERT ... SELECT: atomic alone, and part of the caller's
	 * transaction when there is one (no transaction of its own: the
	 * loop's connection cannot nest them outside a group commit). */
	return outbox_insert(s, kind, json_doc, NULL, now);
}

int store_outbox_enqueue_test(struct store *s, const char *target, const char *actor, int64_t now)
{
	int64_t id = 0;
	int rc;
	if ((rc = store_check_name(s, "target name", target)) ||
	    (rc = store_check_name(s, "actor", actor)))
		return rc;
	json_t *d = json_pack("{s:s,s:s}", "message", "test notification", "actor", actor);
	char *doc = d ? json_dumps(d, JSON_COMPACT) : NULL;
	json_decref(d);
	if (!doc)
		return ATTEST_E_NOMEM;
	if ((rc = store_tx_begin(s, true))) {
		free(doc);
		return rc;
	}
	rc = store_query_int(s, "SELECT id FROM notify_targets WHERE name = $1",
	                     PARAMS(V_TEXT(target)), &id);
	if (rc == 0)
		rc = outbox_insert(s, "test", doc, target, now);
	free(doc);
	if (rc) {
		store_tx_rollback(s);
		return rc;
	}
	return store_tx_commit(s);
}

void store_delivery_clear(struct store_delivery *d)
{
	free(d->kind);
	free(d->idem_key);
	free(d->body);
	free(d->target);
	free(d->url);
	free(d->ca_pem);
	free(d->thumbprint);
	if (d->secret)
		OPENSSL_cleanse(d->secret, d->secret_len);
	free(d->secret);
}

static void delivery_clear_item(void *item)
{
	store_delivery_clear(item);
}

void store_delivery_list_free(struct store_delivery_list *l)
{
	if (!l)
		return;
	store_items_free(l->v, l->n, sizeof(*l->v), delivery_clear_item);
	free(l);
}

static void decode_delivery(struct store_rows *rows, size_t r, void *item)
{
	struct store_delivery *d = item;
	d->id = store_cell_int(rows, r, 0);
	d->kind = store_cell_take(rows, r, 1, NULL);
	d->idem_key = store_cell_take(rows, r, 2, NULL);
	d->body = store_cell_take(rows, r, 3, NULL);
	d->attempts = store_cell_int(rows, r, 4);
	d->target_id = store_cell_int(rows, r, 5);
	d->target = store_cell_take(rows, r, 6, NULL);
	d->url = store_cell_take(rows, r, 7, NULL);
	d->secret = store_cell_take(rows, r, 8, &d->secret_len);
	d->ca_pem = store_cell_take(rows, r, 9, NULL);
	d->thumbprint = store_cell_take(rows, r, 10, NULL);
	d->max_attempts = store_cell_int(rows, r, 11);
}

int store_outbox_due(struct store *s, int64_t now, bool *ret)
{
	struct store_rows *rows = NULL;
	int rc = store_query(s,
	                     "SELECT id FROM notify_outbox WHERE dead_at IS NULL AND next_at <= $1 "
	                     "AND (lease_expires IS NULL OR lease_expires <= $1) LIMIT 1",
	                     PARAMS(V_INT(now)), 1, &rows);
	if (rc)
		return rc;
	*ret = rows->nrows > 0;
	store_rows_free(rows);
	return 0;
}

int store_outbox_claim(struct store *s, const char *owner, int64_t now, int64_t lease_s, size_t max,
                       struct store_delivery_list **ret)
{
	char sql[1024];
	struct store_delivery_list *l = NULL;
	struct store_rows *ids = NULL;
	int rc;
	if ((rc = store_check_name(s, "lease owner", owner)))
		return rc;
	if (lease_s <= 0 || max == 0 || max > STORE_CLAIM_MAX)
		return store_fail(s, ATTEST_E_ARG, "lease seconds and max must be positive");
	/* As store_claim_due_hosts: one UPDATE picks and leases the rows;
	 * PostgreSQL's SKIP LOCKED keeps concurrent claimers apart, SQLite's
	 * write transaction is exclusive. The ids it returns are then read
	 * back with their targets in the same transaction. */
	store_sql_join(sql, sizeof(sql),
	               "UPDATE notify_outbox SET lease_owner = $1, lease_expires = $2 "
	               "WHERE notify_outbox.id IN (SELECT id FROM notify_outbox "
	               "WHERE dead_at IS NULL AND next_at <= $3 "
	               "AND (lease_expires IS NULL OR lease_expires <= $3) ORDER BY id LIMIT $4",
	               s->drv->skip_locked, ") RETURNING id");
	if (!(l = calloc(1, sizeof(*l))))
		return ATTEST_E_NOMEM;
	if ((rc = store_tx_begin(s, true))) {
		free(l);
		return rc;
	}
	rc = store_query(
	    s, sql, PARAMS(V_TEXT(owner), V_INT(now + lease_s), V_INT(now), V_INT(max)), max, &ids);
	if (rc == 0 && ids->nrows > 0 && !(l->v = calloc(ids->nrows, sizeof(*l->v))))
		rc = ATTEST_E_NOMEM;
	for (size_t i = 0; rc == 0 && i < ids->nrows; i++) {
		struct store_rows *row = NULL;
		rc = store_query(
		    s,
		    "SELECT o.id, o.kind, o.idem_key, o.body, o.attempts, t.id, t.name, t.url, "
		    "t.secret, t.ca_pem, t.thumbprint, t.max_attempts FROM notify_outbox o "
		    "JOIN notify_targets t ON t.id = o.target_id WHERE o.id = $1",
		    PARAMS(V_INT(store_cell_int(ids, i, 0))), 1, &row);
		if (rc == 0 && row->nrows == 1)
			decode_delivery(row, 0, &l->v[l->n++]);
		store_rows_free(row);
	}
	store_rows_free(ids);
	if (rc) {
		store_tx_rollback(s);
		store_delivery_list_free(l);
		return rc;
	}
	if ((rc = store_tx_commit(s))) {
		store_delivery_list_free(l);
		return rc;
	}
	*ret = l;
	return 0;
}

static int64_t backoff(int64_t attempts)
{
	int64_t d = STORE_NOTIFY_BACKOFF_BASE;
	for (int64_t i = 1; i < attempts && d < STORE_NOTIFY_BACKOFF_MAX; i++)
		d *= 2;
	return d < STORE_NOTIFY_BACKOFF_MAX ? d : STORE_NOTIFY_BACKOFF_MAX;
}

int store_outbox_result(struct store *s, int64_t id, const char *owner, bool delivered,
                        bool permanent, const char *error, int64_t now, bool *ret_dead)
{
	struct store_rows *rows = NULL;
	char sql[256], err[STORE_TEXT_MAX / 4];
	bool dead = false;
	int rc;
	if ((rc = store_check_name(s, "lease owner", owner)))
		return rc;
	snprintf(err, sizeof(err), "%s", error ? error : "failed");
	if ((rc = store_tx_begin(s, true)))
		return rc;
	rc = store_query(
	    s,
	    store_sql_join(sql, sizeof(sql),
	                   "SELECT o.attempts, o.target_id, t.max_attempts, o.lease_owner "
	                   "FROM notify_outbox o JOIN notify_targets t ON t.id = o.target_id "
	                   "WHERE o.id = $1",
	                   s->drv->lock_suffix, NULL),
	    PARAMS(V_INT(id)), 1, &rows);
	if (rc)
		goto rollback;
	if (rows->nrows == 0) {
		rc = ATTEST_E_NOTFOUND; /* its target was removed meanwhile */
		goto rollback;
	}
	const char *held = (const char *)rows->cells[3].p;
	if (!held || strcmp(held, owner) != 0) {
		rc =
		    store_fail(s, ATTEST_E_STATE, "the delivery's lease is not held by this owner");
		goto rollback;
	}
	int64_t attempts = store_cell_int(rows, 0, 0) + 1, target = store_cell_int(rows, 0, 1);
	if (delivered) {
		rc = store_exec(s, "DELETE FROM notify_outbox WHERE id = $1", PARAMS(V_INT(id)),
		                NULL);
		if (rc == 0)
			rc = store_exec(s,
			                "UPDATE notify_targets SET delivered = delivered + 1, "
			                "last_delivered_at = $2 WHERE id = $1",
			                PARAMS(V_INT(target), V_INT(now)), NULL);
	} else {
		dead = permanent || attempts >= store_cell_int(rows, 0, 2);
		rc = store_exec(s,
		                "UPDATE notify_outbox SET attempts = $2, last_error = $3, "
		                "next_at = $4, dead_at = $5, lease_owner = NULL, "
		                "lease_expires = NULL WHERE id = $1",
		                PARAMS(V_INT(id), V_INT(attempts), V_TEXT(err),
		                       V_INT(now + backoff(attempts)), dead ? V_INT(now) : V_NULL),
		                NULL);
		if (rc == 0)
			rc = store_exec(s,
			                "UPDATE notify_targets SET failed = failed + 1, "
			                "last_error = $2, last_error_at = $3 WHERE id = $1",
			                PARAMS(V_INT(target), V_TEXT(err), V_INT(now)), NULL);
	}
	if (rc)
		goto rollback;
	store_rows_free(rows);
	if ((rc = store_tx_commit(s)))
		return rc;
	if (ret_dead)
		*ret_dead = dead;
	return 0;
rollback:
	store_rows_free(rows);
	store_tx_rollback(s);
	return rc;
}

int store_outbox_depth(struct store *s, int64_t *ret_pending, int64_t *ret_dead)
{
	int64_t p = 0, d = 0;
	int rc = store_query_int(s, "SELECT COUNT(*) FROM notify_outbox WHERE dead_at IS NULL",
	                         NULL, 0, &p);
	if (rc == 0)
		rc = store_query_int(
		    s, "SELECT COUNT(*) FROM notify_outbox WHERE dead_at IS NOT NULL", NULL, 0, &d);
	if (rc)
		return rc;
	*ret_pending = p;
	*ret_dead = d;
	return 0;
}

int store_outbox_host(struct store *s, const char *kind, int64_t host_id, const char *event,
                      const char *from, const char *to, const char *reasons_json, int64_t now)
{
	struct store_rows *rows = NULL;
	int64_t n = 0;
	int rc = store_query_int(s, "SELECT COUNT(*) FROM notify_targets", NULL, 0, &n);
	if (rc || n == 0)
		return rc;
	rc = store_query(s, "SELECT name, address, trust_state FROM hosts WHERE id = $1",
	                 PARAMS(V_INT(host_id)), 1, &rows);
	if (rc)
		return rc;
	if (rows->nrows == 0) {
		store_rows_free(rows);
		return ATTEST_E_NOTFOUND;
	}
	json_t *reasons = reasons_json ? json_loads(reasons_json, 0, NULL) : NULL;
	json_t *d = json_pack("{s:s,s:s,s:s,s:s,s:o}", "host", (const char *)rows->cells[0].p,
	                      "address", (const char *)rows->cells[1].p, "event", event, "trust",
	                      to ? to : (const char *)rows->cells[2].p, "reasons",
	                      reasons ? reasons : json_array());
	store_rows_free(rows);
	if (d && from)
		json_object_set_new(d, "from", json_string(from));
	char *doc = d ? json_dumps(d, JSON_COMPACT) : NULL;
	json_decref(d);
	if (!doc)
		return ATTEST_E_NOMEM;
	rc = store_outbox_enqueue(s, kind, doc, now);
	free(doc);
	return rc;
}

int store_outbox_release(struct store *s, const char *owner)
{
	int rc = store_check_name(s, "lease owner", owner);
	if (rc)
		return rc;
	return store_exec(s,
	                  "UPDATE notify_outbox SET lease_owner = NULL, lease_expires = NULL "
	                  "WHERE lease_owner = $1",
	                  PARAMS(V_TEXT(owner)), NULL);
}
