/*
 * ranker.c: the ranker's accept loop (libevent, one thread) in front of
 * the pool (pool.c). A frame with a bad version, an unknown type or an
 * oversized payload closes that connection. A full queue answers BUSY at
 * once. A ping is answered here, at once, never queued behind ranking:
 * its PONG says whether a snapshot is loaded and how loaded the pool is
 * ("1 queued running threads queue_size"), so a worker tells a busy
 * ranker from a dead one. The loader thread (loader.c) keeps the
 * snapshot that NEARBY requests rank on. The node's offer feed
 * (offer_feed.c) LISTENs on the primary and relays new offers to every
 * worker that sends FEED_SUB. The ranker accepts workers and tells the
 * master it is ready only once the loader's first attempt is over (a
 * snapshot, or no database) and the feed's first connection is up or
 * refused: on a reload the old ranker serves
 * every worker meanwhile, and the reload commits with a loaded ranker.
 * Without a database it serves errors and the workers degrade.
 *
 * Draining (reload or stop): stop accepting and send GOAWAY on every
 * connection; a worker then connects to the next ranker, moves its new
 * calls there once it answers, and closes this connection when nothing of
 * it is in flight; what arrives meanwhile is still answered. Exit when no
 * connection is left, or at shutdown_timeout. The master's channel and
 * the signals are runtime/child_life.c's, as in a worker.
 */
#include "ranker/ranker.h"
#include "ranker/loader.h"
#include "ranker/offer_feed.h"
#include "ranker/pool.h"
#include "ranker/snapshot.h"
#include "runtime/child_life.h"
#include "common/feed_wire.h"
#include "common/log.h"
#include "common/stats.h"
#include "common/util.h"
#include "common/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#define RANKER_MAX_PAYLOAD  (64u * 1024)
#define DRAIN_TICK_MS       20

struct client {
	uint32_t id;
	struct bufferevent *bev;
	struct ranker *rk;
	unsigned inflight;
	struct feed_client *fc;     /* subscribed to the offer feed */
	TAILQ_ENTRY(client) link;
};

struct ranker {
	const struct child_args *args;
	const struct config *cfg;
	struct stats_block *st;
	struct event_base *base;
	struct evconnlistener *lev;
	struct pool *pool;
	struct snap_holder snaps;
	struct loader *loader;
	struct offer_feed *feed;    /* the node's LISTEN, relayed */
	bool loader_settled, feed_settled;
	struct event *feed_settle_ev;
	int wake[2];
	int settle[2];              /* the loader's first attempt is over */
	struct child_life *life;    /* the master's channel, the signals */
	struct event *wake_ev, *drain_tick;
	struct event *settle_ev;
	TAILQ_HEAD(, client) clients;
	unsigned nclients;
	uint32_t next_client;
	bool draining;
	uint64_t drain_started_ms;
};

static void
client_free(struct client *c)
{
	struct ranker *rk = c->rk;

	TAILQ_REMOVE(&rk->clients, c, link);
	rk->nclients--;
	offer_feed_detach(c->fc);
	bufferevent_free(c->bev);
	free(c);
}

static struct client *
client_find(struct ranker *rk, uint32_t id)
{
	struct client *c;

	TAILQ_FOREACH(c, &rk->clients, link)
		if (c->id == id)
			return c;
	return NULL;
}

static void
reply(struct client *c, unsigned type, uint32_t id, const void *payload,
    uint32_t len)
{
	uint8_t hdr[WIRE_HDR_LEN];

	wire_encode(hdr, type, id, payload != NULL ? len : 0);
	bufferevent_write(c->bev, hdr, sizeof(hdr));
	if (payload != NULL && len > 0)
		bufferevent_write(c->bev, payload, len);
}

/* The pool's load, in this process's stats block for /metrics. */
static void
count_load(struct ranker *rk)
{
	unsigned queued, running;

	pool_load(rk->pool, &queued, &running);
	stats_gauge_set(&rk->st->ranker_queue, (int64_t)(queued + running));
}

static void
reply_busy(struct client *c, uint32_t id)
{
	reply(c, WIRE_BUSY, id, NULL, 0);
	stats_add(&c->rk->st->ranker_busy_sent, 1);
}

/*
 * PONG: "1" with a snapshot to rank from, "0" while loading (the workers'
 * /readyz waits for neither: see rankc.c), then the pool's load.
 */
