/*
 * offers_stream.c: GET /v1/offers/stream, new offers as Server-Sent Events
 *
 *   id: 9001
 *   event: offer
 *   data: {"id":9001,...}
 *
 * optionally only those of ?city=. A subscriber follows the worker's feed
 * (feed.c). One that comes back with Last-Event-ID: N (or ?last_event_id=)
 * first gets every offer after N from the database, in id order, up to the
 * feed's high-water mark at its arrival; live offers arriving meanwhile are
 * held and sent after, so none is lost and none comes twice (an offer is
 * sent only if its id is above the last one sent).
 *
 * A Last-Event-ID above that mark is either just ahead of this worker's
 * feed (another worker sent it a moment ago) or ahead of the database
 * itself (it was restored, or the id comes from elsewhere), where it
 * would hold back every offer up to it forever. The database tells: if
 * it has no offer at or above the id, the stream says so in a comment and
 * starts from now; else it goes on after the id. Live offers are held
 * meanwhile, those up to the id apart, kept only in the first case.
 *
 * A city must be one before the head goes out (404 naming city): the read
 * model's list of cities tells, built by the first stream that asks for
 * it (so that a storm of reconnects costs one query), or with the model
 * off a query of that one city.
 *
 * HEAD gets the stream's head (after the same checks as GET) and nothing
 * more. An HTTP/1.0 client gets the events unchunked, ended by the close.
 *
 * A stream that has sent nothing for an [offers] heartbeat gets a comment
 * line, which keeps proxies and the client's idea of the connection alive
 * and makes a vanished client show (the write fails, or the edge sees the
 * FIN); a stream that offers keep busy gets none. A subscriber whose unsent output
 * passes [offers] max_pending is closed; it reconnects and replays. On a
 * reload or a stop each subscriber gets "retry:" with a jittered delay
 * ([offers] retry .. twice that) and its stream ends cleanly.
 *
 * Once its head is sent a stream's socket is the subscriber's own
 * (stream.h): no HTTP machinery stays behind per idle subscriber. A live
 * offer (and a heartbeat) is encoded once per worker, into a frame every
 * subscriber's stream sends as is (frame.h); only a replay, which is each
 * subscriber's own, is written per subscriber.
 */
#include "api/api.h"
#include "runtime/cache.h"
#include "runtime/citymodel.h"
#include "runtime/feed.h"
#include "runtime/frame.h"
#include "runtime/stream.h"
#include "worker/worker.h"
#include "common/config.h"
#include "common/log.h"
#include "common/stats.h"
#include "common/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#define REPLAY_PAGE 500
#define STREAM_CTYPE "text/event-stream; charset=utf-8"

struct sub {
	struct stream *st;
	struct worker *w;
	struct feed_sub *fs;
	struct pg_query *q;         /* the replay page in flight */
	struct evbuffer *held;      /* live events while replaying */
	struct evbuffer *held_low;  /* those up to ahead_of, while checking */
	int64_t held_last;          /* id of the last one held */
	int64_t ahead_of;           /* the Last-Event-ID checked, else 0 */
	int64_t last_sent;
	int64_t replay_to;          /* the feed's high-water at arrival */
	char city[65];              /* "" = every city */
	unsigned quiet;             /* heartbeat ticks with nothing sent */
	bool replaying;
	bool closing;
};

static void
sub_free(struct sub *s)
{
	stream_close(s->st);
	feed_unsubscribe(s->fs);
	if (s->q != NULL)
		pg_cancel(s->q);
	if (s->held != NULL)
		evbuffer_free(s->held);
	if (s->held_low != NULL)
		evbuffer_free(s->held_low);
	free(s);
}

/* The client left or the stream was aborted. */
static void
sub_gone(void *arg)
{
	sub_free(arg);
}

/* Ends the stream from our side: the client reconnects after retry_ms. */
static void
sub_end(struct sub *s, uint64_t retry_ms)
{
	char buf[48];
	int n;

	n = snprintf(buf, sizeof(buf), "retry: %llu\n\n",
	    (unsigned long long)retry_ms);
	stream_write(s->st, buf, (size_t)n);
	stream_end(s->st);          /* the stream lingers on its own */
	s->st = NULL;
	sub_free(s);
}

