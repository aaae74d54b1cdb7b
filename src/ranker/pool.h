/*
 * pool.h: the ranker's thread pool behind a bounded queue. The accept
 * loop submits jobs; a full queue refuses at once (the caller answers
 * "busy"). Finished jobs come back through a done list, and one byte on a
 * pipe wakes the loop to collect them. A job whose deadline passed while
 * it queued is answered BUSY, not computed. Jobs carry their request
 * payload in and their reply payload out. Pings never come here: the
 * accept loop answers them itself (ranker.c).
 */
#ifndef PLACESD_POOL_H
#define PLACESD_POOL_H

#include <stdbool.h>
#include <stdint.h>

struct pool_job {
	uint32_t client;            /* the connection that asked */
	uint32_t id;                /* its request id */
	uint8_t type;               /* request type */
	uint8_t reply;              /* reply type */
	uint64_t deadline_us;
	uint8_t *req;               /* request payload (malloc'ed), or NULL */
	uint32_t req_len;
	char *resp;                 /* reply payload (malloc'ed), or NULL */
	uint32_t resp_len;
	struct pool_job *next;
};

struct pool_stats {
	uint64_t done;
	uint64_t expired;
};

struct pool;

struct snap_holder;

/* Jobs of type WIRE_NEARBY rank on the current snapshot of snaps. */
struct pool *pool_new(unsigned threads, unsigned queue_size, int nice,
    int wake_fd,
    struct snap_holder *snaps);
/* Frees a job and its payloads. */
void pool_job_free(struct pool_job *job);
/* 0, or -1 when the queue is full (the job stays the caller's). */
int pool_submit(struct pool *p, struct pool_job *job);
/* Takes every finished job, oldest first; the caller frees them. */
struct pool_job *pool_collect(struct pool *p);
void pool_get_stats(struct pool *p, struct pool_stats *st);
/* Jobs waiting in the queue, and jobs a thread is computing. */
void pool_load(struct pool *p, unsigned *queued, unsigned *running);
unsigned pool_threads(const struct pool *p);
/* Stops the threads and frees what is still queued or done. */
void pool_free(struct pool *p);

#endif
