/*
 * fault.c: the endpoints of placesd-events and its fault modes.
 *
 * GET /events/{date}?city=... answers the generated events of the day,
 * unless a fault applies. The fault of a request comes from /_control
 * (for its next N requests, or until changed), else from the request's
 * own query (fault=, delay_ms=, size=), else from -f with probability -r
 * (a PRNG seeded with -s). Invalid /events requests (bad date or city,
 * bad query, wrong method) get 400/405 and no fault; they still count.
 *
 * Every answer waits -d ms first, plus the fault's delay_ms (default 1000
 * for delay, 0 for the others); for trickle, delay_ms is the pause between
 * its 16-byte pieces (default 100) instead. How each mode misbehaves is
 * in plan_run() and the man page, section FAULTS.
 */
#include "events/fault.h"
#include "events/gen.h"
#include "events/server.h"
#include "common/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#define DELAY_DEFAULT_MS        1000
#define TRICKLE_DEFAULT_MS      100
#define TRICKLE_PIECE           16
#define HUGE_DEFAULT_SIZE       (64ULL * 1024 * 1024)
#define HUGE_HIGHWAT            (256 * 1024)    /* queued at most */
#define BADJSON_VARIANTS        5
#define WRONGSHAPE_VARIANTS     4
#define TIMES_MAX               1000000000ULL
#define JSON_FLAGS              (JSON_COMPACT | JSON_PRESERVE_ORDER)

static const char *const mode_names[FAULT_NMODES] = {
	"none", "delay", "500", "503", "badjson", "wrongshape", "partial",
	"short", "reset", "hang", "trickle", "huge",
};

/* A fault as a source gives it; the has_ flags say what it set. */
struct fault_spec {
	bool set;
	enum fault_mode mode;
	bool has_delay, has_size;
	uint64_t delay_ms, size;
};

struct faults {
	struct fault_opts o;
	struct server *srv;
	struct fault_spec ctl;          /* from /_control, if set */
	uint64_t remaining;             /* its requests left; 0: no limit */
	uint64_t rng;                   /* draws for -r */
	uint64_t requests;              /* /events requests received */
	uint64_t by_fault[FAULT_NMODES];
	uint64_t badjson_next, wrongshape_next;
};

/* One /events request: what to answer (the connection's task). */
struct plan {
	struct faults *fs;
	struct gen_key key;
	enum fault_mode mode;
	uint64_t delay_ms;              /* the fault's own (trickle: pause) */
	uint64_t size;                  /* huge */
	unsigned variant;               /* badjson, wrongshape */
	int status;                     /* 400/405 instead of events, or 0 */
	const char *allow;              /* the 405's Allow header */
	char error[160];
	struct evbuffer *body;          /* trickle: what is still to send */
	uint64_t sent;                  /* huge: bytes queued so far */
	uint64_t next;                  /* huge: the next event */
};

/* ---- modes ----------------------------------------------------------- */

int
fault_parse_mode(const char *s, enum fault_mode *mode)
{
	int i;

	for (i = 0; i < FAULT_NMODES; i++) {
		if (strcmp(s, mode_names[i]) == 0) {
			*mode = (enum fault_mode)i;
			return 0;
		}
	}
	return -1;
}

const char *
fault_name(enum fault_mode mode)
{
	return (unsigned)mode < FAULT_NMODES ? mode_names[mode] : "?";
}

const char *
fault_names(void)
{
	return "none, delay, 500, 503, badjson, wrongshape, partial, short, "
	    "reset, hang, trickle, huge";
}

struct faults *
faults_new(const struct fault_opts *o)
{
	struct faults *fs;

	if ((fs = calloc(1, sizeof(*fs))) == NULL)
		return NULL;
	fs->o = *o;
	fs->rng = o->seed ^ 0x5eed5eed5eed5eedULL;
	return fs;
}

void
faults_set_server(struct faults *fs, struct server *srv)
{
	fs->srv = srv;
}

void
faults_free(struct faults *fs)
{
	free(fs);
}

/* ---- parameters ------------------------------------------------------ */

static int
parse_delay(const char *v, uint64_t *ms)
{
	char err[64];

	return util_parse_uint(v, ms, err, sizeof(err)) != 0 ||
	    *ms > FAULT_DELAY_MAX_MS ? -1 : 0;
}

