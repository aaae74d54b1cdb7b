#!/usr/bin/python3
# tests/bench/sse_client.py -- the load client of tests/bench/offers.sh: N
# subscribers of placesd's GET /v1/offers/stream, and a publisher that
# POSTs M offers to /v1/offers and times their arrival at every subscriber.
#
# Standard library only (asyncio); run it with /usr/bin/python3.
#
#   1. raises RLIMIT_NOFILE (soft up to the hard limit), opens --subscribers
#      connections (at most --connect-parallel handshakes at a time, spread
#      over --sources loopback source addresses 127.0.0.1..127.0.0.K),
#      each "GET /v1/offers/stream HTTP/1.1", and waits until each has
#      answered 200 and sent its first chunk (": offers after ...");
#   2. waits --idle, writes {"connected":..,"failed":..} to --ready-file
#      and waits for --go-file to exist (offers.sh reads placesd's memory
#      meanwhile); without --ready-file it goes on at once;
#   3. publishes --offers offers, one every --interval, on one keep-alive
#      connection of its own (raw HTTP/1.1, Authorization: Bearer <the
#      token of --token-file>), noting time.monotonic() and time.time()
#      just before each request is written; the offer id comes from the
#      201 answer;
#   4. meanwhile it reads every subscriber connection continuously (one
#      non-blocking recvmsg() per readiness, from the event loop) and notes
#      for each "id: <n>" line that arrives the time it read it and, with
#      SO_TIMESTAMPNS, the time the kernel queued those bytes on the socket
#      (CLOCK_REALTIME; the "arrival", free of the client's own delay in
#      getting round to the socket: with 10,000 sockets becoming readable
#      at once a Python loop needs tens of milliseconds to visit them all);
#   5. after the last offer, waits until every open subscriber has every
#      offer, or --settle, then prints one JSON line (the summary) on
#      stdout, and a per-offer table on stderr.
#
# Delays: arrival - publish, per (offer, subscriber).  Per offer: to the
# first, the median and the last subscriber that got it.  Percentiles are
# linearly interpolated (p99 of 20 values lies between the two largest).
# "kernel" figures use the kernel's receive stamps, "read" figures the
# time the client read the bytes; "lag" is read - kernel: how far behind
# the client itself was.
#
# --read-pause S (with --procs >= 2): the subscriber processes are stopped
# (SIGSTOP) from just before each publish until S seconds after it, then
# continued; they read what arrived meanwhile, with its kernel stamps. On
# a small machine a client reading 50,000 sockets takes a core from the
# server it measures; remote subscribers would not. Choose S longer than
# the fan-out and well under --interval.
#
# --procs P > 1: the subscribers are split over P forked processes (each an
# asyncio loop of its own); this process publishes.  The receive times are
# taken from clocks that are system-wide (CLOCK_MONOTONIC, CLOCK_REALTIME),
# so they compare with the publish times of another process.
#
# Exit status: 0 when it ran to the end (the summary says what failed), 1
# when it could not (placesd unreachable, publishing failed), 2 on a usage
# error or a file-descriptor limit too low.

import argparse
import asyncio
import gc
import json
import os
import re
import resource
import signal
import socket
import struct
import sys
import time

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
RECV_SIZE = 16384
ANC_SIZE = socket.CMSG_SPACE(16)
ID_RE = re.compile(rb"(?:^|\n)id: ([0-9]+)\r?\n")

S_CONNECTING, S_HEADERS, S_HELLO, S_STREAM, S_CLOSED = range(5)


def now_mono():
    return time.monotonic()


def log(msg):
    print("sse_client[%d]: %s" % (os.getpid(), msg), file=sys.stderr, flush=True)


