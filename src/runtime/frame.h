/*
 * frame.h: bytes written once and sent to many streams. A frame holds a
 * payload with room before it for an HTTP/1.1 chunk header and after it
 * for the chunk's CRLF, so the same bytes serve a chunked stream (with the
 * framing) and an HTTP/1.0 one (the payload alone). Reference-counted:
 * every stream still sending it holds a reference.
 */
#ifndef PLACESD_FRAME_H
#define PLACESD_FRAME_H

#include <stdbool.h>
#include <stddef.h>

struct frame;

/* A frame of len payload bytes to fill (frame_payload), one reference. */
struct frame *frame_new(size_t len);
/* A frame holding a copy of buf. */
struct frame *frame_copy(const char *buf, size_t len);
char *frame_payload(struct frame *f);
/* Writes the chunk framing around the payload: call once it is filled. */
void frame_seal(struct frame *f);
/* The bytes a stream sends: with the chunk framing, or the payload. */
const char *frame_bytes(const struct frame *f, bool chunked, size_t *len);
struct frame *frame_ref(struct frame *f);
void frame_unref(struct frame *f);

#endif
