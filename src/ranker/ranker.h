/*
 * ranker.h: the ranker process: accepts workers on the Unix socket the
 * master bound, reads framed requests, runs them on its thread pool and
 * writes the answers back on the connection they came from.
 */
#ifndef PLACESD_RANKER_H
#define PLACESD_RANKER_H

#include "common/child.h"

int ranker_main(const struct child_args *a);

#endif
