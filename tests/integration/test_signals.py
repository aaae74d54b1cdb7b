#!/usr/bin/env python3
"""placesd signals: graceful SIGTERM with a request in flight, a second
SIGTERM cutting the drain short, SIGQUIT, SIGHUP with an invalid then a
valid file, SIGUSR1 reopening the log files."""

import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import placesd_test as T  # noqa: E402

DEBUG = {"debug": {"routes": "on"}}
# a 60 s /debug/sleep must not be cut by request_deadline (default 10s) or by
# the drain's shutdown_timeout
LONG = {"debug": {"routes": "on"},
        "server": {"shutdown_timeout": "120s", "request_deadline": "120s"}}


def signal_pending(pid, sig):
    """True while sig is pending (not yet delivered) for process pid."""
    st = T.proc_status(pid)
    if st is None:
        return False
    bit = 1 << (sig - 1)
    return any(int(st.get(k, "0"), 16) & bit for k in ("SigPnd", "ShdPnd"))


def signal_taken(d, sig, log_size_before, timeout=10):
    """Wait until the master has taken sig: it is no longer pending and
    (best effort) the master wrote something to its log since."""
    T.wait_until(lambda: not signal_pending(d.pid, sig), timeout,
                 "the master to take %s" % signal.Signals(sig).name)
    try:
        T.wait_until(lambda: len(d.log_text()) > log_size_before, 5,
                     "a log line after %s" % signal.Signals(sig).name)
    except T.TestFailure:
        T.log("no log line after %s (not required)" % signal.Signals(sig).name)


def test_sigterm_finishes_inflight_request():
    d = T.Daemon(workers=2, conf=merge(DEBUG, {
        "server": {"shutdown_timeout": "30s"}}))
    d.start()
    th, res = T.start_sleeper(d, 1500)
    # the sleeping connection is accepted once the gauge counts it next to
    # the /metrics connection itself
    T.wait_connections_open(d, 2)
    d.signal(signal.SIGTERM)
    th.join(60)
    T.check(not th.is_alive(), "the in-flight request did not finish")
    T.check("error" not in res, "in-flight request failed: %r"
            % res.get("error"))
    st, hdrs, body = res["answer"]
    T.check_eq(st, 200, "in-flight /debug/sleep status")
    T.check_eq(json.loads(body), {"slept_ms": 1500}, "in-flight answer")
    rc = d.wait_exit(60)
    T.assert_clean_exit(d, rc, "graceful SIGTERM")


def merge(a, b):
    return T.merge_conf(a, b)


def test_second_sigterm_is_fast():
    d = T.Daemon(workers=1, conf=LONG)
    d.start()
    th, res = T.start_sleeper(d, 60000, timeout=120)
    T.wait_connections_open(d, 2)
    size = len(d.log_text())
    d.signal(signal.SIGTERM)
    signal_taken(d, signal.SIGTERM, size)
    T.check(d.alive(), "the master exited on the first SIGTERM although a "
            "60 s request was in flight (code %s)" % d.proc.returncode)
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    rc = d.wait_exit(30)
    dt = time.monotonic() - t0
    T.check(rc is not None, "the master did not exit within 30 s of the "
            "second SIGTERM (the 60 s sleep was not cut)")
    T.log("exit %.1fs after the second SIGTERM" % dt)
    T.check_eq(rc, 0, "exit code after a fast stop")
    th.join(30)
    T.check(not th.is_alive(), "the sleeping client still waits")
    if "answer" in res:
        T.check(res["answer"][0] != 200,
                "the 60 s sleep was answered 200 although cut")
    left = d.leftovers()
    T.check(not left, "processes left behind: %r" % left)


def test_second_sigint_is_fast():
    d = T.Daemon(workers=1, conf=LONG)
    d.start()
    th, res = T.start_sleeper(d, 60000, timeout=120)
    T.wait_connections_open(d, 2)
    size = len(d.log_text())
    d.signal(signal.SIGINT)
    signal_taken(d, signal.SIGINT, size)
    T.check(d.alive(), "the master exited on the first SIGINT although a "
            "60 s request was in flight")
    d.signal(signal.SIGTERM)
    rc = d.wait_exit(40)
    T.check(rc is not None, "no exit within 40 s of SIGINT + SIGTERM")
    T.check_eq(rc, 0, "exit code")
    T.check(not d.leftovers(), "processes left behind")


