/*
 * suggest_1m.c: how fast the ranker answers autocomplete (WIRE_SUGGEST,
 * ranker/suggest.h) over 1,000,000 places. Builds a snapshot of a
 * synthetic world (fixed seed: four cities about 33 km across, names of
 * one to three words drawn with a Zipf skew from 20,000 made-up words and
 * the words of rank_words.h, Latin and Cyrillic, a few dishes per place),
 * then times NQUERIES requests one by one, each the prefix (1 to 8
 * characters) of a word drawn with the same skew, one word in four
 * followed by the start of a second, half of them with a point in a
 * city: the p50, p99 and the slowest, in microseconds, through
 * suggest_run() (JSON in and out), as a ranking thread runs it. It also
 * prints the build time and the memory the index adds. It judges
 * nothing (the aim is p99 <= 10 ms; see README.md). With SLOW_US set,
 * each request slower than that many microseconds is printed.
 *
 * Built on demand, not by "make" or "make check":
 *     make tests/bench/suggest_1m && tests/bench/suggest_1m [places]
 */
#include "ranker/index.h"
#include "ranker/snapshot.h"
#include "ranker/suggest.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NQUERIES    4000
#define NWORDS      20000
#define SPREAD      0.15        /* degrees of latitude around a centre */

#define RND_SEED 4242
#include "../rnd.h"
#include "../rank_words.h"

#define N(a) (int)(sizeof(a) / sizeof((a)[0]))

static const struct {
	const char *id;
	double lat, lon;
} cities[] = {
	{ "moscow", 55.75, 37.62 }, { "paris", 48.86, 2.35 },
	{ "tokyo", 35.68, 139.69 }, { "tbilisi", 41.72, 44.79 },
};
#define NCITIES N(cities)

static char vocab[NWORDS][16];
static double zipf_cdf[NWORDS];

/* Made-up words of two to four syllables, every fourth one Cyrillic. */
static void
make_vocab(void)
{
	static const char *const lat[] = { "ka", "ri", "to", "mo", "sa",
	    "lu", "ne", "ba", "chi", "po", "ve", "dra", "gon", "ter", "ma" };
	static const char *const cyr[] = { "ка", "ри", "то", "мо", "са",
	    "лу", "не", "ба", "чи", "по", "ве", "дра", "гон", "тер", "ма" };
	double sum = 0;
	int i, k, n;

	for (i = 0; i < NWORDS; i++) {
		vocab[i][0] = '\0';
		n = 2 + rnd_int(3);
		for (k = 0; k < n; k++)
			strcat(vocab[i], i % 4 == 3 ? cyr[rnd_int(N(cyr))] :
			    lat[rnd_int(N(lat))]);
		if (i < N(name_words))
			snprintf(vocab[i], sizeof(vocab[i]), "%s", name_words[i]);
		sum += 1.0 / (i + 1);
		zipf_cdf[i] = sum;
	}
	for (i = 0; i < NWORDS; i++)
		zipf_cdf[i] /= sum;
}

static const char *
zipf_word(void)
{
	double u = rnd_unit();
	int lo = 0, hi = NWORDS - 1, m;

	while (lo < hi) {
		m = (lo + hi) / 2;
		if (zipf_cdf[m] < u)
			lo = m + 1;
		else
			hi = m;
	}
	return vocab[lo];
}

static int
add_place(struct snap_builder *b, int64_t id)
{
	struct snap_place_in in;
	const char *cat[1], *cui[1];
	char name[128];
	int c = rnd_int(NCITIES), nitems = rnd_int(4), n = 1 + rnd_int(3);

	memset(&in, 0, sizeof(in));
	in.id = id;
	in.city = c;
	in.lat = cities[c].lat + (rnd_unit() * 2 - 1) * SPREAD;
	in.lon = cities[c].lon + (rnd_unit() * 2 - 1) * SPREAD /
	    cos(cities[c].lat * M_PI / 180);
	in.rating = rnd_int(5) == 0 ? NAN : rnd_int(11) * 0.5;
	cat[0] = cats[rnd_int(N(cats))];
	cui[0] = cuis[rnd_int(N(cuis))];
	in.categories = cat;
	in.ncat = 1;
	in.cuisines = cui;
	in.ncui = 1;
	name[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (i > 0)
			strcat(name, " ");
		strcat(name, zipf_word());
	}
	in.name = name;
	if (snap_add_place(b, &in) < 0)
		return -1;
	for (int i = 0; i < nitems; i++)
		if (snap_add_menu_item(b, id, dishes[rnd_int(N(dishes))]) != 0)
			return -1;
	return 0;
}

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static long
rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[128];
	long kb = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* The first n characters (UTF-8) of w. */
