/*
 * upstream.c: the events service client of upstream.h.
 *
 * A call is a series of attempts. Each attempt takes an idle connection
 * (or opens one: evhttp_connection_base_new with the worker's evdns base,
 * so resolving never blocks), sends the GET and arms its own timer for
 * min([upstream] timeout, what is left of the caller's deadline). libevent
 * calls back from inside its connection code, where the connection must
 * not be freed: the callbacks only record what happened and activate the
 * call's "finish" event, and everything else (judging the answer, putting
 * the connection back or freeing it, retrying, answering) runs from there.
 * A timed-out or cancelled attempt frees its connection, which drops the
 * request without a callback.
 *
 * A call is always in one state, and each event acts only in the state it
 * belongs to, so a timer and an answer that come in the same loop pass
 * cannot both end one attempt:
 *
 *   WAITING   between attempts; the timer is the retry delay
 *   SENT      an attempt is out; the timer is its timeout, the request's
 *             callback ends it (possibly from inside evhttp_make_request)
 *   ANSWERED  libevent ended the attempt; the finish event judges it
 *   DONE      the outcome is known; the finish event answers the caller
 *
 * Retries: after a timeout, a connection failure, or a 5xx/429, at most
 * [upstream] retries more attempts, each after 25ms * 2^n with +-50%
 * jitter, never past the deadline. A non-JSON, wrongly shaped, oversized
 * or cut answer, and other statuses, are not retried.
 *
 * A failed call's message says what happened to it as a whole: how many
 * tries in how long, the last try's failure, and why there was no other
 * ("no answer after 3 tries in 3070ms (last: connection refused)").
 *
 * The circuit breaker: breaker_failures failed attempts in a row open it
 * for breaker_cooldown; meanwhile calls fail at once (UP_BREAKER_OPEN) and
 * the service is left alone. Then it is half-open: one attempt goes out
 * as a probe, and its success closes the circuit, its failure opens it for
 * another cooldown; other calls are refused while the probe is out. Every
 * state ends by itself, traffic or not: the end of the cooldown sends a
 * probe of its own (the last call's request, no retries) unless a digest
 * sent one first, a probe's attempt ends by its timeout at the latest, and
 * a probe cancelled with its digest is replaced by one of our own at once.
 * The state machine is breaker.c's; the timer, logs and /metrics are here.
 */
#include "runtime/upstream.h"
#include "runtime/breaker.h"
#include "common/config.h"
#include "common/log.h"
#include "common/stats.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#define RETRY_BASE_MS       25
#define MIN_ATTEMPT_MS      5
#define MAX_HEADERS_SIZE    16384

enum call_state { CS_WAITING, CS_SENT, CS_ANSWERED, CS_DONE };

struct up_conn {
	struct evhttp_connection *evcon;
	TAILQ_ENTRY(up_conn) link;
};

struct upstream {
	struct event_base *base;
	const struct config *cfg;
	struct stats_block *st;
	struct evdns_base *dns;
	struct evbuffer *events;    /* the valid events, handed to callers */
	TAILQ_HEAD(, up_conn) idle;
	unsigned nidle;
	unsigned seq;               /* for the jitter */
	struct breaker br;
	struct event *cooldown;     /* the end of the open state */
	struct upstream_call *self_probe;   /* a probe no digest asked for */
	char probe_uri[640];        /* the last call's, for self_probe */
};

struct upstream_call {
	struct upstream *u;
	char uri[640];
	uint64_t deadline_ms;
	enum call_state state;
	unsigned attempts;
	unsigned retries;           /* at most, after the first attempt */
	uint64_t started_ms;
	uint64_t attempt_ms;        /* the attempt's own time limit */
	bool probe;                 /* this attempt is the breaker's probe */
	struct up_conn *conn;       /* of the attempt in flight */
	struct event *timer;        /* attempt timeout or retry delay */
	struct event *finish;       /* runs judge() outside libevent */
	/* what the attempt's callbacks recorded */
	bool got_headers;
	int http_status;
	enum evhttp_request_error err;
	bool err_set;
	bool refused;               /* the connection could not be made */
	struct evbuffer *body;
	/* the outcome so far */
	enum upstream_status st;
	char last[256];             /* the last attempt's failure */
	char msg[640];              /* the call's, for the caller */
	upstream_done_fn cb;
	void *arg;
};

