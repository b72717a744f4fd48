/* Which EK a host has: the one its EK certificate describes, at its
 * persistent handle when the TPM keeps it there; and the certificate's
 * issuer chain when the TPM holds one. */
#include <stdio.h>
#include <stdlib.h>

#include "agent.h"
#include "err.h"
#include "log.h"

/* The persistent EK of kind when there is one, else a new one. */
static int ek_get(struct tpmdev *t, enum tpmdev_ek_kind kind, const uint8_t *cert, size_t len)
{
	int rc = tpmdev_ek_persistent(t, kind, cert, len);
	if (rc == 0 || tpmdev_timed_out(t))
		return rc;
	return tpmdev_ek_create(t, kind, cert, len);
}

int agent_ek_setup(struct tpmdev *t, int kind, uint8_t **ret_cert, size_t *ret_cert_len,
                   enum tpmdev_ek_kind *ret_kind)
{
	static const enum tpmdev_ek_kind order[] = {TPMDEV_EK_RSA2048, TPMDEV_EK_ECC_P256,
	                                            TPMDEV_EK_ECC_P384_H, TPMDEV_EK_RSA2048_H,
	                                            TPMDEV_EK_ECC_P256_H};
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
		if (kind >= 0 && (int)order[i] != kind)
			continue;
		uint8_t *cert = NULL;
		size_t len = 0;
		int rc = tpmdev_nv_read(t, tpmdev_ek_cert_index(order[i]), &cert, &len);
		if (rc == ATTEST_E_NOTFOUND)
			continue;
		if (rc)
			return rc;
		rc = ek_get(t, order[i], cert, len);
		if (rc) {
			free(cert);
			return rc;
		}
		*ret_cert = cert;
		*ret_cert_len = len;
		*ret_kind = order[i];
		return 0;
	}
	/* No certificate (many firmware TPMs ship none): the persistent EK if
	 * the platform made one, else the profile's template. */
	enum tpmdev_ek_kind k = kind >= 0 ? (enum tpmdev_ek_kind)kind : TPMDEV_EK_RSA2048;
	int rc = ek_get(t, k, NULL, 0);
	if (rc)
		return rc;
	*ret_cert = NULL;
	*ret_cert_len = 0;
	*ret_kind = k;
	return 0;
}

/* Length of the DER SEQUENCE at b (header included), 0 if there is none
 * (end padding: vendors fill an index's tail with 0x00 or 0xff). */
static size_t der_seq_len(const uint8_t *b, size_t n)
{
	if (n < 2 || b[0] != 0x30)
		return 0;
	size_t len, hdr;
	if (b[1] < 0x80) {
		len = b[1];
		hdr = 2;
	} else {
		size_t nb = b[1] & 0x7f;
		if (nb == 0 || nb > 3 || n < 2 + nb)
			return 0;
		len = 0;
		for (size_t i = 0; i < nb; i++)
			len = len << 8 | b[2 + i];
		hdr = 2 + nb;
	}
	return len <= n - hdr ? hdr + len : 0;
}

int agent_ek_chain(struct tpmdev *t, json_t **ret)
{
	uint32_t idx[AGENT_EK_CHAIN_MAX];
	size_t n = 0;
	int rc = tpmdev_nv_list(t, TPMDEV_NV_EK_CHAIN_FIRST, TPMDEV_NV_EK_CHAIN_LAST, idx,
	                        AGENT_EK_CHAIN_MAX, &n);
	if (rc)
		return rc;
	json_t *a = json_array();
	if (!a)
		return ATTEST_E_NOMEM;
	size_t count = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t *buf = NULL;
		size_t len = 0;
		rc = tpmdev_nv_read(t, idx[i], &buf, &len);
		if (rc) {
			if (tpmdev_timed_out(t)) {
				json_decref(a);
				return rc;
			}
			log_warning("EK chain index 0x%08x: %s", (unsigned)idx[i],
			            tpmdev_last_error(t));
			continue;
		}
		size_t off = 0;
		while (off < len && count < AGENT_EK_CHAIN_MAX) {
			size_t l = der_seq_len(buf + off, len - off);
			if (l == 0)
				break;
			char ix[16];
			snprintf(ix, sizeof ix, "0x%08x", (unsigned)idx[i]);
			json_t *c = json_pack("{s:s}", "nv_index", ix);
			if (!c || agent_json_put_b64(c, "der", buf + off, l) != 0 ||
			    json_array_append_new(a, c) != 0) {
				json_decref(c);
				free(buf);
				json_decref(a);
				return ATTEST_E_NOMEM;
			}
			off += l;
			count++;
		}
		free(buf);
	}
	*ret = a;
	return 0;
}
