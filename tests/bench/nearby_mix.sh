#!/bin/bash
# shellcheck disable=SC2034,SC2154 # variables shared with lib.sh
# tests/bench/nearby_mix.sh -- GET /v1/nearby with a mix of queries like
# people's, each class on its own and mixed, one placesd build against
# another on the same data, and /healthz's p99 while ranking is saturated.
#
# Run on demand; this is not part of `make check`, and it builds nothing.
# It starts a throw-away PostgreSQL cluster in a temporary directory,
# migrates and seeds it with placesctl, starts the placesd builds named
# (--placesd, and --base when given) side by side on the same database,
# each on its own port and ranker socket, and then, for --rounds rounds
# whose order of builds alternates, runs wrk on each class:
#
#   near   50% of the mix: a point near a city centre, radius 1-3 km,
#          limit 10, no other parameter
#   heavy  30%: radius 15-50 km, one or two cuisines, max_price 2-4,
#          open_now, limit 20-100
#   text   20%: q of 1-4 words (dishes, name and description words),
#          radius 5-15 km
#   mix    the three in those shares, shuffled
#
# and /healthz, alone (idle) and while a second wrk saturates the mix
# (sat): paced, --probe-rate requests a second on each of
# --probe-connections keep-alive connections (h2load), as a health checker
# asks; with --probe-rate 0, wrk as fast as it can, which measures the
# probe's own saturation as much as the server.  Points are drawn around
# the seeded cities in proportion to their places, spread as their places
# are.
#
# It prints every run, then per class the medians of req/s, p50 and p99
# per build and the ratio of the medians (build / base), and the probe's
# p99 sat / idle per build.  With --big it does it all again at
# --big-places places (the builds restarted on the reseeded database).
#
# Exit status: 0 when every run completed, 1 when a process or wrk failed,
# 2 on a usage or setup error.  Needs: wrk, curl, PostgreSQL's binaries.

set -u
set -o pipefail

# bench-quick: --rounds 1 --duration 3s --places 20000
prog=${0##*/}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || { echo "$prog: cannot read lib.sh beside it" >&2; exit 2; }

usage() {
	cat <<EOF
Usage: $prog [OPTIONS]

Options:
  --placesd PATH     placesd binary measured (default: \$PLACESD, else the
                     build directory's src/placesd)
  --base PATH        a second placesd binary to compare with (optional)
  --placesctl PATH   placesctl (default: \$PLACESCTL, else beside placesd)
  --sql-dir DIR      migrations (default: \$SQL_DIR, else src/sql of this tree)
  --places N         places seeded (default: 100000)
  --big              then again at --big-places (default: 1000000)
  --big-places N
  --workers N        placesd workers (default: 2)
  --rounds R         rounds (default: 3)
  --duration D       one wrk run (default: 10s)
  --connections C    wrk connections on /v1/nearby (default: 64)
  --probe-connections C  the /healthz probe's (default: 8)
  --probe-rate R     its requests a second per connection (default: 25;
                     0: unpaced, wrk, one run idle and one saturated)
  --probe-windows W  paced: W idle and W saturated windows, alternating,
                     the saturating wrk stopped and continued (default: 6)
  --probe-window S   seconds of one window (default: 3)
  --classes LIST     of near heavy text mix (default: all four)
  --conf-extra TEXT  lines added to both builds' [ranker] section
  --keep DIR         keep configs, logs and raw wrk outputs in DIR
  -h, --help
EOF
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
new_bin=${PLACESD:-}
base_bin=
placesctl_bin=${PLACESCTL:-}
sql_dir=${SQL_DIR:-$here/../../src/sql}
nplaces=100000 big='' big_places=1000000 workers=2 rounds=3 duration=10s
conns=64 pconns=8 prate=25 pwindows=6 pwindow=3 classes="near heavy text mix" conf_extra='' keep_dir='' pg_bindir=''
while [ $# -gt 0 ]; do
	case $1 in
	--placesd) need_arg "$@"; new_bin=$2; shift ;;
	--base) need_arg "$@"; base_bin=$2; shift ;;
	--placesctl) need_arg "$@"; placesctl_bin=$2; shift ;;
	--sql-dir) need_arg "$@"; sql_dir=$2; shift ;;
	--places) need_arg "$@"; nplaces=$2; shift ;;
	--big) big=1 ;;
	--big-places) need_arg "$@"; big_places=$2; shift ;;
	--workers) need_arg "$@"; workers=$2; shift ;;
	--rounds) need_arg "$@"; rounds=$2; shift ;;
	--duration) need_arg "$@"; duration=$2; shift ;;
	--connections) need_arg "$@"; conns=$2; shift ;;
	--probe-connections) need_arg "$@"; pconns=$2; shift ;;
	--probe-rate) need_arg "$@"; prate=$2; shift ;;
	--probe-windows) need_arg "$@"; pwindows=$2; shift ;;
	--probe-window) need_arg "$@"; pwindow=$2; shift ;;
	--classes) need_arg "$@"; classes=${2//,/ }; shift ;;
	--conf-extra) need_arg "$@"; conf_extra=$2; shift ;;
	--keep) need_arg "$@"; keep_dir=$2; shift ;;
	-h|--help) usage; exit 0 ;;
	*) die "unknown option $1 (see --help)" ;;
	esac
	shift
