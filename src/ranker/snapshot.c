/*
 * snapshot.c: the snapshot builder, the built snapshot's accessors, its
 * reference count, the snapshots made from another with a few offer flags
 * changed or with an overlay of changed places, and the holder that swaps
 * snapshots (see snapshot.h).
 * Opening hours are interned: most places share a few weekly schedules.
 */
#include "ranker/snapshot.h"
#include "ranker/suggest.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct snap_builder {
	struct snapshot *s;
	size_t placecap, poscap, citycap, tagcap, itemcap, itemcap2, namecap;
	size_t doccap, offercap, pnamecap, pnamescap;
	size_t ntags, namelen, pnameslen;
	uint8_t *offer;             /* per place: its flag, until built */
	struct intern hours;        /* distinct struct snap_hours, as bytes */
	struct text_builder text;
	struct analyzer *an;        /* the words' keys; the building thread's */
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
	if ((b->s = calloc(1, sizeof(*b->s))) == NULL ||
	    (b->an = analyzer_new()) == NULL) {
		free(b->s);
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
	free(b->offer);
	index_intern_free(&b->hours);
	index_text_builder_free(&b->text);
	analyzer_free(b->an);
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
	    sizeof(*s->tags)) != 0 ||
	    index_grow(&s->textdocs, &b->doccap, s->nplaces + 1,
	    sizeof(*s->textdocs)) != 0 ||
	    index_grow(&b->offer, &b->offercap, s->nplaces + 1, 1) != 0)
		return -1;
	return idmap_reserve(&s->ids, s->places, s->nplaces);
}

/* The name of the place about to be added (s->nplaces); NULL is "". */
static int
pname_add(struct snap_builder *b, const char *name)
{
	struct snapshot *s = b->s;
	size_t len = name != NULL ? strlen(name) : 0;

	if (b->pnameslen + len + 1 > UINT32_MAX) {
		errno = EOVERFLOW;
		return -1;
	}
	if (index_grow(&s->pname, &b->pnamecap, s->nplaces + 1,
	    sizeof(*s->pname)) != 0 ||
	    index_grow(&s->pnames, &b->pnamescap, b->pnameslen + len + 1,
	    1) != 0)
		return -1;
	if (len > 0)
		memcpy(s->pnames + b->pnameslen, name, len);
	s->pnames[b->pnameslen + len] = '\0';
	s->pname[s->nplaces] = (uint32_t)b->pnameslen;
	b->pnameslen += len + 1;
	return 0;
}

/*
 * The text of a place's categories and cuisines for the text index, "_"
 * read as a space ("fast_food" is "fast food"), in buf[size]; NULL when
 * it has none. Tags are short words (the API's 32 characters), 16 of
 * each at most: buf holds them.
 */
static const char *
tags_text(const struct snap_place_in *p, char *buf, size_t size)
{
	size_t i, n = 0, k;
	const char *t;

	for (i = 0; i < p->ncat + p->ncui; i++) {
		t = i < p->ncat ? p->categories[i] : p->cuisines[i - p->ncat];
		for (k = 0; t[k] != '\0' && n + 2 < size; k++)
			buf[n++] = t[k] == '_' ? ' ' : t[k];
		buf[n++] = ' ';
	}
	buf[n] = '\0';
	return n > 0 ? buf : NULL;
}

/* Tags, hours and words; on failure the caller rolls back. */
static int
place_fill(struct snap_builder *b, const struct snap_place_in *p,
    struct snap_place *sp)
{
	char tags[2 * SNAP_MAX_TAGS * 80];
	int64_t hours = -1;

