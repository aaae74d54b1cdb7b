/*
 * feed.c: the live offer feed of feed.h, on one libpq connection driven by
 * the worker's loop (the rules of docs/design.md, "The worker's loop": a
 * non-blocking connect with a deadline, the connector's (pgconn.h), then
 * EV_READ|EV_PERSIST on the current PQsocket() for results and
 * notifications).
 *
 *   connect -> LISTEN offers; LISTEN places_changed; LISTEN places_city
 *           -> SELECT max(id)   (the high-water mark; after a reconnect,
 *              a fetch of what was published meanwhile follows), and
 *              whether the database sends places_city (005_notify_city)
 *   NOTIFY offers         -> fetch: offers with id > high, in id order,
 *                            500 at a time, each handed to the subscribers
 *   NOTIFY places_changed -> cache_del("place:<id>"), the read model
 *   NOTIFY places_city    -> cache_del(CACHE_KEY_CITIES), the read model:
 *                            the cities a place left and entered
 *
 * Offers commit in id order (placesd_publish_offer() in 004_offers.sql), so
 * reading by id after the last one seen loses nothing, even across a lost
 * connection.
 *
 * Nothing waits for an answer without a deadline: a tick every
 * FEED_TICK_MS drops the connection when a query has been in flight for
 * FEED_QUERY_MS (a hung backend, a dead peer), and when the connection
 * has been quiet for FEED_PROBE_MS it sends the high-water query, so a
 * silently dead connection is noticed within FEED_PROBE_MS +
 * FEED_QUERY_MS (+ a tick) and an offer whose notification was lost is
 * still found. A lost connection is retried after 50 ms, doubling to
 * FEED_BACKOFF_MAX_MS (+-20%): once the server accepts connections again
 * the feed is back within about 600 ms, then replays what it missed.
 */
#include "runtime/feed.h"
#include "runtime/backoff.h"
#include "runtime/cache.h"
#include "runtime/citymodel.h"
#include "runtime/offer_sql.h"
#include "runtime/pg.h"
#include "runtime/pgconn.h"
#include "common/config.h"
#include "common/log.h"
#include "common/stats.h"
#include "common/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <libpq-fe.h>

#define FEED_CONNECT_MS     5000    /* connect and authenticate */
#define FEED_QUERY_MS       5000    /* a query's answer, LISTEN included */
#define FEED_PROBE_MS       5000    /* quiet this long: ask something */
#define FEED_TICK_MS        1000
#define FEED_BACKOFF_MIN_MS 50
#define FEED_BACKOFF_MAX_MS 500
#define FEED_PAGE           500
/* subscribers handed an offer per turn of the loop: about a millisecond
 * of sends, then the loop serves its other sockets before the next slice */
#define FEED_SLICE          128

enum feed_state { FS_DOWN, FS_CONNECTING, FS_READY };
enum feed_query { FQ_NONE, FQ_SETUP, FQ_HIGH, FQ_FETCH, FQ_LSN };

struct feed_sub {
	struct feed *f;
	feed_fn fn;
	void *arg;
	TAILQ_ENTRY(feed_sub) link;
};

/* A fetched page of offers on its way to the subscribers. */
struct feed_batch {
	PGresult *res;
	int row;                    /* the offer being handed out */
	STAILQ_ENTRY(feed_batch) link;
};

