/* EK certificate parsing (lenient) and chain verification (strict). */
#include "ekcert.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "certbundle.h"
#include "err.h"
#include "tpm.h"

struct ekcert_store {
	STACK_OF(X509) * certs;
};

static const char *const status_codes[] = {
    [EKCERT_OK] = "OK",
    [EKCERT_MALFORMED] = "EK_CERT_MALFORMED",
    [EKCERT_UNKNOWN_ISSUER] = "EK_CERT_UNKNOWN_ISSUER",
    [EKCERT_EXPIRED] = "EK_CERT_EXPIRED",
    [EKCERT_NOT_YET_VALID] = "EK_CERT_NOT_YET_VALID",
    [EKCERT_BAD_SIGNATURE] = "EK_CERT_BAD_SIGNATURE",
    [EKCERT_UNHANDLED_CRITICAL] = "EK_CERT_UNHANDLED_CRITICAL_EXTENSION",
    [EKCERT_CHAIN_INVALID] = "EK_CERT_CHAIN_INVALID",
    [EKCERT_KEY_MISMATCH] = "EK_CERT_KEY_MISMATCH",
};

const char *ekcert_status_code(enum ekcert_status s)
{
	if ((unsigned)s >= sizeof status_codes / sizeof status_codes[0])
		return "UNKNOWN";
	return status_codes[s];
}

int ekcert_store_new(struct ekcert_store **ret)
{
	struct ekcert_store *s = calloc(1, sizeof *s);
	if (!s)
		return ATTEST_E_NOMEM;
	s->certs = sk_X509_new_null();
	if (!s->certs) {
		free(s);
		return ATTEST_E_NOMEM;
	}
	*ret = s;
	return 0;
}

void ekcert_store_free(struct ekcert_store *s)
{
	if (!s)
		return;
	sk_X509_pop_free(s->certs, X509_free);
	free(s);
}

size_t ekcert_store_count(const struct ekcert_store *s)
{
	return s ? (size_t)sk_X509_num(s->certs) : 0;
}

X509 *ekcert_store_get(const struct ekcert_store *s, size_t i)
{
	if (!s || i >= (size_t)sk_X509_num(s->certs))
		return NULL;
	return sk_X509_value(s->certs, (int)i);
}

int ekcert_store_add(struct ekcert_store *s, const uint8_t *buf, size_t len, size_t *ret_added)
{
	if (!s || (!buf && len))
		return ATTEST_E_ARG;
	if (len > EKCERT_MAX_SIZE)
		return ATTEST_E_LIMIT;
	STACK_OF(X509) *got = NULL;
	int rc = certbundle_split(buf, len, &got);
	if (rc)
		return rc;
	rc = ATTEST_E_FORMAT;
	size_t n = (size_t)sk_X509_num(got);
	if (n == 0)
		goto out;
	if (ekcert_store_count(s) > EKCERT_STORE_MAX - n) {
		rc = ATTEST_E_LIMIT;
		goto out;
	}
	while (sk_X509_num(got) > 0) {
		X509 *x = sk_X509_shift(got);
		if (!sk_X509_push(s->certs, x)) {
			X509_free(x);
			rc = ATTEST_E_NOMEM;
			goto out;
		}
	}
	if (ret_added)
		*ret_added = n;
	rc = 0;
out:
	sk_X509_pop_free(got, X509_free);
	return rc;
}

/* Length of the outer DER SEQUENCE at buf, header included; 0 if the header
 * is not a definite-length SEQUENCE that fits in len. */
static size_t der_outer_len(const uint8_t *buf, size_t len)
{
	if (len < 2 || buf[0] != 0x30)
		return 0;
	size_t hdr = 2, body;
	if (buf[1] < 0x80) {
		body = buf[1];
	} else {
		size_t nb = buf[1] & 0x7f;
		if (nb == 0 || nb > 3 || len - 2 < nb)
			return 0;
		body = 0;
		for (size_t i = 0; i < nb; i++)
			body = body << 8 | buf[2 + i];
		hdr += nb;
	}
	if (len - hdr < body)
		return 0;
	return hdr + body;
}

static void copy_asn1_string(char *dst, size_t cap, const ASN1_STRING *s)
{
	dst[0] = '\0';
	if (!s)
		return;
	const unsigned char *d = ASN1_STRING_get0_data(s);
	int n = ASN1_STRING_length(s);
	size_t j = 0;
	for (int i = 0; i < n && j + 1 < cap; i++)
		dst[j++] = (d[i] >= 0x20 && d[i] < 0x7f) ? (char)d[i] : '?';
	dst[j] = '\0';
}

