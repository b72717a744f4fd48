/* attestctl verify BUNDLE [--nonce HEX] [--json]
 * attestctl verify --audit FILE --record SEQ [--json] (audit.c) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bundle.h"
#include "cli.h"
#include "client.h"
#include "err.h"
#include "fileio.h"
#include "hex.h"
#include "tpm.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: attestctl verify BUNDLE [--nonce HEX] [--json]\n"
	        "       attestctl verify --audit FILE --record SEQ [--json]\n"
	        "\n"
	        "Verifies an evidence bundle (from 'attest-agent evidence'; '-' reads stdin):\n"
	        "the AK's attributes, the quote's signature by the bundle's AK, magic and type,\n"
	        "extraData = SHA-256(nonce || SHA-256(metadata)), the PCR digest over the\n"
	        "reported values, and the event log replayed against every quoted PCR.\n"
	        "  --nonce HEX  the nonce you asked for: the bundle must answer it (freshness)\n"
	        "  --json       print {\"verified\", \"reasons\", \"pcrs\", \"clock\", ...}\n"
	        "With --audit, re-checks the verdict record SEQ of an 'attestctl audit export'\n"
	        "file offline: the chain from the file's first record to SEQ (hashes, seqs,\n"
	        "links), then the evidence the verdict was judged from, as above (signature\n"
	        "by the enrolled AK, nonce binding, PCR digest, event log replay, the log\n"
	        "matching its SHA-256).\n"
	        "Exit status: 0 verified, 1 not verified or unreadable, 2 usage error.\n"
	        "Every failure is printed with its reason code and the evidence that failed.\n");
}

static json_t *pcrs_json(const struct quote_pcrs *p)
{
	json_t *o = json_object();
	for (uint32_t i = 0; o && i < p->bank_count; i++) {
		const struct quote_pcr_bank *b = &p->banks[i];
		const char *name = bundle_bank_name(b->alg);
		json_t *bank = json_object();
		for (unsigned idx = 0; bank && idx < QUOTE_NUM_PCRS; idx++) {
			if (!(b->present & (1u << idx)))
				continue;
			char hex[QUOTE_HEX_MAX], key[4];
			hex_encode(b->value[idx], b->size, hex);
			snprintf(key, sizeof key, "%u", idx);
			json_object_set_new(bank, key, json_string(hex));
		}
		json_object_set_new(o, name ? name : "unknown", bank);
	}
	return o;
}

static json_t *reason_json(const struct quote_reason *r)
{
	json_t *o =
	    json_pack("{s:s, s:s}", "code", quote_status_code(r->status), "message", r->message);
	if (!o)
		return NULL;
	if (r->pcr >= 0)
		json_object_set_new(o, "pcr", json_integer(r->pcr));
	if (r->alg && bundle_bank_name(r->alg))
		json_object_set_new(o, "bank", json_string(bundle_bank_name(r->alg)));
	if (r->expected[0])
		json_object_set_new(o, "expected", json_string(r->expected));
	if (r->actual[0])
		json_object_set_new(o, "actual", json_string(r->actual));
	return o;
}

static void print_json(const struct bundle *b, const struct bundle_result *res)
{
	json_t *reasons = json_array();
	for (size_t i = 0; i < res->reasons.count; i++)
		json_array_append_new(reasons, reason_json(&res->reasons.list[i]));
	json_t *o = json_object();
	json_object_set_new(o, "verified", json_boolean(res->reasons.count == 0));
	json_object_set_new(o, "reasons", reasons);
	if (res->reasons.dropped)
		json_object_set_new(o, "reasons_dropped",
		                    json_integer((json_int_t)res->reasons.dropped));
	json_object_set_new(o, "pcrs", pcrs_json(&b->pcrs));
	if (res->quote.decoded) {
		const TPMS_CLOCK_INFO *c = &res->quote.clock;
		json_object_set_new(o, "clock",
		                    json_pack("{s:I, s:I, s:I, s:b}", "clock", (json_int_t)c->clock,
		                              "reset_count", (json_int_t)c->resetCount,
		                              "restart_count", (json_int_t)c->restartCount, "safe",
		                              c->safe ? 1 : 0));
		char fw[17];
		snprintf(fw, sizeof fw, "%016llx", (unsigned long long)res->quote.firmware_version);
		json_object_set_new(o, "firmware_version", json_string(fw));
	}
	if (res->ak_decoded) {
		char name[2 * TPM_NAME_MAX + 1];
		hex_encode(res->ak_name, res->ak_name_len, name);
		json_object_set_new(o, "ak_name", json_string(name));
	}
	json_object_set_new(o, "eventlog_replayed", json_boolean(res->replayed));
	char *s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (s)
		printf("%s\n", s);
	free(s);
	json_decref(o);
}

static void print_text(const struct bundle_result *res)
{
	if (res->reasons.count == 0) {
		printf("verified: quote signed by AK %s", res->ak_decoded ? "" : "?");
		for (size_t i = 0; i < res->ak_name_len; i++)
			printf("%02x", res->ak_name[i]);
		printf(", resetCount %u, restartCount %u; event log replays to the quoted PCRs\n",
		       res->quote.clock.resetCount, res->quote.clock.restartCount);
		return;
	}
	printf("NOT verified: %zu reason(s)\n", res->reasons.count + res->reasons.dropped);
	for (size_t i = 0; i < res->reasons.count; i++) {
		const struct quote_reason *r = &res->reasons.list[i];
		client_line(stdout, "%s: %s", quote_status_code(r->status), r->message);
		if (r->pcr >= 0)
			printf("  pcr: %d (%s)\n", r->pcr,
			       bundle_bank_name(r->alg) ? bundle_bank_name(r->alg) : "?");
		if (r->expected[0])
			client_line(stdout, "  expected: %s", r->expected);
		if (r->actual[0])
			client_line(stdout, "  actual:   %s", r->actual);
	}
}

int cmd_verify(int argc, char **argv)
{
	const char *path = NULL, *nonce_hex = NULL, *audit = NULL, *record = NULL;
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--nonce")) {
			if (++i >= argc) {
				usage(stderr);
				return 2;
			}
			nonce_hex = argv[i];
		} else if (!strcmp(argv[i], "--audit") || !strcmp(argv[i], "--record")) {
			if (i + 1 >= argc) {
				usage(stderr);
				return 2;
			}
			*(argv[i][2] == 'a' ? &audit : &record) = argv[i + 1];
			i++;
		} else if (!path && (argv[i][0] != '-' || !strcmp(argv[i], "-"))) {
			path = argv[i];
		} else {
			fprintf(stderr, "attestctl verify: unexpected argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (audit || record) {
		if (!audit || !record || path || nonce_hex) {
			fprintf(stderr,
			        "attestctl verify: --audit FILE and --record SEQ go together, "
			        "without a BUNDLE or --nonce\n");
			return 2;
		}
		return audit_recheck(audit, record, json);
	}
	if (!path) {
		usage(stderr);
		return 2;
	}
	uint8_t nonce[EVIDENCE_NONCE_MAX];
	size_t nonce_len = 0;
	if (nonce_hex && (hex_decode(nonce_hex, nonce, sizeof nonce, &nonce_len) < 0 ||
	                  nonce_len < EVIDENCE_NONCE_MIN)) {
		fprintf(stderr, "attestctl verify: --nonce must be %u to %u bytes of hex\n",
		        EVIDENCE_NONCE_MIN, EVIDENCE_NONCE_MAX);
		return 2;
	}
	uint8_t *buf = NULL;
	size_t len = 0;
	int e = fileio_read(path, BUNDLE_MAX_SIZE, &buf, &len);
	if (e < 0) {
		client_line(stderr, "attestctl verify: %s: %s", path,
		            e == ATTEST_E_IO ? strerror(errno) : attest_strerror(e));
		return 1;
	}
	struct bundle *b = NULL;
	struct diag berr = {0};
	e = bundle_parse(buf, len, &b, &berr);
	free(buf);
	if (e < 0) {
		if (json) {
			json_t *o = json_pack("{s:b, s:[{s:s, s:s}]}", "verified", 0, "reasons",
			                      "code", "BUNDLE_MALFORMED", "message", berr.message);
			char *s = o ? json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
			if (s)
				printf("%s\n", s);
			free(s);
			json_decref(o);
		} else {
			printf("NOT verified: 1 reason(s)\n");
			client_line(stdout, "BUNDLE_MALFORMED: %s", berr.message);
		}
		return 1;
	}
	struct bundle_result *res = calloc(1, sizeof *res);
	if (!res) {
		bundle_free(b);
		fprintf(stderr, "attestctl verify: out of memory\n");
		return 1;
	}
	e = bundle_verify(b, NULL, nonce_hex ? nonce : NULL, nonce_len, res);
	int status = 1;
	if (e < 0) {
		fprintf(stderr, "attestctl verify: cannot verify: %s\n", attest_strerror(e));
	} else {
		if (json)
			print_json(b, res);
		else
			print_text(res);
		status = res->reasons.count == 0 ? 0 : 1;
	}
	free(res);
	bundle_free(b);
	return status;
}
