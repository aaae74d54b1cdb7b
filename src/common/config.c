/*
 * config.c: the INI configuration (libinih) and its key table. Every key is
 * one CONF_KEY line below with its default, its parser and its bounds; the
 * defaults are parsed by the same code as the file, so a bad default cannot
 * hide. Errors are collected, not fatal one by one, so `placesd -t` names
 * every problem of a file at once as "file:line: section.key: problem".
 */
#include "common/config.h"
#include "common/log.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

struct conf_key;
typedef int (*conf_parse_fn)(struct config *, const struct conf_key *,
    const char *, char *, size_t);

struct conf_key {
	const char *section;
	const char *key;
	const char *def;
	conf_parse_fn parse;
	size_t off;
	size_t size;
	uint64_t min;
	uint64_t max;
	bool restart_only;
};

#define FIELD(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)
#define CONF_KEY(sec, key, def, fn, field, min, max, ro) \
	{ sec, key, def, fn, FIELD(field), min, max, ro }

static int parse_listen(struct config *, const struct conf_key *, const char *, char *, size_t);
static int parse_count(struct config *, const struct conf_key *, const char *, char *, size_t);
static int parse_nice(struct config *, const struct conf_key *, const char *, char *, size_t);
static int parse_count_auto(struct config *, const struct conf_key *, const char *, char *, size_t);
static int parse_duration(struct config *, const struct conf_key *, const char *, char *, size_t);
static int parse_size(struct config *, const struct conf_key *, const char *, char *, size_t);
static int parse_string(struct config *, const struct conf_key *, const char *, char *, size_t);
static int parse_path(struct config *, const struct conf_key *, const char *, char *, size_t);
static int parse_level(struct config *, const struct conf_key *, const char *, char *, size_t);
static int parse_bool(struct config *, const struct conf_key *, const char *, char *, size_t);
static int parse_crash(struct config *, const struct conf_key *, const char *, char *, size_t);
static int parse_url(struct config *, const struct conf_key *, const char *, char *, size_t);
static int parse_token_file(struct config *, const struct conf_key *, const char *, char *, size_t);
static int parse_access(struct config *, const struct conf_key *, const char *, char *, size_t);
static int parse_origins(struct config *, const struct conf_key *, const char *, char *, size_t);

#define MS(x) ((uint64_t)(x))
#define S(x) ((uint64_t)(x) * 1000)

