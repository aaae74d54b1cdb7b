/*
 * params.c: checks of query parameters, each answering 400
 * invalid_argument naming the field when a value is wrong, and turning a
 * good one into the text PostgreSQL takes as a parameter.
 */
#include "api/api.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_MAX_ITEMS 16
#define LIST_MAX_ITEM  32

/* "<field> <what><range>" as a 400 naming the field. */
static bool
bad(struct http_req *r, const char *field, const char *what,
    const char *range)
{
	char msg[200];

	snprintf(msg, sizeof(msg), "%s %s%s", field, what, range);
	http_reply_error(r, 400, "invalid_argument", msg, field);
	return false;
}

bool
api_is_slug(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if (!(islower((unsigned char)s[n]) ||
		    isdigit((unsigned char)s[n]) || s[n] == '-'))
			return false;
	return n > 0 && n <= 64;
}

bool
api_is_id(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if (!isdigit((unsigned char)s[n]))
			return false;
	return n > 0 && n <= 18 && s[0] != '0';
}

/*
 * A comma list of lowercase words ("georgian,italian") into a PostgreSQL
 * array literal ("{georgian,italian}"); absent leaves out = "".
 */
bool
api_param_list(struct http_req *r, const char *name, char *out, size_t outlen)
{
	const char *v = http_req_query(r, name), *p;
	size_t n = 0, item = 0, items = 0;

	out[0] = '\0';
	if (v == NULL)
		return true;
	if (outlen < 3)
		return bad(r, name, "is too long", "");
	out[n++] = '{';
	for (p = v; ; p++) {
		if (*p == ',' || *p == '\0') {
			if (item == 0)
				return bad(r, name, "must be a comma list of "
				    "words (a-z, 0-9, _)", "");
			if (++items > LIST_MAX_ITEMS)
				return bad(r, name, "takes at most 16 items", "");
			item = 0;
			if (*p == '\0')
				break;
			out[n++] = ',';
			continue;
		}
		if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) ||
		    *p == '_'))
			return bad(r, name, "must be a comma list of words "
			    "(a-z, 0-9, _)", "");
		if (++item > LIST_MAX_ITEM || n + 2 >= outlen)
			return bad(r, name, "has an item over 32 characters", "");
		out[n++] = *p;
	}
	out[n++] = '}';
	out[n] = '\0';
	return true;
}

/* A decimal number in [min, max]; absent leaves out = "". */
bool
api_param_number(struct http_req *r, const char *name, double min, double max,
    char *out, size_t outlen)
{
	const char *v = http_req_query(r, name);
	char *end, range[64];
	double d;

	out[0] = '\0';
	if (v == NULL)
		return true;
	errno = 0;
	d = strtod(v, &end);
	snprintf(range, sizeof(range), " between %g and %g", min, max);
	if (*v == '\0' || *end != '\0' || errno != 0 || !isfinite(d) ||
	    d < min || d > max || strlen(v) > 16 ||
	    strspn(v, "0123456789.") != strlen(v))
		return bad(r, name, "must be a number", range);
	snprintf(out, outlen, "%s", v);
	return true;
}

/* An integer in [min, max]; absent gives def. */
bool
api_param_int(struct http_req *r, const char *name, long min, long max,
    long def, long *out)
{
	const char *v = http_req_query(r, name);
	char range[64];
	long n = 0;
	size_t i;

	*out = def;
	if (v == NULL)
		return true;
	snprintf(range, sizeof(range), " between %ld and %ld", min, max);
	for (i = 0; v[i] != '\0'; i++) {
		if (!isdigit((unsigned char)v[i]) || i >= 9)
			return bad(r, name, "must be an integer", range);
		n = n * 10 + (v[i] - '0');
	}
	if (i == 0 || n < min || n > max)
		return bad(r, name, "must be an integer", range);
	*out = n;
	return true;
}
