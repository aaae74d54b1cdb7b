/*
 * test_rank.c: the ranker's core (snapshot, grid, text index, scoring,
 * top-k) against a synthetic world of a few thousand random places (fixed
 * seed) in four cities, one across the antimeridian and one near the
 * pole. The main check is a brute-force reference written here: every
 * place judged by this file's own filters (its own distance formula, its
 * own clock arithmetic), scored by rank_ctx_eval(), fully sorted by this
 * file's own order, then compared with rank() for many random queries.
 * Handmade snapshots cover hours past midnight, time zones, the cuisine
 * lift and reasons. The timing over 100,000 places is a benchmark,
 * tests/bench/rank_100k.c, not a unit test.
 */
#include "ranker/analyze.h"
#include "ranker/index.h"
#include "ranker/score.h"
#include "ranker/snapshot.h"
#include "common/words.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NPLACES     3000
#define MAX_ITEMS   5
#define NQUERIES    600

/* --- a deterministic generator ------------------------------------------------ */

#define RND_SEED 0x9e3779b97f4a7c15ull
#include "../rnd.h"

static bool
rnd_chance(double p)
{
	return rnd_unit() < p;
}

/* --- the synthetic world, as the test knows it ------------------------------ */

struct tcity {
	const char *id;
	double lat, lon;
	int offset;                 /* minutes east of UTC */
};

static const struct tcity tcities[] = {
	{ "moscow", 55.75, 37.62, 180 },
	{ "newyork", 40.71, -74.00, -300 },
	{ "suva", -18.10, 179.98, 720 },        /* across the antimeridian */
	{ "longyearbyen", 78.22, 15.65, 60 },   /* near the pole */
};
#define NCITIES (sizeof(tcities) / sizeof(tcities[0]))

#include "../rank_words.h"

#include "check_run.h"

struct tplace {
	int64_t id;
	int city;
	double lat, lon, rating;
	int price;
	const char *cat[2], *cui[2];
	size_t ncat, ncui;
	bool has_hours;
	struct snap_hours hours;
	bool offer;
	char name[128], desc[256];
	const char *items[MAX_ITEMS];
	size_t nitems;
};

static struct tplace *world;
static size_t nworld;
static struct snapshot *wsnap;

static void
gen_words(char *out, size_t size, const char *const *words, size_t nwords,
    int n)
{
	int i;

	out[0] = '\0';
	for (i = 0; i < n; i++) {
		if (i > 0)
			strncat(out, rnd_chance(0.5) ? " " : ", ", size - strlen(out) - 1);
		strncat(out, words[rnd_int((int)nwords)], size - strlen(out) - 1);
	}
}

static void
gen_day(struct snap_hours *h, int d)
{
	int open = (8 + rnd_int(5)) * 60 + 30 * rnd_int(2);
	int close = rnd_chance(0.3) ? (24 + rnd_int(4)) * 60 :
	    (18 + rnd_int(6)) * 60;

	if (rnd_chance(0.15)) {
		h->n[d] = 0;            /* closed */
	} else if (rnd_chance(0.2)) {
		h->n[d] = 2;            /* a lunch break */
		h->iv[d][0] = (struct snap_interval){ open, 14 * 60 };
		h->iv[d][1] = (struct snap_interval){ 15 * 60, close };
	} else {
		h->n[d] = 1;
		h->iv[d][0] = (struct snap_interval){ open, close };
	}
}

static void
gen_hours(struct tplace *p)
{
	int d;

	memset(&p->hours, 0, sizeof(p->hours));
	p->has_hours = !rnd_chance(0.15);
	for (d = 0; d < SNAP_DAYS && p->has_hours; d++) {
		if (rnd_chance(0.1)) {
			p->hours.n[d] = 1;
			p->hours.iv[d][0] = (struct snap_interval){ 0, 1440 };
		} else {
			gen_day(&p->hours, d);
		}
	}
}

static void
gen_tags(const char **out, size_t *n, const char *const *from, size_t nfrom,
    int max)
{
	int k = rnd_int(max + 1), i;

	*n = 0;
	for (i = 0; i < k; i++) {
		const char *t = from[rnd_int((int)nfrom)];
		if (*n == 0 || strcmp(out[0], t) != 0)
			out[(*n)++] = t;
	}
}

/*
 * A tag few places have (one in 25): a filter on it reads the tag's
 * places from the snapshot's lists rather than walking the grid (under
 * one in 8 places), and the brute force checks that way too.
 */
static void
rare_tags(const char **cat, size_t *ncat, const char **cui, size_t *ncui,
    double chance)
{
	if (*ncat < 2 && rnd_chance(chance))
		cat[(*ncat)++] = "tearoom";
	if (*ncui < 2 && rnd_chance(chance))
		cui[(*ncui)++] = "abkhaz";
}

static void
gen_place(struct tplace *p, int64_t id, double spread)
{
	const struct tcity *c;
	size_t i;

	p->id = id;
	p->city = rnd_int(NCITIES);
	c = &tcities[p->city];
	p->lat = c->lat + (rnd_unit() * 2 - 1) * spread;
	p->lon = c->lon + (rnd_unit() * 2 - 1) * spread /
	    cos(c->lat * M_PI / 180);
	if (p->lon > 180)
		p->lon -= 360;
	p->rating = rnd_chance(0.2) ? NAN : rnd_int(11) * 0.5;
	p->price = rnd_chance(0.2) ? 0 : 1 + rnd_int(4);
	gen_tags(p->cat, &p->ncat, cats, 4, 2);
	gen_tags(p->cui, &p->ncui, cuis, 4, 2);
	rare_tags(p->cat, &p->ncat, p->cui, &p->ncui, 0.04);
	gen_hours(p);
	p->offer = rnd_chance(0.1);
	gen_words(p->name, sizeof(p->name), name_words, 14, 1 + rnd_int(3));
	gen_words(p->desc, sizeof(p->desc), desc_words, 10, rnd_int(8));
	p->nitems = (size_t)rnd_int(MAX_ITEMS + 1);
	for (i = 0; i < p->nitems; i++)
		p->items[i] = dishes[rnd_int(11)];
}

/* Some places are clones of an earlier one (ties in every key but id). */
static void
gen_world(size_t n, double spread)
{
	size_t i;

	world = calloc(n, sizeof(*world));
	ck_assert_ptr_nonnull(world);
	nworld = n;
	for (i = 0; i < n; i++) {
		if (i > 10 && rnd_chance(0.05)) {
			world[i] = world[rnd_int((int)i)];
			world[i].id = 1000 + (int64_t)i * 7;
		} else {
			gen_place(&world[i], 1000 + (int64_t)i * 7, spread);
		}
	}
}

static void
add_tplace(struct snap_builder *b, const struct tplace *p)
{
	struct snap_place_in in;
	size_t i;

	memset(&in, 0, sizeof(in));
	in.id = p->id;
	in.city = p->city;
	in.lat = p->lat;
	in.lon = p->lon;
	in.rating = p->rating;
	in.price_level = p->price;
	in.categories = p->cat;
	in.ncat = p->ncat;
	in.cuisines = p->cui;
	in.ncui = p->ncui;
	in.hours = p->has_hours ? &p->hours : NULL;
	in.has_active_offer = p->offer;
	in.name = p->name;
	in.description = p->desc;
	ck_assert_int_ge(snap_add_place(b, &in), 0);
	for (i = 0; i < p->nitems; i++)
		ck_assert_int_eq(snap_add_menu_item(b, p->id, p->items[i]), 0);
}

static struct snapshot *
build_places(const struct tplace *w, size_t n, const bool *deleted)
{
	struct snap_builder *b = snap_builder_new();
	struct snapshot *s;
	size_t i;

	ck_assert_ptr_nonnull(b);
	for (i = 0; i < NCITIES; i++)
		ck_assert_int_eq(snap_add_city(b, tcities[i].id,
		    tcities[i].offset), (int)i);
	for (i = 0; i < n; i++)
		if (deleted == NULL || i >= nworld || !deleted[i])
			add_tplace(b, &w[i]);
	s = snap_build(b);
	ck_assert_ptr_nonnull(s);
	return s;
}

static struct snapshot *
build_world(void)
{
	struct snapshot *s = build_places(world, nworld, NULL);

	ck_assert_uint_eq(snap_nplaces(s), nworld);
	return s;
}

static void
world_setup(void)
{
	rnd_reset();
	gen_world(NPLACES, 0.05);
	wsnap = build_world();
}

static void
world_teardown(void)
{
	snap_unref(wsnap);
	free(world);
	world = NULL;
}

/* --- the reference: this file's own filters and order ----------------------- */

/* Chord length between unit vectors, then the arc: not the haversine. */
static double
ref_distance(double lat1, double lon1, double lat2, double lon2)
{
	double r = M_PI / 180, x, y, z, chord;

	x = cos(lat1 * r) * cos(lon1 * r) - cos(lat2 * r) * cos(lon2 * r);
	y = cos(lat1 * r) * sin(lon1 * r) - cos(lat2 * r) * sin(lon2 * r);
	z = sin(lat1 * r) - sin(lat2 * r);
	chord = sqrt(x * x + y * y + z * z);
	return 2 * 6371008.8 * asin(fmin(1.0, chord / 2));
}

static bool
ref_in_day(const struct snap_hours *h, int day, int minute)
{
	int i;

	for (i = 0; i < h->n[day]; i++)
		if (minute >= h->iv[day][i].open && minute < h->iv[day][i].close)
			return true;
	return false;
}

static bool
ref_open_local(const struct tplace *p, int day, int minute)
{
	if (!p->has_hours)
		return false;
	return ref_in_day(&p->hours, day, minute) ||
	    ref_in_day(&p->hours, (day + 6) % 7, minute + 1440);
}

static bool
ref_open_utc(const struct tplace *p, int64_t t)
{
	time_t local = (time_t)(t + tcities[p->city].offset * 60);
	struct tm tm;

	gmtime_r(&local, &tm);
	return ref_open_local(p, (tm.tm_wday + 6) % 7,
	    tm.tm_hour * 60 + tm.tm_min);
}

static bool
ref_has(const char *const *tags, size_t n, const char *const *want,
    size_t nwant)
{
	size_t i, j;

	for (i = 0; i < n; i++)
		for (j = 0; j < nwant; j++)
			if (strcmp(tags[i], want[j]) == 0)
				return true;
	return false;
}

/*
 * The reference's own reading of q's words against the world, from the
 * analyzer's keys and stems (test_analyze.c tests those): a word matches
 * a key of the world equal to its key or its stem, or whose words have
 * its stem; the last word, of 3 characters or more, also every key it
 * begins; a word of a-z that matches no key so is misspelt, and matches
 * the TYPOS nearest keys within analyze_max_edits() (nearest, then in
 * byte order).
 */
#define REF_VOCAB   256
#define TYPOS       16

struct ref_vocab {
	char key[REF_VOCAB][INDEX_TOKEN_MAX + 1];
	char stem[REF_VOCAB][INDEX_TOKEN_MAX + 1];   /* of each (key, stem) */
	size_t n;
};

