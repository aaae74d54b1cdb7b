/*
 * nearby.h: one WIRE_NEARBY request, from its JSON payload to the JSON of
 * its answer, run by a pool thread on the current snapshot.
 *
 *   request: {"lat":55.75,"lon":37.61,"radius_m":2000,
 *             "categories":["cafe"],"cuisines":["georgian"],
 *             "cuisine_required":false,"prefer_cuisines":["italian"],"min_price":1,"max_price":3,
 *             "min_rating":4.0,"open":"now"|{"day":0,"minute":1290}|null,
 *             "now":1764000000,"q":"khachapuri"|null,
 *             "sort":"best"|"distance"|"rating","offset":0,"limit":10}
 *   result:  {"total":123,"snapshot":7,"results":[{"id":42,
 *             "distance_m":312.5,"score":0.87,"matched":["menu: ..."]}]}
 *   error:   {"error":"bad request: <field>"} or {"error":"no snapshot yet"}
 *
 * lat and lon are required; anything else absent or null is no
 * preference. Types are strict; unknown keys are ignored.
 */
#ifndef PLACESD_NEARBY_H
#define PLACESD_NEARBY_H

#include "ranker/score.h"
#include "ranker/snapshot.h"

#include <stddef.h>
#include <stdint.h>

struct nearby_req {
	struct rank_query q;
	const char *cats[RANK_MAX_TAGS];
	const char *cuis[RANK_MAX_TAGS];
	const char *pcuis[RANK_MAX_TAGS];   /* prefer_cuisines */
	void *root;                 /* the parsed JSON; strings point in it */
	char *text;                 /* or the request's copy, read fast */
};

/* 0, or -1 with the offending field's name in *field. */
int nearby_parse(const void *buf, size_t len, struct nearby_req *r,
    const char **field);
/* The worker's own request, read fast (nearby_fast.c); -1: not that
 * shape, or not within range: nearby_parse() reads it then. */
int nearby_parse_fast(const void *buf, size_t len, struct nearby_req *r);
void nearby_req_free(struct nearby_req *r);

/*
 * Answers one request: returns the reply type (WIRE_NEARBY_RESULT or
 * WIRE_ERROR) and a malloc'ed JSON payload in *out (NULL only when even
 * that could not be allocated). an is the calling thread's analyzer (or
 * NULL: rank() makes one for the call).
 */
unsigned nearby_run(struct snap_holder *h, struct analyzer *an,
    const void *req, size_t len, char **out, size_t *outlen);

/* {"error":"<msg>"} as a malloc'ed string, or NULL. */
char *nearby_error(const char *msg, size_t *outlen);

#endif
