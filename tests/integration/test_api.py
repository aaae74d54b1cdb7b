#!/usr/bin/python3
"""The read API against a real PostgreSQL: GET /v1/cities,
/v1/cities/{city}/places and /v1/places/{id} as docs/api.md says; a pagination
walk over a whole city with every cursor handed out taken back, its total
against SQL, its cursors bound to their query and refused when edited;
filters agreeing with the same question in SQL;
400s naming the field, 404s; injection strings and odd Unicode; the
database stopped (503 at once), frozen (504 at the query deadline) and
back (recovery by itself); a flood beyond the pool (503 overloaded);
/healthz answering throughout; the cache's counters."""

import json
import os
import signal
import subprocess
import threading
import time
import urllib.parse

import placesd_test as T

PLACES = 1000
PG = None
D = None


def setup():
    global PG, D
    T.use_contract()
    PG = T.Postgres()
    PG.start()
    ctl = T.placesctl_path()
    conf = {"database": {"conninfo": PG.conninfo, "pool_size": 2,
                         "query_timeout": "1s", "queue_size": 8},
            "cache": {"ttl": "5s", "max_entries": 1000},
            "server": {"request_deadline": "5s"}}
    D = T.Daemon(workers=2, conf=conf, persistent=True)
    for cmd in (["migrate", "--dir", os.environ.get("SQL_DIR", "")],
                ["seed", "--places", str(PLACES), "--seed", "7"]):
        r = T.run([ctl, "-c", D.conf_path] + [c for c in cmd if c], timeout=300)
        if r.returncode != 0:
            T.fail("placesctl %s: %s %s" % (cmd[0], r.stdout, r.stderr))
    D.start()


def get(path, timeout=15):
    st, hdrs, body = D.get(path, timeout=timeout)
    try:
        doc = json.loads(body) if body else None
    except ValueError:
        T.fail("%s: not JSON: %r" % (path, body[:200]))
    return st, hdrs, doc


def sql(q):
    return PG.psql(q)


def psql_bin():
    p = "/usr/lib/postgresql/15/bin/psql"
    return p if os.path.exists(p) else "psql"


def test_cities():
    st, hdrs, doc = get("/v1/cities")
    T.check_eq(st, 200, "/v1/cities")
    cities = doc["cities"]
    T.check(len(cities) >= 20, "%d cities, want 20 or more" % len(cities))
    total = 0
    for c in cities:
        T.check(set(c) >= {"id", "name", "lat", "lon", "places"},
                "city fields: %r" % c)
        T.check(-90 <= c["lat"] <= 90 and -180 <= c["lon"] <= 180,
                "coordinates of %s" % c["id"])
        total += c["places"]
    T.check_eq(total, PLACES, "sum of places over cities")
    want = {r[0]: int(r[1]) for r in sql(
        "SELECT city_id, count(*) FROM places GROUP BY city_id")}
    for c in cities:
        T.check_eq(c["places"], want.get(c["id"], 0), "places of %s" % c["id"])


def walk(city, query="", limit=13):
    """Every page of a city's places, each cursor handed out sent back;
    returns the list and the page count. Every page has the same total,
    the number of places the walk finds."""
    out, after, pages, totals = [], None, 0, set()
    while True:
        q = ("limit=%d" % limit) + query + ("&after=" + after if after
                                            else "")
        st, _, doc = get("/v1/cities/%s/places?%s" % (city, q))
        T.check_eq(st, 200, "page %d of %s: %r" % (pages, city, doc))
        T.check(doc["total_exact"] is True, "total_exact %r"
                % doc["total_exact"])
        totals.add(doc["total"])
        pages += 1
        out += doc["places"]
        after = doc["next"]
        if after is None:
            T.check_eq(totals, {len(out)}, "totals of %s%s" % (city, query))
            return out, pages
        T.check_eq(len(doc["places"]), limit, "a page before the last")
        T.check(pages < 1000, "the walk does not end")


