/*
 * test_cursor.c: the paging cursors of src/api/cursor.c through api.h:
 * the exact cursors given out for known positions (pinned, so that a
 * client's cursor stays good across versions), round trips over every
 * rating form, ids up to the largest and every nearby offset, and the
 * refusal, with the caller's outputs untouched, of whatever this server
 * does not give out: garbage, other base64s, other versions, ratings out
 * of 0..5, ids that are not positive integers, offsets out of range,
 * over-long cursors, any other spelling of a good cursor (a NUL and bytes
 * after it, spare bits set, leading zeros) and values that do not fit
 * the caller's buffers; and the encoders' refusal of a position no cursor
 * carries or of an output too small, writing nothing past their room.
 *
 * cursor.c uses params.c (base64url, ids), which answers requests through
 * http.h; the two functions it calls are defined here to fail the test,
 * as a cursor's codec answers nothing.
 */
#include "api/api.h"

#include <check.h>
#include <limits.h>
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

/* base64url of text[0..len), as a client could make it */
static const char *
b64n(const char *text, size_t len)
{
	static char out[512];

	ck_assert_uint_lt(len, sizeof(out) * 3 / 4);
	api_b64url_encode(text, len, out);
	return out;
}

static const char *
b64(const char *text)
{
	return b64n(text, strlen(text));
}

/* The bytes of a buffer an encoder is handed part of, past that part. */
#define CANARY  '#'
#define ROOM    128

/* buf[from..ROOM) are all CANARY: the encoder wrote nothing there. */
static void
ck_untouched(const char *buf, size_t from, const char *what)
{
	for (size_t i = from; i < ROOM; i++)
		ck_assert_msg(buf[i] == CANARY, "%s: byte %zu written", what, i);
}

/* An encoder's refusal: false, out[0] "" when it had a byte, nothing
 * written past out[0] (nor at all with no room). */
static void
ck_encode_refused(bool ok, const char *buf, size_t size, const char *what)
{
	ck_assert_msg(!ok, "%s encoded", what);
	if (size > 0)
		ck_assert_msg(buf[0] == '\0', "%s: out is not \"\"", what);
	ck_untouched(buf, size > 0 ? 1 : 0, what);
}

/* --- places: "v1:<rating>:<id>" ------------------------------------------- */

/* Cursors as this server gives them out, pinned: a change of any of them
 * breaks the cursors clients hold. */
static const struct {
	const char *rating, *id, *cursor;
} places_known[] = {
	{ "4.5", "123", "djE6NC41OjEyMw" },
	{ NULL, "7", "djE6Ojc" },
	{ "", "1", "djE6OjE" },
	{ "", "999999999999999999", "djE6Ojk5OTk5OTk5OTk5OTk5OTk5OQ" },
	{ "0", "1", "djE6MDox" },
	{ "5", "42", "djE6NTo0Mg" },
	{ "0.0", "123", "djE6MC4wOjEyMw" },
	{ "0.1", "999999", "djE6MC4xOjk5OTk5OQ" },
	{ "1.0", "1", "djE6MS4wOjE" },
	{ "2.5", "7", "djE6Mi41Ojc" },
	{ "3.7", "42", "djE6My43OjQy" },
	{ "4.9", "123456789012345678",
	    "djE6NC45OjEyMzQ1Njc4OTAxMjM0NTY3OA" },
	{ "5.0", "1", "djE6NS4wOjE" },
	{ "5.0", "999999999999999999",
	    "djE6NS4wOjk5OTk5OTk5OTk5OTk5OTk5OQ" },
};

/* ids a cursor carries: positive, without leading zeros, 18 digits at
 * most (api_is_id), up to the largest */
static const char *const ids[] = { "1", "2", "9", "10", "99", "100", "123",
    "4096", "999999", "2147483647", "2147483648", "4294967296",
    "9007199254740993", "100000000000000000", "123456789012345678",
    "999999999999999999" };

