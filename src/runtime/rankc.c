/*
 * rankc.c: worker -> ranker connection. The master holds the ranker's
 * listening socket, so connect() succeeds even while no ranker runs (the
 * connection waits in the backlog until a respawned ranker accepts it):
 * the ranker counts as up only once it answers a ping.
 *
 * Liveness: a ping goes out every PING_INTERVAL_MS. The ranker answers it
 * at once from its accept loop, never behind ranking work, so a missing
 * answer means a ranker that is stopped, hung or gone, not a busy one. A
 * ping unanswered for PING_TIMEOUT_MS is abandoned (a later PONG on the
 * connection still counts) and a new one sent; it is a miss unless other
 * answers came meanwhile. PING_MISSES_DOWN misses in a row mark the ranker
 * down and close the connection, and a new one is opened at once. A closed or refused connection is down at once; the
 * first reconnect is immediate, later ones back off from 50ms to 1s. BUSY
 * (its queue is full, a call waited too long) fails that call only: the
 * ranker stays up. Nothing here waits for one frame without a deadline.
 *
 * A draining ranker (reload, stop) sends GOAWAY: the connection retires.
 * Its calls are still answered on it, and new calls keep going to it until
 * a new connection (to the next ranker) answers a ping; then it closes once
 * nothing of it is in flight (or once idle for RETIRE_IDLE_MS with no new
 * ranker answering, so that a ranker told to stop is not kept alive).
 * A reload thus never fails a call.
 */
#include "runtime/rankc.h"
#include "runtime/backoff.h"
#include "common/config.h"
#include "common/log.h"
#include "common/stats.h"
#include "common/util.h"
#include "common/wire.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#define PING_INTERVAL_MS   500
#define PING_TIMEOUT_MS    1000
#define PING_MISSES_DOWN   3
#define BACKOFF_FIRST_MS   50
#define BACKOFF_MAX_MS     1000
#define DOWN_WARN_MS       1000
#define FIRST_WARN_MS      60000
#define RETIRE_IDLE_MS     1000

struct rankc_call {
	struct rankc *rc;
	uint32_t id;
	rankc_done_fn done;
	void *arg;
	bool sent;                  /* on rc->calls, else on rc->waiting */
	struct bufferevent *conn;   /* the connection it was sent on */
	unsigned type;              /* while waiting: the frame to send */
	char *payload;
	size_t len;
	struct event *deadline;     /* for a free slot, then for the answer */
	TAILQ_ENTRY(rankc_call) link;
};

struct rankc {
	struct event_base *base;
	const struct config *cfg;
	struct stats_block *st;
	struct bufferevent *bev;
	struct bufferevent *old;    /* retiring (GOAWAY), NULL if none */
	uint64_t old_since_ms;
	struct event *timer;        /* ping tick or reconnect delay */
	struct event *tidy;         /* closes the retiring connection */
	struct event *more;         /* next turn: frames left unread */
	bool connected;
	bool verified;              /* bev answered a ping */
	bool up;
	uint32_t next_id;
	uint32_t ping_id;           /* outstanding ping, 0 if none */
	uint64_t ping_sent_ms;
	unsigned ping_misses;       /* in a row, on this connection */
	uint64_t heard_ms;          /* its last frame on bev, or the connect */
	uint64_t backoff_ms;
	uint64_t down_since_ms;     /* 0 while up */
	bool warned;                /* "unreachable" was logged */
	bool ever_up;               /* answered since this worker started */
	bool loading;               /* it answers, without a snapshot yet */
	TAILQ_HEAD(, rankc_call) calls;     /* in flight, by id */
	TAILQ_HEAD(, rankc_call) waiting;   /* for a slot, oldest first */
	unsigned nsent, nwaiting, peak;
	unsigned max_sent;          /* this worker's share of the queue */
	/* the offer feed (rankc_set_feed): the subscribed connection */
	const struct rankc_feed_ops *feed_ops;
	void *feed_arg;
	struct bufferevent *feed_conn;
};

