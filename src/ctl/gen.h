/*
 * gen.h: the deterministic demo data generator. Everything about place id
 * N comes from its own random stream, derived from (seed, N, purpose), so
 * the same seed gives the same rows whatever the number of places, and
 * the first 1,000 places of a 100,000-place run are those of a 1,000-place
 * run. Only offer times depend on the clock: they are offsets from an
 * anchor that the caller takes at load time (see seed.c).
 */
#ifndef PLACESD_CTL_GEN_H
#define PLACESD_CTL_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "ctl/gendata.h"

#define GEN_MENU_MIN 5
#define GEN_MENU_MAX 30
#define GEN_OFFERS_MAX 3

struct gen {
	uint64_t seed;
	uint64_t city_total;
	uint64_t city_cum[64];
	uint64_t cuisine_total[64];
	uint64_t cuisine_cum[64][GD_NCUISINE];
	const struct gd_currency *currency[64];
};

/* What the menu and the offers of a place need to know about it. */
struct gen_core {
	uint8_t city;
	uint8_t cuisine;
	uint8_t category;
	uint8_t lang;
	uint8_t price_level;    /* 0: unknown (NULL) */
	uint8_t nmenu;
	uint8_t noffers;
};

struct gen_place {
	struct gen_core core;
	char name[160];
	char categories[64];    /* a text[] literal: {restaurant,bar} */
	char cuisines[64];
	double lat;
	double lon;
	int rating10;           /* rating * 10, -1: NULL */
	char address[200];
	char description[512];
	char hours[512];        /* jsonb text, "" for NULL */
};

struct gen_item {
	char name[128];
	int64_t price_cents;    /* hundredths of the currency, even for JPY */
	const char *currency;
};

struct gen_offer {
	char title[192];
	char description[256];
	int discount_pct;
	int64_t starts;         /* seconds from the anchor */
	int64_t ends;
};

/* -1 if the built-in tables are inconsistent (a programming error). */
int gen_init(struct gen *g, uint64_t seed);
void gen_place(const struct gen *g, uint64_t id, struct gen_place *p);
size_t gen_menu(const struct gen *g, uint64_t id, const struct gen_core *c,
    struct gen_item items[GEN_MENU_MAX]);
size_t gen_offers(const struct gen *g, uint64_t id, const struct gen_core *c,
    struct gen_offer offers[GEN_OFFERS_MAX]);

#endif