done
for v in "$nplaces" "$big_places" "$workers" "$rounds" "$conns" "$pconns" "$pwindows" "$pwindow"; do
	is_uint "$v" || die "not a positive integer: $v"
done
is_duration "$duration" || die "bad --duration $duration"
[[ $prate =~ ^[0-9]+$ ]] || die "not a rate: $prate"
for c in $classes; do
	case $c in near|heavy|text|mix) ;; *) die "unknown class $c" ;; esac
done
[ -n "$new_bin" ] || new_bin=$(find_build_bin placesd) || die "no placesd found: --placesd PATH"
[ -n "$placesctl_bin" ] || placesctl_bin=$(dirname "$new_bin")/placesctl
for b in "$new_bin" $base_bin "$placesctl_bin"; do
	[ -x "$b" ] || die "not an executable: $b"
done
[ -d "$sql_dir" ] || die "no migrations in $sql_dir"
need_tools wrk curl
[ "$prate" = 0 ] || command -v h2load >/dev/null || die "the paced probe needs h2load: apt-get install nghttp2-client"
pg_runner_setup
find_postgres

# the builds: label -> binary, port, pid
builds=(new)
[ -n "$base_bin" ] && builds=(base new)
declare -A bin port pid
bin[new]=$(abs_path "$new_bin")
[ -n "$base_bin" ] && bin[base]=$(abs_path "$base_bin")

