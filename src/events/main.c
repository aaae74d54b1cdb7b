/*
 * main.c: placesd-events, the demo "external events service" of placesd
 * that misbehaves on purpose. This file reads the options, listens,
 * announces the port (stderr, and -p's file written atomically), runs the
 * event loop until SIGTERM or SIGINT and tears everything down.
 * Exit: 0 on a signal, 1 on a runtime failure, 2 on bad options.
 */
#include "events/fault.h"
#include "events/server.h"
#include "common/util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#define DEFAULT_LISTEN  "127.0.0.1:8081"
#define PLACE_ID_MAX    2147483647ULL

struct options {
	const char *listen;
	const char *port_file;
	bool verbose;
	struct fault_opts fo;
};

static void
usage(FILE *fp)
{
	fprintf(fp, "usage: placesd-events [-hVv] [-l host:port] [-s seed] "
	    "[-P max_place_id]\n"
	    "                      [-f fault] [-r rate] [-d delay_ms] "
	    "[-p port_file]\n"
	    "  -l host:port     listen address (default %s; port 0: any)\n"
	    "  -s seed          seed of the generated events (default 1)\n"
	    "  -P max_place_id  highest place id referenced (default 1000)\n"
	    "  -f fault         fault applied to /events at random, one of\n"
	    "                   %s\n"
	    "  -r rate          probability of -f, 0..1 (default 1)\n"
	    "  -d delay_ms      latency added to every /events answer\n"
	    "  -p port_file     write the port number to this file\n"
	    "  -v               log every request on stderr\n"
	    "  -V               print the version and exit\n"
	    "  -h               print this help and exit\n",
	    DEFAULT_LISTEN, fault_names());
}

static int
opt_uint(int opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char err[64];

	if (util_parse_uint(s, out, err, sizeof(err)) != 0 || *out < min ||
	    *out > max) {
		fprintf(stderr, "placesd-events: -%c: \"%s\" is not a number "
		    "from %llu to %llu\n", opt, s, (unsigned long long)min,
		    (unsigned long long)max);
		return -1;
	}
	return 0;
}

static int
opt_rate(const char *s, double *rate)
{
	char *end;

	errno = 0;
	*rate = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !isfinite(*rate) ||
	    *rate < 0 || *rate > 1) {
		fprintf(stderr, "placesd-events: -r: \"%s\" is not a "
		    "probability from 0 to 1\n", s);
		return -1;
	}
	return 0;
}

/* 0 to run, 1 to exit 0 (-h, -V), 2 on bad options (after a message). */
static int
parse_options(int argc, char **argv, struct options *o)
{
	char host[NI_MAXHOST], port[NI_MAXSERV];
	uint64_t v;
	bool rate_set = false;
	int ch;

	o->listen = DEFAULT_LISTEN;
	o->fo.seed = 1;
	o->fo.max_place_id = 1000;
	o->fo.mode = FAULT_NONE;
	o->fo.rate = 1;
	while ((ch = getopt(argc, argv, "l:s:P:f:r:d:p:vVh")) != -1) {
		switch (ch) {
		case 'l':
			if (server_split_addr(optarg, host, sizeof(host), port,
			    sizeof(port)) != 0) {
				fprintf(stderr, "placesd-events: -l: \"%s\" is "
				    "not host:port\n", optarg);
				return 2;
			}
			o->listen = optarg;
			break;
		case 's':
			if (opt_uint(ch, optarg, 0, UINT64_MAX, &o->fo.seed))
				return 2;
			break;
		case 'P':
			if (opt_uint(ch, optarg, 1, PLACE_ID_MAX, &v))
				return 2;
			o->fo.max_place_id = (uint32_t)v;
			break;
		case 'f':
			if (fault_parse_mode(optarg, &o->fo.mode) != 0) {
				fprintf(stderr, "placesd-events: -f: unknown "
				    "fault \"%s\" (one of %s)\n", optarg,
				    fault_names());
				return 2;
			}
			break;
		case 'r':
			if (opt_rate(optarg, &o->fo.rate) != 0)
				return 2;
			rate_set = true;
			break;
		case 'd':
			if (opt_uint(ch, optarg, 0, FAULT_DELAY_MAX_MS,
			    &o->fo.delay_ms))
				return 2;
			break;
		case 'p':
			o->port_file = optarg;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'V':
			printf("placesd-events %s\n", PACKAGE_VERSION);
			return 1;
		case 'h':
			usage(stdout);
			return 1;
		default:
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "placesd-events: unexpected argument \"%s\"\n",
		    argv[optind]);
		return 2;
	}
	if (rate_set && o->fo.mode == FAULT_NONE)
		fprintf(stderr, "placesd-events: -r without -f has no "
		    "effect\n");
	return 0;
}

