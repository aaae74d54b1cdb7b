/*
 * listen.c: the master binds, the workers inherit (nginx's
 * ngx_clone_listening). Each worker slot gets its own SO_REUSEPORT socket,
 * and the master keeps every one open across reloads and respawns: a
 * reuseport socket that is closed resets the connections queued on it.
 * These sockets are created only when serving: `placesd -t` never calls
 * this file (nginx ticket #1300).
 */
#include "master/listen.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int
open_one(const struct config *cfg)
{
	int fd, on = 1;

	fd = socket(cfg->listen_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_error("socket() for %s", cfg->listen);
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) == -1 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1) {
		log_error("setsockopt() on %s", cfg->listen);
		goto fail;
	}
	if (cfg->listen_addr.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) == -1) {
		log_error("setsockopt(IPV6_V6ONLY) on %s", cfg->listen);
		goto fail;
	}
	if (bind(fd, (const struct sockaddr *)&cfg->listen_addr,
	    cfg->listen_addrlen) == -1) {
		log_error("cannot bind %s (server.listen)", cfg->listen);
		goto fail;
	}
	if (listen(fd, (int)cfg->backlog) == -1) {
		log_error("listen() on %s", cfg->listen);
		goto fail;
	}
	/* required: evhtp_accept_socket() does not make it non-blocking */
	if (util_set_nonblock(fd) == -1) {
		log_error("fcntl(O_NONBLOCK) on %s", cfg->listen);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/*
 * SO_REUSEPORT lets a second process of the same user bind the port too,
 * and the kernel would then split the connections between two servers
 * without a word. A plain bind first (no SO_REUSEPORT, never listening, so
 * closing it resets nothing) fails with EADDRINUSE if anything holds the
 * address, placesd included.
 */
static int
probe_free(const struct config *cfg)
{
	int fd, on = 1, rc = 0;

	fd = socket(cfg->listen_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_error("socket() for %s", cfg->listen);
		return -1;
	}
	if (cfg->listen_addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (bind(fd, (const struct sockaddr *)&cfg->listen_addr,
	    cfg->listen_addrlen) == -1) {
		log_error("cannot bind %s (server.listen); is another server "
		    "running there?", cfg->listen);
		rc = -1;
	}
	close(fd);
	return rc;
}

int
listen_open_tcp(const struct config *cfg, unsigned n, int *fds)
{
	unsigned i;

	if (probe_free(cfg) != 0)
		return -1;
	for (i = 0; i < n; i++) {
		if ((fds[i] = open_one(cfg)) == -1) {
			listen_close_all(fds, i);
			return -1;
		}
	}
	return 0;
}

int
listen_open_unix(const char *path, int backlog, long uid, long gid)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_errorx("ranker.socket %s: path too long", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	/* a stale socket from a previous run; never unlink anything else */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_errorx("ranker.socket %s exists and is not a socket",
			    path);
			return -1;
		}
		if (unlink(path) == -1) {
			log_error("unlink(%s) of the stale ranker socket", path);
			return -1;
		}
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		log_error("socket(AF_UNIX) for %s", path);
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		log_error("cannot bind the ranker socket %s (ranker.socket)",
		    path);
		goto fail;
	}
	if (chmod(path, 0600) == -1 ||
	    (uid >= 0 && chown(path, (uid_t)uid, (gid_t)gid) == -1)) {
		log_error("chmod/chown of %s", path);
		goto fail;
	}
	if (listen(fd, backlog) == -1 || util_set_nonblock(fd) == -1) {
		log_error("listen() on %s", path);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

void
listen_close_all(int *fds, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}
