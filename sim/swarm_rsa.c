/* RSA-2048 AKs for the swarm, made fast by a pool of primes.
 *
 * A real agent's default AK is RSA-2048 (agent/request.c, tpmdev's AK
 * template), and a TPM makes it in hundreds of milliseconds; so does
 * OpenSSL here (about 330 ms), which is an hour for 10,000 hosts. The
 * verifier only ever sees an AK's public part (n, e) and checks signatures
 * with it, so its cost per quote is that of any RSA-2048 key. The swarm
 * therefore draws K 1024-bit primes once (at start, on every core) and makes
 * each AK from a pair of them that no other AK used: n = p*q, e = 65537, d
 * and the CRT parts, which takes microseconds. K primes give K(K-1)/2
 * distinct moduli; when they are used up, one more prime gives K more.
 *
 * THESE KEYS ARE NOT SAFE: every modulus shares a factor with K - 1 others,
 * so anyone holding two of them factors both with one gcd. That is fine
 * for a bench and test tool whose keys are software anyway (attest-swarm
 * refuses to start without --accept-software-keys), and must never be done
 * anywhere else. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include "err.h"
#include "log.h"
#include "swarm.h"

#define PRIME_BITS 1024
#define RSA_E      65537u

struct swarm_rsa_pool {
	BIGNUM **primes;
	unsigned count, cap;
	unsigned next_i, next_j; /* the next pair: primes[i] x primes[j], j < i */
	uint64_t made;           /* keys made */
};

/* The smallest K with K(K-1)/2 >= keys (at least 2). */
unsigned swarm_rsa_primes_for(uint64_t keys)
{
	unsigned k = 2;
	while ((uint64_t)k * (k - 1) / 2 < keys)
		k++;
	return k;
}

/* One 1024-bit prime p with gcd(p - 1, e) = 1 (so that e is invertible
 * mod p - 1), its top two bits set (BN_generate_prime_ex2 sets them, so a
 * product of two is 2048 bits). NULL on failure. */
static BIGNUM *new_prime(BN_CTX *ctx)
{
	BIGNUM *p = BN_secure_new(), *pm1 = BN_new(), *e = BN_new(), *g = BN_new();
	BIGNUM *ret = NULL;
	if (!p || !pm1 || !e || !g || !BN_set_word(e, RSA_E))
		goto out;
	for (int tries = 0; tries < 16 && !ret; tries++) {
		if (!BN_generate_prime_ex2(p, PRIME_BITS, 0, NULL, NULL, NULL, ctx) ||
		    !BN_sub(pm1, p, BN_value_one()) || !BN_gcd(g, pm1, e, ctx))
			goto out;
		if (BN_is_one(g)) {
			ret = p;
			p = NULL;
		}
	}
out:
	BN_clear_free(p);
	BN_clear_free(pm1);
	BN_free(e);
	BN_free(g);
	return ret;
}

struct fill {
	struct swarm_rsa_pool *pool;
	unsigned want;
	pthread_mutex_t lock;
	unsigned taken, done;
	uint64_t t0;
	int rc;
};

static void *fill_thread(void *arg)
{
	struct fill *f = arg;
	BN_CTX *ctx = BN_CTX_new();
	for (;;) {
		pthread_mutex_lock(&f->lock);
		bool go = f->rc == 0 && f->taken < f->want && ctx;
		unsigned slot = f->taken;
		if (go)
			f->taken++;
		else if (!ctx)
			f->rc = ATTEST_E_NOMEM;
		pthread_mutex_unlock(&f->lock);
		if (!go)
			break;
		BIGNUM *p = new_prime(ctx);
		pthread_mutex_lock(&f->lock);
		if (!p) {
			f->rc = ATTEST_E_CRYPTO;
		} else {
			f->pool->primes[f->pool->count + slot] = p;
			f->done++;
			/* progress at every tenth, and the last */
			if (f->want >= 20 && (f->done % (f->want / 10) == 0 || f->done == f->want))
				log_notice("RSA AK primes: %u/%u (%.1f s)", f->done, f->want,
				           (double)(swarm_now_ns() - f->t0) / 1e9);
		}
		pthread_mutex_unlock(&f->lock);
	}
	BN_CTX_free(ctx);
	return NULL;
}

