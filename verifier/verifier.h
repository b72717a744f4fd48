/* attest-verifier internals: the service state and the functions shared
 * by main.c, the operator API (api*.c, web.c) and the service modules
 * (scheduler.c, job.c, enroll.c, appraise.c, castore.c, metrics.c,
 * service.c). Dependencies go one way: main -> api* -> service modules ->
 * store; a service module never calls into the API (docs/architecture.md).
 *
 * Everything that must survive a restart lives in the store; what is here is
 * process-local (connections, timers, counters, jobs in flight). One thread
 * runs the libevent loop; the jobs' writes go to the storage writer thread
 * (store_writer.h), and the loop's own store calls (reads, operator writes)
 * wait at most --db-lock-wait-ms for a lock. */
#ifndef ATTEST_VERIFIER_H
#define ATTEST_VERIFIER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "https.h"
#include "store.h"
#include "store_writer.h"
#include "tlsid.h"

#define VERIFIER_DEFAULT_INTERVAL    60
#define VERIFIER_DEFAULT_CONCURRENCY 64
#define VERIFIER_DEFAULT_TIMEOUT_MS  10000
#define VERIFIER_DEFAULT_LEASE_S     30    /* a dead instance's hosts move within two of these */
#define VERIFIER_DEFAULT_DB_LOCK_MS  250   /* --db-lock-wait-ms: the loop's connection */
#define VERIFIER_WRITER_LOCK_MS      10000 /* the writer thread's connection */
#define VERIFIER_COMMIT_WINDOW_MS    50    /* --commit-window-ms: routine writes' window */
#define VERIFIER_MIN_LEASE_S         2
#define VERIFIER_MAX_CONCURRENCY     10000
#define VERIFIER_API_BODY_MAX        (64u * 1024u)   /* most request bodies */
#define VERIFIER_POLICY_BODY_MAX     (1024u * 1024u) /* policy documents */
#define VERIFIER_JSON_DEPTH_MAX      32
#define VERIFIER_NONCE_SIZE          32
#define VERIFIER_BACKOFF_MAX         3600 /* seconds between tries of an unreachable host */
#define VERIFIER_HIST_BUCKETS        12
/* An attestation's phases, timed (metrics.c): the claim's trip through the
 * storage writer; the job's start until its quote request is sent; the
 * agent's answer; the verification until the verdict is queued; the
 * verdict's group commit until it is reported. */
enum verifier_phase {
	PHASE_CLAIM,
	PHASE_START,
	PHASE_AGENT,
	PHASE_VERIFY,
	PHASE_COMMIT,
	/* Not a step of its own: of the agent phase, the time the agent said
	 * was its own (the quote answer's "timing"."total_ms", at most the
	 * agent phase), and the attestation's time less that: the verifier's
	 * and the network's share. Counted when the answer says. */
	PHASE_HOST,
	PHASE_OWN,
	VERIFIER_PHASES
};
#define VERIFIER_PHASE_BUCKETS 11
/* Kept-alive mutual-TLS connections to agents (docs/transport.md): at most
 * this many parked (one per host between its attestations; fewer when the
 * open-files limit is lower, verifier_agent_pool_max), each for at most
 * verifier_agent_idle_ms and 2 s less than the agent's Keep-Alive timeout. */
#define VERIFIER_AGENT_IDLE_MAX 20000
/* TLS sessions kept to resume the next connection to an agent (about 2 KB
 * each): a handshake without the certificate exchange when the kept-alive
 * connection is gone (attestation intervals longer than its idle time). */
#define VERIFIER_AGENT_SESSIONS_MAX 20000
/* Hosts whose event-log memo (lib/verify_memo.h, a few KB each) is kept. */
#define VERIFIER_MEMO_MAX       20000
#define VERIFIER_DEFAULT_CA_DIR "/usr/local/share/attest/tpm-cas"

/* The fleet watched as a whole (coverage.c) */
#define VERIFIER_DEFAULT_DEAD_MAN_S   600 /* --dead-man */
#define VERIFIER_DEFAULT_ALARM_HOLD_S 60  /* --alarm-hold */
#define VERIFIER_DEFAULT_STALL_S      60  /* --stall-seconds */

