/*
 * snapshot.h: an immutable in-memory copy of every place, with its
 * indexes (index.h), that the ranker's threads read without locks.
 *
 * The loader feeds a builder row by row: cities first, then places, then
 * menu items (an item names its place by id, so its place must be in).
 * snap_build() turns the builder into a snapshot; it is never changed
 * again. Readers hold a reference (snap_ref/snap_unref) for as long as
 * they use one, so a new snapshot can be swapped in (snap_holder) while
 * requests in flight finish on the old one, freed by the last unref.
 *
 * Offer flags are kept apart, in chunks of SNAP_CHUNK places shared by
 * reference count: snap_with_offers() makes a snapshot that differs from
 * another in a few places' flags by copying the chunk table and the
 * chunks it changes, and shares everything else (places, indexes, names)
 * with the snapshot that built them, its base. A base lives as long as
 * the last snapshot made from it.
 *
 * Changed places go to an overlay rather than into a copy: the delta, a
 * small snapshot of its own that holds the changed places as they are now
 * (snap_delta_builder, snap_with_delta), while the base's old versions
 * (and deleted places) are hidden by a flag in the same chunks as the
 * offer flags. Place indexes run over both: [0, nplaces) are the base's,
 * [nplaces, nplaces + delta->nplaces) the delta's. The delta scores text
 * with its base's statistics (places, document frequencies, lengths): a
 * hidden place still counts in them until the next copy or full load
 * folds the overlay in, as a search engine's deleted documents count
 * until its segments merge.
 */
#ifndef PLACESD_SNAPSHOT_H
#define PLACESD_SNAPSHOT_H

#include "ranker/index.h"

struct suggest;

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_DAYS           7       /* monday .. sunday */
#define SNAP_MAX_INTERVALS  4       /* opening intervals per day */
#define SNAP_MAX_TAGS       16      /* categories, and cuisines, per place */
#define SNAP_MIN_PER_DAY    1440

/*
 * [open, close) in minutes from the day's midnight. close may pass 1440
 * for a span past midnight (18:00-02:00 is [1080, 1560)), up to 2880;
 * [0, 1440) is open all day.
 */
struct snap_interval {
	uint16_t open, close;
};

struct snap_hours {
	uint8_t n[SNAP_DAYS];       /* 0 = closed that day */
	struct snap_interval iv[SNAP_DAYS][SNAP_MAX_INTERVALS];
};

struct snap_place_in {
	int64_t id;
	int city;                   /* from snap_add_city() */
	double lat, lon;
	double rating;              /* 0..5, NaN = null */
	int price_level;            /* 1..4, 0 = null */
	const char *const *categories;
	size_t ncat;
	const char *const *cuisines;
	size_t ncui;
	const struct snap_hours *hours;     /* NULL = unknown */
	bool has_active_offer;
	const char *name;
	const char *description;    /* may be NULL */
};

/* --- what ranker code reads; the loader needs none of it ------------------ */

struct snap_place {
	int64_t id;
	double rating;              /* NaN = null */
	uint32_t city;
	int32_t hours;              /* index in snapshot.hours, -1 = unknown */
	uint32_t tags;              /* first of ncat categories, ncui cuisines */
	uint8_t ncat, ncui;
	uint8_t price;              /* 0 = null */
};

struct snap_city {
	char *id;
	int utc_offset_min;
};

#define SNAP_CHUNK_SHIFT    10
#define SNAP_CHUNK          (1u << SNAP_CHUNK_SHIFT)    /* places */

#define SNAP_FLAG_OFFER     1u      /* an active offer */
#define SNAP_FLAG_GONE      2u      /* hidden: the delta has it, or deleted */

struct snap_chunk {                 /* flags of SNAP_CHUNK places */
	unsigned refs;              /* __atomic: snapshots that share it */
	uint8_t flag[SNAP_CHUNK];   /* SNAP_FLAG_* */
};

/* The places of each tag (category or cuisine), in place order: what a
 * filter on tags reads instead of every place near the point. */
