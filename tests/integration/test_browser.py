#!/usr/bin/python3
"""The page at / in a real browser: Debian's chromium, headless, driven
through puppeteer-core (tests/package.json) by browser_driver.js, against
the real daemon with demo data and the demo events service.

First the static files over plain sockets (types, Cache-Control, 404s,
the limits, a reload reading them again); then the page: it loads with
no console error and no failed request, every control labelled; the
search form is filled and submitted with the keyboard alone and shows
what /v1/nearby answers (distance, matched, opening state), and the
first result opens and closes by keyboard; the skip link; suggestions
from /v1/autocomplete; every filter reaches /v1/nearby, and More pages
by cursor; an API error is shown with the API's message; a place opens
with its menu and offers; the day digest shows; an offer published with
POST /v1/offers appears in the live pane within 2 s, as text (never
HTML); across a SIGHUP (the old workers end their streams, EventSource
reconnects) the pane gets every offer published around the reload, none
twice; a refused reconnection (503) is retried with ?last_event_id= and
loses nothing; a page in the back/forward cache drops its stream and
resumes it; at 360 px the page has no horizontal scroll.

Skips (77) when chromium, node or puppeteer-core (npm ci --prefix tests)
cannot be found, unless PLACESD_REQUIRE_NODE says they must be there
(run-tests.sh installs them)."""

import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import urllib.parse

import placesd_test as T

PG = None
EV = None
D = None
B = None
TOKDIR = None
TOKFILE = None
TOKEN = "browser-test-token-0123456789abcdef"
CITY = None             # the city with the most places: {id, name, ...}
Q = None                # a word of one of its place names
PLACE = None            # a place of CITY with a menu
HERE = os.path.dirname(os.path.abspath(__file__))


# ---- the browser ------------------------------------------------------------

def chromium_path():
    for p in (os.environ.get("PLACESD_CHROMIUM"), "/usr/bin/chromium",
              shutil.which("chromium"), shutil.which("chromium-browser")):
        if p and os.access(p, os.X_OK):
            return p
    return None


def browser_tools():
    """(node, node_modules, chromium), or a skip naming what is missing
    (a failure with PLACESD_REQUIRE_NODE set)."""
    node = shutil.which("node")
    mod = os.environ.get("PLACESD_NODE_MODULES") or os.path.join(
        os.environ.get("top_srcdir", os.path.dirname(os.path.dirname(HERE))),
        "tests", "node_modules")
    chromium = chromium_path()
    why = None
    if not node:
        why = "node is not installed"
    elif not os.path.isfile(os.path.join(mod, "puppeteer-core",
                                         "package.json")):
        why = "%s has no puppeteer-core: npm ci --prefix tests" % mod
    elif not chromium:
        why = "chromium is not installed (apt-get install chromium)"
    if why is None:
        return node, mod, chromium
    if os.environ.get("PLACESD_REQUIRE_NODE"):
        T.fail(why)
    T.skip(why)