static const struct conf_key keys[] = {
	CONF_KEY("server", "listen", "127.0.0.1:8080", parse_listen, listen, 0, 0, true),
	CONF_KEY("server", "workers", "auto", parse_count_auto, workers, 1, CONFIG_MAX_WORKERS, true),
	CONF_KEY("server", "backlog", "1024", parse_count, backlog, 1, 65535, true),
	CONF_KEY("server", "max_connections", "4096", parse_count, max_connections, 1, 1000000, false),
	CONF_KEY("server", "keepalive_timeout", "60s", parse_duration, keepalive_timeout_ms, MS(100), S(3600), false),
	CONF_KEY("server", "read_timeout", "10s", parse_duration, read_timeout_ms, MS(100), S(3600), false),
	CONF_KEY("server", "request_deadline", "10s", parse_duration, request_deadline_ms, MS(10), S(3600), false),
	CONF_KEY("server", "max_uri_size", "4k", parse_size, max_uri_size, 256, 8000, false),
	CONF_KEY("server", "max_header_size", "8k", parse_size, max_header_size, 1024, 1024 * 1024, false),
	CONF_KEY("server", "max_body_size", "1m", parse_size, max_body_size, 1, 1024 * 1024, false),
	CONF_KEY("server", "shutdown_timeout", "30s", parse_duration, shutdown_timeout_ms, MS(100), S(3600), false),
	CONF_KEY("server", "user", "", parse_string, user, 0, 0, true),
	CONF_KEY("log", "level", "info", parse_level, log_level, 0, 0, false),
	CONF_KEY("log", "file", "", parse_path, log_file, 0, 0, false),
	/* access_log: the older name of access; one of the two, not both */
	CONF_KEY("log", "access", "off", parse_access, access_log, 0, 0, false),
	CONF_KEY("log", "access_log", "", parse_access, access_log, 0, 0, false),
	CONF_KEY("database", "conninfo", "host=/run/postgresql dbname=placesd", parse_string, db_conninfo, 1, 0, false),
	CONF_KEY("database", "read_conninfo", "", parse_string, db_read_conninfo, 0, 0, false),
	CONF_KEY("database", "max_replica_lag", "5s", parse_duration, db_max_replica_lag_ms, MS(10), S(3600), false),
	CONF_KEY("database", "read_pool_size", "4", parse_count, db_read_pool_size, 1, 64, false),
	CONF_KEY("database", "pool_size", "4", parse_count, db_pool_size, 1, 64, false),
	CONF_KEY("database", "query_timeout", "2s", parse_duration, db_query_timeout_ms, MS(10), S(600), false),
	CONF_KEY("database", "queue_size", "1024", parse_count, db_queue_size, 1, 100000, false),
	CONF_KEY("cache", "ttl", "5s", parse_duration, cache_ttl_ms, MS(0), S(3600), false),
	CONF_KEY("cache", "max_entries", "10000", parse_count, cache_max_entries, 0, 10000000, false),
	CONF_KEY("cache", "max_bytes", "64m", parse_size, cache_max_bytes, 0, 16384ULL * 1024 * 1024, false),
	CONF_KEY("cache", "model_ttl", "10m", parse_duration, cache_model_ttl_ms, MS(0), S(86400), false),
	CONF_KEY("ranker", "socket", "/run/placesd/ranker.sock", parse_path, ranker_socket, 1, 0, true),
	CONF_KEY("ranker", "threads", "auto", parse_count_auto, ranker_threads, 1, 256, false),
	CONF_KEY("ranker", "queue_size", "1024", parse_count, ranker_queue_size, 1, 1000000, false),
	CONF_KEY("ranker", "timeout", "250ms", parse_duration, ranker_timeout_ms, MS(1), S(60), false),
	CONF_KEY("ranker", "nice", "idle", parse_nice, ranker_nice, 0, 19, false),
	CONF_KEY("ranker", "overlay_max", "4096", parse_count, ranker_overlay_max, 0, 1000000, false),
	CONF_KEY("upstream", "events_url", "http://127.0.0.1:8081/events", parse_url, events_url, 0, 0, false),
	CONF_KEY("upstream", "timeout", "1s", parse_duration, upstream_timeout_ms, MS(1), S(60), false),
	CONF_KEY("upstream", "retries", "2", parse_count, upstream_retries, 0, 10, false),
	CONF_KEY("upstream", "breaker_failures", "5", parse_count, breaker_failures, 1, 1000, false),
	CONF_KEY("upstream", "breaker_cooldown", "5s", parse_duration, breaker_cooldown_ms, MS(10), S(3600), false),
	CONF_KEY("upstream", "max_response_size", "1m", parse_size, upstream_max_response, 1024, 64 * 1024 * 1024, false),
	CONF_KEY("upstream", "keepalive", "16", parse_count, upstream_keepalive, 0, 1024, false),
	CONF_KEY("offers", "admin_token_file", "", parse_token_file, admin_token_file, 0, 0, false),
	CONF_KEY("offers", "heartbeat", "15s", parse_duration, offers_heartbeat_ms, MS(100), S(3600), false),
	CONF_KEY("offers", "retry", "2s", parse_duration, offers_retry_ms, MS(100), S(3600), false),
	CONF_KEY("offers", "max_pending", "256k", parse_size, offers_max_pending, 4096, 64 * 1024 * 1024, false),
	CONF_KEY("offers", "max_subscribers", "20000", parse_count, offers_max_subscribers, 1, 1000000, false),
	/* [http]: the page at / (api/static.c) */
	CONF_KEY("http", "static_dir", PKGDATADIR "/www", parse_path, static_dir, 0, 0, false),
	/* [http]: HTTP conventions (CORS) */
	CONF_KEY("http", "cors_origins", "", parse_origins, http_cors_origins, 0, 0, false),
	/* [http]: end of the HTTP conventions' keys */
	CONF_KEY("debug", "routes", "off", parse_bool, debug_routes, 0, 0, false),
	CONF_KEY("debug", "crash_at_start", "none", parse_crash, crash_at_start, 0, 0, false),
	CONF_KEY("debug", "snapshot_delay", "0s", parse_duration, snapshot_delay_ms, MS(0), S(60), false),
};

