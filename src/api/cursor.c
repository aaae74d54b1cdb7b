/*
 * cursor.c: the opaque cursors of GET /v1/cities/{city}/places and
 * GET /v1/nearby (api.h), base64url of a few bytes:
 *
 *   nearby   0xA2 | offset (2) | query (6) | check (4)          18 chars
 *   places   0xB2 | rating (1) | id (8) | query (6) | check (4) 27 chars
 *
 * big-endian. The first byte names the kind and version: the text
 * cursors of before ("n1:...", "v1:...") start otherwise and are refused.
 * rating is tenths, 0 to 50, or 0xFF for an unknown one. query is the low
 * 48 bits of api_cursor_query() of the request that got the cursor, so a
 * cursor sent with another query is told apart (API_CURSOR_OTHER); check
 * is the low 32 bits of FNV-1a 64 of the bytes before it, so that an
 * edited cursor is refused (a change of one byte always; of more, but
 * for one chance in 2^32).
 *
 * The check has no key, on purpose: a position is no secret and grants
 * nothing (anyone may page to it), so a key would buy no safety, while
 * it would have to be shared by every worker of every node behind a load
 * balancer, and survive reloads, for cursors to keep working; the check
 * is there to catch a cursor damaged or edited by hand, and the query
 * bytes to bind it to its query.
 *
 * An encoder writes no more than the room it is given, and gives out only
 * what its decoder takes back; a decoder takes only what its encoder
 * gives out, byte for byte.
 */
#include "api/api.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NEARBY_KIND     0xa2
#define PLACES_KIND     0xb2
#define NEARBY_BYTES    13
#define PLACES_BYTES    20
#define QUERY_BYTES     6
#define CHECK_BYTES     4
#define RATING_UNKNOWN  0xff

/* base64url's length, without padding, of n bytes */
#define B64URL_LEN(n)   (((n) * 4 + 2) / 3)

_Static_assert(NEARBY_MAX_RESULTS <= 0xffff, "an offset has 2 bytes");
_Static_assert(API_CURSOR_MAX > B64URL_LEN(PLACES_BYTES) &&
    API_CURSOR_MAX > B64URL_LEN(NEARBY_BYTES),
    "API_CURSOR_MAX bytes hold any cursor and its NUL");


uint64_t
api_cursor_query(const char *canon)
{
	return util_fnv1a64(UTIL_FNV_BASIS, (const unsigned char *)canon,
	    strlen(canon));
}

