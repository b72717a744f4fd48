/* TPM2_Quote verification and AK attribute checks. */
#include "quote.h"

#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "hex.h"

static const char *const codes[QUOTE_STATUS__COUNT] = {
    [QUOTE_OK] = "OK",
    [QUOTE_MALFORMED] = "QUOTE_MALFORMED",
    [QUOTE_SIGNATURE_MALFORMED] = "SIGNATURE_MALFORMED",
    [QUOTE_SIGNATURE_UNSUPPORTED] = "SIGNATURE_UNSUPPORTED",
    [QUOTE_SIGNATURE_SCHEME_MISMATCH] = "SIGNATURE_SCHEME_MISMATCH",
    [QUOTE_SIGNATURE_INVALID] = "QUOTE_SIGNATURE_INVALID",
    [QUOTE_BAD_MAGIC] = "QUOTE_BAD_MAGIC",
    [QUOTE_BAD_TYPE] = "QUOTE_BAD_TYPE",
    [QUOTE_NONCE_MISMATCH] = "NONCE_MISMATCH",
    [QUOTE_PCR_DIGEST_MISMATCH] = "PCR_DIGEST_MISMATCH",
    [QUOTE_PCR_SELECTION_MISMATCH] = "PCR_SELECTION_MISMATCH",
    [QUOTE_PCR_SELECTION_UNSUPPORTED] = "PCR_SELECTION_UNSUPPORTED",
    [QUOTE_PCR_VALUE_MISSING] = "PCR_VALUE_MISSING",
    [QUOTE_PCR_NOT_QUOTED] = "PCR_NOT_QUOTED",
    [QUOTE_AK_UNSUPPORTED] = "AK_UNSUPPORTED",
    [QUOTE_AK_NOT_RESTRICTED] = "AK_NOT_RESTRICTED",
    [QUOTE_AK_NOT_SIGNING] = "AK_NOT_SIGNING",
    [QUOTE_AK_DECRYPT] = "AK_DECRYPT",
    [QUOTE_AK_NOT_FIXED_TPM] = "AK_NOT_FIXED_TPM",
    [QUOTE_AK_NOT_FIXED_PARENT] = "AK_NOT_FIXED_PARENT",
    [QUOTE_AK_NOT_SENSITIVE_DATA_ORIGIN] = "AK_NOT_SENSITIVE_DATA_ORIGIN",
    [QUOTE_AK_NAME_ALG] = "AK_NAME_ALG",
    [QUOTE_AK_SCHEME] = "AK_SCHEME",
    [QUOTE_NONCE_NOT_FRESH] = "NONCE_NOT_FRESH",
    [QUOTE_EVENTLOG_MISSING] = "EVENTLOG_MISSING",
    [QUOTE_EVENTLOG_INVALID] = "EVENTLOG_INVALID",
    [QUOTE_EVENTLOG_BANK_MISSING] = "EVENTLOG_BANK_MISSING",
    [QUOTE_EVENTLOG_REPLAY_MISMATCH] = "EVENTLOG_REPLAY_MISMATCH",
};

const char *quote_status_code(enum quote_status s)
{
	if ((unsigned)s >= QUOTE_STATUS__COUNT || !codes[s])
		return "UNKNOWN";
	return codes[s];
}

const struct quote_pcr_bank *quote_pcrs_bank(const struct quote_pcrs *p, uint16_t alg)
{
	for (uint32_t i = 0; p && i < p->bank_count && i < QUOTE_MAX_BANKS; i++)
		if (p->banks[i].alg == alg)
			return &p->banks[i];
	return NULL;
}

int quote_pcrs_set(struct quote_pcrs *p, uint16_t alg, unsigned index, const uint8_t *value,
                   size_t size)
{
	size_t dsize = tpm_alg_digest_size(alg);
	if (!p || !value || index >= QUOTE_NUM_PCRS || !dsize || size != dsize)
		return ATTEST_E_ARG;
	struct quote_pcr_bank *b = (struct quote_pcr_bank *)quote_pcrs_bank(p, alg);
	if (!b) {
		if (p->bank_count >= QUOTE_MAX_BANKS)
			return ATTEST_E_LIMIT;
		b = &p->banks[p->bank_count++];
		memset(b, 0, sizeof *b);
		b->alg = alg;
		b->size = (uint16_t)dsize;
	}
	memcpy(b->value[index], value, size);
	b->present |= 1u << index;
	return 0;
}

