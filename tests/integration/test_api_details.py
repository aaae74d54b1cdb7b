#!/usr/bin/python3
"""The API details of issue #20, over real sockets against the real daemon,
a real PostgreSQL and the real placesd-events service: an unknown city on
GET /v1/offers and on the offer stream is a 404 naming city (the stream
refuses before its head, with the read model on and off); POST /v1/offers
answers 201 with a Location that GET /v1/offers/{id} answers with the
same offer; every offer that cannot be is a 400 naming its field (no 422
is left); a null description stays null in every answer that carries an
offer; every JSON answer of every route is compact (the raw bytes are
walked: no whitespace outside strings); a query parameter given twice,
however it is spelt, is a 400 naming it on every route; and the digest
reads the venues its events name, drops and counts the events of other
cities and of no place, and says in errors when it could not read them.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import tempfile
import time
import urllib.parse

import placesd_test as T

PG = None
EV = None
D = None            # read model on (the default [cache])
D_OFF = None        # read model off: [cache] max_bytes = 0
TOKEN = "s3cret-token-for-tests-0123456789"
TOKDIR = None
CITY = None
DEADLINE = 3.0      # [server] request_deadline of D
DATE = "2026-11-23"


def setup():
    global PG, EV, D, D_OFF, TOKDIR, CITY
    PG = T.shared_postgres()
    TOKDIR = tempfile.mkdtemp(prefix="placesd-tok-")
    os.chmod(TOKDIR, 0o755)
    tok = os.path.join(TOKDIR, "token")
    with open(tok, "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(tok, 0o600)
    EV = T.EventsService()
    EV.persistent = True
    EV.start()
    conf = {"server": {"request_deadline": "%ds" % DEADLINE},
            "offers": {"admin_token_file": tok, "heartbeat": "1s",
                       "retry": "200ms"},
            "upstream": {"events_url": EV.url, "timeout": "400ms",
                         "retries": 1, "breaker_failures": 1000}}
    D = T.Daemon(workers=2, persistent=True, conf=conf)
    r = T.run([T.placesctl_path(), "-c", D.conf_path, "seed", "--places",
               "600", "--seed", "5"], timeout=300)
    if r.returncode != 0:
        T.fail("placesctl seed: %s %s" % (r.stdout, r.stderr))
    D.start()
    D_OFF = T.Daemon(workers=1, persistent=True, name="model-off",
                     conf=T.merge_conf(conf, {"cache": {"max_bytes": "0"}}))
    D_OFF.start()
    for d in (D, D_OFF):
        T.wait_until(lambda: d.metric("placesd_offer_feed_up") ==
                     d.workers_configured, 60, "the offer feeds")
    CITY = PG.psql("SELECT city_id FROM places GROUP BY city_id "
                   "ORDER BY count(*) DESC, city_id LIMIT 1")[0][0]


def teardown():
    shutil.rmtree(TOKDIR, ignore_errors=True)


def place_of(city):
    return int(PG.psql("SELECT id FROM places WHERE city_id = '%s' "
                       "ORDER BY id LIMIT 1" % city)[0][0])


def publish(d=None, **over):
    body = {"place_id": place_of(CITY), "title": "Two for one",
            "description": "Every second dish free", "discount_pct": 50,
            "starts_at": "2026-01-01T10:00:00Z",
            "ends_at": "2036-01-01T10:00:00Z"}
    body.update(over)
    for k in [k for k, v in over.items() if v is KeyError]:
        del body[k]     # publish(description=KeyError): left out
    h = {"Content-Type": "application/json",
         "Authorization": "Bearer " + TOKEN}
    return (d or D).request("POST", "/v1/offers", headers=h,
                            body=json.dumps(body), timeout=30)


def published(**over):
    st, hdrs, raw = publish(**over)
    T.check_eq(st, 201, "publish: %r" % raw[:300])
    return hdrs, raw, json.loads(raw)


def error_of(st, raw, status, code, field, what):
    T.check_eq(st, status, "%s: %r" % (what, raw[:300]))
    err = json.loads(raw)["error"]
    T.check_eq(err["code"], code, "%s: code" % what)
    T.check_eq(err.get("field"), field, "%s: field" % what)


def raw_request(d, data, timeout=10):
    """The bytes of one answer to data (a request sent as is), read until
    the head and the body it announces are in, or the peer closes."""
    s = socket.create_connection((d.host, d.port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b"\r\n\r\n" in out:
                head, _, body = out.partition(b"\r\n\r\n")
                low = head.lower()
                if data.startswith(b"HEAD"):
                    return out
                if b"content-length:" in low:
                    n = int(low.split(b"content-length:")[1].split(b"\r\n")
                            [0])
                    if len(body) >= n:
                        return out
                elif b"text/event-stream" in low and b"\n\n" in body:
                    return out
            s.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                break
            out += b
        return out
    finally:
        s.close()


def stream_request(path, method="GET"):
    return ("%s %s HTTP/1.1\r\nHost: a\r\n\r\n" % (method, path)).encode()


# --------------------------------------------------------------------------
# 1. unknown cities

def test_unknown_city_on_offers_and_stream():
    for d in (D, D_OFF):
        st, _, raw = d.get("/v1/offers?city=atlantis")
        error_of(st, raw, 404, "not_found", "city", "list, unknown city")
        st, _, raw = d.get("/v1/offers?city=%s" % CITY)
        T.check_eq(st, 200, "list, a known city")
        st, _, raw = d.get("/v1/offers?city=Bad!")
        error_of(st, raw, 400, "invalid_argument", "city", "list, bad city")
        # twice each: the read model builds its list of cities, then
        # answers from it
        for _ in range(2):
            for method in ("GET", "HEAD"):
                out = raw_request(d, stream_request(
                    "/v1/offers/stream?city=atlantis", method))
                head = out.split(b"\r\n\r\n")[0]
                T.check(out.startswith(b"HTTP/1.1 404 "), "%s stream of an "
                        "unknown city (%s): %r" % (method, d.name, out[:200]))
                T.check(b"text/event-stream" not in head, "a stream's head "
                        "for an unknown city: %r" % head)
                if method == "GET":
                    body = json.loads(out.split(b"\r\n\r\n", 1)[1])
                    T.check_eq(body["error"]["field"], "city", "stream 404")
                    T.check_eq(body["error"]["code"], "not_found", "code")
                out = raw_request(d, stream_request(
                    "/v1/offers/stream?city=%s" % CITY, method))
                T.check(out.startswith(b"HTTP/1.1 200 ") and
                        b"text/event-stream" in out, "%s stream of %s (%s): "
                        "%r" % (method, CITY, d.name, out[:200]))
    # a stream of a city still opens and carries that city's offers
    s = T.Stream(D, city=CITY)
    try:
        T.check_eq(s.status, 200, "stream status")
        s.wait(lambda x: x.retry is not None, what="the hello")
        _, _, offer = published(title="for the city stream")
        s.wait(lambda x: offer["id"] in x.ids(), what="the offer")
    finally:
        s.close()


# --------------------------------------------------------------------------
# 2. Location and GET /v1/offers/{id}

def test_publish_location_and_get():
    hdrs, raw, offer = published(title="located")
    posted = raw
    loc = hdrs.get("Location")
    T.check_eq(loc, "/v1/offers/%d" % offer["id"], "Location")
    for d in (D, D_OFF):
        st, h, got = d.get(loc)
        T.check_eq(st, 200, "GET %s" % loc)
        T.check(h["Content-Type"].startswith("application/json"),
                "content type")
        T.check_eq(got, raw, "GET %s: the bytes POST answered" % loc)
    st, _, doc = D.get_json("/v1/offers?since_id=%d&limit=1"
                            % (offer["id"] - 1))
    T.check_eq(doc["offers"], [offer], "the list's object")
    # an offer that has not started is there too
    _, _, later = published(title="later", starts_at="2035-01-01T00:00:00Z")
    st, _, doc = D.get_json("/v1/offers/%d" % later["id"])
    T.check_eq((st, doc), (200, later), "an offer not active yet")
    for bad in ("0", "-1", "abc", "1x", "01", "9" * 19, "%31"):
        st, _, raw = D.get("/v1/offers/" + bad)
        error_of(st, raw, 400, "invalid_argument", "id", "id %r" % bad)
    st, _, raw = D.get("/v1/offers/999999999999")
    error_of(st, raw, 404, "not_found", None, "an unknown offer")
    st, h, _ = D.request("POST", "/v1/offers/%d" % offer["id"], body="{}",
                         headers={"Content-Type": "application/json"})
    T.check_eq(st, 405, "POST /v1/offers/{id}")
    T.check_eq(h.get("Allow"), "GET, HEAD, OPTIONS", "Allow")
    st, h, body = D.request("HEAD", loc)
    T.check_eq((st, body), (200, b""), "HEAD")
    T.check_eq(int(h["Content-Length"]), len(posted), "HEAD's length")


# --------------------------------------------------------------------------
# 3. no 422

def test_impossible_offers_are_400():
    past = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 5))
    cases = [
        ({"place_id": 999999999}, "place_id"),
        ({"starts_at": "2030-01-01T10:00:00Z",
          "ends_at": "2030-01-01T10:00:00Z"}, "ends_at"),
        ({"starts_at": "2030-01-01T10:00:00Z",
          "ends_at": "2030-01-01T09:00:00Z"}, "ends_at"),
        ({"starts_at": "2030-01-01T10:00:00+03:00",
          "ends_at": "2030-01-01T07:00:00Z"}, "ends_at"),
        ({"starts_at": "2020-01-01T00:00:00Z",
          "ends_at": "2021-01-01T00:00:00Z"}, "ends_at"),
        ({"starts_at": "2020-01-01T00:00:00Z", "ends_at": past}, "ends_at"),
    ]
    n = PG.psql("SELECT count(*) FROM offers")[0][0]
    for over, field in cases:
        st, _, raw = publish(**over)
        error_of(st, raw, 400, "invalid_argument", field, repr(over))
    T.check_eq(PG.psql("SELECT count(*) FROM offers")[0][0], n,
               "offers stored by refused requests")
    # ending a minute from now is fine
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60))
    published(starts_at="2020-01-01T00:00:00Z", ends_at=soon)


# --------------------------------------------------------------------------
# 4. null stays null

def test_null_description_stays_null():
    # the digest's best place, so that its offers carry the offer
    st, raw, _ = post_digest({"date": DATE, "city": CITY, "limit": 1})
    T.check_eq(st, 200, "digest")
    top = json.loads(raw)["places"][0]["id"]
    s = T.Stream(D, city=CITY)
    try:
        s.wait(lambda x: x.retry is not None, what="the hello")
        _, raw_null, with_null = published(place_id=top, description=None,
                                           title="null description")
        _, _, left_out = published(place_id=top, description=KeyError,
                                   title="no description")
        _, _, empty = published(place_id=top, description="",
                                title="empty description")
        for o in (with_null, left_out):
            T.check("description" in o and o["description"] is None,
                    "POST answer: %r" % o)
        T.check(b'"description":null' in raw_null, "raw: %r" % raw_null)
        T.check_eq(empty["description"], "", "an empty description")
        nulls = {with_null["id"], left_out["id"]}
        # GET /v1/offers/{id}
        for oid in nulls:
            st, _, doc = D.get_json("/v1/offers/%d" % oid)
            T.check(doc["description"] is None, "GET by id: %r" % doc)
        # the list
        st, _, doc = D.get_json("/v1/offers?place_id=%d&since_id=%d"
                                % (top, with_null["id"] - 1))
        got = {o["id"]: o["description"] for o in doc["offers"]}
        T.check_eq(got, {with_null["id"]: None, left_out["id"]: None,
                         empty["id"]: ""}, "the list's descriptions")
        # the stream
        s.wait(lambda x: empty["id"] in x.ids(), what="the offers")
        data = {e[0]: e[2] for e in s.events}
        for oid in nulls:
            T.check(data[oid]["description"] is None,
                    "stream: %r" % data[oid])
    finally:
        s.close()
    # a stream replay (from the database) too
    s = T.Stream(D, last_id=with_null["id"] - 1, city=CITY)
    try:
        s.wait(lambda x: empty["id"] in x.ids(), what="the replay")
        data = {e[0]: e[2] for e in s.events}
        T.check(data[with_null["id"]]["description"] is None,
                "replay: %r" % data[with_null["id"]])
    finally:
        s.close()
    # the place card and the digest, with the read model on and off
    for d in (D, D_OFF):
        for _ in range(2):
            st, _, doc = d.get_json("/v1/places/%d" % top)
            got = {o["id"]: o["description"] for o in doc["offers"]}
            T.check(got.get(with_null["id"], 0) is None and
                    got.get(left_out["id"], 0) is None,
                    "place card (%s): %r" % (d.name, got))
            st, raw, _ = post_digest({"date": DATE, "city": CITY,
                                      "limit": 1}, d)
            got = {o["id"]: o["description"]
                   for o in json.loads(raw)["offers"]}
            T.check(got.get(with_null["id"], 0) is None and
                    got.get(left_out["id"], 0) is None,
                    "digest (%s): %r" % (d.name, got))


# --------------------------------------------------------------------------
# 5. one compact style

def whitespace_outside_strings(raw):
    """Offsets of the whitespace bytes of raw (JSON text) that stand
    outside its strings."""
    out, in_str, esc = [], False, False
    for i, c in enumerate(raw):
        if in_str:
            if esc:
                esc = False
            elif c == 0x5c:
                esc = True
            elif c == 0x22:
                in_str = False
        elif c == 0x22:
            in_str = True
        elif c in b" \t\r\n":
            out.append(i)
    return out


def check_compact(raw, what):
    json.loads(raw)                 # JSON at all
    ws = whitespace_outside_strings(raw)
    T.check(not ws, "%s: whitespace outside strings at %s: %r"
            % (what, ws[:5], raw[max(0, ws[0] - 40):ws[0] + 40]
               if ws else b""))


def dechunk(wire):
    out = b""
    while wire:
        line, sep, rest = wire.partition(b"\r\n")
        if not sep:
            break
        n = int(line.split(b";")[0], 16)
        if n == 0 or len(rest) < n + 2:
            break
        out += rest[:n]
        wire = rest[n + 2:]
    return out


def post_digest(body, d=None):
    st, _, raw = (d or D).request(
        "POST", "/v1/digest", headers={"Content-Type": "application/json"},
        body=json.dumps(body), timeout=30)
    return st, raw, None


def test_every_answer_is_compact():
    pid = place_of(CITY)
    lat, lon = PG.psql("SELECT lat, lon FROM places WHERE id = %d"
                       % pid)[0]
    _, raw_post, offer = published(title="compact", description=None)
    T.wait_until(lambda: D.get("/v1/autocomplete?text=ca")[0] == 200, 60,
                 "the ranker's snapshot")
    paths = ["/healthz", "/readyz", "/v1/cities",
             "/v1/cities/%s/places?limit=5" % CITY,
             "/v1/cities/%s/places?limit=5&category=restaurant" % CITY,
             "/v1/places/%d" % pid,
             "/v1/nearby?lat=%s&lon=%s&radius_m=5000&limit=5" % (lat, lon),
             "/v1/nearby?lat=%s&lon=%s&q=cafe&limit=5" % (lat, lon),
             "/v1/autocomplete?text=ca", "/v1/categories",
             "/v1/categories?city=%s" % CITY, "/v1/cuisines",
             "/v1/offers", "/v1/offers?city=%s" % CITY,
             "/v1/offers/%d" % offer["id"],
             # errors
             "/nope", "/v1/offers?limit=0", "/v1/offers?city=atlantis",
             "/v1/offers/999999999999", "/v1/places/999999999",
             "/v1/nearby", "/v1/offers?limit=1&limit=2"]
    seen = 0
    for d in (D, D_OFF):
        for p in paths:
            for _ in range(2):      # built, then held by the read model
                st, h, raw = d.get(p)
                T.check(st < 500, "%s: %d %r" % (p, st, raw[:200]))
                check_compact(raw, "GET %s (%s)" % (p, d.name))
                seen += 1
    # /v1/nearby answered by the database, the ranker stopped
    rk = D_OFF.rankers()[0][0]
    os.kill(rk, signal.SIGSTOP)
    try:
        st, _, raw = D_OFF.get("/v1/nearby?lat=%s&lon=%s&radius_m=5000&"
                               "limit=5" % (lat, lon), timeout=30)
    finally:
        os.kill(rk, signal.SIGCONT)
    T.check_eq(st, 200, "degraded nearby: %r" % raw[:200])
    T.check(json.loads(raw)["degraded"] and json.loads(raw)["results"],
            "a degraded answer with results: %r" % raw[:200])
    check_compact(raw, "degraded /v1/nearby")
    check_compact(raw_post, "POST /v1/offers")
    st, raw, _ = post_digest({"date": DATE, "city": CITY, "limit": 5})
    T.check_eq(st, 200, "digest")
    check_compact(raw, "POST /v1/digest")
    st, raw, _ = post_digest({"date": DATE, "city": CITY, "limit": 5})
    check_compact(raw, "POST /v1/digest, again")
    st, raw, _ = post_digest({"date": "x"})
    check_compact(raw, "POST /v1/digest, refused")
    st, _, raw = D.request("POST", "/v1/cities", body="{}")
    check_compact(raw, "405")
    # the stream's data lines, live and replayed
    s = T.Stream(D, last_id=offer["id"] - 1)
    try:
        s.wait(lambda x: offer["id"] in x.ids(), what="the offer")
        _, _, live = published(title="compact live")
        s.wait(lambda x: live["id"] in x.ids(), what="the live offer")
        for line in dechunk(s.wire).split(b"\n"):
            if line.startswith(b"data: "):
                check_compact(line[6:], "stream data")
                seen += 1
    finally:
        s.close()
    T.check(seen > 2 * len(paths), "answers looked at: %d" % seen)


# --------------------------------------------------------------------------
# 6. a parameter given twice

def test_repeated_parameter_is_400():
    cases = [
        ("/v1/offers?limit=1&limit=2", "limit"),
        ("/v1/offers?limit=1&l%69mit=2", "limit"),
        ("/v1/offers?l%69mit=1&limit=1", "limit"),
        ("/v1/offers?city=%s&city=%s" % (CITY, CITY), "city"),
        ("/v1/cities?x=1&x=2", "x"),
        ("/v1/cities/%s/places?after=a&after=b" % CITY, "after"),
        ("/v1/places/1?a=1&a=1", "a"),
        ("/v1/nearby?lat=1&lon=2&lat=3", "lat"),
        ("/v1/autocomplete?text=a&text=b", "text"),
        ("/v1/categories?city=a&city=b", "city"),
        ("/v1/cuisines?c&c", "c"),
        ("/v1/offers/1?id=1&id=2", "id"),
        ("/v1/offers/stream?city=%s&city=x" % CITY, "city"),
        ("/healthz?x=1&x=2", "x"),
        ("/readyz?x=1&x=2", "x"),
        ("/metrics?x=1&x=2", "x"),
        ("/v1/offers?a+b=1&a%20b=2", "a b"),
    ]
    for path, field in cases:
        st, _, raw = D.get(path)
        error_of(st, raw, 400, "invalid_argument", field, path)
        T.check(field in json.loads(raw)["error"]["message"], "message")
    st, _, raw = D.request("POST", "/v1/digest?x=1&x=2", body=json.dumps(
        {"date": DATE, "city": CITY}), headers={
        "Content-Type": "application/json"})
    error_of(st, raw, 400, "invalid_argument", "x", "POST /v1/digest")
    # before the token is looked at
    st, _, raw = D.request("POST", "/v1/offers?t=1&t=2", body="{}",
                           headers={"Content-Type": "application/json"})
    error_of(st, raw, 400, "invalid_argument", "t", "POST /v1/offers")
    # HEAD and a stream: refused before any head of theirs
    out = raw_request(D, stream_request(
        "/v1/offers/stream?last_event_id=1&last_event_id=2"))
    T.check(out.startswith(b"HTTP/1.1 400 ") and b"last_event_id" in out,
            "stream: %r" % out[:300])
    # on a keep-alive connection too (where /healthz has its quick form)
    c = http.client.HTTPConnection(D.host, D.port, timeout=10)
    try:
        for path, want in (("/healthz", 200), ("/healthz?a=1&a=2", 400),
                           ("/healthz?a=1&b=2", 200), ("/healthz", 200)):
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            T.check_eq(r.status, want, "keep-alive %s: %r" % (path, body))
    finally:
        c.close()
    # a name spelt otherwise is that name: l%69mit=0 is limit=0
    st, _, raw = D.get("/v1/offers?l%69mit=0")
    error_of(st, raw, 400, "invalid_argument", "limit", "l%69mit=0")
    st, _, doc = D.get_json("/v1/offers?l%69mit=1")
    T.check_eq((st, len(doc["offers"])), (200, 1), "l%69mit=1")
    # different names, and a name in another case, are not repeats
    for path in ("/v1/offers?limit=1&since_id=0",
                 "/v1/offers?limit=1&LIMIT=2", "/healthz?a=1&b=1"):
        st, _, raw = D.get(path)
        T.check_eq(st, 200, "%s: %r" % (path, raw[:200]))
    # a long query of distinct names
    q = "&".join("p%d=1" % i for i in range(300))
    st, _, _ = D.get("/v1/offers?" + q)
    T.check_eq(st, 200, "300 distinct names")
    st, _, raw = D.get("/v1/offers?" + q + "&p150=2")
    error_of(st, raw, 400, "invalid_argument", "p150", "301 names")


# --------------------------------------------------------------------------
# 7. the digest's venues

def raw_events(date):
    st, _, raw = EV.get("/events/%s?city=%s" % (date, CITY))
    T.check_eq(st, 200, "events service")
    return json.loads(raw)


def place_cities(ids):
    if not ids:
        return {}
    rows = PG.psql("SELECT id, city_id FROM places WHERE id IN (%s)"
                   % ",".join(str(i) for i in ids))
    return {int(r[0]): r[1] for r in rows}


def check_venues(doc, events, what):
    """The answer's events, venues and dropped counts against the events
    service's own list and the database."""
    named = sorted({e["place_id"] for e in events
                    if e.get("place_id") is not None})
    cities = place_cities(named)
    other = sum(1 for e in events if e.get("place_id") in cities and
                cities[e["place_id"]] != CITY)
    unknown = sum(1 for e in events if e.get("place_id") is not None and
                  e["place_id"] not in cities)
    T.check_eq(doc["dropped_events"], {"other_city": other,
                                       "unknown_place": unknown},
               "%s: dropped_events" % what)
    kept = [e["id"] for e in events if e.get("place_id") is None or
            cities.get(e["place_id"]) == CITY]
    T.check_eq([e["id"] for e in doc["events"]], kept, "%s: events" % what)
    places = {p["id"] for p in doc["places"]}
    venues = [p["id"] for p in doc["venues"]]
    T.check_eq(venues, sorted(venues), "%s: venues by id" % what)
    T.check(not places & set(venues), "%s: a venue already in places"
            % what)
    T.check(all(p["city"] == CITY for p in doc["venues"]),
            "%s: a venue of another city" % what)
    want = sorted({e["place_id"] for e in doc["events"]
                   if e["place_id"] is not None} - places)
    T.check_eq(venues, want, "%s: the venues of the kept events" % what)
    for p in doc["venues"]:
        T.check_eq(set(p), {"id", "city", "name", "categories", "cuisines",
                            "lat", "lon", "rating", "price_level",
                            "address", "description", "hours"},
                   "%s: a venue's members" % what)
    return venues


