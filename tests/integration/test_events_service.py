#!/usr/bin/python3
"""placesd-events, the demo's external events service: the normal answer
(fields, types, determinism), 400/404/405, keep-alive and pipelining, every
fault mode through /_control with its exact observable behaviour, times=N,
the counters, faults from the query string and from -f/-r, the command
line, and a clean exit on SIGTERM.  Real sockets against the real binary;
assertions on states and counts, never on speed."""

import datetime
import json
import os
import re
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import placesd_test as T  # noqa: E402

DATE = "2026-11-23"
CITY = "moscow"
PATH = "/events/%s?city=%s" % (DATE, CITY)
CATEGORIES = {"concert", "theatre", "exhibition", "festival", "sport",
              "talk", "market", "cinema"}
FIELDS = {"id", "title", "category", "starts_at", "ends_at", "venue",
          "place_id", "price_cents", "url"}
ID_RE = re.compile(r"^evt-\d{8}-[a-z0-9_-]{1,64}-\d+$")
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


# --------------------------------------------------------------------------
# helpers

def service(*args):
    return T.EventsService(args=args).start()


def stop_clean(ev):
    """SIGTERM: exit 0, no sanitizer report."""
    rc = ev.stop()
    T.check_eq(rc, 0, "exit code after SIGTERM (log: %r)"
               % ev.log_text()[-500:])
    rep = ev.sanitizer_report()
    T.check(rep is None, "sanitizer report: %s" % rep)