struct verifier_config {
	const char *listen;
	const char *push_listen; /* --push-listen, or NULL */
	const char *db_url;
	const char *data_dir;
	const char *ca_dir;
	char instance[STORE_NAME_MAX + 1];
	int64_t interval_s;
	unsigned concurrency;
	unsigned timeout_ms;
	int64_t evidence_validity_s;
	int64_t lease_s;     /* --lease-seconds: how long a claimed host stays ours unrenewed */
	unsigned db_lock_ms; /* --db-lock-wait-ms: the loop's connection's longest lock wait */
	int64_t agent_keepalive_s;   /* --agent-keepalive, -1: from the interval */
	unsigned coverage_alarm_pct; /* --coverage-alarm: 0 = no coverage alarm */
	int64_t dead_man_s;          /* --dead-man: 0 = no dead-man alarm */
	int64_t alarm_hold_s;        /* --alarm-hold: a coverage alarm changes after this long */
	int64_t stall_s;             /* --stall-seconds: /healthz's writer and scheduler limit */
	bool db_sync_full;           /* --db-sync full: every writer commit fsync'ed */
	unsigned commit_window_ms;   /* --commit-window-ms: routine writes share commits */
	bool ak_ecc;                 /* --ak-type ecc: ask agents for P-256 AKs, not RSA-2048 */
};

struct verifier_metrics {
	uint64_t attest_green, attest_red, attest_unknown, attest_error;
	uint64_t enroll_ok, enroll_failed;
	uint64_t hist[VERIFIER_HIST_BUCKETS + 1]; /* last one: +Inf */
	double hist_sum;
	uint64_t hist_count;
	uint64_t eventlog_memo_hit, eventlog_memo_miss; /* appraise.c */
	uint64_t eventlog_unchanged;                    /* quotes whose log the agent left out */
	uint64_t eventlog_asked_again;                  /* ... that the memo could not stand for */
	/* Where an attestation's time goes (metrics.c, VERIFIER_PHASES): per
	 * phase, a histogram over VERIFIER_PHASE_BUCKETS bounds (+Inf last)
	 * and the sum, in seconds. */
	uint64_t phase_hist[VERIFIER_PHASES][VERIFIER_PHASE_BUCKETS + 1];
	double phase_sum[VERIFIER_PHASES];
};

struct job;
struct learn;
struct ekcert_store;
struct castore;
struct waiter;
struct notifier;
struct push;

struct verifier {
	struct verifier_config cfg;
	struct event_base *base;
	struct store *store;
	struct tlsid *id;
	struct https_server *srv;
	struct https_client *cli;
	struct event *tick; /* scheduler timer */
	struct event *kick; /* run the scheduler now (on-demand attestation) */
	struct event *sigint, *sigterm;
	unsigned in_flight;
	uint64_t job_seq; /* jobs started so far */
	struct job *jobs; /* in flight (linked list) */
	struct waiter *waiters;
	struct learn *learns; /* policies to learn from a host's next evidence */
	struct verifier_metrics m;
	struct castore *castore;       /* the certified TPM list, cached (castore.c) */
	struct appraise_cache *acache; /* parsed policies, event-log memos (appraise_cache.c) */
	int64_t last_expire;
	struct store_writer *writer; /* writes off the loop, group commits (store_writer.h) */
	struct event *writer_ev;     /* its completions are waiting */
	bool claiming;               /* a lease claim is with the writer */
	bool backlog;                /* the last claim filled its room: more hosts may be due now */
	bool housekeeping;           /* an evidence expiry / nonce purge is with the writer */
	/* Claimed hosts whose jobs start one at a time (scheduler.c, "Pacing") */
	struct pending_start *pend_head, *pend_tail;
	unsigned pending;           /* how many: they hold slots of --concurrency */
	struct event *pace;         /* starts the next one */
	uint64_t pace_ns;           /* the gap between two starts now */
	uint64_t pace_cpu_ns;       /* the loop thread's CPU time at the last round */
	uint64_t pace_jobs;         /* job_seq at the last measure */
	int64_t pace_at;            /* when that was */
	bool stopping;              /* shutting down: claim nothing more */
	struct notifier *notifier;  /* the outbox's deliverer (notify.c) */
	int64_t last_round;         /* when the scheduler last ran a round (/healthz) */
	struct vcoverage *coverage; /* coverage, fleet alarms, health (coverage.c) */
	struct push *push;          /* --push-listen: agents' push channels (push.c), or NULL */
};

