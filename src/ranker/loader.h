/*
 * loader.h: the ranker's loader thread. It keeps the snapshot of a
 * snap_holder up to date from PostgreSQL: LISTEN first, then a full
 * load; ~10 ms after a burst of new offers alone (NOTIFY offers) a
 * delta: the current snapshot with those places' offer flags changed,
 * sharing everything else; ~100 ms after a burst that changes places
 * (places_changed) a patch that reads only the places named and swaps
 * in a copy of the current snapshot with them replaced (a full load for
 * 'all' or a large burst);
 * a full load every 10 minutes anyway (time zone offsets move with DST,
 * offers start and end) and after a reconnect. A lost connection or a
 * failed load keeps the old snapshot and retries with back-off. The
 * accept loop never waits on it.
 *
 * Once, after its first attempt (a snapshot built, or the database not
 * reachable or the load failed), the thread writes one byte to settled_fd:
 * the ranker accepts workers and reports ready only then, so that the
 * workers of a new generation are served by the old ranker meanwhile.
 */
#ifndef PLACESD_LOADER_H
#define PLACESD_LOADER_H

#include "ranker/snapshot.h"
#include "common/stats.h"

struct loader;

/* Starts the thread; NULL (logged) if it cannot. */
struct loader_args {
	const char *conninfo;
	const char *read_conninfo;  /* "" or NULL: loads read conninfo */
	uint64_t max_lag_ms;        /* the longest wait for the replica */
	struct snap_holder *holder;
	int settled_fd;
	int nice;                   /* of the thread: rebuilds cost CPU */
	uint32_t overlay_max;       /* places in or hidden by the overlay */
	uint64_t first_delay_ms;    /* [debug] snapshot_delay */
};

struct loader *loader_start(const struct loader_args *a);
/*
 * Counts the loader's snapshots in st (the ranker's stats block, for
 * /metrics) from now on, those made before included: deltas, patches,
 * and full loads by cause (enum stats_full). NULL stops counting.
 */
void loader_stats(struct loader *l, struct stats_block *st);
/* Tells the thread to stop, joins it and frees everything (NULL is ok). */
void loader_stop(struct loader *l);

#endif
