#!/bin/bash
# tests/bench/offers_rank.sh -- how soon is each change ranked, and what
# does a stream of changes cost the ranker?  Changes at --rate per second
# (default 100) while /v1/nearby runs at --nearby-rate per second, at
# 100,000 places (--places; --big: 1,000,000).  --kind: new (offers
# published: a delta of the offer flags), ended (offers ended by an
# UPDATE: a patch read into the ranker's overlay), place (places renamed:
# a patch whose new word the probe searches), all (the three in turn).
# --overlay N sets [ranker] overlay_max (0: every patch copies the
# snapshot).
#
# Prints per kind the delay from each change's commit to the first
# /v1/nearby answer that shows it (p50, p99, max over every --sample-th
# change), the ranker's CPU with /v1/nearby alone and with the changes,
# and the deltas, patches and full loads the ranker's loader logged.
# Aims: a change ranked within 100 ms (p99); 100 changes/s cost the
# ranker < 10% of a core.  How it measures: tests/bench/README.md
# ("offers_rank").
#
# Exit status: 0 when every sampled change was ranked, 3 when some were
# never seen ranked, 1 when placesd, PostgreSQL or placesctl failed, 2 on
# a usage or setup error.  Needs: PostgreSQL's binaries, curl, python3.

# shellcheck disable=SC2034,SC2154 # variables shared with lib.sh
set -u -o pipefail

# bench-quick: --places 20000 --duration 3
prog=${0##*/}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || { echo "$prog: cannot read lib.sh beside it" >&2; exit 2; }

usage() { cat <<EOF
Usage: $prog [OPTIONS]

Changes at --rate per second while /v1/nearby runs: the delay from each
change to its effect in /v1/nearby, and the ranker's CPU.

Options:
  --places N         places to seed (default: 100000)
  --big              1,000,000 places (same as --places 1000000)
  --kind K           new (offers), ended (offers ended), place (places
                     renamed), all (the three in turn); default: new
  --overlay N        [ranker] overlay_max (default: placesd's, 4096; 0: every
                     patch copies the snapshot)
  --rate N           changes per second (default: 100)
  --duration SECS    each phase: nearby alone, then nearby + offers (default: 20)
  --nearby-rate N    /v1/nearby requests per second meanwhile (default: 50)
  --sample K         measure the delay of every K-th offer (default: 5)
  --ranker-nice V    [ranker] nice (default: placesd's, idle; 0 measures the
                     ranker without yielding to the rest of a busy machine)
$(usage_common)
EOF
}

common_optvars
optvar+=([--rate]=rate [--duration]=duration [--nearby-rate]=nearby_rate [--sample]=sample
	[--ranker-nice]=ranker_nice [--kind]=kind [--overlay]=overlay)
flag_opt() { [ "$1" = --big ] && nplaces=1000000; }
nplaces=100000
rate=100
duration=20
nearby_rate=50
sample=5
ranker_nice=
kind=new
overlay=
parse_opts "$@"
for v in nplaces rate duration nearby_rate sample; do
	is_uint "${!v}" || die "--${v//_/-}: a positive integer, not '${!v}'"
done
[ "$nplaces" -le 10000000 ] || die "--places: at most 10000000"
case $kind in
new|ended|place) kinds=$kind ;;
all)             kinds="new ended place" ;;
*)               die "--kind: new, ended, place or all, not '$kind'" ;;
esac
[ -z "$overlay" ] || [[ $overlay =~ ^[0-9]+$ ]] || die "--overlay: a number, not '$overlay'"
nkinds=$(wc -w <<<"$kinds")
noffers=$((rate * duration))
[ $((noffers * nkinds)) -lt "$nplaces" ] || die "--rate x --duration (x 3 for all) must stay below --places (one place per change)"

find_binaries
python_bin=/usr/bin/python3
[ -x "$python_bin" ] || python_bin=$(command -v python3) || die "python3 not found"

bench_begin orank
start_cluster "$pgdir" 40 256MB
write_token
workers=1 nworkers=1 log_level=info
conf_ranker="${ranker_nice:+nice = $ranker_nice}
${overlay:+overlay_max = $overlay}"
conf_more="[offers]
admin_token_file = $token_file"

