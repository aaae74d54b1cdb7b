/*
 * upstream_validate.c: what the events service answers is checked field
 * by field before anything of it reaches a client. The answer must be a
 * JSON array; each element must be an object with
 *
 *   id          string, 1..128 bytes                       required
 *   title       string, 1..512 bytes                       required
 *   starts_at   RFC 3339 date-time string                  required
 *   ends_at     RFC 3339 date-time string or null          optional
 *   place_id    integer >= 1 or null                       optional
 *   price_cents integer >= 0 or null                       optional
 *   category, venue, description   string <= 1024 or null  optional
 *   url         string <= 2048 or null                     optional
 *
 * An element with a missing required field or any field of the wrong type
 * or size is dropped and counted, never fatal. Unknown fields are left
 * out. At most UPSTREAM_MAX_EVENTS are kept; the rest count as dropped.
 */
#include "runtime/upstream.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

struct field {
	const char *name;
	enum { F_TEXT, F_TIME, F_ID, F_COUNT } kind;
	size_t max;                 /* bytes, for text */
	bool required;
};

static const struct field fields[] = {
	{ "id", F_TEXT, 128, true },
	{ "title", F_TEXT, 512, true },
	{ "starts_at", F_TIME, 64, true },
	{ "ends_at", F_TIME, 64, false },
	{ "place_id", F_ID, 0, false },
	{ "price_cents", F_COUNT, 0, false },
	{ "category", F_TEXT, 1024, false },
	{ "venue", F_TEXT, 1024, false },
	{ "description", F_TEXT, 1024, false },
	{ "url", F_TEXT, 2048, false },
};

static bool
digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

static int
num(const char *s, size_t n)
{
	int v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

static bool
valid_date(int y, int m, int d)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	if (y < 1 || m < 1 || m > 12 || d < 1)
		return false;
	return d <= mdays[m - 1] + (m == 2 ? leap : 0);
}

/* YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM), 't' and 'z' too. */
bool
upstream_valid_timestamp(const char *s)
{
	size_t len = strlen(s), i = 19;

	if (len < 20 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) ||
	    s[7] != '-' || !digits(s + 8, 2) || (s[10] != 'T' &&
	    s[10] != 't') || !digits(s + 11, 2) || s[13] != ':' ||
	    !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2))
		return false;
	if (!valid_date(num(s, 4), num(s + 5, 2), num(s + 8, 2)) ||
	    num(s + 11, 2) > 23 || num(s + 14, 2) > 59 || num(s + 17, 2) > 60)
		return false;
	if (s[i] == '.') {
		size_t start = ++i;

		while (i < len && isdigit((unsigned char)s[i]))
			i++;
		if (i == start || i - start > 9)
			return false;
	}
	if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len)
		return true;
	return (s[i] == '+' || s[i] == '-') && len - i == 6 &&
	    digits(s + i + 1, 2) && s[i + 3] == ':' && digits(s + i + 4, 2) &&
	    num(s + i + 1, 2) <= 23 && num(s + i + 4, 2) <= 59;
}

static bool
field_ok(const struct field *f, const json_t *v)
{
	if (v == NULL)
		return !f->required;
	if (json_is_null(v))
		return !f->required;
	switch (f->kind) {
	case F_TEXT:
		return json_is_string(v) && json_string_length(v) > 0 &&
		    json_string_length(v) <= f->max &&
		    strlen(json_string_value(v)) == json_string_length(v);
	case F_TIME:
		return json_is_string(v) && json_string_length(v) <= f->max &&
		    upstream_valid_timestamp(json_string_value(v));
	case F_ID:
		return json_is_integer(v) && json_integer_value(v) >= 1 &&
		    json_integer_value(v) <= (json_int_t)1 << 53;
	case F_COUNT:
		return json_is_integer(v) && json_integer_value(v) >= 0 &&
		    json_integer_value(v) <= (json_int_t)1 << 53;
	}
	return false;
}

/* A clean copy of a valid event, NULL if any field is bad. */
static json_t *
event_clean(const json_t *ev)
{
	json_t *out;
	size_t i;

	if (!json_is_object(ev))
		return NULL;
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (!field_ok(&fields[i], json_object_get(ev, fields[i].name)))
			return NULL;
	if ((out = json_object()) == NULL)
		return NULL;
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		json_t *v = json_object_get(ev, fields[i].name);

		if (v == NULL && fields[i].kind != F_ID)
			continue;   /* absent stays absent; place_id is null */
		if (json_object_set(out, fields[i].name, v != NULL ? v :
		    json_null()) != 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

json_t *
upstream_validate_events(const json_t *doc, unsigned *dropped, char *why,
    size_t whylen)
{
	json_t *out, *ev;
	size_t i, n;

	*dropped = 0;
	if (!json_is_array(doc)) {
		snprintf(why, whylen, "a JSON %s, not an array of events",
		    json_is_object(doc) ? "object" : "scalar");
		return NULL;
	}
	if ((out = json_array()) == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	n = json_array_size(doc);
	for (i = 0; i < n; i++) {
		if (json_array_size(out) >= UPSTREAM_MAX_EVENTS ||
		    (ev = event_clean(json_array_get(doc, i))) == NULL) {
			(*dropped)++;
			continue;
		}
		json_array_append_new(out, ev);
	}
	return out;
}
