#!/bin/bash
# tests/bench/nearby.sh -- GET /v1/nearby: ranking throughput with 1, 2 and
# `auto` ranker threads, the worker loops' latency while ranking is
# saturated, and the cost growth from 100,000 to 1,000,000 places.
#
# Run on demand; this is not part of `make check`, and it builds nothing.
# It starts a throw-away PostgreSQL cluster in a temporary directory (Unix
# socket only; as root, initdb and pg_ctl run as the postgres user through
# runuser), migrates it and seeds it with placesctl, and then, for several
# rounds whose order alternates, measures:
#
#   nearby/t1    wrk, GET /v1/nearby (the mix below), [ranker] threads = 1
#   nearby/t2    the same with threads = 2
#   nearby/tA    the same with threads = auto (the online cores)
#   nearby/c1    the same placesd as nearby/tA, one connection: the p50 is
#                the cost of one request without queueing
#   healthz/idle wrk, GET /healthz, --probe-connections (8), nothing else
#   healthz/sat  the same while a second wrk saturates /v1/nearby with
#                --connections (64)
#   place/idle   wrk, GET /v1/places/{id}, random ids, like healthz/idle
#   place/sat    the same while /v1/nearby is saturated
#   healthz/traffic, place/traffic  the probes while a second wrk sends
#                GET /v1/places/{id}, paced (each connection pausing 20 ms
#                between requests, R * 21 ms connections: about 1 ms for
#                the request itself), at about the rate R that
#                the saturated /v1/nearby of the case before reached: the
#                same request rate through the loops and PostgreSQL with
#                no ranking at all, the control for the sat case
#   healthz/rank, place/rank  the probes while rank_flood.py (beside this
#                script) keeps 32 calls in flight on the ranker's socket:
#                ranking saturated, and nothing else, as the loops see it;
#                the client runs as the ranking threads do (--idle:
#                SCHED_IDLE, in an autogroup of its own at nice 19), so
#                that its own CPU does not compete with them
#
# The saturating wrk runs in a session of its own (setsid), as a client on
# another machine would: with autogroups (the kernel's default) the CPU is
# shared between sessions first, and in the probe's session its CPU time
# would be charged to the probe.
#
# placesd is started afresh (with a new ranker snapshot) for each ranker
# thread setting in each round; the c1, idle and sat cases run on the
# threads = auto one.  A start is complete when /readyz answers 200, every
# worker slot serves, and a /v1/nearby probe answers "degraded":false (the
# ranker has its snapshot).
#
# The /v1/nearby mix.  The points are drawn near the seeded cities' centres,
# read from the database (cities.lat, cities.lon), with a Gaussian offset
# whose spread is the one of that city's places (also measured in SQL), a
# city being drawn in proportion to its places; the radius is uniform in
# 500..5000 m; and the request is
#   40%  the point and radius alone (no preferences)
#   30%  + category=<one of the categories seeded> or cuisine=<one of the
#        cuisines seeded> (half and half), and open_now=true
#   30%  + q=<a dish word: khachapuri, pizza, ramen, pelmeni, borscht, ...>
# The paths are written once (awk, a fixed seed) to a file that every wrk
# thread steps through from its own offset; a disjoint sample of the same
# mix is fetched with curl during each timed /v1/nearby run and its
# "degraded":true answers counted.  placesd_nearby_degraded_total from
# /metrics is read before and after every run too.
#
# The probes of the idle and sat cases are paced: each of their connections
# waits --probe-delay (10ms) between an answer and its next request, so the
# probe measures the latency of a light request instead of saturating the
# loops itself (--probe-delay 0: unpaced).  The saturating wrk starts
# first and ends last.  The figure is p99 saturated / p99 idle (aim <= 2).
# Beside it, p99 saturated / p99 traffic: what saturated ranking adds to
# the loops' latency beyond serving the same number of requests (1: nothing).
#
# [ranker] timeout: with --ranker-timeout auto (the default) a trial run
# (threads = 1, --connections) is made first with placesd's default; if
# more than 1% of its answers are degraded, the benchmark uses 1s instead,
# and says so, so that the throughput figures count ranked answers.
#
# --big adds, after the rounds, the 1,000,000-place part: placesctl seed
# --replace with --big-places, then per round on one placesd big/c1,
# big/tA and the idle and sat probes again (big-healthz/..., big-place/...):
# there ranking, not the loops or PostgreSQL, is what /v1/nearby saturates
# (about 800 req/s on 2 cores against 4,100 at 100,000 places), which is
# the case the p99 ratio is about.  The table shows the p50 at both sizes
# and their ratio.  The seeding takes minutes.
#
# The probe client is a measuring instrument: it runs under SCHED_FIFO
# (chrt -f 1, --probe-priority rt, the default when this script may set it)
# so that what it measures is the loops, not its own wake-up behind the
# load on the same two cores.  A client on another machine has a core of
# its own; the saturating wrk, PostgreSQL and placesd itself keep their
# normal priorities.  It costs almost no CPU (8 connections, 10 ms pauses).
# --probe-priority normal measures with the probe at the default priority:
# then the probe's own scheduling delay on a loaded 2-core machine is part
# of the figure (on the 2-core machine this was written on, healthz p99
# sat / idle at 1,000,000 places was 2.8 so, against 1.7 under SCHED_FIFO;
# traffic / idle was 2.3 so, so ranking was not what raised it).
#
# oth% is the share of the machine's CPU time that processes other than
# placesd, PostgreSQL, wrk and curl used during a run: a build or test
# running meanwhile makes the figures noisy.  Non-2xx answers, socket
# errors, degraded answers, database errors and timeouts counted in
# placesd's /metrics, and what placesd logged at warn or above are listed
# at the end; failed requests also in a banner.
#
# Everything it starts (placesd, PostgreSQL, wrk, curl) is stopped and its
# temporary directory removed on exit, on failure and on Ctrl-C.
#
# Exit status: 0 when every run completed and no request failed, 3 when
# every run completed but some requests failed (non-2xx, socket errors),
# 1 when placesd, PostgreSQL, placesctl or wrk failed, 2 on a usage or
# setup error.
#
# Needs: PostgreSQL server binaries (initdb, pg_ctl, postgres, psql;
# postgresql-15), wrk, curl, python3 (rank_flood.py; /usr/bin/python3
# preferred); runuser when run as root.  Only loopback and Unix sockets.

set -u
set -o pipefail