/* Decodes c, which must be refused, and checks the outputs are untouched. */
static void
ck_places_refused(const char *c, const char *what)
{
	char rating[8] = "r", id[24] = "i";

	ck_assert_msg(!api_places_cursor_decode(c, rating, sizeof(rating), id,
	    sizeof(id)), "%s taken", what);
	ck_assert_str_eq(rating, "r");
	ck_assert_str_eq(id, "i");
}

/* Decodes c into rating and id, which must be want_rating and want_id. */
static void
ck_places_decodes(const char *c, const char *want_rating, const char *want_id)
{
	char rating[8] = "r", id[24] = "i";

	ck_assert_msg(api_places_cursor_decode(c, rating, sizeof(rating), id,
	    sizeof(id)), "%s refused", c);
	ck_assert_str_eq(rating, want_rating);
	ck_assert_str_eq(id, want_id);
}

START_TEST(test_places_known)
{
	char out[API_CURSOR_MAX];

	for (size_t i = 0; i < NITEMS(places_known); i++) {
		const char *r = places_known[i].rating;

		ck_assert(api_places_cursor_encode(r, places_known[i].id, out,
		    sizeof(out)));
		ck_assert_str_eq(out, places_known[i].cursor);
		ck_places_decodes(out, r != NULL ? r : "", places_known[i].id);
	}
}
END_TEST

/* every rating form: unknown, d, and d.d from 0.0 to 5.0 */
static size_t
all_ratings(char ratings[][4], size_t max)
{
	size_t n = 0;

	ck_assert_uint_ge(max, 1 + 6 + 51);
	ratings[n++][0] = '\0';
	for (char d = '0'; d <= '5'; d++, n++) {
		ratings[n][0] = d;
		ratings[n][1] = '\0';
	}
	for (int t = 0; t <= 50; t++, n++) {
		ratings[n][0] = (char)('0' + t / 10);
		ratings[n][1] = '.';
		ratings[n][2] = (char)('0' + t % 10);
		ratings[n][3] = '\0';
	}
	return n;
}

START_TEST(test_places_round_trip)
{
	char ratings[64][4], out[API_CURSOR_MAX], text[300];
	size_t nr = all_ratings(ratings, NITEMS(ratings));

	for (size_t i = 0; i < nr; i++)
		for (size_t j = 0; j < NITEMS(ids); j++) {
			ck_assert(api_places_cursor_encode(ratings[i], ids[j],
			    out, sizeof(out)));
			ck_assert_uint_lt(strlen(out), API_CURSOR_MAX);
			ck_places_decodes(out, ratings[i], ids[j]);
			/* the text is the one documented, in base64url */
			snprintf(text, sizeof(text), "v1:%s:%s", ratings[i],
			    ids[j]);
			ck_assert_str_eq(out, b64(text));
		}
}
END_TEST

