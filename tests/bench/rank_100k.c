/*
 * rank_100k.c: how fast the ranker's core answers over 100,000 places.
 * Builds a snapshot of a synthetic world (fixed seed: four cities, random
 * names, cuisines, hours and menus, about 33 km across per city), then
 * times 500 random queries in several shapes and prints microseconds per
 * query. Then the typo lookup alone (index_text_typos) over a dictionary
 * of [keys] made-up words (300,000 by default, about what 1,000,000 real
 * places hold), against reading every key. It prints figures and judges
 * nothing: speed is no unit test's business (tests/unit/test_rank.c
 * checks what rank() answers).
 *
 * Built on demand, not by "make" or "make check":
 *     make tests/bench/rank_100k && tests/bench/rank_100k [places [keys]]
 */
#include "ranker/index.h"
#include "ranker/score.h"
#include "ranker/snapshot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NQUERIES    500
#define MAX_ITEMS   5
#define SPREAD      0.15        /* degrees of latitude around a centre */
#define NOW_UTC     1795000000

#define RND_SEED 12345
#include "../rnd.h"

static const struct {
	const char *id;
	double lat, lon;
	int offset;
} cities[] = {
	{ "moscow", 55.75, 37.62, 180 },
	{ "newyork", 40.71, -74.00, -300 },
	{ "suva", -18.10, 179.98, 720 },
	{ "longyearbyen", 78.22, 15.65, 60 },
};
#define NCITIES (int)(sizeof(cities) / sizeof(cities[0]))

#include "../rank_words.h"
#define N(a) (int)(sizeof(a) / sizeof((a)[0]))

static void
words(char *out, size_t size, const char *const *from, int nfrom, int n)
{
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (i > 0)
			strncat(out, " ", size - strlen(out) - 1);
		strncat(out, from[rnd_int(nfrom)], size - strlen(out) - 1);
	}
}

static void
hours(struct snap_hours *h)
{
	memset(h, 0, sizeof(*h));
	for (int d = 0; d < SNAP_DAYS; d++) {
		int open = (8 + rnd_int(5)) * 60;
		int close = rnd_int(3) == 0 ? (24 + rnd_int(4)) * 60 :
		    (18 + rnd_int(6)) * 60;

		if (rnd_int(7) == 0)
			continue;           /* closed that day */
		h->n[d] = 1;
		h->iv[d][0] = (struct snap_interval){ open, close };
	}
}

