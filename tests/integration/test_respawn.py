#!/usr/bin/env python3
"""placesd respawn: a killed worker or ranker comes back into its slot and
is counted; the ranker being away makes /readyz 503; a child that crashes at
start is respawned with a back-off, not in a tight loop."""

import json
import os
import re
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import placesd_test as T  # noqa: E402

OBSERVE = 6.0   # seconds a crash loop is watched


def test_kill_worker():
    d = T.Daemon(workers=2)
    d.start()
    ws = d.workers()
    T.check_eq(sorted(s for _, s, _ in ws), [0, 1], "worker slots")
    victim = [p for p, s, _ in ws if s == 0][0]
    other = [p for p, s, _ in ws if s == 1][0]
    # idle keep-alive connections, some on the victim: its share of the
    # connections gauge must go when it dies
    held = []
    for _ in range(20):
        c = socket.create_connection((d.host, d.port), timeout=30)
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        held.append(c)
    for c in held:
        T.check(c.recv(4096).startswith(b"HTTP/1.1 200"), "held request")
    m = d.metrics()
    before = {k: v for k, v in m.items()
              if k[0] in ("placesd_http_requests_total",
                          "placesd_worker_http_requests_total")}
    T.check(T.metric(m, "placesd_http_connections_open") >= 21,
            "connections gauge %r with 20 held + 1"
            % T.metric(m, "placesd_http_connections_open"))
    os.kill(victim, signal.SIGKILL)
    # Requests sent right away land on slot 0's queue too (it stays open in
    # the master): they must wait for the new worker, not be reset.
    for i in range(40):
        st, _, _ = d.get("/healthz", timeout=60)
        T.check_eq(st, 200, "/healthz %d after kill -9 of worker 0" % i)

    def respawned():
        for p, s, g in d.workers():
            if s == 0 and p != victim:
                return (p, g)
        return None
    newpid, gen = T.wait_until(respawned, 60, "a new worker in slot 0")
    T.check_eq(gen, 1, "generation of the respawned worker")
    T.check(not T.pid_alive(victim), "the killed worker is still there")
    T.check(T.pid_alive(other), "worker 1 was disturbed by the crash of 0")
    T.check_eq(sorted(s for _, s, _ in d.workers()), [0, 1],
               "worker slots after the respawn")
    T.wait_until(lambda: d.metric("placesd_worker_restarts_total", 0,
                                  role="worker") >= 1,
                 30, 'placesd_worker_restarts_total{role="worker"} >= 1')
    m = d.metrics()
    T.check_eq(T.metric(m, "placesd_worker_restarts_total", role="worker"),
               1.0, 'restarts_total{role="worker"}')
    T.check_eq(T.metric(m, "placesd_worker_restarts_total", role="ranker"),
               0.0, 'restarts_total{role="ranker"}')
    # counters never go back, even for the slot whose worker died
    m = d.metrics()
    for k, v in before.items():
        T.check(m.get(k, -1) >= v, "counter %s%r went back from %r to %r "
                "across the crash" % (k[0], dict(k[1]), v, m.get(k)))
    for c in held:
        c.close()
    T.wait_until(lambda: d.metric("placesd_http_connections_open") == 1.0,
                 30, "placesd_http_connections_open back to 1 once the "
                 "held connections are closed")
    # both slots serve again
    seen = set()
    for _ in range(400):
        st, _, body = d.get("/healthz")
        T.check_eq(st, 200, "/healthz after the respawn")
        seen.add(json.loads(body).get("worker"))
        if seen == {0, 1}:
            break
    T.check_eq(seen, {0, 1}, "workers answering after the respawn")
    st, _, _ = d.get("/readyz")
    T.check_eq(st, 200, "/readyz after the respawn")
    rc = d.stop()
    T.assert_clean_exit(d, rc, "SIGTERM")


def _poll_readyz(d, stop, seen):
    while not stop.is_set():
        try:
            st, _, _ = d.get("/readyz", timeout=5)
            seen.append(st)
        except Exception as e:          # noqa: recorded
            seen.append(repr(e))
        time.sleep(0.01)


def test_kill_ranker():
    d = T.Daemon(workers=2)
    d.start()
    rk = d.rankers()
    T.check_eq(len(rk), 1, "rankers %r" % rk)
    victim = rk[0][0]
    stop, seen = threading.Event(), []
    th = threading.Thread(target=_poll_readyz, args=(d, stop, seen),
                          daemon=True)
    th.start()
    try:
        os.kill(victim, signal.SIGKILL)
        newr = T.wait_until(lambda: [p for p, _ in d.rankers()
                                     if p != victim], 60, "a new ranker")
        T.check_eq(len(d.rankers()), 1, "number of rankers after respawn")

        def ready():
            st, _, _ = d.get("/readyz")
            return st == 200
        T.wait_until(ready, 60, "/readyz 200 after the ranker respawned")
    finally:
        stop.set()
        th.join(10)
    T.log("/readyz answers seen around the kill: %d x 200, %d x 503, other %r"
          % (seen.count(200), seen.count(503),
             [s for s in seen if s not in (200, 503)][:5]))
    T.check(all(s in (200, 503) for s in seen),
            "/readyz gave something else than 200/503: %r"
            % [s for s in seen if s not in (200, 503)][:5])
    T.wait_until(lambda: d.metric("placesd_worker_restarts_total", 0,
                                  role="ranker") >= 1,
                 30, 'placesd_worker_restarts_total{role="ranker"} >= 1')
    T.check_eq(d.metric("placesd_worker_restarts_total", role="ranker"), 1.0,
               'restarts_total{role="ranker"}')
    T.check_eq(d.metric("placesd_worker_restarts_total", role="worker"), 0.0,
               'restarts_total{role="worker"}')
    T.check(newr[0] != victim, "same ranker pid")
    rc = d.stop()
    T.assert_clean_exit(d, rc, "SIGTERM")


