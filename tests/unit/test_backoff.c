/*
 * test_backoff.c: the reconnect back-off's arithmetic (runtime/backoff.h):
 * the sequence each caller walks (first, doubling, held at the bound,
 * back to first after a reset) with the bounds the pool, the feed, the
 * ranker client and the loader use, and the jitter's exact spread.
 */
#include "runtime/backoff.h"

#include <check.h>
#include <stdlib.h>

#include "check_run.h"

/* The delays a caller gets over n failures in a row, from a reset. */
static void
walk(uint64_t first, uint64_t max, const uint64_t *want, size_t n)
{
	uint64_t cur = 0;

	for (size_t i = 0; i < n; i++) {
		cur = backoff_next(cur, first, max);
		ck_assert_msg(cur == want[i], "step %zu: %llu, want %llu", i,
		    (unsigned long long)cur, (unsigned long long)want[i]);
	}
}

START_TEST(test_next)
{
	/* pg.c and feed.c: 50 ms doubling to 500 ms */
	static const uint64_t pool[] = { 50, 100, 200, 400, 500, 500, 500 };
	/* rankc.c and loader.c: 50 ms doubling to 1 s */
	static const uint64_t ranker[] = { 50, 100, 200, 400, 800, 1000, 1000 };
	/* a bound that is a power of two times first is reached exactly */
	static const uint64_t exact[] = { 10, 20, 40, 80, 80 };

	walk(50, 500, pool, sizeof(pool) / sizeof(pool[0]));
	walk(50, 1000, ranker, sizeof(ranker) / sizeof(ranker[0]));
	walk(10, 80, exact, sizeof(exact) / sizeof(exact[0]));
	/* a success resets to 0: the next failure starts over at first */
	ck_assert_uint_eq(backoff_next(0, 50, 500), 50);
	/* a value above the bound (bounds lowered) comes down to it */
	ck_assert_uint_eq(backoff_next(5000, 50, 500), 500);
}
END_TEST

START_TEST(test_jitter)
{
	unsigned long r;
	uint64_t lo = UINT64_MAX, hi = 0;
	int seen[41] = { 0 };

	/* +-20%: 80..120 percent, r % 41 picking the percent point */
	ck_assert_uint_eq(backoff_jitter(500, 20, 0), 400);
	ck_assert_uint_eq(backoff_jitter(500, 20, 20), 500);
	ck_assert_uint_eq(backoff_jitter(500, 20, 40), 600);
	ck_assert_uint_eq(backoff_jitter(500, 20, 41), 400);   /* wraps */
	ck_assert_uint_eq(backoff_jitter(500, 20, 41 * 1000 + 30), 550);
	/* rounded down, as integer milliseconds */
	ck_assert_uint_eq(backoff_jitter(50, 20, 1), 40);       /* 40.5 */
	ck_assert_uint_eq(backoff_jitter(0, 20, 17), 0);
	/* every r lands in [80%, 120%] and every point is reachable */
	for (r = 0; r < 4100; r++) {
		uint64_t d = backoff_jitter(1000, 20, r);

		ck_assert_uint_ge(d, 800);
		ck_assert_uint_le(d, 1200);
		ck_assert_uint_eq(d % 10, 0);
		seen[(d - 800) / 10]++;
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	ck_assert_uint_eq(lo, 800);
	ck_assert_uint_eq(hi, 1200);
	for (int i = 0; i < 41; i++)
		ck_assert_int_eq(seen[i], 100);
	/* no jitter, and a spread capped at 100% */
	ck_assert_uint_eq(backoff_jitter(300, 0, 12345), 300);
	ck_assert_uint_eq(backoff_jitter(300, 100, 0), 0);
	ck_assert_uint_eq(backoff_jitter(300, 100, 200), 600);
	ck_assert_uint_eq(backoff_jitter(300, 250, 200), 600);
	/* the largest r does not overflow */
	ck_assert_uint_eq(backoff_jitter(1000, 20, (unsigned long)-1),
	    1000 * (80 + (uint64_t)((unsigned long)-1 % 41)) / 100);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("backoff");
	TCase *tc = tcase_create("backoff");

	tcase_add_test(tc, test_next);
	tcase_add_test(tc, test_jitter);
	suite_add_tcase(s, tc);
	return check_run(s);
}
