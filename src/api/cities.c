/*
 * cities.c: GET /v1/cities, every city with its number of places, served
 * from the worker's cache while fresh.
 */
#include "api/api.h"
#include "worker/cache.h"
#include "worker/worker.h"

#include <string.h>

#define CITIES_KEY "cities"

static void
cities_result(struct api_job *job, const PGresult *res)
{
	struct worker *w = http_req_worker(job->r);
	const char *json = pg_value(res, 0, 0);
	size_t len;

	if (json == NULL) {
		http_reply_error(job->r, 500, "internal", "no city list", NULL);
		return;
	}
	len = (size_t)pg_length(res, 0, 0);
	cache_put(w->cache, CITIES_KEY, json, len);
	api_reply_raw_json(job->r, "{\"cities\":", json, len, "}");
}

void
api_cities(struct http_req *r)
{
	struct worker *w = http_req_worker(r);
	const char *hit;
	size_t len;

	if ((hit = cache_get(w->cache, CITIES_KEY, &len)) != NULL) {
		api_reply_raw_json(r, "{\"cities\":", hit, len, "}");
		return;
	}
	api_query(r, STMT_CITIES, 0, NULL, cities_result, 0, NULL);
}
