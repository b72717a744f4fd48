/* The daemon's TPM worker: one thread, one TPM job at a time, so TPM
 * commands (tens to hundreds of milliseconds on an emulator, more on some
 * chips) never hold up the event loop's TLS handshakes and replies.
 *
 * Every job opens the TPM, does its work and closes it again: nothing stays
 * loaded between requests (the emulator has no resource manager and three
 * object slots), a TPM that was absent is simply tried again next time, and
 * no TCTI connection is held (swtpm serves one client at a time). What is
 * kept is outside the TPM: the EK's and AKs' saved contexts (TPM2_ContextSave
 * blobs, valid until the TPM resets), so a quote costs one TPM2_ContextLoad
 * and one signature, and the EK is made once per TPM reset
 * (docs/agent-tpm.md). Every TPM command waits at most --tpm-timeout.
 *
 * The AKs: a pending one (POST /v1/ak) and a current one (after a
 * successful POST /v1/activate), each saved as JSON in DATA_DIR with the
 * TPM-wrapped blobs (only this TPM can load them, under this EK). Only this
 * thread reads or changes them once the worker runs. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "agent.h"
#include "b64enc.h"
#include "base64.h"
#include "daemon.h"
#include "err.h"
#include "eventlog.h"
#include "fileio.h"
#include "hex.h"
#include "log.h"

struct agentd_ak {
	bool have;
	enum tpmdev_ek_kind ek_kind;
	uint8_t pub[TPMDEV_BLOB_MAX];
	size_t pub_len;
	uint8_t priv[TPMDEV_BLOB_MAX];
	size_t priv_len;
	uint8_t name[AGENTD_NAME_MAX];
	size_t name_len;
};

/* A TPM-made blob kept in memory (a saved context). */
struct agentd_ctx {
	uint8_t *p;
	size_t n;
};

/* The EK as found in this TPM: its persistent handle, or the context saved
 * when it was created (valid until the TPM resets). */
struct agentd_ek {
	bool have;
	enum tpmdev_ek_kind kind;
	uint32_t handle; /* persistent handle, 0 if transient */
	struct agentd_ctx ctx;
	uint8_t pub[TPMDEV_BLOB_MAX];
	size_t pub_len;
};

struct agentd_worker {
	const struct agentd_config *cfg;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct agentd_job *queue, *queue_tail;
	unsigned queued;
	struct agentd_job *done, *done_tail;
	bool stop;
	int efd;
	struct event *ev;
	agentd_done_fn done_fn;
	void *done_arg;
	struct agentd_ak pending, current;
	/* Only the worker thread touches these. */
	struct agentd_ctx pending_ctx, current_ctx; /* the AKs' saved contexts */
	struct agentd_ek ek;
	bool after_timeout; /* a command timed out: clean up on the next open */
};

void agentd_job_free(struct agentd_job *j)
{
	if (!j)
		return;
	if (j->cred)
		OPENSSL_cleanse(j->cred, j->cred_len);
	if (j->secret)
		OPENSSL_cleanse(j->secret, j->secret_len);
	free(j->cred);
	free(j->secret);
	json_decref(j->answer);
	OPENSSL_cleanse(j->nonce, sizeof j->nonce);
	free(j);
}

const char *agentd_ek_kind_api_name(enum tpmdev_ek_kind kind)
{
	switch (kind) {
	case TPMDEV_EK_RSA2048:
	case TPMDEV_EK_RSA2048_H: return "rsa2048";
	case TPMDEV_EK_ECC_P256:
	case TPMDEV_EK_ECC_P256_H: return "ecc_p256";
	case TPMDEV_EK_ECC_P384_H: return "ecc_p384";
	default: return "unknown";
	}
}

__attribute__((format(printf, 4, 5))) static void job_fail(struct agentd_job *j, int status,
                                                           const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(j->message, sizeof j->message, fmt, ap);
	va_end(ap);
	j->status = status;
	j->code = code;
	json_decref(j->answer);
	j->answer = NULL;
}

/* ---- AK files ------------------------------------------------------------ */

static int ak_path(const struct agentd_config *cfg, const char *which, char *out, size_t cap)
{
	if ((size_t)snprintf(out, cap, "%s/ak-%s.json", cfg->data_dir, which) >= cap)
		return ATTEST_E_ARG;
	return 0;
}

static int ak_kind_parse(const char *s, enum tpmdev_ek_kind *ret)
{
	for (int k = 0; k < TPMDEV_EK_KIND_COUNT; k++)
		if (strcmp(s, tpmdev_ek_kind_name((enum tpmdev_ek_kind)k)) == 0) {
			*ret = (enum tpmdev_ek_kind)k;
			return 0;
		}
	return ATTEST_E_FORMAT;
}

/* Read DATA_DIR/ak-WHICH.json into *ret. ATTEST_E_IO with errno ENOENT if
 * absent, ATTEST_E_FORMAT if it does not hold what ak_save wrote. */
