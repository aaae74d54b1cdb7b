#!/usr/bin/python3
"""The city read model behind POST /v1/digest, GET /v1/places/{id},
GET /v1/cities/{city}/places and GET /v1/cities, against the real placesd, a
real PostgreSQL and the demo events service: the same digests answered with
the read model on and off are the same bytes; concurrent misses for one key
run one build; a change (a place renamed, a menu item changed, an offer
added, updated or ended) shows in the next digests within a second and
never goes back to the older value; an offer leaves at its ends_at without
any notification; a failed query is not kept; a NOTIFY the model cannot
place drops what it holds; a lost LISTEN connection drops everything; a
small max_bytes bounds what is held, a flood of distinct list parameters
too; a place moved to another city, a new place and a new city show in
the lists and digests of exactly the cities they touch (places_city, of
005_notify_city.sql) while other cities stay held; with the database down,
held answers are served marked stale and others fail at once. Asserts on
answers and counters only.
"""

import http.client
import json
import os
import signal
import threading
import time

import placesd_test as T

PG = None
EV = None
ON = None           # read model on
OFF = None          # read model off (max_bytes = 0)
CITY = None
CITIES = None
CATEGORY = None
FRESH = 1.0         # a change shows within this, after its commit


def daemon(name, max_bytes, extra=None):
    conf = {"server": {"request_deadline": "5s"},
            "database": {"query_timeout": "2s"},
            "upstream": {"events_url": EV.url, "timeout": "2s"},
            "cache": {"max_bytes": max_bytes}}
    if extra:
        conf = T.merge_conf(conf, extra)
    return T.Daemon(workers=1, name=name, persistent=True, conf=conf)


def setup():
    global PG, EV, ON, OFF, CITY, CITIES, CATEGORY
    PG = T.shared_postgres()
    EV = T.EventsService()
    EV.persistent = True
    EV.start()
    ON = daemon("rm-on", "16m")
    OFF = daemon("rm-off", "0", {"cache": {"ttl": "0s"}})
    r = T.run([T.placesctl_path(), "-c", ON.conf_path, "seed", "--places",
               "400", "--seed", "7"], timeout=300)
    if r.returncode != 0:
        T.fail("placesctl seed: %s %s" % (r.stdout, r.stderr))
    ON.start()
    OFF.start()
    rows = PG.psql("SELECT city_id FROM places GROUP BY city_id "
                   "ORDER BY count(*) DESC, city_id")
    CITIES = [r[0] for r in rows]
    CITY = CITIES[0]
    CATEGORY = PG.psql("SELECT c FROM places, unnest(categories) c WHERE "
                       "city_id = '%s' GROUP BY c ORDER BY count(*) DESC, "
                       "c LIMIT 1" % CITY)[0][0]
    for d in (ON, OFF):
        T.wait_until(lambda: d.metric("placesd_offer_feed_up") == 1, 60,
                     "the offer feed of %s" % d.name)


def post(d, body, timeout=30):
    st, hdrs, raw = d.request("POST", "/v1/digest", headers={
        "Content-Type": "application/json"}, body=json.dumps(body),
        timeout=timeout)
    return st, raw


def body(city=None, **over):
    b = {"date": "2026-11-23", "city": city or CITY, "limit": 8}
    b.update(over)
    return b


def digest(d=None, **over):
    st, raw = post(d or ON, body(**over))
    T.check_eq(st, 200, "digest: %r" % raw[:300])
    doc = json.loads(raw)
    T.check_eq([e for e in doc["errors"] if e["source"] != "events"], [],
               "database errors")
    return doc


def hits():
    return ON.metric("placesd_readmodel_hits_total")


def kind_hits(kind):
    return ON.metric("placesd_readmodel_kind_hits_total", kind=kind)


def invalidations(cause):
    return ON.metric("placesd_readmodel_invalidations_total", cause=cause)


def watch_by(fetch, pred, what, within=FRESH):
    """fetch() until pred(its answer) holds (within the bound); from then
    on, 20 more must all still satisfy it: never an older value after a
    newer."""
    t0 = time.monotonic()
    while not pred(fetch()):
        T.check(time.monotonic() - t0 < within, "%s: not seen %.1f s after "
                "the commit" % (what, within))
        time.sleep(0.01)
    for _ in range(20):
        T.check(pred(fetch()), "%s: an older answer after the newer" % what)


def watch(pred, what, within=FRESH, **over):
    """Digests (of over), as watch_by()."""
    watch_by(lambda: digest(**over), pred, what, within)


def twice(**over):
    """The digest of over, twice: (the second answer, the hits before it,
    the hits after it)."""
    digest(**over)
    n = hits()
    doc = digest(**over)
    return doc, n, hits()


def warm(**over):
    """The digest of over, twice: built, then a hit."""
    doc, n, after = twice(**over)
    T.check_eq(after, n + 1, "a warm digest is a hit")
    return doc


