/* attestctl eventlog show|replay|facts FILE [--json] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "client.h"
#include "err.h"
#include "eventlog.h"
#include "eventlog_facts.h"
#include "fileio.h"
#include "hex.h"

#define DESCRIBE_CAP 4096

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: attestctl eventlog show FILE [--json]\n"
	        "       attestctl eventlog replay FILE [--json]\n"
	        "       attestctl eventlog facts FILE [--json]\n"
	        "\n"
	        "Inspect a TCG measured-boot event log (crypto-agile or legacy SHA-1), e.g.\n"
	        "/sys/kernel/security/tpm0/binary_bios_measurements. FILE '-' reads stdin.\n"
	        "  show    one line per event: number, PCR, type, digest per bank, decoded data\n"
	        "  replay  the PCR values the log computes, per bank\n"
	        "  facts   Secure Boot state, PK/KEK/db/dbx, firmware, boot applications,\n"
	        "          kernel, and the content checks (digest = hash of the data)\n"
	        "Exit status: 0 ok, 1 the log could not be read or parsed, 2 usage error.\n");
}

static void sub_usage(FILE *f, const char *sub)
{
	if (!strcmp(sub, "show"))
		fprintf(f, "usage: attestctl eventlog show FILE [--json]\n"
		           "One line per event: number, PCR, type name, digest per bank and the\n"
		           "decoded event data. --json prints the whole parsed log, with each\n"
		           "event's data in hex, its summary and its content check.\n");
	else if (!strcmp(sub, "replay"))
		fprintf(
		    f,
		    "usage: attestctl eventlog replay FILE [--json]\n"
		    "Replays the log: every PCR starts at zero (PCR 0 at the StartupLocality,\n"
		    "or 4 with an H-CRTM event), EV_NO_ACTION is skipped. --json prints\n"
		    "{\"<bank>\": {\"<pcr>\": \"<hex>\", ...}, ...} for every bank of the log and\n"
		    "every PCR it extends.\n");
	else
		fprintf(f,
		        "usage: attestctl eventlog facts FILE [--json]\n"
		        "What the log says: Secure Boot (enabled/disabled/unknown), PK/KEK/db/dbx\n"
		        "entry counts, firmware versions, boot applications, kernel and command\n"
		        "line, plus every event whose digest is not the hash of its data. A\n"
		        "fact is taken only from events whose content check passed.\n");
}

static int load(const char *path, struct eventlog **ret)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int e = fileio_read(path, EVENTLOG_MAX_SIZE, &buf, &len);
	if (e == ATTEST_E_LIMIT) {
		fprintf(stderr, "attestctl: %s: larger than the %u-byte event log cap\n", path,
		        EVENTLOG_MAX_SIZE);
		return 1;
	}
	if (e < 0) {
		fprintf(stderr, "attestctl: %s: %s\n", path, strerror(errno));
		return 1;
	}
	struct diag err;
	e = eventlog_parse(buf, len, ret, &err);
	free(buf);
	if (e < 0) {
		client_line(stderr, "attestctl: %s: %s: %s", path,
		            err.message[0] ? err.message : "parse failed", attest_strerror(e));
		return 1;
	}
	return 0;
}

static const char *bank_name(uint16_t alg, char tmp[8])
{
	const char *n = eventlog_alg_name(alg);
	if (n)
		return n;
	snprintf(tmp, 8, "0x%04x", alg);
	return tmp;
}

static json_t *hex_json(const uint8_t *p, size_t n)
{
	char *s = malloc(2 * n + 1);
	if (!s)
		return NULL;
	hex_encode(p, n, s);
	json_t *j = json_string(s);
	free(s);
	return j;
}

static const char *check_name(uint8_t st)
{
	switch (st) {
	case EVENTLOG_CHECK_PASS: return "pass";
	case EVENTLOG_CHECK_FAIL: return "FAIL";
	case EVENTLOG_CHECK_UNVERIFIABLE: return "unverifiable";
	default: return "none";
	}
}

/* json_dumpf + newline; returns the exit status. */
static int print_json(json_t *j)
{
	if (!j) {
		fprintf(stderr, "attestctl: out of memory\n");
		return 1;
	}
	int rc = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 ? 0 : 1;
	fputc('\n', stdout);
	json_decref(j);
	return rc;
}

