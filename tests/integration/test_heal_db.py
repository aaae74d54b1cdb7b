#!/usr/bin/python3
"""Self-healing of the database clients (issue 14, item 3): the workers'
database pools and the ranker's snapshot loader, on a cluster of their own,
driven through overload, a lost answer, a timeout, a refused connection
and a restart.  After each fault ends the clients must be healthy again by
themselves, within the bound placesd(8) states:

  pool:   1 s nominal after the server accepts connections (back-off cap
          500 ms + jitter + one connect); asserted at RECOVER_S;
  loader: reconnect within ~1 s (back-off cap 1 s), then one full load;
          a change made after the fault is ranked; asserted at LOADER_S.

Measured times are printed; asserts are on states and counts (every
worker's pool up, /readyz 200, answers 200, the change found), never on
speed.  The slack covers a busy 2-core CI machine under ASan.  The offer
feed has its own file, test_heal_db_feed.py."""

import os
import signal
import threading
import time
import urllib.parse
import json

import placesd_test as T

RECOVER_S = 5.0     # pool: nominal 1 s
LOADER_S = 15.0     # loader: nominal ~1 s + a full load
WORKERS = 2
PG = None
D = None
IDS = []            # place ids
CITY = None         # (id, lat, lon)
_seq = [0]


def setup():
    global PG, D, IDS, CITY
    PG = T.Postgres(name="heal-pg")
    PG.start()
    conf = {"database": {"conninfo": PG.conninfo, "pool_size": 2,
                         "query_timeout": "1s", "queue_size": 4},
            "cache": {"ttl": "0s"},     # every answer asks the database
            "ranker": {"timeout": "2s"},
            "server": {"request_deadline": "5s"}}
    D = T.Daemon(workers=WORKERS, conf=conf, persistent=True, name="heal")
    T.migrate_and_seed(D, 400, 5)
    D.start()
    IDS = [int(r[0]) for r in PG.psql("SELECT id FROM places ORDER BY id")]
    CITY = T.biggest_city(PG)
    T.wait_until(lambda: nearby_ok() is not None and
                 not nearby_ok()["degraded"], 60, "a ranked /v1/nearby")


# ---- helpers --------------------------------------------------------------

def fresh_place_path():
    """A /v1/places/{id} (the cache is off: each asks the database)."""
    _seq[0] += 1
    return "/v1/places/%d" % IDS[_seq[0] % len(IDS)]


def nearby_ok(**params):
    q = {"lat": CITY[1], "lon": CITY[2], "radius_m": 50000, "limit": 100}
    q.update(params)
    try:
        st, _, body = D.get("/v1/nearby?" + urllib.parse.urlencode(q),
                            timeout=10)
    except OSError:
        return None
    return json.loads(body) if st == 200 else None


def healthy():
    """Every worker's pool up, /readyz 200 on several connections, and
    database answers 200 on several connections."""
    if D.metric("placesd_pg_up") != WORKERS:
        return False
    for _ in range(4):
        if D.get("/readyz", timeout=5)[0] != 200:
            return False
        if D.get(fresh_place_path(), timeout=5)[0] != 200:
            return False
    return True


def measure_recovery(what, bound=RECOVER_S):
    """Poll healthy() from now; fail past 30 s; check the bound; return
    the seconds it took."""
    t0 = time.monotonic()
    T.wait_until(healthy, 30, "%s: pool healthy again" % what, interval=0.02)
    dt = time.monotonic() - t0
    T.log("%s: pool healthy %.0f ms after the fault ended (1 s nominal, "
          "asserted at %.0f s)" % (what, dt * 1000, bound))
    T.check(dt <= bound, "%s: the pool took %.2f s to heal (bound %.0f s)"
            % (what, dt, bound))
    return dt


def rename(pid):
    """A word of its own in a place's name (the change the loader must
    pick up); returns the word."""
    word = "heal%dx%d" % (os.getpid(), int(time.monotonic() * 1000))
    PG.psql("UPDATE places SET name = name || ' %s' WHERE id = %d"
            % (word, pid))
    return word


def ranked_with(word, pid):
    doc = nearby_ok(q=word)
    return (doc is not None and not doc["degraded"] and
            any(r["place"]["id"] == pid for r in doc["results"]))


