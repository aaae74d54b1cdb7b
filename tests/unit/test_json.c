/*
 * test_json.c: the JSON text of the worker's answers (runtime/http_json.h):
 * the error body of docs/api.md ("Errors") byte for byte, the escapes of
 * its strings, what cannot be encoded (the 500 body), empty and large
 * values, the numbers an answer holds, and that every text reads back
 * with jansson as the value meant; and the bodies of /healthz and /readyz
 * (api/health_doc.h); and the compact form of the JSON text PostgreSQL
 * writes (common/json_text.h). The ranker's nearby answer has its own test
 * (test_nearby_wire).
 */
#include "runtime/http_json.h"
#include "api/health_doc.h"
#include "common/json_text.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"

/* text, read back, equals want (a reference taken). */
static void
reads_back(const char *text, json_t *want)
{
	json_error_t e;
	json_t *got = json_loads(text, 0, &e);

	ck_assert_msg(got != NULL, "%s: %s", text, e.text);
	ck_assert_msg(json_equal(got, want), "%s: not the value meant", text);
	json_decref(got);
	json_decref(want);
}

static void text_is(json_t *v, const char *want);

/* The error body's text, exactly want, and read back as the shape of
 * docs/api.md: one member, error, holding code, message and, when given,
 * field, all strings, nothing else. */
static void
error_is(const char *code, const char *message, const char *field,
    const char *want)
{
	char *s = http_json_text(http_error_doc(code, message, field));
	json_t *v, *err;

	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, want);
	v = json_loads(s, 0, NULL);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(json_object_size(v), 1);
	err = json_object_get(v, "error");
	ck_assert(json_is_object(err));
	ck_assert_uint_eq(json_object_size(err), field != NULL ? 3 : 2);
	ck_assert_str_eq(json_string_value(json_object_get(err, "code")), code);
	ck_assert_str_eq(json_string_value(json_object_get(err, "message")),
	    message);
	if (field != NULL)
		ck_assert_str_eq(json_string_value(json_object_get(err,
		    "field")), field);
	json_decref(v);
	free(s);
}

/* A few rows of docs/api.md's error table, as the handlers answer them. */
START_TEST(test_error_table)
{
	/* the example of docs/api.md, "Errors" */
	error_is("invalid_argument",
	    "limit must be an integer between 1 and 100", "limit",
	    "{\"error\":{\"code\":\"invalid_argument\",\"message\":\"limit "
	    "must be an integer between 1 and 100\",\"field\":\"limit\"}}");
	error_is("malformed_json", "the body is not JSON", NULL,
	    "{\"error\":{\"code\":\"malformed_json\",\"message\":\"the body "
	    "is not JSON\"}}");
	error_is("unauthorized", "a bearer token is required",
	    "Authorization",
	    "{\"error\":{\"code\":\"unauthorized\",\"message\":\"a bearer "
	    "token is required\",\"field\":\"Authorization\"}}");
	error_is("not_found", "no such place", NULL,
	    "{\"error\":{\"code\":\"not_found\",\"message\":\"no such "
	    "place\"}}");
	error_is("method_not_allowed", "GET only", NULL,
	    "{\"error\":{\"code\":\"method_not_allowed\",\"message\":\"GET "
	    "only\"}}");
	error_is("overloaded", "too many requests", NULL,
	    "{\"error\":{\"code\":\"overloaded\",\"message\":\"too many "
	    "requests\"}}");
	/* http.c's own: the request deadline */
	error_is("deadline_exceeded",
	    "the request's deadline passed before it could be answered", NULL,
	    "{\"error\":{\"code\":\"deadline_exceeded\",\"message\":\"the "
	    "request's deadline passed before it could be answered\"}}");
}
END_TEST

