/*
 * index.c: the spatial grid, the text index with its stem and typo tables,
 * and the intern table they are built with (see index.h; the words' keys
 * come from analyze.c). Building allocates and may fail with ENOMEM;
 * querying never fails: a nearest-first walk that cannot allocate its
 * list of cells walks them unordered instead.
 */
#include "ranker/index.h"
#include "ranker/small_angle.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GRID_STEP   0.01            /* degrees of latitude per row */
#define GRID_ROWS   18000u
#define DEG         (M_PI / 180.0)

int
index_grow(void *pp, size_t *cap, size_t need, size_t size)
{
	void **p = pp, *np;
	size_t ncap = *cap ? *cap : 16;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	if (ncap > SIZE_MAX / size) {
		errno = ENOMEM;
		return -1;
	}
	if ((np = realloc(*p, ncap * size)) == NULL)
		return -1;
	*p = np;
	*cap = ncap;
	return 0;
}

int
index_u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* --- intern ----------------------------------------------------------------- */

static uint32_t
hash_bytes(const void *p, size_t len)
{
	const unsigned char *s = p;
	uint32_t h = 2166136261u;       /* FNV-1a */

	while (len-- > 0)
		h = (h ^ *s++) * 16777619u;
	return h;
}

static bool
intern_eq(const struct intern *t, uint32_t id, const void *p, size_t len)
{
	return t->len[id] == len && memcmp(t->buf + t->off[id], p, len) == 0;
}

/* The slot holding p, or the empty slot where it would go. */
static uint32_t
intern_slot(const struct intern *t, const void *p, size_t len)
{
	uint32_t mask = t->nslots - 1, i = hash_bytes(p, len) & mask;

	while (t->slots[i] != 0 && !intern_eq(t, t->slots[i] - 1, p, len))
		i = (i + 1) & mask;
	return i;
}

static int
intern_rehash(struct intern *t)
{
	uint32_t n = t->nslots ? t->nslots * 2 : 1024, id, i;
	uint32_t *old = t->slots, oldn = t->nslots;

	if (n == 0 || (t->slots = calloc(n, sizeof(*t->slots))) == NULL) {
		t->slots = old;
		errno = ENOMEM;
		return -1;
	}
	t->nslots = n;
	for (i = 0; i < oldn; i++) {
		if ((id = old[i]) == 0)
			continue;
		t->slots[intern_slot(t, t->buf + t->off[id - 1],
		    t->len[id - 1])] = id;
	}
	free(old);
	return 0;
}

static int64_t
intern_append(struct intern *t, const void *p, size_t len)
{
	if (t->buflen + len > UINT32_MAX || t->n == UINT32_MAX - 1) {
		errno = EOVERFLOW;
		return -1;
	}
	if (index_grow(&t->buf, &t->bufcap, t->buflen + len + 1, 1) != 0 ||
	    index_grow(&t->off, &t->offcap, t->n + 1, sizeof(*t->off)) != 0 ||
	    index_grow(&t->len, &t->lencap, t->n + 1, sizeof(*t->len)) != 0)
		return -1;
	memcpy(t->buf + t->buflen, p, len);
	t->buf[t->buflen + len] = '\0';
	t->off[t->n] = (uint32_t)t->buflen;
	t->len[t->n] = (uint32_t)len;
	t->buflen += len + 1;
	return t->n++;
}

int64_t
index_intern(struct intern *t, const void *p, size_t len)
{
	uint32_t i;
	int64_t id;

	if ((t->n + 1) * 2 > t->nslots && intern_rehash(t) != 0)
		return -1;
	i = intern_slot(t, p, len);
	if (t->slots[i] != 0)
		return t->slots[i] - 1;
	if ((id = intern_append(t, p, len)) < 0)
		return -1;
	t->slots[i] = (uint32_t)id + 1;
	return id;
}

int64_t
index_intern_find(const struct intern *t, const void *p, size_t len)
{
	uint32_t i;

	if (t->nslots == 0)
		return -1;
	i = intern_slot(t, p, len);
	return t->slots[i] != 0 ? (int64_t)t->slots[i] - 1 : -1;
}

const char *
index_intern_str(const struct intern *t, uint32_t id, size_t *len)
{
	if (len != NULL)
		*len = t->len[id];
	return t->buf + t->off[id];
}

void
index_intern_free(struct intern *t)
{
	free(t->slots);
	free(t->off);
	free(t->len);
	free(t->buf);
	memset(t, 0, sizeof(*t));
}

