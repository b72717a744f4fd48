/* Approved configurations (policies): what a host must satisfy to be green.
 *
 * A policy is a JSON document (docs/policy.md gives the format with
 * examples): "requirements" (Secure Boot, PCR banks, UEFI, certified TPM,
 * TPM interface, minimum agent version, the PCRs to quote) and optional
 * "reference" values (firmware, boot applications, kernel command lines and
 * images, PK/KEK/db/dbx, per-PCR values). A reference value that is absent
 * is not checked; one that is present must match.
 *
 * Parsing is strict: sizes, nesting and counts are capped, and an unknown
 * key is an error that names the key, so a typo never silently weakens a
 * policy. policy_to_json() writes the canonical form (keys sorted, every
 * requirement spelled out), which parses back to the same policy.
 *
 * Reference digests are SHA-256 (the bank attest requires), lowercase hex. */
#ifndef ATTEST_POLICY_H
#define ATTEST_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "diag.h"
#include "eventlog.h"
#include "eventlog_facts.h"
#include "policy_catalog.h"
#include "quote.h"

#define POLICY_VERSION     1u
#define POLICY_MAX_SIZE    (1024u * 1024) /* JSON text bytes */
#define POLICY_MAX_DEPTH   6u             /* nesting of objects/arrays */
#define POLICY_MAX_ITEMS   1024u          /* entries in any one list */
#define POLICY_MAX_TEXT    4096u          /* bytes of any one string */
#define POLICY_MAX_BANKS   4u             /* banks in requirements/reference */
#define POLICY_DIGEST_SIZE 32u            /* SHA-256 */

/* TPM interfaces (bit mask in requirements.tpm_interfaces). */
#define POLICY_TPM_TIS 0x1u
#define POLICY_TPM_CRB 0x2u

/* How a host's EK may be trusted (tpm.ek_trust; requirements.ek_trust). */
#define POLICY_EK_CERTIFIED            0x1u /* EK certificate from the TPM's NV */
#define POLICY_EK_OPERATOR_CERTIFICATE 0x2u /* certificate the operator supplied */
#define POLICY_EK_OPERATOR_KEY         0x4u /* EK key hash the operator approved */

/* The POLICY_EK_* bit of an ek_trust word ("certified", ...); 0 if unknown. */
unsigned policy_ek_trust_bit(const char *word);

struct policy_strings {
	size_t count;
	char **v; /* owned */
};

struct policy_digests {
	size_t count;
	uint8_t (*v)[POLICY_DIGEST_SIZE]; /* owned */
};

/* A signature database (PK, KEK, db, dbx) reference. */
struct policy_sigdb {
	bool set;                      /* the policy names this variable */
	struct policy_digests digests; /* allowed SHA-256 event digests; empty: any */
	int64_t entries;               /* exact entry count, -1: not checked */
	int64_t min_entries;           /* at least this many, -1: not checked */
};

struct policy_boot_app {
	char *path; /* NULL: any path (digest only) */
	uint8_t digest[POLICY_DIGEST_SIZE];
};

/* Allowed values of one PCR in one bank. */
struct policy_pcr_values {
	uint16_t alg;
	unsigned index;
	size_t count;
	uint8_t (*v)[QUOTE_MAX_DIGEST]; /* each eventlog_alg_size(alg) bytes; owned */
};

/* PCRs to quote in one bank. */
struct policy_selection {
	uint16_t alg;
	uint32_t mask; /* bit i: PCR i */
};

struct policy {
	uint32_t version;
	char *description; /* NULL if none */

	/* requirements */
	bool secure_boot;
	bool uefi;
	bool certified_tpm;
	size_t bank_count; /* required active banks (TPM_ALG_IDs) */
	uint16_t banks[POLICY_MAX_BANKS];
	uint32_t tpm_interfaces; /* POLICY_TPM_* mask; 0: any interface */
	uint32_t ek_trust;       /* POLICY_EK_* mask; 0: any (certified_tpm still applies) */
	char *min_agent_version; /* NULL: no minimum */
	size_t selection_count;
	struct policy_selection selection[POLICY_MAX_BANKS];

	/* reference values; count 0 / !set: not checked */
	bool has_firmware_versions;
	struct policy_strings firmware_versions; /* EV_S_CRTM_VERSION texts */
	bool has_firmware_blobs;
	struct policy_digests firmware_blobs; /* EV_EFI_PLATFORM_FIRMWARE_BLOB(2) digests */
	bool has_boot_apps;
	size_t boot_app_count;
	struct policy_boot_app *boot_apps;
	bool has_kernel_cmdlines;
	struct policy_strings kernel_cmdlines;
	bool has_kernel_images;
	struct policy_strings kernel_images;
	struct policy_sigdb pk, kek, db, dbx;
	size_t pcr_value_count;
	struct policy_pcr_values *pcr_values;
	/* reference.catalog_rules (policy_catalog.h) */
	bool has_catalog_rules;
	size_t catalog_rule_count;
	struct policy_catalog_rule *catalog_rules;
};

