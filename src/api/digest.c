/*
 * digest.c: POST /v1/digest, the day digest of a city. One request, four
 * sources, one deadline:
 *
 *   events      the events service (upstream.c)       } started together
 *   places      the city's best places (PostgreSQL)   }
 *   menu_items  of those places        } started together once the
 *   offers      active, of those places} places are known
 *
 * The answer goes out when every source has answered or failed, or when
 * the digest's deadline comes (request_deadline less a margin for the
 * answer itself): whatever is still pending is dropped then. A failed or
 * late source leaves an entry in "errors" and an empty list; the rest is
 * answered with 200. Only an invalid body (400) or an unknown city (404)
 * fails the request. A client that goes away cancels every source.
 *
 * With the city read model (runtime/citymodel.h) the three database
 * sources come from it: a hit answers them at once and only the events
 * call is left; a miss runs the same queries (their read model variants,
 * which also say which places the city has and when its offers change)
 * and hands the result to the model, or joins a build of the same key in
 * flight. A build with any failed or late query is never kept.
 *
 * Events name their venue by place_id, a place of any city (or of none).
 * Once the events are in, the places they name are read (the source
 * "venues"): an event whose venue is in another city, or is no place, is
 * left out and counted in "dropped_events"; the venues of the others that
 * "places" does not hold already are answered in "venues". When the
 * venues cannot be read in time, the events are answered unchecked and
 * "errors" says so. The read model keeps what was read for a set of ids,
 * in the digest's city (the key names a hash of the ids, the value the
 * ids themselves), so that a digest it holds costs no query for its
 * venues either; any change to the city's places drops it, as it drops
 * the city's digests.
 */
#include "api/api.h"
#include "api/digest_doc.h"
#include "runtime/citymodel.h"
#include "runtime/upstream.h"
#include "worker/worker.h"
#include "common/log.h"
#include "common/stats.h"
#include "common/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#define DIGEST_MARGIN_MS        100

enum digest_source { DS_EVENTS, DS_PLACES, DS_MENU, DS_OFFERS, DS_VENUES,
    DS_COUNT };

static const char *const source_names[DS_COUNT] = { "events", "places",
    "menu_items", "offers", "venues" };

/* A place an event names, as read. */
struct venue {
	int64_t id;
	char city[65];
	char *json;                 /* its Place object */
	bool used;                  /* a kept event names it */
};

struct digest {
	struct http_req *r;
	struct worker *w;
	struct digest_ask ask;
	char *ids;                  /* bigint[] literal of the places */
	struct upstream_call *ev_call;
	struct pg_query *q[DS_COUNT];
	bool pending[DS_COUNT];
	char *json[DS_COUNT];       /* PostgreSQL's JSON text, by source */
	struct evbuffer *parts;     /* or the read model's, framed as sent */
	struct cm_flight *flight;   /* building the read model's answer */
	struct cm_waiter *wait;     /* waiting for another's build */
	char *city_ids;             /* of the build: every place of the city */
	int64_t until_ms;           /* of the build: when offers change */
	bool db_failed;             /* a database source failed: keep none */
	bool stale;                 /* from the read model, database away */
	struct evbuffer *events;    /* the events' JSON, once answered */
	json_t *errors;
	struct event *timer;
	/* where the database sources run (worker_fresh_pool): a replica
	 * lost under one runs it again on the primary, once */
	struct pg_pool *src;
	uint64_t min_lsn;
	int stmt[DS_COUNT];
	pg_done_fn done[DS_COUNT];
	bool again[DS_COUNT];
	/* the venues: the events parsed (NULL: none names a place), the
	 * ids asked for (a bigint[] literal), the places read, by id */
	json_t *ev_doc;
	char *venue_ids;
	struct venue *venues;
	size_t nvenues;
	bool venues_read;
	struct cm_flight *vflight;  /* building the read model's venues */
	struct cm_waiter *vwait;    /* waiting for another's build */
	int64_t *place_ids;         /* of "places", sorted */
	size_t nplace_ids;
};

