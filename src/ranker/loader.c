/*
 * loader.c: the loader thread (see loader.h). It is the only user of its
 * PostgreSQL connection and may block on it, but every wait is a poll()
 * that also watches a stop pipe, so loader_stop() never waits for the
 * database. It connects with the blocking driver of the connector
 * (pgconn_connect() of runtime/pgconn.h): the same options and state
 * machine as the workers' connections, waiting in that poll().
 *
 * A full load is one REPEATABLE READ READ ONLY transaction: cities, then
 * places (cursor), then menu items (cursor), FETCHed in batches so that a
 * large city set never sits in memory twice. A burst of notifications
 * naming places (or offers, whose place is looked up) is a patch: only
 * those places and their menu items are read (a place not found was
 * deleted) into the current snapshot's overlay (snap_with_delta): the
 * new snapshot shares the base, hides the old versions and holds the new
 * ones in a small delta, so a patch costs the delta, not the snapshot.
 * When the overlay would pass [ranker] overlay_max places it is folded in:
 * the snapshot is copied without what it hides (snap_builder_from) and
 * the delta's places are read again with the changed ones; nothing else
 * is read or tokenized again.
 * A burst of new offers alone (channel offers, nothing else) is a delta:
 * one query reads whether each of
 * their places has an active offer now, and the new snapshot is the
 * current one with those flags changed (snap_with_offers): a copy of the
 * chunk table and of the chunks changed, nothing of the places or the
 * indexes. An offer of a place the snapshot does not have is a patch.
 * 'all', more than LOADER_PATCH_MAX places, a place in a city the
 * snapshot does not know, a reconnect and the 10-minute refresh are full
 * loads. Rows the builder refuses are skipped and counted, not fatal.
 *
 * An offer's boost starts and ends with its starts_at and ends_at, not at
 * a notification: every LOADER_EDGE_MS between loads, one query finds the
 * places with an offer that started or ended since the last look (from
 * the last full load's transaction time on) and whether each has an
 * active one now, and their changed flags are a delta.
 *
 * Every wait has a deadline. Between loads, a connection quiet for
 * LOADER_PROBE_MS is asked "SELECT 1" and dropped when the answer takes
 * longer than LOADER_PROBE_WAIT_MS: a hung backend or a dead peer would
 * otherwise hold back every notification until the 10-minute refresh.
 * A lost connection is retried at once, then after 50 ms doubling to
 * LOADER_BACKOFF_MAX_MS, so the first full load starts at most about a
 * second after the server accepts connections again.
 */
#include "ranker/loader.h"
#include "ranker/hours.h"
#include "runtime/backoff.h"
#include "runtime/pgconn.h"
#include "common/log.h"
#include "common/stats.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#define LOADER_DEBOUNCE_MS      100     /* a full load */
#define LOADER_PATCH_DEBOUNCE_MS 10     /* a delta or a patch */
#define LOADER_REFRESH_MS       (10 * 60 * 1000)
#define LOADER_BACKOFF_MIN_MS   50
#define LOADER_BACKOFF_MAX_MS   1000
#define LOADER_CONNECT_MS       10000
#define LOADER_REPLICA_POLL_MS  10      /* has it replayed enough yet? */
#define LOADER_REPLICA_RETRY_MS 1000    /* a failed replica: its back-off */
#define LOADER_REPLICA_RETRY_MAX_MS 30000
#define LOADER_QUERY_MS         120000
#define LOADER_PROBE_MS         5000    /* quiet this long: probe */
#define LOADER_PROBE_WAIT_MS    5000    /* the probe's deadline */
#define LOADER_EDGE_MS          1000    /* offers' starts and ends, looked */
                                        /* for this often */
#define LOADER_FETCH            "10000"
#define LOADER_ERR_LEN          512
#define LOADER_PATCH_MAX        5000    /* changed places; more: full load */

static const char loader_sql_cities[] =
    "SELECT c.id, round(EXTRACT(EPOCH FROM"
    " (now() AT TIME ZONE z.name) - (now() AT TIME ZONE 'UTC')) / 60)::int"
    " FROM cities c LEFT JOIN pg_timezone_names z ON z.name = c.timezone"
    " ORDER BY c.id COLLATE \"C\"";

#define LOADER_PLACE_COLUMNS \
    "SELECT p.id, p.city_id, p.lat, p.lon, p.rating, p.price_level," \
    " to_json(p.categories), to_json(p.cuisines), p.hours," \
    " EXISTS (SELECT 1 FROM offers o WHERE o.place_id = p.id" \
    "  AND o.starts_at <= now() AND o.ends_at > now())," \
    " p.name, p.description FROM places p"

static const char loader_sql_places[] = LOADER_PLACE_COLUMNS;

static const char loader_sql_places_of[] =
    LOADER_PLACE_COLUMNS " WHERE p.id = ANY ($1::bigint[]) ORDER BY p.id";

/* by place and id, as a patch reads them: ties between dishes of a place
 * go to the same one whichever way the snapshot was built */
static const char loader_sql_items[] =
    "SELECT place_id, name FROM menu_items ORDER BY place_id, id";

static const char loader_sql_items_of[] =
    "SELECT place_id, name FROM menu_items"
    " WHERE place_id = ANY ($1::bigint[]) ORDER BY place_id, id";

/* the places of some offers, and whether each has an active one now */
static const char loader_sql_offer_flags[] =
    "SELECT p.id, EXISTS (SELECT 1 FROM offers o WHERE o.place_id = p.id"
    " AND o.starts_at <= now() AND o.ends_at > now()) FROM places p"
    " WHERE p.id IN (SELECT place_id FROM offers"
    " WHERE id = ANY ($1::bigint[]))";

static const char loader_sql_offer_places[] =
    "SELECT DISTINCT place_id FROM offers WHERE id = ANY ($1::bigint[])";

/* now, then the places whose offers started or ended after $1 and until
 * now, and whether each has an active offer now (a row of NULLs: none) */
static const char loader_sql_edges[] =
    "WITH t AS (SELECT now() AS n)"
    " SELECT t.n::text, p.id, EXISTS (SELECT 1 FROM offers o"
    " WHERE o.place_id = p.id AND o.starts_at <= t.n AND o.ends_at > t.n)"
    " FROM t LEFT JOIN places p ON p.id IN (SELECT place_id FROM offers"
    " WHERE (ends_at > $1::timestamptz AND ends_at <= t.n) OR"
    " (starts_at > $1::timestamptz AND starts_at <= t.n))";

