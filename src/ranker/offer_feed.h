/*
 * offer_feed.h: the node's one LISTEN connection on the primary, held by
 * the ranker and relayed to every worker (docs/design.md, "The offer
 * feed"). It LISTENs on "offers", "places_changed" and "places_city",
 * reads each new offer once for the whole node, and writes it to each
 * worker's connection as FEED_OFFERS frames (common/feed_wire.h), with
 * the place notifications, its state and, with read replicas, the
 * primary's WAL position after the changes.
 *
 * A worker that subscribes with the last offer id it has (after a reload
 * or a lost ranker) is first sent what it missed, read by id on this same
 * connection, then the live offers: nothing lost, nothing twice, in id
 * order. A worker that stops reading is cut off once 4 x [offers]
 * max_pending bytes (at least 8 MiB) wait for it; it reconnects and
 * catches up the same way.
 */
#ifndef PLACESD_OFFER_FEED_H
#define PLACESD_OFFER_FEED_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct bufferevent;
struct config;
struct stats_block;
struct offer_feed;
struct feed_client;

/* The first connection attempt is over (up, or refused): called once. */
typedef void (*offer_feed_settled_fn)(void *arg);
/* A worker's connection holds too much unsent: the caller closes it
 * (which detaches it); called from the feed's own callbacks. */
typedef void (*offer_feed_overflow_fn)(void *arg);

struct offer_feed *offer_feed_new(struct event_base *base,
    const struct config *cfg, struct stats_block *st,
    offer_feed_settled_fn settled, void *arg);
void offer_feed_free(struct offer_feed *of);
/* Up: LISTENing, the high-water mark known. */
bool offer_feed_up(const struct offer_feed *of);

/*
 * A worker's FEED_SUB on bev: relay every offer after since (-1: from the
 * current high-water mark on). Its first frame is a FEED_STATE.
 */
struct feed_client *offer_feed_attach(struct offer_feed *of,
    struct bufferevent *bev, int64_t since, offer_feed_overflow_fn overflow,
    void *arg);
/* The worker's connection closes: relay nothing more to it. NULL ok. */
void offer_feed_detach(struct feed_client *c);

#endif
