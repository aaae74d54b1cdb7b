#!/bin/bash
# tests/bench/digest.sh -- POST /v1/digest: requests/s and p99 at 64 and
# 256 connections with 20 ms of upstream latency, beside the Little's-law
# bound (connections / latency) and the CPU limit, in one printout.
#
# Run on demand; this is not part of `make check`, and it builds nothing.
# It starts a throw-away PostgreSQL cluster in a temporary directory (Unix
# socket only; as root, initdb and pg_ctl run as the postgres user through
# runuser), migrates it and seeds it with placesctl, starts the events
# service (placesd-events, this tree's stand-in for the external one) and
# a placesd whose [upstream] events_url points at it, and then, for
# several rounds whose order alternates, measures:
#
#   digest/c1   wrk, POST /v1/digest, one connection, the events service
#               answering every call after --latency (20 ms): its p50 is L,
#               the time one digest takes without queueing (the upstream
#               latency plus what placesd and PostgreSQL add)
#   digest      the same at each --connections count (64, 256)
#   digest/off  the same as digest with the city read model off
#               ([cache] max_bytes = 0: every digest queries PostgreSQL),
#               in the same rounds (--readmodel both, the default); digest
#               itself runs with it on (max_bytes 64m), and a summary
#               compares the two: req/s on / off and both p99s
#   digest/0ms  the same with the events service answering at once: the
#               throughput when latency is not the limit, i.e. the CPU
#               limit of this machine (placesd, PostgreSQL, the events
#               service and wrk share its cores)
#
# A digest calls the events service (GET <events_url>/<date>?city=<city>)
# and runs its SQL at the same time, so one request holds a connection for
# about L.  Little's law then bounds the throughput of C connections by
# C / L (printed as "C/L"; the naive C / latency beside it as "C/lat").
# The aim (the issue's): req/s >= 0.9x the bound until the CPU is the
# limit.  It prints every run as it ends, then per connection count the
# medians over the rounds: req/s, p50, p99, C/lat, C/L (with the median
# L), ratio = req/s / (C/L), the CPU limit (digest/0ms req/s at that
# count) and its p99; and a verdict per connection count:
#   latency-bound (ratio X >= 0.9)             the aim is met
#   below the bound: CPU-bound at ~N req/s     req/s is within 10% of the
#                    (the 0 ms case)            digest/0ms figure
#   below the bound and below the CPU limit    neither: placesd waits on
#                                              something else (a finding;
#                                              the idle cores are shown)
# and the CPU limit is located: the highest digest/0ms median, and the
# connection count at which C / L reaches it (C = limit x L).
#
# The requests: {"date":"<date>","city":"<city>","limit":10}, the city
# round-robin over the seeded cities that have places, the date over the
# seven days 2026-11-20..2026-11-26, written once into a file that a wrk
# Lua script turns into ready POST requests (Content-Type:
# application/json), each wrk thread stepping through them from its own
# offset.
#
# placesd's [upstream]: timeout 2s, retries 0, breaker_failures 1000,
# keepalive 512 (every call in flight can reuse a connection at 256
# connections), so that every digest makes exactly one events call.  The
# events service and placesd are started afresh for each latency in each
# round, and an untimed --warmup run at the largest connection count opens
# placesd's connections to it before anything is measured.
#
# Checks, per run: non-2xx answers and socket errors (wrk); the 200
# answers whose "errors" array is not empty (the wrk script's response()
# looks at the end of each body, where "errors" is); the events
# service's "requests" counter (GET /_control) against
# placesd_digest_requests_total (one call per digest: they match, give or
# take the digests wrk abandons in flight when it stops, at most one per
# connection); placesd_upstream_requests_total{result!="ok"} and
# placesd_digest_partial_total (a digest whose "errors" array is not empty:
# an upstream timeout or a database problem, e.g. "overloaded" when more
# queries wait than [database] queue_size); database errors, timeouts
# and 5xx answers from /metrics; and, during each digest run (the latency
# service), a sample of --sample (50) digests fetched with curl on one
# keep-alive connection, whose non-empty "errors" arrays are counted.
#
# Each run also shows oth%, the share of the machine's CPU time that
# processes other than placesd, PostgreSQL, the events service, wrk and
# curl used meanwhile (a build or test running at the same time makes the
# figures noisy), and where this CPU time went, in cores: placesd (all its
# processes), PostgreSQL (the postmaster and its backends), the events
# service, and the clients (wrk, curl).
#
# Everything it starts (placesd, the events service, PostgreSQL, wrk, curl)
# is stopped and its temporary directory removed on exit, on failure and
# on Ctrl-C.
#
# Exit status: 0 when every run completed and no request failed, 3 when
# every run completed but some requests failed (non-2xx, socket errors,
# digests with errors), 1 when placesd, the events service, PostgreSQL,
# placesctl or wrk failed, 2 on a usage or setup error.
#
# Needs: PostgreSQL server binaries (initdb, pg_ctl, postgres, psql;
# postgresql-15), wrk, curl; runuser when run as root; python3 is used to
# find free ports if present.  Only loopback and Unix sockets.

set -u
set -o pipefail

