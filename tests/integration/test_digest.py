#!/usr/bin/python3
"""POST /v1/digest against the real placesd, a real PostgreSQL and the real
placesd-events service told to misbehave in every way it can: each fault
gives its documented answer (200 with an entry in errors[], the rest still
there) by the request's deadline; retries and the circuit breaker are
checked by the number of calls the events service saw; the events call and
the places query are shown to run together (the events call arrives while
the places query is held by a lock), as are the menu and offers queries; a
client that hangs up cancels the upstream call; bad bodies get 400/404/415.
"""

import json
import os
import re
import signal
import socket
import threading
import time

import placesd_test as T

PG = None
EV = None
D = None
CITY = None
DEADLINE = 3.0          # [server] request_deadline of D, in seconds
RETRIES = 1


def setup():
    global PG, EV, D, CITY
    T.use_contract()
    PG = T.shared_postgres()
    EV = T.EventsService()
    EV.persistent = True        # shared by the tests: checked after each
    EV.start()
    D = T.Daemon(workers=1, persistent=True, conf={
        "server": {"request_deadline": "%ds" % DEADLINE},
        "upstream": {"events_url": EV.url, "timeout": "400ms",
                     "retries": RETRIES, "breaker_failures": 1000,
                     "max_response_size": "1m"}})
    r = T.run([T.placesctl_path(), "-c", D.conf_path, "seed", "--places",
               "600", "--seed", "5"], timeout=300)
    if r.returncode != 0:
        T.fail("placesctl seed: %s %s" % (r.stdout, r.stderr))
    D.start()
    CITY = PG.psql("SELECT city_id FROM places GROUP BY city_id "
                   "ORDER BY count(*) DESC, city_id LIMIT 1")[0][0]


def post(d, body, headers=None, timeout=30):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    t0 = time.monotonic()
    st, hdrs, raw = d.request("POST", "/v1/digest", headers=h, body=data,
                              timeout=timeout)
    return st, raw, time.monotonic() - t0


def digest(d=None, **over):
    body = {"date": "2026-11-23", "city": CITY, "limit": 5}
    body.update(over)
    st, raw, took = post(d or D, body)
    T.check_eq(st, 200, "digest: %r" % raw[:300])
    doc = json.loads(raw)
    return doc, took


def calls():
    return EV.state()["requests"]


def event_errors(doc):
    return [e for e in doc["errors"] if e["source"] == "events"]


def check_rest_intact(doc):
    """Whatever the events did, places, menus and offers are answered."""
    places = {p["id"] for p in doc["places"]}
    T.check(places, "no places in the digest: %s" % doc["errors"])
    T.check(all(p["city"] == CITY for p in doc["places"]),
            "a place of another city")
    T.check(doc["menu_items"], "no menu items")
    T.check(all(m["place_id"] in places for m in doc["menu_items"]),
            "a menu item of a place not in the digest")
    T.check(all(o["place_id"] in places for o in doc["offers"]),
            "an offer of a place not in the digest")
    T.check(not [e for e in doc["errors"] if e["source"] != "events"],
            "errors of other sources: %s" % doc["errors"])


TRIES_RE = re.compile(r"^events service at [^ ]+: (no answer|no usable "
                      r"answer) after (\d+) tr(?:y|ies) in (\d+)ms "
                      r"\(last: (.+)\)$")


def check_message(err, attempts, last, took=None):
    """An events error's message says the tries, the total time (not more
    than the client saw) and the last try's failure (a substring)."""
    m = TRIES_RE.match(err["message"])
    T.check(m, "the message does not say tries and time: %r"
            % err["message"])
    T.check_eq(int(m.group(2)), attempts, "tries in %r" % err["message"])
    T.check(last in m.group(4), "%r is not the last failure in %r"
            % (last, err["message"]))
    if took is not None:
        T.check(int(m.group(3)) <= took * 1000 + 1, "%s ms said, the client "
                "waited %.0f ms" % (m.group(3), took * 1000))
    return int(m.group(3))


