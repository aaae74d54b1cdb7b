/*
 * test_params.c: the query parameter checks of src/api/params.c through
 * api.h: integers, numbers, coordinates, word lists and free text (their
 * ranges, defaults, %-decoding and the 400 each bad value gets, with its
 * message and field), slugs and ids, and the base64url of the cursors
 * (the cursors themselves: test_cursor.c).
 *
 * params.c answers through http.h's http_req_query() and
 * http_reply_error(); this file defines both over a fake request (a list
 * of raw, still %-encoded, query pairs) and records the error answered,
 * so no server and no libevhtp are needed.
 */
#include "api/api.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"

/* --- the fake request ------------------------------------------------------ */

struct http_req {
	const char *const *query;   /* key, value, key, value, ..., NULL */
	int replies;
	int status;
	char code[64], message[256], field[64];
};

const char *
http_req_query(struct http_req *r, const char *key)
{
	for (const char *const *p = r->query; p != NULL && *p != NULL; p += 2)
		if (strcmp(p[0], key) == 0)
			return p[1];
	return NULL;
}

void
http_reply_error(struct http_req *r, int status, const char *code,
    const char *message, const char *field)
{
	r->replies++;
	r->status = status;
	snprintf(r->code, sizeof(r->code), "%s", code);
	snprintf(r->message, sizeof(r->message), "%s", message);
	snprintf(r->field, sizeof(r->field), "%s", field ? field : "");
}

/* A request with one parameter, name=value (value NULL: none at all). */
static const char *kv[3];
static struct http_req req;

static struct http_req *
one(const char *name, const char *value)
{
	memset(&req, 0, sizeof(req));
	kv[0] = value != NULL ? name : NULL;
	kv[1] = value;
	kv[2] = NULL;
	req.query = kv;
	return &req;
}

/* The last call answered nothing. */
#define ck_unanswered() ck_assert_int_eq(req.replies, 0)

/* The last call answered one 400 invalid_argument naming field, with msg. */
static void
ck_refused(const char *field, const char *msg)
{
	ck_assert_int_eq(req.replies, 1);
	ck_assert_int_eq(req.status, 400);
	ck_assert_str_eq(req.code, "invalid_argument");
	ck_assert_str_eq(req.field, field);
	ck_assert_str_eq(req.message, msg);
}

/* --- integers ------------------------------------------------------------- */

static bool
int_of(const char *v, long *out)
{
	return api_param_int(one("limit", v), "limit", 1, 100, 20, out);
}

START_TEST(test_int)
{
	static const char *const bad[] = { "0", "101", "-1", "+5", " 5", "5 ",
	    "abc", "1e2", "5.0", "0x10", "", "1234567890", "%00" };
	long n = -7;

	ck_assert(int_of(NULL, &n));            /* absent: the default */
	ck_unanswered();
	ck_assert_int_eq(n, 20);
	ck_assert(int_of("1", &n));             /* the bounds are in */
	ck_assert_int_eq(n, 1);
	ck_assert(int_of("100", &n));
	ck_assert_int_eq(n, 100);
	ck_assert(int_of("007", &n));           /* leading zeros are read */
	ck_assert_int_eq(n, 7);
	ck_assert(int_of("%35%30", &n));        /* "50", %-decoded */
	ck_assert_int_eq(n, 50);
	ck_unanswered();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = -7;
		ck_assert_msg(!int_of(bad[i], &n), "limit=%s taken", bad[i]);
		ck_refused("limit", "limit must be an integer between 1 and 100");
		ck_assert_int_eq(n, 20);            /* left at the default */
	}
	/* nine digits at most, whatever the range */
	ck_assert(api_param_int(one("offset", "999999999"), "offset", 0,
	    2000000000, 0, &n));
	ck_assert_int_eq(n, 999999999);
	ck_assert(!api_param_int(one("offset", "1000000000"), "offset", 0,
	    2000000000, 0, &n));
	ck_refused("offset",
	    "offset must be an integer between 0 and 2000000000");
}
END_TEST

/* --- numbers -------------------------------------------------------------- */

