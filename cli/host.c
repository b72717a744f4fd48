/* attestctl host add|list|show|disconnect|reconnect|remove|attest|ek-cert */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "b64enc.h"
#include "cli.h"
#include "client.h"
#include "err.h"
#include "fileio.h"
#include "tlsid.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: attestctl host COMMAND [ARGS...] [--json]\n"
	           "\n"
	           "  add ADDR:PORT [--name NAME] [--thumbprint SHA256:HEX | --accept-thumbprint]\n"
	           "                [--policy NAME] [--interval SECONDS] [--ek SHA256:HEX]\n"
	           "                [--no-wait]\n"
	           "      Add a host running attest-agent. Its certificate thumbprint must be\n"
	           "      confirmed: give the one attest-agent printed (--thumbprint), or accept\n"
	           "      whatever the agent shows now (--accept-thumbprint). With neither, the\n"
	           "      verifier reports the thumbprint it sees; on a terminal you are asked to\n"
	           "      accept it, otherwise nothing is added and the command to confirm it is\n"
	           "      printed. Waits for enrollment and the first verdict unless --no-wait.\n"
	           "      --ek approves the TPM's EK by its key hash (what 'attest-agent ek'\n"
	           "      prints on that host) when the TPM holds no EK certificate: the host's\n"
	           "      tpm.ek_trust is then operator_key, which the default policy does not\n"
	           "      accept (docs/operations.md).\n"
	           "  add --push --name NAME --thumbprint SHA256:HEX [--policy NAME]\n"
	           "                [--interval SECONDS] [--ek SHA256:HEX]\n"
	           "      Add a host whose agent connects to the verifier (attest-agent --push;\n"
	           "      the host needs no listening port). It has no address; the agent is\n"
	           "      known only by its certificate thumbprint, which must be given. The\n"
	           "      host is not_responding until its agent connects; the command does not\n"
	           "      wait.\n"
	           "  list [--trust green|red|unknown] [--connection STATE] [--limit N]\n"
	           "       [--sort KEY] [--desc]\n"
	           "      One line per host: trust (green, red, unknown), connection state\n"
	           "      (connected, disconnected, not_responding), last attestation, reasons.\n"
	           "      Sorted by the verifier: KEY is name (default), trust (red first),\n"
	           "      connection (not responding first), last_attested, last_seen or\n"
	           "      address; --desc reverses it.\n"
	           "  show NAME\n"
	           "      Everything known about a host: TPM, EK certificate, AK, software\n"
	           "      versions, why it is not green (with the evidence), recent results.\n"
	           "  attest NAME [--no-wait]\n"
	           "      Attest now (enrolling first if needed) and print the verdict.\n"
	           "  disconnect NAME\n"
	           "      Stop attesting the host; its trust becomes unknown.\n"
	           "  reconnect NAME [--no-wait]\n"
	           "      Read the host's TPM presence and identity again, enroll a new AK and\n"
	           "      attest (how a TPM added to a managed host is taken into account).\n"
	           "  remove NAME\n"
	           "      Forget the host with its AKs, results and alarms (events stay).\n"
	           "  ek-cert NAME FILE | ek-cert NAME --remove\n"
	           "      Supply the EK certificate (PEM or DER) of a host whose TPM holds none\n"
	           "      in NV, e.g. one downloaded from the TPM vendor. It must chain to the\n"
	           "      certified TPM list and carry the TPM's EK; tpm.ek_trust is then\n"
	           "      operator_certificate. The host is enrolled again at once.\n"
	           "\n"
	           "Global options (anywhere on the line): --server https://HOST:PORT\n"
	           "(ATTEST_SERVER), --server-thumbprint SHA256:HEX (ATTEST_SERVER_THUMBPRINT),\n"
	           "--token-file FILE (ATTEST_TOKEN_FILE), --timeout SECONDS, --json (print the\n"
	           "API's JSON instead of text). Changes need an admin token.\n"
	           "Exit status: 0 done, 1 refused by the verifier or not reachable, 2 usage.\n");
}

