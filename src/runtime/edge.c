/*
 * edge.c: the per-connection guard of edge.h, a libevent filter between
 * the socket bufferevent ("under") and the one evhtp reads ("filter").
 *
 * One request at a time: the filter passes a complete, valid head and then
 * its body, and nothing more until evhtp has finished that request
 * (edge_request_done, from the request_fini hook); then a deferred "kick"
 * re-runs the filter over bytes a pipelining client already sent. This is
 * what makes pipelined requests work at all with libevhtp 1.2.18 and keeps
 * its parser from ever seeing a split request line.
 *
 * End of file is the edge's too: libevhtp drops an EOF when a stale errno
 * says EAGAIN (docs/design.md, "libevhtp defects placesd contains") and
 * would keep such connections forever. A client that half-closes after a
 * request answered at once still gets the answer; the connection closes
 * once nothing is in flight.
 * A FIN while the handler works on a deferred answer (a database query,
 * the events service) means the client hung up, as nginx and Go's
 * net/http take it: the connection is freed, which cancels that work.
 * evhtp stops reading while a request is paused, so a deferred request
 * watches its socket with an EV_CLOSED event (EPOLLRDHUP) meanwhile.
 *
 * The head of a request passes in origin-form whatever form it came in
 * (edge_head_pieces). On the way out, the status line of each answer
 * evhtp writes (edge_reply_head) gets the standard reason phrase (evhtp's
 * own table has "Not Allowed", "UNKNOWN" for 422, ...) and a Date header,
 * which evhtp never sends; a 204 or 304 loses the "Content-Length: 0"
 * evhtp gives every answer without a body. The edge's own answers carry
 * a request id (X-Request-Id) of the worker's making.
 *
 * A rejection waits for nothing in flight, takes the bufferevent back from
 * evhtp (evhtp_connection_take_ownership), writes the JSON answer on the
 * socket and closes it lingering: shutdown(SHUT_WR) once sent, the rest of
 * the client's bytes read and dropped for up to LINGER_MS, so the client
 * reads the answer instead of a reset.
 *
 * A plain keep-alive GET or HEAD of a route with a quick form (/healthz)
 * is answered here, without libevhtp (edge.h, quick answers): written
 * straight to the socket when nothing waits to be sent before it.
 *
 * A stream takes the socket over (edge_handoff): the socket bufferevent
 * lets go of the fd, and evhtp's connection is freed from the loop with
 * the edge and its filter, neither closing nor half-closing the socket.
 */
#include "runtime/edge.h"
#include "common/log.h"
#include "common/stats.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <evhtp.h>

#define LINGER_MS 2000
/* One writev for an answer up to this size (libevent's default is 16k,
 * which split every digest answer in two system calls). */
#define MAX_SINGLE_WRITE (256 * 1024)
#define STATUS_LINE_MAX 66      /* "HTTP/1.1 NNN " and evhtp's phrase, CRLF */

enum edge_mode { EM_SERVING, EM_REJECTING, EM_LINGER };
enum edge_timer { ET_NONE, ET_IDLE, ET_REQUEST, ET_STUCK, ET_LINGER };

struct edge {
	evhtp_connection_t *c;      /* NULL once evhtp let go */
	struct bufferevent *under;
	struct bufferevent *filter;
	struct edge_config *cfg;
	struct edge_parser p;
	enum edge_mode mode;
	enum edge_timer timer_kind;
	struct event *timer;
	struct event *defer;        /* kick or reject, outside any callback */
	struct event *hup;          /* peer closed, during deferred work */
	bool in_flight;             /* a request went to evhtp, not done yet */
	bool receiving;             /* bytes of a request arrived */
	bool reject_pending;
	bool eof;                   /* the client sent FIN */
	bool doomed;                /* framing lost: close after the answer */
	bool deferred;              /* the request in flight waits on work */
	bool hung_up;               /* FIN during deferred work: free it */
	bool filter_live;           /* the filter's free_context is still due */
	bool released;              /* done; only the filter's finalizer is due */
	bool head_due;              /* evhtp writes an answer's head next */
	bool handed_off;            /* the socket went to a stream */
	uint64_t idle_since_ms;     /* when the last request ended */
	/* libevent's filter callbacks on "under", which edge wraps */
	bufferevent_data_cb filter_readcb;
	bufferevent_data_cb filter_writecb;
	bufferevent_event_cb filter_eventcb;
	void *filter_arg;
	int status;
	const char *code;
	const char *message;
	edge_detach_fn detach;
	void *detach_arg;
	TAILQ_ENTRY(edge) link;
};

