/* Evidence bundle parsing and verification. */
#include "bundle.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alg.h"
#include "base64.h"
#include "err.h"
#include "eventlog.h"
#include "hex.h"
#include "tpm.h"
#include "jsontext.h"

uint16_t bundle_bank_alg(const char *name)
{
	const struct alg_hash *h = alg_bank_by_name(name, strlen(name));
	return h ? h->id : 0;
}

const char *bundle_bank_name(uint16_t alg)
{
	const struct alg_hash *h = alg_bank_by_id(alg);
	return h ? h->name : NULL;
}

static int get_b64(json_t *root, const char *key, size_t max, bool required, uint8_t **ret,
                   size_t *ret_len, struct diag *err)
{
	json_t *v = json_object_get(root, key);
	if (!v) {
		if (!required) {
			*ret = NULL;
			*ret_len = 0;
			return 0;
		}
		diag_set(err, "bundle: \"%s\" is missing", key);
		return ATTEST_E_FORMAT;
	}
	if (!json_is_string(v)) {
		diag_set(err, "bundle: \"%s\" must be a base64 string", key);
		return ATTEST_E_FORMAT;
	}
	int e = base64_decode_alloc(json_string_value(v), json_string_length(v), max, ret, ret_len);
	if (e == ATTEST_E_LIMIT)
		diag_set(err, "bundle: \"%s\" decodes to more than %zu bytes", key, max);
	else if (e < 0)
		diag_set(err, "bundle: \"%s\" is not strict base64 (RFC 4648 with padding)", key);
	return e;
}

/* "0".."23", no sign, no leading zero, no spaces. */
static int pcr_index(const char *s, unsigned *ret)
{
	if (!s[0] || (s[0] == '0' && s[1]) || s[0] < '0' || s[0] > '9')
		return ATTEST_E_FORMAT;
	errno = 0;
	char *end = NULL;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || !end || *end || v >= QUOTE_NUM_PCRS)
		return ATTEST_E_FORMAT;
	*ret = (unsigned)v;
	return 0;
}

static int get_pcrs(json_t *root, struct quote_pcrs *pcrs, struct diag *err)
{
	json_t *banks = json_object_get(root, "pcrs");
	if (!json_is_object(banks)) {
		diag_set(err, "bundle: \"pcrs\" must be an object of banks");
		return ATTEST_E_FORMAT;
	}
	const char *bname;
	json_t *bank;
	json_object_foreach(banks, bname, bank)
	{
		uint16_t alg = bundle_bank_alg(bname);
		if (!alg) {
			diag_set(err, "bundle: unknown PCR bank \"%.32s\"", bname);
			return ATTEST_E_FORMAT;
		}
		if (!json_is_object(bank)) {
			diag_set(err, "bundle: pcrs.%s must be an object", bname);
			return ATTEST_E_FORMAT;
		}
		const char *idx;
		json_t *val;
		json_object_foreach(bank, idx, val)
		{
			unsigned i;
			if (pcr_index(idx, &i) < 0) {
				diag_set(err, "bundle: pcrs.%s: \"%.16s\" is not a PCR index 0..23",
				         bname, idx);
				return ATTEST_E_FORMAT;
			}
			uint8_t d[QUOTE_MAX_DIGEST];
			size_t n = 0;
			if (!json_is_string(val) ||
			    hex_decode(json_string_value(val), d, sizeof d, &n) < 0 ||
			    n != tpm_alg_digest_size(alg)) {
				diag_set(err, "bundle: pcrs.%s.%s must be %zu bytes of hex", bname,
				         idx, tpm_alg_digest_size(alg));
				return ATTEST_E_FORMAT;
			}
			int e = quote_pcrs_set(pcrs, alg, i, d, n);
			if (e < 0) {
				diag_set(err, "bundle: too many PCR banks");
				return e;
			}
		}
	}
	return 0;
}

void bundle_free(struct bundle *b)
{
	if (!b)
		return;
	free(b->ak_public);
	free(b->quote);
	free(b->signature);
	json_decref(b->metadata);
	free(b->metadata_canonical);
	free(b->eventlog);
	OPENSSL_cleanse(b->nonce, sizeof b->nonce);
	free(b);
}

int64_t bundle_host_us(double ms)
{
	if (!(ms >= 0 && ms <= BUNDLE_HOST_MS_MAX))
		return -1;
	return (int64_t)(ms * 1000.0 + 0.5);
}

