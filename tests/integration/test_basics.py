#!/usr/bin/env python3
"""placesd basics: command line (-t, -V, -h, bad options), the health,
readiness, metrics and error endpoints, every worker slot serving, process
titles, a busy port (exit 2) and dropping privileges to [server] user."""

import json
import os
import pwd
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import placesd_test as T  # noqa: E402


def cmd(*args, timeout=60):
    return T.run([T.placesd_path()] + list(args), timeout=timeout)


def write(d, name, text):
    p = d.path(name)
    with open(p, "w") as f:
        f.write(text)
    return p


# --------------------------------------------------------------------------
# command line

def test_check_good_file_does_not_bind():
    d = T.Daemon()      # not started: only for its temp dir and config
    # Hold the configured port with a plain listener (no SO_REUSEPORT):
    # a -t that binds would fail with EADDRINUSE.
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.bind((d.host, d.port))
        holder.listen(8)
        r = cmd("-t", "-c", d.conf_path)
        out = r.stdout + r.stderr
        T.check_eq(r.returncode, 0, "-t on a good file: exit code (output %r)"
                   % out)
        T.check("configuration file %s is ok" % d.conf_path in out,
                "-t output lacks 'placesd: configuration file %s is ok': %r"
                % (d.conf_path, out))
    finally:
        holder.close()
    T.check(not os.path.exists(d.conf["ranker"]["socket"]),
            "-t created the ranker socket %s" % d.conf["ranker"]["socket"])
    T.check(T.port_is_free(d.port), "port %d not free after -t" % d.port)


def _bad_file(d, name, body, line, key):
    """body is a config text; line/key: where the error must be reported."""
    p = write(d, name, body)
    r = cmd("-t", "-c", p)
    want = "%s:%d: %s" % (p, line, key)
    T.check_eq(r.returncode, 2, "-t on %s: exit code (stderr %r)"
               % (name, r.stderr))
    T.check(want in r.stderr, "-t on %s: stderr does not name %r: %r"
            % (name, want, r.stderr))
    return r


def test_check_bad_files():
    d = T.Daemon()
    sock = d.conf["ranker"]["socket"]
    head = "[server]\nlisten = 127.0.0.1:%d\n" % d.port
    tail = "[ranker]\nsocket = %s\n" % sock
    # unknown key (line 3)
    _bad_file(d, "unknown.conf", head + "bogus_key = 1\n" + tail,
              3, "server.bogus_key")
    # duration without unit (line 3)
    _bad_file(d, "nounit.conf", head + "shutdown_timeout = 5\n" + tail,
              3, "server.shutdown_timeout")
    # bad value (line 5)
    _bad_file(d, "badvalue.conf",
              head + "workers = 2\n[log]\nlevel = loud\n" + tail,
              5, "log.level")
    # out of range (line 3)
    _bad_file(d, "range.conf", head + "workers = 65\n" + tail,
              3, "server.workers")
    # bad boolean (line 2)
    _bad_file(d, "badbool.conf",
              "[debug]\nroutes = maybe\n" + head + tail, 2, "debug.routes")
    # several errors: each one named with its line
    r = _bad_file(d, "two.conf",
                  head + "bogus_key = 1\nbacklog = 0\n" + tail,
                  3, "server.bogus_key")
    want = "%s:4: server.backlog" % d.path("two.conf")
    T.check(want in r.stderr, "-t did not report the second error %r: %r"
            % (want, r.stderr))
    # unknown section
    p = write(d, "section.conf", head + tail + "[bogus]\nx = 1\n")
    r = cmd("-t", "-c", p)
    T.check_eq(r.returncode, 2, "-t with an unknown section: exit code")
    T.check("%s:" % p in r.stderr and "bogus" in r.stderr,
            "-t with an unknown section: stderr does not name file and "
            "section: %r" % r.stderr)
    # missing file
    r = cmd("-t", "-c", d.path("does-not-exist.conf"))
    T.check_eq(r.returncode, 2, "-t on a missing file: exit code")
    T.check("does-not-exist.conf" in r.stderr,
            "-t on a missing file: stderr does not name it: %r" % r.stderr)