static void rankc_connect(struct rankc *rc);
static void pump(struct rankc *rc);
static unsigned max_sent(const struct config *cfg);

/*
 * A reload's ranker hand-over breaks the connection for a moment: only a
 * ranker missing for longer than DOWN_WARN_MS is worth a warning. At the
 * start it accepts only once it has its first snapshot, which takes
 * seconds for a big database: that is a warning after FIRST_WARN_MS.
 */
static void
set_up(struct rankc *rc, bool up)
{
	if (rc->up == up)
		return;
	rc->up = up;
	stats_gauge_set(&rc->st->ranker_up, up ? 1 : 0);
	if (!up) {
		rc->down_since_ms = util_now_ms();
		return;
	}
	if (!rc->ever_up && rc->warned)
		log_info("ranker answers after %llums",
		    (unsigned long long)(util_now_ms() - rc->down_since_ms));
	else if (rc->warned)
		log_info("ranker answers again after %llums",
		    (unsigned long long)(util_now_ms() - rc->down_since_ms));
	rc->warned = false;
	rc->ever_up = true;
	rc->down_since_ms = 0;
}

static void
warn_if_down_long(struct rankc *rc, uint64_t now)
{
	if (rc->up || rc->warned || rc->down_since_ms == 0 ||
	    now - rc->down_since_ms < (rc->ever_up ? DOWN_WARN_MS :
	    FIRST_WARN_MS))
		return;
	rc->warned = true;
	if (!rc->ever_up) {
		log_warnx("no answer from the ranker on %s in %llums since "
		    "the start (is its first snapshot still loading?); "
		    "/readyz answers 503", rc->cfg->ranker_socket,
		    (unsigned long long)(now - rc->down_since_ms));
		return;
	}
	log_warnx("ranker unreachable on %s for %llums; /readyz answers 503",
	    rc->cfg->ranker_socket,
	    (unsigned long long)(now - rc->down_since_ms));
}

static void
arm_timer(struct rankc *rc, uint64_t ms)
{
	struct timeval tv = util_tv(ms);

	evtimer_add(rc->timer, &tv);
}

static void
count_calls(struct rankc *rc)
{
	stats_gauge_set(&rc->st->ranker_in_flight, rc->nsent);
	stats_gauge_set(&rc->st->ranker_waiting, rc->nwaiting);
	if (rc->nsent > rc->peak) {
		rc->peak = rc->nsent;
		stats_gauge_set(&rc->st->ranker_in_flight_peak, rc->peak);
	}
}

static void
call_free(struct rankc_call *c)
{
	if (c->sent) {
		TAILQ_REMOVE(&c->rc->calls, c, link);
		c->rc->nsent--;
	} else {
		TAILQ_REMOVE(&c->rc->waiting, c, link);
		c->rc->nwaiting--;
	}
	count_calls(c->rc);
	event_free(c->deadline);
	free(c->payload);
	free(c);
}

static void
call_finish(struct rankc_call *c, enum rankc_status st, const char *payload,
    size_t len)
{
	rankc_done_fn done = c->done;
	void *arg = c->arg;

	call_free(c);
	done(arg, st, payload, len);
}

static struct rankc_call *
call_find(struct rankc *rc, uint32_t id)
{
	struct rankc_call *c;

	TAILQ_FOREACH(c, &rc->calls, link)
		if (c->id == id)
			return c;
	return NULL;
}

/* Fails the calls sent on conn (all, if conn is NULL). */
static void
fail_calls(struct rankc *rc, struct bufferevent *conn)
{
	struct rankc_call *c, *next;

	for (c = TAILQ_FIRST(&rc->calls); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		if (conn == NULL || c->conn == conn)
			call_finish(c, RANKC_DOWN, NULL, 0);
	}
}

static unsigned
calls_on(struct rankc *rc, struct bufferevent *conn)
{
	struct rankc_call *c;
	unsigned n = 0;

	TAILQ_FOREACH(c, &rc->calls, link)
		n += c->conn == conn;
	return n;
}