/* The 500 answer when an answer cannot be encoded: the internal row. */
START_TEST(test_oom_body)
{
	ck_assert_str_eq(http_json_oom, "{\"error\":{\"code\":\"internal\","
	    "\"message\":\"cannot encode the answer\"}}");
	reads_back(http_json_oom, json_pack("{s:{s:s, s:s}}", "error", "code",
	    "internal", "message", "cannot encode the answer"));
	/* nothing to encode: the caller answers http_json_oom */
	ck_assert_ptr_null(http_json_text(NULL));
}
END_TEST

/* '"', '\\' and every control character escaped as jansson does; '/',
 * DEL and UTF-8 (2, 3 and 4 bytes, up to U+10FFFF) as they are. */
START_TEST(test_escapes)
{
	char ctl[32], want[512], *o;
	int c;

	error_is("x", "say \"hi\" \\ back/slash", NULL,
	    "{\"error\":{\"code\":\"x\",\"message\":\"say \\\"hi\\\" \\\\ "
	    "back/slash\"}}");
	error_is("x", "caf\xc3\xa9 \xd0\xa5 \xe2\x82\xac \xf0\x9f\x98\x80 "
	    "\xf4\x8f\xbf\xbf", "\x7f",
	    "{\"error\":{\"code\":\"x\",\"message\":\"caf\xc3\xa9 \xd0\xa5 "
	    "\xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\",\"field\":"
	    "\"\x7f\"}}");

	/* U+0001..U+001F (U+0000 ends a C string: see test_nul) */
	for (c = 1; c < 32; c++)
		ctl[c - 1] = (char)c;
	ctl[31] = '\0';
	o = want + sprintf(want, "{\"error\":{\"code\":\"x\",\"message\":\"");
	for (c = 1; c < 32; c++) {
		switch (c) {
		case '\b': o += sprintf(o, "\\b"); break;
		case '\t': o += sprintf(o, "\\t"); break;
		case '\n': o += sprintf(o, "\\n"); break;
		case '\f': o += sprintf(o, "\\f"); break;
		case '\r': o += sprintf(o, "\\r"); break;
		default: o += sprintf(o, "\\u%04X", c); break;
		}
	}
	sprintf(o, "\"}}");
	error_is("x", ctl, NULL, want);
}
END_TEST

/* A string is a C string: it ends at its first NUL byte. */
START_TEST(test_nul)
{
	static const char m[] = "ab\0cd";

	error_is("x", m, NULL,
	    "{\"error\":{\"code\":\"x\",\"message\":\"ab\"}}");
}
END_TEST

/* Bytes that are not UTF-8 cannot be encoded: a code or message that
 * is not gives no body, so the answer is the 500 of http_json_oom, never
 * invalid JSON; a field that is not is left out. */
START_TEST(test_invalid_utf8)
{
	static const char *const bad[] = {
		"\xff", "a\xc3", "\xc3(", "\xc0\xaf", "\xe0\x80\xaf",
		"\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80", "\xfe\xfe",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(http_error_doc("x", bad[i], NULL) == NULL,
		    "message %zu encoded", i);
		/* a field that cannot be encoded is left out (the body
		 * keeps its status and code) */
		text_is(http_error_doc("x", "m", bad[i]),
		    "{\"error\":{\"code\":\"x\",\"message\":\"m\"}}");
		ck_assert_msg(http_error_doc(bad[i], "m", NULL) == NULL,
		    "code %zu encoded", i);
		ck_assert_ptr_null(http_json_text(http_error_doc("x",
		    bad[i], NULL)));
	}
	/* no code or message at all: the same */
	ck_assert_ptr_null(http_error_doc(NULL, "m", NULL));
	ck_assert_ptr_null(http_error_doc("x", NULL, NULL));
}
END_TEST

/* Empty strings are kept (an empty field is present). */
START_TEST(test_empty)
{
	error_is("", "", NULL, "{\"error\":{\"code\":\"\",\"message\":\"\"}}");
	error_is("", "", "",
	    "{\"error\":{\"code\":\"\",\"message\":\"\",\"field\":\"\"}}");
}
END_TEST

/* Large strings: 1 MiB as it is, and 64 Ki control characters each
 * written in six bytes. */
