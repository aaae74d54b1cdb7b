#!/usr/bin/python3
"""GET /v1/autocomplete, /v1/categories and /v1/cuisines end to end (issue
19, item 3): suggestions of place names, dishes, cuisines and categories
from the ranker's suggest index of a seeded database, checked against SQL;
prefixes of several words, case and Cyrillic; every refusal; a renamed
place and a new category followed through the ranker's overlay; and the
ranker stopped (503 unavailable, then answers again)."""

import json
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
    PG = T.Postgres(name="suggest-pg")
    PG.start()
    conf = {"database": {"conninfo": PG.conninfo},
            "ranker": {"timeout": "2s", "threads": 2}}
    D = T.Daemon(workers=2, conf=conf, persistent=True, name="suggest")
    T.migrate_and_seed(D, 2000, 11)
    D.start()
    CITY = T.biggest_city(PG)
    T.wait_until(lambda: get("/v1/cuisines")[0] == 200, 60,
                 "the ranker's first snapshot")


def get(path, **params):
    if params:
        path += "?" + urllib.parse.urlencode(params)
    st, hdrs, body = D.get(path, timeout=20)
    try:
        doc = json.loads(body.decode("utf-8"))
    except ValueError:
        T.fail("GET %s: %d, not JSON: %r" % (path, st, body[:200]))
    return st, hdrs, doc


def suggest(**params):
    st, _, doc = get("/v1/autocomplete", **params)
    T.check_eq(st, 200, "autocomplete %r: %r" % (params, doc))
    return doc["suggestions"]


def refused(status, field, path, **params):
    st, hdrs, doc = get(path, **params)
    T.check_eq(st, status, "%s %r: %r" % (path, params, doc))
    T.check_eq(doc["error"].get("field"), field, "%s %r: the field named"
               % (path, params))
    return hdrs, doc


# ---- suggestions ------------------------------------------------------------

def test_place_by_prefix_near_it():
    pid, name, lat, lon = PG.psql(
        "SELECT id, name, lat, lon FROM places WHERE city_id = '%s' AND "
        "name ~ '^[A-Za-z]{5}' ORDER BY id LIMIT 1" % CITY[0])[0]
    got = suggest(text=name[:4], lat=lat, lon=lon, limit=20)
    mine = [s for s in got if s["kind"] == "place" and s["text"] == name]
    T.check(mine, "%r not among the suggestions for %r: %r"
            % (name, name[:4], got))
    T.check_eq(set(mine[0]), {"kind", "text", "place_id", "city",
                              "distance_m"}, "a place's fields")
    T.check(mine[0]["distance_m"] < 1.0, "the place asked from: %r"
            % mine[0])
    T.check_eq(str(mine[0]["place_id"]), pid, "the place nearest is it")
    T.check_eq(mine[0]["city"], CITY[0], "its city")
    # without a point: no distance, and still found by its whole name
    got = suggest(text=name, limit=20)
    mine = [s for s in got if s["kind"] == "place" and s["text"] == name]
    T.check(mine and "distance_m" not in mine[0], "by its name, no point: "
            "%r" % got)


def test_dish_counts_places():
    name, n = PG.psql(
        "SELECT name, count(DISTINCT place_id) FROM menu_items WHERE name "
        "~ '^Khachapuri' GROUP BY name ORDER BY 2 DESC, 1 LIMIT 1")[0]
    got = suggest(text="khachap", limit=20)
    dish = [s for s in got if s["kind"] == "dish" and s["text"] == name]
    T.check(dish, "dish %r not suggested for khachap: %r" % (name, got))
    T.check_eq(dish[0]["places"], int(n), "places serving %r" % name)
    T.check_eq(set(dish[0]), {"kind", "text", "places"}, "a dish's fields")
    # the rest of the dishes and places all start a word with it, in
    # either alphabet
    for s in got:
        T.check(any(T.translit(w).lower().startswith("khachap")
                    for w in s["text"].replace("-", " ").split()),
                "%r does not match khachap" % s)