/* ---- value parsers ------------------------------------------------------ */

#define FIELD_PTR(cfg, k) ((void *)((char *)(cfg) + (k)->off))

static int
check_range(const struct conf_key *k, uint64_t v, const char *unit,
    uint64_t div, char *err, size_t errlen)
{
	if (v < k->min || v > k->max) {
		snprintf(err, errlen, "must be between %llu%s and %llu%s",
		    (unsigned long long)(k->min / div), unit,
		    (unsigned long long)(k->max / div), unit);
		return -1;
	}
	return 0;
}

static int
parse_count(struct config *cfg, const struct conf_key *k, const char *v,
    char *err, size_t errlen)
{
	uint64_t n;

	if (util_parse_uint(v, &n, err, errlen) != 0 ||
	    check_range(k, n, "", 1, err, errlen) != 0)
		return -1;
	*(uint64_t *)FIELD_PTR(cfg, k) = n;
	return 0;
}

/* "idle" (SCHED_IDLE, stored as UTIL_NICE_IDLE) or a nice value 0..19 */
static int
parse_nice(struct config *cfg, const struct conf_key *k, const char *v,
    char *err, size_t errlen)
{
	uint64_t n;

	if (strcasecmp(v, "idle") == 0) {
		*(uint64_t *)FIELD_PTR(cfg, k) = UTIL_NICE_IDLE;
		return 0;
	}
	if (util_parse_uint(v, &n, err, errlen) != 0 || n < k->min ||
	    n > k->max) {
		snprintf(err, errlen, "must be \"idle\" or a number between "
		    "%llu and %llu", (unsigned long long)k->min,
		    (unsigned long long)k->max);
		return -1;
	}
	*(uint64_t *)FIELD_PTR(cfg, k) = n;
	return 0;
}

static int
parse_count_auto(struct config *cfg, const struct conf_key *k, const char *v,
    char *err, size_t errlen)
{
	uint64_t n;

	if (strcasecmp(v, "auto") == 0) {
		n = util_cpu_count();
		if (n > k->max)
			n = k->max;
		*(uint64_t *)FIELD_PTR(cfg, k) = n;
		return 0;
	}
	if (util_parse_uint(v, &n, err, errlen) != 0) {
		snprintf(err, errlen, "must be \"auto\" or a number");
		return -1;
	}
	if (check_range(k, n, "", 1, err, errlen) != 0)
		return -1;
	*(uint64_t *)FIELD_PTR(cfg, k) = n;
	return 0;
}

static int
parse_duration(struct config *cfg, const struct conf_key *k, const char *v,
    char *err, size_t errlen)
{
	uint64_t ms;

	if (util_parse_duration_ms(v, &ms, err, errlen) != 0)
		return -1;
	if (ms < k->min || ms > k->max) {
		if (k->min < 1000)
			snprintf(err, errlen, "must be between %llums and %llus",
			    (unsigned long long)k->min,
			    (unsigned long long)(k->max / 1000));
		else
			snprintf(err, errlen, "must be between %llus and %llus",
			    (unsigned long long)(k->min / 1000),
			    (unsigned long long)(k->max / 1000));
		return -1;
	}
	*(uint64_t *)FIELD_PTR(cfg, k) = ms;
	return 0;
}

static int
parse_size(struct config *cfg, const struct conf_key *k, const char *v,
    char *err, size_t errlen)
{
	uint64_t n;

	if (util_parse_size(v, &n, err, errlen) != 0 ||
	    check_range(k, n, " bytes", 1, err, errlen) != 0)
		return -1;
	*(uint64_t *)FIELD_PTR(cfg, k) = n;
	return 0;
}