def parse_time(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ")


def event_problems(ev, date=None, max_place_id=1000):
    """What is wrong with one event ([] if it is a valid one)."""
    if not isinstance(ev, dict):
        return ["not an object: %r" % (ev,)]
    out = []
    if set(ev) != FIELDS:
        out.append("fields %s" % sorted(set(ev) ^ FIELDS))
    if not (isinstance(ev.get("id"), str) and ID_RE.match(ev["id"])):
        out.append("id %r" % (ev.get("id"),))
    if not (isinstance(ev.get("title"), str) and ev["title"]):
        out.append("title %r" % (ev.get("title"),))
    if ev.get("category") not in CATEGORIES:
        out.append("category %r" % (ev.get("category"),))
    times_ok = True
    for k in ("starts_at", "ends_at"):
        v = ev.get(k)
        if not (isinstance(v, str) and TIME_RE.match(v)):
            out.append("%s %r" % (k, v))
            times_ok = False
    if times_ok:
        if parse_time(ev["ends_at"]) <= parse_time(ev["starts_at"]):
            out.append("ends_at not after starts_at")
        if date and not ev["starts_at"].startswith(date + "T"):
            out.append("starts_at %r not on %s" % (ev["starts_at"], date))
    if not (isinstance(ev.get("venue"), str) and ev["venue"]):
        out.append("venue %r" % (ev.get("venue"),))
    pid = ev.get("place_id")
    if pid is not None and not (type(pid) is int and
                                1 <= pid <= max_place_id):
        out.append("place_id %r" % (pid,))
    price = ev.get("price_cents")
    if price is not None and not (type(price) is int and price >= 0):
        out.append("price_cents %r" % (price,))
    if ev.get("url") != "https://events.example/%s" % ev.get("id"):
        out.append("url %r" % (ev.get("url"),))
    return out


def check_events(doc, date=DATE, max_place_id=1000):
    T.check(isinstance(doc, list), "not a JSON array: %r" % (doc,))
    T.check(4 <= len(doc) <= 12, "%d events, want 4..12" % len(doc))
    for i, ev in enumerate(doc):
        p = event_problems(ev, date, max_place_id)
        T.check(not p, "event %d is invalid: %s: %r" % (i, p, ev))
    ids = [ev["id"] for ev in doc]
    want = ["evt-%s-%s-%d" % (date.replace("-", ""), CITY, i + 1)
            for i in range(len(doc))]
    T.check_eq(ids, want, "ids")
    starts = [ev["starts_at"] for ev in doc]
    T.check_eq(starts, sorted(starts), "events ordered by starts_at")


def get_events(ev, path=PATH):
    st, hdrs, body = ev.get(path)
    T.check_eq(st, 200, "GET %s status (body %r)" % (path, body[:200]))
    T.check_eq(hdrs.get("Content-Type"), "application/json",
               "Content-Type")
    return body


class Raw:
    """A raw client connection with a read buffer."""

    def __init__(self, ev, timeout=30):
        self.sock = socket.create_connection((ev.host, ev.port),
                                             timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def get(self, path, headers=""):
        self.send(("GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n"
                   % (path, headers)).encode())

    def fill(self):
        """More bytes into the buffer; False at EOF."""
        data = self.sock.recv(65536)
        self.buf += data
        return bool(data)

    def head(self):
        """(status, {lower-case name: value}) of the next response."""
        while b"\r\n\r\n" not in self.buf:
            if not self.fill():
                T.fail("EOF before the end of a response head: %r"
                       % self.buf[:200])
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        return status, hdrs

    def body(self, n):
        while len(self.buf) < n:
            if not self.fill():
                T.fail("EOF after %d of %d body bytes" % (len(self.buf), n))
        b, self.buf = self.buf[:n], self.buf[n:]
        return b

    def response(self):
        st, hdrs = self.head()
        return st, hdrs, self.body(int(hdrs["content-length"]))

    def at_eof(self):
        """True once the server closed (reads what is left first)."""
        while self.fill():
            pass
        return True


def wait_open_connections(ev, n, timeout=30):
    """Connections other than the asking one converge to n (a client's
    close reaches the service a moment after the client moved on)."""
    T.wait_until(lambda: ev.state()["open_connections"] == n, timeout,
                 "open_connections == %d" % n)


def without_conns(state):
    return {k: v for k, v in state.items() if k != "open_connections"}


# --------------------------------------------------------------------------
# normal answers and HTTP

def test_normal_answer():
    ev = service()
    body = get_events(ev)
    check_events(json.loads(body.decode("utf-8")))
    T.check_eq(get_events(ev), body, "second answer (bytes)")
    other = get_events(ev, "/events/2026-11-24?city=%s" % CITY)
    T.check(other != body, "another date gives the same answer")
    check_events(json.loads(other), date="2026-11-24")
    city2 = get_events(ev, "/events/%s?city=paris" % DATE)
    T.check(city2 != body, "another city gives the same answer")
    # over many days: counts span 4..12, place_id null about 40 %
    counts, nulls, total = set(), 0, 0
    for d in range(1, 29):
        doc = json.loads(get_events(ev, "/events/2026-02-%02d?city=%s"
                                    % (d, CITY)))
        check_events(doc, date="2026-02-%02d" % d)
        counts.add(len(doc))
        nulls += sum(e["place_id"] is None for e in doc)
        total += len(doc)
    T.check(len(counts) >= 4, "event counts hardly vary: %r" % counts)
    T.check(0.2 < nulls / total < 0.6, "place_id null in %d of %d"
            % (nulls, total))
    st = ev.state()
    T.check_eq(st["requests"], 32, "requests")
    T.check_eq(st["by_fault"], {"none": 32}, "by_fault")
    stop_clean(ev)


def test_seed_and_max_place_id():
    a = service()
    body = get_events(a)
    stop_clean(a)
    b = service("-s", "1")
    T.check_eq(get_events(b), body, "same seed, other process")
    stop_clean(b)
    c = service("-s", "2", "-P", "5")
    other = get_events(c)
    T.check(other != body, "-s 2 gives the same answer as -s 1")
    for d in range(1, 11):
        check_events(json.loads(get_events(
            c, "/events/2026-03-%02d?city=%s" % (d, CITY))),
            date="2026-03-%02d" % d, max_place_id=5)
    stop_clean(c)


def test_bad_requests():
    ev = service()
    for date in ("2026-02-30", "2026-13-01", "2025-02-29", "26-11-23",
                 "2026-1-23", "tomorrow", "2026-11-23x"):
        st, _, body = ev.get("/events/%s?city=%s" % (date, CITY))
        T.check_eq(st, 400, "date %s" % date)
        T.check("error" in json.loads(body), "400 body: %r" % body)
    T.check_eq(ev.get("/events/2024-02-29?city=x")[0], 200, "leap day")
    for q in ("city=Moscow", "city=", "city=" + "a" * 65, "city=a%20b",
              "nocity=1", "", "city=x&fault=nope", "city=x&delay_ms=-1",
              "city=x&fault=huge&size=1", "city=x&size=2g"):
        st, _, body = ev.get("/events/%s?%s" % (DATE, q))
        T.check_eq(st, 400, "query %r (body %r)" % (q, body))
        T.check("error" in json.loads(body), "400 body: %r" % body)
    T.check_eq(ev.get("/events/%s?city=%s" % (DATE, "a" * 64))[0], 200,
               "64-character city")
    for path in ("/", "/nope", "/events", "/_control/x", "/eventsx/1"):
        st, _, body = ev.get(path)
        T.check_eq(st, 404, "GET %s" % path)
        T.check("error" in json.loads(body), "404 body: %r" % body)
    st, hdrs, _ = ev.request("POST", PATH)
    T.check_eq(st, 405, "POST /events")
    T.check_eq(hdrs.get("Allow"), "GET", "Allow of /events")
    st, hdrs, _ = ev.request("DELETE", "/_control")
    T.check_eq(st, 405, "DELETE /_control")
    # malformed requests: 400 and the connection closes
    for raw in (b"GARBAGE\r\n\r\n", b"GET /x HTTP/2.0\r\n\r\n",
                b"GET x HTTP/1.1\r\n\r\n",
                b"GET /x HTTP/1.1\r\nNo colon here\r\n\r\n",
                b"GET /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
                b"GET /x HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n"):
        r = Raw(ev)
        try:
            r.send(raw)
            st, hdrs, body = r.response()
            T.check_eq(st, 400, "malformed %r" % raw[:40])
            T.check_eq(hdrs.get("connection"), "close",
                       "Connection of the 400")
            T.check(r.at_eof(), "connection still open after a 400")
        finally:
            r.close()
    st = ev.state()
    # the /events ones count, whatever their fate (400, 405)
    T.check_eq(st["requests"], 7 + 1 + 10 + 1 + 1, "requests")
    T.check_eq(st["by_fault"], {"none": st["requests"]}, "by_fault")
    stop_clean(ev)


def test_keep_alive_and_pipelining():
    ev = service()
    want = get_events(ev)
    r = Raw(ev)
    try:
        r.get(PATH)
        st, hdrs, b1 = r.response()
        T.check_eq((st, b1), (200, want), "first answer")
        T.check("connection" not in hdrs, "HTTP/1.1 answer closes: %r"
                % hdrs)
        wait_open_connections(ev, 1)
        r.get("/_control")
        st, _, b2 = r.response()
        T.check_eq(st, 200, "second request on the same connection")
        # the asking connection does not count itself
        T.check_eq(json.loads(b2)["open_connections"], 0,
                   "open_connections seen by the only client")
        # two requests in one write
        r.send(("GET %s HTTP/1.1\r\n\r\nGET %s HTTP/1.1\r\n\r\n"
                % (PATH, PATH)).encode())
        for i in range(2):
            st, _, b = r.response()
            T.check_eq((st, b), (200, want), "pipelined answer %d" % i)
        r.get(PATH, "Connection: close\r\n")
        st, hdrs, b = r.response()
        T.check_eq(st, 200, "Connection: close request")
        T.check_eq(hdrs.get("connection"), "close", "its Connection")
        T.check(r.at_eof(), "still open after Connection: close")
    finally:
        r.close()
    # HTTP/1.0 closes unless asked to keep alive
    r = Raw(ev)
    try:
        r.send(("GET %s HTTP/1.0\r\n\r\n" % PATH).encode())
        st, hdrs, b = r.response()
        T.check_eq((st, b), (200, want), "HTTP/1.0 answer")
        T.check(r.at_eof(), "HTTP/1.0 connection still open")
    finally:
        r.close()
    wait_open_connections(ev, 0)
    stop_clean(ev)


# --------------------------------------------------------------------------
# faults through /_control

def test_fault_500_503():
    ev = service()
    s = ev.control(fault=500)
    T.check_eq((s["fault"], s["remaining"]), ("500", None), "state")
    for _ in range(2):
        st, hdrs, body = ev.get(PATH)
        T.check_eq(st, 500, "status under fault=500")
        T.check_eq(hdrs.get("Content-Type"), "application/json", "type")
        T.check("error" in json.loads(body), "500 body %r" % body)
    ev.control(fault=503)
    st, hdrs, body = ev.get(PATH)
    T.check_eq(st, 503, "status under fault=503")
    T.check_eq(hdrs.get("Retry-After"), "1", "Retry-After")
    T.check("error" in json.loads(body), "503 body %r" % body)
    s = ev.control(fault="none")
    T.check_eq((s["fault"], s["remaining"]), ("none", None), "cleared")
    T.check_eq(ev.get(PATH)[0], 200, "after fault=none")
    T.check_eq(s["by_fault"], {"500": 2, "503": 1}, "by_fault")
    stop_clean(ev)


def test_fault_badjson():
    ev = service()
    want = get_events(ev)
    ev.control(fault="badjson")
    bodies = []
    for i in range(5):
        body = get_events(ev)
        try:
            json.loads(body)
        except ValueError:      # UnicodeDecodeError is one too
            bodies.append(body)
            continue
        T.fail("badjson answer %d parses: %r" % (i, body[:200]))
    T.check_eq(len(set(bodies)), 5, "distinct badjson variants")
    T.check(want.startswith(bodies[0]) and bodies[0] != want,
            "variant 0 is the events cut short")
    T.check_eq(bodies[4], b"", "variant 4 is empty")
    T.check_eq(get_events(ev), bodies[0], "the rotation starts over")
    stop_clean(ev)


def test_fault_wrongshape():
    ev = service()
    want = json.loads(get_events(ev))
    ev.control(fault="wrongshape")
    docs = [json.loads(get_events(ev)) for _ in range(4)]
    T.check_eq(docs[0], {"events": want}, "variant 0: an object")
    T.check_eq(docs[1], [e["id"] for e in want], "variant 1: strings")
    T.check(isinstance(docs[2], list) and docs[2] and
            all(type(x) is int for x in docs[2]), "variant 2: numbers")
    T.check(isinstance(docs[3], list) and len(docs[3]) == len(want),
            "variant 3: an array of events")
    for i, e in enumerate(docs[3]):
        T.check(event_problems(e, DATE), "variant 3: event %d is valid: "
                "%r" % (i, e))
    for i, d in enumerate(docs):
        T.check(not isinstance(d, list) or
                all(event_problems(e, DATE) for e in d),
                "wrongshape answer %d has a valid event" % i)
    stop_clean(ev)


def test_fault_partial():
    ev = service()
    for day in range(1, 8):
        path = "/events/2026-05-%02d?city=%s" % (day, CITY)
        want = json.loads(get_events(ev, path))
        ev.control(fault="partial", times=1)
        doc = json.loads(get_events(ev, path))
        T.check_eq(len(doc), len(want), "number of events")
        bad = [i for i, e in enumerate(doc) if event_problems(e)]
        T.check_eq(bad, [i for i in range(len(doc)) if i % 3 == 2],
                   "indexes of the bad events")
        T.check_eq(len(bad), len(doc) // 3, "floor(N/3) bad")
        for i, e in enumerate(doc):
            if i % 3 != 2:
                T.check_eq(e, want[i], "good event %d" % i)
            else:
                # exactly one field differs (rotating)
                diff = {k for k in FIELDS if e.get(k, "MISSING") !=
                        want[i][k]}
                T.check_eq(len(diff), 1, "bad event %d differs in %r"
                           % (i, diff))
    stop_clean(ev)


def test_fault_short():
    ev = service()
    want = get_events(ev)
    ev.control(fault="short")
    r = Raw(ev)
    try:
        r.get(PATH)
        st, hdrs = r.head()
        T.check_eq(st, 200, "status")
        T.check_eq(int(hdrs["content-length"]), len(want),
                   "Content-Length is the true length")
        r.at_eof()
        T.check_eq(r.buf, want[:len(want) // 2], "the first half, then EOF")
    finally:
        r.close()
    stop_clean(ev)


def test_fault_reset():
    ev = service()
    ev.control(fault="reset", times=1)
    r = Raw(ev)
    got = None
    try:
        r.get(PATH)
        try:
            got = r.sock.recv(65536)
        except ConnectionResetError:
            got = "reset"
    finally:
        r.close()
    T.check(got in ("reset", b""), "reset: got %r" % (got,))
    T.check_eq(get_events(ev), get_events(ev), "answers after a reset")
    s = ev.state()
    T.check_eq(s["by_fault"].get("reset"), 1, "by_fault reset")
    stop_clean(ev)


def test_fault_hang():
    ev = service()
    ev.control(fault="hang", times=1)
    r = Raw(ev)
    try:
        r.get(PATH)
        r.sock.settimeout(1.0)
        try:
            data = r.sock.recv(1)
            T.fail("hang: got %r" % data)
        except socket.timeout:
            pass
        # still open, and the service still answers others
        wait_open_connections(ev, 1)
        get_events(ev)
        r.sock.settimeout(0.5)
        try:
            data = r.sock.recv(1)
            T.fail("hang: got %r later" % data)
        except socket.timeout:
            pass
    finally:
        r.close()
    wait_open_connections(ev, 0)
    stop_clean(ev)


def test_fault_trickle():
    ev = service()
    want = get_events(ev)
    ev.control(fault="trickle", delay_ms=20, times=1)
    r = Raw(ev)
    try:
        r.get(PATH)
        st, hdrs = r.head()
        T.check_eq(st, 200, "status")
        n = int(hdrs["content-length"])
        T.check_eq(n, len(want), "Content-Length")
        T.check_eq(r.body(n), want, "trickled body")
        T.check_eq(r.buf, b"", "bytes after the body")
        # keep-alive still works after it
        r.get(PATH)
        T.check_eq(r.response()[2], want, "answer after the trickle")
    finally:
        r.close()
    stop_clean(ev)


def test_fault_huge():
    ev = service()
    ev.control(fault="huge", size="8m")
    st, hdrs, body = ev.get(PATH, timeout=60)
    T.check_eq(st, 200, "status")
    T.check_eq(int(hdrs["Content-Length"]), 8 * 1024 * 1024,
               "Content-Length")
    T.check_eq(len(body), 8 * 1024 * 1024, "body length")
    doc = json.loads(body)
    T.check(isinstance(doc, list) and len(doc) > 1000, "a big array")
    for e in doc[:50] + doc[-50:]:
        T.check(not event_problems(e, DATE), "huge event %r" % (e,))
    T.check_eq(len({e["id"] for e in doc}), len(doc), "distinct ids")
    # exact size for small ones too
    for size in (2, 3, 100, 1000, 4097):
        ev.control(fault="huge", size=size, times=1)
        st, hdrs, body = ev.get(PATH)
        T.check_eq((st, len(body)), (200, size), "size %d" % size)
        T.check(isinstance(json.loads(body), list), "size %d" % size)
    stop_clean(ev)
test_fault_huge.timeout = 300


def vm_kb(pid, key):
    st = T.proc_status(pid) or {}
    return int(st.get(key, "0 kB").split()[0])


def test_fault_huge_client_closes():
    ev = service()
    ev.control(fault="huge", size="1024m")
    r = Raw(ev)
    try:
        r.get(PATH)
        st, hdrs = r.head()
        T.check_eq(st, 200, "status")
        T.check_eq(int(hdrs["content-length"]), 1024 ** 3,
                   "Content-Length")
        while len(r.buf) < 64 * 1024:
            T.check(r.fill(), "EOF early")
    finally:
        r.close()
    wait_open_connections(ev, 0)
    T.check(ev.alive(), "placesd-events died")
    # it never held the body: far below 1 GiB even under ASan
    peak = vm_kb(ev.pid, "VmHWM")
    T.check(peak < 400 * 1024, "peak RSS %d kB" % peak)
    ev.control(fault="none")
    get_events(ev)
    stop_clean(ev)


def test_delay():
    ev = service()
    want = get_events(ev)
    ev.control(fault="delay", delay_ms=300, times=1)
    t0 = time.monotonic()
    T.check_eq(get_events(ev), want, "delayed answer")
    T.check(time.monotonic() - t0 >= 0.29, "answered before delay_ms")
    # delay combines with the other modes: wait, then misbehave
    ev.control(fault=500, delay_ms=300, times=1)
    t0 = time.monotonic()
    T.check_eq(ev.get(PATH)[0], 500, "delayed 500")
    T.check(time.monotonic() - t0 >= 0.29, "500 before delay_ms")
    # a client that leaves during the delay does not stay counted
    ev.control(fault="delay", delay_ms=200, times=1)
    r = Raw(ev)
    r.get(PATH)
    r.close()
    wait_open_connections(ev, 0)
    stop_clean(ev)


def test_times():
    ev = service()
    s = ev.control(fault=500, times=2)
    T.check_eq((s["fault"], s["remaining"]), ("500", 2), "state")
    T.check_eq(ev.get(PATH)[0], 500, "first")
    T.check_eq(ev.state()["remaining"], 1, "remaining after one")
    T.check_eq(ev.get(PATH)[0], 500, "second")
    s = ev.state()
    T.check_eq((s["fault"], s["remaining"]), ("none", None),
               "state after two")
    for _ in range(3):
        T.check_eq(ev.get(PATH)[0], 200, "after times=2")
    s = ev.state()
    T.check_eq(s["requests"], 5, "requests")
    T.check_eq(s["by_fault"], {"500": 2, "none": 3}, "by_fault")
    stop_clean(ev)


def test_control_state_and_counters():
    ev = service()
    empty = {"fault": "none", "remaining": None, "delay_ms": 0, "size": 0,
             "requests": 0, "by_fault": {}}
    T.check_eq(without_conns(ev.state()), empty, "initial state")
    wait_open_connections(ev, 0)
    s = ev.control(fault="huge", size="1k", delay_ms=5, times=3)
    T.check_eq((s["fault"], s["remaining"], s["delay_ms"], s["size"]),
               ("huge", 3, 5, 1024), "state")
    ev.get(PATH)
    ev.get("/events/2026-02-30?city=x")          # 400: counts, no fault
    s = ev.state()
    T.check_eq((s["requests"], s["remaining"]), (2, 2), "counters")
    T.check_eq(s["by_fault"], {"huge": 1, "none": 1}, "by_fault")
    ev.get("/_control")
    ev.get("/nope")
    T.check_eq(ev.state()["requests"], 2, "others do not count")
    T.check_eq(without_conns(ev.control(reset=1)), empty, "after reset=1")
    s = ev.control(fault="none", times=1)    # a normal answer, even with -f
    T.check_eq((s["fault"], s["remaining"]), ("none", 1), "none times=1")
    for q in ("fault=bogus", "fault=500&delay_ms=x",
              "fault=500&delay_ms=3600001", "fault=huge&size=1",
              "fault=huge&size=1025m", "fault=500&times=0",
              "fault=500&times=-1", "fault=500&bogus=1", "delay_ms=5",
              "times=2", "reset=2", "fault=%zz"):
        st, _, body = ev.request("POST", "/_control?" + q)
        T.check_eq(st, 400, "POST /_control?%s (body %r)" % (q, body))
        T.check("error" in json.loads(body), "400 body %r" % body)
    T.check_eq(ev.state()["remaining"], 1, "bad requests change nothing")
    stop_clean(ev)


def test_query_faults():
    ev = service()
    want = get_events(ev)
    st, hdrs, _ = ev.get(PATH + "&fault=503")
    T.check_eq((st, hdrs.get("Retry-After")), (503, "1"), "?fault=503")
    T.check_eq(ev.get(PATH + "&fault=500")[0], 500, "?fault=500")
    T.check_eq(ev.get(PATH + "&fault=none")[0], 200, "?fault=none")
    t0 = time.monotonic()
    T.check_eq(ev.get(PATH + "&delay_ms=300")[2], want, "?delay_ms=300")
    T.check(time.monotonic() - t0 >= 0.29, "answered before delay_ms")
    st, _, body = ev.get(PATH + "&fault=huge&size=5000")
    T.check_eq((st, len(body)), (200, 5000), "?fault=huge&size=5000")
    # the control endpoint wins over the query
    ev.control(fault=503, times=1)
    T.check_eq(ev.get(PATH + "&fault=500")[0], 503, "control wins")
    T.check_eq(ev.get(PATH + "&fault=500")[0], 500, "then the query")
    s = ev.state()
    T.check_eq(s["by_fault"], {"none": 2, "503": 2, "500": 2, "delay": 1,
                               "huge": 1}, "by_fault")
    stop_clean(ev)


def test_command_line_fault():
    ev = service("-f", "500", "-r", "1")
    for _ in range(3):
        T.check_eq(ev.get(PATH)[0], 500, "-f 500 -r 1")
    # the query and the control endpoint win over -f
    T.check_eq(ev.get(PATH + "&fault=503")[0], 503, "query over -f")
    ev.control(fault="none", times=1)
    T.check_eq(ev.get(PATH)[0], 200, "control none over -f")
    T.check_eq(ev.get(PATH)[0], 500, "-f again")
    stop_clean(ev)
    ev = service("-f", "500", "-r", "0")
    for _ in range(5):
        T.check_eq(ev.get(PATH)[0], 200, "-f 500 -r 0")
    stop_clean(ev)
    # rate 0.5: some of each, the same sequence for the same seed
    seqs = []
    for _ in range(2):
        ev = service("-f", "503", "-r", "0.5", "-s", "7")
        seqs.append([ev.get(PATH)[0] for _ in range(40)])
        stop_clean(ev)
    T.check_eq(seqs[0], seqs[1], "same seed, same sequence")
    T.check(set(seqs[0]) == {200, 503}, "rate 0.5: %r" % seqs[0])
    ev = service("-d", "300", "-v")
    t0 = time.monotonic()
    get_events(ev)
    T.check(time.monotonic() - t0 >= 0.29, "-d 300: answered before")
    stop_clean(ev)
    T.check("GET %s fault=none status=200" % PATH in ev.log_text(),
            "-v line missing: %r" % ev.log_text())


def test_sigterm():
    """SIGTERM with work in flight on every kind of connection: all of it
    is freed (the ASan build checks for leaks at exit) and it exits 0."""
    ev = service()
    conns = [Raw(ev)]                           # idle
    try:
        for q in ("&fault=hang", "&delay_ms=600000",
                  "&fault=trickle&delay_ms=600000",
                  "&fault=huge&size=1024m"):    # never read: stalls
            conns.append(Raw(ev))
            conns[-1].get(PATH + q)
        conns.append(Raw(ev))
        conns[-1].send(b"GET /events/2026-11-23?ci")    # half a head
        wait_open_connections(ev, len(conns))
        T.wait_until(lambda: ev.state()["requests"] == 4, 30,
                     "the four /events requests")
        ev.signal(signal.SIGTERM)
        try:
            rc = ev.proc.wait(timeout=15)
        except Exception:
            rc = None
        T.check_eq(rc, 0, "exit code after SIGTERM")
        for c in conns:
            c.sock.settimeout(30)
            try:
                c.at_eof()
            except ConnectionResetError:
                pass
    finally:
        for c in conns:
            c.close()
    stop_clean(ev)
    T.check("placesd-events: listening on 127.0.0.1:%d" % ev.port in
            ev.log_text(), "listening line: %r" % ev.log_text())
    ev = service()
    ev.signal(signal.SIGINT)
    T.check_eq(ev.proc.wait(timeout=15), 0, "exit code after SIGINT")
    stop_clean(ev)


def test_command_line():
    prog = T.events_path()
    r = T.run([prog, "-V"])
    T.check_eq(r.returncode, 0, "-V")
    T.check(r.stdout.startswith("placesd-events "), "-V: %r" % r.stdout)
    r = T.run([prog, "-h"])
    T.check_eq(r.returncode, 0, "-h")
    T.check("usage: placesd-events" in r.stdout, "-h: %r" % r.stdout)
    for args in (["-f", "bogus"], ["-r", "2"], ["-r", "x"], ["-P", "0"],
                 ["-s", "-1"], ["-d", "x"], ["-x"], ["extra"], ["-l"],
                 ["-l", "nonsense"], ["-l", "127.0.0.1:70000"],
                 ["-l", ":80"]):
        r = T.run([prog] + args)
        T.check_eq(r.returncode, 2, "%r: exit code (stderr %r)"
                   % (args, r.stderr))
        T.check("usage" in r.stderr or "placesd-events: -" in r.stderr,
                "%r: stderr %r" % (args, r.stderr))
    # cannot bind: exit 1, naming the address and the errno
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        addr = "127.0.0.1:%d" % holder.getsockname()[1]
        r = T.run([prog, "-l", addr])
        T.check_eq(r.returncode, 1, "busy port: exit code")
        T.check(addr in r.stderr and "Address already in use" in r.stderr,
                "busy port: stderr %r" % r.stderr)
    finally:
        holder.close()
    r = T.run([prog, "-l", "no-such-host.invalid:0"])
    T.check_eq(r.returncode, 1, "unknown host: exit code (stderr %r)"
               % r.stderr)
    T.check("no-such-host.invalid:0" in r.stderr, "unknown host: stderr %r"
            % r.stderr)


def test_port_file():
    ev = service()
    with open(ev.port_file) as f:
        T.check_eq(f.read(), "%d\n" % ev.port, "port file")
    T.check(not os.path.exists(ev.port_file + ".tmp"), "port.tmp left")
    stop_clean(ev)


def test_out_of_descriptors():
    """With no descriptor left, accept() fails and the pending connection
    stays in the backlog: the service pauses accepting (it used to spin,
    one log line per loop pass), serves what it has, and accepts again
    once descriptors are free."""
    if T.run(["prlimit", "--version"]).returncode != 0:
        T.skip("no prlimit")
    ev = service()
    socks = []
    try:
        used = len(os.listdir("/proc/%d/fd" % ev.pid))
        lim = used + 4
        r = T.run(["prlimit", "--pid", str(ev.pid),
                   "--nofile=%d:%d" % (lim, lim)])
        T.check_eq(r.returncode, 0, "prlimit: %s" % r.stderr)
        for _ in range(24):     # the kernel completes them: backlog 128
            socks.append(socket.create_connection((ev.host, ev.port),
                                                  timeout=10))
        T.wait_until(lambda: "Too many open files" in ev.log_text(), 30,
                     "accept to run out of descriptors")
        time.sleep(1.0)
        lines = [ln for ln in ev.log_text().splitlines() if "accept:" in ln]
        T.check(len(lines) <= 40, "%d accept errors logged in a second: "
                "a busy loop" % len(lines))
        T.check("not accepting for" in lines[0], "the pause is not logged: "
                "%r" % lines[0])
    finally:
        for s in socks:
            s.close()
    # descriptors come back as the closed ones are noticed: it accepts again
    T.wait_until(lambda: ev.get("/_control", timeout=5)[0] == 200, 30,
                 "GET /_control once descriptors are free")
    T.check_eq(ev.get(PATH)[0], 200, "the events endpoint after the pause")
    stop_clean(ev)


if __name__ == "__main__":
    T.run_main([
        test_normal_answer,
        test_seed_and_max_place_id,
        test_bad_requests,
        test_keep_alive_and_pipelining,
        test_fault_500_503,
        test_fault_badjson,
        test_fault_wrongshape,
        test_fault_partial,
        test_fault_short,
        test_fault_reset,
        test_fault_hang,
        test_fault_trickle,
        test_fault_huge,
        test_fault_huge_client_closes,
        test_delay,
        test_times,
        test_control_state_and_counters,
        test_query_faults,
        test_command_line_fault,
        test_sigterm,
        test_out_of_descriptors,
        test_command_line,
        test_port_file,
    ], program=T.events_path)
