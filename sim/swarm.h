/* attest-swarm internals: thousands of emulated hosts in one process, each
 * serving the Agent API v1 (docs/protocol.md) over mutual TLS with software
 * keys. A bench and test tool only, never installed: see docs/simulator.md.
 *
 * Files: swarm_main.c (options, start, event loop), swarm_keys.c (the test
 * EK CAs and each host's EK, TLS identity and certificates, cached in
 * DIR/hosts.pem), swarm_api.c (the four Agent API routes), swarm_quote.c
 * (TPMS_ATTEST and its signature), swarm_rsa.c (RSA-2048 AKs from a pool of
 * primes: test keys that share factors), swarm_register.c (adding the hosts to a
 * verifier through its API), swarm_push.c (push mode: each host long-polls
 * the verifier instead of listening, as attest-agent --push does),
 * swarm_sign.c (quote signatures on worker threads, answered on the loop). */
#ifndef ATTEST_SWARM_H
#define ATTEST_SWARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "eventlog.h"
#include "https.h"
#include "tlsid.h"
#include "tpm.h"

#define SWARM_MAX_HOSTS        100000u
#define SWARM_MAX_TRUSTED      8u
#define SWARM_MAX_SIGN_THREADS 256u
#define SWARM_NAME_SIZE        32u
#define SWARM_ADDR_SIZE        64u
/* Marshalled TPM2B_PUBLIC of a P-256 or RSA-2048 key: well under this. */
#define SWARM_PUBLIC_MAX 512u

/* One emulated AK: a software key (RSA-2048 or P-256, as POST /v1/ak asked)
 * and its TPM2B_PUBLIC and Name. */
struct swarm_ak {
	EVP_PKEY *key; /* NULL: none */
	uint8_t pub[SWARM_PUBLIC_MAX];
	size_t pub_len;
	uint8_t name[TPM_NAME_MAX];
	size_t name_len;
};

struct swarm;

struct swarm_host {
	struct swarm *sw;
	unsigned index; /* 1-based */
	char name[SWARM_NAME_SIZE];
	char listen[SWARM_ADDR_SIZE];     /* "127.64.0.1:0" before bind, then the port */
	uint32_t addr;                    /* its IPv4 address, host order */
	EVP_PKEY *ek_key;                 /* the EK's private key (ECC P-256) */
	uint8_t ek_pub[SWARM_PUBLIC_MAX]; /* marshalled TPM2B_PUBLIC */
	size_t ek_pub_len;
	uint8_t *ek_cert; /* DER, malloc'd */
	size_t ek_cert_len;
	struct tlsid tls; /* the host's TLS key and self-signed certificate */
	struct swarm_ak ak, pending;
	uint32_t reset_count, restart_count;
	char boot_id[40];
	struct https_client *cli; /* push: the host's own client (its TLS identity) */
	struct event *retry;      /* push: the next poll after a failure */
	char answer_id[33];       /* push: the request answered with the next poll */
	int answer_status;
	char *answer_body; /* JSON text, or NULL: nothing to answer */
	bool carrying;     /* push: in swarm_serve (an answer then waits for on_poll's poll) */
	bool answered;     /* push: the request carried out has its answer */
	bool hello;        /* push: the next poll says hello (first, or after a failure) */
	bool tampered;     /* sends a log whose content disagrees with its digests */
	bool uncertified;  /* its EK certificate is issued by the untrusted CA */
};

#define SWARM_ANSWER_BUCKETS 1001

