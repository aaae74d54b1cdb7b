/*
 * places.c: GET /v1/cities/{city}/places (filters, keyset pagination in
 * the stable order rating desc, unknown ratings last, then id) and
 * GET /v1/places/{id} (with its menu and active offers), from the city
 * read model (runtime/citymodel.h) when it is on, else from the database
 * (the lists) or the TTL cache (places).
 *
 * The cursor is opaque to clients: the rating and id of the last place of
 * a page, bound to the city and filters that listed it (cursor.c).
 *
 * A place's answer carries an ETag, a hash of its bytes (kept with the
 * read model's answer, so a hit computes nothing); http.c answers 304 Not
 * Modified to a request whose If-None-Match names it.
 */
#include "api/api.h"
#include "runtime/cache.h"
#include "runtime/http_etag.h"
#include "runtime/citymodel.h"
#include "worker/worker.h"
#include "common/stats.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
flight_fail(void *fl)
{
	cm_fail(fl);
}

/* A list query's own: what its cursor is bound to, and the read model's
 * build it fills, if any (failed with the job unless handed over). */
struct list_job {
	uint64_t query;
	struct cm_flight *fl;
};

static void
list_job_free(void *arg)
{
	struct list_job *lj = arg;

	if (lj->fl != NULL)
		cm_fail(lj->fl);
	free(lj);
}

/* ---- GET /v1/cities/{city}/places ----------------------------------------- */

/* A list request's parameters as PostgreSQL takes them, "" for NULL. */
struct list_req {
	struct http_req *r;
	struct cm_waiter *wt;       /* waiting for another's build */
	long limit;
	char city[65];
	char cats[600];
	char cuis[600];
	char minr[32];
	char maxp[24];
	char crating[8];
	char cid[24];
	char rows[24];              /* limit + 1 */
	uint64_t query;             /* api_cursor_query() of city, filters */
};

/* The places of res a page of limit shows; *more if others follow. */
static int
list_shown(const PGresult *res, long limit, bool *more)
{
	int rows = pg_nrows(res);

	if (pg_value(res, 0, 0) == NULL)
		rows = 0;               /* the city, without matching places */
	*more = rows > (int)limit;
	return *more ? (int)limit : rows;
}

/*
 * The cursor of the page after res's into cursor[size], "" on the last
 * page; false when its last place is not a position a cursor carries
 * (cursor.c: an id of over 18 digits, a rating the column cannot hold).
 */
static bool
list_next(const PGresult *res, long limit, uint64_t query, char *cursor,
    size_t size)
{
	bool more;
	int shown = list_shown(res, limit, &more);

	cursor[0] = '\0';
	return !more || api_places_cursor_encode(query, pg_value(res,
	    shown - 1, 1), pg_value(res, shown - 1, 2), cursor, size);
}

/*
 * The answer of a page (rows == 0: no such city) into *buf, as the
 * client gets it, with or without the read model, next its cursor ("":
 * none); false on no memory.
 */
static bool
list_encode(const PGresult *res, long limit, const char *next, char **buf,
    size_t *len)
{
	bool more;
	int shown = list_shown(res, limit, &more), i;
	FILE *f;

	*buf = NULL;
	*len = 0;
	if ((f = open_memstream(buf, len)) == NULL)
		return false;
	fputs("{\"places\":[", f);
	for (i = 0; i < shown; i++) {
		if (i > 0)
			fputc(',', f);
		fwrite(pg_value(res, i, 0), 1, (size_t)pg_length(res, i, 0), f);
	}
	/* the count of every row, exact: a city's places are few enough */
	fprintf(f, "],\"total\":%lld,\"total_exact\":true,\"next\":",
	    strtoll(pg_value(res, 0, 3), NULL, 10));
	if (next[0] != '\0')
		fprintf(f, "\"%s\"}", next);
	else
		fputs("null}", f);
	if (fclose(f) != 0 || *buf == NULL) {
		free(*buf);
		*buf = NULL;
		return false;
	}
	return true;
}

static void
list_reply(struct http_req *r, const char *json, size_t len)
{
	http_reply(r, 200, "application/json; charset=utf-8", json, len);
}

/* The page of res answered to job's request, its bytes in *buf (the
 * caller frees them); false when the answer was an error (no city, no
 * cursor for its last place, no memory), with nothing to keep. */
static bool
list_answer(struct api_job *job, const PGresult *res, char **buf,
    size_t *len)
{
	const struct list_job *lj = job->ctx;
	char next[API_CURSOR_MAX];

	if (pg_nrows(res) == 0) {
		http_reply_error(job->r, 404, "not_found", "no such city", NULL);
		return false;
	}
	if (!list_next(res, (long)job->n, lj->query, next, sizeof(next))) {
		http_reply_error(job->r, 500, "internal", "the page's cursor "
		    "could not be encoded", NULL);
		return false;
	}
	if (!list_encode(res, (long)job->n, next, buf, len)) {
		http_reply_error(job->r, 503, "overloaded", "out of memory",
		    NULL);
		return false;
	}
	list_reply(job->r, *buf, *len);
	return true;
}

