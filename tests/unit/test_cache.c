/*
 * test_cache.c: the worker's cache of hot reads (runtime/cache.h): values
 * kept byte for byte, a put replacing the old value, at most max_entries
 * with the least recently used evicted first (a get makes an entry
 * recent), expiry after the TTL, delete and clear, a cache turned off by
 * a TTL or bound of 0, and the hits and misses counted for /metrics.
 *
 * Expiry is checked with the real monotonic clock: an entry with a 40 ms
 * TTL is looked up after sleeping 80 ms, which is never too early, and
 * entries that must stay have a TTL of an hour.
 */
#include "runtime/cache.h"
#include "common/stats.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check_run.h"

#define HOUR_MS (3600u * 1000u)

static struct stats_block st;

static void
reset(void)
{
	memset(&st, 0, sizeof(st));
}

/* The value of key as a string, or NULL on a miss. */
static const char *
get(struct cache *c, const char *key)
{
	size_t len = 12345;
	const char *v = cache_get(c, key, &len);

	if (v != NULL)
		ck_assert_uint_eq(len, strlen(v));
	else
		ck_assert_uint_eq(len, 12345);      /* untouched on a miss */
	return v;
}

static void
put(struct cache *c, const char *key, const char *val)
{
	cache_put(c, key, val, strlen(val));
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

START_TEST(test_put_get)
{
	struct cache *c;
	const char *v;
	size_t len = 0;
	static const char bytes[] = { 'a', '\0', 'b', '\xff' };

	reset();
	c = cache_new(8, HOUR_MS, &st);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(cache_count(c), 0);
	ck_assert_ptr_null(get(c, "place:1"));
	ck_assert_uint_eq(st.cache_misses, 1);
	ck_assert_uint_eq(st.cache_hits, 0);

	put(c, "place:1", "{\"id\":1}");
	put(c, CACHE_KEY_CITIES, "[]");
	ck_assert_uint_eq(cache_count(c), 2);
	ck_assert_str_eq(get(c, "place:1"), "{\"id\":1}");
	ck_assert_str_eq(get(c, "cities"), "[]");
	ck_assert_ptr_null(get(c, "place:2"));
	ck_assert_ptr_null(get(c, "place:"));       /* a prefix is not a key */
	ck_assert_uint_eq(st.cache_hits, 2);
	ck_assert_uint_eq(st.cache_misses, 3);

	/* a put replaces the value, not adds an entry */
	put(c, "place:1", "{\"id\":1,\"v\":2}");
	ck_assert_uint_eq(cache_count(c), 2);
	ck_assert_str_eq(get(c, "place:1"), "{\"id\":1,\"v\":2}");

	/* bytes, NULs included, kept as they are, with a NUL after them */
	cache_put(c, "bin", bytes, sizeof(bytes));
	v = cache_get(c, "bin", &len);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(len, sizeof(bytes));
	ck_assert_mem_eq(v, bytes, sizeof(bytes));
	ck_assert_int_eq(v[len], '\0');
	/* an empty value is a hit, not a miss */
	cache_put(c, "empty", "", 0);
	ck_assert_str_eq(get(c, "empty"), "");

	/* the cache keeps its own copy */
	{
		char buf[8];

		strcpy(buf, "mine");
		put(c, "copy", buf);
		strcpy(buf, "XXXX");
		ck_assert_str_eq(get(c, "copy"), "mine");
	}
	cache_free(c);
}
END_TEST

START_TEST(test_lru_eviction)
{
	struct cache *c;

	reset();
	c = cache_new(3, HOUR_MS, &st);
	put(c, "a", "1");
	put(c, "b", "2");
	put(c, "c", "3");
	ck_assert_uint_eq(cache_count(c), 3);
	/* full: the oldest (a) goes */
	put(c, "d", "4");
	ck_assert_uint_eq(cache_count(c), 3);
	ck_assert_ptr_null(get(c, "a"));
	/* a get makes b the most recent: c is the least now, and goes */
	ck_assert_str_eq(get(c, "b"), "2");
	put(c, "e", "5");
	ck_assert_ptr_null(get(c, "c"));
	ck_assert_str_eq(get(c, "b"), "2");
	ck_assert_str_eq(get(c, "d"), "4");
	ck_assert_str_eq(get(c, "e"), "5");
	/* replacing a key makes it recent too, and evicts nothing */
	put(c, "b", "2'");                  /* recency now: b, e, d */
	ck_assert_uint_eq(cache_count(c), 3);
	put(c, "f", "6");                   /* d goes */
	ck_assert_ptr_null(get(c, "d"));
	ck_assert_str_eq(get(c, "b"), "2'");
	ck_assert_str_eq(get(c, "e"), "5");
	ck_assert_str_eq(get(c, "f"), "6");
	ck_assert_uint_eq(cache_count(c), 3);
	cache_free(c);

	/* a bound of one keeps the last put */
	c = cache_new(1, HOUR_MS, &st);
	put(c, "x", "1");
	put(c, "y", "2");
	ck_assert_uint_eq(cache_count(c), 1);
	ck_assert_ptr_null(get(c, "x"));
	ck_assert_str_eq(get(c, "y"), "2");
	cache_free(c);
}
END_TEST

/* More keys than buckets: chains hold them all, and eviction still works
 * through them. */
START_TEST(test_many_keys)
{
	struct cache *c;
	char key[32], val[32];
	int i;

	reset();
	c = cache_new(1000, HOUR_MS, &st);
	for (i = 0; i < 1500; i++) {
		snprintf(key, sizeof(key), "place:%d", i);
		snprintf(val, sizeof(val), "v%d", i * 7);
		put(c, key, val);
	}
	ck_assert_uint_eq(cache_count(c), 1000);
	for (i = 0; i < 1500; i++) {
		const char *v;

		snprintf(key, sizeof(key), "place:%d", i);
		v = get(c, key);
		if (i < 500) {
			ck_assert_msg(v == NULL, "%s survived", key);
		} else {
			snprintf(val, sizeof(val), "v%d", i * 7);
			ck_assert_msg(v != NULL, "%s lost", key);
			ck_assert_str_eq(v, val);
		}
	}
	ck_assert_uint_eq(st.cache_hits, 1000);
	ck_assert_uint_eq(st.cache_misses, 500);
	cache_free(c);
}
END_TEST

START_TEST(test_ttl)
{
	struct cache *c;

	reset();
	c = cache_new(8, 40, &st);
	put(c, "old", "1");
	sleep_ms(80);
	ck_assert_uint_eq(cache_count(c), 1);   /* still there until asked */
	ck_assert_ptr_null(get(c, "old"));      /* expired: a miss */
	ck_assert_uint_eq(st.cache_misses, 1);
	ck_assert_uint_eq(st.cache_hits, 0);
	ck_assert_uint_eq(cache_count(c), 0);   /* and dropped on the way */
	cache_free(c);

	c = cache_new(8, HOUR_MS, &st);
	put(c, "fresh", "1");
	sleep_ms(80);
	ck_assert_str_eq(get(c, "fresh"), "1");
	cache_free(c);
}
END_TEST

START_TEST(test_del_clear)
{
	struct cache *c;

	reset();
	c = cache_new(8, HOUR_MS, &st);
	put(c, "a", "1");
	put(c, "b", "2");
	put(c, CACHE_KEY_CITIES, "[]");
	cache_del(c, "b");
	cache_del(c, "nope");                   /* absent: nothing happens */
	ck_assert_uint_eq(cache_count(c), 2);
	ck_assert_ptr_null(get(c, "b"));
	ck_assert_str_eq(get(c, "a"), "1");
	cache_del(c, CACHE_KEY_CITIES);
	ck_assert_ptr_null(get(c, "cities"));
	cache_clear(c);
	ck_assert_uint_eq(cache_count(c), 0);
	ck_assert_ptr_null(get(c, "a"));
	/* usable after a clear */
	put(c, "a", "again");
	ck_assert_str_eq(get(c, "a"), "again");
	cache_free(c);
}
END_TEST

START_TEST(test_off)
{
	struct cache *off[2];

	reset();
	off[0] = cache_new(0, HOUR_MS, &st);    /* no room */
	off[1] = cache_new(8, 0, &st);          /* no TTL */
	for (int i = 0; i < 2; i++) {
		ck_assert_ptr_nonnull(off[i]);
		put(off[i], "a", "1");
		ck_assert_uint_eq(cache_count(off[i]), 0);
		ck_assert_ptr_null(get(off[i], "a"));
		cache_del(off[i], "a");
		cache_clear(off[i]);
		cache_free(off[i]);
	}
	/* a cache that is off counts neither hits nor misses */
	ck_assert_uint_eq(st.cache_hits, 0);
	ck_assert_uint_eq(st.cache_misses, 0);
	/* and no cache at all is one that is off */
	ck_assert_uint_eq(cache_count(NULL), 0);
	ck_assert_ptr_null(get(NULL, "a"));
	put(NULL, "a", "1");
	cache_del(NULL, "a");
	cache_clear(NULL);
	cache_free(NULL);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("cache");
	TCase *tc = tcase_create("cache");

	tcase_add_test(tc, test_put_get);
	tcase_add_test(tc, test_lru_eviction);
	tcase_add_test(tc, test_many_keys);
	tcase_add_test(tc, test_ttl);
	tcase_add_test(tc, test_del_clear);
	tcase_add_test(tc, test_off);
	suite_add_tcase(s, tc);
	return check_run(s);
}
