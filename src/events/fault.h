/*
 * fault.h: the endpoints of placesd-events (GET /events/{date},
 * /_control) and the fault modes that make its answers misbehave on
 * purpose. A request's fault comes from the control endpoint, else from
 * the request's own query (fault=, delay_ms=, size=), else from -f/-r.
 */
#ifndef PLACESD_EVENTS_FAULT_H
#define PLACESD_EVENTS_FAULT_H

#include <stdbool.h>
#include <stdint.h>

struct conn;
struct request;
struct server;
struct faults;

enum fault_mode {
	FAULT_NONE,
	FAULT_DELAY,
	FAULT_500,
	FAULT_503,
	FAULT_BADJSON,
	FAULT_WRONGSHAPE,
	FAULT_PARTIAL,
	FAULT_SHORT,
	FAULT_RESET,
	FAULT_HANG,
	FAULT_TRICKLE,
	FAULT_HUGE,
	FAULT_NMODES
};

#define FAULT_DELAY_MAX_MS      3600000ULL      /* delay_ms, -d */
#define FAULT_SIZE_MIN          2ULL            /* huge: "[]" */
#define FAULT_SIZE_MAX          (1024ULL * 1024 * 1024)

struct fault_opts {
	uint64_t seed;                  /* -s */
	uint32_t max_place_id;          /* -P */
	enum fault_mode mode;           /* -f, FAULT_NONE if not given */
	double rate;                    /* -r: probability of -f */
	uint64_t delay_ms;              /* -d: before every /events answer */
};

/* The mode named s ("none", "500", "badjson", ...): 0, or -1. */
int fault_parse_mode(const char *s, enum fault_mode *mode);
const char *fault_name(enum fault_mode mode);
/* The mode names as "none, delay, 500, ..." for messages. */
const char *fault_names(void);

struct faults *faults_new(const struct fault_opts *o);
/* The server whose connections GET /_control counts. */
void faults_set_server(struct faults *fs, struct server *srv);
void faults_free(struct faults *fs);
/* The route function of the server (arg is the struct faults). */
void faults_route(struct conn *c, const struct request *r, void *arg);

#endif