static void
sub_too_slow(struct sub *s)
{
	if (s->closing)
		return;
	s->closing = true;
	stats_add(&s->w->st->sse_slow_closed, 1);
	log_debug("closing a subscriber %zu bytes behind",
	    (size_t)s->w->cfg->offers_max_pending);
	stream_abort(s->st);        /* sub_gone, and sub_free, come later */
}

static void
sub_write(struct sub *s, const char *buf, size_t len)
{
	if (s->closing)
		return;
	s->quiet = 0;
	if (stream_write(s->st, buf, len) > s->w->cfg->offers_max_pending)
		sub_too_slow(s);
}

static void
sub_send(struct sub *s, struct frame *f)
{
	if (s->closing)
		return;
	s->quiet = 0;
	if (f == NULL || stream_send(s->st, f) > s->w->cfg->offers_max_pending)
		sub_too_slow(s);
}

static int
format_event(char *buf, size_t len, int64_t id, const char *json, size_t jl)
{
	return snprintf(buf, len, "id: %" PRId64 "\nevent: offer\ndata: %.*s"
	    "\n\n", id, (int)jl, json);
}

static void
send_offer(struct sub *s, int64_t id, const char *json, size_t len)
{
	char stackbuf[2048], *buf = stackbuf;
	size_t need = len + 64;
	int n;

	if (id <= s->last_sent || s->closing)
		return;
	if (need > sizeof(stackbuf) && (buf = malloc(need)) == NULL) {
		sub_too_slow(s);
		return;
	}
	n = format_event(buf, need, id, json, len);
	s->last_sent = id;
	stats_add(&s->w->st->offers_sent, 1);
	sub_write(s, buf, (size_t)n);
	if (buf != stackbuf)
		free(buf);
}

/*
 * The event of a live offer, encoded once per worker: the frame of the
 * feed's delivery o->seq is kept until the next one. NULL: no memory.
 */
static struct frame *
offer_frame(struct worker *w, const struct feed_offer *o)
{
	struct app_state *as = w->app_state;
	struct frame *f;
	char head[64];
	int n;

	if (as->offer_frame != NULL && as->offer_frame_seq == o->seq)
		return as->offer_frame;
	n = snprintf(head, sizeof(head), "id: %" PRId64 "\nevent: offer\n"
	    "data: ", o->id);
	if (n < 0 || (size_t)n >= sizeof(head) ||
	    (f = frame_new((size_t)n + o->len + 2)) == NULL)
		return NULL;
	memcpy(frame_payload(f), head, (size_t)n);
	memcpy(frame_payload(f) + n, o->json, o->len);
	memcpy(frame_payload(f) + n + o->len, "\n\n", 2);
	frame_seal(f);
	frame_unref(as->offer_frame);
	as->offer_frame = f;
	as->offer_frame_seq = o->seq;
	return f;
}

static struct frame *
heartbeat_frame(struct worker *w)
{
	struct app_state *as = w->app_state;

	if (as->heartbeat_frame == NULL)
		as->heartbeat_frame = frame_copy(": hb\n\n", 6);
	return as->heartbeat_frame;
}

static void
send_live(struct sub *s, const struct feed_offer *o)
{
	if (o->id <= s->last_sent || s->closing)
		return;
	s->last_sent = o->id;
	stats_add(&s->w->st->offers_sent, 1);
	sub_send(s, offer_frame(s->w, o));
}

static void drain_one(void *arg);

/* The feed: a live offer, or a heartbeat tick (o NULL): a stream quiet
 * for FEED_BEAT_TICKS of them, an [offers] heartbeat, gets a comment. */
static void
on_feed(void *arg, const struct feed_offer *o)
{
	struct sub *s = arg;
	struct evbuffer *hb;

	if (o == NULL) {
		if (++s->quiet >= FEED_BEAT_TICKS)
			sub_send(s, heartbeat_frame(s->w));
		return;
	}
	if (o->id == FEED_REWOUND) {
		/* its ids are no guide any more: the client comes back with
		 * its Last-Event-ID, which is then ahead, and streams from now */
		drain_one(s);
		return;
	}
	if (s->city[0] != '\0' && strcmp(s->city, o->city) != 0)
		return;
	if (!s->replaying) {
		send_live(s, o);
		return;
	}
	if (o->id <= s->held_last)
		return;
	hb = o->id <= s->ahead_of ? s->held_low : s->held;
	evbuffer_add_printf(hb, "id: %" PRId64 "\nevent: offer\ndata: ",
	    o->id);
	evbuffer_add(hb, o->json, o->len);
	evbuffer_add(hb, "\n\n", 2);
	s->held_last = o->id;
	if (evbuffer_get_length(hb) > s->w->cfg->offers_max_pending)
		sub_too_slow(s);
}

