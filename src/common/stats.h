/*
 * stats.h: the shared-memory counters behind /metrics. The master maps one
 * anonymous shared area before the first fork: one cache-line-aligned block
 * per process instance (the master, the ranker and each worker slot, with
 * room for the generations that run side by side during a reload). Every
 * block has exactly one writer at a time; any worker sums them to answer
 * /metrics. Counters are never zeroed, so totals stay monotonic across
 * crashes and reloads; the master resets a block's gauges when it reaps
 * the process that wrote it.
 */
#ifndef PLACESD_STATS_H
#define PLACESD_STATS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Generations draining at once. Reloads in quick succession under load
 * leave several old generations finishing their last requests; past the
 * cap the oldest is killed. A slot then has at most this many draining
 * instances, plus the serving one, plus one starting (a reload waits
 * while the cap is reached, so those two never coincide with a full cap).
 */
#define STATS_MAX_DRAINING 8
#define STATS_GENS        (STATS_MAX_DRAINING + 1)
#define STATS_LAT_BUCKETS 14    /* 13 bounds + the overflow bucket */
#define STATS_CLASSES     6     /* 1xx..5xx at 1..5, 0 = anything else */
#define STATS_CM_CAUSES   8     /* read model invalidations: enum cm_cause */
#define STATS_CM_KINDS    6     /* read model answers: enum cm_kind */
/* outcomes of one call to the events service (upstream.h) */
enum stats_upstream { SU_OK, SU_TIMEOUT, SU_HTTP_ERROR, SU_BAD_RESPONSE,
    SU_UNREACHABLE, SU_COUNT };
/* why /v1/nearby answered without the ranker (api/nearby.c) */
enum stats_fallback { SF_DOWN, SF_BUSY, SF_TIMEOUT, SF_ERROR, SF_COUNT };
/* what came of it: ranked by distance alone, or shed with a 503 */
enum stats_outcome { SO_DEGRADED, SO_SHED, SO_COUNT };
/* why the ranker's loader loaded everything (ranker/loader.c): its first
 * load, a reconnect (notifications may have been lost), the periodic
 * refresh, NOTIFY 'all' (or a payload that is no id), a burst too large
 * for a patch, a changed place in a city not loaded yet */
enum stats_full { SL_START, SL_RECONNECT, SL_REFRESH, SL_ASKED, SL_BURST,
    SL_NEW_CITY, SL_COUNT };

/* The read replicas a worker names in /metrics (by host:port). */
#define STATS_REPLICAS    4
struct stats_replica {
	uint32_t used;                      /* the name is written */
	char name[60];                      /* host:port */
	int64_t lag_ms;                     /* gauge: last reading, -1 none */
	int64_t behind;                     /* gauge: 1 over the bound */
};

extern const double stats_lat_bounds[STATS_LAT_BUCKETS - 1];

enum stats_role { STATS_FREE, STATS_MASTER, STATS_WORKER, STATS_RANKER };