class Browser(T.ChildProcess):
    """browser_driver.js under node: one JSON command, one JSON answer."""

    title = "browser"
    persistent = True

    def __init__(self):
        self.node, self.mod, self.chromium = browser_tools()
        self.name = "browser"
        self.dir = tempfile.mkdtemp(prefix="placesd-browser-")
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.proc = None
        self.pid = None
        self.rc = None
        self._logf = None
        self.lines = queue.Queue()
        T._DAEMONS.append(self)

    def start(self):
        self._logf = open(self.log_path, "ab")
        env = dict(os.environ, NODE_PATH=self.mod, HOME=self.dir,
                   XDG_CONFIG_HOME=self.dir, XDG_CACHE_HOME=self.dir)
        self.proc = subprocess.Popen(
            [self.node, os.path.join(HERE, "browser_driver.js"),
             self.chromium], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._logf, cwd=self.dir, env=env,
            start_new_session=True, close_fds=True)
        self.pid = self.proc.pid
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def call(self, op, timeout=30, **args):
        """Runs one op; its value, or a failure with the driver's error."""
        if not self.alive():
            T.fail("the browser driver is not running: %s"
                   % self.log_text()[-1000:])
        args["op"] = op
        args.setdefault("timeout", int(timeout * 1000))
        self.proc.stdin.write((json.dumps(args) + "\n").encode())
        self.proc.stdin.flush()
        try:
            line = self.lines.get(timeout=timeout + 10)
        except queue.Empty:
            T.fail("browser %s: no answer in %ss" % (op, timeout + 10))
        if line is None:
            T.fail("browser %s: the driver exited: %s"
                   % (op, self.log_text()[-1000:]))
        out = json.loads(line)
        if not out["ok"]:
            T.fail("browser %s %r: %s" % (op, args, out["error"]))
        return out["value"]

    def query(self, selector):
        return self.call("query", selector=selector)

    def text(self, selector):
        got = self.query(selector)
        T.check(got, "no element matches %s" % selector)
        return got[0]["text"]

    def wait(self, selector, timeout=10, visible=False):
        self.call("wait", selector=selector, visible=visible,
                  timeout=timeout)

    def wait_fn(self, body, arg=None, timeout=10):
        self.call("wait_fn", body=body, arg=arg, timeout=timeout)

    def problems(self):
        return self.call("problems")

    def tab_to(self, element_id, limit=60):
        """Tabs until element_id has the focus; how many Tabs it took."""
        for n in range(1, limit + 1):
            self.call("press", key="Tab")
            if self.call("focused") == element_id:
                return n
        T.fail("Tab never reached #%s in %d presses" % (element_id, limit))

    def sanitizer_report(self):
        return None

    def cleanup(self):
        try:
            if self.alive():
                try:
                    self.proc.stdin.write(b'{"op":"close"}\n')
                    self.proc.stdin.flush()
                    self.proc.wait(timeout=15)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            self.kill_group()
        finally:
            if self._logf:
                self._logf.close()
                self._logf = None
            shutil.rmtree(self.dir, ignore_errors=True)


# ---- setup --------------------------------------------------------------------

