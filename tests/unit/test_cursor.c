/*
 * test_cursor.c: the paging cursors of src/api/cursor.c through api.h:
 * the exact cursors given out for known positions and queries (pinned, so
 * that a client's cursor stays good across versions), round trips over
 * every rating form, ids up to the largest and every nearby offset; the
 * binding to the query (a good cursor sent with another query is told
 * apart, API_CURSOR_OTHER); and the refusal, with the caller's outputs
 * untouched, of whatever this server does not give out: every cursor
 * with one character changed, the text cursors of before, a cursor of the
 * other endpoint, garbage, wrong lengths, spare bits set, and values that
 * do not fit the caller's buffers; and the encoders' refusal of a
 * position no cursor carries or of an output too small, writing nothing
 * past their room.
 *
 * cursor.c uses params.c (base64url, ids), which answers requests through
 * http.h; the two functions it calls are defined here to fail the test,
 * as a cursor's codec answers nothing.
 */
#include "api/api.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"

const char *
http_req_query(struct http_req *r, const char *key)
{
	(void)r;
	ck_abort_msg("cursor.c read the query parameter %s", key);
	return NULL;
}

void
http_reply_error(struct http_req *r, int status, const char *code,
    const char *message, const char *field)
{
	(void)r;
	(void)field;
	ck_abort_msg("cursor.c answered %d %s: %s", status, code, message);
}

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url of text, as a client could make it */
static const char *
b64(const char *text)
{
	static char out[512];

	api_b64url_encode(text, strlen(text), out);
	return out;
}

/* The bytes of a buffer an encoder is handed part of, past that part. */
#define CANARY  '#'
#define ROOM    128

static void
ck_untouched(const char *buf, size_t from, const char *what)
{
	for (size_t i = from; i < ROOM; i++)
		ck_assert_msg(buf[i] == CANARY, "%s: byte %zu written", what, i);
}

/* ids a cursor carries: positive, without leading zeros, 18 digits at
 * most (api_is_id), up to the largest */
static const char *const ids[] = { "1", "2", "9", "10", "99", "100", "123",
    "4096", "999999", "2147483647", "2147483648", "4294967296",
    "9007199254740993", "100000000000000000", "123456789012345678",
    "999999999999999999" };

/* two queries, as places.c and nearby.c write them */
#define MOSCOW  "places|moscow||||"
#define LONDON  "places|london||||"
#define NEAR_A  "nearby|55.75|37.62|2000|||0|0|-1|any|best|"
#define NEAR_B  "nearby|55.75|37.62|2000|||0|0|-1|any|best|pizza"

/* Cursors of those queries, as this server gives them out: pinned, as a
 * change of any breaks the cursors clients hold. */
#define PIN_PLACES_0 "si0AAAAAAAAAez4xzRt5uy5sHgg"
#define PIN_PLACES_1 "sv8AAAAAAAAABz4xzRt5u5YnbaI"
#define PIN_PLACES_2 "sjIN4Lazp2P__z4xzRt5uzGbbP4"
#define PIN_NEARBY_10 "ogAKZuIn3bdyZk5RQg"
#define PIN_NEARBY_999 "ogPnZuIn3bdyCX7Z4g"

/* --- the query ------------------------------------------------------------ */

START_TEST(test_query)
{
	static const char *const canon[] = { "", MOSCOW, LONDON, NEAR_A,
	    NEAR_B, "places|moscow|{cafe}|||", "places|moscow||{cafe}||" };

	/* FNV-1a 64: the empty text is its offset basis */
	ck_assert_uint_eq(api_cursor_query(""), 0xcbf29ce484222325ull);
	for (size_t i = 0; i < NITEMS(canon); i++) {
		ck_assert_uint_eq(api_cursor_query(canon[i]),
		    api_cursor_query(canon[i]));
		for (size_t j = i + 1; j < NITEMS(canon); j++)
			ck_assert_uint_ne(api_cursor_query(canon[i]),
			    api_cursor_query(canon[j]));
	}
}
END_TEST

/* --- places --------------------------------------------------------------- */

/* Decodes c for query, which must answer want with the outputs
 * untouched. */
static void
ck_places_refused(const char *c, uint64_t query, enum api_cursor want)
{
	char rating[8] = "r", id[24] = "i";

	ck_assert_int_eq(api_places_cursor_decode(c, query, rating,
	    sizeof(rating), id, sizeof(id)), want);
	ck_assert_str_eq(rating, "r");
	ck_assert_str_eq(id, "i");
}

