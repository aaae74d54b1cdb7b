/*
 * hours.h: opening hours from their JSON form in the database,
 * {"mon":[["09:00","23:00"]],"tue":[],...}, into a snap_hours. Pure: the
 * loader uses it, and it is unit-tested alone.
 */
#ifndef PLACESD_HOURS_H
#define PLACESD_HOURS_H

#include "ranker/snapshot.h"

#include <stdbool.h>
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

#define HOURS_WEEK_MIN  (SNAP_DAYS * SNAP_MIN_PER_DAY)

/*
 * Whether h is open at local minute (0..1439) of day (0 = monday), as
 * snap_hours_open() tells, into *open; and in how many minutes that
 * changes, 1 to HOURS_WEEK_MIN, where back-to-back intervals (a day to
 * 24:00 and the next from 00:00) make one span; -1 when it never does:
 * open round the clock all week, or never open.
 */
int hours_next_change(const struct snap_hours *h, int day, int minute,
    bool *open);

#endif