static int
parse_string(struct config *cfg, const struct conf_key *k, const char *v,
    char *err, size_t errlen)
{
	size_t len = strlen(v);

	if (len >= k->size) {
		snprintf(err, errlen, "longer than %zu bytes", k->size - 1);
		return -1;
	}
	if (k->min > 0 && len < k->min) {
		snprintf(err, errlen, "must not be empty");
		return -1;
	}
	memset(FIELD_PTR(cfg, k), 0, k->size);
	memcpy(FIELD_PTR(cfg, k), v, len + 1);
	return 0;
}

static int
parse_path(struct config *cfg, const struct conf_key *k, const char *v,
    char *err, size_t errlen)
{
	if (*v != '\0' && *v != '/') {
		snprintf(err, errlen, "must be an absolute path");
		return -1;
	}
	return parse_string(cfg, k, v, err, errlen);
}

static int
parse_level(struct config *cfg, const struct conf_key *k, const char *v,
    char *err, size_t errlen)
{
	int l = log_level_parse(v);

	if (l < 0) {
		snprintf(err, errlen, "must be debug, info, warn or error");
		return -1;
	}
	*(int *)FIELD_PTR(cfg, k) = l;
	return 0;
}

static int
parse_bool(struct config *cfg, const struct conf_key *k, const char *v,
    char *err, size_t errlen)
{
	return util_parse_bool(v, (bool *)FIELD_PTR(cfg, k), err, errlen);
}

static int
parse_crash(struct config *cfg, const struct conf_key *k, const char *v,
    char *err, size_t errlen)
{
	int *out = FIELD_PTR(cfg, k);

	if (strcmp(v, "none") == 0)
		*out = CRASH_NONE;
	else if (strcmp(v, "worker") == 0)
		*out = CRASH_WORKER;
	else if (strcmp(v, "ranker") == 0)
		*out = CRASH_RANKER;
	else {
		snprintf(err, errlen, "must be none, worker or ranker");
		return -1;
	}
	return 0;
}

/*
 * http://host[:port][/path]: the events service's base URL. The host is a
 * name (resolved by the workers with evdns) or a numeric address, [v6]
 * in brackets; https is not supported.
 */
static int
parse_url(struct config *cfg, const struct conf_key *k, const char *v,
    char *err, size_t errlen)
{
	const char *host = v + 7, *he, *ps, *path;
	size_t hl;
	uint64_t port = 80;

	(void)k;
	if (strncasecmp(v, "http://", 7) != 0) {
		snprintf(err, errlen, "must start with http:// (https is not "
		    "supported)");
		return -1;
	}
	path = host + strcspn(host, "/?#");
	if (*path != '\0' && *path != '/') {
		snprintf(err, errlen, "must not have a query or fragment");
		return -1;
	}
	if (*host == '[') {
		if ((he = memchr(host, ']', (size_t)(path - host))) == NULL) {
			snprintf(err, errlen, "unterminated [IPv6] address");
			return -1;
		}
		ps = he + 1;
		host++;
	} else {
		he = memchr(host, ':', (size_t)(path - host));
		if (he == NULL)
			he = path;
		ps = he;
	}
	hl = (size_t)(he - host);
	if (hl == 0 || hl >= sizeof(cfg->events_host)) {
		snprintf(err, errlen, "bad host");
		return -1;
	}
	if (ps < path) {
		char num[8];
		size_t nl = (size_t)(path - ps - 1);

		if (*ps != ':' || nl == 0 || nl >= sizeof(num)) {
			snprintf(err, errlen, "bad port");
			return -1;
		}
		memcpy(num, ps + 1, nl);
		num[nl] = '\0';
		if (util_parse_uint(num, &port, err, errlen) != 0 ||
		    port == 0 || port > 65535) {
			snprintf(err, errlen, "port must be 1..65535");
			return -1;
		}
	}
	if (strlen(v) >= sizeof(cfg->events_url) ||
	    strlen(path) >= sizeof(cfg->events_path)) {
		snprintf(err, errlen, "too long");
		return -1;
	}
	memcpy(cfg->events_host, host, hl);
	cfg->events_host[hl] = '\0';
	cfg->events_port = (uint16_t)port;
	/* the base path, without a trailing slash: <path>/<date>?city= */
	snprintf(cfg->events_path, sizeof(cfg->events_path), "%.*s",
	    (int)(strlen(path) - (strlen(path) > 0 &&
	    path[strlen(path) - 1] == '/')), path);
	snprintf(cfg->events_url, sizeof(cfg->events_url), "%s", v);
	return 0;
}

