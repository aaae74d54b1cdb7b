/*
 * cache.h: a worker's cache of hot reads (a place by id, the city list):
 * string keys to bytes, each entry served until its TTL runs out, at most
 * max_entries, the least recently used evicted first. A TTL or a bound of
 * 0 turns it off. Hits and misses count in /metrics.
 */
#ifndef PLACESD_CACHE_H
#define PLACESD_CACHE_H

#include <stddef.h>
#include <stdint.h>

/* The key of GET /v1/cities, which the offer feed drops on places_city */
#define CACHE_KEY_CITIES "cities"

struct stats_block;
struct cache;

struct cache *cache_new(uint64_t max_entries, uint64_t ttl_ms,
    struct stats_block *st);
/* The value, valid until the next cache call; NULL on a miss. */
const char *cache_get(struct cache *c, const char *key, size_t *len);
void cache_put(struct cache *c, const char *key, const char *val, size_t len);
void cache_del(struct cache *c, const char *key);
void cache_clear(struct cache *c);
size_t cache_count(const struct cache *c);
void cache_free(struct cache *c);

#endif
