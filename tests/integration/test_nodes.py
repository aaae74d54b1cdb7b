#!/usr/bin/python3
"""Two placesd nodes on one database behind HAProxy (issue 18, "many
nodes"): Debian's haproxy runs etc/haproxy.cfg.example (its defaults and
backend, with the test's address and nodes) and health-checks /readyz.
Requests through HAProxy reach both nodes; an offer published on node A
reaches a subscriber of node B; a subscriber that moves from A to B with
its Last-Event-ID misses nothing; a rolling reload of both nodes under
load fails no request and loses no offer; a node stopped is taken out by
HAProxy with no request failing, and gets traffic again once started;
drained in HAProxy first, its stop needs no retry at all.
Last, the PostgreSQL sessions one node holds, counted at 1, 2 and 4
workers against the sizing rule of docs/deploy.md.  Asserts are on
answers, counts and sessions, never on speed."""

import http.client
import json
import os
import shutil
import signal
import threading
import time

import placesd_test as T

TOKEN = "nodes-token-0123456789abcdef"
WORKERS = 2
# rounds of the rolling reload (A then B)
ROUNDS = int(os.environ.get("PLACESD_TEST_ROLLING_ROUNDS", "3"))
PG = None
A = None
B = None
HX = None
TOKDIR = None
IDS = []


def example_conf():
    """etc/haproxy.cfg.example from its "defaults" section on."""
    path = os.path.join(os.environ.get("top_srcdir", "."), "etc",
                        "haproxy.cfg.example")
    with open(path) as f:
        text = f.read()
    i = text.find("\ndefaults")
    T.check(i >= 0, "%s has no defaults section" % path)
    return text[i + 1:]


def node_conf(tok):
    return {"database": {"conninfo": PG.conninfo},
            "offers": {"admin_token_file": tok, "heartbeat": "1s",
                       "retry": "200ms"},
            "server": {"shutdown_timeout": "10s"}}


def new_node(name, tok, workers=WORKERS):
    d = T.Daemon(workers=workers, conf=node_conf(tok), persistent=True,
                 name=name)
    d.conf = T.merge_conf(d.conf, {"log": {"access_log": d.path(
        "access.log")}})
    d.write_config(d.conf)
    return d


def setup():
    global PG, A, B, HX, TOKDIR, IDS
    T.haproxy_path()
    PG = T.Postgres(name="nodes-pg")
    PG.start()
    TOKDIR, tok = T.admin_token(TOKEN)
    A = new_node("node-a", tok)
    B = new_node("node-b", tok)
    T.migrate_and_seed(A, 300, 7)
    IDS = [int(r[0]) for r in PG.psql("SELECT id FROM places ORDER BY id")]
    for d in (A, B):
        d.start()
    for d in (A, B):
        T.wait_until(lambda: d.metric("placesd_offer_feed_up") == WORKERS,
                     60, "%s's offer feeds" % d.name)
    HX = T.HAProxy([("a", A.host, A.port), ("b", B.host, B.port)],
                   conf=example_conf(), persistent=True)
    HX.start()
    for s in ("a", "b"):
        HX.wait_state(s, "UP", 60)


def teardown():
    shutil.rmtree(TOKDIR or "", ignore_errors=True)


# ---- helpers -----------------------------------------------------------------

def publish(target, title):
    """POST /v1/offers on target (a node or HAProxy), over a new
    connection: (status, offer id or None, raw body)."""
    body = {"place_id": IDS[0], "title": title, "discount_pct": 20,
            "starts_at": "2026-01-01T10:00:00Z",
            "ends_at": "2036-01-01T10:00:00Z"}
    h = {"Content-Type": "application/json",
         "Authorization": "Bearer " + TOKEN}
    st, _, raw = target.request("POST", "/v1/offers", headers=h,
                                body=json.dumps(body), timeout=30)
    oid = json.loads(raw)["id"] if st == 201 else None
    return st, oid, raw


def access_lines(d, needle):
    """Lines of d's access log that contain needle."""
    return [ln for ln in T.read_log(d.path("access.log")).splitlines()
            if needle in ln]


