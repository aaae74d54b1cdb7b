/*
 * gen.c: the deterministic event generator of placesd-events. A key's
 * state is a hash of (seed, date, city); event i draws from its own
 * stream derived from that state and i, so the same request always gives
 * the same bytes and an answer of any size can be made one event at a
 * time. Times are UTC: an event starts on its day and may end after
 * midnight.
 */
#include "events/gen.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GEN_MIN_EVENTS 4
#define GEN_MAX_EVENTS 12

struct category {
	const char *name;
	const char *const *titles;
	size_t ntitles;
	const char *const *venues;
	size_t nvenues;
	int first_hour, last_hour;      /* start between these hours */
	int min_minutes, max_minutes;   /* duration */
	int free_percent;               /* price_cents null */
};

static const char *const concert_titles[] = {
	"Chamber orchestra: Tchaikovsky", "Jazz night",
	"Piano recital: Chopin", "Indie rock live", "Organ concert: Bach",
	"String quartet: Shostakovich", "Blues jam session",
	"Choir evening: Rachmaninoff", "Acoustic folk evening",
	"Caf\xc3\xa9 concert: French chansons",
};
static const char *const concert_venues[] = {
	"Grand Concert Hall", "Philharmonic Hall", "Jazz Cellar",
	"Riverside Stage", "Cathedral of St. Mary",
};
static const char *const theatre_titles[] = {
	"The Cherry Orchard", "Hamlet", "A Midsummer Night's Dream",
	"Improv comedy night", "The Seagull", "Puppet theatre for kids",
	"Three Sisters", "Stand-up open mic",
};
static const char *const theatre_venues[] = {
	"Drama Theatre", "Studio Theatre", "Puppet Theatre",
	"Old Town Playhouse",
};
static const char *const exhibition_titles[] = {
	"Impressionist landscapes", "Photography: the city at night",
	"Modern sculpture", "Retro cars show", "Maps of the old town",
	"Contemporary ceramics", "Posters of the 1920s",
};
static const char *const exhibition_venues[] = {
	"City Museum of Art", "Photo Gallery", "Central Exhibition Hall",
	"Old Mill Gallery",
};
static const char *const festival_titles[] = {
	"Lantern festival", "Folk dance festival", "Craft beer festival",
	"Street music day", "Kite festival", "Festival of light",
};
static const char *const festival_venues[] = {
	"Central Park", "Embankment", "Old Town Square", "Botanical Garden",
};
static const char *const sport_titles[] = {
	"City half marathon", "Basketball: local derby",
	"Ice hockey: home game", "Open-air yoga", "Chess blitz tournament",
	"Football: cup quarter-final", "Cycling tour of the embankments",
};
static const char *const sport_venues[] = {
	"City Stadium", "Ice Palace", "Sports Arena", "Riverside Park",
};
static const char *const talk_titles[] = {
	"Urban history walk", "Lecture: the architecture of the avant-garde",
	"Science slam", "Book talk and signing",
	"Meetup: open data for cities", "Lecture: stars over the city",
};
static const char *const talk_venues[] = {
	"Public Library", "University Hall", "Co-working Loft",
	"Museum Auditorium",
};
static const char *const market_titles[] = {
	"Street food market", "Farmers' market", "Flea market",
	"Vintage vinyl fair", "Winter market", "Book swap market",
};
static const char *const market_venues[] = {
	"Market Square", "Railway Depot", "Harbour Warehouse", "Central Park",
};
static const char *const cinema_titles[] = {
	"Open-air cinema: Solaris", "Silent film with live piano",
	"Documentary night", "Short film festival screening",
	"Classic noir double bill", "Animation for all ages",
};
static const char *const cinema_venues[] = {
	"Art House Cinema", "Rooftop Cinema", "Film Museum", "Central Park",
};

#define CAT(n, f, l, mn, mx, fr) { #n, n##_titles, ARRAY_SIZE(n##_titles), \
	n##_venues, ARRAY_SIZE(n##_venues), f, l, mn, mx, fr }