static void
arm(struct edge *e, enum edge_timer kind, uint64_t ms)
{
	struct timeval tv = util_tv(ms);

	e->timer_kind = kind;
	evtimer_add(e->timer, &tv);
}

static void
disarm(struct edge *e)
{
	e->timer_kind = ET_NONE;
	evtimer_del(e->timer);
}

/*
 * libevent destroys a freed bufferevent later, from its loop (a finalizer),
 * and only then calls the filter's free_context with e: e may only go away
 * after that. A connection done before its filter's finalizer ran gives up
 * its timers, socket and slot now and leaves the struct to filter_ctx_free.
 */
static void
edge_free(struct edge *e)
{
	if (!e->released) {
		TAILQ_REMOVE(e->cfg->all, e, link);
		e->cfg->count--;
		e->released = true;
	}
	if (e->timer != NULL)
		event_free(e->timer);
	if (e->defer != NULL)
		event_free(e->defer);
	if (e->hup != NULL)
		event_free(e->hup);
	if (e->under != NULL)
		bufferevent_free(e->under);
	e->timer = e->defer = e->hup = NULL;
	e->under = NULL;
	if (!e->filter_live)
		free(e);
}

static void linger(struct edge *e);

/*
 * The filter is being destroyed: by evhtp, or by us when rejecting. evhtp
 * frees a connection as soon as its answer reached the socket's buffer,
 * not the socket: close lingering if bytes are still going out, or if the
 * client sent bytes we never read (closing over them sends a reset).
 */
static void
filter_ctx_free(void *arg)
{
	struct edge *e = arg;

	e->filter_live = false;
	e->filter = NULL;
	if (e->released) {
		free(e);                /* edge_free ran before the finalizer */
		return;
	}
	if (e->mode == EM_LINGER)
		return;                 /* the linger path owns e and under */
	if (e->handed_off) {
		edge_free(e);           /* under has no socket any more */
		return;
	}
	if (e->under != NULL && !e->cfg->closing &&
	    (evbuffer_get_length(bufferevent_get_output(e->under)) > 0 ||
	    evbuffer_get_length(bufferevent_get_input(e->under)) > 0)) {
		e->mode = EM_LINGER;
		linger(e);
		return;
	}
	edge_free(e);
}

/* ---- rejection and lingering close ---------------------------------------- */

/* The reason phrases of RFC 9110 15; NULL for a status not listed. */
static const char *
reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return NULL;
	}
}

/* IMF-fixdate (RFC 9110 5.6.7), made once a second, locale aside. */
const char *
edge_http_date(void)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu",
	    "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	static char buf[32] = "Thu, 01 Jan 1970 00:00:00 GMT";
	static time_t made = -1;
	time_t now = time(NULL);
	struct tm tm;

	if (now == made || gmtime_r(&now, &tm) == NULL ||
	    tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 || tm.tm_mon > 11)
		return buf;
	snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	made = now;
	return buf;
}

static void
linger_end(struct edge *e)
{
	disarm(e);
	edge_free(e);
}

static void
linger_read(struct bufferevent *bev, void *arg)
{
	(void)arg;
	evbuffer_drain(bufferevent_get_input(bev),
	    evbuffer_get_length(bufferevent_get_input(bev)));
}

static void
linger_write(struct bufferevent *bev, void *arg)
{
	(void)arg;
	/* the answer is out: tell the client we are done sending */
	shutdown(bufferevent_getfd(bev), SHUT_WR);
}

static void
linger_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		linger_end(arg);
}

