#!/bin/bash
# shellcheck disable=SC2034,SC2154 # variables shared with lib.sh
# tests/bench/healthz.sh -- GET /healthz throughput: placesd vs. nginx.
#
# Run on demand, not by `make check`.  Both servers get the same number of
# workers, each with its own SO_REUSEPORT socket; wrk alternates between
# them for several rounds at each connection count.  Everything started is
# stopped on exit, failure or Ctrl-C.  The method and what the oth% column
# means: tests/bench/README.md.
#
# Exit status: 0 when every run completed (problems are listed under
# "Notes"), 1 when placesd, nginx or wrk failed, 2 on a usage or setup error.
# Needs: wrk, nginx-light, curl.

set -u
set -o pipefail

# bench-quick: --rounds 1 --duration 3s --connections 64 --warmup 0
prog=${0##*/}
# shared helpers: die, note, is_running, stop_proc, free_port, median, ...
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || { echo "$prog: cannot read lib.sh beside it" >&2; exit 2; }

usage() {
	cat <<EOF
Usage: $prog [OPTIONS]

Benchmark GET /healthz of placesd against nginx returning the same body.

Options:
  --placesd PATH     placesd binary (default: \$PLACESD, else src/placesd of the
                     build directory: \$top_builddir/src/placesd, ./src/placesd
                     or ../../src/placesd relative to the current directory)
  --workers N|auto   workers of placesd = worker_processes of nginx
                     (default: auto = $(nproc 2>/dev/null || echo '?') online cores)
  --rounds R         rounds per connection count (default: 3)
  --duration D       length of one wrk run, wrk syntax: 10s, 1m (default: 10s)
  --connections LIST connection counts, space or comma separated (default: "64 256")
  --threads T        wrk threads (default: 2)
  --warmup D         one untimed wrk run per server before measuring; 0 = none
                     (default: 2s)
  --keep DIR         copy the configs, logs and raw wrk outputs to DIR
  -h, --help         this text

Examples, from a build directory (SRCDIR = the source tree):
  SRCDIR/tests/bench/healthz.sh --rounds 5 --duration 15s
  PLACESD=\$PWD/src/placesd SRCDIR/tests/bench/healthz.sh --workers 1 --connections 64
EOF
}

# ---------------------------------------------------------------- options ---
placesd_bin=${PLACESD:-}
workers=auto
rounds=3
duration=10s
connections="64 256"
threads=2
warmup=2s
keep_dir=

while [ $# -gt 0 ]; do
	case $1 in
	--placesd)     need_arg "$@"; placesd_bin=$2; shift 2 ;;
	--placesd=*)   placesd_bin=${1#*=}; shift ;;
	--workers)     need_arg "$@"; workers=$2; shift 2 ;;
	--workers=*)   workers=${1#*=}; shift ;;
	--rounds)      need_arg "$@"; rounds=$2; shift 2 ;;
	--rounds=*)    rounds=${1#*=}; shift ;;
	--duration)    need_arg "$@"; duration=$2; shift 2 ;;
	--duration=*)  duration=${1#*=}; shift ;;
	--connections) need_arg "$@"; connections=$2; shift 2 ;;
	--connections=*) connections=${1#*=}; shift ;;
	--threads)     need_arg "$@"; threads=$2; shift 2 ;;
	--threads=*)   threads=${1#*=}; shift ;;
	--warmup)      need_arg "$@"; warmup=$2; shift 2 ;;
	--warmup=*)    warmup=${1#*=}; shift ;;
	--keep)        need_arg "$@"; keep_dir=$2; shift 2 ;;
	--keep=*)      keep_dir=${1#*=}; shift ;;
	-h|--help)     usage; exit 0 ;;
	*)             usage >&2; die "unknown argument: $1" ;;
	esac
done

if [ "$workers" = auto ]; then
	nworkers=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN) || die "cannot count the cores; use --workers N"