	sp->tags = (uint32_t)b->ntags;
	if (place_tags(b, &b->s->cats, p->categories, p->ncat) != 0 ||
	    place_tags(b, &b->s->cuisines, p->cuisines, p->ncui) != 0)
		return -1;
	if (p->hours != NULL && (hours = place_hours(b, p->hours)) < 0)
		return -1;
	sp->hours = (int32_t)hours;
	if (index_text_add(&b->text, b->an, b->s->nplaces, INDEX_NAME,
	    INDEX_NO_ITEM, p->name) != 0 ||
	    index_text_add(&b->text, b->an, b->s->nplaces, INDEX_DESC,
	    INDEX_NO_ITEM, p->description) != 0 ||
	    index_text_add(&b->text, b->an, b->s->nplaces, INDEX_TAGS,
	    INDEX_NO_ITEM, tags_text(p, tags, sizeof(tags))) != 0)
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
	size_t ntags = b->ntags, pnameslen = b->pnameslen;
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
	if (pname_add(b, p->name) != 0 || place_fill(b, p, sp) != 0) {
		b->ntags = ntags;
		b->pnameslen = pnameslen;
		text_rollback(&b->text, &saved);
		return -1;
	}
	s->textdocs[s->nplaces] = (uint8_t)((p->name != NULL ? 1 : 0) |
	    (p->description != NULL ? 2 : 0) |
	    (p->ncat + p->ncui > 0 ? 4 : 0));
	b->offer[s->nplaces] = p->has_active_offer;
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
	if (index_text_add(&b->text, b->an, (uint32_t)place, INDEX_MENU,
	    s->nitems, name) != 0) {
		text_rollback(&b->text, &saved);
		return -1;
	}
	memcpy(s->names + b->namelen, name, len + 1);
	s->item_place[s->nitems] = (uint32_t)place;
	s->item_name[s->nitems++] = (uint32_t)b->namelen;
	b->namelen += len + 1;
	return 0;
}

/* --- a builder from a snapshot ---------------------------------------------- */

#define SNAP_NONE       UINT32_MAX
#define FROM_DROPPED    1u      /* from.flag: the place is dropped, ... */
#define FROM_SEEN(f)    (2u << (f))     /* ... its field f counted */

/*
 * Old's indexes to new ones. Kept places and items keep their order, so
 * an item's new index is its old one less the dropped items before it:
 * no big table is read at random while the postings are copied.
 */
struct from_map {
	uint8_t *flag;              /* per old place */
	uint32_t *pmap;             /* old place -> new, SNAP_NONE dropped */
	uint32_t *ditems;           /* dropped items, ascending */
	uint8_t *dseen;             /* per dropped item: its length counted */
	size_t nditems, ditemcap;
};

static int
intern_copy(struct intern *dst, const struct intern *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->slots = calloc((size_t)src->nslots + 1, sizeof(*dst->slots));
	dst->off = malloc(((size_t)src->n + 1) * sizeof(*dst->off));
	dst->len = malloc(((size_t)src->n + 1) * sizeof(*dst->len));
	dst->buf = malloc(src->buflen + 1);
	if (dst->slots == NULL || dst->off == NULL || dst->len == NULL ||
	    dst->buf == NULL) {
		index_intern_free(dst);
		errno = ENOMEM;
		return -1;
	}
	if (src->nslots > 0)
		memcpy(dst->slots, src->slots, src->nslots * sizeof(*src->slots));
	if (src->n > 0) {
		memcpy(dst->off, src->off, src->n * sizeof(*src->off));
		memcpy(dst->len, src->len, src->n * sizeof(*src->len));
	}
	if (src->buflen > 0)
		memcpy(dst->buf, src->buf, src->buflen);
	dst->nslots = src->nslots;
	dst->n = src->n;
	dst->offcap = dst->lencap = (size_t)src->n + 1;
	dst->buflen = src->buflen;
	dst->bufcap = src->buflen + 1;
	return 0;
}

