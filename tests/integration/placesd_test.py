"""placesd integration test harness (Python 3 standard library only).

Used by the tests/integration/test_*.py scripts, which automake runs as
`/usr/bin/python3 tests/integration/test_X.py` with PLACESD, top_srcdir and
top_builddir in the environment.  Exit codes follow automake: 0 pass,
1 fail, 77 skip (every test of the file skipped), 99 hard error; a file
where some tests passed and some were skipped passes, and its log ends
with the names of the skipped ones.

Rules the tests follow (CI is a busy 2-core machine, maybe under ASan):
  * assert on counts, states and answers, never on speed;
  * every wait is a poll loop with a generous deadline (wait_until);
  * everything started is stopped, even on failure: each Daemon runs in its
    own session (process group) and is killed as a group in stop(), at the
    end of each test, at exit and on SIGTERM/SIGINT/SIGALRM of the test.
"""

import atexit
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

EXIT_PASS, EXIT_FAIL, EXIT_SKIP, EXIT_ERROR = 0, 1, 77, 99

# How long a test may take at most before it is aborted (seconds); the runner
# arms SIGALRM with it so that a hung daemon can never hang `make check`.
DEFAULT_TEST_TIMEOUT = 120
START_TIMEOUT = 60      # ASan + busy machine: startup can be slow
STOP_TIMEOUT = 40       # SIGTERM -> exit; then SIGKILL of the group

WORKER_RE = re.compile(r"^placesd: worker (\d+) \(gen (\d+)\)")
RANKER_RE = re.compile(r"^placesd: ranker \(gen (\d+)\)")
MASTER_RE = re.compile(r"^placesd: master")


class TestFailure(AssertionError):
    pass


class TestSkip(Exception):
    pass


class TestTimeout(Exception):
    pass


def fail(msg):
    raise TestFailure(msg)


def skip(msg):
    raise TestSkip(msg)


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def check_eq(got, want, what):
    if got != want:
        raise TestFailure("%s: got %r, want %r" % (what, got, want))


def log(msg):
    sys.stdout.write("# %s\n" % msg)
    sys.stdout.flush()


# --------------------------------------------------------------------------
# environment

def program_path(var, name):
    """Absolute path of a built program: $var, else $top_builddir/src/name;
    skip when neither is set, hard error when it is not executable."""
    p = os.environ.get(var)
    if not p:
        bd = os.environ.get("top_builddir")
        if bd and os.path.exists(os.path.join(bd, "src", name)):
            p = os.path.join(bd, "src", name)
    if not p:
        sys.stdout.write("SKIP: %s is not set\n" % var)
        sys.exit(EXIT_SKIP)
    p = os.path.abspath(p)
    if not os.access(p, os.X_OK):
        sys.stdout.write("ERROR: %s=%s is not an executable file\n"
                         % (var, p))
        sys.exit(EXIT_ERROR)
    return p


def placesd_path():
    """Absolute path of the daemon under test, or skip/hard error."""
    return program_path("PLACESD", "placesd")


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def free_port(host="127.0.0.1"):
    """A TCP port that nothing uses right now.  Taken below the ephemeral
    range when possible: load generators in parallel tests churn through
    ephemeral ports, and a client socket on our port would make the
    daemon's bind fail."""
    import random
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    lo, _ = _ephemeral_range()
    if lo > 12000:
        for _ in range(200):
            port = random.randint(10000, lo - 1)
            with socket.socket(fam, socket.SOCK_STREAM) as s:
                try:
                    s.bind((host, port))
                except OSError:
                    continue
                return port
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_is_free(port, host="127.0.0.1"):
    """True if a plain (no SO_REUSEPORT) bind+listen on the port works."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, port))
        s.listen(1)
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_until(pred, timeout, what="condition", interval=0.05):
    """Poll pred() until it returns a true value; return that value.
    Raise TestFailure naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except (OSError, http.client.HTTPException, ValueError) as e:
            last_exc = e
        if time.monotonic() >= deadline:
            extra = " (last error: %r)" % (last_exc,) if last_exc else ""
            raise TestFailure("timed out after %ss waiting for %s%s"
                              % (timeout, what, extra))
        time.sleep(interval)
        interval = min(interval * 1.5, 0.25)


def run(argv, timeout=60, **kw):
    """Run a short command; returns CompletedProcess with text output."""
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout, **kw)


# --------------------------------------------------------------------------
# /proc helpers

def proc_stat(pid):
    """(state, ppid, pgrp) of pid, or None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read().decode("latin-1")
    except OSError:
        return None
    # comm may contain spaces and parentheses: split at the last ')'
    rest = data[data.rfind(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[2])


def proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()


def proc_status(pid):
    """/proc/PID/status as a dict of strings, or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    d = {}
    for ln in lines:
        k, _, v = ln.partition(":")
        d[k] = v.strip()
    return d


def all_pids():
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            out.append(int(name))
    return out


def pid_alive(pid):
    st = proc_stat(pid)
    return st is not None and st[0] != "Z"


def group_members(pgid):
    """Live (non-zombie) processes of process group pgid."""
    out = []
    for pid in all_pids():
        st = proc_stat(pid)
        if st and st[2] == pgid and st[0] != "Z":
            out.append(pid)
    return out


def kill_own_group(proc, pgid, title):
    """SIGKILL process group pgid, led by our child proc: all of it while
    proc is not reaped (until then no other group can take the number),
    afterwards only its members whose program (or title) starts with
    title.
    A reaped leader's number is free: on a busy machine it soon names
    another group (a PostgreSQL backend of another test leads its own),
    and a blind killpg() would kill that."""
    if proc is not None and proc.poll() is None:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
        return
    for pid in group_members(pgid):
        argv = (proc_cmdline(pid) or "").split()
        if argv and os.path.basename(argv[0]).startswith(title):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


# --------------------------------------------------------------------------
# Prometheus text parsing

