/*
 * test_hours.c: opening hours JSON -> struct snap_hours: days, closed
 * days, spans past midnight, round the clock, and refusals; when hours
 * next open or close (hours_next_change), by hand and against a walk
 * minute by minute through the week.
 */
#include "ranker/hours.h"

#include <check.h>
#include <string.h>

#include "check_run.h"

static struct snap_hours h;
static char err[96];

static int
parse(const char *json)
{
	err[0] = '\0';
	return hours_parse(json, &h, err, sizeof(err));
}

START_TEST(test_simple)
{
	ck_assert_int_eq(parse("{\"mon\":[[\"09:00\",\"23:00\"]],"
	    "\"sun\":[[\"10:30\",\"14:00\"],[\"17:00\",\"22:15\"]]}"), 0);
	ck_assert_uint_eq(h.n[0], 1);
	ck_assert_uint_eq(h.iv[0][0].open, 540);
	ck_assert_uint_eq(h.iv[0][0].close, 1380);
	ck_assert_uint_eq(h.n[1], 0);
	ck_assert_uint_eq(h.n[5], 0);
	ck_assert_uint_eq(h.n[6], 2);
	ck_assert_uint_eq(h.iv[6][0].open, 630);
	ck_assert_uint_eq(h.iv[6][1].close, 1335);
}
END_TEST

START_TEST(test_closed_days)
{
	ck_assert_int_eq(parse("{}"), 0);
	ck_assert_uint_eq(h.n[0] + h.n[3] + h.n[6], 0);
	ck_assert_int_eq(parse("{\"tue\":[],\"wed\":[[\"08:00\",\"12:00\"]]}"),
	    0);
	ck_assert_uint_eq(h.n[1], 0);
	ck_assert_uint_eq(h.n[2], 1);
}
END_TEST

START_TEST(test_past_midnight)
{
	ck_assert_int_eq(parse("{\"fri\":[[\"18:00\",\"02:00\"]]}"), 0);
	ck_assert_uint_eq(h.iv[4][0].open, 1080);
	ck_assert_uint_eq(h.iv[4][0].close, 1560);
	ck_assert_int_eq(parse("{\"sat\":[[\"20:00\",\"20:00\"]]}"), 0);
	ck_assert_uint_eq(h.iv[5][0].close, 1200 + 1440);
	ck_assert_int_eq(parse("{\"sat\":[[\"23:59\",\"00:00\"]]}"), 0);
	ck_assert_uint_eq(h.iv[5][0].close, 1440);
}
END_TEST

START_TEST(test_round_the_clock)
{
	ck_assert_int_eq(parse("{\"mon\":[[\"00:00\",\"24:00\"]]}"), 0);
	ck_assert_uint_eq(h.iv[0][0].open, 0);
	ck_assert_uint_eq(h.iv[0][0].close, 1440);
	ck_assert_int_eq(parse("{\"mon\":[[\"00:00\",\"00:00\"]]}"), 0);
	ck_assert_uint_eq(h.iv[0][0].close, 1440);
}
END_TEST

START_TEST(test_refusals)
{
	static const char *const bad[] = {
		"", "[]", "null", "{\"mon\":", "{\"xyz\":[]}",
		"{\"mon\":{}}", "{\"mon\":[[\"09:00\"]]}",
		"{\"mon\":[[\"09:00\",\"10:00\",\"11:00\"]]}",
		"{\"mon\":[[\"9:00\",\"10:00\"]]}",
		"{\"mon\":[[\"09:60\",\"10:00\"]]}",
		"{\"mon\":[[\"25:00\",\"10:00\"]]}",
		"{\"mon\":[[\"24:00\",\"10:00\"]]}",
		"{\"mon\":[[\"24:01\",\"10:00\"]]}",
		"{\"mon\":[[540,1380]]}",
		"{\"mon\":[[\"01:00\",\"02:00\"],[\"03:00\",\"04:00\"],"
		"[\"05:00\",\"06:00\"],[\"07:00\",\"08:00\"],"
		"[\"09:00\",\"10:00\"]]}",
		"{\"mon\":[],\"mon\":[]}",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(parse(bad[i]) == -1, "accepted %s", bad[i]);
		ck_assert_msg(err[0] != '\0', "no reason for %s", bad[i]);
		ck_assert_uint_eq(h.n[0], 0);
	}
}
END_TEST


/* Open at minute w of the week, as snap_hours_open() tells it: today's
 * intervals or yesterday's running past midnight. */
static bool
ref_open(int w)
{
	int day = w / SNAP_MIN_PER_DAY, minute = w % SNAP_MIN_PER_DAY;
	int prev = (day + SNAP_DAYS - 1) % SNAP_DAYS;

	for (int i = 0; i < h.n[day]; i++)
		if (minute >= h.iv[day][i].open && minute < h.iv[day][i].close)
			return true;
	for (int i = 0; i < h.n[prev]; i++)
		if (minute + SNAP_MIN_PER_DAY >= h.iv[prev][i].open &&
		    minute + SNAP_MIN_PER_DAY < h.iv[prev][i].close)
			return true;
	return false;
}