static void
ck_places_decodes(const char *c, uint64_t query, const char *want_rating,
    const char *want_id)
{
	char rating[8] = "r", id[24] = "i";

	ck_assert_int_eq(api_places_cursor_decode(c, query, rating,
	    sizeof(rating), id, sizeof(id)), API_CURSOR_OK);
	ck_assert_str_eq(rating, want_rating);
	ck_assert_str_eq(id, want_id);
}

/* Cursors as this server gives them out, pinned. */
static const struct {
	const char *rating, *id, *cursor;
} places_known[] = {
	{ "4.5", "123", PIN_PLACES_0 },
	{ NULL, "7", PIN_PLACES_1 },
	{ "5", "999999999999999999", PIN_PLACES_2 },
};

START_TEST(test_places_known)
{
	uint64_t q = api_cursor_query(MOSCOW);
	char out[API_CURSOR_MAX];

	for (size_t i = 0; i < NITEMS(places_known); i++) {
		ck_assert(api_places_cursor_encode(q, places_known[i].rating,
		    places_known[i].id, out, sizeof(out)));
		ck_assert_str_eq(out, places_known[i].cursor);
		ck_assert_uint_eq(strlen(out), 27);
	}
	ck_places_decodes(places_known[0].cursor, q, "4.5", "123");
	ck_places_decodes(places_known[1].cursor, q, "", "7");
	ck_places_decodes(places_known[2].cursor, q, "5.0",
	    "999999999999999999");
}
END_TEST

/* every rating form: unknown, d, and d.d from 0.0 to 5.0, and how it
 * decodes ("d.d", or "") */
START_TEST(test_places_round_trip)
{
	uint64_t q = api_cursor_query(MOSCOW);
	char out[API_CURSOR_MAX], r[8], want[8];

	for (int t = -1; t <= 50; t++) {
		if (t < 0)
			r[0] = want[0] = '\0';
		else {
			snprintf(r, sizeof(r), "%d.%d", t / 10, t % 10);
			snprintf(want, sizeof(want), "%s", r);
		}
		for (size_t j = 0; j < NITEMS(ids); j++) {
			ck_assert(api_places_cursor_encode(q, r, ids[j], out,
			    sizeof(out)));
			ck_places_decodes(out, q, want, ids[j]);
			if (t >= 0 && t % 10 == 0) {    /* "d" as "d.0" */
				char d[2] = { (char)('0' + t / 10), '\0' };
				char again[API_CURSOR_MAX];

				ck_assert(api_places_cursor_encode(q, d, ids[j],
				    again, sizeof(again)));
				ck_assert_str_eq(again, out);
			}
		}
	}
}
END_TEST

/* A Moscow cursor is not London's, and says so; the outputs untouched. */
START_TEST(test_places_other_query)
{
	uint64_t moscow = api_cursor_query(MOSCOW);
	char out[API_CURSOR_MAX];

	ck_assert(api_places_cursor_encode(moscow, "4.5", "123", out,
	    sizeof(out)));
	ck_places_refused(out, api_cursor_query(LONDON), API_CURSOR_OTHER);
	ck_places_refused(out, api_cursor_query("places|moscow|{cafe}|||"),
	    API_CURSOR_OTHER);
	ck_places_decodes(out, moscow, "4.5", "123");
}
END_TEST

/* Any one character changed: refused as no cursor at all. */
static void
ck_every_change_refused(const char *good, bool places, uint64_t query)
{
	char c[API_CURSOR_MAX];
	long off = -5;
	size_t i, k;

	for (i = 0; good[i] != '\0'; i++)
		for (k = 0; k < sizeof(b64chars) - 1; k++) {
			if (b64chars[k] == good[i])
				continue;
			snprintf(c, sizeof(c), "%s", good);
			c[i] = b64chars[k];
			if (places)
				ck_places_refused(c, query, API_CURSOR_BAD);
			else
				ck_assert_int_eq(api_nearby_cursor_decode(c,
				    query, &off), API_CURSOR_BAD);
		}
	ck_assert_int_eq(off, -5);
}

START_TEST(test_places_tampered)
{
	uint64_t q = api_cursor_query(MOSCOW);

	for (size_t i = 0; i < NITEMS(places_known); i++)
		ck_every_change_refused(places_known[i].cursor, true, q);
}
END_TEST

