/* Quote verification: every branch, with keys generated here and quotes
 * built with tss2-mu and signed with OpenSSL; plus real swtpm quotes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "hex.h"
#include "quote.h"
#include "tpm.h"
#include "tpm_build.h"
#include "testutil.h"

#define DATA "tests/unit/data/tpm/"
#define MASK 0x0000ffu /* PCRs 0-7 */

struct fx {
	EVP_PKEY *key;
	TPMT_PUBLIC ak;
	TPM2_ALG_ID scheme;
	uint8_t qd[32];
	struct quote_pcrs pcrs;
	TPML_PCR_SELECTION sel;
	uint8_t attest[2048];
	size_t attest_len;
	uint8_t sig[1024];
	size_t sig_len;
};

static void fx_pcrs(struct fx *f)
{
	memset(&f->pcrs, 0, sizeof f->pcrs);
	for (unsigned i = 0; i < 8; i++) {
		uint8_t v[32];
		memset(v, (int)(0x10 + i), sizeof v);
		assert_int_equal(quote_pcrs_set(&f->pcrs, TPM2_ALG_SHA256, i, v, 32), 0);
	}
}

/* (Re)build and sign the quote from f's fields; digest_override if non-NULL. */
static void fx_quote(struct fx *f, const uint8_t *digest_override)
{
	uint8_t d[QUOTE_MAX_DIGEST];
	size_t dl = 0;
	if (digest_override)
		memcpy(d, digest_override, 32);
	else
		assert_int_equal(quote_pcr_digest(&f->sel, &f->pcrs, TPM2_ALG_SHA256, d, &dl), 0);
	f->attest_len = tb_attest(f->qd, sizeof f->qd, &f->sel, d, f->attest, sizeof f->attest);
	f->sig_len = tb_sign(f->key, f->scheme, TPM2_ALG_SHA256, f->attest, f->attest_len, f->sig,
	                     sizeof f->sig);
}

static struct fx *fx_new(EVP_PKEY *key, TPM2_ALG_ID scheme, TPM2_ALG_ID key_scheme)
{
	struct fx *f = calloc(1, sizeof *f);
	f->key = key;
	f->scheme = scheme;
	tb_public(key, TB_AK_ATTRS, key_scheme, &f->ak);
	memset(f->qd, 0x42, sizeof f->qd);
	fx_pcrs(f);
	tb_sel(MASK, &f->sel);
	fx_quote(f, NULL);
	return f;
}

static void fx_free(struct fx *f)
{
	EVP_PKEY_free(f->key);
	free(f);
}

static void same_reasons(const struct quote_reasons *a, const struct quote_reasons *b)
{
	assert_int_equal(a->count, b->count);
	assert_int_equal(a->dropped, b->dropped);
	for (size_t i = 0; i < a->count; i++) {
		assert_int_equal(a->list[i].status, b->list[i].status);
		assert_int_equal(a->list[i].pcr, b->list[i].pcr);
		assert_string_equal(a->list[i].message, b->list[i].message);
		assert_string_equal(a->list[i].expected, b->list[i].expected);
		assert_string_equal(a->list[i].actual, b->list[i].actual);
	}
}

/* quote_verify(), and the same quote through a prepared AK twice (the
 * second time with its cached context): every case of this file checks
 * that both paths give the same reasons. */
static int run(struct fx *f, struct quote_reasons *rs, struct quote_info *info)
{
	memset(rs, 0, sizeof *rs);
	int e = quote_verify(&f->ak, NULL, f->attest, f->attest_len, f->sig, f->sig_len, f->qd,
	                     sizeof f->qd, &f->pcrs, NULL, info, rs);
	struct quote_ak *k = NULL;
	if (quote_ak_new(&f->ak, &k) < 0) {
		assert_true(quote_reasons_has(rs, QUOTE_AK_UNSUPPORTED));
		return e;
	}
	struct quote_reasons *again = malloc(sizeof *again);
	struct quote_info qi;
	assert_non_null(again);
	for (int i = 0; i < 2; i++) {
		memset(again, 0, sizeof *again);
		assert_int_equal(quote_verify_ak(k, f->attest, f->attest_len, f->sig, f->sig_len,
		                                 f->qd, sizeof f->qd, &f->pcrs, NULL, &qi, again),
		                 e);
		same_reasons(rs, again);
		if (info)
			assert_memory_equal(info, &qi, sizeof qi);
	}
	free(again);
	quote_ak_free(k);
	return e;
}