/*
 * The file holding the bearer token of POST /v1/offers: an absolute path,
 * not readable by others, one line of 16..256 printable bytes. Empty: no
 * token, publishing is refused.
 */
static int
parse_token_file(struct config *cfg, const struct conf_key *k, const char *v,
    char *err, size_t errlen)
{
	char buf[300];
	struct stat sb;
	size_t n, i;
	FILE *fp;

	if (parse_path(cfg, k, v, err, errlen) != 0)
		return -1;
	cfg->admin_token[0] = '\0';
	if (*v == '\0')
		return 0;
	if ((fp = fopen(v, "re")) == NULL || fstat(fileno(fp), &sb) != 0) {
		snprintf(err, errlen, "cannot read %s: %s", v, strerror(errno));
		if (fp != NULL)
			fclose(fp);
		return -1;
	}
	if (sb.st_mode & (S_IROTH | S_IWOTH)) {
		snprintf(err, errlen, "%s is readable or writable by others; "
		    "chmod o-rw it", v);
		fclose(fp);
		return -1;
	}
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
	    buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		buf[--n] = '\0';
	for (i = 0; i < n; i++)
		if (buf[i] <= ' ' || buf[i] > '~')
			break;
	if (n < 16 || n > 256 || i < n) {
		snprintf(err, errlen, "%s must hold one token of 16 to 256 "
		    "printable characters", v);
		return -1;
	}
	memcpy(cfg->admin_token, buf, n + 1);
	return 0;
}

/* An absolute path, or "off" (or empty): no access log. */
static int
parse_access(struct config *cfg, const struct conf_key *k, const char *v,
    char *err, size_t errlen)
{
	if (strcmp(v, "off") == 0)
		v = "";
	return parse_path(cfg, k, v, err, errlen);
}

/* scheme "://" host [ ":" port ], and nothing more: no path, no '/'. */
static bool
origin_valid(const char *p, size_t n)
{
	const char *host;
	size_t i, hlen;

	if (n > 8 && strncasecmp(p, "https://", 8) == 0)
		host = p + 8;
	else if (n > 7 && strncasecmp(p, "http://", 7) == 0)
		host = p + 7;
	else
		return false;
	hlen = n - (size_t)(host - p);
	for (i = 0; i < hlen; i++)
		if (host[i] <= ' ' || host[i] > '~' || host[i] == '/' ||
		    host[i] == ',' || host[i] == '"')
			return false;
	return hlen > 0 && host[hlen - 1] != ':';
}

/* Origins that may read answers across origins, space separated; "*"
 * alone for any; empty for none (runtime/http_cors.h). */
static int
parse_origins(struct config *cfg, const struct conf_key *k, const char *v,
    char *err, size_t errlen)
{
	const char *p = v;
	size_t n, count = 0;
	bool star = false;

	while (*(p += strspn(p, " \t")) != '\0') {
		n = strcspn(p, " \t");
		count++;
		if (n == 1 && *p == '*') {
			star = true;
		} else if (!origin_valid(p, n)) {
			snprintf(err, errlen, "\"%.*s\" is not an origin "
			    "(scheme://host[:port], without a path)", (int)n, p);
			return -1;
		}
		p += n;
	}
	if (star && count > 1) {
		snprintf(err, errlen, "\"*\" must stand alone");
		return -1;
	}
	return parse_string(cfg, k, v, err, errlen);
}

