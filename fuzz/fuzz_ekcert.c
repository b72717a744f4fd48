/* Fuzz EK certificate parsing (DER with padding, or PEM) and SAN reading,
 * then chain verification against an empty store, and with the input's
 * two halves as the certificate and the chain a TPM offers from NV. */
#include <stddef.h>
#include <stdint.h>

#include "ekcert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	X509 *x = NULL;
	struct ekcert_info info;
	char msg[160];
	if (ekcert_parse(data, size, &x, &info, msg) == 0)
		X509_free(x);
	struct ekcert_store *s = NULL;
	if (ekcert_store_new(&s) == 0) {
		struct ekcert_result r;
		ekcert_verify(s, data, size, NULL, 1700000000, NULL, &r);
		struct ekcert_der chain[2] = {{data + size / 2, size - size / 2}, {data, size / 2}};
		ekcert_verify_chain(s, data, size / 2, chain, 2, NULL, 1700000000, NULL, &r);
		ekcert_store_add(s, data, size, NULL);
		ekcert_store_free(s);
	}
	return 0;
}
