/* attestctl ca add|list|remove: the certified TPM list (EK CA certificates) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64enc.h"
#include "cli.h"
#include "client.h"
#include "err.h"
#include "fileio.h"

/* A certificate file, PEM bundle or DER; the request must stay below the
 * verifier's 64 KiB body cap once encoded, so larger files cannot succeed. */
#define CA_FILE_MAX (48u * 1024u)

static void usage(FILE *f)
{
	fprintf(f, "usage: attestctl ca COMMAND [ARGS...] [--json]\n"
	           "\n"
	           "The certified TPM list: CA certificates an EK certificate must chain to.\n"
	           "  add FILE... [--source TEXT]\n"
	           "      Add the certificates in each FILE (PEM, possibly several, or DER).\n"
	           "      --source labels them (default: the file name). A file whose\n"
	           "      certificates are all listed already is reported and counts as a\n"
	           "      failure. Applies to the next enrollment of each host.\n"
	           "  list\n"
	           "      Every CA: id, subject, source, when added, SHA-256 fingerprint.\n"
	           "  remove ID|FINGERPRINT\n"
	           "      Remove one CA by its id or fingerprint (64 hex digits, colons and a\n"
	           "      SHA256: prefix allowed).\n"
	           "\n"
	           "With --json, 'ca add' prints the verifier's answer for each file, one JSON\n"
	           "document per file. Global options: see 'attestctl host --help'.\n"
	           "Exit status: 0 done, 1 refused by the verifier, unreadable or not reachable,\n"
	           "2 usage.\n");
}

