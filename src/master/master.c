/*
 * master.c: the master's life: start the generation, supervise it, and act
 * on signals. Signal handlers only set flags; the loop waits in ppoll(2)
 * with the signals unblocked just for the wait, so every flag is seen
 * right after it is set (the nginx sigsuspend pattern, plus the control
 * channels of the children).
 *
 *   SIGHUP  reload: parse the file; on any error keep the old generation.
 *           Otherwise start generation G+1 on the same sockets, and when
 *           all of it reports ready, tell generation G to drain.
 *   SIGTERM/SIGINT  graceful stop; a second one is a fast stop.
 *   SIGQUIT immediate stop.   SIGUSR1 reopen log files.   SIGCHLD reap.
 */
#include "master/master.h"
#include "master/listen.h"
#include "master/notify.h"
#include "common/log.h"
#include "common/proctitle.h"
#include "common/util.h"
#include "common/wire.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FAST_STOP_GRACE_MS   2000
#define RESPAWN_FIRST_MS     250
#define RESPAWN_MAX_MS       30000
#define CRASH_LIFETIME_MS    1000
#define RELOAD_READY_MS      120000

static volatile sig_atomic_t sig_hup, sig_term, sig_quit, sig_usr1, sig_chld;

static void
on_signal(int sig)
{
	switch (sig) {
	case SIGHUP:
		sig_hup = 1;
		break;
	case SIGTERM:
	case SIGINT:
		sig_term++;
		break;
	case SIGQUIT:
		sig_quit = 1;
		break;
	case SIGUSR1:
		sig_usr1 = 1;
		break;
	case SIGCHLD:
		sig_chld = 1;
		break;
	}
}

