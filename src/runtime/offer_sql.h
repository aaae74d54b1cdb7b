/*
 * offer_sql.h: the SQL that builds the JSON of an Offer (docs/api.md,
 * "Objects"), shared by the API's statements and the worker's offer feed,
 * so that an offer reads the same whether listed, replayed or pushed live.
 * It lives beside the feed, its lowest user; the API includes it from
 * above. o is offers, p the offer's place.
 */
#ifndef PLACESD_OFFER_SQL_H
#define PLACESD_OFFER_SQL_H

#define OFFER_SQL_UTC(col) \
	"to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

#define OFFER_SQL_JSON \
	"json_build_object('id', o.id, 'place_id', o.place_id, 'city', " \
	"p.city_id, 'title', o.title, 'description', o.description, " \
	"'discount_pct', o.discount_pct, 'starts_at', " \
	OFFER_SQL_UTC("o.starts_at") ", 'ends_at', " \
	OFFER_SQL_UTC("o.ends_at") ", 'created_at', " \
	OFFER_SQL_UTC("o.created_at") ")"

#endif
