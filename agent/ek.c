/* Which EK a host has: the one its EK certificate describes. */
#include <stdlib.h>

#include "agent.h"
#include "err.h"

int agent_ek_setup(struct agent_tpm *t, int kind, uint8_t **ret_cert, size_t *ret_cert_len,
                   enum agent_tpm_ek_kind *ret_kind)
{
	static const enum agent_tpm_ek_kind order[] = {
	    AGENT_TPM_EK_RSA2048, AGENT_TPM_EK_ECC_P256, AGENT_TPM_EK_ECC_P384_H,
	    AGENT_TPM_EK_RSA2048_H, AGENT_TPM_EK_ECC_P256_H};
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
		if (kind >= 0 && (int)order[i] != kind)
			continue;
		uint8_t *cert = NULL;
		size_t len = 0;
		int rc = agent_tpm_nv_read(t, agent_tpm_ek_cert_index(order[i]), &cert, &len);
		if (rc == ATTEST_E_NOTFOUND)
			continue;
		if (rc)
			return rc;
		rc = agent_tpm_ek_create(t, order[i], cert, len);
		if (rc) {
			free(cert);
			return rc;
		}
		*ret_cert = cert;
		*ret_cert_len = len;
		*ret_kind = order[i];
		return 0;
	}
	/* No certificate (some chips ship none): the profile's template. */
	enum agent_tpm_ek_kind k = kind >= 0 ? (enum agent_tpm_ek_kind)kind : AGENT_TPM_EK_RSA2048;
	int rc = agent_tpm_ek_create(t, k, NULL, 0);
	if (rc)
		return rc;
	*ret_cert = NULL;
	*ret_cert_len = 0;
	*ret_kind = k;
	return 0;
}
