/* TLS identity: key + self-signed certificate in a data directory.
 * See tlsid.h for the contract and docs/transport.md for the reasons. */
#include "tlsid.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "err.h"
#include "fileio.h"
#include "hex.h"

#define TLSID_MAX_NAME 64 /* X.509 upper bound for a common name */
#define TLSID_MAX_PATH 4096

__attribute__((format(printf, 3, 4))) static void seterr(char *buf, size_t len, const char *fmt,
                                                         ...)
{
	if (!buf || !len)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* The name is a file name and a CN: keep it to a safe alphabet. */
static int name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > TLSID_MAX_NAME || name[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return 0;
	}
	return 1;
}

static int dns_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || (c == '*' && i == 0)))
			return 0;
	}
	return 1;
}

int tlsid_thumbprint_of(const X509 *cert, char out[TLSID_THUMBPRINT_SIZE])
{
	if (!cert)
		return ATTEST_E_ARG;
	unsigned char *der = NULL;
	int n = i2d_X509(cert, &der);
	if (n <= 0)
		return ATTEST_E_CRYPTO;
	unsigned char md[32];
	unsigned int mdlen = 0;
	int ok = EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL);
	OPENSSL_free(der);
	if (!ok || mdlen != sizeof md)
		return ATTEST_E_CRYPTO;
	memcpy(out, "SHA256:", 7);
	hex_encode(md, sizeof md, out + 7);
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int tlsid_thumbprint_parse(const char *text, char out[TLSID_THUMBPRINT_SIZE])
{
	if (!text)
		return ATTEST_E_FORMAT;
	if (strncasecmp(text, "SHA256:", 7) == 0)
		text += 7;
	size_t n = strlen(text);
	char hex[65];
	size_t k = 0;
	if (n == 64) {
		for (size_t i = 0; i < 64; i++) {
			if (hexval(text[i]) < 0)
				return ATTEST_E_FORMAT;
			hex[k++] = text[i];
		}
	} else if (n == 95) { /* AB:CD:... */
		for (size_t i = 0; i < 95; i++) {
			if (i % 3 == 2) {
				if (text[i] != ':')
					return ATTEST_E_FORMAT;
				continue;
			}
			if (hexval(text[i]) < 0)
				return ATTEST_E_FORMAT;
			hex[k++] = text[i];
		}
	} else {
		return ATTEST_E_FORMAT;
	}
	memcpy(out, "SHA256:", 7);
	for (size_t i = 0; i < 64; i++)
		out[7 + i] = "0123456789abcdef"[hexval(hex[i])];
	out[TLSID_THUMBPRINT_LEN] = '\0';
	return 0;
}

int tlsid_thumbprint_equal(const char *a, const char *b)
{
	if (!a || !b || strlen(a) != TLSID_THUMBPRINT_LEN || strlen(b) != TLSID_THUMBPRINT_LEN)
		return 0;
	return CRYPTO_memcmp(a, b, TLSID_THUMBPRINT_LEN) == 0;
}

void tlsid_free(struct tlsid *id)
{
	if (!id)
		return;
	EVP_PKEY_free(id->key);
	X509_free(id->cert);
	free(id);
}

/* Read and parse the key file, refusing loose permissions. The raw PEM is
 * read into a fixed buffer (no realloc copies) and wiped afterwards. */
