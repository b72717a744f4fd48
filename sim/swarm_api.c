/* The Agent API v1 (docs/protocol.md) of one emulated host: the same
 * routes, bodies, codes and checks as attest-agent (request bodies go
 * through the agent's own parser, agent/request.c), answered on the event
 * loop from software keys instead of a TPM: at once, or a quote once its
 * signature (made on a worker thread, swarm_sign.c) is done. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "b64enc.h"
#include "credential_activate.h"
#include "err.h"
#include "evidence.h"
#include "hex.h"
#include "log.h"
#include "request.h"
#include "swarm.h"
#include "tpmdev_templates.h"

#define SWARM_MAX_BODY (64u * 1024u) /* the agent's cap */

static double ms_since(uint64_t t0)
{
	return (double)(swarm_now_ns() - t0) / 1e6;
}

static int put_b64(json_t *o, const char *key, const uint8_t *b, size_t n)
{
	char *s = b64enc(b, n);
	int rc = s && json_object_set_new(o, key, json_string(s)) == 0 ? 0 : ATTEST_E_NOMEM;
	free(s);
	return rc;
}

/* The agent's trust rule: a pinned verifier thumbprint, or (labs) the first
 * caller of GET /v1/identity. false: answered 403. */
static bool trusted(struct swarm_host *h, struct https_request *req, bool identity)
{
	struct swarm *sw = h->sw;
	const char *tp = https_request_peer_thumbprint(req);
	for (unsigned i = 0; tp && i < sw->ntrusted; i++)
		if (tlsid_thumbprint_equal(tp, sw->trusted[i]))
			return true;
	if (tp && identity && sw->trust_first && sw->ntrusted == 0) {
		snprintf(sw->trusted[0], sizeof sw->trusted[0], "%s", tp);
		sw->ntrusted = 1;
		log_notice("trusting the first verifier: %s", tp);
		return true;
	}
	sw->refused++;
	https_reply_error(req, 403, "VERIFIER_NOT_TRUSTED",
	                  "this host does not trust the client certificate");
	return false;
}

static void metadata(struct swarm_host *h, json_t **ret)
{
	*ret =
	    json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "hostname", h->name, "os_release",
	              "attest-swarm emulated host", "kernel", "6.1.0-swarm", "boot_id", h->boot_id,
	              "agent_version", ATTEST_VERSION, "tls_fingerprint", h->tls.thumbprint);
}

/* The answer of one Agent API call, whichever carrier brought it: over the
 * host's own listener (pull: req) or down the verifier's push channel
 * (push: posted with the next poll). */
static void reply_json(struct swarm_host *h, struct swarm_req *q, int status, json_t *j)
{
	if (q->req)
		https_reply_json(q->req, status, j);
	else
		swarm_push_answer(h, status, j);
}

static void reply_error(struct swarm_host *h, struct swarm_req *q, int status, const char *code,
                        const char *message)
{
	reply_json(h, q, status,
	           json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message));
}

static void do_identity(struct swarm_host *h, struct swarm_req *q)
{
	h->sw->identities++;
	json_t *banks = json_array();
	for (uint32_t b = 0; banks && b < h->sw->pcrs.bank_count; b++) {
		uint16_t alg = h->sw->pcrs.banks[b].alg;
		const char *n = alg == TPM2_ALG_SHA1     ? "sha1"
		                : alg == TPM2_ALG_SHA256 ? "sha256"
		                : alg == TPM2_ALG_SHA384 ? "sha384"
		                                         : NULL;
		if (n && h->sw->pcrs.banks[b].touched)
			json_array_append_new(banks, json_string(n));
	}
	json_t *cert = json_pack("{s:s}", "nv_index", "0x01c0000a");
	json_t *certs = json_array();
	json_t *tpm =
	    json_pack("{s:b,s:s,s:s,s:s,s:s,s:o,s:s,s:[]}", "present", 1, "manufacturer", "SWRM",
	              "vendor", "attest-swarm", "firmware", "2026.1206", "interface", "unknown",
	              "banks", banks, "ek_kind", "ecc_p256", "ek_chain");
	json_t *ans = json_pack("{s:s,s:s,s:s}", "agent_version", ATTEST_VERSION, "boot_id",
	                        h->boot_id, "tls_fingerprint", h->tls.thumbprint);
	if (!cert || !certs || !tpm || !ans || put_b64(cert, "der", h->ek_cert, h->ek_cert_len) ||
	    json_array_append(certs, cert) || json_object_set(tpm, "ek_certificates", certs) ||
	    put_b64(tpm, "ek_public", h->ek_pub, h->ek_pub_len) ||
	    json_object_set(ans, "tpm", tpm)) {
		reply_error(h, q, 500, "INTERNAL", "out of memory");
		json_decref(ans);
	} else {
		reply_json(h, q, 200, ans);
	}
	json_decref(cert);
	json_decref(certs);
	json_decref(tpm);
}