static const struct category categories[] = {
	CAT(concert, 17, 21, 60, 180, 10),
	CAT(theatre, 12, 20, 90, 180, 5),
	CAT(exhibition, 9, 14, 240, 540, 40),
	CAT(festival, 10, 16, 180, 480, 60),
	CAT(sport, 9, 20, 60, 180, 30),
	CAT(talk, 11, 20, 45, 120, 50),
	CAT(market, 8, 12, 240, 480, 90),
	CAT(cinema, 14, 22, 80, 180, 5),
};

/* One event before it becomes JSON. */
struct draft {
	const struct category *cat;
	const char *title;
	const char *venue;
	int start_min;          /* minutes after midnight */
	int duration_min;
	uint32_t place_id;      /* 0: null */
	int64_t price_cents;    /* -1: null */
	unsigned order;         /* generation index, breaks start ties */
};

uint64_t
gen_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t
pick(uint64_t *s, uint64_t n)
{
	return gen_next(s) % n;
}

/* FNV-1a of (date, city), mixed with the seed. */
static uint64_t
key_state(const struct gen_key *k)
{
	char buf[16 + GEN_CITY_MAX];
	uint64_t h = 0xcbf29ce484222325ULL, s;
	int n, i;

	n = snprintf(buf, sizeof(buf), "%04d-%02d-%02d|%s", k->year,
	    k->month, k->day, k->city);
	for (i = 0; i < n && i < (int)sizeof(buf); i++) {
		h ^= (unsigned char)buf[i];
		h *= 0x100000001b3ULL;
	}
	s = h ^ k->seed;
	return gen_next(&s);
}

static uint64_t
event_state(const struct gen_key *k, uint64_t i)
{
	uint64_t s = key_state(k) ^ ((i + 1) * 0xd1b54a32d192ed03ULL);

	return gen_next(&s);
}

static bool
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

static int
digits(const char *s, int n)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int
gen_parse_date(struct gen_key *k, const char *s)
{
	int y, m, d;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	y = digits(s, 4);
	m = digits(s + 5, 2);
	d = digits(s + 8, 2);
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
		return -1;
	k->year = y;
	k->month = m;
	k->day = d;
	return 0;
}

int
gen_parse_city(struct gen_key *k, const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > GEN_CITY_MAX ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n)
		return -1;
	memcpy(k->city, s, n + 1);
	return 0;
}

unsigned
gen_count(const struct gen_key *k)
{
	uint64_t s = key_state(k);

	return GEN_MIN_EVENTS +
	    (unsigned)pick(&s, GEN_MAX_EVENTS - GEN_MIN_EVENTS + 1);
}

static void
draft_event(const struct gen_key *k, uint64_t i, struct draft *d)
{
	uint64_t s = event_state(k, i);
	const struct category *c;
	int slots;

	c = d->cat = &categories[pick(&s, ARRAY_SIZE(categories))];
	d->title = c->titles[pick(&s, c->ntitles)];
	d->venue = c->venues[pick(&s, c->nvenues)];
	slots = (c->last_hour - c->first_hour) * 4 + 1;     /* 15 minutes */
	d->start_min = c->first_hour * 60 + 15 * (int)pick(&s,
	    (uint64_t)slots);
	d->duration_min = c->min_minutes + 15 * (int)pick(&s,
	    (uint64_t)((c->max_minutes - c->min_minutes) / 15 + 1));
	d->place_id = pick(&s, 100) < 40 ? 0 :
	    1 + (uint32_t)pick(&s, k->max_place_id);
	d->price_cents = (int)pick(&s, 100) < c->free_percent ? -1 :
	    (int64_t)(5 + pick(&s, 76)) * 100;
	d->order = (unsigned)i;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t
days_from_civil(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* "2026-11-23T19:00:00Z" for minutes after the key's midnight. */
static void
format_time(const struct gen_key *k, int minutes, char *buf, size_t len)
{
	time_t t = (time_t)(days_from_civil(k->year, k->month, k->day) *
	    86400 + (int64_t)minutes * 60);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "1970-01-01T00:00:00Z");
}

static json_t *
draft_json(const struct gen_key *k, const struct draft *d, uint64_t num)
{
	char id[128], url[192], starts[48], ends[48];
	json_t *o;

	snprintf(id, sizeof(id), "evt-%04d%02d%02d-%s-%llu", k->year,
	    k->month, k->day, k->city, (unsigned long long)num);
	snprintf(url, sizeof(url), "https://events.example/%s", id);
	format_time(k, d->start_min, starts, sizeof(starts));
	format_time(k, d->start_min + d->duration_min, ends, sizeof(ends));
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:s}",
	    "id", id, "title", d->title, "category", d->cat->name,
	    "starts_at", starts, "ends_at", ends, "venue", d->venue,
	    "place_id", d->place_id == 0 ? json_null() :
	    json_integer((json_int_t)d->place_id),
	    "price_cents", d->price_cents < 0 ? json_null() :
	    json_integer((json_int_t)d->price_cents),
	    "url", url);
	return o;
}

