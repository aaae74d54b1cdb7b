/*
 * pgconn.h: the one way placesd opens a PostgreSQL connection. The pool
 * (pg.c), the LISTEN feed (feed.c) and the ranker's loader (loader.c)
 * share its connection options (keepalives, the conninfo, the server
 * options, application_name), its PQconnectPoll state machine with its
 * deadline, and the one-line form of libpq's messages; each keeps its own
 * back-off (backoff.h), log lines and what it does with the connection.
 *
 * Each host of a multi-host conninfo gets the whole deadline: libpq goes
 * on to the next host by itself when one refuses, but leaves a host that
 * never answers to the caller of PQconnectPoll (connect_timeout is not
 * applied there), so at the deadline the connect starts again on the
 * hosts after it (pgconn_after_host).
 *
 * Two drivers of the same state machine:
 *  - pgconn_start(): non-blocking, on the caller's event_base, with one
 *    one-shot event re-armed on the current PQsocket() (libpq may change
 *    the socket inside PQconnectPoll) and a deadline timer; it calls back
 *    once, never from inside pgconn_start(), and is gone when it does;
 *  - pgconn_connect(): for a thread that may block (the ranker's loader),
 *    with its waits left to the caller's wait function (a poll() that
 *    also watches a stop pipe).
 */
#ifndef PLACESD_PGCONN_H
#define PLACESD_PGCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

struct event_base;

/* conninfo is copied; options and app_name must last as long as the
 * connect (a host passed over starts it again with them). */
struct pgconn_opts {
	const char *conninfo;       /* [database] conninfo, expanded */
	const char *options;        /* server options ("-c k=v"), or NULL */
	const char *app_name;       /* application_name, or NULL */
	uint64_t deadline_ms;       /* connect and authenticate, for each
	                               host of a list; 0: none */
	PQnoticeReceiver notice;    /* set at start; NULL: libpq's (stderr) */
	void *notice_arg;
	bool nonblocking;           /* PQsetnonblocking() once connected */
};

enum pgconn_status {
	PGCONN_OK,
	PGCONN_FAILED,              /* refused, lost, out of memory */
	PGCONN_TIMEOUT,             /* the deadline passed */
	PGCONN_STOPPED,             /* the wait function said stop */
};

/*
 * A connection's outcome: conn is the ready connection (st PGCONN_OK; the
 * caller owns it) or NULL; why is the reason of a failure on one line,
 * valid during the call only.
 */
typedef void (*pgconn_fn)(void *arg, PGconn *conn, enum pgconn_status st,
    const char *why);

/* Starts connecting on base; NULL when out of memory (nothing is called
 * back then). */
struct pgconn *pgconn_start(struct event_base *base,
    const struct pgconn_opts *o, pgconn_fn done, void *arg);
/* Gives up a connection before it called back: the half-open connection
 * is closed, its events freed, nothing is called back. NULL is fine. */
void pgconn_cancel(struct pgconn *pc);

/*
 * Waits until fd is readable (write false) or writable, at most
 * timeout_ms: 1 ready, 0 timed out, -1 stop.
 */
typedef int (*pgconn_wait_fn)(void *arg, int fd, bool write,
    int64_t timeout_ms);

/*
 * Connects, blocking in wait between PQconnectPoll calls, within
 * o->deadline_ms. PGCONN_OK: *connp is the ready connection (the
 * caller's); otherwise *connp is NULL and why holds the reason.
 */
enum pgconn_status pgconn_connect(const struct pgconn_opts *o,
    pgconn_wait_fn wait, void *arg, PGconn **connp, char *why, size_t len);

/*
 * conninfo without its hosts up to the one at host:port (libpq's PQhost
 * and PQport of a connect under way) and with the others, for going on
 * to the next host of a multi-host list when that one does not answer
 * (libpq leaves that to the caller of PQconnectPoll); NULL when none is
 * left after it, when host:port is not in it, or out of memory. The
 * caller frees it.
 */
char *pgconn_after_host(const char *conninfo, const char *host,
    const char *port);

/*
 * The keywords and values given to PQconnectStartParams(), NULL-ended:
 * keepalives first, so that the conninfo may set its own; then the
 * conninfo, then the options and application_name, which override it.
 * n is the room in keys and vals (PGCONN_NPARAMS is enough); returns the
 * count, without the NULL.
 */
#define PGCONN_NPARAMS 9
size_t pgconn_params(const struct pgconn_opts *o, const char **keys,
    const char **vals, size_t n);

/* msg (libpq's, which spans lines) in buf on one line, without the
 * trailing newline; NULL is "". Returns buf. */
char *pgconn_oneline(char *buf, size_t len, const char *msg);

#endif