def test_bad_file_refuses_to_start():
    d = T.Daemon(conf={"server": {"read_timeout": "10"}})
    d.start(wait_ready=False)
    rc = d.wait_exit(60)
    T.check_eq(rc, 2, "start with an invalid file: exit code")
    T.check("server.read_timeout" in d.log_text(),
            "start with an invalid file: log does not name the key")
    T.check(T.port_is_free(d.port), "port still in use")


def test_version():
    r = cmd("-V")
    T.check_eq(r.returncode, 0, "-V exit code")
    m = re.match(r"^placesd (\S+)\s*$", r.stdout)
    T.check(m, "-V output is not 'placesd VERSION': %r" % r.stdout)
    src = os.environ.get("top_srcdir")
    if src and os.path.exists(os.path.join(src, "configure.ac")):
        with open(os.path.join(src, "configure.ac")) as f:
            mm = re.search(r"AC_INIT\(\[placesd\],\s*\[([^\]]+)\]", f.read())
        if mm:
            T.check_eq(m.group(1), mm.group(1), "-V version vs configure.ac")


def test_help_and_bad_options():
    r = cmd("-h")
    T.check_eq(r.returncode, 0, "-h exit code")
    T.check("-c" in (r.stdout + r.stderr), "-h prints no usage: %r"
            % (r.stdout + r.stderr))
    for args in (["-Z"], ["--no-such-option"], ["-c"], ["extra-arg"]):
        r = cmd(*args)
        T.check_eq(r.returncode, 2, "placesd %s: exit code (stderr %r)"
                   % (" ".join(args), r.stderr))


# --------------------------------------------------------------------------
# HTTP endpoints on one shared daemon (workers = 2)

_shared = {}


def shared():
    d = _shared.get("d")
    if d is None:
        d = T.Daemon(workers=2, name="shared", persistent=True)
        _shared["d"] = d
        d.start()
    elif not d.alive():
        T.fail("the shared daemon is not running (exit code %s)"
               % (d.proc.returncode if d.proc else "never started"))
    return d


def _json_type(hdrs, what):
    ct = hdrs.get("Content-Type", "")
    T.check(ct.startswith("application/json"),
            "%s: Content-Type %r is not application/json" % (what, ct))


def test_healthz():
    d = shared()
    st, hdrs, doc = d.get_json("/healthz")
    T.check_eq(st, 200, "/healthz status")
    _json_type(hdrs, "/healthz")
    T.check_eq(doc.get("status"), "ok", "/healthz status field")
    T.check(doc.get("worker") in (0, 1), "/healthz worker field: %r" % doc)
    T.check_eq(doc.get("generation"), 1, "/healthz generation field")
    st, hdrs, body = d.request("HEAD", "/healthz")
    T.check_eq(st, 200, "HEAD /healthz status")
    T.check_eq(body, b"", "HEAD /healthz body")


def test_readyz():
    d = shared()
    st, hdrs, doc = d.get_json("/readyz")
    T.check_eq(st, 200, "/readyz status")
    _json_type(hdrs, "/readyz")
    T.check_eq(doc.get("status"), "ready", "/readyz status field")


def test_not_found():
    d = shared()
    for path in ("/no/such/path", "/debug/sleep?ms=10"):   # debug is off
        st, hdrs, doc = d.get_json(path)
        T.check_eq(st, 404, "GET %s status" % path)
        _json_type(hdrs, path)
        err = doc.get("error") if isinstance(doc, dict) else None
        T.check(isinstance(err, dict), "%s: no error object: %r" % (path, doc))
        T.check_eq(err.get("code"), "not_found", "%s error.code" % path)
        T.check(isinstance(err.get("message"), str) and err["message"],
                "%s: error.message missing: %r" % (path, doc))


def test_method_not_allowed():
    d = shared()
    for method in ("POST", "DELETE", "PUT"):
        st, hdrs, body = d.request(
            method, "/healthz", body=b"{}",
            headers={"Content-Type": "application/json"})
        T.check_eq(st, 405, "%s /healthz status" % method)
        allow = hdrs.get("Allow")
        T.check(allow is not None, "%s /healthz: 405 without Allow" % method)
        methods = {m.strip() for m in allow.split(",")}
        T.check("GET" in methods, "Allow header %r lacks GET" % allow)
        T.check(method not in methods, "Allow header %r lists %s"
                % (allow, method))
        doc = json.loads(body)
        T.check_eq(doc["error"]["code"], "method_not_allowed",
                   "%s /healthz error.code" % method)