START_TEST(test_large)
{
	const size_t n = 1 << 20, k = 1 << 16;
	char *m = malloc(n + 1), *want = malloc(n + 64), *o;
	char *c = malloc(k + 1), *cwant = malloc(6 * k + 64);

	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_nonnull(want);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(cwant);
	memset(m, 'a', n);
	m[n] = '\0';
	o = want + sprintf(want, "{\"error\":{\"code\":\"x\",\"message\":\"");
	memcpy(o, m, n);
	strcpy(o + n, "\"}}");
	error_is("x", m, NULL, want);

	memset(c, '\x1f', k);
	c[k] = '\0';
	o = cwant + sprintf(cwant, "{\"error\":{\"code\":\"x\",\"message\":\"");
	for (size_t i = 0; i < k; i++)
		o += sprintf(o, "\\u001F");
	strcpy(o, "\"}}");
	error_is("x", c, NULL, cwant);
	free(m);
	free(want);
	free(c);
	free(cwant);
}
END_TEST

/* text of v, exactly want, and read back as v (takes the reference). */
static void
text_is(json_t *v, const char *want)
{
	char *s;

	ck_assert_ptr_nonnull(v);
	json_incref(v);
	s = http_json_text(v);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, want);
	reads_back(s, v);
	free(s);
}

/* Numbers as the encoder writes them for answers built in C (such as
 * /debug/sleep's slept_ms): integers to their 64-bit limits, reals with
 * the shortest text that reads back (always with '.' or an exponent). */
START_TEST(test_numbers)
{
	text_is(json_pack("{s:I}", "slept_ms", (json_int_t)0),
	    "{\"slept_ms\":0}");
	text_is(json_pack("{s:I}", "slept_ms", (json_int_t)INT64_MAX),
	    "{\"slept_ms\":9223372036854775807}");
	text_is(json_pack("{s:I}", "n", (json_int_t)INT64_MIN),
	    "{\"n\":-9223372036854775808}");
	text_is(json_pack("[I,I,I]", (json_int_t)-1, (json_int_t)INT32_MAX,
	    (json_int_t)INT32_MIN), "[-1,2147483647,-2147483648]");
	text_is(json_pack("[f,f,f,f]", 1.0, 1.5, -0.25, 100.0),
	    "[1.0,1.5,-0.25,100.0]");
	text_is(json_pack("[f]", 0.1), "[0.10000000000000001]");
	text_is(json_pack("[f,f]", 1e300, -2.5e-300),
	    "[1.0000000000000001e300,-2.5e-300]");
	text_is(json_pack("[f]", 1.7976931348623157e308),
	    "[1.7976931348623157e308]");
}
END_TEST

/* Empty containers and the other literals. */
START_TEST(test_literals)
{
	text_is(json_object(), "{}");
	text_is(json_array(), "[]");
	text_is(json_pack("{s:s}", "status", "ready"), "{\"status\":\"ready\"}");
	text_is(json_pack("[b,b,n]", 1, 0), "[true,false,null]");
}
END_TEST

/* /healthz: hand-written, its numbers to their limits, and 0 when the
 * buffer is short (the body is never cut). */
START_TEST(test_healthz)
{
	char buf[80];
	size_t n;

	n = api_healthz_text(1, 1, buf, sizeof(buf));
	ck_assert_str_eq(buf, "{\"status\":\"ok\",\"worker\":1,"
	    "\"generation\":1}");
	ck_assert_uint_eq(n, strlen(buf));
	reads_back(buf, json_pack("{s:s, s:i, s:i}", "status", "ok", "worker",
	    1, "generation", 1));
	n = api_healthz_text(0, 2147483647u, buf, sizeof(buf));
	ck_assert_str_eq(buf, "{\"status\":\"ok\",\"worker\":0,"
	    "\"generation\":2147483647}");
	ck_assert_uint_eq(n, strlen(buf));
	reads_back(buf, json_pack("{s:s, s:i, s:I}", "status", "ok", "worker",
	    0, "generation", (json_int_t)2147483647));
	/* exactly the length does not fit (no room for the NUL) */
	ck_assert_uint_eq(api_healthz_text(0, 2147483647u, buf, n), 0);
	ck_assert_uint_eq(api_healthz_text(0, 2147483647u, buf, n + 1), n);
	ck_assert_uint_eq(api_healthz_text(1, 1, buf, 0), 0);
}
END_TEST