def test_digest_venues():
    # a date whose events name places that exist
    date, events = None, None
    for day in range(1, 29):
        evs = raw_events("2026-11-%02d" % day)
        named = [e["place_id"] for e in evs if e.get("place_id")]
        known = place_cities(named)
        if len(known) >= 2 and any(c != CITY for c in known.values()):
            date, events = "2026-11-%02d" % day, evs
            break
    T.check(date is not None, "no date whose events name two places")
    named = sorted(place_cities([e["place_id"] for e in events
                                 if e.get("place_id")]))
    # one named place moves into the city, unrated (so not among the
    # best places); the others stay where they are
    moved = named[0]
    PG.psql("UPDATE places SET city_id = '%s', rating = NULL WHERE id = %d"
            % (CITY, moved))
    body = {"date": date, "city": CITY, "limit": 3}
    for d in (D, D_OFF):
        for i in range(2):          # built, then from the read model
            st, raw, _ = post_digest(body, d)
            T.check_eq(st, 200, "digest: %r" % raw[:300])
            doc = json.loads(raw)
            T.check_eq(doc["errors"], [], "errors")
            what = "%s digest %d" % (d.name, i + 1)
            venues = check_venues(doc, events, what)
            T.check(moved in venues, "%s: the moved place is not a venue: "
                    "%s" % (what, venues))
            T.check(doc["dropped_events"]["other_city"] > 0,
                    "%s: nothing dropped" % what)
    # a venue that is among the places is not repeated (two workers: the
    # answer looked at is one that has seen the change)
    PG.psql("UPDATE places SET rating = 5.0 WHERE id = %d" % moved)

    def moved_among_places():
        doc = json.loads(post_digest(body)[1])
        return doc if moved in {p["id"] for p in doc["places"]} else None
    doc = T.wait_until(moved_among_places, 30, "the moved place among the "
                       "best")
    venues = check_venues(doc, events, "a venue among the places")
    T.check(moved not in venues, "a place in both places and venues")
    # the read model holds the venues with the digest: with places
    # locked, a digest it holds is answered whole, without a query
    for _ in range(12):             # on both workers
        T.check_eq(json.loads(post_digest(body)[1])["errors"], [], "warm")
    lock = PG.lock(["places"])
    try:
        st, raw, _ = post_digest(body)
    finally:
        lock.release()
    T.check_eq(st, 200, "held digest with places locked: %r" % raw[:300])
    T.check_eq(json.loads(raw), doc, "the held digest, venues and all")
    # venues that cannot be read (the model off, places locked): the
    # events unchecked, and errors says so
    lock = PG.lock(["places"])
    try:
        st, raw, _ = post_digest(body, D_OFF)
    finally:
        lock.release()
    T.check_eq(st, 200, "digest with places locked: %r" % raw[:300])
    doc = json.loads(raw)
    codes = {(e["source"], e["code"]) for e in doc["errors"]}
    T.check(("venues", "deadline_exceeded") in codes, "errors: %s" % codes)
    T.check_eq([e["id"] for e in doc["events"]],
               [e["id"] for e in events], "the events, unchecked")
    T.check_eq((doc["venues"], doc["dropped_events"]),
               ([], {"other_city": 0, "unknown_place": 0}),
               "nothing checked, nothing dropped")
    # and the next digest is whole again
    T.wait_until(lambda: json.loads(post_digest(body, D_OFF)[1])["errors"]
                 == [], 30, "a digest without errors")


test_digest_venues.timeout = 240
test_every_answer_is_compact.timeout = 240
test_null_description_stays_null.timeout = 180


if __name__ == "__main__":
    try:
        T.run_main([
            test_unknown_city_on_offers_and_stream,
            test_publish_location_and_get,
            test_impossible_offers_are_400,
            test_null_description_stays_null,
            test_every_answer_is_compact,
            test_repeated_parameter_is_400,
            test_digest_venues,
        ], setup=setup)
    finally:
        teardown()