static void
write_answer(struct edge *e)
{
	char body[256], head[400], id[HTTP_REQID_MAX + 1];
	int blen, hlen;

	blen = snprintf(body, sizeof(body), "{\"error\":{\"code\":\"%s\","
	    "\"message\":\"%s\"}}", e->code, e->message);
	if (blen < 0 || (size_t)blen >= sizeof(body))
		blen = 0;
	/* the request may be unreadable: its id is never taken from it */
	http_reqid_new(&e->cfg->ids, id);
	hlen = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nDate: %s\r\n"
	    "Content-Type: application/json; charset=utf-8\r\n"
	    "Content-Length: %d\r\nCache-Control: no-store\r\n"
	    "X-Request-Id: %s\r\n%sConnection: close\r\n\r\n", e->status,
	    reason(e->status) != NULL ? reason(e->status) : "Error",
	    edge_http_date(), blen, id,
	    e->status == 503 ? "Retry-After: 1\r\n" : "");
	if (hlen < 0 || (size_t)hlen >= sizeof(head))
		return;
	bufferevent_write(e->under, head, (size_t)hlen);
	bufferevent_write(e->under, body, (size_t)blen);
	stats_observe_request(e->cfg->st, e->status, 0);
}

/* Sends what is queued, then half-closes and drops input until EOF. */
static void
linger(struct edge *e)
{
	struct timeval wt;

	wt = util_tv(e->cfg->write_timeout_ms);
	evtimer_del(e->defer);
	bufferevent_setcb(e->under, linger_read, linger_write, linger_event, e);
	bufferevent_set_timeouts(e->under, NULL, &wt);
	bufferevent_enable(e->under, EV_READ | EV_WRITE);
	linger_read(e->under, e);
	if (evbuffer_get_length(bufferevent_get_output(e->under)) == 0)
		linger_write(e->under, e);
	arm(e, ET_LINGER, LINGER_MS);
}

/* Takes the socket back from evhtp and answers on it. */
static void
do_reject(struct edge *e)
{
	if (e->c != NULL) {
		evhtp_connection_t *c = e->c;

		e->detach(e->detach_arg);
		e->c = NULL;
		e->mode = EM_LINGER;    /* from here on the filter's free is ours */
		evhtp_connection_take_ownership(c);
		evhtp_connection_free(c);
	}
	e->mode = EM_LINGER;
	bufferevent_setcb(e->under, NULL, NULL, NULL, NULL);
	if (e->filter != NULL) {
		bufferevent_free(e->filter);
		e->filter = NULL;
	}
	log_debug("answering %d %s: %s", e->status, e->code, e->message);
	write_answer(e);
	linger(e);
}

void
edge_reject(struct edge *e, int status, const char *code, const char *message)
{
	if (e->mode != EM_SERVING)
		return;
	e->mode = EM_REJECTING;
	e->status = status;
	e->code = code;
	e->message = message;
	e->reject_pending = true;
	event_active(e->defer, EV_TIMEOUT, 1);
}

/* ---- the filter ------------------------------------------------------------ */

static size_t
head_window(const struct edge *e)
{
	/* enough for the parser to see a limit crossed */
	return e->cfg->lim.max_uri + e->cfg->lim.max_header + 64;
}

/*
 * Moves a head of n bytes just accepted from src to dst, as evhtp must
 * see it (origin-form). data: the head, contiguous at the start of src.
 */
static int
move_head(struct edge *e, struct evbuffer *src, struct evbuffer *dst,
    const char *data, size_t n)
{
	struct edge_piece pc[EDGE_MAX_PIECES];
	unsigned i, np;

	if (e->p.target == EDGE_TARGET_ORIGIN)
		return evbuffer_remove_buffer(src, dst, n) < 0 ? -1 : 0;
	np = edge_head_pieces(&e->p, data, n, pc);
	for (i = 0; i < np; i++)
		if (evbuffer_add(dst, pc[i].buf, pc[i].len) != 0)
			return -1;
	return evbuffer_drain(src, n);
}

