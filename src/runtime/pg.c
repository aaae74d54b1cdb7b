/*
 * pg.c: the worker's PostgreSQL pool (pg.h), by the rules of
 * docs/design.md, "The worker's loop":
 *  - a connection is opened by the connector (pgconn.h), then has one
 *    event, always on the current PQsocket(): EV_READ|EV_PERSIST, plus
 *    EV_WRITE only while PQflush() has more;
 *  - PQconnectPoll applies no connect_timeout: a deadline does, the
 *    connector's, then what is left of it on the connection's timer until
 *    the statements are prepared, so a server that accepts the connection
 *    and then never answers cannot hold it in setup forever;
 *  - PQgetResult only when !PQisBusy(): it blocks otherwise;
 *  - a query past its deadline is answered 504 at once and its connection
 *    dropped and reopened (PQcancel would block), with the server's own
 *    statement_timeout and client_connection_check_interval ending the
 *    orphaned statement;
 *  - a lost connection is reopened at once, then with a jittered back-off
 *    from 50 ms to 500 ms; when the pool has no usable connection it is
 *    DOWN and queries fail at once; the first connection back kicks the
 *    others. So the pool is usable again at most ~600 ms (the cap plus its
 *    jitter) plus one connect after the server accepts connections;
 *  - a connection idle for PROBE_IDLE_MS is asked "SELECT 1" with the
 *    query deadline: a backend that stopped answering, or a peer that
 *    vanished, is replaced before a query finds it, and a hung server
 *    makes the pool DOWN (and /readyz 503) without any traffic; TCP
 *    keepalives (unless the conninfo sets its own) back that up.
 */
#include "runtime/pg.h"
#include "runtime/backoff.h"
#include "runtime/pgconn.h"
#include "common/config.h"
#include "common/json_text.h"
#include "common/log.h"
#include "common/stats.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#define CONNECT_TIMEOUT_MS  2000    /* connect to a host and authenticate;
                                       then prepare */
#define BACKOFF_FIRST_MS    50
#define BACKOFF_MAX_MS      500     /* bounds the recovery after an outage */
#define PROBE_IDLE_MS       5000    /* idle this long: a liveness probe */
#define LAG_POLL_MIN_MS     50      /* a replica's lag, read this often: */
#define LAG_POLL_MAX_MS     1000    /* max_replica_lag / 2 within these */
#define LAG_UNKNOWN         (-1)

/*
 * Whether a replica has replayed all it received (a primary has), and
 * the age in ms of the last transaction it replayed (a standby that
 * cannot say is far behind). Neither alone is its lag: the age grows on
 * a standby of an idle primary, and a standby under a steady stream of
 * writes is never quite caught up. So a connection's lag is 0 while
 * caught up, else the smaller of that age and the time since it last
 * saw its replica caught up (lag_take).
 */
#define LAG_SQL \
	"SELECT NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() IS NOT " \
	"DISTINCT FROM pg_last_wal_replay_lsn(), coalesce((extract(epoch " \
	"FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000)" \
	"::bigint, 2147483647), CASE WHEN pg_is_in_recovery() THEN " \
	"coalesce(pg_last_wal_replay_lsn(), '0/0')::text END"

enum conn_state {
	CS_DOWN,
	CS_CONNECTING,
	CS_PREPARING,
	CS_IDLE,
	CS_BUSY,                    /* a query in flight */
	CS_PROBING,                 /* the liveness probe in flight */
};

struct pg_conn;

struct pg_query {
	struct pg_pool *pool;
	struct pg_conn *conn;       /* running on, or NULL while queued */
	uint64_t min_lsn;           /* only on a replica replayed this far */
	int stmt;
	int nparams;
	char **params;
	pg_done_fn done;
	void *arg;
	bool cancelled;
	PGresult *res;              /* the first result */
	struct event *deadline;
	TAILQ_ENTRY(pg_query) link;
};

struct pg_conn {
	struct pg_pool *pool;
	unsigned idx;
	PGconn *pg;
	enum conn_state state;
	struct event *ev;           /* on PQsocket() */
	short armed;
	struct pgconn *pc;          /* connecting */
	struct event *timer;        /* setup deadline or reconnect delay */
	int preparing;              /* next statement to prepare */
	struct pg_query *q;         /* in flight */
	uint64_t backoff_ms;
	/* on a replicas pool */
	int64_t lag_ms;             /* the last reading, or LAG_UNKNOWN */
	uint64_t caught_up_ms;      /* when it last read "caught up", or 0 */
	uint64_t replay_lsn;        /* replayed up to (PG_LSN_ALL: a primary) */
	uint64_t lag_due_ms;        /* when to read it again */
	struct stats_replica *rep;  /* its replica's /metrics slot, or NULL */
};