def test_same_bytes_on_and_off():
    bodies = []
    for city in CITIES[:4]:
        bodies += [body(city), body(city, limit=1), body(city, limit=50),
                   body(city, categories=[CATEGORY]),
                   body(city, categories=[CATEGORY, "bar"], limit=3),
                   body(city, categories=["no-such-category"])]
    n = hits()
    k = kind_hits("digest")
    for rnd in range(3):        # cold, warm, warm
        for b in bodies:
            st_off, raw_off = post(OFF, b)
            st_on, raw_on = post(ON, b)
            T.check_eq(st_on, st_off, "status of %s" % b)
            T.check_eq(st_off, 200, "status of %s" % b)
            T.check(raw_on == raw_off, "round %d, %s: the read model's "
                    "answer differs:\n on: %r\noff: %r" % (rnd, b,
                                                          raw_on[:400],
                                                          raw_off[:400]))
    T.check(hits() - n >= 2 * len(bodies), "warm rounds were hits: %d"
            % (hits() - n))
    T.check_eq(kind_hits("digest") - k, hits() - n, "hits of kind digest")
    T.check_eq(OFF.metric("placesd_readmodel_hits_total"), 0,
               "hits with max_bytes = 0")
    st, _ = post(ON, body("no-such-city"))
    T.check_eq(st, 404, "unknown city")
    st, _ = post(ON, body("no-such-city"))
    T.check_eq(st, 404, "unknown city, again")


def single_flight(call, query):
    """Six concurrent misses of one key while its build (a query with
    query in its text) waits on a lock: one build runs, five wait for it,
    and all six get the same 200."""
    waits = ON.metric("placesd_readmodel_waits_total")
    out = []
    lock = PG.lock(["places"])
    threads = []
    try:
        for _ in range(6):
            t = threading.Thread(target=lambda: out.append(call()),
                                 daemon=True)
            t.start()
            threads.append(t)
        T.wait_until(lambda: PG.waiting_queries(query) >= 1, 30,
                     "the build to wait on the lock")
        T.wait_until(lambda: ON.metric("placesd_readmodel_waits_total") -
                     waits >= 5, 30, "the other misses to wait")
        T.check_eq(PG.waiting_queries(query), 1, "builds running")
    finally:
        lock.release()
    for t in threads:
        t.join(30)
    T.check_eq(len(out), 6, "answers")
    T.check_eq({st for st, _ in out}, {200}, "statuses")
    T.check_eq(len({raw for _, raw in out}), 1, "distinct answers")


def test_single_flight():
    key = {"categories": [CATEGORY], "limit": 7}
    single_flight(lambda: post(ON, body(**key)), "json_agg")


def test_failed_query_not_kept():
    key = {"categories": [CATEGORY], "limit": 4}
    lock = PG.lock(["places"])
    try:
        st, raw = post(ON, body(**key))     # query_timeout: 2s
    finally:
        lock.release()
    T.check_eq(st, 200, "digest with places locked")
    doc = json.loads(raw)
    T.check([e for e in doc["errors"] if e["source"] == "places"],
            "a places error: %s" % doc["errors"])
    doc = digest(**key)
    T.check(doc["places"], "places after the lock")


def first_place(doc):
    return doc["places"][0]["id"]


def test_place_renamed():
    doc = warm()
    pid = first_place(doc)
    for i in range(3):
        name = "Renamed %d %f" % (i, time.time())
        PG.psql("UPDATE places SET name = '%s' WHERE id = %d" % (name, pid))
        watch(lambda d: any(p["id"] == pid and p["name"] == name
                            for p in d["places"]), "rename %d" % i)
    T.check(invalidations("place") >= 3, "place invalidations counted")


def test_menu_item_changed():
    doc = warm()
    T.check(doc["menu_items"], "menu items in the digest")
    mid = doc["menu_items"][0]["id"]
    price = doc["menu_items"][0]["price_cents"] + 17
    PG.psql("UPDATE menu_items SET price_cents = %d WHERE id = %d"
            % (price, mid))
    watch(lambda d: any(m["id"] == mid and m["price_cents"] == price
                        for m in d["menu_items"]), "menu item price")


def publish(pid, starts, ends):
    return json.loads(PG.psql(
        "SELECT placesd_publish_offer(%d, 'rm test', '', 10, %s, %s)"
        % (pid, starts, ends))[0][0])


def test_offer_added_updated_ended():
    doc = warm()
    pid = first_place(doc)
    n = invalidations("offer")
    o = publish(pid, "now() - interval '1 minute'", "now() + interval '1 hour'")
    watch(lambda d: any(x["id"] == o["id"] for x in d["offers"]),
          "a new offer")
    T.check(invalidations("offer") > n, "offer invalidations counted")
    PG.psql("UPDATE offers SET title = 'rm retitled' WHERE id = %d" % o["id"])
    watch(lambda d: any(x["id"] == o["id"] and x["title"] == "rm retitled"
                        for x in d["offers"]), "a retitled offer")
    PG.psql("UPDATE offers SET ends_at = now() WHERE id = %d" % o["id"])
    watch(lambda d: all(x["id"] != o["id"] for x in d["offers"]),
          "an offer ended by hand")