note "seeding $nplaces places"
seed_cluster
# one place of its own for each offer, none with an active offer, and
# the places /v1/nearby asks around
psql_q -F ' ' -c "SELECT id, lat, lon FROM places p WHERE NOT EXISTS
	(SELECT 1 FROM offers o WHERE o.place_id = p.id AND o.starts_at <= now()
	AND o.ends_at > now()) ORDER BY random() LIMIT $((noffers * nkinds))" >"$tmp/offer-places" ||
	{ note "cannot choose the changes' places"; exit 1; }
[ "$(wc -l <"$tmp/offer-places")" -eq $((noffers * nkinds)) ] ||
	{ note "fewer than $((noffers * nkinds)) places without an active offer"; exit 1; }
i=0
for k in $kinds; do             # the places of each kind's changes
	sed -n "$((i * noffers + 1)),$(((i + 1) * noffers))p" "$tmp/offer-places" >"$tmp/places-$k"
	i=$((i + 1))
done
if [ -f "$tmp/places-ended" ]; then     # the offers the run ends, active before it
	span="$(date -u -d '-1 hour' +%FT%TZ),$(date -u -d '+1 day' +%FT%TZ)"
	awk -v span="$span" '{ printf "%s,bench to end,10,%s\n", $1, span }' "$tmp/places-ended" |
		psql_q -c "COPY offers (place_id, title, discount_pct, starts_at, ends_at)
		FROM STDIN WITH (FORMAT csv)" >/dev/null ||
		{ note "cannot make the offers the run ends"; exit 1; }
fi
psql_q -F ' ' -c "SELECT lat, lon FROM places ORDER BY random() LIMIT 2000" >"$tmp/nearby-points" ||
	{ note "cannot choose the /v1/nearby points"; exit 1; }

# ---------------------------------------------------------------- placesd ---
fresh_placesd start
ranker_pid=$(placesd_children ranker | tail -n 1)
[ -n "$ranker_pid" ] || { note "cannot find placesd's ranker process"; exit 1; }
for i in $(seq 1 600); do
	grep -q 'loader_build: snapshot 1:' "$placesd_log" && break
	check_placesd
	sleep 0.5
done
grep -q 'loader_build: snapshot 1:' "$placesd_log" ||
	{ note "the ranker built no snapshot within 300 s"; tail -n 20 "$placesd_log" >&2; exit 1; }
build_line=$(grep -m 1 'loader_build: snapshot 1:' "$placesd_log" | sed 's/.*snapshot 1: //')

# ----------------------------------------------------------------- client ---
cat >"$tmp/client.py" <<'EOF'
# The load of offers_rank.sh: /v1/nearby at a steady rate; then offers at
# a steady rate beside it, every K-th one probed until it is ranked; the
# ranker's CPU over each phase. Prints "key value" lines.
import http.client, json, os, random, sys, threading, time

import subprocess
port, token_file, places_f, points_f, ranker = sys.argv[1:6]
rate, duration, nearby_rate, sample = map(int, sys.argv[6:10])
kind, psql_bin, conninfo = sys.argv[10:13]
token = open(token_file).read().strip()
offer_places = [l.split() for l in open(places_f) if l.strip()]
points = [l.split() for l in open(points_f) if l.strip()]
hz = os.sysconf("SC_CLK_TCK")
stop = threading.Event()
lock = threading.Lock()
stats = {"nearby": 0, "nearby_fail": 0, "published": 0, "publish_fail": 0}
delays, unseen = [], []


def conn():
    return http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)


def cpu(path):
    try:
        f = open(path).read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / hz
    except (OSError, IndexError):
        return 0.0


def loader_stat():
    for t in os.listdir("/proc/%s/task" % ranker):
        try:
            if open("/proc/%s/task/%s/comm" % (ranker, t)).read().strip() \
                    == "ranker loader":
                return "/proc/%s/task/%s/stat" % (ranker, t)
        except OSError:
            pass
    return None


def get(c, path):
    c.request("GET", path)
    r = c.getresponse()
    return r.status, r.read()


def nearby_load():
    c, k, t0 = conn(), 0, time.monotonic()
    while not stop.is_set():
        lat, lon = random.choice(points)
        try:
            st, _ = get(c, "/v1/nearby?lat=%s&lon=%s&radius_m=2000&"
                        "cuisine=georgian&limit=20" % (lat, lon))
            ok = st == 200
        except (OSError, http.client.HTTPException):
            c, ok = conn(), False
        with lock:
            stats["nearby" if ok else "nearby_fail"] += 1
        k += 1
        wait = t0 + k / nearby_rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)


