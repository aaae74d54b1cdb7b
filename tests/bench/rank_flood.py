#!/usr/bin/python3
# tests/bench/rank_flood.py -- saturates placesd's ranker directly, without
# the workers: the "ranking saturated, nothing else" load of nearby_probe.sh.
#
# Standard library only; run it with /usr/bin/python3.
#
# It opens --connections connections to the ranker's Unix socket (as a
# worker does) and keeps --depth NEARBY calls in flight on each for
# --duration seconds: the ranker's queue never empties, so every ranking
# thread is busy all the time, while the worker loops serve only what the
# probes of nearby_probe.sh ask them.  The calls are the /v1/nearby paths of
# --paths (the mix of the nearby_*.sh scripts), turned into the ranker's JSON request
# the way the worker turns them (src/api/nearby.c).  A call the ranker
# answers BUSY is sent again at once (its queue was full: more is in
# flight than it takes, which is the point).
#
# --idle makes the client's own CPU invisible to everything else, as the
# ranking threads' is: SCHED_IDLE, in a session (so a scheduler autogroup)
# of its own at nice 19; placesd's ranker does the same (see [ranker] nice
# in placesd.conf(5)).
#
# Prints one line of JSON on stdout: calls answered (results, busy,
# errors), the rate of results per second and the duration.
#
# Exit status: 0 done, 1 the ranker closed a connection or sent garbage,
# 2 usage.

import argparse
import json
import os
import select
import socket
import struct
import sys
import time
import urllib.parse

WIRE_BUSY, WIRE_ERROR, WIRE_NEARBY, WIRE_RESULT, WIRE_GOAWAY = 3, 4, 5, 6, 7
HDR = struct.Struct(">BBHII")


def request_of(path, now):
    """The ranker's JSON request for a /v1/nearby path."""
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)

    def one(k, d=None):
        return q[k][0] if k in q else d

    def words(k):
        return [w for w in one(k, "").split(",") if w]
    return {"lat": float(one("lat")), "lon": float(one("lon")),
            "radius_m": float(one("radius_m", "2000")),
            "categories": words("category"), "cuisines": words("cuisine"),
            "min_price": 0, "max_price": 0, "min_rating": None,
            "q": one("q"), "sort": one("sort", "best"), "offset": 0,
            "limit": int(one("limit", "10")), "now": now,
            "open": "now" if one("open_now") == "true" else None}


class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.s.setblocking(False)
        self.buf = b""
        self.out = b""
        self.inflight = 0

    def send(self, rid, payload):
        self.out += HDR.pack(1, WIRE_NEARBY, 0, rid, len(payload)) + payload
        self.inflight += 1

    def flush(self):
        if self.out:
            n = self.s.send(self.out)
            self.out = self.out[n:]

    def frames(self):
        data = self.s.recv(1 << 16)
        if not data:
            raise ConnectionError("the ranker closed the connection")
        self.buf += data
        while len(self.buf) >= HDR.size:
            ver, mtype, _, rid, ln = HDR.unpack_from(self.buf)
            if ver != 1:
                raise ConnectionError("bad frame version %d" % ver)
            if len(self.buf) < HDR.size + ln:
                break
            self.buf = self.buf[HDR.size + ln:]
            yield mtype, rid


def run_idle():
    """SCHED_IDLE, and an autogroup of its own at nice 19: a thread's
    policy only counts inside its autogroup (sched(7))."""
    try:
        os.setsid()
    except OSError:
        pass            # already a session leader
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    try:
        with open("/proc/self/autogroup", "w") as f:
            f.write("19")
    except FileNotFoundError:
        pass            # a kernel without autogroups


def main():
    ap = argparse.ArgumentParser(description="Saturates placesd's ranker "
                                 "directly, without the workers.")
    ap.add_argument("--socket", required=True)
    ap.add_argument("--paths", required=True)
    ap.add_argument("--connections", type=int, default=2)
    ap.add_argument("--depth", type=int, default=16)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--idle", action="store_true",
                    help="run under SCHED_IDLE in an autogroup of its own "
                    "at nice 19")
    a = ap.parse_args()
    if a.connections < 1 or a.depth < 1 or a.duration <= 0:
        ap.error("--connections, --depth and --duration must be positive")
    if a.idle:
        run_idle()
    now = int(time.time())
    with open(a.paths) as f:
        reqs = [json.dumps(request_of(line.strip(), now)).encode()
                for line in f if line.strip()]
    if not reqs:
        ap.error("no paths in %s" % a.paths)
    conns = [Conn(a.socket) for _ in range(a.connections)]
    counts = {"results": 0, "busy": 0, "errors": 0}
    nxt = [0]

    def send(c):
        i = nxt[0] % len(reqs)
        nxt[0] += 1
        c.send(i + 1, reqs[i])

    for c in conns:
        for _ in range(a.depth):
            send(c)
        c.flush()
    t0 = time.monotonic()
    end = t0 + a.duration
    try:
        while time.monotonic() < end:
            r, w, _ = select.select([c.s for c in conns],
                                    [c.s for c in conns if c.out], [], 0.1)
            for c in conns:
                if c.s in r:
                    for mtype, _ in c.frames():
                        if mtype == WIRE_GOAWAY:
                            raise ConnectionError("the ranker is draining")
                        c.inflight -= 1
                        key = {WIRE_RESULT: "results", WIRE_BUSY: "busy"}
                        counts[key.get(mtype, "errors")] += 1
                        send(c)
                if c.out:
                    c.flush()
    except (ConnectionError, OSError) as e:
        print("rank_flood: %s" % e, file=sys.stderr)
        return 1
    took = time.monotonic() - t0
    counts.update(seconds=round(took, 3),
                  results_per_s=round(counts["results"] / took, 1))
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
