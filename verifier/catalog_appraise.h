/* The software catalog at attestation time (catalog_appraise.c): the
 * entries handed to lib/verify (which names the boot applications and
 * applies the policy's catalog rules), and the history line recorded when a
 * host's catalogued components change ("kernel A -> B, approved by rule
 * R"). */
#ifndef ATTEST_VERIFIER_CATALOG_APPRAISE_H
#define ATTEST_VERIFIER_CATALOG_APPRAISE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "verifier.h"

/* The catalog entries whose digests the event log (len bytes, may be
 * NULL) shows for its boot applications (PCR 4) and files (EV_IPL), at
 * most CATALOG_APPRAISE_DIGESTS digests, into *ret (caller frees; NULL and
 * 0 when none or unreadable: a catalog that cannot be read approves
 * nothing, and the failure is logged).
 * log_digest (32 bytes, may be NULL) is the log's SHA-256: with it the
 * log's boot digests are kept beside host_id's memo and the log is parsed
 * only when it changes (eventlog may then be NULL: an unchanged log the
 * agent did not send). The entries of each digest are cached for the
 * whole verifier under the catalog table's marker, read on every call, so
 * an import or removal through any instance is seen at the next
 * attestation; a digest not seen before costs one indexed query. */
#define CATALOG_APPRAISE_DIGESTS 64u
void catalog_appraise_load(struct verifier *v, int64_t host_id, const uint8_t *log_digest,
                           const uint8_t *eventlog, size_t len, struct catalog_entry **ret,
                           size_t *ret_n);

/* Compare the components of the host's previous software view (stored
 * JSON text, may be NULL) with the new one (software object of
 * verify_result_json) and record one event per kind whose catalogued
 * package or version changed. */
void catalog_appraise_changes(struct verifier *v, int64_t host_id, const char *old_software,
                              const json_t *new_software);

#endif