static void attempt_start(struct upstream_call *c);

const char *
upstream_status_code(enum upstream_status st)
{
	switch (st) {
	case UP_OK: return "ok";
	case UP_TIMEOUT: return "upstream_timeout";
	case UP_HTTP_ERROR: return "upstream_error";
	case UP_BAD_RESPONSE: return "upstream_bad_response";
	case UP_UNREACHABLE: return "upstream_unreachable";
	case UP_BREAKER_OPEN: return "upstream_unavailable";
	}
	return "upstream_error";
}

static enum stats_upstream
stat_of(enum upstream_status st)
{
	switch (st) {
	case UP_OK: return SU_OK;
	case UP_TIMEOUT: return SU_TIMEOUT;
	case UP_HTTP_ERROR: return SU_HTTP_ERROR;
	case UP_BAD_RESPONSE: return SU_BAD_RESPONSE;
	default: return SU_UNREACHABLE;
	}
}

/* ---- connections ---------------------------------------------------------- */

static struct up_conn *
conn_get(struct upstream *u)
{
	struct up_conn *cn;

	if ((cn = TAILQ_FIRST(&u->idle)) != NULL) {
		TAILQ_REMOVE(&u->idle, cn, link);
		u->nidle--;
		return cn;
	}
	if ((cn = calloc(1, sizeof(*cn))) == NULL)
		return NULL;
	cn->evcon = evhttp_connection_base_new(u->base, u->dns,
	    u->cfg->events_host, u->cfg->events_port);
	if (cn->evcon == NULL) {
		free(cn);
		return NULL;
	}
	evhttp_connection_set_max_body_size(cn->evcon,
	    (ev_ssize_t)u->cfg->upstream_max_response);
	evhttp_connection_set_max_headers_size(cn->evcon, MAX_HEADERS_SIZE);
	evhttp_connection_set_retries(cn->evcon, 0);
	return cn;
}

/* Frees a connection; a request on it goes without a callback. */
static void
conn_drop(struct up_conn *cn)
{
	if (cn == NULL)
		return;
	evhttp_connection_free(cn->evcon);
	free(cn);
}

static void
conn_put(struct upstream *u, struct up_conn *cn)
{
	if (u->nidle >= u->cfg->upstream_keepalive) {
		conn_drop(cn);
		return;
	}
	TAILQ_INSERT_HEAD(&u->idle, cn, link);
	u->nidle++;
}

/* ---- the breaker ---------------------------------------------------------- */

/* The gauge, if the state changed from was: half-open counts as open
 * until its probe succeeds. */
static void
breaker_gauge(struct upstream *u, enum breaker_state was)
{
	if (u->br.state != was)
		stats_gauge_set(&u->st->upstream_breaker_open,
		    u->br.state != BR_CLOSED ? 1 : 0);
}

/* May an attempt go out? Sets *probe when it is the half-open probe. */
static bool
up_breaker_allow(struct upstream *u, bool *probe)
{
	enum breaker_state was = u->br.state;
	bool ok;

	ok = breaker_allow(&u->br, util_now_ms(), probe);
	breaker_gauge(u, was);
	return ok;
}

/* A probe went without an outcome (cancelled with its digest): the
 * breaker must not wait for a digest to send the next one. on_cooldown
 * probes now if the cooldown is over, else when it is. */
static void
probe_lost(struct upstream *u)
{
	struct timeval tv = { 0, 0 };

	if (breaker_probe_lost(&u->br))
		evtimer_add(u->cooldown, &tv);
}

