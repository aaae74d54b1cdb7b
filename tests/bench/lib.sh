# shellcheck shell=bash disable=SC2154 # prog and the like: the sourcing script's
# tests/bench/lib.sh -- shell helpers shared by the benchmark scripts.
#
# Sourced (not run) by every benchmark script, after it sets $prog; the
# CPU accounting helpers write a scratch file under $tmp.  start_cluster
# and launch_placesd start processes whose pids they leave in pg_pid and
# placesd_pid; nothing here installs a trap: each script owns its cleanup
# (stop_postgres, stop_placesd, kill_child).
# bash only (arrays, [[ ]], read -a).

# bench_dir: this directory, the scripts' and their helpers' (sse_client.py,
# digest.lua), unless the script set it
bench_dir=${bench_dir:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}

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

# ----------------------------------------------------- script options ---
# The scripts that run placesd on a seeded cluster (digest*, offers*)
# name their value options in the associative array optvar (option ->
# variable); parse_opts takes "--opt VALUE" and "--opt=VALUE" for each,
# the script's flags through its flag_opt, and -h/--help (its usage).

# The option tables: optvar (--NAME -> the variable a value goes to) and
# optflag (--NAME -> the variable a flag sets to 1).  opts_value NAME
# VAR... and opts_flag NAME VAR... add to them; a script may also define
# flag_opt ARG, true when it took ARG itself.  parse_opts ARGS... reads
# "--opt VALUE", "--opt=VALUE", the flags and -h/--help (its usage).
declare -gA optvar=() optflag=()
opts_value() { while [ $# -ge 2 ]; do optvar[--$1]=$2; shift 2; done; }
opts_flag() { while [ $# -ge 2 ]; do optflag[--$1]=$2; shift 2; done; }
parse_opts() {
	local o
	while [ $# -gt 0 ]; do
		o=${1%%=*}
		if [ -n "${optflag[$1]:-}" ]; then
			printf -v "${optflag[$1]}" 1; shift
		elif [ -n "${optvar[$o]:-}" ] && [ "$o" != "$1" ]; then
			printf -v "${optvar[$o]}" '%s' "${1#*=}"; shift
		elif [ -n "${optvar[$1]:-}" ]; then
			need_arg "$@"; printf -v "${optvar[$1]}" '%s' "$2"; shift 2
		elif declare -F flag_opt >/dev/null && flag_opt "$1"; then
			shift
		else
			case $1 in
			-h|--help) usage; exit 0 ;;
			*) usage >&2; die "unknown argument: $1" ;;
			esac
		fi
	done
}
# common_optvars: the options of every script that seeds a cluster, with
# their defaults (--places' is the script's)
common_optvars() {
	placesd_bin=${PLACESD:-} placesctl_bin=${PLACESCTL:-} sql_dir='' pg_bindir=${PG_BINDIR:-} keep_dir=''
	opts_value placesd placesd_bin placesctl placesctl_bin sql-dir sql_dir places nplaces \
		pg-bindir pg_bindir keep keep_dir
}
# usage_binaries: the --help lines of --placesd, --placesctl, --sql-dir;
# common_usage_end: of --pg-bindir, --keep and -h; usage_common: both,
# the options of common_optvars but --places (whose default is the
# script's)
usage_binaries() {
	cat <<EOF
  --placesd PATH     placesd binary (default: \$PLACESD, else src/placesd of the
                     build directory: \$top_builddir/src, ./src or ../../src)
  --placesctl PATH   placesctl binary (default: \$PLACESCTL, else placesctl
                     beside placesd, else src/placesctl of the build directory)
  --sql-dir DIR      migrations (default: src/sql of this source tree:
                     $bench_dir/../../src/sql)
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
usage_common() { usage_binaries; common_usage_end; }

# set_workers: ncpu = the online cores; nworkers = $workers (auto: ncpu;
# else 1..64, and $workers becomes the plain number)
set_workers() {
	ncpu=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN) || die "cannot count the cores"
	if [ "$workers" = auto ]; then
		nworkers=$ncpu
	else
		is_uint "$workers" && [ "$workers" -le 64 ] || die "--workers: 1..64 or auto, not '$workers'"
		nworkers=$((10#$workers))
		workers=$nworkers
	fi
}

# ms_of T: the milliseconds in 500ms, 1s or 250 (a bare number is ms);
# nothing when T is none of these.  secs_of MS: the same in seconds.
ms_of() {
	local v
	case $1 in
	*ms) v=${1%ms} ;;
	*s)  v=${1%s}; [[ $v =~ ^[0-9]+$ ]] && v=$((10#$v * 1000)) ;;
	*)   v=$1 ;;
	esac
	[[ $v =~ ^[0-9]+$ ]] && echo $((10#$v))
}
secs_of() { awk -v m="$1" 'BEGIN { printf "%.3f", m / 1000 }'; }

# ------------------------------------------------------- the binaries ---
# find_binaries [events]: placesd_bin, placesctl_bin (and placesd-events,
# events_bin) as absolute paths, when not given found beside placesd or in
# the build directory; sql_dir the migrations (default: src/sql of this
# source tree); the tools every such script needs (curl), PostgreSQL's
# binaries and the user to run them as
# shellcheck disable=SC2120 # [events] is optional
find_binaries() {
	if [ -z "$placesd_bin" ]; then
		placesd_bin=$(find_build_bin placesd) ||
			die "placesd not found: use --placesd PATH or PLACESD=PATH, or run from the build directory"
	fi
	[ -x "$placesd_bin" ] && [ -f "$placesd_bin" ] || die "not an executable file: $placesd_bin"
	placesd_bin=$(abs_path "$placesd_bin")
	placesctl_bin=$(sibling_bin "$placesctl_bin" placesctl "use --placesctl PATH or PLACESCTL=PATH") || exit 2
	[ "${1:-}" = events ] && { events_bin=$(sibling_bin "$events_bin" placesd-events \
		"use --events PATH or PLACESD_EVENTS=PATH (make src/placesd-events)") || exit 2; }
	[ -n "$sql_dir" ] || sql_dir=$bench_dir/../../src/sql
	[ -d "$sql_dir" ] && ls "$sql_dir"/*.sql >/dev/null 2>&1 || die "no migrations (*.sql) in $sql_dir: use --sql-dir DIR"
	sql_dir=$(cd "$sql_dir" && pwd)
	find_postgres
	pg_runner_setup
	need_tools curl
}
# sibling_bin GIVEN NAME HINT: GIVEN, else NAME beside placesd, else in the
# build directory, as an absolute path (dies with HINT when none)
sibling_bin() {
	local b=$1
	if [ -z "$b" ]; then
		if [ -x "$(dirname "$placesd_bin")/$2" ]; then b=$(dirname "$placesd_bin")/$2
		else b=$(find_build_bin "$2") || die "$2 not found: $3"; fi
	fi
	[ -x "$b" ] && [ -f "$b" ] || die "not an executable file: $b"
	abs_path "$b"
}

# ------------------------------------------------ a benchmark session ---
# bench_begin NAME [HOOK]: the state bench_cleanup reads (the pids of
# what a run starts: child_pid, sat_pid, curl_pid, placesd's and
# PostgreSQL's), problems and failed_reqs empty, the figures RPS, P50,
# P99, DEG, HIT, RMHIT ([CASE,ROUND]) empty, the traps (exit, Ctrl-C,
# SIGTERM), $tmp (make_tmp NAME) and pgdir=$tmp/pg.  On exit
# bench_cleanup stops what runs: the clients, the function HOOK (the
# script's own processes), placesd and PostgreSQL; keeps the outputs
# with --keep and removes $tmp.
bench_begin() {
	tmp='' pgdir='' pg_started='' pg_pid='' placesd_pid='' placesd_port='' placesd_log=''
	child_pid='' sat_pid='' curl_pid='' cleaned='' noisy=0 nstart=0 verdicts=()
	cleanup_fn=${2:-}
	problems=() failed_reqs=()
	# shellcheck disable=SC2034 # the callers' figures
	declare -gA RPS=() P50=() P99=() DEG=() HIT=() RMHIT=()
	trap 'bench_cleanup' EXIT
	trap 'note "interrupted"; exit 130' INT
	trap 'note "terminated"; exit 143' TERM
	make_tmp "$1"
	pgdir=$tmp/pg
}
bench_cleanup() {
	[ -n "$cleaned" ] && return
	cleaned=1
	trap '' INT TERM
	kill_child "$child_pid"; child_pid=''
	kill_child "$sat_pid"; sat_pid=''
	kill_child "$curl_pid"; curl_pid=''
	[ -n "$cleanup_fn" ] && "$cleanup_fn"
	stop_placesd
	stop_postgres
	keep_outputs
	[ -n "$tmp" ] && rm -rf "$tmp"
}

# pg_max_conn POOL_SIZE: max_connections for placesd's workers x (pool +
# LISTEN) connections and the ranker's, psql and placesctl, two placesd
# generations overlapping while one stops
pg_max_conn() { echo $((2 * (nworkers * ($1 + 2) + 4) + 20)); }

# write_token: token_file = $tmp/admin.token, 40 hex digits, mode 0600
write_token() {
	token_file=$tmp/admin.token
	(umask 077; od -An -N20 -tx1 /dev/urandom | tr -d ' \n' >"$token_file"; echo >>"$token_file")
	chmod 600 "$token_file"
	[ "$(tr -d '\n' <"$token_file" | wc -c)" -eq 40 ] || die "cannot write the admin token"
}

# seed_cluster [SEED_ARGS...]: migrate the cluster (through
# $tmp/placesctl.conf, written by write_placesd_conf), seed --places
# $nplaces with placesctl (SEED_ARGS more, e.g. --seed 2) and VACUUM
# ANALYZE; sets t_seed (seconds), seeded_menu and seeded_offers (counts);
# exits 1 when a step fails or the places are not all there
# shellcheck disable=SC2120 # SEED_ARGS are optional
seed_cluster() {
	local pcount t0
	write_placesd_conf "$tmp/placesctl.conf" "$(free_port)"
	"$placesctl_bin" -c "$tmp/placesctl.conf" migrate --dir "$sql_dir" >"$tmp/migrate.log" 2>&1 ||
		{ note "placesctl migrate failed:"; cat "$tmp/migrate.log" >&2; exit 1; }
	t0=$(date +%s.%N)
	run_bg "$tmp/seed.log" "$placesctl_bin" -c "$tmp/placesctl.conf" seed --places "${nplaces:?}" "$@" ||
		{ note "placesctl seed failed:"; tail -n 30 "$tmp/seed.log" >&2; exit 1; }
	# shellcheck disable=SC2034 # t_seed, seeded_*: for the caller
	t_seed=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	psql_q -c "VACUUM ANALYZE" >"$tmp/vacuum.log" 2>&1 || { note "VACUUM ANALYZE failed:"; cat "$tmp/vacuum.log" >&2; exit 1; }
	# shellcheck disable=SC2034
	read -r pcount seeded_menu seeded_offers <<<"$(psql_q -F ' ' -c "SELECT (SELECT count(*) FROM places),
		(SELECT count(*) FROM menu_items), (SELECT count(*) FROM offers)")" ||
		{ note "cannot count the places"; exit 1; }
	[ "${pcount:-}" = "$nplaces" ] || { note "expected $nplaces places after seeding, found ${pcount:-?}"; exit 1; }
}

# --------------------------------------------------- placesd's config ---
# write_placesd_conf FILE PORT: listen on 127.0.0.1:PORT, $workers
# workers, $conninfo ($pool_size when set), the ranker's socket in $tmp,
# when set: conf_query_timeout ([database]); conf_ttl, conf_max_entries,
# conf_max_bytes ([cache]); conf_rthreads, conf_rtimeout, conf_rqueue
# ([ranker]); the script's own lines conf_server ([server]), conf_ranker
# ([ranker]), conf_more (whole sections); [log] level $conf_log, else
# $log_level, else warn
write_placesd_conf() {
	local cache="${conf_ttl:+ttl = $conf_ttl
}${conf_max_entries:+max_entries = $conf_max_entries
}${conf_max_bytes:+max_bytes = $conf_max_bytes
}"
	cat >"$1" <<EOF
# written by $prog
[server]
listen = 127.0.0.1:$2
workers = $workers
${conf_server:-}

[database]
conninfo = $conninfo
${pool_size:+pool_size = $pool_size}
${conf_query_timeout:+query_timeout = $conf_query_timeout}

${cache:+[cache]
$cache}
[ranker]
socket = $tmp/ranker.sock
${conf_rthreads:+threads = $conf_rthreads}
${conf_rtimeout:+timeout = $conf_rtimeout}
${conf_rqueue:+queue_size = $conf_rqueue}
${conf_ranker:-}

${conf_more:-}

[log]
level = ${conf_log:-${log_level:-warn}}
EOF
}

# fresh_placesd LABEL [NAME]: a new placesd on a free port, its files
# $tmp/placesd-N[-NAME].conf and .log (N counts the starts, nstart),
# written by write_placesd_conf and launched (launch_placesd LABEL)
nstart=0
fresh_placesd() {
	nstart=$((nstart + 1))
	placesd_port=$(free_port) || die "no free port found"
	placesd_conf=$tmp/placesd-$nstart${2:+-$2}.conf
	placesd_log=$tmp/placesd-$nstart${2:+-$2}.log
	write_placesd_conf "$placesd_conf" "$placesd_port"
	launch_placesd "$1"
}

# placesd_children ROLE: the placesd master's children whose command line
# names ROLE (worker, ranker)
placesd_children() {
	local p
	for p in $(pgrep -P "$placesd_pid" 2>/dev/null); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "$1" && echo "$p"
	done
}

# ----------------------------------------------------- memory sampling ---
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
# mem_snapshot: "WORKERS_RSS WORKERS_PSS NWORKERS MASTER_RSS RANKER_RSS
# PG_PSS TCP_KB" in kB (TCP: the kernel's TCP buffers, machine-wide)
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

# ------------------------------------------------ CPU split by process ---
# cpu_take GROUP...: $split = "TOTAL BUSY OURS T1 T2 ...": cpu_snapshot of
# the GROUPs (+PID: a process and its children; PGID: a process group;
# empty: none) and then the ticks of each of them
split=
cpu_take() {
	local g
	cpu_snapshot "$@"
	split=$snap
	for g in "$@"; do
		case $g in
		'') split+=" 0" ;;
		+*) split+=" $(ticks_of_family "${g#+}")" ;;
		*) split+=" $(ticks_of_group "$g")" ;;
		esac
	done
}
# cores_of SPLIT0 SPLIT1 N: "C1 .. CN CLIENTS IDLE" in cores: the first N
# groups of cpu_take, the rest of "ours" (the clients: the other groups
# and this shell's reaped children), and the idle cores
cores_of() {
	awk -v a="$1" -v b="$2" -v n="$ncpu" -v g="$3" 'BEGIN {
		split(a, x, " "); split(b, y, " ")
		t = y[1] - x[1]; if (t <= 0) t = 1
		cl = y[3] - x[3]
		for (i = 4; i < 4 + g; i++) { d = y[i] - x[i]; cl -= d; printf "%.2f ", n * d / t }
		if (cl < 0) cl = 0
		printf "%.2f %.2f", n * cl / t, n * (t - (y[2] - x[2])) / t }'
}

# ------------------------------------------------------- the printout ---
# pg_version: the PostgreSQL server's version
pg_version() { "$pg_bindir/postgres" --version 2>/dev/null | sed 's/^postgres (PostgreSQL) //'; }
# machine_line WHO: the "machine:" line of a printout's head (WHO: what
# shares the cores)
machine_line() {
	echo "  machine:    $ncpu cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null); $1 share the cores"
}
# warn_busy: a note naming other processes busy on this machine
warn_busy() {
	local busy
	busy=$(ps -eo pcpu=,pgid=,ppid=,pid=,args= --sort=-pcpu 2>/dev/null |
		awk -v a="$pg_pid" -v me=$$ '$1 >= 20 && $3 != a && $4 != a && $2 != me' | head -n 3)
	[ -n "$busy" ] && note "other busy processes on this machine, figures will be noisy:" && sed 's/^/    /' <<<"$busy" >&2
	return 0
}
# pg_log_problems: PostgreSQL's ERROR, FATAL and PANIC lines to problems
pg_log_problems() {
	local n
	n=$(grep -c -E '\b(ERROR|FATAL|PANIC): ' "$pgdir/postgres.log" 2>/dev/null)
	[ "${n:-0}" != 0 ] && problems+=("PostgreSQL logged $n ERROR/FATAL/PANIC line(s): $(grep -m 3 -E '(ERROR|FATAL|PANIC): ' "$pgdir/postgres.log" | tr '\n' '|' | cut -c1-300)")
	return 0
}
# fail_banner TITLE ITEM...: a block of !!! naming what failed (nothing
# without ITEMs)
fail_banner() {
	[ $# -gt 1 ] || return 0
	local bangs='!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!'
	echo "$bangs"
	echo "!!! $1"; shift
	printf '!!!   %s\n' "$@"
	echo "$bangs"
	echo
}
# print_notes NONE: "Notes:" and the problems, or NONE when there are none
print_notes() {
	if [ ${#problems[@]} -eq 0 ]; then
		echo "$1"
	else
		echo "Notes:"
		printf '  - %s\n' "${problems[@]}"
	fi
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
	local port=$1 want=$2 seen='' i s
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
# Shared by places*.sh and nearby_*.sh. They use the caller's globals: as_pg,
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

# spawn_placesd CONF LOG: placesd -t on CONF (exit 1 when it refuses it),
# then placesd on CONF in the background, its output in LOG, in a session
# of its own: a Ctrl-C at the terminal reaches only the script (which
# stops placesd with SIGTERM), and a last-resort SIGKILL can reach every
# child.  Sets placesd_pid.
spawn_placesd() {
	if ! "$placesd_bin" -t -c "$1" >"$tmp/placesd-t.out" 2>&1; then
		note "placesd -t rejects the benchmark configuration:"
		cat "$tmp/placesd-t.out" >&2
		exit 1
	fi
	setsid "$placesd_bin" -c "$1" </dev/null >"$2" 2>&1 &
	placesd_pid=$!
}

# launch_placesd LABEL: placesd -t on $placesd_conf, then placesd in its
# own process group, logging to $placesd_log; waits up to 120 s for
# /readyz on $placesd_port, and adds to problems (naming LABEL) when
# /healthz does not show every worker slot serving. Sets placesd_pid.
launch_placesd() {
	local label=$1 i code slots
	spawn_placesd "$placesd_conf" "$placesd_log"
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

# --- options ---
# opts_value NAME VAR...: --NAME V and --NAME=V set VAR; opts_flag NAME
# VAR...: --NAME sets VAR to 1; parse_opts ARGS...: the command line
# (-h, --help: the script's usage).  opts_common declares the options of
# every such script, with their defaults; opts_common_check validates
# them, sets ncpu, nworkers and duration_sec, and finds placesd,
# placesctl, the migrations, PostgreSQL, wrk and curl.
# usage_head: the first lines of a script's --help
usage_head() { printf 'Usage: %s [OPTIONS]\n\n' "$prog"; }
opts_common() {
	common_optvars
	nplaces=100000 seed=1 workers=auto pool_size=4 rounds=3 duration=10s conns=64 threads=2 warmup=2s
	opts_value seed seed workers workers pool-size pool_size rounds rounds duration duration \
		connections conns threads threads warmup warmup
}
# common_usage: the help lines of the options of opts_common but
# --duration, --connections, --threads and --warmup; common_usage_end:
# --pg-bindir, --keep and --help
common_usage() {
	usage_binaries
	cat <<EOF
  --places N         places to seed (default: 100000; 20000 for quick runs)
  --seed S           seed of the generator (default: 1)
  --workers N|auto   placesd workers (default: auto = $(nproc 2>/dev/null || echo '?') online cores)
  --pool-size N      [database] pool_size per worker (default: 4)
  --rounds R         rounds (default: 3)
EOF
}
opts_common_check() {
	set_workers
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
	find_binaries
	need_tools wrk
}


# placesd_start NAME: a fresh placesd on a free port with the conf_*
# settings of now, its configuration and log $tmp/placesd-N-NAME.conf and
# .log (N counts the starts: $nstart), once /readyz answers 200 and every
# worker serves (launch_placesd)
placesd_start() {
	local conf_ttl=${conf_ttl:-0s} conf_log=${conf_log:-info}
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
# or B has no figure; the ratio in ratio_last); with an AIM (<=X or
# >=X), the verdict goes to verdicts and the ratio to a bench_row LABEL
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
		bench_row "$label" "$v" x "$aim"
	else
		verdict="(for information)"
	fi
	# shellcheck disable=SC2034 # for the callers
	ratio_last=$v
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

# --- /v1/nearby: options, the request mix ---
# Shared by nearby_threads.sh, nearby_probe.sh and nearby_big.sh (see
# README.md).  opts_nearby declares their options beside opts_common;
# nearby_usage [probes] EXAMPLE-ARGS prints their help (the probe
# options' with probes) and an example; nearby_check validates them and
# finds python3 (rank_flood.py).
opts_nearby() {
	opts_common
	rtimeout_opt=auto rqueue='' sample=200 pconns=8 pdelay=10ms pprio=''
	opts_value ranker-timeout rtimeout_opt ranker-queue rqueue sample sample \
		probe-connections pconns probe-delay pdelay probe-priority pprio
}
nearby_usage() {
	common_usage
	cat <<EOF
  --ranker-timeout D [ranker] timeout, e.g. 250ms or 1s, or auto (default: auto:
                     placesd's default, or 1s if a trial run with threads = 1
                     had more than 1% degraded answers)
  --ranker-queue N   [ranker] queue_size (default: placesd's default)
  --duration D       length of one wrk run, 10s, 1m (default: 10s)
  --connections C    wrk connections on /v1/nearby (default: 64)
  --threads T        wrk threads on /v1/nearby (default: 2)
  --sample N         /v1/nearby answers fetched with curl during each
                     nearby run and checked for "degraded":true (default: 200)
  --warmup D         untimed wrk run on /v1/nearby after each placesd start;
                     0 = none (default: 2s)
EOF
	[ "$1" = probes ] && cat <<EOF
  --probe-connections C  connections of the idle/sat probes (default: 8)
  --probe-delay D    pause of a probe connection between requests, e.g. 10ms;
                     0 = unpaced (default: 10ms)
  --probe-priority P rt: the probe wrk runs under SCHED_FIFO (chrt -f 1), as
                     a client with a core of its own; normal: at the default
                     priority (default: rt when chrt may set it, else normal)
EOF
	common_usage_end
	printf '\nExample, from a build directory (SRCDIR = the source tree):\n  SRCDIR/tests/bench/%s %s\n' "$prog" "$2"
}
nearby_check() {
	opts_common_check
	[ "$rtimeout_opt" = auto ] || [[ $rtimeout_opt =~ ^[0-9]+(ms|s|m)$ ]] ||
		die "--ranker-timeout: e.g. 250ms, 1s or auto, not '$rtimeout_opt'"
	[ -z "$rqueue" ] || { is_uint "$rqueue" && [ "$rqueue" -le 1000000 ]; } || die "--ranker-queue: 1..1000000, not '$rqueue'"
	[[ $sample =~ ^[0-9]+$ ]] || die "--sample: a number, not '$sample'"
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
	python_bin=/usr/bin/python3
	[ -x "$python_bin" ] || python_bin=$(command -v python3) || die "python3 not found (rank_flood.py needs it)"
	conf_rqueue=$rqueue
}

# nearby_setup N: the cluster (room for two placesd generations), the
# migrations, N places (seed_db), and the request mix (nearby_mix_files)
nearby_setup() {
	start_cluster "$pgdir" $((2 * (nworkers * (pool_size + 2) + 4) + 20)) 512MB
	migrate_db
	seed_db "$1"
	psql_q -c "SELECT DISTINCT unnest(categories) FROM places ORDER BY 1" >"$tmp/categories.txt" || exit 1
	psql_q -c "SELECT DISTINCT unnest(cuisines) FROM places ORDER BY 1" >"$tmp/cuisines.txt" || exit 1
	[ -s "$tmp/categories.txt" ] && [ -s "$tmp/cuisines.txt" ] || { note "no categories or cuisines seeded"; exit 1; }
	# the dish words found in the menus (a word the data lacks would
	# only measure empty answers)
	local w n dishes="khachapuri pizza ramen pelmeni borscht khinkali shawarma burger sushi pho"
	dish_list=''
	for w in $dishes; do
		n=$(psql_q -c "SELECT count(*) FROM (SELECT 1 FROM menu_items WHERE name ILIKE '%$w%' LIMIT 1) s") || exit 1
		[ "$n" -gt 0 ] && dish_list+="$w "
	done
	[ -n "$dish_list" ] || { note "none of the dish words ($dishes) is on a menu"; exit 1; }
	nearby_mix_files
	nearby_lua
}
# nearby_mix_files: the cities of the data now (centre, places, spread of
# the places around the centre in km per axis), 20,000 /v1/nearby paths
# of the mix ($tmp/nearby.paths), the curl sample's ($tmp/sample.paths),
# 20,000 /v1/places/{id} paths, ids uniform ($tmp/places.paths) and
# $tmp/healthz.paths
nearby_mix_files() {
	psql_q -F ' ' -c "SELECT c.id, c.lat, c.lon, count(*),
		sqrt(avg(((p.lat - c.lat) * 111.2) ^ 2 + ((p.lon - c.lon) * 111.2 * cos(radians(c.lat))) ^ 2) / 2)
		FROM cities c JOIN places p ON p.city_id = c.id GROUP BY c.id, c.lat, c.lon ORDER BY count(*) DESC, c.id" >"$tmp/cities.txt" ||
		{ note "cannot read the cities"; exit 1; }
	[ -s "$tmp/cities.txt" ] || { note "no cities with places in the database"; exit 1; }
	nearby_paths "$tmp/nearby.paths" 20000 "$seed"
	nearby_paths "$tmp/sample.paths" "$sample" "$((seed + 7777))"
	awk -v n=20000 -v a="$id_min" -v b="$id_max" -v seed="$seed" 'BEGIN { srand(seed)
		for (i = 0; i < n; i++) print "/v1/places/" (a + int(rand() * (b - a + 1))) }' >"$tmp/places.paths"
	echo /healthz >"$tmp/healthz.paths"
}
# nearby_paths FILE N SEED: N /v1/nearby paths of the mix
nearby_paths() {
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
# nearby_lua: the wrk scripts. Each steps through the paths of a file,
# each thread from its own offset, one ready request string a path;
# paced.lua (the traffic cases' load) and probe.lua (unless
# --probe-delay 0) pause each connection between an answer and its next
# request.  args: FILE [DELAY_MS]
nearby_lua() {
	{ echo "local reqs, n, i, pause = {}, 0, 0, 0"; lua_threads; cat <<'EOF'
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
	} >"$tmp/paced.lua"
	# no delay() at all: wrk then does not arm a timer per request
	sed '/^function delay/,/^end/d' "$tmp/paced.lua" >"$tmp/paths.lua"
	if [ "$pdelay_ms" -eq 0 ]; then cp "$tmp/paths.lua" "$tmp/probe.lua"
	else cp "$tmp/paced.lua" "$tmp/probe.lua"; fi
}

# --- /v1/nearby: placesd starts, [ranker] timeout ---
# nearby_start NAME RANKER_THREADS: placesd_start with those threads and
# $rtimeout, then until /v1/nearby answers "degraded":false (the ranker
# has its snapshot; 600 s at most, a big data set takes a while).  Sets
# snap_desc (the ranker's snapshot line) and ranker_rss (MB).
nearby_start() {
	local i body probe p
	conf_rthreads=$2 conf_rtimeout=$rtimeout
	placesd_start "$1"
	probe=$(head -n 1 "$tmp/nearby.paths")
	for i in $(seq 1 3000); do
		check_placesd
		body=$(curl -s --max-time 5 "http://127.0.0.1:$placesd_port$probe" 2>/dev/null)
		grep -q '"degraded":false' <<<"$body" && break
		sleep 0.2
	done
	grep -q '"degraded":false' <<<"$body" || {
		note "placesd $1: GET $probe still degraded 600 s after the start: $(cut -c1-300 <<<"$body")"
		tail -n 30 "$placesd_log" >&2; exit 1; }
	# shellcheck disable=SC2034 # the callers print it
	snap_desc=$(grep -o 'snapshot [0-9]*: .*' "$placesd_log" | tail -n 1)
	for p in $(pgrep -P "$placesd_pid" 2>/dev/null); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q 'ranker' || continue
		# shellcheck disable=SC2034 # the callers print it
		ranker_rss=$(awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$p/status" 2>/dev/null)
		break
	done
	return 0
}
# nearby_rtimeout: rtimeout and rtimeout_note from --ranker-timeout; with
# auto, a 5 s trial (threads = 1, --connections) with placesd's default:
# above 1% degraded answers, 1s instead, and a note saying so
nearby_rtimeout() {
	local treqs tdeg tpct
	if [ "$rtimeout_opt" != auto ]; then
		rtimeout=$rtimeout_opt rtimeout_note=$rtimeout_opt
		return 0
	fi
	rtimeout=''
	nearby_start trial 1
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
		# shellcheck disable=SC2034 # the callers print it
		rtimeout_note="placesd's default (a 5 s trial with threads = 1 had $tdeg of $treqs answers, $tpct%, degraded)"
	fi
}
# nearby_header TITLE [probes]: the first lines of the output (the mix,
# the settings, the machine; with probes, the probes' too)
nearby_header() {
	echo "$1  $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
	echo "  placesd:    $placesd_bin ($("$placesd_bin" -V 2>/dev/null | head -n 1)), workers $workers, pool_size $pool_size, cache off"
	echo "  PostgreSQL: $("$pg_bindir/postgres" --version 2>/dev/null | sed 's/^postgres (PostgreSQL) //') ($pg_bindir), Unix socket, fsync off, shared_buffers 512MB"
	echo "  data:       $nplaces places, $nmenu menu items (seed $seed; seeded in ${t_seed} s), $(wc -l <"$tmp/cities.txt") cities"
	echo "  mix:        points near the city centres (Gaussian, the spread of each city's places), radius 500..5000 m;"
	echo "              40% plain, 30% category|cuisine + open_now=true, 30% q=dish ($(sed 's/ $//; s/ /, /g' <<<"$dish_list"))"
	echo "  wrk:        /v1/nearby -t$threads -c$conns -d$duration --latency$([ "${2:-}" = probes ] && echo "; probes -t1 -c$pconns, $([ "$pdelay_ms" -gt 0 ] && echo "${pdelay_ms} ms pause per connection between requests" || echo unpaced), $([ "$pprio" = rt ] && echo "under SCHED_FIFO (chrt -f 1)" || echo "at normal priority")")"
	echo "  rounds:     $rounds, order alternates each round; curl sample of $sample /v1/nearby answers per nearby run"
	echo "  machine:    $ncpu cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null); clients, servers and PostgreSQL share the cores"
	warn_busy
}

# --- /v1/nearby: sampled runs ---
# nearby_sample OUT: the curl sample of /v1/nearby answers, in the
# background, a second after the timed run starts (one keep-alive
# connection); nearby_sample_end OUT stops it (if the run ended first)
# and sets sample_info, sample_dg and sample_got
nearby_sample() {
	[ "$sample" -gt 0 ] || return 0
	sed "s|^|url = \"http://127.0.0.1:$placesd_port|; s|\$|\"|" "$tmp/sample.paths" >"$tmp/sample.curl"
	( sleep 1; exec curl -s --max-time 10 -w '\n@@%{http_code}\n' -K "$tmp/sample.curl" ) >"$1" 2>/dev/null &
	curl_pid=$!
}
nearby_sample_end() {
	sample_info='' sample_dg=0 sample_got=0
	[ -n "$curl_pid" ] || return 0
	local i code_bad
	for i in $(seq 1 50); do is_running "$curl_pid" || break; sleep 0.1; done
	kill_child "$curl_pid"; curl_pid=''
	sample_got=$(grep -c '^@@200$' "$1")
	code_bad=$(grep '^@@' "$1" | grep -vc '^@@200$')
	sample_dg=$(grep -o '"degraded":true' "$1" | wc -l)
	sample_info="sample: $sample_dg/$sample_got degraded; "
	[ "$code_bad" -gt 0 ] && sample_info+="($code_bad not 200) "
	return 0
}
# nearby_account CASE ROUND OUT [NEARBY]: wrk_figures; NEARBY=1: the
# degraded answers (DEG[CASE,ROUND], %), ranker failures and db_counters
nearby_account() {
	local cs=$1 r=$2 dg fail
	wrk_figures "$cs" "$r" "$3"
	[ "${4:-0}" = 1 ] || return 0
	dg=$(counter_delta placesd_nearby_degraded_total); fail=$(counter_delta placesd_ranker_failures_total)
	DEG[$cs,$r]=$(awk -v d="$dg" -v n="$run_reqs" 'BEGIN { printf "%.2f", (n > 0 ? 100 * d / n : 0) }')
	info+="degraded_total $(metric placesd_nearby_degraded_total "$run_m0")->$(metric placesd_nearby_degraded_total "$run_m1") (${DEG[$cs,$r]}%) "
	[ "$dg" -gt 0 ] && problems+=("$cs round $r: $dg /v1/nearby answers degraded (placesd_nearby_degraded_total), ${DEG[$cs,$r]}% of wrk's $run_reqs")
	[ "$fail" -gt 0 ] && { info+="ranker failures $fail "; problems+=("$cs round $r: placesd_ranker_failures_total rose by $fail"); }
	db_counters "$cs" "$r"
}
# nearby_run CASE ROUND CONNS: one timed wrk run on /v1/nearby with the
# curl sample beside it
nearby_run() {
	local cs=$1 r=$2 c=$3 out rc info='' th=$threads
	[ "$c" -lt "$th" ] && th=$c
	out="$tmp/wrk-r$r-${cs//\//-}.txt"
	run_begin "$out"
	nearby_sample "$out.sample"
	run_bg "$out" wrk -t"$th" -c"$c" -d"$duration" --timeout 10s --latency \
		-s "$tmp/paths.lua" "http://127.0.0.1:$placesd_port" -- "$tmp/nearby.paths"; rc=$?
	nearby_sample_end "$out.sample"
	run_end "$cs" "$r" "$out" "$rc"
	nearby_account "$cs" "$r" "$out" 1
	[ "${sample_dg:-0}" -gt 0 ] && problems+=("$cs round $r: $sample_dg of $sample_got sampled /v1/nearby answers had \"degraded\":true")
	nearby_report "$cs" "$r" "$sample_info$info"
}
# nearby_warm: the untimed wrk run after a start (--warmup)
nearby_warm() {
	[ "$warmup" = 0 ] && return 0
	run_bg "$tmp/wrk-warmup-$nstart.txt" wrk -t"$threads" -c"$conns" -d"$warmup" --timeout 10s \
		-s "$tmp/paths.lua" "http://127.0.0.1:$placesd_port" -- "$tmp/nearby.paths" ||
		{ note "wrk (untimed warm-up) failed:"; cat "$tmp/wrk-warmup-$nstart.txt" >&2; exit 1; }
}
# nearby_report CASE ROUND NOTES: a line of the runs' table (nearby_head)
nearby_head() {
	printf '%5s  %-18s %9s %8s %9s %5s   %s\n' round case "req/s" "p50 ms" "p99 ms" "oth%" notes
	printf '%s\n' "----------------------------------------------------------------------------------------------"
}
nearby_report() {
	printf '%5s  %-18s %9s %8.3f %9.3f %5s   %s\n' "$2" "$1" "$(fmt_rps "${RPS[$1,$2]}")" "${P50[$1,$2]}" "${P99[$1,$2]}" "$other_pct" "$3"
	count_noisy "$other_pct"
}

# --- /v1/nearby: probes under load ---
# nearby_probe_run CASE ROUND PATHS SAT: the paced probe (--probe-connections)
# on PATHS; SAT=0: nothing else; 1: while a second wrk saturates
# /v1/nearby; 2: while rank_flood.py saturates the ranker directly; 3:
# while a second wrk sends /v1/places/{id} at the rate of the sat case
# before (CASE with /traffic replaced by /sat+nb).  The load runs in a
# session of its own (setsid), as a client on another machine would: the
# kernel shares the CPU between sessions (autogroups) before threads, and
# the probe must not queue behind its own session's load.
nearby_probe_run() {
	local cs=$1 r=$2 paths=$3 sat=$4 out sout rc src info='' rate pause=20 tconns
	local load=(setsid wrk -t"$threads" -c"$conns" -d"$((duration_sec + 4))s" --timeout 10s --latency)
	out="$tmp/wrk-r$r-${cs//\//-}.txt"
	sout="$out.nearby"
	run_begin "$out"
	case $sat in
	1)	"${load[@]}" -s "$tmp/paths.lua" "http://127.0.0.1:$placesd_port" -- "$tmp/nearby.paths" >"$sout" 2>&1 & ;;
	3)	# wrk pauses in whole milliseconds: the rate is set by the
		# number of connections, each one about 21 ms a request
		rate=${RPS[${cs%/traffic}/sat+nb,$r]:-0}
		tconns=$(awk -v r="$rate" -v t="$threads" 'BEGIN { c = int(r * 21 / 1000 + 0.5); printf "%d", (c < t ? t : c) }')
		load[3]=-c$tconns
		"${load[@]}" -s "$tmp/paced.lua" "http://127.0.0.1:$placesd_port" -- "$tmp/places.paths" "$pause" >"$sout" 2>&1 & ;;
	2)	# --idle, as the ranking threads: the client's own CPU (a
		# Python loop, 100 us a call) must not count against the loops
		"$python_bin" "$bench_dir/rank_flood.py" --idle --socket "$tmp/ranker.sock" \
			--paths "$tmp/nearby.paths" --connections 2 --depth 16 \
			--duration "$((duration_sec + 4))" >"$sout" 2>&1 & ;;
	esac
	[ "$sat" = 0 ] || { sat_pid=$!; sleep 2; }
	run_bg "$out" "${probe_pre[@]}" wrk -t1 -c"$pconns" -d"$duration" --timeout 10s --latency \
		-s "$tmp/probe.lua" "http://127.0.0.1:$placesd_port" -- "$paths" "$pdelay_ms"; rc=$?
	if [ "$sat" = 1 ] || [ "$sat" = 3 ]; then
		wait "$sat_pid"; src=$?; sat_pid=''
		[ $src -eq 0 ] && grep -q '^Requests/sec:' "$sout" ||
			{ note "the loading wrk ($cs, round $r) failed (status $src):"; cat "$sout" >&2; exit 1; }
	elif [ "$sat" = 2 ]; then
		wait "$sat_pid"; src=$?; sat_pid=''
		[ $src -eq 0 ] || { note "rank_flood.py ($cs, round $r) failed (status $src):"; cat "$sout" >&2; exit 1; }
		info="ranker $(sed -n 's/.*"results_per_s": \([0-9.]*\).*/\1/p' "$sout") results/s (rank_flood.py) "
	fi
	run_end "$cs" "$r" "$out" "$rc"
	nearby_account "$cs" "$r" "$out"
	if [ "$sat" = 1 ]; then
		nearby_account "$cs+nb" "$r" "$sout" 1
		info="nearby $(fmt_rps "${RPS[$cs+nb,$r]}") req/s p99 $(printf '%.1f' "${P99[$cs+nb,$r]}") ms $info"
	elif [ "$sat" = 3 ]; then
		nearby_account "$cs+pl" "$r" "$sout"
		info="places $(fmt_rps "${RPS[$cs+pl,$r]}") req/s ($tconns connections, $pause ms pauses) $info"
	fi
	nearby_report "$cs" "$r" "$info"
}
# nearby_probe_block ROUND [PREFIX]: the probes of every case, named
# PREFIXhealthz/idle and so on, in an order that alternates with ROUND
nearby_probe_block() {
	local r=$1 p=${2:-} c w s paths
	local order="healthz/idle/0 healthz/sat/1 healthz/traffic/3 healthz/rank/2 place/idle/0 place/sat/1 place/traffic/3 place/rank/2"
	[ $((r % 2)) -eq 0 ] && order="place/rank/2 place/sat/1 place/traffic/3 place/idle/0 healthz/rank/2 healthz/sat/1 healthz/traffic/3 healthz/idle/0"
	for c in $order; do
		w=${c%%/*}; s=${c##*/}
		[ "$w" = healthz ] && paths=$tmp/healthz.paths || paths=$tmp/places.paths
		nearby_probe_run "$p${c%/*}" "$r" "$paths" "$s"
	done
}

# --- /v1/nearby: summary tables ---
# nearby_sum_head; nearby_sum CASE WHAT: a line of the medians table;
# nearby_sum_probes PREFIX AT: the probe cases of one size (PREFIX big-
# or empty), their labels ending in AT; nearby_probe_ratios PREFIX AT:
# their ratios, the aim (<= 2) on those against idle
nearby_sum_head() {
	echo
	echo "Medians over $rounds round(s)"
	printf '%-20s %10s %9s %9s %8s   %s\n' case "req/s" "p50 ms" "p99 ms" "degr%" what
	printf '%s\n' "------------------------------------------------------------------------------------------------"
}
nearby_sum() {
	printf '%-20s %10s %9.3f %9.3f %8s   %s\n' "$1" "$(fmt_rps "$(med_rounds RPS "$1")")" "$(med_rounds P50 "$1")" \
		"$(med_rounds P99 "$1")" "$([ -n "${DEG[$1,1]:-}" ] && printf '%.2f' "$(med_rounds DEG "$1")" || echo -)" "$2"
}
nearby_sum_probes() {
	local p=$1 at=$2 w what
	for w in healthz place; do
		[ "$w" = healthz ] && what=/healthz || what="/v1/places/{id}"
		nearby_sum "$p$w/idle" "$what probe, /v1/nearby idle$at"
		nearby_sum "$p$w/sat" "$what probe, /v1/nearby saturated$at"
		nearby_sum "$p$w/sat+nb" "  the saturating /v1/nearby wrk meanwhile"
		nearby_sum "$p$w/traffic" "$what probe, /v1/places/{id} at the sat case's rate$at"
		nearby_sum "$p$w/traffic+pl" "  the /v1/places/{id} wrk meanwhile"
		nearby_sum "$p$w/rank" "$what probe, the ranker saturated directly (rank_flood.py)$at"
	done
}
nearby_probe_ratios() {
	local p=$1 at=$2 pair a b aim w
	for pair in "sat idle <=2" "rank idle <=2" "sat traffic" "traffic idle"; do
		read -r a b aim <<<"$pair"
		for w in healthz place; do
			ratio_show "$w p99 $a / $b$at" P99 "$p$w/$a" "$p$w/$b" "$aim"
		done
	done
}
nearby_ratio_head() {
	echo
	echo "Ratios (median of the per-round ratios)"
	ratio_w=40 ratio_head
}

# --- places: options, setup ---
# Shared by places.sh and places_flood.sh (see README.md):
# opts_places declares their options beside opts_common, places_check
# validates them; every placesd they start logs at warn and above only.
opts_places() {
	opts_common
	query_timeout=2s
	opts_value query-timeout query_timeout
}
places_check() {
	opts_common_check
	[[ $query_timeout =~ ^[0-9]+(ms|s|m)$ ]] || die "--query-timeout: e.g. 2s or 500ms, not '$query_timeout'"
	conf_query_timeout=$query_timeout conf_log=warn
}
places_usage() {
	common_usage
	cat <<EOF
  --query-timeout D  [database] query_timeout (default: 2s)
EOF
}
# places_setup: the cluster (room for --connections pgbench clients
# beside placesd), the migrations, --places places with ids 1..N
places_setup() {
	start_cluster "$pgdir" $((conns + nworkers * (pool_size + 2) + 20)) 512MB
	migrate_db
	seed_db "$nplaces"
	[ "$id_min" = 1 ] || { note "expected place ids 1..$nplaces after seeding, found min $id_min max $id_max"; exit 1; }
}
# places_start NAME TTL MAX_ENTRIES [MAX_BYTES]: placesd_start with that
# [cache] (max_bytes default 0: the city read model off)
places_start() {
	conf_ttl=$2 conf_max_entries=$3 conf_max_bytes=${4:-0}
	placesd_start "$1"
}
# places_header TITLE: the first lines of the output
places_header() {
	echo "$1  $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
	echo "  placesd:    $placesd_bin ($("$placesd_bin" -V 2>/dev/null | head -n 1)), workers $workers, pool_size $pool_size, query_timeout $query_timeout"
	[ -n "${2:-}" ] && printf '%s\n' "$2"
	echo "  PostgreSQL: $("$pg_bindir/postgres" --version 2>/dev/null | sed 's/^postgres (PostgreSQL) //') ($pg_bindir), Unix socket, fsync off, shared_buffers 512MB"
	echo "  data:       $nplaces places, $nmenu menu items (seed $seed; seeded in ${t_seed} s)"
}

# --- cache warm-up ---
# warm_cache ROUND [N CITIES]: the warm-up pass on the running placesd:
# every item into every worker's cache (warm.lua); wrk is stopped
# (SIGINT) once every part of 1..N is done for every slot.  N: the
# places by default; with CITIES > 0 the items are lists of flood cities.
# Sets warm_s (seconds) and prints a line of the runs' table.
warm_cache() {
	local r=$1 n=${2:-$nplaces} cities=${3:-0} dir=$tmp/warm-r$1-$nstart t nparts attempt ndone claims out rc bad t0
	[ -f "$tmp/warm.lua" ] || warm_lua
	mkdir -p "$dir"
	t=$((4 * nworkers)); [ $t -gt 64 ] && t=64; [ $t -lt 4 ] && t=4
	nparts=$((4 * t / nworkers)); [ $nparts -lt 4 ] && nparts=4
	t0=$(date +%s.%N)
	for attempt in 1 2 3 4 5 6; do
		out=$tmp/warm-r$r-a$attempt.txt
		wrk -t"$t" -c"$t" -d600s --timeout 10s -s "$tmp/warm.lua" \
			"http://127.0.0.1:$placesd_port" -- "$n" "$dir" "$nparts" "$cities" >"$out" 2>&1 &
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
		child_pid=''
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
	printf '%5s  %-10s %s\n' "$r" "(warm-up)" "$((nworkers * n)) $([ "$cities" -gt 0 ] && echo "city lists" || echo places) in ${warm_s} s, $attempt wrk run(s), $t connections"
}
# warm_lua: $tmp/warm.lua.  One connection per thread: its first
# request, GET /healthz, names the worker slot it landed on; the thread
# then claims parts of 1..N for that slot (files created with O_EXCL in
# DIR, so threads on one slot share the work) and requests each id of a
# part in order.  DIR/done-SLOT-PART holds the number of answers other
# than 200.  A thread with nothing left idles on /healthz.  With CITIES
# > 0 item i is not a place but the list of city flood-((i - 1) % CITIES
# + 1) with limit (i - 1) // CITIES + 1.  args: N DIR PARTS [CITIES]
warm_lua() {
	cat >"$tmp/warm.lua" <<'EOF'
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
}

# --- pgbench ---
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
# find_pgbench: pgbench_bin = pgbench of $pg_bindir (find_postgres), else
# of the PATH
find_pgbench() {
	if [ -x "$pg_bindir/pgbench" ]; then pgbench_bin=$pg_bindir/pgbench
	else pgbench_bin=$(command -v pgbench) || die "pgbench not found (apt-get install postgresql-client-15)"; fi
}
# pgbench_run CASE ROUND SCRIPT-ARGS...: one timed pgbench run (find_pgbench)
# on the cluster in $pgdir, -M prepared, $conns clients, $threads
# threads, $duration_sec; the latencies of one transaction in ten logged
# for the p50 and p99.  Records RPS (tps), P50, P99 [CASE,ROUND] and the
# failed transactions, sets other_pct and appends to the caller's $info.
pgbench_run() {
	local cs=$1 r=$2 out t0 rc failed
	shift 2
	out="$tmp/pgbench-r$r-${cs//\//-}.txt"
	rm -f "$out".log*
	cpu_snapshot "+$pg_pid"; t0=$snap
	run_bg "$out" "$pgbench_bin" -n -M prepared -c "$conns" -j "$threads" -T "$duration_sec" \
		-l --sampling-rate=0.1 --log-prefix="$out.log" "$@" -h "$pgdir" -U app postgres; rc=$?
	cpu_snapshot "+$pg_pid"
	other_pct=$(other_pct "$t0" "$snap")
	[ $rc -eq 0 ] || { note "pgbench ($cs, round $r) failed (status $rc):"; tail -n 30 "$out" >&2; exit 1; }
	RPS[$cs,$r]=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$out" | head -n 1)
	[ -n "${RPS[$cs,$r]}" ] || { note "no tps in pgbench output ($cs, round $r):"; cat "$out" >&2; exit 1; }
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
	if [ "${failed:-0}" != 0 ]; then
		failed_reqs+=("$cs round $r: $failed pgbench transactions failed")
		info+="failed $failed "
	fi
	# log lines: client transaction latency_us script epoch us
	cat "$out".log* 2>/dev/null | awk '{ print $3 }' | sort -n >"$out.lat"
	P99[$cs,$r]=$(pgbench_pct 0.99 "$out.lat")
	P50[$cs,$r]=$(pgbench_pct 0.5 "$out.lat")
}
pgbench_pct() {
	awk -v q="$1" '{ a[NR] = $1 } END { if (NR == 0) { print 0; exit } i = int(NR * q + 0.5); if (i < 1) i = 1; printf "%.3f", a[i] / 1000 }' "$2"
}
