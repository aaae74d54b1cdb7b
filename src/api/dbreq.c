/*
 * dbreq.c: the plumbing between a handler and the worker's database pool:
 * queue the statement, keep the request deferred until the result, map
 * every failure to its answer (503 unavailable or overloaded, 504, 500),
 * and drop the query if the client goes away or the deadline passes.
 */
#include "api/api.h"
#include "runtime/cache.h"
#include "worker/worker.h"
#include "common/log.h"
#include "common/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
reply_db_error(struct http_req *r, enum pg_status st)
{
	switch (st) {
	case PG_DOWN:
		http_add_header(r, "Retry-After", "1");
		http_reply_error(r, 503, "unavailable", "the database is "
		    "unavailable; retry later", NULL);
		break;
	case PG_OVERLOADED:
		http_add_header(r, "Retry-After", "1");
		http_reply_error(r, 503, "overloaded", "too many requests wait "
		    "for the database; retry later", NULL);
		break;
	case PG_TIMEOUT:
		http_reply_error(r, 504, "deadline_exceeded", "the database did "
		    "not answer before the query deadline", NULL);
		break;
	default:
		http_reply_error(r, 500, "internal", "the database query failed",
		    NULL);
		break;
	}
}

static void
job_free(struct api_job *job)
{
	int i;

	if (job->ctx_free != NULL)
		job->ctx_free(job->ctx);
	for (i = 0; job->params != NULL && i < job->nparams; i++)
		free(job->params[i]);
	free(job->params);
	free(job);
}

static void
job_cancel(void *arg)
{
	struct api_job *job = arg;

	pg_cancel(job->q);
	job_free(job);
}

static void job_done(void *arg, enum pg_status st, const PGresult *res,
    const char *msg);

/* Queues the job's statement on p: false when it could not (*st why). */
static bool
job_submit(struct api_job *job, struct pg_pool *p, int nparams,
    const char *const *params, enum pg_status *st)
{
	job->q = pg_query_at(p, job->min_lsn, job->stmt, nparams, params,
	    job_done, job, st);
	return job->q != NULL;
}

/* A read whose replica connection was lost runs again on the primary:
 * a replica going away costs no answer while the primary is up. */
static bool
job_again_on_primary(struct api_job *job)
{
	struct worker *w = http_req_worker(job->r);
	enum pg_status st;

	job->on_replica = false;
	job->min_lsn = 0;
	stats_add(&w->st->reads_by[0], 1);
	/* the request stays deferred on this job, its deadline unchanged */
	return job_submit(job, w->pg, job->nparams,
	    (const char *const *)job->params, &st);
}

static void
job_done(void *arg, enum pg_status st, const PGresult *res, const char *msg)
{
	struct api_job *job = arg;

	(void)msg;
	job->q = NULL;
	if (st == PG_DOWN && job->on_replica && job_again_on_primary(job))
		return;
	if (st != PG_OK)
		reply_db_error(job->r, st);
	else
		job->on_result(job, res);
	job_free(job);
}

static struct api_job *
job_new(struct http_req *r, int stmt,
    void (*on_result)(struct api_job *, const PGresult *), uint64_t n,
    void *ctx, void (*ctx_free)(void *))
{
	struct api_job *job;

	if ((job = calloc(1, sizeof(*job))) == NULL) {
		if (ctx_free != NULL)
			ctx_free(ctx);
		reply_db_error(r, PG_OVERLOADED);
		return NULL;
	}
	job->r = r;
	job->stmt = stmt;
	job->ctx = ctx;
	job->ctx_free = ctx_free;
	job->on_result = on_result;
	job->n = n;
	return job;
}

/* The job queued on p, or answered and freed: false. */
static bool
job_start(struct api_job *job, struct pg_pool *p, int nparams,
    const char *const *params)
{
	enum pg_status st;

	if (!job_submit(job, p, nparams, params, &st)) {
		reply_db_error(job->r, st);
		job_free(job);
		return false;
	}
	http_req_defer(job->r, job_cancel, job);
	return true;
}

static bool job_start_on(struct api_job *job, struct pg_pool *p,
    int nparams, const char *const *params);

