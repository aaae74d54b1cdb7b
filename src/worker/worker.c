/*
 * worker.c: a worker's life: set up the loop, the HTTP server and the
 * ranker client, tell the master it is ready, serve, and drain on request
 * (the master's channel and the signals: runtime/child_life.c).
 *
 * Warming up: a new worker connects to the database and the ranker before
 * it accepts its first connection and reports ready, for up to WARM_MAX_MS;
 * on a reload the old worker of its slot keeps accepting meanwhile, so no
 * client meets a worker that cannot answer yet. Past WARM_MAX_MS it serves
 * anyway (503 unavailable, degraded ranking) and says what it misses.
 *
 * Draining (a reload's old generation, or a stop): stop accepting at once
 * (the master keeps the listener, so queued connections go to the new
 * worker of this slot); answer in-flight and newly arriving requests on
 * open connections with "Connection: close"; close a connection only once
 * it has been idle for a grace period (closing one that just got its answer
 * races with the client's next request); exit when none is left, or at
 * shutdown_timeout with whatever remains cut.
 *
 * What the worker serves comes in a struct worker_app (worker.h): the
 * routes, the statements, and hooks at its start, drain and exit.
 */
#include "worker/worker.h"
#include "runtime/http.h"
#include "runtime/rankc.h"
#include "runtime/pg.h"
#include "runtime/cache.h"
#include "runtime/citymodel.h"
#include "runtime/upstream.h"
#include "runtime/feed.h"
#include "runtime/child_life.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#define DRAIN_TICK_MS   20
#define IDLE_GRACE_MS   1000
#define WARM_TICK_MS    10
#define WARM_MAX_MS     3000
/*
 * The time slice a worker asks for (the kernel's minimum, 100 us): from
 * Linux 6.12 the EEVDF scheduler lets a waking thread with a shorter
 * slice preempt one with a longer slice, so a loop that sleeps most of
 * the time runs at once when a socket wakes it, where it would otherwise
 * wait up to the default slice (0.75 ms times 1 + log2 of the CPUs)
 * behind a load client or a busy neighbour. Older kernels ignore it.
 */
#define WORKER_SLICE_NS 100000u

bool
worker_ranker_up(const struct worker *w)
{
	return w->rankc != NULL && rankc_up(w->rankc);
}

/* Some path to the data works: the primary, or the replicas. */
bool
worker_db_up(const struct worker *w)
{
	return (w->pg != NULL && pg_pool_up(w->pg)) ||
	    (w->pg_read != NULL && pg_pool_up(w->pg_read));
}

struct pg_pool *
worker_read_pool(struct worker *w)
{
	bool replica = w->pg_read != NULL && pg_pool_up(w->pg_read);

	stats_add(&w->st->reads_by[replica ? 1 : 0], 1);
	return replica ? w->pg_read : w->pg;
}

struct pg_pool *
worker_fresh_pool(struct worker *w, uint64_t *min_lsn)
{
	uint64_t lsn;

	*min_lsn = 0;
	if (w->pg_read != NULL && feed_change_lsn(w->feed, &lsn) &&
	    pg_pool_has(w->pg_read, lsn)) {
		stats_add(&w->st->reads_by[1], 1);
		*min_lsn = lsn;
		return w->pg_read;
	}
	stats_add(&w->st->reads_by[0], 1);
	return w->pg;
}

/* The primary's pool, and the replicas' when read_conninfo is set. */
static int
worker_pools(struct worker *w)
{
	const struct pg_counters primary = { &w->st->pg_queries,
	    &w->st->pg_errors, &w->st->pg_timeouts, &w->st->pg_up, NULL };
	const struct pg_counters replicas = { &w->st->pg_read_queries,
	    &w->st->pg_read_errors, &w->st->pg_read_timeouts,
	    &w->st->pg_read_up, w->st->replicas };
	char name[64];

	snprintf(name, sizeof(name), "placesd worker %u", w->args->slot);
	w->pg = pg_pool_new(w->base, w->cfg, w->cfg->db_conninfo, false,
	    &primary, w->app->statements, w->app->nstatements, name);
	if (w->pg == NULL)
		return -1;
	if (w->cfg->db_read_conninfo[0] == '\0')
		return 0;
	snprintf(name, sizeof(name), "placesd worker %u reads",
	    w->args->slot);
	w->pg_read = pg_pool_new(w->base, w->cfg, w->cfg->db_read_conninfo,
	    true, &replicas, w->app->statements, w->app->nstatements, name);
	return w->pg_read != NULL ? 0 : -1;
}

