/*
 * health.c: liveness (/healthz: the loop turns), readiness (/readyz: the
 * dependencies answer) and the test-only /debug/sleep, which holds a
 * request on a timer without blocking the loop.
 */
#include "api/api.h"
#include "api/health_doc.h"
#include "worker/worker.h"
#include "common/log.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

/* The body of /healthz, also the quick form of its route (http.h). */
size_t
api_healthz_body(struct worker *w, char *buf, size_t cap)
{
	return api_healthz_text(w->args->slot, w->args->gen, buf, cap);
}

void
api_healthz(struct http_req *r)
{
	char body[80];
	size_t n = api_healthz_body(http_req_worker(r), body, sizeof(body));

	http_reply(r, 200, "application/json; charset=utf-8", body, n);
}

/* 200 while the ranker and the database answer; else 503 naming them. */
void
api_readyz(struct http_req *r)
{
	struct worker *w = http_req_worker(r);
	bool db = worker_db_up(w), ranker = worker_ranker_up(w);

	http_reply_json(r, db && ranker ? 200 : 503, api_readyz_doc(db, ranker));
}

/* ---- /debug/sleep?ms=N ---------------------------------------------------- */

struct sleeper {
	struct http_req *r;
	struct event *ev;
	uint64_t ms;
};

static void
sleeper_free(void *arg)
{
	struct sleeper *s = arg;

	event_free(s->ev);
	free(s);
}

static void
sleeper_done(evutil_socket_t fd, short ev, void *arg)
{
	struct sleeper *s = arg;
	struct http_req *r = s->r;
	uint64_t ms = s->ms;

	(void)fd;
	(void)ev;
	sleeper_free(s);    /* answered below: cancel will not run */
	http_reply_json(r, 200, json_pack("{s:I}", "slept_ms", (json_int_t)ms));
}

void
api_debug_sleep(struct http_req *r)
{
	struct worker *w = http_req_worker(r);
	const char *v = http_req_query(r, "ms");
	struct sleeper *s;
	struct timeval tv;
	char err[64];
	uint64_t ms;

	if (v == NULL || util_parse_uint(v, &ms, err, sizeof(err)) != 0 ||
	    ms < 1 || ms > 60000) {
		http_reply_error(r, 400, "invalid_argument",
		    "ms must be an integer between 1 and 60000", "ms");
		return;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->ev = evtimer_new(w->base, sleeper_done, s)) == NULL) {
		free(s);
		http_reply_error(r, 503, "overloaded", "out of memory", NULL);
		return;
	}
	s->r = r;
	s->ms = ms;
	tv = util_tv(ms);
	evtimer_add(s->ev, &tv);
	http_req_defer(r, sleeper_free, s);
}