/*
 * Whether the request just framed may get a quick answer (edge.h). Not
 * while earlier answers wait to be sent: a client that pipelines without
 * reading then meets libevhtp's pace, one answer sent before the next
 * request is read, and the edge holds no more than one read's answers.
 */
static bool
quick_allowed(const struct edge *e)
{
	return e->cfg->quick != NULL && e->c != NULL &&
	    e->p.state == EDGE_DONE && e->p.target == EDGE_TARGET_ORIGIN &&
	    !e->p.http10 && !e->p.conn_close && !e->doomed &&
	    evbuffer_get_length(bufferevent_get_output(e->filter)) == 0 &&
	    evbuffer_get_length(bufferevent_get_output(e->under)) == 0;
}

/*
 * Sends the quick answers gathered: straight to the socket when nothing
 * waits before them (no write event to arm and disarm for an answer the
 * socket takes whole), else, and for what the socket did not take, behind
 * what waits. A failed send leaves the bytes to the bufferevent, which
 * meets the error again and reports it the usual way.
 */
static void
quick_flush(struct edge *e)
{
	struct edge_config *cfg = e->cfg;
	struct evbuffer *out = bufferevent_get_output(e->under);
	size_t len = cfg->quick_len;
	ssize_t n = 0;

	if (len == 0)
		return;
	cfg->quick_len = 0;
	if (evbuffer_get_length(out) == 0 && (n = send(bufferevent_getfd(
	    e->under), cfg->quick_buf, len, MSG_NOSIGNAL | MSG_DONTWAIT)) < 0)
		n = 0;
	if ((size_t)n < len && evbuffer_add(out, cfg->quick_buf + n,
	    len - (size_t)n) != 0) {
		log_warnx("out of memory for an answer; closing its connection");
		e->doomed = true;
		event_active(e->defer, EV_TIMEOUT, 1);
	}
}

/* The request of n bytes at data, the start of src, answered at the edge
 * if the worker can (edge.h): true if it was. */
static bool
quick_answer(struct edge *e, struct evbuffer *src, const char *data,
    size_t n)
{
	struct edge_config *cfg = e->cfg;
	size_t len;

	if (!quick_allowed(e))
		return false;
	if (EDGE_QUICK_BUF - cfg->quick_len < EDGE_QUICK_BUF / 2)
		quick_flush(e);
	len = cfg->quick(cfg->quick_arg, &e->p, data, n,
	    cfg->quick_buf + cfg->quick_len, EDGE_QUICK_BUF - cfg->quick_len);
	if (len == 0)
		return false;
	cfg->quick_len += len;
	evbuffer_drain(src, n);
	edge_parser_next(&e->p);
	e->receiving = false;
	e->idle_since_ms = util_now_ms();
	return true;
}

static enum bufferevent_filter_result
filter_in(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
    enum bufferevent_flush_mode mode, void *arg)
{
	struct edge *e = arg;
	size_t moved = 0;
	bool answered = false;

	(void)limit;
	(void)mode;
	if (e->mode != EM_SERVING) {
		evbuffer_drain(src, evbuffer_get_length(src));
		return BEV_NEED_MORE;
	}
	while (!e->in_flight || e->p.state != EDGE_HEAD) {
		size_t avail = evbuffer_get_length(src), want, n;
		bool head = e->p.state == EDGE_HEAD;
		const char *data;

		if (avail == 0 || e->p.state == EDGE_DONE)
			break;
		if (!e->receiving) {
			e->receiving = true;
			e->idle_since_ms = 0;
			arm(e, ET_REQUEST, e->cfg->read_timeout_ms);
		}
		want = avail;
		if (e->p.state == EDGE_HEAD && want > head_window(e))
			want = head_window(e);
		if (e->p.state == EDGE_BODY)
			data = NULL;    /* only counted: no need to copy */
		else if ((data = (const char *)evbuffer_pullup(src,
		    (ev_ssize_t)want)) == NULL)
			break;
		n = edge_parse(&e->p, data, want);
		if (e->p.state == EDGE_REJECTED) {
			edge_reject(e, e->p.status, e->p.code, e->p.message);
			break;
		}
		if (n == 0)
			break;
		if (head && quick_answer(e, src, data, n)) {
			answered = true;
			continue;
		}
		if (head && move_head(e, src, dst, data, n) != 0) {
			edge_reject(e, 503, "overloaded", "out of memory");
			break;
		}
		if (!head)
			evbuffer_remove_buffer(src, dst, n);
		moved += n;
		e->in_flight = true;
	}
	if (e->p.state == EDGE_DONE && e->receiving) {
		/* received whole: the handler's turn, within its deadline */
		e->receiving = false;
		arm(e, ET_STUCK, e->cfg->stuck_timeout_ms);
	}
	if (answered) {
		quick_flush(e);
		if (!e->receiving && !e->in_flight)
			arm(e, ET_IDLE, e->cfg->keepalive_timeout_ms);
	}
	return moved > 0 ? BEV_OK : BEV_NEED_MORE;
}

