/*
 * test_http_conv.c: the pure parts of the HTTP conventions (docs/api.md,
 * "HTTP conventions"): entity tags and If-None-Match (a single tag, lists,
 * "*", weak tags, malformed members), Accept-Encoding (gzip, x-gzip, "*",
 * weights and q=0, case), gzip bodies that inflate back to what went in,
 * CORS origin matching, and request ids (valid ones kept, bad ones not,
 * new ones valid and distinct).
 */
#include "runtime/http_cors.h"
#include "runtime/http_etag.h"
#include "runtime/http_gzip.h"
#include "runtime/http_reqid.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <zlib.h>

#include "common/util.h"

#include "check_run.h"

#define TAG "\"0123456789abcdef\""

START_TEST(test_etag_form)
{
	char tag[HTTP_ETAG_LEN], other[HTTP_ETAG_LEN], body[100];
	size_t i, j;

	http_etag_of("a", 1, tag);
	ck_assert_uint_eq(strlen(tag), HTTP_ETAG_LEN - 1);
	ck_assert(tag[0] == '"' && tag[HTTP_ETAG_LEN - 2] == '"');
	for (i = 1; i < HTTP_ETAG_LEN - 2; i++)
		ck_assert(strchr("0123456789abcdef", tag[i]) != NULL);
	http_etag_of("a", 1, other);                /* the same body, the same */
	ck_assert_str_eq(tag, other);
	http_etag_format(0, tag);
	ck_assert_str_eq(tag, "\"0000000000000000\"");
	http_etag_format(0x0123456789abcdefull, tag);
	ck_assert_str_eq(tag, TAG);
	/* every length of a prefix (the tail of under eight bytes included)
	 * and every byte changed gives another tag */
	memset(body, 'x', sizeof(body));
	for (i = 0; i < 17; i++)
		for (j = i + 1; j < 18; j++) {
			http_etag_of(body, i, tag);
			http_etag_of(body, j, other);
			ck_assert_str_ne(tag, other);
		}
	http_etag_of(body, sizeof(body), tag);
	for (i = 0; i < sizeof(body); i++) {
		body[i] = 'y';
		http_etag_of(body, sizeof(body), other);
		ck_assert_str_ne(tag, other);
		body[i] = 'x';
	}
	/* the value on every host: the words are read little-endian, so a
	 * node of another byte order tags the same body the same */
	ck_assert_uint_eq(util_hash64("abcdefgh", 8), 0x9fd19b25ec82307eull);
	ck_assert_uint_eq(util_hash64("abcdefghijk", 11),
	    0x11e8ad2fdd68cd7bull);
}
END_TEST

START_TEST(test_inm_single)
{
	ck_assert(http_etag_matches(TAG, TAG));
	ck_assert(http_etag_matches("  " TAG "  ", TAG));
	ck_assert(!http_etag_matches("\"0123456789abcdee\"", TAG));
	ck_assert(!http_etag_matches("\"0123456789abcdef", TAG));
	ck_assert(!http_etag_matches("0123456789abcdef", TAG));
	ck_assert(!http_etag_matches("", TAG));
	/* the tag is compared whole, quotes included */
	ck_assert(!http_etag_matches("\"0123456789abcde\"", TAG));
	ck_assert(!http_etag_matches("\"0123456789abcdef0\"", TAG));
}
END_TEST

START_TEST(test_inm_weak)
{
	ck_assert(http_etag_matches("W/" TAG, TAG));
	ck_assert(http_etag_matches("\"x\", W/" TAG, TAG));
	ck_assert(!http_etag_matches("w/" TAG, TAG));   /* W/ is case-sensitive */
	ck_assert(!http_etag_matches("W/\"other\"", TAG));
}
END_TEST

START_TEST(test_inm_list)
{
	ck_assert(http_etag_matches("\"a\", " TAG, TAG));
	ck_assert(http_etag_matches("\"a\"," TAG ",\"b\"", TAG));
	ck_assert(http_etag_matches(",, \"a\" ,\t" TAG, TAG));
	ck_assert(!http_etag_matches("\"a\", \"b\", \"c\"", TAG));
	/* a malformed member does not hide the next one */
	ck_assert(http_etag_matches("bogus, " TAG, TAG));
	/* a comma inside a quoted tag is part of it */
	ck_assert(!http_etag_matches("\"x," TAG "\"", TAG));
}
END_TEST

START_TEST(test_inm_star)
{
	ck_assert(http_etag_matches("*", TAG));
	ck_assert(http_etag_matches(" * ", TAG));
	ck_assert(http_etag_matches("\"a\", *", TAG));
	ck_assert(!http_etag_matches("*x", TAG));
}
END_TEST