/* host:port with a numeric IPv4 host, "*" or "localhost", or [v6]:port. */
static int
parse_listen(struct config *cfg, const struct conf_key *k, const char *v,
    char *err, size_t errlen)
{
	char host[64];
	const char *colon, *hs, *he;
	uint64_t port;
	struct sockaddr_in *sin = (struct sockaddr_in *)&cfg->listen_addr;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&cfg->listen_addr;

	if (*v == '[') {
		hs = v + 1;
		if ((he = strchr(hs, ']')) == NULL || he[1] != ':')
			goto bad;
		colon = he + 1;
	} else {
		hs = v;
		if ((colon = strrchr(v, ':')) == NULL)
			goto bad;
		he = colon;
	}
	if ((size_t)(he - hs) >= sizeof(host) || he == hs)
		goto bad;
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	if (util_parse_uint(colon + 1, &port, err, errlen) != 0 || port < 1 ||
	    port > 65535) {
		snprintf(err, errlen, "port must be between 1 and 65535");
		return -1;
	}
	memset(&cfg->listen_addr, 0, sizeof(cfg->listen_addr));
	if (*v == '[') {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			goto bad;
		cfg->listen_addrlen = sizeof(*sin6);
	} else {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		if (strcmp(host, "*") == 0)
			sin->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (strcmp(host, "localhost") == 0)
			sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			goto bad;
		cfg->listen_addrlen = sizeof(*sin);
	}
	return parse_string(cfg, k, v, err, errlen);
bad:
	snprintf(err, errlen, "must be host:port or [ipv6]:port with a numeric "
	    "address, \"*\" or \"localhost\"");
	return -1;
}

/* ---- loading ------------------------------------------------------------- */

struct load_state {
	struct config *cfg;
	struct config_errors *errs;
	const char *path;
	FILE *fp;
	int line;
	bool seen[ARRAY_SIZE(keys)];
};

static void
add_error(struct config_errors *errs, const char *fmt, ...)
{
	char buf[1024], **msg;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if ((msg = realloc(errs->msg, (errs->n + 1) * sizeof(*msg))) == NULL)
		return;
	errs->msg = msg;
	if ((errs->msg[errs->n] = strdup(buf)) != NULL)
		errs->n++;
}

static const struct conf_key *
find_key(const char *section, const char *name, size_t *idx)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(keys); i++) {
		if (strcmp(keys[i].section, section) == 0 &&
		    strcmp(keys[i].key, name) == 0) {
			*idx = i;
			return &keys[i];
		}
	}
	return NULL;
}

static bool
section_known(const char *section)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(keys); i++)
		if (strcmp(keys[i].section, section) == 0)
			return true;
	return false;
}

/* A key given already under another name (one setting, two keys). */
static const struct conf_key *
alias_seen(const struct load_state *st, size_t idx)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(keys); i++)
		if (i != idx && st->seen[i] && keys[i].off == keys[idx].off)
			return &keys[i];
	return NULL;
}

/*
 * Key k of a setting given already as other: the same value is fine (the
 * shipped file lists both names), a different one is an error.
 */
static int
on_alias(struct load_state *st, const struct conf_key *k,
    const struct conf_key *other, const char *value)
{
	struct config *tmp;
	char err[256] = "";

	if ((tmp = malloc(sizeof(*tmp))) == NULL) {
		add_error(st->errs, "%s:%d: out of memory", st->path, st->line);
		return 1;
	}
	memcpy(tmp, st->cfg, sizeof(*tmp));
	if (k->parse(tmp, k, value, err, sizeof(err)) != 0)
		add_error(st->errs, "%s:%d: %s.%s: %s (got \"%s\")", st->path,
		    st->line, k->section, k->key, err, value);
	else if (memcmp((char *)tmp + k->off, (char *)st->cfg + k->off,
	    k->size) != 0)
		add_error(st->errs, "%s:%d: %s.%s: another name of %s.%s, "
		    "given already with another value", st->path, st->line,
		    k->section, k->key, other->section, other->key);
	free(tmp);
	return 1;
}