void quote_reasons_add(struct quote_reasons *rs, enum quote_status st, int pcr, uint16_t alg,
                       const uint8_t *expected, size_t expected_len, const uint8_t *actual,
                       size_t actual_len, const char *fmt, ...)
{
	if (!rs)
		return;
	if (rs->count >= QUOTE_MAX_REASONS) {
		rs->dropped++;
		return;
	}
	struct quote_reason *r = &rs->list[rs->count++];
	memset(r, 0, sizeof *r);
	r->status = st;
	r->pcr = pcr;
	r->alg = alg;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->message, sizeof r->message, fmt, ap);
	va_end(ap);
	if (expected)
		hex_encode(expected, expected_len > 64 ? 64 : expected_len, r->expected);
	if (actual)
		hex_encode(actual, actual_len > 64 ? 64 : actual_len, r->actual);
}

bool quote_reasons_has(const struct quote_reasons *rs, enum quote_status st)
{
	for (size_t i = 0; rs && i < rs->count; i++)
		if (rs->list[i].status == st)
			return true;
	return false;
}

/* The AK's declared scheme, or TPM2_ALG_NULL; and its hash. */
static void key_scheme(const TPMT_PUBLIC *k, TPM2_ALG_ID *scheme, TPM2_ALG_ID *hash)
{
	*scheme = TPM2_ALG_NULL;
	*hash = TPM2_ALG_NULL;
	if (k->type == TPM2_ALG_RSA) {
		*scheme = k->parameters.rsaDetail.scheme.scheme;
		if (*scheme != TPM2_ALG_NULL)
			*hash = k->parameters.rsaDetail.scheme.details.anySig.hashAlg;
	} else if (k->type == TPM2_ALG_ECC) {
		*scheme = k->parameters.eccDetail.scheme.scheme;
		if (*scheme != TPM2_ALG_NULL)
			*hash = k->parameters.eccDetail.scheme.details.anySig.hashAlg;
	}
}

void quote_check_ak(const TPMT_PUBLIC *ak, struct quote_reasons *rs)
{
	if (!ak)
		return;
	TPMA_OBJECT a = ak->objectAttributes;
	bool key_ok = false;
	if (ak->type == TPM2_ALG_RSA)
		key_ok = ak->parameters.rsaDetail.keyBits == 2048 && ak->unique.rsa.size == 256;
	else if (ak->type == TPM2_ALG_ECC)
		key_ok = tpm_ecc_curve_size(ak->parameters.eccDetail.curveID) != 0;
	if (!key_ok)
		quote_reasons_add(
		    rs, QUOTE_AK_UNSUPPORTED, -1, 0, NULL, 0, NULL, 0,
		    "the AK is a %s key we do not support (need RSA-2048 or ECC P-256/P-384)",
		    tpm_alg_name(ak->type));
	if (!(a & TPMA_OBJECT_RESTRICTED))
		quote_reasons_add(
		    rs, QUOTE_AK_NOT_RESTRICTED, -1, 0, NULL, 0, NULL, 0,
		    "the AK is not restricted: it could sign data that imitates a quote");
	if (!(a & TPMA_OBJECT_SIGN_ENCRYPT))
		quote_reasons_add(rs, QUOTE_AK_NOT_SIGNING, -1, 0, NULL, 0, NULL, 0,
		                  "the AK does not have the sign attribute");
	if (a & TPMA_OBJECT_DECRYPT)
		quote_reasons_add(
		    rs, QUOTE_AK_DECRYPT, -1, 0, NULL, 0, NULL, 0,
		    "the AK has the decrypt attribute: an AK must be a signing-only key");
	if (!(a & TPMA_OBJECT_FIXEDTPM))
		quote_reasons_add(
		    rs, QUOTE_AK_NOT_FIXED_TPM, -1, 0, NULL, 0, NULL, 0,
		    "the AK is not fixedTPM: it could have been imported from outside the TPM");
	if (!(a & TPMA_OBJECT_FIXEDPARENT))
		quote_reasons_add(rs, QUOTE_AK_NOT_FIXED_PARENT, -1, 0, NULL, 0, NULL, 0,
		                  "the AK is not fixedParent: it could be duplicated");
	if (!(a & TPMA_OBJECT_SENSITIVEDATAORIGIN))
		quote_reasons_add(
		    rs, QUOTE_AK_NOT_SENSITIVE_DATA_ORIGIN, -1, 0, NULL, 0, NULL, 0,
		    "the AK is not sensitiveDataOrigin: the TPM did not generate its private key");
	if (ak->nameAlg != TPM2_ALG_SHA256)
		quote_reasons_add(rs, QUOTE_AK_NAME_ALG, -1, 0, NULL, 0, NULL, 0,
		                  "the AK's name algorithm is %s, not sha256",
		                  tpm_alg_name(ak->nameAlg));
	TPM2_ALG_ID scheme, hash;
	key_scheme(ak, &scheme, &hash);
	bool scheme_ok = scheme == TPM2_ALG_NULL;
	if (ak->type == TPM2_ALG_RSA && (scheme == TPM2_ALG_RSASSA || scheme == TPM2_ALG_RSAPSS))
		scheme_ok = hash == TPM2_ALG_SHA256;
	if (ak->type == TPM2_ALG_ECC && scheme == TPM2_ALG_ECDSA)
		scheme_ok = hash == TPM2_ALG_SHA256;
	if (!scheme_ok)
		quote_reasons_add(
		    rs, QUOTE_AK_SCHEME, -1, 0, NULL, 0, NULL, 0,
		    "the AK's signing scheme is %s with %s; need rsassa/rsapss (RSA) or "
		    "ecdsa (ECC) with sha256",
		    tpm_alg_name(scheme), tpm_alg_name(hash));
}

