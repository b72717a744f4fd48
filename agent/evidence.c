/* attest-agent evidence: one quote, printed as an evidence bundle
 * (docs/protocol.md, "Evidence bundle"). For scripts, audits and tests; the
 * daemon answers POST /v1/quote with the same fields. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "b64enc.h"
#include "err.h"
#include "eventlog.h"
#include "evidence.h"
#include "fileio.h"
#include "hex.h"

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: attest-agent evidence --tcti TCTI --eventlog FILE --nonce HEX\n"
	    "                             [--pcrs SELECTION] [--ecc]\n"
	    "\n"
	    "Create a fresh AK under the TPM's EK, quote the PCRs over the nonce and this\n"
	    "host's metadata, and print the evidence bundle (JSON) on stdout.\n"
	    "\n"
	    "  --tcti TCTI        the TPM: device:/dev/tpmrm0, swtpm:host=127.0.0.1,port=P\n"
	    "  --eventlog FILE    the measured-boot event log to send (e.g.\n"
	    "                     /sys/kernel/security/tpm0/binary_bios_measurements)\n"
	    "  --nonce HEX        the verifier's nonce, %u to %u bytes\n"
	    "  --pcrs SELECTION   PCRs to quote, e.g. sha256:0-7,14+sha1:0 (default sha256:0-9)\n"
	    "  --ecc              ECC P-256 AK (default RSA-2048)\n"
	    "\n"
	    "qualifyingData = SHA-256(nonce || SHA-256(canonical metadata JSON)).\n"
	    "Exit status: 0 printed, 1 failed (reason on stderr), 2 usage error.\n",
	    EVIDENCE_NONCE_MIN, EVIDENCE_NONCE_MAX);
}

int cmd_evidence(int argc, char **argv)
{
	static const struct option opts[] = {{"tcti", required_argument, NULL, 't'},
	                                     {"eventlog", required_argument, NULL, 'e'},
	                                     {"nonce", required_argument, NULL, 'n'},
	                                     {"pcrs", required_argument, NULL, 'p'},
	                                     {"ecc", no_argument, NULL, 'c'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	const char *tcti = NULL, *logpath = NULL, *nonce_hex = NULL, *pcrs = "sha256:0-9";
	bool ecc = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't': tcti = optarg; break;
		case 'e': logpath = optarg; break;
		case 'n': nonce_hex = optarg; break;
		case 'p': pcrs = optarg; break;
		case 'c': ecc = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "attest-agent evidence: unexpected argument \"%s\"\n",
		        argv[optind]);
		return 2;
	}
	if (!tcti || !logpath || !nonce_hex) {
		fprintf(stderr,
		        "attest-agent evidence: --tcti, --eventlog and --nonce are required\n");
		usage(stderr);
		return 2;
	}
	uint8_t nonce[EVIDENCE_NONCE_MAX];
	size_t nonce_len = 0;
	int rc = hex_decode(nonce_hex, nonce, sizeof nonce, &nonce_len);
	if (rc || nonce_len < EVIDENCE_NONCE_MIN) {
		fprintf(stderr,
		        "attest-agent evidence: --nonce \"%s\" is not %u to %u bytes of hex\n",
		        nonce_hex, EVIDENCE_NONCE_MIN, EVIDENCE_NONCE_MAX);
		return 2;
	}
	struct pcrsel sel;
	if (pcrsel_parse(pcrs, &sel) != 0) {
		fprintf(stderr,
		        "attest-agent evidence: --pcrs \"%s\": expected e.g. sha256:0-7,14+sha1:0 "
		        "(banks sha1/sha256/sha384/sha512, PCRs 0-23)\n",
		        pcrs);
		return 2;
	}

	int status = 1;
	uint8_t *log = NULL, *cert = NULL;
	size_t log_len = 0, cert_len = 0;
	json_t *meta = NULL, *out = NULL;
	char *text = NULL;
	struct tpmdev *t = NULL;

	rc = fileio_read(logpath, EVENTLOG_MAX_SIZE, &log, &log_len);
	if (rc) {
		fprintf(stderr, "attest-agent evidence: cannot read event log %s: %s\n", logpath,
		        rc == ATTEST_E_LIMIT ? "larger than the cap"
		        : rc == ATTEST_E_IO  ? strerror(errno)
		                             : attest_strerror(rc));
		goto out;
	}
	rc = agent_metadata(&meta);
	if (rc) {
		fprintf(stderr, "attest-agent evidence: metadata: %s\n", attest_strerror(rc));
		goto out;
	}

	char emsg[TPMDEV_ERRMSG_SIZE];
	rc = tpmdev_open(tcti, &t, emsg);
	if (rc) {
		fprintf(stderr, "attest-agent evidence: %s\n", emsg);
		goto out;
	}
	enum tpmdev_ek_kind kind;
	rc = agent_ek_setup(t, -1, &cert, &cert_len, &kind);
	if (!rc)
		rc = tpmdev_ak_create(t, ecc ? TPMDEV_AK_ECC : TPMDEV_AK_RSA);
	if (!rc)
		rc = agent_evidence_bundle(t, &sel, nonce, nonce_len, meta, log, log_len, &out,
		                           NULL);
	if (rc == ATTEST_E_NOMEM)
		goto nomem;
	if (rc) {
		fprintf(stderr, "attest-agent evidence: %s\n", tpmdev_last_error(t));
		goto out;
	}
	text = json_dumps(out, JSON_INDENT(2));
	if (!text)
		goto nomem;
	if (printf("%s\n", text) < 0 || fflush(stdout) != 0) {
		fprintf(stderr, "attest-agent evidence: cannot write stdout\n");
		goto out;
	}
	status = 0;
	goto out;
nomem:
	fprintf(stderr, "attest-agent evidence: out of memory\n");
out:
	tpmdev_close(t);
	free(text);
	json_decref(out);
	json_decref(meta);
	free(log);
	free(cert);
	return status;
}