static void ak_clear(struct swarm_ak *a)
{
	EVP_PKEY_free(a->key);
	OPENSSL_cleanse(a, sizeof *a);
}

/* POST /v1/ak: a fresh AK of the type asked (the agent's parser: none or
 * "rsa", RSA-2048 RSASSA/SHA-256; "ecc", P-256 ECDSA/SHA-256), on the
 * agent's own template (tpmdev's ak_template), kept as the pending one.
 * RSA AKs come from the swarm's prime pool (swarm_rsa.c: microseconds each,
 * test keys only), P-256 ones are made here. */
static void do_ak(struct swarm_host *h, struct swarm_req *q)
{
	const uint8_t *body = q->body;
	size_t len = q->len;
	char msg[AGENT_REQ_MSG_SIZE];
	struct agent_req r;
	if (agent_request_ak(body, len, &r, msg) != 0) {
		reply_error(h, q, 400, "BAD_REQUEST", msg);
		return;
	}
	struct swarm_ak ak;
	memset(&ak, 0, sizeof ak);
	TPM2B_PUBLIC t;
	TPMT_PUBLIC pub;
	bool rsa = r.ak_alg == AGENT_REQ_AK_RSA;
	ak_template(rsa ? TPMDEV_AK_RSA : TPMDEV_AK_ECC, &t);
	ak.key = rsa ? swarm_rsa_ak(h->sw->rsa) : swarm_p256();
	if (!ak.key ||
	    swarm_key_public(ak.key, &t.publicArea, ak.pub, sizeof ak.pub, &ak.pub_len, &pub) ||
	    tpm_public_name(&pub, ak.name, &ak.name_len) < 0) {
		ak_clear(&ak);
		reply_error(h, q, 503, "TPM_UNAVAILABLE", "cannot create the AK");
		return;
	}
	if (rsa)
		h->sw->aks_rsa++;
	ak_clear(&h->pending);
	h->pending = ak;
	h->sw->aks++;
	char hex[2 * TPM_NAME_MAX + 1];
	hex_encode(ak.name, ak.name_len, hex);
	json_t *ans = json_pack("{s:s}", "ak_name", hex);
	if (!ans || put_b64(ans, "ak_public", ak.pub, ak.pub_len)) {
		json_decref(ans);
		reply_error(h, q, 500, "INTERNAL", "out of memory");
		return;
	}
	reply_json(h, q, 200, ans);
}

/* POST /v1/activate: ActivateCredential with the EK's private key and the
 * pending AK's Name; on success the pending AK becomes the current one. */