struct stats_block {
	/* identity, written by the master when it hands the block out */
	uint32_t role;
	uint32_t slot;
	/* worker: HTTP */
	uint64_t http_requests[STATS_CLASSES];
	uint64_t lat_buckets[STATS_LAT_BUCKETS];
	uint64_t lat_sum_us;
	int64_t conns_open;                 /* gauge */
	uint64_t http_accept_errors;        /* accept() failed: paused */
	int64_t ranker_up;                  /* gauge: 0/1 */
	uint64_t ranker_calls;
	uint64_t ranker_failures;
	int64_t ranker_in_flight;           /* gauge: calls at the ranker */
	int64_t ranker_waiting;             /* gauge: calls waiting for a slot */
	int64_t ranker_in_flight_peak;      /* gauge: the most at once */
	uint64_t ranker_pings_missed;       /* abandoned after PING_TIMEOUT */
	uint64_t ranker_busy;               /* calls answered "busy" */
	uint64_t ranker_deferred;           /* answers left for the next turn */
	/* ranker: its own load */
	int64_t ranker_queue;               /* gauge: jobs queued or running */
	uint64_t ranker_busy_sent;          /* BUSY replies: full or expired */
	uint64_t snap_deltas;               /* snapshots: offer flags changed */
	uint64_t snap_patches;              /* ... some places read again */
	uint64_t snap_folds;                /* ... of which copied whole */
	uint64_t snap_full[SL_COUNT];       /* ... loaded whole, by cause */
	uint64_t snap_from[2];              /* loads read: primary, replica */
	/* worker: database and cache */
	uint64_t pg_queries;
	uint64_t pg_errors;
	uint64_t pg_timeouts;
	int64_t pg_up;                      /* gauge: 0/1 */
	uint64_t pg_read_queries;           /* the read replicas' pool */
	uint64_t pg_read_errors;
	uint64_t pg_read_timeouts;
	int64_t pg_read_up;                 /* gauge: 0/1 */
	uint64_t reads_by[2];               /* reads sent: primary, replica */
	struct stats_replica replicas[STATS_REPLICAS];
	uint64_t cache_hits;
	uint64_t cache_misses;
	uint64_t cm_hits;                   /* the city read model */
	uint64_t cm_misses;
	uint64_t cm_waits;                  /* misses that joined a build */
	uint64_t cm_bypassed;               /* read the database: feed unsure */
	uint64_t cm_stale;                  /* hits with feed and database away */
	uint64_t cm_evictions;
	int64_t cm_bytes;                   /* gauge */
	uint64_t cm_invalidations[STATS_CM_CAUSES];
	uint64_t cm_kind_hits[STATS_CM_KINDS];      /* cm_hits, by kind */
	uint64_t cm_kind_misses[STATS_CM_KINDS];    /* cm_misses, by kind */
	uint64_t nearby_degraded;           /* answered without the ranker */
	uint64_t nearby_shed;               /* 503: too many degraded running */
	uint64_t nearby_fallback[SF_COUNT][SO_COUNT];   /* both, by cause */
	/* worker: the events service and the digest */
	uint64_t upstream_attempts[SU_COUNT];
	uint64_t upstream_retries;
	uint64_t upstream_rejected;         /* refused by an open breaker */
	uint64_t upstream_breaker_opened;
	int64_t upstream_breaker_open;      /* gauge: 0/1 */
	uint64_t upstream_events_dropped;   /* invalid events left out */
	uint64_t digest_requests;
	uint64_t digest_partial;            /* answered with errors[] */
	/* worker: offers */
	int64_t feed_up;                    /* gauge: 0/1 */
	int64_t sse_subscribers;            /* gauge */
	/* ranker: the node's LISTEN connection (ranker/offer_feed.c) */
	int64_t feed_listen_up;             /* gauge: 0/1 */
	uint64_t feed_catchup_reads;        /* pages read for a worker's gap */
	uint64_t feed_relay_overflows;      /* worker connections cut off */
	uint64_t offers_published;
	uint64_t offers_sent;               /* events written to subscribers */
	uint64_t sse_slow_closed;
	/* master */
	uint64_t restarts_worker;
	uint64_t restarts_ranker;
	uint64_t reloads_ok;
	uint64_t reloads_failed;
	int64_t last_reload_ok;             /* gauge */
	int64_t generation;                 /* gauge */
	int64_t workers;                    /* gauge */
} __attribute__((aligned(64)));

struct stats_area {
	uint32_t nworkers;
	uint32_t nblocks;
	struct stats_block blocks[];
};