static void
prefix(char *out, size_t size, const char *w, int n)
{
	size_t i = 0;

	while (w[i] != '\0' && n > 0 && i + 4 < size) {
		i++;
		while ((w[i] & 0xc0) == 0x80)
			i++;
		n--;
	}
	memcpy(out, w, i);
	out[i] = '\0';
}

static int
dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	static double t[NQUERIES];
	double slow_us = getenv("SLOW_US") != NULL ?
	    atof(getenv("SLOW_US")) : 1e9;
	size_t nplaces = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
	struct snap_holder h;
	struct snap_builder *b;
	char req[256], p1[48], p2[48], *out;
	size_t outlen, sum = 0;
	long rss0;
	double t0;
	int i, c;

	if (nplaces == 0) {
		fprintf(stderr, "usage: suggest_1m [places]\n");
		return 2;
	}
	make_vocab();
	if ((b = snap_builder_new()) == NULL)
		return 1;
	for (i = 0; i < NCITIES; i++)
		if (snap_add_city(b, cities[i].id, 0) != i)
			return 1;
	for (size_t k = 0; k < nplaces; k++)
		if (add_place(b, 1 + (int64_t)k) != 0)
			return 1;
	rss0 = rss_kb();
	t0 = now_us();
	snap_holder_init(&h);
	snap_holder_set(&h, snap_build(b));
	printf("suggest_1m: %zu places: snapshot built in %.0f ms, RSS %ld -> "
	    "%ld MB (index and snapshot together)\n", nplaces,
	    (now_us() - t0) / 1e3, rss0 / 1024, rss_kb() / 1024);
	for (i = 0; i < NQUERIES; i++) {
		prefix(p1, sizeof(p1), zipf_word(), 1 + rnd_int(8));
		p2[0] = '\0';
		if (rnd_int(4) == 0) {
			p2[0] = ' ';
			prefix(p2 + 1, sizeof(p2) - 1, zipf_word(), 1 + rnd_int(4));
		}
		c = rnd_int(NCITIES);
		if (rnd_int(2) == 0)
			snprintf(req, sizeof(req), "{\"text\":\"%s%s\",\"limit\":10,"
			    "\"lat\":%.4f,\"lon\":%.4f}", p1, p2,
			    cities[c].lat + (rnd_unit() - 0.5) * 0.1,
			    cities[c].lon + (rnd_unit() - 0.5) * 0.1);
		else
			snprintf(req, sizeof(req), "{\"text\":\"%s%s\","
			    "\"limit\":10}", p1, p2);
		t0 = now_us();
		if (suggest_run(&h, req, strlen(req), &out, &outlen) == 0 ||
		    out == NULL)
			return 1;
		t[i] = now_us() - t0;
		if (t[i] > slow_us)
			printf("suggest_1m: slow: %.0f us for %s\n", t[i], req);
		sum += outlen;
		free(out);
	}
	qsort(t, NQUERIES, sizeof(t[0]), dcmp);
	printf("suggest_1m: %d requests: p50 %.0f us, p99 %.0f us, max %.0f "
	    "us (%zu bytes of answers on average)\n", NQUERIES,
	    t[NQUERIES / 2], t[NQUERIES * 99 / 100], t[NQUERIES - 1],
	    sum / NQUERIES);
	snap_holder_fini(&h);
	return 0;
}
