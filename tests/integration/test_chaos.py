#!/usr/bin/python3
"""Chaos: degraded, never dead.

The real placesd (two workers), a real PostgreSQL with a few thousand
seeded places and the real placesd-events serve a mixed load from a few
client threads (places by Zipf-skewed id, heavy and light /v1/nearby, day
digests, two SSE subscribers that reconnect with Last-Event-ID like an
EventSource, and an offer published every 200 ms) while, for about a
minute, faults are injected at random moments from a seeded generator
(the last round only those that no restart heals):
SIGSTOP/SIGCONT of the ranker and of the whole PostgreSQL cluster,
kill -9 of a worker and of the ranker, faults and restarts of the events
service, SIGHUP of the master, bursts of heavy /v1/nearby queries, and
a busy machine (a busy loop per CPU, which starves the ranker's
idle-priority threads).

When the faults stop, within 5 s of the end of the last one, every worker
must be ready (/readyz 200), rank /v1/nearby (not degraded) and answer a
digest without errors; both subscribers must then have every offer that
is in the database exactly once, in id order; nothing may have been
respawned except what the test killed, no request may have outlived its
client timeout (which is longer than every deadline of the server) and no
sanitizer may have reported anything.

CHAOS_SEED=N replays a schedule (the seed is printed);
CHAOS_SECONDS=S changes the length of the fault phase (default 60);
CHAOS_FAULTS=a,b (names as in the timeline) injects only those.
"""

import collections
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import placesd_test as T

FAULT_SECONDS = float(os.environ.get("CHAOS_SECONDS", "60"))
HEAL_WINDOW = 5.0           # the bound, from the end of the last fault
TAIL_WAIT = 15.0            # the offers still on their way to subscribers
REQUEST_DEADLINE = 3.0      # [server] request_deadline
READ_TIMEOUT = 5.0          # [server] read_timeout
# longer than every deadline the server documents (request_deadline,
# read_timeout, query_timeout, ranker and upstream timeouts): a request
# that is not answered by then hung
CLIENT_TIMEOUT = 15.0
STALL = 10.0                # an SSE stream silent this long (heartbeat 1s)
TOKEN = "chaos-token-0123456789abcdefghij"
DATE = "2026-11-23"
WORDS = ["pizza", "coffee", "borscht", "khachapuri", "sushi", "ramen",
         "pelmeni", "burger", "plov", "shawarma", "wine", "bakery"]

T0 = time.monotonic()


def now():
    return time.monotonic() - T0


class World:
    """What the test knows: the daemon, the cluster, the events service,
    the data, and everything recorded while the faults ran."""

    def __init__(self):
        self.lock = threading.Lock()
        self.answers = collections.Counter()    # (endpoint, outcome)
        self.hung = []                          # (t, endpoint, path)
        self.errors = []                        # (t, endpoint, error)
        self.timeline = []                      # (t0, t1, fault, target)
        self.notes = []
        self.stop_load = threading.Event()
        self.d = None
        self.pg = None
        self.ev = None
        self.city = None            # (id, lat, lon)
        self.cities = []
        self.place_ids = []
        self.zipf = []
        self.place = None
        self.killed = {"worker": [], "ranker": []}
        self.sighups = 0
        self.stopped_rankers = set()
        self.hogs = []

    def record(self, ep, outcome):
        with self.lock:
            self.answers[(ep, outcome)] += 1

    def call(self, ep, method, path, headers=None, body=None,
             timeout=CLIENT_TIMEOUT):
        """One request on a fresh connection; (status, headers, body) or
        None when it failed (recorded either way)."""
        t = now()
        try:
            r = T.http_request(self.d.host, self.d.port, method, path,
                               headers, body, timeout)
        except (socket.timeout, TimeoutError):
            with self.lock:
                self.hung.append((t, ep, path))
            self.record(ep, "client timeout")
            return None
        except (OSError, http.client.HTTPException) as e:
            with self.lock:
                self.errors.append((t, ep, repr(e)))
            self.record(ep, "conn: " + type(e).__name__)
            return None
        out = str(r[0])
        if ep.startswith("nearby") and r[0] == 200 and \
                b'"degraded":true' in r[2][-40:]:
            out = "200 degraded"
        self.record(ep, out)
        return r


W = World()


# --------------------------------------------------------------------------
# setup

