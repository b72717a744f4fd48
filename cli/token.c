/* attestctl token create|list|remove: operator API tokens (admin only) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "client.h"
#include "err.h"
#include "fileio.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: attestctl token COMMAND [ARGS...] [--json]\n"
	           "\n"
	           "Operator API tokens. Managing them needs an admin token.\n"
	           "  create NAME --role viewer|admin [--output FILE]\n"
	           "      Create a token. A viewer may only read; an admin may change things.\n"
	           "      The token is shown this once (the verifier keeps only its SHA-256):\n"
	           "      printed on standard output, or with --output written to FILE (a new\n"
	           "      file, mode 0600) ready for --token-file.\n"
	           "  list             every token's name, role and creation time (never the\n"
	           "                   token itself)\n"
	           "  remove NAME      revoke a token\n"
	           "\n"
	           "Global options: see 'attestctl host --help'.\n"
	           "Exit status: 0 done, 1 refused by the verifier, not reachable or the output\n"
	           "file exists, 2 usage.\n");
}

static int token_create(int argc, char **argv)
{
	const char *role = NULL, *output = NULL, *pos[1];
	const struct client_opt opts[] = {
	    {"--role", &role, NULL}, {"--output", &output, NULL}, {NULL, NULL, NULL}};
	int npos;
	int rc = client_parse("token create", usage, argc, argv, opts, pos, 1, 1, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	if (role == NULL || (strcmp(role, "viewer") && strcmp(role, "admin"))) {
		client_err("--role viewer or --role admin is required");
		usage(stderr);
		return CLIENT_EXIT_USAGE;
	}
	struct stat st;
	if (output && lstat(output, &st) == 0) {
		client_err("%s exists; not overwriting it (remove it or choose another file)",
		           output);
		return CLIENT_EXIT_FAIL;
	}
	if ((rc = client_name_check("token name", pos[0])) != 0)
		return rc;
	json_t *body = json_pack("{s:s,s:s}", "name", pos[0], "role", role);
	json_t *j = NULL;
	rc = client_request("POST", "/tokens", body, 0, &j);
	json_decref(body);
	if (rc != 0)
		return rc;
	const char *tok = client_str(j, "token");
	if (tok == NULL) {
		client_err("the verifier's answer holds no token");
		json_decref(j);
		return CLIENT_EXIT_FAIL;
	}
	if (output) {
		size_t n = strlen(tok);
		char *line = malloc(n + 2);
		int e = line ? 0 : ATTEST_E_NOMEM;
		if (line) {
			memcpy(line, tok, n);
			line[n] = '\n';
			e = fileio_write_atomic(output, line, n + 1, 0600);
			OPENSSL_cleanse(line, n + 1);
			free(line);
		}
		if (e < 0) {
			client_err("the token was created but cannot be written to %s: %s (remove "
			           "it with 'attestctl token remove %s' and try again)",
			           output, e == ATTEST_E_IO ? strerror(errno) : attest_strerror(e),
			           pos[0]);
			json_decref(j);
			return CLIENT_EXIT_FAIL;
		}
		json_object_del(j, "token");
	}
	if (client_g.json) {
		client_print_json(j);
	} else if (output) {
		printf("Created %s token ", role);
		client_puts(stdout, pos[0]);
		printf(", written to %s (use it with --token-file %s).\n", output, output);
	} else {
		client_puts(stdout, tok);
		fputc('\n', stdout);
		fprintf(stderr,
		        "Created %s token %s. It is shown this once: keep it in a file "
		        "of mode 0600 for --token-file.\n",
		        role, pos[0]);
	}
	json_decref(j);
	return 0;
}

static int token_list(int argc, char **argv)
{
	json_t *j;
	int rc = client_list("token list", usage, argc, argv, "/tokens?limit=1000", &j);
	if (rc != CLIENT_CONTINUE)
		return rc;
	static const char *const heads[] = {"NAME", "ROLE", "CREATED"};
	struct client_table *t = client_table_new(3, heads);
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(j, "tokens"), i, x)
	{
		if (t == NULL)
			break;
		char when[32];
		int64_t c = 0;
		client_int(x, "created_at", &c);
		const char *cells[] = {client_str(x, "name"), client_str(x, "role"),
		                       client_time(c, when)};
		client_table_add(t, cells);
	}
	if (t)
		client_table_print(t, stdout);
	client_table_free(t);
	json_decref(j);
	return t ? 0 : CLIENT_EXIT_FAIL;
}

static int token_remove(int argc, char **argv)
{
	const char *pos[1];
	int npos;
	int rc = client_parse("token remove", usage, argc, argv, NULL, pos, 1, 1, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	char esc[CLIENT_PATH_MAX / 2], path[CLIENT_PATH_MAX];
	if (client_escape(pos[0], esc, sizeof esc) < 0) {
		client_err("token name too long");
		return CLIENT_EXIT_USAGE;
	}
	snprintf(path, sizeof path, "/tokens/%s", esc);
	return client_remove(path, "Revoked token ", pos[0], ".\n");
}

int cmd_token(int argc, char **argv)
{
	static const struct client_subcommand subs[] = {
	    {"create", token_create},
	    {"list", token_list},
	    {"remove", token_remove},
	    {NULL, NULL},
	};
	return client_dispatch("token", usage, subs, argc, argv);
}
