/*
 * breaker.c: the circuit breaker's state machine of breaker.h.
 */
#include "runtime/breaker.h"

bool
breaker_allow(struct breaker *b, uint64_t now_ms, bool *probe)
{
	*probe = false;
	if (b->state == BR_OPEN && now_ms >= b->open_until_ms)
		b->state = BR_HALF_OPEN;
	if (b->state == BR_CLOSED)
		return true;
	if (b->state == BR_HALF_OPEN && !b->probing) {
		b->probing = true;
		*probe = true;
		return true;
	}
	return false;
}

enum breaker_change
breaker_success(struct breaker *b, bool probe)
{
	enum breaker_state was = b->state;

	if (probe)
		b->probing = false;
	b->failures = 0;
	b->state = BR_CLOSED;
	return was != BR_CLOSED ? BC_CLOSED : BC_NONE;
}

enum breaker_change
breaker_failure(struct breaker *b, bool probe, uint64_t now_ms,
    uint64_t threshold, uint64_t cooldown_ms)
{
	enum breaker_state was = b->state;

	if (probe)
		b->probing = false;
	b->failures++;
	if (!probe && (was != BR_CLOSED || b->failures < threshold))
		return BC_NONE;
	b->open_until_ms = now_ms + cooldown_ms;
	b->state = BR_OPEN;
	switch (was) {
	case BR_CLOSED:
		return BC_OPENED;
	case BR_HALF_OPEN:
		return BC_REOPENED;
	default:
		return BC_EXTENDED;
	}
}

bool
breaker_probe_lost(struct breaker *b)
{
	b->probing = false;
	return b->state != BR_CLOSED;
}

uint64_t
breaker_open_left(const struct breaker *b, uint64_t now_ms)
{
	if (b->state == BR_OPEN && now_ms < b->open_until_ms)
		return b->open_until_ms - now_ms;
	return 0;
}

bool
breaker_wants_probe(const struct breaker *b, uint64_t now_ms,
    uint64_t *wait_ms)
{
	*wait_ms = 0;
	if (b->state == BR_CLOSED || b->probing)
		return false;
	*wait_ms = breaker_open_left(b, now_ms);
	return true;
}
