/* Notification targets and their outbox (store_notify.c; the tables are
 * schema v7 in store_schema.c; docs/storage.md, "The outbox").
 *
 * An event that must reach people (an alarm, a trust change, a host added
 * or removed, a fleet coverage alarm) is put in the outbox by the code that
 * writes the event, INSIDE its transaction: one row per target subscribed
 * to the event's kind. The deliverer (notify.c) claims due rows with a
 * lease, delivers them and writes the outcome. So an event and its
 * deliveries are committed together or not at all, and a verifier that
 * dies after the commit leaves the rows to the next one (at-least-once).
 *
 * Conventions as store.h. */
#ifndef ATTEST_STORE_NOTIFY_H
#define ATTEST_STORE_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

#define STORE_NOTIFY_SECRET_MAX   1024 /* HMAC key bytes */
#define STORE_NOTIFY_CA_MAX       (64 * 1024)
#define STORE_NOTIFY_DOC_MAX      (64 * 1024) /* one event document */
#define STORE_NOTIFY_TARGETS_MAX  100
#define STORE_NOTIFY_ATTEMPTS_MAX 100
#define STORE_NOTIFY_ATTEMPTS_DEF 16
#define STORE_NOTIFY_DEAD_SHOWN   50   /* dead letters listed per target */
#define STORE_NOTIFY_BACKOFF_BASE 2    /* seconds before the 2nd attempt; doubles */
#define STORE_NOTIFY_BACKOFF_MAX  3600 /* longest wait between two attempts */

/* Whether kind is one of the event kinds ("alarm", "trust", "host",
 * "coverage"). */
bool store_notify_kind_ok(const char *kind);
/* Whether a comma-separated list of kinds is valid (non-empty, each known,
 * none twice). */
bool store_notify_events_ok(const char *events);

struct store_notify_new {
	const char *name;
	const char *url; /* https://HOST[:PORT][/PATH], unix:/PATH, tcp://IP:PORT, tls://IP:PORT */
	const char *events;    /* NULL: every kind */
	const uint8_t *secret; /* NULL: none */
	size_t secret_len;
	const char *ca_pem;     /* NULL: none */
	const char *thumbprint; /* NULL: none */
	int64_t max_attempts;   /* 0: STORE_NOTIFY_ATTEMPTS_DEF */
};

struct store_notify_dead {
	int64_t id;
	char *kind, *idem_key, *last_error;
	int64_t created_at, dead_at, attempts;
};

struct store_notify_target {
	int64_t id;
	char *name, *url, *events, *thumbprint;
	bool has_secret, has_ca;
	int64_t max_attempts, delivered, failed, created_at;
	char *last_error;
	int64_t last_error_at, last_delivered_at;
	int64_t pending, dead;           /* outbox rows now */
	struct store_notify_dead *deadv; /* store_notify_get only: newest first */
	size_t ndead;
};
struct store_notify_list {
	struct store_notify_target *v;
	size_t n;
};

/* Add a target (ATTEST_E_EXISTS for a taken name, ATTEST_E_LIMIT beyond
 * STORE_NOTIFY_TARGETS_MAX). The secret is copied into the database. */
int store_notify_add(struct store *s, const struct store_notify_new *t, int64_t now,
                     int64_t *ret_id);
int store_notify_list(struct store *s, struct store_notify_list **ret);
/* One target with its newest dead letters. */
int store_notify_get(struct store *s, const char *name, struct store_notify_target **ret);
/* Remove a target and its outbox rows (dead letters included). */
int store_notify_remove(struct store *s, const char *name);
void store_notify_target_free(struct store_notify_target *t);
void store_notify_list_free(struct store_notify_list *l);

/* THE function other code calls inside its own transaction (it may run in
 * a store_tx, a group commit of the writer, or alone): queue the event
 * document json_doc (a JSON object, at most STORE_NOTIFY_DOC_MAX) of kind
 * (alarm | trust | host | coverage) for every target subscribed to kind.
 * The body sent is json_doc with three members set: "idempotency_key" (one
 * random key per event, the same for each target), "kind" and "at" (now).
 * No target subscribed: nothing written, returns 0. ATTEST_E_ARG for a bad
 * kind or document. */
int store_outbox_enqueue(struct store *s, const char *kind, const char *json_doc, int64_t now);
/* store_outbox_enqueue of a host's event, the document built here:
 * {"host", "address", "event", "trust" (to, or the host's current state),
 * "from" (when not NULL), "reasons" (reasons_json or [])}. */
int store_outbox_host(struct store *s, const char *kind, int64_t host_id, const char *event,
                      const char *from, const char *to, const char *reasons_json, int64_t now);
/* Queue a test delivery (kind "test") to one target. */
int store_outbox_enqueue_test(struct store *s, const char *target, const char *actor, int64_t now);

/* A claimed delivery, with what it takes to send it. */
struct store_delivery {
	int64_t id, target_id, attempts, max_attempts;
	char *kind, *idem_key, *body, *target, *url, *ca_pem, *thumbprint;
	uint8_t *secret; /* wiped by store_delivery_list_free */
	size_t secret_len;
};
struct store_delivery_list {
	struct store_delivery *v;
	size_t n;
};
void store_delivery_list_free(struct store_delivery_list *l);
/* Free one delivery's members (the secret wiped). */
void store_delivery_clear(struct store_delivery *d);

/* Whether some row is due and unleased now (a read, for the loop's
 * connection: claim only then). */
int store_outbox_due(struct store *s, int64_t now, bool *ret);
/* Lease up to max due rows (oldest first) to owner for lease_s seconds;
 * with PostgreSQL concurrent claimers skip each other's rows. */
int store_outbox_claim(struct store *s, const char *owner, int64_t now, int64_t lease_s, size_t max,
                       struct store_delivery_list **ret);
/* The outcome of one attempt of a claimed row (ATTEST_E_STATE if the lease
 * is no longer owner's: another instance has it, nothing written).
 * delivered: the row is deleted. Otherwise error says why; the row is
 * retried after an exponential backoff, or becomes a dead letter when
 * permanent or its attempts reach the target's budget. *ret_dead (may be
 * NULL) says which. */
int store_outbox_result(struct store *s, int64_t id, const char *owner, bool delivered,
                        bool permanent, const char *error, int64_t now, bool *ret_dead);
/* Release the rows still leased to owner (an earlier run of this instance
 * that died while delivering): they are claimed again at once rather than
 * when the lease runs out. */
int store_outbox_release(struct store *s, const char *owner);
/* Rows waiting (not dead) and dead letters, every target. */
int store_outbox_depth(struct store *s, int64_t *ret_pending, int64_t *ret_dead);

#endif
