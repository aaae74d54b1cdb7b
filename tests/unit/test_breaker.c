/*
 * test_breaker.c: the events client's circuit breaker (runtime/breaker.h)
 * on a clock of its own: closed below the threshold and open at exactly
 * it, a success resetting the count, refusals until the cooldown's last
 * millisecond, one probe at a time once it is over, the probe's success
 * closing and its failure reopening for a new cooldown, a lost probe, the
 * outcomes of attempts that went out before the state changed, a clock
 * that stands still or goes back, and the bounds config.c allows
 * (breaker_failures 1..1000, breaker_cooldown 10ms..1h).
 */
#include "runtime/breaker.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"

#define N       5               /* breaker_failures' default */
#define COOL    5000            /* breaker_cooldown's default, ms */
#define T0      1000000         /* a clock that is not at 0 */

/* An attempt at now may go out, and is not the probe. */
static void
passes(struct breaker *b, uint64_t now)
{
	bool probe = true;

	ck_assert_msg(breaker_allow(b, now, &probe), "refused at %llu",
	    (unsigned long long)now);
	ck_assert(!probe);
}

/* An attempt at now is refused. */
static void
refused(struct breaker *b, uint64_t now)
{
	bool probe = true;

	ck_assert_msg(!breaker_allow(b, now, &probe), "allowed at %llu",
	    (unsigned long long)now);
	ck_assert(!probe);
}

/* An attempt at now goes out as the probe. */
static void
probes(struct breaker *b, uint64_t now)
{
	bool probe = false;

	ck_assert_msg(breaker_allow(b, now, &probe), "refused at %llu",
	    (unsigned long long)now);
	ck_assert(probe);
	ck_assert_int_eq(b->state, BR_HALF_OPEN);
	ck_assert(b->probing);
}

/* n failed attempts (not probes) at now, none of which changes a thing. */
static void
fail_quietly(struct breaker *b, unsigned n, uint64_t now, uint64_t threshold)
{
	for (unsigned i = 0; i < n; i++)
		ck_assert_int_eq(breaker_failure(b, false, now, threshold,
		    COOL), BC_NONE);
}

/* A breaker opened at now by threshold failures in a row. */
static void
open_at(struct breaker *b, uint64_t now, uint64_t threshold,
    uint64_t cooldown)
{
	for (uint64_t i = 1; i < threshold; i++) {
		passes(b, now);
		ck_assert_int_eq(breaker_failure(b, false, now, threshold,
		    cooldown), BC_NONE);
	}
	passes(b, now);
	ck_assert_int_eq(breaker_failure(b, false, now, threshold, cooldown),
	    BC_OPENED);
	ck_assert_int_eq(b->state, BR_OPEN);
	ck_assert_uint_eq(b->open_until_ms, now + cooldown);
}

START_TEST(test_closed_below_threshold)
{
	struct breaker b = { 0 };
	uint64_t wait = 1;

	ck_assert_int_eq(b.state, BR_CLOSED);
	ck_assert(!breaker_wants_probe(&b, T0, &wait));
	ck_assert_uint_eq(wait, 0);
	for (unsigned i = 1; i < N; i++) {
		passes(&b, T0 + i);
		fail_quietly(&b, 1, T0 + i, N);
		ck_assert_uint_eq(b.failures, i);
		ck_assert_int_eq(b.state, BR_CLOSED);
		ck_assert_uint_eq(breaker_open_left(&b, T0 + i), 0);
	}
	passes(&b, T0 + N);
	/* a success while closed changes nothing the caller must act on */
	ck_assert_int_eq(breaker_success(&b, false), BC_NONE);
	ck_assert_uint_eq(b.failures, 0);
	ck_assert_int_eq(b.state, BR_CLOSED);
}
END_TEST

START_TEST(test_success_resets_count)
{
	struct breaker b = { 0 };

	fail_quietly(&b, N - 1, T0, N);
	ck_assert_int_eq(breaker_success(&b, false), BC_NONE);
	ck_assert_uint_eq(b.failures, 0);
	/* N - 1 more do not open it: the count started over */
	fail_quietly(&b, N - 1, T0 + 1, N);
	ck_assert_int_eq(b.state, BR_CLOSED);
	passes(&b, T0 + 1);
	/* the N-th in a row does */
	ck_assert_int_eq(breaker_failure(&b, false, T0 + 2, N, COOL),
	    BC_OPENED);
	ck_assert_uint_eq(b.failures, N);
}
END_TEST

