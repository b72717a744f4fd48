/* The process's attestation counters and the attestation-duration
 * histogram that /metrics serves (api_admin.c renders them). */
#include <time.h>

#include "textbuf.h"
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

static const double phase_bounds[VERIFIER_PHASE_BUCKETS] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02,
                                                            0.03,   0.05,  0.1,   0.2,   0.5};
static const char *const phase_names[VERIFIER_PHASES] = {
    [PHASE_CLAIM] = "claim",   [PHASE_START] = "start",   [PHASE_AGENT] = "agent",
    [PHASE_VERIFY] = "verify", [PHASE_COMMIT] = "commit", [PHASE_HOST] = "host",
    [PHASE_OWN] = "own",
};

void metrics_phase(struct verifier *v, enum verifier_phase ph, const struct timespec *t0,
                   const struct timespec *t1)
{
	if (t0->tv_sec == 0)
		return; /* not timed (a step that did not run) */
	metrics_phase_secs(
	    v, ph, (double)(t1->tv_sec - t0->tv_sec) + (double)(t1->tv_nsec - t0->tv_nsec) / 1e9);
}

void metrics_phase_secs(struct verifier *v, enum verifier_phase ph, double secs)
{
	if (ph >= VERIFIER_PHASES)
		return;
	if (!(secs > 0))
		secs = 0;
	size_t b = 0;
	while (b < VERIFIER_PHASE_BUCKETS && secs > phase_bounds[b])
		b++;
	v->m.phase_hist[ph][b]++;
	v->m.phase_sum[ph] += secs;
}

const double *metrics_phase_bounds(void)
{
	return phase_bounds;
}

const char *metrics_phase_name(enum verifier_phase ph)
{
	return ph < VERIFIER_PHASES ? phase_names[ph] : "?";
}

void metrics_phases_render(const struct verifier *v, struct textbuf *b)
{
	textbuf_add(b, "# HELP attest_attestation_phase_seconds Where an attestation's time goes "
	               "(attestations without enrollment): claim (the lease claim's trip through "
	               "the storage writer), start (job start to quote request sent), agent "
	               "(request to answer), verify (answer to verdict queued), commit (verdict "
	               "queued to committed and reported); and, when the agent's answer says how "
	               "long it took, host (that time, within agent) and own (start to verdict "
	               "less host: the verifier's and the network's share).\n"
	               "# TYPE attest_attestation_phase_seconds histogram\n");
	for (int ph = 0; ph < VERIFIER_PHASES; ph++) {
		uint64_t cum = 0;
		for (size_t i = 0; i < VERIFIER_PHASE_BUCKETS; i++) {
			cum += v->m.phase_hist[ph][i];
			textbuf_add(b,
			            "attest_attestation_phase_seconds_bucket{phase=\"%s\",le=\"%"
			            "g\"} %llu\n",
			            phase_names[ph], phase_bounds[i], (unsigned long long)cum);
		}
		cum += v->m.phase_hist[ph][VERIFIER_PHASE_BUCKETS];
		textbuf_add(
		    b,
		    "attest_attestation_phase_seconds_bucket{phase=\"%s\",le=\"+Inf\"} %llu\n"
		    "attest_attestation_phase_seconds_sum{phase=\"%s\"} %.6f\n"
		    "attest_attestation_phase_seconds_count{phase=\"%s\"} %llu\n",
		    phase_names[ph], (unsigned long long)cum, phase_names[ph], v->m.phase_sum[ph],
		    phase_names[ph], (unsigned long long)cum);
	}
}