static void do_activate(struct swarm_host *h, struct swarm_req *q)
{
	const uint8_t *body = q->body;
	size_t len = q->len;
	char msg[AGENT_REQ_MSG_SIZE];
	struct agent_req r;
	if (agent_request_activate(body, len, &r, msg) != 0) {
		reply_error(h, q, 400, "BAD_REQUEST", msg);
		return;
	}
	if (!h->pending.key || h->pending.name_len != r.ak_name_len ||
	    CRYPTO_memcmp(h->pending.name, r.ak_name, r.ak_name_len) != 0) {
		agent_request_clear(&r);
		reply_error(h, q, 409, "AK_NOT_PENDING",
		            h->pending.key ? "ak_name is not the name of the pending AK"
		                           : "no AK is pending activation (POST /v1/ak first)");
		return;
	}
	TPMT_PUBLIC ek;
	uint8_t secret[CREDENTIAL_MAX];
	size_t sl = 0;
	int rc = tpm_public_decode(h->ek_pub, h->ek_pub_len, &ek, NULL);
	if (!rc)
		rc = credential_activate(&ek, h->ek_key, h->pending.name, h->pending.name_len,
		                         r.cred, r.cred_len, r.secret, r.secret_len, secret, &sl);
	agent_request_clear(&r);
	if (rc) {
		h->sw->activation_failures++;
		reply_error(h, q, 422, "ACTIVATION_FAILED",
		            rc == ATTEST_E_VERIFY
		                ? "the TPM refused the credential: integrity check failed"
		                : "the TPM refused the credential: malformed blob or secret");
		return;
	}
	ak_clear(&h->ak);
	h->ak = h->pending;
	memset(&h->pending, 0, sizeof h->pending);
	h->sw->activations++;
	json_t *ans = json_object();
	if (!ans || put_b64(ans, "secret", secret, sl)) {
		json_decref(ans);
		reply_error(h, q, 500, "INTERNAL", "out of memory");
	} else {
		reply_json(h, q, 200, ans);
	}
	OPENSSL_cleanse(secret, sizeof secret);
}

/* A quote in flight: its answer but for the quote, signature and timing,
 * while the signature is made (swarm_sign.c). */
struct quote_job {
	struct swarm_sign_job sj; /* first: the job is freed through it */
	struct swarm_host *h;
	struct swarm_req q; /* body and len unused by then */
	json_t *ans;
	uint64_t t0, ts;
};

static void quote_done(struct swarm_sign_job *sj, bool cancelled)
{
	struct quote_job *j = (struct quote_job *)sj;
	struct swarm_host *h = j->h;
	struct swarm_req *q = &j->q;
	double tpm_ms = ms_since(j->ts);
	if (cancelled) {
		/* the swarm stops: the request goes with its server or poll */
	} else if (sj->rc) {
		reply_error(h, q, 503, "TPM_UNAVAILABLE", "the quote could not be made");
	} else if (put_b64(j->ans, "quote", sj->attest, sj->attest_len) ||
	           put_b64(j->ans, "signature", sj->sig, sj->sig_len) ||
	           json_object_set_new(j->ans, "timing",
	                               json_pack("{s:f,s:f}", "tpm_ms", tpm_ms, "total_ms",
	                                         ms_since(j->t0))) != 0) {
		reply_error(h, q, 500, "INTERNAL", "out of memory");
	} else {
		h->sw->quotes++;
		reply_json(h, q, 200, j->ans);
		j->ans = NULL;
		uint64_t ms = (swarm_now_ns() - j->t0) / 1000000u;
		h->sw->answer_ms[ms < SWARM_ANSWER_BUCKETS ? ms : SWARM_ANSWER_BUCKETS - 1]++;
	}
	json_decref(j->ans);
	free(j);
}

/* POST /v1/quote: the evidence bundle, as agent/evidence_bundle.c builds
 * it, plus ak_name, clock and timing. Answered once the signature is made
 * (on a worker thread unless --sign-threads 0). */
