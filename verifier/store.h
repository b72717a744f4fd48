/* The verifier's storage interface (docs/storage.md).
 *
 * Everything the verifier must not lose lives behind this one interface:
 * inventory, AKs, nonces, trust and connection states, alarms, history,
 * policies, the certified TPM list and API token hashes. A verifier holds no
 * in-process state another instance would need: several verifiers may share
 * one database (PostgreSQL) and divide the hosts through leases stored in it.
 *
 * Backends: "sqlite:PATH" (embedded default) and "postgresql://..." (libpq,
 * when built in). Both run the same schema and migrations (store_schema.c)
 * and the same SQL (store.c, store_hosts.c, store_admin.c); a backend is
 * only a small driver (store_driver.h).
 *
 * Conventions for every function below:
 * - returns 0 or a negative ATTEST_E_* code: ATTEST_E_NOTFOUND for a missing
 *   row, ATTEST_E_EXISTS for a unique-key conflict (nothing is changed),
 *   ATTEST_E_STATE for an operation the current rows forbid (lost lease,
 *   nonce already used, policy still assigned), ATTEST_E_ARG / ATTEST_E_LIMIT
 *   for bad or oversized input (checked before touching the database),
 *   ATTEST_E_IO for a database failure (store_errmsg() says which);
 * - out-parameters come last and are untouched on failure; records returned
 *   through `**ret` are allocated and freed with the matching *_free(), which
 *   accepts NULL;
 * - "now" is a parameter (unix seconds): the store never reads the clock;
 * - a timestamp of 0 means "never / not set" (SQL NULL); a counter of -1
 *   means "not known";
 * - a struct store is one database connection: use it from one thread at a
 *   time (open one per thread).
 */
#ifndef ATTEST_STORE_H
#define ATTEST_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reason.h"

/* Caps, checked before anything is written or allocated. */
#define STORE_URL_MAX          4096
#define STORE_NAME_MAX         255           /* host, policy, token names; actors */
#define STORE_TEXT_MAX         4096          /* addresses, messages, summaries, subjects */
#define STORE_JSON_MAX         (1024 * 1024) /* any JSON column (policy bodies are the largest) */
#define STORE_BLOB_MAX         (64 * 1024)   /* EK/AK public areas, CA certificates */
#define STORE_NONCE_MAX        64
#define STORE_AK_NAME_MAX      66   /* TPM2B_NAME: 2-byte nameAlg + SHA-512 digest */
#define STORE_TOKEN_HASH_SIZE  32   /* SHA-256 */
#define STORE_PAGE_DEFAULT     100  /* list size when the caller passes limit 0 */
#define STORE_PAGE_MAX         1000 /* larger limits are refused with ATTEST_E_LIMIT */
#define STORE_RESULTS_PER_HOST 500  /* attestation results kept per host (oldest dropped) */
#define STORE_CLAIM_MAX        1000 /* hosts one store_claim_due_hosts() call may lease */

enum store_trust { STORE_TRUST_UNKNOWN = 0, STORE_TRUST_GREEN, STORE_TRUST_RED };
enum store_conn { STORE_CONN_DISCONNECTED = 0, STORE_CONN_CONNECTED, STORE_CONN_NOT_RESPONDING };
enum store_role { STORE_ROLE_VIEWER = 0, STORE_ROLE_ADMIN };

/* Names used in the database, the API and the CLI ("green", "not_responding",
 * "admin", ...). The *_parse functions return ATTEST_E_ARG for other text. */
const char *store_trust_name(enum store_trust t);
const char *store_conn_name(enum store_conn c);
const char *store_role_name(enum store_role r);
int store_trust_parse(const char *s, enum store_trust *ret);
int store_conn_parse(const char *s, enum store_conn *ret);
int store_role_parse(const char *s, enum store_role *ret);

/* ------------------------------------------------------------------ */
/* Opening */

struct store;

/* Open (creating if needed) the database named by url and bring its schema
 * up to date: "sqlite:PATH" or "postgresql://..." / "postgres://...".
 * A new SQLite file is created with mode 0600. ATTEST_E_ARG for an unknown
 * scheme, ATTEST_E_UNSUPPORTED for a backend not built in or a database
 * whose schema is newer than this program, ATTEST_E_IO if it cannot be
 * opened or migrated. When ret_err is not NULL, a failure also sets *ret_err
 * to a malloc'd sentence saying why (caller frees). */
int store_open(const char *url, struct store **ret, char **ret_err);

/* Close the connection. Accepts NULL. */
void store_close(struct store *s);

/* "sqlite" or "postgresql". */
const char *store_backend_name(const struct store *s);

/* The database's message for the last failed call on s (never NULL). */
const char *store_errmsg(const struct store *s);

/* How long a call on s waits for another connection's lock before it fails
 * with ATTEST_E_IO and store_busy() true (SQLite: busy_timeout, 10 s when
 * opened; PostgreSQL: the session's lock_timeout, the server's default when
 * opened). The verifier's event loop keeps its connection short (never
 * stalled by a lock) and leaves long waits to the writer thread
 * (store_writer.h). */
int store_set_lock_wait(struct store *s, unsigned ms);