struct swarm {
	struct event_base *base;
	const char *dir;
	struct swarm_host *hosts; /* by address, ascending */
	unsigned n;
	/* Pull mode: the one listener of every host (a wildcard address on
	 * one port), which tells them apart by the local address a connection
	 * arrived on and presents that host's TLS identity. */
	struct https_server *srv;
	char trusted[SWARM_MAX_TRUSTED][TLSID_THUMBPRINT_SIZE];
	unsigned ntrusted;
	bool trust_first; /* pin the first verifier that asks for an identity */
	/* The event log every host booted, its base64, and the replayed PCRs. */
	uint8_t *log;
	size_t log_len;
	char *log_b64, *log_b64_tampered;
	/* their SHA-256: a quote request naming the host's log gets it left out,
	 * as the agent does (docs/protocol.md) */
	uint8_t log_sha256[32], log_sha256_tampered[32];
	struct eventlog_pcrs pcrs;
	char banks_json[64]; /* unused if empty */
	/* Test EK CAs: the one the verifier is told to trust, and another. */
	EVP_PKEY *ca_key, *rogue_key;
	X509 *ca_cert, *rogue_cert;
	/* Push mode (--push): the verifier's push listener and its pinned
	 * certificate; the hosts listen on nothing. */
	bool push;
	char push_host[SWARM_ADDR_SIZE];
	uint16_t push_port;
	char push_pin[TLSID_THUMBPRINT_SIZE];
	uint64_t polls, poll_failures;
	uint64_t start_ms;
	/* Counters, printed on SIGUSR1 and at exit. */
	uint64_t identities, aks, activations, activation_failures, quotes, refused;
	uint64_t sign_ns, sign_count; /* software signing time of quotes (CPU) */
	uint64_t sign_wall_ns;        /* the same signatures' wall time */
	uint64_t aks_rsa;             /* of aks: RSA-2048 (the others P-256) */
	/* How long each quote answered since the previous stats line was the
	 * swarm's: from its request read to its answer handed to the server
	 * (composing, waiting for a signing thread, signing, back on the
	 * loop), by whole milliseconds; the last bucket holds the rest. */
	uint32_t answer_ms[SWARM_ANSWER_BUCKETS];
	struct swarm_rsa_pool *rsa;  /* the primes RSA AKs are made of */
	struct swarm_signer *signer; /* NULL: quotes signed on the loop */
};

/* swarm_keys.c */
/* Load DIR/ca.pem + ca-key.pem and DIR/rogue-ca.pem + rogue-ca-key.pem,
 * creating them (ECC P-256, self-signed) if missing. */
int swarm_cas_load(struct swarm *sw);
/* Give every host its EK key and certificate and its TLS identity: loaded
 * from DIR/hosts.pem for the hosts it holds, created for the others (and
 * the file rewritten). Uncertified hosts get an EK certificate from the
 * rogue CA, made at every start. */
int swarm_hosts_keys(struct swarm *sw);
/* A new software P-256 key. NULL on failure. */
EVP_PKEY *swarm_p256(void);
/* The TPMT_PUBLIC of key (P-256, or RSA-2048 with e = 65537) with the
 * template's type, attributes and scheme, its unique field the key's public
 * point or modulus, marshalled as a TPM2B_PUBLIC into out. ATTEST_E_ARG if
 * the key is not of the template's type. */
int swarm_key_public(EVP_PKEY *key, const TPMT_PUBLIC *tmpl, uint8_t *out, size_t cap,
                     size_t *ret_len, TPMT_PUBLIC *ret_public);
void swarm_hosts_free(struct swarm *sw);

/* swarm_rsa.c: RSA-2048 AKs made in microseconds from a pool of 1024-bit
 * primes, each from a pair of primes no other AK used. TEST KEYS ONLY:
 * their moduli share factors (one gcd factors two of them). */
struct swarm_rsa_pool;
/* The smallest number of primes whose pairs give keys distinct moduli. */
unsigned swarm_rsa_primes_for(uint64_t keys);
/* A pool with primes for keys AKs (0: none yet), made on every core with
 * progress logged. 0 or an ATTEST_E_* code. */
int swarm_rsa_pool_new(uint64_t keys, struct swarm_rsa_pool **ret);
void swarm_rsa_pool_free(struct swarm_rsa_pool *pool);
unsigned swarm_rsa_pool_primes(const struct swarm_rsa_pool *pool);
/* The next AK: a new modulus (a prime is added, on this thread, when the
 * pairs are used up) that signs what its public part verifies (the first
 * of a pool also passes OpenSSL's full key check). NULL on failure;
 * the caller frees it. */
EVP_PKEY *swarm_rsa_ak(struct swarm_rsa_pool *pool);

/* swarm_api.c: serve the Agent API of every host from one listener on
 * port (0: a free one), each host on its own address. */
int swarm_listen(struct swarm *sw, unsigned port);
/* One Agent API call, whichever carrier brings it: pull (req set: answered
 * on it) or push (req NULL: the answer goes to swarm_push_answer). It may be
 * answered after swarm_serve returns (a quote signed on a worker thread),
 * so the answer must not need body or the caller's stack. */
