#!/usr/bin/python3
"""Self-healing of the node's offer feed (its one LISTEN connection, held
by the ranker and relayed to every worker; issues 14 and 18), on a
cluster of their own: overload (a burst of offers past the
feed's 500-row page, many subscribers), a lost answer (the feeds' backends
SIGSTOPped), a timeout (the feeds' queries held by a lock), a refused
connection (cluster stopped) and a restart.  Offers are published with
SQL (placesd_publish_offer), so that the pool plays no part, some while
the feeds are away.  After each fault every subscriber, connected
throughout or reconnecting with Last-Event-ID as EventSource does, must
have every offer exactly once, in id order, none lost, none twice.

Bound (placesd(8)): the feed is connected again within 1 s nominal of the
server accepting connections (back-off cap 500 ms), then replays what it
missed; asserted at UP_S for the feeds and DELIVER_S for delivery.  A
backend that stopped answering is noticed by the feed's probe (quiet
5 s, then a 5 s deadline).  Measured times are printed; asserts are on
states and counts, never on speed."""

import json
import os
import signal
import socket
import threading
import time

import placesd_test as T

UP_S = 5.0          # feeds connected again: nominal 1 s
DELIVER_S = 8.0     # an offer published after the fault ends delivered
WORKERS = 2
LISTENS = 1         # LISTEN connections per node, whatever the workers
PG = None
D = None
PLACE = None


def setup():
    global PG, D, PLACE
    PG = T.Postgres(name="heal-feed-pg")
    PG.start()
    D = T.Daemon(workers=WORKERS, persistent=True, name="heal-feed", conf={
        "database": {"conninfo": PG.conninfo},
        "offers": {"heartbeat": "1s", "retry": "200ms",
                   "max_pending": "16m"}})
    T.migrate_and_seed(D, 200, 3)
    D.start()
    feeds_up(60)
    PLACE = int(PG.psql("SELECT id FROM places ORDER BY id LIMIT 1")[0][0])


def feeds_up(timeout):
    T.wait_until(lambda: D.metric("placesd_offer_feed_up") == WORKERS,
                 timeout, "every worker's offer feed up", interval=0.02)


def publish(n=1, title="heal"):
    """n offers in n transactions; their ids."""
    sql = "".join(
        "SELECT (placesd_publish_offer(%d, '%s %d', 'x', 10, "
        "now() - interval '1 hour', now() + interval '1 day')::json->>'id');"
        % (PLACE, title, i) for i in range(n))
    r = T.run(PG.psql_argv() + ["-F", " "], input=sql, timeout=120)
    if r.returncode != 0:
        T.fail("publish: %s" % r.stderr.strip())
    return [int(x) for x in r.stdout.split()]


def publish_burst(n, desc_len=1):
    """n offers in one transaction (their NOTIFYs arrive at once)."""
    rows = PG.psql(
        "SELECT (placesd_publish_offer(%d, 'burst ' || g, repeat('x', %d), "
        "10, now() - interval '1 hour', now() + interval '1 day')::json->>"
        "'id')::bigint FROM generate_series(1, %d) g"
        % (PLACE, desc_len, n))
    return [int(r[0]) for r in rows]


