/*
 * offers.c: POST /v1/offers (publish, with the admin bearer token),
 * GET /v1/offers (the active offers) and GET /v1/offers/{id} (one offer,
 * whatever its dates). The stream is offers_stream.c.
 *
 * Publishing: the token of [offers] admin_token_file, compared in constant
 * time (401 without a bearer token, 403 with a wrong one or when no token
 * is configured); a strict JSON body (400 for malformed JSON, an unknown
 * field, a wrong type or a value out of range, and for an offer that
 * cannot be: a place that does not exist, ends_at not after starts_at or
 * not after this host's clock); then one statement,
 * placesd_publish_offer(), inserts and NOTIFYs in one transaction, and
 * the stored offer is answered with 201 and its Location.
 *
 * An unknown city on the list is a 404 (the statement gives no row then),
 * as on the stream and the city's own routes.
 */
#include "api/api.h"
#include "runtime/upstream.h"
#include "worker/worker.h"
#include "common/config.h"
#include "common/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define OFFER_TITLE_MAX   200
#define OFFER_DESC_MAX    2000
#define OFFERS_LIST_DEF   100
#define OFFERS_LIST_MAX   1000

/* Equal in time that depends on the lengths only, never on the bytes. */
static bool
token_equal(const char *got, const char *want)
{
	size_t gl = strlen(got), wl = strlen(want), i;
	unsigned char diff = gl != wl;

	for (i = 0; i < wl; i++)
		diff |= (unsigned char)(want[i] ^ (i < gl ? got[i] : 0));
	return diff == 0;
}

/* false when it answered 401/403 */
static bool
authorized(struct http_req *r)
{
	const struct config *cfg = http_req_worker(r)->cfg;
	const char *h = http_req_header(r, "Authorization");

	if (cfg->admin_token[0] == '\0') {
		http_reply_error(r, 403, "forbidden", "publishing is disabled: "
		    "no [offers] admin_token_file is configured", NULL);
		return false;
	}
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0 || h[7] == '\0') {
		http_add_header(r, "WWW-Authenticate", "Bearer realm=\"placesd\"");
		http_reply_error(r, 401, "unauthorized", "an Authorization: "
		    "Bearer token is required", NULL);
		return false;
	}
	if (!token_equal(h + 7, cfg->admin_token)) {
		http_reply_error(r, 403, "forbidden", "wrong token", NULL);
		return false;
	}
	return true;
}

/* RFC 3339 (checked before) to seconds since the epoch, UTC. */
static int64_t
epoch_of(const char *s)
{
	struct tm tm;
	const char *z;
	int64_t t;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = atoi(s) - 1900;
	tm.tm_mon = atoi(s + 5) - 1;
	tm.tm_mday = atoi(s + 8);
	tm.tm_hour = atoi(s + 11);
	tm.tm_min = atoi(s + 14);
	tm.tm_sec = atoi(s + 17);
	t = (int64_t)timegm(&tm);
	z = s + 19 + strspn(s + 19, ".0123456789");
	if (*z == '+' || *z == '-')
		t -= (*z == '+' ? 1 : -1) * (atoi(z + 1) * 3600 +
		    atoi(z + 4) * 60);
	return t;
}

struct offer_in {
	char place_id[24];
	char discount[8];
	const char *title, *description, *starts_at, *ends_at;
};

static bool
bad(struct http_req *r, const char *field, const char *msg)
{
	http_reply_error(r, 400, "invalid_argument", msg, field);
	return false;
}

static bool
text_field(struct http_req *r, json_t *doc, const char *name, size_t max,
    bool required, const char **out)
{
	json_t *v = json_object_get(doc, name);
	char msg[96];

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (!required)
			return true;
		snprintf(msg, sizeof(msg), "%s is required", name);
		return bad(r, name, msg);
	}
	if (!json_is_string(v) || json_string_length(v) > max ||
	    (required && json_string_length(v) == 0)) {
		snprintf(msg, sizeof(msg), "%s must be a string of %s%zu bytes",
		    name, required ? "1 to " : "at most ", max);
		return bad(r, name, msg);
	}
	*out = json_string_value(v);
	return true;
}

static bool
time_field(struct http_req *r, json_t *doc, const char *name,
    const char **out)
{
	char msg[96];

	if (!text_field(r, doc, name, 64, true, out))
		return false;
	if (!upstream_valid_timestamp(*out)) {
		snprintf(msg, sizeof(msg), "%s must be an RFC 3339 date-time, "
		    "e.g. 2026-11-23T10:00:00Z", name);
		return bad(r, name, msg);
	}
	return true;
}