/* conn closes: if the feed was subscribed on it, it is not any more. */
static void
feed_conn_closed(struct rankc *rc, struct bufferevent *conn)
{
	if (conn == NULL || conn != rc->feed_conn)
		return;
	rc->feed_conn = NULL;
	if (rc->feed_ops != NULL)
		rc->feed_ops->detached(rc->feed_arg);
}

/* The current connection answers: subscribe the feed on it. */
static void
feed_subscribe(struct rankc *rc)
{
	uint8_t hdr[WIRE_HDR_LEN];
	char since[32];
	int n;

	if (rc->feed_ops == NULL || rc->bev == NULL ||
	    rc->feed_conn == rc->bev)
		return;
	n = snprintf(since, sizeof(since), "%" PRId64,
	    rc->feed_ops->since(rc->feed_arg));
	wire_encode(hdr, WIRE_FEED_SUB, 0, (uint32_t)n);
	bufferevent_write(rc->bev, hdr, sizeof(hdr));
	bufferevent_write(rc->bev, since, (size_t)n);
	rc->feed_conn = rc->bev;
	rc->feed_ops->attached(rc->feed_arg);
}

/* Closes the retiring connection, failing what is still in flight on it. */
static void
drop_old(struct rankc *rc, const char *why)
{
	struct bufferevent *old = rc->old;

	if (old == NULL)
		return;
	log_debug("retired ranker connection closed: %s", why);
	rc->old = NULL;
	feed_conn_closed(rc, old);
	fail_calls(rc, old);
	bufferevent_free(old);
	if (!rc->verified)
		set_up(rc, false);
	pump(rc);
}

/* Closes the retiring connection once that loses nothing. */
static void
tidy_old(struct rankc *rc)
{
	if (rc->old == NULL || calls_on(rc, rc->old) > 0)
		return;
	if (rc->verified)
		drop_old(rc, "moved to the next ranker");
	else if (util_now_ms() - rc->old_since_ms >= RETIRE_IDLE_MS)
		drop_old(rc, "no next ranker answers yet");
}

static void
on_tidy(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	tidy_old(arg);
}

static void
disconnect(struct rankc *rc, const char *why)
{
	struct bufferevent *bev = rc->bev;

	rc->bev = NULL;
	rc->connected = false;
	rc->verified = false;
	rc->ping_id = 0;
	rc->ping_misses = 0;
	if (rc->old == NULL)
		set_up(rc, false);  /* else the retiring one still serves */
	if (bev != NULL) {
		log_debug("ranker connection closed: %s", why);
		feed_conn_closed(rc, bev);
		fail_calls(rc, bev);
		bufferevent_free(bev);
	}
	pump(rc);
	stats_add(&rc->st->ranker_failures, 1);
	/* the first retry is immediate: a drained ranker's successor is there */
	arm_timer(rc, rc->backoff_ms);
	rc->backoff_ms = backoff_next(rc->backoff_ms, BACKOFF_FIRST_MS,
	    BACKOFF_MAX_MS);
}

static uint32_t
new_id(struct rankc *rc)
{
	if (++rc->next_id == 0)
		rc->next_id = 1;
	return rc->next_id;
}

static void
send_ping(struct rankc *rc)
{
	uint8_t hdr[WIRE_HDR_LEN];

	rc->ping_id = new_id(rc);
	rc->ping_sent_ms = util_now_ms();
	wire_encode(hdr, WIRE_PING, rc->ping_id, 0);
	bufferevent_write(rc->bev, hdr, sizeof(hdr));
	stats_add(&rc->st->ranker_calls, 1);
}

