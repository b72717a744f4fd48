/* tpmdev, the TPM module of attest-agent and attest-sim: the one place in
 * attest that talks to a TPM.
 *
 * Everything goes through tpm2-tss ESAPI over a TCTI chosen by one string
 * (tctildr syntax): "device:/dev/tpmrm0" for hardware, "swtpm:host=127.0.0.1,
 * port=P" for the emulator. attest-agent and attest-sim both link it.
 *
 * Contract, for every function below:
 *  - returns 0 or a negative ATTEST_E_* code; a TPM response code becomes
 *    ATTEST_E_TPM, and its Tss2_RC_Decode() text, with the command that
 *    failed, is kept in the context for tpmdev_last_error(): the TPM
 *    return code is turned into our error once, here, and nowhere else;
 *  - TPM_RC_RETRY, TPM_RC_YIELDED and TPM_RC_TESTING are retried a bounded
 *    number of times (TPMDEV_RETRIES, short back-off) before failing;
 *  - every transient object and session the module creates is flushed on
 *    every path; the EK and the AK stay loaded inside the context until
 *    replaced or tpmdev_close();
 *  - out-parameters are written only on success; buffers returned as
 *    uint8_t ** are malloc'd and owned by the caller (free()).
 *
 * The EK and the AK: tpmdev_ek_create() creates the EK from the TCG EK
 * Credential Profile template that matches an EK certificate (or a given
 * profile), tpmdev_ak_create() then creates a fresh signing AK in the
 * endorsement hierarchy under that EK (the quote's clock and firmware fields
 * are then not obfuscated; see docs/agent-tpm.md). */
#ifndef ATTEST_TPMDEV_H
#define ATTEST_TPMDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pcrsel.h" /* struct pcrsel, the PCR selections quoted and read */

#define TPMDEV_ERRMSG_SIZE 256u
#define TPMDEV_RETRIES     20u              /* attempts on RETRY/YIELDED/TESTING */
#define TPMDEV_EK_CERT_MAX 4096u            /* bytes; larger NV certificates are refused */
#define TPMDEV_MAX_BANKS   PCRSEL_MAX_BANKS /* PCR banks in one selection */
#define TPMDEV_NUM_PCRS    PCRSEL_NUM_PCRS  /* PCRs 0..23 */
#define TPMDEV_DIGEST_MAX  64u              /* SHA-512 */
#define TPMDEV_BLOB_MAX    1024u            /* marshalled key blobs, credentials */

/* TCG EK Credential Profile NV indices of EK certificates. */
#define TPMDEV_NV_RSA2048_EKCERT     0x01c00002u /* low range, template L-1 */
#define TPMDEV_NV_ECC_P256_EKCERT    0x01c0000au /* low range, template L-2 */
#define TPMDEV_NV_RSA2048_HI_EKCERT  0x01c00012u /* high range, template H-1 */
#define TPMDEV_NV_ECC_P256_HI_EKCERT 0x01c00014u /* high range, template H-2 */
#define TPMDEV_NV_ECC_P384_HI_EKCERT 0x01c00016u /* high range, template H-3 */

struct tpmdev;

/* The EK profiles we support: one template and one certificate index each. */
enum tpmdev_ek_kind {
	TPMDEV_EK_RSA2048 = 0,    /* L-1, cert at 0x01c00002 */
	TPMDEV_EK_ECC_P256 = 1,   /* L-2, cert at 0x01c0000a */
	TPMDEV_EK_RSA2048_H = 2,  /* H-1, cert at 0x01c00012 */
	TPMDEV_EK_ECC_P256_H = 3, /* H-2, cert at 0x01c00014 */
	TPMDEV_EK_ECC_P384_H = 4, /* H-3, cert at 0x01c00016 */
	TPMDEV_EK_KIND_COUNT = 5
};

enum tpmdev_ak_alg {
	TPMDEV_AK_RSA = 0, /* RSA-2048, RSASSA with SHA-256 */
	TPMDEV_AK_ECC = 1  /* ECC NIST P-256, ECDSA with SHA-256 */
};

/* Short name of an EK kind ("rsa2048", "ecc-p384-h"). Never NULL. */
const char *tpmdev_ek_kind_name(enum tpmdev_ek_kind kind);

/* NV index of the EK certificate of a kind. */
uint32_t tpmdev_ek_cert_index(enum tpmdev_ek_kind kind);

