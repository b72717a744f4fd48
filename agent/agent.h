/* attest-agent's commands and the helpers they share (not the TPM module:
 * that is tpm.h). Commands return the process exit status: 0 success,
 * 1 failure (reported on stderr), 2 usage error. */
#ifndef ATTEST_AGENT_H
#define ATTEST_AGENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "tpm.h"

int cmd_evidence(int argc, char **argv);
int cmd_selftest(int argc, char **argv);

/* Host metadata bound into quotes: hostname, os_release (PRETTY_NAME of
 * /etc/os-release), kernel (uname -r), boot_id, agent_version; all strings
 * ("unknown" where the host does not say). *ret is a new object. */
int agent_metadata(json_t **ret);

/* Find the EK: read the EK certificates the TPM holds in NV (RSA-2048,
 * ECC P-256, then the high-range P-384, RSA-2048, P-256 indices) and create
 * the EK matching the first certificate found; with none, create the
 * RSA-2048 (L-1) EK. kind >= 0 forces one profile. On success *ret_cert is
 * the certificate (caller frees; NULL if none) and *ret_kind the profile.
 * Errors as agent_tpm_ek_create(). */
int agent_ek_setup(struct agent_tpm *t, int kind, uint8_t **ret_cert, size_t *ret_cert_len,
		   enum agent_tpm_ek_kind *ret_kind);

#endif
