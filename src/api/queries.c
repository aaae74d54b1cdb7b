/*
 * queries.c: every SQL statement the API runs, prepared once on each of a
 * worker's database connections. Values are always parameters; the JSON
 * of a resource is built by PostgreSQL (json_build_object), which gets
 * UTF-8, numbers and nulls right and spares the worker a re-encoding;
 * the columns a statement marks json_cols arrive with the spaces
 * PostgreSQL puts in them taken out (pg.h), so that every answer is
 * compact.
 */
#include "api/api.h"
#include "runtime/offer_sql.h"

#define PLACE_FIELDS \
	"'id', p.id, 'city', p.city_id, 'name', p.name, " \
	"'categories', p.categories, 'cuisines', p.cuisines, 'lat', p.lat, " \
	"'lon', p.lon, 'rating', p.rating, 'price_level', p.price_level, " \
	"'address', p.address, 'description', p.description, " \
	"'hours', p.hours"
#define PLACE_JSON "json_build_object(" PLACE_FIELDS ")"

#define UTC(col) \
	"to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* a city's page of places (STMT_CITY_PLACES says its parameters): the
 * read model's statement shares the text */
#define CITY_PLACES_FROM \
	"LEFT JOIN LATERAL (SELECT " PLACE_JSON "::text AS j, p.rating, " \
	"p.id FROM places p WHERE p.city_id = c.id " \
	"AND ($2::text[] IS NULL OR p.categories && $2::text[]) " \
	"AND ($3::text[] IS NULL OR p.cuisines && $3::text[]) " \
	"AND ($4::numeric IS NULL OR p.rating >= $4::numeric) " \
	"AND ($5::int IS NULL OR p.price_level <= $5::int) " \
	"AND ($7::bigint IS NULL OR CASE WHEN $6::numeric IS NULL " \
	"THEN p.rating IS NULL AND p.id > $7::bigint " \
	"ELSE p.rating < $6::numeric OR (p.rating = $6::numeric AND " \
	"p.id > $7::bigint) OR p.rating IS NULL END) " \
	"ORDER BY p.rating DESC NULLS LAST, p.id LIMIT $8::int) p ON true " \
	"WHERE c.id = $1 ORDER BY p.rating DESC NULLS LAST, p.id"

/* the number of a city's places that match the filters of a page ($2 to
 * $5 as above), whatever the page: each row of a page has it */
#define CITY_PLACES_COUNT \
	"CROSS JOIN LATERAL (SELECT count(*) AS n FROM places p " \
	"WHERE p.city_id = c.id " \
	"AND ($2::text[] IS NULL OR p.categories && $2::text[]) " \
	"AND ($3::text[] IS NULL OR p.cuisines && $3::text[]) " \
	"AND ($4::numeric IS NULL OR p.rating >= $4::numeric) " \
	"AND ($5::int IS NULL OR p.price_level <= $5::int)) t "

/* the digest's places: the read model's statements share the same text */
#define DIGEST_PLACES_COLS \
	"coalesce(json_agg(p.j ORDER BY p.rating DESC NULLS LAST, " \
	"p.id), '[]')::text, coalesce(array_agg(p.id), '{}')::text"
#define DIGEST_PLACES_FROM \
	"FROM cities c LEFT JOIN LATERAL (SELECT " PLACE_JSON " AS j, " \
	"p.rating, p.id FROM places p WHERE p.city_id = c.id " \
	"AND ($2::text[] IS NULL OR p.categories && $2::text[]) " \
	"ORDER BY p.rating DESC NULLS LAST, p.id LIMIT $3::int) p ON true " \
	"WHERE c.id = $1 GROUP BY c.id"

/* the digest's offers, likewise */
#define DIGEST_OFFERS_COL \
	"coalesce(json_agg(json_build_object('id', o.id, " \
	"'place_id', o.place_id, 'city', p.city_id, 'title', o.title, " \
	"'description', o.description, 'discount_pct', o.discount_pct, " \
	"'starts_at', " UTC("o.starts_at") ", 'ends_at', " \
	UTC("o.ends_at") ", 'created_at', " UTC("o.created_at") ") " \
	"ORDER BY o.id), '[]')::text"