/*
 * evhtp adds "Content-Length: 0" to an answer without a body; a 204 must
 * not have one, and a 304's would have to be that of the 200 (RFC 9110
 * 8.6). The head left in src (from the status line's CRLF on) goes to
 * dst up to that field, which is dropped.
 */
#define ZERO_LENGTH "\r\nContent-Length: 0\r\n"

static void
drop_zero_length(struct evbuffer *src, struct evbuffer *dst)
{
	struct evbuffer_ptr end, at;

	end = evbuffer_search(src, "\r\n\r\n", 4, NULL);
	if (end.pos < 0 || evbuffer_ptr_set(src, &end, 2, EVBUFFER_PTR_ADD) != 0)
		return;
	at = evbuffer_search_range(src, ZERO_LENGTH, sizeof(ZERO_LENGTH) - 1,
	    NULL, &end);
	if (at.pos < 0)
		return;
	evbuffer_remove_buffer(src, dst, (size_t)at.pos);
	/* the field's line goes, with the CRLF before it; the next stays */
	evbuffer_drain(src, sizeof(ZERO_LENGTH) - 3);
}

/*
 * evhtp's status line, at the start of src when head_due: the reason
 * phrase replaced by the standard one, and a Date header after it.
 */
static void
fix_head(struct evbuffer *src, struct evbuffer *dst)
{
	const unsigned char *l, *eol;
	const char *why;
	size_t n, len;
	int status;

	/* a status line is short: look no further than STATUS_LINE_MAX */
	if ((n = evbuffer_get_length(src)) > STATUS_LINE_MAX)
		n = STATUS_LINE_MAX;
	if ((l = evbuffer_pullup(src, (ev_ssize_t)n)) == NULL ||
	    (eol = memmem(l, n, "\r\n", 2)) == NULL)
		return;
	len = (size_t)(eol - l);
	if (len < 12 || memcmp(l, "HTTP/1.", 7) != 0 || l[8] != ' ' ||
	    l[9] < '1' || l[9] > '5' || l[10] < '0' || l[10] > '9' ||
	    l[11] < '0' || l[11] > '9' || (len > 12 && l[12] != ' '))
		return;
	status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	if ((why = reason(status)) == NULL)
		evbuffer_add(dst, l, len);
	else
		evbuffer_add_printf(dst, "%.12s %s", (const char *)l, why);
	evbuffer_add_printf(dst, "\r\nDate: %s", edge_http_date());
	evbuffer_drain(src, len);
	if (status == 204 || status == 304)
		drop_zero_length(src, dst);
}

static enum bufferevent_filter_result
filter_out(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
    enum bufferevent_flush_mode mode, void *arg)
{
	struct edge *e = arg;
	size_t n = evbuffer_get_length(src);

	(void)mode;
	if (e->head_due && n > 0) {
		e->head_due = false;
		fix_head(src, dst);
		n = evbuffer_get_length(src);
	}
	if (limit >= 0 && (size_t)limit < n)
		n = (size_t)limit;
	return evbuffer_remove_buffer(src, dst, n) < 0 ? BEV_ERROR : BEV_OK;
}