static int
parse_size(const char *v, uint64_t *size)
{
	char err[64];

	return util_parse_size(v, size, err, sizeof(err)) != 0 ||
	    *size < FAULT_SIZE_MIN || *size > FAULT_SIZE_MAX ? -1 : 0;
}

/*
 * One of the fault parameters fault=, delay_ms= and size= into spec;
 * 1 if key is none of them, 0 when taken, -1 with a message in err.
 */
static int
fault_param(struct fault_spec *spec, const char *key, const char *val,
    char *err, size_t errlen)
{
	if (strcmp(key, "fault") == 0) {
		if (fault_parse_mode(val, &spec->mode) != 0)
			goto bad;
		spec->set = true;
	} else if (strcmp(key, "delay_ms") == 0) {
		if (parse_delay(val, &spec->delay_ms) != 0)
			goto bad;
		spec->has_delay = true;
	} else if (strcmp(key, "size") == 0) {
		if (parse_size(val, &spec->size) != 0)
			goto bad;
		spec->has_size = true;
	} else
		return 1;
	return 0;
bad:
	if (strcmp(key, "fault") == 0)
		snprintf(err, errlen, "unknown fault \"%.32s\" (one of %s)",
		    val, fault_names());
	else if (strcmp(key, "delay_ms") == 0)
		snprintf(err, errlen, "delay_ms must be 0..%llu",
		    (unsigned long long)FAULT_DELAY_MAX_MS);
	else
		snprintf(err, errlen, "size must be %llu..%llu bytes (k, m "
		    "allowed)", (unsigned long long)FAULT_SIZE_MIN,
		    (unsigned long long)FAULT_SIZE_MAX);
	return -1;
}

/* ---- JSON helpers ---------------------------------------------------- */

static char *
dump(const json_t *j, size_t *len)
{
	char *s;

	if (j == NULL || (s = json_dumps(j, JSON_FLAGS)) == NULL)
		return NULL;
	*len = strlen(s);
	return s;
}

static void
respond_json(struct conn *c, int status, const char *extra, json_t *j)
{
	size_t len;
	char *s = dump(j, &len);

	json_decref(j);
	if (s == NULL) {
		conn_close_after(c);
		conn_error(c, 500, NULL, "out of memory");
		return;
	}
	conn_respond(c, status, "application/json", extra, s, len);
	free(s);
}

static void
out_of_memory(struct conn *c)
{
	conn_close_after(c);
	conn_error(c, 500, NULL, "out of memory");
}

/* ---- the control endpoint -------------------------------------------- */

static void
ctl_clear(struct faults *fs)
{
	memset(&fs->ctl, 0, sizeof(fs->ctl));
	fs->remaining = 0;
}

static json_t *
state_json(const struct faults *fs)
{
	json_t *by, *st;
	unsigned conns = fs->srv != NULL ? server_connections(fs->srv) : 0;
	int i;

	if ((by = json_object()) == NULL)
		return NULL;
	for (i = 0; i < FAULT_NMODES; i++)
		if (fs->by_fault[i] > 0 && json_object_set_new(by,
		    mode_names[i], json_integer((json_int_t)fs->by_fault[i])))
			goto fail;
	/* the connection that asks does not count */
	st = json_pack("{s:s, s:o, s:I, s:I, s:I, s:I, s:o}",
	    "fault", fault_name(fs->ctl.set ? fs->ctl.mode : FAULT_NONE),
	    "remaining", fs->ctl.set && fs->remaining > 0 ?
	    json_integer((json_int_t)fs->remaining) : json_null(),
	    "delay_ms", (json_int_t)(fs->ctl.has_delay ? fs->ctl.delay_ms : 0),
	    "size", (json_int_t)(fs->ctl.has_size ? fs->ctl.size : 0),
	    "requests", (json_int_t)fs->requests,
	    "open_connections", (json_int_t)(conns > 0 ? conns - 1 : 0),
	    "by_fault", by);
	return st;
fail:
	json_decref(by);
	return NULL;
}

