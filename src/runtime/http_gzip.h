/*
 * http_gzip.h: content coding of answers (RFC 9110 8.4, 12.5.3). Whether
 * a request's Accept-Encoding takes gzip, and the gzip form of a body
 * (zlib, in pieces, into an evbuffer). An answer is compressed when the
 * client takes gzip, its type compresses, and its body is over
 * HTTP_GZIP_MIN bytes.
 */
#ifndef PLACESD_HTTP_GZIP_H
#define PLACESD_HTTP_GZIP_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_GZIP_MIN   1024    /* bytes; smaller bodies go as they are */
#define HTTP_GZIP_LEVEL 1       /* zlib's 1 (fast) .. 9 (small): docs/api.md */

/*
 * Whether the Accept-Encoding value ae (NULL: the header is absent) takes
 * gzip: "gzip" or "x-gzip" with a weight above 0, or else "*" with a
 * weight above 0. Codings compare without case; "q=0" (and 0.0, 0.00,
 * 0.000) refuses.
 */
bool http_gzip_accepted(const char *ae);
/*
 * Whether a body of Content-Type ctype is worth gzipping: text, JSON,
 * JavaScript, XML, SVG, YAML; not images, fonts and archives, which are
 * compressed already.
 */
bool http_gzip_type(const char *ctype);

struct evbuffer;
struct http_span {
	const void *p;
	size_t n;
};
/*
 * A compressor, kept by a worker for all its answers: zlib's state (some
 * 256 KiB) is allocated once, not per answer, and reset between them.
 */
struct http_gzip;
struct http_gzip *http_gzip_new(int level);
void http_gzip_free(struct http_gzip *g);
/* The gzip member of the n spans' bytes, into out (empty): 0, or -1 (out
 * of memory, a zlib error) with out left empty. */
int http_gzip(struct http_gzip *g, const struct http_span *spans, size_t n,
    struct evbuffer *out);

#endif