/* --- spatial grid ----------------------------------------------------------- */

static uint32_t
grid_row(double lat)
{
	double r = floor((lat + 90.0) / GRID_STEP);

	if (r < 0)
		return 0;
	return r >= GRID_ROWS ? GRID_ROWS - 1 : (uint32_t)r;
}

static uint32_t
grid_ncols(uint32_t row)
{
	double c = cos(((row + 0.5) * GRID_STEP - 90.0) * DEG);

	if (c < 0.001)
		c = 0.001;
	return (uint32_t)ceil(360.0 / (GRID_STEP / c));
}

/* Longitudes -180 .. 180, both ends included (180 goes in the last column). */
static uint32_t
grid_col(uint32_t row, double lon)
{
	uint32_t ncols = grid_ncols(row);
	double c = floor((lon + 180.0) * ncols / 360.0);

	if (c < 0)
		return 0;
	return c >= ncols ? ncols - 1 : (uint32_t)c;
}

static uint64_t
grid_key(uint32_t row, uint32_t col)
{
	return (uint64_t)row << 32 | col;
}

struct keyed {
	uint64_t key;
	uint32_t place;
};

static int
keyed_cmp(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->place < y->place ? -1 : x->place > y->place;
}

static int
grid_fill(struct grid *g, const struct keyed *k, uint32_t n)
{
	uint32_t i;

	g->keys = malloc((n + 1) * sizeof(*g->keys));
	g->start = malloc((n + 1) * sizeof(*g->start));
	g->items = malloc((n + 1) * sizeof(*g->items));
	if (g->keys == NULL || g->start == NULL || g->items == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if (i == 0 || k[i].key != k[i - 1].key) {
			g->keys[g->ncells] = k[i].key;
			g->start[g->ncells++] = i;
		}
		g->items[i] = k[i].place;
	}
	g->start[g->ncells] = n;
	return 0;
}

