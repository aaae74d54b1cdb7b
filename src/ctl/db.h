/*
 * db.h: blocking libpq helpers for placesctl: connect, run statements,
 * report the server's errors, and a buffered COPY FROM STDIN writer.
 */
#ifndef PLACESD_CTL_DB_H
#define PLACESD_CTL_DB_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/* 0 if conninfo is a valid key=value list or URI; -1 reported. */
int db_check_conninfo(const char *conninfo);
/* Connects with a conninfo string (PG* variables fill in the rest). */
PGconn *db_connect(const char *conninfo);

/*
 * Prints "placesctl: what: ERROR: message" (with DETAIL, HINT and, when
 * sql is given, the line of sql the error points at).
 */
void db_report(PGconn *conn, const char *what, const PGresult *res,
    const char *sql);

/* Runs a command; 0 on success, -1 reported. */
int db_exec(PGconn *conn, const char *what, const char *sql);
int db_exec_params(PGconn *conn, const char *what, const char *sql,
    int nparams, const char *const *params);
/* Runs a query; its result (PGRES_TUPLES_OK) or NULL reported. */
PGresult *db_query(PGconn *conn, const char *what, const char *sql,
    int nparams, const char *const *params);
/* The first column of the first row of a query, as int64; -1 on error. */
int db_query_int(PGconn *conn, const char *what, const char *sql,
    int64_t *out);

/* COPY ... FROM STDIN in text format, sent in large chunks. */
struct db_copy {
	PGconn *conn;
	const char *what;
	char *buf;
	size_t len;
	size_t cap;
	uint64_t rows;
	int failed;
};

int db_copy_begin(struct db_copy *c, PGconn *conn, const char *what,
    const char *sql);
/* Appends a text value, escaped for COPY (separators come from below). */
void db_copy_text(struct db_copy *c, const char *s);
void db_copy_raw(struct db_copy *c, const char *s, size_t n);
void db_copy_printf(struct db_copy *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void db_copy_null(struct db_copy *c);
void db_copy_tab(struct db_copy *c);
/* Ends a row; sends the buffer when it is full. */
void db_copy_eol(struct db_copy *c);
/* Sends the rest and ends the COPY; 0, or -1 reported. */
int db_copy_end(struct db_copy *c);

#endif
