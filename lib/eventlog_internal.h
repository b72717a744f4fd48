/* Private to the eventlog module (not a public contract). */
#ifndef ATTEST_EVENTLOG_INTERNAL_H
#define ATTEST_EVENTLOG_INTERNAL_H

#include <stdint.h>

#include <openssl/evp.h>

/* The EVP digest for a bank, or NULL if OpenSSL cannot compute it or the
 * declared size is not the algorithm's. Caller frees with EVP_MD_free. */
EVP_MD *eventlog_fetch_md(uint16_t alg, uint16_t size);

#endif
