/* TCG EK Credential Profile templates and the EK policies (internal to the
 * TPM module: tpmdev.c is its only user). See docs/agent-tpm.md. */
#ifndef ATTEST_TPMDEV_TEMPLATES_H
#define ATTEST_TPMDEV_TEMPLATES_H

#include <stdbool.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "tpmdev.h"

/* Which authPolicy an EK template carries, hence how a policy session
 * satisfies it. */
enum ek_policy {
	EK_POLICY_A = 1, /* PolicySecret(TPM_RH_ENDORSEMENT)           (L-1, L-2) */
	EK_POLICY_B = 2  /* PolicyOR(PolicyA, PolicyC=PolicyAuthorizeNV) (H-1..H-3) */
};

/* The profile's template for kind into *ret. zero_unique selects the
 * variant with the unique field zero-filled to the key size (the low-range
 * templates' normal form; some provisioners, swtpm_setup among them, use it
 * for high-range keys too) instead of empty (the high-range normal form).
 * Returns false for an unknown kind. */
bool ek_template(enum tpmdev_ek_kind kind, bool zero_unique, TPM2B_PUBLIC *ret);

/* NV index of the EK template the TPM vendor may provision for kind
 * (0 if the profile defines none). A template found there overrides ours. */
uint32_t ek_template_index(enum tpmdev_ek_kind kind);

/* NV index of the L-range EK nonce for kind (0 if none). */
uint32_t ek_nonce_index(enum tpmdev_ek_kind kind);

/* Which policy an authPolicy digest is, for a name algorithm; 0 if neither
 * (then we cannot use the EK as a parent or for activation). */
enum ek_policy ek_policy_of(TPMI_ALG_HASH name_alg, const TPM2B_DIGEST *auth_policy);

/* PolicyA and PolicyC digests for a hash (SHA-256 or SHA-384): the branches
 * TPM2_PolicyOR lists to reach PolicyB. false for other hashes. */
bool ek_policy_branches(TPMI_ALG_HASH alg, TPM2B_DIGEST *ret_a, TPM2B_DIGEST *ret_c);

/* The AK template: restricted signing key, SHA-256 name, RSA-2048 RSASSA
 * or ECC P-256 ECDSA, both with SHA-256. */
void ak_template(enum tpmdev_ak_alg alg, TPM2B_PUBLIC *ret);

#endif