static int
signals_setup(sigset_t *waitmask)
{
	static const int sigs[] = { SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1,
	    SIGCHLD };
	struct sigaction sa;
	sigset_t block;
	size_t i;

	sigemptyset(&block);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < ARRAY_SIZE(sigs); i++) {
		sigaddset(&block, sigs[i]);
		if (sigaction(sigs[i], &sa, NULL) == -1) {
			log_error("sigaction(%d)", sigs[i]);
			return -1;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (sigprocmask(SIG_BLOCK, &block, waitmask) == -1) {
		log_error("sigprocmask()");
		return -1;
	}
	for (i = 0; i < ARRAY_SIZE(sigs); i++)
		sigdelset(waitmask, sigs[i]);
	return 0;
}

static void
status(struct master *m, const char *what)
{
	notify_send("STATUS=%s", what);
	(void)m;
}

static void
status_serving(struct master *m)
{
	char buf[320];
	unsigned i, draining = 0;

	for (i = 0; i < MASTER_MAX_PROCS; i++)
		if (m->procs[i].pid != 0 && m->procs[i].draining)
			draining++;
	snprintf(buf, sizeof(buf), "serving on %s: %u workers, generation %u, "
	    "%u old processes draining", m->cfg->listen, m->nworkers, m->gen,
	    draining);
	status(m, buf);
}

/* ---- spawning a generation ---------------------------------------------- */

static int
spawn_generation(struct master *m, unsigned gen, const struct config *cfg)
{
	unsigned i;

	if (proc_spawn(m, ROLE_RANKER, 0, gen, cfg) == NULL)
		return -1;
	for (i = 0; i < m->nworkers; i++)
		if (proc_spawn(m, ROLE_WORKER, i, gen, cfg) == NULL)
			return -1;
	return 0;
}

static bool
generation_ready(struct master *m, unsigned gen)
{
	unsigned i, n = 0;

	for (i = 0; i < MASTER_MAX_PROCS; i++) {
		struct proc *p = &m->procs[i];

		if (p->pid == 0 || p->gen != gen || p->draining || p->killed)
			continue;
		if (!p->ready)
			return false;
		n++;
	}
	return n == m->nworkers + 1;
}

static void
kill_generation(struct master *m, unsigned gen, int sig)
{
	unsigned i;

	for (i = 0; i < MASTER_MAX_PROCS; i++) {
		struct proc *p = &m->procs[i];

		if (p->pid > 0 && p->gen == gen) {
			p->killed = true;
			proc_kill(p, sig);
		}
	}
}

static void
drain_proc(struct master *m, struct proc *p, uint64_t now)
{
	char name[64];

	p->draining = true;
	p->kill_at_ms = now + p->cfg->shutdown_timeout_ms;
	if (proc_send(p, WIRE_CTL_DRAIN) == -1) {
		log_warn("cannot tell %s to drain; sending SIGTERM",
		    proc_name(p, name, sizeof(name)));
		proc_kill(p, SIGTERM);
	}
}

/* ---- reload ------------------------------------------------------------- */

static unsigned
draining_generations(struct master *m, unsigned *oldest)
{
	unsigned i, j, n = 0, seen[MASTER_MAX_PROCS];

	*oldest = 0;
	for (i = 0; i < MASTER_MAX_PROCS; i++) {
		struct proc *p = &m->procs[i];
		bool dup = false;

		if (p->pid == 0 || !p->draining || p->killed)
			continue;
		for (j = 0; j < n; j++)
			if (seen[j] == p->gen)
				dup = true;
		if (dup)
			continue;
		seen[n++] = p->gen;
		if (*oldest == 0 || p->gen < *oldest)
			*oldest = p->gen;
	}
	return n;
}

static void
reload_failed(struct master *m, const char *why)
{
	char buf[600];

	stats_add(&m->st->reloads_failed, 1);
	stats_gauge_set(&m->st->last_reload_ok, 0);
	log_errorx("reload failed, generation %u keeps serving: %s", m->gen,
	    why);
	snprintf(buf, sizeof(buf), "reload failed, generation %u keeps "
	    "serving: %s", m->gen, why);
	notify_send("READY=1\nSTATUS=%s", buf);
}

static void
reload_abort(struct master *m, const char *why)
{
	kill_generation(m, m->next_gen, SIGKILL);
	m->next_cfg = NULL;             /* owned by gens[], collected later */
	m->next_gen = 0;
	reload_failed(m, why);
	gen_collect(m);
}

static void
reload_start(struct master *m)
{
	struct config_errors errs = { NULL, 0 };
	struct config *cfg;
	char key[64];
	size_t i;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	notify_send("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading %s",
	    (unsigned long long)ts.tv_sec * 1000000ull +
	    (unsigned long long)ts.tv_nsec / 1000ull, m->conf_path);
	log_info("reloading %s", m->conf_path);
	if ((cfg = config_load(m->conf_path, &errs)) == NULL) {
		for (i = 0; i < errs.n; i++)
			log_errorx("%s", errs.msg[i]);
		reload_failed(m, errs.n > 0 ? errs.msg[0] :
		    "cannot load the configuration");
		config_errors_free(&errs);
		return;
	}
	if (config_restart_only_changed(m->cfg, cfg, key, sizeof(key))) {
		log_warnx("%s cannot change on reload; keeping the running "
		    "value until a restart", key);
		config_keep_restart_only(m->cfg, cfg);
	}
	m->next_gen = m->gen + 1;
	while (gen_add(m, m->next_gen, cfg) != 0) {
		/* every entry is held by a live generation: should not happen */
		config_free(cfg);
		m->next_gen = 0;
		reload_failed(m, "too many generations alive");
		return;
	}
	m->next_cfg = cfg;
	m->reload_deadline_ms = util_now_ms() + RELOAD_READY_MS;
	if (log_open(cfg->log_file) == -1)
		log_warn("cannot open log file %s; keeping the old one",
		    cfg->log_file);
	log_set_level(cfg->log_level);
	if (spawn_generation(m, m->next_gen, cfg) != 0)
		reload_abort(m, "cannot start the new generation");
}

/*
 * A reload waits while killed processes are not reaped yet (their stats
 * blocks are still taken). At most STATS_MAX_DRAINING generations drain at
 * once: when the reload would make one more, the oldest is killed first
 * and the reload starts once it is gone.
 */
static bool
reload_can_start(struct master *m)
{
	unsigned i, oldest;

	for (i = 0; i < MASTER_MAX_PROCS; i++)
		if (m->procs[i].pid != 0 && m->procs[i].killed)
			return false;
	if (draining_generations(m, &oldest) >= STATS_MAX_DRAINING) {
		log_warnx("%u generations already draining; killing generation "
		    "%u to make room for the reload", STATS_MAX_DRAINING, oldest);
		kill_generation(m, oldest, SIGKILL);
		return false;
	}
	return true;
}

static void
reload_commit(struct master *m)
{
	uint64_t now = util_now_ms();
	unsigned i;

	for (i = 0; i < MASTER_MAX_PROCS; i++) {
		struct proc *p = &m->procs[i];

		if (p->pid > 0 && p->gen < m->next_gen && !p->draining)
			drain_proc(m, p, now);
	}
	for (i = 0; i <= m->nworkers; i++)
		m->respawn[i].due_ms = 0;   /* the new generation fills them */
	m->cfg = m->next_cfg;
	m->gen = m->next_gen;
	m->next_cfg = NULL;
	m->next_gen = 0;
	stats_gauge_set(&m->st->generation, m->gen);
	stats_add(&m->st->reloads_ok, 1);
	stats_gauge_set(&m->st->last_reload_ok, 1);
	log_info("reload done: generation %u serving", m->gen);
	notify_send("READY=1");
	status_serving(m);
	gen_collect(m);
}

/* ---- stopping ----------------------------------------------------------- */

static void
stop_graceful(struct master *m)
{
	uint64_t now = util_now_ms();
	unsigned i;

	m->state = MS_STOPPING;
	m->stop_deadline_ms = now + m->cfg->shutdown_timeout_ms;
	/* new connections are refused from now on, not left in a queue
	 * that nobody will accept from */
	listen_close_all(m->listen_fds, m->nworkers);
	notify_send("STOPPING=1\nSTATUS=stopping: draining in-flight requests");
	log_info("graceful stop: draining for at most %llums",
	    (unsigned long long)m->cfg->shutdown_timeout_ms);
	for (i = 0; i < MASTER_MAX_PROCS; i++) {
		struct proc *p = &m->procs[i];

		if (p->pid > 0 && !p->draining)
			drain_proc(m, p, now);
	}
}

static void
stop_fast(struct master *m, const char *why)
{
	unsigned i;

	if (m->state == MS_STOPPING_FAST)
		return;
	if (m->state == MS_RUNNING)
		notify_send("STOPPING=1");
	m->state = MS_STOPPING_FAST;
	m->stop_deadline_ms = util_now_ms() + FAST_STOP_GRACE_MS;
	notify_send("STATUS=stopping now: %s", why);
	log_info("fast stop: %s", why);
	for (i = 0; i < MASTER_MAX_PROCS; i++)
		proc_kill(&m->procs[i], SIGQUIT);
}

/* ---- reaping and respawning -------------------------------------------- */

static void
describe_exit(int wstatus, char *buf, size_t len)
{
	if (WIFEXITED(wstatus))
		snprintf(buf, len, "exited with code %d", WEXITSTATUS(wstatus));
	else if (WIFSIGNALED(wstatus))
		snprintf(buf, len, "killed by signal %d (%s)%s",
		    WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)),
		    WCOREDUMP(wstatus) ? ", core dumped" : "");
	else
		snprintf(buf, len, "ended with status %#x", wstatus);
}

