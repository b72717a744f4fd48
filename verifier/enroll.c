/* Enrollment, the steps that make a host's TPM known: its identity (TPM
 * presence, EK), the EK checks (one TPM is one host; the EK certificate from
 * NV against the certified TPM list, else what the operator supplied), a new
 * AK checked and bound to the EK by credential activation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "agent_answer.h"
#include "b64enc.h"
#include "credential.h"
#include "ekcert.h"
#include "err.h"
#include "hex.h"
#include "job.h"
#include "log.h"
#include "quote.h"
#include "reason.h"
#include "tpm.h"
#include "verifier.h"

static void enroll_failed_metric(struct job *j)
{
	j->v->m.enroll_failed++;
}

/* The agent's answer to an enrollment step: true for a 200 to go on with.
 * Otherwise the job has ended here: no answer, the TPM timed out (the host
 * is not_responding), or the agent answered an error (red code). */
static bool enroll_answer(struct job *j, const struct https_result *res, const char *code)
{
	if (!job_answer_ok(j, res))
		return false;
	if (res->status == 200)
		return true;
	char m[700], acode[64];
	job_agent_error(res, m, sizeof m, acode, sizeof acode);
	if (!job_tpm_timeout(j, res, acode, m)) {
		enroll_failed_metric(j);
		job_red(j, code, m, NULL, NULL);
	}
	return false;
}

/* Check the EK certificates the agent read from NV. Fills summary (JSON
 * object, consumed) and returns 1 if one chains to the certified list and
 * carries the EK, 0 if none does (code and msg say why), or a negative
 * ATTEST_E_* when the certified TPM list cannot be read. */
static int check_ek_certs(struct job *j, const struct agent_identity *id, json_t *summary,
                          const char **code, char *msg, size_t msgcap)
{
	const struct ekcert_store *es = NULL;
	int rc = castore_get(j->v, &es);
	if (rc < 0)
		return rc;
	bool have = false;
	int ok = 0;
	*code = REASON_EK_CERT_MISSING;
	snprintf(msg, msgcap, "the TPM has no EK certificate in NV (%s)",
	         ekcert_store_count(es) ? "cannot check it against the certified TPM list"
	                                : "and the certified TPM list is empty");
	for (size_t i = 0; i < id->ncerts; i++) {
		struct ekcert_info info;
		struct ekcert_result res;
		memset(&info, 0, sizeof info);
		memset(&res, 0, sizeof res);
		struct ekcert_der chain[AGENT_ANSWER_CERTS_MAX];
		for (size_t k = 0; k < id->nchain; k++)
			chain[k] = (struct ekcert_der){id->chain[k].der, id->chain[k].len};
		rc = ekcert_verify_chain(es, id->certs[i].der, id->certs[i].len, chain, id->nchain,
		                         &id->ek, time(NULL), &info, &res);
		if (rc < 0)
			continue;
		/* A certificate for another EK (RSA vs ECC) says nothing about ours. */
		if (res.status == EKCERT_KEY_MISMATCH && have)
			continue;
		have = true;
		json_object_set_new(summary, "nv_index", json_string(id->certs[i].nv_index));
		json_object_set_new(
		    summary, "status",
		    json_string(res.status == EKCERT_OK ? "ok" : ekcert_status_code(res.status)));
		json_object_set_new(summary, "strict_der", json_boolean(info.strict_der));
		json_object_set_new(summary, "subject", json_string(info.subject));
		json_object_set_new(summary, "issuer", json_string(info.issuer));
		json_object_set_new(summary, "not_after", json_string(info.not_after));
		json_object_set_new(summary, "message", json_string(res.message));
		if (info.manufacturer[0])
			json_object_set_new(summary, "manufacturer",
			                    json_string(info.manufacturer));
		if (res.status == EKCERT_OK) {
			ok = 1;
			break;
		}
		*code = ekcert_status_code(res.status);
		snprintf(msg, msgcap, "%s%s", res.message,
		         info.strict_der ? "" : " (the certificate is not strict DER)");
	}
	return ok;
}

