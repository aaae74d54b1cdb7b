/*
 * frame.c: shared, reference-counted output bytes (frame.h). The chunk
 * header is written right-aligned in the room before the payload, so the
 * framed bytes are contiguous and go out in one write.
 */
#include "runtime/frame.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FRAME_HEAD_MAX 18       /* 16 hex digits and CRLF */

struct frame {
	unsigned refs;
	unsigned head;              /* offset of the chunk header */
	size_t len;                 /* payload bytes */
	char data[];                /* head room, payload, CRLF */
};

struct frame *
frame_new(size_t len)
{
	struct frame *f;

	if (len > SIZE_MAX - sizeof(*f) - FRAME_HEAD_MAX - 2)
		return NULL;
	if ((f = malloc(sizeof(*f) + FRAME_HEAD_MAX + len + 2)) == NULL)
		return NULL;
	f->refs = 1;
	f->head = FRAME_HEAD_MAX;
	f->len = len;
	return f;
}

struct frame *
frame_copy(const char *buf, size_t len)
{
	struct frame *f = frame_new(len);

	if (f == NULL)
		return NULL;
	memcpy(frame_payload(f), buf, len);
	frame_seal(f);
	return f;
}

char *
frame_payload(struct frame *f)
{
	return f->data + FRAME_HEAD_MAX;
}

void
frame_seal(struct frame *f)
{
	char head[FRAME_HEAD_MAX + 1];
	int n;

	n = snprintf(head, sizeof(head), "%zx\r\n", f->len);
	f->head = FRAME_HEAD_MAX - (unsigned)n;
	memcpy(f->data + f->head, head, (size_t)n);
	memcpy(f->data + FRAME_HEAD_MAX + f->len, "\r\n", 2);
}

const char *
frame_bytes(const struct frame *f, bool chunked, size_t *len)
{
	if (!chunked) {
		*len = f->len;
		return f->data + FRAME_HEAD_MAX;
	}
	*len = FRAME_HEAD_MAX - f->head + f->len + 2;
	return f->data + f->head;
}

struct frame *
frame_ref(struct frame *f)
{
	f->refs++;
	return f;
}

void
frame_unref(struct frame *f)
{
	if (f != NULL && --f->refs == 0)
		free(f);
}
