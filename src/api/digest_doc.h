/*
 * digest_doc.h: the day digest's request body and answer document, apart
 * from the life of a digest (digest.c), so that a unit test can read both
 * (tests/unit/test_digest_doc).
 *
 * The body is read twice over: a scan without jansson for the usual body
 * (one flat object, strings without escapes, every value valid), and
 * jansson for everything else, which also words the 400. The scan accepts
 * only what the jansson path accepts, with the same result.
 */
#ifndef PLACESD_API_DIGEST_DOC_H
#define PLACESD_API_DIGEST_DOC_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct evbuffer;

#define DIGEST_MAX_CATEGORIES   10
#define DIGEST_DEFAULT_LIMIT    10
#define DIGEST_MAX_LIMIT        50

/* What a digest asks for, as the queries take it. */
struct digest_ask {
	char date[11];                                   /* YYYY-MM-DD */
	char city[65];
	char categories[DIGEST_MAX_CATEGORIES * 66 + 3]; /* text[] or "" */
	char limit[8];                                   /* "1".."50" */
};

/* Why a body was refused: the 400's code, message and field ("" for
 * none; an unknown field's name longer than the room is cut at a
 * character boundary). */
struct digest_refusal {
	const char *code;
	char field[200];
	char message[200];
};

/* Reads a body: true with *a filled, false with *why filled. */
bool digest_ask_parse(struct digest_ask *a, const char *body, size_t len,
    struct digest_refusal *why);

/* The two paths alone, for their test: the scan (false: not the usual
 * body, *a undefined) and the jansson path. */
bool digest_ask_scan(struct digest_ask *a, const char *body, size_t len);
bool digest_ask_read(struct digest_ask *a, const char *body, size_t len,
    struct digest_refusal *why);

/* The answer's parts: the events' JSON array (empty: []); the read
 * model's fragments framed as sent (,"places":...,"menu_items":...,
 * "offers":...), or else PostgreSQL's JSON text of each list (NULL: []);
 * the errors array; the venues and the dropped events' counts. events and
 * framed are moved into the answer. */
struct digest_parts {
	struct evbuffer *events;
	struct evbuffer *framed;
	const char *places, *menu_items, *offers;
	const json_t *errors;
	/* the venues' JSON array of Places (NULL: []), and the events left
	 * out for their venue: in another city, or no place at all */
	const char *venues;
	unsigned other_city, unknown_place;
};

/* Appends the answer's JSON to out: 0, or -1 out of memory. */
int digest_doc(struct evbuffer *out, const struct digest_ask *a,
    struct digest_parts *p);

#endif
