/* attestctl policy create|show|list|assign|remove: approved configurations */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "err.h"
#include "fileio.h"

/* The verifier's cap on a policy request body (docs/api.md). */
#define POLICY_FILE_MAX (1u << 20)

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: attestctl policy COMMAND [ARGS...] [--json]\n"
	        "\n"
	        "Approved configurations (policies; the document format is in docs/policy.md).\n"
	        "  create NAME --from-host HOST\n"
	        "      Learn a policy from HOST's last good evidence and print what it approved.\n"
	        "  create NAME --file FILE [--replace]\n"
	        "      Create a policy from a JSON document ('-' reads standard input);\n"
	        "      --replace overwrites an existing policy of that name.\n"
	        "  show NAME      the policy, the hosts using it, and its document\n"
	        "  list           every policy, which one is the default, how many hosts use it\n"
	        "  assign NAME --host HOST | --default\n"
	        "      Use the policy for HOST (attested again at once), or make it the\n"
	        "      default for hosts without their own.\n"
	        "  remove NAME    delete a policy that is neither the default nor assigned\n"
	        "  check NAME [--all]\n"
	        "      What-if: which hosts would change colour under NAME, and why, judged\n"
	        "      on each host's last stored evidence; nothing is changed.\n"
	        "\n"
	        "Global options: see 'attestctl host --help'. Changes need an admin token.\n"
	        "Exit status: 0 done, 1 refused by the verifier or not reachable, 2 usage.\n");
}

static int policy_path(const char *name, const char *action, char *out, size_t cap)
{
	char esc[CLIENT_PATH_MAX];
	if (client_escape(name, esc, sizeof esc) < 0 ||
	    (size_t)snprintf(out, cap, "/policies/%s%s%s", esc, action[0] ? "/" : "", action) >=
	        cap) {
		client_err("policy name too long");
		return CLIENT_EXIT_USAGE;
	}
	return 0;
}

static void print_summary_line(const json_t *p)
{
	int64_t n = 0;
	client_int(p, "hosts", &n);
	printf("Policy ");
	client_puts(stdout, client_str(p, "name"));
	printf("%s, used by %lld host(s).\n",
	       json_is_true(json_object_get(p, "default")) ? " (the default)" : "", (long long)n);
}

