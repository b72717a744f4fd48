/* A TPM2_Quote in software: the TPMS_ATTEST a TPM would produce for the
 * replayed PCR values (marshalled with tpm2-tss mu), signed with the host's
 * AK in its scheme (RSASSA-PKCS1-v1_5 or ECDSA, both SHA-256), as a
 * TPMT_SIGNATURE. */
#include <stdlib.h>
#include <string.h>

#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "err.h"
#include "hex.h"
#include "pcrsel.h"
#include "swarm.h"

/* Bank name as the agent writes it in "pcrs". */
static const char *bank_name(uint16_t alg)
{
	switch (alg) {
	case TPM2_ALG_SHA1: return "sha1";
	case TPM2_ALG_SHA256: return "sha256";
	case TPM2_ALG_SHA384: return "sha384";
	case TPM2_ALG_SHA512: return "sha512";
	default: return NULL;
	}
}

/* A PCR's value: replayed from the log, else the reset value (PCRs 17-22
 * reset to all ones, the others to zeros). */
static void pcr_value(const struct eventlog_pcr_bank *b, unsigned pcr, uint8_t *out)
{
	if (b->touched & (1u << pcr))
		memcpy(out, b->pcr[pcr], b->size);
	else
		memset(out, pcr >= 17 && pcr <= 22 ? 0xff : 0x00, b->size);
}

static int sign(EVP_PKEY *key, const uint8_t *msg, size_t len, TPMT_SIGNATURE *ret)
{
	bool rsa = EVP_PKEY_is_a(key, "RSA");
	uint8_t der[TPM2_MAX_RSA_KEY_BYTES];
	size_t dl = sizeof der;
	int rc = ATTEST_E_CRYPTO;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	ECDSA_SIG *s = NULL;
	if (!c || EVP_DigestSignInit(c, &pc, EVP_sha256(), NULL, key) != 1 ||
	    (rsa && EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) != 1) ||
	    EVP_DigestSign(c, der, &dl, msg, len) != 1)
		goto out;
	memset(ret, 0, sizeof *ret);
	if (rsa) {
		/* TPM2_Quote with an RSASSA key: PKCS#1 v1.5 over SHA-256 */
		ret->sigAlg = TPM2_ALG_RSASSA;
		ret->signature.rsassa.hash = TPM2_ALG_SHA256;
		if (dl > sizeof ret->signature.rsassa.sig.buffer)
			goto out;
		memcpy(ret->signature.rsassa.sig.buffer, der, dl);
		ret->signature.rsassa.sig.size = (UINT16)dl;
		rc = 0;
		goto out;
	}
	const unsigned char *p = der;
	s = d2i_ECDSA_SIG(NULL, &p, (long)dl);
	if (!s)
		goto out;
	ret->sigAlg = TPM2_ALG_ECDSA;
	ret->signature.ecdsa.hash = TPM2_ALG_SHA256;
	TPMS_SIGNATURE_ECC *e = &ret->signature.ecdsa;
	if (BN_bn2binpad(ECDSA_SIG_get0_r(s), e->signatureR.buffer, 32) != 32 ||
	    BN_bn2binpad(ECDSA_SIG_get0_s(s), e->signatureS.buffer, 32) != 32)
		goto out;
	e->signatureR.size = e->signatureS.size = 32;
	rc = 0;
out:
	ECDSA_SIG_free(s);
	EVP_MD_CTX_free(c);
	ERR_clear_error();
	return rc;
}

int swarm_quote_sign(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t *out, size_t cap,
                     size_t *ret_len)
{
	TPMT_SIGNATURE sig;
	size_t sl = 0;
	int rc = sign(key, msg, len, &sig);
	if (rc)
		return rc;
	if (Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, out, cap, &sl) != TSS2_RC_SUCCESS)
		return ATTEST_E_FORMAT;
	*ret_len = sl;
	return 0;
}

int swarm_quote_attest(struct swarm_host *h, const struct pcrsel *sel, const uint8_t qd[32],
                       uint8_t *out, size_t cap, size_t *ret_len, json_t **ret_pcrs)
{
	struct swarm *sw = h->sw;
	TPMS_ATTEST a;
	memset(&a, 0, sizeof a);
	a.magic = TPM2_GENERATED_VALUE;
	a.type = TPM2_ST_ATTEST_QUOTE;
	a.qualifiedSigner.size = (UINT16)h->ak.name_len;
	memcpy(a.qualifiedSigner.name, h->ak.name, h->ak.name_len);
	a.extraData.size = 32;
	memcpy(a.extraData.buffer, qd, 32);
	a.clockInfo.clock = swarm_now_ns() / 1000000u - sw->start_ms + 1000u * h->index;
	a.clockInfo.resetCount = h->reset_count;
	a.clockInfo.restartCount = h->restart_count;
	a.clockInfo.safe = TPM2_YES;
	a.firmwareVersion = 0x2026120600000001ull;

	json_t *pcrs = json_object();
	EVP_MD_CTX *dc = EVP_MD_CTX_new();
	int rc = ATTEST_E_NOMEM;
	if (!pcrs || !dc || !EVP_DigestInit_ex(dc, EVP_sha256(), NULL))
		goto fail;
	TPML_PCR_SELECTION *ps = &a.attested.quote.pcrSelect;
	for (uint32_t i = 0; i < sel->count; i++) {
		const struct eventlog_pcr_bank *b =
		    eventlog_pcrs_bank(&sw->pcrs, sel->banks[i].alg);
		const char *bn = bank_name(sel->banks[i].alg);
		rc = ATTEST_E_NOTFOUND; /* a bank this "TPM" does not have */
		if (!b || !b->touched || !bn)
			goto fail;
		json_t *bank = json_object();
		rc = ATTEST_E_NOMEM;
		if (!bank || json_object_set_new(pcrs, bn, bank) != 0)
			goto fail;
		ps->pcrSelections[ps->count].hash = sel->banks[i].alg;
		ps->pcrSelections[ps->count].sizeofSelect = 3;
		for (unsigned p = 0; p < 24; p++) {
			if (!(sel->banks[i].mask & (1u << p)))
				continue;
			ps->pcrSelections[ps->count].pcrSelect[p / 8] |= (uint8_t)(1u << (p % 8));
			uint8_t v[EVENTLOG_MAX_DIGEST];
			char hex[2 * EVENTLOG_MAX_DIGEST + 1], idx[4];
			pcr_value(b, p, v);
			hex_encode(v, b->size, hex);
			snprintf(idx, sizeof idx, "%u", p);
			if (!EVP_DigestUpdate(dc, v, b->size) ||
			    json_object_set_new(bank, idx, json_string(hex)) != 0)
				goto fail;
		}
		ps->count++;
	}
	unsigned dl = 0;
	if (!EVP_DigestFinal_ex(dc, a.attested.quote.pcrDigest.buffer, &dl))
		goto fail;
	a.attested.quote.pcrDigest.size = (UINT16)dl;
	size_t al = 0;
	rc = ATTEST_E_FORMAT;
	if (Tss2_MU_TPMS_ATTEST_Marshal(&a, out, cap, &al) != TSS2_RC_SUCCESS)
		goto fail;
	EVP_MD_CTX_free(dc);
	*ret_len = al;
	*ret_pcrs = pcrs;
	return 0;
fail:
	EVP_MD_CTX_free(dc);
	json_decref(pcrs);
	return rc;
}
