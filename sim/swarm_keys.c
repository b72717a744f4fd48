/* The swarm's keys: two test EK CAs (the one the verifier is told to trust,
 * and an untrusted one for hosts that must fail as uncertified), and per
 * host an EK (ECC P-256, the profile's L-2 template), its certificate, and
 * a TLS identity. Everything is a software key: this is why attest-swarm
 * exists only in bench and test builds. (AKs: swarm_api.c, P-256 made here
 * or RSA-2048 from swarm_rsa.c.)
 *
 * P-256 keys take microseconds to make, so 10,000 hosts start in seconds;
 * they are still kept in DIR/hosts.pem (one file, written once, mode 0600)
 * so that a restarted swarm shows the verifier the same thumbprints and EKs
 * it pinned. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <tss2/tss2_mu.h>

#include "err.h"
#include "fileio.h"
#include "log.h"
#include "swarm.h"
#include "tpmdev_templates.h"

#define CERT_DAYS 3650L
#define PEM_MAX   (256u << 20)

EVP_PKEY *swarm_p256(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static int bn_param(EVP_PKEY *k, const char *param, uint8_t *out, size_t n)
{
	BIGNUM *b = NULL;
	int ok = EVP_PKEY_get_bn_param(k, param, &b) && BN_bn2binpad(b, out, (int)n) == (int)n;
	BN_free(b);
	return ok ? 0 : ATTEST_E_CRYPTO;
}

int swarm_key_public(EVP_PKEY *key, const TPMT_PUBLIC *tmpl, uint8_t *out, size_t cap,
                     size_t *ret_len, TPMT_PUBLIC *ret_public)
{
	TPM2B_PUBLIC p;
	memset(&p, 0, sizeof p);
	p.publicArea = *tmpl;
	TPMT_PUBLIC *a = &p.publicArea;
	if (a->type == TPM2_ALG_ECC && EVP_PKEY_is_a(key, "EC")) {
		a->unique.ecc.x.size = a->unique.ecc.y.size = 32;
		if (bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, a->unique.ecc.x.buffer, 32) ||
		    bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, a->unique.ecc.y.buffer, 32))
			return ATTEST_E_CRYPTO;
	} else if (a->type == TPM2_ALG_RSA && EVP_PKEY_is_a(key, "RSA") &&
	           EVP_PKEY_get_bits(key) == a->parameters.rsaDetail.keyBits) {
		/* exponent 0 in the template: the TPM's default, 65537 */
		BIGNUM *e = NULL;
		int ok = EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) &&
		         BN_is_word(e, a->parameters.rsaDetail.exponent
		                           ? a->parameters.rsaDetail.exponent
		                           : 65537u);
		BN_free(e);
		size_t n = a->parameters.rsaDetail.keyBits / 8u;
		if (!ok || n > sizeof a->unique.rsa.buffer)
			return ATTEST_E_ARG;
		a->unique.rsa.size = (UINT16)n;
		if (bn_param(key, OSSL_PKEY_PARAM_RSA_N, a->unique.rsa.buffer, n))
			return ATTEST_E_CRYPTO;
	} else {
		return ATTEST_E_ARG;
	}
	size_t off = 0;
	if (Tss2_MU_TPM2B_PUBLIC_Marshal(&p, out, cap, &off) != TSS2_RC_SUCCESS)
		return ATTEST_E_LIMIT;
	*ret_len = off;
	if (ret_public)
		*ret_public = *a;
	return 0;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ex)
		return ATTEST_E_CRYPTO;
	int ok = X509_add_ext(cert, ex, -1);
	X509_EXTENSION_free(ex);
	return ok ? 0 : ATTEST_E_CRYPTO;
}