START_TEST(test_number)
{
	static const char *const bad[] = { "5.1", "-1", "-0", "+1", "1e0",
	    "nan", "inf", "0x1", "4,5", "", " 4", "0.00000000000000001" };
	char out[32];

	strcpy(out, "junk");
	ck_assert(api_param_number(one("min_rating", NULL), "min_rating", 0, 5,
	    out, sizeof(out)));
	ck_unanswered();
	ck_assert_str_eq(out, "");              /* absent: "" (SQL NULL) */
	ck_assert(api_param_number(one("min_rating", "4.5"), "min_rating", 0, 5,
	    out, sizeof(out)));
	ck_assert_str_eq(out, "4.5");           /* the text, as given */
	ck_assert(api_param_number(one("min_rating", "05"), "min_rating", 0, 5,
	    out, sizeof(out)));
	ck_assert_str_eq(out, "05");
	ck_assert(api_param_number(one("min_rating", "0"), "min_rating", 0, 5,
	    out, sizeof(out)));
	ck_assert_str_eq(out, "0");
	ck_assert(api_param_number(one("min_rating", "%34.%35"), "min_rating",
	    0, 5, out, sizeof(out)));
	ck_assert_str_eq(out, "4.5");
	ck_assert(api_param_number(one("min_rating", "4."), "min_rating", 0, 5,
	    out, sizeof(out)));                 /* a number to strtod() */
	ck_assert_str_eq(out, "4.");
	ck_unanswered();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(!api_param_number(one("min_rating", bad[i]),
		    "min_rating", 0, 5, out, sizeof(out)),
		    "min_rating=%s taken", bad[i]);
		ck_refused("min_rating",
		    "min_rating must be a number between 0 and 5");
	}
	/* the range is printed with %g */
	ck_assert(!api_param_number(one("radius", "50001"), "radius", 0.5,
	    50000, out, sizeof(out)));
	ck_refused("radius", "radius must be a number between 0.5 and 50000");
}
END_TEST

/* --- coordinates ---------------------------------------------------------- */

START_TEST(test_coord)
{
	static const char *const bad[] = { "90.0001", "-90.5", "+1", "1e1",
	    "nan", "", "4,5", "12a", "1-2", "0.0000000000000000000000001" };
	double d = 99;
	bool present = true;

	/* required and absent */
	ck_assert(!api_param_coord(one("lat", NULL), "lat", -90, 90, true, &d,
	    &present));
	ck_refused("lat", "lat is required: a number between -90 and 90");
	ck_assert(!present);
	/* optional and absent: untouched */
	ck_assert(api_param_coord(one("lat", NULL), "lat", -90, 90, false, &d,
	    &present));
	ck_unanswered();
	ck_assert(!present);
	ck_assert(d == 99);
	ck_assert(api_param_coord(one("lat", "-33.8688"), "lat", -90, 90, true,
	    &d, &present));
	ck_assert(present);
	ck_assert_double_eq_tol(d, -33.8688, 1e-12);
	ck_assert(api_param_coord(one("lon", "%2D180"), "lon", -180, 180, true,
	    &d, &present));
	ck_assert(d == -180);
	ck_assert(api_param_coord(one("lat", "90"), "lat", -90, 90, true, &d,
	    &present));
	ck_assert(d == 90);
	ck_unanswered();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		d = 99;
		ck_assert_msg(!api_param_coord(one("lat", bad[i]), "lat", -90, 90,
		    false, &d, &present), "lat=%s taken", bad[i]);
		ck_refused("lat", "lat must be a number between -90 and 90");
		ck_assert(present);                 /* it was there, and bad */
		ck_assert(d == 99);
	}
}
END_TEST

/* --- word lists ------------------------------------------------------------ */

static bool
list_of(const char *v, char *out, size_t outlen)
{
	return api_param_list(one("cuisine", v), "cuisine", out, outlen);
}

