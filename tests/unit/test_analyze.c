/*
 * test_analyze.c: the ranker's text analysis (src/ranker/analyze.c): the
 * words of a text, their keys (case, accents, ё, decomposed marks, ß and
 * the other letters NFKD leaves whole, Cyrillic in ICAO 9303 Latin) and
 * their stems (English and Russian Snowball), the bounded edit distance
 * and its bounds by length, and analyzers used from several threads at
 * once.
 */
#include "ranker/analyze.h"

#include <check.h>
#include <pthread.h>
#include <string.h>

#include "check_run.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The one word of s, analysed by a (NULL: no stemming). */
static struct analyze_word
one_word(struct analyzer *a, const char *s)
{
	struct analyze_word w;

	ck_assert_msg(analyze_next(a, &s, &w), "no word in \"%s\"", s);
	return w;
}

/* word -> key, with no stemmer */
static const char *const keys[][2] = {
	/* case and accents */
	{ "Café", "cafe" }, { "CAFÉ", "cafe" }, { "Époque", "epoque" },
	{ "crème", "creme" }, { "brûlée", "brulee" }, { "naïve", "naive" },
	{ "façade", "facade" }, { "Ñandú", "nandu" },
	{ "Ångström", "angstrom" },
	{ "ÿes", "yes" }, { "Ðoð", "dod" },
	/* what NFKD leaves whole */
	{ "Straße", "strasse" }, { "ẞTRASSE", "sstrasse" }, { "Æble", "aeble" },
	{ "œuf", "oeuf" }, { "Œuvre", "oeuvre" }, { "Øresund", "oresund" },
	{ "Smørrebrød", "smorrebrod" }, { "Łódź", "lodz" }, { "Þing", "thing" },
	{ "Đakovo", "dakovo" }, { "ĳssel", "ijssel" }, { "ıslak", "islak" },
	/* Latin Extended-A, Romanian commas, ligatures, full width */
	{ "ŠKODA", "skoda" }, { "Żubrówka", "zubrowka" }, { "Ğüzel", "guzel" },
	{ "Čevapčići", "cevapcici" }, { "Ţară", "tara" }, { "Țară", "tara" },
	{ "Știință", "stiinta" }, { "ﬁsh", "fish" }, { "ＡＢＣ", "abc" },
	/* decomposed: base letter + combining marks */
	{ "Cafe\xcc\x81", "cafe" }, { "cre\xcc\x80me bru\xcc\x82le\xcc\x81" "e",
	    "creme" }, { "E\xcc\x81poque", "epoque" },
	{ "n\xcc\x83o\xcc\x88\xcc\x81", "no" },
	/* Cyrillic: ё, й (composed and decomposed), ICAO 9303 */
	{ "ёлка", "elka" }, { "ЁЛКА", "elka" }, { "е\xcc\x88лка", "elka" },
	{ "йогурт", "iogurt" }, { "\xd0\xb8\xcc\x86огурт", "iogurt" },
	{ "хачапури", "khachapuri" }, { "Хачапури", "khachapuri" },
	{ "пельмени", "pelmeni" }, { "борщ", "borshch" }, { "щи", "shchi" },
	{ "жульен", "zhulen" }, { "цезарь", "tsezar" }, { "юла", "iula" },
	{ "яблоко", "iabloko" }, { "подъезд", "podieezd" },
	{ "сырники", "syrniki" },
	{ "эклер", "ekler" }, { "чай", "chai" },
	{ "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
	    "abvgdeezhziiklmnoprstufkhtschshshchieyeiuia" },
	{ "АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ",
	    "abvgdeezhziiklmnoprstufkhtschshshchieyeiuia" },
	{ "ЂЃЄЅІЇЈЉЊЋЌЎЏ", "dgiedziijljnjckudz" }, { "Ґанок", "ganok" },
	/* digits and other scripts */
	{ "24", "24" }, { "A1", "a1" }, { "ΚΑΦΕ", "καφε" }, { "寿司", "寿司" },
};

START_TEST(test_keys)
{
	struct analyze_word w;
	size_t i;

	for (i = 0; i < N(keys); i++) {
		w = one_word(NULL, keys[i][0]);
		ck_assert_msg(strcmp(w.key, keys[i][1]) == 0,
		    "%s: key \"%s\", want \"%s\"", keys[i][0], w.key,
		    keys[i][1]);
		ck_assert_uint_eq(w.keylen, strlen(keys[i][1]));
		ck_assert_str_eq(w.stem, w.key);        /* no stemmer */
	}
}
END_TEST

