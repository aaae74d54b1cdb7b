/*
 * offer_feed.c: the node's LISTEN connection of offer_feed.h, on one
 * libpq connection driven by the ranker's loop (the rules of
 * docs/design.md, "The worker's loop", hold here too: a non-blocking
 * connect with a deadline, the connector's (runtime/pgconn.h), then
 * EV_READ|EV_PERSIST on the current PQsocket() for results and
 * notifications).
 *
 *   connect -> LISTEN offers; LISTEN places_changed; LISTEN places_city
 *           -> SELECT max(id)   (the high-water mark; after a reconnect,
 *              a fetch of what was published meanwhile follows), and
 *              whether the database sends places_city (005_notify_city)
 *   NOTIFY offers         -> fetch: offers with id > high, in id order,
 *                            500 at a time, relayed to every worker
 *   NOTIFY places_changed -> FEED_NOTE 'p' to every worker
 *   NOTIFY places_city    -> FEED_NOTE 'c' to every worker
 *   a worker catching up  -> a fetch of offers after its own mark, for it
 *                            alone, until it reaches the high-water mark
 *
 * Offers commit in id order (placesd_publish_offer() in 004_offers.sql), so
 * reading by id after the last one seen loses nothing, even across a lost
 * connection, and a worker's catch-up and the live fetches, both on this
 * one connection, meet without a gap: a worker gets a live offer only
 * once its mark is below it and it is no longer catching up.
 *
 * Nothing waits for an answer without a deadline: a tick every
 * FEED_TICK_MS drops the connection when a query has been in flight for
 * FEED_QUERY_MS (a hung backend, a dead peer), and when the connection
 * has been quiet for FEED_PROBE_MS it sends the high-water query, so a
 * silently dead connection is noticed within FEED_PROBE_MS +
 * FEED_QUERY_MS (+ a tick) and an offer whose notification was lost is
 * still found. A lost connection is retried after 50 ms, doubling to
 * FEED_BACKOFF_MAX_MS (+-20%): once the server accepts connections again
 * the feed is back within about 600 ms, then reads what it missed.
 */
#include "ranker/offer_feed.h"
#include "runtime/backoff.h"
#include "runtime/offer_sql.h"
#include "runtime/pg.h"
#include "runtime/pgconn.h"
#include "common/config.h"
#include "common/feed_wire.h"
#include "common/log.h"
#include "common/stats.h"
#include "common/util.h"
#include "common/wire.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <libpq-fe.h>

#define FEED_CONNECT_MS     5000    /* connect and authenticate */
#define FEED_QUERY_MS       5000    /* a query's answer, LISTEN included */
#define FEED_PROBE_MS       5000    /* quiet this long: ask something */
#define FEED_TICK_MS        1000
#define FEED_BACKOFF_MIN_MS 50
#define FEED_BACKOFF_MAX_MS 500
#define FEED_PAGE           500
#define FEED_CATCH_HOLD_MS  1000    /* after a failed catch-up read */
#define FEED_FRAME_SOFT     (256u * 1024)   /* offers per frame, in bytes */
/* unsent bytes a worker may have waiting: 4 x [offers] max_pending, at
 * least this (many pages of offers: a busy worker is not cut off) */
#define FEED_RELAY_MIN      (8u * 1024 * 1024)

enum of_state { OS_DOWN, OS_CONNECTING, OS_READY };
enum of_query { OQ_NONE, OQ_SETUP, OQ_HIGH, OQ_FETCH, OQ_CATCHUP, OQ_LSN };

struct feed_client {
	struct offer_feed *of;
	struct bufferevent *bev;
	int64_t mark;               /* the last offer id it has; -1 until the
	                               feed's high-water mark is known */
	bool catching;              /* its gap is read for it alone */
	bool overflowed;
	bool told;                  /* a state was sent */
	struct feed_wire_state said;    /* the last state sent */
	offer_feed_overflow_fn overflow;
	void *arg;
	TAILQ_ENTRY(feed_client) link;
};