TAILQ_HEAD(pg_queue, pg_query);

struct pg_pool {
	struct event_base *base;
	const struct config *cfg;
	const char *conninfo;
	bool replicas;              /* takes no statement marked primary */
	uint64_t lag_poll_ms;       /* replicas: how often each reads its lag */
	bool behind;                /* replicas: none within the bound */
	struct pg_counters ctr;
	const struct pg_statement *stmts;
	size_t nstmts;
	char options[128];
	char app_name[64];
	struct pg_conn *conns;
	unsigned nconns;
	struct pg_queue queue;
	unsigned queued;
	bool down;                  /* failed and nothing usable since */
	uint64_t down_ms;           /* when it went down */
	bool freeing;
};

static void conn_start(struct pg_conn *c);
static void conn_io(evutil_socket_t fd, short ev, void *arg);
static void dispatch(struct pg_pool *p);

const char *
pg_status_name(enum pg_status st)
{
	switch (st) {
	case PG_OK: return "ok";
	case PG_DOWN: return "unavailable";
	case PG_OVERLOADED: return "overloaded";
	case PG_TIMEOUT: return "deadline_exceeded";
	default: return "failed";
	}
}

/* ---- queries -------------------------------------------------------------- */

static void
query_free(struct pg_query *q)
{
	int i;

	if (q->deadline != NULL)
		event_free(q->deadline);
	for (i = 0; i < q->nparams; i++)
		free(q->params[i]);
	free(q->params);
	if (q->res != NULL)
		PQclear(q->res);
	free(q);
}

/* Answers the caller (unless it cancelled) and frees the query. */
static void
query_finish(struct pg_query *q, enum pg_status st, const char *msg)
{
	const struct pg_counters *ctr = &q->pool->ctr;

	stats_add(ctr->queries, 1);
	if (st == PG_TIMEOUT)
		stats_add(ctr->timeouts, 1);
	else if (st != PG_OK)
		stats_add(ctr->errors, 1);
	if (!q->cancelled)
		q->done(q->arg, st, st == PG_OK ? q->res : NULL, msg);
	query_free(q);
}

static void
queue_remove(struct pg_pool *p, struct pg_query *q)
{
	TAILQ_REMOVE(&p->queue, q, link);
	p->queued--;
}

static uint64_t pool_replayed(const struct pg_pool *p);

/* What waits for a replica replayed further than any connection's: it
 * fails now (and runs again on the primary). */
static void
fail_stranded(struct pg_pool *p)
{
	uint64_t best = pool_replayed(p);
	struct pg_query *q, *next;

	for (q = TAILQ_FIRST(&p->queue); q != NULL; q = next) {
		next = TAILQ_NEXT(q, link);
		if (q->min_lsn <= best)
			continue;
		queue_remove(p, q);
		query_finish(q, PG_DOWN, "no replica has replayed far enough");
	}
}

static void
fail_queue(struct pg_pool *p, enum pg_status st, const char *msg)
{
	struct pg_query *q;

	while ((q = TAILQ_FIRST(&p->queue)) != NULL) {
		queue_remove(p, q);
		query_finish(q, st, msg);
	}
}

/* ---- connection events ----------------------------------------------------- */

static void
arm(struct pg_conn *c, short what, event_callback_fn cb)
{
	int fd;

	/* free first: libpq may have closed the old fd, and its number
	 * may already belong to the new socket */
	if (c->ev != NULL) {
		event_free(c->ev);
		c->ev = NULL;
	}
	c->armed = 0;
	if ((fd = PQsocket(c->pg)) < 0)
		return;
	c->ev = event_new(c->pool->base, fd, what, cb, c);
	if (c->ev != NULL && event_add(c->ev, NULL) == 0)
		c->armed = what;
}

static void
timer_in(struct pg_conn *c, uint64_t ms)
{
	struct timeval tv = util_tv(ms);

	evtimer_add(c->timer, &tv);
}