static void
breaker_record(struct upstream *u, bool ok, bool probe, const char *why)
{
	enum breaker_state was = u->br.state;
	enum breaker_change bc;
	struct timeval tv;

	if (ok)
		bc = breaker_success(&u->br, probe);
	else
		bc = breaker_failure(&u->br, probe, util_now_ms(),
		    u->cfg->breaker_failures, u->cfg->breaker_cooldown_ms);
	if (bc == BC_OPENED || bc == BC_REOPENED || bc == BC_EXTENDED) {
		tv = util_tv(u->cfg->breaker_cooldown_ms);
		evtimer_add(u->cooldown, &tv);
	}
	switch (bc) {
	case BC_CLOSED:
		log_info("events service at %s answers again: circuit "
		    "closed", u->cfg->events_url);
		break;
	case BC_OPENED:
		stats_add(&u->st->upstream_breaker_opened, 1);
		log_warnx("events service at %s failing (last: %s): circuit "
		    "open for %llums, digests go without events meanwhile",
		    u->cfg->events_url, why,
		    (unsigned long long)u->cfg->breaker_cooldown_ms);
		break;
	case BC_REOPENED:
		stats_add(&u->st->upstream_breaker_opened, 1);
		log_info("events service at %s still failing (probe: %s): "
		    "circuit open for another %llums", u->cfg->events_url, why,
		    (unsigned long long)u->cfg->breaker_cooldown_ms);
		break;
	case BC_EXTENDED:
	case BC_NONE:
		break;
	}
	breaker_gauge(u, was);
}

/* Why the breaker refuses a call, for its message. */
static void
breaker_why(const struct upstream *u, char *buf, size_t len)
{
	uint64_t left = breaker_open_left(&u->br, util_now_ms());

	if (left > 0)
		snprintf(buf, len, "the circuit is open after %u failed tries "
		    "in a row, for another %llums", u->br.failures,
		    (unsigned long long)left);
	else
		snprintf(buf, len, "the circuit is half-open and its probe is "
		    "still out");
}

bool
upstream_breaker_open(const struct upstream *u)
{
	return breaker_open_left(&u->br, util_now_ms()) > 0;
}

/* ---- one call ------------------------------------------------------------- */

static void
call_free(struct upstream_call *c)
{
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->finish != NULL)
		event_free(c->finish);
	if (c->body != NULL)
		evbuffer_free(c->body);
	free(c);
}

/* Ends the call: the callback runs from the finish event, later. */
static void
call_end(struct upstream_call *c, enum upstream_status st, const char *msg)
{
	c->st = st;
	if (msg != NULL)
		snprintf(c->msg, sizeof(c->msg), "%s", msg);
	c->state = CS_DONE;
	evtimer_del(c->timer);
	event_active(c->finish, EV_TIMEOUT, 1);
}

/* Ends the call with the last attempt's failure, saying how many tries
 * it made in how long; stop, if not NULL, says why it made no other. */
static void
call_fail(struct upstream_call *c, const char *stop)
{
	const struct config *cfg = c->u->cfg;

	snprintf(c->msg, sizeof(c->msg), "events service at %.200s:%u: %s "
	    "after %u %s in %llums (last: %s%s%s)", cfg->events_host,
	    (unsigned)cfg->events_port, c->st == UP_TIMEOUT ||
	    c->st == UP_UNREACHABLE ? "no answer" : "no usable answer",
	    c->attempts, c->attempts == 1 ? "try" : "tries",
	    (unsigned long long)(util_now_ms() - c->started_ms), c->last,
	    stop != NULL ? "; " : "", stop != NULL ? stop : "");
	call_end(c, c->st, NULL);
}

/* Ends a call that made no attempt, and why. */
static void
call_refuse(struct upstream_call *c, enum upstream_status st,
    const char *why)
{
	const struct config *cfg = c->u->cfg;

	snprintf(c->msg, sizeof(c->msg), "events service at %.200s:%u: not "
	    "called: %s", cfg->events_host, (unsigned)cfg->events_port, why);
	call_end(c, st, NULL);
}

