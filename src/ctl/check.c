/*
 * check.c: placesctl check. Says whether the database placesd would use is
 * reachable and fully migrated, and what it holds: the server version,
 * every migration file's state and the rows of each table. Exit 1 when a
 * migration is missing, so scripts can wait for "check" before starting
 * placesd.
 */
#include "ctl/check.h"
#include "ctl/ctl.h"
#include "ctl/db.h"
#include "ctl/migrate.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static const struct {
	const char *table;
	const char *sql;
} check_counts[] = {
	{ "cities", "SELECT count(*) FROM cities" },
	{ "places", "SELECT count(*) FROM places" },
	{ "menu_items", "SELECT count(*) FROM menu_items" },
	{ "offers", "SELECT count(*) FROM offers" },
	{ "offers active now", "SELECT count(*) FROM offers"
	    " WHERE starts_at <= now() AND now() < ends_at" },
};

int
check_main(PGconn *conn, const char *dir)
{
	struct migrate_list list;
	const struct migrate_file **pending = NULL;
	size_t npending, i;
	int64_t n;
	int missing, rc = CTL_RUNTIME;
	PGresult *res;

	if (migrate_list(dir, &list) != 0)
		return CTL_USAGE;
	res = db_query(conn, "check: server version",
	    "SELECT current_setting('server_version'), current_database(),"
	    " current_user", 0, NULL);
	if (res == NULL)
		goto out;
	printf("server: PostgreSQL %s, database %s, user %s\n",
	    PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
	    PQgetvalue(res, 0, 2));
	PQclear(res);
	if (migrate_pending(conn, &list, &pending, &npending, &missing) != 0)
		goto out;
	if (missing) {
		ctl_warnx("check: database not migrated: table "
		    "schema_migrations does not exist (run placesctl migrate)");
		goto out;
	}
	printf("migrations: %zu of %zu applied\n", list.n - npending, list.n);
	if (npending > 0) {
		for (i = 0; i < npending; i++)
			printf("  pending: %s\n", pending[i]->name);
		ctl_warnx("check: %zu migration%s not applied, first %s (run "
		    "placesctl migrate)", npending, npending == 1 ? "" : "s",
		    pending[0]->name);
		goto out;
	}
	for (i = 0; i < sizeof(check_counts) / sizeof(check_counts[0]); i++) {
		if (db_query_int(conn, check_counts[i].table,
		    check_counts[i].sql, &n) != 0)
			goto out;
		printf("%s: %" PRId64 "\n", check_counts[i].table, n);
	}
	printf("ok\n");
	rc = CTL_OK;
out:
	free(pending);
	migrate_list_free(&list);
	return rc;
}