struct feed {
	struct event_base *base;
	const struct config *cfg;
	struct stats_block *st;
	struct cache *cache;
	struct citymodel *model;    /* told of every change, may be NULL */
	PGconn *conn;
	struct pgconn *pc;          /* connecting */
	struct event *ev;           /* on the current socket */
	struct event *wev;          /* one-shot: flush pending output */
	struct event *retry;        /* reconnect delay */
	struct event *tick;
	struct event *beat;         /* a heartbeat tick is due */
	enum feed_state state;
	enum feed_query query;
	uint64_t query_ms;          /* when the query in flight was sent */
	uint64_t heard_ms;          /* when the server last answered */
	uint64_t lost_ms;           /* when this outage began */
	unsigned page_rows;         /* rows of the fetch in flight */
	bool want_fetch;            /* notified while a query was in flight */
	bool warned;                /* "lost" logged for this outage */
	bool ever_up;
	int64_t high;
	uint64_t delivered;         /* the last delivery's seq */
	uint64_t backoff_ms;
	unsigned nsubs;
	TAILQ_HEAD(, feed_sub) subs;
	/* the fan-out, FEED_SLICE subscribers at a time */
	STAILQ_HEAD(, feed_batch) batches;
	struct event *fanout;       /* a zero timer: after the loop's I/O */
	struct feed_offer cur;      /* the offer being handed out */
	bool fanning;               /* cursor walks the subs with cur */
	bool beating;               /* ... with a heartbeat tick, not cur */
	bool beat_due;              /* a tick waits for its pass */
	struct feed_sub *cursor;    /* the next subscriber to hand cur to */
	/* the primary's WAL insert position after the changes heard of, for
	 * reads on replicas (feed_change_lsn); only with read_conninfo */
	bool track_lsn;
	uint64_t changes;           /* notifications and connects seen */
	uint64_t lsn_for;           /* changes when the LSN query went out */
	uint64_t lsn_seen;          /* changes the LSN answers for */
	uint64_t change_lsn;
};

static const char feed_sql_fetch[] =
    "SELECT o.id, p.city_id, " OFFER_SQL_JSON "::text, o.place_id "
    "FROM offers o JOIN places p ON p.id = o.place_id "
    "WHERE o.id > $1::bigint ORDER BY o.id LIMIT 500";

static void feed_connect(struct feed *f);
static void feed_lost(struct feed *f, const char *why);

/* ---- sending ---------------------------------------------------------------- */

static void
on_writable(evutil_socket_t fd, short ev, void *arg)
{
	struct feed *f = arg;
	int r;

	(void)fd;
	(void)ev;
	if (f->conn == NULL)
		return;
	if ((r = PQflush(f->conn)) == 1)
		event_add(f->wev, NULL);
	else if (r == -1)
		feed_lost(f, PQerrorMessage(f->conn));
}

static void
flush_out(struct feed *f)
{
	int r = PQflush(f->conn);

	if (r == 1)
		event_add(f->wev, NULL);
	else if (r == -1)
		feed_lost(f, PQerrorMessage(f->conn));
}

static void
send_fetch(struct feed *f)
{
	char high[32];
	const char *params[1] = { high };

	snprintf(high, sizeof(high), "%" PRId64, f->high);
	f->want_fetch = false;
	f->page_rows = 0;
	if (!PQsendQueryParams(f->conn, feed_sql_fetch, 1, NULL, params, NULL,
	    NULL, 0)) {
		feed_lost(f, PQerrorMessage(f->conn));
		return;
	}
	f->query = FQ_FETCH;
	f->query_ms = util_now_ms();
	flush_out(f);
}

/* Where the primary's WAL is now: every change notified so far is
 * below it (the insert position: with synchronous_commit off the write
 * position may not yet hold a commit whose NOTIFY came). */
static void
send_lsn(struct feed *f)
{
	if (!PQsendQuery(f->conn, "SELECT pg_current_wal_insert_lsn()::text")) {
		feed_lost(f, PQerrorMessage(f->conn));
		return;
	}
	f->lsn_for = f->changes;
	f->query = FQ_LSN;
	f->query_ms = util_now_ms();
	flush_out(f);
}

/* With no query in flight: new offers first, then the WAL position. */
static void
send_next(struct feed *f)
{
	if (f->want_fetch)
		send_fetch(f);
	else if (f->lsn_seen != f->changes)
		send_lsn(f);
}