struct swarm_req {
	struct https_request *req;
	const uint8_t *body;
	size_t len;
};
void swarm_serve(struct swarm_host *h, const char *method, const char *path, struct swarm_req *q);

/* swarm_push.c: start host h's long poll to sw->push_host:push_port (its own
 * client certificate, the verifier's pinned). 0 or an ATTEST_E_* code. */
int swarm_host_push(struct swarm_host *h);
void swarm_host_push_free(struct swarm_host *h);
/* The answer (status, JSON: the reference taken) of the request h carries
 * out, posted with its next poll; if it comes after swarm_serve returned,
 * that poll starts now. */
void swarm_push_answer(struct swarm_host *h, int status, json_t *answer);

/* swarm_quote.c: the TPMS_ATTEST of a quote by h's current AK over sel
 * (PCR values from the replayed log) with qualifying data qd, marshalled into
 * out (cap bytes), and the values quoted as JSON. ATTEST_E_NOTFOUND for a
 * bank this "TPM" does not have. */
struct pcrsel;
int swarm_quote_attest(struct swarm_host *h, const struct pcrsel *sel, const uint8_t qd[32],
                       uint8_t *out, size_t cap, size_t *ret_len, json_t **ret_pcrs);
/* msg signed with key in its scheme (RSASSA or ECDSA, SHA-256), as a
 * marshalled TPMT_SIGNATURE into out. Safe on any thread: it uses only its
 * own contexts. 0 or ATTEST_E_CRYPTO / ATTEST_E_FORMAT. */
int swarm_quote_sign(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t *out, size_t cap,
                     size_t *ret_len);

/* swarm_sign.c: quote signatures on worker threads. A job is the caller's
 * (who frees it in done): key, attest and done set, the rest filled in. */
struct swarm_sign_job {
	struct swarm_sign_job *next;
	EVP_PKEY *key; /* a reference the job owns (freed before done) */
	uint8_t attest[sizeof(TPMS_ATTEST)];
	size_t attest_len;
	uint8_t sig[sizeof(TPMT_SIGNATURE)]; /* out: marshalled TPMT_SIGNATURE */
	size_t sig_len;
	int rc;                /* out: swarm_quote_sign's */
	uint64_t sign_ns;      /* out: the signature's own time (its thread's CPU time) */
	uint64_t sign_wall_ns; /* out: and its wall time */
	/* On the loop, once: the signature is made (cancelled false), or the
	 * swarm stops first (cancelled true: free the job, answer nothing). */
	void (*done)(struct swarm_sign_job *j, bool cancelled);
};
struct swarm_signer;
/* threads workers (0: none, *ret NULL: jobs are signed at once, on the
 * loop), woken jobs answered on sw->base. 0 or an ATTEST_E_* code. */
int swarm_signer_new(struct swarm *sw, unsigned threads, struct swarm_signer **ret);
/* Sign j on sw->signer's workers (done called later, on the loop) or, with
 * none, now (done called before this returns). Counts sign_ns and quotes
 * signed in sw. */
void swarm_sign_submit(struct swarm *sw, struct swarm_sign_job *j);
/* Stop and join the workers; jobs not yet answered get done(j, true).
 * NULL accepted. */
void swarm_signer_free(struct swarm_signer *s);

/* swarm_register.c: start adding every host to the verifier at url
 * (https://HOST:PORT) with POST /api/v1/hosts on sw->base, parallel
 * requests in flight, the admin token as bearer, the verifier's TLS
 * certificate pinned on pin, "interval_s" if not 0. A host whose name is
 * taken counts as added. When done, prints "registered N failed M" on
 * stdout. 0 if started, ATTEST_E_ARG for a bad url. */
int swarm_register(struct swarm *sw, const char *url, const char *token, const char *pin,
                   unsigned interval_s, unsigned parallel);

/* "https://HOST:PORT" (no path) into host (cap bytes) and port.
 * ATTEST_E_FORMAT otherwise. */
int swarm_parse_url(const char *url, char *host, size_t cap, uint16_t *ret_port);

/* swarm_main.c */
uint64_t swarm_now_ns(void);

#endif
