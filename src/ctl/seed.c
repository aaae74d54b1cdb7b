/*
 * seed.c: placesctl seed. Loads the generator's cities, places, menu items
 * and offers with COPY, in one transaction: either the whole data set is
 * there or none of it. The NOTIFY triggers are disabled during the load
 * (one trigger call per row would queue a notification per row) and one
 * NOTIFY places_changed 'all' tells every placesd to reload instead.
 *
 * Rows are a function of (--seed, --places) alone, with two exceptions
 * that follow the clock on purpose: places.updated_at is the time of the
 * load, and offers are placed around an anchor, the start of the hour of
 * the load (their created_at), so that some are active whenever the demo
 * runs: active ones started 1 to 240 hours before the anchor and end 7 to
 * 60 days after it, expired ones ended 1 to 30 days before it, future ones
 * start 1 to 14 days after it.
 */
#include "ctl/seed.h"
#include "ctl/ctl.h"
#include "ctl/db.h"
#include "ctl/gen.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* pg_advisory_xact_lock key of placesctl seed: the bytes of "placesds" */
#define SEED_LOCK_KEY "8100956909264397427"

struct seed_stats {
	uint64_t cities;
	uint64_t places;
	uint64_t menu_items;
	uint64_t offers;
	uint64_t offers_active;
	uint64_t offers_expired;
	uint64_t offers_future;
};

static double
seed_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
seed_copy_time(struct db_copy *c, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char buf[40];

	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S+00", &tm);
	db_copy_raw(c, buf, strlen(buf));
}

static int
seed_cities(PGconn *conn, struct seed_stats *st)
{
	const struct gd_city *city;
	struct db_copy c;
	size_t i;

	if (db_copy_begin(&c, conn, "seed: COPY cities", "COPY cities "
	    "(id, name, country, lat, lon, timezone) FROM STDIN") != 0)
		return -1;
	for (i = 0; i < gendata_ncities; i++) {
		city = &gendata_cities[i];
		db_copy_printf(&c, "%s\t", city->id);
		db_copy_text(&c, city->name);
		db_copy_printf(&c, "\t%s\t%.6f\t%.6f\t%s", city->country,
		    city->lat, city->lon, city->timezone);
		db_copy_eol(&c);
	}
	st->cities = c.rows;
	return db_copy_end(&c);
}

static int
seed_places(PGconn *conn, const struct gen *g, uint64_t n,
    struct gen_core *cores, struct seed_stats *st)
{
	struct gen_place p;
	struct db_copy c;
	uint64_t id;

	if (db_copy_begin(&c, conn, "seed: COPY places", "COPY places "
	    "(id, city_id, name, categories, cuisines, lat, lon, rating, "
	    "price_level, address, description, hours) FROM STDIN") != 0)
		return -1;
	for (id = 1; id <= n && !c.failed; id++) {
		gen_place(g, id, &p);
		cores[id - 1] = p.core;
		db_copy_printf(&c, "%" PRIu64 "\t%s\t", id,
		    gendata_cities[p.core.city].id);
		db_copy_text(&c, p.name);
		db_copy_printf(&c, "\t%s\t%s\t%.6f\t%.6f\t", p.categories,
		    p.cuisines, p.lat, p.lon);
		if (p.rating10 < 0)
			db_copy_null(&c);
		else
			db_copy_printf(&c, "%d.%d", p.rating10 / 10,
			    p.rating10 % 10);
		db_copy_tab(&c);
		if (p.core.price_level == 0)
			db_copy_null(&c);
		else
			db_copy_printf(&c, "%d", p.core.price_level);
		db_copy_tab(&c);
		db_copy_text(&c, p.address);
		db_copy_tab(&c);
		db_copy_text(&c, p.description);
		db_copy_tab(&c);
		if (p.hours[0] == '\0')
			db_copy_null(&c);
		else
			db_copy_text(&c, p.hours);
		db_copy_eol(&c);
	}
	st->places = c.rows;
	return db_copy_end(&c);
}

