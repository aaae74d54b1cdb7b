/*
 * feed_wire.c: the offer feed's payloads (feed_wire.h): offer records and
 * the small text payloads, written and read without trusting a length.
 */
#include "common/feed_wire.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void
put_be(char *p, uint64_t v, unsigned n)
{
	while (n-- > 0) {
		p[n] = (char)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t
get_be(const char *p, unsigned n)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < n; i++)
		v = v << 8 | (uint8_t)p[i];
	return v;
}

size_t
feed_wire_offer_size(const struct feed_wire_offer *o)
{
	if (o->city_len > FEED_WIRE_CITY_MAX || o->json_len > UINT32_MAX)
		return 0;
	return FEED_WIRE_REC_HDR + o->city_len + o->json_len;
}

void
feed_wire_offer_put(char *out, const struct feed_wire_offer *o)
{
	put_be(out, (uint64_t)o->id, 8);
	put_be(out + 8, (uint64_t)o->place_id, 8);
	put_be(out + 16, o->city_len, 2);
	put_be(out + 18, o->json_len, 4);
	memcpy(out + FEED_WIRE_REC_HDR, o->city, o->city_len);
	memcpy(out + FEED_WIRE_REC_HDR + o->city_len, o->json, o->json_len);
}

int
feed_wire_offer_next(const char *p, size_t len, size_t *off,
    struct feed_wire_offer *o)
{
	size_t at = *off, left;

	if (at >= len)
		return 0;
	left = len - at;
	if (left < FEED_WIRE_REC_HDR)
		return -1;
	o->id = (int64_t)get_be(p + at, 8);
	o->place_id = (int64_t)get_be(p + at + 8, 8);
	o->city_len = (size_t)get_be(p + at + 16, 2);
	o->json_len = (size_t)get_be(p + at + 18, 4);
	if (o->id <= 0 || left - FEED_WIRE_REC_HDR < o->city_len ||
	    left - FEED_WIRE_REC_HDR - o->city_len < o->json_len)
		return -1;
	o->city = p + at + FEED_WIRE_REC_HDR;
	o->json = o->city + o->city_len;
	*off = at + FEED_WIRE_REC_HDR + o->city_len + o->json_len;
	return 1;
}

int
feed_wire_state_format(char *buf, size_t size, const struct feed_wire_state *s)
{
	int n = snprintf(buf, size, "%d %d %d %" PRId64, s->up ? 1 : 0,
	    s->quiet ? 1 : 0, s->precise ? 1 : 0, s->high);

	return n < 0 || (size_t)n >= size ? -1 : n;
}

/* Decimal digits at p[*at..len); moves *at. */
static bool
scan_u64(const char *p, size_t len, size_t *at, uint64_t *v)
{
	uint64_t u = 0, d;
	size_t i = *at;

	for (; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
		d = (uint64_t)(p[i] - '0');
		if (u > (UINT64_MAX - d) / 10)
			return false;
		u = u * 10 + d;
	}
	if (i == *at)
		return false;
	*v = u;
	*at = i;
	return true;
}

/* A decimal integer, optionally negative; moves *at. */
static bool
scan_int(const char *p, size_t len, size_t *at, int64_t *v)
{
	bool neg = *at < len && p[*at] == '-';
	size_t i = *at + neg;
	uint64_t u;

	if (!scan_u64(p, len, &i, &u) || u > INT64_MAX)
		return false;
	*v = neg ? -(int64_t)u : (int64_t)u;
	*at = i;
	return true;
}

static bool
scan_flag(const char *p, size_t len, size_t *at, bool *flag)
{
	int64_t v;

	if (!scan_int(p, len, at, &v) || (v != 0 && v != 1) || *at >= len ||
	    p[*at] != ' ')
		return false;
	(*at)++;
	*flag = v == 1;
	return true;
}

bool
feed_wire_state_parse(const char *p, size_t len, struct feed_wire_state *s)
{
	size_t at = 0;

	return scan_flag(p, len, &at, &s->up) &&
	    scan_flag(p, len, &at, &s->quiet) &&
	    scan_flag(p, len, &at, &s->precise) &&
	    scan_int(p, len, &at, &s->high) && at == len && s->high >= -1;
}

bool
feed_wire_int_parse(const char *p, size_t len, int64_t *v)
{
	size_t at = 0;

	return scan_int(p, len, &at, v) && at == len;
}

bool
feed_wire_u64_parse(const char *p, size_t len, uint64_t *v)
{
	size_t at = 0;

	return scan_u64(p, len, &at, v) && at == len;
}
