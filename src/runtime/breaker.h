/*
 * breaker.h: the events client's circuit breaker as a state machine, pure:
 * the caller passes the time, the failure threshold and the cooldown, and
 * is told what changed, so that timers, logging and /metrics stay with it
 * (upstream.c) and the rules can be checked alone.
 *
 * While it is closed, `threshold` failed attempts in a row open it until
 * now + `cooldown`; meanwhile attempts are refused. From then on it is
 * half-open: one attempt goes out as the probe, others are refused while
 * it is out. The probe's success closes it, its failure opens it for
 * another cooldown. Any success closes it and resets the count.
 */
#ifndef PLACESD_BREAKER_H
#define PLACESD_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

enum breaker_state { BR_CLOSED, BR_OPEN, BR_HALF_OPEN };

/* What an outcome did to the breaker. */
enum breaker_change {
	BC_NONE,                /* nothing the caller must act on */
	BC_CLOSED,              /* it was open or half-open: now closed */
	BC_OPENED,              /* it was closed: now open */
	BC_REOPENED,            /* the half-open probe failed: open again */
	BC_EXTENDED,            /* a probe failed while open: a new cooldown */
};

/* All zero is a closed breaker. */
struct breaker {
	enum breaker_state state;
	unsigned failures;      /* failed attempts in a row */
	uint64_t open_until_ms; /* while open: the end of the cooldown */
	bool probing;           /* the half-open probe is out */
};

/* May an attempt go out at now_ms? An open breaker whose cooldown is over
 * becomes half-open; *probe is set when the attempt is its probe. */
bool breaker_allow(struct breaker *b, uint64_t now_ms, bool *probe);
/* An attempt succeeded; probe: it was the probe. */
enum breaker_change breaker_success(struct breaker *b, bool probe);
/* An attempt failed at now_ms; probe: it was the probe. A probe's failure
 * opens the breaker whatever its state; a threshold of 0 acts as 1. On
 * BC_OPENED, BC_REOPENED and BC_EXTENDED the breaker is open until
 * now_ms + cooldown_ms. */
enum breaker_change breaker_failure(struct breaker *b, bool probe,
    uint64_t now_ms, uint64_t threshold, uint64_t cooldown_ms);
/* The probe went without an outcome (cancelled). true if the breaker is
 * not closed, so that another probe is wanted. */
bool breaker_probe_lost(struct breaker *b);
/* ms until the cooldown ends, at now_ms; 0 if the breaker is not open or
 * its cooldown is over. */
uint64_t breaker_open_left(const struct breaker *b, uint64_t now_ms);
/* Whether a probe is wanted (not closed, no probe out); *wait_ms is how
 * long until it may go, 0 for now. */
bool breaker_wants_probe(const struct breaker *b, uint64_t now_ms,
    uint64_t *wait_ms);

#endif