static bool
pool_any_usable(const struct pg_pool *p)
{
	unsigned i;

	for (i = 0; i < p->nconns; i++) {
		switch (p->conns[i].state) {
		case CS_IDLE:
		case CS_BUSY:
		case CS_PROBING:
			return true;
		default:
			break;
		}
	}
	return false;
}

/* On a replicas pool: its replica is within max_replica_lag. */
static bool
conn_fresh(const struct pg_conn *c)
{
	return !c->pool->replicas || (c->lag_ms != LAG_UNKNOWN &&
	    (uint64_t)c->lag_ms <= c->pool->cfg->db_max_replica_lag_ms);
}

/* A connection that may take queries. */
static bool
pool_any_serving(const struct pg_pool *p)
{
	unsigned i;

	for (i = 0; i < p->nconns; i++) {
		const struct pg_conn *c = &p->conns[i];

		if ((c->state == CS_IDLE || c->state == CS_BUSY ||
		    c->state == CS_PROBING) && conn_fresh(c))
			return true;
	}
	return false;
}

/* The furthest a connection that may take queries has replayed (0:
 * none may). */
static uint64_t
pool_replayed(const struct pg_pool *p)
{
	uint64_t best = 0;
	unsigned i;

	for (i = 0; i < p->nconns; i++) {
		const struct pg_conn *c = &p->conns[i];

		if ((c->state == CS_IDLE || c->state == CS_BUSY ||
		    c->state == CS_PROBING) && conn_fresh(c) &&
		    c->replay_lsn > best)
			best = c->replay_lsn;
	}
	return best;
}

/* Connected, with a lag reading over the bound: the replicas are behind
 * (not merely starting, when no connection has read its lag yet). */
static bool
pool_behind(const struct pg_pool *p)
{
	unsigned i;

	if (!p->replicas || pool_any_serving(p))
		return false;
	for (i = 0; i < p->nconns; i++)
		if (p->conns[i].pg != NULL &&
		    p->conns[i].lag_ms != LAG_UNKNOWN)
			return true;
	return false;
}

static void fail_queue(struct pg_pool *p, enum pg_status st,
    const char *msg);
static void fail_stranded(struct pg_pool *p);

/* The up gauge, and the replicas falling behind or catching up: while
 * they are behind, what waits for them fails at once (the reads run
 * again on the primary). */
static void
update_up_gauge(struct pg_pool *p)
{
	bool behind = pool_behind(p);

	stats_gauge_set(p->ctr.up, pool_any_serving(p) ? 1 : 0);
	if (p->replicas)
		fail_stranded(p);
	if (behind == p->behind)
		return;
	p->behind = behind;
	if (!behind && !pool_any_serving(p))
		return;     /* no connection left: conn_drop said so */
	if (behind) {
		log_warnx("read replicas are behind by more than "
		    "max_replica_lag (%llu ms): reads go to the primary until "
		    "one catches up", (unsigned long long)
		    p->cfg->db_max_replica_lag_ms);
		fail_queue(p, PG_DOWN, "the read replicas are behind");
	} else {
		log_info("read replicas within max_replica_lag again");
	}
}

/*
 * The connection is gone: fail what ran on it, reopen it later. When no
 * connection is left usable the pool is DOWN: queued queries fail now.
 */
static void conn_drop(struct pg_conn *c, const char *reason, bool failed);

static void
conn_lost(struct pg_conn *c, const char *reason)
{
	conn_drop(c, reason, true);
}

/*
 * failed: the connection broke or could not be made, which counts toward
 * DOWN; a connection the pool closes itself (a query past its deadline)
 * does not: the database may be fine.
 */
