#!/usr/bin/python3
"""The integration paths under valgrind (memcheck): every process of the
daemon (master, ranker, workers of two generations) must end with
"ERROR SUMMARY: 0 errors" and nothing definitely or indirectly lost, after
serving plain, pipelined, half-closed and refused requests, day digests
(answered, with a failing events service, and one whose client hangs up
while the events service hangs), a deferred request cut by a stop, a
offer published and streamed (one stream left open across a reload,
another closed by its client), a reload and a graceful stop; with a read
pool ([database] read_conninfo, on the same cluster: a "replica" that is
never behind) taking the reads and the ranker's loads.

Skipped when valgrind is missing or the binary is built with
AddressSanitizer (the two cannot run together)."""

import glob
import os
import re
import shutil
import signal
import socket
import time

import placesd_test as T

SUMMARY_RE = re.compile(r"ERROR SUMMARY: (\d+) errors")


def setup():
    if not shutil.which("valgrind"):
        T.skip("valgrind is not installed")
    with open(T.placesd_path(), "rb") as f:
        if b"__asan_init" in f.read():
            T.skip("an AddressSanitizer build cannot run under valgrind")


def raw(d, data, half_close=False, timeout=30):
    """Send bytes on a fresh connection; return everything read until close."""
    s = socket.create_connection((d.host, d.port), timeout=timeout)
    try:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                return out
            out += b
    finally:
        s.close()


def post_digest(city):
    body = b'{"date":"2026-11-23","city":"%s"}' % city.encode()
    return (b"POST /v1/digest HTTP/1.1\r\nHost: a\r\nContent-Type: "
            b"application/json\r\nContent-Length: %d\r\n" % len(body),
            body)


def digests(d, ev, city):
    # an unknown city: the events call is cancelled by the 404
    head, body = post_digest("nowhere-city")
    out = raw(d, head + b"Connection: close\r\n\r\n" + body)
    T.check(out.startswith(b"HTTP/1.1 404"), "digest: %r" % out[:40])
    head, body = post_digest(city)
    out = raw(d, head + b"Connection: close\r\n\r\n" + body)
    T.check(out.startswith(b"HTTP/1.1 200") and b'"errors":[]' in out,
            "digest: %r" % out[:60])
    # a client that hangs up while the events service hangs
    ev.control(fault="hang")
    n = ev.state()["requests"]
    s = socket.create_connection((d.host, d.port), timeout=30)
    s.sendall(head + b"\r\n" + body)
    T.wait_until(lambda: ev.state()["requests"] > n, 60, "the events call")
    s.close()
    ev.control(fault="500")
    out = raw(d, head + b"Connection: close\r\n\r\n" + body)
    T.check(out.startswith(b"HTTP/1.1 200") and b"upstream_error" in out,
            "digest with a failing events service: %r" % out[:60])
    ev.control(fault="none")


def offers(d, token, city_place):
    """Publish an offer while one stream is open; returns the stream
    socket still open (the reload and stop must end it cleanly)."""
    s = socket.create_connection((d.host, d.port), timeout=60)
    s.sendall(b"GET /v1/offers/stream HTTP/1.1\r\nHost: a\r\n\r\n")
    got = b""
    while b"offers after" not in got:
        got += s.recv(65536)
    gone = socket.create_connection((d.host, d.port), timeout=60)
    gone.sendall(b"GET /v1/offers/stream HTTP/1.1\r\nHost: a\r\n\r\n")
    body = ('{"place_id":%d,"title":"vg","discount_pct":10,'
            '"starts_at":"2026-01-01T00:00:00Z",'
            '"ends_at":"2030-01-01T00:00:00Z"}' % city_place).encode()
    out = raw(d, b"POST /v1/offers HTTP/1.1\r\nHost: a\r\nAuthorization: "
              b"Bearer " + token.encode() + b"\r\nContent-Type: "
              b"application/json\r\nConnection: close\r\nContent-Length: "
              b"%d\r\n\r\n" % len(body) + body)
    T.check(out.startswith(b"HTTP/1.1 201"), "publish: %r" % out[:60])
    while b"event: offer" not in got:
        got += s.recv(65536)
    gone.close()
    return s


def details(d, city):
    """The API details of issue #20: a stream's city checked before its
    head (the read model's list built, then a hit), an offer by id, a
    repeated parameter."""
    for c, status in (("nowhere-city", b"404"), (city, b"200"),
                      ("nowhere-city", b"404")):
        out = raw(d, b"HEAD /v1/offers/stream?city=%s HTTP/1.1\r\nHost: "
                  b"a\r\nConnection: close\r\n\r\n" % c.encode())
        T.check(out.startswith(b"HTTP/1.1 " + status), "stream of %s: %r"
                % (c, out[:60]))
    oid = int(T.shared_postgres().psql("SELECT min(id) FROM offers")[0][0])
    for path, status in (("/v1/offers/%d" % oid, 200), ("/v1/offers/x", 400),
                         ("/v1/offers?limit=1&l%69mit=2", 400)):
        T.check_eq(d.get(path, timeout=30)[0], status, path)


