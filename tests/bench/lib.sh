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

# common_optvars: optvar with the options every such script takes
common_optvars() {
	declare -gA optvar=([--placesd]=placesd_bin [--placesctl]=placesctl_bin [--sql-dir]=sql_dir
		[--places]=nplaces [--pg-bindir]=pg_bindir [--keep]=keep_dir)
	placesd_bin=${PLACESD:-} placesctl_bin=${PLACESCTL:-} sql_dir='' pg_bindir=${PG_BINDIR:-} keep_dir=''
}
# take_opt ARGS...: when $1 is an option of optvar, sets its variable and
# opt_shift (the words it took); false otherwise
opt_shift=0
take_opt() {
	local o=${1%%=*}
	[[ $o == --* ]] && [ -n "${optvar[$o]:-}" ] || return 1
	if [ "$o" = "$1" ]; then
		need_arg "$@"; printf -v "${optvar[$o]}" '%s' "$2"; opt_shift=2
	else
		printf -v "${optvar[$o]}" '%s' "${1#*=}"; opt_shift=1
	fi
}
parse_opts() {
	while [ $# -gt 0 ]; do
		if take_opt "$@"; then shift "$opt_shift"; continue; fi
		case $1 in -h|--help) usage; exit 0 ;; esac
		if declare -F flag_opt >/dev/null && flag_opt "$1"; then shift; continue; fi
		usage >&2; die "unknown argument: $1"
	done
}
# usage_common: the --help lines of the options of common_optvars but
# --places (whose default is the script's), and of -h
usage_common() {
	cat <<EOF
  --placesd PATH     placesd binary (default: \$PLACESD, else src/placesd of the
                     build directory: \$top_builddir/src, ./src or ../../src)
  --placesctl PATH   placesctl binary (default: \$PLACESCTL, else placesctl
                     beside placesd, else src/placesctl of the build directory)
  --sql-dir DIR      migrations (default: src/sql of this source tree:
                     ${bench_dir:-tests/bench}/../../src/sql)
  --pg-bindir DIR    PostgreSQL binaries (default: \$PG_BINDIR, else the
                     newest /usr/lib/postgresql/N/bin, else pg_config --bindir)
  --keep DIR         copy the configs, logs and raw outputs to DIR
  -h, --help         this text
EOF
}

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
# bench_begin NAME [HOOK]: the state bench_cleanup reads, problems=(), the
# traps (exit, Ctrl-C, SIGTERM), $tmp (make_tmp NAME) and pgdir=$tmp/pg.
# On exit bench_cleanup stops what runs: the function HOOK first (the
# script's own processes), then wrk (child_pid), placesd and PostgreSQL;
# keeps the outputs with --keep and removes $tmp.
bench_begin() {
	tmp='' pgdir='' pg_started='' pg_pid='' placesd_pid='' placesd_port='' placesd_log='' child_pid='' cleaned=''
	cleanup_fn=${2:-}
	problems=()
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
	kill_child "$child_pid"
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
# and the script's own lines: conf_server ([server]), conf_ranker
# ([ranker]), conf_more (whole sections); [log] level $log_level (warn)
write_placesd_conf() {
	cat >"$1" <<EOF
# written by $prog
[server]
listen = 127.0.0.1:$2
workers = $workers
${conf_server:-}

[database]
conninfo = $conninfo
${pool_size:+pool_size = $pool_size}

[ranker]
socket = $tmp/ranker.sock
${conf_ranker:-}

${conf_more:-}

[log]
level = ${log_level:-warn}
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

# ----------------------------------------- live offer stream (offers*) ---
# offers.sh and offers_storm.sh: N subscribers of GET /v1/offers/stream on
# a fresh placesd each round, offers published by sse_client.py; the
# scripts set the defaults of offers_optvars' variables and $probe.

# offers_optvars: optvar (common_optvars) with the offer stream's options
offers_optvars() {
	common_optvars
	optvar+=([--subscribers]=nsubs [--offers]=noffers [--interval]=interval [--rounds]=rounds
		[--workers]=workers [--procs]=procs [--client-nice]=client_nice [--read-pause]=read_pause
		[--sources]=sources)
	nplaces=2000 nsubs=10000 noffers=20 interval=500ms rounds=3 workers=auto procs='' sources=''
	client_nice=0 read_pause=0 probe=0 pool_size=4
	python_bin=/usr/bin/python3
	client=$bench_dir/sse_client.py
}
# usage_offers: the --help lines of offers_optvars' options (the defaults
# are the variables' values)
usage_offers() {
	cat <<EOF
  --places N         places to seed (default: $nplaces)
  --subscribers N    concurrent subscribers (default: $nsubs)
  --offers M         offers published per round (default: $noffers)
  --interval T       time between two offers: 500ms, 1s, or milliseconds
                     (default: $interval)
  --rounds R         rounds, placesd started afresh for each (default: $rounds)
  --workers N|auto   placesd workers (default: auto = $(nproc 2>/dev/null || echo '?') online cores, more
                     when the open-files limit cannot hold N subscribers on them)
  --procs P          client processes the subscribers are split over
                     (default: ${procs:-1, more when the open-files limit needs it})
  --client-nice N    run the load client at nice N (0..19): its CPU then goes
                     to placesd first, as remote subscribers' would; the
                     arrivals are the kernel's receive stamps either way
                     (default: $client_nice)
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
EOF
}

# offers_check_opts: check the options; the open-files limit raised for
# N subscribers; procs, workers, sources, max_clients and max_subs
offers_check_opts() {
	set_workers
	is_uint "$nplaces" && [ "$nplaces" -le 10000000 ] || die "--places: 1..10000000, not '$nplaces'"
	nplaces=$((10#$nplaces))
	is_uint "$nsubs" && [ "$nsubs" -le 1000000 ] || die "--subscribers: 1..1000000, not '$nsubs'"
	nsubs=$((10#$nsubs))
	is_uint "$noffers" && [ "$noffers" -le 100000 ] || die "--offers: 1..100000, not '$noffers'"
	noffers=$((10#$noffers))
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
	find_binaries
	[ -x "$python_bin" ] || die "$python_bin not found (apt-get install python3)"
	"$python_bin" -c 'import sys; sys.exit(sys.version_info < (3, 7))' 2>/dev/null ||
		die "$python_bin is older than Python 3.7"
	[ -r "$client" ] || die "the load client $client is missing"

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
}

# offers_setup: the session (bench_begin), the cluster, the admin token,
# placesd's configuration, the seeded data and the offers' places
offers_setup() {
	client_pid='' probe_pid='' failed_subs=() noisy=0
	bench_begin obench offers_cleanup
	declare -gA R
	start_cluster "$pgdir" "$(pg_max_conn "$pool_size")" 128MB
	write_token
	conf_server="max_connections = $max_clients
keepalive_timeout = 300s
backlog = 4096"
	conf_more="[offers]
admin_token_file = $token_file
heartbeat = 15s
max_subscribers = $max_subs"
	seed_cluster
	# the offers' places: 50 spread over the ids
	place_ids=$(psql_q -c "SELECT string_agg(id::text, ',') FROM (SELECT id FROM places ORDER BY id) p
		WHERE id % greatest(1, (SELECT count(*) FROM places) / 50) = 0 OR (SELECT count(*) FROM places) < 50") ||
		{ note "cannot read place ids"; exit 1; }
	[ -n "$place_ids" ] || place_ids=$(psql_q -c "SELECT min(id) FROM places")
	# /metrics waits on 10,000 streams' worker: give fetch_metrics more time
	metrics_max_time=10
}
offers_cleanup() {
	kill_child "${probe_pid:-}"
	stop_client
}

# stop_client: the client's process group (it was started with setsid and
# its subscriber processes are in it), then reap it
stop_client() {
	[ -n "${client_pid:-}" ] || return 0
	kill -TERM -- "-$client_pid" 2>/dev/null || kill -TERM "$client_pid" 2>/dev/null
	local i
	for i in $(seq 1 50); do is_running "$client_pid" || break; sleep 0.1; done
	is_running "$client_pid" && kill -KILL -- "-$client_pid" 2>/dev/null
	wait "$client_pid" 2>/dev/null
	client_pid=
	return 0
}

# offers_placesd: a fresh placesd (fresh_placesd), once every worker's
# offer feed is connected too
offers_placesd() {
	local i up=0
	fresh_placesd "start $((nstart + 1))"
	for i in $(seq 1 100); do
		fetch_metrics "$tmp/m-start.txt" && up=$(metric placesd_offer_feed_up "$tmp/m-start.txt")
		[ "${up:-0}" -ge "$nworkers" ] && break
		sleep 0.1
	done
	[ "${up:-0}" -ge "$nworkers" ] ||
		{ note "placesd_offer_feed_up is ${up:-?} after 10 s, expected $nworkers: the offer feed is not connected"; tail -n 20 "$placesd_log" >&2; exit 1; }
	return 0
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

# run_round R: placesd afresh, the client, the figures into R[key,round]
run_round() {
	local r=$1 out rdy go i m0 m1 t0 t1 rc connected gauge kb0 kb1 kb2 v
	local w_rss0 w_pss0 nw0 ma0 rk0 pg0 tcp0 w_rss1 w_pss1 ma1 rk1 pg1 tcp1
	local w_rss2 pg2 sent slow keys
	offers_placesd
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
	cpu_take "+$placesd_pid" "+$pg_pid" "$client_pid"; t0=$split
	: >"$go"
	wait "$client_pid"; rc=$?
	client_pid=
	if [ -n "$probe_pid" ]; then
		wait "$probe_pid"; probe_pid=
		probe_medians "$out.hz" "$r"
		R[hz_win,$r]+="; a 1 ms sleep woke late by p50/p99 $(host_wake | tr ' ' /) ms (the host)"
	fi
	cpu_take "+$placesd_pid" "+$pg_pid" "$client_pid"; t1=$split
	R[oth,$r]=$(other_pct "$t0" "$t1")
	read -r "R[cpd,$r]" "R[cpg,$r]" "R[ccl,$r]" _ <<<"$(cores_of "$t0" "$t1" 2)"
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

offers_table_head() {
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
		sleep "$(awk -v a="$at" -v n="$now" 'BEGIN { d = a - n; printf "%.3f", (d > 0 ? d : 0) }')"
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
	local st p99 n bad idle=() storm=()
	while read -r st _ p99 n bad; do
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

# offers_run TITLE: the printout's head, one round after another, the
# legend
offers_run() {
	local r
	echo "$1  $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
	echo "  placesd:    $placesd_bin ($("$placesd_bin" -V 2>/dev/null | head -n 1)), workers $workers"
	echo "  config:     max_connections $max_clients, keepalive_timeout 300s, backlog 4096; [offers] heartbeat 15s, max_subscribers $max_subs"
	echo "  PostgreSQL: $(pg_version) ($pg_bindir), Unix socket, fsync off"
	echo "  data:       $nplaces places, $seeded_offers seeded offers (seeded in ${t_seed} s)"
	echo "  client:     $client ($("$python_bin" -V 2>&1)), $nsubs subscribers over $procs process(es) and $sources source address(es); $noffers offers, one every ${interval_ms} ms$([ "$read_pause_ms" -gt 0 ] && echo "; subscribers stopped for ${read_pause_ms} ms from each publish (--read-pause)")$([ "$client_nice" -gt 0 ] && echo "; client at nice $client_nice")"
	echo "  open files: $nofile per process$nofile_note"
	echo "  rounds:     $rounds, placesd started afresh for each"
	machine_line "client, placesd and PostgreSQL"
	warn_busy
	echo

	offers_table_head
	for r in $(seq 1 "$rounds"); do
		run_round "$r"
	done
	echo "subs = subscribers connected; last = delay from publishing to the arrival at the last subscriber (p50, p99 over the offers), all = every arrival, in ms"
	echo "arrival = the kernel's receive stamp; rd p99 = the last p99 as the client read it; lag p99 = the client's delay in reading (read - stamp)"
	echo "KB RSS/PSS = workers' memory per idle subscriber; cl% = client CPU (% of one core) during the offers; cores pd/pg/cl = placesd, PostgreSQL, client; oth% = other processes' share"
}

# med KEY [DECIMALS]: the median over the rounds of R[KEY,round] (numeric
# values only; 1 decimal), "-" when there are none
med() {
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
# verdict VALUE LIMIT: "met" when VALUE <= LIMIT
verdict() {
	if [ "$1" = - ]; then echo "no figure"
	elif awk -v v="$1" -v l="$2" 'BEGIN { exit !(v <= l) }'; then echo "met"
	else echo "NOT met"; fi
}

# offers_summary: the medians over the rounds, what failed, the aims and
# the notes; sets p99 (delay to the last subscriber), p99_aim, kbr and kbp
# (KB per idle subscriber, RSS and PSS) and, with --probe, hz_idle,
# hz_storm and hz_ratio
offers_summary() {
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
		hz_idle=$(med hz_idle 3) hz_storm=$(med hz_storm 3)
		hz_ratio=$(awk -v a="$hz_idle" -v b="$hz_storm" 'BEGIN { if (a > 0 && b != "-") printf "%.2f", b / a; else print "-" }')
		printf '  /healthz p99 (%s connections):  idle %s ms, during the offers %s ms: %sx\n' \
			"$probe" "$hz_idle" "$hz_storm" "$hz_ratio"
	fi
	[ "$noisy" -gt 0 ] && problems+=("$noisy round(s) shared the machine with other busy processes (oth% > 10): those figures are noisy, rerun on a quiet machine")
	pg_log_problems

	echo
	fail_banner "SUBSCRIBERS OR OFFERS FAILED" "${failed_subs[@]}"
	echo "Aims:"
	printf '  p99 delay to the last subscriber <= %3d ms:  %s ms: %s\n' "$p99_aim" "$p99" "$(verdict "$p99" "$p99_aim")"
	echo "  <= 8 KB per idle subscriber:                 $kbr KB RSS: $(verdict "$kbr" 8) (PSS $kbp KB: $(verdict "$kbp" 8))"
	[ "$probe" -gt 0 ] && echo "  /healthz p99 during the offers <= 2x idle:   ${hz_ratio}x: $(verdict "$hz_ratio" 2)"
	echo
	print_notes "No further notes: the gauge matched the connected count, every event was counted as sent, none closed for being slow, nothing logged."
}

# ---------------------------------------------- POST /v1/digest (digest*) ---
# digest.sh and digest_readmodel.sh: wrk on POST /v1/digest against a
# placesd whose [upstream] events_url is placesd-events with a fixed
# latency, started afresh for each block of runs.

# digest_optvars: optvar (common_optvars) with the digest options and
# their defaults
digest_optvars() {
	common_optvars
	optvar+=([--events]=events_bin [--seed]=seed [--workers]=workers [--pool-size]=pool_size
		[--latency]=latency [--connections]=conns_opt [--threads]=threads [--rounds]=rounds
		[--duration]=duration [--warmup]=warmup [--sample]=sample)
	events_bin=${PLACESD_EVENTS:-} nplaces=20000 seed=1 workers=auto pool_size=4 latency=20
	conns_opt=64,256 threads=2 rounds=3 duration=10s warmup=2s sample=50
}
# usage_digest: the --help lines of digest_optvars' options
usage_digest() {
	cat <<EOF
  --events PATH      the events service, placesd-events (default:
                     \$PLACESD_EVENTS, else placesd-events beside placesd, else
                     src/placesd-events of the build directory)
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
  --sample N         digests fetched with curl during each digest run (the
                     latency service) and checked for a non-empty "errors";
                     0 = none (default: 50)
EOF
}

# digest_check_opts: check the options; conns_list, max_c; the binaries
digest_check_opts() {
	local c cl=()
	set_workers
	is_uint "$nplaces" && [ "$nplaces" -le 10000000 ] || die "--places: 1..10000000, not '$nplaces'"
	nplaces=$((10#$nplaces))
	[[ $seed =~ ^[0-9]+$ ]] || die "--seed: a number, not '$seed'"
	is_uint "$pool_size" && [ "$pool_size" -le 64 ] || die "--pool-size: 1..64, not '$pool_size'"
	latency=${latency%ms}
	is_uint "$latency" && [ "$latency" -le 60000 ] || die "--latency: milliseconds, 1..60000, not '$latency' (the 0 ms case is measured anyway)"
	latency=$((10#$latency))
		conns_list=()
	IFS=, read -r -a conns_list <<<"${conns_opt// /,}"
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
	find_binaries events
	need_tools wrk curl
}

# digest_setup: the session (bench_begin), the cluster, placesd's
# configuration, the seeded data, the bodies ($tmp/bodies.txt, one a
# line) and the wrk script ($tmp/digest.lua)
digest_setup() {
	events_pid='' events_port='' events_log='' curl_pid='' failed_reqs=() noisy=0 other_pct=''
	bench_begin dbench digest_cleanup
	declare -gA RPS P50 P99 OTH CPD CPG CEV CCL CID
	start_cluster "$pgdir" "$(pg_max_conn "$pool_size")" 512MB
	max_clients=$((2 * max_c + 1024))
	[ "$max_clients" -lt 4096 ] && max_clients=4096
	conf_server="max_connections = $max_clients"
	digest_conf 9 64m
	seed_cluster --seed "$seed"
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
	cp "$bench_dir/digest.lua" "$tmp/digest.lua"
}
# digest_conf EVENTS_PORT MAX_BYTES: conf_more for write_placesd_conf:
# [cache] max_bytes, [upstream] to the events service on EVENTS_PORT
digest_conf() {
	conf_more="[cache]
max_bytes = $2

[upstream]
events_url = http://127.0.0.1:$1/events
timeout = 2s
retries = 0
breaker_failures = 1000
keepalive = 512"
}
digest_cleanup() {
	kill_child "${curl_pid:-}"; curl_pid=''
	stop_placesd
	stop_events
}

stop_events() {
	[ -n "${events_pid:-}" ] || return 0
	stop_proc placesd-events "$events_pid" TERM 10
	events_pid=
	if [ "$stop_rc" != 0 ]; then
		note "placesd-events exited with status $stop_rc after SIGTERM (expected 0)"
		problems+=("placesd-events exited with status $stop_rc after SIGTERM (expected 0); see its log ${events_log##*/}")
		[ -s "$events_log" ] && { note "last lines of its log:"; tail -n 20 "$events_log" >&2; }
	fi
}


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

# digest_placesd NAME MAX_BYTES: a fresh placesd (fresh_placesd) whose
# events_url is the running events service's, [cache] max_bytes
# MAX_BYTES; one probe digest then shows that the endpoint is there and
# reaches the events service and the database
digest_placesd() {
	digest_conf "$events_port" "$2"
	fresh_placesd "$1 (start $((nstart + 1)))" "$1"
	probe_digest
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

# --------------------------------------------------------------- sample ---
# digest_sample_start OUT: $sample digests with curl, in the background, a second
# after the timed run starts, on one keep-alive connection
digest_sample_start() {
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
# digest_sample_end OUT: stop it (if the run ended first); sets sample_info,
# sample_got (200 answers), sample_err (of those: a non-empty "errors")
digest_sample_end() {
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
	cpu_take "+$placesd_pid" "+$pg_pid" "$events_pid"; t0=$split
	[ "$smp" = 1 ] && digest_sample_start "$out.sample"
	run_bg "$out" wrk -t"$th" -c"$c" -d"$duration" --timeout 10s --latency \
		-s "$tmp/digest.lua" "http://127.0.0.1:$placesd_port" -- "$tmp/bodies.txt"; rc=$?
	sample_info=; sample_err=0; sample_got=0
	[ "$smp" = 1 ] && digest_sample_end "$out.sample"
	cpu_take "+$placesd_pid" "+$pg_pid" "$events_pid"; t1=$split
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
	read -r "CPD[$k]" "CPG[$k]" "CEV[$k]" "CCL[$k]" "CID[$k]" <<<"$(cores_of "$t0" "$t1" 3)"
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
	digest_report_run "$cs" "$r" "$c" "$k" "$info"
}

digest_report_run() {
	local k=$4
	printf '%5s  %-10s %5s %9s %8.3f %9.3f %5s  %4.2f/%4.2f/%4.2f/%4.2f %4.2f   %s\n' "$2" "$1" "$3" \
		"$(fmt_rps "${RPS[$k]}")" "${P50[$k]}" "${P99[$k]}" "${OTH[$k]}" \
		"${CPD[$k]}" "${CPG[$k]}" "${CEV[$k]}" "${CCL[$k]}" "${CID[$k]}" "$5"
	[ "${OTH[$k]:-0}" -gt 10 ] && noisy=$((noisy + 1))
	return 0
}
digest_table_head() {
	printf '%5s  %-10s %5s %9s %8s %9s %5s  %-19s %4s   %s\n' round case conns "req/s" "p50 ms" "p99 ms" "oth%" \
		"cores pd/pg/ev/cl" idle notes
	printf '%s\n' "--------------------------------------------------------------------------------------------------------------"
}

digest_warmup() {
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

# block_latency ROUND MODES C1: the events service at --latency; for each
# read model mode of MODES (on: [cache] max_bytes 64m, off: 0; reversed in
# even rounds) a fresh placesd and digest at each connection count
# (digest/off with the read model off when MODES is "on off"); C1=1:
# digest/c1 as well, first in odd rounds and last in even ones
block_latency() {
	local r=$1 c m cs mb name modes=$2
	[ $((r % 2)) -eq 0 ] && modes=$(tr ' ' '\n' <<<"$modes" | tac | tr '\n' ' ')
	for m in $modes; do
		cs=digest mb=64m name=d$latency
		[ "$m" = off ] && mb=0
		[ "$m" = off ] && [ "$2" = "on off" ] && cs=digest/off name=d$latency-off
		start_events "d$latency" "$latency"
		digest_placesd "$name" "$mb"
		digest_warmup
		[ "$3" = 1 ] && [ $((r % 2)) -eq 1 ] && run_digest digest/c1 "$r" 1 0
		for c in $(conns_order "$r"); do
			run_digest "$cs" "$r" "$c" 1
		done
		[ "$3" = 1 ] && [ $((r % 2)) -eq 0 ] && run_digest digest/c1 "$r" 1 0
		stop_placesd
		stop_events
	done
}

# digest_run TITLE RM_LINE EV_LINE: the printout's head (RM_LINE: the read
# model's, EV_LINE: the events service's), the events service's own
# latency, then each round (the script's digest_round ROUND) and the legend
digest_run() {
	local ev_ms=() r
	echo "$1  $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
	echo "  placesd:    $placesd_bin ($("$placesd_bin" -V 2>/dev/null | head -n 1)), workers $workers, pool_size $pool_size"
	echo "  upstream:   timeout 2s, retries 0, breaker_failures 1000, keepalive 512"
	echo "  read model: $2"
	echo "  events:     $events_bin, $3"
	echo "  PostgreSQL: $(pg_version) ($pg_bindir), Unix socket, fsync off, shared_buffers 512MB"
	echo "  data:       $nplaces places, $seeded_menu menu items, $seeded_offers offers (seed $seed; seeded in ${t_seed} s), $ncities cities with places"
	echo "  bodies:     $nbodies: {\"date\":D,\"city\":C,\"limit\":10}, the $ncities cities round-robin, D in ${dates%% *}..${dates##* }"
	echo "  wrk:        -t$threads (at most one per connection) -c ${conns_list[*]} and 1 -d$duration --latency; warm-up -c$max_c -d$warmup"
	echo "  rounds:     $rounds, order alternates each round; curl sample of $sample digests per digest run"
	machine_line "clients, servers and PostgreSQL"
	warn_busy

	# the events service's own latency, as a client sees it
	start_events check "$latency"
	for _ in 1 2 3 4 5; do
		ev_ms+=("$(curl -s -o /dev/null --max-time 10 -w '%{time_total}' \
			"http://127.0.0.1:$events_port/events/2026-11-23?city=$(head -n 1 "$tmp/cities.txt")" |
			awk '{ printf "%.3f", $1 * 1000 }')")
	done
	stop_events
	echo "  check:      GET /events on placesd-events -d $latency answers in $(median "${ev_ms[@]}") ms (median of 5, curl)"
	echo

	digest_table_head
	for r in $(seq 1 "$rounds"); do
		digest_round "$r"
	done
	echo "cores pd/pg/ev/cl = CPU time in cores of placesd, PostgreSQL, the events service and the clients (wrk, curl); idle = cores left idle"
	echo "oth% = share of all CPU time used by other processes during that run"
}

# digest_med ARRAY KEY: the median over the rounds of ARRAY[KEY,round]
digest_med() {
	local -n A=$1
	local v=() r
	for r in $(seq 1 "$rounds"); do [ -n "${A[$2,$r]:-}" ] && v+=("${A[$2,$r]}"); done
	median "${v[@]}"
}
# cores_med KEY: the median cores of each kind, "PD/PG/EV/CL IDLE"
cores_med() {
	printf '%.2f/%.2f/%.2f/%.2f %.2f' "$(digest_med CPD "$1")" "$(digest_med CPG "$1")" "$(digest_med CEV "$1")" \
		"$(digest_med CCL "$1")" "$(digest_med CID "$1")"
}

# digest_problems: the noisy runs, what placesd and PostgreSQL logged, to
# problems; then the failed requests, if any
digest_problems() {
	local f n
	[ "$noisy" -gt 0 ] && problems+=("$noisy run(s) shared the machine with other busy processes (oth% > 10): those figures are noisy, rerun on a quiet machine")
	for f in "$tmp"/placesd-*.log; do
		[ -s "$f" ] || continue
		n=$(wc -l <"$f" | tr -d ' ')
		problems+=("placesd logged $n line(s) at warn or above in ${f##*/}: $(head -n 3 "$f" | tr '\n' '|' | cut -c1-300)")
	done
	pg_log_problems
	echo
	fail_banner "REQUESTS FAILED: the figures above count failed requests too" "${failed_reqs[@]}"
}
# digest_notes: the notes, or that there were none
digest_notes() {
	if [ ${#problems[@]} -eq 0 ] && [ ${#failed_reqs[@]} -gt 0 ]; then
		echo "No further notes: one events call per digest, no upstream failures, no database errors or timeouts, nothing logged."
	else
		print_notes "No non-2xx answers, no socket errors, no digests with errors, one events call per digest, no upstream failures, no database errors or timeouts, nothing logged."
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
