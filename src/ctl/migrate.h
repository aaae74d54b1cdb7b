/*
 * migrate.h: the migration files (NNN_name.sql, applied in order) and the
 * schema_migrations table that records them.
 */
#ifndef PLACESD_CTL_MIGRATE_H
#define PLACESD_CTL_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

struct migrate_file {
	char *name;             /* "002_notify.sql" */
	char *version;          /* "002_notify": the schema_migrations key */
};

struct migrate_list {
	struct migrate_file *files;
	size_t n;
};

/* Lists DIR's migration files in order; 0, or -1 reported. */
int migrate_list(const char *dir, struct migrate_list *list);
void migrate_list_free(struct migrate_list *list);

/*
 * Versions of list not recorded in the database, written to pending (a
 * NULL-terminated array of pointers into list, caller frees the array).
 * 0, or -1 reported; *missing_table is set when schema_migrations does
 * not exist at all.
 */
int migrate_pending(PGconn *conn, const struct migrate_list *list,
    const struct migrate_file ***pending, size_t *npending,
    int *missing_table);

/* placesctl migrate [--dir DIR] */
int migrate_main(PGconn *conn, const char *dir);

#endif
