/*
 * child_life.h: the life of a child process (a worker or the ranker) as
 * the master drives it, one copy for both roles: the control channel from
 * the master, the signals a child takes, and the READY it sends.
 *
 *   DRAIN frame          drain(arg, "told by the master")
 *   REOPEN frame         the log file is reopened, then reopen(arg)
 *   end of file          the master is gone: drain(arg, "the master is gone")
 *   SIGTERM              drain(arg, "SIGTERM")
 *   SIGQUIT              "SIGQUIT: exiting now", then quit(arg)
 *
 * SIGHUP, SIGINT, SIGUSR1 and SIGPIPE are ignored from the fork on (the
 * master's job, master/proc.c). drain() may be called more than once (the
 * master's DRAIN, then its end, then a SIGTERM): the role keeps the first.
 *
 * Bad frames, one policy for every child: a read that is not whole frame
 * headers (a bad version, type or flags, a payload, a truncated header,
 * or a type the master does not send) is logged as a warning naming the
 * role and what was wrong, and ignored; the child goes on as it was. What
 * came before the bad frame in the same read is acted on; what follows it
 * is not. The channel is a SOCK_SEQPACKET socketpair, so a read is one
 * frame and a bad one cannot make the next one unreadable.
 */
#ifndef PLACESD_CHILD_LIFE_H
#define PLACESD_CHILD_LIFE_H

#include <stddef.h>
#include <sys/types.h>

struct event_base;
struct child_life;

/* What the role does; arg is the role's own (struct worker, ranker). */
struct child_life_ops {
	void (*drain)(void *arg, const char *why);
	void (*quit)(void *arg);        /* exit now */
	void (*reopen)(void *arg);      /* more files than the log; or NULL */
};

/* What the bytes of one read from the master ask for (bits of acts). */
#define CHILD_LIFE_DRAIN   0x01
#define CHILD_LIFE_REOPEN  0x02
#define CHILD_LIFE_GONE    0x04     /* end of file: the master is gone */
#define CHILD_LIFE_BAD     0x08     /* a bad frame, said in bad */

struct child_life_msg {
	unsigned acts;
	unsigned frames;                /* good frames before any bad one */
	char bad[80];                   /* what was wrong, when BAD */
};

/*
 * The pure part: the n bytes of one recv() (n 0: end of file; n < 0: no
 * data) into out. Returns out->acts.
 */
unsigned child_life_dispatch(const void *buf, ssize_t n,
    struct child_life_msg *out);

/*
 * Adds the channel event (chan_fd, made non-blocking) and the SIGTERM and
 * SIGQUIT events to base; role names the process in the bad-frame
 * warning. NULL when an event cannot be set up. The caller still owns and
 * closes chan_fd.
 */
struct child_life *child_life_new(struct event_base *base, int chan_fd,
    const char *role, const struct child_life_ops *ops, void *arg);
/* Tells the master this child serves: 0, or -1 (logged). */
int child_life_ready(struct child_life *cl);
/* Frees the events; before their base is freed. NULL is fine. */
void child_life_free(struct child_life *cl);

#endif