def test_openapi_json():
    """GET /openapi.json is docs/openapi.json byte for byte (the YAML as
    JSON: check-openapi.sh), an OpenAPI 3.1 document naming every route;
    through the contract's proxy like the rest (its own answer checked
    against itself); HEAD has the same length and no body."""
    d = shared()
    with open(os.path.join(os.environ.get("top_srcdir", "."), "docs",
                           "openapi.json"), "rb") as f:
        want = f.read()
    st, hdrs, body = d.get("/openapi.json")
    T.check_eq(st, 200, "GET /openapi.json status")
    _json_type(hdrs, "/openapi.json")
    T.check_eq(hdrs.get("Cache-Control"), "public, max-age=300",
               "/openapi.json Cache-Control")
    T.check(body == want, "GET /openapi.json is not docs/openapi.json: %d "
            "bytes for %d" % (len(body), len(want)))
    doc = json.loads(body.decode("utf-8"))
    T.check_eq(doc.get("openapi"), "3.1.0", "openapi version")
    for path in ("/healthz", "/openapi.json", "/v1/nearby", "/v1/offers",
                 "/v1/offers/stream", "/v1/places/{id}"):
        T.check(path in doc["paths"], "/openapi.json lacks %s" % path)
    T.check("bearer" in doc["components"]["securitySchemes"],
            "no bearer security scheme")
    st, hdrs, body = d.request("HEAD", "/openapi.json")
    T.check_eq((st, body), (200, b""), "HEAD /openapi.json")
    T.check_eq(hdrs.get("Content-Length"), str(len(want)),
               "HEAD /openapi.json Content-Length")


class _WrongServer(threading.Thread):
    """An HTTP server on 127.0.0.1 that answers every GET with 200 and a
    body that is not what docs/openapi.yaml says (a city without its
    name, an unknown member): for the contract's proxy to catch."""

    def __init__(self):
        import http.server

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                b = b'{"cities":[{"id":"x","lat":1,"lon":2,"places":3}],"x":1}'
                self.send_response(200)
                self.send_header("Content-Type",
                                 "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(b)))
                self.send_header("X-Request-Id", "abc")
                self.send_header("ETag", '"0123456789abcdef"')
                self.end_headers()
                self.wfile.write(b)

            def log_message(self, *a):
                pass
        super().__init__(daemon=True)
        self.srv = http.server.HTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]

    def run(self):
        self.srv.serve_forever(poll_interval=0.1)

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def test_contract_proxy_catches_a_wrong_answer():
    """The harness's contract check itself: in front of a server whose
    answer breaks the document, a request through the proxy fails with
    the violations named, and the test would fail even if it caught that."""
    argv, why = T.prism_argv()
    if argv is None or not T._CONTRACT["on"]:
        T.skip("the contract is not checked here: %s"
               % (why or "PLACESD_CONTRACT=0"))
    d = T.Daemon()      # not started: its port is the wrong server's
    srv = _WrongServer()
    srv.start()
    try:
        d.port = srv.port
        try:
            d.get("/v1/cities")
        except T.TestFailure as e:
            msg = str(e)
        else:
            T.fail("a wrong answer passed the contract's proxy")
        for want in ("disagrees with docs/openapi.yaml", "name",
                     "additional"):
            T.check(want in msg, "the failure does not say %r: %s"
                    % (want, msg))
        T.check_eq(len(d.contract_failures), 1, "failures recorded")
        del d.contract_failures[:]
    finally:
        srv.close()