int
index_grid_build(struct grid *g, const struct index_point *pts, uint32_t n)
{
	struct keyed *k;
	uint32_t i, row;
	int rc;

	memset(g, 0, sizeof(*g));
	if ((k = malloc((n + 1) * sizeof(*k))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		row = grid_row(pts[i].lat);
		k[i].key = grid_key(row, grid_col(row, pts[i].lon));
		k[i].place = i;
	}
	qsort(k, n, sizeof(*k), keyed_cmp);
	if ((rc = grid_fill(g, k, n)) != 0)
		index_grid_free(g);
	free(k);
	return rc;
}

void
index_grid_free(struct grid *g)
{
	free(g->keys);
	free(g->start);
	free(g->items);
	memset(g, 0, sizeof(*g));
}

/* First occupied cell with a key >= key. */
static uint32_t
grid_lower(const struct grid *g, uint64_t key)
{
	uint32_t lo = 0, hi = g->ncells, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (g->keys[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* What a walk over the cells does with each occupied cell's places. */
struct near_cells;

struct grid_walk {
	index_cell_fn *fn;          /* each cell, or NULL */
	void *arg;
	bool ranges;                /* fn once per row's run of cells */
	struct near_cells *cells;   /* or: collect the occupied cells */
	size_t cap;                 /* of cells->cell */
	bool failed;                /* out of memory collecting them */
};

static void near_collect(struct grid_walk *w, uint32_t c);

/* Walks the occupied cells of columns c0..c1 (c0 <= c1) of row. */
static void
grid_visit(const struct grid *g, uint32_t row, uint32_t c0, uint32_t c1,
    struct grid_walk *w)
{
	uint64_t last = grid_key(row, c1);
	uint32_t c, first = grid_lower(g, grid_key(row, c0));

	if (w->ranges) {
		for (c = first; c < g->ncells && g->keys[c] <= last; c++)
			;
		if (c > first)
			w->fn(w->arg, g->start[first], g->start[c]);
		return;
	}
	for (c = first; c < g->ncells && g->keys[c] <= last; c++) {
		if (w->cells != NULL)
			near_collect(w, c);
		if (w->fn != NULL)
			w->fn(w->arg, g->start[c], g->start[c + 1]);
	}
}

/* Visits the longitudes lo..hi of row, wrapping around the antimeridian. */
static void
grid_visit_lon(const struct grid *g, uint32_t row, double lo, double hi,
    struct grid_walk *w)
{
	uint32_t last = grid_ncols(row) - 1;

	if (hi - lo >= 360.0) {
		grid_visit(g, row, 0, last, w);
		return;
	}
	if (lo <= -180.0) {
		grid_visit(g, row, grid_col(row, lo + 360.0), last, w);
		lo = -180.0;
	}
	if (hi >= 180.0) {
		grid_visit(g, row, 0, grid_col(row, hi - 360.0), w);
		hi = 180.0;
	}
	grid_visit(g, row, grid_col(row, lo), grid_col(row, hi), w);
}

/*
 * The circle of angular radius delta around (lat, lon) lies within
 * lat +- delta and, unless it holds a pole, within lon +- asin(sin(delta) /
 * cos(lat)): the widest a spherical cap gets.
 */
static void
grid_walk(const struct grid *g, double lat, double lon, double radius_m,
    struct grid_walk *w)
{
	double delta = radius_m / INDEX_EARTH_R, ddeg = delta / DEG, dlon;
	uint32_t row, r0, r1;

	if (g->ncells == 0)
		return;
	r0 = grid_row(lat - ddeg);
	r1 = grid_row(lat + ddeg);
	if (lat + ddeg >= 90.0 || lat - ddeg <= -90.0 || delta >= M_PI / 2)
		dlon = 360.0;
	else
		dlon = asin(sin(delta) / cos(lat * DEG)) / DEG;
	for (row = r0; row <= r1; row++)
		grid_visit_lon(g, row, lon - dlon, lon + dlon, w);
}

void
index_grid_query(const struct grid *g, double lat, double lon,
    double radius_m, index_cell_fn *fn, void *arg)
{
	struct grid_walk w = { fn, arg, false, NULL, 0, false };

	grid_walk(g, lat, lon, radius_m, &w);
}

void
index_grid_ranges(const struct grid *g, double lat, double lon,
    double radius_m, index_cell_fn *fn, void *arg)
{
	struct grid_walk w = { fn, arg, true, NULL, 0, false };

	grid_walk(g, lat, lon, radius_m, &w);
}

/* --- the nearest cells first -------------------------------------------------- */

/*
 * A lower bound of the distance from (lat, lon) to any point of cell c:
 * the larger of the latitude gap (a meridian's arc) and the distance to
 * the great circle of the nearer meridian edge, asin(sin(dlon) cos(lat)),
 * which no point at that longitude gap can beat. A metre less, so that
 * rounding never puts a place nearer than its cell's bound. coslat is
 * cos(lat), w the width of the cell's row's columns, in degrees.
 */
static double
cell_dmin(const struct grid *g, uint32_t c, double lat, double lon,
    double coslat, double w)
{
	uint32_t row = (uint32_t)(g->keys[c] >> 32);
	uint32_t col = (uint32_t)(g->keys[c] & 0xffffffffu);
	double lat0 = row * GRID_STEP - 90.0, lat1 = lat0 + GRID_STEP;
	double lon0 = col * w - 180.0, lon1 = lon0 + w;
	double dlat = 0, dlon = 0, a, b, e, d;

	if (lat < lat0)
		dlat = lat0 - lat;
	else if (lat > lat1)
		dlat = lat - lat1;
	if (lon < lon0 || lon > lon1) {
		e = lon0 - lon;                 /* east to lon0, 0 .. 360 */
		d = lon - lon1;                 /* west to lon1 */
		e += e < 0 ? 360.0 : 0;
		d += d < 0 ? 360.0 : 0;
		dlon = e < d ? e : d;
	}
	a = dlat * DEG * INDEX_EARTH_R;
	/* below SMALL_RAD, sin(dlon) cos(lat) < sin(SMALL_RAD) as well */
	if (dlon * DEG < SMALL_RAD)
		b = asin_small(sin_small(dlon * DEG) * coslat) * INDEX_EARTH_R;
	else
		b = asin(fmin(1.0, fabs(sin(dlon * DEG)) * coslat)) *
		    INDEX_EARTH_R;
	d = (a > b ? a : b) - 1.0;
	return d > 0 ? d : 0;
}

#define NEAR_BUCKETS    64

/* The cells of a nearest-first walk, ordered by distance bucket. */
struct near_cells {
	uint32_t *cell;             /* occupied cells, then in bucket order */
	double *dmin;               /* ... and their lower bounds */
	size_t n;
	size_t first[NEAR_BUCKETS + 2];     /* bucket b: first[b] .. first[b+1] */
};

static void
near_collect(struct grid_walk *w, uint32_t c)
{
	struct near_cells *nc = w->cells;

	if (w->failed || index_grow(&nc->cell, &w->cap, nc->n + 1,
	    sizeof(*nc->cell)) != 0) {
		w->failed = true;
		return;
	}
	nc->cell[nc->n++] = c;
}

static void
near_cells_free(struct near_cells *nc)
{
	free(nc->cell);
	free(nc->dmin);
}

/* Counting sort of nc's cells by bucket of bucket_m metres. */
static int
near_cells_order(struct near_cells *nc, const struct grid *g, double lat,
    double lon, double bucket_m)
{
	uint32_t *cell = NULL, row, wrow = UINT32_MAX;
	double *dmin = NULL, *d = NULL, coslat = cos(lat * DEG), w = 0;
	size_t i, b, at[NEAR_BUCKETS + 1];

	if ((cell = malloc((nc->n + 1) * sizeof(*cell))) == NULL ||
	    (dmin = malloc((nc->n + 1) * sizeof(*dmin))) == NULL ||
	    (d = malloc((nc->n + 1) * sizeof(*d))) == NULL) {
		free(cell);
		free(dmin);
		return -1;
	}
	memset(nc->first, 0, sizeof(nc->first));
	for (i = 0; i < nc->n; i++) {
		/* the cells come row by row: a row's width once per row */
		if ((row = (uint32_t)(g->keys[nc->cell[i]] >> 32)) != wrow) {
			wrow = row;
			w = 360.0 / grid_ncols(row);
		}
		d[i] = cell_dmin(g, nc->cell[i], lat, lon, coslat, w);
		b = (size_t)fmin(d[i] / bucket_m, NEAR_BUCKETS);
		nc->first[b + 1]++;
	}
	for (b = 0; b <= NEAR_BUCKETS; b++) {
		nc->first[b + 1] += nc->first[b];
		at[b] = nc->first[b];
	}
	for (i = 0; i < nc->n; i++) {
		b = (size_t)fmin(d[i] / bucket_m, NEAR_BUCKETS);
		cell[at[b]] = nc->cell[i];
		dmin[at[b]++] = d[i];
	}
	free(d);
	free(nc->cell);
	nc->cell = cell;
	nc->dmin = dmin;
	return 0;
}

void
index_grid_nearest(const struct grid *g, double lat, double lon,
    double radius_m, index_cell_fn *fn, index_done_fn *done, void *arg)
{
	struct near_cells nc = { 0 };
	struct grid_walk w = { NULL, NULL, false, &nc, 0, false };
	double bucket_m = fmax(radius_m / NEAR_BUCKETS, 50.0);
	size_t b, i, c;

	grid_walk(g, lat, lon, radius_m, &w);
	if (w.failed || near_cells_order(&nc, g, lat, lon, bucket_m) != 0) {
		near_cells_free(&nc);
		index_grid_query(g, lat, lon, radius_m, fn, arg);
		return;
	}
	for (b = 0; b <= NEAR_BUCKETS; b++) {
		if (nc.first[b] < nc.first[b + 1] && done(arg, b * bucket_m))
			break;
		for (i = nc.first[b]; i < nc.first[b + 1]; i++) {
			c = nc.cell[i];
			if (!done(arg, nc.dmin[i]))
				fn(arg, g->start[c], g->start[c + 1]);
		}
	}
	near_cells_free(&nc);
}

/* --- text index ------------------------------------------------------------- */

/* Appends one posting per distinct token of ids[0..n). */
static int
text_postings(struct text_builder *b, uint32_t *ids, size_t n,
    uint32_t place, enum index_field field, uint32_t item)
{
	struct posting *p;
	size_t i, j;

	qsort(ids, n, sizeof(*ids), index_u32_cmp);
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && ids[j] == ids[i]; j++)
			;
		if (index_grow(&b->post, &b->postcap, b->npost + 1,
		    sizeof(*b->post)) != 0)
			return -1;
		p = &b->post[b->npost++];
		p->token = ids[i];
		p->place = place;
		p->item = item;
		p->dl = (uint16_t)n;
		p->field = (uint8_t)field;
		p->tf = (uint8_t)(j - i > 255 ? 255 : j - i);
	}
	return 0;
}

/* The last stem of key id, 0 when none yet (room made for it). */
static uint32_t *
text_last_stem(struct text_builder *b, uint32_t id)
{
	if (id >= b->nlast) {
		if (index_grow(&b->last_stem, &b->lastcap, (size_t)id + 1,
		    sizeof(*b->last_stem)) != 0)
			return NULL;
		memset(b->last_stem + b->nlast, 0,
		    ((size_t)id + 1 - b->nlast) * sizeof(*b->last_stem));
		b->nlast = (size_t)id + 1;
	}
	return &b->last_stem[id];
}

/* Records that key id has a stem that differs from it. */
static int
text_stem_pair(struct text_builder *b, uint32_t id, const char *stem,
    size_t len)
{
	uint32_t pair[2], *last;
	int64_t sid;

	if ((last = text_last_stem(b, id)) == NULL ||
	    (sid = index_intern(&b->stems, stem, len)) < 0)
		return -1;
	pair[0] = id;
	pair[1] = (uint32_t)sid;
	if (index_intern(&b->pairs, pair, sizeof(pair)) < 0)
		return -1;
	*last = (uint32_t)sid + 2;
	return 0;
}

/*
 * The stem of a word of key id: recorded unless it is the key itself or
 * the stem the key's last word had (most words come again and again, and
 * two words of one key have one stem but for the rare Latin and Cyrillic
 * pair), which saves the two lookups for nearly every word.
 */
static int
text_word_stem(struct text_builder *b, uint32_t id,
    const struct analyze_word *w)
{
	uint32_t *last;
	const char *s;
	size_t len;

	if (w->stemlen == w->keylen && memcmp(w->stem, w->key, w->keylen) == 0)
		return 0;
	if ((last = text_last_stem(b, id)) == NULL)
		return -1;
	if (*last >= 2) {
		s = index_intern_str(&b->stems, *last - 2, &len);
		if (len == w->stemlen && memcmp(s, w->stem, len) == 0)
			return 0;
	}
	return text_stem_pair(b, id, w->stem, w->stemlen);
}

int
index_text_add(struct text_builder *b, struct analyzer *an, uint32_t place,
    enum index_field field, uint32_t item, const char *s)
{
	uint32_t ids[INDEX_FIELD_TOKENS];
	struct analyze_word w;
	size_t n = 0;
	int64_t id;

	if (s == NULL)
		return 0;
	while (n < INDEX_FIELD_TOKENS && analyze_next(an, &s, &w)) {
		if ((id = index_intern(&b->dict, w.key, w.keylen)) < 0 ||
		    text_word_stem(b, (uint32_t)id, &w) != 0)
			return -1;
		ids[n++] = (uint32_t)id;
	}
	b->dlsum[field] += n;
	b->ndocs[field]++;
	return text_postings(b, ids, n, place, field, item);
}

int
index_text_keep_stems(struct text_builder *b, const struct text_index *old,
    const uint32_t *newid)
{
	uint32_t sid, k, r;
	const char *stem;
	size_t len;

	for (sid = 0; sid < old->stems.n; sid++) {
		stem = index_intern_str(&old->stems, sid, &len);
		for (k = old->stem_start[sid]; k < old->stem_start[sid + 1];
		    k++) {
			r = old->stem_keys[k];
			if (newid[r] != UINT32_MAX &&
			    text_stem_pair(b, newid[r], stem, len) != 0)
				return -1;
		}
	}
	return 0;
}

struct tokref {
	const char *s;
	uint32_t len;
	uint32_t id;
};

static int
tokref_cmp(const void *a, const void *b)
{
	const struct tokref *x = a, *y = b;
	int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);

	return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

/* Fills ti->sorted (rank -> id) and returns rank (id -> rank), or NULL. */
static uint32_t *
text_sort_dict(struct text_index *ti)
{
	uint32_t n = ti->dict.n, i, *rank;
	struct tokref *r;
	size_t len;

	r = malloc((n + 1) * sizeof(*r));
	rank = malloc((n + 1) * sizeof(*rank));
	ti->sorted = malloc((n + 1) * sizeof(*ti->sorted));
	if (r == NULL || rank == NULL || ti->sorted == NULL) {
		free(r);
		free(rank);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		r[i].s = index_intern_str(&ti->dict, i, &len);
		r[i].len = (uint32_t)len;
		r[i].id = i;
	}
	qsort(r, n, sizeof(*r), tokref_cmp);
	for (i = 0; i < n; i++) {
		ti->sorted[i] = r[i].id;
		rank[r[i].id] = i;
	}
	free(r);
	return rank;
}

/*
 * Stable counting sort of src[0..n) into dst, by token or by place (keys
 * below nkeys). With start, also the first index of each key (nkeys + 1).
 */
static int
text_csort(const struct posting *src, struct posting *dst, size_t n,
    uint32_t nkeys, bool by_token, uint32_t *start)
{
	size_t *cnt, i, k;
	uint32_t key;

	if ((cnt = calloc((size_t)nkeys + 1, sizeof(*cnt))) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		cnt[(by_token ? src[i].token : src[i].place) + 1]++;
	for (k = 0; k < nkeys; k++)
		cnt[k + 1] += cnt[k];
	for (k = 0; start != NULL && k <= nkeys; k++)
		start[k] = (uint32_t)cnt[k];
	for (i = 0; i < n; i++) {
		key = by_token ? src[i].token : src[i].place;
		dst[cnt[key]++] = src[i];
	}
	free(cnt);
	return 0;
}

/* Postings of a token are sorted by place: df counts the changes. */
static void
text_count_df(struct text_index *ti)
{
	uint32_t t, i;

	for (t = 0; t < ti->ntok; t++) {
		ti->df[t] = 0;
		for (i = ti->start[t]; i < ti->start[t + 1]; i++)
			if (i == ti->start[t] ||
			    ti->post[i].place != ti->post[i - 1].place)
				ti->df[t]++;
	}
}

static void
text_avgdl(struct text_index *ti, const struct text_builder *b)
{
	int f;

	for (f = 0; f < INDEX_NFIELDS; f++) {
		ti->avgdl[f] = b->ndocs[f] > 0 ?
		    (double)b->dlsum[f] / (double)b->ndocs[f] : 1.0;
		if (ti->avgdl[f] <= 0)
			ti->avgdl[f] = 1.0;
	}
}

/* Sorts the postings by token, then place; fills start and df. */
static int
text_arrange(struct text_builder *b, struct text_index *ti,
    const uint32_t *rank)
{
	struct posting *tmp;
	size_t i, n = b->npost;

	for (i = 0; i < n; i++)
		b->post[i].token = rank[b->post[i].token];
	tmp = malloc((n + 1) * sizeof(*tmp));
	ti->start = malloc(((size_t)ti->ntok + 1) * sizeof(*ti->start));
	ti->df = malloc(((size_t)ti->ntok + 1) * sizeof(*ti->df));
	if (tmp == NULL || ti->start == NULL || ti->df == NULL ||
	    text_csort(b->post, tmp, n, ti->nplaces, false, NULL) != 0 ||
	    text_csort(tmp, b->post, n, ti->ntok, true, ti->start) != 0) {
		free(tmp);
		return -1;
	}
	free(tmp);
	ti->post = b->post;
	b->post = NULL;
	text_count_df(ti);
	return 0;
}

/* Stem -> the ranks of its keys: a counting sort of the pairs by stem. */
static int
text_build_stems(struct text_index *ti, struct text_builder *b,
    const uint32_t *rank)
{
	uint32_t ns = b->stems.n, np = b->pairs.n, i, pair[2], *at;

	ti->stems = b->stems;
	memset(&b->stems, 0, sizeof(b->stems));
	ti->stem_start = calloc((size_t)ns + 2, sizeof(*ti->stem_start));
	ti->stem_keys = malloc(((size_t)np + 1) * sizeof(*ti->stem_keys));
	at = malloc(((size_t)ns + 1) * sizeof(*at));
	if (ti->stem_start == NULL || ti->stem_keys == NULL || at == NULL) {
		free(at);
		return -1;
	}
	for (i = 0; i < np; i++) {
		memcpy(pair, index_intern_str(&b->pairs, i, NULL),
		    sizeof(pair));
		ti->stem_start[pair[1] + 1]++;
	}
	for (i = 0; i < ns; i++) {
		ti->stem_start[i + 1] += ti->stem_start[i];
		at[i] = ti->stem_start[i];
	}
	for (i = 0; i < np; i++) {
		memcpy(pair, index_intern_str(&b->pairs, i, NULL),
		    sizeof(pair));
		ti->stem_keys[at[pair[1]]++] = rank[pair[0]];
	}
	for (i = 0; i < ns; i++)
		qsort(ti->stem_keys + ti->stem_start[i], ti->stem_start[i + 1] -
		    ti->stem_start[i], sizeof(*ti->stem_keys), index_u32_cmp);
	free(at);
	return 0;
}

/*
 * The letters of an a-z key as bits: bit c - 'a' when c is in it, bit
 * 32 + c - 'a' when c is in it twice or more; 0 for any other key. An
 * edit flips at most two of these bits (a letter changed: one fewer of
 * one letter, one more of another), so keys within k edits differ in at
 * most 2k bits: a test of one popcount that most keys fail.
 */
static uint64_t
typo_letters(const char *s, size_t len)
{
	uint64_t m = 0, bit;
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] < 'a' || s[i] > 'z')
			return 0;
		bit = 1ull << (s[i] - 'a');
		m |= (m & bit) << 32 | bit;
	}
	return m;
}