/* Totals over every block; per-slot request counts for workers. */
struct stats_totals {
	uint64_t http_requests[STATS_CLASSES];
	uint64_t lat_buckets[STATS_LAT_BUCKETS];
	uint64_t lat_count;
	uint64_t lat_sum_us;
	int64_t conns_open;
	uint64_t http_accept_errors;
	int64_t ranker_up;
	uint64_t ranker_calls;
	uint64_t ranker_failures;
	int64_t ranker_in_flight;
	int64_t ranker_waiting;
	int64_t ranker_in_flight_peak;      /* of one worker, the highest */
	uint64_t ranker_pings_missed;
	uint64_t ranker_busy;
	uint64_t ranker_deferred;
	int64_t ranker_queue;
	uint64_t ranker_busy_sent;
	uint64_t snap_deltas;
	uint64_t snap_patches;
	uint64_t snap_folds;
	uint64_t snap_full[SL_COUNT];
	uint64_t snap_from[2];
	uint64_t pg_queries;
	uint64_t pg_errors;
	uint64_t pg_timeouts;
	int64_t pg_up;
	uint64_t pg_read_queries;
	uint64_t pg_read_errors;
	uint64_t pg_read_timeouts;
	int64_t pg_read_up;
	uint64_t reads_by[2];
	/* by name: the highest lag a worker read, the workers behind */
	struct stats_replica replicas[STATS_REPLICAS * 4];
	unsigned nreplicas;
	uint64_t cache_hits;
	uint64_t cache_misses;
	uint64_t cm_hits;
	uint64_t cm_misses;
	uint64_t cm_waits;
	uint64_t cm_bypassed;
	uint64_t cm_stale;
	uint64_t cm_evictions;
	int64_t cm_bytes;
	uint64_t cm_invalidations[STATS_CM_CAUSES];
	uint64_t cm_kind_hits[STATS_CM_KINDS];
	uint64_t cm_kind_misses[STATS_CM_KINDS];
	uint64_t nearby_degraded;
	uint64_t nearby_shed;
	uint64_t nearby_fallback[SF_COUNT][SO_COUNT];
	uint64_t upstream_attempts[SU_COUNT];
	uint64_t upstream_retries;
	uint64_t upstream_rejected;
	uint64_t upstream_breaker_opened;
	int64_t upstream_breaker_open;
	uint64_t upstream_events_dropped;
	uint64_t digest_requests;
	uint64_t digest_partial;
	int64_t feed_up;
	int64_t sse_subscribers;
	int64_t feed_listen_up;
	uint64_t feed_catchup_reads;
	uint64_t feed_relay_overflows;
	uint64_t offers_published;
	uint64_t offers_sent;
	uint64_t sse_slow_closed;
	uint64_t restarts_worker;
	uint64_t restarts_ranker;
	uint64_t reloads_ok;
	uint64_t reloads_failed;
	int64_t last_reload_ok;
	int64_t generation;
	int64_t workers;
	uint32_t nslots;
	uint64_t slot_requests[64];
	int64_t slot_conns[64];
};

size_t stats_area_size(unsigned nworkers);
/* Maps and initialises the area (MAP_SHARED|MAP_ANONYMOUS). NULL on error. */
struct stats_area *stats_area_create(unsigned nworkers);
/* Initialises an area in caller-provided memory of stats_area_size() bytes. */
void stats_area_init(struct stats_area *a, unsigned nworkers);
void stats_area_destroy(struct stats_area *a);

/* Block indexes: the master's, the ranker instance k's, worker slot s's k. */
unsigned stats_master_index(void);
unsigned stats_ranker_index(unsigned k);
unsigned stats_worker_index(unsigned nworkers, unsigned slot, unsigned k);
struct stats_block *stats_block(struct stats_area *a, unsigned idx);
/* Gauges of a block whose writer is gone. */
void stats_reset_gauges(struct stats_block *b);

/* Single-writer updates: relaxed atomics, readers never see torn values. */
static inline void
stats_add(uint64_t *c, uint64_t n)
{
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

static inline void
stats_gauge_add(int64_t *g, int64_t n)
{
	__atomic_fetch_add(g, n, __ATOMIC_RELAXED);
}

static inline void
stats_gauge_set(int64_t *g, int64_t v)
{
	__atomic_store_n(g, v, __ATOMIC_RELAXED);
}

void stats_observe_request(struct stats_block *b, int status, uint64_t us);
void stats_sum(const struct stats_area *a, struct stats_totals *t);

#endif