_LABEL_RE = re.compile(
    r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def _unescape(v):
    return v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


def parse_metrics(text):
    """Prometheus text format 0.0.4 -> {(name, frozenset(labels)): float}."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "{" in line:
            name, _, rest = line.partition("{")
            lbl, _, val = rest.rpartition("}")
            labels = {}
            pos = 0
            while pos < len(lbl):
                m = _LABEL_RE.match(lbl, pos)
                if not m:
                    raise ValueError("bad label set in metrics line %r" % line)
                labels[m.group(1)] = _unescape(m.group(2))
                pos = m.end()
        else:
            name, _, val = line.partition(" ")
            labels = {}
        fields = val.split()
        if not fields:
            raise ValueError("no value in metrics line %r" % line)
        out[(name.strip(), frozenset(labels.items()))] = float(fields[0])
    return out


def metric(metrics, name, default=None, **labels):
    return metrics.get((name, frozenset(labels.items())), default)


def admin_token(text):
    """A new temp dir (0755) holding a file "token" (0600) with text: an
    [offers] admin_token_file.  Returns (dir, path); the caller removes
    the dir."""
    d = tempfile.mkdtemp(prefix="placesd-tok-")
    os.chmod(d, 0o755)
    path = os.path.join(d, "token")
    with open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)
    return d, path


def dump_tail(name, label, text, lines):
    """The last lines of a process's log into the test's output, marked
    as comments."""
    txt = text.splitlines()
    sys.stdout.write("# ---- %s: %s (last %d of %d lines)\n"
                     % (name, label, min(lines, len(txt)), len(txt)))
    for ln in txt[-lines:]:
        sys.stdout.write("#   %s\n" % ln)
    sys.stdout.flush()


# --------------------------------------------------------------------------
# daemon control

_DAEMONS = []           # every Daemon ever created (for cleanup)


def _ini(conf):
    lines = []
    for section, keys in conf.items():
        lines.append("[%s]" % section)
        for k, v in keys.items():
            if v is None:
                continue
            if isinstance(v, bool):
                v = "on" if v else "off"
            lines.append("%s = %s" % (k, v))
        lines.append("")
    return "\n".join(lines)


def merge_conf(base, extra):
    out = {s: dict(k) for s, k in base.items()}
    for s, keys in (extra or {}).items():
        out.setdefault(s, {}).update(keys)
    return out


def _no_core_dumps():
    # crash tests abort children on purpose: keep cores out of CI
    import resource
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def www_dir():
    """The source tree's www/: the page at / ([http] static_dir)."""
    top = os.environ.get("top_srcdir") or os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(top, "www")


class Daemon:
    """One placesd master in its own temp dir and process group."""

    def __init__(self, conf=None, workers=2, name="placesd", persistent=False):
        self.bin = placesd_path()
        # persistent: shared by several tests, cleaned up only at exit
        self.persistent = persistent
        self.dir = tempfile.mkdtemp(prefix="placesd-it-")
        # workers may run as another user and must reach the ranker socket
        os.chmod(self.dir, 0o755)
        self.name = name
        self.host = "127.0.0.1"
        self.port = free_port(self.host)
        self.conf_path = os.path.join(self.dir, "placesd.conf")
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.proc = None
        self.pid = None
        self.seen_pids = set()      # every child pid children() has seen
        self.rc = None
        self._logf = None
        self.contract_failures = []  # what the contract's proxy found
        self.base_conf = {
            "server": {
                "listen": "%s:%d" % (self.host, self.port),
                "workers": workers,
                "shutdown_timeout": "5s",
            },
            "log": {"level": "info"},
            "ranker": {
                "socket": os.path.join(self.dir, "ranker.sock"),
                "threads": 1,
            },
            # the page at / from the source tree, not the installed copy
            "http": {"static_dir": www_dir()},
        }
        if not (conf or {}).get("database", {}).get("conninfo"):
            # /readyz needs a database: a shared, migrated throwaway one
            self.base_conf["database"] = {
                "conninfo": shared_postgres().conninfo}
        self.conf = merge_conf(self.base_conf, conf)
        self.write_config(self.conf)
        _DAEMONS.append(self)

    # ---- configuration
    def path(self, name):
        return os.path.join(self.dir, name)

    def write_config(self, conf=None, text=None):
        """Write the config file atomically (a dict, or raw text)."""
        if text is None:
            text = _ini(conf if conf is not None else self.conf)
        tmp = self.conf_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, self.conf_path)

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    @property
    def workers_configured(self):
        return int(self.conf["server"]["workers"])

    # ---- lifecycle
    def start(self, wait_ready=True, timeout=START_TIMEOUT, env=None,
              wrapper=None):
        """wrapper: argv to run placesd under (valgrind, say)."""
        self._logf = open(self.log_path, "ab")
        penv = dict(os.environ)
        penv.pop("NOTIFY_SOCKET", None)
        penv.update(env or {})
        self.proc = subprocess.Popen(
            list(wrapper or []) + [self.bin, "-c", self.conf_path], env=penv,
            stdin=subprocess.DEVNULL, stdout=self._logf, stderr=self._logf,
            cwd=self.dir, start_new_session=True, close_fds=True,
            preexec_fn=_no_core_dumps)
        self.pid = self.proc.pid
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=START_TIMEOUT):
        def ready():
            if self.proc.poll() is not None:
                fail("placesd exited with code %s during startup"
                     % self.proc.returncode)
            # direct: the contract's proxy is for what the tests ask, not
            # for this wait
            st, _, _ = self.get("/healthz", timeout=5, direct=True)
            if st != 200:
                return False
            # several connections: each worker decides on its own
            return all(self.get("/readyz", timeout=5, direct=True)[0] == 200
                       for _ in range(4))
        wait_until(ready, timeout, "/healthz and /readyz to answer 200")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if not self.alive():
            fail("cannot send %s: placesd is not running (exit code %s)"
                 % (signal.Signals(sig).name, self.proc.returncode))
        os.kill(self.pid, sig)

    def wait_exit(self, timeout):
        """Wait for the master to exit; return its code or None on timeout."""
        try:
            self.rc = self.proc.wait(timeout=timeout)
            return self.rc
        except subprocess.TimeoutExpired:
            return None

    def kill_group(self):
        """SIGKILL the whole process group and anything we know of."""
        if self.pid is None:
            return
        for pid in {p for p, _ in self.children()} | self.seen_pids:
            if not pid_alive(pid) or not (proc_cmdline(pid) or "").startswith(
                    "placesd:"):
                continue
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        kill_own_group(self.proc, self.pid, "placesd")
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def stop(self, sig=None, timeout=STOP_TIMEOUT):
        """Graceful stop (SIGTERM unless sig); returns the exit code (None
        if it had to be killed).  Always leaves nothing of the group behind."""
        if sig is None:
            sig = signal.SIGTERM
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is None:
            self.children()         # remember them for leftovers()
            try:
                os.kill(self.pid, sig)
            except OSError:
                pass
            rc = self.wait_exit(timeout)
        if rc is None:
            log("placesd did not exit %ss after %s; killing the group"
                % (timeout, signal.Signals(sig).name))
        self.rc = rc
        self.kill_group()
        return rc

    def leftovers(self, timeout=15):
        """Processes of the daemon's group still alive after the master
        exited (children must go with it); waits up to timeout."""
        if self.pid is None:
            return []
        end = time.monotonic() + timeout
        while True:
            left = set(group_members(self.pid))
            # children that left the process group (setsid) still count
            for p in self.seen_pids:
                if pid_alive(p) and (proc_cmdline(p) or "").startswith(
                        "placesd:"):
                    left.add(p)
            if not left or time.monotonic() >= end:
                return [(p, proc_cmdline(p)) for p in sorted(left)]
            time.sleep(0.1)

    def cleanup(self):
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.kill_group()
            elif self.pid is not None:
                kill_own_group(self.proc, self.pid, "placesd")
        finally:
            if self._logf:
                self._logf.close()
                self._logf = None
            if os.environ.get("PLACESD_KEEP_TMP"):
                log("kept %s" % self.dir)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)

    # ---- HTTP
    def request(self, method, path, headers=None, body=None, timeout=10,
                direct=False):
        """One request over a fresh connection: (status, headers, body).
        Through the contract's proxy when the file uses it (use_contract),
        unless direct or a method it does not take."""
        if (direct or not _CONTRACT["on"] or method not in ("GET", "POST")
                or not _prism_takes_body(body)
                or not _prism_keeps_target(path)
                or "accept-encoding" in {k.lower() for k in headers or {}}):
            return http_request(self.host, self.port, method, path, headers,
                                body, timeout)
        proxy = contract_proxy()
        h = dict(headers or {})
        h["X-Placesd-Upstream"] = ("[%s]:%d" if ":" in self.host
                                   else "%s:%d") % (self.host, self.port)
        t0 = time.monotonic()
        st, hdrs, data = http_request(proxy.host, proxy.port, method, path,
                                      h, body, timeout)
        _CONTRACT["requests"] += 1
        _CONTRACT["seconds"] += time.monotonic() - t0
        bad = contract_violations(method, path, st, hdrs)
        if bad:
            msg = ("%s %s answered %d, which disagrees with docs/openapi.yaml:"
                   "\n    %s\n    body: %r" % (method, path, st,
                                               "\n    ".join(bad),
                                               data[:300]))
            self.contract_failures.append(msg)
            fail(msg)
        return st, hdrs, data

    def get(self, path, timeout=10, headers=None, direct=False):
        return self.request("GET", path, headers=headers, timeout=timeout,
                            direct=direct)

    def get_json(self, path, timeout=10, direct=False):
        st, hdrs, body = self.get(path, timeout=timeout, direct=direct)
        try:
            doc = json.loads(body.decode("utf-8"))
        except ValueError:
            fail("GET %s: %d with a body that is not JSON: %r"
                 % (path, st, body[:300]))
        return st, hdrs, doc

    def metrics(self, timeout=10):
        # direct: tests poll it; its text is not what the contract checks
        st, hdrs, body = self.get("/metrics", timeout=timeout, direct=True)
        if st != 200:
            fail("GET /metrics answered %d: %r" % (st, body[:300]))
        return parse_metrics(body.decode("utf-8"))

    def metric(self, name, default=None, **labels):
        return metric(self.metrics(), name, default, **labels)

    # ---- processes
    def children(self):
        """[(pid, title)] of the master's live children."""
        if self.pid is None:
            return []
        out = []
        for pid in all_pids():
            st = proc_stat(pid)
            if st and st[1] == self.pid and st[0] != "Z":
                out.append((pid, proc_cmdline(pid) or ""))
        self.seen_pids.update(p for p, _ in out)
        return out

    def workers(self):
        """[(pid, slot, gen)] of children titled as workers."""
        out = []
        for pid, title in self.children():
            m = WORKER_RE.match(title)
            if m:
                out.append((pid, int(m.group(1)), int(m.group(2))))
        return sorted(out, key=lambda t: (t[2], t[1]))

    def rankers(self):
        """[(pid, gen)] of children titled as rankers."""
        out = []
        for pid, title in self.children():
            m = RANKER_RE.match(title)
            if m:
                out.append((pid, int(m.group(1))))
        return out

    def log_text(self):
        return read_log(self.log_path)

    def extra_logs(self):
        paths = []
        for key in ("file", "access_log"):
            p = self.conf.get("log", {}).get(key)
            if p:
                paths.append(p)
        return paths

    SANITIZER_RE = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer|"
                              r"ThreadSanitizer)|runtime error: |"
                              r"WARNING: AddressSanitizer")

    def sanitizer_report(self):
        """The first sanitizer report line in the daemon's logs, if any."""
        for p in [self.log_path] + self.extra_logs():
            try:
                with open(p, "rb") as f:
                    txt = f.read().decode("utf-8", "replace")
            except OSError:
                continue
            m = self.SANITIZER_RE.search(txt)
            if m:
                start = txt.rfind("\n", 0, m.start()) + 1
                end = txt.find("\n", m.end())
                return txt[start:end if end >= 0 else None]
        return None

    def dump_log(self, lines=150):
        def tail(path, label):
            try:
                with open(path, "rb") as f:
                    txt = f.read().decode("utf-8", "replace")
            except OSError:
                return
            dump_tail(self.name, label, txt, lines)
        tail(self.log_path, "stderr")
        for p in self.extra_logs():
            tail(p, p)


