/*
 * seed.h: placesctl seed.
 */
#ifndef PLACESD_CTL_SEED_H
#define PLACESD_CTL_SEED_H

#include <libpq-fe.h>
#include <stdint.h>

struct seed_opts {
	uint64_t places;
	uint64_t seed;
	int if_empty;           /* keep existing data, do nothing */
	int replace;            /* delete existing data first */
};

/* placesctl seed [--places N] [--seed S] [--if-empty | --replace] */
int seed_main(PGconn *conn, const struct seed_opts *o);

#endif