static void expect_only(struct fx *f, enum quote_status st)
{
	struct quote_reasons rs;
	assert_int_equal(run(f, &rs, NULL), 0);
	if (rs.count != 1 || rs.list[0].status != st) {
		for (size_t i = 0; i < rs.count; i++)
			fprintf(stderr, "reason %s: %s\n", quote_status_code(rs.list[i].status),
			        rs.list[i].message);
		fail_msg("expected exactly %s", quote_status_code(st));
	}
}

static void expect_has(struct fx *f, enum quote_status st)
{
	struct quote_reasons rs;
	assert_int_equal(run(f, &rs, NULL), 0);
	if (!quote_reasons_has(&rs, st))
		fail_msg("expected %s among %zu reasons", quote_status_code(st), rs.count);
}

static void test_good_all_schemes(void **state)
{
	struct fx *fs[] = {
	    fx_new(tb_rsa_key(), TPM2_ALG_RSASSA, TPM2_ALG_RSASSA),
	    fx_new(tb_rsa_key(), TPM2_ALG_RSAPSS, TPM2_ALG_RSAPSS),
	    fx_new(tb_rsa_key(), TPM2_ALG_RSAPSS, TPM2_ALG_NULL),
	    fx_new(tb_ec_key("P-256"), TPM2_ALG_ECDSA, TPM2_ALG_ECDSA),
	    fx_new(tb_ec_key("P-384"), TPM2_ALG_ECDSA, TPM2_ALG_ECDSA),
	};
	for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) {
		struct quote_reasons rs;
		struct quote_info info;
		assert_int_equal(run(fs[i], &rs, &info), 0);
		assert_int_equal(rs.count, 0);
		assert_true(info.decoded);
		assert_int_equal(info.clock.resetCount, 7);
		assert_int_equal(info.clock.restartCount, 2);
		assert_int_equal(info.clock.safe, 1);
		assert_true(info.firmware_version == 0x2019102300163636ull);
		assert_int_equal(info.signer_len, 34);
		assert_int_equal(info.selection.count, 1);
		/* with a converted key passed in, the same result */
		EVP_PKEY *k = NULL;
		assert_int_equal(tpm_public_to_pkey(&fs[i]->ak, &k), 0);
		memset(&rs, 0, sizeof rs);
		assert_int_equal(quote_verify(&fs[i]->ak, k, fs[i]->attest, fs[i]->attest_len,
		                              fs[i]->sig, fs[i]->sig_len, fs[i]->qd, 32,
		                              &fs[i]->pcrs, NULL, NULL, &rs),
		                 0);
		assert_int_equal(rs.count, 0);
		EVP_PKEY_free(k);
		fx_free(fs[i]);
	}
}

static void test_wrong_nonce(void **state)
{
	struct fx *f = fx_new(tb_rsa_key(), TPM2_ALG_RSASSA, TPM2_ALG_RSASSA);
	struct quote_reasons rs;
	uint8_t other[32];
	memset(other, 0x43, sizeof other);
	memset(&rs, 0, sizeof rs);
	assert_int_equal(quote_verify(&f->ak, NULL, f->attest, f->attest_len, f->sig, f->sig_len,
	                              other, sizeof other, &f->pcrs, NULL, NULL, &rs),
	                 0);
	assert_int_equal(rs.count, 1);
	assert_int_equal(rs.list[0].status, QUOTE_NONCE_MISMATCH);
	assert_string_equal(quote_status_code(rs.list[0].status), "NONCE_MISMATCH");
	char hex[65];
	hex_encode(other, 32, hex);
	assert_string_equal(rs.list[0].expected, hex);
	hex_encode(f->qd, 32, hex);
	assert_string_equal(rs.list[0].actual, hex);
	/* a shorter expected value is a mismatch too, not a prefix match */
	memset(&rs, 0, sizeof rs);
	assert_int_equal(quote_verify(&f->ak, NULL, f->attest, f->attest_len, f->sig, f->sig_len,
	                              f->qd, 16, &f->pcrs, NULL, NULL, &rs),
	                 0);
	assert_true(quote_reasons_has(&rs, QUOTE_NONCE_MISMATCH));
	fx_free(f);
}

static void test_pcr_value_changed(void **state)
{
	struct fx *f = fx_new(tb_ec_key("P-256"), TPM2_ALG_ECDSA, TPM2_ALG_ECDSA);
	f->pcrs.banks[0].value[4][0] ^= 1; /* reported value no longer the quoted one */
	expect_only(f, QUOTE_PCR_DIGEST_MISMATCH);
	fx_free(f);
}

