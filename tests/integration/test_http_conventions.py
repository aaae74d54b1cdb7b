#!/usr/bin/python3
"""The HTTP conventions of docs/api.md ("HTTP conventions") over real
sockets against a seeded database: strong ETags, stable, and 304 for an
If-None-Match that names one (alone, in a list, "*", weak), 200 when it
does not, HEAD with GET's head; Cache-Control per route; gzip of a large
/v1/nearby inflating to the identity answer, none under 1 KB, none for
q=0 or identity, never on the offer stream, Vary; CORS for listed and
unlisted origins, "*", the preflight's 204, on errors and on the stream;
X-Request-Id kept when valid, replaced when not, made when absent, unique,
on the edge's own answers, and in the access log; the access log ([log]
access) reopened on SIGUSR1; cors_origins changed by a reload; the
configuration's checks of the new keys; the page's files and /openapi.json
with their own Cache-Control, ETag, 304 and gzip."""

import gzip
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.parse

import placesd_test as T

PG = None
D = None
CITY = None     # (id, lat, lon) of the biggest city
ORIGINS = "https://app.example http://localhost:3000"
ALLOWED = "https://app.example"
TAG_RE = re.compile(r'^"[0-9a-f]{16}"$')
ID_RE = re.compile(r"^[0-9a-f]{24}$")   # the ids the worker makes


def setup():
    global PG, D, CITY
    PG = T.Postgres()
    PG.start()
    conf = {"database": {"conninfo": PG.conninfo},
            "ranker": {"timeout": "2s"},
            "http": {"cors_origins": ORIGINS}}
    D = T.Daemon(workers=1, conf=conf, persistent=True, name="conv")
    D.conf = T.merge_conf(D.conf, {"log": {"access": D.path("access.log")}})
    D.write_config(D.conf)
    T.migrate_and_seed(D, 1500, 5)
    D.start()
    CITY = T.biggest_city(PG)
    T.wait_until(lambda: not json.loads(req(
        "GET", nearby_path(limit=1))[2])["degraded"], 60,
        "a ranked (not degraded) /v1/nearby")


def req(method, path, headers=None, body=None):
    """(status, headers, body) over a fresh connection, no gzip asked for
    unless headers say so (http.client sends Accept-Encoding: identity)."""
    return D.request(method, path, headers=headers, body=body, timeout=20)


def nearby_path(**params):
    q = {"lat": CITY[1], "lon": CITY[2]}
    q.update(params)
    return "/v1/nearby?" + urllib.parse.urlencode(q)


def raw(data, timeout=20):
    """Sends raw bytes, reads until the head is complete (and then what
    arrives within 0.3 s): (status line, {lower name: value}, rest)."""
    s = socket.create_connection((D.host, D.port), timeout=timeout)
    try:
        s.sendall(data)
        buf = b""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in buf:
            T.check(time.monotonic() < deadline, "no head in %r" % buf)
            b = s.recv(65536)
            if not b:
                break
            buf += b
        T.check(b"\r\n\r\n" in buf, "incomplete head: %r" % buf)
        head, rest = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        hdrs = {}
        for ln in lines[1:]:
            k, v = ln.split(":", 1)
            k = k.strip().lower()
            hdrs[k] = hdrs[k] + ", " + v.strip() if k in hdrs else v.strip()
        return lines[0], hdrs, rest
    finally:
        s.close()


def vary(h):
    return {v.strip().lower() for v in (h.get("Vary") or "").split(",")
            if v.strip()}


CACHED = ["/v1/cities", "/v1/categories", "/v1/cuisines", "/v1/places/1"]


def test_etag_present_and_stable():
    paths = CACHED + [nearby_path(limit=5)]
    for p in paths:
        st1, h1, b1 = req("GET", p)
        st2, h2, b2 = req("GET", p)
        T.check_eq((st1, st2), (200, 200), p)
        tag = h1.get("ETag")
        T.check(tag is not None and TAG_RE.match(tag), "%s: ETag %r"
                % (p, tag))
        if b1 == b2:
            T.check_eq(h2.get("ETag"), tag, "%s: the same body's ETag" % p)
    city = CITY[0]
    st, h, _ = req("GET", "/v1/cities/%s/places?limit=3" % city)
    T.check_eq(st, 200, "city places")
    T.check(TAG_RE.match(h.get("ETag") or ""), "city places ETag %r"
            % h.get("ETag"))
    # a different body, a different tag
    _, h5, _ = req("GET", "/v1/cities/%s/places?limit=5" % city)
    T.check(h5.get("ETag") != h.get("ETag"), "two pages, one ETag")


