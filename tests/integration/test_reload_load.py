#!/usr/bin/env python3
"""placesd: zero lost requests across 100 reloads under load.

h2load (HTTP/1.1) keeps 32 clients busy on /healthz while the test sends
100 SIGHUPs, each one waited for (placesd_generation increments) and paced
~200 ms apart.  Once with `Connection: close` (a new connection per request:
tests the accept queues), once with keep-alive (tests the drain: in-flight
answers carry `Connection: close`, idle connections are not cut under a
client's feet).  h2load runs in back-to-back runs of -n requests, so that
every request of every run is accounted for exactly (with -D, requests in
flight at the end are not counted), and with an inactivity timeout so that a
request stuck on a queue nobody accepts from becomes a counted timeout.

Pass: every run reports "0 failed, 0 errored, 0 timeout" and only 2xx; after
the load, only the newest generation's workers remain within
shutdown_timeout + margin.  See docs/design.md, "Reload (SIGHUP)".
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import placesd_test as T  # noqa: E402

RELOADS = int(os.environ.get("PLACESD_TEST_RELOADS", "100"))
PACE = 0.2              # seconds between SIGHUPs (at least)
CLIENTS = 32
SHUTDOWN_TIMEOUT = 5    # [server] shutdown_timeout, seconds
RUN_SECONDS = 3.0       # target length of one h2load run
RUN_LIMIT = 90          # a run taking longer than this has hung

REQ_RE = re.compile(r"requests: (\d+) total, (\d+) started, (\d+) done, "
                    r"(\d+) succeeded, (\d+) failed, (\d+) errored, "
                    r"(\d+) timeout")
CODES_RE = re.compile(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, "
                      r"(\d+) 5xx")
FIELDS = ("total", "started", "done", "succeeded", "failed", "errored",
          "timeout", "2xx", "3xx", "4xx", "5xx")


def h2load_bin():
    return shutil.which("h2load")


def setup():
    if not h2load_bin():
        T.skip("h2load (nghttp2-client) is not installed")


class Loader(threading.Thread):
    """Back-to-back `h2load --h1 -n N` runs until stop() is called."""

    def __init__(self, url, extra_args):
        super().__init__(daemon=True)
        self.url = url
        self.extra = extra_args
        self.halt = threading.Event()
        self.runs = []          # dicts of FIELDS + rc + seconds
        self.bad = []           # (run index, output) of runs that failed
        self.error = None
        self.proc = None
        self.started = threading.Event()

    def one_run(self, n):
        argv = [h2load_bin(), "--h1", "-n", str(n), "-c", str(CLIENTS),
                "-t", "1", "-N", "20s"] + self.extra + [self.url]
        t0 = time.monotonic()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        self.started.set()
        try:
            out, _ = self.proc.communicate(timeout=RUN_LIMIT)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            out, _ = self.proc.communicate()
            raise RuntimeError("h2load run of %d requests hung for %d s:\n%s"
                               % (n, RUN_LIMIT, out[-3000:]))
        dt = time.monotonic() - t0
        m, c = REQ_RE.search(out), CODES_RE.search(out)
        if not m or not c:
            raise RuntimeError("cannot parse h2load output (rc %s):\n%s"
                               % (self.proc.returncode, out[-3000:]))
        r = dict(zip(FIELDS, [int(x) for x in m.groups() + c.groups()]))
        r["rc"], r["seconds"] = self.proc.returncode, dt
        self.runs.append(r)
        if (r["failed"] or r["errored"] or r["timeout"] or r["3xx"]
                or r["4xx"] or r["5xx"] or r["done"] != r["total"]
                or r["succeeded"] != r["total"]):
            self.bad.append((len(self.runs), out[-3000:]))
        return r

    def run(self):
        n = 2000
        try:
            while not self.halt.is_set():
                r = self.one_run(n)
                # size the next run from what succeeded (failures are quick)
                rate = r["succeeded"] / max(r["seconds"], 0.05)
                n = int(min(max(rate * RUN_SECONDS, 500), 100000))
        except Exception as e:          # noqa: reported by the test
            self.error = e
            self.started.set()

    def stop(self, timeout=150):
        self.halt.set()
        self.join(timeout)
        if self.is_alive() and self.proc is not None:
            T.kill_own_group(self.proc, self.proc.pid, "h2load")
            self.join(10)

    def totals(self):
        t = {k: 0 for k in FIELDS}
        for r in self.runs:
            for k in FIELDS:
                t[k] += r[k]
        return t


def reload_under_load(extra_args, label):
    d = T.Daemon(workers=2, conf={
        "server": {"shutdown_timeout": "%ds" % SHUTDOWN_TIMEOUT},
        "log": {"level": "warn"},
    })
    d.start()
    n = d.workers_configured
    gen0 = int(d.metric("placesd_generation", 0))
    ok0 = d.metric("placesd_http_requests_total", 0, code_class="2xx")
    loader = Loader(d.url + "/healthz", extra_args)
    loader.start()
    max_gens, max_workers, done = 0, 0, 0
    t_start = time.monotonic()
    try:
        T.check(loader.started.wait(30), "h2load did not start")
        T.check(loader.error is None, "h2load: %s" % loader.error)
        t_start = time.monotonic()
        for i in range(1, RELOADS + 1):
            t0 = time.monotonic()
            d.signal(signal.SIGHUP)
            want = gen0 + i

            def took():
                m = d.metrics()
                if T.metric(m, "placesd_reloads_total", 0,
                            result="failed") > 0:
                    return "failed"
                return T.metric(m, "placesd_generation", 0) >= want and "ok"
            r = T.wait_until(took, 60, "placesd_generation == %d (reload %d)"
                             % (want, i))
            T.check(r == "ok", "%s: reload %d failed" % (label, i))
            done = i
            ws = d.workers()
            max_gens = max(max_gens, len({g for _, _, g in ws}))
            max_workers = max(max_workers, len(ws))
            if loader.error is not None:
                T.fail("h2load: %s" % loader.error)
            if not loader.is_alive():
                T.fail("h2load loop ended early")
            if loader.bad:
                T.log("%s: requests lost by reload %d; stopping early"
                      % (label, i))
                break
            rest = PACE - (time.monotonic() - t0)
            if rest > 0:
                time.sleep(rest)
    finally:
        t_reloads = time.monotonic() - t_start
        loader.stop()
        tot = loader.totals()
        ok1 = d.metric("placesd_http_requests_total", 0, code_class="2xx")
        T.log("%s: %d reloads in %.1fs; %d h2load runs: %d total, %d "
              "succeeded, %d failed, %d errored, %d timeout; codes 2xx %d "
              "3xx %d 4xx %d 5xx %d; server 2xx delta %d; at most %d "
              "generations / %d workers alive at once"
              % (label, done, t_reloads, len(loader.runs), tot["total"],
                 tot["succeeded"], tot["failed"], tot["errored"],
                 tot["timeout"], tot["2xx"], tot["3xx"], tot["4xx"],
                 tot["5xx"], ok1 - ok0, max_gens, max_workers))
    T.check(loader.error is None, "h2load: %s" % loader.error)
    for idx, out in loader.bad[:3]:
        T.log("h2load run %d:\n%s" % (idx, out))
    T.check(not loader.bad,
            "%s: %d of %d h2load runs lost requests: %d of %d failed, %d "
            "errored, %d timeout, %d not done, non-2xx %d"
            % (label, len(loader.bad), len(loader.runs), tot["failed"],
               tot["total"], tot["errored"], tot["timeout"],
               tot["total"] - tot["done"],
               tot["3xx"] + tot["4xx"] + tot["5xx"]))
    gen = int(d.metric("placesd_generation", 0))
    T.check_eq(gen, gen0 + RELOADS, "placesd_generation after the reloads")
    T.check_eq(d.metric("placesd_reloads_total", 0, result="ok"),
               float(RELOADS), 'placesd_reloads_total{result="ok"}')
    T.check_eq(d.metric("placesd_reloads_total", 0, result="failed"), 0.0,
               'placesd_reloads_total{result="failed"}')

    T.check(tot["total"] > 0, "no requests were made")
    T.check(ok1 - ok0 >= tot["succeeded"],
            "server counted %d 2xx, clients got %d" % (ok1 - ok0,
                                                       tot["succeeded"]))
    # at most 3 generations draining + the current one (+ one starting)
    T.check(max_gens <= 5, "%d generations alive at once" % max_gens)

    # only the newest generation remains once drains are over
    def only_newest():
        ws = d.workers()
        return sorted((s, g) for _, s, g in ws) == [(s, gen) for s in
                                                    range(n)]
    try:
        T.wait_until(only_newest, SHUTDOWN_TIMEOUT + 30,
                     "only generation %d workers" % gen)
    except T.TestFailure:
        T.fail("%s: workers left %ds after the last reload: %r"
               % (label, SHUTDOWN_TIMEOUT + 30, d.workers()))
    # the old generations' rankers go after their last worker has: give
    # them the same bound
    T.wait_until(lambda: len(d.rankers()) == 1, SHUTDOWN_TIMEOUT + 30,
                 "one ranker after the reloads (have %r)" % d.rankers())
    T.check(d.get("/readyz")[0] == 200, "/readyz after the reloads")
    rc = d.stop()
    T.assert_clean_exit(d, rc, "SIGTERM after the reloads")


def test_reloads_connection_close():
    reload_under_load(["-H", "Connection: close"], "Connection: close")


def test_reloads_keepalive():
    reload_under_load([], "keep-alive")


test_reloads_connection_close.timeout = 170
test_reloads_keepalive.timeout = 170

TESTS = [
    test_reloads_connection_close,
    test_reloads_keepalive,
]

if __name__ == "__main__":
    T.run_main(TESTS, setup=setup)