prog=${0##*/}
bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shared helpers: die, note, is_running, stop_proc, free_port, median, ...
. "$bench_dir/lib.sh" || { echo "$prog: cannot read lib.sh beside it" >&2; exit 2; }

usage() {
	cat <<EOF
Usage: $prog [OPTIONS]

Benchmark placesd's POST /v1/digest against an events service with a fixed
latency: req/s, p50 and p99 at each connection count beside the
Little's-law bound (connections / latency) and the CPU limit (the same with
an events service that answers at once).

Options:
  --placesd PATH     placesd binary (default: \$PLACESD, else src/placesd of the
                     build directory: \$top_builddir/src, ./src or ../../src)
  --placesctl PATH   placesctl binary (default: \$PLACESCTL, else placesctl
                     beside placesd, else src/placesctl of the build directory)
  --events PATH      the events service, placesd-events (default:
                     \$PLACESD_EVENTS, else placesd-events beside placesd, else
                     src/placesd-events of the build directory)
  --sql-dir DIR      migrations (default: src/sql of this source tree:
                     $bench_dir/../../src/sql)
  --places N         places to seed (default: 20000)
  --seed S           seed of the generator and of the events (default: 1)
  --workers N|auto   placesd workers (default: auto = $(nproc 2>/dev/null || echo '?') online cores)
  --pool-size N      [database] pool_size per worker (default: 4)
  --latency MS       latency of the events service, milliseconds, >= 1
                     (default: 20)
  --connections LIST wrk connection counts, comma separated (default: 64,256)
  --threads T        wrk threads (default: 2; fewer if fewer connections)
  --rounds R         rounds (default: 3)
  --duration D       length of one wrk run, 10s, 1m (default: 10s)
  --warmup D         untimed wrk run at the largest connection count after
                     each placesd start; 0 = none (default: 2s)
  --readmodel MODE   both (default: digest with the city read model on, and
                     digest/off with it off, in the same rounds), on or off
  --sample N         digests fetched with curl during each digest run (the
                     latency service) and checked for a non-empty "errors";
                     0 = none (default: 50)
  --pg-bindir DIR    PostgreSQL binaries (default: \$PG_BINDIR, else the
                     newest /usr/lib/postgresql/N/bin, else pg_config --bindir)
  --keep DIR         copy the configs, logs, scripts and raw outputs to DIR
  -h, --help         this text

Examples, from a build directory (SRCDIR = the source tree):
  SRCDIR/tests/bench/digest.sh --places 5000 --rounds 1 --duration 5s --warmup 1s
  SRCDIR/tests/bench/digest.sh --latency 50 --connections 16,64,256,512
  SRCDIR/tests/bench/digest.sh --keep /tmp/digest-bench
EOF
}

# ---------------------------------------------------------------- options ---
placesd_bin=${PLACESD:-}
placesctl_bin=${PLACESCTL:-}
events_bin=${PLACESD_EVENTS:-}
sql_dir=
nplaces=20000
seed=1
workers=auto
pool_size=4
latency=20
conns_opt=64,256
threads=2
rounds=3
duration=10s
warmup=2s
sample=50
readmodel=both
pg_bindir=${PG_BINDIR:-}
keep_dir=

while [ $# -gt 0 ]; do
	case $1 in
	--placesd)       need_arg "$@"; placesd_bin=$2; shift 2 ;;
	--placesd=*)     placesd_bin=${1#*=}; shift ;;
	--placesctl)     need_arg "$@"; placesctl_bin=$2; shift 2 ;;
	--placesctl=*)   placesctl_bin=${1#*=}; shift ;;
	--events)        need_arg "$@"; events_bin=$2; shift 2 ;;
	--events=*)      events_bin=${1#*=}; shift ;;
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
	--latency)       need_arg "$@"; latency=$2; shift 2 ;;
	--latency=*)     latency=${1#*=}; shift ;;
	--connections)   need_arg "$@"; conns_opt=$2; shift 2 ;;
	--connections=*) conns_opt=${1#*=}; shift ;;
	--threads)       need_arg "$@"; threads=$2; shift 2 ;;
	--threads=*)     threads=${1#*=}; shift ;;
	--rounds)        need_arg "$@"; rounds=$2; shift 2 ;;
	--rounds=*)      rounds=${1#*=}; shift ;;
	--duration)      need_arg "$@"; duration=$2; shift 2 ;;
	--duration=*)    duration=${1#*=}; shift ;;
	--warmup)        need_arg "$@"; warmup=$2; shift 2 ;;
	--warmup=*)      warmup=${1#*=}; shift ;;
	--sample)        need_arg "$@"; sample=$2; shift 2 ;;
	--sample=*)      sample=${1#*=}; shift ;;
	--readmodel)     need_arg "$@"; readmodel=$2; shift 2 ;;
	--readmodel=*)   readmodel=${1#*=}; shift ;;
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
[[ $seed =~ ^[0-9]+$ ]] || die "--seed: a number, not '$seed'"
is_uint "$pool_size" && [ "$pool_size" -le 64 ] || die "--pool-size: 1..64, not '$pool_size'"
latency=${latency%ms}
is_uint "$latency" && [ "$latency" -le 60000 ] || die "--latency: milliseconds, 1..60000, not '$latency' (the 0 ms case is measured anyway)"
latency=$((10#$latency))
conns_list=()
IFS=, read -r -a conns_list <<<"${conns_opt// /,}"
cl=()
for c in "${conns_list[@]}"; do
	[ -n "$c" ] || continue
	is_uint "$c" && [ "$c" -le 100000 ] || die "--connections: connection counts 1..100000 separated by commas, not '$conns_opt'"
	case " ${cl[*]} " in *" $((10#$c)) "*) ;; *) cl+=("$((10#$c))") ;; esac
done
[ ${#cl[@]} -gt 0 ] || die "--connections: a list such as 64,256"
conns_list=("${cl[@]}")
max_c=$(printf '%s\n' "${conns_list[@]}" | sort -n | tail -n 1)
is_uint "$threads" || die "--threads: a positive integer, not '$threads'"
is_uint "$rounds" || die "--rounds: a positive integer, not '$rounds'"
is_duration "$duration" && [ "${duration%[smh]}" -gt 0 ] || die "--duration: e.g. 10s or 1m, not '$duration'"
[[ $warmup =~ ^0+[smh]?$ ]] && warmup=0
[ "$warmup" = 0 ] || is_duration "$warmup" || die "--warmup: e.g. 2s or 0, not '$warmup'"
[[ $sample =~ ^[0-9]+$ ]] && [ "$((10#$sample))" -le 100000 ] || die "--sample: 0..100000, not '$sample'"
sample=$((10#$sample))
case $readmodel in
both) rm_modes="on off" ;;
on|off) rm_modes=$readmodel ;;
*) die "--readmodel: both, on or off, not '$readmodel'" ;;
esac

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
if [ -z "$events_bin" ]; then
	if [ -x "$(dirname "$placesd_bin")/placesd-events" ]; then
		events_bin=$(dirname "$placesd_bin")/placesd-events
	else
		events_bin=$(find_build_bin placesd-events) ||
			die "placesd-events not found: use --events PATH or PLACESD_EVENTS=PATH (make src/placesd-events)"
	fi
fi
[ -x "$events_bin" ] && [ -f "$events_bin" ] || die "not an executable file: $events_bin"
events_bin=$(abs_path "$events_bin")
[ -n "$sql_dir" ] || sql_dir=$bench_dir/../../src/sql
[ -d "$sql_dir" ] && ls "$sql_dir"/*.sql >/dev/null 2>&1 || die "no migrations (*.sql) in $sql_dir: use --sql-dir DIR"
sql_dir=$(cd "$sql_dir" && pwd)

# PostgreSQL
find_postgres
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
events_pid=
events_port=
events_log=
child_pid=
curl_pid=
cleaned=

# stop_events: SIGTERM, expected exit status 0
stop_events() {
	[ -n "$events_pid" ] || return 0
	stop_proc placesd-events "$events_pid" TERM 10
	events_pid=
	if [ "$stop_rc" != 0 ]; then
		note "placesd-events exited with status $stop_rc after SIGTERM (expected 0)"
		problems+=("placesd-events exited with status $stop_rc after SIGTERM (expected 0); see its log ${events_log##*/}")
		[ -s "$events_log" ] && { note "last lines of its log:"; tail -n 20 "$events_log" >&2; }
	fi
}