/* PCR values read from the TPM, same layout as the selection. */
struct tpmdev_pcr_values {
	uint32_t count;
	struct {
		uint16_t alg;
		uint16_t size;
		uint32_t mask; /* PCRs actually returned */
		uint8_t pcr[TPMDEV_NUM_PCRS][TPMDEV_DIGEST_MAX];
	} banks[TPMDEV_MAX_BANKS];
};

/* What the TPM says about itself. */
struct tpmdev_info {
	char manufacturer[5]; /* TPM_PT_MANUFACTURER as 4 ASCII chars ("IFX", "IBM") */
	uint32_t manufacturer_id;
	char vendor[17];             /* TPM_PT_VENDOR_STRING_1..4, trailing NULs/spaces cut */
	uint32_t firmware_version_1; /* TPM_PT_FIRMWARE_VERSION_1 */
	uint32_t firmware_version_2; /* TPM_PT_FIRMWARE_VERSION_2 */
	uint32_t spec_revision;      /* TPM_PT_REVISION (e.g. 164 = 1.64) */
	uint32_t bank_count;         /* active PCR banks (at least one PCR allocated) */
	uint16_t banks[TPMDEV_MAX_BANKS * 2];
	char interface[32]; /* Linux driver: "tpm_tis", "tpm_crb", ...; "unknown" */
};

/* Open the TPM behind a TCTI string (NULL or "" = tctildr's default). On
 * success *ret is a context for tpmdev_close(). On failure errmsg (if not
 * NULL) holds a sentence; ATTEST_E_ARG for a bad string, ATTEST_E_TPM when
 * the TCTI or ESAPI cannot start, ATTEST_E_NOMEM. */
int tpmdev_open(const char *tcti, struct tpmdev **ret, char errmsg[TPMDEV_ERRMSG_SIZE]);

/* tpmdev_open() with every wait for the TPM bounded to ms milliseconds
 * (0: none), the TCTI's own start included (swtpm's asks the TPM's control
 * channel); as tpmdev_set_timeout() from then on. *ret_timed_out says
 * whether a failure was the deadline passing. */
int tpmdev_open_timeout(const char *tcti, unsigned ms, struct tpmdev **ret,
                        char errmsg[TPMDEV_ERRMSG_SIZE], bool *ret_timed_out);

/* Flush the EK and AK (if loaded) and close; NULL is fine. */
void tpmdev_close(struct tpmdev *t);

/* The sentence for the last failure in this context ("" if none). */
const char *tpmdev_last_error(const struct tpmdev *t);

/* The TCTI string the context was opened with. */
const char *tpmdev_tcti(const struct tpmdev *t);

/* ---- identity -------------------------------------------------------- */

/* Read an NV index holding an EK certificate, in chunks of
 * TPM_PT_NV_BUFFER_MAX. On success *ret (caller frees) holds the bytes as
 * stored (DER, possibly with trailing padding some vendors leave).
 * ATTEST_E_NOTFOUND if the index is not defined, ATTEST_E_LIMIT if larger
 * than TPMDEV_EK_CERT_MAX. */
int tpmdev_nv_read(struct tpmdev *t, uint32_t index, uint8_t **ret, size_t *ret_len);

/* The NV indices defined in first..last (at most cap, ascending). */
int tpmdev_nv_list(struct tpmdev *t, uint32_t first, uint32_t last, uint32_t *out, size_t cap,
                   size_t *ret_n);

/* TCG EK Credential Profile: NV indices holding the EK certificate's
 * issuer chain (DER certificates, one or several per index, end to end). */
#define TPMDEV_NV_EK_CHAIN_FIRST 0x01c00100u
#define TPMDEV_NV_EK_CHAIN_LAST  0x01c001ffu

/* TPM properties and the Linux interface driver. */
int tpmdev_info(struct tpmdev *t, struct tpmdev_info *ret);

/* Linux TPM interface for a TCTI string: the driver bound to the TPM
 * device (/sys/class/tpm/tpmN/device/driver), e.g. "tpm_tis" or "tpm_crb";
 * "unknown" for an emulator or when sysfs does not say. Writes at most cap
 * bytes including the NUL. No TPM access. */
void tpmdev_interface(const char *tcti, char *out, size_t cap);

/* Create the EK of a kind and keep it loaded in the context (replacing any
 * previous one). The template comes from the TCG EK Credential Profile (or
 * from the TPM's EK template NV index when present). If cert (DER, cert_len
 * bytes) is given, the created key must equal the certificate's key: the
 * profile's template is tried first, then the variant some provisioners use
 * (unique field zero-filled instead of empty, high-range templates);
 * ATTEST_E_VERIFY if none matches. With cert NULL the profile's template is
 * used as is. */