START_TEST(test_opens_at_threshold)
{
	struct breaker b = { 0 };

	fail_quietly(&b, N - 1, T0, N);
	ck_assert_int_eq(b.state, BR_CLOSED);
	ck_assert_int_eq(breaker_failure(&b, false, T0 + 7, N, COOL),
	    BC_OPENED);
	ck_assert_int_eq(b.state, BR_OPEN);
	ck_assert_uint_eq(b.failures, N);
	ck_assert_uint_eq(b.open_until_ms, T0 + 7 + COOL);
	ck_assert(!b.probing);
	/* failures of attempts already out count, but the breaker is
	 * opened once: no second BC_OPENED, the cooldown stays */
	fail_quietly(&b, 3, T0 + 100, N);
	ck_assert_uint_eq(b.failures, N + 3);
	ck_assert_uint_eq(b.open_until_ms, T0 + 7 + COOL);
}
END_TEST

START_TEST(test_refuses_while_open)
{
	struct breaker b = { 0 };
	uint64_t wait;

	open_at(&b, T0, N, COOL);
	refused(&b, T0);
	refused(&b, T0 + 1);
	refused(&b, T0 + COOL / 2);
	refused(&b, T0 + COOL - 1);
	ck_assert_int_eq(b.state, BR_OPEN);
	ck_assert(!b.probing);
	ck_assert_uint_eq(breaker_open_left(&b, T0), COOL);
	ck_assert_uint_eq(breaker_open_left(&b, T0 + COOL - 1), 1);
	ck_assert_uint_eq(breaker_open_left(&b, T0 + COOL), 0);
	ck_assert_uint_eq(breaker_open_left(&b, T0 + COOL + 1), 0);
	/* a probe is wanted, when the cooldown is over */
	ck_assert(breaker_wants_probe(&b, T0 + 1000, &wait));
	ck_assert_uint_eq(wait, COOL - 1000);
	ck_assert(breaker_wants_probe(&b, T0 + COOL, &wait));
	ck_assert_uint_eq(wait, 0);
}
END_TEST

START_TEST(test_one_probe_after_cooldown)
{
	struct breaker b = { 0 };
	uint64_t wait;

	open_at(&b, T0, N, COOL);
	/* the cooldown's end, to the millisecond: one probe */
	probes(&b, T0 + COOL);
	ck_assert(!breaker_wants_probe(&b, T0 + COOL, &wait));
	/* others are refused while it is out, however long it takes */
	refused(&b, T0 + COOL);
	refused(&b, T0 + COOL + 1);
	refused(&b, T0 + 100 * COOL);
	ck_assert_int_eq(b.state, BR_HALF_OPEN);
	ck_assert(b.probing);
	/* half-open is not "open for a cooldown" */
	ck_assert_uint_eq(breaker_open_left(&b, T0 + COOL), 0);
}
END_TEST

START_TEST(test_probe_success_closes)
{
	struct breaker b = { 0 };

	open_at(&b, T0, N, COOL);
	probes(&b, T0 + COOL + 3);
	ck_assert_int_eq(breaker_success(&b, true), BC_CLOSED);
	ck_assert_int_eq(b.state, BR_CLOSED);
	ck_assert(!b.probing);
	ck_assert_uint_eq(b.failures, 0);
	passes(&b, T0 + COOL + 4);
	passes(&b, T0 + COOL + 4);
	/* closed afresh: N failures to open it again */
	fail_quietly(&b, N - 1, T0 + COOL + 5, N);
	ck_assert_int_eq(breaker_failure(&b, false, T0 + COOL + 6, N, COOL),
	    BC_OPENED);
}
END_TEST

START_TEST(test_probe_failure_reopens)
{
	struct breaker b = { 0 };
	uint64_t t1 = T0 + COOL + 20;

	open_at(&b, T0, N, COOL);
	probes(&b, T0 + COOL);
	ck_assert_int_eq(breaker_failure(&b, true, t1, N, COOL),
	    BC_REOPENED);
	ck_assert_int_eq(b.state, BR_OPEN);
	ck_assert(!b.probing);
	ck_assert_uint_eq(b.failures, N + 1);
	/* a new cooldown from the probe's failure */
	ck_assert_uint_eq(b.open_until_ms, t1 + COOL);
	refused(&b, t1);
	refused(&b, t1 + COOL - 1);
	ck_assert_uint_eq(breaker_open_left(&b, t1 + 1), COOL - 1);
	/* then one probe again, which may fail again */
	probes(&b, t1 + COOL);
	refused(&b, t1 + COOL);
	ck_assert_int_eq(breaker_failure(&b, true, t1 + COOL + 1, N, COOL),
	    BC_REOPENED);
	ck_assert_uint_eq(b.open_until_ms, t1 + 2 * COOL + 1);
	probes(&b, t1 + 2 * COOL + 1);
	ck_assert_int_eq(breaker_success(&b, true), BC_CLOSED);
}
END_TEST

