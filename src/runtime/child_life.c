/*
 * child_life.c: a child's life as the master drives it (child_life.h):
 * the control channel, SIGTERM and SIGQUIT on the child's loop, the READY
 * it sends, and the one bad-frame policy: warn, naming the role and what
 * was wrong, and go on. Used by the workers and the ranker alike.
 */
#include "runtime/child_life.h"
#include "common/log.h"
#include "common/util.h"
#include "common/wire.h"

#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>

struct child_life {
	int chan_fd;
	const char *role;
	const struct child_life_ops *ops;
	void *arg;
	struct event *chan_ev, *sig_term, *sig_quit;
};

static unsigned
dispatch_bad(struct child_life_msg *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static unsigned
dispatch_bad(struct child_life_msg *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->bad, sizeof(out->bad), fmt, ap);
	va_end(ap);
	out->acts |= CHILD_LIFE_BAD;
	return out->acts;
}

unsigned
child_life_dispatch(const void *buf, ssize_t n, struct child_life_msg *out)
{
	const uint8_t *p = buf;
	struct wire_hdr h;
	size_t off, len;
	int st;

	memset(out, 0, sizeof(*out));
	if (n == 0)
		out->acts = CHILD_LIFE_GONE;
	if (n <= 0)
		return out->acts;
	len = (size_t)n;
	for (off = 0; off < len; off += WIRE_HDR_LEN) {
		st = wire_decode(p + off, len - off, WIRE_MAX_PAYLOAD, &h);
		if (st == WIRE_INCOMPLETE)
			return dispatch_bad(out, "a truncated frame of %zu "
			    "bytes", len - off);
		if (st != WIRE_OK)
			return dispatch_bad(out, "%s", wire_strerror(st));
		if (h.len != 0)
			return dispatch_bad(out, "type %u with a payload of "
			    "%u bytes", h.type, h.len);
		if (h.type == WIRE_CTL_DRAIN)
			out->acts |= CHILD_LIFE_DRAIN;
		else if (h.type == WIRE_CTL_REOPEN)
			out->acts |= CHILD_LIFE_REOPEN;
		else
			return dispatch_bad(out, "unexpected message type %u",
			    h.type);
		out->frames++;
	}
	return out->acts;
}

/* Acts on one read's worth, in the order the policy of child_life.h says. */
static void
child_life_act(struct child_life *cl, const struct child_life_msg *m)
{
	if (m->acts & CHILD_LIFE_REOPEN) {
		if (log_reopen() == -1)
			log_warn("cannot reopen the log file");
		if (cl->ops->reopen != NULL)
			cl->ops->reopen(cl->arg);
	}
	if (m->acts & CHILD_LIFE_DRAIN)
		cl->ops->drain(cl->arg, "told by the master");
	if (m->acts & CHILD_LIFE_BAD)
		log_warnx("%s: bad control message from the master (%s); "
		    "ignored", cl->role, m->bad);
	if (m->acts & CHILD_LIFE_GONE) {
		event_del(cl->chan_ev);
		cl->ops->drain(cl->arg, "the master is gone");
	}
}

static void
on_channel(evutil_socket_t fd, short ev, void *arg)
{
	struct child_life *cl = arg;
	uint8_t buf[WIRE_HDR_LEN + 64];
	struct child_life_msg m;
	ssize_t n;

	(void)ev;
	do {
		n = recv(fd, buf, sizeof(buf), 0);
		child_life_dispatch(buf, n, &m);
		child_life_act(cl, &m);
	} while (n > 0);
}

static void
on_signal(evutil_socket_t sig, short ev, void *arg)
{
	struct child_life *cl = arg;

	(void)ev;
	if (sig == SIGTERM) {
		cl->ops->drain(cl->arg, "SIGTERM");
		return;
	}
	log_info("SIGQUIT: exiting now");
	cl->ops->quit(cl->arg);
}

struct child_life *
child_life_new(struct event_base *base, int chan_fd, const char *role,
    const struct child_life_ops *ops, void *arg)
{
	struct child_life *cl;

	if ((cl = calloc(1, sizeof(*cl))) == NULL)
		return NULL;
	cl->chan_fd = chan_fd;
	cl->role = role;
	cl->ops = ops;
	cl->arg = arg;
	cl->chan_ev = event_new(base, chan_fd, EV_READ | EV_PERSIST,
	    on_channel, cl);
	cl->sig_term = evsignal_new(base, SIGTERM, on_signal, cl);
	cl->sig_quit = evsignal_new(base, SIGQUIT, on_signal, cl);
	if (cl->chan_ev == NULL || cl->sig_term == NULL ||
	    cl->sig_quit == NULL || event_add(cl->chan_ev, NULL) == -1 ||
	    event_add(cl->sig_term, NULL) == -1 ||
	    event_add(cl->sig_quit, NULL) == -1) {
		child_life_free(cl);
		return NULL;
	}
	if (util_set_nonblock(chan_fd) == -1)
		log_warn("fcntl(O_NONBLOCK) on the control channel");
	return cl;
}

int
child_life_ready(struct child_life *cl)
{
	uint8_t hdr[WIRE_HDR_LEN];

	wire_encode(hdr, WIRE_CTL_READY, 0, 0);
	if (send(cl->chan_fd, hdr, sizeof(hdr), MSG_NOSIGNAL) !=
	    (ssize_t)sizeof(hdr)) {
		log_warn("cannot tell the master we are ready");
		return -1;
	}
	return 0;
}

void
child_life_free(struct child_life *cl)
{
	if (cl == NULL)
		return;
	if (cl->chan_ev != NULL)
		event_free(cl->chan_ev);
	if (cl->sig_term != NULL)
		event_free(cl->sig_term);
	if (cl->sig_quit != NULL)
		event_free(cl->sig_quit);
	free(cl);
}