static struct ref_vocab vocab;

static void
vocab_add(struct analyzer *an, const char *const *words, size_t n)
{
	struct analyze_word w;
	const char *s;
	size_t i, k;

	for (i = 0; i < n; i++) {
		s = words[i];
		while (analyze_next(an, &s, &w)) {
			for (k = 0; k < vocab.n && (strcmp(vocab.key[k],
			    w.key) != 0 || strcmp(vocab.stem[k], w.stem) != 0);
			    k++)
				;
			if (k < vocab.n)
				continue;
			ck_assert_uint_lt(vocab.n, REF_VOCAB);
			strcpy(vocab.key[vocab.n], w.key);
			strcpy(vocab.stem[vocab.n++], w.stem);
		}
	}
}

/* The world's words: those of rank_words.h. */
static void
vocab_init(void)
{
	struct analyzer *an = analyzer_new();

	ck_assert_ptr_nonnull(an);
	vocab_add(an, name_words, sizeof(name_words) / sizeof(*name_words));
	vocab_add(an, desc_words, sizeof(desc_words) / sizeof(*desc_words));
	vocab_add(an, dishes, sizeof(dishes) / sizeof(*dishes));
	analyzer_free(an);
}

struct ref_term {
	struct analyze_word w;
	bool prefix;
	char keys[REF_VOCAB][INDEX_TOKEN_MAX + 1];  /* matched, but prefixes */
	size_t nkeys;
};

struct ref_terms {
	struct ref_term t[RANK_MAX_TERMS];
	size_t n;
};

static bool
ref_has_key(const struct ref_term *t, const char *key)
{
	size_t i;

	for (i = 0; i < t->nkeys; i++)
		if (strcmp(t->keys[i], key) == 0)
			return true;
	return false;
}

static void
ref_add_key(struct ref_term *t, const char *key)
{
	if (!ref_has_key(t, key))
		strcpy(t->keys[t->nkeys++], key);
}

/* The typos of an unknown word: nearest, then in byte order. */
static void
ref_typos(struct ref_term *t)
{
	char cand[REF_VOCAB][INDEX_TOKEN_MAX + 1];
	unsigned d[REF_VOCAB], dt;
	size_t n = 0, i, j, len;

	for (i = 0; i < vocab.n; i++) {
		const char *k = vocab.key[i];

		len = strlen(k);
		for (j = 0; j < len && k[j] >= 'a' && k[j] <= 'z'; j++)
			;
		if (j < len || len < INDEX_TYPO_MIN)
			continue;
		dt = analyze_distance(t->w.key, t->w.keylen, k, len,
		    analyze_max_edits(t->w.keylen, len));
		if (dt == 0 || dt > analyze_max_edits(t->w.keylen, len))
			continue;
		for (j = 0; j < n && strcmp(cand[j], k) != 0; j++)
			;
		if (j < n)
			continue;
		strcpy(cand[n], k);
		d[n++] = dt;
	}
	/* the TYPOS first by distance, then bytes */
	for (i = 0; i < n && i < TYPOS; i++) {
		size_t best = i;
		char tmp[INDEX_TOKEN_MAX + 1];

		for (j = i + 1; j < n; j++)
			if (d[j] < d[best] || (d[j] == d[best] &&
			    strcmp(cand[j], cand[best]) < 0))
				best = j;
		strcpy(tmp, cand[i]);
		strcpy(cand[i], cand[best]);
		strcpy(cand[best], tmp);
		dt = d[i];
		d[i] = d[best];
		d[best] = dt;
		ref_add_key(t, cand[i]);
	}
}

static void
ref_term(struct ref_term *t)
{
	bool begins = false;
	size_t i;

	t->nkeys = 0;
	for (i = 0; i < vocab.n; i++) {
		if (strcmp(vocab.key[i], t->w.key) == 0 ||
		    strcmp(vocab.key[i], t->w.stem) == 0 ||
		    strcmp(vocab.stem[i], t->w.stem) == 0)
			ref_add_key(t, vocab.key[i]);
		begins |= t->prefix && strncmp(vocab.key[i], t->w.key,
		    t->w.keylen) == 0;
	}
	if (t->nkeys == 0 && !begins && t->w.spell)
		ref_typos(t);
}

static void
ref_terms(const char *q, struct ref_terms *t)
{
	struct analyzer *an = analyzer_new();
	struct analyze_word w;
	size_t i, chars = 0;

	ck_assert_ptr_nonnull(an);
	if (vocab.n == 0)
		vocab_init();
	t->n = 0;
	while (q != NULL && t->n < RANK_MAX_TERMS && analyze_next(an, &q, &w)) {
		for (i = 0; i < t->n && strcmp(t->t[i].w.key, w.key) != 0; i++)
			;
		if (i == t->n)
			t->t[t->n++].w = w;
	}
	analyzer_free(an);
	for (i = 0; i < t->n; i++)
		t->t[i].prefix = false;
	if (t->n > 0) {
		const struct analyze_word *l = &t->t[t->n - 1].w;

		for (i = 0; i < l->wordlen; i++)
			chars += ((unsigned char)l->word[i] & 0xc0) != 0x80;
		t->t[t->n - 1].prefix = chars >= 3;
	}
	for (i = 0; i < t->n; i++)
		ref_term(&t->t[i]);
}

static bool
ref_text_hits(const char *s, const struct ref_terms *t)
{
	struct analyze_word w;
	size_t i;

	while (analyze_next(NULL, &s, &w))
		for (i = 0; i < t->n; i++)
			if (ref_has_key(&t->t[i], w.key) || (t->t[i].prefix &&
			    strncmp(w.key, t->t[i].w.key,
			    t->t[i].w.keylen) == 0))
				return true;
	return false;
}

static bool
ref_text(const struct tplace *p, const struct ref_terms *t)
{
	size_t i;

	if (ref_text_hits(p->name, t) || ref_text_hits(p->desc, t))
		return true;
	for (i = 0; i < p->nitems; i++)
		if (ref_text_hits(p->items[i], t))
			return true;
	return false;
}

static bool
ref_passes(const struct tplace *p, const struct rank_query *q,
    const struct ref_terms *t, double d)
{
	if (d > q->radius_m)
		return false;
	if ((q->min_price || q->max_price) && (p->price == 0 ||
	    p->price < q->min_price || (q->max_price && p->price > q->max_price)))
		return false;
	if (!isnan(q->min_rating) && !(p->rating >= q->min_rating))
		return false;
	if (q->ncategories && !ref_has(p->cat, p->ncat, q->categories,
	    q->ncategories))
		return false;
	if (q->cuisine_required && q->ncuisines &&
	    !ref_has(p->cui, p->ncui, q->cuisines, q->ncuisines))
		return false;
	if (q->open == RANK_OPEN_AT_UTC && !ref_open_utc(p, q->open_utc))
		return false;
	if (q->open == RANK_OPEN_AT_LOCAL &&
	    !ref_open_local(p, q->open_day, q->open_minute))
		return false;
	return t->n == 0 || ref_text(p, t);
}

static enum rank_sort ref_sort;
/* queries with q whose words were found through the grid, by a scan */
static size_t text_grid, text_scan;

static int
ref_cmp(const void *a, const void *b)
{
	const struct rank_result *x = a, *y = b;
	double rx = isnan(x->rating) ? -1 : x->rating;
	double ry = isnan(y->rating) ? -1 : y->rating;

	if (ref_sort == RANK_SORT_BEST && x->score != y->score)
		return x->score > y->score ? -1 : 1;
	if (ref_sort == RANK_SORT_RATING && rx != ry)
		return rx > ry ? -1 : 1;
	if (x->distance_m != y->distance_m)
		return x->distance_m < y->distance_m ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* The world's place of id (ids are 1000 + 7 i). */
static const struct tplace *
world_by_id(int64_t id)
{
	size_t i = (size_t)(id - 1000) / 7;

	ck_assert_uint_lt(i, nworld);
	ck_assert_int_eq(world[i].id, id);
	return &world[i];
}

/* All places passing q, in order; checks rank_ctx_eval agrees on each
 * (a snapshot numbers its places in its own order: found by id). */
static size_t
ref_rank(const struct snapshot *s, const struct rank_query *q,
    struct rank_result *all)
{
	struct rank_ctx *c = rank_ctx_new(s, q);
	struct ref_terms t;
	struct rank_result r;
	size_t i, n = 0;
	double d;
	bool want, got;

	ck_assert_ptr_nonnull(c);
	if (q->q != NULL)
		(*(rank_ctx_text_by_grid(c) ? &text_grid : &text_scan))++;
	ref_terms(q->q, &t);
	for (i = 0; i < nworld; i++) {
		const struct tplace *p = &world[i];

		d = ref_distance(q->lat, q->lon, p->lat, p->lon);
		want = ref_passes(p, q, &t, d);
		got = rank_ctx_eval(c, (uint32_t)snap_find(s, p->id), &r, false);
		if (fabs(d - q->radius_m) > 1e-6)
			ck_assert_msg(want == got, "place %lld: reference %d, "
			    "ranker %d", (long long)p->id, want, got);
		if (!got)
			continue;
		ck_assert_int_eq(r.id, p->id);
		ck_assert_double_eq_tol(r.distance_m, d, 1e-6);
		ck_assert(r.score >= 0 && r.score <= 1);
		all[n++] = r;
	}
	rank_ctx_free(c);
	ref_sort = q->sort;
	qsort(all, n, sizeof(*all), ref_cmp);
	return n;
}

/* --- random queries ----------------------------------------------------------- */

static const char *const queries[] = { "khachapuri", "кафе", "РОМАШКА",
    "pizza", "khach", "cozy terrace", "ЁЛКА", "borsch", "пельм", "ra",
    "golden dragon", "nothingmatches" };
static const double radii[] = { 300, 1000, 2000, 5000, 20000, 50000 };
static const double ratings[] = { 3.0, 3.5, 4.0, 4.5 };

struct qbuf {
	struct rank_query q;
	const char *cat[2], *cui[2];
};

static void
gen_query(struct qbuf *b)
{
	struct rank_query *q = &b->q;
	const struct tcity *c = &tcities[rnd_int(NCITIES)];

	rank_query_init(q);
	q->lat = c->lat + (rnd_unit() * 2 - 1) * 0.05;
	q->lon = c->lon + (rnd_unit() * 2 - 1) * 0.05 / cos(c->lat * M_PI / 180);
	if (q->lon > 180)
		q->lon -= 360;
	q->radius_m = radii[rnd_int(6)];
	if (rnd_chance(0.3)) {
		gen_tags(b->cat, &q->ncategories, cats, 4, 2);
		q->categories = b->cat;
	}
	if (rnd_chance(0.3)) {
		gen_tags(b->cui, &q->ncuisines, cuis, 4, 2);
		q->cuisines = b->cui;
		q->cuisine_required = rnd_chance(0.5);
	}
	if (rnd_chance(0.3)) {          /* a rare tag, or one with it */
		q->categories = b->cat;
		q->cuisines = b->cui;
		rare_tags(b->cat, &q->ncategories, b->cui, &q->ncuisines, 0.5);
		q->cuisine_required = q->ncuisines > 0 && rnd_chance(0.7);
	}
	if (rnd_chance(0.15))
		q->min_price = 1 + rnd_int(2);
	if (rnd_chance(0.2))
		q->max_price = 2 + rnd_int(3);
	if (rnd_chance(0.2))
		q->min_rating = ratings[rnd_int(4)];
	if (rnd_chance(0.15)) {
		q->open = RANK_OPEN_AT_UTC;
		q->open_utc = 1795000000 + rnd_int(7 * 86400);
	} else if (rnd_chance(0.15)) {
		q->open = RANK_OPEN_AT_LOCAL;
		q->open_day = rnd_int(7);
		q->open_minute = rnd_int(1440);
	}
	if (rnd_chance(0.5))
		q->now_utc = 1795000000 + rnd_int(7 * 86400);
	if (rnd_chance(0.3))
		q->q = queries[rnd_int(12)];
	q->sort = (enum rank_sort)rnd_int(3);
	q->limit = 1 + (unsigned)rnd_int(100);
	q->offset = rnd_chance(0.5) ? 0 : (unsigned)rnd_int(60);
}

static struct rank_result out[RANK_MAX_WINDOW], refall[NPLACES];

/* What a worker asks of q (common/words.h) is what the analyzer finds:
 * a text has a word exactly when it has a key. */
START_TEST(test_words_as_tokens)
{
	static const char *const texts[] = { "", "!", "?", "a", " ", "a b c",
	    "- !", "¿", "«»", "1", "é", "ё", "—", "ab", "щи", "a pizza", "42",
	    "x1", "\xff\xfe", "\xd0", "a\xff" "b", "日本", "日", "☕☕", "a-b",
	    "ö!ü", "McDonald's", "«Ёлка»" };
	struct analyze_word w;

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		const char *s = texts[i];

		ck_assert_msg(words_any(texts[i]) == analyze_next(NULL, &s, &w),
		    "\"%s\"", texts[i]);
	}
	ck_assert(!words_any("!"));
	ck_assert(words_any("щи"));
}
END_TEST