/* Where item goes among the dropped ones (its index if it is one). */
static size_t
from_ditem(const struct from_map *m, uint32_t item)
{
	size_t lo = 0, hi = m->nditems, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (m->ditems[mid] < item)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Old's places, less the dropped ones, into b. */
static int
from_places(struct snap_builder *b, const struct snapshot *old,
    const int64_t *drop, size_t ndrop, struct from_map *m)
{
	struct snapshot *s = b->s;
	const struct snap_place *op;
	uint32_t i, slot;
	int64_t at;
	size_t n;

	for (n = 0; n < ndrop; n++)
		if ((at = idmap_find(&old->ids, old->places, drop[n])) >= 0)
			m->flag[at] = FROM_DROPPED;
	for (i = 0; i < old->nplaces; i++) {
		op = &old->places[i];
		m->pmap[i] = SNAP_NONE;
		if (old->ngone > 0 && snap_gone(old, i))
			m->flag[i] = FROM_DROPPED;
		if (m->flag[i] & FROM_DROPPED) {
			b->text.ndocs[INDEX_NAME] -= old->textdocs[i] & 1;
			b->text.ndocs[INDEX_DESC] -= (old->textdocs[i] >> 1) & 1;
			b->text.ndocs[INDEX_TAGS] -= (old->textdocs[i] >> 2) & 1;
			continue;
		}
		n = (size_t)op->ncat + op->ncui;
		if (place_reserve(b, n) != 0 ||
		    pname_add(b, old->pnames + old->pname[i]) != 0)
			return -1;
		s->places[s->nplaces] = *op;
		s->places[s->nplaces].tags = (uint32_t)b->ntags;
		if (n > 0)          /* no tags at all: s->tags is still NULL */
			memcpy(&s->tags[b->ntags], &old->tags[op->tags],
			    n * sizeof(*s->tags));
		b->ntags += n;
		s->pos[s->nplaces] = old->pos[i];
		s->textdocs[s->nplaces] = old->textdocs[i];
		b->offer[s->nplaces] = snap_offer(old, i);
		slot = idmap_slot(&s->ids, s->places, op->id);
		s->ids.slots[slot] = s->nplaces + 1;
		m->pmap[i] = s->nplaces++;
	}
	return 0;
}

/* Old's menu items of the places kept. */
static int
from_items(struct snap_builder *b, const struct snapshot *old,
    struct from_map *m)
{
	struct snapshot *s = b->s;
	const char *name;
	uint32_t i;
	size_t len;

	len = old->nitems > 0 ? old->item_name[old->nitems - 1] +
	    strlen(old->names + old->item_name[old->nitems - 1]) + 1 : 0;
	if (index_grow(&s->item_place, &b->itemcap, old->nitems + 1024,
	    sizeof(*s->item_place)) != 0 ||
	    index_grow(&s->item_name, &b->itemcap2, old->nitems + 1024,
	    sizeof(*s->item_name)) != 0 ||
	    index_grow(&s->names, &b->namecap, len + 65536, 1) != 0)
		return -1;
	for (i = 0; i < old->nitems; i++) {
		if (m->flag[old->item_place[i]] & FROM_DROPPED) {
			if (index_grow(&m->ditems, &m->ditemcap,
			    m->nditems + 1, sizeof(*m->ditems)) != 0)
				return -1;
			m->ditems[m->nditems++] = i;
			b->text.ndocs[INDEX_MENU]--;
			continue;
		}
		name = old->names + old->item_name[i];
		len = strlen(name);
		if (index_grow(&s->item_place, &b->itemcap, s->nitems + 1,
		    sizeof(*s->item_place)) != 0 ||
		    index_grow(&s->item_name, &b->itemcap2, s->nitems + 1,
		    sizeof(*s->item_name)) != 0 ||
		    index_grow(&s->names, &b->namecap, b->namelen + len + 1,
		    1) != 0)
			return -1;
		memcpy(s->names + b->namelen, name, len + 1);
		s->item_place[s->nitems] = m->pmap[old->item_place[i]];
		s->item_name[s->nitems++] = (uint32_t)b->namelen;
		b->namelen += len + 1;
	}
	if ((m->dseen = calloc(m->nditems + 1, 1)) == NULL)
		return -1;
	return 0;
}

/* A posting of a dropped place: its field's length leaves the sums. */
static void
from_forget(struct text_builder *t, struct from_map *m,
    const struct posting *p)
{
	size_t k;

	if (p->field == INDEX_MENU) {
		k = from_ditem(m, p->item);
		if (k < m->nditems && m->dseen[k] == 0) {
			m->dseen[k] = 1;
			t->dlsum[INDEX_MENU] -= p->dl;
		}
	} else if ((m->flag[p->place] & FROM_SEEN(p->field)) == 0) {
		m->flag[p->place] |= (uint8_t)FROM_SEEN(p->field);
		t->dlsum[p->field] -= p->dl;
	}
}

/* Old's postings of the places kept, token by token (a token no place
 * kept has is left out), into b's dictionary under newid[rank]. */
static int
from_postings(struct snap_builder *b, const struct snapshot *old,
    struct from_map *m, uint32_t *newid)
{
	const struct text_index *ti = &old->text;
	struct text_builder *t = &b->text;
	const struct posting *p;
	struct posting *q;
	const char *tok;
	uint32_t r, k;
	size_t len, n;
	int64_t id;

	/* room for all of them at once, and some for the changed places */
	n = ti->start != NULL ? ti->start[ti->ntok] : 0;
	if (index_grow(&t->post, &t->postcap, n + n / 64 + 1024,
	    sizeof(*t->post)) != 0)
		return -1;
	for (r = 0; r < ti->ntok; r++) {
		id = -1;
		newid[r] = UINT32_MAX;
		for (k = ti->start[r]; k < ti->start[r + 1]; k++) {
			p = &ti->post[k];
			if (m->flag[p->place] & FROM_DROPPED) {
				from_forget(t, m, p);
				continue;
			}
			if (id < 0) {
				tok = index_intern_str(&ti->dict,
				    ti->sorted[r], &len);
				if ((id = index_intern(&t->dict, tok, len)) < 0)
					return -1;
				newid[r] = (uint32_t)id;
			}
			if (index_grow(&t->post, &t->postcap, t->npost + 1,
			    sizeof(*t->post)) != 0)
				return -1;
			q = &t->post[t->npost++];
			*q = *p;
			q->token = (uint32_t)id;
			q->place = m->pmap[p->place];
			if (p->item != INDEX_NO_ITEM && m->nditems > 0)
				q->item = p->item -
				    (uint32_t)from_ditem(m, p->item);
		}
	}
	return 0;
}

/* Old's postings and the stems of the keys kept. */
static int
from_text(struct snap_builder *b, const struct snapshot *old,
    struct from_map *m)
{
	uint32_t *newid;
	int rc;

	if ((newid = malloc(((size_t)old->text.ntok + 1) *
	    sizeof(*newid))) == NULL)
		return -1;
	rc = from_postings(b, old, m, newid);
	if (rc == 0)
		rc = index_text_keep_stems(&b->text, &old->text, newid);
	free(newid);
	return rc;
}

struct snap_builder *
snap_builder_from(const struct snapshot *old, const int64_t *drop,
    size_t ndrop)
{
	struct snap_builder *b;
	struct from_map m;
	int rc = -1;
	uint32_t i;

	if ((b = snap_builder_new()) == NULL)
		return NULL;
	memset(&m, 0, sizeof(m));
	m.flag = calloc((size_t)old->nplaces + 1, sizeof(*m.flag));
	m.pmap = malloc(((size_t)old->nplaces + 1) * sizeof(*m.pmap));
	if (m.flag == NULL || m.pmap == NULL)
		goto out;
	for (i = 0; i < old->ncities; i++)
		if (snap_add_city(b, old->cities[i].id,
		    old->cities[i].utc_offset_min) < 0)
			goto out;
	/* the same ids: tags and hours are copied as they are */
	if (intern_copy(&b->s->cats, &old->cats) != 0 ||
	    intern_copy(&b->s->cuisines, &old->cuisines) != 0)
		goto out;
	for (i = 0; i < old->nhours; i++)
		if (index_intern(&b->hours, &old->hours[i],
		    sizeof(old->hours[i])) != (int64_t)i)
			goto out;
	/* old's sums, less the dropped fields as they are met */
	memcpy(b->text.dlsum, old->text_dlsum, sizeof(b->text.dlsum));
	memcpy(b->text.ndocs, old->text_ndocs, sizeof(b->text.ndocs));
	rc = from_places(b, old, drop, ndrop, &m);
	if (rc == 0)
		rc = from_items(b, old, &m);
	if (rc == 0)
		rc = from_text(b, old, &m);
out:
	free(m.flag);
	free(m.pmap);
	free(m.ditems);
	free(m.dseen);
	if (rc != 0) {
		snap_builder_free(b);
		errno = ENOMEM;
		return NULL;
	}
	return b;
}

/*
 * The places of each of one kind of tag (cuisines: cui), by counting:
 * a pass to size each tag's slice, one to fill it; places come in order,
 * so each slice is in place order. -1 on ENOMEM.
 */
static int
build_tag_places(struct snapshot *s, bool cui, struct snap_tag_places *tp)
{
	uint32_t ntags = cui ? s->cuisines.n : s->cats.n, i, k, n, from, tag;
	uint32_t *fill;

	if ((tp->start = calloc((size_t)ntags + 2, sizeof(*tp->start))) == NULL)
		return -1;
	for (i = 0; i < s->nplaces; i++) {
		from = s->places[i].tags + (cui ? s->places[i].ncat : 0);
		n = cui ? s->places[i].ncui : s->places[i].ncat;
		for (k = 0; k < n; k++)
			tp->start[s->tags[from + k] + 2]++;
	}
	for (tag = 0; tag < ntags; tag++)
		tp->start[tag + 2] += tp->start[tag + 1];
	if ((tp->places = malloc(((size_t)tp->start[ntags + 1] + 1) *
	    sizeof(*tp->places))) == NULL)
		return -1;
	fill = tp->start + 1;       /* fill[t]: the next of tag t's slots */
	for (i = 0; i < s->nplaces; i++) {
		from = s->places[i].tags + (cui ? s->places[i].ncat : 0);
		n = cui ? s->places[i].ncui : s->places[i].ncat;
		for (k = 0; k < n; k++)
			tp->places[fill[s->tags[from + k]]++] = i;
	}
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

/* --- offer flags -------------------------------------------------------------- */

static struct snap_chunk *
chunk_ref(struct snap_chunk *k)
{
	__atomic_fetch_add(&k->refs, 1, __ATOMIC_RELAXED);
	return k;
}

static void
chunk_unref(struct snap_chunk *k)
{
	if (k != NULL && __atomic_sub_fetch(&k->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(k);
}

/* Drops s's chunk table and its references to the chunks. */
static void
chunks_free(struct snapshot *s)
{
	uint32_t i;

	for (i = 0; s->offers != NULL && i < s->nchunks; i++)
		chunk_unref(s->offers[i]);
	free(s->offers);
	s->offers = NULL;
	s->nchunks = 0;
}

/* The chunks of a new snapshot, from the builder's flags. */
static int
build_offers(struct snapshot *s, const uint8_t *flag)
{
	uint32_t i, n = (s->nplaces + SNAP_CHUNK - 1) >> SNAP_CHUNK_SHIFT;
	size_t len;

	if ((s->offers = calloc((size_t)n + 1, sizeof(*s->offers))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if ((s->offers[i] = calloc(1, sizeof(*s->offers[i]))) == NULL) {
			s->nchunks = i;
			return -1;
		}
		s->offers[i]->refs = 1;
		len = s->nplaces - (size_t)i * SNAP_CHUNK;
		memcpy(s->offers[i]->flag, flag + (size_t)i * SNAP_CHUNK,
		    len < SNAP_CHUNK ? len : SNAP_CHUNK);
		s->nchunks = i + 1;
	}
	return 0;
}

/* The chunk k of d, d's own (copied from the shared one first); NULL ENOMEM. */
static struct snap_chunk *
chunk_own(struct snapshot *d, const struct snapshot *from, uint32_t k)
{
	struct snap_chunk *c;

	if (d->offers[k] != from->offers[k])
		return d->offers[k];        /* copied already */
	if ((c = malloc(sizeof(*c))) == NULL)
		return NULL;
	memcpy(c->flag, from->offers[k]->flag, sizeof(c->flag));
	c->refs = 1;
	chunk_unref(d->offers[k]);
	return d->offers[k] = c;
}

/*
 * A snapshot that shares s's base, delta and chunks, with a chunk table
 * of its own; NULL on ENOMEM.
 */
static struct snapshot *
snap_share(struct snapshot *s)
{
	struct snapshot *d, *base = s->base != NULL ? s->base : s;
	uint32_t i;

	if ((d = malloc(sizeof(*d))) == NULL)
		return NULL;
	/* the base's arrays, shared; not refs, which other threads count */
	memcpy((char *)d + offsetof(struct snapshot, serial),
	    (const char *)s + offsetof(struct snapshot, serial),
	    sizeof(*d) - offsetof(struct snapshot, serial));
	d->refs = 1;
	d->base = snap_ref(base);
	d->delta = s->delta != NULL ? snap_ref(s->delta) : NULL;
	if ((d->offers = calloc((size_t)s->nchunks + 1,
	    sizeof(*d->offers))) == NULL) {
		d->nchunks = 0;
		snap_free(d);
		errno = ENOMEM;
		return NULL;
	}
	for (i = 0; i < s->nchunks; i++)
		d->offers[i] = chunk_ref(s->offers[i]);
	return d;
}

/* Sets or clears flag of d's own place; -1 on ENOMEM. */
static int
flag_set(struct snapshot *d, const struct snapshot *from, uint32_t place,
    uint8_t flag, bool on)
{
	struct snap_chunk *c;
	uint8_t *f;

	if ((c = chunk_own(d, from, place >> SNAP_CHUNK_SHIFT)) == NULL)
		return -1;
	f = &c->flag[place & (SNAP_CHUNK - 1)];
	*f = on ? (uint8_t)(*f | flag) : (uint8_t)(*f & ~flag);
	return 0;
}

/* The entries of set[0..n) in s's delta, as its own indexes, into d's
 * delta: a new delta made by snap_with_offers(); 0 or -1 (ENOMEM). */
static int
delta_offers(struct snapshot *d, const struct snapshot *s,
    const struct snap_offer_set *set, size_t n)
{
	struct snap_offer_set *local;
	struct snapshot *nd;
	size_t k, m = 0;

	if ((local = calloc(n + 1, sizeof(*local))) == NULL)
		return -1;
	for (k = 0; k < n; k++) {
		if (set[k].place < s->nplaces)
			continue;
		local[m].place = set[k].place - s->nplaces;
		local[m++].on = set[k].on;
	}
	nd = m > 0 ? snap_with_offers(d->delta, local, m) : NULL;
	free(local);
	if (m == 0)
		return 0;
	if (nd == NULL)
		return -1;
	snap_unref(d->delta);
	d->delta = nd;
	return 0;
}

struct snapshot *
snap_with_offers(struct snapshot *s, const struct snap_offer_set *set,
    size_t n)
{
	struct snapshot *d;
	size_t k;

	for (k = 0; k < n; k++)
		if (set[k].place >= snap_nplaces(s)) {
			errno = EINVAL;
			return NULL;
		}
	if ((d = snap_share(s)) == NULL)
		return NULL;
	if (s->delta != NULL && delta_offers(d, s, set, n) != 0)
		goto nomem;
	for (k = 0; k < n; k++)
		if (set[k].place < s->nplaces && flag_set(d, s, set[k].place,
		    SNAP_FLAG_OFFER, set[k].on) != 0)
			goto nomem;
	return d;
nomem:
	snap_free(d);
	errno = ENOMEM;
	return NULL;
}

/* --- the overlay -------------------------------------------------------------- */

struct snap_builder *
snap_delta_builder(const struct snapshot *old, const int64_t *changed,
    size_t n)
{
	struct snap_builder *b;
	uint32_t i;

	if (old->delta != NULL)
		return snap_builder_from(old->delta, changed, n);
	if ((b = snap_builder_new()) == NULL)
		return NULL;
	for (i = 0; i < old->ncities; i++) {
		if (snap_add_city(b, old->cities[i].id,
		    old->cities[i].utc_offset_min) < 0) {
			snap_builder_free(b);
			errno = ENOMEM;
			return NULL;
		}
	}
	return b;
}

struct snapshot *
snap_with_delta(struct snapshot *old, struct snap_builder *b,
    const int64_t *changed, size_t n)
{
	struct snapshot *delta, *d;
	int64_t at;
	size_t k;

	if ((delta = snap_build(b)) == NULL)
		return NULL;
	/* its field lengths weighed against the base's averages, so both
	 * parts compare (score.c takes idf over both parts itself) */
	memcpy(delta->text.avgdl, old->text.avgdl, sizeof(delta->text.avgdl));
	if ((d = snap_share(old)) == NULL) {
		snap_unref(delta);
		return NULL;
	}
	snap_unref(d->delta);
	d->delta = delta;
	for (k = 0; k < n; k++) {
		if ((at = idmap_find(&old->ids, old->places, changed[k])) < 0 ||
		    snap_gone(d, (uint32_t)at))
			continue;
		if (flag_set(d, old, (uint32_t)at, SNAP_FLAG_GONE, true) != 0) {
			snap_free(d);
			errno = ENOMEM;
			return NULL;
		}
		d->ngone++;
	}
	return d;
}

uint32_t
snap_delta_places(const struct snapshot *s)
{
	return s->delta != NULL ? s->delta->nplaces : 0;
}

uint32_t
snap_gone_places(const struct snapshot *s)
{
	return s->ngone;
}

/* Puts arr's n elements of size sz in the order of old (new -> old). */
static int
permute(void *arr, size_t sz, const uint32_t *old, uint32_t n)
{
	char *tmp, *a = arr;
	uint32_t k;

	if ((tmp = malloc(((size_t)n + 1) * sz)) == NULL)
		return -1;
	for (k = 0; k < n; k++)
		memcpy(tmp + (size_t)k * sz, a + (size_t)old[k] * sz, sz);
	memcpy(a, tmp, (size_t)n * sz);
	free(tmp);
	return 0;
}

/* The places' tags again, in the places' (new) order. */
static int
retag(struct snap_builder *b)
{
	struct snapshot *s = b->s;
	uint32_t *tags, k, at = 0, nt;
	struct snap_place *p;

	if ((tags = malloc((b->ntags + 1) * sizeof(*tags))) == NULL)
		return -1;
	for (k = 0; k < s->nplaces; k++) {
		p = &s->places[k];
		nt = (uint32_t)p->ncat + p->ncui;
		if (nt > 0)             /* no place with tags: s->tags is NULL */
			memcpy(tags + at, s->tags + p->tags, nt * sizeof(*tags));
		p->tags = at;
		at += nt;
	}
	free(s->tags);
	s->tags = tags;
	b->tagcap = b->ntags + 1;
	return 0;
}

/*
 * Numbers the places in the order of the grid's cells (s->grid, built on
 * the old numbers), so that the places of a cell, and of nearby cells, are
 * neighbours in every per-place array: a walk over the grid, and a scan of
 * a word's postings (in place order) near a point, then read memory in
 * sequence instead of at random. Every index the builder handed out is
 * renumbered: the per-place arrays (and the tags, laid out again in the
 * same order), menu items' places, postings, the id map, and the grid's
 * own items, which become 0, 1, 2, ... (its cells and keys stay: they
 * follow the positions, which moved with their places).
 */
static int
renumber(struct snap_builder *b)
{
	struct snapshot *s = b->s;
	uint32_t *to, *old = s->grid.items, n = s->nplaces, k;
	size_t i;

	if ((to = malloc(((size_t)n + 1) * sizeof(*to))) == NULL)
		return -1;
	for (k = 0; k < n; k++)
		to[old[k]] = k;
	if (permute(s->places, sizeof(*s->places), old, n) != 0 ||
	    permute(s->pos, sizeof(*s->pos), old, n) != 0 ||
	    permute(s->textdocs, sizeof(*s->textdocs), old, n) != 0 ||
	    permute(b->offer, sizeof(*b->offer), old, n) != 0 ||
	    permute(s->pname, sizeof(*s->pname), old, n) != 0 ||
	    retag(b) != 0) {
		free(to);
		return -1;
	}
	for (i = 0; i < s->nitems; i++)
		s->item_place[i] = to[s->item_place[i]];
	for (i = 0; i < b->text.npost; i++)
		b->text.post[i].place = to[b->text.post[i].place];
	memset(s->ids.slots, 0, (size_t)s->ids.nslots * sizeof(*s->ids.slots));
	for (k = 0; k < n; k++) {
		s->ids.slots[idmap_slot(&s->ids, s->places, s->places[k].id)] =
		    k + 1;
		old[k] = k;
	}
	free(to);
	return 0;
}

struct snapshot *
snap_build(struct snap_builder *b)
{
	struct snapshot *s = b->s;
	int rc;

	memcpy(s->text_dlsum, b->text.dlsum, sizeof(s->text_dlsum));
	memcpy(s->text_ndocs, b->text.ndocs, sizeof(s->text_ndocs));
	rc = index_grid_build(&s->grid, s->pos, s->nplaces);
	if (rc == 0 && s->nplaces > 0)
		rc = renumber(b);
	if (rc == 0)
		rc = index_text_build(&b->text, s->nplaces, &s->text);
	if (rc == 0)
		rc = build_tag_places(s, false, &s->cat_places);
	if (rc == 0)
		rc = build_tag_places(s, true, &s->cui_places);
	if (rc == 0)
		rc = build_hours(s, &b->hours);
	if (rc == 0)
		rc = build_offers(s, b->offer);
	if (rc == 0 && (s->suggest = suggest_build(s)) == NULL)
		rc = -1;
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
	chunks_free(s);
	snap_unref(s->delta);
	if (s->base != NULL) {              /* the rest is the base's */
		snap_unref(s->base);
		free(s);
		return;
	}
	for (i = 0; i < s->ncities; i++)
		free(s->cities[i].id);
	free(s->cities);
	free(s->places);
	free(s->pos);
	free(s->tags);
	free(s->cat_places.start);
	free(s->cat_places.places);
	free(s->cui_places.start);
	free(s->cui_places.places);
	index_intern_free(&s->cats);
	index_intern_free(&s->cuisines);
	free(s->hours);
	free(s->item_place);
	free(s->item_name);
	free(s->names);
	free(s->ids.slots);
	free(s->textdocs);
	free(s->pname);
	free(s->pnames);
	suggest_free(s->suggest);
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
	return s->nplaces + snap_delta_places(s);
}

int64_t
snap_place_id(const struct snapshot *s, uint32_t place)
{
	if (place >= s->nplaces)
		return s->delta->places[place - s->nplaces].id;
	return s->places[place].id;
}

const char *
snap_place_name(const struct snapshot *s, uint32_t place)
{
	if (place >= s->nplaces)
		return snap_place_name(s->delta, place - s->nplaces);
	return s->pnames + s->pname[place];
}

int64_t
snap_find(const struct snapshot *s, int64_t id)
{
	int64_t at;

	if (s->delta != NULL &&
	    (at = idmap_find(&s->delta->ids, s->delta->places, id)) >= 0)
		return s->nplaces + at;
	at = idmap_find(&s->ids, s->places, id);
	return at >= 0 && snap_gone(s, (uint32_t)at) ? -1 : at;
}

bool
snap_offer_at(const struct snapshot *s, uint32_t place)
{
	if (place >= s->nplaces)
		return snap_offer(s->delta, place - s->nplaces);
	return snap_offer(s, place);
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
	return snap_hours_open(s, s->places[place].hours, day, minute);
}

int
snap_hours_open(const struct snapshot *s, int32_t idx, int day, int minute)
{
	const struct snap_hours *h;

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
