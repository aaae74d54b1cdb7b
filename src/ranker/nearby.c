/*
 * nearby.c: the WIRE_NEARBY request: strict JSON -> struct rank_query,
 * rank() on a referenced snapshot, results -> JSON (see nearby.h), each
 * with whether it is open at the request's "now" and when it next opens
 * or closes, in its city's local time.
 */
#include "ranker/nearby.h"
#include "ranker/hours.h"
#include "common/nearby_wire.h"
#include "common/wire.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#define NEARBY_ERR_LEN  128

_Static_assert(RANK_TOTAL_CAP == NW_TOTAL_CAP,
    "the wire caps the total where rank() stops counting");

/* A field that is absent or null: no preference. */
static json_t *
nearby_get(json_t *root, const char *key)
{
	json_t *v = json_object_get(root, key);

	return json_is_null(v) ? NULL : v;
}

static int
nearby_number(json_t *root, const char *key, double *out)
{
	json_t *v = nearby_get(root, key);

	if (v == NULL)
		return 0;
	if (!json_is_number(v))
		return -1;
	*out = json_number_value(v);
	return isfinite(*out) ? 0 : -1;
}

static int
nearby_int(json_t *root, const char *key, long long lo, long long hi,
    long long *out)
{
	json_t *v = nearby_get(root, key);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi)
		return -1;
	*out = json_integer_value(v);
	return 0;
}

static int
nearby_tags(json_t *root, const char *key, const char **tags, size_t *n)
{
	json_t *v = nearby_get(root, key), *t;
	size_t i;

	*n = 0;
	if (v == NULL)
		return 0;
	if (!json_is_array(v) || json_array_size(v) > RANK_MAX_TAGS)
		return -1;
	json_array_foreach(v, i, t) {
		if (!json_is_string(t))
			return -1;
		tags[i] = json_string_value(t);
	}
	*n = json_array_size(v);
	return 0;
}

static int
nearby_open(json_t *root, struct rank_query *q)
{
	json_t *v = nearby_get(root, "open");
	long long day = -1, minute = -1;

	if (v == NULL)
		return 0;
	if (json_is_string(v)) {
		if (strcmp(json_string_value(v), "now") != 0)
			return -1;
		q->open = RANK_OPEN_AT_UTC;
		q->open_utc = q->now_utc;
		return 0;
	}
	if (!json_is_object(v) || nearby_int(v, "day", 0, 6, &day) != 0 ||
	    nearby_int(v, "minute", 0, 1439, &minute) != 0 || day < 0 ||
	    minute < 0)
		return -1;
	q->open = RANK_OPEN_AT_LOCAL;
	q->open_day = (int)day;
	q->open_minute = (int)minute;
	return 0;
}

static int
nearby_sort(json_t *root, struct rank_query *q)
{
	json_t *v = nearby_get(root, "sort");
	const char *s;

	if (v == NULL)
		return 0;
	if ((s = json_string_value(v)) == NULL)
		return -1;
	if (strcmp(s, "best") == 0)
		q->sort = RANK_SORT_BEST;
	else if (strcmp(s, "distance") == 0)
		q->sort = RANK_SORT_DISTANCE;
	else if (strcmp(s, "rating") == 0)
		q->sort = RANK_SORT_RATING;
	else
		return -1;
	return 0;
}

static int
nearby_text(json_t *root, struct rank_query *q)
{
	json_t *v = nearby_get(root, "q");

	if (v == NULL)
		return 0;
	if (!json_is_string(v))
		return -1;
	q->q = json_string_value(v);
	return 0;
}

static int
nearby_flag(json_t *root, const char *key, bool *out)
{
	json_t *v = nearby_get(root, key);

	if (v == NULL)
		return 0;
	if (!json_is_boolean(v))
		return -1;
	*out = json_is_true(v);
	return 0;
}

