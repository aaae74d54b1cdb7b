/*
 * http_etag.h: entity tags of answers and If-None-Match (RFC 9110 8.8.3,
 * 13.1.2). A tag is strong: a 64-bit hash (util_hash64) of the uncompressed body in 16
 * lowercase hex digits, quoted. If-None-Match compares weakly: W/ on
 * either side is ignored, a list matches when one member does, and "*"
 * matches any tag. Pure code, unit-tested.
 */
#ifndef PLACESD_HTTP_ETAG_H
#define PLACESD_HTTP_ETAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_ETAG_LEN 19        /* '"', 16 hex digits, '"', NUL */

/* The tag of a body whose 64-bit hash is h (util_hash64). */
void http_etag_format(uint64_t h, char tag[HTTP_ETAG_LEN]);
/* The tag of len bytes at body. */
void http_etag_of(const char *body, size_t len, char tag[HTTP_ETAG_LEN]);
/* Whether the If-None-Match value inm names tag (a quoted tag). */
bool http_etag_matches(const char *inm, const char *tag);

#endif
