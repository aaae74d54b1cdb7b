/*
 * hours.h: opening hours from their JSON form in the database,
 * {"mon":[["09:00","23:00"]],"tue":[],...}, into a snap_hours. Pure: the
 * loader uses it, and it is unit-tested alone.
 */
#ifndef PLACESD_HOURS_H
#define PLACESD_HOURS_H

#include "ranker/snapshot.h"

#include <stddef.h>

/*
 * Parses json (NUL-terminated). A missing day or [] is closed; "24:00"
 * closes at midnight; a close at or before the open runs past midnight
 * (["18:00","02:00"] is [1080, 1560)). Returns 0, or -1 with a short
 * reason in err for anything else: bad JSON, an unknown day, a bad time,
 * more than SNAP_MAX_INTERVALS intervals in a day.
 */
int hours_parse(const char *json, struct snap_hours *out, char *err,
    size_t errlen);

#endif