START_TEST(test_places_refused)
{
	static const char *const texts[] = {
	    /* not this version, or not this form */
	    "v2:4.5:1", "V1:4.5:1", "v10:4.5:1", "v:4.5:1", "v1", "v1:",
	    "v1:4.5", "v1:4.5:", "v1::", "v1:::1", "v1:4.5:1:2", "v1;4.5;1",
	    ":4.5:1", "4.5:1", "n1:20", "",
	    /* ratings other than "", d or d.d within 0..5 */
	    "v1:6:1", "v1:9:1", "v1:10:1", "v1:45:1", "v1:05:1", "v1:-1:1",
	    "v1:-0:1", "v1:-0.5:1", "v1:+1:1", "v1:4.:1", "v1:.5:1",
	    "v1:4.55:1", "v1:5.00:1", "v1:4,5:1", "v1:a:1", "v1:nan:1",
	    "v1:inf:1", "v1:1e0:1", "v1: 4.5:1", "v1:4.5 :1", "v1:6.0:1",
	    "v1:9.9:1",
	    /* past 5.0: numeric(2,1) CHECK 0..5 holds none of them */
	    "v1:5.1:1", "v1:5.2:1", "v1:5.3:1", "v1:5.4:1", "v1:5.5:1",
	    "v1:5.6:1", "v1:5.7:1", "v1:5.8:1", "v1:5.9:1",
	    /* ids that are not positive integers of at most 18 digits */
	    "v1:4.5:0", "v1:4.5:00", "v1:4.5:012", "v1:4.5:-1", "v1:4.5:+1",
	    "v1:4.5:12a", "v1:4.5:1.0", "v1:4.5:1e3", "v1:4.5:0x1f",
	    "v1:4.5: 1", "v1:4.5:1 ", "v1:4.5:1\n", "v1:4.5::1",
	    "v1:4.5:1234567890123456789",      /* 19 digits */
	    "v1:4.5:9223372036854775807",      /* bigint's largest */
	    "v1:4.5:9223372036854775808",
	    "v1:4.5:99999999999999999999",
	    "v1:4.5:18446744073709551617",
	};
	static const char *const raw[] = {
	    "", "garbage!", "v1:4.5:1",                 /* not encoded */
	    "djE6NC41OjEyMw==", "djE6NC41OjEyMw=",      /* padded */
	    "djE6NC41+jEyMw", "djE6NC41/jEyMw",         /* standard base64 */
	    "djE6NC4 1OjEyMw", "djE6NC41OjEyMw\n", " djE6NC41OjEyMw",
	    "djE6NC41OjEyMw.", "%64jE6NC41OjEyMw", "djE6NC41OjEyMw%3D",
	    "\xc3\xa9", "djE6NC41OjEy\xffMw",
	    /* other spellings of cursors this server gives out */
	    "djE6OjcA",                 /* "v1::7" and a NUL */
	    "djE6Ojd", "djE6NC41OjEyMx", /* spare bits set */
	    "djE6NC41OjEyMwA",          /* a character that ends no byte */
	};
	/* texts with a NUL: the C string before it is a good cursor's */
	static const struct {
		const char *text;
		size_t len;
	} nul[] = {
	    { "v1:4.5:123\0", 11 }, { "v1:4.5:123\0x", 12 },
	    { "v1::7\0\0", 7 }, { "v1:5.0:1\0:2", 11 },
	};
	char big[600], *huge;

	for (size_t i = 0; i < NITEMS(texts); i++)
		ck_places_refused(b64(texts[i]), texts[i]);
	for (size_t i = 0; i < NITEMS(raw); i++)
		ck_places_refused(raw[i], raw[i]);
	for (size_t i = 0; i < NITEMS(nul); i++)
		ck_places_refused(b64n(nul[i].text, nul[i].len), nul[i].text);
	/* over 60 characters, whatever they say */
	snprintf(big, sizeof(big), "%s", b64("v1:4.5:1"));
	while (strlen(big) <= 60)
		strcat(big, "A");
	ck_places_refused(big, "an over-long cursor");
	ck_assert_ptr_nonnull(huge = malloc(100001));
	memset(huge, 'A', 100000);
	huge[100000] = '\0';
	ck_places_refused(huge, "100000 characters");
	free(huge);
}
END_TEST

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* If c is taken, it is the very cursor of the position it decodes to;
 * true if it was taken. */
static bool
ck_places_exact(const char *c)
{
	char rating[8], id[24], again[API_CURSOR_MAX];

	if (!api_places_cursor_decode(c, rating, sizeof(rating), id,
	    sizeof(id)))
		return false;
	ck_assert(api_places_cursor_encode(rating, id, again, sizeof(again)));
	ck_assert_msg(strcmp(again, c) == 0, "%s taken as %s", c, again);
	return true;
}

/* Every one-character change of the known cursors (each character
 * replaced by every other, one dropped, one added) is refused or is
 * another position's own cursor. */
