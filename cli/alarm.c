/* attestctl alarm list|ack */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: attestctl alarm COMMAND [ARGS...] [--json]\n"
	           "\n"
	           "An alarm is raised when a host's trust enters red and cleared when it\n"
	           "returns to green; cleared alarms stay as history. Fleet alarms are\n"
	           "about no one host (HOST shows \"(fleet: KIND)\"): COVERAGE_LOW (kind\n"
	           "coverage, attest-verifier --coverage-alarm) and NO_RECENT_VERDICTS (kind\n"
	           "dead_man, --dead-man); the verifier clears them when the fleet recovers.\n"
	           "\n"
	           "  list [--all] [--unacked] [--host NAME] [--limit N]\n"
	           "      Open alarms, newest first (--all: cleared ones too; --unacked: only\n"
	           "      those nobody acknowledged).\n"
	           "  ack ID\n"
	           "      Acknowledge an alarm (admin token; the token's name is recorded).\n"
	           "\n"
	           "Global options: see 'attestctl host --help'.\n"
	           "Exit status: 0 done, 1 refused by the verifier or not reachable, 2 usage.\n");
}

static void print_alarms(const json_t *alarms)
{
	static const char *const heads[] = {"ID", "HOST", "RAISED", "STATE", "ACKED", "SUMMARY"};
	struct client_table *t = client_table_new(6, heads);
	size_t i;
	json_t *a;
	json_array_foreach(alarms, i, a)
	{
		if (t == NULL)
			break;
		char id[24], raised[32], state[48], ago[32], acked[300];
		int64_t v = 0, r = 0, c = 0, ak = 0;
		client_int(a, "id", &v);
		client_int(a, "raised_at", &r);
		snprintf(id, sizeof id, "%lld", (long long)v);
		if (client_int(a, "cleared_at", &c) && c > 0)
			snprintf(state, sizeof state, "cleared %s", client_ago(c, ago));
		else
			snprintf(state, sizeof state, "open");
		if (client_int(a, "acked_at", &ak) && ak > 0)
			snprintf(acked, sizeof acked, "by %s",
			         client_str(a, "acked_by") ? client_str(a, "acked_by") : "?");
		else
			snprintf(acked, sizeof acked, "no");
		/* A fleet alarm has no host: its kind stands there. */
		char fleet[48];
		const char *host = client_str(a, "host");
		if (host == NULL) {
			const char *k = client_str(a, "kind");
			snprintf(fleet, sizeof fleet, "(fleet: %.30s)", k ? k : "?");
			host = fleet;
		}
		const char *cells[] = {id,    host,  client_time(r, raised),
		                       state, acked, client_str(a, "summary")};
		client_table_add(t, cells);
	}
	if (t)
		client_table_print(t, stdout);
	client_table_free(t);
}

static int alarm_list(int argc, char **argv)
{
	const char *host = NULL, *limit = NULL, *pos[1];
	bool all = false, unacked = false;
	const struct client_opt opts[] = {{"--all", NULL, &all},
	                                  {"--unacked", NULL, &unacked},
	                                  {"--host", &host, NULL},
	                                  {"--limit", &limit, NULL},
	                                  {NULL, NULL, NULL}};
	int npos;
	int rc = client_parse("alarm list", usage, argc, argv, opts, pos, 0, 0, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	unsigned long lim = 100;
	if (limit && client_parse_uint(limit, 1, 1000, &lim) < 0) {
		client_err("--limit wants a number from 1 to 1000, not \"%s\"", limit);
		return CLIENT_EXIT_USAGE;
	}
	char esc[CLIENT_PATH_MAX / 2] = "", path[CLIENT_PATH_MAX];
	if (host && client_escape(host, esc, sizeof esc) < 0) {
		client_err("host name too long");
		return CLIENT_EXIT_USAGE;
	}
	snprintf(path, sizeof path, "/alarms?limit=%lu%s%s%s%s", lim, all ? "" : "&open=1",
	         unacked ? "&unacked=1" : "", host ? "&host=" : "", esc);
	json_t *j = NULL;
	if ((rc = client_request("GET", path, NULL, 0, &j)) != 0)
		return rc;
	json_t *alarms = json_object_get(j, "alarms");
	if (client_g.json)
		client_print_json(j);
	else if (json_array_size(alarms) == 0)
		printf("No %salarms%s.\n", all ? "" : "open ", unacked ? " unacknowledged" : "");
	else
		print_alarms(alarms);
	json_decref(j);
	return 0;
}

static int alarm_ack(int argc, char **argv)
{
	const char *pos[1];
	int npos;
	int rc = client_parse("alarm ack", usage, argc, argv, NULL, pos, 1, 1, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	unsigned long id;
	if (client_parse_uint(pos[0], 1, 0x7fffffffffffffffUL, &id) < 0) {
		client_err("\"%s\" is not an alarm id (see 'attestctl alarm list')", pos[0]);
		return CLIENT_EXIT_USAGE;
	}
	char path[64];
	snprintf(path, sizeof path, "/alarms/%lu/ack", id);
	json_t *j = NULL;
	if ((rc = client_request("POST", path, NULL, 0, &j)) != 0)
		return rc;
	if (client_g.json) {
		client_print_json(j);
	} else {
		const char *host = client_str(j, "host"), *kind = client_str(j, "kind");
		if (host != NULL) {
			printf("Alarm %lu on host ", id);
			client_puts(stdout, host);
		} else { /* a fleet alarm */
			printf("Fleet alarm %lu (", id);
			client_puts(stdout, kind ? kind : "?");
			printf(")");
		}
		printf(" acknowledged by ");
		client_puts(stdout, client_str(j, "acked_by"));
		printf(".\n");
	}
	json_decref(j);
	return 0;
}

int cmd_alarm(int argc, char **argv)
{
	static const struct client_subcommand subs[] = {
	    {"list", alarm_list},
	    {"ack", alarm_ack},
	    {NULL, NULL},
	};
	return client_dispatch("alarm", usage, subs, argc, argv);
}