static int
by_start(const void *a, const void *b)
{
	const struct draft *x = a, *y = b;

	if (x->start_min != y->start_min)
		return x->start_min < y->start_min ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

json_t *
gen_events(const struct gen_key *k)
{
	struct draft d[GEN_MAX_EVENTS];
	unsigned n = gen_count(k), i;
	json_t *arr, *ev;

	for (i = 0; i < n; i++)
		draft_event(k, i, &d[i]);
	qsort(d, n, sizeof(d[0]), by_start);
	if ((arr = json_array()) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if ((ev = draft_json(k, &d[i], i + 1)) == NULL ||
		    json_array_append_new(arr, ev) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/* ---- the same as text, without a jansson tree ---------------------------- */

struct text {
	char *buf;
	size_t len, cap;
	bool failed;
};

static char *
text_room(struct text *t, size_t n)
{
	size_t cap;
	char *nb;

	if (t->failed)
		return NULL;
	if (t->len + n > t->cap) {
		cap = t->cap * 2 > t->len + n ? t->cap * 2 : t->len + n + 1024;
		if ((nb = realloc(t->buf, cap)) == NULL) {
			t->failed = true;
			return NULL;
		}
		t->buf = nb;
		t->cap = cap;
	}
	return t->buf + t->len;
}

static void
text_add(struct text *t, const char *s, size_t n)
{
	char *p;

	if ((p = text_room(t, n)) == NULL)
		return;
	memcpy(p, s, n);
	t->len += n;
}

/* A JSON string as jansson's dump writes one (UTF-8 as it is). */
static void
text_string(struct text *t, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s), i;
	char *p;

	for (i = 0; i < n && u[i] >= 0x20 && u[i] != '"' && u[i] != '\\'; i++)
		continue;
	if (i == n) {               /* nothing to escape: the usual case */
		if ((p = text_room(t, n + 2)) == NULL)
			return;
		*p = '"';
		memcpy(p + 1, s, n);
		p[n + 1] = '"';
		t->len += n + 2;
		return;
	}
	if ((p = text_room(t, n * 6 + 2)) == NULL)
		return;
	*p++ = '"';
	for (i = 0; i < n; i++) {
		unsigned char c = u[i];

		if (c >= 0x20 && c != '"' && c != '\\') {
			*p++ = (char)c;
			continue;
		}
		*p++ = '\\';
		switch (c) {
		case '"': *p++ = '"'; break;
		case '\\': *p++ = '\\'; break;
		case '\b': *p++ = 'b'; break;
		case '\f': *p++ = 'f'; break;
		case '\n': *p++ = 'n'; break;
		case '\r': *p++ = 'r'; break;
		case '\t': *p++ = 't'; break;
		default:
			memcpy(p, "u00", 3);
			p[3] = hex[c >> 4];
			p[4] = hex[c & 15];
			p += 5;
		}
	}
	*p++ = '"';
	t->len = (size_t)(p - t->buf);
}

/* format_time's text, computed: "2026-11-23T19:00:00Z". */
static void
text_time(struct text *t, const struct gen_key *k, int minutes)
{
	int64_t days = days_from_civil(k->year, k->month, k->day) +
	    minutes / 1440, z, era, doe, yoe, doy, mp, y;
	int min = minutes % 1440, m, d;
	char buf[24], *p = buf;

	if (minutes < 0 || k->year < 1970 || k->year > 9999) {
		char alt[48];

		format_time(k, minutes, alt, sizeof(alt));
		text_string(t, alt);
		return;
	}
	/* civil_from_days, the inverse of days_from_civil */
	z = days + 719468;
	era = z / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = (int)(doy - (153 * mp + 2) / 5 + 1);
	m = (int)(mp < 10 ? mp + 3 : mp - 9);
	y = yoe + era * 400 + (m <= 2);
	if (y > 9999) {
		char alt[48];

		format_time(k, minutes, alt, sizeof(alt));
		text_string(t, alt);
		return;
	}
	*p++ = '"';
	p = util_put_digits(p, (uint64_t)y, 4);
	*p++ = '-';
	p = util_put_digits(p, (uint64_t)m, 2);
	*p++ = '-';
	p = util_put_digits(p, (uint64_t)d, 2);
	*p++ = 'T';
	p = util_put_digits(p, (uint64_t)(min / 60), 2);
	*p++ = ':';
	p = util_put_digits(p, (uint64_t)(min % 60), 2);
	memcpy(p, ":00Z\"", 5);
	p += 5;
	text_add(t, buf, (size_t)(p - buf));
}

static void
text_key(struct text *t, const char *key, bool first)
{
	if (!first)
		text_add(t, ",", 1);
	text_string(t, key);
	text_add(t, ":", 1);
}

static void
text_count_or_null(struct text *t, uint64_t v, bool null)
{
	char num[24];

	if (null) {
		text_add(t, "null", 4);
		return;
	}
	text_add(t, num, (size_t)(util_put_uint(num, v) - num));
}

/* draft_json's object, as json_dumps(JSON_COMPACT | JSON_PRESERVE_ORDER)
 * writes it. */
static void
draft_text(struct text *t, const struct gen_key *k, const struct draft *d,
    uint64_t num)
{
	static const char site[] = "https://events.example/";
	char url[sizeof(site) + 128], *id = url + sizeof(site) - 1, *p = id;
	size_t clen = strlen(k->city);

	/* "evt-%04d%02d%02d-%s-%llu", after the site for the url */
	memcpy(url, site, sizeof(site) - 1);
	memcpy(p, "evt-", 4);
	p = util_put_digits(p + 4, (uint64_t)k->year, 4);
	p = util_put_digits(p, (uint64_t)k->month, 2);
	p = util_put_digits(p, (uint64_t)k->day, 2);
	*p++ = '-';
	memcpy(p, k->city, clen);
	p += clen;
	*p++ = '-';
	p = util_put_uint(p, num);
	*p = '\0';
	text_add(t, "{", 1);
	text_key(t, "id", true);
	text_string(t, id);
	text_key(t, "title", false);
	text_string(t, d->title);
	text_key(t, "category", false);
	text_string(t, d->cat->name);
	text_key(t, "starts_at", false);
	text_time(t, k, d->start_min);
	text_key(t, "ends_at", false);
	text_time(t, k, d->start_min + d->duration_min);
	text_key(t, "venue", false);
	text_string(t, d->venue);
	text_key(t, "place_id", false);
	text_count_or_null(t, d->place_id, d->place_id == 0);
	text_key(t, "price_cents", false);
	text_count_or_null(t, (uint64_t)d->price_cents, d->price_cents < 0);
	text_key(t, "url", false);
	text_string(t, url);
	text_add(t, "}", 1);
}

char *
gen_events_text(const struct gen_key *k, size_t *len)
{
	struct draft d[GEN_MAX_EVENTS];
	struct text t = { NULL, 0, 0, false };
	unsigned n = gen_count(k), i;

	for (i = 0; i < n; i++)
		draft_event(k, i, &d[i]);
	qsort(d, n, sizeof(d[0]), by_start);
	text_add(&t, "[", 1);
	for (i = 0; i < n; i++) {
		if (i > 0)
			text_add(&t, ",", 1);
		draft_text(&t, k, &d[i], i + 1);
	}
	text_add(&t, "]", 1);
	if (text_room(&t, 1) == NULL) {
		free(t.buf);
		return NULL;
	}
	t.buf[t.len] = '\0';
	*len = t.len;
	return t.buf;
}

json_t *
gen_stream_event(const struct gen_key *k, uint64_t i)
{
	struct draft d;

	draft_event(k, i, &d);
	return draft_json(k, &d, i + 1);
}