def nearby_place():
    doc = nearby_ok(radius_m=3000, limit=1)
    T.check(doc is not None and doc["results"], "no place near the centre")
    return doc["results"][0]["place"]["id"]


def measure_loader(what, word, pid, t0=None, bound=LOADER_S,
                   since="the fault ended"):
    t0 = time.monotonic() if t0 is None else t0
    T.wait_until(lambda: ranked_with(word, pid), 60,
                 "%s: the ranker to rank a change made after the fault"
                 % what, interval=0.05)
    dt = time.monotonic() - t0
    T.log("%s: change ranked %.0f ms after %s (asserted at %.0f s)"
          % (what, dt * 1000, since, bound))
    T.check(dt <= bound, "%s: the loader took %.2f s (bound %.0f s)"
            % (what, dt, bound))


def backends(app_like):
    return [int(r[0]) for r in PG.psql(
        "SELECT pid FROM pg_stat_activity WHERE application_name LIKE '%s'"
        % app_like)]


def settled_backends(app_like, quiet=1.5, timeout=60):
    """The set of backends once it has not changed for quiet seconds and
    every pool is up: the previous test's reconnects (a connect that
    timed out while the cluster was frozen, say) may still be opening
    connections, and a set taken meanwhile misses some of them."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        cur = set(backends(app_like))
        if cur != last:
            last, since = cur, time.monotonic()
        elif (time.monotonic() - since >= quiet and cur and
              D.metric("placesd_pg_up") == WORKERS):
            return cur
        time.sleep(0.1)
    T.fail("the pools' backends did not settle within %d s: %r"
           % (timeout, sorted(last or ())))


class Stopped:
    """SIGSTOPs some backends; thaw() (always, in finally) resumes them."""

    def __init__(self, pids):
        self.pids = []
        for p in pids:
            try:
                os.kill(p, signal.SIGSTOP)
                self.pids.append(p)
            except OSError:
                pass

    def thaw(self):
        while self.pids:
            try:
                os.kill(self.pids.pop(), signal.SIGCONT)
            except OSError:
                pass


def flood(n, timeout=30):
    """n concurrent GET /v1/places/{fresh id}: {status: count} and the
    slowest answer's seconds."""
    codes, lock, slow = {}, threading.Lock(), [0.0]
    paths = [fresh_place_path() for _ in range(n)]

    def one(path):
        t0 = time.monotonic()
        try:
            st = D.get(path, timeout=timeout)[0]
        except OSError as e:
            st = "error %s" % type(e).__name__
        with lock:
            codes[st] = codes.get(st, 0) + 1
            slow[0] = max(slow[0], time.monotonic() - t0)
    th = [threading.Thread(target=one, args=(p,), daemon=True)
          for p in paths]
    for t in th:
        t.start()
    for t in th:
        t.join(timeout + 10)
    return codes, slow[0]


# ---- the pool -------------------------------------------------------------

def test_pool_overload_then_heals():
    """pool 2 + queue 4 per worker, every query held by a lock: a flood of
    120 gets 503 overloaded and 504, none hangs; once the lock goes the
    pool answers again at once."""
    lk = PG.lock(["places"])
    try:
        codes, slow = flood(120)
    finally:
        lk.release()
    T.log("flood over a locked table: %r, slowest %.2f s" % (codes, slow))
    T.check(set(codes) <= {503, 504}, "unexpected answers: %r" % codes)
    T.check(codes.get(503, 0) > 0, "nothing shed as overloaded: %r" % codes)
    T.check(slow < 15, "an answer took %.1f s (query_timeout 1s)" % slow)
    measure_recovery("overload")


def test_pool_timeout_then_heals():
    """A query past its deadline is 504 and its connection is reopened:
    the next queries answer as soon as the lock is gone."""
    lk = PG.lock(["places"])
    try:
        st, _, body = D.get(fresh_place_path(), timeout=30)
        T.check_eq(st, 504, "a query held past query_timeout")
        T.check(b"deadline_exceeded" in body, "504 body: %r" % body[:200])
    finally:
        lk.release()
    measure_recovery("timeout")


