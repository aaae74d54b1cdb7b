/*
 * rankc.h: the worker's client of the ranker: one multiplexed connection
 * over the ranker's Unix socket (frames carry request ids), kept alive
 * with pings and re-established with back-off when it breaks.
 */
#ifndef PLACESD_RANKC_H
#define PLACESD_RANKC_H

#include <stdbool.h>

struct event_base;
struct config;
struct stats_block;
struct rankc;

struct rankc *rankc_new(struct event_base *base, const struct config *cfg,
    struct stats_block *st);
/* True while the ranker answered a ping recently. */
bool rankc_up(const struct rankc *rc);
void rankc_free(struct rankc *rc);

#endif