def test_offer_leaves_at_its_end():
    doc = warm()
    pid = first_place(doc)
    o = publish(pid, "now() - interval '1 minute'", "now() + interval '2 s'")
    watch(lambda d: any(x["id"] == o["id"] for x in d["offers"]),
          "a short offer")
    n = invalidations("offer_time")
    # no notification comes when it ends: the answer knows its end
    deadline = time.monotonic() + 10
    while any(x["id"] == o["id"] for x in digest()["offers"]):
        T.check(time.monotonic() < deadline, "the short offer never left")
        time.sleep(0.05)
    T.check(invalidations("offer_time") > n, "ended by its time")
    watch(lambda d: all(x["id"] != o["id"] for x in d["offers"]),
          "an offer past its end")
    # one starting later shows when it starts
    o = publish(pid, "now() + interval '1 s'", "now() + interval '1 hour'")
    doc = digest()
    T.check(all(x["id"] != o["id"] for x in doc["offers"]),
            "an offer before its start")
    watch(lambda d: any(x["id"] == o["id"] for x in d["offers"]),
          "an offer at its start", within=FRESH + 2)


def test_unparsable_and_unknown_notifications():
    warm()
    n = invalidations("bad_payload")
    PG.psql("NOTIFY places_changed, 'not-a-place'")
    T.wait_until(lambda: invalidations("bad_payload") > n, 10,
                 "the bad payload to drop the model")
    T.check("not-a-place" in ON.log_text(), "the bad payload is logged")
    warm()
    n = invalidations("unknown_place")
    PG.psql("NOTIFY places_changed, 'all'")
    T.wait_until(lambda: invalidations("unknown_place") > n, 10,
                 "'all' to drop the model")
    warm()
    n = invalidations("bad_payload")
    PG.psql("NOTIFY places_city, 'not a move'")
    T.wait_until(lambda: invalidations("bad_payload") > n, 10,
                 "a bad places_city payload to drop the model")
    T.check("not a move" in ON.log_text(), "the bad payload is logged")
    warm()
    n = invalidations("place_city")
    u = invalidations("unknown_place")
    row = PG.psql("INSERT INTO places (city_id, name, lat, lon, rating, "
                  "categories) SELECT city_id, 'rm new place', lat, lon, 5.0, "
                  "categories FROM places WHERE city_id = '%s' ORDER BY id "
                  "LIMIT 1 RETURNING id" % CITY)
    new = int(row[0][0])
    T.wait_until(lambda: invalidations("place_city") > n, 10,
                 "a new place to drop its city")
    watch(lambda d: any(p["id"] == new for p in d["places"]), "a new place")
    T.check_eq(invalidations("unknown_place"), u, "a new place drops no "
               "city but its own")
    PG.psql("DELETE FROM places WHERE id = %d" % new)
    watch(lambda d: all(p["id"] != new for p in d["places"]),
          "a deleted place")


def test_feed_lost_drops_everything():
    warm()
    T.check(ON.metric("placesd_readmodel_bytes") > 0, "bytes held")
    n = invalidations("feed_lost")
    PG.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
            "application_name = 'placesd offer feed'")
    T.wait_until(lambda: invalidations("feed_lost") > n, 10,
                 "the lost feed to drop the model")
    T.wait_until(lambda: ON.metric("placesd_offer_feed_up") == 2 or
                 ON.metric("placesd_offer_feed_up") == 1, 30, "feed back")
    T.wait_until(lambda: (digest(), digest(), hits())[2] > 0, 10,
                 "hits again")
    warm()


def place(d, pid):
    st, hdrs, raw = d.request("GET", "/v1/places/%d" % pid)
    return st, raw


def place_doc(pid):
    st, raw = place(ON, pid)
    T.check_eq(st, 200, "place %d" % pid)
    return json.loads(raw)


def watch_place(pid, pred, what, within=FRESH):
    """As watch(), for GET /v1/places/{pid}."""
    watch_by(lambda: place_doc(pid), pred, what, within)


def test_places_by_id():
    ids = [int(r[0]) for r in PG.psql("SELECT id FROM places ORDER BY id "
                                      "LIMIT 12")]
    n = hits()
    for rnd in range(3):
        for pid in ids + [999999999]:
            st_off, raw_off = place(OFF, pid)
            st_on, raw_on = place(ON, pid)
            T.check_eq(st_on, st_off, "status of place %d" % pid)
            T.check(raw_on == raw_off, "round %d, place %d differs:\n on: "
                    "%r\noff: %r" % (rnd, pid, raw_on[:300], raw_off[:300]))
    T.check(hits() - n >= 2 * len(ids), "warm places were hits")
    pid = ids[0]
    name = "Place renamed %f" % time.time()
    PG.psql("UPDATE places SET name = '%s' WHERE id = %d" % (name, pid))
    watch_place(pid, lambda d: d["name"] == name, "a renamed place")
    place_doc(pid)
    o = publish(pid, "now() - interval '1 minute'", "now() + interval '2 s'")
    watch_place(pid, lambda d: any(x["id"] == o["id"] for x in d["offers"]),
                "a new offer of the place")
    watch_place(pid, lambda d: all(x["id"] != o["id"] for x in d["offers"]),
                "the offer past its end", within=FRESH + 3)


def header(hdrs, name):
    for k, v in (hdrs.items() if hasattr(hdrs, "items") else hdrs):
        if k.lower() == name.lower():
            return v
    return None


