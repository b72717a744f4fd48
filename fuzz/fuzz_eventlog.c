/* libFuzzer target: the event log parser and everything that reads a
 * parsed log (replay, content checks, facts, descriptions). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "eventlog.h"
#include "eventlog_facts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eventlog *log = NULL;
	struct diag err;
	if (eventlog_parse(data, size, &log, &err) < 0)
		return 0;
	struct eventlog_pcrs pcrs;
	eventlog_replay(log, &pcrs);
	struct eventlog_checks *checks = NULL;
	if (eventlog_content_check(log, &checks) == 0) {
		struct eventlog_facts *facts = NULL;
		if (eventlog_facts_derive(log, checks, &facts) == 0)
			eventlog_facts_free(facts);
		eventlog_checks_free(checks);
	}
	char line[256];
	for (size_t i = 0; i < log->event_count; i++)
		eventlog_event_describe(&log->events[i], line, sizeof line);
	eventlog_free(log);
	return 0;
}
