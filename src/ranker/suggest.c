/*
 * suggest.c: the suggest index of suggest.h, and the two requests it
 * answers.
 *
 * Matching. The text is cut into words and folded as the text index folds
 * them (analyze.h: case, accents, Cyrillic written in Latin letters; not
 * stemmed, and a single letter is a word here, since it is being typed).
 * A suggestion matches when each word of the text is the start of one of
 * its words ("khach hou" finds "Khachapuri House", "хачап" finds it too,
 * "cafe" finds "Café").
 *
 * Ranking, 0..1: 0.60 Q + 0.25 N + 0.15 P, where
 *   Q, the prefix's quality: 0.9 when the text's first word starts the
 *     suggestion, 0.6 when it starts a later word; +0.1 when the text's
 *     last word is a whole word of it ("pizza" before "pizzas");
 *   N, nearness: for a place, exp(-d / 3 km) from the point asked; 0.5
 *     for a dish, a cuisine or a category, and for a place when no point
 *     is given;
 *   P, popularity: a place's rating / 5 (0.5 unknown); for a term,
 *     ln(1 + places) / ln(1 + the most places of a term of its kind).
 * Ties: kind (cuisine, category, dish, place), then text. Suggestions
 * with the same folded text are one (a chain's places: the best one). A
 * dish, cuisine or category that the base has is counted as the base
 * counts it; only one new in the overlay's delta is counted there.
 *
 * Work is bounded. The words of the text each give a range of index
 * keys; the smallest is read. A key carries what a bound on its
 * place's score needs (its word's place among the words, its place's
 * rank and position), so that only a place that could enter the best
 * ones is read. A range of places
 * over SUGGEST_SCAN_MAX keys (a letter or two at a million places) is
 * not read whole: with a point, the places nearest it are tried instead,
 * in the grid's order (index_grid_nearest), until SUGGEST_WALK_MAX places
 * are tried or no place farther could enter the best ones; without one,
 * each word of the range gives its SUGGEST_PER_WORD most popular places. The overlay's delta is read whole (it is small);
 * the places it hides in the base are skipped.
 */
#include "ranker/suggest.h"
#include "ranker/analyze.h"
#include "ranker/score.h"
#include "common/wire.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define SUGGEST_SCAN_MAX    20000   /* keys read for one text */
#define SUGGEST_WALK_MAX    20000   /* places tried near a point */
#define SUGGEST_PER_WORD    3       /* places per word, in a wide range */
#define SUGGEST_RADIUS_M    50000.0 /* the walk's reach */
#define SUGGEST_NEAR_M      3000.0  /* N's scale */

enum sg_kind { SG_CUISINE = 0, SG_CATEGORY, SG_DISH, SG_PLACE };

static const char *const sg_kind_name[] = {
	[SG_CUISINE] = "cuisine", [SG_CATEGORY] = "category",
	[SG_DISH] = "dish", [SG_PLACE] = "place",
};

/* One word of a place's name or of a term, and what it names. */
struct sg_key {
	uint32_t word;              /* a folded word, NUL-ended, in buf: the
	                               same offset for every key of a word */
	uint32_t ref;               /* a place index, or a term */
	float lat, lon;             /* a place's, to rank without reading it */
	uint16_t wlen;              /* the word's bytes */
	uint8_t pos;                /* its place among its text's words */
	uint8_t rank;               /* popularity 0..255, first in a word */
};

/* A dish, a cuisine or a category. */
struct sg_term {
	uint32_t text;              /* as shown, in buf */
	uint32_t fold;              /* its folded words, in buf */
	uint32_t places;
	uint8_t kind;
};

/*
 * Folded texts are their words, each NUL-ended, then one more NUL:
 * "khachapuri\0house\0\0".
 */
struct suggest {
	char *buf;
	size_t len, cap;
	uint32_t *pfold;            /* per place: its name's folded words */
	struct sg_key *pkeys, *tkeys;
	size_t npkeys, ntkeys, pkeycap, tkeycap;
	struct sg_term *terms;
	size_t nterms, termcap;
	uint32_t maxplaces[SG_PLACE];
	uint32_t ncat, ncui, ncities;
	uint32_t *catn, *cuin;      /* [city * ncat + tag]: places */
	/* while building: each distinct word's first offset in buf */
	struct intern words;
	uint32_t *canon;
	size_t canoncap, ncanon;
};

/* ---- building ------------------------------------------------------------ */

static int
buf_put(struct suggest *sg, const char *p, size_t n, uint32_t *off)
{
	if (sg->len + n + 1 > UINT32_MAX) {
		errno = EOVERFLOW;
		return -1;
	}
	if (index_grow(&sg->buf, &sg->cap, sg->len + n + 1, 1) != 0)
		return -1;
	memcpy(sg->buf + sg->len, p, n);
	sg->buf[sg->len + n] = '\0';
	*off = (uint32_t)sg->len;
	sg->len += n + 1;
	return 0;
}

