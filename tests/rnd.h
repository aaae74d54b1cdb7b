/*
 * rnd.h: a deterministic pseudo-random generator (xorshift64) for the unit
 * tests and benchmarks that build worlds of places: the same sequence on
 * every machine and every run. The includer defines RND_SEED first; the
 * state is the includer's (one per program), and rnd_reset() starts the
 * sequence again.
 */
#ifndef PLACESD_TESTS_RND_H
#define PLACESD_TESTS_RND_H

#include <stdint.h>

#ifndef RND_SEED
#error "define RND_SEED before including rnd.h"
#endif

static uint64_t rng = RND_SEED;

static inline void
rnd_reset(void)
{
	rng = RND_SEED;
}

static inline uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* 0 .. n-1 */
static inline int
rnd_int(int n)
{
	return (int)(rnd() % (uint64_t)n);
}

/* [0, 1) */
static inline double
rnd_unit(void)
{
	return (double)(rnd() >> 11) / (double)(1ull << 53);
}

#endif
