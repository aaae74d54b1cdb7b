/*
 * db.c: the blocking libpq layer of placesctl. placesctl is an admin tool
 * that does one thing at a time, so plain PQexec is right here (the
 * daemon's workers never block; see worker/). Errors are reported with the
 * server's own words: severity, message, detail, hint, and for a migration
 * file the line the error points at.
 */
#include "ctl/db.h"
#include "ctl/ctl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DB_COPY_CHUNK (1024 * 1024)

/* Server notices (e.g. from a migration) go to stderr, one line each. */
static void
db_notice(void *arg, const char *msg)
{
	size_t n = strlen(msg);

	while (n > 0 && msg[n - 1] == '\n')
		n--;
	fprintf(stderr, "placesctl: %.*s\n", (int)n, msg);
}

int
db_check_conninfo(const char *conninfo)
{
	PQconninfoOption *opts;
	char *err = NULL;
	size_t n;

	if ((opts = PQconninfoParse(conninfo, &err)) != NULL) {
		PQconninfoFree(opts);
		return 0;
	}
	if (err == NULL) {
		ctl_warnx("database.conninfo: out of memory");
		return -1;
	}
	n = strlen(err);
	while (n > 0 && err[n - 1] == '\n')
		n--;
	ctl_warnx("database.conninfo: %.*s", (int)n, err);
	PQfreemem(err);
	return -1;
}

PGconn *
db_connect(const char *conninfo)
{
	const char *keys[] = { "dbname", "fallback_application_name", NULL };
	const char *vals[] = { conninfo, "placesctl", NULL };
	PGconn *conn;
	const char *msg;
	size_t n;

	conn = PQconnectdbParams(keys, vals, 1);
	if (conn == NULL) {
		ctl_warnx("connect: out of memory");
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		msg = PQerrorMessage(conn);
		n = strlen(msg);
		while (n > 0 && msg[n - 1] == '\n')
			n--;
		ctl_warnx("connect: %.*s", (int)n, msg);
		PQfinish(conn);
		return NULL;
	}
	PQsetNoticeProcessor(conn, db_notice, NULL);
	return conn;
}

/* Line number (1-based) of a 1-based character position in sql. */
static int
db_line_of(const char *sql, long pos)
{
	const unsigned char *p = (const unsigned char *)sql;
	long chars = 0;
	int line = 1;

	for (; *p != '\0'; p++) {
		if ((*p & 0xc0) == 0x80)
			continue;       /* UTF-8 continuation: not a character */
		if (++chars >= pos)
			break;
		if (*p == '\n')
			line++;
	}
	return line;
}

void
db_report(PGconn *conn, const char *what, const PGresult *res,
    const char *sql)
{
	const char *sev, *msg, *detail, *hint, *pos;
	const char *cmsg;
	size_t n;

	if (res == NULL || (msg = PQresultErrorField(res,
	    PG_DIAG_MESSAGE_PRIMARY)) == NULL) {
		cmsg = res != NULL && *PQresultErrorMessage(res) != '\0' ?
		    PQresultErrorMessage(res) : PQerrorMessage(conn);
		n = strlen(cmsg);
		while (n > 0 && cmsg[n - 1] == '\n')
			n--;
		ctl_warnx("%s: %.*s", what, (int)n,
		    n > 0 ? cmsg : "unknown error");
		return;
	}
	if ((sev = PQresultErrorField(res, PG_DIAG_SEVERITY)) == NULL)
		sev = "ERROR";
	pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
	if (sql != NULL && pos != NULL)
		ctl_warnx("%s: %s: %s (line %d)", what, sev, msg,
		    db_line_of(sql, strtol(pos, NULL, 10)));
	else
		ctl_warnx("%s: %s: %s", what, sev, msg);
	if ((detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL)) != NULL)
		fprintf(stderr, "placesctl: DETAIL: %s\n", detail);
	if ((hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT)) != NULL)
		fprintf(stderr, "placesctl: HINT: %s\n", hint);
}

int
db_exec_params(PGconn *conn, const char *what, const char *sql,
    int nparams, const char *const *params)
{
	PGresult *res;
	int rc = 0;

	if (nparams == 0)
		res = PQexec(conn, sql);
	else
		res = PQexecParams(conn, sql, nparams, NULL, params, NULL,
		    NULL, 0);
	if (res == NULL || (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)) {
		db_report(conn, what, res, NULL);
		rc = -1;
	}
	PQclear(res);
	return rc;
}

int
db_exec(PGconn *conn, const char *what, const char *sql)
{
	return db_exec_params(conn, what, sql, 0, NULL);
}