/* The port and a newline into path, through path.tmp and a rename. */
static int
write_port_file(const char *path, unsigned port)
{
	char tmp[PATH_MAX];
	FILE *fp;
	int failed;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		fprintf(stderr, "placesd-events: %s: name too long\n", path);
		return -1;
	}
	if ((fp = fopen(tmp, "w")) == NULL) {
		fprintf(stderr, "placesd-events: %s: %s\n", tmp,
		    strerror(errno));
		return -1;
	}
	failed = fprintf(fp, "%u\n", port) < 0;
	failed |= fclose(fp) != 0;
	if (failed || rename(tmp, path) != 0) {
		fprintf(stderr, "placesd-events: cannot write %s: %s\n", path,
		    strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopbreak(arg);
}

/* Listens, serves until a signal; 0 or 1. */
static int
serve(const struct options *o, struct event_base *base, struct faults *fs)
{
	struct event *sigterm = NULL, *sigint = NULL;
	struct server *srv;
	char err[512];
	int rc = 1;

	srv = server_new(base, o->listen, faults_route, fs, o->verbose, err,
	    sizeof(err));
	if (srv == NULL) {
		fprintf(stderr, "placesd-events: %s\n", err);
		return 1;
	}
	faults_set_server(fs, srv);
	sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	sigint = evsignal_new(base, SIGINT, on_signal, base);
	if (sigterm == NULL || sigint == NULL || evsignal_add(sigterm,
	    NULL) != 0 || evsignal_add(sigint, NULL) != 0) {
		fprintf(stderr, "placesd-events: cannot watch signals\n");
		goto out;
	}
	fprintf(stderr, "placesd-events: listening on %s\n",
	    server_address(srv));
	if (o->port_file != NULL &&
	    write_port_file(o->port_file, server_port(srv)) != 0)
		goto out;
	if (event_base_dispatch(base) == -1) {
		fprintf(stderr, "placesd-events: event loop failed\n");
		goto out;
	}
	rc = 0;
out:
	if (sigterm != NULL)
		event_free(sigterm);
	if (sigint != NULL)
		event_free(sigint);
	faults_set_server(fs, NULL);
	server_free(srv);
	return rc;
}

int
main(int argc, char **argv)
{
	struct options o;
	struct event_base *base;
	struct faults *fs;
	int rc;

	memset(&o, 0, sizeof(o));
	if ((rc = parse_options(argc, argv, &o)) == 1)
		return 0;
	if (rc == 2) {
		usage(stderr);
		return 2;
	}
	/* a client that goes away must not kill us on the next write */
	signal(SIGPIPE, SIG_IGN);
	if ((base = event_base_new()) == NULL) {
		fprintf(stderr, "placesd-events: event_base_new failed\n");
		return 1;
	}
	if ((fs = faults_new(&o.fo)) == NULL) {
		fprintf(stderr, "placesd-events: out of memory\n");
		event_base_free(base);
		return 1;
	}
	rc = serve(&o, base, fs);
	faults_free(fs);
	event_base_free(base);
	libevent_global_shutdown();
	if (rc == 0)
		fprintf(stderr, "placesd-events: stopped\n");
	return rc;
}