def test_metrics_format():
    d = shared()
    d.get("/healthz")
    st, hdrs, body = d.get("/metrics")
    T.check_eq(st, 200, "/metrics status")
    ct = hdrs.get("Content-Type", "")
    T.check(ct.startswith("text/plain"), "/metrics Content-Type %r" % ct)
    T.check("version=0.0.4" in ct, "/metrics Content-Type %r lacks "
            "version=0.0.4" % ct)
    text = body.decode("utf-8")
    m = T.parse_metrics(text)
    T.check("# TYPE placesd_http_requests_total counter" in text,
            "no '# TYPE placesd_http_requests_total counter'")
    ok = T.metric(m, "placesd_http_requests_total", code_class="2xx")
    T.check(ok is not None and ok >= 1,
            'placesd_http_requests_total{code_class="2xx"} = %r' % ok)
    for name in ("placesd_generation", "placesd_config_last_reload_successful",
                 "placesd_http_connections_open", "placesd_ranker_up"):
        T.check(any(k[0] == name for k in m), "metric %s missing" % name)
    T.check_eq(T.metric(m, "placesd_generation"), 1.0, "placesd_generation")
    T.check_eq(T.metric(m, "placesd_config_last_reload_successful"), 1.0,
               "placesd_config_last_reload_successful")
    T.check(T.metric(m, "placesd_http_request_duration_seconds_count")
            is not None, "no placesd_http_request_duration_seconds_count")
    T.check(T.metric(m, "placesd_http_request_duration_seconds_bucket",
                     le="+Inf") is not None,
            'no placesd_http_request_duration_seconds_bucket{le="+Inf"}')
    for role in ("worker", "ranker"):
        T.check_eq(T.metric(m, "placesd_worker_restarts_total", role=role),
                   0.0, 'placesd_worker_restarts_total{role="%s"}' % role)
    # counters grow with requests
    before = ok
    for _ in range(5):
        d.get("/healthz")
    after = d.metric("placesd_http_requests_total", code_class="2xx")
    T.check(after >= before + 5, "2xx counter went %r -> %r after 5 requests"
            % (before, after))
    nf_before = d.metric("placesd_http_requests_total", 0.0, code_class="4xx")
    d.get("/nope")
    nf_after = d.metric("placesd_http_requests_total", 0.0, code_class="4xx")
    T.check(nf_after >= nf_before + 1, "4xx counter went %r -> %r after a 404"
            % (nf_before, nf_after))


def test_every_worker_serves():
    d = shared()
    n = d.workers_configured

    def per_slot():
        m = d.metrics()
        return [T.metric(m, "placesd_worker_http_requests_total", slot=str(s))
                for s in range(n)]
    before = per_slot()
    T.check(all(v is not None for v in before),
            "placesd_worker_http_requests_total missing a slot: %r" % before)
    seen_workers = set()
    # The kernel hashes each 4-tuple to one reuseport socket: use many
    # distinct connections (http.client opens a new one per request).
    for i in range(400):
        st, _, body = d.get("/healthz")
        T.check_eq(st, 200, "/healthz status (request %d)" % i)
        seen_workers.add(json.loads(body).get("worker"))
        if i >= 40 and len(seen_workers) >= n:
            break
    after = per_slot()
    T.check(seen_workers == set(range(n)),
            "/healthz answered only from workers %r" % sorted(seen_workers))
    grew = [after[s] > before[s] for s in range(n)]
    T.check(all(grew), "per-slot counters did not all grow: %r -> %r"
            % (before, after))
    T.log("per-slot requests %r -> %r" % (before, after))


def test_process_titles():
    d = shared()
    n = d.workers_configured
    T.check(T.MASTER_RE.match(T.proc_cmdline(d.pid) or ""),
            "master title is %r" % T.proc_cmdline(d.pid))
    kids = d.children()
    workers = d.workers()
    T.check_eq(sorted((s, g) for _, s, g in workers),
               [(s, 1) for s in range(n)], "worker (slot, gen) titles")
    rankers = d.rankers()
    T.check_eq([g for _, g in rankers], [1], "ranker titles (gens)")
    T.check_eq(len(kids), n + 1, "number of children (titles %r)"
               % [t for _, t in kids])
    # the same titles through ps(1), as an operator sees them
    r = T.run(["ps", "-o", "pid=,args=", "--ppid", str(d.pid)])
    if r.returncode == 0:
        for s in range(n):
            T.check("placesd: worker %d (gen 1)" % s in r.stdout,
                    "ps does not show worker %d: %r" % (s, r.stdout))
        T.check("placesd: ranker (gen 1)" in r.stdout,
                "ps does not show the ranker: %r" % r.stdout)