static void
conn_drop(struct pg_conn *c, const char *reason, bool failed)
{
	struct pg_pool *p = c->pool;
	struct pg_query *q = c->q;
	uint64_t delay;
	char why[256];

	/* reason may be libpq's own message, gone with PQfinish(); one log
	 * line per event */
	pgconn_oneline(why, sizeof(why), reason);

	pgconn_cancel(c->pc);
	c->pc = NULL;
	if (c->ev != NULL) {
		event_free(c->ev);
		c->ev = NULL;
	}
	evtimer_del(c->timer);
	if (c->pg != NULL) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
	c->q = NULL;
	c->state = CS_DOWN;
	if (q != NULL) {
		q->conn = NULL;
		query_finish(q, PG_DOWN, "the database connection was lost");
	}
	if (p->freeing)
		return;
	if (failed && !pool_any_usable(p)) {
		if (!p->down) {
			log_warnx("%s unavailable: %s; %s until a connection "
			    "works again", p->replicas ? "read replicas" :
			    "database", why, p->replicas ? "reads go to the "
			    "primary" : "queries fail with 503");
			p->down_ms = util_now_ms();
		}
		p->down = true;
		fail_queue(p, PG_DOWN, "the database is unavailable");
	} else {
		log_debug("database connection %u lost: %s", c->idx, why);
	}
	update_up_gauge(p);
	/* the first retry is immediate, then back off with +-20% jitter */
	delay = c->backoff_ms;
	if (delay > 0)
		delay = backoff_jitter(delay, 20, (unsigned long)random());
	c->backoff_ms = backoff_next(c->backoff_ms, BACKOFF_FIRST_MS,
	    BACKOFF_MAX_MS);
	timer_in(c, delay);
}

/* Reopen the others at once when one connection succeeded after DOWN. */
static void
kick_others(struct pg_pool *p)
{
	unsigned i;

	for (i = 0; i < p->nconns; i++) {
		struct pg_conn *o = &p->conns[i];

		if (o->state == CS_DOWN) {
			evtimer_del(o->timer);
			o->backoff_ms = 0;
			conn_start(o);
		}
	}
}

static void probe_start(struct pg_conn *c);

/* How long a connection idles before its probe. */
static uint64_t
idle_ms(const struct pg_conn *c)
{
	return c->pool->replicas ? c->pool->lag_poll_ms : PROBE_IDLE_MS;
}

/* The /metrics slot of the replica c reached (host:port), claimed on
 * first sight; NULL when the worker already names STATS_REPLICAS. */
static struct stats_replica *
replica_slot(struct pg_pool *p, PGconn *pg)
{
	char name[sizeof(p->ctr.replicas[0].name)];
	struct stats_replica *r;
	unsigned i;

	snprintf(name, sizeof(name), "%s:%s", PQhost(pg), PQport(pg));
	for (i = 0; i < STATS_REPLICAS; i++) {
		r = &p->ctr.replicas[i];
		if (r->used && strcmp(r->name, name) == 0)
			return r;
	}
	for (i = 0; i < STATS_REPLICAS; i++) {
		r = &p->ctr.replicas[i];
		if (r->used)
			continue;
		memcpy(r->name, name, sizeof(name));
		stats_gauge_set(&r->lag_ms, LAG_UNKNOWN);
		__atomic_store_n(&r->used, 1, __ATOMIC_RELEASE);
		return r;
	}
	return NULL;
}

/* A lag reading (the probe's answer on a replicas pool; see LAG_SQL). */
static void
lag_take(struct pg_conn *c, const PGresult *r)
{
	bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	const char *done = ok ? pg_value(r, 0, 0) : NULL;
	const char *age = ok ? pg_value(r, 0, 1) : NULL;
	const char *lsn = ok ? pg_value(r, 0, 2) : NULL;
	uint64_t now = util_now_ms();

	if (ok)
		c->replay_lsn = lsn == NULL ? PG_LSN_ALL : pg_lsn_parse(lsn);
	if (done == NULL || age == NULL) {
		log_warnx("cannot read the lag of replica %s:%s: %s",
		    PQhost(c->pg), PQport(c->pg), ok ? "no value" :
		    PQresultErrorMessage(r));
		c->lag_ms = LAG_UNKNOWN;
	} else if (strcmp(done, "t") == 0) {
		c->caught_up_ms = now;
		c->lag_ms = 0;
	} else {
		c->lag_ms = strtoll(age, NULL, 10);
		if (c->caught_up_ms != 0 &&
		    (int64_t)(now - c->caught_up_ms) < c->lag_ms)
			c->lag_ms = (int64_t)(now - c->caught_up_ms);
	}
	if (c->rep != NULL) {
		stats_gauge_set(&c->rep->lag_ms, c->lag_ms);
		stats_gauge_set(&c->rep->behind, conn_fresh(c) ? 0 : 1);
	}
	update_up_gauge(c->pool);
}

