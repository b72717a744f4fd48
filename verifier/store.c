/* The store's backend-independent core: opening by URL, migrations, query and
 * transaction helpers, input checks, row helpers. Records live in
 * store_hosts.c (hosts, leases, AKs, nonces, results, alarms) and
 * store_admin.c (events, policies, CAs, tokens). */
#include "store_internal.h"

#include "err.h"
#include "hex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------ */
/* Names */

static const char *const trust_names[] = {"unknown", "green", "red"};
static const char *const conn_names[] = {"disconnected", "connected", "not_responding"};
static const char *const role_names[] = {"viewer", "admin"};

#define NAME_OF(tab, i) ((size_t)(i) < sizeof(tab) / sizeof(tab[0]) ? tab[i] : "invalid")

const char *store_trust_name(enum store_trust t)
{
	return NAME_OF(trust_names, t);
}

const char *store_conn_name(enum store_conn c)
{
	return NAME_OF(conn_names, c);
}

const char *store_role_name(enum store_role r)
{
	return NAME_OF(role_names, r);
}

static int parse_name(const char *const *tab, size_t n, const char *s, int *ret)
{
	if (!s)
		return ATTEST_E_ARG;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(tab[i], s) == 0) {
			*ret = (int)i;
			return 0;
		}
	}
	return ATTEST_E_ARG;
}

int store_trust_parse(const char *s, enum store_trust *ret)
{
	int v;
	int rc = parse_name(trust_names, 3, s, &v);
	if (rc == 0)
		*ret = (enum store_trust)v;
	return rc;
}

int store_conn_parse(const char *s, enum store_conn *ret)
{
	int v;
	int rc = parse_name(conn_names, 3, s, &v);
	if (rc == 0)
		*ret = (enum store_conn)v;
	return rc;
}

int store_role_parse(const char *s, enum store_role *ret)
{
	int v;
	int rc = parse_name(role_names, 2, s, &v);
	if (rc == 0)
		*ret = (enum store_role)v;
	return rc;
}

/* ------------------------------------------------------------------ */
/* Rows */

void store_rows_free(struct store_rows *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nrows * r->ncols; i++)
		free(r->cells[i].p);
	free(r->cells);
	free(r);
}

struct store_cell *store_rows_add_row(struct store_rows *r)
{
	size_t ncols = r->ncols ? r->ncols : 1;
	if (r->nrows == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 8;
		if (cap > SIZE_MAX / sizeof(struct store_cell) / ncols)
			return NULL;
		struct store_cell *cells = realloc(r->cells, cap * ncols * sizeof(*cells));
		if (!cells)
			return NULL;
		r->cells = cells;
		r->cap = cap;
	}
	struct store_cell *row = &r->cells[r->nrows * r->ncols];
	memset(row, 0, ncols * sizeof(*row));
	r->nrows++;
	return row;
}

static const struct store_cell *cell(const struct store_rows *rows, size_t r, size_t c)
{
	return &rows->cells[r * rows->ncols + c];
}

int64_t store_cell_int(const struct store_rows *rows, size_t r, size_t c)
{
	const struct store_cell *x = cell(rows, r, c);
	return x->type == STORE_V_INT ? x->i : 0;
}

int64_t store_cell_count(const struct store_rows *rows, size_t r, size_t c)
{
	const struct store_cell *x = cell(rows, r, c);
	return x->type == STORE_V_INT ? x->i : -1;
}

bool store_cell_is_null(const struct store_rows *rows, size_t r, size_t c)
{
	return cell(rows, r, c)->type == STORE_V_NULL;
}

void *store_cell_take(struct store_rows *rows, size_t r, size_t c, size_t *ret_len)
{
	struct store_cell *x = &rows->cells[r * rows->ncols + c];
	void *p = x->p;
	if (ret_len)
		*ret_len = p ? x->len : 0;
	x->p = NULL;
	return p;
}

/* ------------------------------------------------------------------ */
/* Errors, queries, transactions */