/* --- service.c --- */

/* Wall clock, unix seconds. */
int64_t verifier_now(void);
/* The most agent connections to keep between attestations (the open-files
 * limit raised toward the hard one first), and for how long, at an
 * attestation interval and --agent-keepalive (service.c). */
unsigned verifier_agent_pool_max(void);
unsigned verifier_agent_idle_ms(const struct verifier_config *cfg);
/* Add an event to the audit log (failures ignored: the action itself
 * succeeded). */
void verifier_event(struct verifier *v, int64_t host_id, const char *kind, const char *actor,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void verifier_vevent(struct verifier *v, int64_t host_id, const char *kind, const char *actor,
                     const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));
/* Parse stored JSON text (NULL or unparsable -> json null). */
json_t *verifier_json_stored(const char *text);
/* Hand a write to the storage writer thread (store_writer.h): work runs
 * there in a group commit, done runs on the loop once it committed or
 * failed. If it cannot be queued, done runs at once with the error: make
 * the call the last use of arg. */
void verifier_store_later(struct verifier *v, store_work_fn *work, store_done_fn *done, void *arg);
/* The same for routine work nobody waits on (a verdict, a lease release,
 * last evidence): it may wait up to --commit-window-ms for more to share its
 * group commit (store_writer_submit_window; bytes: about what it writes). */
void verifier_store_routine(struct verifier *v, store_work_fn *work, store_done_fn *done, void *arg,
                            size_t bytes);
/* A lease claim or renewal: on PostgreSQL run at once on the writer's apart
 * lane (store_writer_submit_apart), outside the groups that wait for the
 * audit chain's head; on SQLite in the groups, urgent or routine as asked. */
void verifier_store_apart(struct verifier *v, store_work_fn *work, store_done_fn *done, void *arg,
                          bool urgent);

/* --- castore.c: the certified TPM list --- */

/* Add every certificate in buf (DER, or PEM with several) to the certified
 * TPM list; each added one is appended to `added` (JSON array, may be NULL).
 * *ret_added / *ret_dup (may be NULL) count added and already present ones.
 * ATTEST_E_FORMAT if nothing in buf is a certificate. */
int castore_import(struct store *st, const uint8_t *buf, size_t len, const char *source,
                   json_t *added, size_t *ret_added, size_t *ret_dup);
/* On the database's first start (first), import --ca-dir (or the default
 * directory if it exists) unless the list holds a CA already. */
int castore_import_dir(struct verifier *v, bool first);
/* The certified TPM list as a trust store, borrowed: valid until the next
 * castore_get or castore_free. Reloaded from the store only when the list
 * changed (store_ca_marker), by this instance or another. */
int castore_get(struct verifier *v, const struct ekcert_store **ret);
void castore_free(struct verifier *v);

/* --- appraise_cache.c: what attestation keeps between two runs --- */

struct appraise_cache;
struct verify_memo;
struct policy;
struct policy_error;
struct store_loop_markers;
/* The policy of host host_id, whose row names policy_id (0: the default;
 * -1: not known, ask the store by host), parsed only when its stored text
 * changed, and read from the store only when the policies' change counter
 * moved since it was read (appraise_markers). Borrowed: valid until the
 * next call. *ret_digest: 32 bytes naming that text (for
 * verify_input.policy_digest). Errors as host_policy_load. */
int appraise_policy(struct verifier *v, int64_t host_id, int64_t policy_id,
                    const struct policy **ret, const uint8_t **ret_digest,
                    struct policy_error *err);