static int
seed_menu(PGconn *conn, const struct gen *g, uint64_t n,
    const struct gen_core *cores, struct seed_stats *st)
{
	struct gen_item items[GEN_MENU_MAX];
	struct db_copy c;
	uint64_t id, item_id = 0;
	size_t i, k;

	if (db_copy_begin(&c, conn, "seed: COPY menu_items", "COPY menu_items "
	    "(id, place_id, name, price_cents, currency) FROM STDIN") != 0)
		return -1;
	for (id = 1; id <= n && !c.failed; id++) {
		k = gen_menu(g, id, &cores[id - 1], items);
		for (i = 0; i < k; i++) {
			db_copy_printf(&c, "%" PRIu64 "\t%" PRIu64 "\t",
			    ++item_id, id);
			db_copy_text(&c, items[i].name);
			db_copy_printf(&c, "\t%" PRId64 "\t%s",
			    items[i].price_cents, items[i].currency);
			db_copy_eol(&c);
		}
	}
	st->menu_items = c.rows;
	return db_copy_end(&c);
}

static int
seed_offers(PGconn *conn, const struct gen *g, uint64_t n,
    const struct gen_core *cores, int64_t anchor, struct seed_stats *st)
{
	struct gen_offer offers[GEN_OFFERS_MAX];
	struct db_copy c;
	uint64_t id, offer_id = 0;
	size_t i, k;

	if (db_copy_begin(&c, conn, "seed: COPY offers", "COPY offers "
	    "(id, place_id, title, description, discount_pct, starts_at, "
	    "ends_at, created_at) FROM STDIN") != 0)
		return -1;
	for (id = 1; id <= n && !c.failed; id++) {
		if (cores[id - 1].noffers == 0)
			continue;
		k = gen_offers(g, id, &cores[id - 1], offers);
		for (i = 0; i < k; i++) {
			db_copy_printf(&c, "%" PRIu64 "\t%" PRIu64 "\t",
			    ++offer_id, id);
			db_copy_text(&c, offers[i].title);
			db_copy_tab(&c);
			db_copy_text(&c, offers[i].description);
			db_copy_printf(&c, "\t%d\t", offers[i].discount_pct);
			seed_copy_time(&c, anchor + offers[i].starts);
			db_copy_tab(&c);
			seed_copy_time(&c, anchor + offers[i].ends);
			db_copy_tab(&c);
			seed_copy_time(&c, anchor);
			db_copy_eol(&c);
			if (offers[i].ends <= 0)
				st->offers_expired++;
			else if (offers[i].starts > 0)
				st->offers_future++;
			else
				st->offers_active++;
		}
	}
	st->offers = c.rows;
	return db_copy_end(&c);
}

static const char *const seed_triggers_off[] = {
	"ALTER TABLE places DISABLE TRIGGER USER",
	"ALTER TABLE menu_items DISABLE TRIGGER USER",
	"ALTER TABLE offers DISABLE TRIGGER USER",
	NULL
};

static const char *const seed_finish[] = {
	"ALTER TABLE places ENABLE TRIGGER USER",
	"ALTER TABLE menu_items ENABLE TRIGGER USER",
	"ALTER TABLE offers ENABLE TRIGGER USER",
	"SELECT setval(pg_get_serial_sequence('places', 'id'),"
	" coalesce(max(id), 1), max(id) IS NOT NULL) FROM places",
	"SELECT setval(pg_get_serial_sequence('menu_items', 'id'),"
	" coalesce(max(id), 1), max(id) IS NOT NULL) FROM menu_items",
	"SELECT setval(pg_get_serial_sequence('offers', 'id'),"
	" coalesce(max(id), 1), max(id) IS NOT NULL) FROM offers",
	"NOTIFY places_changed, 'all'",
	NULL
};

static int
seed_exec_all(PGconn *conn, const char *const *sql)
{
	char what[128];

	for (; *sql != NULL; sql++) {
		snprintf(what, sizeof(what), "seed: %.100s", *sql);
		if (db_exec(conn, what, *sql) != 0)
			return -1;
	}
	return 0;
}

/*
 * Inside the transaction, under the seed lock: 1 to load, 0 to stop with
 * success (--if-empty and data present), -1 on error (reported).
 */
