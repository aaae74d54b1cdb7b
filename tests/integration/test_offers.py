#!/usr/bin/python3
"""Offers: POST /v1/offers (token, validation), GET /v1/offers, and the
live stream GET /v1/offers/stream over real sockets: a published offer
reaches subscribers on every worker; a reconnect with Last-Event-ID gets
exactly what it missed; 20 reloads while offers are published lose none
for any subscriber; a subscriber that stops reading is closed without the
worker's memory growing; heartbeats flow and a vanished client is noticed,
also once its stream owns the socket (a FIN, a reset, a half-close); a
stream after a keep-alive answer; a reload ends streams with retry:;
a real EventSource client (the eventsource package from npm, under node)
receives the stream."""

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

import placesd_test as T

PG = None
D = None
TOKEN = "s3cret-token-for-tests-0123456789"
TOKDIR = None
CITY = None
PLACE = None


def token_file(mode=0o600, text=TOKEN):
    path = os.path.join(TOKDIR, "token-%o" % mode)
    with open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, mode)
    return path


def setup():
    global PG, D, TOKDIR, CITY, PLACE
    T.use_contract()
    PG = T.shared_postgres()
    TOKDIR = tempfile.mkdtemp(prefix="placesd-tok-")
    os.chmod(TOKDIR, 0o755)
    D = T.Daemon(workers=2, persistent=True, conf={
        "offers": {"admin_token_file": token_file(), "heartbeat": "1s",
                   "retry": "200ms", "max_pending": "64k"},
        "cache": {"ttl": "1h"}})
    r = T.run([T.placesctl_path(), "-c", D.conf_path, "seed", "--places",
               "300", "--seed", "9"], timeout=300)
    if r.returncode != 0:
        T.fail("placesctl seed: %s %s" % (r.stdout, r.stderr))
    D.start()
    T.wait_until(lambda: D.metric("placesd_offer_feed_up") == 2, 60,
                 "both workers' offer feeds")
    row = PG.psql("SELECT id, city_id FROM places ORDER BY id LIMIT 1")[0]
    PLACE, CITY = int(row[0]), row[1]


def teardown_tokens():
    shutil.rmtree(TOKDIR, ignore_errors=True)


def publish(d=None, place=None, token=TOKEN, **over):
    body = {"place_id": place or PLACE, "title": "Two for one",
            "description": "Every second dish free", "discount_pct": 50,
            "starts_at": "2026-01-01T10:00:00Z",
            "ends_at": "2036-01-01T10:00:00Z"}
    body.update(over)
    h = {"Content-Type": "application/json"}
    if token is not None:
        h["Authorization"] = "Bearer " + token
    st, _, raw = (d or D).request("POST", "/v1/offers", headers=h,
                                  body=json.dumps(body), timeout=30)
    return st, raw


def publish_ok(**kw):
    st, raw = publish(**kw)
    T.check_eq(st, 201, "publish: %r" % raw[:300])
    return json.loads(raw)


# the SSE client is shared with test_nodes.py
Stream = T.Stream


def subscribers_on_both_workers():
    subs, slots = [], set()
    for _ in range(40):
        s = Stream(D)
        T.check_eq(s.status, 200, "stream status")
        s.wait(lambda x: x.worker() is not None, what="the hello comment")
        subs.append(s)
        slots.add(s.worker())
        if len(slots) == 2 and len(subs) >= 4:
            break
    T.check_eq(slots, {0, 1}, "workers of the subscribers")
    return subs


def test_stream_head_and_hello():
    s = Stream(D)
    try:
        T.check_eq(s.status, 200, "status")
        T.check(s.headers["content-type"].startswith("text/event-stream"),
                "content type %r" % s.headers["content-type"])
        T.check_eq(s.headers.get("transfer-encoding"), "chunked", "chunked")
        T.check_eq(s.headers.get("cache-control"), "no-cache", "no-cache")
        # the first chunk is flushed at once, before any offer
        s.wait(lambda x: x.retry is not None, what="retry and hello")
        T.check_eq(s.retry, 200, "retry: of [offers] retry")
        # heartbeats every second
        s.wait(lambda x: "hb" in x.comments, timeout=30, what="a heartbeat")
    finally:
        s.close()


def read_head(s, what):
    """Status line and headers of one answer on socket s; the bytes after."""
    raw = b""
    deadline = time.monotonic() + 30
    while b"\r\n\r\n" not in raw:
        s.settimeout(max(0.1, deadline - time.monotonic()))
        b = s.recv(65536)
        T.check(b, "%s: closed before the answer's head: %r" % (what, raw))
        raw += b
    head, rest = raw.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return lines[0], hdrs, rest


