/*
 * http.c: the worker's HTTP edge (see http.h). Lifetime rules of libevhtp
 * that this file keeps (docs/design.md, "libevhtp defects placesd
 * contains"):
 *  - one generic callback; routes match exactly here (evhtp's own routing
 *    is prefix-based, first registration wins: #129);
 *  - pause on arrival, reply, then resume as the last touch of the
 *    request (pipelined requests stall otherwise);
 *  - evhtp frees the connection before the request (connection_fini runs
 *    before request_fini), so a request context never points at its
 *    connection's tracking entry;
 *  - connections are freed only from timers, never from inside a hook;
 *  - a stream's socket leaves evhtp once its head is written (the edge
 *    frees evhtp's half from the loop): stream.c serves it from there.
 *
 * Every answer goes out through reply_content() or a stream's head, which
 * keep the conventions of docs/api.md, "HTTP conventions": the request's
 * X-Request-Id and the CORS headers on all of them; on a route's answers
 * its Cache-Control; on a 200 to GET or HEAD that may be stored, an ETag
 * of the uncompressed body, and 304 when If-None-Match names it; a body
 * over HTTP_GZIP_MIN bytes gzipped for a client that takes it, never a
 * stream's.
 */
#include "runtime/http.h"
#include "runtime/http_cors.h"
#include "runtime/http_etag.h"
#include "runtime/http_gzip.h"
#include "runtime/http_json.h"
#include "runtime/http_query.h"
#include "runtime/http_reqid.h"
#include "runtime/edge.h"
#include "runtime/stream.h"
#include "common/config.h"
#include "common/log.h"
#include "common/stats.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <evhtp.h>

struct conn {
	evhtp_connection_t *c;
	struct http *h;
	struct edge *edge;
	TAILQ_ENTRY(conn) link;
};

struct http {
	struct worker *w;
	const struct config *cfg;
	struct stats_block *st;
	struct event_base *base;
	evhtp_t *htp;
	const struct http_route *routes;
	size_t nroutes;
	TAILQ_HEAD(, conn) conns;
	unsigned nconns;
	bool draining;
	int access_fd;
	struct edge_config edge_cfg;
	struct edge_list edges;
	struct stream_set streams;      /* answers that left evhtp */
	struct http_gzip *gzip;         /* NULL: none could be made */
	struct event *accept_resume;    /* ends a pause of accept() */
	uint64_t accept_logged_ms;      /* last "cannot accept" warning */
	unsigned accept_pauses;         /* since that warning */
};

struct http_req {
	evhtp_request_t *req;
	struct http *h;
	uint64_t start_us;
	unsigned method;
	struct edge *edge;          /* outlives the connection's fini hook */
	const struct http_route *route;     /* NULL: no route matched */
	char id[HTTP_REQID_MAX + 1];        /* X-Request-Id */
	bool replied;
	bool handed_off;            /* its socket went to a stream */
	struct event *deadline;
	http_cancel_fn cancel;
	void *data;
	char params[HTTP_MAX_PARAMS][HTTP_MAX_PARAM];  /* the route's '*'s */
};

/* The tracking entry of a connection: the arg of its fini hook. */
static struct conn *
conn_of(evhtp_connection_t *c)
{
	return c != NULL && c->hooks != NULL ?
	    c->hooks->on_connection_fini_arg : NULL;
}

/* ---- access log ---------------------------------------------------------- */

static int
open_access_log(struct http *h)
{
	int fd;

	if (h->cfg->access_log[0] == '\0')
		return 0;
	fd = open(h->cfg->access_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0640);
	if (fd == -1) {
		log_warn("cannot open access log %s", h->cfg->access_log);
		return -1;
	}
	if (h->access_fd >= 0)
		close(h->access_fd);
	h->access_fd = fd;
	return 0;
}

int
http_reopen_access_log(struct http *h)
{
	return open_access_log(h);
}

static const char *
method_name(unsigned m)
{
	return m == HTTP_GET ? "GET" : m == HTTP_HEAD ? "HEAD" :
	    m == HTTP_POST ? "POST" : m == HTTP_OPTIONS ? "OPTIONS" : "OTHER";
}

/* One line per answer: when, "METHOD path", status, body bytes sent,
 * ms, request id (placesd(8), "Access log"). */
