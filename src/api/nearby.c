/*
 * nearby.c: GET /v1/nearby. The request is checked here, ranked by the
 * ranker process (one framed JSON call over the worker's connection to
 * it), and the places it picked are answered in its order, each one's
 * card (its row as JSON) from the read model or else read from
 * PostgreSQL, followed by the distance, score and reasons exactly as the
 * ranker wrote them (common/nearby_wire.h): the loop parses no JSON and
 * formats no number for a ranked answer.
 *
 * When the ranker is down, busy, late or has no snapshot yet, the answer
 * comes at once from the database instead, ranked by distance alone, with
 * "degraded": true: the category, cuisine, price and rating filters still
 * apply there; free text and opening hours need the ranker. That query
 * costs the database more than the ranked path does, so a worker runs at
 * most half its pool's worth of them at once (nearby_fallback_max); past
 * that, the answer is 503 overloaded. Without this cap a ranker that falls
 * behind would turn every request into such a query, and the database's
 * load would starve the ranker further.
 *
 * The answer carries the total the ranker counted (exact, or a bound
 * when it stopped counting) and, in each result's bytes from the ranker,
 * whether the place is open now and when that changes. The cursor is an
 * offset bound to the question (cursor.c, query_of()); 1,000 results at
 * most, the page that reaches the 1,000th cut there.
 */
#include "api/api.h"
#include "runtime/citymodel.h"
#include "runtime/rankc.h"
#include "worker/worker.h"
#include "common/nearby_wire.h"
#include "common/stats.h"
#include "common/words.h"
#include "common/wire.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

struct nearby {
	struct http_req *r;
	struct worker *w;
	struct rankc_call *call;
	bool fallback;              /* counted in app_state->nearby_fallbacks */
	/* the question */
	double lat, lon, radius;
	char cats[600], cuis[600], prefer[600];
	long min_price, max_price;
	char min_rating[32];
	long limit, offset;
	uint64_t query;             /* api_cursor_query() of the question */
	/* the ranker's answer, and each result's place card */
	char *answer;               /* a copy, while cards are read */
	long total;
	bool total_exact;           /* else total is a lower bound */
	struct nearby_card *card;   /* one per result */
	size_t ncards;
	uint64_t epoch;             /* of the read model, before the read */
};

struct nearby_card {
	struct nw_result res;       /* id, and the bytes after the place */
	const char *json;           /* NULL: not found (deleted since) */
	size_t len;
	char *own;                  /* json's copy, when it is one */
	bool keep;                  /* read: hand it to the read model */
};

static void
nearby_free(void *arg)
{
	struct nearby *n = arg;

	if (n->fallback)
		n->w->app_state->nearby_fallbacks--;
	free(n->answer);
	for (size_t i = 0; i < n->ncards; i++)
		free(n->card[i].own);
	free(n->card);
	free(n);
}

/* ---- the answer ------------------------------------------------------------ */

static void
reply_open(FILE *f)
{
	fputs("{\"results\":[", f);
}

/*
 * The end of an answer after its results (shown of them, of total, or
 * at least total when not exact; past NW_TOTAL_CAP, at least that): the
 * total, the cursor of the next page, if any, and whether it is
 * degraded; false when the cursor could not be encoded (cursor.c), which
 * cannot happen: next is within [1, NEARBY_MAX_RESULTS) and
 * API_CURSOR_MAX holds it.
 */
static bool
reply_tail(const struct nearby *n, long shown, long total, bool exact,
    bool degraded, char out[200])
{
	char cursor[API_CURSOR_MAX];
	long next = n->offset + shown;

	if (shown == n->limit && next < total && next < NEARBY_MAX_RESULTS) {
		if (!api_nearby_cursor_encode(n->query, next, cursor,
		    sizeof(cursor)))
			return false;
	} else
		cursor[0] = '\0';
	if (total > NW_TOTAL_CAP) {
		total = NW_TOTAL_CAP;
		exact = false;
	}
	snprintf(out, 200, "],\"total\":%ld,\"total_exact\":%s,\"next\":%s%s%s,"
	    "\"degraded\":%s}", total, exact ? "true" : "false",
	    cursor[0] ? "\"" : "",
	    cursor[0] ? cursor : "null", cursor[0] ? "\"" : "",
	    degraded ? "true" : "false");
	return true;
}

