/* The store: the audit chain (schema migration 8; store.h; lib/audit.h).
 *
 * An append reads the head row with it locked (SELECT ... FOR UPDATE on
 * PostgreSQL; SQLite's write transaction is exclusive already), computes
 * the record's hash in C (lib/audit.c), inserts the record and moves the
 * head: three statements in the caller's transaction. Inside a group
 * commit (store_writer.c) the head is read once per group and moved in
 * memory (struct store_head), its row written once before the commit: one
 * INSERT per record; a savepoint rolled back puts the head it had back
 * (store.c). Two verifiers
 * appending at once take turns on the head row, so seqs never repeat and
 * every record links to the one committed before it; a transaction or
 * savepoint rolled back takes its records and its head move with it. */
#include "store_internal.h"

#include "audit.h"
#include "err.h"
#include "hex.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char zero_hash_hex[] =
    "0000000000000000000000000000000000000000000000000000000000000000";

/* Lock the head (created by the first append), and read the name of host
 * host_id in the same statement. *ret_name: NULL when no host. */
static int head_lock(struct store *s, int64_t host_id, int64_t *ret_seq,
                     uint8_t prev[static AUDIT_HASH_SIZE], char **ret_name)
{
	char sql[256];
	store_sql_join(sql, sizeof sql,
	               "SELECT seq, hash, (SELECT name FROM hosts WHERE id = $1) FROM audit_head "
	               "WHERE id = 1",
	               s->drv->lock_suffix, NULL);
	for (int tries = 0; tries < 2; tries++) {
		struct store_rows *rows = NULL;
		int rc = store_query(s, sql, PARAMS(V_INT(host_id)), 1, &rows);
		if (rc)
			return rc;
		if (rows->nrows == 1) {
			size_t n = 0;
			const char *h = (const char *)rows->cells[1].p;
			if (h == NULL || hex_decode(h, prev, AUDIT_HASH_SIZE, &n) < 0 ||
			    n != AUDIT_HASH_SIZE) {
				store_rows_free(rows);
				return store_fail(s, ATTEST_E_FORMAT,
				                  "the audit chain's head row holds no valid hash");
			}
			*ret_seq = store_cell_int(rows, 0, 0);
			*ret_name = store_cell_take(rows, 0, 2, NULL);
			store_rows_free(rows);
			return 0;
		}
		store_rows_free(rows);
		/* The first record: create the head (a racing instance's insert
		 * waits for ours, then does nothing; the select sees its row). */
		rc = store_exec(s,
		                "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, $1) "
		                "ON CONFLICT DO NOTHING",
		                PARAMS(V_TEXT(zero_hash_hex)), NULL);
		if (rc)
			return rc;
	}
	return store_fail(s, ATTEST_E_IO, "the audit chain's head row cannot be created");
}

/* The head for an append: in a group commit the copy it holds (read with
 * the row locked at its first use, or by store_batch_begin), else read and
 * locked now. *ret_name: host host_id's name (NULL: no such host), read
 * here unless the caller knows it (host_name). */
static int head_get(struct store *s, int64_t host_id, const char *host_name, int64_t *ret_seq,
                    uint8_t prev[static AUDIT_HASH_SIZE], char **ret_name)
{
	*ret_name = NULL;
	if (s->batch && s->head.known) {
		*ret_seq = s->head.seq;
		memcpy(prev, s->head.hash, AUDIT_HASH_SIZE);
		if (host_name) {
			*ret_name = strdup(host_name);
			return *ret_name ? 0 : ATTEST_E_NOMEM;
		}
		if (host_id == 0)
			return 0;
		struct store_rows *rows = NULL;
		int rc = store_query(s, "SELECT name FROM hosts WHERE id = $1",
		                     PARAMS(V_INT(host_id)), 1, &rows);
		if (rc)
			return rc;
		if (rows->nrows == 1)
			*ret_name = store_cell_take(rows, 0, 0, NULL);
		store_rows_free(rows);
		return 0;
	}
	int rc = head_lock(s, host_id, ret_seq, prev, ret_name);
	if (rc == 0 && s->batch) {
		s->head.known = true;
		s->head.seq = s->head.stored_seq = *ret_seq;
		memcpy(s->head.hash, prev, AUDIT_HASH_SIZE);
	}
	return rc;
}

/* Move the head to the record just inserted: in a group commit in memory
 * (store_audit_head_flush writes it before the commit), else its row. */