/* A TPM whose EK has no certificate that verifies from NV: what the
 * operator supplied for this host (docs/operations.md). Returns the EK
 * trust it establishes ("operator_certificate": their certificate chains to
 * the certified list and carries this EK; "operator_key": they approved
 * this EK's key hash), or NULL with code/msg updated when it establishes
 * none; *ret_err < 0 on a store failure. keep gets "ek_sha256" (need
 * false: only that). */
static const char *operator_ek(struct job *j, const struct agent_identity *id, bool need,
                               json_t *keep, json_t *summary, const char **code, char *msg,
                               size_t msgcap, int *ret_err)
{
	*ret_err = 0;
	uint8_t hash[32];
	char hex[72] = "";
	if (ekcert_key_sha256(&id->ek, hash) == 0) {
		ekcert_key_sha256_text(hash, hex);
		json_object_set_new(keep, "ek_sha256", json_string(hex));
	}
	if (!need)
		return NULL;
	uint8_t *der = NULL;
	size_t len = 0;
	char *key = NULL;
	int rc = store_host_get_ek_operator(j->v->store, j->host_id, &der, &len, &key);
	if (rc < 0) {
		*ret_err = rc;
		return NULL;
	}
	const char *trust = NULL;
	if (der) {
		const struct ekcert_store *es = NULL;
		rc = castore_get(j->v, &es);
		if (rc < 0) {
			*ret_err = rc;
			goto out;
		}
		struct ekcert_der chain[AGENT_ANSWER_CERTS_MAX];
		for (size_t k = 0; k < id->nchain; k++)
			chain[k] = (struct ekcert_der){id->chain[k].der, id->chain[k].len};
		struct ekcert_info info;
		struct ekcert_result res;
		memset(&info, 0, sizeof info);
		memset(&res, 0, sizeof res);
		rc = ekcert_verify_chain(es, der, len, chain, id->nchain, &id->ek, time(NULL),
		                         &info, &res);
		json_object_set_new(summary, "source", json_string("operator"));
		json_object_set_new(summary, "status",
		                    json_string(rc < 0 ? "EK_CERT_CHAIN_INVALID"
		                                : res.status == EKCERT_OK
		                                    ? "ok"
		                                    : ekcert_status_code(res.status)));
		json_object_set_new(summary, "subject", json_string(info.subject));
		json_object_set_new(summary, "issuer", json_string(info.issuer));
		json_object_set_new(summary, "not_after", json_string(info.not_after));
		json_object_set_new(summary, "message", json_string(res.message));
		if (rc == 0 && res.status == EKCERT_OK) {
			trust = "operator_certificate";
			goto out;
		}
		*code = rc < 0 ? "EK_CERT_CHAIN_INVALID" : ekcert_status_code(res.status);
		snprintf(msg, msgcap, "the EK certificate the operator supplied: %s", res.message);
	}
	if (key && hex[0] && strcmp(key, hex) == 0) {
		trust = "operator_key";
	} else if (key) {
		*code = REASON_EK_KEY_NOT_APPROVED;
		snprintf(msg, msgcap,
		         "the TPM's EK key hash is %s, not %s which the operator approved for this "
		         "host",
		         hex[0] ? hex : "unknown", key);
	}
out:
	free(der);
	free(key);
	return trust;
}