static json_t *digests_json(const struct eventlog_event *ev)
{
	json_t *d = json_object();
	for (uint32_t k = 0; d && k < ev->digest_count; k++) {
		char tmp[8];
		json_object_set_new(d, bank_name(ev->digests[k].alg, tmp),
		                    hex_json(ev->digests[k].bytes, ev->digests[k].size));
	}
	return d;
}

static int do_show(const struct eventlog *log, bool json)
{
	struct eventlog_checks *checks = NULL;
	int e = eventlog_content_check(log, &checks);
	if (e < 0) {
		fprintf(stderr, "attestctl: content check: %s\n", attest_strerror(e));
		return 1;
	}
	char *desc = malloc(DESCRIBE_CAP);
	if (!desc) {
		eventlog_checks_free(checks);
		return 1;
	}
	int rc = 0;
	if (json) {
		json_t *root = json_object();
		json_t *banks = json_array();
		json_t *events = json_array();
		json_object_set_new(root, "format",
		                    json_string(log->format == EVENTLOG_FORMAT_CRYPTO_AGILE
		                                    ? "crypto-agile"
		                                    : "legacy-sha1"));
		for (uint32_t b = 0; b < log->bank_count; b++) {
			char tmp[8];
			json_array_append_new(banks, json_pack("{s:s, s:i}", "alg",
			                                       bank_name(log->banks[b].alg, tmp),
			                                       "size", (int)log->banks[b].size));
		}
		json_object_set_new(root, "banks", banks);
		json_object_set_new(root, "startup_locality",
		                    log->has_startup_locality ? json_integer(log->startup_locality)
		                                              : json_null());
		json_object_set_new(root, "hcrtm", json_boolean(log->has_hcrtm));
		json_object_set_new(root, "trailing_bytes",
		                    json_integer((json_int_t)log->trailing_bytes));
		for (size_t i = 0; i < log->event_count; i++) {
			const struct eventlog_event *ev = &log->events[i];
			eventlog_event_describe(ev, desc, DESCRIBE_CAP);
			json_t *je = json_object();
			json_object_set_new(je, "number", json_integer(ev->number));
			json_object_set_new(je, "offset", json_integer((json_int_t)ev->offset));
			json_object_set_new(je, "pcr",
			                    ev->pcr == EVENTLOG_PCR_NONE ? json_integer(-1)
			                                                 : json_integer(ev->pcr));
			json_object_set_new(je, "type", json_integer(ev->type));
			json_object_set_new(je, "type_name",
			                    json_string(eventlog_type_name(ev->type)));
			json_object_set_new(je, "digests", digests_json(ev));
			json_object_set_new(je, "data", hex_json(ev->data, ev->data_len));
			json_object_set_new(je, "summary", json_string(desc));
			json_object_set_new(je, "content_check",
			                    json_string(check_name(checks->status[i])));
			json_array_append_new(events, je);
		}
		json_object_set_new(root, "events", events);
		rc = print_json(root);
	} else {
		printf("format %s, banks", log->format == EVENTLOG_FORMAT_CRYPTO_AGILE
		                               ? "crypto-agile"
		                               : "legacy-sha1");
		for (uint32_t b = 0; b < log->bank_count; b++) {
			char tmp[8];
			printf(" %s", bank_name(log->banks[b].alg, tmp));
		}
		printf(", %zu events", log->event_count);
		if (log->trailing_bytes)
			printf(", %zu bytes of trailing padding", log->trailing_bytes);
		printf("\n");
		char hexbuf[2 * EVENTLOG_MAX_DIGEST + 1];
		for (size_t i = 0; i < log->event_count; i++) {
			const struct eventlog_event *ev = &log->events[i];
			eventlog_event_describe(ev, desc, DESCRIBE_CAP);
			if (ev->pcr == EVENTLOG_PCR_NONE)
				printf("%4u PCR  - %-32s", ev->number,
				       eventlog_type_name(ev->type));
			else
				printf("%4u PCR %2u %-32s", ev->number, ev->pcr,
				       eventlog_type_name(ev->type));
			for (uint32_t k = 0; k < ev->digest_count; k++) {
				char tmp[8];
				hex_encode(ev->digests[k].bytes, ev->digests[k].size, hexbuf);
				printf(" %s:%s", bank_name(ev->digests[k].alg, tmp), hexbuf);
			}
			client_line(stdout, " %s%s", desc,
			            checks->status[i] == EVENTLOG_CHECK_FAIL ? " [CONTENT MISMATCH]"
			                                                     : "");
		}
	}
	free(desc);
	eventlog_checks_free(checks);
	return rc;
}