/* The PCR digest with md (alg's EVP_MD, fetched or not); see quote_pcr_digest. */
static int pcr_digest(const EVP_MD *md, const TPML_PCR_SELECTION *sel,
                      const struct quote_pcrs *pcrs, uint8_t out[static QUOTE_MAX_DIGEST],
                      size_t *ret_len)
{
	if (!sel || !pcrs || !md)
		return ATTEST_E_ARG;
	if (sel->count > TPM2_NUM_PCR_BANKS)
		return ATTEST_E_FORMAT;
	/* Check everything is there before hashing anything. */
	for (uint32_t i = 0; i < sel->count; i++) {
		const TPMS_PCR_SELECTION *s = &sel->pcrSelections[i];
		const struct quote_pcr_bank *b = quote_pcrs_bank(pcrs, s->hash);
		for (unsigned byte = 0; byte < s->sizeofSelect && byte < TPM2_PCR_SELECT_MAX;
		     byte++)
			for (unsigned bit = 0; bit < 8; bit++) {
				if (!(s->pcrSelect[byte] & (1u << bit)))
					continue;
				unsigned idx = byte * 8 + bit;
				if (idx >= QUOTE_NUM_PCRS || !tpm_alg_digest_size(s->hash))
					return ATTEST_E_UNSUPPORTED;
				if (!b || !(b->present & (1u << idx)))
					return ATTEST_E_NOTFOUND;
			}
	}
	/* The values gathered in a buffer and hashed a buffer at a time: one
	 * EVP_DigestUpdate per PCR costs more than hashing its 32 bytes. */
	int rc = ATTEST_E_CRYPTO;
	unsigned int n = 0;
	uint8_t buf[QUOTE_NUM_PCRS * QUOTE_MAX_DIGEST];
	size_t len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex2(ctx, md, NULL))
		goto out;
	for (uint32_t i = 0; i < sel->count; i++) {
		const TPMS_PCR_SELECTION *s = &sel->pcrSelections[i];
		const struct quote_pcr_bank *b = quote_pcrs_bank(pcrs, s->hash);
		for (unsigned byte = 0; byte < s->sizeofSelect && byte < TPM2_PCR_SELECT_MAX;
		     byte++)
			for (unsigned bit = 0; bit < 8; bit++) {
				if (!(s->pcrSelect[byte] & (1u << bit)))
					continue;
				size_t sz =
				    b->size <= QUOTE_MAX_DIGEST ? b->size : QUOTE_MAX_DIGEST;
				if (sizeof buf - len < sz) {
					if (!EVP_DigestUpdate(ctx, buf, len))
						goto out;
					len = 0;
				}
				memcpy(buf + len, b->value[byte * 8 + bit], sz);
				len += sz;
			}
	}
	if (!EVP_DigestUpdate(ctx, buf, len) || !EVP_DigestFinal_ex(ctx, out, &n))
		goto out;
	*ret_len = n;
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

int quote_pcr_digest(const TPML_PCR_SELECTION *sel, const struct quote_pcrs *pcrs, TPM2_ALG_ID alg,
                     uint8_t out[static QUOTE_MAX_DIGEST], size_t *ret_len)
{
	return pcr_digest(tpm_alg_md(alg), sel, pcrs, out, ret_len);
}