static int ak_read(const struct agentd_config *cfg, const char *which, struct agentd_ak *ret)
{
	char path[AGENTD_PATH_MAX];
	int rc = ak_path(cfg, which, path, sizeof path);
	uint8_t *buf = NULL;
	size_t len = 0;
	if (!rc)
		rc = fileio_read(path, AGENTD_AK_FILE_MAX, &buf, &len);
	if (rc)
		return rc;
	json_t *o = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, NULL);
	free(buf);
	const char *kind = NULL, *pub = NULL, *priv = NULL, *name = NULL;
	struct agentd_ak ak;
	memset(&ak, 0, sizeof ak);
	rc = ATTEST_E_FORMAT;
	if (!o || json_unpack(o, "{s:s,s:s,s:s,s:s}", "ek_kind", &kind, "public", &pub, "private",
	                      &priv, "name", &name) != 0)
		goto out;
	if (ak_kind_parse(kind, &ak.ek_kind) != 0 ||
	    base64_decode(pub, strlen(pub), ak.pub, sizeof ak.pub, &ak.pub_len) != 0 ||
	    base64_decode(priv, strlen(priv), ak.priv, sizeof ak.priv, &ak.priv_len) != 0 ||
	    hex_decode(name, ak.name, sizeof ak.name, &ak.name_len) != 0 || ak.pub_len == 0 ||
	    ak.priv_len == 0 || ak.name_len < 2)
		goto out;
	ak.have = true;
	*ret = ak;
	rc = 0;
out:
	OPENSSL_cleanse(&ak, sizeof ak);
	json_decref(o);
	return rc;
}

static int ak_save(const struct agentd_config *cfg, const char *which, const struct agentd_ak *ak)
{
	char path[AGENTD_PATH_MAX];
	int rc = ak_path(cfg, which, path, sizeof path);
	if (rc)
		return rc;
	char name[2 * AGENTD_NAME_MAX + 1];
	hex_encode(ak->name, ak->name_len, name);
	json_t *o = json_pack("{s:i,s:s,s:s}", "version", 1, "ek_kind",
	                      tpmdev_ek_kind_name(ak->ek_kind), "name", name);
	char *text = NULL;
	rc = ATTEST_E_NOMEM;
	if (o && agent_json_put_b64(o, "public", ak->pub, ak->pub_len) == 0 &&
	    agent_json_put_b64(o, "private", ak->priv, ak->priv_len) == 0)
		text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (text)
		rc = fileio_write_atomic(path, text, strlen(text), 0600);
	free(text);
	json_decref(o);
	return rc;
}

static int ak_remove(const struct agentd_config *cfg, const char *which)
{
	char path[AGENTD_PATH_MAX];
	int rc = ak_path(cfg, which, path, sizeof path);
	if (rc)
		return rc;
	return unlink(path) == 0 || errno == ENOENT ? 0 : ATTEST_E_IO;
}

static void ak_startup_load(struct agentd_worker *w, const char *which, struct agentd_ak *slot)
{
	int rc = ak_read(w->cfg, which, slot);
	if (rc == 0) {
		log_info("loaded the %s AK from %s/ak-%s.json", which, w->cfg->data_dir, which);
	} else if (!(rc == ATTEST_E_IO && errno == ENOENT)) {
		log_warning("ignoring %s/ak-%s.json: %s", w->cfg->data_dir, which,
		            rc == ATTEST_E_IO       ? strerror(errno)
		            : rc == ATTEST_E_FORMAT ? "not an AK file written by this agent"
		                                    : attest_strerror(rc));
	}
}

/* ---- TPM jobs ------------------------------------------------------------ */

static void ctx_drop(struct agentd_ctx *c)
{
	if (c->p)
		OPENSSL_cleanse(c->p, c->n);
	free(c->p);
	c->p = NULL;
	c->n = 0;
}

static void ek_drop(struct agentd_worker *w)
{
	ctx_drop(&w->ek.ctx);
	memset(&w->ek, 0, sizeof w->ek);
}

/* Whether the TCTI goes through a resource manager, which flushes what a
 * client left loaded when it disconnects (the kernel's /dev/tpmrmN,
 * tpm2-abrmd). Without one (swtpm, /dev/tpmN) what a timed-out command
 * loaded stays in the TPM. */
static bool behind_rm(const char *tcti)
{
	return strstr(tcti, "tpmrm") != NULL || strncmp(tcti, "tabrmd", 6) == 0;
}

/* Turn a failed TPM call into the job's answer: 503 TPM_TIMEOUT when the
 * TPM did not answer in time, else status/code with the module's text. */
