/*
 * pool.c: a fixed set of threads over one bounded FIFO (mutex + condition
 * variable). The loop thread never waits on the mutex for long: submit and
 * collect only move pointers. Every job comes back with a reply: a job
 * that waited past its deadline is answered BUSY, not computed, so that
 * no caller ever waits for an answer that will not come.
 */
#include "ranker/pool.h"
#include "ranker/nearby.h"
#include "ranker/suggest.h"
#include "ranker/snapshot.h"
#include "common/log.h"
#include "common/util.h"
#include "common/wire.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t *threads;
	unsigned nthreads;
	unsigned queue_size;
	unsigned queued;
	unsigned running;           /* taken by a thread, not finished */
	struct pool_job *head, *tail;       /* waiting */
	struct pool_job *done_head, *done_tail;
	struct pool_stats stats;
	bool stop;
	int nice;                   /* of the threads, 0 = as the process */
	int wake_fd;
	struct snap_holder *snaps;
};

static void
compute(struct pool *p, struct analyzer *an, struct pool_job *job)
{
	size_t len = 0;

	switch (job->type) {
	case WIRE_NEARBY:
		job->reply = (uint8_t)nearby_run(p->snaps, an, job->req,
		    job->req_len, &job->resp, &len);
		break;
	case WIRE_SUGGEST:
		job->reply = (uint8_t)suggest_run(p->snaps, job->req,
		    job->req_len, &job->resp, &len);
		break;
	case WIRE_TAGS:
		job->reply = (uint8_t)suggest_tags_run(p->snaps, job->req,
		    job->req_len, &job->resp, &len);
		break;
	default:
		job->reply = WIRE_ERROR;
		job->resp = nearby_error("unsupported request", &len);
		break;
	}
	if (job->resp == NULL)
		len = 0;
	job->resp_len = (uint32_t)len;
}

static void
finish(struct pool *p, struct pool_job *job)
{
	bool was_empty;

	pthread_mutex_lock(&p->mu);
	was_empty = p->done_head == NULL;
	job->next = NULL;
	if (p->done_tail != NULL)
		p->done_tail->next = job;
	else
		p->done_head = job;
	p->done_tail = job;
	p->stats.done++;
	p->running--;
	pthread_mutex_unlock(&p->mu);
	if (was_empty && write(p->wake_fd, "", 1) == -1 && errno != EAGAIN)
		log_warn("write() to the pool's wake pipe");
}

static void *
run(void *arg)
{
	struct pool *p = arg;
	struct pool_job *job;
	struct analyzer *an;

	/* the workers' loops come first when the CPUs are short */
	util_thread_name("ranker pool");
	/* the thread's own stemmers; without them, each query makes its own */
	if ((an = analyzer_new()) == NULL)
		log_warn("cannot make a ranking thread's text analyzer");
	if (util_thread_nice(p->nice) == -1)
		log_warn("cannot lower a ranking thread's priority as "
		    "[ranker] nice says");
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (p->head == NULL && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop) {
			pthread_mutex_unlock(&p->mu);
			analyzer_free(an);
			return NULL;
		}
		job = p->head;
		if ((p->head = job->next) == NULL)
			p->tail = NULL;
		p->queued--;
		p->running++;
		pthread_mutex_unlock(&p->mu);
		if (util_now_us() > job->deadline_us) {
			/* too late to be of use: say so rather than compute */
			job->reply = WIRE_BUSY;
			pthread_mutex_lock(&p->mu);
			p->stats.expired++;
			pthread_mutex_unlock(&p->mu);
		} else {
			compute(p, an, job);
		}
		finish(p, job);
	}
}

struct pool *
pool_new(unsigned threads, unsigned queue_size, int nice, int wake_fd,
    struct snap_holder *snaps)
{
	struct pool *p;
	unsigned i;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	if ((p->threads = calloc(threads, sizeof(*p->threads))) == NULL) {
		free(p);
		return NULL;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->queue_size = queue_size;
	p->nice = nice;
	p->wake_fd = wake_fd;
	p->snaps = snaps;
	for (i = 0; i < threads; i++) {
		int rc = pthread_create(&p->threads[i], NULL, run, p);

		if (rc != 0) {
			errno = rc;
			log_error("pthread_create() of ranker thread %u", i);
			break;
		}
		p->nthreads++;
	}
	if (p->nthreads == 0) {
		pool_free(p);
		return NULL;
	}
	return p;
}

int
pool_submit(struct pool *p, struct pool_job *job)
{
	pthread_mutex_lock(&p->mu);
	if (p->queued >= p->queue_size) {
		pthread_mutex_unlock(&p->mu);
		return -1;
	}
	job->next = NULL;
	if (p->tail != NULL)
		p->tail->next = job;
	else
		p->head = job;
	p->tail = job;
	p->queued++;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

void
pool_load(struct pool *p, unsigned *queued, unsigned *running)
{
	pthread_mutex_lock(&p->mu);
	*queued = p->queued;
	*running = p->running;
	pthread_mutex_unlock(&p->mu);
}

unsigned
pool_threads(const struct pool *p)
{
	return p->nthreads;
}

struct pool_job *
pool_collect(struct pool *p)
{
	struct pool_job *list;

	pthread_mutex_lock(&p->mu);
	list = p->done_head;
	p->done_head = p->done_tail = NULL;
	pthread_mutex_unlock(&p->mu);
	return list;
}

void
pool_get_stats(struct pool *p, struct pool_stats *st)
{
	pthread_mutex_lock(&p->mu);
	*st = p->stats;
	pthread_mutex_unlock(&p->mu);
}

void
pool_job_free(struct pool_job *job)
{
	if (job == NULL)
		return;
	free(job->req);
	free(job->resp);
	free(job);
}

static void
free_list(struct pool_job *j)
{
	while (j != NULL) {
		struct pool_job *next = j->next;
		pool_job_free(j);
		j = next;
	}
}

void
pool_free(struct pool *p)
{
	unsigned i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	free_list(p->head);
	free_list(p->done_head);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p->threads);
	free(p);
}