/* ---- the AK, prepared once (quote_ak_new) or for one call (quote_verify) ---- */

struct quote_ak {
	TPMI_ALG_PUBLIC type;
	TPM2_ALG_ID scheme, hash; /* the AK's declared signing scheme (key_scheme) */
	EVP_PKEY *key;
	EVP_MD *sha256;      /* fetched once; NULL for one call (EVP_sha256() then) */
	TPM2_ALG_ID ctx_alg; /* the signature scheme pctx is set up for */
	EVP_PKEY_CTX *pctx;  /* EVP_PKEY_verify_init'ed, padding and digest set */
};

static const EVP_MD *ak_md(const struct quote_ak *k)
{
	return k->sha256 ? k->sha256 : EVP_sha256();
}

int quote_ak_new(const TPMT_PUBLIC *ak, struct quote_ak **ret)
{
	if (!ak || !ret)
		return ATTEST_E_ARG;
	struct quote_ak *k = calloc(1, sizeof *k);
	if (!k)
		return ATTEST_E_NOMEM;
	int e = tpm_public_to_pkey(ak, &k->key);
	if (e < 0) {
		free(k);
		return e;
	}
	k->type = ak->type;
	key_scheme(ak, &k->scheme, &k->hash);
	k->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!k->sha256) {
		quote_ak_free(k);
		return ATTEST_E_CRYPTO;
	}
	*ret = k;
	return 0;
}

void quote_ak_free(struct quote_ak *k)
{
	if (!k)
		return;
	EVP_PKEY_CTX_free(k->pctx);
	EVP_PKEY_free(k->key);
	EVP_MD_free(k->sha256);
	free(k);
}

size_t quote_ak_bytes(const struct quote_ak *k)
{
	/* Measured with glibc's mallinfo2 on OpenSSL 3.0: an RSA-2048 or P-256
	 * key in use holds 1.8-2.1 KB (its Montgomery or group data included),
	 * the verification context 0.45-0.65 KB. */
	return k ? sizeof *k + 2048 + (k->pctx ? 512 : 0) : 0;
}

const EVP_MD *quote_ak_sha256(const struct quote_ak *k)
{
	return k ? ak_md(k) : NULL;
}

/* k->pctx set up to verify sig_alg signatures over a SHA-256 digest. */
static int ak_ctx(struct quote_ak *k, TPM2_ALG_ID sig_alg)
{
	if (k->pctx && k->ctx_alg == sig_alg)
		return 0;
	EVP_PKEY_CTX_free(k->pctx);
	k->pctx = NULL;
	EVP_PKEY_CTX *p = EVP_PKEY_CTX_new_from_pkey(NULL, k->key, NULL);
	if (!p || EVP_PKEY_verify_init(p) != 1)
		goto fail;
	if (sig_alg == TPM2_ALG_RSASSA || sig_alg == TPM2_ALG_RSAPSS) {
		bool pss = sig_alg == TPM2_ALG_RSAPSS;
		if (EVP_PKEY_CTX_set_rsa_padding(p, pss ? RSA_PKCS1_PSS_PADDING
		                                        : RSA_PKCS1_PADDING) != 1)
			goto fail;
		if (EVP_PKEY_CTX_set_signature_md(p, ak_md(k)) != 1)
			goto fail;
		/* TPMs use salt = digest size, FIPS-mode ones the maximum: accept both. */
		if (pss && EVP_PKEY_CTX_set_rsa_pss_saltlen(p, RSA_PSS_SALTLEN_AUTO) != 1)
			goto fail;
	} else if (EVP_PKEY_CTX_set_signature_md(p, ak_md(k)) != 1) {
		goto fail;
	}
	k->pctx = p;
	k->ctx_alg = sig_alg;
	return 0;
fail:
	EVP_PKEY_CTX_free(p);
	ERR_clear_error();
	return ATTEST_E_CRYPTO;
}

/* A DER length at out: bytes written (at most 3; n < 65536). */
static size_t der_length(uint8_t *out, size_t n)
{
	if (n < 0x80) {
		out[0] = (uint8_t)n;
		return 1;
	}
	if (n < 0x100) {
		out[0] = 0x81;
		out[1] = (uint8_t)n;
		return 2;
	}
	out[0] = 0x82;
	out[1] = (uint8_t)(n >> 8);
	out[2] = (uint8_t)n;
	return 3;
}

