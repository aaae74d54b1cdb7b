/*
 * backoff.c: the back-off arithmetic of backoff.h.
 */
#include "runtime/backoff.h"

uint64_t
backoff_next(uint64_t cur, uint64_t first, uint64_t max)
{
	if (cur == 0)
		return first;
	return cur * 2 > max ? max : cur * 2;
}

uint64_t
backoff_jitter(uint64_t ms, unsigned pct, unsigned long r)
{
	if (pct > 100)
		pct = 100;
	return ms * (100 - pct + (uint64_t)(r % (2 * pct + 1))) / 100;
}