cleanup() {
	[ -n "$cleaned" ] && return
	cleaned=1
	trap '' INT TERM
	kill_child "$child_pid"; child_pid=
	kill_child "$curl_pid"; curl_pid=
	stop_placesd
	stop_events
	stop_postgres
	keep_outputs
	[ -n "$tmp" ] && rm -rf "$tmp"
}
trap 'cleanup' EXIT
trap 'note "interrupted"; exit 130' INT
trap 'note "terminated"; exit 143' TERM

problems=()
failed_reqs=()

make_tmp dbench


# ------------------------------------------------------------- PostgreSQL ---
pgdir=$tmp/pg
# placesd: workers x (pool + LISTEN) connections and the ranker's; psql and
# placesctl; two placesd generations may overlap while one stops
max_conn=$((2 * (nworkers * (pool_size + 2) + 4) + 20))
start_cluster "$pgdir" "$max_conn" 512MB


# placesd configuration: write_conf FILE PORT EVENTS_PORT [MAX_BYTES]
max_clients=$((2 * max_c + 1024))
[ "$max_clients" -lt 4096 ] && max_clients=4096
write_conf() {
	cat >"$1" <<EOF
# written by $prog
[server]
listen = 127.0.0.1:$2
workers = $workers
max_connections = $max_clients

[database]
conninfo = $conninfo
pool_size = $pool_size

[cache]
max_bytes = ${4:-64m}

[ranker]
socket = $tmp/ranker.sock

[upstream]
events_url = http://127.0.0.1:$3/events
timeout = 2s
retries = 0
breaker_failures = 1000
keepalive = 512

[log]
level = warn
EOF
}

write_conf "$tmp/placesctl.conf" "$(free_port)" 9
"$placesctl_bin" -c "$tmp/placesctl.conf" migrate --dir "$sql_dir" >"$tmp/migrate.log" 2>&1 ||
	{ note "placesctl migrate failed:"; cat "$tmp/migrate.log" >&2; exit 1; }
t_seed=$(date +%s.%N)
run_bg "$tmp/seed.log" "$placesctl_bin" -c "$tmp/placesctl.conf" seed --places "$nplaces" --seed "$seed" ||
	{ note "placesctl seed failed:"; tail -n 30 "$tmp/seed.log" >&2; exit 1; }
