#!/bin/bash
# tests/bench/places.sh -- the read API against PostgreSQL itself: wrk on
# GET /v1/places/{id} and GET /v1/cities/{city}/places, cache off and on,
# beside pgbench running the same SQL at the same concurrency, in one run.
#
# Run on demand; this is not part of `make check`, and it builds nothing.
# It starts a throw-away PostgreSQL cluster in a temporary directory (Unix
# socket only; as root, initdb and pg_ctl run as the postgres user through
# runuser), migrates it and seeds it with placesctl, and then, for several
# rounds whose order alternates, measures:
#
#   place/off  wrk, GET /v1/places/{id}, ids uniform in 1..N, [cache] ttl=0
#   city/off   wrk, GET /v1/cities/{city}/places?limit=20, the biggest
#              cities in turn, same placesd (cache off)
#   pgb/place  pgbench -M prepared, the statement placesd runs for a place,
#              \set id random(1, N)
#   pgb/city   pgbench -M prepared, the statement placesd runs for a city's
#              first page, fixed parameters, the same cities
#   place/on   as place/off with [cache] ttl=60s, max_entries >= N, after a
#              warm-up pass that puts every place in every worker's cache
#   city/on    as city/off on the cache-on placesd (the list is not
#              cached: this shows that the cache costs it nothing)
#   healthz    wrk, GET /healthz on the cache-on placesd
#   zipf/off, zipf/on
#              as place/off and place/on with Zipf ids (--ids, places_zipf.lua
#              beside this script: rank k with weight 1/k^s, s = 1.1, ranks
#              permuted over 1..N); every placesd above runs with [cache]
#              max_bytes 0, the city read model off
#   place/rm, zipf/rm, healthz/rm
#              (--readmodel both, the default, or on) the same on a placesd
#              with the read model on (max_bytes = --rm-max-bytes, 256m) and
#              the TTL cache off, after the same warm-up pass
#
# place/* and zipf/* runs print the hit ratios of the run from /metrics:
# placesd_cache_hits_total / misses (every cache, the read model included)
# and placesd_readmodel_hits_total / misses.  --flood replaces the rounds:
# it adds --flood-cities cities (flood-1, flood-2, ...) of 5 places each
# (copies of seeded ones), then for each of --flood-max-bytes (8m, 0,
# 256m) a fresh placesd (ttl 0), the VmRSS of each worker
# (/proc/PID/status), placesd_readmodel_bytes and the read model's
# evictions at start, after a warm-up pass that sends every id to every
# worker (places by id) and after a second one that sends every flood
# city's list, with --flood-limits distinct limits each, to every worker
# (distinct cities and keys).
#
# placesd is started afresh for each configuration in each round (so a
# round's cache-off and cache-on figures come from different processes and
# the cache-on one is warmed just before it is measured: entries live for
# the TTL only).  pgbench runs while no placesd is up.  Every wrk run goes
# through a Lua script that returns a ready request string, /healthz too,
# so that the client does the same work per request in every case.
#
# It prints each run as it ends, then the medians over the rounds with the
# ratios the read API aims at (median of the per-round ratios):
#   place/off / pgb/place >= 0.8   (cache off: at least 0.8x pgbench)
#   place/on  / healthz   >= 0.8   (cache on: at least 0.8x /healthz)
# and city/off / pgb/city for information.  oth% is the share of the
# machine's CPU time that processes other than placesd, PostgreSQL, wrk and
# pgbench used during a run: a build or test running meanwhile makes the
# figures noisy.  Non-2xx answers, socket errors, failed pgbench
# transactions, database errors and timeouts counted in placesd's /metrics,
# and what placesd logged are listed at the end; failed requests also in a
# banner.
#
# The SQL pgbench runs is not copied by hand: it is read out of the placesd
# binary under test (the statement texts of src/api/queries.c are string
# constants in it) and turned into pgbench scripts: $1 of the place
# statement becomes :id; for the city statement $1 becomes the city (a
# literal, one script per city, equal weights), $8 (rows: limit + 1, as
# placesd sends) becomes :lim and the filter and cursor parameters $2..$7,
# which placesd sends as NULL for a first page without filters, become
# NULL literals (pgbench cannot send a NULL parameter).  String literals
# that contain a colon followed by a letter (to_char's 'HH24:MI:SS') are
# written as E'...\x3a...', the same constant, because pgbench would take
# :MI for a variable.
#
# Everything it starts (placesd, PostgreSQL, wrk, pgbench) is stopped and
# its temporary directory removed on exit, on failure and on Ctrl-C.
#
# Exit status: 0 when every run completed and no request failed, 3 when
# every run completed but some requests failed (non-2xx, socket errors,
# failed transactions), 1 when placesd, PostgreSQL, placesctl, wrk or
# pgbench failed, 2 on a usage or setup error.
#
# Needs: PostgreSQL server binaries (initdb, pg_ctl, postgres, pgbench,
# psql; postgresql-15), wrk, curl; runuser when run as root; python3 is
# used to find free ports if present.  Only loopback and Unix sockets.

set -u
set -o pipefail

