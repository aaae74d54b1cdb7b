/*
 * digest_doc.c: the day digest's request body, read by a scan for the
 * usual body and by jansson for the rest, and its answer document.
 */
#include "api/digest_doc.h"
#include "api/api.h"
#include "runtime/upstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

/* ---- values ------------------------------------------------------------------ */

static bool
valid_date(const char *s)
{
	char buf[32];

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	/* the timestamp check knows the calendar */
	snprintf(buf, sizeof(buf), "%sT00:00:00Z", s);
	return upstream_valid_timestamp(buf);
}

/* ---- the scan: the usual body without jansson ------------------------------ */

/* Anything but one flat object of the four fields, strings without
 * escapes and every value valid (an escape, an unknown or repeated field,
 * a bad value, bad syntax) is left to the jansson path, which words the
 * 400. */
struct body_scan {
	const char *p, *end;
};

static void
bs_ws(struct body_scan *b)
{
	while (b->p < b->end && (*b->p == ' ' || *b->p == '\t' ||
	    *b->p == '\n' || *b->p == '\r'))
		b->p++;
}

static bool
bs_char(struct body_scan *b, char c)
{
	bs_ws(b);
	if (b->p >= b->end || *b->p != c)
		return false;
	b->p++;
	return true;
}

/* A string of at most max - 1 bytes of [a-z0-9_-] (no escapes), copied. */
static bool
bs_word(struct body_scan *b, char *out, size_t max)
{
	size_t n = 0;

	if (!bs_char(b, '"'))
		return false;
	while (b->p < b->end && *b->p != '"') {
		char c = *b->p++;

		if (n + 1 >= max || !((c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
		out[n++] = c;
	}
	if (b->p >= b->end)
		return false;
	b->p++;
	out[n] = '\0';
	return true;
}

static bool
bs_categories(struct body_scan *b, struct digest_ask *d)
{
	char c[66], *p = d->categories;
	unsigned n = 0;

	bs_ws(b);
	if (b->end - b->p >= 4 && memcmp(b->p, "null", 4) == 0) {
		b->p += 4;
		return true;
	}
	if (!bs_char(b, '['))
		return false;
	if (bs_char(b, ']'))
		return true;
	*p++ = '{';
	do {
		if (n == DIGEST_MAX_CATEGORIES || !bs_word(b, c, sizeof(c)) ||
		    !api_is_slug(c))
			return false;
		p += sprintf(p, "%s%s", n++ > 0 ? "," : "", c);
	} while (bs_char(b, ','));
	if (!bs_char(b, ']'))
		return false;
	*p++ = '}';
	*p = '\0';
	return true;
}

/* An integer 1..DIGEST_MAX_LIMIT as JSON writes one: its digits, which
 * are what "%d" would write, into out (at least 3 bytes). */
static bool
bs_limit(struct body_scan *b, char *out)
{
	int v = 0, nd = 0;

	bs_ws(b);
	if (b->p < b->end && *b->p == '0')
		return false;
	while (b->p < b->end && *b->p >= '0' && *b->p <= '9' && nd < 2) {
		out[nd++] = *b->p;
		v = v * 10 + (*b->p++ - '0');
	}
	out[nd] = '\0';
	if (nd == 0 || (b->p < b->end && ((*b->p >= '0' && *b->p <= '9') ||
	    *b->p == '.' || *b->p == 'e' || *b->p == 'E')))
		return false;
	return v >= 1 && v <= DIGEST_MAX_LIMIT;
}

bool
digest_ask_scan(struct digest_ask *d, const char *body, size_t len)
{
	struct body_scan b = { body, body + len };
	char key[16];
	unsigned seen = 0, bit;

	memset(d, 0, sizeof(*d));
	if (!bs_char(&b, '{'))
		return false;
	do {
		if (!bs_word(&b, key, sizeof(key)) || !bs_char(&b, ':'))
			return false;
		if (strcmp(key, "date") == 0) {
			bit = 1;
			if (!bs_word(&b, d->date, sizeof(d->date)) ||
			    !valid_date(d->date))
				return false;
		} else if (strcmp(key, "city") == 0) {
			bit = 2;
			if (!bs_word(&b, d->city, sizeof(d->city)) ||
			    !api_is_slug(d->city))
				return false;
		} else if (strcmp(key, "categories") == 0) {
			bit = 4;
			if (!bs_categories(&b, d))
				return false;
		} else if (strcmp(key, "limit") == 0) {
			bit = 8;
			if (!bs_limit(&b, d->limit))
				return false;
		} else
			return false;
		if (seen & bit)
			return false;
		seen |= bit;
	} while (bs_char(&b, ','));
	if (!bs_char(&b, '}') || (seen & 3) != 3)
		return false;
	bs_ws(&b);
	if (b.p != b.end)
		return false;
	if ((seen & 8) == 0)
		snprintf(d->limit, sizeof(d->limit), "%d",
		    DIGEST_DEFAULT_LIMIT);
	return true;
}

/* ---- the jansson path: any body, and the words of a 400 -------------------- */

static bool
refuse(struct digest_refusal *why, const char *code, const char *field,
    const char *message)
{
	size_t n = field != NULL ? strlen(field) : 0;

	if (n >= sizeof(why->field)) {
		n = sizeof(why->field) - 1;
		while (n > 0 && ((unsigned char)field[n] & 0xc0) == 0x80)
			n--;
	}
	why->code = code;
	memcpy(why->field, field != NULL ? field : "", n);
	why->field[n] = '\0';
	snprintf(why->message, sizeof(why->message), "%s", message);
	return false;
}

static bool
read_categories(struct digest_ask *a, const json_t *v,
    struct digest_refusal *why)
{
	size_t i, n;
	char *p = a->categories;

	if (json_is_null(v))
		return true;
	if (!json_is_array(v) || (n = json_array_size(v)) >
	    DIGEST_MAX_CATEGORIES)
		return refuse(why, "invalid_argument", "categories",
		    "categories must be an array of at most 10 category names");
	if (n == 0)
		return true;
	*p++ = '{';
	for (i = 0; i < n; i++) {
		const char *c = json_string_value(json_array_get(v, i));

		if (c == NULL || !api_is_slug(c))
			return refuse(why, "invalid_argument", "categories",
			    "a category is a name of 1..64 lowercase letters, "
			    "digits or '-'");
		p += sprintf(p, "%s%s", i > 0 ? "," : "", c);
	}
	*p++ = '}';
	*p = '\0';
	return true;
}

static bool
read_fields(struct digest_ask *a, json_t *doc, struct digest_refusal *why)
{
	const char *key;
	json_t *v;

	if (!json_is_object(doc))
		return refuse(why, "invalid_argument", NULL,
		    "the body must be a JSON object");
	json_object_foreach(doc, key, v) {
		if (strcmp(key, "date") != 0 && strcmp(key, "city") != 0 &&
		    strcmp(key, "categories") != 0 && strcmp(key, "limit") != 0)
			return refuse(why, "invalid_argument", key,
			    "unknown field");
	}
	v = json_object_get(doc, "date");
	if (!json_is_string(v) || !valid_date(json_string_value(v)))
		return refuse(why, "invalid_argument", "date",
		    "date must be a calendar date, YYYY-MM-DD");
	snprintf(a->date, sizeof(a->date), "%s", json_string_value(v));
	v = json_object_get(doc, "city");
	if (!json_is_string(v) || !api_is_slug(json_string_value(v)))
		return refuse(why, "invalid_argument", "city", "city must be a "
		    "city id (1..64 lowercase letters, digits or '-')");
	snprintf(a->city, sizeof(a->city), "%s", json_string_value(v));
	if ((v = json_object_get(doc, "categories")) != NULL &&
	    !read_categories(a, v, why))
		return false;
	v = json_object_get(doc, "limit");
	if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > DIGEST_MAX_LIMIT))
		return refuse(why, "invalid_argument", "limit",
		    "limit must be an integer, 1..50");
	snprintf(a->limit, sizeof(a->limit), "%d", v != NULL ?
	    (int)json_integer_value(v) : DIGEST_DEFAULT_LIMIT);
	return true;
}

bool
digest_ask_read(struct digest_ask *a, const char *body, size_t len,
    struct digest_refusal *why)
{
	json_error_t jerr;
	json_t *doc;
	bool ok;

	memset(a, 0, sizeof(*a));
	if ((doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		char msg[200];

		snprintf(msg, sizeof(msg), "invalid JSON at byte %d: %s",
		    jerr.position, jerr.text);
		return refuse(why, "malformed_json", NULL, msg);
	}
	ok = read_fields(a, doc, why);
	json_decref(doc);
	return ok;
}

bool
digest_ask_parse(struct digest_ask *a, const char *body, size_t len,
    struct digest_refusal *why)
{
	if (len == 0)
		return refuse(why, "malformed_json", NULL,
		    "a JSON body is required");
	if (digest_ask_scan(a, body, len))
		return true;
	return digest_ask_read(a, body, len, why);
}

/* ---- the answer --------------------------------------------------------------- */

static int
put_list(struct evbuffer *b, const char *key, const char *json)
{
	return evbuffer_add_printf(b, ",\"%s\":%s", key, json != NULL ? json :
	    "[]") < 0 ? -1 : 0;
}

/* The events and the read model's fragments are moved in, not copied.
 * date and city are as digest_ask_parse left them: nothing to escape. */
int
digest_doc(struct evbuffer *b, const struct digest_ask *a,
    struct digest_parts *p)
{
	char *errs = NULL;
	int rc = 0;

	rc |= evbuffer_add_printf(b, "{\"date\":\"%s\",\"city\":\"%s\","
	    "\"events\":", a->date, a->city) < 0 ? -1 : 0;
	if (p->events != NULL && evbuffer_get_length(p->events) > 0)
		rc |= evbuffer_add_buffer(b, p->events);
	else
		rc |= evbuffer_add(b, "[]", 2);
	if (p->framed != NULL && evbuffer_get_length(p->framed) > 0) {
		rc |= evbuffer_add_buffer(b, p->framed);
	} else {
		rc |= put_list(b, "places", p->places);
		rc |= put_list(b, "menu_items", p->menu_items);
		rc |= put_list(b, "offers", p->offers);
	}
	rc |= put_list(b, "venues", p->venues);
	rc |= evbuffer_add_printf(b, ",\"dropped_events\":{\"other_city\":%u,"
	    "\"unknown_place\":%u}", p->other_city, p->unknown_place) < 0 ?
	    -1 : 0;
	if (json_array_size(p->errors) == 0)
		rc |= evbuffer_add(b, ",\"errors\":[]}", 13);
	else if ((errs = json_dumps(p->errors, JSON_COMPACT)) == NULL)
		rc = -1;
	else
		rc |= evbuffer_add_printf(b, ",\"errors\":%s}", errs) < 0 ?
		    -1 : 0;
	free(errs);
	return rc;
}