t_seed=$(awk -v a="$t_seed" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
psql_q -c "VACUUM ANALYZE" >"$tmp/vacuum.log" 2>&1 || { note "VACUUM ANALYZE failed:"; cat "$tmp/vacuum.log" >&2; exit 1; }
read -r pcount nmenu noffers <<<"$(psql_q -F ' ' -c "SELECT (SELECT count(*) FROM places), (SELECT count(*) FROM menu_items), (SELECT count(*) FROM offers)")" ||
	{ note "cannot count the places"; exit 1; }
[ "${pcount:-}" = "$nplaces" ] || { note "expected $nplaces places after seeding, found ${pcount:-?}"; exit 1; }

# ------------------------------------------------------------- the bodies ---
psql_q -c "SELECT id FROM cities WHERE EXISTS (SELECT 1 FROM places WHERE city_id = cities.id) ORDER BY id" \
	>"$tmp/cities.txt" || { note "cannot read the cities"; exit 1; }
ncities=$(grep -c . "$tmp/cities.txt")
[ "$ncities" -gt 0 ] || { note "no cities with places in the database"; exit 1; }
dates="2026-11-20 2026-11-21 2026-11-22 2026-11-23 2026-11-24 2026-11-25 2026-11-26"
# one body a line: the cities round-robin, the next date after each pass
awk -v dates="$dates" '{ if ($1 != "") city[n++] = $1 }
	END { nd = split(dates, d, " ")
		for (i = 0; i < n * nd; i++)
			printf "{\"date\":\"%s\",\"city\":\"%s\",\"limit\":10}\n", d[1 + int(i / n)], city[i % n] }' \
	"$tmp/cities.txt" >"$tmp/bodies.txt" || { note "cannot write the bodies"; exit 1; }
nbodies=$(wc -l <"$tmp/bodies.txt" | tr -d ' ')

# wrk: POST /v1/digest with the bodies of a file, one after the other, each
# thread from its own offset; ready request strings.  args: FILE
cat >"$tmp/digest.lua" <<'EOF'
-- written by digest.sh: POST /v1/digest, the bodies of a file in turn;
-- counts the 200 answers whose "errors" (the last member) is not empty
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local reqs, n, i = {}, 0, 0
local nthreads, threads = 0, {}
nerr, firsterr = 0, ""
function setup(thread)
	nthreads = nthreads + 1
	thread:set("tid", nthreads)
	threads[nthreads] = thread
end
function init(args)
	for line in io.lines(args[1]) do
		if line ~= "" then
			n = n + 1
			reqs[n] = wrk.format("POST", "/v1/digest", nil, line)
		end
	end
	i = ((tid or 0) * 7919) % n
end
function request()
	i = i % n + 1
	return reqs[i]
end
function response(status, headers, body)
	if status ~= 200 then return end
	local tail = body:sub(-2048)
	if not tail:find('"errors":[]}', 1, true) then
		nerr = nerr + 1
		if firsterr == "" then
			firsterr = (tail:match('"errors":(%[.*)') or tail):sub(1, 300)
		end
	end
end
function done(summary, latency, requests)
	local total, first = 0, ""
	for _, t in ipairs(threads) do
		total = total + (tonumber(t:get("nerr")) or 0)
		local f = t:get("firsterr")
		if first == "" and f ~= nil and f ~= "" then first = f end
	end
	io.write(string.format("Digests with errors: %d\n", total))
	if first ~= "" then io.write("First errors: " .. first .. "\n") end
end
EOF

# ---------------------------------------------------------- the processes ---
# check_events: still up?  Else show its log and fail.
check_events() { check_proc placesd-events events_pid "$events_log"; }

# events_requests: the events service's "requests" counter (GET /_control)
events_ctl() {
	curl -s --max-time 5 "http://127.0.0.1:$events_port/_control" 2>/dev/null
}
events_requests() {
	local body n
	body=$(events_ctl)
	n=$(sed -n 's/.*"requests"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p' <<<"$body")
	[ -n "$n" ] || { note "GET /_control of the events service: no \"requests\" in: $(cut -c1-200 <<<"$body")"; exit 1; }
	echo "$n"
}

# start_events NAME DELAY_MS: a fresh placesd-events on a port of its own
# choosing (-l 127.0.0.1:0 -p FILE); sets events_pid, events_port
nev=0
start_events() {
	local name=$1 delay=$2 i
	nev=$((nev + 1))
	events_log=$tmp/events-$nev-$name.log
	rm -f "$tmp/events.port"
	# setsid: its own process group, as placesd
	setsid "$events_bin" -l 127.0.0.1:0 -p "$tmp/events.port" -d "$delay" -s "$seed" -P "$nplaces" \
		</dev/null >"$events_log" 2>&1 &
	events_pid=$!
	for i in $(seq 1 100); do
		check_events
		[ -s "$tmp/events.port" ] && break
		sleep 0.1
	done
	[ -s "$tmp/events.port" ] || { note "placesd-events wrote no port file within 10 s"; tail -n 20 "$events_log" >&2; exit 1; }
	events_port=$(tr -dc '0-9' <"$tmp/events.port")
	[ -n "$events_port" ] || { note "placesd-events: bad port file: $(cat "$tmp/events.port")"; exit 1; }
	events_requests >/dev/null
}

# start_placesd NAME [MAX_BYTES]: a fresh placesd on a free port whose
# events_url is the running events service's, once /readyz answers 200 and
# every worker serves; MAX_BYTES: [cache] max_bytes (default 64m)
nstart=0
start_placesd() {
	local name=$1
	nstart=$((nstart + 1))
	placesd_port=$(free_port) || die "no free port found"
	placesd_conf=$tmp/placesd-$nstart-$name.conf
	placesd_log=$tmp/placesd-$nstart-$name.log
	write_conf "$placesd_conf" "$placesd_port" "$events_port" "${2:-64m}"
	launch_placesd "$name (start $nstart)"
	# one digest: is the endpoint there, and does it reach the events
	# service and the database?
	probe_digest
	return 0
}

# probe_digest: POST /v1/digest once; 200 without errors, else fail
probe_digest() {
	local body code
	body=$(curl -s --max-time 10 -H 'Content-Type: application/json' --data-binary "$(head -n 1 "$tmp/bodies.txt")" \
		-w '\n@@%{http_code}' "http://127.0.0.1:$placesd_port/v1/digest" 2>/dev/null)
	code=$(sed -n 's/^@@//p' <<<"$body")
	case $code in
	200) ;;
	404) note "placesd answers POST /v1/digest with 404: this build has no /v1/digest (rebuild it): $(head -n 1 <<<"$body" | cut -c1-200)"; exit 1 ;;
	*) note "POST /v1/digest $(head -n 1 "$tmp/bodies.txt") answered ${code:-nothing}: $(head -n 1 <<<"$body" | cut -c1-300)"; exit 1 ;;
	esac
	grep -q '"errors":\[\]}$' <<<"$(head -n 1 <<<"$body")" ||
		{ note "the probe digest has errors: $(head -n 1 <<<"$body" | grep -o '"errors":.*' | cut -c1-300)"; exit 1; }
}