static void
reply_pong(struct client *c, uint32_t id)
{
	struct ranker *rk = c->rk;
	struct snapshot *s;
	unsigned queued, running;
	char buf[64];
	int n;

	if ((s = snap_holder_get(&rk->snaps)) != NULL)
		snap_unref(s);
	pool_load(rk->pool, &queued, &running);
	n = snprintf(buf, sizeof(buf), "%c %u %u %u %llu", s != NULL ? '1' :
	    '0', queued, running, pool_threads(rk->pool),
	    (unsigned long long)rk->cfg->ranker_queue_size);
	reply(c, WIRE_PONG, id, buf, (uint32_t)n);
}

/* A job for the frame of header h, its payload taken from in. */
static struct pool_job *
job_new(struct client *c, const struct wire_hdr *h, struct evbuffer *in)
{
	struct pool_job *job;

	if ((job = calloc(1, sizeof(*job))) == NULL ||
	    (h->len > 0 && (job->req = malloc(h->len)) == NULL)) {
		free(job);
		evbuffer_drain(in, h->len);
		return NULL;
	}
	evbuffer_remove(in, job->req, h->len);
	job->req_len = h->len;
	job->client = c->id;
	job->id = h->id;
	job->type = h->type;
	job->deadline_us = util_now_us() +
	    c->rk->cfg->ranker_timeout_ms * 1000;
	return job;
}

/* The offer feed cut this worker off: it reconnects and catches up. */
static void
feed_overflow(void *arg)
{
	client_free(arg);
}

/* FEED_SUB: relay the node's offer feed on this connection, from the
 * offer id it names (again on a second one: a worker starting over). */
static int
subscribe(struct client *c, const struct wire_hdr *h, struct evbuffer *in)
{
	int64_t since;
	const char *p = h->len > 0 ? (const char *)evbuffer_pullup(in,
	    (ev_ssize_t)h->len) : "";
	bool ok = p != NULL && feed_wire_int_parse(p, h->len, &since) &&
	    since >= -1;

	evbuffer_drain(in, h->len);
	if (!ok)
		return -1;
	offer_feed_detach(c->fc);
	if ((c->fc = offer_feed_attach(c->rk->feed, c->bev, since,
	    feed_overflow, c)) == NULL) {
		log_warn("worker connection %u: cannot relay the offer feed; "
		    "closing it (the worker reconnects)", c->id);
		return -1;
	}
	return 0;
}

/* The frame's header is drained, its payload is next in in. */
static int
submit(struct client *c, const struct wire_hdr *h, struct evbuffer *in)
{
	struct pool_job *job;

	if (h->type == WIRE_PING && h->len == 0) {
		reply_pong(c, h->id);
		return 0;
	}
	if (h->type == WIRE_FEED_SUB)
		return subscribe(c, h, in);
	if (h->type != WIRE_NEARBY && h->type != WIRE_SUGGEST &&
	    h->type != WIRE_TAGS)
		return -1;
	if ((job = job_new(c, h, in)) == NULL) {
		reply_busy(c, h->id);
		return 0;
	}
	if (pool_submit(c->rk->pool, job) != 0) {
		pool_job_free(job);
		reply_busy(c, h->id);
		return 0;
	}
	c->inflight++;
	count_load(c->rk);
	return 0;
}

static void
on_client_read(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t raw[WIRE_HDR_LEN];
	struct wire_hdr h;
	int st;

	while (evbuffer_copyout(in, raw, sizeof(raw)) == (ssize_t)sizeof(raw)) {
		st = wire_decode(raw, sizeof(raw), RANKER_MAX_PAYLOAD, &h);
		if (st != WIRE_OK) {
			log_warnx("closing connection %u: %s", c->id,
			    wire_strerror(st));
			client_free(c);
			return;
		}
		if (evbuffer_get_length(in) < WIRE_HDR_LEN + (size_t)h.len)
			return;
		evbuffer_drain(in, WIRE_HDR_LEN);
		if (submit(c, &h, in) != 0) {
			log_warnx("closing connection %u: unexpected message "
			    "type %u", c->id, h.type);
			client_free(c);
			return;
		}
	}
}

static void
on_client_event(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		client_free(c);
}

