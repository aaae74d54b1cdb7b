/*
 * metrics.c: GET /metrics in the Prometheus text format 0.0.4, summed over
 * every process's block of the shared stats area at the time of the scrape,
 * so any worker answers for all of them.
 */
#include "api/api.h"
#include "worker/worker.h"
#include "common/stats.h"

#include <stdio.h>
#include <stdlib.h>

static void
counter(FILE *f, const char *name, const char *help, uint64_t v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help,
	    name, name, (unsigned long long)v);
}

/* One counter by one label: values[i] with label="names[i]". */
static void
counter_by(FILE *f, const char *name, const char *help, const char *label,
    const char *const *names, const uint64_t *values, unsigned n)
{
	unsigned i;

	fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (i = 0; i < n; i++)
		fprintf(f, "%s{%s=\"%s\"} %llu\n", name, label, names[i],
		    (unsigned long long)values[i]);
}

static void
gauge(FILE *f, const char *name, const char *help, int64_t v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", name, help,
	    name, name, (long long)v);
}

/* A label value as the exposition format wants it: \\, \" and \n escaped. */
static void
label_value(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

/* Each replica the workers reached, by host:port: the highest lag a
 * worker read (NaN before any reading) and the workers that hold it
 * behind max_replica_lag. */
static void
render_replica_lag(FILE *f, const struct stats_totals *t)
{
	unsigned i;

	fputs("# HELP placesd_pg_replica_lag_seconds How far a read replica's "
	    "replay is behind, as the workers last read it (the highest).\n"
	    "# TYPE placesd_pg_replica_lag_seconds gauge\n", f);
	for (i = 0; i < t->nreplicas; i++) {
		fputs("placesd_pg_replica_lag_seconds{replica=\"", f);
		label_value(f, t->replicas[i].name);
		if (t->replicas[i].lag_ms < 0)
			fputs("\"} NaN\n", f);
		else
			fprintf(f, "\"} %.3f\n",
			    (double)t->replicas[i].lag_ms / 1000.0);
	}
	fputs("# HELP placesd_pg_replica_behind Workers that hold a read "
	    "replica behind max_replica_lag (it gets none of their reads).\n"
	    "# TYPE placesd_pg_replica_behind gauge\n", f);
	for (i = 0; i < t->nreplicas; i++) {
		fputs("placesd_pg_replica_behind{replica=\"", f);
		label_value(f, t->replicas[i].name);
		fprintf(f, "\"} %lld\n", (long long)t->replicas[i].behind);
	}
}

/* The read replicas' pool ([database] read_conninfo) and where reads went. */
static void
render_replicas(FILE *f, const struct stats_totals *t)
{
	static const char *const targets[2] = { "primary", "replica" };

	counter(f, "placesd_pg_read_queries_total", "Queries answered on the "
	    "read replicas (any outcome).", t->pg_read_queries);
	counter(f, "placesd_pg_read_errors_total", "Queries on the read "
	    "replicas that failed or found them unavailable.",
	    t->pg_read_errors);
	counter(f, "placesd_pg_read_timeouts_total", "Queries on the read "
	    "replicas past query_timeout.", t->pg_read_timeouts);
	gauge(f, "placesd_pg_read_up", "Worker processes with a usable read "
	    "replica connection within max_replica_lag.", t->pg_read_up);
	counter_by(f, "placesd_db_reads_total", "Reads that may use a "
	    "replica, by where they were sent (a read whose replica was lost "
	    "under it counts again for the primary).", "target", targets,
	    t->reads_by, 2);
	render_replica_lag(f, t);
}

static void
render_http(FILE *f, const struct stats_totals *t)
{
	static const char *classes[STATS_CLASSES] = { "other", "1xx", "2xx",
	    "3xx", "4xx", "5xx" };
	uint64_t cum = 0;
	unsigned i;

	fprintf(f, "# HELP placesd_http_requests_total HTTP requests answered, "
	    "by status class.\n# TYPE placesd_http_requests_total counter\n");
	for (i = 1; i < STATS_CLASSES; i++)
		fprintf(f, "placesd_http_requests_total{code_class=\"%s\"} "
		    "%llu\n", classes[i],
		    (unsigned long long)t->http_requests[i]);
	fprintf(f, "# HELP placesd_worker_http_requests_total HTTP requests "
	    "answered, by worker slot.\n"
	    "# TYPE placesd_worker_http_requests_total counter\n");
	for (i = 0; i < t->nslots; i++)
		fprintf(f, "placesd_worker_http_requests_total{slot=\"%u\"} "
		    "%llu\n", i, (unsigned long long)t->slot_requests[i]);
	fprintf(f, "# HELP placesd_http_request_duration_seconds Time from "
	    "dispatch to reply.\n"
	    "# TYPE placesd_http_request_duration_seconds histogram\n");
	for (i = 0; i < STATS_LAT_BUCKETS - 1; i++) {
		cum += t->lat_buckets[i];
		fprintf(f, "placesd_http_request_duration_seconds_bucket"
		    "{le=\"%g\"} %llu\n", stats_lat_bounds[i],
		    (unsigned long long)cum);
	}
	fprintf(f, "placesd_http_request_duration_seconds_bucket{le=\"+Inf\"} "
	    "%llu\n", (unsigned long long)t->lat_count);
	fprintf(f, "placesd_http_request_duration_seconds_sum %.6f\n",
	    (double)t->lat_sum_us / 1e6);
	fprintf(f, "placesd_http_request_duration_seconds_count %llu\n",
	    (unsigned long long)t->lat_count);
	gauge(f, "placesd_http_connections_open", "Open client connections.",
	    t->conns_open);
	counter(f, "placesd_http_accept_errors_total", "accept() failures "
	    "(out of descriptors or memory), each followed by a 100 ms pause "
	    "in accepting.", t->http_accept_errors);
	fprintf(f, "# HELP placesd_worker_http_connections_open Open client "
	    "connections, by worker slot.\n"
	    "# TYPE placesd_worker_http_connections_open gauge\n");
	for (i = 0; i < t->nslots; i++)
		fprintf(f, "placesd_worker_http_connections_open{slot=\"%u\"} "
		    "%lld\n", i, (long long)t->slot_conns[i]);
}

/* The ranker's snapshots: deltas, patches, and full loads by cause. */
static void
render_snapshots(FILE *f, const struct stats_totals *t)
{
	static const char *causes[SL_COUNT] = { "start", "reconnect",
	    "refresh", "asked", "burst", "new_city" };
	static const char *const sources[2] = { "primary", "replica" };

	counter(f, "placesd_ranker_snapshot_deltas_total", "Snapshots the "
	    "ranker made from the current one by changing the offer flags of "
	    "new offers' places, without copying it.", t->snap_deltas);
	counter(f, "placesd_ranker_snapshot_patches_total", "Snapshots the "
	    "ranker made from the current one with changed places read "
	    "again, into its overlay or folding the overlay in.",
	    t->snap_patches);
	counter(f, "placesd_ranker_snapshot_folds_total", "Patches that "
	    "folded the overlay in by copying the snapshot.", t->snap_folds);
	counter_by(f, "placesd_ranker_snapshot_full_loads_total", "Snapshots "
	    "the ranker loaded whole, by cause.", "cause", causes, t->snap_full,
	    SL_COUNT);
	counter_by(f, "placesd_ranker_loads_total", "Loads of any kind the "
	    "ranker's loader made, by where it read them (a replica once it "
	    "had replayed every change notified, else the primary).", "source",
	    sources, t->snap_from, 2);
}

/* /v1/nearby without the ranker, by why and by what came of it. */
static void
render_fallbacks(FILE *f, const struct stats_totals *t)
{
	static const char *const causes[SF_COUNT] = { "down", "busy",
	    "timeout", "error" };
	static const char *const outcomes[SO_COUNT] = { "degraded", "shed" };
	unsigned i, j;

	fprintf(f, "# HELP placesd_nearby_fallback_total /v1/nearby requests "
	    "the ranker did not rank, by cause (down, busy, timeout, error) "
	    "and outcome (degraded: by distance alone; shed: 503).\n"
	    "# TYPE placesd_nearby_fallback_total counter\n");
	for (i = 0; i < SF_COUNT; i++)
		for (j = 0; j < SO_COUNT; j++)
			fprintf(f, "placesd_nearby_fallback_total{cause=\"%s\","
			    "outcome=\"%s\"} %llu\n", causes[i], outcomes[j],
			    (unsigned long long)t->nearby_fallback[i][j]);
}

/* the city read model (runtime/citymodel.h): causes in enum cm_cause order */
static void
render_citymodel(FILE *f, const struct stats_totals *t)
{
	static const char *const causes[STATS_CM_CAUSES] = { "place",
	    "unknown_place", "bad_payload", "offer", "feed_lost",
	    "offer_time", "ttl", "place_city" };
	static const char *const kinds[STATS_CM_KINDS] = { "digest", "place",
	    "list", "cities", "card", "venues" };

	counter(f, "placesd_readmodel_hits_total", "Digests, places by id, "
	    "city lists and lists of cities answered from the city read "
	    "model.", t->cm_hits);
	counter(f, "placesd_readmodel_misses_total", "Reads the read model "
	    "did not hold (built, or waited for a build).", t->cm_misses);
	counter_by(f, "placesd_readmodel_kind_hits_total", "Read model hits "
	    "by what was asked.", "kind", kinds, t->cm_kind_hits,
	    STATS_CM_KINDS);
	counter_by(f, "placesd_readmodel_kind_misses_total", "Read model "
	    "misses by what was asked.", "kind", kinds, t->cm_kind_misses,
	    STATS_CM_KINDS);
	counter(f, "placesd_readmodel_waits_total", "Misses that waited for "
	    "the build another request ran (single flight).", t->cm_waits);
	counter(f, "placesd_readmodel_bypassed_total", "Reads that went to "
	    "the database because the offer feed was not listening or had an "
	    "offer to read.", t->cm_bypassed);
	counter(f, "placesd_readmodel_stale_total", "Answers the read model "
	    "gave while the offer feed and the database were both away "
	    "(marked Cache-Status: stale).", t->cm_stale);
	counter(f, "placesd_readmodel_evictions_total", "Answers evicted to "
	    "stay within cache.max_bytes.", t->cm_evictions);
	gauge(f, "placesd_readmodel_bytes", "Bytes held by the read models "
	    "of every worker.", t->cm_bytes);
	counter_by(f, "placesd_readmodel_invalidations_total", "Cities or "
	    "answers dropped, by cause.", "cause", causes, t->cm_invalidations,
	    STATS_CM_CAUSES);
}

static void
render_process(FILE *f, const struct stats_totals *t)
{
	fprintf(f, "# HELP placesd_worker_restarts_total Children respawned "
	    "after an unexpected exit.\n"
	    "# TYPE placesd_worker_restarts_total counter\n"
	    "placesd_worker_restarts_total{role=\"worker\"} %llu\n"
	    "placesd_worker_restarts_total{role=\"ranker\"} %llu\n",
	    (unsigned long long)t->restarts_worker,
	    (unsigned long long)t->restarts_ranker);
	fprintf(f, "# HELP placesd_reloads_total Configuration reloads, by "
	    "result.\n# TYPE placesd_reloads_total counter\n"
	    "placesd_reloads_total{result=\"ok\"} %llu\n"
	    "placesd_reloads_total{result=\"failed\"} %llu\n",
	    (unsigned long long)t->reloads_ok,
	    (unsigned long long)t->reloads_failed);
	gauge(f, "placesd_config_last_reload_successful",
	    "1 if the last reload succeeded (or none was tried).",
	    t->last_reload_ok);
	gauge(f, "placesd_generation", "Generation of the serving workers.",
	    t->generation);
	gauge(f, "placesd_workers", "Configured worker slots.", t->workers);
	gauge(f, "placesd_ranker_up", "Worker processes that see the ranker "
	    "answering.", t->ranker_up);
	counter(f, "placesd_ranker_calls_total", "Calls sent to the ranker.",
	    t->ranker_calls);
	counter(f, "placesd_ranker_failures_total", "Ranker connections lost "
	    "or refused.", t->ranker_failures);
	gauge(f, "placesd_ranker_in_flight", "Calls sent to the ranker and "
	    "not answered yet.", t->ranker_in_flight);
	gauge(f, "placesd_ranker_waiting", "Calls waiting in a worker for one "
	    "of its slots at the ranker.", t->ranker_waiting);
	gauge(f, "placesd_ranker_in_flight_peak", "The most calls one worker "
	    "had at the ranker at once since it started.",
	    t->ranker_in_flight_peak);
	counter(f, "placesd_ranker_pings_missed_total", "Pings to the ranker "
	    "abandoned without an answer (three in a row reconnect).",
	    t->ranker_pings_missed);
	counter(f, "placesd_ranker_busy_total", "Ranker calls answered busy: "
	    "no slot came free in time, or the ranker's queue was full.",
	    t->ranker_busy);
	counter(f, "placesd_ranker_answers_deferred_total", "Times a worker "
	    "read more ranker answers than one loop turn takes (8) and left "
	    "the rest for the next turn.", t->ranker_deferred);
	gauge(f, "placesd_ranker_queue", "Jobs queued or being ranked at the "
	    "ranker.", t->ranker_queue);
	counter(f, "placesd_ranker_busy_replies_total", "BUSY replies the "
	    "ranker sent: its queue was full, or a job waited past "
	    "ranker.timeout.", t->ranker_busy_sent);
	render_snapshots(f, t);
	counter(f, "placesd_pg_queries_total", "Database queries answered "
	    "(any outcome).", t->pg_queries);
	counter(f, "placesd_pg_errors_total", "Database queries that failed "
	    "or found the database unavailable.", t->pg_errors);
	counter(f, "placesd_pg_timeouts_total", "Database queries past "
	    "query_timeout.", t->pg_timeouts);
	gauge(f, "placesd_pg_up", "Worker processes with a usable database "
	    "connection.", t->pg_up);
	render_replicas(f, t);
	counter(f, "placesd_cache_hits_total", "Reads served from a worker's "
	    "cache.", t->cache_hits);
	counter(f, "placesd_cache_misses_total", "Reads the cache did not "
	    "have.", t->cache_misses);
	render_citymodel(f, t);
	counter(f, "placesd_nearby_degraded_total", "/v1/nearby answers "
	    "ranked by distance alone, without the ranker.",
	    t->nearby_degraded);
	counter(f, "placesd_nearby_shed_total", "/v1/nearby requests answered "
	    "503 because the ranker failed them while the worker already ran "
	    "its most distance-only queries.", t->nearby_shed);
	render_fallbacks(f, t);
}

static void
render_upstream(FILE *f, const struct stats_totals *t)
{
	static const char *const names[SU_COUNT] = { "ok", "timeout",
	    "http_error", "bad_response", "unreachable" };

	counter_by(f, "placesd_upstream_requests_total", "Calls to the events "
	    "service (each attempt), by outcome.", "result", names,
	    t->upstream_attempts, SU_COUNT);
	counter(f, "placesd_upstream_retries_total", "Attempts that were "
	    "retries of a failed one.", t->upstream_retries);
	counter(f, "placesd_upstream_rejected_total", "Calls not made because "
	    "the circuit breaker was open.", t->upstream_rejected);
	counter(f, "placesd_upstream_breaker_opened_total", "Times a worker's "
	    "circuit breaker opened.", t->upstream_breaker_opened);
	gauge(f, "placesd_upstream_breaker_open", "Worker processes whose "
	    "circuit breaker is open.", t->upstream_breaker_open);
	counter(f, "placesd_upstream_events_dropped_total", "Events of the "
	    "events service left out for a missing or bad field.",
	    t->upstream_events_dropped);
	counter(f, "placesd_digest_requests_total", "POST /v1/digest requests "
	    "answered.", t->digest_requests);
	counter(f, "placesd_digest_partial_total", "Digests answered with "
	    "errors[] (a source failed).", t->digest_partial);
	gauge(f, "placesd_offer_feed_up", "Worker processes whose offer feed "
	    "(relayed by the ranker) is up.", t->feed_up);
	gauge(f, "placesd_offer_listen_up", "Ranker processes whose LISTEN "
	    "connection on the primary is up (one per node; two during a "
	    "reload).", t->feed_listen_up);
	counter(f, "placesd_offer_catchup_reads_total", "Pages of offers read "
	    "for a worker that reconnected to the ranker with a gap.",
	    t->feed_catchup_reads);
	counter(f, "placesd_offer_relay_overflows_total", "Worker connections "
	    "the ranker closed for offers left unsent past max_pending.",
	    t->feed_relay_overflows);
	gauge(f, "placesd_sse_subscribers", "Open /v1/offers/stream "
	    "subscribers.", t->sse_subscribers);
	counter(f, "placesd_offers_published_total", "Offers published with "
	    "POST /v1/offers.", t->offers_published);
	counter(f, "placesd_offers_sent_total", "Offer events written to "
	    "subscribers (live and replayed).", t->offers_sent);
	counter(f, "placesd_sse_slow_closed_total", "Subscribers closed for "
	    "falling behind.", t->sse_slow_closed);
}

void
api_metrics(struct http_req *r)
{
	struct worker *w = http_req_worker(r);
	struct stats_totals t;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	stats_sum(w->stats, &t);
	if ((f = open_memstream(&buf, &len)) == NULL) {
		http_reply_error(r, 503, "overloaded", "out of memory", NULL);
		return;
	}
	render_http(f, &t);
	render_process(f, &t);
	render_upstream(f, &t);
	if (fclose(f) != 0 || buf == NULL) {
		free(buf);
		http_reply_error(r, 503, "overloaded", "out of memory", NULL);
		return;
	}
	http_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len);
	free(buf);
}
