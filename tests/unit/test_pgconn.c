/*
 * test_pgconn.c: the connector of runtime/pgconn.h without a server: the
 * options it opens every connection with, libpq's messages on one line,
 * and the state machine on a real event_base and blocking: a closed port
 * and a missing socket directory fail through the callback, a listener
 * that never answers times out at the deadline, a cancelled connect
 * calls nothing back, and the blocking driver stops when its wait says.
 */
#include "runtime/pgconn.h"
#include "common/util.h"

#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "check_run.h"

#define DEADLINE_MS 300

START_TEST(test_params)
{
	struct pgconn_opts o = { .conninfo = "dbname=x", .options = "-c a=1",
	    .app_name = "placesd test" };
	const char *keys[PGCONN_NPARAMS], *vals[PGCONN_NPARAMS];
	size_t n;

	n = pgconn_params(&o, keys, vals, PGCONN_NPARAMS);
	ck_assert_uint_eq(n, 8);
	/* keepalives before the conninfo, which may override them */
	ck_assert_str_eq(keys[0], "keepalives");
	ck_assert_str_eq(vals[0], "1");
	ck_assert_str_eq(keys[1], "keepalives_idle");
	ck_assert_str_eq(vals[1], "30");
	ck_assert_str_eq(keys[2], "keepalives_interval");
	ck_assert_str_eq(vals[2], "10");
	ck_assert_str_eq(keys[3], "keepalives_count");
	ck_assert_str_eq(vals[3], "3");
	ck_assert_str_eq(keys[4], "tcp_user_timeout");
	ck_assert_str_eq(vals[4], "10000");
	/* then the conninfo, then what overrides it */
	ck_assert_str_eq(keys[5], "dbname");
	ck_assert_str_eq(vals[5], "dbname=x");
	ck_assert_str_eq(keys[6], "options");
	ck_assert_str_eq(vals[6], "-c a=1");
	ck_assert_str_eq(keys[7], "application_name");
	ck_assert_str_eq(vals[7], "placesd test");
	ck_assert_ptr_null(keys[8]);
	ck_assert_ptr_null(vals[8]);

	/* no options: no "options" keyword at all */
	o.options = NULL;
	n = pgconn_params(&o, keys, vals, PGCONN_NPARAMS);
	ck_assert_uint_eq(n, 7);
	ck_assert_str_eq(keys[6], "application_name");
	ck_assert_ptr_null(keys[7]);

	/* too little room: nothing */
	ck_assert_uint_eq(pgconn_params(&o, keys, vals, 3), 0);
}
END_TEST

/* s, parsed: the value of keyword kw ("" when unset) */
static const char *
kw_of(PQconninfoOption *opts, const char *kw)
{
	for (; opts->keyword != NULL; opts++)
		if (strcmp(opts->keyword, kw) == 0)
			return opts->val != NULL ? opts->val : "";
	return "";
}

/* after(conninfo, host, port) parses back with these host, hostaddr,
 * port and dbname */
static void
after_is(const char *conninfo, const char *host, const char *port,
    const char *h, const char *a, const char *p, const char *db)
{
	char *s = pgconn_after_host(conninfo, host, port);
	PQconninfoOption *opts;

	ck_assert_msg(s != NULL, "%s after %s:%s: nothing", conninfo, host,
	    port);
	opts = PQconninfoParse(s, NULL);
	ck_assert_msg(opts != NULL, "not a conninfo: %s", s);
	ck_assert_str_eq(kw_of(opts, "host"), h);
	ck_assert_str_eq(kw_of(opts, "hostaddr"), a);
	ck_assert_str_eq(kw_of(opts, "port"), p);
	ck_assert_str_eq(kw_of(opts, "dbname"), db);
	PQconninfoFree(opts);
	free(s);
}