prog=${0##*/}
bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shared helpers: die, note, is_running, stop_proc, free_port, median, ...
. "$bench_dir/lib.sh" || { echo "$prog: cannot read lib.sh beside it" >&2; exit 2; }

usage() {
	cat <<EOF
Usage: $prog [OPTIONS]

Benchmark placesd's place and city-list reads, cache off and on, against
pgbench running the same SQL, and against placesd's own /healthz.

Options:
  --placesd PATH     placesd binary (default: \$PLACESD, else src/placesd of the
                     build directory: \$top_builddir/src, ./src or ../../src)
  --placesctl PATH   placesctl binary (default: \$PLACESCTL, else placesctl
                     beside placesd, else src/placesctl of the build directory)
  --sql-dir DIR      migrations (default: src/sql of this source tree:
                     $bench_dir/../../src/sql)
  --places N         places to seed (default: 100000; 20000 for quick runs)
  --seed S           seed of the generator (default: 1)
  --workers N|auto   placesd workers (default: auto = $(nproc 2>/dev/null || echo '?') online cores)
  --pool-size N      [database] pool_size per worker (default: 4)
  --query-timeout D  [database] query_timeout (default: 2s)
  --cache-ttl D      [cache] ttl of the cache-on runs (default: 60s)
  --cities K|LIST    the K biggest cities, or a comma separated list of city
                     ids, for the list requests (default: 4)
  --rounds R         rounds (default: 3)
  --duration D       length of one wrk or pgbench run, 10s, 1m (default: 10s)
  --connections C    wrk connections = pgbench clients (default: 64)
  --threads T        wrk threads = pgbench -j (default: 2)
  --warmup D         untimed wrk runs on the places and the lists after each
                     placesd start, and one pgbench run of each script
                     before the first round; 0 = none (default: 2s); the
                     cache-on warm-up pass is done in any case
  --pg-bindir DIR    PostgreSQL binaries (default: \$PG_BINDIR, else the
                     newest /usr/lib/postgresql/N/bin, else pg_config --bindir)
  --ids MODE         uniform, zipf or both (default): the distribution of the
                     ids of GET /v1/places/{id}; zipf: rank k drawn with
                     weight 1/k^S (places_zipf.lua beside this script)
  --zipf-s S         the Zipf exponent (default: 1.1)
  --readmodel MODE   both (default): also a placesd with the city read model
                     on ([cache] max_bytes = --rm-max-bytes, ttl 0), warmed,
                     measured on the places and /healthz; off: not;
                     on: only it, beside the cache-off placesd
                     (the other placesd run with max_bytes 0 in every mode)
  --rm-max-bytes B   [cache] max_bytes of the read-model runs (default: 256m)
  --flood            instead of the rounds: for each --flood-max-bytes value,
                     a fresh placesd (ttl 0), every worker's VmRSS and
                     placesd_readmodel_bytes before, after a flood of every
                     id into every worker, and after a flood of the lists of
                     --flood-cities distinct cities into every worker
  --flood-max-bytes L  comma separated max_bytes values (default: 8m,0,256m)
  --flood-cities N   cities added for the flood, 5 places each (default: 2000)
  --flood-limits K   distinct limits (1..K) asked of each city (default: 3)
  --keep DIR         copy the configs, logs, scripts and raw outputs to DIR
  -h, --help         this text

Examples, from a build directory (SRCDIR = the source tree):
  SRCDIR/tests/bench/places.sh --places 20000 --rounds 1 --duration 5s
  SRCDIR/tests/bench/places.sh --keep /tmp/places-bench
  SRCDIR/tests/bench/places.sh --places 20000 --ids zipf --readmodel on
  SRCDIR/tests/bench/places.sh --places 20000 --flood
EOF
}

# ---------------------------------------------------------------- options ---
placesd_bin=${PLACESD:-}
placesctl_bin=${PLACESCTL:-}
sql_dir=
nplaces=100000
seed=1
workers=auto
pool_size=4
query_timeout=2s
cache_ttl=60s
cities_opt=4
rounds=3
duration=10s
conns=64
threads=2
warmup=2s
pg_bindir=${PG_BINDIR:-}
keep_dir=
ids=both
zipf_s=1.1
readmodel=both
rm_max_bytes=256m
flood=
flood_list=8m,0,256m
flood_cities=2000
flood_limits=3

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
	--seed)          need_arg "$@"; seed=$2; shift 2 ;;
	--seed=*)        seed=${1#*=}; shift ;;
	--workers)       need_arg "$@"; workers=$2; shift 2 ;;
	--workers=*)     workers=${1#*=}; shift ;;
	--pool-size)     need_arg "$@"; pool_size=$2; shift 2 ;;
	--pool-size=*)   pool_size=${1#*=}; shift ;;
	--query-timeout) need_arg "$@"; query_timeout=$2; shift 2 ;;
	--query-timeout=*) query_timeout=${1#*=}; shift ;;
	--cache-ttl)     need_arg "$@"; cache_ttl=$2; shift 2 ;;
	--cache-ttl=*)   cache_ttl=${1#*=}; shift ;;
	--cities)        need_arg "$@"; cities_opt=$2; shift 2 ;;
	--cities=*)      cities_opt=${1#*=}; shift ;;
	--rounds)        need_arg "$@"; rounds=$2; shift 2 ;;
	--rounds=*)      rounds=${1#*=}; shift ;;
	--duration)      need_arg "$@"; duration=$2; shift 2 ;;
	--duration=*)    duration=${1#*=}; shift ;;
	--connections)   need_arg "$@"; conns=$2; shift 2 ;;
	--connections=*) conns=${1#*=}; shift ;;
	--threads)       need_arg "$@"; threads=$2; shift 2 ;;
	--threads=*)     threads=${1#*=}; shift ;;
	--warmup)        need_arg "$@"; warmup=$2; shift 2 ;;
	--warmup=*)      warmup=${1#*=}; shift ;;
	--pg-bindir)     need_arg "$@"; pg_bindir=$2; shift 2 ;;
	--pg-bindir=*)   pg_bindir=${1#*=}; shift ;;
	--keep)          need_arg "$@"; keep_dir=$2; shift 2 ;;
	--keep=*)        keep_dir=${1#*=}; shift ;;
	--ids)           need_arg "$@"; ids=$2; shift 2 ;;
	--ids=*)         ids=${1#*=}; shift ;;
	--zipf-s)        need_arg "$@"; zipf_s=$2; shift 2 ;;
	--zipf-s=*)      zipf_s=${1#*=}; shift ;;
	--readmodel)     need_arg "$@"; readmodel=$2; shift 2 ;;
	--readmodel=*)   readmodel=${1#*=}; shift ;;
	--rm-max-bytes)  need_arg "$@"; rm_max_bytes=$2; shift 2 ;;
	--rm-max-bytes=*) rm_max_bytes=${1#*=}; shift ;;
	--flood)         flood=1; shift ;;
	--flood-max-bytes)  need_arg "$@"; flood_list=$2; shift 2 ;;
	--flood-max-bytes=*) flood_list=${1#*=}; shift ;;
	--flood-cities)  need_arg "$@"; flood_cities=$2; shift 2 ;;
	--flood-cities=*) flood_cities=${1#*=}; shift ;;
	--flood-limits)  need_arg "$@"; flood_limits=$2; shift 2 ;;
	--flood-limits=*) flood_limits=${1#*=}; shift ;;
	-h|--help)       usage; exit 0 ;;
	*)               usage >&2; die "unknown argument: $1" ;;
	esac
done

if [ "$workers" = auto ]; then
	nworkers=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN) || die "cannot count the cores; use --workers N"
