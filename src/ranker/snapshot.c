/*
 * snapshot.c: the snapshot builder, the built snapshot's accessors, its
 * reference count and the holder that swaps snapshots (see snapshot.h).
 * Opening hours are interned: most places share a few weekly schedules.
 */
#include "ranker/snapshot.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct snap_builder {
	struct snapshot *s;
	size_t placecap, poscap, citycap, tagcap, itemcap, itemcap2, namecap;
	size_t ntags, namelen;
	struct intern hours;        /* distinct struct snap_hours, as bytes */
	struct text_builder text;
};

/* --- place id -> index ------------------------------------------------------ */

static uint32_t
idmap_hash(int64_t id)
{
	uint64_t x = (uint64_t)id;

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;  /* splitmix64 finaliser */
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return (uint32_t)(x ^ (x >> 31));
}

/* The slot of id, or the empty slot where it would go. */
static uint32_t
idmap_slot(const struct snap_idmap *m, const struct snap_place *places,
    int64_t id)
{
	uint32_t mask = m->nslots - 1, i = idmap_hash(id) & mask;

	while (m->slots[i] != 0 && places[m->slots[i] - 1].id != id)
		i = (i + 1) & mask;
	return i;
}

/* Makes room for one more of n places. */
static int
idmap_reserve(struct snap_idmap *m, const struct snap_place *places,
    uint32_t n)
{
	uint32_t nslots = m->nslots ? m->nslots * 2 : 1024, i;
	uint32_t *old = m->slots, oldn = m->nslots;

	if ((n + 1) * 2 <= m->nslots)
		return 0;
	if (nslots == 0 || (m->slots = calloc(nslots, sizeof(*m->slots))) ==
	    NULL) {
		m->slots = old;
		errno = ENOMEM;
		return -1;
	}
	m->nslots = nslots;
	for (i = 0; i < oldn; i++)
		if (old[i] != 0)
			m->slots[idmap_slot(m, places, places[old[i] - 1].id)] =
			    old[i];
	free(old);
	return 0;
}

static int64_t
idmap_find(const struct snap_idmap *m, const struct snap_place *places,
    int64_t id)
{
	uint32_t i;

	if (m->nslots == 0)
		return -1;
	i = idmap_slot(m, places, id);
	return m->slots[i] != 0 ? (int64_t)m->slots[i] - 1 : -1;
}

/* --- building --------------------------------------------------------------- */

struct snap_builder *
snap_builder_new(void)
{
	struct snap_builder *b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	if ((b->s = calloc(1, sizeof(*b->s))) == NULL) {
		free(b);
		return NULL;
	}
	return b;
}

void
snap_builder_free(struct snap_builder *b)
{
	if (b == NULL)
		return;
	snap_free(b->s);
	index_intern_free(&b->hours);
	index_text_builder_free(&b->text);
	free(b);
}

