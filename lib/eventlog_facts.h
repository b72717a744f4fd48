/* What an event log says, and whether its content can be believed.
 *
 * Three layers on top of eventlog_parse():
 *  - eventlog_event_describe(): one event's data decoded to a line of text;
 *  - eventlog_content_check(): for every event whose *data* decisions use,
 *    checks that its logged digests are the hash of that data under the
 *    spec's rule for its type (docs/eventlog.md lists the rules). A log can
 *    replay to the quoted PCRs and still lie about its content; this is
 *    where that is caught;
 *  - eventlog_facts_derive(): Secure Boot state, PK/KEK/db/dbx, firmware
 *    versions, boot applications, kernel and command line. A fact is taken
 *    only from events whose content check passed; a failed check makes the
 *    fact unknown, never a guess.
 *
 * Typical use (the verifier's policy engine):
 *     struct eventlog_checks *c;   eventlog_content_check(log, &c);
 *     struct eventlog_facts *f;    eventlog_facts_derive(log, c, &f);
 *     ... f->secure_boot, f->db.entries, f->boot_apps[i].path ...
 *     eventlog_facts_free(f); eventlog_checks_free(c);
 * Results borrow nothing from the log unless stated (event numbers index
 * log->events, so per-event digests come from there). */
#ifndef ATTEST_EVENTLOG_FACTS_H
#define ATTEST_EVENTLOG_FACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eventlog.h"

/* Detailed failures kept per check run (every failing event still gets its
 * status; beyond this only failure_count grows). */
#define EVENTLOG_MAX_CHECK_FAILURES 4096u
/* Strings kept in facts (firmware versions, boot applications). */
#define EVENTLOG_MAX_FACT_ITEMS 1024u
#define EVENTLOG_MAX_FACT_TEXT  4096u

/* Per-event content check status. */
enum eventlog_check {
	EVENTLOG_CHECK_NONE = 0,        /* no rule: the digest covers something not in the log */
	EVENTLOG_CHECK_PASS = 1,        /* every computable bank matches the rule */
	EVENTLOG_CHECK_FAIL = 2,        /* at least one bank does not */
	EVENTLOG_CHECK_UNVERIFIABLE = 3 /* has a rule, but no bank's hash can be computed */
};

struct eventlog_check_failure {
	uint32_t event; /* event number */
	uint32_t pcr;
	uint32_t type;
	uint16_t alg;
	uint16_t size;
	uint8_t expected[EVENTLOG_MAX_DIGEST]; /* hash of the data under the rule */
	uint8_t actual[EVENTLOG_MAX_DIGEST];   /* digest the log carries */
	const char *rule;                      /* static text naming the rule */
};

struct eventlog_checks {
	size_t event_count;
	uint8_t *status;      /* event_count entries of enum eventlog_check */
	size_t checked;       /* events that have a rule */
	size_t failed_events; /* events whose status is FAIL */
	size_t failure_count; /* failing (event, bank) pairs, all of them */
	size_t failures_kept; /* <= EVENTLOG_MAX_CHECK_FAILURES */
	struct eventlog_check_failure *failures;
};

/* Check every event's content. On success *ret is new (free with
 * eventlog_checks_free). Failures are results, not errors: the return is
 * 0 even when events fail; ATTEST_E_NOMEM / ATTEST_E_CRYPTO otherwise. */
int eventlog_content_check(const struct eventlog *log, struct eventlog_checks **ret);

/* The same, checking only bank only_alg (0: every bank, as above). The
 * verifier checks the bank it quotes: a digest in another bank does not
 * reach the PCRs it trusts, and each extra bank costs a full hash of the
 * checked data. An event is PASS when that bank matches. ATTEST_E_NOTFOUND
 * if the log has no such bank. */
int eventlog_content_check_bank(const struct eventlog *log, uint16_t only_alg,
                                struct eventlog_checks **ret);

