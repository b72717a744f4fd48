/* attestctl status: the verifier's own state and host counts */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "client.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: attestctl status [--json]\n"
	           "\n"
	           "The verifier's version, instance name, certificate thumbprint, database,\n"
	           "how many hosts are green, red and unknown, and attestations in flight.\n"
	           "Also a quick check of --server, --server-thumbprint and --token-file\n"
	           "(any token may read it). Global options: see 'attestctl host --help'.\n"
	           "Exit status: 0 done, 1 refused by the verifier or not reachable, 2 usage.\n");
}

int cmd_status(int argc, char **argv)
{
	const char *pos[1];
	int npos;
	int rc = client_parse("status", usage, argc, argv, NULL, pos, 0, 0, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	json_t *j = NULL;
	if ((rc = client_request("GET", "/status", NULL, 0, &j)) != 0)
		return rc;
	if (client_g.json) {
		client_print_json(j);
		json_decref(j);
		return 0;
	}
	static const char *const keys[] = {"version", "instance", "thumbprint", "db_backend"};
	static const char *const labels[] = {"version", "instance", "thumbprint", "database"};
	for (size_t i = 0; i < 4; i++) {
		printf("%-12s ", labels[i]);
		client_puts(stdout, client_str(j, keys[i]));
		fputc('\n', stdout);
	}
	json_t *h = json_object_get(j, "hosts");
	int64_t v[7] = {0};
	static const char *const hk[] = {"total",     "green",        "red",           "unknown",
	                                 "connected", "disconnected", "not_responding"};
	for (size_t i = 0; i < 7; i++)
		client_int(h, hk[i], &v[i]);
	printf("%-12s %lld: %lld green, %lld red, %lld unknown\n", "hosts", (long long)v[0],
	       (long long)v[1], (long long)v[2], (long long)v[3]);
	printf("%-12s %lld connected, %lld disconnected, %lld not responding\n", "connection",
	       (long long)v[4], (long long)v[5], (long long)v[6]);
	int64_t fl = 0;
	if (client_int(j, "in_flight", &fl))
		printf("%-12s %lld attestation(s)\n", "in flight", (long long)fl);
	json_decref(j);
	return 0;
}