/* Whether the last failed call on s failed because the database was locked
 * by another connection for longer than the lock wait (retrying later can
 * succeed; nothing of the call was written). */
bool store_busy(const struct store *s);

/* Several store calls as one write transaction: between store_write_begin
 * and store_write_commit, each call's own transaction becomes a savepoint
 * (it keeps its all-or-nothing guarantee), and the whole is committed at
 * once or not at all. On a failure, call store_write_rollback: nothing of
 * the calls is written. (SQLite takes the write lock at the begin, waiting
 * at most the lock wait.) */
int store_write_begin(struct store *s);
int store_write_commit(struct store *s);
void store_write_rollback(struct store *s);

/* Schema version in the database (the newest applied migration). */
int store_schema_version(struct store *s, int *ret);

/* Newest schema version this program knows. */
int store_schema_latest(void);

/* Paging for list functions: at most `limit` rows (0 = STORE_PAGE_DEFAULT,
 * above STORE_PAGE_MAX = ATTEST_E_LIMIT) after skipping `offset`. */
struct store_page {
	uint32_t limit;
	uint64_t offset;
};

/* ------------------------------------------------------------------ */
/* Hosts */

struct store_host {
	int64_t id;
	char *name;
	char *address;     /* host:port of the agent */
	char *thumbprint;  /* pinned agent TLS certificate, e.g. "SHA256:ab12..", or NULL */
	int64_t policy_id; /* 0: the default policy */
	char *policy_name; /* NULL when policy_id is 0 */
	bool enabled;      /* operator intent: false after "disconnect" (not scheduled) */
	enum store_conn connection;
	enum store_trust trust;
	char *reasons_json; /* JSON array of {code, message, evidence}; "[]" when none */
	int64_t last_attested, last_seen, evidence_expires;
	char *tpm_json;     /* TPM identity read at connect time, or NULL (none read / no TPM) */
	uint8_t *ek_public; /* TPM2B_PUBLIC of the EK, or NULL */
	size_t ek_public_len;
	bool ek_certified;   /* EK certificate chains to the certified TPM list */
	char *software_json; /* software versions deduced from the evidence, or NULL */
	char *ak_name;       /* hex Name of the current AK, or NULL */
	int64_t reset_count, restart_count; /* last seen in a quote; -1 unknown */
	char *boot_id;                      /* last seen, or NULL */
	int64_t interval_s;                 /* attestation interval */
	int64_t next_due;                   /* when the host is next due for attestation */
	int64_t failures;  /* consecutive failures to reach the host (for backoff) */
	char *lease_owner; /* verifier instance holding the host, or NULL */
	int64_t lease_expires;
	int64_t created_at, updated_at;
	bool push;           /* mode 'push': the agent connects to us (verifier/push.c) */
	char *push_instance; /* push: the instance holding its channel, or NULL */
};

struct store_host_list {
	size_t n;
	struct store_host *v;
};

void store_host_free(struct store_host *h);
void store_host_list_free(struct store_host_list *l);

struct store_host_new {
	const char *name;       /* unique, 1..STORE_NAME_MAX printable characters */
	const char *address;    /* host:port */
	const char *thumbprint; /* may be NULL (pinned on first contact) */
	int64_t policy_id;      /* 0: the default policy */
	int64_t interval_s;     /* > 0 */
	bool push;              /* push mode: address is "", thumbprint required */
};

/* Add a host (trust unknown, connection disconnected, enabled, due now).
 * *ret_id is its id. ATTEST_E_EXISTS if the name is taken, ATTEST_E_NOTFOUND
 * if policy_id names no policy. The caller logs the admin event (and checks
 * store_host_with_thumbprint() first: one agent is one host). */
int store_host_add(struct store *s, const struct store_host_new *h, int64_t now, int64_t *ret_id);

/* Fetch one host by id or by name. ATTEST_E_NOTFOUND if absent. */
int store_host_get(struct store *s, int64_t id, struct store_host **ret);
int store_host_get_by_name(struct store *s, const char *name, struct store_host **ret);

/* The name of a host other than exclude_id (0: none excluded) that already
 * has this agent certificate thumbprint (an agent is one host), or this EK
 * public area (a TPM is one host): 0 and *ret_name (caller frees), or
 * ATTEST_E_NOTFOUND if there is none. */
int store_host_with_thumbprint(struct store *s, const char *thumbprint, int64_t exclude_id,
                               char **ret_name);
int store_host_with_ek(struct store *s, const uint8_t *ek_public, size_t len, int64_t exclude_id,
                       char **ret_name);

/* Hosts ordered by name, one page. */
int store_host_list(struct store *s, const struct store_page *page, struct store_host_list **ret);
int store_host_count(struct store *s, int64_t *ret);

/* The fleet view's query (GET /api/v1/hosts): filter, sort and page in SQL.
 * Every sort ends with the host name, so the order is total and a page
 * boundary never repeats or skips a host. */
enum store_host_sort {
	STORE_SORT_NAME = 0,
	STORE_SORT_TRUST,         /* red, unknown, green; then connection, name */
	STORE_SORT_CONNECTION,    /* not_responding, disconnected, connected; then trust, name */
	STORE_SORT_LAST_ATTESTED, /* never first; then name */
	STORE_SORT_LAST_SEEN,     /* never first; then name */
	STORE_SORT_ADDRESS,       /* then name */
};
#define STORE_QUERY_TEXT_MAX 255 /* bytes of the name/address substring */