/* A page from the database, kept by nothing. */
static void
list_result(struct api_job *job, const PGresult *res)
{
	char *buf;
	size_t len;

	if (list_answer(job, res, &buf, &len))
		free(buf);
}

/* A build for the read model: answered and handed over with the city's
 * ids, or (404, no memory, any failure: the job's ctx_free) not kept. */
static void
list_built(struct api_job *job, const PGresult *res)
{
	const char *parts[CM_PARTS] = { NULL, NULL, NULL };
	struct list_job *lj = job->ctx;
	struct cm_flight *fl = lj->fl;
	char *buf;
	size_t len;

	if (!list_answer(job, res, &buf, &len))
		return;
	lj->fl = NULL;
	parts[0] = buf;
	cm_put(fl, parts, pg_value(res, 0, 4), 0);
	free(buf);
}

static void
list_query(struct list_req *lr, int stmt,
    void (*done)(struct api_job *, const PGresult *), struct cm_flight *fl)
{
	const char *params[8];
	struct list_job *lj;

	if ((lj = malloc(sizeof(*lj))) == NULL) {
		if (fl != NULL)
			cm_fail(fl);
		http_reply_error(lr->r, 503, "overloaded", "out of memory",
		    NULL);
		return;
	}
	lj->query = lr->query;
	lj->fl = fl;
	params[0] = lr->city;
	params[1] = lr->cats[0] ? lr->cats : NULL;
	params[2] = lr->cuis[0] ? lr->cuis : NULL;
	params[3] = lr->minr[0] ? lr->minr : NULL;
	params[4] = lr->maxp[0] ? lr->maxp : NULL;
	params[5] = lr->crating[0] ? lr->crating : NULL;
	params[6] = lr->cid[0] ? lr->cid : NULL;
	params[7] = lr->rows;
	if (fl == NULL)
		api_read(lr->r, stmt, 8, params, done, (uint64_t)lr->limit,
		    lj, list_job_free);
	else
		api_query(lr->r, stmt, 8, params, done, (uint64_t)lr->limit,
		    NULL, lj, list_job_free);
}

static void
list_wait_cancel(void *arg)
{
	struct list_req *lr = arg;

	cm_unwait(lr->wt);
	free(lr);
}

/* The build ended: its answer, or (it failed, or the city changed
 * meanwhile) a query of this request's own. */
static void
list_woken(void *arg, const struct cm_value *v)
{
	struct list_req *lr = arg;

	if (v != NULL)
		list_reply(lr->r, v->part[0], v->len[0]);
	else
		list_query(lr, STMT_CITY_PLACES, list_result, NULL);
	free(lr);
}

/*
 * Answered (or deferred) from the read model; false when it is off. The
 * key is the parameters as checked, so distinct keys are bounded by what
 * the model may hold, not by what clients send.
 */
static bool
list_from_model(struct list_req *lr, struct worker *w)
{
	struct cm_flight *fl = NULL;
	struct cm_waiter *wt = NULL;
	struct cm_value v;
	char key[sizeof(*lr) - offsetof(struct list_req, cats) + 16];

	snprintf(key, sizeof(key), CM_LIST_PREFIX "%s|%s|%s|%s|%s|%s|%ld",
	    lr->cats, lr->cuis, lr->minr, lr->maxp, lr->crating, lr->cid,
	    lr->limit);
	switch (cm_get(w->model, lr->city, key, &v, list_woken, lr, &wt,
	    &fl)) {
	case CM_STALE:
		http_add_header(lr->r, "Cache-Status", CM_STALE_STATUS);
		/* FALLTHROUGH */
	case CM_HIT:
		list_reply(lr->r, v.part[0], v.len[0]);
		free(lr);
		return true;
	case CM_WAIT:
		lr->wt = wt;
		http_req_defer(lr->r, list_wait_cancel, lr);
		return true;
	case CM_BUILD:
		list_query(lr, STMT_RM_CITY_PLACES, list_built, fl);
		free(lr);
		return true;
	case CM_OFF:
		break;
	}
	return false;
}

/* What the cursors of lr's pages are bound to: the city and the filters,
 * min_rating as a number (4 and 4.0 are one query); not the page size. */
static uint64_t
list_query_of(const struct list_req *lr)
{
	char canon[sizeof(*lr)];

	snprintf(canon, sizeof(canon), "places|%s|%s|%s|%.17g|%s", lr->city,
	    lr->cats, lr->cuis, lr->minr[0] ? strtod(lr->minr, NULL) : -1.0,
	    lr->maxp);
	return api_cursor_query(canon);
}

