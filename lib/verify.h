/* The verification pipeline: one attestation's evidence in, a verdict out.
 *
 * verify_attestation() runs the checks DESIGN.md lists, in this order, and
 * reports every failure as a reason (stable code from reason.h / quote.h, a
 * sentence, and the evidence: PCR, event, digests, what the policy allows):
 *
 *   1. signature by the enrolled AK      QUOTE_SIGNATURE_INVALID, ...
 *   2. magic / type                      QUOTE_BAD_MAGIC, QUOTE_BAD_TYPE
 *   3. extraData = qualifying data       NONCE_MISMATCH
 *   4. PCR digest                        PCR_DIGEST_MISMATCH, PCR_SELECTION_MISMATCH, ...
 *   5. restart counters / boot id        HOST_RESTARTED_REENROLLING
 *   6. event log parses                  EVENTLOG_MISSING, EVENTLOG_INVALID
 *   7. replay equals the quoted PCRs     EVENTLOG_REPLAY_MISMATCH (PCR + event)
 *   8. content of the events used        EVENT_CONTENT_MISMATCH (one per event)
 *   9. requirements                      SECURE_BOOT_DISABLED, SHA256_BANK_MISSING,
 *                                        NOT_UEFI, TPM_INTERFACE_NOT_ALLOWED,
 *                                        AGENT_VERSION_TOO_OLD, TPM_NOT_CERTIFIED
 *  10. the approved configuration        CONFIGURATION_NOT_APPROVED (one per difference)
 *
 * A quote whose signature does not verify (or that does not decode) stops
 * the pipeline: nothing else in that evidence can be believed.
 *
 * The verdict is GREEN only if every check ran and none failed. A check that
 * could not run (out of memory, OpenSSL failure, missing input) adds a
 * VERIFIER_ERROR reason and the verdict is RED: the verifier never comes out
 * green by not looking. A restart (step 5) alone gives RESTARTED: the caller
 * enrolls the host again (new AK) and attests afresh; with other failures
 * the verdict is RED and `restarted` is still set.
 *
 * Facts from the event log (Secure Boot, PK/KEK/db/dbx, firmware, boot
 * applications, kernel) count only when the event that shows them lies in a
 * quoted sha256 PCR whose replay matched and its content check did not fail;
 * otherwise the requirement or reference value they would satisfy fails. */
#ifndef ATTEST_VERIFY_H
#define ATTEST_VERIFY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "bundle.h"
#include "catalog.h"
#include "policy.h"

struct verify_memo;

#define VERIFY_MAX_REASONS 64u  /* further reasons are counted in reasons_dropped */
#define VERIFY_TEXT_MAX    512u /* message, description, allowed */
#define VERIFY_VALUE_MAX   160u /* expected / actual (hex digests or short text) */

enum verify_verdict {
	VERIFY_RED = 0, /* attestation failed (also: a check could not run) */
	VERIFY_GREEN = 1,
	VERIFY_RESTARTED = 2 /* only the restart was found: re-enroll, then attest */
};

/* What the agent reported about itself at enrollment/identity time. */
struct verify_host {
	const char *tpm_interface; /* "tis", "crb", "unknown"; NULL = unknown */
	const uint16_t *banks;     /* active PCR banks (TPM_ALG_IDs) */
	size_t bank_count;         /* 0: not reported (then the quote decides) */
	const char *agent_version; /* NULL: take metadata.agent_version */
	bool ek_certified;         /* EK chain verified at enrollment */
	const char *ek_trust;      /* tpm.ek_trust ("certified", "operator_certificate",
	                            * "operator_key"); NULL: "certified" if ek_certified */
};

/* What the verifier remembers from the host's last verified quote. */
struct verify_previous {
	bool have_clock; /* false: first attestation since enrollment */
	uint32_t reset_count;
	uint32_t restart_count;
	const char *boot_id; /* NULL: unknown */
};

