/*
 * wire.c: encoding and checking of the inter-process frame header (see
 * wire.h). Pure functions, shared by the master, the workers and the ranker,
 * and unit-tested on their own.
 */
#include "common/wire.h"

#include <string.h>

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int
wire_type_known(unsigned type)
{
	switch (type) {
	case WIRE_PING:
	case WIRE_PONG:
	case WIRE_BUSY:
	case WIRE_ERROR:
	case WIRE_NEARBY:
	case WIRE_NEARBY_RESULT:
	case WIRE_GOAWAY:
	case WIRE_FEED_SUB:
	case WIRE_FEED_STATE:
	case WIRE_FEED_OFFERS:
	case WIRE_FEED_NOTE:
	case WIRE_FEED_LSN:
	case WIRE_FEED_REWOUND:
	case WIRE_SUGGEST:
	case WIRE_SUGGEST_RESULT:
	case WIRE_TAGS:
	case WIRE_TAGS_RESULT:
	case WIRE_CTL_READY:
	case WIRE_CTL_DRAIN:
	case WIRE_CTL_REOPEN:
		return 1;
	default:
		return 0;
	}
}

void
wire_encode(uint8_t out[WIRE_HDR_LEN], unsigned type, uint32_t id,
    uint32_t len)
{
	out[0] = WIRE_VERSION;
	out[1] = (uint8_t)type;
	out[2] = 0;
	out[3] = 0;
	put32(out + 4, id);
	put32(out + 8, len);
}

int
wire_decode(const uint8_t *buf, size_t avail, uint32_t max_payload,
    struct wire_hdr *hdr)
{
	if (avail < WIRE_HDR_LEN)
		return WIRE_INCOMPLETE;
	hdr->version = buf[0];
	hdr->type = buf[1];
	hdr->flags = (uint16_t)(buf[2] << 8 | buf[3]);
	hdr->id = get32(buf + 4);
	hdr->len = get32(buf + 8);
	if (hdr->version != WIRE_VERSION)
		return WIRE_EVERSION;
	if (!wire_type_known(hdr->type))
		return WIRE_ETYPE;
	if (hdr->flags != 0)
		return WIRE_EFLAGS;
	if (hdr->len > max_payload || hdr->len > WIRE_MAX_PAYLOAD)
		return WIRE_ETOOBIG;
	return WIRE_OK;
}

const char *
wire_strerror(int status)
{
	switch (status) {
	case WIRE_OK:
		return "ok";
	case WIRE_INCOMPLETE:
		return "incomplete frame";
	case WIRE_EVERSION:
		return "unsupported protocol version";
	case WIRE_ETYPE:
		return "unknown message type";
	case WIRE_ETOOBIG:
		return "payload over the size limit";
	case WIRE_EFLAGS:
		return "reserved flags set";
	default:
		return "unknown error";
	}
}
