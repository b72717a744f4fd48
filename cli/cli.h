/* attestctl command groups. Each returns the process exit status:
 * 0 success, 1 a failure the command reports (bad input, not verified),
 * 2 a usage error. */
#ifndef ATTEST_CLI_H
#define ATTEST_CLI_H

#include <stdbool.h>

int cmd_eventlog(int argc, char **argv);
int cmd_verify(int argc, char **argv);
/* Operator commands talking to attest-verifier (client.h; docs/cli.md). */
int cmd_host(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_ca(int argc, char **argv);
int cmd_alarm(int argc, char **argv);
int cmd_event(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_catalog(int argc, char **argv);
int cmd_notify(int argc, char **argv);
/* attestctl audit verify|export (audit.c) */
int cmd_audit(int argc, char **argv);
/* attestctl verify --audit FILE --record SEQ: re-check a past verdict from
 * an audit export (audit.c). json: --json output. Exit status as verify's. */
int audit_recheck(const char *path, const char *record, bool json);
/* attestctl policy check (policy_check.c) */
int cmd_policy_check(int argc, char **argv);

#endif