/* "host:port" or "[v6]:port", port 1..65535. */
static bool addr_ok(const char *a)
{
	const char *colon;
	if (a[0] == '[') {
		const char *rb = strchr(a, ']');
		if (rb == NULL || rb == a + 1 || rb[1] != ':')
			return false;
		colon = rb + 1;
	} else {
		colon = strchr(a, ':');
		if (colon == NULL || colon == a || strchr(colon + 1, ':') != NULL)
			return false;
	}
	for (const char *p = a; p < colon; p++)
		if ((unsigned char)*p <= 0x20 || *p == '/' || *p == '@')
			return false;
	unsigned long port;
	return client_parse_uint(colon + 1, 1, 65535, &port) == 0;
}

/* ------------------------------------------------------------------ */
/* printing */

static void print_evidence(const json_t *ev)
{
	if (!json_is_object(ev) || json_object_size(ev) == 0)
		return;
	int64_t pcr = -1, event = -1;
	bool has_pcr = client_int(ev, "pcr", &pcr), has_event = client_int(ev, "event", &event);
	const char *bank = client_str(ev, "bank"), *etype = client_str(ev, "event_type");
	if (has_pcr || has_event) {
		fputs("      where:", stdout);
		if (has_pcr)
			printf(" PCR %lld", (long long)pcr);
		if (bank) {
			fputs(has_pcr ? " (" : " bank ", stdout);
			client_puts(stdout, bank);
			fputs(has_pcr ? ")" : "", stdout);
		}
		if (has_event) {
			printf("%s event #%lld", has_pcr ? "," : "", (long long)event);
			if (etype) {
				fputs(" (", stdout);
				client_puts(stdout, etype);
				fputs(")", stdout);
			}
		}
		fputc('\n', stdout);
	}
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)ev, k, v)
	{
		if ((!strcmp(k, "pcr") && has_pcr) || (!strcmp(k, "event") && has_event) ||
		    (!strcmp(k, "bank") && (has_pcr || has_event)) ||
		    (!strcmp(k, "event_type") && has_event))
			continue;
		printf("      ");
		client_puts(stdout, k);
		fputs(": ", stdout);
		if (json_is_string(v)) {
			client_puts(stdout, json_string_value(v));
		} else {
			char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			client_puts(stdout, t ? t : "?");
			free(t);
		}
		fputc('\n', stdout);
	}
}

/* Reasons as sentences with their code and evidence. */
static void print_reasons(const json_t *reasons, const char *indent)
{
	size_t i;
	json_t *r;
	json_array_foreach(reasons, i, r)
	{
		const char *msg = client_str(r, "message"), *code = client_str(r, "code");
		printf("%s- ", indent);
		client_puts(stdout, msg ? msg : "(no message)");
		fputs(" [", stdout);
		client_puts(stdout, code ? code : "?");
		fputs("]\n", stdout);
		print_evidence(json_object_get(r, "evidence"));
	}
}

static const char *str_or(const json_t *o, const char *k, const char *dflt)
{
	const char *s = client_str(o, k);
	return s ? s : dflt;
}

static void field(const char *label, const char *value)
{
	printf("  %-18s ", label);
	client_puts(stdout, value);
	fputc('\n', stdout);
}

/* One paragraph: name, trust, connection, last attestation, reasons. */
static void print_brief(const json_t *h)
{
	char t1[32];
	int64_t la = 0;
	client_int(h, "last_attested", &la);
	client_puts(stdout, str_or(h, "name", "?"));
	fputs(": trust ", stdout);
	client_puts(stdout, str_or(h, "trust", "?"));
	fputs(", ", stdout);
	client_puts(stdout, str_or(h, "connection", "?"));
	printf(", last attested %s\n", client_ago(la, t1));
	json_t *reasons = json_object_get(h, "reasons");
	if (json_array_size(reasons) > 0) {
		printf("Reasons:\n");
		print_reasons(reasons, "  ");
	}
}

