/*
 * nearby_fast.c: the request a worker writes (src/api/nearby.c, keys in
 * its order, strings without escapes), read without a JSON library.
 *
 * It accepts exactly that shape with every value within the ranges that
 * nearby_parse() checks, and nothing else: anything it does not take
 * (another key order, an escape in q, a value out of range, a duplicate
 * key) goes to the jansson reader, which answers it as before, naming
 * the field. The strings are cut in place in a copy of the request.
 */
#include "ranker/nearby.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct rd {
	char *p, *end;
};

static bool
lit(struct rd *d, const char *text)
{
	size_t n = strlen(text);

	if ((size_t)(d->end - d->p) < n || memcmp(d->p, text, n) != 0)
		return false;
	d->p += n;
	return true;
}

static size_t
digits(const char *p, const char *end)
{
	const char *s = p;

	while (p < end && *p >= '0' && *p <= '9')
		p++;
	return (size_t)(p - s);
}

/* The length of the JSON number at p (its grammar, which strtod's is
 * wider than: hex, "inf", "1."), or 0. */
static size_t
number_len(const char *p, const char *end)
{
	const char *s = p;
	size_t n;

	if (p < end && *p == '-')
		p++;
	if ((n = digits(p, end)) == 0 || (n > 1 && *p == '0'))
		return 0;
	p += n;
	if (p < end && *p == '.') {
		if ((n = digits(++p, end)) == 0)
			return 0;
		p += n;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		if ((n = digits(p, end)) == 0)
			return 0;
		p += n;
	}
	return (size_t)(p - s);
}

static bool
number(struct rd *d, double *v)
{
	size_t n = number_len(d->p, d->end);
	char *e;

	if (n == 0)
		return false;
	*v = strtod(d->p, &e);
	if (e != d->p + n || !isfinite(*v))
		return false;
	d->p = e;
	return true;
}

/* An integer within lo..hi, digits only (and a sign). */
static bool
integer(struct rd *d, long long lo, long long hi, long long *v)
{
	long long x = 0;
	bool neg = false;
	int n = 0;

	if (d->p < d->end && *d->p == '-') {
		neg = true;
		d->p++;
	}
	if (d->p + 1 < d->end && d->p[0] == '0' && d->p[1] >= '0' &&
	    d->p[1] <= '9')
		return false;           /* JSON has no leading zeros */
	while (d->p < d->end && *d->p >= '0' && *d->p <= '9' && n < 18) {
		x = x * 10 + (*d->p++ - '0');
		n++;
	}
	if (n == 0 || (d->p < d->end && *d->p >= '0' && *d->p <= '9'))
		return false;
	x = neg ? -x : x;
	if (x < lo || x > hi)
		return false;
	*v = x;
	return true;
}

/* A string without escapes or control characters, cut in place. */
static bool
string(struct rd *d, const char **s)
{
	char *q;

	if (!lit(d, "\""))
		return false;
	for (q = d->p; q < d->end && *q != '"'; q++)
		if (*q == '\\' || (unsigned char)*q < 0x20)
			return false;
	if (q >= d->end)
		return false;
	*q = '\0';
	*s = d->p;
	d->p = q + 1;
	return true;
}

static bool
tags(struct rd *d, const char **out, size_t *n)
{
	*n = 0;
	if (!lit(d, "["))
		return false;
	if (lit(d, "]"))
		return true;
	do {
		if (*n == RANK_MAX_TAGS || !string(d, &out[*n]))
			return false;
		(*n)++;
	} while (lit(d, ","));
	return lit(d, "]");
}

static bool
where(struct rd *d, struct nearby_req *r)
{
	struct rank_query *q = &r->q;
	long long minp, maxp;

	if (!lit(d, "{\"lat\":") || !number(d, &q->lat) ||
	    q->lat < -90 || q->lat > 90 ||
	    !lit(d, ",\"lon\":") || !number(d, &q->lon) ||
	    q->lon < -180 || q->lon > 180 ||
	    !lit(d, ",\"radius_m\":") || !number(d, &q->radius_m) ||
	    !(q->radius_m > 0 && q->radius_m <= RANK_MAX_RADIUS_M) ||
	    !lit(d, ",\"categories\":") ||
	    !tags(d, r->cats, &q->ncategories) ||
	    !lit(d, ",\"cuisines\":") || !tags(d, r->cuis, &q->ncuisines) ||
	    !lit(d, ",\"cuisine_required\":true") ||
	    !lit(d, ",\"prefer_cuisines\":") ||
	    !tags(d, r->pcuis, &q->nprefer) ||
	    !lit(d, ",\"min_price\":") || !integer(d, 0, 4, &minp) ||
	    !lit(d, ",\"max_price\":") || !integer(d, 0, 4, &maxp) ||
	    (maxp > 0 && minp > maxp) || !lit(d, ",\"min_rating\":"))
		return false;
	q->categories = r->cats;
	q->cuisines = r->cuis;
	q->cuisine_required = true;
	q->prefer_cuisines = r->pcuis;
	q->min_price = (int)minp;
	q->max_price = (int)maxp;
	if (!lit(d, "null") && (!number(d, &q->min_rating) ||
	    !(q->min_rating >= 0 && q->min_rating <= 5)))
		return false;
	return true;
}

static bool
how(struct rd *d, struct nearby_req *r)
{
	struct rank_query *q = &r->q;
	long long offset, limit, now, day, minute;

	if (!lit(d, ",\"q\":") || (!lit(d, "null") && !string(d, &q->q)) ||
	    !lit(d, ",\"sort\":\""))
		return false;
	if (lit(d, "best\""))
		q->sort = RANK_SORT_BEST;
	else if (lit(d, "distance\""))
		q->sort = RANK_SORT_DISTANCE;
	else if (lit(d, "rating\""))
		q->sort = RANK_SORT_RATING;
	else
		return false;
	if (!lit(d, ",\"offset\":") || !integer(d, 0, RANK_MAX_WINDOW,
	    &offset) || !lit(d, ",\"limit\":") || !integer(d, 1,
	    RANK_MAX_WINDOW, &limit) || offset + limit > RANK_MAX_WINDOW ||
	    !lit(d, ",\"now\":") || !integer(d, 0, INT64_MAX / 2, &now) ||
	    !lit(d, ",\"open\":"))
		return false;
	q->offset = (unsigned)offset;
	q->limit = (unsigned)limit;
	q->now_utc = now;
	if (lit(d, "\"now\"")) {
		q->open = RANK_OPEN_AT_UTC;
		q->open_utc = now;
	} else if (lit(d, "{\"day\":")) {
		if (!integer(d, 0, 6, &day) || !lit(d, ",\"minute\":") ||
		    !integer(d, 0, 1439, &minute) || !lit(d, "}"))
			return false;
		q->open = RANK_OPEN_AT_LOCAL;
		q->open_day = (int)day;
		q->open_minute = (int)minute;
	} else if (!lit(d, "null")) {
		return false;
	}
	return lit(d, "}") && d->p == d->end;
}

int
nearby_parse_fast(const void *buf, size_t len, struct nearby_req *r)
{
	struct rd d;

	memset(r, 0, sizeof(*r));
	rank_query_init(&r->q);
	if ((r->text = malloc(len + 1)) == NULL)
		return -1;
	memcpy(r->text, buf, len);
	r->text[len] = '\0';
	d.p = r->text;
	d.end = r->text + len;
	if (!where(&d, r) || !how(&d, r) || rank_query_check(&r->q) != 0) {
		free(r->text);
		memset(r, 0, sizeof(*r));
		return -1;
	}
	return 0;
}
