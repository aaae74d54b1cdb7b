/*
 * proc.c: the master's slot table: spawning a child into a slot with its
 * control socketpair and stats block, finding and releasing entries, and
 * messaging children. Policy (when to respawn, reload, stop) is master.c's.
 */
#include "master/master.h"
#include "master/notify.h"
#include "common/log.h"
#include "common/proctitle.h"
#include "common/util.h"
#include "common/wire.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

const char *
proc_name(const struct proc *p, char *buf, size_t len)
{
	if (p->role == ROLE_RANKER)
		snprintf(buf, len, "ranker (gen %u)", p->gen);
	else
		snprintf(buf, len, "worker %u (gen %u)", p->slot, p->gen);
	return buf;
}

/* A stats block of this role and slot that no live process writes. */
static int
free_stats_block(struct master *m, int role, unsigned slot, unsigned *idx)
{
	unsigned k, i;

	for (k = 0; k < STATS_GENS; k++) {
		unsigned cand = role == ROLE_RANKER ? stats_ranker_index(k) :
		    stats_worker_index(m->nworkers, slot, k);
		bool used = false;

		for (i = 0; i < MASTER_MAX_PROCS; i++)
			if (m->procs[i].pid != 0 &&
			    m->procs[i].stats_idx == cand)
				used = true;
		if (!used) {
			*idx = cand;
			return 0;
		}
	}
	return -1;
}

/* In the child: keep only what this process was handed. */
static void
child_setup(struct master *m, struct proc *self, int chan)
{
	sigset_t none;
	unsigned i;
	int sig;

	for (i = 0; i < MASTER_MAX_PROCS; i++)
		if (m->procs[i].pid != 0 && &m->procs[i] != self)
			close(m->procs[i].chan);
	for (i = 0; i < m->nworkers; i++)
		if (self->role != ROLE_WORKER || i != self->slot)
			close(m->listen_fds[i]);
	if (self->role != ROLE_RANKER)
		close(m->ranker_fd);
	notify_close();
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	/* the master coordinates: terminal HUP/INT to the group are its job */
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
		log_warn("prctl(PR_SET_PDEATHSIG)");
	if (getppid() != m->pid)
		_exit(EXIT_RUNTIME);    /* the master died before prctl() */
	(void)chan;
}

static void
child_run(struct master *m, struct proc *self, int chan)
{
	struct child_args a;
	char name[64];
	int rc;

	child_setup(m, self, chan);
	proc_name(self, name, sizeof(name));
	if (self->role == ROLE_WORKER)
		log_set_role("worker %u", self->slot);
	else
		log_set_role("ranker");
	proctitle_set("placesd: %s", name);
	if ((self->cfg->crash_at_start == CRASH_WORKER &&
	    self->role == ROLE_WORKER) ||
	    (self->cfg->crash_at_start == CRASH_RANKER &&
	    self->role == ROLE_RANKER)) {
		log_errorx("exiting at start on purpose (debug.crash_at_start)");
		_exit(70);
	}
	memset(&a, 0, sizeof(a));
	a.cfg = self->cfg;
	a.slot = self->slot;
	a.gen = self->gen;
	a.listen_fd = self->role == ROLE_WORKER ?
	    m->listen_fds[self->slot] : -1;
	a.ranker_listen_fd = self->role == ROLE_RANKER ? m->ranker_fd : -1;
	a.chan_fd = chan;
	a.master_pid = m->pid;
	a.stats = m->stats;
	a.st = stats_block(m->stats, self->stats_idx);
	rc = m->roles[self->role].run(&a);
	exit(rc);
}

struct proc *
proc_spawn(struct master *m, int role, unsigned slot, unsigned gen,
    const struct config *cfg)
{
	struct proc *p = NULL;
	char name[64];
	unsigned i, idx;
	int sv[2];
	pid_t pid;

	for (i = 0; i < MASTER_MAX_PROCS && p == NULL; i++)
		if (m->procs[i].pid == 0)
			p = &m->procs[i];
	if (p == NULL || free_stats_block(m, role, slot, &idx) != 0) {
		log_errorx("no free process slot for %s %u (gen %u)",
		    m->roles[role].name, slot, gen);
		return NULL;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_error("socketpair() for %s %u", m->roles[role].name, slot);
		return NULL;
	}
	memset(p, 0, sizeof(*p));
	p->role = role;
	p->slot = slot;
	p->gen = gen;
	p->cfg = cfg;
	p->stats_idx = idx;
	p->chan = sv[0];
	p->started_ms = util_now_ms();
	p->pid = -1;                    /* reserved while forking */
	if ((pid = fork()) == -1) {
		log_error("fork() of %s", proc_name(p, name, sizeof(name)));
		close(sv[0]);
		close(sv[1]);
		p->pid = 0;
		return NULL;
	}
	if (pid == 0) {
		close(sv[0]);
		child_run(m, p, sv[1]);
	}
	close(sv[1]);
	util_set_nonblock(p->chan);
	p->pid = pid;
	log_info("started %s, pid %ld", proc_name(p, name, sizeof(name)),
	    (long)pid);
	return p;
}

struct proc *
proc_by_pid(struct master *m, pid_t pid)
{
	unsigned i;

	for (i = 0; i < MASTER_MAX_PROCS; i++)
		if (m->procs[i].pid == pid)
			return &m->procs[i];
	return NULL;
}

void
proc_release(struct master *m, struct proc *p)
{
	struct stats_block *b = stats_block(m->stats, p->stats_idx);

	if (b != NULL)
		stats_reset_gauges(b);
	if (p->chan >= 0)
		close(p->chan);
	memset(p, 0, sizeof(*p));
	p->chan = -1;
}

int
proc_send(struct proc *p, unsigned type)
{
	uint8_t hdr[WIRE_HDR_LEN];

	wire_encode(hdr, type, 0, 0);
	if (p->chan_eof || send(p->chan, hdr, sizeof(hdr), MSG_NOSIGNAL) !=
	    (ssize_t)sizeof(hdr))
		return -1;
	return 0;
}

void
proc_kill(struct proc *p, int sig)
{
	if (p->pid > 0 && kill(p->pid, sig) == -1 && errno != ESRCH)
		log_warn("kill(%ld, %d)", (long)p->pid, sig);
}

unsigned
proc_count(const struct master *m)
{
	unsigned i, n = 0;

	for (i = 0; i < MASTER_MAX_PROCS; i++)
		if (m->procs[i].pid != 0)
			n++;
	return n;
}

int
gen_add(struct master *m, unsigned id, struct config *cfg)
{
	unsigned i;

	for (i = 0; i < MASTER_MAX_GENS; i++) {
		if (m->gens[i].id == 0) {
			m->gens[i].id = id;
			m->gens[i].cfg = cfg;
			return 0;
		}
	}
	return -1;
}

/* Frees the configurations that no process and no pending work uses. */
void
gen_collect(struct master *m)
{
	unsigned i, j;

	for (i = 0; i < MASTER_MAX_GENS; i++) {
		struct generation *g = &m->gens[i];
		bool used = g->id == m->gen || g->id == m->next_gen;

		if (g->id == 0)
			continue;
		for (j = 0; j < MASTER_MAX_PROCS && !used; j++)
			if (m->procs[j].pid != 0 && m->procs[j].gen == g->id)
				used = true;
		if (!used) {
			config_free(g->cfg);
			g->id = 0;
			g->cfg = NULL;
		}
	}
}
