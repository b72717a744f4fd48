/* The process's attestation counters and the attestation-duration
 * histogram that /metrics serves (api_admin.c renders them). */
#include "verifier.h"

/* Upper bounds of the duration histogram's buckets, seconds (+Inf last). */
static const double hist_bounds[VERIFIER_HIST_BUCKETS] = {0.05, 0.1, 0.25, 0.5, 1,  2,
                                                          5,    10,  20,   30,  60, 120};

/* Count a verdict and how long its attestation took. */
void metrics_verdict(struct verifier *v, enum store_trust t, double secs)
{
	if (t == STORE_TRUST_GREEN)
		v->m.attest_green++;
	else if (t == STORE_TRUST_RED)
		v->m.attest_red++;
	else
		v->m.attest_unknown++;
	size_t b = 0;
	while (b < VERIFIER_HIST_BUCKETS && secs > hist_bounds[b])
		b++;
	v->m.hist[b]++;
	v->m.hist_sum += secs;
	v->m.hist_count++;
}

const double *metrics_hist_bounds(void)
{
	return hist_bounds;
}