def test_place_etag():
    """GET /v1/places/{id} carries an ETag that names its bytes, the same
    with the model on and off; If-None-Match with it (or W/ it, in a
    list, or *) is 304 without a body, another tag is the answer; after a
    change the tag is new and the old one gets the answer again."""
    pid = int(PG.psql("SELECT id FROM places ORDER BY id LIMIT 1 OFFSET 3")
              [0][0])
    tags = {}
    for d in (ON, OFF):
        for _ in range(2):      # a miss, then a hit
            st, hdrs, body = d.get("/v1/places/%d" % pid)
            T.check_eq(st, 200, "place %d" % pid)
            tags.setdefault(d.name, set()).add(header(hdrs, "ETag"))
    T.check(len(tags[ON.name]) == 1 and tags[ON.name] == tags[OFF.name],
            "one tag, on and off: %r" % tags)
    tag = tags[ON.name].pop()
    T.check(tag is not None and tag.startswith('"') and tag.endswith('"'),
            "a strong tag: %r" % tag)
    for d in (ON, OFF):
        for inm in (tag, "W/" + tag, '"x", ' + tag, "*"):
            st, hdrs, body = d.get("/v1/places/%d" % pid,
                                   headers={"If-None-Match": inm})
            T.check_eq((st, body, header(hdrs, "ETag")), (304, b"", tag),
                       "If-None-Match: %s (%s)" % (inm, d.name))
        st, _, body = d.get("/v1/places/%d" % pid,
                            headers={"If-None-Match": '"other"'})
        T.check(st == 200 and body, "another tag gets the answer")
    # on one keep-alive connection: a 304 has no body, so the next answer
    # follows it at once
    c = http.client.HTTPConnection(ON.host, ON.port, timeout=10)
    try:
        for inm, want in ((tag, 304), (None, 200), (tag, 304)):
            c.request("GET", "/v1/places/%d" % pid,
                      headers={"If-None-Match": inm} if inm else {})
            r = c.getresponse()
            body = r.read()
            T.check_eq((r.status, bool(body)), (want, want == 200),
                       "keep-alive answer to If-None-Match %r" % inm)
            T.check(r.getheader("Content-Length") in (None, "0") or
                    want == 200, "a 304's Content-Length: %r"
                    % r.getheader("Content-Length"))
    finally:
        c.close()
    PG.psql("UPDATE places SET name = name || ' Etagged' WHERE id = %d" % pid)
    watch_place(pid, lambda doc: doc["name"].endswith(" Etagged"),
                "the renamed place")
    st, hdrs, body = ON.get("/v1/places/%d" % pid,
                            headers={"If-None-Match": tag})
    T.check(st == 200 and header(hdrs, "ETag") not in (None, tag),
            "a changed place: %d, tag %r after %r"
            % (st, header(hdrs, "ETag"), tag))


def cache_status(hdrs):
    for k, v in (hdrs.items() if hasattr(hdrs, "items") else hdrs):
        if k.lower() == "cache-status":
            return v
    return None


def test_database_down_serves_stale():
    doc = warm()
    pid = first_place(doc)
    place_doc(pid)
    place_doc(pid)
    _, raw_digest = post(ON, body())
    _, raw_place = place(ON, pid)
    other = int(PG.psql("SELECT max(id) FROM places")[0][0])
    lpath = "/v1/cities/%s/places?limit=13" % CITY
    _, raw_list = get(ON, lpath)
    _, raw_list = get(ON, lpath)
    _, raw_cities = get(ON, "/v1/cities")
    _, raw_cities = get(ON, "/v1/cities")
    n = ON.metric("placesd_readmodel_stale_total")
    PG.stop()
    try:
        T.wait_until(lambda: ON.metric("placesd_pg_up") == 0 and
                     ON.metric("placesd_offer_feed_up") == 0, 30,
                     "the worker to see the database gone")
        st, hdrs, raw = ON.request("POST", "/v1/digest", headers={
            "Content-Type": "application/json"}, body=json.dumps(body()))
        T.check_eq(st, 200, "a held digest, database down")
        T.check_eq(cache_status(hdrs), "placesd; hit; detail=stale",
                   "its Cache-Status")
        T.check(raw == raw_digest, "the held digest changed: %r" % raw[:300])
        st, hdrs, raw = ON.request("GET", "/v1/places/%d" % pid)
        T.check_eq(st, 200, "a held place, database down")
        T.check_eq(cache_status(hdrs), "placesd; hit; detail=stale",
                   "its Cache-Status")
        T.check(raw == raw_place, "the held place changed")
        for path, held in ((lpath, raw_list), ("/v1/cities", raw_cities)):
            st, hdrs, raw = ON.request("GET", path)
            T.check_eq(st, 200, "a held %s, database down" % path)
            T.check_eq(cache_status(hdrs), "placesd; hit; detail=stale",
                       "its Cache-Status")
            T.check(raw == held, "the held %s changed" % path)
        st, hdrs, raw = ON.request("GET", lpath + "&max_price=1")
        T.check_eq(st, 503, "a list not held, database down")
        st, hdrs, raw = ON.request("GET", "/v1/places/%d" % other)
        T.check_eq(st, 503, "a place not held, database down")
        st, raw = post(ON, body(limit=2, categories=["no-such-category"]))
        T.check_eq(st, 200, "a digest not held, database down")
        T.check([e for e in json.loads(raw)["errors"]
                 if e["source"] == "places"], "its places error")
        T.check(ON.metric("placesd_readmodel_stale_total") >= n + 4,
                "stale answers counted")
    finally:
        PG.start()
    T.wait_until(lambda: ON.metric("placesd_offer_feed_up") == 1 and
                 OFF.metric("placesd_offer_feed_up") == 1, 60, "feeds back")
    T.wait_until(lambda: (digest(), digest(), hits())[2] > 0, 30,
                 "digests from the database again")
    st, hdrs, raw = ON.request("POST", "/v1/digest", headers={
        "Content-Type": "application/json"}, body=json.dumps(body()))
    T.check_eq(cache_status(hdrs), None, "Cache-Status once the feed is back")