static int head_move(struct store *s, int64_t seq, const uint8_t hash[static AUDIT_HASH_SIZE],
                     const char *hash_hex)
{
	if (s->batch) {
		s->head.seq = seq;
		memcpy(s->head.hash, hash, AUDIT_HASH_SIZE);
		return 0;
	}
	return store_exec(s, "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
	                  PARAMS(V_INT(seq), V_TEXT(hash_hex)), NULL);
}

int store_audit_head_flush(struct store *s)
{
	int rc = 0;
	if (s->head.known && s->head.seq != s->head.stored_seq) {
		char hh[AUDIT_HASH_HEX];
		hex_encode(s->head.hash, AUDIT_HASH_SIZE, hh);
		rc = store_exec(s, "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
		                PARAMS(V_INT(s->head.seq), V_TEXT(hh)), NULL);
		if (rc == 0)
			s->head.stored_seq = s->head.seq;
	}
	return rc;
}

int store_audit_head_save(struct store *s, struct store_head *to)
{
	if (to) {
		*to = s->head;
		return 0;
	}
	/* No room to keep it: the row holds it from here on, so a rollback to
	 * this savepoint leaves the row right and the head is read again. */
	return store_audit_head_flush(s);
}

void store_audit_head_restore(struct store *s, const struct store_head *from)
{
	if (from)
		s->head = *from;
	else
		s->head.known = false;
}

/* Append with the body already known to be a compact JSON object. Must run
 * inside a write transaction. host_name: as head_get. */
static int append_raw(struct store *s, const char *kind, const char *actor, int64_t host_id,
                      const char *host_name, const char *body, int64_t now)
{
	int64_t seq = 0;
	char *name = NULL;
	struct audit_record r = {0};
	int rc = head_get(s, host_id, host_name, &seq, r.prev_hash, &name);
	if (rc)
		return rc;
	r.seq = seq + 1;
	r.at = now;
	r.kind = kind;
	r.actor = actor;
	r.host_id = name ? host_id : 0; /* a host removed meanwhile: none */
	r.host = name ? name : "";
	r.body = body;
	r.body_len = strlen(body);
	rc = audit_hash(r.prev_hash, &r, r.hash);
	if (rc == ATTEST_E_ARG)
		rc = store_fail(s, rc, "the audit record has a field that cannot be hashed");
	char ph[AUDIT_HASH_HEX], hh[AUDIT_HASH_HEX];
	if (rc == 0) {
		hex_encode(r.prev_hash, AUDIT_HASH_SIZE, ph);
		hex_encode(r.hash, AUDIT_HASH_SIZE, hh);
		rc = store_exec(
		    s,
		    "INSERT INTO audit_log (seq, at, kind, actor, host_id, host_name, "
		    "body, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
		    PARAMS(V_INT(r.seq), V_INT(now), V_TEXT(kind), V_TEXT(actor), V_INT(r.host_id),
		           V_TEXT(r.host), V_TEXT(body), V_TEXT(ph), V_TEXT(hh)),
		    NULL);
	}
	if (rc == 0)
		rc = head_move(s, r.seq, r.hash, hh);
	free(name);
	return rc;
}

/* JSON text of v, compact with sorted keys (the writer's form). */
static char *dump(const json_t *v)
{
	return v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
}

int store_audit_append(struct store *s, const char *kind, const char *actor, int64_t host_id,
                       const char *json_body, int64_t now)
{
	int rc;
	if (host_id < 0 || !audit_field_ok(kind) || !audit_field_ok(actor))
		return store_fail(s, ATTEST_E_ARG, "audit record: invalid kind or actor");
	if ((rc = store_check_json(s, "audit record body", json_body, JSON_OBJECT, false)))
		return rc;
	if (s->drv->in_tx(s->conn))
		return append_raw(s, kind, actor, host_id, NULL, json_body, now);
	if ((rc = store_tx_begin(s, true)))
		return rc;
	if ((rc = append_raw(s, kind, actor, host_id, NULL, json_body, now))) {
		store_tx_rollback(s);
		return rc;
	}
	return store_tx_commit(s);
}

/* The record of an event (store_event_insert, inside its transaction). */
int store_audit_event(struct store *s, int64_t event_id, int64_t host_id, const char *kind,
                      const char *actor, const char *message, const char *details_json, int64_t now)
{
	json_t *b = json_pack("{s:I,s:s}", "event", (json_int_t)event_id, "message", message);
	if (b && details_json) {
		json_t *d = json_loads(details_json, 0, NULL);
		if (d)
			json_object_set_new(b, "details", d);
	}
	char *body = dump(b);
	json_decref(b);
	if (!body)
		return ATTEST_E_NOMEM;
	int rc = append_raw(s, kind, actor, host_id, NULL, body, now);
	free(body);
	return rc;
}

