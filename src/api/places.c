/*
 * places.c: GET /v1/cities/{city}/places (filters, keyset pagination in
 * the stable order rating desc, unknown ratings last, then id) and
 * GET /v1/places/{id} (with its menu and active offers), from the city
 * read model (worker/citymodel.h) when it is on, else from the TTL cache.
 *
 * The cursor is opaque to clients: base64url of "v1:<rating>:<id>" of the
 * last place of a page (an empty rating for an unknown one).
 */
#include "api/api.h"
#include "worker/cache.h"
#include "worker/citymodel.h"
#include "worker/worker.h"
#include "common/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "v1:<rating>:<id>": rating "" or d or d.d within 0..5, id a place id. */
static bool
cursor_decode(const char *c, char *rating, size_t rlen, char *id, size_t idlen)
{
	char buf[64], *r, *i;

	if (strlen(c) > 60 || api_b64url_decode(c, buf, sizeof(buf)) < 0 ||
	    strncmp(buf, "v1:", 3) != 0)
		return false;
	r = buf + 3;
	if ((i = strchr(r, ':')) == NULL)
		return false;
	*i++ = '\0';
	if (!api_is_id(i) || strlen(i) >= idlen || strlen(r) >= rlen)
		return false;
	if (*r != '\0' && !((r[0] >= '0' && r[0] <= '5') && (r[1] == '\0' ||
	    (r[1] == '.' && r[2] >= '0' && r[2] <= '9' && r[3] == '\0'))))
		return false;
	snprintf(rating, rlen, "%s", r);
	snprintf(id, idlen, "%s", i);
	return true;
}

static void
cursor_encode(const char *rating, const char *id, char *out)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "v1:%s:%s", rating ? rating : "", id);

	api_b64url_encode(buf, (size_t)n, out);
}

/* ---- GET /v1/cities/{city}/places ----------------------------------------- */

static void
list_result(struct api_job *job, const PGresult *res)
{
	int rows = pg_nrows(res), shown, i;
	char *buf = NULL, cursor[100];
	size_t len = 0;
	FILE *f;

	if (rows == 0) {
		http_reply_error(job->r, 404, "not_found", "no such city", NULL);
		return;
	}
	if (pg_value(res, 0, 0) == NULL)
		rows = 0;               /* the city, without matching places */
	shown = rows > (int)job->n ? (int)job->n : rows;
	if ((f = open_memstream(&buf, &len)) == NULL) {
		http_reply_error(job->r, 503, "overloaded", "out of memory",
		    NULL);
		return;
	}
	fputs("{\"places\":[", f);
	for (i = 0; i < shown; i++) {
		if (i > 0)
			fputc(',', f);
		fwrite(pg_value(res, i, 0), 1, (size_t)pg_length(res, i, 0), f);
	}
	if (rows > shown) {
		cursor_encode(pg_value(res, shown - 1, 1),
		    pg_value(res, shown - 1, 2), cursor);
		fprintf(f, "],\"next\":\"%s\"}", cursor);
	} else {
		fputs("],\"next\":null}", f);
	}
	if (fclose(f) != 0 || buf == NULL) {
		free(buf);
		http_reply_error(job->r, 503, "overloaded", "out of memory",
		    NULL);
		return;
	}
	http_reply(job->r, 200, "application/json; charset=utf-8", buf, len);
	free(buf);
}

void
api_city_places(struct http_req *r)
{
	const char *city = http_req_param(r, 0), *after;
	char cats[600], cuis[600], minr[32], crating[8], cid[24], lim[24];
	const char *params[8];
	long limit, maxp;
	char maxps[24];

	if (!api_is_slug(city)) {
		http_reply_error(r, 404, "not_found", "no such city", NULL);
		return;
	}
	if (!api_param_list(r, "category", cats, sizeof(cats)) ||
	    !api_param_list(r, "cuisine", cuis, sizeof(cuis)) ||
	    !api_param_number(r, "min_rating", 0, 5, minr, sizeof(minr)) ||
	    !api_param_int(r, "max_price", 1, 4, 0, &maxp) ||
	    !api_param_int(r, "limit", 1, 100, 20, &limit))
		return;
	crating[0] = cid[0] = '\0';
	if ((after = http_req_query(r, "after")) != NULL &&
	    !cursor_decode(after, crating, sizeof(crating), cid, sizeof(cid))) {
		http_reply_error(r, 400, "invalid_argument", "after is not a "
		    "cursor this server gave out", "after");
		return;
	}
	snprintf(maxps, sizeof(maxps), "%ld", maxp);
	snprintf(lim, sizeof(lim), "%ld", limit + 1);
	params[0] = city;
	params[1] = cats[0] ? cats : NULL;
	params[2] = cuis[0] ? cuis : NULL;
	params[3] = minr[0] ? minr : NULL;
	params[4] = maxp > 0 ? maxps : NULL;
	params[5] = crating[0] ? crating : NULL;
	params[6] = cid[0] ? cid : NULL;
	params[7] = lim;
	api_query(r, STMT_CITY_PLACES, 8, params, list_result, (uint64_t)limit,
	    NULL, NULL, NULL);
}

