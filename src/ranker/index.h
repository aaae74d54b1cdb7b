/*
 * index.h: the ranker's two indexes, built once per snapshot and
 * read-only afterwards, so any number of threads may query them at once:
 *
 * - a spatial grid of ~1 km cells (0.01 deg of latitude; per row, 0.01 deg
 *   of longitude divided by cos(latitude)) that yields every place within a
 *   radius, and a few more, without scanning the world;
 * - a text index: key -> postings (place, field, menu item) over place
 *   names, descriptions and menu item names, with BM25 term weights. Its
 *   keys are the words' keys of analyze.h (case and accents folded,
 *   Cyrillic transliterated, not stemmed), in byte order, so that a
 *   prefix is a range of them. Beside them, two small tables over the
 *   dictionary, not the postings: stem -> the keys of the words with that
 *   stem (only where a word's stem differs from its key: a stem that is
 *   itself a key is found as one), and the keys of a-z only, 4 letters or
 *   more, grouped by length with a bit mask of their letters (once and
 *   twice), which the typo lookup reads in place of the whole dictionary:
 *   only the keys of the lengths that can be near, and of those only the
 *   ones whose masks are near.
 *
 * Also the byte-string intern table both are built with.
 */
#ifndef PLACESD_INDEX_H
#define PLACESD_INDEX_H

#include "ranker/analyze.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INDEX_TOKEN_MAX     ANALYZE_KEY_MAX     /* bytes of a key */
#define INDEX_FIELD_TOKENS  1024    /* tokens of one field that are indexed */
#define INDEX_EARTH_R       6371008.8   /* mean Earth radius, meters */

/* BM25 parameters and per-field weights (see score.c for their use). */
#define INDEX_BM25_K1       1.2
#define INDEX_BM25_B        0.75

enum index_field {
	INDEX_NAME = 0,
	INDEX_DESC = 1,
	INDEX_MENU = 2,
	INDEX_TAGS = 3,             /* its cuisines and categories */
	INDEX_NFIELDS = 4
};

#define INDEX_NO_ITEM       UINT32_MAX

/* Grows *pp (an array of size-byte elements) to hold need; 0 or -1. */
int index_grow(void *pp, size_t *cap, size_t need, size_t size);
/* qsort() order of uint32_t values, ascending. */
int index_u32_cmp(const void *a, const void *b);

/* --- intern: byte strings -> dense ids, in the order first seen ------------ */

struct intern {
	uint32_t *slots;            /* id + 1; 0 = empty */
	uint32_t nslots;            /* a power of two */
	uint32_t n;
	size_t offcap, lencap;
	uint32_t *off;              /* per id: where its bytes start in buf */
	uint32_t *len;
	char *buf;
	size_t buflen, bufcap;
};

/* The id of p[0..len), added if new; -1 (ENOMEM or EOVERFLOW). */
int64_t index_intern(struct intern *t, const void *p, size_t len);
/* The id of p[0..len), or -1 when it was never added. */
int64_t index_intern_find(const struct intern *t, const void *p, size_t len);
const char *index_intern_str(const struct intern *t, uint32_t id, size_t *len);
void index_intern_free(struct intern *t);

/* --- spatial grid --------------------------------------------------------- */

struct index_point {
	double lat, lon;
};

struct grid {
	uint64_t *keys;             /* occupied cells, ascending */
	uint32_t *start;            /* ncells + 1: a cell's slice of items */
	uint32_t *items;            /* place indexes, grouped by cell */
	uint32_t ncells;
};

/*
 * A walk's visit of one occupied cell: its places are the slots
 * first .. end - 1 of items (for a snapshot's grid, whose places are
 * numbered in the grid's order, the places first .. end - 1 themselves).
 */
typedef void index_cell_fn(void *arg, uint32_t first, uint32_t end);

int index_grid_build(struct grid *g, const struct index_point *pts,
    uint32_t n);
/* Calls fn for every cell with places within radius_m of (lat, lon). */
void index_grid_query(const struct grid *g, double lat, double lon,
    double radius_m, index_cell_fn *fn, void *arg);
/*
 * Whether no place at least dmin_m from the point could still matter to a
 * walk's caller (the top-k it fills is full of better ones).
 */
typedef bool index_done_fn(void *arg, double dmin_m);
/*
 * Like index_grid_query, but the cells nearest the point first, in
 * buckets of radius_m / 64 (50 m at least) by a lower bound of their
 * places' distance: before each bucket and each cell it asks done() with
 * that bound, and stops or skips the cell when it says so.
 */