static void tpm_fail(struct agentd_worker *w, struct agentd_job *j, struct tpmdev *t, int status,
                     const char *code, const char *what)
{
	if (tpmdev_timed_out(t)) {
		w->after_timeout = true;
		job_fail(j, 503, "TPM_TIMEOUT", "%s%s%s", what ? what : "", what ? ": " : "",
		         tpmdev_last_error(t));
		log_error("%s", j->message);
		return;
	}
	job_fail(j, status, code, "%s%s%s", what ? what : "", what ? ": " : "",
	         tpmdev_last_error(t));
}

/* Open the TPM with the command deadline. After a timeout on a TPM without
 * a resource manager, what the unanswered command may have loaded is
 * flushed first (swtpm has three object slots). NULL on failure, with a
 * sentence in emsg and *timed_out saying whether the TPM did not answer. */
static struct tpmdev *tpm_open_msg(struct agentd_worker *w, char emsg[TPMDEV_ERRMSG_SIZE],
                                   bool *timed_out)
{
	struct tpmdev *t = NULL;
	*timed_out = false;
	if (tpmdev_open_timeout(w->cfg->tcti, w->cfg->tpm_timeout_ms, &t, emsg, timed_out) != 0)
		return NULL;
	if (w->after_timeout && !behind_rm(w->cfg->tcti)) {
		uint32_t n = 0;
		if (tpmdev_flush_all(t, &n) != 0) {
			*timed_out = tpmdev_timed_out(t);
			snprintf(emsg, TPMDEV_ERRMSG_SIZE, "%s", tpmdev_last_error(t));
			tpmdev_close(t);
			return NULL;
		}
		if (n)
			log_info("the TPM answers again; flushed %u handle(s) left by "
			         "the command that timed out",
			         (unsigned)n);
	}
	w->after_timeout = false;
	return t;
}

static struct tpmdev *tpm_open(struct agentd_worker *w, struct agentd_job *j)
{
	char emsg[TPMDEV_ERRMSG_SIZE];
	bool to = false;
	struct tpmdev *t = tpm_open_msg(w, emsg, &to);
	if (!t)
		job_fail(j, 503, to ? "TPM_TIMEOUT" : "TPM_UNAVAILABLE", "%s", emsg);
	return t;
}

/* Make the EK of kind (-1: the first certificate's) the loaded one: the
 * kept one (persistent handle, or the context saved when it was created
 * in this TPM reset), else find or create it and keep it. A TPM Reset
 * invalidates the saved context: the load fails and the EK is made again,
 * once per reset. 0, or the job holds the failure. */
static int ek_ready(struct agentd_worker *w, struct agentd_job *j, struct tpmdev *t, int kind,
                    enum tpmdev_ek_kind *ret_kind)
{
	const uint8_t *pub;
	size_t pub_len;
	if (w->ek.have && (kind < 0 || kind == (int)w->ek.kind)) {
		if (tpmdev_ek_public(t, &pub, &pub_len) == 0) {
			if (ret_kind)
				*ret_kind = w->ek.kind;
			return 0; /* loaded already in this job */
		}
		int rc;
		if (w->ek.handle) {
			rc = tpmdev_ek_persistent(t, w->ek.kind, NULL, 0);
			if (!rc &&
			    (tpmdev_ek_public(t, &pub, &pub_len) != 0 || pub_len != w->ek.pub_len ||
			     memcmp(pub, w->ek.pub, pub_len) != 0)) {
				tpmdev_ek_unload(t);
				rc = ATTEST_E_VERIFY;
			}
		} else {
			rc = tpmdev_ek_load_context(t, w->ek.ctx.p, w->ek.ctx.n, w->ek.pub,
			                            w->ek.pub_len);
		}
		if (!rc) {
			if (ret_kind)
				*ret_kind = w->ek.kind;
			return 0;
		}
		if (tpmdev_timed_out(t)) {
			tpm_fail(w, j, t, 503, "TPM_UNAVAILABLE", "cannot load the EK");
			return -1;
		}
		ek_drop(w); /* another TPM reset, or another TPM: find it again */
	}
	uint8_t *cert = NULL;
	size_t cert_len = 0;
	enum tpmdev_ek_kind k;
	int rc = agent_ek_setup(t, kind, &cert, &cert_len, &k);
	free(cert);
	if (rc) {
		tpm_fail(w, j, t, 503, "TPM_UNAVAILABLE", "cannot create the EK");
		return -1;
	}
	if (ret_kind)
		*ret_kind = k;
	if (tpmdev_ek_public(t, &pub, &pub_len) != 0 || pub_len > sizeof w->ek.pub)
		return 0;
	struct agentd_ctx c = {0};
	uint32_t handle = tpmdev_ek_handle(t);
	if (!handle && tpmdev_context_save(t, false, &c.p, &c.n) != 0) {
		if (tpmdev_timed_out(t)) {
			tpm_fail(w, j, t, 503, "TPM_UNAVAILABLE", "cannot save the EK");
			return -1;
		}
		return 0; /* not kept: made again next time */
	}
	ek_drop(w);
	w->ek.have = true;
	w->ek.kind = k;
	w->ek.handle = handle;
	w->ek.ctx = c;
	memcpy(w->ek.pub, pub, pub_len);
	w->ek.pub_len = pub_len;
	return 0;
}

