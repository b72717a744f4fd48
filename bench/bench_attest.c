/* The verification core on one core: full attestations per second, as the
 * verifier runs them on a host's quote (verify_attestation(): quote
 * signature by the enrolled AK, nonce and metadata binding, PCR digest,
 * restart counters, the quoted PCRs against the event log's replay, content
 * checks, requirements and the default policy), next to OpenSSL's raw
 * signature verify (EVP_DigestVerifyInit + EVP_DigestVerify with a loaded
 * key) in the same run. The evidence bundle is already parsed (that is the
 * transport's share). Figures, each the median of ROUNDS interleaved
 * rounds (the machine is shared: interleaving spreads other load evenly):
 *
 *  steady    what the verifier does between two boots: the agent leaves the
 *            log out as unchanged (`eventlog_unchanged`, docs/protocol.md),
 *            the verifier names the digest it asked against, the host's memo
 *            (lib/verify_memo.h) stands for the log: the signature, the nonce
 *            binding and the PCR digest are checked and the quoted PCRs
 *            compared with the memoized replay on every quote; the
 *            conclusions of the content, requirement and policy checks are
 *            reused because every input they read is unchanged.
 *  log sent  the same with the log in the evidence, hashed on every quote
 *            (a verifier that asks for the log each time).
 *  P-256 AK  steady with an ECC P-256 AK (what attest-swarm's hosts make when asked for ECC).
 *  no memo   the whole pipeline: log parsed, replayed and checked each time.
 *
 * Usage: bench_attest EVENTLOG [SECONDS in all, default 8]
 * BENCH_ATTEST_PROFILE=steady|sent|p256|nomemo: run only that one for
 * SECONDS (for perf record / callgrind). */
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
#define ROUNDS 5

/* CPU time of this (single-threaded) process: the rates are per second of
 * one core's time, so that other work on a shared machine, which takes the
 * core away but not the work per attestation, moves them less. */
static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
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

/* One simulated host: its AK, its quote over the log's PCRs, its memo. */
struct host {
	EVP_PKEY *key;
	TPM2_ALG_ID scheme;
	struct bundle *b; /* the log sent */
	struct bundle *u; /* the same quote, log left out as unchanged */
	struct verify_memo *memo;
	uint8_t raw_sig[512]; /* DER/PKCS#1, for OpenSSL's own verify */
	size_t raw_sig_len;
	uint8_t attest[2048];
	size_t attest_len;
};

struct bench {
	struct policy *policy;
	uint8_t policy_digest[32];
	uint8_t nonce[32];
	uint8_t log_digest[32];
	uint16_t banks[1];
	uint8_t *log;
	size_t log_len;
	struct eventlog_pcrs *rep;
	struct host rsa, ecc;
};

/* A host whose TPM booted the log: its quote over the default policy's
 * PCRs, signed by a fresh AK (RSA-2048 RSASSA or P-256 ECDSA), bound to
 * the nonce and metadata. */
static void make_host(struct bench *s, struct host *h, EVP_PKEY *key, TPM2_ALG_ID scheme)
{
	memset(h, 0, sizeof *h);
	h->key = key;
	h->scheme = scheme;
	const struct eventlog_pcr_bank *r = eventlog_pcrs_bank(s->rep, TPM2_ALG_SHA256);
	uint32_t mask = POLICY_DEFAULT_SHA256_PCRS;
	struct bundle *b = calloc(1, sizeof *b);
	if (!b)
		die("out of memory");
	for (unsigned i = 0; i < 24; i++)
		if (mask & (1u << i))
			quote_pcrs_set(&b->pcrs, TPM2_ALG_SHA256, i, r->pcr[i], 32);
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
	h->attest_len = tb_attest(qd, sizeof qd, &sel, digest, h->attest, sizeof h->attest);
	size_t slen =
	    tb_sign(key, scheme, TPM2_ALG_SHA256, h->attest, h->attest_len, sig, sizeof sig);
	TPMT_PUBLIC ak;
	tb_public(key, TB_AK_ATTRS, scheme, &ak);
	size_t plen = tb_marshal_public(&ak, pub, sizeof pub);
	b->quote = dup_bytes(h->attest, h->attest_len);
	b->quote_len = h->attest_len;
	b->signature = dup_bytes(sig, slen);
	b->signature_len = slen;
	b->ak_public = dup_bytes(pub, plen);
	b->ak_public_len = plen;
	b->eventlog = s->log;
	b->eventlog_len = s->log_len;
	h->b = b;
	/* the same evidence as the agent sends it when the log is unchanged */
	struct bundle *u = calloc(1, sizeof *u);
	if (!u)
		die("out of memory");
	*u = *b;
	u->eventlog = NULL;
	u->eventlog_len = 0;
	u->eventlog_unchanged = true;
	h->u = u;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	h->raw_sig_len = sizeof h->raw_sig;
	if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(ctx, h->raw_sig, &h->raw_sig_len, h->attest, h->attest_len) != 1)
		die("sign");
	EVP_MD_CTX_free(ctx);
	if (verify_memo_new(&h->memo) < 0)
		die("out of memory");
}

