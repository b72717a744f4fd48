/* attest-agent ek: what an operator needs to onboard a TPM without an EK
 * certificate (docs/operations.md). Prints the EK the agent uses and its key
 * hash, the value `attestctl host add --ek` takes:
 *
 *   ek_kind rsa2048
 *   ek_certificate 0x01c00002        (or "none")
 *   ek_handle 0x81010001             (or "transient")
 *   ek_sha256 SHA256:<64 hex>
 *
 * The hash is SHA-256 over the DER SubjectPublicKeyInfo of the EK public
 * key (ekcert_key_sha256), so it can also be computed from the EK
 * certificate or public key with openssl. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "agent.h"
#include "ekcert.h"
#include "err.h"

#define DEFAULT_TCTI "device:/dev/tpmrm0"

static void usage(FILE *f)
{
	fprintf(f, "usage: attest-agent ek [--tcti TCTI]\n"
	           "\n"
	           "Print the EK this host's agent uses and its key hash (SHA-256 of the EK's\n"
	           "DER SubjectPublicKeyInfo) for 'attestctl host add ADDR:PORT --ek SHA256:HEX'\n"
	           "when the TPM holds no EK certificate. Changes nothing in the TPM.\n"
	           "\n"
	           "  --tcti TCTI   the TPM (default " DEFAULT_TCTI ")\n");
}

int cmd_ek(int argc, char **argv)
{
	static const struct option opts[] = {{"tcti", required_argument, NULL, 't'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	const char *tcti = DEFAULT_TCTI;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't': tcti = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	char emsg[TPMDEV_ERRMSG_SIZE];
	struct tpmdev *t = NULL;
	if (tpmdev_open(tcti, &t, emsg) != 0) {
		fprintf(stderr, "attest-agent ek: %s\n", emsg);
		return 1;
	}
	uint8_t *cert = NULL;
	size_t cert_len = 0;
	enum tpmdev_ek_kind kind;
	int rc = agent_ek_setup(t, -1, &cert, &cert_len, &kind);
	const uint8_t *pub = NULL;
	size_t pub_len = 0;
	TPM2B_PUBLIC p;
	memset(&p, 0, sizeof p);
	size_t off = 0;
	uint8_t hash[32];
	if (rc == 0 && (tpmdev_ek_public(t, &pub, &pub_len) != 0 ||
	                Tss2_MU_TPM2B_PUBLIC_Unmarshal(pub, pub_len, &off, &p) != TSS2_RC_SUCCESS ||
	                ekcert_key_sha256(&p.publicArea, hash) != 0))
		rc = ATTEST_E_FORMAT;
	if (rc) {
		fprintf(stderr, "attest-agent ek: %s\n",
		        rc == ATTEST_E_FORMAT ? "cannot read the EK's public key"
		                              : tpmdev_last_error(t));
		free(cert);
		tpmdev_close(t);
		return 1;
	}
	char text[72];
	ekcert_key_sha256_text(hash, text);
	printf("ek_kind %s\n", tpmdev_ek_kind_name(kind));
	if (cert)
		printf("ek_certificate 0x%08x\n", (unsigned)tpmdev_ek_cert_index(kind));
	else
		printf("ek_certificate none\n");
	if (tpmdev_ek_handle(t))
		printf("ek_handle 0x%08x\n", (unsigned)tpmdev_ek_handle(t));
	else
		printf("ek_handle transient\n");
	printf("ek_sha256 %s\n", text);
	free(cert);
	tpmdev_close(t);
	return 0;
}