static void replay_next(struct sub *s);

/* Replay is over: what was held goes out, and the feed takes over. */
static void
replay_done(struct sub *s)
{
	size_t len = evbuffer_get_length(s->held);

	s->replaying = false;
	if (len > 0 && !s->closing)
		sub_write(s, (const char *)evbuffer_pullup(s->held, -1), len);
	evbuffer_free(s->held);     /* only a replay holds */
	s->held = NULL;
	if (s->held_last > s->last_sent)
		s->last_sent = s->held_last;
}

/* Live offers are held from now, until the replay is done. */
static bool
start_holding(struct sub *s)
{
	if ((s->held = evbuffer_new()) == NULL) {
		sub_end(s, s->w->cfg->offers_retry_ms);
		return false;
	}
	s->replaying = true;
	return true;
}

static void
on_replay(void *arg, enum pg_status st, const PGresult *res, const char *msg)
{
	struct sub *s = arg;
	int i, n;

	s->q = NULL;
	if (st != PG_OK) {
		/* the client comes back with its Last-Event-ID and replays */
		log_warnx("offer replay failed (%s); ending the stream",
		    msg != NULL ? msg : pg_status_name(st));
		sub_end(s, s->w->cfg->offers_retry_ms);
		return;
	}
	n = pg_nrows(res);
	for (i = 0; i < n && !s->closing; i++)
		send_offer(s, strtoll(pg_value(res, i, 0), NULL, 10),
		    pg_value(res, i, 1), (size_t)pg_length(res, i, 1));
	if (s->closing)
		return;
	if (n == REPLAY_PAGE && s->last_sent < s->replay_to)
		replay_next(s);
	else
		replay_done(s);
}

static void
replay_next(struct sub *s)
{
	char after[24], upto[24];
	const char *params[3] = { after, upto, s->city[0] ? s->city : NULL };
	enum pg_status st;

	snprintf(after, sizeof(after), "%" PRId64, s->last_sent);
	snprintf(upto, sizeof(upto), "%" PRId64, s->replay_to);
	s->q = pg_query(s->w->pg, STMT_OFFERS_SINCE, 3, params, on_replay, s,
	    &st);
	if (s->q == NULL) {
		log_warnx("offer replay not possible (%s); ending the stream",
		    pg_status_name(st));
		sub_end(s, s->w->cfg->offers_retry_ms);
	}
}

/* Does the database hold an offer at or above the client's Last-Event-ID? */
static void
on_check(void *arg, enum pg_status st, const PGresult *res, const char *msg)
{
	struct sub *s = arg;
	char note[160];
	int n;

	s->q = NULL;
	if (st != PG_OK) {
		log_warnx("offer id check failed (%s); ending the stream",
		    msg != NULL ? msg : pg_status_name(st));
		sub_end(s, s->w->cfg->offers_retry_ms);
		return;
	}
	if (pg_nrows(res) > 0) {
		/* only ahead of this worker's feed: what the feed holds up
		 * to the id, the client has */
		evbuffer_drain(s->held_low, evbuffer_get_length(s->held_low));
	} else {
		n = snprintf(note, sizeof(note), ": last-event-id %" PRId64
		    " is ahead of the newest offer %" PRId64 "; streaming "
		    "from now\n\n", s->ahead_of, s->replay_to);
		sub_write(s, note, (size_t)n);
		s->last_sent = s->replay_to;
		evbuffer_prepend_buffer(s->held, s->held_low);
	}
	s->ahead_of = 0;
	replay_done(s);
}

