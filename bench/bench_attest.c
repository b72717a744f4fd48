/* The verification core on one core: full attestations per second, as the
 * verifier runs them on a host's quote (verify_attestation(): quote
 * signature by an RSA-2048 AK, nonce and metadata binding, PCR digest,
 * restart counters, event log replay against the quoted PCRs, content
 * checks, requirements and the default policy), with the host's memo
 * (lib/verify_memo.h: the log unchanged since the last quote costs one hash
 * and a comparison of the quoted PCRs with its memoized replay), next to
 * OpenSSL's raw RSA-2048 verify (EVP_DigestVerify with a loaded key) in the
 * same run, and the rate without the memo. The evidence bundle is already
 * parsed (that is the transport's share).
 *
 * Usage: bench_attest EVENTLOG [SECONDS per measurement, default 2] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tests/unit/tpm_build.h"
#include "bundle.h"
#include "err.h"
#include "eventlog.h"
#include "evidence.h"
#include "policy.h"
#include "quote.h"
#include "verify.h"
#include "verify_memo.h"

#define TARGET 20000.0

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_attest: %s\n", what);
	exit(1);
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	uint8_t *buf = malloc(1u << 20);
	size_t n = buf ? fread(buf, 1, 1u << 20, f) : 0;
	fclose(f);
	*len = n;
	return buf;
}

static uint8_t *dup_bytes(const void *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);
	if (!d)
		die("out of memory");
	memcpy(d, p, n);
	return d;
}

struct setup {
	EVP_PKEY *key;
	struct bundle *b;
	struct policy *policy;
	uint8_t policy_digest[32];
	uint8_t nonce[32];
	uint16_t banks[1];
	uint8_t raw_sig[512];
	size_t raw_sig_len;
	uint8_t attest[2048];
	size_t attest_len;
};

/* A host whose TPM booted the log: its quote over the default policy's
 * PCRs, signed by a fresh RSA-2048 AK, bound to a nonce and metadata. */
static void make(struct setup *s, uint8_t *log, size_t log_len)
{
	memset(s, 0, sizeof *s);
	s->key = tb_rsa_key();
	struct eventlog *el = NULL;
	struct eventlog_pcrs *rep = calloc(1, sizeof *rep);
	if (!rep || eventlog_parse(log, log_len, &el, NULL) < 0 || eventlog_replay(el, rep) < 0)
		die("the event log does not parse or replay");
	const struct eventlog_pcr_bank *r = eventlog_pcrs_bank(rep, TPM2_ALG_SHA256);
	if (!r || r->size != 32)
		die("the event log has no SHA-256 bank");
	if (policy_default(&s->policy) < 0)
		die("policy_default");
	memset(s->policy_digest, 0xd, sizeof s->policy_digest);
	uint32_t mask = POLICY_DEFAULT_SHA256_PCRS;
	struct bundle *b = calloc(1, sizeof *b);
	if (!b)
		die("out of memory");
	for (unsigned i = 0; i < 24; i++)
		if (mask & (1u << i))
			quote_pcrs_set(&b->pcrs, TPM2_ALG_SHA256, i, r->pcr[i], 32);
	memset(s->nonce, 0x5a, sizeof s->nonce);
	memcpy(b->nonce, s->nonce, sizeof s->nonce);
	b->nonce_len = sizeof s->nonce;
	b->metadata = json_pack("{s:s,s:s,s:s,s:s,s:s}", "hostname", "web-01", "os_release",
	                        "Debian GNU/Linux 12", "kernel", "6.1.0-13-amd64", "boot_id",
	                        "6c1f3a52-0000-4000-8000-000000000001", "agent_version", "1.0.0");
	if (evidence_metadata_canonical(b->metadata, &b->metadata_canonical) < 0)
		die("metadata");
	uint8_t qd[32];
	if (evidence_qualifying_data(s->nonce, sizeof s->nonce,
	                             (const uint8_t *)b->metadata_canonical,
	                             strlen(b->metadata_canonical), qd) < 0)
		die("qualifying data");
	TPML_PCR_SELECTION sel;
	tb_sel(mask, &sel);
	uint8_t digest[QUOTE_MAX_DIGEST];
	size_t dl = 0;
	if (quote_pcr_digest(&sel, &b->pcrs, TPM2_ALG_SHA256, digest, &dl) < 0)
		die("PCR digest");
	uint8_t sig[1024], pub[1024];
	s->attest_len = tb_attest(qd, sizeof qd, &sel, digest, s->attest, sizeof s->attest);
	size_t slen = tb_sign(s->key, TPM2_ALG_RSASSA, TPM2_ALG_SHA256, s->attest, s->attest_len,
	                      sig, sizeof sig);
	TPMT_PUBLIC ak;
	tb_public(s->key, TB_AK_ATTRS, TPM2_ALG_RSASSA, &ak);
	size_t plen = tb_marshal_public(&ak, pub, sizeof pub);
	b->quote = dup_bytes(s->attest, s->attest_len);
	b->quote_len = s->attest_len;
	b->signature = dup_bytes(sig, slen);
	b->signature_len = slen;
	b->ak_public = dup_bytes(pub, plen);
	b->ak_public_len = plen;
	b->eventlog = log;
	b->eventlog_len = log_len;
	s->b = b;
	s->banks[0] = TPM2_ALG_SHA256;
	/* the raw signature for OpenSSL's own verify */
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	s->raw_sig_len = sizeof s->raw_sig;
	if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, s->key) != 1 ||
	    EVP_DigestSign(ctx, s->raw_sig, &s->raw_sig_len, s->attest, s->attest_len) != 1)
		die("sign");
	EVP_MD_CTX_free(ctx);
	eventlog_free(el);
	free(rep);
}