static void
access_line(struct http *h, const char *method, const char *path,
    size_t plen, int status, size_t bytes, uint64_t us, const char *id)
{
	char line[1024], when[32];
	struct tm tm;
	time_t now;
	int n;

	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(line, sizeof(line), "%s \"%s %.*s\" %d %zu %.3f %s\n",
	    when, method, (int)(plen > 512 ? 512 : plen), path, status, bytes,
	    (double)us / 1e3, id);
	if (n > 0 && (size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (n > 0 && write(h->access_fd, line, (size_t)n) < 0)
		log_debug("access log write failed");
}

static void
access_log(struct http_req *r, int status, size_t bytes, uint64_t us)
{
	const char *path = r->req->uri && r->req->uri->path &&
	    r->req->uri->path->full ? r->req->uri->path->full : "-";

	if (r->h->access_fd < 0)
		return;
	if (edge_request_asterisk(r->edge))
		path = "*";             /* evhtp was handed "/" for it */
	access_line(r->h, method_name(r->method), path, strlen(path), status,
	    bytes, us, r->id);
}

/* ---- replies -------------------------------------------------------------- */

struct worker *
http_req_worker(struct http_req *r)
{
	return r->h->w;
}

const char *
http_req_query(struct http_req *r, const char *key)
{
	if (r->req->uri == NULL)
		return NULL;
	return http_query_find(r->req->uri->query, key);
}

void
http_add_header(struct http_req *r, const char *key, const char *val)
{
	evhtp_headers_add_header(r->req->headers_out,
	    evhtp_header_new(key, val, 1, 1));
}

/* ---- conventions every answer keeps ---------------------------------------- */

typedef void (*head_add_fn)(void *arg, const char *key, const char *val);

/* The request id, and the CORS headers for an allowed Origin. */
static void
common_headers(struct http_req *r, head_add_fn add, void *arg)
{
	const char *origin = http_req_header(r, "Origin");

	add(arg, "X-Request-Id", r->id);
	switch (http_cors_match(r->h->cfg->http_cors_origins, origin)) {
	case HTTP_CORS_ANY:
		add(arg, "Access-Control-Allow-Origin", "*");
		add(arg, "Access-Control-Expose-Headers", HTTP_CORS_EXPOSE);
		break;
	case HTTP_CORS_ORIGIN:
		add(arg, "Access-Control-Allow-Origin", origin);
		add(arg, "Access-Control-Expose-Headers", HTTP_CORS_EXPOSE);
		break;
	case HTTP_CORS_NO:
		break;
	}
}

/* Vary: Origin when the CORS headers depend on it, Accept-Encoding when
 * the body may be gzipped. */
static void
vary_header(struct http_req *r, bool coded, head_add_fn add, void *arg)
{
	bool origin = http_cors_varies(r->h->cfg->http_cors_origins);

	if (origin && coded)
		add(arg, "Vary", "Origin, Accept-Encoding");
	else if (origin)
		add(arg, "Vary", "Origin");
	else if (coded)
		add(arg, "Vary", "Accept-Encoding");
}

static void
add_evhtp(void *arg, const char *key, const char *val)
{
	evhtp_headers_add_header(arg, evhtp_header_new(key, val, 0, 1));
}

/* Header lines into a fixed buffer (a stream's head); full: ovf. */
struct head_text {
	char *buf;
	size_t len, cap;
	bool ovf;
};

static void
add_text(void *arg, const char *key, const char *val)
{
	struct head_text *t = arg;
	int n = snprintf(t->buf + t->len, t->cap - t->len, "%s: %s\r\n",
	    key, val);

	if (n < 0 || (size_t)n >= t->cap - t->len)
		t->ovf = true;
	else
		t->len += (size_t)n;
}

/* Whether an answer may be stored, so has an ETag: not "no-store". */
static bool
storable(evhtp_headers_t *out)
{
	const char *cc = evhtp_header_find(out, "Cache-Control");

	return cc == NULL || strstr(cc, "no-store") == NULL;
}

/* The head of an answer, once per request: false if it was answered. */
static bool
reply_begin(struct http_req *r, const char *ctype)
{
	if (r->replied)
		return false;
	r->replied = true;
	if (r->deadline != NULL)
		evtimer_del(r->deadline);
	evhtp_headers_add_header(r->req->headers_out,
	    evhtp_header_new("Content-Type", ctype, 0, 1));
	common_headers(r, add_evhtp, r->req->headers_out);
	return true;
}

/* Sends what reply_begin started, with a body of len bytes queued. */
static void
reply_end(struct http_req *r, int status, size_t len)
{
	evhtp_request_t *req = r->req;
	struct http *h = r->h;
	uint64_t us;
	char clen[32];

	if (r->method == HTTP_HEAD && status != 204 && status != 304) {
		snprintf(clen, sizeof(clen), "%zu", len);
		evhtp_headers_add_header(req->headers_out,
		    evhtp_header_new("Content-Length", clen, 0, 1));
	}
	if (h->draining)
		evhtp_request_disable_flag(req, EVHTP_REQ_FLAG_KEEPALIVE);
	edge_reply_head(r->edge);
	evhtp_send_reply(req, (evhtp_res)status);
	us = util_now_us() - r->start_us;
	stats_observe_request(h->st, status, us);
	access_log(r, status, len, us);
	evhtp_request_resume(req);      /* last touch: req may go any time */
}

/*
 * The validator of a 200 to GET or HEAD that may be stored: the handler's
 * ETag, or one made of the body. True when If-None-Match names it: the
 * answer is a 304.
 */
static bool
not_modified(struct http_req *r, const char *body, size_t len)
{
	evhtp_headers_t *out = r->req->headers_out;
	const char *tag = evhtp_header_find(out, "ETag"), *inm;
	char own[HTTP_ETAG_LEN];

	if (tag == NULL) {
		http_etag_of(body, len, own);
		evhtp_headers_add_header(out, evhtp_header_new("ETag", own,
		    0, 1));
		tag = own;
	}
	inm = http_req_header(r, "If-None-Match");
	return inm != NULL && http_etag_matches(inm, tag);
}

/* The gzip form of body into z, if the client takes it and it is smaller. */
static bool
gzipped(struct http_req *r, const char *body, size_t len, struct evbuffer *z)
{
	struct http_span sp = { body, len };

	if (!http_gzip_accepted(http_req_header(r, "Accept-Encoding")) ||
	    r->h->gzip == NULL)
		return false;
	if (http_gzip(r->h->gzip, &sp, 1, z) != 0) {
		log_debug("gzip of a %zu-byte answer failed; sent as it is",
		    len);
		return false;
	}
	if (evbuffer_get_length(z) >= len) {
		evbuffer_drain(z, evbuffer_get_length(z));
		return false;
	}
	evhtp_headers_add_header(r->req->headers_out,
	    evhtp_header_new("Content-Encoding", "gzip", 0, 0));
	return true;
}

/*
 * Sends an answer with its body: body[0..len), or the bytes of buf (not
 * NULL), moved. Adds what the conventions ask for (the top of this file),
 * then the body unless the method is HEAD, which gets the same head.
 */
static void
reply_content(struct http_req *r, int status, const char *ctype,
    const char *body, size_t len, struct evbuffer *buf)
{
	evhtp_headers_t *out = r->req->headers_out;
	struct evbuffer *z = NULL;
	bool coded;

	/* a body the handler coded itself is not coded again */
	coded = len > HTTP_GZIP_MIN && status != 204 &&
	    http_gzip_type(ctype) &&
	    evhtp_header_find(out, "Content-Encoding") == NULL;
	if (!reply_begin(r, ctype))
		return;
	if (status < 400 && r->method != HTTP_OPTIONS && r->route != NULL &&
	    r->route->cache != NULL &&
	    evhtp_header_find(out, "Cache-Control") == NULL)
		evhtp_headers_add_header(out, evhtp_header_new(
		    "Cache-Control", r->route->cache, 0, 0));
	if (buf != NULL && (coded || status == 200))
		body = (const char *)evbuffer_pullup(buf, -1);
	if (body == NULL)
		body = "";
	if (status == 200 && (r->method & (HTTP_GET | HTTP_HEAD)) &&
	    storable(out) && not_modified(r, body, len))
		status = 304;
	vary_header(r, coded, add_evhtp, out);
	if (status == 304) {
		coded = false;
		len = 0;
	}
	if (coded && (z = evbuffer_new()) != NULL && gzipped(r, body, len, z)) {
		if (buf != NULL)
			evbuffer_drain(buf, evbuffer_get_length(buf));
		buf = z;
		len = evbuffer_get_length(z);
	}
	if (buf != NULL && (r->method == HTTP_HEAD || status == 304))
		evbuffer_drain(buf, evbuffer_get_length(buf));
	else if (buf != NULL)
		evbuffer_add_buffer(r->req->buffer_out, buf);
	else if (r->method != HTTP_HEAD && status != 304)
		evbuffer_add(r->req->buffer_out, body, len);
	reply_end(r, status, len);
	if (z != NULL)
		evbuffer_free(z);
}

void
http_reply(struct http_req *r, int status, const char *ctype,
    const char *body, size_t len)
{
	reply_content(r, status, ctype, body, len, NULL);
}

void
http_reply_buffer(struct http_req *r, int status, const char *ctype,
    struct evbuffer *body)
{
	reply_content(r, status, ctype, NULL, evbuffer_get_length(body),
	    body);
}

void
http_reply_json(struct http_req *r, int status, json_t *body)
{
	char *s = http_json_text(body);

	if (s == NULL) {
		http_reply(r, 500, "application/json; charset=utf-8",
		    http_json_oom, strlen(http_json_oom));
		return;
	}
	http_reply(r, status, "application/json; charset=utf-8", s, strlen(s));
	free(s);
}

void
http_reply_error(struct http_req *r, int status, const char *code,
    const char *message, const char *field)
{
	http_reply_json(r, status, http_error_doc(code, message, field));
}

/* ---- deferred requests ---------------------------------------------------- */

static void
on_deadline(evutil_socket_t fd, short ev, void *arg)
{
	struct http_req *r = arg;
	http_cancel_fn cancel = r->cancel;

	(void)fd;
	(void)ev;
	r->cancel = NULL;
	if (cancel != NULL)
		cancel(r->data);
	http_reply_error(r, 504, "deadline_exceeded",
	    "the request's deadline passed before it could be answered", NULL);
}

void
http_req_defer(struct http_req *r, http_cancel_fn cancel, void *data)
{
	struct timeval tv;

	r->cancel = cancel;
	r->data = data;
	edge_request_deferred(r->edge);
	if (r->deadline == NULL &&
	    (r->deadline = evtimer_new(r->h->base, on_deadline, r)) == NULL) {
		log_warn("evtimer_new() for a request deadline");
		return;
	}
	tv = util_tv(r->h->cfg->request_deadline_ms);
	evtimer_add(r->deadline, &tv);
}

unsigned
http_req_method(struct http_req *r)
{
	return r->method;
}

const char *
http_req_header(struct http_req *r, const char *key)
{
	return evhtp_header_find(r->req->headers_in, key);
}

bool
http_req_draining(struct http_req *r)
{
	return r->h->draining;
}

/* ---- streams --------------------------------------------------------------- */

static bool
http10(struct http_req *r)
{
	return evhtp_request_get_proto(r->req) == EVHTP_PROTO_10;
}

static void
stream_headers(struct http_req *r, const char *ctype)
{
	evhtp_headers_t *out = r->req->headers_out;

	evhtp_headers_add_header(out, evhtp_header_new("Content-Type", ctype,
	    0, 1));
	evhtp_headers_add_header(out, evhtp_header_new("Cache-Control",
	    "no-cache", 0, 0));
	evhtp_headers_add_header(out, evhtp_header_new("X-Accel-Buffering",
	    "no", 0, 0));
}

/* The head of a stream's answer, as stream_headers, common_headers and
 * evhtp make it; never gzipped. */
static int
stream_head(struct http_req *r, char *buf, size_t len, const char *ctype,
    bool chunked)
{
	struct head_text t;
	int n = snprintf(buf, len, "HTTP/1.%d 200 OK\r\nDate: %s\r\n"
	    "Content-Type: %s\r\nCache-Control: no-cache\r\n"
	    "X-Accel-Buffering: no\r\n", chunked ? 1 : 0, edge_http_date(),
	    ctype);

	if (n < 0 || (size_t)n >= len)
		return -1;
	t.buf = buf;
	t.len = (size_t)n;
	t.cap = len;
	t.ovf = false;
	common_headers(r, add_text, &t);
	vary_header(r, false, add_text, &t);
	n = snprintf(buf + t.len, len - t.len, "%sConnection: close\r\n\r\n",
	    chunked ? "Transfer-Encoding: chunked\r\n" : "");
	if (t.ovf || n < 0 || (size_t)n >= len - t.len)
		return -1;
	return (int)(t.len + (size_t)n);
}

/* The socket, with what is queued on it, goes to st. */
static int
stream_handoff(struct http_req *r, struct stream *st, const char *head,
    size_t hlen, http_cancel_fn gone, void *data)
{
	struct evbuffer *out;
	int fd, rc = -1;

	if ((out = evbuffer_new()) == NULL)
		return -1;
	if ((fd = edge_handoff(r->edge, out)) < 0) {
		evbuffer_free(out);
		return -1;
	}
	r->handed_off = true;
	if (evbuffer_add(out, head, hlen) != 0) {
		close(fd);
		stream_close(st);
	} else {
		rc = stream_attach(st, &r->h->streams, fd,
		    (const char *)evbuffer_pullup(out, -1),
		    evbuffer_get_length(out), gone, data);
	}
	evbuffer_free(out);
	return rc;
}

struct stream *
http_stream_start(struct http_req *r, const char *ctype,
    http_cancel_fn gone, void *data)
{
	char head[3072];
	struct stream *st;
	bool chunked = !http10(r);
	uint64_t us;
	int n;

	if (r->replied)
		return NULL;
	if ((n = stream_head(r, head, sizeof(head), ctype, chunked)) < 0 ||
	    (st = stream_new(chunked)) == NULL) {
		http_reply_error(r, 503, "overloaded", "out of memory", NULL);
		return NULL;
	}
	if (stream_handoff(r, st, head, (size_t)n, gone, data) != 0) {
		if (!r->handed_off) {
			stream_close(st);
			http_reply_error(r, 503, "overloaded", "cannot start "
			    "the stream", NULL);
		}
		return NULL;
	}
	r->replied = true;
	if (r->deadline != NULL)
		evtimer_del(r->deadline);
	us = util_now_us() - r->start_us;
	stats_observe_request(r->h->st, 200, us);
	access_log(r, 200, 0, us);
	/* evhtp frees the request (paused, unanswered) from the loop */
	return st;
}

void
http_stream_head(struct http_req *r, const char *ctype)
{
	evhtp_request_t *req = r->req;
	uint64_t us;

	if (r->replied)
		return;
	r->replied = true;
	if (r->deadline != NULL)
		evtimer_del(r->deadline);
	stream_headers(r, ctype);
	common_headers(r, add_evhtp, req->headers_out);
	vary_header(r, false, add_evhtp, req->headers_out);
	if (!http10(r)) {
		/* the framing a GET would get; the flag keeps evhtp from
		 * adding "Content-Length: 0", which a GET would not get */
		evhtp_request_enable_flag(req, EVHTP_REQ_FLAG_CHUNKED);
		evhtp_headers_add_header(req->headers_out,
		    evhtp_header_new("Transfer-Encoding", "chunked", 0, 0));
	}
	if (r->h->draining)
		evhtp_request_disable_flag(req, EVHTP_REQ_FLAG_KEEPALIVE);
	edge_reply_head(r->edge);
	evhtp_send_reply(req, EVHTP_RES_OK);
	us = util_now_us() - r->start_us;
	stats_observe_request(r->h->st, 200, us);
	access_log(r, 200, 0, us);
	evhtp_request_resume(req);      /* last touch: req may go any time */
}

static evhtp_res
on_request_fini(evhtp_request_t *req, void *arg)
{
	struct http_req *r = arg;

	(void)req;
	if (!r->replied && !r->handed_off && r->cancel != NULL)
		r->cancel(r->data);         /* the client went away */
	edge_request_done(r->edge);
	if (r->deadline != NULL)
		event_free(r->deadline);
	free(r);
	return EVHTP_RES_OK;
}

/* ---- routing -------------------------------------------------------------- */

static unsigned
method_of(evhtp_request_t *req)
{
	switch (evhtp_request_get_method(req)) {
	case htp_method_GET:
		return HTTP_GET;
	case htp_method_HEAD:
		return HTTP_HEAD;
	case htp_method_POST:
		return HTTP_POST;
	case htp_method_OPTIONS:
		return HTTP_OPTIONS;
	default:
		return 0;
	}
}

#define METHODS_TEXT 32

static void
methods_text(unsigned methods, char buf[METHODS_TEXT])
{
	buf[0] = '\0';
	if (methods & HTTP_GET)
		strcat(buf, "GET, HEAD, ");
	if (methods & HTTP_POST)
		strcat(buf, "POST, ");
	strcat(buf, "OPTIONS");
}

static void
allow_header(struct http_req *r, unsigned methods)
{
	char buf[METHODS_TEXT];

	methods_text(methods, buf);
	evhtp_headers_add_header(r->req->headers_out,
	    evhtp_header_new("Allow", buf, 0, 1));
}

/*
 * A CORS preflight (OPTIONS with Origin and Access-Control-Request-
 * Method) from an allowed origin: 204 with what the route allows. False
 * for anything else, a plain OPTIONS (answered with Allow as ever).
 */
static bool
reply_preflight(struct http_req *r, unsigned methods)
{
	evhtp_headers_t *out = r->req->headers_out;
	char buf[METHODS_TEXT];

	if (http_req_header(r, "Access-Control-Request-Method") == NULL ||
	    http_cors_match(r->h->cfg->http_cors_origins,
	    http_req_header(r, "Origin")) == HTTP_CORS_NO)
		return false;
	methods_text(methods, buf);
	evhtp_headers_add_header(out, evhtp_header_new(
	    "Access-Control-Allow-Methods", buf, 0, 1));
	evhtp_headers_add_header(out, evhtp_header_new(
	    "Access-Control-Allow-Headers", HTTP_CORS_ALLOW_HEADERS, 0, 0));
	evhtp_headers_add_header(out, evhtp_header_new(
	    "Access-Control-Max-Age", HTTP_CORS_MAX_AGE, 0, 0));
	http_reply(r, 204, "text/plain; charset=utf-8", "", 0);
	return true;
}

/* OPTIONS: what the route (or, for "*", the server) accepts; no body. */
static void
reply_options(struct http_req *r, unsigned methods)
{
	if (reply_preflight(r, methods))
		return;
	allow_header(r, methods);
	http_add_header(r, "Content-Length", "0");
	http_reply(r, 200, "text/plain; charset=utf-8", "", 0);
}

/* Every method of every route: the answer to "OPTIONS *". */
static unsigned
server_methods(const struct http *h)
{
	unsigned m = 0;
	size_t i;

	for (i = 0; i < h->nroutes; i++)
		if (!h->routes[i].debug || h->cfg->debug_routes)
			m |= h->routes[i].methods;
	return m;
}

/*
 * A route's path matches exactly, but for '*' segments, which match one
 * non-empty path segment each and are kept as the request's parameters.
 */
static bool
route_match(const char *pat, const char *path, struct http_req *r)
{
	unsigned n = 0;

	while (*pat != '\0') {
		if (*pat == '*') {
			size_t len = strcspn(path, "/");

			if (len == 0 || len >= HTTP_MAX_PARAM ||
			    n >= HTTP_MAX_PARAMS)
				return false;
			memcpy(r->params[n], path, len);
			r->params[n++][len] = '\0';
			path += len;
			pat++;
			continue;
		}
		if (*pat++ != *path++)
			return false;
	}
	return *path == '\0';
}

static const struct http_route *
route_find(struct http *h, const char *path, struct http_req *r)
{
	size_t i;

	for (i = 0; i < h->nroutes; i++) {
		const struct http_route *rt = &h->routes[i];

		if (rt->debug && !h->cfg->debug_routes)
			continue;
		if (route_match(rt->path, path, r))
			return rt;
	}
	return NULL;
}

/* ---- quick answers (edge.h) ---------------------------------------------- */

static const struct http_route *
quick_route(const struct http *h, const char *path, size_t plen)
{
	size_t i;

	for (i = 0; i < h->nroutes; i++) {
		const struct http_route *rt = &h->routes[i];

		if (rt->quick != NULL && !rt->debug &&
		    strncmp(rt->path, path, plen) == 0 && rt->path[plen] == '\0')
			return rt;
	}
	return NULL;
}

static size_t
put(char *at, const char *s, size_t n)
{
	memcpy(at, s, n);
	return n;
}

#define QUICK_HEAD1 "HTTP/1.1 200 OK\r\nDate: "
#define QUICK_HEAD2 "\r\nContent-Type: application/json; charset=utf-8" \
	"\r\nContent-Length: "
#define QUICK_BODY_MAX 256
#define QUICK_EXTRA_MAX 160     /* Cache-Control, X-Request-Id, Vary */

/* Whether the head (hlen bytes, its field lines from off) has a field
 * named name. */
static bool
head_has(const char *head, size_t hlen, size_t off, const char *name)
{
	const char *p = head + off, *end = head + hlen, *eol;
	size_t n = strlen(name);

	while (p < end && (eol = memmem(p, (size_t)(end - p), "\r\n", 2)) !=
	    NULL && eol != p) {
		if ((size_t)(eol - p) > n && p[n] == ':' &&
		    strncasecmp(p, name, n) == 0)
			return true;
		p = eol + 2;
	}
	return false;
}

/*
 * The conventions' lines of a quick answer: the route's Cache-Control, a
 * new request id, Vary: Origin where CORS has a list. Their length, or 0
 * when the request needs more (an id, Origin or If-None-Match of its own:
 * libevhtp's path answers it, with the same conventions as any other).
 * Its body is too small to gzip.
 */
static size_t
quick_extra(struct http *h, const struct http_route *rt,
    const struct edge_parser *p, const char *head, size_t hlen,
    char id[HTTP_REQID_MAX + 1], char *buf, size_t cap)
{
	int n;

	if (head_has(head, hlen, p->line_len, "X-Request-Id") ||
	    head_has(head, hlen, p->line_len, "Origin") ||
	    head_has(head, hlen, p->line_len, "If-None-Match"))
		return 0;
	http_reqid_new(&h->edge_cfg.ids, id);
	n = snprintf(buf, cap, "%s%s%sX-Request-Id: %s\r\n%s",
	    rt->cache != NULL ? "Cache-Control: " : "",
	    rt->cache != NULL ? rt->cache : "", rt->cache != NULL ? "\r\n" : "",
	    id, http_cors_varies(h->cfg->http_cors_origins) ?
	    "Vary: Origin\r\n" : "");
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/*
 * The edge's quick answer to a plain keep-alive GET or HEAD of a route
 * that has a quick form: the same status line, headers and body as the
 * route's handler would send through libevhtp, counted and logged alike.
 * While draining, every request goes to libevhtp, which closes after it.
 */
static size_t
quick_answer(void *arg, const struct edge_parser *p, const char *head,
    size_t hlen, char *buf, size_t cap)
{
	struct http *h = arg;
	const char *target = head + p->target_off;
	const struct http_route *rt;
	const char *date;
	char body[QUICK_BODY_MAX], clen[24], extra[QUICK_EXTRA_MAX];
	char id[HTTP_REQID_MAX + 1];
	size_t plen, blen, elen, n;
	bool is_head = strcmp(p->method, "HEAD") == 0;
	uint64_t t0, us;
	int cl;

	if (h->draining || (!is_head && strcmp(p->method, "GET") != 0))
		return 0;
	/* a query, which the quick form does not read, goes through
	 * dispatch(): a name given twice is refused there */
	if (memchr(target, '?', p->target_len) != NULL)
		return 0;
	plen = p->target_len;
	if ((rt = quick_route(h, target, plen)) == NULL)
		return 0;
	t0 = util_now_us();
	if ((elen = quick_extra(h, rt, p, head, hlen, id, extra,
	    sizeof(extra))) == 0)
		return 0;
	if ((blen = rt->quick(h->w, body, sizeof(body))) == 0 ||
	    blen > sizeof(body))
		return 0;
	cl = snprintf(clen, sizeof(clen), "%zu\r\n", blen);
	date = edge_http_date();
	if (sizeof(QUICK_HEAD1) + strlen(date) + sizeof(QUICK_HEAD2) +
	    (size_t)cl + elen + 2 + blen > cap)
		return 0;
	n = put(buf, QUICK_HEAD1, sizeof(QUICK_HEAD1) - 1);
	n += put(buf + n, date, strlen(date));
	n += put(buf + n, QUICK_HEAD2, sizeof(QUICK_HEAD2) - 1);
	n += put(buf + n, clen, (size_t)cl);
	n += put(buf + n, extra, elen);
	n += put(buf + n, "\r\n", 2);
	if (!is_head)
		n += put(buf + n, body, blen);
	us = util_now_us() - t0;
	stats_observe_request(h->st, 200, us);
	if (h->access_fd >= 0)
		access_line(h, p->method, target, plen, 200, blen, us, id);
	return n;
}

const char *
http_req_body(struct http_req *r, size_t *len)
{
	struct evbuffer *in = r->req->buffer_in;

	*len = evbuffer_get_length(in);
	if (*len == 0)
		return "";
	return (const char *)evbuffer_pullup(in, -1);
}

const char *
http_req_param(struct http_req *r, unsigned i)
{
	return i < HTTP_MAX_PARAMS ? r->params[i] : "";
}

/* A parameter given twice is a 400 naming it, on every route: which
 * value would count is not for a handler to guess. */
static bool
query_repeats(struct http_req *r)
{
	char name[HTTP_MAX_PARAM], msg[HTTP_MAX_PARAM + 48];

	if (r->req->uri == NULL ||
	    !http_query_repeated(r->req->uri->query, name, sizeof(name)))
		return false;
	snprintf(msg, sizeof(msg), "%s is given more than once", name);
	http_reply_error(r, 400, "invalid_argument", msg, name);
	return true;
}

static void
dispatch(evhtp_request_t *req, void *arg)
{
	struct http *h = arg;
	const struct http_route *rt;
	struct http_req *r;
	const char *path, *id;
	char msg[160];
	unsigned allowed;

	evhtp_request_pause(req);
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		log_warn("calloc() for a request");
		if (conn_of(req->conn) != NULL)
			edge_reply_head(conn_of(req->conn)->edge);
		evhtp_send_reply(req, EVHTP_RES_SERVUNAVAIL);
		evhtp_request_resume(req);
		return;
	}
	r->req = req;
	r->h = h;
	r->start_us = util_now_us();
	r->method = method_of(req);
	r->edge = conn_of(req->conn) != NULL ? conn_of(req->conn)->edge : NULL;
	evhtp_request_set_hook(req, evhtp_hook_on_request_fini,
	    (evhtp_hook)on_request_fini, r);
	id = http_req_header(r, "X-Request-Id");
	if (http_reqid_valid(id))
		memcpy(r->id, id, strlen(id) + 1);
	else
		http_reqid_new(&h->edge_cfg.ids, r->id);
	path = req->uri && req->uri->path && req->uri->path->full ?
	    req->uri->path->full : "";
	if (r->method == HTTP_OPTIONS && edge_request_asterisk(r->edge)) {
		reply_options(r, server_methods(h));
		return;
	}
	if ((rt = route_find(h, path, r)) == NULL) {
		snprintf(msg, sizeof(msg), "no such path: %.100s", path);
		http_reply_error(r, 404, "not_found", msg, NULL);
		return;
	}
	r->route = rt;
	if (r->method == HTTP_OPTIONS) {
		reply_options(r, rt->methods);
		return;
	}
	allowed = rt->methods | ((rt->methods & HTTP_GET) ? HTTP_HEAD : 0);
	if ((r->method & allowed) == 0) {
		allow_header(r, rt->methods);
		snprintf(msg, sizeof(msg), "%.40s does not accept this method",
		    rt->path);
		http_reply_error(r, 405, "method_not_allowed", msg, NULL);
		return;
	}
	if (query_repeats(r))
		return;
	rt->handler(r);
}

/* ---- connections ---------------------------------------------------------- */

/* A request that never reached dispatch() still ends the edge's turn. */
static evhtp_res
on_conn_request_fini(evhtp_request_t *req, void *arg)
{
	(void)req;
	edge_request_done(arg);
	return EVHTP_RES_OK;
}

static void
untrack(struct conn *cn)
{
	struct http *h = cn->h;

	TAILQ_REMOVE(&h->conns, cn, link);
	h->nconns--;
	stats_gauge_add(&h->st->conns_open, -1);
	free(cn);
}

/* The edge took the socket back to answer on it itself. */
static void
on_edge_detach(void *arg)
{
	untrack(arg);
}

static evhtp_res
on_connection_fini(evhtp_connection_t *c, void *arg)
{
	struct conn *cn = arg;

	(void)c;
	edge_detached(cn->edge);
	untrack(cn);
	return EVHTP_RES_OK;
}

static evhtp_res
on_accept(evhtp_connection_t *c, void *arg)
{
	struct http *h = arg;
	struct conn *cn;

	if ((cn = calloc(1, sizeof(*cn))) == NULL) {
		log_warn("calloc() for a connection");
		return EVHTP_RES_ERROR;
	}
	cn->c = c;
	cn->h = h;
	cn->edge = edge_attach(c, h->base, &h->edge_cfg, on_edge_detach, cn);
	if (cn->edge == NULL) {
		log_warnx("cannot set up a connection's edge; closing it");
		free(cn);
		return EVHTP_RES_ERROR;
	}
	TAILQ_INSERT_TAIL(&h->conns, cn, link);
	h->nconns++;
	stats_gauge_add(&h->st->conns_open, 1);
	evhtp_connection_set_hook(c, evhtp_hook_on_connection_fini,
	    (evhtp_hook)on_connection_fini, cn);
	evhtp_connection_set_hook(c, evhtp_hook_on_request_fini,
	    (evhtp_hook)on_conn_request_fini, cn->edge);
	if (h->nconns + h->streams.count > h->cfg->max_connections)
		edge_reject(cn->edge, 503, "overloaded", "too many connections; "
		    "retry later");
	return EVHTP_RES_OK;
}

/* ---- the server ----------------------------------------------------------- */

#define ACCEPT_PAUSE_MS 100
#define ACCEPT_LOG_MS   10000

struct http *
http_new(struct event_base *base, const struct config *cfg,
    struct stats_block *st, struct worker *w,
    const struct http_route *routes, size_t nroutes)
{
	struct http *h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->w = w;
	h->cfg = cfg;
	h->st = st;
	h->base = base;
	h->routes = routes;
	h->nroutes = nroutes;
	h->access_fd = -1;
	TAILQ_INIT(&h->conns);
	TAILQ_INIT(&h->edges);
	stream_set_init(&h->streams, h->base, h->st, h->cfg->read_timeout_ms);
	h->edge_cfg.all = &h->edges;
	h->edge_cfg.base = h->base;
	h->edge_cfg.early_close = (event_base_get_features(h->base) &
	    EV_FEATURE_EARLY_CLOSE) != 0;
	if (!h->edge_cfg.early_close)
		log_warnx("the event backend cannot watch for closed "
		    "connections: a client that hangs up during a deferred "
		    "request is noticed only when its answer is written");
	h->edge_cfg.st = h->st;
	h->edge_cfg.lim.max_uri = h->cfg->max_uri_size;
	h->edge_cfg.lim.max_header = h->cfg->max_header_size;
	h->edge_cfg.lim.max_body = h->cfg->max_body_size;
	h->edge_cfg.read_timeout_ms = h->cfg->read_timeout_ms;
	h->edge_cfg.keepalive_timeout_ms = h->cfg->keepalive_timeout_ms;
	h->edge_cfg.write_timeout_ms = h->cfg->read_timeout_ms;
	/* the handler answers by request_deadline (504 at worst) */
	h->edge_cfg.stuck_timeout_ms = h->cfg->request_deadline_ms +
	    h->cfg->read_timeout_ms;
	h->edge_cfg.quick = quick_answer;
	h->edge_cfg.quick_arg = h;
	if ((h->htp = evhtp_new(h->base, h)) == NULL) {
		free(h);
		return NULL;
	}
	if ((h->gzip = http_gzip_new(HTTP_GZIP_LEVEL)) == NULL)
		log_warnx("cannot set up gzip; answers go uncompressed");
	evhtp_set_gencb(h->htp, dispatch, h);
	evhtp_set_post_accept_cb(h->htp, on_accept, h);
	/* no evhtp timeouts: the edge keeps each connection's clocks */
	/* evhtp refuses a body of exactly its limit (>=): allow one more */
	evhtp_set_max_body_size(h->htp, h->cfg->max_body_size + 1);
	open_access_log(h);
	return h;
}

/*
 * accept() failed with something other than "try again": out of
 * descriptors or memory. Listening on would fail again at once, for ever,
 * with the connection still queued (libevhtp only logs it, hundreds of
 * thousands of times a second). Stop accepting for ACCEPT_PAUSE_MS
 * instead: the loop serves the connections it has, whose closing frees
 * descriptors, and the queue waits in the kernel. One warning per
 * ACCEPT_LOG_MS says how many pauses there were.
 */
static void
on_accept_error(struct evconnlistener *lev, void *arg)
{
	struct http *h = ((evhtp_t *)arg)->arg;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv = util_tv(ACCEPT_PAUSE_MS);
	uint64_t now = util_now_ms();

	evconnlistener_disable(lev);
	evtimer_add(h->accept_resume, &tv);
	stats_add(&h->st->http_accept_errors, 1);
	h->accept_pauses++;
	if (h->accept_logged_ms != 0 && now - h->accept_logged_ms <
	    ACCEPT_LOG_MS)
		return;
	log_warnx("cannot accept connections: %s (%u open here); not "
	    "accepting for %dms at a time, %u times since the last warning",
	    evutil_socket_error_to_string(err), h->nconns, ACCEPT_PAUSE_MS,
	    h->accept_pauses);
	h->accept_logged_ms = now;
	h->accept_pauses = 0;
}

static void
on_accept_resume(evutil_socket_t fd, short ev, void *arg)
{
	struct http *h = arg;

	(void)fd;
	(void)ev;
	if (!h->draining && h->htp != NULL && h->htp->server != NULL)
		evconnlistener_enable(h->htp->server);
}

int
http_start(struct http *h, int listen_fd)
{
	/* backlog 0: the master already listens; evhtp must not re-listen */
	if (evhtp_accept_socket(h->htp, listen_fd, 0) != 0) {
		log_errorx("evhtp_accept_socket() failed on the inherited "
		    "listener");
		return -1;
	}
	if ((h->accept_resume = evtimer_new(h->base, on_accept_resume,
	    h)) == NULL) {
		log_errorx("cannot set up the listener's pause timer");
		return -1;
	}
	/* the listener hands its callbacks evhtp's htp, whose arg is h */
	evconnlistener_set_error_cb(h->htp->server, on_accept_error);
	return 0;
}

void
http_drain(struct http *h)
{
	h->draining = true;
	/* closes this worker's copy only: the master keeps the queue */
	evhtp_unbind_socket(h->htp);
}

/*
 * Closes the connections idle for at least min_ms. A connection that just
 * got its answer is not idle in that sense: its client may be sending the
 * next request right now, and closing over it would lose that request.
 */
void
http_close_idle(struct http *h, uint64_t min_ms)
{
	struct conn *cn, *next;

	for (cn = TAILQ_FIRST(&h->conns); cn != NULL; cn = next) {
		next = TAILQ_NEXT(cn, link);
		if (cn->c->request == NULL && edge_idle_ms(cn->edge) > min_ms)
			evhtp_connection_free(cn->c);
	}
}

/* Logs what each open connection is doing (at a drain timeout). */
void
http_log_connections(struct http *h)
{
	edge_log_all(&h->edges);
}

void
http_close_all(struct http *h)
{
	while (!TAILQ_EMPTY(&h->conns))
		evhtp_connection_free(TAILQ_FIRST(&h->conns)->c);
}

/*
 * Open sockets: evhtp's connections, and those it let go of whose answer
 * may still be on its way out (closing lingering, or their bufferevent not
 * yet destroyed): a worker that exits before them loses that answer.
 */
unsigned
http_connections(const struct http *h)
{
	return (h->edge_cfg.count > h->nconns ? h->edge_cfg.count : h->nconns) +
	    h->streams.count;
}

void
http_shutdown(struct http *h)
{
	if (h == NULL)
		return;
	h->edge_cfg.closing = true;
	if (h->accept_resume != NULL)
		event_free(h->accept_resume);
	h->accept_resume = NULL;
	stream_close_all(&h->streams);
	http_close_all(h);
	edge_free_all(&h->edges);
	evhtp_unbind_socket(h->htp);
	evhtp_free(h->htp);
	h->htp = NULL;
	if (h->access_fd >= 0)
		close(h->access_fd);
	h->access_fd = -1;
}

void
http_free(struct http *h)
{
	if (h == NULL)
		return;
	http_gzip_free(h->gzip);
	free(h);
}
