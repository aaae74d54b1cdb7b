/*
 * test_suggest.c: the ranker's suggest index (ranker/suggest.h) on a
 * handmade snapshot: what matches (every word typed starts a word, in any
 * order, case and ё folded), how it ranks (the first word, a whole word,
 * nearness, popularity, kinds), one suggestion per text, the limit, the
 * refusals; tag counts per city; and both after an overlay renames a
 * place and gives it a new category (the base's version hidden, the
 * delta's counted).
 */
#include "ranker/snapshot.h"
#include "ranker/suggest.h"
#include "common/wire.h"

#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tp {
	int64_t id;
	int city;
	double lat, lon, rating;
	const char *name;
	const char *cat, *cui;
	const char *dishes[3];
};

static const struct tp world[] = {
	{ 1, 0, 55.750, 37.620, 4.5, "Khachapuri House", "restaurant",
	  "georgian", { "Khachapuri Adjaruli", "Khinkali", NULL } },
	{ 2, 0, 55.760, 37.600, 3.0, "Pizza Roma", "restaurant", "italian",
	  { "Pizza Margherita", NULL, NULL } },
	{ 3, 0, 55.700, 37.500, 5.0, "Pizzeria Napoli", "cafe", "italian",
	  { "Pizza Margherita", NULL, NULL } },
	{ 4, 0, 55.751, 37.621, NAN, "Coffee Corner", "cafe", NULL,
	  { NULL, NULL, NULL } },
	{ 5, 0, 55.800, 37.700, 4.0, "Coffee Corner", "cafe", NULL,
	  { NULL, NULL, NULL } },
	{ 6, 1, 48.860, 2.350, 4.0, "Ёлка Бистро", "bar", "russian",
	  { "Пельмени", NULL, NULL } },
	{ 7, 1, 48.870, 2.340, 2.0, "Golden Dragon", "restaurant", "chinese",
	  { "Khachapuri Adjaruli", NULL, NULL } },
};
#define NWORLD (sizeof(world) / sizeof(world[0]))

static int
add(struct snap_builder *b, const struct tp *p, const char *name)
{
	struct snap_place_in in;
	const char *cat[1] = { p->cat }, *cui[1] = { p->cui };
	int i;

	memset(&in, 0, sizeof(in));
	in.id = p->id;
	in.city = p->city;
	in.lat = p->lat;
	in.lon = p->lon;
	in.rating = p->rating;
	in.categories = cat;
	in.ncat = p->cat != NULL;
	in.cuisines = cui;
	in.ncui = p->cui != NULL;
	in.name = name != NULL ? name : p->name;
	if (snap_add_place(b, &in) < 0)
		return -1;
	for (i = 0; i < 3 && p->dishes[i] != NULL; i++)
		if (snap_add_menu_item(b, p->id, p->dishes[i]) != 0)
			return -1;
	return 0;
}

static struct snapshot *
build(void)
{
	struct snap_builder *b = snap_builder_new();
	size_t i;

	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(snap_add_city(b, "moscow", 180), 0);
	ck_assert_int_eq(snap_add_city(b, "paris", 60), 1);
	for (i = 0; i < NWORLD; i++)
		ck_assert_int_eq(add(b, &world[i], NULL), 0);
	return snap_build(b);
}

/* The answer to req on s, parsed; its reply type in *type. */
static json_t *
ask(struct snapshot *s, const char *req, unsigned *type, bool tags)
{
	struct snap_holder h;
	json_t *doc;
	size_t len;
	char *out;

	snap_holder_init(&h);
	snap_holder_set(&h, snap_ref(s));
	*type = tags ? suggest_tags_run(&h, req, strlen(req), &out, &len) :
	    suggest_run(&h, req, strlen(req), &out, &len);
	snap_holder_fini(&h);
	ck_assert_ptr_nonnull(out);
	doc = json_loadb(out, len, 0, NULL);
	ck_assert_ptr_nonnull(doc);
	free(out);
	return doc;
}