static void test_pcr_digest_changed(void **state)
{
	struct fx *f = fx_new(tb_rsa_key(), TPM2_ALG_RSASSA, TPM2_ALG_RSASSA);
	uint8_t d[32];
	memset(d, 0x99, sizeof d);
	fx_quote(f, d); /* validly signed, but the digest is not over these values */
	struct quote_reasons rs;
	assert_int_equal(run(f, &rs, NULL), 0);
	assert_int_equal(rs.count, 1);
	assert_int_equal(rs.list[0].status, QUOTE_PCR_DIGEST_MISMATCH);
	assert_string_equal(rs.list[0].expected,
	                    "9999999999999999999999999999999999999999999999999999999999999999");
	fx_free(f);
}

static void test_signature_bit_flips(void **state)
{
	struct fx *f = fx_new(tb_rsa_key(), TPM2_ALG_RSASSA, TPM2_ALG_RSASSA);
	f->sig[f->sig_len - 1] ^= 0x08;
	expect_only(f, QUOTE_SIGNATURE_INVALID);
	fx_free(f);
	f = fx_new(tb_ec_key("P-256"), TPM2_ALG_ECDSA, TPM2_ALG_ECDSA);
	f->sig[f->sig_len - 1] ^= 0x01;
	expect_only(f, QUOTE_SIGNATURE_INVALID);
	fx_free(f);
	/* a flipped bit in the signed quote (clock) */
	f = fx_new(tb_rsa_key(), TPM2_ALG_RSASSA, TPM2_ALG_RSASSA);
	f->attest[f->attest_len - 40] ^= 0x80;
	expect_has(f, QUOTE_SIGNATURE_INVALID);
	fx_free(f);
}

/* The ECDSA signature's (r, s) reach OpenSSL as DER written by hand
 * (quote.c): many signatures over P-256 and P-384 (so r and s with the
 * high bit set, and with leading zero bytes, padded to the curve's size by
 * tb_sign) verify; the same values with more zero bytes in front still do
 * (the TPM's buffer is a number, not a fixed width); an r or s of zero,
 * empty, or changed in its last byte does not. */
static void test_ecdsa_der(void **state)
{
	const char *curves[] = {"P-256", "P-384"};
	for (size_t c = 0; c < 2; c++) {
		struct fx *f = fx_new(tb_ec_key(curves[c]), TPM2_ALG_ECDSA, TPM2_ALG_ECDSA);
		for (int i = 0; i < 150; i++) {
			f->qd[0] = (uint8_t)i;
			f->qd[1] = (uint8_t)c;
			fx_quote(f, NULL);
			struct quote_reasons rs;
			assert_int_equal(run(f, &rs, NULL), 0);
			assert_int_equal(rs.count, 0);
		}
		TPMT_SIGNATURE sg, m;
		size_t off = 0;
		assert_int_equal(Tss2_MU_TPMT_SIGNATURE_Unmarshal(f->sig, f->sig_len, &off, &sg),
		                 TSS2_RC_SUCCESS);
		for (int k = 0; k < 6; k++) {
			m = sg;
			TPM2B_ECC_PARAMETER *v =
			    k % 2 ? &m.signature.ecdsa.signatureS : &m.signature.ecdsa.signatureR;
			bool good = k < 2;
			if (k < 2) { /* three more leading zero bytes */
				memmove(v->buffer + 3, v->buffer, v->size);
				memset(v->buffer, 0, 3);
				v->size = (uint16_t)(v->size + 3);
			} else if (k < 4) { /* zero */
				memset(v->buffer, 0, v->size);
			} else if (k == 4) { /* empty */
				v->size = 0;
			} else {
				v->buffer[v->size - 1] ^= 0x01;
			}
			off = 0;
			assert_int_equal(
			    Tss2_MU_TPMT_SIGNATURE_Marshal(&m, f->sig, sizeof f->sig, &off),
			    TSS2_RC_SUCCESS);
			f->sig_len = off;
			struct quote_reasons rs;
			assert_int_equal(run(f, &rs, NULL), 0);
			if (good)
				assert_int_equal(rs.count, 0);
			else
				assert_true(quote_reasons_has(&rs, QUOTE_SIGNATURE_INVALID));
		}
		fx_free(f);
	}
}

static void test_wrong_key(void **state)
{
	struct fx *f = fx_new(tb_rsa_key(), TPM2_ALG_RSASSA, TPM2_ALG_RSASSA);
	EVP_PKEY *other = tb_rsa_key();
	tb_public(other, TB_AK_ATTRS, TPM2_ALG_RSASSA, &f->ak); /* another TPM's AK */
	expect_only(f, QUOTE_SIGNATURE_INVALID);
	EVP_PKEY_free(other);
	fx_free(f);
}

