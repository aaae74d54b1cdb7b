/*
 * suggest.c: GET /v1/autocomplete, GET /v1/categories and GET
 * /v1/cuisines, answered by the ranker from its snapshot
 * (ranker/suggest.h): the request is checked here, sent as one framed
 * JSON call, and the ranker's JSON is the answer's body as it comes.
 *
 * There is no answer without the ranker: while it is away, busy, late or
 * without a snapshot these are 503 `unavailable` with Retry-After: 1 (the
 * ranker is respawned in milliseconds; a database query over every place
 * would cost more than the wait).
 */
#include "api/api.h"
#include "runtime/rankc.h"
#include "worker/worker.h"
#include "common/wire.h"
#include "common/words.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define SUGGEST_TEXT_MAX    100     /* bytes, as the ranker takes */
#define SUGGEST_LIMIT_MAX   20

struct ask_ranker {
	struct http_req *r;
	struct rankc_call *call;
	unsigned result;            /* the reply type that answers */
};

static void
unavailable(struct http_req *r, const char *msg)
{
	http_add_header(r, "Retry-After", "1");
	http_reply_error(r, 503, "unavailable", msg, NULL);
}

/* A refusal of the ranker's, as the client's error. */
static void
ranker_refused(struct http_req *r, const char *payload, size_t len)
{
	json_t *doc = json_loadb(payload, len, 0, NULL);
	const char *e = json_string_value(json_object_get(doc, "error"));

	if (e == NULL)
		e = "";
	if (strcmp(e, "unknown city") == 0)
		http_reply_error(r, 404, "not_found", "no such city", "city");
	else if (strncmp(e, "bad request: ", 13) == 0)
		http_reply_error(r, 400, "invalid_argument", strcmp(e + 13,
		    "text") == 0 ? "text must hold a letter or a digit" :
		    "the request is not valid", e + 13);
	else
		unavailable(r, "the ranker has no snapshot yet");
	json_decref(doc);
}

static void
answered(void *arg, enum rankc_status st, const char *payload, size_t len)
{
	struct ask_ranker *a = arg;

	a->call = NULL;
	if (st == RANKC_OK)
		http_reply(a->r, 200, "application/json", payload, len);
	else if (st == RANKC_ERROR)
		ranker_refused(a->r, payload, len);
	else
		unavailable(a->r, st == RANKC_TIMEOUT ? "the ranker did not "
		    "answer in time" : "the ranker is busy or away");
	free(a);
}

static void
cancelled(void *arg)
{
	struct ask_ranker *a = arg;

	rankc_call_cancel(a->call);
	free(a);
}

/* Sends doc (taken) to the ranker as a frame of type; r answers later. */
static void
ask(struct http_req *r, unsigned type, json_t *doc)
{
	struct worker *w = http_req_worker(r);
	enum rankc_status why = RANKC_ERROR;
	struct ask_ranker *a;
	char *text;

	text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (text == NULL || (a = calloc(1, sizeof(*a))) == NULL) {
		free(text);
		http_reply_error(r, 503, "overloaded", "out of memory", NULL);
		return;
	}
	a->r = r;
	a->call = rankc_call(w->rankc, type, text, strlen(text), answered, a,
	    &why);
	free(text);
	if (a->call == NULL) {
		free(a);
		unavailable(r, why == RANKC_BUSY ? "the ranker is busy" :
		    "the ranker is away");
		return;
	}
	http_req_defer(r, cancelled, a);
}

/* Whether t holds a word character (common/words.h): one is enough
 * here, since a word is being typed. */
static bool
has_word(const char *t)
{
	const unsigned char *p = (const unsigned char *)t;

	while (*p != '\0')
		if (words_is_char(words_utf8_next(&p)))
			return true;
	return false;
}

void
api_autocomplete(struct http_req *r)
{
	char text[SUGGEST_TEXT_MAX + 1];
	double lat = 0, lon = 0;
	bool has_lat, has_lon;
	long limit;
	json_t *doc;

	if (!api_param_text(r, "text", SUGGEST_TEXT_MAX, text, sizeof(text)))
		return;
	if (text[0] == '\0' || !has_word(text)) {
		http_reply_error(r, 400, "invalid_argument", text[0] == '\0' ?
		    "text is required" : "text must hold a letter or a digit",
		    "text");
		return;
	}
	if (!api_param_coord(r, "lat", -90, 90, false, &lat, &has_lat) ||
	    !api_param_coord(r, "lon", -180, 180, false, &lon, &has_lon) ||
	    !api_param_int(r, "limit", 1, SUGGEST_LIMIT_MAX, 10, &limit))
		return;
	if (has_lat != has_lon) {
		http_reply_error(r, 400, "invalid_argument", "give lat and lon "
		    "together, or neither", has_lat ? "lon" : "lat");
		return;
	}
	doc = json_pack("{s:s,s:i}", "text", text, "limit", (int)limit);
	if (doc != NULL && has_lat && (json_object_set_new(doc, "lat",
	    json_real(lat)) != 0 || json_object_set_new(doc, "lon",
	    json_real(lon)) != 0)) {
		json_decref(doc);
		doc = NULL;
	}
	ask(r, WIRE_SUGGEST, doc);
}

static void
tags(struct http_req *r, const char *kind)
{
	const char *city = http_req_query(r, "city");

	if (city != NULL && !api_is_slug(city)) {
		http_reply_error(r, 400, "invalid_argument", "city must be a "
		    "city id: 1 to 64 of a-z, 0-9 and -", "city");
		return;
	}
	ask(r, WIRE_TAGS, city != NULL ? json_pack("{s:s,s:s}", "kind", kind,
	    "city", city) : json_pack("{s:s}", "kind", kind));
}

void
api_categories(struct http_req *r)
{
	tags(r, "categories");
}

void
api_cuisines(struct http_req *r)
{
	tags(r, "cuisines");
}