/*
 * Where a query made through api_query runs: a write or an offers read
 * on the primary; a read that is kept (key, or a read-model build in
 * ctx) on a replica only once it has replayed every change this worker
 * was told of (worker_fresh_pool); with the primary away, a keyed read
 * on the replicas, not kept (*key NULL).
 */
static struct pg_pool *
query_pool(struct worker *w, struct api_job *job, const char **key)
{
	if (api_statements[job->stmt].primary)
		return w->pg;
	if (*key != NULL && !pg_pool_up(w->pg) && w->pg_read != NULL &&
	    pg_pool_up(w->pg_read)) {
		*key = NULL;
		return worker_read_pool(w);
	}
	return worker_fresh_pool(w, &job->min_lsn);
}

bool
api_query(struct http_req *r, int stmt, int nparams, const char *const *params,
    void (*on_result)(struct api_job *, const PGresult *), uint64_t n,
    const char *key, void *ctx, void (*ctx_free)(void *))
{
	struct worker *w = http_req_worker(r);
	struct api_job *job;
	struct pg_pool *p;

	if ((job = job_new(r, stmt, on_result, n, ctx, ctx_free)) == NULL)
		return false;
	p = query_pool(w, job, &key);
	if (key != NULL)
		snprintf(job->key, sizeof(job->key), "%s", key);
	return job_start_on(job, p, nparams, params);
}

/* A copy of the parameters, to run the read again elsewhere. */
static bool
job_keep_params(struct api_job *job, int nparams, const char *const *params)
{
	int i;

	if ((job->params = calloc((size_t)nparams + 1, sizeof(char *))) ==
	    NULL)
		return false;
	for (i = 0; i < nparams; i++) {
		job->nparams++;
		if (params[i] != NULL &&
		    (job->params[i] = strdup(params[i])) == NULL)
			return false;
	}
	return true;
}

/* job_start, and on a replica a copy of the parameters to run it again
 * on the primary if the replica is lost under it. */
static bool
job_start_on(struct api_job *job, struct pg_pool *p, int nparams,
    const char *const *params)
{
	if (p != http_req_worker(job->r)->pg) {
		if (!job_keep_params(job, nparams, params)) {
			reply_db_error(job->r, PG_OVERLOADED);
			job_free(job);
			return false;
		}
		job->on_replica = true;
	}
	return job_start(job, p, nparams, params);
}

bool
api_read(struct http_req *r, int stmt, int nparams, const char *const *params,
    void (*on_result)(struct api_job *, const PGresult *), uint64_t n,
    void *ctx, void (*ctx_free)(void *))
{
	struct worker *w = http_req_worker(r);
	struct api_job *job;
	struct pg_pool *p;

	if ((job = job_new(r, stmt, on_result, n, ctx, ctx_free)) == NULL)
		return false;
	p = worker_read_pool(w);
	return job_start_on(job, p, nparams, params);
}

/* prefix + json + suffix, without re-encoding the JSON PostgreSQL made */
void
api_reply_raw_json(struct http_req *r, const char *prefix, const char *json,
    size_t len, const char *suffix)
{
	size_t pl = strlen(prefix), sl = strlen(suffix);
	char *buf;

	if ((buf = malloc(pl + len + sl)) == NULL) {
		http_reply_error(r, 503, "overloaded", "out of memory", NULL);
		return;
	}
	memcpy(buf, prefix, pl);
	memcpy(buf + pl, json, len);
	memcpy(buf + pl + len, suffix, sl);
	http_reply(r, 200, "application/json; charset=utf-8", buf,
	    pl + len + sl);
	free(buf);
}

/*
 * The one JSON text of a result's first row, cached under the job's key
 * (if any) and answered wrapped in prefix and suffix; no row, or NULL,
 * is a 404 with notfound as its message.
 */
void
api_reply_json_row(struct api_job *job, const PGresult *res,
    const char *prefix, const char *suffix, const char *notfound)
{
	struct worker *w = http_req_worker(job->r);
	const char *json = pg_value(res, 0, 0);
	size_t len;

	if (json == NULL) {
		http_reply_error(job->r, 404, "not_found", notfound, NULL);
		return;
	}
	len = (size_t)pg_length(res, 0, 0);
	if (job->key[0] != '\0')
		cache_put(w->cache, job->key, json, len);
	api_reply_raw_json(job->r, prefix, json, len, suffix);
}