/* Parses POST /_control's query into spec, times and reset. */
static int
control_params(const char *q, struct fault_spec *spec, uint64_t *times,
    bool *reset, char *err, size_t errlen)
{
	char key[64], val[256], e[64];
	int rc;

	while ((rc = http_query_next(&q, key, sizeof(key), val,
	    sizeof(val))) == 1) {
		if ((rc = fault_param(spec, key, val, err, errlen)) == -1)
			return -1;
		if (rc == 0)
			continue;
		if (strcmp(key, "times") == 0) {
			if (util_parse_uint(val, times, e, sizeof(e)) != 0 ||
			    *times < 1 || *times > TIMES_MAX) {
				snprintf(err, errlen, "times must be 1..%llu",
				    (unsigned long long)TIMES_MAX);
				return -1;
			}
		} else if (strcmp(key, "reset") == 0) {
			if (strcmp(val, "1") != 0 && strcmp(val, "0") != 0) {
				snprintf(err, errlen, "reset must be 1 or 0");
				return -1;
			}
			*reset = strcmp(val, "1") == 0;
		} else {
			snprintf(err, errlen, "unknown parameter \"%.32s\"",
			    key);
			return -1;
		}
	}
	if (rc == -1) {
		snprintf(err, errlen, "malformed query string");
		return -1;
	}
	if (!spec->set && (spec->has_delay || spec->has_size || *times)) {
		snprintf(err, errlen, "delay_ms, size and times need fault=");
		return -1;
	}
	return 0;
}

/*
 * POST /_control: reset=1 zeroes the counters and clears the fault;
 * fault= sets the fault for the next times requests (or until changed);
 * fault=none without times clears it.
 */
static void
control_post(struct faults *fs, struct conn *c, const struct request *r)
{
	struct fault_spec spec;
	uint64_t times = 0;
	bool reset = false;
	char err[200];

	memset(&spec, 0, sizeof(spec));
	if (control_params(r->query, &spec, &times, &reset, err,
	    sizeof(err)) != 0) {
		conn_log(c, "-", "400");
		conn_error(c, 400, NULL, err);
		return;
	}
	if (reset) {
		ctl_clear(fs);
		fs->requests = 0;
		memset(fs->by_fault, 0, sizeof(fs->by_fault));
		fs->badjson_next = fs->wrongshape_next = 0;
	}
	if (spec.set) {
		ctl_clear(fs);
		if (spec.mode != FAULT_NONE || times > 0) {
			fs->ctl = spec;
			fs->remaining = times;
		}
	}
	conn_log(c, "-", "200");
	respond_json(c, 200, NULL, state_json(fs));
}

static void
control_request(struct faults *fs, struct conn *c, const struct request *r)
{
	if (strcmp(r->method, "POST") == 0)
		control_post(fs, c, r);
	else if (strcmp(r->method, "GET") == 0) {
		conn_log(c, "-", "200");
		respond_json(c, 200, NULL, state_json(fs));
	} else {
		conn_log(c, "-", "405");
		conn_error(c, 405, "Allow: GET, POST\r\n",
		    "method not allowed");
	}
}

/* ---- answers of the fault modes -------------------------------------- */

static void
plan_free(void *arg)
{
	struct plan *p = arg;

	if (p->body != NULL)
		evbuffer_free(p->body);
	free(p);
}

/* The day's events as JSON text (malloc'd), NULL if no memory. */
static char *
events_text(const struct plan *p, size_t *len)
{
	return gen_events_text(&p->key, len);
}

static void
answer_events(struct conn *c, struct plan *p)
{
	size_t len;
	char *s;

	if ((s = events_text(p, &len)) == NULL) {
		out_of_memory(c);
		return;
	}
	conn_respond(c, 200, "application/json", NULL, s, len);
	free(s);
}

/*
 * Not JSON, rotating: the first half of the events; an event with
 * Latin-1 bytes (invalid UTF-8); a proxy's HTML error page; the events
 * followed by garbage; an empty body.
 */
