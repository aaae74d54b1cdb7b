/*
 * http_gzip.c: Accept-Encoding and gzip answers (http_gzip.h).
 */
#include "runtime/http_gzip.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <zlib.h>

static bool
ows(char c)
{
	return c == ' ' || c == '\t';
}

/* The weight of a coding's parameters p ("; q=0.5 ..." up to the next
 * comma), in thousandths; 1000 when none is given or it is malformed. */
static int
weight(const char *p, const char *end)
{
	int q, scale;

	while (p < end) {
		while (p < end && (ows(*p) || *p == ';'))
			p++;
		if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') &&
		    p[1] == '=') {
			p += 2;
			if (p < end && *p == '1')
				return 1000;
			if (p >= end || *p != '0')
				return 1000;
			q = 0;
			scale = 100;
			if (++p < end && *p == '.')
				for (p++; p < end && *p >= '0' && *p <= '9' &&
				    scale > 0; p++, scale /= 10)
					q += (*p - '0') * scale;
			return q;
		}
		p += strcspn(p, ";");
		if (p > end)
			p = end;
	}
	return 1000;
}

bool
http_gzip_accepted(const char *ae)
{
	int gzip = -1, star = -1;
	const char *p = ae, *end, *name;
	size_t nlen;

	if (ae == NULL)
		return false;
	while (*p != '\0') {
		while (ows(*p) || *p == ',')
			p++;
		if (*p == '\0')
			break;
		end = p + strcspn(p, ",");
		name = p;
		for (nlen = 0; name + nlen < end && !ows(name[nlen]) &&
		    name[nlen] != ';'; nlen++)
			;
		if ((nlen == 4 && strncasecmp(name, "gzip", 4) == 0) ||
		    (nlen == 6 && strncasecmp(name, "x-gzip", 6) == 0))
			gzip = weight(name + nlen, end);
		else if (nlen == 1 && *name == '*')
			star = weight(name + nlen, end);
		p = end;
	}
	if (gzip >= 0)
		return gzip > 0;
	return star > 0;
}

struct http_gzip {
	z_stream z;
};

struct http_gzip *
http_gzip_new(int level)
{
	struct http_gzip *g;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	/* windowBits 15 + 16: a gzip header and trailer around the deflate */
	if (deflateInit2(&g->z, level, Z_DEFLATED, 15 + 16, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK) {
		free(g);
		return NULL;
	}
	return g;
}

void
http_gzip_free(struct http_gzip *g)
{
	if (g == NULL)
		return;
	deflateEnd(&g->z);
	free(g);
}

bool
http_gzip_type(const char *ctype)
{
	static const char *const types[] = {
		"application/json", "application/javascript",
		"application/xml", "application/yaml", "image/svg+xml",
	};
	size_t n = strcspn(ctype, "; \t"), i;

	if (strncasecmp(ctype, "text/", 5) == 0)
		return true;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (n == strlen(types[i]) && strncasecmp(ctype, types[i], n) == 0)
			return true;
	/* structured syntax suffixes: application/problem+json, ... */
	return (n > 5 && strncasecmp(ctype + n - 5, "+json", 5) == 0) ||
	    (n > 4 && strncasecmp(ctype + n - 4, "+xml", 4) == 0);
}

int
http_gzip(struct http_gzip *g, const struct http_span *spans, size_t n,
    struct evbuffer *out)
{
	struct evbuffer_iovec v;
	z_stream *z = &g->z;
	size_t i;
	int rc = Z_OK;

	if (deflateReset(z) != Z_OK)
		return -1;
	for (i = 0; i <= n && rc != Z_STREAM_END; i++) {
		int flush = i == n ? Z_FINISH : Z_NO_FLUSH;

		z->next_in = i < n ? (Bytef *)(uintptr_t)spans[i].p : NULL;
		z->avail_in = i < n ? (uInt)spans[i].n : 0;
		do {
			if (evbuffer_reserve_space(out, 16384, &v, 1) != 1)
				goto fail;
			z->next_out = v.iov_base;
			z->avail_out = (uInt)v.iov_len;
			rc = deflate(z, flush);
			if (rc == Z_STREAM_ERROR)
				goto fail;
			v.iov_len -= z->avail_out;
			if (evbuffer_commit_space(out, &v, 1) != 0)
				goto fail;
		} while (z->avail_out == 0 || (flush == Z_FINISH &&
		    rc != Z_STREAM_END));
	}
	return 0;
fail:
	evbuffer_drain(out, evbuffer_get_length(out));
	return -1;
}
