/*
 * listen.h: the sockets the master owns for its whole life: one
 * SO_REUSEPORT TCP listener per worker slot and the ranker's Unix socket.
 */
#ifndef PLACESD_LISTEN_H
#define PLACESD_LISTEN_H

#include "common/config.h"

/* Opens n listeners on cfg->listen_addr. 0, or -1 after logging why. */
int listen_open_tcp(const struct config *cfg, unsigned n, int *fds);
/* Binds the ranker's Unix socket (mode 0600, owned by uid/gid if >= 0). */
int listen_open_unix(const char *path, int backlog, long uid, long gid);
void listen_close_all(int *fds, unsigned n);

#endif