static void
attempt_reset(struct upstream_call *c)
{
	c->got_headers = c->err_set = c->refused = false;
	c->http_status = 0;
	evbuffer_drain(c->body, evbuffer_get_length(c->body));
}

static bool
retryable(const struct upstream_call *c)
{
	return c->st == UP_TIMEOUT || c->st == UP_UNREACHABLE ||
	    (c->st == UP_HTTP_ERROR && (c->http_status >= 500 ||
	    c->http_status == 429));
}

/* After a failed attempt: retry later, or end with its failure. */
static void
attempt_failed(struct upstream_call *c)
{
	struct upstream *u = c->u;
	uint64_t now = util_now_ms(), delay;
	struct timeval tv;

	stats_add(&u->st->upstream_attempts[stat_of(c->st)], 1);
	breaker_record(u, false, c->probe, c->last);
	c->probe = false;
	if (!retryable(c)) {
		call_fail(c, "not retried");
		return;
	}
	if (c->attempts > c->retries) {
		call_fail(c, NULL);
		return;
	}
	delay = RETRY_BASE_MS << (c->attempts - 1);
	/* +-50%: enough to spread */
	delay = delay / 2 + delay * util_jitter_permille(&u->seq) / 1000;
	if (now + delay + MIN_ATTEMPT_MS >= c->deadline_ms) {
		call_fail(c, "no time left for another");
		return;
	}
	stats_add(&u->st->upstream_retries, 1);
	c->state = CS_WAITING;
	tv = util_tv(delay);
	evtimer_add(c->timer, &tv);
}

/* Why an attempt without an HTTP status failed, from what libevent said. */
static void
judge_failure(struct upstream_call *c)
{
	switch (c->err_set ? c->err : EVREQ_HTTP_EOF) {
	case EVREQ_HTTP_DATA_TOO_LONG:
		c->st = UP_BAD_RESPONSE;
		snprintf(c->last, sizeof(c->last), "an answer larger than %llu "
		    "bytes", (unsigned long long)c->u->cfg->upstream_max_response);
		return;
	case EVREQ_HTTP_INVALID_HEADER:
		c->st = UP_BAD_RESPONSE;
		snprintf(c->last, sizeof(c->last), "an invalid HTTP answer");
		return;
	case EVREQ_HTTP_TIMEOUT:
		c->st = UP_TIMEOUT;
		snprintf(c->last, sizeof(c->last), "timed out in libevent");
		return;
	default:
		break;
	}
	if (c->got_headers) {
		c->st = UP_BAD_RESPONSE;
		snprintf(c->last, sizeof(c->last), "the answer was cut short");
		return;
	}
	c->st = UP_UNREACHABLE;
	/* a refused connect() ends the request without an error callback;
	 * one that fails locally (EMFILE) looks like a closed connection */
	snprintf(c->last, sizeof(c->last), "%s", c->refused ? "connection "
	    "refused" : c->err_set && c->err == EVREQ_HTTP_BUFFER_ERROR ?
	    "the connection was reset or failed" : "the connection failed "
	    "or closed without an answer");
}

/* The jansson path of judge_body: for what upstream_scan_events does not
 * read, and to word why an answer is not JSON. */
