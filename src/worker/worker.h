/*
 * worker.h: a worker process's state. One event_base, one HTTP server on
 * the slot's inherited listener, one connection to the ranker; shares
 * nothing with its siblings but the stats area it writes its own block of.
 * What it serves (the handlers of src/api/) is handed to it as a struct
 * worker_app by whoever starts it: the worker does not know the handlers.
 */
#ifndef PLACESD_WORKER_H
#define PLACESD_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/child.h"

struct event_base;
struct child_life;
struct event;
struct http;
struct rankc;
struct pg_pool;
struct cache;
struct http_route;
struct pg_statement;
struct app_state;
struct worker;

/*
 * What a worker serves, handed in by whoever starts it (src/placesd.c):
 * the routes, the statements its database pool prepares, and the hooks
 * of the worker's life that the application needs.
 */
struct worker_app {
	const struct http_route *routes;
	size_t nroutes;
	const struct pg_statement *statements;
	size_t nstatements;
	/* The services exist and the worker does not serve yet: sets
	 * w->app_state. -1: the worker cannot start. */
	int (*start)(struct worker *w);
	/* The worker begins to drain (a reload, a stop). */
	void (*drain)(struct worker *w);
	/* At exit, once the HTTP server and the feed are shut down; also
	 * after a failed start, so w->app_state may be NULL. */
	void (*free)(struct worker *w);
};

struct worker {
	const struct child_args *args;
	const struct config *cfg;
	struct stats_area *stats;
	struct stats_block *st;
	struct event_base *base;
	struct http *http;
	struct rankc *rankc;
	struct pg_pool *pg;         /* the primary ([database] conninfo) */
	struct pg_pool *pg_read;    /* the replicas (read_conninfo), or NULL */
	struct cache *cache;
	struct upstream *upstream;  /* the events service */
	struct feed *feed;          /* new offers, LISTEN */
	struct citymodel *model;    /* the city read model, kept by feed */
	const struct worker_app *app;   /* what it serves */
	struct app_state *app_state;    /* the application's own (api.h) */
	struct child_life *life;    /* the master's channel, the signals */
	struct event *drain_tick;
	struct event *warm_tick;    /* waiting for the database and ranker */
	uint64_t warm_started_ms;
	bool serving;               /* accepting connections */
	bool draining;
	uint64_t drain_started_ms;
	int exit_code;
};

int worker_main(const struct child_args *a, const struct worker_app *app);
bool worker_ranker_up(const struct worker *w);
bool worker_db_up(const struct worker *w);
/* The pool a read goes to: the replicas while they have a usable
 * connection, else the primary (counted in reads_by). */
struct pg_pool *worker_read_pool(struct worker *w);
/* The same for a read that is kept (a cache, the read model) or must
 * show every change this worker was told of: the replicas only when one
 * has replayed past them all (*min_lsn, the query's to keep), else the
 * primary (*min_lsn 0). */
struct pg_pool *worker_fresh_pool(struct worker *w, uint64_t *min_lsn);

#endif
