/*
 * cursor.c: the opaque cursors of GET /v1/cities/{city}/places and
 * GET /v1/nearby (api.h): base64url (params.c) of a versioned text, so
 * that a client cannot read a position into them and a later format can
 * tell an old cursor from its own.
 */
#include "api/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* "v1:<rating>:<id>": rating as cursor_rating() takes it, id a place id. */
bool
api_places_cursor_decode(const char *c, char *rating, size_t rlen, char *id,
    size_t idlen)
{
	char buf[64], *r, *i;

	if (strlen(c) > 60 || api_b64url_decode(c, buf, sizeof(buf)) < 0 ||
	    strncmp(buf, "v1:", 3) != 0)
		return false;
	r = buf + 3;
	if ((i = strchr(r, ':')) == NULL)
		return false;
	*i++ = '\0';
	if (!api_is_id(i) || !cursor_rating(r) || strlen(i) >= idlen ||
	    strlen(r) >= rlen)
		return false;
	snprintf(rating, rlen, "%s", r);
	snprintf(id, idlen, "%s", i);
	return true;
}

void
api_places_cursor_encode(const char *rating, const char *id, char *out)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "v1:%s:%s", rating ? rating : "", id);

	api_b64url_encode(buf, (size_t)n, out);
}

void
api_nearby_cursor_encode(long offset, char *out)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "n1:%ld", offset);

	api_b64url_encode(buf, (size_t)len, out);
}

bool
api_nearby_cursor_decode(const char *c, long *offset)
{
	char buf[32], *end;
	long v;

	if (strlen(c) > 40 || api_b64url_decode(c, buf, sizeof(buf)) < 0 ||
	    strncmp(buf, "n1:", 3) != 0 || buf[3] == '\0')
		return false;
	v = strtol(buf + 3, &end, 10);
	if (*end != '\0' || v < 0 || v >= NEARBY_MAX_RESULTS ||
	    strspn(buf + 3, "0123456789") != strlen(buf + 3))
		return false;
	*offset = v;
	return true;
}
