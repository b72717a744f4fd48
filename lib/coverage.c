/* Fleet coverage and the fleet alarms' state changes (coverage.h). */
#include "coverage.h"

#include <stddef.h>

double coverage_ratio(int64_t covered, int64_t enabled)
{
	if (enabled <= 0)
		return 1.0;
	if (covered < 0)
		covered = 0;
	if (covered > enabled)
		covered = enabled;
	return (double)covered / (double)enabled;
}

/* covered * 100 against percent * enabled: exact in 64 bits for any
 * realistic count, in floating point past INT64_MAX / 100 (where a rounding
 * at the boundary no longer matters). */
static int cmp_share(int64_t covered, int64_t enabled, unsigned percent)
{
	if (covered < 0)
		covered = 0;
	if (covered > enabled)
		covered = enabled;
	if (percent > 100)
		percent = 100;
	if (enabled <= INT64_MAX / 100) {
		int64_t a = covered * 100, b = (int64_t)percent * enabled;
		return a < b ? -1 : a > b;
	}
	double a = (double)covered / (double)enabled * 100.0;
	return a < (double)percent ? -1 : a > (double)percent;
}

bool coverage_below(int64_t covered, int64_t enabled, unsigned percent)
{
	return enabled > 0 && cmp_share(covered, enabled, percent) < 0;
}

bool coverage_recovered(int64_t covered, int64_t enabled, unsigned percent)
{
	unsigned p = percent > 100 - COVERAGE_CLEAR_MARGIN ? 100 : percent + COVERAGE_CLEAR_MARGIN;
	return enabled <= 0 || cmp_share(covered, enabled, p) >= 0;
}

bool coverage_dead(int64_t enabled, int64_t newest, int64_t since, int64_t now, int64_t period)
{
	if (period <= 0 || enabled <= 0)
		return false;
	int64_t last = newest > since ? newest : since;
	return now - last > period;
}

enum coverage_action coverage_alarm_next(struct coverage_hold *h, bool open, bool raise_cond,
                                         bool clear_cond, int64_t now, int64_t hold_s)
{
	if (h == NULL)
		return COVERAGE_KEEP;
	bool cond = open ? clear_cond : raise_cond;
	if (!cond) {
		h->since = 0;
		return COVERAGE_KEEP;
	}
	if (h->since == 0 || h->since > now)
		h->since = now;
	if (now - h->since < (hold_s > 0 ? hold_s : 0))
		return COVERAGE_KEEP;
	h->since = 0;
	return open ? COVERAGE_CLEAR : COVERAGE_RAISE;
}