/* The 500 of an answer whose tail could not be encoded. */
static void
reply_no_tail(struct http_req *r)
{
	http_reply_error(r, 500, "internal", "the next page's cursor could "
	    "not be encoded", NULL);
}

static bool
reply_close(struct nearby *n, FILE *f, long shown, long total, bool degraded)
{
	char tail[200];

	if (!reply_tail(n, shown, total, true, degraded, tail))
		return false;
	fputs(tail, f);
	return true;
}

/* Closes the memstream f (which fills *buf and *len) and answers it. */
static void
send_buffer(struct http_req *r, FILE *f, char **buf, size_t *len)
{
	if (fclose(f) != 0 || *buf == NULL) {
		free(*buf);
		http_reply_error(r, 503, "overloaded", "out of memory", NULL);
		return;
	}
	http_reply(r, 200, "application/json; charset=utf-8", *buf, *len);
	free(*buf);
}

/* The places the ranker picked, in its order, each with its card. */
static void
reply_ranked(struct nearby *n)
{
	struct evbuffer *b;
	char tail[200];
	long shown = 0;
	size_t i;
	int rc = 0;

	if ((b = evbuffer_new()) == NULL) {
		http_reply_error(n->r, 503, "overloaded", "out of memory", NULL);
		return;
	}
	rc |= evbuffer_add(b, "{\"results\":[", 12);
	for (i = 0; i < n->ncards; i++) {
		const struct nearby_card *c = &n->card[i];

		if (c->json == NULL)
			continue;       /* deleted since the snapshot */
		rc |= evbuffer_add(b, shown > 0 ? ",{\"place\":" :
		    "{\"place\":", shown > 0 ? 10 : 9);
		rc |= evbuffer_add(b, c->json, c->len);
		rc |= evbuffer_add(b, c->res.tail, c->res.tlen);
		shown++;
	}
	if (!reply_tail(n, (long)n->ncards, n->total, n->total_exact, false,
	    tail)) {
		evbuffer_free(b);
		reply_no_tail(n->r);
		return;
	}
	rc |= evbuffer_add(b, tail, strlen(tail));
	if (rc != 0)
		http_reply_error(n->r, 503, "overloaded", "out of memory", NULL);
	else
		http_reply_buffer(n->r, 200, "application/json; charset=utf-8",
		    b);
	evbuffer_free(b);
}

/* The cards the read model did not hold, read from the database. */
static void
cards_read(struct api_job *job, const PGresult *res)
{
	struct nearby *n = job->ctx;
	int rows = pg_nrows(res), i;
	size_t k;

	for (i = 0; i < rows; i++) {
		int64_t id = strtoll(pg_value(res, i, 0), NULL, 10);
		const char *json = pg_value(res, i, 1);

		for (k = 0; k < n->ncards; k++) {
			struct nearby_card *c = &n->card[k];

			if (c->res.id != id || c->json != NULL)
				continue;
			c->json = json;         /* res outlives the reply */
			c->len = strlen(json);
			if (c->keep)
				cm_card_put(n->w->model, id, c->json, c->len,
				    n->epoch);
		}
	}
	reply_ranked(n);
}

/* The distance-only answer from the database: its rows (none with a
 * NULL place: an empty page), each with the total matching. */
static void
degraded_result(struct api_job *job, const PGresult *res)
{
	struct nearby *n = job->ctx;
	int rows = pg_nrows(res), i;
	long shown = 0, total = 0;
	size_t len = 0;
	char *buf = NULL;
	FILE *f;

	if ((f = open_memstream(&buf, &len)) == NULL) {
		http_reply_error(job->r, 503, "overloaded", "out of memory", NULL);
		return;
	}
	reply_open(f);
	for (i = 0; i < rows; i++) {
		double d;

		total = strtol(pg_value(res, i, 2), NULL, 10);
		if (pg_value(res, i, 0) == NULL)
			continue;
		d = strtod(pg_value(res, i, 1), NULL);
		fprintf(f, "%s{\"place\":%s,\"distance_m\":%.1f,\"score\":%.4f,"
		    "\"matched\":[],\"is_open_now\":null,\"opens_at\":null,"
		    "\"closes_at\":null}", shown++ > 0 ? "," : "",
		    pg_value(res, i, 0), d,
		    n->radius > 0 ? 1.0 - d / n->radius : 0.0);
	}
	if (!reply_close(n, f, shown, total, true)) {
		fclose(f);
		free(buf);
		reply_no_tail(job->r);
		return;
	}
	send_buffer(job->r, f, &buf, &len);
}