/* "kind:text" of each suggestion, joined with " | ". */
static void
texts(struct snapshot *s, const char *req, char *out, size_t size)
{
	json_t *doc, *list, *e;
	unsigned type;
	size_t i;

	doc = ask(s, req, &type, false);
	ck_assert_uint_eq(type, WIRE_SUGGEST_RESULT);
	list = json_object_get(doc, "suggestions");
	out[0] = '\0';
	json_array_foreach(list, i, e) {
		if (i > 0)
			strncat(out, " | ", size - strlen(out) - 1);
		strncat(out, json_string_value(json_object_get(e, "kind")),
		    size - strlen(out) - 1);
		strncat(out, ":", size - strlen(out) - 1);
		strncat(out, json_string_value(json_object_get(e, "text")),
		    size - strlen(out) - 1);
	}
	json_decref(doc);
}

START_TEST(test_matching)
{
	struct snapshot *s = build();
	char got[1024];

	texts(s, "{\"text\":\"khach\"}", got, sizeof(got));
	/* the dish (2 places of 2) before the place (4.5 of 5) */
	ck_assert_str_eq(got, "dish:Khachapuri Adjaruli | "
	    "place:Khachapuri House");
	/* any order, any case; a word typed must start one of its words */
	texts(s, "{\"text\":\"HOU kha\"}", got, sizeof(got));
	ck_assert_str_eq(got, "place:Khachapuri House");
	texts(s, "{\"text\":\"khach xyz\"}", got, sizeof(got));
	ck_assert_str_eq(got, "");
	/* ё folds to е, upper to lower, Cyrillic included */
	texts(s, "{\"text\":\"ЕЛК\"}", got, sizeof(got));
	ck_assert_str_eq(got, "place:Ёлка Бистро");
	texts(s, "{\"text\":\"пельм\"}", got, sizeof(got));
	ck_assert_str_eq(got, "dish:Пельмени");
	/* a word in the middle starts nothing ("ouse" of "House") */
	texts(s, "{\"text\":\"ouse\"}", got, sizeof(got));
	ck_assert_str_eq(got, "");
	snap_unref(s);
}
END_TEST

START_TEST(test_ranking)
{
	struct snapshot *s = build();
	char got[1024];
	json_t *doc, *e;
	unsigned type;

	/* "pizza" is a whole word of the dish and of Pizza Roma, and does
	 * not start "pizzeria" */
	texts(s, "{\"text\":\"pizza\"}", got, sizeof(got));
	ck_assert_str_eq(got, "dish:Pizza Margherita | place:Pizza Roma");
	/* a later word of a name */
	texts(s, "{\"text\":\"roma\"}", got, sizeof(got));
	ck_assert_str_eq(got, "place:Pizza Roma");
	/* one Coffee Corner: the nearer of the two, with its distance */
	doc = ask(s, "{\"text\":\"coff\",\"lat\":55.75,\"lon\":37.62}", &type,
	    false);
	ck_assert_uint_eq(json_array_size(json_object_get(doc,
	    "suggestions")), 1);
	e = json_array_get(json_object_get(doc, "suggestions"), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(e, "place_id")),
	    4);
	ck_assert(json_real_value(json_object_get(e, "distance_m")) < 200);
	ck_assert_str_eq(json_string_value(json_object_get(e, "city")),
	    "moscow");
	json_decref(doc);
	/* far from the point: Pizzeria Napoli (5.0) falls behind Pizza Roma
	 * even with its better rating, and the point makes no difference to
	 * the dish */
	texts(s, "{\"text\":\"piz\",\"lat\":55.76,\"lon\":37.60}", got,
	    sizeof(got));
	ck_assert_str_eq(got, "place:Pizza Roma | dish:Pizza Margherita | "
	    "place:Pizzeria Napoli");
	/* a category and a cuisine, with their places */
	doc = ask(s, "{\"text\":\"ital\"}", &type, false);
	e = json_array_get(json_object_get(doc, "suggestions"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(e, "kind")),
	    "cuisine");
	ck_assert_int_eq(json_integer_value(json_object_get(e, "places")), 2);
	json_decref(doc);
	/* the dish served by two places */
	doc = ask(s, "{\"text\":\"adjar\"}", &type, false);
	e = json_array_get(json_object_get(doc, "suggestions"), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(e, "places")), 2);
	json_decref(doc);
	/* the limit */
	texts(s, "{\"text\":\"c\",\"limit\":2}", got, sizeof(got));
	ck_assert_ptr_nonnull(strchr(got, '|'));
	ck_assert_ptr_null(strchr(strchr(got, '|') + 1, '|'));
	snap_unref(s);
}
END_TEST