def setup_world(tmp):
    W.pg = T.shared_postgres()
    W.ev = T.EventsService(name="events")
    W.ev.start()
    tok = os.path.join(tmp, "token")
    with open(tok, "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(tok, 0o600)
    W.d = T.Daemon(workers=2, name="placesd", conf={
        "server": {"request_deadline": "%gs" % REQUEST_DEADLINE,
                   "read_timeout": "%gs" % READ_TIMEOUT},
        "database": {"query_timeout": "1s", "pool_size": 4},
        "ranker": {"threads": 2},     # timeout: the default 250ms
        "upstream": {"events_url": W.ev.url, "timeout": "500ms",
                     "retries": 1, "breaker_failures": 3,
                     "breaker_cooldown": "1s"},
        "offers": {"admin_token_file": tok, "heartbeat": "1s",
                   "retry": "200ms"},
        "cache": {"ttl": "2s"}})
    r = T.run([T.placesctl_path(), "-c", W.d.conf_path, "seed", "--places",
               "3000", "--seed", "14"], timeout=300)
    if r.returncode != 0:
        T.fail("placesctl seed: %s %s" % (r.stdout, r.stderr))
    W.d.start()
    rows = W.pg.psql("SELECT c.id, c.lat, c.lon FROM cities c JOIN places p "
                     "ON p.city_id = c.id GROUP BY c.id ORDER BY count(*) "
                     "DESC, c.id")
    W.cities = [(r[0], float(r[1]), float(r[2])) for r in rows]
    W.city = W.cities[0]
    W.place_ids = [int(r[0]) for r in W.pg.psql(
        "SELECT id FROM places ORDER BY id")]
    rng = random.Random(7)
    rng.shuffle(W.place_ids)
    W.zipf = [1.0 / (k + 1) ** 1.1 for k in range(len(W.place_ids))]
    W.place = int(W.pg.psql("SELECT id FROM places WHERE city_id = '%s' "
                            "ORDER BY id LIMIT 1" % W.city[0])[0][0])
    T.wait_until(lambda: W.d.metric("placesd_offer_feed_up") == 2, 60,
                 "both workers' offer feeds")
    T.wait_until(lambda: not nearby_doc(W.city, 3000, "coffee")["degraded"],
                 60, "a ranked (not degraded) /v1/nearby")


def nearby_path(city, radius, q=None, limit=10, rng=None):
    lat, lon = city[1], city[2]
    if rng is not None:
        lat += rng.uniform(-0.02, 0.02)
        lon += rng.uniform(-0.02, 0.02)
    p = {"lat": "%.5f" % lat, "lon": "%.5f" % lon, "radius_m": radius,
         "limit": limit}
    if q:
        p["q"] = q
    return "/v1/nearby?" + urllib.parse.urlencode(p)


def nearby_doc(city, radius, q):
    st, _, body = W.d.get(nearby_path(city, radius, q), timeout=20)
    T.check_eq(st, 200, "/v1/nearby: %r" % body[:200])
    return json.loads(body)


def digest_body(city=None):
    return json.dumps({"date": DATE, "city": (city or W.city)[0],
                       "limit": 5})


# --------------------------------------------------------------------------
# load

def load_places(seed):
    rng = random.Random(seed)
    while not W.stop_load.is_set():
        pid = rng.choices(W.place_ids, weights=W.zipf)[0]
        W.call("places", "GET", "/v1/places/%d" % pid)
        time.sleep(0.02)


def heavy_path(rng):
    q = " ".join(rng.sample(WORDS, rng.randint(2, 4)))
    return nearby_path(rng.choice(W.cities[:4]), rng.randint(15000, 50000),
                       q, limit=100, rng=rng)


def load_nearby_heavy(seed):
    rng = random.Random(seed)
    while not W.stop_load.is_set():
        W.call("nearby heavy", "GET", heavy_path(rng))
        time.sleep(0.01)


def load_nearby_light(seed):
    rng = random.Random(seed)
    while not W.stop_load.is_set():
        q = rng.choice([None, None, rng.choice(WORDS)])
        W.call("nearby light", "GET", nearby_path(
            rng.choice(W.cities[:4]), rng.randint(300, 3000), q, limit=10,
            rng=rng))
        time.sleep(0.03)


def load_digest(seed):
    rng = random.Random(seed)
    while not W.stop_load.is_set():
        W.call("digest", "POST", "/v1/digest",
               {"Content-Type": "application/json"},
               digest_body(rng.choice(W.cities[:4])))
        time.sleep(0.1)


class Publisher(threading.Thread):
    """POST /v1/offers every 200 ms; records each answer."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.results = []           # (n, status or outcome, id or None)
        self.error = None

    def publish(self, title):
        body = json.dumps({
            "place_id": W.place, "title": title,
            "description": "published under chaos", "discount_pct": 10,
            "starts_at": "2026-01-01T10:00:00Z",
            "ends_at": "2036-01-01T10:00:00Z"})
        r = W.call("offers POST", "POST", "/v1/offers", {
            "Content-Type": "application/json",
            "Authorization": "Bearer " + TOKEN}, body)
        if r is None:
            return "failed", None
        if r[0] == 201:
            return 201, json.loads(r[2])["id"]
        return r[0], None

    def run(self):
        try:
            n = 0
            nxt = time.monotonic()
            while not self.stop.is_set():
                st, oid = self.publish("chaos %d" % n)
                self.results.append((n, st, oid))
                n += 1
                nxt += 0.2
                delay = nxt - time.monotonic()
                if delay > 0:
                    self.stop.wait(delay)
                else:
                    nxt = time.monotonic()
        except Exception as e:      # noqa: reported by the test
            self.error = e


class Subscriber(threading.Thread):
    """GET /v1/offers/stream on a raw socket, reconnecting with
    Last-Event-ID whenever the stream ends or fails, after the retry: the
    server sent, as an EventSource does (it also comes back after a 503).
    Collects every offer id it receives."""

    def __init__(self, name, avoid=None):
        super().__init__(daemon=True)
        self.name = name
        # avoid(): a worker slot the first stream should not be on (so
        # that the two subscribers are on different workers)
        self.avoid = avoid
        self.tries = 0
        self.worker_now = None
        self.stop = threading.Event()
        self.ids = []
        self.last_id = None
        self.retry = 0.2
        self.connects = collections.Counter()   # status or error
        self.stalls = []
        self.workers = collections.Counter()
        self.error = None
        self.hello = threading.Event()

    def run(self):
        try:
            while not self.stop.is_set():
                self.session()
                if not self.stop.is_set():
                    self.stop.wait(self.retry)
        except Exception as e:      # noqa: reported by the test
            self.error = "%s: %r" % (self.name, e)

    def session(self):
        t = now()
        try:
            s = socket.create_connection((W.d.host, W.d.port),
                                         timeout=CLIENT_TIMEOUT)
        except (socket.timeout, TimeoutError):
            W.hung.append((t, "stream", "connect"))
            self.connects["connect timeout"] += 1
            return
        except OSError as e:
            self.connects["conn: " + type(e).__name__] += 1
            return
        try:
            self.stream(s, t)
        finally:
            s.close()

    def stream(self, s, t):
        head = ("GET /v1/offers/stream HTTP/1.1\r\nHost: chaos\r\n"
                "Accept: text/event-stream\r\n")
        if self.last_id is not None:
            head += "Last-Event-ID: %d\r\n" % self.last_id
        raw = b""
        try:
            s.sendall((head + "\r\n").encode())
            s.settimeout(CLIENT_TIMEOUT)
            while b"\r\n\r\n" not in raw:
                b = s.recv(65536)
                if not b:
                    self.connects["closed before the head"] += 1
                    return
                raw += b
        except (socket.timeout, TimeoutError):
            W.hung.append((t, "stream", "head"))
            self.connects["head timeout"] += 1
            return
        except OSError as e:
            self.connects["conn: " + type(e).__name__] += 1
            return
        headb, raw = raw.split(b"\r\n\r\n", 1)
        lines = headb.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        self.connects[status] += 1
        W.record("stream", str(status))
        if status != 200:
            return
        chunked = any(ln.lower().startswith("transfer-encoding:") and
                      "chunked" in ln.lower() for ln in lines[1:])
        body = b""
        text = ""
        s.settimeout(0.5)
        last_byte = time.monotonic()
        while not self.stop.is_set():
            # decode what we have
            if chunked:
                while True:
                    line, sep, rest = raw.partition(b"\r\n")
                    if not sep:
                        break
                    n = int(line.split(b";")[0], 16)
                    if len(rest) < n + 2:
                        break
                    body += rest[:n]
                    raw = rest[n + 2:]
                    if n == 0:
                        self.feed(body.decode("utf-8"), text)
                        return
            else:
                body += raw
                raw = b""
            text = self.feed(body.decode("utf-8"), text)
            body = b""
            if self.avoid is not None and self.worker_now is not None:
                if self.worker_now == self.avoid() and self.tries < 40 \
                        and not self.ids:
                    self.tries += 1
                    self.worker_now = None
                    return
                self.avoid = None
                self.hello.set()
            try:
                b = s.recv(65536)
            except (socket.timeout, TimeoutError):
                if time.monotonic() - last_byte > STALL:
                    self.stalls.append(now())
                    W.hung.append((now(), "stream", "silent for %gs"
                                   % STALL))
                    return
                continue
            except OSError:
                return
            if not b:
                return
            last_byte = time.monotonic()
            raw += b

    def feed(self, new, text):
        """Parse complete SSE blocks of text + new; return the rest."""
        text += new
        while "\n\n" in text:
            block, text = text.split("\n\n", 1)
            ev = {}
            for ln in block.split("\n"):
                if ln.startswith(":"):
                    m = re.search(r"\(worker (\d+)\)", ln)
                    if m:
                        self.worker_now = int(m.group(1))
                        self.workers[self.worker_now] += 1
                        if self.avoid is None:
                            self.hello.set()
                    continue
                k, _, v = ln.partition(":")
                ev[k] = v[1:] if v.startswith(" ") else v
            if "retry" in ev:
                try:
                    self.retry = int(ev["retry"]) / 1000.0
                except ValueError:
                    pass
            if "id" in ev and "data" in ev:
                oid = int(ev["id"])
                json.loads(ev["data"])
                self.ids.append(oid)
                self.last_id = oid
        return text


# --------------------------------------------------------------------------
# faults

def current_gen():
    return int(W.d.metric("placesd_generation"))


def current_workers():
    g = max((g for _, _, g in W.d.workers()), default=None)
    return [(p, s, gg) for p, s, gg in W.d.workers() if gg == g]


def current_ranker():
    rk = W.d.rankers()
    if not rk:
        return None
    return max(rk, key=lambda t: t[1])


def wait_settled(timeout=30, gone=None):
    """Wait until the daemon runs one generation, a full one: every slot
    has its worker and there is one ranker (after a reload or a kill),
    and the process gone (just killed) is no longer among them; returns
    False on timeout (recorded as a note)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ws = W.d.workers()
        rk = W.d.rankers()
        if gone is not None and gone in [p for p, _, _ in ws] + [
                p for p, _ in rk]:
            time.sleep(0.02)
            continue
        gens = {g for _, _, g in ws} | {g for _, g in rk}
        if len(gens) == 1 and sorted(s for _, s, _ in ws) == [0, 1] and \
                len(rk) == 1:
            return True
        time.sleep(0.05)
    W.notes.append("t=%.1f: not settled within %ds: workers %r rankers %r"
                   % (now(), timeout, W.d.workers(), W.d.rankers()))
    return False


def fault_ranker_stop(rng):
    r = current_ranker()
    if r is None:
        return "no ranker"
    pid, gen = r
    dur = rng.uniform(0.3, 3.0)
    os.kill(pid, signal.SIGSTOP)
    W.stopped_rankers.add(pid)
    time.sleep(dur)
    os.kill(pid, signal.SIGCONT)
    W.stopped_rankers.discard(pid)
    return "ranker pid %d (gen %d) for %.1fs" % (pid, gen, dur)


def fault_pg_freeze(rng):
    dur = rng.uniform(0.3, 3.0)
    pids = W.pg.pids()
    W.pg.freeze()
    time.sleep(dur)
    W.pg.thaw()
    return "postmaster + %d processes for %.1fs" % (len(pids) - 1, dur)


def fault_kill_worker(rng):
    # only a worker of a settled generation: a draining one is not
    # respawned, and one of a reload still starting aborts the reload
    if not wait_settled():
        return "skipped: the generations did not settle"
    ws = current_workers()
    if not ws:
        return "no worker"
    pid, slot, gen = rng.choice(ws)
    os.kill(pid, signal.SIGKILL)
    W.killed["worker"].append(pid)
    wait_settled(gone=pid)
    return "worker %d pid %d (gen %d)" % (slot, pid, gen)


def fault_kill_ranker(rng):
    if not wait_settled():
        return "skipped: the generations did not settle"
    r = current_ranker()
    if r is None:
        return "no ranker"
    pid, gen = r
    os.kill(pid, signal.SIGKILL)
    W.killed["ranker"].append(pid)
    wait_settled(gone=pid)
    return "ranker pid %d (gen %d)" % (pid, gen)


EVENTS_MODES = [("500", {}), ("503", {}), ("hang", {}), ("reset", {}),
                ("badjson", {}), ("short", {}), ("wrongshape", {}),
                ("delay", {"delay_ms": 1500}), ("trickle", {})]


def fault_events(rng):
    mode, params = rng.choice(EVENTS_MODES)
    dur = rng.uniform(0.5, 4.0)
    W.ev.control(fault=mode, **params)
    time.sleep(dur)
    W.ev.control(fault="none")
    return "fault=%s for %.1fs" % (mode, dur)


def fault_events_restart(rng):
    port = W.ev.port
    dur = rng.uniform(0.3, 2.0)
    W.ev.stop()
    time.sleep(dur)
    W.ev.start(port=port)
    return "stopped for %.1fs, restarted on port %d" % (dur, port)


def fault_sighup(rng):
    gen = current_gen()
    failed = W.d.metric("placesd_reloads_total", 0, result="failed")
    W.d.signal(signal.SIGHUP)
    W.sighups += 1
    end = time.monotonic() + 60
    while time.monotonic() < end and current_gen() <= gen and \
            W.d.metric("placesd_reloads_total", 0, result="failed") == failed:
        time.sleep(0.05)
    if current_gen() <= gen:
        return "master: the reload failed or did not end (gen %d)" % gen
    ok = wait_settled()
    return "master: gen %d -> %d%s" % (gen, current_gen(),
                                       "" if ok else " (not settled)")


def fault_nearby_burst(rng):
    n, per = 48, 4
    paths = [[heavy_path(rng) for _ in range(per)] for _ in range(n)]

    def go(ps):
        for p in ps:
            W.call("nearby burst", "GET", p)
    ths = [threading.Thread(target=go, args=(ps,), daemon=True)
           for ps in paths]
    for t in ths:
        t.start()
    for t in ths:
        t.join(CLIENT_TIMEOUT * per + 5)
    return "%d clients x %d heavy queries" % (n, per)


HOG = "import time\nend = time.monotonic() + %f\nwhile time.monotonic() < end: pass\n"


def fault_cpu_hog(rng):
    """A busy machine: one busy loop per CPU at normal priority, each in
    a session (autogroup) of its own, for a while, and heavy queries
    from 16 clients meanwhile: the ranker's idle-priority threads get
    almost nothing, and its queue stays full."""
    n = os.cpu_count() or 2
    dur = rng.uniform(1.0, 3.0)
    paths = [heavy_path(rng) for _ in range(16)]
    done = threading.Event()

    def go(p):
        while not done.is_set():
            W.call("nearby busy", "GET", p)
    ths = [threading.Thread(target=go, args=(p,), daemon=True)
           for p in paths]
    hogs = [subprocess.Popen([sys.executable, "-c", HOG % dur],
                             start_new_session=True) for _ in range(n)]
    W.hogs.extend(hogs)
    for t in ths:
        t.start()
    for h in hogs:
        try:
            h.wait(dur + 10)
        except subprocess.TimeoutExpired:
            h.kill()
            h.wait()
    done.set()
    for t in ths:
        t.join(CLIENT_TIMEOUT + 5)
    return "%d busy loops for %.1fs, 16 heavy clients" % (n, dur)


FAULTS = [
    (fault_ranker_stop, 3), (fault_pg_freeze, 3), (fault_kill_worker, 2),
    (fault_kill_ranker, 2), (fault_events, 3), (fault_events_restart, 1),
    (fault_sighup, 2), (fault_nearby_burst, 2), (fault_cpu_hog, 2),
]


# Faults a process restart heals (a new connection, a new generation):
# the last round leaves them out, so that what must heal by itself does.
RESTARTS = ("kill_worker", "kill_ranker", "sighup")
LAST_ROUND = 18.0           # seconds of the fault phase kept for it


def run_faults(rng):
    """Faults one after another, at random moments, for FAULT_SECONDS:
    every kind once (in a random order), then at random, and at last
    every kind that no restart heals once more, in a random order;
    returns the time the last one ended."""
    start = now()
    only = os.environ.get("CHAOS_FAULTS", "").split(",")
    chosen = [(f, w) for f, w in FAULTS if only == [""] or
              f.__name__[6:] in only]
    T.check(chosen, "CHAOS_FAULTS=%s names no fault" % ",".join(only))
    fns = [f for f, _ in chosen]
    weights = [w for _, w in chosen]
    order = fns[:]
    rng.shuffle(order)
    last = [f for f in fns if f.__name__[6:] not in RESTARTS]
    rng.shuffle(last)
    last_end = start
    while True:
        if order:
            fn = order.pop()
        elif now() - start < max(FAULT_SECONDS - LAST_ROUND, 0):
            fn = rng.choices(fns, weights)[0]
        elif last:
            fn = last.pop()
        else:
            break
        time.sleep(rng.uniform(0.2, 1.5))
        t0 = now()
        target = fn(rng)
        last_end = now()
        W.timeline.append((t0, last_end, fn.__name__[6:], target))
        T.log("t=%6.2f +%5.2fs %-14s %s" % (t0, last_end - t0,
                                           fn.__name__[6:], target))
    return last_end


# --------------------------------------------------------------------------
# after the faults

class Probe:
    """One connection: /healthz names the worker, then /readyz,
    /v1/nearby with q and a digest on that same connection."""

    def __init__(self, timeout):
        self.c = http.client.HTTPConnection(W.d.host, W.d.port,
                                            timeout=timeout)
        self.sock = None

    def req(self, method, path, body=None, headers=None):
        self.c.request(method, path, body=body, headers=headers or {})
        if self.sock is None:
            self.sock = self.c.sock
        elif self.c.sock is not self.sock:
            raise ValueError("the probe's connection was replaced")
        r = self.c.getresponse()
        raw = r.read()
        if (r.getheader("Connection") or "").lower() == "close":
            # the next request would go over a new connection
            self.closing = True
        return r.status, raw

    def close(self):
        self.c.close()


def probe_round(deadline, state, gen):
    """Updates state[slot] = {check: (ok, detail)} from one connection."""
    left = deadline - time.monotonic()
    if left <= 0:
        return
    p = Probe(left)
    try:
        st, raw = p.req("GET", "/healthz")
        if st != 200:
            return
        h = json.loads(raw)
        if h.get("generation") != gen or getattr(p, "closing", False):
            return
        slot = h["worker"]
        s = state.setdefault(slot, {})
        st, raw = p.req("GET", "/readyz")
        s["readyz"] = (st == 200, "%d %s" % (st, raw[:200].decode()))
        st, raw = p.req("GET", nearby_path(W.city, 3000, "coffee pizza"))
        ok = st == 200 and json.loads(raw).get("degraded") is False
        s["nearby"] = (ok, "%d degraded=%s" % (
            st, json.loads(raw).get("degraded") if st == 200 else
            raw[:200].decode()))
        st, raw = p.req("POST", "/v1/digest", digest_body(),
                        {"Content-Type": "application/json"})
        errs = json.loads(raw).get("errors") if st == 200 else None
        s["digest"] = (st == 200 and errs == [], "%d errors=%s" % (
            st, errs if st == 200 else raw[:200].decode()))
    except (OSError, http.client.HTTPException, ValueError, KeyError) as e:
        W.notes.append("probe t=%.2f: %r" % (now(), e))
    finally:
        p.close()


def healthy(state, m):
    slots_ok = all(all(v[0] for v in state.get(s, {}).values()) and
                   len(state.get(s, {})) == 3 for s in (0, 1))
    gauges = {k: T.metric(m, k) for k in (
        "placesd_ranker_up", "placesd_pg_up", "placesd_offer_feed_up")}
    gauges["placesd_upstream_breaker_open"] = T.metric(
        m, "placesd_upstream_breaker_open")
    g_ok = (gauges["placesd_ranker_up"] == 2 and
            gauges["placesd_pg_up"] == 2 and
            gauges["placesd_offer_feed_up"] == 2 and
            gauges["placesd_upstream_breaker_open"] == 0)
    return slots_ok and g_ok, gauges


def wait_healthy(since, window):
    """Poll until every worker is healthy or since + window passes;
    returns (ok, seconds after since, state, gauges)."""
    deadline = T0 + since + window
    state = {}
    gauges = {}
    while True:
        try:
            gen = current_gen()
            probe_round(deadline, state, gen)
            probe_round(deadline, state, gen)
            ok, gauges = healthy(state, W.d.metrics(timeout=max(
                0.1, deadline - time.monotonic())))
        except (OSError, http.client.HTTPException, ValueError,
                T.TestFailure) as e:
            ok = False
            W.notes.append("health t=%.2f: %r" % (now(), e))
        if ok:
            return True, now() - since, state, gauges
        if time.monotonic() >= deadline:
            return False, now() - since, state, gauges
        time.sleep(0.05)


def print_answers():
    T.log("answers by endpoint and outcome:")
    eps = sorted({e for e, _ in W.answers})
    for ep in eps:
        outs = sorted(((o, n) for (e, o), n in W.answers.items() if e == ep),
                      key=lambda t: -t[1])
        T.log("  %-13s %s" % (ep, ", ".join("%s: %d" % t for t in outs)))


def test_chaos():
    failures = []
    seed = int(os.environ.get("CHAOS_SEED") or
               random.SystemRandom().randrange(1 << 31))
    T.log("chaos seed %d (CHAOS_SEED=%d replays the schedule), %gs of "
          "faults" % (seed, seed, FAULT_SECONDS))
    rng = random.Random(seed)
    tmp = tempfile.mkdtemp(prefix="placesd-chaos-")
    os.chmod(tmp, 0o755)
    threads = []
    subs = []
    pub = None
    try:
        setup_world(tmp)
        subs = [Subscriber("subscriber 0")]
        subs.append(Subscriber("subscriber 1",
                               avoid=lambda: subs[0].worker_now))
        subs[0].start()
        T.check(subs[0].hello.wait(30), "subscriber 0: no hello comment")
        subs[1].start()
        T.check(subs[1].hello.wait(30), "subscriber 1: no hello comment")
        T.log("subscribers on workers %d and %d" % (
            subs[0].worker_now, subs[1].worker_now))
        # a first offer both have seen: from then on each has a
        # Last-Event-ID to come back with
        pub = Publisher()
        st, first = pub.publish("chaos marker")
        T.check_eq(st, 201, "the marker offer")
        T.wait_until(lambda: all(first in s.ids for s in subs), 30,
                     "both subscribers to get the marker offer")
        loads = [load_places, load_places, load_nearby_heavy,
                 load_nearby_heavy, load_nearby_light, load_digest]
        for i, fn in enumerate(loads):
            th = threading.Thread(target=fn, args=(seed + i,), daemon=True)
            th.start()
            threads.append(th)
        pub.start()
        time.sleep(1.0)
        fault_end = run_faults(rng)
        T.log("faults ended at t=%.2f; stopping the load" % fault_end)
        W.stop_load.set()
        pub.stop.set()

        ok, took, state, gauges = wait_healthy(fault_end, HEAL_WINDOW)
        if ok:
            T.log("healthy %.2fs after the last fault" % took)
        else:
            detail = "; ".join("worker %s: %s" % (slot, ", ".join(
                "%s %s (%s)" % (k, "ok" if v[0] else "BAD", v[1])
                for k, v in sorted(chk.items())))
                for slot, chk in sorted(state.items()))
            failures.append("not healthy %.0fs after the last fault: %s; "
                            "gauges %s" % (HEAL_WINDOW, detail, gauges))
            # for the report: does it heal at all?
            ok2, took2, state2, gauges2 = wait_healthy(fault_end, 30)
            T.log("%s %.1fs after the last fault; state %s gauges %s" % (
                "healthy" if ok2 else "still NOT healthy", took2, state2,
                gauges2))

        # every offer in the database, once, in order, for both
        pub.join(CLIENT_TIMEOUT + 5)
        if pub.is_alive():
            failures.append("the publisher is stuck in a POST")
        if pub.error:
            failures.append("publisher: %r" % (pub.error,))
        by = collections.Counter(st for _, st, _ in pub.results)
        T.log("offers POSTed: %d, by outcome %s" % (len(pub.results),
                                                  dict(by)))
        rows = W.pg.psql("SELECT id, title FROM offers WHERE id >= %d AND "
                         "title LIKE 'chaos %%' ORDER BY id" % first)
        in_db = [int(r[0]) for r in rows]
        ok_ids = [oid for _, st, oid in pub.results if st == 201]
        lost_201 = sorted(set(ok_ids) - set(in_db))
        if lost_201:
            failures.append("offers answered 201 but not in the database: "
                            "%s" % lost_201)
        extra = len(in_db) - 1 - len(ok_ids)
        T.log("offers in the database: %d (%d answered 201, %d more whose "
              "POST failed but committed)" % (len(in_db), len(ok_ids),
                                              extra))
        want = set(in_db)

        def tail_done():
            return all(want <= set(s.ids) for s in subs)
        end = time.monotonic() + TAIL_WAIT
        while time.monotonic() < end and not tail_done():
            time.sleep(0.1)
        for s in subs:
            got = [i for i in s.ids if i >= first]
            missing = sorted(want - set(got))
            dup = sorted(i for i, n in collections.Counter(got).items()
                         if n > 1)
            unknown = sorted(set(got) - want)
            T.log("%s: %d offers, connects %s, workers %s" % (
                s.name, len(got), dict(s.connects), dict(s.workers)))
            if missing:
                failures.append("%s lost %d offers: %s" % (
                    s.name, len(missing), missing[:20]))
            if dup:
                failures.append("%s got %d offers twice: %s" % (
                    s.name, len(dup), dup[:20]))
            if unknown:
                failures.append("%s got offers not in the database: %s"
                                % (s.name, unknown[:20]))
            if got != sorted(set(got)):
                failures.append("%s: offers out of id order" % s.name)
            if s.error:
                failures.append(s.error)
            if s.stalls:
                failures.append("%s: stream silent for %gs (heartbeat 1s) "
                                "at t=%s" % (s.name, STALL, s.stalls))
        for s in subs:
            s.stop.set()

        # every client request answered before its timeout
        for th in threads:
            th.join(CLIENT_TIMEOUT + 5)
        stuck = sum(th.is_alive() for th in threads)
        if stuck:
            failures.append("%d load threads still in a request" % stuck)
        if W.hung:
            failures.append("%d requests not answered within %gs (client "
                            "timeout): %s" % (len(W.hung), CLIENT_TIMEOUT,
                                              W.hung[:10]))

        # respawned: exactly what the test killed
        m = W.d.metrics()
        for role in ("worker", "ranker"):
            got = T.metric(m, "placesd_worker_restarts_total", role=role)
            if got != len(W.killed[role]):
                failures.append("placesd_worker_restarts_total{role=%s} is "
                                "%r; the test killed %d" % (
                                    role, got, len(W.killed[role])))
        unexpected = [ln for ln in W.d.log_text().splitlines()
                      if "unexpectedly" in ln]
        odd = [ln for ln in unexpected if "killed by signal 9" not in ln]
        if odd or len(unexpected) != len(W.killed["worker"]) + len(
                W.killed["ranker"]):
            failures.append("children that ended unexpectedly: %s"
                            % unexpected)
        reloads = T.metric(m, "placesd_reloads_total", result="ok")
        if reloads != W.sighups:
            failures.append("placesd_reloads_total{result=ok} is %r after "
                            "%d SIGHUPs" % (reloads, W.sighups))
        if not W.d.alive():
            failures.append("the master exited")
        for d in (W.d, W.ev):
            rep = d.sanitizer_report()
            if rep:
                failures.append("%s: sanitizer report: %s" % (d.name, rep))
    except BaseException:
        failures.append("(the test stopped early)")
        raise
    finally:
        W.stop_load.set()
        if pub is not None:
            pub.stop.set()
        for s in subs:
            s.stop.set()
        for pid in list(W.stopped_rankers):
            try:
                os.kill(pid, signal.SIGCONT)
            except OSError:
                pass
        if W.pg is not None:
            W.pg.thaw()
        for h in W.hogs:
            if h.poll() is None:
                h.kill()
                h.wait()
        shutil.rmtree(tmp, ignore_errors=True)
        T.log("fault timeline (t, duration, fault, target):")
        for t0, t1, kind, target in W.timeline:
            T.log("  t=%6.2f +%5.2fs %-14s %s" % (t0, t1 - t0, kind, target))
        print_answers()
        for n in W.notes[:30]:
            T.log("note: %s" % n)
        if W.errors:
            T.log("%d connection errors, first ones: %s" % (
                len(W.errors), W.errors[:5]))
        T.log("killed: %s; SIGHUPs: %d" % (W.killed, W.sighups))
        if failures and W.pg is not None:
            tail = W.pg.log_text().splitlines()[-30:]
            T.log("---- postgres log (last %d lines)" % len(tail))
            for ln in tail:
                T.log("  " + ln)
    if failures:
        T.fail("seed %d:\n  " % seed + "\n  ".join(failures))
    T.log("seed %d: every check passed" % seed)


test_chaos.timeout = 170


if __name__ == "__main__":
    T.run_main([test_chaos])
