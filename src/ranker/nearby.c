/*
 * nearby.c: the WIRE_NEARBY request: strict JSON -> struct rank_query,
 * rank() on a referenced snapshot, results -> JSON (see nearby.h).
 */
#include "ranker/nearby.h"
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
	    &q->cuisine_required) != 0)
		return -1;
	q->categories = r->cats;
	q->cuisines = r->cuis;
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

static char *
nearby_encode(const struct snapshot *s, const struct rank_result *res,
    size_t n, size_t total, size_t *outlen)
{
	struct nw_buf b;
	size_t i;
	unsigned k;

	nw_open(&b, total, s->serial);
	for (i = 0; i < n; i++) {
		nw_result(&b, res[i].id, res[i].distance_m, res[i].score);
		for (k = 0; k < res[i].nmatched; k++)
			nw_matched(&b, res[i].matched[k]);
		nw_result_end(&b);
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
	int n;

	if ((res = calloc(r->q.limit, sizeof(*res))) == NULL) {
		*out = nearby_error("out of memory", outlen);
		return WIRE_ERROR;
	}
	r->q.an = an;
	if ((n = rank(s, &r->q, res, r->q.limit, &total)) < 0) {
		*out = nearby_error(errno == EINVAL ? "bad request: query" :
		    "out of memory", outlen);
		free(res);
		return WIRE_ERROR;
	}
	*out = nearby_encode(s, res, (size_t)n, total, outlen);
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