/* Why a full load (enum stats_full), as logged. */
static const char *const loader_cause_name[SL_COUNT] = {
	"start", "reconnect", "refresh", "asked", "burst", "new city"
};

/* What the loader did: deltas, patches and full loads by cause. */
struct loader_counts {
	uint64_t deltas, patches, folds, fulls[SL_COUNT];
	uint64_t from[2];           /* loads read on the primary, a replica */
};

struct loader {
	char *conninfo;
	struct snap_holder *holder;
	pthread_t thread;
	int stop_pipe[2];
	bool stop;                  /* __atomic */
	PGconn *conn;               /* the primary: LISTEN, probes, edges */
	PGconn *qc;                 /* where queries go: conn, or rconn */
	/* the read replica ([database] read_conninfo), or NULL */
	char *read_conninfo;
	uint64_t max_lag_ms;
	PGconn *rconn;
	uint64_t rbackoff_ms;
	uint64_t rretry_ms;         /* no connect before then */
	uint64_t serial;            /* snapshots built */
	uint64_t backoff_ms;
	uint64_t down_ms;           /* when the connection went, 0 while up */
	bool ever_connected;
	bool connect_warned;        /* for this outage */
	int settled_fd;             /* written once after the first attempt */
	int nice;
	uint64_t first_delay_ms;
	uint32_t overlay_max;

	/* what the notifications since the last load asked for */
	bool full;
	enum stats_full cause;      /* of full: the first reason given */
	int64_t *changed;           /* place ids */
	size_t nchanged, changedcap;
	int64_t *offers;            /* offer ids */
	size_t noffers, offercap;
	uint64_t noticed_ms;        /* when the first one came, 0 none */
	char edges_from[64];        /* offers' edges applied until then */

	/* what was done, and how much of it is in st's counters */
	struct loader_counts done, published;
	struct stats_block *st;     /* __atomic; NULL: not counted yet */
};

/* What one load collects. */
struct loader_ctx {
	struct snap_builder *b;
	char **cities;              /* ids, sorted bytewise */
	size_t ncities;
	size_t places, items, bad_places, bad_items, bad_hours;
	bool unknown_city;
};

/* The CPU time of this thread: timings on a busy machine. */
static uint64_t
loader_cpu_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Asks for a full load; the first cause given is the one counted. */
static void
loader_full(struct loader *l, enum stats_full cause)
{
	if (!l->full)
		l->cause = cause;
	l->full = true;
}

static bool
loader_stopping(struct loader *l)
{
	return __atomic_load_n(&l->stop, __ATOMIC_ACQUIRE);
}

/* libpq's last error on one line, in buf. */
static const char *
loader_pqerr(struct loader *l, char *buf, size_t len)
{
	return pgconn_oneline(buf, len, l->qc != NULL ?
	    PQerrorMessage(l->qc) : "out of memory");
}

/*
 * Waits until fd (-1: none) is ready for events, for at most timeout_ms.
 * 1 ready, 0 timed out, -1 told to stop or poll() failed.
 */
static int
loader_poll(struct loader *l, int fd, short events, int64_t timeout_ms)
{
	struct pollfd pfd[2];
	int n;

	pfd[0].fd = l->stop_pipe[0];
	pfd[0].events = POLLIN;
	pfd[1].fd = fd;
	pfd[1].events = events;
	if (timeout_ms < 0)
		timeout_ms = 0;
	if (timeout_ms > INT32_MAX)
		timeout_ms = INT32_MAX;
	do {
		n = poll(pfd, fd >= 0 ? 2 : 1, (int)timeout_ms);
	} while (n == -1 && errno == EINTR && !loader_stopping(l));
	if (n == -1) {
		log_warn("poll()");
		return -1;
	}
	if (pfd[0].revents != 0 || loader_stopping(l))
		return -1;
	return n > 0 ? 1 : 0;
}

static void
loader_disconnect(struct loader *l)
{
	PQfinish(l->conn);
	l->conn = l->qc = NULL;
	if (l->down_ms == 0)
		l->down_ms = util_now_ms();
}

/* Sleeps the back-off (50 ms doubling to 1 s) unless told to stop. */
static void
loader_backoff(struct loader *l)
{
	l->backoff_ms = backoff_next(l->backoff_ms, LOADER_BACKOFF_MIN_MS,
	    LOADER_BACKOFF_MAX_MS);
	log_debug("retrying in %" PRIu64 " ms", l->backoff_ms);
	(void)loader_poll(l, -1, 0, (int64_t)l->backoff_ms);
}

/*
 * Sends sql (with one text parameter $1 unless param is NULL) on l->qc
 * and waits at most timeout_ms for its results; returns the last one when its
 * status is want, else NULL (logged). Any NULL leaves the connection in
 * an unknown state: the caller drops it.
 */
static PGresult *
loader_exec_within(struct loader *l, const char *sql, const char *param,
    ExecStatusType want, uint64_t timeout_ms)
{
	uint64_t deadline = util_now_ms() + timeout_ms;
	PGresult *res, *last = NULL;
	char err[LOADER_ERR_LEN];

	if (param == NULL ? !PQsendQuery(l->qc, sql) :
	    !PQsendQueryParams(l->qc, sql, 1, NULL, &param, NULL, NULL, 0)) {
		log_warnx("PQsendQuery(): %s",
		    loader_pqerr(l, err, sizeof(err)));
		return NULL;
	}
	for (;;) {
		while (PQisBusy(l->qc)) {
			if (loader_poll(l, PQsocket(l->qc), POLLIN,
			    (int64_t)(deadline - util_now_ms())) <= 0) {
				if (!loader_stopping(l))
					log_warnx("no answer within %" PRIu64
					    " ms: %.40s", timeout_ms, sql);
				PQclear(last);
				return NULL;
			}
			if (!PQconsumeInput(l->qc)) {
				log_warnx("PQconsumeInput(): %s",
				    loader_pqerr(l, err, sizeof(err)));
				PQclear(last);
				return NULL;
			}
		}
		if ((res = PQgetResult(l->qc)) == NULL)
			break;
		PQclear(last);
		last = res;
	}
	if (last == NULL || PQresultStatus(last) != want) {
		log_warnx("%.40s: %s", sql, last != NULL ?
		    PQresultErrorMessage(last) : "no result");
		PQclear(last);
		return NULL;
	}
	return last;
}

