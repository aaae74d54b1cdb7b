/*
 * child.h: what the master hands a child process at fork time, and the
 * exit codes every process uses. A child knows only what is in here.
 */
#ifndef PLACESD_CHILD_H
#define PLACESD_CHILD_H

#include <sys/types.h>

#include "common/config.h"
#include "common/stats.h"

/* Exit statuses (placesd(8), EXIT STATUS). */
#define EXIT_OK       0
#define EXIT_RUNTIME  1     /* failed while running: a supervisor may restart */
#define EXIT_FATAL    2     /* bad config, cannot bind, cannot init: do not respawn */

struct child_args {
	const struct config *cfg;   /* this generation's configuration */
	unsigned slot;              /* worker slot; 0 for the ranker */
	unsigned gen;               /* generation number, 1 at start */
	int listen_fd;              /* worker: its slot's TCP listener */
	int ranker_listen_fd;       /* ranker: the Unix listener */
	int chan_fd;                /* control channel to the master */
	pid_t master_pid;
	struct stats_area *stats;   /* the whole shared area (read) */
	struct stats_block *st;     /* this process's own block (write) */
};

typedef int (*child_main_fn)(const struct child_args *);

#endif