/* text's folded words into buf (see struct suggest); their number. */
static int
fold_put(struct suggest *sg, const char *text, uint32_t *off, size_t *nw)
{
	struct analyze_word w;
	const char *sp = text != NULL ? text : "";
	uint32_t at;

	*nw = 0;
	*off = (uint32_t)sg->len;
	while (analyze_next_min(NULL, &sp, &w, 1)) {
		if (buf_put(sg, w.key, w.keylen, &at) != 0)
			return -1;
		(*nw)++;
	}
	return buf_put(sg, "", 0, &at);
}

/* The one offset of the word at w (its first one) in buf. */
static int
canon_word(struct suggest *sg, uint32_t w, size_t len, uint32_t *out)
{
	int64_t id = index_intern(&sg->words, sg->buf + w, len);

	if (id < 0)
		return -1;
	if ((size_t)id == sg->ncanon) {         /* a new word */
		if (index_grow(&sg->canon, &sg->canoncap, sg->ncanon + 1,
		    sizeof(*sg->canon)) != 0)
			return -1;
		sg->canon[sg->ncanon++] = w;
	}
	*out = sg->canon[id];
	return 0;
}

/* One key per word of the folded text at fold. */
static int
keys_of(struct suggest *sg, struct sg_key **keys, size_t *n, size_t *cap,
    uint32_t fold, uint32_t ref, uint8_t rank, const struct index_point *at)
{
	struct sg_key *k;
	uint32_t w = fold, pos = 0;
	size_t len;

	while (sg->buf[w] != '\0') {
		len = strlen(sg->buf + w);
		if (index_grow(keys, cap, *n + 1, sizeof(**keys)) != 0)
			return -1;
		k = &(*keys)[*n];
		memset(k, 0, sizeof(*k));
		if (canon_word(sg, w, len, &k->word) != 0)
			return -1;
		k->ref = ref;
		k->rank = rank;
		k->wlen = (uint16_t)len;
		k->pos = (uint8_t)(pos < 255 ? pos : 255);
		if (at != NULL) {
			k->lat = (float)at->lat;
			k->lon = (float)at->lon;
		}
		(*n)++;
		pos++;
		w += (uint32_t)len + 1;
	}
	return 0;
}

static int
key_cmp(const void *a, const void *b, void *arg)
{
	const struct sg_key *x = a, *y = b;
	const char *buf = arg;
	int c = x->word == y->word ? 0 : strcmp(buf + x->word, buf + y->word);

	if (c != 0)
		return c;
	if (x->rank != y->rank)
		return x->rank > y->rank ? -1 : 1;
	return x->ref < y->ref ? -1 : x->ref > y->ref;
}

static uint8_t
place_rank(const struct snap_place *p)
{
	return isnan(p->rating) ? 128 : (uint8_t)lround(p->rating / 5.0 * 255);
}

static int
build_places(struct suggest *sg, const struct snapshot *s)
{
	uint32_t i;
	size_t nw;

	if (s->nplaces == 0)
		return 0;
	if ((sg->pfold = calloc(s->nplaces, sizeof(*sg->pfold))) == NULL)
		return -1;
	for (i = 0; i < s->nplaces; i++)
		if (fold_put(sg, s->pnames + s->pname[i], &sg->pfold[i],
		    &nw) != 0 || keys_of(sg, &sg->pkeys, &sg->npkeys,
		    &sg->pkeycap, sg->pfold[i], i, place_rank(&s->places[i]),
		    &s->pos[i]) != 0)
			return -1;
	return 0;
}

static int
term_add(struct suggest *sg, enum sg_kind kind, const char *text,
    size_t len)
{
	struct sg_term *t;
	char *copy;
	size_t nw;
	int rc;

	if (index_grow(&sg->terms, &sg->termcap, sg->nterms + 1,
	    sizeof(*sg->terms)) != 0)
		return -1;
	t = &sg->terms[sg->nterms];
	memset(t, 0, sizeof(*t));
	t->kind = (uint8_t)kind;
	if (buf_put(sg, text, len, &t->text) != 0)
		return -1;
	/* folded from a copy: buf moves as the folded words go in */
	if ((copy = strndup(text, len)) == NULL)
		return -1;
	rc = fold_put(sg, copy, &t->fold, &nw);
	free(copy);
	if (rc != 0)
		return -1;
	sg->nterms++;
	return 0;
}