struct offer_feed {
	struct event_base *base;
	const struct config *cfg;
	struct stats_block *st;
	offer_feed_settled_fn settled;
	void *settled_arg;
	PGconn *conn;
	struct pgconn *pc;          /* connecting */
	struct event *ev;           /* on the current socket */
	struct event *wev;          /* one-shot: flush pending output */
	struct event *retry;        /* reconnect delay */
	struct event *tick;
	enum of_state state;
	enum of_query query;
	struct feed_client *catch_for;  /* the catch-up in flight's worker */
	uint64_t query_ms;          /* when the query in flight was sent */
	uint64_t heard_ms;          /* when the server last answered */
	uint64_t lost_ms;           /* when this outage began */
	uint64_t catch_hold_until;  /* no catch-up read before (ms) */
	unsigned page_rows;         /* rows of the fetch in flight */
	bool want_fetch;            /* notified while a query was in flight */
	bool want_high;             /* a worker came with a mark past ours */
	bool warned;                /* "lost" logged for this outage */
	bool ever_up;
	bool told_settled;
	bool precise;               /* the database sends places_city */
	int64_t high;
	uint64_t backoff_ms;
	TAILQ_HEAD(, feed_client) clients;
	unsigned nclients;
	/* the primary's WAL insert position after the changes heard of, for
	 * reads on replicas; only with read_conninfo */
	bool track_lsn;
	uint64_t changes;           /* notifications and connects seen */
	uint64_t lsn_for;           /* changes when the LSN query went out */
	uint64_t lsn_seen;          /* changes the LSN answers for */
	uint64_t change_lsn;
};

static const char of_sql_fetch[] =
    "SELECT o.id, p.city_id, " OFFER_SQL_JSON "::text, o.place_id "
    "FROM offers o JOIN places p ON p.id = o.place_id "
    "WHERE o.id > $1::bigint ORDER BY o.id LIMIT 500";

static void of_connect(struct offer_feed *of);
static void of_lost(struct offer_feed *of, const char *why);

/* ---- to the workers ----------------------------------------------------------- */

static size_t
relay_max(const struct config *cfg)
{
	uint64_t n = 4 * cfg->offers_max_pending;

	return n < FEED_RELAY_MIN ? FEED_RELAY_MIN : (size_t)n;
}

static void
client_send(struct feed_client *c, unsigned type, const void *p, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	uint8_t hdr[WIRE_HDR_LEN];

	if (c->overflowed)
		return;
	wire_encode(hdr, type, 0, (uint32_t)len);
	bufferevent_write(c->bev, hdr, sizeof(hdr));
	if (len > 0)
		bufferevent_write(c->bev, p, len);
	if (evbuffer_get_length(out) > relay_max(c->of->cfg)) {
		c->overflowed = true;
		log_warnx("worker connection: %zu bytes of the offer feed "
		    "unsent (over 4 x [offers] max_pending), closing it; the "
		    "worker reconnects and catches up after offer %" PRId64,
		    evbuffer_get_length(out), c->mark);
		stats_add(&c->of->st->feed_relay_overflows, 1);
	}
}

/* Closes the connections cut off above (their callbacks detach them). */
static void
reap_overflowed(struct offer_feed *of)
{
	struct feed_client *c, *next;

	for (c = TAILQ_FIRST(&of->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c->overflowed)
			c->overflow(c->arg);
	}
}

static void
client_state(const struct feed_client *c, struct feed_wire_state *s)
{
	const struct offer_feed *of = c->of;

	s->up = offer_feed_up(of);
	s->quiet = s->up && of->query != OQ_SETUP && of->query != OQ_FETCH &&
	    !of->want_fetch && !c->catching && c->mark >= 0;
	s->precise = of->precise;
	s->high = of->high;
}

static void
tell_state(struct feed_client *c)
{
	struct feed_wire_state s;
	char buf[80];
	int n;

	client_state(c, &s);
	if (c->told && s.up == c->said.up && s.quiet == c->said.quiet &&
	    s.precise == c->said.precise && (s.high == c->said.high ||
	    c->said.high >= 0))
		return;             /* a new high travels with its offers */
	if ((n = feed_wire_state_format(buf, sizeof(buf), &s)) < 0)
		return;
	c->said = s;
	c->told = true;
	client_send(c, WIRE_FEED_STATE, buf, (size_t)n);
}