/* One DER INTEGER of the unsigned big-endian v[0..n) at out (room for
 * n + 5 bytes): leading zero bytes dropped, one put back when the first
 * left has its high bit set, the value 0 as one zero byte, as
 * i2d_ECDSA_SIG writes it. Bytes written. */
static size_t der_uint(uint8_t *out, const uint8_t *v, size_t n)
{
	while (n > 0 && v[0] == 0) {
		v++;
		n--;
	}
	static const uint8_t zero = 0;
	if (n == 0) {
		v = &zero;
		n = 1;
	}
	bool pad = (v[0] & 0x80) != 0;
	size_t at = 0;
	out[at++] = 0x02;
	at += der_length(out + at, n + (pad ? 1 : 0));
	if (pad)
		out[at++] = 0;
	memcpy(out + at, v, n);
	return at + n;
}

#define ECC_PARAM_MAX sizeof(((TPM2B_ECC_PARAMETER *)0)->buffer)
#define ECDSA_DER_MAX (4 + 2 * (5 + ECC_PARAM_MAX))

/* The ECDSA signature (r, s) as the DER SEQUENCE EVP_PKEY_verify reads,
 * written directly into buf (ECDSA_DER_MAX bytes): building an ECDSA_SIG
 * of two BIGNUMs to encode it cost a handful of allocations per quote. */
static size_t ecdsa_der(const TPMS_SIGNATURE_ECC *e, uint8_t *buf)
{
	uint8_t body[2 * (5 + ECC_PARAM_MAX)];
	size_t rn = e->signatureR.size <= ECC_PARAM_MAX ? e->signatureR.size : ECC_PARAM_MAX;
	size_t sn = e->signatureS.size <= ECC_PARAM_MAX ? e->signatureS.size : ECC_PARAM_MAX;
	size_t n = der_uint(body, e->signatureR.buffer, rn);
	n += der_uint(body + n, e->signatureS.buffer, sn);
	size_t at = 0;
	buf[at++] = 0x30;
	at += der_length(buf + at, n);
	memcpy(buf + at, body, n);
	return at + n;
}

/* Verify sig over msg with the AK. 1 valid, 0 invalid, negative on error. */
static int verify_sig(struct quote_ak *k, const TPMT_SIGNATURE *sig, const uint8_t *msg,
                      size_t msg_len)
{
	const uint8_t *der = NULL;
	size_t der_len = 0;
	uint8_t ecder[ECDSA_DER_MAX];
	if (sig->sigAlg == TPM2_ALG_RSASSA || sig->sigAlg == TPM2_ALG_RSAPSS) {
		const TPMS_SIGNATURE_RSA *r = &sig->signature.rsassa; /* same layout for rsapss */
		der = r->sig.buffer;
		der_len = r->sig.size;
	} else {
		der_len = ecdsa_der(&sig->signature.ecdsa, ecder);
		der = ecder;
	}
	uint8_t d[EVP_MAX_MD_SIZE];
	unsigned int dn = 0;
	int rc = ATTEST_E_CRYPTO;
	if (!EVP_Digest(msg, msg_len, d, &dn, ak_md(k), NULL) || (rc = ak_ctx(k, sig->sigAlg)) < 0)
		goto out;
	rc = EVP_PKEY_verify(k->pctx, der, der_len, d, dn) == 1 ? 1 : 0;
	if (rc == 0) {
		/* A bad signature leaves errors queued; and a context that saw
		 * one is not trusted with the next quote: set up afresh. */
		ERR_clear_error();
		EVP_PKEY_CTX_free(k->pctx);
		k->pctx = NULL;
	}
out:
	return rc;
}