static int load_key(const char *path, EVP_PKEY **ret, char *errbuf, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		seterr(errbuf, errlen, "%s: cannot open: %s", path, strerror(errno));
		return errno == ENOENT ? ATTEST_E_NOTFOUND : ATTEST_E_IO;
	}
	struct stat st;
	int rc = 0;
	unsigned char *buf = NULL;
	size_t len = 0;
	if (fstat(fd, &st) < 0) {
		seterr(errbuf, errlen, "%s: cannot stat: %s", path, strerror(errno));
		rc = ATTEST_E_IO;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		seterr(errbuf, errlen, "%s: not a regular file", path);
		rc = ATTEST_E_STATE;
		goto out;
	}
	if (st.st_mode & 077) {
		seterr(errbuf, errlen,
		       "%s: private key file is accessible by group or others (mode %04o); "
		       "refusing it: run chmod 600 on it (and consider the key exposed)",
		       path, (unsigned)(st.st_mode & 07777));
		rc = ATTEST_E_STATE;
		goto out;
	}
	if (st.st_size <= 0 || (uint64_t)st.st_size > TLSID_MAX_KEY_FILE) {
		seterr(errbuf, errlen, "%s: size %lld outside 1..%u bytes", path,
		       (long long)st.st_size, TLSID_MAX_KEY_FILE);
		rc = ATTEST_E_LIMIT;
		goto out;
	}
	buf = OPENSSL_secure_malloc(TLSID_MAX_KEY_FILE + 1);
	if (!buf) {
		rc = ATTEST_E_NOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, TLSID_MAX_KEY_FILE + 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			seterr(errbuf, errlen, "%s: read: %s", path, strerror(errno));
			rc = ATTEST_E_IO;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > TLSID_MAX_KEY_FILE) {
			seterr(errbuf, errlen, "%s: larger than %u bytes", path,
			       TLSID_MAX_KEY_FILE);
			rc = ATTEST_E_LIMIT;
			goto out;
		}
	}
	BIO *bio = BIO_new_mem_buf(buf, (int)len);
	if (!bio) {
		rc = ATTEST_E_NOMEM;
		goto out;
	}
	EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!key) {
		ERR_clear_error();
		seterr(errbuf, errlen, "%s: not a PEM private key", path);
		rc = ATTEST_E_FORMAT;
		goto out;
	}
	*ret = key;
out:
	if (buf)
		OPENSSL_secure_clear_free(buf, TLSID_MAX_KEY_FILE + 1);
	close(fd);
	return rc;
}

static int load_cert(const char *path, X509 **ret, char *errbuf, size_t errlen)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = fileio_read(path, TLSID_MAX_CERT_FILE, &buf, &len);
	if (rc < 0) {
		if (rc == ATTEST_E_IO && errno == ENOENT)
			return ATTEST_E_NOTFOUND;
		seterr(errbuf, errlen, "%s: %s", path,
		       rc == ATTEST_E_IO ? strerror(errno) : attest_strerror(rc));
		return rc;
	}
	BIO *bio = BIO_new_mem_buf(buf, (int)len);
	X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	free(buf);
	if (!cert) {
		ERR_clear_error();
		seterr(errbuf, errlen, "%s: not a PEM certificate", path);
		return ATTEST_E_FORMAT;
	}
	*ret = cert;
	return 0;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	if (!ext)
		return ATTEST_E_CRYPTO;
	int ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : ATTEST_E_CRYPTO;
}

/* subjectAltName from the caller's list: IP literals become iPAddress,
 * the rest dNSName. Built as structures, never as a config string, so a
 * name cannot smuggle in other entries. */