def warm_settled(what):
    """warm(), once the read model keeps answers again: after the feed
    reconnects it catches up first, and until then the model holds
    nothing (the test before this one ends with such a reconnect)."""
    def hit():
        _, n, after = twice()
        return after == n + 1
    T.wait_until(hit, 30, what)


def test_killed_worker_holds_nothing():
    warm_settled("the read model to keep a digest once the feed caught up")
    T.check(ON.metric("placesd_readmodel_bytes") > 0, "bytes held")
    old = ON.workers()
    T.check_eq(len(old), 1, "workers")
    os.kill(old[0][0], signal.SIGKILL)
    T.wait_until(lambda: ON.workers() and ON.workers() != old and
                 ON.metric("placesd_offer_feed_up") == 1, 30,
                 "the worker respawned")
    T.check_eq(ON.metric("placesd_readmodel_bytes"), 0,
               "bytes of a fresh worker")
    warm_settled("the fresh worker's read model to keep a digest")
    T.check(ON.metric("placesd_readmodel_bytes") > 0, "bytes held again")


# ---- city lists and the list of cities -------------------------------------

def get(d, path):
    st, hdrs, raw = d.request("GET", path)
    return st, raw


def get_doc(path, d=None):
    st, raw = get(d or ON, path)
    T.check_eq(st, 200, "GET %s: %r" % (path, raw[:300]))
    return json.loads(raw)


def watch_get(path, pred, what, within=FRESH):
    """As watch(), for a GET."""
    watch_by(lambda: get_doc(path), pred, what, within)


def warm_get(path):
    """path twice: built, then a hit."""
    get_doc(path)
    n = hits()
    doc = get_doc(path)
    T.check_eq(hits(), n + 1, "a warm GET %s is a hit" % path)
    return doc


def list_paths(city):
    base = "/v1/cities/%s/places" % city
    paths = [base, base + "?limit=1", base + "?limit=100",
             base + "?category=%s" % CATEGORY,
             base + "?category=%s,bar&limit=3" % CATEGORY,
             base + "?min_rating=4&limit=7", base + "?max_price=2",
             base + "?cuisine=no_such_cuisine"]
    doc = get_doc(base + "?limit=5", OFF)
    if doc["next"]:
        paths.append(base + "?limit=5&after=" + doc["next"])
    return paths


def test_lists_same_bytes_on_and_off():
    paths = ["/v1/cities"]
    for city in CITIES[:4]:
        paths += list_paths(city)
    n = hits()
    k = {kind: kind_hits(kind) for kind in ("list", "cities")}
    for rnd in range(3):        # cold, warm, warm
        for path in paths:
            st_off, raw_off = get(OFF, path)
            st_on, raw_on = get(ON, path)
            T.check_eq(st_off, 200, "status of %s" % path)
            T.check_eq(st_on, st_off, "status of %s" % path)
            T.check(raw_on == raw_off, "round %d, %s: the read model's "
                    "answer differs:\n on: %r\noff: %r" % (rnd, path,
                                                          raw_on[:400],
                                                          raw_off[:400]))
    T.check(hits() - n >= 2 * len(paths), "warm rounds were hits: %d"
            % (hits() - n))
    T.check_eq(kind_hits("cities") - k["cities"], 2, "hits of kind cities")
    T.check_eq(kind_hits("list") - k["list"], hits() - n - 2,
               "hits of kind list")
    for path in ("/v1/cities/no-such-city/places",) * 2:
        T.check_eq(get(ON, path)[0], 404, "unknown city")
    T.check_eq(get(ON, "/v1/cities/%s/places?after=bad" % CITY)[0], 400,
               "a bad cursor")


def test_list_single_flight():
    path = "/v1/cities/%s/places?limit=9&category=%s" % (CITY, CATEGORY)
    single_flight(lambda: get(ON, path), "array_agg")


def test_list_failed_query_not_kept():
    path = "/v1/cities/%s/places?limit=11" % CITY
    lock = PG.lock(["places"])
    try:
        st, _ = get(ON, path)           # query_timeout: 2s
    finally:
        lock.release()
    T.check_eq(st, 504, "a list with places locked")
    n = ON.metric("placesd_readmodel_misses_total")
    T.check(get_doc(path)["places"], "places after the lock")
    T.check_eq(ON.metric("placesd_readmodel_misses_total"), n + 1,
               "the failed read was not kept")


def in_list(doc, pid):
    return any(p["id"] == pid for p in doc["places"])