#define DIGEST_OFFERS_FROM \
	"FROM offers o JOIN places p ON " \
	"p.id = o.place_id WHERE o.place_id = ANY($1::bigint[]) " \
	"AND o.starts_at <= now() AND o.ends_at > now()"

/* a place with its menu and active offers: GET /v1/places/{id} */
#define PLACE_FULL_JSON \
	"json_build_object(" PLACE_FIELDS ", 'menu', coalesce((" \
	"SELECT json_agg(json_build_object('id', m.id, 'place_id', " \
	"m.place_id, 'name', m.name, 'price_cents', m.price_cents, " \
	"'currency', m.currency) ORDER BY m.id) FROM menu_items m " \
	"WHERE m.place_id = p.id), '[]'), 'offers', coalesce((SELECT " \
	"json_agg(json_build_object('id', o.id, 'place_id', o.place_id, " \
	"'city', p.city_id, 'title', o.title, 'description', " \
	"o.description, 'discount_pct', o.discount_pct, 'starts_at', " \
	UTC("o.starts_at") ", 'ends_at', " UTC("o.ends_at") ", " \
	"'created_at', " UTC("o.created_at") ") ORDER BY o.id) " \
	"FROM offers o WHERE o.place_id = p.id AND o.starts_at <= now() " \
	"AND o.ends_at > now()), '[]'))"