static void test_scheme_checks(void **state)
{
	/* AK declares RSASSA, quote signed with RSAPSS */
	struct fx *f = fx_new(tb_rsa_key(), TPM2_ALG_RSAPSS, TPM2_ALG_RSASSA);
	expect_only(f, QUOTE_SIGNATURE_SCHEME_MISMATCH);
	fx_free(f);
	/* ECDSA signature against an RSA AK */
	f = fx_new(tb_ec_key("P-256"), TPM2_ALG_ECDSA, TPM2_ALG_ECDSA);
	EVP_PKEY *r = tb_rsa_key();
	tb_public(r, TB_AK_ATTRS, TPM2_ALG_NULL, &f->ak);
	expect_only(f, QUOTE_SIGNATURE_SCHEME_MISMATCH);
	EVP_PKEY_free(r);
	fx_free(f);
	/* SHA-384 signature: refused */
	f = fx_new(tb_rsa_key(), TPM2_ALG_RSASSA, TPM2_ALG_NULL);
	f->sig_len = tb_sign(f->key, TPM2_ALG_RSASSA, TPM2_ALG_SHA384, f->attest, f->attest_len,
	                     f->sig, sizeof f->sig);
	expect_only(f, QUOTE_SIGNATURE_UNSUPPORTED);
	fx_free(f);
}

static void test_magic_and_type(void **state)
{
	struct fx *f = fx_new(tb_rsa_key(), TPM2_ALG_RSASSA, TPM2_ALG_RSASSA);
	f->attest[0] = 0xfe; /* re-signed: only the magic is wrong */
	f->sig_len = tb_sign(f->key, f->scheme, TPM2_ALG_SHA256, f->attest, f->attest_len, f->sig,
	                     sizeof f->sig);
	expect_only(f, QUOTE_BAD_MAGIC);
	fx_free(f);
	f = fx_new(tb_rsa_key(), TPM2_ALG_RSASSA, TPM2_ALG_RSASSA);
	f->attest[5] = 0x17; /* TPM_ST_ATTEST_CERTIFY: a signed certify is not a quote */
	f->sig_len = tb_sign(f->key, f->scheme, TPM2_ALG_SHA256, f->attest, f->attest_len, f->sig,
	                     sizeof f->sig);
	expect_only(f, QUOTE_BAD_TYPE);
	fx_free(f);
}

static void test_selection_checks(void **state)
{
	struct fx *f = fx_new(tb_rsa_key(), TPM2_ALG_RSASSA, TPM2_ALG_RSASSA);
	struct quote_reasons rs;
	/* a quoted PCR whose value is missing */
	f->pcrs.banks[0].present &= ~(1u << 3);
	assert_int_equal(run(f, &rs, NULL), 0);
	assert_int_equal(rs.count, 1);
	assert_int_equal(rs.list[0].status, QUOTE_PCR_VALUE_MISSING);
	assert_int_equal(rs.list[0].pcr, 3);
	fx_pcrs(f);
	/* a reported PCR the quote does not cover */
	uint8_t v[32] = {0};
	assert_int_equal(quote_pcrs_set(&f->pcrs, TPM2_ALG_SHA256, 10, v, 32), 0);
	assert_int_equal(run(f, &rs, NULL), 0);
	assert_int_equal(rs.count, 1);
	assert_int_equal(rs.list[0].status, QUOTE_PCR_NOT_QUOTED);
	assert_int_equal(rs.list[0].pcr, 10);
	fx_pcrs(f);
	/* the policy wants PCR 8 too */
	TPML_PCR_SELECTION want;
	tb_sel(0x1ffu, &want);
	memset(&rs, 0, sizeof rs);
	assert_int_equal(quote_verify(&f->ak, NULL, f->attest, f->attest_len, f->sig, f->sig_len,
	                              f->qd, 32, &f->pcrs, &want, NULL, &rs),
	                 0);
	assert_int_equal(rs.count, 1);
	assert_int_equal(rs.list[0].status, QUOTE_PCR_SELECTION_MISMATCH);
	tb_sel(0x81u, &want);
	memset(&rs, 0, sizeof rs);
	assert_int_equal(quote_verify(&f->ak, NULL, f->attest, f->attest_len, f->sig, f->sig_len,
	                              f->qd, 32, &f->pcrs, &want, NULL, &rs),
	                 0);
	assert_int_equal(rs.count, 0);
	fx_free(f);
}