/* A certificate for key named cn, issued by issuer/ikey (NULL: self-signed).
 * kind: 'C' a CA, 'E' an EK (keyAgreement: an ECC storage key), 'T' a TLS
 * identity with san as its IP address. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey, char kind,
                       const char *san)
{
	X509 *c = X509_new();
	uint8_t serial[16];
	BIGNUM *sn = NULL;
	if (!c || RAND_bytes(serial, sizeof serial) != 1)
		goto fail;
	serial[0] &= 0x7f;
	sn = BN_bin2bn(serial, sizeof serial, NULL);
	X509_NAME *name = X509_get_subject_name(c);
	if (!sn || !BN_to_ASN1_INTEGER(sn, X509_get_serialNumber(c)) || !X509_set_version(c, 2) ||
	    !X509_gmtime_adj(X509_getm_notBefore(c), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(c), CERT_DAYS * 24 * 3600) ||
	    !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
	                                (const unsigned char *)"attest-swarm (software keys)", -1,
	                                -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
	                                0) ||
	    !X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name) ||
	    !X509_set_pubkey(c, key))
		goto fail;
	X509 *is = issuer ? issuer : c;
	int rc = 0;
	if (kind == 'C')
		rc = add_ext(c, is, NID_basic_constraints, "critical,CA:TRUE") ||
		     add_ext(c, is, NID_key_usage, "critical,keyCertSign,cRLSign") ||
		     add_ext(c, is, NID_subject_key_identifier, "hash");
	else if (kind == 'E')
		rc = add_ext(c, is, NID_basic_constraints, "critical,CA:FALSE") ||
		     add_ext(c, is, NID_key_usage, "critical,keyAgreement") ||
		     add_ext(c, is, NID_authority_key_identifier, "keyid");
	else {
		char s[80];
		snprintf(s, sizeof s, "IP:%s", san);
		rc = add_ext(c, is, NID_subject_alt_name, s) ||
		     add_ext(c, is, NID_basic_constraints, "critical,CA:FALSE");
	}
	EVP_PKEY *signer = issuer ? ikey : key; /* Ed25519 takes no digest */
	if (rc || !X509_sign(c, signer,
	                     EVP_PKEY_get_id(signer) == EVP_PKEY_ED25519 ? NULL : EVP_sha256()))
		goto fail;
	BN_free(sn);
	return c;
fail:
	BN_free(sn);
	X509_free(c);
	ERR_clear_error();
	return NULL;
}

static int write_pems(const char *path, EVP_PKEY *const *keys, size_t nkeys, X509 *const *certs,
                      size_t ncerts)
{
	BIO *b = BIO_new(BIO_s_mem());
	int rc = ATTEST_E_CRYPTO;
	for (size_t i = 0; b && i < nkeys; i++)
		if (!PEM_write_bio_PrivateKey(b, keys[i], NULL, NULL, 0, NULL, NULL))
			goto out;
	for (size_t i = 0; b && i < ncerts; i++)
		if (!PEM_write_bio_X509(b, certs[i]))
			goto out;
	char *data = NULL;
	long n = b ? BIO_get_mem_data(b, &data) : 0;
	if (n > 0)
		rc = fileio_write_atomic(path, data, (size_t)n, 0600);
out:
	BIO_free(b);
	return rc;
}

/* DIR/NAME.pem holds the CA's key then its certificate. */
static int ca_load(const char *dir, const char *name, const char *cn, EVP_PKEY **ret_key,
                   X509 **ret_cert)
{
	char path[1024];
	if ((size_t)snprintf(path, sizeof path, "%s/%s.pem", dir, name) >= sizeof path)
		return ATTEST_E_ARG;
	uint8_t *buf = NULL;
	size_t len = 0;
	if (fileio_read(path, 1u << 20, &buf, &len) == 0) {
		BIO *b = BIO_new_mem_buf(buf, (int)len);
		*ret_key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
		*ret_cert = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
		BIO_free(b);
		OPENSSL_cleanse(buf, len);
		free(buf);
		if (*ret_key && *ret_cert)
			return 0;
		log_error("%s: not a key and a certificate", path);
		return ATTEST_E_FORMAT;
	}
	if (errno != ENOENT) {
		log_error("cannot read %s: %s", path, strerror(errno));
		return ATTEST_E_IO;
	}
	*ret_key = swarm_p256();
	*ret_cert = *ret_key ? make_cert(*ret_key, cn, NULL, NULL, 'C', NULL) : NULL;
	if (!*ret_cert)
		return ATTEST_E_CRYPTO;
	int rc = write_pems(path, ret_key, 1, ret_cert, 1);
	if (rc)
		log_error("cannot write %s", path);
	/* The verifier reads the trusted CA's certificate alone. */
	if (!rc && strcmp(name, "ca") == 0) {
		BIO *b = BIO_new(BIO_s_mem());
		char *data = NULL;
		long n = 0;
		if (b && PEM_write_bio_X509(b, *ret_cert))
			n = BIO_get_mem_data(b, &data);
		if ((size_t)snprintf(path, sizeof path, "%s/ca-cert.pem", dir) >= sizeof path ||
		    n <= 0 || fileio_write_atomic(path, data, (size_t)n, 0644) != 0)
			rc = ATTEST_E_IO;
		BIO_free(b);
	}
	return rc;
}