static void
answer_badjson(struct conn *c, struct plan *p)
{
	static const char latin1[] = "[{\"id\":\"evt-1\",\"title\":\"Caf\xe9 "
	    "concert \xff\xfe\",\"category\":\"concert\",\"starts_at\":"
	    "\"2026-11-23T19:00:00Z\",\"ends_at\":\"2026-11-23T21:00:00Z\","
	    "\"venue\":\"Caf\xe9 Central\",\"place_id\":null,\"price_cents\":"
	    "null,\"url\":\"https://events.example/evt-1\"}]";
	static const char html[] = "<html><head><title>502 Bad Gateway"
	    "</title></head><body><h1>502 Bad Gateway</h1></body></html>\n";
	static const char tail[] = "\n] <!-- cache: stale -->\n";
	size_t len;
	char *s;

	if (p->variant == 1 || p->variant == 2 || p->variant == 4) {
		if (p->variant == 1)
			conn_respond(c, 200, "application/json", NULL, latin1,
			    sizeof(latin1) - 1);
		else if (p->variant == 2)
			conn_respond(c, 200, "application/json", NULL, html,
			    sizeof(html) - 1);
		else
			conn_respond(c, 200, "application/json", NULL, "", 0);
		return;
	}
	if ((s = events_text(p, &len)) == NULL) {
		out_of_memory(c);
		return;
	}
	if (p->variant == 0) {
		conn_respond(c, 200, "application/json", NULL, s, len / 2);
	} else {
		conn_head(c, 200, "application/json", NULL,
		    len + sizeof(tail) - 1);
		conn_write(c, s, len);
		conn_write(c, tail, sizeof(tail) - 1);
		conn_end(c);
	}
	free(s);
}

/*
 * Breaks one field of ev, rotating by k: no id, title null, starts_at
 * not a date, place_id a string. For wrongshape also: id a number,
 * starts_at a number.
 */
static int
break_event(json_t *ev, unsigned k)
{
	switch (k) {
	case 0:
		return json_object_del(ev, "id");
	case 1:
		return json_object_set_new(ev, "title", json_null());
	case 2:
		return json_object_set_new(ev, "starts_at",
		    json_string("not a date"));
	case 3:
		return json_object_set_new(ev, "place_id", json_string("abc"));
	case 4:
		return json_object_set_new(ev, "id", json_integer(12345));
	default:
		return json_object_set_new(ev, "starts_at",
		    json_integer(12345));
	}
}

/*
 * Valid JSON of the wrong shape, rotating: an object {"events":[...]};
 * an array of the ids (strings); an array of numbers; the events with one
 * broken field each (event i: break_event(i % 6)).
 */
static json_t *
wrongshape_json(struct plan *p)
{
	json_t *arr = gen_events(&p->key), *other, *ev;
	size_t i;

	if (arr == NULL)
		return NULL;
	if (p->variant == 0) {
		other = json_pack("{s:o}", "events", arr);
		return other;
	}
	if (p->variant == 3) {
		json_array_foreach(arr, i, ev)
			if (break_event(ev, (unsigned)(i % 6)) != 0)
				goto fail;
		return arr;
	}
	if ((other = json_array()) == NULL)
		goto fail;
	json_array_foreach(arr, i, ev) {
		if (json_array_append_new(other, p->variant == 1 ?
		    json_incref(json_object_get(ev, "id")) :
		    json_integer((json_int_t)(i + 1) * 7)) != 0) {
			json_decref(other);
			goto fail;
		}
	}
	json_decref(arr);
	return other;
fail:
	json_decref(arr);
	return NULL;
}