struct store_host_query {
	bool by_trust; /* only hosts whose trust is `trust` */
	enum store_trust trust;
	bool by_conn; /* only hosts whose connection is `conn` */
	enum store_conn conn;
	const char *text;  /* NULL or "": any; else a substring of the name or the address,
	                      ASCII letters matched without case; no control characters */
	int64_t policy_id; /* > 0: only hosts judged against that policy: assigned to it,
	                      or unassigned when policy_default says it is the default */
	bool policy_default;
	enum store_host_sort sort;
	bool desc; /* every sort key reversed */
};

/* One page of the hosts q selects (NULL: all, by name) and *ret_total (may
 * be NULL), how many hosts it selects in all; both read in one transaction.
 * ATTEST_E_ARG / ATTEST_E_LIMIT for a bad sort or text. */
int store_host_query(struct store *s, const struct store_host_query *q,
                     const struct store_page *page, struct store_host_list **ret,
                     int64_t *ret_total);
/* The sort's word in the API ("name", "trust", "connection", "last_attested",
 * "last_seen", "address"); parse returns ATTEST_E_ARG for other text. */
const char *store_host_sort_name(enum store_host_sort sort);
int store_host_sort_parse(const char *s, enum store_host_sort *ret);

/* Hosts per state, the whole fleet, from one aggregate query (no row is
 * read into memory): indexes are enum store_trust / enum store_conn. */
struct store_host_tally {
	int64_t total, trust[3], conn[3], matrix[3][3]; /* matrix[trust][conn] */
};
int store_host_tally(struct store *s, struct store_host_tally *ret);

/* Delete a host with its AKs, nonces, results and alarms; its events stay
 * (with the host's name). ATTEST_E_NOTFOUND if absent. */
int store_host_remove(struct store *s, int64_t id);

/* Single-field updates; each sets updated_at = now. ATTEST_E_NOTFOUND if the
 * host (or, for set_policy, the policy; 0 = default) does not exist. */
int store_host_set_address(struct store *s, int64_t id, const char *address, int64_t now);
int store_host_set_thumbprint(struct store *s, int64_t id, const char *thumbprint, int64_t now);
int store_host_set_policy(struct store *s, int64_t id, int64_t policy_id, int64_t now);
int store_host_set_enabled(struct store *s, int64_t id, bool enabled, int64_t now);
int store_host_set_interval(struct store *s, int64_t id, int64_t interval_s, int64_t now);
/* Make the host due at `next_due` (now = attest as soon as possible). With
 * wanted_by (an instance name, or NULL), that instance may claim the host
 * at once whichever instance attested it last (lease affinity): the one an
 * operator or a waiting caller asked. The claim clears the mark. */
int store_host_set_next_due(struct store *s, int64_t id, int64_t next_due, const char *wanted_by,
                            int64_t now);

/* Record the connection state. When it differs from the stored one, an event
 * (kind "connection", actor, message) is written in the same transaction and
 * *ret_changed (may be NULL) is true. Connected also sets last_seen = now. */
int store_host_set_connection(struct store *s, int64_t id, enum store_conn c, const char *actor,
                              const char *message, int64_t now, bool *ret_changed);

/* TPM identity read at connect time. tpm_json NULL clears it (no TPM). */
struct store_identity {
	const char
	    *tpm_json; /* JSON object: manufacturer, model, firmware, interface, banks, ... */
	const uint8_t *ek_public; /* may be NULL */
	size_t ek_public_len;
	bool ek_certified;
};
int store_host_set_identity(struct store *s, int64_t id, const struct store_identity *ident,
                            int64_t now);

/* What the operator supplied for a host's EK (store_ek.c): a certificate
 * (DER, at most STORE_BLOB_MAX; NULL clears) and the approved EK key hash
 * ("SHA256:" + 64 lowercase hex; NULL clears). ATTEST_E_NOTFOUND without
 * the host. */
int store_host_set_ek_cert(struct store *s, int64_t id, const uint8_t *der, size_t len,
                           int64_t now);
int store_host_set_ek_key(struct store *s, int64_t id, const char *sha256, int64_t now);
/* Both, as stored: *ret_der (caller frees; NULL if none) and *ret_key
 * (caller frees; NULL if none). */
int store_host_get_ek_operator(struct store *s, int64_t id, uint8_t **ret_der, size_t *ret_len,
                               char **ret_key);

/* Restart counters and boot id last seen (-1 / NULL = unknown). */
int store_host_set_boot(struct store *s, int64_t id, int64_t reset_count, int64_t restart_count,
                        const char *boot_id, int64_t now);