def recv_quiet(s, secs):
    """What s receives within secs: (bytes, closed)."""
    got, end = b"", time.monotonic() + secs
    while time.monotonic() < end:
        s.settimeout(max(0.05, end - time.monotonic()))
        try:
            b = s.recv(65536)
        except socket.timeout:
            break
        if not b:
            return got, True
        got += b
    return got, False


def test_stream_head_request():
    """HEAD of the stream: the head a GET gets (no Content-Length: 0),
    nothing after it, and the connection serves the next request."""
    s = socket.create_connection((D.host, D.port), timeout=30)
    try:
        s.sendall(b"HEAD /v1/offers/stream HTTP/1.1\r\nHost: x\r\n\r\n")
        line, hdrs, rest = read_head(s, "HEAD")
        T.check_eq(line, "HTTP/1.1 200 OK", "HEAD status line")
        T.check(hdrs.get("content-type", "").startswith("text/event-stream"),
                "HEAD content type %r" % hdrs.get("content-type"))
        T.check("content-length" not in hdrs, "HEAD announces Content-Length"
                " %r" % hdrs.get("content-length"))
        T.check("date" in hdrs, "HEAD without Date")
        T.check(hdrs.get("connection") != "close", "HEAD closes: %r" % hdrs)
        # the heartbeat is 1 s: a stream would have sent bytes by now
        got, closed = recv_quiet(s, 2.5)
        T.check_eq(rest + got, b"", "bytes after the HEAD answer")
        T.check(not closed, "the connection closed after HEAD")
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        line, _, _ = read_head(s, "GET after HEAD")
        T.check_eq(line, "HTTP/1.1 200 OK", "GET /healthz after HEAD")
    finally:
        s.close()
    # HTTP/1.0: the same head, then the close (no keep-alive asked)
    s = socket.create_connection((D.host, D.port), timeout=30)
    try:
        s.sendall(b"HEAD /v1/offers/stream HTTP/1.0\r\n\r\n")
        line, hdrs, rest = read_head(s, "HEAD HTTP/1.0")
        T.check_eq(line, "HTTP/1.0 200 OK", "HTTP/1.0 HEAD status line")
        T.check("transfer-encoding" not in hdrs, "HTTP/1.0 HEAD: %r" % hdrs)
        got, closed = recv_quiet(s, 30)
        T.check_eq(rest + got, b"", "bytes after the HTTP/1.0 HEAD answer")
        T.check(closed, "HTTP/1.0 HEAD: the connection stays open")
    finally:
        s.close()


def test_stream_http10():
    """An HTTP/1.0 subscriber gets the events unchunked, and at the end of
    the stream (a reload here) the connection closes."""
    s = Stream(D, version="HTTP/1.0")
    try:
        T.check_eq(s.status, 200, "status")
        T.check("transfer-encoding" not in s.headers,
                "HTTP/1.0 stream headers %r" % s.headers)
        T.check_eq(s.headers.get("connection"), "close", "Connection")
        s.wait(lambda x: x.retry is not None, what="retry and hello")
        offer = publish_ok(title="for HTTP/1.0")
        s.wait(lambda x: offer["id"] in x.ids(), what="the offer")
        T.check_eq([e[2] for e in s.events if e[0] == offer["id"]], [offer],
                   "the event's data")
        reload_until_closed(s, "the HTTP/1.0 stream did not close at its "
                            "end")
        T.check(s.retry is not None, "no retry: before the close")
        T.check(s.wire.startswith(b"retry: 200\n") and b"\r\n" not in s.wire,
                "chunk framing in the body: %r" % s.wire[:300])
    finally:
        s.close()
    T.wait_until(lambda: D.metric("placesd_offer_feed_up") == 2, 60,
                 "both workers' offer feeds after the reload")


def test_last_event_id_ahead_streams_from_now():
    """A Last-Event-ID above every offer (a restored database, a client
    of another deployment) is taken as "from now", and the stream says
    so; new offers reach it."""
    newest = publish_ok(title="the newest")["id"]
    ahead = newest + 1000000
    s = Stream(D, last_id=ahead)
    try:
        T.check_eq(s.status, 200, "status")
        # the database is asked first: the note follows the hello
        s.wait(lambda x: any(c.startswith("last-event-id") for c in
                             x.comments), what="the note on the id")
        notes = [c for c in s.comments if c.startswith("last-event-id")]
        T.check_eq(len(notes), 1, "the comment on the id: %r" % s.comments)
        T.check(notes[0].startswith("last-event-id %d is ahead of the "
                                    "newest offer " % ahead) and
                notes[0].endswith("; streaming from now"),
                "comment %r" % notes[0])
        # the worker's feed may not have seen "the newest" yet: from now
        # is from what the feed had seen when the subscriber came
        high = int(notes[0].split("newest offer ")[1].split(";")[0])
        T.check(high <= newest, "newest offer %d, the stream says %d"
                % (newest, high))
        live = publish_ok(title="after an id from the future")["id"]
        s.wait(lambda x: live in x.ids(), what="the live offer")
        T.check(s.ids() == sorted(set(s.ids())) and s.ids()[0] > high and
                s.ids()[-1] == live, "from now on, in order: %r (stream "
                "from %d)" % (s.ids(), high))
    finally:
        s.close()