# --------------------------------------------------------------------------
# PostgreSQL: a throwaway cluster per test file

_POSTGRES = []          # every Postgres ever created (for cleanup)


def placesctl_path():
    """Absolute path of placesctl, or skip/hard error."""
    return program_path("PLACESCTL", "placesctl")


def migrate_and_seed(d, places, seed):
    """placesctl migrate and seed into d's database (its configuration's
    conninfo): demo data of `places` places from `seed`."""
    for cmd in (["migrate", "--dir", os.environ.get("SQL_DIR", "")],
                ["seed", "--places", str(places), "--seed", str(seed)]):
        r = run([placesctl_path(), "-c", d.conf_path] + [c for c in cmd if c],
                timeout=600)
        if r.returncode != 0:
            fail("placesctl %s: %s %s" % (cmd[0], r.stdout, r.stderr))


# Cyrillic in Latin letters by ICAO Doc 9303 (2013), the Russian
# passport's table, as the ranker's analyzer writes it (analyze.h)
TRANSLIT = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "i", "k", "l", "m",
     "n", "o", "p", "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch",
     "ie", "y", "", "e", "iu", "ia"]))


def translit(s):
    """s with its Russian letters in Latin ones, case kept."""
    out = []
    for c in s:
        low = c.lower()
        t = TRANSLIT.get(low, c)
        out.append(t.capitalize() if c != low and t else t)
    return "".join(out)


def biggest_city(pg):
    """(id, lat, lon) of the city with the most places."""
    row = pg.psql("SELECT c.id, c.lat, c.lon FROM cities c JOIN places p "
                  "ON p.city_id = c.id GROUP BY c.id ORDER BY count(*) DESC, "
                  "c.id LIMIT 1")[0]
    return row[0], float(row[1]), float(row[2])


def open_files_limit(pid):
    """(soft, hard) of a process's RLIMIT_NOFILE, as prlimit spells them."""
    with open("/proc/%d/limits" % pid) as f:
        for ln in f:
            if ln.startswith("Max open files"):
                return tuple(ln.split()[3:5])
    fail("no open files limit for %d" % pid)