/* /readyz: 200's body, and docs/api.md's 503 body for each dependency
 * missing. */
START_TEST(test_readyz)
{
	text_is(api_readyz_doc(true, true), "{\"status\":\"ready\"}");
	text_is(api_readyz_doc(false, false),
	    "{\"error\":{\"code\":\"unavailable\",\"message\":\"not ready: "
	    "database, ranker\",\"missing\":[\"database\",\"ranker\"]}}");
	text_is(api_readyz_doc(false, true),
	    "{\"error\":{\"code\":\"unavailable\",\"message\":\"not ready: "
	    "database\",\"missing\":[\"database\"]}}");
	text_is(api_readyz_doc(true, false),
	    "{\"error\":{\"code\":\"unavailable\",\"message\":\"not ready: "
	    "ranker\",\"missing\":[\"ranker\"]}}");
}
END_TEST

/* src compacted, in a copy and in place, is want; and reads back as the
 * same value as src. */
static void
compacts_to(const char *src, const char *want)
{
	size_t n = strlen(src), got;
	char *buf = malloc(n + 1);
	json_t *a, *b;

	ck_assert_ptr_nonnull(buf);
	got = json_compact(buf, src, n);
	buf[got] = '\0';
	ck_assert_str_eq(buf, want);
	memcpy(buf, src, n + 1);
	got = json_compact(buf, buf, n);
	buf[got] = '\0';
	ck_assert_str_eq(buf, want);
	a = json_loads(src, JSON_DECODE_ANY, NULL);
	b = json_loads(buf, JSON_DECODE_ANY, NULL);
	ck_assert_msg(a != NULL && b != NULL && json_equal(a, b), "%s", src);
	json_decref(a);
	json_decref(b);
	free(buf);
}

/* What PostgreSQL writes: json_build_object's " : " and ", ", json_agg's
 * line breaks, jsonb's ": "; strings keep their spaces, escaped quotes
 * and backslashes. */
START_TEST(test_compact)
{
	compacts_to("{\"id\" : 1, \"city\" : \"moscow\", \"d\" : null}",
	    "{\"id\":1,\"city\":\"moscow\",\"d\":null}");
	compacts_to("[{\"a\":1}, \n {\"a\":2}]", "[{\"a\":1},{\"a\":2}]");
	compacts_to("{\"mon\": [[\"09:00\", \"23:00\"]]}",
	    "{\"mon\":[[\"09:00\",\"23:00\"]]}");
	compacts_to("{\"t\" : \"a \\\" , \\\\\", \"u\" : 2}",
	    "{\"t\":\"a \\\" , \\\\\",\"u\":2}");
	compacts_to("[\"x\\\\\", \"y , z\"]", "[\"x\\\\\",\"y , z\"]");
	compacts_to("\t[ 1 ,\r\n2 ] ", "[1,2]");
	compacts_to("{}", "{}");
	ck_assert_uint_eq(json_compact(NULL, "", 0), 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("json");

	tcase_add_test(tc, test_error_table);
	tcase_add_test(tc, test_oom_body);
	tcase_add_test(tc, test_escapes);
	tcase_add_test(tc, test_nul);
	tcase_add_test(tc, test_invalid_utf8);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_large);
	tcase_add_test(tc, test_numbers);
	tcase_add_test(tc, test_literals);
	tcase_add_test(tc, test_healthz);
	tcase_add_test(tc, test_readyz);
	tcase_add_test(tc, test_compact);
	suite_add_tcase(s, tc);
	return check_run(s);
}