const struct pg_statement api_statements[API_NSTMTS] = {
	[STMT_CITIES] = { "cities",
	    "SELECT coalesce(json_agg(json_build_object('id', c.id, "
	    "'name', c.name, 'lat', c.lat, 'lon', c.lon, 'places', "
	    "(SELECT count(*) FROM places p WHERE p.city_id = c.id)) "
	    "ORDER BY c.name, c.id), '[]')::text FROM cities c",
	    0, false, PG_JSON_COL(0) },

	/* $1 city, $2 categories, $3 cuisines, $4 min_rating, $5 max_price,
	 * $6 cursor rating (NULL: the cursor row had none), $7 cursor id
	 * (NULL: first page), $8 rows to fetch. No row: no such city; one
	 * row of NULLs but the total: a city without matching places on
	 * this page. The fourth column is the total matching. */
	[STMT_CITY_PLACES] = { "city_places",
	    "SELECT p.j, p.rating::text, p.id::text, t.n::text FROM cities c "
	    CITY_PLACES_COUNT CITY_PLACES_FROM, 8, false, PG_JSON_COL(0) },

	/* the same for the read model, and in the first row's fifth column
	 * every place id of the city (so that a place's NOTIFY finds the
	 * city it changes);
	 * the window sorts as the ORDER BY does, so the rows are sorted once */
	[STMT_RM_CITY_PLACES] = { "rm_city_places",
	    "SELECT p.j, p.rating::text, p.id::text, t.n::text, CASE WHEN "
	    "row_number() OVER (ORDER BY p.rating DESC NULLS LAST, p.id) = 1 "
	    "THEN a.ids END FROM cities c "
	    "CROSS JOIN LATERAL (SELECT coalesce(array_agg(a.id), "
	    "'{}')::text AS ids FROM places a WHERE a.city_id = c.id) a "
	    CITY_PLACES_COUNT CITY_PLACES_FROM, 8, false, PG_JSON_COL(0) },

	/* the ranker's picks, in any order: the handler puts them in its */
	[STMT_PLACES_BY_ID] = { "places_by_id",
	    "SELECT p.id::text, " PLACE_JSON "::text FROM places p "
	    "WHERE p.id = ANY($1::bigint[])", 1, false, PG_JSON_COL(1) },

	/* distance only, while the ranker is away: $1 lat, $2 lon, $3 radius
	 * in m, $4 categories, $5 cuisines, $6 min_price, $7 max_price,
	 * $8 min_rating, $9 offset, $10 limit. The JSON is built for the
	 * page only, after the sort: building it for every place of the
	 * bounding box cost 3x the whole query in a dense city. Every row
	 * has the number of places matching; an empty page is one row with
	 * a NULL place. */
	[STMT_NEARBY_DEGRADED] = { "nearby_degraded",
	    "WITH b AS (SELECT id, d FROM "
	    "(SELECT p.id, 2 * 6371008.8 * asin(sqrt(power(sin(radians(p.lat - $1::float8) "
	    "/ 2), 2) + cos(radians($1::float8)) * cos(radians(p.lat)) * "
	    "power(sin(radians(p.lon - $2::float8) / 2), 2))) AS d "
	    "FROM places p WHERE p.lat BETWEEN $1::float8 - $3::float8 / "
	    "111000.0 AND $1::float8 + $3::float8 / 111000.0 "
	    "AND p.lon BETWEEN $2::float8 - $3::float8 / (111000.0 * "
	    "greatest(cos(radians($1::float8)), 0.01)) AND $2::float8 + "
	    "$3::float8 / (111000.0 * greatest(cos(radians($1::float8)), "
	    "0.01)) "
	    "AND ($4::text[] IS NULL OR p.categories && $4::text[]) "
	    "AND ($5::text[] IS NULL OR p.cuisines && $5::text[]) "
	    "AND ($6::int IS NULL OR p.price_level >= $6::int) "
	    "AND ($7::int IS NULL OR p.price_level <= $7::int) "
	    "AND ($8::numeric IS NULL OR p.rating >= $8::numeric)) a "
	    "WHERE d <= $3::float8) "
	    "SELECT CASE WHEN p.id IS NOT NULL THEN " PLACE_JSON "::text END, "
	    "x.d, c.n FROM (SELECT count(*) AS n FROM b) c "
	    "LEFT JOIN LATERAL (SELECT id, d FROM b ORDER BY d, id "
	    "OFFSET $9::int LIMIT $10::int) x ON true "
	    "LEFT JOIN places p ON p.id = x.id ORDER BY x.d, x.id",
	    10, false, PG_JSON_COL(0) },

	/* the digest: $1 city, $2 categories (NULL: any), $3 limit. No row:
	 * no such city; else the places (a JSON array, best rated first)
	 * and their ids (a bigint[] literal for the next two) */
	[STMT_DIGEST_PLACES] = { "digest_places",
	    "SELECT " DIGEST_PLACES_COLS " " DIGEST_PLACES_FROM,
	    3, false, PG_JSON_COL(0) },

	/* the same for the read model, and every place id of the city (so
	 * that a place's NOTIFY finds the city it changes) */
	[STMT_RM_PLACES] = { "rm_places",
	    "SELECT " DIGEST_PLACES_COLS ", (SELECT coalesce(array_agg(a.id), "
	    "'{}') FROM places a WHERE a.city_id = c.id)::text "
	    DIGEST_PLACES_FROM, 3, false, PG_JSON_COL(0) },

	/* $1 place ids: their menu items, by place and id */
	[STMT_DIGEST_MENU] = { "digest_menu",
	    "SELECT coalesce(json_agg(json_build_object('id', m.id, "
	    "'place_id', m.place_id, 'name', m.name, 'price_cents', "
	    "m.price_cents, 'currency', m.currency) ORDER BY m.place_id, m.id), "
	    "'[]')::text FROM menu_items m WHERE m.place_id = ANY($1::bigint[])",
	    1, false, PG_JSON_COL(0) },

	/* $1 place ids, those the digest's events name: each with its city
	 * and its Place object, in any order */
	[STMT_DIGEST_VENUES] = { "digest_venues",
	    "SELECT p.id::text, p.city_id, " PLACE_JSON "::text FROM places p "
	    "WHERE p.id = ANY($1::bigint[])", 1, false, PG_JSON_COL(2) },

	/* the same for the read model, $2 the digest's city: a row with a
	 * NULL place when none is found, and in the first row's fourth
	 * column every place id of the city (so that a place's NOTIFY finds
	 * the city whose venues it changes) */
	[STMT_RM_VENUES] = { "rm_venues",
	    "SELECT v.id::text, v.city_id, v.j::text, CASE WHEN row_number() "
	    "OVER (ORDER BY v.id) = 1 THEN c.ids END FROM (SELECT "
	    "coalesce(array_agg(a.id), '{}')::text AS ids FROM places a "
	    "WHERE a.city_id = $2) c LEFT JOIN LATERAL (SELECT p.id, "
	    "p.city_id, " PLACE_JSON " AS j FROM places p WHERE "
	    "p.id = ANY($1::bigint[])) v ON true ORDER BY v.id", 2, false,
	    PG_JSON_COL(2) },

	/* $1 place ids: their active offers, by id */
	[STMT_DIGEST_OFFERS] = { "digest_offers",
	    "SELECT " DIGEST_OFFERS_COL " " DIGEST_OFFERS_FROM,
	    1, false, PG_JSON_COL(0) },

	/* the same for the read model, and when it stops being true: the
	 * first end of an active offer or start of a future one of these
	 * places, in ms since the epoch (NULL: none) */
	[STMT_RM_OFFERS] = { "rm_offers",
	    "SELECT " DIGEST_OFFERS_COL ", (SELECT (extract(epoch FROM "
	    "min(CASE WHEN x.starts_at > now() THEN x.starts_at ELSE "
	    "x.ends_at END)) * 1000)::bigint FROM offers x WHERE "
	    "x.place_id = ANY($1::bigint[]) AND x.ends_at > now())::text "
	    DIGEST_OFFERS_FROM, 1, false, PG_JSON_COL(0) },

	/* $1 place, $2 title, $3 description, $4 discount, $5 starts_at,
	 * $6 ends_at: the stored offer's JSON, NULL for an unknown place */
	[STMT_PUBLISH_OFFER] = { "publish_offer",
	    "SELECT placesd_publish_offer($1::bigint, $2::text, $3::text, "
	    "$4::int, $5::timestamptz, $6::timestamptz)",
	    6, true, PG_JSON_COL(0) },

	/* active offers: $1 city, $2 place, $3 since id (each NULL: any),
	 * $4 limit; by id. No row: no such city */
	[STMT_OFFERS_ACTIVE] = { "offers_active",
	    "SELECT coalesce(json_agg(x.j ORDER BY x.id), '[]')::text FROM "
	    "(SELECT o.id, " OFFER_SQL_JSON " AS j FROM offers o JOIN places p "
	    "ON p.id = o.place_id WHERE o.starts_at <= now() AND "
	    "o.ends_at > now() AND ($1::text IS NULL OR p.city_id = $1) AND "
	    "($2::bigint IS NULL OR o.place_id = $2::bigint) AND "
	    "($3::bigint IS NULL OR o.id > $3::bigint) ORDER BY o.id "
	    "LIMIT $4::int) x HAVING $1::text IS NULL OR EXISTS (SELECT 1 "
	    "FROM cities c WHERE c.id = $1)", 4, true, PG_JSON_COL(0) },

	/* $1 a city id: a row if it is one */
	[STMT_CITY] = { "city",
	    "SELECT c.id FROM cities c WHERE c.id = $1", 1, false, 0 },

	/* one offer, $1 its id, whatever its dates; no row: no such offer */
	[STMT_OFFER] = { "offer",
	    "SELECT " OFFER_SQL_JSON "::text FROM offers o JOIN places p "
	    "ON p.id = o.place_id WHERE o.id = $1::bigint", 1, true,
	    PG_JSON_COL(0) },

	/* the stream's replay: offers with $1 < id <= $2 in city $3 (NULL:
	 * any), by id, a page at a time */
	[STMT_OFFERS_SINCE] = { "offers_since",
	    "SELECT o.id, " OFFER_SQL_JSON "::text FROM offers o JOIN places p "
	    "ON p.id = o.place_id WHERE o.id > $1::bigint AND "
	    "o.id <= $2::bigint AND ($3::text IS NULL OR p.city_id = $3) "
	    "ORDER BY o.id LIMIT 500", 3, true, PG_JSON_COL(1) },

	[STMT_PLACE] = { "place",
	    "SELECT " PLACE_FULL_JSON "::text FROM places p "
	    "WHERE p.id = $1::bigint", 1, false, PG_JSON_COL(0) },

	/* the same for the read model, and when it stops being true: the
	 * first end of an active offer or start of a future one of the
	 * place, in ms since the epoch (NULL: none) */
	[STMT_RM_PLACE] = { "rm_place",
	    "SELECT " PLACE_FULL_JSON "::text, (SELECT (extract(epoch FROM "
	    "min(CASE WHEN x.starts_at > now() THEN x.starts_at ELSE "
	    "x.ends_at END)) * 1000)::bigint FROM offers x WHERE "
	    "x.place_id = p.id AND x.ends_at > now())::text FROM places p "
	    "WHERE p.id = $1::bigint", 1, false, PG_JSON_COL(0) },
};