def shown(pid, results):
    """Whether the answer shows the change of place pid."""
    for r in results:
        if r["place"]["id"] == pid:
            return kind == "place" or ("offer" in r["matched"]) == \
                (kind == "new")
    return False


def probe(pid, lat, lon, t_commit, k):
    c = conn()
    path = ("/v1/nearby?lat=%s&lon=%s&radius_m=30&cuisine=nosuchcuisine&"
            "limit=100" % (lat, lon))
    if kind == "place":
        path += "&q=benchword%d" % k
    while time.monotonic() - t_commit < 30:
        try:
            st, body = get(c, path)
            if st == 200 and shown(pid, json.loads(body)["results"]):
                with lock:
                    delays.append(time.monotonic() - t_commit)
                return
        except (OSError, http.client.HTTPException, ValueError):
            c = conn()
        time.sleep(0.005)
    with lock:
        unseen.append(pid)


def post_offer(c, k, pid, span):
    body = json.dumps({"place_id": int(pid), "title": "bench %d" % k,
                       "discount_pct": 10, "starts_at": span[0],
                       "ends_at": span[1]})
    try:
        c.request("POST", "/v1/offers", body, {
            "Authorization": "Bearer " + token,
            "Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        return c, r.status == 201
    except (OSError, http.client.HTTPException):
        return conn(), False


def sql_change(db, k, pid):
    """Change k of place pid through one psql session; True once
    committed (psql echoes a line after the statement's answer)."""
    if kind == "ended":
        sql = ("UPDATE offers SET ends_at = now() WHERE place_id = %d AND "
               "title = 'bench to end';" % int(pid))
    else:
        sql = ("UPDATE places SET name = name || ' Benchword%d' WHERE "
               "id = %d;" % (k, int(pid)))
    db.stdin.write("%s\n\\echo done %d\n" % (sql, k))
    db.stdin.flush()
    return db.stdout.readline().strip() == "done %d" % k


def publish():
    c, t0, probes = conn(), time.monotonic(), []
    now = time.time()
    span = (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60)),
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 86400)))
    db = None
    if kind != "new":
        db = subprocess.Popen([psql_bin, "-X", "-q", "-A", "-t", "-v",
                               "ON_ERROR_STOP=1", "-d", conninfo],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    for k, (pid, lat, lon) in enumerate(offer_places[:rate * duration]):
        if db is None:
            c, ok = post_offer(c, k, pid, span)
        else:
            ok = sql_change(db, k, pid)
        t_commit = time.monotonic()
        with lock:
            stats["published" if ok else "publish_fail"] += 1
        if ok and k % sample == 0:
            t = threading.Thread(target=probe,
                                 args=(int(pid), lat, lon, t_commit, k))
            t.start()
            probes.append(t)
        wait = t0 + (k + 1) / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
    if db is not None:
        db.stdin.close()
        db.wait()
    return probes


def phase(name, work):
    lstat = loader_stat()
    p0, l0, t0 = cpu("/proc/%s/stat" % ranker), cpu(lstat), time.monotonic()
    out = work()
    p1, l1, t1 = cpu("/proc/%s/stat" % ranker), cpu(lstat), time.monotonic()
    print("%s_ranker_cpu_per_s %.4f" % (name, (p1 - p0) / (t1 - t0)))
    print("%s_loader_cpu_per_s %.4f" % (name, (l1 - l0) / (t1 - t0)))
    print("%s_seconds %.2f" % (name, t1 - t0))
    sys.stdout.flush()
    return out


loaders = [threading.Thread(target=nearby_load)]
for t in loaders:
    t.start()
time.sleep(2)
with lock:
    n0 = stats["nearby"]
phase("alone", lambda: time.sleep(duration))
probes = phase("offers", publish)
stop.set()
for t in probes + loaders:
    t.join()
d = sorted(delays)


def pct(p):
    if not d:
        return float("nan")
    return d[min(len(d) - 1, int(round(p / 100.0 * (len(d) - 1))))] * 1000


print("delay_p50_ms %.1f" % pct(50))
print("delay_p99_ms %.1f" % pct(99))
print("delay_max_ms %.1f" % (d[-1] * 1000 if d else float("nan")))
print("probed %d" % (len(d) + len(unseen)))
print("unseen %d" % len(unseen))
for k, v in sorted(stats.items()):
    print("%s %d" % (k, v))
EOF

# what the client and the log of the run of $kind say
val() { awk -v k="$1" '$1 == k { print $2 }' "$tmp/client-$kind.out"; }
cost() { # cost PATTERN FIELD-REGEX: median and max of a logged figure
	grep "$1" "$tmp/phase.log" | sed -n "s/.*$2 \([0-9][0-9]*\) ms.*/\1/p" |
		sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "median %d ms, max %d ms", v[int((NR + 1) / 2)], v[NR]; else printf "-" }'
}