START_TEST(test_refusals)
{
	static const char *const bad[][2] = {
		{ "{}", "bad request: text" },
		{ "{\"text\":\"\"}", "bad request: text" },
		{ "{\"text\":\"!?\"}", "bad request: text" },
		{ "{\"text\":7}", "bad request: text" },
		{ "{\"text\":\"a\",\"limit\":0}", "bad request: limit" },
		{ "{\"text\":\"a\",\"limit\":21}", "bad request: limit" },
		{ "{\"text\":\"a\",\"lat\":1}", "bad request: lon" },
		{ "{\"text\":\"a\",\"lat\":91,\"lon\":1}", "bad request: lat" },
		{ "not json", "bad request: json" },
	};
	struct snapshot *s = build();
	unsigned type;
	json_t *doc;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		doc = ask(s, bad[i][0], &type, false);
		ck_assert_uint_eq(type, WIRE_ERROR);
		ck_assert_str_eq(json_string_value(json_object_get(doc,
		    "error")), bad[i][1]);
		json_decref(doc);
	}
	doc = ask(s, "{\"kind\":\"dishes\"}", &type, true);
	ck_assert_uint_eq(type, WIRE_ERROR);
	json_decref(doc);
	doc = ask(s, "{\"kind\":\"cuisines\",\"city\":\"nowhere\"}", &type,
	    true);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "error")),
	    "unknown city");
	json_decref(doc);
	snap_unref(s);
}
END_TEST

static void
check_tags(struct snapshot *s, const char *req, const char *want)
{
	unsigned type;
	json_t *doc = ask(s, req, &type, true);
	char *got = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);

	ck_assert_uint_eq(type, WIRE_TAGS_RESULT);
	ck_assert_str_eq(got, want);
	free(got);
	json_decref(doc);
}

START_TEST(test_tags_and_overlay)
{
	struct snapshot *s = build(), *o;
	struct snap_builder *b;
	struct tp moved = world[1];   /* Pizza Roma, to become a bar */
	int64_t id = moved.id;
	char got[1024];

	check_tags(s, "{\"kind\":\"categories\"}", "{\"categories\":["
	    "{\"name\":\"cafe\",\"places\":3},{\"name\":\"restaurant\","
	    "\"places\":3},{\"name\":\"bar\",\"places\":1}],\"city\":null}");
	check_tags(s, "{\"kind\":\"cuisines\",\"city\":\"paris\"}",
	    "{\"city\":\"paris\",\"cuisines\":[{\"name\":\"chinese\","
	    "\"places\":1},{\"name\":\"russian\",\"places\":1}]}");
	moved.cat = "wine_bar";
	b = snap_delta_builder(s, &id, 1);
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(add(b, &moved, "Roma Wine Bar"), 0);
	o = snap_with_delta(s, b, &id, 1);
	ck_assert_ptr_nonnull(o);
	check_tags(o, "{\"kind\":\"categories\",\"city\":\"moscow\"}",
	    "{\"categories\":[{\"name\":\"cafe\",\"places\":3},"
	    "{\"name\":\"restaurant\",\"places\":1},{\"name\":\"wine_bar\","
	    "\"places\":1}],\"city\":\"moscow\"}");
	texts(o, "{\"text\":\"roma\"}", got, sizeof(got));
	ck_assert_str_eq(got, "place:Roma Wine Bar");
	texts(o, "{\"text\":\"pizza r\"}", got, sizeof(got));
	ck_assert_str_eq(got, "");
	texts(o, "{\"text\":\"wine\"}", got, sizeof(got));
	ck_assert_str_eq(got, "category:wine_bar | place:Roma Wine Bar");
	/* a category the base has keeps the base's count */
	texts(o, "{\"text\":\"restaurant\"}", got, sizeof(got));
	ck_assert_str_eq(got, "category:restaurant");
	snap_unref(o);
	snap_unref(s);
}
END_TEST

int
main(void)
{
	Suite *su = suite_create("suggest");
	TCase *tc = tcase_create("suggest");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_matching);
	tcase_add_test(tc, test_ranking);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_tags_and_overlay);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