static int policy_create(int argc, char **argv)
{
	const char *from = NULL, *file = NULL, *pos[1];
	bool replace = false;
	const struct client_opt opts[] = {{"--from-host", &from, NULL},
	                                  {"--file", &file, NULL},
	                                  {"--replace", NULL, &replace},
	                                  {NULL, NULL, NULL}};
	int npos;
	int rc = client_parse("policy create", usage, argc, argv, opts, pos, 1, 1, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	if ((from == NULL) == (file == NULL)) {
		client_err("give exactly one of --from-host HOST or --file FILE");
		usage(stderr);
		return CLIENT_EXIT_USAGE;
	}
	if (replace && file == NULL) {
		client_err("--replace goes with --file");
		return CLIENT_EXIT_USAGE;
	}
	if ((rc = client_name_check("policy name", pos[0])) != 0)
		return rc;
	json_t *req = NULL, *j = NULL;
	if (file) {
		uint8_t *buf = NULL;
		size_t len = 0;
		int e = fileio_read(file, POLICY_FILE_MAX, &buf, &len);
		if (e < 0) {
			client_err("cannot read %s: %s", file,
			           e == ATTEST_E_LIMIT ? "larger than 1 MiB" : attest_strerror(e));
			return CLIENT_EXIT_FAIL;
		}
		json_error_t je;
		json_t *doc = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
		free(buf);
		if (!json_is_object(doc)) {
			if (doc == NULL)
				client_err("%s is not JSON: line %d, column %d: %s", file, je.line,
				           je.column, je.text);
			else
				client_err("%s: a policy document is a JSON object", file);
			json_decref(doc);
			return CLIENT_EXIT_FAIL;
		}
		if (replace) {
			char path[CLIENT_PATH_MAX];
			if ((rc = policy_path(pos[0], "", path, sizeof path)) != 0) {
				json_decref(doc);
				return rc;
			}
			rc = client_request("PUT", path, doc, 0, &j);
			json_decref(doc);
			goto done;
		}
		req = json_pack("{s:s,s:o}", "name", pos[0], "body", doc);
	} else {
		req = json_pack("{s:s,s:s}", "name", pos[0], "from_host", from);
	}
	rc = client_request("POST", "/policies", req, CLIENT_WAIT_TIMEOUT_MS, &j);
	json_decref(req);
done:
	if (rc != 0)
		return rc;
	if (client_g.json) {
		client_print_json(j);
	} else {
		printf("%s policy ", replace ? "Replaced" : "Created");
		client_puts(stdout, client_str(j, "name"));
		printf(".\n");
		json_t *learned = json_object_get(j, "learned");
		if (json_array_size(learned) > 0) {
			printf("Approved from host ");
			client_puts(stdout, from);
			printf(":\n");
			size_t i;
			json_t *s;
			json_array_foreach(learned, i, s)
			{
				printf("  - ");
				client_puts(stdout, json_is_string(s) ? json_string_value(s) : "?");
				fputc('\n', stdout);
			}
		}
		printf("Assign it with 'attestctl policy assign ");
		client_puts(stdout, client_str(j, "name"));
		printf(" --host HOST' (or --default).\n");
	}
	json_decref(j);
	return 0;
}

static int policy_show(int argc, char **argv)
{
	const char *pos[1];
	int npos;
	int rc = client_parse("policy show", usage, argc, argv, NULL, pos, 1, 1, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	char path[CLIENT_PATH_MAX];
	if ((rc = policy_path(pos[0], "", path, sizeof path)) != 0)
		return rc;
	json_t *j = NULL;
	if ((rc = client_request("GET", path, NULL, 0, &j)) != 0)
		return rc;
	if (client_g.json) {
		client_print_json(j);
	} else {
		char t1[32], t2[32];
		int64_t c = 0, u = 0;
		client_int(j, "created_at", &c);
		client_int(j, "updated_at", &u);
		print_summary_line(j);
		printf("Created %s, updated %s.\nDocument:\n", client_time(c, t1),
		       client_time(u, t2));
		/* Pretty JSON, key order as stored; jansson writes control
		 * characters inside strings as \uXXXX, so every newline here is
		 * the layout's, and each line is escaped on its own. */
		char *text = json_dumps(json_object_get(j, "body"),
		                        JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
		client_puts_lines(stdout, text ? text : "null");
		free(text);
	}
	json_decref(j);
	return 0;
}

static int policy_list(int argc, char **argv)
{
	json_t *j;
	int rc = client_list("policy list", usage, argc, argv, "/policies", &j);
	if (rc != CLIENT_CONTINUE)
		return rc;
	static const char *const heads[] = {"NAME", "DEFAULT", "HOSTS", "UPDATED"};
	struct client_table *t = client_table_new(4, heads);
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(j, "policies"), i, p)
	{
		if (t == NULL)
			break;
		char n[24], upd[32];
		int64_t h = 0, u = 0;
		client_int(p, "hosts", &h);
		client_int(p, "updated_at", &u);
		snprintf(n, sizeof n, "%lld", (long long)h);
		const char *cells[] = {client_str(p, "name"),
		                       json_is_true(json_object_get(p, "default")) ? "yes" : "no",
		                       n, client_time(u, upd)};
		client_table_add(t, cells);
	}
	if (t)
		client_table_print(t, stdout);
	client_table_free(t);
	json_decref(j);
	return t ? 0 : CLIENT_EXIT_FAIL;
}

static int policy_assign(int argc, char **argv)
{
	const char *host = NULL, *pos[1];
	bool dflt = false;
	const struct client_opt opts[] = {
	    {"--host", &host, NULL}, {"--default", NULL, &dflt}, {NULL, NULL, NULL}};
	int npos;
	int rc = client_parse("policy assign", usage, argc, argv, opts, pos, 1, 1, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	if ((host == NULL) == !dflt) {
		client_err("give exactly one of --host HOST or --default");
		usage(stderr);
		return CLIENT_EXIT_USAGE;
	}
	char path[CLIENT_PATH_MAX];
	if ((rc = policy_path(pos[0], "assign", path, sizeof path)) != 0)
		return rc;
	json_t *body = host ? json_pack("{s:s}", "host", host) : json_pack("{s:b}", "default", 1);
	json_t *j = NULL;
	rc = client_request("POST", path, body, 0, &j);
	json_decref(body);
	if (rc != 0)
		return rc;
	if (client_g.json) {
		client_print_json(j);
	} else {
		if (host) {
			printf("Host ");
			client_puts(stdout, host);
			printf(" now uses policy ");
			client_puts(stdout, pos[0]);
			printf(" and is attested again at once.\n");
		} else {
			printf("Policy ");
			client_puts(stdout, pos[0]);
			printf(" is now the default.\n");
		}
		print_summary_line(j);
	}
	json_decref(j);
	return 0;
}

static int policy_remove(int argc, char **argv)
{
	const char *pos[1];
	int npos;
	int rc = client_parse("policy remove", usage, argc, argv, NULL, pos, 1, 1, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	char path[CLIENT_PATH_MAX];
	if ((rc = policy_path(pos[0], "", path, sizeof path)) != 0)
		return rc;
	return client_remove(path, "Removed policy ", pos[0], ".\n");
}

int cmd_policy(int argc, char **argv)
{
	static const struct client_subcommand subs[] = {
	    {"create", policy_create},
	    {"show", policy_show},
	    {"list", policy_list},
	    {"assign", policy_assign},
	    {"remove", policy_remove},
	    {"check", cmd_policy_check},
	    {NULL, NULL},
	};
	return client_dispatch("policy", usage, subs, argc, argv);
}
