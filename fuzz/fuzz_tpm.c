/* Fuzz the TPM structure decoders. The first byte picks the decoder
 * (0: TPM2B_PUBLIC, then Name and key conversion; 1: TPMS_ATTEST;
 * 2: TPMT_SIGNATURE); the rest is the input. */
#include <stddef.h>
#include <stdint.h>

#include "tpm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const uint8_t *in = data + 1;
	size_t len = size - 1;
	struct diag err;
	switch (data[0] % 3) {
	case 0: {
		TPMT_PUBLIC p;
		if (tpm_public_decode(in, len, &p, &err) == 0) {
			uint8_t name[TPM_NAME_MAX];
			size_t n;
			tpm_public_name(&p, name, &n);
			EVP_PKEY *k = NULL;
			if (tpm_public_to_pkey(&p, &k) == 0)
				EVP_PKEY_free(k);
		}
		break;
	}
	case 1: {
		static TPMS_ATTEST a;
		tpm_attest_decode(in, len, &a, &err);
		break;
	}
	default: {
		TPMT_SIGNATURE s;
		tpm_signature_decode(in, len, &s, &err);
		break;
	}
	}
	return 0;
}
