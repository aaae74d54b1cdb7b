/*
 * stats.c: layout, updates and summing of the shared stats area (see
 * stats.h). Summing reads each counter once with a relaxed load: totals
 * are a consistent-enough snapshot for Prometheus, never torn.
 */
#include "common/stats.h"

#include <string.h>
#include <sys/mman.h>

const double stats_lat_bounds[STATS_LAT_BUCKETS - 1] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

size_t
stats_area_size(unsigned nworkers)
{
	unsigned nblocks = 1 + STATS_GENS + nworkers * STATS_GENS;

	return sizeof(struct stats_area) + nblocks * sizeof(struct stats_block);
}

void
stats_area_init(struct stats_area *a, unsigned nworkers)
{
	unsigned i, k;

	memset(a, 0, stats_area_size(nworkers));
	a->nworkers = nworkers;
	a->nblocks = 1 + STATS_GENS + nworkers * STATS_GENS;
	a->blocks[stats_master_index()].role = STATS_MASTER;
	for (k = 0; k < STATS_GENS; k++)
		a->blocks[stats_ranker_index(k)].role = STATS_RANKER;
	for (i = 0; i < nworkers; i++) {
		for (k = 0; k < STATS_GENS; k++) {
			struct stats_block *b =
			    &a->blocks[stats_worker_index(nworkers, i, k)];
			b->role = STATS_WORKER;
			b->slot = i;
		}
	}
}

struct stats_area *
stats_area_create(unsigned nworkers)
{
	size_t size = stats_area_size(nworkers);
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	stats_area_init(p, nworkers);
	return p;
}

void
stats_area_destroy(struct stats_area *a)
{
	if (a != NULL)
		munmap(a, stats_area_size(a->nworkers));
}

unsigned
stats_master_index(void)
{
	return 0;
}

unsigned
stats_ranker_index(unsigned k)
{
	return 1 + k;
}

unsigned
stats_worker_index(unsigned nworkers, unsigned slot, unsigned k)
{
	(void)nworkers;
	return 1 + STATS_GENS + slot * STATS_GENS + k;
}

struct stats_block *
stats_block(struct stats_area *a, unsigned idx)
{
	return idx < a->nblocks ? &a->blocks[idx] : NULL;
}

void
stats_reset_gauges(struct stats_block *b)
{
	stats_gauge_set(&b->conns_open, 0);
	stats_gauge_set(&b->ranker_up, 0);
	stats_gauge_set(&b->ranker_in_flight, 0);
	stats_gauge_set(&b->ranker_waiting, 0);
	stats_gauge_set(&b->ranker_in_flight_peak, 0);
	stats_gauge_set(&b->ranker_queue, 0);
	stats_gauge_set(&b->pg_up, 0);
	stats_gauge_set(&b->pg_read_up, 0);
	memset(b->replicas, 0, sizeof(b->replicas));
	stats_gauge_set(&b->upstream_breaker_open, 0);
	stats_gauge_set(&b->feed_up, 0);
	stats_gauge_set(&b->feed_listen_up, 0);
	stats_gauge_set(&b->sse_subscribers, 0);
	stats_gauge_set(&b->cm_bytes, 0);
}

static int
class_of(int status)
{
	return status >= 100 && status <= 599 ? status / 100 : 0;
}

void
stats_observe_request(struct stats_block *b, int status, uint64_t us)
{
	double secs = (double)us / 1e6;
	unsigned i;

	stats_add(&b->http_requests[class_of(status)], 1);
	for (i = 0; i < STATS_LAT_BUCKETS - 1; i++)
		if (secs <= stats_lat_bounds[i])
			break;
	stats_add(&b->lat_buckets[i], 1);
	stats_add(&b->lat_sum_us, us);
}

#define LD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* A worker's replica readings into the totals, merged by name. */
static void
sum_replicas(const struct stats_block *b, struct stats_totals *t)
{
	unsigned i, j;

	for (i = 0; i < STATS_REPLICAS; i++) {
		const struct stats_replica *r = &b->replicas[i];
		struct stats_replica *to = NULL;
		char name[sizeof(r->name)];

		if (__atomic_load_n(&r->used, __ATOMIC_ACQUIRE) == 0)
			continue;
		memcpy(name, r->name, sizeof(name));
		name[sizeof(name) - 1] = '\0';
		for (j = 0; j < t->nreplicas && to == NULL; j++)
			if (strcmp(t->replicas[j].name, name) == 0)
				to = &t->replicas[j];
		if (to == NULL) {
			if (t->nreplicas == STATS_REPLICAS * 4)
				continue;
			to = &t->replicas[t->nreplicas++];
			memcpy(to->name, name, sizeof(name));
			to->lag_ms = -1;
		}
		if (LD(r->lag_ms) > to->lag_ms)
			to->lag_ms = LD(r->lag_ms);
		to->behind += LD(r->behind);
	}
}

