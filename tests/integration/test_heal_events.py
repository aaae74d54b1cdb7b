#!/usr/bin/python3
"""The events client and its circuit breaker heal by themselves.

placesd with two workers, a short breaker cooldown and the real
placesd-events driven through one fault at a time, each under a load of
concurrent digests: overload (many digests against a slow service), a lost
answer (the service accepts and never answers; then the service stopped
with SIGSTOP, where the kernel accepts and nothing runs), a timeout (every
answer slower than [upstream] timeout), a refused connection (the service
gone) ending with a restart on the same port, and a restart of a healthy
service under load.

During a fault every digest is a 200 by its deadline, with the events
failure in errors[] (the digest is degraded, never dead). After it, with
no digest sent, /metrics must show every worker's breaker closed within
HEAL_BOUND: the cooldown, twice the attempt timeout (a probe sent just
before the fault ended may still fail by timeout and open the circuit for
one more cooldown) and a generous slack for a busy machine; then a digest
must come without errors, no worker may have crashed, and the connections
to the service must be back under the keep-alive cap.  The time each heal
took is printed; only the bound is asserted.
"""

import collections
import json
import signal
import threading
import time

import placesd_test as T

PG = None
EV = None
D = None
CITY = None
WORKERS = 2
DEADLINE = 2.0          # [server] request_deadline
TIMEOUT = 0.3           # [upstream] timeout
COOLDOWN = 1.0          # [upstream] breaker_cooldown
KEEPALIVE = 4           # [upstream] keepalive
SLACK = 4.0             # a busy machine, maybe under ASan
HEAL_BOUND = COOLDOWN + 2 * TIMEOUT + SLACK
FAULT_SECONDS = 2.5
BODY = None
PIDS = None


def setup():
    global PG, EV, D, CITY, BODY, PIDS
    PG = T.shared_postgres()
    EV = T.EventsService(name="events-heal")
    EV.persistent = True
    EV.start()
    D = T.Daemon(workers=WORKERS, persistent=True, name="placesd-heal", conf={
        "server": {"request_deadline": "%dms" % (DEADLINE * 1000)},
        "upstream": {"events_url": EV.url,
                     "timeout": "%dms" % (TIMEOUT * 1000), "retries": 1,
                     "breaker_failures": 3,
                     "breaker_cooldown": "%dms" % (COOLDOWN * 1000),
                     "keepalive": KEEPALIVE}})
    r = T.run([T.placesctl_path(), "-c", D.conf_path, "seed", "--places",
               "300", "--seed", "7"], timeout=300)
    if r.returncode != 0:
        T.fail("placesctl seed: %s %s" % (r.stdout, r.stderr))
    D.start()
    CITY = PG.psql("SELECT city_id FROM places GROUP BY city_id "
                   "ORDER BY count(*) DESC, city_id LIMIT 1")[0][0]
    BODY = json.dumps({"date": "2026-11-23", "city": CITY, "limit": 5})
    PIDS = sorted(p for p, _, _ in D.workers())
    T.check_eq(len(PIDS), WORKERS, "workers")


def digest(timeout=DEADLINE + 15):
    """One digest: (status, document or None)."""
    st, _, raw = D.request("POST", "/v1/digest", body=BODY,
                           headers={"Content-Type": "application/json"},
                           timeout=timeout)
    try:
        return st, json.loads(raw)
    except ValueError:
        return st, None


def outcome(st, doc):
    """What a digest says of the events: "ok", an error code, or the
    status when it is not a 200 with a digest."""
    if st != 200 or doc is None:
        return "status %d" % st
    codes = sorted(e["code"] for e in doc["errors"])
    return ",".join(codes) if codes else "ok"


class Load:
    """n threads sending digests one after another until stop()."""

    def __init__(self, n):
        self.seen = collections.Counter()
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self.run, daemon=True)
                        for _ in range(n)]
        for t in self.threads:
            t.start()

    def run(self):
        while not self.done.is_set():
            try:
                what = outcome(*digest())
            except Exception as e:      # noqa: counted, asserted on
                what = "exception %s" % type(e).__name__
            with self.lock:
                self.seen[what] += 1

    def stop(self):
        self.done.set()
        for t in self.threads:
            t.join(DEADLINE + 30)
        T.check(not [t for t in self.threads if t.is_alive()],
                "a digest hung past its deadline")
        return dict(self.seen)


def breaker_state():
    m = D.metrics()
    return (T.metric(m, "placesd_upstream_breaker_open"),
            T.metric(m, "placesd_upstream_breaker_opened_total", 0))


