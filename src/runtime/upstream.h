/*
 * upstream.h: the worker's client of the external events service
 * ([upstream] events_url): GET <events_url>/<date>?city=<city> on libevent's
 * asynchronous HTTP client, names resolved with evdns, connections kept
 * alive and reused, a timeout per attempt, at most `retries` retries with
 * jittered back-off inside the caller's deadline, a circuit breaker, a cap
 * on the answer's size, and every event validated field by field
 * (upstream_validate.c). Each worker has its own: nothing is shared.
 */
#ifndef PLACESD_UPSTREAM_H
#define PLACESD_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>

struct config;
struct evbuffer;
struct stats_block;
struct upstream;
struct upstream_call;

enum upstream_status {
	UP_OK,
	UP_TIMEOUT,             /* no (complete) answer in time */
	UP_HTTP_ERROR,          /* a status other than 200 */
	UP_BAD_RESPONSE,        /* not JSON, wrong shape, cut short, too big */
	UP_UNREACHABLE,         /* refused, reset, closed, name not found */
	UP_BREAKER_OPEN,        /* not called: the circuit is open */
};

/*
 * The outcome of a call, always from the loop (never from inside
 * upstream_events). events: with UP_OK, the valid events as compact JSON
 * (an array), in a buffer of the client's that the callback may take the
 * bytes of (evbuffer_add_buffer) and that is emptied after it; else NULL.
 * dropped: events left out for a bad field; message: what went wrong,
 * for the digest's errors[].
 */
typedef void (*upstream_done_fn)(void *arg, enum upstream_status st,
    struct evbuffer *events, unsigned dropped, const char *message);

struct upstream *upstream_new(struct event_base *base,
    const struct config *cfg, struct stats_block *st);
void upstream_free(struct upstream *u);

/* Events of date (YYYY-MM-DD) in city (a slug), by deadline_ms (absolute,
 * util_now_ms() clock). NULL only when out of memory. */
struct upstream_call *upstream_events(struct upstream *u, const char *date,
    const char *city, uint64_t deadline_ms, upstream_done_fn done,
    void *arg);
/* Drops a call not finished yet: done is never called. */
void upstream_cancel(struct upstream_call *c);
/* What a call not finished yet has done so far ("2 tries in 2900ms, the
 * last still out"), for a caller that gives up on it. */
void upstream_progress(const struct upstream_call *c, char *buf,
    size_t len);

/* The error code of a status for clients: "upstream_timeout", ... */
const char *upstream_status_code(enum upstream_status st);
/* true while the breaker refuses calls. */
bool upstream_breaker_open(const struct upstream *u);

/* upstream_validate.c: the valid events of a parsed answer, as new
 * objects with the known fields only (a new array); NULL and why if the
 * answer is not an array. */
json_t *upstream_validate_events(const json_t *doc, unsigned *dropped,
    char *why, size_t whylen);
bool upstream_valid_timestamp(const char *s);
/* At most this many events of an answer are kept; the rest are dropped. */
#define UPSTREAM_MAX_EVENTS 500

/* upstream_scan.c: the same, on the answer's bytes, already encoded as
 * json_dumps(JSON_COMPACT) would encode it, appended to out (empty): 1;
 * 0 for an answer outside what it reads (the jansson path must judge
 * it), -1 out of memory; out is left empty unless 1. */
int upstream_scan_events(const char *data, size_t len, struct evbuffer *out,
    unsigned *dropped);

#endif
