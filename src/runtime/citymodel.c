/*
 * citymodel.c: the read model of citymodel.h. Cities sit on one list, each
 * with its answers, its builds in flight and the sorted ids of its places;
 * every answer of every city also sits on one recency list, the least
 * recently used evicted first while the model holds more than max_bytes.
 * Single-threaded, per worker: builds are the handlers' own queries, the
 * model only books them.
 */
#include "runtime/citymodel.h"
#include "runtime/feed.h"
#include "runtime/pg.h"
#include "common/config.h"
#include "common/log.h"
#include "common/stats.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

_Static_assert(CMC_COUNT == STATS_CM_CAUSES, "stats.h knows every cause");
_Static_assert(CMK_COUNT == STATS_CM_KINDS, "stats.h knows every kind");

struct cm_city;

struct cm_answer {
	/* what a lookup reads, together in one cache line */
	uint32_t hash;              /* of its city and key */
	struct cm_answer *hnext;    /* in its bucket of the model's index */
	struct cm_city *city;
	char *key;
	int64_t until_ms;           /* wall clock; 0: none */
	uint64_t born_ms;           /* monotonic, for the TTL */
	uint64_t used_ms;           /* monotonic: last moved up the LRU */
	char *buf;                  /* the parts, one after the other */
	struct cm_value v;
	size_t bytes;
	TAILQ_ENTRY(cm_answer) link;    /* the city's */
	TAILQ_ENTRY(cm_answer) lru;     /* the model's, most recent first */
};

struct cm_waiter {
	struct cm_flight *fl;
	cm_wait_fn fn;
	void *arg;
	TAILQ_ENTRY(cm_waiter) link;
};

struct cm_flight {
	struct citymodel *m;
	struct cm_city *city;       /* NULL once the city was dropped */
	char *key;
	TAILQ_HEAD(, cm_waiter) waiters;
	TAILQ_ENTRY(cm_flight) link;
};

struct cm_city {
	char name[65];
	int64_t *ids;               /* every place of the city, sorted */
	size_t nids;
	size_t bytes;               /* of ids */
	TAILQ_HEAD(, cm_answer) answers;
	TAILQ_HEAD(, cm_flight) flights;
	TAILQ_ENTRY(cm_city) link;
};

struct citymodel {
	const struct config *cfg;
	struct stats_block *st;
	struct feed *feed;
	struct pg_pool *pg;
	bool precise;               /* places_city is announced */
	uint64_t epoch;             /* changes heard: see cm_card_put */
	size_t bytes;
	TAILQ_HEAD(, cm_city) cities;
	TAILQ_HEAD(cm_lru, cm_answer) lru;
	struct cm_answer **buckets; /* every answer by city and key */
	size_t nbuckets;            /* a power of two */
	size_t nanswers;
};

#define CM_ANSWER_OVERHEAD  (sizeof(struct cm_answer) + 32)
#define CM_CITY_OVERHEAD    (sizeof(struct cm_city) + 32)
#define CM_BUCKETS_MIN      256

/* ---- clocks ------------------------------------------------------------------ */

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- accounting -------------------------------------------------------------- */

static void
bytes_add(struct citymodel *m, size_t n)
{
	m->bytes += n;
	stats_gauge_add(&m->st->cm_bytes, (int64_t)n);
}

static void
bytes_sub(struct citymodel *m, size_t n)
{
	m->bytes -= n;
	stats_gauge_add(&m->st->cm_bytes, -(int64_t)n);
}

/* ---- the index: answers by city and key ------------------------------------------ */

/*
 * Places by id are one pseudo-city of tens of thousands of answers: a
 * walk of a city's list per lookup would cost more than the query it
 * saves. FNV-1a of the city's name and the key, chained buckets, grown
 * to one answer per bucket on average.
 */