START_TEST(test_list)
{
	static const char *const notwords[] = { "", ",", "a,", ",a", "a,,b",
	    "Georgian", "a b", "a-b", "a;b", "пицца", "a%00" };
	const char *words = "must be a comma list of words (a-z, 0-9, _)";
	char out[1024], big[1024], want[sizeof(big) + 2];

	strcpy(out, "junk");
	ck_assert(list_of(NULL, out, sizeof(out)));
	ck_assert_str_eq(out, "");
	ck_assert(list_of("georgian", out, sizeof(out)));
	ck_assert_str_eq(out, "{georgian}");
	ck_assert(list_of("georgian,italian,x_1", out, sizeof(out)));
	ck_assert_str_eq(out, "{georgian,italian,x_1}");
	ck_assert(list_of("a%2Cb", out, sizeof(out)));  /* an escaped comma */
	ck_assert_str_eq(out, "{a,b}");
	ck_unanswered();
	for (size_t i = 0; i < sizeof(notwords) / sizeof(notwords[0]); i++) {
		ck_assert_msg(!list_of(notwords[i], out, sizeof(out)),
		    "cuisine=%s taken", notwords[i]);
		snprintf(want, sizeof(want), "cuisine %s", words);
		ck_refused("cuisine", want);
	}
	/* 16 items pass, 17 do not */
	strcpy(big, "a");
	for (int i = 1; i < 16; i++)
		strcat(big, ",a");
	ck_assert(list_of(big, out, sizeof(out)));
	ck_assert_uint_eq(strlen(out), 2 + 16 + 15);
	strcat(big, ",a");
	ck_assert(!list_of(big, out, sizeof(out)));
	ck_refused("cuisine", "cuisine takes at most 16 items");
	/* an item of 32 characters passes, of 33 does not */
	memset(big, 'x', 32);
	big[32] = '\0';
	ck_assert(list_of(big, out, sizeof(out)));
	snprintf(want, sizeof(want), "{%s}", big);
	ck_assert_str_eq(out, want);
	strcat(big, "x");
	ck_assert(!list_of(big, out, sizeof(out)));
	ck_refused("cuisine", "cuisine has an item over 32 characters");
	/* no room for even "{}" */
	ck_assert(!list_of("a", out, 2));
	ck_refused("cuisine", "cuisine is too long");
	/* exactly room for "{ab}" and its NUL */
	ck_assert(list_of("ab", out, 5));
	ck_assert_str_eq(out, "{ab}");
}
END_TEST

/* --- free text ------------------------------------------------------------- */

static bool
text_of(const char *v, char *out, size_t outlen)
{
	return api_param_text(one("q", v), "q", 16, out, outlen);
}

START_TEST(test_text)
{
	/* each %-decodes to something that is not UTF-8 text */
	static const char *const notutf8[] = {
	    "%00", "a%01b", "%09", "%7F", "%0A",
	    "%C3", "%C3%28", "%80", "%C0%AF", "%C1%BF",  /* overlongs */
	    "%E0%80%80", "%F0%80%80%80",
	    "%ED%A0%80",                                 /* a surrogate */
	    "%F4%90%80%80", "%F5%80%80%80", "%FF",       /* past U+10FFFF */
	};
	char out[64];

	strcpy(out, "junk");
	ck_assert(text_of(NULL, out, sizeof(out)));
	ck_assert_str_eq(out, "");
	ck_assert(text_of("caf%C3%A9+au+lait", out, sizeof(out)));
	ck_assert_str_eq(out, "café au lait");
	ck_assert(text_of("%D0%BA%D0%B0%D1%84%D0%B5", out, sizeof(out)));
	ck_assert_str_eq(out, "кафе");
	ck_assert(text_of("%F0%9F%8D%95%F4%8F%BF%BF", out, sizeof(out)));
	ck_assert_str_eq(out, "\xf0\x9f\x8d\x95\xf4\x8f\xbf\xbf");
	ck_assert(text_of("a%2Bb%25", out, sizeof(out)));
	ck_assert_str_eq(out, "a+b%");
	ck_assert(text_of("", out, sizeof(out)));     /* present and empty */
	ck_assert_str_eq(out, "");
	ck_assert(text_of("0123456789abcdef", out, sizeof(out)));  /* = max */
	ck_unanswered();
	for (size_t i = 0; i < sizeof(notutf8) / sizeof(notutf8[0]); i++) {
		ck_assert_msg(!text_of(notutf8[i], out, sizeof(out)),
		    "q=%s taken", notutf8[i]);
		ck_refused("q",
		    "q must be UTF-8 text without control characters");
	}
	ck_assert(!text_of("%ZZ", out, sizeof(out)));
	ck_refused("q", "q has a bad %-escape");
	ck_assert(!text_of("ab%4", out, sizeof(out)));
	ck_refused("q", "q has a bad %-escape");
	ck_assert(!text_of("0123456789abcdefg", out, sizeof(out)));
	ck_refused("q", "q must be a text of at most 16 bytes");
	/* bytes, not characters: 9 two-byte letters are 18 bytes */
	ck_assert(!text_of("%D0%B0%D0%B0%D0%B0%D0%B0%D0%B0%D0%B0%D0%B0%D0%B0"
	    "%D0%B0", out, sizeof(out)));
	ck_refused("q", "q must be a text of at most 16 bytes");
	/* and the buffer bounds it too */
	ck_assert(!text_of("abcdefgh", out, 8));
	ck_refused("q", "q must be a text of at most 16 bytes");
}
END_TEST

