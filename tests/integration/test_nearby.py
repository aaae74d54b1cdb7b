#!/usr/bin/python3
"""GET /v1/nearby end to end: the ranker's snapshot of a seeded database,
ranked answers checked against SQL, their total, whether each place is
open now and until when, the cursors (bound to their query, refused when
edited, every one handed out taken back up to the 1000th result), open_at
with seconds, q without a word refused; the ranker killed (degraded
answers at once, full ones again after its respawn) or stopped (degraded
answers with their total), and a place changed in the database ranked with
its new data soon after."""

import base64
import datetime
import json
import math
import os
import signal
import time
import urllib.parse

import placesd_test as T

PG = None
D = None
CITY = None     # (id, lat, lon) of the biggest city


def setup():
    global PG, D, CITY
    T.use_contract()
    PG = T.Postgres()
    PG.start()
    conf = {"database": {"conninfo": PG.conninfo},
            "ranker": {"timeout": "2s", "threads": 2}}
    D = T.Daemon(workers=2, conf=conf, persistent=True)
    T.migrate_and_seed(D, 2000, 11)
    D.start()
    CITY = T.biggest_city(PG)
    # the ranker has its snapshot once an answer is not degraded
    T.wait_until(lambda: not nearby()["degraded"], 60,
                 "a ranked (not degraded) answer")


def nearby(**params):
    q = {"lat": CITY[1], "lon": CITY[2]}
    q.update(params)
    st, _, body = D.get("/v1/nearby?" + urllib.parse.urlencode(q),
                        timeout=20)
    T.check_eq(st, 200, "/v1/nearby?%s: %s" % (q, body[:200]))
    return json.loads(body)


def nearby_400(field, **params):
    """The 400 of a query, which must name field; its message."""
    q = {"lat": CITY[1], "lon": CITY[2]}
    q.update(params)
    st, _, body = D.get("/v1/nearby?" + urllib.parse.urlencode(q),
                        timeout=20)
    T.check_eq(st, 400, "/v1/nearby?%s: %s" % (q, body[:200]))
    err = json.loads(body)["error"]
    T.check_eq((err["code"], err.get("field")), ("invalid_argument", field),
               "/v1/nearby?%s" % q)
    return err["message"]


def haversine(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) *
         math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6371008.8 * math.asin(math.sqrt(a))


def test_shape_and_radius():
    doc = nearby(radius_m=3000, limit=20)
    T.check(doc["results"], "no results near the city centre")
    T.check_eq(set(doc), {"results", "total", "total_exact", "next",
                          "degraded"}, "answer fields")
    T.check_eq(doc["degraded"], False, "degraded")
    for r in doc["results"]:
        p = r["place"]
        T.check(set(r) == {"place", "distance_m", "score", "matched",
                           "is_open_now", "opens_at", "closes_at"},
                "result fields: %r" % sorted(r))
        d = haversine(CITY[1], CITY[2], p["lat"], p["lon"])
        T.check(abs(d - r["distance_m"]) < 5, "distance_m %r vs %r"
                % (r["distance_m"], d))
        T.check(r["distance_m"] <= 3000.5, "outside the radius: %r"
                % r["distance_m"])


def test_no_preferences_nearest_first():
    doc = nearby(radius_m=5000, limit=50)
    d = [r["distance_m"] for r in doc["results"]]
    T.check(d == sorted(d), "not nearest first: %r" % d[:10])


def test_sort_distance_and_rating():
    d = [r["distance_m"] for r in nearby(sort="distance", limit=50,
                                         radius_m=5000)["results"]]
    T.check(d == sorted(d), "sort=distance")
    rs = [r["place"]["rating"] for r in nearby(sort="rating", limit=50,
                                               radius_m=5000)["results"]]
    known = [x for x in rs if x is not None]
    T.check(known == sorted(known, reverse=True), "sort=rating: %r" % rs)
    T.check(rs[:len(known)] == known, "unknown ratings not last: %r" % rs)


def test_filters_are_never_violated():
    doc = nearby(radius_m=8000, limit=100, max_price=2, min_rating=3.5,
                 category="restaurant")
    for r in doc["results"]:
        p = r["place"]
        T.check(p["price_level"] is not None and p["price_level"] <= 2,
                "max_price violated: %r" % p["price_level"])
        T.check(p["rating"] is not None and p["rating"] >= 3.5,
                "min_rating violated: %r" % p["rating"])
        T.check("restaurant" in p["categories"], "category violated")


def test_cuisine_preference_lifts():
    plain = nearby(radius_m=8000, limit=30)["results"]
    pref = nearby(radius_m=8000, limit=30,
                  prefer_cuisine="georgian")["results"]

    def share(rs):
        return sum("georgian" in r["place"]["cuisines"] for r in rs[:10])
    T.check(share(pref) >= share(plain), "georgian places not lifted: "
            "%d vs %d in the top 10" % (share(pref), share(plain)))
    T.check(share(pref) > 0, "no georgian place in the top 10")
    T.check(share(pref) < 10 or all("georgian" in r["place"]["cuisines"]
                                    for r in pref),
            "prefer_cuisine filtered")
    T.check(any("georgian" not in r["place"]["cuisines"] for r in pref),
            "prefer_cuisine left only georgian places: it must not filter")


