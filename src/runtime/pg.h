/*
 * pg.h: a worker's pool of PostgreSQL connections, driven by its event loop
 * through libpq's asynchronous API: non-blocking connects, prepared
 * statements, one query in flight per connection, a bounded queue of
 * waiting queries, a deadline per query on both sides (statement_timeout
 * on the server, a timer here), reconnects with back-off. While no
 * connection works the pool is DOWN and every query fails at once.
 * Nothing here ever blocks the loop.
 */
#ifndef PLACESD_PG_H
#define PLACESD_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

struct event_base;
struct config;
struct stats_replica;
struct pg_pool;
struct pg_query;

/* A statement every connection prepares once; one marked primary (a
 * write, or a read that must see the node's own writes) is prepared and
 * run only on the primary's pool. The columns of json_cols (bit i:
 * column i) hold JSON text, which its callers get compact
 * (common/json_text.h): PostgreSQL writes it with spaces. */
struct pg_statement {
	const char *name;
	const char *sql;
	int nparams;
	bool primary;
	unsigned json_cols;
};
#define PG_JSON_COL(i) (1u << (i))

/* Where a pool counts (fields of a worker's stats block). */
struct pg_counters {
	uint64_t *queries;
	uint64_t *errors;
	uint64_t *timeouts;
	int64_t *up;                /* gauge: 0/1 */
	struct stats_replica *replicas; /* STATS_REPLICAS; NULL: primary */
};

enum pg_status {
	PG_OK,
	PG_DOWN,            /* no usable connection: 503 unavailable */
	PG_OVERLOADED,      /* the queue is full: 503 overloaded */
	PG_TIMEOUT,         /* past query_timeout: 504 */
	PG_FAILED,          /* the query failed: 500 */
};

/*
 * Called once per query that was not cancelled: with the result on PG_OK
 * (the pool frees it after the call), or with res NULL and a message.
 */
typedef void (*pg_done_fn)(void *arg, enum pg_status st, const PGresult *res,
    const char *message);

/* A pool on conninfo; a replicas pool (replicas) prepares and takes no
 * statement marked primary. */
struct pg_pool *pg_pool_new(struct event_base *base, const struct config *cfg,
    const char *conninfo, bool replicas, const struct pg_counters *ctr,
    const struct pg_statement *stmts, size_t nstmts, const char *app_name);
/*
 * Queues statement stmt (an index into the table) with text parameters
 * (NULL = SQL NULL; they are copied). Returns the query, or NULL with
 * *st set to PG_DOWN or PG_OVERLOADED when it cannot even be queued.
 */
struct pg_query *pg_query(struct pg_pool *p, int stmt, int nparams,
    const char *const *params, pg_done_fn done, void *arg,
    enum pg_status *st);
/* The same, to run only on a connection whose replica has replayed the
 * primary's WAL up to min_lsn (0: any); when no connection of the pool
 * has, or none has any longer, it fails with PG_DOWN. */
struct pg_query *pg_query_at(struct pg_pool *p, uint64_t min_lsn, int stmt,
    int nparams, const char *const *params, pg_done_fn done, void *arg,
    enum pg_status *st);
/* The caller no longer wants the answer: done() will not be called. */
void pg_cancel(struct pg_query *q);
/* True while at least one connection is usable (on a replicas pool: and
 * its replica within max_replica_lag). */
bool pg_pool_up(const struct pg_pool *p);
/* A connection that may take queries has replayed up to lsn (always, on
 * the primary's pool). */
bool pg_pool_has(const struct pg_pool *p, uint64_t lsn);
/* A WAL position, "X/Y" as PostgreSQL writes one; 0 when it is not one. */
#define PG_LSN_ALL UINT64_MAX
uint64_t pg_lsn_parse(const char *s);
void pg_pool_free(struct pg_pool *p);
const char *pg_status_name(enum pg_status st);

/* Reading a result without libpq in the caller. */
int pg_nrows(const PGresult *res);
/* The text of a value, or NULL for SQL NULL. */
const char *pg_value(const PGresult *res, int row, int col);
int pg_length(const PGresult *res, int row, int col);
/* The values of the columns cols (PG_JSON_COL bits) of every row of res
 * made compact JSON text, in res itself; one that cannot be (out of
 * memory) is left as it was, which is still the same JSON. */
void pg_compact_json(PGresult *res, unsigned cols);

#endif