tmp='' pg_started='' pg_pid='' placesd_pid='' child_pid='' sat_pid='' cleaned=''
cleanup() {
	[ -n "$cleaned" ] && return
	cleaned=1
	trap '' INT TERM
	[ -n "$sat_pid" ] && kill -CONT "$sat_pid" 2>/dev/null   # a probe window stopped it
	kill_child "$sat_pid"
	kill_child "$child_pid"
	stop_builds
	stop_postgres
	keep_outputs
	[ -n "$tmp" ] && rm -rf "$tmp"
}
trap 'cleanup' EXIT
trap 'note "interrupted"; exit 130' INT
trap 'note "terminated"; exit 143' TERM
problems=()
make_tmp mix
pgdir=$tmp/pg
start_cluster "$pgdir" $((${#builds[@]} * workers * 8 + 40)) 512MB

# write_conf FILE PORT SOCKET
write_conf() {
	cat >"$1" <<EOF
[server]
listen = 127.0.0.1:$2
workers = $workers
[database]
conninfo = $conninfo
[ranker]
socket = $3
$conf_extra
[log]
level = warn
EOF
}

start_builds() {
	local b
	for b in "${builds[@]}"; do
		port[$b]=$(free_port) || die "no free port"
		placesd_bin=${bin[$b]} placesd_port=${port[$b]}
		placesd_conf=$tmp/$b.conf placesd_log=$tmp/$b.log
		write_conf "$placesd_conf" "$placesd_port" "$tmp/$b.sock"
		nworkers=$workers
		launch_placesd "$b"
		pid[$b]=$placesd_pid
		placesd_pid=
	done
}

stop_builds() {
	local b
	for b in "${builds[@]}"; do
		[ -n "${pid[$b]:-}" ] || continue
		placesd_pid=${pid[$b]} placesd_log=$tmp/$b.log
		stop_placesd
		pid[$b]=
	done
}

# ------------------------------------------------------------ the mix ---
# words_sql TABLE COLUMN N: the N commonest words of 4+ letters there
words_sql() {
	echo "(SELECT w FROM (SELECT lower(w) w, count(*) FROM $1,
		regexp_split_to_table($2, '[^[:alpha:]]+') w WHERE length(w) >= 4
		GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $3) s$1$2)"
}

read_data() {
	psql_q -F ' ' -c "SELECT c.lat, c.lon, count(*),
		sqrt(avg(((p.lat - c.lat) * 111.2) ^ 2 + ((p.lon - c.lon) * 111.2 * cos(radians(c.lat))) ^ 2) / 2)
		FROM cities c JOIN places p ON p.city_id = c.id GROUP BY c.id ORDER BY 3 DESC, c.id" >"$tmp/cities.txt" &&
	psql_q -c "SELECT DISTINCT unnest(cuisines) FROM places ORDER BY 1" >"$tmp/cuisines.txt" &&
	psql_q -c "$(words_sql menu_items name 40) UNION $(words_sql places name 20)
		UNION $(words_sql places description 20)" >"$tmp/words.txt" ||
		{ note "cannot read the cities, cuisines and menu words"; exit 1; }
	[ -s "$tmp/cities.txt" ] && [ -s "$tmp/cuisines.txt" ] && [ -s "$tmp/words.txt" ] ||
		{ note "the seeded data has no cities, cuisines or menu words"; exit 1; }
}

# write_paths CLASS FILE N SEED
write_paths() {
	awk -v cls="$1" -v n="$3" -v seed="$4" -v cuif="$tmp/cuisines.txt" -v wf="$tmp/words.txt" '
	function gauss(  u) { u = rand(); if (u < 1e-12) u = 1e-12
		return sqrt(-2 * log(u)) * cos(6.283185307179586 * rand()) }
	function pick(a, m) { return a[1 + int(rand() * m)] }
	function point(  x, c) {
		x = rand() * tot
		for (c = 1; c < nc && cum[c] < x; c++) ;
		return sprintf("lat=%.5f&lon=%.5f", la[c] + gauss() * sg[c] / 111.2,
			lo[c] + gauss() * sg[c] / (111.2 * cos(la[c] * 0.017453292519943295)))
	}
	function near() { return "/v1/nearby?" point() "&radius_m=" (1000 + int(rand() * 2001)) "&limit=10" }
	function heavy(  p, a, b) {
		p = "/v1/nearby?" point() "&radius_m=" (15000 + int(rand() * 35001))
		a = pick(cui, nu); p = p "&cuisine=" a
		if (rand() < 0.5) { b = pick(cui, nu); if (b != a) p = p "," b }
		return p "&max_price=" (2 + int(rand() * 3)) "&open_now=true&limit=" (20 + int(rand() * 81))
	}
	function text(  p, k, i) {
		k = 1 + int(rand() * 4); p = pick(wd, nw)
		for (i = 2; i <= k; i++) p = p "%20" pick(wd, nw)
		return "/v1/nearby?" point() "&radius_m=" (5000 + int(rand() * 10001)) "&q=" p
	}
	BEGIN { srand(seed)
		while ((getline l < cuif) > 0) if (l != "") cui[++nu] = l
		while ((getline l < wf) > 0) if (l != "") wd[++nw] = l }
	{ la[NR] = $1; lo[NR] = $2; tot += $3; cum[NR] = tot; sg[NR] = $4; nc = NR }
	END { for (i = 0; i < n; i++) {
		k = cls
		if (k == "mix") { x = rand(); k = x < 0.5 ? "near" : x < 0.8 ? "heavy" : "text" }
		print (k == "near" ? near() : k == "heavy" ? heavy() : text())
	} }' "$tmp/cities.txt" >"$2" || { note "cannot write the $1 paths"; exit 1; }
}

cat >"$tmp/paths.lua" <<'EOF'
local reqs, n, i = {}, 0, 0
local nthreads = 0
function setup(thread) nthreads = nthreads + 1; thread:set("tid", nthreads) end
function init(args)
	for line in io.lines(args[1]) do n = n + 1; reqs[n] = wrk.format("GET", line) end
	i = ((tid or 0) * 7919) % n
end
function request() i = i % n + 1; return reqs[i] end
EOF

# wrk_run OUT PORT PATHS CONNS: one run; prints "RPS P50 P99"
wrk_run() {
	local out=$1 rc
	run_bg "$out" wrk -t2 -c"$4" -d"$duration" --latency -s "$tmp/paths.lua" \
		"http://127.0.0.1:$2" -- "$3"; rc=$?
	[ $rc -eq 0 ] || { note "wrk failed ($rc):"; cat "$out" >&2; exit 1; }
	read -r rps p99 reqs non2xx sock <<<"$(parse_wrk "$out")"
	[ "$non2xx" = 0 ] && [ -z "$sock" ] ||
		problems+=("${out##*/}: $non2xx non-2xx answers, socket errors: ${sock:-none}")
	printf '%s %s %s\n' "$rps" "$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")" "$p99"
}