def test_cuisine_filters():
    """cuisine= is a filter, as on the city lists: every result has one
    of them, ranked or not; with prefer_cuisine the filtered places are
    ordered by the preference too."""
    sql = PG.psql("SELECT count(*) FROM places WHERE city_id = '%s' AND "
                  "cuisines && '{georgian,italian}'" % CITY[0])
    doc = nearby(radius_m=50000, limit=100, cuisine="georgian,italian")
    T.check(doc["results"], "no georgian or italian place")
    for r in doc["results"]:
        T.check({"georgian", "italian"} & set(r["place"]["cuisines"]),
                "cuisine= let %r through" % r["place"]["cuisines"])
    T.check(int(sql[0][0]) >= len(doc["results"]), "more results than "
            "places with those cuisines")
    both = nearby(radius_m=8000, limit=20, cuisine="georgian,italian",
                  prefer_cuisine="italian")["results"]
    ita = [("italian" in r["place"]["cuisines"]) for r in both]
    T.check(all({"georgian", "italian"} & set(r["place"]["cuisines"])
                for r in both), "the filter with a preference")
    T.check(ita and ita[0], "the preferred cuisine first: %r"
            % [r["place"]["cuisines"] for r in both[:5]])
    st, _, body = D.get("/v1/nearby?lat=%s&lon=%s&prefer_cuisine=Bad!"
                        % (CITY[1], CITY[2]))
    T.check_eq(st, 400, "a bad prefer_cuisine: %r" % body[:200])
    T.check_eq(json.loads(body)["error"]["field"], "prefer_cuisine",
               "the field named")


def test_q_matches_cuisines_and_categories():
    """q meets a place's cuisines and categories, not only its words: the
    place of each cuisine nearest the centre is found by q=<cuisine>,
    and says so in matched."""
    cuisines = [r[0] for r in PG.psql(
        "SELECT DISTINCT unnest(cuisines) FROM places WHERE city_id = '%s' "
        "ORDER BY 1" % CITY[0])]
    T.check(cuisines, "no cuisine in %s" % CITY[0])
    for cui in cuisines[:6]:
        pid, lat, lon = PG.psql(
            "SELECT id, lat, lon FROM places WHERE city_id = '%s' AND "
            "'%s' = ANY(cuisines) ORDER BY (lat - %f)^2 + ((lon - %f) * "
            "cos(radians(lat)))^2 LIMIT 1" % (CITY[0], cui, CITY[1],
                                             CITY[2]))[0]
        d = haversine(CITY[1], CITY[2], float(lat), float(lon))
        doc = nearby(radius_m=min(50000, d + 200), limit=100,
                     q=cui.replace("_", " "), sort="distance")
        got = {r["place"]["id"]: r for r in doc["results"]}
        T.check(int(pid) in got, "q=%s does not find place %s (cuisine "
                "%s, %.0f m away)" % (cui, pid, cui, d))
        T.check("cuisine: %s" % cui in got[int(pid)]["matched"],
                "matched of place %s for q=%s: %r"
                % (pid, cui, got[int(pid)]["matched"]))


def test_open_at_respects_hours():
    # Monday 2026-11-30 at 10:00 local time in every city
    doc = nearby(radius_m=8000, limit=100, open_at="2026-11-30T10:00")
    T.check(doc["results"], "nothing open on Monday at 10:00")
    for r in doc["results"]:
        h = r["place"]["hours"]
        T.check(h is not None, "unknown hours passed an open filter")

        def mins(s):
            hh, mm = s.split(":")
            return int(hh) * 60 + int(mm)
        ok = False
        for o, c in h.get("mon") or []:
            o, c = mins(o), mins(c)
            if c <= o:
                c += 1440
            ok = ok or o <= 600 < c
        for o, c in h.get("sun") or []:
            o, c = mins(o), mins(c)
            if c <= o:              # Sunday's hours run into Monday
                ok = ok or 600 < c
        T.check(ok, "closed at Monday 10:00: %r" % h)


def test_q_finds_dishes_on_the_menu():
    want = {int(r[0]) for r in PG.psql(
        "SELECT DISTINCT place_id FROM menu_items WHERE name ILIKE "
        "'%khachapuri%'")}
    T.check(want, "the demo data has khachapuri")
    doc = nearby(q="khachapuri", radius_m=50000, limit=100)
    got = [r for r in doc["results"]]
    T.check(got, "q=khachapuri found nothing")
    for r in got:
        p = r["place"]
        text = (p["name"] + " " + p["description"]).lower()
        T.check(p["id"] in want or "khachapuri" in text,
                "place %d has no khachapuri anywhere" % p["id"])
        T.check(any(m.lower().startswith("menu: ") and "khachapuri" in
                    m.lower() for m in r["matched"]) or
                r["place"]["id"] not in want,
                "matched does not say why: %r" % r["matched"])


def test_paging_returns_each_once():
    seen, after, pages = [], None, 0
    while True:
        params = {"radius_m": 8000, "limit": 25}
        if after:
            params["after"] = after
        doc = nearby(**params)
        pages += 1
        seen += [r["place"]["id"] for r in doc["results"]]
        after = doc["next"]
        if not after or pages > 50:
            break
    T.check_eq(len(seen), len(set(seen)), "a place twice across pages")
    T.check(len(seen) <= 1000, "more than 1000 results")
    T.log("%d results in %d pages" % (len(seen), pages))


def test_bad_parameters():
    for q, field in (("lat=91&lon=0", "lat"), ("lon=0", "lat"),
                     ("lat=0&lon=200", "lon"), ("lat=0&lon=0&radius_m=0",
                                                "radius_m"),
                     ("lat=0&lon=0&radius_m=50001", "radius_m"),
                     ("lat=0&lon=0&sort=fast", "sort"),
                     ("lat=0&lon=0&limit=101", "limit"),
                     ("lat=0&lon=0&open_now=maybe", "open_now"),
                     ("lat=0&lon=0&open_at=2026-02-30T10:00", "open_at"),
                     ("lat=0&lon=0&min_price=3&max_price=2", "min_price"),
                     ("lat=0&lon=0&after=zzz", "after"),
                     # "n1:020", of the text cursors of before
                     ("lat=0&lon=0&after=bjE6MDIw", "after"),
                     ("lat=0&lon=0&q=%FF%FE", "q")):
        st, _, body = D.get("/v1/nearby?" + q)
        T.check_eq(st, 400, q)
        T.check_eq(json.loads(body)["error"].get("field"), field, q)