def pg_bindir():
    """Directory of initdb/pg_ctl/postgres: $PG_BINDIR, the newest
    /usr/lib/postgresql/N/bin, pg_config --bindir, or the PATH; None if
    PostgreSQL is not installed."""
    cands = []
    if os.environ.get("PG_BINDIR"):
        cands.append(os.environ["PG_BINDIR"])
    try:
        vers = sorted((int(v) for v in os.listdir("/usr/lib/postgresql")
                       if v.isdigit()), reverse=True)
        cands += ["/usr/lib/postgresql/%d/bin" % v for v in vers]
    except OSError:
        pass
    if shutil.which("pg_config"):
        try:
            cands.append(subprocess.run(
                ["pg_config", "--bindir"], stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, text=True,
                timeout=10).stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    if shutil.which("initdb"):
        cands.append(os.path.dirname(shutil.which("initdb")))
    for d in cands:
        if d and all(os.access(os.path.join(d, b), os.X_OK)
                     for b in ("initdb", "pg_ctl", "postgres")):
            return d
    return None


class Locker:
    """Holds an ACCESS EXCLUSIVE lock on tables in a psql session until
    release(): the queries on them wait meanwhile."""

    def __init__(self, pg, tables):
        self.p = subprocess.Popen(
            pg.psql_argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        self.p.stdin.write("BEGIN; LOCK TABLE %s IN ACCESS EXCLUSIVE MODE; "
                           "SELECT 'locked';\n" % ", ".join(tables))
        self.p.stdin.flush()
        while True:
            line = self.p.stdout.readline()
            if not line:
                fail("psql ended before taking the lock")
            if "locked" in line:
                break

    def release(self):
        if self.p.poll() is None:
            self.p.stdin.write("ROLLBACK;\n\\q\n")
            self.p.stdin.flush()
            self.p.wait(timeout=30)


class Postgres:
    """A throwaway PostgreSQL cluster in a temp dir: trust auth on a Unix
    socket in a private directory, no TCP, fsync off.  As root, initdb and
    pg_ctl, which refuse to run as root, run as the postgres user (runuser).
    Raises TestSkip when PostgreSQL is not installed.  Nothing runs until
    start(); everything is stopped and removed at exit."""

    USER = "app"
    DB = "postgres"

    def __init__(self, name="pg"):
        self.bindir = pg_bindir()
        if self.bindir is None:
            skip("PostgreSQL binaries (initdb, pg_ctl, postgres) not found")
        self.as_user = None
        if os.geteuid() == 0:
            import pwd
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                skip("running as root and there is no postgres user")
            if not shutil.which("runuser"):
                skip("running as root and runuser is missing")
            self.as_user = "postgres"
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="placesd-pg-")
        self.data = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "postgres.log")
        if self.as_user:
            shutil.chown(self.dir, self.as_user, self.as_user)
        os.chmod(self.dir, 0o700 if not self.as_user else 0o755)
        self.initialized = False
        self.frozen = []
        _POSTGRES.append(self)

    @property
    def conninfo(self):
        return "host=%s user=%s dbname=%s" % (self.dir, self.USER, self.DB)

    def _pg(self, argv, timeout=60, check_rc=True):
        prog = argv[0]
        argv = [os.path.join(self.bindir, prog)] + list(argv[1:])
        if self.as_user:
            argv = ["runuser", "-u", self.as_user, "--"] + argv
        r = run(argv, timeout=timeout, cwd=self.dir)
        if check_rc and r.returncode != 0:
            fail("%s failed (exit %d): %s%s\n%s" % (
                prog, r.returncode, r.stdout, r.stderr,
                self.log_text()[-2000:]))
        return r

    def init(self):
        self._pg(["initdb", "-D", self.data, "-U", self.USER,
                  "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8",
                  "--no-sync"], timeout=120)
        self.initialized = True

    def start(self, timeout=60):
        """initdb on first use, then pg_ctl start -w."""
        if not self.initialized:
            self.init()
        opts = ("-c listen_addresses='' -c unix_socket_directories=%s "
                "-c fsync=off -c synchronous_commit=off "
                "-c full_page_writes=off" % self.dir)
        self._pg(["pg_ctl", "-D", self.data, "-l", self.log_path, "-w",
                  "-t", str(timeout), "-o", opts, "start"],
                 timeout=timeout + 10)
        return self

    def stop(self, mode="fast", timeout=60):
        """pg_ctl stop (a frozen cluster is thawed first)."""
        self.thaw()
        if self.running():
            self._pg(["pg_ctl", "-D", self.data, "-m", mode, "-w", "-t",
                      str(timeout), "stop"], timeout=timeout + 10)

    def restart(self, mode="fast", timeout=60):
        self.thaw()
        # -l again: pg_ctl restart does not remember it, and a postmaster
        # writing to our pipes would keep run() waiting for their EOF
        self._pg(["pg_ctl", "-D", self.data, "-l", self.log_path, "-m",
                  mode, "-w", "-t", str(timeout), "restart"],
                 timeout=timeout + 10)

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                pid = int(f.readline().strip())
        except (OSError, ValueError):
            return None
        # a stale file (a killed postmaster) may name a pid since reused
        if not pid_alive(pid) or self.data not in (proc_cmdline(pid) or ""):
            return None
        return pid

    def running(self):
        return self.postmaster_pid() is not None

    def pids(self):
        """The postmaster and every process it started."""
        pm = self.postmaster_pid()
        if pm is None:
            return []
        out = [pm]
        for pid in all_pids():
            st = proc_stat(pid)
            if st and st[1] == pm and st[0] != "Z":
                out.append(pid)
        return out

    def freeze(self):
        """SIGSTOP every process of the cluster (a hung server)."""
        pids = self.pids()
        check(pids, "freeze: PostgreSQL is not running")
        for pid in pids:
            try:
                os.kill(pid, signal.SIGSTOP)
                self.frozen.append(pid)
            except OSError:
                pass

    def thaw(self):
        """SIGCONT what freeze() stopped."""
        while self.frozen:
            try:
                os.kill(self.frozen.pop(), signal.SIGCONT)
            except OSError:
                pass

    def psql_bin(self):
        p = os.path.join(self.bindir, "psql")
        return p if os.access(p, os.X_OK) else (shutil.which("psql") or p)

    def psql_argv(self):
        """argv of an interactive-free psql session on this cluster."""
        return [self.psql_bin(), "-X", "-q", "-A", "-t", "-v",
                "ON_ERROR_STOP=1", "-d", self.conninfo]

    def lock(self, tables):
        """A Locker holding an ACCESS EXCLUSIVE lock on tables."""
        return Locker(self, tables)

    def waiting_queries(self, text):
        """Queries containing text that wait for a lock."""
        rows = self.psql("SELECT count(*) FROM pg_stat_activity WHERE "
                         "wait_event_type = 'Lock' AND query LIKE '%%%s%%'"
                         % text)
        return int(rows[0][0])

    def sessions(self, like):
        """Client sessions whose application_name is LIKE like."""
        return int(self.psql("SELECT count(*) FROM pg_stat_activity WHERE "
                             "application_name LIKE '%s'" % like)[0][0])

    def psql(self, sql, timeout=60):
        """Runs sql (stopping at the first error); returns the rows of the
        last statement as lists of strings, None for NULL."""
        r = run([self.psql_bin(), "-X", "-q", "-A", "-t", "-v",
                 "ON_ERROR_STOP=1", "-F", "\x1f", "-R", "\x1e",
                 "-P", "null=\x1d", "-d", self.conninfo, "-c", sql],
                timeout=timeout)
        if r.returncode != 0:
            fail("psql: %s: %s" % (sql[:200], r.stderr.strip()))
        out = r.stdout
        if out.endswith("\n"):
            out = out[:-1]
        rows = []
        for rec in out.split("\x1e"):
            if rec == "":
                continue
            rows.append([None if v == "\x1d" else v
                         for v in rec.split("\x1f")])
        return rows

    def log_text(self):
        return read_log(self.log_path)

    def cleanup(self):
        try:
            self.thaw()
            if self.running():
                self._pg(["pg_ctl", "-D", self.data, "-m", "immediate",
                          "-w", "stop"], check_rc=False)
            for pid in self.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        finally:
            if os.environ.get("PLACESD_KEEP_TMP"):
                log("kept %s" % self.dir)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)


class Standby(Postgres):
    """A hot standby of primary, streaming from it: pg_basebackup -R on
    first start, in a temp dir of its own (its own Unix socket)."""

    def __init__(self, primary, name="standby"):
        super().__init__(name=name)
        self.primary = primary

    def init(self):
        self._pg(["pg_basebackup", "-D", self.data, "-R", "-X", "stream",
                  "-c", "fast", "-h", self.primary.dir, "-U", self.USER],
                 timeout=300)
        self.initialized = True

    def caught_up(self):
        """True once it has replayed everything the primary has written."""
        want = self.primary.psql("SELECT pg_current_wal_lsn()")[0][0]
        got = self.psql("SELECT pg_last_wal_replay_lsn() >= '%s'" % want)
        return got[0][0] == "t"

    def promote(self, timeout=60):
        self._pg(["pg_ctl", "-D", self.data, "-w", "-t", str(timeout),
                  "promote"], timeout=timeout + 10)


_SHARED_PG = []


def http_request(host, port, method, path, headers=None, body=None,
                 timeout=10):
    """One request over a fresh connection: (status, headers, body)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


def http_get(url, timeout=10):
    """GET an http:// URL: (status, headers, body bytes)."""
    u = urllib.parse.urlsplit(url)
    return http_request(u.hostname, u.port or 80, "GET",
                        u.path + ("?" + u.query if u.query else ""),
                        timeout=timeout)