/* ---- the request body ----------------------------------------------------- */

/* Fills d from the body; false when it answered 400. */
static bool
parse_body(struct digest *d)
{
	struct digest_refusal why;
	const char *body;
	size_t len;

	body = http_req_body(d->r, &len);
	if (digest_ask_parse(&d->ask, body, len, &why))
		return true;
	http_reply_error(d->r, 400, why.code, why.message, why.field[0] != '\0' ?
	    why.field : NULL);
	return false;
}

/* ---- life of a digest ----------------------------------------------------- */

static void
digest_free(struct digest *d)
{
	unsigned i;

	upstream_cancel(d->ev_call);
	for (i = 0; i < DS_COUNT; i++) {
		if (d->q[i] != NULL)
			pg_cancel(d->q[i]);
	}
	cm_unwait(d->wait);
	cm_fail(d->flight);         /* late, cancelled or answered 404 */
	cm_unwait(d->vwait);
	cm_fail(d->vflight);
	for (i = 0; i < DS_COUNT; i++)
		free(d->json[i]);
	free(d->city_ids);
	if (d->timer != NULL)
		event_free(d->timer);
	if (d->events != NULL)
		evbuffer_free(d->events);
	if (d->parts != NULL)
		evbuffer_free(d->parts);
	json_decref(d->errors);
	free(d->ids);
	json_decref(d->ev_doc);
	free(d->venue_ids);
	for (i = 0; i < d->nvenues; i++)
		free(d->venues[i].json);
	free(d->venues);
	free(d->place_ids);
	free(d);
}

static void
digest_cancel(void *arg)
{
	digest_free(arg);
}

static void
add_error(struct digest *d, enum digest_source s, const char *code,
    const char *message)
{
	if (s != DS_EVENTS && s != DS_VENUES)
		d->db_failed = true;     /* the read model's sources */
	json_array_append_new(d->errors, json_pack("{s:s, s:s, s:s}",
	    "source", source_names[s], "code", code, "message", message));
}

static const char *
db_code(enum pg_status st)
{
	switch (st) {
	case PG_DOWN: return "unavailable";
	case PG_OVERLOADED: return "overloaded";
	case PG_TIMEOUT: return "deadline_exceeded";
	default: return "internal";
	}
}

/* ---- the events' venues ---------------------------------------------------- */

static int
cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int
cmp_venue(const void *a, const void *b)
{
	return cmp_id(&((const struct venue *)a)->id,
	    &((const struct venue *)b)->id);
}

/* The ids of the Places of a JSON array as PostgreSQL wrote it, compact:
 * each object begins {"id":N,"city":" (a place's hours, the one object
 * within, never does). */
static void
note_place_ids(struct digest *d, const char *json, size_t len)
{
	static const char head[] = "{\"id\":";
	const char *p = json, *end = json + len, *hit;
	int64_t *ids;
	size_t n = 0, cap = 16;
	char *num_end;

	if (json == NULL || (ids = malloc(cap * sizeof(*ids))) == NULL)
		return;
	while ((hit = memmem(p, (size_t)(end - p), head, sizeof(head) - 1)) !=
	    NULL) {
		long long v = strtoll(hit + sizeof(head) - 1, &num_end, 10);

		p = hit + 1;
		if (num_end == hit + sizeof(head) - 1 ||
		    strncmp(num_end, ",\"city\":\"", 9) != 0)
			continue;
		if (n == cap) {
			int64_t *nb = realloc(ids, 2 * cap * sizeof(*ids));

			if (nb == NULL)
				break;
			ids = nb;
			cap *= 2;
		}
		ids[n++] = (int64_t)v;
	}
	qsort(ids, n, sizeof(*ids), cmp_id);
	free(d->place_ids);
	d->place_ids = ids;
	d->nplace_ids = n;
}

static bool
in_places(const struct digest *d, int64_t id)
{
	return d->place_ids != NULL && bsearch(&id, d->place_ids,
	    d->nplace_ids, sizeof(id), cmp_id) != NULL;
}