def check_fault(fault, code, attempts, last=None, **params):
    """One digest with the events service in mode fault: the events error
    is code, the rest intact, answered by the deadline, after attempts
    calls to the service; its message says so, and last (a substring)."""
    EV.control(fault=fault, **params)
    try:
        n = calls()
        doc, took = digest()
    finally:
        EV.control(fault="none")
    errs = event_errors(doc)
    T.check_eq([e["code"] for e in errs], [code], "events errors with %s"
               % fault)
    T.check(errs[0]["message"], "an empty error message")
    T.check_eq(doc["events"], [], "events with %s" % fault)
    check_rest_intact(doc)
    T.check(took < DEADLINE + 2.0, "%s: answered after %.1f s, past the "
            "%.0f s deadline" % (fault, took, DEADLINE))
    T.check_eq(calls() - n, attempts, "calls to the events service with %s"
               % fault)
    if last is not None:
        check_message(errs[0], attempts, last, took)
    T.log("%s: %s in %.0f ms: %s" % (fault, code, took * 1000,
                                     errs[0]["message"]))
    return doc


# ---- the normal case ------------------------------------------------------

def test_digest_joins_every_source():
    n = calls()
    doc, took = digest(limit=7)
    T.check_eq(calls() - n, 1, "calls to the events service")
    T.check_eq(doc["errors"], [], "errors")
    T.check_eq((doc["date"], doc["city"]), ("2026-11-23", CITY), "echo")
    T.check(4 <= len(doc["events"]) <= 12, "events: %d" % len(doc["events"]))
    for e in doc["events"]:
        T.check(isinstance(e["id"], str) and e["id"], "event id")
        T.check(isinstance(e["title"], str) and e["title"], "event title")
        T.check(e["starts_at"].startswith("2026-11-23"), "event date")
        T.check(e["place_id"] is None or isinstance(e["place_id"], int),
                "place_id")
    T.check_eq(len(doc["places"]), 7, "places with limit 7")
    ratings = [p["rating"] for p in doc["places"]]
    rated = [r for r in ratings if r is not None]
    T.check(rated == sorted(rated, reverse=True) and
            ratings[:len(rated)] == rated, "places not best rated first: %s"
            % ratings)
    check_rest_intact(doc)
    want = PG.psql("SELECT count(*) FROM menu_items WHERE place_id IN (%s)"
                   % ",".join(str(p["id"]) for p in doc["places"]))[0][0]
    T.check_eq(len(doc["menu_items"]), int(want), "menu items of the places")
    active = PG.psql("SELECT count(*) FROM offers WHERE place_id IN (%s) "
                     "AND starts_at <= now() AND ends_at > now()"
                     % ",".join(str(p["id"]) for p in doc["places"]))[0][0]
    T.check_eq(len(doc["offers"]), int(active), "active offers")


def test_categories_filter_places():
    doc, _ = digest(categories=["cafe"], limit=10)
    T.check(doc["places"], "no cafe")
    T.check(all("cafe" in p["categories"] for p in doc["places"]),
            "a place outside the categories")


def venue_cities(events):
    """The city of each place the events name, by id (none: no place)."""
    ids = {e["place_id"] for e in events if e.get("place_id") is not None}
    if not ids:
        return {}
    return {int(r[0]): r[1] for r in PG.psql(
        "SELECT id, city_id FROM places WHERE id IN (%s)"
        % ",".join(str(i) for i in sorted(ids)))}


def test_same_events_as_the_service():
    """The service's events, in its order, but those held in another
    city or at no place, which are counted."""
    doc, _ = digest(date="2026-12-01")
    st, _, raw = T.http_get(EV.url + "/2026-12-01?city=" + CITY)
    T.check_eq(st, 200, "the service itself")
    direct = json.loads(raw)
    cities = venue_cities(direct)
    kept = [e for e in direct if e.get("place_id") is None or
            cities.get(e["place_id"]) == CITY]
    T.check_eq([e["id"] for e in doc["events"]],
               [e["id"] for e in kept], "event ids passed through")
    T.check_eq(doc["events"], kept, "events passed through as they are")
    T.check_eq(doc["dropped_events"], {
        "other_city": len([e for e in direct if e.get("place_id") in cities
                           and cities[e["place_id"]] != CITY]),
        "unknown_place": len([e for e in direct
                              if e.get("place_id") is not None and
                              e["place_id"] not in cities])},
        "events dropped for their venue")