/* hours_next_change() at day, hh:mm: *open and the minutes to change. */
static int
change(int day, int hh, int mm, bool *open)
{
	return hours_next_change(&h, day, hh * 60 + mm, open);
}

START_TEST(test_next_change)
{
	bool open;

	ck_assert_int_eq(parse("{\"mon\":[[\"09:00\",\"23:00\"]]}"), 0);
	ck_assert_int_eq(change(0, 10, 0, &open), 13 * 60);
	ck_assert(open);
	ck_assert_int_eq(change(0, 8, 0, &open), 60);
	ck_assert(!open);
	ck_assert_int_eq(change(0, 9, 0, &open), 14 * 60);  /* opens now */
	ck_assert(open);
	ck_assert_int_eq(change(0, 23, 0, &open), 6 * 1440 + 10 * 60);
	ck_assert(!open);
	ck_assert_int_eq(change(1, 0, 0, &open), 6 * 1440 + 9 * 60);
	ck_assert(!open);
	/* past midnight, and from sunday into monday */
	ck_assert_int_eq(parse("{\"sat\":[[\"18:00\",\"02:00\"]],"
	    "\"sun\":[[\"22:00\",\"01:30\"]]}"), 0);
	ck_assert_int_eq(change(6, 1, 0, &open), 60);
	ck_assert(open);
	ck_assert_int_eq(change(6, 2, 0, &open), 20 * 60);
	ck_assert(!open);
	ck_assert_int_eq(change(0, 1, 0, &open), 30);
	ck_assert(open);
	ck_assert_int_eq(change(0, 1, 30, &open), 5 * 1440 + 16 * 60 + 30);
	ck_assert(!open);
	/* back to back across midnight: one span */
	ck_assert_int_eq(parse("{\"mon\":[[\"20:00\",\"24:00\"]],"
	    "\"tue\":[[\"00:00\",\"03:00\"],[\"20:00\",\"22:00\"]]}"),
	    0);
	ck_assert_int_eq(change(0, 21, 0, &open), 6 * 60);
	ck_assert(open);
	/* never a change: round the clock, or never open */
	ck_assert_int_eq(parse("{\"mon\":[[\"00:00\",\"24:00\"]],"
	    "\"tue\":[[\"00:00\",\"00:00\"]],\"wed\":[[\"00:00\","
	    "\"24:00\"]],\"thu\":[[\"00:00\",\"24:00\"]],\"fri\":"
	    "[[\"00:00\",\"24:00\"]],\"sat\":[[\"00:00\",\"24:00\"]],"
	    "\"sun\":[[\"00:00\",\"24:00\"]]}"), 0);
	ck_assert_int_eq(change(3, 12, 0, &open), -1);
	ck_assert(open);
	ck_assert_int_eq(parse("{}"), 0);
	ck_assert_int_eq(change(3, 12, 0, &open), -1);
	ck_assert(!open);
	ck_assert_int_eq(parse("{\"mon\":[]}"), 0);
	ck_assert_int_eq(change(0, 12, 0, &open), -1);
	ck_assert(!open);
}
END_TEST

/* Against a walk minute by minute, every 7 minutes of the week. */
START_TEST(test_next_change_walk)
{
	static const char *const week[] = {
		"{\"mon\":[[\"09:00\",\"23:00\"]],\"sat\":[[\"12:00\","
		    "\"02:00\"]]}",
		"{\"tue\":[[\"08:00\",\"12:00\"],[\"13:00\",\"18:00\"],"
		    "[\"19:00\",\"03:00\"]],\"wed\":[[\"02:00\","
		    "\"04:00\"]]}",
		"{\"sun\":[[\"18:00\",\"18:00\"]],\"mon\":[[\"20:00\","
		    "\"24:00\"]]}",
		"{\"fri\":[[\"00:00\",\"24:00\"]],\"sat\":[[\"00:00\","
		    "\"24:00\"]],\"sun\":[[\"10:00\",\"11:00\"]]}",
	};
	bool open;
	int w, got, k;

	for (size_t i = 0; i < sizeof(week) / sizeof(week[0]); i++) {
		ck_assert_int_eq(parse(week[i]), 0);
		for (w = 0; w < HOURS_WEEK_MIN; w += 7) {
			got = hours_next_change(&h, w / SNAP_MIN_PER_DAY,
			    w % SNAP_MIN_PER_DAY, &open);
			ck_assert(open == ref_open(w));
			for (k = 1; k <= HOURS_WEEK_MIN; k++)
				if (ref_open((w + k) % HOURS_WEEK_MIN) != open)
					break;
			ck_assert_int_eq(got, k > HOURS_WEEK_MIN ? -1 : k);
		}
	}
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("hours");
	TCase *tc = tcase_create("hours");

	tcase_add_test(tc, test_simple);
	tcase_add_test(tc, test_closed_days);
	tcase_add_test(tc, test_past_midnight);
	tcase_add_test(tc, test_round_the_clock);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_next_change);
	tcase_add_test(tc, test_next_change_walk);
	suite_add_tcase(s, tc);
	return check_run(s);
}