static int add_sans(X509 *x, const char *const *sans)
{
	if (!sans || !sans[0])
		return 0;
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	int rc = ATTEST_E_CRYPTO;
	if (!gens)
		return ATTEST_E_NOMEM;
	for (size_t i = 0; sans[i]; i++) {
		if (i >= TLSID_MAX_SANS) {
			rc = ATTEST_E_LIMIT;
			goto out;
		}
		unsigned char ip[16];
		int iplen = 0;
		if (inet_pton(AF_INET, sans[i], ip) == 1)
			iplen = 4;
		else if (inet_pton(AF_INET6, sans[i], ip) == 1)
			iplen = 16;
		GENERAL_NAME *gn = GENERAL_NAME_new();
		if (!gn)
			goto out;
		if (iplen) {
			ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
			if (!os || !ASN1_OCTET_STRING_set(os, ip, iplen)) {
				ASN1_OCTET_STRING_free(os);
				GENERAL_NAME_free(gn);
				goto out;
			}
			GENERAL_NAME_set0_value(gn, GEN_IPADD, os);
		} else {
			if (!dns_name_ok(sans[i])) {
				GENERAL_NAME_free(gn);
				rc = ATTEST_E_ARG;
				goto out;
			}
			ASN1_IA5STRING *s = ASN1_IA5STRING_new();
			if (!s || !ASN1_STRING_set(s, sans[i], (int)strlen(sans[i]))) {
				ASN1_IA5STRING_free(s);
				GENERAL_NAME_free(gn);
				goto out;
			}
			GENERAL_NAME_set0_value(gn, GEN_DNS, s);
		}
		if (!sk_GENERAL_NAME_push(gens, gn)) {
			GENERAL_NAME_free(gn);
			goto out;
		}
	}
	rc = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1
	         ? 0
	         : ATTEST_E_CRYPTO;
out:
	GENERAL_NAMES_free(gens);
	return rc;
}