/* queries whose walk stopped counting (past RANK_TOTAL_CAP, or after
 * RANK_COUNT_VISITS places looked at only to count): their total is a
 * bound */
static size_t cut_walks;

/* rank() against the reference for q (query number i); adds its ties. */
static int
check_query(size_t i, const struct rank_query *q, size_t *ties)
{
	size_t total, n;
	bool exact;
	int got;

	n = ref_rank(wsnap, q, refall);
	got = rank_counted(wsnap, q, out, RANK_MAX_WINDOW, &total, &exact);
	ck_assert_int_ge(got, 0);
	if (exact)
		ck_assert_uint_eq(total, n);
	else {                      /* a bound above the page */
		ck_assert_uint_le(total, n);
		ck_assert_uint_gt(total, (size_t)q->offset + q->limit);
		cut_walks++;
	}
	ck_assert_uint_eq((size_t)got, n <= q->offset ? 0 :
	    (n - q->offset < q->limit ? n - q->offset : q->limit));
	for (int j = 0; j < got; j++) {
		const struct rank_result *w = &refall[q->offset + j];

		ck_assert_msg(out[j].id == w->id, "query %zu result %d: "
		    "%lld, want %lld", i, j, (long long)out[j].id,
		    (long long)w->id);
		ck_assert(out[j].score == w->score);
		ck_assert(out[j].distance_m == w->distance_m);
		if (j > 0 && out[j].score == out[j - 1].score &&
		    out[j].distance_m == out[j - 1].distance_m)
			(*ties)++;
	}
	return got;
}

START_TEST(test_bruteforce)
{
	struct qbuf b;
	size_t i, nonempty = 0, ties = 0;

	for (i = 0; i < NQUERIES; i++) {
		gen_query(&b);
		nonempty += check_query(i, &b.q, &ties) > 0;
	}
	ck_assert_uint_gt(nonempty, NQUERIES / 2);
	ck_assert_uint_gt(ties, 0);         /* the tie-break was exercised */
	ck_assert_uint_gt(text_grid, 0);    /* both ways of finding q's */
	ck_assert_uint_gt(text_scan, 0);    /* words were compared */
}
END_TEST

/*
 * Totals that stop short: 1500 places on a grid 100 m apart (every 30th
 * of price 4), asked nearest first, best first and by rating with a page
 * of 10. The walk fills its top-k in a few cells and counts the rest,
 * until it counts past RANK_TOTAL_CAP or has looked at RANK_COUNT_VISITS
 * places only to count: a bound then. By rating it walks every cell: all
 * of them, exactly. With 50 of price 4, the count of a nearest walk is
 * exact or a bound, that of a walk by rating exact.
 */
START_TEST(test_total_capped)
{
	struct snap_builder *b = snap_builder_new();
	struct rank_result res[10];
	struct snap_place_in in;
	struct rank_query q;
	struct snapshot *s;
	size_t total, i;
	bool exact;

	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(snap_add_city(b, "moscow", 180), 0);
	for (i = 0; i < 1500; i++) {
		memset(&in, 0, sizeof(in));
		in.id = (int64_t)i + 1;
		in.lat = 55.75 + ((double)(i / 40) - 18.5) * 0.0009;
		in.lon = 37.62 + ((double)(i % 40) - 19.5) * 0.0016;
		in.rating = NAN;
		in.price_level = i % 30 == 0 ? 4 : 1;
		in.name = "place";
		ck_assert_int_ge(snap_add_place(b, &in), 0);
	}
	ck_assert_ptr_nonnull(s = snap_build(b));
	for (int sort = RANK_SORT_BEST; sort <= RANK_SORT_RATING; sort++) {
		rank_query_init(&q);
		q.lat = 55.75;
		q.lon = 37.62;
		q.radius_m = 5000;
		q.sort = (enum rank_sort)sort;
		ck_assert_int_eq(rank_counted(s, &q, res, 10, &total, &exact),
		    10);
		ck_assert_uint_le(total, 1500);
		if (sort == RANK_SORT_RATING) {         /* every cell */
			ck_assert(exact);
			ck_assert_uint_eq(total, 1500);
		} else {
			ck_assert(!exact);
			ck_assert_uint_gt(total, 10);
			cut_walks++;
		}
		q.min_price = 4;
		ck_assert_int_eq(rank_counted(s, &q, res, 10, &total, &exact),
		    10);
		ck_assert(exact ? total == 50 : total > 10 && total < 50);
		ck_assert(exact || sort != RANK_SORT_RATING);
		q.offset = 45;
		ck_assert_int_eq(rank_counted(s, &q, res, 10, &total, &exact),
		    5);
		ck_assert(exact);
		ck_assert_uint_eq(total, 50);
	}
	ck_assert_uint_gt(cut_walks, 0);    /* walks stopped counting */
	snap_unref(s);
}
END_TEST

/* Common words and a prefix of two tokens (пельм: пельменная, пельмени)
 * around each city centre, with radii small enough for the grid's places
 * to be the way to q's postings. */
START_TEST(test_text_by_grid)
{
	static const char *const words[] = { "пельм", "кафе", "khach",
	    "pizza margherita" };
	static const double small[] = { 300, 1000, 3000 };
	struct rank_query q;
	size_t i, w, k, ties = 0, found = 0, prefix_grid = 0, before;

	for (i = 0; i < NCITIES; i++)
		for (w = 0; w < 4; w++)
			for (k = 0; k < 3; k++) {
				rank_query_init(&q);
				q.lat = tcities[i].lat;
				q.lon = tcities[i].lon;
				q.radius_m = small[k];
				q.q = words[w];
				q.limit = 100;
				q.sort = (enum rank_sort)(k % 3);
				before = text_grid;     /* counted by ref_rank */
				found += check_query(i * 12 + w * 3 + k, &q,
				    &ties) > 0;
				if (w == 0)
					prefix_grid += text_grid - before;
			}
	ck_assert_uint_gt(prefix_grid, 0);
	ck_assert_uint_gt(found, NCITIES * 4);
	/* nowhere near a place: the grid has none to look the words up by
	 * (a search on an overlay's small delta meets this often) */
	rank_query_init(&q);
	q.lat = -45.0;
	q.lon = -140.0;
	q.radius_m = 1000;
	q.q = "кафе";
	before = text_grid;
	ck_assert_int_eq(check_query(999, &q, &ties), 0);
	ck_assert_uint_eq(text_grid - before, 1);
}
END_TEST

START_TEST(test_nearest_first)
{
	struct rank_query q, qd;
	size_t total, i, k;
	struct rank_result byd[100];
	int n, nd;

	for (k = 0; k < 50; k++) {
		struct qbuf b;

		gen_query(&b);
		rank_query_init(&q);
		q.lat = b.q.lat;
		q.lon = b.q.lon;
		q.radius_m = 5000;
		q.limit = 100;
		qd = q;
		qd.sort = RANK_SORT_DISTANCE;
		n = rank(wsnap, &q, out, 100, &total);
		nd = rank(wsnap, &qd, byd, 100, &total);
		ck_assert_int_eq(n, nd);
		for (i = 0; i < (size_t)n; i++) {
			ck_assert_int_eq(out[i].id, byd[i].id);
			if (i > 0)
				ck_assert(out[i].distance_m >=
				    out[i - 1].distance_m);
			ck_assert_uint_eq(out[i].nmatched, 0);
		}
	}
}
END_TEST

static size_t
count_georgian(const struct rank_result *r, int n)
{
	size_t k = 0;
	int i;

	for (i = 0; i < n; i++) {
		const struct tplace *p = world_by_id(r[i].id);
		k += ref_has(p->cui, p->ncui, (const char *[]){ "georgian" }, 1);
	}
	return k;
}

START_TEST(test_cuisine_lift_world)
{
	const char *geo[] = { "georgian" };
	struct rank_query q;
	size_t total, with = 0, without = 0, k;
	int n;

	for (k = 0; k < NCITIES; k++) {
		rank_query_init(&q);
		q.lat = tcities[k].lat;
		q.lon = tcities[k].lon;
		q.radius_m = 3000;
		q.limit = 20;
		n = rank(wsnap, &q, out, 20, &total);
		without += count_georgian(out, n);
		q.cuisines = geo;
		q.ncuisines = 1;
		n = rank(wsnap, &q, out, 20, &total);
		with += count_georgian(out, n);
		if (n > 0)
			ck_assert_str_eq(out[0].matched[0], "cuisine: georgian");
	}
	ck_assert_uint_gt(with, without);
}
END_TEST

/* --- handmade snapshots ----------------------------------------------------- */

