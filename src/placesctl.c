/*
 * placesctl.c: the admin tool: everything about placesd's database that is
 * not serving. It reads the same configuration file as placesd (only
 * [database] conninfo matters here) and runs one command:
 *   migrate  apply the SQL migrations in order
 *   seed     load deterministic demo data
 *   check    is the database reachable, migrated, and what does it hold
 * Exit: 0 done, 1 the database (or the system) failed, 2 usage or config.
 */
#include "common/config.h"
#include "ctl/check.h"
#include "ctl/ctl.h"
#include "ctl/db.h"
#include "ctl/migrate.h"
#include "ctl/seed.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef PKGDATADIR
#define PKGDATADIR "/usr/share/placesd"
#endif
#define DEFAULT_CONF SYSCONFDIR "/placesd/placesd.conf"
#define DEFAULT_SQL_DIR PKGDATADIR "/sql"
#define SEED_MAX_PLACES 10000000ULL

static void
usage(FILE *fp)
{
	fprintf(fp, "usage: placesctl [-hV] [-c file] command [options]\n"
	    "  -c file  configuration file (default %s)\n"
	    "commands:\n"
	    "  migrate [--dir dir]      apply the migrations of dir\n"
	    "                           (default %s)\n"
	    "  seed [--places n] [--seed s] [--if-empty | --replace]\n"
	    "                           load demo data (default 100000"
	    " places, seed 1)\n"
	    "  check [--dir dir]        check the connection and the"
	    " migrations\n", DEFAULT_CONF, DEFAULT_SQL_DIR);
}

static int
parse_u64(const char *opt, const char *s, uint64_t max, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		goto bad;
	errno = 0;
	*out = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || *out > max)
		goto bad;
	return 0;
bad:
	ctl_warnx("%s: \"%s\" is not a number from 0 to %" PRIu64, opt, s,
	    max);
	return -1;
}

enum { OPT_DIR = 1, OPT_PLACES, OPT_SEED, OPT_IF_EMPTY, OPT_REPLACE };

/* Options of a command: argv[0] is the command's name. */
static int
parse_command(int argc, char **argv, const char **dir, struct seed_opts *so)
{
	static const struct option dir_opts[] = {
		{ "dir", required_argument, NULL, OPT_DIR },
		{ NULL, 0, NULL, 0 }
	};
	static const struct option seed_opts[] = {
		{ "places", required_argument, NULL, OPT_PLACES },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "if-empty", no_argument, NULL, OPT_IF_EMPTY },
		{ "replace", no_argument, NULL, OPT_REPLACE },
		{ NULL, 0, NULL, 0 }
	};
	int is_seed = strcmp(argv[0], "seed") == 0;
	int ch;

	optind = 0;             /* glibc: restart scanning */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:", is_seed ? seed_opts :
	    dir_opts, NULL)) != -1) {
		switch (ch) {
		case OPT_DIR:
			*dir = optarg;
			break;
		case OPT_PLACES:
			if (parse_u64("--places", optarg, SEED_MAX_PLACES,
			    &so->places) != 0)
				return -1;
			break;
		case OPT_SEED:
			if (parse_u64("--seed", optarg, UINT64_MAX,
			    &so->seed) != 0)
				return -1;
			break;
		case OPT_IF_EMPTY:
			so->if_empty = 1;
			break;
		case OPT_REPLACE:
			so->replace = 1;
			break;
		case ':':
			ctl_warnx("%s: %s needs a value", argv[0],
			    argv[optind - 1]);
			return -1;
		default:
			ctl_warnx("%s: unknown option \"%s\"", argv[0],
			    argv[optind - 1]);
			return -1;
		}
	}
	if (optind != argc) {
		ctl_warnx("%s: unexpected argument \"%s\"", argv[0],
		    argv[optind]);
		return -1;
	}
	if (so->if_empty && so->replace) {
		ctl_warnx("seed: --if-empty and --replace exclude each other");
		return -1;
	}
	return 0;
}

static struct config *
load(const char *path)
{
	struct config_errors errs = { NULL, 0 };
	struct config *cfg = config_load(path, &errs);
	size_t i;

	for (i = 0; i < errs.n; i++)
		ctl_warnx("%s", errs.msg[i]);
	config_errors_free(&errs);
	return cfg;
}

int
main(int argc, char **argv)
{
	const char *path = DEFAULT_CONF, *cmd, *dir = DEFAULT_SQL_DIR;
	struct seed_opts so = { 100000, 1, 0, 0 };
	struct config *cfg;
	PGconn *conn;
	int ch, rc;

	while ((ch = getopt(argc, argv, "+c:hV")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'V':
			printf("placesctl %s\n", PACKAGE_VERSION);
			return CTL_OK;
		case 'h':
			usage(stdout);
			return CTL_OK;
		default:
			usage(stderr);
			return CTL_USAGE;
		}
	}
	if (optind == argc) {
		ctl_warnx("no command given");
		usage(stderr);
		return CTL_USAGE;
	}
	cmd = argv[optind];
	if (strcmp(cmd, "migrate") != 0 && strcmp(cmd, "seed") != 0 &&
	    strcmp(cmd, "check") != 0) {
		ctl_warnx("unknown command \"%s\"", cmd);
		usage(stderr);
		return CTL_USAGE;
	}
	if (parse_command(argc - optind, argv + optind, &dir, &so) != 0) {
		usage(stderr);
		return CTL_USAGE;
	}
	if ((cfg = load(path)) == NULL)
		return CTL_USAGE;
	if (db_check_conninfo(cfg->db_conninfo) != 0) {
		config_free(cfg);
		return CTL_USAGE;
	}
	conn = db_connect(cfg->db_conninfo);
	config_free(cfg);
	if (conn == NULL)
		return CTL_RUNTIME;
	if (strcmp(cmd, "migrate") == 0)
		rc = migrate_main(conn, dir);
	else if (strcmp(cmd, "seed") == 0)
		rc = seed_main(conn, &so);
	else
		rc = check_main(conn, dir);
	PQfinish(conn);
	return rc;
}