/* The request's parameters into lr; false when it answered 400 or 404. */
static bool
list_parse(struct http_req *r, struct list_req *lr)
{
	const char *city = http_req_param(r, 0), *after;
	enum api_cursor why;
	long maxp;

	if (!api_is_slug(city)) {
		http_reply_error(r, 404, "not_found", "no such city", NULL);
		return false;
	}
	snprintf(lr->city, sizeof(lr->city), "%s", city);
	if (!api_param_list(r, "category", lr->cats, sizeof(lr->cats)) ||
	    !api_param_list(r, "cuisine", lr->cuis, sizeof(lr->cuis)) ||
	    !api_param_number(r, "min_rating", 0, 5, lr->minr,
	    sizeof(lr->minr)) ||
	    !api_param_int(r, "max_price", 1, 4, 0, &maxp) ||
	    !api_param_int(r, "limit", 1, 100, 20, &lr->limit))
		return false;
	if (maxp > 0)
		snprintf(lr->maxp, sizeof(lr->maxp), "%ld", maxp);
	lr->query = list_query_of(lr);
	if ((after = http_req_query(r, "after")) != NULL &&
	    (why = api_places_cursor_decode(after, lr->query, lr->crating,
	    sizeof(lr->crating), lr->cid, sizeof(lr->cid))) != API_CURSOR_OK) {
		api_cursor_refuse(r, why);
		return false;
	}
	snprintf(lr->rows, sizeof(lr->rows), "%ld", lr->limit + 1);
	return true;
}

void
api_city_places(struct http_req *r)
{
	struct worker *w = http_req_worker(r);
	struct list_req *lr;

	if ((lr = calloc(1, sizeof(*lr))) == NULL) {
		http_reply_error(r, 503, "overloaded", "out of memory", NULL);
		return;
	}
	lr->r = r;
	if (!list_parse(r, lr)) {
		free(lr);
		return;
	}
	if (list_from_model(lr, w))
		return;
	list_query(lr, STMT_CITY_PLACES, list_result, NULL);
	free(lr);
}

/* ---- GET /v1/places/{id} ----------------------------------------------------- */

/* The answer, with its tag tag[0..tlen) kept beside it in the read model,
 * or none when tlen is not that of one: http.c then makes it, and answers
 * 304 when If-None-Match names it. */
static void
place_reply(struct http_req *r, const char *json, size_t len,
    const char *tag, size_t tlen)
{
	char own[HTTP_ETAG_LEN];

	if (tag != NULL && tlen == HTTP_ETAG_LEN - 1) {
		memcpy(own, tag, tlen);
		own[tlen] = '\0';
		http_add_header(r, "ETag", own);
	}
	http_reply(r, 200, "application/json; charset=utf-8", json, len);
}

static void
place_result(struct api_job *job, const PGresult *res)
{
	struct worker *w = http_req_worker(job->r);
	const char *json = pg_value(res, 0, 0);
	size_t len;

	if (json == NULL) {
		http_reply_error(job->r, 404, "not_found", "no such place",
		    NULL);
		return;
	}
	len = (size_t)pg_length(res, 0, 0);
	if (job->key[0] != '\0')
		cache_put(w->cache, job->key, json, len);
	place_reply(job->r, json, len, NULL, 0);
}

/* A build for the read model: answered and handed over, or (404, any
 * failure: the job's ctx_free) failed and not kept. */
static void
place_built(struct api_job *job, const PGresult *res)
{
	const char *json = pg_value(res, 0, 0), *until = pg_value(res, 0, 1);
	const char *parts[CM_PARTS] = { json, NULL, NULL };
	struct cm_flight *fl = job->ctx;
	char tag[HTTP_ETAG_LEN];
	size_t len;

	if (json == NULL) {
		http_reply_error(job->r, 404, "not_found", "no such place", NULL);
		return;
	}
	len = (size_t)pg_length(res, 0, 0);
	http_etag_of(json, len, tag);
	parts[1] = tag;                 /* kept beside the answer */
	place_reply(job->r, json, len, tag, strlen(tag));
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
		place_reply(r, v->part[0], v->len[0], v->part[1], v->len[1]);
		return;
	}
	api_read(r, STMT_PLACE, 1, params, place_result, 0, NULL, NULL);
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
		place_reply(r, v.part[0], v.len[0], v.part[1], v.len[1]);
		return true;
	case CM_STALE:
		stats_add(&w->st->cache_hits, 1);
		http_add_header(r, "Cache-Status", CM_STALE_STATUS);
		place_reply(r, v.part[0], v.len[0], v.part[1], v.len[1]);
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
		place_reply(r, hit, len, NULL, 0);
		return;
	}
	params[0] = id;
	if (w->cfg->cache_ttl_ms == 0 || w->cfg->cache_max_entries == 0)
		api_read(r, STMT_PLACE, 1, params, place_result, 0, NULL,
		    NULL);
	else
		api_query(r, STMT_PLACE, 1, params, place_result, 0, key,
		    NULL, NULL);
}