/* A host that never answers is passed over: the hosts after it. */
START_TEST(test_after_host)
{
	PQconninfoOption *opts;
	char *s;

	after_is("host=a,b,c port=1,2,3 dbname=x", "a", "1", "b,c", "", "2,3",
	    "x");
	after_is("host=a,b,c port=1,2,3 dbname=x", "b", "2", "c", "", "3",
	    "x");
	/* one port for all stays; the same host twice, told by its port */
	after_is("host=a,b port=5433 dbname=x", "a", "5433", "b", "", "5433",
	    "x");
	after_is("host=a,a,b port=1,2,3", "a", "2", "b", "", "3", "");
	after_is("hostaddr=10.0.0.1,10.0.0.2 dbname=x", "10.0.0.1", "5432", "",
	    "10.0.0.2", "", "x");
	after_is("host=/run/a,/run/b dbname=x target_session_attrs=read-write",
	    "/run/a", "5432", "/run/b", "", "", "x");
	after_is("postgresql://u@h1:5432,h2:5433/db", "h1", "5432", "h2", "",
	    "5433", "db");
	/* none after the last, none for a host not in the list */
	ck_assert_ptr_null(pgconn_after_host("host=a,b dbname=x", "b", "5432"));
	ck_assert_ptr_null(pgconn_after_host("host=a dbname=x", "a", "5432"));
	ck_assert_ptr_null(pgconn_after_host("host=a,b dbname=x", "z", "5432"));
	ck_assert_ptr_null(pgconn_after_host("not = a = conninfo", "a", "1"));
	ck_assert_ptr_null(pgconn_after_host(NULL, "a", "1"));
	/* every other keyword kept, quotes and backslashes too */
	s = pgconn_after_host("host=a,b user=u password='it\\'s \\\\ x' "
	    "target_session_attrs=prefer-standby", "a", "5432");
	ck_assert_ptr_nonnull(s);
	opts = PQconninfoParse(s, NULL);
	ck_assert_ptr_nonnull(opts);
	ck_assert_str_eq(kw_of(opts, "password"), "it's \\ x");
	ck_assert_str_eq(kw_of(opts, "user"), "u");
	ck_assert_str_eq(kw_of(opts, "target_session_attrs"), "prefer-standby");
	ck_assert_str_eq(kw_of(opts, "host"), "b");
	PQconninfoFree(opts);
	free(s);
}
END_TEST

START_TEST(test_oneline)
{
	char buf[32];

	ck_assert_str_eq(pgconn_oneline(buf, sizeof(buf),
	    "FATAL:  no\n\tway\n \n"), "FATAL:  no  way");
	ck_assert_str_eq(pgconn_oneline(buf, sizeof(buf), NULL), "");
	ck_assert_str_eq(pgconn_oneline(buf, 6, "abcdefgh"), "abcde");
}
END_TEST

/* A TCP port on 127.0.0.1: listening (never accepting, never answering)
 * when listening, else closed again. */
static int
local_port(bool listening, int *fdp)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd;

	ck_assert_int_ge(fd = socket(AF_INET, SOCK_STREAM, 0), 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	if (listening)
		ck_assert_int_eq(listen(fd, 8), 0);
	else
		close(fd);
	*fdp = listening ? fd : -1;
	return ntohs(sin.sin_port);
}

struct outcome {
	int calls;
	enum pgconn_status st;
	char why[256];
	uint64_t ms;                /* when it called back */
	struct event_base *base;
};

static void
done(void *arg, PGconn *conn, enum pgconn_status st, const char *why)
{
	struct outcome *o = arg;

	ck_assert_ptr_null(conn);
	o->calls++;
	o->st = st;
	o->ms = util_now_ms();
	snprintf(o->why, sizeof(o->why), "%s", why);
	event_base_loopbreak(o->base);
}

/* Connects to conninfo on a real event_base; at most 5 s. */
static uint64_t
run(const char *conninfo, struct outcome *out)
{
	struct pgconn_opts o = { .conninfo = conninfo,
	    .app_name = "placesd test", .deadline_ms = DEADLINE_MS,
	    .nonblocking = true };
	struct timeval cap = { 5, 0 };
	struct pgconn *pc;
	uint64_t t0;

	memset(out, 0, sizeof(*out));
	ck_assert_ptr_nonnull(out->base = event_base_new());
	t0 = util_now_ms();
	ck_assert_ptr_nonnull(pc = pgconn_start(out->base, &o, done, out));
	ck_assert_int_eq(out->calls, 0);    /* never from inside start */
	event_base_loopexit(out->base, &cap);
	event_base_dispatch(out->base);
	event_base_free(out->base);
	ck_assert_int_eq(out->calls, 1);
	return out->ms - t0;
}

START_TEST(test_refused)
{
	struct outcome out;
	char ci[128];
	int fd, port = local_port(false, &fd);

	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%d dbname=x user=x",
	    port);
	ck_assert_uint_lt(run(ci, &out), DEADLINE_MS);
	ck_assert_int_eq(out.st, PGCONN_FAILED);
	ck_assert_ptr_nonnull(strstr(out.why, "refused"));
	ck_assert_ptr_null(strchr(out.why, '\n'));
}
END_TEST