prog=${0##*/}
bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shared helpers: die, note, is_running, stop_proc, free_port, median, ...
. "$bench_dir/lib.sh" || { echo "$prog: cannot read lib.sh beside it" >&2; exit 2; }

usage() {
	cat <<EOF
Usage: $prog [OPTIONS]

Benchmark placesd's GET /v1/nearby: throughput and p99 with 1, 2 and auto
ranker threads; p99 of /healthz and /v1/places/{id} while /v1/nearby is
saturated, beside the same with it idle; p50 at 100,000 and (--big)
1,000,000 places.

Options:
  --placesd PATH     placesd binary (default: \$PLACESD, else src/placesd of the
                     build directory: \$top_builddir/src, ./src or ../../src)
  --placesctl PATH   placesctl binary (default: \$PLACESCTL, else placesctl
                     beside placesd, else src/placesctl of the build directory)
  --sql-dir DIR      migrations (default: src/sql of this source tree:
                     $bench_dir/../../src/sql)
  --places N         places to seed (default: 100000; 20000 for quick runs)
  --big              also measure at --big-places places (seeding takes minutes)
  --big-places N     places of the --big part (default: 1000000)
  --seed S           seed of the generator (default: 1)
  --workers N|auto   placesd workers (default: auto = $(nproc 2>/dev/null || echo '?') online cores)
  --pool-size N      [database] pool_size per worker (default: 4)
  --ranker-threads L the [ranker] threads settings compared, comma separated
                     (default: 1,2,auto)
  --ranker-timeout D [ranker] timeout, e.g. 250ms or 1s, or auto (default: auto:
                     placesd's default, or 1s if a trial run with threads = 1
                     had more than 1% degraded answers)
  --ranker-queue N   [ranker] queue_size (default: placesd's default)
  --rounds R         rounds (default: 3)
  --duration D       length of one wrk run, 10s, 1m (default: 10s)
  --connections C    wrk connections on /v1/nearby (default: 64)
  --threads T        wrk threads on /v1/nearby (default: 2)
  --probe-connections C  connections of the idle/sat probes (default: 8)
  --probe-delay D    pause of a probe connection between requests, e.g. 10ms;
                     0 = unpaced (default: 10ms)
  --probe-priority P rt: the probe wrk runs under SCHED_FIFO (chrt -f 1), as
                     a client with a core of its own; normal: at the default
                     priority (default: rt when chrt may set it, else normal)
  --sample N         /v1/nearby answers fetched with curl during each
                     nearby run and checked for "degraded":true (default: 200)
  --warmup D         untimed wrk run on /v1/nearby after each placesd start;
                     0 = none (default: 2s)
  --pg-bindir DIR    PostgreSQL binaries (default: \$PG_BINDIR, else the
                     newest /usr/lib/postgresql/N/bin, else pg_config --bindir)
  --keep DIR         copy the configs, logs, scripts and raw outputs to DIR
  -h, --help         this text

Examples, from a build directory (SRCDIR = the source tree):
  SRCDIR/tests/bench/nearby.sh --places 20000 --rounds 1 --duration 5s
  SRCDIR/tests/bench/nearby.sh --big --keep /tmp/nearby-bench
EOF
}

# ---------------------------------------------------------------- options ---
placesd_bin=${PLACESD:-}
placesctl_bin=${PLACESCTL:-}
sql_dir=
nplaces=100000
big=0
big_places=1000000
seed=1
workers=auto
pool_size=4
rthreads_opt=1,2,auto
rtimeout_opt=auto
rqueue=
rounds=3
duration=10s
conns=64
threads=2
pconns=8
pdelay=10ms
pprio=
sample=200
warmup=2s
pg_bindir=${PG_BINDIR:-}
keep_dir=

while [ $# -gt 0 ]; do
	case $1 in
	--placesd)       need_arg "$@"; placesd_bin=$2; shift 2 ;;
	--placesd=*)     placesd_bin=${1#*=}; shift ;;
	--placesctl)     need_arg "$@"; placesctl_bin=$2; shift 2 ;;
	--placesctl=*)   placesctl_bin=${1#*=}; shift ;;
	--sql-dir)       need_arg "$@"; sql_dir=$2; shift 2 ;;
	--sql-dir=*)     sql_dir=${1#*=}; shift ;;
	--places)        need_arg "$@"; nplaces=$2; shift 2 ;;
	--places=*)      nplaces=${1#*=}; shift ;;
	--big)           big=1; shift ;;
	--big-places)    need_arg "$@"; big_places=$2; shift 2 ;;
	--big-places=*)  big_places=${1#*=}; shift ;;
	--seed)          need_arg "$@"; seed=$2; shift 2 ;;
	--seed=*)        seed=${1#*=}; shift ;;
	--workers)       need_arg "$@"; workers=$2; shift 2 ;;
	--workers=*)     workers=${1#*=}; shift ;;
	--pool-size)     need_arg "$@"; pool_size=$2; shift 2 ;;
	--pool-size=*)   pool_size=${1#*=}; shift ;;
	--ranker-threads) need_arg "$@"; rthreads_opt=$2; shift 2 ;;
	--ranker-threads=*) rthreads_opt=${1#*=}; shift ;;
	--ranker-timeout) need_arg "$@"; rtimeout_opt=$2; shift 2 ;;
	--ranker-timeout=*) rtimeout_opt=${1#*=}; shift ;;
	--ranker-queue)  need_arg "$@"; rqueue=$2; shift 2 ;;
	--ranker-queue=*) rqueue=${1#*=}; shift ;;
	--rounds)        need_arg "$@"; rounds=$2; shift 2 ;;
	--rounds=*)      rounds=${1#*=}; shift ;;
	--duration)      need_arg "$@"; duration=$2; shift 2 ;;
	--duration=*)    duration=${1#*=}; shift ;;
	--connections)   need_arg "$@"; conns=$2; shift 2 ;;
	--connections=*) conns=${1#*=}; shift ;;
	--threads)       need_arg "$@"; threads=$2; shift 2 ;;
	--threads=*)     threads=${1#*=}; shift ;;
	--probe-connections) need_arg "$@"; pconns=$2; shift 2 ;;
	--probe-connections=*) pconns=${1#*=}; shift ;;
	--probe-delay)   need_arg "$@"; pdelay=$2; shift 2 ;;
	--probe-delay=*) pdelay=${1#*=}; shift ;;
	--probe-priority) need_arg "$@"; pprio=$2; shift 2 ;;
	--probe-priority=*) pprio=${1#*=}; shift ;;
	--sample)        need_arg "$@"; sample=$2; shift 2 ;;
	--sample=*)      sample=${1#*=}; shift ;;
	--warmup)        need_arg "$@"; warmup=$2; shift 2 ;;
	--warmup=*)      warmup=${1#*=}; shift ;;
	--pg-bindir)     need_arg "$@"; pg_bindir=$2; shift 2 ;;
	--pg-bindir=*)   pg_bindir=${1#*=}; shift ;;
	--keep)          need_arg "$@"; keep_dir=$2; shift 2 ;;
	--keep=*)        keep_dir=${1#*=}; shift ;;
	-h|--help)       usage; exit 0 ;;
	*)               usage >&2; die "unknown argument: $1" ;;
	esac
done

ncpu=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN) || die "cannot count the cores"
if [ "$workers" = auto ]; then
	nworkers=$ncpu
