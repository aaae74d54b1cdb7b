/*
 * score.c: filters, the scoring function and top-k (see score.h).
 *
 * Hard filters. A place is a result only when all of these hold:
 *   its distance d (haversine) is at most radius_m r;
 *   with min_price/max_price: its price level is known and within them;
 *   with min_rating: its rating is known and at least that;
 *   with open_now/open_at: its hours are known and it is open then
 *     (open_now in the place's city's time zone; an interval may run past
 *     midnight into the next day);
 *   with category (a list): it has one of them (any-of);
 *   with cuisine and cuisine_required: it has one of them;
 *   with q: at least one word of q matches a key (below, T) of its name,
 *     description, menu, cuisines or categories.
 *
 * Score, 0..1, for sort=best. With no preference at all (no category,
 * cuisine, price, rating, open or q) it is distance alone, D, so the
 * nearest come first. Otherwise
 *
 *   base  = 0.45 D + 0.25 R + 0.05 P + 0.15 C + 0.05 O + 0.05 F
 *   score = base                       without q
 *   score = 0.40 T + 0.60 base         with q
 *
 *   D = exp(-3 d / r)             1 at the point, 0.05 at the radius
 *   R = rating / 5                0.5 when the rating is null
 *   P = price fit                 1 inside the asked range, or with a
 *                                 known price when none is asked; 0.5 for
 *                                 an unknown price when none is asked
 *   C = cuisine                   1 when a preferred cuisine is the
 *                                 place's, or when none is preferred;
 *                                 else 0. Preferred: prefer_cuisines
 *                                 when given, else cuisines when they
 *                                 do not filter (cuisine_required off)
 *   O = open                      1 open at the asked time (open_now,
 *                                 open_at) or else now, 0 closed, 0.5
 *                                 unknown hours or no clock
 *   F = offer                     1 with an active offer
 *   T = text relevance, 0..1:
 *         T = A x G x sum_t idf(t) m(t) / sum_t idf(t)  over the words
 *             t of q, where A, all words: the share (by idf) of q's words
 *             the place has at all, so that all words rank above some;
 *             G, together: 1 when q has one word or all its words meet
 *             one piece of the place's text (its name, description or
 *             tags, or one menu item), else 0.6, so that "dog friendly"
 *             in a description ranks above "Hot Dog" on the menu and
 *             "friendly" elsewhere,
 *         m(t) = min(1, (3 s_name + 2 s_menu + 1.5 s_tags + 1 s_desc)
 *                / 3): name > dish > cuisine or category > description;
 *                s_tags is the place's cuisines and categories as one
 *                field ("fast_food" read as "fast food"),
 *         s_f  = the best, over the keys k that t matches in field f,
 *                of w(k) x BM25 term saturation of k in f (0 if none):
 *                tf (k1 + 1) / (tf + k1 (1 - b + b len / avglen_f)),
 *                k1 = 1.2, b = 0.75; for the menu, the best single item;
 *         w(k) = how k matched t:
 *                1.0  exact: k is t's key ("cafe" for café, Café, CAFE;
 *                     "khachapuri" for хачапури);
 *                0.8  stem: k is t's stem, or a key of a word with t's
 *                     stem ("pizzas" finds "pizza", "dumplings"
 *                     "dumpling", "пельменей" "пельмени");
 *                0.6  prefix: t is q's last word, of 3 characters or
 *                     more, and k starts with its key ("khach" finds
 *                     "khachapuri");
 *                0.6  typo: t, of a-z only, matches no key exactly,
 *                     by stem or as a prefix anywhere in the snapshot
 *                     (base and overlay), and k is one of
 *                     its 16 nearest keys (optimal string alignment:
 *                     an insertion, deletion, substitution or swap of
 *                     neighbours is one edit) within one edit when the
 *                     longer of the two has 5 letters or more, two from
 *                     9, none for a word of 3 letters or fewer ("piza"
 *                     finds "pizza", "kachapuri" "khachapuri"; "beet"
 *                     does not find "beer"). A word the index knows is
 *                     taken as meant: "pizza" never finds "piazza";
 *         idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5)), N places, df
 *                the places of each key t matches, summed.
 *       Keys come from analyze.h, for the text and for q alike: case
 *       and accents folded, Cyrillic in ICAO 9303 Latin, stems by
 *       Snowball (English for Latin words, Russian for Cyrillic ones).
 *
 * Ties: sort=best by score desc, distance, id; sort=distance by distance,
 * id; sort=rating by rating desc with nulls last, distance, id.
 *
 * Candidates. With q, the places its words match near the point; without
 * q but with a filter on tags that few places have, the places of those
 * tags near the point (the snapshot keeps each tag's places); else a walk
 * of the grid, nearest cells first. Candidates are looked at in rings
 * around the point, nearest first, and once the top-k is full those past
 * the distance where none could enter it are only counted, most often
 * without a haversine; with q, a place is folded into its T only when its
 * bound could enter.
 *
 * Total: the places passing. The candidates of q or of tags are all
 * counted: exact. A nearest-first walk whose top-k no farther place can
 * enter counts on without scoring, until it has counted past
 * RANK_TOTAL_CAP or looked at RANK_COUNT_VISITS places that way; it then
 * stops, and the total is a lower bound (rank_counted()'s *exact).
 *
 * A snapshot with an overlay (snapshot.h) is ranked in two parts, its
 * base (less the places the overlay hides) and its delta, each with a
 * context of its own, into one top-k; a word's idf counts its places in
 * both parts (hidden ones too) over the places that rank, and both parts
 * weigh a field's length against the base's average.
 */
#include "ranker/score.h"
#include "ranker/small_angle.h"
#include "common/words.h"

#include <errno.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEG     (M_PI / 180.0)
#define SCATTERED   0.6         /* T of words spread over the place */

static const double field_weight[INDEX_NFIELDS] = {
	[INDEX_NAME] = 3.0, [INDEX_MENU] = 2.0, [INDEX_TAGS] = 1.5,
	[INDEX_DESC] = 1.0,
};

/*
 * How a key of the index matched a word of q, best first, and what a
 * posting of each kind weighs against an exact one.
 */
enum match_kind {
	MATCH_EXACT = 0,            /* the word's key */
	MATCH_STEM,                 /* a key of the same stem */
	MATCH_PREFIX,               /* a key that starts with the last word */
	MATCH_TYPO,                 /* a key within the edits allowed */
	MATCH_KINDS
};

static const double match_weight[MATCH_KINDS] = {
	[MATCH_EXACT] = 1.0, [MATCH_STEM] = 0.8, [MATCH_PREFIX] = 0.6,
	[MATCH_TYPO] = 0.6,
};

#define TERM_TYPOS  16              /* typo keys of a word, nearest first */

struct term_key {
	uint32_t tok;               /* rank in the text index */
	uint8_t kind;               /* enum match_kind */
};

/* The keys a word of q matches in one part's text index, by rank. */
struct term_keys {
	struct term_key *k;
	size_t n, cap;
};

struct text_match {
	uint32_t place;
	uint32_t item;              /* best menu item, or INDEX_NO_ITEM */
	uint32_t typo;              /* key a word matched by typo, or NO_TYPO */
	uint8_t typo_term;          /* ... that word */
	uint8_t name_kind;          /* the least exact of the words' best
	                               matches in the name */
	uint8_t name_terms;         /* 1 << each word found in the name */
	double rel;                 /* T */
	uint8_t fields;             /* 1 << enum index_field */
	bool folded;                /* the above are known (text_fold()) */
	uint32_t first, nhits;      /* its hits in the context's hits */
};

#define NO_TYPO     UINT32_MAX

struct text_hit {
	uint32_t place;
	uint32_t item;
	uint32_t tok;
	double tfn;
	uint8_t term;
	uint8_t field;
	uint8_t kind;
};

struct rank_ctx {
	const struct snapshot *s;
	const struct rank_query *q;
	uint32_t cat[RANK_MAX_TAGS], cui[RANK_MAX_TAGS];
	uint32_t pcui[RANK_MAX_TAGS];   /* the preferred cuisines */
	size_t ncat, ncui, npcui;
	bool prefer;                /* C counts: a cuisine is preferred */
	bool prefs;                 /* any preference: score is not D alone */
	bool filters;               /* passes() can refuse a place */
	bool text;                  /* q has words: T counts, and filters */
	double box_dlat, box_dlon;  /* degrees around the point: the circle's box */
	double coslat, sinlat;      /* of the point's latitude */
	size_t nterms;
	struct analyze_word words[RANK_MAX_TERMS];
	struct term_keys keys[RANK_MAX_TERMS];
	bool known[RANK_MAX_TERMS];     /* a key, not a typo's, matched it */
	double idf[RANK_MAX_TERMS], idfsum;
	uint64_t df[RANK_MAX_TERMS];    /* places with each word, here */
	struct text_match *tm;      /* by place, folded when first needed */
	size_t ntm;
	struct text_hit *hits;      /* q's postings near the point, by place */
	bool by_grid;               /* q's postings found through the grid */
	bool gone;                  /* s hides some of its places */
	uint32_t nbase;             /* s's own places; the delta's follow */
	struct rank_ctx *delta;     /* the same query on s's delta, or NULL */
	struct local_memo *lm;      /* after the context, in its allocation */
};