def ok_2xx(d):
    return d.metric("placesd_http_requests_total", 0, code_class="2xx")


class Load(threading.Thread):
    """GETs through HAProxy until stopped, two places then /healthz (a
    period of three: round robin over two nodes gives each node both):
    each over a new connection, or all over one keep-alive connection.  Every answer's status is counted; an exception is a
    failure (with what it was)."""

    def __init__(self, target, keepalive=False, pause=0.01):
        super().__init__(daemon=True)
        self.target = target
        self.keepalive = keepalive
        self.pause = pause
        self.halt = threading.Event()
        self.statuses = {}
        self.errors = []
        self.n = 0

    def one(self, conn, path):
        if conn is None:
            return self.target.get(path, timeout=30)[0]
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        return r.status

    def run(self):
        conn = None
        if self.keepalive:
            conn = http.client.HTTPConnection(self.target.host,
                                              self.target.port, timeout=30)
        try:
            while not self.halt.is_set():
                path = ("/healthz" if self.n % 3 == 2 else
                        "/v1/places/%d" % IDS[self.n % len(IDS)])
                self.n += 1
                try:
                    st = self.one(conn, path)
                except Exception as e:      # noqa: counted as a failure
                    self.errors.append("%s: %r" % (path, e))
                    if conn is not None:
                        conn.close()
                        conn = http.client.HTTPConnection(
                            self.target.host, self.target.port, timeout=30)
                    continue
                self.statuses[st] = self.statuses.get(st, 0) + 1
                if st != 200:
                    self.errors.append("%s: %d" % (path, st))
                time.sleep(self.pause)
        finally:
            if conn is not None:
                conn.close()

    def done(self):
        return sum(self.statuses.values())

    def stop(self):
        self.halt.set()
        self.join(60)
        T.check(not self.is_alive(), "the load thread did not stop")


class Publisher(threading.Thread):
    """Publishes an offer through target every pause seconds until
    stopped; every status is counted, every id kept."""

    def __init__(self, target, label, pause=0.1):
        super().__init__(daemon=True)
        self.target = target
        self.label = label
        self.pause = pause
        self.halt = threading.Event()
        self.ids = []
        self.errors = []

    def run(self):
        i = 0
        while not self.halt.is_set():
            i += 1
            try:
                st, oid, raw = publish(self.target, "%s %d" % (self.label,
                                                               i))
            except Exception as e:          # noqa: counted as a failure
                self.errors.append(repr(e))
                continue
            if st != 201:
                self.errors.append("%d: %r" % (st, raw[:200]))
            else:
                self.ids.append(oid)
            time.sleep(self.pause)

    def stop(self):
        self.halt.set()
        self.join(60)
        T.check(not self.is_alive(), "the publisher did not stop")


class Follower(threading.Thread):
    """A subscriber that comes back with its Last-Event-ID whenever its
    stream ends, after the retry: it was given, as EventSource does."""

    def __init__(self, target, last_id):
        super().__init__(daemon=True)
        self.target = target
        self.last = last_id
        self.ids = []
        self.halt = threading.Event()
        self.connects = 0
        self.ended = 0          # streams ended by their last chunk
        self.refused = []
        self.error = None

    def run(self):
        try:
            while not self.halt.is_set():
                try:
                    s = T.Stream(self.target, last_id=self.last)
                except (OSError, T.TestFailure) as e:
                    self.refused.append(repr(e))
                    time.sleep(0.2)
                    continue
                self.connects += 1
                if s.status != 200:
                    self.refused.append("status %d" % s.status)
                    s.close()
                    time.sleep(0.2)
                    continue
                # the answer's last chunk ends the stream: HAProxy may keep
                # the client's connection open for its next request
                while not self.halt.is_set() and not s.closed:
                    s.pump(0.2)
                    for e in s.events:
                        self.ids.append(e[0])
                        self.last = e[0]
                    s.events = []
                    if getattr(s, "ended", False):
                        self.ended += 1
                        break
                s.close()
                if s.retry:
                    time.sleep(s.retry / 1000.0)
        except Exception as e:              # noqa: reported by the test
            self.error = e

    def stop(self):
        self.halt.set()
        self.join(30)
        T.check(not self.is_alive(), "the follower did not stop")