# upstream_notok M0 M1: the rise of placesd_upstream_requests_total by
# result other than "ok", as "result=N ..." (nothing if none)
upstream_notok() {
	awk 'FNR == 1 { f++ }
		$1 ~ /^placesd_upstream_requests_total\{/ && $1 !~ /result="ok"/ {
			r = $1; sub(/.*result="/, "", r); sub(/".*/, "", r)
			if (!(r in seen)) { seen[r] = 1; order[++n] = r }
			v[r, f] = $2 }
		END { for (i = 1; i <= n; i++) { r = order[i]; d = v[r, 2] - v[r, 1]
			if (d > 0) printf "%s=%.0f ", r, d } }' "$1" "$2"
}
p50_of() { to_ms "$(awk '$1 == "50%" { print $2 }' "$1")"; }

# --------------------------------------------------------- CPU accounting ---
# cpu_take: $snap (cpu_snapshot of everything we run) and $split: "TOTAL
# BUSY OURS PLACESD PG EVENTS" in clock ticks
split=
cpu_take() {
	cpu_snapshot "+$placesd_pid" "+$pg_pid" "$events_pid"
	split="$snap $(ticks_of_family "$placesd_pid") $(ticks_of_family "$pg_pid") $(ticks_of_group "$events_pid")"
}
# cores_of SPLIT0 SPLIT1: "PLACESD PG EVENTS CLIENTS IDLE" in cores (ticks
# over the machine's ticks times the cores)
cores_of() {
	awk -v a="$1" -v b="$2" -v n="$ncpu" 'BEGIN {
		split(a, x, " "); split(b, y, " ")
		t = y[1] - x[1]; if (t <= 0) t = 1
		pd = y[4] - x[4]; pg = y[5] - x[5]; ev = y[6] - x[6]
		cl = (y[3] - x[3]) - pd - pg - ev; if (cl < 0) cl = 0
		idle = t - (y[2] - x[2])
		printf "%.2f %.2f %.2f %.2f %.2f", n * pd / t, n * pg / t, n * ev / t, n * cl / t, n * idle / t }'
}

# --------------------------------------------------------------- sample ---
# start_sample OUT: $sample digests with curl, in the background, a second
# after the timed run starts, on one keep-alive connection
start_sample() {
	[ "$sample" -gt 0 ] || return 0
	awk -v n="$sample" -v url="http://127.0.0.1:$placesd_port/v1/digest" '
		{ b[NR] = $0 }
		END { for (i = 0; i < n; i++) {
			s = b[1 + (i * 37 + 11) % NR]; gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s)
			if (i > 0) print "next"
			print "url = \"" url "\""
			print "header = \"Content-Type: application/json\""
			print "data-binary = \"" s "\""
			print "max-time = 10"
			print "silent"
			print "write-out = \"\\n@@%{http_code}\\n\"" } }' "$tmp/bodies.txt" >"$tmp/sample.curl"
	( sleep 1; exec curl -K "$tmp/sample.curl" ) >"$1" 2>/dev/null &
	curl_pid=$!
}
# end_sample OUT: stop it (if the run ended first); sets sample_info,
# sample_got (200 answers), sample_err (of those: a non-empty "errors")
end_sample() {
	sample_info=
	sample_got=0
	sample_err=0
	[ -n "$curl_pid" ] || return 0
	local i code_bad
	for i in $(seq 1 50); do is_running "$curl_pid" || break; sleep 0.1; done
	kill_child "$curl_pid"; curl_pid=
	sample_got=$(grep -c '^@@200$' "$1")
	code_bad=$(grep '^@@' "$1" | grep -vc '^@@200$')
	sample_err=$(grep -v '^@@' "$1" | grep -c '"errors":\[{')
	sample_info="sample: $sample_err/$sample_got with errors; "
	[ "$sample_got" -lt "$sample" ] && sample_info+="(only $sample_got of $sample answered 200 in time) "
	[ "$code_bad" -gt 0 ] && { sample_info+="($code_bad not 200) "; failed_reqs+=("sample: $code_bad answers were not 200"); }
	return 0
}

# --------------------------------------------------------------- running ---
other_pct=
declare -A RPS P50 P99 OTH CPD CPG CEV CCL CID
noisy=0