static int
judge_tree(struct upstream_call *c, const char *data, size_t len,
    unsigned *dropped)
{
	json_error_t jerr;
	json_t *doc, *events;
	char *s;
	int rc = -1;

	if ((doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		snprintf(c->last, sizeof(c->last), "an answer that is not "
		    "JSON: %.160s", jerr.text);
		return -1;
	}
	events = upstream_validate_events(doc, dropped, c->last,
	    sizeof(c->last));
	json_decref(doc);
	if (events == NULL)
		return -1;
	if ((s = json_dumps(events, JSON_COMPACT)) == NULL ||
	    evbuffer_add(c->u->events, s, strlen(s)) != 0)
		snprintf(c->last, sizeof(c->last), "out of memory");
	else
		rc = 0;
	free(s);
	json_decref(events);
	return rc;
}

/* The answer of a 200: JSON, an array, valid events, encoded into
 * u->events; -1 (c->last says why) if it is not usable. */
static int
judge_body(struct upstream_call *c, unsigned *dropped)
{
	size_t len = evbuffer_get_length(c->body);
	const char *data = len > 0 ? (const char *)evbuffer_pullup(c->body,
	    -1) : "";

	evbuffer_drain(c->u->events, evbuffer_get_length(c->u->events));
	switch (upstream_scan_events(data, len, c->u->events, dropped)) {
	case 1:
		return 0;
	case 0:
		return judge_tree(c, data, len, dropped);
	default:
		snprintf(c->last, sizeof(c->last), "out of memory");
		return -1;
	}
}

/* An attempt is over (answered, failed, or timed out): judge it. */
static void
on_finish(evutil_socket_t fd, short ev, void *arg)
{
	struct upstream_call *c = arg;
	struct upstream *u = c->u;
	unsigned dropped = 0;

	(void)fd;
	(void)ev;
	if (c->state == CS_DONE) {
		c->cb(c->arg, c->st, NULL, 0, c->msg);
		call_free(c);
		return;
	}
	if (c->state != CS_ANSWERED)
		return;                 /* nothing to judge */
	c->state = CS_WAITING;
	if (c->http_status == 0) {
		judge_failure(c);
		conn_drop(c->conn);
	} else if (c->http_status != 200) {
		c->st = UP_HTTP_ERROR;
		snprintf(c->last, sizeof(c->last), "answered %d",
		    c->http_status);
		conn_put(u, c->conn);
	} else {
		conn_put(u, c->conn);
		c->st = judge_body(c, &dropped) == 0 ? UP_OK : UP_BAD_RESPONSE;
	}
	c->conn = NULL;
	if (c->st != UP_OK) {
		attempt_failed(c);
		return;
	}
	stats_add(&u->st->upstream_attempts[SU_OK], 1);
	stats_add(&u->st->upstream_events_dropped, dropped);
	breaker_record(u, true, c->probe, NULL);
	c->cb(c->arg, UP_OK, u->events, dropped, "");
	evbuffer_drain(u->events, evbuffer_get_length(u->events));
	call_free(c);
}

/* libevent: the attempt ended (req NULL: it failed). Record only. */
static void
on_response(struct evhttp_request *req, void *arg)
{
	struct upstream_call *c = arg;

	if (c->state != CS_SENT)
		return;                 /* not this attempt's: ignore it */
	c->state = CS_ANSWERED;
	/* the timeout cannot run any more, even if it is due in this pass */
	evtimer_del(c->timer);
	if (req != NULL && evhttp_request_get_response_code(req) > 0) {
		c->http_status = evhttp_request_get_response_code(req);
		evbuffer_add_buffer(c->body,
		    evhttp_request_get_input_buffer(req));
	} else if (req != NULL && !c->err_set) {
		c->refused = true;      /* connect() failed */
	}
	event_active(c->finish, EV_TIMEOUT, 1);
}

static int
on_headers(struct evhttp_request *req, void *arg)
{
	struct upstream_call *c = arg;

	(void)req;
	if (c->state == CS_SENT)
		c->got_headers = true;
	return 0;
}

static void
on_error(enum evhttp_request_error err, void *arg)
{
	struct upstream_call *c = arg;

	if (c->state != CS_SENT)
		return;
	c->err = err;
	c->err_set = true;
}

/* The attempt's timer: its time is up, or a retry is due. */
static void
on_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct upstream_call *c = arg;

	(void)fd;
	(void)ev;
	if (c->state == CS_WAITING) {
		attempt_start(c);       /* the retry delay is over */
		return;
	}
	if (c->state != CS_SENT)
		return;                 /* the attempt ended already */
	c->state = CS_WAITING;
	conn_drop(c->conn);             /* the request goes with it */
	c->conn = NULL;
	c->st = UP_TIMEOUT;
	snprintf(c->last, sizeof(c->last), "no answer within %llums",
	    (unsigned long long)c->attempt_ms);
	attempt_failed(c);
}