def newest_offer():
    return int(PG.psql("SELECT coalesce(max(id), 0) FROM offers")[0][0])


def check_exactly(got, published, what):
    """got holds every published id, in order, none twice."""
    T.check_eq(got, sorted(set(got)), "%s: ids in order, none twice" % what)
    missing = sorted(set(published) - set(got))
    T.check(not missing, "%s: %d of %d offers never arrived: %s"
            % (what, len(missing), len(published), missing[:20]))


def reload_node(d):
    """SIGHUP, then wait until the new generation serves and the old one
    is gone."""
    gen = int(d.metric("placesd_generation", 0))
    d.signal(signal.SIGHUP)

    def took():
        m = d.metrics()
        if T.metric(m, "placesd_reloads_total", 0, result="failed") > 0:
            T.fail("%s: the reload failed" % d.name)
        return T.metric(m, "placesd_generation", 0) >= gen + 1
    T.wait_until(took, 120, "%s's generation %d" % (d.name, gen + 1))
    T.wait_until(lambda: {g for _, _, g in d.workers()} == {gen + 1}, 60,
                 "%s's old workers to drain (%r)" % (d.name, d.workers()))
    T.wait_until(lambda: d.metric("placesd_offer_feed_up") == WORKERS, 60,
                 "%s's offer feeds after the reload" % d.name)


def stat(server, field):
    """One numeric field of HAProxy's "show stat" for a server of the
    placesd backend (or "BACKEND")."""
    lines = HX.admin("show stat").splitlines()
    cols = lines[0][2:].split(",")
    for ln in lines[1:]:
        row = dict(zip(cols, ln.split(",")))
        if row["pxname"] == "placesd" and row["svname"] == server:
            return int(row[field] or 0)
    T.fail("no server %s in show stat" % server)


def checks_down(server):
    """How many times HAProxy's checks took server from UP to DOWN."""
    return stat(server, "chkdown")


def retried():
    """HAProxy's retries and redispatches so far, summed over the nodes."""
    return tuple(sum(stat(s, f) for s in ("a", "b"))
                 for f in ("wretr", "wredis"))


# ---- tests -------------------------------------------------------------------

def test_sample_node_conf_is_valid():
    """etc/placesd-replicas.conf.example passes placesd -t (with the
    test's token file in place of its path)."""
    src = os.path.join(os.environ.get("top_srcdir", "."), "etc",
                       "placesd-replicas.conf.example")
    with open(src) as f:
        text = f.read()
    T.check("admin_token_file = /etc/placesd/admin.token" in text,
            "the sample's token file line")
    conf = os.path.join(TOKDIR, "placesd-replicas.conf")
    with open(conf, "w") as f:
        f.write(text.replace("/etc/placesd/admin.token",
                             os.path.join(TOKDIR, "token")))
    r = T.run([T.placesd_path(), "-t", "-c", conf])
    T.check_eq(r.returncode, 0, "placesd -t on the sample: %s%s"
               % (r.stdout, r.stderr))


def test_requests_reach_both_nodes():
    before = {d.name: ok_2xx(d) for d in (A, B)}
    paths = ["/v1/places/%d" % i for i in IDS[:40]]
    for p in paths:
        st, _, body = HX.get(p, timeout=30)
        T.check_eq(st, 200, "GET %s through HAProxy: %r" % (p, body[:200]))
    seen = {}
    for d in (A, B):
        got = {p for p in paths
               if access_lines(d, '"GET %s" 200' % p)}
        seen[d.name] = got
        T.check(got, "%s answered none of the 40 requests" % d.name)
        T.check(ok_2xx(d) >= before[d.name] + len(got),
                "%s: 2xx counter %s -> %s for %d answers"
                % (d.name, before[d.name], ok_2xx(d), len(got)))
    T.check_eq(seen[A.name] | seen[B.name], set(paths),
               "the requests answered by the two nodes")
    T.log("round robin: %d on A, %d on B"
          % (len(seen[A.name]), len(seen[B.name])))


