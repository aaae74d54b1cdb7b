/*
 * score.h: answering one nearby query from a snapshot: hard filters, one
 * scoring function (documented at the top of score.c), and the top
 * offset + limit places by a bounded heap, with deterministic tie-breaks.
 * Pure computation: no I/O, no locks; any number of threads may rank on
 * one snapshot at once.
 */
#ifndef PLACESD_SCORE_H
#define PLACESD_SCORE_H

#include "ranker/snapshot.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RANK_MAX_WINDOW     1000        /* offset + limit */
#define RANK_TOTAL_CAP      1000        /* places counted exactly, at most */
#define RANK_COUNT_VISITS   64          /* places looked at only to count */
#define RANK_MAX_RADIUS_M   50000.0
#define RANK_MAX_TAGS       16          /* categories, and cuisines, asked */
#define RANK_MAX_TERMS      8           /* words of q that count */
#define RANK_MAX_MATCHED    7
#define RANK_MATCHED_LEN    64          /* bytes, with the NUL */

enum rank_sort {
	RANK_SORT_BEST = 0,         /* score desc, distance, id */
	RANK_SORT_DISTANCE,         /* distance, id */
	RANK_SORT_RATING            /* rating desc (nulls last), distance, id */
};

enum rank_open {
	RANK_OPEN_ANY = 0,          /* no open filter */
	RANK_OPEN_AT_UTC,           /* open_now: at open_utc, in each city's zone */
	RANK_OPEN_AT_LOCAL          /* open_at: open_day, open_minute local */
};

struct rank_query {
	double lat, lon;
	double radius_m;            /* (0, RANK_MAX_RADIUS_M] */
	const char *const *categories;  /* any of; a hard filter */
	size_t ncategories;
	const char *const *cuisines;    /* any of; a preference */
	size_t ncuisines;
	bool cuisine_required;      /* make cuisines a hard filter too */
	const char *const *prefer_cuisines; /* any of; a preference only, */
	size_t nprefer;             /* C in place of cuisines when given */
	int min_price, max_price;   /* 1..4, 0 = none; null price fails */
	double min_rating;          /* NaN = none; null rating fails */
	enum rank_open open;
	int64_t open_utc;           /* seconds since the epoch */
	int open_day;               /* 0 = monday .. 6 */
	int open_minute;            /* 0 .. 1439 */
	int64_t now_utc;            /* for the open-now bonus; 0 = unknown */
	const char *q;              /* free text; NULL or "" = none */
	struct analyzer *an;        /* the calling thread's, for q; NULL: one
	                               is made for the call */
	enum rank_sort sort;
	unsigned offset, limit;     /* offset + limit <= RANK_MAX_WINDOW */
};

struct rank_result {
	int64_t id;
	uint32_t place;             /* index in the snapshot */
	double distance_m;          /* haversine */
	double score;               /* 0..1 */
	double rating;              /* NaN = null */
	unsigned nmatched;
	char matched[RANK_MAX_MATCHED][RANK_MATCHED_LEN];
};

/* Defaults: radius 2000 m, no filters, sort best, limit 10. */
void rank_query_init(struct rank_query *q);
/* 0, or -1 when a field is out of range. */
int rank_query_check(const struct rank_query *q);

/*
 * Writes the results offset .. offset + limit (at most outcap) in order
 * and returns how many; *total is the number of places passing every
 * filter, or, when *exact is false, a lower bound of it above offset +
 * limit. A walk that no farther place could enter the top offset + limit
 * of goes on counting the places it passes, without scoring them, until
 * it has counted past RANK_TOTAL_CAP or looked at RANK_COUNT_VISITS
 * places that way: then it stops, and the total is a bound. -1 with
 * errno EINVAL (bad query) or ENOMEM.
 */
int rank_counted(const struct snapshot *s, const struct rank_query *q,
    struct rank_result *out, size_t outcap, size_t *total, bool *exact);
/* The same, whether the total is exact left unsaid. */
int rank(const struct snapshot *s, const struct rank_query *q,
    struct rank_result *out, size_t outcap, size_t *total);

/*
 * The same, one place at a time: the query prepared against a snapshot
 * (resolved tags, q's words scored through the text index), then each
 * place judged: true when it passes every filter, with r filled in
 * (and r->matched when matched). rank() is built on these; so is the
 * brute-force reference in the unit tests.
 */
struct rank_ctx;

struct rank_ctx *rank_ctx_new(const struct snapshot *s,
    const struct rank_query *q);
bool rank_ctx_eval(const struct rank_ctx *c, uint32_t place,
    struct rank_result *r, bool matched);
void rank_ctx_free(struct rank_ctx *c);
/* Whether q's words were looked up through the grid's places (true) or
 * by scanning their postings (false); for the tests. */
bool rank_ctx_text_by_grid(const struct rank_ctx *c);

/* Great-circle distance in meters (mean Earth radius). */
double rank_haversine(double lat1, double lon1, double lat2, double lon2);

#endif
