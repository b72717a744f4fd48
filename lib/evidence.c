#include "evidence.h"

#include <openssl/evp.h>
#include <string.h>

#include "err.h"

int evidence_qualifying_data_md(const EVP_MD *sha256, const uint8_t *nonce, size_t nonce_len,
                                const uint8_t *metadata, size_t metadata_len,
                                uint8_t out[static EVIDENCE_QUALIFYING_SIZE])
{
	if (!nonce || nonce_len < EVIDENCE_NONCE_MIN || nonce_len > EVIDENCE_NONCE_MAX)
		return ATTEST_E_ARG;
	const EVP_MD *md = sha256 ? sha256 : EVP_sha256();
	uint8_t meta_hash[32];
	unsigned int n = 0;
	if (!EVP_Digest(metadata ? metadata : (const uint8_t *)"", metadata_len, meta_hash, &n, md,
	                NULL))
		return ATTEST_E_CRYPTO;
	int rc = ATTEST_E_CRYPTO;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (ctx && EVP_DigestInit_ex2(ctx, md, NULL) && EVP_DigestUpdate(ctx, nonce, nonce_len) &&
	    EVP_DigestUpdate(ctx, meta_hash, sizeof meta_hash) && EVP_DigestFinal_ex(ctx, out, &n))
		rc = 0;
	EVP_MD_CTX_free(ctx);
	return rc;
}

int evidence_qualifying_data(const uint8_t *nonce, size_t nonce_len, const uint8_t *metadata,
                             size_t metadata_len, uint8_t out[static EVIDENCE_QUALIFYING_SIZE])
{
	return evidence_qualifying_data_md(NULL, nonce, nonce_len, metadata, metadata_len, out);
}

int evidence_metadata_canonical(const json_t *meta, char **ret)
{
	if (!json_is_object(meta))
		return ATTEST_E_FORMAT;
	char *s = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	if (!s)
		return ATTEST_E_NOMEM;
	*ret = s;
	return 0;
}