void
edge_reply_head(struct edge *e)
{
	if (e != NULL && e->filter != NULL)
		e->head_due = evbuffer_get_length(
		    bufferevent_get_output(e->filter)) == 0;
}

bool
edge_request_asterisk(const struct edge *e)
{
	return e != NULL && e->in_flight &&
	    e->p.target == EDGE_TARGET_ASTERISK;
}

/* ---- timers and the deferred kick ----------------------------------------- */

static void
on_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct edge *e = arg;
	enum edge_timer kind = e->timer_kind;

	(void)fd;
	(void)ev;
	e->timer_kind = ET_NONE;
	switch (kind) {
	case ET_IDLE:
		if (e->c != NULL && edge_idle(e))
			evhtp_connection_free(e->c);    /* frees e too */
		break;
	case ET_REQUEST:
		edge_reject(e, 408, "request_timeout", "the request was not "
		    "received in time");
		break;
	case ET_STUCK:
		/* a request handed over whole got no answer at all: evhtp
		 * and the edge disagree about it; free the slot */
		if (e->c != NULL && e->in_flight) {
			log_warnx("a request got no answer within %llums; "
			    "closing its connection", (unsigned long long)
			    e->cfg->stuck_timeout_ms);
			evhtp_connection_free(e->c);    /* frees e too */
		}
		break;
	case ET_LINGER:
		linger_end(e);
		break;
	case ET_NONE:
		break;
	}
}

static void
on_defer(evutil_socket_t fd, short ev, void *arg)
{
	struct edge *e = arg;

	(void)fd;
	(void)ev;
	if (e->handed_off) {
		/* the socket is a stream's now: let evhtp free the rest */
		if (e->c != NULL)
			evhtp_connection_free(e->c);    /* frees e too */
		return;
	}
	if (e->reject_pending) {
		/* a body-phase rejection may leave evhtp a partial request:
		 * it never reached a handler, so nothing else is in flight */
		if (e->in_flight && e->p.state == EDGE_DONE)
			return;         /* edge_request_done re-schedules */
		e->reject_pending = false;
		do_reject(e);
		return;
	}
	if (e->doomed) {
		if (e->c != NULL && !e->in_flight)
			evhtp_connection_free(e->c);    /* frees e too */
		return;
	}
	if (e->hung_up) {
		if (e->c != NULL && e->in_flight) {
			log_debug("the client hung up or the request was "
			    "aborted; cancelling it");
			evhtp_connection_free(e->c);    /* frees e too */
		}
		return;
	}
	if (e->mode != EM_SERVING || e->filter == NULL || e->c == NULL ||
	    e->in_flight)
		return;
	if (evbuffer_get_length(bufferevent_get_input(e->under)) > 0) {
		if ((bufferevent_get_enabled(e->filter) & EV_READ) == 0) {
			/* evhtp has not turned reading back on: look again soon */
			struct timeval soon = { 0, 1000 };

			event_add(e->defer, &soon);
			return;
		}
		/* pipelined bytes wait in the socket's buffer: frame them */
		bufferevent_trigger(e->under, EV_READ,
		    BEV_TRIG_IGNORE_WATERMARKS);
	}
	if (e->eof && !e->in_flight && e->mode == EM_SERVING && e->c != NULL)
		evhtp_connection_free(e->c);    /* frees e too */
}

static void
under_read(struct bufferevent *under, void *arg)
{
	struct edge *e = arg;

	e->filter_readcb(under, e->filter_arg);
}

static void
under_write(struct bufferevent *under, void *arg)
{
	struct edge *e = arg;

	e->filter_writecb(under, e->filter_arg);
}

/* Events of the socket, before libevent's filter passes them on. */
static void
under_event(struct bufferevent *under, short what, void *arg)
{
	struct edge *e = arg;

	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR)) {
		e->eof = true;
		if (e->in_flight && e->deferred)
			e->hung_up = true;
		if (!e->in_flight || e->hung_up)
			event_active(e->defer, EV_TIMEOUT, 1);
		return;                 /* after the request in flight, if any */
	}
	e->filter_eventcb(under, what, e->filter_arg);
}

