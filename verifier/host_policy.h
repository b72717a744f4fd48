/* The policy a host is judged by: the one assigned to it, else the default
 * policy in the store, else the built-in default (policy_default). One
 * loader for attestation (appraise.c) and learning (api_evidence.c). */
#ifndef ATTEST_VERIFIER_HOST_POLICY_H
#define ATTEST_VERIFIER_HOST_POLICY_H

#include <stdint.h>

#include "policy.h"
#include "store.h"

/* 0 and a new policy in *ret (free with policy_free). A stored policy that
 * does not parse: its ATTEST_E_* code and the parser's sentence in
 * err->message (kept, so the caller can say what is wrong with it); a store
 * failure: the store's code and err->message empty. */
int host_policy_load(struct store *st, int64_t host_id, struct policy **ret,
                     struct policy_error *err);

#endif