static void attest_once(struct setup *s, struct verify_memo *m)
{
	struct verify_input in = {
	    .bundle = s->b,
	    .ak_public = s->b->ak_public,
	    .ak_public_len = s->b->ak_public_len,
	    .nonce = s->nonce,
	    .nonce_len = sizeof s->nonce,
	    .previous = {.have_clock = true,
	                 .reset_count = 7,
	                 .restart_count = 2,
	                 .boot_id = "6c1f3a52-0000-4000-8000-000000000001"},
	    .host = {.tpm_interface = "tis",
	             .banks = s->banks,
	             .bank_count = 1,
	             .agent_version = "1.0.0",
	             .ek_certified = true},
	    .policy = s->policy,
	    .memo = m,
	    .policy_digest = s->policy_digest,
	};
	struct verify_result *r = NULL;
	if (verify_attestation(&in, &r) < 0)
		die("verify_attestation failed");
	if (r->verdict != VERIFY_GREEN) {
		for (size_t i = 0; i < r->reason_count; i++)
			fprintf(stderr, "  %s: %s\n", r->reasons[i].code, r->reasons[i].message);
		die("the evidence did not come out green");
	}
	verify_result_free(r);
}

static double rate_attest(struct setup *s, struct verify_memo *m, double secs)
{
	long n = 0;
	double t0 = now(), t;
	do {
		for (int i = 0; i < 32; i++)
			attest_once(s, m);
		n += 32;
		t = now();
	} while (t - t0 < secs);
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
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: bench_attest EVENTLOG [SECONDS]\n");
		return 2;
	}
	double secs = 2.0;
	if (argc > 2) {
		char *end = NULL;
		secs = strtod(argv[2], &end);
		if (!end || *end || secs <= 0 || secs > 600) {
			fprintf(stderr, "usage: bench_attest EVENTLOG [SECONDS]\n");
			return 2;
		}
	}
	size_t len = 0;
	uint8_t *log = read_file(argv[1], &len);
	if (!log || len == 0)
		die("cannot read the event log");
	struct setup s;
	make(&s, log, len);
	struct verify_memo *m = NULL;
	if (verify_memo_new(&m) < 0)
		die("out of memory");
	attest_once(&s, m);                   /* the first quote of the boot fills the memo */
	if (getenv("BENCH_ATTEST_PROFILE")) { /* a fixed count, for callgrind */
		for (int i = 0; i < 2000; i++)
			attest_once(&s, m);
		return 0;
	}
	rate_attest(&s, m, secs / 4);
	double raw = rate_raw(&s, secs);
	double memo = rate_attest(&s, m, secs);
	double whole = rate_attest(&s, NULL, secs);
	const char *base = strrchr(argv[1], '/');
	printf("the verification core: %.0f full attestations/s on one core (target >= %.0f; "
	       "quote signature RSA-2048 + nonce + PCR digest + event-log checks + policy, "
	       "log memoized, %s %zu bytes)   openssl RSA-2048 verify: %.0f/s   ratio %.2f   "
	       "without the memo: %.0f/s   memo %zu bytes/host\n",
	       memo, TARGET, base ? base + 1 : argv[1], len, raw, memo / raw, whole,
	       verify_memo_bytes(m));
	verify_memo_free(m);
	s.b->eventlog = NULL;
	bundle_free(s.b);
	free(log);
	policy_free(s.policy);
	EVP_PKEY_free(s.key);
	return memo >= TARGET ? 0 : 1;
}