/* Make the AK of slot the loaded one: from its saved context (one
 * TPM2_ContextLoad), else load its blobs under the EK and keep the context.
 * An AK whose blobs the TPM refuses fails the job with 409 NO_AK. */
static int ak_ready(struct agentd_worker *w, struct agentd_job *j, struct tpmdev *t,
                    const struct agentd_ak *slot, struct agentd_ctx *ctx)
{
	if (ctx->p) {
		int rc = tpmdev_ak_load_context(t, ctx->p, ctx->n, slot->pub, slot->pub_len);
		if (!rc)
			return 0;
		if (tpmdev_timed_out(t)) {
			tpm_fail(w, j, t, 503, "TPM_UNAVAILABLE", "cannot load the AK");
			return -1;
		}
		ctx_drop(ctx);
	}
	if (ek_ready(w, j, t, (int)slot->ek_kind, NULL) != 0)
		return -1;
	int rc = tpmdev_ak_load(t, slot->pub, slot->pub_len, slot->priv, slot->priv_len);
	if (rc) {
		if (tpmdev_timed_out(t))
			tpm_fail(w, j, t, 503, "TPM_UNAVAILABLE", "cannot load the AK");
		else if (rc == ATTEST_E_TPM || rc == ATTEST_E_FORMAT)
			/* The TPM no longer takes the AK (cleared, or another TPM):
			 * the verifier enrolls a new one. */
			tpm_fail(w, j, t, 409, "NO_AK", "the saved AK does not load any more");
		else
			tpm_fail(w, j, t, 503, "TPM_UNAVAILABLE", "cannot load the AK");
		return -1;
	}
	if (tpmdev_context_save(t, true, &ctx->p, &ctx->n) != 0 && tpmdev_timed_out(t)) {
		tpm_fail(w, j, t, 503, "TPM_UNAVAILABLE", "cannot save the AK");
		return -1;
	}
	return 0;
}

static const char *interface_name(const char *driver)
{
	if (strncmp(driver, "tpm_tis", 7) == 0)
		return "tis";
	if (strncmp(driver, "tpm_crb", 7) == 0)
		return "crb";
	return "unknown";
}

/* The EK certificates in NV as a JSON array; NULL and the job failed on a
 * timeout or out of memory. */
static json_t *read_certs(struct agentd_worker *w, struct agentd_job *j, struct tpmdev *t)
{
	json_t *certs = json_array();
	if (!certs)
		goto nomem;
	for (int k = 0; k < TPMDEV_EK_KIND_COUNT; k++) {
		uint32_t idx = tpmdev_ek_cert_index((enum tpmdev_ek_kind)k);
		uint8_t *der = NULL;
		size_t der_len = 0;
		int r2 = tpmdev_nv_read(t, idx, &der, &der_len);
		if (r2 == ATTEST_E_NOTFOUND)
			continue;
		if (r2) {
			if (tpmdev_timed_out(t)) {
				json_decref(certs);
				tpm_fail(w, j, t, 503, "TPM_UNAVAILABLE",
				         "reading EK certificates");
				return NULL;
			}
			/* An unreadable certificate is reported, not fatal:
			 * the verifier decides what a missing one means. */
			log_warning("EK certificate at 0x%08x: %s", (unsigned)idx,
			            tpmdev_last_error(t));
			continue;
		}
		char ix[16];
		snprintf(ix, sizeof ix, "0x%08x", (unsigned)idx);
		json_t *c = json_pack("{s:s}", "nv_index", ix);
		if (!c || agent_json_put_b64(c, "der", der, der_len) != 0 ||
		    json_array_append_new(certs, c) != 0) {
			json_decref(c);
			free(der);
			goto nomem;
		}
		free(der);
	}
	return certs;
nomem:
	json_decref(certs);
	job_fail(j, 500, "INTERNAL", "out of memory");
	return NULL;
}