def test_offer_on_a_reaches_a_subscriber_of_b():
    s = T.Stream(B)
    try:
        T.check_eq(s.status, 200, "stream on B")
        s.wait(lambda x: x.worker() is not None, what="B's hello")
        st, oid, raw = publish(A, "published on A")
        T.check_eq(st, 201, "POST on A: %r" % raw[:200])
        s.wait(lambda x: oid in x.ids(), timeout=60,
               what="offer %d on B's stream" % oid)
        ev = [e for e in s.events if e[0] == oid][0]
        T.check_eq(ev[1], "offer", "event type")
        T.check_eq(ev[2]["title"], "published on A", "the offer's title")
    finally:
        s.close()


def test_subscriber_moves_from_a_to_b():
    first = newest_offer()
    pub = Publisher(HX, "moving", pause=0.05)
    s = T.Stream(A)
    got = []
    try:
        T.check_eq(s.status, 200, "stream on A")
        pub.start()
        s.wait(lambda x: len(x.events) >= 5, timeout=60,
               what="5 offers on A")
        got += s.ids()
        on_a = len(got)
        s.close()
        # offers go on while the subscriber has no stream
        n = len(pub.ids)
        T.wait_until(lambda: len(pub.ids) >= n + 5, 60,
                     "5 offers published while away")
        s = T.Stream(B, last_id=got[-1])
        T.check_eq(s.status, 200, "stream on B")
        s.wait(lambda x: len(x.events) >= 5, timeout=60,
               what="5 offers on B")
        pub.stop()
        T.check(not pub.errors, "publishing: %s" % pub.errors[:5])
        published = [i for i in pub.ids if i > first]
        s.wait(lambda x: set(published) <= set(got + x.ids()),
               timeout=60, what="every offer published")
        got += s.ids()
    finally:
        pub.halt.set()
        s.close()
    check_exactly(got, published, "the subscriber that moved")
    T.check_eq(got, [i for i in got if i > first],
               "nothing older than the first offer")
    T.log("%d offers published, %d read on A, %d on B after the move"
          % (len(published), on_a, len(got) - on_a))


def test_rolling_reload_under_load():
    first = newest_offer()
    loads = [Load(HX), Load(HX, keepalive=True)]
    pub = Publisher(HX, "rolling", pause=0.05)
    fol = Follower(HX, first)
    down0 = {s: checks_down(s) for s in ("a", "b")}
    retries0 = retried()
    for t in loads + [pub, fol]:
        t.start()
    try:
        T.wait_until(lambda: all(ld.done() >= 20 for ld in loads) and
                     len(pub.ids) >= 5, 60, "the load to run")
        for d in [A, B] * ROUNDS:
            n = [ld.done() for ld in loads]
            reload_node(d)
            T.wait_until(lambda: all(ld.done() >= k + 20
                                     for ld, k in zip(loads, n)), 60,
                         "requests after reloading %s" % d.name)
        n = len(pub.ids)
        T.wait_until(lambda: len(pub.ids) >= n + 5, 60,
                     "offers after the reloads")
    finally:
        pub.stop()
        for ld in loads:
            ld.stop()
    published = list(pub.ids)
    try:
        T.wait_until(lambda: set(published) <= set(fol.ids), 60,
                     "the follower to get every offer")
    finally:
        fol.stop()
    r = retried()
    T.log("%d rounds of reloads; requests: %s new connections, %s "
          "keep-alive; %d offers; the follower connected %d times (%d "
          "streams ended by their last chunk); HAProxy retried %d and "
          "redispatched %d"
          % (ROUNDS, loads[0].statuses, loads[1].statuses, len(published),
             fol.connects, fol.ended, r[0] - retries0[0],
             r[1] - retries0[1]))
    for ld in loads:
        T.check(not ld.errors, "%s: %d failed requests: %s"
                % ("keep-alive" if ld.keepalive else "new connections",
                   len(ld.errors), ld.errors[:10]))
    T.check(not pub.errors, "publishing: %d failed: %s"
            % (len(pub.errors), pub.errors[:10]))
    T.check(fol.error is None, "follower: %r" % (fol.error,))
    T.check(not fol.refused, "follower refused: %s" % fol.refused[:5])
    # the first round reloads the node the stream is on (later ones may
    # fall while the follower waits out its retry: and finds a new node)
    T.check(fol.connects >= 2, "the reloads did not end the stream "
            "(%d connects)" % fol.connects)
    check_exactly([i for i in fol.ids if i > first], published,
                  "the follower through HAProxy")
    # a reload is invisible to the health checks: the same socket serves
    for s in ("a", "b"):
        T.check_eq(checks_down(s), down0[s],
                   "HAProxy's UP->DOWN transitions of %s" % s)