static void
conn_ready(struct pg_conn *c)
{
	struct pg_pool *p = c->pool;
	bool was_down = p->down;

	timer_in(c, idle_ms(c));        /* replaces the setup deadline */
	c->state = CS_IDLE;
	c->backoff_ms = 0;
	if (p->down) {
		p->down = false;
		log_info("%s available again after %llu ms", p->replicas ?
		    "read replicas" : "database",
		    (unsigned long long)(util_now_ms() - p->down_ms));
	}
	update_up_gauge(p);
	arm(c, EV_READ | EV_PERSIST, conn_io);
	if (p->replicas) {
		/* no reads before its lag is known (LAG_UNKNOWN since
		 * conn_start) */
		c->rep = replica_slot(p, c->pg);
		probe_start(c);
	}
	if (was_down)
		kick_others(p);
	dispatch(p);
}

/* Prepares the statements one by one, then the connection is usable. */
static void
prepare_next(struct pg_conn *c)
{
	struct pg_pool *p = c->pool;
	const struct pg_statement *s;

	while ((size_t)c->preparing < p->nstmts && p->replicas &&
	    p->stmts[c->preparing].primary)
		c->preparing++;
	if ((size_t)c->preparing >= p->nstmts) {
		conn_ready(c);
		return;
	}
	s = &p->stmts[c->preparing];
	if (!PQsendPrepare(c->pg, s->name, s->sql, s->nparams, NULL)) {
		conn_lost(c, PQerrorMessage(c->pg));
		return;
	}
	c->preparing++;
}

static void
notice(void *arg, const PGresult *res)
{
	(void)arg;
	log_debug("database notice: %s", PQresultErrorMessage(res));
}

/* The connector's answer: prepare the statements on a ready connection. */
static void
connected(void *arg, PGconn *pg, enum pgconn_status st, const char *why)
{
	struct pg_conn *c = arg;

	c->pc = NULL;
	if (st != PGCONN_OK) {
		conn_lost(c, st == PGCONN_TIMEOUT ? "connect timed out" : why);
		return;
	}
	c->pg = pg;
	PQsetNoticeReceiver(c->pg, notice, c);
	c->state = CS_PREPARING;
	c->preparing = 0;
	/* preparing has a deadline of its own: connecting may have passed
	 * over silent hosts of a list, each with the whole of its own */
	timer_in(c, CONNECT_TIMEOUT_MS);
	arm(c, EV_READ | EV_PERSIST, conn_io);
	prepare_next(c);
}

static void update_io(struct pg_conn *c);

/* Idle for PROBE_IDLE_MS: is anyone there?  On a replicas pool, every
 * lag_poll_ms, idle or not: how far behind is it? */
static void
probe_start(struct pg_conn *c)
{
	if (c->pool->replicas)
		c->lag_due_ms = util_now_ms() + c->pool->lag_poll_ms;
	if (!PQsendQuery(c->pg, c->pool->replicas ? LAG_SQL : "SELECT 1")) {
		conn_lost(c, PQerrorMessage(c->pg));
		return;
	}
	c->state = CS_PROBING;
	timer_in(c, c->pool->cfg->db_query_timeout_ms);
	update_io(c);
}

/*
 * The connection's one timer: the setup deadline while connecting, the
 * reconnect delay while down, the idle time before a probe, the probe's
 * deadline. A query in flight has a deadline of its own.
 */
static void
conn_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct pg_conn *c = arg;

	(void)fd;
	(void)ev;
	switch (c->state) {
	case CS_CONNECTING:     /* the connector has the deadline */
		break;
	case CS_PREPARING:
		conn_lost(c, "no answer while preparing statements");
		break;
	case CS_DOWN:
		conn_start(c);
		break;
	case CS_IDLE:
		probe_start(c);
		break;
	case CS_PROBING:
		conn_lost(c, "no answer to a liveness probe within "
		    "query_timeout");
		break;
	case CS_BUSY:
		break;
	}
}

static void
conn_start(struct pg_conn *c)
{
	struct pg_pool *p = c->pool;
	const struct pgconn_opts o = {
		.conninfo = p->conninfo,
		.options = p->options,
		.app_name = p->app_name,
		.deadline_ms = CONNECT_TIMEOUT_MS,
		.nonblocking = true,
	};

	c->state = CS_CONNECTING;
	c->lag_ms = LAG_UNKNOWN;
	c->caught_up_ms = 0;
	c->replay_lsn = p->replicas ? 0 : PG_LSN_ALL;
	if ((c->pc = pgconn_start(p->base, &o, connected, c)) == NULL)
		conn_lost(c, "out of memory");
}

