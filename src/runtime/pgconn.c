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
	struct event *timer;        /* the host's deadline, or a failure */
	bool failed;                /* the timer reports why, not a timeout */
	struct pgconn_opts o;       /* conninfo: the hosts not yet passed */
	char *conninfo;             /* o.conninfo's, owned */
	char host[256];             /* the host libpq is trying, host:port */
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

/* ---- the hosts of a list ---------------------------------------------------- */

/* The n-th item (0-based) of a comma list, into out; false past its end. */
static bool
list_item(const char *list, unsigned n, char *out, size_t len)
{
	size_t k;

	for (; n > 0; n--) {
		if ((list = strchr(list, ',')) == NULL)
			return false;
		list++;
	}
	k = strcspn(list, ",");
	snprintf(out, len, "%.*s", (int)(k < len ? k : len - 1), list);
	return true;
}

static unsigned
list_len(const char *list)
{
	unsigned n = 1;

	if (list == NULL || *list == '\0')
		return 0;
	for (; *list != '\0'; list++)
		n += *list == ',';
	return n;
}

/* value, quoted for a conninfo string, appended to buf */
static bool
append_value(char **buf, size_t *len, size_t *cap, const char *kw,
    const char *v)
{
	size_t need = strlen(kw) + 2 * strlen(v) + 5;
	char *p;

	if (*len + need >= *cap) {
		size_t ncap = (*cap + need) * 2;

		if ((p = realloc(*buf, ncap)) == NULL)
			return false;
		*buf = p;
		*cap = ncap;
	}
	p = *buf + *len;
	p += sprintf(p, "%s%s='", *len > 0 ? " " : "", kw);
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '\'')
			*p++ = '\\';
		*p++ = *v;
	}
	*p++ = '\'';
	*p = '\0';
	*len = (size_t)(p - *buf);
	return true;
}

/* Where host:port (libpq's PQhost and PQport) stands in the lists, or -1. */
static int
host_index(const char *hosts, const char *addrs, const char *ports,
    unsigned n, const char *host, const char *port)
{
	char h[256], p[32];
	unsigned i;

	for (i = 0; i < n; i++) {
		if (!list_item(list_len(hosts) == n ? hosts : addrs, i, h,
		    sizeof(h)))
			return -1;
		if (list_len(ports) != n || !list_item(ports, i, p, sizeof(p)))
			p[0] = '\0';
		if (strcmp(h, host) == 0 && (p[0] == '\0' || port == NULL ||
		    strcmp(p, port) == 0))
			return (int)i;
	}
	return -1;
}

/* list without its first `drop` items (one that does not have n items,
 * a single port for all, is kept whole) */
static const char *
list_after(const char *list, unsigned n, unsigned drop)
{
	if (list == NULL || list_len(list) != n)
		return list;
	for (; drop > 0; drop--)
		list = strchr(list, ',') + 1;
	return list;
}

char *
pgconn_after_host(const char *conninfo, const char *host, const char *port)
{
	PQconninfoOption *opts, *o;
	const char *hosts = NULL, *addrs = NULL, *ports = NULL, *v;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	unsigned n;
	int at;

	if (conninfo == NULL || host == NULL ||
	    (opts = PQconninfoParse(conninfo, NULL)) == NULL)
		return NULL;
	for (o = opts; o->keyword != NULL; o++) {
		if (strcmp(o->keyword, "host") == 0)
			hosts = o->val;
		else if (strcmp(o->keyword, "hostaddr") == 0)
			addrs = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			ports = o->val;
	}
	n = list_len(hosts) > list_len(addrs) ? list_len(hosts) :
	    list_len(addrs);
	at = host_index(hosts, addrs, ports, n, host, port);
	if (at < 0 || (unsigned)at + 1 >= n)
		goto out;
	for (o = opts; o->keyword != NULL; o++) {
		if ((v = o->val) == NULL)
			continue;
		if (strcmp(o->keyword, "host") == 0 ||
		    strcmp(o->keyword, "hostaddr") == 0 ||
		    strcmp(o->keyword, "port") == 0)
			v = list_after(v, n, (unsigned)at + 1);
		if (!append_value(&buf, &len, &cap, o->keyword, v)) {
			free(buf);
			buf = NULL;
			break;
		}
	}
out:
	PQconninfoFree(opts);
	return buf;
}

/* "host:port" of the host conn is trying now, into out */
static void
current_host(PGconn *conn, char *out, size_t len)
{
	const char *h = PQhost(conn), *p = PQport(conn);

	snprintf(out, len, "%s:%s", h != NULL ? h : "", p != NULL ? p : "");
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
	free(pc->conninfo);
	free(pc);
}

/* A new host under way (libpq went on by itself, or we did): its own
 * deadline. */