def parse_args():
    p = argparse.ArgumentParser(
        description="SSE subscribers and an offer publisher for placesd "
        "(the load client of tests/bench/offers.sh)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/v1/offers/stream",
                   help="the stream's path and query (default: %(default)s)")
    p.add_argument("--subscribers", type=int, default=10000)
    p.add_argument("--offers", type=int, default=20)
    p.add_argument("--interval", type=float, default=0.5,
                   help="seconds between publishes (default: %(default)s)")
    p.add_argument("--token-file", required=True)
    p.add_argument("--place-ids", default="1",
                   help="comma-separated place ids, used in turn")
    p.add_argument("--procs", type=int, default=1)
    p.add_argument("--sources", type=int, default=1,
                   help="loopback source addresses 127.0.0.1..127.0.0.K")
    p.add_argument("--connect-parallel", type=int, default=200)
    p.add_argument("--connect-timeout", type=float, default=30.0)
    p.add_argument("--idle", type=float, default=1.0,
                   help="seconds to wait once connected (default: %(default)s)")
    p.add_argument("--ready-file", default="")
    p.add_argument("--go-file", default="")
    p.add_argument("--go-timeout", type=float, default=600.0)
    p.add_argument("--settle", type=float, default=10.0)
    p.add_argument("--tag", default="bench")
    p.add_argument("--no-kernel-stamps", action="store_true")
    p.add_argument("--read-pause", type=float, default=0.0,
                   help="seconds the subscriber processes are stopped "
                   "(SIGSTOP) from just before each publish, so that the "
                   "fan-out has the cores as remote subscribers would leave "
                   "them; arrivals are the kernel's stamps all the same "
                   "(needs --procs >= 2; default: 0, never stopped)")
    p.add_argument("--quiet-every", type=float, default=0.0,
                   help="publish only in windows of this many seconds, each "
                   "followed by as long a quiet one, counted from the first "
                   "publish (offers.sh probes /healthz in both kinds; "
                   "default: 0, no quiet windows)")
    p.add_argument("--started-file", default="",
                   help="written (time.time() of the first publish) when "
                   "publishing starts")
    a = p.parse_args()
    if a.quiet_every < 0:
        p.error("--quiet-every: >= 0")
    if a.subscribers < 1 or a.offers < 1 or a.procs < 1 or a.interval < 0:
        p.error("--subscribers, --offers, --procs: >= 1; --interval >= 0")
    if a.procs > a.subscribers:
        a.procs = a.subscribers
    if a.read_pause < 0 or (a.read_pause > 0 and a.procs < 2):
        p.error("--read-pause: >= 0, and only with --procs >= 2 (the "
                "publisher must not be stopped with the subscribers)")
    if a.read_pause > 0 and a.no_kernel_stamps:
        p.error("--read-pause needs the kernel's receive stamps")
    if not 1 <= a.sources <= 254:
        p.error("--sources: 1..254")
    return a


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        want = need if hard == resource.RLIM_INFINITY else min(need, hard)
        if want < need:
            want = hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError) as e:
            log("cannot raise RLIMIT_NOFILE to %d: %s" % (want, e))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < need:
        log("RLIMIT_NOFILE is %d (hard %s), %d needed: use --procs or raise "
            "the hard limit" % (soft, hard, need))
        sys.exit(2)


def pct(sorted_vals, q):
    """linearly interpolated percentile of sorted values (None if none)"""
    n = len(sorted_vals)
    if n == 0:
        return None
    if n == 1:
        return sorted_vals[0]
    x = (n - 1) * q / 100.0
    i = int(x)
    if i >= n - 1:
        return sorted_vals[-1]
    return sorted_vals[i] + (sorted_vals[i + 1] - sorted_vals[i]) * (x - i)


def r3(v):
    return None if v is None else round(v, 3)


# --------------------------------------------------------------- subscribers ---

class Sub:
    __slots__ = ("idx", "sock", "fd", "state", "buf", "tail", "ids", "tu",
                 "tk", "ready", "err", "closed_at")

    def __init__(self, idx):
        self.idx = idx
        self.sock = None
        self.fd = -1
        self.state = S_CONNECTING
        self.buf = b""
        self.tail = b""
        self.ids = []
        self.tu = []
        self.tk = []
        self.ready = None
        self.err = None
        self.closed_at = None