/* The cuisines and the categories, with their places, per city too. */
static int
build_tags(struct suggest *sg, const struct snapshot *s, uint32_t *first)
{
	const struct snap_place *p;
	const char *str;
	uint32_t i, k, t;
	size_t len;

	sg->ncat = s->cats.n;
	sg->ncui = s->cuisines.n;
	sg->ncities = s->ncities;
	if ((sg->catn = calloc((size_t)sg->ncities * sg->ncat + 1,
	    sizeof(*sg->catn))) == NULL || (sg->cuin = calloc(
	    (size_t)sg->ncities * sg->ncui + 1, sizeof(*sg->cuin))) == NULL)
		return -1;
	first[SG_CUISINE] = (uint32_t)sg->nterms;
	for (i = 0; i < sg->ncui; i++) {
		str = index_intern_str(&s->cuisines, i, &len);
		if (term_add(sg, SG_CUISINE, str, len) != 0)
			return -1;
	}
	first[SG_CATEGORY] = (uint32_t)sg->nterms;
	for (i = 0; i < sg->ncat; i++) {
		str = index_intern_str(&s->cats, i, &len);
		if (term_add(sg, SG_CATEGORY, str, len) != 0)
			return -1;
	}
	for (i = 0; i < s->nplaces; i++) {
		p = &s->places[i];
		for (k = 0; k < p->ncat; k++) {
			t = s->tags[p->tags + k];
			sg->catn[(size_t)p->city * sg->ncat + t]++;
			sg->terms[first[SG_CATEGORY] + t].places++;
		}
		for (k = 0; k < p->ncui; k++) {
			t = s->tags[p->tags + p->ncat + k];
			sg->cuin[(size_t)p->city * sg->ncui + t]++;
			sg->terms[first[SG_CUISINE] + t].places++;
		}
	}
	return 0;
}

/* The bytes of a folded text, its closing NUL included. */
static size_t
fold_len(const char *f)
{
	const char *w = f;

	while (*w != '\0')
		w += strlen(w) + 1;
	return (size_t)(w - f) + 1;
}

/* Every distinct dish (by its folded words), with the places serving it
 * (a place's items are counted once while they come together). */
static int
build_dishes(struct suggest *sg, const struct snapshot *s)
{
	struct intern seen;
	uint32_t *last = NULL, first = (uint32_t)sg->nterms, i, fold;
	size_t lastcap = 0, ndish = 0, nw, mark;
	const char *name;
	int64_t id;
	int rc = -1;

	memset(&seen, 0, sizeof(seen));
	for (i = 0; i < s->nitems; i++) {
		name = snap_item_name(s, i);
		mark = sg->len;
		if (fold_put(sg, name, &fold, &nw) != 0)
			goto out;
		id = nw > 0 ? index_intern(&seen, sg->buf + fold,
		    fold_len(sg->buf + fold)) : -2;
		sg->len = mark;         /* the term folds its own copy */
		if (id == -2)
			continue;
		if (id < 0)
			goto out;
		if ((size_t)id == ndish) {
			if (term_add(sg, SG_DISH, name, strlen(name)) != 0 ||
			    index_grow(&last, &lastcap, ndish + 1,
			    sizeof(*last)) != 0)
				goto out;
			last[ndish++] = UINT32_MAX;
		}
		if (last[id] != s->item_place[i]) {
			last[id] = s->item_place[i];
			sg->terms[first + (uint32_t)id].places++;
		}
	}
	rc = 0;
out:
	free(last);
	index_intern_free(&seen);
	return rc;
}

/* The terms' keys, ranked by their places against their kind's most. */
static int
build_term_keys(struct suggest *sg)
{
	const struct sg_term *t;
	double r;
	size_t i;

	for (i = 0; i < sg->nterms; i++)
		if (sg->terms[i].places > sg->maxplaces[sg->terms[i].kind])
			sg->maxplaces[sg->terms[i].kind] = sg->terms[i].places;
	for (i = 0; i < sg->nterms; i++) {
		t = &sg->terms[i];
		r = sg->maxplaces[t->kind] > 0 ? log1p(t->places) /
		    log1p(sg->maxplaces[t->kind]) : 0;
		if (keys_of(sg, &sg->tkeys, &sg->ntkeys, &sg->tkeycap,
		    t->fold, (uint32_t)i, (uint8_t)lround(r * 255), NULL) != 0)
			return -1;
	}
	return 0;
}

struct suggest *
suggest_build(const struct snapshot *s)
{
	struct suggest *sg;
	uint32_t first[SG_PLACE];

	if ((sg = calloc(1, sizeof(*sg))) == NULL)
		return NULL;
	if (build_places(sg, s) != 0 || build_tags(sg, s, first) != 0 ||
	    build_dishes(sg, s) != 0 || build_term_keys(sg) != 0) {
		suggest_free(sg);
		return NULL;
	}
	index_intern_free(&sg->words);
	free(sg->canon);
	sg->canon = NULL;
	if (sg->npkeys > 0)
		qsort_r(sg->pkeys, sg->npkeys, sizeof(*sg->pkeys), key_cmp,
		    sg->buf);
	if (sg->ntkeys > 0)
		qsort_r(sg->tkeys, sg->ntkeys, sizeof(*sg->tkeys), key_cmp,
		    sg->buf);
	return sg;
}