static void print_tpm(const json_t *tpm)
{
	if (!json_is_object(tpm)) {
		field("TPM", "not read yet (read when the host is connected)");
		return;
	}
	json_t *present = json_object_get(tpm, "present");
	if (json_is_false(present)) {
		field("TPM", "none reported by the agent at connect time");
		return;
	}
	char line[512];
	snprintf(line, sizeof line, "%s, vendor \"%s\", firmware %s",
	         str_or(tpm, "manufacturer", "?"), str_or(tpm, "vendor", "?"),
	         str_or(tpm, "firmware", "?"));
	field("TPM", line);
	field("TPM interface", str_or(tpm, "interface", "?"));
	json_t *banks = json_object_get(tpm, "banks");
	if (json_is_array(banks)) {
		char b[256] = "";
		size_t i, o = 0;
		json_t *x;
		json_array_foreach(banks, i, x)
		{
			const char *s = json_string_value(x);
			if (s == NULL)
				continue;
			int n = snprintf(b + o, sizeof b - o, "%s%s", o ? " " : "", s);
			if (n < 0 || (size_t)n >= sizeof b - o)
				break;
			o += (size_t)n;
		}
		field("PCR banks", b);
	}
	if (client_str(tpm, "ek_kind"))
		field("EK", client_str(tpm, "ek_kind"));
	if (client_str(tpm, "ek_trust"))
		field("EK trust", client_str(tpm, "ek_trust"));
	if (client_str(tpm, "ek_sha256"))
		field("EK key hash", client_str(tpm, "ek_sha256"));
	json_t *ekc = json_object_get(tpm, "ek_certificate");
	if (json_is_object(ekc)) {
		json_t *sd = json_object_get(ekc, "strict_der");
		snprintf(line, sizeof line, "%s%s%s%s", str_or(ekc, "status", "?"),
		         client_str(ekc, "nv_index") ? " (NV " : "",
		         client_str(ekc, "nv_index") ? client_str(ekc, "nv_index") : "",
		         client_str(ekc, "nv_index") ? ")" : "");
		field("EK certificate", line);
		if (json_is_false(sd))
			field("", "not strict DER (parsed leniently)");
		if (client_str(ekc, "issuer"))
			field("  issuer", client_str(ekc, "issuer"));
		if (client_str(ekc, "subject"))
			field("  subject", client_str(ekc, "subject"));
		if (client_str(ekc, "message"))
			field("  check", client_str(ekc, "message"));
	}
	if (client_str(tpm, "agent_version"))
		field("agent version", client_str(tpm, "agent_version"));
}

/* Whether key is listed in the software object's reported_by_agent. */
static bool agent_reported(const json_t *sw, const char *key)
{
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(sw, "reported_by_agent"), i, x)
	{
		if (json_is_string(x) && !strcmp(json_string_value(x), key))
			return true;
	}
	return false;
}

/* The measured boot applications as the software catalog names them
 * (measured digests; names from the catalog, never from the log). */
static void print_components(const json_t *sw)
{
	const json_t *a = json_object_get(sw, "components");
	if (json_array_size(a) == 0)
		return;
	printf("Boot components (measured digests, named by the software catalog):\n");
	size_t i;
	json_t *k;
	json_array_foreach(a, i, k)
	{
		const char *rule = client_str(k, "rule");
		client_line(
		    stdout, "  %s%s%s%s%s", str_or(k, "text", "?"),
		    json_is_true(json_object_get(k, "verified")) ? "" : " (PCR not verified)",
		    rule ? " [approved by rule \"" : "", rule ? rule : "", rule ? "\"]" : "");
	}
}

/* The software view: what the evidence proves, what the agent reports,
 * and what the event log claims without proof, each said as such. */
static void print_software(const json_t *sw)
{
	static const struct {
		const char *key, *label;
	} fields[] = {{"firmware", "firmware"},
	              {"boot_loader", "boot loader"},
	              {"kernel_image", "kernel image"},
	              {"kernel_cmdline", "kernel cmdline"},
	              {"kernel", "kernel"},
	              {"os", "os"},
	              {"tpm_firmware", "tpm firmware"},
	              {"agent_version", "agent version"}};
	printf("Software (deduced from the last evidence):\n");
	if (!json_is_object(sw) || json_object_size(sw) == 0) {
		printf("  (none yet)\n");
		return;
	}
	const json_t *nv = json_object_get(sw, "not_verified");
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		const char *v = client_str(sw, fields[i].key);
		const json_t *claim = json_object_get(nv, fields[i].key);
		if (v != NULL) {
			printf("  %-18s ", fields[i].label);
			client_line(stdout, "%s%s", v,
			            agent_reported(sw, fields[i].key) ? " (reported by the agent)"
			                                              : "");
		} else if (json_is_object(claim)) {
			/* Never shown as a fact: the log says it, nothing proves it. */
			printf("  %-18s ", fields[i].label);
			client_line(stdout, "NOT VERIFIED: %s", str_or(claim, "value", "?"));
			printf("  %-18s ", "");
			client_line(stdout, "(%s)", str_or(claim, "why", "no reason given"));
		} else if (json_object_get(sw, fields[i].key) != NULL) {
			field(fields[i].label, "(unknown)");
		}
	}
	print_components(sw);
}

