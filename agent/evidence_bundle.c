/* The evidence bundle (docs/protocol.md, "Evidence bundle"), built in one
 * place for `attest-agent evidence` and the daemon's POST /v1/quote. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "alg.h"
#include "b64enc.h"
#include "err.h"
#include "evidence.h"
#include "hex.h"

uint64_t agent_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *agent_bank_name(uint16_t alg)
{
	const struct alg_hash *h = alg_bank_by_id(alg);
	return h ? h->name : "unknown";
}

int agent_json_put_b64(json_t *o, const char *key, const uint8_t *b, size_t n)
{
	char *s = b64enc(b, n);
	if (!s)
		return ATTEST_E_NOMEM;
	int rc = json_object_set_new(o, key, json_string(s)) == 0 ? 0 : ATTEST_E_NOMEM;
	free(s);
	return rc;
}

/* {"sha256": {"0": "<hex>", ...}, ...} */
static json_t *pcrs_json(const struct tpmdev_pcr_values *v)
{
	json_t *o = json_object();
	for (uint32_t b = 0; o && b < v->count; b++) {
		json_t *bank = json_object();
		if (!bank || json_object_set_new(o, agent_bank_name(v->banks[b].alg), bank) != 0)
			goto err;
		for (unsigned p = 0; p < TPMDEV_NUM_PCRS; p++) {
			if (!(v->banks[b].mask & (1u << p)))
				continue;
			char hex[2 * TPMDEV_DIGEST_MAX + 1], idx[4];
			hex_encode(v->banks[b].pcr[p], v->banks[b].size, hex);
			snprintf(idx, sizeof idx, "%u", p);
			if (json_object_set_new(bank, idx, json_string(hex)) != 0)
				goto err;
		}
	}
	return o;
err:
	json_decref(o);
	return NULL;
}

int agent_evidence_bundle(struct tpmdev *t, const struct pcrsel *sel, const uint8_t *nonce,
                          size_t nonce_len, json_t *meta, const uint8_t *log, size_t log_len,
                          json_t **ret, uint64_t *ret_tpm_ns)
{
	const uint8_t *akpub;
	size_t akpub_len;
	if (tpmdev_ak_public(t, &akpub, &akpub_len) != 0)
		return ATTEST_E_STATE;
	char *canon = NULL;
	uint8_t qd[EVIDENCE_QUALIFYING_SIZE];
	int rc = evidence_metadata_canonical(meta, &canon);
	if (!rc)
		rc = evidence_qualifying_data(nonce, nonce_len, (const uint8_t *)canon,
		                              strlen(canon), qd);
	free(canon);
	if (rc)
		return rc;

	uint8_t *attest = NULL, *sig = NULL;
	size_t attest_len = 0, sig_len = 0;
	json_t *out = NULL;
	struct tpmdev_pcr_values *vals = calloc(1, sizeof *vals);
	if (!vals)
		return ATTEST_E_NOMEM;
	uint64_t t0 = agent_now_ns();
	rc = tpmdev_quote(t, sel, qd, sizeof qd, &attest, &attest_len, &sig, &sig_len, vals);
	uint64_t t1 = agent_now_ns();
	if (rc)
		goto out;

	rc = ATTEST_E_NOMEM;
	out = json_object();
	json_t *pj = pcrs_json(vals);
	if (!out || !pj || agent_json_put_b64(out, "ak_public", akpub, akpub_len) ||
	    agent_json_put_b64(out, "quote", attest, attest_len) ||
	    agent_json_put_b64(out, "signature", sig, sig_len) ||
	    json_object_set_new(out, "pcrs", pj) != 0) {
		json_decref(pj);
		goto out;
	}
	char nhex[2 * EVIDENCE_NONCE_MAX + 1];
	hex_encode(nonce, nonce_len, nhex);
	if (json_object_set_new(out, "nonce", json_string(nhex)) != 0 ||
	    json_object_set(out, "metadata", meta) != 0 ||
	    agent_json_put_b64(out, "eventlog", log, log_len))
		goto out;
	*ret = out;
	out = NULL;
	if (ret_tpm_ns)
		*ret_tpm_ns = t1 - t0;
	rc = 0;
out:
	json_decref(out);
	free(attest);
	free(sig);
	free(vals);
	return rc;
}