def test_sigquit_is_immediate():
    d = T.Daemon(workers=2, conf=LONG)
    d.start()
    th, res = T.start_sleeper(d, 60000, timeout=120)
    T.wait_connections_open(d, 2)
    d.signal(signal.SIGQUIT)
    rc = d.wait_exit(30)
    T.check(rc is not None, "no exit within 30 s of SIGQUIT with a 60 s "
            "request in flight")
    T.check_eq(rc, 0, "exit code after SIGQUIT")
    left = d.leftovers()
    T.check(not left, "processes left behind: %r" % left)
    th.join(30)
    T.check(not th.is_alive(), "the sleeping client still waits")


def test_reload_invalid_then_valid():
    d = T.Daemon(workers=2)
    d.start()
    m = d.metrics()
    T.check_eq(T.metric(m, "placesd_generation"), 1.0, "initial generation")
    old = d.workers()
    T.check_eq(len(old), 2, "initial workers %r" % old)

    # 1. an invalid file: logged, old config kept
    good = dict(d.conf)
    d.write_config(text="[server]\nlisten = %s:%d\nworkers = 2\n"
                        "keepalive_timeout = 5\n[ranker]\nsocket = %s\n"
                   % (d.host, d.port, d.conf["ranker"]["socket"]))
    d.signal(signal.SIGHUP)
    T.wait_until(lambda: d.metric("placesd_reloads_total", 0,
                                  result="failed") >= 1,
                 30, 'placesd_reloads_total{result="failed"} >= 1')
    m = d.metrics()
    T.check_eq(T.metric(m, "placesd_reloads_total", 0, result="failed"), 1.0,
               'reloads_total{result="failed"}')
    T.check_eq(T.metric(m, "placesd_reloads_total", 0, result="ok"), 0.0,
               'reloads_total{result="ok"}')
    T.check_eq(T.metric(m, "placesd_config_last_reload_successful"), 0.0,
               "config_last_reload_successful after a failed reload")
    T.check_eq(T.metric(m, "placesd_generation"), 1.0,
               "generation after a failed reload")
    T.check("server.keepalive_timeout" in d.log_text(),
            "the failed reload's log does not name server.keepalive_timeout")
    for _ in range(20):
        st, _, _ = d.get("/healthz")
        T.check_eq(st, 200, "/healthz after a failed reload")
    T.check_eq(d.workers(), old, "workers after a failed reload")
    T.check(d.alive(), "master died on an invalid reload")

    # 2. a valid file: generation 2, old workers go away
    good["log"] = {"level": "debug"}
    d.write_config(good)
    d.conf = good
    d.signal(signal.SIGHUP)
    T.wait_until(lambda: d.metric("placesd_generation") == 2.0, 60,
                 "placesd_generation == 2")
    m = d.metrics()
    T.check_eq(T.metric(m, "placesd_reloads_total", 0, result="ok"), 1.0,
               'reloads_total{result="ok"}')
    T.check_eq(T.metric(m, "placesd_reloads_total", 0, result="failed"), 1.0,
               'reloads_total{result="failed"} after the good reload')
    T.check_eq(T.metric(m, "placesd_config_last_reload_successful"), 1.0,
               "config_last_reload_successful after a good reload")

    def only_gen2():
        ws = d.workers()
        return sorted((s, g) for _, s, g in ws) == [(0, 2), (1, 2)] and ws
    ws = T.wait_until(only_gen2, 5 + 30, "only gen 2 workers (slots 0, 1)")
    old_pids = {p for p, _, _ in old}
    T.check(not old_pids & {p for p, _, _ in ws},
            "an old worker pid carries a gen 2 title: %r / %r" % (old, ws))
    # A drained worker leaves the title list before it has exited (an
    # ASan build takes a while to exit): wait for the processes themselves.
    T.wait_until(lambda: not any(T.pid_alive(p) for p in old_pids), 30,
                 "old workers %r exited" % sorted(old_pids))
    st, _, body = d.get("/healthz")
    T.check_eq(st, 200, "/healthz after the good reload")
    T.check_eq(json.loads(body).get("generation"), 2, "/healthz generation")
    T.check_eq(d.metric("placesd_worker_restarts_total", role="worker"), 0.0,
               "a reload is not counted as a worker restart")
    rc = d.stop()
    T.assert_clean_exit(d, rc, "SIGTERM after reloads")