int tpmdev_ek_create(struct tpmdev *t, enum tpmdev_ek_kind kind, const uint8_t *cert,
                     size_t cert_len);

/* Which template produced the loaded EK: "nv" (the vendor's, from the EK
 * template NV index), "profile", "profile-zero-unique" or
 * "profile-empty-unique" (the other unique form); "none" without an EK. */
const char *tpmdev_ek_template_used(const struct tpmdev *t);

/* The loaded EK's public area as marshalled TPM2B_PUBLIC (pointer into the
 * context, valid until the EK changes). ATTEST_E_STATE if no EK. */
int tpmdev_ek_public(const struct tpmdev *t, const uint8_t **ret, size_t *ret_len);

/* Create a fresh AK under the loaded EK (endorsement hierarchy): restricted,
 * sign, fixedTPM, fixedParent, sensitiveDataOrigin, userWithAuth, SHA-256
 * name; then load it, replacing any AK in the context. Satisfies the EK's
 * policy (PolicySecret(TPM_RH_ENDORSEMENT), plus PolicyOR for the
 * high-range PolicyB) in a policy session for Create and Load.
 * ATTEST_E_STATE without an EK. */
int tpmdev_ak_create(struct tpmdev *t, enum tpmdev_ak_alg alg);

/* The loaded AK: public as marshalled TPM2B_PUBLIC, private as marshalled
 * TPM2B_PRIVATE (a blob only this TPM can load, under this EK), and its Name
 * (nameAlg || digest). Pointers into the context, valid until the AK changes.
 * ATTEST_E_STATE without an AK. */
int tpmdev_ak_public(const struct tpmdev *t, const uint8_t **ret, size_t *ret_len);
int tpmdev_ak_private(const struct tpmdev *t, const uint8_t **ret, size_t *ret_len);
int tpmdev_ak_name(const struct tpmdev *t, const uint8_t **ret, size_t *ret_len);

/* Load an AK saved earlier (marshalled TPM2B_PUBLIC and TPM2B_PRIVATE) under
 * the loaded EK. ATTEST_E_FORMAT for blobs that do not unmarshal exactly,
 * ATTEST_E_TPM if the TPM refuses them. */
int tpmdev_ak_load(struct tpmdev *t, const uint8_t *pub, size_t pub_len, const uint8_t *priv,
                   size_t priv_len);

/* TPM2_ActivateCredential with the AK as activateHandle and the EK as
 * keyHandle (EK policy session). id_object is the marshalled TPM2B_ID_OBJECT
 * and enc_secret the marshalled TPM2B_ENCRYPTED_SECRET, both with their
 * 2-byte size, as TPM2_MakeCredential produces them. On success *ret (caller
 * frees and should wipe) is the recovered secret. ATTEST_E_TPM when the TPM
 * refuses (credential for another AK name or another EK). */
int tpmdev_activate_credential(struct tpmdev *t, const uint8_t *id_object, size_t id_object_len,
                               const uint8_t *enc_secret, size_t enc_secret_len, uint8_t **ret,
                               size_t *ret_len);

/* ---- evidence -------------------------------------------------------- */

/* Read the PCRs of a selection (loops: TPM2_PCR_Read returns at most 8 per
 * call). Banks the TPM does not have are ATTEST_E_NOTFOUND. */
int tpmdev_pcr_read(struct tpmdev *t, const struct pcrsel *sel, struct tpmdev_pcr_values *ret);

/* TPM2_Quote with the AK over sel and qualifying data (at most 64 bytes).
 * The PCR values are read as well and checked against the quote's
 * pcrDigest; if a PCR changed between the two, both are taken again (a
 * bounded number of times). On success *ret_attest is the TPMS_ATTEST bytes
 * (TPM2B_ATTEST contents), *ret_sig the marshalled TPMT_SIGNATURE, and
 * *ret_pcrs the values the quote covers. ATTEST_E_STATE without an AK. */
int tpmdev_quote(struct tpmdev *t, const struct pcrsel *sel, const uint8_t *qualifying,
                 size_t qualifying_len, uint8_t **ret_attest, size_t *ret_attest_len,
                 uint8_t **ret_sig, size_t *ret_sig_len, struct tpmdev_pcr_values *ret_pcrs);