START_TEST(test_places_spellings)
{
	char c[64];
	size_t taken = 0, tried = 0;

	for (size_t k = 0; k < NITEMS(places_known); k++) {
		const char *known = places_known[k].cursor;
		size_t n = strlen(known);

		for (size_t at = 0; at < n; at++) {
			for (const char *a = alphabet; *a != '\0'; a++) {
				if (*a == known[at])
					continue;
				snprintf(c, sizeof(c), "%s", known);
				c[at] = *a;
				taken += ck_places_exact(c);
				tried++;
			}
			snprintf(c, sizeof(c), "%.*s%s", (int)at, known,
			    known + at + 1);
			taken += ck_places_exact(c);
			tried++;
		}
		for (const char *a = alphabet; *a != '\0'; a++) {
			snprintf(c, sizeof(c), "%s%c", known, *a);
			taken += ck_places_exact(c);
			tried++;
		}
	}
	ck_assert_uint_gt(taken, 0);            /* e.g. "v1::70" */
	ck_assert_uint_lt(taken, tried / 10);
}
END_TEST

START_TEST(test_places_buffers)
{
	char rating[8], id[24];

	/* what does not fit the caller's buffers is refused, not cut */
	strcpy(id, "i");
	ck_assert(!api_places_cursor_decode("djE6NC41OjEyMw", rating,
	    sizeof(rating), id, 3));
	ck_assert_str_eq(id, "i");
	ck_assert(api_places_cursor_decode("djE6NC41OjEyMw", rating,
	    sizeof(rating), id, 4));
	ck_assert_str_eq(id, "123");
	strcpy(rating, "r");
	ck_assert(!api_places_cursor_decode("djE6NC41OjEyMw", rating, 3, id,
	    sizeof(id)));
	ck_assert_str_eq(rating, "r");
	ck_assert(api_places_cursor_decode("djE6NC41OjEyMw", rating, 4, id,
	    sizeof(id)));
	ck_assert_str_eq(rating, "4.5");
	/* an unknown rating needs room for its NUL only */
	ck_assert(api_places_cursor_decode("djE6Ojc", rating, 1, id,
	    sizeof(id)));
	ck_assert_str_eq(rating, "");
	ck_assert(!api_places_cursor_decode("djE6Ojc", rating, 0, id,
	    sizeof(id)));
}
END_TEST

START_TEST(test_places_encode_room)
{
	char buf[ROOM];

	for (size_t i = 0; i < NITEMS(places_known); i++) {
		const char *r = places_known[i].rating, *id = places_known[i].id;
		size_t need = strlen(places_known[i].cursor) + 1;

		ck_assert_uint_le(need, API_CURSOR_MAX);
		for (size_t size = 0; size < need; size++) {
			memset(buf, CANARY, sizeof(buf));
			ck_encode_refused(api_places_cursor_encode(r, id, buf,
			    size), buf, size, places_known[i].cursor);
		}
		memset(buf, CANARY, sizeof(buf));
		ck_assert(api_places_cursor_encode(r, id, buf, need));
		ck_assert_str_eq(buf, places_known[i].cursor);
		ck_untouched(buf, need, places_known[i].cursor);
	}
	/* the longest cursor there is fits API_CURSOR_MAX */
	memset(buf, CANARY, sizeof(buf));
	ck_assert(api_places_cursor_encode("5.0", "999999999999999999", buf,
	    API_CURSOR_MAX));
	ck_assert_uint_eq(strlen(buf), 34);
}
END_TEST