static void job_identity(struct agentd_worker *w, struct agentd_job *j)
{
	json_t *meta = NULL, *tpm = NULL, *certs = NULL, *chain = NULL, *ans = NULL;
	struct tpmdev *t = NULL;
	if (agent_metadata(&meta) != 0) {
		job_fail(j, 500, "INTERNAL", "out of memory");
		return;
	}
	/* Kept apart until the end: a failing step replaces the job's answer. */
	ans = json_pack("{s:O,s:O,s:s}", "agent_version", json_object_get(meta, "agent_version"),
	                "boot_id", json_object_get(meta, "boot_id"), "tls_fingerprint",
	                w->cfg->thumbprint);
	json_decref(meta);
	if (!ans)
		goto nomem;

	char emsg[TPMDEV_ERRMSG_SIZE];
	bool to = false;
	t = tpm_open_msg(w, emsg, &to);
	if (!t && to) {
		job_fail(j, 503, "TPM_TIMEOUT", "%s", emsg);
		goto out;
	}
	int rc = t ? 0 : -1;
	struct tpmdev_info info;
	if (!rc && (rc = tpmdev_info(t, &info)) != 0)
		snprintf(emsg, sizeof emsg, "%s", tpmdev_last_error(t));
	if (!rc) {
		certs = read_certs(w, j, t);
		if (!certs)
			goto out;
		rc = agent_ek_chain(t, &chain);
		if (rc == ATTEST_E_NOMEM)
			goto nomem;
		if (rc)
			snprintf(emsg, sizeof emsg, "%s", tpmdev_last_error(t));
	}
	enum tpmdev_ek_kind kind = TPMDEV_EK_RSA2048;
	if (!rc && ek_ready(w, j, t, -1, &kind) != 0) {
		if (j->code && strcmp(j->code, "TPM_TIMEOUT") == 0)
			goto out;
		snprintf(emsg, sizeof emsg, "cannot create the EK: %s", tpmdev_last_error(t));
		j->code = NULL;
		j->status = 0;
		rc = -1;
	}
	if (rc && t && tpmdev_timed_out(t)) {
		tpm_fail(w, j, t, 503, "TPM_UNAVAILABLE", NULL);
		goto out;
	}
	if (rc) {
		json_decref(certs);
		json_decref(chain);
		certs = chain = NULL;
		tpm = json_pack("{s:b,s:s}", "present", 0, "error", emsg);
	} else {
		char fw[24], iface[32];
		snprintf(fw, sizeof fw, "%x.%x", (unsigned)info.firmware_version_1,
		         (unsigned)info.firmware_version_2);
		tpmdev_interface(w->cfg->tcti, iface, sizeof iface);
		json_t *banks = json_array();
		for (uint32_t b = 0; banks && b < info.bank_count; b++)
			if (json_array_append_new(banks,
			                          json_string(agent_bank_name(info.banks[b]))))
				break;
		tpm = json_pack("{s:b,s:s,s:s,s:s,s:s,s:o,s:s,s:o,s:o}", "present", 1,
		                "manufacturer", info.manufacturer, "vendor", info.vendor,
		                "firmware", fw, "interface", interface_name(iface), "banks", banks,
		                "ek_kind", agentd_ek_kind_api_name(kind), "ek_certificates", certs,
		                "ek_chain", chain);
		certs = chain = NULL;
		const uint8_t *ekpub;
		size_t ekpub_len;
		if (tpm && (tpmdev_ek_public(t, &ekpub, &ekpub_len) != 0 ||
		            agent_json_put_b64(tpm, "ek_public", ekpub, ekpub_len) != 0)) {
			json_decref(tpm);
			tpm = NULL;
		}
	}
	tpmdev_close(t);
	t = NULL;
	if (!tpm || json_object_set_new(ans, "tpm", tpm) != 0)
		goto nomem;
	json_decref(j->answer);
	j->answer = ans;
	j->status = 200;
	return;
nomem:
	job_fail(j, 500, "INTERNAL", "out of memory");
out:
	json_decref(ans);
	json_decref(certs);
	json_decref(chain);
	tpmdev_close(t);
}

static void job_ak(struct agentd_worker *w, struct agentd_job *j)
{
	enum tpmdev_ek_kind kind;
	struct tpmdev *t = tpm_open(w, j);
	if (!t)
		return;
	struct agentd_ak ak;
	memset(&ak, 0, sizeof ak);
	struct agentd_ctx ctx = {0};
	const uint8_t *pub, *priv, *name;
	size_t pub_len, priv_len, name_len;
	if (ek_ready(w, j, t, -1, &kind) != 0)
		goto out;
	if (tpmdev_ak_create(t, j->ak_alg) != 0) {
		tpm_fail(w, j, t, 503, "TPM_UNAVAILABLE", NULL);
		goto out;
	}
	if (tpmdev_ak_public(t, &pub, &pub_len) || tpmdev_ak_private(t, &priv, &priv_len) ||
	    tpmdev_ak_name(t, &name, &name_len) || pub_len > sizeof ak.pub ||
	    priv_len > sizeof ak.priv || name_len > sizeof ak.name) {
		job_fail(j, 500, "INTERNAL", "the TPM returned an AK larger than expected");
		goto out;
	}
	ak.have = true;
	ak.ek_kind = kind;
	memcpy(ak.pub, pub, pub_len);
	ak.pub_len = pub_len;
	memcpy(ak.priv, priv, priv_len);
	ak.priv_len = priv_len;
	memcpy(ak.name, name, name_len);
	ak.name_len = name_len;
	/* Keep it loadable with one TPM2_ContextLoad for the activation. */
	if (tpmdev_context_save(t, true, &ctx.p, &ctx.n) != 0 && tpmdev_timed_out(t)) {
		tpm_fail(w, j, t, 503, "TPM_UNAVAILABLE", "cannot save the AK");
		goto out;
	}
	if (ak_save(w->cfg, "pending", &ak) != 0) {
		job_fail(j, 500, "STATE_NOT_SAVED", "cannot write %s/ak-pending.json: %s",
		         w->cfg->data_dir, strerror(errno));
		goto out;
	}
	w->pending = ak;
	ctx_drop(&w->pending_ctx);
	w->pending_ctx = ctx;
	ctx.p = NULL;
	char hex[2 * AGENTD_NAME_MAX + 1];
	hex_encode(ak.name, ak.name_len, hex);
	j->answer = json_pack("{s:s}", "ak_name", hex);
	if (!j->answer || agent_json_put_b64(j->answer, "ak_public", ak.pub, ak.pub_len) != 0) {
		job_fail(j, 500, "INTERNAL", "out of memory");
		goto out;
	}
	j->status = 200;
out:
	ctx_drop(&ctx);
	OPENSSL_cleanse(&ak, sizeof ak);
	tpmdev_close(t);
}