/* --- slugs and ids --------------------------------------------------------- */

START_TEST(test_slug_and_id)
{
	char s[80];

	ck_assert(api_is_slug("moscow"));
	ck_assert(api_is_slug("new-york-2"));
	ck_assert(api_is_slug("-"));
	ck_assert(!api_is_slug(""));
	ck_assert(!api_is_slug("New-York"));
	ck_assert(!api_is_slug("new_york"));
	ck_assert(!api_is_slug("new york"));
	ck_assert(!api_is_slug("москва"));
	memset(s, 'a', 64);
	s[64] = '\0';
	ck_assert(api_is_slug(s));
	s[64] = 'a';
	s[65] = '\0';
	ck_assert(!api_is_slug(s));

	ck_assert(api_is_id("1"));
	ck_assert(api_is_id("123456789012345678"));     /* 18 digits */
	ck_assert(!api_is_id("1234567890123456789"));   /* 19 */
	ck_assert(!api_is_id(""));
	ck_assert(!api_is_id("0"));
	ck_assert(!api_is_id("012"));
	ck_assert(!api_is_id("-1"));
	ck_assert(!api_is_id("+1"));
	ck_assert(!api_is_id("12a"));
	ck_assert(!api_is_id(" 1"));
}
END_TEST

/* --- base64url ---------------------------------------------------------- */

START_TEST(test_b64url)
{
	/* RFC 4648's vectors, without the padding */
	static const char *const plain[] = { "", "f", "fo", "foo", "foob",
	    "fooba", "foobar" };
	static const char *const coded[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg",
	    "Zm9vYmE", "Zm9vYmFy" };
	static const char bin[] = { '\xfb', '\xff', '\xbf', '\0', '\x01' };
	char enc[64], dec[64];

	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		api_b64url_encode(plain[i], strlen(plain[i]), enc);
		ck_assert_str_eq(enc, coded[i]);
		ck_assert_int_eq(api_b64url_decode(coded[i], dec, sizeof(dec)),
		    (int)strlen(plain[i]));
		ck_assert_str_eq(dec, plain[i]);
	}
	/* the URL alphabet: '-' and '_' for 62 and 63, bytes kept whole */
	api_b64url_encode(bin, sizeof(bin), enc);
	ck_assert_str_eq(enc, "-_-_AAE");
	ck_assert_int_eq(api_b64url_decode(enc, dec, sizeof(dec)),
	    (int)sizeof(bin));
	ck_assert_mem_eq(dec, bin, sizeof(bin));
	/* standard base64's '+', '/' and '=' are not in it, nor other bytes */
	ck_assert_int_eq(api_b64url_decode("Zm9v+A", dec, sizeof(dec)), -1);
	ck_assert_int_eq(api_b64url_decode("Zm9v/A", dec, sizeof(dec)), -1);
	ck_assert_int_eq(api_b64url_decode("Zg==", dec, sizeof(dec)), -1);
	ck_assert_int_eq(api_b64url_decode("Zm 9v", dec, sizeof(dec)), -1);
	/* room for the bytes and a NUL, or -1 */
	ck_assert_int_eq(api_b64url_decode("Zm9v", dec, 4), 3);
	ck_assert_str_eq(dec, "foo");
	ck_assert_int_eq(api_b64url_decode("Zm9v", dec, 3), -1);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("params");
	TCase *tc = tcase_create("params");

	tcase_add_test(tc, test_int);
	tcase_add_test(tc, test_number);
	tcase_add_test(tc, test_coord);
	tcase_add_test(tc, test_list);
	tcase_add_test(tc, test_text);
	tcase_add_test(tc, test_slug_and_id);
	tcase_add_test(tc, test_b64url);
	suite_add_tcase(s, tc);
	return check_run(s);
}