def order_key(p):
    r = p["rating"]
    return (0, -r, p["id"]) if r is not None else (1, 0, p["id"])


def test_pagination_walk_returns_each_place_once():
    city = sql("SELECT city_id FROM places GROUP BY city_id "
               "ORDER BY count(*) DESC LIMIT 1")[0][0]
    places, pages = walk(city)
    ids = [p["id"] for p in places]
    want = {int(r[0]) for r in sql(
        "SELECT id FROM places WHERE city_id = '%s'" % city)}
    T.check_eq(len(ids), len(set(ids)), "duplicates in the walk")
    T.check_eq(set(ids), want, "the walk's places")
    T.check(places == sorted(places, key=order_key),
            "the walk is not in rating desc, id order")
    T.log("%s: %d places in %d pages" % (city, len(ids), pages))


def test_filters_agree_with_sql():
    city = sql("SELECT city_id FROM places GROUP BY city_id "
               "ORDER BY count(*) DESC LIMIT 1")[0][0]
    cases = [
        ("&cuisine=georgian", "cuisines && '{georgian}'"),
        ("&cuisine=georgian,italian", "cuisines && '{georgian,italian}'"),
        ("&category=cafe", "categories && '{cafe}'"),
        ("&min_rating=4.2", "rating >= 4.2"),
        ("&max_price=2", "price_level <= 2"),
        ("&category=restaurant&min_rating=3.5&max_price=3",
         "categories && '{restaurant}' AND rating >= 3.5 AND "
         "price_level <= 3"),
    ]
    for query, where in cases:
        places, _ = walk(city, query)
        want = {int(r[0]) for r in sql(
            "SELECT id FROM places WHERE city_id = '%s' AND %s"
            % (city, where))}
        T.check_eq({p["id"] for p in places}, want, "filter %s" % query)


def test_place_with_menu_and_offers():
    pid = int(sql("SELECT place_id FROM offers WHERE starts_at <= now() "
                  "AND ends_at > now() LIMIT 1")[0][0])
    st, _, p = get("/v1/places/%d" % pid)
    T.check_eq(st, 200, "/v1/places/%d" % pid)
    for k in ("id", "city", "name", "categories", "cuisines", "lat", "lon",
              "rating", "price_level", "address", "description", "hours",
              "menu", "offers"):
        T.check(k in p, "place field %s missing" % k)
    menu = sql("SELECT id, name, price_cents, currency FROM menu_items "
               "WHERE place_id = %d ORDER BY id" % pid)
    T.check_eq([m["id"] for m in p["menu"]], [int(r[0]) for r in menu],
               "menu ids")
    T.check_eq([m["name"] for m in p["menu"]], [r[1] for r in menu],
               "menu names (UTF-8)")
    active = sql("SELECT id FROM offers WHERE place_id = %d AND "
                 "starts_at <= now() AND ends_at > now() ORDER BY id" % pid)
    T.check_eq([o["id"] for o in p["offers"]], [int(r[0]) for r in active],
               "active offers only")
    for o in p["offers"]:
        T.check(o["starts_at"].endswith("Z") and "T" in o["starts_at"],
                "offer times in UTC ISO 8601: %r" % o["starts_at"])
    row = sql("SELECT name, rating::text, price_level FROM places "
              "WHERE id = %d" % pid)[0]
    T.check_eq(p["name"], row[0], "name round-trips")
    T.check_eq(p["rating"], None if row[1] in (None, "") else float(row[1]),
               "rating")


def test_nulls_come_out_as_null():
    pid = int(sql("SELECT id FROM places WHERE rating IS NULL AND "
                  "price_level IS NULL LIMIT 1")[0][0])
    st, _, p = get("/v1/places/%d" % pid)
    T.check_eq(st, 200, "place with nulls")
    T.check(p["rating"] is None and p["price_level"] is None,
            "nulls: %r %r" % (p["rating"], p["price_level"]))


