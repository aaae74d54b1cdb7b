/*
 * cache.c: the LRU cache of cache.h: a chained hash table (FNV-1a) over
 * entries that also sit on one recency list. Single-threaded, per worker.
 */
#include "runtime/cache.h"
#include "common/stats.h"
#include "common/util.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

struct entry {
	char *key;
	char *val;
	size_t len;
	uint64_t expires_ms;
	uint32_t hash;
	struct entry *next;         /* hash chain */
	TAILQ_ENTRY(entry) lru;     /* most recent first */
};

struct cache {
	struct entry **buckets;
	uint32_t mask;
	size_t count;
	uint64_t max_entries;
	uint64_t ttl_ms;
	struct stats_block *st;
	TAILQ_HEAD(entry_list, entry) lru;
};

static uint32_t
hash_of(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static bool
enabled(const struct cache *c)
{
	return c != NULL && c->max_entries > 0 && c->ttl_ms > 0;
}

struct cache *
cache_new(uint64_t max_entries, uint64_t ttl_ms, struct stats_block *st)
{
	struct cache *c;
	uint32_t n = 16;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->max_entries = max_entries;
	c->ttl_ms = ttl_ms;
	c->st = st;
	TAILQ_INIT(&c->lru);
	while (n < max_entries && n < (1u << 20))
		n <<= 1;
	if ((c->buckets = calloc(n, sizeof(*c->buckets))) == NULL) {
		free(c);
		return NULL;
	}
	c->mask = n - 1;
	return c;
}

static struct entry **
find_slot(struct cache *c, const char *key, uint32_t h)
{
	struct entry **pp = &c->buckets[h & c->mask];

	while (*pp != NULL && ((*pp)->hash != h || strcmp((*pp)->key, key) != 0))
		pp = &(*pp)->next;
	return pp;
}

static void
unlink_entry(struct cache *c, struct entry **slot)
{
	struct entry *e = *slot;

	*slot = e->next;
	TAILQ_REMOVE(&c->lru, e, lru);
	c->count--;
	free(e->key);
	free(e->val);
	free(e);
}

const char *
cache_get(struct cache *c, const char *key, size_t *len)
{
	struct entry **slot, *e;
	uint32_t h;

	if (!enabled(c))
		return NULL;
	h = hash_of(key);
	slot = find_slot(c, key, h);
	if ((e = *slot) == NULL || e->expires_ms <= util_now_ms()) {
		if (e != NULL)
			unlink_entry(c, slot);
		stats_add(&c->st->cache_misses, 1);
		return NULL;
	}
	TAILQ_REMOVE(&c->lru, e, lru);
	TAILQ_INSERT_HEAD(&c->lru, e, lru);
	stats_add(&c->st->cache_hits, 1);
	*len = e->len;
	return e->val;
}

void
cache_del(struct cache *c, const char *key)
{
	struct entry **slot;

	if (!enabled(c))
		return;
	slot = find_slot(c, key, hash_of(key));
	if (*slot != NULL)
		unlink_entry(c, slot);
}

void
cache_put(struct cache *c, const char *key, const char *val, size_t len)
{
	struct entry *e;

	if (!enabled(c))
		return;
	cache_del(c, key);
	while (c->count >= c->max_entries && !TAILQ_EMPTY(&c->lru)) {
		struct entry *old = TAILQ_LAST(&c->lru, entry_list);

		cache_del(c, old->key);
	}
	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->key = strdup(key)) == NULL || (e->val = malloc(len + 1)) == NULL) {
		if (e != NULL)
			free(e->key);
		free(e);
		return;
	}
	memcpy(e->val, val, len);
	e->val[len] = '\0';
	e->len = len;
	e->hash = hash_of(key);
	e->expires_ms = util_now_ms() + c->ttl_ms;
	e->next = c->buckets[e->hash & c->mask];
	c->buckets[e->hash & c->mask] = e;
	TAILQ_INSERT_HEAD(&c->lru, e, lru);
	c->count++;
}

void
cache_clear(struct cache *c)
{
	if (c == NULL)
		return;
	while (!TAILQ_EMPTY(&c->lru))
		cache_del(c, TAILQ_FIRST(&c->lru)->key);
}

size_t
cache_count(const struct cache *c)
{
	return c == NULL ? 0 : c->count;
}

void
cache_free(struct cache *c)
{
	if (c == NULL)
		return;
	if (enabled(c))
		cache_clear(c);
	free(c->buckets);
	free(c);
}
