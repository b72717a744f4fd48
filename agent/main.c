/* attest-agent: the attester. Dispatches to one command per file; the
 * daemon (attest-agent --listen ..., docs/architecture.md) slots in here. */
#include <stdio.h>
#include <string.h>

#include "agent.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: attest-agent COMMAND [OPTIONS]\n"
		   "\n"
		   "Commands:\n"
		   "  evidence   quote this host's TPM once and print the evidence bundle (JSON)\n"
		   "\n"
		   "attest-agent COMMAND --help describes a command. Version " ATTEST_VERSION ".\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0) {
		printf("attest-agent %s\n", ATTEST_VERSION);
		return 0;
	}
	if (strcmp(cmd, "evidence") == 0)
		return cmd_evidence(argc - 1, argv + 1);
	/* Not listed in --help: a test driver for the TPM module (see
	 * selftest.c); it changes nothing on a real TPM but loads keys. */
	if (strcmp(cmd, "selftest") == 0)
		return cmd_selftest(argc - 1, argv + 1);
	fprintf(stderr, "attest-agent: unknown command \"%s\"\n", cmd);
	usage(stderr);
	return 2;
}