static void
schedule_respawn(struct master *m, struct proc *p, uint64_t now)
{
	unsigned idx = p->role == ROLE_RANKER ? m->nworkers : p->slot;
	struct respawn *r = &m->respawn[idx];
	uint64_t lived = now - p->started_ms;
	char name[64];

	if (lived >= CRASH_LIFETIME_MS) {
		r->backoff_ms = 0;
		r->due_ms = now;
	} else {
		r->backoff_ms = r->backoff_ms == 0 ? RESPAWN_FIRST_MS :
		    r->backoff_ms * 2;
		if (r->backoff_ms > RESPAWN_MAX_MS)
			r->backoff_ms = RESPAWN_MAX_MS;
		r->due_ms = now + r->backoff_ms;
		log_warnx("%s lived only %llums: respawning in %llums "
		    "(crash-loop back-off)", proc_name(p, name, sizeof(name)),
		    (unsigned long long)lived,
		    (unsigned long long)r->backoff_ms);
	}
	r->gen = p->gen;
	if (p->role == ROLE_RANKER)
		stats_add(&m->st->restarts_ranker, 1);
	else
		stats_add(&m->st->restarts_worker, 1);
}

static void
reap_one(struct master *m, pid_t pid, int wstatus, uint64_t now)
{
	struct proc *p = proc_by_pid(m, pid);
	char name[64], how[96], buf[256];
	bool fatal;

	if (p == NULL)
		return;
	proc_name(p, name, sizeof(name));
	describe_exit(wstatus, how, sizeof(how));
	fatal = WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == EXIT_FATAL;
	if (p->draining || p->killed || m->state != MS_RUNNING) {
		log_info("%s %s", name, how);
	} else if (m->next_gen != 0 && p->gen == m->next_gen) {
		log_errorx("%s %s before it was ready", name, how);
		snprintf(buf, sizeof(buf), "%s %s before it was ready", name,
		    how);
		proc_release(m, p);
		reload_abort(m, buf);
		return;
	} else if (fatal) {
		log_errorx("%s %s (fatal: cannot be respawned); stopping",
		    name, how);
		snprintf(buf, sizeof(buf), "%s exited with the fatal code", name);
		m->exit_code = EXIT_FATAL;
		proc_release(m, p);
		stop_fast(m, buf);
		return;
	} else {
		log_warnx("%s %s unexpectedly", name, how);
		schedule_respawn(m, p, now);
	}
	proc_release(m, p);
	gen_collect(m);
}