START_TEST(test_accept_encoding)
{
	ck_assert(!http_gzip_accepted(NULL));
	ck_assert(!http_gzip_accepted(""));
	ck_assert(http_gzip_accepted("gzip"));
	ck_assert(http_gzip_accepted("GZIP"));
	ck_assert(http_gzip_accepted("x-gzip"));
	ck_assert(http_gzip_accepted("gzip, deflate, br"));
	ck_assert(http_gzip_accepted("br;q=1.0, gzip;q=0.8, *;q=0.1"));
	ck_assert(http_gzip_accepted("deflate, gzip ; q=0.5"));
	ck_assert(!http_gzip_accepted("deflate, br"));
	ck_assert(!http_gzip_accepted("identity"));
	ck_assert(!http_gzip_accepted("gzipx"));
	ck_assert(!http_gzip_accepted("gzip;q=0"));
	ck_assert(!http_gzip_accepted("gzip; q=0.0"));
	ck_assert(!http_gzip_accepted("gzip;Q=0.000"));
	ck_assert(http_gzip_accepted("gzip;q=0.001"));
	/* "*" covers gzip unless gzip is named */
	ck_assert(http_gzip_accepted("*"));
	ck_assert(http_gzip_accepted("identity, *;q=0.5"));
	ck_assert(!http_gzip_accepted("*;q=0"));
	ck_assert(!http_gzip_accepted("gzip;q=0, *"));
	ck_assert(http_gzip_accepted("gzip, *;q=0"));
	ck_assert(!http_gzip_accepted("identity;q=1, *;q=0"));
	/* other parameters are not weights */
	ck_assert(http_gzip_accepted("gzip;level=0"));
}
END_TEST

START_TEST(test_gzip_types)
{
	ck_assert(http_gzip_type("application/json; charset=utf-8"));
	ck_assert(http_gzip_type("APPLICATION/JSON"));
	ck_assert(http_gzip_type("text/html; charset=utf-8"));
	ck_assert(http_gzip_type("text/css"));
	ck_assert(http_gzip_type("application/javascript"));
	ck_assert(http_gzip_type("image/svg+xml"));
	ck_assert(http_gzip_type("application/problem+json"));
	ck_assert(http_gzip_type("application/yaml"));
	ck_assert(!http_gzip_type("image/png"));
	ck_assert(!http_gzip_type("font/woff2"));
	ck_assert(!http_gzip_type("application/octet-stream"));
	ck_assert(!http_gzip_type("application/jsonx"));
	ck_assert(!http_gzip_type("application/gzip"));
	ck_assert(!http_gzip_type(""));
}
END_TEST

/* Inflates src into out (cap bytes): its length, or -1. */
static long
inflate_all(const unsigned char *src, size_t len, unsigned char *out,
    size_t cap)
{
	z_stream z;
	int rc;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 15 + 16) != Z_OK)
		return -1;
	z.next_in = (Bytef *)(uintptr_t)src;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	rc = inflate(&z, Z_FINISH);
	inflateEnd(&z);
	return rc == Z_STREAM_END && z.avail_in == 0 ?
	    (long)(cap - z.avail_out) : -1;
}

START_TEST(test_gzip_roundtrip)
{
	static unsigned char in[200000], back[200000];
	struct http_span sp[3];
	struct evbuffer *z = evbuffer_new();
	struct http_gzip *g = http_gzip_new(HTTP_GZIP_LEVEL);
	unsigned int seed = 7;
	size_t i, zlen;

	ck_assert_ptr_nonnull(z);
	ck_assert_ptr_nonnull(g);
	for (i = 0; i < sizeof(in); i++)    /* half text, half noise */
		in[i] = i < sizeof(in) / 2 ? "{\"name\":\"x\"},"[i % 13] :
		    (unsigned char)rand_r(&seed);
	sp[0].p = in;
	sp[0].n = 1000;
	sp[1].p = in + 1000;
	sp[1].n = 0;
	sp[2].p = in + 1000;
	sp[2].n = sizeof(in) - 1000;
	ck_assert_int_eq(http_gzip(g, sp, 3, z), 0);
	zlen = evbuffer_get_length(z);
	ck_assert_uint_gt(zlen, 18);        /* a header and a trailer */
	ck_assert_uint_lt(zlen, sizeof(in));
	ck_assert_int_eq(inflate_all(evbuffer_pullup(z, -1), zlen, back,
	    sizeof(back)), (long)sizeof(in));
	ck_assert(memcmp(in, back, sizeof(in)) == 0);
	/* an empty body is a valid, empty gzip member */
	evbuffer_drain(z, zlen);
	ck_assert_int_eq(http_gzip(g, NULL, 0, z), 0);
	ck_assert_int_eq(inflate_all(evbuffer_pullup(z, -1),
	    evbuffer_get_length(z), back, sizeof(back)), 0);
	/* the compressor is reused: the same bytes, the same member */
	evbuffer_drain(z, evbuffer_get_length(z));
	ck_assert_int_eq(http_gzip(g, sp, 3, z), 0);
	ck_assert_uint_eq(evbuffer_get_length(z), zlen);
	ck_assert_int_eq(inflate_all(evbuffer_pullup(z, -1), zlen, back,
	    sizeof(back)), (long)sizeof(in));
	ck_assert(memcmp(in, back, sizeof(in)) == 0);
	evbuffer_free(z);
	http_gzip_free(g);
}
END_TEST