def setup():
    global PG, EV, D, B, TOKDIR, TOKFILE, CITY, Q, PLACE
    tools = browser_tools()     # skip before starting anything
    T.log("chromium %s, node %s" % (tools[2], tools[0]))
    PG = T.shared_postgres()
    TOKDIR = tempfile.mkdtemp(prefix="placesd-tok-")
    os.chmod(TOKDIR, 0o755)
    tok = TOKFILE = os.path.join(TOKDIR, "token")
    with open(tok, "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(tok, 0o600)
    EV = T.EventsService()
    EV.persistent = True
    EV.start()
    D = T.Daemon(workers=2, persistent=True, conf={
        "offers": {"admin_token_file": tok, "retry": "500ms"},
        "upstream": {"events_url": EV.url}})
    r = T.run([T.placesctl_path(), "-c", D.conf_path, "seed", "--places",
               "400", "--seed", "11"], timeout=300)
    if r.returncode != 0:
        T.fail("placesctl seed: %s %s" % (r.stdout, r.stderr))
    D.start()
    T.wait_until(lambda: D.metric("placesd_offer_feed_up") == 2, 60,
                 "both workers' offer feeds")
    # the ranker's snapshot: /v1/nearby ranked, not degraded
    T.wait_until(lambda: D.get("/v1/categories")[0] == 200, 60,
                 "the ranker's first snapshot")
    # the biggest city, the first of them (by name) on a tie: the page's
    # default
    CITY = max(jget("/v1/cities")["cities"], key=lambda c: c["places"])
    cid = CITY["id"]
    row = PG.psql("SELECT p.id, p.name FROM places p WHERE p.city_id = '%s' "
                  "AND EXISTS (SELECT 1 FROM menu_items m WHERE m.place_id "
                  "= p.id) ORDER BY p.id LIMIT 1" % cid)[0]
    PLACE = int(row[0])
    Q = max(row[1].split(), key=len).strip(".,'\"()&-")
    B = Browser().start()
    T.log("browser: %s" % B.call("launch", timeout=60))


def teardown():
    shutil.rmtree(TOKDIR or "", ignore_errors=True)


def publish(title, d=None):
    body = {"place_id": PLACE, "title": title, "description": None,
            "discount_pct": 30, "starts_at": "2026-01-01T00:00:00Z",
            "ends_at": "2036-01-01T00:00:00Z"}
    st, _, raw = (d or D).request("POST", "/v1/offers", headers={
        "Content-Type": "application/json",
        "Authorization": "Bearer " + TOKEN}, body=json.dumps(body),
        timeout=30)
    # 201 per issue #20's contract; 200 until that lands
    T.check(st in (200, 201), "publish: %d %r" % (st, raw[:300]))
    return json.loads(raw)["id"]


def no_problems(what, allow=()):
    got = []
    for p in B.problems():
        if any(a in p["text"] for a in allow):
            T.log("%s: allowed: %s" % (what, p))
        else:
            got.append(p)
    T.check_eq(got, [], "%s: console errors, failed requests or error "
               "answers" % what)


def jget(path):
    st, _, doc = D.get_json(path)
    T.check_eq(st, 200, "GET %s: %r" % (path, doc))
    return doc


def nearby(params):
    return jget("/v1/nearby?" + urllib.parse.urlencode(params))


# ---- the static files, over sockets -----------------------------------------

def test_static_files():
    want = {"/": "text/html; charset=utf-8",
            "/www/app.js": "text/javascript; charset=utf-8",
            "/www/app.css": "text/css; charset=utf-8",
            "/www/icon.svg": "image/svg+xml"}
    for path, ctype in want.items():
        st, h, body = D.get(path)
        T.check_eq(st, 200, "GET %s" % path)
        T.check_eq(h["Content-Type"], ctype, "Content-Type of %s" % path)
        T.check_eq(h["X-Content-Type-Options"], "nosniff", "nosniff")
        name = "index.html" if path == "/" else path[len("/www/"):]
        with open(os.path.join(T.www_dir(), name), "rb") as f:
            T.check_eq(body, f.read(), "%s as the file holds it" % path)
        T.check_eq(h["Cache-Control"], "no-cache" if path == "/" else
                   "public, max-age=300", "Cache-Control of %s" % path)
    st, h, _ = D.get("/")
    T.check("script-src 'self'" in h["Content-Security-Policy"],
            "the page's CSP: %r" % h.get("Content-Security-Policy"))
    st, h, body = D.request("HEAD", "/")
    T.check_eq((st, body, h["Content-Length"]),
               (200, b"", str(os.path.getsize(
                   os.path.join(T.www_dir(), "index.html")))), "HEAD /")
    for path in ("/www/nope.js", "/www/.hidden", "/www/..%2F..%2Fetc%2Fpasswd",
                 "/www/", "/www/a/app.js", "/index.html", "/www"):
        st, h, body = D.get(path)
        T.check_eq(st, 404, "GET %s" % path)
        T.check_eq(json.loads(body)["error"]["code"], "not_found",
                   "the error of %s" % path)
    st, h, _ = D.request("POST", "/", body="x",
                         headers={"Content-Type": "application/json"})
    T.check_eq((st, h["Allow"]), (405, "GET, HEAD, OPTIONS"), "POST /")


def test_static_dir_limits_and_reload():
    """Only plain names of known types, within the size limit; a reload
    reads the directory again; a missing directory leaves the API up."""
    www = tempfile.mkdtemp(prefix="placesd-www-")
    try:
        os.chmod(www, 0o755)
        files = {"index.html": b"<!doctype html><title>one</title>",
                 "run.sh": b"echo no\n", "big.js": b"x" * (1024 * 1024 + 1),
                 "ok.js": b"1;\n", "in dex.txt": b"bad name"}
        for n, data in files.items():
            with open(os.path.join(www, n), "wb") as f:
                f.write(data)
        os.mkdir(os.path.join(www, "sub.css"))
        os.mkfifo(os.path.join(www, "pipe.js"))  # must not block a start
        d = T.Daemon(workers=1, conf={"http": {"static_dir": www}})
        d.start()
        T.check_eq(d.get("/")[2], files["index.html"], "index.html")
        T.check_eq(d.get("/www/ok.js")[0], 200, "ok.js")
        for n in ("run.sh", "big.js", "in%20dex.txt", "sub.css", "pipe.js"):
            T.check_eq(d.get("/www/" + n)[0], 404, "%s is not served" % n)
        T.check("big.js left out: over 1048576 bytes" in d.log_text(),
                "the warning for big.js")
        with open(os.path.join(www, "index.html"), "wb") as f:
            f.write(b"<!doctype html><title>two</title>")
        gen = d.metric("placesd_generation")
        d.signal(signal.SIGHUP)
        T.wait_until(lambda: d.metric("placesd_generation") > gen, 60,
                     "the reload")
        T.wait_until(lambda: d.get("/")[2].endswith(b"two</title>"), 30,
                     "the new generation's index.html")
        # no page: 404, the API still answers
        shutil.rmtree(www)
        gen = d.metric("placesd_generation")
        d.signal(signal.SIGHUP)
        T.wait_until(lambda: d.metric("placesd_generation") > gen, 60,
                     "the second reload")
        T.wait_until(lambda: d.get("/")[0] == 404, 30, "/ without files")
        T.check_eq(d.get("/healthz")[0], 200, "the API without a page")
        T.check("no page at /" in d.log_text(), "the warning of no page")
        T.assert_clean_exit(d, d.stop())
    finally:
        shutil.rmtree(www, ignore_errors=True)


# ---- the page ------------------------------------------------------------------

def stream_state(want, timeout=15):
    B.wait_fn("document.getElementById('stream-state').textContent === arg",
              arg=want, timeout=timeout)


def load_page(d=None, live=True):
    # leave the last page first: its stream is cut as the page goes
    B.call("goto", url="about:blank", timeout=30)
    B.problems()
    got = B.call("goto", url=(d or D).url + "/", timeout=30)
    # the page is answered no-cache with an ETag: the browser revalidates
    # it, and a 304 is the same page
    T.check(got["status"] in (200, 304),
            "the page's status: got %s, want 200 or 304" % got["status"])
    B.wait("#city[data-loaded]", timeout=15)
    if live:
        stream_state("Live.")


def test_page_loads_clean():
    load_page()
    opts = B.query("#city option")
    T.check_eq([o["value"] for o in opts[1:]],
               [c["id"] for c in jget("/v1/cities")["cities"]],
               "the cities of /v1/cities")
    T.check_eq(B.call("eval", body="return document.title"),
               "placesd: places nearby, the day's digest and live offers",
               "title")
    # every control has a label
    unlabelled = B.call("eval", body="""
        return Array.from(document.querySelectorAll('input, select'))
          .filter((e) => e.type !== 'hidden' && e.labels.length === 0)
          .map((e) => e.id);""")
    T.check_eq(unlabelled, [], "controls without a label")
    no_problems("page load")


def test_keyboard_search():
    """Tab to each control, choose with the arrows, type, press Enter."""
    load_page()
    T.check_eq(B.query("#city")[0]["value"], CITY["id"], "the biggest "
               "city first")
    B.tab_to("city")
    # to the first option (a point: the fields stay), then down to it
    B.call("press", key="Home")
    T.check_eq(B.query("#city")[0]["value"], "", "Home: a point")
    B.call("eval", body="document.getElementById('lat').value = ''; "
           "return null;")
    for _ in range(len(B.query("#city option")) + 1):
        if B.query("#city")[0]["value"] == CITY["id"]:
            break
        B.call("press", key="ArrowDown")
    T.check_eq(B.query("#city")[0]["value"], CITY["id"], "city chosen")
    T.check_eq(B.query("#lat")[0]["value"], str(CITY["lat"]),
               "the city's latitude filled in")
    T.check_eq(B.tab_to("radius"), 3, "Tabs from the city to the radius")
    B.call("press", key="Backspace")    # Tab selected the value: replace
    B.call("type", text="50000")
    B.tab_to("q")
    B.call("type", text=Q)
    B.call("press", key="Enter")
    B.wait("#results li", timeout=15)
    want = nearby({"lat": CITY["lat"], "lon": CITY["lon"],
                   "radius_m": 50000, "q": Q, "limit": 10})
    T.check(want["results"], "the API finds %r" % Q)
    items = B.query("#results li")
    T.check_eq([int(i["data_id"]) for i in items],
               [r["place"]["id"] for r in want["results"]],
               "the results of /v1/nearby, in order")
    first = want["results"][0]
    T.check(items[0]["text"].startswith(first["place"]["name"]),
            "name first: %r" % items[0]["text"])
    T.check(("Matched: " + "; ".join(first["matched"])) in items[0]["text"],
            "matched shown: %r vs %r" % (items[0]["text"], first["matched"]))
    opening = {True: "Open now", False: "Closed", None: "Hours unknown"}[
        first["is_open_now"]]
    T.check(opening in items[0]["text"], "opening state %r in %r"
            % (opening, items[0]["text"]))
    T.check(" m · " in items[0]["text"] or " km · " in items[0]["text"],
            "the distance: %r" % items[0]["text"])
    status = B.text("#results-status")
    T.check(status.startswith("Showing %d of " % len(want["results"])),
            "the live status: %r" % status)
    # on with Tab to the first result, Enter opens it, Escape closes it
    on_result = ("const e = document.activeElement; return e && "
                 "e.closest('#results') ? e.getAttribute('data-id') : null;")
    for _ in range(60):
        B.call("press", key="Tab")
        got = B.call("eval", body=on_result)
        if got is not None:
            break
    T.check_eq(got, str(first["place"]["id"]), "Tab reaches the first "
               "result")
    B.call("press", key="Enter")
    B.wait("#place:not([hidden])", timeout=15)
    T.check_eq(B.call("focused"), "place-name", "focus on the place")
    T.check_eq(B.text("#place-name"), first["place"]["name"], "the place")
    B.call("press", key="Escape")
    T.check(B.query("#place")[0]["hidden"], "Escape closes it")
    T.check_eq(B.call("eval", body=on_result), got, "focus back on it")
    no_problems("keyboard search")


def test_skip_link():
    load_page()
    B.call("press", key="Tab")
    T.check_eq(B.call("eval", body="return document.activeElement."
                      "textContent"), "Skip to the results",
               "the first Tab stop")
    B.call("press", key="Enter")
    T.check_eq(B.call("focused"), "results-heading", "Enter on it")
    no_problems("skip link")


def test_autocomplete_suggestions():
    load_page()
    B.call("eval", arg={"lat": CITY["lat"], "lon": CITY["lon"]}, body="""
        document.getElementById('lat').value = arg.lat;
        document.getElementById('lon').value = arg.lon;
        return null;""")
    B.call("click", selector="#q")
    text = Q[:4]
    B.call("type", text=text)
    want = jget("/v1/autocomplete?" + urllib.parse.urlencode(
        {"text": text, "limit": 8, "lat": CITY["lat"], "lon": CITY["lon"]}))
    texts = []
    for sug in want["suggestions"]:
        if sug["text"] not in texts:
            texts.append(sug["text"])
    T.check(texts, "/v1/autocomplete suggests for %r" % text)
    # the last answer wins: wait for it rather than for any option
    B.wait_fn("JSON.stringify(Array.from(document.querySelectorAll("
              "'#q-suggestions option')).map((o) => o.value)) === arg",
              arg=json.dumps(texts, separators=(",", ":"),
                             ensure_ascii=False), timeout=10)
    no_problems("autocomplete")


def test_filters_and_paging():
    """Every filter reaches /v1/nearby; More follows the cursor."""
    load_page()
    # set every filter in the page at once, then check the request it made
    B.call("eval", arg={"lat": CITY["lat"], "lon": CITY["lon"]}, body="""
        const set = (id, v) => { document.getElementById(id).value = v; };
        set('lat', arg.lat); set('lon', arg.lon); set('radius', '50000');
        set('q', ''); set('category', ''); set('cuisine', '');
        set('prefer-cuisine', 'italian'); set('min-price', '1');
        set('max-price', '4'); set('min-rating', '0'); set('sort', 'distance');
        set('limit', '2');
        document.getElementById('open-now').checked = false;
        set('open-at', '2026-12-07T12:00');
        window.__urls = [];
        const f = window.fetch;
        window.fetch = (u, o) => { window.__urls.push(String(u)); return f(u, o); };
        return null;""")
    B.call("click", selector="#search-submit")
    B.wait("#results li", timeout=15)
    url = B.call("eval", body="return window.__urls[0]")
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    T.check_eq(params, {"lat": str(CITY["lat"]), "lon": str(CITY["lon"]),
                        "radius_m": "50000", "prefer_cuisine": "italian",
                        "min_price": "1", "max_price": "4",
                        "min_rating": "0", "open_at": "2026-12-07T12:00",
                        "sort": "distance", "limit": "2"},
               "the query the form made")
    first = nearby(params)
    T.check(first["next"], "a second page exists")
    T.check_eq([int(i["data_id"]) for i in B.query("#results li")],
               [r["place"]["id"] for r in first["results"]], "page 1")
    B.call("click", selector="#more")
    B.wait_fn("document.querySelectorAll('#results li').length === 4",
              timeout=15)
    second = nearby(dict(params, after=first["next"]))
    T.check_eq([int(i["data_id"]) for i in B.query("#results li")][2:],
               [r["place"]["id"] for r in second["results"]], "page 2")
    T.check_eq(B.call("focused"), "button", "focus on the new page's first")
    no_problems("filters and paging")


def test_api_error_shown():
    load_page()
    B.call("eval", body="document.getElementById('q').value = '!!'; "
           "return null;")
    B.call("click", selector="#search-submit")
    B.wait("#error:not([hidden])", timeout=15)
    st, _, raw = D.get("/v1/nearby?" + urllib.parse.urlencode(
        {"lat": CITY["lat"], "lon": CITY["lon"], "radius_m": 2000,
         "q": "!!", "limit": 10}))
    T.check_eq(st, 400, "the API refuses q=!!")
    err = json.loads(raw)["error"]
    T.check_eq(B.text("#error"), err["message"], "the API's message shown")
    q = B.query("#q")[0]
    T.check_eq(q["invalid"], "true", "the field it names is marked")
    T.check_eq(B.call("focused"), "q", "and focused")
    # the one failed answer is the one asked for
    got = B.problems()
    T.check(got and all("/v1/nearby" in p["text"] for p in got),
            "only the 400 of /v1/nearby: %r" % got)


def test_place_opens_with_menu():
    offer = publish("for the place card")
    load_page()
    B.call("eval", arg={"lat": CITY["lat"], "lon": CITY["lon"]}, body="""
        document.getElementById('lat').value = arg.lat;
        document.getElementById('lon').value = arg.lon;
        document.getElementById('radius').value = '50000';
        return null;""")
    B.call("click", selector="#search-submit")
    B.wait("#results li button", timeout=15)
    sel = "#results li[data-id='%d'] button" % PLACE
    if not B.query(sel):
        # the place is not on the first page: open it from a search for it
        B.call("eval", arg=Q, body="document.getElementById('q').value = "
               "arg; return null;")
        B.call("click", selector="#search-submit")
        B.wait(sel, timeout=15)
    B.call("click", selector=sel)
    B.wait("#place:not([hidden])", timeout=15)
    want = jget("/v1/places/%d" % PLACE)
    T.check_eq(B.text("#place-name"), want["name"], "the place's name")
    menu = B.query("#place-menu li")
    T.check_eq([int(m["data_id"]) for m in menu],
               [m["id"] for m in want["menu"]], "its menu, in order")
    T.check(menu[0]["text"].startswith(want["menu"][0]["name"] + " — "),
            "a menu line: %r" % menu[0]["text"])
    offers = B.query("#place-offers li")
    T.check_eq([int(o["data_id"]) for o in offers],
               [o["id"] for o in want["offers"]], "its offers, in order")
    T.check(offer in [o["id"] for o in want["offers"]], "the new offer")
    T.check_eq(B.call("focused"), "place-name", "focus on the place")
    B.call("click", selector="#place-close")
    T.check(B.query("#place")[0]["hidden"], "Close closes it")
    T.check_eq(B.call("focused"), "button", "focus back on its opener")
    no_problems("place")


def test_digest_shows():
    load_page()
    B.call("eval", arg=CITY["id"], body="""
        document.getElementById('digest-city').value = arg;
        document.getElementById('digest-date').value = '2026-11-23';
        return null;""")
    B.call("click", selector="#digest-submit")
    B.wait("#digest-output[data-loaded]", timeout=20)
    st, _, raw = D.request("POST", "/v1/digest", headers={
        "Content-Type": "application/json"}, body=json.dumps(
            {"date": "2026-11-23", "city": CITY["id"], "limit": 10}))
    T.check_eq(st, 200, "the digest")
    want = json.loads(raw)
    T.check_eq(want["errors"], [], "the digest's sources")
    out = B.text("#digest-output")
    for title, n in (("Events", len(want["events"])),
                     ("Places", len(want["places"])),
                     ("Offers", len(want["offers"]))):
        T.check("%s (%d)" % (title, n) in out, "%s (%d) in %r"
                % (title, n, out[:300]))
    T.check(want["events"] and want["events"][0]["title"] in out,
            "an event's title")
    T.check(want["places"] and want["places"][0]["name"] in out,
            "a place's name")
    no_problems("digest")


def pane_ids():
    return [int(i["data_id"]) for i in B.query("#offers-live li")]


def test_live_offer_within_2s():
    load_page()
    title = "<img src=x onerror=alert(1)> half & half"
    oid = publish(title)
    B.wait("#offers-live li[data-id='%d']" % oid, timeout=2)
    item = B.query("#offers-live li[data-id='%d']" % oid)[0]
    T.check(title in item["text"], "the title as text: %r" % item["text"])
    T.check_eq(set(item["tags"]), {"span"}, "no element from the data")
    no_problems("live offer")


def test_offers_survive_reload():
    """Offers published before, during and after a SIGHUP all reach the
    pane, each once."""
    load_page()
    T.wait_until(lambda: D.metric("placesd_sse_subscribers") >= 1, 15,
                 "the page to subscribe")
    ids = [publish("before %d" % i) for i in range(3)]
    B.wait_fn("arg.every((i) => document.querySelector("
              "'#offers-live li[data-id=\"' + i + '\"]'))", arg=ids,
              timeout=10)
    gen = D.metric("placesd_generation")
    D.signal(signal.SIGHUP)
    ids += [publish("during %d" % i) for i in range(3)]
    T.wait_until(lambda: D.metric("placesd_generation") > gen, 60,
                 "the reload")
    ids += [publish("after %d" % i) for i in range(3)]
    B.wait_fn("arg.every((i) => document.querySelector("
              "'#offers-live li[data-id=\"' + i + '\"]'))", arg=ids,
              timeout=30)
    # the old workers are gone: the stream the page holds now is a new
    # generation's
    T.wait_until(lambda: all(g > gen for _, _, g in D.workers()) and
                 len(D.workers()) == 2, 60, "the old workers to exit")
    T.wait_until(lambda: D.metric("placesd_sse_subscribers") >= 1, 15,
                 "the page subscribed again")
    ids += [publish("later %d" % i) for i in range(2)]
    B.wait_fn("arg.every((i) => document.querySelector("
              "'#offers-live li[data-id=\"' + i + '\"]'))", arg=ids,
              timeout=10)
    got = pane_ids()
    T.check_eq(sorted(got), sorted(set(got)), "no offer shown twice")
    T.check_eq(sorted(got), sorted(ids), "every offer, none other")
    pane = B.query("#offers-live")[0]["dataset"]
    T.check_eq(int(pane["received"]), len(ids),
               "offer events the page received (a replay would count "
               "twice)")
    T.check_eq(pane.get("duplicates"), None, "none dropped as duplicates")
    # an ended stream may show as a cut request; nothing else may fail
    no_problems("reload", allow=("/v1/offers/stream",))


def test_refused_reconnection_resumes():
    """A reconnection the server refuses (503: its worker has no room)
    closes the EventSource for good; the page opens a new one with
    ?last_event_id= and gets what it missed, once."""
    d = T.Daemon(workers=1, conf={
        "offers": {"admin_token_file": TOKFILE, "retry": "3s",
                   "max_subscribers": 1}})
    d.start()
    T.wait_until(lambda: d.metric("placesd_offer_feed_up") == 1, 60,
                 "the worker's offer feed")
    load_page(d)
    a = publish("seen first", d)
    B.wait("#offers-live li[data-id='%d']" % a, timeout=10)
    gen = d.metric("placesd_generation")
    d.signal(signal.SIGHUP)
    T.wait_until(lambda: d.metric("placesd_generation") > gen, 60,
                 "the reload")
    # the page waits 3 to 6 s before it reconnects: take the new worker's
    # one place first
    blocker = None
    try:
        def grab():
            nonlocal blocker
            s = T.Stream(d)
            if s.status == 200:
                blocker = s
                return True
            s.close()
            return False
        T.wait_until(grab, 3, "a stream on the new worker")
        b = publish("missed while refused", d)
        stream_state("Refused by the server; trying again…", timeout=15)
        T.check_eq(B.query("#offers-live li[data-id='%d']" % b), [],
                   "not shown while refused")
    finally:
        if blocker is not None:
            blocker.close()
    B.wait("#offers-live li[data-id='%d']" % b, timeout=15)
    stream_state("Live.")
    T.check_eq(pane_ids(), [b, a], "each once, newest first")
    T.check_eq(B.query("#offers-live")[0]["dataset"]["received"], "2",
               "offer events received")
    # the refusals are the only problems
    no_problems("refused reconnection", allow=("/v1/offers/stream",
                                               "EventSource"))
    T.assert_clean_exit(d, d.stop())


def test_back_forward_cache():
    """A page left for another drops its stream (it holds no server slot
    nor browser connection); back on it, it resumes with what it
    missed."""
    load_page()
    a = publish("before leaving")
    B.wait("#offers-live li[data-id='%d']" % a, timeout=10)
    B.call("eval", body="window.__kept = true; return null;")
    B.call("goto", url="about:blank", timeout=30)
    T.wait_until(lambda: D.metric("placesd_sse_subscribers") == 0, 15,
                 "the left page to drop its stream")
    b = publish("while away")
    B.call("back", timeout=30)
    T.check(B.call("eval", body="return window.__kept === true"),
            "the page came back from the back/forward cache")
    B.wait("#offers-live li[data-id='%d']" % b, timeout=15)
    stream_state("Live.")
    T.check_eq(pane_ids(), [b, a], "each once, newest first")
    no_problems("back/forward cache")


def test_phone_width():
    B.call("viewport", width=360, height=740)
    load_page()
    widths = B.call("eval", body="""
        const d = document.documentElement;
        return [d.scrollWidth, d.clientWidth];""")
    T.check(widths[0] <= widths[1], "no horizontal scroll at 360 px: %r"
            % widths)
    box = B.call("eval", body="""
        const r = document.getElementById('search-submit')
          .getBoundingClientRect();
        return [r.left, r.right];""")
    T.check(box[0] >= 0 and box[1] <= 360, "the search button fits: %r"
            % box)
    no_problems("phone width")
    B.call("viewport", width=1024, height=800)


if __name__ == "__main__":
    try:
        T.run_main([
            test_static_files,
            test_static_dir_limits_and_reload,
            test_page_loads_clean,
            test_keyboard_search,
            test_skip_link,
            test_autocomplete_suggestions,
            test_filters_and_paging,
            test_api_error_shown,
            test_place_opens_with_menu,
            test_digest_shows,
            test_live_offer_within_2s,
            test_offers_survive_reload,
            test_refused_reconnection_resumes,
            test_back_forward_cache,
            test_phone_width,
        ], setup=setup)
    finally:
        teardown()