else
	is_uint "$workers" && [ "$workers" -le 64 ] || die "--workers: 1..64 or auto, not '$workers'"
	nworkers=$((10#$workers))
	workers=$nworkers
fi
is_uint "$rounds" || die "--rounds: a positive integer, not '$rounds'"
is_uint "$threads" || die "--threads: a positive integer, not '$threads'"
is_duration "$duration" && [ "${duration%[smh]}" -gt 0 ] || die "--duration: e.g. 10s or 1m, not '$duration'"
[[ $warmup =~ ^0+[smh]?$ ]] && warmup=0
[ "$warmup" = 0 ] || is_duration "$warmup" || die "--warmup: e.g. 2s or 0, not '$warmup'"
connections=${connections//,/ }
read -r -a conn_list <<<"$connections"
[ ${#conn_list[@]} -gt 0 ] || die "--connections: empty list"
for c in "${conn_list[@]}"; do
	is_uint "$c" || die "--connections: positive integers, not '$c'"
	[ "$c" -ge "$threads" ] || die "--connections: $c is fewer than --threads $threads (wrk needs one per thread)"
done

# placesd binary
if [ -z "$placesd_bin" ]; then
	placesd_bin=$(find_build_bin placesd)
	[ -n "$placesd_bin" ] || die "placesd not found: use --placesd PATH or PLACESD=PATH, or run from the build directory"
fi
[ -x "$placesd_bin" ] && [ -f "$placesd_bin" ] || die "not an executable file: $placesd_bin"
placesd_bin=$(abs_path "$placesd_bin")

# tools
find_nginx() {
	command -v nginx 2>/dev/null && return 0
	[ -x /usr/sbin/nginx ] && { echo /usr/sbin/nginx; return 0; }
	return 1
}
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
find_nginx >/dev/null || missing+=(nginx-light)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
		note "installing ${missing[*]} (apt-get install ${missing[*]})"
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >&2 ||
			die "apt-get install ${missing[*]} failed"
	else
		die "missing ${missing[*]}: apt-get install ${missing[*]}"
	fi
	command -v wrk >/dev/null 2>&1 || die "wrk still missing"
	find_nginx >/dev/null || die "nginx still missing"
	command -v curl >/dev/null 2>&1 || die "curl still missing"
fi
nginx_bin=$(find_nginx)

# ---------------------------------------------------------------- cleanup ---
tmp=
placesd_pid=
nginx_pid=
wrk_pid=
cleaned=

cleanup() {
	[ -n "$cleaned" ] && return
	cleaned=1
	trap '' INT TERM
	if [ -n "$wrk_pid" ]; then
		kill -TERM "$wrk_pid" 2>/dev/null; wait "$wrk_pid" 2>/dev/null; wrk_pid=
	fi
	if [ -n "$nginx_pid" ]; then
		stop_proc nginx "$nginx_pid" TERM 10; nginx_pid=
	fi
	if [ -n "$placesd_pid" ]; then
		stop_proc placesd "$placesd_pid" TERM 40
		placesd_pid=
		if [ "$stop_rc" != 0 ]; then
			note "placesd exited with status $stop_rc after SIGTERM (expected 0)"
			[ -s "$tmp/placesd.log" ] && { note "last lines of its log:"; tail -n 20 "$tmp/placesd.log" >&2; }
		fi
	fi
	if [ -n "$keep_dir" ] && [ -n "$tmp" ] && [ -d "$tmp" ]; then
		mkdir -p "$keep_dir" && cp -r "$tmp"/. "$keep_dir"/ 2>/dev/null &&
			note "configs, logs and wrk outputs kept in $keep_dir"
	fi
	[ -n "$tmp" ] && rm -rf "$tmp"
}
trap 'cleanup' EXIT
trap 'note "interrupted"; exit 130' INT
trap 'note "terminated"; exit 143' TERM

tmp=$(mktemp -d "${TMPDIR:-/tmp}/placesd-bench.XXXXXX") || die "mktemp failed"
# The ranker's Unix socket path must fit in sun_path (108 bytes).
[ ${#tmp} -le 80 ] || die "temporary directory path too long for a Unix socket: $tmp (set TMPDIR=/tmp)"

# ------------------------------------------------------------------ helpers ---
# run_wrk NAME PORT CONNS DURATION OUTFILE: wrk in the background so that a
# signal to this script is handled at once.
# Sets $other_pct: the share of the machine's CPU time that processes other
# than placesd, nginx and wrk used during the run (another build or test
# running meanwhile makes the figures noisy).
other_pct=
run_wrk() {
	local name=$1 port=$2 conns=$3 dur=$4 out=$5 t0 t1
	cpu_snapshot "+$placesd_pid" "$nginx_pid"; t0=$snap
	wrk -t"$threads" -c"$conns" -d"$dur" --latency "http://127.0.0.1:$port/healthz" >"$out" 2>&1 &
	wrk_pid=$!
	wait "$wrk_pid"; local rc=$?
	wrk_pid=
	cpu_snapshot "+$placesd_pid" "$nginx_pid"; t1=$snap
	other_pct=$(other_pct "$t0" "$t1")
	[ $rc -eq 0 ] || { note "wrk against $name failed (status $rc):"; cat "$out" >&2; return 1; }
	grep -q '^Requests/sec:' "$out" || { note "no Requests/sec in wrk output for $name:"; cat "$out" >&2; return 1; }
}

# check that NAME (PID) is still up, else show its log and fail
check_alive() {
	local name=$1 pid=$2 log=$3
	is_running "$pid" && return 0
	wait "$pid" 2>/dev/null; local rc=$?
	note "$name (pid $pid) exited unexpectedly with status $rc"
	[ -s "$log" ] && { note "last lines of $log:"; tail -n 30 "$log" >&2; }
	[ "$name" = placesd ] && placesd_pid= || nginx_pid=
	exit 1
}

# wait_healthz NAME PID LOG PORT: until GET /healthz answers 200 (20 s at most)
wait_healthz() {
	local name=$1 pid=$2 log=$3 port=$4 i code
	for i in $(seq 1 200); do
		check_alive "$name" "$pid" "$log"
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/healthz" 2>/dev/null)
		[ "$code" = 200 ] && return 0
		sleep 0.1
	done
	note "$name did not answer GET /healthz with 200 within 20 s (last status: ${code:-none})"
	[ -s "$log" ] && { note "last lines of $log:"; tail -n 30 "$log" >&2; }
	exit 1
}

# ------------------------------------------------------------ start placesd ---
placesd_port=$(free_port) || die "no free port found"
cat >"$tmp/placesd.conf" <<EOF
# written by $prog
[server]
listen = 127.0.0.1:$placesd_port
workers = $workers

[ranker]
socket = $tmp/ranker.sock

[log]
level = warn
EOF

spawn_placesd "$tmp/placesd.conf" "$tmp/placesd.log"
wait_healthz placesd "$placesd_pid" "$tmp/placesd.log" "$placesd_port"

curl -s -D "$tmp/placesd.headers" -o "$tmp/healthz.body" --max-time 2 \
	"http://127.0.0.1:$placesd_port/healthz" || die "cannot fetch /healthz from placesd"
body=$(cat "$tmp/healthz.body")
[ -n "$body" ] || die "placesd answered /healthz with an empty body"
ctype=$(tr -d '\r' <"$tmp/placesd.headers" | awk -F': *' 'tolower($1) == "content-type" { print $2 }')
[ "$ctype" = "application/json; charset=utf-8" ] ||
	note "odd: placesd /healthz Content-Type is '${ctype:-none}', expected 'application/json; charset=utf-8'"

# Every worker should be serving before we measure: the master binds one
# SO_REUSEPORT socket per slot, so a slot whose worker is not up yet would
# queue its share of the connections.  New connections land on the slots by
# the kernel's hash; look for every slot number in /healthz bodies (5 s).
slots_seen=$(slots_serving "$placesd_port" "$nworkers")
if [ "$(wc -w <<<"$slots_seen")" -lt "$nworkers" ]; then
	note "odd: /healthz bodies named worker slot(s) ${slots_seen:-none} only, expected $nworkers different ones"
fi

# -------------------------------------------------------------- start nginx ---
nginx_port=$(free_port) || die "no free port found"
while [ "$nginx_port" = "$placesd_port" ]; do nginx_port=$(free_port) || die "no free port found"; done
mkdir -p "$tmp/nginx/logs" "$tmp/nginx/temp"
# nginx single-quoted string: escape backslashes and quotes
nbody=${body//\\/\\\\}
nbody=${nbody//\'/\\\'}
user_line=
[ "$(id -u)" -eq 0 ] && user_line="user root;"
cat >"$tmp/nginx/nginx.conf" <<EOF
# written by $prog
$user_line
worker_processes $nworkers;
daemon off;
master_process on;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log warn;

events {
    worker_connections 4096;
}

http {
    access_log off;
    # placesd keeps a keep-alive connection open for any number of requests;
    # nginx's default would close it after 1000.
    keepalive_requests 100000000;
    keepalive_timeout 60s;
    client_body_temp_path $tmp/nginx/temp/client_body;
    proxy_temp_path $tmp/nginx/temp/proxy;
    fastcgi_temp_path $tmp/nginx/temp/fastcgi;
    uwsgi_temp_path $tmp/nginx/temp/uwsgi;
    scgi_temp_path $tmp/nginx/temp/scgi;

    server {
        # one SO_REUSEPORT socket per worker, as placesd does
        listen 127.0.0.1:$nginx_port reuseport backlog=1024;
        location = /healthz {
            default_type "application/json; charset=utf-8";
            return 200 '$nbody';
        }
    }
}
EOF

"$nginx_bin" -t -q -p "$tmp/nginx" -e "$tmp/nginx/logs/error.log" -c "$tmp/nginx/nginx.conf" \
	>"$tmp/nginx/t.out" 2>&1 || { note "nginx -t rejects its configuration:"; cat "$tmp/nginx/t.out" >&2; exit 1; }
setsid "$nginx_bin" -p "$tmp/nginx" -e "$tmp/nginx/logs/error.log" -c "$tmp/nginx/nginx.conf" \
	</dev/null >"$tmp/nginx/stderr.log" 2>&1 &
nginx_pid=$!
wait_healthz nginx "$nginx_pid" "$tmp/nginx/logs/error.log" "$nginx_port"

nginx_body=$(curl -s --max-time 2 "http://127.0.0.1:$nginx_port/healthz") || die "cannot fetch /healthz from nginx"
[ "$nginx_body" = "$body" ] || die "nginx body differs from placesd's: '$nginx_body' vs '$body'"
curl -s -D "$tmp/nginx.headers" -o /dev/null --max-time 2 "http://127.0.0.1:$nginx_port/healthz"
hdr_bytes() { wc -c <"$1" | tr -d ' '; }

# ------------------------------------------------------------------ run ------
echo "placesd healthz benchmark  $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
echo "  placesd:  $placesd_bin ($("$placesd_bin" -V 2>/dev/null | head -n 1)), port $placesd_port, workers $workers (slots seen: ${slots_seen% })"
echo "  nginx:    $nginx_bin ($("$nginx_bin" -v 2>&1 | sed 's/^nginx version: //')), port $nginx_port, worker_processes $nworkers"
echo "  wrk:      -t$threads -c{${conn_list[*]}} -d$duration --latency, $rounds rounds, order alternates each round"
echo "  machine:  $(nproc) cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null); clients and servers share the cores"
echo "  body:     $body ($(wc -c <"$tmp/healthz.body" | tr -d ' ') bytes; headers: placesd $(hdr_bytes "$tmp/placesd.headers") B, nginx $(hdr_bytes "$tmp/nginx.headers") B)"
echo

# (placesd and nginx run in process groups of their own: leave those out)
busy=$(ps -eo pcpu=,pgid=,pid=,args= --sort=-pcpu 2>/dev/null |
	awk -v a="$placesd_pid" -v b="$nginx_pid" -v me=$$ '$1 >= 20 && $2 != a && $2 != b && $2 != me' | head -n 3)
[ -n "$busy" ] && note "other busy processes on this machine, figures will be noisy:" && sed 's/^/    /' <<<"$busy" >&2

if [ "$warmup" != 0 ]; then
	run_wrk placesd "$placesd_port" "${conn_list[0]}" "$warmup" "$tmp/warmup-placesd.txt" || exit 1
	run_wrk nginx "$nginx_port" "${conn_list[0]}" "$warmup" "$tmp/warmup-nginx.txt" || exit 1
fi

declare -A RPS P99 RATIO P99RATIO
problems=()
order=(placesd nginx)
printf '%-5s %5s  %-8s %9s %8s %5s   %-8s %9s %8s %5s   %7s\n' \
	conns round first "req/s" "p99 ms" "oth%" second "req/s" "p99 ms" "oth%" "pd/ngx"
printf '%s\n' "-----------------------------------------------------------------------------------------"
noisy=0
for c in "${conn_list[@]}"; do
	for r in $(seq 1 "$rounds"); do
		if [ $((r % 2)) -eq 1 ]; then order=(placesd nginx); else order=(nginx placesd); fi
		line=$(printf '%-5s %5s' "$c" "$r")
		for s in "${order[@]}"; do
			if [ "$s" = placesd ]; then port=$placesd_port; pid=$placesd_pid; log=$tmp/placesd.log
			else port=$nginx_port; pid=$nginx_pid; log=$tmp/nginx/logs/error.log; fi
			out="$tmp/wrk-$s-c$c-r$r.txt"
			run_wrk "$s" "$port" "$c" "$duration" "$out" || exit 1
			check_alive "$s" "$pid" "$log"
			read -r rps p99 reqs non2xx sock <<<"$(parse_wrk "$out")"
			RPS[$s,$c,$r]=$rps
			P99[$s,$c,$r]=$p99
			line+=$(printf '  %-8s %9s %8.3f %5s ' "$s" "$(fmt_rps "$rps")" "$p99" "$other_pct")
			[ "${other_pct:-0}" -gt 10 ] && noisy=$((noisy + 1))
			if [ "${non2xx:-0}" != 0 ]; then
				problems+=("$s c=$c round $r: $non2xx non-2xx/3xx responses of $reqs requests")
			fi
			if [ -n "$sock" ]; then
				problems+=("$s c=$c round $r: socket errors: ${sock//_/ }")
			fi
		done
		RATIO[$c,$r]=$(awk -v a="${RPS[placesd,$c,$r]}" -v b="${RPS[nginx,$c,$r]}" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
		P99RATIO[$c,$r]=$(awk -v a="${P99[placesd,$c,$r]}" -v b="${P99[nginx,$c,$r]}" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
		printf '%s  %7s\n' "$line" "${RATIO[$c,$r]}"
	done
done

echo
echo "Medians over $rounds rounds (ratio = median of the per-round placesd/nginx ratios)"
printf '%-5s  %12s %10s  %12s %10s  %12s %12s\n' conns "placesd r/s" "p99 ms" "nginx r/s" "p99 ms" "r/s ratio" "p99 ratio"
printf '%s\n' "-----------------------------------------------------------------------------------"
for c in "${conn_list[@]}"; do
	pr=(); pp=(); nr=(); np=(); rr=(); lr=()
	for r in $(seq 1 "$rounds"); do
		pr+=("${RPS[placesd,$c,$r]}"); pp+=("${P99[placesd,$c,$r]}")
		nr+=("${RPS[nginx,$c,$r]}"); np+=("${P99[nginx,$c,$r]}")
		rr+=("${RATIO[$c,$r]}"); lr+=("${P99RATIO[$c,$r]}")
	done
	printf '%-5s  %12s %10.3f  %12s %10.3f  %12.3f %12.3f\n' "$c" \
		"$(fmt_rps "$(median "${pr[@]}")")" "$(median "${pp[@]}")" \
		"$(fmt_rps "$(median "${nr[@]}")")" "$(median "${np[@]}")" \
		"$(median "${rr[@]}")" "$(median "${lr[@]}")"
	bench_row "healthz c=$c placesd/nginx r/s" "$(median "${rr[@]}")" x ">=0.9"
	bench_row "healthz c=$c placesd req/s" "$(median "${pr[@]}")" "req/s"
done

echo "oth% = share of all CPU time used by processes other than placesd, nginx and wrk during that run"

# placesd's own counters: per-slot share of the requests, status classes.
# Every wrk connection is closed by now: give placesd a second to notice.
sleep 1
if curl -s --max-time 2 -o "$tmp/metrics.txt" "http://127.0.0.1:$placesd_port/metrics" &&
	grep -q '^placesd_' "$tmp/metrics.txt"; then
	echo
	echo "placesd /metrics after the run:"
	grep -E '^placesd_(worker_http_requests_total|http_requests_total|worker_restarts_total|http_connections_open)[{ ]' \
		"$tmp/metrics.txt" | sed 's/^/  /'
	bad=$(awk '/^placesd_http_requests_total\{code_class="[1345]xx"\}/ && $2 + 0 > 0' "$tmp/metrics.txt")
	[ -n "$bad" ] && problems+=("placesd counted non-2xx answers: $(tr '\n' ' ' <<<"$bad")")
	open_conns=$(awk '/^placesd_http_connections_open / { print $2 + 0 }' "$tmp/metrics.txt")
	# 1 = the connection that fetched /metrics
	if [ -n "$open_conns" ] && [ "$open_conns" -gt 1 ]; then
		cw=$(ss -Htan "sport = :$placesd_port" 2>/dev/null | grep -c '^CLOSE-WAIT')
		problems+=("placesd_http_connections_open is $open_conns 1 s after wrk closed all its connections (1 expected; $cw socket(s) in CLOSE-WAIT on its port): closed client connections are still held")
	fi
	restarts=$(awk '/^placesd_worker_restarts_total/ && $2 + 0 > 0' "$tmp/metrics.txt")
	[ -n "$restarts" ] && problems+=("placesd restarted children during the run: $(tr '\n' ' ' <<<"$restarts")")
else
	problems+=("GET /metrics of placesd gave no placesd_* series")
fi

[ "$noisy" -gt 0 ] && problems+=("$noisy run(s) shared the machine with other busy processes (oth% > 10): those figures are noisy, rerun on a quiet machine")

# what placesd logged at level warn or above during the run
if [ -s "$tmp/placesd.log" ]; then
	n=$(wc -l <"$tmp/placesd.log" | tr -d ' ')
	problems+=("placesd logged $n line(s) at warn or above (first ones below)")
fi
ng_err=$(grep -c -v -e '^$' "$tmp/nginx/logs/error.log" 2>/dev/null)
[ "${ng_err:-0}" != 0 ] && problems+=("nginx logged $ng_err line(s) in its error log")

echo
if [ ${#problems[@]} -eq 0 ]; then
	echo "No non-2xx responses, no socket errors, nothing logged by either server."
else
	echo "Notes:"
	printf '  - %s\n' "${problems[@]}"
	if [ -s "$tmp/placesd.log" ]; then
		echo "  placesd log:"
		head -n 10 "$tmp/placesd.log" | sed 's/^/    /'
	fi
fi
exit 0