static struct snap_place_in
place_at(int64_t id, int city, double lat, double lon)
{
	struct snap_place_in p;

	memset(&p, 0, sizeof(p));
	p.id = id;
	p.city = city;
	p.lat = lat;
	p.lon = lon;
	p.rating = 4.0;
	p.price_level = 2;
	p.name = "Place";
	return p;
}

static int64_t
utc(int y, int mo, int d, int h, int mi)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	return (int64_t)timegm(&tm);
}

/* The ids of the results, ascending, as "1,2,". */
static const char *
ids_of(const struct snapshot *s, const struct rank_query *q)
{
	static char buf[256];
	int64_t ids[64], t;
	size_t total;
	int n, i, j;

	n = rank(s, q, out, 64, &total);
	ck_assert_int_ge(n, 0);
	for (i = 0; i < n; i++)
		ids[i] = out[i].id;
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && ids[j - 1] > ids[j]; j--)
			t = ids[j], ids[j] = ids[j - 1], ids[j - 1] = t;
	buf[0] = '\0';
	for (i = 0; i < n; i++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%lld,",
		    (long long)ids[i]);
	return buf;
}

static struct snapshot *
hours_snapshot(void)
{
	struct snap_builder *b = snap_builder_new();
	struct snap_hours a, all, d, e;
	struct snap_place_in p;
	int msk, nyc, i;

	msk = snap_add_city(b, "moscow", 180);
	nyc = snap_add_city(b, "newyork", -300);
	memset(&a, 0, sizeof(a));
	a.n[0] = 1;                                 /* mon 18:00-02:00 */
	a.iv[0][0] = (struct snap_interval){ 1080, 1560 };
	memset(&all, 0, sizeof(all));
	for (i = 0; i < 7; i++) {
		all.n[i] = 1;
		all.iv[i][0] = (struct snap_interval){ 0, 1440 };
	}
	memset(&d, 0, sizeof(d));
	d.n[6] = 1;                                 /* sun 22:00-03:00 */
	d.iv[6][0] = (struct snap_interval){ 1320, 1620 };
	memset(&e, 0, sizeof(e));
	e.n[0] = 1;                                 /* mon 09:00-01:00 */
	e.iv[0][0] = (struct snap_interval){ 540, 1500 };
	p = place_at(1, msk, 55.75, 37.62);
	p.hours = &a;
	ck_assert_int_ge(snap_add_place(b, &p), 0);
	p = place_at(2, msk, 55.75, 37.62);
	p.hours = &all;
	ck_assert_int_ge(snap_add_place(b, &p), 0);
	p = place_at(3, msk, 55.75, 37.62);         /* hours unknown */
	ck_assert_int_ge(snap_add_place(b, &p), 0);
	p = place_at(4, msk, 55.75, 37.62);
	p.hours = &d;
	ck_assert_int_ge(snap_add_place(b, &p), 0);
	p = place_at(5, nyc, 40.71, -74.0);
	p.hours = &e;
	ck_assert_int_ge(snap_add_place(b, &p), 0);
	return snap_build(b);
}

static void
at_local(struct rank_query *q, int day, int minute)
{
	q->open = RANK_OPEN_AT_LOCAL;
	q->open_day = day;
	q->open_minute = minute;
}

START_TEST(test_open_hours)
{
	struct snapshot *s = hours_snapshot();
	struct rank_query q;

	ck_assert_ptr_nonnull(s);
	rank_query_init(&q);
	q.lat = 55.75;
	q.lon = 37.62;
	ck_assert_str_eq(ids_of(s, &q), "1,2,3,4,");
	at_local(&q, 0, 23 * 60);                   /* mon 23:00 */
	ck_assert_str_eq(ids_of(s, &q), "1,2,");
	at_local(&q, 1, 1 * 60 + 59);               /* tue 01:59 */
	ck_assert_str_eq(ids_of(s, &q), "1,2,");
	at_local(&q, 1, 2 * 60);                    /* tue 02:00: closed */
	ck_assert_str_eq(ids_of(s, &q), "2,");
	at_local(&q, 0, 60);                        /* mon 01:00: sunday's */
	ck_assert_str_eq(ids_of(s, &q), "2,4,");
	at_local(&q, 6, 23 * 60);                   /* sun 23:00 */
	ck_assert_str_eq(ids_of(s, &q), "2,4,");
	at_local(&q, 2, 12 * 60);                   /* wed noon */
	ck_assert_str_eq(ids_of(s, &q), "2,");
	/* open_now: 2026-11-23 is a monday; Moscow is UTC+3 */
	q.open = RANK_OPEN_AT_UTC;
	q.open_utc = utc(2026, 11, 23, 20, 30);     /* mon 23:30 local */
	ck_assert_str_eq(ids_of(s, &q), "1,2,");
	q.open_utc = utc(2026, 11, 23, 23, 30);     /* tue 02:30 local */
	ck_assert_str_eq(ids_of(s, &q), "2,");
	q.open_utc = utc(2026, 11, 22, 21, 30);     /* mon 00:30 local */
	ck_assert_str_eq(ids_of(s, &q), "2,4,");
	/* New York is UTC-5: the UTC date is a day ahead at night */
	q.lat = 40.71;
	q.lon = -74.0;
	q.open_utc = utc(2026, 11, 24, 2, 0);       /* mon 21:00 local */
	ck_assert_str_eq(ids_of(s, &q), "5,");
	q.open_utc = utc(2026, 11, 24, 5, 30);      /* tue 00:30 local */
	ck_assert_str_eq(ids_of(s, &q), "5,");
	q.open_utc = utc(2026, 11, 24, 6, 30);      /* tue 01:30 local */
	ck_assert_str_eq(ids_of(s, &q), "");
	q.open_utc = utc(2026, 11, 23, 13, 0);      /* mon 08:00 local */
	ck_assert_str_eq(ids_of(s, &q), "");
	snap_unref(s);
}
END_TEST

/* 100 m and 300/500 m north and south of a point, differing in cuisine. */
START_TEST(test_cuisine_lift)
{
	struct snap_builder *b = snap_builder_new();
	const char *ita[] = { "italian" }, *geo[] = { "georgian" };
	struct snap_place_in p;
	struct rank_query q;
	struct snapshot *s;
	double m = 1.0 / 111195.0;          /* degrees per meter north */
	size_t total;
	int c = snap_add_city(b, "moscow", 180);

	p = place_at(10, c, 55.75 + 100 * m, 37.62);
	p.cuisines = ita, p.ncui = 1;
	ck_assert_int_ge(snap_add_place(b, &p), 0);
	p = place_at(11, c, 55.75 - 100 * m, 37.62);
	p.cuisines = geo, p.ncui = 1;
	ck_assert_int_ge(snap_add_place(b, &p), 0);
	p = place_at(12, c, 55.75 + 300 * m, 37.62);
	p.cuisines = ita, p.ncui = 1;
	ck_assert_int_ge(snap_add_place(b, &p), 0);
	p = place_at(13, c, 55.75 - 500 * m, 37.62);
	p.cuisines = geo, p.ncui = 1;
	ck_assert_int_ge(snap_add_place(b, &p), 0);
	s = snap_build(b);
	rank_query_init(&q);
	q.lat = 55.75;
	q.lon = 37.62;
	ck_assert_int_eq(rank(s, &q, out, 10, &total), 4);
	ck_assert_int_eq(out[0].id, 10);        /* equal distance: by id */
	ck_assert_int_eq(out[1].id, 11);
	ck_assert_int_eq(out[2].id, 12);
	ck_assert_int_eq(out[3].id, 13);
	q.cuisines = geo;
	q.ncuisines = 1;
	ck_assert_int_eq(rank(s, &q, out, 10, &total), 4);
	ck_assert_int_eq(out[0].id, 11);
	ck_assert_int_eq(out[1].id, 10);
	ck_assert_int_eq(out[2].id, 13);        /* lifted over a nearer one */
	ck_assert_int_eq(out[3].id, 12);
	ck_assert_uint_eq(out[0].nmatched, 1);
	ck_assert_str_eq(out[0].matched[0], "cuisine: georgian");
	ck_assert_uint_eq(out[1].nmatched, 0);
	q.cuisine_required = true;
	ck_assert_int_eq(rank(s, &q, out, 10, &total), 2);
	/* a filter with a preference of its own: georgian places only,
	 * italian preferred, which none of them is: by distance again */
	q.prefer_cuisines = ita;
	q.nprefer = 1;
	ck_assert_int_eq(rank(s, &q, out, 10, &total), 2);
	ck_assert_int_eq(out[0].id, 11);
	ck_assert_int_eq(out[1].id, 13);
	ck_assert_str_eq(out[0].matched[0], "cuisine: georgian");
	/* the preference alone lifts the italian ones, filtering nothing */
	q.ncuisines = 0;
	q.cuisine_required = false;
	ck_assert_int_eq(rank(s, &q, out, 10, &total), 4);
	ck_assert_int_eq(out[0].id, 10);
	ck_assert_int_eq(out[1].id, 12);        /* lifted over a nearer one */
	ck_assert_int_eq(out[2].id, 11);
	ck_assert_int_eq(out[3].id, 13);
	ck_assert_str_eq(out[0].matched[0], "cuisine: italian");
	snap_unref(s);
}
END_TEST

/*
 * q meets a place's cuisines and categories too, and the fields weigh
 * name > dish > cuisine or category > description: four places at the
 * same point, each with "vegan" in one field of the same length, come
 * in that order; the cuisine's place says which tag matched.
 */
START_TEST(test_q_fields)
{
	struct snap_builder *b = snap_builder_new();
	const char *veg[] = { "vegan" }, *cafe[] = { "cafe" };
	struct snap_place_in p;
	struct rank_query q;
	struct snapshot *s;
	size_t total;
	int c = snap_add_city(b, "moscow", 180);

	p = place_at(1, c, 55.75, 37.62);
	p.name = "Vegan Corner", p.description = "quiet room";
	p.categories = cafe, p.ncat = 1;
	ck_assert_int_ge(snap_add_place(b, &p), 0);
	p = place_at(2, c, 55.75, 37.62);
	p.name = "Blue Door", p.description = "quiet room";
	p.categories = cafe, p.ncat = 1;
	ck_assert_int_ge(snap_add_place(b, &p), 0);
	ck_assert_int_eq(snap_add_menu_item(b, 2, "Vegan Burger"), 0);
	p = place_at(3, c, 55.75, 37.62);
	p.name = "Red Door", p.description = "quiet room";
	p.categories = cafe, p.ncat = 1, p.cuisines = veg, p.ncui = 1;
	ck_assert_int_ge(snap_add_place(b, &p), 0);
	p = place_at(4, c, 55.75, 37.62);
	p.name = "Green Door", p.description = "vegan options";
	p.categories = cafe, p.ncat = 1;
	ck_assert_int_ge(snap_add_place(b, &p), 0);
	p = place_at(5, c, 55.75, 37.62);
	p.name = "Grey Door", p.description = "quiet room";
	p.categories = cafe, p.ncat = 1;
	ck_assert_int_ge(snap_add_place(b, &p), 0);
	s = snap_build(b);
	rank_query_init(&q);
	q.lat = 55.75;
	q.lon = 37.62;
	q.q = "vegan";
	ck_assert_int_eq(rank(s, &q, out, 10, &total), 4);
	ck_assert_int_eq(out[0].id, 1);
	ck_assert_int_eq(out[1].id, 2);
	ck_assert_int_eq(out[2].id, 3);
	ck_assert_int_eq(out[3].id, 4);
	ck_assert(out[0].score > out[1].score && out[1].score > out[2].score &&
	    out[2].score > out[3].score);
	ck_assert_str_eq(out[0].matched[0], "name");
	ck_assert_str_eq(out[1].matched[0], "menu: Vegan Burger");
	ck_assert_str_eq(out[2].matched[0], "cuisine: vegan");
	ck_assert_str_eq(out[3].matched[0], "description");
	/* a category in q: every place, by its tags ("cafe") */
	q.q = "cafe";
	ck_assert_int_eq(rank(s, &q, out, 10, &total), 5);
	ck_assert_str_eq(out[0].matched[0], "category: cafe");
	snap_unref(s);
}
END_TEST

