/*
 * backoff.h: the arithmetic of a reconnect's back-off, pure, so that one
 * rule serves the database pool (pg.c), the LISTEN feed (feed.c), the
 * ranker client (rankc.c) and the ranker's loader (loader.c), each with
 * its own bounds, and so that it can be checked alone. Timers, sleeps and
 * the random numbers stay with the callers.
 */
#ifndef PLACESD_BACKOFF_H
#define PLACESD_BACKOFF_H

#include <stdint.h>

/* The delay after cur: first when there was none (cur 0), else twice cur,
 * at most max. */
uint64_t backoff_next(uint64_t cur, uint64_t first, uint64_t max);
/* ms spread by up to pct percent either way, picked by r (a random
 * number): ms * (100 - pct + r % (2 pct + 1)) / 100. pct is at most 100. */
uint64_t backoff_jitter(uint64_t ms, unsigned pct, unsigned long r);

#endif
