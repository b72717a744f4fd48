/* Test driver for the verifier-side TPM code, used by the integration tests
 * against a real swtpm and tpm2-tools (never installed, never shipped).
 *
 *   evidence-tool name PUB                 print the Name of a TPM2B_PUBLIC file
 *   evidence-tool makecred EKPUB NAMEFILE SECRETHEX OUT
 *       TPM2_MakeCredential in software (lib/credential.c); OUT is in the
 *       file format tpm2_activatecredential reads (magic 0xBADCC0DE, version
 *       1, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET)
 *   evidence-tool ekcert CERT EKPUB|- CAFILE...
 *       verify an EK certificate against the CA files at the current time;
 *       prints the status code, message and TPM manufacturer/model/version
 *   evidence-tool akcheck PUB              AK attribute checks, one code per line
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "credential.h"
#include "ekcert.h"
#include "err.h"
#include "fileio.h"
#include "hex.h"
#include "quote.h"
#include "tpm.h"

static int load_pub(const char *path, TPMT_PUBLIC *pub)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	if (fileio_read(path, 4096, &buf, &len) < 0) {
		fprintf(stderr, "evidence-tool: cannot read %s\n", path);
		return -1;
	}
	struct diag err = {0};
	int e = tpm_public_decode(buf, len, pub, &err);
	free(buf);
	if (e < 0) {
		fprintf(stderr, "evidence-tool: %s: %s\n", path, err.message);
		return -1;
	}
	return 0;
}

static int cmd_name(const char *path)
{
	TPMT_PUBLIC pub;
	uint8_t name[TPM_NAME_MAX];
	size_t n = 0;
	char hex[2 * TPM_NAME_MAX + 1];
	if (load_pub(path, &pub) < 0 || tpm_public_name(&pub, name, &n) < 0)
		return 1;
	hex_encode(name, n, hex);
	printf("%s\n", hex);
	return 0;
}

static int cmd_makecred(const char *ekpath, const char *namepath, const char *secret_hex,
                        const char *out)
{
	TPMT_PUBLIC ek;
	if (load_pub(ekpath, &ek) < 0)
		return 1;
	uint8_t *name = NULL;
	size_t name_len = 0;
	if (fileio_read(namepath, 256, &name, &name_len) < 0) {
		fprintf(stderr, "evidence-tool: cannot read %s\n", namepath);
		return 1;
	}
	uint8_t secret[CREDENTIAL_MAX];
	size_t secret_len = 0;
	struct credential_out co;
	int rc = 1;
	if (hex_decode(secret_hex, secret, sizeof secret, &secret_len) < 0) {
		fprintf(stderr, "evidence-tool: bad secret hex\n");
		goto out;
	}
	int e = credential_make(&ek, name, name_len, secret, secret_len, &co);
	if (e < 0) {
		fprintf(stderr, "evidence-tool: credential_make: %s\n", attest_strerror(e));
		goto out;
	}
	uint8_t file[8 + CREDENTIAL_BLOB_MAX + CREDENTIAL_SECRET_MAX];
	static const uint8_t header[8] = {0xba, 0xdc, 0xc0, 0xde, 0, 0, 0, 1};
	memcpy(file, header, 8);
	memcpy(file + 8, co.blob, co.blob_len);
	memcpy(file + 8 + co.blob_len, co.secret, co.secret_len);
	if (fileio_write_atomic(out, file, 8 + co.blob_len + co.secret_len, 0600) < 0) {
		fprintf(stderr, "evidence-tool: cannot write %s\n", out);
		goto out;
	}
	rc = 0;
out:
	free(name);
	return rc;
}

static int cmd_ekcert(const char *certpath, const char *ekpath, int ncas, char **cas)
{
	TPMT_PUBLIC ek;
	bool have_ek = strcmp(ekpath, "-") != 0;
	if (have_ek && load_pub(ekpath, &ek) < 0)
		return 2;
	struct ekcert_store *store = NULL;
	if (ekcert_store_new(&store) < 0)
		return 2;
	for (int i = 0; i < ncas; i++) {
		uint8_t *buf = NULL;
		size_t len = 0;
		if (fileio_read(cas[i], EKCERT_MAX_SIZE, &buf, &len) < 0 ||
		    ekcert_store_add(store, buf, len, NULL) < 0) {
			fprintf(stderr, "evidence-tool: cannot load CA %s\n", cas[i]);
			free(buf);
			ekcert_store_free(store);
			return 2;
		}
		free(buf);
	}
	uint8_t *cert = NULL;
	size_t len = 0;
	if (fileio_read(certpath, EKCERT_MAX_SIZE, &cert, &len) < 0) {
		fprintf(stderr, "evidence-tool: cannot read %s\n", certpath);
		ekcert_store_free(store);
		return 2;
	}
	struct ekcert_info info;
	struct ekcert_result res;
	int e = ekcert_verify(store, cert, len, have_ek ? &ek : NULL, time(NULL), &info, &res);
	free(cert);
	ekcert_store_free(store);
	if (e < 0) {
		fprintf(stderr, "evidence-tool: ekcert_verify: %s\n", attest_strerror(e));
		return 2;
	}
	printf("%s: %s\n", ekcert_status_code(res.status), res.message);
	printf("manufacturer=%s (%s) model=%s version=%s strict_der=%d trailing=%zu key=%s\n",
	       info.manufacturer_id, info.manufacturer, info.model, info.version, info.strict_der,
	       info.trailing_bytes, info.key_type);
	return res.status == EKCERT_OK ? 0 : 1;
}

static int cmd_akcheck(const char *path)
{
	TPMT_PUBLIC pub;
	if (load_pub(path, &pub) < 0)
		return 2;
	struct quote_reasons rs;
	memset(&rs, 0, sizeof rs);
	quote_check_ak(&pub, &rs);
	for (size_t i = 0; i < rs.count; i++)
		printf("%s\n", quote_status_code(rs.list[i].status));
	return rs.count ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "name"))
		return cmd_name(argv[2]);
	if (argc == 6 && !strcmp(argv[1], "makecred"))
		return cmd_makecred(argv[2], argv[3], argv[4], argv[5]);
	if (argc >= 5 && !strcmp(argv[1], "ekcert"))
		return cmd_ekcert(argv[2], argv[3], argc - 4, argv + 4);
	if (argc == 3 && !strcmp(argv[1], "akcheck"))
		return cmd_akcheck(argv[2]);
	fprintf(stderr, "usage: evidence-tool name PUB | makecred EKPUB NAMEFILE SECRETHEX OUT |\n"
	                "       ekcert CERT EKPUB|- CAFILE... | akcheck PUB\n");
	return 2;
}
