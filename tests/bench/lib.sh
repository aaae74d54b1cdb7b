# tests/bench/lib.sh -- shell helpers shared by the benchmark scripts.
#
# Sourced (not run) by every benchmark script, after it sets $prog; the
# CPU accounting helpers write a scratch file under $tmp.  start_cluster
# and launch_placesd start processes whose pids they leave in pg_pid and
# placesd_pid; nothing here installs a trap: each script owns its cleanup
# (stop_postgres, stop_placesd, kill_child).
# bash only (arrays, [[ ]], read -a).

# ----------------------------------------------------------- messages ---
die() { printf '%s: %s\n' "$prog" "$*" >&2; exit 2; }
note() { printf '%s: %s\n' "$prog" "$*" >&2; }

# ------------------------------------------------------------ options ---
need_arg() { [ $# -ge 2 ] && [ -n "$2" ] || die "option $1 needs a value (see --help)"; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]] && [ "$((10#$1))" -ge 1 ]; }
is_duration() { [[ $1 =~ ^[0-9]+[smh]?$ ]]; }

# duration_s D: seconds in a wrk-style duration (10s, 2m, 1h, 30)
duration_s() {
	local n=${1%[smh]}
	case $1 in
	*m) echo $((10#$n * 60)) ;;
	*h) echo $((10#$n * 3600)) ;;
	*) echo $((10#$n)) ;;
	esac
}

# find_build_bin NAME: the first executable NAME under src/ of the build
# directory: $top_builddir/src, ./src or ../../src relative to the current
# directory.  Prints it; false if none.
find_build_bin() {
	local cand
	for cand in ${top_builddir:+"$top_builddir/src/$1"} "./src/$1" "../../src/$1"; do
		if [ -x "$cand" ] && [ -f "$cand" ]; then echo "$cand"; return 0; fi
	done
	return 1
}

# abs_path FILE: FILE with an absolute directory part
abs_path() {
	case $1 in
	/*) echo "$1" ;;
	*) echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")" ;;
	esac
}

# ---------------------------------------------------------- processes ---
# is_running PID: true while PID exists and is not a zombie.
is_running() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	[ "${s%% *}" != Z ]
}

# left_behind PGID KIDS: the live members of process group PGID and of the
# pids KIDS (children that left it: placesd's ranker has its own session)
left_behind() {
	local k
	{ pgrep -g "$1" 2>/dev/null; for k in $2; do is_running "$k" && echo "$k"; done; } |
		sort -un | tr '\n' ' '
}

# stop_proc NAME PID SIGNAL TIMEOUT_S: signal, wait, SIGKILL its process group
# (it was started with setsid) and its children after TIMEOUT_S, reap. Exit
# status -> $stop_rc.
# Not to be called in $(...): only this shell can reap its children.
stop_rc=
stop_proc() {
	local name=$1 pid=$2 sig=$3 limit=$4 i=0 rc kids
	kids=$(pgrep -P "$pid" 2>/dev/null | tr '\n' ' ')
	kill "-$sig" "$pid" 2>/dev/null
	while is_running "$pid" && [ $i -lt $((limit * 10)) ]; do
		sleep 0.1; i=$((i + 1))
	done
	if is_running "$pid"; then
		note "$name (pid $pid) still running ${limit}s after SIG$sig: SIGKILL"
		kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
	fi
	# its group, read while the exited leader is not reaped yet: once it
	# is, the number is free and soon names another group (a PostgreSQL
	# backend leads its own), which must not be killed as ours
	local members left
	members=$(left_behind "$pid" "$kids")
	wait "$pid" 2>/dev/null; rc=$?
	stop_rc=$rc
	# children left behind?
	left=$(still_running "$members")
	if [ -n "$left" ]; then
		sleep 1
		left=$(still_running "$left")
		if [ -n "$left" ]; then
			note "$name left processes behind after it exited: $left- SIGKILL"
			kill -KILL $left 2>/dev/null
		fi
	fi
}

# still_running PIDS: those of PIDS that are alive (not zombies)
still_running() {
	local p
	for p in $1; do is_running "$p" && printf '%s ' "$p"; done
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
	local p i
	if command -v python3 >/dev/null 2>&1; then
		p=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' 2>/dev/null) &&
			[ -n "$p" ] && { echo "$p"; return 0; }
	fi
	for i in $(seq 1 200); do
		p=$((20000 + RANDOM % 40000))
		if ! ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then echo "$p"; return 0; fi
	done
	return 1
}

# ------------------------------------------------------------ figures ---
# fmt_rps N: thousands separators for an integer-ish req/s figure
fmt_rps() { printf "%'.0f" "$1" 2>/dev/null || printf '%.0f' "$1"; }

# to_ms VALUE_WITH_UNIT (wrk: 512.00us, 1.23ms, 2.00s, 1.00m)
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000;
		else if (u == "m") n *= 60000; else if (u == "h") n *= 3600000;
		printf "%.3f", n }'
}

# median of the arguments
median() {
	printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END {
		if (NR == 0) { print "nan"; exit }
		if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# ratio A B: A / B with 3 decimals (0 when B is 0)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }

# parse_wrk FILE -> "RPS P99MS REQUESTS NON2XX SOCKERRS"
# (SOCKERRS: wrk's "Socket errors" line with _ for blanks, empty if none)
parse_wrk() {
	local f=$1 rps p99 reqs non2xx sock
	rps=$(awk '/^Requests\/sec:/ { print $2 }' "$f")
	p99=$(awk '$1 == "99%" { print $2 }' "$f")
	reqs=$(awk '/requests in/ { print $1 }' "$f")
	non2xx=$(awk -F': *' '/Non-2xx or 3xx responses/ { print $2 }' "$f")
	sock=$(sed -n 's/^ *Socket errors: *//p' "$f")
	printf '%s %s %s %s %s\n' "${rps:-0}" "$(to_ms "${p99:-0}")" "${reqs:-0}" "${non2xx:-0}" "${sock// /_}"
}

# probe_paced OUT URL CONNS RATE SECONDS: GET URL on CONNS keep-alive
# connections at RATE requests a second each (h2load --rps), the way a
# health checker or a person asks: the latency of an answer, not the
# probe's own saturation. Prints "P50MS P99MS ANSWERED NON2XX" from
# h2load's per-request log (OUT.log); 1 when h2load fails.
# A health checker runs on another machine; this one shares the cores
# with the load, so it runs at real-time priority (chrt -f 1, where
# allowed: probe_rt says which) and its own wait for a core, behind the
# load client's threads, is not counted as the server's latency. It uses
# a few milliseconds of CPU a second.
# host_wake: p50 and p99 (ms) of how late a 1 ms sleep wakes, 2,000
# times: on a guest whose idle vCPU halts, the host's own delay in waking
# it, which a paced probe's idle p99 includes. "P50MS P99MS"
host_wake() {
	/usr/bin/python3 -c '
import time
d = []
for _ in range(2000):
    t = time.perf_counter(); time.sleep(0.001)
    d.append((time.perf_counter() - t - 0.001) * 1000)
d.sort()
print("%.3f %.3f" % (d[1000], d[1980]))' 2>/dev/null || echo "- -"
}
probe_rt() {
	chrt -f 1 true 2>/dev/null && echo "chrt -f 1" || echo "none (chrt -f 1 refused)"
}
probe_paced() {
	local out=$1 rt=()
	chrt -f 1 true 2>/dev/null && rt=(chrt -f 1)
	: >"$out.log"               # h2load appends to its log
	"${rt[@]}" h2load --h1 -t1 -c"$3" --rps="$4" -D "$5" --log-file="$out.log" "$2" >"$out" 2>&1 ||
		{ note "h2load on $2 failed:"; tail -n 5 "$out" >&2; return 1; }
	awk -F'\t' '{ print $3, $2 }' "$out.log" | sort -n | awk '
		{ d[NR] = $1; if ($2 < 200 || $2 > 299) bad++ }
		END { if (NR == 0) { print "0 0 0 0"; exit }
			i50 = int(NR * 0.50); if (i50 < NR * 0.50) i50++
			i99 = int(NR * 0.99); if (i99 < NR * 0.99) i99++
			printf "%.3f %.3f %d %d\n", d[i50] / 1000, d[i99] / 1000, NR, bad + 0 }'
}

# ------------------------------------------------------- summary rows ---
# Every script reports its headline figures through bench_row as well as
# in its own table; tests/bench/run sets BENCH_ROWS to a file and prints
# the rows of all the scripts it ran as one table.  Without BENCH_ROWS a
# row goes nowhere.
#
# bench_row FIGURE VALUE [UNIT] [AIM]: FIGURE a short name without tabs
# ("nearby mix req/s", "healthz p99 sat/idle"), VALUE a number or "n/a",
# AIM a bound such as "<=2" or ">=0.9" (empty: none).
bench_row() {
	[ -n "${BENCH_ROWS:-}" ] || return 0
	printf '%s\t%s\t%s\t%s\t%s\n' "$prog" "$1" "$2" "${3:-}" "${4:-}" >>"$BENCH_ROWS"
}

# aim_met VALUE AIM: "yes", "no" or "" (no aim, or no value)
aim_met() {
	awk -v v="$1" -v a="$2" 'BEGIN {
		if (a == "" || v !~ /^-?[0-9.]+$/) { print ""; exit }
		op = substr(a, 1, 2); b = substr(a, 3) + 0
		if (op == "<=") print (v + 0 <= b ? "yes" : "no")
		else if (op == ">=") print (v + 0 >= b ? "yes" : "no")
		else print "" }'
}

# ------------------------------------------------------- CPU accounting ---
# ticks_of_group PGID: CPU clock ticks used by the processes of a group
# (and by children they have reaped)
ticks_of_group() {
	local p st sum=0 fld
	for p in $(pgrep -g "$1" 2>/dev/null); do
		st=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		read -r -a fld <<<"${st##*) }"
		# after "comm)": state=0 ... utime=11 stime=12 cutime=13 cstime=14
		sum=$((sum + fld[11] + fld[12] + fld[13] + fld[14]))
	done
	echo "$sum"
}

# ticks_of_family PID: the same for PID and its children: a PostgreSQL
# postmaster and its backends, or placesd's master, workers and ranker:
# backends and the ranker call setsid() and so are process groups of their
# own
ticks_of_family() {
	local p st sum=0 fld
	for p in "$1" $(pgrep -P "$1" 2>/dev/null); do
		st=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		read -r -a fld <<<"${st##*) }"
		sum=$((sum + fld[11] + fld[12] + fld[13] + fld[14]))
	done
	echo "$sum"
}

# cpu_snapshot PGID...: sets $snap to "TOTAL BUSY OURS" in clock ticks: the
# whole machine from /proc/stat, and the process groups named (empty
# arguments are skipped; +PID: PID and its children, see ticks_of_family)
# + this shell's reaped children (wrk, pgbench).
# Must run in this shell, not in $(...): `times` reports the reaped children
# of the shell it runs in.  Uses $tmp/times as scratch.
snap=
cpu_snapshot() {
	local total busy ours=0 kids g
	read -r total busy < <(awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i
		print t, t - $5 - $6; exit }' /proc/stat)
	times >"$tmp/times"
	kids=$(awk -v hz="$(getconf CLK_TCK 2>/dev/null || echo 100)" 'NR == 2 {
		t = 0
		for (i = 1; i <= 2; i++) { v = $i; m = v; sub(/m.*/, "", m); sub(/^[0-9]+m/, "", v); sub(/s$/, "", v); t += m * 60 + v }
		printf "%.0f", t * hz }' "$tmp/times")
	for g in "$@"; do
		case $g in
		'') ;;
		+*) ours=$((ours + $(ticks_of_family "${g#+}"))) ;;
		*) ours=$((ours + $(ticks_of_group "$g"))) ;;
		esac
	done
	ours=$((ours + ${kids:-0}))
	snap="$total $busy $ours"
}

# other_pct SNAP0 SNAP1: the share (%) of the machine's CPU time between two
# cpu_snapshot results that went to processes other than "ours"
other_pct() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		split(a, x, " "); split(b, y, " ")
		total = y[1] - x[1]; busy = y[2] - x[2]; ours = y[3] - x[3]
		o = total > 0 ? 100 * (busy - ours) / total : 0
		printf "%.0f", (o < 0 ? 0 : o) }'
}