def test_last_event_id_just_published():
    """A Last-Event-ID the worker's feed may not have seen yet (another
    worker sent it an instant ago) is not "ahead": nothing up to it comes
    again, nothing after it is lost."""
    for i in range(5):
        seen = publish_ok(title="just published %d" % i)["id"]
        s = Stream(D, last_id=seen)
        try:
            T.check_eq(s.status, 200, "status")
            s.wait(lambda x: x.worker() is not None, what="hello")
            nxt = publish_ok(title="after it %d" % i)["id"]
            s.wait(lambda x: nxt in x.ids(), what="the next offer")
            T.check_eq(s.ids(), [nxt], "after Last-Event-ID %d" % seen)
            T.check(not any(c.startswith("last-event-id") for c in
                            s.comments), "taken as ahead: %r" % s.comments)
        finally:
            s.close()


def test_publish_reaches_every_worker():
    subs = subscribers_on_both_workers()
    try:
        offer = publish_ok(title="Reach everyone")
        T.check_eq((offer["place_id"], offer["city"], offer["title"],
                    offer["discount_pct"], offer["starts_at"],
                    offer["ends_at"]),
                   (PLACE, CITY, "Reach everyone", 50,
                    "2026-01-01T10:00:00Z", "2036-01-01T10:00:00Z"),
                   "stored offer")
        for s in subs:
            s.wait(lambda x: offer["id"] in x.ids(), what="the offer")
            ev = [e for e in s.events if e[0] == offer["id"]][0]
            T.check_eq(ev[1], "offer", "event type")
            T.check_eq(ev[2], offer, "data of the event")
    finally:
        for s in subs:
            s.close()


def test_fanout_in_slices():
    """A worker hands an offer to its subscribers FEED_SLICE (128) at a
    time, serving its other sockets between slices (src/runtime/feed.c):
    with about 200 subscribers per worker, a burst of offers published
    back to back while some subscribers vanish mid-fan-out reaches every
    remaining subscriber whole, in id order, each once; /healthz answers
    meanwhile."""
    n, burst, gone = 400, 12, 40
    subs = []
    try:
        for _ in range(n):
            s = Stream(D)
            T.check_eq(s.status, 200, "stream status")
            subs.append(s)
        for s in subs:
            s.wait(lambda x: x.worker() is not None, what="the hello comment")
        per = {w: sum(1 for s in subs if s.worker() == w) for w in (0, 1)}
        T.log("subscribers per worker: %r" % per)
        T.check(max(per.values()) > 128, "no worker has more than one "
                "slice of subscribers: %r" % per)
        ids = []
        for k in range(burst):
            ids.append(publish_ok(title="Slice %d" % k)["id"])
            if k == burst // 2:
                for s in subs[:gone]:       # vanish mid-burst
                    s.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack("ii", 1, 0))
                    s.close()
                st, _, _ = D.get("/healthz", timeout=30)
                T.check_eq(st, 200, "/healthz during the fan-out")
        for i, s in enumerate(subs[gone:]):
            s.wait(lambda x: ids[-1] in x.ids(), timeout=60,
                   what="the burst's last offer (subscriber %d)" % i)
            got = [x for x in s.ids() if x >= ids[0]]
            T.check_eq(got, ids, "subscriber %d: the burst, in order, "
                       "each once" % i)
    finally:
        for s in subs:
            s.close()
    T.wait_until(lambda: D.metric("placesd_sse_subscribers") == 0, 30,
                 "every subscriber gone")


