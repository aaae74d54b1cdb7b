/*
 * check.h: placesctl check.
 */
#ifndef PLACESD_CTL_CHECK_H
#define PLACESD_CTL_CHECK_H

#include <libpq-fe.h>

/* placesctl check [--dir DIR] */
int check_main(PGconn *conn, const char *dir);

#endif