/* word -> key, stem, with the English and Russian stemmers */
static const char *const stems[][3] = {
	{ "pizzas", "pizzas", "pizza" }, { "pizza", "pizza", "pizza" },
	{ "dumplings", "dumplings", "dumpl" },
	{ "dumpling", "dumpling", "dumpl" },
	{ "running", "running", "run" }, { "berries", "berries", "berri" },
	{ "Cafés", "cafes", "cafe" },
	{ "khachapuri", "khachapuri", "khachapuri" },
	{ "пельмени", "pelmeni", "pelmen" },
	{ "пельменей", "pelmenei", "pelmen" },
	{ "ПЕЛЬМЕННАЯ", "pelmennaia", "pelmen" },
	{ "хачапури", "khachapuri", "khachapur" },
	{ "ромашка", "romashka", "romashk" },
	{ "ромашки", "romashki", "romashk" },
	{ "блинами", "blinami", "blin" }, { "кофейня", "kofeinia", "kofein" },
	/* digits: their own stem */
	{ "24", "24", "24" }, { "a1b2", "a1b2", "a1b2" },
};

START_TEST(test_stems)
{
	struct analyzer *a = analyzer_new();
	struct analyze_word w;
	size_t i;

	ck_assert_ptr_nonnull(a);
	for (i = 0; i < N(stems); i++) {
		w = one_word(a, stems[i][0]);
		ck_assert_str_eq(w.key, stems[i][1]);
		ck_assert_msg(strcmp(w.stem, stems[i][2]) == 0,
		    "%s: stem \"%s\", want \"%s\"", stems[i][0], w.stem,
		    stems[i][2]);
		ck_assert_uint_eq(w.stemlen, strlen(stems[i][2]));
	}
	analyzer_free(a);
}
END_TEST

START_TEST(test_words)
{
	const char *s = "Кафе «Ёлка»-24/7 ХАЧАПУРИ, McDonald's  a Ünïcode";
	const char *want[] = { "kafe", "elka", "24", "khachapuri", "mcdonald",
	    "unicode" };
	const char *as_written[] = { "Кафе", "Ёлка", "24", "ХАЧАПУРИ",
	    "McDonald", "Ünïcode" };
	struct analyze_word w;
	size_t i = 0;

	while (analyze_next(NULL, &s, &w)) {
		ck_assert_uint_lt(i, N(want));
		ck_assert_str_eq(w.key, want[i]);
		ck_assert_str_eq(w.word, as_written[i]);
		ck_assert(w.spell == (i != 2));         /* a-z only */
		i++;
	}
	ck_assert_uint_eq(i, N(want));
	s = "\xff\xfe ok \xd0";             /* bad UTF-8 is a separator */
	ck_assert(analyze_next(NULL, &s, &w));
	ck_assert_str_eq(w.key, "ok");
	ck_assert(!analyze_next(NULL, &s, &w));
	s = "a \xcc\x81 e\xcc\x81 !?";      /* one letter, a mark alone */
	ck_assert(!analyze_next(NULL, &s, &w));
	s = "";
	ck_assert(!analyze_next(NULL, &s, &w));
}
END_TEST

/* A long word's key is cut at ANALYZE_KEY_MAX bytes, on a letter. */
START_TEST(test_long_word)
{
	char buf[400], want[ANALYZE_KEY_MAX + 1];
	struct analyze_word w;
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < 40; i++)
		strcat(buf, "щ");                   /* shch each */
	w = one_word(NULL, buf);
	ck_assert_uint_eq(w.keylen, 64);
	for (i = 0; i < 16; i++)
		memcpy(want + 4 * i, "shch", 4);
	want[64] = '\0';
	ck_assert_str_eq(w.key, want);
	ck_assert_uint_le(w.wordlen, ANALYZE_KEY_MAX);
	memset(buf, 'x', 200);
	buf[200] = '\0';
	w = one_word(NULL, buf);
	ck_assert_uint_eq(w.keylen, ANALYZE_KEY_MAX);
}
END_TEST

static unsigned
dist(const char *a, const char *b, unsigned max)
{
	return analyze_distance(a, strlen(a), b, strlen(b), max);
}

