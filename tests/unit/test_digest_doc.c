/*
 * test_digest_doc.c: the day digest's body and answer (api/digest_doc.h).
 * A table of bodies with what each must give (the ask, or the 400's code
 * and field); the scan against the jansson path on every table body and
 * on many generated ones (the scan may decline, but what it accepts the
 * jansson path accepts with the same result); the answer's exact bytes
 * for each way its parts arrive, read back with jansson.
 */
#include "api/digest_doc.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "check_run.h"
#define RND_SEED 20261207u
#include "../rnd.h"

/* params.c (api_is_slug) is linked whole; these stand in for the HTTP
 * layer it also calls and this test never reaches. */
struct http_req;
const char *http_req_query(struct http_req *r, const char *key);
void http_reply_error(struct http_req *r, int status, const char *code,
    const char *message, const char *field);

const char *
http_req_query(struct http_req *r, const char *key)
{
	(void)r;
	(void)key;
	return NULL;
}

void
http_reply_error(struct http_req *r, int status, const char *code,
    const char *message, const char *field)
{
	(void)r;
	(void)status;
	(void)code;
	(void)message;
	(void)field;
}

struct ok_case {
	const char *body;
	const char *date, *city, *categories, *limit;
	int scanned;        /* the usual body: the scan takes it itself */
};

static const struct ok_case oks[] = {
	{ "{\"date\":\"2026-12-07\",\"city\":\"moscow\"}",
	    "2026-12-07", "moscow", "", "10", 1 },
	{ " { \"city\" : \"new-york\" ,\n\t\"date\":\"2024-02-29\" } ",
	    "2024-02-29", "new-york", "", "10", 1 },
	{ "{\"date\":\"2026-01-31\",\"city\":\"a\",\"limit\":50}",
	    "2026-01-31", "a", "", "50", 1 },
	{ "{\"date\":\"2026-01-31\",\"city\":\"a\",\"limit\":1}",
	    "2026-01-31", "a", "", "1", 1 },
	{ "{\"date\":\"2026-01-31\",\"city\":\"a\",\"categories\":"
	    "[\"cafe\",\"bar\"]}", "2026-01-31", "a", "{cafe,bar}", "10", 1 },
	{ "{\"date\":\"2026-01-31\",\"city\":\"a\",\"categories\":[]}",
	    "2026-01-31", "a", "", "10", 1 },
	{ "{\"date\":\"2026-01-31\",\"city\":\"a\",\"categories\":null}",
	    "2026-01-31", "a", "", "10", 1 },
	/* escapes and other spellings: the jansson path's */
	{ "{\"date\":\"2026-01-31\",\"city\":\"\\u006dsk\"}",
	    "2026-01-31", "msk", "", "10", 0 },
};

struct bad_case {
	const char *body;
	const char *code, *field;
};

static const struct bad_case bads[] = {
	{ "", "malformed_json", "" },
	{ "{", "malformed_json", "" },
	{ "[1]", "invalid_argument", "" },
	{ "{\"date\":\"2026-01-31\",\"city\":\"a\",\"x\":1}",
	    "invalid_argument", "x" },
	{ "{\"date\":\"2026-02-30\",\"city\":\"a\"}", "invalid_argument",
	    "date" },
	{ "{\"date\":\"2026-1-31\",\"city\":\"a\"}", "invalid_argument",
	    "date" },
	{ "{\"city\":\"a\"}", "invalid_argument", "date" },
	{ "{\"date\":\"2026-01-31\"}", "invalid_argument", "city" },
	{ "{\"date\":\"2026-01-31\",\"city\":\"Moscow\"}", "invalid_argument",
	    "city" },
	{ "{\"date\":\"2026-01-31\",\"city\":\"a\",\"limit\":0}",
	    "invalid_argument", "limit" },
	{ "{\"date\":\"2026-01-31\",\"city\":\"a\",\"limit\":51}",
	    "invalid_argument", "limit" },
	{ "{\"date\":\"2026-01-31\",\"city\":\"a\",\"limit\":1.0}",
	    "invalid_argument", "limit" },
	{ "{\"date\":\"2026-01-31\",\"city\":\"a\",\"limit\":null}",
	    "invalid_argument", "limit" },
	{ "{\"date\":\"2026-01-31\",\"city\":\"a\",\"categories\":\"bar\"}",
	    "invalid_argument", "categories" },
	{ "{\"date\":\"2026-01-31\",\"city\":\"a\",\"categories\":[\"A\"]}",
	    "invalid_argument", "categories" },
	{ "{\"date\":\"2026-01-31\",\"city\":\"a\",\"categories\":"
	    "[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\","
	    "\"k\"]}", "invalid_argument", "categories" },
	/* a repeated field is malformed JSON to the jansson path */
	{ "{\"date\":\"2026-01-31\",\"city\":\"a\",\"city\":\"b\"}",
	    "malformed_json", "" },
};