def read_log(path):
    """A log file's text ("" if there is none yet)."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def shared_postgres():
    """One cluster per test process, with the schema applied (the worker's
    prepared statements need the tables): what a Daemon uses unless its
    configuration names a database.  Skips the test file when PostgreSQL
    is not installed."""
    if not _SHARED_PG:
        pg = Postgres(name="shared-pg")
        pg.start()
        sql_dir = os.environ.get("SQL_DIR") or os.path.join(
            os.environ.get("top_srcdir", "."), "src", "sql")
        for f in sorted(os.listdir(sql_dir)):
            if f.endswith(".sql"):
                with open(os.path.join(sql_dir, f)) as fh:
                    pg.psql(fh.read())
        _SHARED_PG.append(pg)
    return _SHARED_PG[0]


# --------------------------------------------------------------------------
# placesd-events: the demo's external events service, misbehaving on demand

def events_path():
    """Absolute path of placesd-events, or skip/hard error."""
    return program_path("PLACESD_EVENTS", "placesd-events")


class ChildProcess:
    """What the harness's helper processes share (placesd-events,
    HAProxy): started by the subclass in a session of its own (self.proc,
    self.pid), their output in self.log_path; self.title names them in
    messages."""

    title = "child"

    def kill_group(self):
        if self.pid is None:
            return
        kill_own_group(self.proc, self.pid, self.title)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def stop(self, sig=None, timeout=15):
        """SIGTERM (or sig), wait up to timeout, then SIGKILL of the
        group; returns the exit code (None if it had to be killed)."""
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is None:
            try:
                os.kill(self.pid, sig or signal.SIGTERM)
            except OSError:
                pass
            try:
                rc = self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log("%s did not exit %ss after the signal; killing it"
                    % (self.title, timeout))
                rc = None
        self.rc = rc
        self.kill_group()
        return rc

    def log_text(self):
        return read_log(self.log_path)

    def dump_log(self, lines=150):
        dump_tail(self.name, "stderr", self.log_text(), lines)


class EventsService(ChildProcess):
    """placesd-events on a free port of 127.0.0.1, in its own temp dir and
    process group.  Registered in _DAEMONS like a Daemon: the runner stops
    it after the test that created it (and cleanup_all at exit) and looks
    for sanitizer reports in its stderr."""

    persistent = False
    title = "placesd-events"

    def __init__(self, args=(), name="events"):
        self.bin = events_path()
        self.args = [str(a) for a in args]
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="placesd-events-")
        self.port_file = os.path.join(self.dir, "port")
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.host = "127.0.0.1"
        self.port = None
        self.proc = None
        self.pid = None
        self.rc = None
        self._logf = None
        _DAEMONS.append(self)

    def start(self, timeout=30, port=0):
        """Runs it with -l 127.0.0.1:PORT (0: a free one) -p DIR/port
        plus args; waits until the port file exists and GET /_control
        answers 200."""
        try:
            os.unlink(self.port_file)
        except OSError:
            pass
        self.port = None
        if self._logf is None:
            self._logf = open(self.log_path, "ab")
        argv = [self.bin, "-l", "%s:%d" % (self.host, port), "-p",
                self.port_file] + self.args
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self._logf,
            stderr=self._logf, cwd=self.dir, start_new_session=True,
            close_fds=True, preexec_fn=_no_core_dumps)
        self.pid = self.proc.pid

        def ready():
            if self.proc.poll() is not None:
                fail("placesd-events exited with code %s during startup: "
                     "%s" % (self.proc.returncode, self.log_text()[-1000:]))
            if self.port is None:
                try:
                    with open(self.port_file) as f:
                        self.port = int(f.read().strip())
                except (OSError, ValueError):
                    return False
            return self.request("GET", "/_control", timeout=5)[0] == 200
        wait_until(ready, timeout, "placesd-events to answer GET /_control")
        return self

    @property
    def base_url(self):
        return "http://%s:%d" % (self.host, self.port)

    @property
    def url(self):
        """The value for placesd's [upstream] events_url: placesd asks
        <url>/<date>?city=<city>."""
        return self.base_url + "/events"

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def request(self, method, path, headers=None, timeout=10):
        """One request over a fresh connection: (status, headers, body)."""
        return http_request(self.host, self.port, method, path, headers,
                            None, timeout)

    def get(self, path, timeout=10, headers=None):
        return self.request("GET", path, headers=headers, timeout=timeout)

    def _json(self, method, path, timeout):
        st, _, body = self.request(method, path, timeout=timeout)
        if st != 200:
            fail("%s %s answered %d: %r" % (method, path, st, body[:300]))
        try:
            return json.loads(body.decode("utf-8"))
        except ValueError:
            fail("%s %s: not JSON: %r" % (method, path, body[:300]))

    def control(self, timeout=10, **params):
        """POST /_control?<params> (fault=, delay_ms=, size=, times=,
        reset=); returns the state JSON; fails unless it answers 200."""
        import urllib.parse
        q = urllib.parse.urlencode([(k, str(v)) for k, v in params.items()])
        return self._json("POST", "/_control" + ("?" + q if q else ""),
                          timeout)

    def state(self, timeout=10):
        """GET /_control: fault, remaining, delay_ms, size, requests,
        open_connections (not counting this request's), by_fault."""
        return self._json("GET", "/_control", timeout)

    def signal(self, sig):
        if not self.alive():
            fail("cannot send %s: placesd-events is not running (exit "
                 "code %s)" % (signal.Signals(sig).name,
                               self.proc.returncode))
        os.kill(self.pid, sig)

    def sanitizer_report(self):
        txt = self.log_text()
        m = Daemon.SANITIZER_RE.search(txt)
        if not m:
            return None
        start = txt.rfind("\n", 0, m.start()) + 1
        end = txt.find("\n", m.end())
        return txt[start:end if end >= 0 else None]

    def cleanup(self):
        try:
            if self.alive():
                self.kill_group()
        finally:
            if self._logf:
                self._logf.close()
                self._logf = None
            if os.environ.get("PLACESD_KEEP_TMP"):
                log("kept %s" % self.dir)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)


def cleanup_all():
    while _DAEMONS:
        d = _DAEMONS.pop()
        try:
            d.cleanup()
        except Exception:           # noqa: cleanup must go on
            traceback.print_exc()
    _contract_stop()
    # after the daemons: they hold connections to the clusters
    while _POSTGRES:
        pg = _POSTGRES.pop()
        try:
            pg.cleanup()
        except Exception:           # noqa: cleanup must go on
            traceback.print_exc()


atexit.register(cleanup_all)


def _on_term(signum, frame):
    # make automake's timeout or ^C run the finally blocks and atexit
    raise SystemExit(EXIT_ERROR)


def _on_alarm(signum, frame):
    raise TestTimeout("test exceeded its time limit")


# --------------------------------------------------------------------------
# runner

def _unlisted(tests):
    """The test_* functions of the tests' module that are not in tests: a
    test written and never run would pass unseen."""
    mod = sys.modules.get(tests[0].__module__) if tests else None
    if mod is None:
        return []
    names = {t.__name__ for t in tests}
    return sorted(n for n, v in vars(mod).items()
                  if n.startswith("test_") and callable(v)
                  and getattr(v, "__module__", None) == mod.__name__
                  and n not in names)