class Stream:
    """One SSE subscriber on a raw socket (chunked body; events by id)."""

    def __init__(self, last_id=None, d=None):
        d = d or D
        self.s = socket.create_connection((d.host, d.port), timeout=10)
        head = "GET /v1/offers/stream HTTP/1.1\r\nHost: x\r\n"
        if last_id is not None:
            head += "Last-Event-ID: %d\r\n" % last_id
        self.s.sendall((head + "\r\n").encode())
        self.raw, self.body = b"", b""
        self.ids, self.closed, self.status, self.worker = [], False, None, None
        deadline = time.monotonic() + 30
        while b"\r\n\r\n" not in self.raw and not self.closed and \
                time.monotonic() < deadline:
            self._recv(1)
        if b"\r\n\r\n" in self.raw:
            head, self.raw = self.raw.split(b"\r\n\r\n", 1)
            self.status = int(head.split()[1])
            self._decode()

    def _recv(self, timeout):
        self.s.settimeout(timeout)
        try:
            b = self.s.recv(1 << 16)
        except socket.timeout:
            return False
        except OSError:
            b = b""
        if not b:
            self.closed = True
            return False
        self.raw += b
        return True

    def _decode(self):
        while True:
            line, sep, rest = self.raw.partition(b"\r\n")
            if not sep:
                break
            n = int(line.split(b";")[0], 16)
            if len(rest) < n + 2:
                break
            self.body += rest[:n]
            self.raw = rest[n + 2:]
            if n == 0:
                self.closed = True
        while b"\n\n" in self.body:
            block, self.body = self.body.split(b"\n\n", 1)
            ev = {}
            for ln in block.decode().split("\n"):
                if ln.startswith(":"):
                    if "(worker " in ln:
                        self.worker = int(ln.split("(worker ")[1][0])
                    continue
                k, _, v = ln.partition(":")
                ev[k] = v.lstrip(" ")
            if "data" in ev and "id" in ev:
                self.ids.append(int(ev["id"]))
                T.check_eq(json.loads(ev["data"])["id"], int(ev["id"]),
                           "event id and data")

    def pump(self, timeout=0.1):
        if self._recv(timeout):
            self._decode()

    def close(self):
        self.s.close()


class Follower(threading.Thread):
    """A subscriber that reconnects with Last-Event-ID whenever its stream
    ends or is refused (the feed is away: 503), as EventSource does."""

    def __init__(self, d=None):
        super().__init__(daemon=True)
        self.d = d
        self.ids, self.stop, self.error = [], False, None
        self.reconnects, self.refused, self.worker = 0, 0, None
        self.lock = threading.Lock()

    def run(self):
        last = None
        try:
            while not self.stop:
                try:
                    s = Stream(last, self.d)
                except OSError:
                    time.sleep(0.1)
                    continue
                if s.status != 200:
                    self.refused += 1
                    s.close()
                    time.sleep(0.1)
                    continue
                while not self.stop and not s.closed:
                    s.pump(0.1)
                    with self.lock:
                        self.worker = s.worker
                        self.ids += s.ids
                    if s.ids:
                        last = s.ids[-1]
                    s.ids = []
                s.close()
                self.reconnects += 1
        except Exception as e:      # noqa: reported by the test
            self.error = e

    def got(self):
        with self.lock:
            return list(self.ids)


class Subscribers:
    """n Followers, at least one on each worker; stop() always."""

    def __init__(self, n=4, d=None):
        self.f, self.d = [], d
        for _ in range(n):
            self.add()
        for _ in range(40):
            T.wait_until(lambda: all(f.worker is not None for f in self.f),
                         30, "the subscribers' hello")
            if {f.worker for f in self.f} == set(range(WORKERS)):
                return
            self.add()
        T.fail("no subscriber on every worker: %r"
               % [f.worker for f in self.f])

    def add(self):
        f = Follower(self.d)
        f.start()
        self.f.append(f)

    def stop(self):
        for f in self.f:
            f.stop = True
        for f in self.f:
            f.join(10)

    def wait_all(self, ids, timeout, what):
        """Every follower has every id of ids; returns the seconds."""
        t0 = time.monotonic()
        want = set(ids)
        T.wait_until(lambda: all(want <= set(f.got()) for f in self.f),
                     timeout, "%s: every subscriber to get %d offers"
                     % (what, len(ids)), interval=0.02)
        return time.monotonic() - t0

    def check_exactly_once(self, first, what):
        for f in self.f:
            T.check(f.error is None, "%s: follower failed: %r"
                    % (what, f.error))
            got = [i for i in f.got() if i >= first]
            T.check_eq(got, sorted(set(got)), "%s: ids in order, each once"
                       % what)