def test_shared_daemon_stops_cleanly():
    d = shared()
    rc = d.stop()
    T.assert_clean_exit(d, rc, "SIGTERM")
    T.check(T.port_is_free(d.port), "port %d still in use after stop" % d.port)
    T.check(not T.pid_alive(d.pid), "master still alive")


# --------------------------------------------------------------------------
# startup failures and privileges

def test_busy_port_exits_2():
    d = T.Daemon(workers=2)
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.bind((d.host, d.port))
        holder.listen(8)
        d.start(wait_ready=False)
        rc = d.wait_exit(60)
        T.check(rc is not None, "placesd kept running on a busy port")
        T.check_eq(rc, 2, "exit code on a busy port")
        addr = "127.0.0.1:%d" % d.port
        text = d.log_text()
        T.check(addr in text, "log does not name %s: %r"
                % (addr, text[-2000:]))
        T.check(re.search(r"\berror\b", text),
                "no error-level line in the log: %r" % text[-2000:])
        left = d.leftovers()
        T.check(not left, "processes left behind: %r" % left)
    finally:
        holder.close()


def test_drop_privileges():
    if os.geteuid() != 0:
        T.skip("not root")
    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        T.skip("no user nobody")
    d = T.Daemon(workers=2, conf={"server": {"user": "nobody"}})
    d.start()
    ws = d.workers()
    T.check_eq(len(ws), 2, "number of workers")
    for pid, slot, _ in ws + [(p, "ranker", g) for p, g in d.rankers()]:
        st = T.proc_status(pid)
        T.check(st is not None, "worker %s vanished" % slot)
        uids = st["Uid"].split()
        gids = st["Gid"].split()
        T.check_eq(uids, [str(pw.pw_uid)] * 4, "Uid of %s (pid %d)"
                   % (slot, pid))
        T.check_eq(gids, [str(pw.pw_gid)] * 4, "Gid of %s (pid %d)"
                   % (slot, pid))
        groups = st.get("Groups", "").split()
        T.check("0" not in groups, "%s still has supplementary group 0: %r"
                % (slot, groups))
    st, _, _ = d.get("/healthz")
    T.check_eq(st, 200, "/healthz as nobody")
    st, _, _ = d.get("/readyz")
    T.check_eq(st, 200, "/readyz as nobody")
    rc = d.stop()
    T.assert_clean_exit(d, rc, "SIGTERM")


# --------------------------------------------------------------------------
# limits and hostile clients (a daemon with small limits)

def _raw(d, data, timeout=30):
    """Send raw bytes; return everything read until EOF (or timeout)."""
    c = socket.create_connection((d.host, d.port), timeout=timeout)
    try:
        if data:
            c.sendall(data)
        out = b""
        while True:
            try:
                b = c.recv(65536)
            except socket.timeout:
                return out, "timeout"
            except ConnectionResetError:
                return out, "reset"
            if not b:
                return out, "eof"
            out += b
    finally:
        c.close()


def _status(raw):
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", raw)
    return int(m.group(1)) if m else None


def _limits_daemon():
    d = T.Daemon(workers=1, conf={"server": {
        "max_header_size": "1k", "read_timeout": "1s",
        "keepalive_timeout": "1s"}})
    d.start()
    return d


def _still_fine(d):
    st, _, _ = d.get("/healthz")
    T.check_eq(st, 200, "/healthz afterwards")
    T.check_eq(d.metric("placesd_worker_restarts_total", role="worker"), 0.0,
               "worker restarts")
    T.wait_until(lambda: d.metric("placesd_http_connections_open") == 1.0,
                 30, "placesd_http_connections_open back to 1")
    rc = d.stop()
    T.assert_clean_exit(d, rc, "SIGTERM")


def test_header_limit():
    d = _limits_daemon()
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 4096 + \
        b"\r\nConnection: close\r\n\r\n"
    out, how = _raw(d, big)
    T.check_eq(_status(out), 431, "status for 4k of headers with "
               "max_header_size = 1k (got %r, %s)" % (out[:200], how))
    # many small headers add up too
    many = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-H%d: %s\r\n" % (i, b"b" * 40) for i in range(100)) + \
        b"Connection: close\r\n\r\n"
    out, how = _raw(d, many)
    T.check_eq(_status(out), 431, "status for 100 headers (5k) with "
               "max_header_size = 1k (got %r, %s)" % (out[:200], how))
    _still_fine(d)