static bool
offer_parse(struct http_req *r, json_t *doc, struct offer_in *in)
{
	static const char *const known[] = { "place_id", "title",
	    "description", "discount_pct", "starts_at", "ends_at" };
	const char *key;
	json_t *v;
	size_t i;

	if (!json_is_object(doc))
		return bad(r, NULL, "the body must be a JSON object");
	json_object_foreach(doc, key, v) {
		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (strcmp(key, known[i]) == 0)
				break;
		if (i == sizeof(known) / sizeof(known[0]))
			return bad(r, key, "unknown field");
	}
	v = json_object_get(doc, "place_id");
	if (!json_is_integer(v) || json_integer_value(v) < 1)
		return bad(r, "place_id", "place_id must be a positive "
		    "integer");
	snprintf(in->place_id, sizeof(in->place_id), "%lld",
	    (long long)json_integer_value(v));
	v = json_object_get(doc, "discount_pct");
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > 100)
		return bad(r, "discount_pct", "discount_pct must be an "
		    "integer, 1..100");
	snprintf(in->discount, sizeof(in->discount), "%d",
	    (int)json_integer_value(v));
	if (!text_field(r, doc, "title", OFFER_TITLE_MAX, true, &in->title) ||
	    !text_field(r, doc, "description", OFFER_DESC_MAX, false,
	    &in->description) ||
	    !time_field(r, doc, "starts_at", &in->starts_at) ||
	    !time_field(r, doc, "ends_at", &in->ends_at))
		return false;
	if (epoch_of(in->ends_at) <= epoch_of(in->starts_at))
		return bad(r, "ends_at", "ends_at must be after starts_at");
	/* this host's clock, without leeway: an offer that ended already
	 * would never be active */
	if (epoch_of(in->ends_at) <= (int64_t)time(NULL))
		return bad(r, "ends_at", "ends_at is in the past");
	return true;
}

/* The id an Offer's JSON begins with ({"id":N,...}), or 0. */
static long long
offer_id(const char *json)
{
	const char *p = json + strspn(json, "{ ");

	if (strncmp(p, "\"id\"", 4) != 0)
		return 0;
	p += 4;
	p += strspn(p, " :");
	return strtoll(p, NULL, 10);
}

static void
published(struct api_job *job, const PGresult *res)
{
	const char *json = pg_nrows(res) > 0 ? pg_value(res, 0, 0) : NULL;
	char loc[48];

	if (json == NULL) {
		bad(job->r, "place_id", "no such place");
		return;
	}
	stats_add(&http_req_worker(job->r)->st->offers_published, 1);
	snprintf(loc, sizeof(loc), "/v1/offers/%lld", offer_id(json));
	http_add_header(job->r, "Location", loc);
	http_reply(job->r, 201, "application/json; charset=utf-8", json,
	    (size_t)pg_length(res, 0, 0));
}

void
api_offers_publish(struct http_req *r)
{
	struct offer_in in;
	const char *params[6];
	json_error_t jerr;
	const char *body;
	json_t *doc;
	size_t len;
	char msg[160];

	if (!authorized(r))
		return;
	body = http_req_body(r, &len);
	if ((doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		snprintf(msg, sizeof(msg), "invalid JSON at byte %d: %.120s",
		    jerr.position, jerr.text);
		http_reply_error(r, 400, "malformed_json", msg, NULL);
		return;
	}
	if (offer_parse(r, doc, &in)) {
		params[0] = in.place_id;
		params[1] = in.title;
		params[2] = in.description;
		params[3] = in.discount;
		params[4] = in.starts_at;
		params[5] = in.ends_at;
		/* the strings live in doc until the query copied them */
		api_query(r, STMT_PUBLISH_OFFER, 6, params, published, 0, NULL,
		    NULL, NULL);
	}
	json_decref(doc);
}

void
api_offers(struct http_req *r)
{
	if (http_req_method(r) == HTTP_POST)
		api_offers_publish(r);
	else
		api_offers_list(r);
}

static void
listed(struct api_job *job, const PGresult *res)
{
	if (pg_nrows(res) == 0) {
		http_reply_error(job->r, 404, "not_found", "no such city",
		    "city");
		return;
	}
	api_reply_json_row(job, res, "{\"offers\":", "}", "no offers");
}

void
api_offers_list(struct http_req *r)
{
	char city[80], place[24], since[24], limit[8];
	const char *params[4];
	long v;

	if (!api_param_text(r, "city", 64, city, sizeof(city)))
		return;
	if (city[0] != '\0' && !api_is_slug(city)) {
		http_reply_error(r, 400, "invalid_argument", "city must be a "
		    "city id", "city");
		return;
	}
	if (!api_param_int(r, "place_id", 1, 999999999, 0, &v))
		return;
	snprintf(place, sizeof(place), "%ld", v);
	params[1] = v > 0 ? place : NULL;
	if (!api_param_int(r, "since_id", 0, 999999999, -1, &v))
		return;
	snprintf(since, sizeof(since), "%ld", v);
	params[2] = v >= 0 ? since : NULL;
	if (!api_param_int(r, "limit", 1, OFFERS_LIST_MAX, OFFERS_LIST_DEF,
	    &v))
		return;
	snprintf(limit, sizeof(limit), "%ld", v);
	params[0] = city[0] != '\0' ? city : NULL;
	params[3] = limit;
	api_query(r, STMT_OFFERS_ACTIVE, 4, params, listed, 0, NULL, NULL,
	    NULL);
}

static void
offer_result(struct api_job *job, const PGresult *res)
{
	const char *json = pg_nrows(res) > 0 ? pg_value(res, 0, 0) : NULL;

	if (json == NULL) {
		http_reply_error(job->r, 404, "not_found", "no such offer",
		    NULL);
		return;
	}
	http_reply(job->r, 200, "application/json; charset=utf-8", json,
	    (size_t)pg_length(res, 0, 0));
}

/* On the primary, as the list: a client that just published it finds it
 * at its Location. */
void
api_offer(struct http_req *r)
{
	const char *id = http_req_param(r, 0);
	const char *params[1] = { id };

	if (!api_is_id(id)) {
		http_reply_error(r, 400, "invalid_argument", "id must be a "
		    "positive integer", "id");
		return;
	}
	api_query(r, STMT_OFFER, 1, params, offer_result, 0, NULL, NULL,
	    NULL);
}
