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
 * nothing, and the failure is logged). One indexed query per digest, so a
 * large catalog costs an attestation nothing more. */
#define CATALOG_APPRAISE_DIGESTS 64u
void catalog_appraise_load(struct verifier *v, const uint8_t *eventlog, size_t len,
                           struct catalog_entry **ret, size_t *ret_n);

/* Compare the components of the host's previous software view (stored
 * JSON text, may be NULL) with the new one (software object of
 * verify_result_json) and record one event per kind whose catalogued
 * package or version changed. */
void catalog_appraise_changes(struct verifier *v, int64_t host_id, const char *old_software,
                              const json_t *new_software);

#endif
