#!/usr/bin/python3
"""Reads on a streaming standby (issue 18, first part): [database]
read_conninfo names a hot standby made with pg_basebackup -R from the
primary.  Reads that nothing caches go to the standby (seen on its
pg_stat_activity by application_name); writes and the offers' reads stay
on the primary, so a published offer is listed at once even while the
standby replays nothing; a stopped standby sends the reads to the primary
with no failed request; a stopped primary leaves the reads on the standby
and makes writes 503.  Asserts are on answers, sessions and counters."""

import json
import os
import signal
import socket
import threading
import time
import shutil
import urllib.parse

import placesd_test as T

WORKERS = 2
POOL = 2
READ_POOL = 3
MAX_LAG_MS = 500
TOKEN = "replica-token-0123456789"
PG = None
SB = None
D = None
TOKDIR = None
IDS = []
CITY = None


def setup():
    global PG, SB, D, TOKDIR, IDS, CITY
    PG = T.Postgres(name="primary")
    PG.start()
    TOKDIR, tok = T.admin_token(TOKEN)
    conf = {"database": {"conninfo": PG.conninfo, "pool_size": POOL,
                         "read_pool_size": READ_POOL,
                         "query_timeout": "2s",
                         "max_replica_lag": "%dms" % MAX_LAG_MS},
            "cache": {"ttl": "0s", "max_bytes": 0},   # every read asks
            "offers": {"admin_token_file": tok},
            "server": {"request_deadline": "5s"}}
    D = T.Daemon(workers=WORKERS, conf=conf, persistent=True, name="replica")
    T.migrate_and_seed(D, 300, 3)
    SB = T.Standby(PG)
    SB.start()
    T.wait_until(SB.caught_up, 60, "the standby to replay the seed")
    D.conf = T.merge_conf(D.conf, {"database": {
        "read_conninfo": SB.conninfo}})
    D.write_config(D.conf)
    D.start()
    T.wait_until(lambda: D.metric("placesd_pg_read_up") == WORKERS, 60,
                 "every worker's replica pool")
    IDS = [int(r[0]) for r in PG.psql("SELECT id FROM places ORDER BY id")]
    CITY = PG.psql("SELECT city_id FROM places ORDER BY id LIMIT 1")[0][0]


def resume_replay():
    """pg_wal_replay_resume(), again if a recovery conflict cancels it."""
    for i in range(10):
        r = T.run(SB.psql_argv() + ["-c", "SELECT pg_wal_replay_resume()"],
                  timeout=60)
        if r.returncode == 0:
            return
        T.log("pg_wal_replay_resume: %s" % r.stderr.strip())
        time.sleep(0.5)
    T.fail("cannot resume replay on the standby")


def reads(n=20):
    """n place reads; every status seen."""
    seen = {}
    for i in range(n):
        st = D.get("/v1/places/%d" % IDS[i % len(IDS)], timeout=10)[0]
        seen[st] = seen.get(st, 0) + 1
    return seen


def by_target(t):
    return D.metric("placesd_db_reads_total", 0, target=t)


def replica_series(name):
    """{replica label: value} of a per-replica gauge."""
    out = {}
    for (n, labels), v in D.metrics().items():
        if n == name:
            out[dict(labels).get("replica")] = v
    return out


def publish(title):
    body = {"place_id": IDS[0], "title": title, "discount_pct": 10,
            "starts_at": "2026-01-01T10:00:00Z",
            "ends_at": "2036-01-01T10:00:00Z"}
    h = {"Content-Type": "application/json",
         "Authorization": "Bearer " + TOKEN}
    st, _, raw = D.request("POST", "/v1/offers", headers=h,
                           body=json.dumps(body), timeout=30)
    return st, raw