START_TEST(test_no_socket_dir)
{
	struct outcome out;

	ck_assert_uint_lt(run("host=/nonexistent/placesd-test port=5432 "
	    "dbname=x user=x", &out), DEADLINE_MS);
	ck_assert_int_eq(out.st, PGCONN_FAILED);
	ck_assert_str_ne(out.why, "");
}
END_TEST

START_TEST(test_bad_conninfo)
{
	struct outcome out;

	/* PQconnectStartParams() fails at once: told on the next turn */
	run("nokey=1", &out);
	ck_assert_int_eq(out.st, PGCONN_FAILED);
	ck_assert_ptr_nonnull(strstr(out.why, "nokey"));
}
END_TEST

START_TEST(test_deadline)
{
	struct outcome out;
	char ci[128];
	int fd, port = local_port(true, &fd);
	uint64_t ms;

	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%d dbname=x user=x "
	    "sslmode=disable", port);
	ms = run(ci, &out);
	close(fd);
	ck_assert_int_eq(out.st, PGCONN_TIMEOUT);
	ck_assert_str_eq(out.why, "connecting timed out");
	ck_assert_uint_ge(ms, DEADLINE_MS - 10);
	ck_assert_uint_lt(ms, DEADLINE_MS + 1500);
}
END_TEST

static void
cancel_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	pgconn_cancel(arg);
}

START_TEST(test_cancel)
{
	struct outcome out = { 0 };
	struct pgconn_opts o = { .deadline_ms = DEADLINE_MS };
	struct timeval soon = { 0, 50000 };
	struct event_base *base;
	struct pgconn *pc;
	char ci[128];
	int fd, port = local_port(true, &fd);

	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%d dbname=x user=x "
	    "sslmode=disable", port);
	o.conninfo = ci;
	ck_assert_ptr_nonnull(base = out.base = event_base_new());
	ck_assert_ptr_nonnull(pc = pgconn_start(base, &o, done, &out));
	event_base_once(base, -1, EV_TIMEOUT, cancel_cb, pc, &soon);
	/* the loop ends when nothing is left: no event, no deadline */
	ck_assert_int_eq(event_base_dispatch(base), 1);
	ck_assert_int_eq(out.calls, 0);
	event_base_free(base);
	close(fd);
	pgconn_cancel(NULL);
}
END_TEST

/* The blocking driver's wait: poll(), or stop when arg says so. */
static int
wait_poll(void *arg, int fd, bool write, int64_t timeout_ms)
{
	struct pollfd pfd = { fd, write ? POLLOUT : POLLIN, 0 };
	int n;

	if (arg != NULL)
		return -1;
	if (timeout_ms < 0)
		timeout_ms = 0;
	n = poll(&pfd, 1, (int)timeout_ms);
	return n < 0 ? -1 : n > 0;
}

START_TEST(test_blocking)
{
	struct pgconn_opts o = { .deadline_ms = DEADLINE_MS };
	PGconn *conn = (PGconn *)&o;
	char ci[128], why[256];
	int fd, port;
	uint64_t t0;

	port = local_port(false, &fd);
	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%d dbname=x user=x",
	    port);
	o.conninfo = ci;
	ck_assert_int_eq(pgconn_connect(&o, wait_poll, NULL, &conn, why,
	    sizeof(why)), PGCONN_FAILED);
	ck_assert_ptr_null(conn);
	ck_assert_ptr_nonnull(strstr(why, "refused"));

	port = local_port(true, &fd);
	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%d dbname=x user=x "
	    "sslmode=disable", port);
	t0 = util_now_ms();
	ck_assert_int_eq(pgconn_connect(&o, wait_poll, NULL, &conn, why,
	    sizeof(why)), PGCONN_TIMEOUT);
	ck_assert_uint_ge(util_now_ms() - t0, DEADLINE_MS - 10);
	ck_assert_ptr_null(conn);
	/* told to stop: at once */
	ck_assert_int_eq(pgconn_connect(&o, wait_poll, &o, &conn, why,
	    sizeof(why)), PGCONN_STOPPED);
	ck_assert_ptr_null(conn);
	close(fd);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("pgconn");
	TCase *tc = tcase_create("pgconn");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_params);
	tcase_add_test(tc, test_after_host);
	tcase_add_test(tc, test_oneline);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_no_socket_dir);
	tcase_add_test(tc, test_bad_conninfo);
	tcase_add_test(tc, test_deadline);
	tcase_add_test(tc, test_cancel);
	tcase_add_test(tc, test_blocking);
	suite_add_tcase(s, tc);
	return check_run(s);
}