static int ca_add(int argc, char **argv)
{
	const char *source = NULL, *pos[CLIENT_MAX_POSITIONAL];
	const struct client_opt opts[] = {{"--source", &source, NULL}, {NULL, NULL, NULL}};
	int npos;
	int rc =
	    client_parse("ca add", usage, argc, argv, opts, pos, 1, CLIENT_MAX_POSITIONAL, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	int status = 0;
	for (int i = 0; i < npos; i++) {
		const char *file = pos[i];
		uint8_t *buf = NULL;
		size_t len = 0;
		int e = fileio_read(file, CA_FILE_MAX, &buf, &len);
		if (e < 0) {
			client_err("cannot read %s: %s", file,
			           e == ATTEST_E_LIMIT
			               ? "larger than 48 KiB, not a certificate file"
			               : attest_strerror(e));
			status = CLIENT_EXIT_FAIL;
			continue;
		}
		json_t *body;
		if (memmem(buf, len, "-----BEGIN", 10) != NULL) {
			body = json_pack("{s:s%}", "pem", (const char *)buf, len);
		} else {
			char *b64 = b64enc(buf, len);
			body = b64 ? json_pack("{s:s}", "der", b64) : NULL;
			free(b64);
		}
		free(buf);
		if (body == NULL) {
			client_err("%s: not text a certificate can be sent as (or out of memory)",
			           file);
			status = CLIENT_EXIT_FAIL;
			continue;
		}
		const char *slash = strrchr(file, '/');
		json_object_set_new(body, "source",
		                    json_string(source ? source : (slash ? slash + 1 : file)));
		struct client_reply r;
		e = client_call("POST", "/cas", body, 0, &r);
		json_decref(body);
		if (e != 0)
			return e; /* settings or network: the next file would fail alike */
		if (r.status == 409 && r.code && !strcmp(r.code, "EXISTS")) {
			if (client_g.json)
				client_print_json(r.json);
			client_err("%s: every certificate in it is already listed", file);
			status = CLIENT_EXIT_FAIL;
		} else if (r.status < 200 || r.status >= 300) {
			fprintf(stderr, "%s:\n", file);
			client_print_http_error(&r);
			status = CLIENT_EXIT_FAIL;
		} else if (client_g.json) {
			client_print_json(r.json);
		} else {
			size_t k;
			json_t *c;
			json_array_foreach(json_object_get(r.json, "added"), k, c)
			{
				int64_t id = 0;
				client_int(c, "id", &id);
				client_puts(stdout, file);
				printf(": added CA %lld ", (long long)id);
				client_puts(stdout, client_str(c, "subject"));
				printf("\n  fingerprint ");
				client_puts(stdout, client_str(c, "fingerprint"));
				fputc('\n', stdout);
			}
			int64_t already = 0;
			if (client_int(r.json, "already_present", &already) && already > 0) {
				client_puts(stdout, file);
				printf(": %lld certificate(s) were listed already\n",
				       (long long)already);
			}
		}
		client_reply_clear(&r);
	}
	return status;
}

static int ca_list(int argc, char **argv)
{
	json_t *j;
	int rc = client_list("ca list", usage, argc, argv, "/cas?limit=1000", &j);
	if (rc != CLIENT_CONTINUE)
		return rc;
	static const char *const heads[] = {"ID", "SUBJECT", "SOURCE", "ADDED", "FINGERPRINT"};
	struct client_table *t = client_table_new(5, heads);
	json_t *cas = json_object_get(j, "cas");
	size_t i;
	json_t *c;
	json_array_foreach(cas, i, c)
	{
		if (t == NULL)
			break;
		char id[24], added[32];
		int64_t v = 0, a = 0;
		client_int(c, "id", &v);
		client_int(c, "added_at", &a);
		snprintf(id, sizeof id, "%lld", (long long)v);
		const char *cells[] = {id, client_str(c, "subject"), client_str(c, "source"),
		                       client_time(a, added), client_str(c, "fingerprint")};
		client_table_add(t, cells);
	}
	if (t && json_array_size(cas) > 0)
		client_table_print(t, stdout);
	else if (t)
		printf("The certified TPM list is empty: no EK certificate can be trusted.\n"
		       "Add your TPM vendors' CA certificates with 'attestctl ca add FILE...'.\n");
	client_table_free(t);
	json_decref(j);
	return t ? 0 : CLIENT_EXIT_FAIL;
}

/* An id (digits) or a fingerprint, normalised to 64 lowercase hex digits. */
static int ca_key(const char *in, char *out, size_t cap)
{
	unsigned long id;
	if (client_parse_uint(in, 1, 0x7fffffffffffffffUL, &id) == 0) {
		snprintf(out, cap, "%lu", id);
		return 0;
	}
	if (strncasecmp(in, "SHA256:", 7) == 0)
		in += 7;
	size_t o = 0;
	for (; *in; in++) {
		char c = *in;
		if (c == ':')
			continue;
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) || o + 1 >= cap)
			return ATTEST_E_FORMAT;
		out[o++] = c;
	}
	out[o] = '\0';
	return o == 64 ? 0 : ATTEST_E_FORMAT;
}

static int ca_remove(int argc, char **argv)
{
	const char *pos[1];
	int npos;
	int rc = client_parse("ca remove", usage, argc, argv, NULL, pos, 1, 1, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	char key[80], path[128];
	if (ca_key(pos[0], key, sizeof key) < 0) {
		client_err("\"%s\" is neither a CA id nor a SHA-256 fingerprint (64 hex digits)",
		           pos[0]);
		return CLIENT_EXIT_USAGE;
	}
	snprintf(path, sizeof path, "/cas/%s", key);
	json_t *j = NULL;
	if ((rc = client_request("DELETE", path, NULL, 0, &j)) != 0)
		return rc;
	if (client_g.json) {
		client_print_json(j);
	} else {
		printf("Removed CA ");
		client_puts(stdout, client_str(j, "removed"));
		printf(" from the certified TPM list.\nHosts already enrolled keep their "
		       "verdict until reconnected or restarted.\n");
	}
	json_decref(j);
	return 0;
}

int cmd_ca(int argc, char **argv)
{
	static const struct client_subcommand subs[] = {
	    {"add", ca_add},
	    {"list", ca_list},
	    {"remove", ca_remove},
	    {NULL, NULL},
	};
	return client_dispatch("ca", usage, subs, argc, argv);
}