/*
 * All words above some, and words together above words scattered: for
 * "dog friendly", a description that says it beats "Hot Dog" on a menu
 * with "friendly" in the description, which beats "Hot Dog" alone.
 */
START_TEST(test_q_words_together)
{
	struct snap_builder *b = snap_builder_new();
	struct snap_place_in p;
	struct rank_query q;
	struct snapshot *s;
	size_t total;
	int c = snap_add_city(b, "moscow", 180);

	p = place_at(1, c, 55.75, 37.62);
	p.name = "Grill Room", p.description = "friendly staff";
	ck_assert_int_ge(snap_add_place(b, &p), 0);
	ck_assert_int_eq(snap_add_menu_item(b, 1, "Hot Dog"), 0);
	p = place_at(2, c, 55.75, 37.62);
	p.name = "Park Terrace", p.description = "dog friendly terrace";
	ck_assert_int_ge(snap_add_place(b, &p), 0);
	p = place_at(3, c, 55.75, 37.62);
	p.name = "Snack Bar", p.description = "quick bites";
	ck_assert_int_ge(snap_add_place(b, &p), 0);
	ck_assert_int_eq(snap_add_menu_item(b, 3, "Hot Dog"), 0);
	s = snap_build(b);
	rank_query_init(&q);
	q.lat = 55.75;
	q.lon = 37.62;
	q.q = "dog friendly";
	ck_assert_int_eq(rank(s, &q, out, 10, &total), 3);
	ck_assert_int_eq(out[0].id, 2);
	ck_assert_int_eq(out[1].id, 1);
	ck_assert_int_eq(out[2].id, 3);
	snap_unref(s);
}
END_TEST

/* matched says how a word met the name when not as written. */
START_TEST(test_name_how)
{
	static const char *const cases[][2] = {
		{ "belle epoque", "name~: Belle Époque (accent)" },
		{ "BELLE ÉPOQUE", "name" },
		{ "khachapuriia", "name~: Хачапурия (alphabet)" },
		{ "хачапурия", "name" },
		{ "pizzas", "name~: Pizza Roma (stem)" },
		{ "pizz", "name~: Pizza Roma (prefix)" },
		{ "romma", "name~: Pizza Roma (typo)" },
	};
	struct snap_builder *b = snap_builder_new();
	struct snap_place_in p;
	struct rank_query q;
	struct snapshot *s;
	size_t total, i;
	int c = snap_add_city(b, "moscow", 180);

	p = place_at(1, c, 55.75, 37.62);
	p.name = "Belle Époque";
	ck_assert_int_ge(snap_add_place(b, &p), 0);
	p = place_at(2, c, 55.75, 37.62);
	p.name = "Хачапурия";
	ck_assert_int_ge(snap_add_place(b, &p), 0);
	p = place_at(3, c, 55.75, 37.62);
	p.name = "Pizza Roma";
	ck_assert_int_ge(snap_add_place(b, &p), 0);
	s = snap_build(b);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rank_query_init(&q);
		q.lat = 55.75;
		q.lon = 37.62;
		q.q = cases[i][0];
		ck_assert_int_ge(rank(s, &q, out, 10, &total), 1);
		ck_assert_msg(strcmp(out[0].matched[0], cases[i][1]) == 0,
		    "%s: \"%s\", want \"%s\"", cases[i][0], out[0].matched[0],
		    cases[i][1]);
	}
	snap_unref(s);
}
END_TEST

static bool
has_item(const struct tplace *p, const char *item)
{
	size_t i;

	for (i = 0; i < p->nitems; i++)
		if (strcmp(p->items[i], item) == 0)
			return true;
	return false;
}

static bool
has_khachapuri(const struct tplace *p)
{
	return has_item(p, "Khachapuri") ||
	    has_item(p, "Adjarian khachapuri") ||
	    has_item(p, "Хачапури по-аджарски");
}

/* Latin and Cyrillic khachapuri are one key: either spelling finds the
 * places with either on the menu. */
START_TEST(test_khachapuri)
{
	static const char *const spellings[] = { "khachapuri", "Хачапури" };
	struct rank_query q;
	size_t total, i, k, want, found = 0;
	int n, j;

	for (k = 0; k < 2; k++) {
		for (i = 0; i < NCITIES; i++) {
			rank_query_init(&q);
			q.lat = tcities[i].lat;
			q.lon = tcities[i].lon;
			q.radius_m = 50000;
			q.q = spellings[k];
			q.limit = RANK_MAX_WINDOW;
			n = rank(wsnap, &q, out, RANK_MAX_WINDOW, &total);
			want = 0;
			for (j = 0; j < (int)nworld; j++)
				want += world[j].city == (int)i &&
				    has_khachapuri(&world[j]);
			ck_assert_uint_eq((size_t)n, want);
			for (j = 0; j < n; j++) {
				const struct tplace *p = world_by_id(out[j].id);
				const char *item = out[j].matched[0] + 6;

				ck_assert_uint_ge(out[j].nmatched, 1);
				ck_assert_msg(strncmp(out[j].matched[0],
				    "menu: ", 6) == 0 && has_item(p, item),
				    "%s", out[j].matched[0]);
			}
			found += want;
		}
	}
	ck_assert_uint_gt(found, 200);
}
END_TEST

static size_t
count_name(int city, const char *word)
{
	size_t i, k = 0;

	for (i = 0; i < nworld; i++)
		k += world[i].city == city && strstr(world[i].name, word) != NULL;
	return k;
}

/* Case, ё, prefixes; пельменная also finds пельмени by their stem. */
START_TEST(test_cyrillic)
{
	static const char *const qs[][3] = {
		{ "РОМАШКА", "Ромашка", NULL }, { "ромашка", "Ромашка", NULL },
		{ "ёлка", "Ёлка", NULL }, { "ЕЛКА", "Ёлка", NULL },
		{ "пельменная", "ПЕЛЬМЕННАЯ", "Пельмени" },
		{ "берёз", "Берёзка", NULL },
	};
	struct rank_query q;
	size_t total, i, want, k;
	int n, j;

	for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		rank_query_init(&q);
		q.lat = tcities[0].lat;
		q.lon = tcities[0].lon;
		q.radius_m = 50000;
		q.q = qs[i][0];
		q.limit = RANK_MAX_WINDOW;
		n = rank(wsnap, &q, out, RANK_MAX_WINDOW, &total);
		for (want = 0, k = 0; k < nworld; k++)
			want += world[k].city == 0 &&
			    (strstr(world[k].name, qs[i][1]) != NULL ||
			    (qs[i][2] != NULL &&
			    has_item(&world[k], qs[i][2])));
		ck_assert_uint_eq((size_t)n, want);
		ck_assert_int_gt(n, 0);
		for (j = 0; j < n; j++) {
			const struct tplace *p = world_by_id(out[j].id);

			if (strstr(p->name, qs[i][1]) != NULL)
				ck_assert(strcmp(out[j].matched[0], "name") ==
				    0 || strncmp(out[j].matched[0], "name~: ",
				    7) == 0);
			else
				ck_assert_str_eq(out[j].matched[0],
				    "menu: Пельмени");
		}
	}
	ck_assert_uint_gt(count_name(0, "ПЕЛЬМЕННАЯ"), 0);
}
END_TEST

START_TEST(test_sort_orders)
{
	struct qbuf b;
	size_t total, k;
	int n, i;

	for (k = 0; k < 100; k++) {
		gen_query(&b);
		b.q.offset = 0;
		b.q.limit = 100;
		b.q.sort = RANK_SORT_DISTANCE;
		n = rank(wsnap, &b.q, out, 100, &total);
		for (i = 1; i < n; i++)
			ck_assert(out[i].distance_m > out[i - 1].distance_m ||
			    (out[i].distance_m == out[i - 1].distance_m &&
			    out[i].id > out[i - 1].id));
		b.q.sort = RANK_SORT_RATING;
		n = rank(wsnap, &b.q, out, 100, &total);
		for (i = 1; i < n; i++) {
			double a = out[i - 1].rating, c = out[i].rating;

			ck_assert(!isnan(a) || isnan(c));   /* nulls last */
			if (!isnan(a) && !isnan(c))
				ck_assert(a >= c);
			if (a == c || (isnan(a) && isnan(c)))
				ck_assert(out[i].distance_m >=
				    out[i - 1].distance_m);
		}
	}
}
END_TEST

START_TEST(test_paging)
{
	const char *geo[] = { "georgian" };
	struct rank_result page[10];
	struct rank_query q;
	int64_t seen[100];
	size_t total, nseen = 0, i;
	int n, j;

	rank_query_init(&q);
	q.lat = tcities[0].lat;
	q.lon = tcities[0].lon;
	q.radius_m = 5000;
	q.cuisines = geo;
	q.ncuisines = 1;
	q.limit = 100;
	ck_assert_int_eq(rank(wsnap, &q, out, 100, &total), 100);
	q.limit = 10;
	for (q.offset = 0; q.offset < 100; q.offset += 10) {
		n = rank(wsnap, &q, page, 10, &total);
		ck_assert_int_eq(n, 10);
		for (j = 0; j < n; j++) {
			for (i = 0; i < nseen; i++)
				ck_assert_int_ne(seen[i], page[j].id);
			ck_assert_int_eq(page[j].id, out[nseen].id);
			seen[nseen++] = page[j].id;
		}
	}
	q.offset = RANK_MAX_WINDOW - 5;
	ck_assert_int_eq(rank(wsnap, &q, page, 10, &total), -1);
	ck_assert_int_eq(errno, EINVAL);
	q.offset = RANK_MAX_WINDOW - 10;
	ck_assert_int_eq(rank(wsnap, &q, page, 10, &total), 0);
}
END_TEST