static void
send_high(struct feed *f)
{
	if (!PQsendQuery(f->conn, "SELECT coalesce(max(id), 0), "
	    "to_regprocedure('placesd_notify_place_city()') IS NOT NULL "
	    "FROM offers")) {
		feed_lost(f, PQerrorMessage(f->conn));
		return;
	}
	f->query = FQ_HIGH;
	f->query_ms = util_now_ms();
	flush_out(f);
}

/* ---- results ---------------------------------------------------------------- */

/*
 * The fan-out: one offer after the other, in id order, each to every
 * subscriber, FEED_SLICE subscribers per turn. Between slices a zero timer
 * lets the loop's other sockets (a health check, a request) be served, so
 * that an offer to 50,000 subscribers, or a storm of offers, never holds
 * the loop for more than a slice. A subscriber that comes during the
 * fan-out of an offer gets it too (it skips ids it has); one that leaves
 * moves the cursor on (feed_unsubscribe). A heartbeat tick is a pass of
 * its own, taken before the next offer, so that a storm of offers does
 * not starve the subscribers its offers skip (another city's).
 */
/* The page at the head of the queue is handed out (or dropped). */
static void
batch_done(struct feed *f)
{
	struct feed_batch *b = STAILQ_FIRST(&f->batches);

	STAILQ_REMOVE_HEAD(&f->batches, link);
	PQclear(b->res);
	free(b);
}

static bool
fan_next_beat(struct feed *f)
{
	if (!f->beat_due)
		return false;
	f->beat_due = false;
	f->cursor = TAILQ_FIRST(&f->subs);
	f->beating = f->fanning = true;
	return true;
}

static bool
fan_next_offer(struct feed *f)
{
	struct feed_batch *b;

	while ((b = STAILQ_FIRST(&f->batches)) != NULL) {
		if (b->row < PQntuples(b->res)) {
			f->cur.id = strtoll(PQgetvalue(b->res, b->row, 0), NULL,
			    10);
			f->cur.city = PQgetvalue(b->res, b->row, 1);
			f->cur.json = PQgetvalue(b->res, b->row, 2);
			f->cur.len = (size_t)PQgetlength(b->res, b->row, 2);
			f->cur.seq = ++f->delivered;
			f->cursor = TAILQ_FIRST(&f->subs);
			f->fanning = true;
			return true;
		}
		batch_done(f);
	}
	return false;
}

static void
fan_out(evutil_socket_t fd, short ev, void *arg)
{
	struct feed *f = arg;
	struct timeval zero = { 0, 0 };
	struct feed_sub *s;
	unsigned budget = FEED_SLICE;

	(void)fd;
	(void)ev;
	while (f->fanning || fan_next_beat(f) || fan_next_offer(f)) {
		while ((s = f->cursor) != NULL) {
			if (budget-- == 0) {
				evtimer_add(f->fanout, &zero);
				return;
			}
			f->cursor = TAILQ_NEXT(s, link);
			s->fn(s->arg, f->beating ? NULL : &f->cur);
		}
		f->fanning = false;
		if (f->beating)
			f->beating = false;
		else
			STAILQ_FIRST(&f->batches)->row++;
	}
}

/* Drops what the fan-out has not handed out yet. */
static void
fan_drop(struct feed *f)
{
	while (!STAILQ_EMPTY(&f->batches))
		batch_done(f);
	f->fanning = f->beating = f->beat_due = false;
	f->cursor = NULL;
	if (f->fanout != NULL)
		evtimer_del(f->fanout);
}

/*
 * A fetched page: the high-water mark and the read model learn of its
 * offers at once; the subscribers get them from the fan-out. Takes res
 * (true). Without memory to queue it, nothing of it counts as seen: the
 * next fetch reads it again.
 */