/* Two banks: the digest covers them in selection order. */
static void test_two_banks_order(void **state)
{
	struct fx *f = fx_new(tb_rsa_key(), TPM2_ALG_RSASSA, TPM2_ALG_RSASSA);
	TPML_PCR_SELECTION sel;
	tb_sel(0x81u, &sel);
	sel.count = 2;
	sel.pcrSelections[1] = sel.pcrSelections[0];
	sel.pcrSelections[0].hash = TPM2_ALG_SHA1;
	sel.pcrSelections[0].pcrSelect[0] = 0x01;
	uint8_t v1[20];
	memset(v1, 0x77, sizeof v1);
	memset(&f->pcrs, 0, sizeof f->pcrs);
	uint8_t v[32];
	memset(v, 1, 32);
	quote_pcrs_set(&f->pcrs, TPM2_ALG_SHA256, 0, v, 32);
	memset(v, 7, 32);
	quote_pcrs_set(&f->pcrs, TPM2_ALG_SHA256, 7, v, 32);
	quote_pcrs_set(&f->pcrs, TPM2_ALG_SHA1, 0, v1, 20);
	f->sel = sel;
	fx_quote(f, NULL);
	struct quote_reasons rs;
	assert_int_equal(run(f, &rs, NULL), 0);
	assert_int_equal(rs.count, 0);
	/* the hash by hand: sha1 PCR0 || sha256 PCR0 || sha256 PCR7 */
	uint8_t cat[20 + 64], want[32], got[QUOTE_MAX_DIGEST];
	size_t gl;
	memcpy(cat, v1, 20);
	memset(cat + 20, 1, 32);
	memset(cat + 52, 7, 32);
	EVP_Digest(cat, sizeof cat, want, NULL, EVP_sha256(), NULL);
	assert_int_equal(quote_pcr_digest(&sel, &f->pcrs, TPM2_ALG_SHA256, got, &gl), 0);
	assert_memory_equal(got, want, 32);
	fx_free(f);
}

static void test_malformed(void **state)
{
	struct fx *f = fx_new(tb_rsa_key(), TPM2_ALG_RSASSA, TPM2_ALG_RSASSA);
	struct quote_reasons rs;
	size_t full = f->attest_len;
	for (size_t cut = 0; cut < full; cut += 7) {
		f->attest_len = cut;
		f->sig_len = tb_sign(f->key, f->scheme, TPM2_ALG_SHA256, f->attest, cut, f->sig,
		                     sizeof f->sig);
		assert_int_equal(run(f, &rs, NULL), 0);
		assert_true(quote_reasons_has(&rs, QUOTE_MALFORMED) ||
		            quote_reasons_has(&rs, QUOTE_BAD_MAGIC) ||
		            quote_reasons_has(&rs, QUOTE_BAD_TYPE));
	}
	/* trailing bytes after a signed quote */
	f->attest_len = full + 1;
	f->attest[full] = 0;
	f->sig_len =
	    tb_sign(f->key, f->scheme, TPM2_ALG_SHA256, f->attest, full + 1, f->sig, sizeof f->sig);
	expect_only(f, QUOTE_MALFORMED);
	/* a truncated signature */
	fx_quote(f, NULL);
	f->sig_len -= 1;
	expect_only(f, QUOTE_SIGNATURE_MALFORMED);
	f->sig_len = 0;
	expect_only(f, QUOTE_SIGNATURE_MALFORMED);
	fx_free(f);
}