def test_pool_lost_answer_heals_without_the_backend():
    """The pools' backends SIGSTOPped (answers lost) and never resumed
    during the test: each frozen connection costs at most one 504, is
    dropped and reopened, and the pool serves again with new backends."""
    pids = backends("placesd worker %")
    T.check(len(pids) >= WORKERS, "pool backends: %r" % pids)
    st = Stopped(pids)
    try:
        codes = {}
        t0 = time.monotonic()
        ok_in_a_row = 0
        while ok_in_a_row < 8:
            T.check(time.monotonic() - t0 < 60, "the pool did not heal "
                    "with its backends stopped: %r" % codes)
            code = D.get(fresh_place_path(), timeout=30)[0]
            codes[code] = codes.get(code, 0) + 1
            ok_in_a_row = ok_in_a_row + 1 if code == 200 else 0
        dt = time.monotonic() - t0
        T.log("backends stopped: %d; answers %r; healed in %.2f s"
              % (len(st.pids), codes, dt))
        T.check(set(codes) <= {200, 503, 504}, "answers: %r" % codes)
        T.check(codes.get(504, 0) + codes.get(503, 0) <= len(st.pids),
                "more failures than frozen connections: %r" % codes)
        T.check(D.metric("placesd_pg_up") == WORKERS, "pools up")
    finally:
        st.thaw()


def test_pool_refused_then_started_heals():
    """Cluster stopped: 503 unavailable at once, /readyz 503; kept down
    4 s so that every back-off reaches its cap; started again on the same
    socket: healthy within the bound."""
    PG.stop()
    try:
        T.wait_until(lambda: D.metric("placesd_pg_up") == 0, 30,
                     "both pools down")
        t0 = time.monotonic()
        st, _, body = D.get(fresh_place_path(), timeout=10)
        T.check_eq(st, 503, "database stopped")
        T.check(b"unavailable" in body, "503 body %r" % body[:200])
        T.log("503 unavailable in %.0f ms" % ((time.monotonic() - t0) * 1e3))
        st, _, body = D.get("/readyz")
        T.check_eq(st, 503, "/readyz with the database stopped")
        T.check(b"database" in body, "/readyz names the database")
        time.sleep(4)
    finally:
        PG.start()
    measure_recovery("refused, then started")


def test_pool_restart_heals():
    """pg_ctl restart -m fast: every connection is terminated."""
    PG.restart()
    measure_recovery("restart")


def test_pool_cluster_frozen_heals():
    """The whole cluster SIGSTOPped for 5 s (longer than the 2 s connect
    deadline) under traffic: 504/503 meanwhile, healthy after SIGCONT."""
    PG.freeze()
    try:
        codes, slow = flood(12)
        T.log("frozen cluster: %r, slowest %.2f s" % (codes, slow))
        T.check(set(codes) <= {503, 504}, "answers: %r" % codes)
        time.sleep(max(0.0, 5 - slow))
    finally:
        PG.thaw()
    measure_recovery("frozen cluster")


def test_pool_idle_probe_replaces_stopped_backends():
    """The pools' backends SIGSTOPped with no traffic at all: the idle
    probe (after 5 s, with the 1 s query deadline) replaces every one,
    and no request ever meets a stopped backend."""
    old = settled_backends("placesd worker %")
    st = Stopped(old)
    try:
        t0 = time.monotonic()
        T.wait_until(lambda: len(set(backends("placesd worker %")) - old)
                     >= len(old), 60, "new backends for every pool "
                     "connection")
        T.log("idle probe: %d stopped backends replaced in %.1f s (5 s "
              "idle + 1 s deadline nominal)" % (len(old),
                                                time.monotonic() - t0))
        codes = {}
        for _ in range(16):
            c = D.get(fresh_place_path(), timeout=30)[0]
            codes[c] = codes.get(c, 0) + 1
        T.check_eq(codes, {200: 16}, "answers after the probes")
    finally:
        st.thaw()


def test_pool_hung_cluster_is_unready_without_traffic():
    """The cluster frozen, nobody asking: the probes find it, every pool
    goes down and /readyz says so (503 naming the database, /healthz
    200); after SIGCONT, healthy within the bound."""
    PG.freeze()
    try:
        t0 = time.monotonic()
        T.wait_until(lambda: D.metric("placesd_pg_up") == 0, 60,
                     "both pools down with the cluster frozen")
        T.log("hung cluster: pools down %.1f s after the freeze (5 s idle "
              "+ the 1 s probe deadline nominal)" % (time.monotonic() - t0))
        st, _, body = D.get("/readyz")
        T.check_eq(st, 503, "/readyz with the cluster frozen")
        T.check(b"database" in body, "/readyz names the database")
        T.check_eq(D.get("/healthz")[0], 200, "/healthz meanwhile")
    finally:
        PG.thaw()
    measure_recovery("hung cluster, no traffic")