# ---- the fault matrix ------------------------------------------------------

def test_fault_500_retried():
    check_fault("500", "upstream_error", 1 + RETRIES, "answered 500")


def test_fault_503_retried():
    check_fault("503", "upstream_error", 1 + RETRIES, "answered 503")


def test_fault_bad_json_not_retried():
    check_fault("badjson", "upstream_bad_response", 1, "; not retried")


def test_fault_wrong_shape():
    # the service rotates its wrong shapes: an object, an array of scalars,
    # events each missing a field or with one of the wrong type
    seen = set()
    for _ in range(3):
        EV.control(fault="wrongshape", times=1)
        doc, _ = digest()
        codes = [e["code"] for e in event_errors(doc)]
        T.check(codes in (["upstream_bad_response"], ["invalid_events"]),
                "wrongshape gave %s" % codes)
        T.check_eq(doc["events"], [], "events of a wrong shape")
        check_rest_intact(doc)
        seen.update(codes)
    T.check_eq(seen, {"upstream_bad_response", "invalid_events"},
               "the wrong shapes seen")


def test_fault_partial_drops_only_bad_events():
    before = D.metric("placesd_upstream_events_dropped_total", 0)
    EV.control(fault="partial", times=1)
    doc, _ = digest(date="2026-11-25")
    st, _, raw = T.http_get(EV.url + "/2026-11-25?city=" + CITY)
    n = len(json.loads(raw))
    bad = len([i for i in range(n) if i % 3 == 2])
    dropped = doc["dropped_events"]
    T.check_eq(len(doc["events"]) + dropped["other_city"] +
               dropped["unknown_place"], n - bad,
               "valid events kept, or dropped for their venue")
    errs = event_errors(doc)
    T.check_eq([e["code"] for e in errs], ["invalid_events"], "errors")
    T.check(str(bad) in errs[0]["message"], "the count is not in %r"
            % errs[0]["message"])
    T.check_eq(D.metric("placesd_upstream_events_dropped_total", 0) - before,
               bad, "dropped events counted")
    check_rest_intact(doc)


def test_fault_cut_short():
    check_fault("short", "upstream_bad_response", 1, "cut short")


def test_fault_reset_retried():
    check_fault("reset", "upstream_unreachable", 1 + RETRIES,
                "the connection ")


def test_fault_hang_times_out_and_retries():
    base = EV.state()["open_connections"]
    doc = check_fault("hang", "upstream_timeout", 1 + RETRIES,
                      "no answer within 400ms")
    # every try waited its whole timeout: the total says so
    T.check(check_message(event_errors(doc)[0], 1 + RETRIES, "") >=
            400 * (1 + RETRIES), "the total time is less than the tries' "
            "timeouts: %r" % event_errors(doc)[0]["message"])
    T.wait_until(lambda: EV.state()["open_connections"] <= base, 30,
                 "the hung connections to be closed by placesd")


def test_fault_slow_within_timeout_is_fine():
    EV.control(fault="delay", delay_ms=100)
    try:
        doc, _ = digest()
    finally:
        EV.control(fault="none")
    T.check_eq(doc["errors"], [], "errors with 100 ms of latency")
    T.check(doc["events"], "no events")


def test_fault_trickle_times_out():
    check_fault("trickle", "upstream_timeout", 1 + RETRIES,
                "no answer within", delay_ms=200)


def test_fault_huge_answer_refused():
    check_fault("huge", "upstream_bad_response", 1, "larger than",
                size=8 * 1024 * 1024)


def test_service_down_is_unreachable():
    port = EV.port
    EV.stop()
    try:
        doc, took = digest()
        T.check_eq([e["code"] for e in event_errors(doc)],
                   ["upstream_unreachable"], "events errors, service down")
        check_message(event_errors(doc)[0], 1 + RETRIES,
                      "connection refused", took)
        check_rest_intact(doc)
    finally:
        EV.start(port=port)
    T.wait_until(lambda: not event_errors(digest()[0]), 30,
                 "events again once the service is back")