START_TEST(test_probe_lost)
{
	struct breaker b = { 0 };
	uint64_t wait;

	open_at(&b, T0, N, COOL);
	probes(&b, T0 + COOL);
	/* cancelled: another probe is wanted, and may go at once */
	ck_assert(breaker_probe_lost(&b));
	ck_assert(!b.probing);
	ck_assert_int_eq(b.state, BR_HALF_OPEN);
	ck_assert(breaker_wants_probe(&b, T0 + COOL, &wait));
	ck_assert_uint_eq(wait, 0);
	probes(&b, T0 + COOL + 1);
	refused(&b, T0 + COOL + 1);
	/* lost once closed (a success came first): nothing is wanted */
	ck_assert_int_eq(breaker_success(&b, false), BC_CLOSED);
	ck_assert(!breaker_probe_lost(&b));
	ck_assert(!breaker_wants_probe(&b, T0 + COOL + 2, &wait));
	passes(&b, T0 + COOL + 2);
}
END_TEST

/* Attempts that went out before the state changed end later. */
START_TEST(test_stale_outcomes)
{
	struct breaker b = { 0 };

	/* a success of an attempt from before the opening closes it */
	open_at(&b, T0, N, COOL);
	ck_assert_int_eq(breaker_success(&b, false), BC_CLOSED);
	ck_assert_int_eq(b.state, BR_CLOSED);
	ck_assert_uint_eq(b.failures, 0);

	/* half-open: a failure that is not the probe's changes nothing,
	 * the probe stays out */
	memset(&b, 0, sizeof(b));
	open_at(&b, T0, N, COOL);
	probes(&b, T0 + COOL);
	fail_quietly(&b, 2, T0 + COOL + 1, N);
	ck_assert_int_eq(b.state, BR_HALF_OPEN);
	ck_assert(b.probing);
	refused(&b, T0 + COOL + 2);
	/* and a success that is not the probe's closes it, the probe
	 * still being out */
	ck_assert_int_eq(breaker_success(&b, false), BC_CLOSED);
	ck_assert(b.probing);
	passes(&b, T0 + COOL + 3);
	/* that probe's failure then opens it, below the threshold */
	ck_assert_int_eq(breaker_failure(&b, true, T0 + COOL + 4, N, COOL),
	    BC_OPENED);
	ck_assert_uint_eq(b.failures, 1);
	ck_assert_uint_eq(b.open_until_ms, T0 + 2 * COOL + 4);
	ck_assert(!b.probing);

	/* a probe failing while open (opened meanwhile by others' failures)
	 * starts a new cooldown, without a second opening */
	memset(&b, 0, sizeof(b));
	open_at(&b, T0, N, COOL);
	probes(&b, T0 + COOL);
	ck_assert_int_eq(breaker_success(&b, false), BC_CLOSED);
	open_at(&b, T0 + COOL + 10, N, COOL);
	ck_assert(b.probing);
	ck_assert_int_eq(breaker_failure(&b, true, T0 + COOL + 30, N, COOL),
	    BC_EXTENDED);
	ck_assert_int_eq(b.state, BR_OPEN);
	ck_assert_uint_eq(b.open_until_ms, T0 + 2 * COOL + 30);
	ck_assert(!b.probing);
}
END_TEST