def test_ranker_away_makes_readyz_503():
    """A ranker that stops answering (SIGSTOP) makes /readyz 503; killed
    while stopped, it is respawned and /readyz is 200 again."""
    d = T.Daemon(workers=2)
    d.start()
    victim = d.rankers()[0][0]
    os.kill(victim, signal.SIGSTOP)
    try:
        def unready():
            st, hdrs, body = d.get("/readyz")
            return (st, hdrs, body) if st == 503 else None
        st, hdrs, body = T.wait_until(unready, 60,
                                      "/readyz 503 with the ranker stopped")
        doc = json.loads(body)
        T.check(hdrs.get("Content-Type", "").startswith("application/json"),
                "503 Content-Type %r" % hdrs.get("Content-Type"))
        T.check_eq(doc.get("error", {}).get("code"), "unavailable",
                   "/readyz 503 error.code")
        T.check_eq(doc.get("error", {}).get("missing"), ["ranker"],
                   "/readyz 503 error.missing")
        st, _, _ = d.get("/healthz")
        T.check_eq(st, 200, "/healthz while the ranker is stopped")
    finally:
        try:
            os.kill(victim, signal.SIGKILL)
        except OSError:
            pass
    T.wait_until(lambda: [p for p, _ in d.rankers() if p != victim], 60,
                 "a new ranker")
    T.wait_until(lambda: d.get("/readyz")[0] == 200, 60,
                 "/readyz 200 after the respawn")
    T.check_eq(d.metric("placesd_worker_restarts_total", role="ranker"), 1.0,
               'restarts_total{role="ranker"}')
    rc = d.stop()
    T.assert_clean_exit(d, rc, "SIGTERM")


_ROLE_PID = re.compile(r" (worker \d+|ranker)\[(\d+)\]: ")


def _watch_children(d, seconds, exclude_titles=()):
    """Poll the master's children for `seconds`; return the set of pids
    seen (minus those whose title matches exclude_titles)."""
    pids = set()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for pid, title in d.children():
            if not any(re.match(x, title) for x in exclude_titles):
                pids.add(pid)
        time.sleep(0.005)
    return pids


def test_worker_crash_loop_is_throttled():
    d = T.Daemon(workers=1, conf={"debug": {"crash_at_start": "worker"}})
    d.start(wait_ready=False)
    # the master and its ranker come up; the worker dies again and again
    T.wait_until(lambda: d.rankers(), 60, "the ranker to start")
    t0 = time.monotonic()
    seen = _watch_children(d, OBSERVE, exclude_titles=[r"placesd: ranker"])
    T.check(d.alive(), "the master exited (code %s) during a worker crash "
            "loop" % d.proc.returncode)
    text = d.log_text()
    logged = {int(m.group(2)) for m in _ROLE_PID.finditer(text)
              if m.group(1).startswith("worker")}
    spawns = seen | logged
    master_lines = [ln for ln in text.splitlines() if " master[" in ln]
    T.log("worker crash loop over %.1fs: %d worker pids seen in /proc, %d in "
          "the log, %d distinct; %d master log lines"
          % (time.monotonic() - t0, len(seen), len(logged), len(spawns),
             len(master_lines)))
    T.check(len(spawns) >= 2, "saw %d worker starts: the crashing worker is "
            "not respawned (or not observable)" % len(spawns))
    # back-off 250ms, 500ms, 1s, 2s, ...: about 5 starts in 6 s; a few more
    # for the first start and slack; a spinning master makes hundreds
    T.check(len(spawns) <= 12, "%d worker starts in %.0f s: the respawn is "
            "not throttled" % (len(spawns), OBSERVE))
    T.check(len(master_lines) <= 200, "%d master log lines during the loop"
            % len(master_lines))
    T.check(re.search(r"back.?off|delay|respawn", text, re.I),
            "no log line about the respawn back-off")
    rc = d.stop()
    T.assert_clean_exit(d, rc, "SIGTERM during a crash loop")


def test_ranker_crash_loop_is_throttled():
    d = T.Daemon(workers=1, conf={"debug": {"crash_at_start": "ranker"}})
    d.start(wait_ready=False)
    T.wait_until(lambda: d.get("/healthz", timeout=5)[0] == 200, 60,
                 "/healthz 200 (workers serve without a ranker)")
    t0 = time.monotonic()
    first = d.metric("placesd_worker_restarts_total", 0, role="ranker")
    time.sleep(OBSERVE)       # an observation window, not a wait
    T.check(d.alive(), "the master exited (code %s) during a ranker crash "
            "loop" % d.proc.returncode)
    m = d.metrics()
    n = T.metric(m, "placesd_worker_restarts_total", 0, role="ranker")
    T.log("ranker restarts: %r at first look, %r after %.1fs more"
          % (first, n, time.monotonic() - t0))
    T.check(n >= 2, 'restarts_total{role="ranker"} = %r: the crashing ranker '
            "is not respawned" % n)
    T.check(n <= 12, 'restarts_total{role="ranker"} = %r: the respawn is not '
            "throttled" % n)
    st, _, body = d.get("/readyz")
    T.check_eq(st, 503, "/readyz without a ranker")
    T.check_eq(json.loads(body).get("error", {}).get("missing"), ["ranker"],
               "/readyz missing list")
    rc = d.stop()
    T.assert_clean_exit(d, rc, "SIGTERM during a crash loop")


TESTS = [
    test_kill_worker,
    test_kill_ranker,
    test_ranker_away_makes_readyz_503,
    test_worker_crash_loop_is_throttled,
    test_ranker_crash_loop_is_throttled,
]

if __name__ == "__main__":
    T.run_main(TESTS)
