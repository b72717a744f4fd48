/* The reads an attestation makes on the event loop (store_loop.c), and the
 * change counter of the policies that lets the loop cache them. */
#ifndef ATTEST_STORE_LOOP_H
#define ATTEST_STORE_LOOP_H

#include <stdint.h>

#include "store.h"

/* The host's row with only what an attestation reads: id, name, policy_id,
 * enabled, tpm_json, ek_certified, software_json, ak_name, reset_count,
 * restart_count, boot_id, interval_s, failures; the other members are 0 or
 * NULL (connection and trust read as disconnected and unknown). *ret is
 * freed with store_host_free. ATTEST_E_NOTFOUND: no such host. */
int store_loop_host(struct store *s, int64_t id, struct store_host **ret);

/* The text of policy policy_id (0: the default policy), malloc'd.
 * ATTEST_E_NOTFOUND: none. */
int store_loop_policy(struct store *s, int64_t policy_id, char **ret_body);

/* What says whether cached policies and catalog entries still hold: the
 * policies' change counter (bumped in the transaction of every change to
 * the policies table, by any instance sharing the database) and the
 * catalog's marker (its row count and highest id, ids never reused). */
struct store_loop_markers {
	int64_t policies;
	int64_t catalog_count, catalog_max_id;
};
int store_loop_markers(struct store *s, struct store_loop_markers *ret);

/* Bump the policies' change counter; call inside the transaction of the
 * change. */
int store_loop_policies_changed(struct store *s);

#endif
