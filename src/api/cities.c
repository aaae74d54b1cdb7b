/*
 * cities.c: GET /v1/cities, every city with its number of places, from
 * the city read model (runtime/citymodel.h, the bucket CM_CITIES) when it
 * is on and the database announces places_city, else from the worker's
 * TTL cache while fresh.
 */
#include "api/api.h"
#include "runtime/cache.h"
#include "runtime/citymodel.h"
#include "worker/worker.h"
#include "common/stats.h"

#include <stdlib.h>
#include <string.h>

#define CITIES_KEY CACHE_KEY_CITIES
#define CITIES_PREFIX "{\"cities\":"
#define CITIES_SUFFIX "}"

static void
cities_result(struct api_job *job, const PGresult *res)
{
	api_reply_json_row(job, res, CITIES_PREFIX, CITIES_SUFFIX,
	    "no city list");
}

static void
flight_fail(void *fl)
{
	cm_fail(fl);
}

/* A build for the read model: answered and handed over, or (any
 * failure: the job's ctx_free) not kept. */
static void
cities_built(struct api_job *job, const PGresult *res)
{
	const char *parts[CM_PARTS] = { pg_value(res, 0, 0), NULL, NULL };
	struct cm_flight *fl = job->ctx;

	if (parts[0] == NULL) {
		http_reply_error(job->r, 404, "not_found", "no city list", NULL);
		return;
	}
	api_reply_raw_json(job->r, CITIES_PREFIX, parts[0],
	    (size_t)pg_length(res, 0, 0), CITIES_SUFFIX);
	job->ctx = NULL;
	cm_put(fl, parts, NULL, 0);
}

static void
cities_woken(void *arg, const struct cm_value *v)
{
	struct http_req *r = arg;

	if (v != NULL)
		api_reply_raw_json(r, CITIES_PREFIX, v->part[0], v->len[0],
		    CITIES_SUFFIX);
	else
		api_read(r, STMT_CITIES, 0, NULL, cities_result, 0, NULL,
		    NULL);
}

static void
cities_wait_cancel(void *arg)
{
	cm_unwait(arg);
}

/* Answered (or deferred) from the read model; false when it is off. */
static bool
cities_from_model(struct http_req *r, struct worker *w)
{
	struct cm_flight *fl = NULL;
	struct cm_waiter *wt = NULL;
	struct cm_value v;

	switch (cm_get(w->model, CM_CITIES, CITIES_KEY, &v, cities_woken, r,
	    &wt, &fl)) {
	case CM_STALE:
		http_add_header(r, "Cache-Status", CM_STALE_STATUS);
		/* FALLTHROUGH */
	case CM_HIT:
		/* placesd_cache_*: whichever cache has the list */
		stats_add(&w->st->cache_hits, 1);
		api_reply_raw_json(r, CITIES_PREFIX, v.part[0], v.len[0],
		    CITIES_SUFFIX);
		return true;
	case CM_WAIT:
		stats_add(&w->st->cache_misses, 1);
		http_req_defer(r, cities_wait_cancel, wt);
		return true;
	case CM_BUILD:
		stats_add(&w->st->cache_misses, 1);
		api_query(r, STMT_CITIES, 0, NULL, cities_built, 0, NULL, fl,
		    flight_fail);
		return true;
	case CM_OFF:
		break;
	}
	return false;
}

void
api_cities(struct http_req *r)
{
	struct worker *w = http_req_worker(r);
	const char *hit;
	size_t len;

	if (cities_from_model(r, w))
		return;
	if ((hit = cache_get(w->cache, CITIES_KEY, &len)) != NULL) {
		api_reply_raw_json(r, CITIES_PREFIX, hit, len, CITIES_SUFFIX);
		return;
	}
	api_query(r, STMT_CITIES, 0, NULL, cities_result, 0, CITIES_KEY, NULL,
	    NULL);
}