/* A new trust verdict for a host. */
struct store_verdict {
	int64_t host_id;
	enum store_trust trust;
	const char *reasons_json;  /* JSON array; NULL = "[]" */
	bool attested;             /* a completed attestation: sets last_attested = now, appends
	                              to the result history (below fields used) */
	int64_t duration_ms;       /* attestation time, request to verdict */
	int64_t started_ms;        /* when it started, unix milliseconds (0 = not known) */
	int64_t evidence_expires;  /* 0 = keep */
	const char *software_json; /* JSON object; NULL = keep */
	/* what it was judged from, for the audit record (NULL: none) */
	const struct store_audit_evidence *evidence;
	/* Optional, written by the same UPDATE of the host's row (a job's end,
	 * docs/storage.md "Writes per attestation"): the connection state, as
	 * store_host_set_connection would (its event when it changes), and the
	 * release of lease_owner's lease, as store_lease_release would. */
	bool set_conn;
	enum store_conn conn;
	const char *conn_msg; /* the connection event's message; may be NULL */
	bool release;
	int64_t next_due; /* release: when the host is due again */
	int64_t failures; /* release: the count of failed tries, -1 = keep */
};

struct store_transition {
	enum store_trust previous;
	bool changed;     /* previous != new trust */
	int64_t alarm_id; /* alarm raised by this call, or 0 */
	int64_t cleared;  /* alarms cleared by this call */
};

/* Store a verdict in ONE transaction: the host's trust and reasons; the
 * result history (capped at STORE_RESULTS_PER_HOST per host); on a change,
 * an event (kind "trust"); on entering red, an alarm (raised once, however
 * many instances race: the transition is compared inside the transaction
 * and at most one open alarm per host exists); on green, every open alarm of
 * the host cleared. With lease_owner non-NULL, nothing is written unless that
 * owner holds a live lease on the host (ATTEST_E_STATE: a slower instance
 * whose lease expired cannot overwrite a newer verdict); the history row
 * records lease_owner as the instance. *ret may be NULL. */
int store_host_set_trust(struct store *s, const struct store_verdict *v, const char *lease_owner,
                         const char *actor, int64_t now, struct store_transition *ret);

/* ------------------------------------------------------------------ */
/* Durability of commits (docs/storage.md, "Durability") */

/* full (the default of every connection): each commit is on disk before it
 * returns. Not full: a commit survives the process being killed, and an OS
 * crash or power loss may lose the last ones, except a transaction that
 * carries a change of state (a trust or connection transition, an alarm
 * raised or cleared, evidence expired, AKs retired): the store functions
 * writing those make it durable on their own (store_durable). Call outside
 * a transaction. */
int store_set_sync(struct store *s, bool full);

/* Reason code stored when evidence expires (lib/reason.h). */
#define STORE_REASON_EVIDENCE_EXPIRED REASON_EVIDENCE_EXPIRED

/* Every green host whose evidence expired (evidence_expires <= now) becomes
 * unknown with reason STORE_REASON_EVIDENCE_EXPIRED and a "trust" event, in
 * one transaction; safe to run from every instance. *ret_n (may be NULL) is
 * the number of hosts changed. */
int store_expire_evidence(struct store *s, int64_t now, int64_t *ret_n);

/* ------------------------------------------------------------------ */
/* Push channels (push_store.c, docs/protocol.md "Push carrier") */

/* The push host whose pinned thumbprint is tp (canonical): its id and
 * whether it is enabled. ATTEST_E_NOTFOUND if no push host pins it. */
int store_push_host_by_thumbprint(struct store *s, const char *tp, int64_t *ret_id,
                                  bool *ret_enabled);
/* instance now holds host_id's channel (seen now): the host is due at due
 * at the latest (a new channel is attested without waiting for its
 * interval). */
int store_push_attach(struct store *s, int64_t host_id, const char *instance, int64_t now,
                      int64_t due);
/* instance no longer holds host_id's channel (no-op if another does). */
int store_push_detach(struct store *s, int64_t host_id, const char *instance);
/* instance still holds its channels: its one push_beats row says now (the
 * hosts it holds count as seen then; STORE_PUSH_CLAIM). */
int store_push_heartbeat(struct store *s, const char *instance, int64_t now);

/* ------------------------------------------------------------------ */
/* Leases and scheduling (several verifier instances, docs/storage.md) */

/* Lease up to max (<= STORE_CLAIM_MAX) hosts that are enabled, due
 * (next_due <= now) and not leased (or whose lease expired) to owner until
 * now + lease_seconds, earliest due first. Exclusive: two instances never get
 * the same host while its lease is live (SQLite: one writer; PostgreSQL:
 * FOR UPDATE SKIP LOCKED). *ret holds the leased hosts (possibly none). */
/* A push host is taken only by the instance holding its agent's channel
 * (push_instance), or by any instance when none holds it or the holder has
 * been silent for STORE_PUSH_STALE_LEASES lease periods (it died): neither
 * the channel's attach (push_seen) nor the holder's heartbeat (push_beats)
 * is that recent. That instance then finds no channel and writes
 * not_responding. */
#define STORE_PUSH_STALE_LEASES 2
#define STORE_PUSH_CLAIM                                                                           \
	"AND (mode = 'pull' OR push_instance IS NULL OR push_instance = $1 "                       \
	"OR push_seen IS NULL OR (push_seen < $5 AND NOT EXISTS (SELECT 1 FROM push_beats "        \
	"WHERE push_beats.instance = hosts.push_instance AND push_beats.seen >= $5))) "