PGresult *
db_query(PGconn *conn, const char *what, const char *sql, int nparams,
    const char *const *params)
{
	PGresult *res;

	res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_report(conn, what, res, NULL);
		PQclear(res);
		return NULL;
	}
	return res;
}

int
db_query_int(PGconn *conn, const char *what, const char *sql, int64_t *out)
{
	PGresult *res;

	if ((res = db_query(conn, what, sql, 0, NULL)) == NULL)
		return -1;
	if (PQntuples(res) < 1 || PQgetisnull(res, 0, 0)) {
		ctl_warnx("%s: no value", what);
		PQclear(res);
		return -1;
	}
	*out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

/* ---- COPY ---------------------------------------------------------- */

int
db_copy_begin(struct db_copy *c, PGconn *conn, const char *what,
    const char *sql)
{
	PGresult *res;

	memset(c, 0, sizeof(*c));
	c->conn = conn;
	c->what = what;
	c->cap = DB_COPY_CHUNK + 64 * 1024;
	if ((c->buf = malloc(c->cap)) == NULL) {
		ctl_warn("%s: malloc", what);
		return -1;
	}
	res = PQexec(conn, sql);
	if (res == NULL || PQresultStatus(res) != PGRES_COPY_IN) {
		db_report(conn, what, res, NULL);
		PQclear(res);
		free(c->buf);
		c->buf = NULL;
		return -1;
	}
	PQclear(res);
	return 0;
}

static void
db_copy_reserve(struct db_copy *c, size_t n)
{
	char *nb;
	size_t ncap;

	if (c->len + n <= c->cap)
		return;
	for (ncap = c->cap * 2; ncap < c->len + n; ncap *= 2)
		;
	if ((nb = realloc(c->buf, ncap)) == NULL) {
		ctl_warn("%s: realloc", c->what);
		abort();        /* an admin tool out of memory: nothing to save */
	}
	c->buf = nb;
	c->cap = ncap;
}

void
db_copy_raw(struct db_copy *c, const char *s, size_t n)
{
	db_copy_reserve(c, n);
	memcpy(c->buf + c->len, s, n);
	c->len += n;
}

void
db_copy_text(struct db_copy *c, const char *s)
{
	size_t n = strlen(s);
	char *o;

	db_copy_reserve(c, 2 * n);
	o = c->buf + c->len;
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '\\':
			*o++ = '\\';
			*o++ = '\\';
			break;
		case '\t':
			*o++ = '\\';
			*o++ = 't';
			break;
		case '\n':
			*o++ = '\\';
			*o++ = 'n';
			break;
		case '\r':
			*o++ = '\\';
			*o++ = 'r';
			break;
		default:
			*o++ = *s;
		}
	}
	c->len = (size_t)(o - c->buf);
}

void
db_copy_printf(struct db_copy *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	db_copy_reserve(c, 256);
	va_start(ap, fmt);
	n = vsnprintf(c->buf + c->len, c->cap - c->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= c->cap - c->len) {
		db_copy_reserve(c, (size_t)n + 1);
		va_start(ap, fmt);
		vsnprintf(c->buf + c->len, c->cap - c->len, fmt, ap);
		va_end(ap);
	}
	c->len += (size_t)n;
}

void
db_copy_null(struct db_copy *c)
{
	db_copy_raw(c, "\\N", 2);
}

void
db_copy_tab(struct db_copy *c)
{
	db_copy_raw(c, "\t", 1);
}

static int
db_copy_flush(struct db_copy *c)
{
	if (c->len == 0 || c->failed)
		return c->failed ? -1 : 0;
	if (PQputCopyData(c->conn, c->buf, (int)c->len) != 1) {
		db_report(c->conn, c->what, NULL, NULL);
		c->failed = 1;
		return -1;
	}
	c->len = 0;
	return 0;
}

void
db_copy_eol(struct db_copy *c)
{
	db_copy_raw(c, "\n", 1);
	c->rows++;
	if (c->len >= DB_COPY_CHUNK)
		db_copy_flush(c);
}

int
db_copy_end(struct db_copy *c)
{
	PGresult *res;
	int rc = 0;

	db_copy_flush(c);
	if (PQputCopyEnd(c->conn, c->failed ? "placesctl gave up" : NULL)
	    != 1) {
		db_report(c->conn, c->what, NULL, NULL);
		rc = -1;
	}
	/* the result of the COPY, then NULL */
	while ((res = PQgetResult(c->conn)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			if (!c->failed)
				db_report(c->conn, c->what, res, NULL);
			rc = -1;
		}
		PQclear(res);
	}
	free(c->buf);
	c->buf = NULL;
	return c->failed ? -1 : rc;
}