/* GOAWAY on the current connection: retire it, connect to the next one. */
static void
retire(struct rankc *rc)
{
	if (rc->old != NULL)
		drop_old(rc, "retired twice");
	log_debug("the ranker is draining; moving to the next one");
	rc->old = rc->bev;
	rc->old_since_ms = util_now_ms();
	rc->bev = NULL;
	rc->connected = false;
	rc->verified = false;
	rc->ping_id = 0;
	rc->ping_misses = 0;
	rc->backoff_ms = 0;
	evtimer_del(rc->timer);
	rankc_connect(rc);
}

/*
 * The current connection answered: the ranker is alive (busy or not).
 * load is the PONG's payload, "1 ..." with a snapshot, "0 ..." without.
 */
static void
alive(struct rankc *rc, const char *load, size_t len)
{
	bool loading = len > 0 && load[0] == '0';

	rc->ping_id = 0;
	rc->ping_misses = 0;
	rc->backoff_ms = 0;
	rc->verified = true;
	if (rc->old != NULL)
		event_active(rc->tidy, EV_TIMEOUT, 1);
	/* it counts as up while it loads its snapshot (a reload starts a new
	 * ranker, and readiness must not flap with each one): /v1/nearby
	 * degrades until the snapshot is there */
	if (loading && !rc->loading)
		log_debug("the ranker is loading its snapshot");
	rc->loading = loading;
	set_up(rc, true);
	feed_subscribe(rc);
}

/* A feed frame the feed refused: start over on a new connection, whose
 * subscription reads the gap again. */
static void
feed_bad_frame(struct rankc *rc, struct bufferevent *bev, unsigned type)
{
	log_warnx("offer feed frame of type %u from the ranker refused; "
	    "reconnecting", type);
	if (bev == rc->bev)
		disconnect(rc, "bad offer feed frame");
	else
		drop_old(rc, "bad offer feed frame");
}

static void
handle_frame(struct rankc *rc, struct bufferevent *bev,
    const struct wire_hdr *h, const char *payload)
{
	struct rankc_call *c;

	switch (h->type) {
	case WIRE_GOAWAY:
		if (bev == rc->bev)
			retire(rc);
		return;
	case WIRE_PONG:
		/* any PONG on it, even to a ping given up on, proves life */
		if (bev == rc->bev)
			alive(rc, payload, h->len);
		return;
	case WIRE_FEED_STATE:
	case WIRE_FEED_OFFERS:
	case WIRE_FEED_NOTE:
	case WIRE_FEED_LSN:
	case WIRE_FEED_REWOUND:
		if (bev == rc->feed_conn && rc->feed_ops != NULL &&
		    !rc->feed_ops->frame(rc->feed_arg, h->type, payload,
		    h->len))
			feed_bad_frame(rc, bev, h->type);
		return;
	default:
		break;
	}
	if (h->id != 0 && h->id == rc->ping_id && bev == rc->bev) {
		/* a ranker that answers a ping with something else (BUSY from
		 * an older one) is there: up and busy, not down */
		log_debug("ranker answered a ping with type %u", h->type);
		alive(rc, "1", 1);
		return;
	}
	/* an answer to a call, unless it came after its deadline */
	if ((c = call_find(rc, h->id)) == NULL)
		return;
	if (h->type == WIRE_BUSY)
		stats_add(&rc->st->ranker_busy, 1);
	call_finish(c, h->type == WIRE_BUSY ? RANKC_BUSY :
	    h->type == WIRE_ERROR ? RANKC_ERROR : RANKC_OK, payload, h->len);
	pump(rc);
}

/*
 * Each answer read becomes a reply to a client (cards looked up, JSON
 * written, a send): at most FRAMES_PER_TURN of them per callback, and the
 * rest on the loop's next turn (a zero timer, run after the sockets are
 * polled), so that a burst of answers never holds up a /healthz or a new
 * request behind it for longer than a few replies take. nginx bounds its
 * accept and read loops the same way.
 */
#define FRAMES_PER_TURN     8