static void
attempt_start(struct upstream_call *c)
{
	struct upstream *u = c->u;
	uint64_t now = util_now_ms(), ms;
	struct evhttp_request *req;
	struct timeval tv;

	if (now + MIN_ATTEMPT_MS >= c->deadline_ms) {
		if (c->attempts == 0)
			call_refuse(c, UP_TIMEOUT, "no time left before the "
			    "deadline");
		else
			call_fail(c, "no time left for another");
		return;
	}
	if (!up_breaker_allow(u, &c->probe)) {
		char why[160];

		stats_add(&u->st->upstream_rejected, 1);
		if (c->attempts > 0) {
			call_fail(c, "no retry: the circuit opened");
			return;
		}
		breaker_why(u, why, sizeof(why));
		call_refuse(c, UP_BREAKER_OPEN, why);
		return;
	}
	c->attempts++;
	attempt_reset(c);
	if ((c->conn = conn_get(u)) == NULL ||
	    (req = evhttp_request_new(on_response, c)) == NULL) {
		conn_drop(c->conn);
		c->conn = NULL;
		if (c->probe)
			probe_lost(u);
		c->probe = false;
		c->st = UP_UNREACHABLE;
		snprintf(c->last, sizeof(c->last), "out of memory");
		call_fail(c, "not retried");
		return;
	}
	c->state = CS_SENT;
	evhttp_request_set_header_cb(req, on_headers);
	evhttp_request_set_error_cb(req, on_error);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host",
	    u->cfg->events_host);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Accept",
	    "application/json");
	if (evhttp_make_request(c->conn->evcon, req, EVHTTP_REQ_GET,
	    c->uri) != 0) {
		/* libevent freed the request */
		c->state = CS_WAITING;
		conn_drop(c->conn);
		c->conn = NULL;
		c->st = UP_UNREACHABLE;
		snprintf(c->last, sizeof(c->last), "the request could not be "
		    "sent");
		attempt_failed(c);
		return;
	}
	if (c->state != CS_SENT)
		return;         /* ended inside evhttp_make_request */
	ms = u->cfg->upstream_timeout_ms;
	if (ms > c->deadline_ms - now)
		ms = c->deadline_ms - now;
	c->attempt_ms = ms;
	tv = util_tv(ms);
	evtimer_add(c->timer, &tv);
}

static struct upstream_call *
call_new(struct upstream *u, const char *uri, uint64_t deadline_ms,
    unsigned retries, upstream_done_fn done, void *arg)
{
	struct upstream_call *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->u = u;
	c->started_ms = util_now_ms();
	c->deadline_ms = deadline_ms;
	c->retries = retries;
	c->cb = done;
	c->arg = arg;
	c->timer = evtimer_new(u->base, on_timer, c);
	c->finish = event_new(u->base, -1, 0, on_finish, c);
	c->body = evbuffer_new();
	if (c->timer == NULL || c->finish == NULL || c->body == NULL) {
		call_free(c);
		return NULL;
	}
	snprintf(c->uri, sizeof(c->uri), "%s", uri);
	attempt_start(c);
	return c;
}

struct upstream_call *
upstream_events(struct upstream *u, const char *date, const char *city,
    uint64_t deadline_ms, upstream_done_fn done, void *arg)
{
	snprintf(u->probe_uri, sizeof(u->probe_uri), "%s/%s?city=%s",
	    u->cfg->events_path, date, city);
	return call_new(u, u->probe_uri, deadline_ms,
	    (unsigned)u->cfg->upstream_retries, done, arg);
}

/* The outcome of our own probe: breaker_record has judged it already. */
static void
self_probe_done(void *arg, enum upstream_status st, struct evbuffer *events,
    unsigned dropped, const char *message)
{
	struct upstream *u = arg;

	(void)events;
	(void)dropped;
	u->self_probe = NULL;
	if (st != UP_OK)
		log_debug("events service probe: %s", message);
}