static void job_activate(struct agentd_worker *w, struct agentd_job *j)
{
	if (!w->pending.have || w->pending.name_len != j->ak_name_len ||
	    CRYPTO_memcmp(w->pending.name, j->ak_name, j->ak_name_len) != 0) {
		job_fail(j, 409, "AK_NOT_PENDING",
		         w->pending.have ? "ak_name is not the name of the pending AK"
		                         : "no AK is pending activation (POST /v1/ak first)");
		return;
	}
	struct tpmdev *t = tpm_open(w, j);
	if (!t)
		return;
	uint8_t *secret = NULL;
	size_t secret_len = 0;
	/* The EK first: loading one unloads any AK. */
	if (ek_ready(w, j, t, (int)w->pending.ek_kind, NULL) != 0)
		goto out;
	if (ak_ready(w, j, t, &w->pending, &w->pending_ctx) != 0) {
		if (j->status == 409)
			job_fail(j, 503, "TPM_UNAVAILABLE", "cannot load the pending AK: %s",
			         tpmdev_last_error(t));
		goto out;
	}
	int rc = tpmdev_activate_credential(t, j->cred, j->cred_len, j->secret, j->secret_len,
	                                    &secret, &secret_len);
	if (rc && tpmdev_timed_out(t)) {
		tpm_fail(w, j, t, 503, "TPM_UNAVAILABLE", NULL);
		goto out;
	}
	if (rc == ATTEST_E_TPM || rc == ATTEST_E_FORMAT) {
		job_fail(j, 422, "ACTIVATION_FAILED", "the TPM refused the credential: %s",
		         tpmdev_last_error(t));
		goto out;
	}
	if (rc) {
		job_fail(j, 503, "TPM_UNAVAILABLE", "%s", tpmdev_last_error(t));
		goto out;
	}
	/* Current first, then drop pending: a crash in between leaves both
	 * files, and the pending one is harmless (it is replaced by the next
	 * POST /v1/ak, or activated again). */
	if (ak_save(w->cfg, "current", &w->pending) != 0) {
		job_fail(j, 500, "STATE_NOT_SAVED", "cannot write %s/ak-current.json: %s",
		         w->cfg->data_dir, strerror(errno));
		goto out;
	}
	w->current = w->pending;
	OPENSSL_cleanse(&w->pending, sizeof w->pending);
	ctx_drop(&w->current_ctx);
	w->current_ctx = w->pending_ctx;
	w->pending_ctx.p = NULL;
	w->pending_ctx.n = 0;
	if (ak_remove(w->cfg, "pending") != 0)
		log_warning("cannot remove %s/ak-pending.json: %s", w->cfg->data_dir,
		            strerror(errno));
	j->answer = json_object();
	if (!j->answer || agent_json_put_b64(j->answer, "secret", secret, secret_len) != 0) {
		job_fail(j, 500, "INTERNAL", "out of memory");
		goto out;
	}
	char hex[2 * AGENTD_NAME_MAX + 1];
	hex_encode(w->current.name, w->current.name_len, hex);
	log_info("AK %s activated; it is now the current AK", hex);
	j->status = 200;
out:
	if (secret)
		OPENSSL_cleanse(secret, secret_len);
	free(secret);
	tpmdev_close(t);
}

/* A quote costs: TPM2_ContextLoad of the AK, TPM2_Quote, TPM2_PCR_Read,
 * TPM2_ReadClock and TPM2_FlushContext; the EK is needed only when the
 * saved AK context no longer loads (a TPM Reset). */
