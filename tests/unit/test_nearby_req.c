/*
 * test_nearby_req.c: the ranker's fast reader of a worker's request
 * (ranker/nearby_fast.c) gives exactly the query that the jansson reader
 * gives for the same request, and leaves to it everything else: other
 * key orders, escapes, values out of range, JSON that strtod would take
 * and JSON would not.
 */
#include "ranker/nearby.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"

static const char *const good[] = {
	"{\"lat\":55.755800000000001,\"lon\":37.617600000000003,"
	"\"radius_m\":2000,\"categories\":[],\"cuisines\":[],"
	"\"cuisine_required\":true,\"prefer_cuisines\":[],\"min_price\":0,"
	"\"max_price\":0,\"min_rating\":null,\"q\":null,\"sort\":\"best\","
	"\"offset\":0,\"limit\":10,\"now\":1764000000,\"open\":null}",
	"{\"lat\":-33.8,\"lon\":151.2,\"radius_m\":50000,"
	"\"categories\":[\"cafe\",\"bar\"],\"cuisines\":[\"georgian\"],"
	"\"cuisine_required\":true,\"prefer_cuisines\":[\"italian\",\"thai\"],"
	"\"min_price\":2,\"max_price\":4,\"min_rating\":4.5,"
	"\"q\":\"хачапури по-аджарски\",\"sort\":\"distance\","
	"\"offset\":990,\"limit\":10,\"now\":1764000000,\"open\":\"now\"}",
	"{\"lat\":1e-05,\"lon\":-180,\"radius_m\":1.5E3,\"categories\":[],"
	"\"cuisines\":[\"a\",\"b\",\"c\"],\"cuisine_required\":true,"
	"\"prefer_cuisines\":[\"d\"],\"min_price\":0,\"max_price\":3,"
	"\"min_rating\":0,\"q\":\"pizza\",\"sort\":\"rating\",\"offset\":5,"
	"\"limit\":100,\"now\":0,\"open\":{\"day\":6,\"minute\":1439}}",
};

/* Both readers, the slow one made to read it by a space the fast one
 * does not take, agree on every field of the query. */
static void
same_query(const char *text)
{
	struct nearby_req a, b;
	const char *field;
	char *slow;
	size_t i;

	ck_assert_int_eq(nearby_parse_fast(text, strlen(text), &a), 0);
	ck_assert_ptr_nonnull(a.text);
	ck_assert_int_ge(asprintf(&slow, "{ %s", text + 1), 0);
	ck_assert_int_eq(nearby_parse_fast(slow, strlen(slow), &b), -1);
	ck_assert_int_eq(nearby_parse(slow, strlen(slow), &b, &field), 0);
	ck_assert_ptr_null(b.text);
	ck_assert(a.q.lat == b.q.lat && a.q.lon == b.q.lon);
	ck_assert(a.q.radius_m == b.q.radius_m);
	ck_assert_uint_eq(a.q.ncategories, b.q.ncategories);
	for (i = 0; i < a.q.ncategories; i++)
		ck_assert_str_eq(a.q.categories[i], b.q.categories[i]);
	ck_assert_uint_eq(a.q.ncuisines, b.q.ncuisines);
	for (i = 0; i < a.q.ncuisines; i++)
		ck_assert_str_eq(a.q.cuisines[i], b.q.cuisines[i]);
	ck_assert_int_eq(a.q.min_price, b.q.min_price);
	ck_assert_int_eq(a.q.max_price, b.q.max_price);
	ck_assert(isnan(a.q.min_rating) ? isnan(b.q.min_rating) :
	    a.q.min_rating == b.q.min_rating);
	ck_assert((a.q.q == NULL) == (b.q.q == NULL));
	if (a.q.q != NULL)
		ck_assert_str_eq(a.q.q, b.q.q);
	ck_assert_int_eq(a.q.sort, b.q.sort);
	ck_assert_uint_eq(a.q.offset, b.q.offset);
	ck_assert_uint_eq(a.q.limit, b.q.limit);
	ck_assert_int_eq(a.q.now_utc, b.q.now_utc);
	ck_assert_int_eq(a.q.open, b.q.open);
	ck_assert_int_eq(a.q.open_utc, b.q.open_utc);
	ck_assert_int_eq(a.q.open_day, b.q.open_day);
	ck_assert_int_eq(a.q.open_minute, b.q.open_minute);
	ck_assert(a.q.cuisine_required == b.q.cuisine_required);
	ck_assert_uint_eq(a.q.nprefer, b.q.nprefer);
	for (i = 0; i < a.q.nprefer; i++)
		ck_assert_str_eq(a.q.prefer_cuisines[i], b.q.prefer_cuisines[i]);
	nearby_req_free(&a);
	nearby_req_free(&b);
	free(slow);
}

START_TEST(test_same_as_jansson)
{
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		same_query(good[i]);
}
END_TEST

/* Requests the fast reader leaves alone; for each, what jansson says. */
START_TEST(test_left_to_jansson)
{
	static const struct {
		const char *from, *to;
		int jansson;            /* 0 accepted, -1 refused */
	} edits[] = {
		{ "\"q\":null", "\"q\":\"a\\\"b\"", 0 },        /* escape */
		{ "\"lat\":55.755800000000001", "\"lat\":0x10", -1 },
		{ "\"lat\":55.755800000000001", "\"lat\":91", -1 },
		{ "\"radius_m\":2000", "\"radius_m\":2000.", -1 },
		{ "\"radius_m\":2000", "\"radius_m\":0", -1 },
		{ "\"min_price\":0", "\"min_price\":0.0", -1 },
		{ "\"max_price\":0", "\"max_price\":5", -1 },
		{ "\"limit\":10", "\"limit\":1001", -1 },
		{ "\"limit\":10", "\"limit\":01", -1 },
		{ "\"sort\":\"best\"", "\"sort\":\"worst\"", -1 },
		{ "\"open\":null", "\"open\":\"later\"", -1 },
		{ "\"open\":null", "\"open\":null,\"open\":null", -1 },
		{ "\"open\":null", "\"open\":null,\"extra\":1", 0 },
		{ "\"cuisine_required\":true", "\"cuisine_required\":false", 0 },
		{ "\"prefer_cuisines\":[]", "\"prefer_cuisines\":null", 0 },
		{ "\"categories\":[]", "\"categories\":[\"caf\\u00e9\"]", 0 },
	};
	struct nearby_req r;
	const char *field, *at;
	char buf[1024];
	size_t i, n;

	for (i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		at = strstr(good[0], edits[i].from);
		ck_assert_ptr_nonnull(at);
		n = (size_t)(at - good[0]);
		snprintf(buf, sizeof(buf), "%.*s%s%s", (int)n, good[0],
		    edits[i].to, at + strlen(edits[i].from));
		ck_assert_msg(nearby_parse_fast(buf, strlen(buf), &r) == -1,
		    "fast reader took %s", buf);
		ck_assert_msg(nearby_parse(buf, strlen(buf), &r, &field) ==
		    edits[i].jansson, "jansson on %s", buf);
		if (edits[i].jansson == 0)
			nearby_req_free(&r);
	}
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("nearby_req");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_same_as_jansson);
	tcase_add_test(tc, test_left_to_jansson);
	suite_add_tcase(s, tc);
	return check_run(s);
}