def places_near(radius, where="true"):
    """(lo, hi): the places within radius - 1 m and radius + 1 m of the
    city centre that pass the SQL condition where."""
    rows = PG.psql("SELECT lat, lon FROM places WHERE %s" % where)
    ds = [haversine(CITY[1], CITY[2], float(la), float(lo))
          for la, lo in rows]
    return (sum(d <= radius - 1 for d in ds), sum(d <= radius + 1 for d in ds))


def check_total(doc, lohi, what, exact=True):
    """An exact total within SQL's count lo..hi; with exact None, a bound
    is taken too: more than the page, and at most hi."""
    if exact is None and doc["total_exact"] is False:
        T.check(len(doc["results"]) < doc["total"] <= lohi[1],
                "%s: bound %d, SQL finds %d to %d"
                % (what, doc["total"], lohi[0], lohi[1]))
        return
    T.check(doc["total_exact"] is True, "%s: total_exact %r"
            % (what, doc["total_exact"]))
    T.check(lohi[0] <= doc["total"] <= lohi[1], "%s: total %d, SQL finds "
            "%d to %d" % (what, doc["total"], lohi[0], lohi[1]))


def walk_nearby(limit, **params):
    """Every page of a question, each cursor handed out sent back (each
    must be taken); the results and the totals of the pages."""
    out, totals, after, pages = [], set(), None, 0
    while True:
        q = dict(params, limit=limit)
        if after:
            q["after"] = after
        doc = nearby(**q)
        pages += 1
        out += doc["results"]
        totals.add((doc["total"], doc["total_exact"]))
        after = doc["next"]
        if not after:
            return out, totals, pages
        T.check_eq(len(doc["results"]), limit, "a page before the last")
        T.check(pages <= 1000, "the walk does not end")


def test_total_against_sql():
    for radius, params, where in (
            (3000, {}, "true"),
            (8000, {"category": "restaurant", "max_price": 2},
             "categories && '{restaurant}' AND price_level <= 2"),
            (5000, {"min_rating": 4}, "rating >= 4")):
        lohi = places_near(radius, where)
        # by rating every place within the radius is looked at: exact;
        # nearest first the count may stop (64 places past the page)
        for sort in ("best", "distance", "rating"):
            doc = nearby(radius_m=radius, limit=3, sort=sort, **params)
            check_total(doc, lohi, "radius %d %r sort %s" % (radius, params,
                                                             sort),
                        True if sort == "rating" else None)
            T.check_eq(doc["next"] is not None, lohi[0] > 3,
                       "a next page when more match")
        # the pages' totals: exact ones are what the walk finds, bounds
        # are below it
        res, totals, _ = walk_nearby(20, radius_m=radius, **params)
        T.check(all(t == len(res) if e else t <= len(res)
                    for t, e in totals), "totals of the pages: %r, %d "
                "results" % (sorted(totals), len(res)))
        T.check(any(e for _, e in totals), "no exact total on any page")
    # with q, what matches q
    res, totals, _ = walk_nearby(50, radius_m=50000, q="khachapuri")
    T.check_eq(totals, {(len(res), True)}, "totals with q")
    doc = nearby(radius_m=3000, cuisine="nosuchcuisine", category="nosuch")
    T.check_eq((doc["results"], doc["total"], doc["total_exact"],
                doc["next"]), ([], 0, True, None), "nothing matches")


def _city_offset_min():
    """The biggest city's offset from UTC now, in minutes, as the ranker
    loads it."""
    return int(PG.psql(
        "SELECT round(EXTRACT(EPOCH FROM (now() AT TIME ZONE c.timezone) - "
        "(now() AT TIME ZONE 'UTC')) / 60)::int FROM cities c "
        "WHERE c.id = '%s'" % CITY[0])[0][0])


