/* The deliverer of notifications (notify.c): the outbox's rows sent to
 * their targets from the event loop. */
#ifndef ATTEST_NOTIFY_H
#define ATTEST_NOTIFY_H

#include <stdint.h>

struct verifier;

struct notify_stats {
	uint64_t delivered;    /* deliveries that reached their target */
	uint64_t failed;       /* failed attempts (each retry counts) */
	uint64_t dead_letters; /* rows that ran out of attempts, by this instance */
	int64_t queued;        /* rows waiting now (every instance), read every few seconds */
	int64_t dead;          /* dead letters in the database now */
};

/* Start the once-a-second claim timer. 0 or ATTEST_E_NOMEM. */
int notify_start(struct verifier *v);
/* Stop claiming and cancel the deliveries being sent (their leases run out
 * and another claim sends them again). Call before closing the writer. */
void notify_stop(struct verifier *v);
/* Free what is left (after the writer closed). NULL-safe. */
void notify_free(struct verifier *v);
void notify_get_stats(struct verifier *v, struct notify_stats *ret);

#endif
