/*
 * hours.c: opening hours JSON -> struct snap_hours (see hours.h), with
 * jansson and strict types; and when hours next open or close.
 */
#include "ranker/hours.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

static const char *const hours_days[SNAP_DAYS] = {
	"mon", "tue", "wed", "thu", "fri", "sat", "sun"
};

static int
hours_day(const char *key)
{
	int d;

	for (d = 0; d < SNAP_DAYS; d++)
		if (strcmp(key, hours_days[d]) == 0)
			return d;
	return -1;
}

/* "HH:MM" -> minutes, 00:00 .. 24:00; -1 when it is not that. */
static int
hours_minute(const json_t *v)
{
	const char *s = json_string_value(v);
	int h, m;

	if (s == NULL || strlen(s) != 5 || s[2] != ':' ||
	    s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' ||
	    s[3] < '0' || s[3] > '5' || s[4] < '0' || s[4] > '9')
		return -1;
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (h > 24 || (h == 24 && m != 0))
		return -1;
	return h * 60 + m;
}

static int
hours_interval(const json_t *pair, struct snap_interval *iv)
{
	int open, close;

	if (!json_is_array(pair) || json_array_size(pair) != 2)
		return -1;
	open = hours_minute(json_array_get(pair, 0));
	close = hours_minute(json_array_get(pair, 1));
	if (open < 0 || close < 0 || open >= SNAP_MIN_PER_DAY)
		return -1;
	if (close <= open)
		close += SNAP_MIN_PER_DAY;      /* past midnight */
	iv->open = (uint16_t)open;
	iv->close = (uint16_t)close;
	return 0;
}

static int
hours_fill_day(struct snap_hours *out, int d, const json_t *list,
    char *err, size_t errlen)
{
	size_t i;

	if (!json_is_array(list)) {
		snprintf(err, errlen, "%s: not a list", hours_days[d]);
		return -1;
	}
	if (json_array_size(list) > SNAP_MAX_INTERVALS) {
		snprintf(err, errlen, "%s: more than %d intervals",
		    hours_days[d], SNAP_MAX_INTERVALS);
		return -1;
	}
	for (i = 0; i < json_array_size(list); i++) {
		if (hours_interval(json_array_get(list, i),
		    &out->iv[d][i]) != 0) {
			snprintf(err, errlen, "%s: bad interval %zu",
			    hours_days[d], i);
			return -1;
		}
	}
	out->n[d] = (uint8_t)i;
	return 0;
}

int
hours_parse(const char *json, struct snap_hours *out, char *err,
    size_t errlen)
{
	json_error_t jerr;
	json_t *root, *list;
	const char *key;
	int d, rc = 0;

	memset(out, 0, sizeof(*out));
	if ((root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		snprintf(err, errlen, "bad JSON: %s", jerr.text);
		return -1;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "not an object");
		json_decref(root);
		return -1;
	}
	json_object_foreach(root, key, list) {
		if ((d = hours_day(key)) < 0) {
			snprintf(err, errlen, "unknown day \"%.8s\"", key);
			rc = -1;
			break;
		}
		if ((rc = hours_fill_day(out, d, list, err, errlen)) != 0)
			break;
	}
	json_decref(root);
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

/* Whether h is open at minute w of the week (0 = monday 00:00). */
static bool
hours_open_week(const struct snap_hours *h, int w)
{
	int d, i, rel;

	for (d = 0; d < SNAP_DAYS; d++) {
		rel = (w - d * SNAP_MIN_PER_DAY + HOURS_WEEK_MIN) %
		    HOURS_WEEK_MIN;
		for (i = 0; i < h->n[d]; i++)
			if (rel >= h->iv[d][i].open && rel < h->iv[d][i].close)
				return true;
	}
	return false;
}

/* The minutes from w to edge (a minute of the week), 1 .. a week. */
static int
hours_ahead(int w, int edge)
{
	int delta = ((edge - w) % HOURS_WEEK_MIN + HOURS_WEEK_MIN) %
	    HOURS_WEEK_MIN;

	return delta == 0 ? HOURS_WEEK_MIN : delta;
}

/*
 * A closed place opens at the nearest opening edge ahead (every interval
 * is open at its start). An open one closes at the nearest closing edge
 * ahead where no other interval holds it open: the edges are taken in
 * order until one is closed, most often the first.
 */
int
hours_next_change(const struct snap_hours *h, int day, int minute,
    bool *open)
{
	int w = day * SNAP_MIN_PER_DAY + minute, best, after = 0, d, i, a;

	*open = hours_open_week(h, w);
	for (;;) {
		best = -1;
		for (d = 0; d < SNAP_DAYS; d++)
			for (i = 0; i < h->n[d]; i++) {
				a = hours_ahead(w, d * SNAP_MIN_PER_DAY +
				    (*open ? h->iv[d][i].close :
				    h->iv[d][i].open));
				if (a > after && (best < 0 || a < best))
					best = a;
			}
		if (best < 0 || !*open ||
		    !hours_open_week(h, (w + best) % HOURS_WEEK_MIN))
			return best;
		after = best;
	}
}
