/* Quote verification throughput on one core: our full quote_verify()
 * (signature, magic/type, extraData, PCR digest over 8 PCRs; with the AK's
 * public area converted to an OpenSSL key on every call, as a verifier that
 * keeps only the TPM2B_PUBLIC would do) next to OpenSSL's raw
 * EVP_DigestVerify over the same bytes with the same, already loaded key,
 * measured in the same run. Prints one line per key type and the ratio
 * (target >= 0.5), and the rate when the caller passes the AK already
 * converted (a verifier caching enrolled AKs), and with the AK prepared once
 * (quote_ak: key and OpenSSL verify context kept, as the host's memo keeps
 * them). Usage: bench_quote [SECONDS per measurement, default
 * 2]. */
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <tss2/tss2_mu.h>

#include "quote.h"
#include "tpm.h"

/* CPU time of this (single-threaded) process: other load on a shared
 * machine moves the rates less than with wall time. */
static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_quote: %s failed\n", what);
	exit(1);
}

static void bn(EVP_PKEY *k, const char *param, uint8_t *out, size_t n)
{
	BIGNUM *b = NULL;
	if (!EVP_PKEY_get_bn_param(k, param, &b) || BN_bn2binpad(b, out, (int)n) != (int)n)
		die("get_bn_param");
	BN_free(b);
}

struct setup {
	EVP_PKEY *key;
	TPMT_PUBLIC ak;
	uint8_t attest[1024];
	size_t attest_len;
	uint8_t sig[600];
	size_t sig_len;
	uint8_t raw_sig[512]; /* DER/PKCS#1 signature for the raw measurement */
	size_t raw_sig_len;
	uint8_t qd[32];
	struct quote_pcrs pcrs;
};

static void make(struct setup *s, int ecc)
{
	memset(s, 0, sizeof *s);
	s->key = ecc ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")
	             : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (!s->key)
		die("keygen");
	TPMT_PUBLIC *p = &s->ak;
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
	                      TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
	                      TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
	if (ecc) {
		p->type = TPM2_ALG_ECC;
		p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
		p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
		p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
		p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
		p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
		p->unique.ecc.x.size = p->unique.ecc.y.size = 32;
		bn(s->key, OSSL_PKEY_PARAM_EC_PUB_X, p->unique.ecc.x.buffer, 32);
		bn(s->key, OSSL_PKEY_PARAM_EC_PUB_Y, p->unique.ecc.y.buffer, 32);
	} else {
		p->type = TPM2_ALG_RSA;
		p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
		p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
		p->parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
		p->parameters.rsaDetail.keyBits = 2048;
		p->unique.rsa.size = 256;
		bn(s->key, OSSL_PKEY_PARAM_RSA_N, p->unique.rsa.buffer, 256);
	}
	/* PCRs 0-7 and a quote over them */
	TPML_PCR_SELECTION sel;
	memset(&sel, 0, sizeof sel);
	sel.count = 1;
	sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
	sel.pcrSelections[0].sizeofSelect = 3;
	sel.pcrSelections[0].pcrSelect[0] = 0xff;
	for (unsigned i = 0; i < 8; i++) {
		uint8_t v[32];
		memset(v, (int)i, sizeof v);
		quote_pcrs_set(&s->pcrs, TPM2_ALG_SHA256, i, v, 32);
	}
	memset(s->qd, 0x42, sizeof s->qd);
	TPMS_ATTEST a;
	memset(&a, 0, sizeof a);
	a.magic = TPM2_GENERATED_VALUE;
	a.type = TPM2_ST_ATTEST_QUOTE;
	a.qualifiedSigner.size = 34;
	a.extraData.size = 32;
	memcpy(a.extraData.buffer, s->qd, 32);
	a.attested.quote.pcrSelect = sel;
	size_t dl = 0;
	if (quote_pcr_digest(&sel, &s->pcrs, TPM2_ALG_SHA256, a.attested.quote.pcrDigest.buffer,
	                     &dl) < 0)
		die("pcr digest");
	a.attested.quote.pcrDigest.size = (uint16_t)dl;
	size_t off = 0;
	if (Tss2_MU_TPMS_ATTEST_Marshal(&a, s->attest, sizeof s->attest, &off))
		die("marshal");
	s->attest_len = off;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	s->raw_sig_len = sizeof s->raw_sig;
	if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, s->key) != 1 ||
	    EVP_DigestSign(ctx, s->raw_sig, &s->raw_sig_len, s->attest, s->attest_len) != 1)
		die("sign");
	EVP_MD_CTX_free(ctx);
	TPMT_SIGNATURE sig;
	memset(&sig, 0, sizeof sig);
	if (ecc) {
		const uint8_t *q = s->raw_sig;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)s->raw_sig_len);
		sig.sigAlg = TPM2_ALG_ECDSA;
		sig.signature.ecdsa.hash = TPM2_ALG_SHA256;
		sig.signature.ecdsa.signatureR.size = sig.signature.ecdsa.signatureS.size = 32;
		BN_bn2binpad(ECDSA_SIG_get0_r(es), sig.signature.ecdsa.signatureR.buffer, 32);
		BN_bn2binpad(ECDSA_SIG_get0_s(es), sig.signature.ecdsa.signatureS.buffer, 32);
		ECDSA_SIG_free(es);
	} else {
		sig.sigAlg = TPM2_ALG_RSASSA;
		sig.signature.rsassa.hash = TPM2_ALG_SHA256;
		sig.signature.rsassa.sig.size = (uint16_t)s->raw_sig_len;
		memcpy(sig.signature.rsassa.sig.buffer, s->raw_sig, s->raw_sig_len);
	}
	off = 0;
	if (Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, s->sig, sizeof s->sig, &off))
		die("marshal sig");
	s->sig_len = off;
}

