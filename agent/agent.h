/* attest-agent's commands and the helpers they share (not the TPM module:
 * that is tpm.h). Commands return the process exit status: 0 success,
 * 1 failure (reported on stderr), 2 usage error. */
#ifndef ATTEST_AGENT_H
#define ATTEST_AGENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "tpmdev.h"

int cmd_evidence(int argc, char **argv);
int cmd_selftest(int argc, char **argv);
int cmd_ek(int argc, char **argv); /* ek_cmd.c */
/* The daemon: attest-agent --listen ADDR:PORT ... (daemon.c, docs/agent.md). */
int cmd_daemon(int argc, char **argv);

/* Host metadata bound into quotes: hostname, os_release (PRETTY_NAME of
 * /etc/os-release), kernel (uname -r), boot_id, agent_version; all strings
 * ("unknown" where the host does not say). *ret is a new object. */
int agent_metadata(json_t **ret);

/* Find the EK: read the EK certificates the TPM holds in NV (RSA-2048,
 * ECC P-256, then the high-range P-384, RSA-2048, P-256 indices) and use
 * the EK matching the first certificate found: the persistent one when the
 * TPM has it (tpmdev_ek_persistent), else a new one from its template;
 * with no certificate, the persistent or a new RSA-2048 (L-1) EK. kind >= 0 forces one profile. On
 * success *ret_cert is the certificate (caller frees; NULL if none) and *ret_kind the profile.
 * Errors as tpmdev_ek_create(). */
int agent_ek_setup(struct tpmdev *t, int kind, uint8_t **ret_cert, size_t *ret_cert_len,
                   enum tpmdev_ek_kind *ret_kind);

/* The EK certificate's issuer chain the TPM holds (TCG EK Credential
 * Profile indices 0x01c00100-0x01c001ff, each one or more DER certificates
 * end to end; at most AGENT_EK_CHAIN_MAX): *ret is a new JSON array of
 * {"nv_index": "0x01c00100", "der": base64}, empty when there is none. An
 * unreadable index is reported on stderr and skipped. */
#define AGENT_EK_CHAIN_MAX 8u
int agent_ek_chain(struct tpmdev *t, json_t **ret);

/* Quote the PCRs of sel with the AK loaded in t over
 * qualifyingData = SHA-256(nonce || SHA-256(canonical meta)) and build the
 * evidence bundle (docs/protocol.md): ak_public, quote, signature, pcrs,
 * nonce, metadata (a new reference to meta is taken), eventlog (log_len
 * bytes of log, may be 0). On success *ret is a new object and, if
 * ret_tpm_ns is not NULL, *ret_tpm_ns the time spent in the TPM (quote and
 * PCR read). ATTEST_E_STATE without an AK, ATTEST_E_ARG for a nonce outside
 * 16..64 bytes, the TPM module's errors (tpmdev_last_error), or
 * ATTEST_E_NOMEM. */
int agent_evidence_bundle(struct tpmdev *t, const struct pcrsel *sel, const uint8_t *nonce,
                          size_t nonce_len, json_t *meta, const uint8_t *log, size_t log_len,
                          json_t **ret, uint64_t *ret_tpm_ns);

/* o[key] = base64 of n bytes; ATTEST_E_NOMEM on failure. */
int agent_json_put_b64(json_t *o, const char *key, const uint8_t *b, size_t n);

/* "sha1", "sha256", "sha384", "sha512" for a TPM_ALG_ID; "unknown" else. */
const char *agent_bank_name(uint16_t alg);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t agent_now_ns(void);

#endif
