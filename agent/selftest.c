/* attest-agent selftest: drives the TPM module step by step so integration
 * tests can check it against the reference tools (tpm2_makecredential,
 * tpm2_checkquote) on a simulated host. Not part of the documented CLI.
 *
 *   selftest info     --tcti T                 properties, EK certs, handles (JSON)
 *   selftest ak       --tcti T --dir D [--ek KIND] [--ecc]
 *        create the EK and a fresh AK; write D/ek.pub, D/ak.pub (TPM2B_PUBLIC),
 *        D/ak.priv (TPM2B_PRIVATE), D/ak.name (hex), D/ek.cert (DER, if any)
 *   selftest activate --tcti T --dir D --cred FILE [--ek KIND]
 *        reload that AK, activate a tpm2_makecredential output file, print
 *        the secret as hex
 * KIND: rsa2048, ecc-p256, rsa2048-h, ecc-p256-h, ecc-p384-h (default: the
 * first EK certificate found). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "err.h"
#include "fileio.h"
#include "hex.h"

#define SELFTEST_PATH_MAX 4096
#define CRED_FILE_MAX     4096u

static int kind_parse(const char *s)
{
	for (int k = 0; k < TPMDEV_EK_KIND_COUNT; k++)
		if (strcmp(s, tpmdev_ek_kind_name((enum tpmdev_ek_kind)k)) == 0)
			return k;
	return -2;
}

static int write_file(const char *dir, const char *name, const void *b, size_t n)
{
	char path[SELFTEST_PATH_MAX];
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
		return ATTEST_E_ARG;
	int rc = fileio_write_atomic(path, b, n, 0600);
	if (rc)
		fprintf(stderr, "attest-agent selftest: cannot write %s\n", path);
	return rc;
}

static int read_file(const char *dir, const char *name, uint8_t **b, size_t *n)
{
	char path[SELFTEST_PATH_MAX];
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
		return ATTEST_E_ARG;
	int rc = fileio_read(path, 4096, b, n);
	if (rc)
		fprintf(stderr, "attest-agent selftest: cannot read %s\n", path);
	return rc;
}

static int info(struct tpmdev *t)
{
	struct tpmdev_info in;
	int rc = tpmdev_info(t, &in);
	uint32_t tr = 0, se = 0;
	if (!rc)
		rc = tpmdev_loaded_counts(t, &tr, &se);
	if (rc)
		return rc;
	printf("{\"manufacturer\": \"%s\", \"vendor\": \"%s\", \"firmware\": \"%08x.%08x\", "
	       "\"revision\": %u, \"interface\": \"%s\", \"banks\": [",
	       in.manufacturer, in.vendor, in.firmware_version_1, in.firmware_version_2,
	       in.spec_revision, in.interface);
	for (uint32_t i = 0; i < in.bank_count; i++)
		printf("%s\"0x%04x\"", i ? ", " : "", in.banks[i]);
	printf("], \"ek_certificates\": [");
	bool first = true;
	for (int k = 0; k < TPMDEV_EK_KIND_COUNT; k++) {
		uint8_t *c = NULL;
		size_t n = 0;
		rc = tpmdev_nv_read(t, tpmdev_ek_cert_index((enum tpmdev_ek_kind)k), &c, &n);
		if (rc == ATTEST_E_NOTFOUND)
			continue;
		if (rc)
			return rc;
		printf("%s{\"kind\": \"%s\", \"bytes\": %zu}", first ? "" : ", ",
		       tpmdev_ek_kind_name((enum tpmdev_ek_kind)k), n);
		first = false;
		free(c);
	}
	printf("], \"transient_handles\": %u, \"sessions\": %u}\n", tr, se);
	return 0;
}

/* tpm2-tools' credential file: magic 0xBADCC0DE, version 1 (both 32-bit
 * big-endian), then TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET. */
static int split_cred(const uint8_t *b, size_t n, size_t *ret_id_len)
{
	if (n < 8 + 2 || b[0] != 0xBA || b[1] != 0xDC || b[2] != 0xC0 || b[3] != 0xDE)
		return ATTEST_E_FORMAT;
	size_t id = 2 + ((size_t)b[8] << 8 | b[9]);
	if (n - 8 < id + 2)
		return ATTEST_E_FORMAT;
	*ret_id_len = id;
	return 0;
}

