/*
 * feed.c: a worker's side of the node's offer feed (feed.h). The ranker
 * holds the one LISTEN connection on the primary (ranker/offer_feed.c)
 * and relays, on this worker's ranker connection (rankc.h), the new
 * offers, the place notifications, its state and the WAL position
 * (common/feed_wire.h). Here they are handed to the subscribers, the
 * cache and the read model.
 *
 *   the ranker answers  -> FEED_SUB <high> (-1 at the start: from now on)
 *   FEED_STATE          -> up or down, quiet or not; the first one sets
 *                          the high-water mark at the start
 *   FEED_OFFERS         -> the high-water mark and the read model at
 *                          once, the subscribers from the fan-out
 *   FEED_NOTE 'p' / 'c' -> cache_del("place:<id>") / the cities, and
 *                          the read model
 *   FEED_LSN            -> the position replica reads wait for
 *   FEED_REWOUND        -> the subscribers are told (feed.h)
 *
 * On a new ranker connection (a reload, a respawned ranker) it subscribes
 * again with the last offer id it has, and the ranker sends what came in
 * between first (nothing lost: ids come from the database). While no
 * ranker relays, the feed is down: subscribers wait, new ones get 503,
 * and the read model trusts nothing it cannot hear about; when one is
 * back, the cache is cleared (place notifications may have been missed).
 */
#include "runtime/feed.h"
#include "runtime/cache.h"
#include "runtime/citymodel.h"
#include "runtime/rankc.h"
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

#include <event2/event.h>

/* subscribers handed an offer per turn of the loop: about a millisecond
 * of sends, then the loop serves its other sockets before the next slice */
#define FEED_SLICE          128

struct feed_sub {
	struct feed *f;
	feed_fn fn;
	void *arg;
	TAILQ_ENTRY(feed_sub) link;
};

/* A relayed frame of offers on its way to the subscribers: its records,
 * each city NUL-terminated, in one allocation with the frame's bytes. */
struct feed_rec {
	int64_t id;
	const char *city;
	const char *json;
	size_t len;
};

struct feed_batch {
	int n;
	int row;                    /* the offer being handed out */
	struct feed_rec *recs;
	STAILQ_ENTRY(feed_batch) link;
};