static void
check_ahead(struct sub *s, int64_t last)
{
	char from[24];
	const char *params[3] = { from, "9223372036854775807", NULL };
	enum pg_status st;

	if ((s->held_low = evbuffer_new()) == NULL) {
		sub_end(s, s->w->cfg->offers_retry_ms);
		return;
	}
	if (!start_holding(s))
		return;
	s->ahead_of = last;
	snprintf(from, sizeof(from), "%" PRId64, last - 1);
	s->q = pg_query(s->w->pg, STMT_OFFERS_SINCE, 3, params, on_check, s,
	    &st);
	if (s->q == NULL) {
		log_warnx("offer id check not possible (%s); ending the stream",
		    pg_status_name(st));
		sub_end(s, s->w->cfg->offers_retry_ms);
	}
}

/* Last-Event-ID (header, else ?last_event_id=): -1 none, -2 invalid. */
static int64_t
last_event_id(struct http_req *r)
{
	const char *v = http_req_header(r, "Last-Event-ID");
	char *end;
	long long n;

	if (v == NULL)
		v = http_req_query(r, "last_event_id");
	if (v == NULL || *v == '\0')
		return -1;
	if (*v < '0' || *v > '9')
		return -2;
	n = strtoll(v, &end, 10);
	return *end == '\0' && n >= 0 && n < INT64_MAX ? (int64_t)n : -2;
}

static bool
stream_admit(struct http_req *r, struct worker *w, char *city, int64_t *last)
{
	if (!api_param_text(r, "city", 64, city, 65))
		return false;
	if (city[0] != '\0' && !api_is_slug(city)) {
		http_reply_error(r, 400, "invalid_argument", "city must be a "
		    "city id", "city");
		return false;
	}
	if ((*last = last_event_id(r)) == -2) {
		http_reply_error(r, 400, "invalid_argument", "Last-Event-ID must "
		    "be an offer id", "Last-Event-ID");
		return false;
	}
	if (http_req_draining(r) || !feed_up(w->feed)) {
		http_add_header(r, "Retry-After", "1");
		http_reply_error(r, 503, "unavailable", "the offer feed is not "
		    "connected to the database; retry later", NULL);
		return false;
	}
	if (feed_subscribers(w->feed) >= w->cfg->offers_max_subscribers) {
		http_add_header(r, "Retry-After", "1");
		http_reply_error(r, 503, "overloaded", "too many subscribers on "
		    "this worker; retry later", NULL);
		return false;
	}
	return true;
}

/* After the checks: the head, and for GET the stream. */
static void
stream_begin(struct http_req *r, struct worker *w, const char *city,
    int64_t last)
{
	char hello[128];
	struct sub *s;
	int n;

	if (http_req_method(r) == HTTP_HEAD) {
		http_stream_head(r, STREAM_CTYPE);
		return;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->fs = feed_subscribe(w->feed, on_feed, s)) == NULL) {
		free(s);
		http_reply_error(r, 503, "overloaded", "out of memory", NULL);
		return;
	}
	s->w = w;
	snprintf(s->city, sizeof(s->city), "%s", city);
	s->replay_to = feed_high(w->feed);
	s->last_sent = last >= 0 ? last : s->replay_to;
	s->held_last = s->replay_to;
	/* r is done with from here on */
	if ((s->st = http_stream_start(r, STREAM_CTYPE, sub_gone, s)) == NULL) {
		sub_free(s);
		return;
	}
	/* the first bytes go out at once: the client sees the stream open */
	n = snprintf(hello, sizeof(hello), "retry: %llu\n: offers after %"
	    PRId64 " (worker %u)\n\n", (unsigned long long)
	    w->cfg->offers_retry_ms, s->last_sent, w->args->slot);
	sub_write(s, hello, (size_t)n);
	if (last > s->replay_to) {
		check_ahead(s, last);
		return;
	}
	if (last >= 0 && last < s->replay_to && start_holding(s))
		replay_next(s);
}

/* ---- is the city one? ------------------------------------------------------ */

/* Whether the list of cities (GET /v1/cities's array, compact) has city:
 * each entry begins {"id":"<id>", and an id needs no escape. */
static bool
city_listed(const char *json, size_t len, const char *city)
{
	const char *p = json, *end = json + len, *hit;
	char needle[80];
	int n;

	n = snprintf(needle, sizeof(needle), "{\"id\":\"%s\"", city);
	while ((hit = memmem(p, (size_t)(end - p), needle, (size_t)n)) !=
	    NULL) {
		if (hit + n < end && (hit[n] == ',' || hit[n] == '}'))
			return true;
		p = hit + 1;
	}
	return false;
}