int store_fail(struct store *s, int rc, const char *msg)
{
	snprintf(s->msg, sizeof(s->msg), "%s", msg);
	s->msg_own = true;
	return rc;
}

const char *store_errmsg(const struct store *s)
{
	if (!s)
		return "no store";
	return s->msg_own ? s->msg : s->drv->errmsg(s->conn);
}

const char *store_backend_name(const struct store *s)
{
	return s->drv->name;
}

/* Inside a group commit on a driver whose errors abort the transaction, a
 * statement outside any store transaction gets a savepoint of its own, so
 * that its failure (a unique key, a lost lease) leaves the group usable. */
static bool lone_in_batch(const struct store *s)
{
	return s->batch && s->depth == 0 && s->drv->error_aborts_tx;
}

static int run_stmt(struct store *s, const char *sql, const struct store_value *p, size_t n,
                    size_t max, struct store_rows **ret, int64_t *ret_changes)
{
	s->msg_own = false;
	if (!lone_in_batch(s))
		return s->drv->query(s->conn, sql, p, n, max, ret, ret_changes);
	int rc = s->drv->script(s->conn, "SAVEPOINT st");
	if (rc)
		return rc;
	rc = s->drv->query(s->conn, sql, p, n, max, ret, ret_changes);
	if (rc == 0) {
		rc = s->drv->script(s->conn, "RELEASE SAVEPOINT st");
		if (rc && ret) {
			store_rows_free(*ret);
			*ret = NULL;
		}
		return rc;
	}
	if (s->drv->in_tx(s->conn))
		(void)s->drv->script(s->conn, "ROLLBACK TO SAVEPOINT st; RELEASE SAVEPOINT st");
	return rc;
}

int store_exec(struct store *s, const char *sql, const struct store_value *p, size_t n,
               int64_t *ret_changes)
{
	return run_stmt(s, sql, p, n, 0, NULL, ret_changes);
}

int store_query(struct store *s, const char *sql, const struct store_value *p, size_t n, size_t max,
                struct store_rows **ret)
{
	return run_stmt(s, sql, p, n, max, ret, NULL);
}

int store_query_int(struct store *s, const char *sql, const struct store_value *p, size_t n,
                    int64_t *ret)
{
	struct store_rows *rows = NULL;
	int rc = store_query(s, sql, p, n, 1, &rows);
	if (rc)
		return rc;
	if (rows->nrows == 0 || rows->ncols < 1)
		rc = ATTEST_E_NOTFOUND;
	else
		*ret = store_cell_int(rows, 0, 0);
	store_rows_free(rows);
	return rc;
}

int store_rows_decode(struct store_rows *rows, size_t size, store_decode_fn *decode, void **ret_v,
                      size_t *ret_n)
{
	/* At least one item, so that NULL only means out of memory. */
	unsigned char *v = calloc(rows->nrows ? rows->nrows : 1, size);
	if (!v)
		return ATTEST_E_NOMEM;
	for (size_t i = 0; i < rows->nrows; i++)
		decode(rows, i, v + i * size);
	*ret_v = v;
	*ret_n = rows->nrows;
	return 0;
}

int store_query_items(struct store *s, const char *sql, const struct store_value *p, size_t n,
                      size_t max, size_t size, store_decode_fn *decode, void **ret_v, size_t *ret_n)
{
	struct store_rows *rows = NULL;
	int rc = store_query(s, sql, p, n, max, &rows);
	if (rc)
		return rc;
	rc = store_rows_decode(rows, size, decode, ret_v, ret_n);
	store_rows_free(rows);
	return rc;
}

int store_query_one(struct store *s, const char *sql, const struct store_value *p, size_t n,
                    size_t size, store_decode_fn *decode, void **ret)
{
	void *v = NULL;
	size_t nv = 0;
	int rc = store_query_items(s, sql, p, n, 1, size, decode, &v, &nv);
	if (rc)
		return rc;
	if (nv == 0) {
		free(v);
		return ATTEST_E_NOTFOUND;
	}
	*ret = v;
	return 0;
}