static void run_source(struct digest *d, enum digest_source s,
    struct pg_pool *p);
static bool again_on_primary(struct digest *d, enum digest_source s,
    enum pg_status st);
static void maybe_done(struct digest *d);
static void on_venues(void *arg, enum pg_status st, const PGresult *res,
    const char *msg);
static void venues_lookup(struct digest *d);

/* The events are in: read the places they name, if any. */
static void
venues_start(struct digest *d)
{
	json_error_t jerr;
	json_t *ev, *pid;
	int64_t *ids;
	size_t i, n = 0, len, k;
	char *lit, *at;
	const char *text;

	len = evbuffer_get_length(d->events);
	if (len == 0 || (text = (const char *)evbuffer_pullup(d->events,
	    -1)) == NULL || (d->ev_doc = json_loadb(text, len, 0, &jerr)) ==
	    NULL || !json_is_array(d->ev_doc)) {
		json_decref(d->ev_doc);
		d->ev_doc = NULL;
		return;
	}
	if ((ids = malloc((json_array_size(d->ev_doc) + 1) *
	    sizeof(*ids))) == NULL) {
		add_error(d, DS_VENUES, "internal", "out of memory");
		json_decref(d->ev_doc);
		d->ev_doc = NULL;
		return;
	}
	json_array_foreach(d->ev_doc, i, ev) {
		if (json_is_integer(pid = json_object_get(ev, "place_id")))
			ids[n++] = (int64_t)json_integer_value(pid);
	}
	if (n == 0) {
		free(ids);
		json_decref(d->ev_doc);
		d->ev_doc = NULL;
		return;
	}
	qsort(ids, n, sizeof(*ids), cmp_id);
	/* "{" ids "," ... "}": at most 20 digits and a comma each */
	if ((lit = malloc(n * 21 + 3)) == NULL) {
		free(ids);
		add_error(d, DS_VENUES, "internal", "out of memory");
		json_decref(d->ev_doc);
		d->ev_doc = NULL;
		return;
	}
	at = lit;
	*at++ = '{';
	for (k = 0; k < n; k++) {
		if (k > 0 && ids[k] == ids[k - 1])
			continue;
		if (at > lit + 1)
			*at++ = ',';
		at = util_put_uint(at, (uint64_t)ids[k]);
	}
	*at++ = '}';
	*at = '\0';
	free(ids);
	d->venue_ids = lit;
	venues_lookup(d);
}

/* Reads the venues with stmt: STMT_RM_VENUES for the read model's
 * build, else STMT_DIGEST_VENUES. */
static void
venues_query(struct digest *d, int stmt)
{
	d->stmt[DS_VENUES] = stmt;
	d->done[DS_VENUES] = on_venues;
	run_source(d, DS_VENUES, d->src != NULL ? d->src : d->w->pg);
}

/* The venues as the read model keeps them: a line "id TAB city TAB
 * Place" each, by id (a compact Place has no control character). NULL
 * out of memory. */
static char *
venues_encode(const struct digest *d)
{
	size_t i, len = 1;
	char *text, *at;

	for (i = 0; i < d->nvenues; i++)
		len += 24 + strlen(d->venues[i].city) +
		    strlen(d->venues[i].json);
	if ((at = text = malloc(len)) == NULL)
		return NULL;
	for (i = 0; i < d->nvenues; i++)
		at += sprintf(at, "%" PRId64 "\t%s\t%s\n", d->venues[i].id,
		    d->venues[i].city, d->venues[i].json);
	*at = '\0';
	return text;
}

static void
venues_clear(struct digest *d)
{
	while (d->nvenues > 0)
		free(d->venues[--d->nvenues].json);
	free(d->venues);
	d->venues = NULL;
}