static int make_cert(EVP_PKEY *key, const char *name, const char *const *sans, X509 **ret)
{
	X509 *x = X509_new();
	BIGNUM *bn = NULL;
	int rc = ATTEST_E_CRYPTO;
	if (!x)
		return ATTEST_E_NOMEM;
	if (!X509_set_version(x, X509_VERSION_3))
		goto out;
	/* 128-bit random positive serial (top bit clear, next bit set so it is
	 * never zero and always 16 bytes long). */
	unsigned char serial[16];
	if (RAND_bytes(serial, sizeof serial) != 1)
		goto out;
	serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40);
	bn = BN_bin2bn(serial, sizeof serial, NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		goto out;
	/* Back-date an hour so a peer whose clock is a little behind accepts it. */
	if (!X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), TLSID_VALIDITY_DAYS, 0, NULL))
		goto out;
	X509_NAME *nm = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8, (const unsigned char *)name, -1,
	                                -1, 0) ||
	    !X509_set_issuer_name(x, nm) || !X509_set_pubkey(x, key))
		goto out;
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if ((rc = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE")) < 0 ||
	    (rc = add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature")) < 0 ||
	    (rc = add_ext(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth")) < 0 ||
	    (rc = add_ext(x, &ctx, NID_subject_key_identifier, "hash")) < 0 ||
	    (rc = add_sans(x, sans)) < 0)
		goto out;
	rc = ATTEST_E_CRYPTO;
	/* Ed25519 signs the message itself: no separate digest. */
	if (X509_sign(x, key, EVP_PKEY_get_id(key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256()) <= 0)
		goto out;
	*ret = x;
	x = NULL;
	rc = 0;
out:
	BN_free(bn);
	X509_free(x);
	ERR_clear_error();
	return rc;
}

static int write_cert(const char *path, X509 *cert)
{
	BIO *bio = BIO_new(BIO_s_mem());
	if (!bio)
		return ATTEST_E_NOMEM;
	int rc = ATTEST_E_CRYPTO;
	if (PEM_write_bio_X509(bio, cert)) {
		char *data = NULL;
		long n = BIO_get_mem_data(bio, &data);
		rc = n > 0 ? fileio_write_atomic(path, data, (size_t)n, 0644) : ATTEST_E_CRYPTO;
	}
	BIO_free(bio);
	return rc;
}

static int write_key(const char *path, EVP_PKEY *key)
{
	/* A secure-memory BIO clears its buffer when freed. */
	BIO *bio = BIO_new(BIO_s_secmem());
	if (!bio)
		return ATTEST_E_NOMEM;
	int rc = ATTEST_E_CRYPTO;
	if (PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)) {
		char *data = NULL;
		long n = BIO_get_mem_data(bio, &data);
		rc = n > 0 ? fileio_write_atomic(path, data, (size_t)n, 0600) : ATTEST_E_CRYPTO;
	}
	BIO_free(bio);
	return rc;
}

int tlsid_load_or_create(const char *dir, const char *name, const char *const *sans,
                         struct tlsid **ret, char *errbuf, size_t errlen)
{
	return tlsid_load_or_create_ex(dir, name, sans, TLSID_KEY_P256, ret, errbuf, errlen);
}

int tlsid_load_or_create_ex(const char *dir, const char *name, const char *const *sans,
                            enum tlsid_key kind, struct tlsid **ret, char *errbuf, size_t errlen)
{
	char keypath[TLSID_MAX_PATH], crtpath[TLSID_MAX_PATH];
	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (!dir || !name || !ret || !name_ok(name) ||
	    (kind != TLSID_KEY_P256 && kind != TLSID_KEY_ED25519)) {
		seterr(errbuf, errlen, "invalid identity name (1-64 of A-Z a-z 0-9 . _ -)");
		return ATTEST_E_ARG;
	}
	if ((size_t)snprintf(keypath, sizeof keypath, "%s/%s.key", dir, name) >= sizeof keypath ||
	    (size_t)snprintf(crtpath, sizeof crtpath, "%s/%s.crt", dir, name) >= sizeof crtpath) {
		seterr(errbuf, errlen, "data directory path too long");
		return ATTEST_E_ARG;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		seterr(errbuf, errlen, "%s: cannot create directory: %s", dir, strerror(errno));
		return ATTEST_E_IO;
	}

	struct tlsid *id = calloc(1, sizeof *id);
	if (!id)
		return ATTEST_E_NOMEM;
	int rc = load_key(keypath, &id->key, errbuf, errlen);
	if (rc == ATTEST_E_NOTFOUND) {
		struct stat st;
		if (stat(crtpath, &st) == 0) {
			seterr(errbuf, errlen,
			       "%s exists but its key %s is missing; refusing to replace the "
			       "identity (move the certificate away to create a new one)",
			       crtpath, keypath);
			goto fail;
		}
		if (errbuf && errlen)
			errbuf[0] = '\0';
		id->key = kind == TLSID_KEY_ED25519 ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
		                                    : EVP_EC_gen("P-256");
		if (!id->key) {
			ERR_clear_error();
			seterr(errbuf, errlen, "cannot generate a%s key",
			       kind == TLSID_KEY_ED25519 ? "n Ed25519" : " P-256");
			rc = ATTEST_E_CRYPTO;
			goto fail;
		}
		if ((rc = write_key(keypath, id->key)) < 0) {
			seterr(errbuf, errlen, "%s: cannot write: %s", keypath, strerror(errno));
			goto fail;
		}
		id->created = 1;
	} else if (rc < 0) {
		goto fail;
	}

	rc = load_cert(crtpath, &id->cert, errbuf, errlen);
	if (rc == ATTEST_E_NOTFOUND) {
		if ((rc = make_cert(id->key, name, sans, &id->cert)) < 0) {
			seterr(errbuf, errlen, "cannot make a certificate for %s: %s", name,
			       attest_strerror(rc));
			goto fail;
		}
		if ((rc = write_cert(crtpath, id->cert)) < 0) {
			seterr(errbuf, errlen, "%s: cannot write: %s", crtpath, strerror(errno));
			goto fail;
		}
		id->created = 1;
	} else if (rc < 0) {
		goto fail;
	}
	if (X509_check_private_key(id->cert, id->key) != 1) {
		ERR_clear_error();
		seterr(errbuf, errlen, "%s does not belong to the key %s", crtpath, keypath);
		rc = ATTEST_E_VERIFY;
		goto fail;
	}
	if ((rc = tlsid_thumbprint_of(id->cert, id->thumbprint)) < 0) {
		seterr(errbuf, errlen, "cannot compute the thumbprint of %s", crtpath);
		goto fail;
	}
	*ret = id;
	return 0;
fail:
	tlsid_free(id);
	return rc;
}