START_TEST(test_places_refused)
{
	uint64_t q = api_cursor_query(MOSCOW);
	char c[API_CURSOR_MAX], nearby[API_CURSOR_MAX];
	static const char *const texts[] = {
		"", "!", "djE6NC41OjEyMw", "djE6Ojc", "bjE6MTA",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAA", "___________________________",
		"djE6NC41OjEyMw==",
	};

	for (size_t i = 0; i < NITEMS(texts); i++)
		ck_places_refused(texts[i], q, API_CURSOR_BAD);
	/* the text cursors of before, any position */
	ck_places_refused(b64("v1:4.5:123"), q, API_CURSOR_BAD);
	ck_places_refused(b64("v1::7"), q, API_CURSOR_BAD);
	/* a nearby cursor of the same query */
	ck_assert(api_nearby_cursor_encode(q, 10, nearby, sizeof(nearby)));
	ck_places_refused(nearby, q, API_CURSOR_BAD);
	/* one character more, one less, a padding, a NUL in between */
	snprintf(c, sizeof(c), "%sA", places_known[0].cursor);
	ck_places_refused(c, q, API_CURSOR_BAD);
	snprintf(c, sizeof(c), "%.26s", places_known[0].cursor);
	ck_places_refused(c, q, API_CURSOR_BAD);
	snprintf(c, sizeof(c), "%s=", places_known[0].cursor);
	ck_places_refused(c, q, API_CURSOR_BAD);
}
END_TEST

/* The last character carries 4 bits of data and 2 spare: with a spare
 * bit set, the same bytes are spelt otherwise, and refused. */
START_TEST(test_places_spare_bits)
{
	uint64_t q = api_cursor_query(MOSCOW);
	char c[API_CURSOR_MAX];
	const char *good = places_known[0].cursor, *p;
	size_t last = strlen(good) - 1;
	unsigned v;

	p = strchr(b64chars, good[last]);
	ck_assert_ptr_nonnull(p);
	v = (unsigned)(p - b64chars);
	for (unsigned spare = 1; spare < 4; spare++) {
		snprintf(c, sizeof(c), "%s", good);
		c[last] = b64chars[(v & ~3u) | spare];
		ck_places_refused(c, q, API_CURSOR_BAD);
	}
}
END_TEST

/* Outputs too small for what the cursor holds: refused, untouched. */
START_TEST(test_places_buffers)
{
	uint64_t q = api_cursor_query(MOSCOW);
	char out[API_CURSOR_MAX], rating[8] = "r", id[24] = "i";

	ck_assert(api_places_cursor_encode(q, "4.5", "123456789012345678",
	    out, sizeof(out)));
	ck_assert_int_eq(api_places_cursor_decode(out, q, rating, 3, id,
	    sizeof(id)), API_CURSOR_BAD);
	ck_assert_int_eq(api_places_cursor_decode(out, q, rating,
	    sizeof(rating), id, 18), API_CURSOR_BAD);
	ck_assert_str_eq(rating, "r");
	ck_assert_str_eq(id, "i");
	ck_assert_int_eq(api_places_cursor_decode(out, q, rating, 4, id, 19),
	    API_CURSOR_OK);
}
END_TEST

START_TEST(test_places_encode_refused)
{
	uint64_t q = api_cursor_query(MOSCOW);
	static const char *const bad_ratings[] = { "6", "5.1", "-1", "4.55",
	    "4.", ".5", "a", " 4", "4,5", "10" };
	static const char *const bad_ids[] = { "0", "01", "-1", "",
	    "1000000000000000000", "12a", " 1" };
	char buf[ROOM];
	size_t i, size;

	for (i = 0; i < NITEMS(bad_ratings); i++) {
		memset(buf, CANARY, sizeof(buf));
		ck_assert(!api_places_cursor_encode(q, bad_ratings[i], "1",
		    buf, 64));
		ck_assert(buf[0] == '\0');
		ck_untouched(buf, 1, bad_ratings[i]);
	}
	for (i = 0; i < NITEMS(bad_ids); i++) {
		memset(buf, CANARY, sizeof(buf));
		ck_assert(!api_places_cursor_encode(q, "4.5", bad_ids[i], buf,
		    64));
		ck_assert(buf[0] == '\0');
		ck_untouched(buf, 1, bad_ids[i]);
	}
	ck_assert(!api_places_cursor_encode(q, "4.5", NULL, buf, 64));
	/* room for the 27 characters and the NUL, or nothing written */
	for (size = 0; size <= 28; size++) {
		memset(buf, CANARY, sizeof(buf));
		ck_assert(api_places_cursor_encode(q, "4.5", "1", buf, size) ==
		    (size == 28));
		if (size == 28)
			ck_assert_uint_eq(strlen(buf), 27);
		else if (size > 0)
			ck_assert(buf[0] == '\0');
		ck_untouched(buf, size == 0 ? 0 : size == 28 ? 28 : 1,
		    "small out");
	}
}
END_TEST

/* --- nearby --------------------------------------------------------------- */

