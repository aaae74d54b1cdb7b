/*
 * rankc.h: the worker's client of the ranker: one multiplexed connection
 * over the ranker's Unix socket (frames carry request ids), kept alive
 * with pings and re-established with back-off when it breaks.
 */
#ifndef PLACESD_RANKC_H
#define PLACESD_RANKC_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct config;
struct stats_block;
struct rankc;

struct rankc_call;

enum rankc_status {
	RANKC_OK,           /* payload is the answer */
	RANKC_DOWN,         /* no ranker (or it went away) */
	RANKC_BUSY,         /* its queue is full */
	RANKC_TIMEOUT,      /* past ranker.timeout */
	RANKC_ERROR,        /* it refused the request (payload says why) */
};

/* Called once per call that was not cancelled; payload only on OK/ERROR. */
typedef void (*rankc_done_fn)(void *arg, enum rankc_status st,
    const char *payload, size_t len);

struct rankc *rankc_new(struct event_base *base, const struct config *cfg,
    struct stats_block *st);
/*
 * Sends one request (frame type and payload) on the shared connection, or
 * keeps a copy until one of this worker's slots at the ranker is free
 * (rankc.c, max_sent): at most ranker.timeout for a slot (then BUSY), and
 * ranker.timeout for the answer. NULL when the ranker is not up or
 * ranker.queue_size calls already wait: the caller degrades at once.
 */
struct rankc_call *rankc_call(struct rankc *rc, unsigned type,
    const char *payload, size_t len, rankc_done_fn done, void *arg);
/* The caller no longer wants the answer: done() will not be called. */
void rankc_call_cancel(struct rankc_call *c);
/* True while the ranker answered a ping recently. */
bool rankc_up(const struct rankc *rc);
void rankc_free(struct rankc *rc);

#endif
