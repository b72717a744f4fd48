/* The hash algorithms attest knows, in one table: TPM algorithm id, the
 * name used in policies, bundles, PCR selections and messages, OpenSSL's
 * name, the digest size and OpenSSL's digest. Every id <-> name <-> size
 * <-> EVP_MD question in lib/, agent/, sim/ is answered here. */
#ifndef ATTEST_ALG_H
#define ATTEST_ALG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

struct alg_hash {
	uint16_t id;               /* TPM_ALG_ID (TCG Algorithm Registry) */
	const char *name;          /* "sha256" */
	const char *evp_name;      /* OpenSSL's name for EVP_MD_fetch, "SHA256" */
	size_t size;               /* digest bytes */
	const EVP_MD *(*md)(void); /* OpenSSL's built-in digest; NULL: fetch by
	                            * evp_name (SM3 needs a provider) */
	bool bank;                 /* a PCR bank attest quotes and checks:
	                            * sha1, sha256, sha384, sha512 */
};

/* The entry for a TPM algorithm id, or NULL for an algorithm not in the
 * table (not a hash, or one attest does not know). */
const struct alg_hash *alg_hash_by_id(uint16_t id);

/* The PCR bank named by the n bytes at name ("sha1", "sha256", "sha384",
 * "sha512"; exact, lowercase), or NULL. */
const struct alg_hash *alg_bank_by_name(const char *name, size_t n);

/* The bank's entry for id (bank entries only), or NULL. */
const struct alg_hash *alg_bank_by_id(uint16_t id);

#endif
