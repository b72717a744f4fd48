/* attestctl policy check NAME: what-if for a policy (docs/cli.md). The
 * verifier judges every host's last stored evidence against NAME and
 * answers which hosts would change colour and why; nothing changes. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "client.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: attestctl policy check NAME [--all] [--json]\n"
	           "\n"
	           "Judge every host's last stored evidence against policy NAME (assigned or not)\n"
	           "and list the hosts whose colour would change, with the reasons; nothing is\n"
	           "changed. --all lists every host. A host whose last evidence did not verify\n"
	           "(or that has none) cannot be judged and shows as unknown.\n"
	           "Exit status: 0 done, 1 refused by the verifier or not reachable, 2 usage.\n");
}

int cmd_policy_check(int argc, char **argv)
{
	bool all = false;
	const char *pos[1];
	const struct client_opt opts[] = {{"--all", NULL, &all}, {NULL, NULL, NULL}};
	int npos;
	int rc = client_parse("policy check", usage, argc, argv, opts, pos, 1, 1, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	char esc[CLIENT_PATH_MAX], path[CLIENT_PATH_MAX + 32];
	if (client_escape(pos[0], esc, sizeof esc) < 0) {
		client_err("policy name too long");
		return CLIENT_EXIT_USAGE;
	}
	snprintf(path, sizeof path, "/policies/%s/check", esc);
	json_t *j = NULL;
	if ((rc = client_request("GET", path, NULL, CLIENT_WAIT_TIMEOUT_MS, &j)) != 0)
		return rc;
	if (client_g.json) {
		client_print_json(j);
		json_decref(j);
		return 0;
	}
	int64_t n = 0;
	client_int(j, "would_change", &n);
	size_t i;
	json_t *h;
	json_array_foreach(json_object_get(j, "hosts"), i, h)
	{
		bool change = json_is_true(json_object_get(h, "changes"));
		const char *wb = client_str(h, "would_be");
		bool unknown = wb && !strcmp(wb, "unknown");
		if (!change && !unknown && !all)
			continue;
		client_line(stdout, "%s: %s -> %s%s%s", client_str(h, "host"),
		            client_str(h, "current"), wb, change ? "" : " (no change)",
		            unknown ? " (cannot be judged)" : "");
		if (unknown)
			client_line(stdout, "    %s", client_str(h, "why"));
		size_t k;
		json_t *r;
		json_array_foreach(json_object_get(h, "reasons"), k, r) client_line(
		    stdout, "    %s: %s", client_str(r, "code"), client_str(r, "message"));
	}
	if (n == 0)
		client_line(stdout, "Under policy %s no host would change colour.", pos[0]);
	else
		client_line(stdout, "Under policy %s %lld host(s) would change colour.", pos[0],
		            (long long)n);
	json_decref(j);
	return 0;
}
