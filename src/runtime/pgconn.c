/*
 * pgconn.c: opening a PostgreSQL connection (pgconn.h): the options every
 * connection of placesd is opened with, and the PQconnectPoll state
 * machine with its deadline, driven by the caller's event_base
 * (pgconn_start) or by the caller's blocking wait (pgconn_connect).
 */
#include "runtime/pgconn.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#define PGCONN_WHY_LEN  256

struct pgconn {
	PGconn *conn;
	struct event_base *base;
	struct event *ev;           /* one-shot, on the current PQsocket() */
	struct event *timer;        /* the deadline, or a failure to report */
	bool failed;                /* the timer reports why, not a timeout */
	bool nonblocking;
	pgconn_fn done;
	void *arg;
	char why[PGCONN_WHY_LEN];
};

static void pgconn_poll(evutil_socket_t fd, short ev, void *arg);

char *
pgconn_oneline(char *buf, size_t len, const char *msg)
{
	size_t n;
	char *ch;

	if (len == 0)
		return buf;
	snprintf(buf, len, "%s", msg != NULL ? msg : "");
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	for (ch = buf; *ch != '\0'; ch++)
		if (*ch == '\n' || *ch == '\t')
			*ch = ' ';
	return buf;
}

size_t
pgconn_params(const struct pgconn_opts *o, const char **keys,
    const char **vals, size_t n)
{
	/* keepalives first: the conninfo (dbname) may override them */
	static const char *const ka[][2] = {
		{ "keepalives", "1" },
		{ "keepalives_idle", "30" },
		{ "keepalives_interval", "10" },
		{ "keepalives_count", "3" },
		{ "tcp_user_timeout", "10000" },
	};
	size_t i, k = 0;

	if (n < PGCONN_NPARAMS)
		return 0;
	for (i = 0; i < sizeof(ka) / sizeof(ka[0]); i++) {
		keys[k] = ka[i][0];
		vals[k++] = ka[i][1];
	}
	keys[k] = "dbname";
	vals[k++] = o->conninfo != NULL ? o->conninfo : "";
	if (o->options != NULL) {
		keys[k] = "options";
		vals[k++] = o->options;
	}
	if (o->app_name != NULL) {
		keys[k] = "application_name";
		vals[k++] = o->app_name;
	}
	keys[k] = vals[k] = NULL;
	return k;
}