static void
on_read(struct bufferevent *bev, void *arg)
{
	static const struct timeval next_turn = { 0, 0 };
	struct rankc *rc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t raw[WIRE_HDR_LEN];
	const char *payload;
	struct wire_hdr h;
	unsigned frames = 0;
	int st;

	for (;;) {
		if (evbuffer_copyout(in, raw, sizeof(raw)) < (ssize_t)sizeof(raw))
			return;
		if (frames++ == FRAMES_PER_TURN) {
			stats_add(&rc->st->ranker_deferred, 1);
			evtimer_add(rc->more, &next_turn);
			return;
		}
		st = wire_decode(raw, sizeof(raw), WIRE_MAX_PAYLOAD, &h);
		if (st != WIRE_OK) {
			log_warnx("bad frame from the ranker (%s); reconnecting",
			    wire_strerror(st));
			disconnect(rc, "protocol error");
			return;
		}
		if (evbuffer_get_length(in) < WIRE_HDR_LEN + (size_t)h.len)
			return;
		evbuffer_drain(in, WIRE_HDR_LEN);
		payload = h.len > 0 ? (const char *)evbuffer_pullup(in,
		    (ev_ssize_t)h.len) : "";
		if (bev == rc->bev)
			rc->heard_ms = util_now_ms();
		handle_frame(rc, bev, &h, payload);
		if (bev != rc->bev && bev != rc->old)
			return;         /* closed meanwhile (a callback, GOAWAY
			                 * twice): its buffer is gone */
		evbuffer_drain(in, h.len);
	}
}

/* The frames on_read() left for this turn, on either connection. */
static void
on_more(evutil_socket_t fd, short ev, void *arg)
{
	struct rankc *rc = arg;

	(void)fd;
	(void)ev;
	if (rc->old != NULL)
		on_read(rc->old, rc);
	if (rc->bev != NULL)
		on_read(rc->bev, rc);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct rankc *rc = arg;

	if (bev == rc->old) {
		if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
			drop_old(rc, (what & BEV_EVENT_EOF) ? "end of file" :
			    strerror(EVUTIL_SOCKET_ERROR()));
		return;
	}
	if (what & BEV_EVENT_CONNECTED) {
		rc->connected = true;
		send_ping(rc);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		disconnect(rc, (what & BEV_EVENT_EOF) ? "end of file" :
		    strerror(EVUTIL_SOCKET_ERROR()));
}

/*
 * The outstanding ping is too old: give it up. Returns true when that was
 * one miss too many and the connection was closed for a new one.
 */
static bool
ping_missed(struct rankc *rc, uint64_t now)
{
	rc->ping_id = 0;
	stats_add(&rc->st->ranker_pings_missed, 1);
	if (++rc->ping_misses < PING_MISSES_DOWN)
		return false;
	if (rc->up)
		log_warnx("ranker on %s did not answer %u pings in a row "
		    "(nothing heard for %llums); reconnecting, /v1/nearby "
		    "degrades and /readyz answers 503 meanwhile",
		    rc->cfg->ranker_socket, rc->ping_misses,
		    (unsigned long long)(now - rc->heard_ms));
	rc->backoff_ms = 0;     /* connecting worked: try again at once */
	disconnect(rc, "no answer to pings");
	return true;
}

static void
on_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct rankc *rc = arg;
	uint64_t now = util_now_ms();

	(void)fd;
	(void)ev;
	warn_if_down_long(rc, now);
	tidy_old(rc);
	pump(rc);
	if (rc->bev == NULL) {
		rankc_connect(rc);
		return;
	}
	if (rc->connected) {
		if (rc->ping_id != 0 && now - rc->ping_sent_ms >=
		    PING_TIMEOUT_MS) {
			if (rc->heard_ms > rc->ping_sent_ms) {
				/* its answers to calls kept coming: alive, and
				 * only slow to reach this ping */
				rc->ping_id = 0;
				rc->ping_misses = 0;
			} else if (ping_missed(rc, now))
				return; /* disconnect() armed the timer */
		}
		if (rc->ping_id == 0)
			send_ping(rc);
	} else if (now - rc->heard_ms >= PING_MISSES_DOWN * PING_TIMEOUT_MS) {
		/* a connect that never completes (not seen on a Unix socket,
		 * but nothing here waits without a deadline) */
		disconnect(rc, "connect did not complete");
		return;
	}
	arm_timer(rc, PING_INTERVAL_MS);
}