int
snap_add_city(struct snap_builder *b, const char *id, int utc_offset_min)
{
	struct snapshot *s = b->s;
	char *copy;

	if (id == NULL || utc_offset_min < -16 * 60 ||
	    utc_offset_min > 16 * 60 || s->ncities >= UINT16_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (index_grow(&s->cities, &b->citycap, s->ncities + 1,
	    sizeof(*s->cities)) != 0 || (copy = strdup(id)) == NULL)
		return -1;
	s->cities[s->ncities].id = copy;
	s->cities[s->ncities].utc_offset_min = utc_offset_min;
	return (int)s->ncities++;
}

static bool
hours_valid(const struct snap_hours *h)
{
	const struct snap_interval *iv;
	int d, i;

	for (d = 0; d < SNAP_DAYS; d++) {
		if (h->n[d] > SNAP_MAX_INTERVALS)
			return false;
		for (i = 0; i < h->n[d]; i++) {
			iv = &h->iv[d][i];
			if (iv->open >= iv->close || iv->open >= SNAP_MIN_PER_DAY ||
			    iv->close > 2 * SNAP_MIN_PER_DAY)
				return false;
		}
	}
	return true;
}

static bool
place_valid(const struct snap_builder *b, const struct snap_place_in *p)
{
	if (p->city < 0 || (uint32_t)p->city >= b->s->ncities)
		return false;
	if (!(p->lat >= -90 && p->lat <= 90 && p->lon >= -180 && p->lon <= 180))
		return false;
	if (!isnan(p->rating) && !(p->rating >= 0 && p->rating <= 5))
		return false;
	if (p->price_level < 0 || p->price_level > 4)
		return false;
	if (p->ncat > SNAP_MAX_TAGS || p->ncui > SNAP_MAX_TAGS)
		return false;
	return p->hours == NULL || hours_valid(p->hours);
}

/* Interned hours: an index in the snapshot's hours, or -1 (ENOMEM). */
static int64_t
place_hours(struct snap_builder *b, const struct snap_hours *in)
{
	struct snap_hours h;
	int d;

	memset(&h, 0, sizeof(h));       /* unused intervals compare equal */
	for (d = 0; d < SNAP_DAYS; d++) {
		h.n[d] = in->n[d];
		memcpy(h.iv[d], in->iv[d], in->n[d] * sizeof(h.iv[d][0]));
	}
	return index_intern(&b->hours, &h, sizeof(h));
}

static int
place_tags(struct snap_builder *b, struct intern *dict,
    const char *const *tags, size_t n)
{
	int64_t id;
	size_t i;

	for (i = 0; i < n; i++) {
		if ((id = index_intern(dict, tags[i], strlen(tags[i]))) < 0)
			return -1;
		b->s->tags[b->ntags + i] = (uint32_t)id;
	}
	b->ntags += n;
	return 0;
}

static int
place_reserve(struct snap_builder *b, size_t ntags)
{
	struct snapshot *s = b->s;

	if (s->nplaces >= INT32_MAX - 1 || b->ntags + ntags > UINT32_MAX) {
		errno = EOVERFLOW;
		return -1;
	}
	if (index_grow(&s->places, &b->placecap, s->nplaces + 1,
	    sizeof(*s->places)) != 0 ||
	    index_grow(&s->pos, &b->poscap, s->nplaces + 1,
	    sizeof(*s->pos)) != 0 ||
	    index_grow(&s->tags, &b->tagcap, b->ntags + ntags,
	    sizeof(*s->tags)) != 0)
		return -1;
	return idmap_reserve(&s->ids, s->places, s->nplaces);
}

/* Tags, hours and words; on failure the caller rolls back. */
static int
place_fill(struct snap_builder *b, const struct snap_place_in *p,
    struct snap_place *sp)
{
	int64_t hours = -1;

	sp->tags = (uint32_t)b->ntags;
	if (place_tags(b, &b->s->cats, p->categories, p->ncat) != 0 ||
	    place_tags(b, &b->s->cuisines, p->cuisines, p->ncui) != 0)
		return -1;
	if (p->hours != NULL && (hours = place_hours(b, p->hours)) < 0)
		return -1;
	sp->hours = (int32_t)hours;
	if (index_text_add(&b->text, b->s->nplaces, INDEX_NAME, INDEX_NO_ITEM,
	    p->name) != 0 ||
	    index_text_add(&b->text, b->s->nplaces, INDEX_DESC, INDEX_NO_ITEM,
	    p->description) != 0)
		return -1;
	return 0;
}

/* Forgets the postings of a row that failed half way; its tokens stay. */
static void
text_rollback(struct text_builder *t, const struct text_builder *saved)
{
	t->npost = saved->npost;
	memcpy(t->dlsum, saved->dlsum, sizeof(t->dlsum));
	memcpy(t->ndocs, saved->ndocs, sizeof(t->ndocs));
}

int
snap_add_place(struct snap_builder *b, const struct snap_place_in *p)
{
	struct snapshot *s = b->s;
	struct text_builder saved = b->text;
	size_t ntags = b->ntags;
	struct snap_place *sp;
	uint32_t slot;

	if (!place_valid(b, p)) {
		errno = EINVAL;
		return -1;
	}
	if (idmap_find(&s->ids, s->places, p->id) >= 0) {
		errno = EEXIST;
		return -1;
	}
	if (place_reserve(b, p->ncat + p->ncui) != 0)
		return -1;
	sp = &s->places[s->nplaces];
	memset(sp, 0, sizeof(*sp));
	sp->id = p->id;
	sp->rating = p->rating;
	sp->city = (uint32_t)p->city;
	sp->ncat = (uint8_t)p->ncat;
	sp->ncui = (uint8_t)p->ncui;
	sp->price = (uint8_t)p->price_level;
	sp->offer = p->has_active_offer;
	if (place_fill(b, p, sp) != 0) {
		b->ntags = ntags;
		text_rollback(&b->text, &saved);
		return -1;
	}
	s->pos[s->nplaces].lat = p->lat;
	s->pos[s->nplaces].lon = p->lon == 180.0 ? -180.0 : p->lon;
	slot = idmap_slot(&s->ids, s->places, p->id);
	s->ids.slots[slot] = s->nplaces + 1;
	return (int)s->nplaces++;
}

int
snap_add_menu_item(struct snap_builder *b, int64_t place_id, const char *name)
{
	struct snapshot *s = b->s;
	struct text_builder saved = b->text;
	size_t len = name != NULL ? strlen(name) : 0;
	int64_t place;

	if (name == NULL) {
		errno = EINVAL;
		return -1;
	}
	if ((place = idmap_find(&s->ids, s->places, place_id)) < 0) {
		errno = ENOENT;
		return -1;
	}
	if (s->nitems >= UINT32_MAX - 1 || b->namelen + len + 1 > UINT32_MAX) {
		errno = EOVERFLOW;
		return -1;
	}
	if (index_grow(&s->item_place, &b->itemcap, s->nitems + 1,
	    sizeof(*s->item_place)) != 0 ||
	    index_grow(&s->item_name, &b->itemcap2, s->nitems + 1,
	    sizeof(*s->item_name)) != 0 ||
	    index_grow(&s->names, &b->namecap, b->namelen + len + 1, 1) != 0)
		return -1;
	if (index_text_add(&b->text, (uint32_t)place, INDEX_MENU, s->nitems,
	    name) != 0) {
		text_rollback(&b->text, &saved);
		return -1;
	}
	memcpy(s->names + b->namelen, name, len + 1);
	s->item_place[s->nitems] = (uint32_t)place;
	s->item_name[s->nitems++] = (uint32_t)b->namelen;
	b->namelen += len + 1;
	return 0;
}

static int
build_hours(struct snapshot *s, const struct intern *hours)
{
	uint32_t i;

	s->nhours = hours->n;
	if ((s->hours = calloc(s->nhours + 1, sizeof(*s->hours))) == NULL)
		return -1;
	for (i = 0; i < s->nhours; i++)
		memcpy(&s->hours[i], index_intern_str(hours, i, NULL),
		    sizeof(*s->hours));
	return 0;
}

struct snapshot *
snap_build(struct snap_builder *b)
{
	struct snapshot *s = b->s;
	int rc;

	rc = index_text_build(&b->text, s->nplaces, &s->text);
	if (rc == 0)
		rc = index_grid_build(&s->grid, s->pos, s->nplaces);
	if (rc == 0)
		rc = build_hours(s, &b->hours);
	if (rc != 0) {
		snap_builder_free(b);
		return NULL;
	}
	b->s = NULL;
	snap_builder_free(b);
	s->refs = 1;
	return s;
}

/* --- using ------------------------------------------------------------------ */

void
snap_free(struct snapshot *s)
{
	uint32_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->ncities; i++)
		free(s->cities[i].id);
	free(s->cities);
	free(s->places);
	free(s->pos);
	free(s->tags);
	index_intern_free(&s->cats);
	index_intern_free(&s->cuisines);
	free(s->hours);
	free(s->item_place);
	free(s->item_name);
	free(s->names);
	free(s->ids.slots);
	index_grid_free(&s->grid);
	index_text_free(&s->text);
	free(s);
}