static int
add_place(struct snap_builder *b, int64_t id)
{
	struct snap_place_in in;
	struct snap_hours h;
	const char *cat[1], *cui[1];
	char name[128], desc[256];
	int c = rnd_int(NCITIES), nitems = rnd_int(MAX_ITEMS + 1);

	memset(&in, 0, sizeof(in));
	in.id = id;
	in.city = c;
	in.lat = cities[c].lat + (rnd_unit() * 2 - 1) * SPREAD;
	in.lon = cities[c].lon + (rnd_unit() * 2 - 1) * SPREAD /
	    cos(cities[c].lat * M_PI / 180);
	if (in.lon > 180)
		in.lon -= 360;
	in.rating = rnd_int(5) == 0 ? NAN : rnd_int(11) * 0.5;
	in.price_level = rnd_int(5);
	cat[0] = cats[rnd_int(N(cats))];
	cui[0] = cuis[rnd_int(N(cuis))];
	in.categories = cat;
	in.ncat = 1;
	in.cuisines = cui;
	in.ncui = (size_t)rnd_int(2);
	hours(&h);
	in.hours = rnd_int(7) == 0 ? NULL : &h;
	in.has_active_offer = rnd_int(10) == 0;
	words(name, sizeof(name), name_words, N(name_words), 1 + rnd_int(3));
	words(desc, sizeof(desc), desc_words, N(desc_words), rnd_int(8));
	in.name = name;
	in.description = desc;
	if (snap_add_place(b, &in) < 0)
		return -1;
	for (int i = 0; i < nitems; i++)
		if (snap_add_menu_item(b, id, dishes[rnd_int(N(dishes))]) != 0)
			return -1;
	return 0;
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static struct rank_result out[RANK_MAX_WINDOW];

static int
time_queries(const struct snapshot *s, const char *what,
    const struct rank_query *qs, size_t nplaces)
{
	double t0 = now_ms(), t;
	size_t total, sum = 0;

	for (int i = 0; i < NQUERIES; i++) {
		if (rank(s, &qs[i], out, RANK_MAX_WINDOW, &total) < 0) {
			fprintf(stderr, "rank_100k: rank() failed\n");
			return -1;
		}
		sum += total;
	}
	t = now_ms() - t0;
	printf("rank_100k: %zu places, %-36s %8.1f us/query "
	    "(%zu in radius on average)\n", nplaces, what,
	    t * 1e3 / NQUERIES, sum / NQUERIES);
	return 0;
}

/* --- the typo lookup over a big dictionary ------------------------------ */

#define NLOOKUPS    1000

/* A made-up word of 4 to 14 letters, of syllables, into w. */
static void
made_up(char *w)
{
	static const char *const cons = "bcdfghklmnprstvz", *vow = "aeiouy";
	int n = 4 + rnd_int(11), i;

	for (i = 0; i < n; i++)
		w[i] = i % 2 == 0 ? cons[rnd_int(16)] : vow[rnd_int(6)];
	w[n] = '\0';
}

/* One edit of w, in place: a letter changed, dropped, added or swapped. */
static void
misspell(char *w)
{
	size_t n = strlen(w), at = (size_t)rnd_int((int)n - 1);
	char c;

	switch (rnd_int(4)) {
	case 0:
		w[at] = (char)('a' + rnd_int(26));
		break;
	case 1:
		memmove(w + at, w + at + 1, n - at);
		break;
	case 2:
		memmove(w + at + 1, w + at, n - at + 1);
		w[at] = (char)('a' + rnd_int(26));
		break;
	default:
		c = w[at];
		w[at] = w[at + 1];
		w[at + 1] = c;
		break;
	}
}

static int
time_typos(size_t nkeys)
{
	static char q[NLOOKUPS][INDEX_TOKEN_MAX + 2];
	struct text_builder tb;
	struct text_index ti;
	uint32_t ranks[16];
	uint8_t dist[16];
	char w[INDEX_TOKEN_MAX + 2];
	double t0, t;
	size_t i, found = 0, scan = 0, len;
	uint32_t r;

	memset(&tb, 0, sizeof(tb));
	for (i = 0; i < nkeys; i++) {
		made_up(w);
		if (i < NLOOKUPS)
			strcpy(q[i], w);
		if (index_text_add(&tb, NULL, (uint32_t)i, INDEX_NAME,
		    INDEX_NO_ITEM, w) != 0)
			return -1;
	}
	if (index_text_build(&tb, (uint32_t)nkeys, &ti) != 0)
		return -1;
	for (i = 0; i < NLOOKUPS; i++)
		misspell(q[i]);
	t0 = now_ms();
	for (i = 0; i < NLOOKUPS; i++)
		found += index_text_typos(&ti, q[i], strlen(q[i]), ranks, dist,
		    16);
	t = now_ms() - t0;
	printf("rank_100k: typo lookup, %u keys (%u in its table, %zu KB):"
	    " %8.1f us/word (%.1f keys found)\n", ti.ntok,
	    ti.typo_start[INDEX_TOKEN_MAX + 1],
	    (size_t)ti.typo_start[INDEX_TOKEN_MAX + 1] * 12 / 1024,
	    t * 1e3 / NLOOKUPS, (double)found / NLOOKUPS);
	t0 = now_ms();
	for (i = 0; i < NLOOKUPS / 10; i++)
		for (r = 0; r < ti.ntok; r++) {
			const char *k = index_intern_str(&ti.dict,
			    ti.sorted[r], &len);

			scan += analyze_distance(q[i], strlen(q[i]), k, len,
			    analyze_max_edits(strlen(q[i]), len)) <=
			    analyze_max_edits(strlen(q[i]), len);
		}
	t = now_ms() - t0;
	printf("rank_100k: the same by reading every key:%22.1f us/word "
	    "(%.1f keys found)\n", t * 1e3 / (NLOOKUPS / 10),
	    (double)scan / (NLOOKUPS / 10));
	index_text_free(&ti);
	return 0;
}

int
main(int argc, char **argv)
{
	static struct rank_query qs[NQUERIES];
	static const char *geo[] = { "georgian" };
	size_t nplaces = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
	size_t nkeys = argc > 2 ? strtoul(argv[2], NULL, 10) : 300000;
	struct analyzer *an = analyzer_new();
	struct snap_builder *b;
	struct snapshot *s;
	double t0;
	int i, rc = 0;

	if (nplaces == 0 || nkeys == 0) {
		fprintf(stderr, "usage: rank_100k [places [keys]]\n");
		return 2;
	}
	if (an == NULL)
		return 1;
	t0 = now_ms();
	if ((b = snap_builder_new()) == NULL)
		return 1;
	for (i = 0; i < NCITIES; i++)
		if (snap_add_city(b, cities[i].id, cities[i].offset) != i)
			return 1;
	for (size_t k = 0; k < nplaces; k++)
		if (add_place(b, 1000 + (int64_t)k * 7) != 0) {
			fprintf(stderr, "rank_100k: adding place %zu failed\n", k);
			return 1;
		}
	if ((s = snap_build(b)) == NULL)
		return 1;
	printf("rank_100k: built a snapshot of %zu places in %.0f ms\n",
	    nplaces, now_ms() - t0);

	for (i = 0; i < NQUERIES; i++) {
		int c = rnd_int(NCITIES);

		rank_query_init(&qs[i]);
		qs[i].lat = cities[c].lat + (rnd_unit() * 2 - 1) * 0.05;
		qs[i].lon = cities[c].lon + (rnd_unit() * 2 - 1) * 0.05 /
		    cos(cities[c].lat * M_PI / 180);
		if (qs[i].lon > 180)
			qs[i].lon -= 360;
		qs[i].now_utc = NOW_UTC;
		qs[i].an = an;          /* a ranking thread's own */
	}
	rc |= time_queries(s, "radius 2 km, no preferences:", qs, nplaces);
	for (i = 0; i < NQUERIES; i++) {
		qs[i].cuisines = geo;
		qs[i].ncuisines = 1;
		qs[i].open = RANK_OPEN_AT_UTC;
		qs[i].open_utc = NOW_UTC;
	}
	rc |= time_queries(s, "radius 2 km, cuisine + open_now:", qs, nplaces);
	for (i = 0; i < NQUERIES; i++) {
		qs[i].radius_m = 10000;
		qs[i].limit = 100;
	}
	rc |= time_queries(s, "radius 10 km, same, limit 100:", qs, nplaces);
	for (i = 0; i < NQUERIES; i++) {
		qs[i].q = "khachapuri";
		qs[i].radius_m = 5000;
		qs[i].limit = 10;
	}
	rc |= time_queries(s, "radius 5 km, + q=khachapuri:", qs, nplaces);
	for (i = 0; i < NQUERIES; i++)
		qs[i].q = "кафе";
	rc |= time_queries(s, "radius 5 km, + q=кафе (common word):", qs,
	    nplaces);
	for (i = 0; i < NQUERIES; i++)
		qs[i].q = "pizzas";
	rc |= time_queries(s, "radius 5 km, + q=pizzas (a stem):", qs,
	    nplaces);
	for (i = 0; i < NQUERIES; i++)
		qs[i].q = "kachapuri";
	rc |= time_queries(s, "radius 5 km, + q=kachapuri (a typo):", qs,
	    nplaces);
	snap_unref(s);
	analyzer_free(an);
	if (time_typos(nkeys) != 0)
		rc = -1;
	return rc == 0 ? 0 : 1;
}