static void host_free(struct host *h)
{
	verify_memo_free(h->memo);
	free(h->u);
	h->b->eventlog = NULL;
	bundle_free(h->b);
	EVP_PKEY_free(h->key);
}

enum mode { STEADY, SENT, NOMEMO, FIRST };

/* One attestation as appraise.c runs it: the caller hashes a log that
 * came (the digest keys the memo), or names the digest it asked against. */
static void attest_once(struct bench *s, struct host *h, enum mode mode)
{
	const struct bundle *b = mode == STEADY ? h->u : h->b;
	uint8_t d[32];
	const uint8_t *ld = NULL;
	if (mode == STEADY)
		ld = s->log_digest;
	else if (mode == SENT || mode == FIRST) {
		if (!EVP_Digest(b->eventlog, b->eventlog_len, d, NULL, EVP_sha256(), NULL))
			die("hash");
		ld = d;
	}
	struct verify_input in = {
	    .bundle = b,
	    .ak_public = b->ak_public,
	    .ak_public_len = b->ak_public_len,
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
	    .memo = mode == NOMEMO ? NULL : h->memo,
	    .policy_digest = s->policy_digest,
	    .eventlog_digest = ld,
	};
	struct verify_result *r = NULL;
	if (verify_attestation(&in, &r) < 0)
		die("verify_attestation failed");
	if (r->verdict != VERIFY_GREEN || (mode < NOMEMO && !r->memo_hit)) {
		for (size_t i = 0; i < r->reason_count; i++)
			fprintf(stderr, "  %s: %s\n", r->reasons[i].code, r->reasons[i].message);
		die(r->verdict != VERIFY_GREEN ? "the evidence did not come out green"
		                               : "the memo did not stand for the log");
	}
	verify_result_free(r);
}

static double rate_attest(struct bench *s, struct host *h, enum mode mode, double secs)
{
	long n = 0;
	double t0 = now(), t;
	do {
		for (int i = 0; i < 32; i++)
			attest_once(s, h, mode);
		n += 32;
		t = now();
	} while (t - t0 < secs);
	return (double)n / (t - t0);
}