/* "id:49465800" -> "IFX": the TCG vendor ID is four ASCII bytes. */
static void vendor_ascii(const char *id, char out[static 8])
{
	out[0] = '\0';
	if (strncmp(id, "id:", 3) != 0 || strlen(id) != 11)
		return;
	char tmp[5];
	size_t n = 0;
	for (int i = 0; i < 4; i++) {
		unsigned v = 0;
		for (int k = 0; k < 2; k++) {
			char c = id[3 + 2 * i + k];
			unsigned d;
			if (c >= '0' && c <= '9')
				d = (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				d = (unsigned)(c - 'a' + 10);
			else if (c >= 'A' && c <= 'F')
				d = (unsigned)(c - 'A' + 10);
			else
				return;
			v = v << 4 | d;
		}
		if (v == 0)
			break;
		if (v < 0x20 || v >= 0x7f)
			return; /* a number, not letters (e.g. swtpm's id:00001014) */
		tmp[n++] = (char)v;
	}
	while (n && tmp[n - 1] == ' ')
		n--;
	memcpy(out, tmp, n);
	out[n] = '\0';
}

/* Read TPM manufacturer/model/version OIDs from an X509_NAME. */
static bool read_tpm_name(const X509_NAME *nm, struct ekcert_info *info)
{
	bool found = false;
	for (int i = 0; i < X509_NAME_entry_count(nm); i++) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(nm, i);
		char oid[64];
		if (OBJ_obj2txt(oid, sizeof oid, X509_NAME_ENTRY_get_object(e), 1) <= 0)
			continue;
		const ASN1_STRING *v = X509_NAME_ENTRY_get_data(e);
		if (!strcmp(oid, "2.23.133.2.1")) {
			copy_asn1_string(info->manufacturer_id, sizeof info->manufacturer_id, v);
			vendor_ascii(info->manufacturer_id, info->manufacturer);
			found = true;
		} else if (!strcmp(oid, "2.23.133.2.2")) {
			copy_asn1_string(info->model, sizeof info->model, v);
			found = true;
		} else if (!strcmp(oid, "2.23.133.2.3")) {
			copy_asn1_string(info->version, sizeof info->version, v);
			found = true;
		}
	}
	return found;
}

static void asn1_time_iso(const ASN1_TIME *t, char out[static 32])
{
	struct tm tm;
	out[0] = '\0';
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return;
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void name_line(const X509_NAME *nm, char *out, size_t cap)
{
	out[0] = '\0';
	BIO *b = BIO_new(BIO_s_mem());
	if (!b)
		return;
	if (X509_NAME_print_ex(b, nm, 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		int n = BIO_read(b, out, (int)cap - 1);
		out[n > 0 ? n : 0] = '\0';
	}
	BIO_free(b);
}

static void key_type(X509 *x, char out[static 16])
{
	EVP_PKEY *k = X509_get0_pubkey(x);
	out[0] = '\0';
	if (!k)
		return;
	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA) {
		snprintf(out, 16, "RSA-%d", EVP_PKEY_get_bits(k));
	} else if (EVP_PKEY_get_base_id(k) == EVP_PKEY_EC) {
		char g[32];
		size_t gl = 0;
		if (EVP_PKEY_get_utf8_string_param(k, "group", g, sizeof g, &gl) != 1)
			snprintf(g, sizeof g, "?");
		snprintf(out, 16, "EC-%.12s", g);
	} else {
		snprintf(out, 16, "other");
	}
}

static void fill_info(X509 *x, const uint8_t *der, size_t der_len, struct ekcert_info *info)
{
	memset(info, 0, sizeof *info);
	uint8_t *re = NULL;
	int n = i2d_X509(x, &re);
	info->strict_der = n > 0 && (size_t)n == der_len && der && !memcmp(re, der, der_len);
	OPENSSL_free(re);
	GENERAL_NAMES *san = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; san && i < sk_GENERAL_NAME_num(san); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(san, i);
		if (g->type == GEN_DIRNAME && read_tpm_name(g->d.directoryName, info))
			info->has_tpm_san = true;
	}
	GENERAL_NAMES_free(san);
	if (!info->has_tpm_san) /* some vendors put them in the subject */
		info->has_tpm_san = read_tpm_name(X509_get_subject_name(x), info);
	name_line(X509_get_subject_name(x), info->subject, sizeof info->subject);
	name_line(X509_get_issuer_name(x), info->issuer, sizeof info->issuer);
	asn1_time_iso(X509_get0_notBefore(x), info->not_before);
	asn1_time_iso(X509_get0_notAfter(x), info->not_after);
	key_type(x, info->key_type);
	ERR_clear_error();
}