void enroll_on_activate(const struct https_result *res, void *arg)
{
	struct job *j = arg;
	struct verifier *v = j->v;
	if (!enroll_answer(j, res, REASON_AK_ACTIVATION_FAILED))
		return;
	uint8_t sec[AGENT_ANSWER_SECRET_MAX];
	size_t sl = 0;
	bool ok = agent_answer_activate(res->body, res->body_len, sec, &sl) == 0 &&
	          sl == CREDENTIAL_SIZE && CRYPTO_memcmp(sec, j->secret, CREDENTIAL_SIZE) == 0;
	OPENSSL_cleanse(sec, sizeof sec);
	OPENSSL_cleanse(j->secret, sizeof j->secret);
	if (!ok) {
		enroll_failed_metric(j);
		job_red(j, REASON_AK_ACTIVATION_FAILED,
		        "the secret the agent returned is not the one sealed to its EK: the AK is "
		        "not in the same TPM as the EK",
		        NULL, NULL);
		return;
	}
	int64_t now = verifier_now();
	int rc = store_ak_enroll(v->store, j->host_id, v->cfg.instance, j->ak_name, j->ak_name_len,
	                         j->ak_public, j->ak_public_len, now, NULL);
	if (rc == ATTEST_E_STATE) {
		/* The host is no longer ours (a reconnect through another instance
		 * took the lease, or it expired): its holder enrolls. */
		j->lost = true;
		log_warning(
		    "%s: lease lost (expired, or the host was reconnected): AK not enrolled, "
		    "abandoning this attestation",
		    j->name);
		v->m.attest_error++;
		job_end(j, now, -1);
		return;
	}
	if (job_store_failure(rc)) {
		job_store_error(j, "storing the AK");
		return;
	}
	if (rc < 0) {
		enroll_failed_metric(j);
		job_red(j, REASON_AK_ACTIVATION_FAILED,
		        rc == ATTEST_E_EXISTS ? "the agent offered an AK that was enrolled before; "
		                                "an AK is never accepted twice"
		                              : "the AK could not be stored",
		        NULL, NULL);
		return;
	}
	/* The next quote sets the restart baseline for this AK. */
	(void)store_host_set_boot(v->store, j->host_id, -1, -1, NULL, now);
	v->m.enroll_ok++;
	char hexname[2 * TPM_NAME_MAX + 1];
	hex_encode(j->ak_name, j->ak_name_len, hexname);
	log_info("%s: AK %s enrolled", j->name, hexname);
	quote_start(j);
}

void enroll_on_ak(const struct https_result *res, void *arg)
{
	struct job *j = arg;
	if (!enroll_answer(j, res, REASON_AGENT_ERROR))
		return;
	TPMT_PUBLIC ak;
	char am[AGENT_ANSWER_MSG_SIZE];
	free(j->ak_public);
	j->ak_public = NULL;
	if (agent_answer_ak(res->body, res->body_len, &j->ak_public, &j->ak_public_len, &ak, am) <
	    0) {
		enroll_failed_metric(j);
		job_red(j, REASON_AK_ACTIVATION_FAILED, am, REASON_AGENT_ERROR, am);
		return;
	}
	struct quote_reasons rs;
	memset(&rs, 0, sizeof rs);
	quote_check_ak(&ak, &rs);
	if (rs.count > 0) {
		enroll_failed_metric(j);
		job_red(j, REASON_AK_ACTIVATION_FAILED, "the AK the agent created is unacceptable",
		        quote_status_code(rs.list[0].status), rs.list[0].message);
		return;
	}
	if (tpm_public_name(&ak, j->ak_name, &j->ak_name_len) < 0) {
		enroll_failed_metric(j);
		job_red(j, REASON_AK_ACTIVATION_FAILED, "cannot compute the AK's Name", NULL, NULL);
		return;
	}
	struct credential_out co;
	if (RAND_bytes(j->secret, sizeof j->secret) != 1 ||
	    credential_make(&j->ek, j->ak_name, j->ak_name_len, j->secret, sizeof j->secret, &co) <
	        0) {
		enroll_failed_metric(j);
		job_red(j, REASON_AK_ACTIVATION_FAILED, "MakeCredential failed for this EK", NULL,
		        NULL);
		return;
	}
	char hexname[2 * TPM_NAME_MAX + 1];
	hex_encode(j->ak_name, j->ak_name_len, hexname);
	char *blob = b64enc(co.blob, co.blob_len), *sec = b64enc(co.secret, co.secret_len);
	json_t *body = json_pack("{s:s,s:s,s:s}", "ak_name", hexname, "credential_blob",
	                         blob ? blob : "", "secret", sec ? sec : "");
	free(blob);
	free(sec);
	OPENSSL_cleanse(&co, sizeof co);
	j->step = STEP_ACTIVATE;
	job_request(j, "POST", "/v1/activate", body, 64 * 1024);
}

