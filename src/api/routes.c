/*
 * routes.c: every path the worker answers, matched exactly. A path that
 * is not here is a 404; a method a route does not list is a 405 with Allow.
 */
#include "api/api.h"

const struct http_route api_routes[] = {
	{ "/healthz", HTTP_GET, api_healthz, false, api_healthz_body },
	{ "/readyz", HTTP_GET, api_readyz, false, NULL },
	{ "/metrics", HTTP_GET, api_metrics, false, NULL },
	{ "/v1/cities", HTTP_GET, api_cities, false, NULL },
	{ "/v1/cities/*/places", HTTP_GET, api_city_places, false, NULL },
	{ "/v1/places/*", HTTP_GET, api_place, false, NULL },
	{ "/v1/nearby", HTTP_GET, api_nearby, false, NULL },
	{ "/v1/digest", HTTP_POST, api_digest, false, NULL },
	{ "/v1/offers", HTTP_GET | HTTP_POST, api_offers, false, NULL },
	{ "/v1/offers/stream", HTTP_GET, api_offers_stream, false, NULL },
	{ "/debug/sleep", HTTP_GET, api_debug_sleep, true, NULL },
};

const size_t api_nroutes = sizeof(api_routes) / sizeof(api_routes[0]);