def test_if_none_match_304():
    p = "/v1/cities"
    st, h, body = req("GET", p)
    tag = h["ETag"]
    other = '"0000000000000000"' if tag != '"0000000000000000"' else \
        '"1111111111111111"'
    for inm in (tag, "%s, %s" % (other, tag), '"x",%s ,"y"' % tag, "*",
                "W/" + tag, "%s, W/%s" % (other, tag)):
        st, h2, b = req("GET", p, headers={"If-None-Match": inm})
        T.check_eq(st, 304, "If-None-Match: %s" % inm)
        T.check_eq(b, b"", "304 body for %s" % inm)
        T.check_eq(h2.get("ETag"), tag, "304 ETag")
        T.check_eq(h2.get("Cache-Control"), "public, max-age=60",
                   "304 Cache-Control")
        T.check(h2.get("Content-Length") in (None, str(len(body))),
                "304 Content-Length %r" % h2.get("Content-Length"))
        T.check(ID_RE.match(h2.get("X-Request-Id") or ""), "304 id")
    for inm in (other, "W/" + other, '"%s"' % tag.strip('"')[:-1],
                "bogus"):
        st, h2, b = req("GET", p, headers={"If-None-Match": inm})
        T.check_eq(st, 200, "If-None-Match: %s" % inm)
        T.check_eq(b, body, "200 body for %s" % inm)
    # HEAD: GET's head, no body; a matching tag gets the 304 too
    st, hh, b = req("HEAD", p)
    T.check_eq((st, b), (200, b""), "HEAD")
    for k in ("ETag", "Cache-Control", "Content-Type", "Content-Length"):
        T.check_eq(hh.get(k), h.get(k), "HEAD %s" % k)
    st, hh, b = req("HEAD", p, headers={"If-None-Match": tag})
    T.check_eq((st, b), (304, b""), "HEAD with If-None-Match")
    # /v1/places/{id} keeps the read model's tag, the same as computed
    st, h, body = req("GET", "/v1/places/1")
    st, _, _ = req("GET", "/v1/places/1",
                   headers={"If-None-Match": h["ETag"]})
    T.check_eq(st, 304, "/v1/places/1 with its tag")
    # the 304 path is raw: no Content-Length: 0 (RFC 9110 8.6)
    line, hdrs, rest = raw(("GET /v1/cities HTTP/1.1\r\nHost: x\r\n"
                            "If-None-Match: %s\r\nConnection: close\r\n\r\n"
                            % tag).encode())
    T.check(line.startswith("HTTP/1.1 304"), line)
    T.check(hdrs.get("content-length") != "0", "304 with %r" % hdrs)
    T.check_eq(rest, b"", "bytes after a 304")


def test_cache_control_per_route():
    city = CITY[0]
    want = {
        "/healthz": "no-store",
        "/readyz": "no-store",
        "/metrics": "no-store",
        "/v1/cities": "public, max-age=60",
        "/v1/categories": "public, max-age=60",
        "/v1/cuisines": "public, max-age=60",
        "/v1/cities/%s/places" % city: "no-cache",
        "/v1/places/1": "no-cache",
        nearby_path(limit=2): "no-cache",
        "/v1/autocomplete?text=ca": "no-store",
        "/v1/offers?city=%s" % city: "no-store",
    }
    for p, cc in want.items():
        st, h, _ = req("GET", p)
        T.check_eq(st, 200, p)
        T.check_eq(h.get("Cache-Control"), cc, "Cache-Control of %s" % p)
        if "no-store" in cc:
            T.check(h.get("ETag") is None, "%s: ETag %r on a no-store "
                    "answer" % (p, h.get("ETag")))
        else:
            T.check(h.get("ETag") is not None, "%s without ETag" % p)
    # errors carry no route Cache-Control (nothing to keep)
    st, h, _ = req("GET", "/v1/places/999999999")
    T.check_eq(st, 404, "unknown place")
    T.check(h.get("Cache-Control") is None and h.get("ETag") is None,
            "404 with %r / %r" % (h.get("Cache-Control"), h.get("ETag")))
    # the stream's head says no-cache, as event streams do
    line, hdrs, _ = raw(b"HEAD /v1/offers/stream HTTP/1.1\r\nHost: x\r\n"
                        b"Connection: close\r\n\r\n")
    T.check_eq(hdrs.get("cache-control"), "no-cache", "stream head")