/* The events where index i % 3 == 2 has break_event((i / 3) % 4). */
static json_t *
partial_json(struct plan *p)
{
	json_t *arr = gen_events(&p->key), *ev;
	size_t i;

	if (arr == NULL)
		return NULL;
	json_array_foreach(arr, i, ev) {
		if (i % 3 == 2 && break_event(ev, (unsigned)(i / 3 % 4)) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/* The head promises the whole body; half of it comes, then a close. */
static void
answer_short(struct conn *c, struct plan *p)
{
	size_t len;
	char *s;

	if ((s = events_text(p, &len)) == NULL) {
		out_of_memory(c);
		return;
	}
	conn_head(c, 200, "application/json", NULL, len);
	conn_write(c, s, len / 2);
	free(s);
	conn_close_after(c);
	conn_end(c);
}

static void
trickle_tick(struct conn *c, void *task)
{
	conn_kick(c);
}

static enum fill_result
trickle_fill(struct conn *c, void *task, struct evbuffer *out)
{
	struct plan *p = task;

	if (evbuffer_remove_buffer(p->body, out, TRICKLE_PIECE) < 0)
		return FILL_FAIL;
	if (evbuffer_get_length(p->body) == 0)
		return FILL_DONE;
	conn_after(c, p->delay_ms, trickle_tick);
	return FILL_WAIT;
}

static void
answer_trickle(struct conn *c, struct plan *p)
{
	size_t len;
	char *s;

	if ((s = events_text(p, &len)) == NULL) {
		out_of_memory(c);
		return;
	}
	if ((p->body = evbuffer_new()) == NULL ||
	    evbuffer_add(p->body, s, len) != 0) {
		free(s);
		out_of_memory(c);
		return;
	}
	free(s);
	conn_head(c, 200, "application/json", NULL, len);
	conn_stream(c, trickle_fill);
}

static int
add_spaces(struct evbuffer *out, uint64_t n)
{
	char spaces[64];
	size_t k;

	memset(spaces, ' ', sizeof(spaces));

	for (; n > 0; n -= k) {
		k = n < sizeof(spaces) ? (size_t)n : sizeof(spaces);
		if (evbuffer_add(out, spaces, k) != 0)
			return -1;
	}
	return 0;
}

/*
 * Exactly p->size bytes: "[", events of the endless stream while the
 * next one still fits before the closing "]", blanks to fill up, "]".
 * Queues at most HUGE_HIGHWAT; called again once the output drained.
 */
static enum fill_result
huge_fill(struct conn *c, void *task, struct evbuffer *out)
{
	struct plan *p = task;
	size_t len, sep;
	json_t *ev;
	char *s;

	if (p->sent == 0) {
		if (evbuffer_add(out, "[", 1) != 0)
			return FILL_FAIL;
		p->sent = 1;
	}
	while (evbuffer_get_length(out) < HUGE_HIGHWAT) {
		ev = gen_stream_event(&p->key, p->next);
		s = dump(ev, &len);
		json_decref(ev);
		if (s == NULL)
			return FILL_FAIL;
		sep = p->next > 0;
		if (p->sent + sep + len + 1 > p->size) {
			free(s);
			if (add_spaces(out, p->size - 1 - p->sent) != 0 ||
			    evbuffer_add(out, "]", 1) != 0)
				return FILL_FAIL;
			p->sent = p->size;
			return FILL_DONE;
		}
		if ((sep && evbuffer_add(out, ",", 1) != 0) ||
		    evbuffer_add(out, s, len) != 0) {
			free(s);
			return FILL_FAIL;
		}
		free(s);
		p->sent += sep + len;
		p->next++;
	}
	return FILL_MORE;
}

static void
answer_huge(struct conn *c, struct plan *p)
{
	conn_head(c, 200, "application/json", NULL, p->size);
	conn_stream(c, huge_fill);
}

static void
plan_run(struct conn *c, void *task)
{
	struct plan *p = task;

	if (p->status != 0) {
		conn_error(c, p->status, p->allow, p->error);
		return;
	}
	switch (p->mode) {
	case FAULT_NONE:
	case FAULT_DELAY:
		answer_events(c, p);
		break;
	case FAULT_500:
		conn_error(c, 500, NULL, "internal server error (injected)");
		break;
	case FAULT_503:
		conn_error(c, 503, "Retry-After: 1\r\n",
		    "service unavailable (injected)");
		break;
	case FAULT_BADJSON:
		answer_badjson(c, p);
		break;
	case FAULT_WRONGSHAPE:
		respond_json(c, 200, NULL, wrongshape_json(p));
		break;
	case FAULT_PARTIAL:
		respond_json(c, 200, NULL, partial_json(p));
		break;
	case FAULT_SHORT:
		answer_short(c, p);
		break;
	case FAULT_RESET:
		conn_reset(c);
		break;
	case FAULT_HANG:
		conn_hang(c);
		break;
	case FAULT_TRICKLE:
		answer_trickle(c, p);
		break;
	case FAULT_HUGE:
		answer_huge(c, p);
		break;
	case FAULT_NMODES:
		conn_error(c, 500, NULL, "no such fault");
		break;
	}
}

/* ---- the events endpoint --------------------------------------------- */

/* Date and query of GET /events/{date}; fills p (or its error). */
static int
events_params(struct plan *p, const struct request *r,
    struct fault_spec *q)
{
	const char *date = r->path + strlen("/events/"), *qs = r->query;
	char key[64], val[256];
	bool city = false;
	int rc;

	if (gen_parse_date(&p->key, date) != 0) {
		snprintf(p->error, sizeof(p->error), "bad date \"%.16s\": use "
		    "YYYY-MM-DD, a real calendar date", date);
		return -1;
	}
	while ((rc = http_query_next(&qs, key, sizeof(key), val,
	    sizeof(val))) == 1) {
		if (strcmp(key, "city") == 0) {
			if (gen_parse_city(&p->key, val) != 0) {
				snprintf(p->error, sizeof(p->error), "bad city: "
				    "use 1 to 64 of a-z, 0-9, _ and -");
				return -1;
			}
			city = true;
		} else if (fault_param(q, key, val, p->error,
		    sizeof(p->error)) == -1)
			return -1;
	}
	if (rc == -1 || !city) {
		snprintf(p->error, sizeof(p->error), rc == -1 ?
		    "malformed query string" : "missing city");
		return -1;
	}
	/* delay_ms alone asks for a delay */
	if (!q->set && q->has_delay) {
		q->set = true;
		q->mode = FAULT_DELAY;
	}
	return 0;
}

static bool
draw(struct faults *fs)
{
	double u = (double)(gen_next(&fs->rng) >> 11) * 0x1.0p-53;

	return u < fs->o.rate;
}

/* The fault of a valid request: /_control, else its query, else -f. */
static void
choose(struct faults *fs, struct plan *p, const struct fault_spec *q)
{
	struct fault_spec spec;

	memset(&spec, 0, sizeof(spec));
	if (fs->ctl.set) {
		spec = fs->ctl;
		if (fs->remaining > 0 && --fs->remaining == 0)
			ctl_clear(fs);
	} else if (q->set)
		spec = *q;
	else if (fs->o.mode != FAULT_NONE && draw(fs))
		spec.mode = fs->o.mode;
	p->mode = spec.mode;
	p->delay_ms = spec.has_delay ? spec.delay_ms :
	    spec.mode == FAULT_DELAY ? DELAY_DEFAULT_MS :
	    spec.mode == FAULT_TRICKLE ? TRICKLE_DEFAULT_MS : 0;
	p->size = spec.has_size ? spec.size : HUGE_DEFAULT_SIZE;
	if (p->mode == FAULT_BADJSON)
		p->variant = (unsigned)(fs->badjson_next++ % BADJSON_VARIANTS);
	else if (p->mode == FAULT_WRONGSHAPE)
		p->variant = (unsigned)(fs->wrongshape_next++ %
		    WRONGSHAPE_VARIANTS);
}

static const char *
planned_status(const struct plan *p, char *buf, size_t len)
{
	if (p->status != 0) {
		snprintf(buf, len, "%d", p->status);
		return buf;
	}
	switch (p->mode) {
	case FAULT_500:
		return "500";
	case FAULT_503:
		return "503";
	case FAULT_RESET:
		return "reset";
	case FAULT_HANG:
		return "none";
	default:
		return "200";
	}
}

static void
events_request(struct faults *fs, struct conn *c, const struct request *r)
{
	struct fault_spec q;
	struct plan *p;
	uint64_t wait;
	char st[16];

	fs->requests++;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		fs->by_fault[FAULT_NONE]++;
		out_of_memory(c);
		return;
	}
	conn_set_task(c, p, plan_free);
	p->fs = fs;
	p->key.seed = fs->o.seed;
	p->key.max_place_id = fs->o.max_place_id;
	memset(&q, 0, sizeof(q));
	if (strcmp(r->method, "GET") != 0) {
		p->status = 405;
		p->allow = "Allow: GET\r\n";
		snprintf(p->error, sizeof(p->error), "method not allowed");
	} else if (events_params(p, r, &q) != 0)
		p->status = 400;
	else
		choose(fs, p, &q);
	fs->by_fault[p->mode]++;
	conn_log(c, fault_name(p->mode), planned_status(p, st, sizeof(st)));
	wait = fs->o.delay_ms + (p->mode != FAULT_TRICKLE ? p->delay_ms : 0);
	if (wait > 0)
		conn_after(c, wait, plan_run);
	else
		plan_run(c, p);
}

void
faults_route(struct conn *c, const struct request *r, void *arg)
{
	struct faults *fs = arg;

	if (strncmp(r->path, "/events/", 8) == 0)
		events_request(fs, c, r);
	else if (strcmp(r->path, "/_control") == 0)
		control_request(fs, c, r);
	else {
		conn_log(c, "-", "404");
		conn_error(c, 404, NULL, "not found");
	}
}