/* A scheduler round's read of the markers (NULL: the read failed: trust no
 * cached policy id or catalog marker until the next one). */
void appraise_markers(struct verifier *v, const struct store_loop_markers *m);
/* The catalog marker came from a recent round: no need to read it. */
bool appraise_catalog_fresh(struct verifier *v);
/* The host's event-log memo (created on first use; NULL without memory). */
/* The parsed policy of digest, if still cached (no store access), else NULL. */
const struct policy *appraise_policy_seen(struct verifier *v, const uint8_t digest[32],
                                          const uint8_t **ret_digest);
struct verify_memo *appraise_memo(struct verifier *v, int64_t host_id);
/* Drop the host's memo (re-enrolled: a new AK, a new boot). */
void appraise_forget(struct verifier *v, int64_t host_id);
/* The SHA-256 of the log host_id's memo stands for (named in the quote
 * request so the agent may leave the log out), or NULL. */
const uint8_t *appraise_log_held(struct verifier *v, int64_t host_id);
/* The boot digests of host_id's log (catalog_appraise.c) if they were kept
 * for the log with SHA-256 log; set keeps them (only for a host with a memo). */
bool appraise_boot_digests(struct verifier *v, int64_t host_id, const uint8_t log[32],
                           const uint8_t (**ret)[32], size_t *ret_n);
void appraise_boot_digests_set(struct verifier *v, int64_t host_id, const uint8_t log[32],
                               const uint8_t (*d)[32], size_t n);
/* Whether this instance last wrote the host's stored evidence with the log
 * of SHA-256 log, and when (*ret_at); set records it (NULL: unknown). */
bool appraise_kept_log(struct verifier *v, int64_t host_id, const uint8_t log[32], int64_t *ret_at);
void appraise_kept_log_set(struct verifier *v, int64_t host_id, const uint8_t *log, int64_t at);
/* What appraise.c parsed from host_id's stored TPM facts (hosts.tpm_json),
 * kept in its memo entry under the SHA-256 of that text: get returns it
 * (borrowed, valid until the entry changes) when digest is the same; set
 * hands over a malloc'd block (freed with the entry) and returns true, or
 * returns false when the host has no memo entry (the caller keeps it). */
void *appraise_facts(struct verifier *v, int64_t host_id, const uint8_t digest[32]);
bool appraise_facts_set(struct verifier *v, int64_t host_id, const uint8_t digest[32], void *facts);
/* The public area of host_id's AK kept in its memo entry, if that AK's Name
 * (lowercase hex, as the host row names its current AK) is name_hex: the
 * Name is a digest of the public area and AK Names are never reused, so a
 * match is the current AK without reading it again. Borrowed: valid until
 * the host's entry changes. set keeps one (only for a host with a memo). */
bool appraise_ak(struct verifier *v, int64_t host_id, const char *name_hex, uint8_t **ret_public,
                 size_t *ret_len);
void appraise_ak_set(struct verifier *v, int64_t host_id, const char *name_hex,
                     const uint8_t *public_area, size_t len);
struct catalog_entry;
/* The catalog's entries by digest: marker empties them when the catalog
 * table changed; get finds the entries of a digest looked up before (none
 * is an answer too); put takes e (n of them, may be NULL). */
int appraise_catalog_marker(struct verifier *v, int64_t count, int64_t max_id);
bool appraise_catalog_get(struct verifier *v, const uint8_t d[32], const struct catalog_entry **ret,
                          size_t *ret_n);
void appraise_catalog_put(struct verifier *v, const uint8_t d[32], struct catalog_entry *e,
                          size_t n);
void appraise_cache_free(struct verifier *v);

/* --- metrics.c --- */

/* Count a verdict (trust t) and its attestation's duration. */
void metrics_verdict(struct verifier *v, enum store_trust t, double secs);
/* The duration histogram's bucket bounds (VERIFIER_HIST_BUCKETS of them). */
const double *metrics_hist_bounds(void);
/* Count one phase of an attestation, from t0 to t1 (CLOCK_MONOTONIC). */
void metrics_phase(struct verifier *v, enum verifier_phase ph, const struct timespec *t0,
                   const struct timespec *t1);