def test_heartbeats_only_on_quiet_streams():
    """A stream that has sent nothing for [offers] heartbeat (1 s here)
    gets ": hb"; one that offers keep busy gets none; and a stream whose
    city the offers skip still gets its heartbeats while they flow (the
    heartbeat pass is not starved by the fan-out, src/runtime/feed.c)."""
    other = PG.psql("SELECT city_id FROM places WHERE city_id <> '%s' "
                    "LIMIT 1" % CITY)[0][0]
    busy, idle = Stream(D), Stream(D, city=other)
    try:
        for s in (busy, idle):
            T.check_eq(s.status, 200, "stream status")
            s.wait(lambda x: x.retry is not None, what="the hello")
        # quiet: heartbeats flow
        end = time.monotonic() + 3.5
        while time.monotonic() < end:
            busy.pump(0.1)
        T.check(busy.order.count("hb") >= 2, "a quiet stream got %d "
                "heartbeats in 3.5 s (heartbeat 1s)" % busy.order.count("hb"))
        # busy: an offer every 0.25 s for 4 s
        ids, slow_gaps, last = [], 0, None
        for k in range(16):
            ids.append(publish_ok(title="Busy %d" % k)["id"])
            now = time.monotonic()
            if last is not None and now - last > 0.6:
                slow_gaps += 1      # a stalled machine: a beat is due
            last = now
            end = now + 0.25
            while time.monotonic() < end:
                busy.pump(0.02)
                idle.pump(0.02)
        busy.wait(lambda x: ids[-1] in x.ids(), what="the last busy offer")
        o = busy.order
        during = o[o.index(ids[0]):o.index(ids[-1])]
        T.check_eq([x for x in during if x != "hb"], ids[:-1],
                   "the busy stream's offers, in order")
        T.check(during.count("hb") <= slow_gaps, "a stream busy with "
                "offers got %d heartbeats (%d publish gaps over 0.6 s): %r"
                % (during.count("hb"), slow_gaps, during))
        # the other city's stream heard nothing of them, but its beats
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            idle.pump(0.1)
        T.check_eq(idle.ids(), [], "offers of another city")
        T.check(idle.order.count("hb") >= 4, "a stream the offers skip got "
                "%d heartbeats in 4.5 s and more" % idle.order.count("hb"))
    finally:
        busy.close()
        idle.close()


def test_last_event_id_replays_exactly_the_missed():
    s = Stream(D)
    first = publish_ok(title="seen")
    s.wait(lambda x: first["id"] in x.ids())
    s.close()
    missed = [publish_ok(title="missed %d" % i)["id"] for i in range(5)]
    s = Stream(D, last_id=first["id"])
    try:
        s.wait(lambda x: len(x.events) >= 5, what="the replay")
        live = publish_ok(title="live")["id"]
        s.wait(lambda x: live in x.ids(), what="the live offer")
        T.check_eq(s.ids(), missed + [live], "replayed then live, in order")
    finally:
        s.close()
    # city filter: only the city's offers are replayed
    other = PG.psql("SELECT id FROM places WHERE city_id <> '%s' ORDER BY "
                    "id LIMIT 1" % CITY)[0][0]
    a = publish_ok(title="mine")["id"]
    publish_ok(place=int(other), title="not mine")
    b = publish_ok(title="mine too")["id"]
    s = Stream(D, last_id=a - 1, city=CITY)
    try:
        s.wait(lambda x: b in x.ids(), what="the city's offers")
        T.check_eq(s.ids(), [a, b], "the city's offers only")
    finally:
        s.close()


def test_list_active_offers():
    live = publish_ok(title="active now")
    future = publish_ok(title="later", starts_at="2035-01-01T00:00:00Z")
    st, _, doc = D.get_json("/v1/offers?city=%s&since_id=%d"
                            % (CITY, live["id"] - 1))
    T.check_eq(st, 200, "list")
    ids = [o["id"] for o in doc["offers"]]
    T.check(live["id"] in ids, "the active offer is listed")
    T.check(future["id"] not in ids, "a future offer is listed")
    T.check(all(o["city"] == CITY for o in doc["offers"]), "city filter")
    st, _, doc = D.get_json("/v1/offers?place_id=%d&limit=1" % PLACE)
    T.check_eq((st, len(doc["offers"])), (200, 1), "limit")
    for q in ("city=Bad!", "since_id=-1", "limit=0", "place_id=x"):
        st, _, _ = D.get("/v1/offers?" + q)
        T.check_eq(st, 400, q)