struct verify_input {
	const struct bundle *bundle; /* parsed evidence (bundle_parse) */
	/* the enrolled AK: decoded, or marshalled TPM2B_PUBLIC (ak wins) */
	const TPMT_PUBLIC *ak;
	const uint8_t *ak_public;
	size_t ak_public_len;
	const uint8_t *nonce; /* the nonce the verifier sent */
	size_t nonce_len;
	struct verify_previous previous;
	struct verify_host host;
	const struct policy *policy; /* required */
	/* The software catalog (lib/catalog.h), or the part of it whose digests
	 * the log may show: names the boot applications in the software view
	 * and serves the policy's catalog rules. NULL/0: no catalog. */
	const struct catalog_entry *catalog;
	size_t catalog_count;
	/* Optional (verify_memo.h): the host's memo, read and refreshed by
	 * the call; NULL runs the whole pipeline every time. policy_digest
	 * (32 bytes) must change whenever policy does; without it only the
	 * log's replay and the AK key are memoized, not the conclusions. */
	struct verify_memo *memo;
	const uint8_t *policy_digest;
	/* Optional, 32 bytes: the SHA-256 of bundle->eventlog when the caller
	 * computed it already (it is then not hashed again), or, when the
	 * bundle says eventlog_unchanged, the digest the caller named in its
	 * quote request. An unchanged log is taken from the memo only when the
	 * memo holds a log of that digest, its replay equals every quoted PCR
	 * and its conclusions' key matches; otherwise the result is red with
	 * need_eventlog set, and the caller asks again without naming a digest
	 * (docs/security.md). */
	const uint8_t *eventlog_digest;
};

struct verify_reason {
	const char *code; /* static string, e.g. "SECURE_BOOT_DISABLED" */
	char message[VERIFY_TEXT_MAX];
	/* evidence; unset fields are -1 / 0 / "" */
	int pcr;
	uint16_t bank;                     /* TPM_ALG_ID */
	int64_t event;                     /* event number in the log */
	const char *event_type;            /* "EV_IPL", static */
	char description[VERIFY_TEXT_MAX]; /* the event decoded */
	char expected[VERIFY_VALUE_MAX];
	char actual[VERIFY_VALUE_MAX];
	char allowed[VERIFY_TEXT_MAX]; /* what the policy allows */
};

/* A software fact the event log claims but the evidence does not prove. */
struct verify_unverified {
	const char *field; /* "firmware", "boot_loader", "kernel_image", "kernel_cmdline" */
	char *value;       /* what the log says; owned */
	int64_t event;     /* the event that says it (-1: several) */
	int pcr;           /* its PCR (-1: several or none) */
	char why[VERIFY_TEXT_MAX];
};

#define VERIFY_SOFTWARE_FIELDS 4u  /* facts read from the event log */
#define VERIFY_MAX_COMPONENTS  16u /* boot applications named in the software view */

/* A measured boot application, named by the software catalog when its
 * digest is there. The digest is the measured one; the name is what the
 * catalog says about that digest, never the log's file path. */
struct verify_component {
	int64_t event;
	int pcr;
	char digest[65];             /* SHA-256 bank, hex */
	char log_path[256];          /* the path the log gives beside it ("" none) */
	bool verified;               /* its PCR is quoted and replays */
	bool in_catalog;             /* the catalog knows the digest */
	char kind[CATALOG_KIND_MAX]; /* from the catalog ("" if not in it) */
	char package[CATALOG_PACKAGE_MAX];
	char version[DEBVER_MAX + 1];
	char rule[128];             /* the policy's catalog rule that approves it ("" none) */
	char text[VERIFY_TEXT_MAX]; /* "kernel: linux-image-... 6.1.x-y, Debian, signed by ..."
	                             * or "<path or digest>: not in the catalog" */
};

/* Software deduced from the evidence; NULL when unknown. Owned.
 * firmware, boot_loader, kernel_image and kernel_cmdline are set only when
 * an event in a quoted sha256 PCR whose replay matched, and whose content
 * check passed (its digest is the hash of the text shown), says so. What
 * the log claims otherwise is in not_verified, with the reason, never in
 * those fields. kernel, os and agent_version are the agent's report
 * (metadata bound to the quote, not measured); tpm_firmware is from the
 * signed quote. */
