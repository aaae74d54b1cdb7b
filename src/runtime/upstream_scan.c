/*
 * upstream_scan.c: the events service's answer checked and re-encoded in
 * one pass over its bytes, without building a jansson tree.
 *
 * The result is, byte for byte, what json_dumps(JSON_COMPACT) gives for
 * upstream_validate_events() of json_loadb(JSON_REJECT_DUPLICATES) of the
 * same bytes: the valid events, their known fields in the order of
 * upstream_validate.c, place_id null when absent. It covers the answers
 * services send: an array of flat objects whose values are strings
 * without escapes (any valid UTF-8), integers, null, true or false. For
 * anything else (an escape, a fraction or exponent, a nested value, an
 * element that is not an object, more than SCAN_MAX_KEYS keys, "-0", a
 * syntax error) it says so and the caller takes the jansson path, which
 * also words the errors.
 *
 * out must be empty: on any outcome but 1 it is left empty again.
 */
#include "runtime/upstream.h"

#include <stdint.h>
#include <string.h>

#include <event2/buffer.h>

#define SCAN_MAX_KEYS       32
#define SCAN_MAX_DIGITS     18          /* below 2^63: no overflow */

/* eight bytes at a time: does a word hold a byte below n (n <= 128)? */
#define ONES                0x0101010101010101ULL
#define HIGHS               0x8080808080808080ULL
#define HAS_LESS(x, n)      (((x) - ONES * (n)) & ~(x) & HIGHS)

enum scan_kind { SK_ABSENT, SK_STRING, SK_INT, SK_NULL, SK_BOOL };

struct span {
	const char *p;              /* the raw value, quotes included */
	size_t len;
	enum scan_kind kind;
	int64_t num;                /* SK_INT */
};

struct scan {
	const char *p, *end;
};

/* the known fields, in upstream_validate.c's (the output's) order */
enum field_id { FI_ID, FI_TITLE, FI_STARTS, FI_ENDS, FI_PLACE, FI_PRICE,
    FI_CATEGORY, FI_VENUE, FI_DESCRIPTION, FI_URL, FI_COUNT };

static const struct {
	const char *name;
	size_t len;
	enum { F_TEXT, F_TIME, F_ID, F_COUNT } kind;
	size_t max;
	bool required;
} fields[FI_COUNT] = {
	{ "id", 2, F_TEXT, 128, true },
	{ "title", 5, F_TEXT, 512, true },
	{ "starts_at", 9, F_TIME, 64, true },
	{ "ends_at", 7, F_TIME, 64, false },
	{ "place_id", 8, F_ID, 0, false },
	{ "price_cents", 11, F_COUNT, 0, false },
	{ "category", 8, F_TEXT, 1024, false },
	{ "venue", 5, F_TEXT, 1024, false },
	{ "description", 11, F_TEXT, 1024, false },
	{ "url", 3, F_TEXT, 2048, false },
};