/* v's low n bytes at p, big-endian; and back. */
static unsigned char *
put_be(unsigned char *p, uint64_t v, int n)
{
	int i;

	for (i = n - 1; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
	return p + n;
}

static uint64_t
get_be(const unsigned char *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* The query and check after the position, bytes[0..len) being the whole
 * cursor; then its base64url into out[outlen]. */
static bool
cursor_seal(unsigned char *bytes, size_t len, uint64_t query, char *out,
    size_t outlen)
{
	unsigned char *p = bytes + len - QUERY_BYTES - CHECK_BYTES;

	p = put_be(p, query, QUERY_BYTES);
	put_be(p, util_fnv1a64(UTIL_FNV_BASIS, bytes, len - CHECK_BYTES),
	    CHECK_BYTES);
	if (outlen <= B64URL_LEN(len)) {
		if (outlen > 0)
			out[0] = '\0';
		return false;
	}
	api_b64url_encode((const char *)bytes, len, out);
	return true;
}

/*
 * c's bytes into bytes[len] when c is the one spelling of a cursor of
 * kind with a good check: exactly as long, each character one of
 * base64url, no spare bits set (encoding the bytes again gives c).
 */
static bool
cursor_open(const char *c, int kind, unsigned char *bytes, size_t len)
{
	char raw[PLACES_BYTES + 1], again[API_CURSOR_MAX];

	if (strlen(c) != B64URL_LEN(len) ||
	    api_b64url_decode(c, raw, sizeof(raw)) != (int)len)
		return false;
	api_b64url_encode(raw, len, again);
	if (strcmp(again, c) != 0)
		return false;
	memcpy(bytes, raw, len);
	return bytes[0] == kind && get_be(bytes + len - CHECK_BYTES,
	    CHECK_BYTES) == (util_fnv1a64(UTIL_FNV_BASIS, bytes,
	    len - CHECK_BYTES) &
	    0xffffffffull);
}

/* Whether the cursor bytes[len] was given for query. */
static bool
cursor_ours(const unsigned char *bytes, size_t len, uint64_t query)
{
	return get_be(bytes + len - QUERY_BYTES - CHECK_BYTES, QUERY_BYTES) ==
	    (query & 0xffffffffffffull);
}

/*
 * A rating a places cursor carries, in tenths: "" (unknown, 0xFF), or d
 * or d.d within 0..5; -1 for anything else. The column is numeric(2,1)
 * CHECK (rating BETWEEN 0 AND 5) (src/sql/001_schema.sql), whose text is
 * d.d from 0.0 to 5.0.
 */
static int
rating_tenths(const char *r)
{
	int t;

	if (r[0] == '\0')
		return RATING_UNKNOWN;
	if (r[0] < '0' || r[0] > '5')
		return -1;
	t = (r[0] - '0') * 10;
	if (r[1] == '\0')
		return t;
	if (r[1] != '.' || r[2] < '0' || r[2] > '9' || r[3] != '\0')
		return -1;
	t += r[2] - '0';
	return t <= 50 ? t : -1;
}

bool
api_places_cursor_encode(uint64_t query, const char *rating, const char *id,
    char *out, size_t outlen)
{
	unsigned char bytes[PLACES_BYTES];
	int t;

	if (rating == NULL)
		rating = "";
	if (id == NULL || !api_is_id(id) || (t = rating_tenths(rating)) < 0) {
		if (outlen > 0)
			out[0] = '\0';
		return false;
	}
	bytes[0] = PLACES_KIND;
	bytes[1] = (unsigned char)t;
	put_be(bytes + 2, strtoull(id, NULL, 10), 8);
	return cursor_seal(bytes, sizeof(bytes), query, out, outlen);
}

enum api_cursor
api_places_cursor_decode(const char *c, uint64_t query, char *rating,
    size_t rlen, char *id, size_t idlen)
{
	unsigned char bytes[PLACES_BYTES];
	char r[8], i[24];
	uint64_t v;

	if (!cursor_open(c, PLACES_KIND, bytes, sizeof(bytes)))
		return API_CURSOR_BAD;
	if (bytes[1] == RATING_UNKNOWN)
		r[0] = '\0';
	else if (bytes[1] <= 50)
		snprintf(r, sizeof(r), "%d.%d", bytes[1] / 10, bytes[1] % 10);
	else
		return API_CURSOR_BAD;
	v = get_be(bytes + 2, 8);
	snprintf(i, sizeof(i), "%llu", (unsigned long long)v);
	if (!api_is_id(i) || strlen(r) >= rlen || strlen(i) >= idlen)
		return API_CURSOR_BAD;
	if (!cursor_ours(bytes, sizeof(bytes), query))
		return API_CURSOR_OTHER;
	memcpy(rating, r, strlen(r) + 1);
	memcpy(id, i, strlen(i) + 1);
	return API_CURSOR_OK;
}

bool
api_nearby_cursor_encode(uint64_t query, long offset, char *out,
    size_t outlen)
{
	unsigned char bytes[NEARBY_BYTES];

	if (offset <= 0 || offset >= NEARBY_MAX_RESULTS) {
		if (outlen > 0)
			out[0] = '\0';
		return false;
	}
	bytes[0] = NEARBY_KIND;
	put_be(bytes + 1, (uint64_t)offset, 2);
	return cursor_seal(bytes, sizeof(bytes), query, out, outlen);
}

enum api_cursor
api_nearby_cursor_decode(const char *c, uint64_t query, long *offset)
{
	unsigned char bytes[NEARBY_BYTES];
	long v;

	if (!cursor_open(c, NEARBY_KIND, bytes, sizeof(bytes)))
		return API_CURSOR_BAD;
	v = (long)get_be(bytes + 1, 2);
	if (v <= 0 || v >= NEARBY_MAX_RESULTS)
		return API_CURSOR_BAD;
	if (!cursor_ours(bytes, sizeof(bytes), query))
		return API_CURSOR_OTHER;
	*offset = v;
	return API_CURSOR_OK;
}

void
api_cursor_refuse(struct http_req *r, enum api_cursor why)
{
	if (why == API_CURSOR_OTHER)
		http_reply_error(r, 400, "invalid_argument", "after is a "
		    "cursor of another query: send it with the parameters of "
		    "the page that gave it, or leave it out to start over",
		    "after");
	else
		http_reply_error(r, 400, "invalid_argument", "after is not a "
		    "cursor this server gave out", "after");
}