void index_grid_nearest(const struct grid *g, double lat, double lon,
    double radius_m, index_cell_fn *fn, index_done_fn *done, void *arg);
/*
 * Like index_grid_query, but fn is called once per row of the grid (twice
 * where the circle crosses the antimeridian) with the slots of all its
 * occupied cells within the circle's box: a grid's slots of one row's
 * neighbouring cells are contiguous.
 */
void index_grid_ranges(const struct grid *g, double lat, double lon,
    double radius_m, index_cell_fn *fn, void *arg);
void index_grid_free(struct grid *g);

/* --- text index ----------------------------------------------------------- */

struct posting {
	uint32_t token;             /* rank of the token in sorted order */
	uint32_t place;
	uint32_t item;              /* menu item, or INDEX_NO_ITEM */
	uint16_t dl;                /* length of the field, in tokens */
	uint8_t field;              /* enum index_field */
	uint8_t tf;                 /* occurrences in the field (max 255) */
};

struct text_builder {
	struct intern dict;         /* keys */
	struct intern stems;        /* stems that differ from their key */
	struct intern pairs;        /* (key id, stem id), 8 bytes each */
	uint32_t *last_stem;        /* key id -> 0 none yet, 1 the key itself,
	                               2 + the stem id of its last word */
	size_t nlast, lastcap;
	struct posting *post;       /* .token is the intern id until built */
	size_t npost, postcap;
	uint64_t dlsum[INDEX_NFIELDS];
	uint64_t ndocs[INDEX_NFIELDS];
};

/* The typo table's keys: 4 .. INDEX_TOKEN_MAX letters. */
#define INDEX_TYPO_MIN      4

struct text_index {
	struct intern dict;
	uint32_t *sorted;           /* rank -> intern id */
	struct intern stems;
	uint32_t *stem_start;       /* stem id -> its first key; nstems + 1 */
	uint32_t *stem_keys;        /* key ranks, by stem, then rank */
	uint32_t typo_start[INDEX_TOKEN_MAX + 2];  /* by length */
	uint32_t *typo_key;         /* key ranks of a-z keys, by length */
	uint64_t *typo_mask;        /* ... and their letters (index.c) */
	uint32_t *df;               /* rank -> number of places with it */
	uint32_t *start;            /* rank -> first posting; ntok + 1 */
	struct posting *post;       /* by token, then place, then as added */
	uint32_t ntok;
	uint32_t nplaces;
	double avgdl[INDEX_NFIELDS];
};

/*
 * Indexes the words of s as field of place (item for INDEX_MENU), their
 * keys and stems found with the builder's thread's analyzer an.
 */
int index_text_add(struct text_builder *b, struct analyzer *an,
    uint32_t place, enum index_field field, uint32_t item, const char *s);
/*
 * Copies into b the stems of old's keys that b keeps: newid is, for each
 * of old's key ranks, the id b interned the key under, or UINT32_MAX.
 */
int index_text_keep_stems(struct text_builder *b,
    const struct text_index *old, const uint32_t *newid);
/* Builds ti from b and frees b, whatever the outcome; 0 or -1. */
int index_text_build(struct text_builder *b, uint32_t nplaces,
    struct text_index *ti);
void index_text_builder_free(struct text_builder *b);
void index_text_free(struct text_index *ti);
/* Ranks [lo, hi) of the key tok, or of every key starting with it. */
void index_text_range(const struct text_index *ti, const char *tok,
    size_t len, bool prefix, uint32_t *lo, uint32_t *hi);
/* The ranks of the keys whose words have stem (in *ranks); how many. */
size_t index_text_stem(const struct text_index *ti, const char *stem,
    size_t len, const uint32_t **ranks);
/*
 * The ranks of up to cap keys within analyze_max_edits() of key (a-z
 * only), nearest first, and their distances; key itself is not one.
 * Reads only the typo table's keys of the lengths that can be near.
 */
size_t index_text_typos(const struct text_index *ti, const char *key,
    size_t len, uint32_t *ranks, uint8_t *dist, size_t cap);
/* BM25 idf of a token found in df of nplaces places (df may be 0). */
double index_idf(uint64_t nplaces, uint64_t df);
/* BM25 saturated term frequency of one posting: 0 .. k1 + 1. */
double index_text_tfn(const struct text_index *ti, const struct posting *p);

#endif