static void
tell_states(struct offer_feed *of)
{
	struct feed_client *c;

	TAILQ_FOREACH(c, &of->clients, link)
		tell_state(c);
	reap_overflowed(of);
}

/* A payload of one decimal integer (FEED_LSN, FEED_REWOUND). */
static void
send_int(struct feed_client *c, unsigned type, uint64_t v)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%" PRIu64, v);

	client_send(c, type, buf, (size_t)n);
}

static void
tell_lsn(struct offer_feed *of, struct feed_client *only)
{
	struct feed_client *c;

	if (!of->track_lsn || of->lsn_seen != of->changes ||
	    of->change_lsn == 0)
		return;
	TAILQ_FOREACH(c, &of->clients, link)
		if (only == NULL || c == only)
			send_int(c, WIRE_FEED_LSN, of->change_lsn);
}

static void
tell_note(struct offer_feed *of, char kind, const char *extra)
{
	struct feed_client *c;
	size_t n = strlen(extra);
	char *p;

	if ((p = malloc(n + 1)) == NULL) {
		log_warn("malloc() for a place notification; the workers' "
		    "caches may keep that place until their next reconnect");
		return;
	}
	p[0] = kind;
	memcpy(p + 1, extra, n);
	TAILQ_FOREACH(c, &of->clients, link)
		client_send(c, WIRE_FEED_NOTE, p, n + 1);
	free(p);
}

/*
 * Relays rows [from, n) of a fetched page (id, city, JSON, place) to c,
 * or to every worker not catching up when c is NULL: to each only the
 * offers past its mark, FEED_FRAME_SOFT bytes to a frame. The JSON goes
 * out compact, as the API's answers have it (the stream sends it as is).
 */
static void
relay_rows(struct offer_feed *of, PGresult *res, struct feed_client *only)
{
	struct feed_client *c;
	struct feed_wire_offer o;
	char *buf;
	size_t cap = 0, len = 0, need;
	int i, n = PQntuples(res);

	pg_compact_json(res, PG_JSON_COL(2));
	if ((buf = malloc(FEED_FRAME_SOFT + 1)) == NULL) {
		log_warn("malloc() for a frame of offers");
		return;
	}
	cap = FEED_FRAME_SOFT + 1;
	TAILQ_FOREACH(c, &of->clients, link) {
		if (only != NULL ? c != only : c->catching || c->mark < 0)
			continue;
		len = 0;
		for (i = 0; i < n; i++) {
			o.id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
			if (o.id <= c->mark)
				continue;
			o.city = PQgetvalue(res, i, 1);
			o.city_len = (size_t)PQgetlength(res, i, 1);
			o.json = PQgetvalue(res, i, 2);
			o.json_len = (size_t)PQgetlength(res, i, 2);
			o.place_id = strtoll(PQgetvalue(res, i, 3), NULL, 10);
			need = feed_wire_offer_size(&o);
			if (need == 0 || need > WIRE_MAX_PAYLOAD) {
				log_warnx("offer %" PRId64 " is %zu bytes, over "
				    "a frame: not relayed (streams replay it "
				    "from the database)", o.id, need);
				continue;
			}
			if (len > 0 && len + need > FEED_FRAME_SOFT) {
				client_send(c, WIRE_FEED_OFFERS, buf, len);
				len = 0;
			}
			if (need > cap) {
				char *nb = realloc(buf, need);

				if (nb == NULL) {
					log_warn("realloc() for an offer");
					break;
				}
				buf = nb;
				cap = need;
			}
			feed_wire_offer_put(buf + len, &o);
			len += need;
			c->mark = o.id;
		}
		if (len > 0)
			client_send(c, WIRE_FEED_OFFERS, buf, len);
	}
	free(buf);
}

/* ---- sending queries -------------------------------------------------------- */

static void
on_writable(evutil_socket_t fd, short ev, void *arg)
{
	struct offer_feed *of = arg;
	int r;

	(void)fd;
	(void)ev;
	if (of->conn == NULL)
		return;
	if ((r = PQflush(of->conn)) == 1)
		event_add(of->wev, NULL);
	else if (r == -1)
		of_lost(of, PQerrorMessage(of->conn));
}