def test_reads_go_to_the_standby():
    before = by_target("replica")
    T.check_eq(reads(40), {200: 40}, "place reads")
    T.check(by_target("replica") >= before + 40,
            "40 reads sent to the replica (%s -> %s)"
            % (before, by_target("replica")))
    # a pool is up with its first connection: wait for all of them
    T.wait_until(lambda: SB.sessions("placesd worker % reads") ==
                 WORKERS * READ_POOL, 30,
                 "every read connection on the standby")
    T.wait_until(lambda: PG.sessions("placesd worker _") == WORKERS * POOL,
                 30, "every primary connection")
    T.check_eq(PG.sessions("placesd worker % reads"), 0,
               "read sessions on the primary")
    T.check_eq(D.get("/v1/cities")[0], 200, "GET /v1/cities")


def test_offers_read_their_writes_while_replay_is_paused():
    SB.psql("SELECT pg_wal_replay_pause()")
    try:
        st, raw = publish("Paused replay")
        T.check_eq(st, 201, "publish: %r" % raw[:200])
        oid = json.loads(raw)["id"]
        st, _, body = D.get("/v1/offers?city=%s" % CITY)
        T.check_eq(st, 200, "GET /v1/offers")
        ids = [o["id"] for o in json.loads(body)["offers"]]
        T.check(oid in ids, "offer %d listed at once (got %s)" % (oid, ids))
        T.check_eq(SB.psql("SELECT count(*) FROM offers WHERE id = %d"
                           % oid)[0][0], "0", "the offer on the paused "
                   "standby")
    finally:
        resume_replay()
    T.wait_until(SB.caught_up, 60, "the standby to replay again")


def test_replica_behind_gets_no_reads_until_it_catches_up():
    T.wait_until(lambda: set(replica_series(
        "placesd_pg_replica_lag_seconds").values()) == {0}, 30,
        "a lag of 0 read from the caught-up standby")
    T.check_eq(list(replica_series("placesd_pg_replica_behind").values()),
               [0], "workers holding the standby behind")
    SB.psql("SELECT pg_wal_replay_pause()")
    try:
        # a change the standby receives and does not replay
        PG.psql("UPDATE places SET rating = rating WHERE id = %d" % IDS[1])
        T.wait_until(lambda: D.metric("placesd_pg_read_up") == 0, 30,
                     "every worker to hold the standby behind")
        T.check_eq(list(replica_series(
            "placesd_pg_replica_behind").values()), [WORKERS],
            "workers holding the standby behind")
        lag = list(replica_series("placesd_pg_replica_lag_seconds").values())
        T.check(lag[0] > MAX_LAG_MS / 1000.0, "the lag shown, %s s, is "
                "over the bound" % lag[0])
        before = by_target("primary")
        T.check_eq(reads(30), {200: 30}, "place reads, standby behind")
        T.check(by_target("primary") >= before + 30,
                "30 reads sent to the primary")
        T.check_eq(SB.sessions("placesd worker % reads"),
                   WORKERS * READ_POOL, "read sessions kept on the standby")
        T.check_eq(D.get("/readyz")[0], 200, "/readyz, standby behind")
    finally:
        resume_replay()
    T.wait_until(lambda: D.metric("placesd_pg_read_up") == WORKERS, 30,
                 "the standby caught up in every worker")
    before = by_target("replica")
    T.check_eq(reads(20), {200: 20}, "place reads, standby caught up")
    T.check(by_target("replica") >= before + 20, "reads back on the replica")
    T.wait_until(lambda: list(replica_series(
        "placesd_pg_replica_behind").values()) == [0], 30,
        "no worker holding the standby behind")


def loads(source):
    return D.metric("placesd_ranker_loads_total", 0, source=source)


def ranked(word, pid):
    """/v1/nearby around place pid, q=word, ranks pid."""
    lat, lon = PG.psql("SELECT lat, lon FROM places WHERE id = %d" % pid)[0]
    q = urllib.parse.urlencode({"lat": lat, "lon": lon, "radius_m": 2000,
                                "q": word, "limit": 10})
    st, _, body = D.get("/v1/nearby?" + q)
    if st != 200:
        return False
    doc = json.loads(body)
    return not doc["degraded"] and any(r["place"]["id"] == pid
                                       for r in doc["results"])