def test_bad_tokens_and_bodies():
    st, raw = publish(token=None)
    T.check_eq(st, 401, "no token: %r" % raw)
    st, _, raw = D.request("POST", "/v1/offers", headers={
        "Content-Type": "application/json",
        "Authorization": "Basic " + TOKEN}, body="{}")
    T.check_eq(st, 401, "not a bearer token")
    for bad in ("wrong", TOKEN[:-1], TOKEN + "x", ""):
        st, raw = publish(token=bad)
        T.check(st in (401, 403), "token %r: %d" % (bad, st))
        if bad:
            T.check_eq(st, 403, "wrong token %r" % bad)
    cases = [
        ({"discount_pct": 0}, 400, "discount_pct"),
        ({"discount_pct": 101}, 400, "discount_pct"),
        ({"discount_pct": "5"}, 400, "discount_pct"),
        ({"title": ""}, 400, "title"),
        ({"title": "x" * 201}, 400, "title"),
        ({"description": "x" * 2001}, 400, "description"),
        ({"starts_at": "tomorrow"}, 400, "starts_at"),
        ({"ends_at": "2026-02-30T00:00:00Z"}, 400, "ends_at"),
        ({"place_id": 0}, 400, "place_id"),
        ({"extra": 1}, 400, "extra"),
        ({"place_id": 999999999}, 400, "place_id"),
        ({"ends_at": "2026-01-01T10:00:00Z"}, 400, "ends_at"),
        ({"ends_at": "2026-01-01T12:00:00+03:00"}, 400, "ends_at"),
        # after starts_at, but over already
        ({"starts_at": "2020-01-01T00:00:00Z",
          "ends_at": "2021-01-01T00:00:00Z"}, 400, "ends_at"),
    ]
    for over, status, field in cases:
        st, raw = publish(**over)
        T.check_eq(st, status, "%r: %r" % (over, raw[:200]))
        err = json.loads(raw)["error"]
        T.check_eq(err.get("field"), field, repr(over))
        T.check_eq(err["code"], "invalid_argument", repr(over))
    h = {"Content-Type": "application/json",
         "Authorization": "Bearer " + TOKEN}
    for body in ("{", "[]", '{"title":"a","title":"b"}'):
        st, _, raw = D.request("POST", "/v1/offers", headers=h, body=body)
        T.check_eq(st, 400, "body %r" % body)
    # a file readable by others is refused by -t and at start
    r = T.run([T.placesd_path(), "-t", "-c", write_conf_with(
        token_file(0o644))], timeout=30)
    T.check(r.returncode != 0 and "readable" in r.stderr,
            "placesd -t with a world-readable token: %s" % r.stderr)
    # no token configured: publishing refused
    d = T.Daemon(workers=1, name="notoken")
    d.start()
    st, raw = publish(d=d)
    T.check_eq(st, 403, "publishing without a configured token")
    d.stop()


def write_conf_with(tokpath):
    conf = T.merge_conf(D.conf, {"offers": {"admin_token_file": tokpath}})
    path = os.path.join(TOKDIR, "bad.conf")
    with open(path, "w") as f:
        f.write(T._ini(conf))
    return path


def test_stream_refusals():
    # past max_subscribers: 503 overloaded, the first one still served
    d = T.Daemon(workers=1, name="onesub", conf={
        "offers": {"max_subscribers": 1}})
    d.start()
    T.wait_until(lambda: d.metric("placesd_offer_feed_up") == 1, 60,
                 "the offer feed")
    first = Stream(d)
    try:
        T.check_eq(first.status, 200, "the first subscriber")
        second = Stream(d)
        T.check_eq(second.status, 503, "a subscriber past max_subscribers")
        second.wait(lambda x: b"overloaded" in x.body or x.closed,
                    what="the error body")
        T.check(b'"overloaded"' in second.body, "body %r" % second.body)
        second.close()
    finally:
        first.close()
    d.stop()
    # no database for the feed: 503 unavailable, at once
    d = T.Daemon(workers=1, name="nodb", conf={
        "database": {"conninfo": "host=/nonexistent dbname=x"}})
    d.start(wait_ready=False)
    T.wait_until(lambda: d.alive() and
                 d.get("/healthz", timeout=5)[0] == 200, 60, "/healthz")
    s = Stream(d)
    try:
        T.check_eq(s.status, 503, "a stream without a database")
        s.wait(lambda x: b"unavailable" in x.body or x.closed,
               what="the error body")
        T.check(b'"unavailable"' in s.body, "body %r" % s.body)
        T.check_eq(s.headers.get("retry-after"), "1", "Retry-After")
    finally:
        s.close()
    d.stop()


def test_vanished_client_is_noticed():
    before = D.metric("placesd_sse_subscribers")
    s = Stream(D)
    s.wait(lambda x: x.worker() is not None, what="hello")
    T.wait_until(lambda: D.metric("placesd_sse_subscribers") == before + 1,
                 30, "the subscriber counted")
    s.close()
    T.wait_until(lambda: D.metric("placesd_sse_subscribers") == before, 30,
                 "the vanished subscriber to be dropped")


