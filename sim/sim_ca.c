/* The test EK CA: a self-signed RSA-2048 CA that swtpm_localca uses to sign
 * the simulated TPMs' EK certificates. Never the system CA under
 * /var/lib/swtpm-localca: tests run in parallel and must not share state
 * they did not ask for. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "fileio.h"
#include "sim.h"
#include "log.h"

#define CA_DAYS 3650

static int add_ext(X509 *cert, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ex)
		return ATTEST_E_CRYPTO;
	int ok = X509_add_ext(cert, ex, -1);
	X509_EXTENSION_free(ex);
	return ok ? 0 : ATTEST_E_CRYPTO;
}

/* PEM of a key or certificate into a malloc'd buffer via a memory BIO. */
static int write_pem(const char *path, BIO *b, unsigned mode)
{
	char *data = NULL;
	long n = BIO_get_mem_data(b, &data);
	if (n <= 0)
		return ATTEST_E_CRYPTO;
	return fileio_write_atomic(path, data, (size_t)n, mode);
}

static int create_ca(const char *ca_dir)
{
	int rc = ATTEST_E_CRYPTO;
	EVP_PKEY *key = EVP_RSA_gen(2048);
	X509 *cert = X509_new();
	BIO *kb = BIO_new(BIO_s_mem()), *cb = BIO_new(BIO_s_mem());
	if (!key || !cert || !kb || !cb)
		goto out;
	X509_NAME *name = X509_get_subject_name(cert);
	if (!X509_set_version(cert, 2) || !ASN1_INTEGER_set(X509_get_serialNumber(cert), 1) ||
	    !X509_gmtime_adj(X509_getm_notBefore(cert), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(cert), (long)CA_DAYS * 24 * 3600) ||
	    !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"attest",
	                                -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	                                (const unsigned char *)"attest-sim test EK CA", -1, -1,
	                                0) ||
	    !X509_set_issuer_name(cert, name) || !X509_set_pubkey(cert, key))
		goto out;
	if (add_ext(cert, NID_basic_constraints, "critical,CA:TRUE") ||
	    add_ext(cert, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    add_ext(cert, NID_subject_key_identifier, "hash"))
		goto out;
	if (!X509_sign(cert, key, EVP_sha256()))
		goto out;
	if (!PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) ||
	    !PEM_write_bio_X509(cb, cert))
		goto out;
	char p[SIM_PATH_MAX];
	if ((rc = sim_path(p, ca_dir, "ca-key.pem")) || (rc = write_pem(p, kb, 0600)) ||
	    (rc = sim_path(p, ca_dir, "certserial")) ||
	    (rc = fileio_write_atomic(p, "1\n", 2, 0644)) || (rc = sim_path(p, ca_dir, "ca.pem")) ||
	    (rc = write_pem(p, cb, 0644)))
		goto out;
	rc = 0;
out:
	EVP_PKEY_free(key);
	X509_free(cert);
	BIO_free(kb);
	BIO_free(cb);
	return rc;
}

int sim_ca_ensure(const char *ca_dir)
{
	if (mkdir(ca_dir, 0755) != 0 && errno != EEXIST) {
		log_error("cannot create %s: %s", ca_dir, strerror(errno));
		return ATTEST_E_IO;
	}
	char lock[SIM_PATH_MAX], pem[SIM_PATH_MAX];
	int rc = sim_path(lock, ca_dir, ".attest-sim.lock");
	if (!rc)
		rc = sim_path(pem, ca_dir, "ca.pem");
	if (rc)
		return rc;
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || flock(fd, LOCK_EX) != 0) {
		log_error("cannot lock %s: %s", lock, strerror(errno));
		if (fd >= 0)
			close(fd);
		return ATTEST_E_IO;
	}
	/* ca.pem is written last, so its presence means a complete CA. */
	if (access(pem, R_OK) != 0) {
		rc = create_ca(ca_dir);
		if (rc)
			log_error("cannot create the test CA in %s", ca_dir);
	}
	close(fd);
	return rc;
}
