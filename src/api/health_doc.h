/*
 * health_doc.h: the JSON of /healthz and /readyz (docs/api.md), without
 * the worker or the request, so that a unit test can read the bytes
 * (tests/unit/test_json).
 */
#ifndef PLACESD_API_HEALTH_DOC_H
#define PLACESD_API_HEALTH_DOC_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* {"status":"ok","worker":S,"generation":G} in buf, NUL-terminated: its
 * length, or 0 when it does not fit in cap. */
size_t api_healthz_text(unsigned slot, unsigned gen, char *buf, size_t cap);

/* {"status":"ready"} when both are up, else the 503 body naming what is
 * missing; NULL when it cannot be built. */
json_t *api_readyz_doc(bool db_up, bool ranker_up);

#endif