/* Add n primes to the pool, made on threads threads. */
static int pool_grow(struct swarm_rsa_pool *pool, unsigned n, unsigned threads)
{
	if (n == 0)
		return 0;
	if (n > UINT32_MAX / 2 - pool->count)
		return ATTEST_E_LIMIT;
	if (pool->count + n > pool->cap) {
		unsigned cap = pool->count + n + (pool->count + n) / 2;
		BIGNUM **np = realloc(pool->primes, (size_t)cap * sizeof *np);
		if (!np)
			return ATTEST_E_NOMEM;
		pool->primes = np;
		pool->cap = cap;
	}
	for (unsigned i = 0; i < n; i++)
		pool->primes[pool->count + i] = NULL;
	struct fill f = {.pool = pool, .want = n, .t0 = swarm_now_ns()};
	pthread_mutex_init(&f.lock, NULL);
	if (threads > n)
		threads = n;
	pthread_t th[64];
	unsigned started = 0;
	for (unsigned i = 1; i < threads && i < 64; i++)
		if (pthread_create(&th[started], NULL, fill_thread, &f) == 0)
			started++;
	fill_thread(&f); /* this thread too */
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&f.lock);
	if (f.rc) {
		for (unsigned i = 0; i < n; i++) {
			BN_clear_free(pool->primes[pool->count + i]);
			pool->primes[pool->count + i] = NULL;
		}
		ERR_clear_error();
		return f.rc;
	}
	pool->count += n;
	return 0;
}

int swarm_rsa_pool_new(uint64_t keys, struct swarm_rsa_pool **ret)
{
	struct swarm_rsa_pool *pool = calloc(1, sizeof *pool);
	if (!pool)
		return ATTEST_E_NOMEM;
	pool->next_i = 1;
	if (keys > 0) {
		long nc = sysconf(_SC_NPROCESSORS_ONLN);
		unsigned k = swarm_rsa_primes_for(keys);
		uint64_t t0 = swarm_now_ns();
		log_notice("making %u 1024-bit primes for %llu distinct RSA-2048 AKs on %ld "
		           "threads (test keys: they share factors)",
		           k, (unsigned long long)keys, nc > 0 ? nc : 1);
		int rc = pool_grow(pool, k, nc > 0 ? (unsigned)nc : 1u);
		if (rc) {
			swarm_rsa_pool_free(pool);
			return rc;
		}
		log_notice("%u RSA AK primes ready in %.1f s (%llu distinct AKs)", k,
		           (double)(swarm_now_ns() - t0) / 1e9,
		           (unsigned long long)((uint64_t)k * (k - 1) / 2));
	}
	*ret = pool;
	return 0;
}

void swarm_rsa_pool_free(struct swarm_rsa_pool *pool)
{
	if (!pool)
		return;
	for (unsigned i = 0; i < pool->count; i++)
		BN_clear_free(pool->primes[i]);
	free(pool->primes);
	free(pool);
}

unsigned swarm_rsa_pool_primes(const struct swarm_rsa_pool *pool)
{
	return pool ? pool->count : 0;
}

/* Does key sign (RSASSA-PKCS1-v1_5, SHA-256, with d and the CRT parts) what
 * its public part (n, e) verifies? With full, OpenSSL's whole check too
 * (EVP_PKEY_pairwise_check: n = pq, both prime, d*e = 1 mod lcm, the CRT
 * parts), which costs tens of milliseconds (two primality tests): done
 * once per pool, while the signature costs about 1 ms. */
static int self_test(EVP_PKEY *key, bool full)
{
	static const uint8_t msg[] = "attest-swarm RSA AK self-test";
	uint8_t sig[PRIME_BITS / 4];
	size_t sl = sizeof sig;
	int ok = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_PKEY_CTX *kc = full ? EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL) : NULL;
	if (c && (!full || (kc && EVP_PKEY_pairwise_check(kc) == 1)) &&
	    EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, key) == 1 &&
	    EVP_DigestSign(c, sig, &sl, msg, sizeof msg) == 1 && EVP_MD_CTX_reset(c) == 1 &&
	    EVP_DigestVerifyInit(c, NULL, EVP_sha256(), NULL, key) == 1)
		ok = EVP_DigestVerify(c, sig, sl, msg, sizeof msg) == 1;
	EVP_PKEY_CTX_free(kc);
	EVP_MD_CTX_free(c);
	ERR_clear_error();
	return ok ? 0 : ATTEST_E_CRYPTO;
}