static void check_signature(struct quote_ak *k, const uint8_t *attest, size_t attest_len,
                            const uint8_t *sigbuf, size_t sig_len, struct quote_reasons *rs,
                            int *fatal)
{
	TPMT_SIGNATURE sig;
	struct diag terr;
	if (tpm_signature_decode(sigbuf, sig_len, &sig, &terr) < 0) {
		quote_reasons_add(rs, QUOTE_SIGNATURE_MALFORMED, -1, 0, NULL, 0, NULL, 0, "%s",
		                  terr.message);
		return;
	}
	bool kind_ok = (k->type == TPM2_ALG_RSA &&
	                (sig.sigAlg == TPM2_ALG_RSASSA || sig.sigAlg == TPM2_ALG_RSAPSS)) ||
	               (k->type == TPM2_ALG_ECC && sig.sigAlg == TPM2_ALG_ECDSA);
	if (!kind_ok) {
		quote_reasons_add(rs, QUOTE_SIGNATURE_SCHEME_MISMATCH, -1, 0, NULL, 0, NULL, 0,
		                  "the quote is signed with %s, which a %s AK cannot produce",
		                  tpm_alg_name(sig.sigAlg), tpm_alg_name(k->type));
		return;
	}
	TPM2_ALG_ID hash = sig.signature.any.hashAlg;
	if (hash != TPM2_ALG_SHA256) {
		quote_reasons_add(rs, QUOTE_SIGNATURE_UNSUPPORTED, -1, 0, NULL, 0, NULL, 0,
		                  "the quote signature uses %s; only sha256 is accepted",
		                  tpm_alg_name(hash));
		return;
	}
	if (k->scheme != TPM2_ALG_NULL && (k->scheme != sig.sigAlg || k->hash != hash)) {
		quote_reasons_add(rs, QUOTE_SIGNATURE_SCHEME_MISMATCH, -1, 0, NULL, 0, NULL, 0,
		                  "the quote is signed with %s/%s but the AK's scheme is %s/%s",
		                  tpm_alg_name(sig.sigAlg), tpm_alg_name(hash),
		                  tpm_alg_name(k->scheme), tpm_alg_name(k->hash));
		return;
	}
	int v = verify_sig(k, &sig, attest, attest_len);
	if (v < 0) {
		*fatal = v;
		return;
	}
	if (v == 0)
		quote_reasons_add(rs, QUOTE_SIGNATURE_INVALID, -1, 0, NULL, 0, NULL, 0,
		                  "the quote's %s signature does not verify with the AK",
		                  tpm_alg_name(sig.sigAlg));
}

/* Whether `have` selects every PCR that `want` selects. */
static bool selection_covers(const TPML_PCR_SELECTION *have, const TPML_PCR_SELECTION *want)
{
	for (uint32_t i = 0; i < want->count && i < TPM2_NUM_PCR_BANKS; i++) {
		const TPMS_PCR_SELECTION *w = &want->pcrSelections[i];
		for (unsigned byte = 0; byte < w->sizeofSelect && byte < TPM2_PCR_SELECT_MAX;
		     byte++) {
			uint8_t got = 0;
			for (uint32_t j = 0; j < have->count && j < TPM2_NUM_PCR_BANKS; j++) {
				const TPMS_PCR_SELECTION *h = &have->pcrSelections[j];
				if (h->hash == w->hash && byte < h->sizeofSelect)
					got |= h->pcrSelect[byte];
			}
			if ((w->pcrSelect[byte] & got) != w->pcrSelect[byte])
				return false;
		}
	}
	return true;
}

