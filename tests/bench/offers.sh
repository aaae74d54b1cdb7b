#!/bin/bash
# tests/bench/offers.sh -- the live offer stream: N concurrent subscribers
# of GET /v1/offers/stream (default 10,000), the delay from publishing an
# offer (POST /v1/offers) to its arrival at the first, the median and the
# last subscriber (p50 and p99 over the offers), and placesd's memory per
# idle subscriber.  Aims (the issue's): <= 8 KB per idle subscriber; p99 of
# the delay to the last subscriber <= 100 ms up to 10,000 subscribers,
# <= 250 ms beyond (up to 50,000: --subscribers 50000).
#
# Run on demand; this is not part of `make check`, and it builds nothing.
# It starts a throw-away PostgreSQL cluster in a temporary directory (Unix
# socket only; as root, initdb and pg_ctl run as the postgres user through
# runuser), migrates it and seeds it with placesctl (--places, small: only
# the offers' places matter), writes an admin token file (mode 0600), and
# then, for each of --rounds rounds, starts placesd afresh and runs the
# load client, sse_client.py beside this script (Python 3 asyncio,
# standard library only, run with /usr/bin/python3), which:
#
#   1. opens --subscribers connections "GET /v1/offers/stream" (no city
#      filter: every subscriber gets every offer), at most 200 handshakes
#      at a time, and waits until each has answered 200 and sent its first
#      chunk ("retry: N" and ": offers after ID (worker S)");
#   2. waits a second and reports how many succeeded; this script then
#      checks placesd_sse_subscribers in /metrics against that count and
#      reads placesd's memory (below) with all of them connected and idle;
#   3. on this script's go, publishes --offers offers (default 20), one
#      every --interval (500 ms), POST /v1/offers with the bearer token on
#      a keep-alive connection of its own, noting the time just before
#      each request is written (the offer id comes from the 201 answer);
#   4. reads every stream continuously and notes, for each "id: <n>" line,
#      when it arrived: the kernel's receive stamp of those bytes
#      (SO_TIMESTAMPNS, CLOCK_REALTIME against the publish time's
#      time.time()), and also when the client got round to reading them
#      (time.monotonic());
#   5. waits until every open subscriber has every offer (10 s at most).
#
# The delays are arrival - publish for each (offer, subscriber).  Per
# offer: to the first, the median and the last subscriber.  Reported: p50
# and p99 of "delay to the last subscriber" over the offers (p99 of 20
# offers interpolates between the two largest, i.e. about the worst) and
# p50 and p99 of all the individual arrivals; "missed" = subscribers still
# open at the end that did not get every offer, "closed" = subscribers
# whose stream ended or failed during the offers (both should be 0); the
# client's own connect failures, publish failures, duplicates.  Arrival
# means the kernel stamp, so that the client's own delay in visiting
# 10,000 readable sockets one after the other (a Python loop: tens of
# ms per burst) is not counted against placesd; the figures as the client
# read them, and the client's lag (read - kernel stamp) and CPU, are shown
# beside them.  A stamp belongs to the newest bytes a read returned (the
# kernel merges segments queued on a socket and keeps the newest stamp),
# so when the client falls a whole --interval behind on a socket, the
# earlier offer there is stamped with the later one's arrival: an upper
# bound, counted and reported ("read together with a later offer"); a
# longer --interval removes it.  --procs P splits the subscribers over P client processes
# (the stamps come from system-wide clocks, so they compare with the
# publisher's).  Client, placesd and PostgreSQL share this machine's cores:
# the CPU time each used during the offers is shown (in cores, and as
# placesd's CPU time per event sent and the client's per arrival), and
# oth%, the share that went to other processes (a build or test running
# meanwhile makes the figures noisy).  On a small machine the client
# competes with placesd's workers for the cores: more client processes
# read sooner but leave placesd less CPU.
#
# Memory: the sum over placesd's worker processes (the children of the
# master whose /proc/PID/cmdline names a worker) of VmRSS and of Pss
# (/proc/PID/smaps_rollup), read after placesd is up and before the
# subscribers connect, and again once all are connected and idle:
# (after - before) / connected, in KB per subscriber (and, for information,
# the workers' RSS once more after the offers).  The master's, the
# ranker's and PostgreSQL's (postmaster and backends, PSS) are printed for
# information, and so is the kernel's TCP buffer memory (/proc/net/sockstat,
# machine-wide: both ends of every connection, and other processes' too).
#
# placesd's configuration: workers auto (--workers; more workers than
# cores when each could not hold its share of N subscribers otherwise,
# e.g. 4 for 50,000 under a hard limit of 20,000), [server]
# max_connections 40000 (per worker) and keepalive_timeout 300s (idle
# streams are not subject to it), backlog 4096, [offers] heartbeat 15s,
# max_subscribers 20000 (per worker), admin_token_file.  The open-files
# limit is raised (ulimit -n; 65536 when the hard limit allows, else the
# hard limit) before placesd and the client start; each client process and
# each worker needs one descriptor per subscriber it holds.  The checks of
# each round: placesd_sse_subscribers = the connected count, the rise of
# placesd_offers_sent_total = subscribers x offers, no rise of
# placesd_sse_slow_closed_total, and what placesd logged at warn or above.
#
# Everything it starts (placesd, PostgreSQL, the client) is stopped and its
# temporary directory removed on exit, on failure and on Ctrl-C.
#
# Exit status: 0 when every round completed and every subscriber got every
# offer, 3 when every round completed but subscribers failed to connect,
# missed offers or were closed, or publishing failed, 1 when placesd,
# PostgreSQL, placesctl or the client failed, 2 on a usage or setup error.
#
# Needs: PostgreSQL server binaries (initdb, pg_ctl, postgres, psql;
# postgresql-15), curl, /usr/bin/python3 (3.7 or later); runuser when run
# as root.  Only loopback and Unix sockets.

set -u
set -o pipefail