/* Position, radius and the hard filters; 0 or -1 naming the field. */
static int
nearby_where(json_t *root, struct nearby_req *r, const char **field)
{
	struct rank_query *q = &r->q;
	long long minp = 0, maxp = 0;

	if (!json_is_number(nearby_get(root, (*field = "lat"))) ||
	    nearby_number(root, "lat", &q->lat) != 0 ||
	    q->lat < -90 || q->lat > 90)
		return -1;
	if (!json_is_number(nearby_get(root, (*field = "lon"))) ||
	    nearby_number(root, "lon", &q->lon) != 0 ||
	    q->lon < -180 || q->lon > 180)
		return -1;
	if (nearby_number(root, (*field = "radius_m"), &q->radius_m) != 0 ||
	    !(q->radius_m > 0 && q->radius_m <= RANK_MAX_RADIUS_M))
		return -1;
	if (nearby_tags(root, (*field = "categories"), r->cats,
	    &q->ncategories) != 0 ||
	    nearby_tags(root, (*field = "cuisines"), r->cuis,
	    &q->ncuisines) != 0 ||
	    nearby_flag(root, (*field = "cuisine_required"),
	    &q->cuisine_required) != 0 ||
	    nearby_tags(root, (*field = "prefer_cuisines"), r->pcuis,
	    &q->nprefer) != 0)
		return -1;
	q->categories = r->cats;
	q->cuisines = r->cuis;
	q->prefer_cuisines = r->pcuis;
	if (nearby_int(root, (*field = "min_price"), 0, 4, &minp) != 0 ||
	    nearby_int(root, (*field = "max_price"), 0, 4, &maxp) != 0 ||
	    (maxp > 0 && minp > maxp))
		return -1;
	q->min_price = (int)minp;
	q->max_price = (int)maxp;
	if (nearby_number(root, (*field = "min_rating"), &q->min_rating) != 0 ||
	    (!isnan(q->min_rating) &&
	    !(q->min_rating >= 0 && q->min_rating <= 5)))
		return -1;
	return 0;
}

/* Time, text, order and window; 0 or -1 naming the field. */
static int
nearby_how(json_t *root, struct nearby_req *r, const char **field)
{
	struct rank_query *q = &r->q;
	long long now = (long long)time(NULL), offset = 0, limit = q->limit;

	if (nearby_int(root, (*field = "now"), 0, INT64_MAX / 2, &now) != 0)
		return -1;
	q->now_utc = now;
	*field = "open";
	if (nearby_open(root, q) != 0)
		return -1;
	*field = "q";
	if (nearby_text(root, q) != 0)
		return -1;
	*field = "sort";
	if (nearby_sort(root, q) != 0)
		return -1;
	if (nearby_int(root, (*field = "offset"), 0, RANK_MAX_WINDOW,
	    &offset) != 0 ||
	    nearby_int(root, (*field = "limit"), 1, RANK_MAX_WINDOW,
	    &limit) != 0 || offset + limit > RANK_MAX_WINDOW)
		return -1;
	q->offset = (unsigned)offset;
	q->limit = (unsigned)limit;
	return 0;
}

int
nearby_parse(const void *buf, size_t len, struct nearby_req *r,
    const char **field)
{
	json_error_t jerr;
	json_t *root;

	if (nearby_parse_fast(buf, len, r) == 0)
		return 0;
	memset(r, 0, sizeof(*r));
	rank_query_init(&r->q);
	*field = "json";
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return -1;
	r->root = root;
	if (!json_is_object(root) || nearby_where(root, r, field) != 0 ||
	    nearby_how(root, r, field) != 0) {
		nearby_req_free(r);
		return -1;
	}
	*field = "query";
	if (rank_query_check(&r->q) != 0) {
		nearby_req_free(r);
		return -1;
	}
	return 0;
}

void
nearby_req_free(struct nearby_req *r)
{
	json_decref(r->root);
	r->root = NULL;
	free(r->text);
	r->text = NULL;
}

static char *
nearby_dump(json_t *doc, size_t *outlen)
{
	char *s;

	if (doc == NULL)
		return NULL;
	s = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(12));
	json_decref(doc);
	if (s != NULL)
		*outlen = strlen(s);
	return s;
}

char *
nearby_error(const char *msg, size_t *outlen)
{
	return nearby_dump(json_pack("{s:s}", "error", msg), outlen);
}

/* The hours (NULL: unknown) and the city's offset from UTC of place, an
 * index over s's base and its delta. */
static const struct snap_hours *
place_hours(const struct snapshot *s, uint32_t place, int *offset_min)
{
	const struct snap_place *p;

	if (place >= s->nplaces) {
		if (s->delta == NULL)
			return NULL;
		place -= s->nplaces;
		s = s->delta;
		if (place >= s->nplaces)
			return NULL;
	}
	p = &s->places[place];
	*offset_min = s->cities[p->city].utc_offset_min;
	return p->hours < 0 ? NULL : &s->hours[p->hours];
}

/* t, local seconds since the epoch at offset_min from UTC, as RFC 3339
 * with that offset (NW_TIME_LEN characters for years 0 to 9999) into
 * out[LOCAL_TIME_SIZE] (days_from_civil's inverse, after H. Hinnant). */
#define LOCAL_TIME_SIZE 128     /* what snprintf() could write, at most */

/* v (0 .. 10^n - 1, y % 10000 may be negative before year 0: its
 * absolute value) as n decimal digits, zero-padded, at out. */