static void
on_hup(evutil_socket_t fd, short ev, void *arg)
{
	struct edge *e = arg;

	(void)fd;
	(void)ev;
	if (!e->deferred || e->hung_up)
		return;
	e->eof = true;
	e->hung_up = true;
	event_active(e->defer, EV_TIMEOUT, 1);
}

void
edge_request_deferred(struct edge *e)
{
	if (e == NULL || e->c == NULL || e->mode != EM_SERVING ||
	    !e->in_flight || e->deferred)
		return;
	e->deferred = true;
	if (e->eof) {
		e->hung_up = true;
		event_active(e->defer, EV_TIMEOUT, 1);
		return;
	}
	if (e->hup == NULL && e->cfg->early_close)
		e->hup = event_new(e->cfg->base, bufferevent_getfd(e->under),
		    EV_CLOSED, on_hup, e);
	if (e->hup != NULL)
		event_add(e->hup, NULL);
}

int
edge_handoff(struct edge *e, struct evbuffer *out)
{
	int fd;

	if (e == NULL || e->c == NULL || e->mode != EM_SERVING ||
	    !e->in_flight || e->under == NULL || e->filter == NULL ||
	    (fd = bufferevent_getfd(e->under)) < 0)
		return -1;
	/* what evhtp wrote before goes first: the socket's buffer, then
	 * the filter's */
	if (evbuffer_add_buffer(out, bufferevent_get_output(e->under)) != 0 ||
	    evbuffer_add_buffer(out, bufferevent_get_output(e->filter)) != 0)
		return -1;
	disarm(e);
	if (e->hup != NULL)
		event_del(e->hup);
	/* the socket bufferevent lets go of fd: freeing it closes nothing */
	bufferevent_setfd(e->under, -1);
	e->handed_off = true;
	event_active(e->defer, EV_TIMEOUT, 1);
	return fd;
}

void
edge_request_done(struct edge *e)
{
	if (e == NULL || e->c == NULL || e->mode == EM_LINGER)
		return;
	e->in_flight = false;
	e->deferred = false;
	e->hung_up = false;
	if (e->hup != NULL)
		event_del(e->hup);
	e->idle_since_ms = util_now_ms();
	if (e->p.state != EDGE_DONE) {
		/* evhtp ended a request the edge is still framing: they
		 * disagree on where it ends, so nothing after it can be read
		 * safely on this connection */
		log_warnx("request framing disagreement with libevhtp; closing "
		    "the connection after the answer");
		e->doomed = true;
		event_active(e->defer, EV_TIMEOUT, 1);
		return;
	}
	if (e->p.conn_close) {
		/* the client asked to close, in a form libevhtp may not read
		 * ("keep-alive, close"): close after this answer anyway */
		e->doomed = true;
		event_active(e->defer, EV_TIMEOUT, 1);
		return;
	}
	edge_parser_next(&e->p);
	if (e->reject_pending || e->eof || evbuffer_get_length(
	    bufferevent_get_input(e->under)) > 0) {
		event_active(e->defer, EV_TIMEOUT, 1);
		return;
	}
	arm(e, ET_IDLE, e->cfg->keepalive_timeout_ms);
}

void
edge_detached(struct edge *e)
{
	char buf[300];

	if (e == NULL)
		return;
	if (e->in_flight) {
		/* the usual way of a "Connection: close" answer */
		edge_describe(e, buf, sizeof(buf));
		log_debug("libevhtp closes a connection with a request in "
		    "flight: %s", buf);
	}
	e->c = NULL;
	disarm(e);
	event_del(e->defer);
	if (e->hup != NULL)
		event_del(e->hup);
	/* cut the socket from the filter evhtp is about to free */
	if (e->under != NULL && e->mode != EM_LINGER)
		bufferevent_setcb(e->under, NULL, NULL, NULL, NULL);
}

uint64_t
edge_idle_ms(const struct edge *e)
{
	uint64_t now = util_now_ms();

	if (e->in_flight || e->receiving || e->mode != EM_SERVING ||
	    e->idle_since_ms == 0 || e->idle_since_ms > now)
		return 0;
	return now - e->idle_since_ms + 1;
}