static void
drain_tick(evutil_socket_t fd, short ev, void *arg)
{
	struct worker *w = arg;
	uint64_t elapsed = util_now_ms() - w->drain_started_ms;
	uint64_t grace = w->cfg->keepalive_timeout_ms < IDLE_GRACE_MS ?
	    w->cfg->keepalive_timeout_ms : IDLE_GRACE_MS;

	(void)fd;
	(void)ev;
	if (elapsed >= grace)
		http_close_idle(w->http, grace);
	if (http_connections(w->http) == 0) {
		log_debug("drained");
		event_base_loopbreak(w->base);
		return;
	}
	if (elapsed >= w->cfg->shutdown_timeout_ms) {
		log_warnx("shutdown_timeout reached with %u connections open; "
		    "closing them", http_connections(w->http));
		http_log_connections(w->http);
		event_base_loopbreak(w->base);
	}
}

static void
worker_drain(struct worker *w, const char *why)
{
	struct timeval tv = { 0, DRAIN_TICK_MS * 1000 };

	if (w->draining)
		return;
	w->draining = true;
	w->drain_started_ms = util_now_ms();
	log_info("draining (%s): %u connections open", why,
	    http_connections(w->http));
	http_drain(w->http);
	w->app->drain(w);
	w->drain_tick = event_new(w->base, -1, EV_PERSIST, drain_tick, w);
	if (w->drain_tick == NULL || event_add(w->drain_tick, &tv) == -1) {
		log_warnx("cannot arm the drain timer; stopping now");
		event_base_loopbreak(w->base);
	}
}

static void
life_drain(void *arg, const char *why)
{
	worker_drain(arg, why);
}

static void
life_quit(void *arg)
{
	struct worker *w = arg;

	w->exit_code = EXIT_OK;
	w->draining = true;
	event_base_loopbreak(w->base);
}

/* The log file is reopened already (child_life.c): the access log too. */
static void
life_reopen(void *arg)
{
	struct worker *w = arg;

	http_reopen_access_log(w->http);
}

static const struct child_life_ops worker_life = {
	.drain = life_drain,
	.quit = life_quit,
	.reopen = life_reopen,
};

/*
 * The changelist folds the add/remove pairs that pausing and resuming each
 * request make into one epoll_ctl, or none. Its caveat (an fd closed and
 * its number reused before the loop runs) is covered where it could arise:
 * the database pool frees a connection's event before libpq may reuse its
 * socket's number.
 */
static struct event_base *
worker_base_new(void)
{
	struct event_config *ec = event_config_new();
	struct event_base *base;

	if (ec == NULL)
		return NULL;
	event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(ec);
	event_config_free(ec);
	return base;
}

/* Accepts and reports ready: the end of the warm-up. */
static void
worker_serve(struct worker *w)
{
	bool db = worker_db_up(w), ranker = worker_ranker_up(w);

	if (w->warm_tick != NULL) {
		event_free(w->warm_tick);
		w->warm_tick = NULL;
	}
	if (w->draining)
		return;
	if (http_start(w->http, w->args->listen_fd) != 0) {
		w->exit_code = EXIT_FATAL;
		event_base_loopbreak(w->base);
		return;
	}
	w->serving = true;
	if (!db)
		log_warnx("serving after %llums without the database%s: those "
		    "requests get 503 until it is back",
		    (unsigned long long)(util_now_ms() - w->warm_started_ms),
		    ranker ? "" : " and the ranker");
	else if (!ranker)
		/* at the start: its first snapshot takes a while to load, and
		 * the ranker client warns if it never comes (rankc.c) */
		log_info("serving after %llums before the ranker answers: "
		    "/v1/nearby answers degraded and /readyz 503 until it does",
		    (unsigned long long)(util_now_ms() - w->warm_started_ms));
	if (child_life_ready(w->life) != 0)
		worker_drain(w, "no control channel");
	else
		log_debug("serving");
}