START_TEST(test_clock_still_or_back)
{
	struct breaker b = { 0 };
	uint64_t wait;

	/* failures at one instant, or going back, count as any others */
	fail_quietly(&b, N - 2, T0, N);
	fail_quietly(&b, 1, T0 - 500, N);
	ck_assert_int_eq(breaker_failure(&b, false, T0 - 500, N, COOL),
	    BC_OPENED);
	ck_assert_uint_eq(b.open_until_ms, T0 - 500 + COOL);
	/* open: a clock standing still or back keeps refusing */
	refused(&b, T0 - 500);
	refused(&b, T0 - 1000);
	refused(&b, 0);
	ck_assert_uint_eq(breaker_open_left(&b, 0), T0 - 500 + COOL);
	ck_assert(breaker_wants_probe(&b, T0 - 1000, &wait));
	ck_assert_uint_eq(wait, COOL + 500);
	refused(&b, T0 - 501 + COOL);
	ck_assert_int_eq(b.state, BR_OPEN);
	/* half-open stays half-open when the clock goes back: it does not
	 * fall back to open, and the probe out keeps others out */
	probes(&b, T0 - 500 + COOL);
	refused(&b, T0 - 500 + COOL);
	refused(&b, T0);
	refused(&b, 0);
	ck_assert_int_eq(b.state, BR_HALF_OPEN);
	ck_assert(b.probing);
	/* a lost probe is replaced at once, whatever the clock says */
	ck_assert(breaker_probe_lost(&b));
	ck_assert(breaker_wants_probe(&b, 0, &wait));
	ck_assert_uint_eq(wait, 0);
	probes(&b, 0);
	/* a stale failure at an earlier time does not reopen it */
	fail_quietly(&b, 1, T0 - 2000, N);
	ck_assert_int_eq(b.state, BR_HALF_OPEN);
	/* the probe's failure reopens from its own time */
	ck_assert_int_eq(breaker_failure(&b, true, T0, N, COOL),
	    BC_REOPENED);
	ck_assert_uint_eq(b.open_until_ms, T0 + COOL);
	refused(&b, T0);
	refused(&b, T0 - 1);
	/* closed: time going back does not open it */
	probes(&b, T0 + COOL);
	ck_assert_int_eq(breaker_success(&b, true), BC_CLOSED);
	passes(&b, T0 + COOL);
	passes(&b, 0);
	ck_assert_int_eq(b.state, BR_CLOSED);
	ck_assert_uint_eq(breaker_open_left(&b, 0), 0);
}
END_TEST

START_TEST(test_bounds)
{
	struct breaker b = { 0 };

	/* breaker_failures = 1: the first failure opens it */
	open_at(&b, T0, 1, COOL);
	ck_assert_uint_eq(b.failures, 1);
	probes(&b, T0 + COOL);
	ck_assert_int_eq(breaker_success(&b, true), BC_CLOSED);
	ck_assert_int_eq(breaker_failure(&b, false, T0 + COOL, 1, COOL),
	    BC_OPENED);

	/* a threshold of 0 (config.c allows none) acts as 1 */
	memset(&b, 0, sizeof(b));
	ck_assert_int_eq(breaker_failure(&b, false, T0, 0, COOL), BC_OPENED);

	/* breaker_failures = 1000: 999 in a row leave it closed */
	memset(&b, 0, sizeof(b));
	open_at(&b, T0, 1000, COOL);
	ck_assert_uint_eq(b.failures, 1000);

	/* breaker_cooldown = 10ms */
	memset(&b, 0, sizeof(b));
	open_at(&b, T0, N, 10);
	refused(&b, T0 + 9);
	probes(&b, T0 + 10);
	ck_assert_int_eq(breaker_failure(&b, true, T0 + 11, N, 10),
	    BC_REOPENED);
	ck_assert_uint_eq(b.open_until_ms, T0 + 21);
	refused(&b, T0 + 20);
	probes(&b, T0 + 21);

	/* breaker_cooldown = 1h */
	memset(&b, 0, sizeof(b));
	open_at(&b, T0, N, 3600000);
	refused(&b, T0 + 3599999);
	ck_assert_uint_eq(breaker_open_left(&b, T0), 3600000);
	probes(&b, T0 + 3600000);

	/* from a clock at 0 (all zero is a closed breaker, not an open one
	 * whose cooldown ended at 0) */
	memset(&b, 0, sizeof(b));
	passes(&b, 0);
	open_at(&b, 0, N, 10);
	refused(&b, 0);
	refused(&b, 9);
	probes(&b, 10);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("breaker");
	TCase *tc = tcase_create("breaker");

	tcase_add_test(tc, test_closed_below_threshold);
	tcase_add_test(tc, test_success_resets_count);
	tcase_add_test(tc, test_opens_at_threshold);
	tcase_add_test(tc, test_refuses_while_open);
	tcase_add_test(tc, test_one_probe_after_cooldown);
	tcase_add_test(tc, test_probe_success_closes);
	tcase_add_test(tc, test_probe_failure_reopens);
	tcase_add_test(tc, test_probe_lost);
	tcase_add_test(tc, test_stale_outcomes);
	tcase_add_test(tc, test_clock_still_or_back);
	tcase_add_test(tc, test_bounds);
	suite_add_tcase(s, tc);
	return check_run(s);
}
