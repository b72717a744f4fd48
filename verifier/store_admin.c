/* Store records the operator manages: the event history, policies (approved
 * configurations), the certified TPM list and API tokens. */
#include "store_internal.h"
#include "store_loop.h"

#include "err.h"
#include "hex.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Events */

int store_event_insert(struct store *s, int64_t host_id, const char *kind, const char *actor,
                       const char *message, const char *details_json, int64_t now, int64_t *ret_id)
{
	int64_t id = 0;
	int rc = store_query_int(
	    s,
	    "INSERT INTO events (at, host_id, host_name, kind, actor, message, details) "
	    "VALUES ($1, $2, (SELECT name FROM hosts WHERE id = $2), $3, $4, $5, $6) "
	    "RETURNING id",
	    PARAMS(V_INT(now), host_id ? V_INT(host_id) : V_NULL, V_TEXT(kind), V_TEXT(actor),
	           V_TEXT(message), V_TEXT(details_json)),
	    &id);
	if (rc == ATTEST_E_STATE) /* foreign key: no such host */
		rc = ATTEST_E_NOTFOUND;
	/* Every event is also a record of the audit chain, in this transaction. */
	if (rc == 0)
		rc = store_audit_event(s, id, host_id, kind, actor, message, details_json, now);
	if (rc == 0 && ret_id)
		*ret_id = id;
	return rc;
}

int store_event_add(struct store *s, const struct store_event_new *e, int64_t now, int64_t *ret_id)
{
	int rc;
	if (!e || e->host_id < 0)
		return ATTEST_E_ARG;
	if ((rc = store_check_name(s, "event kind", e->kind)) ||
	    (rc = store_check_name(s, "actor", e->actor)) ||
	    (rc = store_check_text(s, "message", e->message, STORE_TEXT_MAX, false)) ||
	    (rc = store_check_json(s, "details", e->details_json, JSON_OBJECT, true)))
		return rc;
	/* The event and its audit record commit together. */
	if ((rc = store_tx_begin(s, true)))
		return rc;
	rc = store_event_insert(s, e->host_id, e->kind, e->actor, e->message, e->details_json, now,
	                        ret_id);
	if (rc) {
		store_tx_rollback(s);
		return rc;
	}
	return store_tx_commit(s);
}

static void event_clear(void *item)
{
	struct store_event *e = item;
	free(e->host_name);
	free(e->kind);
	free(e->actor);
	free(e->message);
	free(e->details_json);
}

void store_event_list_free(struct store_event_list *l)
{
	if (l)
		store_items_free(l->v, l->n, sizeof(*l->v), event_clear);
	free(l);
}

static void decode_event(struct store_rows *rows, size_t r, void *item)
{
	struct store_event *e = item;
	e->id = store_cell_int(rows, r, 0);
	e->at = store_cell_int(rows, r, 1);
	e->host_id = store_cell_int(rows, r, 2);
	e->host_name = store_cell_take(rows, r, 3, NULL);
	e->kind = store_cell_take(rows, r, 4, NULL);
	e->actor = store_cell_take(rows, r, 5, NULL);
	e->message = store_cell_take(rows, r, 6, NULL);
	e->details_json = store_cell_take(rows, r, 7, NULL);
}