static int do_replay(const struct eventlog *log, bool json)
{
	struct eventlog_pcrs pcrs;
	int e = eventlog_replay(log, &pcrs);
	if (e < 0) {
		fprintf(stderr, "attestctl: replay: %s\n", attest_strerror(e));
		return 1;
	}
	json_t *root = json ? json_object() : NULL;
	char hexbuf[2 * EVENTLOG_MAX_DIGEST + 1];
	for (uint32_t b = 0; b < pcrs.bank_count; b++) {
		const struct eventlog_pcr_bank *pb = &pcrs.banks[b];
		char tmp[8];
		const char *name = bank_name(pb->alg, tmp);
		if (!eventlog_alg_name(pb->alg) || !pb->touched) {
			bool touched_any = false;
			for (size_t i = 0; i < log->event_count; i++)
				if (log->events[i].type != EV_NO_ACTION &&
				    log->events[i].pcr < EVENTLOG_NUM_PCRS)
					touched_any = true;
			if (touched_any)
				fprintf(stderr,
				        "attestctl: bank %s cannot be computed here; skipped\n",
				        name);
			if (!touched_any && json)
				json_object_set_new(root, name, json_object());
			continue;
		}
		json_t *jb = json ? json_object() : NULL;
		if (!json)
			printf("%s:\n", name);
		for (uint32_t i = 0; i < EVENTLOG_NUM_PCRS; i++) {
			if (!(pb->touched & (1u << i)))
				continue;
			hex_encode(pb->pcr[i], pb->size, hexbuf);
			if (json) {
				char key[12];
				snprintf(key, sizeof key, "%u", i);
				json_object_set_new(jb, key, json_string(hexbuf));
			} else {
				printf("  %2u: %s\n", i, hexbuf);
			}
		}
		if (json)
			json_object_set_new(root, name, jb);
	}
	return json ? print_json(root) : 0;
}

static json_t *sigdb_json(const struct eventlog *log, const struct eventlog_sigdb *s)
{
	if (!s->present)
		return json_pack("{s:b}", "present", 0);
	json_t *j =
	    json_pack("{s:b, s:b, s:b, s:i, s:i, s:i, s:I}", "present", 1, "verified", s->verified,
	              "well_formed", s->well_formed, "event", (int)s->event, "lists", (int)s->lists,
	              "entries", (int)s->entries, "data_len", (json_int_t)s->data_len);
	if (j)
		json_object_set_new(j, "digests", digests_json(&log->events[s->event]));
	return j;
}

static void sigdb_text(const char *name, const struct eventlog_sigdb *s)
{
	if (!s->present)
		printf("%-4s not measured\n", name);
	else if (!s->verified)
		printf("%-4s event %u: CONTENT CHECK FAILED, entries unknown\n", name, s->event);
	else if (!s->well_formed)
		printf("%-4s event %u: malformed signature lists (%zu bytes)\n", name, s->event,
		       s->data_len);
	else
		printf("%-4s event %u: %u entries in %u lists (%zu bytes)\n", name, s->event,
		       s->entries, s->lists, s->data_len);
}