/* The read model's venues, if they are those of this digest's ids. */
static bool
venues_take(struct digest *d, const struct cm_value *v)
{
	const char *p = v->part[0], *end = v->part[0] + v->len[0], *tab, *nl;
	size_t n = 0;

	if (v->len[1] != strlen(d->venue_ids) ||
	    memcmp(v->part[1], d->venue_ids, v->len[1]) != 0)
		return false;           /* another set of the same hash */
	for (nl = p; (nl = memchr(nl, '\n', (size_t)(end - nl))) != NULL;
	    nl++)
		n++;
	if (n > 0 && (d->venues = calloc(n, sizeof(*d->venues))) == NULL)
		return false;
	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		struct venue *ve = &d->venues[d->nvenues];
		const char *city;

		ve->id = strtoll(p, NULL, 10);
		if ((tab = memchr(p, '\t', (size_t)(nl - p))) == NULL)
			break;
		city = tab + 1;
		if ((tab = memchr(city, '\t', (size_t)(nl - city))) == NULL ||
		    (size_t)(tab - city) >= sizeof(ve->city) ||
		    (ve->json = strndup(tab + 1, (size_t)(nl - tab - 1))) ==
		    NULL)
			break;
		memcpy(ve->city, city, (size_t)(tab - city));
		ve->city[tab - city] = '\0';
		d->nvenues++;
		p = nl + 1;
	}
	if (d->nvenues != n) {
		venues_clear(d);
		return false;
	}
	d->venues_read = true;
	d->pending[DS_VENUES] = false;
	return true;
}

/* The build of the venues this digest waited for ended. */
static void
on_venues_model(void *arg, const struct cm_value *v)
{
	struct digest *d = arg;

	d->vwait = NULL;
	if (v == NULL || !venues_take(d, v))
		venues_query(d, STMT_DIGEST_VENUES);
	maybe_done(d);
}

static void
venues_lookup(struct digest *d)
{
	struct cm_value v;
	char key[48];

	snprintf(key, sizeof(key), CM_VENUES_PREFIX "%016" PRIx64 "|%zu",
	    api_cursor_query(d->venue_ids), strlen(d->venue_ids));
	switch (cm_get(d->w->model, d->ask.city, key, &v, on_venues_model, d,
	    &d->vwait, &d->vflight)) {
	case CM_STALE:
		d->stale = true;
		/* FALLTHROUGH */
	case CM_HIT:
		if (!venues_take(d, &v))
			venues_query(d, STMT_DIGEST_VENUES);
		break;
	case CM_WAIT:
		d->pending[DS_VENUES] = true;
		break;
	case CM_BUILD:
		venues_query(d, STMT_RM_VENUES);
		break;
	case CM_OFF:
		venues_query(d, STMT_DIGEST_VENUES);
		break;
	}
}

/* The venues read: kept by the read model when this digest builds them. */
static void
venues_keep(struct digest *d, const char *city_ids)
{
	struct cm_flight *fl = d->vflight;
	const char *parts[CM_PARTS] = { NULL, d->venue_ids, "" };
	char *text;

	d->vflight = NULL;
	if (fl == NULL)
		return;
	if (city_ids == NULL || (text = venues_encode(d)) == NULL) {
		cm_fail(fl);
		return;
	}
	parts[0] = text;
	cm_put(fl, parts, city_ids, 0);
	free(text);
}