def count_of(doc, city):
    return [c["places"] for c in doc["cities"] if c["id"] == city]


def test_list_place_changes():
    path = "/v1/cities/%s/places?limit=100" % CITY
    pid = warm_get(path)["places"][0]["id"]
    name = "List renamed %f" % time.time()
    PG.psql("UPDATE places SET name = '%s' WHERE id = %d" % (name, pid))
    watch_get(path, lambda d: any(p["id"] == pid and p["name"] == name
                                  for p in d["places"]), "a renamed place")
    # a new offer shows in digests only: the list stays held
    warm_get(path)
    publish(pid, "now() - interval '1 minute'", "now() + interval '1 hour'")
    watch(lambda d: any(x["place_id"] == pid for x in d["offers"]),
          "the new offer in the digest")
    n = hits()
    get_doc(path)
    T.check_eq(hits(), n + 1, "a new offer leaves the list held")


def test_menu_and_offer_changes_keep_lists():
    """A menu item or an offer changed (007_notify_part.sql: places_changed
    "<id> menu_items" / "<id> offers") shows in the next digests while the
    city's lists, which show neither, stay held; a part the model does
    not know drops everything and is logged."""
    path = "/v1/cities/%s/places?limit=100" % CITY
    doc = warm()
    T.check(doc["menu_items"], "menu items in the digest")
    mid = doc["menu_items"][0]["id"]
    price = doc["menu_items"][0]["price_cents"] + 13
    warm_get(path)
    PG.psql("UPDATE menu_items SET price_cents = %d WHERE id = %d"
            % (price, mid))
    watch(lambda d: any(m["id"] == mid and m["price_cents"] == price
                        for m in d["menu_items"]), "menu item price")
    n = kind_hits("list")
    get_doc(path)
    T.check_eq(kind_hits("list"), n + 1, "a menu change leaves the list held")
    pid = first_place(doc)
    o = publish(pid, "now() - interval '1 minute'", "now() + interval '1 hour'")
    watch(lambda d: any(x["id"] == o["id"] for x in d["offers"]),
          "the new offer")
    warm_get(path)
    title = "retitled %f" % time.time()
    PG.psql("UPDATE offers SET title = '%s' WHERE id = %d" % (title, o["id"]))
    watch(lambda d: any(x["id"] == o["id"] and x["title"] == title
                        for x in d["offers"]), "the retitled offer")
    n = kind_hits("list")
    get_doc(path)
    T.check_eq(kind_hits("list"), n + 1, "an offer change leaves the list "
               "held")
    n = invalidations("bad_payload")
    PG.psql("NOTIFY places_changed, '%d tables'" % pid)
    T.wait_until(lambda: invalidations("bad_payload") > n, 10,
                 "an unknown part to drop the model")
    T.check("%d tables" % pid in ON.log_text(), "the bad part is logged")


def nearby_path():
    lat, lon = PG.psql("SELECT lat, lon FROM places WHERE city_id = '%s' "
                       "ORDER BY id LIMIT 1" % CITY)[0]
    return "/v1/nearby?lat=%s&lon=%s&radius_m=8000&limit=20" % (lat, lon)


def ranked_doc(d, path):
    """A ranked (not degraded) answer of d, once its ranker has loaded."""
    T.wait_until(lambda: not get_doc(path, d)["degraded"], 60,
                 "a ranked answer from %s" % d.name)
    return get_doc(path, d)


def test_nearby_cards():
    """/v1/nearby's places come from the read model's place cards: the same
    answer with the model on and off; a warm answer reads every card from
    the model (kind "card"); a renamed place shows renamed at once after
    the notification; a menu change keeps the cards."""
    path = nearby_path()
    ranked_doc(ON, path)
    T.wait_until(lambda: ranked_doc(ON, path) == ranked_doc(OFF, path), 10,
                 "the same nearby answer with the read model on and off")
    n = kind_hits("card")
    doc = get_doc(path)
    T.check(len(doc["results"]) >= 2, "results near %s" % CITY)
    T.check_eq(kind_hits("card") - n, len(doc["results"]),
               "every card of a warm answer is a hit")
    pid = doc["results"][1]["place"]["id"]
    name = "Card %f" % time.time()
    PG.psql("UPDATE places SET name = '%s' WHERE id = %d" % (name, pid))
    watch_get(path, lambda d: any(r["place"]["id"] == pid and
                                  r["place"]["name"] == name
                                  for r in d["results"]), "renamed card")
    T.check(invalidations("place") >= 1, "the card's invalidation counted")
    ids = ",".join(str(r["place"]["id"]) for r in doc["results"])
    pid, mid, price = (int(x) for x in PG.psql(
        "SELECT place_id, id, price_cents + 1 FROM menu_items WHERE "
        "place_id IN (%s) ORDER BY id LIMIT 1" % ids)[0])
    get_doc(path)
    PG.psql("UPDATE menu_items SET price_cents = %d WHERE id = %d"
            % (price, mid))
    watch_place(pid, lambda d: any(m["id"] == mid and
                                   m["price_cents"] == price
                                   for m in d["menu"]), "the menu change")
    n = kind_hits("card")
    doc = get_doc(path)
    T.check_eq(kind_hits("card") - n, len(doc["results"]),
               "a menu change keeps the cards")