struct snap_tag_places {
	uint32_t *start;            /* per tag id, ntags + 1 */
	uint32_t *places;
};

struct snap_idmap {                 /* place id -> index, open addressing */
	uint32_t *slots;            /* index + 1; 0 = empty */
	uint32_t nslots;
};

struct snapshot {
	unsigned refs;              /* __atomic */
	uint64_t serial;            /* set by the loader: snapshot N */
	struct snapshot *base;      /* NULL: owns what follows; else what */
	                            /* follows is base's (one ref held) */
	struct snap_chunk **offers; /* its own table, shared chunks */
	uint32_t nchunks;
	struct snapshot *delta;     /* the overlay, or NULL; one ref held */
	uint32_t ngone;             /* places hidden by SNAP_FLAG_GONE */
	uint32_t nplaces, ncities, nitems, nhours;
	struct snap_place *places;  /* in the grid's order (see renumber()) */
	struct index_point *pos;    /* per place */
	struct snap_city *cities;
	uint32_t *tags;             /* interned ids: cats, then cuisines */
	struct intern cats, cuisines;
	struct snap_tag_places cat_places, cui_places;
	struct snap_hours *hours;   /* distinct opening hours */
	uint32_t *item_place;       /* menu items: their place */
	uint32_t *item_name;        /* ... and name, an offset in names */
	char *names;
	struct snap_idmap ids;
	uint8_t *textdocs;          /* per place: 1 name, 2 description, 4 tags
	                               indexed */
	uint64_t text_dlsum[INDEX_NFIELDS];     /* words and fields indexed, */
	uint64_t text_ndocs[INDEX_NFIELDS];     /* for snap_builder_from() */
	struct grid grid;
	struct text_index text;
	uint32_t *pname;            /* per place: its name, an offset in */
	char *pnames;               /* pnames ("" when it had none) */
	struct suggest *suggest;    /* autocomplete over its own places */
};

/* --- building -------------------------------------------------------------- */

struct snap_builder;

struct snap_builder *snap_builder_new(void);
/* Drops a builder that will not be built. */
void snap_builder_free(struct snap_builder *b);
/*
 * These return an index (city, place) or 0 (menu item), or -1 with errno:
 * EINVAL for a bad value (bad city, coordinates out of range, rating
 * outside 0..5, price outside 0..4, an interval that is empty, reversed,
 * opens after midnight or closes after 48:00, too many tags or intervals),
 * EEXIST for a place id seen before, ENOENT for a menu item of an unknown
 * place, ENOMEM. A refused row leaves the builder as it was.
 */
int snap_add_city(struct snap_builder *b, const char *id,
    int utc_offset_min);
int snap_add_place(struct snap_builder *b, const struct snap_place_in *p);
int snap_add_menu_item(struct snap_builder *b, int64_t place_id,
    const char *name);
/*
 * A builder that holds what old holds (cities, places, menu items, their
 * words), less the places whose ids are in drop[0..ndrop) and
 * their menu items: add the changed places and their items to it, then
 * snap_build(). Much cheaper than feeding every row again, as the words
 * of the places kept are not read again. Kept places come first, in old's
 * order. NULL on ENOMEM.
 */
struct snap_builder *snap_builder_from(const struct snapshot *old,
    const int64_t *drop, size_t ndrop);
/* Consumes b; the snapshot holds one reference. NULL on ENOMEM. */
struct snapshot *snap_build(struct snap_builder *b);

/*
 * The overlay. snap_delta_builder() gives a builder for old's next delta:
 * old's delta less changed[0..n), or old's cities alone when it has none;
 * add the changed places (and their menu items) to it as they are now,
 * leaving out the deleted ones, then snap_with_delta() builds it (and
 * consumes b) into a snapshot that is old with those places replaced,
 * hiding changed[] in old's base, without copying the base: it costs the
 * chunk table, the chunks it touches, and the delta. NULL on ENOMEM.
 * snap_builder_from() on a snapshot with an overlay leaves out the places
 * it hides and the delta's: read those again to fold the overlay in.
 */