static bool
deliver_page(struct feed *f, PGresult *res)
{
	struct timeval zero = { 0, 0 };
	struct feed_batch *b;
	int i, n = PQntuples(res);

	if (n == 0)
		return false;
	if ((b = calloc(1, sizeof(*b))) == NULL) {
		log_warn("calloc() for a page of offers; reading it again");
		f->want_fetch = true;
		return false;
	}
	for (i = 0; i < n; i++) {
		int64_t id = strtoll(PQgetvalue(res, i, 0), NULL, 10);

		if (id > f->high)
			f->high = id;
		cm_offer_added(f->model, PQgetvalue(res, i, 1),
		    strtoll(PQgetvalue(res, i, 3), NULL, 10));
	}
	b->res = res;
	STAILQ_INSERT_TAIL(&f->batches, b, link);
	evtimer_add(f->fanout, &zero);
	return true;
}

/*
 * The newest offer id is below the last one handed out: the database was
 * restored (or its newest offers deleted). Reading "after the last one
 * seen" would wait until the ids pass the old mark, and subscribers skip
 * ids they believe they have seen: follow the database, and tell them.
 */
static void
rewound(struct feed *f, int64_t max)
{
	struct feed_sub *s, *next;
	struct feed_offer o = { FEED_REWOUND, "", "", 0, ++f->delivered };

	log_warnx("offer ids went back from %" PRId64 " to %" PRId64
	    " (a database restored from a backup?): reading on from %" PRId64
	    " and telling %u offer streams", f->high, max, max, f->nsubs);
	f->high = max;
	fan_drop(f);
	if (f->cache != NULL)
		cache_clear(f->cache);
	cm_drop_all(f->model, CMC_FEED_LOST);
	for (s = TAILQ_FIRST(&f->subs); s != NULL; s = next) {
		next = TAILQ_NEXT(s, link);
		s->fn(s->arg, &o);
	}
}

/* A result of the query in flight; true if it was kept (not to clear). */
static bool
take_result(struct feed *f, PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);
	int n;

	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		log_warnx("offer feed query failed: %s",
		    PQresultErrorMessage(res));
		if (f->query == FQ_LSN) {
			/* no position: no replica is ever fresh enough */
			f->change_lsn = PG_LSN_ALL;
			f->lsn_seen = f->lsn_for;
		}
		return false;
	}
	if (st != PGRES_TUPLES_OK)
		return false;
	n = PQntuples(res);
	if (f->query == FQ_HIGH && n == 1) {
		int64_t max = strtoll(PQgetvalue(res, 0, 0), NULL, 10);

		cm_set_precise(f->model, PQnfields(res) > 1 &&
		    strcmp(PQgetvalue(res, 0, 1), "t") == 0);

		if (f->high < 0)
			f->high = max;
		else if (max > f->high)
			f->want_fetch = true;   /* a notification went missing */
		else if (max < f->high)
			rewound(f, max);
		return false;
	}
	if (f->query == FQ_FETCH) {
		f->page_rows += (unsigned)n;
		return deliver_page(f, res);
	}
	if (f->query == FQ_LSN && n == 1) {
		uint64_t lsn = pg_lsn_parse(PQgetvalue(res, 0, 0));

		if (lsn > f->change_lsn)
			f->change_lsn = lsn;
		f->lsn_seen = f->lsn_for;
	}
	return false;
}

/* The query in flight is complete: what comes next. */
static void
query_done(struct feed *f)
{
	enum feed_query q = f->query;

	f->query = FQ_NONE;
	if (q == FQ_SETUP) {
		/* then, after a reconnect, what came while we were away (or
		 * that the ids went back) */
		send_high(f);
		return;
	}
	if (q == FQ_FETCH && f->page_rows >= FEED_PAGE)
		send_fetch(f);
	else
		send_next(f);
}