static void
on_venues(void *arg, enum pg_status st, const PGresult *res, const char *msg)
{
	struct digest *d = arg;
	const char *city_ids = NULL;
	int i, n;

	if (again_on_primary(d, DS_VENUES, st))
		return;
	d->q[DS_VENUES] = NULL;
	d->pending[DS_VENUES] = false;
	if (st != PG_OK) {
		cm_fail(d->vflight);
		d->vflight = NULL;
		add_error(d, DS_VENUES, db_code(st), msg != NULL && *msg ? msg :
		    pg_status_name(st));
		maybe_done(d);
		return;
	}
	n = pg_nrows(res);
	if (n > 0 && d->stmt[DS_VENUES] == STMT_RM_VENUES)
		city_ids = pg_value(res, 0, 3);
	if (n > 0 && (d->venues = calloc((size_t)n, sizeof(*d->venues))) ==
	    NULL)
		n = -1;
	for (i = 0; i < n; i++) {
		struct venue *v = &d->venues[d->nvenues];

		if (pg_value(res, i, 0) == NULL)
			continue;       /* the read model's row of no venue */
		v->id = strtoll(pg_value(res, i, 0), NULL, 10);
		snprintf(v->city, sizeof(v->city), "%s", pg_value(res, i, 1));
		if ((v->json = strdup(pg_value(res, i, 2))) == NULL) {
			n = -1;
			break;
		}
		d->nvenues++;
	}
	if (n < 0) {
		venues_clear(d);
		cm_fail(d->vflight);
		d->vflight = NULL;
		add_error(d, DS_VENUES, "internal", "out of memory");
		maybe_done(d);
		return;
	}
	if (d->nvenues > 1)
		qsort(d->venues, d->nvenues, sizeof(*d->venues), cmp_venue);
	d->venues_read = true;
	venues_keep(d, city_ids);
	maybe_done(d);
}

static struct venue *
venue_find(struct digest *d, int64_t id)
{
	struct venue key;

	key.id = id;
	return d->venues == NULL ? NULL : bsearch(&key, d->venues,
	    d->nvenues, sizeof(*d->venues), cmp_venue);
}

/*
 * The events whose venue is in another city, or is no place, left out
 * and counted (the events rewritten only then); the venues of the rest
 * that the places do not hold, by id, into venues. -1: out of memory.
 */
static int
venues_settle(struct digest *d, struct digest_parts *parts,
    struct evbuffer *venues)
{
	json_t *kept, *ev, *pid;
	struct venue *v;
	char *text;
	size_t i;
	int rc = 0;

	if (d->ev_doc == NULL || !d->venues_read)
		return 0;
	if ((kept = json_array()) == NULL)
		return -1;
	json_array_foreach(d->ev_doc, i, ev) {
		if (json_is_integer(pid = json_object_get(ev, "place_id"))) {
			v = venue_find(d, (int64_t)json_integer_value(pid));
			if (v == NULL) {
				parts->unknown_place++;
				continue;
			}
			if (strcmp(v->city, d->ask.city) != 0) {
				parts->other_city++;
				continue;
			}
			v->used = true;
		}
		rc |= json_array_append(kept, ev);
	}
	if (rc == 0 && parts->other_city + parts->unknown_place > 0) {
		if ((text = json_dumps(kept, JSON_COMPACT)) == NULL) {
			rc = -1;
		} else {
			evbuffer_drain(d->events,
			    evbuffer_get_length(d->events));
			rc |= evbuffer_add(d->events, text, strlen(text));
			free(text);
		}
	}
	json_decref(kept);
	for (i = 0; i < d->nvenues && rc == 0; i++) {
		v = &d->venues[i];
		if (!v->used || in_places(d, v->id))
			continue;
		rc |= evbuffer_add(venues, evbuffer_get_length(venues) == 0 ?
		    "[" : ",", 1);
		rc |= evbuffer_add(venues, v->json, strlen(v->json));
	}
	if (rc == 0 && evbuffer_get_length(venues) > 0)
		rc |= evbuffer_add(venues, "]", 2);     /* and a NUL */
	return rc != 0 ? -1 : 0;
}