def test_cuisine_and_category():
    cui, n = PG.psql("SELECT c, count(*) FROM places, unnest(cuisines) c "
                     "GROUP BY c ORDER BY 2 DESC, 1 LIMIT 1")[0]
    got = suggest(text=cui[:3].upper(), limit=20)
    mine = [s for s in got if s["kind"] == "cuisine" and s["text"] == cui]
    T.check(mine, "cuisine %r not suggested for %r: %r"
            % (cui, cui[:3].upper(), got))
    T.check_eq(mine[0]["places"], int(n), "places of cuisine %r" % cui)
    cat, n = PG.psql("SELECT c, count(*) FROM places, unnest(categories) c "
                     "GROUP BY c ORDER BY 2 DESC, 1 LIMIT 1")[0]
    got = suggest(text=cat, limit=20)
    T.check_eq(got[0]["kind"], "category", "the whole category first: %r"
               % got[:3])
    T.check_eq((got[0]["text"], got[0]["places"]), (cat, int(n)),
               "category %r" % cat)


def test_several_words_and_cyrillic():
    name = PG.psql("SELECT name FROM places WHERE name ~ '^[A-Za-z]{4,} "
                   "[A-Za-z]{3,}$' ORDER BY id LIMIT 1")[0][0]
    w1, w2 = name.split()
    text = "%s %s" % (w1[:3].lower(), w2[:2].upper())
    got = suggest(text=text, limit=20)
    T.check(any(s["text"] == name for s in got), "%r not found by %r: %r"
            % (name, text, got))
    # words in another order still match (each word starts one of its)
    got = suggest(text="%s %s" % (w2[:3], w1[:3]), limit=20)
    T.check(any(s["text"] == name for s in got), "%r not found by its "
            "words swapped: %r" % (name, got))
    cyr = PG.psql("SELECT name FROM places WHERE name ~ '^Хачапур' "
                  "ORDER BY id LIMIT 1")
    if cyr:
        # both alphabets meet: хачап finds Хачапури... and Khachapuri...
        got = suggest(text="хачап", limit=20)
        T.check(any(s["text"] == cyr[0][0] for s in got),
                "Cyrillic prefix: %r" % got)
        T.check(any(s["text"].startswith("Khachap") for s in got),
                "the Latin spelling for a Cyrillic prefix: %r" % got)
        T.check(all(any(T.translit(w).lower().startswith("khachap")
                        for w in s["text"].replace("-", " ").split())
                    for s in got), "every suggestion matches: %r" % got)
        got = suggest(text="khachapur", limit=20)
        T.check(any(s["text"] == cyr[0][0] for s in got) or
                any(s["text"].startswith("Хачапур") for s in got),
                "the Cyrillic spelling for a Latin prefix: %r" % got)
    # accents folded: cafe finds Café
    got = suggest(text="cafe", limit=20)
    T.check(any("Café" in s["text"] for s in got), "cafe finds Café: %r"
            % got)


def test_whole_word_and_limit():
    got = suggest(text="pizza", limit=20)
    T.check(got, "nothing for pizza")
    for s in got:
        T.check(s["kind"] in ("place", "dish", "cuisine", "category"),
                "kind %r" % s)
    T.check_eq(len(suggest(text="a", limit=3)), 3, "limit 3 of a letter")
    T.check(len(suggest(text="a")) == 10, "10 by default")
    T.check_eq(suggest(text="zzqqxx"), [], "nothing starts with zzqqxx")


def test_wide_prefix_near_a_point():
    """A single letter at the city centre: the nearest matching places
    come from the walk near the point, each within reach."""
    got = suggest(text="s", lat=CITY[1], lon=CITY[2], limit=20)
    places = [s for s in got if s["kind"] == "place"]
    T.check(places, "no place for s near the centre: %r" % got)
    for s in places:
        T.check(any(w.lower().startswith("s") for w in s["text"].split()),
                "%r does not start a word with s" % s)
        T.check(s["distance_m"] < 50000, "within the walk's reach: %r" % s)