static PGresult *
loader_exec_param(struct loader *l, const char *sql, const char *param,
    ExecStatusType want)
{
	return loader_exec_within(l, sql, param, want, LOADER_QUERY_MS);
}

static PGresult *
loader_exec(struct loader *l, const char *sql, ExecStatusType want)
{
	return loader_exec_param(l, sql, NULL, want);
}

static int
loader_command(struct loader *l, const char *sql)
{
	PGresult *res = loader_exec(l, sql, PGRES_COMMAND_OK);

	PQclear(res);
	return res != NULL ? 0 : -1;
}

/* The connector's wait (pgconn.h): poll(), watching the stop pipe. */
static int
loader_connect_poll(void *arg, int fd, bool write, int64_t timeout_ms)
{
	return loader_poll(arg, fd, write ? POLLOUT : POLLIN, timeout_ms);
}

/* Notices to the log, not to stderr (a FATAL at a restart is one). */
static void
loader_notice(void *arg, const PGresult *res)
{
	(void)arg;
	log_debug("database notice: %s", PQresultErrorMessage(res));
}

/* Connects and LISTENs, before any load: no change can slip between. */
static int
loader_connect(struct loader *l)
{
	const struct pgconn_opts o = {
		.conninfo = l->conninfo,
		.app_name = "placesd ranker",
		.deadline_ms = LOADER_CONNECT_MS,
		.notice = loader_notice,
		.notice_arg = l,
	};
	enum pgconn_status st;
	char err[LOADER_ERR_LEN];

	st = pgconn_connect(&o, loader_connect_poll, l, &l->conn, err,
	    sizeof(err));
	l->qc = l->conn;
	if (st != PGCONN_OK) {
		if (st == PGCONN_TIMEOUT)
			log_warnx("connecting timed out");
		/* warn once per outage: the back-off retries every second */
		if (!loader_stopping(l) && !l->connect_warned)
			log_warnx("cannot connect to the database: %s; "
			    "retrying, snapshot %" PRIu64 " serves meanwhile",
			    err, l->serial);
		else if (!loader_stopping(l))
			log_debug("cannot connect to the database: %s", err);
		l->connect_warned = true;
		loader_disconnect(l);
		return -1;
	}
	if (loader_command(l, "LISTEN places_changed; LISTEN offers") != 0) {
		loader_disconnect(l);
		return -1;
	}
	if (l->ever_connected)
		log_info("connected to the database again after %" PRIu64
		    " ms, listening", util_now_ms() - l->down_ms);
	else
		log_info("connected to the database, listening");
	l->ever_connected = true;
	l->connect_warned = false;
	l->down_ms = 0;
	return 0;
}

static int
loader_city_cmp(const void *key, const void *elem)
{
	return strcmp(key, *(char *const *)elem);
}

static int
loader_city_index(const struct loader_ctx *c, const char *id)
{
	char **hit = bsearch(id, c->cities, c->ncities, sizeof(*c->cities),
	    loader_city_cmp);

	return hit != NULL ? (int)(hit - c->cities) : -1;
}

static int
loader_cities(struct loader *l, struct loader_ctx *c)
{
	PGresult *res = loader_exec(l, loader_sql_cities, PGRES_TUPLES_OK);
	int i, n, off;

	if (res == NULL)
		return -1;
	n = PQntuples(res);
	if ((c->cities = calloc((size_t)n + 1, sizeof(*c->cities))) == NULL) {
		PQclear(res);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (PQgetisnull(res, i, 1)) {
			log_warnx("city %s: unknown time zone, taken as UTC",
			    PQgetvalue(res, i, 0));
			off = 0;
		} else {
			off = atoi(PQgetvalue(res, i, 1));
		}
		if ((c->cities[i] = strdup(PQgetvalue(res, i, 0))) == NULL ||
		    snap_add_city(c->b, c->cities[i], off) != i) {
			log_warn("city %s", PQgetvalue(res, i, 0));
			free(c->cities[i]);
			PQclear(res);
			return -1;
		}
		c->ncities++;
	}
	PQclear(res);
	return 0;
}

/* A JSON array of strings into tags (at most SNAP_MAX_TAGS kept). */
static json_t *
loader_tags(const char *text, const char **tags, size_t *n)
{
	json_t *arr = json_loads(text, 0, NULL), *v;
	size_t i;

	*n = 0;
	if (arr == NULL)
		return NULL;
	json_array_foreach(arr, i, v) {
		if (*n < SNAP_MAX_TAGS && json_is_string(v))
			tags[(*n)++] = json_string_value(v);
	}
	return arr;
}

static void
loader_hours(struct loader_ctx *c, const PGresult *res, int row,
    struct snap_place_in *p, struct snap_hours *h)
{
	char err[96];

	p->hours = NULL;
	if (PQgetisnull(res, row, 8))
		return;
	if (hours_parse(PQgetvalue(res, row, 8), h, err, sizeof(err)) != 0) {
		if (c->bad_hours++ == 0)
			log_warnx("place %" PRId64 ": hours: %s (taken as "
			    "unknown; further ones counted)", p->id, err);
		return;
	}
	p->hours = h;
}

static int
loader_place(struct loader_ctx *c, const PGresult *res, int row)
{
	const char *cats[SNAP_MAX_TAGS], *cuis[SNAP_MAX_TAGS];
	struct snap_place_in p;
	struct snap_hours h;
	json_t *jc, *ju;
	int rc;

	memset(&p, 0, sizeof(p));
	p.id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
	if ((p.city = loader_city_index(c, PQgetvalue(res, row, 1))) < 0)
		c->unknown_city = true;
	p.lat = strtod(PQgetvalue(res, row, 2), NULL);
	p.lon = strtod(PQgetvalue(res, row, 3), NULL);
	p.rating = PQgetisnull(res, row, 4) ? NAN :
	    strtod(PQgetvalue(res, row, 4), NULL);
	p.price_level = PQgetisnull(res, row, 5) ? 0 :
	    atoi(PQgetvalue(res, row, 5));
	jc = loader_tags(PQgetvalue(res, row, 6), cats, &p.ncat);
	ju = loader_tags(PQgetvalue(res, row, 7), cuis, &p.ncui);
	p.categories = cats;
	p.cuisines = cuis;
	loader_hours(c, res, row, &p, &h);
	p.has_active_offer = PQgetvalue(res, row, 9)[0] == 't';
	p.name = PQgetvalue(res, row, 10);
	p.description = PQgetvalue(res, row, 11);
	rc = snap_add_place(c->b, &p);
	json_decref(jc);
	json_decref(ju);
	if (rc >= 0) {
		c->places++;
		return 0;
	}
	if (errno == ENOMEM)
		return -1;
	if (c->bad_places++ == 0)
		log_warnx("place %" PRId64 " skipped: %s (further ones "
		    "counted)", p.id, strerror(errno));
	return 0;
}