static void
reap(struct master *m)
{
	uint64_t now = util_now_ms();
	int wstatus;
	pid_t pid;

	while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0)
		reap_one(m, pid, wstatus, now);
	if (pid == -1 && errno != ECHILD)
		log_warn("waitpid()");
}

static void
respawn_due(struct master *m, uint64_t now)
{
	unsigned i;

	if (m->state != MS_RUNNING)
		return;
	for (i = 0; i <= m->nworkers; i++) {
		struct respawn *r = &m->respawn[i];

		if (r->due_ms == 0 || r->due_ms > now)
			continue;
		r->due_ms = 0;
		if (r->gen != m->gen)
			continue;           /* a reload replaced that generation */
		if (proc_spawn(m, i == m->nworkers ? ROLE_RANKER : ROLE_WORKER,
		    i == m->nworkers ? 0 : i, m->gen, m->cfg) == NULL) {
			r->backoff_ms = RESPAWN_MAX_MS;
			r->due_ms = now + RESPAWN_MAX_MS;
		}
	}
}

/* ---- the loop ----------------------------------------------------------- */

static void
on_ready(struct master *m)
{
	if (m->next_gen != 0 && generation_ready(m, m->next_gen)) {
		reload_commit(m);
		return;
	}
	if (!m->ready_sent && generation_ready(m, m->gen)) {
		m->ready_sent = true;
		log_info("ready: %u workers on %s, generation %u", m->nworkers,
		    m->cfg->listen, m->gen);
		notify_send("READY=1\nMAINPID=%ld", (long)m->pid);
		status_serving(m);
	}
}

static void
read_channel(struct master *m, struct proc *p)
{
	uint8_t buf[WIRE_HDR_LEN + 64];
	struct wire_hdr h;
	char name[64];
	ssize_t n;

	while ((n = recv(p->chan, buf, sizeof(buf), 0)) > 0) {
		if (wire_decode(buf, (size_t)n, 0, &h) != WIRE_OK ||
		    h.type != WIRE_CTL_READY) {
			log_warnx("bad control message from %s; ignored",
			    proc_name(p, name, sizeof(name)));
			continue;
		}
		if (!p->ready) {
			p->ready = true;
			log_debug("%s is ready", proc_name(p, name,
			    sizeof(name)));
			on_ready(m);
		}
	}
	if (n == 0)
		p->chan_eof = true;     /* exit follows; SIGCHLD reaps it */
}

static int
next_timeout(struct master *m, uint64_t now)
{
	uint64_t next = now + 1000;
	unsigned i;

#define EARLIER(t) do { if ((t) != 0 && (t) < next) next = (t); } while (0)
	for (i = 0; i <= m->nworkers; i++)
		EARLIER(m->respawn[i].due_ms);
	for (i = 0; i < MASTER_MAX_PROCS; i++)
		if (m->procs[i].pid > 0 && !m->procs[i].killed)
			EARLIER(m->procs[i].kill_at_ms);
	if (m->next_gen != 0)
		EARLIER(m->reload_deadline_ms);
	if (m->state != MS_RUNNING)
		EARLIER(m->stop_deadline_ms);
#undef EARLIER
	return next <= now ? 0 : (int)(next - now);
}

