/*
 * pool.h: the ranker's thread pool behind a bounded queue. The accept
 * loop submits jobs; a full queue refuses at once (the caller answers
 * "busy"). Finished jobs come back through a done list, and one byte on a
 * pipe wakes the loop to collect them. A job whose deadline passed while
 * it queued is dropped, not computed.
 */
#ifndef PLACESD_POOL_H
#define PLACESD_POOL_H

#include <stdbool.h>
#include <stdint.h>

struct pool_job {
	uint32_t client;            /* the connection that asked */
	uint32_t id;                /* its request id */
	uint8_t type;               /* request type */
	uint8_t reply;              /* reply type, 0 = no reply (dropped) */
	uint64_t deadline_us;
	struct pool_job *next;
};

struct pool_stats {
	uint64_t done;
	uint64_t expired;
};

struct pool;

struct pool *pool_new(unsigned threads, unsigned queue_size, int wake_fd);
/* 0, or -1 when the queue is full (the job stays the caller's). */
int pool_submit(struct pool *p, struct pool_job *job);
/* Takes every finished job, oldest first; the caller frees them. */
struct pool_job *pool_collect(struct pool *p);
void pool_get_stats(struct pool *p, struct pool_stats *st);
/* Stops the threads and frees what is still queued or done. */
void pool_free(struct pool *p);

#endif