static void
pgconn_watch_host(struct pgconn *pc)
{
	char now[sizeof(pc->host)];
	struct timeval tv;

	current_host(pc->conn, now, sizeof(now));
	if (strcmp(now, pc->host) == 0)
		return;
	memcpy(pc->host, now, sizeof(now));
	if (pc->o.deadline_ms > 0) {
		tv = util_tv(pc->o.deadline_ms);
		evtimer_add(pc->timer, &tv);
	}
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
		pgconn_watch_host(pc);
		pgconn_arm(pc, EV_READ);
		break;
	case PGRES_POLLING_WRITING:
		pgconn_watch_host(pc);
		pgconn_arm(pc, EV_WRITE);
		break;
	case PGRES_POLLING_OK:
		if (pc->o.nonblocking && PQsetnonblocking(pc->conn, 1) != 0)
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

/* The host under way did not answer in time: the hosts after it, if the
 * list has any, else a timeout. */
static void
pgconn_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct pgconn *pc = arg;
	char *next;

	(void)fd;
	(void)ev;
	if (pc->failed) {
		pgconn_finish(pc, PGCONN_FAILED, pc->why);
		return;
	}
	if ((next = pgconn_after_host(pc->conninfo, PQhost(pc->conn),
	    PQport(pc->conn))) == NULL) {
		pgconn_finish(pc, PGCONN_TIMEOUT, "connecting timed out");
		return;
	}
	PQfinish(pc->conn);
	free(pc->conninfo);
	pc->o.conninfo = pc->conninfo = next;
	pc->host[0] = '\0';
	if ((pc->conn = pgconn_begin(&pc->o, pc->why, sizeof(pc->why))) ==
	    NULL) {
		pgconn_finish(pc, PGCONN_FAILED, pc->why);
		return;
	}
	pgconn_watch_host(pc);
	pgconn_arm(pc, EV_WRITE);
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
	pc->o = *o;
	if ((pc->timer = evtimer_new(base, pgconn_timer, pc)) == NULL ||
	    (pc->conninfo = strdup(o->conninfo != NULL ? o->conninfo : "")) ==
	    NULL) {
		pgconn_release(pc);
		return NULL;
	}
	pc->o.conninfo = pc->conninfo;
	if ((pc->conn = pgconn_begin(&pc->o, pc->why, sizeof(pc->why))) ==
	    NULL) {
		/* told on the next turn of the loop, never from in here */
		pc->failed = true;
		evtimer_add(pc->timer, &tv);
		return pc;
	}
	pgconn_watch_host(pc);
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

/* The hosts after the one conn is trying: a new connect under way on
 * them, *o's conninfo (*owned) replaced; false when none is left. */
static bool
pgconn_next_host(struct pgconn_opts *o, char **owned, PGconn **conn,
    char *why, size_t len)
{
	char *next = pgconn_after_host(o->conninfo, PQhost(*conn),
	    PQport(*conn));

	if (next == NULL)
		return false;
	PQfinish(*conn);
	free(*owned);
	o->conninfo = *owned = next;
	*conn = pgconn_begin(o, why, len);
	return true;
}

enum pgconn_status
pgconn_connect(const struct pgconn_opts *opts, pgconn_wait_fn wait,
    void *arg, PGconn **connp, char *why, size_t len)
{
	PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
	struct pgconn_opts o = *opts;
	enum pgconn_status st = PGCONN_FAILED;
	char host[256] = "", now[256], *owned = NULL;
	uint64_t deadline = 0;
	int64_t left;
	PGconn *conn;
	int r;

	*connp = NULL;
	pgconn_oneline(why, len, "");
	if ((conn = pgconn_begin(&o, why, len)) == NULL)
		return PGCONN_FAILED;
	while (ps != PGRES_POLLING_OK) {
		if (ps == PGRES_POLLING_FAILED)
			goto fail;
		current_host(conn, now, sizeof(now));
		if (strcmp(now, host) != 0) {   /* each host its deadline */
			memcpy(host, now, sizeof(host));
			deadline = util_now_ms() + o.deadline_ms;
		}
		left = o.deadline_ms == 0 ? INT64_MAX :
		    (int64_t)(deadline - util_now_ms());
		r = wait(arg, PQsocket(conn), ps != PGRES_POLLING_READING,
		    left);
		if (r == 0 && pgconn_next_host(&o, &owned, &conn, why, len)) {
			if (conn == NULL)
				break;
			host[0] = '\0';
			ps = PGRES_POLLING_WRITING;
			continue;
		}
		if (r <= 0) {
			st = r == 0 ? PGCONN_TIMEOUT : PGCONN_STOPPED;
			goto fail;
		}
		ps = PQconnectPoll(conn);
	}
	free(owned);
	if (conn == NULL)
		return PGCONN_FAILED;
	if (o.nonblocking && PQsetnonblocking(conn, 1) != 0) {
		pgconn_oneline(why, len, "PQsetnonblocking() failed");
		PQfinish(conn);
		return PGCONN_FAILED;
	}
	*connp = conn;
	return PGCONN_OK;
fail:
	free(owned);
	pgconn_oneline(why, len, PQerrorMessage(conn));
	PQfinish(conn);
	return st;
}
