/* PEM bundle or DER certificate -> certificates (see certbundle.h). */
#include "certbundle.h"

#include <limits.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "err.h"

bool certbundle_is_pem(const uint8_t *buf, size_t len)
{
	static const char tag[] = "-----BEGIN";
	for (size_t i = 0; buf && len >= sizeof tag - 1 && i <= len - (sizeof tag - 1); i++)
		if (!memcmp(buf + i, tag, sizeof tag - 1))
			return true;
	return false;
}

int certbundle_split(const uint8_t *buf, size_t len, STACK_OF(X509) * *ret)
{
	if ((!buf && len) || len > INT_MAX)
		return ATTEST_E_ARG;
	STACK_OF(X509) *got = sk_X509_new_null();
	if (!got)
		return ATTEST_E_NOMEM;
	int rc = 0;
	if (len && certbundle_is_pem(buf, len)) {
		BIO *bio = BIO_new_mem_buf(buf, (int)len);
		X509 *x;
		if (!bio)
			rc = ATTEST_E_NOMEM;
		while (!rc && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
			if (!sk_X509_push(got, x)) {
				X509_free(x);
				rc = ATTEST_E_NOMEM;
			}
		}
		BIO_free(bio);
	} else if (len) {
		const uint8_t *p = buf;
		X509 *x = d2i_X509(NULL, &p, (long)len);
		if (x && !sk_X509_push(got, x)) {
			X509_free(x);
			rc = ATTEST_E_NOMEM;
		}
	}
	ERR_clear_error();
	if (rc) {
		sk_X509_pop_free(got, X509_free);
		return rc;
	}
	*ret = got;
	return 0;
}