/* Distance-only queries a worker runs at once: half its pool. */
static unsigned
nearby_fallback_max(const struct worker *w)
{
	unsigned max = (unsigned)w->cfg->db_pool_size / 2;

	return max > 0 ? max : 1;
}

/* Why the ranker did not rank it, as /metrics counts it. */
static enum stats_fallback
fallback_cause(enum rankc_status st)
{
	switch (st) {
	case RANKC_DOWN:
		return SF_DOWN;
	case RANKC_BUSY:
		return SF_BUSY;
	case RANKC_TIMEOUT:
		return SF_TIMEOUT;
	default:
		return SF_ERROR;
	}
}

static void
degrade(struct nearby *n, enum rankc_status why)
{
	char lat[32], lon[32], rad[32], minp[8], maxp[8], off[16], lim[16];
	enum stats_fallback cause = fallback_cause(why);
	const char *p[10];

	if (n->w->app_state->nearby_fallbacks >= nearby_fallback_max(n->w)) {
		stats_add(&n->w->st->nearby_shed, 1);
		stats_add(&n->w->st->nearby_fallback[cause][SO_SHED], 1);
		http_add_header(n->r, "Retry-After", "1");
		http_reply_error(n->r, 503, "overloaded", "ranking is "
		    "overloaded and so is its fallback; retry later", NULL);
		nearby_free(n);
		return;
	}
	n->fallback = true;
	n->w->app_state->nearby_fallbacks++;
	stats_add(&n->w->st->nearby_degraded, 1);
	stats_add(&n->w->st->nearby_fallback[cause][SO_DEGRADED], 1);
	snprintf(lat, sizeof(lat), "%.7f", n->lat);
	snprintf(lon, sizeof(lon), "%.7f", n->lon);
	snprintf(rad, sizeof(rad), "%.1f", n->radius);
	snprintf(minp, sizeof(minp), "%ld", n->min_price);
	snprintf(maxp, sizeof(maxp), "%ld", n->max_price);
	snprintf(off, sizeof(off), "%ld", n->offset);
	snprintf(lim, sizeof(lim), "%ld", n->limit);
	p[0] = lat;
	p[1] = lon;
	p[2] = rad;
	p[3] = n->cats[0] ? n->cats : NULL;
	p[4] = n->cuis[0] ? n->cuis : NULL;
	p[5] = n->min_price > 0 ? minp : NULL;
	p[6] = n->max_price > 0 ? maxp : NULL;
	p[7] = n->min_rating[0] ? n->min_rating : NULL;
	p[8] = off;
	p[9] = lim;
	api_read(n->r, STMT_NEARBY_DEGRADED, 10, p, degraded_result, 0, n,
	    nearby_free);
}

/* ---- the ranker's answer ------------------------------------------------------ */

/*
 * The cards of the results: from the read model, or else listed in ids
 * ("{1,2,3}") to be read; how many are to be read. A held card is used
 * where it is, unless some are to be read (the model may change
 * meanwhile): then it is copied. -1 on ENOMEM.
 */
static int
cards_of(struct nearby *n, struct evbuffer *ids, size_t *missing)
{
	struct cm_value v;
	size_t i;

	*missing = 0;
	n->epoch = cm_epoch(n->w->model);
	for (i = 0; i < n->ncards; i++) {
		struct nearby_card *c = &n->card[i];

		switch (cm_card(n->w->model, c->res.id, &v)) {
		case CM_HIT:
			c->json = v.part[0];
			c->len = v.len[0];
			continue;
		case CM_BUILD:
			c->keep = true;
			break;
		default:
			break;
		}
		if (evbuffer_add_printf(ids, "%s%" PRId64, (*missing)++ > 0 ?
		    "," : "{", c->res.id) < 0)
			return -1;
	}
	if (*missing == 0)
		return 0;
	if (evbuffer_add(ids, "}", 2) != 0)     /* with its NUL */
		return -1;
	for (i = 0; i < n->ncards; i++) {
		struct nearby_card *c = &n->card[i];

		if (c->json == NULL)
			continue;
		if ((c->own = malloc(c->len + 1)) == NULL)
			return -1;
		memcpy(c->own, c->json, c->len);
		c->own[c->len] = '\0';
		c->json = c->own;
	}
	return 0;
}