static int
loader_item(struct loader_ctx *c, const PGresult *res, int row)
{
	int64_t place = strtoll(PQgetvalue(res, row, 0), NULL, 10);

	if (snap_add_menu_item(c->b, place, PQgetvalue(res, row, 1)) == 0) {
		c->items++;
		return 0;
	}
	if (errno == ENOMEM)
		return -1;
	c->bad_items++;         /* mostly items of a skipped place */
	return 0;
}

typedef int (*loader_row_fn)(struct loader_ctx *, const PGresult *, int);

static int
loader_rows(struct loader_ctx *c, const PGresult *res, loader_row_fn fn)
{
	int i, n = PQntuples(res);

	for (i = 0; i < n; i++) {
		if (fn(c, res, i) != 0) {
			log_errorx("out of memory while loading");
			return -1;
		}
	}
	return 0;
}

/* Runs sql through a cursor, FETCHing in batches, one call per row. */
static int
loader_cursor(struct loader *l, struct loader_ctx *c, const char *sql,
    loader_row_fn fn)
{
	char buf[1024];
	PGresult *res;
	int n;

	snprintf(buf, sizeof(buf), "DECLARE loader_cur NO SCROLL CURSOR FOR %s",
	    sql);
	if (loader_command(l, buf) != 0)
		return -1;
	do {
		res = loader_exec(l, "FETCH " LOADER_FETCH " FROM loader_cur",
		    PGRES_TUPLES_OK);
		if (res == NULL || loader_stopping(l)) {
			PQclear(res);
			return -1;
		}
		if (loader_rows(c, res, fn) != 0) {
			PQclear(res);
			return -1;
		}
		n = PQntuples(res);
		PQclear(res);
	} while (n > 0);
	return loader_command(l, "CLOSE loader_cur");
}

/* Runs sql with $1 = param and reads all of its rows at once. */
static int
loader_query(struct loader *l, struct loader_ctx *c, const char *sql,
    const char *param, loader_row_fn fn)
{
	PGresult *res = loader_exec_param(l, sql, param, PGRES_TUPLES_OK);
	int rc;

	if (res == NULL)
		return -1;
	rc = loader_rows(c, res, fn);
	PQclear(res);
	return rc;
}

static void
loader_ctx_free(struct loader_ctx *c)
{
	size_t i;

	for (i = 0; i < c->ncities; i++)
		free(c->cities[i]);
	free(c->cities);
	snap_builder_free(c->b);
}

/* The time of the transaction a full load reads in: its offer flags are
 * as of then, and the offers' edges count from then on. */
static int
loader_clock(struct loader *l)
{
	PGresult *res = loader_exec(l, "SELECT now()::text", PGRES_TUPLES_OK);

	if (res == NULL)
		return -1;
	snprintf(l->edges_from, sizeof(l->edges_from), "%s",
	    PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

/* One full load into a new snapshot, swapped in. */
static int
loader_build(struct loader *l)
{
	uint64_t t0 = util_now_ms(), cpu0 = loader_cpu_ms();
	struct loader_ctx c;
	struct snapshot *s;

	memset(&c, 0, sizeof(c));
	if ((c.b = snap_builder_new()) == NULL)
		return -1;
	if (loader_command(l, "BEGIN ISOLATION LEVEL REPEATABLE READ "
	    "READ ONLY") != 0 || loader_clock(l) != 0 ||
	    loader_cities(l, &c) != 0 ||
	    loader_cursor(l, &c, loader_sql_places, loader_place) != 0 ||
	    loader_cursor(l, &c, loader_sql_items, loader_item) != 0 ||
	    loader_command(l, "COMMIT") != 0) {
		loader_ctx_free(&c);
		return -1;
	}
	s = snap_build(c.b);
	c.b = NULL;
	loader_ctx_free(&c);
	if (s == NULL) {
		log_errorx("out of memory building a snapshot");
		return -1;
	}
	s->serial = ++l->serial;
	snap_holder_set(l->holder, s);
	l->done.fulls[l->cause]++;
	log_info("snapshot %" PRIu64 ": %zu places, %zu menu items, built in "
	    "%" PRIu64 " ms (cpu %" PRIu64 " ms; a full load: %s)", l->serial,
	    c.places, c.items, util_now_ms() - t0, loader_cpu_ms() - cpu0,
	    loader_cause_name[l->cause]);
	if (c.bad_places + c.bad_items + c.bad_hours > 0)
		log_warnx("snapshot %" PRIu64 ": skipped %zu places and %zu "
		    "menu items, %zu bad opening hours", l->serial,
		    c.bad_places, c.bad_items, c.bad_hours);
	return 0;
}

/* --- patches ------------------------------------------------------------------ */

static int
i64_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Sorts ids and drops duplicates; returns how many are left. */
static size_t
i64_sort_uniq(int64_t *v, size_t n)
{
	size_t i, o = 0;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), i64_cmp);
	for (i = 1; i < n; i++)
		if (v[i] != v[o])
			v[++o] = v[i];
	return o + 1;
}

/* {1,2,3}: a bigint[] parameter. NULL on ENOMEM. */
static char *
loader_array(const int64_t *v, size_t n)
{
	char *s = malloc(n * 22 + 3), *o;
	size_t i;

	if ((o = s) == NULL)
		return NULL;
	*o++ = '{';
	for (i = 0; i < n; i++)
		o += sprintf(o, "%s%" PRId64, i > 0 ? "," : "", v[i]);
	*o++ = '}';
	*o = '\0';
	return s;
}

static int
loader_push(int64_t **v, size_t *n, size_t *cap, int64_t id)
{
	if (index_grow(v, cap, *n + 1, sizeof(**v)) != 0)
		return -1;
	(*v)[(*n)++] = id;
	return 0;
}

/* The places of the notified offers join the changed places. */
static int
loader_offer_places(struct loader *l)
{
	PGresult *res;
	char *arr;
	int i, n;

	if (l->noffers == 0)
		return 0;
	if ((arr = loader_array(l->offers, l->noffers)) == NULL)
		return -1;
	res = loader_exec_param(l, loader_sql_offer_places, arr,
	    PGRES_TUPLES_OK);
	free(arr);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		if (loader_push(&l->changed, &l->nchanged, &l->changedcap,
		    strtoll(PQgetvalue(res, i, 0), NULL, 10)) != 0) {
			PQclear(res);
			return -1;
		}
	}
	PQclear(res);
	return 0;
}