struct feed {
	struct stats_block *st;
	struct cache *cache;
	struct citymodel *model;    /* told of every change, may be NULL */
	struct rankc *rc;
	bool attached;              /* subscribed on a ranker connection */
	bool fresh;                 /* no state heard since subscribing */
	bool src_up;                /* the ranker's LISTEN, by its last state */
	bool src_quiet;             /* ... and nothing notified left unread */
	bool up;                    /* attached and src_up */
	bool ever_up;
	bool warned;                /* "down" logged for this outage */
	uint64_t lost_ms;           /* when this outage began */
	int64_t high;
	uint64_t delivered;         /* the last delivery's seq */
	unsigned nsubs;
	TAILQ_HEAD(, feed_sub) subs;
	/* the fan-out, FEED_SLICE subscribers at a time */
	STAILQ_HEAD(, feed_batch) batches;
	struct event *fanout;       /* a zero timer: after the loop's I/O */
	struct event *beat;         /* a heartbeat tick is due */
	struct feed_offer cur;      /* the offer being handed out */
	bool fanning;               /* cursor walks the subs with cur */
	bool beating;               /* ... with a heartbeat tick, not cur */
	bool beat_due;              /* a tick waits for its pass */
	struct feed_sub *cursor;    /* the next subscriber to hand cur to */
	/* the primary's WAL insert position after the changes relayed, for
	 * reads on replicas (feed_change_lsn); only with read_conninfo */
	bool lsn_known;
	uint64_t change_lsn;
};

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
		if (b->row < b->n) {
			f->cur.id = b->recs[b->row].id;
			f->cur.city = b->recs[b->row].city;
			f->cur.json = b->recs[b->row].json;
			f->cur.len = b->recs[b->row].len;
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
 * A frame of offers: the high-water mark and the read model learn of its
 * offers at once; the subscribers get them from the fan-out. A frame that
 * does not parse is a protocol error: the connection is dropped by the
 * caller and the gap is read again on the next one.
 */
static bool
take_offers(struct feed *f, const char *p, size_t len)
{
	struct timeval zero = { 0, 0 };
	struct feed_wire_offer o;
	struct feed_batch *b;
	size_t off = 0, cities = 0, need;
	int n = 0, r, i;
	char *city, *bytes;

	while ((r = feed_wire_offer_next(p, len, &off, &o)) == 1) {
		n++;
		cities += o.city_len + 1;
	}
	if (r < 0 || n == 0)
		return r == 0;
	need = sizeof(*b) + (size_t)n * sizeof(struct feed_rec) + cities + len;
	if ((b = calloc(1, need)) == NULL) {
		log_warn("calloc() for %d relayed offers; reconnecting to the "
		    "ranker to read them again", n);
		return false;
	}
	b->n = n;
	b->recs = (struct feed_rec *)(b + 1);
	city = (char *)(b->recs + n);
	bytes = city + cities;
	memcpy(bytes, p, len);
	for (off = 0, i = 0; i < n; i++) {
		(void)feed_wire_offer_next(bytes, len, &off, &o);
		memcpy(city, o.city, o.city_len);
		city[o.city_len] = '\0';
		b->recs[i].id = o.id;
		b->recs[i].city = city;
		b->recs[i].json = o.json;
		b->recs[i].len = o.json_len;
		city += o.city_len + 1;
		if (o.id > f->high)
			f->high = o.id;
		cm_offer_added(f->model, b->recs[i].city, o.place_id);
	}
	STAILQ_INSERT_TAIL(&f->batches, b, link);
	evtimer_add(f->fanout, &zero);
	return true;
}

/*
 * The offers' ids went back (a database restored from a backup): what
 * subscribers have seen says nothing of what comes next. Follow the
 * database, and tell them.
 */
static void
rewound(struct feed *f, int64_t max)
{
	struct feed_sub *s, *next;
	struct feed_offer o = { FEED_REWOUND, "", "", 0, ++f->delivered };

	log_warnx("offer ids went back from %" PRId64 " to %" PRId64
	    " (a database restored from a backup?): telling %u offer "
	    "streams", f->high, max, f->nsubs);
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

/* A place notification: 'p' a place changed, 'c' it moved city. */
static void
take_note(struct feed *f, const char *p, size_t len)
{
	char key[48], *extra;
	size_t idlen;

	if (len < 1 || (p[0] != 'p' && p[0] != 'c'))
		return;
	if ((extra = malloc(len)) == NULL) {
		log_warn("malloc() for a place notification; clearing the "
		    "cache instead");
		if (f->cache != NULL)
			cache_clear(f->cache);
		cm_drop_all(f->model, CMC_FEED_LOST);
		return;
	}
	memcpy(extra, p + 1, len - 1);
	extra[len - 1] = '\0';
	if (p[0] == 'p') {
		idlen = strcspn(extra, " ");
		snprintf(key, sizeof(key), "place:%.*s", idlen > 32 ? 32 :
		    (int)idlen, extra);
		if (f->cache != NULL)
			cache_del(f->cache, key);
		cm_place_changed(f->model, extra);
	} else {
		if (f->cache != NULL)
			cache_del(f->cache, CACHE_KEY_CITIES);
		cm_place_city(f->model, extra);
	}
	free(extra);
}

/* Subscribers can count on the feed again. */
static void
come_up(struct feed *f)
{
	f->up = true;
	stats_gauge_set(&f->st->feed_up, 1);
	if (f->warned)
		log_info("offer feed up again after %" PRIu64 " ms: "
		    "catching up after offer %" PRId64 ", cache cleared",
		    util_now_ms() - f->lost_ms, f->high);
	f->warned = false;
	f->ever_up = true;
}

/* Nothing is relayed for now: subscribers wait, the model trusts nothing. */
static void
go_down(struct feed *f, const char *why)
{
	if (f->up) {
		log_warnx("offer feed down (%s); offer streams wait, new "
		    "ones get 503", why);
		f->warned = true;
		f->lost_ms = util_now_ms();
	}
	f->up = false;
	f->lsn_known = false;
	stats_gauge_set(&f->st->feed_up, 0);
	cm_feed_lost(f->model);     /* changes go unheard */
}

static void
take_state(struct feed *f, const char *p, size_t len)
{
	struct feed_wire_state s;
	bool fresh = f->fresh;

	if (!feed_wire_state_parse(p, len, &s)) {
		log_warnx("ranker sent an offer feed state that does not "
		    "parse; ignored");
		return;
	}
	f->fresh = false;
	if (f->high < 0 && s.high >= 0)
		f->high = s.high;
	cm_set_precise(f->model, s.precise);
	f->src_up = s.up;
	f->src_quiet = s.quiet;
	if (!s.quiet)
		f->lsn_known = false;
	if (s.up && fresh && f->ever_up) {
		/* a new ranker connection: place notifications sent while
		 * this worker was not subscribed were missed */
		log_debug("offer feed relayed again after offer %" PRId64
		    ": cache cleared", f->high);
		if (f->cache != NULL)
			cache_clear(f->cache);
		cm_drop_all(f->model, CMC_FEED_LOST);
	}
	if (s.up && !f->up && f->high >= 0) {
		if (!fresh && f->ever_up) {
			if (f->cache != NULL)
				cache_clear(f->cache);
			cm_drop_all(f->model, CMC_FEED_LOST);
		}
		come_up(f);
	} else if (!s.up && f->up)
		go_down(f, "the ranker's LISTEN connection on the primary is "
		    "lost; it reconnects");
}

/* ---- the ranker connection -------------------------------------------------- */

static int64_t
relay_since(void *arg)
{
	struct feed *f = arg;

	return f->high;
}

static void
relay_attached(void *arg)
{
	struct feed *f = arg;

	f->attached = true;
	f->fresh = true;
	f->lsn_known = false;
}

static void
relay_detached(void *arg)
{
	struct feed *f = arg;

	f->attached = false;
	f->src_up = f->src_quiet = false;
	go_down(f, "no ranker relays it; it is respawned or reconnected");
}

/* A feed frame on the subscribed connection; false: a protocol error. */
static bool
relay_frame(void *arg, unsigned type, const char *p, size_t len)
{
	struct feed *f = arg;
	int64_t v;
	uint64_t lsn;

	switch (type) {
	case WIRE_FEED_STATE:
		take_state(f, p, len);
		return true;
	case WIRE_FEED_OFFERS:
		f->lsn_known = false;
		return take_offers(f, p, len);
	case WIRE_FEED_NOTE:
		f->lsn_known = false;
		take_note(f, p, len);
		return true;
	case WIRE_FEED_LSN:
		if (!feed_wire_u64_parse(p, len, &lsn))
			return false;
		if (lsn > f->change_lsn)
			f->change_lsn = lsn;
		f->lsn_known = true;
		return true;
	case WIRE_FEED_REWOUND:
		if (!feed_wire_int_parse(p, len, &v) || v < 0)
			return false;
		f->lsn_known = false;
		rewound(f, v);
		return true;
	default:
		return false;
	}
}

static const struct rankc_feed_ops relay_ops = {
	.since = relay_since,
	.attached = relay_attached,
	.frame = relay_frame,
	.detached = relay_detached,
};

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
    struct stats_block *st, struct cache *cache, struct rankc *rc)
{
	struct timeval hb = util_tv(cfg->offers_heartbeat_ms /
	    FEED_BEAT_TICKS);
	struct feed *f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	f->st = st;
	f->cache = cache;
	f->rc = rc;
	f->high = -1;
	TAILQ_INIT(&f->subs);
	STAILQ_INIT(&f->batches);
	f->beat = event_new(base, -1, EV_PERSIST, on_beat, f);
	f->fanout = evtimer_new(base, fan_out, f);
	if (f->beat == NULL || f->fanout == NULL ||
	    event_add(f->beat, &hb) == -1) {
		feed_free(f);
		return NULL;
	}
	stats_gauge_set(&f->st->feed_up, 0);
	rankc_set_feed(rc, &relay_ops, f);
	return f;
}

void
feed_free(struct feed *f)
{
	if (f == NULL)
		return;
	rankc_set_feed(f->rc, NULL, NULL);
	fan_drop(f);
	while (!TAILQ_EMPTY(&f->subs))
		feed_unsubscribe(TAILQ_FIRST(&f->subs));
	if (f->fanout != NULL)
		event_free(f->fanout);
	if (f->beat != NULL)
		event_free(f->beat);
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

/* Relayed, and no notified offer left to read: the model holds */
bool
feed_quiet(const struct feed *f)
{
	return f->up && f->attached && f->src_quiet && !f->fresh;
}

bool
feed_change_lsn(const struct feed *f, uint64_t *lsn)
{
	if (!feed_quiet(f) || !f->lsn_known)
		return false;
	*lsn = f->change_lsn;
	return true;
}

bool
feed_up(const struct feed *f)
{
	return f->up;
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