def main(tests, timeout=DEFAULT_TEST_TIMEOUT, setup=None, program=None):
    """Run each test function in order; print PASS/FAIL/SKIP per test.
    A test may carry a `timeout` attribute (seconds).  `setup` runs first:
    raising TestSkip there skips the whole file.  `program` finds the
    program under test (placesd_path unless given): skip when it is
    missing."""
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, _on_term)
    signal.signal(signal.SIGALRM, _on_alarm)
    only = set(sys.argv[1:])
    unlisted = _unlisted(tests)
    if unlisted:
        sys.stdout.write("ERROR: test functions not in the list given to "
                         "run_main: %s\n" % ", ".join(unlisted))
        return EXIT_ERROR
    (program or placesd_path)()
    if setup is not None:
        try:
            setup()
        except TestSkip as e:
            sys.stdout.write("SKIP: %s\n" % e)
            return EXIT_SKIP
    results = []
    for t in tests:
        name = t.__name__
        if only and name not in only:
            continue
        start_idx = len(_DAEMONS)
        shared_alive = [d for d in _DAEMONS if d.persistent and d.alive()]
        t0 = time.monotonic()
        status, reason = "PASS", ""
        signal.alarm(int(getattr(t, "timeout", timeout)))
        try:
            t()
        except TestSkip as e:
            status, reason = "SKIP", str(e)
        except (TestFailure, AssertionError, TestTimeout) as e:
            status, reason = "FAIL", str(e) or type(e).__name__
        except SystemExit:
            signal.alarm(0)
            raise
        except Exception as e:      # a bug in the test or an odd answer
            status = "FAIL"
            reason = "%s: %s\n%s" % (type(e).__name__, e,
                                     traceback.format_exc())
        finally:
            signal.alarm(0)
        mine = [d for d in _DAEMONS[start_idx:] if not d.persistent]
        for d in list(_DAEMONS):
            found = getattr(d, "contract_failures", None)
            if found:
                if status != "FAIL":
                    status, reason = "FAIL", ("the contract's proxy found "
                                              "%d: %s" % (len(found),
                                                          found[0]))
                del found[:]
        if status != "FAIL":
            for d in mine + shared_alive:
                rep = d.sanitizer_report()
                if rep:
                    status, reason = "FAIL", "sanitizer report: %s" % rep
                    break
        if status == "FAIL":
            for d in shared_alive + [d for d in _DAEMONS[start_idx:]
                                     if d.persistent] + mine:
                d.dump_log()
        for d in mine:
            try:
                d.cleanup()
            except Exception:
                traceback.print_exc()
            if d in _DAEMONS:
                _DAEMONS.remove(d)
        dt = time.monotonic() - t0
        line = "%s: %s (%.1fs)" % (status, name, dt)
        if reason:
            line += ": " + reason
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        results.append((status, name, reason))
    return _verdict(results)


def _verdict(results):
    """The file's exit status from its tests' (status, name, reason), with
    a last line that says it. automake counts files, not tests: a file
    whose every test was skipped exits 77 and shows as SKIP in the
    summary; one where some passed and some were skipped stays PASS and
    names the skipped ones here, at the end of its log."""
    statuses = [r[0] for r in results]
    skipped = ["%s (%s)" % (n, why) if why else n
               for st, n, why in results if st == "SKIP"]
    if not results:
        sys.stdout.write("ERROR: no test selected\n")
        return EXIT_ERROR
    if "FAIL" in statuses:
        sys.stdout.write("FAIL: %d of %d tests failed\n"
                         % (statuses.count("FAIL"), len(results)))
        rc = EXIT_FAIL
    elif len(skipped) == len(results):
        sys.stdout.write("SKIP: all %d tests were skipped\n" % len(results))
        return EXIT_SKIP
    else:
        rc = EXIT_PASS
    if skipped:
        sys.stdout.write("# skipped %d of %d: %s\n"
                         % (len(skipped), len(results), "; ".join(skipped)))
    sys.stdout.flush()
    return rc


def run_main(tests, **kw):
    try:
        rc = main(tests, **kw)
    except SystemExit:
        cleanup_all()
        raise
    except BaseException:
        traceback.print_exc()
        cleanup_all()
        sys.exit(EXIT_ERROR)
    cleanup_all()
    sys.exit(rc)


# --------------------------------------------------------------------------
# helpers shared by tests

def assert_clean_exit(d, rc, what="stop"):
    check(rc is not None, "%s: placesd did not exit in time" % what)
    check_eq(rc, 0, "%s: master exit code" % what)
    left = d.leftovers()
    check(not left, "%s: processes left behind after the master exited: %r"
          % (what, left))


def start_sleeper(d, ms, timeout=120):
    """GET /debug/sleep?ms=N in a thread; returns (thread, result dict)."""
    import threading
    res = {}

    def go():
        try:
            res["answer"] = d.get("/debug/sleep?ms=%d" % ms, timeout=timeout)
        except Exception as e:      # noqa: reported by the test
            res["error"] = e
    th = threading.Thread(target=go, daemon=True)
    th.start()
    return th, res


def wait_connections_open(d, n, timeout=30):
    """Wait until the connections gauge shows at least n (the /metrics
    request itself counts as one)."""
    def ok():
        v = d.metric("placesd_http_connections_open")
        if v is None or v < n:
            return False
        # twice in a row: a just-closed earlier connection may still count
        time.sleep(0.1)
        v = d.metric("placesd_http_connections_open")
        return v is not None and v >= n
    wait_until(ok, timeout, "placesd_http_connections_open >= %d" % n)


# --------------------------------------------------------------------------
# an offer stream subscriber

class Stream:
    """One SSE subscriber of GET /v1/offers/stream on a raw socket, to d
    (anything with host and port: a Daemon, an HAProxy): decodes the
    chunked body and the events, id:, event:, data:, retry: and
    comments.  Used by test_offers.py and test_nodes.py."""

    def __init__(self, d, last_id=None, city=None, rcvbuf=None,
                 version="HTTP/1.1"):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(30)
        self.s.connect((d.host, d.port))
        path = "/v1/offers/stream" + ("?city=" + city if city else "")
        head = "GET %s %s\r\nHost: x\r\nAccept: text/event-stream\r\n" \
            % (path, version)
        if last_id is not None:
            head += "Last-Event-ID: %s\r\n" % last_id
        self.s.sendall((head + "\r\n").encode())
        self.raw = b""
        self.wire = b""         # every byte after the answer's head
        self.body = b""
        self.text = ""
        self.events = []        # (id, event, data dict)
        self.comments = []
        self.order = []         # "hb" and offer ids, as they came
        self.retry = None
        self.closed = False
        self.status = None
        self.headers = {}
        self._read_head()

    def _recv(self, timeout):
        self.s.settimeout(timeout)
        try:
            b = self.s.recv(65536)
        except socket.timeout:
            return False
        except OSError:
            b = b""
        if not b:
            self.closed = True
            return False
        self.raw += b
        if self.status is not None:
            self.wire += b
        return True

    def _read_head(self):
        while b"\r\n\r\n" not in self.raw:
            if not self._recv(30):
                fail("stream: no answer head")
        head, self.raw = self.raw.split(b"\r\n\r\n", 1)
        self.wire = self.raw
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self._dechunk()

    def _dechunk(self):
        if self.headers.get("transfer-encoding") != "chunked":
            self.body += self.raw
            self.raw = b""
        while self.raw:
            line, sep, rest = self.raw.partition(b"\r\n")
            if not sep:
                return
            n = int(line.split(b";")[0], 16)
            if len(rest) < n + 2:
                return
            self.body += rest[:n]
            self.raw = rest[n + 2:]
            if n == 0:
                self.ended = True
        self._parse()

    def _parse(self):
        text = self.body.decode("utf-8")
        while "\n\n" in text:
            block, text = text.split("\n\n", 1)
            ev = {}
            for ln in block.split("\n"):
                if ln.startswith(":"):
                    self.comments.append(ln[1:].strip())
                    if ln[1:].strip() == "hb":
                        self.order.append("hb")
                    continue
                k, _, v = ln.partition(":")
                ev[k] = v[1:] if v.startswith(" ") else v
            if "retry" in ev:
                self.retry = int(ev["retry"])
            if "data" in ev:
                self.events.append((int(ev["id"]), ev.get("event"),
                                    json.loads(ev["data"])))
                self.order.append(int(ev["id"]))
        self.body = text.encode("utf-8")

    def pump(self, timeout=0.2):
        if self._recv(timeout):
            self._dechunk()
            return True
        return False

    def wait(self, pred, timeout=30, what="events"):
        deadline = time.monotonic() + timeout
        while not pred(self):
            if self.closed:
                fail("stream closed while waiting for %s" % what)
            if time.monotonic() > deadline:
                fail("timed out waiting for %s; got %s" % (
                    what, [e[0] for e in self.events]))
            self.pump(0.5)

    def ids(self):
        return [e[0] for e in self.events]

    def worker(self):
        for c in self.comments:
            if "(worker " in c:
                return int(c.split("(worker ")[1].rstrip(")"))
        return None

    def close(self):
        self.s.close()