/* The host's identity when it had no TPM at connect time (check_only:
 * only look whether one appeared) or reports none now. Consumes id. */
static void identity_without_tpm(struct job *j, struct agent_identity *id, int64_t now)
{
	struct verifier *v = j->v;
	if (j->check_only) {
		/* TPM presence is read at connect time only. */
		bool present = id->present;
		agent_identity_clear(id);
		if (present)
			job_verdict(j, STORE_TRUST_UNKNOWN,
			            "[{\"code\":\"" REASON_TPM_ADDED_RECONNECT_REQUIRED
			            "\",\"message\":\"a TPM "
			            "appeared after the host was connected; TPM presence and "
			            "identity are read at connect time only: disconnect and "
			            "reconnect the host to use it\"}]",
			            NULL, false);
		else
			job_verdict(j, STORE_TRUST_UNKNOWN,
			            "[{\"code\":\"" REASON_TPM_NOT_PRESENT
			            "\",\"message\":\"the host reported "
			            "no usable TPM when it was connected\"}]",
			            NULL, false);
		return;
	}
	char *t = json_dumps(id->keep, JSON_COMPACT);
	struct store_identity si = {.tpm_json = t};
	int rc = t ? store_host_set_identity(v->store, j->host_id, &si, now) : ATTEST_E_NOMEM;
	free(t);
	agent_identity_clear(id);
	if (job_store_failure(rc)) {
		job_store_error(j, "storing the host's TPM identity");
		return;
	}
	job_verdict(j, STORE_TRUST_UNKNOWN,
	            "[{\"code\":\"" REASON_TPM_NOT_PRESENT
	            "\",\"message\":\"the agent reports no usable "
	            "TPM; a TPM added later is used only after the host is disconnected and "
	            "reconnected\"}]",
	            NULL, false);
}

/* One TPM is one host: an EK already bound to another host is a cloned or
 * moved TPM (or one machine added twice), never a second identity. False
 * when the job ended here (red, or a store failure; id is then cleared). */
static bool ek_is_ours(struct job *j, struct agent_identity *id)
{
	struct verifier *v = j->v;
	char m[700];
	char *ek_owner = NULL;
	int rc =
	    store_host_with_ek(v->store, id->ek_public, id->ek_public_len, j->host_id, &ek_owner);
	if (rc == 0) {
		snprintf(
		    m, sizeof m,
		    "this TPM's endorsement key is already enrolled for host \"%s\" (a cloned or "
		    "moved TPM, or one machine added twice); if the TPM moved, remove \"%s\" "
		    "first",
		    ek_owner, ek_owner);
		free(ek_owner);
		agent_identity_clear(id);
		enroll_failed_metric(j);
		job_red(j, REASON_EK_ALREADY_ENROLLED, m, NULL, NULL);
		return false;
	}
	if (rc != ATTEST_E_NOTFOUND) {
		agent_identity_clear(id);
		job_store_error(j, "comparing the EK with the other hosts'");
		return false;
	}
	return true;
}

/* How the EK is trusted, the identity stored, then the AK step (or red).
 * Consumes id. */
