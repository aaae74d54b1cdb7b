/*
 * edge.h: the guard between a client's socket and libevhtp. A bufferevent
 * filter under each evhtp connection passes a request on only once its
 * head is complete and valid (edge_parse.h), one request at a time, and
 * answers everything else itself: 400/408/413/414/415/417/431/501/503/505
 * as JSON, with "Connection: close" and a lingering close, never a reset,
 * and an X-Request-Id of its own making.
 * It also keeps the connection's clocks: read_timeout for a request being
 * received (408), keepalive_timeout between requests (quiet close), and
 * mends evhtp's answers: standard reason phrases, a Date header, and no
 * Content-Length on a 204 or 304.
 */
#ifndef PLACESD_EDGE_H
#define PLACESD_EDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "runtime/edge_parse.h"
#include "runtime/http_reqid.h"

struct event_base;
struct evhtp_connection;
struct stats_block;
struct edge;

/*
 * A quick answer: a complete GET or HEAD head without a body, in
 * origin-form, that the worker answers at once from the edge, without
 * libevhtp (as HAProxy's monitor-uri answers health checks in front of
 * everything). It writes the whole answer, status line to body, into buf
 * (at most cap bytes) and returns its length, or 0 to hand the request to
 * libevhtp as usual (head is the request's head, hlen bytes, not NUL-
 * terminated). It must not answer a request that asks to close the
 * connection, nor one from an HTTP/1.0 client: the edge keeps the
 * connection open after a quick answer.
 */
typedef size_t (*edge_quick_fn)(void *arg, const struct edge_parser *p,
    const char *head, size_t hlen, char *buf, size_t cap);

#define EDGE_QUICK_BUF 8192     /* pipelined quick answers, one send */

/* Every edge of a worker, lingering ones included, for teardown. */
TAILQ_HEAD(edge_list, edge);

struct edge_config {
	struct stats_block *st;     /* its answers count in /metrics */
	struct edge_list *all;
	unsigned count;             /* sockets open: every edge not freed */
	bool closing;               /* the worker exits: no lingering */
	struct edge_limits lim;
	uint64_t read_timeout_ms;
	uint64_t keepalive_timeout_ms;
	uint64_t write_timeout_ms;
	uint64_t stuck_timeout_ms;  /* a request handed over, unanswered */
	struct event_base *base;
	bool early_close;           /* the base can watch for EV_CLOSED */
	struct http_reqid_gen ids;  /* the worker's X-Request-Id source */
	edge_quick_fn quick;        /* NULL: every request goes to evhtp */
	void *quick_arg;
	/* quick answers of one read, sent together (one worker, one loop:
	 * always empty between callbacks) */
	char quick_buf[EDGE_QUICK_BUF];
	size_t quick_len;
};

/* Called once when the edge takes the connection away from evhtp. */
typedef void (*edge_detach_fn)(void *arg);

/* Puts the guard under a freshly accepted evhtp connection. */
struct edge *edge_attach(struct evhtp_connection *c, struct event_base *base,
    struct edge_config *cfg, edge_detach_fn detach, void *arg);
/*
 * The handler of the request in flight answers later. If the client has
 * sent its FIN (now or later, before the answer), it is taken as gone:
 * the connection is freed from the loop, which cancels the handler's work.
 */
void edge_request_deferred(struct edge *e);
/*
 * Hands the socket of the request in flight over (a stream answers on it
 * from now on): returns its fd, after appending to out whatever earlier
 * answers left unsent. evhtp's connection and request and the edge are
 * freed from the loop, without the request's hooks (no cancel) and
 * without closing or half-closing the socket. -1: not possible.
 */
struct evbuffer;
int edge_handoff(struct edge *e, struct evbuffer *out);
/* evhtp is about to write an answer's head: mend its status line. */
void edge_reply_head(struct edge *e);
/* The request in flight came as "OPTIONS *" (evhtp sees "OPTIONS /"). */
bool edge_request_asterisk(const struct edge *e);
/* The Date header's value for now (IMF-fixdate, made once a second). */
const char *edge_http_date(void);
/* evhtp finished the request in flight: frame the next one. */
void edge_request_done(struct edge *e);
/* evhtp is freeing the connection (its connection_fini hook). */
void edge_detached(struct edge *e);
/* True when no request is in flight or partly received. */
bool edge_idle(const struct edge *e);
/* For how long it has been idle, in ms (0: busy). */
uint64_t edge_idle_ms(const struct edge *e);
/* A line on a connection's state, for the logs. */
void edge_describe(const struct edge *e, char *buf, size_t len);
void edge_log_all(const struct edge_list *all);
/* Frees every edge left at exit, lingering ones included. */
void edge_free_all(struct edge_list *all);
/* Answer status now (when no request is in flight) and close. */
void edge_reject(struct edge *e, int status, const char *code,
    const char *message);

#endif