else
	is_uint "$workers" && [ "$workers" -le 64 ] || die "--workers: 1..64 or auto, not '$workers'"
	nworkers=$((10#$workers))
	workers=$nworkers
fi
is_uint "$nplaces" && [ "$nplaces" -le 10000000 ] || die "--places: 1..10000000, not '$nplaces'"
nplaces=$((10#$nplaces))
is_uint "$big_places" && [ "$big_places" -le 10000000 ] || die "--big-places: 1..10000000, not '$big_places'"
big_places=$((10#$big_places))
[[ $seed =~ ^[0-9]+$ ]] || die "--seed: a number, not '$seed'"
is_uint "$pool_size" && [ "$pool_size" -le 64 ] || die "--pool-size: 1..64, not '$pool_size'"
rthreads=()
IFS=, read -r -a rthreads <<<"$rthreads_opt"
[ ${#rthreads[@]} -gt 0 ] || die "--ranker-threads: a list such as 1,2,auto"
for t in "${rthreads[@]}"; do
	[ "$t" = auto ] || { is_uint "$t" && [ "$t" -le 256 ]; } || die "--ranker-threads: 1..256 or auto, not '$t'"
done
case " ${rthreads[*]} " in *" auto "*) ;; *) rthreads+=(auto) ;; esac   # the c1/idle/sat cases run on it
[ "$rtimeout_opt" = auto ] || [[ $rtimeout_opt =~ ^[0-9]+(ms|s|m)$ ]] ||
	die "--ranker-timeout: e.g. 250ms, 1s or auto, not '$rtimeout_opt'"
[ -z "$rqueue" ] || { is_uint "$rqueue" && [ "$rqueue" -le 1000000 ]; } || die "--ranker-queue: 1..1000000, not '$rqueue'"
is_uint "$rounds" || die "--rounds: a positive integer, not '$rounds'"
is_uint "$threads" || die "--threads: a positive integer, not '$threads'"
is_uint "$conns" || die "--connections: a positive integer, not '$conns'"
[ "$conns" -ge "$threads" ] || die "--connections: $conns is fewer than --threads $threads (wrk needs one per thread)"
is_uint "$pconns" || die "--probe-connections: a positive integer, not '$pconns'"
[[ $pdelay =~ ^[0-9]+(ms)?$ ]] || die "--probe-delay: e.g. 10ms or 0, not '$pdelay'"
pdelay_ms=$((10#${pdelay%ms}))
probe_pre=()
case $pprio in
'')	chrt -f 1 true 2>/dev/null && pprio=rt || pprio=normal ;;
rt)	chrt -f 1 true 2>/dev/null || die "--probe-priority rt: chrt -f 1 fails here (needs root or CAP_SYS_NICE)" ;;
normal)	;;
*)	die "--probe-priority: rt or normal, not '$pprio'" ;;
esac
[ "$pprio" = rt ] && probe_pre=(chrt -f 1)
[[ $sample =~ ^[0-9]+$ ]] || die "--sample: a number, not '$sample'"
is_duration "$duration" && [ "${duration%[smh]}" -gt 0 ] || die "--duration: e.g. 10s or 1m, not '$duration'"
duration_sec=$(duration_s "$duration")
[[ $warmup =~ ^0+[smh]?$ ]] && warmup=0
[ "$warmup" = 0 ] || is_duration "$warmup" || die "--warmup: e.g. 2s or 0, not '$warmup'"

# binaries
if [ -z "$placesd_bin" ]; then
	placesd_bin=$(find_build_bin placesd) ||
		die "placesd not found: use --placesd PATH or PLACESD=PATH, or run from the build directory"
fi
[ -x "$placesd_bin" ] && [ -f "$placesd_bin" ] || die "not an executable file: $placesd_bin"
placesd_bin=$(abs_path "$placesd_bin")
if [ -z "$placesctl_bin" ]; then
	if [ -x "$(dirname "$placesd_bin")/placesctl" ]; then
		placesctl_bin=$(dirname "$placesd_bin")/placesctl
	else
		placesctl_bin=$(find_build_bin placesctl) ||
			die "placesctl not found: use --placesctl PATH or PLACESCTL=PATH"
	fi
fi
[ -x "$placesctl_bin" ] && [ -f "$placesctl_bin" ] || die "not an executable file: $placesctl_bin"
placesctl_bin=$(abs_path "$placesctl_bin")
[ -n "$sql_dir" ] || sql_dir=$bench_dir/../../src/sql
[ -d "$sql_dir" ] && ls "$sql_dir"/*.sql >/dev/null 2>&1 || die "no migrations (*.sql) in $sql_dir: use --sql-dir DIR"
sql_dir=$(cd "$sql_dir" && pwd)

# PostgreSQL
find_postgres
pg_runner_setup
need_tools wrk curl
python_bin=/usr/bin/python3
[ -x "$python_bin" ] || python_bin=$(command -v python3) || die "python3 not found (rank_flood.py needs it)"

# ---------------------------------------------------------------- cleanup ---
tmp=
pgdir=
pg_started=
pg_pid=
placesd_pid=
placesd_port=
placesd_log=
child_pid=
sat_pid=
curl_pid=
cleaned=

cleanup() {
	[ -n "$cleaned" ] && return
	cleaned=1
	trap '' INT TERM
	kill_child "$child_pid"; child_pid=
	kill_child "$sat_pid"; sat_pid=
	kill_child "$curl_pid"; curl_pid=
	stop_placesd
	stop_postgres
	keep_outputs
	[ -n "$tmp" ] && rm -rf "$tmp"
}
trap 'cleanup' EXIT
trap 'note "interrupted"; exit 130' INT
trap 'note "terminated"; exit 143' TERM

problems=()
failed_reqs=()

make_tmp nbench


# ------------------------------------------------------------- PostgreSQL ---
pgdir=$tmp/pg
# placesd: workers x (pool + LISTEN) connections and the ranker's; psql and
# placesctl; two placesd generations may overlap while one stops
max_conn=$((2 * (nworkers * (pool_size + 2) + 4) + 20))
start_cluster "$pgdir" "$max_conn" 512MB


# placesd configuration: write_conf FILE PORT RANKER_THREADS RANKER_TIMEOUT
# (RANKER_TIMEOUT empty: placesd's default)
write_conf() {
	cat >"$1" <<EOF
# written by $prog
[server]
listen = 127.0.0.1:$2
workers = $workers

[database]
conninfo = $conninfo
pool_size = $pool_size

[cache]
ttl = 0s

[ranker]
socket = $tmp/ranker.sock
threads = $3
${4:+timeout = $4}
${rqueue:+queue_size = $rqueue}

[log]
level = info
EOF
}

# seed N MODE: placesctl seed (MODE: --replace or nothing), VACUUM ANALYZE;
# sets t_seed (seconds) and nmenu
seed_db() {
	local n=$1 mode=${2:-} pmin pmax pcount
	t_seed=$(date +%s.%N)
	run_bg "$tmp/seed-$n.log" "$placesctl_bin" -c "$tmp/placesctl.conf" seed --places "$n" --seed "$seed" $mode ||
		{ note "placesctl seed --places $n failed:"; tail -n 30 "$tmp/seed-$n.log" >&2; exit 1; }
	t_seed=$(awk -v a="$t_seed" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	psql_q -c "VACUUM ANALYZE" >"$tmp/vacuum.log" 2>&1 || { note "VACUUM ANALYZE failed:"; cat "$tmp/vacuum.log" >&2; exit 1; }
	read -r pmin pmax pcount nmenu <<<"$(psql_q -F ' ' -c "SELECT min(id), max(id), count(*), (SELECT count(*) FROM menu_items) FROM places")" ||
		{ note "cannot count the places"; exit 1; }
	[ "${pcount:-}" = "$n" ] && [ "$((pmax - pmin + 1))" = "$n" ] ||
		{ note "expected $n places with consecutive ids after seeding, found min ${pmin:-?} max ${pmax:-?} count ${pcount:-?}"; exit 1; }
	id_min=$pmin
	id_max=$pmax
}

write_conf "$tmp/placesctl.conf" "$(free_port)" auto ""
"$placesctl_bin" -c "$tmp/placesctl.conf" migrate --dir "$sql_dir" >"$tmp/migrate.log" 2>&1 ||
	{ note "placesctl migrate failed:"; cat "$tmp/migrate.log" >&2; exit 1; }
seed_db "$nplaces"

# ------------------------------------------------------------ the request mix ---
# The cities (centre, places, spread of the places around the centre in
# km, per axis), the categories and cuisines seeded; the dish words.
dishes="khachapuri pizza ramen pelmeni borscht khinkali shawarma burger sushi pho"
read_cities() {
	psql_q -F ' ' -c "SELECT c.id, c.lat, c.lon, count(*),
		sqrt(avg(((p.lat - c.lat) * 111.2) ^ 2 + ((p.lon - c.lon) * 111.2 * cos(radians(c.lat))) ^ 2) / 2)
		FROM cities c JOIN places p ON p.city_id = c.id GROUP BY c.id, c.lat, c.lon ORDER BY count(*) DESC, c.id" >"$tmp/cities.txt" ||
		{ note "cannot read the cities"; exit 1; }
	[ -s "$tmp/cities.txt" ] || { note "no cities with places in the database"; exit 1; }
}
read_cities
psql_q -c "SELECT DISTINCT unnest(categories) FROM places ORDER BY 1" >"$tmp/categories.txt" || exit 1
psql_q -c "SELECT DISTINCT unnest(cuisines) FROM places ORDER BY 1" >"$tmp/cuisines.txt" || exit 1
[ -s "$tmp/categories.txt" ] && [ -s "$tmp/cuisines.txt" ] || { note "no categories or cuisines seeded"; exit 1; }
# the dish words found in the menus (a word the data lacks would only
# measure empty answers)
dish_list=
for w in $dishes; do
	n=$(psql_q -c "SELECT count(*) FROM (SELECT 1 FROM menu_items WHERE name ILIKE '%$w%' LIMIT 1) s") || exit 1
	[ "$n" -gt 0 ] && dish_list+="$w "
done
[ -n "$dish_list" ] || { note "none of the dish words ($dishes) is on a menu"; exit 1; }

# write_paths FILE N SEED: N /v1/nearby paths of the mix
write_paths() {
	awk -v n="$2" -v seed="$3" -v dishes="$dish_list" \
		-v catf="$tmp/categories.txt" -v cuif="$tmp/cuisines.txt" '
	function gauss(  u, v) { u = rand(); if (u < 1e-12) u = 1e-12; v = rand()
		return sqrt(-2 * log(u)) * cos(6.283185307179586 * v) }
	BEGIN {
		srand(seed)
		nd = split(dishes, dish, " ")
		while ((getline l < catf) > 0) if (l != "") cat[++nc] = l
		while ((getline l < cuif) > 0) if (l != "") cui[++nu] = l
	}
	{ id[NR] = $1; la[NR] = $2; lo[NR] = $3; cnt[NR] = $4; sg[NR] = $5; tot += $4; cum[NR] = tot }
	END {
		for (i = 1; i <= n; i++) {
			x = rand() * tot
			for (c = 1; c < NR && cum[c] < x; c++) ;
			lat = la[c] + gauss() * sg[c] / 111.2
			lon = lo[c] + gauss() * sg[c] / (111.2 * cos(la[c] * 3.141592653589793 / 180))
			p = sprintf("/v1/nearby?lat=%.5f&lon=%.5f&radius_m=%d", lat, lon, 500 + int(rand() * 4501))
			k = rand()
			if (k < 0.4) ;
			else if (k < 0.7) {
				if (rand() < 0.5) p = p "&category=" cat[1 + int(rand() * nc)]
				else p = p "&cuisine=" cui[1 + int(rand() * nu)]
				p = p "&open_now=true"
			} else p = p "&q=" dish[1 + int(rand() * nd)]
			print p
		}
	}' "$tmp/cities.txt" >"$1" || { note "cannot write the /v1/nearby paths"; exit 1; }
}
write_paths "$tmp/nearby.paths" 20000 "$seed"
write_paths "$tmp/sample.paths" "$sample" "$((seed + 7777))"
# write_place_paths: 20000 /v1/places/{id} paths, ids drawn uniformly
write_place_paths() {
	awk -v n=20000 -v a="$id_min" -v b="$id_max" -v seed="$seed" 'BEGIN { srand(seed)
		for (i = 0; i < n; i++) print "/v1/places/" (a + int(rand() * (b - a + 1))) }' >"$tmp/places.paths"
}
write_place_paths
echo /healthz >"$tmp/healthz.paths"

# Every wrk run uses this script: the paths of a file, each thread from its
# own offset, one ready request string each; an optional pause per
# connection between an answer and its next request.  args: FILE [DELAY_MS]
cat >"$tmp/paths.lua" <<'EOF'
local reqs, n, i, pause = {}, 0, 0, 0
local nthreads = 0
function setup(thread)
	nthreads = nthreads + 1
	thread:set("tid", nthreads)
end
function init(args)
	for line in io.lines(args[1]) do
		n = n + 1
		reqs[n] = wrk.format("GET", line)
	end
	pause = tonumber(args[2] or "0") or 0
	i = ((tid or 0) * 7919) % n
end
function delay()
	return pause
end
function request()
	i = i % n + 1
	return reqs[i]
end
EOF
cp "$tmp/paths.lua" "$tmp/paced.lua"     # the traffic cases' load
if [ "$pdelay_ms" -eq 0 ]; then
	# no delay() at all: wrk then does not arm a timer per request
	sed '/^function delay/,/^end/d' "$tmp/paths.lua" >"$tmp/probe.lua"
else
	cp "$tmp/paths.lua" "$tmp/probe.lua"
fi
sed -i '/^function delay/,/^end/d' "$tmp/paths.lua"

# -------------------------------------------------------------- placesd ---
# ranker_pid: the ranker process of the running placesd (by its title)
ranker_pid() {
	local p
	for p in $(pgrep -P "$placesd_pid" 2>/dev/null); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q 'ranker' && { echo "$p"; return 0; }
	done
	return 1
}

# start_placesd NAME RANKER_THREADS: a fresh placesd on a free port, once
# /readyz answers 200, every worker serves and /v1/nearby is ranked (not
# degraded).  Sets snap_desc (the ranker's snapshot line) and ranker_rss.
nstart=0
snap_desc=
ranker_rss=
start_placesd() {
	local name=$1 rt=$2 i body probe
	nstart=$((nstart + 1))
	placesd_port=$(free_port) || die "no free port found"
	placesd_conf=$tmp/placesd-$nstart-$name.conf
	placesd_log=$tmp/placesd-$nstart-$name.log
	write_conf "$placesd_conf" "$placesd_port" "$rt" "$rtimeout"
	launch_placesd "$name (start $nstart)"
	# the ranker has a snapshot once an answer is not degraded (600 s at
	# most: a big data set takes a while)
	probe=$(head -n 1 "$tmp/nearby.paths")
	for i in $(seq 1 3000); do
		check_placesd
		body=$(curl -s --max-time 5 "http://127.0.0.1:$placesd_port$probe" 2>/dev/null)
		grep -q '"degraded":false' <<<"$body" && break
		sleep 0.2
	done
	grep -q '"degraded":false' <<<"$body" || {
		note "placesd $name: GET $probe still degraded 600 s after the start: $(cut -c1-300 <<<"$body")"
		tail -n 30 "$placesd_log" >&2; exit 1; }
	snap_desc=$(grep -o 'snapshot [0-9]*: .*' "$placesd_log" | tail -n 1)
	local rp
	rp=$(ranker_pid) && ranker_rss=$(awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$rp/status" 2>/dev/null)
	return 0
}

# p50_of WRK_OUT: the p50 in ms of a wrk --latency report
p50_of() { to_ms "$(awk '$1 == "50%" { print $2 }' "$1")"; }

# --------------------------------------------------------------- running ---
# start_sample OUT: the curl sample of /v1/nearby answers, in the background,
# a second after the timed run starts (one keep-alive connection)
start_sample() {
	[ "$sample" -gt 0 ] || return 0
	sed "s|^|url = \"http://127.0.0.1:$placesd_port|; s|\$|\"|" "$tmp/sample.paths" >"$tmp/sample.curl"
	( sleep 1; exec curl -s --max-time 10 -w '\n@@%{http_code}\n' -K "$tmp/sample.curl" ) >"$1" 2>/dev/null &
	curl_pid=$!
}
# end_sample OUT: stop it (if the run ended first), sets sample_info
end_sample() {
	sample_info=
	[ -n "$curl_pid" ] || return 0
	local i got dg code_bad
	for i in $(seq 1 50); do is_running "$curl_pid" || break; sleep 0.1; done
	kill_child "$curl_pid"; curl_pid=
	got=$(grep -c '^@@200$' "$1")
	code_bad=$(grep '^@@' "$1" | grep -vc '^@@200$')
	dg=$(grep -o '"degraded":true' "$1" | wc -l)
	sample_info="sample: $dg/$got degraded; "
	[ "$code_bad" -gt 0 ] && sample_info+="($code_bad not 200) "
	sample_dg=$dg
	sample_got=$got
}

other_pct=
declare -A RPS P99 P50
# account CASE ROUND OUT M0 M1 [NEARBY]: figures, failures and counters of a
# finished wrk run; NEARBY=1: degraded answers are counted too.  Appends to
# $info.
account() {
	local cs=$1 r=$2 out=$3 m0=$4 m1=$5 nb=${6:-0} rps p99 reqs non2xx sock
	read -r rps p99 reqs non2xx sock <<<"$(parse_wrk "$out")"
	RPS[$cs,$r]=$rps
	P99[$cs,$r]=$p99
	P50[$cs,$r]=$(p50_of "$out")
	if [ "${non2xx:-0}" != 0 ]; then
		failed_reqs+=("$cs round $r: $non2xx of $reqs answers were not 2xx")
		info+="non-2xx $non2xx "
	fi
	if [ -n "$sock" ]; then
		failed_reqs+=("$cs round $r: wrk socket errors: ${sock//_/ }")
		info+="errors: ${sock//_/ } "
	fi
	[ "$nb" = 1 ] || return 0
	local d e to x5 dg calls fail
	d() { echo $(( $(metric "$1" "$m1") - $(metric "$1" "$m0") )); }
	e=$(d placesd_pg_errors_total); to=$(d placesd_pg_timeouts_total)
	x5=$(( $(awk '/^placesd_http_requests_total\{code_class="5xx"\}/ { print $2 + 0 }' "$m1") -
		$(awk '/^placesd_http_requests_total\{code_class="5xx"\}/ { print $2 + 0 }' "$m0") ))
	dg=$(d placesd_nearby_degraded_total); calls=$(d placesd_ranker_calls_total)
	fail=$(d placesd_ranker_failures_total)
	DEG[$cs,$r]=$(awk -v d="$dg" -v n="$reqs" 'BEGIN { printf "%.2f", (n > 0 ? 100 * d / n : 0) }')
	info+="degraded_total $(metric placesd_nearby_degraded_total "$m0")->$(metric placesd_nearby_degraded_total "$m1") (${DEG[$cs,$r]}%) "
	[ "$dg" -gt 0 ] && problems+=("$cs round $r: $dg /v1/nearby answers degraded (placesd_nearby_degraded_total), ${DEG[$cs,$r]}% of wrk's $reqs")
	[ "$fail" -gt 0 ] && { info+="ranker failures $fail "; problems+=("$cs round $r: placesd_ranker_failures_total rose by $fail"); }
	[ "$e" -gt 0 ] && { info+="pg errors $e "; problems+=("$cs round $r: placesd counted $e failed database queries"); }
	[ "$to" -gt 0 ] && { info+="pg timeouts $to "; problems+=("$cs round $r: placesd counted $to database queries past query_timeout"); }
	[ "$x5" -gt 0 ] && { info+="5xx $x5 "; problems+=("$cs round $r: placesd counted $x5 answers 5xx"); }
	return 0
}
declare -A DEG

# run_nearby CASE ROUND CONNS: one timed wrk run on /v1/nearby with the curl
# sample beside it
run_nearby() {
	local cs=$1 r=$2 c=$3 out t0 t1 rc info= th=$threads
	[ "$c" -lt "$th" ] && th=$c
	out="$tmp/wrk-r$r-${cs//\//-}.txt"
	fetch_metrics "$out.m0" || { note "GET /metrics failed"; exit 1; }
	cpu_snapshot "+$placesd_pid" "+$pg_pid"; t0=$snap
	start_sample "$out.sample"
	run_bg "$out" wrk -t"$th" -c"$c" -d"$duration" --timeout 10s --latency \
		-s "$tmp/paths.lua" "http://127.0.0.1:$placesd_port" -- "$tmp/nearby.paths"; rc=$?
	end_sample "$out.sample"
	cpu_snapshot "+$placesd_pid" "+$pg_pid"; t1=$snap
	other_pct=$(other_pct "$t0" "$t1")
	[ $rc -eq 0 ] || { note "wrk ($cs, round $r) failed (status $rc):"; cat "$out" >&2; exit 1; }
	grep -q '^Requests/sec:' "$out" || { note "no Requests/sec in wrk output ($cs, round $r):"; cat "$out" >&2; exit 1; }
	check_placesd
	fetch_metrics "$out.m1" || { note "GET /metrics failed after a run"; exit 1; }
	account "$cs" "$r" "$out" "$out.m0" "$out.m1" 1
	info="$sample_info$info"
	[ "${sample_dg:-0}" -gt 0 ] && problems+=("$cs round $r: $sample_dg of $sample_got sampled /v1/nearby answers had \"degraded\":true")
	report_run "$cs" "$r" "${RPS[$cs,$r]}" "${P50[$cs,$r]}" "${P99[$cs,$r]}" "$other_pct" "$info"
}

# run_probe CASE ROUND PATHS SAT: the paced probe (--probe-connections) on
# PATHS; SAT=1: while a second wrk saturates /v1/nearby; SAT=2: while
# rank_flood.py saturates the ranker directly; SAT=3: while a second wrk
# sends /v1/places/{id} at the rate of the sat case before (CASE with
# /traffic replaced by /sat+nb)
run_probe() {
	local cs=$1 r=$2 paths=$3 sat=$4 out sout t0 t1 rc src info= pth=1 rate pause tconns
	out="$tmp/wrk-r$r-${cs//\//-}.txt"
	sout="$out.nearby"
	fetch_metrics "$out.m0" || { note "GET /metrics failed"; exit 1; }
	cpu_snapshot "+$placesd_pid" "+$pg_pid"; t0=$snap
	# the saturating wrk runs in a session of its own (setsid), as a
	# client on another machine would: the kernel shares the CPU between
	# sessions (autogroups) before threads, and the probe must not queue
	# behind its own session's load
	if [ "$sat" = 1 ]; then
		setsid wrk -t"$threads" -c"$conns" -d"$((duration_sec + 4))s" --timeout 10s --latency \
			-s "$tmp/paths.lua" "http://127.0.0.1:$placesd_port" -- "$tmp/nearby.paths" >"$sout" 2>&1 &
		sat_pid=$!
		sleep 2
	elif [ "$sat" = 3 ]; then
		rate=${RPS[${cs%/traffic}/sat+nb,$r]:-0}
		# wrk pauses in whole milliseconds: the rate is set by the
		# number of connections, each one about 21 ms a request
		pause=20
		tconns=$(awk -v r="$rate" -v t="$threads" 'BEGIN { c = int(r * 21 / 1000 + 0.5); printf "%d", (c < t ? t : c) }')
		setsid wrk -t"$threads" -c"$tconns" -d"$((duration_sec + 4))s" --timeout 10s --latency \
			-s "$tmp/paced.lua" "http://127.0.0.1:$placesd_port" -- "$tmp/places.paths" "$pause" >"$sout" 2>&1 &
		sat_pid=$!
		sleep 2
	elif [ "$sat" = 2 ]; then
		# --idle, as the ranking threads: the client's own CPU (a
		# Python loop, 100 us a call) must not count against the loops
		"$python_bin" "$bench_dir/rank_flood.py" --idle --socket "$tmp/ranker.sock" \
			--paths "$tmp/nearby.paths" --connections 2 --depth 16 \
			--duration "$((duration_sec + 4))" >"$sout" 2>&1 &
		sat_pid=$!
		sleep 2
	fi
	run_bg "$out" "${probe_pre[@]}" wrk -t"$pth" -c"$pconns" -d"$duration" --timeout 10s --latency \
		-s "$tmp/probe.lua" "http://127.0.0.1:$placesd_port" -- "$paths" "$pdelay_ms"; rc=$?
	if [ "$sat" = 1 ] || [ "$sat" = 3 ]; then
		wait "$sat_pid"; src=$?; sat_pid=
		[ $src -eq 0 ] && grep -q '^Requests/sec:' "$sout" ||
			{ note "the loading wrk ($cs, round $r) failed (status $src):"; cat "$sout" >&2; exit 1; }
	elif [ "$sat" = 2 ]; then
		wait "$sat_pid"; src=$?; sat_pid=
		[ $src -eq 0 ] || { note "rank_flood.py ($cs, round $r) failed (status $src):"; cat "$sout" >&2; exit 1; }
		info="ranker $(sed -n 's/.*"results_per_s": \([0-9.]*\).*/\1/p' "$sout") results/s (rank_flood.py) "
	fi
	cpu_snapshot "+$placesd_pid" "+$pg_pid"; t1=$snap
	other_pct=$(other_pct "$t0" "$t1")
	[ $rc -eq 0 ] || { note "wrk ($cs, round $r) failed (status $rc):"; cat "$out" >&2; exit 1; }
	grep -q '^Requests/sec:' "$out" || { note "no Requests/sec in wrk output ($cs, round $r):"; cat "$out" >&2; exit 1; }
	check_placesd
	fetch_metrics "$out.m1" || { note "GET /metrics failed after a run"; exit 1; }
	account "$cs" "$r" "$out" "$out.m0" "$out.m1" 0
	if [ "$sat" = 1 ]; then
		account "$cs+nb" "$r" "$sout" "$out.m0" "$out.m1" 1
		info="nearby $(fmt_rps "${RPS[$cs+nb,$r]}") req/s p99 $(printf '%.1f' "${P99[$cs+nb,$r]}") ms $info"
	elif [ "$sat" = 3 ]; then
		account "$cs+pl" "$r" "$sout" "$out.m0" "$out.m1" 0
		info="places $(fmt_rps "${RPS[$cs+pl,$r]}") req/s ($tconns connections, $pause ms pauses) $info"
	fi
	report_run "$cs" "$r" "${RPS[$cs,$r]}" "${P50[$cs,$r]}" "${P99[$cs,$r]}" "$other_pct" "$info"
}

noisy=0
report_run() {
	printf '%5s  %-18s %9s %8.3f %9.3f %5s   %s\n' "$2" "$1" "$(fmt_rps "$3")" "$4" "$5" "$6" "$7"
	[ "${6:-0}" -gt 10 ] && noisy=$((noisy + 1))
	return 0
}
table_head() {
	printf '%5s  %-18s %9s %8s %9s %5s   %s\n' round case "req/s" "p50 ms" "p99 ms" "oth%" notes
	printf '%s\n' "----------------------------------------------------------------------------------------------"
}

warm_untimed() {
	[ "$warmup" = 0 ] && return 0
	run_bg "$tmp/wrk-warmup-$nstart.txt" wrk -t"$threads" -c"$conns" -d"$warmup" --timeout 10s \
		-s "$tmp/paths.lua" "http://127.0.0.1:$placesd_port" -- "$tmp/nearby.paths" ||
		{ note "wrk (untimed warm-up) failed:"; cat "$tmp/wrk-warmup-$nstart.txt" >&2; exit 1; }
}

case_of() { [ "$1" = auto ] && echo nearby/tA || echo "nearby/t$1"; }

# block_threads ROUND: one placesd per ranker thread setting, in an order
# that alternates with the round; the auto one stays up for block_probe
block_threads() {
	local r=$1 list=("${rthreads[@]}") t i
	if [ $((r % 2)) -eq 0 ]; then
		list=(); for ((i = ${#rthreads[@]} - 1; i >= 0; i--)); do list+=("${rthreads[i]}"); done
	fi
	for t in "${list[@]}"; do
		start_placesd "t$t" "$t"
		warm_untimed
		run_nearby "$(case_of "$t")" "$r" "$conns"
		if [ "$t" = auto ]; then
			run_nearby nearby/c1 "$r" 1
			block_probe "$r"
		fi
		stop_placesd
	done
}
# block_probe ROUND [PREFIX]: the idle and sat probes, cases named
# PREFIXhealthz/idle and so on
block_probe() {
	local r=$1 p=${2:-}
	if [ $((r % 2)) -eq 1 ]; then
		run_probe "${p}healthz/idle" "$r" "$tmp/healthz.paths" 0
		run_probe "${p}healthz/sat" "$r" "$tmp/healthz.paths" 1
		run_probe "${p}healthz/traffic" "$r" "$tmp/healthz.paths" 3
		run_probe "${p}healthz/rank" "$r" "$tmp/healthz.paths" 2
		run_probe "${p}place/idle" "$r" "$tmp/places.paths" 0
		run_probe "${p}place/sat" "$r" "$tmp/places.paths" 1
		run_probe "${p}place/traffic" "$r" "$tmp/places.paths" 3
		run_probe "${p}place/rank" "$r" "$tmp/places.paths" 2
	else
		run_probe "${p}place/rank" "$r" "$tmp/places.paths" 2
		run_probe "${p}place/sat" "$r" "$tmp/places.paths" 1
		run_probe "${p}place/traffic" "$r" "$tmp/places.paths" 3
		run_probe "${p}place/idle" "$r" "$tmp/places.paths" 0
		run_probe "${p}healthz/rank" "$r" "$tmp/healthz.paths" 2
		run_probe "${p}healthz/sat" "$r" "$tmp/healthz.paths" 1
		run_probe "${p}healthz/traffic" "$r" "$tmp/healthz.paths" 3
		run_probe "${p}healthz/idle" "$r" "$tmp/healthz.paths" 0
	fi
}

# ------------------------------------------------------------------ run ------
pg_version=$("$pg_bindir/postgres" --version 2>/dev/null | sed 's/^postgres (PostgreSQL) //')
echo "placesd /v1/nearby benchmark  $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
echo "  placesd:    $placesd_bin ($("$placesd_bin" -V 2>/dev/null | head -n 1)), workers $workers, pool_size $pool_size, cache off"
echo "  PostgreSQL: $pg_version ($pg_bindir), Unix socket, fsync off, shared_buffers 512MB"
echo "  data:       $nplaces places, $nmenu menu items (seed $seed; seeded in ${t_seed} s), $(wc -l <"$tmp/cities.txt") cities"
echo "  mix:        points near the city centres (Gaussian, the spread of each city's places), radius 500..5000 m;"
echo "              40% plain, 30% category|cuisine + open_now=true, 30% q=dish ($(sed 's/ $//; s/ /, /g' <<<"$dish_list"))"
echo "  wrk:        /v1/nearby -t$threads -c$conns -d$duration --latency; probes -t1 -c$pconns, $([ "$pdelay_ms" -gt 0 ] && echo "${pdelay_ms} ms pause per connection between requests" || echo unpaced), $([ "$pprio" = rt ] && echo "under SCHED_FIFO (chrt -f 1)" || echo "at normal priority")"
echo "  rounds:     $rounds, order alternates each round; curl sample of $sample /v1/nearby answers per nearby run"
echo "  machine:    $ncpu cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null); clients, servers and PostgreSQL share the cores"

busy=$(ps -eo pcpu=,pgid=,ppid=,pid=,args= --sort=-pcpu 2>/dev/null |
	awk -v a="$pg_pid" -v me=$$ '$1 >= 20 && $3 != a && $4 != a && $2 != me' | head -n 3)
[ -n "$busy" ] && note "other busy processes on this machine, figures will be noisy:" && sed 's/^/    /' <<<"$busy" >&2

# [ranker] timeout
rtimeout_note=
if [ "$rtimeout_opt" = auto ]; then
	rtimeout=
	start_placesd trial 1
	fetch_metrics "$tmp/trial.m0" || { note "GET /metrics failed"; exit 1; }
	run_bg "$tmp/wrk-trial.txt" wrk -t"$threads" -c"$conns" -d5s --timeout 10s \
		-s "$tmp/paths.lua" "http://127.0.0.1:$placesd_port" -- "$tmp/nearby.paths" ||
		{ note "wrk (trial) failed:"; cat "$tmp/wrk-trial.txt" >&2; exit 1; }
	fetch_metrics "$tmp/trial.m" || { note "GET /metrics failed"; exit 1; }
	stop_placesd
	read -r _ _ treqs _ _ <<<"$(parse_wrk "$tmp/wrk-trial.txt")"
	tdeg=$(( $(metric placesd_nearby_degraded_total "$tmp/trial.m") - $(metric placesd_nearby_degraded_total "$tmp/trial.m0") ))
	tpct=$(awk -v d="$tdeg" -v n="$treqs" 'BEGIN { printf "%.1f", (n > 0 ? 100 * d / n : 0) }')
	if awk -v p="$tpct" 'BEGIN { exit !(p > 1) }'; then
		rtimeout=1s
		rtimeout_note="1s, RAISED for the benchmark: a 5 s trial with threads = 1 and placesd's default timeout had $tdeg of $treqs answers ($tpct%) degraded"
		problems+=("[ranker] timeout raised to 1s for the benchmark: with placesd's default, $tpct% of the answers of a trial with threads = 1 at $conns connections were degraded")
	else
		rtimeout_note="placesd's default (a 5 s trial with threads = 1 had $tdeg of $treqs answers, $tpct%, degraded)"
	fi
else
	rtimeout=$rtimeout_opt
	rtimeout_note=$rtimeout
fi
echo "  ranker:     threads ${rthreads[*]} (auto = $ncpu); timeout $rtimeout_note${rqueue:+; queue_size $rqueue}"
echo

table_head
for r in $(seq 1 "$rounds"); do
	block_threads "$r"
done
snap_small=$snap_desc
rss_small=$ranker_rss

# --------------------------------------------------------------- --big ---
if [ "$big" = 1 ]; then
	echo
	note "seeding $big_places places (placesctl seed --replace), this takes minutes"
	seed_db "$big_places" --replace
	read_cities
	write_paths "$tmp/nearby.paths" 20000 "$seed"
	write_paths "$tmp/sample.paths" "$sample" "$((seed + 7777))"
	write_place_paths
	echo "--big: $big_places places, $nmenu menu items (seeded in ${t_seed} s); the same mix around the same centres"
	table_head
	start_placesd big auto
	for r in $(seq 1 "$rounds"); do
		if [ $((r % 2)) -eq 1 ]; then
			run_nearby big/c1 "$r" 1
			run_nearby big/tA "$r" "$conns"
		else
			run_nearby big/tA "$r" "$conns"
			run_nearby big/c1 "$r" 1
		fi
		block_probe "$r" big-
	done
	stop_placesd
	snap_big=$snap_desc
	rss_big=$ranker_rss
fi

# --------------------------------------------------------------- summary ---
med_of() { # med_of ARRAY CASE
	local -n A=$1
	local v=() r
	for r in $(seq 1 "$rounds"); do [ -n "${A[$2,$r]:-}" ] && v+=("${A[$2,$r]}"); done
	median "${v[@]}"
}
echo
echo "Medians over $rounds round(s)"
printf '%-20s %10s %9s %9s %8s   %s\n' case "req/s" "p50 ms" "p99 ms" "degr%" what
printf '%s\n' "------------------------------------------------------------------------------------------------"
summary_line() {
	printf '%-20s %10s %9.3f %9.3f %8s   %s\n' "$1" "$(fmt_rps "$(med_of RPS "$1")")" "$(med_of P50 "$1")" \
		"$(med_of P99 "$1")" "$([ -n "${DEG[$1,1]:-}" ] && printf '%.2f' "$(med_of DEG "$1")" || echo -)" "$2"
}
for t in "${rthreads[@]}"; do
	summary_line "$(case_of "$t")" "/v1/nearby, -c$conns, [ranker] threads = $t$([ "$t" = auto ] && echo " ($ncpu)")"
done
summary_line nearby/c1 "/v1/nearby, one connection, threads = auto"
# summary_probes PREFIX AT: the probe cases of one size (PREFIX big- or
# empty), their labels ending in AT
summary_probes() {
	local p=$1 at=$2 w what
	for w in healthz place; do
		[ "$w" = healthz ] && what=/healthz || what="/v1/places/{id}"
		summary_line "$p$w/idle" "$what probe, /v1/nearby idle$at"
		summary_line "$p$w/sat" "$what probe, /v1/nearby saturated$at"
		summary_line "$p$w/sat+nb" "  the saturating /v1/nearby wrk meanwhile"
		summary_line "$p$w/traffic" "$what probe, /v1/places/{id} at the sat case's rate$at"
		summary_line "$p$w/traffic+pl" "  the /v1/places/{id} wrk meanwhile"
		summary_line "$p$w/rank" "$what probe, the ranker saturated directly (rank_flood.py)$at"
	done
}
summary_probes "" ""
if [ "$big" = 1 ]; then
	summary_line big/c1 "/v1/nearby, one connection, $big_places places"
	summary_line big/tA "/v1/nearby, -c$conns, threads = auto, $big_places places"
	summary_probes big- ", $big_places places"
fi

# per-round ratios, median
ratio_med() { # ratio_med ARRAY A B
	local -n X=$1
	local rs=() r
	for r in $(seq 1 "$rounds"); do rs+=("$(ratio "${X[$2,$r]}" "${X[$3,$r]}")"); done
	median "${rs[@]}"
	RS="${rs[*]}"
}
echo
echo "Ratios (median of the per-round ratios)"
printf '%-40s %8s %8s   %s\n' ratio value aim verdict
printf '%s\n' "------------------------------------------------------------------------------------------------"
verdicts=()
show_ratio() { # show_ratio LABEL ARRAY A B AIM(<=x or empty)
	local v verdict
	v=$(ratio_med "$2" "$3" "$4"); ratio_med "$2" "$3" "$4" >/dev/null
	if [ -n "$5" ]; then
		verdict=$(awk -v v="$v" -v a="$5" 'BEGIN { print (v <= a ? "meets the aim" : "ABOVE the aim") }')
		verdicts+=("$1 = $(printf '%.3f' "$v") ($verdict of <= $5)")
	else
		verdict="(for information)"
	fi
	printf '%-40s %8.3f %8s   %s   per round: %s\n' "$1" "$v" "${5:+<= $5}" "$verdict" "$RS"
}
# probe_ratios PREFIX AT: the probes' ratios of one size, labels ending in AT;
# the aim (<= 2) is on the ratios against idle
probe_ratios() {
	local p=$1 at=$2 pair a b aim w
	for pair in "sat idle 2" "rank idle 2" "sat traffic" "traffic idle"; do
		read -r a b aim <<<"$pair"
		for w in healthz place; do
			show_ratio "$w p99 $a / $b$at" P99 "$p$w/$a" "$p$w/$b" "$aim"
		done
	done
}
probe_ratios "" ""
[ "$big" = 1 ] && probe_ratios big- ", $big_places"
for t in "${rthreads[@]}"; do
	[ "$t" = 1 ] && continue
	case " ${rthreads[*]} " in *" 1 "*) ;; *) continue ;; esac
	show_ratio "nearby req/s threads $t / threads 1" RPS "$(case_of "$t")" nearby/t1 ""
done
[ "$big" = 1 ] && show_ratio "nearby p50 c1 $big_places / $nplaces" P50 big/c1 nearby/c1 "" &&
	show_ratio "nearby req/s tA $big_places / $nplaces" RPS big/tA nearby/tA ""
echo "oth% = share of all CPU time used by processes other than placesd, PostgreSQL, wrk and curl during that run"
echo "ranker: $nplaces places: ${snap_small:-?}, RSS ${rss_small:-?} MB$([ "$big" = 1 ] && echo "; $big_places places: ${snap_big:-?}, RSS ${rss_big:-?} MB")"

[ "$noisy" -gt 0 ] && problems+=("$noisy run(s) shared the machine with other busy processes (oth% > 10): those figures are noisy, rerun on a quiet machine")
for f in "$tmp"/placesd-*.log; do
	[ -s "$f" ] || continue
	n=$(awk '$2 == "warn" || $2 == "error"' "$f" | wc -l)
	[ "$n" -gt 0 ] && problems+=("placesd logged $n line(s) at warn or above in ${f##*/}: $(awk '$2 == "warn" || $2 == "error"' "$f" | head -n 3 | tr '\n' '|' | cut -c1-300)")
	n=$(grep -cv -E '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[^ ]+ (debug|info|warn|error) ' "$f")
	[ "$n" -gt 0 ] && problems+=("${f##*/} has $n line(s) not in placesd's log format (a crash?): $(grep -v -E '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[^ ]+ (debug|info|warn|error) ' "$f" | head -n 2 | tr '\n' '|' | cut -c1-200)")
done
pg_err=$(grep -c -E '\b(ERROR|FATAL|PANIC): ' "$pgdir/postgres.log" 2>/dev/null)
[ "${pg_err:-0}" != 0 ] && problems+=("PostgreSQL logged $pg_err ERROR/FATAL/PANIC line(s): $(grep -m 3 -E '(ERROR|FATAL|PANIC): ' "$pgdir/postgres.log" | tr '\n' '|' | cut -c1-300)")

echo
if [ ${#failed_reqs[@]} -gt 0 ]; then
	echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
	echo "!!! REQUESTS FAILED: the figures above count failed requests too"
	printf '!!!   %s\n' "${failed_reqs[@]}"
	echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
	echo
fi
echo "Aims:"
printf '  %s\n' "${verdicts[@]}"
echo
if [ ${#problems[@]} -eq 0 ]; then
	echo "No non-2xx answers, no socket errors, no degraded answers, no database errors or timeouts, nothing logged at warn or above."
else
	echo "Notes:"
	printf '  - %s\n' "${problems[@]}"
fi
[ ${#failed_reqs[@]} -gt 0 ] && exit 3
exit 0
