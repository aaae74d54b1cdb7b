/*
 * test_feed_wire.c: the offer feed's relay payloads (common/feed_wire.h):
 * records written and read back, every truncation and every corrupted
 * length refused without reading past the frame, and the text payloads
 * with their bounds.
 */
#include "common/feed_wire.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RND_SEED 0x5eedf00dULL
#include "../rnd.h"

static size_t
put(char *buf, int64_t id, int64_t place, const char *city,
    const char *json)
{
	struct feed_wire_offer o = { id, place, city, strlen(city), json,
	    strlen(json) };
	size_t n = feed_wire_offer_size(&o);

	feed_wire_offer_put(buf, &o);
	return n;
}

START_TEST(test_round_trip)
{
	char buf[512];
	size_t len = 0, off = 0;
	struct feed_wire_offer o;

	len += put(buf + len, 1, 7, "moscow", "{\"id\":1}");
	len += put(buf + len, (INT64_C(1) << 40) + 3, INT64_MAX, "",
	    "{\"title\":\"\\u00e9\"}");
	len += put(buf + len, 9, 1, "sao-paulo", "");
	ck_assert_uint_eq(len, 3 * FEED_WIRE_REC_HDR + 6 + 8 + 0 + 18 + 9);
	ck_assert_int_eq(feed_wire_offer_next(buf, len, &off, &o), 1);
	ck_assert_int_eq(o.id, 1);
	ck_assert_int_eq(o.place_id, 7);
	ck_assert_uint_eq(o.city_len, 6);
	ck_assert(memcmp(o.city, "moscow", 6) == 0);
	ck_assert(memcmp(o.json, "{\"id\":1}", o.json_len) == 0);
	ck_assert_int_eq(feed_wire_offer_next(buf, len, &off, &o), 1);
	ck_assert_int_eq(o.id, (INT64_C(1) << 40) + 3);
	ck_assert_int_eq(o.place_id, INT64_MAX);
	ck_assert_uint_eq(o.city_len, 0);
	ck_assert_uint_eq(o.json_len, 18);
	ck_assert_int_eq(feed_wire_offer_next(buf, len, &off, &o), 1);
	ck_assert_int_eq(o.id, 9);
	ck_assert_uint_eq(o.json_len, 0);
	ck_assert_uint_eq(off, len);
	ck_assert_int_eq(feed_wire_offer_next(buf, len, &off, &o), 0);
}
END_TEST

/* Every cut of a frame short of a record's end is refused; the records
 * before the cut are read. */
START_TEST(test_truncated)
{
	char buf[256];
	size_t len = 0, cut, off;
	struct feed_wire_offer o;
	int r, got;

	len += put(buf + len, 5, 1, "paris", "{\"a\":1}");
	len += put(buf + len, 6, 2, "tokyo", "{\"b\":22}");
	for (cut = 0; cut < len; cut++) {
		off = 0;
		got = 0;
		while ((r = feed_wire_offer_next(buf, cut, &off, &o)) == 1)
			got++;
		if (cut == 0 || cut == FEED_WIRE_REC_HDR + 5 + 7)
			ck_assert_int_eq(r, 0);
		else
			ck_assert_int_eq(r, -1);
		ck_assert_int_le(off, cut);
		ck_assert_int_eq(got, cut >= FEED_WIRE_REC_HDR + 5 + 7 ? 1 : 0);
	}
}
END_TEST

/* Random bytes in the length fields and ids: never a read past the end,
 * never a record whose parts leave the frame, never a non-positive id. */