int ekcert_parse(const uint8_t *buf, size_t len, X509 **ret, struct ekcert_info *info,
                 char msg[static 160])
{
	msg[0] = '\0';
	if (!buf || !len) {
		snprintf(msg, 160, "empty certificate");
		return ATTEST_E_FORMAT;
	}
	if (len > EKCERT_MAX_SIZE) {
		snprintf(msg, 160, "certificate of %zu bytes exceeds the cap of %u", len,
		         EKCERT_MAX_SIZE);
		return ATTEST_E_LIMIT;
	}
	X509 *x = NULL;
	size_t der_len = 0;
	if (certbundle_is_pem(buf, len)) {
		BIO *bio = BIO_new_mem_buf(buf, (int)len);
		if (!bio)
			return ATTEST_E_NOMEM;
		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		BIO_free(bio);
		if (!x) {
			ERR_clear_error();
			snprintf(msg, 160, "PEM data holds no readable certificate");
			return ATTEST_E_FORMAT;
		}
		der_len = 0;
	} else {
		der_len = der_outer_len(buf, len);
		if (!der_len) {
			snprintf(msg, 160,
			         "not a DER certificate: the outer SEQUENCE header is "
			         "missing or longer than the %zu bytes given",
			         len);
			return ATTEST_E_FORMAT;
		}
		const uint8_t *p = buf;
		x = d2i_X509(NULL, &p, (long)der_len);
		if (!x) {
			unsigned long e = ERR_peek_last_error();
			char why[96];
			ERR_error_string_n(e, why, sizeof why);
			ERR_clear_error();
			snprintf(msg, 160, "not strict DER and not readable by OpenSSL (%s)", why);
			return ATTEST_E_FORMAT;
		}
	}
	if (info) {
		fill_info(x, der_len ? buf : NULL, der_len, info);
		info->trailing_bytes = der_len ? len - der_len : 0;
		if (!der_len)
			info->strict_der = true; /* PEM: DER inside is what OpenSSL read */
	}
	if (ret)
		*ret = x;
	else
		X509_free(x);
	return 0;
}

/* Critical extensions the EK certificate may carry that OpenSSL does not
 * process: TCG ones and subjectDirectoryAttributes (TPM spec attributes). */
static bool tolerated_critical(const X509_EXTENSION *ext)
{
	char oid[64];
	if (OBJ_obj2txt(oid, sizeof oid, X509_EXTENSION_get_object((X509_EXTENSION *)ext), 1) <= 0)
		return false;
	return !strncmp(oid, "2.23.133.", 9) || !strcmp(oid, "2.5.29.9") ||
	       !strcmp(oid, "2.5.29.17");
}

static int verify_cb(int ok, X509_STORE_CTX *ctx)
{
	if (ok)
		return ok;
	if (X509_STORE_CTX_get_error(ctx) != X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION ||
	    X509_STORE_CTX_get_error_depth(ctx) != 0)
		return ok;
	/* Only on the EK certificate itself, and only if every unknown
	 * critical extension is one we know EK certificates carry. */
	X509 *x = X509_STORE_CTX_get_current_cert(ctx);
	for (int i = 0; x && i < X509_get_ext_count(x); i++) {
		X509_EXTENSION *ext = X509_get_ext(x, i);
		if (X509_EXTENSION_get_critical(ext) && !X509_supported_extension(ext) &&
		    !tolerated_critical(ext))
			return 0;
	}
	return 1;
}

static void fail(struct ekcert_result *res, enum ekcert_status st, int depth, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(struct ekcert_result *res, enum ekcert_status st, int depth, const char *fmt, ...)
{
	res->status = st;
	res->depth = depth;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->message, sizeof res->message, fmt, ap);
	va_end(ap);
}

static bool self_signed(X509 *x)
{
	return X509_check_issued(x, x) == X509_V_OK;
}

/* extra: certificates offered to build the path (the TPM's chain from NV),
 * never anchors. */