static void
timers(struct master *m, uint64_t now)
{
	char name[64];
	unsigned i;

	respawn_due(m, now);
	for (i = 0; i < MASTER_MAX_PROCS; i++) {
		struct proc *p = &m->procs[i];

		if (p->pid > 0 && !p->killed && p->kill_at_ms != 0 &&
		    p->kill_at_ms <= now) {
			log_warnx("%s still busy after shutdown_timeout; "
			    "killing it", proc_name(p, name, sizeof(name)));
			p->killed = true;
			proc_kill(p, SIGKILL);
		}
	}
	if (m->next_gen != 0 && m->reload_deadline_ms <= now)
		reload_abort(m, "the new generation was not ready in time");
	if (m->state != MS_RUNNING && m->stop_deadline_ms <= now) {
		for (i = 0; i < MASTER_MAX_PROCS; i++) {
			if (m->procs[i].pid > 0 && !m->procs[i].killed) {
				log_warnx("%s did not stop in time; killing it",
				    proc_name(&m->procs[i], name, sizeof(name)));
				m->procs[i].killed = true;
				proc_kill(&m->procs[i], SIGKILL);
			}
		}
	}
}

static void
handle_signals(struct master *m)
{
	unsigned i;

	if (sig_chld) {
		sig_chld = 0;
		reap(m);
	}
	if (sig_quit) {
		sig_quit = 0;
		stop_fast(m, "SIGQUIT");
	}
	if (sig_term) {
		int n = sig_term;

		sig_term = 0;
		if (m->state == MS_RUNNING && n == 1)
			stop_graceful(m);
		else
			stop_fast(m, "second SIGTERM/SIGINT");
	}
	if (sig_usr1) {
		sig_usr1 = 0;
		if (log_reopen() == -1)
			log_warn("cannot reopen the log file");
		else
			log_info("log files reopened");
		for (i = 0; i < MASTER_MAX_PROCS; i++)
			if (m->procs[i].pid > 0)
				proc_send(&m->procs[i], WIRE_CTL_REOPEN);
	}
	if (sig_hup) {
		sig_hup = 0;
		if (m->state == MS_RUNNING)
			m->reload_requested = true;
	}
	if (m->reload_requested && m->next_gen == 0 && m->state == MS_RUNNING &&
	    reload_can_start(m)) {
		m->reload_requested = false;
		reload_start(m);
	}
}

static void
poll_once(struct master *m, const sigset_t *waitmask)
{
	struct pollfd pfd[MASTER_MAX_PROCS];
	struct proc *owner[MASTER_MAX_PROCS];
	struct timespec ts;
	unsigned i, n = 0;
	int timeout, rc;

	for (i = 0; i < MASTER_MAX_PROCS; i++) {
		struct proc *p = &m->procs[i];

		if (p->pid > 0 && !p->chan_eof) {
			pfd[n].fd = p->chan;
			pfd[n].events = POLLIN;
			owner[n++] = p;
		}
	}
	timeout = next_timeout(m, util_now_ms());
	ts.tv_sec = timeout / 1000;
	ts.tv_nsec = (long)(timeout % 1000) * 1000000L;
	rc = ppoll(pfd, n, &ts, waitmask);
	if (rc == -1 && errno != EINTR)
		log_warn("ppoll()");
	for (i = 0; rc > 0 && i < n; i++)
		if (pfd[i].revents != 0 && owner[i]->pid > 0)
			read_channel(m, owner[i]);
}

void
master_free(struct master *m)
{
	unsigned i;

	for (i = 0; i < MASTER_MAX_GENS; i++) {
		if (m->gens[i].id != 0)
			config_free(m->gens[i].cfg);
		m->gens[i].id = 0;
		m->gens[i].cfg = NULL;
	}
	m->cfg = NULL;
}

int
master_run(struct master *m)
{
	sigset_t waitmask;
	unsigned i;

	m->pid = getpid();
	proctitle_set("placesd: master");
	log_set_role("master");
	for (i = 0; i < MASTER_MAX_PROCS; i++)
		m->procs[i].chan = -1;
	if (signals_setup(&waitmask) != 0)
		return EXIT_FATAL;
	m->gen = 1;
	stats_gauge_set(&m->st->generation, 1);
	stats_gauge_set(&m->st->last_reload_ok, 1);
	stats_gauge_set(&m->st->workers, m->nworkers);
	if (gen_add(m, m->gen, m->cfg) != 0 ||
	    spawn_generation(m, m->gen, m->cfg) != 0) {
		stop_fast(m, "cannot start the first generation");
		m->exit_code = EXIT_RUNTIME;
	} else {
		status(m, "starting workers");
	}
	for (;;) {
		poll_once(m, &waitmask);
		handle_signals(m);
		timers(m, util_now_ms());
		if (m->state != MS_RUNNING && proc_count(m) == 0)
			break;
	}
	log_info("stopped (exit status %d)", m->exit_code);
	status(m, "stopped");
	return m->exit_code;
}