void store_items_free(void *v, size_t n, size_t size, void (*clear)(void *item))
{
	for (size_t i = 0; v && i < n; i++)
		clear((unsigned char *)v + i * size);
	free(v);
}

int store_tx_begin(struct store *s, bool write)
{
	s->msg_own = false;
	if (s->batch) {
		struct store_head *keep =
		    s->depth < STORE_HEAD_DEPTH ? &s->head_tx[s->depth] : NULL;
		int rc = store_audit_head_save(s, keep);
		if (rc == 0)
			rc = s->drv->script(s->conn, "SAVEPOINT tx");
		if (rc == 0)
			s->depth++;
		return rc;
	}
	return s->drv->begin(s->conn, write);
}

int store_tx_commit(struct store *s)
{
	if (s->batch) {
		int rc = s->drv->script(s->conn, "RELEASE SAVEPOINT tx");
		if (rc) {
			store_tx_rollback(s);
			return rc;
		}
		s->depth--;
		return 0;
	}
	int rc = s->drv->commit(s->conn);
	if (rc)
		s->drv->rollback(s->conn);
	return rc;
}

void store_tx_rollback(struct store *s)
{
	if (s->batch) {
		bool open = s->depth > 0;
		if (open)
			s->depth--;
		/* Keep the function's error message, not the rollback's. */
		if (s->drv->in_tx(s->conn))
			(void)s->drv->script(s->conn,
			                     "ROLLBACK TO SAVEPOINT tx; RELEASE SAVEPOINT tx");
		/* Its audit records are gone: so is the head they moved. */
		if (open)
			store_audit_head_restore(
			    s, s->depth < STORE_HEAD_DEPTH ? &s->head_tx[s->depth] : NULL);
		return;
	}
	s->drv->rollback(s->conn);
}

bool store_batch_takes_head(const struct store *s)
{
	return s->drv->lock_suffix[0] != '\0';
}

int store_batch_begin_apart(struct store *s)
{
	s->msg_own = false;
	int rc = s->drv->begin(s->conn, true);
	if (rc == 0) {
		s->batch = true;
		s->depth = 0;
		s->head.known = false;
	}
	return rc;
}

int store_batch_begin(struct store *s)
{
	int rc = store_batch_begin_apart(s);
	/* PostgreSQL: the audit chain's head first. Nearly every group (the
	 * writer's, an operator's change) appends to the chain, which holds the
	 * head until the commit; taken before any row, it keeps one lock order
	 * between instances (the head, then rows), so two verifiers' groups
	 * queue instead of deadlocking (one holding the head and wanting a host
	 * row the other's lease claim holds, the other the reverse: seen at
	 * 10,000 hosts). SQLite's BEGIN IMMEDIATE serialises writers already. */
	if (rc == 0 && store_batch_takes_head(s)) {
		struct store_rows *rows = NULL;
		char sql[128];
		store_sql_join(sql, sizeof sql, "SELECT seq, hash FROM audit_head WHERE id = 1",
		               s->drv->lock_suffix, NULL);
		rc = store_query(s, sql, NULL, 0, 1, &rows);
		/* Held until the commit: the group's appends start from it. */
		size_t n = 0;
		const char *h = rc == 0 && rows->nrows == 1 ? (const char *)rows->cells[1].p : NULL;
		if (h && hex_decode(h, s->head.hash, sizeof s->head.hash, &n) == 0 &&
		    n == sizeof s->head.hash) {
			s->head.known = true;
			s->head.seq = s->head.stored_seq = store_cell_int(rows, 0, 0);
		}
		store_rows_free(rows);
		if (rc) {
			s->batch = false;
			s->drv->rollback(s->conn);
		}
	}
	return rc;
}