void
suggest_free(struct suggest *sg)
{
	if (sg == NULL)
		return;
	free(sg->buf);
	free(sg->pfold);
	free(sg->pkeys);
	free(sg->tkeys);
	free(sg->terms);
	free(sg->catn);
	free(sg->cuin);
	index_intern_free(&sg->words);
	free(sg->canon);
	free(sg);
}

/* ---- a query ---------------------------------------------------------------- */

struct sg_query {
	char w[SUGGEST_MAX_WORDS][ANALYZE_KEY_MAX + 1];
	size_t wlen[SUGGEST_MAX_WORDS];
	size_t n;
	bool at;                    /* a point was given */
	double lat, lon;
	unsigned limit;
};

struct sg_hit {
	double score;
	const struct snapshot *s;   /* the base or the delta it came from */
	const struct suggest *sg;
	uint32_t ref;               /* a place of s, or a term of sg */
	uint8_t kind;
	const char *fold;
	double dist;                /* a place's, with a point; else -1 */
};

struct sg_top {
	struct sg_hit hit[SUGGEST_MAX_LIMIT];
	unsigned n, limit;
	const struct suggest *base; /* reading a delta: its base's index */
	size_t tried;               /* places tried by a walk */
	size_t found;               /* ... and matched */
};

/* Q of a folded text, or -1 when a word of the query starts none of its
 * words. */
static double
sg_quality(const struct sg_query *q, const char *fold)
{
	const char *w;
	size_t i, pos, firstpos = 0;
	bool ok, whole = false;

	for (i = 0; i < q->n; i++) {
		ok = false;
		for (w = fold, pos = 0; *w != '\0'; w += strlen(w) + 1, pos++) {
			if (strncmp(w, q->w[i], q->wlen[i]) != 0)
				continue;
			if (!ok && i == 0)
				firstpos = pos;
			ok = true;
			if (i + 1 == q->n && w[q->wlen[i]] == '\0')
				whole = true;
		}
		if (!ok)
			return -1;
	}
	return (firstpos == 0 ? 0.9 : 0.6) + (whole ? 0.1 : 0);
}

/* Folded texts compared word by word (strcmp() stops at the first). */
static int
fold_cmp(const char *a, const char *b)
{
	size_t la = fold_len(a), lb = fold_len(b);
	int c = memcmp(a, b, la < lb ? la : lb);

	return c != 0 ? c : la < lb ? -1 : la > lb;
}

static int
hit_cmp(const struct sg_hit *a, const struct sg_hit *b)
{
	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	return fold_cmp(a->fold, b->fold);
}

/* Keeps h if it is among the best; one per kind and folded text. */
static void
top_offer(struct sg_top *t, const struct sg_hit *h)
{
	unsigned i, at;

	/* worse than the last kept: worse than any copy of it kept too */
	if (t->n == t->limit && hit_cmp(h, &t->hit[t->n - 1]) >= 0)
		return;
	for (i = 0; i < t->n; i++) {
		if (t->hit[i].kind != h->kind ||
		    fold_cmp(t->hit[i].fold, h->fold) != 0)
			continue;
		if (hit_cmp(h, &t->hit[i]) >= 0)
			return;
		memmove(&t->hit[i], &t->hit[i + 1],
		    (t->n - i - 1) * sizeof(*h));
		t->n--;
		break;
	}
	for (at = 0; at < t->n && hit_cmp(&t->hit[at], h) <= 0; at++)
		;
	if (t->n == t->limit)
		t->n--;
	memmove(&t->hit[at + 1], &t->hit[at], (t->n - at) * sizeof(*h));
	t->hit[at] = *h;
	t->n++;
}

static void
try_place(struct sg_top *t, const struct sg_query *q,
    const struct snapshot *s, const struct suggest *sg, uint32_t place)
{
	const struct snap_place *p = &s->places[place];
	struct sg_hit h;
	double qual, near = 0.5, pop;

	if (s->ngone > 0 && snap_gone(s, place))
		return;
	h.fold = sg->buf + sg->pfold[place];
	if ((qual = sg_quality(q, h.fold)) < 0)
		return;
	t->found++;
	pop = isnan(p->rating) ? 0.5 : p->rating / 5.0;
	h.dist = -1;
	if (q->at) {
		/* not worth a distance when even at the point it loses */
		if (t->n == t->limit && 0.60 * qual + 0.25 + 0.15 * pop <
		    t->hit[t->n - 1].score)
			return;
		h.dist = rank_haversine(q->lat, q->lon, s->pos[place].lat,
		    s->pos[place].lon);
		near = exp(-h.dist / SUGGEST_NEAR_M);
	}
	h.score = 0.60 * qual + 0.25 * near + 0.15 * pop;
	h.s = s;
	h.sg = sg;
	h.ref = place;
	h.kind = SG_PLACE;
	top_offer(t, &h);
}