static void
on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct ranker *rk = arg;
	struct client *c;

	(void)lev;
	(void)sa;
	(void)salen;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->bev = bufferevent_socket_new(rk->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		log_warn("cannot take a worker connection");
		free(c);
		close(fd);
		return;
	}
	if (++rk->next_client == 0)
		rk->next_client = 1;
	c->id = rk->next_client;
	c->rk = rk;
	TAILQ_INSERT_TAIL(&rk->clients, c, link);
	rk->nclients++;
	bufferevent_setcb(c->bev, on_client_read, NULL,
	    on_client_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* A pool thread finished jobs: answer them on their connections. */
static void
on_wake(evutil_socket_t fd, short ev, void *arg)
{
	struct ranker *rk = arg;
	struct pool_job *job, *next;
	struct client *c;
	char buf[64];

	(void)ev;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	for (job = pool_collect(rk->pool); job != NULL; job = next) {
		next = job->next;
		if ((c = client_find(rk, job->client)) != NULL) {
			c->inflight--;
			if (job->reply == WIRE_BUSY)
				reply_busy(c, job->id);
			else
				reply(c, job->reply, job->id, job->resp,
				    job->resp_len);
		}
		pool_job_free(job);
	}
	count_load(rk);
}

static void
drain_tick(evutil_socket_t fd, short ev, void *arg)
{
	struct ranker *rk = arg;

	(void)fd;
	(void)ev;
	if (rk->nclients == 0 ||
	    util_now_ms() - rk->drain_started_ms >= rk->cfg->shutdown_timeout_ms)
		event_base_loopbreak(rk->base);
}

static void
ranker_drain(struct ranker *rk, const char *why)
{
	struct timeval tv = { 0, DRAIN_TICK_MS * 1000 };
	struct client *c;

	if (rk->draining)
		return;
	rk->draining = true;
	rk->drain_started_ms = util_now_ms();
	log_info("draining (%s): %u connections", why, rk->nclients);
	if (rk->lev != NULL) {
		evconnlistener_free(rk->lev);   /* this process's copy only */
		rk->lev = NULL;
	}
	/* each worker moves to the next ranker and then closes this
	 * connection; what it sends meanwhile is still answered */
	TAILQ_FOREACH(c, &rk->clients, link)
		reply(c, WIRE_GOAWAY, 0, NULL, 0);
	rk->drain_tick = event_new(rk->base, -1, EV_PERSIST, drain_tick, rk);
	if (rk->drain_tick == NULL || event_add(rk->drain_tick, &tv) == -1)
		event_base_loopbreak(rk->base);
}

static void
life_drain(void *arg, const char *why)
{
	ranker_drain(arg, why);
}

static void
life_quit(void *arg)
{
	struct ranker *rk = arg;

	event_base_loopbreak(rk->base);
}

static const struct child_life_ops ranker_life = {
	.drain = life_drain,
	.quit = life_quit,
	.reopen = NULL,             /* the log file is all it has */
};

/*
 * The first snapshot is there (or the database is not), and the offer
 * feed's first connection is up (or refused): open for work, so that a
 * reload's workers move to a ranker that relays offers at once.
 */
static void
ranker_open(struct ranker *rk)
{
	struct snapshot *s;

	if (!rk->loader_settled || !rk->feed_settled || rk->draining)
		return;
	if (evconnlistener_enable(rk->lev) == -1) {
		log_errorx("cannot start accepting workers");
		event_base_loopbreak(rk->base);
		return;
	}
	(void)child_life_ready(rk->life);   /* logged; the master decides */
	s = snap_holder_get(&rk->snaps);
	log_info("ready: %llu threads, queue of %llu, %s",
	    (unsigned long long)rk->cfg->ranker_threads,
	    (unsigned long long)rk->cfg->ranker_queue_size, s != NULL ?
	    "snapshot loaded" : "no snapshot yet (database not reachable)");
	if (s != NULL)
		snap_unref(s);
}

static void
on_settled(evutil_socket_t fd, short ev, void *arg)
{
	struct ranker *rk = arg;
	char buf[8];

	(void)ev;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	event_del(rk->settle_ev);
	rk->loader_settled = true;
	ranker_open(rk);
}

/* The feed's first attempt is over; told from its own callbacks, so
 * opened on the loop's next turn. */
static void
on_feed_settled(evutil_socket_t fd, short ev, void *arg)
{
	struct ranker *rk = arg;

	(void)fd;
	(void)ev;
	rk->feed_settled = true;
	ranker_open(rk);
}

static void
feed_settled(void *arg)
{
	struct ranker *rk = arg;

	event_active(rk->feed_settle_ev, EV_TIMEOUT, 1);
}

/*
 * SCHED_IDLE (or nice) ranking threads yield to the workers only inside
 * the scheduler group they share: with autogroups (one per session, the
 * kernel's default), the group as a whole competes with PostgreSQL and
 * everything else at full weight, and its ranking makes the workers wait
 * behind them. A session of the ranker's own, at the same low priority,
 * makes ranking yield to the whole machine.
 */
static void
ranker_own_group(const struct ranker *rk)
{
	int n = (int)rk->cfg->ranker_nice, rc;

	if (n <= 0)
		return;
	if (n == UTIL_NICE_IDLE)
		n = 19;
	if ((rc = util_own_autogroup(n)) == -1)
		log_warn("cannot give the ranker a scheduler autogroup of its "
		    "own at nice %d; ranking competes with the workers' "
		    "group", n);
	else if (rc == 1)
		log_debug("own session and autogroup, nice %d", n);
}

static int
ranker_setup(struct ranker *rk)
{
	struct loader_args la;

	ranker_own_group(rk);
	if ((rk->base = event_base_new()) == NULL)
		return -1;
	if (pipe2(rk->wake, O_NONBLOCK | O_CLOEXEC) == -1 ||
	    pipe2(rk->settle, O_NONBLOCK | O_CLOEXEC) == -1) {
		log_error("pipe2()");
		return -1;
	}
	rk->pool = pool_new((unsigned)rk->cfg->ranker_threads,
	    (unsigned)rk->cfg->ranker_queue_size, (int)rk->cfg->ranker_nice,
	    rk->wake[1], &rk->snaps);
	if (rk->pool == NULL)
		return -1;
	la.conninfo = rk->cfg->db_conninfo;
	la.read_conninfo = rk->cfg->db_read_conninfo;
	la.max_lag_ms = rk->cfg->db_max_replica_lag_ms;
	la.holder = &rk->snaps;
	la.settled_fd = rk->settle[1];
	la.nice = (int)rk->cfg->ranker_nice;
	la.overlay_max = (uint32_t)rk->cfg->ranker_overlay_max;
	la.first_delay_ms = rk->cfg->snapshot_delay_ms;
	if ((rk->loader = loader_start(&la)) == NULL)
		return -1;
	loader_stats(rk->loader, rk->st);   /* its snapshots, for /metrics */
	rk->wake_ev = event_new(rk->base, rk->wake[0], EV_READ | EV_PERSIST,
	    on_wake, rk);
	rk->life = child_life_new(rk->base, rk->args->chan_fd, "ranker",
	    &ranker_life, rk);
	rk->settle_ev = event_new(rk->base, rk->settle[0], EV_READ |
	    EV_PERSIST, on_settled, rk);
	rk->feed_settle_ev = evtimer_new(rk->base, on_feed_settled, rk);
	if (rk->feed_settle_ev == NULL || (rk->feed = offer_feed_new(rk->base,
	    rk->cfg, rk->st, feed_settled, rk)) == NULL) {
		log_errorx("cannot set up the offer feed");
		return -1;
	}
	rk->lev = evconnlistener_new(rk->base, on_accept, rk,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_DISABLED, -1,
	    rk->args->ranker_listen_fd);
	if (rk->wake_ev == NULL || rk->life == NULL || rk->lev == NULL ||
	    rk->settle_ev == NULL || event_add(rk->settle_ev, NULL) == -1 ||
	    event_add(rk->wake_ev, NULL) == -1) {
		log_errorx("cannot set up the ranker's events");
		return -1;
	}
	return 0;
}

static void
ranker_teardown(struct ranker *rk)
{
	while (!TAILQ_EMPTY(&rk->clients))
		client_free(TAILQ_FIRST(&rk->clients));
	offer_feed_free(rk->feed);
	if (rk->feed_settle_ev != NULL)
		event_free(rk->feed_settle_ev);
	pool_free(rk->pool);
	loader_stop(rk->loader);
	snap_holder_fini(&rk->snaps);
	if (rk->lev != NULL)
		evconnlistener_free(rk->lev);
	if (rk->wake_ev != NULL)
		event_free(rk->wake_ev);
	child_life_free(rk->life);
	if (rk->drain_tick != NULL)
		event_free(rk->drain_tick);
	if (rk->settle_ev != NULL)
		event_free(rk->settle_ev);
	if (rk->base != NULL)
		event_base_free(rk->base);
	if (rk->wake[0] >= 0)
		close(rk->wake[0]);
	if (rk->wake[1] >= 0)
		close(rk->wake[1]);
	if (rk->settle[0] >= 0)
		close(rk->settle[0]);
	if (rk->settle[1] >= 0)
		close(rk->settle[1]);
	close(rk->args->chan_fd);
}

int
ranker_main(const struct child_args *a)
{
	struct ranker rk;
	int rc = EXIT_OK;

	memset(&rk, 0, sizeof(rk));
	rk.args = a;
	rk.cfg = a->cfg;
	rk.st = a->st;
	rk.wake[0] = rk.wake[1] = -1;
	rk.settle[0] = rk.settle[1] = -1;
	TAILQ_INIT(&rk.clients);
	snap_holder_init(&rk.snaps);
	if (ranker_setup(&rk) != 0)
		rc = EXIT_FATAL;
	else
		event_base_dispatch(rk.base);
	ranker_teardown(&rk);
	return rc;
}