static void
flush_out(struct offer_feed *of)
{
	int r = PQflush(of->conn);

	if (r == 1)
		event_add(of->wev, NULL);
	else if (r == -1)
		of_lost(of, PQerrorMessage(of->conn));
}

static void
send_query(struct offer_feed *of, enum of_query q, const char *sql,
    int64_t after)
{
	char mark[32];
	const char *params[1] = { mark };
	int ok;

	snprintf(mark, sizeof(mark), "%" PRId64, after);
	ok = after >= 0 ? PQsendQueryParams(of->conn, sql, 1, NULL, params,
	    NULL, NULL, 0) : PQsendQuery(of->conn, sql);
	if (!ok) {
		of_lost(of, PQerrorMessage(of->conn));
		return;
	}
	of->query = q;
	of->query_ms = util_now_ms();
	flush_out(of);
}

static void
send_fetch(struct offer_feed *of)
{
	of->want_fetch = false;
	of->page_rows = 0;
	send_query(of, OQ_FETCH, of_sql_fetch, of->high);
}

/* A worker's gap: the offers after its mark, read for it alone. */
static void
send_catchup(struct offer_feed *of, struct feed_client *c)
{
	of->catch_for = c;
	of->page_rows = 0;
	stats_add(&of->st->feed_catchup_reads, 1);
	send_query(of, OQ_CATCHUP, of_sql_fetch, c->mark);
}

/* Where the primary's WAL is now: every change notified so far is
 * below it (the insert position: with synchronous_commit off the write
 * position may not yet hold a commit whose NOTIFY came). */
static void
send_lsn(struct offer_feed *of)
{
	of->lsn_for = of->changes;
	send_query(of, OQ_LSN, "SELECT pg_current_wal_insert_lsn()::text", -1);
}

static void
send_high(struct offer_feed *of)
{
	of->want_high = false;
	send_query(of, OQ_HIGH, "SELECT coalesce(max(id), 0), "
	    "to_regprocedure('placesd_notify_place_city()') IS NOT NULL "
	    "FROM offers", -1);
}

static struct feed_client *
next_catching(struct offer_feed *of)
{
	struct feed_client *c;

	if (util_now_ms() < of->catch_hold_until || of->high < 0)
		return NULL;
	TAILQ_FOREACH(c, &of->clients, link)
		if (c->catching)
			return c;
	return NULL;
}

/* With no query in flight: new offers first, then the workers' gaps,
 * then the WAL position. */
static void
send_next(struct offer_feed *of)
{
	struct feed_client *c;

	if (of->want_fetch)
		send_fetch(of);
	else if (of->want_high)
		send_high(of);
	else if ((c = next_catching(of)) != NULL)
		send_catchup(of, c);
	else if (of->lsn_seen != of->changes)
		send_lsn(of);
}

/* ---- results ---------------------------------------------------------------- */

/* A worker ahead of the database (a restore): it follows the database. */
static void
client_rewound(struct feed_client *c, int64_t max)
{
	send_int(c, WIRE_FEED_REWOUND, (uint64_t)max);
	c->mark = max;
	c->catching = false;
}

/*
 * The newest offer id is below the last one read: the database was
 * restored (or its newest offers deleted). Reading "after the last one
 * seen" would wait until the ids pass the old mark: follow the database,
 * and tell the workers.
 */
static void
rewound(struct offer_feed *of, int64_t max)
{
	struct feed_client *c;

	log_warnx("offer ids went back from %" PRId64 " to %" PRId64
	    " (a database restored from a backup?): reading on from %" PRId64
	    " and telling %u workers", of->high, max, max, of->nclients);
	of->high = max;
	TAILQ_FOREACH(c, &of->clients, link)
		client_rewound(c, max);
}

static void
take_high(struct offer_feed *of, PGresult *res)
{
	int64_t max = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	struct feed_client *c;

	of->precise = PQnfields(res) > 1 &&
	    strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	if (of->high < 0) {
		of->high = max;
		log_info("offer feed up: LISTENing on the primary, offers "
		    "after %" PRId64 " relayed to %u workers", max,
		    of->nclients);
	} else if (max > of->high)
		of->want_fetch = true;  /* a notification went missing */
	else if (max < of->high)
		rewound(of, max);
	TAILQ_FOREACH(c, &of->clients, link) {
		if (c->mark < 0)
			c->mark = of->high;     /* it asked before we knew */
		else if (c->mark > max)
			client_rewound(c, max);
	}
	if (!of->told_settled) {
		of->told_settled = true;
		of->settled(of->settled_arg);
	}
}