static void identity_trust(struct job *j, struct agent_identity *id, int64_t now)
{
	struct verifier *v = j->v;
	char m[700];
	int rc;
	j->ek = id->ek;
	json_t *summary = json_object();
	const char *why = NULL;
	int certified = check_ek_certs(j, id, summary, &why, m, sizeof m);
	if (certified < 0) {
		json_decref(summary);
		agent_identity_clear(id);
		job_store_error(j, "loading the certified TPM list");
		return;
	}
	/* How the EK is trusted (tpm.ek_trust): its certificate from NV, else
	 * what the operator supplied for this host. operator_key is not a
	 * certified vendor: ek_certified stays false and the policy decides. */
	const char *ek_trust = certified == 1 ? "certified" : NULL;
	int oerr = 0;
	const char *op =
	    operator_ek(j, id, certified != 1, id->keep, summary, &why, m, sizeof m, &oerr);
	if (oerr < 0) {
		json_decref(summary);
		agent_identity_clear(id);
		job_store_error(j, "reading the operator's EK certificate or key");
		return;
	}
	if (!ek_trust && op) {
		ek_trust = op;
		if (strcmp(op, "operator_certificate") == 0)
			certified = 1;
	}
	if (ek_trust)
		json_object_set_new(id->keep, "ek_trust", json_string(ek_trust));
	json_object_set_new(id->keep, "ek_certificate", summary);
	char *t = json_dumps(id->keep, JSON_COMPACT);
	struct store_identity si = {.tpm_json = t,
	                            .ek_public = id->ek_public,
	                            .ek_public_len = id->ek_public_len,
	                            .ek_certified = certified == 1};
	rc = t ? store_host_set_identity(v->store, j->host_id, &si, now) : ATTEST_E_NOMEM;
	free(t);
	agent_identity_clear(id);
	if (job_store_failure(rc)) {
		job_store_error(j, "storing the host's TPM identity");
		return;
	}
	if (rc < 0) {
		enroll_failed_metric(j);
		job_red(j, REASON_VERIFIER_ERROR, "cannot store the host's TPM identity", NULL,
		        NULL);
		return;
	}
	if (certified != 1 && !ek_trust) {
		char top[800];
		snprintf(top, sizeof top,
		         "the TPM's EK certificate does not chain to the certified TPM list (%s)",
		         why);
		enroll_failed_metric(j);
		job_red(j, REASON_TPM_NOT_CERTIFIED, top, why, m);
		return;
	}
	j->step = STEP_AK;
	/* --ak-type: {} is the agent's default, RSA-2048 (every agent version
	 * takes "type", docs/protocol.md) */
	json_t *body = j->v->cfg.ak_ecc ? json_pack("{s:s}", "type", "ecc") : json_object();
	job_request(j, "POST", "/v1/ak", body, 64 * 1024);
}

void enroll_on_identity(const struct https_result *res, void *arg)
{
	struct job *j = arg;
	if (!enroll_answer(j, res, REASON_AGENT_ERROR))
		return;
	char m[700];
	struct agent_identity id;
	char am[AGENT_ANSWER_MSG_SIZE];
	int rc = agent_answer_identity(res->body, res->body_len, &id, am);
	if (rc == ATTEST_E_NOMEM) {
		job_store_error(j, "reading the agent's identity (out of memory)");
		return;
	}
	if (rc < 0) {
		enroll_failed_metric(j);
		job_red(j, REASON_AGENT_ERROR, am, NULL, NULL);
		return;
	}
	int64_t now = verifier_now();
	if (j->check_only || !id.present) {
		identity_without_tpm(j, &id, now);
		return;
	}
	if (!id.ek_ok) {
		snprintf(m, sizeof m, "%s", id.ek_error);
		agent_identity_clear(&id);
		enroll_failed_metric(j);
		job_red(j, REASON_TPM_NOT_CERTIFIED, m, NULL, NULL);
		return;
	}
	if (!ek_is_ours(j, &id))
		return;
	identity_trust(j, &id, now);
}

void enroll_start(struct job *j)
{
	j->enrollments++;
	j->step = STEP_IDENTITY;
	job_request(j, "GET", "/v1/identity", NULL, IDENTITY_MAX);
}

/* The host restarted (or the evidence says so): forget the AK and enroll. */
void enroll_again(struct job *j)
{
	struct verifier *v = j->v;
	int64_t now = verifier_now();
	(void)store_ak_retire_all(v->store, j->host_id, now, NULL);
	(void)store_host_set_boot(v->store, j->host_id, -1, -1, NULL, now);
	verifier_event(v, j->host_id, "enroll", "verifier",
	               "host %s restarted: enrolling a new AK before trusting it again", j->name);
	enroll_start(j);
}