START_TEST(test_refcount)
{
	struct snap_holder h;
	struct snapshot *old, *new, *got;
	struct rank_query q;
	size_t total;
	int n1, n2;

	snap_holder_init(&h);
	ck_assert_ptr_null(snap_holder_get(&h));
	old = build_world();
	ck_assert_uint_eq(snap_refs(old), 1);
	snap_holder_set(&h, old);               /* the holder's reference */
	got = snap_holder_get(&h);              /* a request in flight */
	ck_assert_ptr_eq(got, old);
	ck_assert_uint_eq(snap_refs(old), 2);
	rank_query_init(&q);
	q.lat = tcities[0].lat;
	q.lon = tcities[0].lon;
	n1 = rank(got, &q, out, 10, &total);
	new = build_world();
	snap_holder_set(&h, new);               /* swapped: old lives on */
	ck_assert_uint_eq(snap_refs(old), 1);
	n2 = rank(got, &q, out, 10, &total);
	ck_assert_int_eq(n1, n2);
	ck_assert_int_gt(n1, 0);
	snap_unref(got);                        /* frees old (ASan checks) */
	got = snap_holder_get(&h);
	ck_assert_ptr_eq(got, new);
	ck_assert_uint_eq(snap_refs(new), 2);
	snap_unref(got);
	snap_holder_fini(&h);
}
END_TEST

/* --- offer deltas ----------------------------------------------------------- */

/* rank() on a and on b agree for q: the same places, scores, distances
 * and reasons, in the same order. */
static bool
same_ranking(const struct snapshot *a, const struct snapshot *b,
    const struct rank_query *q)
{
	static struct rank_result ra[RANK_MAX_WINDOW], rb[RANK_MAX_WINDOW];
	size_t ta, tb;
	int na, nb, i;
	unsigned k;

	na = rank(a, q, ra, RANK_MAX_WINDOW, &ta);
	nb = rank(b, q, rb, RANK_MAX_WINDOW, &tb);
	ck_assert_int_ge(na, 0);
	ck_assert_int_ge(nb, 0);
	/* a total is exact, or a bound past the window when the walk
	 * stopped early, which two layouts of the same places may do at
	 * different places */
	if (na != nb || (ta != tb && (ta <= q->offset + q->limit ||
	    tb <= q->offset + q->limit)))
		return false;
	for (i = 0; i < na; i++) {
		if (ra[i].id != rb[i].id || ra[i].score != rb[i].score ||
		    ra[i].distance_m != rb[i].distance_m ||
		    ra[i].nmatched != rb[i].nmatched)
			return false;
		for (k = 0; k < ra[i].nmatched; k++)
			if (strcmp(ra[i].matched[k], rb[i].matched[k]) != 0)
				return false;
	}
	return true;
}

/* A query with a preference (so that the offer boost and reason count)
 * around a random place of the world. */
static void
offer_query(struct qbuf *b)
{
	gen_query(b);
	b->q.cuisines = cuis;
	b->q.ncuisines = 1;
	b->q.cuisine_required = false;
	b->q.sort = RANK_SORT_BEST;
}

/* The world with the offer flags of every place i with i % 7 == 3
 * flipped: the snapshot a delta has to bring back. */
static struct snapshot *
build_flipped(size_t *nflipped)
{
	struct snapshot *s;
	size_t i;

	*nflipped = 0;
	for (i = 3; i < nworld; i += 7, (*nflipped)++)
		world[i].offer = !world[i].offer;
	s = build_world();
	for (i = 3; i < nworld; i += 7)
		world[i].offer = !world[i].offer;
	return s;
}

/* The flags world says for the flipped places [from, to) of the i % 7 == 3
 * ones, as a delta; returns how many. */
static size_t
flipped_set(const struct snapshot *s, size_t from, size_t to,
    struct snap_offer_set *set)
{
	size_t i, k = 0, n = 0;
	int64_t at;

	for (i = 3; i < nworld; i += 7, k++) {
		if (k < from || k >= to)
			continue;
		at = snap_find(s, world[i].id);
		ck_assert_int_ge(at, 0);
		set[n].place = (uint32_t)at;
		set[n++].on = world[i].offer;
	}
	return n;
}

/*
 * A full load with a few offer flags wrong, then deltas (one made from
 * another, as the loader chains them) that set them right, answer every
 * query exactly as a full load of the right data does; the snapshot the
 * deltas were made from keeps its own flags, and the shared parts live
 * as long as the last snapshot that uses them (ASan checks).
 */
START_TEST(test_offer_delta)
{
	static struct snap_offer_set set[NPLACES];
	struct snapshot *flipped, *half, *whole, *again;
	struct snap_builder *b;
	size_t nflipped, n, i, differ = 0;
	struct qbuf qb;

	flipped = build_flipped(&nflipped);
	ck_assert_uint_gt(nflipped, 100);
	n = flipped_set(flipped, 0, nflipped / 2, set);
	half = snap_with_offers(flipped, set, n);
	ck_assert_ptr_nonnull(half);
	ck_assert_uint_eq(snap_refs(half), 1);
	ck_assert_uint_eq(snap_refs(flipped), 2);       /* half's base */
	n = flipped_set(half, nflipped / 2, nflipped, set);
	whole = snap_with_offers(half, set, n);
	ck_assert_ptr_nonnull(whole);
	ck_assert_ptr_eq(whole->base, flipped);         /* no chains */
	snap_unref(half);
	for (i = 0; i < nworld; i++) {
		int64_t at = snap_find(flipped, world[i].id);

		ck_assert_int_ge(at, 0);
		ck_assert(snap_offer(whole, (uint32_t)at) == world[i].offer);
		ck_assert(snap_offer(flipped, (uint32_t)at) ==
		    (i % 7 == 3 ? !world[i].offer : world[i].offer));
	}
	/* a patch made from a delta keeps the delta's flags */
	b = snap_builder_from(whole, NULL, 0);
	ck_assert_ptr_nonnull(b);
	again = snap_build(b);
	ck_assert_ptr_nonnull(again);
	snap_unref(flipped);                    /* whole holds it still */
	for (i = 0; i < NQUERIES; i++) {
		offer_query(&qb);
		ck_assert_msg(same_ranking(whole, wsnap, &qb.q), "query %zu: "
		    "the delta ranks unlike a full load", i);
		ck_assert_msg(same_ranking(again, wsnap, &qb.q), "query %zu: "
		    "a patch of the delta ranks unlike a full load", i);
		differ += !same_ranking(whole, whole->base, &qb.q);
	}
	ck_assert_uint_gt(differ, NQUERIES / 10);  /* the flags mattered */
	set[0].place = snap_nplaces(whole);
	set[0].on = true;
	errno = 0;
	ck_assert_ptr_null(snap_with_offers(whole, set, 1));
	ck_assert_int_eq(errno, EINVAL);
	snap_unref(again);
	snap_unref(whole);                      /* frees flipped too */
}
END_TEST

/* --- the overlay ------------------------------------------------------------ */

/*
 * The world as it is after some changes: every place i with i % 11 == 4
 * regenerated under its id (moved, renamed, new menu, hours, tags), every
 * i % 17 == 9 deleted, and 40 new places. deleted[] says which are gone.
 */
static struct tplace *
changed_world(size_t *n, bool *deleted)
{
	struct tplace *w = calloc(nworld + 40, sizeof(*w));
	size_t i;

	ck_assert_ptr_nonnull(w);
	memcpy(w, world, nworld * sizeof(*w));
	for (i = 0; i < nworld; i++) {
		deleted[i] = i % 17 == 9;
		if (i % 11 == 4)
			gen_place(&w[i], world[i].id, 0.05);
	}
	for (i = 0; i < 40; i++)
		gen_place(&w[nworld + i], 900000 + (int64_t)i, 0.05);
	*n = nworld + 40;
	return w;
}

/* The changes of w whose world index i has i % 3 == part (new places by
 * their own index), as the loader applies them: one snapshot more. */
static struct snapshot *
apply_part(struct snapshot *old, const struct tplace *w, size_t n,
    const bool *deleted, int part)
{
	static int64_t ids[NPLACES + 40];
	struct snap_builder *b;
	struct snapshot *s;
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		if (i % 3 == (size_t)part && (i >= nworld || i % 11 == 4 ||
		    deleted[i]))
			ids[k++] = w[i].id;
	b = snap_delta_builder(old, ids, k);
	ck_assert_ptr_nonnull(b);
	for (i = 0; i < n; i++)
		if (i % 3 == (size_t)part && (i >= nworld || i % 11 == 4) &&
		    (i >= nworld || !deleted[i]))
			add_tplace(b, &w[i]);
	s = snap_with_delta(old, b, ids, k);
	ck_assert_ptr_nonnull(s);
	return s;
}

/* rank() on a and b find the same places, total and scores within tol. */
static bool
near_ranking(const struct snapshot *a, const struct snapshot *b,
    const struct rank_query *q, double tol)
{
	static struct rank_result ra[RANK_MAX_WINDOW], rb[RANK_MAX_WINDOW];
	struct rank_query all = *q;
	size_t ta, tb;
	int na, nb, i, j;

	all.offset = 0;
	all.limit = RANK_MAX_WINDOW;
	na = rank(a, &all, ra, RANK_MAX_WINDOW, &ta);
	nb = rank(b, &all, rb, RANK_MAX_WINDOW, &tb);
	if (na != nb || ta != tb || ta > RANK_MAX_WINDOW)
		return na == nb && ta == tb;
	for (i = 0; i < na; i++) {
		for (j = 0; j < nb && rb[j].id != ra[i].id; j++)
			;
		if (j == nb || fabs(ra[i].score - rb[j].score) > tol ||
		    ra[i].distance_m != rb[j].distance_m)
			return false;
	}
	return true;
}

/* rank() on s agrees with every place index judged one by one. */
static void
check_by_index(const struct snapshot *s, const struct rank_query *q)
{
	static struct rank_result got[RANK_MAX_WINDOW];
	struct rank_ctx *c = rank_ctx_new(s, q);
	struct rank_result r;
	size_t i, n = 0, total;
	int k;

	ck_assert_ptr_nonnull(c);
	for (i = 0; i < snap_nplaces(s); i++)
		if (rank_ctx_eval(c, (uint32_t)i, &r, false)) {
			ck_assert_int_eq(snap_find(s, r.id), (int64_t)i);
			refall[n++] = r;
		}
	rank_ctx_free(c);
	ref_sort = q->sort;
	qsort(refall, n, sizeof(*refall), ref_cmp);
	k = rank(s, q, got, RANK_MAX_WINDOW, &total);
	ck_assert(total == n || (total < n &&
	    total > (size_t)q->offset + q->limit));
	ck_assert_int_eq(k, (int)(n > q->offset ? (n - q->offset < q->limit ?
	    n - q->offset : q->limit) : 0));
	for (i = 0; i < (size_t)k; i++)
		ck_assert_int_eq(got[i].id, refall[q->offset + i].id);
}

