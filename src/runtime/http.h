/*
 * http.h: the worker's HTTP edge on libevhtp: the server on the inherited
 * listener, connection tracking, exact-match routing, JSON errors, and the
 * request object that handlers answer through, and the conventions every
 * answer keeps (docs/api.md, "HTTP conventions"): X-Request-Id, CORS,
 * Cache-Control and ETag with If-None-Match, gzip. Every request is
 * paused on arrival and resumed right after its reply (libevhtp answers
 * pipelined requests only that way); a request answered later keeps a
 * deadline.
 */
#ifndef PLACESD_HTTP_H
#define PLACESD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct config;
struct event_base;
struct stats_block;
struct worker;              /* opaque here: only handed back */
struct http;
struct http_req;

enum http_method_bits {
	HTTP_GET = 1, HTTP_HEAD = 2, HTTP_POST = 4, HTTP_OPTIONS = 8
};

#define HTTP_MAX_PARAMS 2       /* '*' segments in one route */
#define HTTP_MAX_PARAM  128     /* bytes of one, with its NUL */

typedef void (*http_handler)(struct http_req *r);
/*
 * A route's quick form, for a GET or HEAD whose answer is a small JSON
 * body made at once from the worker's state: writes the body into buf (at
 * most cap bytes) and returns its length, 0 if it cannot. The edge uses it
 * to answer plain keep-alive requests without libevhtp (edge.h); the
 * route's handler answers every other form of the request the same way.
 */
typedef size_t (*http_quick_fn)(struct worker *w, char *buf, size_t cap);
/* Called when a deferred request ends unanswered (client gone, deadline). */
typedef void (*http_cancel_fn)(void *data);

struct http_route {
	const char *path;           /* exact, but '*' matches one segment */
	unsigned methods;           /* HTTP_GET | ... ; GET implies HEAD;
	                               every route answers OPTIONS */
	http_handler handler;
	bool debug;                 /* only with [debug] routes = on */
	http_quick_fn quick;        /* or NULL; only for a path without '*' */
	/* Cache-Control of its 2xx and 304 answers (but to OPTIONS), unless
	 * the handler set one; NULL: none. A 200 to GET or HEAD gets an ETag (and If-None-
	 * Match a 304) unless its Cache-Control says no-store. */
	const char *cache;
};

/*
 * The server on base, with this generation's cfg and the process's stats
 * block st. w is the worker it serves in, which http does not look into:
 * handlers get it back (http_req_worker), and so do quick answers.
 */
struct http *http_new(struct event_base *base, const struct config *cfg,
    struct stats_block *st, struct worker *w,
    const struct http_route *routes, size_t nroutes);
int http_start(struct http *h, int listen_fd);
void http_drain(struct http *h);
void http_close_idle(struct http *h, uint64_t min_ms);
void http_close_all(struct http *h);
void http_log_connections(struct http *h);
unsigned http_connections(const struct http *h);
/* Closes everything; http_free() after the event base is gone. */
void http_shutdown(struct http *h);
void http_free(struct http *h);
int http_reopen_access_log(struct http *h);

/* For handlers. */
struct worker *http_req_worker(struct http_req *r);
const char *http_req_query(struct http_req *r, const char *key);
/* The request body, contiguous (the edge bounds it by max_body_size). */
const char *http_req_body(struct http_req *r, size_t *len);
/* The path segment that matched the route's i-th '*'. */
const char *http_req_param(struct http_req *r, unsigned i);
/* A header of the answer (copied). */
void http_add_header(struct http_req *r, const char *key, const char *val);
void http_reply(struct http_req *r, int status, const char *ctype,
    const char *body, size_t len);
/* The same with the body in a buffer, whose bytes are moved, not copied
 * (it is left empty). */
struct evbuffer;
void http_reply_buffer(struct http_req *r, int status, const char *ctype,
    struct evbuffer *body);
/* Takes the reference to body. */
void http_reply_json(struct http_req *r, int status, json_t *body);
void http_reply_error(struct http_req *r, int status, const char *code,
    const char *message, const char *field);
/* The handler answers later; until then cancel(data) runs if it ends. */
void http_req_defer(struct http_req *r, http_cancel_fn cancel, void *data);
/* HTTP_GET, HTTP_HEAD, HTTP_POST or HTTP_OPTIONS. */
unsigned http_req_method(struct http_req *r);
/* A header of the request, or NULL. */
const char *http_req_header(struct http_req *r, const char *key);

/*
 * A stream: a 200 written over time (Server-Sent Events), without a
 * deadline, chunked to an HTTP/1.1 client and delimited by the close to
 * an HTTP/1.0 one. Its head is sent and its socket taken out of libevhtp
 * (stream.h): the request is done with, r must not be used any more, and
 * the stream is the caller's, written, ended and closed through stream.h.
 * gone(data) runs when the client leaves or the stream is aborted.
 * NULL: no stream (the request was answered with an error, or its
 * connection dropped).
 */
struct stream;
struct stream *http_stream_start(struct http_req *r, const char *ctype,
    http_cancel_fn gone, void *data);
/* The answer to HEAD of a stream: its head, no body, the request done. */
void http_stream_head(struct http_req *r, const char *ctype);
/* True while the worker drains (reload, stop). */
bool http_req_draining(struct http_req *r);

#endif