struct snapshot *
snap_ref(struct snapshot *s)
{
	__atomic_fetch_add(&s->refs, 1, __ATOMIC_RELAXED);
	return s;
}

void
snap_unref(struct snapshot *s)
{
	if (s != NULL && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0)
		snap_free(s);
}

unsigned
snap_refs(const struct snapshot *s)
{
	return __atomic_load_n(&s->refs, __ATOMIC_RELAXED);
}

uint32_t
snap_nplaces(const struct snapshot *s)
{
	return s->nplaces;
}

int64_t
snap_place_id(const struct snapshot *s, uint32_t place)
{
	return s->places[place].id;
}

int64_t
snap_find(const struct snapshot *s, int64_t id)
{
	return idmap_find(&s->ids, s->places, id);
}

const char *
snap_item_name(const struct snapshot *s, uint32_t item)
{
	return s->names + s->item_name[item];
}

static bool
hours_within(const struct snap_hours *h, int day, int minute)
{
	int i;

	for (i = 0; i < h->n[day]; i++)
		if (h->iv[day][i].open <= minute && minute < h->iv[day][i].close)
			return true;
	return false;
}

int
snap_open_at(const struct snapshot *s, uint32_t place, int day, int minute)
{
	const struct snap_hours *h;
	int32_t idx = s->places[place].hours;

	if (idx < 0)
		return -1;
	h = &s->hours[idx];
	/* today's intervals, or yesterday's running past midnight */
	return hours_within(h, day, minute) ||
	    hours_within(h, (day + SNAP_DAYS - 1) % SNAP_DAYS,
	    minute + SNAP_MIN_PER_DAY);
}

/* --- holder ----------------------------------------------------------------- */

void
snap_holder_init(struct snap_holder *h)
{
	pthread_mutex_init(&h->mu, NULL);
	h->cur = NULL;
}

struct snapshot *
snap_holder_get(struct snap_holder *h)
{
	struct snapshot *s;

	pthread_mutex_lock(&h->mu);
	if ((s = h->cur) != NULL)
		snap_ref(s);
	pthread_mutex_unlock(&h->mu);
	return s;
}

void
snap_holder_set(struct snap_holder *h, struct snapshot *s)
{
	struct snapshot *old;

	pthread_mutex_lock(&h->mu);
	old = h->cur;
	h->cur = s;
	pthread_mutex_unlock(&h->mu);
	snap_unref(old);
}

void
snap_holder_fini(struct snap_holder *h)
{
	snap_holder_set(h, NULL);
	pthread_mutex_destroy(&h->mu);
}
