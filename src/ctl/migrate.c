/*
 * migrate.c: placesctl migrate. The files NNN_name.sql of a directory are
 * applied in the order of their names; each one runs in its own
 * transaction together with the insert of its row in schema_migrations, so
 * a file is either applied and recorded or not at all. A session advisory
 * lock serializes concurrent runs: the second one waits, then finds
 * everything applied. Files must not contain their own BEGIN/COMMIT, nor
 * statements that cannot run in a transaction (CREATE INDEX CONCURRENTLY).
 */
#include "ctl/migrate.h"
#include "ctl/ctl.h"
#include "ctl/db.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* pg_advisory_lock key of placesctl migrate: the bytes of "placesdm" */
#define MIGRATE_LOCK_KEY "8100956909264397421"

static const char migrate_table_sql[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version text PRIMARY KEY,"
    " applied_at timestamptz NOT NULL DEFAULT now())";

/* NNN_name.sql: one or more digits, '_', a name, ".sql". */
static int
migrate_is_file_name(const char *s)
{
	size_t n = strlen(s);
	const char *p = s;

	if (n < 6 || strcmp(s + n - 4, ".sql") != 0)
		return 0;
	if (!isdigit((unsigned char)*p))
		return 0;
	while (isdigit((unsigned char)*p))
		p++;
	return *p == '_' && p + 1 < s + n - 4;
}

static int
migrate_cmp(const void *a, const void *b)
{
	const struct migrate_file *x = a, *y = b;

	return strcmp(x->name, y->name);
}

int
migrate_list(const char *dir, struct migrate_list *list)
{
	DIR *d;
	struct dirent *de;
	struct migrate_file *nf;
	size_t cap = 0, i, la, lb;

	list->files = NULL;
	list->n = 0;
	if ((d = opendir(dir)) == NULL) {
		ctl_warn("migrations directory %s", dir);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (!migrate_is_file_name(de->d_name))
			continue;
		if (list->n == cap) {
			cap = cap ? cap * 2 : 16;
			nf = realloc(list->files, cap * sizeof(*nf));
			if (nf == NULL)
				goto oom;
			list->files = nf;
		}
		nf = &list->files[list->n];
		nf->name = strdup(de->d_name);
		nf->version = strndup(de->d_name, strlen(de->d_name) - 4);
		if (nf->name == NULL || nf->version == NULL) {
			free(nf->name);
			free(nf->version);
			goto oom;
		}
		list->n++;
	}
	closedir(d);
	qsort(list->files, list->n, sizeof(*list->files), migrate_cmp);
	/* "01_a.sql" and "001_b.sql" would both claim the same place */
	for (i = 1; i < list->n; i++) {
		la = strspn(list->files[i - 1].name, "0123456789");
		lb = strspn(list->files[i].name, "0123456789");
		if (strtoul(list->files[i - 1].name, NULL, 10) ==
		    strtoul(list->files[i].name, NULL, 10) || la != lb) {
			ctl_warnx("migrations directory %s: %s and %s: each "
			    "file needs its own number, all of the same width",
			    dir, list->files[i - 1].name, list->files[i].name);
			migrate_list_free(list);
			return -1;
		}
	}
	return 0;
oom:
	closedir(d);
	ctl_warn("migrations directory %s", dir);
	migrate_list_free(list);
	return -1;
}

void
migrate_list_free(struct migrate_list *list)
{
	size_t i;

	for (i = 0; i < list->n; i++) {
		free(list->files[i].name);
		free(list->files[i].version);
	}
	free(list->files);
	list->files = NULL;
	list->n = 0;
}

int
migrate_pending(PGconn *conn, const struct migrate_list *list,
    const struct migrate_file ***pending, size_t *npending,
    int *missing_table)
{
	PGresult *res;
	const struct migrate_file **out;
	size_t i;
	int j, found;

	*pending = NULL;
	*npending = 0;
	*missing_table = 0;
	res = db_query(conn, "schema_migrations",
	    "SELECT to_regclass('schema_migrations') IS NULL", 0, NULL);
	if (res == NULL)
		return -1;
	*missing_table = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if ((out = calloc(list->n + 1, sizeof(*out))) == NULL) {
		ctl_warn("schema_migrations: calloc");
		return -1;
	}
	if (*missing_table) {
		for (i = 0; i < list->n; i++)
			out[i] = &list->files[i];
		*pending = out;
		*npending = list->n;
		return 0;
	}
	res = db_query(conn, "schema_migrations",
	    "SELECT version FROM schema_migrations ORDER BY version", 0, NULL);
	if (res == NULL) {
		free(out);
		return -1;
	}
	for (i = 0; i < list->n; i++) {
		found = 0;
		for (j = 0; j < PQntuples(res) && !found; j++)
			found = strcmp(PQgetvalue(res, j, 0),
			    list->files[i].version) == 0;
		if (!found)
			out[(*npending)++] = &list->files[i];
	}
	PQclear(res);
	*pending = out;
	return 0;
}

static char *
migrate_read(const char *dir, const char *name)
{
	char path[4096];
	FILE *fp;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "r")) == NULL) {
		ctl_warn("migrate %s", path);
		return NULL;
	}
	if (fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) < 0 ||
	    fseek(fp, 0, SEEK_SET) != 0) {
		ctl_warn("migrate %s", path);
		fclose(fp);
		return NULL;
	}
	if ((buf = malloc((size_t)n + 1)) == NULL ||
	    fread(buf, 1, (size_t)n, fp) != (size_t)n) {
		ctl_warn("migrate %s: read", path);
		free(buf);
		fclose(fp);
		return NULL;
	}
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