# --------------------------------------------------------------------------
# HAProxy in front of placesd nodes

HAPROXY_CONF = """\
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    retries 3
    option redispatch 1

frontend placesd
    bind :80
    default_backend placesd

backend placesd
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host placesd
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2
    server node 127.0.0.1:8080 check
"""


def haproxy_path():
    """Debian's haproxy, or skip."""
    p = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not os.access(p, os.X_OK):
        skip("haproxy is not installed (apt-get install haproxy)")
    return p


class HAProxy(ChildProcess):
    """haproxy -db (foreground) on a free port of 127.0.0.1 in a temp dir
    and a process group of its own, in front of servers, a list of
    (name, host, port).  conf is the configuration after "global"
    (HAPROXY_CONF unless given; etc/haproxy.cfg.example's works): its
    "bind" line is replaced by the test's address, its "server" lines by
    one per server with the options of the first; the "global" section is
    the test's own, with the runtime API on a socket in the temp dir.
    Registered in _DAEMONS like a Daemon: stopped after the test that
    created it, or at exit when persistent."""

    title = "haproxy"

    def __init__(self, servers, conf=None, name="haproxy", persistent=False):
        self.bin = haproxy_path()
        self.persistent = persistent
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="placesd-haproxy-")
        self.host = "127.0.0.1"
        self.port = free_port(self.host)
        self.sock_path = os.path.join(self.dir, "admin.sock")
        self.conf_path = os.path.join(self.dir, "haproxy.cfg")
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.proc = None
        self.pid = None
        self.rc = None
        self._logf = None
        self.servers = list(servers)
        _DAEMONS.append(self)       # its temp dir goes even if -c fails
        self.write_config(conf if conf is not None else HAPROXY_CONF)

    def write_config(self, conf):
        out, done = [], False
        for ln in conf.splitlines():
            words = ln.split()
            if words[:1] == ["bind"]:
                ln = "    bind %s:%d" % (self.host, self.port)
            elif words[:1] == ["server"]:
                if done:
                    continue
                done = True
                opts = " ".join(words[3:])
                for name, host, port in self.servers:
                    out.append("    server %s %s:%d %s"
                               % (name, host, port, opts))
                continue
            out.append(ln)
        check(done, "haproxy configuration without a server line")
        text = ("global\n    log stderr format short local0 notice\n"
                "    stats socket %s mode 600 level admin\n"
                "    stats timeout 30s\n\n" % self.sock_path) + \
            "\n".join(out) + "\n"
        with open(self.conf_path, "w") as f:
            f.write(text)
        r = run([self.bin, "-c", "-q", "-f", self.conf_path])
        if r.returncode != 0:
            fail("haproxy -c: %s%s\n%s" % (r.stdout, r.stderr, text))

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def start(self, timeout=30):
        """Starts it and waits until its runtime API answers."""
        if self._logf is None:
            self._logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.bin, "-db", "-f", self.conf_path],
            stdin=subprocess.DEVNULL, stdout=self._logf, stderr=self._logf,
            cwd=self.dir, start_new_session=True, close_fds=True,
            preexec_fn=_no_core_dumps)
        self.pid = self.proc.pid

        def up():
            if self.proc.poll() is not None:
                fail("haproxy exited with code %s during startup: %s"
                     % (self.proc.returncode, self.log_text()[-1000:]))
            return "Name: HAProxy" in self.admin("show info")
        wait_until(up, timeout, "haproxy's runtime API")
        return self

    def admin(self, cmd, timeout=10):
        """One command on the runtime API; its answer."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.sock_path)
            s.sendall((cmd + "\n").encode())
            out = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
        finally:
            s.close()
        return out.decode("utf-8", "replace")

    def server_states(self, backend="placesd"):
        """{server name: status} of a backend, as "show stat" says it
        ("UP", "DOWN", "UP 1/2", "MAINT", ...)."""
        lines = self.admin("show stat").splitlines()
        if not lines or not lines[0].startswith("# "):
            raise ValueError("show stat: %r" % lines[:2])
        cols = lines[0][2:].split(",")
        out = {}
        for ln in lines[1:]:
            row = dict(zip(cols, ln.split(",")))
            if row.get("pxname") == backend and row.get("svname") not in (
                    "FRONTEND", "BACKEND", None):
                out[row["svname"]] = row["status"]
        return out

    def wait_state(self, server, state, timeout=60, backend="placesd"):
        """Wait until a server's status is state ("UP" or "DOWN")."""
        wait_until(lambda: self.server_states(backend).get(server) == state,
                   timeout, "haproxy to see %s %s (now %r)"
                   % (server, state, self.server_states(backend)))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def request(self, method, path, headers=None, body=None, timeout=10):
        return http_request(self.host, self.port, method, path, headers,
                            body, timeout)

    def get(self, path, timeout=10, headers=None):
        return self.request("GET", path, headers=headers, timeout=timeout)

    def sanitizer_report(self):
        return None

    def cleanup(self):
        try:
            if self.proc is not None:
                self.stop(timeout=5)
        finally:
            if self._logf:
                self._logf.close()
                self._logf = None
            if os.environ.get("PLACESD_KEEP_TMP"):
                log("kept %s" % self.dir)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------
