/*
 * worker.h: a worker process's state. One event_base, one HTTP server on
 * the slot's inherited listener, one connection to the ranker; shares
 * nothing with its siblings but the stats area it writes its own block of.
 */
#ifndef PLACESD_WORKER_H
#define PLACESD_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/child.h"

struct event_base;
struct event;
struct http;
struct rankc;
struct pg_pool;
struct cache;
struct frame;

struct worker {
	const struct child_args *args;
	const struct config *cfg;
	struct stats_area *stats;
	struct stats_block *st;
	struct event_base *base;
	struct http *http;
	struct rankc *rankc;
	struct pg_pool *pg;
	struct cache *cache;
	struct upstream *upstream;  /* the events service */
	struct feed *feed;          /* new offers, LISTEN */
	struct citymodel *model;    /* the city read model, kept by feed */
	struct frame *offer_frame;  /* the live offer streams send now */
	uint64_t offer_frame_seq;   /* its feed delivery */
	struct frame *heartbeat_frame;
	unsigned seq;               /* jitter */
	unsigned nearby_fallbacks;  /* degraded /v1/nearby queries running */
	struct event *chan_ev;
	struct event *sig_term;
	struct event *sig_quit;
	struct event *drain_tick;
	struct event *warm_tick;    /* waiting for the database and ranker */
	uint64_t warm_started_ms;
	bool serving;               /* accepting connections */
	bool draining;
	uint64_t drain_started_ms;
	int exit_code;
};

int worker_main(const struct child_args *a);
bool worker_ranker_up(const struct worker *w);
bool worker_db_up(const struct worker *w);

#endif
