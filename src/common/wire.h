/*
 * wire.h: the framed messages between processes. Worker <-> ranker requests
 * and master <-> child control use the same 12-byte header, in network
 * byte order:
 *
 *   0      1      2             4                  8                 12
 *   +------+------+-------------+------------------+------------------+
 *   | ver  | type | flags (0)   | request id       | payload length   |
 *   +------+------+-------------+------------------+------------------+
 *
 * A frame with another version, an unknown type or a payload over the
 * receiver's limit is a protocol error: the receiver closes the connection.
 */
#ifndef PLACESD_WIRE_H
#define PLACESD_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_VERSION     1
#define WIRE_HDR_LEN     12
#define WIRE_MAX_PAYLOAD (1u << 20)

enum wire_type {
	/* worker <-> ranker */
	WIRE_PING = 1,          /* worker -> ranker, no payload */
	WIRE_PONG = 2,          /* ranker -> worker, same id */
	WIRE_BUSY = 3,          /* ranker -> worker: queue full, same id */
	WIRE_ERROR = 4,         /* ranker -> worker: {"error":"..."} */
	WIRE_NEARBY = 5,        /* worker -> ranker: JSON query (nearby.h) */
	WIRE_NEARBY_RESULT = 6, /* ranker -> worker: JSON results, same id */
	WIRE_GOAWAY = 7,        /* ranker -> worker, id 0: draining; calls
	                         * sent are still answered, send new ones on
	                         * a new connection and close this one */
	/* the node's offer feed, relayed by the ranker (feed_wire.h), id 0 */
	WIRE_FEED_SUB = 8,      /* worker -> ranker: relay from an offer id */
	WIRE_FEED_STATE = 9,    /* ranker -> worker: its LISTEN's state */
	WIRE_FEED_OFFERS = 10,  /* ranker -> worker: new offers, in id order */
	WIRE_FEED_NOTE = 11,    /* ranker -> worker: a place changed */
	WIRE_FEED_LSN = 12,     /* ranker -> worker: WAL after the changes */
	WIRE_FEED_REWOUND = 13, /* ranker -> worker: offer ids went back */
	/* autocomplete and tag counts (ranker/suggest.h), like NEARBY */
	WIRE_SUGGEST = 14,      /* worker -> ranker: JSON query */
	WIRE_SUGGEST_RESULT = 15,   /* ranker -> worker: the answer's JSON */
	WIRE_TAGS = 16,         /* worker -> ranker: JSON query */
	WIRE_TAGS_RESULT = 17,  /* ranker -> worker: the answer's JSON */
	/* master <-> child control (SOCK_SEQPACKET socketpair) */
	WIRE_CTL_READY = 32,    /* child -> master: initialised, serving */
	WIRE_CTL_DRAIN = 33,    /* master -> child: stop accepting, finish, exit */
	WIRE_CTL_REOPEN = 34,   /* master -> child: reopen log files */
};

enum wire_status {
	WIRE_OK = 0,
	WIRE_INCOMPLETE = 1,    /* not enough bytes yet */
	WIRE_EVERSION = -1,
	WIRE_ETYPE = -2,
	WIRE_ETOOBIG = -3,
	WIRE_EFLAGS = -4,
};

struct wire_hdr {
	uint8_t version;
	uint8_t type;
	uint16_t flags;
	uint32_t id;
	uint32_t len;
};

int wire_type_known(unsigned type);
void wire_encode(uint8_t out[WIRE_HDR_LEN], unsigned type, uint32_t id,
    uint32_t len);
/*
 * Decodes the header at the start of buf (avail bytes). Returns WIRE_OK
 * and fills hdr, WIRE_INCOMPLETE when fewer than WIRE_HDR_LEN bytes are
 * there, or a negative wire_status for a frame that must be refused.
 */
int wire_decode(const uint8_t *buf, size_t avail, uint32_t max_payload,
    struct wire_hdr *hdr);
const char *wire_strerror(int status);

#endif
