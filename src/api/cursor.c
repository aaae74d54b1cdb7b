/*
 * cursor.c: the opaque cursors of GET /v1/cities/{city}/places and
 * GET /v1/nearby (api.h): base64url (params.c) of a versioned text, so
 * that a client cannot read a position into them and a later format can
 * tell an old cursor from its own. An encoder writes no more than the
 * room it is given, and gives out only what its decoder takes back; a
 * decoder takes only what its encoder gives out, byte for byte.
 */
#include "api/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* base64url's length, without padding, of n bytes */
#define B64URL_LEN(n)       (((n) * 4 + 2) / 3)
/* the longest texts: "v1:" "d.d" ":" an id of 18 digits (api_is_id), and
 * "n1:" an offset below NEARBY_MAX_RESULTS */
#define PLACES_TEXT_MAX     (3 + 3 + 1 + 18)
#define NEARBY_TEXT_MAX     (3 + 3)

_Static_assert(NEARBY_MAX_RESULTS <= 1000, "an offset has 3 digits at most");
_Static_assert(API_CURSOR_MAX > B64URL_LEN(PLACES_TEXT_MAX) &&
    API_CURSOR_MAX > B64URL_LEN(NEARBY_TEXT_MAX),
    "API_CURSOR_MAX bytes hold any cursor and its NUL");

/*
 * Whether r is a rating a places cursor carries: "" (unknown), or d or d.d
 * within 0..5. The column is numeric(2,1) CHECK (rating BETWEEN 0 AND 5)
 * (src/sql/001_schema.sql), whose text is d.d from 0.0 to 5.0.
 */
static bool
cursor_rating(const char *r)
{
	if (r[0] == '\0')
		return true;
	if (r[0] < '0' || r[0] > '5')
		return false;
	if (r[1] == '\0')
		return true;
	return r[1] == '.' && r[2] >= '0' && r[2] <= '9' && r[3] == '\0' &&
	    (r[0] < '5' || r[2] == '0');
}

/* An encoder's refusal: out, if it has room for one byte, is "". */
static bool
cursor_none(char *out, size_t outlen)
{
	if (outlen > 0)
		out[0] = '\0';
	return false;
}

/* The base64url of text, for which snprintf() into textsize bytes
 * answered n, into out[outlen]; false (out "") if either is too small. */
static bool
cursor_b64(const char *text, int n, size_t textsize, char *out,
    size_t outlen)
{
	if (n < 0 || (size_t)n >= textsize || outlen <= B64URL_LEN((size_t)n))
		return cursor_none(out, outlen);
	api_b64url_encode(text, (size_t)n, out);
	return true;
}

bool
api_places_cursor_encode(const char *rating, const char *id, char *out,
    size_t outlen)
{
	char text[PLACES_TEXT_MAX + 1];
	int n;

	if (rating == NULL)
		rating = "";
	if (id == NULL || !api_is_id(id) || !cursor_rating(rating))
		return cursor_none(out, outlen);
	n = snprintf(text, sizeof(text), "v1:%s:%s", rating, id);
	return cursor_b64(text, n, sizeof(text), out, outlen);
}

/*
 * "v1:<rating>:<id>", rating as cursor_rating() takes it, id a place id:
 * the decoded position must be one the encoder takes, and encode back to
 * c itself, so that no other spelling of a cursor is taken either (a NUL
 * and bytes after it, spare bits set in the last character, a character
 * that ends no byte).
 */
bool
api_places_cursor_decode(const char *c, char *rating, size_t rlen, char *id,
    size_t idlen)
{
	char text[PLACES_TEXT_MAX + 1], again[API_CURSOR_MAX], *r, *i;

	if (strlen(c) > B64URL_LEN(PLACES_TEXT_MAX) ||
	    api_b64url_decode(c, text, sizeof(text)) < 0 ||
	    strncmp(text, "v1:", 3) != 0)
		return false;
	r = text + 3;
	if ((i = strchr(r, ':')) == NULL)
		return false;
	*i++ = '\0';
	if (strlen(i) >= idlen || strlen(r) >= rlen ||
	    !api_places_cursor_encode(r, i, again, sizeof(again)) ||
	    strcmp(again, c) != 0)
		return false;
	snprintf(rating, rlen, "%s", r);
	snprintf(id, idlen, "%s", i);
	return true;
}

bool
api_nearby_cursor_encode(long offset, char *out, size_t outlen)
{
	char text[NEARBY_TEXT_MAX + 1];
	int n;

	if (offset < 0 || offset >= NEARBY_MAX_RESULTS)
		return cursor_none(out, outlen);
	n = snprintf(text, sizeof(text), "n1:%ld", offset);
	return cursor_b64(text, n, sizeof(text), out, outlen);
}

/* "n1:<offset>", which must encode back to c itself, as above: that
 * refuses signs, spaces and leading zeros as well. */
bool
api_nearby_cursor_decode(const char *c, long *offset)
{
	char text[NEARBY_TEXT_MAX + 1], again[API_CURSOR_MAX];
	long v;

	if (strlen(c) > B64URL_LEN(NEARBY_TEXT_MAX) ||
	    api_b64url_decode(c, text, sizeof(text)) < 0 ||
	    strncmp(text, "n1:", 3) != 0 || text[3] == '\0' ||
	    strspn(text + 3, "0123456789") != strlen(text + 3))
		return false;
	v = strtol(text + 3, NULL, 10);         /* 3 digits at most */
	if (!api_nearby_cursor_encode(v, again, sizeof(again)) ||
	    strcmp(again, c) != 0)
		return false;
	*offset = v;
	return true;
}