int bundle_parse_json(const uint8_t *buf, size_t len, struct bundle **ret, struct diag *err)
{
	if (!buf && len)
		return ATTEST_E_ARG;
	if (len > BUNDLE_MAX_SIZE) {
		diag_set(err, "bundle: %zu bytes exceeds the cap of %u", len, BUNDLE_MAX_SIZE);
		return ATTEST_E_LIMIT;
	}
	if (jsontext_depth(buf, len) > BUNDLE_MAX_DEPTH) {
		diag_set(err, "bundle: JSON nested deeper than %u levels", BUNDLE_MAX_DEPTH);
		return ATTEST_E_LIMIT;
	}
	json_error_t jerr;
	json_t *root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		diag_set(err, "bundle: not JSON: %s at line %d column %d", jerr.text, jerr.line,
		         jerr.column);
		return ATTEST_E_FORMAT;
	}
	int rc = ATTEST_E_FORMAT;
	struct bundle *b = calloc(1, sizeof *b);
	if (!b) {
		rc = ATTEST_E_NOMEM;
		goto out;
	}
	if (!json_is_object(root)) {
		diag_set(err, "bundle: top level must be an object");
		goto out;
	}
	if ((rc = get_b64(root, "ak_public", TPM_PUBLIC_MAX, true, &b->ak_public, &b->ak_public_len,
	                  err)) < 0 ||
	    (rc = get_b64(root, "quote", TPM_ATTEST_MAX, true, &b->quote, &b->quote_len, err)) <
	        0 ||
	    (rc = get_b64(root, "signature", TPM_SIGNATURE_MAX, true, &b->signature,
	                  &b->signature_len, err)) < 0 ||
	    (rc = get_b64(root, "eventlog", EVENTLOG_MAX_SIZE, false, &b->eventlog,
	                  &b->eventlog_len, err)) < 0)
		goto out;
	rc = ATTEST_E_FORMAT;
	json_t *unchanged = json_object_get(root, "eventlog_unchanged");
	if (unchanged && !json_is_boolean(unchanged)) {
		diag_set(err, "bundle: \"eventlog_unchanged\" must be true or false");
		goto out;
	}
	b->eventlog_unchanged = json_is_true(unchanged);
	if (b->eventlog_unchanged && b->eventlog) {
		diag_set(err, "bundle: \"eventlog_unchanged\" is true but an \"eventlog\" is sent");
		goto out;
	}
	if ((rc = get_pcrs(root, &b->pcrs, err)) < 0)
		goto out;
	rc = ATTEST_E_FORMAT;
	json_t *timing = json_object_get(root, "timing");
	json_t *total = json_is_object(timing) ? json_object_get(timing, "total_ms") : NULL;
	b->host_us = json_is_number(total) ? bundle_host_us(json_number_value(total)) : -1;
	json_t *nonce = json_object_get(root, "nonce");
	if (!json_is_string(nonce) ||
	    hex_decode(json_string_value(nonce), b->nonce, sizeof b->nonce, &b->nonce_len) < 0 ||
	    b->nonce_len < EVIDENCE_NONCE_MIN) {
		diag_set(err, "bundle: \"nonce\" must be %u to %u bytes of hex", EVIDENCE_NONCE_MIN,
		         EVIDENCE_NONCE_MAX);
		goto out;
	}
	json_t *meta = json_object_get(root, "metadata");
	if (!json_is_object(meta)) {
		diag_set(err, "bundle: \"metadata\" must be an object");
		goto out;
	}
	b->metadata = json_incref(meta);
	rc = evidence_metadata_canonical(meta, &b->metadata_canonical);
	if (rc < 0) {
		diag_set(err, "bundle: metadata cannot be serialised");
		goto out;
	}
	if (strlen(b->metadata_canonical) > BUNDLE_METADATA_MAX) {
		diag_set(err, "bundle: metadata exceeds %u bytes", BUNDLE_METADATA_MAX);
		rc = ATTEST_E_LIMIT;
		goto out;
	}
	*ret = b;
	b = NULL;
	rc = 0;
out:
	bundle_free(b);
	json_decref(root);
	return rc;
}

int bundle_parse(const uint8_t *buf, size_t len, struct bundle **ret, struct diag *err)
{
	/* The usual answer without a tree (bundle_plain.c); anything it does
	 * not take is judged, and its error worded, by the jansson path. */
	if (ret && bundle_plain_parse(buf, len, ret) == 1)
		return 0;
	return bundle_parse_json(buf, len, ret, err);
}

