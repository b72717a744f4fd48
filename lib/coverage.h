/* Fleet coverage and the fleet alarms' state changes: pure arithmetic the
 * verifier runs on the counts its store reads (verifier/coverage.c;
 * docs/operations.md "Watching the fleet as a whole").
 *
 * Coverage is the share of enabled hosts whose last verdict is younger than
 * its validity. A fleet alarm changes state only after its condition has
 * held for a hold period, and the coverage alarm clears only at a level a
 * margin above the one that raised it, so a fleet hovering at the threshold
 * does not raise and clear it on every evaluation. */
#ifndef ATTEST_COVERAGE_H
#define ATTEST_COVERAGE_H

#include <stdbool.h>
#include <stdint.h>

/* Percentage points above the threshold that clear a coverage alarm. */
#define COVERAGE_CLEAR_MARGIN 5

/* covered / enabled as a ratio in [0, 1]; an empty fleet (enabled <= 0) is
 * fully covered (1.0): there is nothing left unwatched. Counts out of
 * range (negative, covered > enabled) are clamped. */
double coverage_ratio(int64_t covered, int64_t enabled);

/* Whether covered/enabled is under percent (0..100), in integers (no
 * rounding at the boundary): raises the coverage alarm. An empty fleet is
 * never under. */
bool coverage_below(int64_t covered, int64_t enabled, unsigned percent);

/* Whether covered/enabled is at least percent + COVERAGE_CLEAR_MARGIN
 * (capped at 100): clears the coverage alarm. */
bool coverage_recovered(int64_t covered, int64_t enabled, unsigned percent);

/* Whether the dead-man period has passed: enabled hosts exist and the
 * newest verdict (or, when none was ever written, `since`, when watching
 * began) is more than period seconds old. period 0: never. */
bool coverage_dead(int64_t enabled, int64_t newest, int64_t since, int64_t now, int64_t period);

/* What a fleet alarm should do now. */
enum coverage_action { COVERAGE_KEEP, COVERAGE_RAISE, COVERAGE_CLEAR };

/* The hold of one fleet alarm: when the condition for a change began (0:
 * it does not hold now). Zero-initialise. */
struct coverage_hold {
	int64_t since;
};

/* With the alarm open or not, raise_cond (the condition that raises it)
 * and clear_cond (the one that clears it; at most one of the two should
 * hold), decide at time now: RAISE once raise_cond has held for hold_s
 * seconds on a closed alarm, CLEAR once clear_cond has held for hold_s on
 * an open one, KEEP otherwise. A condition that stops holding resets the
 * hold. h is updated; h NULL -> KEEP. */
enum coverage_action coverage_alarm_next(struct coverage_hold *h, bool open, bool raise_cond,
                                         bool clear_cond, int64_t now, int64_t hold_s);

#endif
