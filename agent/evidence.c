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
	fprintf(f,
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
		"  --pcrs SELECTION   PCRs to quote, e.g. sha256:0-7,14+sha1:0 (default sha256:0-7)\n"
		"  --ecc              ECC P-256 AK (default RSA-2048)\n"
		"\n"
		"qualifyingData = SHA-256(nonce || SHA-256(canonical metadata JSON)).\n"
		"Exit status: 0 printed, 1 failed (reason on stderr), 2 usage error.\n",
		EVIDENCE_NONCE_MIN, EVIDENCE_NONCE_MAX);
}

static const char *bank_name(uint16_t alg)
{
	switch (alg) {
	case 0x0004: return "sha1";
	case 0x000B: return "sha256";
	case 0x000C: return "sha384";
	case 0x000D: return "sha512";
	default: return "unknown";
	}
}

static int put_b64(json_t *o, const char *key, const uint8_t *b, size_t n)
{
	char *s = b64enc(b, n);
	if (!s)
		return ATTEST_E_NOMEM;
	int rc = json_object_set_new(o, key, json_string(s)) == 0 ? 0 : ATTEST_E_NOMEM;
	free(s);
	return rc;
}

static json_t *pcrs_json(const struct agent_tpm_pcr_values *v)
{
	json_t *o = json_object();
	for (uint32_t b = 0; o && b < v->count; b++) {
		json_t *bank = json_object();
		if (!bank || json_object_set_new(o, bank_name(v->banks[b].alg), bank) != 0)
			goto err;
		for (unsigned p = 0; p < AGENT_TPM_NUM_PCRS; p++) {
			if (!(v->banks[b].mask & (1u << p)))
				continue;
			char hex[2 * AGENT_TPM_DIGEST_MAX + 1], idx[4];
			hex_encode(v->banks[b].pcr[p], v->banks[b].size, hex);
			snprintf(idx, sizeof idx, "%u", p);
			if (json_object_set_new(bank, idx, json_string(hex)) != 0)
				goto err;
		}
	}
	return o;
err:
	json_decref(o);
	return NULL;
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
	const char *tcti = NULL, *logpath = NULL, *nonce_hex = NULL, *pcrs = "sha256:0-7";
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
		fprintf(stderr, "attest-agent evidence: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (!tcti || !logpath || !nonce_hex) {
		fprintf(stderr, "attest-agent evidence: --tcti, --eventlog and --nonce are required\n");
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
	struct agent_tpm_pcr_selection sel;
	if (agent_tpm_pcr_selection_parse(pcrs, &sel) != 0) {
		fprintf(stderr,
			"attest-agent evidence: --pcrs \"%s\": expected e.g. sha256:0-7,14+sha1:0 "
			"(banks sha1/sha256/sha384/sha512, PCRs 0-23)\n",
			pcrs);
		return 2;
	}

	int status = 1;
	uint8_t *log = NULL, *cert = NULL, *attest = NULL, *sig = NULL;
	size_t log_len = 0, cert_len = 0, attest_len = 0, sig_len = 0;
	json_t *meta = NULL, *out = NULL;
	char *canon = NULL, *text = NULL;
	struct agent_tpm *t = NULL;
	struct agent_tpm_pcr_values *vals = calloc(1, sizeof *vals);
	if (!vals) {
		fprintf(stderr, "attest-agent evidence: out of memory\n");
		return 1;
	}

	rc = fileio_read(logpath, EVENTLOG_MAX_SIZE, &log, &log_len);
	if (rc) {
		fprintf(stderr, "attest-agent evidence: cannot read event log %s: %s\n", logpath,
			rc == ATTEST_E_LIMIT ? "larger than the cap"
			: rc == ATTEST_E_IO  ? strerror(errno)
					     : attest_strerror(rc));
		goto out;
	}
	uint8_t qd[EVIDENCE_QUALIFYING_SIZE];
	rc = agent_metadata(&meta);
	if (!rc)
		rc = evidence_metadata_canonical(meta, &canon);
	if (!rc)
		rc = evidence_qualifying_data(nonce, nonce_len, (const uint8_t *)canon, strlen(canon),
					      qd);
	if (rc) {
		fprintf(stderr, "attest-agent evidence: metadata: %s\n", attest_strerror(rc));
		goto out;
	}

	char emsg[AGENT_TPM_ERRMSG_SIZE];
	rc = agent_tpm_open(tcti, &t, emsg);
	if (rc) {
		fprintf(stderr, "attest-agent evidence: %s\n", emsg);
		goto out;
	}
	enum agent_tpm_ek_kind kind;
	rc = agent_ek_setup(t, -1, &cert, &cert_len, &kind);
	if (!rc)
		rc = agent_tpm_ak_create(t, ecc ? AGENT_TPM_AK_ECC : AGENT_TPM_AK_RSA);
	if (!rc)
		rc = agent_tpm_quote(t, &sel, qd, sizeof qd, &attest, &attest_len, &sig, &sig_len,
				     vals);
	if (rc) {
		fprintf(stderr, "attest-agent evidence: %s\n", agent_tpm_last_error(t));
		goto out;
	}
	const uint8_t *akpub;
	size_t akpub_len;
	agent_tpm_ak_public(t, &akpub, &akpub_len);

	out = json_object();
	json_t *pj = pcrs_json(vals);
	if (!out || !pj || put_b64(out, "ak_public", akpub, akpub_len) ||
	    put_b64(out, "quote", attest, attest_len) || put_b64(out, "signature", sig, sig_len) ||
	    json_object_set_new(out, "pcrs", pj) != 0) {
		json_decref(pj);
		goto nomem;
	}
	char nhex[2 * EVIDENCE_NONCE_MAX + 1];
	hex_encode(nonce, nonce_len, nhex);
	if (json_object_set_new(out, "nonce", json_string(nhex)) != 0 ||
	    json_object_set(out, "metadata", meta) != 0 || put_b64(out, "eventlog", log, log_len))
		goto nomem;
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
	agent_tpm_close(t);
	free(text);
	free(canon);
	json_decref(out);
	json_decref(meta);
	free(log);
	free(cert);
	free(attest);
	free(sig);
	free(vals);
	return status;
}