def under_fault(name, start, end, threads=8, allowed=None, must=()):
    """Runs start(), a load of digests for FAULT_SECONDS, then stops the
    load and runs end(): the fault is over.  Checks the answers during the
    fault (every one a 200 digest; event outcomes within allowed, each of
    must seen), then the heal: every breaker closed by /metrics alone, then
    a digest without errors, both within HEAL_BOUND of the fault's end."""
    opened0 = breaker_state()[1]
    start()
    try:
        load = Load(threads)
        time.sleep(FAULT_SECONDS)
        seen = load.stop()
        opened = breaker_state()[1] - opened0
    finally:
        end()
    t_end = time.monotonic()
    T.log("%s: answers during the fault: %s; breaker opened %d times"
          % (name, seen, opened))
    # healed with no traffic: the breakers probe on their own
    T.wait_until(lambda: breaker_state()[0] == 0, HEAL_BOUND,
                 "%s: every breaker closed (placesd_upstream_breaker_open "
                 "0)" % name)
    closed = time.monotonic() - t_end
    T.wait_until(lambda: outcome(*digest()) == "ok",
                 max(0.5, HEAL_BOUND - closed),
                 "%s: a digest without errors" % name)
    healed = time.monotonic() - t_end
    T.log("%s: breakers closed %.0f ms and a digest clean %.0f ms after "
          "the fault ended (bound %.0f ms)" % (name, closed * 1000,
                                               healed * 1000,
                                               HEAL_BOUND * 1000))
    bad = [k for k in seen if not k.startswith("ok") and
           (k.startswith("status") or k.startswith("exception") or
            allowed is None or not set(k.split(",")) <= allowed)]
    T.check(not bad, "%s: answers outside %s: %s" % (name, allowed, seen))
    for code in must:
        T.check(any(code in k.split(",") for k in seen),
                "%s: no %s during the fault: %s" % (name, code, seen))
    check_clean(name)
    return seen, opened


def check_clean(name):
    T.check_eq(sorted(p for p, _, _ in D.workers()), PIDS,
               "%s: worker pids (a crash respawns it)" % name)
    T.check("exited" not in D.log_text(), "%s: a worker exited" % name)
    # whatever the fault opened was closed: at most the idle connections
    # each worker keeps (and a probe or digest that may still be on one)
    T.wait_until(lambda: EV.state()["open_connections"] <=
                 WORKERS * (KEEPALIVE + 1), 30,
                 "%s: connections to the service back under the keep-alive "
                 "cap" % name)


# ---- the faults -----------------------------------------------------------

def test_healthy_first():
    T.check_eq(outcome(*digest()), "ok", "a digest before any fault")
    T.check_eq(breaker_state()[0], 0, "breakers closed")


def test_overload():
    # far more concurrent digests than keep-alive connections, against a
    # service that takes most of the attempt timeout to answer
    under_fault("overload",
                lambda: EV.control(fault="delay",
                                   delay_ms=int(TIMEOUT * 1000 * 0.7)),
                lambda: EV.control(fault="none"), threads=64,
                allowed={"upstream_timeout", "upstream_unavailable",
                         "upstream_unreachable", "overloaded",
                         "deadline_exceeded"})


def test_lost_answer():
    # the service reads the request and never answers
    _, opened = under_fault(
        "hang", lambda: EV.control(fault="hang"),
        lambda: EV.control(fault="none"),
        allowed={"upstream_timeout", "upstream_unavailable"},
        must=("upstream_timeout", "upstream_unavailable"))
    T.check(opened >= 1, "the breaker never opened with no answers")


def test_lost_answer_stopped():
    # SIGSTOP: the kernel still accepts, the process never runs
    _, opened = under_fault(
        "stopped", lambda: EV.signal(signal.SIGSTOP),
        lambda: EV.signal(signal.SIGCONT),
        allowed={"upstream_timeout", "upstream_unavailable"},
        must=("upstream_timeout", "upstream_unavailable"))
    T.check(opened >= 1, "the breaker never opened with the service stopped")


def test_timeout():
    # slowness: every answer comes after the attempt's timeout
    _, opened = under_fault(
        "slow", lambda: EV.control(fault="delay",
                                   delay_ms=int(TIMEOUT * 1000 * 2)),
        lambda: EV.control(fault="none"),
        allowed={"upstream_timeout", "upstream_unavailable"},
        must=("upstream_timeout", "upstream_unavailable"))
    T.check(opened >= 1, "the breaker never opened with slow answers")


def test_refused_then_restart():
    # the service gone: connections refused; it comes back on its port
    port = EV.port
    _, opened = under_fault(
        "refused", lambda: EV.stop(),
        lambda: EV.start(port=port),
        allowed={"upstream_unreachable", "upstream_unavailable"},
        must=("upstream_unreachable", "upstream_unavailable"))
    T.check(opened >= 1, "the breaker never opened with the service gone")


def test_restart():
    # a healthy service restarted under load: the workers' keep-alive
    # connections to the old process are all dead at once
    port = EV.port
    T.wait_until(lambda: EV.state()["open_connections"] >= 1, 30,
                 "a kept-alive connection from placesd")

    def restart():
        time.sleep(FAULT_SECONDS / 2)
        EV.stop()
        EV.start(port=port)
    box = {}

    def start():
        box["t"] = threading.Thread(target=restart, daemon=True)
        box["t"].start()

    def end():
        box["t"].join(60)
        T.check(EV.alive(), "placesd-events did not come back")
    under_fault("restart", start, end,
                allowed={"upstream_unreachable", "upstream_unavailable"})


if __name__ == "__main__":
    T.run_main([
        test_healthy_first,
        test_overload,
        test_lost_answer,
        test_lost_answer_stopped,
        test_timeout,
        test_refused_then_restart,
        test_restart,
    ], setup=setup)