/* The same, for a length of time already known (seconds, < 0 as 0). */
void metrics_phase_secs(struct verifier *v, enum verifier_phase ph, double secs);
/* The phase histogram's bounds (VERIFIER_PHASE_BUCKETS), its phases' names. */
const double *metrics_phase_bounds(void);
const char *metrics_phase_name(enum verifier_phase ph);
struct textbuf;
/* Append the phase histograms to a /metrics page. */
void metrics_phases_render(const struct verifier *v, struct textbuf *b);

/* --- coverage.c: the fleet watched as a whole --- */

struct textbuf;
/* Start the periodic coverage read and fleet alarm evaluation (reads once
 * now). 0 or ATTEST_E_NOMEM. */
int coverage_start(struct verifier *v);
void coverage_free(struct verifier *v);
/* Route GET /healthz (no token): 200 or 503 with the reasons. */
int coverage_register(struct verifier *v);
/* The cached coverage as the status route's "coverage" object (new
 * reference; json null before the first read). */
json_t *coverage_json(struct verifier *v);
/* The coverage gauges for /metrics. */
void coverage_metrics(struct verifier *v, struct textbuf *b);

/* --- scheduler.c (the jobs themselves: job.h) --- */

/* Start the scheduler timers. 0 or ATTEST_E_NOMEM. */
int scheduler_start(struct verifier *v);
void scheduler_stop(struct verifier *v);
/* Run a scheduler round soon (after a host became due). */
void scheduler_kick(struct verifier *v);
/* Whether a job runs for host_id. */
bool scheduler_busy(const struct verifier *v, int64_t host_id);
/* How a wait ended: an attestation of the host that started after the
 * wait began has finished; none finished in time; the scheduler is being
 * freed (shutdown: answer nothing, free arg). */
enum scheduler_wait_end { SCHEDULER_WAIT_DONE, SCHEDULER_WAIT_TIMEOUT, SCHEDULER_WAIT_CANCELLED };
typedef void (*scheduler_wait_fn)(struct verifier *v, int64_t host_id, enum scheduler_wait_end end,
                                  void *arg);
/* Call fn(arg) once, when an attestation of host_id that starts after this
 * call has finished, after a timeout (long enough for a restart's two
 * enrollments and quotes), or at scheduler_free. 0 or ATTEST_E_NOMEM (fn is
 * then never called). */
int scheduler_wait(struct verifier *v, int64_t host_id, scheduler_wait_fn fn, void *arg);
/* Learn policy `name` from the next evidence of host_id that verifies
 * (quote, nonce, replay; only approved-configuration differences allowed)
 * and answer req with 201 and the policy, or 409 if the host cannot be
 * attested. Takes a copy of name and actor. */
void scheduler_learn(struct verifier *v, int64_t host_id, const char *name, const char *actor,
                     struct https_request *req);
/* Drop waiters and jobs (shutdown). */
void scheduler_free(struct verifier *v);

/* --- push.c: the push carrier (docs/protocol.md, "Push carrier") --- */

/* Listen for pushing agents on listen (mutual TLS). 0 or a negative
 * ATTEST_E_* (logged); push_stop undoes a partial start. */
int push_start(struct verifier *v, const char *listen);
/* The bound port (0 without --push-listen). */
uint16_t push_port(const struct verifier *v);
/* Channels open now. */
size_t push_channels(const struct verifier *v);
/* Carry call (method, path, body, timeout_ms, retry_safe; host and pin are
 * not used) to push host host_id's agent over its channel. Same contract as
 * https_client_request: done runs exactly once, later, with a result whose
 * error is HTTPS_E_CONNECT when the agent holds no channel here and
 * HTTPS_E_TIMEOUT when it does not answer in time. ATTEST_E_NOMEM /
 * ATTEST_E_CRYPTO: done is not called. */
int push_request(struct verifier *v, int64_t host_id, const struct https_call *call,
                 https_done_fn done, void *arg);
/* Close every channel and the listener; calls in flight are dropped
 * without their callbacks (shutdown). */