# ---- the loader -----------------------------------------------------------

def test_loader_notification_burst_then_patches():
    """6,000 notifications in one transaction (beyond the patch limit,
    a full load) with a real change among them; afterwards a single
    change is still patched in."""
    pid = nearby_place()
    word = "burst%d" % int(time.monotonic() * 1000)
    PG.psql("BEGIN; UPDATE places SET name = name || ' %s' WHERE id = %d; "
            "SELECT count(pg_notify('places_changed', g::text)) FROM "
            "generate_series(100000001, 100006000) g; COMMIT;"
            % (word, pid))
    measure_loader("notification burst", word, pid,
                   since="the burst committed")
    measure_loader("patch after the burst", rename(pid), pid,
                   since="the UPDATE")


def test_loader_slow_answer_then_patches():
    """The patch waits on a lock (menu_items) for 3 s: the old snapshot
    serves meanwhile, the change is ranked once the lock goes."""
    pid = nearby_place()
    lk = PG.lock(["menu_items"])
    try:
        word = rename(pid)
        time.sleep(3)
        doc = nearby_ok()
        T.check(doc is not None and not doc["degraded"],
                "ranked answers while the loader waits")
        T.check(not ranked_with(word, pid), "the patch finished under "
                "the lock?")
    finally:
        lk.release()
    measure_loader("slow answer", word, pid, since="the lock went")


def test_loader_lost_answer_is_probed():
    """The loader's backend SIGSTOPped while it waits for notifications:
    a change's NOTIFY never reaches it; its liveness probe times out, it
    reconnects and loads everything, with the change."""
    pids = backends("placesd ranker")
    T.check(pids, "no loader backend")
    log0 = D.log_text().count("did not answer a liveness probe")
    pid = nearby_place()
    st = Stopped(pids)
    try:
        word = rename(pid)
        # probe after <= 5 s quiet, 5 s deadline, reconnect, full load:
        # ~11 s nominal
        measure_loader("loader backend stopped", word, pid, bound=30,
                       since="the backend was stopped (probe 5 s + its "
                       "deadline 5 s + a load nominal)")
        T.check(D.log_text().count("did not answer a liveness probe") >
                log0, "the probe's failure is not logged")
    finally:
        st.thaw()


def test_loader_refused_then_started():
    pid = nearby_place()
    PG.stop()
    try:
        time.sleep(4)           # the back-off reaches its 1 s cap
        doc = nearby_ok()
        T.log("nearby with the database stopped: %s"
              % ("none" if doc is None else "degraded=%s" % doc["degraded"]))
    finally:
        PG.start()
    t0 = time.monotonic()
    measure_loader("refused, then started", rename(pid), pid, t0=t0)


def test_loader_restart():
    pid = nearby_place()
    PG.restart()
    t0 = time.monotonic()
    measure_loader("restart", rename(pid), pid, t0=t0)


def test_loader_cluster_frozen():
    pid = nearby_place()
    PG.freeze()
    try:
        time.sleep(6)           # past the probe's deadline
    finally:
        PG.thaw()
    t0 = time.monotonic()
    measure_loader("frozen cluster", rename(pid), pid, t0=t0)


for _t in (test_loader_lost_answer_is_probed,):
    _t.timeout = 180


if __name__ == "__main__":
    T.run_main([
        test_pool_overload_then_heals,
        test_pool_timeout_then_heals,
        test_pool_lost_answer_heals_without_the_backend,
        test_pool_refused_then_started_heals,
        test_pool_restart_heals,
        test_pool_cluster_frozen_heals,
        test_pool_idle_probe_replaces_stopped_backends,
        test_pool_hung_cluster_is_unready_without_traffic,
        test_loader_notification_burst_then_patches,
        test_loader_slow_answer_then_patches,
        test_loader_lost_answer_is_probed,
        test_loader_refused_then_started,
        test_loader_restart,
        test_loader_cluster_frozen,
    ], setup=setup)