static void
ask_is(const struct digest_ask *a, const struct ok_case *c)
{
	ck_assert_str_eq(a->date, c->date);
	ck_assert_str_eq(a->city, c->city);
	ck_assert_str_eq(a->categories, c->categories);
	ck_assert_str_eq(a->limit, c->limit);
}

START_TEST(test_bodies_accepted)
{
	const struct ok_case *c = &oks[_i];
	struct digest_refusal why;
	struct digest_ask a;

	ck_assert_msg(digest_ask_parse(&a, c->body, strlen(c->body), &why),
	    "%s: refused: %s", c->body, why.message);
	ask_is(&a, c);
	ck_assert_msg(digest_ask_scan(&a, c->body, strlen(c->body)) ==
	    (c->scanned != 0), "%s: the scan %s it", c->body, c->scanned ?
	    "declined" : "took");
	ck_assert(digest_ask_read(&a, c->body, strlen(c->body), &why));
	ask_is(&a, c);
}
END_TEST

START_TEST(test_bodies_refused)
{
	const struct bad_case *c = &bads[_i];
	struct digest_refusal why;
	struct digest_ask a;

	ck_assert_msg(!digest_ask_parse(&a, c->body, strlen(c->body), &why),
	    "%s: accepted", c->body);
	ck_assert_str_eq(why.code, c->code);
	ck_assert_str_eq(why.field, c->field);
	ck_assert_uint_gt(strlen(why.message), 0);
	ck_assert(!digest_ask_scan(&a, c->body, strlen(c->body)));
}
END_TEST

/* An unknown field's name longer than the room is cut where a character
 * begins: the field stays UTF-8. */
START_TEST(test_long_field_name_cut_whole)
{
	char body[1200], name[700];
	struct digest_refusal why;
	struct digest_ask a;
	size_t i;

	for (i = 0; i + 2 < sizeof(name); i += 2)
		memcpy(name + i, "\xc3\xa9", 2);          /* é */
	name[i] = '\0';
	snprintf(body, sizeof(body), "{\"%s\":1}", name);
	ck_assert(!digest_ask_parse(&a, body, strlen(body), &why));
	ck_assert_uint_gt(strlen(why.field), 100);
	ck_assert_uint_lt(strlen(why.field), sizeof(why.field));
	ck_assert_uint_eq(strlen(why.field) % 2, 0);
	ck_assert_int_eq(memcmp(why.field, name, strlen(why.field)), 0);
}
END_TEST

/* ---- generated bodies: the scan never disagrees ---------------------------- */

/* Each list starts with its valid values (the first VALID_*), so that a
 * good share of the bodies is accepted and the scan takes part. */
static const char *const keys[] = { "date", "city", "categories", "limit",
    "dat", "x", "cit\\u0079" };
static const char *const dates[] = { "\"2026-12-07\"", "\"2024-02-29\"",
    "\"2026-02-29\"", "\"2026-13-01\"", "\"20261207\"", "\"2026-12-7\"",
    "7", "null", "\"2026-12-07T00:00\"" };
static const char *const cities[] = { "\"moscow\"", "\"new-york\"",
    "\"m\\u006fscow\"", "\"\"", "\"Moscow\"", "\"a_b\"", "1",
    "[\"moscow\"]",
    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"" };
