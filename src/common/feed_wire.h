/*
 * feed_wire.h: the payloads of the offer feed's frames between the ranker
 * and the workers (wire.h types WIRE_FEED_*). The ranker holds the node's
 * one LISTEN connection on the primary (ranker/offer_feed.c) and relays
 * what it hears to each worker's feed (runtime/feed.c):
 *
 *   FEED_SUB     worker -> ranker  "<since>": relay every offer after id
 *                                  <since>; -1 for "from now on"
 *   FEED_STATE   ranker -> worker  "<up> <quiet> <precise> <high>"
 *   FEED_OFFERS  ranker -> worker  offer records, in id order
 *   FEED_NOTE    ranker -> worker  one byte, 'p' (places_changed) or 'c'
 *                                  (places_city), then the notification's
 *                                  payload
 *   FEED_LSN     ranker -> worker  "<lsn>": the primary's WAL insert
 *                                  position after every change relayed
 *   FEED_REWOUND ranker -> worker  "<max>": offer ids went back to <max>
 *
 * An offer record, integers in network byte order:
 *
 *   id (8) | place id (8) | city length (2) | JSON length (4) | city | JSON
 *
 * Pure functions, unit-tested on their own (tests/unit/test_feed_wire.c).
 */
#ifndef PLACESD_FEED_WIRE_H
#define PLACESD_FEED_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FEED_WIRE_REC_HDR   22
#define FEED_WIRE_CITY_MAX  0xffff

struct feed_wire_offer {
	int64_t id;
	int64_t place_id;
	const char *city;           /* not NUL-terminated: city_len bytes */
	size_t city_len;
	const char *json;
	size_t json_len;
};

struct feed_wire_state {
	bool up;                    /* the ranker's LISTEN connection works */
	bool quiet;                 /* up, every notified offer relayed */
	bool precise;               /* the database sends places_city */
	int64_t high;               /* the last offer id read, -1 unknown */
};

/* The bytes a record of o takes; 0 if its city is too long to frame. */
size_t feed_wire_offer_size(const struct feed_wire_offer *o);
/* Writes o's record at out, which has feed_wire_offer_size(o) bytes. */
void feed_wire_offer_put(char *out, const struct feed_wire_offer *o);
/*
 * The record at *off of the len bytes at p: 1 and *off moved past it, 0
 * at the end, -1 for a record that does not fit (a protocol error).
 */
int feed_wire_offer_next(const char *p, size_t len, size_t *off,
    struct feed_wire_offer *o);

/* The text of a FEED_STATE payload; its length (< size), or -1. */
int feed_wire_state_format(char *buf, size_t size,
    const struct feed_wire_state *s);
bool feed_wire_state_parse(const char *p, size_t len,
    struct feed_wire_state *s);

/* One decimal integer, the whole payload (FEED_SUB, _LSN, _REWOUND). */
bool feed_wire_int_parse(const char *p, size_t len, int64_t *v);
/* One unsigned decimal integer (FEED_LSN). */
bool feed_wire_u64_parse(const char *p, size_t len, uint64_t *v);

#endif