static void
skip_ws(struct scan *s)
{
	while (s->p < s->end && (unsigned char)*s->p <= ' ' && (*s->p == ' ' ||
	    *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

/* One UTF-8 sequence at p (first byte >= 0x80) as RFC 3629 has it: its
 * length, or 0 (overlong, a surrogate, past U+10FFFF, cut short). */
static size_t
utf8_seq(const unsigned char *p, const unsigned char *end)
{
	size_t n, i;
	uint32_t cp;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* How many of the eight bytes at p need no look (no quote, backslash,
 * control character or non-ASCII byte) before the first that does: the
 * lowest flag of the word is exact, those above it may not be. */
static size_t
plain8(const unsigned char *p)
{
	uint64_t w, m;

	memcpy(&w, p, sizeof(w));
	m = (w & HIGHS) | HAS_LESS(w, 0x20) | HAS_LESS(w ^ ONES * '"', 1) |
	    HAS_LESS(w ^ ONES * '\\', 1);
	if (m == 0)
		return 8;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (size_t)__builtin_ctzll(m) / 8;
#else
	return 0;
#endif
}

/* A string without escapes or control characters, at the opening quote:
 * its span, quotes included. */
static bool
scan_string(struct scan *s, struct span *v)
{
	const unsigned char *p = (const unsigned char *)s->p + 1;
	const unsigned char *end = (const unsigned char *)s->end;
	size_t n;

	while (p < end && *p != '"') {
		if (end - p >= 8 && (n = plain8(p)) > 0) {
			p += n;
			continue;
		}
		if (*p == '\\' || *p < 0x20)
			return false;
		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((n = utf8_seq(p, end)) == 0)
			return false;
		p += n;
	}
	if (p >= end)
		return false;
	v->p = s->p;
	v->len = (size_t)((const char *)p + 1 - s->p);
	v->kind = SK_STRING;
	s->p = (const char *)p + 1;
	return true;
}

/* An integer as JSON writes one ("-0" aside: jansson writes it "0"). */
static bool
scan_int(struct scan *s, struct span *v)
{
	const char *p = s->p;
	bool neg = *p == '-';
	int64_t num = 0;
	size_t nd = 0;

	if (neg)
		p++;
	if (p >= s->end || *p < '0' || *p > '9')
		return false;
	if (*p == '0') {
		p++;
		if (neg)
			return false;
	} else {
		while (p < s->end && *p >= '0' && *p <= '9') {
			if (++nd > SCAN_MAX_DIGITS)
				return false;
			num = num * 10 + (*p++ - '0');
		}
	}
	if (p < s->end && (*p == '.' || *p == 'e' || *p == 'E' ||
	    (*p >= '0' && *p <= '9')))
		return false;
	v->p = s->p;
	v->len = (size_t)(p - s->p);
	v->kind = SK_INT;
	v->num = neg ? -num : num;
	s->p = p;
	return true;
}

static bool
scan_word(struct scan *s, const char *w, size_t n, enum scan_kind kind,
    struct span *v)
{
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0)
		return false;
	v->p = s->p;
	v->len = n;
	v->kind = kind;
	s->p += n;
	return true;
}

static bool
scan_value(struct scan *s, struct span *v)
{
	if (s->p >= s->end)
		return false;
	switch (*s->p) {
	case '"':
		return scan_string(s, v);
	case 'n':
		return scan_word(s, "null", 4, SK_NULL, v);
	case 't':
		return scan_word(s, "true", 4, SK_BOOL, v);
	case 'f':
		return scan_word(s, "false", 5, SK_BOOL, v);
	default:
		return scan_int(s, v);
	}
}

/* The known field a key names, or -1: by its length and first byte. */
static int
field_of(const char *name, size_t len)
{
	int f;

	switch (len) {
	case 2: f = FI_ID; break;
	case 3: f = FI_URL; break;
	case 5: f = name[0] == 't' ? FI_TITLE : FI_VENUE; break;
	case 7: f = FI_ENDS; break;
	case 8: f = name[0] == 'p' ? FI_PLACE : FI_CATEGORY; break;
	case 9: f = FI_STARTS; break;
	case 11: f = name[0] == 'p' ? FI_PRICE : FI_DESCRIPTION; break;
	default: return -1;
	}
	return memcmp(fields[f].name, name, len) == 0 ? f : -1;
}

/* Has the object a key twice? Known keys by their bit in *seen, the
 * others against each other. */
static bool
duplicate(const struct span *key, int f, unsigned *seen,
    struct span *other, unsigned *nother)
{
	unsigned i;

	if (f >= 0) {
		if (*seen & 1U << f)
			return true;
		*seen |= 1U << f;
		return false;
	}
	for (i = 0; i < *nother; i++)
		if (other[i].len == key->len && memcmp(other[i].p, key->p,
		    key->len) == 0)
			return true;
	other[(*nother)++] = *key;
	return false;
}

/* One object: its known fields' values in val[]. */
static bool
scan_object(struct scan *s, struct span *val)
{
	struct span other[SCAN_MAX_KEYS], key, v;
	unsigned nother = 0, seen = 0;
	int f;

	memset(val, 0, sizeof(*val) * FI_COUNT);
	s->p++;                     /* '{' */
	skip_ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return true;
	}
	for (;;) {
		if (s->p >= s->end || *s->p != '"' || nother == SCAN_MAX_KEYS ||
		    !scan_string(s, &key))
			return false;
		f = field_of(key.p + 1, key.len - 2);
		if (duplicate(&key, f, &seen, other, &nother))
			return false;
		skip_ws(s);
		if (s->p >= s->end || *s->p++ != ':')
			return false;
		skip_ws(s);
		if (!scan_value(s, &v))
			return false;
		if (f >= 0)
			val[f] = v;
		skip_ws(s);
		if (s->p >= s->end)
			return false;
		if (*s->p == '}') {
			s->p++;
			return true;
		}
		if (*s->p++ != ',')
			return false;
		skip_ws(s);
	}
}

/* upstream_validate.c's field_ok(), on a raw value. */
static bool
value_ok(int f, const struct span *v)
{
	char ts[65];

	if (v->kind == SK_ABSENT || v->kind == SK_NULL)
		return !fields[f].required;
	switch (fields[f].kind) {
	case F_TEXT:
		return v->kind == SK_STRING && v->len > 2 &&
		    v->len - 2 <= fields[f].max;
	case F_TIME:
		if (v->kind != SK_STRING || v->len - 2 > fields[f].max)
			return false;
		memcpy(ts, v->p + 1, v->len - 2);
		ts[v->len - 2] = '\0';
		return upstream_valid_timestamp(ts);
	case F_ID:
		return v->kind == SK_INT && v->num >= 1 &&
		    v->num <= (int64_t)1 << 53;
	case F_COUNT:
		return v->kind == SK_INT && v->num >= 0 &&
		    v->num <= (int64_t)1 << 53;
	}
	return false;
}

static bool
event_ok(const struct span *val)
{
	int f;

	for (f = 0; f < FI_COUNT; f++)
		if (!value_ok(f, &val[f]))
			return false;
	return true;
}

/* A valid event, as json_dumps writes its clean copy, in one piece. */
static int
event_put(struct evbuffer *out, const struct span *val, bool first)
{
	struct evbuffer_iovec vec;
	size_t need = 3, n;         /* ',' '{' '}' */
	bool more = false;
	char *p;
	int f;

	for (f = 0; f < FI_COUNT; f++)
		need += fields[f].len + 4 + (val[f].kind == SK_ABSENT ? 4 :
		    val[f].len);
	if (evbuffer_reserve_space(out, (ev_ssize_t)need, &vec, 1) < 1)
		return -1;
	p = vec.iov_base;
	if (!first)
		*p++ = ',';
	*p++ = '{';
	for (f = 0; f < FI_COUNT; f++) {
		if (val[f].kind == SK_ABSENT && fields[f].kind != F_ID)
			continue;       /* absent stays absent; place_id null */
		if (more)
			*p++ = ',';
		more = true;
		*p++ = '"';
		memcpy(p, fields[f].name, fields[f].len);
		p += fields[f].len;
		*p++ = '"';
		*p++ = ':';
		if (val[f].kind == SK_ABSENT) {
			memcpy(p, "null", 4);
			p += 4;
		} else {
			memcpy(p, val[f].p, val[f].len);
			p += val[f].len;
		}
	}
	*p++ = '}';
	n = (size_t)(p - (char *)vec.iov_base);
	vec.iov_len = n;
	return evbuffer_commit_space(out, &vec, 1);
}

int
upstream_scan_events(const char *data, size_t len, struct evbuffer *out,
    unsigned *dropped)
{
	struct scan s = { data, data + len };
	struct span val[FI_COUNT];
	unsigned kept = 0, bad = 0;

	skip_ws(&s);
	if (s.p >= s.end || *s.p++ != '[')
		return 0;
	if (evbuffer_add(out, "[", 1) != 0)
		return -1;
	skip_ws(&s);
	if (s.p < s.end && *s.p == ']') {
		s.p++;
		goto end;
	}
	for (;;) {
		if (s.p >= s.end || *s.p != '{' || !scan_object(&s, val))
			goto other;
		if (kept >= UPSTREAM_MAX_EVENTS || !event_ok(val))
			bad++;
		else if (event_put(out, val, kept++ == 0) != 0)
			goto oom;
		skip_ws(&s);
		if (s.p >= s.end)
			goto other;
		if (*s.p == ']') {
			s.p++;
			break;
		}
		if (*s.p++ != ',')
			goto other;
		skip_ws(&s);
	}
end:
	skip_ws(&s);
	if (s.p != s.end)
		goto other;
	if (evbuffer_add(out, "]", 1) != 0)
		goto oom;
	*dropped = bad;
	return 1;
other:
	evbuffer_drain(out, evbuffer_get_length(out));
	return 0;
oom:
	evbuffer_drain(out, evbuffer_get_length(out));
	return -1;
}