int store_event_list(struct store *s, const struct store_event_filter *filter,
                     const struct store_page *page, struct store_event_list **ret)
{
	struct store_event_filter f = filter ? *filter : (struct store_event_filter){0};
	int64_t limit, offset;
	void *v = NULL;
	int rc = store_check_page(s, page, &limit, &offset);
	if (rc || (rc = store_check_text(s, "event kind", f.kind, STORE_NAME_MAX, true)))
		return rc;
	struct store_event_list *l = calloc(1, sizeof(*l));
	if (!l)
		return ATTEST_E_NOMEM;
	/* A filter is off when its parameter is 0 / NULL. */
	rc = store_query_items(
	    s,
	    "SELECT id, at, host_id, host_name, kind, actor, message, details FROM events "
	    "WHERE (host_id = $1 OR $1 = 0) AND (kind = $2 OR $2 IS NULL) "
	    "AND (at >= $3 OR $3 = 0) AND (at < $4 OR $4 = 0) AND (id < $5 OR $5 = 0) "
	    "ORDER BY id DESC LIMIT $6 OFFSET $7",
	    PARAMS(V_INT(f.host_id), V_TEXT(f.kind), V_INT(f.since), V_INT(f.until),
	           V_INT(f.before_id), V_INT(limit), V_INT(offset)),
	    (size_t)limit, sizeof(*l->v), decode_event, &v, &l->n);
	if (rc) {
		free(l);
		return rc;
	}
	l->v = v;
	*ret = l;
	return 0;
}

int store_event_purge(struct store *s, int64_t before, int64_t *ret_n)
{
	int64_t n = 0;
	int rc = store_exec(s, "DELETE FROM events WHERE at < $1", PARAMS(V_INT(before)), &n);
	if (rc == 0 && ret_n)
		*ret_n = n;
	return rc;
}

/* ------------------------------------------------------------------ */
/* Policies */

#define POLICY_COLS                                                                                \
	"p.id, p.name, p.body, p.is_default, "                                                     \
	"(SELECT COUNT(*) FROM hosts h WHERE h.policy_id = p.id), p.created_at, p.updated_at "     \
	"FROM policies p"

static void policy_clear(void *item)
{
	struct store_policy *p = item;
	free(p->name);
	free(p->body_json);
}

void store_policy_free(struct store_policy *p)
{
	if (!p)
		return;
	policy_clear(p);
	free(p);
}

void store_policy_list_free(struct store_policy_list *l)
{
	if (l)
		store_items_free(l->v, l->n, sizeof(*l->v), policy_clear);
	free(l);
}

static void decode_policy(struct store_rows *rows, size_t r, void *item)
{
	struct store_policy *p = item;
	p->id = store_cell_int(rows, r, 0);
	p->name = store_cell_take(rows, r, 1, NULL);
	p->body_json = store_cell_take(rows, r, 2, NULL);
	p->is_default = store_cell_int(rows, r, 3) != 0;
	p->nhosts = store_cell_int(rows, r, 4);
	p->created_at = store_cell_int(rows, r, 5);
	p->updated_at = store_cell_int(rows, r, 6);
}

static int policy_one(struct store *s, const char *sql, const struct store_value *p, size_t n,
                      struct store_policy **ret)
{
	void *v = NULL;
	int rc = store_query_one(s, sql, p, n, sizeof(**ret), decode_policy, &v);
	if (rc == 0)
		*ret = v;
	return rc;
}

/* Transactions that read or move the default policy have no one row to
 * lock (there may be no default yet, and the default moves): on PostgreSQL
 * they take the store's advisory lock, as migrations do, so they run one at
 * a time as on SQLite (whose write transactions are exclusive). Without it,
 * two operators changing the default at once could both see the same old
 * default and one would fail on the one-default index. */
static int policy_lock(struct store *s)
{
	if (!*s->drv->migration_lock)
		return 0;
	return store_exec(s, s->drv->migration_lock, NULL, 0, NULL);
}