/* The a-z keys of INDEX_TYPO_MIN letters or more, grouped by length. */
static int
text_build_typos(struct text_index *ti)
{
	uint32_t at[INDEX_TOKEN_MAX + 2], r, k, *start = ti->typo_start;
	uint64_t mask;
	const char *s;
	size_t len;

	memset(ti->typo_start, 0, sizeof(ti->typo_start));
	for (r = 0; r < ti->ntok; r++) {
		s = index_intern_str(&ti->dict, ti->sorted[r], &len);
		if (len >= INDEX_TYPO_MIN && typo_letters(s, len) != 0)
			start[len + 1]++;
	}
	for (k = 0; k <= INDEX_TOKEN_MAX; k++) {
		start[k + 1] += start[k];
		at[k] = start[k];
	}
	ti->typo_key = malloc(((size_t)start[INDEX_TOKEN_MAX + 1] + 1) *
	    sizeof(*ti->typo_key));
	ti->typo_mask = malloc(((size_t)start[INDEX_TOKEN_MAX + 1] + 1) *
	    sizeof(*ti->typo_mask));
	if (ti->typo_key == NULL || ti->typo_mask == NULL)
		return -1;
	for (r = 0; r < ti->ntok; r++) {
		s = index_intern_str(&ti->dict, ti->sorted[r], &len);
		if (len < INDEX_TYPO_MIN || (mask = typo_letters(s, len)) == 0)
			continue;
		ti->typo_key[at[len]] = r;
		ti->typo_mask[at[len]++] = mask;
	}
	return 0;
}