/*
 * Changed places in an overlay, applied in three steps as the loader
 * chains them, answer like a full load of the changed data: the same
 * results exactly without q (every score is the place's own), and with q
 * the same places with scores close (the text statistics still count the
 * hidden versions); rank() agrees with judging each index; the overlay
 * folded in by a copy answers exactly as the full load; offer flags reach
 * the delta's places; the snapshots before keep their own answers.
 */
START_TEST(test_overlay)
{
	static bool deleted[NPLACES];
	static int64_t dids[NPLACES + 40];
	struct snapshot *s0, *s1, *s2, *s3, *full, *folded, *lit;
	struct snap_offer_set set[1];
	struct tplace *w;
	struct snap_builder *b;
	size_t n, i, nd, exact = 0, textq = 0;
	struct qbuf qb;

	w = changed_world(&n, deleted);
	full = build_places(w, n, deleted);
	s0 = snap_ref(wsnap);
	s1 = apply_part(s0, w, n, deleted, 0);
	s2 = apply_part(s1, w, n, deleted, 1);
	s3 = apply_part(s2, w, n, deleted, 2);
	ck_assert_ptr_eq(s3->base, wsnap);
	ck_assert_uint_eq(snap_nplaces(s3) - snap_gone_places(s3),
	    snap_nplaces(full));
	for (i = 0; i < n; i++) {
		if (i < nworld && deleted[i]) {
			ck_assert_int_eq(snap_find(s3, w[i].id), -1);
			ck_assert_int_ge(snap_find(s0, w[i].id), 0);
		} else if (i >= nworld || i % 11 == 4) {
			ck_assert_int_ge(snap_find(s3, w[i].id),
			    (int64_t)s3->nplaces);
		} else {
			ck_assert_int_eq(snap_find(s3, w[i].id),
			    snap_find(s0, w[i].id));    /* still the base's */
		}
	}
	snap_unref(s1);
	for (i = 0; i < NQUERIES; i++) {
		gen_query(&qb);
		check_by_index(s3, &qb.q);
		if (qb.q.q == NULL) {
			ck_assert_msg(same_ranking(s3, full, &qb.q), "query %zu: "
			    "the overlay ranks unlike a full load", i);
			exact++;
		} else {
			ck_assert_msg(near_ranking(s3, full, &qb.q, 0.03),
			    "query %zu (q=%s): the overlay finds other places "
			    "than a full load", i, qb.q.q);
			textq++;
		}
		ck_assert_msg(same_ranking(s0, wsnap, &qb.q), "query %zu: "
		    "the snapshot before the overlay changed", i);
	}
	ck_assert_uint_gt(exact, NQUERIES / 2);
	ck_assert_uint_gt(textq, NQUERIES / 5);
	/* folding it in: a copy without what it hides, the delta read again */
	for (i = 0, nd = 0; i < snap_delta_places(s3); i++)
		dids[nd++] = snap_place_id(s3, s3->nplaces + (uint32_t)i);
	b = snap_builder_from(s3, dids, nd);
	ck_assert_ptr_nonnull(b);
	for (i = 0; i < n; i++)
		if ((i >= nworld || i % 11 == 4) && (i >= nworld || !deleted[i]))
			add_tplace(b, &w[i]);
	folded = snap_build(b);
	ck_assert_ptr_nonnull(folded);
	ck_assert_uint_eq(snap_delta_places(folded), 0);
	for (i = 0; i < NQUERIES / 4; i++) {
		gen_query(&qb);
		ck_assert_msg(same_ranking(folded, full, &qb.q), "query %zu: "
		    "the folded overlay ranks unlike a full load", i);
	}
	/* an offer flag of a place in the delta */
	set[0].place = (uint32_t)snap_find(s3, 900000);
	set[0].on = !snap_offer_at(s3, set[0].place);
	lit = snap_with_offers(s3, set, 1);
	ck_assert_ptr_nonnull(lit);
	ck_assert(snap_offer_at(lit, set[0].place) == set[0].on);
	ck_assert(snap_offer_at(s3, set[0].place) != set[0].on);
	ck_assert_ptr_ne(lit->delta, s3->delta);
	set[0].place = snap_nplaces(s3);
	ck_assert_ptr_null(snap_with_offers(s3, set, 1));
	snap_unref(s0);
	snap_unref(s2);
	snap_unref(s3);         /* lit holds the base and its own delta */
	ck_assert_int_ge(snap_find(lit, 900001), (int64_t)lit->nplaces);
	snap_unref(lit);
	snap_unref(folded);
	snap_unref(full);
	free(w);
}
END_TEST

/*
 * Deleting every place of the overlay leaves an empty delta that hides
 * them; a query finds nothing of them and the rest as before.
 */
START_TEST(test_overlay_deletes)
{
	static int64_t ids[NPLACES];
	struct snap_builder *b;
	struct snapshot *s;
	struct qbuf qb;
	size_t i, k = 0;

	for (i = 0; i < nworld; i += 5)
		ids[k++] = world[i].id;
	b = snap_delta_builder(wsnap, ids, k);
	ck_assert_ptr_nonnull(b);
	s = snap_with_delta(wsnap, b, ids, k);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(snap_delta_places(s), 0);
	ck_assert_uint_eq(snap_gone_places(s), k);
	for (i = 0; i < NQUERIES / 4; i++) {
		gen_query(&qb);
		check_by_index(s, &qb.q);
	}
	for (i = 0; i < k; i++)
		ck_assert_int_eq(snap_find(s, ids[i]), -1);
	snap_unref(s);
}
END_TEST

/* An offer's place gets the boost and the reason; a delta that takes it
 * away takes both away, and the snapshot before it keeps them. */
START_TEST(test_offer_delta_reason)
{
	struct snap_builder *b = snap_builder_new();
	struct snap_place_in p;
	struct snap_offer_set set;
	struct snapshot *s, *d;
	struct rank_query q;
	struct rank_result r[2];
	static const char *const geo[] = { "georgian" };
	size_t total;

	ck_assert_int_eq(snap_add_city(b, "tbilisi", 240), 0);
	p = place_at(1, 0, 41.7, 44.8);
	p.has_active_offer = true;
	ck_assert_int_eq(snap_add_place(b, &p), 0);
	p = place_at(2, 0, 41.7, 44.8);
	ck_assert_int_eq(snap_add_place(b, &p), 1);
	ck_assert_ptr_nonnull(s = snap_build(b));
	rank_query_init(&q);
	q.lat = 41.7;
	q.lon = 44.8;
	q.cuisines = geo;
	q.ncuisines = 1;
	ck_assert_int_eq(rank(s, &q, r, 2, &total), 2);
	ck_assert_int_eq(r[0].id, 1);
	ck_assert_uint_eq(r[0].nmatched, 1);
	ck_assert_str_eq(r[0].matched[0], "offer");
	set.place = 0;
	set.on = false;
	ck_assert_ptr_nonnull(d = snap_with_offers(s, &set, 1));
	ck_assert_int_eq(rank(d, &q, r, 2, &total), 2);
	ck_assert_int_eq(r[0].id, 1);           /* a tie now: by id */
	ck_assert_uint_eq(r[0].nmatched, 0);
	ck_assert(r[0].score == r[1].score);
	ck_assert_int_eq(rank(s, &q, r, 2, &total), 2);
	ck_assert_uint_eq(r[0].nmatched, 1);
	snap_unref(s);
	snap_unref(d);
}
END_TEST