/* A page read for a worker's gap: relayed; caught up once a short page
 * comes and its mark has reached the live reads'. */
static void
take_catchup(struct offer_feed *of, PGresult *res)
{
	struct feed_client *c = of->catch_for;
	int n = PQntuples(res);

	of->catch_for = NULL;
	if (c == NULL)
		return;                 /* it left meanwhile */
	relay_rows(of, res, c);
	if (n < FEED_PAGE) {
		/* everything committed is in: the live reads, on this same
		 * connection, are at of->high (offers deleted under a gap
		 * leave the mark below it) */
		c->catching = false;
		if (c->mark < of->high)
			c->mark = of->high;
	}
}

static void
take_fetch(struct offer_feed *of, PGresult *res)
{
	int i, n = PQntuples(res);
	int64_t id;

	of->page_rows += (unsigned)n;
	for (i = 0; i < n; i++)
		if ((id = strtoll(PQgetvalue(res, i, 0), NULL, 10)) > of->high)
			of->high = id;
	relay_rows(of, res, NULL);
}

/* A result of the query in flight. */
static void
take_result(struct offer_feed *of, PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);
	uint64_t lsn;

	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		log_warnx("offer feed query failed: %s",
		    PQresultErrorMessage(res));
		if (of->query == OQ_LSN) {
			/* no position: no replica is ever fresh enough */
			of->change_lsn = PG_LSN_ALL;
			of->lsn_seen = of->lsn_for;
		} else if (of->query == OQ_CATCHUP) {
			of->catch_for = NULL;
			of->catch_hold_until = util_now_ms() +
			    FEED_CATCH_HOLD_MS;
		}
		return;
	}
	if (st != PGRES_TUPLES_OK)
		return;
	switch (of->query) {
	case OQ_HIGH:
		if (PQntuples(res) == 1)
			take_high(of, res);
		break;
	case OQ_FETCH:
		take_fetch(of, res);
		break;
	case OQ_CATCHUP:
		take_catchup(of, res);
		break;
	case OQ_LSN:
		if (PQntuples(res) == 1) {
			lsn = pg_lsn_parse(PQgetvalue(res, 0, 0));
			if (lsn > of->change_lsn)
				of->change_lsn = lsn;
			of->lsn_seen = of->lsn_for;
			tell_lsn(of, NULL);
		}
		break;
	default:
		break;
	}
}

/* The query in flight is complete: what comes next. */
static void
query_done(struct offer_feed *of)
{
	enum of_query q = of->query;

	of->query = OQ_NONE;
	if (q == OQ_SETUP) {
		/* then, after a reconnect, what came while we were away (or
		 * that the ids went back) */
		send_high(of);
		return;
	}
	if (q == OQ_FETCH && of->page_rows >= FEED_PAGE)
		send_fetch(of);
	else
		send_next(of);
}

static void
take_notifications(struct offer_feed *of)
{
	PGnotify *n;

	while ((n = PQnotifies(of->conn)) != NULL) {
		of->changes += of->track_lsn;
		if (strcmp(n->relname, "offers") == 0)
			of->want_fetch = true;
		else if (strcmp(n->relname, "places_changed") == 0)
			tell_note(of, 'p', n->extra);
		else if (strcmp(n->relname, "places_city") == 0)
			tell_note(of, 'c', n->extra);
		PQfreemem(n);
	}
}

static void
on_readable(evutil_socket_t fd, short ev, void *arg)
{
	struct offer_feed *of = arg;
	PGresult *res;

	(void)fd;
	(void)ev;
	if (!PQconsumeInput(of->conn)) {
		of_lost(of, PQerrorMessage(of->conn));
		return;
	}
	of->heard_ms = util_now_ms();
	while (of->query != OQ_NONE && !PQisBusy(of->conn)) {
		if ((res = PQgetResult(of->conn)) == NULL) {
			take_notifications(of);
			query_done(of);
			if (of->conn == NULL)
				goto out;
			continue;
		}
		take_result(of, res);
		PQclear(res);
	}
	if (PQstatus(of->conn) == CONNECTION_BAD) {
		/* libpq may have closed the socket: no event would come */
		of_lost(of, PQerrorMessage(of->conn));
		goto out;
	}
	take_notifications(of);
	if (of->query == OQ_NONE)
		send_next(of);
out:
	tell_states(of);
}