static const char *const cats[] = { "[]", "null", "[\"cafe\"]",
    "[\"cafe\",\"bar\"]",
    "[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\"]",
    "[\"Cafe\"]", "[1]", "\"cafe\"", "[\"a\",]",
    "[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\"]" };
static const char *const limits[] = { "1", "9", "10", "50", "51", "0",
    "01", "-1", "5.0", "5e1", "\"5\"", "null", "100" };
static const char *const gaps[] = { "", " ", "\n", "\t ", "\r\n" };

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))
/* one of the first v of a, three times in four; else any */
#define PICK(a, v) (a)[rnd_int(4) > 0 ? rnd_int(v) : rnd_int(N(a))]

static const char *
value_for(const char *k)
{
	if (strcmp(k, "date") == 0)
		return PICK(dates, 2);
	if (strcmp(k, "city") == 0)
		return PICK(cities, 3);
	if (strcmp(k, "categories") == 0)
		return PICK(cats, 5);
	return PICK(limits, 4);
}

/* Up to five fields: usually date and city first, then any. */
static void
gen_body(char *out, size_t max)
{
	size_t n = 0;
	int i, fields = 1 + rnd_int(5);

	n += snprintf(out + n, max - n, "%s{", PICK(gaps, N(gaps)));
	for (i = 0; i < fields && n < max; i++) {
		const char *k = i < 2 && rnd_int(8) > 0 ? keys[i] :
		    PICK(keys, 4);

		n += snprintf(out + n, max - n, "%s%s\"%s\"%s:%s%s",
		    i > 0 ? "," : "", PICK(gaps, N(gaps)), k,
		    PICK(gaps, N(gaps)), PICK(gaps, N(gaps)), value_for(k));
	}
	if (n < max)
		snprintf(out + n, max - n, "%s}%s", PICK(gaps, N(gaps)),
		    rnd_int(20) == 0 ? "x" : PICK(gaps, N(gaps)));
}

START_TEST(test_scan_agrees_with_jansson)
{
	unsigned i, scanned = 0, accepted = 0;

	rnd_reset();
	for (i = 0; i < 200000; i++) {
		char body[700];
		struct digest_ask s, j;
		struct digest_refusal why;
		bool by_scan, by_read;

		gen_body(body, sizeof(body));
		by_scan = digest_ask_scan(&s, body, strlen(body));
		by_read = digest_ask_read(&j, body, strlen(body), &why);
		ck_assert_msg(!by_scan || by_read, "scan took what jansson "
		    "refuses (%s): %s", why.message, body);
		if (by_scan) {
			ck_assert_msg(memcmp(&s, &j, sizeof(s)) == 0,
			    "the paths disagree on %s", body);
			scanned++;
		}
		accepted += by_read;
	}
	/* the generator reaches both paths, and both answers */
	ck_assert_uint_gt(scanned, 1000);
	ck_assert_uint_gt(accepted, scanned);
	ck_assert_uint_lt(accepted, i / 2);
}
END_TEST

/* ---- the answer --------------------------------------------------------------- */

static const struct digest_ask moscow = { "2026-12-07", "moscow", "", "10" };

/* The answer's text for p (its buffers moved in), read back as JSON. */
static char *
answer(struct digest_parts *p)
{
	struct evbuffer *b = evbuffer_new();
	size_t n;
	char *s;

	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(digest_doc(b, &moscow, p), 0);
	n = evbuffer_get_length(b);
	s = malloc(n + 1);
	ck_assert_ptr_nonnull(s);
	evbuffer_remove(b, s, n);
	s[n] = '\0';
	evbuffer_free(b);
	return s;
}

/* s reads back as a JSON object with these members, in this order. */
static void
reads_back(const char *s, const char *want_keys)
{
	json_t *v = json_loads(s, 0, NULL);
	const char *k;
	json_t *m;
	char got[200] = "";

	ck_assert_ptr_nonnull(v);
	json_object_foreach(v, k, m) {
		strcat(got, k);
		strcat(got, " ");
	}
	ck_assert_str_eq(got, want_keys);
	json_decref(v);
}