def heal_case(what, fault, end, during=True, after=3, stay=False):
    """Subscribers throughout; fault(); offers published during it (when
    the database takes them); end(); offers published right away (maybe
    before the feeds are back: found by the replay) and later; every
    subscriber must have each exactly once.  stay: and none of them was
    disconnected."""
    subs = Subscribers()
    published, t_end = [], None
    try:
        first = publish(1, "before " + what)
        subs.wait_all(first, 30, what + ", before")
        fault_state = fault()
        try:
            if during:
                published += publish(2, "during " + what)
        finally:
            end(fault_state)
            t_end = time.monotonic()
        published += publish(after, "after " + what)
        feeds_up(60)
        t_up = time.monotonic() - t_end
        subs.wait_all(published, 60, what)
        t_all = time.monotonic() - t_end
        T.log("%s: feeds up %.0f ms, every offer delivered %.0f ms after "
              "the fault ended (1 s + replay nominal; asserted at %.0f s "
              "and %.0f s); subscribers %d, refused %s, reconnects %s"
              % (what, t_up * 1000, t_all * 1000, UP_S, DELIVER_S,
                 len(subs.f), [f.refused for f in subs.f],
                 [f.reconnects for f in subs.f]))
        T.check(t_up <= UP_S, "%s: feeds took %.2f s" % (what, t_up))
        T.check(t_all <= DELIVER_S, "%s: delivery took %.2f s"
                % (what, t_all))
        time.sleep(0.5)     # a duplicate would show by now
        subs.check_exactly_once(first[0], what)
        if stay:
            T.check_eq([f.reconnects for f in subs.f], [0] * len(subs.f),
                       "%s: streams ended by the fault" % what)
        late_subscriber_replays(first[0], published, what)
    finally:
        subs.stop()


def late_subscriber_replays(last_id, published, what):
    """A subscriber that was away for the whole outage comes back with
    Last-Event-ID: it gets exactly what it missed, in order."""
    s = Stream(last_id)
    try:
        T.check_eq(s.status, 200, "%s: stream after the outage" % what)
        deadline = time.monotonic() + 30
        while not set(published) <= set(s.ids):
            T.check(not s.closed and time.monotonic() < deadline,
                    "%s: Last-Event-ID %d replayed %r, want %r"
                    % (what, last_id, s.ids, published))
            s.pump(0.2)
        s.pump(0.3)
        T.check_eq(s.ids, sorted(published), "%s: the replay after "
                   "Last-Event-ID %d" % (what, last_id))
    finally:
        s.close()


def feed_backends():
    return [int(r[0]) for r in PG.psql(
        "SELECT pid FROM pg_stat_activity WHERE application_name = "
        "'placesd offer feed'")]


def stop_pids(pids):
    out = []
    for p in pids:
        try:
            os.kill(p, signal.SIGSTOP)
            out.append(p)
        except OSError:
            pass
    return out


def cont_pids(pids):
    for p in pids:
        try:
            os.kill(p, signal.SIGCONT)
        except OSError:
            pass


# ---- tests ----------------------------------------------------------------

def test_feed_overload():
    """1,200 offers in one transaction (past the 500-row page) and 300 in
    300 more, to a dozen subscribers: each gets all, once, in order."""
    subs = Subscribers(12)
    try:
        ids = publish_burst(1200)
        ids += publish(300, "overload")
        dt = subs.wait_all(ids, 120, "overload")
        T.log("overload: %d offers to %d subscribers, all there %.2f s "
              "after the last was published"
              % (len(ids), len(subs.f), dt))
        subs.check_exactly_once(ids[0], "overload")
        T.check(D.metric("placesd_offer_feed_up") == WORKERS, "feeds up")
    finally:
        subs.stop()


def wait_new_feed_backends(old, what):
    """Every worker's feed has left its old backend for a new one."""
    t0 = time.monotonic()
    T.wait_until(lambda: len(set(feed_backends()) - set(old)) >= LISTENS,
                 60, "the feed to give up on its backend (%s)" % what)
    T.check_eq(len(set(feed_backends()) - set(old)), LISTENS, "new LISTEN "
               "connections after the fault (%s)" % what)
    T.log("%s: the feed on a new backend %.1f s after the fault began "
          "(probe after 5 s quiet + 5 s deadline nominal)"
          % (what, time.monotonic() - t0))


def test_feed_lost_answer():
    """The feeds' backends SIGSTOPped: notifications stop; each feed's
    probe notices within ~10 s, reconnects and replays.  The stopped
    backends are resumed only at the end."""
    def fault():
        held = stop_pids(feed_backends())
        T.check(len(held) == LISTENS, "feed backends: %r" % held)
        return held

    def end(held):
        # the fault "ends" when the feeds have left the stopped backends
        # behind: wait for that, then resume them
        try:
            wait_new_feed_backends(held, "lost answer")
        finally:
            cont_pids(held)
    heal_case("lost answer", fault, end)