static uint32_t
answer_hash(const struct cm_city *c, const char *key)
{
	uint32_t h = 2166136261u;
	const char *p;

	for (p = c->name; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h = (h ^ 0xffu) * 16777619u;
	for (p = key; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return h;
}

/* Doubles the buckets; on no memory the chains just grow longer. */
static void
index_grow(struct citymodel *m)
{
	size_t n = m->nbuckets * 2, i;
	struct cm_answer **b, *a, *next;

	if ((b = calloc(n, sizeof(*b))) == NULL)
		return;
	for (i = 0; i < m->nbuckets; i++)
		for (a = m->buckets[i]; a != NULL; a = next) {
			next = a->hnext;
			a->hnext = b[a->hash & (n - 1)];
			b[a->hash & (n - 1)] = a;
		}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = n;
}

static void
index_add(struct citymodel *m, struct cm_answer *a)
{
	struct cm_answer **head;

	if (m->nanswers >= m->nbuckets)
		index_grow(m);
	a->hash = answer_hash(a->city, a->key);
	head = &m->buckets[a->hash & (m->nbuckets - 1)];
	a->hnext = *head;
	*head = a;
	m->nanswers++;
}

static void
index_del(struct citymodel *m, struct cm_answer *a)
{
	struct cm_answer **pp = &m->buckets[a->hash & (m->nbuckets - 1)];

	while (*pp != NULL && *pp != a)
		pp = &(*pp)->hnext;
	if (*pp == a) {
		*pp = a->hnext;
		m->nanswers--;
	}
}

static struct cm_answer *
index_find(const struct citymodel *m, const struct cm_city *c,
    const char *key)
{
	struct cm_answer *a;
	uint32_t h = answer_hash(c, key);

	for (a = m->buckets[h & (m->nbuckets - 1)]; a != NULL; a = a->hnext)
		if (a->hash == h && a->city == c && strcmp(a->key, key) == 0)
			return a;
	return NULL;
}

/* ---- cities ------------------------------------------------------------------ */

/* The city of that name, moved to the front: the pseudo-cities of places
 * and cards are asked for once per answer or card, and stay there. */
static struct cm_city *
city_find(struct citymodel *m, const char *name)
{
	struct cm_city *c;

	TAILQ_FOREACH(c, &m->cities, link)
		if (strcmp(c->name, name) == 0) {
			if (c != TAILQ_FIRST(&m->cities)) {
				TAILQ_REMOVE(&m->cities, c, link);
				TAILQ_INSERT_HEAD(&m->cities, c, link);
			}
			return c;
		}
	return NULL;
}

/*
 * A hit moves its answer to the front of the LRU at most once a second
 * (as memcached bumps an item at most once a minute): a hot answer is not
 * moved on every hit, which touches two other answers' memory each time.
 */
static void
lru_touch(struct citymodel *m, struct cm_answer *a, uint64_t now)
{
	if (now - a->used_ms < 1000)
		return;
	a->used_ms = now;
	TAILQ_REMOVE(&m->lru, a, lru);
	TAILQ_INSERT_HEAD(&m->lru, a, lru);
}

static struct cm_city *
city_get(struct citymodel *m, const char *name)
{
	struct cm_city *c;

	if ((c = city_find(m, name)) != NULL)
		return c;
	if (strlen(name) >= sizeof(c->name) ||
	    (c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	memcpy(c->name, name, strlen(name) + 1);
	TAILQ_INIT(&c->answers);
	TAILQ_INIT(&c->flights);
	TAILQ_INSERT_HEAD(&m->cities, c, link);
	c->bytes = CM_CITY_OVERHEAD;
	bytes_add(m, c->bytes);
	return c;
}

/* An answer that is not (or no longer) held anywhere. */
static void
answer_discard(struct cm_answer *a)
{
	free(a);                    /* key and buf live in its allocation */
}

static void
answer_free(struct citymodel *m, struct cm_answer *a)
{
	index_del(m, a);
	TAILQ_REMOVE(&a->city->answers, a, link);
	TAILQ_REMOVE(&m->lru, a, lru);
	bytes_sub(m, a->bytes);
	answer_discard(a);
}

/* Holds a (its bytes evicted for already) in city c. */
static void
answer_hold(struct citymodel *m, struct cm_city *c, struct cm_answer *a)
{
	a->city = c;
	TAILQ_INSERT_HEAD(&c->answers, a, link);
	TAILQ_INSERT_HEAD(&m->lru, a, lru);
	index_add(m, a);
	bytes_add(m, a->bytes);
}

/* Frees the city once nothing is held or built for it. */
static void
city_maybe_free(struct citymodel *m, struct cm_city *c)
{
	if (!TAILQ_EMPTY(&c->answers) || !TAILQ_EMPTY(&c->flights))
		return;
	TAILQ_REMOVE(&m->cities, c, link);
	bytes_sub(m, c->bytes);
	free(c->ids);
	free(c);
}

/*
 * Everything known of the city goes: its answers, its ids, and its builds
 * in flight are detached (their waiters still get what they build, as
 * they asked before the change was heard, but it is not kept).
 */
static void
city_drop(struct citymodel *m, struct cm_city *c, enum cm_cause why)
{
	struct cm_flight *fl;

	if (!TAILQ_EMPTY(&c->answers) || c->nids > 0)
		stats_add(&m->st->cm_invalidations[why], 1);
	while (!TAILQ_EMPTY(&c->answers))
		answer_free(m, TAILQ_FIRST(&c->answers));
	while ((fl = TAILQ_FIRST(&c->flights)) != NULL) {
		TAILQ_REMOVE(&c->flights, fl, link);
		fl->city = NULL;
	}
	city_maybe_free(m, c);
}

/* A new offer: the city's digests go, its lists (which show no offers)
 * and its ids stay. */
static void
city_drop_digests(struct citymodel *m, struct cm_city *c, enum cm_cause why)
{
	struct cm_answer *a, *an;
	struct cm_flight *fl, *fn;
	bool dropped = false;

	for (a = TAILQ_FIRST(&c->answers); a != NULL; a = an) {
		an = TAILQ_NEXT(a, link);
		if (strncmp(a->key, CM_LIST_PREFIX, strlen(CM_LIST_PREFIX)) ==
		    0)
			continue;
		answer_free(m, a);
		dropped = true;
	}
	for (fl = TAILQ_FIRST(&c->flights); fl != NULL; fl = fn) {
		fn = TAILQ_NEXT(fl, link);
		if (strncmp(fl->key, CM_LIST_PREFIX, strlen(CM_LIST_PREFIX)) ==
		    0)
			continue;
		TAILQ_REMOVE(&c->flights, fl, link);
		fl->city = NULL;
	}
	if (dropped)
		stats_add(&m->st->cm_invalidations[why], 1);
	city_maybe_free(m, c);
}

static int
cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* "{1,2,3}" into a sorted array; false on anything else. */
static bool
parse_ids(const char *s, int64_t **out, size_t *n)
{
	size_t cap = 1, i = 0;
	const char *p;
	int64_t *ids;
	char *end;

	if (s == NULL || *s != '{')
		return false;
	for (p = s; *p != '\0'; p++)
		if (*p == ',')
			cap++;
	if ((ids = calloc(cap, sizeof(*ids))) == NULL)
		return false;
	for (p = s + 1; *p != '}'; p = end + (*end == ',')) {
		errno = 0;
		ids[i] = strtoll(p, &end, 10);
		if (end == p || errno != 0 || i >= cap ||
		    (*end != ',' && *end != '}')) {
			free(ids);
			return false;
		}
		i++;
	}
	qsort(ids, i, sizeof(*ids), cmp_id);
	*out = ids;
	*n = i;
	return true;
}

/* ---- the interface ----------------------------------------------------------- */

struct citymodel *
cm_new(const struct config *cfg, struct stats_block *st)
{
	struct citymodel *m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->cfg = cfg;
	m->st = st;
	TAILQ_INIT(&m->cities);
	TAILQ_INIT(&m->lru);
	m->nbuckets = CM_BUCKETS_MIN;
	if ((m->buckets = calloc(m->nbuckets, sizeof(*m->buckets))) == NULL) {
		free(m);
		return NULL;
	}
	return m;
}

void
cm_set_feed(struct citymodel *m, struct feed *f)
{
	m->feed = f;
}

void
cm_set_pool(struct citymodel *m, struct pg_pool *p)
{
	m->pg = p;
}

/* What was held under the other rules is not trusted under these. */
void
cm_set_precise(struct citymodel *m, bool on)
{
	if (m == NULL || m->precise == on)
		return;
	m->precise = on;
	cm_drop_all(m, CMC_FEED_LOST);
}

static void
flight_end(struct cm_flight *fl, const struct cm_value *v)
{
	struct cm_waiter *wt;

	if (fl->city != NULL)
		TAILQ_REMOVE(&fl->city->flights, fl, link);
	while ((wt = TAILQ_FIRST(&fl->waiters)) != NULL) {
		TAILQ_REMOVE(&fl->waiters, wt, link);
		wt->fn(wt->arg, v);
		free(wt);
	}
	if (fl->city != NULL)
		city_maybe_free(fl->m, fl->city);
	free(fl->key);
	free(fl);
}

void
cm_free(struct citymodel *m)
{
	struct cm_city *c;
	struct cm_flight *fl;

	if (m == NULL)
		return;
	/* handlers end their flights first (http_shutdown); one left is
	 * detached, its builder still ends it */
	while ((c = TAILQ_FIRST(&m->cities)) != NULL) {
		while ((fl = TAILQ_FIRST(&c->flights)) != NULL) {
			TAILQ_REMOVE(&c->flights, fl, link);
			fl->city = NULL;
		}
		city_drop(m, c, CMC_FEED_LOST);
	}
	free(m->buckets);
	free(m);
}

static enum cm_kind
kind_of(const char *city, const char *key)
{
	if (strcmp(city, CM_PLACES) == 0)
		return CMK_PLACE;
	if (strcmp(city, CM_CITIES) == 0)
		return CMK_CITIES;
	if (strcmp(city, CM_CARDS) == 0)
		return CMK_CARD;
	if (strncmp(key, CM_LIST_PREFIX, strlen(CM_LIST_PREFIX)) == 0)
		return CMK_LIST;
	if (strncmp(key, CM_VENUES_PREFIX, strlen(CM_VENUES_PREFIX)) == 0)
		return CMK_VENUES;
	return CMK_DIGEST;
}

static bool
usable(const struct citymodel *m)
{
	return m != NULL && m->cfg->cache_max_bytes > 0 && m->feed != NULL &&
	    feed_quiet(m->feed);
}

static struct cm_answer *
answer_find(struct citymodel *m, struct cm_city *c, const char *key,
    uint64_t now)
{
	struct cm_answer *a;
	uint64_t ttl = m->cfg->cache_model_ttl_ms;

	if ((a = index_find(m, c, key)) != NULL) {
		if (a->until_ms != 0 && a->until_ms <= wall_ms()) {
			stats_add(&m->st->cm_invalidations[CMC_OFFER_TIME], 1);
			answer_free(m, a);
			return NULL;
		}
		if (now - a->born_ms >= ttl) {
			stats_add(&m->st->cm_invalidations[CMC_TTL], 1);
			answer_free(m, a);
			return NULL;
		}
		return a;
	}
	return NULL;
}

static struct cm_flight *
flight_find(struct cm_city *c, const char *key)
{
	struct cm_flight *fl;

	TAILQ_FOREACH(fl, &c->flights, link)
		if (strcmp(fl->key, key) == 0)
			return fl;
	return NULL;
}

enum cm_get
cm_get(struct citymodel *m, const char *city, const char *key,
    struct cm_value *v, cm_wait_fn fn, void *arg, struct cm_waiter **wt,
    struct cm_flight **fl)
{
	struct cm_city *c;
	struct cm_answer *a;
	struct cm_flight *f;
	struct cm_waiter *w;
	uint64_t now;

	if (m == NULL || m->cfg->cache_max_bytes == 0 ||
	    m->cfg->cache_model_ttl_ms == 0)
		return CM_OFF;
	/* without places_city nothing tells when the counts change */
	if (!m->precise && strcmp(city, CM_CITIES) == 0)
		return CM_OFF;
	if (!usable(m)) {
		/* the database is away too: the last answer known beats
		 * none, as no read could be fresher */
		if (m->pg != NULL && !pg_pool_up(m->pg) &&
		    (c = city_find(m, city)) != NULL &&
		    (a = answer_find(m, c, key, mono_ms())) != NULL) {
			*v = a->v;
			stats_add(&m->st->cm_stale, 1);
			return CM_STALE;
		}
		stats_add(&m->st->cm_bypassed, 1);
		return CM_OFF;
	}
	if ((c = city_get(m, city)) == NULL)
		return CM_OFF;
	if ((a = answer_find(m, c, key, (now = mono_ms()))) != NULL) {
		lru_touch(m, a, now);
		*v = a->v;
		/* a digest's venues are a part of the digest's answer */
		if (kind_of(city, key) != CMK_VENUES)
			stats_add(&m->st->cm_hits, 1);
		stats_add(&m->st->cm_kind_hits[kind_of(city, key)], 1);
		return CM_HIT;
	}
	if (kind_of(city, key) != CMK_VENUES)
		stats_add(&m->st->cm_misses, 1);
	stats_add(&m->st->cm_kind_misses[kind_of(city, key)], 1);
	if ((f = flight_find(c, key)) != NULL) {
		if ((w = calloc(1, sizeof(*w))) == NULL)
			goto off;
		w->fl = f;
		w->fn = fn;
		w->arg = arg;
		TAILQ_INSERT_TAIL(&f->waiters, w, link);
		stats_add(&m->st->cm_waits, 1);
		*wt = w;
		return CM_WAIT;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->key = strdup(key)) == NULL) {
		free(f);
		goto off;
	}
	f->m = m;
	f->city = c;
	TAILQ_INIT(&f->waiters);
	TAILQ_INSERT_TAIL(&c->flights, f, link);
	*fl = f;
	return CM_BUILD;
off:
	city_maybe_free(m, c);
	return CM_OFF;
}

void
cm_unwait(struct cm_waiter *wt)
{
	if (wt == NULL)
		return;
	TAILQ_REMOVE(&wt->fl->waiters, wt, link);
	free(wt);
}

static void
evict(struct citymodel *m, size_t want)
{
	struct cm_answer *a;
	struct cm_city *c;

	while (m->bytes + want > m->cfg->cache_max_bytes &&
	    (a = TAILQ_LAST(&m->lru, cm_lru)) != NULL) {
		c = a->city;
		answer_free(m, a);
		stats_add(&m->st->cm_evictions, 1);
		city_maybe_free(m, c);
	}
}

/* A new answer of key, its bytes booked; NULL when out of memory. */
static struct cm_answer *
answer_new(const char *key, const char *const part[CM_PARTS],
    int64_t until_ms)
{
	struct cm_answer *a;
	size_t len[CM_PARTS], total = 0, off = 0, klen;
	unsigned i;

	for (i = 0; i < CM_PARTS; i++) {
		len[i] = part[i] != NULL ? strlen(part[i]) : 2;
		total += len[i];
	}
	/* one allocation: the answer, its key just after it (a lookup's
	 * strcmp reads the next line, not another block), then the parts */
	klen = strlen(key);
	if ((a = calloc(1, sizeof(*a) + klen + 1 + total + 1)) == NULL)
		return NULL;
	a->key = (char *)(a + 1);
	memcpy(a->key, key, klen + 1);
	a->buf = a->key + klen + 1;
	for (i = 0; i < CM_PARTS; i++) {
		memcpy(a->buf + off, part[i] != NULL ? part[i] : "[]", len[i]);
		a->v.part[i] = a->buf + off;
		a->v.len[i] = len[i];
		off += len[i];
	}
	a->buf[off] = '\0';
	a->until_ms = until_ms;
	a->born_ms = mono_ms();
	a->bytes = CM_ANSWER_OVERHEAD + strlen(key) + total;
	return a;
}

/* The city's ids, unless it knows them already; false: cannot keep. */
static bool
city_take_ids(struct citymodel *m, struct cm_city *c, const char *city_ids)
{
	int64_t *ids;
	size_t n;

	if (c->ids != NULL || city_ids == NULL)
		return true;            /* known, or the places by id */
	if (!parse_ids(city_ids, &ids, &n))
		return false;
	if (m->bytes + n * sizeof(*ids) > m->cfg->cache_max_bytes)
		evict(m, n * sizeof(*ids));
	c->ids = ids;
	c->nids = n;
	c->bytes += n * sizeof(*ids);
	bytes_add(m, n * sizeof(*ids));
	return true;
}

void
cm_put(struct cm_flight *fl, const char *const part[CM_PARTS],
    const char *city_ids, int64_t until_ms)
{
	struct citymodel *m = fl->m;
	struct cm_city *c = fl->city;
	struct cm_answer *a;

	if (c == NULL || (a = answer_new(fl->key, part, until_ms)) == NULL) {
		/* dropped meanwhile, or no memory: answer, keep nothing */
		struct cm_value v;
		unsigned i;

		for (i = 0; i < CM_PARTS; i++) {
			v.part[i] = part[i] != NULL ? part[i] : "[]";
			v.len[i] = strlen(v.part[i]);
		}
		flight_end(fl, &v);
		return;
	}
	/* the flight keeps c alive while its ids and bytes are booked */
	if (a->bytes > m->cfg->cache_max_bytes / 2 ||
	    !city_take_ids(m, c, city_ids)) {
		struct cm_value v = a->v;

		flight_end(fl, &v);
		answer_discard(a);
		return;
	}
	evict(m, a->bytes);
	answer_hold(m, c, a);
	flight_end(fl, &a->v);
}

void
cm_fail(struct cm_flight *fl)
{
	if (fl != NULL)
		flight_end(fl, NULL);
}

/* ---- place cards ---------------------------------------------------------------- */

enum cm_get
cm_card(struct citymodel *m, int64_t id, struct cm_value *v)
{
	struct cm_city *c;
	struct cm_answer *a;
	uint64_t now;
	char key[24];

	if (m == NULL || m->cfg->cache_max_bytes == 0 ||
	    m->cfg->cache_model_ttl_ms == 0 || !usable(m))
		return CM_OFF;
	snprintf(key, sizeof(key), "%" PRId64, id);
	if ((c = city_find(m, CM_CARDS)) != NULL &&
	    (a = answer_find(m, c, key, (now = mono_ms()))) != NULL) {
		lru_touch(m, a, now);
		*v = a->v;
		stats_add(&m->st->cm_kind_hits[CMK_CARD], 1);
		return CM_HIT;
	}
	if (c != NULL)
		city_maybe_free(m, c);
	stats_add(&m->st->cm_kind_misses[CMK_CARD], 1);
	return CM_BUILD;
}

uint64_t
cm_epoch(const struct citymodel *m)
{
	return m != NULL ? m->epoch : 0;
}

void
cm_card_put(struct citymodel *m, int64_t id, const char *json, size_t len,
    uint64_t epoch)
{
	const char *const part[CM_PARTS] = { json, "", "" };
	struct cm_city *c;
	struct cm_answer *a;
	char key[24];

	if (m == NULL || epoch != m->epoch || !usable(m))
		return;
	snprintf(key, sizeof(key), "%" PRId64, id);
	if ((c = city_get(m, CM_CARDS)) == NULL)
		return;
	if (answer_find(m, c, key, mono_ms()) != NULL ||
	    CM_ANSWER_OVERHEAD + len > m->cfg->cache_max_bytes / 2 ||
	    (a = answer_new(key, part, 0)) == NULL) {
		city_maybe_free(m, c);
		return;
	}
	evict(m, a->bytes);
	if ((c = city_get(m, CM_CARDS)) == NULL) {     /* evicted itself */
		answer_discard(a);
		return;
	}
	answer_hold(m, c, a);
}

/* ---- invalidation ------------------------------------------------------------ */

/* Every city, and the places by id and cards too unless cities_only. */
static void
drop_cities(struct citymodel *m, enum cm_cause why, bool cities_only)
{
	struct cm_city *c, *next;

	for (c = TAILQ_FIRST(&m->cities); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		if (!cities_only || (strcmp(c->name, CM_PLACES) != 0 &&
		    strcmp(c->name, CM_CARDS) != 0))
			city_drop(m, c, why);
	}
}

void
cm_drop_all(struct citymodel *m, enum cm_cause why)
{
	if (m == NULL)
		return;
	m->epoch++;
	drop_cities(m, why, false);
}

/* The card of place id. */
static void
card_drop(struct citymodel *m, int64_t id, enum cm_cause why)
{
	struct cm_city *c;
	struct cm_answer *a;
	char key[24];

	if ((c = city_find(m, CM_CARDS)) == NULL)
		return;
	snprintf(key, sizeof(key), "%" PRId64, id);
	if ((a = index_find(m, c, key)) != NULL) {
		stats_add(&m->st->cm_invalidations[why], 1);
		answer_free(m, a);
	}
	city_maybe_free(m, c);
}

/* The one answer of place id in CM_PLACES, and its builds in flight. */
static void
place_drop(struct citymodel *m, int64_t id, enum cm_cause why)
{
	struct cm_city *c;
	struct cm_answer *a;
	struct cm_flight *fl;
	char key[32];

	if ((c = city_find(m, CM_PLACES)) == NULL)
		return;
	snprintf(key, sizeof(key), "place:%" PRId64, id);
	if ((a = index_find(m, c, key)) != NULL) {
		stats_add(&m->st->cm_invalidations[why], 1);
		answer_free(m, a);
	}
	if ((fl = flight_find(c, key)) != NULL) {
		TAILQ_REMOVE(&c->flights, fl, link);
		fl->city = NULL;
	}
	city_maybe_free(m, c);
}

/* A payload the model cannot place: logged (printable, cut short), and
 * nothing it held is trusted. */
static void
bad_payload(struct citymodel *m, const char *channel, const char *payload,
    const char *what)
{
	char shown[41];
	size_t i;

	for (i = 0; i < sizeof(shown) - 1 && payload[i] != '\0'; i++)
		shown[i] = payload[i] >= 0x20 && payload[i] < 0x7f ?
		    payload[i] : '?';
	shown[i] = '\0';
	log_warnx("read model: a %s notification with the payload \"%s\" is "
	    "not %s; everything it held dropped", channel, shown, what);
	cm_drop_all(m, CMC_BAD_PAYLOAD);
}

/* A place id, digits only; 0 when s is none. */
static int64_t
parse_place_id(const char *s, size_t len)
{
	int64_t id = 0;
	size_t i;

	if (len == 0 || len > 18 || s[0] == '0')
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		id = id * 10 + (s[i] - '0');
	}
	return id;
}

/*
 * A places_changed payload: "<id>" (the place's own row) is 0, "<id>
 * menu_items" or "<id> offers" (007_notify_part.sql: something shown with
 * the place) 1, with the id in *id; anything else -1.
 */
static int
payload_part(const char *payload, int64_t *id)
{
	size_t n = strcspn(payload, " ");

	if ((*id = parse_place_id(payload, n)) == 0)
		return -1;
	if (payload[n] == '\0')
		return 0;
	if (strcmp(payload + n, " menu_items") == 0 ||
	    strcmp(payload + n, " offers") == 0)
		return 1;
	return -1;
}

void
cm_place_changed(struct citymodel *m, const char *payload)
{
	struct cm_city *c, *next;
	bool found = false;
	int64_t id;
	int part;

	if (m == NULL || m->cfg->cache_max_bytes == 0)
		return;
	m->epoch++;
	if (strcmp(payload, "all") == 0) {
		drop_cities(m, CMC_UNKNOWN_PLACE, false);
		return;
	}
	if ((part = payload_part(payload, &id)) < 0) {
		bad_payload(m, "places_changed", payload, "a place id, alone "
		    "or with \" menu_items\" or \" offers\"");
		return;
	}
	if (TAILQ_EMPTY(&m->cities))
		return;
	place_drop(m, id, CMC_PLACE);
	if (!part)
		card_drop(m, id, CMC_PLACE);
	for (c = TAILQ_FIRST(&m->cities); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c->ids != NULL && bsearch(&id, c->ids, c->nids,
		    sizeof(id), cmp_id) != NULL) {
			found = true;
			/* lists show neither menus nor offers */
			if (part)
				city_drop_digests(m, c, CMC_PLACE);
			else
				city_drop(m, c, CMC_PLACE);
		}
	}
	/* a new place, or one of a city whose ids are not known yet: it
	 * could belong to any city, unless places_city says which */
	if (!found && !m->precise)
		drop_cities(m, CMC_UNKNOWN_PLACE, true);
}

/* A city id of a places_city payload: "-" (none, *len 0) or a slug. */
static const char *
payload_city(const char *p, size_t *len)
{
	size_t n = 0;

	while (p[n] != '\0' && p[n] != ' ')
		n++;
	if (n == 1 && p[0] == '-') {
		*len = 0;
		return p + n;
	}
	if (n == 0 || n >= sizeof(((struct cm_city *)0)->name))
		return NULL;
	*len = n;
	while (n-- > 0)
		if (!((p[n] >= 'a' && p[n] <= 'z') ||
		    (p[n] >= '0' && p[n] <= '9') || p[n] == '-'))
			return NULL;
	return p + *len;
}

static void
city_drop_named(struct citymodel *m, const char *name, size_t len,
    enum cm_cause why)
{
	struct cm_city *c;
	char buf[sizeof(c->name)];

	if (len == 0 || len >= sizeof(buf))
		return;
	memcpy(buf, name, len);
	buf[len] = '\0';
	if ((c = city_find(m, buf)) != NULL)
		city_drop(m, c, why);
}

/* "<place id or -> <old city or -> <new city or ->" */
void
cm_place_city(struct citymodel *m, const char *payload)
{
	const char *p = payload, *from, *to, *end;
	size_t n, flen, tlen;
	int64_t id = 0;

	if (m == NULL || m->cfg->cache_max_bytes == 0)
		return;
	m->epoch++;
	for (n = 0; p[n] != '\0' && p[n] != ' '; n++)
		;
	if (!(n == 1 && p[0] == '-') && (id = parse_place_id(p, n)) == 0)
		goto bad;
	if (p[n] != ' ')
		goto bad;
	from = p + n + 1;
	if ((end = payload_city(from, &flen)) == NULL || *end != ' ')
		goto bad;
	to = end + 1;
	if ((end = payload_city(to, &tlen)) == NULL || *end != '\0')
		goto bad;
	if (id > 0) {
		place_drop(m, id, CMC_PLACE_CITY);
		card_drop(m, id, CMC_PLACE_CITY);
	}
	city_drop_named(m, from, flen, CMC_PLACE_CITY);
	city_drop_named(m, to, tlen, CMC_PLACE_CITY);
	city_drop_named(m, CM_CITIES, strlen(CM_CITIES), CMC_PLACE_CITY);
	return;
bad:
	bad_payload(m, "places_city", payload, "\"<place> <city> <city>\"");
}

void
cm_offer_added(struct citymodel *m, const char *city, int64_t place_id)
{
	struct cm_city *c;

	if (m == NULL)
		return;
	place_drop(m, place_id, CMC_OFFER);
	if (city != NULL && *city != '\0' && (c = city_find(m, city)) != NULL)
		city_drop_digests(m, c, CMC_OFFER);
}

void
cm_feed_lost(struct citymodel *m)
{
	struct cm_city *c, *next;
	struct cm_flight *fl;

	if (m == NULL)
		return;
	m->epoch++;
	for (c = TAILQ_FIRST(&m->cities); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		while ((fl = TAILQ_FIRST(&c->flights)) != NULL) {
			TAILQ_REMOVE(&c->flights, fl, link);
			fl->city = NULL;
		}
		city_maybe_free(m, c);
	}
}

size_t
cm_bytes(const struct citymodel *m)
{
	return m != NULL ? m->bytes : 0;
}