/* ---- connection ------------------------------------------------------------- */

static void
arm(struct offer_feed *of)
{
	if (of->ev != NULL)
		event_free(of->ev);     /* before libpq reuses the fd number */
	if (of->wev != NULL)
		event_free(of->wev);
	of->ev = of->wev = NULL;
	if (PQsocket(of->conn) < 0)
		return;
	of->ev = event_new(of->base, PQsocket(of->conn), EV_READ | EV_PERSIST,
	    on_readable, of);
	of->wev = event_new(of->base, PQsocket(of->conn), EV_WRITE,
	    on_writable, of);
	if (of->ev != NULL)
		event_add(of->ev, NULL);
}

/* 50 ms doubling to FEED_BACKOFF_MAX_MS, +-20% */
static void
backoff(struct offer_feed *of)
{
	struct timeval tv;

	of->backoff_ms = backoff_next(of->backoff_ms, FEED_BACKOFF_MIN_MS,
	    FEED_BACKOFF_MAX_MS);
	tv = util_tv(backoff_jitter(of->backoff_ms, 20,
	    (unsigned long)random()));
	evtimer_add(of->retry, &tv);
}

static void
of_lost(struct offer_feed *of, const char *why)
{
	char msg[200];

	/* libpq's messages span lines: one log line per event */
	pgconn_oneline(msg, sizeof(msg), why);
	if (!of->warned) {
		log_warnx("offer feed: database connection lost or refused "
		    "(%s); reconnecting, the workers' offer streams wait",
		    msg);
		of->lost_ms = util_now_ms();
	}
	of->warned = true;
	if (of->ev != NULL)
		event_free(of->ev);
	if (of->wev != NULL)
		event_free(of->wev);
	of->ev = of->wev = NULL;
	pgconn_cancel(of->pc);
	of->pc = NULL;
	PQfinish(of->conn);
	of->conn = NULL;
	of->state = OS_DOWN;
	of->query = OQ_NONE;
	of->catch_for = NULL;
	stats_gauge_set(&of->st->feed_listen_up, 0);
	evtimer_del(of->retry);
	backoff(of);
	if (!of->told_settled) {
		of->told_settled = true;
		of->settled(of->settled_arg);
	}
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
	struct offer_feed *of = arg;

	of->pc = NULL;
	if (st != PGCONN_OK) {
		of_lost(of, why);
		return;
	}
	of->conn = conn;
	arm(of);
	of->state = OS_READY;
	of->backoff_ms = 0;
	stats_gauge_set(&of->st->feed_listen_up, 1);
	if (of->warned)
		log_info("offer feed connected again after %" PRIu64 " ms: "
		    "catching up after offer %" PRId64 " for %u workers",
		    util_now_ms() - of->lost_ms, of->high, of->nclients);
	of->warned = false;
	of->ever_up = true;
	of->changes += of->track_lsn;   /* whatever changed while away */
	if (of->ev == NULL || of->wev == NULL ||
	    !PQsendQuery(of->conn, "LISTEN offers; LISTEN places_changed; "
	    "LISTEN places_city")) {
		of_lost(of, "cannot send LISTEN");
		return;
	}
	of->query = OQ_SETUP;
	of->query_ms = of->heard_ms = util_now_ms();
	flush_out(of);
}

static void
of_connect(struct offer_feed *of)
{
	const struct pgconn_opts o = {
		.conninfo = of->cfg->db_conninfo,
		.app_name = "placesd offer feed",
		.deadline_ms = FEED_CONNECT_MS,
		.notice = on_notice,
		.notice_arg = of,
		.nonblocking = true,
	};

	of->state = OS_CONNECTING;
	if ((of->pc = pgconn_start(of->base, &o, on_connected, of)) == NULL)
		of_lost(of, "out of memory");
}