bool
edge_idle(const struct edge *e)
{
	return edge_idle_ms(e) > 0;
}

struct edge *
edge_attach(struct evhtp_connection *c, struct event_base *base,
    struct edge_config *cfg, edge_detach_fn detach, void *arg)
{
	bufferevent_data_cb rcb, wcb;
	bufferevent_event_cb ecb;
	struct timeval wt;
	void *cbarg;
	struct edge *e;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	e->c = c;
	e->cfg = cfg;
	e->detach = detach;
	e->detach_arg = arg;
	edge_parser_init(&e->p, &cfg->lim);
	e->idle_since_ms = util_now_ms();
	TAILQ_INSERT_TAIL(cfg->all, e, link);
	cfg->count++;
	e->timer = evtimer_new(base, on_timer, e);
	e->defer = event_new(base, -1, 0, on_defer, e);
	if (e->timer == NULL || e->defer == NULL) {
		edge_free(e);
		return NULL;
	}
	e->under = evhtp_connection_get_bev(c);
	bufferevent_set_max_single_write(e->under, MAX_SINGLE_WRITE);
	bufferevent_getcb(e->under, &rcb, &wcb, &ecb, &cbarg);
	e->filter = bufferevent_filter_new(e->under, filter_in, filter_out,
	    BEV_OPT_DEFER_CALLBACKS, filter_ctx_free, e);
	if (e->filter == NULL) {
		e->under = NULL;        /* still evhtp's */
		edge_free(e);
		return NULL;
	}
	e->filter_live = true;
	bufferevent_setcb(e->filter, rcb, wcb, ecb, cbarg);
	bufferevent_getcb(e->under, &e->filter_readcb, &e->filter_writecb,
	    &e->filter_eventcb, &e->filter_arg);
	bufferevent_setcb(e->under, under_read, under_write, under_event, e);
	bufferevent_enable(e->filter, EV_READ | EV_WRITE);
	evhtp_connection_set_bev(c, e->filter);
	wt = util_tv(cfg->write_timeout_ms);
	bufferevent_set_timeouts(e->under, NULL, &wt);
	arm(e, ET_IDLE, cfg->keepalive_timeout_ms);
	return e;
}

void
edge_free_all(struct edge_list *all)
{
	struct edge *e, *next;

	for (e = TAILQ_FIRST(all); e != NULL; e = next) {
		next = TAILQ_NEXT(e, link);
		if (e->filter == NULL)
			edge_free(e);   /* lingering: ours alone */
		/* the others go with their evhtp connection's bufferevent */
	}
}

/* One line on the state of a connection, for the logs. */
void
edge_describe(const struct edge *e, char *buf, size_t len)
{
	snprintf(buf, len, "mode %d, parser %d, in_flight %d, receiving %d, "
	    "eof %d, doomed %d, timer %d, evhtp %s%s, socket in %zu out %zu, "
	    "filter in %zu out %zu", e->mode, e->p.state, e->in_flight,
	    e->receiving, e->eof, e->doomed, e->timer_kind,
	    e->c == NULL ? "gone" : e->c->request != NULL ? "busy" : "idle",
	    e->c != NULL && (e->c->flags & EVHTP_CONN_FLAG_PAUSED) ?
	    " paused" : "",
	    e->under ? evbuffer_get_length(bufferevent_get_input(e->under)) : 0,
	    e->under ? evbuffer_get_length(bufferevent_get_output(e->under)) : 0,
	    e->filter ? evbuffer_get_length(bufferevent_get_input(e->filter)) : 0,
	    e->filter ? evbuffer_get_length(bufferevent_get_output(e->filter)) :
	    0);
}

void
edge_log_all(const struct edge_list *all)
{
	const struct edge *e;
	char buf[300];

	TAILQ_FOREACH(e, all, link) {
		edge_describe(e, buf, sizeof(buf));
		log_warnx("open connection: %s", buf);
	}
}