# the contract: docs/openapi.yaml, checked on the traffic by a proxy
#
# A test file that calls use_contract() (in its setup) has each Daemon send
# its GET and POST requests (Daemon.request, .get, .get_json, unless
# direct=True) through a Prism proxy, `prism proxy` of docs/openapi.yaml,
# one for the file (it takes seconds to start): started at the first
# such request, stopped at exit; a header tells it which daemon to
# forward each request to (contract-agent.js). Prism forwards every request
# as it is and lists in the header sl-violations where the exchange
# disagrees with the document; the harness fails the request (and the
# test, even if it swallowed the exception) on:
#   * anything wrong with the answer: a status the operation does not
#     list (which Prism calls a warning but for 2xx), a body off its
#     schema, a required header missing or malformed;
#   * a request the document refuses that the server answered below 400:
#     the two disagree on what is valid;
#   * a route the document does not have, answered below 400.
# Prism runs without --errors, which would answer a bad request itself
# (422) instead of the server's answer and replace a violating answer by
# its own 500: this way every request reaches the daemon, tests may send
# bad input through the proxy, and the daemon's error answers are checked
# too. HEAD (Prism cannot proxy it), OPTIONS and other methods go direct,
# and so does a body that is not JSON, or has a duplicated key (Prism
# answers the one itself, and forwards the other re-encoded), and a
# request that sets its own Accept-Encoding (Prism hands the client a
# compressed answer decompressed, without its Content-Encoding; the
# others go with http.client's "Accept-Encoding: identity", which Prism
# passes on, where it would otherwise ask for any coding),
# and a target with a bad %-escape or escaped bytes that are not UTF-8
# (Prism re-encodes them: a bad %-escape arrives as %25...), as do
# requests whose exact bytes or connection matter: those pass
# direct=True or use sockets. Prism re-encodes the request target (a %20
# in the query arrives as +, which the daemon reads the same), makes its own
# connection to the daemon for each request (contract-agent.js) and
# answers on its own connection (its Connection and Keep-Alive headers,
# not the daemon's).
# Prism also runs with --cors false, so that it adds no CORS headers of
# its own.
#
# Needs node and tests/node_modules (npm ci --prefix tests;
# PLACESD_NODE_MODULES says where). Without them the traffic goes direct
# and the log says so once; with PLACESD_REQUIRE_NODE set (run-tests.sh)
# that is a failure. PLACESD_CONTRACT=0 sends everything direct (to
# compare timings, or to tell the proxy's doing from the daemon's);
# PLACESD_CONTRACT_DOC checks against another document than
# docs/openapi.yaml.

_CONTRACT = {"on": False, "requests": 0, "seconds": 0.0, "proxies": 0,
             "start_seconds": 0.0}


def contract_doc():
    """docs/openapi.yaml, or PLACESD_CONTRACT_DOC (another version of
    the document, to see what would change)."""
    return os.environ.get("PLACESD_CONTRACT_DOC") or os.path.join(
        os.environ.get("top_srcdir", "."), "docs", "openapi.yaml")


def prism_argv():
    """[node, prism's script], or (None, why)."""
    node = shutil.which("node")
    mod = os.environ.get("PLACESD_NODE_MODULES") or os.path.join(
        os.environ.get("top_srcdir", "."), "tests", "node_modules")
    script = os.path.join(mod, "@stoplight", "prism-cli", "dist",
                          "index.js")
    if not node:
        return None, "node is not installed"
    if not os.path.isfile(script):
        return None, ("%s has no @stoplight/prism-cli: npm ci --prefix tests"
                      % mod)
    agent = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                         "contract-agent.js")
    return [node, "-r", agent, script], None


def use_contract():
    """Check this file's traffic against docs/openapi.yaml (see above)."""
    if os.environ.get("PLACESD_CONTRACT") == "0":
        log("contract: PLACESD_CONTRACT=0: requests go direct, unchecked")
        return
    argv, why = prism_argv()
    if argv is None:
        if os.environ.get("PLACESD_REQUIRE_NODE"):
            fail("contract: %s, and PLACESD_REQUIRE_NODE is set" % why)
        log("contract: NOT CHECKED: %s; requests go direct" % why)
        return
    if not os.path.isfile(contract_doc()):
        fail("contract: %s not found (top_srcdir?)" % contract_doc())
    _CONTRACT["on"] = True
    _CONTRACT["dir"] = tempfile.mkdtemp(prefix="placesd-prism-")
    atexit.register(_contract_stop)


_CONTRACT_LOCK = threading.Lock()


def contract_proxy():
    """The file's proxy, started at the first call (see above)."""
    with _CONTRACT_LOCK:
        p = _CONTRACT.get("proxy")
        if p is None or not p.alive():
            if p is not None:
                log("contract: prism exited (code %s); starting another: %s"
                    % (p.proc.poll(), p.log_text()[-1000:]))
            p = _CONTRACT["proxy"] = ContractProxy(_CONTRACT["dir"])
            p.start()
        return p


def _contract_stop():
    c = _CONTRACT
    p = c.pop("proxy", None)
    if p is None:
        return
    try:
        p.stop(timeout=5)
    finally:
        if os.environ.get("PLACESD_KEEP_TMP"):
            log("kept %s" % c["dir"])
        else:
            shutil.rmtree(c["dir"], ignore_errors=True)
    log("contract: %d requests checked against docs/openapi.yaml (%.1fs "
        "in requests through the proxy, %.1fs starting it, %d time(s))"
        % (c["requests"], c["seconds"], c["start_seconds"], c["proxies"]))


class ContractProxy(ChildProcess):
    """`prism proxy` of docs/openapi.yaml on a free port of 127.0.0.1,
    in a process group of its own, its output in dir/prism.log; it
    forwards each request to the daemon its X-Placesd-Upstream header
    names (contract-agent.js): the upstream of its command line, a port
    where nothing listens, is never used."""

    title = "prism"

    def __init__(self, dir, name="prism"):
        argv, why = prism_argv()
        if argv is None:
            fail("contract: %s" % why)
        self.name = name
        self.host = "127.0.0.1"
        self.port = free_port(self.host)
        self.log_path = os.path.join(dir, "prism.log")
        self.argv = argv + [
            "proxy", "--cors", "false", "--errors", "false",
            "-h", self.host, "-p", str(self.port), contract_doc(),
            "http://127.0.0.1:9"]
        self.proc = None
        self.pid = None
        self.rc = None

    def start(self, timeout=60):
        t0 = time.monotonic()
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=logf,
                stderr=logf, start_new_session=True, close_fds=True)
        self.pid = self.proc.pid

        def up():
            if self.proc.poll() is not None:
                fail("prism exited with code %s during startup: %s"
                     % (self.proc.returncode, self.log_text()[-2000:]))
            return "is listening on" in self.log_text()
        wait_until(up, timeout, "prism to listen")
        _CONTRACT["proxies"] += 1
        _CONTRACT["start_seconds"] += time.monotonic() - t0
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


def _prism_keeps_target(path):
    """Whether Prism forwards this request target as the daemon would
    read it: not one with a bad %-escape (it forwards %25 for the %) or
    escapes of bytes that are not UTF-8 (it decodes and re-encodes them),
    which the tests send to see them refused; so those go direct."""
    if re.search(r"%(?![0-9A-Fa-f]{2})", path):
        return False
    try:
        urllib.parse.unquote_to_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _prism_takes_body(body):
    """Whether Prism forwards a request with this body as it is: one
    that is not JSON it answers itself (400 invalid_json), and one with a
    duplicated key it forwards re-encoded, with one of them; so those go
    direct."""
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise ValueError("a duplicated key")
        return dict(pairs)
    if body is None:
        return True
    try:
        json.loads(body, object_pairs_hook=no_duplicates)
        return True
    except (ValueError, UnicodeDecodeError):
        return False


def contract_violations(method, path, status, hdrs):
    """What the proxy's sl-violations header says is wrong with this
    exchange (see the rules above): a list of lines, empty when fine."""
    raw = hdrs.get("sl-violations")
    if not raw:
        return []
    try:
        items = json.loads(raw)
    except ValueError:
        return ["unreadable sl-violations header: %r" % raw[:500]]
    out = []
    for v in items:
        where = list(v.get("location") or [])
        text = "%s [%s] %s" % (".".join(str(x) for x in where) or "?",
                               v.get("code", v.get("severity", "")),
                               v.get("message", ""))
        if where[:1] == ["response"] or "returned status code" in text:
            out.append("answer: " + text)
        elif where[:1] == ["request"] and status < 400:
            out.append("request the document refuses, answered %d: %s"
                       % (status, text))
    return out