static int
seed_prepare(PGconn *conn, const struct seed_opts *o)
{
	PGresult *res;
	long ncities, nplaces;

	res = db_query(conn, "seed: schema", "SELECT to_regclass('cities') IS "
	    "NULL OR to_regclass('places') IS NULL OR to_regclass('menu_items')"
	    " IS NULL OR to_regclass('offers') IS NULL", 0, NULL);
	if (res == NULL)
		return -1;
	if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
		PQclear(res);
		ctl_warnx("seed: the tables do not exist (run placesctl "
		    "migrate first)");
		return -1;
	}
	PQclear(res);
	res = db_query(conn, "seed: count rows", "SELECT (SELECT count(*) "
	    "FROM cities), (SELECT count(*) FROM places)", 0, NULL);
	if (res == NULL)
		return -1;
	ncities = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	nplaces = strtol(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	if (ncities == 0 && nplaces == 0)
		return 1;
	if (o->if_empty) {
		printf("the database already has %ld places in %ld cities: "
		    "nothing done (--if-empty)\n", nplaces, ncities);
		return 0;
	}
	if (!o->replace) {
		ctl_warnx("seed: the database already has %ld places in %ld "
		    "cities; --replace deletes them first, --if-empty keeps "
		    "them", nplaces, ncities);
		return -1;
	}
	printf("deleting %ld places in %ld cities (--replace)\n", nplaces,
	    ncities);
	return db_exec(conn, "seed: TRUNCATE", "TRUNCATE offers, menu_items, "
	    "places, cities RESTART IDENTITY") == 0 ? 1 : -1;
}

int
seed_main(PGconn *conn, const struct seed_opts *o)
{
	struct seed_stats st;
	struct gen g;
	struct gen_core *cores = NULL;
	int64_t anchor;
	double t0, t1, t2;
	int rc;

	memset(&st, 0, sizeof(st));
	if (gen_init(&g, o->seed) != 0) {
		ctl_warnx("seed: the generator's tables are inconsistent");
		return CTL_RUNTIME;
	}
	if (o->places > 0 &&
	    (cores = calloc((size_t)o->places, sizeof(*cores))) == NULL) {
		ctl_warn("seed: %" PRIu64 " places", o->places);
		return CTL_RUNTIME;
	}
	t0 = seed_now();
	if (db_exec(conn, "seed: SET", "SET client_min_messages = warning") != 0
	    || db_exec(conn, "seed: BEGIN", "BEGIN") != 0)
		goto fail;
	/* two seeds at once: the second waits, then finds the data */
	if (db_exec(conn, "seed: pg_advisory_xact_lock",
	    "SELECT pg_advisory_xact_lock(" SEED_LOCK_KEY ")") != 0)
		goto rollback;
	if ((rc = seed_prepare(conn, o)) <= 0) {
		PQclear(PQexec(conn, "ROLLBACK"));
		free(cores);
		return rc == 0 ? CTL_OK : CTL_RUNTIME;
	}
	if (db_query_int(conn, "seed: anchor", "SELECT extract(epoch FROM "
	    "date_trunc('hour', now()))::bigint", &anchor) != 0)
		goto rollback;
	if (seed_exec_all(conn, seed_triggers_off) != 0 ||
	    seed_cities(conn, &st) != 0 ||
	    seed_places(conn, &g, o->places, cores, &st) != 0 ||
	    seed_menu(conn, &g, o->places, cores, &st) != 0 ||
	    seed_offers(conn, &g, o->places, cores, anchor, &st) != 0 ||
	    seed_exec_all(conn, seed_finish) != 0)
		goto rollback;
	if (db_exec(conn, "seed: COMMIT", "COMMIT") != 0)
		goto fail;
	t1 = seed_now();
	/* fresh statistics, so the first queries get good plans */
	if (db_exec(conn, "seed: ANALYZE",
	    "ANALYZE cities, places, menu_items, offers") != 0)
		goto fail;
	t2 = seed_now();
	printf("seed %" PRIu64 ", %" PRIu64 " places:\n", o->seed, o->places);
	printf("  cities: %" PRIu64 "\n", st.cities);
	printf("  places: %" PRIu64 "\n", st.places);
	printf("  menu_items: %" PRIu64 "\n", st.menu_items);
	printf("  offers: %" PRIu64 " (%" PRIu64 " active, %" PRIu64
	    " expired, %" PRIu64 " future)\n", st.offers, st.offers_active,
	    st.offers_expired, st.offers_future);
	printf("loaded in %.2f s (analyze %.2f s)\n", t1 - t0, t2 - t1);
	free(cores);
	return CTL_OK;
rollback:
	PQclear(PQexec(conn, "ROLLBACK"));
fail:
	free(cores);
	return CTL_RUNTIME;
}