START_TEST(test_corrupted)
{
	char buf[128], copy[128];
	size_t len, off;
	struct feed_wire_offer o;
	int i, r;

	len = put(buf, 11, 3, "berlin", "{\"x\":[1,2,3]}");
	for (i = 0; i < 200000; i++) {
		memcpy(copy, buf, len);
		copy[rnd_int(FEED_WIRE_REC_HDR)] = (char)rnd();
		if (rnd_int(2))
			copy[rnd_int(FEED_WIRE_REC_HDR)] = (char)rnd();
		off = 0;
		while ((r = feed_wire_offer_next(copy, len, &off, &o)) == 1) {
			ck_assert_int_gt(o.id, 0);
			ck_assert(o.city >= copy && o.json >= o.city);
			ck_assert(o.json + o.json_len <= copy + len);
			ck_assert_uint_le(off, len);
		}
		ck_assert(r == 0 || r == -1);
	}
}
END_TEST

START_TEST(test_city_too_long)
{
	static char city[FEED_WIRE_CITY_MAX + 2];
	struct feed_wire_offer o = { 1, 1, city, sizeof(city) - 1, "{}", 2 };

	memset(city, 'a', sizeof(city) - 1);
	ck_assert_uint_eq(feed_wire_offer_size(&o), 0);
	o.city_len = FEED_WIRE_CITY_MAX;
	ck_assert_uint_eq(feed_wire_offer_size(&o),
	    FEED_WIRE_REC_HDR + FEED_WIRE_CITY_MAX + 2);
}
END_TEST

START_TEST(test_state)
{
	struct feed_wire_state s = { true, false, true, 123456789 }, t;
	char buf[80];
	int n;

	n = feed_wire_state_format(buf, sizeof(buf), &s);
	ck_assert_int_gt(n, 0);
	ck_assert_str_eq(buf, "1 0 1 123456789");
	ck_assert(feed_wire_state_parse(buf, (size_t)n, &t));
	ck_assert(t.up && !t.quiet && t.precise);
	ck_assert_int_eq(t.high, 123456789);
	ck_assert(feed_wire_state_parse("0 0 0 -1", 8, &t));
	ck_assert(!t.up && t.high == -1);
	ck_assert(!feed_wire_state_parse("0 0 0 -2", 8, &t));
	ck_assert(!feed_wire_state_parse("2 0 0 1", 7, &t));
	ck_assert(!feed_wire_state_parse("1 0 0", 5, &t));
	ck_assert(!feed_wire_state_parse("1 0 0 5 ", 8, &t));
	ck_assert(!feed_wire_state_parse("1  0 0 5", 8, &t));
	ck_assert(!feed_wire_state_parse("", 0, &t));
	ck_assert(!feed_wire_state_parse("1 0 0 99999999999999999999", 26,
	    &t));
	s.high = INT64_MAX;
	ck_assert_int_eq(feed_wire_state_format(buf, 8, &s), -1);
}
END_TEST

START_TEST(test_ints)
{
	int64_t v;
	uint64_t u;

	ck_assert(feed_wire_int_parse("-1", 2, &v) && v == -1);
	ck_assert(feed_wire_int_parse("9223372036854775807", 19, &v) &&
	    v == INT64_MAX);
	ck_assert(!feed_wire_int_parse("9223372036854775808", 19, &v));
	ck_assert(!feed_wire_int_parse("", 0, &v));
	ck_assert(!feed_wire_int_parse("-", 1, &v));
	ck_assert(!feed_wire_int_parse("12x", 3, &v));
	ck_assert(!feed_wire_int_parse("+1", 2, &v));
	ck_assert(feed_wire_u64_parse("18446744073709551615", 20, &u) &&
	    u == UINT64_MAX);
	ck_assert(!feed_wire_u64_parse("18446744073709551616", 20, &u));
	ck_assert(!feed_wire_u64_parse("-1", 2, &u));
	/* the length bounds the read: "12" of "123" */
	ck_assert(feed_wire_u64_parse("123", 2, &u) && u == 12);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("feed_wire");
	TCase *tc = tcase_create("feed_wire");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_corrupted);
	tcase_add_test(tc, test_city_too_long);
	tcase_add_test(tc, test_state);
	tcase_add_test(tc, test_ints);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