static void
digits(char *out, int64_t v, int n)
{
	if (v < 0)
		v = -v;
	while (n-- > 0) {
		out[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

static void
local_time(int64_t t, int offset_min, char out[LOCAL_TIME_SIZE])
{
	int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
	int64_t sec = t - days * 86400, z = days + 719468, era, doe, yoe, y;
	int64_t doy, mp, d, m;
	int off = offset_min < 0 ? -offset_min : offset_min;

	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	/* written by hand: snprintf() here was a tenth of the ranker's time
	 * for an answer of ten results */
	digits(out, y % 10000, 4);
	out[4] = '-';
	digits(out + 5, m, 2);
	out[7] = '-';
	digits(out + 8, d, 2);
	out[10] = 'T';
	digits(out + 11, sec / 3600, 2);
	out[13] = ':';
	digits(out + 14, sec / 60 % 60, 2);
	out[16] = ':';
	digits(out + 17, sec % 60, 2);
	out[19] = offset_min < 0 ? '-' : '+';
	digits(out + 20, off / 60 % 100, 2);
	out[22] = ':';
	digits(out + 23, off % 60, 2);
	out[25] = '\0';
}

/* Ends result r: open now or not, and when that changes, or nulls for
 * unknown hours. */
static void
nearby_hours(struct nw_buf *b, const struct snapshot *s,
    const struct rank_result *r, int64_t now)
{
	const struct snap_hours *h;
	int64_t local, days, minute;
	char when[LOCAL_TIME_SIZE];
	int offset = 0, change;
	bool open;

	if ((h = place_hours(s, r->place, &offset)) == NULL) {
		nw_result_end(b, -1, NULL, NULL);
		return;
	}
	local = now + (int64_t)offset * 60;
	days = local >= 0 ? local / 86400 : (local - 86399) / 86400;
	minute = (local - days * 86400) / 60;
	change = hours_next_change(h, (int)(((days + 3) % 7 + 7) % 7),
	    (int)minute, &open);     /* 1970-01-01: a thursday */
	if (change < 0) {
		nw_result_end(b, open, NULL, NULL);
		return;
	}
	local_time(days * 86400 + (minute + change) * 60, offset, when);
	nw_result_end(b, open, open ? NULL : when, open ? when : NULL);
}

static char *
nearby_encode(const struct snapshot *s, const struct nearby_req *r,
    const struct rank_result *res, size_t n, size_t total, bool exact,
    size_t *outlen)
{
	struct nw_buf b;
	size_t i;
	unsigned k;

	/* past the cap, "at least NW_TOTAL_CAP" is all a total says */
	if (total > NW_TOTAL_CAP) {
		total = NW_TOTAL_CAP;
		exact = false;
	}
	nw_open(&b, total, exact, s->serial);
	for (i = 0; i < n; i++) {
		nw_result(&b, res[i].id, res[i].distance_m, res[i].score);
		for (k = 0; k < res[i].nmatched; k++)
			nw_matched(&b, res[i].matched[k]);
		nearby_hours(&b, s, &res[i], r->q.now_utc);
	}
	return nw_close(&b, outlen);
}

/* Ranks r on snapshot s: the reply type, the payload in *out. */
static unsigned
nearby_rank(const struct snapshot *s, struct analyzer *an,
    struct nearby_req *r, char **out, size_t *outlen)
{
	struct rank_result *res;
	size_t total = 0;
	bool exact = true;
	int n;

	if ((res = calloc(r->q.limit, sizeof(*res))) == NULL) {
		*out = nearby_error("out of memory", outlen);
		return WIRE_ERROR;
	}
	r->q.an = an;
	if ((n = rank_counted(s, &r->q, res, r->q.limit, &total,
	    &exact)) < 0) {
		*out = nearby_error(errno == EINVAL ? "bad request: query" :
		    "out of memory", outlen);
		free(res);
		return WIRE_ERROR;
	}
	*out = nearby_encode(s, r, res, (size_t)n, total, exact, outlen);
	free(res);
	if (*out == NULL) {
		*out = nearby_error("out of memory", outlen);
		return WIRE_ERROR;
	}
	return WIRE_NEARBY_RESULT;
}

unsigned
nearby_run(struct snap_holder *h, struct analyzer *an, const void *req,
    size_t len, char **out, size_t *outlen)
{
	char msg[NEARBY_ERR_LEN];
	struct nearby_req r;
	struct snapshot *s;
	const char *field;
	unsigned type;

	*out = NULL;
	*outlen = 0;
	if (nearby_parse(req, len, &r, &field) != 0) {
		snprintf(msg, sizeof(msg), "bad request: %s", field);
		*out = nearby_error(msg, outlen);
		return WIRE_ERROR;
	}
	if ((s = snap_holder_get(h)) == NULL) {
		nearby_req_free(&r);
		*out = nearby_error("no snapshot yet", outlen);
		return WIRE_ERROR;
	}
	type = nearby_rank(s, an, &r, out, outlen);
	snap_unref(s);
	nearby_req_free(&r);
	return type;
}