/* Keeps the tails of the results in a copy of the answer, which the
 * ranker client frees once the callback returns. */
static int
keep_answer(struct nearby *n, const char *payload, size_t len)
{
	size_t i;

	if ((n->answer = malloc(len + 1)) == NULL)
		return -1;
	memcpy(n->answer, payload, len);
	for (i = 0; i < n->ncards; i++)
		n->card[i].res.tail = n->answer + (n->card[i].res.tail - payload);
	return 0;
}

static void
ranked(void *arg, enum rankc_status st, const char *payload, size_t len)
{
	struct nearby *n = arg;
	struct nw_result res[101];
	struct evbuffer *ids;
	const char *idv;
	size_t i, nres, missing;

	n->call = NULL;
	if (st != RANKC_OK) {
		degrade(n, st);
		return;
	}
	if ((size_t)n->limit >= sizeof(res) / sizeof(res[0]) ||
	    nw_scan(payload, len, &n->total, &n->total_exact, res,
	    (size_t)n->limit, &nres) != 0) {
		degrade(n, RANKC_ERROR);
		return;
	}
	if ((n->card = calloc(nres + 1, sizeof(*n->card))) == NULL ||
	    (ids = evbuffer_new()) == NULL) {
		degrade(n, RANKC_ERROR);
		return;
	}
	n->ncards = nres;
	for (i = 0; i < nres; i++)
		n->card[i].res = res[i];
	if (cards_of(n, ids, &missing) != 0 || (missing > 0 &&
	    (keep_answer(n, payload, len) != 0 ||
	    (idv = (const char *)evbuffer_pullup(ids, -1)) == NULL))) {
		evbuffer_free(ids);
		degrade(n, RANKC_ERROR);
		return;
	}
	if (missing == 0) {
		evbuffer_free(ids);
		reply_ranked(n);
		nearby_free(n);
		return;
	}
	api_read(n->r, STMT_PLACES_BY_ID, 1, &idv, cards_read, 0, n,
	    nearby_free);
	evbuffer_free(ids);
}

static void
nearby_cancel(void *arg)
{
	struct nearby *n = arg;

	rankc_call_cancel(n->call);
	nearby_free(n);
}

/* ---- the question --------------------------------------------------------------- */

/* Day of week (0 = Monday) of a civil date, days_from_civil style. */
static int
weekday(long y, long m, long d)
{
	long era, yoe, doy, doe, days;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	days = era * 146097 + doe - 719468;         /* 1970-01-01 = 0 */
	return (int)(((days % 7) + 7 + 3) % 7);     /* a Thursday */
}

/*
 * open_at=YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS, a wall time in each
 * place's city; hours have minutes, so the seconds are checked and
 * dropped (21:29:59 asks about 21:29).
 */
static bool
parse_open_at(const char *v, int *day, int *minute)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	size_t len = strlen(v);
	int y, mo, d, h, mi, sec = 0, n = 0;

	if ((len != 16 && len != 19) || sscanf(v, "%4d-%2d-%2dT%2d:%2d%n",
	    &y, &mo, &d, &h, &mi, &n) != 5 || n != 16)
		return false;
	if (len == 19 && (v[16] != ':' || sscanf(v + 17, "%2d%n", &sec,
	    &n) != 1 || n != 2))
		return false;
	for (n = 0; n < (int)len; n++)  /* no signs nor spaces in a field */
		if (strchr("-T:", v[n]) == NULL && (v[n] < '0' || v[n] > '9'))
			return false;
	if (y < 1970 || y > 2100 || mo < 1 || mo > 12 || d < 1 ||
	    d > mdays[mo - 1] || (mo == 2 && d == 29 && !(y % 4 == 0 &&
	    (y % 100 != 0 || y % 400 == 0))) || h < 0 || h > 23 || mi < 0 ||
	    mi > 59 || sec < 0 || sec > 59)
		return false;
	*day = weekday(y, mo, d);
	*minute = h * 60 + mi;
	return true;
}

/* A checked comma list ("{a,b}", as api_param_list gives it: words of
 * a-z, 0-9 and _) as a JSON array. */