/* Everything is in (or given up): answer, and end. */
static void
digest_reply(struct digest *d)
{
	struct digest_parts parts = { d->events, d->parts, d->json[DS_PLACES],
	    d->json[DS_MENU], d->json[DS_OFFERS], d->errors, NULL, 0, 0 };
	struct evbuffer *b, *venues = evbuffer_new();

	stats_add(&d->w->st->digest_requests, 1);
	if (json_array_size(d->errors) > 0)
		stats_add(&d->w->st->digest_partial, 1);
	if (venues == NULL || venues_settle(d, &parts, venues) != 0) {
		http_reply_error(d->r, 503, "overloaded", "out of memory", NULL);
		if (venues != NULL)
			evbuffer_free(venues);
		digest_free(d);
		return;
	}
	if (evbuffer_get_length(venues) > 0)
		parts.venues = (const char *)evbuffer_pullup(venues, -1);
	if ((b = evbuffer_new()) == NULL || digest_doc(b, &d->ask, &parts) !=
	    0) {
		http_reply_error(d->r, 503, "overloaded", "out of memory", NULL);
	} else {
		if (d->stale)
			http_add_header(d->r, "Cache-Status", CM_STALE_STATUS);
		http_reply_buffer(d->r, 200, "application/json; charset=utf-8",
		    b);
	}
	if (b != NULL)
		evbuffer_free(b);
	evbuffer_free(venues);
	digest_free(d);
}

/* The database sources are all in: hand them to the read model. */
static void
model_settle(struct digest *d)
{
	const char *parts[CM_PARTS] = { d->json[DS_PLACES], d->json[DS_MENU],
	    d->json[DS_OFFERS] };
	struct cm_flight *fl = d->flight;

	if (fl == NULL || d->pending[DS_PLACES] || d->pending[DS_MENU] ||
	    d->pending[DS_OFFERS])
		return;
	d->flight = NULL;
	if (d->db_failed || d->city_ids == NULL)
		cm_fail(fl);
	else
		cm_put(fl, parts, d->city_ids, d->until_ms);
}

static void
maybe_done(struct digest *d)
{
	unsigned i;

	model_settle(d);
	for (i = 0; i < DS_COUNT; i++)
		if (d->pending[i])
			return;
	digest_reply(d);
}

/* The digest's own deadline: answer with what came in. */
static void
on_deadline(evutil_socket_t fd, short ev, void *arg)
{
	struct digest *d = arg;
	char msg[400], so_far[320];
	unsigned i;

	(void)fd;
	(void)ev;
	for (i = 0; i < DS_COUNT; i++) {
		if (!d->pending[i])
			continue;
		d->pending[i] = false;
		if (i == DS_EVENTS && d->ev_call != NULL) {
			upstream_progress(d->ev_call, so_far, sizeof(so_far));
			snprintf(msg, sizeof(msg), "no answer within the "
			    "request's deadline (%s)", so_far);
		} else {
			snprintf(msg, sizeof(msg), "no answer within the "
			    "request's deadline");
		}
		add_error(d, i, "deadline_exceeded", msg);
	}
	upstream_cancel(d->ev_call);
	d->ev_call = NULL;
	digest_reply(d);
}

static void
on_events(void *arg, enum upstream_status st, struct evbuffer *events,
    unsigned dropped, const char *message)
{
	struct digest *d = arg;
	char msg[128];

	d->ev_call = NULL;
	d->pending[DS_EVENTS] = false;
	if (st != UP_OK) {
		add_error(d, DS_EVENTS, upstream_status_code(st), message);
	} else if (evbuffer_add_buffer(d->events, events) != 0) {
		add_error(d, DS_EVENTS, "internal", "out of memory");
	} else {
		if (dropped > 0) {
			snprintf(msg, sizeof(msg), "%u events with a missing or "
			    "invalid field were left out", dropped);
			add_error(d, DS_EVENTS, "invalid_events", msg);
		}
		venues_start(d);
	}
	maybe_done(d);
}

/* A source's one-cell JSON answer. */
static void
take_json(struct digest *d, enum digest_source s, enum pg_status st,
    const PGresult *res, const char *message)
{
	const char *v;

	d->q[s] = NULL;
	d->pending[s] = false;
	if (st != PG_OK) {
		add_error(d, s, db_code(st), message != NULL && *message ?
		    message : pg_status_name(st));
		return;
	}
	if (pg_nrows(res) > 0 && (v = pg_value(res, 0, 0)) != NULL &&
	    (d->json[s] = strdup(v)) == NULL)
		add_error(d, s, "internal", "out of memory");
}