def test_feed_timeout():
    """The offers table locked for 12 s: the feeds' queries wait past
    their 5 s deadline, the feeds reconnect (and wait again); after the
    lock every offer arrives once."""
    log0 = D.log_text().count("no answer to a query within")

    def fault():
        return feed_backends(), PG.lock(["offers"])

    def end(state):
        old, lk = state
        try:
            wait_new_feed_backends(old, "timeout")
        finally:
            lk.release()
        T.check(D.log_text().count("no answer to a query within") >=
                log0 + LISTENS, "the feed's timeout is not logged")
    heal_case("timeout", fault, end, during=False)


def test_feed_refused_then_started():
    def fault():
        PG.stop()
        T.wait_until(lambda: D.metric("placesd_offer_feed_up") == 0, 30,
                     "feeds down")
        time.sleep(4)       # every back-off at its cap
        return None
    heal_case("refused", fault, lambda _: PG.start(), during=False)


def test_feed_restart():
    heal_case("restart", lambda: None, lambda _: PG.restart(),
              during=False)


def test_feed_cluster_frozen():
    def fault():
        PG.freeze()
        time.sleep(12)      # past the probe and its deadline
        return None
    heal_case("frozen cluster", fault, lambda _: PG.thaw(), during=False)


def test_feed_database_rewound():
    """A database restored from a backup under running workers: the offer
    ids go back below what the feeds and their subscribers have seen. The
    feeds follow the database and end their streams; the subscribers come
    back with a Last-Event-ID that is now ahead of every offer, stream
    from now, and get each offer published after that exactly once."""
    subs = Subscribers(n=2)
    try:
        ids = publish(3, "before the restore")
        subs.wait_all(ids, DELIVER_S, "before the restore")
        # the backup's state: those three offers never happened
        PG.psql("DELETE FROM offers WHERE id >= %d; SELECT setval("
                "pg_get_serial_sequence('offers', 'id'), %d)"
                % (ids[0], ids[0] - 1))
        reconnects = [f.reconnects for f in subs.f]
        warned = D.log_text().count("offer ids went back")
        PG.restart()
        # the ranker's feed sees it, and tells each worker's
        T.wait_until(lambda: D.log_text().count("offer ids went back") >=
                     warned + LISTENS + WORKERS, 30,
                     "every feed to see the ids go back")
        T.wait_until(lambda: all(f.reconnects > r and f.worker is not None
                                 for f, r in zip(subs.f, reconnects)), 30,
                     "the subscribers to come back")
        time.sleep(1)       # their new streams' hellos are out
        seen = [len(f.got()) for f in subs.f]
        new = publish(2, "after the restore")
        T.check(new[-1] <= ids[-1], "ids reused: %r after %r" % (new, ids))
        t0 = time.monotonic()
        T.wait_until(lambda: all(len(f.got()) - n >= len(new)
                                 for f, n in zip(subs.f, seen)), DELIVER_S,
                     "every subscriber to get the offers after the restore",
                     interval=0.02)
        T.log("offers %r after the restore delivered in %.0f ms"
              % (new, (time.monotonic() - t0) * 1000))
        time.sleep(0.5)     # nothing more, nothing twice
        for f, n in zip(subs.f, seen):
            T.check_eq(f.got()[n:], new, "what a subscriber got after the "
                       "restore")
    finally:
        subs.stop()


# ---- the relay: the ranker holds the LISTEN, the workers subscribe ---------

def ranker_pid(d=None):
    d = d or D
    T.wait_until(lambda: len((d or D).rankers()) == 1, 60, "one ranker")
    return d.rankers()[0][0]