# the probe: /healthz alone, then while the mix saturates (setsid: the
# load's CPU is charged to a session of its own, as a remote client's)
probe_run() {
	local b=$1 tag=$2 out fig
	out=$tmp/r$r-$b-healthz-$tag.txt
	if [ "$tag" = sat ]; then
		setsid wrk -t1 -c"$conns" -d"$(( $(duration_s "$duration") + 2 ))s" -s "$tmp/paths.lua" \
			"http://127.0.0.1:${port[$b]}" -- "$tmp/mix.paths" >"$tmp/r$r-$b-sat.txt" 2>&1 &
		sat_pid=$!
		sleep 1
	fi
	read -r rps p50 p99 <<<"$(wrk_run "$out" "${port[$b]}" "$tmp/healthz.paths" "$pconns")"
	[ "$tag" = sat ] && { wait "$sat_pid"; sat_pid=; }
	res[$b,healthz-$tag]+="$p99 "
	printf '%-6s %-7s %-12s %10s req/s  p50 %8s ms  p99 %8s ms\n' "$r" "$b" "healthz/$tag" "$(fmt_rps "$rps")" "$p50" "$p99"
}

# The paced probe in windows: one wrk saturates the mix for the whole
# series and is stopped (SIGSTOP, its requests in flight answered first)
# for the idle windows and continued for the saturated ones, which
# alternate, --probe-windows of each, --probe-window seconds long. Each
# window gives a p99; a round's figure per state is the median over its
# windows. The host's own stalls (another guest on the machine: every
# probe connection waits at the same instant, idle or not) land in a few
# windows and do not decide the figure; the server's latency under load
# is in every saturated window.
probe_windows() {
	local b=$1 k tag out fig idle=() sat=() n hw50 hw99
	n=$(( pwindows * 2 * (pwindow + 3) + 10 ))   # outlasts the windows; killed after them
	setsid wrk -t1 -c"$conns" -d"${n}s" -s "$tmp/paths.lua" \
		"http://127.0.0.1:${port[$b]}" -- "$tmp/mix.paths" >"$tmp/r$r-$b-sat.txt" 2>&1 &
	sat_pid=$!
	sleep 1
	for k in $(seq 1 "$pwindows"); do
		for tag in idle sat; do
			if [ "$tag" = idle ]; then
				kill -STOP "$sat_pid"; sleep 0.5
			else
				kill -CONT "$sat_pid"; sleep 0.5
			fi
			out=$tmp/r$r-$b-healthz-$tag-$k.txt
			fig=$(probe_paced "$out" "http://127.0.0.1:${port[$b]}/healthz" \
				"$pconns" "$prate" "$pwindow") || { kill -CONT "$sat_pid"; exit 1; }
			read -r p50 p99 got bad <<<"$fig"
			[ "$bad" = 0 ] || problems+=("${out##*/}: $bad non-2xx answers")
			[ "$got" -gt 0 ] || problems+=("${out##*/}: no answers")
			if [ "$tag" = idle ]; then idle+=("$p99"); else sat+=("$p99"); fi
		done
	done
	kill -CONT "$sat_pid"
	kill_child "$sat_pid"; sat_pid=
	read -r hw50 hw99 <<<"$(host_wake)"
	printf '%-6s %-7s %-12s a 1 ms sleep woke late by p50 %s ms, p99 %s ms (the host: above a few tenths, expect noisy idle windows)\n' "$r" "$b" "host" "$hw50" "$hw99"
	res[$b,healthz-idle]+="$(median "${idle[@]}") "
	res[$b,healthz-sat]+="$(median "${sat[@]}") "
	printf '%-6s %-7s %-12s p99 per window: %s ms; median %s ms\n' "$r" "$b" "healthz/idle" "${idle[*]}" "$(median "${idle[@]}")"
	printf '%-6s %-7s %-12s p99 per window: %s ms; median %s ms\n' "$r" "$b" "healthz/sat" "${sat[*]}" "$(median "${sat[@]}")"
}