def _hhmm(m):
    m %= 1440
    return "%02d:%02d" % (m // 60, m % 60)


def _every_day(o, c):
    return json.dumps({d: [[o, c]] for d in
                       ("mon", "tue", "wed", "thu", "fri", "sat", "sun")})


def test_open_now_and_next_change():
    """Four places near the centre given hours in SQL: open from two hours
    ago to two hours ahead every day (open, closes then), opening in three
    hours (closed, opens then), open round the clock (open, no change),
    unknown (nulls). Times are local, with the city's offset."""
    off = _city_offset_min()
    lm = int((time.time() + off * 60) // 60)    # local minutes, now
    rs = nearby(radius_m=3000, limit=4, sort="distance")["results"]
    T.check_eq(len(rs), 4, "four places near the centre")
    ids = [r["place"]["id"] for r in rs]
    old = {int(r[0]): r[1] for r in PG.psql(
        "SELECT id, coalesce(hours::text, 'null') FROM places WHERE id IN "
        "(%s)" % ",".join(map(str, ids)))}
    hours = [_every_day(_hhmm(lm - 120), _hhmm(lm + 120)),
             _every_day(_hhmm(lm + 180), _hhmm(lm + 300)),
             _every_day("00:00", "24:00"), None]
    want = [(True, None, lm + 120), (False, lm + 180, None),
            (True, None, None), (None, None, None)]
    try:
        for pid, h in zip(ids, hours):
            PG.psql("UPDATE places SET hours = %s WHERE id = %d"
                    % ("'%s'::jsonb" % h if h else "NULL", pid))

        def states():
            got = {r["place"]["id"]: r for r in nearby(
                radius_m=3000, limit=4, sort="distance")["results"]}
            return [got.get(i) for i in ids]

        T.wait_until(lambda: [r and r["is_open_now"] for r in states()] ==
                     [w[0] for w in want], 30, "the new hours ranked")
        for pid, r, (is_open, opens, closes) in zip(ids, states(), want):
            T.check_eq(r["is_open_now"], is_open, "is_open_now of %d" % pid)
            for key, m in (("opens_at", opens), ("closes_at", closes)):
                if m is None:
                    T.check(r[key] is None, "%s of %d: %r" % (key, pid,
                                                             r[key]))
                    continue
                t = datetime.datetime.fromisoformat(r[key])
                T.check_eq(t.utcoffset(), datetime.timedelta(minutes=off),
                           "%s of %d: %s, offset" % (key, pid, r[key]))
                T.check_eq(t.timestamp(), (m - off) * 60.0,
                           "%s of %d: %s" % (key, pid, r[key]))
                T.check(r[key].endswith(":00" + r[key][-6:]),
                        "whole minutes: %s" % r[key])
            T.check("is_open_now" not in r["place"], "the place card "
                    "itself holds no time of day")
        # open_now keeps the open ones; open_at what hours say then
        open_ids = {r["place"]["id"] for r in nearby(
            radius_m=3000, limit=100, open_now="true")["results"]}
        T.check(ids[0] in open_ids and ids[2] in open_ids and
                ids[1] not in open_ids and ids[3] not in open_ids,
                "open_now=true and is_open_now disagree")
    finally:
        for pid in ids:
            PG.psql("UPDATE places SET hours = %s WHERE id = %d"
                    % ("NULL" if old[pid] == "null" else
                       "'%s'::jsonb" % old[pid], pid))


def test_cursors_are_bound_to_their_query():
    base = {"radius_m": 3000}
    doc = nearby(limit=5, **base)
    c = doc["next"]
    T.check(c, "one page only near the centre")
    ten = nearby(limit=10, **base)["results"]
    T.check_eq(nearby(limit=5, after=c, **base)["results"], ten[5:],
               "the page after the cursor")
    T.check_eq(nearby(limit=3, after=c, **base)["results"], ten[5:8],
               "another page size after the cursor")
    # the same question spelt otherwise is the same query
    T.check_eq(nearby(limit=5, after=c, radius_m="3000.0",
                      lat="%.7f" % CITY[1])["results"], ten[5:],
               "the same question spelt otherwise")
    for other in ({"radius_m": 2999}, {"lat": CITY[1] + 0.001},
                  {"lon": CITY[2] + 0.001}, {"q": "pizza"},
                  {"sort": "distance"}, {"category": "cafe"},
                  {"cuisine": "georgian"}, {"min_rating": 3},
                  {"max_price": 3}, {"open_now": "true"},
                  {"open_at": "2026-11-30T10:00"}):
        q = dict(base, limit=5, after=c)
        q.update(other)
        msg = nearby_400("after", **q)
        T.check("another query" in msg, "%r: %s" % (other, msg))
    alphabet = ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                "0123456789-_")
    for i in range(len(c)):
        bad = c[:i] + alphabet[(alphabet.index(c[i]) + 1) % 64] + c[i + 1:]
        msg = nearby_400("after", limit=5, after=bad, **base)
        T.check("not a cursor" in msg, "%s: %s" % (bad, msg))
    # the text cursors of before: "n1:5", "n1:10", "n1:995"
    for old in ("bjE6NQ", "bjE6MTA", "bjE6OTk1",
                base64.urlsafe_b64encode(b"n1:5").decode().rstrip("=")):
        nearby_400("after", limit=5, after=old, **base)
    # a city list's cursor
    st, _, body = D.get("/v1/cities/%s/places?limit=1" % CITY[0])
    nearby_400("after", limit=5, after=json.loads(body)["next"], **base)


def _add_cluster(n):
    """n places 44 km north of the centre, 40 to a row ~30 m apart: more
    than the 1000 results a question pages through. Their ids."""
    lat, lon = CITY[1] + 0.4, CITY[2]
    rows = PG.psql(
        "INSERT INTO places (city_id, name, categories, lat, lon, rating) "
        "SELECT '%s', 'Cluster ' || g, '{cafe}', %f + (g / 40) * 0.0003, "
        "%f + (g %% 40) * 0.0005, (g %% 50) / 10.0 FROM "
        "generate_series(0, %d) g RETURNING id" % (CITY[0], lat, lon, n - 1))
    return [int(r[0]) for r in rows], lat, lon


def test_every_cursor_handed_out_is_taken():
    """Paging to the 1000th result with limits 7 and 30 (neither divides
    1000): every cursor is taken, the last page ends at the 1000th, and no
    page claims an exact total (the ranker stops counting past 1000, or
    after 64 places looked at only to count), nor more than 1000."""
    ids, lat, lon = _add_cluster(1100)
    try:
        T.wait_until(lambda: nearby(lat=lat, lon=lon, radius_m=3000,
                                    limit=1)["total_exact"] is False,
                     60, "the cluster ranked")
        for limit, sort in ((7, "best"), (30, "distance"), (30, "rating")):
            res, totals, pages = walk_nearby(limit, lat=lat, lon=lon,
                                             radius_m=3000, sort=sort)
            ids_seen = [r["place"]["id"] for r in res]
            T.check_eq(len(ids_seen), 1000, "results of limit %d" % limit)
            T.check_eq(len(set(ids_seen)), 1000, "a place twice")
            T.check_eq(pages, (1000 + limit - 1) // limit, "pages")
            T.check(all(not e and 0 < t <= 1000 for t, e in totals),
                    "totals past the cap: %r" % sorted(totals))
        # a filter that leaves few: exact when every cell is walked (by
        # rating), else exact or a bound below it
        want = sum(1 for g in range(1100) if g % 50 >= 48)
        doc = nearby(lat=lat, lon=lon, radius_m=3000, min_rating=4.8,
                     sort="rating")
        T.check_eq((doc["total"], doc["total_exact"]), (want, True),
                   "total with min_rating=4.8 by rating")
        doc = nearby(lat=lat, lon=lon, radius_m=3000, min_rating=4.8)
        T.check(doc["total"] == want if doc["total_exact"] else
                10 < doc["total"] < want, "total with min_rating=4.8: %d "
                "(exact: %s), want %d" % (doc["total"], doc["total_exact"],
                                          want))
    finally:
        PG.psql("DELETE FROM places WHERE id IN (%s)"
                % ",".join(map(str, ids)))


def test_open_at_with_seconds():
    base = {"radius_m": 8000, "limit": 100}
    want = [r["place"]["id"] for r in nearby(
        open_at="2026-11-30T10:00", **base)["results"]]
    T.check(want, "nothing open on Monday at 10:00")
    for at in ("2026-11-30T10:00:00", "2026-11-30T10:00:59"):
        T.check_eq([r["place"]["id"] for r in nearby(
            open_at=at, **base)["results"]], want, "open_at=%s" % at)
    for at in ("2026-11-30T10:00:60", "2026-11-30T10:00:0",
               "2026-11-30T10:00:", "2026-11-30T10:00:+1",
               "2026-11-30T10:00Z", "2026-11-30T10:00:00Z",
               "2026-11-30T10:00:00+03:00", "2026-02-29T10:00",
               "2026-11-30 10:00:00"):
        nearby_400("open_at", open_at=at, **base)


def test_q_without_a_word_is_refused():
    for q in ("!", "?", "a", " ", "a b c", "- !", "¿", "«»", "1"):
        msg = nearby_400("q", q=q)
        T.check("word" in msg, "q=%r: %s" % (q, msg))
    for q in ("ab", "щи", "a pizza", "42"):
        nearby(q=q)


def test_degraded_answers_count_and_page():
    """With the ranker stopped, answers degrade after [ranker] timeout
    (2 s): they have their total (the filters they apply), hours unknown
    (null), and cursors that page on; q without a word is still a 400."""
    rk = D.rankers()[0][0]
    lohi = places_near(5000, "categories && '{restaurant}'")
    os.kill(rk, signal.SIGSTOP)
    try:
        one = nearby(radius_m=5000, limit=4, category="restaurant")
        T.check(one["degraded"], "not degraded with the ranker stopped")
        check_total(one, lohi, "degraded")
        for r in one["results"]:
            T.check_eq((r["is_open_now"], r["opens_at"], r["closes_at"]),
                       (None, None, None), "hours in a degraded answer")
        T.check(one["next"], "a degraded answer without a next page")
        two = nearby(radius_m=5000, limit=4, category="restaurant",
                     after=one["next"])
        T.check(two["degraded"], "the second page not degraded")
        T.check_eq(two["total"], one["total"], "the second page's total")
        T.check(not {r["place"]["id"] for r in one["results"]} &
                {r["place"]["id"] for r in two["results"]},
                "a place on both pages")
        nearby_400("q", q="!")
        nearby_400("after", radius_m=4000, after=one["next"])
    finally:
        os.kill(rk, signal.SIGCONT)
    T.wait_until(lambda: not nearby()["degraded"], 30, "ranked answers")


def test_ranker_killed_degrades_then_recovers():
    rk = D.rankers()
    T.check(rk, "no ranker process")
    os.kill(rk[0][0], signal.SIGKILL)
    t0 = time.monotonic()
    doc = nearby(radius_m=3000, limit=10, cuisine="georgian")
    T.log("answer %.1f ms after the kill, degraded=%s"
          % ((time.monotonic() - t0) * 1000, doc["degraded"]))
    for r in doc["results"]:
        T.check("georgian" in r["place"]["cuisines"],
                "degraded answer broke the cuisine filter")
    T.wait_until(lambda: nearby()["degraded"], 10, "a degraded answer")
    T.check(D.metric("placesd_nearby_degraded_total", 0) >= 1,
            "degraded answers are not counted in /metrics")
    T.wait_until(lambda: not nearby()["degraded"], 60,
                 "full answers again after the respawn")


def _reload_with(extra):
    """Reload D with its configuration plus extra; returns the old gen."""
    gen = D.metric("placesd_generation")
    D.write_config(T.merge_conf(D.conf, extra))
    D.signal(signal.SIGHUP)
    return gen


def test_reload_waits_for_the_new_rankers_snapshot():
    # the new ranker takes 4 s for its first snapshot: the old one serves
    # every worker meanwhile, and the reload commits only after it
    delay = 4.0
    t0 = time.monotonic()
    gen = _reload_with({"debug": {"snapshot_delay": "%ds" % delay}})
    answers = degraded = not_ready = 0
    changed_at = None
    while time.monotonic() - t0 < 90:
        doc = nearby(radius_m=3000, limit=5)
        answers += 1
        degraded += doc["degraded"]
        if D.get("/readyz", timeout=10)[0] != 200:
            not_ready += 1
        if D.metric("placesd_generation") > gen:
            changed_at = time.monotonic() - t0
            break
    T.check(changed_at is not None, "the reload did not commit in 90 s")
    T.log("%d answers during the reload, committed after %.1f s"
          % (answers, changed_at))
    T.check(changed_at >= delay - 0.5, "the reload committed %.1f s after "
            "SIGHUP, before the new ranker's %.0f s load" % (changed_at,
                                                             delay))
    T.check_eq(degraded, 0, "degraded /v1/nearby answers during the reload")
    T.check_eq(not_ready, 0, "/readyz answers other than 200 during the "
               "reload")
    T.check(not nearby()["degraded"], "degraded right after the reload")
    T.check("snapshot_delay" in D.log_text(), "the delay is not logged")
    gen = _reload_with({})
    T.wait_until(lambda: D.metric("placesd_generation") > gen, 90,
                 "the reload back to no delay")


def _ranker_threads():
    """{comm: [(tid, policy, nice)]} of the current ranker's threads."""
    T.wait_until(lambda: len(D.rankers()) == 1, 30, "one ranker")
    pid = D.rankers()[0][0]
    out = {}
    for tid in sorted(int(t) for t in os.listdir("/proc/%d/task" % pid)):
        try:
            with open("/proc/%d/task/%d/comm" % (pid, tid)) as f:
                comm = f.read().strip()
            with open("/proc/%d/task/%d/stat" % (pid, tid)) as f:
                nice = int(f.read().rsplit(")", 1)[1].split()[16])
            policy = os.sched_getscheduler(tid)
        except (FileNotFoundError, ProcessLookupError):
            continue
        out.setdefault("main" if tid == pid else comm, []).append(
            (tid, policy, nice))
    return out


def _autogroup(pid):
    """(name, nice) of pid's scheduler autogroup; None without autogroups."""
    try:
        with open("/proc/%d/autogroup" % pid) as f:
            name, _, nice = f.read().split()
    except FileNotFoundError:
        return None
    return name, int(nice)


def _check_ranker_group(nice):
    # SCHED_IDLE only counts inside a scheduler group: the ranker has a
    # session (so an autogroup) of its own, at the low priority
    pid = D.rankers()[0][0]
    T.check_eq(os.getsid(pid), pid, "the ranker's session")
    T.check(os.getsid(pid) != os.getsid(D.pid), "the ranker shares the "
            "master's session")
    ag, master_ag = _autogroup(pid), _autogroup(D.pid)
    T.log("autogroups: ranker %s, master %s" % (ag, master_ag))
    if ag is None:
        return
    T.check_eq(ag[1], nice, "the ranker's autogroup nice")
    T.check(ag[0] != master_ag[0], "the ranker shares the master's "
            "autogroup %s" % ag[0])


def test_ranking_threads_yield_to_the_loops():
    # the default: ranking and loading run as SCHED_IDLE, the ranker's
    # accept loop as it was started
    th = _ranker_threads()
    T.log("ranker threads: %s" % th)
    T.check_eq(len(th.get("ranker pool", [])), 2, "threads named "
               "'ranker pool' ([ranker] threads = 2)")
    T.check_eq(len(th.get("ranker loader", [])), 1, "a thread named "
               "'ranker loader'")
    for name in ("ranker pool", "ranker loader"):
        for tid, policy, _ in th[name]:
            T.check_eq(policy, os.SCHED_IDLE, "policy of %s %d" % (name, tid))
    T.check_eq(th["main"][0][1], os.SCHED_OTHER, "the accept loop's policy")
    _check_ranker_group(19)
    # a nice value instead, taken by the ranker of a reload
    gen = _reload_with({"ranker": {"nice": 7}})
    T.wait_until(lambda: D.metric("placesd_generation") > gen, 90,
                 "the reload with [ranker] nice = 7")
    th = _ranker_threads()
    for name in ("ranker pool", "ranker loader"):
        for tid, policy, nice in th[name]:
            T.check_eq((policy, nice), (os.SCHED_OTHER, 7),
                       "policy and nice of %s %d" % (name, tid))
    T.check_eq(th["main"][0][2], 0, "the accept loop's nice")
    _check_ranker_group(7)
    gen = _reload_with({})
    T.wait_until(lambda: D.metric("placesd_generation") > gen, 90,
                 "the reload back to the default")


def test_workers_ask_for_short_slices():
    # from Linux 6.12 a worker's loop asks for the shortest time slice
    # (100 us), so that it preempts longer-sliced threads when it wakes
    rel = tuple(int(x) for x in os.uname().release.split(".")[:2]
                if x.isdigit())
    for pid, slot, _ in D.workers():
        try:
            with open("/proc/%d/sched" % pid) as f:
                line = [l for l in f if l.startswith("se.slice")]
        except OSError as e:
            T.fail("cannot read the scheduler state of worker %d: %s"
                   % (slot, e))
        if not line or rel < (6, 12):
            T.log("kernel %s shows no per-task slice: not checked"
                  % os.uname().release)
            return
        T.check_eq(int(line[0].split(":")[1]), 100000,
                   "worker %d's time slice (ns)" % slot)


def test_not_ready_before_the_first_snapshot():
    d = T.Daemon(workers=1, name="slowsnap", conf={
        "database": {"conninfo": PG.conninfo},
        "debug": {"snapshot_delay": "10s"}})
    t0 = time.monotonic()
    d.start(wait_ready=False)
    def up():
        T.check(d.alive(), "placesd exited during the start")
        return d.get("/healthz", timeout=5)[0] == 200
    T.wait_until(up, 60, "/healthz to answer")
    st, _, body = d.get("/readyz", timeout=10)
    if time.monotonic() - t0 < 9:
        T.check_eq(st, 503, "/readyz before the first snapshot")
        T.check("ranker" in json.loads(body)["error"]["missing"],
                "/readyz does not name the ranker: %s" % body)
    else:
        T.log("slow start: /readyz not checked before the snapshot")
    d.wait_ready(timeout=90)
    T.check(time.monotonic() - t0 >= 9, "ready before the snapshot")
    st, _, body = d.get("/v1/nearby?lat=%f&lon=%f" % (CITY[1], CITY[2]),
                        timeout=20)
    T.check_eq(st, 200, "/v1/nearby once ready")
    T.check(not json.loads(body)["degraded"], "degraded once ready")
    d.stop()


def test_calls_beyond_the_slots_wait_in_the_worker():
    # 2 workers, 2 ranking threads: 8 calls per worker at the ranker at
    # most (8 per thread, shared); with the ranker stopped, the rest wait
    # in the worker, and all are ranked once it runs again
    import threading
    n = 24
    out = []
    rk = D.rankers()[0][0]
    q = "/v1/nearby?lat=%f&lon=%f&radius_m=3000&limit=3" % (CITY[1], CITY[2])
    base = D.metric("placesd_nearby_degraded_total", 0)
    os.kill(rk, signal.SIGSTOP)
    t0 = time.monotonic()
    try:
        ts = [threading.Thread(target=lambda: out.append(D.get(q, timeout=30)),
                               daemon=True) for _ in range(n)]
        for t in ts:
            t.start()

        def all_held():
            m = D.metrics()
            return (T.metric(m, "placesd_ranker_in_flight", 0) +
                    T.metric(m, "placesd_ranker_waiting", 0) == n)
        T.wait_until(all_held, 20, "%d calls held by the workers" % n)
        m = D.metrics()
        held = time.monotonic() - t0
        inflight = T.metric(m, "placesd_ranker_in_flight", 0)
        waiting = T.metric(m, "placesd_ranker_waiting", 0)
        peak = T.metric(m, "placesd_ranker_in_flight_peak", 0)
    finally:
        os.kill(rk, signal.SIGCONT)
    T.log("held after %.2f s: %d at the ranker, %d waiting, peak %d"
          % (held, inflight, waiting, peak))
    T.check(inflight <= 16, "%d calls at the ranker, more than 2 x 8"
            % inflight)
    T.check(waiting >= n - 16, "%d calls waiting, expected %d at least"
            % (waiting, n - 16))
    T.check_eq(peak, 8, "the most calls one worker had at the ranker")
    for t in ts:
        t.join(60)
    T.check_eq(sorted(st for st, _, _ in out), [200] * n, "the answers")
    degraded = sum(json.loads(b)["degraded"] for _, _, b in out)
    if held < 1.0:
        T.check_eq(degraded, 0, "degraded answers (ranker stopped for "
                   "less than its 2 s timeout)")
    T.check_eq(D.metric("placesd_ranker_waiting", 0), 0, "calls left waiting")
    T.log("%d degraded (%d counted)" % (
        degraded, D.metric("placesd_nearby_degraded_total", 0) - base))


def test_full_waiting_list_degrades_at_once():
    # 1 worker, 1 ranking thread: 8 calls at the ranker (which queues
    # queue_size = 8 of them), 8 more waiting in the worker; with the
    # ranker stopped, the next call degrades at once
    import threading
    d = T.Daemon(workers=1, name="shortq", conf={
        "database": {"conninfo": PG.conninfo},
        "ranker": {"threads": 1, "queue_size": 8, "timeout": "30s"}})
    d.start()
    q = "/v1/nearby?lat=%f&lon=%f&radius_m=3000&limit=3" % (CITY[1], CITY[2])
    T.wait_until(lambda: not json.loads(d.get(q, timeout=20)[2])["degraded"],
                 60, "a ranked answer")
    held = []
    rk = d.rankers()[0][0]
    os.kill(rk, signal.SIGSTOP)
    try:
        ts = [threading.Thread(target=lambda: held.append(d.get(q, timeout=60)),
                               daemon=True) for _ in range(16)]
        for t in ts:
            t.start()

        def all_held():
            m = d.metrics()
            return (T.metric(m, "placesd_ranker_in_flight", 0),
                    T.metric(m, "placesd_ranker_waiting", 0)) == (8, 8)
        T.wait_until(all_held, 20, "8 calls at the ranker and 8 waiting")
        st, _, body = d.get(q, timeout=20)
        T.check_eq(st, 200, "the call past queue_size")
        T.check(json.loads(body)["degraded"], "the call past queue_size is "
                "answered degraded")
    finally:
        os.kill(rk, signal.SIGCONT)
    for t in ts:
        t.join(60)
    T.check_eq(sorted(st for st, _, _ in held), [200] * 16, "the held calls")
    T.check_eq(sum(json.loads(b)["degraded"] for _, _, b in held), 0,
               "degraded held calls (timeout 30 s)")
    d.stop()


def test_a_burst_of_answers_spans_loop_turns():
    # 1 worker, 4 ranking threads: 32 calls at the ranker at once. The
    # ranker answers all of them while the worker is stopped, so the
    # worker then reads 32 answers together: it hands out 8 per turn of
    # its loop and the rest on the next turns, and every call is answered
    import threading
    d = T.Daemon(workers=1, name="burst", conf={
        "database": {"conninfo": PG.conninfo},
        "ranker": {"threads": 4, "timeout": "30s"}})
    d.start()
    n = 32
    q = "/v1/nearby?lat=%f&lon=%f&radius_m=3000&limit=3" % (CITY[1], CITY[2])
    T.wait_until(lambda: not json.loads(d.get(q, timeout=20)[2])["degraded"],
                 60, "a ranked answer")
    want = d.get(q, timeout=20)[2]
    base = d.metric("placesd_ranker_answers_deferred_total", 0)
    out = []
    rk = d.rankers()[0][0]
    wk = d.workers()[0][0]
    os.kill(rk, signal.SIGSTOP)
    try:
        ts = [threading.Thread(target=lambda: out.append(d.get(q, timeout=60)),
                               daemon=True) for _ in range(n)]
        for t in ts:
            t.start()
        T.wait_until(lambda: d.metric("placesd_ranker_in_flight", 0) == n,
                     20, "%d calls at the ranker" % n)
        os.kill(wk, signal.SIGSTOP)
        os.kill(rk, signal.SIGCONT)
        time.sleep(1.0)         # the ranker answers into the socket
    finally:
        os.kill(rk, signal.SIGCONT)
        os.kill(wk, signal.SIGCONT)
    for t in ts:
        t.join(60)
    T.check_eq(sorted(st for st, _, _ in out), [200] * n, "the answers")
    T.check_eq(sum(json.loads(b)["degraded"] for _, _, b in out), 0,
               "degraded answers")
    T.check(all(json.loads(b)["results"] == json.loads(want)["results"]
                for _, _, b in out), "every answer is the query's")
    deferred = d.metric("placesd_ranker_answers_deferred_total", 0) - base
    T.log("%d answers read together, handed out over %d deferrals"
          % (n, deferred))
    T.check(deferred >= 1, "32 answers read at once were all handed out "
            "in one turn (no deferral counted)")
    d.stop()


def test_fallback_queries_are_capped():
    # a worker without its ranker runs at most half its pool's worth of
    # distance-only queries (pool_size 2: one); past that, 503 overloaded
    import threading
    d = T.Daemon(workers=1, name="capped", conf={
        "database": {"conninfo": PG.conninfo, "pool_size": 2},
        "debug": {"snapshot_delay": "60s"}})
    d.start(wait_ready=False)
    T.wait_until(lambda: d.alive() and d.get("/healthz", timeout=5)[0]
                 == 200, 60, "/healthz to answer")
    path = "/v1/nearby?lat=%f&lon=%f&radius_m=3000&limit=5" % (CITY[1],
                                                                CITY[2])
    first = []
    lock = PG.lock(["places"])
    try:
        t = threading.Thread(target=lambda: first.append(
            d.get(path, timeout=60)), daemon=True)
        t.start()
        T.wait_until(lambda: PG.waiting_queries("6371008.8") >= 1, 30,
                     "the distance-only query to wait for the lock")
        for i in range(5):
            st, hdrs, body = d.get(path, timeout=20)
            T.check_eq(st, 503, "a second distance-only query at once")
            T.check_eq(json.loads(body)["error"]["code"], "overloaded",
                       "the error code")
            T.check_eq(hdrs.get("Retry-After"), "1", "Retry-After")
        T.check_eq(d.metric("placesd_nearby_shed_total"), 5,
                   "placesd_nearby_shed_total")
    finally:
        lock.release()
    t.join(60)
    T.check(first, "no answer to the first request")
    st, _, body = first[0]
    T.check_eq(st, 200, "the first request, once the lock is gone")
    T.check(json.loads(body)["degraded"], "the first answer is degraded")
    T.check_eq(d.metric("placesd_nearby_degraded_total"), 1,
               "placesd_nearby_degraded_total")
    # the slot is free again
    st, _, body = d.get(path, timeout=20)
    T.check_eq(st, 200, "a distance-only query after the first ended")
    d.stop()


def test_changed_place_is_ranked_with_new_data():
    pid = nearby(radius_m=3000, limit=1)["results"][0]["place"]["id"]
    word = "zzqx%d" % int(time.time())
    PG.psql("UPDATE places SET name = name || ' %s' WHERE id = %d"
            % (word, pid))
    t0 = time.monotonic()

    def found():
        rs = nearby(q=word, radius_m=50000)["results"]
        return any(r["place"]["id"] == pid for r in rs)
    T.wait_until(found, 30, "the renamed place to be found by its new word")
    T.log("renamed place ranked %.0f ms after the UPDATE"
          % ((time.monotonic() - t0) * 1000))


if __name__ == "__main__":
    T.run_main([
        test_shape_and_radius,
        test_no_preferences_nearest_first,
        test_sort_distance_and_rating,
        test_filters_are_never_violated,
        test_cuisine_preference_lifts,
        test_cuisine_filters,
        test_q_matches_cuisines_and_categories,
        test_open_at_respects_hours,
        test_q_finds_dishes_on_the_menu,
        test_paging_returns_each_once,
        test_bad_parameters,
        test_total_against_sql,
        test_open_now_and_next_change,
        test_cursors_are_bound_to_their_query,
        test_every_cursor_handed_out_is_taken,
        test_open_at_with_seconds,
        test_q_without_a_word_is_refused,
        test_degraded_answers_count_and_page,
        test_reload_waits_for_the_new_rankers_snapshot,
        test_ranking_threads_yield_to_the_loops,
        test_workers_ask_for_short_slices,
        test_not_ready_before_the_first_snapshot,
        test_calls_beyond_the_slots_wait_in_the_worker,
        test_full_waiting_list_degrades_at_once,
        test_a_burst_of_answers_spans_loop_turns,
        test_ranker_killed_degrades_then_recovers,
        test_fallback_queries_are_capped,
        test_changed_place_is_ranked_with_new_data,
    ], setup=setup)
