/*
 * gen.c: the choices of the demo data generator: which city, cuisine and
 * category a place gets, its name, position, rating, price level, hours,
 * menu and offers. Randomness is splitmix64 (never rand(3)), seeded per
 * place and purpose, and only integer and IEEE double arithmetic is used,
 * so a seed gives byte-identical rows on every run of the same build.
 */
#include "ctl/gen.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define GEN_KM_PER_DEG 111.32
#define GEN_MAX_KM 15.0

enum gen_stream { GEN_PLACE = 1, GEN_MENU = 2, GEN_OFFER = 3 };

struct gen_rng {
	uint64_t s;
};

static uint64_t
gen_next(struct gen_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void
gen_rng_init(struct gen_rng *r, uint64_t seed, uint64_t id,
    enum gen_stream stream)
{
	struct gen_rng m = { seed };

	r->s = gen_next(&m) ^ (id * 0xd1b54a32d192ed03ULL) ^
	    ((uint64_t)stream << 56);
	(void)gen_next(r);
}

/* Uniform in [0, 1). */
static double
gen_unit(struct gen_rng *r)
{
	return (double)(gen_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform in [0, n), n > 0. */
static uint64_t
gen_below(struct gen_rng *r, uint64_t n)
{
	return (uint64_t)(gen_unit(r) * (double)n);
}

static int
gen_chance(struct gen_rng *r, double p)
{
	return gen_unit(r) < p;
}

/* Standard normal (Marsaglia's polar method, one value per call). */
static double
gen_gauss(struct gen_rng *r)
{
	double u, v, s;

	do {
		u = 2.0 * gen_unit(r) - 1.0;
		v = 2.0 * gen_unit(r) - 1.0;
		s = u * u + v * v;
	} while (s >= 1.0 || s == 0.0);
	return u * sqrt(-2.0 * log(s) / s);
}

static const char *
gen_pick(struct gen_rng *r, const char *const *list)
{
	return list[gen_below(r, gendata_count(list))];
}

static size_t
gen_weighted(struct gen_rng *r, const uint64_t *cum, size_t n,
    uint64_t total)
{
	uint64_t x = gen_below(r, total);
	size_t i;

	for (i = 0; i < n - 1; i++)
		if (x < cum[i])
			break;
	return i;
}

static size_t
gen_weighted_u(struct gen_rng *r, const unsigned *w, size_t n)
{
	uint64_t cum[16], total = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		total += w[i];
		cum[i] = total;
	}
	return gen_weighted(r, cum, n, total);
}

/* Appends to a fixed buffer, truncating (never overflowing). */
static void
gen_cat(char *buf, size_t size, const char *fmt, ...)
{
	size_t len = strlen(buf);
	va_list ap;

	if (len + 1 >= size)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + len, size - len, fmt, ap);
	va_end(ap);
}

int
gen_init(struct gen *g, uint64_t seed)
{
	const struct gd_city *c;
	uint64_t w;
	size_t i, j, k;

	memset(g, 0, sizeof(*g));
	g->seed = seed;
	if (gendata_ncities > sizeof(g->city_cum) / sizeof(g->city_cum[0]))
		return -1;
	for (i = 0; i < gendata_ncities; i++) {
		c = &gendata_cities[i];
		g->city_total += c->weight;
		g->city_cum[i] = g->city_total;
		for (j = 0; j < gendata_ncurrencies; j++)
			if (strcmp(gendata_currencies[j].code, c->currency) == 0)
				g->currency[i] = &gendata_currencies[j];
		if (g->currency[i] == NULL)
			return -1;
		for (j = 0; j < GD_NCUISINE; j++) {
			w = gendata_cuisines[j].weight;
			for (k = 0; k < 4 && c->boost[k].cuisine >= 0; k++)
				if ((size_t)c->boost[k].cuisine == j)
					w *= c->boost[k].mult;
			g->cuisine_total[i] += w;
			g->cuisine_cum[i][j] = g->cuisine_total[i];
		}
	}
	for (j = 0; j < GD_NCUISINE; j++)
		if (gendata_cuisines[j].ndishes + gendata_ndrinks < GEN_MENU_MAX ||
		    gendata_cuisines[j].names_en == NULL)
			return -1;
	return 0;
}

/* ---- places ---------------------------------------------------------- */

static const char *const gen_days[7] = {
	"mon", "tue", "wed", "thu", "fri", "sat", "sun"
};

/* "HH:MM" of minutes since midnight; 1440 is "24:00", later wraps. */
static void
gen_hhmm(char *out, int min)
{
	unsigned m = (unsigned)min;

	if (m > 1440)
		m -= 1440;
	snprintf(out, 6, "%02u:%02u", m / 60 % 100, m % 60);
}

/*
 * Opening hours as jsonb text: {"mon":[["09:00","23:00"]],...}. A closed
 * day is either missing or [] (both occur in real feeds); a range may end
 * after midnight (["18:00","02:00"]); round the clock is ["00:00","24:00"].
 */
static void
gen_hours(struct gen_rng *r, int category, char *out, size_t size)
{
	int open, close, late, lunch = 0, allday, closed[7] = { 0 };
	int d, o, c, first = 1;
	char a[6], b[6], a2[6], b2[6];

	out[0] = '\0';
	if (gen_chance(r, 0.10))
		return;                         /* unknown: NULL */
	allday = gen_chance(r, category == GD_FAST_FOOD ? 0.15 :
	    category == GD_BAR ? 0.05 : 0.03);
	switch (category) {
	case GD_CAFE:
		open = 450 + 30 * (int)gen_below(r, 4);
		close = 1140 + 60 * (int)gen_below(r, 4);
		late = 0;
		break;
	case GD_BAKERY:
		open = 420 + 30 * (int)gen_below(r, 3);
		close = 1080 + 60 * (int)gen_below(r, 3);
		late = 0;
		break;
	case GD_BAR:
		open = 1020 + 60 * (int)gen_below(r, 2);
		close = 1440 + 60 * (1 + (int)gen_below(r, 2));
		late = 120;
		break;
	case GD_FAST_FOOD:
		open = 600 + 30 * (int)gen_below(r, 3);
		close = 1380 + 60 * (int)gen_below(r, 2);
		late = 60;
		break;
	default:
		open = 660 + 30 * (int)gen_below(r, 3);
		close = 1320 + 30 * (int)gen_below(r, 5);
		late = 60;
		lunch = gen_chance(r, 0.15);
		break;
	}
	if (!allday) {
		if (gen_chance(r, 0.30))
			closed[category == GD_RESTAURANT ? 0 : 6] = 1;
		else if (gen_chance(r, 0.08))
			closed[0] = closed[6] = 1;
	}
	gen_cat(out, size, "{");
	for (d = 0; d < 7; d++) {
		if (closed[d]) {
			if (gen_chance(r, 0.5))
				gen_cat(out, size, "%s\"%s\":[]",
				    first ? "" : ",", gen_days[d]);
			else
				continue;               /* missing key */
		} else if (allday) {
			gen_cat(out, size, "%s\"%s\":[[\"00:00\",\"24:00\"]]",
			    first ? "" : ",", gen_days[d]);
		} else if (lunch && d < 5) {
			gen_hhmm(a, 720);
			gen_hhmm(b, 900);
			gen_hhmm(a2, 1080);
			gen_hhmm(b2, close);
			gen_cat(out, size, "%s\"%s\":[[\"%s\",\"%s\"],"
			    "[\"%s\",\"%s\"]]", first ? "" : ",", gen_days[d],
			    a, b, a2, b2);
		} else {
			o = open + (d >= 5 && category == GD_CAFE ? 60 : 0);
			c = close + (d == 4 || d == 5 ? late : 0);
			if (c > 1440 + 300)
				c = 1440 + 300;
			gen_hhmm(a, o);
			gen_hhmm(b, c);
			gen_cat(out, size, "%s\"%s\":[[\"%s\",\"%s\"]]",
			    first ? "" : ",", gen_days[d], a, b);
		}
		first = 0;
	}
	gen_cat(out, size, "}");
}

static int
gen_price_level(struct gen_rng *r, int category)
{
	static const unsigned w[GD_NCATEGORY][4] = {
		[GD_RESTAURANT] = { 15, 45, 30, 10 },
		[GD_CAFE] = { 45, 45, 10, 0 },
		[GD_BAR] = { 15, 50, 30, 5 },
		[GD_BAKERY] = { 60, 35, 5, 0 },
		[GD_FAST_FOOD] = { 80, 20, 0, 0 },
	};

	if (gen_chance(r, 0.10))
		return 0;
	return 1 + (int)gen_weighted_u(r, w[category], 4);
}

static void
gen_position(struct gen_rng *r, const struct gd_city *c, double *lat,
    double *lon)
{
	double sigma = 2.0 + 1.5 * log10((double)c->weight + 1.0);
	double dx, dy;
	int i;

	for (i = 0; i < 16; i++) {
		dx = gen_gauss(r) * sigma;
		dy = gen_gauss(r) * sigma;
		if (dx * dx + dy * dy <= GEN_MAX_KM * GEN_MAX_KM)
			break;
	}
	if (i == 16)
		dx = dy = 0.0;
	*lat = c->lat + dy / GEN_KM_PER_DEG;
	*lon = c->lon + dx / (GEN_KM_PER_DEG * cos(c->lat * M_PI / 180.0));
}

static const char *
gen_dish_name(struct gen_rng *r, const struct gd_dish *d, int lang)
{
	if (lang == GD_RU && d->ru != NULL)
		return d->ru;
	if (lang == GD_KA && d->ka != NULL && gen_chance(r, 0.5))
		return d->ka;
	return d->en;
}

static void
gen_name(struct gen_rng *r, const struct gd_cuisine *cu, int category,
    int lang, char *out, size_t size)
{
	const char *base, *suffix;

	if (lang == GD_RU) {
		base = gen_pick(r, cu->names_ru);
		if (gen_chance(r, 0.25))
			snprintf(out, size, "%s №%d", base,
			    2 + (int)gen_below(r, 14));
		else
			snprintf(out, size, "%s", base);
		return;
	}
	if (lang == GD_KA) {
		snprintf(out, size, "%s", gen_pick(r, cu->names_ka));
		return;
	}
	base = gen_pick(r, cu->names_en);
	suffix = gen_pick(r, gendata_name_suffix_en[category]);
	if (gen_chance(r, 0.30) && strstr(base, suffix) == NULL)
		snprintf(out, size, "%s %s", base, suffix);
	else
		snprintf(out, size, "%s", base);
}

static void
gen_description(struct gen_rng *r, const struct gd_cuisine *cu,
    int category, int lang, char *out, size_t size)
{
	const struct gd_dish *d = &cu->dishes[gen_below(r, cu->ndishes)];

	if (lang == GD_RU && cu->adj_ru == NULL) {
		snprintf(out, size, "%s кофейня. Фирменный напиток — %s.%s",
		    gen_chance(r, 0.5) ? "Уютная" : "Маленькая",
		    d->ru != NULL ? d->ru : d->en, gen_pick(r, gendata_tails_ru));
	} else if (lang == GD_RU) {
		snprintf(out, size, "%s заведение %s кухни. Фирменное блюдо — "
		    "%s.%s", gen_pick(r, gendata_openers_ru), cu->adj_ru,
		    d->ru != NULL ? d->ru : d->en, gen_pick(r, gendata_tails_ru));
	} else {
		snprintf(out, size, "%s %s %s known for %s.%s",
		    gen_pick(r, gendata_openers_en), cu->adj_en,
		    gendata_category_en[category], gen_pick(r, cu->phrases_en),
		    gen_pick(r, gendata_tails_en));
	}
}

void
gen_place(const struct gen *g, uint64_t id, struct gen_place *p)
{
	const struct gd_city *city;
	const struct gd_cuisine *cu;
	struct gen_rng r;
	struct gen_core *c = &p->core;
	unsigned cw[GD_NCATEGORY];
	const char *street;
	size_t second;
	double rating;
	int number;

	memset(p, 0, sizeof(*p));
	gen_rng_init(&r, g->seed, id, GEN_PLACE);
	c->city = (uint8_t)gen_weighted(&r, g->city_cum, gendata_ncities,
	    g->city_total);
	city = &gendata_cities[c->city];
	c->cuisine = (uint8_t)gen_weighted(&r, g->cuisine_cum[c->city],
	    GD_NCUISINE, g->cuisine_total[c->city]);
	cu = &gendata_cuisines[c->cuisine];
	c->category = (uint8_t)gen_weighted_u(&r, cu->cat_weight,
	    GD_NCATEGORY);
	c->lang = GD_EN;
	if (city->lang == GD_RU && cu->names_ru != NULL &&
	    gen_chance(&r, 0.75))
		c->lang = GD_RU;
	else if (city->lang == GD_KA && cu->names_ka != NULL &&
	    gen_chance(&r, 0.45))
		c->lang = GD_KA;
	c->price_level = (uint8_t)gen_price_level(&r, c->category);
	c->nmenu = (uint8_t)(GEN_MENU_MIN +
	    gen_below(&r, GEN_MENU_MAX - GEN_MENU_MIN + 1));
	c->noffers = gen_chance(&r, 0.05) ?
	    (uint8_t)(1 + gen_below(&r, GEN_OFFERS_MAX)) : 0;

	gen_name(&r, cu, c->category, c->lang, p->name, sizeof(p->name));
	/* a second category now and then: restaurant + bar, cafe + bakery */
	memcpy(cw, cu->cat_weight, sizeof(cw));
	cw[c->category] = 0;
	if (gen_chance(&r, 0.15) && cw[0] + cw[1] + cw[2] + cw[3] + cw[4] > 0) {
		second = gen_weighted_u(&r, cw, GD_NCATEGORY);
		snprintf(p->categories, sizeof(p->categories), "{%s,%s}",
		    gendata_category_ids[c->category],
		    gendata_category_ids[second]);
	} else
		snprintf(p->categories, sizeof(p->categories), "{%s}",
		    gendata_category_ids[c->category]);
	if (c->cuisine != GD_VEGAN && gen_chance(&r, 0.06))
		snprintf(p->cuisines, sizeof(p->cuisines), "{%s,vegan}",
		    cu->id);
	else
		snprintf(p->cuisines, sizeof(p->cuisines), "{%s}", cu->id);
	gen_position(&r, city, &p->lat, &p->lon);
	if (gen_chance(&r, 0.10))
		p->rating10 = -1;
	else {
		rating = 4.1 + 0.55 * gen_gauss(&r);
		if (gen_chance(&r, 0.02))
			rating = 5.0 * gen_unit(&r);    /* the odd disaster */
		if (rating < 0.0)
			rating = 0.0;
		if (rating > 5.0)
			rating = 5.0;
		p->rating10 = (int)lround(rating * 10.0);
	}
	street = gen_pick(&r, city->streets);
	number = 1 + (int)gen_below(&r, 180);
	switch (city->addr_style) {
	case GD_ADDR_COMMA:
		snprintf(p->address, sizeof(p->address), "%s, %d", street,
		    number);
		break;
	case GD_ADDR_NUMBER_FIRST:
		snprintf(p->address, sizeof(p->address), "%d %s", number,
		    street);
		break;
	case GD_ADDR_NO:
		snprintf(p->address, sizeof(p->address), "%s No:%d", street,
		    number);
		break;
	default:
		snprintf(p->address, sizeof(p->address), "%s %d", street,
		    number);
		break;
	}
	gen_description(&r, cu, c->category, c->lang, p->description,
	    sizeof(p->description));
	gen_hours(&r, c->category, p->hours, sizeof(p->hours));
}

/* ---- menus ----------------------------------------------------------- */

static int64_t
gen_price(struct gen_rng *r, const struct gen *g, const struct gen_core *c,
    unsigned eur_cents)
{
	static const double level[5] = { 1.0, 0.7, 1.0, 1.45, 2.3 };
	const struct gd_currency *cur = g->currency[c->city];
	double v;
	int64_t step = cur->step, n;

	v = eur_cents * level[c->price_level] * gendata_cities[c->city].cost *
	    cur->per_eur * (0.85 + 0.35 * gen_unit(r));
	n = (int64_t)llround(v / (double)step);
	return (n < 1 ? 1 : n) * step;
}

size_t
gen_menu(const struct gen *g, uint64_t id, const struct gen_core *c,
    struct gen_item items[GEN_MENU_MAX])
{
	const struct gd_cuisine *cu = &gendata_cuisines[c->cuisine];
	const struct gd_dish *pool[64], *d, *t;
	struct gen_rng r;
	size_t n = 0, ndish, want, i, j, k, npool;

	gen_rng_init(&r, g->seed, id, GEN_MENU);
	want = c->nmenu;
	ndish = want * 3 / 4;
	if (ndish > cu->ndishes)
		ndish = cu->ndishes;
	/* dishes of the cuisine, then drinks: distinct (partial shuffle) */
	npool = cu->ndishes;
	for (i = 0; i < npool; i++)
		pool[i] = &cu->dishes[i];
	for (i = 0; i < ndish; i++) {
		j = i + gen_below(&r, npool - i);
		t = pool[i];
		pool[i] = pool[j];
		pool[j] = t;
	}
	npool = 0;
	for (i = 0; i < gendata_ndrinks; i++) {
		d = &gendata_drinks[i];
		for (k = 0; k < ndish; k++)
			if (strcmp(pool[k]->en, d->en) == 0)
				break;
		if (k == ndish)
			pool[ndish + npool++] = d;
	}
	for (i = 0; i < want - ndish && i < npool; i++) {
		j = i + gen_below(&r, npool - i);
		t = pool[ndish + i];
		pool[ndish + i] = pool[ndish + j];
		pool[ndish + j] = t;
	}
	n = ndish + i;
	for (i = 0; i < n; i++) {
		snprintf(items[i].name, sizeof(items[i].name), "%s",
		    gen_dish_name(&r, pool[i], c->lang));
		items[i].price_cents = gen_price(&r, g, c, pool[i]->eur_cents);
		items[i].currency = g->currency[c->city]->code;
	}
	return n;
}

/* ---- offers ---------------------------------------------------------- */

#define HOUR 3600
#define DAY (24 * HOUR)

size_t
gen_offers(const struct gen *g, uint64_t id, const struct gen_core *c,
    struct gen_offer offers[GEN_OFFERS_MAX])
{
	const struct gd_cuisine *cu = &gendata_cuisines[c->cuisine];
	const char *const *t;
	struct gen_offer *o;
	struct gen_rng r;
	double kind;
	size_t i, nt = 0;

	while (gendata_offer_titles[nt][0] != NULL)
		nt++;

	gen_rng_init(&r, g->seed, id, GEN_OFFER);
	for (i = 0; i < c->noffers; i++) {
		o = &offers[i];
		o->discount_pct = 5 * (1 + (int)gen_below(&r, 10));
		if (gen_chance(&r, 0.4))
			snprintf(o->title, sizeof(o->title), "%d%% off %s",
			    o->discount_pct, gen_dish_name(&r,
			    &cu->dishes[gen_below(&r, cu->ndishes)], c->lang));
		else {
			t = gendata_offer_titles[gen_below(&r, nt)];
			snprintf(o->title, sizeof(o->title), "%s%d%%%s",
			    t[0], o->discount_pct, t[1]);
		}
		snprintf(o->description, sizeof(o->description), "%s",
		    c->lang == GD_RU ? "Только в этом заведении. Не "
		    "суммируется с другими акциями." : "At this place only. "
		    "Cannot be combined with other offers.");
		/* whole hours from an anchor on the hour (seed.c) */
		kind = gen_unit(&r);
		if (kind < 0.5) {               /* active now */
			o->starts = -(int64_t)(1 + gen_below(&r, 240)) * HOUR;
			o->ends = (int64_t)(7 * 24 + gen_below(&r, 53 * 24)) *
			    HOUR;
		} else if (kind < 0.8) {        /* expired */
			o->ends = -(int64_t)(24 + gen_below(&r, 29 * 24)) *
			    HOUR;
			o->starts = o->ends -
			    (int64_t)(24 + gen_below(&r, 13 * 24)) * HOUR;
		} else {                        /* not yet started */
			o->starts = (int64_t)(24 + gen_below(&r, 13 * 24)) *
			    HOUR;
			o->ends = o->starts +
			    (int64_t)(3 * 24 + gen_below(&r, 27 * 24)) * HOUR;
		}
	}
	return c->noffers;
}