/* The cities of s (sorted bytewise, as loaded) for city lookups. */
static int
loader_cities_of(struct loader_ctx *c, const struct snapshot *s)
{
	uint32_t i;

	if ((c->cities = calloc((size_t)s->ncities + 1,
	    sizeof(*c->cities))) == NULL)
		return -1;
	for (i = 0; i < s->ncities; i++) {
		if ((c->cities[i] = strdup(s->cities[i].id)) == NULL)
			return -1;
		c->ncities++;
	}
	return 0;
}

/*
 * Whether the changed places fold the overlay of old in (a copy) rather
 * than go into it: when it would pass overlay_max places. Folding
 * reads the delta's places again with the changed ones.
 */
static int
loader_fold(struct loader *l, const struct snapshot *old, bool *fold)
{
	uint32_t nd = snap_delta_places(old), i;

	*fold = nd + l->nchanged > l->overlay_max ||
	    snap_gone_places(old) + l->nchanged > l->overlay_max;
	if (!*fold)
		return 0;
	for (i = 0; i < nd; i++)
		if (loader_push(&l->changed, &l->nchanged, &l->changedcap,
		    snap_place_id(old, old->nplaces + i)) != 0)
			return -1;
	l->nchanged = i64_sort_uniq(l->changed, l->nchanged);
	return 0;
}

/* The next snapshot from old and c's builder (consumed); NULL ENOMEM. */
static struct snapshot *
loader_next(struct loader *l, struct snapshot *old, struct loader_ctx *c,
    bool fold)
{
	struct snap_builder *b = c->b;

	c->b = NULL;
	if (fold)
		return snap_build(b);
	return snap_with_delta(old, b, l->changed, l->nchanged);
}

/* Counts the patch that built s and says what it did into buf. */
static void
loader_patched(struct loader *l, const struct snapshot *s, bool fold,
    uint64_t t0, uint64_t copy_ms, uint64_t read_ms, uint64_t cpu0,
    char *buf, size_t len)
{
	l->done.patches++;
	l->done.folds += fold;
	snprintf(buf, len, "snapshot %" PRIu64 ": +%zu changed places %s in %"
	    PRIu64 " ms (copy %" PRIu64 " ms, read %" PRIu64 " ms, cpu %" PRIu64
	    " ms; %" PRIu64 " ms after the notification); %" PRIu32 " places"
	    " and %" PRIu32 " menu items, overlay %" PRIu32 " places hiding %"
	    PRIu32, l->serial, l->nchanged, fold ? "folded in, built" :
	    "in the overlay, built", util_now_ms() - t0, copy_ms, read_ms,
	    loader_cpu_ms() - cpu0, l->noticed_ms != 0 ? util_now_ms() -
	    l->noticed_ms : 0, s->nplaces, s->nitems, snap_delta_places(s),
	    snap_gone_places(s));
}

/*
 * Reads the changed places again and builds the next snapshot from the
 * current one, in its overlay or folding it in: 0, -1 on failure, 1 when
 * it takes a full load.
 */
static int
loader_patch(struct loader *l)
{
	uint64_t t0 = util_now_ms(), copy_ms, read_ms, cpu0 = loader_cpu_ms();
	struct snapshot *old, *s;
	struct loader_ctx c;
	char *arr = NULL, msg[LOADER_ERR_LEN];
	bool fold = false;
	int rc = -1;

	old = snap_holder_get(l->holder);
	if (old == NULL || old->serial != l->serial) {
		snap_unref(old);
		loader_full(l, SL_START);
		return 1;
	}
	memset(&c, 0, sizeof(c));
	if (loader_command(l, "BEGIN ISOLATION LEVEL REPEATABLE READ "
	    "READ ONLY") != 0 || loader_offer_places(l) != 0)
		goto out;
	l->nchanged = i64_sort_uniq(l->changed, l->nchanged);
	if (l->nchanged > LOADER_PATCH_MAX) {
		loader_full(l, SL_BURST);
		rc = loader_command(l, "COMMIT") == 0 ? 1 : -1;
		goto out;
	}
	copy_ms = util_now_ms();
	if (loader_fold(l, old, &fold) != 0 ||
	    (arr = loader_array(l->changed, l->nchanged)) == NULL ||
	    loader_cities_of(&c, old) != 0 ||
	    (c.b = fold ? snap_builder_from(old, l->changed, l->nchanged) :
	    snap_delta_builder(old, l->changed, l->nchanged)) == NULL) {
		log_errorx("out of memory patching a snapshot");
		goto out;
	}
	copy_ms = util_now_ms() - copy_ms;
	if (loader_query(l, &c, loader_sql_places_of, arr, loader_place) != 0 ||
	    loader_query(l, &c, loader_sql_items_of, arr, loader_item) != 0 ||
	    loader_command(l, "COMMIT") != 0)
		goto out;
	read_ms = util_now_ms() - t0 - copy_ms;
	if (c.unknown_city) {
		log_info("a changed place is in a city not loaded yet: "
		    "loading everything");
		loader_full(l, SL_NEW_CITY);
		rc = 1;
		goto out;
	}
	if ((s = loader_next(l, old, &c, fold)) == NULL) {
		log_errorx("out of memory building a snapshot");
		goto out;
	}
	s->serial = ++l->serial;
	loader_patched(l, s, fold, t0, copy_ms, read_ms, cpu0, msg,
	    sizeof(msg));
	snap_holder_set(l->holder, s);
	log_info("%s", msg);
	if (c.bad_places + c.bad_items + c.bad_hours > 0)
		log_warnx("snapshot %" PRIu64 ": skipped %zu changed places and "
		    "%zu menu items, %zu bad opening hours", l->serial,
		    c.bad_places, c.bad_items, c.bad_hours);
	rc = 0;
out:
	free(arr);
	loader_ctx_free(&c);
	snap_unref(old);
	return rc;
}

/*
 * Which of old's places change their offer flag, per the rows of res
 * (the place in column col, its flag in col + 1; a row of NULLs is
 * none): how many in set. A place old does not have is -1 when strict
 * (a patch reads it), else left to the next patch or load.
 */