int store_batch_commit(struct store *s)
{
	/* The audit chain's head as the group's appends left it; out of the
	 * group first, so that the statement takes no savepoint of its own
	 * (if it fails, the whole group is rolled back anyway). */
	s->batch = false;
	int rc = store_audit_head_flush(s);
	s->head.known = false;
	if (rc == 0)
		rc = s->drv->commit(s->conn);
	if (rc)
		s->drv->rollback(s->conn);
	return rc;
}

void store_batch_rollback(struct store *s)
{
	s->batch = false;
	s->head.known = false;
	s->drv->rollback(s->conn);
}

bool store_batch_alive(struct store *s)
{
	return s->batch && s->drv->in_tx(s->conn);
}

int store_batch_mark(struct store *s)
{
	s->msg_own = false;
	(void)store_audit_head_save(s, &s->head_op);
	return s->drv->script(s->conn, "SAVEPOINT op");
}

int store_batch_keep(struct store *s)
{
	return s->drv->script(s->conn, "RELEASE SAVEPOINT op");
}

void store_batch_undo(struct store *s)
{
	if (s->drv->in_tx(s->conn))
		(void)s->drv->script(s->conn, "ROLLBACK TO SAVEPOINT op; RELEASE SAVEPOINT op");
	store_audit_head_restore(s, &s->head_op);
}

int store_write_begin(struct store *s)
{
	return store_batch_begin(s);
}

int store_write_commit(struct store *s)
{
	return store_batch_commit(s);
}

void store_write_rollback(struct store *s)
{
	store_batch_rollback(s);
}

int store_set_lock_wait(struct store *s, unsigned ms)
{
	return s->drv->set_lock_wait(s->conn, ms);
}

int store_set_sync(struct store *s, bool full)
{
	int rc = s->drv->set_sync(s->conn, full);
	if (rc == 0)
		s->lazy = !full;
	return rc;
}

void store_durable(struct store *s)
{
	if (s->lazy)
		(void)s->drv->durable(s->conn); /* failing, the COMMIT is lazy */
}

bool store_busy(const struct store *s)
{
	return s != NULL && !s->msg_own && s->drv->busy(s->conn);
}

const char *store_sql_join(char *buf, size_t size, const char *a, const char *b, const char *c)
{
	int n = snprintf(buf, size, "%s%s%s", a, b, c ? c : "");
	/* The parts are compile-time constants sized by the caller; truncation
	 * would be a programming error, made harmless by an invalid statement. */
	if (n < 0 || (size_t)n >= size)
		buf[0] = 0;
	return buf;
}

/* ------------------------------------------------------------------ */
/* Input checks */

int store_check_text(struct store *s, const char *what, const char *v, size_t max, bool nullable)
{
	char m[128];
	if (!v) {
		if (nullable)
			return 0;
		snprintf(m, sizeof(m), "%s is missing", what);
		return store_fail(s, ATTEST_E_ARG, m);
	}
	size_t n = strnlen(v, max + 1);
	if (n > max) {
		snprintf(m, sizeof(m), "%s is longer than %zu bytes", what, max);
		return store_fail(s, ATTEST_E_LIMIT, m);
	}
	return 0;
}

/* A name: 1..STORE_NAME_MAX bytes, no control characters or spaces at the
 * ends (names appear in tables, URLs and logs). */
int store_check_name(struct store *s, const char *what, const char *v)
{
	char m[128];
	int rc = store_check_text(s, what, v, STORE_NAME_MAX, false);
	if (rc)
		return rc;
	size_t n = strlen(v);
	if (n == 0 || v[0] == ' ' || v[n - 1] == ' ') {
		snprintf(m, sizeof(m), "%s is empty or starts/ends with a space", what);
		return store_fail(s, ATTEST_E_ARG, m);
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)v[i];
		if (ch < 0x20 || ch == 0x7f) {
			snprintf(m, sizeof(m), "%s contains a control character", what);
			return store_fail(s, ATTEST_E_ARG, m);
		}
	}
	return 0;
}