static void
rankc_connect(struct rankc *rc)
{
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, rc->cfg->ranker_socket,
	    strlen(rc->cfg->ranker_socket) + 1);
	rc->bev = bufferevent_socket_new(rc->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (rc->bev == NULL) {
		disconnect(rc, "bufferevent_socket_new() failed");
		return;
	}
	rc->heard_ms = util_now_ms();
	bufferevent_setcb(rc->bev, on_read, NULL, on_event, rc);
	bufferevent_enable(rc->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(rc->bev, (struct sockaddr *)&sun,
	    sizeof(sun)) == -1) {
		disconnect(rc, strerror(errno));
		return;
	}
	arm_timer(rc, PING_INTERVAL_MS);
}

struct rankc *
rankc_new(struct event_base *base, const struct config *cfg,
    struct stats_block *st)
{
	struct rankc *rc;

	if ((rc = calloc(1, sizeof(*rc))) == NULL)
		return NULL;
	rc->base = base;
	rc->cfg = cfg;
	rc->st = st;
	rc->down_since_ms = util_now_ms();
	TAILQ_INIT(&rc->calls);
	TAILQ_INIT(&rc->waiting);
	rc->max_sent = max_sent(cfg);
	rc->timer = evtimer_new(base, on_timer, rc);
	rc->tidy = event_new(base, -1, 0, on_tidy, rc);
	rc->more = evtimer_new(base, on_more, rc);
	if (rc->timer == NULL || rc->tidy == NULL || rc->more == NULL) {
		if (rc->timer != NULL)
			event_free(rc->timer);
		if (rc->tidy != NULL)
			event_free(rc->tidy);
		if (rc->more != NULL)
			event_free(rc->more);
		free(rc);
		return NULL;
	}
	rankc_connect(rc);
	return rc;
}

bool
rankc_up(const struct rankc *rc)
{
	return rc->up;
}

/* The current connection once it answers, else a retiring one. */
static struct bufferevent *
usable_conn(struct rankc *rc)
{
	return rc->bev != NULL && rc->verified ? rc->bev : rc->old;
}

static void
call_deadline(evutil_socket_t fd, short ev, void *arg)
{
	struct rankc_call *c = arg;
	struct rankc *rc = c->rc;

	(void)fd;
	(void)ev;
	if (!c->sent) {
		/* no slot came free in time: the ranker is busy */
		stats_add(&rc->st->ranker_busy, 1);
		call_finish(c, RANKC_BUSY, NULL, 0);
		return;
	}
	call_finish(c, RANKC_TIMEOUT, NULL, 0);
	pump(rc);
}

static void
send_call(struct rankc *rc, struct rankc_call *c, struct bufferevent *conn,
    const char *payload, size_t len)
{
	struct timeval tv = util_tv(rc->cfg->ranker_timeout_ms);
	uint8_t hdr[WIRE_HDR_LEN];

	c->sent = true;
	c->conn = conn;
	TAILQ_INSERT_TAIL(&rc->calls, c, link);
	rc->nsent++;
	count_calls(rc);
	evtimer_add(c->deadline, &tv);      /* the answer's own deadline */
	wire_encode(hdr, c->type, c->id, (uint32_t)len);
	bufferevent_write(conn, hdr, sizeof(hdr));
	bufferevent_write(conn, payload, len);
	stats_add(&rc->st->ranker_calls, 1);
}

/*
 * Sends waiting calls while this worker has free slots; fails them when
 * the ranker is gone. Called whenever a slot frees or the link changes.
 */