def test_place_moved_and_new():
    a, b, c = CITIES[0], CITIES[1], CITIES[2]
    la = "/v1/cities/%s/places?min_rating=5&limit=100" % a
    lb = "/v1/cities/%s/places?min_rating=5&limit=100" % b
    lc = "/v1/cities/%s/places?limit=100" % c
    pid = int(PG.psql("SELECT id FROM places WHERE city_id = '%s' ORDER BY "
                      "id LIMIT 1" % a)[0][0])
    PG.psql("UPDATE places SET rating = 5.0 WHERE id = %d" % pid)
    watch_get(la, lambda d: in_list(d, pid), "a place rated 5")
    watch(lambda d: any(p["id"] == pid for p in d["places"]),
          "a place rated 5 in the digest", city=a, limit=50)
    cities = get_doc("/v1/cities")
    for path in (la, lb, lc, "/v1/cities"):
        warm_get(path)
    for city in (a, b, c):
        warm(city=city, limit=50)
    n = invalidations("place_city")
    PG.psql("UPDATE places SET city_id = '%s' WHERE id = %d" % (b, pid))
    T.wait_until(lambda: invalidations("place_city") > n, 10,
                 "the move to be heard")
    watch_get(lb, lambda d: in_list(d, pid), "the moved place in its "
              "new city's list")
    watch_get(la, lambda d: not in_list(d, pid), "the moved place gone "
              "from its old city's list")
    watch(lambda d: any(p["id"] == pid for p in d["places"]),
          "the moved place in its new city's digest", city=b, limit=50)
    T.check(all(p["id"] != pid for p in digest(city=a, limit=50)["places"]),
            "the moved place gone from its old city's digest")
    watch_get("/v1/cities", lambda d: count_of(d, b) == [
        count_of(cities, b)[0] + 1] and count_of(d, a) == [
        count_of(cities, a)[0] - 1], "the counts of the move")
    # a city the move did not touch stayed held
    n = hits()
    get_doc(lc)
    digest(city=c, limit=50)
    T.check_eq(hits(), n + 2, "an unrelated city stays held")
    # a new place of city c: in its list and count, and city b stays held
    get_doc(lb)
    row = PG.psql("INSERT INTO places (city_id, name, lat, lon, rating) "
                  "SELECT '%s', 'rm new in list', lat, lon, 5.0 FROM places "
                  "WHERE city_id = '%s' LIMIT 1 RETURNING id" % (c, c))
    new = int(row[0][0])
    watch_get(lc, lambda d: in_list(d, new), "a new place in its city's "
              "list")
    n = hits()
    get_doc(lb)
    T.check_eq(hits(), n + 1, "a new place leaves other cities held")
    watch_get("/v1/cities", lambda d: count_of(d, c) == [
        count_of(cities, c)[0] + 1], "the count of a new place")
    PG.psql("DELETE FROM places WHERE id = %d" % new)
    watch_get(lc, lambda d: not in_list(d, new), "a deleted place")
    PG.psql("UPDATE places SET city_id = '%s' WHERE id = %d" % (a, pid))
    watch_get(la, lambda d: in_list(d, pid), "the place moved back")


def test_city_rows_change():
    warm_get("/v1/cities")
    PG.psql("INSERT INTO cities (id, name, country, lat, lon, timezone) "
            "VALUES ('rm-new-city', 'RM New City', 'XX', 1, 2, 'UTC')")
    try:
        watch_get("/v1/cities", lambda d: count_of(d, "rm-new-city") == [0],
                  "a new city")
        doc = get_doc("/v1/cities/rm-new-city/places")
        T.check_eq(doc, {"places": [], "total": 0, "total_exact": True,
                         "next": None}, "a new city's list")
        PG.psql("UPDATE cities SET name = 'RM Renamed' WHERE id = "
                "'rm-new-city'")
        watch_get("/v1/cities", lambda d: any(
            x["id"] == "rm-new-city" and x["name"] == "RM Renamed"
            for x in d["cities"]), "a renamed city")
    finally:
        PG.psql("DELETE FROM cities WHERE id = 'rm-new-city'")
    watch_get("/v1/cities", lambda d: count_of(d, "rm-new-city") == [],
              "a deleted city")
    T.check_eq(get(ON, "/v1/cities/rm-new-city/places")[0], 404,
               "a deleted city's list")


def restart_feeds():
    """The feeds of ON and OFF on new connections, each past its first
    high-water query (which says whether places_city is announced)."""
    feeds = ("SELECT pid FROM pg_stat_activity WHERE application_name = "
             "'placesd offer feed'")
    old = {r[0] for r in PG.psql(feeds)}
    PG.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
            "application_name = 'placesd offer feed'")

    def settled():
        rows = PG.psql(feeds + " AND state = 'idle' AND query LIKE "
                       "'%to_regprocedure%'")
        return len(rows) == 2 and not {r[0] for r in rows} & old
    T.wait_until(settled, 30, "the feeds back")
    T.wait_until(lambda: ON.metric("placesd_offer_feed_up") == 1 and
                 OFF.metric("placesd_offer_feed_up") == 1 and
                 (digest(), digest(), hits())[2] > 0, 30, "feeds back")