# ------------------------------------------------------------- placesd ---
# slots_serving PORT NWORKERS: the worker slots that answered GET /healthz on
# 127.0.0.1:PORT, sorted, space separated; stops once NWORKERS different ones
# were seen (5 s at most).  New connections land on the master's
# SO_REUSEPORT sockets by the kernel's hash, so many short connections reach
# every slot whose worker is up.
slots_serving() {
	local port=$1 want=$2 seen= i s
	for i in $(seq 1 100); do
		s=$(curl -s --max-time 1 "http://127.0.0.1:$port/healthz" 2>/dev/null |
			sed -n 's/.*"worker"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p')
		[ -n "$s" ] && case " $seen " in *" $s "*) ;; *) seen="$seen $s" ;; esac
		[ "$(wc -w <<<"$seen")" -ge "$want" ] && break
		[ "$i" -ge 20 ] && sleep 0.05
	done
	tr ' ' '\n' <<<"$seen" | sed '/^$/d' | sort -n | tr '\n' ' '
}

# ------------------------------------------- throwaway PostgreSQL + placesd ---
# Shared by places.sh and nearby.sh. They use the caller's globals: as_pg,
# pg_bindir, pgdir, pg_started, pg_pid, placesd_pid, placesd_log, problems,
# stop_rc (set by stop_proc).

