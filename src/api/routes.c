/*
 * routes.c: every path the worker answers, matched exactly, and the rest
 * of what placesd hands a worker to serve the API (struct worker_app in
 * worker.h): the prepared statements, and the API's own state in the
 * worker, made at its start and freed at its exit. A path that is not
 * here is a 404; a method a route does not list is a 405 with Allow.
 */
#include "api/api.h"
#include "worker/worker.h"
#include "common/config.h"

#include <stdlib.h>
#include <unistd.h>

/* Cache-Control of each route's answers (docs/api.md, "HTTP conventions") */
#define NO_STORE        "no-store"
#define REVALIDATE      "no-cache"
#define STABLE          "public, max-age=60"

static const struct http_route api_routes[] = {
	{ "/healthz", HTTP_GET, api_healthz, false, api_healthz_body, NO_STORE },
	{ "/readyz", HTTP_GET, api_readyz, false, NULL, NO_STORE },
	{ "/metrics", HTTP_GET, api_metrics, false, NULL, NO_STORE },
	/* sets its own Cache-Control (api/openapi.c) */
	{ "/openapi.json", HTTP_GET, api_openapi, false, NULL, NULL },
	{ "/v1/cities", HTTP_GET, api_cities, false, NULL, STABLE },
	{ "/v1/cities/*/places", HTTP_GET, api_city_places, false, NULL,
	    REVALIDATE },
	{ "/v1/places/*", HTTP_GET, api_place, false, NULL, REVALIDATE },
	{ "/v1/nearby", HTTP_GET, api_nearby, false, NULL, REVALIDATE },
	{ "/v1/autocomplete", HTTP_GET, api_autocomplete, false, NULL,
	    NO_STORE },
	{ "/v1/categories", HTTP_GET, api_categories, false, NULL, STABLE },
	{ "/v1/cuisines", HTTP_GET, api_cuisines, false, NULL, STABLE },
	{ "/v1/digest", HTTP_POST, api_digest, false, NULL, NO_STORE },
	{ "/v1/offers", HTTP_GET | HTTP_POST, api_offers, false, NULL,
	    NO_STORE },
	/* its head says no-cache, as event streams do (http.c) */
	{ "/v1/offers/stream", HTTP_GET, api_offers_stream, false, NULL,
	    NULL },
	/* after the stream, which its '*' would match too */
	{ "/v1/offers/*", HTTP_GET, api_offer, false, NULL, REVALIDATE },
	/* the page's files set their own Cache-Control (api/static.c) */
	{ "/", HTTP_GET, api_www_index, false, NULL, NULL },
	{ "/www/*", HTTP_GET, api_www_file, false, NULL, NULL },
	{ "/debug/sleep", HTTP_GET, api_debug_sleep, true, NULL, NO_STORE },
};

static int
api_start(struct worker *w)
{
	if ((w->app_state = calloc(1, sizeof(*w->app_state))) == NULL)
		return -1;
	w->app_state->seq = (unsigned)getpid();
	if ((w->app_state->www = api_static_load(w->cfg->static_dir)) == NULL)
		return -1;
	return 0;
}

static void
api_free(struct worker *w)
{
	if (w->app_state == NULL)
		return;
	api_offers_free(w);
	api_static_free(w->app_state->www);
	free(w->app_state);
	w->app_state = NULL;
}

const struct worker_app api_app = {
	.routes = api_routes,
	.nroutes = sizeof(api_routes) / sizeof(api_routes[0]),
	.statements = api_statements,
	.nstatements = API_NSTMTS,
	.start = api_start,
	.drain = api_offers_drain,
	.free = api_free,
};