def test_node_stopped_and_started():
    loads = [Load(HX, pause=0.02), Load(HX, keepalive=True, pause=0.02)]
    retries0 = retried()
    for ld in loads:
        ld.start()
    try:
        T.wait_until(lambda: all(ld.done() >= 20 for ld in loads), 60,
                     "the load to run")
        rc = A.stop()
        T.assert_clean_exit(A, rc, "SIGTERM of node A")
        HX.wait_state("a", "DOWN", 60)
        n = [ld.done() for ld in loads]
        T.wait_until(lambda: all(ld.done() >= k + 40
                                 for ld, k in zip(loads, n)), 60,
                     "requests with A down")
        T.check_eq(HX.server_states().get("b"), "UP", "B's state")
        mark = len(access_lines(A, '"GET /v1/places/'))
        A.start()
        HX.wait_state("a", "UP", 60)
        T.wait_until(lambda: len(access_lines(A, '"GET /v1/places/')) >=
                     mark + 5, 60, "A to answer again through HAProxy")
    finally:
        for ld in loads:
            ld.stop()
        if not A.alive():
            A.start()
    r = retried()
    T.log("requests: %s new connections, %s keep-alive; HAProxy retried "
          "%d and redispatched %d"
          % (loads[0].statuses, loads[1].statuses, r[0] - retries0[0],
             r[1] - retries0[1]))
    for ld in loads:
        T.check(not ld.errors, "%s: %d failed requests: %s"
                % ("keep-alive" if ld.keepalive else "new connections",
                   len(ld.errors), ld.errors[:10]))


def test_planned_stop_drained_in_haproxy():
    """docs/deploy.md's planned stop: the node is set to drain in HAProxy
    first, then stopped and started, then set ready: nothing fails and
    HAProxy has nothing to retry."""
    loads = [Load(HX, pause=0.02), Load(HX, keepalive=True, pause=0.02)]
    for ld in loads:
        ld.start()
    try:
        T.wait_until(lambda: all(ld.done() >= 20 for ld in loads), 60,
                     "the load to run")
        retries0 = retried()
        HX.admin("set server placesd/a state drain")
        T.wait_until(lambda: stat("a", "scur") == 0, 60,
                     "A's sessions in HAProxy to end")
        rc = A.stop()
        T.assert_clean_exit(A, rc, "SIGTERM of the drained node A")
        n = [ld.done() for ld in loads]
        T.wait_until(lambda: all(ld.done() >= k + 20
                                 for ld, k in zip(loads, n)), 60,
                     "requests with A stopped")
        A.start()
        HX.admin("set server placesd/a state ready")
        HX.wait_state("a", "UP", 60)
        r = retried()
    finally:
        for ld in loads:
            ld.stop()
        if not A.alive():
            A.start()
        HX.admin("set server placesd/a state ready")
    T.log("requests: %s new connections, %s keep-alive; HAProxy retried "
          "%d and redispatched %d"
          % (loads[0].statuses, loads[1].statuses, r[0] - retries0[0],
             r[1] - retries0[1]))
    for ld in loads:
        T.check(not ld.errors, "%s: %d failed requests: %s"
                % ("keep-alive" if ld.keepalive else "new connections",
                   len(ld.errors), ld.errors[:10]))
    T.check_eq((r[0] - retries0[0], r[1] - retries0[1]), (0, 0),
               "HAProxy's retries and redispatches")


