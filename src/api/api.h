/*
 * api.h: the HTTP API's handlers, one file per area, and what a worker is
 * handed to serve them (api_app: routes, statements, hooks). Handlers know
 * requests, JSON and the worker's services; they never touch sockets or
 * libevent directly. The worker does not include this file.
 */
#ifndef PLACESD_API_H
#define PLACESD_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/http.h"
#include "runtime/pg.h"

struct frame;
struct static_files;
struct worker;
struct worker_app;

/* routes.c: what placesd hands each worker (worker.h) */
extern const struct worker_app api_app;

/* The API's own state in a worker (w->app_state), made by api_app.start. */
struct app_state {
	struct frame *offer_frame;  /* the live offer streams send now */
	uint64_t offer_frame_seq;   /* its feed delivery */
	struct frame *heartbeat_frame;
	unsigned seq;               /* jitter of the streams' retry */
	unsigned nearby_fallbacks;  /* degraded /v1/nearby queries running */
	struct static_files *www;   /* the page's files (static.c) */
};

/* queries.c: the prepared statements, by index */
enum api_stmt { STMT_CITIES, STMT_CITY_PLACES, STMT_PLACE, STMT_PLACES_BY_ID,
    STMT_NEARBY_DEGRADED, STMT_DIGEST_PLACES, STMT_DIGEST_MENU,
    STMT_DIGEST_OFFERS, STMT_PUBLISH_OFFER, STMT_OFFERS_ACTIVE,
    STMT_OFFERS_SINCE, STMT_RM_PLACES, STMT_RM_OFFERS,
    STMT_RM_PLACE, STMT_RM_CITY_PLACES, STMT_OFFER, STMT_CITY,
    STMT_DIGEST_VENUES, STMT_RM_VENUES, API_NSTMTS };
extern const struct pg_statement api_statements[API_NSTMTS];

/* dbreq.c: run a statement for a request; errors are answered here */
struct api_job {
	struct http_req *r;
	struct pg_query *q;
	void (*on_result)(struct api_job *job, const PGresult *res);
	uint64_t n;                 /* handler's own: a limit, an id */
	char key[96];               /* handler's own: a cache key */
	void *ctx;                  /* handler's own, freed with the job */
	void (*ctx_free)(void *);
	/* dbreq.c's own: a read on the replicas, kept to run again on the
	 * primary if their connection is lost under it */
	bool on_replica;
	uint64_t min_lsn;           /* of the replica it may run on */
	int stmt, nparams;
	char **params;
};
bool api_query(struct http_req *r, int stmt, int nparams,
    const char *const *params,
    void (*on_result)(struct api_job *, const PGresult *), uint64_t n,
    const char *key, void *ctx, void (*ctx_free)(void *));
/* The same for a read that may go to the read replicas (worker_read_pool):
 * one that nothing caches and no read model keeps, since a replica may
 * not yet show a change this node was told of. */
bool api_read(struct http_req *r, int stmt, int nparams,
    const char *const *params,
    void (*on_result)(struct api_job *, const PGresult *), uint64_t n,
    void *ctx, void (*ctx_free)(void *));
void api_reply_raw_json(struct http_req *r, const char *prefix,
    const char *json, size_t len, const char *suffix);
void api_reply_json_row(struct api_job *job, const PGresult *res,
    const char *prefix, const char *suffix, const char *notfound);

/* params.c: query parameter checks; false = answered 400 already */
bool api_param_list(struct http_req *r, const char *name, char *out,
    size_t outlen);
bool api_param_number(struct http_req *r, const char *name, double min,
    double max, char *out, size_t outlen);
bool api_param_int(struct http_req *r, const char *name, long min, long max,
    long def, long *out);
bool api_param_coord(struct http_req *r, const char *name, double min,
    double max, bool required, double *out, bool *present);
bool api_param_text(struct http_req *r, const char *name, size_t max,
    char *out, size_t outlen);
bool api_is_slug(const char *s);
void api_b64url_encode(const char *in, size_t len, char *out);
int api_b64url_decode(const char *in, char *out, size_t outlen);
bool api_is_id(const char *s);

/*
 * cursor.c: the opaque "after" cursors of the paged lists, base64url of a
 * few bytes: a position, the query it was given for and a check; decoding
 * refuses whatever this server did not give out (API_CURSOR_BAD), and
 * tells a good cursor of another query (API_CURSOR_OTHER). A query is
 * api_cursor_query() of a canonical text of what selects and orders the
 * results (not the page size), which each endpoint makes. An encoder
 * writes the cursor into out[outlen] (API_CURSOR_MAX bytes hold any), or
 * answers false, with out "", when it does not fit or the position is not
 * one a cursor carries. Places: the rating of a page's last place, ""
 * (NULL: unknown), "d" or "d.d" within 0..5 (so 5.0 at most, as the
 * column holds it), and its id as api_is_id() takes it; decoded as "d.d"
 * or "" and the id's digits. Nearby: an offset in [1, NEARBY_MAX_RESULTS).
 */
#define API_CURSOR_MAX      100
#define NEARBY_MAX_RESULTS  1000    /* /v1/nearby: offset + limit */
enum api_cursor {
	API_CURSOR_OK = 0,
	API_CURSOR_BAD,             /* not a cursor this server gives out */
	API_CURSOR_OTHER            /* a cursor of another query */
};
uint64_t api_cursor_query(const char *canon);
bool api_places_cursor_encode(uint64_t query, const char *rating,
    const char *id, char *out, size_t outlen);
enum api_cursor api_places_cursor_decode(const char *c, uint64_t query,
    char *rating, size_t rlen, char *id, size_t idlen);
bool api_nearby_cursor_encode(uint64_t query, long offset, char *out,
    size_t outlen);
enum api_cursor api_nearby_cursor_decode(const char *c, uint64_t query,
    long *offset);
/* The 400 naming after of a decode's refusal (not API_CURSOR_OK). */
void api_cursor_refuse(struct http_req *r, enum api_cursor why);

/* cities.c, places.c */
void api_cities(struct http_req *r);
void api_city_places(struct http_req *r);
void api_place(struct http_req *r);
void api_nearby(struct http_req *r);
/* suggest.c: answered by the ranker's suggest index */
void api_autocomplete(struct http_req *r);
void api_categories(struct http_req *r);
void api_cuisines(struct http_req *r);

/* digest.c */
void api_digest(struct http_req *r);

/* offers.c, offers_stream.c */
void api_offers(struct http_req *r);
void api_offers_publish(struct http_req *r);
void api_offers_list(struct http_req *r);
void api_offer(struct http_req *r);
void api_offers_stream(struct http_req *r);
/* Ends every stream of the worker with a jittered retry (drain). */
void api_offers_drain(struct worker *w);
/* The frames the worker's streams share (at exit). */
void api_offers_free(struct worker *w);

/* health.c */
void api_healthz(struct http_req *r);
size_t api_healthz_body(struct worker *w, char *buf, size_t cap);
void api_readyz(struct http_req *r);
void api_debug_sleep(struct http_req *r);

/* metrics.c */
void api_metrics(struct http_req *r);

/* static.c: the page at / and its files, read from [http] static_dir at
 * the worker's start; NULL only when out of memory. */
struct static_files *api_static_load(const char *dir);
void api_static_free(struct static_files *sf);
void api_www_index(struct http_req *r);
void api_www_file(struct http_req *r);
/* openapi.c: GET /openapi.json; the bytes are docs/openapi.json, which
 * the build turns into src/api/openapi_json.c (Makefile.am) */
void api_openapi(struct http_req *r);
extern const char api_openapi_json[];
extern const size_t api_openapi_json_len;

#endif