def test_refusals():
    refused(400, "text", "/v1/autocomplete")
    refused(400, "text", "/v1/autocomplete", text="")
    refused(400, "text", "/v1/autocomplete", text="!?.")
    refused(400, "text", "/v1/autocomplete", text="x" * 101)
    refused(400, "lon", "/v1/autocomplete", text="kha", lat=55.7)
    refused(400, "lat", "/v1/autocomplete", text="kha", lon=37.6)
    refused(400, "lat", "/v1/autocomplete", text="kha", lat=91, lon=0)
    refused(400, "limit", "/v1/autocomplete", text="kha", limit=0)
    refused(400, "limit", "/v1/autocomplete", text="kha", limit=21)
    st, _, body = D.get("/v1/autocomplete?text=%zz")
    T.check_eq(st, 400, "a bad %%-escape: %r" % body)
    refused(400, "city", "/v1/categories", city="Not A City")
    refused(404, "city", "/v1/categories", city="nowhere")
    refused(404, "city", "/v1/cuisines", city="nowhere")


# ---- tag counts ---------------------------------------------------------------

def sql_tags(col, city=None):
    where = "WHERE city_id = '%s'" % city if city else ""
    return [{"name": r[0], "places": int(r[1])} for r in PG.psql(
        "SELECT c, count(*) FROM places, unnest(%s) c %s GROUP BY c "
        "ORDER BY 2 DESC, 1" % (col, where))]


def test_tag_counts():
    for path, col in (("/v1/categories", "categories"),
                      ("/v1/cuisines", "cuisines")):
        st, _, doc = get(path)
        T.check_eq(st, 200, path)
        T.check_eq(doc, {"city": None, col: sql_tags(col)}, path)
        st, _, doc = get(path, city=CITY[0])
        T.check_eq(doc, {"city": CITY[0], col: sql_tags(col, CITY[0])},
                   "%s?city=%s" % (path, CITY[0]))


def test_changes_followed():
    """A place renamed and given a new category: the overlay's delta has
    it, the base's old version is hidden; the counts follow."""
    pid, name = PG.psql("SELECT id, name FROM places WHERE city_id = '%s' "
                        "ORDER BY id LIMIT 1" % CITY[0])[0]
    try:
        PG.psql("UPDATE places SET name = 'Zyxwv Quokka Bistro', "
                "categories = categories || '{quokkabar}' WHERE id = %s"
                % pid)
        T.wait_until(lambda: any(s["text"] == "Zyxwv Quokka Bistro"
                                 for s in suggest(text="zyxw quok")), 30,
                     "the renamed place suggested")
        T.check(not any(s["kind"] == "place" and s["text"] == name and
                        str(s.get("place_id")) == pid
                        for s in suggest(text=name, limit=20)),
                "the old name is still suggested for place %s" % pid)
        T.wait_until(lambda: get("/v1/categories", city=CITY[0])[2] ==
                     {"city": CITY[0], "categories":
                      sql_tags("categories", CITY[0])}, 30,
                     "the categories with the new one")
        got = suggest(text="quokkab")
        T.check_eq([(s["kind"], s["text"], s["places"]) for s in got
                    if s["kind"] == "category"],
                   [("category", "quokkabar", 1)], "the new category")
    finally:
        PG.psql("UPDATE places SET name = '%s', categories = "
                "array_remove(categories, 'quokkabar') WHERE id = %s"
                % (name.replace("'", "''"), pid))
    T.wait_until(lambda: get("/v1/categories")[2]["categories"] ==
                 sql_tags("categories"), 30, "the counts back")


def test_ranker_stopped():
    pid = [p for p, _ in D.rankers()][0]
    os.kill(pid, signal.SIGSTOP)
    try:
        T.wait_until(lambda: get("/v1/autocomplete", text="kha")[0] == 503,
                     30, "503 with the ranker stopped")
        hdrs, doc = refused(503, None, "/v1/cuisines")
        T.check_eq(doc["error"]["code"], "unavailable", "the code")
        T.check_eq(hdrs.get("retry-after"), "1", "Retry-After")
    finally:
        os.kill(pid, signal.SIGCONT)
    T.wait_until(lambda: get("/v1/autocomplete", text="kha")[0] == 200, 30,
                 "answers again")


if __name__ == "__main__":
    T.run_main([
        test_place_by_prefix_near_it,
        test_dish_counts_places,
        test_cuisine_and_category,
        test_several_words_and_cyrillic,
        test_whole_word_and_limit,
        test_wide_prefix_near_a_point,
        test_refusals,
        test_tag_counts,
        test_changes_followed,
        test_ranker_stopped,
    ], setup=setup)