def test_service_stopped_says_tries_and_time():
    # the case: the service is stopped (SIGSTOP: the kernel still
    # accepts, nothing answers), every try waits its whole timeout, and the
    # message says how many tries in how long, not one try's timeout
    EV.signal(signal.SIGSTOP)
    try:
        doc, took = digest()
    finally:
        EV.signal(signal.SIGCONT)
    errs = event_errors(doc)
    T.check_eq([e["code"] for e in errs], ["upstream_timeout"],
               "events errors, service stopped")
    ms = check_message(errs[0], 1 + RETRIES, "no answer within 400ms", took)
    T.check(ms >= 400 * (1 + RETRIES), "%d ms for %d tries of 400 ms"
            % (ms, 1 + RETRIES))
    T.log("service stopped: %s" % errs[0]["message"])
    T.wait_until(lambda: not event_errors(digest()[0]), 30,
                 "events again once the service runs")


def test_deadline_says_what_the_call_did():
    # the attempt's timeout is past the digest's deadline: the deadline
    # ends the call, and its message says what it had done by then
    d = T.Daemon(workers=1, name="digest-late", conf={
        "server": {"request_deadline": "1500ms"},
        "upstream": {"events_url": EV.url, "timeout": "10s"}})
    d.start()
    EV.control(fault="hang")
    try:
        doc, took = digest(d)
    finally:
        EV.control(fault="none")
    errs = event_errors(doc)
    T.check_eq(len(errs), 1, "events errors: %s" % errs)
    T.check(errs[0]["code"] in ("deadline_exceeded", "upstream_timeout"),
            "code %r" % errs[0]["code"])
    T.check(re.search(r"events service at [^ ]+: .*\b1 try in \d+ms",
                      errs[0]["message"]), "message %r" % errs[0]["message"])
    T.log("past the deadline: %s" % errs[0]["message"])
    d.stop()


def settled_fds(pid):
    """The worker's open descriptors once the count held for 0.5 s."""
    last, same = None, 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and same < 5:
        n = len(os.listdir("/proc/%d/fd" % pid))
        same = same + 1 if n == last else 0
        last = n
        time.sleep(0.1)
    return last


def test_out_of_descriptors_heals():
    # a worker with no descriptor left for the events connection: the
    # digest goes without events (libevent tells this from a closed
    # connection by no errno), and the next one is fine once descriptors
    # are back
    if T.run(["prlimit", "--version"]).returncode != 0:
        T.skip("no prlimit")
    d = T.Daemon(workers=1, name="digest-nofile", conf={
        "upstream": {"events_url": EV.url, "keepalive": 0, "retries": 0,
                     "breaker_failures": 1000}})
    d.start()
    T.check_eq(digest(d)[0]["errors"], [], "a digest first")
    pid = d.workers()[0][0]
    soft, hard = T.open_files_limit(pid)
    # room for the client's connection and nothing more (the soft limit
    # only: raising a hard one back may not be allowed here), counted
    # once the first digest's connection is closed on the worker's side
    # too: counted before, its descriptor would be the events' room
    lim = settled_fds(pid) + 1
    r = T.run(["prlimit", "--pid", str(pid), "--nofile=%d:%s" % (lim, hard)])
    T.check_eq(r.returncode, 0, "prlimit: %s" % r.stderr)
    try:
        doc, took = digest(d)
    finally:
        r = T.run(["prlimit", "--pid", str(pid),
                   "--nofile=%s:%s" % (soft, hard)])
    T.check_eq(r.returncode, 0, "prlimit back: %s" % r.stderr)
    errs = event_errors(doc)
    T.check_eq([e["code"] for e in errs], ["upstream_unreachable"],
               "events errors without descriptors")
    check_message(errs[0], 1, "the connection failed", took)
    T.log("no descriptors: %s" % errs[0]["message"])
    T.check_eq(digest(d)[0]["errors"], [], "a digest once they are back")
    d.stop()