static void
on_menu(void *arg, enum pg_status st, const PGresult *res, const char *msg)
{
	if (again_on_primary(arg, DS_MENU, st))
		return;
	take_json(arg, DS_MENU, st, res, msg);
	maybe_done(arg);
}

static void
on_offers(void *arg, enum pg_status st, const PGresult *res, const char *msg)
{
	struct digest *d = arg;
	const char *until;

	if (again_on_primary(d, DS_OFFERS, st))
		return;
	take_json(d, DS_OFFERS, st, res, msg);
	if (st == PG_OK && d->flight != NULL && pg_nrows(res) > 0 &&
	    (until = pg_value(res, 0, 1)) != NULL)
		d->until_ms = strtoll(until, NULL, 10);
	maybe_done(d);
}

/* Runs database source s (its statement and callback in d) on p. */
static void
run_source(struct digest *d, enum digest_source s, struct pg_pool *p)
{
	const char *places[3] = { d->ask.city, d->ask.categories[0] != '\0' ?
	    d->ask.categories : NULL, d->ask.limit };
	const char *ids[2] = { s == DS_VENUES ? d->venue_ids : d->ids,
	    d->ask.city };
	int n = s == DS_PLACES ? 3 : d->stmt[s] == STMT_RM_VENUES ? 2 : 1;
	enum pg_status st;

	d->pending[s] = true;
	d->q[s] = pg_query_at(p, p == d->src ? d->min_lsn : 0, d->stmt[s], n,
	    s == DS_PLACES ? places : ids, d->done[s], d, &st);
	if (d->q[s] == NULL) {
		d->pending[s] = false;
		add_error(d, s, db_code(st), pg_status_name(st));
	}
}

static void
start_query(struct digest *d, enum digest_source s, int stmt,
    pg_done_fn done)
{
	d->stmt[s] = stmt;
	d->done[s] = done;
	run_source(d, s, d->src);
}

/* A source whose replica was lost under it runs again on the primary;
 * true when it did (the answer is yet to come). */
static bool
again_on_primary(struct digest *d, enum digest_source s, enum pg_status st)
{
	if (st != PG_DOWN || d->src == d->w->pg || d->again[s])
		return false;
	d->again[s] = true;
	d->q[s] = NULL;
	stats_add(&d->w->st->reads_by[0], 1);
	run_source(d, s, d->w->pg);
	return d->q[s] != NULL;
}

static void
on_places(void *arg, enum pg_status st, const PGresult *res, const char *msg)
{
	struct digest *d = arg;
	const char *ids;

	if (again_on_primary(d, DS_PLACES, st))
		return;
	if (st == PG_OK && pg_nrows(res) == 0) {
		d->q[DS_PLACES] = NULL;
		http_reply_error(d->r, 404, "not_found", "no such city", "city");
		digest_free(d);
		return;
	}
	take_json(d, DS_PLACES, st, res, msg);
	if (d->json[DS_PLACES] != NULL)
		note_place_ids(d, d->json[DS_PLACES], strlen(d->json[DS_PLACES]));
	if (st == PG_OK && d->flight != NULL && (ids = pg_value(res, 0, 2)) !=
	    NULL && (d->city_ids = strdup(ids)) == NULL)
		d->db_failed = true;
	if (st == PG_OK && (ids = pg_value(res, 0, 1)) != NULL &&
	    strcmp(ids, "{}") != 0) {
		if ((d->ids = strdup(ids)) == NULL) {
			add_error(d, DS_MENU, "internal", "out of memory");
		} else {
			start_query(d, DS_MENU, STMT_DIGEST_MENU, on_menu);
			start_query(d, DS_OFFERS, d->flight != NULL ?
			    STMT_RM_OFFERS : STMT_DIGEST_OFFERS, on_offers);
		}
	}
	maybe_done(d);
}