/*
 * The local day and minute of the last time and city asked: a query
 * judges opening hours at one time (open_at, or else now) and the places
 * around a point share a city, or a few, so the division by days is done
 * once per city rather than once per place.
 */
struct local_memo {
	int city;                   /* -1: none yet */
	int64_t t;
	int day, minute;
};

/* The haversine distance, the first point's cosine and sine given (a
 * query's point has them taken once). */
static double
haversine_cs(double lat1, double lon1, double coslat1, double sinlat1,
    double lat2, double lon2)
{
	double dp = (lat2 - lat1) * DEG, dl = (lon2 - lon1) * DEG, a, sp, sl;
	double coslat2;

	if (fabs(dp) < SMALL_RAD && fabs(dl) < SMALL_RAD) {     /* a < 0.005 */
		sp = sin_small(dp / 2);
		sl = sin_small(dl / 2);
		coslat2 = coslat1 * cos_small(dp) - sinlat1 * sin_small(dp);
		a = sp * sp + coslat1 * coslat2 * sl * sl;
		return 2.0 * INDEX_EARTH_R * asin_small(sqrt(a));
	}
	sp = sin(dp / 2);
	sl = sin(dl / 2);
	a = sp * sp + coslat1 * cos(lat2 * DEG) * sl * sl;
	if (a > 1.0)
		a = 1.0;
	return 2.0 * INDEX_EARTH_R * asin(sqrt(a));
}

double
rank_haversine(double lat1, double lon1, double lat2, double lon2)
{
	return haversine_cs(lat1, lon1, cos(lat1 * DEG), sin(lat1 * DEG),
	    lat2, lon2);
}

void
rank_query_init(struct rank_query *q)
{
	memset(q, 0, sizeof(*q));
	q->radius_m = 2000;
	q->min_rating = NAN;
	q->sort = RANK_SORT_BEST;
	q->limit = 10;
}

int
rank_query_check(const struct rank_query *q)
{
	if (!(q->lat >= -90 && q->lat <= 90 && q->lon >= -180 &&
	    q->lon <= 180 && q->radius_m > 0 &&
	    q->radius_m <= RANK_MAX_RADIUS_M))
		return -1;
	if (q->ncategories > RANK_MAX_TAGS || q->ncuisines > RANK_MAX_TAGS ||
	    q->nprefer > RANK_MAX_TAGS)
		return -1;
	if (q->min_price < 0 || q->min_price > 4 || q->max_price < 0 ||
	    q->max_price > 4 ||
	    (q->max_price > 0 && q->min_price > q->max_price))
		return -1;
	if (!isnan(q->min_rating) && !(q->min_rating >= 0 &&
	    q->min_rating <= 5))
		return -1;
	if (q->open == RANK_OPEN_AT_LOCAL && (q->open_day < 0 ||
	    q->open_day > 6 || q->open_minute < 0 || q->open_minute > 1439))
		return -1;
	if (q->open > RANK_OPEN_AT_LOCAL || q->sort > RANK_SORT_RATING)
		return -1;
	if (q->limit > RANK_MAX_WINDOW ||
	    q->offset > RANK_MAX_WINDOW - q->limit)
		return -1;
	return 0;
}

/* --- preparing a query ------------------------------------------------------ */

static size_t
resolve_tags(const struct intern *dict, const char *const *names, size_t n,
    uint32_t *out)
{
	size_t i, k = 0;
	int64_t id;

	for (i = 0; i < n; i++)
		if (names[i] != NULL &&
		    (id = index_intern_find(dict, names[i], strlen(names[i]))) >= 0)
			out[k++] = (uint32_t)id;
	return k;
}

