/* lib/coverage.c: coverage from counts, and the fleet alarms' hold and
 * hysteresis. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "coverage.h"

static void test_ratio(void **state)
{
	(void)state;
	assert_true(coverage_ratio(0, 0) == 1.0);
	assert_true(coverage_ratio(5, -1) == 1.0);
	assert_true(coverage_ratio(0, 4) == 0.0);
	assert_true(coverage_ratio(3, 4) == 0.75);
	assert_true(coverage_ratio(4, 4) == 1.0);
	assert_true(coverage_ratio(9, 4) == 1.0);  /* clamped */
	assert_true(coverage_ratio(-3, 4) == 0.0); /* clamped */
}

static void test_below_exact_boundary(void **state)
{
	(void)state;
	/* 9 of 10 is exactly 90 %: not under 90, under 91. */
	assert_false(coverage_below(9, 10, 90));
	assert_true(coverage_below(9, 10, 91));
	assert_true(coverage_below(8, 10, 90));
	/* 2 of 3 (66.6 %) is under 67, not under 66. */
	assert_true(coverage_below(2, 3, 67));
	assert_false(coverage_below(2, 3, 66));
	/* Empty fleet: never under. Threshold 0: never under. */
	assert_false(coverage_below(0, 0, 100));
	assert_false(coverage_below(0, 10, 0));
	/* Above 100 is read as 100. */
	assert_true(coverage_below(9, 10, 250));
	assert_false(coverage_below(10, 10, 250));
	/* Huge counts do not overflow. */
	assert_true(coverage_below(INT64_MAX / 2, INT64_MAX, 90));
	assert_false(coverage_below(INT64_MAX, INT64_MAX, 100));
}

static void test_recovered_margin(void **state)
{
	(void)state;
	/* Threshold 90: recovered at 95 % and above only. */
	assert_false(coverage_recovered(94, 100, 90));
	assert_true(coverage_recovered(95, 100, 90));
	/* Threshold 97: the margin is capped at 100 %. */
	assert_false(coverage_recovered(99, 100, 97));
	assert_true(coverage_recovered(100, 100, 97));
	assert_true(coverage_recovered(0, 0, 100));
	/* Between below and recovered: neither (the hysteresis band). */
	assert_false(coverage_below(92, 100, 90));
	assert_false(coverage_recovered(92, 100, 90));
}

static void test_dead(void **state)
{
	(void)state;
	/* Newest verdict 100 s old, period 60. */
	assert_true(coverage_dead(3, 900, 0, 1000, 60));
	/* Exactly the period: not yet. */
	assert_false(coverage_dead(3, 940, 0, 1000, 60));
	/* No enabled host: nothing to be dead about. */
	assert_false(coverage_dead(0, 0, 0, 1000, 60));
	/* Period 0: off. */
	assert_false(coverage_dead(3, 0, 0, 1000, 0));
	/* Never a verdict: counted from since (the start of watching). */
	assert_false(coverage_dead(3, 0, 990, 1000, 60));
	assert_true(coverage_dead(3, 0, 900, 1000, 60));
	/* A verdict older than the start: the start counts. */
	assert_false(coverage_dead(3, 100, 990, 1000, 60));
}

static void test_hold_raise_and_clear(void **state)
{
	(void)state;
	struct coverage_hold h = {0};
	/* Condition begins at 100; hold 10 s. */
	assert_int_equal(coverage_alarm_next(&h, false, true, false, 100, 10), COVERAGE_KEEP);
	assert_int_equal(coverage_alarm_next(&h, false, true, false, 105, 10), COVERAGE_KEEP);
	assert_int_equal(coverage_alarm_next(&h, false, true, false, 110, 10), COVERAGE_RAISE);
	/* Open now: the raise condition does nothing, a clear must hold too. */
	assert_int_equal(coverage_alarm_next(&h, true, true, false, 111, 10), COVERAGE_KEEP);
	assert_int_equal(coverage_alarm_next(&h, true, false, true, 120, 10), COVERAGE_KEEP);
	/* Interrupted: the hold starts again. */
	assert_int_equal(coverage_alarm_next(&h, true, false, false, 125, 10), COVERAGE_KEEP);
	assert_int_equal(coverage_alarm_next(&h, true, false, true, 126, 10), COVERAGE_KEEP);
	assert_int_equal(coverage_alarm_next(&h, true, false, true, 135, 10), COVERAGE_KEEP);
	assert_int_equal(coverage_alarm_next(&h, true, false, true, 136, 10), COVERAGE_CLEAR);
	assert_int_equal(h.since, 0);
}

static void test_hold_zero_and_edges(void **state)
{
	(void)state;
	struct coverage_hold h = {0};
	assert_int_equal(coverage_alarm_next(&h, false, true, false, 50, 0), COVERAGE_RAISE);
	assert_int_equal(coverage_alarm_next(&h, true, false, true, 51, -5), COVERAGE_CLEAR);
	assert_int_equal(coverage_alarm_next(NULL, false, true, false, 50, 0), COVERAGE_KEEP);
	/* Already in the wanted state: nothing to do. */
	assert_int_equal(coverage_alarm_next(&h, false, false, true, 60, 0), COVERAGE_KEEP);
	assert_int_equal(coverage_alarm_next(&h, true, true, false, 60, 0), COVERAGE_KEEP);
	/* The clock going back restarts the hold instead of waiting forever. */
	h.since = 1000;
	assert_int_equal(coverage_alarm_next(&h, false, true, false, 500, 10), COVERAGE_KEEP);
	assert_int_equal(h.since, 500);
	assert_int_equal(coverage_alarm_next(&h, false, true, false, 510, 10), COVERAGE_RAISE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ratio),
	    cmocka_unit_test(test_below_exact_boundary),
	    cmocka_unit_test(test_recovered_margin),
	    cmocka_unit_test(test_dead),
	    cmocka_unit_test(test_hold_raise_and_clear),
	    cmocka_unit_test(test_hold_zero_and_edges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