static void key_range(const struct suggest *, const struct sg_key *, size_t,
    const char *, size_t, size_t *, size_t *);

/* Whether sg (a base's) has a term of kind with the folded text fold. */
static bool
has_term(const struct suggest *sg, uint8_t kind, const char *fold)
{
	size_t lo, hi, k, n = strlen(fold);
	const struct sg_term *e;

	key_range(sg, sg->tkeys, sg->ntkeys, fold, n, &lo, &hi);
	for (k = lo; k < hi; k++) {
		e = &sg->terms[sg->tkeys[k].ref];
		if (sg->buf[sg->tkeys[k].word + n] == '\0' && e->kind == kind &&
		    fold_cmp(sg->buf + e->fold, fold) == 0)
			return true;
	}
	return false;
}

static void
try_term(struct sg_top *t, const struct sg_query *q,
    const struct snapshot *s, const struct suggest *sg, uint32_t term)
{
	const struct sg_term *e = &sg->terms[term];
	struct sg_hit h;
	double qual, pop;

	h.fold = sg->buf + e->fold;
	if ((qual = sg_quality(q, h.fold)) < 0)
		return;
	if (t->base != NULL && has_term(t->base, e->kind, h.fold))
		return;                 /* the base's count stands */
	pop = sg->maxplaces[e->kind] > 0 ? log1p(e->places) /
	    log1p(sg->maxplaces[e->kind]) : 0;
	h.score = 0.60 * qual + 0.25 * 0.5 + 0.15 * pop;
	h.dist = -1;
	h.s = s;
	h.sg = sg;
	h.ref = term;
	h.kind = e->kind;
	top_offer(t, &h);
}

/* The keys of keys[0..n) whose word starts with w: [*lo, *hi). */
static void
key_range(const struct suggest *sg, const struct sg_key *keys, size_t n,
    const char *w, size_t wlen, size_t *lo, size_t *hi)
{
	size_t a = 0, b = n, m;

	while (a < b) {
		m = a + (b - a) / 2;
		if (strcmp(sg->buf + keys[m].word, w) < 0)
			a = m + 1;
		else
			b = m;
	}
	*lo = a;
	for (b = n; a < b;) {
		m = a + (b - a) / 2;
		if (strncmp(sg->buf + keys[m].word, w, wlen) <= 0)
			a = m + 1;
		else
			b = m;
	}
	*hi = a;
}

/* The narrowest range of keys that one of q's words gives. */
static void
narrowest(const struct suggest *sg, const struct sg_key *keys, size_t n,
    const struct sg_query *q, size_t *lo, size_t *hi)
{
	size_t i, a, b;

	*lo = 0;
	*hi = n;
	for (i = 0; i < q->n; i++) {
		key_range(sg, keys, n, q->w[i], q->wlen[i], &a, &b);
		if (b - a < *hi - *lo) {
			*lo = a;
			*hi = b;
		}
	}
}

/*
 * A key, judged first from the key alone (its place's rank and position,
 * in the key array's order): only a place that could enter the kept ones
 * is read. For a text of one word, a key of a later word stands for a
 * place whose first word does not match (one whose first word does is
 * judged by that word's key): Q is at most 0.7 there; otherwise Q may
 * reach 1.
 */
static void
try_key(struct sg_top *t, const struct sg_query *q,
    const struct snapshot *s, const struct suggest *sg,
    const struct sg_key *k)
{
	double worst, qual, pop, near = 0.5, d;

	if (t->n == t->limit) {
		worst = t->hit[t->n - 1].score - 1e-6;
		qual = q->n == 1 && k->pos > 0 ? 0.7 : 1.0;
		pop = (k->rank + 1) / 255.0;
		if (0.60 * qual + 0.25 * (q->at ? 1.0 : 0.5) + 0.15 * pop <
		    worst)
			return;
		if (q->at) {
			d = rank_haversine(q->lat, q->lon, k->lat, k->lon) - 10;
			near = exp(-(d > 0 ? d : 0) / SUGGEST_NEAR_M);
			if (0.60 * qual + 0.25 * near + 0.15 * pop < worst)
				return;
		}
	}
	try_place(t, q, s, sg, k->ref);
}

