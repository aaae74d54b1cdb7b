/*
 * http_cors.c: matching an Origin against [http] cors_origins
 * (http_cors.h). Origins compare without case: the scheme and host of a
 * serialized origin are case-insensitive.
 */
#include "runtime/http_cors.h"

#include <string.h>
#include <strings.h>

#define SEP " \t"

enum http_cors
http_cors_match(const char *origins, const char *origin)
{
	const char *p = origins;
	size_t n, olen;

	if (origin == NULL || *origin == '\0')
		return HTTP_CORS_NO;
	olen = strlen(origin);
	while (*(p += strspn(p, SEP)) != '\0') {
		n = strcspn(p, SEP);
		if (n == 1 && *p == '*')
			return HTTP_CORS_ANY;
		if (n == olen && strncasecmp(p, origin, n) == 0)
			return HTTP_CORS_ORIGIN;
		p += n;
	}
	return HTTP_CORS_NO;
}

bool
http_cors_varies(const char *origins)
{
	const char *p = origins;
	size_t n;
	bool any = false;

	while (*(p += strspn(p, SEP)) != '\0') {
		n = strcspn(p, SEP);
		if (n == 1 && *p == '*')
			return false;
		any = true;
		p += n;
	}
	return any;
}