/* The cooldown is over (or a probe was lost): probe, if no one does. */
static void
on_cooldown(evutil_socket_t fd, short ev, void *arg)
{
	struct upstream *u = arg;
	uint64_t now = util_now_ms(), wait;
	struct timeval tv;

	(void)fd;
	(void)ev;
	if (!breaker_wants_probe(&u->br, now, &wait) ||
	    u->self_probe != NULL || u->probe_uri[0] == '\0')
		return;
	if (wait > 0) {
		tv = util_tv(wait);     /* woken early */
		evtimer_add(u->cooldown, &tv);
		return;
	}
	u->self_probe = call_new(u, u->probe_uri, now +
	    u->cfg->upstream_timeout_ms + MIN_ATTEMPT_MS + 1, 0,
	    self_probe_done, u);
	if (u->self_probe == NULL) {
		log_warnx("out of memory for the events service probe; trying "
		    "again in %llums",
		    (unsigned long long)u->cfg->breaker_cooldown_ms);
		tv = util_tv(u->cfg->breaker_cooldown_ms);
		evtimer_add(u->cooldown, &tv);
	}
}

void
upstream_progress(const struct upstream_call *c, char *buf, size_t len)
{
	const struct config *cfg = c->u->cfg;
	unsigned long long took = util_now_ms() - c->started_ms;

	if (c->state == CS_SENT || c->state == CS_ANSWERED)
		snprintf(buf, len, "events service at %.200s:%u: %u %s in "
		    "%llums, the last still out", cfg->events_host,
		    (unsigned)cfg->events_port, c->attempts, c->attempts == 1 ?
		    "try" : "tries", took);
	else
		snprintf(buf, len, "events service at %.200s:%u: %u %s in "
		    "%llums (last: %s)", cfg->events_host,
		    (unsigned)cfg->events_port, c->attempts, c->attempts == 1 ?
		    "try" : "tries", took, c->attempts > 0 ? c->last : "none");
}

void
upstream_cancel(struct upstream_call *c)
{
	if (c == NULL)
		return;
	if (c->conn != NULL) {
		/* in flight, or answered with the finish event pending: the
		 * connection may hold a half-read answer, so it goes */
		conn_drop(c->conn);
		if (c->probe)
			probe_lost(c->u);
	}
	call_free(c);
}

/* ---- the client ----------------------------------------------------------- */

struct upstream *
upstream_new(struct event_base *base, const struct config *cfg,
    struct stats_block *st)
{
	struct upstream *u;

	if ((u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	u->base = base;
	u->cfg = cfg;
	u->st = st;
	u->seq = (unsigned)getpid() ^ (unsigned)util_now_us();
	TAILQ_INIT(&u->idle);
	if ((u->events = evbuffer_new()) == NULL) {
		free(u);
		return NULL;
	}
	if ((u->cooldown = evtimer_new(base, on_cooldown, u)) == NULL) {
		evbuffer_free(u->events);
		free(u);
		return NULL;
	}
	/* /etc/resolv.conf and /etc/hosts are read once, here */
	u->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (u->dns == NULL) {
		log_warnx("cannot read the resolver configuration; the events "
		    "service host %s must be a numeric address",
		    cfg->events_host);
		u->dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	}
	if (u->dns == NULL) {
		event_free(u->cooldown);
		evbuffer_free(u->events);
		free(u);
		return NULL;
	}
	return u;
}

void
upstream_free(struct upstream *u)
{
	struct up_conn *cn;

	if (u == NULL)
		return;
	upstream_cancel(u->self_probe);
	event_free(u->cooldown);
	while ((cn = TAILQ_FIRST(&u->idle)) != NULL) {
		TAILQ_REMOVE(&u->idle, cn, link);
		conn_drop(cn);
	}
	evdns_base_free(u->dns, 0);
	evbuffer_free(u->events);
	stats_gauge_set(&u->st->upstream_breaker_open, 0);
	free(u);
}