def test_valgrind_clean():
    ev = T.EventsService()
    ev.start()
    token = "valgrind-token-0123456789abcdef"
    tokfile = os.path.join(ev.dir, "token")
    with open(tokfile, "w") as f:
        f.write(token)
    os.chmod(tokfile, 0o600)
    d = T.Daemon(workers=2, conf={"server": {"shutdown_timeout": "20s",
                                             "keepalive_timeout": "2s"},
                                  "upstream": {"events_url": ev.url,
                                               "timeout": "20s"},
                                  "offers": {"admin_token_file": tokfile},
                                  "database": {
                                      "conninfo": T.shared_postgres().conninfo,
                                      "read_conninfo":
                                          T.shared_postgres().conninfo},
                                  "debug": {"routes": "on"}})
    r = T.run([T.placesctl_path(), "-c", d.conf_path, "seed", "--places",
               "200", "--seed", "2", "--if-empty"], timeout=300)
    T.check_eq(r.returncode, 0, "placesctl seed: %s" % r.stderr)
    city = T.shared_postgres().psql("SELECT city_id FROM places GROUP BY "
                                    "city_id ORDER BY count(*) DESC LIMIT "
                                    "1")[0][0]
    place = int(T.shared_postgres().psql("SELECT min(id) FROM places")[0][0])
    logs = d.path("vg.%p")
    d.start(timeout=180, wrapper=[
        "valgrind", "--leak-check=full",
        "--show-leak-kinds=definite,indirect",
        "--errors-for-leak-kinds=definite,indirect",
        "--log-file=" + logs])
    for path in ("/healthz", "/readyz", "/metrics", "/nope"):
        st, _, _ = d.get(path, timeout=30)
        T.check(st in (200, 404), "%s answered %s" % (path, st))
    out = raw(d, b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n" * 3 +
              b"GET /readyz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    T.check_eq(out.count(b"HTTP/1.1 200 OK"), 4, "pipelined answers")
    out = raw(d, b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n", half_close=True)
    T.check(out.startswith(b"HTTP/1.1 200"), "half-closed client: %r" % out[:40])
    for req, status in (
            (b"GET / HTTP/2.0\r\n\r\n", b"505"),
            (b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Type: "
             b"application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\na=b",
             b"415"),
            (b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Type: "
             b"application/json\r\nContent-Length: 99999999\r\n\r\n", b"413"),
            (b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Type: "
             b"application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"2\r\n{}\r\n0\r\n\r\n", b"405")):
        out = raw(d, req)
        T.check(out.startswith(b"HTTP/1.1 " + status),
                "%r answered %r" % (req[:30], out[:40]))
    digests(d, ev, city)
    T.wait_until(lambda: d.metric("placesd_offer_feed_up") == 2, 120,
                 "the offer feeds under valgrind")
    T.wait_until(lambda: d.metric("placesd_pg_read_up") == 2, 120,
                 "the read pools under valgrind")
    for _ in range(4):
        T.check_eq(d.get("/v1/places/%d" % place, timeout=30)[0], 200,
                   "a place under valgrind")
    T.check(d.metric("placesd_db_reads_total", 0, target="replica") > 0,
            "reads on the read pool")
    # the ranker's suggest index: autocomplete (a range read, a walk near
    # a point) and the tag counts
    for path in ("/v1/autocomplete?text=k", "/v1/autocomplete?text=c&"
                 "lat=55.75&lon=37.61&limit=20", "/v1/categories",
                 "/v1/cuisines?city=%s" % city):
        T.wait_until(lambda: d.get(path, timeout=30)[0] == 200, 120,
                     "%s under valgrind" % path)
    # the page's files, read at each worker's start, freed at its exit
    for path, status in (("/", 200), ("/www/app.js", 200),
                         ("/www/none.js", 404)):
        T.check_eq(d.get(path, timeout=30)[0], status,
                   "%s under valgrind" % path)
    stream = offers(d, token, place)
    details(d, city)
    d.signal(signal.SIGHUP)
    T.wait_until(lambda: d.metric("placesd_generation") == 2, 120,
                 "generation 2 under valgrind")
    sleeper, res = T.start_sleeper(d, 3000, timeout=120)
    T.wait_until(lambda: d.metric("placesd_http_connections_open", 0) >= 2,
                 60, "the sleeper to be accepted")
    stream.close()
    d.signal(signal.SIGTERM)
    sleeper.join(120)
    rc = d.wait_exit(120)
    T.check_eq(rc, 0, "exit status after SIGTERM")
    files = glob.glob(d.path("vg.*"))
    # master, 2 rankers and 4 workers (two generations)
    T.check(len(files) >= 7, "valgrind logs: %d, want 7 or more" % len(files))
    bad = []
    for f in files:
        text = open(f, errors="replace").read()
        m = SUMMARY_RE.findall(text)
        if not m or any(int(x) != 0 for x in m):
            bad.append("%s:\n%s" % (os.path.basename(f), text[-3000:]))
    T.check(not bad, "valgrind found errors:\n" + "\n".join(bad))
    T.log("%d processes, all valgrind-clean" % len(files))


test_valgrind_clean.timeout = 600

if __name__ == "__main__":
    T.run_main([test_valgrind_clean], setup=setup)