int swarm_cas_load(struct swarm *sw)
{
	int rc = ca_load(sw->dir, "ca", "attest-swarm test EK CA (emulated TPMs, software keys)",
	                 &sw->ca_key, &sw->ca_cert);
	if (!rc)
		rc = ca_load(sw->dir, "rogue-ca", "attest-swarm untrusted EK CA", &sw->rogue_key,
		             &sw->rogue_cert);
	return rc;
}

/* The EK public area (TCG EK profile L-2 template, ECC P-256) of h's key. */
static int ek_public(struct swarm_host *h)
{
	TPM2B_PUBLIC t;
	if (!ek_template(TPMDEV_EK_ECC_P256, false, &t))
		return ATTEST_E_ARG;
	return swarm_key_public(h->ek_key, &t.publicArea, h->ek_pub, sizeof h->ek_pub,
	                        &h->ek_pub_len, NULL);
}

static int cert_der(X509 *c, uint8_t **ret, size_t *ret_len)
{
	unsigned char *der = NULL;
	int n = i2d_X509(c, &der);
	if (n <= 0)
		return ATTEST_E_CRYPTO;
	*ret = malloc((size_t)n);
	if (!*ret) {
		OPENSSL_free(der);
		return ATTEST_E_NOMEM;
	}
	memcpy(*ret, der, (size_t)n);
	*ret_len = (size_t)n;
	OPENSSL_free(der);
	return 0;
}

static const char *host_ip(const struct swarm_host *h, char out[SWARM_ADDR_SIZE])
{
	snprintf(out, SWARM_ADDR_SIZE, "%s", h->listen);
	char *colon = strrchr(out, ':');
	if (colon)
		*colon = '\0';
	return out;
}

static int host_create(struct swarm *sw, struct swarm_host *h, X509 **ret_ek_cert)
{
	char cn[96], ip[SWARM_ADDR_SIZE];
	h->ek_key = swarm_p256();
	h->tls.key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"); /* as attest-agent's (tlsid.h) */
	if (!h->ek_key || !h->tls.key)
		return ATTEST_E_CRYPTO;
	snprintf(cn, sizeof cn, "attest-swarm emulated TPM %s", h->name);
	*ret_ek_cert = make_cert(h->ek_key, cn, sw->ca_cert, sw->ca_key, 'E', NULL);
	h->tls.cert = make_cert(h->tls.key, h->name, NULL, NULL, 'T', host_ip(h, ip));
	return *ret_ek_cert && h->tls.cert ? 0 : ATTEST_E_CRYPTO;
}

/* Read up to n hosts' (EK key, TLS key, EK cert, TLS cert) from DIR/hosts.pem
 * into hosts[], stopping at the first incomplete one. Returns how many. */
static unsigned hosts_read(struct swarm *sw, const char *path, X509 **ek_certs)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	if (fileio_read(path, PEM_MAX, &buf, &len) != 0)
		return 0;
	BIO *b = BIO_new_mem_buf(buf, (int)len);
	unsigned got = 0;
	while (b && got < sw->n) {
		struct swarm_host *h = &sw->hosts[got];
		EVP_PKEY *ek = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
		EVP_PKEY *tk = ek ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
		X509 *ec = tk ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
		X509 *tc = ec ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
		if (!tc || X509_check_private_key(tc, tk) != 1 ||
		    X509_check_private_key(ec, ek) != 1) {
			EVP_PKEY_free(ek);
			EVP_PKEY_free(tk);
			X509_free(ec);
			X509_free(tc);
			break;
		}
		h->ek_key = ek;
		h->tls.key = tk;
		h->tls.cert = tc;
		ek_certs[got] = ec;
		got++;
	}
	ERR_clear_error();
	BIO_free(b);
	OPENSSL_cleanse(buf, len);
	free(buf);
	return got;
}