# pg_runner_setup: as root, PostgreSQL must run as the postgres user
pg_runner_setup() {
	as_pg=()
	if [ "$(id -u)" -eq 0 ]; then
		id postgres >/dev/null 2>&1 || die "running as root and there is no postgres user to run the cluster as"
		command -v runuser >/dev/null 2>&1 || die "running as root and runuser is missing (util-linux)"
		as_pg=(runuser -u postgres --)
	fi
}

# make_tmp NAME: tmp = a new temporary directory, short enough for the
# Unix socket paths under it (sun_path is 108 bytes), that the postgres
# user can pass through.
make_tmp() {
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/placesd-$1.XXXXXX") || die "mktemp failed"
	[ ${#tmp} -le 70 ] || die "temporary directory path too long for a Unix socket: $tmp (set TMPDIR=/tmp)"
	chmod 711 "$tmp"
}

# keep_outputs: with --keep DIR, copy $tmp to DIR, all but the cluster's
# data directory (its log is kept).
keep_outputs() {
	if [ -n "$keep_dir" ] && [ -n "$tmp" ] && [ -d "$tmp" ]; then
		mkdir -p "$keep_dir" && cp -r "$tmp"/. "$keep_dir"/ 2>/dev/null &&
			rm -rf "$keep_dir/pg/data" &&
			note "configs, logs, scripts and raw outputs kept in $keep_dir"
	fi
}

# run_bg OUT CMD...: CMD in the background, its output to OUT, waited for
# here so that a signal to this script is handled at once; its status is
# returned.  (wrk is a reaped child of this shell: see cpu_snapshot.)
child_pid=
run_bg() {
	local out=$1 rc; shift
	"$@" >"$out" 2>&1 &
	child_pid=$!
	wait "$child_pid"; rc=$?
	child_pid=
	return $rc
}

# check_proc NAME PIDVAR LOG: exits 1, with the end of LOG, when the
# process whose pid is in the variable PIDVAR died (and empties PIDVAR).
check_proc() {
	local -n pidv=$2
	is_running "$pidv" && return 0
	wait "$pidv" 2>/dev/null; local rc=$?
	note "$1 (pid $pidv) exited unexpectedly with status $rc"
	[ -s "$3" ] && { note "last lines of $3:"; tail -n 30 "$3" >&2; }
	pidv=
	exit 1
}
check_placesd() { check_proc placesd placesd_pid "$placesd_log"; }

# launch_placesd LABEL: placesd -t on $placesd_conf, then placesd in its
# own process group, logging to $placesd_log; waits up to 120 s for
# /readyz on $placesd_port, and adds to problems (naming LABEL) when
# /healthz does not show every worker slot serving. Sets placesd_pid.
launch_placesd() {
	local label=$1 i code slots
	if ! "$placesd_bin" -t -c "$placesd_conf" >"$tmp/placesd-t.out" 2>&1; then
		note "placesd -t rejects the benchmark configuration:"
		cat "$tmp/placesd-t.out" >&2
		exit 1
	fi
	# setsid: its own process group, so a Ctrl-C at the terminal reaches
	# only this script (which then stops placesd with SIGTERM) and a
	# last-resort SIGKILL can reach every child.
	setsid "$placesd_bin" -c "$placesd_conf" </dev/null >"$placesd_log" 2>&1 &
	placesd_pid=$!
	for i in $(seq 1 1200); do
		check_placesd
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$placesd_port/readyz" 2>/dev/null)
		[ "$code" = 200 ] && break
		sleep 0.1
	done
	if [ "$code" != 200 ]; then
		note "placesd did not answer GET /readyz with 200 within 120 s (last status: ${code:-none})"
		[ -s "$placesd_log" ] && { note "last lines of $placesd_log:"; tail -n 30 "$placesd_log" >&2; }
		exit 1
	fi
	slots=$(slots_serving "$placesd_port" "$nworkers")
	[ "$(wc -w <<<"$slots")" -lt "$nworkers" ] &&
		problems+=("placesd $label: /healthz bodies named worker slot(s) ${slots:-none} only, expected $nworkers")
}

# kill_child PID: SIGTERM and reap (nothing when PID is empty)
kill_child() {
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

# metric NAME FILE: the sum of NAME's series in a /metrics dump
metric() { awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $2 } END { printf "%.0f", s }' "$2"; }

# fetch_metrics FILE: placesd's /metrics into FILE (within
# $metrics_max_time s, default 5); false without placesd's series
fetch_metrics() {
	curl -s --max-time "${metrics_max_time:-5}" -o "$1" "http://127.0.0.1:$placesd_port/metrics" && grep -q '^placesd_' "$1"
}

# psql_q ARGS...: psql on $conninfo, unaligned, tuples only, stop on error
psql_q() { "$psql_bin" -X -q -A -t -v ON_ERROR_STOP=1 -d "$conninfo" "$@"; }

# find_postgres: pg_bindir (unless --pg-bindir set it) = the newest
# PostgreSQL server binaries found, and psql_bin; dies when there are none.
pg_ok() { [ -n "$1" ] && [ -x "$1/initdb" ] && [ -x "$1/pg_ctl" ] && [ -x "$1/postgres" ]; }
find_postgres() {
	local d
	if [ -z "$pg_bindir" ]; then
		for d in $(ls -d /usr/lib/postgresql/[0-9]*/bin 2>/dev/null | sort -t/ -k4,4nr) \
			"$(pg_config --bindir 2>/dev/null)" "$(dirname "$(command -v initdb 2>/dev/null || echo /x/x)")"; do
			if pg_ok "$d"; then pg_bindir=$d; break; fi
		done
		[ -n "$pg_bindir" ] || die "PostgreSQL server binaries not found (apt-get install postgresql-15), or use --pg-bindir DIR"
	fi
	pg_ok "$pg_bindir" || die "no initdb, pg_ctl and postgres in $pg_bindir"
	if [ -x "$pg_bindir/psql" ]; then psql_bin=$pg_bindir/psql
	else psql_bin=$(command -v psql 2>/dev/null) || die "psql not found (apt-get install postgresql-client-15)"; fi
}

# start_cluster DIR MAX_CONN SHARED_BUFFERS: a throw-away cluster in
# DIR/data, as the test suite runs it: Unix socket in DIR only, no
# durability, run as postgres when we are root (pg_runner_setup first).
# Sets conninfo, pg_started and pg_pid; exits 1 with its logs on failure.
# stop_postgres stops it.
start_cluster() {
	local dir=$1 maxc=$2 sbuf=$3 opts
	mkdir -p "$dir"
	[ ${#as_pg[@]} -gt 0 ] && chown postgres: "$dir"
	chmod 700 "$dir"
	conninfo="host=$dir user=app dbname=postgres"
	"${as_pg[@]}" "$pg_bindir/initdb" -D "$dir/data" -U app --auth=trust -E UTF8 \
		--locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 ||
		{ note "initdb failed:"; cat "$dir/initdb.log" >&2; exit 1; }
	opts="-c listen_addresses='' -c unix_socket_directories=$dir -c fsync=off"
	opts+=" -c synchronous_commit=off -c full_page_writes=off -c max_connections=$maxc"
	opts+=" -c shared_buffers=$sbuf"
	pg_started=1
	pg_ctl -D "$dir/data" -l "$dir/postgres.log" -w -t 60 -o "$opts" start >"$dir/pg_ctl.log" 2>&1 ||
		{ note "pg_ctl start failed:"; cat "$dir/pg_ctl.log" "$dir/postgres.log" >&2; exit 1; }
	pg_pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null)
	[ -n "$pg_pid" ] && is_running "$pg_pid" ||
		{ note "PostgreSQL started but its postmaster is not running:"; tail -n 20 "$dir/postgres.log" >&2; exit 1; }
}

# need_tools TOOL...: install the missing ones with apt-get when root
need_tools() {
	local t missing=()
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || missing+=("$t")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
		note "installing ${missing[*]} (apt-get install ${missing[*]})"
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >&2 ||
			die "apt-get install ${missing[*]} failed"
	else
		die "missing ${missing[*]}: apt-get install ${missing[*]}"
	fi
	for t in "${missing[@]}"; do
		command -v "$t" >/dev/null 2>&1 || die "$t still missing"
	done
}

pg_ctl() { "${as_pg[@]}" "$pg_bindir/pg_ctl" "$@"; }

stop_postgres() {
	[ -n "$pg_started" ] || return 0
	if ! pg_ctl -D "$pgdir/data" -m fast -w -t 30 stop >>"$pgdir/pg_ctl.log" 2>&1; then
		note "pg_ctl stop -m fast failed: -m immediate"
		pg_ctl -D "$pgdir/data" -m immediate -w -t 10 stop >>"$pgdir/pg_ctl.log" 2>&1
	fi
	# anything of the cluster left (zombies aside: the postmaster's parent,
	# pg_ctl, is gone, and who reaps it is not up to us)?  Its backends
	# are process groups of their own (setsid), so look by parent.
	local p left=
	if [ -n "$pg_pid" ]; then
		for p in "$pg_pid" $(pgrep -P "$pg_pid" 2>/dev/null); do
			is_running "$p" && left+="$p "
		done
	fi
	if [ -n "$left" ]; then
		note "PostgreSQL processes left after pg_ctl stop: $left- SIGKILL"
		kill -KILL $left 2>/dev/null
	fi
	pg_started=
}

stop_placesd() {
	[ -n "$placesd_pid" ] || return 0
	stop_proc placesd "$placesd_pid" TERM 40
	placesd_pid=
	if [ "$stop_rc" != 0 ]; then
		note "placesd exited with status $stop_rc after SIGTERM (expected 0)"
		problems+=("placesd exited with status $stop_rc after SIGTERM (expected 0); see its log ${placesd_log##*/}")
		[ -s "$placesd_log" ] && { note "last lines of its log:"; tail -n 20 "$placesd_log" >&2; }
	fi
}

# =====================================================================
# The pieces below serve the scripts that start PostgreSQL and placesd
# themselves (nearby_*.sh, places*.sh): their options, cleanup,
# seeding, configuration, timed wrk runs, ratio tables and the end of a
# run.  They use the caller's globals as the ones above do.
bench_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# --- options ---
# opts_value NAME VAR...: --NAME V and --NAME=V set VAR; opts_flag NAME
# VAR...: --NAME sets VAR to 1; parse_opts ARGS...: the command line
# (-h, --help: the script's usage).  opts_common declares the options of
# every such script, with their defaults; opts_common_check validates
# them, sets ncpu, nworkers and duration_sec, and finds placesd,
# placesctl, the migrations, PostgreSQL, wrk and curl.
declare -A bench_opt_vars=() bench_opt_flags=()
opts_value() { while [ $# -ge 2 ]; do bench_opt_vars[--$1]=$2; shift 2; done; }
opts_flag() { while [ $# -ge 2 ]; do bench_opt_flags[--$1]=$2; shift 2; done; }
parse_opts() {
	local o
	while [ $# -gt 0 ]; do
		o=${1%%=*}
		if [ -n "${bench_opt_flags[$1]:-}" ]; then
			printf -v "${bench_opt_flags[$1]}" 1; shift
		elif [ "$o" != "$1" ] && [ -n "${bench_opt_vars[$o]:-}" ]; then
			printf -v "${bench_opt_vars[$o]}" '%s' "${1#*=}"; shift
		elif [ -n "${bench_opt_vars[$1]:-}" ]; then
			need_arg "$@"; printf -v "${bench_opt_vars[$1]}" '%s' "$2"; shift 2
		else
			case $1 in
			-h|--help) usage; exit 0 ;;
			*) usage >&2; die "unknown argument: $1" ;;
			esac
		fi
	done
}
opts_common() {
	placesd_bin=${PLACESD:-} placesctl_bin=${PLACESCTL:-} sql_dir='' nplaces=100000 seed=1
	workers=auto pool_size=4 rounds=3 duration=10s conns=64 threads=2 warmup=2s
	pg_bindir=${PG_BINDIR:-} keep_dir=''
	opts_value placesd placesd_bin placesctl placesctl_bin sql-dir sql_dir places nplaces \
		seed seed workers workers pool-size pool_size rounds rounds duration duration \
		connections conns threads threads warmup warmup pg-bindir pg_bindir keep keep_dir
}
# common_usage: the help lines of the options of opts_common but
# --duration, --connections, --threads and --warmup; common_usage_end:
# --pg-bindir, --keep and --help
common_usage() {
	cat <<EOF
  --placesd PATH     placesd binary (default: \$PLACESD, else src/placesd of the
                     build directory: \$top_builddir/src, ./src or ../../src)
  --placesctl PATH   placesctl binary (default: \$PLACESCTL, else placesctl
                     beside placesd, else src/placesctl of the build directory)
  --sql-dir DIR      migrations (default: src/sql of this source tree:
                     $bench_lib_dir/../../src/sql)
  --places N         places to seed (default: 100000; 20000 for quick runs)
  --seed S           seed of the generator (default: 1)
  --workers N|auto   placesd workers (default: auto = $(nproc 2>/dev/null || echo '?') online cores)
  --pool-size N      [database] pool_size per worker (default: 4)
  --rounds R         rounds (default: 3)
EOF
}
common_usage_end() {
	cat <<EOF
  --pg-bindir DIR    PostgreSQL binaries (default: \$PG_BINDIR, else the
                     newest /usr/lib/postgresql/N/bin, else pg_config --bindir)
  --keep DIR         copy the configs, logs, scripts and raw outputs to DIR
  -h, --help         this text
EOF
}
opts_common_check() {
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
	is_uint "$rounds" || die "--rounds: a positive integer, not '$rounds'"
	is_uint "$threads" || die "--threads: a positive integer, not '$threads'"
	is_uint "$conns" || die "--connections: a positive integer, not '$conns'"
	[ "$conns" -ge "$threads" ] || die "--connections: $conns is fewer than --threads $threads (wrk needs one per thread)"
	is_duration "$duration" && [ "${duration%[smh]}" -gt 0 ] || die "--duration: e.g. 10s or 1m, not '$duration'"
	duration_sec=$(duration_s "$duration")
	[[ $warmup =~ ^0+[smh]?$ ]] && warmup=0
	[ "$warmup" = 0 ] || is_duration "$warmup" || die "--warmup: e.g. 2s or 0, not '$warmup'"
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
	[ -n "$sql_dir" ] || sql_dir=$bench_lib_dir/../../src/sql
	[ -d "$sql_dir" ] && ls "$sql_dir"/*.sql >/dev/null 2>&1 || die "no migrations (*.sql) in $sql_dir: use --sql-dir DIR"
	sql_dir=$(cd "$sql_dir" && pwd)
	find_postgres
	pg_runner_setup
	need_tools wrk curl
}

# --- cleanup ---
# bench_start NAME: the pids of what a run starts (child_pid, sat_pid,
# curl_pid, placesd_pid, PostgreSQL's) empty, traps that stop them all
# and remove $tmp (bench_cleanup) on exit, Ctrl-C and SIGTERM, problems
# and failed_reqs empty, the figures RPS, P50, P99, DEG, HIT, RMHIT
# ([CASE,ROUND]) empty, and a new $tmp (make_tmp NAME) with pgdir=$tmp/pg
bench_cleanup() {
	[ -n "$cleaned" ] && return
	cleaned=1
	trap '' INT TERM
	kill_child "$child_pid"; child_pid=''
	kill_child "$sat_pid"; sat_pid=''
	kill_child "$curl_pid"; curl_pid=''
	stop_placesd
	stop_postgres
	keep_outputs
	[ -n "$tmp" ] && rm -rf "$tmp"
}
bench_start() {
	tmp='' pgdir='' pg_started='' pg_pid='' placesd_pid='' placesd_port='' placesd_log=''
	child_pid='' sat_pid='' curl_pid='' cleaned='' noisy=0 nstart=0 verdicts=()
	trap 'bench_cleanup' EXIT
	trap 'note "interrupted"; exit 130' INT
	trap 'note "terminated"; exit 143' TERM
	problems=() failed_reqs=()
	# shellcheck disable=SC2034 # the callers' figures
	declare -gA RPS=() P50=() P99=() DEG=() HIT=() RMHIT=()
	make_tmp "$1"
	pgdir=$tmp/pg
}

# --- config writing ---
# write_placesd_conf FILE PORT: from workers, conninfo, pool_size and,
# when set, conf_query_timeout ([database]); conf_ttl (default 0s),
# conf_max_entries, conf_max_bytes ([cache]); conf_rthreads,
# conf_rtimeout, conf_rqueue ([ranker]); conf_log (default info)
write_placesd_conf() {
	cat >"$1" <<EOF
# written by $prog
[server]
listen = 127.0.0.1:$2
workers = $workers

[database]
conninfo = $conninfo
pool_size = $pool_size
${conf_query_timeout:+query_timeout = $conf_query_timeout}

[cache]
ttl = ${conf_ttl:-0s}
${conf_max_entries:+max_entries = $conf_max_entries}
${conf_max_bytes:+max_bytes = $conf_max_bytes}

[ranker]
socket = $tmp/ranker.sock
${conf_rthreads:+threads = $conf_rthreads}
${conf_rtimeout:+timeout = $conf_rtimeout}
${conf_rqueue:+queue_size = $conf_rqueue}

[log]
level = ${conf_log:-info}
EOF
}

# placesd_start NAME: a fresh placesd on a free port with the conf_*
# settings of now, its configuration and log $tmp/placesd-N-NAME.conf and
# .log (N counts the starts: $nstart), once /readyz answers 200 and every
# worker serves (launch_placesd)
placesd_start() {
	nstart=$((${nstart:-0} + 1))
	placesd_port=$(free_port) || die "no free port found"
	placesd_conf=$tmp/placesd-$nstart-$1.conf
	placesd_log=$tmp/placesd-$nstart-$1.log
	write_placesd_conf "$placesd_conf" "$placesd_port"
	launch_placesd "$1 (start $nstart)"
}

# --- seeding ---
# migrate_db: $tmp/placesctl.conf and placesctl migrate --dir $sql_dir
migrate_db() {
	write_placesd_conf "$tmp/placesctl.conf" "$(free_port)"
	"$placesctl_bin" -c "$tmp/placesctl.conf" migrate --dir "$sql_dir" >"$tmp/migrate.log" 2>&1 ||
		{ note "placesctl migrate failed:"; cat "$tmp/migrate.log" >&2; exit 1; }
}
# seed_db N [--replace]: placesctl seed --places N --seed $seed, then
# VACUUM ANALYZE (the visibility map settled for every reader alike);
# checks that the N places have consecutive ids, sets id_min, id_max,
# nmenu (menu items) and t_seed (seconds the seeding took)
seed_db() {
	local n=$1 mode=${2:-} pcount
	t_seed=$(date +%s.%N)
	run_bg "$tmp/seed-$n.log" "$placesctl_bin" -c "$tmp/placesctl.conf" seed --places "$n" --seed "$seed" $mode ||
		{ note "placesctl seed --places $n failed:"; tail -n 30 "$tmp/seed-$n.log" >&2; exit 1; }
	t_seed=$(awk -v a="$t_seed" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	psql_q -c "VACUUM ANALYZE" >"$tmp/vacuum.log" 2>&1 || { note "VACUUM ANALYZE failed:"; cat "$tmp/vacuum.log" >&2; exit 1; }
	read -r id_min id_max pcount nmenu <<<"$(psql_q -F ' ' -c "SELECT min(id), max(id), count(*), (SELECT count(*) FROM menu_items) FROM places")" ||
		{ note "cannot count the places"; exit 1; }
	[ "${pcount:-}" = "$n" ] && [ "$((id_max - id_min + 1))" = "$n" ] ||
		{ note "expected $n places with consecutive ids after seeding, found min ${id_min:-?} max ${id_max:-?} count ${pcount:-?}"; exit 1; }
}

# --- wrk runs ---
# A timed run: run_begin OUT (/metrics into OUT.m0, a CPU snapshot), the
# run writing OUT, run_end CASE ROUND OUT STATUS (other_pct: the share of
# the CPU that others took; exits when the run failed or placesd died;
# /metrics into OUT.m1).  wrk_figures CASE ROUND OUT then records
# RPS, P50 and P99 [CASE,ROUND], run_reqs and the failed requests;
# counter_delta NAME is the rise of a /metrics series over the run, and
# db_counters CASE ROUND notes the database errors, timeouts and 5xx
# answers placesd counted.  They append to the caller's $info.
run_begin() {
	run_m0=$1.m0 run_m1=$1.m1
	fetch_metrics "$run_m0" || { note "GET /metrics failed"; exit 1; }
	cpu_snapshot "+$placesd_pid" "+$pg_pid"; run_t0=$snap
}
run_end() {
	cpu_snapshot "+$placesd_pid" "+$pg_pid"
	other_pct=$(other_pct "$run_t0" "$snap")
	[ "$4" -eq 0 ] || { note "wrk ($1, round $2) failed (status $4):"; cat "$3" >&2; exit 1; }
	grep -q '^Requests/sec:' "$3" || { note "no Requests/sec in wrk output ($1, round $2):"; cat "$3" >&2; exit 1; }
	check_placesd
	fetch_metrics "$run_m1" || { note "GET /metrics failed after a run"; exit 1; }
}
wrk_figures() {
	local cs=$1 r=$2 rps p99 non2xx sock
	read -r rps p99 run_reqs non2xx sock <<<"$(parse_wrk "$3")"
	RPS[$cs,$r]=$rps
	P99[$cs,$r]=$p99
	P50[$cs,$r]=$(to_ms "$(awk '$1 == "50%" { print $2; exit }' "$3")")
	if [ "${non2xx:-0}" != 0 ]; then
		failed_reqs+=("$cs round $r: $non2xx of $run_reqs answers were not 2xx")
		info+="non-2xx $non2xx "
	fi
	if [ -n "$sock" ]; then
		failed_reqs+=("$cs round $r: wrk socket errors: ${sock//_/ }")
		info+="errors: ${sock//_/ } "
	fi
}
counter_delta() { echo $(( $(metric "$1" "$run_m1") - $(metric "$1" "$run_m0") )); }
db_counters() {
	local cs=$1 r=$2 e to x5 f x='/^placesd_http_requests_total\{code_class="5xx"\}/ { s += $2 } END { print s + 0 }'
	e=$(counter_delta placesd_pg_errors_total); to=$(counter_delta placesd_pg_timeouts_total)
	x5=$(( $(awk "$x" "$run_m1") - $(awk "$x" "$run_m0") ))
	[ "$e" -gt 0 ] && { info+="pg errors $e "; problems+=("$cs round $r: placesd counted $e failed database queries"); }
	[ "$to" -gt 0 ] && { info+="pg timeouts $to "; problems+=("$cs round $r: placesd counted $to database queries past query_timeout"); }
	[ "$x5" -gt 0 ] && { info+="5xx $x5 "; problems+=("$cs round $r: placesd counted $x5 answers 5xx"); }
	return 0
}
# count_noisy OTH%: counts a run that shared the machine (oth% > 10)
count_noisy() { [ "${1:-0}" -gt 10 ] && noisy=$((noisy + 1)); return 0; }
# warn_busy: a note naming other busy processes, before the runs
warn_busy() {
	local busy
	busy=$(ps -eo pcpu=,pgid=,ppid=,pid=,args= --sort=-pcpu 2>/dev/null |
		awk -v a="$pg_pid" -v me=$$ '$1 >= 20 && $3 != a && $4 != a && $2 != me' | head -n 3)
	[ -n "$busy" ] && note "other busy processes on this machine, figures will be noisy:" && sed 's/^/    /' <<<"$busy" >&2
	return 0
}

# --- wrk Lua scripts ---
# Every wrk run goes through a script whose request() returns a ready
# string, /healthz too, so that the client does the same work per
# request in every case.  lua_threads: the part that numbers the threads
# (tid), so that each starts from its own offset or seed.  lua_rand FILE:
# GET /v1/places/{id}, id uniform in 1..N (args: N); lua_list FILE: GET
# one path after the other (args: the paths; one path: a constant).
lua_threads() {
	cat <<'EOF'
local nthreads = 0
function setup(thread)
	nthreads = nthreads + 1
	thread:set("tid", nthreads)
end
EOF
}
lua_rand() {
	{ echo "local n, pre, post"; lua_threads; cat <<'EOF'
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
	} >"$1"
}
lua_list() {
	{ echo "local reqs, i = {}, 0"; lua_threads; cat <<'EOF'
function init(args)
	for k = 1, #args do reqs[k] = wrk.format("GET", args[k]) end
	i = (tid or 0) % #reqs
end
function request()
	i = i % #reqs + 1
	return reqs[i]
end
EOF
	} >"$1"
}

# --- medians and ratio tables ---
# med_rounds ARRAY CASE: the median of ARRAY[CASE,1..$rounds], empty ones
# left out
med_rounds() {
	local -n M=$1
	local v=() r
	for r in $(seq 1 "$rounds"); do [ -n "${M[$2,$r]:-}" ] && v+=("${M[$2,$r]}"); done
	median "${v[@]}"
}
# ratio_head: the head of a ratio table, its label column $ratio_w wide
# (default 40), its rule $ratio_dashes long (96); ratio_show LABEL ARRAY A B [AIM]: one line of it, the
# median of the per-round ratios ARRAY[A,r] / ARRAY[B,r] (nothing when A
# or B has no figure), and a bench_row LABEL; with an AIM (<=X or >=X),
# the verdict goes to verdicts
ratio_head() {
	printf "%-${ratio_w:-40}s %8s %8s   %s\n" ratio value aim verdict
	printf '%*s\n' "${ratio_dashes:-96}" '' | tr ' ' -
}
ratio_show() {
	local label=$1 a=$3 b=$4 aim=${5:-} rs=() r v verdict op=''
	local -n X=$2
	[ -n "${X[$a,1]:-}" ] && [ -n "${X[$b,1]:-}" ] || return 0
	for r in $(seq 1 "$rounds"); do rs+=("$(ratio "${X[$a,$r]}" "${X[$b,$r]}")"); done
	v=$(median "${rs[@]}")
	if [ -n "$aim" ]; then
		op="${aim:0:2} ${aim:2}"
		if [ "$(aim_met "$v" "$aim")" = yes ]; then verdict="meets the aim"
		elif [ "${aim:0:1}" = "<" ]; then verdict="ABOVE the aim"
		else verdict="BELOW the aim"; fi
		verdicts+=("$label = $(printf '%.3f' "$v") ($verdict of $op)")
	else
		verdict="(for information)"
	fi
	bench_row "$label" "$v" x "$aim"
	printf "%-${ratio_w:-40}s %8.3f %8s   %s   per round: %s\n" "$label" "$v" "$op" "$verdict" "${rs[*]}"
}

# --- alternating order ---
# alternate ROUND CMD...: the commands (strings, eval'ed) in this order in
# odd rounds and in the reverse order in even ones, so that neither side
# of a comparison always runs first
alternate() {
	local _alt_r=$1 _alt_i
	shift
	if [ $((_alt_r % 2)) -eq 1 ]; then
		for ((_alt_i = 1; _alt_i <= $#; _alt_i++)); do eval "${!_alt_i}"; done
	else
		for ((_alt_i = $#; _alt_i >= 1; _alt_i--)); do eval "${!_alt_i}"; done
	fi
}

# --- the end of a run ---
# bench_finish OKTEXT: the notes of the whole run (noisy runs; what
# placesd logged at warn or above, or not in its format; PostgreSQL's
# ERROR, FATAL and PANIC lines), the failed-requests banner, the aims
# (verdicts), the notes or OKTEXT when there are none; exits 3 when
# requests failed, else 0
bench_finish() {
	local f n re='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[^ ]+ (debug|info|warn|error) ' pg_err
	[ "$noisy" -gt 0 ] && problems+=("$noisy run(s) shared the machine with other busy processes (oth% > 10): those figures are noisy, rerun on a quiet machine")
	for f in "$tmp"/placesd-*.log; do
		[ -s "$f" ] || continue
		n=$(awk '$2 == "warn" || $2 == "error"' "$f" | wc -l)
		[ "$n" -gt 0 ] && problems+=("placesd logged $n line(s) at warn or above in ${f##*/}: $(awk '$2 == "warn" || $2 == "error"' "$f" | head -n 3 | tr '\n' '|' | cut -c1-300)")
		n=$(grep -cv -E "$re" "$f")
		[ "$n" -gt 0 ] && problems+=("${f##*/} has $n line(s) not in placesd's log format (a crash?): $(grep -v -E "$re" "$f" | head -n 2 | tr '\n' '|' | cut -c1-200)")
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
	if [ ${#verdicts[@]} -gt 0 ]; then
		echo "Aims:"
		printf '  %s\n' "${verdicts[@]}"
		echo
	fi
	if [ ${#problems[@]} -eq 0 ]; then
		echo "$1"
	else
		echo "Notes:"
		printf '  - %s\n' "${problems[@]}"
	fi
	[ ${#failed_reqs[@]} -gt 0 ] && exit 3
	exit 0
}
