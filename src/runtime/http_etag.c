/*
 * http_etag.c: entity tags and If-None-Match matching (http_etag.h).
 */
#include "runtime/http_etag.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>

/* Written by hand: every answer with a body has one. */
void
http_etag_format(uint64_t h, char tag[HTTP_ETAG_LEN])
{
	static const char hex[] = "0123456789abcdef";
	int i;

	tag[0] = '"';
	for (i = 0; i < 16; i++)
		tag[1 + i] = hex[(h >> (60 - 4 * i)) & 0xf];
	tag[17] = '"';
	tag[18] = '\0';
}

void
http_etag_of(const char *body, size_t len, char tag[HTTP_ETAG_LEN])
{
	http_etag_format(util_hash64(body, len), tag);
}

static bool
ows(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * If-None-Match = "*" / #entity-tag, entity-tag = [ "W/" ] DQUOTE
 * *etagc DQUOTE. A member that is not an entity-tag is skipped up to the
 * next comma, so one bad member does not hide the others.
 */
bool
http_etag_matches(const char *inm, const char *tag)
{
	size_t tlen = strlen(tag);
	const char *p = inm, *end;

	if (tlen < 2 || tag[0] != '"')
		return false;
	while (*p != '\0') {
		while (ows(*p) || *p == ',')
			p++;
		if (*p == '\0')
			break;
		if (*p == '*') {
			end = p + 1;
			while (ows(*end))
				end++;
			if (*end == '\0' || *end == ',')
				return true;
		} else {
			if (p[0] == 'W' && p[1] == '/')
				p += 2;
			if (*p == '"' && (end = strchr(p + 1, '"')) != NULL) {
				if ((size_t)(end + 1 - p) == tlen &&
				    memcmp(p, tag, tlen) == 0)
					return true;
				p = end + 1;
			}
		}
		p += strcspn(p, ",");
	}
	return false;
}