static ssize_t
loader_flags(const struct snapshot *old, const PGresult *res, int col,
    bool strict, struct snap_offer_set *set)
{
	int i, n = PQntuples(res);
	ssize_t k = 0;
	int64_t at;
	bool on;

	for (i = 0; i < n; i++) {
		if (PQgetisnull(res, i, col))
			continue;
		at = snap_find(old, strtoll(PQgetvalue(res, i, col), NULL, 10));
		if (at < 0 && strict)
			return -1;
		if (at < 0)
			continue;
		on = PQgetvalue(res, i, col + 1)[0] == 't';
		if (snap_offer_at(old, (uint32_t)at) == on)
			continue;
		set[k].place = (uint32_t)at;
		set[k++].on = on;
	}
	return k;
}

/*
 * New offers alone: the current snapshot with the offer flags of their
 * places as they are now (snap_with_offers). 0, -1 on failure, 1 when it
 * takes a patch (a place the snapshot does not have, or no snapshot).
 */
static int
loader_offers(struct loader *l)
{
	uint64_t t0 = util_now_ms(), cpu0 = loader_cpu_ms();
	struct snap_offer_set *set = NULL;
	struct snapshot *old, *s;
	PGresult *res = NULL;
	char *arr = NULL;
	ssize_t n;
	int rc = -1;

	old = snap_holder_get(l->holder);
	if (old == NULL || old->serial != l->serial) {
		snap_unref(old);
		return 1;
	}
	l->noffers = i64_sort_uniq(l->offers, l->noffers);
	if ((arr = loader_array(l->offers, l->noffers)) == NULL)
		goto nomem;
	res = loader_exec_param(l, loader_sql_offer_flags, arr,
	    PGRES_TUPLES_OK);
	if (res == NULL)
		goto out;
	if ((set = calloc((size_t)PQntuples(res) + 1, sizeof(*set))) == NULL)
		goto nomem;
	if ((n = loader_flags(old, res, 0, true, set)) < 0) {
		rc = 1;
		goto out;
	}
	rc = 0;
	if (n == 0) {
		log_debug("%zu new offers: no offer flag changes", l->noffers);
		goto out;
	}
	if ((s = snap_with_offers(old, set, (size_t)n)) == NULL)
		goto nomem;
	s->serial = ++l->serial;
	snap_holder_set(l->holder, s);
	l->done.deltas++;
	log_info("snapshot %" PRIu64 ": offer flags of %zd places changed, "
	    "applied in %" PRIu64 " ms (cpu %" PRIu64 " ms; %" PRIu64 " ms "
	    "after the notification)", l->serial, n, util_now_ms() - t0,
	    loader_cpu_ms() - cpu0, l->noticed_ms != 0 ?
	    util_now_ms() - l->noticed_ms : 0);
	goto out;
nomem:
	log_errorx("out of memory applying new offers");
	rc = -1;
out:
	PQclear(res);
	free(set);
	free(arr);
	snap_unref(old);
	return rc;
}

/*
 * Offers that started or ended since the last look: their places' flags
 * as they are now, as a delta. 0, or -1 when the database did not answer
 * within LOADER_PROBE_WAIT_MS (then it counts as a failed liveness probe).
 */
static int
loader_edges(struct loader *l)
{
	uint64_t t0 = util_now_ms();
	struct snap_offer_set *set = NULL;
	struct snapshot *old, *s = NULL;
	PGresult *res;
	size_t n = 0;

	if (l->edges_from[0] == '\0')
		return 0;       /* no full load yet */
	res = loader_exec_within(l, loader_sql_edges, l->edges_from,
	    PGRES_TUPLES_OK, LOADER_PROBE_WAIT_MS);
	if (res == NULL) {
		if (!loader_stopping(l))
			log_warnx("the database did not answer a liveness probe "
			    "(offers started or ended): reconnecting, then "
			    "loading everything");
		return -1;
	}
	old = snap_holder_get(l->holder);
	if (old == NULL || old->serial != l->serial)
		goto out;       /* the next load reads the flags */
	if ((set = calloc((size_t)PQntuples(res) + 1, sizeof(*set))) == NULL ||
	    ((n = (size_t)loader_flags(old, res, 1, false, set)) > 0 &&
	    (s = snap_with_offers(old, set, n)) == NULL)) {
		log_errorx("out of memory applying offers that started or "
		    "ended: trying again in %d ms", LOADER_EDGE_MS);
		goto out;
	}
	if (s != NULL) {
		s->serial = ++l->serial;
		snap_holder_set(l->holder, s);
		l->done.deltas++;
		log_info("snapshot %" PRIu64 ": offers of %zu places started or "
		    "ended, applied in %" PRIu64 " ms", l->serial, n,
		    util_now_ms() - t0);
	}
	snprintf(l->edges_from, sizeof(l->edges_from), "%s",
	    PQgetvalue(res, 0, 0));
out:
	free(set);
	snap_unref(old);
	PQclear(res);
	return 0;
}

/* Adds what was done since the last call to st's counters, if set. */
static void
loader_publish(struct loader *l)
{
	struct stats_block *st = __atomic_load_n(&l->st, __ATOMIC_ACQUIRE);
	struct loader_counts *d = &l->done, *p = &l->published;
	int i;

	if (st == NULL)
		return;
	stats_add(&st->snap_deltas, d->deltas - p->deltas);
	stats_add(&st->snap_patches, d->patches - p->patches);
	stats_add(&st->snap_folds, d->folds - p->folds);
	stats_add(&st->snap_from[0], d->from[0] - p->from[0]);
	stats_add(&st->snap_from[1], d->from[1] - p->from[1]);
	for (i = 0; i < SL_COUNT; i++)
		stats_add(&st->snap_full[i], d->fulls[i] - p->fulls[i]);
	*p = *d;
}

static void
loader_changes_clear(struct loader *l)
{
	l->full = false;
	l->nchanged = l->noffers = 0;
	l->noticed_ms = 0;
}

/* Only new offers are pending: a delta will do. */
static bool
loader_offers_only(const struct loader *l)
{
	return !l->full && l->nchanged == 0 && l->noffers > 0;
}

/* What the notifications asked for: a delta, a patch, else a full load,
 * read on l->qc. */
static int
loader_load_on(struct loader *l)
{
	int rc = 1;

	if (l->serial == 0)
		loader_full(l, SL_START);
	if (loader_offers_only(l))
		rc = loader_offers(l);
	if (rc == 1 && !l->full)
		rc = loader_patch(l);
	if (rc == 1)
		rc = loader_build(l);
	return rc;
}

