/* The hash algorithm table (see alg.h). */
#include "alg.h"

#include <string.h>

#include <tss2/tss2_tpm2_types.h>

static const struct alg_hash table[] = {
    {TPM2_ALG_SHA1, "sha1", "SHA1", 20, EVP_sha1, true},
    {TPM2_ALG_SHA256, "sha256", "SHA256", 32, EVP_sha256, true},
    {TPM2_ALG_SHA384, "sha384", "SHA384", 48, EVP_sha384, true},
    {TPM2_ALG_SHA512, "sha512", "SHA512", 64, EVP_sha512, true},
    /* In event logs only: read and named, replayed where a provider has it. */
    {TPM2_ALG_SM3_256, "sm3_256", "SM3", 32, NULL, false},
};

const struct alg_hash *alg_hash_by_id(uint16_t id)
{
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (table[i].id == id)
			return &table[i];
	return NULL;
}

const struct alg_hash *alg_bank_by_id(uint16_t id)
{
	const struct alg_hash *h = alg_hash_by_id(id);
	return h && h->bank ? h : NULL;
}

const struct alg_hash *alg_bank_by_name(const char *name, size_t n)
{
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (table[i].bank && strlen(table[i].name) == n &&
		    memcmp(table[i].name, name, n) == 0)
			return &table[i];
	return NULL;
}