/* PQconnectStartParams() with the options; NULL and why when it failed. */
static PGconn *
pgconn_begin(const struct pgconn_opts *o, char *why, size_t len)
{
	const char *keys[PGCONN_NPARAMS], *vals[PGCONN_NPARAMS];
	PGconn *conn;

	pgconn_params(o, keys, vals, PGCONN_NPARAMS);
	if ((conn = PQconnectStartParams(keys, vals, 1)) == NULL) {
		pgconn_oneline(why, len, "out of memory");
		return NULL;
	}
	if (PQstatus(conn) == CONNECTION_BAD) {
		pgconn_oneline(why, len, PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	if (o->notice != NULL)
		PQsetNoticeReceiver(conn, o->notice, o->notice_arg);
	return conn;
}

/* ---- on an event_base ------------------------------------------------------- */

static void
pgconn_release(struct pgconn *pc)
{
	if (pc->ev != NULL)
		event_free(pc->ev);
	if (pc->timer != NULL)
		event_free(pc->timer);
	free(pc);
}

/* Calls back once: pc is gone by then, conn the caller's or closed. */
static void
pgconn_finish(struct pgconn *pc, enum pgconn_status st, const char *msg)
{
	char why[PGCONN_WHY_LEN];
	pgconn_fn done = pc->done;
	void *arg = pc->arg;
	PGconn *conn = pc->conn;

	/* msg may be libpq's own, gone with PQfinish() */
	pgconn_oneline(why, sizeof(why), msg);
	pc->conn = NULL;
	if (st != PGCONN_OK) {
		PQfinish(conn);
		conn = NULL;
	}
	pgconn_release(pc);
	done(arg, conn, st, why);
}

static void
pgconn_arm(struct pgconn *pc, short what)
{
	int fd;

	/* free first: libpq may have closed the old fd, and its number
	 * may already belong to the new socket */
	if (pc->ev != NULL) {
		event_free(pc->ev);
		pc->ev = NULL;
	}
	if ((fd = PQsocket(pc->conn)) < 0) {
		pgconn_finish(pc, PGCONN_FAILED, PQerrorMessage(pc->conn));
		return;
	}
	if ((pc->ev = event_new(pc->base, fd, what, pgconn_poll, pc)) ==
	    NULL || event_add(pc->ev, NULL) != 0)
		pgconn_finish(pc, PGCONN_FAILED, "cannot add a connect event");
}

static void
pgconn_poll(evutil_socket_t fd, short ev, void *arg)
{
	struct pgconn *pc = arg;

	(void)fd;
	(void)ev;
	switch (PQconnectPoll(pc->conn)) {
	case PGRES_POLLING_READING:
		pgconn_arm(pc, EV_READ);
		break;
	case PGRES_POLLING_WRITING:
		pgconn_arm(pc, EV_WRITE);
		break;
	case PGRES_POLLING_OK:
		if (pc->nonblocking && PQsetnonblocking(pc->conn, 1) != 0)
			pgconn_finish(pc, PGCONN_FAILED,
			    "PQsetnonblocking() failed");
		else
			pgconn_finish(pc, PGCONN_OK, "");
		break;
	default:
		pgconn_finish(pc, PGCONN_FAILED, PQerrorMessage(pc->conn));
		break;
	}
}

static void
pgconn_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct pgconn *pc = arg;

	(void)fd;
	(void)ev;
	if (pc->failed)
		pgconn_finish(pc, PGCONN_FAILED, pc->why);
	else
		pgconn_finish(pc, PGCONN_TIMEOUT, "connecting timed out");
}

struct pgconn *
pgconn_start(struct event_base *base, const struct pgconn_opts *o,
    pgconn_fn done, void *arg)
{
	struct timeval tv = { 0, 0 };
	struct pgconn *pc;

	if ((pc = calloc(1, sizeof(*pc))) == NULL)
		return NULL;
	pc->base = base;
	pc->done = done;
	pc->arg = arg;
	pc->nonblocking = o->nonblocking;
	if ((pc->timer = evtimer_new(base, pgconn_timer, pc)) == NULL) {
		free(pc);
		return NULL;
	}
	if ((pc->conn = pgconn_begin(o, pc->why, sizeof(pc->why))) == NULL) {
		/* told on the next turn of the loop, never from in here */
		pc->failed = true;
		evtimer_add(pc->timer, &tv);
		return pc;
	}
	if (o->deadline_ms > 0) {
		tv = util_tv(o->deadline_ms);
		evtimer_add(pc->timer, &tv);
	}
	/* "as if PQconnectPoll returned WRITING" */
	if ((pc->ev = event_new(base, PQsocket(pc->conn), EV_WRITE,
	    pgconn_poll, pc)) == NULL || event_add(pc->ev, NULL) != 0) {
		PQfinish(pc->conn);
		pc->conn = NULL;
		pgconn_release(pc);
		return NULL;
	}
	return pc;
}

void
pgconn_cancel(struct pgconn *pc)
{
	if (pc == NULL)
		return;
	PQfinish(pc->conn);
	pgconn_release(pc);
}

/* ---- blocking --------------------------------------------------------------- */

enum pgconn_status
pgconn_connect(const struct pgconn_opts *o, pgconn_wait_fn wait, void *arg,
    PGconn **connp, char *why, size_t len)
{
	PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
	uint64_t deadline = util_now_ms() + o->deadline_ms;
	enum pgconn_status st = PGCONN_FAILED;
	int64_t left;
	PGconn *conn;
	int r;

	*connp = NULL;
	pgconn_oneline(why, len, "");
	if ((conn = pgconn_begin(o, why, len)) == NULL)
		return PGCONN_FAILED;
	while (ps != PGRES_POLLING_OK) {
		if (ps == PGRES_POLLING_FAILED)
			goto fail;
		left = o->deadline_ms == 0 ? INT64_MAX :
		    (int64_t)(deadline - util_now_ms());
		r = wait(arg, PQsocket(conn), ps != PGRES_POLLING_READING,
		    left);
		if (r <= 0) {
			st = r == 0 ? PGCONN_TIMEOUT : PGCONN_STOPPED;
			goto fail;
		}
		ps = PQconnectPoll(conn);
	}
	if (o->nonblocking && PQsetnonblocking(conn, 1) != 0) {
		pgconn_oneline(why, len, "PQsetnonblocking() failed");
		PQfinish(conn);
		return PGCONN_FAILED;
	}
	*connp = conn;
	return PGCONN_OK;
fail:
	pgconn_oneline(why, len, PQerrorMessage(conn));
	PQfinish(conn);
	return st;
}
