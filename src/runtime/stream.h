/*
 * stream.h: a long answer (Server-Sent Events) after the HTTP edge handed
 * its socket over. libevhtp's connection, request and parser (8 KB of
 * buffer) and the edge's bufferevents are gone by then: what stays per
 * stream is this struct, one event on the socket, and the frames still
 * waiting for the client (none while it keeps up). Writes go straight to
 * the socket; what it does not take waits, shared (frame.h), until the
 * socket is writable again.
 *
 * The owner (a subscriber) hears of the end through gone(arg): the client
 * left, the socket failed, the write timeout passed with bytes waiting,
 * or stream_abort ran. It then lets go with stream_close. stream_end ends
 * the stream from our side instead: the last chunk, then a lingering
 * close of the stream's own (gone is not called).
 */
#ifndef PLACESD_STREAM_H
#define PLACESD_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

struct event_base;
struct stats_block;
struct frame;
struct stream;

TAILQ_HEAD(stream_list, stream);

/* The streams of one worker: for counting, draining and shutdown. */
struct stream_set {
	struct stream_list all;     /* those with an open socket */
	unsigned count;
	struct event_base *base;
	struct stats_block *st;     /* conns_open counts them */
	uint64_t write_timeout_ms;  /* bytes waiting, none taken: closed */
	uint64_t linger_ms;         /* after the end, for the client's FIN */
};

typedef void (*stream_gone_fn)(void *arg);

void stream_set_init(struct stream_set *set, struct event_base *base,
    struct stats_block *st, uint64_t write_timeout_ms);
/* A stream not yet on a socket, chunked (HTTP/1.1) or not (HTTP/1.0). */
struct stream *stream_new(bool chunked);
/* Starts it on fd (now the stream's), sending head (the answer's head,
 * unframed) first. -1: fd is closed and the stream freed. */
int stream_attach(struct stream *s, struct stream_set *set, int fd,
    const char *head, size_t len, stream_gone_fn gone, void *arg);
/* Sends a shared frame (framed if chunked): the bytes still waiting for
 * the client after it. */
size_t stream_send(struct stream *s, struct frame *f);
/* The same with a copy of buf. */
size_t stream_write(struct stream *s, const char *buf, size_t len);
/* Ends it soon, from the loop: gone(arg) follows. */
void stream_abort(struct stream *s);
/* Ends it from our side: the owner lets go; the stream sends what waits
 * and the last chunk, then closes lingering. */
void stream_end(struct stream *s);
/* The owner lets go at once: closed without sending what waits. */
void stream_close(struct stream *s);
/* Shutdown: every owner hears gone(), the rest are closed. */
void stream_close_all(struct stream_set *set);

#endif