static size_t
utf8_chars(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

/* The words of q, analysed as the index's text was; repeated keys count
 * once. -1 on ENOMEM (no analyzer given, nor one to be made). */
static int
query_words(const struct rank_query *q, struct analyze_word *w,
    size_t *nw)
{
	struct analyzer *an = q->an, *own = NULL;
	const char *s = q->q;
	size_t n = 0, i;

	*nw = 0;
	if (s == NULL || *s == '\0')
		return 0;
	if (an == NULL && (an = own = analyzer_new()) == NULL)
		return -1;
	while (n < RANK_MAX_TERMS && analyze_next(an, &s, &w[n])) {
		for (i = 0; i < n && strcmp(w[i].key, w[n].key) != 0; i++)
			;
		if (i == n)
			n++;
	}
	analyzer_free(own);
	*nw = n;
	return 0;
}

/* Adds key tok to a word's keys (duplicates are folded later). */
static int
term_add(struct term_keys *tk, uint32_t tok, enum match_kind kind)
{
	if (index_grow(&tk->k, &tk->cap, tk->n + 1, sizeof(*tk->k)) != 0)
		return -1;
	tk->k[tk->n].tok = tok;
	tk->k[tk->n++].kind = (uint8_t)kind;
	return 0;
}

static int
term_key_cmp(const void *a, const void *b)
{
	const struct term_key *x = a, *y = b;

	if (x->tok != y->tok)
		return x->tok < y->tok ? -1 : 1;
	return (x->kind > y->kind) - (x->kind < y->kind);
}

/* By rank, each key once with its best kind. */
static void
term_fold(struct term_keys *tk)
{
	size_t i, n = 0;

	if (tk->n == 0)
		return;
	qsort(tk->k, tk->n, sizeof(*tk->k), term_key_cmp);
	for (i = 0; i < tk->n; i++)
		if (n == 0 || tk->k[n - 1].tok != tk->k[i].tok)
			tk->k[n++] = tk->k[i];
	tk->n = n;
}

/* The keys of word w exactly, by stem and, last word, as a prefix. */
static int
term_keys(struct rank_ctx *c, size_t t, bool prefix)
{
	const struct text_index *ti = &c->s->text;
	const struct analyze_word *w = &c->words[t];
	struct term_keys *tk = &c->keys[t];
	const uint32_t *ranks;
	uint32_t lo, hi, r;
	size_t n, i;

	index_text_range(ti, w->key, w->keylen, false, &lo, &hi);
	for (r = lo; r < hi; r++)
		if (term_add(tk, r, MATCH_EXACT) != 0)
			return -1;
	index_text_range(ti, w->stem, w->stemlen, false, &lo, &hi);
	for (r = lo; r < hi; r++)
		if (term_add(tk, r, MATCH_STEM) != 0)
			return -1;
	n = index_text_stem(ti, w->stem, w->stemlen, &ranks);
	for (i = 0; i < n; i++)
		if (term_add(tk, ranks[i], MATCH_STEM) != 0)
			return -1;
	if (prefix) {
		index_text_range(ti, w->key, w->keylen, true, &lo, &hi);
		for (r = lo; r < hi; r++)
			if (term_add(tk, r, MATCH_PREFIX) != 0)
				return -1;
	}
	c->known[t] = tk->n > 0;
	term_fold(tk);
	return 0;
}

/* The words of q: the keys each matches, but typos. */
static int
ctx_terms(struct rank_ctx *c)
{
	const struct analyze_word *w;
	size_t t;
	bool prefix;

	for (t = 0; t < c->nterms; t++) {
		w = &c->words[t];
		prefix = t == c->nterms - 1 && utf8_chars(w->word,
		    w->wordlen) >= 3;
		if (term_keys(c, t, prefix) != 0)
			return -1;
	}
	return 0;
}

/*
 * A word that the index knows by neither its key nor its stem (nor, the
 * last word, as the start of a key: it may be typed still), in any part,
 * is taken as misspelt: the keys within the edits its length allows
 * match it too. A word the index knows is taken as meant.
 */
static int
ctx_typos(struct rank_ctx *c, const bool *known)
{
	const struct text_index *ti = &c->s->text;
	const struct analyze_word *w;
	uint32_t ranks[TERM_TYPOS];
	uint8_t dist[TERM_TYPOS];
	size_t t, n, i;

	for (t = 0; t < c->nterms; t++) {
		w = &c->words[t];
		if (known[t] || !w->spell)
			continue;
		n = index_text_typos(ti, w->key, w->keylen, ranks, dist,
		    TERM_TYPOS);
		for (i = 0; i < n; i++)
			if (term_add(&c->keys[t], ranks[i], MATCH_TYPO) != 0)
				return -1;
		term_fold(&c->keys[t]);
	}
	return 0;
}

/* The places with each word, here (a place with several of its keys
 * counts once per key, as a prefix's keys always did). */
static void
ctx_df(struct rank_ctx *c)
{
	const struct text_index *ti = &c->s->text;
	size_t t, i;

	for (t = 0; t < c->nterms; t++) {
		c->df[t] = 0;
		for (i = 0; i < c->keys[t].n; i++)
			c->df[t] += ti->df[c->keys[t].k[i].tok];
	}
}

/* The words' idf, from the places with them in both parts, over the
 * places that rank (the base's hidden ones still count in df). */
static void
ctx_idf(struct rank_ctx *c)
{
	uint64_t n = c->s->text.nplaces;
	size_t t;

	if (c->delta != NULL)
		n = n - c->s->ngone + c->delta->s->nplaces;
	for (t = 0; t < c->nterms; t++) {
		c->idf[t] = index_idf(n, c->df[t] +
		    (c->delta != NULL ? c->delta->df[t] : 0));
		c->idfsum += c->idf[t];
	}
	if (c->delta != NULL) {
		memcpy(c->delta->idf, c->idf, sizeof(c->idf));
		c->delta->idfsum = c->idfsum;
	}
}

/*
 * The box around the circle (as index_grid_query's): lat +- delta, and
 * unless the circle holds a pole, lon +- asin(sin(delta) / cos(lat)).
 */
static void
ctx_box(struct rank_ctx *c)
{
	const struct rank_query *q = c->q;
	double delta = q->radius_m / INDEX_EARTH_R;

	c->box_dlat = delta / DEG + 1e-9;
	if (fabs(q->lat) + c->box_dlat >= 90.0)
		c->box_dlon = 360.0;
	else
		c->box_dlon = asin(sin(delta) / cos(q->lat * DEG)) / DEG + 1e-9;
}

static bool
in_box(const struct rank_ctx *c, const struct index_point *p)
{
	double dlon = fabs(p->lon - c->q->lon);

	if (dlon > 180.0)
		dlon = 360.0 - dlon;
	return fabs(p->lat - c->q->lat) <= c->box_dlat && dlon <= c->box_dlon;
}

/*
 * Finding the postings of q's words near the point. A word of q is one
 * token, or several when it also matches as a prefix; a token's postings
 * cover the whole world, in place order. A snapshot numbers its places in
 * the grid's order, so the places of one grid row near the point are one
 * run of numbers: a search per row and token finds their postings (see
 * hits_by_grid). Only for rare words is a scan of all their postings
 * cheaper. Both ways find every posting of every place within the radius,
 * which is all that scoring looks at, and some beyond it, which the
 * distance filter drops.
 */
#define TEXT_GRID_MIN_POSTINGS  256     /* fewer: always scan */
/* the grid when its rows * tokens * 16 < postings: a search costs about
 * as much as reading 16 postings in a scan */
#define TEXT_GRID_RATIO         16

struct hits {
	struct text_hit *h;
	size_t n, cap;
};

static int
hit_add(const struct rank_ctx *c, struct hits *hs, const struct posting *p,
    size_t term, const struct term_key *k)
{
	struct text_hit *h;

	if (index_grow(&hs->h, &hs->cap, hs->n + 1, sizeof(*hs->h)) != 0)
		return -1;
	h = &hs->h[hs->n++];
	h->place = p->place;
	h->item = p->item;
	h->tok = k->tok;
	h->tfn = index_text_tfn(&c->s->text, p);
	h->term = (uint8_t)term;
	h->field = p->field;
	h->kind = k->kind;
	return 0;
}

/* Every posting of the words in the box around the circle. */
static int
hits_by_scan(const struct rank_ctx *c, struct hits *hs)
{
	const struct text_index *ti = &c->s->text;
	const struct term_key *k;
	size_t t, j;
	uint32_t i;

	for (t = 0; t < c->nterms; t++) {
		for (j = 0; j < c->keys[t].n; j++) {
			k = &c->keys[t].k[j];
			for (i = ti->start[k->tok]; i < ti->start[k->tok + 1];
			    i++)
				if (in_box(c, &c->s->pos[ti->post[i].place]) &&
				    hit_add(c, hs, &ti->post[i], t, k) != 0)
					return -1;
		}
	}
	return 0;
}

/* Runs of place numbers [first, end), one per row of the grid. */
struct ranges {
	uint32_t (*r)[2];
	size_t n, cap;
	bool failed;
};

static void
collect_range(void *arg, uint32_t first, uint32_t end)
{
	struct ranges *rs = arg;

	if (index_grow(&rs->r, &rs->cap, rs->n + 1, sizeof(*rs->r)) != 0) {
		rs->failed = true;
		return;
	}
	rs->r[rs->n][0] = first;
	rs->r[rs->n++][1] = end;
}

static int
range_cmp(const void *a, const void *b)
{
	const uint32_t *x = a, *y = b;

	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* The rows of the grid's cells in the box around the circle, as ranges
 * of place indexes in order; -1 (nothing held) on ENOMEM. */
static int
box_rows(const struct rank_ctx *c, struct ranges *rs)
{
	index_grid_ranges(&c->s->grid, c->q->lat, c->q->lon, c->q->radius_m,
	    collect_range, rs);
	if (rs->failed) {
		free(rs->r);
		rs->r = NULL;
		return -1;
	}
	/* in order unless the box crosses the antimeridian */
	if (rs->n > 1)
		qsort(rs->r, rs->n, sizeof(*rs->r), range_cmp);
	return 0;
}

/*
 * The first of the elements [i, end) of an array whose uint32_t key (at
 * off in each element of size bytes) is >= key, the keys ascending:
 * galloping from i, then a binary search. Static and called with
 * constants, so each use compiles to its own loop.
 */
static size_t
gallop(const void *base, size_t size, size_t off, size_t i, size_t end,
    uint32_t key)
{
#define GALLOP_KEY(k) \
	(*(const uint32_t *)(const void *)((const char *)base + (k) * size + off))
	size_t step = 1, lo = i, hi, mid;

	while (i < end && GALLOP_KEY(i) < key) {
		lo = i + 1;
		i = end - i > step ? i + step : end;
		step *= 2;
	}
	hi = i;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (GALLOP_KEY(mid) < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
#undef GALLOP_KEY
}

/* The first posting in [i, end) whose place is >= place. */
static uint32_t
post_seek(const struct posting *post, uint32_t i, uint32_t end,
    uint32_t place)
{
	return (uint32_t)gallop(post, sizeof(*post),
	    offsetof(struct posting, place), i, end, place);
}

/*
 * The postings of the places of the grid's cells around the point, word
 * by word. A snapshot numbers its places in the grid's order, so the
 * places of one row's cells within the box are one run of numbers: each
 * token's postings (in place order) are searched once per row, from where
 * the last row left them, and read along while they are in its run.
 */
static int
hits_by_grid(const struct rank_ctx *c, const struct ranges *rs,
    struct hits *hs)
{
	const struct text_index *ti = &c->s->text;
	const struct term_key *tk;
	uint32_t i, end;
	size_t t, j, k;

	for (t = 0; t < c->nterms; t++) {
		for (j = 0; j < c->keys[t].n; j++) {
			tk = &c->keys[t].k[j];
			i = ti->start[tk->tok];
			end = ti->start[tk->tok + 1];
			for (k = 0; k < rs->n && i < end; k++)
				for (i = post_seek(ti->post, i, end,
				    rs->r[k][0]); i < end &&
				    ti->post[i].place < rs->r[k][1]; i++)
					if (hit_add(c, hs, &ti->post[i], t,
					    tk) != 0)
						return -1;
		}
	}
	return 0;
}

/*
 * Whether to find q's postings through the grid's rows (see hits_by_grid)
 * rather than by scanning them all: when the searches, one per row and
 * token, cost less than the scan, which they do for any common word.
 */
static bool
text_by_grid(const struct rank_ctx *c, const struct ranges *rs)
{
	const struct text_index *ti = &c->s->text;
	size_t n = 0, ntok = 0, t, j;
	uint32_t tok;

	for (t = 0; t < c->nterms; t++) {
		for (j = 0; j < c->keys[t].n; j++) {
			tok = c->keys[t].k[j].tok;
			n += ti->start[tok + 1] - ti->start[tok];
		}
		ntok += c->keys[t].n;
	}
	return n >= TEXT_GRID_MIN_POSTINGS &&
	    rs->n * ntok * TEXT_GRID_RATIO < n;
}

/* Merges the runs a[0..m) and a[m..n), each in place order, into out;
 * equal places keep their order. */
static void
hits_merge(const struct text_hit *a, size_t m, size_t n,
    struct text_hit *out)
{
	size_t i = 0, j = m, k = 0;

	while (i < m && j < n)
		out[k++] = a[j].place < a[i].place ? a[j++] : a[i++];
	while (i < m)
		out[k++] = a[i++];
	while (j < n)
		out[k++] = a[j++];
}

/*
 * Puts the hits in place order. They come as runs already in place order
 * (a token's postings are in place order, and so is a walk of the grid):
 * the runs are merged two by two, n log(runs) rather than a sort's
 * n log n. Only grouping by place matters to text_fold(). -1 on ENOMEM.
 */
static int
hits_by_place(struct hits *hs)
{
	struct text_hit *src = hs->h, *dst, *t;
	size_t *run, nrun = 0, i, r, w;

	if ((run = malloc((hs->n + 2) * sizeof(*run))) == NULL)
		return -1;
	for (i = 0; i < hs->n; i++)
		if (i == 0 || src[i].place < src[i - 1].place)
			run[nrun++] = i;
	if (nrun <= 1) {
		free(run);
		return 0;
	}
	if ((dst = malloc(hs->cap * sizeof(*dst))) == NULL) {
		free(run);
		return -1;
	}
	run[nrun] = hs->n;
	while (nrun > 1) {
		for (r = 0, w = 0; r < nrun; r += 2, w++) {
			if (r + 1 < nrun)
				hits_merge(src + run[r], run[r + 1] - run[r],
				    run[r + 2] - run[r], dst + run[r]);
			else
				memcpy(dst + run[r], src + run[r],
				    (run[r + 1] - run[r]) * sizeof(*dst));
			run[w] = run[r];
		}
		run[w] = hs->n;
		nrun = w;
		t = src;
		src = dst;
		dst = t;
	}
	free(dst);
	free(run);
	hs->h = src;
	return 0;
}

/* The postings of q's words of places near the point, by place. */
static struct text_hit *
ctx_hits(struct rank_ctx *c, size_t *nhits)
{
	struct hits hs = { NULL, 0, 0 };
	struct ranges rs = { NULL, 0, 0, false };

	if (box_rows(c, &rs) != 0)
		return NULL;
	c->by_grid = text_by_grid(c, &rs);
	/* never NULL with no hits: NULL is the allocation failure */
	if ((c->by_grid ? hits_by_grid(c, &rs, &hs) :
	    hits_by_scan(c, &hs)) != 0 ||
	    index_grow(&hs.h, &hs.cap, 1, sizeof(*hs.h)) != 0 ||
	    hits_by_place(&hs) != 0) {
		free(rs.r);
		free(hs.h);
		return NULL;
	}
	free(rs.r);
	*nhits = hs.n;
	return hs.h;
}

/*
 * Whether every word of q met one piece of the place's text: its name,
 * its description, its tags, or one menu item ("dog friendly" in a
 * description, not "Hot Dog" on the menu and "friendly" elsewhere).
 */
static bool
together(const struct rank_ctx *c, const struct text_hit *h, size_t n)
{
	uint32_t want = (1u << c->nterms) - 1, in[INDEX_NFIELDS], item;
	size_t i, k;
	int f;

	memset(in, 0, sizeof(in));
	for (i = 0; i < n; i++)
		if (h[i].field != INDEX_MENU)
			in[h[i].field] |= 1u << h[i].term;
	for (f = 0; f < INDEX_NFIELDS; f++)
		if (f != INDEX_MENU && in[f] == want)
			return true;
	for (i = 0; i < n; i++) {
		if (h[i].field != INDEX_MENU)
			continue;
		item = 0;
		for (k = 0; k < n; k++)
			if (h[k].field == INDEX_MENU && h[k].item == h[i].item)
				item |= 1u << h[k].term;
		if (item == want)
			return true;
	}
	return false;
}

/*
 * Folds the hits h[0..n) of one place into its T and reasons: a word's
 * best posting in each field, weighed by how its key matched; then by
 * the share of q's words (by idf) it has at all, and SCATTERED when they
 * are not all in one piece of its text.
 */
static void
text_fold(const struct rank_ctx *c, const struct text_hit *h, size_t n,
    struct text_match *m)
{
	double best[RANK_MAX_TERMS][INDEX_NFIELDS], sum = 0, w, menu = -1;
	double found = 0;
	uint8_t name_best[RANK_MAX_TERMS];
	const struct text_hit *top[RANK_MAX_TERMS];
	double topw[RANK_MAX_TERMS];
	size_t i, t;
	int f;

	memset(best, 0, sizeof(best));
	memset(top, 0, sizeof(top));
	m->place = h[0].place;
	m->item = INDEX_NO_ITEM;
	m->typo = NO_TYPO;
	m->typo_term = 0;
	m->name_kind = MATCH_EXACT;
	m->name_terms = 0;
	m->fields = 0;
	memset(name_best, MATCH_KINDS, sizeof(name_best));
	for (i = 0; i < n; i++) {
		if (h[i].field == INDEX_NAME && h[i].kind < name_best[h[i].term])
			name_best[h[i].term] = h[i].kind;
		w = match_weight[h[i].kind] * h[i].tfn;
		if (w > best[h[i].term][h[i].field])
			best[h[i].term][h[i].field] = w;
		if (top[h[i].term] == NULL || w > topw[h[i].term]) {
			top[h[i].term] = &h[i];
			topw[h[i].term] = w;
		}
		m->fields |= 1u << h[i].field;
		w *= c->idf[h[i].term];
		if (h[i].field == INDEX_MENU && (w > menu ||
		    (w == menu && h[i].item < m->item))) {
			menu = w;
			m->item = h[i].item;
		}
	}
	for (t = 0; t < c->nterms; t++) {
		if (name_best[t] < MATCH_KINDS) {
			m->name_terms |= (uint8_t)(1u << t);
			if (name_best[t] > m->name_kind)
				m->name_kind = name_best[t];
		}
		for (w = 0, f = 0; f < INDEX_NFIELDS; f++)
			w += field_weight[f] * best[t][f];
		sum += c->idf[t] * fmin(1.0, w / field_weight[INDEX_NAME]);
		if (top[t] != NULL)
			found += c->idf[t];
		if (top[t] != NULL && top[t]->kind == MATCH_TYPO &&
		    m->typo == NO_TYPO) {
			m->typo = top[t]->tok;
			m->typo_term = (uint8_t)t;
		}
	}
	m->rel = sum / c->idfsum * (found / c->idfsum) *
	    (c->nterms > 1 && !together(c, h, n) ? SCATTERED : 1.0);
}

/*
 * Groups q's postings near the point by place, one text match each. A
 * match is folded (text_fold()) only when its T is needed: most of the
 * places a common word matches cannot enter the top-k, whatever their T
 * (text_bound()), and their hits are never read again.
 */
static int
ctx_text(struct rank_ctx *c)
{
	struct text_hit *h;
	size_t n, i, j;

	if ((h = ctx_hits(c, &n)) == NULL)
		return -1;
	if ((c->tm = malloc((n + 1) * sizeof(*c->tm))) == NULL) {
		free(h);
		return -1;
	}
	c->hits = h;
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && h[j].place == h[i].place; j++)
			;
		c->tm[c->ntm].place = h[i].place;
		c->tm[c->ntm].folded = false;
		c->tm[c->ntm].first = (uint32_t)i;
		c->tm[c->ntm++].nhits = (uint32_t)(j - i);
	}
	return 0;
}

/* m's T and reasons, folded from its hits the first time they are asked
 * for. */
static const struct text_match *
text_folded(const struct rank_ctx *c, struct text_match *m)
{
	if (!m->folded) {
		text_fold(c, c->hits + m->first, m->nhits, m);
		m->folded = true;
	}
	return m;
}

/*
 * A bound of m's T from which of q's words it has, without folding: T is
 * at most A x A (each word's m(t) is at most 1, G at most 1), and A is
 * the share by idf of q's words found.
 */
static double
text_bound(const struct rank_ctx *c, const struct text_match *m)
{
	const struct text_hit *h = c->hits + m->first;
	uint32_t terms = 0;
	double found = 0;
	size_t i, t;

	if (m->folded)
		return m->rel;
	for (i = 0; i < m->nhits; i++)
		terms |= 1u << h[i].term;
	for (t = 0; t < c->nterms; t++)
		if (terms & (1u << t))
			found += c->idf[t];
	found /= c->idfsum;
	return found * found;
}

/* The query on one part, s, with q's words' keys but typos, without its
 * text matches yet. */
static struct rank_ctx *
ctx_part(const struct snapshot *s, const struct rank_query *q,
    const struct analyze_word *words, size_t nwords)
{
	struct rank_ctx *c;

	if ((c = calloc(1, sizeof(*c) + sizeof(*c->lm))) == NULL)
		return NULL;
	c->lm = (struct local_memo *)(c + 1);
	c->lm->city = -1;
	c->s = s;
	c->q = q;
	c->gone = s->ngone > 0;
	c->nbase = s->nplaces;
	c->ncat = resolve_tags(&s->cats, q->categories, q->ncategories, c->cat);
	c->ncui = resolve_tags(&s->cuisines, q->cuisines, q->ncuisines, c->cui);
	if (q->nprefer > 0) {
		c->npcui = resolve_tags(&s->cuisines, q->prefer_cuisines,
		    q->nprefer, c->pcui);
		c->prefer = true;
	} else if (q->ncuisines > 0 && !q->cuisine_required) {
		memcpy(c->pcui, c->cui, c->ncui * sizeof(*c->cui));
		c->npcui = c->ncui;
		c->prefer = true;
	}
	memcpy(c->words, words, nwords * sizeof(*words));
	c->nterms = nwords;
	if (ctx_terms(c) != 0) {
		rank_ctx_free(c);
		return NULL;
	}
	c->text = c->nterms > 0;
	ctx_box(c);
	c->coslat = cos(q->lat * DEG);
	c->sinlat = sin(q->lat * DEG);
	c->filters = q->min_price > 0 || q->max_price > 0 ||
	    !isnan(q->min_rating) || q->ncategories > 0 ||
	    (q->cuisine_required && q->ncuisines > 0) ||
	    q->open != RANK_OPEN_ANY;
	c->prefs = c->text || q->ncategories > 0 || q->ncuisines > 0 ||
	    q->nprefer > 0 ||
	    q->min_price > 0 || q->max_price > 0 || !isnan(q->min_rating) ||
	    q->open != RANK_OPEN_ANY;
	return c;
}

/* Typos for the words neither part knows; then each word's places. */
static int
ctx_words(struct rank_ctx *c)
{
	bool known[RANK_MAX_TERMS];
	size_t t;

	for (t = 0; t < c->nterms; t++)
		known[t] = c->known[t] ||
		    (c->delta != NULL && c->delta->known[t]);
	if (ctx_typos(c, known) != 0 ||
	    (c->delta != NULL && ctx_typos(c->delta, known) != 0))
		return -1;
	ctx_df(c);
	if (c->delta != NULL)
		ctx_df(c->delta);
	return 0;
}

struct rank_ctx *
rank_ctx_new(const struct snapshot *s, const struct rank_query *q)
{
	struct analyze_word words[RANK_MAX_TERMS];
	struct rank_ctx *c;
	size_t nwords;

	if (rank_query_check(q) != 0) {
		errno = EINVAL;
		return NULL;
	}
	if (query_words(q, words, &nwords) != 0)
		return NULL;
	if ((c = ctx_part(s, q, words, nwords)) == NULL)
		return NULL;
	if (s->delta != NULL &&
	    (c->delta = ctx_part(s->delta, q, words, nwords)) == NULL)
		goto fail;
	if (ctx_words(c) != 0)
		goto fail;
	ctx_idf(c);
	if (c->text && (ctx_text(c) != 0 ||
	    (c->delta != NULL && ctx_text(c->delta) != 0)))
		goto fail;
	return c;
fail:
	rank_ctx_free(c);
	return NULL;
}

bool
rank_ctx_text_by_grid(const struct rank_ctx *c)
{
	return c->by_grid;
}

void
rank_ctx_free(struct rank_ctx *c)
{
	size_t t;

	if (c == NULL)
		return;
	rank_ctx_free(c->delta);
	for (t = 0; t < c->nterms; t++)
		free(c->keys[t].k);
	free(c->tm);
	free(c->hits);
	free(c);
}

/* --- judging one place ------------------------------------------------------ */

static const struct text_match *
text_find(const struct rank_ctx *c, uint32_t place)
{
	size_t lo = 0, hi = c->ntm, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (c->tm[mid].place < place)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->ntm && c->tm[lo].place == place ?
	    text_folded(c, &c->tm[lo]) : NULL;
}

/* The first of the place's tags (first .. first + n) that is in set. */
static int64_t
tag_match(const struct snapshot *s, uint32_t first, unsigned n,
    const uint32_t *set, size_t nset)
{
	unsigned i;
	size_t k;

	for (i = 0; i < n; i++)
		for (k = 0; k < nset; k++)
			if (s->tags[first + i] == set[k])
				return s->tags[first + i];
	return -1;
}

static int64_t
cuisine_match(const struct rank_ctx *c, const struct snap_place *p)
{
	return tag_match(c->s, p->tags + p->ncat, p->ncui, c->cui, c->ncui);
}

/* One of the preferred cuisines (prefer_cuisines, or cuisines that do
 * not filter) that the place has, or -1. */
static int64_t
prefer_match(const struct rank_ctx *c, const struct snap_place *p)
{
	return tag_match(c->s, p->tags + p->ncat, p->ncui, c->pcui, c->npcui);
}

static int64_t
category_match(const struct rank_ctx *c, const struct snap_place *p)
{
	return tag_match(c->s, p->tags, p->ncat, c->cat, c->ncat);
}

/* Open (1), closed (0) or unknown (-1) at a UTC time, in the city's zone. */
static int
open_utc(const struct rank_ctx *c, const struct snap_place *p, int64_t t)
{
	struct local_memo *lm = c->lm;
	int64_t local, days;

	if (lm->city != (int)p->city || lm->t != t) {
		local = t + (int64_t)c->s->cities[p->city].utc_offset_min * 60;
		days = local >= 0 ? local / 86400 : (local - 86399) / 86400;
		lm->city = (int)p->city;
		lm->t = t;
		lm->minute = (int)((local - days * 86400) / 60);
		/* 1970-01-01: thursday */
		lm->day = (int)(((days + 3) % 7 + 7) % 7);
	}
	return snap_hours_open(c->s, p->hours, lm->day, lm->minute);
}

static int
open_asked(const struct rank_ctx *c, const struct snap_place *p)
{
	if (c->q->open == RANK_OPEN_AT_UTC)
		return open_utc(c, p, c->q->open_utc);
	return snap_hours_open(c->s, p->hours, c->q->open_day,
	    c->q->open_minute);
}

static bool
passes(const struct rank_ctx *c, const struct snap_place *p)
{
	const struct rank_query *q = c->q;

	if ((q->min_price > 0 || q->max_price > 0) && (p->price == 0 ||
	    p->price < q->min_price ||
	    (q->max_price > 0 && p->price > q->max_price)))
		return false;
	if (!isnan(q->min_rating) && (isnan(p->rating) ||
	    p->rating < q->min_rating))
		return false;
	if (q->ncategories > 0 && category_match(c, p) < 0)
		return false;
	if (q->cuisine_required && q->ncuisines > 0 && cuisine_match(c, p) < 0)
		return false;
	return q->open == RANK_OPEN_ANY || open_asked(c, p) == 1;
}

static double
open_bonus(const struct rank_ctx *c, const struct snap_place *p)
{
	int open;

	if (c->q->open != RANK_OPEN_ANY)
		return 1.0;             /* the filter let only open ones in */
	if (c->q->now_utc == 0)
		return 0.5;
	open = open_utc(c, p, c->q->now_utc);
	return open < 0 ? 0.5 : open;
}

/* The score but for T's share: base, or D alone without preferences. */
static double
score_base(const struct rank_ctx *c, const struct snap_place *p,
    uint32_t place, double d)
{
	const struct rank_query *q = c->q;
	double D = exp(-3.0 * d / q->radius_m), R, P, C;

	if (!c->prefs)
		return D;
	R = isnan(p->rating) ? 0.5 : p->rating / 5.0;
	P = q->min_price > 0 || q->max_price > 0 || p->price > 0 ? 1.0 : 0.5;
	C = !c->prefer || prefer_match(c, p) >= 0 ? 1.0 : 0.0;
	return 0.45 * D + 0.25 * R + 0.05 * P + 0.15 * C +
	    0.05 * open_bonus(c, p) +
	    0.05 * (snap_offer(c->s, place) ? 1.0 : 0.0);
}

/* The score with q from T and the base (c->text implies c->prefs). */
#define SCORE_WITH_Q(rel, base)     (0.40 * (rel) + 0.60 * (base))

static double
score(const struct rank_ctx *c, const struct snap_place *p, uint32_t place,
    double d, const struct text_match *tm)
{
	double base = score_base(c, p, place, d);

	return tm == NULL ? base : SCORE_WITH_Q(tm->rel, base);
}

/* rank_haversine() from the query's point, its cosine and sine taken
 * once. */
static double
distance_from(const struct rank_ctx *c, const struct index_point *pt)
{
	return haversine_cs(c->q->lat, c->q->lon, c->coslat, c->sinlat,
	    pt->lat, pt->lon);
}

/*
 * Filters and scores place, whose row p and position pt are passed from
 * wherever the caller reads them in sequence, with its text match tm
 * (NULL without q); the hot path, without reasons. The cheapest tests
 * first: the box around the circle, the filters, then the distance.
 */
static bool
judge_at(const struct rank_ctx *c, uint32_t place, const struct snap_place *p,
    const struct index_point *pt, const struct text_match *tm,
    struct rank_result *r)
{
	double d;

	if (!in_box(c, pt) || !passes(c, p))
		return false;
	if (c->gone && snap_gone(c->s, place))
		return false;
	if ((d = distance_from(c, pt)) > c->q->radius_m)
		return false;
	r->id = p->id;
	r->place = place;
	r->distance_m = d;
	r->rating = p->rating;
	r->score = score(c, p, place, d, tm);
	return true;
}

/* judge_at() for a place by its index, its text match looked up. */
static bool
judge(const struct rank_ctx *c, uint32_t place, struct rank_result *r,
    const struct text_match **tmp)
{
	const struct text_match *tm = NULL;

	if (c->text && (tm = text_find(c, place)) == NULL)
		return false;
	*tmp = tm;
	return judge_at(c, place, &c->s->places[place], &c->s->pos[place], tm,
	    r);
}

/* --- reasons ---------------------------------------------------------------- */

static void
reason(struct rank_result *r, const char *fmt_prefix, const char *s,
    size_t len)
{
	char *out = r->matched[r->nmatched++];
	size_t plen = strlen(fmt_prefix), room = RANK_MATCHED_LEN - 1 - plen;

	if (len > room) {               /* cut on a character boundary */
		len = room;
		while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;
	}
	memcpy(out, fmt_prefix, plen);
	memcpy(out + plen, s, len);
	out[plen + len] = '\0';
}

/* Whether a word as written has a Cyrillic letter. */
static bool
cyrillic(const char *w)
{
	for (; *w != '\0'; w++)
		if ((unsigned char)*w == 0xd0 || (unsigned char)*w == 0xd1)
			return true;
	return false;
}

/* Lower case for ASCII, Latin-1 and Russian letters: case, not marks. */
static int32_t
lower(int32_t cp)
{
	if ((cp >= 'A' && cp <= 'Z') || (cp >= 0xc0 && cp <= 0xde &&
	    cp != 0xd7) || (cp >= 0x410 && cp <= 0x42f))
		return cp + 0x20;
	if (cp >= 0x400 && cp <= 0x40f)
		return cp + 0x50;
	return cp;
}

/* Equal but for letter case. */
static bool
same_but_case(const char *a, const char *b)
{
	const unsigned char *x = (const unsigned char *)a;
	const unsigned char *y = (const unsigned char *)b;

	while (*x != '\0' && *y != '\0')
		if (lower(words_utf8_next(&x)) != lower(words_utf8_next(&y)))
			return false;
	return *x == *y;
}

/*
 * How a word of q met the name, when not as written: "stem", "prefix",
 * "typo", "alphabet" (хачапури for Khachapuri) or "accent" (Epoque for
 * Époque); NULL when the name has it as written, but for ASCII case.
 */
static const char *
name_how(const struct rank_ctx *c, uint32_t place,
    const struct text_match *tm)
{
	const struct analyze_word *q;
	const char *sp;
	struct analyze_word w;
	size_t t;

	if (tm->name_kind == MATCH_STEM)
		return "stem";
	if (tm->name_kind == MATCH_PREFIX)
		return "prefix";
	if (tm->name_kind == MATCH_TYPO)
		return "typo";
	for (t = 0; t < c->nterms; t++) {
		if ((tm->name_terms & (1u << t)) == 0)
			continue;
		q = &c->words[t];
		sp = c->s->pnames + c->s->pname[place];
		while (analyze_next(NULL, &sp, &w)) {
			if (strcmp(w.key, q->key) != 0)
				continue;
			if (cyrillic(w.word) != cyrillic(q->word))
				return "alphabet";
			if (!same_but_case(w.word, q->word))
				return "accent";
			break;
		}
	}
	return NULL;
}

/* "name", or "name~: Belle Époque (accent)" when not as written. */
static void
reason_name(const struct rank_ctx *c, uint32_t place,
    const struct text_match *tm, struct rank_result *r)
{
	const char *how = name_how(c, place, tm);
	const char *name = c->s->pnames + c->s->pname[place];
	char buf[RANK_MATCHED_LEN];
	size_t room, len = strlen(name);

	if (how == NULL) {
		reason(r, "name", "", 0);
		return;
	}
	room = sizeof(buf) - strlen("name~: ") - strlen(how) - 4;
	if (len > room) {               /* cut on a character boundary */
		len = room;
		while (len > 0 && ((unsigned char)name[len] & 0xc0) == 0x80)
			len--;
	}
	snprintf(buf, sizeof(buf), "%.*s (%s)", (int)len, name, how);
	reason(r, "name~: ", buf, strlen(buf));
}

static void
reason_tag(struct rank_result *r, const char *prefix,
    const struct intern *dict, int64_t id)
{
	size_t len;
	const char *s;

	if (id < 0)
		return;
	s = index_intern_str(dict, (uint32_t)id, &len);
	reason(r, prefix, s, len);
}

/* "typo: piza -> pizza": the word as written, the key it was taken for. */
static void
reason_typo(const struct rank_ctx *c, const struct text_match *tm,
    struct rank_result *r)
{
	const struct analyze_word *w = &c->words[tm->typo_term];
	char buf[2 * ANALYZE_KEY_MAX + 8];
	const char *key;
	size_t len, n;

	key = index_intern_str(&c->s->text.dict, c->s->text.sorted[tm->typo],
	    &len);
	memcpy(buf, w->word, w->wordlen);
	memcpy(buf + w->wordlen, " -> ", 4);
	n = w->wordlen + 4;
	memcpy(buf + n, key, len);
	reason(r, "typo: ", buf, n + len);
}

/* Whether a word of q meets one of tag's words: the same key or stem,
 * or, for q's last word, as a prefix. */
static bool
tag_meets_q(const struct rank_ctx *c, const char *tag, size_t len)
{
	struct analyze_word tw;
	char buf[80];
	const char *sp = buf;
	size_t t, i;

	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	for (i = 0; i < len; i++)
		buf[i] = tag[i] == '_' ? ' ' : tag[i];
	buf[len] = '\0';
	while (analyze_next(NULL, &sp, &tw))
		for (t = 0; t < c->nterms; t++)
			if (strcmp(tw.key, c->words[t].key) == 0 ||
			    strcmp(tw.key, c->words[t].stem) == 0 ||
			    strncmp(tw.key, c->words[t].stem,
			    c->words[t].stemlen) == 0 ||
			    (t + 1 == c->nterms && strncmp(tw.key,
			    c->words[t].key, c->words[t].keylen) == 0))
				return true;
	return false;
}

/* The first of the place's tags (categories from 0, cuisines from ncat)
 * that q's words meet, or -1. */
static int64_t
tag_of_q(const struct rank_ctx *c, const struct snap_place *p, bool cui)
{
	const struct intern *dict = cui ? &c->s->cuisines : &c->s->cats;
	uint32_t k, from = p->tags + (cui ? p->ncat : 0);
	uint32_t n = cui ? p->ncui : p->ncat;
	const char *str;
	size_t len;

	for (k = 0; k < n; k++) {
		str = index_intern_str(dict, c->s->tags[from + k], &len);
		if (tag_meets_q(c, str, len))
			return c->s->tags[from + k];
	}
	return -1;
}

static void
reasons(const struct rank_ctx *c, uint32_t place,
    const struct text_match *tm, struct rank_result *r)
{
	const struct snap_place *p = &c->s->places[place];
	bool tags = tm != NULL && (tm->fields & (1u << INDEX_TAGS));
	const char *item;

	r->nmatched = 0;
	if (tm != NULL && (tm->fields & (1u << INDEX_NAME)))
		reason_name(c, place, tm, r);
	if (tm != NULL && tm->item != INDEX_NO_ITEM) {
		item = snap_item_name(c->s, tm->item);
		reason(r, "menu: ", item, strlen(item));
	}
	if (tm != NULL && (tm->fields & (1u << INDEX_DESC)))
		reason(r, "description", "", 0);
	if (tm != NULL && tm->typo != NO_TYPO)
		reason_typo(c, tm, r);
	if (c->prefer && prefer_match(c, p) >= 0)
		reason_tag(r, "cuisine: ", &c->s->cuisines, prefer_match(c, p));
	else if (c->q->ncuisines > 0)
		reason_tag(r, "cuisine: ", &c->s->cuisines, cuisine_match(c, p));
	else if (tags)
		reason_tag(r, "cuisine: ", &c->s->cuisines, tag_of_q(c, p, true));
	if (c->q->ncategories > 0)
		reason_tag(r, "category: ", &c->s->cats, category_match(c, p));
	else if (tags)
		reason_tag(r, "category: ", &c->s->cats, tag_of_q(c, p, false));
	if (c->prefs && snap_offer(c->s, place))
		reason(r, "offer", "", 0);
}

bool
rank_ctx_eval(const struct rank_ctx *c, uint32_t place, struct rank_result *r,
    bool matched)
{
	const struct text_match *tm = NULL;

	r->nmatched = 0;
	if (place >= c->nbase) {
		if (c->delta == NULL || !rank_ctx_eval(c->delta,
		    place - c->nbase, r, matched))
			return false;
		r->place = place;
		return true;
	}
	if (!judge(c, place, r, &tm))
		return false;
	if (matched)
		reasons(c, place, tm, r);
	return true;
}

/* --- top-k -------------------------------------------------------------------- */

struct cand {
	int64_t id;
	double score, dist, rating;     /* rating -1 when null */
	uint32_t place;
};

struct topk {
	struct cand *a;
	size_t n, k;
	enum rank_sort sort;
	size_t total;
	bool count_only;            /* the cell walked cannot enter: count */
	size_t count_visits;        /* places looked at only to count */
	bool cut;                   /* the count stopped short: a bound */
	double in2, out2, coslat2;  /* count(): surely in, surely out */
	double eps;                 /* the bound of in2/out2's error */
	double far2;                /* with q: past it, none can enter */
	struct rank_ctx *c;
	const struct rank_ctx *part;    /* being visited: c or its delta */
	uint32_t off;                   /* part's first place index in c */
};

/* Does a rank strictly before b? Ids are unique: a total order. */
static bool
before(const struct cand *a, const struct cand *b, enum rank_sort sort)
{
	if (sort == RANK_SORT_BEST && a->score != b->score)
		return a->score > b->score;
	if (sort == RANK_SORT_RATING && a->rating != b->rating)
		return a->rating > b->rating;
	if (a->dist != b->dist)
		return a->dist < b->dist;
	return a->id < b->id;
}

static void
cand_swap(struct cand *a, struct cand *b)
{
	struct cand t = *a;

	*a = *b;
	*b = t;
}

/* The heap keeps the worst candidate at the root. */
static void
heap_down(struct topk *h, size_t i, size_t n)
{
	size_t worst, l;

	for (;;) {
		worst = i;
		l = 2 * i + 1;
		if (l < n && before(&h->a[worst], &h->a[l], h->sort))
			worst = l;
		if (l + 1 < n && before(&h->a[worst], &h->a[l + 1], h->sort))
			worst = l + 1;
		if (worst == i)
			return;
		cand_swap(&h->a[i], &h->a[worst]);
		i = worst;
	}
}

static void
heap_up(struct topk *h, size_t i)
{
	size_t parent;

	while (i > 0) {
		parent = (i - 1) / 2;
		if (!before(&h->a[parent], &h->a[i], h->sort))
			return;
		cand_swap(&h->a[parent], &h->a[i]);
		i = parent;
	}
}

/* Counts x and keeps it if it ranks among the best k; true when the
 * worst of a full top-k changed. */
static bool
topk_offer(struct topk *h, const struct cand *x)
{
	h->total++;
	if (h->n < h->k) {
		h->a[h->n] = *x;
		heap_up(h, h->n++);
		return h->n == h->k;
	}
	if (h->k > 0 && before(x, &h->a[0], h->sort)) {
		h->a[0] = *x;
		heap_down(h, 0, h->n);
		return true;
	}
	return false;
}

/* Heap sort: the worst goes last, leaving the best first. */
static void
topk_sort(struct topk *h)
{
	size_t n;

	for (n = h->n; n > 1; n--) {
		cand_swap(&h->a[0], &h->a[n - 1]);
		heap_down(h, 0, n - 1);
	}
}

/* A judged place as the top-k keeps it. */
static struct cand
cand_of(const struct topk *h, const struct rank_result *r)
{
	struct cand x;

	x.id = r->id;
	x.score = r->score;
	x.dist = r->distance_m;
	x.rating = isnan(r->rating) ? -1.0 : r->rating;
	x.place = h->off + r->place;
	return x;
}

/* Judges a place and offers it to the top-k; true when the worst of a
 * full top-k changed. */
static bool
visit(struct topk *h, uint32_t place, const struct snap_place *p,
    const struct index_point *pt)
{
	struct rank_result r;
	struct cand x;

	if (!judge_at(h->part, place, p, pt, NULL, &r))
		return false;
	x = cand_of(h, &r);
	return topk_offer(h, &x);
}

/* Whether the top-k is full of places that rank before any that scores
 * at most bound. */
static bool
topk_beats(const struct topk *h, double bound)
{
	return h->k > 0 && h->n == h->k && bound < h->a[0].score;
}

/*
 * Once the top-k is full: the squared distance (in count()'s units) past
 * which no place can enter it. By distance, the worst's; best first, where
 * even every term but D at its best (T included) cannot beat the worst's
 * score (score_bound()). INFINITY when any distance may, by rating, or
 * when count()'s units do not hold.
 */
static void
topk_far(struct topk *h)
{
	const struct rank_ctx *c = h->part;
	double w, Dmin, d, t;

	h->far2 = INFINITY;
	if (h->in2 < 0 || h->n < h->k || h->k == 0 ||
	    h->sort == RANK_SORT_RATING)
		return;
	w = h->a[0].score - 1e-9;
	if (h->sort == RANK_SORT_DISTANCE)
		d = h->a[0].dist;
	else {
		/* the score of D with every other term at 1, below w */
		if (c->text)
			Dmin = (w - 0.40 - 0.60 * 0.55) / (0.60 * 0.45);
		else if (c->prefs)
			Dmin = (w - 0.55) / 0.45;
		else
			Dmin = w;
		if (Dmin <= 0)
			return;
		d = Dmin >= 1.0 ? 0.0 : -log(Dmin) * c->q->radius_m / 3.0;
	}
	t = d / (INDEX_EARTH_R * DEG);
	h->far2 = t * t * (1.0 + h->eps) * (1.0 + h->eps);
}

/* The squared distance of count()'s units from the point to pt. */
static double
near_d2(const struct topk *h, const struct index_point *pt)
{
	const struct rank_query *q = h->part->q;
	double x = pt->lat - q->lat, y = fabs(pt->lon - q->lon);

	if (y > 180.0)
		y = 360.0 - y;
	return x * x + h->coslat2 * y * y;
}

/* A place too far to enter the top-k: only counted, most often without
 * a haversine. */
static void
count_far(struct topk *h, uint32_t place, double d2)
{
	const struct rank_ctx *c = h->part;

	if (d2 >= h->out2)
		return;
	if (d2 > h->in2 && distance_from(c, &c->s->pos[place]) >
	    c->q->radius_m)
		return;
	if (passes(c, &c->s->places[place]) &&
	    !(c->gone && snap_gone(c->s, place)))
		h->total++;
}

/* Whether a place (at pt) lies past the top-k's far distance: then it
 * is only counted. */
static bool
counted_far(struct topk *h, uint32_t place, const struct index_point *pt)
{
	double d2;

	if (h->far2 == INFINITY || (d2 = near_d2(h, pt)) <= h->far2)
		return false;
	count_far(h, place, d2);
	return true;
}

/*
 * A place q's words matched, m, judged without its T (judge_at() then
 * scores the base) and folded into its T only when the top-k could take
 * it: the order needs no T but for sort=best, a place past the top-k's
 * far distance is only counted, and so is one whose score with T's
 * bound cannot beat the worst of a full top-k.
 */
static void
visit_text(struct topk *h, struct text_match *m)
{
	const struct rank_ctx *c = h->part;
	const struct index_point *pt = &c->s->pos[m->place];
	struct rank_result r;
	struct cand x;

	if (!in_box(c, pt) || counted_far(h, m->place, pt))
		return;
	if (!judge_at(c, m->place, &c->s->places[m->place], pt, NULL, &r))
		return;
	x = cand_of(h, &r);
	if (h->sort == RANK_SORT_BEST) {
		if (topk_beats(h, SCORE_WITH_Q(text_bound(c, m), r.score) +
		    1e-9)) {
			h->total++;
			return;
		}
		x.score = SCORE_WITH_Q(text_folded(c, m)->rel, r.score);
	}
	if (topk_offer(h, &x))
		topk_far(h);
}

/*
 * The best score a place at least d metres from the point could get: D
 * at d with every other term at its best. A hair above, so that the sum's
 * rounding never beats it.
 */
static double
score_bound(const struct rank_ctx *c, double d)
{
	double D = exp(-3.0 * d / c->q->radius_m);

	return (c->prefs ? 0.45 * D + 0.55 : D) + 1e-9;
}

/*
 * Counting tells most places in or out of the circle without a
 * haversine: in degrees, x = dlat and y = dlon, x^2 + cos^2(lat) y^2 is
 * the squared distance over (R DEG)^2 but for the cosine of the place's
 * latitude (a relative error of at most tan(|lat| + dlat) dlat in
 * radians) and the sines of small angles (of the order of (r / R)^2).
 * With eps a bound of the distance's error, a place within r (1 - eps)
 * by it is within the radius and one past r (1 + eps) is not; between,
 * and near a pole, the haversine decides. in2 < 0: none.
 */
static void
topk_near(struct topk *h, const struct rank_query *q)
{
	double box = q->radius_m / INDEX_EARTH_R, lat = fabs(q->lat) * DEG;
	double t = q->radius_m / (INDEX_EARTH_R * DEG), eps;

	h->in2 = h->out2 = -1.0;
	h->far2 = INFINITY;
	if (lat + box >= 89.0 * DEG)
		return;
	eps = tan(lat + box) * box + 4.0 * box * box + 1e-6;
	if (eps >= 0.5)
		return;
	h->eps = eps;
	h->coslat2 = cos(q->lat * DEG) * cos(q->lat * DEG);
	h->in2 = t * t * (1.0 - eps) * (1.0 - eps);
	h->out2 = t * t * (1.0 + eps) * (1.0 + eps);
}

/* A place of a cell that cannot enter the top-k: counted in the total
 * if it passes, without a score, and most often without a distance. */
static void
count(struct topk *h, uint32_t place, const struct snap_place *p,
    const struct index_point *pt)
{
	const struct rank_ctx *c = h->part;
	double x = pt->lat - c->q->lat, y = fabs(pt->lon - c->q->lon), d2;

	h->count_visits++;
	if (y > 180.0)
		y = 360.0 - y;
	d2 = x * x + h->coslat2 * y * y;
	if (h->in2 < 0 || d2 > h->in2) {
		if (h->in2 >= 0 && d2 >= h->out2)
			return;
		if (!in_box(c, pt) || distance_from(c, pt) > c->q->radius_m)
			return;
	}
	if ((!c->filters || passes(c, p)) &&
	    !(c->gone && snap_gone(c->s, place)))
		h->total++;
}

/* The places of one cell of the grid, neighbours in memory. */
static void
visit_cell(void *arg, uint32_t first, uint32_t end)
{
	struct topk *h = arg;
	const struct snapshot *s = h->part->s;
	uint32_t k, p;

	for (k = first; k < end; k++) {
		p = s->grid.items[k];
		if (h->count_only)
			count(h, p, &s->places[p], &s->pos[p]);
		else
			visit(h, p, &s->places[p], &s->pos[p]);
	}
}

/* Whether the top-k is full of places better than any d metres away. */
static bool
topk_full(const struct topk *h, double d)
{
	const struct cand *worst = &h->a[0];

	if (h->n < h->k || h->k == 0)
		return false;
	switch (h->sort) {
	case RANK_SORT_BEST:
		return score_bound(h->part, d) < worst->score;
	case RANK_SORT_DISTANCE:
		return worst->dist < d;
	default:
		return false;
	}
}

/*
 * Whether the walk may skip what lies d metres away or more: once the
 * top-k is full of better places and the total is past RANK_TOTAL_CAP,
 * or RANK_COUNT_VISITS places were looked at only to count them (which
 * bounds what a total costs a query that ranks little: a large radius,
 * a selective filter). Until then, the cells that cannot enter the
 * top-k are walked still, their places counted only (the walk asks
 * before each cell), and what is skipped makes the total a bound.
 */
static bool
topk_done(void *arg, double d)
{
	struct topk *h = arg;

	h->count_only = topk_full(h, d);
	if (!h->count_only || (h->total <= RANK_TOTAL_CAP &&
	    h->count_visits < RANK_COUNT_VISITS))
		return false;
	h->cut = true;
	return true;
}

/* Visits the i-th of a part's candidates. */
typedef void ring_visit_fn(struct topk *h, const void *cands, size_t i);

/*
 * n candidates of a part (place(cands, i) its i-th's place index), in
 * rings around the point: those within a 16th of the radius, then a
 * quarter, then the rest, so that the top-k fills with near places first
 * and its far distance (topk_far()) spares most of the others a distance
 * and a score. Each is visited once (the total counts it once). The
 * rings need count()'s units, and do nothing for sort=rating.
 */
static void
visit_in_rings(struct topk *h, const void *cands, size_t n,
    uint32_t (*place)(const void *cands, size_t i), ring_visit_fn *fn)
{
	static const double ring[] = { 1.0 / 16, 1.0 / 4 };
	const struct snapshot *s = h->part->s;
	double t2, lo2, hi2, d2;
	size_t i, r;

	if (h->in2 < 0 || h->sort == RANK_SORT_RATING) {
		for (i = 0; i < n; i++)
			fn(h, cands, i);
		return;
	}
	t2 = h->in2 / ((1.0 - h->eps) * (1.0 - h->eps));
	for (lo2 = -1.0, r = 0; r <= sizeof(ring) / sizeof(ring[0]); r++) {
		hi2 = r < sizeof(ring) / sizeof(ring[0]) ?
		    t2 * ring[r] * ring[r] : INFINITY;
		for (i = 0; i < n; i++) {
			d2 = near_d2(h, &s->pos[place(cands, i)]);
			if (d2 > lo2 && d2 <= hi2)
				fn(h, cands, i);
		}
		lo2 = hi2;
	}
}

static uint32_t
tm_place(const void *cands, size_t i)
{
	return ((const struct text_match *)cands)[i].place;
}

static void
tm_visit(struct topk *h, const void *cands, size_t i)
{
	visit_text(h, (struct text_match *)cands + i);
}

/* --- a filter on tags: its places, not every place near the point ------- */

#define TAG_WALK_SHARE  8       /* the walk when they are 1/8 or more */

/*
 * The tags that filter, of the kind with fewer places: categories (any
 * of), or cuisines when they are required (any of). False when no tag
 * filters; else *tp, *ids and *nids are the lists, *nplaces their places
 * (a place may be in two).
 */
static bool
tag_filter(const struct rank_ctx *c, const struct snap_tag_places **tp,
    const uint32_t **ids, size_t *nids, size_t *nplaces)
{
	const struct snapshot *s = c->s;
	bool cat = c->q->ncategories > 0;
	bool cui = c->q->cuisine_required && c->q->ncuisines > 0;
	size_t ncat = 0, ncui = 0, i;

	for (i = 0; cat && i < c->ncat; i++)
		ncat += s->cat_places.start[c->cat[i] + 1] -
		    s->cat_places.start[c->cat[i]];
	for (i = 0; cui && i < c->ncui; i++)
		ncui += s->cui_places.start[c->cui[i] + 1] -
		    s->cui_places.start[c->cui[i]];
	if (cat && (!cui || ncat <= ncui)) {
		*tp = &s->cat_places;
		*ids = c->cat;
		*nids = c->ncat;
		*nplaces = ncat;
		return true;
	}
	*tp = &s->cui_places;
	*ids = c->cui;
	*nids = c->ncui;
	*nplaces = ncui;
	return cui;
}

/* The places of the lists ids[0..nids) in the rows rs, ascending, each
 * once; NULL on ENOMEM. */
static uint32_t *
tag_places_in(const struct snap_tag_places *tp, const uint32_t *ids,
    size_t nids, const struct ranges *rs, size_t *n)
{
	uint32_t *out = NULL;
	size_t cap = 0, cur[RANK_MAX_TAGS], end, k, j, w;

	*n = 0;
	for (j = 0; j < nids; j++)
		cur[j] = tp->start[ids[j]];
	for (k = 0; k < rs->n; k++)
		for (j = 0; j < nids; j++) {
			end = tp->start[ids[j] + 1];
			cur[j] = gallop(tp->places, sizeof(*tp->places), 0,
			    cur[j], end, rs->r[k][0]);
			for (; cur[j] < end && tp->places[cur[j]] < rs->r[k][1];
			    cur[j]++) {
				if (index_grow(&out, &cap, *n + 1,
				    sizeof(*out)) != 0) {
					free(out);
					return NULL;
				}
				out[(*n)++] = tp->places[cur[j]];
			}
		}
	if (nids > 1 && *n > 1) {
		qsort(out, *n, sizeof(*out), index_u32_cmp);
		for (w = 1, k = 1; k < *n; k++)
			if (out[k] != out[w - 1])
				out[w++] = out[k];
		*n = w;
	}
	return out != NULL ? out : malloc(sizeof(*out));
}

static uint32_t
u32_place(const void *cands, size_t i)
{
	return ((const uint32_t *)cands)[i];
}

/* One place of a tag's: judged, or only counted when too far to enter. */
static void
tag_visit(struct topk *h, const void *cands, size_t i)
{
	const struct snapshot *s = h->part->s;
	uint32_t place = ((const uint32_t *)cands)[i];
	const struct index_point *pt = &s->pos[place];

	if (!in_box(h->part, pt) || counted_far(h, place, pt))
		return;
	if (visit(h, place, &s->places[place], pt))
		topk_far(h);
}

/*
 * Without q but with a filter on tags that few places pass (under one in
 * TAG_WALK_SHARE of the part's): the places of those tags in the rows of
 * the grid around the point are the candidates, read from the tags'
 * lists, rather than every place there. Every one is looked at, so the
 * total is exact. False when the walk of the grid should do it.
 */
static bool
tag_candidates(const struct rank_ctx *c, struct topk *h)
{
	const struct snap_tag_places *tp;
	const uint32_t *ids;
	struct ranges rs = { NULL, 0, 0, false };
	size_t nids, nplaces, n;
	uint32_t *cands;

	if (!tag_filter(c, &tp, &ids, &nids, &nplaces) ||
	    nplaces * TAG_WALK_SHARE >= c->s->nplaces)
		return false;
	if (box_rows(c, &rs) != 0)
		return false;
	if ((cands = tag_places_in(tp, ids, nids, &rs, &n)) == NULL) {
		free(rs.r);
		return false;
	}
	free(rs.r);
	visit_in_rings(h, cands, n, u32_place, tag_visit);
	free(cands);
	return true;
}

/* With q, the places q matches are the candidates; else the grid's,
 * nearest first, until no farther one can enter the top-k. */
static void
candidates_of(const struct rank_ctx *c, uint32_t off, struct topk *h)
{
	const struct rank_query *q = c->q;

	h->part = c;
	h->off = off;
	h->count_only = false;
	if (c->text) {
		visit_in_rings(h, c->tm, c->ntm, tm_place, tm_visit);
		return;
	}
	if (tag_candidates(c, h))
		return;
	if (q->sort == RANK_SORT_RATING)
		index_grid_query(&c->s->grid, q->lat, q->lon, q->radius_m,
		    visit_cell, h);
	else
		index_grid_nearest(&c->s->grid, q->lat, q->lon, q->radius_m,
		    visit_cell, topk_done, h);
}

/* The base's candidates, then the delta's. */
static void
candidates(const struct rank_ctx *c, struct topk *h)
{
	candidates_of(c, 0, h);
	if (c->delta != NULL)
		candidates_of(c->delta, c->nbase, h);
}

static int
emit(const struct topk *h, unsigned offset, unsigned limit,
    struct rank_result *out, size_t outcap)
{
	size_t i, n = 0;

	for (i = offset; i < h->n && n < limit && n < outcap; i++)
		if (rank_ctx_eval(h->c, h->a[i].place, &out[n], true))
			n++;
	return (int)n;
}

int
rank(const struct snapshot *s, const struct rank_query *q,
    struct rank_result *out, size_t outcap, size_t *total)
{
	return rank_counted(s, q, out, outcap, total, NULL);
}

int
rank_counted(const struct snapshot *s, const struct rank_query *q,
    struct rank_result *out, size_t outcap, size_t *total, bool *exact)
{
	struct topk h;
	int n;

	memset(&h, 0, sizeof(h));
	if ((h.c = rank_ctx_new(s, q)) == NULL)
		return -1;
	/* one more than asked: whether there is a next page is then known
	 * even when the walk stops early */
	h.k = (size_t)q->offset + q->limit + 1;
	h.sort = q->sort;
	topk_near(&h, q);
	if ((h.a = malloc((h.k + 1) * sizeof(*h.a))) == NULL) {
		rank_ctx_free(h.c);
		return -1;
	}
	candidates(h.c, &h);
	topk_sort(&h);
	n = emit(&h, q->offset, q->limit, out, outcap);
	if (total != NULL)
		*total = h.total;
	if (exact != NULL)
		*exact = !h.cut;
	free(h.a);
	rank_ctx_free(h.c);
	return n;
}