def test_gzip_large_nearby():
    p = nearby_path(limit=100)
    st, hi, plain = req("GET", p)
    T.check_eq(st, 200, p)
    T.check(len(plain) > 1024, "a large answer: %d bytes" % len(plain))
    T.check(hi.get("Content-Encoding") is None, "identity asked, got %r"
            % hi.get("Content-Encoding"))
    T.check("accept-encoding" in vary(hi), "Vary %r" % hi.get("Vary"))
    for ae in ("gzip", "gzip, deflate, br", "br;q=1, gzip;q=0.5", "*",
               "x-gzip"):
        st, hz, z = req("GET", p, headers={"Accept-Encoding": ae})
        T.check_eq(st, 200, "%s with %s" % (p, ae))
        T.check_eq(hz.get("Content-Encoding"), "gzip", "coding for %r" % ae)
        T.check_eq(hz.get("Content-Length"), str(len(z)), "Content-Length"
                   " of the gzipped body")
        T.check(len(z) < len(plain), "gzip %d >= %d" % (len(z), len(plain)))
        T.check("accept-encoding" in vary(hz), "Vary %r" % hz.get("Vary"))
        T.check_eq(json.loads(gzip.decompress(z)), json.loads(plain),
                   "the gzipped answer inflated (%s)" % ae)
        # the tag names the representation's bytes before coding
        T.check_eq(hz.get("ETag"), hi.get("ETag"), "ETag under gzip")
    T.log("/v1/nearby?limit=100: %d bytes, %d gzipped" % (len(plain),
                                                         len(z)))
    # HEAD: the gzipped GET's head
    st, hh, b = req("HEAD", p, headers={"Accept-Encoding": "gzip"})
    T.check_eq((st, b), (200, b""), "HEAD gzip")
    T.check_eq(hh.get("Content-Encoding"), "gzip", "HEAD coding")
    T.check_eq(hh.get("Content-Length"), str(len(z)), "HEAD length")
    # refused codings: the body as it is
    for ae in ("gzip;q=0", "identity", "deflate, br", "*;q=0",
               "gzip;q=0, *"):
        st, h, b = req("GET", p, headers={"Accept-Encoding": ae})
        T.check_eq(st, 200, p)
        T.check(h.get("Content-Encoding") is None, "coding %r for %r"
                % (h.get("Content-Encoding"), ae))
        T.check_eq(json.loads(b), json.loads(plain), "identity body")
    # conditional and coded: the 304 has no body either way
    st, h, b = req("GET", p, headers={"Accept-Encoding": "gzip",
                                      "If-None-Match": hi["ETag"]})
    T.check_eq((st, b), (304, b""), "304 under gzip")
    T.check(h.get("Content-Encoding") is None, "304 coded")


