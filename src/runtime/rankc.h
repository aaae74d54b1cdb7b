/*
 * rankc.h: the worker's client of the ranker: one multiplexed connection
 * over the ranker's Unix socket (frames carry request ids), watched with
 * pings and re-established when it breaks or stops answering them.
 */
#ifndef PLACESD_RANKC_H
#define PLACESD_RANKC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
 * ranker.timeout for the answer. NULL, with *why, when the ranker is not
 * up (RANKC_DOWN), ranker.queue_size calls already wait (RANKC_BUSY) or
 * the call cannot be made (RANKC_ERROR): the caller degrades at once.
 */
struct rankc_call *rankc_call(struct rankc *rc, unsigned type,
    const char *payload, size_t len, rankc_done_fn done, void *arg,
    enum rankc_status *why);
/* The caller no longer wants the answer: done() will not be called. */
void rankc_call_cancel(struct rankc_call *c);
/*
 * True from the first answer to a ping on the current connection until
 * that connection closes or PING_MISSES_DOWN pings in a row go unanswered
 * (rankc.c); a busy ranker stays up.
 */
bool rankc_up(const struct rankc *rc);

/*
 * The offer feed's side of the connection (feed.h). When a connection
 * first answers a ping, since() gives the last offer id the feed has and
 * a FEED_SUB goes out on it; from then on the feed frames of that
 * connection alone go to frame() (false: a protocol error, the connection
 * is dropped), until it closes (detached()) or the next connection is
 * subscribed (attached() again). A retiring connection (GOAWAY) keeps
 * relaying until its successor answers. NULL ops: none.
 */
struct rankc_feed_ops {
	int64_t (*since)(void *arg);
	void (*attached)(void *arg);
	bool (*frame)(void *arg, unsigned type, const char *payload,
	    size_t len);
	void (*detached)(void *arg);
};
void rankc_set_feed(struct rankc *rc, const struct rankc_feed_ops *ops,
    void *arg);
void rankc_free(struct rankc *rc);

#endif