def test_slow_subscriber_is_closed():
    s = Stream(D, rcvbuf=4096)
    s.wait(lambda x: x.worker() is not None, what="hello")
    slot = s.worker()
    pid = [p for p, sl, g in D.workers() if sl == slot][0]
    rss0 = int(T.proc_status(pid)["VmRSS"].split()[0])
    closed0 = D.metric("placesd_sse_slow_closed_total", 0)
    big = "x" * 2000
    n = 0
    while D.metric("placesd_sse_slow_closed_total", 0) == closed0:
        for _ in range(50):
            publish_ok(title="big", description=big)
            n += 1
        T.check(n < 5000, "5000 offers and the slow subscriber is still open")
    rss1 = int(T.proc_status(pid)["VmRSS"].split()[0])
    T.log("closed after %d offers of 2 KB; worker RSS %d -> %d KB"
          % (n, rss0, rss1))
    # max_pending is 64k: what the worker holds for it is bounded by that,
    # whatever was published (AddressSanitizer keeps freed memory in its
    # quarantine: the bound is checked in the plain build)
    if not asan_build():
        T.check(rss1 - rss0 < 16 * 1024, "worker RSS grew by %d KB"
                % (rss1 - rss0))
    # its socket is closed: what the kernel holds arrives, then the end
    deadline = time.monotonic() + 30
    while not s.closed and time.monotonic() < deadline:
        s.pump(0.5)
    T.check(s.closed, "the slow subscriber's connection stays open")
    s.close()


def test_vanished_after_handoff_are_freed():
    """Streams own their sockets once the head is sent: subscribers that
    vanish then (a FIN, a reset, a half-close, one that stopped reading
    first) are dropped from the subscriber gauge and the open connections,
    and the half-closed one sees the server close."""
    subs0 = D.metric("placesd_sse_subscribers")
    conns0 = D.metric("placesd_http_connections_open")
    ss = [Stream(D) for _ in range(3)] + [Stream(D, rcvbuf=4096)]
    for s in ss:
        s.wait(lambda x: x.worker() is not None, what="hello")
    T.wait_until(lambda: D.metric("placesd_sse_subscribers") == subs0 + 4,
                 30, "the subscribers counted")
    for _ in range(10):
        publish_ok(title="for the vanishing", description="y" * 2000)
    ss[0].close()
    ss[1].s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                       struct.pack("ii", 1, 0))
    ss[1].close()                       # a reset
    ss[2].s.shutdown(socket.SHUT_WR)    # a FIN, still reading
    ss[3].close()
    deadline = time.monotonic() + 30
    while not ss[2].closed and time.monotonic() < deadline:
        ss[2].pump(0.5)
    T.check(ss[2].closed, "the half-closed subscriber was not closed")
    ss[2].close()
    T.wait_until(lambda: D.metric("placesd_sse_subscribers") == subs0, 30,
                 "the vanished subscribers to be dropped")
    T.wait_until(lambda: D.metric("placesd_http_connections_open") <=
                 conns0, 30, "their connections to be closed")


