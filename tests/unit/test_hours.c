/*
 * test_hours.c: opening hours JSON -> struct snap_hours: days, closed
 * days, spans past midnight, round the clock, and refusals.
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
	suite_add_tcase(s, tc);
	return check_run(s);
}