static void
list_json(struct nw_buf *b, const char *pglist)
{
	const char *p;

	nw_put(b, "[", 1);
	if (pglist[0] != '\0')
		for (p = pglist + 1; *p != '\0' && *p != '}'; p++) {
			if (p == pglist + 1 || p[-1] == ',')
				nw_put(b, "\"", 1);
			if (*p == ',')
				nw_put(b, "\",", 2);
			else
				nw_put(b, p, 1);
			if (p[1] == '}')
				nw_put(b, "\"", 1);
		}
	nw_put(b, "]", 1);
}

static bool
bad_arg(struct http_req *r, const char *field, const char *msg)
{
	http_reply_error(r, 400, "invalid_argument", msg, field);
	return false;
}

/* What the ranker is asked beside what struct nearby keeps. */
struct ask {
	const char *sort;
	char q[256];                /* checked UTF-8, no control characters */
	bool has_rating;
	double minr;
	enum { OPEN_ANY, OPEN_NOW, OPEN_AT } open;
	int day, minute;            /* with OPEN_AT */
};

/* The ranker's request (a JSON object, see ranker/nearby.c), written
 * without a JSON library: every string in it was checked already. */
static char *
ask_text(const struct nearby *n, const struct ask *a, size_t *len)
{
	struct nw_buf b;

	memset(&b, 0, sizeof(b));
	nw_printf(&b, "{\"lat\":%.17g,\"lon\":%.17g,\"radius_m\":%.17g,"
	    "\"categories\":", n->lat, n->lon, n->radius);
	list_json(&b, n->cats);
	nw_put(&b, ",\"cuisines\":", 12);
	list_json(&b, n->cuis);
	nw_put(&b, ",\"cuisine_required\":true,\"prefer_cuisines\":", 43);
	list_json(&b, n->prefer);
	nw_printf(&b, ",\"min_price\":%ld,\"max_price\":%ld,\"min_rating\":",
	    n->min_price, n->max_price);
	if (a->has_rating)
		nw_printf(&b, "%.17g", a->minr);
	else
		nw_put(&b, "null", 4);
	nw_put(&b, ",\"q\":", 5);
	if (a->q[0] != '\0')
		nw_string(&b, a->q);
	else
		nw_put(&b, "null", 4);
	nw_printf(&b, ",\"sort\":\"%s\",\"offset\":%ld,\"limit\":%ld,"
	    "\"now\":%lld,\"open\":", a->sort, n->offset, n->limit,
	    (long long)time(NULL));
	if (a->open == OPEN_AT)
		nw_printf(&b, "{\"day\":%d,\"minute\":%d}}", a->day,
		    a->minute);
	else
		nw_printf(&b, "%s}", a->open == OPEN_NOW ? "\"now\"" : "null");
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

/*
 * What the cursors of n's answers are bound to: every parameter that
 * selects or orders the results, as parsed (so that lat=55.75 and
 * lat=55.750 are one query), q last, as only it may hold a '|'; not the
 * page size, which a client may change between pages.
 */
/* A number's bits as 16 hex digits (no printf: it is per request);
 * -0 and 0 are one number. */
static char *
put_bits(char *p, double v)
{
	static const char hex[] = "0123456789abcdef";
	uint64_t u;
	int i;

	v += 0.0;
	memcpy(&u, &v, sizeof(u));
	for (i = 15; i >= 0; i--, u >>= 4)
		p[i] = hex[u & 15];
	p[16] = '|';
	return p + 17;
}

static uint64_t
query_of(const struct nearby *n, const struct ask *a)
{
	char canon[4096], *p = canon;

	memcpy(p, "nearby|", 7);
	p = put_bits(p + 7, n->lat);
	p = put_bits(p, n->lon);
	p = put_bits(p, n->radius);
	p = put_bits(p, (double)n->min_price);
	p = put_bits(p, (double)n->max_price);
	p = put_bits(p, a->has_rating ? a->minr : -1.0);
	p = put_bits(p, a->open == OPEN_AT ? a->day * 1440.0 + a->minute :
	    a->open == OPEN_NOW ? -1.0 : -2.0);
	snprintf(p, sizeof(canon) - (size_t)(p - canon), "%s|%s|%s|%s|%s",
	    n->cats, n->cuis, n->prefer, a->sort, a->q);
	return api_cursor_query(canon);
}

/*
 * after, once everything else is parsed: a cursor of this very query.
 * The last page of the window is cut to end at NEARBY_MAX_RESULTS, so
 * every cursor given out is taken back whatever the page size.
 */
static bool
parse_after(struct http_req *r, struct nearby *n, const struct ask *a)
{
	const char *v = http_req_query(r, "after");
	enum api_cursor why;

	n->query = query_of(n, a);
	if (v == NULL)
		return true;
	if ((why = api_nearby_cursor_decode(v, n->query, &n->offset)) !=
	    API_CURSOR_OK) {
		api_cursor_refuse(r, why);
		return false;
	}
	if (n->offset + n->limit > NEARBY_MAX_RESULTS)
		n->limit = NEARBY_MAX_RESULTS - n->offset;
	return true;
}

/* The query parameters into n and a; false = answered. */
static bool
parse(struct http_req *r, struct nearby *n, struct ask *a)
{
	const char *v;
	char at[40];
	bool has;

	if (!api_param_coord(r, "lat", -90, 90, true, &n->lat, &has) ||
	    !api_param_coord(r, "lon", -180, 180, true, &n->lon, &has) ||
	    !api_param_coord(r, "radius_m", 1, 50000, false, &n->radius, &has))
		return false;
	if (!has)
		n->radius = 2000;
	if (!api_param_list(r, "category", n->cats, sizeof(n->cats)) ||
	    !api_param_list(r, "cuisine", n->cuis, sizeof(n->cuis)) ||
	    !api_param_list(r, "prefer_cuisine", n->prefer,
	    sizeof(n->prefer)) ||
	    !api_param_int(r, "min_price", 1, 4, 0, &n->min_price) ||
	    !api_param_int(r, "max_price", 1, 4, 0, &n->max_price) ||
	    !api_param_number(r, "min_rating", 0, 5, n->min_rating,
	    sizeof(n->min_rating)) ||
	    !api_param_text(r, "q", 200, a->q, sizeof(a->q)) ||
	    !api_param_int(r, "limit", 1, 100, 10, &n->limit))
		return false;
	if (a->q[0] != '\0' && !words_any(a->q))
		return bad_arg(r, "q", "q has no word to search for: a word "
		    "is two or more letters or digits in a row");
	if (n->min_price > 0 && n->max_price > 0 && n->min_price > n->max_price)
		return bad_arg(r, "min_price", "min_price must not be above "
		    "max_price");
	a->sort = "best";
	a->has_rating = n->min_rating[0] != '\0';
	if (a->has_rating)
		a->minr = strtod(n->min_rating, NULL);
	if ((v = http_req_query(r, "sort")) != NULL) {
		if (strcmp(v, "best") != 0 && strcmp(v, "distance") != 0 &&
		    strcmp(v, "rating") != 0)
			return bad_arg(r, "sort", "sort must be best, distance "
			    "or rating");
		a->sort = v;
	}
	v = http_req_query(r, "open_now");
	if (v != NULL && strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
		return bad_arg(r, "open_now", "open_now must be true or false");
	if (!api_param_text(r, "open_at", 32, at, sizeof(at)))
		return false;
	if (at[0] != '\0') {
		if (v != NULL && strcmp(v, "true") == 0)
			return bad_arg(r, "open_at", "give open_now or open_at, "
			    "not both");
		if (!parse_open_at(at, &a->day, &a->minute))
			return bad_arg(r, "open_at", "open_at must be a local "
			    "date and time, e.g. 2026-11-28T21:30 or "
			    "2026-11-28T21:30:00");
		a->open = OPEN_AT;
	} else {
		a->open = v != NULL && strcmp(v, "true") == 0 ? OPEN_NOW :
		    OPEN_ANY;
	}
	return parse_after(r, n, a);
}

void
api_nearby(struct http_req *r)
{
	struct worker *w = http_req_worker(r);
	struct nearby *n;
	struct ask a;
	enum rankc_status why = RANKC_ERROR;
	char *text;
	size_t len;

	if ((n = calloc(1, sizeof(*n))) == NULL) {
		http_reply_error(r, 503, "overloaded", "out of memory", NULL);
		return;
	}
	n->r = r;
	n->w = w;
	memset(&a, 0, sizeof(a));
	if (!parse(r, n, &a)) {
		nearby_free(n);
		return;
	}
	if ((text = ask_text(n, &a, &len)) != NULL)
		n->call = rankc_call(w->rankc, WIRE_NEARBY, text, len,
		    ranked, n, &why);
	free(text);
	if (n->call == NULL) {
		degrade(n, why);        /* the ranker is away: answer now */
		return;
	}
	http_req_defer(r, nearby_cancel, n);
}