class Subscribers:
    """the subscribers of one process, on the running loop"""

    def __init__(self, args, first, count, kstamps):
        self.a = args
        self.first = first
        self.count = count
        self.kstamps = kstamps
        self.subs = []
        self.addr = (args.host, args.port)
        self.req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream"
                    "\r\nUser-Agent: placesd-bench-sse\r\n\r\n" %
                    (args.path, args.host, args.port)).encode()
        self.errors = {}
        self.loop = None
        self.go_time = None

    def closed(self, s, why):
        if s.state == S_CLOSED:
            return
        was_ready = s.state == S_STREAM
        s.state = S_CLOSED
        s.err = why
        s.closed_at = now_mono()
        if s.fd >= 0:
            try:
                self.loop.remove_reader(s.fd)
            except Exception:
                pass
        if s.sock is not None:
            s.sock.close()
        s.fd = -1
        if not was_ready and s.ready is not None and not s.ready.done():
            s.ready.set_result(why)

    def on_readable(self, s):
        try:
            if self.kstamps:
                data, anc, _flags, _addr = s.sock.recvmsg(RECV_SIZE, ANC_SIZE)
            else:
                data = s.sock.recv(RECV_SIZE)
                anc = None
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self.closed(s, "recv: %s" % (e.strerror or e))
            return
        tu = time.monotonic()
        if not data:
            self.closed(s, "eof")
            return
        if s.state == S_STREAM:
            tk = 0.0
            if anc:
                for lvl, typ, cdata in anc:
                    if lvl == socket.SOL_SOCKET and typ == SCM_TIMESTAMPNS and len(cdata) >= 16:
                        sec, nsec = struct.unpack_from("qq", cdata)
                        tk = sec + nsec * 1e-9
            self.feed(s, data, tu, tk)
            return
        # the answer's head, then the first chunk
        s.buf += data
        if s.state == S_HEADERS:
            end = s.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(s.buf) > 16384:
                    self.closed(s, "header too long")
                return
            head = s.buf[:end].decode("latin-1")
            status = head.split("\r\n", 1)[0].split(" ")
            if len(status) < 2 or status[1] != "200":
                self.closed(s, "HTTP %s" % (status[1] if len(status) > 1 else "?"))
                return
            if "transfer-encoding: chunked" not in head.lower():
                self.closed(s, "not chunked")
                return
            s.buf = s.buf[end + 4:]
            s.state = S_HELLO
        if s.state == S_HELLO:
            # the first chunk: "<hex>\r\nretry: N\n: offers after ID (worker S)\n\n"
            i = s.buf.find(b"\n\n")
            if i < 0:
                return
            if b": offers after" not in s.buf[:i]:
                self.closed(s, "unexpected first chunk %r" % s.buf[:60])
                return
            rest = s.buf[i + 2:]
            s.buf = b""
            s.state = S_STREAM
            if s.ready is not None and not s.ready.done():
                s.ready.set_result(None)
            if rest:
                self.feed(s, rest, tu, 0.0)

    @staticmethod
    def feed(s, data, tu, tk):
        """the stream: notes the "id: <n>" lines (whole lines only)"""
        buf = s.tail + data if s.tail else data
        nl = buf.rfind(b"\n")
        if nl < 0:
            s.tail = buf[:40]       # an id line is shorter: the rest is not one
            return
        s.tail = buf[nl + 1:nl + 41]
        if b"id: " not in buf:
            return
        first = len(s.ids)
        for m in ID_RE.finditer(buf, 0, nl + 1):
            s.ids.append(int(m.group(1)))
            s.tu.append(tu)
            s.tk.append(tk)
        # one read, several events: the kernel merges queued segments and
        # the stamp is the newest one's, an upper bound for the others
        # (negated: "shared"; analyze() uses it and counts them)
        for k in range(first, len(s.ids) - 1):
            s.tk[k] = -s.tk[k]

    async def open_one(self, s, sem):
        a = self.a
        async with sem:
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            except OSError as e:
                s.state = S_CLOSED
                s.err = "socket: %s" % (e.strerror or e)
                return
            s.sock = sock
            sock.setblocking(False)
            try:
                if a.sources > 1:
                    sock.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                    sock.bind(("127.0.0.%d" % (1 + s.idx % a.sources), 0))
                if self.kstamps:
                    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                await asyncio.wait_for(self.loop.sock_connect(sock, self.addr),
                                       a.connect_timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                n = sock.send(self.req)
                if n != len(self.req):
                    raise OSError("short send")
            except asyncio.TimeoutError:
                self.closed(s, "connect timeout")
                return
            except OSError as e:
                self.closed(s, "connect: %s" % (e.strerror or e))
                return
            s.fd = sock.fileno()
            s.state = S_HEADERS
            s.ready = self.loop.create_future()
            self.loop.add_reader(s.fd, self.on_readable, s)
            try:
                why = await asyncio.wait_for(asyncio.shield(s.ready), a.connect_timeout)
            except asyncio.TimeoutError:
                self.closed(s, "no first chunk within %gs" % a.connect_timeout)
                return
            if why is not None:
                return

    async def open_all(self):
        self.loop = asyncio.get_running_loop()
        self.subs = [Sub(self.first + i) for i in range(self.count)]
        sem = asyncio.Semaphore(self.a.connect_parallel)
        t0 = time.monotonic()
        await asyncio.gather(*(self.open_one(s, sem) for s in self.subs))
        self.connect_s = time.monotonic() - t0
        for s in self.subs:
            if s.state != S_STREAM:
                k = s.err or "?"
                self.errors[k] = self.errors.get(k, 0) + 1
        return self.ready_report()

    def ready_report(self):
        ok = sum(1 for s in self.subs if s.state == S_STREAM)
        return {"connected": ok, "failed": self.count - ok, "errors": self.errors,
                "connect_s": round(self.connect_s, 3)}

    def mark_go(self):
        self.go_time = time.monotonic()
        self.go_ru = resource.getrusage(resource.RUSAGE_SELF)
        # the connections were counted when ready; anything gone since is
        # "closed before the offers"
        self.at_go = [s.state == S_STREAM for s in self.subs]

    async def settle(self, ids, deadline):
        """until every open subscriber has every offer of ids, or deadline"""
        want = set(ids)
        n = len(want)
        while time.monotonic() < deadline:
            if all(s.state != S_STREAM or (len(s.ids) >= n and want.issubset(s.ids))
                   for s in self.subs):
                break
            await asyncio.sleep(0.02)

    def results(self):
        t1 = time.monotonic()
        ru = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (ru.ru_utime - self.go_ru.ru_utime) + (ru.ru_stime - self.go_ru.ru_stime)
        subs = []
        for s, at_go in zip(self.subs, self.at_go):
            if not at_go:
                subs.append(None)
                continue
            subs.append({"ids": s.ids, "tu": s.tu, "tk": s.tk,
                         "closed": s.state == S_CLOSED, "err": s.err})
        return {"subs": subs, "cpu_s": cpu, "wall_s": t1 - self.go_time}

    def close_all(self):
        for s in self.subs:
            if s.sock is not None and s.state != S_CLOSED:
                try:
                    self.loop.remove_reader(s.fd)
                except Exception:
                    pass
                s.sock.close()
                s.state = S_CLOSED


# ----------------------------------------------------------------- publisher ---

class Publisher:
    def __init__(self, args, token):
        self.a = args
        self.token = token
        self.r = self.w = None

    async def connect(self):
        self.r, self.w = await asyncio.wait_for(
            asyncio.open_connection(self.a.host, self.a.port), 10)
        self.w.get_extra_info("socket").setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def read_answer(self):
        head = await self.r.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        hdr = {}
        for ln in lines[1:]:
            if ":" in ln:
                k, v = ln.split(":", 1)
                hdr[k.strip().lower()] = v.strip()
        if "content-length" in hdr:
            body = await self.r.readexactly(int(hdr["content-length"]))
        elif "chunked" in hdr.get("transfer-encoding", "").lower():
            body = b""
            while True:
                size = int((await self.r.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.r.readuntil(b"\r\n")
                    break
                body += await self.r.readexactly(size)
                await self.r.readexactly(2)
        else:
            body = await self.r.read()
        keep = hdr.get("connection", "").lower() != "close"
        return status, body, keep

    async def publish(self, body):
        """-> (t_mono, t_real, status, offer id or None, answer ms, text)"""
        if self.w is None:
            await self.connect()
        data = body.encode()
        req = ("POST /v1/offers HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\n"
               "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" %
               (self.a.host, self.a.port, self.token, len(data))).encode() + data
        t_mono = time.monotonic()
        t_real = time.time()
        self.w.write(req)
        try:
            await self.w.drain()
            status, ans, keep = await asyncio.wait_for(self.read_answer(), 10)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError,
                asyncio.LimitOverrunError, ValueError) as e:
            self.close()
            return t_mono, t_real, 0, None, (time.monotonic() - t_mono) * 1000, \
                "no answer: %s" % (type(e).__name__ + (": " + str(e) if str(e) else ""))
        ms = (time.monotonic() - t_mono) * 1000
        if not keep:
            self.close()
        oid = None
        text = ans.decode("utf-8", "replace")
        if status == 201:
            try:
                oid = int(json.loads(text)["id"])
            except (ValueError, KeyError, TypeError):
                pass
        return t_mono, t_real, status, oid, ms, text[:300]

    def close(self):
        if self.w is not None:
            self.w.close()
        self.r = self.w = None


def offer_body(a, k, place_ids):
    return json.dumps({
        "place_id": place_ids[k % len(place_ids)],
        "title": "%s offer %d" % (a.tag, k + 1),
        "description": "Benchmark offer %d of %d: a live-stream delivery test "
                       "(tests/bench/offers.sh)." % (k + 1, a.offers),
        "discount_pct": 5 + (k * 7) % 60,
        "starts_at": "2026-01-01T10:00:00Z",
        "ends_at": "2036-01-01T10:00:00Z",
    }, separators=(",", ":"))


async def wait_go(a):
    if not a.ready_file:
        return True
    t_end = time.monotonic() + a.go_timeout
    while not os.path.exists(a.go_file):
        if time.monotonic() > t_end:
            log("no go file %s within %gs" % (a.go_file, a.go_timeout))
            return False
        await asyncio.sleep(0.02)
    return True


def write_ready(a, rep):
    if not a.ready_file:
        return
    tmpf = a.ready_file + ".tmp"
    with open(tmpf, "w") as f:
        json.dump(rep, f)
    os.rename(tmpf, a.ready_file)


def signal_kids(kids, sig):
    for kid in kids:
        try:
            os.kill(kid["pid"], sig)
        except ProcessLookupError:
            pass


async def publish_paused(a, pub, body, kids):
    """One publish with the subscriber processes stopped from just before
    it until --read-pause after: they read what arrived meanwhile later,
    with its kernel stamps."""
    signal_kids(kids, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        res = await pub.publish(body)
        left = t0 + a.read_pause - time.monotonic()
        if left > 0:
            await asyncio.sleep(left)
    finally:
        signal_kids(kids, signal.SIGCONT)
    return res


def publish_at(a, t0, k):
    """When offer k goes: on the --interval schedule, not before its
    time, and never in a quiet window (--quiet-every S: [S, 2S), [3S, 4S)
    ... after t0 are quiet): an offer due, or late, in one waits for the
    next publishing window."""
    due = k * a.interval            # after t0, in publishing time
    s = a.quiet_every
    if s <= 0:
        return t0 + due
    # a window of quiet after each S of publishing time
    t = max(t0 + due + int(due / s) * s, time.monotonic())
    n = int((t - t0) / s)
    if n % 2 == 1:
        t = t0 + (n + 1) * s
    return t


async def publish_all(a, token, place_ids, kids=()):
    """-> list of (t_mono, t_real, status, id, ms, text)"""
    pub = Publisher(a, token)
    try:
        await pub.connect()
    except (OSError, asyncio.TimeoutError) as e:
        log("cannot connect the publisher: %s" % e)
        return None
    out = []
    t0 = time.monotonic()
    if a.started_file:
        with open(a.started_file + ".tmp", "w") as f:
            f.write("%.6f\n" % (time.time() + t0 - time.monotonic()))
        os.rename(a.started_file + ".tmp", a.started_file)
    for k in range(a.offers):
        delay = publish_at(a, t0, k) - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if a.read_pause > 0 and kids:
            res = await publish_paused(a, pub, offer_body(a, k, place_ids),
                                       kids)
        else:
            res = await pub.publish(offer_body(a, k, place_ids))
        out.append(res)
        if res[2] != 201:
            log("offer %d: POST /v1/offers answered %s: %s" % (k + 1, res[2] or "nothing", res[5]))
    pub.close()
    return out


# ------------------------------------------------------------------- analysis ---

def analyze(a, ready, pubs, parts, kstamps):
    ids = [p[3] for p in pubs if p[3] is not None]
    pub_mono = {p[3]: p[0] for p in pubs if p[3] is not None}
    pub_real = {p[3]: p[1] for p in pubs if p[3] is not None}
    per = {i: [] for i in ids}      # kernel (or read) delays, ms
    per_read = {i: [] for i in ids}
    all_k, all_u, lag = [], [], []
    missed_subs = missed_events = dup = foreign = closed = closed_before = 0
    n_at_go = 0
    stamps_missing = stamps_shared = 0
    closed_err = {}
    cpu = wall = 0.0
    for part in parts:
        cpu += part["cpu_s"]
        wall = max(wall, part["wall_s"])
        for s in part["subs"]:
            if s is None:
                closed_before += 1
                continue
            n_at_go += 1
            seen = set()
            for oid, tu, tk in zip(s["ids"], s["tu"], s["tk"]):
                if oid not in pub_mono:
                    foreign += 1
                    continue
                if oid in seen:
                    dup += 1
                    continue
                seen.add(oid)
                du = (tu - pub_mono[oid]) * 1000
                per_read[oid].append(du)
                all_u.append(du)
                if kstamps and tk < 0:
                    stamps_shared += 1
                    tk = -tk
                if kstamps and tk > 0:
                    dk = (tk - pub_real[oid]) * 1000
                    lag.append(du - dk)
                else:
                    if kstamps:
                        stamps_missing += 1
                    dk = du
                per[oid].append(dk)
                all_k.append(dk)
            miss = len(ids) - len(seen)
            if s["closed"]:
                closed += 1
                k = s["err"] or "?"
                closed_err[k] = closed_err.get(k, 0) + 1
            elif miss > 0:
                missed_subs += 1
            missed_events += miss
    rows = []
    lasts, lasts_u, firsts, meds = [], [], [], []
    for p in pubs:
        oid = p[3]
        row = {"id": oid, "status": p[2], "post_ms": r3(p[4])}
        if oid is not None and per[oid]:
            v = sorted(per[oid])
            vu = sorted(per_read[oid])
            row.update({"got": len(v), "first": r3(v[0]), "median": r3(pct(v, 50)),
                        "last": r3(v[-1]), "read_last": r3(vu[-1])})
            lasts.append(v[-1])
            lasts_u.append(vu[-1])
            firsts.append(v[0])
            meds.append(pct(v, 50))
        else:
            row["got"] = 0
        rows.append(row)
    lasts.sort(); lasts_u.sort(); firsts.sort(); meds.sort()
    all_k.sort(); all_u.sort(); lag.sort()
    post = sorted(p[4] for p in pubs)
    return {
        "subscribers": a.subscribers, "procs": a.procs, "sources": a.sources,
        "connected": ready["connected"], "connect_failed": ready["failed"],
        "connect_errors": ready["errors"], "connect_s": ready["connect_s"],
        "at_go": n_at_go, "closed_before_offers": closed_before,
        "offers": a.offers, "published": len(ids),
        "publish_failed": a.offers - len(ids),
        "post_ms_p50": r3(pct(post, 50)), "post_ms_max": r3(post[-1] if post else None),
        "stamps": "kernel" if kstamps else "read", "stamps_missing": stamps_missing,
        "stamps_shared": stamps_shared,
        "last_p50": r3(pct(lasts, 50)), "last_p99": r3(pct(lasts, 99)),
        "last_max": r3(lasts[-1] if lasts else None),
        "first_p50": r3(pct(firsts, 50)), "median_p50": r3(pct(meds, 50)),
        "all_p50": r3(pct(all_k, 50)), "all_p99": r3(pct(all_k, 99)),
        "read_last_p50": r3(pct(lasts_u, 50)), "read_last_p99": r3(pct(lasts_u, 99)),
        "read_all_p50": r3(pct(all_u, 50)), "read_all_p99": r3(pct(all_u, 99)),
        "lag_p50": r3(pct(lag, 50)), "lag_p99": r3(pct(lag, 99)),
        "lag_max": r3(lag[-1] if lag else None),
        "arrivals": len(all_k),
        "missed_subs": missed_subs, "missed_events": missed_events,
        "duplicates": dup, "foreign": foreign,
        "closed": closed, "closed_errors": closed_err,
        "client_cpu_s": round(cpu, 3), "client_wall_s": round(wall, 3),
        "client_cpu_pct": round(100 * cpu / wall, 1) if wall > 0 else None,
        "per_offer": rows,
    }


def print_table(res):
    f = sys.stderr
    print("offer        id  post ms  got    first ms  median ms    last ms  read-last ms",
          file=f)
    for k, r in enumerate(res["per_offer"]):
        if r.get("got"):
            print("%5d %9s %8.1f %5d %10.1f %10.1f %10.1f %13.1f" %
                  (k + 1, r["id"], r["post_ms"] or 0, r["got"], r["first"], r["median"],
                   r["last"], r["read_last"]), file=f)
        else:
            print("%5d %9s %8.1f %5d  (status %s)" % (k + 1, r["id"], r["post_ms"] or 0, 0,
                                                     r["status"]), file=f)
    f.flush()


# ------------------------------------------------------------------- running ---

def kernel_stamps_work(a):
    if a.no_kernel_stamps:
        return False
    try:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        s.close()
        return True
    except OSError:
        return False


async def single(a, token, place_ids, kstamps):
    subs = Subscribers(a, 0, a.subscribers, kstamps)
    ready = await subs.open_all()
    log("%d of %d subscribers connected in %.1fs%s" % (
        ready["connected"], a.subscribers, ready["connect_s"],
        (" (failed: %s)" % ready["errors"]) if ready["failed"] else ""))
    if ready["connected"] == 0:
        return 1, None
    await asyncio.sleep(a.idle)
    write_ready(a, ready)
    if not await wait_go(a):
        return 1, None
    gc.collect()
    gc.freeze()
    subs.mark_go()
    pubs = await publish_all(a, token, place_ids)
    if pubs is None:
        return 1, None
    ids = [p[3] for p in pubs if p[3] is not None]
    await subs.settle(ids, time.monotonic() + a.settle)
    part = subs.results()
    subs.close_all()
    return 0, analyze(a, ready, pubs, [part], kstamps)


def child_main(a, first, count, kstamps, wfd, rfd):
    """a subscriber process: reports ready, waits for go/done on rfd"""
    async def run():
        subs = Subscribers(a, first, count, kstamps)
        rep = await subs.open_all()
        os.write(wfd, (json.dumps(rep) + "\n").encode())
        loop = asyncio.get_running_loop()
        q = asyncio.Queue()
        buf = [b""]

        def on_cmd():
            d = os.read(rfd, 65536)
            if not d:
                q.put_nowait(None)
                return
            buf[0] += d
            while b"\n" in buf[0]:
                ln, buf[0] = buf[0].split(b"\n", 1)
                q.put_nowait(ln.decode())
        loop.add_reader(rfd, on_cmd)
        gc.collect()
        gc.freeze()
        while True:
            cmd = await q.get()
            if cmd is None:
                return
            if cmd == "go":
                subs.mark_go()
            elif cmd.startswith("done"):
                ids = [int(x) for x in cmd.split()[1:]]
                await subs.settle(ids, time.monotonic() + a.settle)
                res = json.dumps(subs.results()).encode() + b"\n"
                subs.close_all()
                view = memoryview(res)
                while view:
                    n = os.write(wfd, view)
                    view = view[n:]
                return
    try:
        asyncio.run(run())
    finally:
        os._exit(0)


def read_line(f, what):
    ln = f.readline()
    if not ln:
        raise RuntimeError("a subscriber process ended before %s" % what)
    return json.loads(ln)


def multi(a, token, place_ids, kstamps):
    """--procs > 1: fork the subscriber processes (before any event loop
    exists here), then publish from this one"""
    kids = []
    base, extra = divmod(a.subscribers, a.procs)
    first = 0
    for p in range(a.procs):
        count = base + (1 if p < extra else 0)
        r1, w1 = os.pipe()
        r2, w2 = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r1)
            os.close(w2)
            for k in kids:
                os.close(k["w"])
                k["f"].close()
            child_main(a, first, count, kstamps, w1, r2)
        os.close(w1)
        os.close(r2)
        kids.append({"pid": pid, "f": os.fdopen(r1, "rb"), "w": w2})
        first += count
    try:
        return asyncio.run(multi_parent(a, token, place_ids, kstamps, kids))
    finally:
        for k in kids:
            try:
                os.close(k["w"])
            except OSError:
                pass
            k["f"].close()
        for k in kids:
            try:
                os.waitpid(k["pid"], 0)
            except ChildProcessError:
                pass


async def multi_parent(a, token, place_ids, kstamps, kids):
    loop = asyncio.get_running_loop()
    ready = {"connected": 0, "failed": 0, "errors": {}, "connect_s": 0.0}
    try:
        for k in kids:
            rep = await loop.run_in_executor(None, read_line, k["f"], "it connected")
            ready["connected"] += rep["connected"]
            ready["failed"] += rep["failed"]
            ready["connect_s"] = max(ready["connect_s"], rep["connect_s"])
            for e, n in rep["errors"].items():
                ready["errors"][e] = ready["errors"].get(e, 0) + n
    except (RuntimeError, ValueError) as e:
        log(str(e))
        return 1, None
    log("%d of %d subscribers connected in %.1fs over %d processes%s" % (
        ready["connected"], a.subscribers, ready["connect_s"], a.procs,
        (" (failed: %s)" % ready["errors"]) if ready["failed"] else ""))
    if ready["connected"] == 0:
        return 1, None
    await asyncio.sleep(a.idle)
    write_ready(a, ready)
    if not await wait_go(a):
        return 1, None
    for k in kids:
        os.write(k["w"], b"go\n")
    pubs = await publish_all(a, token, place_ids, kids)
    if pubs is None:
        return 1, None
    ids = [p[3] for p in pubs if p[3] is not None]
    msg = ("done " + " ".join(str(i) for i in ids) + "\n").encode()
    parts = []
    try:
        for k in kids:
            os.write(k["w"], msg)
        for k in kids:
            parts.append(await loop.run_in_executor(None, read_line, k["f"], "its results"))
    except (RuntimeError, ValueError, OSError) as e:
        log(str(e))
        return 1, None
    return 0, analyze(a, ready, pubs, parts, kstamps)


def main():
    a = parse_args()
    try:
        with open(a.token_file) as f:
            token = f.readline().strip()
    except OSError as e:
        log("cannot read the token: %s" % e)
        return 2
    try:
        place_ids = [int(x) for x in a.place_ids.split(",") if x.strip()]
    except ValueError:
        log("--place-ids: numbers separated by commas")
        return 2
    if not place_ids:
        place_ids = [1]
    per_proc = -(-a.subscribers // a.procs)
    raise_nofile(per_proc + 64)
    kstamps = kernel_stamps_work(a)
    gc.set_threshold(100000, 50, 50)
    if a.procs == 1:
        rc, res = asyncio.run(single(a, token, place_ids, kstamps))
    else:
        rc, res = multi(a, token, place_ids, kstamps)
    if res is not None:
        print_table(res)
        print(json.dumps(res, separators=(",", ":")), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