/* --- the read replica ------------------------------------------------------- */

/* Drops the replica's connection: loads read the primary until the next
 * try, after a back-off of 1 s doubling to 30 s. */
static void
replica_drop(struct loader *l, const char *why)
{
	PQfinish(l->rconn);
	l->rconn = NULL;
	l->rbackoff_ms = backoff_next(l->rbackoff_ms, LOADER_REPLICA_RETRY_MS,
	    LOADER_REPLICA_RETRY_MAX_MS);
	l->rretry_ms = util_now_ms() + l->rbackoff_ms;
	if (!loader_stopping(l))
		log_warnx("read replica: %s; snapshots load from the primary, "
		    "next try in %" PRIu64 " ms", why, l->rbackoff_ms);
}

static bool
replica_connect(struct loader *l)
{
	const struct pgconn_opts o = {
		.conninfo = l->read_conninfo,
		.app_name = "placesd ranker reads",
		.deadline_ms = LOADER_CONNECT_MS,
		.notice = loader_notice,
		.notice_arg = l,
	};
	char err[LOADER_ERR_LEN], why[LOADER_ERR_LEN + 32];

	if (pgconn_connect(&o, loader_connect_poll, l, &l->rconn, err,
	    sizeof(err)) != PGCONN_OK) {
		snprintf(why, sizeof(why), "cannot connect: %s", err);
		replica_drop(l, why);
		return false;
	}
	log_info("read replica connected: snapshots load from it once it "
	    "has replayed what they need");
	l->rbackoff_ms = 0;
	return true;
}

/* Whether the replica has replayed the primary's WAL up to lsn (a
 * replica promoted, or a primary, always has): 1, 0, or -1 on failure. */
static int
replica_has(struct loader *l, const char *lsn)
{
	PGresult *res;
	int has;

	l->qc = l->rconn;
	res = loader_exec_param(l, "SELECT NOT pg_is_in_recovery() OR "
	    "pg_last_wal_replay_lsn() >= $1::pg_lsn", lsn, PGRES_TUPLES_OK);
	l->qc = l->conn;
	if (res == NULL)
		return -1;
	has = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return has;
}

/*
 * Where a load reads: the replica, once it has replayed all the primary
 * had written when the load began (so every change notified so far),
 * waiting at most max_replica_lag; else the primary. NULL when the
 * primary does not answer (the load fails) or the loader stops.
 */
static PGconn *
loader_source(struct loader *l)
{
	uint64_t deadline;
	PGresult *res;
	char lsn[64];
	int has;

	if (l->read_conninfo == NULL || (l->rconn == NULL &&
	    (util_now_ms() < l->rretry_ms || !replica_connect(l))))
		return l->conn;
	/* the insert position: the write position may not yet hold a
	 * commit made with synchronous_commit off */
	res = loader_exec(l, "SELECT pg_current_wal_insert_lsn()::text",
	    PGRES_TUPLES_OK);
	if (res == NULL)
		return NULL;
	snprintf(lsn, sizeof(lsn), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	deadline = util_now_ms() + l->max_lag_ms;
	while ((has = replica_has(l, lsn)) == 0) {
		if (util_now_ms() >= deadline) {
			log_info("read replica has not replayed %s within "
			    "max_replica_lag (%" PRIu64 " ms): this load reads "
			    "the primary", lsn, l->max_lag_ms);
			return l->conn;
		}
		if (loader_poll(l, -1, 0, LOADER_REPLICA_POLL_MS) < 0)
			return NULL;
	}
	if (has < 0) {
		replica_drop(l, "it did not answer");
		return l->conn;
	}
	return l->rconn;
}

/* A load, on the replica when it is fresh enough, else (or when the
 * replica fails it) on the primary. */
static int
loader_load(struct loader *l)
{
	PGconn *src = loader_source(l);
	int rc = -1;

	if (src != NULL) {
		l->qc = src;
		rc = loader_load_on(l);
		if (rc != 0 && src == l->rconn && !loader_stopping(l)) {
			replica_drop(l, "a load failed on it");
			l->qc = src = l->conn;
			rc = loader_load_on(l);
		}
		l->qc = l->conn;
		if (rc == 0)
			l->done.from[src == l->conn ? 0 : 1]++;
	}
	loader_changes_clear(l);
	loader_publish(l);
	return rc;
}

/* --- notifications ------------------------------------------------------------ */

/* A payload that is a whole positive id, alone or followed by what of
 * the place changed (" menu_items", " offers": 007_notify_part.sql), or
 * -1. */
static int64_t
loader_payload_id(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || errno != 0 || v <= 0)
		return -1;
	if (*end != '\0' && strcmp(end, " menu_items") != 0 &&
	    strcmp(end, " offers") != 0)
		return -1;
	return (int64_t)v;
}

/* Notes what one notification asks for. */
static void
loader_note(struct loader *l, const PGnotify *note)
{
	bool offer = strcmp(note->relname, "offers") == 0;
	int64_t id = loader_payload_id(note->extra);

	if (l->noticed_ms == 0)
		l->noticed_ms = util_now_ms();
	if (l->full)
		return;
	if (id < 0) {
		if (strcmp(note->extra, "all") != 0)
			log_info("notification on %s: \"%.40s\": loading "
			    "everything", note->relname, note->extra);
		loader_full(l, SL_ASKED);
	} else if (l->nchanged + l->noffers >= LOADER_PATCH_MAX) {
		loader_full(l, SL_BURST);
	} else if ((offer ? loader_push(&l->offers, &l->noffers,
	    &l->offercap, id) : loader_push(&l->changed, &l->nchanged,
	    &l->changedcap, id)) != 0) {
		loader_full(l, SL_BURST);
	}
}

/* Notes pending notifications; 0, or -1 when the connection is lost. */
static int
loader_notified(struct loader *l, unsigned *n)
{
	char err[LOADER_ERR_LEN];
	PGnotify *note;

	if (!PQconsumeInput(l->conn) || PQstatus(l->conn) == CONNECTION_BAD) {
		log_warnx("lost the database connection: %s",
		    loader_pqerr(l, err, sizeof(err)));
		return -1;
	}
	while ((note = PQnotifies(l->conn)) != NULL) {
		(*n)++;
		loader_note(l, note);
		PQfreemem(note);
	}
	return 0;
}