START_TEST(test_places_encode_refused)
{
	/* what the decoder would refuse is not given out */
	static const char *const ratings[] = { "5.1", "5.5", "5.9", "6", "-1",
	    "-0", "10", "05", "4.55", "5.00", "4.", ".5", "a", "4,5", " 4",
	    "4.5 ", "99999999999999999999" };
	static const char *const bad_ids[] = { "", "0", "00", "012", "-1",
	    "+1", "1.0", "12a", " 1", "1 ", "1234567890123456789",
	    "9223372036854775807", "99999999999999999999" };
	char buf[ROOM];

	for (size_t i = 0; i < NITEMS(ratings); i++) {
		memset(buf, CANARY, sizeof(buf));
		ck_encode_refused(api_places_cursor_encode(ratings[i], "1", buf,
		    API_CURSOR_MAX), buf, API_CURSOR_MAX, ratings[i]);
	}
	for (size_t i = 0; i < NITEMS(bad_ids); i++) {
		memset(buf, CANARY, sizeof(buf));
		ck_encode_refused(api_places_cursor_encode("4.5", bad_ids[i], buf,
		    API_CURSOR_MAX), buf, API_CURSOR_MAX, bad_ids[i]);
	}
	memset(buf, CANARY, sizeof(buf));
	ck_encode_refused(api_places_cursor_encode("4.5", NULL, buf,
	    API_CURSOR_MAX), buf, API_CURSOR_MAX, "a NULL id");
	/* a text that would have overrun the old 64-byte buffer */
	memset(buf, CANARY, sizeof(buf));
	ck_encode_refused(api_places_cursor_encode(
	    "4.5000000000000000000000000000", "123456789012345678901234567890",
	    buf, API_CURSOR_MAX), buf, API_CURSOR_MAX, "60 characters");
}
END_TEST

/* --- nearby: "n1:<offset>" -------------------------------------------------- */

static const struct {
	long offset;
	const char *cursor;
} nearby_known[] = {
	{ 0, "bjE6MA" }, { 1, "bjE6MQ" }, { 9, "bjE6OQ" }, { 10, "bjE6MTA" },
	{ 20, "bjE6MjA" }, { 99, "bjE6OTk" }, { 100, "bjE6MTAw" },
	{ 500, "bjE6NTAw" }, { 980, "bjE6OTgw" }, { 999, "bjE6OTk5" },
};

static void
ck_nearby_refused(const char *c, const char *what)
{
	long off = -5;

	ck_assert_msg(!api_nearby_cursor_decode(c, &off), "%s taken", what);
	ck_assert_int_eq(off, -5);
}

START_TEST(test_nearby_known)
{
	char out[API_CURSOR_MAX];
	long off;

	ck_assert_int_eq(NEARBY_MAX_RESULTS, 1000);
	for (size_t i = 0; i < NITEMS(nearby_known); i++) {
		ck_assert(api_nearby_cursor_encode(nearby_known[i].offset, out,
		    sizeof(out)));
		ck_assert_str_eq(out, nearby_known[i].cursor);
		off = -5;
		ck_assert(api_nearby_cursor_decode(out, &off));
		ck_assert_int_eq(off, nearby_known[i].offset);
	}
}
END_TEST

START_TEST(test_nearby_encode)
{
	static const long bad[] = { -1, -999, LONG_MIN, NEARBY_MAX_RESULTS,
	    NEARBY_MAX_RESULTS + 1, 2147483648L, LONG_MAX };
	char buf[ROOM];

	for (size_t i = 0; i < NITEMS(nearby_known); i++) {
		size_t need = strlen(nearby_known[i].cursor) + 1;

		for (size_t size = 0; size < need; size++) {
			memset(buf, CANARY, sizeof(buf));
			ck_encode_refused(api_nearby_cursor_encode(
			    nearby_known[i].offset, buf, size), buf, size,
			    nearby_known[i].cursor);
		}
		memset(buf, CANARY, sizeof(buf));
		ck_assert(api_nearby_cursor_encode(nearby_known[i].offset, buf,
		    need));
		ck_assert_str_eq(buf, nearby_known[i].cursor);
		ck_untouched(buf, need, nearby_known[i].cursor);
	}
	for (size_t i = 0; i < NITEMS(bad); i++) {
		memset(buf, CANARY, sizeof(buf));
		ck_encode_refused(api_nearby_cursor_encode(bad[i], buf,
		    API_CURSOR_MAX), buf, API_CURSOR_MAX, "an offset");
	}
}
END_TEST