struct verify_software {
	char *firmware;       /* S-CRTM version text */
	char *boot_loader;    /* boot applications' paths, " -> "-joined */
	char *kernel;         /* kernel release (metadata) */
	char *kernel_image;   /* from the event log */
	char *kernel_cmdline; /* from the event log */
	char *os;             /* metadata os_release */
	char *tpm_firmware;   /* quote's firmwareVersion, hex */
	char *agent_version;
	size_t not_verified_count;
	struct verify_unverified not_verified[VERIFY_SOFTWARE_FIELDS];
	size_t component_count;
	struct verify_component components[VERIFY_MAX_COMPONENTS];
};

struct verify_clock {
	bool known; /* the quote decoded and its signature verified */
	uint64_t clock;
	uint32_t reset_count;
	uint32_t restart_count;
	bool safe;
	char boot_id[128]; /* metadata boot_id ("" if none) */
};

struct verify_result {
	enum verify_verdict verdict;
	bool memo_hit;      /* the log was not parsed: the host's memo matched (verify_memo.h) */
	bool need_eventlog; /* an unchanged log the memo cannot stand for: ask with the log */
	bool restarted;     /* re-enroll before trusting again */
	size_t reason_count;
	size_t reasons_dropped;
	/* reason_count of them (at most VERIFY_MAX_REASONS), allocated as they
	 * come: a green result (none) costs no reason storage. A reason that
	 * cannot be stored for lack of memory is counted in reasons_dropped,
	 * which keeps the verdict red. */
	struct verify_reason *reasons;
	size_t reason_cap;
	struct verify_software software;
	struct verify_clock clock;
};

/* Run the pipeline. On return 0, *ret is a new result (free with
 * verify_result_free) whatever the verdict, including when a check could
 * not run. Returns ATTEST_E_ARG (in or ret NULL) or ATTEST_E_NOMEM (no
 * result could be allocated) otherwise, *ret untouched: the caller must
 * then treat the host as not attested. */
int verify_attestation(const struct verify_input *in, struct verify_result **ret);

/* What-if: evidence stored after an earlier verification (its quote,
 * nonce and PCR binding passed then) judged against in->policy, as
 * `attestctl policy check` does. in->bundle needs pcrs, eventlog and
 * metadata only (quote, signature and nonce are not read); steps 6-10 and
 * the software view run as in verify_attestation(); the selection is the
 * PCRs the stored values cover. Same returns as verify_attestation(). */
int verify_stored(const struct verify_input *in, struct verify_result **ret);

/* NULL is fine. */
void verify_result_free(struct verify_result *r);

/* "green", "red" or "unknown" (RESTARTED: unknown until re-enrolled). */
const char *verify_trust_name(const struct verify_result *r);

/* Whether a reason with this code is in the result. */
bool verify_result_has(const struct verify_result *r, const char *code);

/* The result as JSON: {"trust", "restarted", "reasons": [{"code", "message",
 * "evidence": {...}}], "reasons_dropped"?, "software": {...}, "clock": {...}}.
 * software holds the fields of struct verify_software (null when unknown),
 * "reported_by_agent": the names of the fields that are the agent's report,
 * "not_verified": {FIELD: {"value", "event"?, "pcr"?, "why"}} for what
 * the log claims without proof, and "components": [{"event", "pcr",
 * "digest", "log_path", "verified", "in_catalog", "kind", "package",
 * "version", "rule", "text"}] (docs/api.md, "Host object").
 * On success *ret is a new reference the caller json_decref()s.
 * ATTEST_E_NOMEM, ATTEST_E_ARG. */
int verify_result_json(const struct verify_result *r, json_t **ret);

/* Only the reasons array of verify_result_json (what storage keeps). */
int verify_reasons_json(const struct verify_result *r, json_t **ret);

/* The "reasons" and "software" members of verify_result_json() as text,
 * byte for byte what json_dumps(JSON_COMPACT) writes of them (the verdict's
 * stored texts), written directly without the tree (lib/verify_text.c).
 * Text that is not valid UTF-8 has its non-ASCII bytes written as '?', as
 * verify_result_json() does for the texts it takes from evidence. On
 * success *ret is a malloc'd NUL-terminated text the caller frees;
 * ATTEST_E_ARG, ATTEST_E_NOMEM (*ret untouched). */
int verify_reasons_text(const struct verify_result *r, char **ret);
int verify_software_text(const struct verify_result *r, char **ret);

#endif