int
index_text_build(struct text_builder *b, uint32_t nplaces,
    struct text_index *ti)
{
	uint32_t *rank = NULL;
	int rc = -1;

	memset(ti, 0, sizeof(*ti));
	ti->dict = b->dict;
	memset(&b->dict, 0, sizeof(b->dict));
	ti->ntok = ti->dict.n;
	ti->nplaces = nplaces;
	text_avgdl(ti, b);
	if (b->npost >= UINT32_MAX)
		errno = EOVERFLOW;
	else if ((rank = text_sort_dict(ti)) != NULL &&
	    text_build_stems(ti, b, rank) == 0 &&
	    text_build_typos(ti) == 0)
		rc = text_arrange(b, ti, rank);
	free(rank);
	index_text_builder_free(b);
	if (rc != 0)
		index_text_free(ti);
	return rc;
}

void
index_text_builder_free(struct text_builder *b)
{
	index_intern_free(&b->dict);
	index_intern_free(&b->stems);
	index_intern_free(&b->pairs);
	free(b->last_stem);
	free(b->post);
	memset(b, 0, sizeof(*b));
}

void
index_text_free(struct text_index *ti)
{
	index_intern_free(&ti->dict);
	index_intern_free(&ti->stems);
	free(ti->sorted);
	free(ti->stem_start);
	free(ti->stem_keys);
	free(ti->typo_key);
	free(ti->typo_mask);
	free(ti->df);
	free(ti->start);
	free(ti->post);
	memset(ti, 0, sizeof(*ti));
}