START_TEST(test_nearby_round_trip)
{
	char out[API_CURSOR_MAX], text[32];
	long off;

	for (long o = 0; o < NEARBY_MAX_RESULTS; o++) {
		ck_assert(api_nearby_cursor_encode(o, out, sizeof(out)));
		snprintf(text, sizeof(text), "n1:%ld", o);
		ck_assert_str_eq(out, b64(text));
		off = -5;
		ck_assert(api_nearby_cursor_decode(out, &off));
		ck_assert_int_eq(off, o);
	}
}
END_TEST

START_TEST(test_nearby_refused)
{
	static const char *const texts[] = {
	    "n1:", "n1", "n2:20", "N1:20", "n1;20", "v1:4.5:1", "", "n1:20:",
	    "n1:1000", "n1:1001", "n1:-1", "n1:-0", "n1:+1", "n1: 1",
	    "n1:1 ", "n1:\t1", "n1:1x", "n1:1.0", "n1:1e2", "n1:0x10",
	    "n1:2147483648", "n1:9223372036854775807",
	    "n1:9223372036854775808", "n1:99999999999999999999",
	    /* other spellings of an offset */
	    "n1:00", "n1:01", "n1:020", "n1:007", "n1:0999",
	};
	static const char *const raw[] = {
	    "", "garbage!", "n1:20", "bjE6MjA=", "bjE6MjA==", "bjE6M+A",
	    "bjE6M/A", "bjE6 MjA", "bjE6MjA\n", "zzz",
	    "bjE6MjAA",                 /* "n1:20" and a NUL */
	    "bjE6MjB", "bjE6MB",        /* spare bits set */
	    "bjE6MjAwA",                /* a character that ends no byte */
	};
	char big[600];

	for (size_t i = 0; i < NITEMS(texts); i++)
		ck_nearby_refused(b64(texts[i]), texts[i]);
	for (size_t i = 0; i < NITEMS(raw); i++)
		ck_nearby_refused(raw[i], raw[i]);
	snprintf(big, sizeof(big), "%s", b64("n1:20"));
	while (strlen(big) <= 40)
		strcat(big, "A");
	ck_nearby_refused(big, "an over-long cursor");
}
END_TEST

/* Every cursor of "n1:" and up to three characters: exactly the 100
 * cursors of the offsets 0 to 99 are taken. */
START_TEST(test_nearby_spellings)
{
	char c[16], want[API_CURSOR_MAX];
	size_t taken = 0, n = sizeof(alphabet) - 1;
	long off;

	for (size_t len = 0; len <= 3; len++) {
		size_t count = 1;

		for (size_t i = 0; i < len; i++)
			count *= n;
		for (size_t v = 0; v < count; v++) {
			size_t x = v;

			strcpy(c, "bjE6");          /* "n1:" */
			for (size_t i = 0; i < len; i++, x /= n)
				c[4 + i] = alphabet[x % n];
			c[4 + len] = '\0';
			off = -5;
			if (!api_nearby_cursor_decode(c, &off)) {
				ck_assert_int_eq(off, -5);
				continue;
			}
			ck_assert(off >= 0 && off < 100);
			ck_assert(api_nearby_cursor_encode(off, want,
			    sizeof(want)));
			ck_assert_str_eq(c, want);
			taken++;
		}
	}
	ck_assert_uint_eq(taken, 100);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("cursor");
	TCase *tc = tcase_create("cursor");

	tcase_add_test(tc, test_places_known);
	tcase_add_test(tc, test_places_round_trip);
	tcase_add_test(tc, test_places_refused);
	tcase_add_test(tc, test_places_spellings);
	tcase_add_test(tc, test_places_buffers);
	tcase_add_test(tc, test_places_encode_room);
	tcase_add_test(tc, test_places_encode_refused);
	tcase_add_test(tc, test_nearby_known);
	tcase_add_test(tc, test_nearby_encode);
	tcase_add_test(tc, test_nearby_round_trip);
	tcase_add_test(tc, test_nearby_refused);
	tcase_add_test(tc, test_nearby_spellings);
	suite_add_tcase(s, tc);
	return check_run(s);
}
