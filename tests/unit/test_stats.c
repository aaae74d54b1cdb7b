/*
 * test_stats.c: the shared stats area: layout (cache-line blocks, one per
 * process instance), histogram bucketing, summing over blocks, per-slot
 * totals, and gauges reset while counters stay monotonic. Also one real
 * cross-process check: a forked writer's counts reach the parent's sum.
 */
#include "common/stats.h"

#include <check.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_run.h"

START_TEST(test_layout)
{
	struct stats_area *a = stats_area_create(4);
	unsigned k, s, idx[64], n = 0, i, j;

	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(sizeof(struct stats_block) % 64, 0);
	ck_assert_uint_eq((uintptr_t)&a->blocks[0] % 64, 0);
	idx[n++] = stats_master_index();
	for (k = 0; k < STATS_GENS; k++)
		idx[n++] = stats_ranker_index(k);
	for (s = 0; s < 4; s++)
		for (k = 0; k < STATS_GENS; k++)
			idx[n++] = stats_worker_index(4, s, k);
	ck_assert_uint_eq(n, a->nblocks);
	for (i = 0; i < n; i++) {
		ck_assert_uint_lt(idx[i], a->nblocks);
		for (j = i + 1; j < n; j++)
			ck_assert_uint_ne(idx[i], idx[j]);
	}
	ck_assert_uint_eq(stats_block(a, stats_worker_index(4, 2, 1))->slot, 2);
	ck_assert_uint_eq(stats_block(a, stats_worker_index(4, 2, 1))->role,
	    STATS_WORKER);
	ck_assert_ptr_null(stats_block(a, a->nblocks));
	stats_area_destroy(a);
}
END_TEST

START_TEST(test_sum_and_slots)
{
	struct stats_area *a = stats_area_create(2);
	struct stats_block *w0 = stats_block(a, stats_worker_index(2, 0, 0));
	struct stats_block *w0b = stats_block(a, stats_worker_index(2, 0, 3));
	struct stats_block *w1 = stats_block(a, stats_worker_index(2, 1, 0));
	struct stats_block *m = stats_block(a, stats_master_index());
	struct stats_totals t;

	stats_observe_request(w0, 200, 500);        /* 0.5 ms: first bucket */
	stats_observe_request(w0, 404, 3000);       /* 3 ms: le=0.005 */
	stats_observe_request(w0b, 200, 20000000);  /* 20 s: overflow */
	stats_observe_request(w1, 503, 1000);       /* exactly 1 ms */
	stats_observe_request(w1, 999, 10);         /* odd status */
	stats_gauge_add(&w0->conns_open, 3);
	stats_gauge_add(&w1->conns_open, 1);
	stats_add(&m->reloads_ok, 2);
	stats_gauge_set(&m->generation, 3);
	stats_sum(a, &t);
	ck_assert_uint_eq(t.http_requests[2], 2);
	ck_assert_uint_eq(t.http_requests[4], 1);
	ck_assert_uint_eq(t.http_requests[5], 1);
	ck_assert_uint_eq(t.http_requests[0], 1);
	ck_assert_uint_eq(t.lat_count, 5);
	ck_assert_uint_eq(t.lat_buckets[0], 3);
	ck_assert_uint_eq(t.lat_buckets[2], 1);
	ck_assert_uint_eq(t.lat_buckets[STATS_LAT_BUCKETS - 1], 1);
	ck_assert_uint_eq(t.lat_sum_us, 500 + 3000 + 20000000 + 1000 + 10);
	ck_assert_uint_eq(t.nslots, 2);
	ck_assert_uint_eq(t.slot_requests[0], 3);
	ck_assert_uint_eq(t.slot_requests[1], 2);
	ck_assert_int_eq(t.conns_open, 4);
	ck_assert_int_eq(t.slot_conns[0], 3);
	ck_assert_uint_eq(t.reloads_ok, 2);
	ck_assert_int_eq(t.generation, 3);
	/* the writer of w0 died: gauges reset, counters stay */
	stats_reset_gauges(w0);
	stats_sum(a, &t);
	ck_assert_int_eq(t.conns_open, 1);
	ck_assert_uint_eq(t.slot_requests[0], 3);
	stats_area_destroy(a);
}
END_TEST

/* w's replica slot k named name, with a lag reading and behind */
static void
replica_set(struct stats_block *w, unsigned k, const char *name, int64_t lag,
    int64_t behind)
{
	struct stats_replica *r = &w->replicas[k];

	snprintf(r->name, sizeof(r->name), "%s", name);
	r->lag_ms = lag;
	r->behind = behind;
	__atomic_store_n(&r->used, 1, __ATOMIC_RELEASE);
}

static const struct stats_replica *
replica_of(const struct stats_totals *t, const char *name)
{
	unsigned i;

	for (i = 0; i < t->nreplicas; i++)
		if (strcmp(t->replicas[i].name, name) == 0)
			return &t->replicas[i];
	return NULL;
}

/* The workers' replica readings merge by name: the highest lag (an
 * unread -1 loses to any reading), the workers behind summed; a worker
 * that dies takes its readings with it. */
START_TEST(test_replicas_merge_by_name)
{
	struct stats_area *a = stats_area_create(2);
	struct stats_block *w0 = stats_block(a, stats_worker_index(2, 0, 0));
	struct stats_block *w1 = stats_block(a, stats_worker_index(2, 1, 0));
	const struct stats_replica *r;
	struct stats_totals t;

	replica_set(w0, 0, "/run/r1:5432", 120, 0);
	replica_set(w0, 1, "/run/r2:5432", -1, 0);
	replica_set(w1, 0, "/run/r2:5432", 7000, 1);
	replica_set(w1, 1, "/run/r1:5432", 80, 0);
	stats_sum(a, &t);
	ck_assert_uint_eq(t.nreplicas, 2);
	ck_assert_ptr_nonnull(r = replica_of(&t, "/run/r1:5432"));
	ck_assert_int_eq(r->lag_ms, 120);
	ck_assert_int_eq(r->behind, 0);
	ck_assert_ptr_nonnull(r = replica_of(&t, "/run/r2:5432"));
	ck_assert_int_eq(r->lag_ms, 7000);
	ck_assert_int_eq(r->behind, 1);
	stats_reset_gauges(w1);
	stats_sum(a, &t);
	ck_assert_ptr_nonnull(r = replica_of(&t, "/run/r2:5432"));
	ck_assert_int_eq(r->lag_ms, -1);
	ck_assert_int_eq(r->behind, 0);
	ck_assert_ptr_nonnull(r = replica_of(&t, "/run/r1:5432"));
	ck_assert_int_eq(r->lag_ms, 120);
	stats_area_destroy(a);
}
END_TEST

START_TEST(test_cross_process)
{
	struct stats_area *a = stats_area_create(1);
	struct stats_block *w = stats_block(a, stats_worker_index(1, 0, 0));
	struct stats_totals t;
	int status, i;
	pid_t pid;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		for (i = 0; i < 1000; i++)
			stats_observe_request(w, 200, 100);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	stats_sum(a, &t);
	ck_assert_uint_eq(t.http_requests[2], 1000);
	ck_assert_uint_eq(t.slot_requests[0], 1000);
	stats_area_destroy(a);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("stats");
	TCase *tc = tcase_create("stats");

	tcase_add_test(tc, test_layout);
	tcase_add_test(tc, test_sum_and_slots);
	tcase_add_test(tc, test_replicas_merge_by_name);
	tcase_add_test(tc, test_cross_process);
	suite_add_tcase(s, tc);
	return check_run(s);
}