def test_cyrillic_names():
    rows = sql("SELECT id, name FROM places WHERE name ~ '[А-Яа-я]' LIMIT 1")
    T.check(rows, "the demo data has Cyrillic names")
    st, _, p = get("/v1/places/%s" % rows[0][0])
    T.check_eq(p["name"], rows[0][1], "a Cyrillic name round-trips")


def test_bad_parameters_name_the_field():
    for path, field in (
            ("/v1/cities/moscow/places?limit=0", "limit"),
            ("/v1/cities/moscow/places?limit=101", "limit"),
            ("/v1/cities/moscow/places?limit=abc", "limit"),
            ("/v1/cities/moscow/places?min_rating=6", "min_rating"),
            ("/v1/cities/moscow/places?min_rating=-1", "min_rating"),
            ("/v1/cities/moscow/places?min_rating=1e1", "min_rating"),
            ("/v1/cities/moscow/places?max_price=5", "max_price"),
            ("/v1/cities/moscow/places?cuisine=Georgian", "cuisine"),
            ("/v1/cities/moscow/places?cuisine=a,,b", "cuisine"),
            ("/v1/cities/moscow/places?category=%27;drop", "category"),
            ("/v1/cities/moscow/places?after=garbage!", "after"),
            # the text cursors of before: "v1:99:abc", "v1:5.5:1",
            # "v1::7" and a NUL
            ("/v1/cities/moscow/places?after=djE6OTk6YWJj", "after"),
            ("/v1/cities/moscow/places?after=djE6NS41OjE", "after"),
            ("/v1/cities/moscow/places?after=djE6OjcA", "after"),
            ("/v1/places/abc", "id"),
            ("/v1/places/-1", "id"),
            ("/v1/places/0", "id")):
        st, _, doc = get(path)
        T.check_eq(st, 400, path)
        T.check_eq(doc["error"]["code"], "invalid_argument", path)
        T.check_eq(doc["error"].get("field"), field, path)


def test_total_and_walks_of_7_and_30():
    city = sql("SELECT city_id FROM places GROUP BY city_id "
               "ORDER BY count(*) DESC LIMIT 1")[0][0]
    n = int(sql("SELECT count(*) FROM places WHERE city_id = '%s'"
                % city)[0][0])
    for limit in (7, 30):
        places, pages = walk(city, limit=limit)
        T.check_eq(len(places), n, "places walked %d at a time" % limit)
        T.check_eq(pages, (n + limit - 1) // limit, "pages of %d" % limit)
    want = int(sql("SELECT count(*) FROM places WHERE city_id = '%s' AND "
                   "cuisines && '{georgian}' AND rating >= 3.5" % city)[0][0])
    st, _, doc = get("/v1/cities/%s/places?cuisine=georgian&min_rating=3.5"
                     "&limit=1" % city)
    T.check_eq((st, doc["total"], doc["total_exact"]), (200, want, True),
               "total with filters")
    # a city without a matching place, and a page past the end
    st, _, doc = get("/v1/cities/%s/places?cuisine=nosuchcuisine" % city)
    T.check_eq((st, doc), (200, {"places": [], "total": 0,
                                 "total_exact": True, "next": None}),
               "no place matches")


def first_cursor(city, query=""):
    st, _, doc = get("/v1/cities/%s/places?limit=5%s" % (city, query))
    T.check_eq(st, 200, "first page of %s" % city)
    T.check(doc["next"], "%s has one page only" % city)
    return doc["next"]


def check_after_400(path, other):
    st, _, doc = get(path)
    T.check_eq(st, 400, path)
    T.check_eq(doc["error"]["code"], "invalid_argument", path)
    T.check_eq(doc["error"].get("field"), "after", path)
    T.check_eq("another query" in doc["error"]["message"], other,
               "%s: %s" % (path, doc["error"]["message"]))


def test_cursors_are_bound_to_their_query():
    """A Moscow cursor on London, or with other filters, is a 400 naming
    after; an edited one too; the same query with another page size goes
    on where the cursor says."""
    cities = [r[0] for r in sql("SELECT city_id FROM places GROUP BY "
                                "city_id ORDER BY count(*) DESC LIMIT 2")]
    a, b = cities
    c = first_cursor(a)
    check_after_400("/v1/cities/%s/places?limit=5&after=%s" % (b, c), True)
    for q in ("&cuisine=georgian", "&category=cafe", "&min_rating=1",
              "&max_price=4"):
        check_after_400("/v1/cities/%s/places?limit=5%s&after=%s"
                        % (a, q, c), True)
    # the same question spelt otherwise is the same query
    c = first_cursor(a, "&min_rating=1.0")
    st, _, doc = get("/v1/cities/%s/places?min_rating=1&after=%s" % (a, c))
    T.check_eq(st, 200, "min_rating=1 with a cursor of min_rating=1.0")
    # another page size: the walk goes on after the cursor's place
    c = first_cursor(a)
    st, _, five = get("/v1/cities/%s/places?limit=10" % a)
    st, _, doc = get("/v1/cities/%s/places?limit=5&after=%s" % (a, c))
    st2, _, more = get("/v1/cities/%s/places?limit=3&after=%s" % (a, c))
    T.check_eq((st, st2), (200, 200), "a cursor with another limit")
    T.check_eq(more["places"], doc["places"][:3], "limit 3 after the cursor")
    T.check_eq(doc["places"], five["places"][5:], "the page after")
    # one character changed, anywhere: not a cursor of this server
    alphabet = ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                "0123456789-_")
    for i in range(len(c)):
        bad = c[:i] + alphabet[(alphabet.index(c[i]) + 1) % 64] + c[i + 1:]
        check_after_400("/v1/cities/%s/places?limit=5&after=%s" % (a, bad),
                        False)
    # the text cursors of before ("v1:5.0:1", "v1:4.6:42")
    for old in ("djE6NS4wOjE", "djE6NC42OjQy"):
        check_after_400("/v1/cities/%s/places?after=%s" % (a, old), False)