/* ---- running queries -------------------------------------------------------- */

static void
update_io(struct pg_conn *c)
{
	int f = PQflush(c->pg);
	short want;

	if (f < 0) {
		conn_lost(c, PQerrorMessage(c->pg));
		return;
	}
	want = EV_READ | EV_PERSIST | (f == 1 ? EV_WRITE : 0);
	if (want != c->armed)
		arm(c, want, conn_io);
}

/*
 * A failed query's status: statement_timeout is PG_TIMEOUT; a server
 * going away under it (57P01 admin_shutdown, 57P02 crash_shutdown, 57P03
 * cannot_connect_now) is PG_DOWN, as a lost connection is, and so is a
 * replica cancelling it for a conflict with recovery (40001): the read
 * may run again on the primary. Anything else is PG_FAILED.
 */
static enum pg_status
result_status(const struct pg_pool *p, const PGresult *r, const char **msg)
{
	const char *state;

	switch (PQresultStatus(r)) {
	case PGRES_TUPLES_OK:
	case PGRES_COMMAND_OK:
		return PG_OK;
	default:
		break;
	}
	*msg = PQresultErrorMessage(r);
	state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	if (state == NULL)
		return PG_FAILED;
	if (strcmp(state, "57014") == 0)
		return PG_TIMEOUT;
	if (strncmp(state, "57P0", 4) == 0 ||
	    (p->replicas && strcmp(state, "40001") == 0))
		return PG_DOWN;
	return PG_FAILED;
}

/* A query's whole answer arrived: hand it over, take the next one. */
static void
query_complete(struct pg_conn *c)
{
	struct pg_query *q = c->q;
	const char *msg = "no result";
	enum pg_status st;

	c->q = NULL;
	c->state = CS_IDLE;
	timer_in(c, idle_ms(c));
	/* a busy replica connection reads its lag between queries */
	if (c->pool->replicas && util_now_ms() >= c->lag_due_ms)
		probe_start(c);
	if (q == NULL)
		return;
	q->conn = NULL;
	if (q->deadline != NULL)
		evtimer_del(q->deadline);
	st = q->res != NULL ? result_status(c->pool, q->res, &msg) : PG_FAILED;
	if (st == PG_FAILED)
		log_warnx("query %s failed: %s", c->pool->stmts[q->stmt].name,
		    msg);
	query_finish(q, st, msg);
}

static void
conn_io(evutil_socket_t fd, short ev, void *arg)
{
	struct pg_conn *c = arg;
	PGnotify *n;

	(void)fd;
	if ((ev & EV_READ) && !PQconsumeInput(c->pg)) {
		conn_lost(c, PQerrorMessage(c->pg));
		return;
	}
	while ((n = PQnotifies(c->pg)) != NULL)
		PQfreemem(n);       /* the pool does not LISTEN */
	while (c->state == CS_PREPARING || c->state == CS_BUSY ||
	    c->state == CS_PROBING) {
		PGresult *r;

		if (PQisBusy(c->pg))
			break;          /* never PQgetResult while busy */
		if ((r = PQgetResult(c->pg)) == NULL) {
			if (c->state == CS_PREPARING) {
				prepare_next(c);
				if (c->state != CS_PREPARING)
					break;
				continue;
			}
			/* a probe's end too: the connection is idle again */
			query_complete(c);
			dispatch(c->pool);
			break;
		}
		if (c->state == CS_PREPARING) {
			if (PQresultStatus(r) != PGRES_COMMAND_OK) {
				log_errorx("cannot prepare %s: %s",
				    c->pool->stmts[c->preparing - 1].name,
				    PQresultErrorMessage(r));
				PQclear(r);
				conn_lost(c, "a statement did not prepare");
				return;
			}
			PQclear(r);
		} else if (c->q != NULL && c->q->res == NULL) {
			pg_compact_json(r, c->pool->stmts[c->q->stmt].json_cols);
			c->q->res = r;
		} else {
			if (c->state == CS_PROBING && c->pool->replicas)
				lag_take(c, r);
			PQclear(r);
		}
	}
	if (c->pg == NULL)
		return;
	if (PQstatus(c->pg) == CONNECTION_BAD) {
		conn_lost(c, PQerrorMessage(c->pg));
		return;
	}
	update_io(c);
}

