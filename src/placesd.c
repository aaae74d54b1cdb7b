/*
 * placesd.c: main(): command line, configuration, the sockets and the
 * shared stats area that the master owns, privileges, then the master
 * takes over. This file also picks what each role runs: a worker is handed
 * the API (src/api/), so that the worker itself never includes it.
 * placesd always runs in the foreground (systemd's model).
 */
#include "api/api.h"
#include "common/child.h"
#include "common/config.h"
#include "common/log.h"
#include "common/proctitle.h"
#include "common/stats.h"
#include "master/listen.h"
#include "master/master.h"
#include "master/notify.h"
#include "ranker/ranker.h"
#include "worker/worker.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONF SYSCONFDIR "/placesd/placesd.conf"

/* A worker serves the HTTP API: the handlers are handed to it here. */
static int
api_worker_main(const struct child_args *a)
{
	return worker_main(a, &api_app);
}

static const struct role_def roles[ROLE_COUNT] = {
	[ROLE_WORKER] = { "worker", api_worker_main },
	[ROLE_RANKER] = { "ranker", ranker_main },
};

static void
usage(FILE *fp)
{
	fprintf(fp, "usage: placesd [-htV] [-c file]\n"
	    "  -c file  configuration file (default %s)\n"
	    "  -t       check the configuration file and exit\n"
	    "  -V       print the version and exit\n"
	    "  -h       print this help and exit\n", DEFAULT_CONF);
}

static struct config *
load(const char *path)
{
	struct config_errors errs = { NULL, 0 };
	struct config *cfg = config_load(path, &errs);
	size_t i;

	for (i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.msg[i]);
	config_errors_free(&errs);
	return cfg;
}

/* Looks the user up while still root; -1 on error (logged). */
static int
lookup_user(const char *user, long *uid, long *gid)
{
	struct passwd *pw;

	*uid = *gid = -1;
	if (*user == '\0')
		return 0;
	if (getuid() != 0) {
		log_warnx("not started as root: server.user = %s ignored", user);
		return 0;
	}
	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		log_errorx("server.user: no such user \"%s\"", user);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

static int
drop_privileges(const char *user, long uid, long gid)
{
	if (uid < 0)
		return 0;
	if (initgroups(user, (gid_t)gid) == -1 || setgid((gid_t)gid) == -1 ||
	    setuid((uid_t)uid) == -1) {
		log_error("cannot drop privileges to %s", user);
		return -1;
	}
	if (setuid(0) != -1) {
		log_errorx("privileges were not dropped: setuid(0) succeeded");
		return -1;
	}
	log_info("running as %s (uid %ld)", user, uid);
	return 0;
}

static int
open_sockets(struct master *m, long uid, long gid)
{
	unsigned i;

	for (i = 0; i < CONFIG_MAX_WORKERS; i++)
		m->listen_fds[i] = -1;
	if (listen_open_tcp(m->cfg, m->nworkers, m->listen_fds) != 0)
		return -1;
	m->ranker_fd = listen_open_unix(m->cfg->ranker_socket, 1024, uid, gid);
	if (m->ranker_fd == -1) {
		listen_close_all(m->listen_fds, m->nworkers);
		return -1;
	}
	return 0;
}

static int
serve(struct config *cfg, const char *path)
{
	static struct master m;    /* large: the slot table */
	long uid, gid;
	int rc;

	snprintf(m.conf_path, sizeof(m.conf_path), "%s", path);
	m.roles = roles;
	m.cfg = cfg;
	m.nworkers = (unsigned)cfg->workers;
	log_set_role("master");
	log_set_level(cfg->log_level);
	if (log_open(cfg->log_file) == -1) {
		log_error("cannot open log file %s (log.file)", cfg->log_file);
		goto fatal;
	}
	if (lookup_user(cfg->user, &uid, &gid) != 0)
		goto fatal;
	if (uid >= 0 && cfg->log_file[0] != '\0' &&
	    chown(cfg->log_file, (uid_t)uid, (gid_t)gid) == -1)
		log_warn("chown(%s)", cfg->log_file);
	notify_init();
	if (open_sockets(&m, uid, gid) != 0) {
		notify_send("STATUS=cannot bind %s; see the log", cfg->listen);
		goto fatal;
	}
	if ((m.stats = stats_area_create(m.nworkers)) == NULL) {
		log_error("mmap() of the stats area");
		goto fatal_sockets;
	}
	m.st = stats_block(m.stats, stats_master_index());
	if (drop_privileges(cfg->user, uid, gid) != 0)
		goto fatal_stats;
	log_info("placesd %s starting: %u workers on %s, ranker on %s",
	    PACKAGE_VERSION, m.nworkers, cfg->listen, cfg->ranker_socket);
	rc = master_run(&m);        /* from here on, m owns cfg */
	listen_close_all(m.listen_fds, m.nworkers);
	close(m.ranker_fd);
	if (m.cfg != NULL)
		unlink(m.cfg->ranker_socket);
	stats_area_destroy(m.stats);
	notify_close();
	master_free(&m);
	log_close();
	return rc;

fatal_stats:
	stats_area_destroy(m.stats);
fatal_sockets:
	listen_close_all(m.listen_fds, m.nworkers);
	close(m.ranker_fd);
fatal:
	notify_close();
	config_free(cfg);
	log_close();
	return EXIT_FATAL;
}

int
main(int argc, char **argv)
{
	const char *path = DEFAULT_CONF;
	char *conf;
	struct config *cfg;
	int ch, test = 0, rc;

	while ((ch = getopt(argc, argv, "c:htV")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'V':
			printf("placesd %s\n", PACKAGE_VERSION);
			return EXIT_OK;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_FATAL;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "placesd: unexpected argument \"%s\"\n",
		    argv[optind]);
		usage(stderr);
		return EXIT_FATAL;
	}
	/* argv is overwritten by process titles: keep our own copy */
	if ((conf = strdup(path)) == NULL)
		return EXIT_RUNTIME;
	if ((cfg = load(conf)) == NULL) {
		free(conf);
		return EXIT_FATAL;
	}
	if (test) {
		printf("placesd: configuration file %s is ok\n", conf);
		config_free(cfg);
		free(conf);
		return EXIT_OK;
	}
	if (proctitle_init(argc, argv) != 0)
		fprintf(stderr, "placesd: cannot set process titles\n");
	rc = serve(cfg, conf);
	free(conf);
	return rc;
}