def test_unknown_ids_and_cities_404():
    for path in ("/v1/places/999999999", "/v1/cities/atlantis/places",
                 "/v1/cities/NOPE/places", "/v1/cities/a%20b/places"):
        st, _, doc = get(path)
        T.check_eq(st, 404, path)
        T.check_eq(doc["error"]["code"], "not_found", path)


def test_injection_and_odd_unicode_are_harmless():
    before = sql("SELECT count(*) FROM places")[0][0]
    for s in ("'; DROP TABLE places; --", "moscow' OR '1'='1",
              "\u0000", "\u202e\u0301", "😀", "москва", "x" * 200):
        q = urllib.parse.quote(s, safe="")
        for path in ("/v1/cities/%s/places" % q, "/v1/places/%s" % q,
                     "/v1/cities/moscow/places?cuisine=%s" % q,
                     "/v1/cities/moscow/places?after=%s" % q):
            st, _, _ = get(path)
            T.check(st in (400, 404, 414), "%s answered %s" % (path, st))
    T.check_eq(sql("SELECT count(*) FROM places")[0][0], before,
               "places intact")
    st, _, _ = get("/healthz")
    T.check_eq(st, 200, "still serving")


def test_cache_counts_hits():
    pid = sql("SELECT id FROM places ORDER BY id DESC LIMIT 1")[0][0]
    h0 = D.metric("placesd_cache_hits_total", 0)
    for _ in range(20):
        st, _, _ = get("/v1/places/%s" % pid)
        T.check_eq(st, 200, "cached place")
    T.check(D.metric("placesd_cache_hits_total", 0) > h0,
            "the cache counted no hit over 20 reads of one place")


