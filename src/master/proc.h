/*
 * proc.h: the master's slot table (nginx's ngx_processes[]): the role
 * table, one entry per child process, and spawning, finding, messaging
 * and releasing them.
 */
#ifndef PLACESD_PROC_H
#define PLACESD_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/child.h"
#include "common/config.h"
#include "common/stats.h"

struct master;

#define MASTER_MAX_PROCS  ((CONFIG_MAX_WORKERS + 1) * STATS_GENS)

enum proc_role { ROLE_WORKER, ROLE_RANKER, ROLE_COUNT };

/* The role table: title and entry point of each kind of child. */
struct role_def {
	const char *name;
	child_main_fn run;
};

/* One child process (nginx's ngx_process_t). */
struct proc {
	pid_t pid;                  /* 0: free entry */
	int chan;                   /* master's end of the control socketpair */
	int role;
	unsigned slot;
	unsigned gen;
	unsigned stats_idx;
	const struct config *cfg;
	uint64_t started_ms;
	uint64_t kill_at_ms;        /* 0: no deadline */
	bool ready;
	bool draining;              /* told to drain: its exit is expected */
	bool killed;                /* SIGKILL sent or being aborted */
	bool chan_eof;
};

struct proc *proc_spawn(struct master *m, int role, unsigned slot,
    unsigned gen, const struct config *cfg);
struct proc *proc_by_pid(struct master *m, pid_t pid);
void proc_release(struct master *m, struct proc *p);
int proc_send(struct proc *p, unsigned type);
void proc_kill(struct proc *p, int sig);
unsigned proc_count(const struct master *m);
const char *proc_name(const struct proc *p, char *buf, size_t len);

#endif