/* Compare every quoted PCR with the log's replay. */
static int check_replay(const struct bundle *b, const struct quote_info *qi,
                        struct bundle_result *res)
{
	struct quote_reasons *rs = &res->reasons;
	if (!b->eventlog) {
		quote_reasons_add(
		    rs, QUOTE_EVENTLOG_MISSING, -1, 0, NULL, 0, NULL, 0,
		    "the bundle carries no event log, so the PCR values are unexplained");
		return 0;
	}
	struct eventlog *log = NULL;
	struct diag lerr;
	memset(&lerr, 0, sizeof lerr);
	int e = eventlog_parse(b->eventlog, b->eventlog_len, &log, &lerr);
	if (e == ATTEST_E_NOMEM)
		return e;
	if (e < 0) {
		quote_reasons_add(rs, QUOTE_EVENTLOG_INVALID, -1, 0, NULL, 0, NULL, 0,
		                  "the event log does not parse: event %zu at offset %zu: %s",
		                  lerr.event, lerr.offset, lerr.message);
		return 0;
	}
	struct eventlog_pcrs *rep = malloc(sizeof *rep);
	if (!rep) {
		eventlog_free(log);
		return ATTEST_E_NOMEM;
	}
	e = eventlog_replay(log, rep);
	eventlog_free(log);
	if (e < 0) {
		free(rep);
		return e == ATTEST_E_CRYPTO ? e : 0;
	}
	res->replayed = true;
	const TPML_PCR_SELECTION *sel = &qi->selection;
	for (uint32_t i = 0; i < sel->count && i < TPM2_NUM_PCR_BANKS; i++) {
		const TPMS_PCR_SELECTION *s = &sel->pcrSelections[i];
		const struct quote_pcr_bank *q = quote_pcrs_bank(&b->pcrs, s->hash);
		const struct eventlog_pcr_bank *r = eventlog_pcrs_bank(rep, s->hash);
		if (!q)
			continue; /* already a PCR_VALUE_MISSING reason */
		if (!r || !r->touched) {
			quote_reasons_add(rs, QUOTE_EVENTLOG_BANK_MISSING, -1, s->hash, NULL, 0,
			                  NULL, 0,
			                  "the event log has no %s digests, but the quote covers "
			                  "that bank",
			                  tpm_alg_name(s->hash));
			continue;
		}
		for (unsigned byte = 0; byte < s->sizeofSelect && byte < TPM2_PCR_SELECT_MAX;
		     byte++)
			for (unsigned bit = 0; bit < 8; bit++) {
				unsigned idx = byte * 8 + bit;
				if (!(s->pcrSelect[byte] & (1u << bit)) || idx >= QUOTE_NUM_PCRS ||
				    !(q->present & (1u << idx)))
					continue;
				if (CRYPTO_memcmp(q->value[idx], r->pcr[idx], q->size) != 0)
					quote_reasons_add(rs, QUOTE_EVENTLOG_REPLAY_MISMATCH,
					                  (int)idx, s->hash, q->value[idx], q->size,
					                  r->pcr[idx], q->size,
					                  "PCR %u (%s): the event log replays to a "
					                  "different value than the TPM quoted",
					                  idx, tpm_alg_name(s->hash));
			}
	}
	free(rep);
	return 0;
}

int bundle_verify(const struct bundle *b, const TPMT_PUBLIC *enrolled_ak,
                  const uint8_t *expected_nonce, size_t expected_nonce_len,
                  struct bundle_result *res)
{
	if (!b || !res || (!expected_nonce && expected_nonce_len))
		return ATTEST_E_ARG;
	memset(res, 0, sizeof *res);
	struct quote_reasons *rs = &res->reasons;
	struct diag terr;
	if (tpm_public_decode(b->ak_public, b->ak_public_len, &res->ak, &terr) == 0) {
		res->ak_decoded = true;
		tpm_public_name(&res->ak, res->ak_name, &res->ak_name_len);
	} else {
		quote_reasons_add(rs, QUOTE_AK_UNSUPPORTED, -1, 0, NULL, 0, NULL, 0,
		                  "ak_public: %s", terr.message);
	}
	const TPMT_PUBLIC *ak = enrolled_ak ? enrolled_ak : res->ak_decoded ? &res->ak : NULL;
	if (res->ak_decoded)
		quote_check_ak(&res->ak, rs);
	if (expected_nonce && (expected_nonce_len != b->nonce_len ||
	                       CRYPTO_memcmp(expected_nonce, b->nonce, b->nonce_len) != 0))
		quote_reasons_add(rs, QUOTE_NONCE_NOT_FRESH, -1, 0, expected_nonce,
		                  expected_nonce_len, b->nonce, b->nonce_len,
		                  "the bundle answers another nonce than the one asked for");
	if (!ak)
		return 0;
	uint8_t qd[EVIDENCE_QUALIFYING_SIZE];
	const char *meta = b->metadata_canonical ? b->metadata_canonical : "";
	int e = evidence_qualifying_data(b->nonce, b->nonce_len, (const uint8_t *)meta,
	                                 strlen(meta), qd);
	if (e < 0)
		return e;
	e = quote_verify(ak, NULL, b->quote, b->quote_len, b->signature, b->signature_len, qd,
	                 sizeof qd, &b->pcrs, NULL, &res->quote, rs);
	if (e < 0)
		return e;
	if (res->quote.decoded)
		return check_replay(b, &res->quote, res);
	return 0;
}
