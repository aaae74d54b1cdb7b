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
	api_reply_json_row(job, res, "{\"cities\":", "}", "no city list");
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
	api_query(r, STMT_CITIES, 0, NULL, cities_result, 0, CITIES_KEY, NULL,
	    NULL);
}