/* Compares the token of rank r with tok (only its first len bytes: prefix). */
static int
text_cmp(const struct text_index *ti, uint32_t r, const char *tok,
    size_t len, bool prefix)
{
	size_t rlen;
	const char *s = index_intern_str(&ti->dict, ti->sorted[r], &rlen);
	int c = memcmp(s, tok, rlen < len ? rlen : len);

	if (c != 0)
		return c;
	if (prefix && rlen >= len)
		return 0;
	return (rlen > len) - (rlen < len);
}

/* First rank in [lo, hi) whose token compares above tok (or >= with eq). */
static uint32_t
text_bound(const struct text_index *ti, uint32_t lo, uint32_t hi,
    const char *tok, size_t len, bool prefix, bool eq)
{
	uint32_t mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = text_cmp(ti, mid, tok, len, prefix);
		if (c < 0 || (c == 0 && !eq))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void
index_text_range(const struct text_index *ti, const char *tok, size_t len,
    bool prefix, uint32_t *lo, uint32_t *hi)
{
	*lo = text_bound(ti, 0, ti->ntok, tok, len, prefix, true);
	*hi = text_bound(ti, *lo, ti->ntok, tok, len, prefix, false);
}

size_t
index_text_stem(const struct text_index *ti, const char *stem, size_t len,
    const uint32_t **ranks)
{
	int64_t id = index_intern_find(&ti->stems, stem, len);

	if (id < 0)
		return 0;
	*ranks = ti->stem_keys + ti->stem_start[id];
	return ti->stem_start[id + 1] - ti->stem_start[id];
}

/* Keeps the cap nearest of the typos found, the first found on a tie. */
static void
typo_keep(uint32_t *ranks, uint8_t *dist, size_t *n, size_t cap, uint32_t r,
    unsigned d)
{
	size_t i, worst = 0;

	if (*n < cap) {
		ranks[*n] = r;
		dist[(*n)++] = (uint8_t)d;
		return;
	}
	for (i = 1; i < *n; i++)
		if (dist[i] >= dist[worst])
			worst = i;
	if (*n > 0 && d < dist[worst]) {
		ranks[worst] = r;
		dist[worst] = (uint8_t)d;
	}
}

/* Nearest first, then by rank (insertion sort: a few dozen at most). */
static void
typo_order(uint32_t *ranks, uint8_t *dist, size_t n)
{
	size_t i, j;
	uint32_t r;
	uint8_t d;

	for (i = 1; i < n; i++) {
		r = ranks[i];
		d = dist[i];
		for (j = i; j > 0 && (dist[j - 1] > d ||
		    (dist[j - 1] == d && ranks[j - 1] > r)); j--) {
			ranks[j] = ranks[j - 1];
			dist[j] = dist[j - 1];
		}
		ranks[j] = r;
		dist[j] = d;
	}
}

size_t
index_text_typos(const struct text_index *ti, const char *key, size_t len,
    uint32_t *ranks, uint8_t *dist, size_t cap)
{
	uint64_t mq = typo_letters(key, len);
	size_t n = 0, m, lo, hi, klen;
	uint32_t k;
	unsigned maxe, d;
	const char *s;

	if (mq == 0 || len < INDEX_TYPO_MIN || len > INDEX_TOKEN_MAX ||
	    ti->typo_key == NULL)
		return 0;
	lo = len - 2 > INDEX_TYPO_MIN ? len - 2 : INDEX_TYPO_MIN;
	hi = len + 2 < INDEX_TOKEN_MAX ? len + 2 : INDEX_TOKEN_MAX;
	for (m = lo; m <= hi; m++) {
		maxe = analyze_max_edits(len, m);
		if ((m > len ? m - len : len - m) > maxe)
			continue;
		for (k = ti->typo_start[m]; k < ti->typo_start[m + 1]; k++) {
			if ((unsigned)__builtin_popcountll(mq ^
			    ti->typo_mask[k]) > 2 * maxe)
				continue;
			s = index_intern_str(&ti->dict,
			    ti->sorted[ti->typo_key[k]], &klen);
			d = analyze_distance(key, len, s, klen, maxe);
			if (d > 0 && d <= maxe)
				typo_keep(ranks, dist, &n, cap, ti->typo_key[k],
				    d);
		}
	}
	typo_order(ranks, dist, n);
	return n;
}

double
index_idf(uint64_t nplaces, uint64_t df)
{
	double n = (double)nplaces;

	if (df > nplaces)
		df = nplaces;
	return log(1.0 + (n - (double)df + 0.5) / ((double)df + 0.5));
}

double
index_text_tfn(const struct text_index *ti, const struct posting *p)
{
	double tf = p->tf, norm;

	norm = 1.0 - INDEX_BM25_B + INDEX_BM25_B * p->dl / ti->avgdl[p->field];
	return tf * (INDEX_BM25_K1 + 1.0) / (tf + INDEX_BM25_K1 * norm);
}