struct sg_walk {
	struct sg_top *t;
	const struct sg_query *q;
	const struct snapshot *s;
	const struct suggest *sg;
};

static void
walk_cell(void *arg, uint32_t first, uint32_t end)
{
	struct sg_walk *w = arg;
	uint32_t i;

	for (i = first; i < end && w->t->tried < SUGGEST_WALK_MAX; i++) {
		w->t->tried++;
		try_place(w->t, w->q, w->s, w->sg, i);
	}
}

/* Enough tried, or no place from dmin_m on could enter the kept ones. */
static bool
walk_done(void *arg, double dmin_m)
{
	struct sg_walk *w = arg;
	const struct sg_top *t = w->t;

	return t->tried >= SUGGEST_WALK_MAX || (t->n == t->limit &&
	    0.60 + 0.25 * exp(-dmin_m / SUGGEST_NEAR_M) + 0.15 <
	    t->hit[t->n - 1].score);
}

/* The places of one suggest index (a base's or a delta's). */
static void
find_places(struct sg_top *t, const struct sg_query *q,
    const struct snapshot *s, const struct suggest *sg)
{
	struct sg_walk w = { t, q, s, sg };
	size_t lo, hi, k, same = 0;

	narrowest(sg, sg->pkeys, sg->npkeys, q, &lo, &hi);
	if (hi - lo <= SUGGEST_SCAN_MAX) {
		for (k = lo; k < hi; k++)
			try_key(t, q, s, sg, &sg->pkeys[k]);
		return;
	}
	if (q->at) {
		index_grid_nearest(&s->grid, q->lat, q->lon, SUGGEST_RADIUS_M,
		    walk_cell, walk_done, &w);
		return;
	}
	for (k = lo; k < hi && k - lo < 8 * (size_t)SUGGEST_SCAN_MAX; k++) {
		/* a word's keys share its offset, most popular first */
		same = k > lo && sg->pkeys[k].word == sg->pkeys[k - 1].word ?
		    same + 1 : 0;
		if (same < SUGGEST_PER_WORD)
			try_key(t, q, s, sg, &sg->pkeys[k]);
	}
}

static void
find_terms(struct sg_top *t, const struct sg_query *q,
    const struct snapshot *s, const struct suggest *sg)
{
	size_t lo, hi, k;

	narrowest(sg, sg->tkeys, sg->ntkeys, q, &lo, &hi);
	for (k = lo; k < hi && k - lo < SUGGEST_SCAN_MAX; k++)
		try_term(t, q, s, sg, sg->tkeys[k].ref);
}

/* ---- requests ---------------------------------------------------------------- */

static char *
sg_dump(json_t *doc, size_t *outlen)
{
	char *out;

	if (doc == NULL)
		return NULL;
	out = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(10));
	json_decref(doc);
	if (out != NULL)
		*outlen = strlen(out);
	return out;
}

static unsigned
sg_error(const char *msg, char **out, size_t *outlen)
{
	*out = sg_dump(json_pack("{s:s}", "error", msg), outlen);
	return WIRE_ERROR;
}

/* The request's fields into q; NULL, or the field that is wrong. */
static const char *
sg_parse(json_t *root, struct sg_query *q)
{
	json_t *text = json_object_get(root, "text");
	json_t *lat = json_object_get(root, "lat");
	json_t *lon = json_object_get(root, "lon");
	json_t *limit = json_object_get(root, "limit");
	struct analyze_word w;
	const char *sp;

	memset(q, 0, sizeof(*q));
	if (!json_is_string(text) || json_string_length(text) == 0 ||
	    json_string_length(text) > SUGGEST_MAX_TEXT)
		return "text";
	q->limit = 10;
	if (limit != NULL && (!json_is_integer(limit) ||
	    json_integer_value(limit) < 1 ||
	    json_integer_value(limit) > SUGGEST_MAX_LIMIT))
		return "limit";
	if (limit != NULL)
		q->limit = (unsigned)json_integer_value(limit);
	if ((lat == NULL) != (lon == NULL))
		return lat == NULL ? "lat" : "lon";
	if (lat != NULL) {
		if (!json_is_number(lat) || fabs(json_number_value(lat)) > 90)
			return "lat";
		if (!json_is_number(lon) || fabs(json_number_value(lon)) > 180)
			return "lon";
		q->at = true;
		q->lat = json_number_value(lat);
		q->lon = json_number_value(lon);
	}
	sp = json_string_value(text);
	while (q->n < SUGGEST_MAX_WORDS && analyze_next_min(NULL, &sp, &w, 1)) {
		memcpy(q->w[q->n], w.key, w.keylen + 1);
		q->wlen[q->n++] = w.keylen;
	}
	return q->n == 0 ? "text" : NULL;
}