static void test_ak_checks(void **state)
{
	EVP_PKEY *k = tb_rsa_key();
	TPMT_PUBLIC p;
	struct quote_reasons rs;
	tb_public(k, TB_AK_ATTRS, TPM2_ALG_RSASSA, &p);
	memset(&rs, 0, sizeof rs);
	quote_check_ak(&p, &rs);
	assert_int_equal(rs.count, 0);
	static const struct {
		TPMA_OBJECT clear, set;
		enum quote_status st;
	} cases[] = {
	    {TPMA_OBJECT_RESTRICTED, 0, QUOTE_AK_NOT_RESTRICTED},
	    {TPMA_OBJECT_SIGN_ENCRYPT, 0, QUOTE_AK_NOT_SIGNING},
	    {0, TPMA_OBJECT_DECRYPT, QUOTE_AK_DECRYPT},
	    {TPMA_OBJECT_FIXEDTPM, 0, QUOTE_AK_NOT_FIXED_TPM},
	    {TPMA_OBJECT_FIXEDPARENT, 0, QUOTE_AK_NOT_FIXED_PARENT},
	    {TPMA_OBJECT_SENSITIVEDATAORIGIN, 0, QUOTE_AK_NOT_SENSITIVE_DATA_ORIGIN},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		TPMT_PUBLIC q = p;
		q.objectAttributes = (q.objectAttributes & ~cases[i].clear) | cases[i].set;
		memset(&rs, 0, sizeof rs);
		quote_check_ak(&q, &rs);
		assert_int_equal(rs.count, 1);
		assert_int_equal(rs.list[0].status, cases[i].st);
	}
	TPMT_PUBLIC q = p;
	q.objectAttributes &= ~TPMA_OBJECT_USERWITHAUTH; /* allowed either way */
	memset(&rs, 0, sizeof rs);
	quote_check_ak(&q, &rs);
	assert_int_equal(rs.count, 0);
	q = p;
	q.nameAlg = TPM2_ALG_SHA384;
	memset(&rs, 0, sizeof rs);
	quote_check_ak(&q, &rs);
	assert_int_equal(rs.count, 1);
	assert_int_equal(rs.list[0].status, QUOTE_AK_NAME_ALG);
	q = p;
	q.parameters.rsaDetail.scheme.details.anySig.hashAlg = TPM2_ALG_SHA1;
	memset(&rs, 0, sizeof rs);
	quote_check_ak(&q, &rs);
	assert_int_equal(rs.count, 1);
	assert_int_equal(rs.list[0].status, QUOTE_AK_SCHEME);
	/* everything wrong at once: each its own reason */
	q = p;
	q.objectAttributes = TPMA_OBJECT_DECRYPT;
	memset(&rs, 0, sizeof rs);
	quote_check_ak(&q, &rs);
	assert_int_equal(rs.count, 6);
	EVP_PKEY_free(k);
}

static void test_real_swtpm_quotes(void **state)
{
	static const char *const cases[][2] = {
	    {DATA "ak-rsa.pub", DATA "quote-rsa"},
	    {DATA "ak-ecc.pub", DATA "quote-ecc"},
	};
	size_t qlen, plen;
	char *qhex = (char *)testutil_read_file(DATA "quote.qualifying.hex", &qlen);
	uint8_t *pv = testutil_read_file(DATA "quote.pcrs.bin", &plen);
	assert_non_null(qhex);
	assert_non_null(pv);
	assert_int_equal(plen, 8 * 32);
	uint8_t qd[64];
	size_t qdl = 0;
	char hexz[129];
	memcpy(hexz, qhex, qlen < 128 ? qlen : 128);
	hexz[qlen < 128 ? qlen : 128] = '\0';
	assert_int_equal(hex_decode(hexz, qd, sizeof qd, &qdl), 0);
	struct quote_pcrs pcrs;
	memset(&pcrs, 0, sizeof pcrs);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(quote_pcrs_set(&pcrs, TPM2_ALG_SHA256, i, pv + 32 * i, 32), 0);
	for (size_t c = 0; c < 2; c++) {
		char path[128];
		size_t publen, alen, slen;
		uint8_t *pub = testutil_read_file(cases[c][0], &publen);
		snprintf(path, sizeof path, "%s.attest", cases[c][1]);
		uint8_t *att = testutil_read_file(path, &alen);
		snprintf(path, sizeof path, "%s.sig", cases[c][1]);
		uint8_t *sig = testutil_read_file(path, &slen);
		TPMT_PUBLIC ak;
		assert_int_equal(tpm_public_decode(pub, publen, &ak, NULL), 0);
		struct quote_reasons rs;
		struct quote_info info;
		memset(&rs, 0, sizeof rs);
		assert_int_equal(
		    quote_verify(&ak, NULL, att, alen, sig, slen, qd, qdl, &pcrs, NULL, &info, &rs),
		    0);
		for (size_t i = 0; i < rs.count; i++)
			fprintf(stderr, "%s: %s\n", quote_status_code(rs.list[i].status),
			        rs.list[i].message);
		assert_int_equal(rs.count, 0);
		memset(&rs, 0, sizeof rs);
		quote_check_ak(&ak, &rs);
		assert_int_equal(rs.count, 0);
		free(pub);
		free(att);
		free(sig);
	}
	free(qhex);
	free(pv);
}

/* One prepared AK, quote after quote: good and bad signatures in turn,
 * and an AK without a declared scheme whose quotes switch between RSASSA
 * and RSAPSS. Each is judged on its own: a bad one never taints the next,
 * a good one never lets a bad one through. */
