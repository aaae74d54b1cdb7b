/*
 * api.h: the HTTP API's handlers, one file per area, and the route table
 * the worker serves. Handlers know requests, JSON and the worker's
 * services; they never touch sockets or libevent directly.
 */
#ifndef PLACESD_API_H
#define PLACESD_API_H

#include <stddef.h>

#include "worker/http.h"

extern const struct http_route api_routes[];
extern const size_t api_nroutes;

/* health.c */
void api_healthz(struct http_req *r);
void api_readyz(struct http_req *r);
void api_debug_sleep(struct http_req *r);

/* metrics.c */
void api_metrics(struct http_req *r);

#endif