START_TEST(test_distance)
{
	/* a, b, distance (bounded by 3) */
	static const struct {
		const char *a, *b;
		unsigned d;
	} t[] = {
		{ "pizza", "pizza", 0 }, { "piza", "pizza", 1 },
		{ "pizaz", "pizza", 1 },        /* transposition */
		{ "kachapuri", "khachapuri", 1 },
		{ "hachapuri", "khachapuri", 1 },
		{ "borsch", "borshch", 1 }, { "borscht", "borshch", 2 },
		{ "khachpauri", "khachapuri", 1 }, { "pelmeni", "pelmen", 1 },
		{ "cafe", "cake", 1 }, { "", "abc", 3 }, { "abc", "", 3 },
		{ "ramen", "lemon", 3 }, { "tiramisu", "tarimasu", 3 },
		{ "tiramisu", "tiramsiu", 1 }, { "ramen", "rahmen", 1 },
		{ "ca", "abc", 3 },     /* OSA: not 2, as unrestricted DL has */
	};
	size_t i;

	for (i = 0; i < N(t); i++) {
		ck_assert_msg(dist(t[i].a, t[i].b, 3) == t[i].d,
		    "%s/%s: %u, want %u", t[i].a, t[i].b,
		    dist(t[i].a, t[i].b, 3), t[i].d);
		ck_assert_uint_eq(dist(t[i].b, t[i].a, 3), t[i].d);
	}
	/* above the bound: bound + 1, also when the lengths say so */
	ck_assert_uint_eq(dist("pizza", "pasta", 1), 2);
	ck_assert_uint_eq(dist("abcdefgh", "a", 2), 3);
	ck_assert_uint_eq(dist("ramen", "lemon", 1), 2);
	ck_assert_uint_eq(dist("kachapuri", "khachapuri", 0), 1);
}
END_TEST

START_TEST(test_max_edits)
{
	/* query letters, key letters, edits */
	static const unsigned t[][3] = {
		{ 2, 3, 0 }, { 3, 4, 0 }, { 3, 3, 0 },
		{ 4, 4, 0 }, { 4, 3, 0 }, { 4, 5, 1 },  /* piza: pizza only */
		{ 5, 5, 1 }, { 5, 4, 1 }, { 5, 6, 1 }, { 8, 8, 1 },
		{ 8, 9, 2 }, { 9, 9, 2 }, { 9, 10, 2 }, { 12, 11, 2 },
	};
	size_t i;

	for (i = 0; i < N(t); i++)
		ck_assert_msg(analyze_max_edits(t[i][0], t[i][1]) == t[i][2],
		    "%u/%u: %u, want %u", t[i][0], t[i][1],
		    analyze_max_edits(t[i][0], t[i][1]), t[i][2]);
}
END_TEST

/* --- several threads ------------------------------------------------------- */

#define THREADS     4
#define ROUNDS      2000

struct thread_arg {
	size_t bad;                 /* words whose key or stem differed */
};

static void *
analyze_thread(void *p)
{
	struct thread_arg *arg = p;
	struct analyzer *a = analyzer_new();
	struct analyze_word w;
	const char *s;
	size_t r, i;

	if (a == NULL) {
		arg->bad = SIZE_MAX;
		return NULL;
	}
	for (r = 0; r < ROUNDS; r++) {
		i = r % N(stems);
		s = stems[i][0];
		arg->bad += !analyze_next(a, &s, &w) ||
		    strcmp(w.key, stems[i][1]) != 0 ||
		    strcmp(w.stem, stems[i][2]) != 0;
	}
	analyzer_free(a);
	return NULL;
}

START_TEST(test_threads)
{
	pthread_t t[THREADS];
	struct thread_arg arg[THREADS];
	size_t i;

	memset(arg, 0, sizeof(arg));
	for (i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, analyze_thread,
		    &arg[i]), 0);
	for (i = 0; i < THREADS; i++) {
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		ck_assert_uint_eq(arg[i].bad, 0);
	}
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("analyze");
	TCase *tc = tcase_create("analyze");

	tcase_add_test(tc, test_keys);
	tcase_add_test(tc, test_stems);
	tcase_add_test(tc, test_words);
	tcase_add_test(tc, test_long_word);
	tcase_add_test(tc, test_distance);
	tcase_add_test(tc, test_max_edits);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return check_run(s);
}