def rename(pid, word):
    PG.psql("UPDATE places SET name = name || ' %s' WHERE id = %d"
            % (word, pid))


def test_ranker_loads_from_the_standby_once_it_has_replayed():
    """The ranker's loader LISTENs on the primary and reads its loads
    on the standby once the standby has replayed what the primary had
    written: a renamed place is ranked under its new name; with replay
    paused it waits max_replica_lag and reads the primary instead."""
    T.wait_until(lambda: SB.sessions("placesd ranker reads") == 1, 30,
                 "the loader's session on the standby")
    T.check_eq(PG.sessions("placesd ranker reads"), 0,
               "loader read sessions on the primary")
    # a load reads the standby when it replays within max_replica_lag
    # (500 ms here), which a busy machine may miss now and then: rename
    # until one patch is counted there, each ranked under its new name
    for i in range(10):
        before = loads("replica")
        word = "replicaword%d" % i
        rename(IDS[2], word)
        T.wait_until(lambda: ranked(word, IDS[2]), 30,
                     "the renamed place ranked")
        # counted just after the snapshot it made is in use
        try:
            T.wait_until(lambda: loads("replica") > before, 2,
                         "the patch counted as read on the standby")
            break
        except T.TestFailure:
            T.log("rename %d: its patch read the primary" % i)
    T.check(loads("replica") > before, "a patch read on the standby")
    SB.psql("SELECT pg_wal_replay_pause()")
    try:
        before = loads("primary")
        rename(IDS[3], "pausedword")
        T.wait_until(lambda: ranked("pausedword", IDS[3]), 30,
                     "the place renamed while replay is paused, ranked")
        T.wait_until(lambda: loads("primary") > before, 10,
                     "the patch counted as read on the primary")
    finally:
        resume_replay()
    T.wait_until(SB.caught_up, 60, "the standby to replay again")


def kept_read_on_standby(d, ids):
    """Reads places by id not read before (each one a read-model build)
    until one is counted as read on the standby."""
    if not ids:
        return False
    before = d.metric("placesd_db_reads_total", 0, target="replica")
    place_name(d, ids.pop())
    return d.metric("placesd_db_reads_total", 0, target="replica") > before


def place_name(d, pid):
    st, _, body = d.get("/v1/places/%d" % pid)
    T.check_eq(st, 200, "GET /v1/places/%d" % pid)
    return json.loads(body)["name"]


def test_kept_reads_use_the_standby_only_past_every_change_heard():
    """With the cache and the read model on, what is kept is read on the
    standby only once it has replayed past every change the worker's
    feed has heard of: a place renamed while replay is paused is shown
    renamed at once (read on the primary), and kept reads go back to the
    standby when it catches up."""
    d = T.Daemon(workers=1, name="replica-kept", conf={
        "database": dict(D.conf["database"]),
        "cache": {"ttl": "1h", "max_bytes": "8m"}})
    d.start()
    try:
        T.wait_until(lambda: d.metric("placesd_pg_read_up") == 1 and
                     d.metric("placesd_offer_feed_up") == 1, 60,
                     "the replica pool and the feed")
        pid = IDS[5]
        fresh = list(IDS[10:])
        T.wait_until(lambda: kept_read_on_standby(d, fresh), 30,
                     "a kept read (a read-model build) on the standby",
                     interval=0.2)
        name = place_name(d, pid)
        SB.psql("SELECT pg_wal_replay_pause()")
        try:
            PG.psql("UPDATE places SET name = 'Kept %d' WHERE id = %d"
                    % (pid, pid))
            T.wait_until(lambda: place_name(d, pid) == "Kept %d" % pid, 30,
                         "the renamed place, replay paused")
            T.check(name != "Kept %d" % pid, "the name changed")
            T.check_eq(SB.psql("SELECT name FROM places WHERE id = %d"
                               % pid)[0][0], name, "the paused standby's")
        finally:
            resume_replay()
        T.wait_until(SB.caught_up, 60, "the standby to replay again")
        T.wait_until(lambda: kept_read_on_standby(d, fresh), 30,
                     "kept reads back on the standby", interval=0.2)
    finally:
        d.stop()


