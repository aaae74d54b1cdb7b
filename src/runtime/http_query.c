/*
 * http_query.c: query parameter names, percent-decoded, found and
 * compared (http_query.h). Repeats are found by sorting the decoded names,
 * so that a query of thousands of names costs n log n, not n squared.
 */
#include "runtime/http_query.h"
#include "common/log.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

#include <evhtp.h>

/* The byte the bytes of s[0..n) from i stand for, as params.c decodes a
 * value: a %-escape of two hex digits but %00 is its byte, '+' a space,
 * anything else itself; in *c, and how many bytes it took. */
static size_t
byte_at(const char *s, size_t n, size_t i, char *c)
{
	int hi, lo;

	if (s[i] == '%' && i + 2 < n && (hi = util_hex_value(s[i + 1])) >= 0 &&
	    (lo = util_hex_value(s[i + 2])) >= 0 && (hi | lo) != 0) {
		*c = (char)(hi << 4 | lo);
		return 3;
	}
	*c = s[i] == '+' ? ' ' : s[i];
	return 1;
}

/* The decoded name of the n bytes at s into out (n + 1 bytes); its
 * length. */
static size_t
decode(const char *s, size_t n, char *out)
{
	size_t i = 0, o = 0;

	while (i < n)
		i += byte_at(s, n, i, &out[o++]);
	out[o] = '\0';
	return o;
}

/* Whether the raw name (klen bytes) decodes to name. */
static bool
name_is(const char *raw, size_t klen, const char *name)
{
	size_t i = 0, o = 0;
	char c;

	while (i < klen) {
		i += byte_at(raw, klen, i, &c);
		if (name[o] == '\0' || name[o] != c)
			return false;
		o++;
	}
	return name[o] == '\0';
}

const char *
http_query_find(struct evhtp_kvs *q, const char *name)
{
	struct evhtp_kv *kv;

	if (q == NULL)
		return NULL;
	TAILQ_FOREACH(kv, q, next) {
		if (kv->key != NULL && name_is(kv->key, kv->klen, name))
			return kv->val != NULL ? kv->val : "";
	}
	return NULL;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The first name of names[0..n) that is there twice, by sorting them
 * (n log n, for a long query), or NULL. */
static const char *
repeated_sorted(char **names, size_t n)
{
	size_t i;

	qsort(names, n, sizeof(*names), by_name);
	for (i = 1; i < n; i++)
		if (strcmp(names[i - 1], names[i]) == 0)
			return names[i];
	return NULL;
}

/* The same by comparing every pair: cheaper than a sort for the few
 * names most queries have. */
static const char *
repeated_pairs(char **names, size_t n)
{
	size_t i, j;

	for (i = 1; i < n; i++)
		for (j = 0; j < i; j++)
			if (strcmp(names[j], names[i]) == 0)
				return names[i];
	return NULL;
}

#define FEW_NAMES       16      /* compared by pairs, on the stack */
#define FEW_BYTES       512

bool
http_query_repeated(struct evhtp_kvs *q, char *name, size_t len)
{
	struct evhtp_kv *kv;
	size_t n = 0, bytes = 0, i;
	char *few[FEW_NAMES], few_bytes[FEW_BYTES];
	char **names = few, *at = few_bytes;
	const char *twice;

	if (q == NULL || len == 0)
		return false;
	TAILQ_FOREACH(kv, q, next) {
		if (kv->key == NULL)
			continue;
		n++;
		bytes += kv->klen + 1;
	}
	if (n < 2)
		return false;
	if ((n > FEW_NAMES || bytes > FEW_BYTES) &&
	    (names = malloc(n * sizeof(*names) + bytes)) == NULL) {
		log_warn("malloc() to compare query names");
		return false;
	}
	if (names != few)
		at = (char *)(names + n);
	i = 0;
	TAILQ_FOREACH(kv, q, next) {
		if (kv->key == NULL)
			continue;
		names[i++] = at;
		at += decode(kv->key, kv->klen, at) + 1;
	}
	twice = names == few ? repeated_pairs(names, n) :
	    repeated_sorted(names, n);
	if (twice != NULL) {
		strncpy(name, twice, len - 1);
		name[len - 1] = '\0';
	}
	if (names != few)
		free(names);
	return twice != NULL;
}
