/* attest-agent --push (push.c): the agent without a listening socket,
 * long-polling its verifier (docs/protocol.md, "Push carrier"). */
#ifndef ATTEST_AGENT_PUSH_H
#define ATTEST_AGENT_PUSH_H

#include <stddef.h>

#include "daemon.h"
#include "tlsid.h"

#define AGENT_PUSH_MAX_TARGETS 16 /* verifier addresses in --push */

/* The verifier addresses of --push, checked. */
struct push_target_list {
	size_t n;
	char url[AGENT_PUSH_MAX_TARGETS][300];
};

/* Parse "https://HOST:PORT[,https://HOST:PORT...]" (IPv6 as [ADDR]). 0, or
 * ATTEST_E_FORMAT / ATTEST_E_LIMIT (more than AGENT_PUSH_MAX_TARGETS). */
int agent_push_parse_urls(const char *list, struct push_target_list *ret);

/* Run the push agent until SIGTERM/SIGINT: id is our TLS identity, pins
 * (npins >= 1) the verifier certificates we accept. Returns the exit
 * status. */
int agent_push_run(const struct agentd_config *cfg, const struct tlsid *id,
                   const struct push_target_list *urls, const char (*pins)[TLSID_THUMBPRINT_SIZE],
                   size_t npins);

#endif