static void do_quote(struct swarm_host *h, struct swarm_req *q)
{
	uint64_t t0 = swarm_now_ns();
	if (!h->ak.key) {
		reply_error(h, q, 409, "NO_AK", "the agent has no activated AK: enroll it first");
		return;
	}
	const uint8_t *body = q->body;
	size_t len = q->len;
	char msg[AGENT_REQ_MSG_SIZE];
	struct agent_req r;
	if (agent_request_quote(body, len, &r, msg) != 0) {
		reply_error(h, q, 400, "BAD_REQUEST", msg);
		return;
	}
	json_t *meta = NULL, *pcrs = NULL;
	char *canon = NULL;
	uint8_t qd[EVIDENCE_QUALIFYING_SIZE];
	struct quote_job *j = calloc(1, sizeof *j);
	metadata(h, &meta);
	if (!j || !meta || evidence_metadata_canonical(meta, &canon) != 0 ||
	    evidence_qualifying_data(r.nonce, r.nonce_len, (const uint8_t *)canon, strlen(canon),
	                             qd) != 0) {
		reply_error(h, q, 500, "INTERNAL", "out of memory");
		goto out;
	}
	uint64_t ts = swarm_now_ns();
	int rc = swarm_quote_attest(h, &r.sel, qd, j->sj.attest, sizeof j->sj.attest,
	                            &j->sj.attest_len, &pcrs);
	if (rc == ATTEST_E_NOTFOUND) {
		reply_error(h, q, 422, "PCR_BANK_INACTIVE",
		            "a bank of the selection is not active on this TPM");
		goto out;
	}
	if (rc) {
		reply_error(h, q, 503, "TPM_UNAVAILABLE", "the quote could not be made");
		goto out;
	}
	char nhex[2 * AGENT_REQ_NONCE_MAX + 1], name[2 * TPM_NAME_MAX + 1];
	hex_encode(r.nonce, r.nonce_len, nhex);
	hex_encode(h->ak.name, h->ak.name_len, name);
	const char *log = h->tampered ? h->sw->log_b64_tampered : h->sw->log_b64;
	const uint8_t *logd = h->tampered ? h->sw->log_sha256_tampered : h->sw->log_sha256;
	/* The verifier holds this very log memoized: leave it out and say so. */
	bool unchanged = r.have_log_sha256 && CRYPTO_memcmp(r.log_sha256, logd, 32) == 0;
	/* Everything of the AK now: an activation may replace it while the
	 * signature is made (which has a reference of its own to this one). */
	j->ans =
	    json_pack("{s:O,s:s,s:O,s:s,s:{s:I,s:I}}", "pcrs", pcrs, "nonce", nhex, "metadata",
	              meta, "ak_name", name, "clock", "reset_count", (json_int_t)h->reset_count,
	              "restart_count", (json_int_t)h->restart_count);
	if (!j->ans ||
	    json_object_set_new(j->ans, unchanged ? "eventlog_unchanged" : "eventlog",
	                        unchanged ? json_true() : json_string(log)) != 0 ||
	    put_b64(j->ans, "ak_public", h->ak.pub, h->ak.pub_len) ||
	    EVP_PKEY_up_ref(h->ak.key) != 1) {
		reply_error(h, q, 500, "INTERNAL", "out of memory");
		goto out;
	}
	j->sj.key = h->ak.key;
	j->sj.done = quote_done;
	j->h = h;
	j->q.req = q->req;
	j->t0 = t0;
	j->ts = ts;
	swarm_sign_submit(h->sw, &j->sj);
	j = NULL; /* quote_done's */
out:
	if (j)
		json_decref(j->ans);
	free(j);
	json_decref(meta);
	json_decref(pcrs);
	free(canon);
	agent_request_clear(&r);
}

/* Pull: the listener, which found the host by the address the connection
 * arrived on (its tag), the verifier's certificate checked by the agent's
 * trust rule first. */
#define PULL_ROUTE(fn, identity)                                                                   \
	static void on_##fn(struct https_request *req, void *arg)                                  \
	{                                                                                          \
		struct swarm_host *h = https_request_tag(req);                                     \
		struct swarm_req q = {.req = req};                                                 \
		(void)arg;                                                                         \
		if (!h) {                                                                          \
			https_reply_error(req, 500, "INTERNAL", "no host at this address");        \
			return;                                                                    \
		}                                                                                  \
		if (!trusted(h, req, identity))                                                    \
			return;                                                                    \
		https_request_body(req, &q.body, &q.len);                                          \
		do_##fn(h, &q);                                                                    \
	}