def test_no_gzip_under_1k_nor_on_the_stream():
    for p in ("/healthz", "/v1/autocomplete?text=zzqx",
              nearby_path(limit=1)):
        st, _, plain = req("GET", p)
        T.check(st == 200 and len(plain) <= 1024, "%s: %d, %d bytes"
                % (p, st, len(plain)))
        st, h, b = req("GET", p, headers={"Accept-Encoding": "gzip"})
        T.check_eq((st, b), (200, plain), p)
        T.check(h.get("Content-Encoding") is None, "%s coded" % p)
        T.check("accept-encoding" not in vary(h), "%s Vary %r"
                % (p, h.get("Vary")))
    for method in ("GET", "HEAD"):
        line, hdrs, _ = raw(("%s /v1/offers/stream HTTP/1.1\r\nHost: x\r\n"
                             "Accept-Encoding: gzip\r\nConnection: close"
                             "\r\n\r\n" % method).encode())
        T.check_eq(line, "HTTP/1.1 200 OK", "%s stream" % method)
        T.check("content-encoding" not in hdrs, "stream coded: %r" % hdrs)
        T.check("accept-encoding" not in hdrs.get("vary", "").lower(),
                "stream Vary %r" % hdrs.get("vary"))


def test_cors_allowed_and_denied():
    for origin in (ALLOWED, "http://localhost:3000", "HTTPS://APP.EXAMPLE"):
        st, h, _ = req("GET", "/v1/cities", headers={"Origin": origin})
        T.check_eq(st, 200, "with Origin %s" % origin)
        T.check_eq(h.get("Access-Control-Allow-Origin"), origin, "ACAO")
        T.check("origin" in vary(h), "Vary %r" % h.get("Vary"))
        exp = h.get("Access-Control-Expose-Headers") or ""
        for name in ("ETag", "Location", "X-Request-Id", "Retry-After"):
            T.check(name in exp, "%s not exposed: %r" % (name, exp))
    for origin in ("https://evil.example", "https://app.example.evil",
                   "http://app.example", "null"):
        st, h, _ = req("GET", "/v1/cities", headers={"Origin": origin})
        T.check_eq(st, 200, origin)
        T.check(h.get("Access-Control-Allow-Origin") is None,
                "%s allowed" % origin)
        T.check("origin" in vary(h), "Vary %r" % h.get("Vary"))
    # no Origin: no CORS headers, the answer still varies by it
    st, h, _ = req("GET", "/v1/cities")
    T.check(h.get("Access-Control-Allow-Origin") is None, "no Origin")
    # errors, made by a handler or the router, carry them too
    for p in ("/v1/places/999999999", "/nowhere", "/v1/places/x"):
        st, h, _ = req("GET", p, headers={"Origin": ALLOWED})
        T.check(st in (400, 404), "%s: %d" % (p, st))
        T.check_eq(h.get("Access-Control-Allow-Origin"), ALLOWED,
                   "ACAO on %s" % p)
    st, h, _ = req("POST", "/v1/cities", headers={"Origin": ALLOWED},
                   body=b"")
    T.check_eq(st, 405, "POST /v1/cities")
    T.check_eq(h.get("Access-Control-Allow-Origin"), ALLOWED, "ACAO on 405")
    # the quick /healthz hands a request with Origin to the full path
    st, h, _ = req("GET", "/healthz", headers={"Origin": ALLOWED})
    T.check_eq(h.get("Access-Control-Allow-Origin"), ALLOWED, "healthz")