static uint64_t
digest_budget_ms(const struct worker *w)
{
	uint64_t all = w->cfg->request_deadline_ms;
	uint64_t margin = all / 10 < DIGEST_MARGIN_MS ? all / 10 :
	    DIGEST_MARGIN_MS;

	return all - margin;
}

static void
start_places(struct digest *d)
{
	start_query(d, DS_PLACES, d->flight != NULL ? STMT_RM_PLACES :
	    STMT_DIGEST_PLACES, on_places);
}

/* The read model's fragments as this digest's own, framed as the answer
 * has them (one copy: the model may drop them before the answer). */
static void
take_value(struct digest *d, const struct cm_value *v)
{
	static const char *const keys[CM_PARTS] = { ",\"places\":",
	    ",\"menu_items\":", ",\"offers\":" };
	static const enum digest_source src[CM_PARTS] = { DS_PLACES, DS_MENU,
	    DS_OFFERS };
	unsigned i;
	int rc = 0;

	for (i = 0; i < CM_PARTS; i++) {
		rc |= evbuffer_add(d->parts, keys[i], strlen(keys[i]));
		rc |= evbuffer_add(d->parts, v->part[i], v->len[i]);
	}
	note_place_ids(d, v->part[0], v->len[0]);
	if (rc != 0) {
		evbuffer_drain(d->parts, evbuffer_get_length(d->parts));
		for (i = 0; i < CM_PARTS; i++)
			add_error(d, src[i], "internal", "out of memory");
	}
	d->pending[DS_PLACES] = false;
}

/* The build this digest waited for ended; without a value (it failed or
 * its city was dropped), read the database itself. */
static void
on_model(void *arg, const struct cm_value *v)
{
	struct digest *d = arg;

	d->wait = NULL;
	if (v != NULL)
		take_value(d, v);
	else
		start_places(d);
	maybe_done(d);
}

static void
start_db(struct digest *d)
{
	struct cm_value v;
	char key[sizeof(d->ask.categories) + sizeof(d->ask.limit) + 2];

	d->src = worker_fresh_pool(d->w, &d->min_lsn);
	snprintf(key, sizeof(key), "%s|%s", d->ask.categories, d->ask.limit);
	switch (cm_get(d->w->model, d->ask.city, key, &v, on_model, d, &d->wait,
	    &d->flight)) {
	case CM_STALE:
		d->stale = true;
		/* FALLTHROUGH */
	case CM_HIT:
		take_value(d, &v);
		break;
	case CM_WAIT:
		d->pending[DS_PLACES] = true;
		break;
	case CM_BUILD:
	case CM_OFF:
		start_places(d);
		break;
	}
}

static bool
digest_start(struct digest *d)
{
	uint64_t budget = digest_budget_ms(d->w);
	struct timeval tv = util_tv(budget);

	if ((d->timer = evtimer_new(d->w->base, on_deadline, d)) == NULL ||
	    (d->errors = json_array()) == NULL ||
	    (d->events = evbuffer_new()) == NULL ||
	    (d->parts = evbuffer_new()) == NULL)
		return false;
	evtimer_add(d->timer, &tv);
	d->pending[DS_EVENTS] = true;
	d->ev_call = upstream_events(d->w->upstream, d->ask.date, d->ask.city,
	    util_now_ms() + budget, on_events, d);
	if (d->ev_call == NULL) {
		d->pending[DS_EVENTS] = false;
		add_error(d, DS_EVENTS, "internal", "out of memory");
	}
	start_db(d);
	return true;
}

void
api_digest(struct http_req *r)
{
	struct digest *d;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		http_reply_error(r, 503, "overloaded", "out of memory", NULL);
		return;
	}
	d->r = r;
	d->w = http_req_worker(r);
	if (!parse_body(d)) {
		digest_free(d);
		return;
	}
	if (!digest_start(d)) {
		http_reply_error(r, 503, "overloaded", "out of memory", NULL);
		digest_free(d);
		return;
	}
	http_req_defer(r, digest_cancel, d);
	maybe_done(d);      /* both sources may have failed at once */
}