def test_stream_after_a_keepalive_answer():
    """A stream asked for on a keep-alive connection after another answer,
    with one more request pipelined behind it: the first answer comes
    whole, then the stream's head and events; the request behind the
    stream is never answered (the connection closes after a stream)."""
    s = socket.create_connection((D.host, D.port), timeout=30)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        line, hdrs, rest = read_head(s, "GET /healthz")
        T.check_eq(line, "HTTP/1.1 200 OK", "/healthz status line")
        body = rest
        while len(body) < int(hdrs["content-length"]):
            body += s.recv(65536)
        s.sendall(b"GET /v1/offers/stream HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        line, hdrs, rest = read_head(s, "the stream")
        T.check_eq(line, "HTTP/1.1 200 OK", "stream status line")
        T.check_eq(hdrs.get("transfer-encoding"), "chunked", "chunked")
        T.check_eq(hdrs.get("connection"), "close", "Connection")
        T.check("date" in hdrs, "stream head without Date")
        offer = publish_ok(title="after keep-alive")
        want = ("id: %d\n" % offer["id"]).encode()
        deadline = time.monotonic() + 30
        while want not in rest and time.monotonic() < deadline:
            s.settimeout(1)
            try:
                b = s.recv(65536)
            except socket.timeout:
                continue
            T.check(b, "closed before the offer: %r" % rest[-300:])
            rest += b
        T.check(want in rest, "the offer did not arrive: %r" % rest[-300:])
        T.check(b"HTTP/1.1" not in rest, "the pipelined request was "
                "answered inside the stream: %r" % rest[:300])
    finally:
        s.close()


def reload_until_closed(s, what):
    """SIGHUP, then s read until the server ends it (within 30 s); its
    retry: is reset first, so that the one seen is the reload's."""
    s.retry = None
    gen = D.metric("placesd_generation")
    D.signal(signal.SIGHUP)
    T.wait_until(lambda: D.metric("placesd_generation") > gen, 60,
                 "the reload")
    deadline = time.monotonic() + 30
    while not s.closed and time.monotonic() < deadline:
        s.pump(0.5)
    T.check(s.closed, what)


def test_reload_ends_streams_with_retry():
    """A reload ends each chunked stream of the old workers with retry:
    (jittered, [offers] retry .. twice that), the last chunk and the
    close; the stream leaves no connection behind."""
    s = Stream(D)
    try:
        s.wait(lambda x: x.worker() is not None, what="hello")
        reload_until_closed(s, "the stream did not end at the reload")
        T.check(s.retry is not None and 200 <= s.retry < 400,
                "jittered retry: at the reload, got %r" % s.retry)
        T.check(getattr(s, "ended", False), "no terminating chunk")
    finally:
        s.close()
    T.wait_until(lambda: D.metric("placesd_offer_feed_up") == 2, 60,
                 "both workers' offer feeds after the reload")


def asan_build():
    with open(T.placesd_path(), "rb") as f:
        return b"__asan_init" in f.read()


class Follower(threading.Thread):
    """A subscriber that reconnects with its Last-Event-ID whenever its
    stream ends, as EventSource does; collects every id it gets."""

    def __init__(self):
        super().__init__(daemon=True)
        self.ids = []
        self.stop = False
        self.reconnects = 0
        self.error = None

    def run(self):
        last = None
        try:
            while not self.stop:
                try:
                    s = Stream(D, last_id=last)
                except (OSError, T.TestFailure):
                    time.sleep(0.2)
                    continue
                if s.status != 200:
                    s.close()
                    time.sleep(0.2)
                    continue
                while not self.stop and not s.closed:
                    s.pump(0.2)
                    for e in s.events:
                        self.ids.append(e[0])
                        last = e[0]
                    s.events = []
                s.close()
                self.reconnects += 1
                if s.retry:
                    time.sleep(s.retry / 1000.0)
        except Exception as e:      # noqa: reported by the test
            self.error = e


def test_reloads_lose_no_offer():
    followers = [Follower() for _ in range(4)]
    for f in followers:
        f.start()
    T.wait_until(lambda: D.metric("placesd_sse_subscribers") >= 4, 30,
                 "the followers to subscribe")
    published = []
    reloads = 0
    gen = D.metric("placesd_generation")
    for i in range(100):
        published.append(publish_ok(title="reload %d" % i)["id"])
        if i % 5 == 2 and reloads < 20:
            D.signal(signal.SIGHUP)
            reloads += 1
            T.wait_until(lambda: D.metric("placesd_generation") >= gen +
                         reloads, 60, "reload %d" % reloads)
    T.wait_until(lambda: all(set(published) <= set(f.ids)
                             for f in followers), 60,
                 "every follower to have every offer")
    for f in followers:
        f.stop = True
    for f in followers:
        f.join(10)
        T.check(f.error is None, "follower failed: %r" % (f.error,))
        got = [i for i in f.ids if i >= published[0]]
        T.check_eq(got, sorted(set(got)), "ids in order, no duplicate")
        T.check(set(published) <= set(got), "missing offers")
    T.log("%d reloads, %d offers, reconnects per follower: %s"
          % (reloads, len(published), [f.reconnects for f in followers]))
    # each reload ends the streams of the old workers; a follower that is
    # waiting out its retry: at that moment skips one
    T.check(all(f.reconnects >= 5 for f in followers),
            "the reloads did not end the streams")


def test_feed_reconnect_catches_up():
    s = Stream(D)
    try:
        s.wait(lambda x: x.worker() is not None, what="hello")
        log0 = D.log_text().count("offer feed connected again")
        # the node's one LISTEN, in the ranker, relayed to both workers
        killed = PG.psql("SELECT pg_terminate_backend(pid) FROM "
                         "pg_stat_activity WHERE application_name = "
                         "'placesd offer feed'")
        T.check_eq(len(killed), 1, "LISTEN connections of the node")
        # published while the feeds are away: found by id once back
        ids = [publish_ok(title="while away %d" % i)["id"] for i in range(3)]
        s.wait(lambda x: set(ids) <= set(x.ids()), what="the offers "
               "published while the feed reconnected")
        T.check_eq([i for i in s.ids() if i >= ids[0]], ids, "in order")
        T.wait_until(lambda: D.metric("placesd_offer_feed_up") == 2, 30,
                     "both feeds up again")
        T.check(D.log_text().count("offer feed connected again") >= log0 + 1,
                "the reconnect is not logged")
        T.check_eq(D.metric("placesd_offer_listen_up"), 1, "rankers "
                   "LISTENing")
    finally:
        s.close()


def test_place_change_drops_the_cached_place():
    # the cache keeps places for an hour here: only the notification can
    # make a worker answer the new name
    path = "/v1/places/%d" % PLACE
    for _ in range(8):              # both workers cache it
        st, _, doc = D.get_json(path)
        T.check_eq(st, 200, path)
    name = doc["name"]
    new = name + " (renamed)"
    PG.psql("UPDATE places SET name = '%s' WHERE id = %d"
            % (new.replace("'", "''"), PLACE))
    try:
        T.wait_until(lambda: all(D.get_json(path)[2]["name"] == new
                                 for _ in range(8)), 30,
                     "every worker to answer the new name")
    finally:
        PG.psql("UPDATE places SET name = '%s' WHERE id = %d"
                % (name.replace("'", "''"), PLACE))


def test_stop_ends_streams_with_retry():
    d = T.Daemon(workers=1, name="stopper", conf={
        "offers": {"retry": "1s"}})
    d.start()
    s = Stream(d)
    try:
        s.wait(lambda x: x.worker() is not None, what="hello")
        s.retry = None
        d.signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        while not s.closed and time.monotonic() < deadline:
            s.pump(0.5)
        T.check(s.closed, "the stream did not end at the stop")
        T.check(s.retry is not None and 1000 <= s.retry < 2000,
                "jittered retry: at the stop, got %r" % s.retry)
        T.check(getattr(s, "ended", False), "no terminating chunk")
        T.check_eq(d.wait_exit(30), 0, "exit status")
    finally:
        s.close()


EVENTSOURCE_JS = r"""
const { EventSource } = (() => {
  const m = require('eventsource');
  return m.EventSource ? m : { EventSource: m };
})();
const es = new EventSource(process.argv[2]);
const want = parseInt(process.argv[3], 10);
const got = [];
es.addEventListener('offer', (e) => {
  got.push({ id: e.lastEventId, data: JSON.parse(e.data) });
  if (got.length >= want) {
    console.log(JSON.stringify(got));
    es.close();
    process.exit(0);
  }
});
es.onopen = () => console.error('open');
setTimeout(() => { console.error('timeout'); process.exit(3); }, 60000);
"""


def node_modules():
    """node and the directory of the pinned clients (tests/package.json,
    installed by `npm ci --prefix tests`, as run-tests.sh does); skips
    without them, unless PLACESD_REQUIRE_NODE says they must be there."""
    node = shutil.which("node")
    mod = os.environ.get("PLACESD_NODE_MODULES") or os.path.join(
        os.environ.get("top_srcdir", "."), "tests", "node_modules")
    have = node and os.path.isfile(os.path.join(mod, "eventsource",
                                                "package.json"))
    if have:
        return node, mod
    why = ("node is not installed" if not node else
           "%s has no eventsource: npm ci --prefix tests" % mod)
    if os.environ.get("PLACESD_REQUIRE_NODE"):
        T.fail(why)
    T.skip(why)


def test_real_eventsource_client():
    node, mod = node_modules()
    script = os.path.join(TOKDIR, "es.js")
    with open(script, "w") as f:
        f.write(EVENTSOURCE_JS)
    env = dict(os.environ, NODE_PATH=mod)
    p = subprocess.Popen([node, script, D.url + "/v1/offers/stream", "2"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env, text=True)
    try:
        T.wait_until(lambda: D.metric("placesd_sse_subscribers") >= 1 or
                     p.poll() is not None, 30, "the node client to connect")
        time.sleep(0.5)
        a, b = publish_ok(title="for node 1"), publish_ok(title="for node 2")
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    T.check_eq(p.returncode, 0, "node client: %s" % err[-500:])
    got = json.loads(out)
    T.check_eq([int(g["id"]) for g in got], [a["id"], b["id"]], "ids")
    T.check_eq(got[0]["data"], a, "the first offer as node parsed it")


if __name__ == "__main__":
    try:
        T.run_main([
            test_stream_head_and_hello,
            test_stream_head_request,
            test_stream_http10,
            test_last_event_id_ahead_streams_from_now,
            test_last_event_id_just_published,
            test_publish_reaches_every_worker,
            test_fanout_in_slices,
            test_heartbeats_only_on_quiet_streams,
            test_last_event_id_replays_exactly_the_missed,
            test_list_active_offers,
            test_bad_tokens_and_bodies,
            test_stream_refusals,
            test_vanished_client_is_noticed,
            test_slow_subscriber_is_closed,
            test_vanished_after_handoff_are_freed,
            test_stream_after_a_keepalive_answer,
            test_reload_ends_streams_with_retry,
            test_reloads_lose_no_offer,
            test_feed_reconnect_catches_up,
            test_place_change_drops_the_cached_place,
            test_stop_ends_streams_with_retry,
            test_real_eventsource_client,
        ], setup=setup)
    finally:
        teardown_tokens()