def test_cors_preflight():
    for p, methods in (("/v1/cities", "GET, HEAD, OPTIONS"),
                       ("/v1/offers", "GET, HEAD, POST, OPTIONS"),
                       ("/v1/digest", "POST, OPTIONS")):
        st, h, b = req("OPTIONS", p, headers={
            "Origin": ALLOWED, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})
        T.check_eq((st, b), (204, b""), "preflight of %s" % p)
        T.check_eq(h.get("Access-Control-Allow-Origin"), ALLOWED, "ACAO")
        T.check_eq(h.get("Access-Control-Allow-Methods"), methods,
                   "methods of %s" % p)
        ah = h.get("Access-Control-Allow-Headers") or ""
        for name in ("Content-Type", "Authorization", "If-None-Match",
                     "Last-Event-ID", "X-Request-Id"):
            T.check(name in ah, "%s not allowed: %r" % (name, ah))
        T.check(int(h.get("Access-Control-Max-Age") or 0) > 0, "Max-Age")
        T.check(h.get("Content-Length") is None, "204 with Content-Length"
                " %r" % h.get("Content-Length"))
        T.check(ID_RE.match(h.get("X-Request-Id") or ""), "preflight id")
    # from an origin not listed: the plain OPTIONS answer, no CORS
    st, h, _ = req("OPTIONS", "/v1/cities", headers={
        "Origin": "https://evil.example",
        "Access-Control-Request-Method": "GET"})
    T.check_eq(st, 200, "denied preflight")
    T.check(h.get("Access-Control-Allow-Origin") is None, "denied ACAO")
    T.check_eq(h.get("Allow"), "GET, HEAD, OPTIONS", "denied: Allow")
    # a plain OPTIONS (no preflight) as ever
    for hdrs in ({}, {"Origin": ALLOWED}):
        st, h, b = req("OPTIONS", "/v1/offers", headers=hdrs)
        T.check_eq((st, b), (200, b""), "plain OPTIONS %r" % hdrs)
        T.check_eq(h.get("Allow"), "GET, HEAD, POST, OPTIONS", "Allow")
        T.check(h.get("Cache-Control") is None, "OPTIONS Cache-Control %r"
                % h.get("Cache-Control"))
        T.check(h.get("Access-Control-Allow-Methods") is None,
                "plain OPTIONS answered as a preflight")
    # and the stream's preflight
    st, h, _ = req("OPTIONS", "/v1/offers/stream", headers={
        "Origin": ALLOWED, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "last-event-id"})
    T.check_eq(st, 204, "stream preflight")
    T.check_eq(h.get("Access-Control-Allow-Methods"), "GET, HEAD, OPTIONS",
               "stream methods")


def test_cors_and_id_on_the_stream():
    for method in ("GET", "HEAD"):
        line, h, _ = raw(("%s /v1/offers/stream HTTP/1.1\r\nHost: x\r\n"
                          "Origin: %s\r\nX-Request-Id: stream-%s\r\n"
                          "Connection: close\r\n\r\n"
                          % (method, ALLOWED, method)).encode())
        T.check_eq(line, "HTTP/1.1 200 OK", "%s stream" % method)
        T.check_eq(h.get("access-control-allow-origin"), ALLOWED,
                   "%s stream ACAO: %r" % (method, h))
        T.check("X-Request-Id" in h.get("access-control-expose-headers",
                                        ""), "stream expose")
        T.check_eq(h.get("vary"), "Origin", "stream Vary")
        T.check_eq(h.get("x-request-id"), "stream-%s" % method, "stream id")
        line, h, _ = raw(("%s /v1/offers/stream HTTP/1.1\r\nHost: x\r\n"
                          "Origin: https://evil.example\r\n"
                          "Connection: close\r\n\r\n" % method).encode())
        T.check("access-control-allow-origin" not in h, "denied: %r" % h)
        T.check(ID_RE.match(h.get("x-request-id", "")), "stream made id")


def test_request_id():
    for p in ("/v1/cities", "/nowhere", "/healthz", "/v1/places/x"):
        st, h, _ = req("GET", p, headers={"X-Request-Id": "abc-1.2_Z"})
        T.check_eq(h.get("X-Request-Id"), "abc-1.2_Z", "echo on %s (%d)"
                   % (p, st))
    st, h, _ = req("HEAD", "/v1/cities", headers={"X-Request-Id": "h1"})
    T.check_eq(h.get("X-Request-Id"), "h1", "echo on HEAD")
    st, h, _ = req("POST", "/v1/cities", body=b"",
                   headers={"X-Request-Id": "p1"})
    T.check_eq((st, h.get("X-Request-Id")), (405, "p1"), "echo on 405")
    longest = "x" * 64
    st, h, _ = req("GET", "/v1/cities", headers={"X-Request-Id": longest})
    T.check_eq(h.get("X-Request-Id"), longest, "64 characters kept")
    for bad in ("x" * 65, "a/b", "a b", "a:b", "\u00e9t\u00e9", "a,b", ""):
        st, h, _ = req("GET", "/v1/cities",
                       headers={"X-Request-Id": bad.encode("utf-8")})
        got = h.get("X-Request-Id") or ""
        T.check(ID_RE.match(got), "bad id %r replaced by %r" % (bad, got))
    ids = set()
    for i in range(30):
        p = "/healthz" if i % 2 else "/v1/categories"
        st, h, _ = req("GET", p)
        got = h.get("X-Request-Id") or ""
        T.check(ID_RE.match(got), "made id %r on %s" % (got, p))
        ids.add(got)
    T.check_eq(len(ids), 30, "distinct ids")
    # the edge's own answers carry one too
    line, h, _ = raw(b"GET /v1/cities HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: zz\r\n\r\n")
    T.check(line.startswith("HTTP/1.1 400"), line)
    T.check(ID_RE.match(h.get("x-request-id", "")), "edge 400 id %r" % h)