/* Why parsing failed: struct diag (diag.h), a sentence naming the key path
 * and the bad value. */

/* The sha256 PCRs the default policy quotes: 0-9, every PCR whose events
 * the software view and the policy's reference values read (firmware 0-7,
 * grub's strings 8, files 9). Releases before this one quoted 0-7 (_V1). */
#define POLICY_DEFAULT_SHA256_PCRS    0x3ffu
#define POLICY_DEFAULT_SHA256_PCRS_V1 0xffu

/* The out-of-the-box policy: the seed's requirements only (Secure Boot on,
 * SHA-256 bank, UEFI, certified TPM, any TPM interface, no minimum agent
 * version, quote sha256 PCRs 0-9), no reference values. On success *ret is
 * new (free with policy_free). ATTEST_E_NOMEM. */
int policy_default(struct policy **ret);

/* The stored built-in default of an earlier release, brought up to date.
 * If the len bytes of policy JSON are exactly the earlier built-in default
 * (quote_pcrs sha256 0-7, nothing else changed), returns 1 and *ret is the
 * canonical JSON of today's policy_default() (malloc'd; caller frees).
 * Returns 0 (*ret untouched) for any other document, an operator's edit
 * included: that is kept as it is. ATTEST_E_NOMEM, ATTEST_E_ARG. */
int policy_default_upgrade(const char *json, size_t len, char **ret);

/* Parse len bytes of policy JSON (at most POLICY_MAX_SIZE). On success *ret
 * is new (free with policy_free). ATTEST_E_LIMIT / ATTEST_E_FORMAT /
 * ATTEST_E_UNSUPPORTED (a version other than POLICY_VERSION) /
 * ATTEST_E_NOMEM, with err (optional) filled in; *ret untouched on failure. */
int policy_parse(const char *json, size_t len, struct policy **ret, struct diag *err);

/* Canonical JSON of a policy (keys sorted; indented with two spaces if
 * pretty, else compact). On success *ret is a malloc'd NUL-terminated
 * string the caller frees. ATTEST_E_NOMEM, ATTEST_E_ARG. */
int policy_to_json(const struct policy *p, bool pretty, char **ret);

/* NULL is fine. */
void policy_free(struct policy *p);

/* The PCR selection to quote, as TPM2_Quote takes it (banks in policy
 * order, sizeofSelect 3). */
void policy_tpm_selection(const struct policy *p, TPML_PCR_SELECTION *ret);

/* Bit mask of the PCRs the policy quotes in bank alg (0 if none). */
uint32_t policy_selection_mask(const struct policy *p, uint16_t alg);

/* Compare dotted versions ("6.7" < "6.10" < "6.10.1"; missing parts are 0;
 * parsing stops at the first character that is neither digit nor dot, so
 * "1.2.0-dev" is 1.2.0). Returns <0, 0, >0 into *ret; ATTEST_E_FORMAT if
 * either does not start with a number. */
int policy_version_compare(const char *a, const char *b, int *ret);

/* Parse "0-7", "0-9,14" into a PCR bit mask (indices 0..23, ascending or
 * not, no spaces). ATTEST_E_FORMAT otherwise. */
int policy_pcr_ranges_parse(const char *s, uint32_t *ret);

/* ---- learning a policy from a known-good host ---- */

/* What a known-good host showed. The caller has verified it (quote
 * signature, nonce, replay): learning approves what it is given. */
struct policy_learn_input {
	const struct eventlog *log;
	const struct eventlog_checks *checks; /* eventlog_content_check[_bank] of log */
	const struct eventlog_facts *facts;   /* eventlog_facts_derive of log, checks */
	const struct quote_pcrs *pcrs;        /* the quoted PCR values */
	const struct policy *base;            /* requirements and selection to keep;
	                                         NULL: policy_default() */
};

/* Build a policy that approves exactly the host's configuration: the base's
 * requirements and PCR selection, the quoted values of the selected sha256
 * PCRs, the S-CRTM versions and firmware blob digests, every boot
 * application (path + digest), the kernel command line and image, and
 * PK/KEK/db/dbx (event digest and entry count; dbx as "at least" that many
 * entries). A value is learned only from an event whose content check
 * passed (where the type has a rule) in a PCR present in pcrs; a PCR the
 * selection lacks but a learned value needs (e.g. 8 for the command line)
 * is added to the selection. *ret_summary (may be NULL) gets a malloc'd
 * human-readable list of what was approved and what was not, and why.
 * ATTEST_E_ARG (missing input), ATTEST_E_NOMEM; outputs untouched on
 * failure. */
int policy_learn(const struct policy_learn_input *in, struct policy **ret, char **ret_summary);

#endif