int store_claim_due_hosts(struct store *s, const char *owner, int64_t now, int64_t lease_seconds,
                          size_t max, struct store_host_list **ret);
/* Lease affinity: a due host whose last verdict another instance wrote is
 * left to that instance for this many seconds past its due time (half a
 * lease, at least 1 s), unless this instance holds less than its share of
 * the hosts (docs/storage.md, "Leases"). */
int64_t store_claim_grace(int64_t lease_seconds);

/* Extend owner's lease on a host to now + lease_seconds. ATTEST_E_STATE if
 * owner no longer holds a live lease (another instance may have the host). */
int store_lease_renew(struct store *s, int64_t host_id, const char *owner, int64_t now,
                      int64_t lease_seconds);

/* Take the lease from whoever holds it (an operator reset the host's
 * identity: what an attestation in flight concluded from the old one must
 * not be written). The holder's renewal, release and verdict are refused
 * from then on (ATTEST_E_STATE), as after an expiry. ATTEST_E_NOTFOUND if
 * there is no such host. */
int store_lease_drop(struct store *s, int64_t host_id, int64_t now);

/* Give the host back: clear the lease, set next_due and the consecutive
 * failure count (-1 = keep). ATTEST_E_STATE if owner does not hold it. */
int store_lease_release(struct store *s, int64_t host_id, const char *owner, int64_t next_due,
                        int64_t failures, int64_t now);

/* ------------------------------------------------------------------ */
/* AKs */

struct store_ak {
	int64_t id, host_id;
	char *name_hex;       /* TPM Name (nameAlg || digest), lowercase hex */
	uint8_t *public_area; /* TPM2B_PUBLIC as received */
	size_t public_len;
	int64_t enrolled_at, retired_at; /* retired_at 0: current */
};

void store_ak_free(struct store_ak *ak);

/* Store an AK whose credential activation succeeded, retiring (for good)
 * every earlier AK of the host, and log an "ak" event, in one transaction.
 * ATTEST_E_EXISTS if that AK Name was ever stored (an AK is never
 * re-enrolled), ATTEST_E_NOTFOUND if the host does not exist. With
 * lease_owner non-NULL, nothing is stored unless that owner holds a live
 * lease on the host (ATTEST_E_STATE), as for a verdict. */
int store_ak_enroll(struct store *s, int64_t host_id, const char *lease_owner, const uint8_t *name,
                    size_t name_len, const uint8_t *public_area, size_t public_len, int64_t now,
                    int64_t *ret_id);

/* The host's current AK. ATTEST_E_NOTFOUND if none (never enrolled, or retired). */
int store_ak_current(struct store *s, int64_t host_id, struct store_ak **ret);

/* Is name the host's current, non-retired AK? 0 if yes; ATTEST_E_STATE if it
 * was the host's AK and is retired; ATTEST_E_NOTFOUND if it never was. */
int store_ak_check(struct store *s, int64_t host_id, const uint8_t *name, size_t name_len);

/* Retire the host's current AK (reconnect, TPM gone). *ret_n (may be NULL)
 * is how many were retired (0 or 1). */
int store_ak_retire_all(struct store *s, int64_t host_id, int64_t now, int64_t *ret_n);

/* ------------------------------------------------------------------ */
/* Nonces: single use, short validity, shared by all instances */

/* Remember a nonce issued to a host, valid until expires_at.
 * ATTEST_E_EXISTS if the value was ever issued (draw a new one). */
int store_nonce_add(struct store *s, int64_t host_id, const uint8_t *nonce, size_t len, int64_t now,
                    int64_t expires_at);

/* Consume a nonce atomically, once across all instances: 0 if it was issued
 * to host_id, unused and unexpired (it is now used); ATTEST_E_STATE if it was
 * already used or has expired; ATTEST_E_NOTFOUND if it was never issued to
 * this host (or was purged). */
int store_nonce_consume(struct store *s, int64_t host_id, const uint8_t *nonce, size_t len,
                        int64_t now);

/* Record a nonce as issued at issued_at and used now, in one row: the
 * verifier keeps a quote's nonce on its job until the answer and writes it
 * with the verdict (docs/security.md, "Nonces"). ATTEST_E_EXISTS if the
 * value was ever recorded (that verdict must not be stored). */
int store_nonce_used(struct store *s, int64_t host_id, const uint8_t *nonce, size_t len,
                     int64_t issued_at, int64_t expires_at, int64_t now);

/* Delete nonces that expired before `before` (safe: a purged nonce is
 * refused as unknown). *ret_n (may be NULL) is the count deleted. */
int store_nonce_purge(struct store *s, int64_t before, int64_t *ret_n);

/* ------------------------------------------------------------------ */
/* Attestation results (history written by store_host_set_trust) */

struct store_result {
	int64_t id, host_id, at;
	enum store_trust trust;
	char *reasons_json;
	int64_t duration_ms;
	int64_t started_ms; /* unix milliseconds, 0 if not recorded */
	char *instance;     /* lease owner that wrote it, or NULL */
};

struct store_result_list {
	size_t n;
	struct store_result *v;
};

void store_result_list_free(struct store_result_list *l);

/* A host's results, newest first. */
int store_result_list(struct store *s, int64_t host_id, const struct store_page *page,
                      struct store_result_list **ret);