# run_digest CASE ROUND CONNS SAMPLE: one timed wrk run on POST /v1/digest;
# SAMPLE=1: the curl sample beside it
run_digest() {
	local cs=$1 r=$2 c=$3 smp=$4 k out t0 t1 rc th=$threads info='' e0 e1
	local rps p99 reqs non2xx sock dg part ev nok x5 pge pgt oc werr
	k="$cs@$c,$r"
	[ "$c" -lt "$th" ] && th=$c
	out="$tmp/wrk-r$r-${cs//\//-}-c$c.txt"
	# let whatever the run before left in flight settle
	sleep 0.3
	fetch_metrics "$out.m0" || { note "GET /metrics failed"; exit 1; }
	e0=$(events_requests) || exit 1
	cpu_take; t0=$split
	[ "$smp" = 1 ] && start_sample "$out.sample"
	run_bg "$out" wrk -t"$th" -c"$c" -d"$duration" --timeout 10s --latency \
		-s "$tmp/digest.lua" "http://127.0.0.1:$placesd_port" -- "$tmp/bodies.txt"; rc=$?
	sample_info=; sample_err=0; sample_got=0
	[ "$smp" = 1 ] && end_sample "$out.sample"
	cpu_take; t1=$split
	other_pct=$(other_pct "$t0" "$t1")
	[ $rc -eq 0 ] || { note "wrk ($cs -c$c, round $r) failed (status $rc):"; cat "$out" >&2; exit 1; }
	grep -q '^Requests/sec:' "$out" || { note "no Requests/sec in wrk output ($cs -c$c, round $r):"; cat "$out" >&2; exit 1; }
	check_placesd
	check_events
	sleep 0.2
	fetch_metrics "$out.m1" || { note "GET /metrics failed after a run"; exit 1; }
	events_ctl >"$out.events"
	e1=$(events_requests) || exit 1
	oc=$(sed -n 's/.*"open_connections"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$out.events")

	read -r rps p99 reqs non2xx sock <<<"$(parse_wrk "$out")"
	RPS[$k]=$rps
	P99[$k]=$p99
	P50[$k]=$(p50_of "$out")
	OTH[$k]=$other_pct
	read -r "CPD[$k]" "CPG[$k]" "CEV[$k]" "CCL[$k]" "CID[$k]" <<<"$(cores_of "$t0" "$t1")"
	if [ "${non2xx:-0}" != 0 ]; then
		failed_reqs+=("$cs -c$c round $r: $non2xx of $reqs answers were not 2xx")
		info+="non-2xx $non2xx "
	fi
	if [ -n "$sock" ]; then
		failed_reqs+=("$cs -c$c round $r: wrk socket errors: ${sock//_/ }")
		info+="errors: ${sock//_/ } "
	fi
	werr=$(sed -n 's/^Digests with errors: \([0-9]*\)$/\1/p' "$out")
	[ -n "$werr" ] || { note "no \"Digests with errors\" line in wrk output ($cs -c$c, round $r): is $tmp/digest.lua's done() run?"; cat "$out" >&2; exit 1; }
	if [ "$werr" -gt 0 ]; then
		info+="with errors $werr "
		failed_reqs+=("$cs -c$c round $r: $werr of $reqs digests (wrk) had a non-empty \"errors\" (first: $(sed -n 's/^First errors: //p' "$out" | cut -c1-200))")
	fi
	d() { echo $(( $(metric "$1" "$out.m1") - $(metric "$1" "$out.m0") )); }
	dg=$(d placesd_digest_requests_total)
	part=$(d placesd_digest_partial_total)
	pge=$(d placesd_pg_errors_total); pgt=$(d placesd_pg_timeouts_total)
	x5=$(( $(awk '/^placesd_http_requests_total\{code_class="5xx"\}/ { print $2 + 0 }' "$out.m1") -
		$(awk '/^placesd_http_requests_total\{code_class="5xx"\}/ { print $2 + 0 }' "$out.m0") ))
	nok=$(upstream_notok "$out.m0" "$out.m1")
	ev=$((e1 - e0))
	# one events call per digest; the digests wrk abandons in flight when
	# it stops (one per connection at most, and the sample's) made their
	# call but are not answered
	info+="calls/digests $ev/$dg "
	info+="rm hits $(d placesd_readmodel_hits_total)/$dg "
	if [ "$ev" -lt "$dg" ] || [ "$ev" -gt $((dg + c + 1)) ]; then
		problems+=("$cs -c$c round $r: the events service counted $ev calls for $dg digests answered (placesd_digest_requests_total): expected one call per digest (up to $((c + 1)) more for the digests abandoned in flight at the end)")
		info+="(MISMATCH) "
	fi
	[ -n "$oc" ] && info+="upstream conns $oc "
	info="$sample_info$info"
	[ "${sample_err:-0}" -gt 0 ] && [ "$smp" = 1 ] &&
		failed_reqs+=("$cs -c$c round $r: $sample_err of $sample_got sampled digests had a non-empty \"errors\" (first: $(grep -m 1 -o '"errors":\[{.*' "$out.sample" | cut -c1-200))")
	if [ "$part" -gt 0 ]; then
		info+="partial $part "
		problems+=("$cs -c$c round $r: placesd_digest_partial_total rose by $part (digests answered with errors[]; wrk saw $werr, the sample ${sample_err:-0})")
	fi
	[ -n "$nok" ] && { info+="upstream not ok: $nok"; problems+=("$cs -c$c round $r: placesd_upstream_requests_total{result!=\"ok\"} rose: ${nok% }"); }
	[ "$pge" -gt 0 ] && { info+="pg errors $pge "; problems+=("$cs -c$c round $r: placesd counted $pge failed database queries"); }
	[ "$pgt" -gt 0 ] && { info+="pg timeouts $pgt "; problems+=("$cs -c$c round $r: placesd counted $pgt database queries past query_timeout"); }
	[ "$x5" -gt 0 ] && { info+="5xx $x5 "; problems+=("$cs -c$c round $r: placesd counted $x5 answers 5xx"); }
	report_run "$cs" "$r" "$c" "$k" "$info"
}

report_run() {
	local k=$4
	printf '%5s  %-10s %5s %9s %8.3f %9.3f %5s  %4.2f/%4.2f/%4.2f/%4.2f %4.2f   %s\n' "$2" "$1" "$3" \
		"$(fmt_rps "${RPS[$k]}")" "${P50[$k]}" "${P99[$k]}" "${OTH[$k]}" \
		"${CPD[$k]}" "${CPG[$k]}" "${CEV[$k]}" "${CCL[$k]}" "${CID[$k]}" "$5"
	[ "${OTH[$k]:-0}" -gt 10 ] && noisy=$((noisy + 1))
	return 0
}
table_head() {
	printf '%5s  %-10s %5s %9s %8s %9s %5s  %-19s %4s   %s\n' round case conns "req/s" "p50 ms" "p99 ms" "oth%" \
		"cores pd/pg/ev/cl" idle notes
	printf '%s\n' "--------------------------------------------------------------------------------------------------------------"
}

warm_untimed() {
	[ "$warmup" = 0 ] && return 0
	local th=$threads
	[ "$max_c" -lt "$th" ] && th=$max_c
	run_bg "$tmp/wrk-warmup-$nstart.txt" wrk -t"$th" -c"$max_c" -d"$warmup" --timeout 10s \
		-s "$tmp/digest.lua" "http://127.0.0.1:$placesd_port" -- "$tmp/bodies.txt" ||
		{ note "wrk (untimed warm-up) failed:"; cat "$tmp/wrk-warmup-$nstart.txt" >&2; exit 1; }
}

# conns_order ROUND: the connection counts, reversed in even rounds
conns_order() {
	if [ $(($1 % 2)) -eq 1 ]; then printf '%s\n' "${conns_list[@]}"
	else printf '%s\n' "${conns_list[@]}" | tac; fi
}

# block_latency ROUND: the events service at --latency: digest/c1 and
# digest at each connection count, with the read model on; digest/off at
# each count with it off; the two in alternating order
block_latency() {
	local r=$1 c m modes=$rm_modes
	[ $((r % 2)) -eq 0 ] && modes=$(tr ' ' '\n' <<<"$rm_modes" | tac | tr '\n' ' ')
	for m in $modes; do
		start_events "d$latency" "$latency"
		if [ "$m" = off ] && [ "$readmodel" = both ]; then
			start_placesd "d$latency-off" 0
			warm_untimed
			for c in $(conns_order "$r"); do
				run_digest digest/off "$r" "$c" 1
			done
		else
			start_placesd "d$latency" "$([ "$m" = off ] && echo 0 || echo 64m)"
			warm_untimed
			[ $((r % 2)) -eq 1 ] && run_digest digest/c1 "$r" 1 0
			for c in $(conns_order "$r"); do
				run_digest digest "$r" "$c" 1
			done
			[ $((r % 2)) -eq 0 ] && run_digest digest/c1 "$r" 1 0
		fi
		stop_placesd
		stop_events
	done
}
# block_zero ROUND: the events service at 0 ms (read model as in digest,
# off with --readmodel off)
block_zero() {
	local r=$1 c mb=64m
	[ "$rm_modes" = off ] && mb=0
	start_events d0 0
	start_placesd d0 "$mb"
	warm_untimed
	for c in $(conns_order "$r"); do
		run_digest digest/0ms "$r" "$c" 0
	done
	stop_placesd
	stop_events
}

# ------------------------------------------------------------------ run ------
pg_version=$("$pg_bindir/postgres" --version 2>/dev/null | sed 's/^postgres (PostgreSQL) //')
echo "placesd POST /v1/digest benchmark  $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
echo "  placesd:    $placesd_bin ($("$placesd_bin" -V 2>/dev/null | head -n 1)), workers $workers, pool_size $pool_size"
echo "  upstream:   timeout 2s, retries 0, breaker_failures 1000, keepalive 512"
echo "  read model: --readmodel $readmodel (digest: [cache] max_bytes $([ "$readmodel" = off ] && echo 0 || echo 64m)$([ "$readmodel" = both ] && echo '; digest/off: 0'))"
echo "  events:     $events_bin, -d $latency (the digest cases) and -d 0 (digest/0ms)"
echo "  PostgreSQL: $pg_version ($pg_bindir), Unix socket, fsync off, shared_buffers 512MB"
echo "  data:       $nplaces places, $nmenu menu items, $noffers offers (seed $seed; seeded in ${t_seed} s), $ncities cities with places"
echo "  bodies:     $nbodies: {\"date\":D,\"city\":C,\"limit\":10}, the $ncities cities round-robin, D in ${dates%% *}..${dates##* }"
echo "  wrk:        -t$threads (at most one per connection) -c ${conns_list[*]} and 1 -d$duration --latency; warm-up -c$max_c -d$warmup"
echo "  rounds:     $rounds, order alternates each round; curl sample of $sample digests per digest run"
echo "  machine:    $ncpu cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null); clients, servers and PostgreSQL share the cores"

busy=$(ps -eo pcpu=,pgid=,ppid=,pid=,args= --sort=-pcpu 2>/dev/null |
	awk -v a="$pg_pid" -v me=$$ '$1 >= 20 && $3 != a && $4 != a && $2 != me' | head -n 3)
[ -n "$busy" ] && note "other busy processes on this machine, figures will be noisy:" && sed 's/^/    /' <<<"$busy" >&2

# the events service's own latency, as a client sees it
start_events check "$latency"
ev_ms=()
for _ in 1 2 3 4 5; do
	ev_ms+=("$(curl -s -o /dev/null --max-time 10 -w '%{time_total}' \
		"http://127.0.0.1:$events_port/events/2026-11-23?city=$(head -n 1 "$tmp/cities.txt")" |
		awk '{ printf "%.3f", $1 * 1000 }')")
done
stop_events
echo "  check:      GET /events on placesd-events -d $latency answers in $(median "${ev_ms[@]}") ms (median of 5, curl)"
echo

table_head
for r in $(seq 1 "$rounds"); do
	if [ $((r % 2)) -eq 1 ]; then
		block_latency "$r"; block_zero "$r"
	else
		block_zero "$r"; block_latency "$r"
	fi
done
echo "cores pd/pg/ev/cl = CPU time in cores of placesd, PostgreSQL, the events service and the clients (wrk, curl); idle = cores left idle"
echo "oth% = share of all CPU time used by other processes during that run"

# --------------------------------------------------------------- summary ---
med_of() { # med_of ARRAY KEY (without the round)
	local -n A=$1
	local v=() r
	for r in $(seq 1 "$rounds"); do [ -n "${A[$2,$r]:-}" ] && v+=("${A[$2,$r]}"); done
	median "${v[@]}"
}

L=$(med_of P50 "digest/c1@1")
awk -v l="$L" 'BEGIN { exit !(l > 0) }' || { note "no p50 from digest/c1 (L = '$L')"; exit 1; }
own=$(awk -v l="$L" -v t="$latency" 'BEGIN { printf "%.3f", l - t }')
echo
echo "Medians over $rounds round(s).  Latency $latency ms; L = p50 of digest/c1 = $(printf '%.3f' "$L") ms ($latency ms upstream + $own ms placesd and PostgreSQL)"
echo "C/lat = C / $latency ms (naive bound); C/L = C / L (Little's law); ratio = req/s / (C/L); CPU limit = digest/0ms req/s at C"
printf '%5s %9s %8s %9s %9s %9s %7s %10s %10s   %s\n' conns "req/s" "p50 ms" "p99 ms" "C/lat" "C/L" ratio "CPU limit" "0ms p99" "cores pd/pg/ev/cl idle: digest | digest/0ms"
printf '%s\n' "------------------------------------------------------------------------------------------------------------------------------"
cores_med() { # cores_med KEY
	printf '%.2f/%.2f/%.2f/%.2f %.2f' "$(med_of CPD "$1")" "$(med_of CPG "$1")" "$(med_of CEV "$1")" \
		"$(med_of CCL "$1")" "$(med_of CID "$1")"
}
printf '%5s %9s %8.3f %9.3f %9s %9s %7s %10s %10s   %s\n' 1 "$(fmt_rps "$(med_of RPS digest/c1@1)")" \
	"$(med_of P50 digest/c1@1)" "$(med_of P99 digest/c1@1)" \
	"$(fmt_rps "$(awk -v t="$latency" 'BEGIN { print 1000 / t }')")" \
	"$(fmt_rps "$(awk -v l="$L" 'BEGIN { print 1000 / l }')")" \
	"$(ratio "$(med_of RPS digest/c1@1)" "$(awk -v l="$L" 'BEGIN { print 1000 / l }')")" - - "$(cores_med digest/c1@1) (digest/c1: L)"
verdicts=()
cpu_max=0
for c in "${conns_list[@]}"; do
	rps=$(med_of RPS "digest@$c")
	zrps=$(med_of RPS "digest/0ms@$c")
	naive=$(awk -v c="$c" -v t="$latency" 'BEGIN { printf "%.1f", c * 1000 / t }')
	bound=$(awk -v c="$c" -v l="$L" 'BEGIN { printf "%.1f", c * 1000 / l }')
	rt=$(ratio "$rps" "$bound")
	printf '%5s %9s %8.3f %9.3f %9s %9s %7s %10s %10.3f   %s | %s\n' "$c" "$(fmt_rps "$rps")" \
		"$(med_of P50 "digest@$c")" "$(med_of P99 "digest@$c")" "$(fmt_rps "$naive")" "$(fmt_rps "$bound")" \
		"$rt" "$(fmt_rps "$zrps")" "$(med_of P99 "digest/0ms@$c")" "$(cores_med "digest@$c")" "$(cores_med "digest/0ms@$c")"
	awk -v z="$zrps" -v m="$cpu_max" 'BEGIN { exit !(z > m) }' && { cpu_max=$zrps; cpu_max_c=$c; }
	if awk -v x="$rt" 'BEGIN { exit !(x >= 0.9) }'; then
		verdict="latency-bound (ratio $rt >= 0.9)"
	elif awk -v a="$rps" -v z="$zrps" 'BEGIN { exit !(a >= 0.9 * z) }'; then
		verdict="below the bound: CPU-bound at ~$(fmt_rps "$zrps") req/s (the 0 ms case)"
	else
		verdict="below the bound and below the CPU limit (ratio $rt; the 0 ms case does $(fmt_rps "$zrps") req/s; $(printf '%.2f' "$(med_of CID "digest@$c")") of $ncpu cores idle meanwhile)"
	fi
	verdicts+=("$(printf '%4s connections: %s req/s, C/L %s (C/lat %s): %s' "$c" "$(fmt_rps "$rps")" "$(fmt_rps "$bound")" "$(fmt_rps "$naive")" "$verdict")")
done
if [ "$readmodel" = both ]; then
	echo
	echo "The city read model: digest (on, [cache] max_bytes 64m) against digest/off (max_bytes 0), medians"
	printf '%5s %11s %11s %9s %11s %11s\n' conns "req/s on" "req/s off" "on/off" "p99 on ms" "p99 off ms"
	for c in "${conns_list[@]}"; do
		printf '%5s %11s %11s %9s %11.3f %11.3f\n' "$c" "$(fmt_rps "$(med_of RPS "digest@$c")")" \
			"$(fmt_rps "$(med_of RPS "digest/off@$c")")" \
			"$(ratio "$(med_of RPS "digest@$c")" "$(med_of RPS "digest/off@$c")")" \
			"$(med_of P99 "digest@$c")" "$(med_of P99 "digest/off@$c")"
	done
fi
c_at=$(awk -v z="$cpu_max" -v l="$L" 'BEGIN { printf "%.0f", z * l / 1000 }')
cpu_line="CPU limit: ~$(fmt_rps "$cpu_max") req/s (digest/0ms at ${cpu_max_c:-?} connections); C/L reaches it at C = limit x L = ~$c_at connections: >= 0.9x the bound is the aim below that, the CPU limit above it"
read -r zpd zpg zev zcl zid <<<"$(cores_med "digest/0ms@${cpu_max_c:-0}" | tr '/' ' ')"
cpu_where="there the $ncpu cores went to PostgreSQL $zpg, placesd $zpd, the events service $zev, the clients $zcl (idle $zid)"

[ "$noisy" -gt 0 ] && problems+=("$noisy run(s) shared the machine with other busy processes (oth% > 10): those figures are noisy, rerun on a quiet machine")
for f in "$tmp"/placesd-*.log; do
	[ -s "$f" ] || continue
	n=$(wc -l <"$f" | tr -d ' ')
	problems+=("placesd logged $n line(s) at warn or above in ${f##*/}: $(head -n 3 "$f" | tr '\n' '|' | cut -c1-300)")
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
echo "Aim: req/s >= 0.9x C/L until the CPU is the limit"
printf '  %s\n' "${verdicts[@]}"
echo "  $cpu_line"
echo "    ($cpu_where)"
echo
if [ ${#problems[@]} -eq 0 ] && [ ${#failed_reqs[@]} -gt 0 ]; then
	echo "No further notes: one events call per digest, no upstream failures, no database errors or timeouts, nothing logged."
elif [ ${#problems[@]} -eq 0 ]; then
	echo "No non-2xx answers, no socket errors, no digests with errors, one events call per digest, no upstream failures, no database errors or timeouts, nothing logged."
else
	echo "Notes:"
	printf '  - %s\n' "${problems[@]}"
fi
[ ${#failed_reqs[@]} -gt 0 ] && exit 3
exit 0