static void
take_notifications(struct feed *f)
{
	PGnotify *n;
	char key[48];

	while ((n = PQnotifies(f->conn)) != NULL) {
		f->changes += f->track_lsn;
		if (strcmp(n->relname, "offers") == 0) {
			f->want_fetch = true;
		} else if (strcmp(n->relname, "places_changed") == 0 &&
		    f->cache != NULL) {
			snprintf(key, sizeof(key), "place:%.*s",
			    (int)strcspn(n->extra, " ") > 32 ? 32 :
			    (int)strcspn(n->extra, " "), n->extra);
			cache_del(f->cache, key);
			cm_place_changed(f->model, n->extra);
		} else if (strcmp(n->relname, "places_city") == 0 &&
		    f->cache != NULL) {
			cache_del(f->cache, CACHE_KEY_CITIES);
			cm_place_city(f->model, n->extra);
		}
		PQfreemem(n);
	}
}

static void
on_readable(evutil_socket_t fd, short ev, void *arg)
{
	struct feed *f = arg;
	PGresult *res;

	(void)fd;
	(void)ev;
	if (!PQconsumeInput(f->conn)) {
		feed_lost(f, PQerrorMessage(f->conn));
		return;
	}
	f->heard_ms = util_now_ms();
	while (f->query != FQ_NONE && !PQisBusy(f->conn)) {
		if ((res = PQgetResult(f->conn)) == NULL) {
			take_notifications(f);
			query_done(f);
			if (f->conn == NULL)
				return;
			continue;
		}
		if (!take_result(f, res))
			PQclear(res);
	}
	if (f->conn == NULL)
		return;
	if (PQstatus(f->conn) == CONNECTION_BAD) {
		/* libpq may have closed the socket: no event would come */
		feed_lost(f, PQerrorMessage(f->conn));
		return;
	}
	take_notifications(f);
	if (f->query == FQ_NONE)
		send_next(f);
}

/* ---- connection ------------------------------------------------------------- */

static void
arm(struct feed *f, short what, event_callback_fn cb)
{
	if (f->ev != NULL) {
		event_free(f->ev);      /* before libpq reuses the fd number */
		f->ev = NULL;
	}
	if (f->wev != NULL) {
		event_free(f->wev);
		f->wev = NULL;
	}
	if (PQsocket(f->conn) < 0)
		return;
	f->ev = event_new(f->base, PQsocket(f->conn), what, cb, f);
	if (f->ev != NULL)
		event_add(f->ev, NULL);
}

/* 50 ms doubling to FEED_BACKOFF_MAX_MS, +-20% so that the workers do
 * not all knock at once */
static void
backoff(struct feed *f)
{
	struct timeval tv;

	f->backoff_ms = backoff_next(f->backoff_ms, FEED_BACKOFF_MIN_MS,
	    FEED_BACKOFF_MAX_MS);
	tv = util_tv(backoff_jitter(f->backoff_ms, 20,
	    (unsigned long)random()));
	evtimer_add(f->retry, &tv);
}

static void
feed_lost(struct feed *f, const char *why)
{
	char msg[200];

	/* libpq's messages span lines: one log line per event */
	pgconn_oneline(msg, sizeof(msg), why);
	if (!f->warned) {
		log_warnx("offer feed: database connection lost or refused "
		    "(%s); reconnecting, subscribers wait", msg);
		f->lost_ms = util_now_ms();
		cm_feed_lost(f->model);     /* changes go unheard */
	}
	f->warned = true;
	if (f->ev != NULL)
		event_free(f->ev);
	if (f->wev != NULL)
		event_free(f->wev);
	f->ev = f->wev = NULL;
	pgconn_cancel(f->pc);
	f->pc = NULL;
	PQfinish(f->conn);
	f->conn = NULL;
	f->state = FS_DOWN;
	f->query = FQ_NONE;
	stats_gauge_set(&f->st->feed_up, 0);
	evtimer_del(f->retry);
	backoff(f);
}

/* Notices to the log, not to stderr (a FATAL at a restart is one). */
static void
on_notice(void *arg, const PGresult *res)
{
	(void)arg;
	log_debug("offer feed: database notice: %s",
	    PQresultErrorMessage(res));
}