int store_policy_add(struct store *s, const char *name, const char *body_json, bool make_default,
                     int64_t now, int64_t *ret_id)
{
	int64_t id = 0, ndefault = 0;
	int rc;
	if ((rc = store_check_name(s, "policy name", name)) ||
	    (rc = store_check_json(s, "policy", body_json, JSON_OBJECT, false)))
		return rc;
	if ((rc = store_tx_begin(s, true)))
		return rc;
	if ((rc = policy_lock(s)))
		goto rollback;
	rc = store_query_int(s, "SELECT COUNT(*) FROM policies WHERE is_default = 1", NULL, 0,
	                     &ndefault);
	if (rc)
		goto rollback;
	if (make_default && ndefault) {
		rc = store_exec(
		    s, "UPDATE policies SET is_default = 0, updated_at = $1 WHERE is_default = 1",
		    PARAMS(V_INT(now)), NULL);
		if (rc)
			goto rollback;
	}
	rc = store_query_int(
	    s,
	    "INSERT INTO policies (name, body, is_default, created_at, updated_at) "
	    "VALUES ($1, $2, $3, $4, $4) RETURNING id",
	    PARAMS(V_TEXT(name), V_TEXT(body_json), V_INT(make_default), V_INT(now)), &id);
	if (rc == ATTEST_E_EXISTS)
		store_fail(s, rc, "a policy with that name already exists");
	if (rc == 0)
		rc = store_loop_policies_changed(s);
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

int store_policy_get(struct store *s, int64_t id, struct store_policy **ret)
{
	return policy_one(s, "SELECT " POLICY_COLS " WHERE p.id = $1", PARAMS(V_INT(id)), ret);
}

int store_policy_get_by_name(struct store *s, const char *name, struct store_policy **ret)
{
	int rc = store_check_text(s, "policy name", name, STORE_NAME_MAX, false);
	if (rc)
		return rc;
	return policy_one(s, "SELECT " POLICY_COLS " WHERE p.name = $1", PARAMS(V_TEXT(name)), ret);
}

int store_policy_get_default(struct store *s, struct store_policy **ret)
{
	return policy_one(s, "SELECT " POLICY_COLS " WHERE p.is_default = 1", NULL, 0, ret);
}

int store_policy_for_host(struct store *s, int64_t host_id, struct store_policy **ret)
{
	/* Read at every attestation: one statement, and without POLICY_COLS'
	 * count of the policy's hosts (an index walk over every host assigned
	 * to it). No host, or no policy for it: no row. */
	return policy_one(s,
	                  "SELECT p.id, p.name, p.body, p.is_default, CAST(0 AS BIGINT), "
	                  "p.created_at, p.updated_at FROM hosts h JOIN policies p "
	                  "ON p.id = COALESCE(h.policy_id, "
	                  "(SELECT d.id FROM policies d WHERE d.is_default = 1)) WHERE h.id = $1",
	                  PARAMS(V_INT(host_id)), ret);
}

int store_policy_list(struct store *s, const struct store_page *page,
                      struct store_policy_list **ret)
{
	int64_t limit, offset;
	void *v = NULL;
	int rc = store_check_page(s, page, &limit, &offset);
	if (rc)
		return rc;
	struct store_policy_list *l = calloc(1, sizeof(*l));
	if (!l)
		return ATTEST_E_NOMEM;
	rc = store_query_items(s, "SELECT " POLICY_COLS " ORDER BY p.name LIMIT $1 OFFSET $2",
	                       PARAMS(V_INT(limit), V_INT(offset)), (size_t)limit, sizeof(*l->v),
	                       decode_policy, &v, &l->n);
	if (rc) {
		free(l);
		return rc;
	}
	l->v = v;
	*ret = l;
	return 0;
}

int store_policy_update(struct store *s, int64_t id, const char *body_json, int64_t now)
{
	int64_t changed = 0;
	int rc = store_check_json(s, "policy", body_json, JSON_OBJECT, false);
	if (rc)
		return rc;
	if ((rc = store_tx_begin(s, true)))
		return rc;
	rc = store_exec(s, "UPDATE policies SET body = $2, updated_at = $3 WHERE id = $1",
	                PARAMS(V_INT(id), V_TEXT(body_json), V_INT(now)), &changed);
	if (rc == 0 && changed == 0)
		rc = ATTEST_E_NOTFOUND;
	if (rc == 0)
		rc = store_loop_policies_changed(s);
	if (rc) {
		store_tx_rollback(s);
		return rc;
	}
	return store_tx_commit(s);
}

int store_policy_set_default(struct store *s, int64_t id, int64_t now)
{
	int64_t one;
	int rc = store_tx_begin(s, true);
	if (rc)
		return rc;
	rc = policy_lock(s);
	if (rc == 0)
		rc = store_query_int(s, "SELECT 1 FROM policies WHERE id = $1", PARAMS(V_INT(id)),
		                     &one);
	if (rc == 0)
		rc = store_exec(s,
		                "UPDATE policies SET is_default = 0, updated_at = $2 "
		                "WHERE is_default = 1 AND id <> $1",
		                PARAMS(V_INT(id), V_INT(now)), NULL);
	if (rc == 0)
		rc = store_exec(s,
		                "UPDATE policies SET is_default = 1, updated_at = $2 WHERE id = $1",
		                PARAMS(V_INT(id), V_INT(now)), NULL);
	if (rc == 0)
		rc = store_loop_policies_changed(s);
	if (rc) {
		store_tx_rollback(s);
		return rc;
	}
	return store_tx_commit(s);
}

int store_policy_remove(struct store *s, int64_t id)
{
	int64_t is_default = 0;
	int rc = store_tx_begin(s, true);
	if (rc)
		return rc;
	rc = policy_lock(s);
	if (rc == 0)
		rc = store_query_int(s, "SELECT is_default FROM policies WHERE id = $1",
		                     PARAMS(V_INT(id)), &is_default);
	if (rc == 0 && is_default)
		rc = store_fail(s, ATTEST_E_STATE, "the default policy cannot be removed");
	if (rc == 0) {
		rc = store_exec(s, "DELETE FROM policies WHERE id = $1", PARAMS(V_INT(id)), NULL);
		if (rc == ATTEST_E_STATE) /* foreign key from hosts */
			store_fail(s, rc, "hosts are assigned to this policy");
	}
	if (rc == 0)
		rc = store_loop_policies_changed(s);
	if (rc) {
		store_tx_rollback(s);
		return rc;
	}
	return store_tx_commit(s);
}

/* ------------------------------------------------------------------ */
/* Certified TPM list */

static void ca_clear(void *item)
{
	struct store_ca *c = item;
	free(c->fingerprint);
	free(c->subject);
	free(c->der);
	free(c->source);
}

void store_ca_free(struct store_ca *c)
{
	if (!c)
		return;
	ca_clear(c);
	free(c);
}

void store_ca_list_free(struct store_ca_list *l)
{
	if (l)
		store_items_free(l->v, l->n, sizeof(*l->v), ca_clear);
	free(l);
}

#define CA_COLS "id, fingerprint, subject, der, source, added_at FROM tpm_cas"

static void decode_ca(struct store_rows *rows, size_t r, void *item)
{
	struct store_ca *c = item;
	c->id = store_cell_int(rows, r, 0);
	c->fingerprint = store_cell_take(rows, r, 1, NULL);
	c->subject = store_cell_take(rows, r, 2, NULL);
	c->der = store_cell_take(rows, r, 3, &c->der_len);
	c->source = store_cell_take(rows, r, 4, NULL);
	c->added_at = store_cell_int(rows, r, 5);
}

static int sha256(const void *p, size_t len, uint8_t out[static 32])
{
	unsigned int n = 0;
	if (!EVP_Digest(p, len, out, &n, EVP_sha256(), NULL) || n != 32)
		return ATTEST_E_CRYPTO;
	return 0;
}

int store_ca_add(struct store *s, const uint8_t *der, size_t der_len, const char *subject,
                 const char *source, int64_t now, int64_t *ret_id)
{
	uint8_t fp[32];
	char hex[65];
	int64_t id = 0;
	int rc;
	if ((rc = store_check_blob(s, "certificate", der, der_len, STORE_BLOB_MAX, false)) ||
	    (rc = store_check_text(s, "subject", subject, STORE_TEXT_MAX, false)) ||
	    (rc = store_check_name(s, "source", source)))
		return rc;
	if ((rc = sha256(der, der_len, fp)))
		return rc;
	hex_encode(fp, sizeof(fp), hex);
	rc = store_query_int(
	    s,
	    "INSERT INTO tpm_cas (fingerprint, subject, der, source, added_at) "
	    "VALUES ($1, $2, $3, $4, $5) RETURNING id",
	    PARAMS(V_TEXT(hex), V_TEXT(subject), V_BLOB(der, der_len), V_TEXT(source), V_INT(now)),
	    &id);
	if (rc == ATTEST_E_EXISTS)
		return store_fail(s, rc,
		                  "this CA certificate is already in the certified TPM list");
	if (rc == 0 && ret_id)
		*ret_id = id;
	return rc;
}

int store_ca_get_by_fingerprint(struct store *s, const char *fingerprint_hex, struct store_ca **ret)
{
	char lower[65];
	size_t n = fingerprint_hex ? strnlen(fingerprint_hex, 65) : 0;
	if (n != 64)
		return store_fail(s, ATTEST_E_ARG, "fingerprint must be 64 hex digits");
	for (size_t i = 0; i < 64; i++)
		lower[i] = (char)tolower((unsigned char)fingerprint_hex[i]);
	lower[64] = 0;
	void *c = NULL;
	int rc = store_query_one(s, "SELECT " CA_COLS " WHERE fingerprint = $1",
	                         PARAMS(V_TEXT(lower)), sizeof(**ret), decode_ca, &c);
	if (rc == 0)
		*ret = c;
	return rc;
}

int store_ca_list(struct store *s, const struct store_page *page, struct store_ca_list **ret)
{
	int64_t limit, offset;
	void *v = NULL;
	int rc = store_check_page(s, page, &limit, &offset);
	if (rc)
		return rc;
	struct store_ca_list *l = calloc(1, sizeof(*l));
	if (!l)
		return ATTEST_E_NOMEM;
	rc = store_query_items(s, "SELECT " CA_COLS " ORDER BY id LIMIT $1 OFFSET $2",
	                       PARAMS(V_INT(limit), V_INT(offset)), (size_t)limit, sizeof(*l->v),
	                       decode_ca, &v, &l->n);
	if (rc) {
		free(l);
		return rc;
	}
	l->v = v;
	*ret = l;
	return 0;
}

int store_ca_remove(struct store *s, int64_t id)
{
	int64_t changed = 0;
	int rc = store_exec(s, "DELETE FROM tpm_cas WHERE id = $1", PARAMS(V_INT(id)), &changed);
	if (rc == 0 && changed == 0)
		rc = ATTEST_E_NOTFOUND;
	return rc;
}

int store_ca_marker(struct store *s, int64_t *ret_count, int64_t *ret_max_id)
{
	struct store_rows *rows = NULL;
	/* One statement, so both come from one snapshot. */
	int rc =
	    store_query(s, "SELECT COUNT(*), COALESCE(MAX(id), 0) FROM tpm_cas", NULL, 0, 1, &rows);
	if (rc)
		return rc;
	if (rows->nrows != 1) {
		store_rows_free(rows);
		return ATTEST_E_IO;
	}
	*ret_count = store_cell_int(rows, 0, 0);
	*ret_max_id = store_cell_int(rows, 0, 1);
	store_rows_free(rows);
	return 0;
}

/* ------------------------------------------------------------------ */
/* API tokens */

void store_token_free(struct store_token *t)
{
	if (!t)
		return;
	free(t->name);
	free(t);
}

static void token_clear(void *item)
{
	free(((struct store_token *)item)->name);
}

void store_token_list_free(struct store_token_list *l)
{
	if (l)
		store_items_free(l->v, l->n, sizeof(*l->v), token_clear);
	free(l);
}

static void decode_token(struct store_rows *rows, size_t r, void *item)
{
	struct store_token *t = item;
	t->id = store_cell_int(rows, r, 0);
	t->name = store_cell_take(rows, r, 1, NULL);
	t->role = STORE_ROLE_VIEWER;
	(void)store_role_parse((const char *)rows->cells[r * rows->ncols + 2].p, &t->role);
	t->created_at = store_cell_int(rows, r, 3);
}

int store_token_hash(const char *token, size_t len, uint8_t out[static STORE_TOKEN_HASH_SIZE])
{
	if (!token || len == 0)
		return ATTEST_E_ARG;
	return sha256(token, len, out);
}

int store_token_add(struct store *s, const char *name, enum store_role role,
                    const uint8_t hash[static STORE_TOKEN_HASH_SIZE], int64_t now, int64_t *ret_id)
{
	int64_t id = 0;
	int rc;
	if ((rc = store_check_name(s, "token name", name)))
		return rc;
	if ((unsigned)role > STORE_ROLE_ADMIN)
		return ATTEST_E_ARG;
	rc = store_query_int(s,
	                     "INSERT INTO api_tokens (name, token_hash, role, created_at) "
	                     "VALUES ($1, $2, $3, $4) RETURNING id",
	                     PARAMS(V_TEXT(name), V_BLOB(hash, STORE_TOKEN_HASH_SIZE),
	                            V_TEXT(store_role_name(role)), V_INT(now)),
	                     &id);
	if (rc == ATTEST_E_EXISTS)
		return store_fail(s, rc, "a token with that name (or value) already exists");
	if (rc == 0 && ret_id)
		*ret_id = id;
	return rc;
}

int store_token_lookup(struct store *s, const uint8_t hash[static STORE_TOKEN_HASH_SIZE],
                       struct store_token **ret)
{
	struct store_rows *rows = NULL;
	struct store_token *t = NULL;
	enum store_role role = STORE_ROLE_VIEWER;
	int rc = store_query(s,
	                     "SELECT id, name, role, created_at, token_hash FROM api_tokens "
	                     "WHERE token_hash = $1",
	                     PARAMS(V_BLOB(hash, STORE_TOKEN_HASH_SIZE)), 1, &rows);
	if (rc)
		return rc;
	const struct store_cell *h = rows->nrows ? &rows->cells[4] : NULL;
	if (!h || h->type != STORE_V_BLOB || h->len != STORE_TOKEN_HASH_SIZE ||
	    CRYPTO_memcmp(h->p, hash, STORE_TOKEN_HASH_SIZE) != 0 ||
	    store_role_parse((const char *)rows->cells[2].p, &role) != 0)
		rc = ATTEST_E_NOTFOUND;
	else if (!(t = calloc(1, sizeof(*t))))
		rc = ATTEST_E_NOMEM;
	else {
		t->id = store_cell_int(rows, 0, 0);
		t->name = store_cell_take(rows, 0, 1, NULL);
		t->role = role;
		t->created_at = store_cell_int(rows, 0, 3);
	}
	store_rows_free(rows);
	if (rc == 0)
		*ret = t;
	return rc;
}

int store_token_list(struct store *s, const struct store_page *page, struct store_token_list **ret)
{
	int64_t limit, offset;
	void *v = NULL;
	int rc = store_check_page(s, page, &limit, &offset);
	if (rc)
		return rc;
	struct store_token_list *l = calloc(1, sizeof(*l));
	if (!l)
		return ATTEST_E_NOMEM;
	rc = store_query_items(s,
	                       "SELECT id, name, role, created_at FROM api_tokens ORDER BY id "
	                       "LIMIT $1 OFFSET $2",
	                       PARAMS(V_INT(limit), V_INT(offset)), (size_t)limit, sizeof(*l->v),
	                       decode_token, &v, &l->n);
	if (rc) {
		free(l);
		return rc;
	}
	l->v = v;
	*ret = l;
	return 0;
}

int store_token_remove(struct store *s, int64_t id)
{
	int64_t changed = 0;
	int rc = store_exec(s, "DELETE FROM api_tokens WHERE id = $1", PARAMS(V_INT(id)), &changed);
	if (rc == 0 && changed == 0)
		rc = ATTEST_E_NOTFOUND;
	return rc;
}