START_TEST(test_answer_nothing_in)
{
	json_t *errors = json_array();
	struct digest_parts p = { NULL, NULL, NULL, NULL, NULL, errors, NULL,
	    0, 0 };
	char *s = answer(&p);

	ck_assert_str_eq(s, "{\"date\":\"2026-12-07\",\"city\":\"moscow\","
	    "\"events\":[],\"places\":[],\"menu_items\":[],\"offers\":[],"
	    "\"venues\":[],\"dropped_events\":{\"other_city\":0,"
	    "\"unknown_place\":0},\"errors\":[]}");
	reads_back(s, "date city events places menu_items offers venues "
	    "dropped_events errors ");
	free(s);
	json_decref(errors);
}
END_TEST

START_TEST(test_answer_from_the_database)
{
	json_t *errors = json_array();
	struct evbuffer *ev = evbuffer_new();
	struct digest_parts p = { ev, NULL, "[{\"id\":1}]", "[]",
	    "[{\"id\":7,\"title\":\"\\u00e9\"}]", errors,
	    "[{\"id\":5,\"city\":\"moscow\"}]", 2, 1 };
	char *s;

	evbuffer_add_printf(ev, "[{\"id\":\"e1\"}]");
	json_array_append_new(errors, json_pack("{s:s,s:s,s:s}", "source",
	    "events", "code", "deadline_exceeded", "message", "late \"x\""));
	s = answer(&p);
	ck_assert_str_eq(s, "{\"date\":\"2026-12-07\",\"city\":\"moscow\","
	    "\"events\":[{\"id\":\"e1\"}],\"places\":[{\"id\":1}],"
	    "\"menu_items\":[],\"offers\":[{\"id\":7,\"title\":\"\\u00e9\"}],"
	    "\"venues\":[{\"id\":5,\"city\":\"moscow\"}],\"dropped_events\":"
	    "{\"other_city\":2,\"unknown_place\":1},"
	    "\"errors\":[{\"source\":\"events\",\"code\":\"deadline_exceeded\","
	    "\"message\":\"late \\\"x\\\"\"}]}");
	reads_back(s, "date city events places menu_items offers venues "
	    "dropped_events errors ");
	ck_assert_uint_eq(evbuffer_get_length(ev), 0);      /* moved */
	free(s);
	evbuffer_free(ev);
	json_decref(errors);
}
END_TEST

START_TEST(test_answer_from_the_read_model)
{
	json_t *errors = json_array();
	struct evbuffer *framed = evbuffer_new();
	/* the model's fragments win over any database text */
	struct digest_parts p = { NULL, framed, "[{\"id\":99}]", NULL, NULL,
	    errors, NULL, 0, 0 };
	char *s;

	evbuffer_add_printf(framed, ",\"places\":[{\"id\":2}],\"menu_items\":"
	    "[{\"id\":3}],\"offers\":[]");
	s = answer(&p);
	ck_assert_str_eq(s, "{\"date\":\"2026-12-07\",\"city\":\"moscow\","
	    "\"events\":[],\"places\":[{\"id\":2}],\"menu_items\":[{\"id\":3}],"
	    "\"offers\":[],\"venues\":[],\"dropped_events\":{\"other_city\":0,"
	    "\"unknown_place\":0},\"errors\":[]}");
	reads_back(s, "date city events places menu_items offers venues "
	    "dropped_events errors ");
	ck_assert_uint_eq(evbuffer_get_length(framed), 0);
	free(s);
	evbuffer_free(framed);
	json_decref(errors);
}
END_TEST

static Suite *
digest_doc_suite(void)
{
	Suite *s = suite_create("digest_doc");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_bodies_accepted, 0,
	    sizeof(oks) / sizeof(oks[0]));
	tcase_add_loop_test(tc, test_bodies_refused, 0,
	    sizeof(bads) / sizeof(bads[0]));
	tcase_add_test(tc, test_long_field_name_cut_whole);
	tcase_add_test(tc, test_scan_agrees_with_jansson);
	tcase_add_test(tc, test_answer_nothing_in);
	tcase_add_test(tc, test_answer_from_the_database);
	tcase_add_test(tc, test_answer_from_the_read_model);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(digest_doc_suite());
}