pct_of() { awk -v v="$1" 'BEGIN { printf "%.1f%%", v * 100 }'; }

# run_kind: one run of the changes of $kind; prints its report, and
# counts it in unseen_total
unseen_total=0
run_kind() {
	note "nearby alone for ${duration} s, then $rate changes/s ($kind) beside it for ${duration} s"
	log_lines0=$(wc -l <"$placesd_log")
	run_bg "$tmp/client-$kind.out" "$python_bin" "$tmp/client.py" "$placesd_port" "$token_file" \
		"$tmp/places-$kind" "$tmp/nearby-points" "$ranker_pid" "$rate" "$duration" \
		"$nearby_rate" "$sample" "$kind" "$psql_bin" "$conninfo" ||
		{ note "the client failed:"; cat "$tmp/client-$kind.out" >&2; exit 1; }
	check_placesd
	tail -n +"$((log_lines0 + 1))" "$placesd_log" >"$tmp/phase.log"; cp "$tmp/phase.log" "$tmp/phase-$kind.log"

	# the loader's own account: how many of each, and the logged costs
	deltas=$(grep -c 'loader_offers: snapshot ' "$tmp/phase.log")
	patches=$(grep -c 'loader_patch: snapshot ' "$tmp/phase.log")
	fulls=$(grep -c 'loader_build: snapshot ' "$tmp/phase.log")
	alone=$(val alone_ranker_cpu_per_s)
	with=$(val offers_ranker_cpu_per_s)
	echo "$prog: $nplaces places (seeded in ${t_seed} s), $rate changes/s ($kind) for ${duration} s, /v1/nearby at $nearby_rate/s"
	echo "  placesd:      $placesd_bin, [ranker] nice ${ranker_nice:-default}, overlay_max ${overlay:-default}"
	echo "  machine:      $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end (other processes slow an idle-priority ranker)"
	echo "  first build:  $build_line"
	echo "  changes:      $(val published) made ($(val publish_fail) failed); /v1/nearby $(val nearby) answered, $(val nearby_fail) failed"
	echo "  delay:        p50 $(val delay_p50_ms) ms, p99 $(val delay_p99_ms) ms, max $(val delay_max_ms) ms over $(val probed) changes probed ($(val unseen) never seen ranked within 30 s)"
	echo "                (from the commit's answer to the place shown changed in /v1/nearby)"
	echo "  ranker CPU:   $(pct_of "$alone") of a core with /v1/nearby alone, $(pct_of "$with") with the changes too: the changes cost $(pct_of "$(awk -v a="$alone" -v b="$with" 'BEGIN { print b - a }')")"
	echo "  loader CPU:   $(pct_of "$(val alone_loader_cpu_per_s)") alone, $(pct_of "$(val offers_loader_cpu_per_s)") with the changes (the loader thread only)"
	folds=$(grep -c 'folded in, built' "$tmp/phase.log")
	echo "  loader:       $deltas deltas ($(cost 'loader_offers: snapshot ' 'cpu')), $patches patches ($(cost 'loader_patch: snapshot ' 'cpu')) of which $folds folded the overlay in, $fulls full loads"
	echo "  aims:         change ranked within 100 ms (p99 $(val delay_p99_ms) ms); 100 changes/s < 10% of a core"
	bench_row "$kind: change ranked p99" "$(val delay_p99_ms)" ms "<=100"
	bench_row "$kind: ranker CPU of $rate changes/s" "$(awk -v a="$alone" -v b="$with" 'BEGIN { printf "%.1f", (b - a) * 100 }')" \
		"%core" "$([ "$rate" = 100 ] && echo "<=10")"
	unseen_total=$((unseen_total + $(val unseen)))
}

for kind in $kinds; do
	run_kind
done
[ "$unseen_total" = 0 ] || exit 3
exit 0