class Silent:
    """A TCP port that accepts connections and never says a word: a
    PostgreSQL host that hangs (powered off behind a proxy, a stopped
    process) rather than refuses."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held = []
        self.stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.sock.accept()
                self.held.append(c)
            except OSError:
                continue

    def close(self):
        self.stop = True
        self.thread.join(5)
        for c in self.held:
            c.close()
        self.sock.close()


def test_silent_first_host_is_passed_over():
    """conninfo lists first a host that accepts and never answers: every
    connect (pools, offer feed, the ranker's loader) gives it its
    deadline and goes on to the next host, so the node gets ready."""
    silent = Silent()
    d = T.Daemon(workers=1, name="replica-silent", conf={
        "database": {"conninfo": "host=127.0.0.1,%s port=%d,5432 user=%s "
                     "dbname=%s target_session_attrs=read-write"
                     % (PG.dir, silent.port, PG.USER, PG.DB),
                     "pool_size": 1}})
    try:
        d.start(timeout=120)
        T.wait_until(lambda: d.get("/readyz", timeout=5)[0] == 200, 90,
                     "/readyz with a silent first host")
        T.check(place_name(d, IDS[0]) is not None, "a place read")
        T.wait_until(lambda: d.metric("placesd_offer_feed_up") == 1, 60,
                     "the offer feed")
        T.check(len(silent.held) >= 3, "connects that tried the silent "
                "host first: %d" % len(silent.held))
    finally:
        d.stop()
        silent.close()


def test_standby_stopped_reads_move_to_the_primary():
    primary_before = by_target("primary")
    SB.stop(mode="immediate")
    try:
        seen = reads(60)
        T.check_eq(seen, {200: 60}, "place reads right after the standby "
                   "stopped")
        T.check(by_target("primary") > primary_before,
                "reads sent to the primary")
        T.wait_until(lambda: D.metric("placesd_pg_read_up") == 0, 30,
                     "the replica pools to notice")
        T.check_eq(reads(20), {200: 20}, "place reads, standby down")
        T.check_eq(D.get("/readyz")[0], 200, "/readyz, standby down")
    finally:
        SB.start()
    T.wait_until(lambda: D.metric("placesd_pg_read_up") == WORKERS, 60,
                 "the replica pools back")
    before = by_target("replica")
    T.check_eq(reads(20), {200: 20}, "place reads, standby back")
    T.check(by_target("replica") >= before + 20, "reads back on the replica")


def test_primary_stopped_reads_go_on_and_writes_fail_fast():
    """Reads go on from the standby, writes answer 503 at once, and a
    stream stays open through the outage and gets what is published
    when the primary is back, including what its feed only finds by
    reading after its mark (an offer inserted while it reconnects)."""
    s = T.Stream(D, city=CITY)
    T.check_eq(s.status, 200, "the stream's status")
    PG.stop(mode="immediate")
    try:
        T.wait_until(lambda: D.metric("placesd_pg_up") == 0, 30,
                     "the primary pools to notice")
        T.check_eq(reads(20), {200: 20}, "place reads, primary down")
        T.check_eq(D.get("/readyz")[0], 200, "/readyz, primary down")
        st, raw = publish("Primary down")
        T.check_eq(st, 503, "publish, primary down: %r" % raw[:200])
        T.check_eq(json.loads(raw)["error"]["code"], "unavailable",
                   "the 503's code")
        s.pump(1.0)
        T.check(not s.closed, "the stream is open with the primary down")
    finally:
        PG.start()
    # before the feeds reconnect: its NOTIFY goes to nobody
    quiet = int(PG.psql("SELECT (placesd_publish_offer(%d, 'While the "
                        "feeds reconnect', NULL, 5, now(), now() + "
                        "interval '1 day')::json->>'id')::bigint"
                        % IDS[0])[0][0])
    T.wait_until(lambda: D.metric("placesd_pg_up") == WORKERS and
                 D.metric("placesd_offer_feed_up") == WORKERS, 60,
                 "the primary pools and feeds back")
    st, raw = publish("Primary back")
    T.check_eq(st, 201, "publish, primary back: %r" % raw[:200])
    back = json.loads(raw)["id"]
    s.wait(lambda x: quiet in x.ids() and back in x.ids(),
           what="offers %d and %d" % (quiet, back))
    s.close()


def reload_with(database):
    """SIGHUP with these [database] keys; back when the new generation's
    pools and feeds are all up."""
    ok = D.metric("placesd_reloads_total", 0, result="ok")
    D.conf = T.merge_conf(D.conf, {"database": database})
    D.write_config(D.conf)
    D.signal(signal.SIGHUP)
    T.wait_until(lambda: D.metric("placesd_reloads_total", 0,
                                  result="ok") > ok, 60, "the reload")
    T.wait_until(lambda: D.metric("placesd_pg_up") == WORKERS and
                 D.metric("placesd_offer_feed_up") == WORKERS, 60,
                 "the new generation's pools and feeds")


def test_promotion_moves_writes_and_listen_to_the_new_primary():
    """Last: the primary stops for good and the standby is promoted.  With
    both named in conninfo (target_session_attrs=read-write) the pools,
    the offer feed and the ranker's loader find the new primary by
    themselves; a stream connected throughout misses no offer."""
    failover = ("host=%s,%s user=%s dbname=%s target_session_attrs="
                "read-write" % (PG.dir, SB.dir, PG.USER, PG.DB))
    reload_with({"conninfo": failover})
    s = T.Stream(D, city=CITY)
    st, raw = publish("Before the failover")
    T.check_eq(st, 201, "publish: %r" % raw[:200])
    first = json.loads(raw)["id"]
    s.wait(lambda x: first in x.ids(), what="offer %d" % first)
    T.wait_until(SB.caught_up, 60, "the standby to replay it")
    PG.stop(mode="immediate")
    T.wait_until(lambda: D.metric("placesd_pg_up") == 0, 30,
                 "the pools to lose the primary")
    st, raw = publish("No primary")
    T.check_eq(st, 503, "publish with no primary: %r" % raw[:200])
    T.check_eq(reads(10), {200: 10}, "place reads with no primary")
    SB.promote()
    T.wait_until(lambda: D.metric("placesd_pg_up") == WORKERS and
                 D.metric("placesd_offer_feed_up") == WORKERS, 60,
                 "the pools and feeds on the promoted standby")
    got = []
    for i in range(3):
        st, raw = publish("After the failover %d" % i)
        T.check_eq(st, 201, "publish after the promotion: %r" % raw[:200])
        got.append(json.loads(raw)["id"])
    s.wait(lambda x: all(i in x.ids() for i in got), what="offers %s" % got)
    want = [int(r[0]) for r in SB.psql(
        "SELECT o.id FROM offers o JOIN places p ON p.id = o.place_id "
        "WHERE p.city_id = '%s' AND o.id >= %d ORDER BY o.id"
        % (CITY, first))]
    T.check_eq([i for i in s.ids() if i >= first], want,
               "the stream's offers since the failover began")
    T.check_eq(D.get("/readyz")[0], 200, "/readyz on the new primary")
    s.close()


def teardown():
    shutil.rmtree(TOKDIR or "", ignore_errors=True)


if __name__ == "__main__":
    import atexit
    atexit.register(teardown)
    T.run_main([
        test_reads_go_to_the_standby,
        test_offers_read_their_writes_while_replay_is_paused,
        test_replica_behind_gets_no_reads_until_it_catches_up,
        test_ranker_loads_from_the_standby_once_it_has_replayed,
        test_kept_reads_use_the_standby_only_past_every_change_heard,
        test_silent_first_host_is_passed_over,
        test_standby_stopped_reads_move_to_the_primary,
        test_primary_stopped_reads_go_on_and_writes_fail_fast,
        test_promotion_moves_writes_and_listen_to_the_new_primary,
    ], setup=setup)