/* A JSON string of s (escaped), or NULL. */
static char *json_text(const char *s)
{
	json_t *j = json_string(s);
	char *t = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
	json_decref(j);
	return t;
}

int store_audit_verdict(struct store *s, const struct store_verdict *v, const char *host_name,
                        const char *previous, const char *to, const char *instance,
                        const char *actor, int64_t now)
{
	const struct store_audit_evidence *ev = v->evidence;
	int rc;
	if (ev && ev->eventlog && ev->eventlog_sha256) {
		/* One copy per distinct log, whoever stored it first. */
		rc = store_exec(s,
		                "INSERT INTO audit_eventlogs (sha256, eventlog, first_at) "
		                "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
		                PARAMS(V_TEXT(ev->eventlog_sha256),
		                       V_BLOB(ev->eventlog, ev->eventlog_len), V_INT(now)),
		                NULL);
		if (rc)
			return rc;
	}
	/* The body by hand, keys in sorted order: the reasons and evidence are
	 * JSON text the caller produced, not parsed again here. Copied, not
	 * printed: vsnprintf of the 2 KB evidence was a twentieth of the
	 * writer's time. As a growable textbuf would: a piece that would take
	 * the body past STORE_JSON_MAX is left out, later ones still go in. */
	char *inst = instance ? json_text(instance) : NULL;
	if (instance && !inst)
		return ATTEST_E_NOMEM;
	char head[64];
	snprintf(head, sizeof head, "{\"attested\":%s,\"duration_ms\":%" PRId64,
	         v->attested ? "true" : "false", v->duration_ms);
	const char *pieces[][7] = {
	    {head},
	    {ev && ev->json ? ",\"evidence\":" : NULL, ev ? ev->json : NULL},
	    {inst ? ",\"instance\":" : NULL, inst},
	    {",\"previous\":\"", previous, "\",\"reasons\":",
	     v->reasons_json ? v->reasons_json : "[]", ",\"trust\":\"", to, "\"}"},
	};
	enum { NPIECES = sizeof pieces / sizeof pieces[0] };
	size_t plen[NPIECES], len = 0;
	for (size_t k = 0; k < NPIECES; k++) {
		plen[k] = 0;
		for (size_t i = 0; i < 7 && pieces[k][i]; i++)
			plen[k] += strlen(pieces[k][i]);
		if (len + plen[k] + 1 > STORE_JSON_MAX)
			plen[k] = 0; /* left out */
		len += plen[k];
	}
	char *body = malloc(len + 1);
	if (!body) {
		free(inst);
		return ATTEST_E_NOMEM;
	}
	char *at = body;
	for (size_t k = 0; k < NPIECES; k++)
		for (size_t i = 0; plen[k] && i < 7 && pieces[k][i]; i++) {
			size_t n = strlen(pieces[k][i]);
			memcpy(at, pieces[k][i], n);
			at += n;
		}
	*at = '\0';
	free(inst);
	rc = append_raw(s, "verdict", actor, v->host_id, host_name, body, now);
	free(body);
	return rc;
}

static void audit_clear(void *item)
{
	struct store_audit *a = item;
	free(a->kind);
	free(a->actor);
	free(a->host_name);
	free(a->body);
	free(a->prev_hash);
	free(a->hash);
}

void store_audit_list_free(struct store_audit_list *l)
{
	if (l)
		store_items_free(l->v, l->n, sizeof(*l->v), audit_clear);
	free(l);
}

static void decode_audit(struct store_rows *rows, size_t r, void *item)
{
	struct store_audit *a = item;
	a->seq = store_cell_int(rows, r, 0);
	a->at = store_cell_int(rows, r, 1);
	a->kind = store_cell_take(rows, r, 2, NULL);
	a->actor = store_cell_take(rows, r, 3, NULL);
	a->host_id = store_cell_int(rows, r, 4);
	a->host_name = store_cell_take(rows, r, 5, NULL);
	a->body = store_cell_take(rows, r, 6, NULL);
	a->prev_hash = store_cell_take(rows, r, 7, NULL);
	a->hash = store_cell_take(rows, r, 8, NULL);
}