static void
warm_tick(evutil_socket_t fd, short ev, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)ev;
	if ((worker_db_up(w) && worker_ranker_up(w)) ||
	    util_now_ms() - w->warm_started_ms >= WARM_MAX_MS)
		worker_serve(w);
}

static int
worker_warm_up(struct worker *w)
{
	struct timeval tv = { 0, WARM_TICK_MS * 1000 };

	w->warm_started_ms = util_now_ms();
	w->warm_tick = event_new(w->base, -1, EV_PERSIST, warm_tick, w);
	if (w->warm_tick == NULL || event_add(w->warm_tick, &tv) == -1) {
		log_errorx("cannot arm the warm-up timer");
		return -1;
	}
	return 0;
}

static int
worker_setup(struct worker *w)
{
	if ((w->base = worker_base_new()) == NULL) {
		log_errorx("event_base_new() failed");
		return -1;
	}
	if ((w->life = child_life_new(w->base, w->args->chan_fd, "worker",
	    &worker_life, w)) == NULL) {
		log_errorx("cannot set up the control events");
		return -1;
	}
	/* the loop runs in bursts of well under a millisecond: a waking
	 * worker should not wait behind a load client's or a neighbour's
	 * full time slice (see WORKER_SLICE_NS) */
	if (util_short_slice(WORKER_SLICE_NS) == -1)
		log_debug("sched_setattr() refused a %u us slice: %s; the "
		    "kernel's default slice stays", WORKER_SLICE_NS / 1000,
		    strerror(errno));
	w->rankc = rankc_new(w->base, w->cfg, w->st);
	if (w->rankc == NULL)
		return -1;
	if (worker_pools(w) != 0) {
		log_errorx("cannot set up the database pools");
		return -1;
	}
	w->cache = cache_new(w->cfg->cache_max_entries, w->cfg->cache_ttl_ms,
	    w->st);
	w->upstream = upstream_new(w->base, w->cfg, w->st);
	w->feed = feed_new(w->base, w->cfg, w->st, w->cache, w->rankc);
	w->model = cm_new(w->cfg, w->st);
	if (w->pg == NULL || w->cache == NULL || w->upstream == NULL ||
	    w->feed == NULL || w->model == NULL) {
		log_errorx("cannot set up the database pool, the cache, the "
		    "events service client or the offer feed");
		return -1;
	}
	cm_set_feed(w->model, w->feed);
	cm_set_pool(w->model, w->pg);
	feed_set_model(w->feed, w->model);
	if (w->app->start(w) != 0) {
		log_errorx("cannot set up what the worker serves");
		return -1;
	}
	if ((w->http = http_new(w->base, w->cfg, w->st, w, w->app->routes,
	    w->app->nroutes)) == NULL)
		return -1;
	return worker_warm_up(w);
}

static void
worker_teardown(struct worker *w)
{
	http_shutdown(w->http);
	feed_free(w->feed);
	w->app->free(w);
	cm_free(w->model);
	pg_pool_free(w->pg);
	pg_pool_free(w->pg_read);
	cache_free(w->cache);
	upstream_free(w->upstream);
	rankc_free(w->rankc);
	if (w->drain_tick != NULL)
		event_free(w->drain_tick);
	if (w->warm_tick != NULL)
		event_free(w->warm_tick);
	child_life_free(w->life);
	if (w->base != NULL)
		event_base_free(w->base);   /* runs pending bufferevent frees */
	http_free(w->http);
	close(w->args->chan_fd);
}

int
worker_main(const struct child_args *a, const struct worker_app *app)
{
	struct worker w;

	memset(&w, 0, sizeof(w));
	w.args = a;
	w.app = app;
	w.cfg = a->cfg;
	w.stats = a->stats;
	w.st = a->st;
	w.exit_code = EXIT_OK;
	if (worker_setup(&w) != 0) {
		worker_teardown(&w);
		return EXIT_FATAL;
	}
	event_base_dispatch(w.base);
	worker_teardown(&w);
	return w.exit_code;
}
