/*
 * gen.h: placesd-events' deterministic event generator. The events of a
 * (seed, date, city) are always the same: 4 to 12 of them, each a JSON
 * object with id, title, category, starts_at, ends_at, venue, place_id,
 * price_cents and url.
 */
#ifndef PLACESD_EVENTS_GEN_H
#define PLACESD_EVENTS_GEN_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#define GEN_CITY_MAX 64

struct gen_key {
	uint64_t seed;
	uint32_t max_place_id;          /* place ids are 1..max_place_id */
	int year, month, day;
	char city[GEN_CITY_MAX + 1];
};

/* A small seeded PRNG (splitmix64): the next 64 bits of state *s. */
uint64_t gen_next(uint64_t *s);

/* Fills the date of k from "YYYY-MM-DD" (a real calendar date): 0 or -1. */
int gen_parse_date(struct gen_key *k, const char *s);
/* Fills the city of k if s matches [a-z0-9_-]{1,64}: 0 or -1. */
int gen_parse_city(struct gen_key *k, const char *s);

/* How many events the day has (4..12). */
unsigned gen_count(const struct gen_key *k);
/* The day's events by start time, ids numbered from 1; NULL if no memory. */
json_t *gen_events(const struct gen_key *k);
/* The same as JSON text, byte for byte what json_dumps(JSON_COMPACT |
 * JSON_PRESERVE_ORDER) makes of it, built without jansson (malloc'd,
 * NUL-terminated, *len bytes); NULL if no memory. */
char *gen_events_text(const struct gen_key *k, size_t *len);
/*
 * Event number i of an endless stream for the day (i from 0; id number
 * i + 1), for answers of any size; NULL if no memory.
 */
json_t *gen_stream_event(const struct gen_key *k, uint64_t i);

#endif