else
	is_uint "$workers" && [ "$workers" -le 64 ] || die "--workers: 1..64 or auto, not '$workers'"
	nworkers=$((10#$workers))
	workers=$nworkers
fi
is_uint "$nplaces" && [ "$nplaces" -le 10000000 ] || die "--places: 1..10000000, not '$nplaces'"
nplaces=$((10#$nplaces))
[[ $seed =~ ^[0-9]+$ ]] || die "--seed: a number, not '$seed'"
is_uint "$pool_size" && [ "$pool_size" -le 64 ] || die "--pool-size: 1..64, not '$pool_size'"
[[ $query_timeout =~ ^[0-9]+(ms|s|m)$ ]] || die "--query-timeout: e.g. 2s or 500ms, not '$query_timeout'"
[[ $cache_ttl =~ ^[0-9]+(ms|s|m|h)$ ]] && [[ ! $cache_ttl =~ ^0+[a-z]+$ ]] ||
	die "--cache-ttl: e.g. 60s, not '$cache_ttl' (the cache-off runs use ttl 0 already)"
ttl_sec=$(awk -v v="$cache_ttl" 'BEGIN { n = v + 0; u = v; sub(/^[0-9]+/, "", u)
	print (u == "ms" ? n / 1000 : u == "m" ? n * 60 : u == "h" ? n * 3600 : n) }')
is_uint "$rounds" || die "--rounds: a positive integer, not '$rounds'"
is_uint "$threads" || die "--threads: a positive integer, not '$threads'"
is_uint "$conns" || die "--connections: a positive integer, not '$conns'"
[ "$conns" -ge "$threads" ] || die "--connections: $conns is fewer than --threads $threads (wrk needs one per thread)"
is_duration "$duration" && [ "${duration%[smh]}" -gt 0 ] || die "--duration: e.g. 10s or 1m, not '$duration'"
duration_sec=$(duration_s "$duration")
[[ $warmup =~ ^0+[smh]?$ ]] && warmup=0
[ "$warmup" = 0 ] || is_duration "$warmup" || die "--warmup: e.g. 2s or 0, not '$warmup'"
if [[ $cities_opt =~ ^[0-9]+$ ]]; then
	is_uint "$cities_opt" && [ "$cities_opt" -le 100 ] || die "--cities: 1..100 or a list of city ids, not '$cities_opt'"
	cities_opt=$((10#$cities_opt))
else
	[[ $cities_opt =~ ^[a-z0-9-]+(,[a-z0-9-]+)*$ ]] || die "--cities: a number or city ids separated by commas, not '$cities_opt'"
fi

case $ids in uniform|zipf|both) ;; *) die "--ids: uniform, zipf or both, not '$ids'" ;; esac
case $readmodel in on|off|both) ;; *) die "--readmodel: on, off or both, not '$readmodel'" ;; esac
[[ $zipf_s =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--zipf-s: a number such as 1.1, not '$zipf_s'"
[[ $rm_max_bytes =~ ^[0-9]+[km]?$ ]] && [[ ! $rm_max_bytes =~ ^0+[km]?$ ]] ||
	die "--rm-max-bytes: e.g. 256m, not '$rm_max_bytes'"
[[ $flood_list =~ ^[0-9]+[km]?(,[0-9]+[km]?)*$ ]] || die "--flood-max-bytes: e.g. 8m,0,256m, not '$flood_list'"
is_uint "$flood_cities" && [ "$flood_cities" -ge 1 ] && [ "$flood_cities" -le 1000000 ] || die "--flood-cities: 1..1000000, not '$flood_cities'"
is_uint "$flood_limits" && [ "$flood_limits" -ge 1 ] && [ "$flood_limits" -le 100 ] || die "--flood-limits: 1..100, not '$flood_limits'"
flood_cities=$((10#$flood_cities)); flood_limits=$((10#$flood_limits))
zipf_lua=$bench_dir/places_zipf.lua
[ "$ids" = uniform ] || [ -r "$zipf_lua" ] || die "cannot read $zipf_lua"
id_kinds=()
[ "$ids" = zipf ] || id_kinds+=(u)
[ "$ids" = uniform ] || id_kinds+=(z)

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
# pg_tool NAME: NAME from $pg_bindir, else from the PATH
pg_tool() {
	if [ -x "$pg_bindir/$1" ]; then echo "$pg_bindir/$1"
	else command -v "$1" 2>/dev/null || die "$1 not found (apt-get install postgresql-client-15)"; fi
}
pgbench_bin=$(pg_tool pgbench) || exit 2
psql_bin=$(pg_tool psql) || exit 2
pg_runner_setup
need_tools wrk curl

# ---------------------------------------------------------------- cleanup ---
tmp=
pgdir=
pg_started=
pg_pid=
placesd_pid=
placesd_port=
placesd_log=
child_pid=
cleaned=

cleanup() {
	[ -n "$cleaned" ] && return
	cleaned=1
	trap '' INT TERM
	kill_child "$child_pid"; child_pid=
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

make_tmp bench


# ------------------------------------------------------------- PostgreSQL ---
pgdir=$tmp/pg
# placesd: workers x (pool + LISTEN) connections and the ranker's; pgbench:
# $conns clients; psql and placesctl
max_conn=$((conns + nworkers * (pool_size + 2) + 20))
start_cluster "$pgdir" "$max_conn" 512MB


# placesd configuration for a cache setting:
# write_conf FILE PORT TTL MAX_ENTRIES [MAX_BYTES (default 0: read model off)]
write_conf() {
	cat >"$1" <<EOF
# written by $prog
[server]
listen = 127.0.0.1:$2
workers = $workers

[database]
conninfo = $conninfo
pool_size = $pool_size
query_timeout = $query_timeout

[cache]
ttl = $3
max_entries = $4
max_bytes = ${5:-0}

[ranker]
socket = $tmp/ranker.sock

[log]
level = warn
EOF
}

write_conf "$tmp/placesctl.conf" "$(free_port)" 0s 0
"$placesctl_bin" -c "$tmp/placesctl.conf" migrate --dir "$sql_dir" >"$tmp/migrate.log" 2>&1 ||
	{ note "placesctl migrate failed:"; cat "$tmp/migrate.log" >&2; exit 1; }
t_seed=$(date +%s.%N)
run_bg "$tmp/seed.log" "$placesctl_bin" -c "$tmp/placesctl.conf" seed --places "$nplaces" --seed "$seed" ||
	{ note "placesctl seed failed:"; cat "$tmp/seed.log" >&2; exit 1; }
t_seed=$(awk -v a="$t_seed" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
# settle the visibility map (index-only scans) for both sides alike
psql_q -c "VACUUM ANALYZE" >"$tmp/vacuum.log" 2>&1 || { note "VACUUM ANALYZE failed:"; cat "$tmp/vacuum.log" >&2; exit 1; }

read -r pmin pmax pcount nmenu <<<"$(psql_q -F ' ' -c "SELECT min(id), max(id), count(*), (SELECT count(*) FROM menu_items) FROM places")" ||
	{ note "cannot count the places"; exit 1; }
[ "${pmin:-}" = 1 ] && [ "${pmax:-}" = "$nplaces" ] && [ "${pcount:-}" = "$nplaces" ] ||
	{ note "expected place ids 1..$nplaces after seeding, found min ${pmin:-?} max ${pmax:-?} count ${pcount:-?}"; exit 1; }

if [[ $cities_opt =~ ^[0-9]+$ ]]; then
	cities=$(psql_q -c "SELECT city_id FROM places GROUP BY city_id ORDER BY count(*) DESC, city_id LIMIT $cities_opt" | tr '\n' ' ')
else
	cities=${cities_opt//,/ }
fi
read -r -a city_list <<<"$cities"
[ ${#city_list[@]} -gt 0 ] || { note "no cities in the database"; exit 1; }
city_desc=
for c in "${city_list[@]}"; do
	n=$(psql_q -c "SELECT count(*) FROM places WHERE city_id = '$c'") || exit 1
	[ "$n" -gt 0 ] || die "--cities: no places in city '$c'"
	city_desc+="$c ($n) "
done

# ------------------------------------------------------------ pgbench SQL ---
# The statement texts, from the binary under test.  String constants of a
# C program are NUL-terminated in its read-only data.
extract_sql() {
	tr '\0' '\n' <"$placesd_bin" | grep -a -x -e "$1" | sort -u
}
# (STMT_RM_PLACE, the read model's, is the same object and when it stops
# being true, from the offers: not the statement of a cache-off read)
sql_place=$(extract_sql 'SELECT json_build_object(.*FROM places p WHERE p\.id = \$1::bigint' | grep -v 'FROM offers x')
sql_city=$(extract_sql 'SELECT p\.j, p\.rating::text, p\.id::text FROM cities c .*WHERE c\.id = \$1 ORDER BY p\.rating DESC NULLS LAST, p\.id')
[ -n "$sql_place" ] && [ "$(wc -l <<<"$sql_place")" -eq 1 ] ||
	die "cannot find the place statement (STMT_PLACE of src/api/queries.c) in $placesd_bin"
[ -n "$sql_city" ] && [ "$(wc -l <<<"$sql_city")" -eq 1 ] ||
	die "cannot find the city places statement (STMT_CITY_PLACES of src/api/queries.c) in $placesd_bin"
for i in 1 2 3 4 5 6 7 8; do
	grep -q "\\\$$i\\b" <<<"$sql_city" || die "the city places statement has no \$$i: src/api/queries.c changed, update $prog"
done
grep -q '\$9' <<<"$sql_city" && die "the city places statement has more than 8 parameters: update $prog"
grep -q '\$2' <<<"$sql_place" && die "the place statement has more than 1 parameter: update $prog"

# pgbench_escape: string literals holding ':' + a name character become
# E'' literals with \x3a, the same constant; pgbench would read :MI as a
# variable.  Dollar quoting and identifiers with colons are not expected.
pgbench_escape() {
	awk '{
		out = ""; s = $0
		while ((i = index(s, "\x27")) > 0) {
			out = out substr(s, 1, i - 1); s = substr(s, i + 1)
			lit = ""
			while (1) {               # to the closing quote; two quotes are one
				j = index(s, "\x27")
				if (j == 0) { print "unterminated literal" > "/dev/stderr"; exit 1 }
				lit = lit substr(s, 1, j - 1); s = substr(s, j + 1)
				if (substr(s, 1, 1) == "\x27") { lit = lit "\x27\x27"; s = substr(s, 2) } else break
			}
			if (lit ~ /:[A-Za-z0-9_]/ && out !~ /[Ee]$/) {
				gsub(/\\/, "\\\\", lit); gsub(/:/, "\\x3a", lit)
				out = out "E\x27" lit "\x27"
			} else out = out "\x27" lit "\x27"
		}
		print out s
	}'
}

pgb_dir=$tmp/pgbench
mkdir -p "$pgb_dir"
{
	echo "-- written by $prog: STMT_PLACE of src/api/queries.c as placesd runs it,"
	echo "-- read out of $placesd_bin; \$1 -> :id"
	echo "\\set id random(1, $nplaces)"
	sed 's/\$1\b/:id/g' <<<"$sql_place" | pgbench_escape | sed 's/$/;/'
} >"$pgb_dir/place.sql" || die "cannot write the pgbench scripts"
city_scripts=()
for c in "${city_list[@]}"; do
	{
		echo "-- written by $prog: STMT_CITY_PLACES of src/api/queries.c as placesd runs"
		echo "-- it for GET /v1/cities/$c/places?limit=20 (read out of $placesd_bin):"
		echo "-- \$1 -> '$c', \$8 -> :lim (limit + 1), \$2..\$7 (filters, cursor) -> NULL"
		echo "\\set lim 21"
		sed -e "s/\\\$1\\b/'$c'/g" -e 's/\$8\b/:lim/g' -e 's/\$[2-7]\b/NULL/g' <<<"$sql_city" |
			pgbench_escape | sed 's/$/;/'
	} >"$pgb_dir/city-$c.sql" || die "cannot write the pgbench scripts"
	city_scripts+=(-f "$pgb_dir/city-$c.sql@1")
done

# every script once: fails early, and the place answer is compared with
# placesd's below
for f in "$pgb_dir"/*.sql; do
	"$pgbench_bin" -n -M prepared -c 1 -t 1 -f "$f" -h "$pgdir" -U app postgres >"$f.check" 2>&1 ||
		{ note "pgbench cannot run ${f##*/}:"; cat "$f.check" >&2; sed 's/^/    /' "$f" >&2; exit 1; }
done

# ------------------------------------------------------------ Lua scripts ---
# Every wrk run uses a script whose request() returns a ready string.
cat >"$tmp/rand.lua" <<'EOF'
-- GET /v1/places/{id}, id uniform in 1..N (args: N)
local n, pre, post
local nthreads = 0
function setup(thread)
	nthreads = nthreads + 1
	thread:set("tid", nthreads)
end
function init(args)
	n = tonumber(args[1])
	local r = wrk.format("GET", "/v1/places/@@")
	local i = r:find("@@", 1, true)
	pre, post = r:sub(1, i - 1), r:sub(i + 2)
	math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
	for _ = 1, 10 do math.random() end
end
function request()
	return pre .. math.random(1, n) .. post
end
EOF
cat >"$tmp/list.lua" <<'EOF'
-- GET one path after the other (args: the paths); one path: a constant
local reqs, i = {}, 0
local nthreads = 0
function setup(thread)
	nthreads = nthreads + 1
	thread:set("tid", nthreads)
end
function init(args)
	for k = 1, #args do reqs[k] = wrk.format("GET", args[k]) end
	i = (tid or 0) % #reqs
end
function request()
	i = i % #reqs + 1
	return reqs[i]
end
EOF
cat >"$tmp/warm.lua" <<'EOF'
-- Warm-up pass: every place into every worker's cache.  One connection per
-- thread: its first request, GET /healthz, names the worker slot it landed
-- on; the thread then claims parts of 1..N for that slot (files created
-- with O_EXCL in DIR, so threads on one slot share the work) and requests
-- each id of a part in order.  DIR/done-SLOT-PART holds the number of
-- answers other than 200.  A thread with nothing left idles on /healthz.
-- With CITIES > 0 item i is not a place but the list of city
-- flood-((i - 1) % CITIES + 1) with limit (i - 1) // CITIES + 1.
-- args: N DIR PARTS [CITIES]
local n, dir, parts, cities, pre, post
local state, slot, part, cur, last, bad = "probe", nil, nil, 0, -1, 0
function init(args)
	n, dir, parts = tonumber(args[1]), args[2], tonumber(args[3])
	cities = tonumber(args[4] or "0")
	local r = wrk.format("GET", "/@@")
	local i = r:find("/@@", 1, true)
	pre, post = r:sub(1, i - 1), r:sub(i + 3)
end
local function claim()
	for k = 0, parts - 1 do
		local f = io.open(dir .. "/claim-" .. slot .. "-" .. k, "wx")
		if f then
			f:close()
			part, bad = k, 0
			cur = math.floor(n * k / parts) + 1
			last = math.floor(n * (k + 1) / parts)
			if cur <= last then return true end
			f = io.open(dir .. "/done-" .. slot .. "-" .. k, "w")
			f:write("0\n"); f:close()
		end
	end
	return false
end
function delay()
	if state == "idle" then return 200 end
	return 0
end
function request()
	if state == "work" then
		local id = cur
		cur = cur + 1
		if cities > 0 then
			return pre .. "/v1/cities/flood-" .. ((id - 1) % cities + 1) ..
			    "/places?limit=" .. (math.floor((id - 1) / cities) + 1) .. post
		end
		return pre .. "/v1/places/" .. id .. post
	end
	return pre .. "/healthz" .. post
end
function response(status, headers, body)
	if state == "probe" then
		slot = body and body:match('"worker"%s*:%s*(%d+)')
		if slot and claim() then state = "work" else state = "idle" end
	elseif state == "work" then
		if status ~= 200 then bad = bad + 1 end
		if cur > last then
			local f = io.open(dir .. "/done-" .. slot .. "-" .. part, "w")
			f:write(bad .. "\n"); f:close()
			if not claim() then state = "idle" end
		end
	end
end
EOF

# -------------------------------------------------------------- placesd ---
# start_placesd NAME TTL MAX_ENTRIES: a fresh placesd on a free port, once
# /readyz answers 200 (database and ranker up) and every worker serves.
nstart=0
start_placesd() {
	local name=$1 ttl=$2 maxe=$3 maxb=${4:-0}
	nstart=$((nstart + 1))
	placesd_port=$(free_port) || die "no free port found"
	placesd_conf=$tmp/placesd-$nstart-$name.conf
	placesd_log=$tmp/placesd-$nstart-$name.log
	write_conf "$placesd_conf" "$placesd_port" "$ttl" "$maxe" "$maxb"
	launch_placesd "$name (start $nstart)"
	return 0
}

# --------------------------------------------------------------- running ---
other_pct=
# run_wrk CASE ROUND LUA [ARGS...]: one timed wrk run against the running
# placesd; records the figures and any failures of CASE in ROUND.
declare -A RPS P99 P50 HIT RMHIT
run_wrk() {
	local cs=$1 r=$2 lua=$3 out t0 t1 rc rps p99 reqs non2xx sock info=
	shift 3
	out="$tmp/wrk-r$r-${cs//\//-}.txt"
	fetch_metrics "$out.m0" || { note "GET /metrics failed"; exit 1; }
	cpu_snapshot "+$placesd_pid" "+$pg_pid"; t0=$snap
	run_bg "$out" wrk -t"$threads" -c"$conns" -d"$duration" --timeout 10s --latency \
		-s "$lua" "http://127.0.0.1:$placesd_port" -- "$@"; rc=$?
	cpu_snapshot "+$placesd_pid" "+$pg_pid"; t1=$snap
	other_pct=$(other_pct "$t0" "$t1")
	[ $rc -eq 0 ] || { note "wrk ($cs, round $r) failed (status $rc):"; cat "$out" >&2; exit 1; }
	grep -q '^Requests/sec:' "$out" || { note "no Requests/sec in wrk output ($cs, round $r):"; cat "$out" >&2; exit 1; }
	check_placesd
	fetch_metrics "$out.m1" || { note "GET /metrics failed after a run"; exit 1; }
	read -r rps p99 reqs non2xx sock <<<"$(parse_wrk "$out")"
	RPS[$cs,$r]=$rps
	P99[$cs,$r]=$p99
	P50[$cs,$r]=$(to_ms "$(awk '$1 == "50%" { print $2; exit }' "$out")")
	if [ "${non2xx:-0}" != 0 ]; then
		failed_reqs+=("$cs round $r: $non2xx of $reqs answers were not 2xx")
		info+="non-2xx $non2xx "
	fi
	if [ -n "$sock" ]; then
		failed_reqs+=("$cs round $r: wrk socket errors: ${sock//_/ }")
		info+="errors: ${sock//_/ } "
	fi
	local d h m e to x5
	d() { echo $(( $(metric "$1" "$out.m1") - $(metric "$1" "$out.m0") )); }
	h=$(d placesd_cache_hits_total); m=$(d placesd_cache_misses_total)
	e=$(d placesd_pg_errors_total); to=$(d placesd_pg_timeouts_total)
	x5=$(( $(awk '/^placesd_http_requests_total\{code_class="5xx"\}/ { print $2 + 0 }' "$out.m1") -
		$(awk '/^placesd_http_requests_total\{code_class="5xx"\}/ { print $2 + 0 }' "$out.m0") ))
	case $cs in place/*|zipf/*)
		local rh rm
		rh=$(d placesd_readmodel_hits_total); rm=$(d placesd_readmodel_misses_total)
		HIT[$cs,$r]=$(awk -v h="$h" -v m="$m" 'BEGIN { printf "%.2f", (h + m > 0 ? 100 * h / (h + m) : 0) }')
		RMHIT[$cs,$r]=$(awk -v h="$rh" -v m="$rm" 'BEGIN { printf "%.2f", (h + m > 0 ? 100 * h / (h + m) : 0) }')
		info+="cache hits ${HIT[$cs,$r]}% ($h/$((h + m))) rm hits ${RMHIT[$cs,$r]}% ($rh/$((rh + rm))) "
		;;
	esac
	[ "$e" -gt 0 ] && { info+="pg errors $e "; problems+=("$cs round $r: placesd counted $e failed database queries"); }
	[ "$to" -gt 0 ] && { info+="pg timeouts $to "; problems+=("$cs round $r: placesd counted $to database queries past query_timeout"); }
	[ "$x5" -gt 0 ] && { info+="5xx $x5 "; problems+=("$cs round $r: placesd counted $x5 answers 5xx"); }
	report_run "$cs" "$r" "$rps" "$p99" "$other_pct" "$info"
}

# run_pgbench CASE ROUND SCRIPT-ARGS...: one timed pgbench run, $conns
# clients, $threads threads; latencies of one transaction in ten logged for
# the p99.
run_pgbench() {
	local cs=$1 r=$2 out t0 t1 rc tps p99 failed info=
	shift 2
	out="$tmp/pgbench-r$r-${cs//\//-}.txt"
	rm -f "$out".log*
	cpu_snapshot "+$pg_pid"; t0=$snap
	run_bg "$out" "$pgbench_bin" -n -M prepared -c "$conns" -j "$threads" -T "$duration_sec" \
		-l --sampling-rate=0.1 --log-prefix="$out.log" "$@" -h "$pgdir" -U app postgres; rc=$?
	cpu_snapshot "+$pg_pid"; t1=$snap
	other_pct=$(other_pct "$t0" "$t1")
	[ $rc -eq 0 ] || { note "pgbench ($cs, round $r) failed (status $rc):"; tail -n 30 "$out" >&2; exit 1; }
	tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$out" | head -n 1)
	[ -n "$tps" ] || { note "no tps in pgbench output ($cs, round $r):"; cat "$out" >&2; exit 1; }
	# log lines: client transaction latency_us script epoch us
	p99=$(cat "$out".log* 2>/dev/null | awk '{ print $3 }' | sort -n |
		awk '{ a[NR] = $1 } END { if (NR == 0) { print 0; exit } i = int(NR * 0.99 + 0.5); if (i < 1) i = 1; printf "%.3f", a[i] / 1000 }')
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
	if [ "${failed:-0}" != 0 ]; then
		failed_reqs+=("$cs round $r: $failed pgbench transactions failed")
		info+="failed $failed "
	fi
	RPS[$cs,$r]=$tps
	P99[$cs,$r]=$p99
	P50[$cs,$r]=$(cat "$out".log* 2>/dev/null | awk '{ print $3 }' | sort -n |
		awk '{ a[NR] = $1 } END { if (NR == 0) { print 0; exit } i = int(NR * 0.5 + 0.5); if (i < 1) i = 1; printf "%.3f", a[i] / 1000 }')
	report_run "$cs" "$r" "$tps" "$p99" "$other_pct" "$info"
}

noisy=0
report_run() {
	printf '%5s  %-10s %10s %9.3f %5s   %s\n' "$2" "$1" "$(fmt_rps "$3")" "$4" "$5" "$6"
	[ "${5:-0}" -gt 10 ] && noisy=$((noisy + 1))
	return 0
}

# warm_cache ROUND [nottl]: the warm-up pass on the running (cache-on)
# placesd; wrk is stopped (SIGINT) once every part of 1..N is done for
# every slot.  N is $warm_items (default: the places), and with
# $warm_cities > 0 the items are lists of flood cities (warm.lua).
warm_items=
warm_cities=0
warm_cache() {
	local r=$1 dir=$tmp/warm-r$1-$nstart t nparts attempt ndone claims out rc bad t0
	mkdir -p "$dir"
	t=$((4 * nworkers)); [ $t -gt 64 ] && t=64; [ $t -lt 4 ] && t=4
	nparts=$((4 * t / nworkers)); [ $nparts -lt 4 ] && nparts=4
	t0=$(date +%s.%N)
	for attempt in 1 2 3 4 5 6; do
		out=$tmp/warm-r$r-a$attempt.txt
		wrk -t"$t" -c"$t" -d600s --timeout 10s -s "$tmp/warm.lua" \
			"http://127.0.0.1:$placesd_port" -- "${warm_items:-$nplaces}" "$dir" "$nparts" "$warm_cities" >"$out" 2>&1 &
		child_pid=$!
		while is_running "$child_pid"; do
			sleep 0.2
			ndone=$(find "$dir" -name 'done-*' | wc -l)
			claims=$(find "$dir" -name 'claim-*' | wc -l)
			[ "$ndone" -ge $((nworkers * nparts)) ] && break
			# every claimed part done but some slot not reached: new
			# connections (other source ports) land elsewhere
			if [ "$ndone" -eq "$claims" ] && [ "$claims" -gt 0 ] &&
				awk -v t0="$t0" -v t="$(date +%s.%N)" 'BEGIN { exit !(t - t0 > 2) }'; then
				break
			fi
		done
		kill -INT "$child_pid" 2>/dev/null
		wait "$child_pid"; rc=$?
		child_pid=
		check_placesd
		[ "$rc" -eq 0 ] || [ "$rc" -eq 130 ] || { note "wrk (warm-up, round $r) failed (status $rc):"; cat "$out" >&2; exit 1; }
		[ "$(find "$dir" -name 'done-*' | wc -l)" -ge $((nworkers * nparts)) ] && break
	done
	ndone=$(find "$dir" -name 'done-*' | wc -l)
	bad=$(cat "$dir"/done-* 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
	[ "$bad" -gt 0 ] && failed_reqs+=("warm-up round $r: $bad answers were not 200")
	if [ "$ndone" -lt $((nworkers * nparts)) ]; then
		problems+=("warm-up round $r: only $ndone of $((nworkers * nparts)) parts warmed after $attempt wrk runs (slots not reached)")
	fi
	warm_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	# entries live $cache_ttl from the warm-up: the run after it must end
	# before the first ones expire, or place/on measures misses too
	[ "${2:-}" != nottl ] &&
	awk -v w="$warm_s" -v d="$((duration_sec * ${#id_kinds[@]}))" -v t="$ttl_sec" 'BEGIN { exit !(w + d >= 0.9 * t) }' &&
		problems+=("warm-up round $r took ${warm_s} s: with the ${#id_kinds[@]} run(s) of ${duration_sec} s after it, close to the cache ttl ($cache_ttl): entries expire during place/on (see its cache hits; use a larger --cache-ttl)")
	printf '%5s  %-10s %s\n' "$r" "(warm-up)" "$((nworkers * ${warm_items:-$nplaces})) $([ "$warm_cities" -gt 0 ] && echo "city lists" || echo places) in ${warm_s} s, $attempt wrk run(s), $t connections"
}

warm_untimed() {
	[ "$warmup" = 0 ] && return 0
	run_bg "$tmp/wrk-warmup-$nstart.txt" wrk -t"$threads" -c"$conns" -d"$warmup" --timeout 10s \
		-s "$tmp/rand.lua" "http://127.0.0.1:$placesd_port" -- "$nplaces" ||
		{ note "wrk (untimed warm-up) failed:"; cat "$tmp/wrk-warmup-$nstart.txt" >&2; exit 1; }
	run_bg "$tmp/wrk-warmup-$nstart-city.txt" wrk -t"$threads" -c"$conns" -d"$warmup" --timeout 10s \
		-s "$tmp/list.lua" "http://127.0.0.1:$placesd_port" -- "${city_paths[@]}" ||
		{ note "wrk (untimed warm-up) failed:"; cat "$tmp/wrk-warmup-$nstart-city.txt" >&2; exit 1; }
}

city_paths=()
for c in "${city_list[@]}"; do city_paths+=("/v1/cities/$c/places?limit=20"); done

# run_places WHICH ROUND: GET /v1/places/{id} with the --ids kinds, in
# an order that alternates with the round: place/WHICH (uniform ids),
# zipf/WHICH (Zipf ids)
run_places() {
	local b=$1 r=$2 k order=("${id_kinds[@]}")
	[ $((r % 2)) -eq 0 ] && [ ${#order[@]} -eq 2 ] && order=("${order[1]}" "${order[0]}")
	for k in "${order[@]}"; do
		case $k in
		u) run_wrk "place/$b" "$r" "$tmp/rand.lua" "$nplaces" ;;
		z) run_wrk "zipf/$b" "$r" "$zipf_lua" "$nplaces" "$zipf_s" ;;
		esac
	done
}
block_off() {
	local r=$1
	start_placesd off 0s 0
	warm_untimed
	if [ $((r % 2)) -eq 1 ]; then
		run_places off "$r"
		[ "$readmodel" = on ] || run_wrk city/off "$r" "$tmp/list.lua" "${city_paths[@]}"
	else
		[ "$readmodel" = on ] || run_wrk city/off "$r" "$tmp/list.lua" "${city_paths[@]}"
		run_places off "$r"
	fi
	stop_placesd
}
# the city read model on, the TTL cache off; warmed like the cache
block_rm() {
	local r=$1
	start_placesd rm 0s 0 "$rm_max_bytes"
	if [ $((r % 2)) -eq 1 ]; then
		warm_cache "$r" nottl
		run_places rm "$r"
		run_wrk healthz/rm "$r" "$tmp/list.lua" /healthz
	else
		run_wrk healthz/rm "$r" "$tmp/list.lua" /healthz
		warm_cache "$r" nottl
		run_places rm "$r"
	fi
	stop_placesd
}
block_pgbench() {
	local r=$1
	if [ $((r % 2)) -eq 1 ]; then
		run_pgbench pgb/place "$r" -f "$pgb_dir/place.sql"
		run_pgbench pgb/city "$r" "${city_scripts[@]}"
	else
		run_pgbench pgb/city "$r" "${city_scripts[@]}"
		run_pgbench pgb/place "$r" -f "$pgb_dir/place.sql"
	fi
}
block_on() {
	local r=$1 maxe=$nplaces
	[ "$maxe" -lt 10000 ] && maxe=10000
	start_placesd on "$cache_ttl" "$maxe"
	# the warm-up pass must come right before place/on: entries live $cache_ttl
	if [ $((r % 2)) -eq 1 ]; then
		warm_cache "$r"
		run_places on "$r"
		run_wrk city/on "$r" "$tmp/list.lua" "${city_paths[@]}"
		run_wrk healthz "$r" "$tmp/list.lua" /healthz
	else
		run_wrk healthz "$r" "$tmp/list.lua" /healthz
		run_wrk city/on "$r" "$tmp/list.lua" "${city_paths[@]}"
		warm_cache "$r"
		run_places on "$r"
	fi
	stop_placesd
}

# ------------------------------------------------------------------ run ------
pg_version=$("$pg_bindir/postgres" --version 2>/dev/null | sed 's/^postgres (PostgreSQL) //')
echo "placesd read API benchmark  $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
echo "  placesd:    $placesd_bin ($("$placesd_bin" -V 2>/dev/null | head -n 1)), workers $workers, pool_size $pool_size, query_timeout $query_timeout"
echo "  cache:      off = ttl 0; on = ttl $cache_ttl, max_entries $([ "$nplaces" -lt 10000 ] && echo 10000 || echo "$nplaces"); both with [cache] max_bytes 0 (read model off)"
echo "  read model: --readmodel $readmodel$([ "$readmodel" = off ] || echo "; rm = [cache] max_bytes $rm_max_bytes, ttl 0, warmed")"
echo "  ids:        --ids $ids (zipf: s = $zipf_s over 1..$nplaces, ranks permuted)"
echo "  PostgreSQL: $pg_version ($pg_bindir), Unix socket, fsync off, shared_buffers 512MB"
echo "  data:       $nplaces places, $nmenu menu items (seed $seed; seeded in ${t_seed} s)"
echo "  cities:     ${city_desc% }"
echo "  wrk:        -t$threads -c$conns -d$duration --latency; pgbench -M prepared -c $conns -j $threads -T $duration_sec"
echo "  rounds:     $rounds, order alternates each round"
echo "  machine:    $(nproc) cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null); clients, servers and PostgreSQL share the cores"
echo

busy=$(ps -eo pcpu=,pgid=,ppid=,pid=,args= --sort=-pcpu 2>/dev/null |
	awk -v a="$pg_pid" -v me=$$ '$1 >= 20 && $3 != a && $4 != a && $2 != me' | head -n 3)
[ -n "$busy" ] && note "other busy processes on this machine, figures will be noisy:" && sed 's/^/    /' <<<"$busy" >&2

# Does pgbench run what placesd runs?  The same statement for one place
# must give placesd's body byte for byte (cache off).
start_placesd off 0s 0
probe_id=$(( (nplaces + 1) / 2 ))
curl -s --max-time 5 -o "$tmp/probe-placesd.json" "http://127.0.0.1:$placesd_port/v1/places/$probe_id"
sed -e "/^\\\\set/d" -e "s/:id\\b/$probe_id/g" "$pgb_dir/place.sql" |
	psql_q -f - >"$tmp/probe-psql.json" 2>&1
printf '%s' "$(cat "$tmp/probe-psql.json")" >"$tmp/probe-psql.json.1"
if cmp -s "$tmp/probe-placesd.json" "$tmp/probe-psql.json.1"; then
	echo "check: GET /v1/places/$probe_id = the pgbench statement's result via psql ($(wc -c <"$tmp/probe-placesd.json" | tr -d ' ') bytes)"
else
	problems+=("GET /v1/places/$probe_id differs from what the pgbench statement returns via psql: pgbench may not run what placesd runs")
fi
stop_placesd

# ------------------------------------------------------------- flood mode ---
# rss_workers: "wN=PID:KB ..." (VmRSS of /proc/PID/status) of the
# master's workers, named by their process title ("worker N (gen G)");
# the ranker's as "ranker=PID:KB" at the end
rss_workers() {
	local c name out= rk=
	for c in $(ps -o pid= --ppid "$placesd_pid" 2>/dev/null); do
		name=$(cat "/proc/$c/comm" 2>/dev/null)
		case $name in
		worker*) name=${name#worker }; out+="w${name%% *}=$c:$(awk '/^VmRSS:/ { print $2 }' "/proc/$c/status" 2>/dev/null) " ;;
		ranker*) rk="ranker=$c:$(awk '/^VmRSS:/ { print $2 }' "/proc/$c/status" 2>/dev/null)" ;;
		esac
	done
	echo "$(tr ' ' '\n' <<<"${out% }" | sort | tr '\n' ' ')$rk"
}
# the workers' sum and each worker, MiB
rss_sum() { tr ' ' '\n' <<<"$1" | awk -F: '/^w/ { s += $2 } END { printf "%.1f", s / 1024 }'; }
rss_fmt() { tr ' ' '\n' <<<"$1" | awk -F: '/^w/ { printf "%s%.1f", (n++ ? " " : ""), $2 / 1024 }'; }
# seed_flood_cities: flood-1..flood-$flood_cities, 5 places each, copies
# of seeded places (their ids come after 1..N, which the id flood sends)
seed_flood_cities() {
	psql_q -c "INSERT INTO cities (id, name, country, lat, lon, timezone)
		SELECT 'flood-' || g, 'Flood ' || g, 'XX', 0, 0, 'UTC'
		FROM generate_series(1, $flood_cities) g" >"$tmp/flood-seed.log" 2>&1 &&
	psql_q -c "INSERT INTO places (city_id, name, categories, cuisines, lat,
		lon, rating, price_level, address, description, hours)
		SELECT 'flood-' || g, p.name, p.categories, p.cuisines, p.lat,
		p.lon, p.rating, p.price_level, p.address, p.description, p.hours
		FROM generate_series(1, $flood_cities) g
		CROSS JOIN generate_series(1, 5) k
		JOIN places p ON p.id = (g * 5 + k) % $nplaces + 1" >>"$tmp/flood-seed.log" 2>&1 &&
	psql_q -c "VACUUM ANALYZE" >>"$tmp/flood-seed.log" 2>&1 ||
		{ note "adding the flood cities failed:"; cat "$tmp/flood-seed.log" >&2; exit 1; }
}
# flood_row MB PHASE METRICS RSS: one line of the flood table
flood_row() {
	printf '%-10s %-7s %-26s %8s %12s %10s %7s\n' "$1" "$2" "$(rss_fmt "$4")" \
		"$(rss_sum "$4")" "$(metric placesd_readmodel_bytes "$3")" \
		"$(metric placesd_readmodel_evictions_total "$3")" "${5:-}"
}
run_flood() {
	local mb r i=0
	seed_flood_cities
	echo
	echo "Flood: every id 1..$nplaces, then the lists of $flood_cities cities x $flood_limits limits, into every worker, [cache] ttl 0"
	echo "RSS: VmRSS of each worker (w0 w1 ...) and their sum, MiB; rm bytes = placesd_readmodel_bytes (every worker); evictions so far"
	printf '%-10s %-7s %-26s %8s %12s %10s %7s\n' max_bytes phase "RSS per worker" "RSS sum" "rm bytes" evictions secs
	printf '%s\n' "------------------------------------------------------------------------------------"
	for mb in ${flood_list//,/ }; do
		i=$((i + 1))
		start_placesd "flood-$mb" 0s 0 "$mb"
		sleep 1
		fetch_metrics "$tmp/flood-$i.m0" || { note "GET /metrics failed"; exit 1; }
		flood_row "$mb" start "$tmp/flood-$i.m0" "$(rss_workers)"
		warm_items=; warm_cities=0
		warm_cache "f$i" nottl >"$tmp/flood-$i.warm"
		fetch_metrics "$tmp/flood-$i.m1" || { note "GET /metrics failed"; exit 1; }
		r=$(rss_workers)
		flood_row "$mb" ids "$tmp/flood-$i.m1" "$r" "$warm_s"
		echo "           (VmRSS kB: $r; $(sed 's/^ *f[0-9]* *(warm-up) *//' "$tmp/flood-$i.warm"))"
		warm_items=$((flood_cities * flood_limits)); warm_cities=$flood_cities
		warm_cache "c$i" nottl >"$tmp/flood-$i.warmc"
		warm_items=; warm_cities=0
		fetch_metrics "$tmp/flood-$i.m2" || { note "GET /metrics failed"; exit 1; }
		r=$(rss_workers)
		flood_row "$mb" cities "$tmp/flood-$i.m2" "$r" "$warm_s"
		echo "           (VmRSS kB: $r; $(sed 's/^ *c[0-9]* *(warm-up) *//' "$tmp/flood-$i.warmc"))"
		stop_placesd
	done
	echo "the bound is per worker: $nworkers x max_bytes"
	echo "machine load average after the flood: $(cut -d' ' -f1-3 /proc/loadavg)"
}
if [ -n "$flood" ]; then
	run_flood
	echo
	if [ ${#problems[@]} -gt 0 ]; then echo "Notes:"; printf '  - %s\n' "${problems[@]}"; fi
	[ ${#failed_reqs[@]} -gt 0 ] && { printf '  failed: %s\n' "${failed_reqs[@]}"; exit 3; }
	exit 0
fi

if [ "$warmup" != 0 ]; then
	warm_s=$(duration_s "$warmup")
	for f in "$pgb_dir"/*.sql; do
		"$pgbench_bin" -n -M prepared -c "$conns" -j "$threads" -T "$warm_s" -f "$f" \
			-h "$pgdir" -U app postgres >"$f.warmup" 2>&1 ||
			{ note "pgbench warm-up with ${f##*/} failed:"; tail -n 20 "$f.warmup" >&2; exit 1; }
	done
fi
echo
printf '%5s  %-10s %10s %9s %5s   %s\n' round case "req/s" "p99 ms" "oth%" notes
printf '%s\n' "--------------------------------------------------------------------------------"
blocks=(off)
[ "$readmodel" = on ] || blocks+=(pgbench on)
[ "$readmodel" = off ] || blocks+=(rm)
for r in $(seq 1 "$rounds"); do
	order=("${blocks[@]}")
	[ $((r % 2)) -eq 0 ] && order=($(printf '%s\n' "${blocks[@]}" | tac))
	for b in "${order[@]}"; do "block_$b" "$r"; done
done

# --------------------------------------------------------------- summary ---
cases=()
for cs in place/off zipf/off place/on zipf/on place/rm zipf/rm pgb/place city/off city/on pgb/city healthz healthz/rm; do
	[ -n "${RPS[$cs,1]:-}" ] && cases+=("$cs")
done
echo
echo "Medians over $rounds round(s) (req/s: pgbench's tps for pgb/*; p99 of pgb/* from one transaction in ten)"
printf '%-10s %12s %9s %9s %12s %12s %7s %7s   %s\n' case "req/s" "p50 ms" "p99 ms" "min req/s" "max req/s" "cache%" "rm%" what
printf '%s\n' "---------------------------------------------------------------------------------------------------------------------"
declare -A WHAT=(
	[place/off]="wrk GET /v1/places/{id}, uniform ids, cache and read model off"
	[place/on]="wrk GET /v1/places/{id}, uniform ids, cache on, warmed"
	[place/rm]="wrk GET /v1/places/{id}, uniform ids, read model on ($rm_max_bytes), warmed"
	[zipf/off]="same, Zipf ids (s = $zipf_s), cache and read model off"
	[zipf/on]="same, Zipf ids, cache on, warmed"
	[zipf/rm]="same, Zipf ids, read model on, warmed"
	[healthz/rm]="wrk GET /healthz (read-model placesd)"
	[pgb/place]="pgbench, the place statement, random ids"
	[city/off]="wrk GET /v1/cities/{city}/places?limit=20, cache off"
	[city/on]="same, cache on (the list is not cached)"
	[pgb/city]="pgbench, the city statement, first page of 20"
	[healthz]="wrk GET /healthz (cache-on placesd)"
)
declare -A MED
for cs in "${cases[@]}"; do
	rr=(); pp=(); p5=(); hh=(); rh=()
	for r in $(seq 1 "$rounds"); do
		rr+=("${RPS[$cs,$r]}"); pp+=("${P99[$cs,$r]}"); p5+=("${P50[$cs,$r]:-0}")
		hh+=("${HIT[$cs,$r]:-}"); rh+=("${RMHIT[$cs,$r]:-}")
	done
	MED[$cs]=$(median "${rr[@]}")
	hm=-; rmm=-
	[ -n "${hh[0]}" ] && hm=$(printf '%.2f' "$(median "${hh[@]}")")
	[ -n "${rh[0]}" ] && rmm=$(printf '%.2f' "$(median "${rh[@]}")")
	printf '%-10s %12s %9.3f %9.3f %12s %12s %7s %7s   %s\n' "$cs" "$(fmt_rps "${MED[$cs]}")" "$(median "${p5[@]}")" "$(median "${pp[@]}")" \
		"$(fmt_rps "$(printf '%s\n' "${rr[@]}" | sort -g | head -n 1)")" \
		"$(fmt_rps "$(printf '%s\n' "${rr[@]}" | sort -g | tail -n 1)")" "$hm" "$rmm" "${WHAT[$cs]}"
done

echo
echo "Ratios (median of the per-round ratios)"
printf '%-24s %8s %8s   %s\n' ratio value aim verdict

printf '%s\n' "----------------------------------------------------------"
verdicts=()
show_ratio() {
	local a=$1 b=$2 aim=$3 rs=() r v verdict
	[ -n "${RPS[$a,1]:-}" ] && [ -n "${RPS[$b,1]:-}" ] || return 0
	for r in $(seq 1 "$rounds"); do rs+=("$(ratio "${RPS[$a,$r]}" "${RPS[$b,$r]}")"); done
	v=$(median "${rs[@]}")
	if [ -n "$aim" ]; then
		verdict=$(awk -v v="$v" -v a="$aim" 'BEGIN { print (v >= a ? "meets the aim" : "BELOW the aim") }')
		verdicts+=("$a / $b = $(printf '%.3f' "$v") ($verdict of >= $aim)")
	else
		verdict="(for information)"
	fi
	printf '%-24s %8.3f %8s   %s   per round: %s\n' "$a / $b" "$v" "${aim:+>= $aim}" "$verdict" "${rs[*]}"
}
show_ratio place/off pgb/place 0.8
show_ratio place/on healthz 0.8
show_ratio zipf/on healthz 0.8
show_ratio zipf/rm healthz/rm 0.8
show_ratio place/rm healthz/rm ""
show_ratio zipf/rm zipf/off ""
show_ratio zipf/on zipf/off ""
show_ratio city/off pgb/city ""
show_ratio city/on city/off ""
echo "cache% / rm% = hits / (hits + misses) over the run, from /metrics: placesd_cache_* (every cache, the read model included) and placesd_readmodel_*"
echo "oth% = share of all CPU time used by processes other than placesd, PostgreSQL, wrk and pgbench during that run"

[ "$noisy" -gt 0 ] && problems+=("$noisy run(s) shared the machine with other busy processes (oth% > 10): those figures are noisy, rerun on a quiet machine")
logged=0
for f in "$tmp"/placesd-*.log; do
	[ -s "$f" ] || continue
	n=$(wc -l <"$f" | tr -d ' ')
	logged=$((logged + n))
	problems+=("placesd logged $n line(s) at warn or above in ${f##*/}: $(head -n 3 "$f" | tr '\n' '|' | cut -c1-300)")
done
pg_err=$(grep -c -E '^[^ ]+ [^ ]+ [^ ]+ (ERROR|FATAL|PANIC):|\b(ERROR|FATAL|PANIC): ' "$pgdir/postgres.log" 2>/dev/null)
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
	echo "No non-2xx answers, no socket errors, no failed transactions, no database errors or timeouts, nothing logged."
else
	echo "Notes:"
	printf '  - %s\n' "${problems[@]}"
fi
[ ${#failed_reqs[@]} -gt 0 ] && exit 3
exit 0