POOL_SIZE = 4       # [database] pool_size's default


def sessions_by_name(role):
    rows = PG.psql("SELECT application_name, count(*) FROM "
                   "pg_stat_activity WHERE usename = '%s' GROUP BY 1 "
                   "ORDER BY 1" % role)
    return {r[0]: int(r[1]) for r in rows}


def expected_sessions(workers):
    """docs/deploy.md's rule: per worker its pool, plus the ranker's
    loader and the node's one offer feed (LISTEN, in the ranker)."""
    want = {"placesd worker %d" % i: POOL_SIZE for i in range(workers)}
    want["placesd offer feed"] = 1
    want["placesd ranker"] = 1
    return want


def test_sessions_per_node():
    """The sessions of one node (its own PostgreSQL role, to tell it from
    A and B) at 1, 2 and 4 workers: workers x pool_size + 2."""
    tok = os.path.join(TOKDIR, "token")
    counts = []
    for w in (1, 2, 4):
        role = "node_w%d" % w
        PG.psql("DROP ROLE IF EXISTS %s; CREATE ROLE %s LOGIN SUPERUSER"
                % (role, role))
        conf = node_conf(tok)
        conf["database"]["conninfo"] = "host=%s user=%s dbname=%s" % (
            PG.dir, role, PG.DB)
        d = T.Daemon(workers=w, conf=conf, name="count-w%d" % w)
        d.start()
        want = expected_sessions(w)
        T.wait_until(lambda: d.metric("placesd_pg_up") == w and
                     d.metric("placesd_offer_feed_up") == w, 60,
                     "the pools and feeds of %d workers" % w)
        try:
            T.wait_until(lambda: sessions_by_name(role) == want, 60,
                         "the sessions of %d workers" % w)
        except T.TestFailure:
            T.fail("%d workers: sessions %r, want %r"
                   % (w, sessions_by_name(role), want))
        total = sum(sessions_by_name(role).values())
        T.check_eq(total, w * POOL_SIZE + 2,
                   "sessions of a node with %d workers" % w)
        # a reload: the new generation connects before the old one drains
        peak = [total]
        gen = int(d.metric("placesd_generation", 0))
        d.signal(signal.SIGHUP)
        stop = time.monotonic() + 60
        while time.monotonic() < stop:
            peak.append(sum(sessions_by_name(role).values()))
            if d.metric("placesd_generation", 0) >= gen + 1 and \
                    {g for _, _, g in d.workers()} == {gen + 1}:
                break
            time.sleep(0.05)
        T.wait_until(lambda: sessions_by_name(role) == want, 60,
                     "the sessions after the reload of %d workers" % w)
        rc = d.stop()
        T.assert_clean_exit(d, rc, "stop of the %d-worker node" % w)
        T.wait_until(lambda: not sessions_by_name(role), 30,
                     "the sessions of the stopped node to end")
        counts.append((w, total, max(peak)))
        T.check(max(peak) <= 2 * total, "%d workers: %d sessions during "
                "a reload, more than twice %d" % (w, max(peak), total))
    for w, total, peak in counts:
        T.log("workers=%d pool_size=%d: %d sessions (%d per worker + "
              "the ranker's loader and LISTEN); seen during a reload: %d"
              % (w, POOL_SIZE, total, POOL_SIZE, peak))


test_rolling_reload_under_load.timeout = 400
test_node_stopped_and_started.timeout = 240
test_planned_stop_drained_in_haproxy.timeout = 240
test_sessions_per_node.timeout = 400
test_subscriber_moves_from_a_to_b.timeout = 200

if __name__ == "__main__":
    import atexit
    atexit.register(teardown)
    T.run_main([
        test_sample_node_conf_is_valid,
        test_requests_reach_both_nodes,
        test_offer_on_a_reaches_a_subscriber_of_b,
        test_subscriber_moves_from_a_to_b,
        test_rolling_reload_under_load,
        test_node_stopped_and_started,
        test_planned_stop_drained_in_haproxy,
        test_sessions_per_node,
    ], setup=setup)