/* TPM2_ReadClock: resetCount and restartCount (boot and resume counters). */
int tpmdev_clock(struct tpmdev *t, uint32_t *ret_reset_count, uint32_t *ret_restart_count);

/* ---- deadlines and keeping keys between requests --------------------- */

/* Bound every wait for a TPM response to ms milliseconds (0: no bound, the
 * default). When a response does not come in time the command fails with
 * ATTEST_E_TPM, tpmdev_timed_out() turns true, and every later command
 * on this context fails at once: close it and open a new one. The bound
 * needs a TCTI with poll handles (swtpm, mssim, device); others wait as
 * long as their driver does. */
void tpmdev_set_timeout(struct tpmdev *t, unsigned ms);
bool tpmdev_timed_out(const struct tpmdev *t);

/* TPM2_ContextSave of the loaded AK (ak true) or EK: *ret (caller frees)
 * is the marshalled TPMS_CONTEXT (with ESAPI's metadata), which
 * tpmdev_*_load_context() reloads until the TPM resets (TPM2_Startup
 * CLEAR after a TPM Reset invalidates it: the load then fails with
 * ATTEST_E_TPM). ATTEST_E_STATE without that key or for a persistent EK. */
int tpmdev_context_save(struct tpmdev *t, bool ak, uint8_t **ret, size_t *ret_len);

/* Reload a saved EK context as the context's EK; pub is the EK's
 * marshalled TPM2B_PUBLIC as tpmdev_ek_public() gave it when saved, and
 * must be what the TPM reloaded (else ATTEST_E_VERIFY). */
int tpmdev_ek_load_context(struct tpmdev *t, const uint8_t *ctx, size_t ctx_len, const uint8_t *pub,
                           size_t pub_len);

/* Reload a saved AK context as the context's AK (for a quote or a
 * credential activation); pub is its marshalled TPM2B_PUBLIC (what
 * tpmdev_ak_public() answers from then on; the private blob is not
 * needed and tpmdev_ak_private() answers an empty one). */
int tpmdev_ak_load_context(struct tpmdev *t, const uint8_t *ctx, size_t ctx_len, const uint8_t *pub,
                           size_t pub_len);

/* Flush the AK (and the EK: a persistent EK is only forgotten). */
void tpmdev_ak_unload(struct tpmdev *t);
void tpmdev_ek_unload(struct tpmdev *t);

/* Use a persistent EK (TCG EK Credential Profile handles 0x81010001 RSA,
 * 0x81010002 ECC P-256, and the others of 0x810100xx): one of the kind's
 * shape whose key is the certificate's (any of that shape if cert is NULL).
 * ATTEST_E_NOTFOUND if there is none. */
int tpmdev_ek_persistent(struct tpmdev *t, enum tpmdev_ek_kind kind, const uint8_t *cert,
                         size_t cert_len);

/* The persistent handle of the loaded EK, 0 if it is transient. */
uint32_t tpmdev_ek_handle(const struct tpmdev *t);

/* Flush every transient object and loaded session in the TPM: only for a
 * TPM reached without a resource manager (swtpm, /dev/tpm0) after a command
 * timed out, when what that command loaded is no longer known. */
int tpmdev_flush_all(struct tpmdev *t, uint32_t *ret_flushed);

/* ---- for simulated hosts (attest-sim) ------------------------------- */

/* TPM2_Startup(CLEAR) issued at the given locality (0-4) when the TCTI can
 * set localities (swtpm: through its control channel), then back to
 * locality 0. ATTEST_E_UNSUPPORTED if locality != 0 and the TCTI cannot. */
int tpmdev_startup(struct tpmdev *t, uint8_t locality);

/* TPM2_Shutdown(CLEAR): what an operating system sends before it reboots, so
 * the next TPM2_Startup is orderly (a disorderly one counts as a dictionary
 * attack failure, and a few in a row lock the TPM out). */
int tpmdev_shutdown(struct tpmdev *t);

/* TPM2_PCR_Extend of PCR pcr with one digest per bank (TPML_DIGEST_VALUES):
 * algs[i]/digests[i] of the size of that algorithm, n <= TPMDEV_MAX_BANKS*2. */
int tpmdev_pcr_extend(struct tpmdev *t, uint32_t pcr, size_t n, const uint16_t *algs,
                      const uint8_t *const *digests);

/* Handles of transient objects and sessions loaded right now (for tests and
 * `attest-agent selftest`): *ret_count of each. */
int tpmdev_loaded_counts(struct tpmdev *t, uint32_t *ret_transient, uint32_t *ret_sessions);

#endif