static json_t *
hit_json(const struct sg_hit *h)
{
	const struct snap_place *p;
	const struct sg_term *e;

	if (h->kind != SG_PLACE) {
		e = &h->sg->terms[h->ref];
		return json_pack("{s:s,s:s,s:I}", "kind", sg_kind_name[h->kind],
		    "text", h->sg->buf + e->text, "places",
		    (json_int_t)e->places);
	}
	p = &h->s->places[h->ref];
	if (h->dist < 0)
		return json_pack("{s:s,s:s,s:I,s:s}", "kind", "place", "text",
		    h->s->pnames + h->s->pname[h->ref], "place_id",
		    (json_int_t)p->id, "city", h->s->cities[p->city].id);
	return json_pack("{s:s,s:s,s:I,s:s,s:f}", "kind", "place", "text",
	    h->s->pnames + h->s->pname[h->ref], "place_id", (json_int_t)p->id,
	    "city", h->s->cities[p->city].id, "distance_m",
	    round(h->dist * 10) / 10);
}

static char *
top_json(const struct sg_top *t, size_t *outlen)
{
	json_t *list = json_array(), *doc;
	unsigned i;

	for (i = 0; i < t->n && list != NULL; i++)
		if (json_array_append_new(list, hit_json(&t->hit[i])) != 0) {
			json_decref(list);
			list = NULL;
		}
	if (list == NULL)
		return NULL;
	doc = json_pack("{s:o}", "suggestions", list);
	return sg_dump(doc, outlen);
}

unsigned
suggest_run(struct snap_holder *h, const void *req, size_t len, char **out,
    size_t *outlen)
{
	struct sg_query q;
	struct sg_top *t;
	struct snapshot *s;
	const char *bad;
	char msg[64];
	json_t *root;

	*out = NULL;
	*outlen = 0;
	if ((root = json_loadb(req, len, 0, NULL)) == NULL ||
	    !json_is_object(root)) {
		json_decref(root);
		return sg_error("bad request: json", out, outlen);
	}
	bad = sg_parse(root, &q);
	json_decref(root);
	if (bad != NULL) {
		snprintf(msg, sizeof(msg), "bad request: %s", bad);
		return sg_error(msg, out, outlen);
	}
	if ((s = snap_holder_get(h)) == NULL)
		return sg_error("no snapshot yet", out, outlen);
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		snap_unref(s);
		return sg_error("out of memory", out, outlen);
	}
	t->limit = q.limit;
	find_terms(t, &q, s, s->suggest);
	find_places(t, &q, s, s->suggest);
	if (s->delta != NULL) {
		t->base = s->suggest;
		find_terms(t, &q, s->delta, s->delta->suggest);
		find_places(t, &q, s->delta, s->delta->suggest);
	}
	*out = top_json(t, outlen);
	free(t);
	snap_unref(s);
	if (*out == NULL)
		return sg_error("out of memory", out, outlen);
	return WIRE_SUGGEST_RESULT;
}

/* ---- tags ---------------------------------------------------------------- */

/* A tag's places over the snapshot asked, by name. */
struct tag_count {
	const char *name;
	int64_t places;
};

struct tag_tally {
	struct tag_count *c;
	size_t n, cap;
	size_t nbase;               /* the base's tags come first, by id */
};

static int
tally_add(struct tag_tally *t, const char *name, int64_t n)
{
	if (index_grow(&t->c, &t->cap, t->n + 1, sizeof(*t->c)) != 0)
		return -1;
	t->c[t->n].name = name;
	t->c[t->n++].places = n;
	return 0;
}

/* The base's counts, in city (or every city when city < 0). */
static int
tally_base(struct tag_tally *t, const struct snapshot *s, bool cats,
    int city)
{
	const struct suggest *sg = s->suggest;
	const struct intern *dict = cats ? &s->cats : &s->cuisines;
	const uint32_t *counts = cats ? sg->catn : sg->cuin;
	uint32_t ntag = cats ? sg->ncat : sg->ncui, tag, c;
	size_t len;
	int64_t n;

	for (tag = 0; tag < ntag; tag++) {
		n = 0;
		for (c = 0; c < sg->ncities; c++)
			if (city < 0 || (uint32_t)city == c)
				n += counts[(size_t)c * ntag + tag];
		if (tally_add(t, index_intern_str(dict, tag, &len), n) != 0)
			return -1;
	}
	t->nbase = t->n;
	return 0;
}