static int do_facts(const struct eventlog *log, bool json)
{
	struct eventlog_checks *c = NULL;
	struct eventlog_facts *f = NULL;
	int e = eventlog_content_check(log, &c);
	if (e == 0)
		e = eventlog_facts_derive(log, c, &f);
	if (e < 0) {
		fprintf(stderr, "attestctl: facts: %s\n", attest_strerror(e));
		eventlog_checks_free(c);
		return 1;
	}
	char a[2 * EVENTLOG_MAX_DIGEST + 1], b[2 * EVENTLOG_MAX_DIGEST + 1];
	int rc = 0;
	if (json) {
		json_t *root = json_object();
		json_object_set_new(root, "uefi", json_boolean(f->is_uefi));
		json_object_set_new(root, "secure_boot",
		                    json_string(eventlog_secure_boot_name(f->secure_boot)));
		json_object_set_new(root, "secure_boot_event",
		                    f->has_secure_boot_event ? json_integer(f->secure_boot_event)
		                                             : json_null());
		json_object_set_new(root, "pk", sigdb_json(log, &f->pk));
		json_object_set_new(root, "kek", sigdb_json(log, &f->kek));
		json_object_set_new(root, "db", sigdb_json(log, &f->db));
		json_object_set_new(root, "dbx", sigdb_json(log, &f->dbx));
		json_t *fw = json_array();
		for (size_t i = 0; i < f->firmware_count; i++)
			json_array_append_new(fw, json_pack("{s:i, s:s, s:s, s:b}", "event",
			                                    (int)f->firmware[i].event, "type",
			                                    eventlog_type_name(f->firmware[i].type),
			                                    "text", f->firmware[i].text, "verified",
			                                    f->firmware[i].verified));
		json_object_set_new(root, "firmware", fw);
		json_t *apps = json_array();
		for (size_t i = 0; i < f->boot_app_count; i++) {
			const struct eventlog_boot_app *ba = &f->boot_apps[i];
			json_t *ja = json_pack("{s:i, s:i, s:s, s:s}", "event", (int)ba->event,
			                       "pcr", (int)ba->pcr, "path", ba->path, "device_path",
			                       ba->device_path);
			if (ja)
				json_object_set_new(ja, "digests",
				                    digests_json(&log->events[ba->event]));
			json_array_append_new(apps, ja);
		}
		json_object_set_new(root, "boot_applications", apps);
		json_object_set_new(root, "kernel_cmdline",
		                    f->kernel_cmdline ? json_string(f->kernel_cmdline)
		                                      : json_null());
		json_object_set_new(root, "kernel_image",
		                    f->kernel_image ? json_string(f->kernel_image) : json_null());
		json_object_set_new(root, "kernel_image_source",
		                    !f->kernel_image ? json_null()
		                    : f->kernel_image_from_boot_app
		                        ? json_string("last boot application")
		                        : json_string("boot loader"));
		json_t *fails = json_array();
		for (size_t i = 0; i < c->failures_kept; i++) {
			const struct eventlog_check_failure *x = &c->failures[i];
			char tmp[8];
			hex_encode(x->expected, x->size, a);
			hex_encode(x->actual, x->size, b);
			json_array_append_new(
			    fails,
			    json_pack("{s:i, s:i, s:s, s:s, s:s, s:s, s:s}", "event", (int)x->event,
			              "pcr", (int)x->pcr, "type", eventlog_type_name(x->type),
			              "bank", bank_name(x->alg, tmp), "expected", a, "actual", b,
			              "rule", x->rule ? x->rule : ""));
		}
		json_object_set_new(root, "content_checks",
		                    json_pack("{s:I, s:I, s:I, s:o}", "checked",
		                              (json_int_t)c->checked, "failed_events",
		                              (json_int_t)c->failed_events, "failures_total",
		                              (json_int_t)c->failure_count, "failures", fails));
		rc = print_json(root);
	} else {
		printf("UEFI:           %s\n", f->is_uefi ? "yes" : "no");
		printf("Secure Boot:    %s", eventlog_secure_boot_name(f->secure_boot));
		if (f->has_secure_boot_event)
			printf(" (event %u)", f->secure_boot_event);
		printf("\n");
		sigdb_text("PK", &f->pk);
		sigdb_text("KEK", &f->kek);
		sigdb_text("db", &f->db);
		sigdb_text("dbx", &f->dbx);
		for (size_t i = 0; i < f->firmware_count; i++)
			client_line(
			    stdout, "firmware:       %s (event %u, %s%s)", f->firmware[i].text,
			    f->firmware[i].event, eventlog_type_name(f->firmware[i].type),
			    f->firmware[i].type == EV_S_CRTM_VERSION && !f->firmware[i].verified
			        ? ", CONTENT CHECK FAILED"
			        : "");
		for (size_t i = 0; i < f->boot_app_count; i++) {
			const struct eventlog_boot_app *ba = &f->boot_apps[i];
			const struct eventlog_digest *d =
			    eventlog_event_digest(&log->events[ba->event], EVENTLOG_ALG_SHA256);
			if (!d)
				d = &log->events[ba->event].digests[0];
			hex_encode(d->bytes, d->size, a);
			client_line(stdout, "boot app:       %s (event %u, %s)", ba->path,
			            ba->event, a);
		}
		client_line(stdout, "kernel:         %s%s",
		            f->kernel_image ? f->kernel_image : "(not shown)",
		            f->kernel_image_from_boot_app ? " (last boot application)" : "");
		client_line(stdout, "kernel cmdline: %s",
		            f->kernel_cmdline ? f->kernel_cmdline : "(not shown)");
		printf("content checks: %zu events checked, %zu failed\n", c->checked,
		       c->failed_events);
		for (size_t i = 0; i < c->failures_kept; i++) {
			const struct eventlog_check_failure *x = &c->failures[i];
			char tmp[8];
			hex_encode(x->expected, x->size, a);
			hex_encode(x->actual, x->size, b);
			printf("  MISMATCH event %u PCR %u %s %s: expected %s, log has %s (%s)\n",
			       x->event, x->pcr, eventlog_type_name(x->type),
			       bank_name(x->alg, tmp), a, b, x->rule ? x->rule : "");
		}
		if (c->failure_count > c->failures_kept)
			printf("  ... and %zu more\n", c->failure_count - c->failures_kept);
	}
	eventlog_facts_free(f);
	eventlog_checks_free(c);
	return rc;
}

int cmd_eventlog(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *sub = argv[1];
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
		usage(stdout);
		return 0;
	}
	if (strcmp(sub, "show") && strcmp(sub, "replay") && strcmp(sub, "facts")) {
		fprintf(stderr, "attestctl eventlog: unknown subcommand '%s'\n", sub);
		usage(stderr);
		return 2;
	}
	const char *file = NULL;
	bool json = false;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			sub_usage(stdout, sub);
			return 0;
		}
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "attestctl eventlog %s: unknown option '%s'\n", sub,
			        argv[i]);
			sub_usage(stderr, sub);
			return 2;
		} else if (!file) {
			file = argv[i];
		} else {
			fprintf(stderr, "attestctl eventlog %s: one FILE only\n", sub);
			return 2;
		}
	}
	if (!file) {
		sub_usage(stderr, sub);
		return 2;
	}
	struct eventlog *log = NULL;
	if (load(file, &log))
		return 1;
	int rc;
	if (!strcmp(sub, "show"))
		rc = do_show(log, json);
	else if (!strcmp(sub, "replay"))
		rc = do_replay(log, json);
	else
		rc = do_facts(log, json);
	eventlog_free(log);
	return rc;
}