static double rate_ours(struct setup *s, EVP_PKEY *key, double secs)
{
	struct quote_reasons *rs = malloc(sizeof *rs);
	long n = 0;
	double t0 = now(), t;
	do {
		for (int i = 0; i < 64; i++) {
			rs->count = rs->dropped = 0;
			if (quote_verify(&s->ak, key, s->attest, s->attest_len, s->sig, s->sig_len,
			                 s->qd, sizeof s->qd, &s->pcrs, NULL, NULL, rs) != 0 ||
			    rs->count != 0)
				die("quote_verify (not verified)");
		}
		n += 64;
		t = now();
	} while (t - t0 < secs);
	free(rs);
	return (double)n / (t - t0);
}

/* quote_verify_ak: the AK prepared once (quote.h), as a host's memo keeps it. */
static double rate_prepared(struct setup *s, struct quote_ak *k, double secs)
{
	struct quote_reasons *rs = malloc(sizeof *rs);
	long n = 0;
	double t0 = now(), t;
	do {
		for (int i = 0; i < 64; i++) {
			rs->count = rs->dropped = 0;
			if (quote_verify_ak(k, s->attest, s->attest_len, s->sig, s->sig_len, s->qd,
			                    sizeof s->qd, &s->pcrs, NULL, NULL, rs) != 0 ||
			    rs->count != 0)
				die("quote_verify_ak (not verified)");
		}
		n += 64;
		t = now();
	} while (t - t0 < secs);
	free(rs);
	return (double)n / (t - t0);
}

static double rate_raw(struct setup *s, double secs)
{
	long n = 0;
	double t0 = now(), t;
	do {
		for (int i = 0; i < 64; i++) {
			EVP_MD_CTX *ctx = EVP_MD_CTX_new();
			if (!ctx ||
			    EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, s->key) != 1 ||
			    EVP_DigestVerify(ctx, s->raw_sig, s->raw_sig_len, s->attest,
			                     s->attest_len) != 1)
				die("raw verify");
			EVP_MD_CTX_free(ctx);
		}
		n += 64;
		t = now();
	} while (t - t0 < secs);
	return (double)n / (t - t0);
}

int main(int argc, char **argv)
{
	double secs = 2.0;
	if (argc > 1) {
		char *end = NULL;
		secs = strtod(argv[1], &end);
		if (!end || *end || secs <= 0 || secs > 600) {
			fprintf(stderr, "usage: bench_quote [SECONDS]\n");
			return 2;
		}
	}
	static const char *const names[] = {"RSA-2048 RSASSA-SHA256", "ECC P-256 ECDSA-SHA256"};
	int ok = 1;
	for (int ecc = 0; ecc < 2; ecc++) {
		struct setup s;
		make(&s, ecc);
		EVP_PKEY *cached = NULL;
		if (tpm_public_to_pkey(&s.ak, &cached) < 0)
			die("tpm_public_to_pkey");
		rate_ours(&s, NULL, secs / 4); /* warm up */
		double raw = rate_raw(&s, secs), ours = rate_ours(&s, NULL, secs);
		double cached_rate = rate_ours(&s, cached, secs);
		struct quote_ak *k = NULL;
		if (quote_ak_new(&s.ak, &k) < 0)
			die("quote_ak_new");
		double prepared = rate_prepared(&s, k, secs);
		double ratio = ours / raw;
		printf(
		    "quote verify %-24s attest quote_verify: %9.0f/s   openssl EVP_DigestVerify: "
		    "%9.0f/s   ratio %.2f (target >= 0.50)   with the AK key cached: %9.0f/s "
		    "(ratio %.2f)   with the AK prepared (quote_ak): %9.0f/s (ratio %.2f)\n",
		    names[ecc], ours, raw, ratio, cached_rate, cached_rate / raw, prepared,
		    prepared / raw);
		quote_ak_free(k);
		EVP_PKEY_free(cached);
		ok &= ratio >= 0.5;
		EVP_PKEY_free(s.key);
	}
	return ok ? 0 : 1;
}