START_TEST(test_cors_match)
{
	const char *list = "https://a.example http://b.example:8080";

	ck_assert_int_eq(http_cors_match("", "https://a.example"),
	    HTTP_CORS_NO);
	ck_assert_int_eq(http_cors_match(list, NULL), HTTP_CORS_NO);
	ck_assert_int_eq(http_cors_match(list, ""), HTTP_CORS_NO);
	ck_assert_int_eq(http_cors_match(list, "https://a.example"),
	    HTTP_CORS_ORIGIN);
	ck_assert_int_eq(http_cors_match(list, "HTTPS://A.EXAMPLE"),
	    HTTP_CORS_ORIGIN);
	ck_assert_int_eq(http_cors_match(list, "http://b.example:8080"),
	    HTTP_CORS_ORIGIN);
	ck_assert_int_eq(http_cors_match(list, "http://b.example"),
	    HTTP_CORS_NO);
	ck_assert_int_eq(http_cors_match(list, "http://a.example"),
	    HTTP_CORS_NO);
	ck_assert_int_eq(http_cors_match(list, "https://a.example.evil"),
	    HTTP_CORS_NO);
	ck_assert_int_eq(http_cors_match(list, "https://a"), HTTP_CORS_NO);
	ck_assert_int_eq(http_cors_match(list, "null"), HTTP_CORS_NO);
	ck_assert_int_eq(http_cors_match("*", "https://any.example"),
	    HTTP_CORS_ANY);
	ck_assert_int_eq(http_cors_match(" * ", "null"), HTTP_CORS_ANY);
	ck_assert_int_eq(http_cors_match("*", NULL), HTTP_CORS_NO);
	ck_assert(!http_cors_varies(""));
	ck_assert(!http_cors_varies("  "));
	ck_assert(!http_cors_varies("*"));
	ck_assert(http_cors_varies(list));
}
END_TEST

START_TEST(test_reqid_valid)
{
	char s[HTTP_REQID_MAX + 2];

	ck_assert(http_reqid_valid("a"));
	ck_assert(http_reqid_valid("Req-1.2_x"));
	ck_assert(!http_reqid_valid(NULL));
	ck_assert(!http_reqid_valid(""));
	ck_assert(!http_reqid_valid("a b"));
	ck_assert(!http_reqid_valid("a/b"));
	ck_assert(!http_reqid_valid("a\tb"));
	ck_assert(!http_reqid_valid("\xc3\xa9"));
	ck_assert(!http_reqid_valid("a:b"));
	memset(s, 'x', HTTP_REQID_MAX);
	s[HTTP_REQID_MAX] = '\0';
	ck_assert(http_reqid_valid(s));         /* 64: the longest */
	s[HTTP_REQID_MAX] = 'x';
	s[HTTP_REQID_MAX + 1] = '\0';
	ck_assert(!http_reqid_valid(s));        /* 65 */
}
END_TEST

START_TEST(test_reqid_new)
{
	struct http_reqid_gen g, g2;
	char a[HTTP_REQID_MAX + 1], b[HTTP_REQID_MAX + 1];
	char c[HTTP_REQID_MAX + 1];

	memset(&g, 0, sizeof(g));
	memset(&g2, 0, sizeof(g2));
	http_reqid_new(&g, a);
	http_reqid_new(&g, b);
	http_reqid_new(&g2, c);
	ck_assert(http_reqid_valid(a));
	ck_assert(http_reqid_valid(b));
	ck_assert_uint_eq(strlen(a), 24);
	ck_assert_str_ne(a, b);
	ck_assert(memcmp(a, b, 12) == 0);       /* one process, one prefix */
	ck_assert_str_eq(a + 12, "000000000001");
	ck_assert_str_eq(b + 12, "000000000002");
	ck_assert_str_ne(a, c);                 /* another draw */
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("http_conv");
	TCase *tc = tcase_create("http_conv");

	tcase_add_test(tc, test_etag_form);
	tcase_add_test(tc, test_inm_single);
	tcase_add_test(tc, test_inm_weak);
	tcase_add_test(tc, test_inm_list);
	tcase_add_test(tc, test_inm_star);
	tcase_add_test(tc, test_accept_encoding);
	tcase_add_test(tc, test_gzip_types);
	tcase_add_test(tc, test_gzip_roundtrip);
	tcase_add_test(tc, test_cors_match);
	tcase_add_test(tc, test_reqid_valid);
	tcase_add_test(tc, test_reqid_new);
	suite_add_tcase(s, tc);
	return check_run(s);
}