static void job_quote(struct agentd_worker *w, struct agentd_job *j)
{
	if (!w->current.have) {
		job_fail(j, 409, "NO_AK", "the agent has no activated AK: enroll it first");
		return;
	}
	uint8_t *log = NULL;
	size_t log_len = 0;
	json_t *meta = NULL;
	struct tpmdev *t = NULL;
	int rc = fileio_read(w->cfg->eventlog, EVENTLOG_MAX_SIZE, &log, &log_len);
	if (rc == ATTEST_E_IO && errno == ENOENT) {
		/* No log (no UEFI, or no TPM driver exporting it): send none and
		 * let the verifier say what that means. */
		log = NULL;
		log_len = 0;
	} else if (rc) {
		job_fail(j, 500, "EVENTLOG_UNREADABLE", "cannot read the event log %s: %s",
		         w->cfg->eventlog,
		         rc == ATTEST_E_LIMIT ? "larger than the 16 MiB cap"
		         : rc == ATTEST_E_IO  ? strerror(errno)
		                              : attest_strerror(rc));
		return;
	}
	if (agent_metadata(&meta) != 0 ||
	    json_object_set_new(meta, "tls_fingerprint", json_string(w->cfg->thumbprint)) != 0) {
		job_fail(j, 500, "INTERNAL", "out of memory");
		goto out;
	}
	uint64_t t0 = agent_now_ns();
	t = tpm_open(w, j);
	if (!t)
		goto out;
	rc = ak_ready(w, j, t, &w->current, &w->current_ctx);
	j->tpm_ns += agent_now_ns() - t0;
	if (rc)
		goto out;
	/* The verifier holds this very log memoized: leave it out and say so. */
	uint8_t d[32];
	j->log_unchanged = log && j->have_log_sha256 &&
	                   EVP_Digest(log, log_len, d, NULL, EVP_sha256(), NULL) &&
	                   CRYPTO_memcmp(d, j->log_sha256, sizeof d) == 0;
	uint64_t quote_ns = 0;
	rc = agent_evidence_bundle(t, &j->sel, j->nonce, j->nonce_len, meta,
	                           j->log_unchanged ? NULL : log, j->log_unchanged ? 0 : log_len,
	                           &j->answer, &quote_ns);
	if (rc == 0 && j->log_unchanged &&
	    (json_object_del(j->answer, "eventlog") != 0 ||
	     json_object_set_new(j->answer, "eventlog_unchanged", json_true()) != 0))
		rc = ATTEST_E_NOMEM;
	j->tpm_ns += quote_ns;
	if (rc && tpmdev_timed_out(t)) {
		tpm_fail(w, j, t, 503, "TPM_UNAVAILABLE", NULL);
		goto out;
	}
	if (rc == ATTEST_E_NOTFOUND) {
		job_fail(j, 422, "PCR_BANK_INACTIVE", "%s", tpmdev_last_error(t));
		goto out;
	}
	if (rc == ATTEST_E_NOMEM) {
		job_fail(j, 500, "INTERNAL", "out of memory");
		goto out;
	}
	if (rc) {
		job_fail(j, 503, "TPM_UNAVAILABLE", "%s", tpmdev_last_error(t));
		goto out;
	}
	uint32_t resets = 0, restarts = 0;
	uint64_t t2 = agent_now_ns();
	rc = tpmdev_clock(t, &resets, &restarts);
	if (rc) {
		tpm_fail(w, j, t, 503, "TPM_UNAVAILABLE", NULL);
		goto out;
	}
	tpmdev_close(t);
	t = NULL;
	j->tpm_ns += agent_now_ns() - t2;
	char hex[2 * AGENTD_NAME_MAX + 1];
	hex_encode(w->current.name, w->current.name_len, hex);
	if (json_object_set_new(j->answer, "ak_name", json_string(hex)) != 0 ||
	    json_object_set_new(j->answer, "clock",
	                        json_pack("{s:I,s:I}", "reset_count", (json_int_t)resets,
	                                  "restart_count", (json_int_t)restarts)) != 0) {
		job_fail(j, 500, "INTERNAL", "out of memory");
		goto out;
	}
	j->status = 200;
out:
	if (t) {
		uint64_t t3 = agent_now_ns();
		tpmdev_close(t);
		j->tpm_ns += agent_now_ns() - t3;
	}
	json_decref(meta);
	free(log);
}

static void run_job(struct agentd_worker *w, struct agentd_job *j)
{
	uint64_t t0 = agent_now_ns();
	switch (j->kind) {
	case AGENTD_JOB_IDENTITY: job_identity(w, j); break;
	case AGENTD_JOB_AK: job_ak(w, j); break;
	case AGENTD_JOB_ACTIVATE: job_activate(w, j); break;
	case AGENTD_JOB_QUOTE: job_quote(w, j); return; /* times its TPM parts itself */
	default: job_fail(j, 500, "INTERNAL", "unknown job"); break;
	}
	/* The other jobs are TPM work through and through: their whole run counts. */
	j->tpm_ns = agent_now_ns() - t0;
}

