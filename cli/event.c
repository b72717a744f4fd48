/* attestctl event list */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"

static const char *const kinds[] = {"trust",   "connection", "alarm", "ak",     "host",
                                    "policy",  "ca",         "token", "enroll", "notify",
                                    "catalog", "software",   "push",  "audit",  NULL};

static void usage(FILE *f)
{
	fprintf(f, "usage: attestctl event list [--host NAME] [--kind KIND] [--limit N]\n"
	           "                            [--before ID] [--json]\n"
	           "\n"
	           "The event history, newest first: every trust and connection change, alarm,\n"
	           "AK enrollment and operator action, with who did it (the token's name or\n"
	           "'verifier').\n"
	           "  --host NAME  only this host's events\n"
	           "  --kind KIND  trust, connection, alarm, ak, host, policy, ca, token, enroll,\n"
	           "               notify, catalog, software, push, audit\n"
	           "  --limit N    at most N events (1 to 1000, default 100)\n"
	           "  --before ID  page on: events older than event ID (the last line tells the\n"
	           "               ID to pass when there are more)\n"
	           "Global options: see 'attestctl host --help'.\n"
	           "Exit status: 0 done, 1 refused by the verifier or not reachable, 2 usage.\n");
}

static int event_list(int argc, char **argv)
{
	const char *host = NULL, *kind = NULL, *limit = NULL, *before = NULL, *pos[1];
	const struct client_opt opts[] = {{"--host", &host, NULL},
	                                  {"--kind", &kind, NULL},
	                                  {"--limit", &limit, NULL},
	                                  {"--before", &before, NULL},
	                                  {NULL, NULL, NULL}};
	int npos;
	int rc = client_parse("event list", usage, argc, argv, opts, pos, 0, 0, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	unsigned long lim = 100, bid = 0;
	if (limit && client_parse_uint(limit, 1, 1000, &lim) < 0) {
		client_err("--limit wants a number from 1 to 1000, not \"%s\"", limit);
		return CLIENT_EXIT_USAGE;
	}
	if (before && client_parse_uint(before, 1, 0x7fffffffffffffffUL, &bid) < 0) {
		client_err("--before wants an event id, not \"%s\"", before);
		return CLIENT_EXIT_USAGE;
	}
	if (kind) {
		size_t k = 0;
		while (kinds[k] && strcmp(kinds[k], kind))
			k++;
		if (kinds[k] == NULL) {
			client_err("unknown --kind \"%s\"", kind);
			usage(stderr);
			return CLIENT_EXIT_USAGE;
		}
	}
	char esc[CLIENT_PATH_MAX / 2] = "", path[CLIENT_PATH_MAX], bpart[40] = "";
	if (host && client_escape(host, esc, sizeof esc) < 0) {
		client_err("host name too long");
		return CLIENT_EXIT_USAGE;
	}
	if (bid)
		snprintf(bpart, sizeof bpart, "&before_id=%lu", bid);
	snprintf(path, sizeof path, "/events?limit=%lu%s%s%s%s%s", lim, host ? "&host=" : "", esc,
	         kind ? "&kind=" : "", kind ? kind : "", bpart);
	json_t *j = NULL;
	if ((rc = client_get_view(path, &j)) != CLIENT_CONTINUE)
		return rc;
	json_t *events = json_object_get(j, "events");
	static const char *const heads[] = {"ID", "WHEN", "HOST", "KIND", "ACTOR", "MESSAGE"};
	struct client_table *t = client_table_new(6, heads);
	size_t i;
	json_t *e;
	json_array_foreach(events, i, e)
	{
		if (t == NULL)
			break;
		char id[24], when[32];
		int64_t v = 0, at = 0;
		client_int(e, "id", &v);
		client_int(e, "at", &at);
		snprintf(id, sizeof id, "%lld", (long long)v);
		const char *cells[] = {id,
		                       client_time(at, when),
		                       client_str(e, "host"),
		                       client_str(e, "kind"),
		                       client_str(e, "actor"),
		                       client_str(e, "message")};
		client_table_add(t, cells);
	}
	if (t && json_array_size(events) > 0)
		client_table_print(t, stdout);
	else if (t)
		printf("No events.\n");
	int64_t next = 0;
	if (client_int(j, "next_before_id", &next))
		printf("(more: attestctl event list --before %lld)\n", (long long)next);
	client_table_free(t);
	json_decref(j);
	return t ? 0 : CLIENT_EXIT_FAIL;
}

int cmd_event(int argc, char **argv)
{
	static const struct client_subcommand subs[] = {
	    {"list", event_list},
	    {NULL, NULL},
	};
	return client_dispatch("event", usage, subs, argc, argv);
}
