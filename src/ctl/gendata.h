/*
 * gendata.h: the fixed vocabulary of the demo data generator: real cities
 * (coordinates, country, IANA time zone, currency, size), cuisines with
 * their place names and dishes, categories and streets. Pure data; the
 * choices are made in gen.c.
 */
#ifndef PLACESD_CTL_GENDATA_H
#define PLACESD_CTL_GENDATA_H

#include <stddef.h>

enum gd_lang { GD_EN, GD_RU, GD_KA };

enum gd_category {
	GD_RESTAURANT, GD_CAFE, GD_BAR, GD_BAKERY, GD_FAST_FOOD, GD_NCATEGORY
};

enum gd_cuisine_id {
	GD_GEORGIAN, GD_ITALIAN, GD_JAPANESE, GD_RUSSIAN, GD_FRENCH,
	GD_AMERICAN, GD_TURKISH, GD_INDIAN, GD_CHINESE, GD_MEXICAN, GD_VEGAN,
	GD_COFFEE, GD_GERMAN, GD_SPANISH, GD_NCUISINE
};

enum gd_addr {
	GD_ADDR_COMMA,          /* ул. Тверская, 12 */
	GD_ADDR_SPACE,          /* Friedrichstraße 12 */
	GD_ADDR_NUMBER_FIRST,   /* 12 Brick Lane */
	GD_ADDR_NO              /* İstiklal Cd. No:12 */
};

struct gd_currency {
	const char *code;       /* ISO 4217 */
	double per_eur;         /* rough exchange rate */
	unsigned step;          /* prices are multiples of this, in cents */
};

struct gd_boost {
	int cuisine;            /* enum gd_cuisine_id, -1 ends the list */
	unsigned mult;          /* weight multiplier in this city */
};

struct gd_city {
	const char *id;         /* slug, the API's city id */
	const char *name;
	const char *country;    /* ISO 3166-1 alpha-2 */
	double lat;
	double lon;
	const char *timezone;   /* IANA */
	const char *currency;
	unsigned weight;        /* share of the places (about the population) */
	double cost;            /* price level, 1.0 = western Europe */
	int lang;               /* enum gd_lang of local names */
	int addr_style;         /* enum gd_addr */
	const char *const *streets;
	struct gd_boost boost[4];
};

struct gd_dish {
	const char *en;
	const char *ru;         /* NULL: the English name is used */
	const char *ka;
	unsigned eur_cents;     /* price level 2 in a city of cost 1.0 */
};

struct gd_cuisine {
	const char *id;         /* as stored in places.cuisines */
	unsigned weight;
	const char *adj_en;     /* "Georgian" */
	const char *adj_ru;     /* "грузинской" (кухни) */
	unsigned cat_weight[GD_NCATEGORY];
	const char *const *names_en;
	const char *const *names_ru;    /* NULL: none */
	const char *const *names_ka;
	const char *const *phrases_en;  /* what the place is known for */
	const struct gd_dish *dishes;
	size_t ndishes;
};

extern const struct gd_city gendata_cities[];
extern const size_t gendata_ncities;
extern const struct gd_currency gendata_currencies[];
extern const size_t gendata_ncurrencies;
extern const struct gd_cuisine gendata_cuisines[GD_NCUISINE];
extern const char *const gendata_category_ids[GD_NCATEGORY];
extern const char *const gendata_category_en[GD_NCATEGORY];
extern const char *const *const gendata_name_suffix_en[GD_NCATEGORY];
extern const struct gd_dish gendata_drinks[];
extern const size_t gendata_ndrinks;
extern const char *const gendata_openers_en[];
extern const char *const gendata_openers_ru[];
extern const char *const gendata_tails_en[];
extern const char *const gendata_tails_ru[];
extern const char *const gendata_offer_titles[][2];

/* Number of entries of a NULL-terminated list. */
size_t gendata_count(const char *const *list);

#endif