void
stats_sum(const struct stats_area *a, struct stats_totals *t)
{
	unsigned i, j;

	memset(t, 0, sizeof(*t));
	t->nslots = a->nworkers < 64 ? a->nworkers : 64;
	for (i = 0; i < a->nblocks; i++) {
		const struct stats_block *b = &a->blocks[i];
		uint64_t n = 0;

		for (j = 0; j < STATS_CLASSES; j++) {
			uint64_t v = LD(b->http_requests[j]);
			t->http_requests[j] += v;
			n += v;
		}
		for (j = 0; j < STATS_LAT_BUCKETS; j++) {
			uint64_t v = LD(b->lat_buckets[j]);
			t->lat_buckets[j] += v;
			t->lat_count += v;
		}
		t->lat_sum_us += LD(b->lat_sum_us);
		t->conns_open += LD(b->conns_open);
		t->http_accept_errors += LD(b->http_accept_errors);
		t->ranker_up += LD(b->ranker_up);
		t->ranker_calls += LD(b->ranker_calls);
		t->ranker_failures += LD(b->ranker_failures);
		t->ranker_in_flight += LD(b->ranker_in_flight);
		t->ranker_waiting += LD(b->ranker_waiting);
		if (LD(b->ranker_in_flight_peak) > t->ranker_in_flight_peak)
			t->ranker_in_flight_peak = LD(b->ranker_in_flight_peak);
		t->ranker_pings_missed += LD(b->ranker_pings_missed);
		t->ranker_busy += LD(b->ranker_busy);
		t->ranker_deferred += LD(b->ranker_deferred);
		t->ranker_queue += LD(b->ranker_queue);
		t->ranker_busy_sent += LD(b->ranker_busy_sent);
		t->snap_deltas += LD(b->snap_deltas);
		t->snap_patches += LD(b->snap_patches);
		t->snap_folds += LD(b->snap_folds);
		for (j = 0; j < SL_COUNT; j++)
			t->snap_full[j] += LD(b->snap_full[j]);
		t->snap_from[0] += LD(b->snap_from[0]);
		t->snap_from[1] += LD(b->snap_from[1]);
		t->pg_queries += LD(b->pg_queries);
		t->pg_errors += LD(b->pg_errors);
		t->pg_timeouts += LD(b->pg_timeouts);
		t->pg_up += LD(b->pg_up);
		t->pg_read_queries += LD(b->pg_read_queries);
		t->pg_read_errors += LD(b->pg_read_errors);
		t->pg_read_timeouts += LD(b->pg_read_timeouts);
		t->pg_read_up += LD(b->pg_read_up);
		t->reads_by[0] += LD(b->reads_by[0]);
		t->reads_by[1] += LD(b->reads_by[1]);
		sum_replicas(b, t);
		t->cache_hits += LD(b->cache_hits);
		t->cache_misses += LD(b->cache_misses);
		t->cm_hits += LD(b->cm_hits);
		t->cm_misses += LD(b->cm_misses);
		t->cm_waits += LD(b->cm_waits);
		t->cm_bypassed += LD(b->cm_bypassed);
		t->cm_stale += LD(b->cm_stale);
		t->cm_evictions += LD(b->cm_evictions);
		t->cm_bytes += LD(b->cm_bytes);
		for (j = 0; j < STATS_CM_CAUSES; j++)
			t->cm_invalidations[j] += LD(b->cm_invalidations[j]);
		for (j = 0; j < STATS_CM_KINDS; j++) {
			t->cm_kind_hits[j] += LD(b->cm_kind_hits[j]);
			t->cm_kind_misses[j] += LD(b->cm_kind_misses[j]);
		}
		t->nearby_degraded += LD(b->nearby_degraded);
		t->nearby_shed += LD(b->nearby_shed);
		for (j = 0; j < SF_COUNT; j++) {
			t->nearby_fallback[j][SO_DEGRADED] +=
			    LD(b->nearby_fallback[j][SO_DEGRADED]);
			t->nearby_fallback[j][SO_SHED] +=
			    LD(b->nearby_fallback[j][SO_SHED]);
		}
		for (j = 0; j < SU_COUNT; j++)
			t->upstream_attempts[j] += LD(b->upstream_attempts[j]);
		t->upstream_retries += LD(b->upstream_retries);
		t->upstream_rejected += LD(b->upstream_rejected);
		t->upstream_breaker_opened += LD(b->upstream_breaker_opened);
		t->upstream_breaker_open += LD(b->upstream_breaker_open);
		t->upstream_events_dropped += LD(b->upstream_events_dropped);
		t->digest_requests += LD(b->digest_requests);
		t->digest_partial += LD(b->digest_partial);
		t->feed_up += LD(b->feed_up);
		t->feed_listen_up += LD(b->feed_listen_up);
		t->feed_catchup_reads += LD(b->feed_catchup_reads);
		t->feed_relay_overflows += LD(b->feed_relay_overflows);
		t->sse_subscribers += LD(b->sse_subscribers);
		t->offers_published += LD(b->offers_published);
		t->offers_sent += LD(b->offers_sent);
		t->sse_slow_closed += LD(b->sse_slow_closed);
		t->restarts_worker += LD(b->restarts_worker);
		t->restarts_ranker += LD(b->restarts_ranker);
		t->reloads_ok += LD(b->reloads_ok);
		t->reloads_failed += LD(b->reloads_failed);
		if (b->role == STATS_MASTER) {
			t->last_reload_ok = LD(b->last_reload_ok);
			t->generation = LD(b->generation);
			t->workers = LD(b->workers);
		}
		if (b->role == STATS_WORKER && b->slot < t->nslots) {
			t->slot_requests[b->slot] += n;
			t->slot_conns[b->slot] += LD(b->conns_open);
		}
	}
}