static void test_prepared_ak_reuse(void **state)
{
	(void)state;
	struct fx *fs[] = {
	    fx_new(tb_rsa_key(), TPM2_ALG_RSASSA, TPM2_ALG_NULL),
	    fx_new(tb_ec_key("P-256"), TPM2_ALG_ECDSA, TPM2_ALG_ECDSA),
	    fx_new(tb_ec_key("P-384"), TPM2_ALG_ECDSA, TPM2_ALG_NULL),
	};
	for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) {
		struct fx *f = fs[i];
		struct quote_ak *k = NULL;
		assert_int_equal(quote_ak_new(&f->ak, &k), 0);
		assert_non_null(quote_ak_sha256(k));
		assert_true(quote_ak_bytes(k) > 0);
		uint8_t good[1024], bad[1024], pss[1024];
		size_t good_len = f->sig_len, pss_len = 0;
		memcpy(good, f->sig, good_len);
		memcpy(bad, f->sig, good_len);
		bad[good_len - 1] ^= 0x01;
		if (f->ak.type == TPM2_ALG_RSA)
			pss_len = tb_sign(f->key, TPM2_ALG_RSAPSS, TPM2_ALG_SHA256, f->attest,
			                  f->attest_len, pss, sizeof pss);
		struct quote_reasons rs;
		for (int round = 0; round < 3; round++) {
			const uint8_t *sig[] = {good, bad, good, pss, bad, pss, good};
			size_t len[] = {good_len, good_len, good_len, pss_len,
			                good_len, pss_len,  good_len};
			bool ok[] = {true, false, true, true, false, true, true};
			for (size_t j = 0; j < sizeof sig / sizeof sig[0]; j++) {
				if (!len[j])
					continue; /* no RSAPSS for an ECC key */
				memset(&rs, 0, sizeof rs);
				assert_int_equal(
				    quote_verify_ak(k, f->attest, f->attest_len, sig[j], len[j],
				                    f->qd, sizeof f->qd, &f->pcrs, NULL, NULL, &rs),
				    0);
				if (ok[j]) {
					assert_int_equal(rs.count, 0);
				} else {
					assert_int_equal(rs.count, 1);
					assert_int_equal(rs.list[0].status,
					                 QUOTE_SIGNATURE_INVALID);
				}
			}
		}
		/* the signed bytes changed, the signature not: invalid */
		f->attest[f->attest_len - 40] ^= 0x80;
		memset(&rs, 0, sizeof rs);
		assert_int_equal(quote_verify_ak(k, f->attest, f->attest_len, good, good_len, f->qd,
		                                 sizeof f->qd, &f->pcrs, NULL, NULL, &rs),
		                 0);
		assert_true(quote_reasons_has(&rs, QUOTE_SIGNATURE_INVALID));
		quote_ak_free(k);
		fx_free(f);
	}
}

static void test_prepared_ak_errors(void **state)
{
	(void)state;
	struct fx *f = fx_new(tb_rsa_key(), TPM2_ALG_RSASSA, TPM2_ALG_RSASSA);
	struct quote_ak *k = (struct quote_ak *)&k; /* untouched on failure */
	struct quote_ak *const sentinel = k;
	assert_int_equal(quote_ak_new(NULL, &k), ATTEST_E_ARG);
	assert_int_equal(quote_ak_new(&f->ak, NULL), ATTEST_E_ARG);
	TPMT_PUBLIC bad = f->ak;
	bad.unique.rsa.size = 0; /* no modulus */
	assert_true(quote_ak_new(&bad, &k) < 0);
	bad = f->ak;
	bad.type = TPM2_ALG_KEYEDHASH;
	assert_true(quote_ak_new(&bad, &k) < 0);
	assert_ptr_equal(k, sentinel);
	quote_ak_free(NULL);
	assert_int_equal(quote_ak_bytes(NULL), 0);
	assert_null(quote_ak_sha256(NULL));
	k = NULL;
	assert_int_equal(quote_ak_new(&f->ak, &k), 0);
	struct quote_reasons rs;
	memset(&rs, 0, sizeof rs);
	assert_int_equal(quote_verify_ak(NULL, f->attest, f->attest_len, f->sig, f->sig_len, f->qd,
	                                 32, &f->pcrs, NULL, NULL, &rs),
	                 ATTEST_E_ARG);
	assert_int_equal(
	    quote_verify_ak(k, NULL, 5, f->sig, f->sig_len, f->qd, 32, &f->pcrs, NULL, NULL, &rs),
	    ATTEST_E_ARG);
	assert_int_equal(quote_verify_ak(k, f->attest, f->attest_len, f->sig, f->sig_len, f->qd, 32,
	                                 NULL, NULL, NULL, &rs),
	                 ATTEST_E_ARG);
	assert_int_equal(quote_verify_ak(k, f->attest, f->attest_len, f->sig, f->sig_len, f->qd, 32,
	                                 &f->pcrs, NULL, NULL, NULL),
	                 ATTEST_E_ARG);
	/* a signature that does not decode, then a good one */
	assert_int_equal(quote_verify_ak(k, f->attest, f->attest_len, f->sig, 3, f->qd, 32,
	                                 &f->pcrs, NULL, NULL, &rs),
	                 0);
	assert_int_equal(rs.count, 1);
	assert_int_equal(rs.list[0].status, QUOTE_SIGNATURE_MALFORMED);
	memset(&rs, 0, sizeof rs);
	assert_int_equal(quote_verify_ak(k, f->attest, f->attest_len, f->sig, f->sig_len, f->qd, 32,
	                                 &f->pcrs, NULL, NULL, &rs),
	                 0);
	assert_int_equal(rs.count, 0);
	quote_ak_free(k);
	fx_free(f);
}