int store_audit_list(struct store *s, int64_t after, int64_t limit, struct store_audit_list **ret)
{
	void *v = NULL;
	if (limit < 1 || limit > STORE_AUDIT_PAGE_MAX)
		return store_fail(s, ATTEST_E_LIMIT, "audit page: 1 to 5000 records");
	struct store_audit_list *l = calloc(1, sizeof(*l));
	if (!l)
		return ATTEST_E_NOMEM;
	int rc = store_query_items(s,
	                           "SELECT seq, at, kind, actor, host_id, host_name, body, "
	                           "prev_hash, hash FROM audit_log WHERE seq > $1 "
	                           "ORDER BY seq LIMIT $2",
	                           PARAMS(V_INT(after), V_INT(limit)), (size_t)limit, sizeof(*l->v),
	                           decode_audit, &v, &l->n);
	if (rc) {
		free(l);
		return rc;
	}
	l->v = v;
	*ret = l;
	return 0;
}

int store_audit_head(struct store *s, int64_t *ret_seq, char ret_hash[static 65])
{
	if (s->batch && s->head.known) { /* ahead of its row until the commit */
		*ret_seq = s->head.seq;
		hex_encode(s->head.hash, AUDIT_HASH_SIZE, ret_hash);
		return 0;
	}
	struct store_rows *rows = NULL;
	int rc = store_query(s, "SELECT seq, hash FROM audit_head WHERE id = 1", NULL, 0, 1, &rows);
	if (rc)
		return rc;
	const char *h = rows->nrows ? (const char *)rows->cells[1].p : NULL;
	*ret_seq = rows->nrows ? store_cell_int(rows, 0, 0) : 0;
	snprintf(ret_hash, 65, "%s", h && strlen(h) == 64 ? h : zero_hash_hex);
	store_rows_free(rows);
	return 0;
}

int store_audit_eventlog(struct store *s, const char *sha256_hex, uint8_t **ret, size_t *ret_len)
{
	struct store_rows *rows = NULL;
	int rc = store_query(s, "SELECT eventlog FROM audit_eventlogs WHERE sha256 = $1",
	                     PARAMS(V_TEXT(sha256_hex)), 1, &rows);
	if (rc)
		return rc;
	if (rows->nrows == 0) {
		store_rows_free(rows);
		return ATTEST_E_NOTFOUND;
	}
	size_t n = 0;
	void *p = store_cell_take(rows, 0, 0, &n);
	store_rows_free(rows);
	if (!p)
		return ATTEST_E_IO;
	*ret = p;
	*ret_len = n;
	return 0;
}

int store_audit_prune(struct store *s, int64_t through, const char *actor, int64_t now,
                      int64_t *ret_deleted, char ret_hash[static 65])
{
	int64_t head = 0, deleted = 0;
	uint8_t last[AUDIT_HASH_SIZE];
	char *name = NULL;
	if (!audit_field_ok(actor))
		return store_fail(s, ATTEST_E_ARG, "audit prune: invalid actor");
	if (!s->drv->in_tx(s->conn))
		return store_fail(s, ATTEST_E_STATE, "audit prune runs in a write transaction");
	/* The head locked first: no append slips in between. */
	int rc = head_get(s, 0, NULL, &head, last, &name);
	free(name);
	if (rc)
		return rc;
	char m[128];
	if (through < 1 || through > head) {
		snprintf(m, sizeof m, "the chain has no record %lld (its head is %lld)",
		         (long long)through, (long long)head);
		return store_fail(s, ATTEST_E_ARG, m);
	}
	struct store_rows *rows = NULL;
	rc = store_query(s, "SELECT hash FROM audit_log WHERE seq = $1", PARAMS(V_INT(through)), 1,
	                 &rows);
	if (rc)
		return rc;
	const char *h = rows->nrows == 1 ? (const char *)rows->cells[0].p : NULL;
	if (h == NULL || strlen(h) != 2 * AUDIT_HASH_SIZE) {
		store_rows_free(rows);
		snprintf(m, sizeof m, "record %lld is not in the chain (pruned already)",
		         (long long)through);
		return store_fail(s, ATTEST_E_NOTFOUND, m);
	}
	snprintf(ret_hash, 65, "%s", h);
	store_rows_free(rows);
	rc = store_exec(s, "DELETE FROM audit_log WHERE seq <= $1", PARAMS(V_INT(through)),
	                &deleted);
	if (rc)
		return rc;
	json_t *b =
	    json_pack("{s:s,s:I,s:I,s:s}", "event", "pruned", "records", (json_int_t)deleted,
	              "through", (json_int_t)through, "through_hash", ret_hash);
	char *body = dump(b);
	json_decref(b);
	if (!body)
		return store_fail(s, ATTEST_E_NOMEM, "out of memory");
	rc = append_raw(s, "audit", actor, 0, NULL, body, now);
	free(body);
	if (rc == 0 && ret_deleted)
		*ret_deleted = deleted;
	return rc;
}
