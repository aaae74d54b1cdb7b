/*
 * edge_parse.h: the strict HTTP/1.x request framer that stands in front of
 * libevhtp. It sees the raw bytes of a connection, in order, and decides
 * for each request whether it may reach libevhtp at all:
 *  - a request head is passed on only once it is complete (so evhtp's
 *    parser never sees a request line split over two reads: #128/#131),
 *    and only if it is well-formed and within the limits;
 *  - the body is passed on as it arrives, framed by Content-Length or
 *    walked chunk by chunk, and counted against max_body_size.
 * Otherwise it names the answer (status, code, message). Pure code: no
 * I/O, no allocation, so it can be fuzzed on its own.
 */
#ifndef PLACESD_EDGE_PARSE_H
#define PLACESD_EDGE_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct edge_limits {
	size_t max_uri;             /* request target, bytes */
	size_t max_header;          /* header section, bytes */
	uint64_t max_body;          /* decoded body, bytes */
};

enum edge_state {
	EDGE_HEAD,                  /* waiting for a complete request head */
	EDGE_BODY,                  /* Content-Length body bytes to pass */
	EDGE_CHUNKED,               /* walking a chunked body */
	EDGE_DONE,                  /* the request is complete */
	EDGE_REJECTED,              /* answer with status/code/message */
};

struct edge_parser {
	struct edge_limits lim;
	enum edge_state state;
	/* the request being framed */
	char method[16];
	bool http10;
	bool expect_continue;
	uint64_t remaining;         /* EDGE_BODY: bytes left */
	/* EDGE_CHUNKED */
	int chunk_state;
	uint64_t chunk_left;
	uint64_t body_total;
	unsigned chunk_digits;
	/* EDGE_REJECTED */
	int status;
	const char *code;
	const char *message;
};

void edge_parser_init(struct edge_parser *p, const struct edge_limits *lim);
/* Ready for the next request after EDGE_DONE. */
void edge_parser_next(struct edge_parser *p);

/*
 * Looks at the next bytes of the stream (buf, len). Returns how many of
 * them may be passed on to the HTTP library now; 0 means "need more" or a
 * state change to EDGE_DONE / EDGE_REJECTED. In EDGE_HEAD, buf must start
 * at the first byte of the head and hold everything received so far.
 */
size_t edge_parse(struct edge_parser *p, const char *buf, size_t len);

#endif