static int verify_x509(const struct ekcert_store *store, X509 *cert, STACK_OF(X509) * extra,
                       const TPMT_PUBLIC *ek, time_t now, bool roots_only,
                       struct ekcert_result *res)
{
	if (!store || !cert || !res)
		return ATTEST_E_ARG;
	memset(res, 0, sizeof *res);
	res->depth = -1;
	int rc = ATTEST_E_NOMEM;
	X509_STORE *xs = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	if (!xs || !ctx || !untrusted)
		goto out;
	for (int i = 0; extra && i < sk_X509_num(extra); i++)
		if (!sk_X509_push(untrusted, sk_X509_value(extra, i)))
			goto out;
	for (int i = 0; i < sk_X509_num(store->certs); i++) {
		X509 *c = sk_X509_value(store->certs, i);
		if (roots_only && !self_signed(c)) {
			if (!sk_X509_push(untrusted, c))
				goto out;
		} else if (!X509_STORE_add_cert(xs, c)) {
			ERR_clear_error(); /* duplicates are fine */
		}
	}
	X509_STORE_set_verify_cb(xs, verify_cb);
	if (!X509_STORE_CTX_init(ctx, xs, cert, untrusted))
		goto out;
	X509_STORE_CTX_set_time(ctx, 0, now);
	if (!roots_only)
		X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_PARTIAL_CHAIN);
	int ok = X509_verify_cert(ctx);
	if (ok < 0) {
		rc = ATTEST_E_CRYPTO;
		goto out;
	}
	if (ok != 1) {
		int err = X509_STORE_CTX_get_error(ctx);
		int depth = X509_STORE_CTX_get_error_depth(ctx);
		X509 *bad = X509_STORE_CTX_get_current_cert(ctx);
		if (!bad)
			bad = cert;
		char subj[256], iss[256], nb[32], na[32];
		name_line(X509_get_subject_name(bad), subj, sizeof subj);
		name_line(X509_get_issuer_name(bad), iss, sizeof iss);
		asn1_time_iso(X509_get0_notBefore(bad), nb);
		asn1_time_iso(X509_get0_notAfter(bad), na);
		const char *who = depth == 0 ? "the EK certificate" : "CA certificate";
		switch (err) {
		case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
		case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
		case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
			fail(res, EKCERT_UNKNOWN_ISSUER, depth,
			     "%s \"%s\" was issued by \"%s\", which is not in the trust store", who,
			     subj, iss);
			break;
		case X509_V_ERR_CERT_HAS_EXPIRED:
			fail(res, EKCERT_EXPIRED, depth, "%s \"%s\" expired on %s (valid from %s)",
			     who, subj, na, nb);
			break;
		case X509_V_ERR_CERT_NOT_YET_VALID:
			fail(res, EKCERT_NOT_YET_VALID, depth,
			     "%s \"%s\" is not valid before %s (until %s)", who, subj, nb, na);
			break;
		case X509_V_ERR_CERT_SIGNATURE_FAILURE:
			fail(res, EKCERT_BAD_SIGNATURE, depth,
			     "the signature on %s \"%s\" does not verify with the key of \"%s\"",
			     who, subj, iss);
			break;
		case X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION:
			fail(res, EKCERT_UNHANDLED_CRITICAL, depth,
			     "%s \"%s\" has a critical extension we do not understand", who, subj);
			break;
		default:
			fail(res, EKCERT_CHAIN_INVALID, depth, "%s \"%s\" (issuer \"%s\"): %s", who,
			     subj, iss, X509_verify_cert_error_string(err));
			break;
		}
		ERR_clear_error();
		rc = 0;
		goto out;
	}
	if (ek) {
		EVP_PKEY *k = X509_get0_pubkey(cert);
		int m = k ? tpm_public_matches_pkey(ek, k) : 0;
		if (m < 0) {
			rc = m;
			goto out;
		}
		if (m == 0) {
			char subj[256];
			name_line(X509_get_subject_name(cert), subj, sizeof subj);
			fail(res, EKCERT_KEY_MISMATCH, 0,
			     "the EK certificate \"%s\" certifies a different key than the TPM's "
			     "%s EK",
			     subj, tpm_alg_name(ek->type));
			rc = 0;
			goto out;
		}
	}
	res->status = EKCERT_OK;
	res->depth = -1;
	snprintf(res->message, sizeof res->message, "the EK certificate chains to the trust store");
	rc = 0;
out:
	ERR_clear_error();
	sk_X509_free(untrusted); /* borrowed entries */
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(xs);
	return rc;
}