def test_flood_beyond_the_pool_is_shed():
    """pool 2 + queue 8 per worker: 200 slow queries at once get some
    503 overloaded with Retry-After, none hang, the rest answer."""
    # another session locks the table: every query waits its deadline
    holder = subprocess.Popen(
        [psql_bin(), "-X", "-q", "-v", "ON_ERROR_STOP=1", PG.conninfo],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, text=True)
    holder.stdin.write("BEGIN; LOCK TABLE places IN ACCESS EXCLUSIVE MODE;\n"
                       "SELECT pg_sleep(0);\n")
    holder.stdin.flush()
    T.wait_until(lambda: sql("SELECT count(*) FROM pg_locks WHERE "
                             "relation = 'places'::regclass AND "
                             "mode = 'AccessExclusiveLock' AND granted"
                             )[0][0] in ("1", 1), 30, "the table lock")
    codes, lock = {}, threading.Lock()

    def one(i):
        st, hdrs, _ = D.get("/v1/places/%d" % (1 + i % 50), timeout=30)
        with lock:
            codes[st] = codes.get(st, 0) + 1
            if st == 503:
                codes["retry_after"] = codes.get("retry_after", 0) + (
                    1 if hdrs.get("Retry-After") else 0)
    D.metrics()     # warm connection
    th = [threading.Thread(target=one, args=(i,)) for i in range(200)]
    for t in th:
        t.start()
    for t in th:
        t.join(60)
    holder.stdin.write("ROLLBACK;\n")
    holder.stdin.close()
    holder.wait(30)
    T.log("codes under a flood: %r" % codes)
    T.check(codes.get(503, 0) > 0, "no 503 overloaded under a flood")
    T.check_eq(codes.get("retry_after", 0), codes.get(503, 0),
               "every 503 has Retry-After")
    T.check(set(k for k in codes if k != "retry_after") <= {200, 503, 504},
            "unexpected answers: %r" % codes)


def test_database_stopped_gives_503_at_once():
    PG.stop()
    try:
        time.sleep(0.5)
        t0 = time.monotonic()
        st, _, doc = get("/v1/places/1")
        dt = time.monotonic() - t0
        T.check_eq(st, 503, "database stopped")
        T.check_eq(doc["error"]["code"], "unavailable", "503 code")
        T.log("503 in %.1f ms" % (dt * 1000))
        st, _, doc = get("/readyz")
        T.check_eq(st, 503, "/readyz without a database")
        T.check("database" in doc["error"]["missing"], "readyz names it")
        st, _, _ = get("/healthz")
        T.check_eq(st, 200, "/healthz without a database")
    finally:
        PG.start()
    T.wait_until(lambda: get("/v1/places/1")[0] == 200 and
                 get("/readyz")[0] == 200, 30, "recovery after a restart")


def test_database_frozen_gives_504_at_the_deadline():
    st, _, _ = get("/v1/cities/moscow/places?limit=1")
    PG.freeze()
    try:
        t0 = time.monotonic()
        st, _, doc = get("/v1/places/2", timeout=30)
        dt = time.monotonic() - t0
        T.check(st in (503, 504), "frozen database answered %s" % st)
        if st == 504:
            T.check_eq(doc["error"]["code"], "deadline_exceeded", "504 code")
        T.log("frozen: %s after %.2f s (query_timeout 1s)" % (st, dt))
        t0 = time.monotonic()
        st, _, _ = get("/healthz")
        T.check_eq(st, 200, "/healthz while the database is frozen")
    finally:
        PG.thaw()
    T.wait_until(lambda: get("/v1/places/2")[0] == 200, 30,
                 "recovery after a thaw")


if __name__ == "__main__":
    T.run_main([
        test_cities,
        test_pagination_walk_returns_each_place_once,
        test_filters_agree_with_sql,
        test_place_with_menu_and_offers,
        test_nulls_come_out_as_null,
        test_cyrillic_names,
        test_bad_parameters_name_the_field,
        test_total_and_walks_of_7_and_30,
        test_cursors_are_bound_to_their_query,
        test_unknown_ids_and_cities_404,
        test_injection_and_odd_unicode_are_harmless,
        test_cache_counts_hits,
        test_flood_beyond_the_pool_is_shed,
        test_database_stopped_gives_503_at_once,
        test_database_frozen_gives_504_at_the_deadline,
    ], setup=setup)