def test_without_places_city():
    """A database without 005's notifications: a new place drops every
    city, the list of cities is not held."""
    PG.psql("DROP FUNCTION placesd_notify_place_city() CASCADE; "
            "DROP FUNCTION placesd_notify_city() CASCADE")
    try:
        restart_feeds()
        other = "/v1/cities/%s/places" % CITIES[1]
        warm()
        warm_get(other)
        n = hits()
        get_doc("/v1/cities")
        get_doc("/v1/cities")
        T.check_eq(hits(), n, "the list of cities from the model")
        u = invalidations("unknown_place")
        row = PG.psql("INSERT INTO places (city_id, name, lat, lon, rating) "
                      "SELECT city_id, 'rm unannounced', lat, lon, 5.0 FROM "
                      "places WHERE city_id = '%s' LIMIT 1 RETURNING id"
                      % CITY)
        new = int(row[0][0])
        T.wait_until(lambda: invalidations("unknown_place") > u, 10,
                     "a new place to drop every city")
        watch(lambda d: any(p["id"] == new for p in d["places"]),
              "an unannounced new place")
        PG.psql("DELETE FROM places WHERE id = %d" % new)
    finally:
        with open(os.path.join(os.environ.get("SQL_DIR") or os.path.join(
                os.environ.get("top_srcdir", "."), "src", "sql"),
                "005_notify_city.sql")) as f:
            PG.psql(f.read())
    restart_feeds()
    warm_get("/v1/cities")


def test_cities_ttl_cache_dropped():
    """The read model off, the TTL cache on: a new place still shows in
    GET /v1/cities at once, not at the cache's ttl."""
    d = daemon("rm-ttl", "0", {"cache": {"ttl": "1h"}}).start()
    try:
        T.wait_until(lambda: d.metric("placesd_offer_feed_up") == 1, 60,
                     "the offer feed")
        before = get_doc("/v1/cities", d)
        get_doc("/v1/cities", d)
        row = PG.psql("INSERT INTO places (city_id, name, lat, lon) SELECT "
                      "city_id, 'rm ttl', lat, lon FROM places WHERE "
                      "city_id = '%s' LIMIT 1 RETURNING id" % CITY)
        new = int(row[0][0])
        want = [count_of(before, CITY)[0] + 1]
        t0 = time.monotonic()
        while count_of(get_doc("/v1/cities", d), CITY) != want:
            T.check(time.monotonic() - t0 < FRESH, "the new count not seen "
                    "%.1f s after the commit" % FRESH)
            time.sleep(0.01)
        PG.psql("DELETE FROM places WHERE id = %d" % new)
    finally:
        d.stop()


def test_lists_flood_bounded():
    d = daemon("rm-lists", "24k").start()
    try:
        T.wait_until(lambda: d.metric("placesd_offer_feed_up") == 1, 60,
                     "the offer feed")
        for city in CITIES:
            for lim in range(1, 30, 3):
                path = "/v1/cities/%s/places?limit=%d" % (city, lim)
                st, raw = get(d, path)
                T.check_eq(st, 200, path)
                T.check(raw == get(OFF, path)[1], "same bytes under "
                        "eviction: %s" % path)
                T.check(d.metric("placesd_readmodel_bytes") <= 24 * 1024,
                        "held %d bytes" % d.metric("placesd_readmodel_bytes"))
        T.check(d.metric("placesd_readmodel_evictions_total") > 0,
                "evictions")
    finally:
        d.stop()


def test_bounded_by_max_bytes():
    d = daemon("rm-small", "24k").start()
    try:
        T.wait_until(lambda: d.metric("placesd_offer_feed_up") == 1, 60,
                     "the offer feed")
        for city in CITIES:
            for lim in (5, 20, 50):
                st, raw = post(d, body(city, limit=lim))
                T.check_eq(st, 200, "digest")
                st2, raw2 = post(OFF, body(city, limit=lim))
                T.check(raw == raw2, "same bytes under eviction")
                T.check(d.metric("placesd_readmodel_bytes") <= 24 * 1024,
                        "held %d bytes" % d.metric("placesd_readmodel_bytes"))
        T.check(d.metric("placesd_readmodel_evictions_total") > 0,
                "evictions")
    finally:
        d.stop()


if __name__ == "__main__":
    T.run_main([
        test_same_bytes_on_and_off,
        test_single_flight,
        test_failed_query_not_kept,
        test_place_renamed,
        test_menu_item_changed,
        test_offer_added_updated_ended,
        test_offer_leaves_at_its_end,
        test_unparsable_and_unknown_notifications,
        test_feed_lost_drops_everything,
        test_places_by_id,
        test_place_etag,
        test_lists_same_bytes_on_and_off,
        test_list_single_flight,
        test_list_failed_query_not_kept,
        test_list_place_changes,
        test_menu_and_offer_changes_keep_lists,
        test_nearby_cards,
        test_place_moved_and_new,
        test_city_rows_change,
        test_without_places_city,
        test_cities_ttl_cache_dropped,
        test_lists_flood_bounded,
        test_database_down_serves_stale,
        test_killed_worker_holds_nothing,
        test_bounded_by_max_bytes,
    ], setup=setup)