static void check_pcrs(const EVP_MD *sha256, const TPMS_QUOTE_INFO *q,
                       const struct quote_pcrs *pcrs, const TPML_PCR_SELECTION *want,
                       struct quote_reasons *rs, int *fatal)
{
	const TPML_PCR_SELECTION *sel = &q->pcrSelect;
	bool usable = true;
	uint32_t quoted[QUOTE_MAX_BANKS] = {0}; /* per reported bank: bits quoted */
	for (uint32_t i = 0; i < sel->count; i++) {
		const TPMS_PCR_SELECTION *s = &sel->pcrSelections[i];
		const struct quote_pcr_bank *b = quote_pcrs_bank(pcrs, s->hash);
		if (!tpm_alg_digest_size(s->hash)) {
			quote_reasons_add(rs, QUOTE_PCR_SELECTION_UNSUPPORTED, -1, s->hash, NULL, 0,
			                  NULL, 0,
			                  "the quote selects PCRs of bank %s (0x%04x), which we "
			                  "cannot hash",
			                  tpm_alg_name(s->hash), s->hash);
			usable = false;
			continue;
		}
		for (unsigned byte = 0; byte < s->sizeofSelect; byte++)
			for (unsigned bit = 0; bit < 8; bit++) {
				if (!(s->pcrSelect[byte] & (1u << bit)))
					continue;
				unsigned idx = byte * 8 + bit;
				if (idx >= QUOTE_NUM_PCRS) {
					quote_reasons_add(rs, QUOTE_PCR_SELECTION_UNSUPPORTED,
					                  (int)idx, s->hash, NULL, 0, NULL, 0,
					                  "the quote selects PCR %u, beyond PCR %u",
					                  idx, QUOTE_NUM_PCRS - 1);
					usable = false;
					continue;
				}
				if (!b || !(b->present & (1u << idx))) {
					quote_reasons_add(
					    rs, QUOTE_PCR_VALUE_MISSING, (int)idx, s->hash, NULL, 0,
					    NULL, 0,
					    "PCR %u (%s) is quoted but its value was not reported",
					    idx, tpm_alg_name(s->hash));
					usable = false;
					continue;
				}
				quoted[b - pcrs->banks] |= 1u << idx;
			}
	}
	/* A reported value the quote does not cover is unauthenticated. */
	for (uint32_t i = 0; pcrs && i < pcrs->bank_count && i < QUOTE_MAX_BANKS; i++) {
		uint32_t extra = pcrs->banks[i].present & ~quoted[i];
		for (unsigned idx = 0; idx < QUOTE_NUM_PCRS; idx++)
			if (extra & (1u << idx))
				quote_reasons_add(
				    rs, QUOTE_PCR_NOT_QUOTED, (int)idx, pcrs->banks[i].alg, NULL, 0,
				    pcrs->banks[i].value[idx], pcrs->banks[i].size,
				    "PCR %u (%s) was reported but the quote does not cover it", idx,
				    tpm_alg_name(pcrs->banks[i].alg));
	}
	if (want && !selection_covers(sel, want))
		quote_reasons_add(rs, QUOTE_PCR_SELECTION_MISMATCH, -1, 0, NULL, 0, NULL, 0,
		                  "the quote does not cover every PCR the policy selects");
	if (!usable)
		return;
	uint8_t d[QUOTE_MAX_DIGEST];
	size_t dlen = 0;
	/* The TPM hashes the PCRs with the signing scheme's hash: SHA-256. */
	int e = pcr_digest(sha256, sel, pcrs, d, &dlen);
	if (e < 0) {
		*fatal = e;
		return;
	}
	if (q->pcrDigest.size != dlen || CRYPTO_memcmp(q->pcrDigest.buffer, d, dlen) != 0)
		quote_reasons_add(
		    rs, QUOTE_PCR_DIGEST_MISMATCH, -1, 0, q->pcrDigest.buffer, q->pcrDigest.size, d,
		    dlen,
		    "the quote's PCR digest is not the hash of the reported PCR values "
		    "(expected = quoted, actual = computed from the values)");
}

/* The checks after the AK is usable: shared by quote_verify and
 * quote_verify_ak. */
static int verify_with(struct quote_ak *k, const uint8_t *attest, size_t attest_len,
                       const uint8_t *sig, size_t sig_len, const uint8_t *qualifying,
                       size_t qualifying_len, const struct quote_pcrs *pcrs,
                       const TPML_PCR_SELECTION *want, struct quote_info *info,
                       struct quote_reasons *rs)
{
	int fatal = 0;
	if (info)
		memset(info, 0, sizeof *info);

	check_signature(k, attest, attest_len, sig, sig_len, rs, &fatal);
	if (fatal)
		return fatal;

