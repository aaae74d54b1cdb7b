/*
 * master.h: the master process's state, one struct passed explicitly:
 * its configuration generations, the sockets it owns, the slot table of
 * its children and what it is doing (serving, reloading, stopping).
 */
#ifndef PLACESD_MASTER_H
#define PLACESD_MASTER_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/child.h"
#include "common/config.h"
#include "common/stats.h"
#include "master/proc.h"

/* A generation's configuration, freed when its last process is reaped. */
struct generation {
	unsigned id;                /* 0: free entry */
	struct config *cfg;
};

#define MASTER_MAX_GENS   (STATS_GENS + 2)

/* Back-off state of one slot (workers 0..n-1, the ranker at n). */
struct respawn {
	uint64_t due_ms;            /* 0: nothing pending */
	uint64_t backoff_ms;
	unsigned gen;
};

enum master_state { MS_RUNNING, MS_STOPPING, MS_STOPPING_FAST };

struct master {
	const struct role_def *roles;
	char conf_path[PATH_MAX];
	pid_t pid;

	struct config *cfg;         /* the serving generation's */
	unsigned gen;
	struct generation gens[MASTER_MAX_GENS];

	unsigned nworkers;
	int listen_fds[CONFIG_MAX_WORKERS];
	int ranker_fd;
	struct stats_area *stats;
	struct stats_block *st;

	struct proc procs[MASTER_MAX_PROCS];
	struct respawn respawn[CONFIG_MAX_WORKERS + 1];

	/* a reload in progress: generation next_gen is starting */
	struct config *next_cfg;
	unsigned next_gen;
	uint64_t reload_deadline_ms;
	bool reload_requested;      /* a SIGHUP waits for its turn */

	bool ready_sent;
	enum master_state state;
	uint64_t stop_deadline_ms;
	int exit_code;
};

/* proc.c: generations' configurations */
int gen_add(struct master *m, unsigned id, struct config *cfg);
void gen_collect(struct master *m);

/* master.c */
int master_run(struct master *m);
/* Frees every generation's configuration, the serving one included. */
void master_free(struct master *m);

#endif