static void
on_retry(evutil_socket_t fd, short ev, void *arg)
{
	struct offer_feed *of = arg;

	(void)fd;
	(void)ev;
	if (of->state == OS_DOWN)
		of_connect(of);
	tell_states(of);
}

/*
 * Every FEED_TICK_MS: a query unanswered for FEED_QUERY_MS means a hung
 * server or a dead connection; a connection quiet for FEED_PROBE_MS is
 * asked the high-water mark (a lost notification is found then).
 */
static void
on_tick(evutil_socket_t fd, short ev, void *arg)
{
	struct offer_feed *of = arg;
	uint64_t now = util_now_ms();
	char why[64];

	(void)fd;
	(void)ev;
	if (of->state != OS_READY)
		return;
	if (of->query != OQ_NONE) {
		if (now - of->query_ms > FEED_QUERY_MS) {
			snprintf(why, sizeof(why), "no answer to a query "
			    "within %d ms", FEED_QUERY_MS);
			of_lost(of, why);
			tell_states(of);
		}
		return;
	}
	if (of->want_fetch || of->want_high || of->lsn_seen != of->changes ||
	    next_catching(of) != NULL)
		send_next(of);
	else if (now - of->heard_ms >= FEED_PROBE_MS)
		send_high(of);
	tell_states(of);
}

/* ---- the interface ---------------------------------------------------------- */

struct offer_feed *
offer_feed_new(struct event_base *base, const struct config *cfg,
    struct stats_block *st, offer_feed_settled_fn settled, void *arg)
{
	struct timeval tv = { FEED_TICK_MS / 1000, 0 };
	struct offer_feed *of;

	if ((of = calloc(1, sizeof(*of))) == NULL)
		return NULL;
	of->base = base;
	of->cfg = cfg;
	of->st = st;
	of->settled = settled;
	of->settled_arg = arg;
	of->high = -1;
	of->track_lsn = cfg->db_read_conninfo[0] != '\0';
	TAILQ_INIT(&of->clients);
	of->retry = evtimer_new(base, on_retry, of);
	of->tick = event_new(base, -1, EV_PERSIST, on_tick, of);
	if (of->retry == NULL || of->tick == NULL ||
	    event_add(of->tick, &tv) == -1) {
		offer_feed_free(of);
		return NULL;
	}
	of_connect(of);
	return of;
}

void
offer_feed_free(struct offer_feed *of)
{
	if (of == NULL)
		return;
	while (!TAILQ_EMPTY(&of->clients))
		offer_feed_detach(TAILQ_FIRST(&of->clients));
	if (of->ev != NULL)
		event_free(of->ev);
	if (of->wev != NULL)
		event_free(of->wev);
	if (of->retry != NULL)
		event_free(of->retry);
	if (of->tick != NULL)
		event_free(of->tick);
	pgconn_cancel(of->pc);
	PQfinish(of->conn);
	stats_gauge_set(&of->st->feed_listen_up, 0);
	free(of);
}

bool
offer_feed_up(const struct offer_feed *of)
{
	return of->state == OS_READY && of->high >= 0;
}

struct feed_client *
offer_feed_attach(struct offer_feed *of, struct bufferevent *bev,
    int64_t since, offer_feed_overflow_fn overflow, void *arg)
{
	struct feed_client *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->of = of;
	c->bev = bev;
	c->overflow = overflow;
	c->arg = arg;
	/* from now on, or after its own mark: its gap is read for it */
	c->mark = since >= 0 ? since : of->high;
	c->catching = since >= 0 && (of->high < 0 || since < of->high);
	if (since >= 0 && of->high >= 0 && since > of->high)
		of->want_high = true;   /* ahead of us: a restore, or news */
	TAILQ_INSERT_TAIL(&of->clients, c, link);
	of->nclients++;
	tell_state(c);
	tell_lsn(of, c);
	if (of->state == OS_READY && of->query == OQ_NONE)
		send_next(of);
	return c;
}

void
offer_feed_detach(struct feed_client *c)
{
	struct offer_feed *of;

	if (c == NULL)
		return;
	of = c->of;
	if (of->catch_for == c)
		of->catch_for = NULL;
	TAILQ_REMOVE(&of->clients, c, link);
	of->nclients--;
	free(c);
}
