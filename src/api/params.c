/*
 * params.c: checks of query parameters, each answering 400
 * invalid_argument naming the field when a value is wrong, and turning a
 * good one into the text PostgreSQL takes as a parameter.
 */
#include "api/api.h"
#include "common/util.h"

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

/*
 * A parameter's value with its %-escapes decoded ('+' is a space), in buf;
 * NULL when absent. A bad escape or a NUL byte is kept as raw text so the
 * checks after refuse it.
 */
static const char *
param(struct http_req *r, const char *name, char *buf, size_t len)
{
	const char *v = http_req_query(r, name);
	size_t n = 0;

	if (v == NULL)
		return NULL;
	for (; *v != '\0' && n + 1 < len; v++) {
		int hi, lo;

		if (*v == '%' && (hi = util_hex_value(v[1])) >= 0 &&
		    (lo = util_hex_value(v[2])) >= 0 && (hi | lo) != 0) {
			buf[n++] = (char)(hi << 4 | lo);
			v += 2;
		} else {
			buf[n++] = *v == '+' ? ' ' : *v;
		}
	}
	buf[n] = '\0';
	return buf;
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
	char raw[1024];
	const char *v = param(r, name, raw, sizeof(raw)), *p;
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
	char raw[64];
	const char *v = param(r, name, raw, sizeof(raw));
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
	char raw[64];
	const char *v = param(r, name, raw, sizeof(raw));
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

/* A signed decimal (a coordinate) in [min, max]; required or optional. */
bool
api_param_coord(struct http_req *r, const char *name, double min, double max,
    bool required, double *out, bool *present)
{
	char raw[64];
	const char *v = param(r, name, raw, sizeof(raw));
	char *end, range[64];
	double d;

	*present = v != NULL;
	snprintf(range, sizeof(range), " between %g and %g", min, max);
	if (v == NULL) {
		if (required)
			return bad(r, name, "is required: a number", range);
		return true;
	}
	errno = 0;
	d = strtod(v, &end);
	if (*v == '\0' || *end != '\0' || errno != 0 || !isfinite(d) ||
	    d < min || d > max || strlen(v) > 24 ||
	    strspn(v, "-0123456789.") != strlen(v))
		return bad(r, name, "must be a number", range);
	*out = d;
	return true;
}


/* Whole UTF-8 sequences, no overlongs, no surrogates, no controls. */
static bool
valid_utf8_text(const unsigned char *s)
{
	while (*s != '\0') {
		unsigned c = *s, n, cp, i;

		if (c < 0x20 || c == 0x7f)
			return false;
		if (c < 0x80) {
			s++;
			continue;
		}
		n = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 ? 1 : 0;
		if (n == 0 || c > 0xf4)
			return false;
		cp = c & (0x3f >> n);
		for (i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		s += n + 1;
	}
	return true;
}

/* Free text: percent-decoded ('+' is a space), UTF-8, at most max bytes. */
bool
api_param_text(struct http_req *r, const char *name, size_t max, char *out,
    size_t outlen)
{
	const char *v = http_req_query(r, name);
	size_t n = 0;
	char limit[48];

	out[0] = '\0';
	if (v == NULL)
		return true;
	snprintf(limit, sizeof(limit), " of at most %zu bytes", max);
	for (; *v != '\0'; v++) {
		int hi, lo;
		char c = *v;

		if (c == '%') {
			if ((hi = util_hex_value(v[1])) < 0 ||
			    (lo = util_hex_value(v[2])) < 0)
				return bad(r, name, "has a bad %-escape", "");
			c = (char)(hi << 4 | lo);
			v += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (c == '\0')
			return bad(r, name, "must be UTF-8 text without control "
			    "characters", "");
		if (n + 1 >= outlen || n >= max)
			return bad(r, name, "must be a text", limit);
		out[n++] = c;
	}
	out[n] = '\0';
	if (!valid_utf8_text((const unsigned char *)out))
		return bad(r, name, "must be UTF-8 text without control "
		    "characters", "");
	return true;
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url without padding: the alphabet of opaque cursors */
void
api_b64url_encode(const char *in, size_t len, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < len; i += 3) {
		unsigned v = (unsigned char)in[i] << 16;

		if (i + 1 < len)
			v |= (unsigned char)in[i + 1] << 8;
		if (i + 2 < len)
			v |= (unsigned char)in[i + 2];
		out[o++] = b64[(v >> 18) & 63];
		out[o++] = b64[(v >> 12) & 63];
		if (i + 1 < len)
			out[o++] = b64[(v >> 6) & 63];
		if (i + 2 < len)
			out[o++] = b64[v & 63];
	}
	out[o] = '\0';
}

int
api_b64url_decode(const char *in, char *out, size_t outlen)
{
	size_t i, o = 0, n = strlen(in);
	unsigned v = 0, bits = 0;

	for (i = 0; i < n; i++) {
		const char *p = strchr(b64, in[i]);

		if (p == NULL || in[i] == '\0')
			return -1;
		v = (v << 6) | (unsigned)(p - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o + 1 >= outlen)
				return -1;
			out[o++] = (char)((v >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	return (int)o;
}