/* ------------------------------------------------------------------ */
/* Alarms (raised and cleared by store_host_set_trust) */

struct store_alarm {
	int64_t id, host_id; /* host_id 0: a fleet alarm (kind not "host") */
	char *host_name;     /* NULL for a fleet alarm */
	char *kind;          /* "host", or a fleet kind: "coverage", "dead_man" */
	int64_t raised_at;
	char *summary;      /* reason codes, e.g. "SECURE_BOOT_DISABLED, TPM_NOT_CERTIFIED" */
	char *reasons_json; /* the reasons when raised */
	int64_t cleared_at, acked_at;
	char *acked_by;
};

struct store_alarm_list {
	size_t n;
	struct store_alarm *v;
};

void store_alarm_free(struct store_alarm *a);
void store_alarm_list_free(struct store_alarm_list *l);

struct store_alarm_filter {
	int64_t host_id;   /* 0: all hosts */
	bool open_only;    /* not cleared */
	bool unacked_only; /* not acknowledged */
};

/* Alarms, newest first. filter may be NULL (all). */
int store_alarm_list(struct store *s, const struct store_alarm_filter *filter,
                     const struct store_page *page, struct store_alarm_list **ret);
int store_alarm_get(struct store *s, int64_t id, struct store_alarm **ret);

/* Acknowledge an alarm (and log an "alarm" event). ATTEST_E_NOTFOUND if
 * absent, ATTEST_E_STATE if already acknowledged. */
int store_alarm_ack(struct store *s, int64_t id, const char *by, int64_t now);

/* ------------------------------------------------------------------ */
/* The fleet watched as a whole (store_fleet.c; verifier/coverage.c) */

/* Hosts whose last verdict was written by one verifier instance. */
struct store_coverage_group {
	char *instance;  /* NULL: hosts never attested (or before schema 7) */
	int64_t enabled; /* enabled hosts */
	int64_t covered; /* ... whose last verdict is younger than its validity */
	int64_t newest;  /* newest verdict among them (0: none) */
};

#define STORE_COVERAGE_GROUPS_MAX 256 /* instances listed; the fleet counts all */

struct store_coverage {
	size_t n; /* groups listed (at most STORE_COVERAGE_GROUPS_MAX) */
	struct store_coverage_group *v;
	int64_t enabled, covered, newest; /* the whole fleet */
};

void store_coverage_free(struct store_coverage *c);

/* Coverage at time now, in one aggregate read of the hosts table: a host
 * is covered when enabled and its last verdict (last_attested: green or
 * red) is younger than max(validity_s, 3 x its own interval), grouped by
 * the instance that wrote that verdict. Caller frees *ret. */
int store_coverage_read(struct store *s, int64_t now, int64_t validity_s,
                        struct store_coverage **ret);

enum store_fleet_alarm { STORE_FLEET_COVERAGE, STORE_FLEET_DEAD_MAN };
#define STORE_FLEET_ALARMS 2

/* "coverage", "dead_man" (the alarms.kind word), or NULL. */
const char *store_fleet_alarm_name(enum store_fleet_alarm kind);

/* Raise (open true) or clear (false) the fleet alarm of kind, in one
 * transaction with its "alarm" event. Idempotent across instances: at most
 * one open alarm of each kind exists (alarms_one_fleet_open), so raising an
 * open one or clearing a cleared one changes nothing and writes no event.
 * reasons_json is the JSON array of reasons of a raise (its codes become the
 * summary); message the event's sentence. *ret_changed (may be NULL): this
 * call raised or cleared it. */
int store_fleet_alarm_set(struct store *s, enum store_fleet_alarm kind, bool open,
                          const char *reasons_json, const char *message, int64_t now,
                          bool *ret_changed);

/* The open fleet alarms: bit (1u << kind) set for each. */
int store_fleet_alarms_open(struct store *s, unsigned *ret_mask);

/* ------------------------------------------------------------------ */
/* Event history: every state change (written by the store in the same
 * transaction as the change) and every admin action (written by the API
 * layer with store_event_add). */

struct store_event {
	int64_t id, at, host_id; /* host_id 0: not about a host, or host removed */
	char *host_name;         /* the host's name when the event was written */
	char *kind;              /* "trust", "connection", "alarm", "ak", "host", "policy", ... */
	char *actor;             /* "verifier", or the token name of an operator */
	char *message;
	char *details_json; /* JSON object or NULL */
};

struct store_event_list {
	size_t n;
	struct store_event *v;
};

void store_event_list_free(struct store_event_list *l);

struct store_event_new {
	int64_t host_id; /* 0: none */
	const char *kind, *actor, *message;
	const char *details_json; /* JSON object, may be NULL */
};

/* Append an event. ATTEST_E_NOTFOUND if host_id names no host. */
int store_event_add(struct store *s, const struct store_event_new *e, int64_t now, int64_t *ret_id);

struct store_event_filter {
	int64_t host_id;   /* 0: any */
	const char *kind;  /* NULL: any */
	int64_t since;     /* at >= since (0: no bound) */
	int64_t until;     /* at < until (0: no bound) */
	int64_t before_id; /* cursor: id < before_id (0: from the newest) */
};

