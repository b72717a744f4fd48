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
	           "Coverage: the share of enabled hosts whose last verdict is younger than\n"
	           "its validity, fleet-wide and per verifier instance (the instance that\n"
	           "wrote each host's last verdict), the open fleet alarms, and this\n"
	           "instance's health (what its /healthz says).\n"
	           "Also a quick check of --server, --server-thumbprint and --token-file\n"
	           "(any token may read it). Global options: see 'attestctl host --help'.\n"
	           "Exit status: 0 done, 1 refused by the verifier or not reachable, 2 usage.\n");
}

static double ratio_of(const json_t *o)
{
	json_t *r = json_object_get(o, "ratio");
	return json_is_number(r) ? json_number_value(r) : 0.0;
}

/* The "coverage" object (absent from older verifiers: nothing printed). */
static void print_coverage(const json_t *c)
{
	if (!json_is_object(c))
		return;
	int64_t en = 0, cov = 0, pct = 0;
	client_int(c, "enabled", &en);
	client_int(c, "covered", &cov);
	printf("%-12s %.1f%%: %lld of %lld enabled hosts have a verdict younger than its "
	       "validity\n",
	       "coverage", 100.0 * ratio_of(c), (long long)cov, (long long)en);
	size_t i;
	json_t *g;
	json_array_foreach(json_object_get(c, "instances"), i, g)
	{
		int64_t ge = 0, gc = 0;
		client_int(g, "enabled", &ge);
		client_int(g, "covered", &gc);
		const char *name = client_str(g, "instance");
		printf("%-12s ", "  instance");
		client_puts(stdout, name ? name : "(never attested)");
		printf(": %.1f%% (%lld of %lld)\n", 100.0 * ratio_of(g), (long long)gc,
		       (long long)ge);
	}
	json_t *al = json_object_get(c, "alarms");
	bool ca = json_is_true(json_object_get(al, "coverage")),
	     da = json_is_true(json_object_get(al, "dead_man"));
	printf("%-12s ", "fleet alarms");
	if (!ca && !da)
		printf("none open");
	else
		printf("%s%s%s", ca ? "COVERAGE_LOW" : "", ca && da ? ", " : "",
		       da ? "NO_RECENT_VERDICTS" : "");
	if (client_int(c, "alarm_percent", &pct))
		printf(" (coverage alarm under %lld%%)", (long long)pct);
	fputc('\n', stdout);
	json_t *h = json_object_get(c, "health");
	printf("%-12s ", "health");
	if (json_is_true(json_object_get(h, "ok")))
		printf("ok\n");
	else {
		json_t *p;
		printf("unhealthy\n");
		json_array_foreach(json_object_get(h, "problems"), i, p)
		{
			printf("%-12s ", "");
			client_puts(stdout,
			            client_str(p, "message") ? client_str(p, "message") : "?");
			fputc('\n', stdout);
		}
	}
}

int cmd_status(int argc, char **argv)
{
	const char *pos[1];
	int npos;
	int rc = client_parse("status", usage, argc, argv, NULL, pos, 0, 0, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	json_t *j = NULL;
	if ((rc = client_get_view("/status", &j)) != CLIENT_CONTINUE)
		return rc;
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
	print_coverage(json_object_get(j, "coverage"));
	json_decref(j);
	return 0;
}