# ---- concurrency, deadline, cancellation ------------------------------------

def background_digest(d, body, out):
    def run():
        try:
            out.append(post(d, body, timeout=60))
        except Exception as e:      # noqa: reported by the test
            out.append(e)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def slow_daemon():
    return T.Daemon(workers=1, name="digest-slow", conf={
        "server": {"request_deadline": "30s"},
        "database": {"query_timeout": "30s"},
        "upstream": {"events_url": EV.url, "timeout": "10s"}})


def test_events_and_places_start_together():
    d = slow_daemon().start()
    lock = PG.lock(["places"])
    out = []
    try:
        n = calls()
        t = background_digest(d, {"date": "2026-11-23", "city": CITY}, out)
        # the places query waits on the lock; the events call is made
        # anyway, so the two run at the same time
        T.wait_until(lambda: PG.waiting_queries("json_agg") >= 1, 30,
                     "the places query to wait on the lock")
        T.wait_until(lambda: calls() > n, 30,
                     "the events call while the places query waits")
        T.check(not out, "the digest answered while places were locked")
    finally:
        lock.release()
    t.join(60)
    st, raw, took = out[0]
    T.check_eq(st, 200, "digest after the lock")
    doc = json.loads(raw)
    T.check_eq(doc["errors"], [], "errors")
    T.check(doc["events"] and doc["places"], "events and places")
    d.stop()


def test_menu_and_offers_start_together():
    d = slow_daemon().start()
    lock = PG.lock(["menu_items", "offers"])
    out = []
    try:
        t = background_digest(d, {"date": "2026-11-23", "city": CITY}, out)
        T.wait_until(lambda: PG.waiting_queries("menu_items m") >= 1 and
                     PG.waiting_queries("FROM offers o") >= 1, 30,
                     "the menu and offers queries waiting together")
    finally:
        lock.release()
    t.join(60)
    st, raw, _ = out[0]
    T.check_eq(st, 200, "digest after the lock")
    T.check_eq(json.loads(raw)["errors"], [], "errors")
    d.stop()


def test_deadline_answers_with_what_came():
    # places held by a lock past the deadline; events fine: 200 with the
    # events, places reported late, and nothing after that
    lock = PG.lock(["places"])
    try:
        st, raw, took = post(D, {"date": "2026-11-23", "city": CITY})
    finally:
        lock.release()
    T.check_eq(st, 200, "digest past the deadline: %r" % raw[:200])
    doc = json.loads(raw)
    T.check(doc["events"], "the events are answered")
    T.check_eq(doc["places"], [], "places")
    codes = {(e["source"], e["code"]) for e in doc["errors"]}
    T.check(("places", "deadline_exceeded") in codes, "errors: %s" % codes)
    T.check(took < DEADLINE + 2.0, "answered after %.1f s" % took)
    T.check(took >= DEADLINE * 0.5, "answered after %.1f s, before the "
            "deadline, with places locked" % took)


def test_client_hangup_cancels_the_call():
    # a minute of upstream timeout: only the hang-up can end the call
    # within the waits below
    d = T.Daemon(workers=1, name="digest-hangup", conf={
        "server": {"request_deadline": "120s"},
        "upstream": {"events_url": EV.url, "timeout": "60s"}})
    d.start()
    EV.control(fault="hang")
    try:
        n = calls()
        base = EV.state()["open_connections"]
        s = socket.create_connection((d.host, d.port), timeout=10)
        body = json.dumps({"date": "2026-11-23", "city": CITY}).encode()
        s.sendall(b"POST /v1/digest HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: %d\r\n"
                  b"\r\n" % len(body) + body)
        T.wait_until(lambda: calls() > n, 30, "the events call")
        T.check(EV.state()["open_connections"] > base, "the events call's "
                "connection is not open")
        s.close()
        # the worker drops the upstream connection with the request
        T.wait_until(lambda: EV.state()["open_connections"] <= base, 30,
                     "placesd to close the events connection")
        T.check_eq(calls() - n, 1, "calls after the hang-up (no retry)")
    finally:
        EV.control(fault="none")
    doc, _ = digest(d)
    T.check_eq(doc["errors"], [], "the next digest")
    d.stop()