def test_read_timeout():
    d = _limits_daemon()
    # a request that never completes: cut after read_timeout, with 408
    t0 = time.monotonic()
    out, how = _raw(d, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", timeout=30)
    T.check(how in ("eof", "reset"), "a partial request was not cut after "
            "read_timeout = 1s (waited %.0fs)" % (time.monotonic() - t0))
    T.check_eq(_status(out), 408, "status for a request not received in "
               "time (got %r)" % out[:200])
    # a connection that sends nothing at all is cut too
    out, how = _raw(d, b"", timeout=30)
    T.check(how in ("eof", "reset"), "a silent connection was not cut")
    _still_fine(d)


def test_keepalive_timeout():
    d = _limits_daemon()
    out, how = _raw(d, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
                    timeout=30)
    T.check_eq(_status(out), 200, "keep-alive request status")
    T.check(how == "eof", "an idle keep-alive connection was not closed "
            "after keepalive_timeout = 1s (%s)" % how)
    _still_fine(d)


def test_malformed_input():
    d = _limits_daemon()
    for junk in (b"\x00\x01\x02garbage\r\n\r\n",
                 b"GET / HTTP/9.9\r\n\r\n",
                 b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -5"
                 b"\r\n\r\n",
                 b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                 b"chunked\r\n\r\nzz\r\n",
                 b"GET /%%%%/../../etc/passwd HTTP/1.1\r\nHost: x\r\n"
                 b"Connection: close\r\n\r\n",
                 b"\r\n" * 2000):
        out, how = _raw(d, junk)
        st = _status(out)
        # 505 is the answer to an unsupported HTTP version (RFC 9110)
        T.check(st is None or 400 <= st < 500 or st == 505,
                "malformed request %r answered %r" % (junk[:40], out[:200]))
    # clients that go away at once, or right after sending a request
    for _ in range(50):
        c = socket.create_connection((d.host, d.port), timeout=10)
        c.close()
    for _ in range(20):
        c = socket.create_connection((d.host, d.port), timeout=10)
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        c.close()
    _still_fine(d)


def test_ipv6_listen():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        T.skip("no IPv6 loopback")
    port = T.free_port("::1")
    d = T.Daemon(workers=2, conf={"server": {"listen": "[::1]:%d" % port}})
    d.host, d.port = "::1", port
    d.start()
    st, _, body = d.get("/healthz")
    T.check_eq(st, 200, "/healthz over IPv6")
    rc = d.stop()
    T.assert_clean_exit(d, rc, "SIGTERM")


def test_unknown_user_exits_2():
    if os.geteuid() != 0:
        T.skip("not root")
    d = T.Daemon(workers=1, conf={"server": {"user": "no-such-user-xyz"}})
    d.start(wait_ready=False)
    rc = d.wait_exit(60)
    T.check(rc is not None, "placesd kept running with an unknown user")
    T.check_eq(rc, 2, "exit code with an unknown [server] user")
    T.check("no-such-user-xyz" in d.log_text(), "log does not name the user")
    T.check(not d.leftovers(), "processes left behind")


TESTS = [
    test_version,
    test_help_and_bad_options,
    test_check_good_file_does_not_bind,
    test_check_bad_files,
    test_bad_file_refuses_to_start,
    test_healthz,
    test_readyz,
    test_not_found,
    test_method_not_allowed,
    test_metrics_format,
    test_openapi_json,
    test_contract_proxy_catches_a_wrong_answer,
    test_every_worker_serves,
    test_process_titles,
    test_shared_daemon_stops_cleanly,
    test_busy_port_exits_2,
    test_drop_privileges,
    test_unknown_user_exits_2,
    test_header_limit,
    test_read_timeout,
    test_keepalive_timeout,
    test_malformed_input,
    test_ipv6_listen,
]

if __name__ == "__main__":
    T.run_main(TESTS, setup=T.use_contract)