START_TEST(test_builder_errors)
{
	struct snap_builder *b = snap_builder_new();
	struct snap_hours bad;
	struct snap_place_in p;
	struct snapshot *s;
	int c = snap_add_city(b, "moscow", 180);

	ck_assert_int_eq(snap_add_city(b, "mars", 24 * 60), -1);
	p = place_at(1, c, 55.75, 37.62);
	ck_assert_int_eq(snap_add_place(b, &p), 0);
	ck_assert_int_eq(snap_add_place(b, &p), -1);
	ck_assert_int_eq(errno, EEXIST);
	p = place_at(2, c + 1, 55.75, 37.62);
	ck_assert_int_eq(snap_add_place(b, &p), -1);
	ck_assert_int_eq(errno, EINVAL);
	p = place_at(2, c, 95, 37.62);
	ck_assert_int_eq(snap_add_place(b, &p), -1);
	p = place_at(2, c, 55.75, 37.62);
	p.rating = 5.5;
	ck_assert_int_eq(snap_add_place(b, &p), -1);
	p.rating = NAN;
	memset(&bad, 0, sizeof(bad));
	bad.n[3] = 1;
	bad.iv[3][0] = (struct snap_interval){ 1500, 1600 };  /* opens at 25:00 */
	p.hours = &bad;
	ck_assert_int_eq(snap_add_place(b, &p), -1);
	ck_assert_int_eq(errno, EINVAL);
	p.hours = NULL;
	ck_assert_int_eq(snap_add_place(b, &p), 1);
	ck_assert_int_eq(snap_add_menu_item(b, 3, "Soup"), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(snap_add_menu_item(b, 2, "Soup"), 0);
	s = snap_build(b);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(snap_find(s, 2), 1);
	ck_assert_int_eq(snap_find(s, 3), -1);
	snap_free(s);
}
END_TEST

/* --- what people type ------------------------------------------------------ */

/* A street of places 100 m apart, each with the words the table asks. */
static const struct {
	int64_t id;
	const char *name, *desc, *item;
} street[] = {
	{ 1, "Café Pushkin", "old Moscow", "Crème brûlée" },
	{ 2, "La Belle Époque", "French bistro", "Croissant" },
	{ 3, "Грузинский дворик", NULL, "Хачапури по-аджарски" },
	{ 4, "Tbilisi", "Georgian", "Khachapuri Imeruli" },
	{ 5, "Napoli", NULL, "Pizza Margherita" },
	{ 6, "Dim Sum House", NULL, "Shrimp dumpling" },
	{ 7, "Bear Pub", "craft beer", "Fish and chips" },
	{ 8, "Piazza Rossa", "espresso", "Tiramisu" },
	{ 9, "Пельменная №1", NULL, "Пельмени" },
};

/* q -> the places it finds (in any order), and a reason each must give */
static const struct {
	const char *q;
	int64_t ids[4];
	const char *reason;
} typed[] = {
	{ "cafe", { 1 }, "name" }, { "café", { 1 }, "name" },
	{ "CAFÉ", { 1 }, "name" }, { "epoque", { 2 }, "name" },
	{ "Époque", { 2 }, "name" },
	{ "creme brulee", { 1 }, "menu: Crème brûlée" },
	{ "crème brûlée", { 1 }, "menu: Crème brûlée" },
	{ "khachapuri", { 3, 4 }, NULL }, { "хачапури", { 3, 4 }, NULL },
	{ "ХАЧАПУРИ", { 3, 4 }, NULL },
	{ "pizzas", { 5 }, "menu: Pizza Margherita" },
	{ "pizza", { 5 }, "menu: Pizza Margherita" },   /* not Piazza */
	{ "dumplings", { 6 }, "menu: Shrimp dumpling" },
	{ "piza", { 5 }, "typo: piza -> pizza" },
	{ "kachapuri", { 3, 4 }, "typo: kachapuri -> khachapuri" },
	{ "hachapuri", { 3, 4 }, "typo: hachapuri -> khachapuri" },
	{ "khachapury", { 3, 4 }, NULL },      /* its English stem: -i */
	{ "tiramsiu", { 8 }, "typo: tiramsiu -> tiramisu" },
	{ "pelmeni", { 9 }, "menu: Пельмени" },
	{ "пельменей", { 9 }, "name" },         /* by stem, both fields */
	{ "chip", { 7 }, "menu: Fish and chips" },      /* a stem */
	{ "beet", { 0 }, NULL },    /* 4 letters: no typo to beer or bear */
	{ "pza", { 0 }, NULL },
	{ "nothingmatches", { 0 }, NULL },
};

static struct snapshot *
street_build(void)
{
	struct snap_builder *b = snap_builder_new();
	struct snap_place_in p;
	struct snapshot *s;
	double m = 1.0 / 111195.0;
	size_t i;
	int c;

	ck_assert_ptr_nonnull(b);
	c = snap_add_city(b, "moscow", 180);
	for (i = 0; i < sizeof(street) / sizeof(street[0]); i++) {
		p = place_at(street[i].id, c, 55.75 + 100.0 * (double)i * m,
		    37.62);
		p.name = street[i].name;
		p.description = street[i].desc;
		ck_assert_int_ge(snap_add_place(b, &p), 0);
		ck_assert_int_eq(snap_add_menu_item(b, street[i].id,
		    street[i].item), 0);
	}
	s = snap_build(b);
	ck_assert_ptr_nonnull(s);
	return s;
}

static bool
has_reason(const struct rank_result *r, const char *reason)
{
	unsigned k;

	for (k = 0; k < r->nmatched; k++)
		if (strcmp(r->matched[k], reason) == 0 ||
		    (strcmp(reason, "name") == 0 &&
		    strncmp(r->matched[k], "name~: ", 7) == 0))
			return true;       /* "name~: Café (accent)" is a name */
	return false;
}

/* Ranks every q of typed[] on s with an (NULL: made per call), but the
 * place drop; checks what each finds. */
static void
check_typed(const struct snapshot *s, struct analyzer *an, int64_t drop,
    struct rank_result (*res)[10], int *nres)
{
	struct rank_query q;
	size_t i, k, want, total;
	int n, j;

	for (i = 0; i < sizeof(typed) / sizeof(typed[0]); i++) {
		rank_query_init(&q);
		q.lat = 55.75;
		q.lon = 37.62;
		q.q = typed[i].q;
		q.an = an;
		n = rank(s, &q, res[i], 10, &total);
		for (want = 0, k = 0; k < 4 && typed[i].ids[k] != 0; k++)
			want += typed[i].ids[k] != drop;
		ck_assert_msg(n == (int)want, "%s: %d places, want %zu",
		    typed[i].q, n, want);
		for (j = 0; j < n; j++) {
			for (k = 0; k < 4 && typed[i].ids[k] != res[i][j].id;
			    k++)
				;
			ck_assert_msg(k < 4, "%s: place %lld", typed[i].q,
			    (long long)res[i][j].id);
			ck_assert_msg(typed[i].reason == NULL ||
			    has_reason(&res[i][j], typed[i].reason),
			    "%s: place %lld: no \"%s\" (first: \"%s\")",
			    typed[i].q, (long long)res[i][j].id,
			    typed[i].reason, res[i][j].nmatched > 0 ?
			    res[i][j].matched[0] : "");
		}
		nres[i] = n;
	}
}

#define NTYPED (sizeof(typed) / sizeof(typed[0]))

static struct rank_result typed_res[NTYPED][10];
static int typed_n[NTYPED];

START_TEST(test_typed)
{
	struct snapshot *s = street_build(), *f;
	struct analyzer *an = analyzer_new();
	struct snap_builder *b;
	const int64_t drop = 8;

	ck_assert_ptr_nonnull(an);
	check_typed(s, an, 0, typed_res, typed_n);
	check_typed(s, NULL, 0, typed_res, typed_n);
	/* a fold keeps the stems of the keys it keeps */
	b = snap_builder_from(s, &drop, 1);
	ck_assert_ptr_nonnull(b);
	f = snap_build(b);
	ck_assert_ptr_nonnull(f);
	check_typed(f, an, drop, typed_res, typed_n);
	snap_unref(f);
	analyzer_free(an);
	snap_unref(s);
}
END_TEST

/* Exact > stem > typo: one word, three places, one way each. */
START_TEST(test_typed_order)
{
	struct snap_builder *b = snap_builder_new();
	static const char *const names[] = { "Pizzeria Pizzo", "Pizzas",
	    "Pizza" };
	struct snap_place_in p;
	struct rank_query q;
	struct snapshot *s;
	size_t total, i;
	int c = snap_add_city(b, "moscow", 180);

	for (i = 0; i < 3; i++) {
		p = place_at((int64_t)i + 1, c, 55.75, 37.62);
		p.name = names[i];
		ck_assert_int_ge(snap_add_place(b, &p), 0);
	}
	s = snap_build(b);
	rank_query_init(&q);
	q.lat = 55.75;
	q.lon = 37.62;
	q.q = "pizza";              /* known: Pizzo is no typo of it */
	ck_assert_int_eq(rank(s, &q, out, 10, &total), 2);
	ck_assert_int_eq(out[0].id, 3);
	ck_assert_int_eq(out[1].id, 2);         /* by stem: below */
	ck_assert(out[0].score > out[1].score);
	q.q = "pizzo pizza";
	ck_assert_int_eq(rank(s, &q, out, 10, &total), 3);
	q.q = "pizzaa";             /* unknown: pizza and pizzas by typo */
	ck_assert_int_eq(rank(s, &q, out, 10, &total), 2);
	ck_assert_int_eq(out[0].id, 2);         /* a tie: by id */
	ck_assert_str_eq(out[0].matched[1], "typo: pizzaa -> pizzas");
	ck_assert_str_eq(out[1].matched[1], "typo: pizzaa -> pizza");
	q.q = "pizz";               /* a prefix: all three, equally */
	ck_assert_int_eq(rank(s, &q, out, 10, &total), 3);
	snap_unref(s);
}
END_TEST

/* --- several threads ---------------------------------------------------------- */

#define RANK_THREADS    3

struct rank_thread {
	const struct snapshot *s;
	bool own;                   /* an analyzer of its own, or none */
	struct rank_result res[NTYPED][10];
	int n[NTYPED];
	size_t diff;
};

static bool
same_result(const struct rank_result *a, const struct rank_result *b)
{
	return a->id == b->id && a->score == b->score &&
	    a->nmatched == b->nmatched && (a->nmatched == 0 ||
	    strcmp(a->matched[0], b->matched[0]) == 0);
}

static void *
rank_thread(void *arg)
{
	struct rank_thread *t = arg;
	struct analyzer *an = t->own ? analyzer_new() : NULL;
	struct rank_query q;
	size_t i, round, total;
	int j;

	for (round = 0; round < 50; round++) {
		for (i = 0; i < NTYPED; i++) {
			rank_query_init(&q);
			q.lat = 55.75;
			q.lon = 37.62;
			q.q = typed[i].q;
			q.an = an;
			t->n[i] = rank(t->s, &q, t->res[i], 10, &total);
			t->diff += t->n[i] != typed_n[i];
			for (j = 0; j < t->n[i] && j < typed_n[i]; j++)
				t->diff += !same_result(&t->res[i][j],
				    &typed_res[i][j]);
		}
	}
	analyzer_free(an);
	return NULL;
}

/* rank() on one snapshot from several threads at once, each with its own
 * analyzer or none: every answer as one thread alone found it. */
START_TEST(test_typed_threads)
{
	struct snapshot *s = street_build();
	struct rank_thread *t;
	pthread_t th[RANK_THREADS];
	size_t i;

	check_typed(s, NULL, 0, typed_res, typed_n);
	t = calloc(RANK_THREADS, sizeof(*t));
	ck_assert_ptr_nonnull(t);
	for (i = 0; i < RANK_THREADS; i++) {
		t[i].s = s;
		t[i].own = i > 0;
		ck_assert_int_eq(pthread_create(&th[i], NULL, rank_thread,
		    &t[i]), 0);
	}
	for (i = 0; i < RANK_THREADS; i++) {
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
		ck_assert_uint_eq(t[i].diff, 0);
	}
	free(t);
	snap_unref(s);
}
END_TEST

START_TEST(test_antimeridian)
{
	struct snap_builder *b = snap_builder_new();
	struct snap_place_in p;
	struct rank_query q;
	struct snapshot *s;
	size_t total;
	int c = snap_add_city(b, "suva", 720);

	p = place_at(1, c, -18.1, 179.999);
	ck_assert_int_ge(snap_add_place(b, &p), 0);
	p = place_at(2, c, -18.1, -179.999);
	ck_assert_int_ge(snap_add_place(b, &p), 0);
	p = place_at(3, c, -18.1, 180.0);
	ck_assert_int_ge(snap_add_place(b, &p), 0);
	s = snap_build(b);
	rank_query_init(&q);
	q.lat = -18.1;
	q.lon = -179.9995;
	q.radius_m = 500;
	ck_assert_str_eq(ids_of(s, &q), "1,2,3,");
	q.lon = 179.9995;
	ck_assert_str_eq(ids_of(s, &q), "1,2,3,");
	(void)total;
	snap_unref(s);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("rank");
	TCase *tc = tcase_create("world");
	TCase *hand = tcase_create("handmade");

	tcase_add_unchecked_fixture(tc, world_setup, world_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_bruteforce);
	tcase_add_test(tc, test_text_by_grid);
	tcase_add_test(hand, test_total_capped);
	tcase_add_test(tc, test_nearest_first);
	tcase_add_test(tc, test_cuisine_lift_world);
	tcase_add_test(tc, test_khachapuri);
	tcase_add_test(tc, test_cyrillic);
	tcase_add_test(tc, test_sort_orders);
	tcase_add_test(tc, test_paging);
	tcase_add_test(tc, test_refcount);
	tcase_add_test(tc, test_offer_delta);
	tcase_add_test(tc, test_overlay);
	tcase_add_test(tc, test_overlay_deletes);
	suite_add_tcase(s, tc);
	tcase_add_test(hand, test_words_as_tokens);
	tcase_add_test(hand, test_open_hours);
	tcase_add_test(hand, test_cuisine_lift);
	tcase_add_test(hand, test_q_fields);
	tcase_add_test(hand, test_q_words_together);
	tcase_add_test(hand, test_name_how);
	tcase_add_test(hand, test_builder_errors);
	tcase_add_test(hand, test_offer_delta_reason);
	tcase_add_test(hand, test_antimeridian);
	tcase_add_test(hand, test_typed);
	tcase_add_test(hand, test_typed_order);
	tcase_add_test(hand, test_typed_threads);
	suite_add_tcase(s, hand);
	return check_run(s);
}