/* A quick look at JSON text, for the common case of plain text the
 * verifier wrote itself (PCR values, reasons, metadata): true only when it
 * is surely what jansson's json_loads(JSON_REJECT_DUPLICATES) accepts, of
 * the type wanted. Anything else (escapes, bytes outside printable ASCII,
 * fractions or exponents, long numbers, deep nesting, large objects, and
 * every error) answers false, and jansson decides. No allocation, no tree:
 * parsing the evidence's PCR text into a tree of some 50 values only to
 * free it was a tenth of the storage writer's time. */
#define QUICK_DEPTH_MAX 16
#define QUICK_KEYS_MAX  64

struct quick {
	const char *p;
	unsigned depth;
};

static void quick_ws(struct quick *q)
{
	while (*q->p == ' ' || *q->p == '\t' || *q->p == '\n' || *q->p == '\r')
		q->p++;
}

/* A string of printable ASCII without escapes; *ret_len: its length. */
static bool quick_string(struct quick *q, const char **ret, size_t *ret_len)
{
	if (*q->p != '"')
		return false;
	const char *start = ++q->p;
	while (*q->p >= 0x20 && *q->p <= 0x7e && *q->p != '"' && *q->p != '\\')
		q->p++;
	if (*q->p != '"')
		return false;
	*ret = start;
	*ret_len = (size_t)(q->p - start);
	q->p++;
	return true;
}

static bool quick_value(struct quick *q);

static bool quick_object(struct quick *q)
{
	const char *keys[QUICK_KEYS_MAX];
	size_t lens[QUICK_KEYS_MAX], n = 0;
	q->p++;
	quick_ws(q);
	if (*q->p == '}') {
		q->p++;
		return true;
	}
	for (;;) {
		if (n == QUICK_KEYS_MAX || !quick_string(q, &keys[n], &lens[n]))
			return false;
		for (size_t i = 0; i < n; i++) /* JSON_REJECT_DUPLICATES */
			if (lens[i] == lens[n] && memcmp(keys[i], keys[n], lens[n]) == 0)
				return false;
		n++;
		quick_ws(q);
		if (*q->p != ':')
			return false;
		q->p++;
		if (!quick_value(q))
			return false;
		quick_ws(q);
		if (*q->p == '}') {
			q->p++;
			return true;
		}
		if (*q->p != ',')
			return false;
		q->p++;
		quick_ws(q);
	}
}

static bool quick_array(struct quick *q)
{
	q->p++;
	quick_ws(q);
	if (*q->p == ']') {
		q->p++;
		return true;
	}
	for (;;) {
		if (!quick_value(q))
			return false;
		quick_ws(q);
		if (*q->p == ']') {
			q->p++;
			return true;
		}
		if (*q->p != ',')
			return false;
		q->p++;
	}
}

static bool quick_value(struct quick *q)
{
	quick_ws(q);
	const char *t;
	size_t n;
	switch (*q->p) {
	case '{':
	case '[': {
		if (q->depth == QUICK_DEPTH_MAX)
			return false;
		q->depth++;
		bool ok = *q->p == '{' ? quick_object(q) : quick_array(q);
		q->depth--;
		return ok;
	}
	case '"': return quick_string(q, &t, &n);
	case 't': return strncmp(q->p, "true", 4) == 0 && (q->p += 4, true);
	case 'f': return strncmp(q->p, "false", 5) == 0 && (q->p += 5, true);
	case 'n': return strncmp(q->p, "null", 4) == 0 && (q->p += 4, true);
	default: break;
	}
	/* An integer of at most 15 digits (no fraction, no exponent: far
	 * from jansson's range limits). */
	if (*q->p == '-')
		q->p++;
	if (*q->p == '0') {
		q->p++;
	} else {
		const char *d = q->p;
		while (*q->p >= '0' && *q->p <= '9')
			q->p++;
		if (q->p == d || q->p - d > 15)
			return false;
	}
	return *q->p != '.' && *q->p != 'e' && *q->p != 'E' && !(*q->p >= '0' && *q->p <= '9');
}