	/* magic and type first, from the raw bytes, so that they are reported
	 * as such even when the rest does not decode. */
	if (attest_len < 6) {
		quote_reasons_add(rs, QUOTE_MALFORMED, -1, 0, NULL, 0, NULL, 0,
		                  "the quote is %zu bytes, too short for TPMS_ATTEST", attest_len);
		return 0;
	}
	uint32_t magic = (uint32_t)attest[0] << 24 | (uint32_t)attest[1] << 16 |
	                 (uint32_t)attest[2] << 8 | attest[3];
	uint16_t type = (uint16_t)(attest[4] << 8 | attest[5]);
	if (magic != TPM2_GENERATED_VALUE) {
		uint8_t want_magic[4] = {0xff, 'T', 'C', 'G'};
		quote_reasons_add(rs, QUOTE_BAD_MAGIC, -1, 0, want_magic, 4, attest, 4,
		                  "the quote's magic is 0x%08x, not TPM_GENERATED_VALUE", magic);
	}
	if (type != TPM2_ST_ATTEST_QUOTE) {
		uint8_t want_type[2] = {0x80, 0x18};
		quote_reasons_add(rs, QUOTE_BAD_TYPE, -1, 0, want_type, 2, attest + 4, 2,
		                  "the attestation type is 0x%04x, not TPM_ST_ATTEST_QUOTE", type);
		return 0; /* the rest would be another structure */
	}
	TPMS_ATTEST a;
	struct diag terr;
	if (tpm_attest_decode(attest, attest_len, &a, &terr) < 0) {
		quote_reasons_add(rs, QUOTE_MALFORMED, -1, 0, NULL, 0, NULL, 0, "%s", terr.message);
		return 0;
	}
	if (info) {
		info->decoded = true;
		info->clock = a.clockInfo;
		info->firmware_version = a.firmwareVersion;
		info->signer_len =
		    a.qualifiedSigner.size <= TPM_NAME_MAX ? a.qualifiedSigner.size : 0;
		memcpy(info->signer, a.qualifiedSigner.name, info->signer_len);
		info->selection = a.attested.quote.pcrSelect;
		info->pcr_digest_len = a.attested.quote.pcrDigest.size <= QUOTE_MAX_DIGEST
		                           ? a.attested.quote.pcrDigest.size
		                           : 0;
		memcpy(info->pcr_digest, a.attested.quote.pcrDigest.buffer, info->pcr_digest_len);
		info->extra_data_len = a.extraData.size <= 64 ? a.extraData.size : 0;
		memcpy(info->extra_data, a.extraData.buffer, info->extra_data_len);
	}
	if (a.extraData.size != qualifying_len ||
	    CRYPTO_memcmp(a.extraData.buffer, qualifying, qualifying_len) != 0)
		quote_reasons_add(
		    rs, QUOTE_NONCE_MISMATCH, -1, 0, qualifying, qualifying_len, a.extraData.buffer,
		    a.extraData.size,
		    "the quote's extraData is not the expected qualifying data (nonce "
		    "and metadata)");
	check_pcrs(ak_md(k), &a.attested.quote, pcrs, want, rs, &fatal);
	return fatal;
}

static bool args_ok(const uint8_t *attest, size_t attest_len, const uint8_t *sig, size_t sig_len,
                    const uint8_t *qualifying, size_t qualifying_len, const struct quote_pcrs *pcrs,
                    const struct quote_reasons *rs)
{
	return rs && pcrs && (attest || !attest_len) && (sig || !sig_len) &&
	       (qualifying || !qualifying_len);
}

int quote_verify(const TPMT_PUBLIC *ak, EVP_PKEY *ak_key, const uint8_t *attest, size_t attest_len,
                 const uint8_t *sig, size_t sig_len, const uint8_t *qualifying,
                 size_t qualifying_len, const struct quote_pcrs *pcrs,
                 const TPML_PCR_SELECTION *want, struct quote_info *info, struct quote_reasons *rs)
{
	if (!ak || !args_ok(attest, attest_len, sig, sig_len, qualifying, qualifying_len, pcrs, rs))
		return ATTEST_E_ARG;
	/* An AK for this one call: the caller's key, or converted here. */
	struct quote_ak k;
	memset(&k, 0, sizeof k);
	k.type = ak->type;
	key_scheme(ak, &k.scheme, &k.hash);
	EVP_PKEY *own = NULL;
	if (!ak_key) {
		int e = tpm_public_to_pkey(ak, &own);
		if (e < 0) {
			quote_reasons_add(rs, QUOTE_AK_UNSUPPORTED, -1, 0, NULL, 0, NULL, 0,
			                  "the AK's public key cannot be used (%s)",
			                  attest_strerror(e));
			return 0;
		}
		ak_key = own;
	}
	k.key = ak_key;
	int e = verify_with(&k, attest, attest_len, sig, sig_len, qualifying, qualifying_len, pcrs,
	                    want, info, rs);
	EVP_PKEY_CTX_free(k.pctx);
	EVP_PKEY_free(own);
	return e;
}

int quote_verify_ak(struct quote_ak *ak, const uint8_t *attest, size_t attest_len,
                    const uint8_t *sig, size_t sig_len, const uint8_t *qualifying,
                    size_t qualifying_len, const struct quote_pcrs *pcrs,
                    const TPML_PCR_SELECTION *want, struct quote_info *info,
                    struct quote_reasons *rs)
{
	if (!ak || !args_ok(attest, attest_len, sig, sig_len, qualifying, qualifying_len, pcrs, rs))
		return ATTEST_E_ARG;
	return verify_with(ak, attest, attest_len, sig, sig_len, qualifying, qualifying_len, pcrs,
	                   want, info, rs);
}
