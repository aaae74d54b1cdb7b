/*
 * http_reqid.h: request ids (X-Request-Id). A client's id is kept when it
 * is 1..HTTP_REQID_MAX characters of [A-Za-z0-9._-]; otherwise the worker
 * makes one: 12 hex digits drawn at random once per process, then 12 of
 * a counter, unique across the workers of a host and their restarts.
 */
#ifndef PLACESD_HTTP_REQID_H
#define PLACESD_HTTP_REQID_H

#include <stdbool.h>
#include <stdint.h>

#define HTTP_REQID_MAX 64

/* A process's source of ids: zeroed, it draws its prefix on first use. */
struct http_reqid_gen {
	char prefix[13];
	uint64_t seq;
};

/* Whether s (NULL: none) is an id to keep. */
bool http_reqid_valid(const char *s);
/* A new id into out. */
void http_reqid_new(struct http_reqid_gen *g, char out[HTTP_REQID_MAX + 1]);

#endif