static void
run_on(struct pg_conn *c, struct pg_query *q)
{
	struct pg_pool *p = c->pool;

	c->q = q;
	q->conn = c;
	c->state = CS_BUSY;
	if (!PQsendQueryPrepared(c->pg, p->stmts[q->stmt].name, q->nparams,
	    (const char *const *)q->params, NULL, NULL, 0)) {
		conn_lost(c, PQerrorMessage(c->pg));
		return;
	}
	update_io(c);
}

/* Each idle connection takes the first waiting query it may run (one
 * that needs a replica replayed further than its own waits for another). */
static void
dispatch(struct pg_pool *p)
{
	unsigned i;

	for (i = 0; i < p->nconns && !TAILQ_EMPTY(&p->queue); i++) {
		struct pg_conn *c = &p->conns[i];
		struct pg_query *q;

		if (c->state != CS_IDLE || !conn_fresh(c))
			continue;
		TAILQ_FOREACH(q, &p->queue, link)
			if (q->min_lsn <= c->replay_lsn)
				break;
		if (q == NULL)
			continue;
		queue_remove(p, q);
		run_on(c, q);
	}
}

/* The client-side deadline: answer now, drop the connection under it. */
static void
query_deadline(evutil_socket_t fd, short ev, void *arg)
{
	struct pg_query *q = arg;
	struct pg_conn *c = q->conn;

	(void)fd;
	(void)ev;
	if (c == NULL) {
		queue_remove(q->pool, q);
		query_finish(q, PG_TIMEOUT, "no database connection was free "
		    "before the query deadline");
		return;
	}
	/* answer first, then reconnect: PQcancel() would block */
	c->q = NULL;
	q->conn = NULL;
	query_finish(q, PG_TIMEOUT, "the query did not finish before its "
	    "deadline");
	c->backoff_ms = 0;
	conn_drop(c, "query deadline passed", false);
}

struct pg_query *
pg_query(struct pg_pool *p, int stmt, int nparams, const char *const *params,
    pg_done_fn done, void *arg, enum pg_status *st)
{
	return pg_query_at(p, 0, stmt, nparams, params, done, arg, st);
}

struct pg_query *
pg_query_at(struct pg_pool *p, uint64_t min_lsn, int stmt, int nparams,
    const char *const *params, pg_done_fn done, void *arg,
    enum pg_status *st)
{
	struct timeval tv;
	struct pg_query *q;
	int i;

	if (p->down || (p->replicas && (p->stmts[stmt].primary ||
	    !pool_any_serving(p)))) {
		*st = PG_DOWN;
		return NULL;
	}
	if (p->queued >= p->cfg->db_queue_size) {
		*st = PG_OVERLOADED;
		return NULL;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL ||
	    (q->params = calloc((size_t)nparams + 1, sizeof(char *))) == NULL) {
		free(q);
		*st = PG_OVERLOADED;
		return NULL;
	}
	q->pool = p;
	q->min_lsn = min_lsn;
	q->stmt = stmt;
	q->done = done;
	q->arg = arg;
	for (i = 0; i < nparams; i++) {
		q->nparams++;
		if (params[i] != NULL && (q->params[i] = strdup(params[i])) ==
		    NULL) {
			query_free(q);
			*st = PG_OVERLOADED;
			return NULL;
		}
	}
	if ((q->deadline = evtimer_new(p->base, query_deadline, q)) == NULL) {
		query_free(q);
		*st = PG_OVERLOADED;
		return NULL;
	}
	tv = util_tv(p->cfg->db_query_timeout_ms);
	evtimer_add(q->deadline, &tv);
	TAILQ_INSERT_TAIL(&p->queue, q, link);
	p->queued++;
	dispatch(p);
	*st = PG_OK;
	return q;
}

void
pg_cancel(struct pg_query *q)
{
	if (q == NULL)
		return;
	q->cancelled = true;
	if (q->conn == NULL) {
		queue_remove(q->pool, q);
		query_free(q);
	}
	/* running: its result is read and dropped, then the connection
	 * serves the next query */
}

bool
pg_pool_up(const struct pg_pool *p)
{
	return pool_any_serving(p);
}

bool
pg_pool_has(const struct pg_pool *p, uint64_t lsn)
{
	return pool_replayed(p) >= lsn;
}

uint64_t
pg_lsn_parse(const char *s)
{
	unsigned hi, lo;

	if (s == NULL || sscanf(s, "%X/%X", &hi, &lo) != 2)
		return 0;
	return (uint64_t)hi << 32 | lo;
}

