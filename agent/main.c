/* attest-agent: the attester. `attest-agent --listen ...` (options first,
 * no command) runs the daemon (daemon.c, docs/agent.md); the commands below
 * are one-shot tools. */
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "log.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: attest-agent --listen ADDR:PORT [OPTIONS]   run the daemon\n"
	        "       attest-agent COMMAND [OPTIONS]\n"
	        "\n"
	        "Commands:\n"
	        "  evidence   quote this host's TPM once and print the evidence bundle (JSON)\n"
	        "  ek         print the EK and its key hash (for attestctl host add --ek)\n"
	        "\n"
	        "attest-agent --help-daemon describes the daemon's options;\n"
	        "attest-agent COMMAND --help describes a command. Version " ATTEST_VERSION ".\n");
}

int main(int argc, char **argv)
{
	log_init("attest-agent", LOG_LEVEL_INFO);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "--help-daemon") == 0) {
		char *hargv[] = {argv[0], "--help", NULL};
		return cmd_daemon(2, hargv);
	}
	if (strcmp(cmd, "--version") == 0) {
		printf("attest-agent %s\n", ATTEST_VERSION);
		return 0;
	}
	if (strcmp(cmd, "evidence") == 0)
		return cmd_evidence(argc - 1, argv + 1);
	if (strcmp(cmd, "ek") == 0)
		return cmd_ek(argc - 1, argv + 1);
	/* Not listed in --help: a test driver for the TPM module (see
	 * selftest.c); it changes nothing on a real TPM but loads keys. */
	if (strcmp(cmd, "selftest") == 0)
		return cmd_selftest(argc - 1, argv + 1);
	if (cmd[0] == '-' && cmd[1] == '-')
		return cmd_daemon(argc, argv);
	fprintf(stderr, "attest-agent: unknown command \"%s\"\n", cmd);
	usage(stderr);
	return 2;
}