/* Told: the stream, after the checks again (the feed may have gone while
 * the request waited), or a 404. */
static void
city_told(struct http_req *r, bool known)
{
	struct worker *w = http_req_worker(r);
	char city[65];
	int64_t last;

	if (!known) {
		http_reply_error(r, 404, "not_found", "no such city", "city");
		return;
	}
	if (stream_admit(r, w, city, &last))
		stream_begin(r, w, city, last);
}

static void
city_row(struct api_job *job, const PGresult *res)
{
	city_told(job->r, pg_nrows(res) > 0);
}

/* The city alone, from the database. */
static void
city_query(struct http_req *r)
{
	char city[65];
	const char *params[1] = { city };

	if (api_param_text(r, "city", 64, city, sizeof(city)))
		api_read(r, STMT_CITY, 1, params, city_row, 0, NULL, NULL);
}

static void
city_list_built(struct api_job *job, const PGresult *res)
{
	const char *parts[CM_PARTS] = { pg_value(res, 0, 0), NULL, NULL };
	struct cm_flight *fl = job->ctx;
	char city[65];
	bool known;

	if (parts[0] == NULL) {
		http_reply_error(job->r, 404, "not_found", "no city list", NULL);
		return;
	}
	known = api_param_text(job->r, "city", 64, city, sizeof(city)) &&
	    city_listed(parts[0], (size_t)pg_length(res, 0, 0), city);
	job->ctx = NULL;
	cm_put(fl, parts, NULL, 0);
	city_told(job->r, known);
}

static void
city_build_fail(void *fl)
{
	cm_fail(fl);
}

/* The build of the list this request waited for ended. */
static void
city_woken(void *arg, const struct cm_value *v)
{
	struct http_req *r = arg;
	char city[65];

	if (v == NULL)
		city_query(r);
	else if (api_param_text(r, "city", 64, city, sizeof(city)))
		city_told(r, city_listed(v->part[0], v->len[0], city));
}

static void
city_wait_cancel(void *wt)
{
	cm_unwait(wt);
}

static void
city_check(struct http_req *r, struct worker *w, const char *city)
{
	struct cm_flight *fl = NULL;
	struct cm_waiter *wt = NULL;
	struct cm_value v;

	switch (cm_get(w->model, CM_CITIES, CACHE_KEY_CITIES, &v, city_woken,
	    r, &wt, &fl)) {
	case CM_HIT:
	case CM_STALE:
		city_told(r, city_listed(v.part[0], v.len[0], city));
		return;
	case CM_WAIT:
		http_req_defer(r, city_wait_cancel, wt);
		return;
	case CM_BUILD:
		api_query(r, STMT_CITIES, 0, NULL, city_list_built, 0, NULL, fl,
		    city_build_fail);
		return;
	case CM_OFF:
		city_query(r);
		return;
	}
}

void
api_offers_stream(struct http_req *r)
{
	struct worker *w = http_req_worker(r);
	char city[65];
	int64_t last;

	if (!stream_admit(r, w, city, &last))
		return;
	if (city[0] != '\0')
		city_check(r, w, city);
	else
		stream_begin(r, w, city, last);
}

static void
drain_one(void *arg)
{
	struct sub *s = arg;
	uint64_t base = s->w->cfg->offers_retry_ms;
	unsigned *seq = &s->w->app_state->seq;

	/* spread the reconnects over [retry, 2 * retry) */
	sub_end(s, base + base * util_jitter_permille(seq) / 1000);
}

void
api_offers_drain(struct worker *w)
{
	if (w->feed == NULL || feed_subscribers(w->feed) == 0)
		return;
	log_info("ending %u offer streams (retry in %llu..%llums)",
	    feed_subscribers(w->feed),
	    (unsigned long long)w->cfg->offers_retry_ms,
	    (unsigned long long)w->cfg->offers_retry_ms * 2);
	feed_each(w->feed, drain_one);
}

void
api_offers_free(struct worker *w)
{
	struct app_state *as = w->app_state;

	frame_unref(as->offer_frame);
	frame_unref(as->heartbeat_frame);
	as->offer_frame = as->heartbeat_frame = NULL;
}
