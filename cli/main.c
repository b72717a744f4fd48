/* attestctl: operator command line for attest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
    {"eventlog", cmd_eventlog, "inspect a measured-boot event log (show, replay, facts)"},
    {"verify", cmd_verify, "verify an evidence bundle (quote, nonce, PCRs, event log)"},
    {"host", cmd_host, "add, list, show, attest, disconnect, reconnect, remove hosts; ek-cert"},
    {"policy", cmd_policy, "approved configurations: create, show, list, assign, remove"},
    {"ca", cmd_ca, "certified TPM list: add, list, remove EK CA certificates"},
    {"alarm", cmd_alarm, "list and acknowledge alarms"},
    {"event", cmd_event, "list the event history"},
    {"token", cmd_token, "create, list, remove operator API tokens"},
    {"status", cmd_status, "the verifier's state and host counts"},
    {"catalog", cmd_catalog, "software catalog: inspect, import, list, show, remove"},
    {"notify", cmd_notify,
     "notification targets (webhooks, syslog): add, list, show, test, remove"},
    {"audit", cmd_audit, "the audit chain: verify it end to end, export it"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: attestctl COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'attestctl COMMAND --help' describes each command. The operator commands\n"
	           "take --server URL --server-thumbprint SHA256:HEX --token-file FILE\n"
	           "(or ATTEST_SERVER, ATTEST_SERVER_THUMBPRINT, ATTEST_TOKEN_FILE) and --json.\n");
}

int main(int argc, char **argv)
{
	/* tss2-mu writes a warning to stderr for every malformed structure it is
	 * given; evidence comes from peers, so keep them from flooding the log. */
	setenv("TSS2_LOG", "all+none", 0);
	/* Global options of the operator commands may precede the command. */
	int lead = client_global_options(argc, argv);
	if (lead < 0)
		return 2;
	argc -= lead;
	argv += lead;
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("attestctl %s\n", ATTEST_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "attestctl: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