def test_answer_and_timeout_together():
    # an answer that comes as its attempt's timer expires: both may be due
    # in the same loop pass, and only one of them may end the attempt (the
    # timer used to free the connection and the answer then put it back:
    # a NULL dereference that killed the worker)
    d = T.Daemon(workers=1, name="digest-race", conf={
        "server": {"request_deadline": "5s"},
        "upstream": {"events_url": EV.url, "timeout": "20ms",
                     "retries": 10, "breaker_failures": 1000}})
    d.start()
    pids = [p for p, _, _ in d.workers()]
    body = {"date": "2026-11-23", "city": CITY}
    answers = {}
    lock = threading.Lock()
    stop = time.monotonic() + 6.0

    def loop():
        while time.monotonic() < stop:
            try:
                st = post(d, body)[0]
            except Exception as e:      # noqa: counted, reported below
                st = type(e).__name__
            with lock:
                answers[st] = answers.get(st, 0) + 1
    EV.control(fault="delay", delay_ms=20)
    try:
        ths = [threading.Thread(target=loop, daemon=True) for _ in range(8)]
        for t in ths:
            t.start()
        for t in ths:
            t.join(60)
    finally:
        EV.control(fault="none")
    T.log("answers: %s" % answers)
    T.check_eq(list(answers), [200], "answers with the timer and the answer "
               "racing")
    T.check_eq([p for p, _, _ in d.workers()], pids, "worker pids (a crash "
               "respawns it)")
    T.check("exited" not in d.log_text(), "a worker exited")
    d.stop()


def test_breaker_opens_and_closes():
    d = T.Daemon(workers=1, name="digest-breaker", conf={
        "upstream": {"events_url": EV.url, "timeout": "300ms", "retries": 0,
                     "breaker_failures": 3, "breaker_cooldown": "2s"}})
    d.start()
    EV.control(fault="500")
    try:
        n = calls()
        for _ in range(3):
            doc, _ = digest(d)
            T.check_eq([e["code"] for e in event_errors(doc)],
                       ["upstream_error"], "while closed")
        T.check_eq(calls() - n, 3, "calls until the breaker opens")
        T.check_eq(d.metric("placesd_upstream_breaker_open"), 1,
                   "breaker_open gauge")
        # open: answered without calling, even with the service hanging
        EV.control(fault="hang")
        n = calls()
        doc, took = digest(d)
        T.check_eq([e["code"] for e in event_errors(doc)],
                   ["upstream_unavailable"], "while open")
        T.check(re.search(r": not called: the circuit is open after 3 "
                          r"failed tries in a row, for another \d+ms$",
                          event_errors(doc)[0]["message"]),
                "breaker message: %r" % event_errors(doc)[0]["message"])
        check_rest_intact(doc)
        T.check_eq(calls() - n, 0, "calls while the breaker is open")
        T.log("answered in %.0f ms with the breaker open" % (took * 1000))
        T.check(d.metric("placesd_upstream_rejected_total") >= 1,
                "rejected calls counted")
    finally:
        EV.control(fault="none")
    # after the cooldown, a probe succeeds and closes the circuit
    T.wait_until(lambda: not event_errors(digest(d)[0]), 30,
                 "the breaker to close after its cooldown")
    T.check_eq(d.metric("placesd_upstream_breaker_open"), 0, "gauge")
    T.check(d.metric("placesd_upstream_breaker_opened_total") >= 1,
            "openings counted")
    T.check("circuit open" in d.log_text() and
            "circuit closed" in d.log_text(), "the breaker is not logged")
    d.stop()


# ---- bad requests ----------------------------------------------------------

