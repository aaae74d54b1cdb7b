/*
 * nearby_wire.h: the ranker's answer to a nearby call, written by the
 * ranker and read by a worker without a JSON parser.
 *
 *   {"total":T,"total_exact":E,"snapshot":S,"results":[R,R,...]}
 *   R = {"id":N,"distance_m":D,"score":X,"matched":["...",...],
 *        "is_open_now":B,"opens_at":W,"closes_at":W}
 *
 * T is the number of places matching, at most NW_TOTAL_CAP, and E true;
 * or, E false, a lower bound of it (the ranker stopped counting, past
 * NW_TOTAL_CAP or to spare the work). D is written as "%.1f", X as "%.4f"
 * and the strings of matched as jansson writes them (compact); B is true,
 * false or null (unknown hours), W a local time with its offset
 * ("2026-12-07T23:00:00+03:00") or null: exactly the bytes a worker's
 * answer shows after a result's place, so that the worker copies each
 * result's bytes after its id ("tail") into its answer as they are. It is
 * JSON still, for tests and for people reading a capture.
 */
#ifndef PLACESD_COMMON_NEARBY_WIRE_H
#define PLACESD_COMMON_NEARBY_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growing answer; failed (out of memory) once any append failed. */
struct nw_buf {
	char *p;
	size_t len, cap;
	bool failed;
};

#define NW_TOTAL_CAP    1000    /* places a total counts exactly, at most */
#define NW_TIME_LEN     25      /* "YYYY-MM-DDTHH:MM:SS+HH:MM" */

void nw_open(struct nw_buf *b, uint64_t total, bool exact,
    uint64_t snapshot);
/* One result: nw_result(), then nw_matched() for each reason, then
 * nw_result_end() with whether it is open now (1, 0, -1 unknown) and
 * when it next opens or closes (NW_TIME_LEN characters, or NULL). */
void nw_result(struct nw_buf *b, int64_t id, double distance_m,
    double score);
void nw_matched(struct nw_buf *b, const char *reason);
void nw_result_end(struct nw_buf *b, int open, const char *opens_at,
    const char *closes_at);
/* The answer (the caller frees it) and its length, or NULL on ENOMEM. */
char *nw_close(struct nw_buf *b, size_t *len);

/* The same buffer for other JSON text (the worker's request): bytes,
 * formatted text, and a string as jansson writes it ('"', '\\' and
 * control characters escaped, the rest, UTF-8, as it is). */
void nw_put(struct nw_buf *b, const char *s, size_t n);
void nw_printf(struct nw_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void nw_string(struct nw_buf *b, const char *s);

/* One result as read: its id and the bytes after the id, up to and with
 * the closing brace (they point into the answer read). */
struct nw_result {
	int64_t id;
	const char *tail;
	size_t tlen;
};

/*
 * Reads an answer p[0..len): *total and *exact, and its results into out
 * (at most cap; *n of them). -1 when the answer is not what nw_* write,
 * or holds more than cap results.
 */
int nw_scan(const char *p, size_t len, long *total, bool *exact,
    struct nw_result *out, size_t cap, size_t *n);

#endif