struct pg_pool *
pg_pool_new(struct event_base *base, const struct config *cfg,
    const char *conninfo, bool replicas, const struct pg_counters *ctr,
    const struct pg_statement *stmts, size_t nstmts, const char *app_name)
{
	struct pg_pool *p;
	unsigned i;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->base = base;
	p->cfg = cfg;
	p->conninfo = conninfo;
	p->replicas = replicas;
	p->lag_poll_ms = cfg->db_max_replica_lag_ms / 2;
	if (p->lag_poll_ms < LAG_POLL_MIN_MS)
		p->lag_poll_ms = LAG_POLL_MIN_MS;
	if (p->lag_poll_ms > LAG_POLL_MAX_MS)
		p->lag_poll_ms = LAG_POLL_MAX_MS;
	p->ctr = *ctr;
	p->stmts = stmts;
	p->nstmts = nstmts;
	TAILQ_INIT(&p->queue);
	/* the server ends a statement at the deadline, and notices a client
	 * that dropped its connection within 100 ms */
	snprintf(p->options, sizeof(p->options), "-c statement_timeout=%llu "
	    "-c client_connection_check_interval=100",
	    (unsigned long long)cfg->db_query_timeout_ms);
	snprintf(p->app_name, sizeof(p->app_name), "%s", app_name);
	p->nconns = (unsigned)(replicas ? cfg->db_read_pool_size :
	    cfg->db_pool_size);
	if ((p->conns = calloc(p->nconns, sizeof(*p->conns))) == NULL) {
		free(p);
		return NULL;
	}
	for (i = 0; i < p->nconns; i++) {
		struct pg_conn *c = &p->conns[i];

		c->pool = p;
		c->idx = i;
		c->state = CS_DOWN;
		c->replay_lsn = replicas ? 0 : PG_LSN_ALL;
		c->lag_ms = LAG_UNKNOWN;
		if ((c->timer = evtimer_new(base, conn_timer, c)) == NULL) {
			pg_pool_free(p);
			return NULL;
		}
	}
	for (i = 0; i < p->nconns; i++)
		conn_start(&p->conns[i]);
	return p;
}

void
pg_pool_free(struct pg_pool *p)
{
	unsigned i;

	if (p == NULL)
		return;
	p->freeing = true;
	fail_queue(p, PG_DOWN, "the worker is stopping");
	for (i = 0; i < p->nconns; i++) {
		struct pg_conn *c = &p->conns[i];

		if (c->pg != NULL || c->ev != NULL || c->pc != NULL)
			conn_lost(c, "the worker is stopping");
		if (c->timer != NULL)
			event_free(c->timer);
	}
	free(p->conns);
	free(p);
}

int
pg_nrows(const PGresult *res)
{
	return PQntuples(res);
}

const char *
pg_value(const PGresult *res, int row, int col)
{
	if (row >= PQntuples(res) || col >= PQnfields(res) ||
	    PQgetisnull(res, row, col))
		return NULL;
	return PQgetvalue(res, row, col);
}

int
pg_length(const PGresult *res, int row, int col)
{
	return PQgetlength(res, row, col);
}

void
pg_compact_json(PGresult *res, unsigned cols)
{
	int row, col, nrows, ncols;
	char *buf = NULL, *nb;
	size_t cap = 0, len, n;

	if (cols == 0 || PQresultStatus(res) != PGRES_TUPLES_OK)
		return;
	nrows = PQntuples(res);
	ncols = PQnfields(res);
	for (col = 0; col < ncols && col < 32; col++) {
		if ((cols & PG_JSON_COL(col)) == 0)
			continue;
		for (row = 0; row < nrows; row++) {
			if (PQgetisnull(res, row, col))
				continue;
			len = (size_t)PQgetlength(res, row, col);
			if (len > cap) {
				if ((nb = realloc(buf, len)) == NULL) {
					log_warn("realloc() to compact JSON");
					continue;
				}
				buf = nb;
				cap = len;
			}
			n = json_compact(buf, PQgetvalue(res, row, col), len);
			/* copied into res's own storage */
			if (n < len && !PQsetvalue(res, row, col, buf, (int)n))
				log_warnx("PQsetvalue() to compact JSON failed");
		}
	}
	free(buf);
}