static void print_host(const json_t *h)
{
	char t1[32], t2[32], line[256];
	int64_t v = 0;
	printf("Host ");
	client_puts(stdout, str_or(h, "name", "?"));
	fputc('\n', stdout);
	field("trust", str_or(h, "trust", "?"));
	field("connection", str_or(h, "connection", "?"));
	field("mode", str_or(h, "mode", "pull"));
	field("address", str_or(h, "address", "(none: the agent connects, push)"));
	field("agent thumbprint", str_or(h, "thumbprint", "(not pinned)"));
	field("policy", str_or(h, "policy", "(the default policy)"));
	v = 0;
	client_int(h, "last_attested", &v);
	snprintf(line, sizeof line, "%s (%s)", client_time(v, t1), client_ago(v, t2));
	field("last attested", v > 0 ? line : "never");
	v = 0;
	if (client_int(h, "evidence_expires", &v) && v > 0) {
		snprintf(line, sizeof line, "%s (%s)", client_time(v, t1), client_ago(v, t2));
		field("evidence valid to", line);
	}
	v = 0;
	if (client_int(h, "next_due", &v) && v > 0) {
		snprintf(line, sizeof line, "%s (%s)", client_time(v, t1), client_ago(v, t2));
		field("next attestation", line);
	}
	if (client_int(h, "interval_s", &v)) {
		snprintf(line, sizeof line, "every %lld s", (long long)v);
		field("schedule", line);
	}
	if (client_int(h, "failures", &v) && v > 0) {
		snprintf(line, sizeof line, "%lld in a row", (long long)v);
		field("failures", line);
	}
	field("AK name", str_or(h, "ak_name", "(none enrolled)"));
	print_tpm(json_object_get(h, "tpm"));
	json_t *boot = json_object_get(h, "boot");
	int64_t rc = -1, rs = -1;
	if (json_is_object(boot) && client_int(boot, "reset_count", &rc)) {
		client_int(boot, "restart_count", &rs);
		snprintf(line, sizeof line, "reset count %lld, restart count %lld, boot id %s",
		         (long long)rc, (long long)rs, str_or(boot, "boot_id", "?"));
		field("boot", line);
	}
	print_software(json_object_get(h, "software"));
	json_t *reasons = json_object_get(h, "reasons");
	if (json_array_size(reasons) > 0) {
		printf("Why it is not green:\n");
		print_reasons(reasons, "  ");
	} else if (!strcmp(str_or(h, "trust", ""), "green")) {
		printf("Attested and trusted: every check passed.\n");
	}
	json_t *results = json_object_get(h, "results");
	if (json_array_size(results) > 0) {
		printf("Recent attestations:\n");
		static const char *const heads[] = {"  WHEN", "TRUST", "DURATION", "REASONS"};
		struct client_table *t = client_table_new(4, heads);
		size_t i;
		json_t *r;
		json_array_foreach(results, i, r)
		{
			if (t == NULL)
				break;
			int64_t at = 0, ms = 0;
			char when[40], dur[32], codes[512] = "";
			client_int(r, "at", &at);
			snprintf(when, sizeof when, "  %s", client_time(at, t1));
			if (client_int(r, "duration_ms", &ms))
				snprintf(dur, sizeof dur, "%lld ms", (long long)ms);
			else
				snprintf(dur, sizeof dur, "-");
			size_t o = 0, k;
			json_t *x;
			json_array_foreach(json_object_get(r, "reasons"), k, x)
			{
				int n = snprintf(codes + o, sizeof codes - o, "%s%s", o ? ", " : "",
				                 str_or(x, "code", "?"));
				if (n < 0 || (size_t)n >= sizeof codes - o)
					break;
				o += (size_t)n;
			}
			if (o == 0)
				snprintf(codes, sizeof codes, "-");
			const char *cells[] = {when, str_or(r, "trust", "?"), dur, codes};
			client_table_add(t, cells);
		}
		if (t)
			client_table_print(t, stdout);
		client_table_free(t);
	}
}

