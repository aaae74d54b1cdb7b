/*
 * test_events_scan.c: upstream_scan_events() against the jansson path it
 * stands in for (json_loadb with JSON_REJECT_DUPLICATES, then
 * upstream_validate_events, then json_dumps JSON_COMPACT): on every input
 * it reads, the same bytes and the same count of dropped events; on the
 * rest it declines and leaves its buffer empty. And the demo service's
 * gen_events_text() against json_dumps() of its gen_events(). The inputs: the demo
 * events service's answers for many days and cities, the same with
 * whitespace, and hand-made edge cases of each rule.
 */
#include "runtime/upstream.h"
#include "events/gen.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "check_run.h"

/* What the jansson path makes of data: its bytes (malloc'd), or NULL if
 * the answer is rejected. */
static char *
tree_path(const char *data, size_t len, unsigned *dropped)
{
	json_error_t jerr;
	json_t *doc, *ev;
	char why[256], *s;

	if ((doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL)
		return NULL;
	ev = upstream_validate_events(doc, dropped, why, sizeof(why));
	json_decref(doc);
	if (ev == NULL)
		return NULL;
	s = json_dumps(ev, JSON_COMPACT);
	json_decref(ev);
	return s;
}

/* Compares both paths on data; returns whether the scan read it. */
static int
same(const char *data, size_t len)
{
	struct evbuffer *b = evbuffer_new();
	unsigned d1 = 0, d2 = 0;
	char *want;
	int rc;

	ck_assert_ptr_nonnull(b);
	rc = upstream_scan_events(data, len, b, &d1);
	want = tree_path(data, len, &d2);
	if (rc == 1) {
		size_t n = evbuffer_get_length(b);

		ck_assert_msg(want != NULL, "scan read what jansson rejects: "
		    "%.*s", (int)len, data);
		ck_assert_msg(n == strlen(want) && memcmp(evbuffer_pullup(b,
		    -1), want, n) == 0, "bytes differ on %.200s:\n%.200s\n%.200s",
		    data, (char *)evbuffer_pullup(b, -1), want);
		ck_assert_uint_eq(d1, d2);
	} else {
		ck_assert_int_eq(rc, 0);
		ck_assert_uint_eq(evbuffer_get_length(b), 0);
	}
	free(want);
	evbuffer_free(b);
	return rc;
}

static int
same_str(const char *s)
{
	return same(s, strlen(s));
}

START_TEST(test_generated)
{
	static const char *const cities[] = { "almaty", "berlin", "lisbon",
	    "new-york", "x", "sao-paulo", "a-very-long-city-name-of-sixty-"
	    "four-characters-exactly-012345678" };
	static const char *const special[] = { "2024-02-29", "2023-12-31",
	    "2000-02-29", "1999-12-31", "2100-02-28", "1970-01-01",
	    "1969-12-31", "0001-01-01", "9999-12-31", "2026-03-01" };
	const unsigned nspecial = sizeof(special) / sizeof(special[0]);
	struct gen_key k;
	unsigned c, day, read = 0, n = 0;
	char date[16];

	for (c = 0; c < sizeof(cities) / sizeof(cities[0]); c++) {
		for (day = 1; day <= 28 + nspecial; day++) {
			json_t *ev;
			char *s, *pretty, *text;
			size_t tlen;

			memset(&k, 0, sizeof(k));
			k.seed = 1;
			k.max_place_id = 20000;
			if (day <= 28)
				snprintf(date, sizeof(date), "2026-11-%02u", day);
			else
				snprintf(date, sizeof(date), "%s",
				    special[day - 29]);
			if (gen_parse_date(&k, date) != 0)
				continue;       /* not a date it serves */
			ck_assert_int_eq(gen_parse_city(&k, cities[c]), 0);
			ev = gen_events(&k);
			ck_assert_ptr_nonnull(ev);
			s = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
			pretty = json_dumps(ev, JSON_INDENT(2));
			json_decref(ev);
			/* the service's own encoder writes the same */
			text = gen_events_text(&k, &tlen);
			ck_assert_ptr_nonnull(text);
			ck_assert_uint_eq(tlen, strlen(s));
			ck_assert_str_eq(text, s);
			free(text);
			read += same_str(s);
			read += same_str(pretty);
			n += 2;
			free(s);
			free(pretty);
		}
	}
	/* the service's usual answers take the fast path */
	ck_assert_uint_eq(read, n);
}
END_TEST

#define EV "\"id\":\"a\",\"title\":\"t\",\"starts_at\":\"2026-11-20T10:00:00Z\""

START_TEST(test_fields)
{
	static const char *const read[] = {
		"[]", " [ ] ", "[{" EV "}]",
		"[{" EV ",\"place_id\":7,\"price_cents\":0}]",
		"[{\"url\":\"u\"," EV ",\"extra\":1}]",
		"[{" EV ",\"extra\":true,\"other\":false,\"n\":null}]",
		"[{" EV ",\"x\":12345678901234567}]",
		"[{" EV ",\"ends_at\":null,\"venue\":null}]",
		"[{\"id\":\"a\"}]", "[{}]", "[{" EV ",\"place_id\":0}]",
		"[{" EV ",\"place_id\":-3}]",
		"[{" EV ",\"price_cents\":-1}]",
		"[{" EV ",\"place_id\":9007199254740993}]",
		"[{" EV ",\"place_id\":\"7\"}]",
		"[{\"id\":5,\"title\":\"t\",\"starts_at\":"
		    "\"2026-11-20T10:00:00Z\"}]",
		"[{\"id\":\"\",\"title\":\"t\",\"starts_at\":"
		    "\"2026-11-20T10:00:00Z\"}]",
		"[{\"id\":\"a\",\"title\":\"t\",\"starts_at\":"
		    "\"2026-02-30T10:00:00Z\"}]",
		"[{\"id\":\"a\",\"title\":\"t\",\"starts_at\":"
		    "\"2026-11-20t10:00:00.123+05:30\"}]",
		"[{\"id\":\"a\",\"starts_at\":\"2026-11-20T10:00:00Z\","
		    "\"title\":\"Caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xb5\"}]",
		"[{" EV "},{\"id\":true},{" EV "}]",
		"[\n\t{" EV " } ,\r\n{ " EV "}\n]\n",
	};
	static const char *const other[] = {
		"", " ", "{}", "[", "[{" EV "}", "[{" EV "}]x", "[1]",
		"[{" EV "},]", "[{" EV ",}]", "[{" EV ",\"x\":{}}]",
		"[{" EV ",\"x\":[]}]", "[{" EV ",\"x\":1.5}]",
		"[{" EV ",\"x\":1e3}]", "[{" EV ",\"x\":-0}]",
		"[{" EV ",\"x\":01}]", "[{" EV ",\"x\":\"a\\nb\"}]",
		"[{" EV ",\"x\":\"\x01\"}]", "[{" EV ",\"x\":\"\xc3\"}]",
		"[{" EV ",\"x\":\"\xed\xa0\x80\"}]",
		"[{" EV ",\"x\":\"\xc0\xaf\"}]", "[{" EV ",\"x\":nul}]",
		"[{" EV ",\"x\":nullx}]", "[{" EV ",\"id\":\"b\"}]",
		"[{" EV ",\"x\":1234567890123456789012}]", "[{" EV "}][]",
	};
	size_t i;

	for (i = 0; i < sizeof(read) / sizeof(read[0]); i++)
		ck_assert_msg(same_str(read[i]) == 1, "not read: %s", read[i]);
	for (i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		ck_assert_msg(same_str(other[i]) == 0, "read: %s", other[i]);
}
END_TEST

/* The first UPSTREAM_MAX_EVENTS valid events are kept, the rest dropped. */
START_TEST(test_limit)
{
	struct evbuffer *in = evbuffer_new();
	size_t i;

	ck_assert_ptr_nonnull(in);
	evbuffer_add(in, "[", 1);
	for (i = 0; i < UPSTREAM_MAX_EVENTS + 20; i++)
		evbuffer_add_printf(in, "%s{" EV "%s}", i > 0 ? "," : "",
		    i % 7 == 0 ? ",\"place_id\":0" : "");
	evbuffer_add(in, "]", 1);
	ck_assert_int_eq(same((const char *)evbuffer_pullup(in, -1),
	    evbuffer_get_length(in)), 1);
	evbuffer_free(in);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("events_scan");
	TCase *tc = tcase_create("events_scan");

	tcase_add_test(tc, test_generated);
	tcase_add_test(tc, test_fields);
	tcase_add_test(tc, test_limit);
	suite_add_tcase(s, tc);
	return check_run(s);
}