/* The tags of one place, counted by delta (+1 or -1) in t by name. */
static int
tally_place(struct tag_tally *t, const struct snapshot *base,
    const struct snapshot *s, uint32_t place, bool cats, int delta)
{
	const struct snap_place *p = &s->places[place];
	const struct intern *dict = cats ? &s->cats : &s->cuisines;
	const struct intern *bdict = cats ? &base->cats : &base->cuisines;
	uint32_t k, from = p->tags + (cats ? 0 : p->ncat);
	uint32_t n = cats ? p->ncat : p->ncui;
	const char *name;
	size_t len, i;
	int64_t id;

	for (k = 0; k < n; k++) {
		name = index_intern_str(dict, s->tags[from + k], &len);
		if ((id = index_intern_find(bdict, name, len)) >= 0 &&
		    (size_t)id < t->nbase) {
			t->c[id].places += delta;
			continue;
		}
		for (i = t->nbase; i < t->n; i++)
			if (strcmp(t->c[i].name, name) == 0)
				break;
		if (i == t->n && tally_add(t, name, 0) != 0)
			return -1;
		t->c[i].places += delta;
	}
	return 0;
}

/* The overlay: less the places it hides, plus its delta's. */
static int
tally_overlay(struct tag_tally *t, const struct snapshot *s, bool cats,
    int city)
{
	const struct snapshot *d = s->delta;
	uint32_t i;

	for (i = 0; s->ngone > 0 && i < s->nplaces; i++)
		if (snap_gone(s, i) && (city < 0 ||
		    s->places[i].city == (uint32_t)city) &&
		    tally_place(t, s, s, i, cats, -1) != 0)
			return -1;
	for (i = 0; d != NULL && i < d->nplaces; i++)
		if ((city < 0 || d->places[i].city == (uint32_t)city) &&
		    tally_place(t, s, d, i, cats, 1) != 0)
			return -1;
	return 0;
}

static int
count_cmp(const void *a, const void *b)
{
	const struct tag_count *x = a, *y = b;

	if (x->places != y->places)
		return x->places > y->places ? -1 : 1;
	return strcmp(x->name, y->name);
}

static char *
tally_json(struct tag_tally *t, const char *key, const char *city,
    size_t *outlen)
{
	json_t *list = json_array(), *doc;
	size_t i;

	qsort(t->c, t->n, sizeof(*t->c), count_cmp);
	for (i = 0; i < t->n && list != NULL; i++)
		if (t->c[i].places > 0 && json_array_append_new(list,
		    json_pack("{s:s,s:I}", "name", t->c[i].name, "places",
		    (json_int_t)t->c[i].places)) != 0) {
			json_decref(list);
			list = NULL;
		}
	if (list == NULL)
		return NULL;
	doc = city != NULL ? json_pack("{s:s,s:o}", "city", city, key, list) :
	    json_pack("{s:n,s:o}", "city", key, list);
	return sg_dump(doc, outlen);
}

/* The index of city id in s, -1 if none. */
static int
city_find(const struct snapshot *s, const char *id)
{
	uint32_t i;

	for (i = 0; i < s->ncities; i++)
		if (strcmp(s->cities[i].id, id) == 0)
			return (int)i;
	return -1;
}

static unsigned
tags_answer(const struct snapshot *s, bool cats, const char *city,
    char **out, size_t *outlen)
{
	struct tag_tally t = { NULL, 0, 0, 0 };
	int c = -1;

	if (city != NULL && (c = city_find(s, city)) < 0)
		return sg_error("unknown city", out, outlen);
	if (tally_base(&t, s, cats, c) == 0 &&
	    tally_overlay(&t, s, cats, c) == 0)
		*out = tally_json(&t, cats ? "categories" : "cuisines", city,
		    outlen);
	free(t.c);
	if (*out == NULL)
		return sg_error("out of memory", out, outlen);
	return WIRE_TAGS_RESULT;
}

unsigned
suggest_tags_run(struct snap_holder *h, const void *req, size_t len,
    char **out, size_t *outlen)
{
	json_t *root, *kind, *city;
	struct snapshot *s;
	const char *k;
	unsigned type;

	*out = NULL;
	*outlen = 0;
	if ((root = json_loadb(req, len, 0, NULL)) == NULL) 
		return sg_error("bad request: json", out, outlen);
	kind = json_object_get(root, "kind");
	city = json_object_get(root, "city");
	k = json_is_string(kind) ? json_string_value(kind) : "";
	if (strcmp(k, "categories") != 0 && strcmp(k, "cuisines") != 0) {
		json_decref(root);
		return sg_error("bad request: kind", out, outlen);
	}
	if (city != NULL && !json_is_null(city) && !json_is_string(city)) {
		json_decref(root);
		return sg_error("bad request: city", out, outlen);
	}
	if ((s = snap_holder_get(h)) == NULL) {
		json_decref(root);
		return sg_error("no snapshot yet", out, outlen);
	}
	type = tags_answer(s, k[1] == 'a', json_is_string(city) ?
	    json_string_value(city) : NULL, out, outlen);
	snap_unref(s);
	json_decref(root);
	return type;
}
