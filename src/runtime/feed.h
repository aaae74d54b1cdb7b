/*
 * feed.h: a worker's live feed of new offers. The node's one LISTEN
 * connection lives in the ranker (ranker/offer_feed.h), which reads each
 * new offer once and relays it, with the place notifications, on the
 * worker's ranker connection (rankc.h); here each offer is handed to the
 * worker's subscribers in id order, each place notification drops that
 * place from the worker's cache, and both kinds go to the read model. On
 * a new ranker connection it subscribes with the last offer id it has and
 * is sent what was published meanwhile first (by id, nothing is lost);
 * the cache is cleared.
 */
#ifndef PLACESD_FEED_H
#define PLACESD_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct config;
struct stats_block;
struct cache;
struct citymodel;
struct feed;
struct feed_sub;
struct rankc;

struct feed_offer {
	int64_t id;
	const char *city;
	const char *json;           /* an Offer (docs/api.md, "Objects") */
	size_t len;
	uint64_t seq;               /* the delivery: one per offer handed out,
	                               the same for every subscriber */
};

/*
 * A new offer for a subscriber, or NULL: a heartbeat tick, FEED_BEAT_TICKS
 * of them every [offers] heartbeat (the subscriber counts them and sends a
 * heartbeat when it has been quiet for that many). An offer
 * with id FEED_REWOUND (no city, no JSON) says the offers' ids went back
 * (a database restored from a backup): what a subscriber has seen says
 * nothing of what comes next. It may call feed_unsubscribe on itself.
 */
#define FEED_REWOUND (-1)
#define FEED_BEAT_TICKS 8
typedef void (*feed_fn)(void *arg, const struct feed_offer *o);

/* Subscribes on rc's connections (rankc_set_feed) until feed_free. */
struct feed *feed_new(struct event_base *base, const struct config *cfg,
    struct stats_block *st, struct cache *cache, struct rankc *rc);
void feed_free(struct feed *f);
/* The last offer id handed out (or found at start); -1 until known. */
int64_t feed_high(const struct feed *f);
bool feed_up(const struct feed *f);
/* The read model to tell of every place and offer change. */
void feed_set_model(struct feed *f, struct citymodel *m);
/* Relayed, the ranker LISTENing, and every offer notified so far read
 * and relayed to this worker: nothing unheard. */
bool feed_quiet(const struct feed *f);
unsigned feed_subscribers(const struct feed *f);
/*
 * The primary's WAL insert position taken after every change this feed
 * has heard of: a replica that has replayed that far shows them all.
 * False while it is not known (not quiet, a change heard since, the
 * position asked and not yet answered). Only tracked with read_conninfo
 * set: without it, the ranker never sends it.
 */
bool feed_change_lsn(const struct feed *f, uint64_t *lsn);

struct feed_sub *feed_subscribe(struct feed *f, feed_fn fn, void *arg);
void feed_unsubscribe(struct feed_sub *s);
/* Calls fn(arg) for each subscriber at once (a drain); fn may
 * unsubscribe its own. */
void feed_each(struct feed *f, void (*fn)(void *arg));

#endif
