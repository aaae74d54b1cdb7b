/*
 * stream.c: streams on their own sockets (stream.h). One event per
 * stream, re-armed only when its needs change: EV_READ always (a FIN or a
 * reset ends the stream; what else the client sends is dropped), EV_WRITE
 * with the write timeout while frames wait, and the linger timeout after
 * our end was sent and the socket half-closed.
 */
#include "runtime/stream.h"
#include "runtime/frame.h"
#include "common/stats.h"
#include "common/util.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#define LINGER_MS    2000
#define READ_CHUNK   512
#define READS_PER_CB 16

enum stream_state {
	ST_NEW,         /* no socket yet */
	ST_OPEN,
	ST_ABORTING,    /* gone() is due, from the loop */
	ST_ENDING,      /* owner let go: sending what waits and the end */
	ST_LINGER,      /* all sent and half-closed: waiting for the FIN */
	ST_DEAD         /* socket closed, gone() called: for stream_close */
};

struct out {
	struct out *next;
	struct frame *f;
	bool raw;                   /* never framed (the answer's head) */
};

struct stream {
	struct event ev;
	struct stream_set *set;
	stream_gone_fn gone;        /* NULL once the owner let go */
	void *arg;
	struct out *head;           /* frames waiting for the socket */
	struct out **tail;
	size_t off;                 /* bytes of head's frame already sent */
	size_t pending;             /* bytes waiting in all */
	int fd;
	unsigned char state;
	bool chunked;
	bool writing;               /* EV_WRITE armed */
	TAILQ_ENTRY(stream) link;
};

static void on_io(evutil_socket_t fd, short what, void *arg);

void
stream_set_init(struct stream_set *set, struct event_base *base,
    struct stats_block *st, uint64_t write_timeout_ms)
{
	TAILQ_INIT(&set->all);
	set->count = 0;
	set->base = base;
	set->st = st;
	set->write_timeout_ms = write_timeout_ms;
	set->linger_ms = LINGER_MS;
}

struct stream *
stream_new(bool chunked)
{
	struct stream *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->fd = -1;
	s->tail = &s->head;
	s->chunked = chunked;
	s->state = ST_NEW;
	return s;
}

static void
arm(struct stream *s, bool writing)
{
	struct timeval tv;
	const struct timeval *to = NULL;

	event_del(&s->ev);
	event_assign(&s->ev, s->set->base, s->fd, EV_READ | EV_PERSIST |
	    (writing ? EV_WRITE : 0), on_io, s);
	s->writing = writing;
	if (writing) {
		tv = util_tv(s->set->write_timeout_ms);
		to = &tv;
	} else if (s->state == ST_LINGER) {
		tv = util_tv(s->set->linger_ms);
		to = &tv;
	}
	event_add(&s->ev, to);
}

static void
drop_queue(struct stream *s)
{
	struct out *o;

	while ((o = s->head) != NULL) {
		s->head = o->next;
		frame_unref(o->f);
		free(o);
	}
	s->tail = &s->head;
	s->off = 0;
	s->pending = 0;
}

/* The socket goes: out of the set, its event off, its frames dropped. */
static void
release(struct stream *s)
{
	drop_queue(s);
	if (s->fd < 0)
		return;
	event_del(&s->ev);
	close(s->fd);
	s->fd = -1;
	TAILQ_REMOVE(&s->set->all, s, link);
	s->set->count--;
	stats_gauge_add(&s->set->st->conns_open, -1);
}

static void
destroy(struct stream *s)
{
	release(s);
	free(s);
}

/* Over from the client's side (or aborted): the owner hears of it. */
static void
finish(struct stream *s)
{
	stream_gone_fn gone = s->gone;

	release(s);
	if (gone == NULL) {
		free(s);
		return;
	}
	s->gone = NULL;
	s->state = ST_DEAD;
	gone(s->arg);               /* which calls stream_close(s) */
}

