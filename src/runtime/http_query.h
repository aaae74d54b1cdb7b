/*
 * http_query.h: a request's query parameters by name, as the API reads
 * them (docs/api.md, "Query parameters"): a name is percent-decoded ('+'
 * a space) like a value, so that it is the same name however it is spelt
 * (l%69mit is limit), and a name given twice is found before any handler
 * reads one of its values.
 */
#ifndef PLACESD_HTTP_QUERY_H
#define PLACESD_HTTP_QUERY_H

#include <stdbool.h>
#include <stddef.h>

struct evhtp_kvs;

/* The raw value of the first parameter named name (decoded), or NULL;
 * q may be NULL (no query). */
const char *http_query_find(struct evhtp_kvs *q, const char *name);

/* True when a name is given more than once, with that name, decoded and
 * cut to len - 1 bytes, in name[len]; false when none is (or when the
 * names cannot be compared for want of memory: each value is then still
 * read by its first occurrence). */
bool http_query_repeated(struct evhtp_kvs *q, char *name, size_t len);

#endif