/* Events, newest first (pass the last id returned as before_id for the next
 * page; page->offset also works). filter may be NULL. */
int store_event_list(struct store *s, const struct store_event_filter *filter,
                     const struct store_page *page, struct store_event_list **ret);

/* Delete events older than `before`. */
int store_event_purge(struct store *s, int64_t before, int64_t *ret_n);

/* ------------------------------------------------------------------ */
/* Policies (approved configurations) */

struct store_policy {
	int64_t id;
	char *name;
	char *body_json; /* the policy document (format: docs/policy.md) */
	bool is_default;
	int64_t nhosts; /* hosts assigned explicitly */
	int64_t created_at, updated_at;
};

struct store_policy_list {
	size_t n;
	struct store_policy *v;
};

void store_policy_free(struct store_policy *p);
void store_policy_list_free(struct store_policy_list *l);

/* Add a policy; it becomes the default only if make_default is set (an
 * approved configuration learned from one host must never silently become
 * every host's). At most one default exists; with none, the verifier uses
 * the built-in policy_default().
 * ATTEST_E_EXISTS if the name is taken. */
int store_policy_add(struct store *s, const char *name, const char *body_json, bool make_default,
                     int64_t now, int64_t *ret_id);
int store_policy_get(struct store *s, int64_t id, struct store_policy **ret);
int store_policy_get_by_name(struct store *s, const char *name, struct store_policy **ret);
/* ATTEST_E_NOTFOUND if no policy exists yet. */
int store_policy_get_default(struct store *s, struct store_policy **ret);
/* The host's assigned policy, or the default (nhosts not counted: 0).
 * ATTEST_E_NOTFOUND if the host does not exist or there is no policy. */
int store_policy_for_host(struct store *s, int64_t host_id, struct store_policy **ret);
int store_policy_list(struct store *s, const struct store_page *page,
                      struct store_policy_list **ret);
int store_policy_update(struct store *s, int64_t id, const char *body_json, int64_t now);
/* Make id the one default. */
int store_policy_set_default(struct store *s, int64_t id, int64_t now);
/* ATTEST_E_STATE if it is the default or hosts are assigned to it. */
int store_policy_remove(struct store *s, int64_t id);

/* ------------------------------------------------------------------ */
/* Certified TPM list: vendor CA certificates */

struct store_ca {
	int64_t id;
	char *fingerprint; /* SHA-256 of the DER, lowercase hex */
	char *subject;
	uint8_t *der;
	size_t der_len;
	char *source; /* "builtin", "attestctl", a file name ... */
	int64_t added_at;
};

struct store_ca_list {
	size_t n;
	struct store_ca *v;
};

void store_ca_free(struct store_ca *c);
void store_ca_list_free(struct store_ca_list *l);

/* Add a CA certificate (the store computes its fingerprint; the caller has
 * parsed it and gives its subject). ATTEST_E_EXISTS if already present. */
int store_ca_add(struct store *s, const uint8_t *der, size_t der_len, const char *subject,
                 const char *source, int64_t now, int64_t *ret_id);
int store_ca_get_by_fingerprint(struct store *s, const char *fingerprint_hex,
                                struct store_ca **ret);
/* Ordered by id. */
int store_ca_list(struct store *s, const struct store_page *page, struct store_ca_list **ret);
int store_ca_remove(struct store *s, int64_t id);
/* How many CAs the list holds and the highest id. Ids are never reused
 * (both backends' keys only grow), so any addition raises max_id and any
 * removal alone lowers count: an unchanged pair is an unchanged list. */
int store_ca_marker(struct store *s, int64_t *ret_count, int64_t *ret_max_id);

/* ------------------------------------------------------------------ */
/* API tokens: only SHA-256(token) is stored, never the token */

struct store_token {
	int64_t id;
	char *name;
	enum store_role role;
	int64_t created_at;
};

struct store_token_list {
	size_t n;
	struct store_token *v;
};

void store_token_free(struct store_token *t);
void store_token_list_free(struct store_token_list *l);

/* SHA-256 of the token's bytes: the only form the store keeps. */
int store_token_hash(const char *token, size_t len, uint8_t out[static STORE_TOKEN_HASH_SIZE]);

/* ATTEST_E_EXISTS if the name or the hash exists. */
int store_token_add(struct store *s, const char *name, enum store_role role,
                    const uint8_t hash[static STORE_TOKEN_HASH_SIZE], int64_t now, int64_t *ret_id);

/* The token whose hash this is, or ATTEST_E_NOTFOUND. Looking up by a hash
 * leaks nothing useful through timing (an attacker would need preimages);
 * the stored hash is still compared with CRYPTO_memcmp before success. */
int store_token_lookup(struct store *s, const uint8_t hash[static STORE_TOKEN_HASH_SIZE],
                       struct store_token **ret);
int store_token_list(struct store *s, const struct store_page *page, struct store_token_list **ret);
int store_token_remove(struct store *s, int64_t id);

/* ------------------------------------------------------------------ */
/* Last evidence: each host's newest attestation evidence (store_evidence.c),
 * for the dashboard's Security view and dry-run policy learning. One row
 * per host, replaced on every completed attestation, removed with the host. */

