/*
 * edge_parse.h: the strict HTTP/1.x request framer that stands in front of
 * libevhtp. It sees the raw bytes of a connection, in order, and decides
 * for each request whether it may reach libevhtp at all:
 *  - a request head is passed on only once it is complete (so evhtp's
 *    parser never sees a request line split over two reads: #128/#131),
 *    and only if it is well-formed and within the limits;
 *  - the body is passed on as it arrives, framed by Content-Length or
 *    walked chunk by chunk, and counted against max_body_size.
 * Otherwise it names the answer (status, code, message). A target in
 * absolute-form (http://host/path) or asterisk-form (OPTIONS *), which
 * libevhtp cannot parse, is accepted and the head handed on rewritten in
 * origin-form (edge_head_pieces). Pure code: no I/O, no allocation, so it
 * can be fuzzed on its own.
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

enum edge_target {
	EDGE_TARGET_ORIGIN,         /* /path?query: passed on as it came */
	EDGE_TARGET_ABSOLUTE,       /* http://authority/path?query */
	EDGE_TARGET_ASTERISK,       /* OPTIONS *: the server as a whole */
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
	bool conn_close;            /* "Connection: close" was asked for */
	/* where the head's parts are, as offsets into it */
	enum edge_target target;
	size_t target_off, target_len;
	size_t path_off, path_len;  /* absolute-form: path and query */
	size_t auth_off, auth_len;  /* absolute-form: host[:port] */
	size_t line_len;            /* the request line, CRLF included */
	size_t host_off, host_len;  /* the Host field line, CRLF included */
	bool has_host;
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

/*
 * The head of the request just accepted (head, len: the bytes edge_parse
 * passed on for it) as libevhtp must see it, in up to EDGE_MAX_PIECES
 * pieces to be sent in order: the same bytes for an origin-form target;
 * for absolute-form, the path (or "/") as target and Host replaced by the
 * target's authority (RFC 9112 3.2.2); for asterisk-form, "/" as target
 * (the router asks edge_parser's target). Returns the number of pieces.
 */
#define EDGE_MAX_PIECES 10
struct edge_piece {
	const char *buf;
	size_t len;
};
unsigned edge_head_pieces(const struct edge_parser *p, const char *head,
    size_t len, struct edge_piece *out);

#endif