/* The connector's answer: LISTEN on a ready connection. */
static void
on_connected(void *arg, PGconn *conn, enum pgconn_status st, const char *why)
{
	struct feed *f = arg;

	f->pc = NULL;
	if (st != PGCONN_OK) {
		feed_lost(f, why);
		return;
	}
	f->conn = conn;
	arm(f, EV_READ | EV_PERSIST, on_readable);
	f->wev = event_new(f->base, PQsocket(f->conn), EV_WRITE, on_writable,
	    f);
	f->state = FS_READY;
	f->backoff_ms = 0;
	stats_gauge_set(&f->st->feed_up, 1);
	if (f->warned || f->ever_up) {
		log_info("offer feed connected again after %" PRIu64 " ms: "
		    "catching up after offer %" PRId64 ", cache cleared",
		    f->warned ? util_now_ms() - f->lost_ms : 0, f->high);
		if (f->cache != NULL)
			cache_clear(f->cache);  /* place notifications were lost */
		cm_drop_all(f->model, CMC_FEED_LOST);
	}
	f->warned = false;
	f->ever_up = true;
	f->changes += f->track_lsn; /* whatever changed while away */
	if (f->ev == NULL || f->wev == NULL ||
	    !PQsendQuery(f->conn, "LISTEN offers; LISTEN places_changed; "
	    "LISTEN places_city")) {
		feed_lost(f, "cannot send LISTEN");
		return;
	}
	f->query = FQ_SETUP;
	f->query_ms = f->heard_ms = util_now_ms();
	flush_out(f);
}

static void
on_retry(evutil_socket_t fd, short ev, void *arg)
{
	struct feed *f = arg;

	(void)fd;
	(void)ev;
	if (f->state == FS_DOWN)
		feed_connect(f);
}

static void
feed_connect(struct feed *f)
{
	const struct pgconn_opts o = {
		.conninfo = f->cfg->db_conninfo,
		.app_name = "placesd offer feed",
		.deadline_ms = FEED_CONNECT_MS,
		.notice = on_notice,
		.notice_arg = f,
		.nonblocking = true,
	};

	f->state = FS_CONNECTING;
	if ((f->pc = pgconn_start(f->base, &o, on_connected, f)) == NULL)
		feed_lost(f, "out of memory");
}

/*
 * Every FEED_TICK_MS: a query unanswered for FEED_QUERY_MS means a hung
 * server or a dead connection; a connection quiet for FEED_PROBE_MS is
 * asked the high-water mark (a lost notification is found then).
 */
static void
on_tick(evutil_socket_t fd, short ev, void *arg)
{
	struct feed *f = arg;
	uint64_t now = util_now_ms();
	char why[64];

	(void)fd;
	(void)ev;
	if (f->state != FS_READY)
		return;
	if (f->query != FQ_NONE) {
		if (now - f->query_ms > FEED_QUERY_MS) {
			snprintf(why, sizeof(why), "no answer to a query "
			    "within %d ms", FEED_QUERY_MS);
			feed_lost(f, why);
		}
		return;
	}
	if (f->want_fetch || f->lsn_seen != f->changes)
		send_next(f);
	else if (now - f->heard_ms >= FEED_PROBE_MS)
		send_high(f);
}

/* A heartbeat tick: a pass over the subscribers in the fan-out's slices;
 * each counts the ticks it has been quiet for (feed.h). */
static void
on_beat(evutil_socket_t fd, short ev, void *arg)
{
	struct feed *f = arg;
	struct timeval zero = { 0, 0 };

	(void)fd;
	(void)ev;
	if (f->nsubs == 0 || f->beat_due || f->beating)
		return;             /* a pass that has not ended is enough */
	f->beat_due = true;
	evtimer_add(f->fanout, &zero);
}

/* ---- the interface ---------------------------------------------------------- */