/* NULL is fine. */
void eventlog_checks_free(struct eventlog_checks *c);

/* Sentence naming the content rule for an event type, or NULL if the type
 * has none. */
const char *eventlog_check_rule(uint32_t type);

/* Decode one event into a line of printable text (non-printable bytes
 * escaped) in buf (cap bytes, NUL-terminated, cut with "..." if needed).
 * Returns the length written, or ATTEST_E_ARG for a NULL/0-sized buffer.
 * Malformed data is described as such, never an error. */
int eventlog_event_describe(const struct eventlog_event *ev, char *buf, size_t cap);

enum eventlog_secure_boot {
	EVENTLOG_SECURE_BOOT_UNKNOWN = 0,
	EVENTLOG_SECURE_BOOT_ENABLED = 1,
	EVENTLOG_SECURE_BOOT_DISABLED = 2
};

/* "enabled", "disabled", "unknown". */
const char *eventlog_secure_boot_name(enum eventlog_secure_boot sb);

/* A signature database variable measured into PCR 7. */
struct eventlog_sigdb {
	bool present;     /* an EV_EFI_VARIABLE_DRIVER_CONFIG event for it exists */
	bool verified;    /* that event's content check passed */
	bool well_formed; /* its EFI_SIGNATURE_LISTs parse */
	uint32_t event;   /* event number (the last one if several) */
	uint32_t lists;   /* valid when verified && well_formed */
	uint32_t entries;
	size_t data_len; /* VariableData bytes */
};

struct eventlog_fact_text {
	uint32_t event;
	uint32_t type;
	bool verified; /* content check passed (false also means "no rule") */
	char *text;    /* owned by the facts */
};

struct eventlog_boot_app {
	uint32_t event;
	uint32_t pcr;
	char *path;        /* file path from the device path, else the rendering */
	char *device_path; /* full device path text; "" if the event has none */
};

struct eventlog_facts {
	bool is_uefi; /* the log has EV_EFI_* events */
	enum eventlog_secure_boot secure_boot;
	bool has_secure_boot_event;
	uint32_t secure_boot_event;
	struct eventlog_sigdb pk, kek, db, dbx;
	size_t firmware_count; /* S-CRTM versions, then firmware blob descriptions */
	struct eventlog_fact_text *firmware;
	size_t boot_app_count; /* EV_EFI_BOOT_SERVICES_APPLICATION, in log order */
	struct eventlog_boot_app *boot_apps;
	char *kernel_cmdline;            /* NULL if the log does not show it (verified only) */
	int64_t kernel_cmdline_event;    /* -1 if none */
	char *kernel_image;              /* NULL if unknown */
	int64_t kernel_image_event;      /* -1 if none */
	bool kernel_image_from_boot_app; /* true: guessed as the last boot application */
};

/* Derive facts from a parsed log and its content checks (checks must come
 * from eventlog_content_check on the same log). On success *ret is new
 * (free with eventlog_facts_free). ATTEST_E_ARG on mismatched inputs,
 * ATTEST_E_NOMEM. */
int eventlog_facts_derive(const struct eventlog *log, const struct eventlog_checks *checks,
                          struct eventlog_facts **ret);

/* NULL is fine. */
void eventlog_facts_free(struct eventlog_facts *f);

/* The event's digest in bank alg, or NULL. */
const struct eventlog_digest *eventlog_event_digest(const struct eventlog_event *ev, uint16_t alg);

/* eventlog_replay() for one bank only (0: every bank): the verifier needs
 * just the bank it quotes, and every other bank costs a hash per event.
 * Banks not replayed keep touched == 0. */
int eventlog_replay_bank(const struct eventlog *log, uint16_t only_alg, struct eventlog_pcrs *ret);

/* OpenSSL name of a TPM_ALG_ID ("SHA256", "SM3"), or NULL. */
const char *eventlog_alg_evp_name(uint16_t alg);

#endif
