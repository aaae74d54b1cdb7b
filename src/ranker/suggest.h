/*
 * suggest.h: autocomplete and tag counts, answered from a snapshot.
 *
 * Each snapshot (a base, or an overlay's delta) carries a suggest index
 * of its own places, built with it (snap_build) and read-only after:
 *
 * - the words of every place's name, folded as the text index folds them
 *   (analyze.h: case, accents, Cyrillic in Latin letters), sorted, each
 *   naming its place: a prefix is a range of them;
 * - the same for "terms": every distinct dish name (menu items, with the
 *   number of places that serve it), every cuisine and every category
 *   (with their number of places);
 * - the number of places per city and tag, for /v1/categories and
 *   /v1/cuisines.
 *
 *   WIRE_SUGGEST request: {"text":"kha","lat":55.75,"lon":37.61,"limit":10}
 *     (lat and lon optional, together) -> WIRE_SUGGEST_RESULT:
 *     {"suggestions":[{"kind":"place","text":"Khachapuri House",
 *      "place_id":7,"distance_m":412.3},{"kind":"dish","text":"Khachapuri",
 *      "places":37},{"kind":"cuisine","text":"georgian","places":120}]}
 *   WIRE_TAGS request: {"kind":"categories"|"cuisines","city":"moscow"|null}
 *     -> WIRE_TAGS_RESULT: {"city":"moscow","categories":[{"name":"cafe",
 *        "places":12}]}, most places first, then by name
 *   errors (WIRE_ERROR): {"error":"bad request: <field>"},
 *     {"error":"unknown city"}, {"error":"no snapshot yet"}
 *
 * How suggestions rank, and what bounds the work, is said in suggest.c.
 */
#ifndef PLACESD_SUGGEST_H
#define PLACESD_SUGGEST_H

#include "ranker/snapshot.h"

#include <stddef.h>

#define SUGGEST_MAX_LIMIT   20
#define SUGGEST_MAX_TEXT    100     /* bytes */
#define SUGGEST_MAX_WORDS   8

struct suggest;

/* The index of s's own places (not its delta's); NULL on ENOMEM. */
struct suggest *suggest_build(const struct snapshot *s);
void suggest_free(struct suggest *sg);

/* A WIRE_SUGGEST or WIRE_TAGS request on the current snapshot: the reply
 * type and a malloc'ed JSON payload (NULL only without memory). */
unsigned suggest_run(struct snap_holder *h, const void *req, size_t len,
    char **out, size_t *outlen);
unsigned suggest_tags_run(struct snap_holder *h, const void *req,
    size_t len, char **out, size_t *outlen);

#endif