/* The PCR digest over more values than its gathering buffer holds (three
 * full banks): the same as hashing the values one by one. */
static void test_pcr_digest_long(void **state)
{
	(void)state;
	static const TPM2_ALG_ID algs[] = {TPM2_ALG_SHA256, TPM2_ALG_SHA384, TPM2_ALG_SHA512};
	struct quote_pcrs pcrs;
	memset(&pcrs, 0, sizeof pcrs);
	TPML_PCR_SELECTION sel;
	memset(&sel, 0, sizeof sel);
	sel.count = 3;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	assert_non_null(ctx);
	assert_int_equal(EVP_DigestInit_ex2(ctx, EVP_sha256(), NULL), 1);
	for (unsigned b = 0; b < 3; b++) {
		size_t n = tpm_alg_digest_size(algs[b]);
		sel.pcrSelections[b].hash = algs[b];
		sel.pcrSelections[b].sizeofSelect = 3;
		memset(sel.pcrSelections[b].pcrSelect, 0xff, 3);
		for (unsigned i = 0; i < 24; i++) {
			uint8_t v[64];
			for (size_t k = 0; k < n; k++)
				v[k] = (uint8_t)(b * 31 + i * 7 + k);
			assert_int_equal(quote_pcrs_set(&pcrs, algs[b], i, v, n), 0);
			assert_int_equal(EVP_DigestUpdate(ctx, v, n), 1);
		}
	}
	uint8_t want[32], got[QUOTE_MAX_DIGEST];
	unsigned int wl = 0;
	size_t gl = 0;
	assert_int_equal(EVP_DigestFinal_ex(ctx, want, &wl), 1);
	EVP_MD_CTX_free(ctx);
	assert_int_equal(quote_pcr_digest(&sel, &pcrs, TPM2_ALG_SHA256, got, &gl), 0);
	assert_int_equal(gl, 32);
	assert_memory_equal(got, want, 32);
}

static void test_reasons_cap(void **state)
{
	struct quote_reasons *rs = calloc(1, sizeof *rs);
	for (unsigned i = 0; i < QUOTE_MAX_REASONS + 5; i++)
		quote_reasons_add(rs, QUOTE_PCR_VALUE_MISSING, (int)i, 0, NULL, 0, NULL, 0, "r%u",
		                  i);
	assert_int_equal(rs->count, QUOTE_MAX_REASONS);
	assert_int_equal(rs->dropped, 5);
	assert_string_equal(quote_status_code(QUOTE_STATUS__COUNT), "UNKNOWN");
	for (int s = 1; s < QUOTE_STATUS__COUNT; s++)
		assert_string_not_equal(quote_status_code((enum quote_status)s), "UNKNOWN");
	free(rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_all_schemes),    cmocka_unit_test(test_wrong_nonce),
	    cmocka_unit_test(test_pcr_value_changed),   cmocka_unit_test(test_pcr_digest_changed),
	    cmocka_unit_test(test_signature_bit_flips), cmocka_unit_test(test_wrong_key),
	    cmocka_unit_test(test_scheme_checks),       cmocka_unit_test(test_magic_and_type),
	    cmocka_unit_test(test_selection_checks),    cmocka_unit_test(test_two_banks_order),
	    cmocka_unit_test(test_malformed),           cmocka_unit_test(test_ak_checks),
	    cmocka_unit_test(test_real_swtpm_quotes),   cmocka_unit_test(test_reasons_cap),
	    cmocka_unit_test(test_prepared_ak_reuse),   cmocka_unit_test(test_prepared_ak_errors),
	    cmocka_unit_test(test_pcr_digest_long),     cmocka_unit_test(test_ecdsa_der),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