/* Text of a host's reason codes for the list. */
static void reason_codes(const json_t *h, char *out, size_t cap)
{
	size_t o = 0, i;
	json_t *x;
	out[0] = '\0';
	json_array_foreach(json_object_get(h, "reasons"), i, x)
	{
		int n = snprintf(out + o, cap - o, "%s%s", o ? ", " : "", str_or(x, "code", "?"));
		if (n < 0 || (size_t)n >= cap - o)
			break;
		o += (size_t)n;
	}
	if (o == 0)
		snprintf(out, cap, "-");
}

/* ------------------------------------------------------------------ */
/* commands */

static int name_path(const char *name, const char *action, const char *query, char *out, size_t cap)
{
	char esc[CLIENT_PATH_MAX];
	if (client_escape(name, esc, sizeof esc) < 0 ||
	    (size_t)snprintf(out, cap, "/hosts/%s%s%s%s", esc, action[0] ? "/" : "", action,
	                     query) >= cap) {
		client_err("host name too long");
		return CLIENT_EXIT_USAGE;
	}
	return 0;
}

/* Ask on the terminal whether to accept the thumbprint shown. */
static bool confirm_thumbprint(const char *addr, const char *tp)
{
	fprintf(stderr,
	        "The agent at %s presents the certificate thumbprint\n"
	        "  %s\n"
	        "Compare it with the 'thumbprint' line attest-agent printed on that host.\n"
	        "Accept this host's thumbprint and add the host? [y/N] ",
	        addr, tp);
	fflush(stderr);
	char line[16];
	if (fgets(line, sizeof line, stdin) == NULL)
		return false;
	return line[0] == 'y' || line[0] == 'Y';
}