static void
pump(struct rankc *rc)
{
	struct bufferevent *conn;
	struct rankc_call *c;

	while ((c = TAILQ_FIRST(&rc->waiting)) != NULL) {
		conn = usable_conn(rc);
		if (!rc->up || conn == NULL) {
			call_finish(c, RANKC_DOWN, NULL, 0);
			continue;
		}
		if (rc->nsent >= rc->max_sent)
			return;
		TAILQ_REMOVE(&rc->waiting, c, link);
		rc->nwaiting--;                 /* counted by send_call */
		event_del(c->deadline);
		send_call(rc, c, conn, c->payload, c->len);
		free(c->payload);
		c->payload = NULL;
	}
}

/*
 * A worker keeps at most max_sent calls at the ranker, its share of
 * eight per ranking thread: the ranker's queue then stays short, and a
 * call's deadline measures ranking, not a queue that a burst filled. The
 * rest wait here, in order, each for at most ranker.timeout.
 */
static unsigned
max_sent(const struct config *cfg)
{
	uint64_t workers = cfg->workers > 0 ? cfg->workers : 1;
	uint64_t n = (8 * cfg->ranker_threads + workers - 1) / workers;

	return n < 2 ? 2 : n > 1024 ? 1024 : (unsigned)n;
}

struct rankc_call *
rankc_call(struct rankc *rc, unsigned type, const char *payload, size_t len,
    rankc_done_fn done, void *arg, enum rankc_status *why)
{
	struct timeval tv = util_tv(rc->cfg->ranker_timeout_ms);
	struct bufferevent *conn = usable_conn(rc);
	struct rankc_call *c;

	*why = RANKC_DOWN;
	if (!rc->up || conn == NULL)
		return NULL;
	*why = RANKC_ERROR;
	if (len > WIRE_MAX_PAYLOAD)
		return NULL;
	*why = RANKC_BUSY;
	if (rc->nwaiting >= rc->cfg->ranker_queue_size) {
		stats_add(&rc->st->ranker_busy, 1);
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->deadline = evtimer_new(rc->base, call_deadline, c)) == NULL) {
		free(c);
		return NULL;
	}
	c->rc = rc;
	c->id = new_id(rc);
	c->done = done;
	c->arg = arg;
	c->type = type;
	if (rc->nsent < rc->max_sent && TAILQ_EMPTY(&rc->waiting)) {
		send_call(rc, c, conn, payload, len);
		return c;
	}
	if ((c->payload = malloc(len > 0 ? len : 1)) == NULL) {
		event_free(c->deadline);
		free(c);
		return NULL;
	}
	memcpy(c->payload, payload, len);
	c->len = len;
	TAILQ_INSERT_TAIL(&rc->waiting, c, link);
	rc->nwaiting++;
	count_calls(rc);
	evtimer_add(c->deadline, &tv);      /* for a free slot */
	return c;
}

void
rankc_call_cancel(struct rankc_call *c)
{
	struct rankc *rc;
	bool sent;

	if (c == NULL)
		return;
	rc = c->rc;
	sent = c->sent;
	call_free(c);
	if (sent)
		pump(rc);
}

void
rankc_set_feed(struct rankc *rc, const struct rankc_feed_ops *ops, void *arg)
{
	if (rc == NULL)
		return;
	rc->feed_ops = ops;
	rc->feed_arg = arg;
	rc->feed_conn = NULL;
	if (ops != NULL && rc->verified)
		feed_subscribe(rc);
}

void
rankc_free(struct rankc *rc)
{
	if (rc == NULL)
		return;
	while (!TAILQ_EMPTY(&rc->calls))
		call_free(TAILQ_FIRST(&rc->calls));
	while (!TAILQ_EMPTY(&rc->waiting))
		call_free(TAILQ_FIRST(&rc->waiting));
	if (rc->bev != NULL)
		bufferevent_free(rc->bev);
	if (rc->old != NULL)
		bufferevent_free(rc->old);
	event_free(rc->timer);
	event_free(rc->tidy);
	event_free(rc->more);
	set_up(rc, false);
	free(rc);
}