static bool quick_json_ok(const char *v, json_type type)
{
	struct quick q = {.p = v};
	quick_ws(&q);
	if (*q.p != (type == JSON_ARRAY ? '[' : '{') || !quick_value(&q))
		return false;
	quick_ws(&q);
	return *q.p == '\0';
}

int store_check_json(struct store *s, const char *what, const char *v, json_type type,
                     bool nullable)
{
	char m[160];
	int rc = store_check_text(s, what, v, STORE_JSON_MAX, nullable);
	if (rc || !v)
		return rc;
	if ((type == JSON_ARRAY || type == JSON_OBJECT) && quick_json_ok(v, type))
		return 0;
	json_error_t err;
	json_t *j = json_loads(v, JSON_REJECT_DUPLICATES, &err);
	bool ok = j && json_typeof(j) == type;
	json_decref(j);
	if (!ok) {
		snprintf(m, sizeof(m), "%s is not a JSON %s", what,
		         type == JSON_ARRAY ? "array" : "object");
		return store_fail(s, ATTEST_E_FORMAT, m);
	}
	return 0;
}

int store_check_blob(struct store *s, const char *what, const void *p, size_t len, size_t max,
                     bool nullable)
{
	char m[128];
	if (!p || len == 0) {
		if (nullable && !p)
			return 0;
		snprintf(m, sizeof(m), "%s is missing", what);
		return store_fail(s, ATTEST_E_ARG, m);
	}
	if (len > max) {
		snprintf(m, sizeof(m), "%s is longer than %zu bytes", what, max);
		return store_fail(s, ATTEST_E_LIMIT, m);
	}
	return 0;
}