static double rate_raw(struct host *h, double secs)
{
	long n = 0;
	double t0 = now(), t;
	do {
		for (int i = 0; i < 64; i++) {
			EVP_MD_CTX *ctx = EVP_MD_CTX_new();
			if (!ctx ||
			    EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, h->key) != 1 ||
			    EVP_DigestVerify(ctx, h->raw_sig, h->raw_sig_len, h->attest,
			                     h->attest_len) != 1)
				die("raw verify");
			EVP_MD_CTX_free(ctx);
		}
		n += 64;
		t = now();
	} while (t - t0 < secs);
	return (double)n / (t - t0);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void setup(struct bench *s, uint8_t *log, size_t len)
{
	memset(s, 0, sizeof *s);
	s->log = log;
	s->log_len = len;
	struct eventlog *el = NULL;
	s->rep = calloc(1, sizeof *s->rep);
	if (!s->rep || eventlog_parse(log, len, &el, NULL) < 0 || eventlog_replay(el, s->rep) < 0)
		die("the event log does not parse or replay");
	eventlog_free(el);
	const struct eventlog_pcr_bank *r = eventlog_pcrs_bank(s->rep, TPM2_ALG_SHA256);
	if (!r || r->size != 32)
		die("the event log has no SHA-256 bank");
	if (policy_default(&s->policy) < 0)
		die("policy_default");
	memset(s->policy_digest, 0xd, sizeof s->policy_digest);
	memset(s->nonce, 0x5a, sizeof s->nonce);
	s->banks[0] = TPM2_ALG_SHA256;
	if (!EVP_Digest(log, len, s->log_digest, NULL, EVP_sha256(), NULL))
		die("hash");
	make_host(s, &s->rsa, tb_rsa_key(), TPM2_ALG_RSASSA);
	make_host(s, &s->ecc, tb_ec_key("P-256"), TPM2_ALG_ECDSA);
	/* the first quote of the boot comes with the log and fills the memo */
	attest_once(s, &s->rsa, FIRST);
	attest_once(s, &s->ecc, FIRST);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: bench_attest EVENTLOG [SECONDS]\n");
		return 2;
	}
	double secs = 8.0;
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
	struct bench s;
	setup(&s, log, len);
	const char *prof = getenv("BENCH_ATTEST_PROFILE");
	if (prof) { /* one figure alone, for a profiler */
		struct host *h = !strcmp(prof, "p256") ? &s.ecc : &s.rsa;
		enum mode m = !strcmp(prof, "sent")     ? SENT
		              : !strcmp(prof, "nomemo") ? NOMEMO
		                                        : STEADY;
		printf("%s: %.0f/s\n", prof, rate_attest(&s, h, m, secs));
		return 0;
	}
	/* Seven figures per round, ROUNDS rounds: secs in all. */
	double slot = secs / ROUNDS / 7;
	double steady[ROUNDS], sent[ROUNDS], p256[ROUNDS], nomemo[ROUNDS], raw_rsa[ROUNDS],
	    raw_ec[ROUNDS], ratio[ROUNDS];
	rate_attest(&s, &s.rsa, STEADY, slot); /* warm up */
	for (int i = 0; i < ROUNDS; i++) {
		raw_rsa[i] = rate_raw(&s.rsa, slot);
		steady[i] = rate_attest(&s, &s.rsa, STEADY, 2 * slot);
		ratio[i] = steady[i] / raw_rsa[i];
		sent[i] = rate_attest(&s, &s.rsa, SENT, slot);
		raw_ec[i] = rate_raw(&s.ecc, slot);
		p256[i] = rate_attest(&s, &s.ecc, STEADY, slot);
		nomemo[i] = rate_attest(&s, &s.rsa, NOMEMO, slot);
	}
	double st = median(steady, ROUNDS), se = median(sent, ROUNDS), pe = median(p256, ROUNDS),
	       nm = median(nomemo, ROUNDS), rr = median(raw_rsa, ROUNDS),
	       re = median(raw_ec, ROUNDS), ra = median(ratio, ROUNDS);
	const char *base = strrchr(argv[1], '/');
	base = base ? base + 1 : argv[1];
	printf("the verification core: %.0f full attestations/s on one core (target >= %.0f: "
	       "%.2fx the goal; steady state as the verifier runs it: log left out as "
	       "unchanged and memoized, quote signature RSA-2048 + nonce + PCR digest + "
	       "replay compared + event-log checks + policy, %s %zu bytes)   "
	       "openssl RSA-2048 verify: %.0f/s   ratio %.2f\n",
	       st, TARGET, st / TARGET, base, len, rr, ra);
	printf("  the same with the log sent and hashed on every quote: %.0f/s (%.2fx the goal)\n",
	       se, se / TARGET);
	printf("  the same with an ECC P-256 AK: %.0f/s   openssl ECDSA P-256 verify: %.0f/s   "
	       "ratio %.2f\n",
	       pe, re, pe / re);
	printf("  without the memo (log parsed, replayed and checked every time): %.0f/s   "
	       "memo %zu bytes/host   (medians of %d interleaved rounds, %.1f CPU s in all)\n",
	       nm, verify_memo_bytes(s.rsa.memo), ROUNDS, secs);
	host_free(&s.rsa);
	host_free(&s.ecc);
	free(s.rep);
	free(log);
	policy_free(s.policy);
	return st >= TARGET ? 0 : 1;
}