static int host_add(int argc, char **argv)
{
	const char *name = NULL, *tp = NULL, *policy = NULL, *interval = NULL, *ek = NULL, *pos[1];
	bool accept = false, nowait = false, push = false;
	const struct client_opt opts[] = {{"--name", &name, NULL},
	                                  {"--ek", &ek, NULL},
	                                  {"--thumbprint", &tp, NULL},
	                                  {"--accept-thumbprint", NULL, &accept},
	                                  {"--policy", &policy, NULL},
	                                  {"--interval", &interval, NULL},
	                                  {"--no-wait", NULL, &nowait},
	                                  {"--push", NULL, &push},
	                                  {NULL, NULL, NULL}};
	int npos;
	int rc = client_parse("host add", usage, argc, argv, opts, pos, 0, 1, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	const char *addr = npos > 0 ? pos[0] : NULL;
	if (push && (addr || !name || !tp || accept)) {
		client_err("host add --push takes no address and needs --name and --thumbprint");
		return CLIENT_EXIT_USAGE;
	}
	if (push)
		nowait = true; /* nothing to wait for until its agent connects */
	if (!push && addr == NULL) {
		client_err("host add needs ADDR:PORT (or --push)");
		return CLIENT_EXIT_USAGE;
	}
	if (!push && !addr_ok(addr)) {
		client_err("\"%s\" is not HOST:PORT (IPv6 as [ADDR]:PORT)", addr);
		return CLIENT_EXIT_USAGE;
	}
	char canon[TLSID_THUMBPRINT_SIZE];
	if (tp && accept) {
		client_err("give --thumbprint or --accept-thumbprint, not both");
		return CLIENT_EXIT_USAGE;
	}
	if (tp && tlsid_thumbprint_parse(tp, canon) < 0) {
		client_err("--thumbprint \"%s\" is not SHA256: followed by 64 hex digits", tp);
		return CLIENT_EXIT_USAGE;
	}
	unsigned long iv = 0;
	if (interval && client_parse_uint(interval, 1, 604800, &iv) < 0) {
		client_err("--interval wants seconds from 1 to 604800, not \"%s\"", interval);
		return CLIENT_EXIT_USAGE;
	}
	if ((rc = client_name_check(name ? "host name" : "address", name ? name : addr)) != 0)
		return rc;
	if (ek) {
		bool ok = strlen(ek) == 7 + 64 && strncmp(ek, "SHA256:", 7) == 0;
		for (size_t i = 7; ok && ek[i]; i++)
			ok = isxdigit((unsigned char)ek[i]) != 0;
		if (!ok) {
			client_err("--ek \"%s\" is not SHA256: followed by 64 hex digits", ek);
			return CLIENT_EXIT_USAGE;
		}
	}
	json_t *body =
	    push ? json_pack("{s:s}", "mode", "push") : json_pack("{s:s}", "address", addr);
	if (name)
		json_object_set_new(body, "name", json_string(name));
	if (ek)
		json_object_set_new(body, "ek", json_string(ek));
	if (tp)
		json_object_set_new(body, "thumbprint", json_string(canon));
	if (accept)
		json_object_set_new(body, "accept_thumbprint", json_true());
	if (policy)
		json_object_set_new(body, "policy", json_string(policy));
	if (interval)
		json_object_set_new(body, "interval_s", json_integer((json_int_t)iv));
	const char *path = nowait ? "/hosts" : "/hosts?wait=1";
	unsigned to = nowait ? 0 : CLIENT_WAIT_TIMEOUT_MS;
	struct client_reply r;
	rc = client_call("POST", path, body, to, &r);
	if (rc == 0 && r.status == 409 && r.code && !strcmp(r.code, "THUMBPRINT_NOT_CONFIRMED")) {
		const char *seen = client_str(json_object_get(r.json, "error"), "thumbprint");
		char seen_c[TLSID_THUMBPRINT_SIZE];
		if (seen == NULL || tlsid_thumbprint_parse(seen, seen_c) < 0) {
			client_print_http_error(&r);
			rc = CLIENT_EXIT_FAIL;
		} else if (!client_g.json && isatty(STDIN_FILENO) && isatty(STDERR_FILENO)) {
			if (!confirm_thumbprint(addr, seen_c)) {
				fprintf(stderr, "Not added.\n");
				rc = CLIENT_EXIT_FAIL;
			} else {
				/* Pin exactly what the operator saw, not whatever
				 * the agent shows on the next connection. */
				client_reply_clear(&r);
				json_object_set_new(body, "thumbprint", json_string(seen_c));
				rc = client_call("POST", path, body, to, &r);
			}
		} else {
			if (client_g.json)
				client_print_json(r.json);
			client_err(
			    "not added: the agent's certificate thumbprint must be confirmed");
			fprintf(
			    stderr,
			    "  The agent at %s presents %s.\n"
			    "  Compare it with the 'thumbprint' line attest-agent printed on that "
			    "host, then run:\n"
			    "    attestctl host add %s%s%s --thumbprint %s\n",
			    addr, seen_c, addr, name ? " --name " : "", name ? name : "", seen_c);
			rc = CLIENT_EXIT_FAIL;
		}
	}
	json_decref(body);
	if (rc == 0 && (r.status < 200 || r.status >= 300)) {
		client_print_http_error(&r);
		rc = CLIENT_EXIT_FAIL;
	}
	if (rc == 0) {
		if (client_g.json) {
			client_print_json(r.json);
		} else {
			printf("Added host ");
			client_puts(stdout, str_or(r.json, "name", "?"));
			printf(" (agent thumbprint ");
			client_puts(stdout, str_or(r.json, "thumbprint", "?"));
			printf(" pinned).\n");
			print_brief(r.json);
		}
	}
	client_reply_clear(&r);
	return rc;
}

static int host_list(int argc, char **argv)
{
	const char *trust = NULL, *conn = NULL, *limit = NULL, *sort = NULL, *pos[1];
	bool desc = false;
	const struct client_opt opts[] = {{"--trust", &trust, NULL}, {"--connection", &conn, NULL},
	                                  {"--limit", &limit, NULL}, {"--sort", &sort, NULL},
	                                  {"--desc", NULL, &desc},   {NULL, NULL, NULL}};
	int npos;
	int rc = client_parse("host list", usage, argc, argv, opts, pos, 0, 0, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	if (trust && strcmp(trust, "green") && strcmp(trust, "red") && strcmp(trust, "unknown")) {
		client_err("--trust is green, red or unknown, not \"%s\"", trust);
		return CLIENT_EXIT_USAGE;
	}
	if (conn && strcmp(conn, "connected") && strcmp(conn, "disconnected") &&
	    strcmp(conn, "not_responding")) {
		client_err("--connection is connected, disconnected or not_responding, not \"%s\"",
		           conn);
		return CLIENT_EXIT_USAGE;
	}
	static const char *const sorts[] = {"name",          "trust",     "connection",
	                                    "last_attested", "last_seen", "address"};
	bool sort_ok = sort == NULL;
	for (size_t k = 0; sort && k < sizeof sorts / sizeof sorts[0]; k++)
		sort_ok = sort_ok || strcmp(sort, sorts[k]) == 0;
	if (!sort_ok) {
		client_err(
		    "--sort is name, trust, connection, last_attested, last_seen or address, "
		    "not \"%s\"",
		    sort);
		return CLIENT_EXIT_USAGE;
	}
	unsigned long lim = 0;
	if (limit && client_parse_uint(limit, 1, 1000, &lim) < 0) {
		client_err("--limit wants a number from 1 to 1000, not \"%s\"", limit);
		return CLIENT_EXIT_USAGE;
	}
	json_t *all = json_array();
	int64_t total = 0;
	for (uint64_t off = 0;;) {
		char path[256];
		snprintf(path, sizeof path, "/hosts?limit=%lu&offset=%llu%s%s%s%s&sort=%s&order=%s",
		         lim ? lim : 1000ul, (unsigned long long)off, trust ? "&trust=" : "",
		         trust ? trust : "", conn ? "&connection=" : "", conn ? conn : "",
		         sort ? sort : "name", desc ? "desc" : "asc");
		json_t *j = NULL;
		rc = client_request("GET", path, NULL, 0, &j);
		if (rc != 0) {
			json_decref(all);
			return rc;
		}
		json_array_extend(all, json_object_get(j, "hosts"));
		if (!client_int(j, "total", &total))
			total = 0;
		json_decref(j);
		off += 1000;
		if (lim || off >= (uint64_t)total)
			break;
	}
	if (client_g.json) {
		json_t *o = json_pack("{s:o,s:I}", "hosts", all, "total", (json_int_t)total);
		client_print_json(o);
		json_decref(o);
		return 0;
	}
	static const char *const heads[] = {"NAME",       "ADDRESS",       "TRUST",
	                                    "CONNECTION", "LAST ATTESTED", "REASONS"};
	struct client_table *t = client_table_new(6, heads);
	size_t i;
	json_t *h;
	json_array_foreach(all, i, h)
	{
		if (t == NULL)
			break;
		char ago[32], codes[512];
		int64_t la = 0;
		client_int(h, "last_attested", &la);
		reason_codes(h, codes, sizeof codes);
		const char *cells[] = {str_or(h, "name", "?"),  str_or(h, "address", "(push)"),
		                       str_or(h, "trust", "?"), str_or(h, "connection", "?"),
		                       client_ago(la, ago),     codes};
		client_table_add(t, cells);
	}
	if (t && json_array_size(all) > 0)
		client_table_print(t, stdout);
	else if (t)
		printf("No hosts%s. Add one with 'attestctl host add ADDR:PORT'.\n",
		       trust || conn ? " match" : "");
	client_table_free(t);
	json_decref(all);
	return t ? 0 : CLIENT_EXIT_FAIL;
}

static int host_show(int argc, char **argv)
{
	const char *pos[1];
	int npos;
	int rc = client_parse("host show", usage, argc, argv, NULL, pos, 1, 1, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	char path[CLIENT_PATH_MAX];
	if ((rc = name_path(pos[0], "", "", path, sizeof path)) != 0)
		return rc;
	json_t *j = NULL;
	if ((rc = client_request("GET", path, NULL, 0, &j)) != 0)
		return rc;
	if (client_g.json)
		client_print_json(j);
	else
		print_host(j);
	json_decref(j);
	return 0;
}

/* disconnect, reconnect, attest, remove */
static int host_action(const char *action, int argc, char **argv)
{
	const char *pos[1];
	bool nowait = false;
	bool waits = !strcmp(action, "reconnect") || !strcmp(action, "attest");
	const struct client_opt opts[] = {{"--no-wait", NULL, &nowait}, {NULL, NULL, NULL}};
	char cmd[32];
	snprintf(cmd, sizeof cmd, "host %s", action);
	int npos;
	int rc = client_parse(cmd, usage, argc, argv, waits ? opts : NULL, pos, 1, 1, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	bool remove = !strcmp(action, "remove");
	char path[CLIENT_PATH_MAX];
	if ((rc = name_path(pos[0], remove ? "" : action, waits && !nowait ? "?wait=1" : "", path,
	                    sizeof path)) != 0)
		return rc;
	json_t *j = NULL;
	rc = client_request(remove ? "DELETE" : "POST", path, NULL,
	                    waits && !nowait ? CLIENT_WAIT_TIMEOUT_MS : 0, &j);
	if (rc != 0)
		return rc;
	if (client_g.json) {
		client_print_json(j);
	} else if (remove) {
		printf("Removed host ");
		client_puts(stdout, pos[0]);
		printf(" (its events stay in the history).\n");
	} else if (json_is_true(json_object_get(j, "queued"))) {
		printf("Attestation of ");
		client_puts(stdout, pos[0]);
		printf(" queued; see 'attestctl host show ");
		client_puts(stdout, pos[0]);
		printf("' for the verdict.\n");
	} else {
		if (!strcmp(action, "disconnect"))
			printf("Disconnected; the host is not attested until reconnected.\n");
		else if (!strcmp(action, "reconnect"))
			printf("Reconnected: TPM identity read again, new AK%s.\n",
			       nowait ? " being enrolled" : " enrolled");
		print_brief(j);
	}
	json_decref(j);
	return 0;
}

/* attestctl host disconnect|reconnect|attest|remove NAME: one request each. */
static int host_disconnect(int argc, char **argv)
{
	return host_action("disconnect", argc, argv);
}

static int host_reconnect(int argc, char **argv)
{
	return host_action("reconnect", argc, argv);
}

static int host_attest(int argc, char **argv)
{
	return host_action("attest", argc, argv);
}

static int host_remove(int argc, char **argv)
{
	return host_action("remove", argc, argv);
}

#define EK_CERT_FILE_MAX (48u * 1024u)

/* attestctl host ek-cert NAME FILE | NAME --remove */
static int host_ek_cert(int argc, char **argv)
{
	const char *pos[2];
	bool remove = false;
	const struct client_opt opts[] = {{"--remove", NULL, &remove}, {NULL, NULL, NULL}};
	int npos;
	int rc = client_parse("host ek-cert", usage, argc, argv, opts, pos, 1, 2, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	if ((npos == 2) == remove) {
		client_err("give the certificate FILE, or --remove");
		return CLIENT_EXIT_USAGE;
	}
	char path[CLIENT_PATH_MAX];
	if ((rc = name_path(pos[0], "ek-cert", "", path, sizeof path)) != 0)
		return rc;
	json_t *body = NULL;
	if (!remove) {
		uint8_t *buf = NULL;
		size_t len = 0;
		int e = fileio_read(pos[1], EK_CERT_FILE_MAX, &buf, &len);
		if (e < 0) {
			client_err("cannot read %s: %s", pos[1],
			           e == ATTEST_E_LIMIT
			               ? "larger than 48 KiB, not a certificate file"
			               : attest_strerror(e));
			return CLIENT_EXIT_FAIL;
		}
		if (memmem(buf, len, "-----BEGIN", 10) != NULL) {
			body = json_pack("{s:s%}", "pem", (const char *)buf, len);
		} else {
			char *b64 = b64enc(buf, len);
			body = b64 ? json_pack("{s:s}", "der", b64) : NULL;
			free(b64);
		}
		free(buf);
		if (body == NULL) {
			client_err("%s: not a certificate file (or out of memory)", pos[1]);
			return CLIENT_EXIT_FAIL;
		}
	}
	json_t *j = NULL;
	rc = client_request(remove ? "DELETE" : "PUT", path, body, 0, &j);
	json_decref(body);
	if (rc != 0)
		return rc;
	if (client_g.json) {
		client_print_json(j);
	} else {
		printf(remove ? "EK certificate of " : "EK certificate supplied for ");
		client_puts(stdout, pos[0]);
		printf(remove ? " removed; the host is enrolled again.\n"
		              : "; the host is enrolled again with it.\n");
	}
	json_decref(j);
	return 0;
}

int cmd_host(int argc, char **argv)
{
	static const struct client_subcommand subs[] = {
	    {"add", host_add},
	    {"list", host_list},
	    {"show", host_show},
	    {"disconnect", host_disconnect},
	    {"reconnect", host_reconnect},
	    {"attest", host_attest},
	    {"remove", host_remove},
	    {"ek-cert", host_ek_cert},
	    {NULL, NULL},
	};
	return client_dispatch("host", usage, subs, argc, argv);
}