int swarm_hosts_keys(struct swarm *sw)
{
	char path[1024];
	if ((size_t)snprintf(path, sizeof path, "%s/hosts.pem", sw->dir) >= sizeof path)
		return ATTEST_E_ARG;
	X509 **ek_certs = calloc(sw->n, sizeof *ek_certs);
	if (!ek_certs)
		return ATTEST_E_NOMEM;
	int rc = 0;
	unsigned have = hosts_read(sw, path, ek_certs);
	if (have > 0)
		log_notice("%u host identities loaded from %s", have, path);
	for (unsigned i = have; i < sw->n && !rc; i++)
		rc = host_create(sw, &sw->hosts[i], &ek_certs[i]);
	if (!rc && have < sw->n) {
		/* Rewrite the whole file: key, key, cert, cert per host. */
		BIO *b = BIO_new(BIO_s_mem());
		for (unsigned i = 0; b && i < sw->n && !rc; i++) {
			struct swarm_host *h = &sw->hosts[i];
			if (!PEM_write_bio_PrivateKey(b, h->ek_key, NULL, NULL, 0, NULL, NULL) ||
			    !PEM_write_bio_PrivateKey(b, h->tls.key, NULL, NULL, 0, NULL, NULL) ||
			    !PEM_write_bio_X509(b, ek_certs[i]) ||
			    !PEM_write_bio_X509(b, h->tls.cert))
				rc = ATTEST_E_CRYPTO;
		}
		char *data = NULL;
		long n = b && !rc ? BIO_get_mem_data(b, &data) : 0;
		if (!rc && (n <= 0 || fileio_write_atomic(path, data, (size_t)n, 0600) != 0)) {
			log_error("cannot write %s: %s", path, strerror(errno));
			rc = ATTEST_E_IO;
		}
		if (data)
			OPENSSL_cleanse(data, (size_t)n);
		BIO_free(b);
		if (!rc)
			log_notice("%u host identities created (%s)", sw->n - have, path);
	}
	for (unsigned i = 0; i < sw->n && !rc; i++) {
		struct swarm_host *h = &sw->hosts[i];
		X509 *ec = ek_certs[i];
		if (h->uncertified) {
			char cn[96];
			snprintf(cn, sizeof cn, "attest-swarm emulated TPM %s (untrusted CA)",
			         h->name);
			ec = make_cert(h->ek_key, cn, sw->rogue_cert, sw->rogue_key, 'E', NULL);
			if (!ec) {
				rc = ATTEST_E_CRYPTO;
				break;
			}
			X509_free(ek_certs[i]);
			ek_certs[i] = ec;
		}
		if ((rc = ek_public(h)) != 0 ||
		    (rc = cert_der(ec, &h->ek_cert, &h->ek_cert_len)) != 0 ||
		    (rc = tlsid_thumbprint_of(h->tls.cert, h->tls.thumbprint)) != 0)
			break;
	}
	for (unsigned i = 0; i < sw->n; i++)
		X509_free(ek_certs[i]);
	free(ek_certs);
	return rc;
}

static void ak_clear(struct swarm_ak *a)
{
	EVP_PKEY_free(a->key);
	memset(a, 0, sizeof *a);
}

void swarm_hosts_free(struct swarm *sw)
{
	https_server_free(sw->srv);
	sw->srv = NULL;
	for (unsigned i = 0; sw->hosts && i < sw->n; i++) {
		struct swarm_host *h = &sw->hosts[i];
		swarm_host_push_free(h);
		EVP_PKEY_free(h->ek_key);
		EVP_PKEY_free(h->tls.key);
		X509_free(h->tls.cert);
		free(h->ek_cert);
		ak_clear(&h->ak);
		ak_clear(&h->pending);
	}
	free(sw->hosts);
	sw->hosts = NULL;
	swarm_rsa_pool_free(sw->rsa);
	sw->rsa = NULL;
	EVP_PKEY_free(sw->ca_key);
	EVP_PKEY_free(sw->rogue_key);
	X509_free(sw->ca_cert);
	X509_free(sw->rogue_cert);
}