#define STORE_EVIDENCE_LOG_MAX (16 * 1024 * 1024) /* EVENTLOG_MAX_SIZE */

struct store_evidence {
	int64_t host_id;
	int64_t at;        /* when it was verified */
	uint8_t *eventlog; /* raw event log as the agent sent it, or NULL */
	size_t eventlog_len;
	char *pcrs_json;     /* quoted PCR values: {"sha256": {"0": "hex", ...}, ...} */
	char *metadata_json; /* the quote's metadata object, or NULL */
	bool verified;       /* every check passed but, possibly, the approved
	                        configuration (what learning a policy needs) */
};

/* NULL is fine. */
void store_evidence_free(struct store_evidence *e);

/* Replace the host's last evidence with e (unless the stored one is newer
 * than e->at). ATTEST_E_STATE if the host does not exist (removed). */
int store_evidence_put(struct store *s, const struct store_evidence *e);

/* Like store_evidence_put but the stored event log is left as it is: for
 * a quote whose log is the one this instance stored at prev_at. If the row
 * is no longer the one written at prev_at (another instance wrote since),
 * nothing changes and ATTEST_E_NOTFOUND says to put the whole evidence. */
int store_evidence_touch(struct store *s, const struct store_evidence *e, int64_t prev_at);

/* The host's last evidence. ATTEST_E_NOTFOUND if none was stored. */
int store_evidence_get(struct store *s, int64_t host_id, struct store_evidence **ret);

/* ------------------------------------------------------------------ */
/* The audit chain (store_audit.c, schema migration 8; lib/audit.h defines a
 * record's canonical bytes and hash; docs/security.md what it proves) */

#define STORE_AUDIT_PAGE_MAX 5000 /* records per store_audit_list call */

/* What a verdict was judged from, for its audit record (may be absent: a
 * verdict reached before any evidence, e.g. an agent error). */
struct store_audit_evidence {
	/* JSON object: the evidence bundle's members (ak_public, quote,
	 * signature, nonce, pcrs, metadata) without the log, plus
	 * eventlog_sha256 and policy_digest (hex) */
	const char *json;
	const char *eventlog_sha256; /* lowercase hex; NULL: no log */
	const uint8_t *eventlog;     /* the log's bytes when at hand, else NULL:
	                                kept once per digest in audit_eventlogs */
	size_t eventlog_len;
};

/* Append one record to the audit chain: seq = last + 1, at = now, the host's
 * current name (host_id 0: none), body = json_body (a JSON object, compact;
 * hashed exactly as given) and hash = SHA-256(previous hash || canonical
 * bytes) (lib/audit.h). Call it inside the transaction of the change it
 * records, so both commit or neither does; outside a transaction it runs in
 * one of its own. Appends are serialized by a lock on the chain's head row
 * (PostgreSQL: SELECT ... FOR UPDATE; SQLite: the write lock), and a rolled
 * back transaction or savepoint takes its record and the head with it, so
 * the chain has no gap. Costs three statements (lock the head, insert,
 * move the head). ATTEST_E_ARG on a kind/actor that cannot be a record field
 * (lib/audit.h: control characters, above 1024 bytes), ATTEST_E_FORMAT on a
 * body that is not a JSON object. */
int store_audit_append(struct store *s, const char *kind, const char *actor, int64_t host_id,
                       const char *json_body, int64_t now);

/* One record as stored (hashes as lowercase hex). */
struct store_audit {
	int64_t seq, at;
	char *kind, *actor;
	int64_t host_id;
	char *host_name; /* "" when none */
	char *body;
	char *prev_hash, *hash;
};
struct store_audit_list {
	struct store_audit *v;
	size_t n;
};
void store_audit_list_free(struct store_audit_list *l);

/* Records with seq > after, in seq order, at most limit (1 ..
 * STORE_AUDIT_PAGE_MAX, else ATTEST_E_LIMIT). */
int store_audit_list(struct store *s, int64_t after, int64_t limit, struct store_audit_list **ret);

/* The chain's head: the last seq and its hash (0 and 64 zeros: empty).
 * hash holds 65 bytes. */
int store_audit_head(struct store *s, int64_t *ret_seq, char ret_hash[static 65]);

/* Prune the chain's records up to and including seq `through` (retention,
 * after an export): they are deleted and one record of kind "audit" is
 * appended, {"event": "pruned", "records": N, "through": SEQ,
 * "through_hash": HEX}, whose through_hash is the hash the first record kept
 * links to; `audit verify` then starts there and accepts the missing start
 * only because this record, inside the chain, accounts for it. Must run in
 * the caller's write transaction. ATTEST_E_ARG: through < 1 or beyond the
 * head; ATTEST_E_NOTFOUND: record `through` is gone already (pruned).
 * Event logs are kept (one per distinct log). */
int store_audit_prune(struct store *s, int64_t through, const char *actor, int64_t now,
                      int64_t *ret_deleted, char ret_hash[static 65]);

/* An event log an audit record names, by its SHA-256 (hex). Caller frees
 * *ret. ATTEST_E_NOTFOUND if not kept. */
int store_audit_eventlog(struct store *s, const char *sha256_hex, uint8_t **ret, size_t *ret_len);

#endif