struct snap_builder *snap_delta_builder(const struct snapshot *old,
    const int64_t *changed, size_t n);
struct snapshot *snap_with_delta(struct snapshot *old, struct snap_builder *b,
    const int64_t *changed, size_t n);
/* Places in the overlay's delta, and base places it hides. */
uint32_t snap_delta_places(const struct snapshot *s);
uint32_t snap_gone_places(const struct snapshot *s);

/* --- using ----------------------------------------------------------------- */

struct snapshot *snap_ref(struct snapshot *s);
/* Drops a reference; the last one frees the snapshot. */
void snap_unref(struct snapshot *s);
/* Frees at once, whatever the count: for a sole owner. */
void snap_free(struct snapshot *s);
unsigned snap_refs(const struct snapshot *s);

/* Place indexes, over the base and the delta (hidden ones included). */
uint32_t snap_nplaces(const struct snapshot *s);
int64_t snap_place_id(const struct snapshot *s, uint32_t place);
/* The index of place id, or -1 (never a hidden place). */
int64_t snap_find(const struct snapshot *s, int64_t id);
/* Whether place (an index over base and delta) has an active offer. */
bool snap_offer_at(const struct snapshot *s, uint32_t place);
/* The name of place (an index over base and delta). */
const char *snap_place_name(const struct snapshot *s, uint32_t place);
/* A menu item of s itself (not of its delta). */
const char *snap_item_name(const struct snapshot *s, uint32_t item);
/* Whether s's own place (< s->nplaces) has an active offer: the
 * ranking's hot path. */
static inline bool
snap_offer(const struct snapshot *s, uint32_t place)
{
	return (s->offers[place >> SNAP_CHUNK_SHIFT]->
	    flag[place & (SNAP_CHUNK - 1)] & SNAP_FLAG_OFFER) != 0;
}
/* Whether s's own place is hidden by its overlay. */
static inline bool
snap_gone(const struct snapshot *s, uint32_t place)
{
	return (s->offers[place >> SNAP_CHUNK_SHIFT]->
	    flag[place & (SNAP_CHUNK - 1)] & SNAP_FLAG_GONE) != 0;
}

/* One place's offer flag, as snap_with_offers() is told. */
struct snap_offer_set {
	uint32_t place;             /* index over base and delta */
	bool on;
};

/*
 * A snapshot that is s with the offer flags of set[0..n) changed, and
 * everything else shared with s's base: costs the chunk table (a pointer
 * per SNAP_CHUNK places) and a copy of each chunk changed, not a copy of
 * s (a flag in s's delta costs a new delta made the same way). Holds one
 * reference; its serial is s's (the caller sets its own). NULL on ENOMEM,
 * or EINVAL for a place out of range.
 */
struct snapshot *snap_with_offers(struct snapshot *s,
    const struct snap_offer_set *set, size_t n);
/* 1 if open at local minute (0..1439) of day (0 = monday), 0, -1 unknown. */
int snap_open_at(const struct snapshot *s, uint32_t place, int day,
    int minute);
/* The same for a place's hours (its snap_place.hours). */
int snap_hours_open(const struct snapshot *s, int32_t hours, int day,
    int minute);

/*
 * The current snapshot, swapped atomically: get takes a reference under a
 * mutex (so the snapshot cannot be freed between reading the pointer and
 * counting it), set installs a new one and drops the holder's reference
 * to the old one.
 */
struct snap_holder {
	pthread_mutex_t mu;
	struct snapshot *cur;
};

void snap_holder_init(struct snap_holder *h);
/* A new reference to the current snapshot (the caller unrefs), or NULL. */
struct snapshot *snap_holder_get(struct snap_holder *h);
/* Takes over the caller's reference to s (may be NULL). */
void snap_holder_set(struct snap_holder *h, struct snapshot *s);
void snap_holder_fini(struct snap_holder *h);

#endif
