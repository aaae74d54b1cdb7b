/*
 * config.h: the immutable configuration of one generation. The master
 * parses a complete file into a new struct config, validates it, and only
 * then uses it; a child receives a const pointer to its generation's copy.
 * Nothing here is global: modules take the config they need as a parameter.
 */
#ifndef PLACESD_CONFIG_H
#define PLACESD_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#define CONFIG_MAX_WORKERS 64

enum crash_at_start { CRASH_NONE, CRASH_WORKER, CRASH_RANKER };

struct config {
	char path[PATH_MAX];

	/* [server] */
	char listen[128];                  /* as written, for logs */
	struct sockaddr_storage listen_addr;
	socklen_t listen_addrlen;
	uint64_t workers;                  /* resolved: auto = cores */
	uint64_t backlog;
	uint64_t max_connections;
	uint64_t keepalive_timeout_ms;
	uint64_t read_timeout_ms;
	uint64_t request_deadline_ms;
	uint64_t max_uri_size;
	uint64_t max_header_size;
	uint64_t max_body_size;
	uint64_t shutdown_timeout_ms;
	char user[64];

	/* [log] */
	int log_level;
	char log_file[PATH_MAX];
	char access_log[PATH_MAX];         /* "access" (or "access_log") */

	/* [database] */
	char db_conninfo[1024];
	char db_read_conninfo[1024];       /* "": reads on db_conninfo */
	uint64_t db_max_replica_lag_ms;    /* a replica behind: no reads */
	uint64_t db_read_pool_size;        /* per worker, on read_conninfo */
	uint64_t db_pool_size;             /* per worker */
	uint64_t db_query_timeout_ms;
	uint64_t db_queue_size;            /* waiting queries per worker */

	/* [cache] */
	uint64_t cache_ttl_ms;             /* 0: off */
	uint64_t cache_max_entries;        /* 0: off */
	uint64_t cache_max_bytes;          /* the city read model; 0: off */
	uint64_t cache_model_ttl_ms;       /* its safety net; 0: off */

	/* [ranker] */
	char ranker_socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uint64_t ranker_threads;           /* resolved: auto = cores */
	uint64_t ranker_queue_size;
	uint64_t ranker_timeout_ms;
	uint64_t ranker_nice;              /* of the pool and loader threads:
	                                    * 0..19, or UTIL_NICE_IDLE */
	uint64_t ranker_overlay_max;       /* places; 0: every patch copies */

	/* [upstream] */
	char events_url[512];
	char events_host[256];             /* parsed from events_url */
	uint16_t events_port;
	char events_path[512];             /* base path, no trailing '/' */
	uint64_t upstream_timeout_ms;      /* one attempt */
	uint64_t upstream_retries;
	uint64_t breaker_failures;
	uint64_t breaker_cooldown_ms;
	uint64_t upstream_max_response;
	uint64_t upstream_keepalive;       /* idle connections kept */

	/* [offers] */
	char admin_token_file[256];
	char admin_token[257];             /* read from the file; "" none */
	uint64_t offers_heartbeat_ms;
	uint64_t offers_retry_ms;
	uint64_t offers_max_pending;       /* bytes queued per subscriber */
	uint64_t offers_max_subscribers;   /* per worker */

	/* [http]: the page at / */
	char static_dir[PATH_MAX];         /* its files; "": no page */
	/* [http]: HTTP conventions */
	char http_cors_origins[1024];      /* "": off; "*"; or origins */

	/* [debug] */
	bool debug_routes;
	int crash_at_start;
	uint64_t snapshot_delay_ms;        /* before the ranker's first load */
};

/* Errors found while loading: "file:line: section.key: problem" each. */
struct config_errors {
	char **msg;
	size_t n;
};

/* Returns a new config, or NULL with every problem listed in errs. */
struct config *config_load(const char *path, struct config_errors *errs);
/* The built-in defaults alone (used by tests and as the base of a load). */
struct config *config_defaults(void);
void config_free(struct config *cfg);
void config_errors_free(struct config_errors *errs);

/*
 * Keys that a reload cannot change (sockets bound by the master). Writes
 * "section.key" of the first difference into name and returns 1 if any.
 */
int config_restart_only_changed(const struct config *old,
    const struct config *new, char *name, size_t namelen);
/* Copies the restart-only keys of old into new. */
void config_keep_restart_only(const struct config *old, struct config *new);

/* The key table, for documentation checks and tests. */
struct config_key_info {
	const char *section;
	const char *key;
	const char *def;
	bool restart_only;
};
size_t config_key_count(void);
const struct config_key_info *config_key_at(size_t i);

#endif