def test_sigusr1_reopens_logs():
    d = T.Daemon(workers=2)
    logfile = d.path("placesd.log")
    access = d.path("access.log")
    d.conf = merge(d.conf, {"log": {"file": logfile, "access_log": access}})
    d.write_config(d.conf)
    d.start()

    def size(p):
        try:
            return os.path.getsize(p)
        except OSError:
            return -1
    T.wait_until(lambda: size(logfile) > 0, 30, "lines in %s" % logfile)
    d.get("/healthz")
    T.wait_until(lambda: size(access) > 0, 30, "lines in %s" % access)

    os.rename(logfile, logfile + ".1")
    os.rename(access, access + ".1")
    d.signal(signal.SIGUSR1)

    # workers reopen the access log: requests eventually land in a new file
    def access_new():
        d.get("/healthz")
        return size(access) > 0
    T.wait_until(access_new, 30, "requests logged in a new %s" % access)
    # the master and new children reopen the main log: a reload logs lines
    T.wait_until(lambda: os.path.exists(logfile), 30,
                 "a new %s after SIGUSR1" % logfile)
    d.signal(signal.SIGHUP)
    T.wait_until(lambda: d.metric("placesd_generation") == 2.0, 60,
                 "placesd_generation == 2")
    T.wait_until(lambda: size(logfile) > 0, 30,
                 "new lines in the reopened %s" % logfile)
    # once reopened, nothing more goes to the renamed files
    n_old_access = size(access + ".1")
    n_old_log = size(logfile + ".1")
    for _ in range(10):
        d.get("/healthz")
    d.signal(signal.SIGHUP)
    T.wait_until(lambda: d.metric("placesd_generation") == 3.0, 60,
                 "placesd_generation == 3")
    T.check_eq(size(access + ".1"), n_old_access,
               "size of the renamed access log (still written to)")
    T.check_eq(size(logfile + ".1"), n_old_log,
               "size of the renamed log (still written to)")
    with open(logfile, errors="replace") as f:
        lines = [ln for ln in f.read().splitlines() if ln.strip()]
    T.check(lines, "reopened log is empty")
    rc = d.stop()
    T.assert_clean_exit(d, rc, "SIGTERM")


def test_log_line_format():
    """Spec: 'YYYY-MM-DDTHH:MM:SS.mmmZ LEVEL ROLE[pid]: func: message'."""
    import re
    d = T.Daemon(workers=1, conf={"log": {"level": "debug"}})
    d.start()
    d.signal(signal.SIGHUP)
    T.wait_until(lambda: d.metric("placesd_generation") == 2.0, 60,
                 "placesd_generation == 2")
    rc = d.stop()
    T.assert_clean_exit(d, rc, "SIGTERM")
    pat = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
                     r"(debug|info|warn|error) "
                     r"(master|worker \d+|ranker)\[\d+\]: [A-Za-z_][\w]*: \S")
    lines = [ln for ln in d.log_text().splitlines() if ln.strip()]
    T.check(lines, "no log lines")
    bad = [ln for ln in lines if not pat.match(ln)]
    T.check(not bad, "%d of %d log lines do not follow the format, e.g. %r"
            % (len(bad), len(lines), bad[:5]))
    roles = {pat.match(ln).group(2).split()[0] for ln in lines}
    T.check("master" in roles, "no master lines in the log")


def test_reload_restart_only_keys():
    """listen and workers change only on restart: a reload keeps the old
    values (and logs a warning) but still succeeds."""
    d = T.Daemon(workers=2)
    d.start()
    newport = T.free_port()
    conf = T.merge_conf(d.conf, {"server": {
        "listen": "127.0.0.1:%d" % newport, "workers": 3}})
    d.write_config(conf)
    d.signal(signal.SIGHUP)
    T.wait_until(lambda: d.metric("placesd_generation") == 2.0, 60,
                 "placesd_generation == 2")
    T.check_eq(d.metric("placesd_reloads_total", 0, result="ok"), 1.0,
               'reloads_total{result="ok"}')
    T.check_eq(d.metric("placesd_config_last_reload_successful"), 1.0,
               "config_last_reload_successful")

    def gen2():
        ws = d.workers()
        return sorted((s, g) for _, s, g in ws) == [(0, 2), (1, 2)]
    T.wait_until(gen2, 40, "exactly slots 0 and 1 in generation 2")
    st, _, _ = d.get("/healthz")
    T.check_eq(st, 200, "/healthz on the old port after the reload")
    T.check(T.port_is_free(newport), "the reload bound the new port %d"
            % newport)
    text = d.log_text()
    warn = [ln for ln in text.splitlines()
            if " warn " in ln and ("listen" in ln or "restart" in ln)]
    T.check(warn, "no warning that server.listen needs a restart")
    rc = d.stop()
    T.assert_clean_exit(d, rc, "SIGTERM")


