/*
 * citymodel.h: a worker's read model of its cities. For each city it holds
 * answers already encoded as JSON fragments (a digest's places, their menu
 * items, their active offers), keyed by what chose them, plus the ids of
 * every place of the city, so that a NOTIFY about a place finds its city;
 * and, in the bucket CM_PLACES, places by id with their menus and offers.
 *
 * It knows nothing of SQL: a handler asks with cm_get() and either gets
 * the fragments (a hit), waits on the build another request runs for the
 * same key (single flight), or is told to build them itself and hand them
 * over with cm_put() (or cm_fail(): a failed or late query is never kept).
 *
 * What is held is true while the offer feed LISTENs: a place notification
 * drops the place's city and the place's own answer in CM_PLACES ("all",
 * or a payload that is no id, drops everything); a places_city one drops
 * the cities a place left and entered and CM_CITIES (without that
 * channel, a place no held city knows drops every city: it may be new);
 * a new offer drops its city's digests and its place's answer, an answer
 * leaves when one of its offers ends or starts,
 * a lost feed drops everything once it is back (meanwhile what is held is
 * served, marked stale, only while the database is away too), and a TTL
 * is a safety net. While the feed is not listening, or has been told of an
 * offer it has not read yet, cm_get() answers CM_OFF and the caller reads
 * the database itself. Bounded by [cache] max_bytes (0: off), least
 * recently used answers evicted first.
 */
#ifndef PLACESD_CITYMODEL_H
#define PLACESD_CITYMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CM_PARTS 3
/* The bucket of places by id ("place:<id>"), beside the cities: a change
 * to a place or a new offer of it drops its one answer. */
#define CM_PLACES ""
/* The bucket of the list of cities (GET /v1/cities), no city's name: a
 * place that enters, leaves or moves, or a changed city, drops it. */
#define CM_CITIES "*"
/* The bucket of place cards: a place's own row as JSON (the "place" of a
 * /v1/nearby result), keyed by its id. Only a change to that row, or its
 * city, drops one; menus and offers are not on a card. */
#define CM_CARDS "#"
/* A city's list answers (GET /v1/cities/{city}/places) have keys that
 * begin so; its digests' keys do not. A new offer leaves them be. */
#define CM_LIST_PREFIX "list|"
/* The places a digest's events name, by the set of their ids, in the
 * digest's city: kept as its digests are, and like place cards counted
 * by their kind only (not in the model's hits and misses). */
#define CM_VENUES_PREFIX "venues|"

struct config;
struct stats_block;
struct pg_pool;
struct feed;
struct citymodel;
struct cm_flight;
struct cm_waiter;

/* An answer's fragments; valid until the next call into the model. */
struct cm_value {
	const char *part[CM_PARTS];
	size_t len[CM_PARTS];
};

/* CM_STALE: a hit served while the feed and the database are both away,
 * to be marked as such */
enum cm_get { CM_OFF, CM_HIT, CM_STALE, CM_WAIT, CM_BUILD };
#define CM_STALE_STATUS "placesd; hit; detail=stale"

/* What an answer is, told by its city and key (placesd_readmodel_kind_*) */
enum cm_kind { CMK_DIGEST, CMK_PLACE, CMK_LIST, CMK_CITIES, CMK_CARD,
    CMK_VENUES, CMK_COUNT };

enum cm_cause { CMC_PLACE, CMC_UNKNOWN_PLACE, CMC_BAD_PAYLOAD, CMC_OFFER,
    CMC_FEED_LOST, CMC_OFFER_TIME, CMC_TTL, CMC_PLACE_CITY, CMC_COUNT };

/* A waiter's wake-up: v is NULL when the build failed or was dropped. */
typedef void (*cm_wait_fn)(void *arg, const struct cm_value *v);

struct citymodel *cm_new(const struct config *cfg, struct stats_block *st);
void cm_free(struct citymodel *m);
/* The feed whose state says whether the model may be trusted. */
void cm_set_feed(struct citymodel *m, struct feed *f);
/* The pool whose state says whether a stale answer beats none. */
void cm_set_pool(struct citymodel *m, struct pg_pool *p);

/*
 * Looks up key in city. CM_HIT, CM_STALE: *v is set. CM_WAIT: fn(arg, ...) is
 * called once the build ends, unless cm_unwait(*wt) comes first.
 * CM_BUILD: the caller builds and ends *fl with cm_put or cm_fail.
 * CM_OFF: the caller reads the database and keeps nothing.
 */
enum cm_get cm_get(struct citymodel *m, const char *city, const char *key,
    struct cm_value *v, cm_wait_fn fn, void *arg, struct cm_waiter **wt,
    struct cm_flight **fl);
void cm_unwait(struct cm_waiter *wt);

/*
 * Place cards, many to a request and never waited for: CM_HIT (*v's
 * first part is the card), CM_BUILD (not held: read it and hand it to
 * cm_card_put) or CM_OFF (read it, keep nothing). cm_epoch() is taken
 * before the read; cm_card_put keeps the card only if no change was heard
 * since, so that a read that raced a change is never kept; json is the
 * card, len bytes and a NUL.
 */
enum cm_get cm_card(struct citymodel *m, int64_t id, struct cm_value *v);
uint64_t cm_epoch(const struct citymodel *m);
void cm_card_put(struct citymodel *m, int64_t id, const char *json,
    size_t len, uint64_t epoch);
/*
 * The built answer (parts of NULL stand for "[]"), the ids of every place
 * of its city (a bigint[] literal), and the wall-clock ms after which it
 * is no longer true (0: none known). Wakes the waiters; keeps it unless
 * the city changed meanwhile or it is larger than the bound.
 */
void cm_put(struct cm_flight *fl, const char *const part[CM_PARTS],
    const char *city_ids, int64_t until_ms);
void cm_fail(struct cm_flight *fl);

/* From the offer feed. Lost: nothing is trusted, and builds in flight
 * are not kept; what is held is only served stale while the database is
 * away too, and dropped (counted) when the feed is back. */
void cm_feed_lost(struct citymodel *m);
void cm_place_changed(struct citymodel *m, const char *payload);
/* A places_city payload (005_notify_city.sql): drops the place, both of
 * its cities and the list of cities; unparseable, everything. */
void cm_place_city(struct citymodel *m, const char *payload);
/* Whether the database announces places_city: then a place no held city
 * knows drops nothing but itself, and the list of cities is held. */
void cm_set_precise(struct citymodel *m, bool on);
void cm_offer_added(struct citymodel *m, const char *city,
    int64_t place_id);
void cm_drop_all(struct citymodel *m, enum cm_cause why);

size_t cm_bytes(const struct citymodel *m);

#endif