int store_check_page(struct store *s, const struct store_page *page, int64_t *ret_limit,
                     int64_t *ret_offset)
{
	uint32_t limit = page ? page->limit : 0;
	uint64_t offset = page ? page->offset : 0;
	if (limit == 0)
		limit = STORE_PAGE_DEFAULT;
	if (limit > STORE_PAGE_MAX)
		return store_fail(s, ATTEST_E_LIMIT, "page size exceeds STORE_PAGE_MAX");
	if (offset > INT64_MAX)
		return store_fail(s, ATTEST_E_LIMIT, "page offset too large");
	*ret_limit = limit;
	*ret_offset = (int64_t)offset;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Migrations */

int store_schema_latest(void)
{
	return store_migrations[store_migrations_count - 1].version;
}

/* The migration text with the dialect's words in place of {ID} and {BLOB}.
 * Returns a malloc'd string or NULL. */
static char *dialect_sql(const struct store_driver *drv, const char *sql)
{
	const struct {
		const char *word, *with;
	} subst[] = {{"{ID}", drv->id_type}, {"{BLOB}", drv->blob_type}};
	size_t cap = strlen(sql) * 2 + 256, len = 0;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	for (const char *p = sql; *p;) {
		const char *with = NULL;
		size_t skip = 1;
		for (size_t i = 0; i < sizeof(subst) / sizeof(subst[0]); i++) {
			size_t wl = strlen(subst[i].word);
			if (strncmp(p, subst[i].word, wl) == 0) {
				with = subst[i].with;
				skip = wl;
			}
		}
		size_t add = with ? strlen(with) : 1;
		if (cap - len <= add) {
			cap = (cap + add) * 2;
			char *n = realloc(out, cap);
			if (!n) {
				free(out);
				return NULL;
			}
			out = n;
		}
		memcpy(out + len, with ? with : p, add);
		len += add;
		p += skip;
	}
	out[len] = 0;
	return out;
}

static int current_version(struct store *s, int64_t *ret)
{
	return store_query_int(s, "SELECT COALESCE(MAX(version), 0) FROM schema_version", NULL, 0,
	                       ret);
}

/* Apply one migration if the database is older; one transaction each, so a
 * crash leaves the database at the previous version, never in between. */
static int apply_migration(struct store *s, const struct store_migration *m)
{
	int64_t cur = 0;
	char *sql = NULL;
	int rc = store_tx_begin(s, true);
	if (rc)
		return rc;
	if (*s->drv->migration_lock) {
		rc = store_exec(s, s->drv->migration_lock, NULL, 0, NULL);
		if (rc)
			goto rollback;
	}
	rc = current_version(s, &cur);
	if (rc)
		goto rollback;
	if (cur >= m->version) {
		store_tx_rollback(s);
		return 0;
	}
	sql = dialect_sql(s->drv, m->sql);
	if (!sql) {
		rc = ATTEST_E_NOMEM;
		goto rollback;
	}
	rc = s->drv->script(s->conn, sql);
	if (rc)
		goto rollback;
	rc = store_exec(s,
	                "INSERT INTO schema_version (version, description, applied_at) "
	                "VALUES ($1, $2, $3)",
	                PARAMS(V_INT(m->version), V_TEXT(m->description), V_INT(time(NULL))), NULL);
	if (rc)
		goto rollback;
	free(sql);
	return store_tx_commit(s);
rollback:
	free(sql);
	store_tx_rollback(s);
	return rc;
}

static int migrate(struct store *s)
{
	int64_t cur = 0;
	int rc = s->drv->script(s->conn, "CREATE TABLE IF NOT EXISTS schema_version (\n"
	                                 "  version INTEGER PRIMARY KEY,\n"
	                                 "  description TEXT NOT NULL,\n"
	                                 "  applied_at BIGINT NOT NULL\n"
	                                 ")");
	if (rc)
		return rc;
	rc = current_version(s, &cur);
	if (rc)
		return rc;
	if (cur > store_schema_latest())
		return store_fail(s, ATTEST_E_UNSUPPORTED,
		                  "the database schema is newer than this program");
	for (size_t i = 0; i < store_migrations_count; i++) {
		rc = apply_migration(s, &store_migrations[i]);
		if (rc)
			return rc;
	}
	return 0;
}

int store_schema_version(struct store *s, int *ret)
{
	int64_t v = 0;
	int rc = current_version(s, &v);
	if (rc == 0)
		*ret = (int)v;
	return rc;
}

/* ------------------------------------------------------------------ */
/* Opening */

static char *msg_dup(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 3;
	char *m = malloc(n);
	if (m)
		snprintf(m, n, "%s: %s", a, b);
	return m;
}

int store_open(const char *url, struct store **ret, char **ret_err)
{
	const struct store_driver *drv = NULL;
	const char *target = NULL;
	char *err = NULL;
	int rc;

	if (!url || strnlen(url, STORE_URL_MAX + 1) > STORE_URL_MAX)
		return ATTEST_E_ARG;
	if (strncmp(url, "sqlite:", 7) == 0) {
		drv = &store_sqlite_driver;
		target = url + 7;
	} else if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0) {
#ifdef ATTEST_HAVE_LIBPQ
		drv = &store_pg_driver;
		target = url;
#else
		if (ret_err)
			*ret_err = msg_dup(url, "PostgreSQL support is not built in");
		return ATTEST_E_UNSUPPORTED;
#endif
	} else {
		if (ret_err)
			*ret_err =
			    msg_dup("database URL", "expected sqlite:PATH or postgresql://...");
		return ATTEST_E_ARG;
	}

	struct store *s = calloc(1, sizeof(*s));
	if (!s)
		return ATTEST_E_NOMEM;
	s->drv = drv;
	rc = drv->open(target, &s->conn, &err);
	if (rc) {
		free(s);
		if (ret_err)
			*ret_err = err ? err : msg_dup(drv->name, "cannot open the database");
		else
			free(err);
		return rc;
	}
	rc = migrate(s);
	if (rc) {
		if (ret_err)
			*ret_err = msg_dup("schema migration", store_errmsg(s));
		store_close(s);
		return rc;
	}
	*ret = s;
	return 0;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	s->drv->close(s->conn);
	free(s);
}