struct feed *
feed_new(struct event_base *base, const struct config *cfg,
    struct stats_block *st, struct cache *cache)
{
	struct timeval tv = { FEED_TICK_MS / 1000, 0 };
	struct timeval hb = util_tv(cfg->offers_heartbeat_ms /
	    FEED_BEAT_TICKS);
	struct feed *f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	f->base = base;
	f->cfg = cfg;
	f->st = st;
	f->cache = cache;
	f->high = -1;
	f->track_lsn = cfg->db_read_conninfo[0] != '\0';
	TAILQ_INIT(&f->subs);
	STAILQ_INIT(&f->batches);
	f->retry = evtimer_new(base, on_retry, f);
	f->tick = event_new(base, -1, EV_PERSIST, on_tick, f);
	f->beat = event_new(base, -1, EV_PERSIST, on_beat, f);
	f->fanout = evtimer_new(base, fan_out, f);
	if (f->retry == NULL || f->tick == NULL || f->beat == NULL ||
	    f->fanout == NULL ||
	    event_add(f->tick, &tv) == -1 || event_add(f->beat, &hb) == -1) {
		feed_free(f);
		return NULL;
	}
	feed_connect(f);
	return f;
}

void
feed_free(struct feed *f)
{
	if (f == NULL)
		return;
	fan_drop(f);
	while (!TAILQ_EMPTY(&f->subs))
		feed_unsubscribe(TAILQ_FIRST(&f->subs));
	if (f->fanout != NULL)
		event_free(f->fanout);
	if (f->ev != NULL)
		event_free(f->ev);
	if (f->wev != NULL)
		event_free(f->wev);
	if (f->retry != NULL)
		event_free(f->retry);
	if (f->tick != NULL)
		event_free(f->tick);
	if (f->beat != NULL)
		event_free(f->beat);
	pgconn_cancel(f->pc);
	PQfinish(f->conn);
	stats_gauge_set(&f->st->feed_up, 0);
	free(f);
}

int64_t
feed_high(const struct feed *f)
{
	return f->high;
}

void
feed_set_model(struct feed *f, struct citymodel *m)
{
	f->model = m;
}

/* LISTENing, and no notified offer left to read: the model holds */
bool
feed_quiet(const struct feed *f)
{
	return f->state == FS_READY && f->high >= 0 && f->query != FQ_SETUP &&
	    f->query != FQ_FETCH && !f->want_fetch;
}

bool
feed_change_lsn(const struct feed *f, uint64_t *lsn)
{
	if (!feed_quiet(f) || f->lsn_seen != f->changes)
		return false;
	*lsn = f->change_lsn;
	return true;
}

bool
feed_up(const struct feed *f)
{
	return f->state == FS_READY && f->high >= 0;
}

unsigned
feed_subscribers(const struct feed *f)
{
	return f->nsubs;
}

struct feed_sub *
feed_subscribe(struct feed *f, feed_fn fn, void *arg)
{
	struct feed_sub *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->f = f;
	s->fn = fn;
	s->arg = arg;
	TAILQ_INSERT_TAIL(&f->subs, s, link);
	f->nsubs++;
	stats_gauge_add(&f->st->sse_subscribers, 1);
	return s;
}

void
feed_unsubscribe(struct feed_sub *s)
{
	if (s == NULL)
		return;
	if (s->f->cursor == s)
		s->f->cursor = TAILQ_NEXT(s, link);
	TAILQ_REMOVE(&s->f->subs, s, link);
	s->f->nsubs--;
	stats_gauge_add(&s->f->st->sse_subscribers, -1);
	free(s);
}

void
feed_each(struct feed *f, void (*fn)(void *arg))
{
	struct feed_sub *s, *next;

	for (s = TAILQ_FIRST(&f->subs); s != NULL; s = next) {
		next = TAILQ_NEXT(s, link);
		fn(s->arg);
	}
}