START_TEST(test_nearby_known)
{
	uint64_t q = api_cursor_query(NEAR_A);
	char out[API_CURSOR_MAX];
	long off = -5;

	ck_assert(api_nearby_cursor_encode(q, 10, out, sizeof(out)));
	ck_assert_str_eq(out, PIN_NEARBY_10);
	ck_assert(api_nearby_cursor_encode(q, 999, out, sizeof(out)));
	ck_assert_str_eq(out, PIN_NEARBY_999);
	ck_assert_uint_eq(strlen(out), 18);
	ck_assert_int_eq(api_nearby_cursor_decode(PIN_NEARBY_10, q, &off),
	    API_CURSOR_OK);
	ck_assert_int_eq(off, 10);
}
END_TEST

/* every offset a next page can start at, 1 to 999, and no other */
START_TEST(test_nearby_round_trip)
{
	uint64_t q = api_cursor_query(NEAR_A), other = api_cursor_query(NEAR_B);
	char out[API_CURSOR_MAX];
	long off;

	for (long i = 1; i < NEARBY_MAX_RESULTS; i++) {
		ck_assert(api_nearby_cursor_encode(q, i, out, sizeof(out)));
		off = -5;
		ck_assert_int_eq(api_nearby_cursor_decode(out, q, &off),
		    API_CURSOR_OK);
		ck_assert_int_eq(off, i);
		off = -5;
		ck_assert_int_eq(api_nearby_cursor_decode(out, other, &off),
		    API_CURSOR_OTHER);
		ck_assert_int_eq(off, -5);
	}
	for (long i = -1; i <= 0; i++) {
		memset(out, CANARY, sizeof(out));
		ck_assert(!api_nearby_cursor_encode(q, i, out, sizeof(out)));
		ck_assert(out[0] == '\0');
	}
	ck_assert(!api_nearby_cursor_encode(q, NEARBY_MAX_RESULTS, out,
	    sizeof(out)));
	ck_assert(!api_nearby_cursor_encode(q, 10, out, 18));
	ck_assert(out[0] == '\0');
	ck_assert(api_nearby_cursor_encode(q, 10, out, 19));
}
END_TEST

START_TEST(test_nearby_tampered)
{
	ck_every_change_refused(PIN_NEARBY_10, false,
	    api_cursor_query(NEAR_A));
	ck_every_change_refused(PIN_NEARBY_999, false,
	    api_cursor_query(NEAR_A));
}
END_TEST

START_TEST(test_nearby_refused)
{
	uint64_t q = api_cursor_query(NEAR_A);
	char places[API_CURSOR_MAX], c[API_CURSOR_MAX];
	static const char *const texts[] = {
		"", "!", "bjE6MTA", "bjE6MA", "bjE6OTk5", "AAAAAAAAAAAAAAAAAA",
		"__________________",
	};
	long off = -5;

	for (size_t i = 0; i < NITEMS(texts); i++)
		ck_assert_int_eq(api_nearby_cursor_decode(texts[i], q, &off),
		    API_CURSOR_BAD);
	ck_assert_int_eq(api_nearby_cursor_decode(b64("n1:10"), q, &off),
	    API_CURSOR_BAD);
	ck_assert(api_places_cursor_encode(q, "4.5", "10", places,
	    sizeof(places)));
	ck_assert_int_eq(api_nearby_cursor_decode(places, q, &off),
	    API_CURSOR_BAD);
	snprintf(c, sizeof(c), "%sA", PIN_NEARBY_10);
	ck_assert_int_eq(api_nearby_cursor_decode(c, q, &off), API_CURSOR_BAD);
	snprintf(c, sizeof(c), "%.17s", PIN_NEARBY_10);
	ck_assert_int_eq(api_nearby_cursor_decode(c, q, &off), API_CURSOR_BAD);
	ck_assert_int_eq(off, -5);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("cursor");
	TCase *tc = tcase_create("cursor");

	tcase_add_test(tc, test_query);
	tcase_add_test(tc, test_places_known);
	tcase_add_test(tc, test_places_round_trip);
	tcase_add_test(tc, test_places_other_query);
	tcase_add_test(tc, test_places_tampered);
	tcase_add_test(tc, test_places_refused);
	tcase_add_test(tc, test_places_spare_bits);
	tcase_add_test(tc, test_places_buffers);
	tcase_add_test(tc, test_places_encode_refused);
	tcase_add_test(tc, test_nearby_known);
	tcase_add_test(tc, test_nearby_round_trip);
	tcase_add_test(tc, test_nearby_tampered);
	tcase_add_test(tc, test_nearby_refused);
	suite_add_tcase(s, tc);
	return check_run(s);
}