/* ---- GET /v1/places/{id} ----------------------------------------------------- */

static void
place_result(struct api_job *job, const PGresult *res)
{
	api_reply_json_row(job, res, "", "", "no such place");
}

static void
place_reply(struct http_req *r, const char *json, size_t len)
{
	http_reply(r, 200, "application/json; charset=utf-8", json, len);
}

static void
flight_fail(void *fl)
{
	cm_fail(fl);
}

/* A build for the read model: answered and handed over, or (404, any
 * failure: the job's ctx_free) failed and not kept. */
static void
place_built(struct api_job *job, const PGresult *res)
{
	const char *json = pg_value(res, 0, 0), *until = pg_value(res, 0, 1);
	const char *parts[CM_PARTS] = { json, NULL, NULL };
	struct cm_flight *fl = job->ctx;

	if (json == NULL) {
		http_reply_error(job->r, 404, "not_found", "no such place", NULL);
		return;
	}
	place_reply(job->r, json, (size_t)pg_length(res, 0, 0));
	job->ctx = NULL;
	cm_put(fl, parts, NULL, until != NULL ? strtoll(until, NULL, 10) : 0);
}

/* A place request waiting for another's build of the same place: the
 * waiter's arg is the request itself (its id is its route parameter), the
 * request's cancel data the waiter, so a hit allocates nothing. */
static void
place_wait_cancel(void *wt)
{
	cm_unwait(wt);
}

/* The build ended: its answer, or (it failed, or the place changed
 * meanwhile) a query of this request's own. */
static void
place_woken(void *arg, const struct cm_value *v)
{
	struct http_req *r = arg;
	const char *params[1] = { http_req_param(r, 0) };

	if (v != NULL) {
		place_reply(r, v->part[0], v->len[0]);
		return;
	}
	api_query(r, STMT_PLACE, 1, params, place_result, 0, NULL, NULL, NULL);
}

/* Answered (or deferred) from the read model; false when it is off. */
static bool
place_from_model(struct http_req *r, struct worker *w, const char *id,
    const char *key)
{
	const char *params[1] = { id };
	struct cm_flight *fl = NULL;
	struct cm_waiter *wt = NULL;
	struct cm_value v;

	switch (cm_get(w->model, CM_PLACES, key, &v, place_woken, r, &wt,
	    &fl)) {
	case CM_HIT:
		/* placesd_cache_*: places by id, whichever cache has them */
		stats_add(&w->st->cache_hits, 1);
		place_reply(r, v.part[0], v.len[0]);
		return true;
	case CM_STALE:
		stats_add(&w->st->cache_hits, 1);
		http_add_header(r, "Cache-Status", CM_STALE_STATUS);
		place_reply(r, v.part[0], v.len[0]);
		return true;
	case CM_WAIT:
		stats_add(&w->st->cache_misses, 1);
		http_req_defer(r, place_wait_cancel, wt);
		return true;
	case CM_BUILD:
		stats_add(&w->st->cache_misses, 1);
		api_query(r, STMT_RM_PLACE, 1, params, place_built, 0, NULL, fl,
		    flight_fail);
		return true;
	case CM_OFF:
		break;
	}
	return false;
}

void
api_place(struct http_req *r)
{
	struct worker *w = http_req_worker(r);
	const char *id = http_req_param(r, 0), *hit, *params[1];
	char key[48];
	size_t len;

	if (!api_is_id(id)) {
		http_reply_error(r, 400, "invalid_argument", "id must be a "
		    "positive integer", "id");
		return;
	}
	snprintf(key, sizeof(key), "place:%s", id);
	if (place_from_model(r, w, id, key))
		return;
	if ((hit = cache_get(w->cache, key, &len)) != NULL) {
		http_reply(r, 200, "application/json; charset=utf-8", hit, len);
		return;
	}
	params[0] = id;
	api_query(r, STMT_PLACE, 1, params, place_result, 0, key, NULL, NULL);
}