PULL_ROUTE(identity, true)
PULL_ROUTE(ak, false)
PULL_ROUTE(activate, false)
PULL_ROUTE(quote, false)

void swarm_serve(struct swarm_host *h, const char *method, const char *path, struct swarm_req *q)
{
	static const struct {
		const char *method, *path;
		void (*fn)(struct swarm_host *, struct swarm_req *);
	} routes[] = {{"GET", "/v1/identity", do_identity},
	              {"POST", "/v1/ak", do_ak},
	              {"POST", "/v1/activate", do_activate},
	              {"POST", "/v1/quote", do_quote}};
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
		if (strcmp(method, routes[i].method) == 0 && strcmp(path, routes[i].path) == 0) {
			routes[i].fn(h, q);
			return;
		}
	reply_error(h, q, 404, "NOT_FOUND", "no such route");
}

/* The host whose address a connection arrived on: hosts are sorted by
 * address (assigned in ascending order), so a binary search. */
static const struct tlsid *host_of_address(const struct sockaddr *local, void *arg, void **ret_tag)
{
	struct swarm *sw = arg;
	if (local->sa_family != AF_INET)
		return NULL;
	uint32_t a = ntohl(((const struct sockaddr_in *)local)->sin_addr.s_addr);
	size_t lo = 0, hi = sw->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct swarm_host *h = &sw->hosts[mid];
		if (h->addr == a) {
			*ret_tag = h;
			return &h->tls;
		}
		if (h->addr < a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int swarm_listen(struct swarm *sw, unsigned port)
{
	char err[256] = "", listen[32];
	snprintf(listen, sizeof listen, "0.0.0.0:%u", port);
	/* Every host's connections on one socket: the verifier's (one kept
	 * alive per host, as attest-agent keeps it, AGENTD_KEEPALIVE_S, and one
	 * more now and then), all from the verifier's one address. About one
	 * descriptor per host, where a listener per host took three. */
	unsigned max = sw->n + sw->n / 8 + 64;
	struct https_server_config cfg = {
	    .listen = listen,
	    .select_identity = host_of_address,
	    .select_arg = sw,
	    .client_cert = HTTPS_CLIENT_CERT_REQUIRED,
	    .max_body = SWARM_MAX_BODY,
	    .keepalive_ms = 150000,
	    .max_connections = max,
	    .max_per_peer = max,
	    /* The wildcard address, but loopback only (the hosts' addresses
	     * are 127.x.y.z; a connection to any other is refused at its
	     * ClientHello anyway). */
	    .bind_device = "lo",
	    /* as attest-agent: the verifier's sessions kept here (one per
	     * host, each under its host's session id context) */
	    .session_cache = max,
	};
	int rc = https_server_new(sw->base, &cfg, &sw->srv, err, sizeof err);
	if (rc == ATTEST_E_IO && errno == EPERM) {
		log_notice("%s: cannot bind to the loopback interface (no CAP_NET_RAW): serving "
		           "the wildcard address, hosts' addresses only",
		           listen);
		cfg.bind_device = NULL;
		rc = https_server_new(sw->base, &cfg, &sw->srv, err, sizeof err);
	}
	if (rc) {
		log_error("cannot listen on %s: %s", listen, err);
		return rc;
	}
	if (https_server_route(sw->srv, "GET", "/v1/identity", on_identity, sw) ||
	    https_server_route(sw->srv, "POST", "/v1/ak", on_ak, sw) ||
	    https_server_route(sw->srv, "POST", "/v1/activate", on_activate, sw) ||
	    https_server_route(sw->srv, "POST", "/v1/quote", on_quote, sw))
		return ATTEST_E_NOMEM;
	for (unsigned i = 0; i < sw->n; i++) {
		struct swarm_host *h = &sw->hosts[i];
		char *colon = strrchr(h->listen, ':');
		if (colon)
			snprintf(colon + 1, (size_t)(h->listen + sizeof h->listen - colon - 1),
			         "%u", (unsigned)https_server_port(sw->srv));
	}
	return 0;
}