/* The private key of modulus p*q: d = e^-1 mod lcm(p-1, q-1) and the CRT
 * parts, as an EVP_PKEY (OpenSSL's provider format). */
static EVP_PKEY *key_from(const BIGNUM *p, const BIGNUM *q, bool full_check, BN_CTX *ctx)
{
	EVP_PKEY *key = NULL;
	EVP_PKEY_CTX *kc = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	BN_CTX_start(ctx);
	BIGNUM *n = BN_CTX_get(ctx), *e = BN_CTX_get(ctx), *d = BN_CTX_get(ctx);
	BIGNUM *p1 = BN_CTX_get(ctx), *q1 = BN_CTX_get(ctx), *g = BN_CTX_get(ctx);
	BIGNUM *l = BN_CTX_get(ctx), *dp = BN_CTX_get(ctx), *dq = BN_CTX_get(ctx);
	BIGNUM *qi = BN_CTX_get(ctx);
	/* p > q, as OpenSSL orders the factors (qi = q^-1 mod p either way) */
	if (BN_cmp(p, q) < 0) {
		const BIGNUM *t = p;
		p = q;
		q = t;
	}
	if (!qi || !BN_mul(n, p, q, ctx) || BN_num_bits(n) != 2 * PRIME_BITS ||
	    !BN_set_word(e, RSA_E) || !BN_sub(p1, p, BN_value_one()) ||
	    !BN_sub(q1, q, BN_value_one()) || !BN_gcd(g, p1, q1, ctx) || !BN_mul(l, p1, q1, ctx) ||
	    !BN_div(l, NULL, l, g, ctx) || !BN_mod_inverse(d, e, l, ctx) ||
	    !BN_mod(dp, d, p1, ctx) || !BN_mod(dq, d, q1, ctx) || !BN_mod_inverse(qi, q, p, ctx))
		goto out;
	bld = OSSL_PARAM_BLD_new();
	if (!bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, p) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, q) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, qi) ||
	    !(params = OSSL_PARAM_BLD_to_param(bld)))
		goto out;
	kc = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (!kc || EVP_PKEY_fromdata_init(kc) != 1 ||
	    EVP_PKEY_fromdata(kc, &key, EVP_PKEY_KEYPAIR, params) != 1)
		goto out;
	if (self_test(key, full_check) != 0) {
		log_error("an RSA AK made from the prime pool fails its self-test");
		EVP_PKEY_free(key);
		key = NULL;
	}
out:
	EVP_PKEY_CTX_free(kc);
	/* holds copies of d and the primes: secure BIGNUMs, so their copies are
	 * cleared when freed */
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_CTX_end(ctx); /* clears what it handed out */
	ERR_clear_error();
	return key;
}

EVP_PKEY *swarm_rsa_ak(struct swarm_rsa_pool *pool)
{
	/* Pairs in order (1,0), (2,0), (2,1), (3,0), ...: a new prime adds
	 * pairs without reusing one. Out of pairs: one more prime (on this
	 * thread, as long as a real key takes to make). */
	if (pool->next_i >= pool->count) {
		unsigned add = pool->count < 2 ? 2 - pool->count : 1;
		log_notice("RSA AK pool used up (%llu AKs): adding %u prime(s)",
		           (unsigned long long)pool->made, add);
		if (pool_grow(pool, add, 1) != 0)
			return NULL;
		if (pool->next_i >= pool->count)
			return NULL;
	}
	BN_CTX *ctx = BN_CTX_secure_new();
	EVP_PKEY *key = ctx ? key_from(pool->primes[pool->next_i], pool->primes[pool->next_j],
	                               pool->made == 0, ctx)
	                    : NULL;
	BN_CTX_free(ctx);
	/* Moved on even on failure, so a bad pair is never tried twice. */
	if (++pool->next_j == pool->next_i) {
		pool->next_i++;
		pool->next_j = 0;
	}
	if (key)
		pool->made++;
	return key;
}
