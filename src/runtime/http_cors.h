/*
 * http_cors.h: cross-origin requests (the Fetch standard's CORS protocol)
 * from [http] cors_origins: empty is off, "*" lets any origin read the
 * answers, and otherwise the list of origins (scheme://host[:port], space
 * separated) that may. Pure code, unit-tested; http.c adds the headers.
 */
#ifndef PLACESD_HTTP_CORS_H
#define PLACESD_HTTP_CORS_H

#include <stdbool.h>

enum http_cors {
	HTTP_CORS_NO,               /* no header: off, or not listed */
	HTTP_CORS_ANY,              /* Access-Control-Allow-Origin: * */
	HTTP_CORS_ORIGIN,           /* ... : the request's Origin */
};

/* What the request's Origin (NULL: none) gets under the list origins. */
enum http_cors http_cors_match(const char *origins, const char *origin);
/* Whether the answers of a server with this list vary by Origin (a list
 * of origins, not "*" and not off). */
bool http_cors_varies(const char *origins);

/* The response headers a script may read, beyond the safelisted ones. */
#define HTTP_CORS_EXPOSE "ETag, Location, Retry-After, X-Request-Id, " \
	"Cache-Status"
/* The request headers a preflight allows. */
#define HTTP_CORS_ALLOW_HEADERS "Content-Type, Authorization, " \
	"If-None-Match, Last-Event-ID, X-Request-Id"
/* How long a browser may keep a preflight's answer, in seconds. */
#define HTTP_CORS_MAX_AGE "600"

#endif