CAP = 8     # STATS_MAX_DRAINING: generations draining at once


def test_reload_caps_draining_generations():
    """At most CAP generations drain at once: the oldest is killed to make
    room, even if it still has a request in flight."""
    d = T.Daemon(workers=1, conf=LONG)
    d.start()
    sleepers = []
    for i in range(CAP + 2):
        gen = i + 1
        th, res = T.start_sleeper(d, 60000, timeout=120)
        sleepers.append((gen, th, res))
        # every earlier sleeper still holds a connection open (the oldest
        # ones may have been cut already): wait for this one to be accepted
        T.wait_until(lambda: d.metric("placesd_http_connections_open", 0)
                     >= 1 + sum(1 for _, t, _ in sleepers if t.is_alive()),
                     30,
                     "the sleeper of generation %d to be accepted" % gen)
        d.signal(signal.SIGHUP)

        def took():
            m = d.metrics()
            if T.metric(m, "placesd_reloads_total", 0, result="failed") > 0:
                return "failed"
            return T.metric(m, "placesd_generation") == gen + 1 and "ok"
        r = T.wait_until(took, 60, "placesd_generation == %d" % (gen + 1))
        T.check(r == "ok", "reload %d (with %d generations draining) failed"
                % (gen, min(gen - 1, CAP)))
        T.wait_until(lambda: any(g == gen + 1 for _, _, g in d.workers()),
                     30, "a worker of generation %d" % (gen + 1))
    # CAP + 3 generations started, CAP + 2 of them hold a 60 s request:
    # the current one and CAP draining may remain
    def capped():
        gens = sorted({g for _, _, g in d.workers()})
        return gens if len(gens) <= CAP + 1 else None
    gens = T.wait_until(capped, 30, "at most %d generations of workers"
                        % (CAP + 1))
    T.log("worker generations alive: %r" % gens)
    T.check(CAP + 3 in gens, "the newest generation is not running: %r"
            % gens)
    T.check(1 not in gens and 2 not in gens,
            "the oldest draining generations were not killed: %r" % gens)
    for gen, th, res in sleepers[:2]:
        th.join(30)
        T.check(not th.is_alive(), "the sleeper of killed generation %d "
                "still waits" % gen)
    for gen, th, res in sleepers[2:]:
        T.check(th.is_alive(), "the sleeper of draining generation %d ended: "
                "%r" % (gen, res))
    d.signal(signal.SIGQUIT)
    rc = d.wait_exit(30)
    T.check(rc is not None, "no exit within 30 s of SIGQUIT")
    T.check(not d.leftovers(), "processes left behind")


def test_hup_burst():
    """20 SIGHUPs back to back (reloads during reloads): the daemon settles
    on one generation, counts every reload it did, keeps serving."""
    d = T.Daemon(workers=2)
    d.start()
    for _ in range(20):
        d.signal(signal.SIGHUP)
        time.sleep(0.01)
    last = [None, 0]

    def settled():
        m = d.metrics()
        g = T.metric(m, "placesd_generation")
        ws = d.workers()
        stable = (g == last[0] and len(ws) == 2
                  and all(w[2] == g for w in ws))
        if g != last[0]:
            last[0], last[1] = g, 0
        else:
            last[1] += 1
        return stable and last[1] >= 5 and (g, m)
    g, m = T.wait_until(settled, 90, "one settled generation of workers",
                        interval=0.2)
    T.log("20 SIGHUPs gave generation %d" % g)
    T.check(g >= 2, "no reload happened")
    T.check_eq(T.metric(m, "placesd_reloads_total", 0, result="ok"), g - 1,
               'reloads_total{result="ok"} vs generation')
    T.check_eq(T.metric(m, "placesd_reloads_total", 0, result="failed"), 0.0,
               'reloads_total{result="failed"}')
    T.check_eq(T.metric(m, "placesd_worker_restarts_total", 0, role="worker"),
               0.0, "worker restarts")
    T.check_eq(len(d.rankers()), 1, "rankers")
    for _ in range(20):
        T.check_eq(d.get("/healthz")[0], 200, "/healthz after the burst")
    T.check_eq(d.get("/readyz")[0], 200, "/readyz after the burst")
    rc = d.stop()
    T.assert_clean_exit(d, rc, "SIGTERM")