static bool
again(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

/* Sends what waits, as far as the socket takes it; -1: it failed. */
static int
flush(struct stream *s)
{
	struct out *o;
	const char *b;
	size_t len;
	ssize_t n;

	while ((o = s->head) != NULL) {
		b = frame_bytes(o->f, s->chunked && !o->raw, &len);
		if ((n = send(s->fd, b + s->off, len - s->off,
		    MSG_NOSIGNAL)) < 0)
			return again() ? 0 : -1;
		s->off += (size_t)n;
		s->pending -= (size_t)n;
		if (s->off < len)
			return 0;
		if ((s->head = o->next) == NULL)
			s->tail = &s->head;
		s->off = 0;
		frame_unref(o->f);
		free(o);
	}
	return 0;
}

/* Straight to the socket when nothing waits; else (or for what it did
 * not take) a reference to f waits. -1: the socket failed, or no memory. */
static int
enqueue(struct stream *s, struct frame *f, bool raw)
{
	struct out *o;
	const char *b;
	size_t len;
	ssize_t n = 0;

	b = frame_bytes(f, s->chunked && !raw, &len);
	if (s->head == NULL) {
		if ((n = send(s->fd, b, len, MSG_NOSIGNAL)) < 0) {
			if (!again())
				return -1;
			n = 0;
		}
		if ((size_t)n == len)
			return 0;
		s->off = (size_t)n;
	}
	if ((o = malloc(sizeof(*o))) == NULL)
		return -1;
	o->next = NULL;
	o->f = frame_ref(f);
	o->raw = raw;
	*s->tail = o;
	s->tail = &o->next;
	s->pending += len - (size_t)n;
	if (!s->writing)
		arm(s, true);
	return 0;
}

/* All sent: tell the client we are done, wait for its FIN. */
static void
start_linger(struct stream *s)
{
	shutdown(s->fd, SHUT_WR);
	s->state = ST_LINGER;
	arm(s, false);
}

/* Reads and drops what the client sends: false at its FIN or an error. */
static bool
drain_input(struct stream *s)
{
	char buf[READ_CHUNK];
	ssize_t n;
	int i;

	for (i = 0; i < READS_PER_CB; i++) {
		if ((n = recv(s->fd, buf, sizeof(buf), 0)) > 0)
			continue;
		return n < 0 && again();
	}
	return true;
}

static void
on_io(evutil_socket_t fd, short what, void *arg)
{
	struct stream *s = arg;

	(void)fd;
	/* aborted; or bytes waited for write_timeout with none taken; or
	 * the linger is over */
	if (s->state == ST_ABORTING || (what & EV_TIMEOUT)) {
		finish(s);
		return;
	}
	if ((what & EV_READ) && !drain_input(s)) {
		finish(s);
		return;
	}
	if (!(what & EV_WRITE))
		return;
	if (flush(s) != 0) {
		finish(s);
		return;
	}
	if (s->head != NULL)
		return;
	if (s->state == ST_ENDING)
		start_linger(s);
	else
		arm(s, false);
}

int
stream_attach(struct stream *s, struct stream_set *set, int fd,
    const char *head, size_t len, stream_gone_fn gone, void *arg)
{
	struct frame *f;

	s->set = set;
	s->fd = fd;
	s->gone = gone;
	s->arg = arg;
	s->state = ST_OPEN;
	TAILQ_INSERT_TAIL(&set->all, s, link);
	set->count++;
	stats_gauge_add(&set->st->conns_open, 1);
	event_assign(&s->ev, set->base, fd, EV_READ | EV_PERSIST, on_io, s);
	arm(s, false);
	if ((f = frame_copy(head, len)) == NULL || enqueue(s, f, true) != 0) {
		frame_unref(f);
		s->gone = NULL;
		destroy(s);
		return -1;
	}
	frame_unref(f);
	return 0;
}

size_t
stream_send(struct stream *s, struct frame *f)
{
	if (s->state == ST_OPEN && enqueue(s, f, false) != 0)
		stream_abort(s);
	return s->pending;
}

size_t
stream_write(struct stream *s, const char *buf, size_t len)
{
	struct frame *f;

	if (s->state != ST_OPEN || len == 0)
		return s->pending;
	if ((f = frame_copy(buf, len)) == NULL) {
		stream_abort(s);
		return s->pending;
	}
	stream_send(s, f);
	frame_unref(f);
	return s->pending;
}

void
stream_abort(struct stream *s)
{
	if (s->state != ST_OPEN)
		return;
	s->state = ST_ABORTING;
	event_active(&s->ev, EV_TIMEOUT, 1);
}

void
stream_end(struct stream *s)
{
	struct frame *f = NULL;

	if (s->state != ST_OPEN) {
		stream_close(s);
		return;
	}
	s->gone = NULL;
	s->state = ST_ENDING;
	if (s->chunked && ((f = frame_copy("", 0)) == NULL ||
	    enqueue(s, f, false) != 0)) {
		frame_unref(f);
		destroy(s);
		return;
	}
	frame_unref(f);
	if (s->head == NULL)
		start_linger(s);
}

void
stream_close(struct stream *s)
{
	if (s == NULL)
		return;
	if (s->state == ST_ABORTING) {
		s->gone = NULL;         /* the abort's callback frees it */
		return;
	}
	destroy(s);
}

void
stream_close_all(struct stream_set *set)
{
	struct stream *s;

	while ((s = TAILQ_FIRST(&set->all)) != NULL) {
		if (s->gone != NULL)
			finish(s);          /* its owner closes it */
		else
			destroy(s);
	}
}