static int
on_key(void *user, const char *section, const char *name, const char *value)
{
	struct load_state *st = user;
	const struct conf_key *k, *other;
	char err[256];
	size_t idx;

	if (*section == '\0') {
		add_error(st->errs, "%s:%d: %s: key outside of any [section]",
		    st->path, st->line, name);
		return 1;
	}
	if (!section_known(section)) {
		add_error(st->errs, "%s:%d: %s.%s: unknown section [%s]",
		    st->path, st->line, section, name, section);
		return 1;
	}
	if ((k = find_key(section, name, &idx)) == NULL) {
		add_error(st->errs, "%s:%d: %s.%s: unknown key", st->path,
		    st->line, section, name);
		return 1;
	}
	if (st->seen[idx]) {
		add_error(st->errs, "%s:%d: %s.%s: duplicate key", st->path,
		    st->line, section, name);
		return 1;
	}
	st->seen[idx] = true;
	err[0] = '\0';
	if ((other = alias_seen(st, idx)) != NULL)
		return on_alias(st, k, other, value);
	if (k->parse(st->cfg, k, value, err, sizeof(err)) != 0)
		add_error(st->errs, "%s:%d: %s.%s: %s (got \"%s\")", st->path,
		    st->line, section, name, err, value);
	return 1;
}

/* inih reads a line per call; counting them gives each key its line. */
static char *
read_line(char *buf, int size, void *stream)
{
	struct load_state *st = stream;
	char *r = fgets(buf, size, st->fp);

	if (r != NULL)
		st->line++;
	return r;
}

struct config *
config_defaults(void)
{
	struct config *cfg;
	char err[256];
	size_t i;

	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		return NULL;
	for (i = 0; i < ARRAY_SIZE(keys); i++) {
		if (keys[i].parse(cfg, &keys[i], keys[i].def, err,
		    sizeof(err)) != 0) {
			/* a programming error, caught by the unit tests */
			log_errorx("default of %s.%s is invalid: %s",
			    keys[i].section, keys[i].key, err);
			free(cfg);
			return NULL;
		}
	}
	return cfg;
}

struct config *
config_load(const char *path, struct config_errors *errs)
{
	struct load_state st;
	int rc;

	memset(&st, 0, sizeof(st));
	st.errs = errs;
	st.path = path;
	if ((st.cfg = config_defaults()) == NULL) {
		add_error(errs, "%s: cannot build the defaults", path);
		return NULL;
	}
	snprintf(st.cfg->path, sizeof(st.cfg->path), "%s", path);
	if ((st.fp = fopen(path, "r")) == NULL) {
		add_error(errs, "%s: cannot open: %s", path, strerror(errno));
		goto fail;
	}
	rc = ini_parse_stream(read_line, &st, on_key, &st);
	fclose(st.fp);
	if (rc > 0)
		add_error(errs, "%s:%d: syntax error (expected [section] or "
		    "key = value)", path, rc);
	else if (rc < 0)
		add_error(errs, "%s: cannot read the file", path);
	if (errs->n > 0)
		goto fail;
	return st.cfg;
fail:
	config_free(st.cfg);
	return NULL;
}

void
config_free(struct config *cfg)
{
	free(cfg);
}

void
config_errors_free(struct config_errors *errs)
{
	size_t i;

	for (i = 0; i < errs->n; i++)
		free(errs->msg[i]);
	free(errs->msg);
	errs->msg = NULL;
	errs->n = 0;
}

int
config_restart_only_changed(const struct config *old, const struct config *new,
    char *name, size_t namelen)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(keys); i++) {
		const struct conf_key *k = &keys[i];

		if (!k->restart_only)
			continue;
		if (memcmp((const char *)old + k->off, (const char *)new + k->off,
		    k->size) != 0) {
			snprintf(name, namelen, "%s.%s", k->section, k->key);
			return 1;
		}
	}
	return 0;
}

void
config_keep_restart_only(const struct config *old, struct config *new)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(keys); i++)
		if (keys[i].restart_only)
			memcpy((char *)new + keys[i].off,
			    (const char *)old + keys[i].off, keys[i].size);
	/* the parsed address goes with the listen string */
	new->listen_addr = old->listen_addr;
	new->listen_addrlen = old->listen_addrlen;
}

size_t
config_key_count(void)
{
	return ARRAY_SIZE(keys);
}

const struct config_key_info *
config_key_at(size_t i)
{
	static struct config_key_info info;

	if (i >= ARRAY_SIZE(keys))
		return NULL;
	info.section = keys[i].section;
	info.key = keys[i].key;
	info.def = keys[i].def;
	info.restart_only = keys[i].restart_only;
	return &info;
}