def access_text():
    return T.read_log(D.path("access.log"))


def test_request_id_in_access_log():
    rid = "log-check-%d" % os.getpid()
    st, _, _ = req("GET", "/v1/cuisines", headers={"X-Request-Id": rid})
    T.check_eq(st, 200, "cuisines")
    pat = re.compile(r'^\S+ "GET /v1/cuisines" 200 \d+ [0-9.]+ %s$'
                     % re.escape(rid), re.M)
    T.wait_until(lambda: pat.search(access_text()), 30,
                 "the request id in the access log line")
    # a made id is logged as it was sent
    st, h, _ = req("GET", "/v1/categories?x=%d" % os.getpid())
    made = h["X-Request-Id"]
    T.wait_until(lambda: ('"GET /v1/categories" 200' in access_text() and
                          made in access_text()), 30, "made id logged")
    # the quick /healthz: its made id too
    st, h, _ = req("GET", "/healthz")
    quick = h["X-Request-Id"]
    T.wait_until(lambda: re.search(r'"GET /healthz" 200 \d+ [0-9.]+ %s$'
                                   % quick, access_text(), re.M), 30,
                 "the quick answer's id logged")


def test_access_log_reopens_on_sigusr1():
    path = D.path("access.log")
    T.wait_until(lambda: os.path.exists(path), 30, "an access log")
    os.rename(path, path + ".1")
    D.signal(signal.SIGUSR1)

    def landed():
        req("GET", "/v1/cuisines", headers={"X-Request-Id": "after-usr1"})
        return "after-usr1" in T.read_log(path)
    T.wait_until(landed, 30, "a request logged in the new access log",
                 interval=0.2)
    old = T.read_log(path + ".1")
    req("GET", "/v1/cuisines", headers={"X-Request-Id": "after-usr1-2"})
    T.wait_until(lambda: "after-usr1-2" in T.read_log(path), 30,
                 "the next request in the new file")
    T.check("after-usr1-2" not in T.read_log(path + ".1"),
            "a request logged in the renamed file")
    T.check(len(T.read_log(path + ".1")) >= len(old), "the old file shrank")


def check_conf(text):
    """placesd -t on a config text: (rc, output)."""
    p = D.path("check.conf")
    with open(p, "w") as f:
        f.write(text)
    r = T.run([T.placesd_path(), "-t", "-c", p], timeout=30)
    return r.returncode, (r.stdout or "") + (r.stderr or "")


def test_config_keys():
    ok = ["[log]\naccess = off\n", "[log]\naccess_log = /tmp/x.log\n",
          "[log]\naccess = /tmp/x.log\naccess_log = /tmp/x.log\n",
          "[http]\ncors_origins = *\n", "[http]\ncors_origins =\n",
          "[http]\ncors_origins = https://a.example http://b:8080\n"]
    bad = [("[log]\naccess = /tmp/x.log\naccess_log = /tmp/y.log\n",
            "another name"),
           ("[log]\naccess = relative.log\n", "absolute"),
           ("[http]\ncors_origins = * https://a.example\n", "alone"),
           ("[http]\ncors_origins = https://a.example/\n", "not an origin"),
           ("[http]\ncors_origins = a.example\n", "not an origin")]
    for text in ok:
        rc, out = check_conf(text)
        T.check_eq(rc, 0, "placesd -t on %r: %s" % (text, out))
    for text, why in bad:
        rc, out = check_conf(text)
        T.check(rc != 0 and why in out, "placesd -t on %r: rc %d, %s"
                % (text, rc, out))