def test_bad_bodies():
    cases = [
        (b"", 400, "malformed_json", None),
        (b"{", 400, "malformed_json", None),
        (b'{"date":"2026-11-23","date":"2026-11-24","city":"x"}', 400,
         "malformed_json", None),
        (b"[]", 400, "invalid_argument", None),
        ({"city": CITY}, 400, "invalid_argument", "date"),
        ({"date": "2026-02-30", "city": CITY}, 400, "invalid_argument",
         "date"),
        ({"date": "23.11.2026", "city": CITY}, 400, "invalid_argument",
         "date"),
        ({"date": "2026-11-23"}, 400, "invalid_argument", "city"),
        ({"date": "2026-11-23", "city": "Moscow"}, 400, "invalid_argument",
         "city"),
        ({"date": "2026-11-23", "city": CITY, "limit": 0}, 400,
         "invalid_argument", "limit"),
        ({"date": "2026-11-23", "city": CITY, "limit": 51}, 400,
         "invalid_argument", "limit"),
        ({"date": "2026-11-23", "city": CITY, "limit": "5"}, 400,
         "invalid_argument", "limit"),
        ({"date": "2026-11-23", "city": CITY, "limit": 2.5}, 400,
         "invalid_argument", "limit"),
        ({"date": "2026-11-23", "city": CITY, "categories": "cafe"}, 400,
         "invalid_argument", "categories"),
        ({"date": "2026-11-23", "city": CITY, "categories": ["a b"]}, 400,
         "invalid_argument", "categories"),
        ({"date": "2026-11-23", "city": CITY, "categories": ["x"] * 11},
         400, "invalid_argument", "categories"),
        ({"date": "2026-11-23", "city": CITY, "extra": True}, 400,
         "invalid_argument", "extra"),
        ({"date": "2026-11-23", "city": "atlantis"}, 404, "not_found",
         "city"),
    ]
    for body, status, code, field in cases:
        st, raw, _ = post(D, body)
        T.check_eq(st, status, "%r: %r" % (body, raw[:200]))
        err = json.loads(raw)["error"]
        T.check_eq((err["code"], err.get("field")), (code, field),
                   "%r" % (body,))
    st, raw, _ = post(D, b"date=2026-11-23",
                      headers={"Content-Type":
                               "application/x-www-form-urlencoded"})
    T.check_eq(st, 415, "a form body")
    st, _, raw = D.get("/v1/digest")
    T.check_eq(st, 405, "GET /v1/digest")
    st, raw, _ = post(D, b"[" + b"1," * 700000 + b"1]")
    T.check_eq(st, 413, "a body over max_body_size")
    doc, _ = digest()
    T.check_eq(doc["errors"], [], "a digest after the bad ones")


def test_metrics_count_digests():
    m = D.metrics()
    T.check(T.metric(m, "placesd_digest_requests_total") > 0, "digests")
    T.check(T.metric(m, "placesd_digest_partial_total") > 0, "partial")
    for res in ("ok", "timeout", "http_error", "bad_response",
                "unreachable"):
        T.check(T.metric(m, "placesd_upstream_requests_total",
                         result=res) is not None, "result %s" % res)
    T.check(T.metric(m, "placesd_upstream_retries_total") > 0, "retries")


if __name__ == "__main__":
    T.run_main([
        test_digest_joins_every_source,
        test_categories_filter_places,
        test_same_events_as_the_service,
        test_fault_500_retried,
        test_fault_503_retried,
        test_fault_bad_json_not_retried,
        test_fault_wrong_shape,
        test_fault_partial_drops_only_bad_events,
        test_fault_cut_short,
        test_fault_reset_retried,
        test_fault_hang_times_out_and_retries,
        test_fault_slow_within_timeout_is_fine,
        test_fault_trickle_times_out,
        test_fault_huge_answer_refused,
        test_service_down_is_unreachable,
        test_service_stopped_says_tries_and_time,
        test_deadline_says_what_the_call_did,
        test_out_of_descriptors_heals,
        test_events_and_places_start_together,
        test_menu_and_offers_start_together,
        test_deadline_answers_with_what_came,
        test_client_hangup_cancels_the_call,
        test_answer_and_timeout_together,
        test_breaker_opens_and_closes,
        test_bad_bodies,
        test_metrics_count_digests,
    ], setup=setup)