void push_stop(struct verifier *v);

/* --- api.c --- */

/* Register every route. 0 or a negative ATTEST_E_*. */
int api_register(struct verifier *v);
/* The route table, one "METHOD PATTERN ROLE BODY_CAP" line each (--routes). */
void api_routes_print(FILE *f);
/* Host record as API JSON (new reference, NULL if out of memory). */
json_t *api_host_json(const struct store_host *h);
/* Host reply by id (with status). */
void api_reply_host(struct verifier *v, struct https_request *req, int status, int64_t host_id);

/* --- api_admin.c --- */
int api_admin_register(struct verifier *v);

/* --- api_evidence.c: the last evidence (dashboard Security view; kept by
 * appraise.c) --- */
/* GET /api/v1/hosts/NAME/evidence (called by api.c's host routes). */
void api_evidence_host(struct verifier *v, struct https_request *req, const struct store_host *h);
/* POST /api/v1/policies with "dry_run": true (called by api_admin.c; body is
 * the parsed request, borrowed). */
void api_evidence_dry_run(struct verifier *v, struct https_request *req, json_t *body);

/* --- api_ek.c: PUT/DELETE /api/v1/hosts/NAME/ek-cert (called by api.c) --- */
struct api_ctx;
/* PUT (body: {"pem"} or {"der"}) and DELETE /api/v1/hosts/NAME/ek-cert
 * (api_ek.c). */
#define API_EK_CERT_MAX (16u * 1024u) /* a certificate; EK certificates are ~1-2 kB */
void api_host_ek_cert_put(struct verifier *v, struct https_request *req, const struct store_host *h,
                          const struct api_ctx *ctx, json_t *body);
void api_host_ek_cert_delete(struct verifier *v, struct https_request *req,
                             const struct store_host *h, const struct api_ctx *ctx);

/* --- web.c: the dashboard's static assets --- */
int web_register(struct verifier *v);

/* Shared API helpers (api.c) */
struct api_ctx {
	struct verifier *v;
	enum store_role role;
	char actor[STORE_NAME_MAX + 1];
};
/* Authenticate; on failure replies (401/403) and returns false. */
bool api_auth(struct verifier *v, struct https_request *req, bool change, bool admin_only,
              struct api_ctx *ctx);
/* Parse the JSON object body (size cap, depth cap); replies 400/413 on failure. */
bool api_body(struct https_request *req, size_t cap, json_t **ret);
/* Every key of obj must be in the NULL-terminated list; replies 400 otherwise. */
bool api_known_fields(struct https_request *req, json_t *obj, const char *const *keys);
/* Reply with the error for a store failure (404/409/400/500). */
void api_store_error(struct verifier *v, struct https_request *req, int rc, const char *what);
/* Parse limit/offset query parameters; replies 400 on failure. */
bool api_page(struct https_request *req, struct store_page *page);
/* Optional integer query parameter; replies 400 on failure. */
bool api_query_int(struct https_request *req, const char *name, int64_t *val);
/* Timestamp as JSON (0 -> null). */
json_t *api_time(int64_t t);
/* Parse stored JSON text (NULL -> json null). */
json_t *api_parse_stored(const char *text);
/* An operator's change and its event (with the event's audit record) in one
 * transaction, so that no change is ever stored without its record:
 *   int rc = api_change_begin(v);
 *   if (rc == 0) rc = store_...(...);            (the change, any number)
 *   rc = api_change_end(v, rc, host_id, kind, actor, "fmt", ...);
 * api_change_end writes the event when rc is 0 and commits, or rolls
 * everything back; it returns the final code (the change's error, the
 * event's, or the commit's), for api_store_error. fmt NULL: no event there,
 * the change wrote its own with api_change_event (one per item changed). */
int api_change_begin(struct verifier *v);
int api_change_event(struct verifier *v, int64_t host_id, const char *kind, const char *actor,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int api_change_end(struct verifier *v, int rc, int64_t host_id, const char *kind, const char *actor,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* verifier_split_address() and api_name_ok() are in api_parse.h. */
#include "api_parse.h"

#endif