int cmd_selftest(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"tcti", required_argument, NULL, 't'}, {"dir", required_argument, NULL, 'd'},
	    {"ek", required_argument, NULL, 'k'},   {"cred", required_argument, NULL, 'c'},
	    {"ecc", no_argument, NULL, 'e'},        {NULL, 0, NULL, 0}};
	if (argc < 2) {
		fprintf(stderr, "usage: attest-agent selftest info|ak|activate --tcti T ...\n");
		return 2;
	}
	const char *sub = argv[1], *tcti = NULL, *dir = NULL, *cred = NULL;
	int kind = -1, c;
	bool ecc = false;
	optind = 1;
	while ((c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
		switch (c) {
		case 't': tcti = optarg; break;
		case 'd': dir = optarg; break;
		case 'c': cred = optarg; break;
		case 'e': ecc = true; break;
		case 'k':
			kind = kind_parse(optarg);
			if (kind < 0) {
				fprintf(stderr, "attest-agent selftest: unknown EK kind \"%s\"\n",
				        optarg);
				return 2;
			}
			break;
		default: return 2;
		}
	}
	bool is_info = strcmp(sub, "info") == 0, is_ak = strcmp(sub, "ak") == 0,
	     is_act = strcmp(sub, "activate") == 0;
	if (!tcti || (!is_info && !is_ak && !is_act) || ((is_ak || is_act) && !dir) ||
	    (is_act && !cred)) {
		fprintf(stderr, "attest-agent selftest: bad arguments (see agent/selftest.c)\n");
		return 2;
	}

	char emsg[TPMDEV_ERRMSG_SIZE];
	struct tpmdev *t = NULL;
	int rc = tpmdev_open(tcti, &t, emsg);
	if (rc) {
		fprintf(stderr, "attest-agent selftest: %s\n", emsg);
		return 1;
	}
	int status = 1;
	uint8_t *cert = NULL, *pub = NULL, *priv = NULL, *cb = NULL, *secret = NULL;
	size_t cert_len = 0, pub_len = 0, priv_len = 0, cb_len = 0, secret_len = 0;
	enum tpmdev_ek_kind k;
	if (is_info) {
		rc = info(t);
		goto done;
	}
	rc = agent_ek_setup(t, kind, &cert, &cert_len, &k);
	if (rc)
		goto done;
	if (is_ak) {
		const uint8_t *p;
		size_t n;
		rc = tpmdev_ak_create(t, ecc ? TPMDEV_AK_ECC : TPMDEV_AK_RSA);
		if (rc)
			goto done;
		tpmdev_ek_public(t, &p, &n);
		if ((rc = write_file(dir, "ek.pub", p, n)))
			goto out;
		tpmdev_ak_public(t, &p, &n);
		if ((rc = write_file(dir, "ak.pub", p, n)))
			goto out;
		tpmdev_ak_private(t, &p, &n);
		if ((rc = write_file(dir, "ak.priv", p, n)))
			goto out;
		tpmdev_ak_name(t, &p, &n);
		char hex[2 * 70 + 2];
		if (n > 70)
			goto out;
		hex_encode(p, n, hex);
		if ((rc = write_file(dir, "ak.name", hex, strlen(hex))))
			goto out;
		if (cert && (rc = write_file(dir, "ek.cert", cert, cert_len)))
			goto out;
		printf("%s %s\n", tpmdev_ek_kind_name(k), tpmdev_ek_template_used(t));
		status = 0;
		goto out;
	}
	/* activate */
	if (read_file(dir, "ak.pub", &pub, &pub_len) || read_file(dir, "ak.priv", &priv, &priv_len))
		goto out;
	rc = tpmdev_ak_load(t, pub, pub_len, priv, priv_len);
	if (rc)
		goto done;
	size_t id_len = 0;
	if (fileio_read(cred, CRED_FILE_MAX, &cb, &cb_len) != 0 ||
	    split_cred(cb, cb_len, &id_len) != 0) {
		fprintf(stderr, "attest-agent selftest: %s is not a tpm2_makecredential file\n",
		        cred);
		goto out;
	}
	rc = tpmdev_activate_credential(t, cb + 8, id_len, cb + 8 + id_len, cb_len - 8 - id_len,
	                                &secret, &secret_len);
	if (rc)
		goto done;
	for (size_t i = 0; i < secret_len; i++)
		printf("%02x", secret[i]);
	printf("\n");
	status = 0;
	goto out;
done:
	if (rc)
		fprintf(stderr, "attest-agent selftest %s: %s\n", sub,
		        *tpmdev_last_error(t) ? tpmdev_last_error(t) : attest_strerror(rc));
	else
		status = 0;
out:
	tpmdev_close(t);
	free(cert);
	free(pub);
	if (priv)
		explicit_bzero(priv, priv_len);
	free(priv);
	free(cb);
	if (secret)
		explicit_bzero(secret, secret_len);
	free(secret);
	return status;
}
