/* attestctl command groups. Each returns the process exit status:
 * 0 success, 1 a failure the command reports (bad input, not verified),
 * 2 a usage error. */
#ifndef ATTEST_CLI_H
#define ATTEST_CLI_H

int cmd_eventlog(int argc, char **argv);
int cmd_verify(int argc, char **argv);

#endif