/* Is the connection alive? 0 when the server answered in time. */
static int
loader_probe(struct loader *l)
{
	PGresult *res;

	res = loader_exec_within(l, "SELECT 1", NULL, PGRES_TUPLES_OK,
	    LOADER_PROBE_WAIT_MS);
	if (res == NULL) {
		if (!loader_stopping(l))
			log_warnx("the database did not answer a liveness "
			    "probe: reconnecting, then loading everything");
		return -1;
	}
	PQclear(res);
	return 0;
}

/*
 * Waits for a reason to load: a notification (then 10 ms more for a
 * delta or a patch, 100 for a full load, to take a burst in one load) or
 * the periodic refresh (a full load), applying the offers' starts and
 * ends every LOADER_EDGE_MS and probing a quiet connection meanwhile.
 * 0 to load, -1 for a lost or dead connection or a stop.
 */
static int
loader_wait(struct loader *l)
{
	uint64_t now = util_now_ms(), due = 0, until;
	uint64_t refresh = now + LOADER_REFRESH_MS;
	uint64_t probe = now + LOADER_PROBE_MS;
	uint64_t edges = now + LOADER_EDGE_MS;
	unsigned n = 0;
	int r;

	for (;;) {
		loader_publish(l);          /* counts made before st was set */
		if (loader_notified(l, &n) != 0)
			return -1;
		now = util_now_ms();
		/* a place changed later in the burst moves the deadline */
		if (n > 0)
			due = l->noticed_ms + (l->full ?
			    LOADER_DEBOUNCE_MS : LOADER_PATCH_DEBOUNCE_MS);
		if (due != 0 && now >= due)
			break;
		if (now >= refresh) {
			loader_full(l, SL_REFRESH);
			break;
		}
		if (due == 0 && now >= edges) {
			if (loader_edges(l) != 0)
				return -1;
			loader_publish(l);
			edges = util_now_ms() + LOADER_EDGE_MS;
			if (l->edges_from[0] != '\0')  /* it asked: a probe too */
				probe = util_now_ms() + LOADER_PROBE_MS;
			continue;
		}
		if (due == 0 && now >= probe) {
			if (loader_probe(l) != 0)
				return -1;
			probe = util_now_ms() + LOADER_PROBE_MS;
			continue;
		}
		until = due != 0 ? due : refresh < probe ? refresh : probe;
		if (due == 0 && edges < until)
			until = edges;
		r = loader_poll(l, PQsocket(l->conn), POLLIN,
		    (int64_t)(until - now));
		if (r < 0)
			return -1;
		if (r > 0)
			probe = util_now_ms() + LOADER_PROBE_MS;
	}
	log_debug("loading: %u notifications, %s", n, l->full ?
	    "everything" : loader_offers_only(l) ? "a delta" : "a patch");
	return 0;
}

/* Tells the ranker, once, that the first attempt is over. */
static void
loader_settled(struct loader *l)
{
	if (l->settled_fd < 0)
		return;
	if (write(l->settled_fd, "", 1) == -1)
		log_warn("cannot tell the ranker the first load is over");
	l->settled_fd = -1;
}

static void *
loader_run(void *arg)
{
	struct loader *l = arg;

	util_thread_name("ranker loader");
	if (util_thread_nice(l->nice) == -1)
		log_warn("cannot lower the loader's priority as [ranker] "
		    "nice says");
	if (l->first_delay_ms > 0) {
		log_info("[debug] snapshot_delay: first load in %llums",
		    (unsigned long long)l->first_delay_ms);
		loader_poll(l, -1, 0, (int64_t)l->first_delay_ms);
	}
	while (!loader_stopping(l)) {
		if (l->conn == NULL) {
			if (loader_connect(l) != 0) {
				loader_settled(l);
				loader_backoff(l);
				continue;
			}
			/* changes may have been missed meanwhile */
			loader_full(l, l->serial == 0 ? SL_START :
			    SL_RECONNECT);
		}
		if (loader_load(l) != 0) {
			if (loader_stopping(l))
				break;
			log_warnx("load failed: keeping snapshot %" PRIu64,
			    l->serial);
			loader_settled(l);
			loader_disconnect(l);
			loader_backoff(l);
			continue;
		}
		loader_settled(l);
		l->backoff_ms = 0;
		if (loader_wait(l) != 0)
			loader_disconnect(l);
	}
	loader_disconnect(l);
	PQfinish(l->rconn);
	l->rconn = NULL;
	return NULL;
}

static void
loader_free(struct loader *l)
{
	if (l->stop_pipe[0] >= 0)
		close(l->stop_pipe[0]);
	if (l->stop_pipe[1] >= 0)
		close(l->stop_pipe[1]);
	free(l->changed);
	free(l->offers);
	free(l->conninfo);
	free(l->read_conninfo);
	free(l);
}

struct loader *
loader_start(const struct loader_args *a)
{
	sigset_t all, old;
	struct loader *l;
	int rc;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->stop_pipe[0] = l->stop_pipe[1] = -1;
	l->holder = a->holder;
	l->settled_fd = a->settled_fd;
	l->nice = a->nice;
	l->first_delay_ms = a->first_delay_ms;
	l->overlay_max = a->overlay_max;
	l->max_lag_ms = a->max_lag_ms;
	if (a->read_conninfo != NULL && a->read_conninfo[0] != '\0' &&
	    (l->read_conninfo = strdup(a->read_conninfo)) == NULL) {
		log_error("cannot set up the loader");
		loader_free(l);
		return NULL;
	}
	if ((l->conninfo = strdup(a->conninfo)) == NULL ||
	    pipe2(l->stop_pipe, O_NONBLOCK | O_CLOEXEC) == -1) {
		log_error("cannot set up the loader");
		loader_free(l);
		return NULL;
	}
	/* signals are the loop's (evsignal): the thread blocks them all */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&l->thread, NULL, loader_run, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		errno = rc;
		log_error("pthread_create() of the loader");
		loader_free(l);
		return NULL;
	}
	return l;
}

void
loader_stats(struct loader *l, struct stats_block *st)
{
	if (l != NULL)
		__atomic_store_n(&l->st, st, __ATOMIC_RELEASE);
}

void
loader_stop(struct loader *l)
{
	if (l == NULL)
		return;
	__atomic_store_n(&l->stop, true, __ATOMIC_RELEASE);
	if (write(l->stop_pipe[1], "", 1) == -1 && errno != EAGAIN)
		log_warn("write() to the loader's stop pipe");
	pthread_join(l->thread, NULL);
	loader_free(l);
}