def test_reload_changes_cors_origins():
    """Last: it changes the daemon's configuration."""
    gen = D.metric("placesd_generation")
    D.conf = T.merge_conf(D.conf, {"http": {"cors_origins": "*"}})
    D.write_config(D.conf)
    D.signal(signal.SIGHUP)
    T.wait_until(lambda: D.metric("placesd_generation") == gen + 1, 60,
                 "generation %d" % (gen + 1))

    def star():
        st, h, _ = req("GET", "/v1/cities",
                       headers={"Origin": "https://evil.example"})
        return h.get("Access-Control-Allow-Origin") == "*"
    T.wait_until(star, 30, "Access-Control-Allow-Origin: * after reload")
    st, h, _ = req("GET", "/v1/cities", headers={"Origin": ALLOWED})
    T.check_eq(h.get("Access-Control-Allow-Origin"), "*", "any origin")
    T.check("origin" not in vary(h), "Vary %r under *" % h.get("Vary"))
    st, h, _ = req("OPTIONS", "/v1/cities", headers={
        "Origin": "https://x.example", "Access-Control-Request-Method": "GET"})
    T.check_eq((st, h.get("Access-Control-Allow-Origin")), (204, "*"),
               "preflight under *")
    # off again: no CORS headers at all
    D.conf = T.merge_conf(D.conf, {"http": {"cors_origins": ""}})
    D.write_config(D.conf)
    D.signal(signal.SIGHUP)
    T.wait_until(lambda: D.metric("placesd_generation") == gen + 2, 60,
                 "generation %d" % (gen + 2))

    def off():
        st, h, _ = req("GET", "/v1/cities", headers={"Origin": ALLOWED})
        return (h.get("Access-Control-Allow-Origin") is None and
                "origin" not in vary(h))
    T.wait_until(off, 30, "no CORS headers with cors_origins empty")


def test_page_and_contract_files():
    """The page at /, its files and /openapi.json: their own
    Cache-Control, a strong ETag with 304, and gzip over 1 KB that
    inflates to the same bytes."""
    want_cc = {"/": "no-cache", "/www/app.js": "public, max-age=300",
               "/www/app.css": "public, max-age=300",
               "/openapi.json": "public, max-age=300"}
    for p, cc in want_cc.items():
        st, h, body = req("GET", p)
        T.check_eq(st, 200, p)
        T.check_eq(h.get("Cache-Control"), cc, "%s Cache-Control" % p)
        tag = h.get("ETag")
        T.check(TAG_RE.match(tag or ""), "%s: ETag %r" % (p, tag))
        st, h2, b = req("GET", p, headers={"If-None-Match": tag})
        T.check_eq((st, b), (304, b""), "%s with its tag" % p)
        T.check_eq(h2.get("ETag"), tag, "%s 304 ETag" % p)
        T.check_eq(h2.get("Cache-Control"), cc, "%s 304 Cache-Control" % p)
        T.check(len(body) > 1024, "%s is over 1 KB (%d)" % (p, len(body)))
        st, hz, z = req("GET", p, headers={"Accept-Encoding": "gzip"})
        T.check_eq((st, hz.get("Content-Encoding")), (200, "gzip"),
                   "%s gzipped" % p)
        T.check_eq(gzip.decompress(z), body, "%s inflates to its bytes" % p)
        T.check_eq(hz.get("ETag"), tag, "%s: the gzipped tag" % p)
        T.check("accept-encoding" in vary(hz), "%s Vary %r"
                % (p, hz.get("Vary")))


if __name__ == "__main__":
    T.run_main([
        test_etag_present_and_stable,
        test_if_none_match_304,
        test_cache_control_per_route,
        test_gzip_large_nearby,
        test_no_gzip_under_1k_nor_on_the_stream,
        test_cors_allowed_and_denied,
        test_cors_preflight,
        test_cors_and_id_on_the_stream,
        test_request_id,
        test_request_id_in_access_log,
        test_access_log_reopens_on_sigusr1,
        test_config_keys,
        test_reload_changes_cors_origins,
        test_page_and_contract_files,
    ], setup=setup)