/* ---- thread and hand-over -------------------------------------------------- */

static void *worker_main(void *arg)
{
	struct agentd_worker *w = arg;
	bool untrimmed = false;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->stop && !w->queue) {
			if (!untrimmed) {
				pthread_cond_wait(&w->cv, &w->mu);
				continue;
			}
			/* Idle for a moment after a job: the loop thread has sent
			 * and freed its answer by now; give those pages back. */
			struct timespec dl;
			clock_gettime(CLOCK_REALTIME, &dl);
			dl.tv_nsec += 200 * 1000000L;
			if (dl.tv_nsec >= 1000000000L) {
				dl.tv_sec++;
				dl.tv_nsec -= 1000000000L;
			}
			if (pthread_cond_timedwait(&w->cv, &w->mu, &dl) == ETIMEDOUT && !w->queue) {
				malloc_trim(0);
				untrimmed = false;
			}
		}
		if (w->stop)
			break;
		struct agentd_job *j = w->queue;
		w->queue = j->next;
		if (!w->queue)
			w->queue_tail = NULL;
		w->queued--;
		j->next = NULL;
		pthread_mutex_unlock(&w->mu);

		run_job(w, j);
		untrimmed = true;

		pthread_mutex_lock(&w->mu);
		if (w->done_tail)
			w->done_tail->next = j;
		else
			w->done = j;
		w->done_tail = j;
		uint64_t one = 1;
		/* eventfd counts: a write can only fail if the counter is at
		 * its maximum, and then the loop is woken anyway. */
		if (write(w->efd, &one, sizeof one) < 0) {
		}
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	struct agentd_worker *w = arg;
	uint64_t n;
	if (read(fd, &n, sizeof n) < 0) {
		/* EAGAIN: another wake-up already drained it. */
	}
	pthread_mutex_lock(&w->mu);
	struct agentd_job *list = w->done;
	w->done = w->done_tail = NULL;
	pthread_mutex_unlock(&w->mu);
	while (list) {
		struct agentd_job *j = list;
		list = j->next;
		j->next = NULL;
		w->done_fn(j, w->done_arg);
	}
}

int agentd_worker_start(const struct agentd_config *cfg, struct event_base *base,
                        agentd_done_fn done, void *arg, struct agentd_worker **ret)
{
	struct agentd_worker *w = calloc(1, sizeof *w);
	if (!w)
		return ATTEST_E_NOMEM;
	w->cfg = cfg;
	w->done_fn = done;
	w->done_arg = arg;
	w->efd = -1;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	/* The agent's private memory budget is 2 MB (docs/agent-tpm.md): one
	 * malloc arena for both threads (a second one keeps its own free
	 * pages), large buffers (event log, answers) mapped and unmapped on
	 * their own, and free pages trimmed when idle (worker_main). */
	mallopt(M_ARENA_MAX, 1);
	mallopt(M_MMAP_THRESHOLD, 64 * 1024);
	ak_startup_load(w, "pending", &w->pending);
	ak_startup_load(w, "current", &w->current);

	int rc = ATTEST_E_IO;
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->efd < 0)
		goto fail;
	w->ev = event_new(base, w->efd, EV_READ | EV_PERSIST, on_done, w);
	if (!w->ev || event_add(w->ev, NULL) != 0)
		goto fail;
	/* The worker takes no signals: SIGTERM/SIGINT go to the loop thread. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int e = pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		errno = e;
		goto fail;
	}
	w->started = true;
	*ret = w;
	return 0;
fail:
	agentd_worker_stop(w);
	return rc;
}

int agentd_worker_submit(struct agentd_worker *w, struct agentd_job *job)
{
	pthread_mutex_lock(&w->mu);
	if (w->queued >= AGENTD_MAX_QUEUED) {
		pthread_mutex_unlock(&w->mu);
		return ATTEST_E_LIMIT;
	}
	job->next = NULL;
	if (w->queue_tail)
		w->queue_tail->next = job;
	else
		w->queue = job;
	w->queue_tail = job;
	w->queued++;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

static void free_list(struct agentd_job *j)
{
	while (j) {
		struct agentd_job *next = j->next;
		agentd_job_free(j);
		j = next;
	}
}

void agentd_worker_stop(struct agentd_worker *w)
{
	if (!w)
		return;
	if (w->started) {
		pthread_mutex_lock(&w->mu);
		w->stop = true;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thread, NULL);
	}
	free_list(w->queue);
	free_list(w->done);
	if (w->ev)
		event_free(w->ev);
	if (w->efd >= 0)
		close(w->efd);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	OPENSSL_cleanse(&w->pending, sizeof w->pending);
	OPENSSL_cleanse(&w->current, sizeof w->current);
	ctx_drop(&w->pending_ctx);
	ctx_drop(&w->current_ctx);
	ek_drop(w);
	free(w);
}