prog=${0##*/}
bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shared helpers: die, note, is_running, stop_proc, free_port, median, ...
. "$bench_dir/lib.sh" || { echo "$prog: cannot read lib.sh beside it" >&2; exit 2; }

usage() {
	cat <<EOF
Usage: $prog [OPTIONS]

Benchmark placesd's live offer stream: N concurrent subscribers of
GET /v1/offers/stream, the delay from POST /v1/offers to the arrival at the
last of them (p50, p99), and placesd's memory per idle subscriber.
Aims: <= 8 KB per idle subscriber; p99 <= 100 ms up to 10,000 subscribers,
<= 250 ms beyond (50,000).

Options:
  --placesd PATH     placesd binary (default: \$PLACESD, else src/placesd of the
                     build directory: \$top_builddir/src, ./src or ../../src)
  --placesctl PATH   placesctl binary (default: \$PLACESCTL, else placesctl
                     beside placesd, else src/placesctl of the build directory)
  --sql-dir DIR      migrations (default: src/sql of this source tree:
                     $bench_dir/../../src/sql)
  --places N         places to seed (default: 2000)
  --subscribers N    concurrent subscribers (default: 10000)
  --offers M         offers published per round (default: 20)
  --interval T       time between two offers: 500ms, 1s, or milliseconds
                     (default: 500ms)
  --rounds R         rounds, placesd started afresh for each (default: 3)
  --workers N|auto   placesd workers (default: auto = $(nproc 2>/dev/null || echo '?') online cores, more
                     when the open-files limit cannot hold N subscribers on them)
  --procs P          client processes the subscribers are split over
                     (default: 1, more when the open-files limit needs it)
  --probe C          also measure GET /healthz (h2load, C keep-alive
                     connections, each asking 25 times a second, as a health
                     checker does): the offers are then published in 4 s
                     windows, each followed by a 4 s quiet one (subscribers
                     connected and idle), and the probe runs in each; prints
                     the median over each kind of its windows' p99s and the
                     ratio (the aim: a publish storm, e.g. --interval 10ms,
                     keeps it within 2x; default: 0 = no probe)
  --client-nice N    run the load client at nice N (0..19): its CPU then goes
                     to placesd first, as remote subscribers' would; the
                     arrivals are the kernel's receive stamps either way
                     (default: 0)
  --read-pause T     stop the subscriber processes (SIGSTOP) from just
                     before each publish until T after it (less than
                     --interval), so that the fan-out has the cores as
                     remote subscribers would leave them; arrivals are the
                     kernel's receive stamps either way (default: 0 = off;
                     at least 2 client processes then)
  --sources K        loopback source addresses 127.0.0.1..127.0.0.K for the
                     subscribers, against ephemeral port exhaustion
                     (default: as many as N subscribers need, 1 up to about
                     27,000 with the kernel's default port range)
  --pg-bindir DIR    PostgreSQL binaries (default: \$PG_BINDIR, else the
                     newest /usr/lib/postgresql/N/bin, else pg_config --bindir)
  --keep DIR         copy the configs, logs and raw outputs (the client's
                     JSON summaries and per-offer tables) to DIR
  -h, --help         this text

Examples, from a build directory (SRCDIR = the source tree):
  SRCDIR/tests/bench/offers.sh --subscribers 500 --offers 5 --rounds 1
  SRCDIR/tests/bench/offers.sh --rounds 1
  SRCDIR/tests/bench/offers.sh --subscribers 20000 --procs 2 --keep /tmp/offers-bench
  SRCDIR/tests/bench/offers.sh --subscribers 50000 --procs 2 --offers 10 --rounds 1
EOF
}

# ---------------------------------------------------------------- options ---
placesd_bin=${PLACESD:-}
placesctl_bin=${PLACESCTL:-}
sql_dir=
nplaces=2000
nsubs=10000
noffers=20
interval=500ms
rounds=3
workers=auto
procs=
probe=0
client_nice=0
read_pause=0
sources=
pg_bindir=${PG_BINDIR:-}
keep_dir=
python_bin=/usr/bin/python3
client=$bench_dir/sse_client.py
pool_size=4

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
	--subscribers)   need_arg "$@"; nsubs=$2; shift 2 ;;
	--subscribers=*) nsubs=${1#*=}; shift ;;
	--offers)        need_arg "$@"; noffers=$2; shift 2 ;;
	--offers=*)      noffers=${1#*=}; shift ;;
	--interval)      need_arg "$@"; interval=$2; shift 2 ;;
	--interval=*)    interval=${1#*=}; shift ;;
	--rounds)        need_arg "$@"; rounds=$2; shift 2 ;;
	--rounds=*)      rounds=${1#*=}; shift ;;
	--workers)       need_arg "$@"; workers=$2; shift 2 ;;
	--workers=*)     workers=${1#*=}; shift ;;
	--client-nice)   need_arg "$@"; client_nice=$2; shift 2 ;;
	--client-nice=*) client_nice=${1#*=}; shift ;;
	--probe)         need_arg "$@"; probe=$2; shift 2 ;;
	--probe=*)       probe=${1#*=}; shift ;;
	--read-pause)    need_arg "$@"; read_pause=$2; shift 2 ;;
	--read-pause=*)  read_pause=${1#*=}; shift ;;
	--procs)         need_arg "$@"; procs=$2; shift 2 ;;
	--procs=*)       procs=${1#*=}; shift ;;
	--sources)       need_arg "$@"; sources=$2; shift 2 ;;
	--sources=*)     sources=${1#*=}; shift ;;
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
is_uint "$nsubs" && [ "$nsubs" -le 1000000 ] || die "--subscribers: 1..1000000, not '$nsubs'"
nsubs=$((10#$nsubs))
is_uint "$noffers" && [ "$noffers" -le 100000 ] || die "--offers: 1..100000, not '$noffers'"
noffers=$((10#$noffers))
# ms_of T: the milliseconds in 500ms, 1s or 250 (a bare number is ms);
# nothing when T is none of these
ms_of() {
	local v
	case $1 in
	*ms) v=${1%ms} ;;
	*s)  v=${1%s}; [[ $v =~ ^[0-9]+$ ]] && v=$((10#$v * 1000)) ;;
	*)   v=$1 ;;
	esac
	[[ $v =~ ^[0-9]+$ ]] && echo $((10#$v))
}
# secs_of MS: the same in seconds, as the client takes them
secs_of() { awk -v m="$1" 'BEGIN { printf "%.3f", m / 1000 }'; }
interval_ms=$(ms_of "$interval")
[ -n "$interval_ms" ] && [ "$interval_ms" -le 3600000 ] ||
	die "--interval: e.g. 500ms, 1s or 250 (milliseconds), not '$interval'"
interval_s=$(secs_of "$interval_ms")
read_pause_ms=$(ms_of "$read_pause")
[ -n "$read_pause_ms" ] && { [ "$read_pause_ms" = 0 ] || [ "$read_pause_ms" -lt "$interval_ms" ]; } ||
	die "--read-pause: e.g. 400ms (less than --interval), not '$read_pause'"
read_pause_s=$(secs_of "$read_pause_ms")
[[ $client_nice =~ ^[0-9]+$ ]] && [ "$((10#$client_nice))" -le 19 ] || die "--client-nice: 0..19, not '$client_nice'"
[[ $probe =~ ^[0-9]+$ ]] && [ "$((10#$probe))" -le 1000 ] || die "--probe: 0..1000 connections, not '$probe'"
[ "$probe" -gt 0 ] && ! command -v h2load >/dev/null && die "--probe needs h2load (apt-get install nghttp2-client)"
probe_win=4                 # seconds of a probe window (probe_series)
is_uint "$rounds" || die "--rounds: a positive integer, not '$rounds'"
rounds=$((10#$rounds))
if [ -n "$procs" ]; then
	is_uint "$procs" && [ "$procs" -le 64 ] || die "--procs: 1..64, not '$procs'"
	procs=$((10#$procs))
	[ "$procs" -le "$nsubs" ] || procs=$nsubs
fi
# ephemeral ports per source address (1000 spared for everything else)
read -r port_lo port_hi < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || { port_lo=32768; port_hi=60999; }
ports_per_source=$((port_hi - port_lo + 1 - 1000))
[ "$ports_per_source" -ge 1000 ] || ports_per_source=1000
need_sources=$(((nsubs + ports_per_source - 1) / ports_per_source))
if [ -z "$sources" ]; then
	sources=$need_sources
else
	is_uint "$sources" && [ "$sources" -le 254 ] || die "--sources: 1..254, not '$sources'"
	sources=$((10#$sources))
	[ "$sources" -ge "$need_sources" ] ||
		die "--sources $sources: $nsubs subscribers need $need_sources loopback source addresses ($ports_per_source ephemeral ports each)"
fi
[ "$sources" -le 254 ] || die "$nsubs subscribers need more than 254 loopback source addresses"

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
[ -x "$python_bin" ] || die "$python_bin not found (apt-get install python3)"
"$python_bin" -c 'import sys; sys.exit(sys.version_info < (3, 7))' 2>/dev/null ||
	die "$python_bin is older than Python 3.7"
[ -r "$client" ] || die "the load client $client is missing"

# PostgreSQL
find_postgres
pg_runner_setup
need_tools curl

# open files: one per subscriber in the client process and in the worker
# that holds it (which one is the kernel's SO_REUSEPORT hash)
want_files=65536
[ "$want_files" -lt $((nsubs + 1024)) ] && want_files=$((nsubs + 1024))
hard=$(ulimit -Hn)
# raising the hard limit needs root (CAP_SYS_RESOURCE), up to fs.nr_open
[ "$hard" != unlimited ] && [ "$hard" -lt "$want_files" ] && ulimit -Hn "$want_files" 2>/dev/null
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=$want_files
nofile=$(ulimit -Sn)
[ "$nofile" = unlimited ] && nofile=$want_files
if [ "$nofile" -lt "$want_files" ]; then
	[ "$hard" -lt "$want_files" ] && want_files=$hard
	ulimit -Sn "$want_files" 2>/dev/null
	nofile=$(ulimit -Sn)
fi
# without --procs / --workers: as many client processes and workers as the
# limit needs (a hard limit only root with CAP_SYS_RESOURCE may raise)
fits=$((nofile - 128))
if [ -z "$procs" ]; then
	procs=$(((nsubs + fits - 1) / fits))
	[ "$procs" -ge 1 ] || procs=1
	[ "$read_pause_ms" -gt 0 ] && [ "$procs" -lt 2 ] && [ "$nsubs" -ge 2 ] && procs=2
fi
[ "$read_pause_ms" -gt 0 ] && [ "$procs" -lt 2 ] && die "--read-pause needs --procs 2 or more"
if [ "$workers" = auto ]; then
	while [ "$nworkers" -lt 64 ] && [ "$nofile" -lt $((nsubs * 5 / (4 * nworkers) + 256)) ]; do
		nworkers=$((nworkers + 1))
	done
	[ "$nworkers" -ne "$ncpu" ] && workers=$nworkers &&
		note "$nworkers workers (more than the $ncpu cores) for $nsubs subscribers: the open-files limit is $nofile per process"
fi
per_proc=$(((nsubs + procs - 1) / procs))
[ "$nofile" -ge $((per_proc + 64)) ] ||
	die "the open-files limit is $nofile (hard $(ulimit -Hn)); the client needs $((per_proc + 64)) per process: use --procs $(((nsubs + nofile - 200) / (nofile - 128))) or fewer --subscribers"
[ "$nofile" -ge $((nsubs * 5 / (4 * nworkers) + 256)) ] ||
	die "the open-files limit is $nofile (hard $(ulimit -Hn)): too low for $nsubs subscribers over $nworkers worker(s)"
nofile_note=
[ "$nofile" -lt $((nsubs + 256)) ] &&
	nofile_note=" (below $nsubs + 256: a worker that the kernel's hash gives more than $((nofile - 256)) subscribers runs out)"
max_clients=40000
[ "$max_clients" -lt $((nsubs + 1024)) ] && max_clients=$((nsubs + 1024))
max_subs=20000
[ "$max_subs" -lt $((nsubs + 1024)) ] && max_subs=$((nsubs + 1024))

# ---------------------------------------------------------------- cleanup ---
tmp=
pgdir=
pg_started=
pg_pid=
placesd_pid=
placesd_port=
placesd_log=
client_pid=
child_pid=
cleaned=

# stop_client: the client's process group (it was started with setsid and
# its subscriber processes are in it), then reap it
stop_client() {
	[ -n "$client_pid" ] || return 0
	kill -TERM -- "-$client_pid" 2>/dev/null || kill -TERM "$client_pid" 2>/dev/null
	local i
	for i in $(seq 1 50); do is_running "$client_pid" || break; sleep 0.1; done
	is_running "$client_pid" && kill -KILL -- "-$client_pid" 2>/dev/null
	wait "$client_pid" 2>/dev/null
	client_pid=
	return 0
}

cleanup() {
	[ -n "$cleaned" ] && return
	cleaned=1
	trap '' INT TERM
	kill_child "$child_pid"
	kill_child "$probe_pid"
	stop_client
	stop_placesd
	stop_postgres
	keep_outputs
	[ -n "$tmp" ] && rm -rf "$tmp"
}
trap 'cleanup' EXIT
trap 'note "interrupted"; exit 130' INT
trap 'note "terminated"; exit 143' TERM

problems=()
failed_subs=()

make_tmp obench


# ------------------------------------------------------------- PostgreSQL ---
pgdir=$tmp/pg
# placesd: workers x (pool + LISTEN) connections and the ranker's; psql and
# placesctl
max_conn=$((2 * (nworkers * (pool_size + 2) + 4) + 20))
start_cluster "$pgdir" "$max_conn" 128MB


# the admin token: 40 hex digits, readable by its owner only
token_file=$tmp/admin.token
(umask 077; od -An -N20 -tx1 /dev/urandom | tr -d ' \n' >"$token_file"; echo >>"$token_file")
chmod 600 "$token_file"
[ "$(tr -d '\n' <"$token_file" | wc -c)" -eq 40 ] || die "cannot write the admin token"

# placesd configuration: write_conf FILE PORT
write_conf() {
	cat >"$1" <<EOF
# written by $prog
[server]
listen = 127.0.0.1:$2
workers = $workers
max_connections = $max_clients
keepalive_timeout = 300s
backlog = 4096

[database]
conninfo = $conninfo
pool_size = $pool_size

[ranker]
socket = $tmp/ranker.sock

[offers]
admin_token_file = $token_file
heartbeat = 15s
max_subscribers = $max_subs

[log]
level = warn
EOF
}

write_conf "$tmp/placesctl.conf" "$(free_port)"
"$placesctl_bin" -c "$tmp/placesctl.conf" migrate --dir "$sql_dir" >"$tmp/migrate.log" 2>&1 ||
	{ note "placesctl migrate failed:"; cat "$tmp/migrate.log" >&2; exit 1; }
t_seed=$(date +%s.%N)
run_bg "$tmp/seed.log" "$placesctl_bin" -c "$tmp/placesctl.conf" seed --places "$nplaces" ||
	{ note "placesctl seed failed:"; tail -n 30 "$tmp/seed.log" >&2; exit 1; }
t_seed=$(awk -v a="$t_seed" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
psql_q -c "VACUUM ANALYZE" >"$tmp/vacuum.log" 2>&1 || { note "VACUUM ANALYZE failed:"; cat "$tmp/vacuum.log" >&2; exit 1; }
read -r pcount seeded_offers <<<"$(psql_q -F ' ' -c "SELECT (SELECT count(*) FROM places), (SELECT count(*) FROM offers)")" ||
	{ note "cannot count the places"; exit 1; }
[ "${pcount:-}" = "$nplaces" ] || { note "expected $nplaces places after seeding, found ${pcount:-?}"; exit 1; }
# the offers' places: 50 spread over the ids
place_ids=$(psql_q -c "SELECT string_agg(id::text, ',') FROM (SELECT id FROM places ORDER BY id) p
	WHERE id % greatest(1, (SELECT count(*) FROM places) / 50) = 0 OR (SELECT count(*) FROM places) < 50") ||
	{ note "cannot read place ids"; exit 1; }
[ -n "$place_ids" ] || place_ids=$(psql_q -c "SELECT min(id) FROM places")

# ---------------------------------------------------------- the processes ---

# /metrics waits on 10,000 streams' worker: give fetch_metrics more time
metrics_max_time=10

# start_placesd: a fresh placesd on a free port, once /readyz answers 200,
# every worker serves and every worker's offer feed is connected
nstart=0
start_placesd() {
	local i up=0
	nstart=$((nstart + 1))
	placesd_port=$(free_port) || die "no free port found"
	placesd_conf=$tmp/placesd-$nstart.conf
	placesd_log=$tmp/placesd-$nstart.log
	write_conf "$placesd_conf" "$placesd_port"
	launch_placesd "start $nstart"
	for i in $(seq 1 100); do
		fetch_metrics "$tmp/m-start.txt" && up=$(metric placesd_offer_feed_up "$tmp/m-start.txt")
		[ "${up:-0}" -ge "$nworkers" ] && break
		sleep 0.1
	done
	[ "${up:-0}" -ge "$nworkers" ] ||
		{ note "placesd_offer_feed_up is ${up:-?} after 10 s, expected $nworkers: the offer feed is not connected"; tail -n 20 "$placesd_log" >&2; exit 1; }
	return 0
}

# ----------------------------------------------------------------- memory ---
# kb_of PID: "RSS PSS" in kB (PSS 0 when smaps_rollup cannot be read)
kb_of() {
	local rss pss
	rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null)
	pss=$(awk '$1 == "Pss:" { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null)
	echo "${rss:-0} ${pss:-0}"
}
# kb_sum PID...: the sums, "RSS PSS"
kb_sum() {
	local p r s rs=0 ps=0
	for p in "$@"; do
		read -r r s <<<"$(kb_of "$p")"
		rs=$((rs + r)); ps=$((ps + s))
	done
	echo "$rs $ps"
}
# placesd_children ROLE: the master's children whose cmdline names ROLE
# (worker, ranker)
placesd_children() {
	local p
	for p in $(pgrep -P "$placesd_pid" 2>/dev/null); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "$1" && echo "$p"
	done
}
# mem_snapshot: "WORKERS_RSS WORKERS_PSS NWORKERS MASTER_RSS RANKER_RSS
# PG_PSS TCP_KB" in kB
mem_snapshot() {
	local w r
	w=$(placesd_children worker | tr '\n' ' ')
	r=$(placesd_children ranker | tr '\n' ' ')
	# shellcheck disable=SC2086 # word splitting of the pid lists is meant
	printf '%s %s %s %s %s %s\n' "$(kb_sum $w)" "$(wc -w <<<"$w")" \
		"$(kb_of "$placesd_pid" | cut -d' ' -f1)" "$(kb_sum $r | cut -d' ' -f1)" \
		"$(kb_sum "$pg_pid" $(pgrep -P "$pg_pid" 2>/dev/null) | cut -d' ' -f2)" \
		"$(awk -v pg="$(getconf PAGESIZE)" '$1 == "TCP:" { for (i = 2; i < NF; i++) if ($i == "mem") print $(i + 1) * pg / 1024 }' /proc/net/sockstat)"
}

# ---------------------------------------------------------- CPU accounting ---
# cpu_take: "TOTAL BUSY OURS PLACESD PG" in clock ticks (cpu_snapshot of
# placesd, PostgreSQL and the client)
split=
cpu_take() {
	cpu_snapshot "+$placesd_pid" "+$pg_pid" "$client_pid"
	split="$snap $(ticks_of_family "$placesd_pid") $(ticks_of_family "$pg_pid")"
}
# cores_of SPLIT0 SPLIT1: "PLACESD PG CLIENT" in cores
cores_of() {
	awk -v a="$1" -v b="$2" -v n="$ncpu" 'BEGIN {
		split(a, x, " "); split(b, y, " ")
		t = y[1] - x[1]; if (t <= 0) t = 1
		pd = y[4] - x[4]; pg = y[5] - x[5]
		cl = (y[3] - x[3]) - pd - pg; if (cl < 0) cl = 0
		printf "%.2f %.2f %.2f", n * pd / t, n * pg / t, n * cl / t }'
}

# json_fields FILE KEY...: the values of top-level keys of the client's
# summary (the last line of FILE), one a line ("-" for null or missing)
json_fields() {
	"$python_bin" - "$@" <<'EOF'
import json, sys
with open(sys.argv[1]) as f:
    lines = [l for l in f if l.startswith("{")]
d = json.loads(lines[-1])
for k in sys.argv[2:]:
    v = d.get(k)
    if v is None:
        print("-")
    elif isinstance(v, dict):
        print("; ".join("%s: %s" % kv for kv in v.items()) or "-")
    else:
        print(v)
EOF
}

# --------------------------------------------------------------- a round ---
declare -A R
noisy=0

# run_round R: placesd afresh, the client, the figures into R[key,round]
run_round() {
	local r=$1 out rdy go i m0 m1 t0 t1 rc connected gauge kb0 kb1 kb2 v
	local w_rss0 w_pss0 nw0 ma0 rk0 pg0 tcp0 w_rss1 w_pss1 ma1 rk1 pg1 tcp1
	local w_rss2 pg2 sent slow keys
	start_placesd
	out=$tmp/client-r$r
	rdy=$out.ready
	go=$out.go
	m0=$out.m0; m1=$out.m1
	sleep 0.5
	read -r w_rss0 w_pss0 nw0 ma0 rk0 pg0 tcp0 <<<"$(mem_snapshot)"
	[ "$nw0" -eq "$nworkers" ] ||
		problems+=("round $r: found $nw0 worker processes under the master (pid $placesd_pid), expected $nworkers")
	fetch_metrics "$m0" || { note "GET /metrics failed"; exit 1; }

	probe_args=()
	[ "$probe" -gt 0 ] && probe_args=(--quiet-every "$probe_win" --started-file "$out.hz.started")
	setsid nice -n "$client_nice" "$python_bin" "$client" --port "$placesd_port" --subscribers "$nsubs" \
		--offers "$noffers" --interval "$interval_s" --token-file "$token_file" \
		--place-ids "$place_ids" --procs "$procs" --sources "$sources" \
		--read-pause "$read_pause_s" "${probe_args[@]}" \
		--ready-file "$rdy" --go-file "$go" --tag "bench r$r" \
		</dev/null >"$out.json" 2>"$out.log" &
	client_pid=$!
	# setsid made it a scheduler autogroup of its own, whose weight (not
	# the nice of its processes) decides against placesd's: nice that
	if [ "$client_nice" -gt 0 ] && [ -w "/proc/$client_pid/autogroup" ]; then
		echo "$client_nice" >"/proc/$client_pid/autogroup" 2>/dev/null ||
			problems+=("round $r: could not set the client's autogroup nice")
	fi
	# connected and idle: the client says so (after its --idle second)
	for i in $(seq 1 6000); do
		[ -s "$rdy" ] && break
		if ! is_running "$client_pid"; then
			wait "$client_pid"; rc=$?; client_pid=
			note "the load client exited with status $rc before its subscribers were connected:"
			tail -n 20 "$out.log" >&2
			exit 1
		fi
		check_placesd
		sleep 0.1
	done
	[ -s "$rdy" ] || { note "the load client did not connect its subscribers within 600 s"; tail -n 20 "$out.log" >&2; exit 1; }
	connected=$("$python_bin" -c 'import json, sys; print(json.load(open(sys.argv[1]))["connected"])' "$rdy")
	# placesd counts them too (the gauge is summed over the workers)
	for _ in $(seq 1 50); do
		fetch_metrics "$out.mc" || { note "GET /metrics failed"; exit 1; }
		gauge=$(metric placesd_sse_subscribers "$out.mc")
		[ "$gauge" = "$connected" ] && break
		sleep 0.1
	done
	[ "$gauge" = "$connected" ] ||
		problems+=("round $r: placesd_sse_subscribers is $gauge with $connected subscribers connected (the client's count)")
	read -r w_rss1 w_pss1 _ ma1 rk1 pg1 tcp1 <<<"$(mem_snapshot)"

	# the offers
	[ "$probe" -gt 0 ] && { probe_series "$out.hz" & probe_pid=$!; }
	cpu_take; t0=$split
	: >"$go"
	wait "$client_pid"; rc=$?
	client_pid=
	if [ -n "$probe_pid" ]; then
		wait "$probe_pid"; probe_pid=
		probe_medians "$out.hz" "$r"
		R[hz_win,$r]+="; a 1 ms sleep woke late by p50/p99 $(host_wake | tr ' ' /) ms (the host)"
	fi
	cpu_take; t1=$split
	R[oth,$r]=$(other_pct "$t0" "$t1")
	read -r "R[cpd,$r]" "R[cpg,$r]" "R[ccl,$r]" <<<"$(cores_of "$t0" "$t1")"
	check_placesd
	sleep 0.3
	fetch_metrics "$m1" || { note "GET /metrics failed after the offers"; exit 1; }
	read -r w_rss2 _ _ _ _ pg2 _ <<<"$(mem_snapshot)"
	if [ "$rc" -ne 0 ] || ! grep -q '^{' "$out.json"; then
		note "the load client failed (status $rc):"
		tail -n 30 "$out.log" >&2
		exit 1
	fi
	sed -n '/^offer /,$p' "$out.log" >"$out.offers"

	keys="connected connect_failed connect_errors at_go closed_before_offers published publish_failed
		last_p50 last_p99 last_max all_p50 all_p99 first_p50 median_p50 read_last_p50 read_last_p99
		read_all_p99 lag_p99 lag_max missed_subs missed_events duplicates foreign closed closed_errors
		client_cpu_pct client_cpu_s arrivals stamps stamps_missing stamps_shared post_ms_p50 post_ms_max connect_s"
	local vals=() k j=0
	# shellcheck disable=SC2086 # $keys: a list of words
	mapfile -t vals < <(json_fields "$out.json" $keys)
	[ ${#vals[@]} -eq "$(wc -w <<<"$keys")" ] ||
		{ note "cannot read the client's summary $out.json"; tail -n 5 "$out.log" >&2; exit 1; }
	for k in $keys; do R[$k,$r]=${vals[$j]:--}; j=$((j + 1)); done

	# memory per idle subscriber
	kb0=$(awk -v a="$w_rss0" -v b="$w_rss1" -v n="$connected" 'BEGIN { printf "%.2f", (n > 0 ? (b - a) / n : 0) }')
	kb1=$(awk -v a="$w_pss0" -v b="$w_pss1" -v n="$connected" 'BEGIN { printf "%.2f", (n > 0 ? (b - a) / n : 0) }')
	kb2=$(awk -v a="$w_rss0" -v b="$w_rss2" -v n="$connected" 'BEGIN { printf "%.2f", (n > 0 ? (b - a) / n : 0) }')
	R[kbrss,$r]=$kb0
	R[kbpss,$r]=$kb1
	[ "$w_pss0" -eq 0 ] && R[kbpss,$r]=-
	R[kbafter,$r]=$kb2
	R[kbtcp,$r]=$(awk -v a="$tcp0" -v b="$tcp1" -v n="$connected" 'BEGIN { printf "%.2f", (n > 0 ? (b - a) / n : 0) }')
	R[mem,$r]="workers RSS $w_rss0 -> $w_rss1 kB (after the offers $w_rss2), PSS $w_pss0 -> $w_pss1; master RSS $ma0 -> $ma1; ranker RSS $rk0 -> $rk1; PostgreSQL PSS $pg0 -> $pg1 (after the offers $pg2); kernel TCP memory (machine-wide) $tcp0 -> $tcp1 kB"

	# placesd's counters
	sent=$(( $(metric placesd_offers_sent_total "$m1") - $(metric placesd_offers_sent_total "$m0") ))
	slow=$(( $(metric placesd_sse_slow_closed_total "$m1") - $(metric placesd_sse_slow_closed_total "$m0") ))
	v=$(( ${R[at_go,$r]} * ${R[published,$r]} ))
	R[sent,$r]=$sent
	# CPU per event: placesd's over the offers (clock ticks) per event it
	# sent, the client's per arrival it noted
	R[pdus,$r]=$(awk -v a="$t0" -v b="$t1" -v n="$sent" -v hz="$(getconf CLK_TCK 2>/dev/null || echo 100)" 'BEGIN {
		split(a, x, " "); split(b, y, " "); printf "%.1f", (n > 0 ? (y[4] - x[4]) * 1e6 / hz / n : 0) }')
	R[clus,$r]=$(awk -v c="${R[client_cpu_s,$r]}" -v n="${R[arrivals,$r]}" 'BEGIN { printf "%.1f", (n > 0 ? c * 1e6 / n : 0) }')
	[ "$sent" -eq "$v" ] ||
		problems+=("round $r: placesd_offers_sent_total rose by $sent, expected $v (${R[at_go,$r]} subscribers x ${R[published,$r]} offers)")
	[ "$slow" -gt 0 ] &&
		problems+=("round $r: placesd_sse_slow_closed_total rose by $slow (subscribers closed for being more than [offers] max_pending (256k) behind)")
	[ "${R[connect_failed,$r]}" != 0 ] &&
		failed_subs+=("round $r: ${R[connect_failed,$r]} of $nsubs subscribers did not connect (${R[connect_errors,$r]})")
	[ "${R[closed_before_offers,$r]}" != 0 ] &&
		failed_subs+=("round $r: ${R[closed_before_offers,$r]} subscribers were closed before the offers")
	[ "${R[publish_failed,$r]}" != 0 ] &&
		failed_subs+=("round $r: ${R[publish_failed,$r]} of $noffers offers could not be published (see $(basename "$out").log)")
	[ "${R[missed_subs,$r]}" != 0 ] &&
		failed_subs+=("round $r: ${R[missed_subs,$r]} open subscribers missed offers (${R[missed_events,$r]} (subscriber, offer) pairs missing in all, counting the closed ones)")
	[ "${R[closed,$r]}" != 0 ] &&
		failed_subs+=("round $r: ${R[closed,$r]} subscribers were closed during the offers (${R[closed_errors,$r]})")
	[ "${R[duplicates,$r]}" != 0 ] &&
		failed_subs+=("round $r: ${R[duplicates,$r]} offers arrived twice at the same subscriber")
	[ "${R[foreign,$r]}" != 0 ] &&
		problems+=("round $r: ${R[foreign,$r]} events with ids the client did not publish")
	[ "${R[stamps,$r]}" != kernel ] &&
		problems+=("round $r: no kernel receive stamps (SO_TIMESTAMPNS): the delays are the client's read times")
	[ "${R[stamps_missing,$r]}" != 0 ] && [ "${R[stamps_missing,$r]}" != - ] &&
		problems+=("round $r: ${R[stamps_missing,$r]} arrivals without a kernel stamp (their read time is used)")
	[ "${R[stamps_shared,$r]}" != 0 ] && [ "${R[stamps_shared,$r]}" != - ] &&
		problems+=("round $r: ${R[stamps_shared,$r]} arrivals were read together with a later offer, so their stamp is the later one's (an upper bound: the client fell an --interval behind; use a longer --interval or more --procs)")

	stop_placesd
	[ -s "$placesd_log" ] && problems+=("round $r: placesd logged $(wc -l <"$placesd_log" | tr -d ' ') line(s) at warn or above: $(head -n 3 "$placesd_log" | tr '\n' '|' | cut -c1-300)")
	[ "${R[oth,$r]:-0}" -gt 10 ] && noisy=$((noisy + 1))
	report_round "$r"
}

table_head() {
	printf '%5s %6s %6s %10s %10s %9s %9s %6s %6s %7s %7s %8s %8s %5s  %-14s %4s\n' round subs offers \
		"last p50" "last p99" "all p50" "all p99" missed closed "KB RSS" "KB PSS" "rd p99" "lag p99" "cl%" "cores pd/pg/cl" "oth%"
	printf '%s\n' "-------------------------------------------------------------------------------------------------------------------------------------"
}
report_round() {
	local r=$1
	printf '%5s %6s %6s %10s %10s %9s %9s %6s %6s %7s %7s %8s %8s %5s  %-14s %4s\n' "$r" \
		"${R[connected,$r]}" "${R[published,$r]}" "${R[last_p50,$r]}" "${R[last_p99,$r]}" \
		"${R[all_p50,$r]}" "${R[all_p99,$r]}" "${R[missed_subs,$r]}" "${R[closed,$r]}" \
		"${R[kbrss,$r]}" "${R[kbpss,$r]}" "${R[read_last_p99,$r]}" "${R[lag_p99,$r]}" \
		"${R[client_cpu_pct,$r]}" "${R[cpd,$r]}/${R[cpg,$r]}/${R[ccl,$r]}" "${R[oth,$r]}"
	printf '      connect %ss; POST p50 %s ms (max %s); first/median subscriber p50 %s/%s ms; last max %s ms; %s events sent\n' \
		"${R[connect_s,$r]}" "${R[post_ms_p50,$r]}" "${R[post_ms_max,$r]}" "${R[first_p50,$r]}" "${R[median_p50,$r]}" \
		"${R[last_max,$r]}" "${R[sent,$r]}"
	printf '      CPU per event: placesd %s us, client %s us; after the offers %s KB/sub RSS; kernel TCP %s KB/sub\n' \
		"${R[pdus,$r]}" "${R[clus,$r]}" "${R[kbafter,$r]}" "${R[kbtcp,$r]}"
	printf '      %s\n' "${R[mem,$r]}"
	[ -n "${R[hz_win,$r]:-}" ] &&
		printf '      /healthz p99 per window (ms): %s\n' "${R[hz_win,$r]}"
	return 0
}

# probe_series OUT: with --probe, the client publishes in windows of
# probe_win seconds, each followed by as long a quiet one (sse_client.py
# --quiet-every), counted from the first publish (OUT.started: its
# time.time()); the paced probe (lib.sh) runs in each window, from half a
# second after it opens to half a second before it closes, until the
# client is done. Each window's "STATE P50 P99 ANSWERED NON2XX" goes to
# OUT.series, STATE storm or idle (subscribers connected, no offers).
probe_series() {
	local out=$1 t0 j=0 st at now fig
	for _ in $(seq 1 600); do [ -s "$out.started" ] && break; sleep 0.1; done
	t0=$(cat "$out.started" 2>/dev/null) || return 0
	: >"$out.series"
	while is_running "$client_pid"; do
		st=storm
		[ $((j % 2)) = 1 ] && st=idle
		at=$(awk -v t="$t0" -v j="$j" -v w="$probe_win" 'BEGIN { printf "%.3f", t + j * w + 0.5 }')
		now=$(date +%s.%N)
		sleep "$(awk -v a="$at" -v n="$now" 'BEGIN { d = a - n; printf "%.3f", d > 0 ? d : 0 }')"
		is_running "$client_pid" || break
		fig=$(probe_paced "$out-$j-$st" "http://127.0.0.1:$placesd_port/healthz" "$probe" 25 \
			$((probe_win - 1))) || return 1
		echo "$st $fig" >>"$out.series"
		j=$((j + 1))
	done
}
# probe_medians OUT ROUND: R[hz_idle|hz_storm,ROUND] = the median over
# that state's windows of their p99 (ms); R[hz_win,ROUND] = the windows
probe_medians() {
	local st p50 p99 n bad idle=() storm=()
	while read -r st p50 p99 n bad; do
		[ "${bad:-1}" = 0 ] && [ "${n:-0}" != 0 ] ||
			problems+=("round $2: a $st window of the /healthz probe: ${n:-0} answers, ${bad:-?} non-2xx")
		if [ "$st" = idle ]; then idle+=("$p99"); else storm+=("$p99"); fi
	done <"$1.series"
	[ ${#idle[@]} -gt 0 ] && [ ${#storm[@]} -gt 0 ] ||
		{ problems+=("round $2: the /healthz probe got no idle or no storm window (offers over too soon: more --offers)"); return; }
	R[hz_idle,$2]=$(median "${idle[@]}")
	R[hz_storm,$2]=$(median "${storm[@]}")
	R[hz_win,$2]="storm ${storm[*]}; idle ${idle[*]}"
}
probe_pid=

# ------------------------------------------------------------------ run ------
pg_version=$("$pg_bindir/postgres" --version 2>/dev/null | sed 's/^postgres (PostgreSQL) //')
echo "placesd live offer stream benchmark  $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
echo "  placesd:    $placesd_bin ($("$placesd_bin" -V 2>/dev/null | head -n 1)), workers $workers"
echo "  config:     max_connections $max_clients, keepalive_timeout 300s, backlog 4096; [offers] heartbeat 15s, max_subscribers $max_subs"
echo "  PostgreSQL: $pg_version ($pg_bindir), Unix socket, fsync off"
echo "  data:       $nplaces places, $seeded_offers seeded offers (seeded in ${t_seed} s)"
echo "  client:     $client ($("$python_bin" -V 2>&1)), $nsubs subscribers over $procs process(es) and $sources source address(es); $noffers offers, one every ${interval_ms} ms$([ "$read_pause_ms" -gt 0 ] && echo "; subscribers stopped for ${read_pause_ms} ms from each publish (--read-pause)")$([ "$client_nice" -gt 0 ] && echo "; client at nice $client_nice")"
echo "  open files: $nofile per process$nofile_note"
echo "  rounds:     $rounds, placesd started afresh for each"
echo "  machine:    $ncpu cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null); client, placesd and PostgreSQL share the cores"
busy=$(ps -eo pcpu=,pgid=,ppid=,pid=,args= --sort=-pcpu 2>/dev/null |
	awk -v a="$pg_pid" -v me=$$ '$1 >= 20 && $3 != a && $4 != a && $2 != me' | head -n 3)
[ -n "$busy" ] && note "other busy processes on this machine, figures will be noisy:" && sed 's/^/    /' <<<"$busy" >&2
echo

table_head
for r in $(seq 1 "$rounds"); do
	run_round "$r"
done
echo "subs = subscribers connected; last = delay from publishing to the arrival at the last subscriber (p50, p99 over the offers), all = every arrival, in ms"
echo "arrival = the kernel's receive stamp; rd p99 = the last p99 as the client read it; lag p99 = the client's delay in reading (read - stamp)"
echo "KB RSS/PSS = workers' memory per idle subscriber; cl% = client CPU (% of one core) during the offers; cores pd/pg/cl = placesd, PostgreSQL, client; oth% = other processes' share"

# --------------------------------------------------------------- summary ---
med() { # med KEY [DECIMALS]: the median over the rounds (numeric values only; 1 decimal)
	local v=() r
	for r in $(seq 1 "$rounds"); do
		[[ ${R[$1,$r]:-} =~ ^[0-9.]+$ ]] && v+=("${R[$1,$r]}")
	done
	if [ ${#v[@]} -gt 0 ]; then
		awk -v m="$(median "${v[@]}")" -v d="${2:-1}" 'BEGIN { printf "%.*f\n", d, m }'
	else
		echo -
	fi
}
p99=$(med last_p99)
p99_aim=100
[ "$nsubs" -gt 10000 ] && p99_aim=250
kbr=$(med kbrss 2)
kbp=$(med kbpss 2)
echo
echo "Medians over $rounds round(s), $nsubs subscribers, $noffers offers each:"
printf '  delay to the last subscriber:  p50 %s ms, p99 %s ms (as the client read it: p50 %s, p99 %s)\n' \
	"$(med last_p50)" "$p99" "$(med read_last_p50)" "$(med read_last_p99)"
printf '  every arrival:                 p50 %s ms, p99 %s ms; first subscriber p50 %s ms, median subscriber p50 %s ms\n' \
	"$(med all_p50)" "$(med all_p99)" "$(med first_p50)" "$(med median_p50)"
printf '  memory per idle subscriber:    %s KB RSS, %s KB PSS (workers); kernel TCP buffers %s KB (machine-wide)\n' \
	"$kbr" "$kbp" "$(med kbtcp 2)"
printf '  CPU per event:                 placesd %s us per event sent, the client %s us per arrival\n' \
	"$(med pdus)" "$(med clus)"
printf '  client:                        lag p99 %s ms, CPU %s%% of one core during the offers\n' \
	"$(med lag_p99)" "$(med client_cpu_pct)"
if [ "$probe" -gt 0 ]; then
	hz_ratio=$(awk -v a="$(med hz_idle 3)" -v b="$(med hz_storm 3)" 'BEGIN { if (a > 0 && b != "-") printf "%.2f", b / a; else print "-" }')
	printf '  /healthz p99 (%s connections):  idle %s ms, during the offers %s ms: %sx\n' \
		"$probe" "$(med hz_idle 3)" "$(med hz_storm 3)" "$hz_ratio"
fi

verdict() { # verdict VALUE LIMIT
	if [ "$1" = - ]; then echo "no figure"
	elif awk -v v="$1" -v l="$2" 'BEGIN { exit !(v <= l) }'; then echo "met"
	else echo "NOT met"; fi
}
[ "$noisy" -gt 0 ] && problems+=("$noisy round(s) shared the machine with other busy processes (oth% > 10): those figures are noisy, rerun on a quiet machine")
pg_err=$(grep -c -E '\b(ERROR|FATAL|PANIC): ' "$pgdir/postgres.log" 2>/dev/null)
[ "${pg_err:-0}" != 0 ] && problems+=("PostgreSQL logged $pg_err ERROR/FATAL/PANIC line(s): $(grep -m 3 -E '(ERROR|FATAL|PANIC): ' "$pgdir/postgres.log" | tr '\n' '|' | cut -c1-300)")

echo
if [ ${#failed_subs[@]} -gt 0 ]; then
	echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
	echo "!!! SUBSCRIBERS OR OFFERS FAILED"
	printf '!!!   %s\n' "${failed_subs[@]}"
	echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
	echo
fi
echo "Aims:"
printf '  p99 delay to the last subscriber <= %3d ms:  %s ms: %s\n' "$p99_aim" "$p99" "$(verdict "$p99" "$p99_aim")"
echo "  <= 8 KB per idle subscriber:                 $kbr KB RSS: $(verdict "$kbr" 8) (PSS $kbp KB: $(verdict "$kbp" 8))"
[ "$probe" -gt 0 ] && echo "  /healthz p99 during the offers <= 2x idle:   ${hz_ratio}x: $(verdict "$hz_ratio" 2)"
echo
if [ ${#problems[@]} -eq 0 ]; then
	echo "No further notes: the gauge matched the connected count, every event was counted as sent, none closed for being slow, nothing logged."
else
	echo "Notes:"
	printf '  - %s\n' "${problems[@]}"
fi
[ ${#failed_subs[@]} -gt 0 ] && exit 3
exit 0