/* One file, one transaction: its statements and its schema_migrations row. */
static int
migrate_apply(PGconn *conn, const char *dir, const struct migrate_file *f)
{
	const char *params[1] = { f->version };
	char what[300];
	struct timespec t0, t1;
	PGresult *res;
	char *sql;

	snprintf(what, sizeof(what), "migrate %s", f->name);
	if ((sql = migrate_read(dir, f->name)) == NULL)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (db_exec(conn, what, "BEGIN") != 0)
		goto fail;
	res = PQexec(conn, sql);
	if (res == NULL || (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK &&
	    PQresultStatus(res) != PGRES_EMPTY_QUERY)) {
		db_report(conn, what, res, sql);
		PQclear(res);
		goto rollback;
	}
	PQclear(res);
	if (PQtransactionStatus(conn) != PQTRANS_INTRANS) {
		ctl_warnx("%s: the file ended the transaction itself (BEGIN, "
		    "COMMIT or ROLLBACK): not recorded", what);
		goto rollback;
	}
	if (db_exec_params(conn, what, "INSERT INTO schema_migrations "
	    "(version, applied_at) VALUES ($1, now())", 1, params) != 0)
		goto rollback;
	if (db_exec(conn, what, "COMMIT") != 0)
		goto fail;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("applied %s (%.0f ms)\n", f->name,
	    (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	fflush(stdout);
	free(sql);
	return 0;
rollback:
	PQclear(PQexec(conn, "ROLLBACK"));
fail:
	free(sql);
	return -1;
}

int
migrate_main(PGconn *conn, const char *dir)
{
	struct migrate_list list;
	const struct migrate_file **pending = NULL;
	size_t npending, i;
	int missing, rc = CTL_RUNTIME;

	if (migrate_list(dir, &list) != 0)
		return CTL_USAGE;
	if (list.n == 0) {
		ctl_warnx("migrate: no NNN_name.sql files in %s", dir);
		migrate_list_free(&list);
		return CTL_USAGE;
	}
	if (db_exec(conn, "migrate: set client_min_messages",
	    "SET client_min_messages = warning") != 0)
		goto out;
	/* held until the session ends: concurrent runs wait here */
	if (db_exec(conn, "migrate: pg_advisory_lock",
	    "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")") != 0)
		goto out;
	if (db_exec(conn, "migrate: create schema_migrations",
	    migrate_table_sql) != 0)
		goto out;
	if (migrate_pending(conn, &list, &pending, &npending, &missing) != 0)
		goto out;
	for (i = 0; i < npending; i++)
		if (migrate_apply(conn, dir, pending[i]) != 0)
			goto out;
	if (npending == 0)
		printf("nothing to apply: all %zu migrations are applied\n",
		    list.n);
	else
		printf("%zu applied, %zu already applied before\n", npending,
		    list.n - npending);
	rc = CTL_OK;
out:
	free(pending);
	migrate_list_free(&list);
	PQclear(PQexec(conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY
	    ")"));
	return rc;
}