declare -A res
measure() {
	local n=$1 c b r order
	res=()
	printf '\n== %s places, %s workers, wrk -t2 -c%s -d%s\n' "$n" "$workers" "$conns" "$duration"
	[ "$prate" = 0 ] || printf 'probe: h2load, %s connections x %s req/s, %s idle and %s saturated windows of %ss; priority: %s\n' \
		"$pconns" "$prate" "$pwindows" "$pwindows" "$pwindow" "$(probe_rt)"
	printf '%-6s %-7s %-12s %16s  %15s  %15s\n' round build class "req/s" p50 p99
	for r in $(seq 1 "$rounds"); do
		order=("${builds[@]}")
		[ $((r % 2)) = 0 ] && [ ${#builds[@]} = 2 ] && order=(new base)
		for c in $classes; do
			for b in "${order[@]}"; do
				read -r rps p50 p99 <<<"$(wrk_run "$tmp/r$r-$b-$c.txt" "${port[$b]}" "$tmp/$c.paths" "$conns")"
				res[$b,$c,rps]+="$rps " res[$b,$c,p50]+="$p50 " res[$b,$c,p99]+="$p99 "
				printf '%-6s %-7s %-12s %10s req/s  p50 %8s ms  p99 %8s ms\n' "$r" "$b" "$c" "$(fmt_rps "$rps")" "$p50" "$p99"
			done
		done
		for b in "${order[@]}"; do
			if [ "$prate" = 0 ]; then
				probe_run "$b" idle; probe_run "$b" sat
			else
				probe_windows "$b"
			fi
		done
	done
	summary "$n"
}

summary() {
	local c b m
	printf '\n-- medians of %s rounds at %s places\n' "$rounds" "$1"
	printf '%-8s %-6s %10s %10s %10s\n' class build "req/s" "p50 ms" "p99 ms"
	for c in $classes; do
		for b in "${builds[@]}"; do
			printf '%-8s %-6s %10s %10s %10s\n' "$c" "$b" "$(fmt_rps "$(median ${res[$b,$c,rps]})")" \
				"$(median ${res[$b,$c,p50]})" "$(median ${res[$b,$c,p99]})"
		done
		bench_row "$c req/s at $1 places" "$(median ${res[new,$c,rps]})" "req/s"
		[ ${#builds[@]} = 2 ] || continue
		m=$(ratio "$(median ${res[new,$c,rps]})" "$(median ${res[base,$c,rps]})")
		printf '%-8s %-6s %10sx\n' "$c" "ratio" "$m"
		bench_row "$c new/base req/s at $1 places" "$m" x ">=4"
	done
	for b in "${builds[@]}"; do
		m=$(median ${res[$b,healthz-idle]})
		printf 'healthz p99 %-5s idle %8s ms  sat %8s ms  sat/idle %sx\n' "$b" "$m" \
			"$(median ${res[$b,healthz-sat]})" "$(ratio "$(median ${res[$b,healthz-sat]})" "$m")"
		[ "$b" = new ] && bench_row "healthz p99 sat/idle at $1 places" \
			"$(ratio "$(median ${res[$b,healthz-sat]})" "$m")" x "<=2"
	done
}

seed() {
	run_bg "$tmp/seed.log" "$placesctl_bin" -c "$tmp/ctl.conf" seed --places "$1" --seed 1 $2 ||
		{ note "placesctl seed --places $1 failed:"; tail -n 20 "$tmp/seed.log" >&2; exit 1; }
	psql_q -c "VACUUM ANALYZE" >/dev/null || { note "VACUUM ANALYZE failed"; exit 1; }
	read_data
	for c in near heavy text mix; do write_paths "$c" "$tmp/$c.paths" 20000 7; done
	echo /healthz >"$tmp/healthz.paths"
}

write_conf "$tmp/ctl.conf" 1 "$tmp/ctl.sock"
"$placesctl_bin" -c "$tmp/ctl.conf" migrate --dir "$sql_dir" >"$tmp/migrate.log" 2>&1 ||
	{ note "placesctl migrate failed:"; cat "$tmp/migrate.log" >&2; exit 1; }
seed "$nplaces" ""
start_builds
measure "$nplaces"
if [ -n "$big" ]; then
	stop_builds
	seed "$big_places" --replace
	start_builds
	measure "$big_places"
fi
stop_builds
if [ ${#problems[@]} -gt 0 ]; then
	printf '\nNotes:\n'
	printf '  %s\n' "${problems[@]}"
fi
exit 0
