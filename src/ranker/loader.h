/*
 * loader.h: the ranker's loader thread. It keeps the snapshot of a
 * snap_holder up to date from PostgreSQL: LISTEN first, then a full
 * load; a rebuild ~100 ms after any NOTIFY (places_changed, offers) and
 * every 10 minutes anyway (time zone offsets move with DST). A lost
 * connection or a failed load keeps the old snapshot and retries with
 * back-off. The accept loop never waits on it.
 */
#ifndef PLACESD_LOADER_H
#define PLACESD_LOADER_H

#include "ranker/snapshot.h"

struct loader;

/* Starts the thread; NULL (logged) if it cannot. */
struct loader *loader_start(const char *conninfo, struct snap_holder *h);
/* Tells the thread to stop, joins it and frees everything (NULL is ok). */
void loader_stop(struct loader *l);

#endif