def test_term_during_reload():
    d = T.Daemon(workers=2)
    d.start()
    d.signal(signal.SIGHUP)
    d.signal(signal.SIGTERM)
    rc = d.wait_exit(40)
    T.assert_clean_exit(d, rc, "SIGTERM right after SIGHUP")


def test_hup_during_stop_is_ignored():
    d = T.Daemon(workers=1, conf=LONG)
    d.start()
    th, res = T.start_sleeper(d, 3000, timeout=60)
    T.wait_connections_open(d, 2)
    size = len(d.log_text())
    d.signal(signal.SIGTERM)
    signal_taken(d, signal.SIGTERM, size)
    d.signal(signal.SIGHUP)
    th.join(60)
    T.check("answer" in res and res["answer"][0] == 200,
            "in-flight request during stop + SIGHUP: %r" % res)
    rc = d.wait_exit(40)
    T.assert_clean_exit(d, rc, "SIGTERM then SIGHUP")
    T.check(not d.workers(), "workers remain")


def test_sd_notify():
    """READY=1 once serving; RELOADING=1 + MONOTONIC_USEC, then READY=1
    around a reload; STOPPING=1 on SIGTERM (one datagram to NOTIFY_SOCKET)."""
    import socket
    d = T.Daemon(workers=2)
    path = d.path("notify.sock")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        ns.bind(path)
        os.chmod(path, 0o777)
        ns.settimeout(0.2)
        msgs = []

        def drain():
            while True:
                try:
                    msgs.append(ns.recv(65536).decode("utf-8", "replace"))
                except socket.timeout:
                    return

        def got(pred, start=0):
            drain()
            return any(pred(m) for m in msgs[start:])

        def fields(m):
            return dict(ln.split("=", 1) for ln in m.splitlines() if "=" in ln)
        d.start(env={"NOTIFY_SOCKET": path})
        T.wait_until(lambda: got(lambda m: fields(m).get("READY") == "1"),
                     30, "READY=1 after start")
        n = len(msgs)
        d.signal(signal.SIGHUP)
        T.wait_until(lambda: got(lambda m: fields(m).get("RELOADING") == "1",
                                 n), 30, "RELOADING=1 after SIGHUP")
        rel = [i for i in range(n, len(msgs))
               if fields(msgs[i]).get("RELOADING") == "1"][0]
        usec = fields(msgs[rel]).get("MONOTONIC_USEC", "")
        T.check(usec.isdigit(), "RELOADING=1 without MONOTONIC_USEC: %r"
                % msgs[rel])
        now_us = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        T.check(0 < int(usec) <= now_us, "MONOTONIC_USEC=%s is not a "
                "CLOCK_MONOTONIC time (now %d)" % (usec, now_us))
        T.wait_until(lambda: got(lambda m: fields(m).get("READY") == "1",
                                 rel + 1), 60, "READY=1 after the reload")
        T.check_eq(d.metric("placesd_generation"), 2.0, "generation")
        n = len(msgs)
        d.signal(signal.SIGTERM)
        rc = d.wait_exit(40)
        T.wait_until(lambda: got(lambda m: fields(m).get("STOPPING") == "1",
                                 n), 10, "STOPPING=1 after SIGTERM")
        T.assert_clean_exit(d, rc, "SIGTERM")
        T.log("notify messages: %r" % msgs)
    finally:
        ns.close()


TESTS = [
    test_sigterm_finishes_inflight_request,
    test_second_sigterm_is_fast,
    test_second_sigint_is_fast,
    test_sigquit_is_immediate,
    test_reload_invalid_then_valid,
    test_sigusr1_reopens_logs,
    test_log_line_format,
    test_reload_restart_only_keys,
    test_reload_caps_draining_generations,
    test_hup_burst,
    test_term_during_reload,
    test_hup_during_stop_is_ignored,
    test_sd_notify,
]

if __name__ == "__main__":
    T.run_main(TESTS)