int ekcert_verify_x509(const struct ekcert_store *store, X509 *cert, const TPMT_PUBLIC *ek,
                       time_t now, bool roots_only, struct ekcert_result *res)
{
	return verify_x509(store, cert, NULL, ek, now, roots_only, res);
}

int ekcert_verify_chain(const struct ekcert_store *store, const uint8_t *buf, size_t len,
                        const struct ekcert_der *chain, size_t nchain, const TPMT_PUBLIC *ek,
                        time_t now, struct ekcert_info *info, struct ekcert_result *res)
{
	if (!store || !res || (nchain && !chain) || nchain > EKCERT_CHAIN_MAX)
		return ATTEST_E_ARG;
	X509 *x = NULL;
	char msg[160];
	struct ekcert_info tmp;
	int e = ekcert_parse(buf, len, &x, info ? info : &tmp, msg);
	if (e == ATTEST_E_FORMAT || e == ATTEST_E_LIMIT) {
		memset(res, 0, sizeof *res);
		fail(res, EKCERT_MALFORMED, 0, "the EK certificate cannot be read: %s", msg);
		return 0;
	}
	if (e < 0)
		return e;
	STACK_OF(X509) *extra = sk_X509_new_null();
	if (!extra) {
		X509_free(x);
		return ATTEST_E_NOMEM;
	}
	for (size_t i = 0; i < nchain; i++) {
		const unsigned char *p = chain[i].der;
		X509 *c = NULL;
		if (chain[i].len == 0 || chain[i].len > EKCERT_MAX_SIZE ||
		    !(c = d2i_X509(NULL, &p, (long)chain[i].len))) {
			ERR_clear_error();
			memset(res, 0, sizeof *res);
			fail(res, EKCERT_CHAIN_INVALID, (int)i + 1,
			     "certificate %zu of the EK certificate's chain cannot be read", i + 1);
			sk_X509_pop_free(extra, X509_free);
			X509_free(x);
			return 0;
		}
		if (!sk_X509_push(extra, c)) {
			X509_free(c);
			sk_X509_pop_free(extra, X509_free);
			X509_free(x);
			return ATTEST_E_NOMEM;
		}
	}
	e = verify_x509(store, x, extra, ek, now, false, res);
	sk_X509_pop_free(extra, X509_free);
	X509_free(x);
	return e;
}

int ekcert_verify(const struct ekcert_store *store, const uint8_t *buf, size_t len,
                  const TPMT_PUBLIC *ek, time_t now, struct ekcert_info *info,
                  struct ekcert_result *res)
{
	if (!store || !res)
		return ATTEST_E_ARG;
	X509 *x = NULL;
	char msg[160];
	struct ekcert_info tmp;
	int e = ekcert_parse(buf, len, &x, info ? info : &tmp, msg);
	if (e == ATTEST_E_FORMAT || e == ATTEST_E_LIMIT) {
		memset(res, 0, sizeof *res);
		fail(res, EKCERT_MALFORMED, 0, "the EK certificate cannot be read: %s", msg);
		return 0;
	}
	if (e < 0)
		return e;
	e = ekcert_verify_x509(store, x, ek, now, false, res);
	X509_free(x);
	return e;
}

int ekcert_key_sha256(const TPMT_PUBLIC *ek, uint8_t out[32])
{
	if (!ek || !out)
		return ATTEST_E_ARG;
	EVP_PKEY *k = NULL;
	int rc = tpm_public_to_pkey(ek, &k);
	if (rc < 0)
		return rc;
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(k, &der);
	EVP_PKEY_free(k);
	if (n <= 0) {
		ERR_clear_error();
		return ATTEST_E_CRYPTO;
	}
	unsigned int ol = 0;
	int ok = EVP_Digest(der, (size_t)n, out, &ol, EVP_sha256(), NULL);
	OPENSSL_free(der);
	ERR_clear_error();
	return ok && ol == 32 ? 0 : ATTEST_E_CRYPTO;
}

void ekcert_key_sha256_text(const uint8_t hash[32], char out[72])
{
	static const char hx[] = "0123456789abcdef";
	memcpy(out, "SHA256:", 7);
	for (size_t i = 0; i < 32; i++) {
		out[7 + 2 * i] = hx[hash[i] >> 4];
		out[8 + 2 * i] = hx[hash[i] & 15];
	}
	out[71] = '\0';
}