def test_relay_ranker_killed():
    """kill -9 the ranker (the node's LISTEN and its relay): the streams
    stay open and wait; offers published meanwhile come, in order and
    once, from the respawned ranker."""
    def fault():
        pid = ranker_pid()
        down = D.log_text().count("no ranker relays it")
        os.kill(pid, signal.SIGKILL)
        # the respawn takes tens of milliseconds: the log, not a poll
        T.wait_until(lambda: D.log_text().count("no ranker relays it") >=
                     down + WORKERS, 30, "the workers' feeds down without "
                     "a ranker")
        return pid

    def end(old):
        T.wait_until(lambda: [p for p, _ in D.rankers() if p != old], 60,
                     "a respawned ranker")
    # the respawn is quick: offers published while no ranker ran are
    # either read by the new ranker's first high-water mark or its
    # catch-up of a worker's gap (test_relay_worker_stalled asserts that)
    heal_case("ranker killed", fault, end, stay=True)
    T.check_eq(len(feed_backends()), LISTENS, "LISTEN connections")


def test_relay_ranker_stopped():
    """The ranker SIGSTOPped for 4 s (hung: its socket accepts, nothing
    answers): the workers give it up after their missed pings, the
    streams wait; SIGCONT, and it relays again, the gap first."""
    def fault():
        pid = ranker_pid()
        os.kill(pid, signal.SIGSTOP)
        try:
            T.wait_until(lambda: D.metric("placesd_offer_feed_up") == 0,
                         30, "the feeds down with a hung ranker")
        except BaseException:
            os.kill(pid, signal.SIGCONT)
            raise
        return pid

    def end(pid):
        time.sleep(1)
        os.kill(pid, signal.SIGCONT)
    heal_case("ranker stopped", fault, end, stay=True)


def test_relay_worker_stalled():
    """A worker SIGSTOPped while 3,000 offers of 4 KB are published: the
    ranker holds at most 4 x [offers] max_pending, at least 8 MiB, for it,
    then closes its connection; SIGCONT, the worker reconnects, catches up by id, and its
    subscribers (which may be cut off as slow themselves and come back
    with Last-Event-ID) get every offer once, in order."""
    d = T.Daemon(workers=WORKERS, name="relay-stall", conf={
        "database": {"conninfo": PG.conninfo},
        "offers": {"heartbeat": "1s", "retry": "200ms",
                   "max_pending": "256k"}})
    d.start()
    subs = None
    stopped = None
    try:
        T.wait_until(lambda: d.metric("placesd_offer_feed_up") == WORKERS,
                     60, "the feeds of relay-stall")
        subs = Subscribers(n=4, d=d)
        first = publish(1, "before the stall")
        subs.wait_all(first, 30, "before the stall")
        stopped = [p for p, slot, _ in d.workers() if slot == 0][0]
        os.kill(stopped, signal.SIGSTOP)
        ids = first + publish_burst(3000, 4000)
        T.wait_until(lambda: "of the offer feed unsent" in
                     d.log_text(), 60, "the ranker to cut off the "
                     "stalled worker")
        os.kill(stopped, signal.SIGCONT)
        stopped = None
        ids += publish(2, "after the stall")
        dt = subs.wait_all(ids, 120, "after the stall")
        time.sleep(0.5)
        subs.check_exactly_once(first[0], "stalled worker")
        T.log("stalled worker: %d offers, every subscriber has all %.1f s "
              "after the last; relay overflows %s, catch-up reads %s, "
              "reconnects %s" % (len(ids), dt,
                                 d.metric("placesd_offer_relay_overflows_"
                                          "total"),
                                 d.metric("placesd_offer_catchup_reads_"
                                          "total"),
                                 [f.reconnects for f in subs.f]))
        T.check(d.metric("placesd_offer_relay_overflows_total", 0) >= 1,
                "overflows counted")
        T.check(d.metric("placesd_offer_catchup_reads_total", 0) >= 1,
                "the gap read by id")
    finally:
        if stopped is not None:
            os.kill(stopped, signal.SIGCONT)
        if subs is not None:
            subs.stop()
        d.stop()


for _t in (test_feed_lost_answer, test_feed_timeout, test_feed_overload,
           test_feed_cluster_frozen, test_relay_worker_stalled):
    _t.timeout = 240


if __name__ == "__main__":
    T.run_main([
        test_feed_overload,
        test_feed_lost_answer,
        test_feed_timeout,
        test_feed_refused_then_started,
        test_feed_restart,
        test_feed_cluster_frozen,
        test_feed_database_rewound,
        test_relay_ranker_killed,
        test_relay_ranker_stopped,
        test_relay_worker_stalled,
    ], setup=setup)
