#!/bin/bash
# tests/bench/places.sh -- the read API against PostgreSQL itself: wrk on
# GET /v1/places/{id} and GET /v1/cities/{city}/places, cache off and on,
# beside pgbench running the same SQL at the same concurrency, in one run.
#
# Run on demand, not by `make check`; it builds nothing.  It starts a
# throw-away PostgreSQL cluster, seeds --places places (lib.sh,
# places_setup), and then, for --rounds rounds whose order alternates,
# a fresh placesd per configuration (see README.md):
#
#   place/off, zipf/off  wrk, /v1/places/{id}, uniform and Zipf ids,
#                        [cache] ttl 0 and the city read model off
#   city/off             wrk, the biggest cities' first page of 20
#   pgb/place, pgb/city  pgbench -M prepared, the statements placesd runs
#                        (read out of the binary under test)
#   place/on, zipf/on, city/on, healthz   [cache] ttl on, warmed first
#   place/rm, zipf/rm, healthz/rm         the read model on, warmed first
#
# Figures, medians of the per-round ratios: place/off / pgb/place >= 0.8,
# place/on / healthz >= 0.8, zipf/on and zipf/rm against /healthz >= 0.8.
# The read model's memory under a flood of ids and cities is
# places_flood.sh's question.
#
# Exit status: 0 when every run completed and no request failed, 3 when
# some requests failed, 1 when a process failed, 2 on a usage error.
# Needs: PostgreSQL's server binaries and pgbench, wrk, curl.

# shellcheck disable=SC2154 # globals set by lib.sh (opts_common, bench_begin, ...)
set -u -o pipefail
prog=${0##*/}
# bench-quick: --places 20000 --rounds 1 --duration 2s --warmup 0
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || { echo "$prog: cannot read lib.sh beside it" >&2; exit 2; }
opts_places
cache_ttl=60s cities_opt=4 ids=both zipf_s=1.1 readmodel=both rm_max_bytes=256m flood=''
opts_value cache-ttl cache_ttl cities cities_opt ids ids zipf-s zipf_s readmodel readmodel \
	rm-max-bytes rm_max_bytes
opts_flag flood flood

usage() {
	usage_head
	cat <<EOF
Benchmark placesd's place and city-list reads, cache off and on, against
pgbench running the same SQL, and against placesd's own /healthz.

Options:
EOF
	places_usage
	cat <<EOF
  --cache-ttl D      [cache] ttl of the cache-on runs (default: 60s)
  --cities K|LIST    the K biggest cities, or a comma separated list of city
                     ids, for the list requests (default: 4)
  --duration D       length of one wrk or pgbench run, 10s, 1m (default: 10s)
  --connections C    wrk connections = pgbench clients (default: 64)
  --threads T        wrk threads = pgbench -j (default: 2)
  --warmup D         untimed wrk runs on the places and the lists after each
                     placesd start, and one pgbench run of each script
                     before the first round; 0 = none (default: 2s); the
                     cache-on warm-up pass is done in any case
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
EOF
	common_usage_end
	cat <<EOF

Examples, from a build directory (SRCDIR = the source tree):
  SRCDIR/tests/bench/places.sh --places 20000 --rounds 1 --duration 5s
  SRCDIR/tests/bench/places.sh --places 20000 --ids zipf --readmodel on
EOF
}
parse_opts "$@"
[ -z "$flood" ] || die "--flood is places_flood.sh now (the same options, without --flood)"
places_check
[[ $cache_ttl =~ ^[0-9]+(ms|s|m|h)$ ]] && [[ ! $cache_ttl =~ ^0+[a-z]+$ ]] ||
	die "--cache-ttl: e.g. 60s, not '$cache_ttl' (the cache-off runs use ttl 0 already)"
ttl_sec=$(awk -v v="$cache_ttl" 'BEGIN { n = v + 0; u = v; sub(/^[0-9]+/, "", u)
	print (u == "ms" ? n / 1000 : u == "m" ? n * 60 : u == "h" ? n * 3600 : n) }')
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
zipf_lua=$bench_dir/places_zipf.lua
[ "$ids" = uniform ] || [ -r "$zipf_lua" ] || die "cannot read $zipf_lua"
id_kinds=()
[ "$ids" = zipf ] || id_kinds+=(u)
[ "$ids" = uniform ] || id_kinds+=(z)
find_pgbench

bench_begin bench
places_setup
if [[ $cities_opt =~ ^[0-9]+$ ]]; then
	cities=$(psql_q -c "SELECT city_id FROM places GROUP BY city_id ORDER BY count(*) DESC, city_id LIMIT $cities_opt" | tr '\n' ' ')
else
	cities=${cities_opt//,/ }
fi
read -r -a city_list <<<"$cities"
[ ${#city_list[@]} -gt 0 ] || { note "no cities in the database"; exit 1; }
city_desc=''
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

lua_rand "$tmp/rand.lua"
lua_list "$tmp/list.lua"

# ------------------------------------------------------------- running ---
# run_wrk CASE ROUND LUA [ARGS...]: one timed wrk run against the running
# placesd; records the figures and any failures of CASE in ROUND.
run_wrk() {
	local cs=$1 r=$2 lua=$3 out rc info='' h m rh rm
	shift 3
	out="$tmp/wrk-r$r-${cs//\//-}.txt"
	run_begin "$out"
	run_bg "$out" wrk -t"$threads" -c"$conns" -d"$duration" --timeout 10s --latency \
		-s "$lua" "http://127.0.0.1:$placesd_port" -- "$@"; rc=$?
	run_end "$cs" "$r" "$out" "$rc"
	wrk_figures "$cs" "$r" "$out"
	case $cs in place/*|zipf/*)
		h=$(counter_delta placesd_cache_hits_total); m=$(counter_delta placesd_cache_misses_total)
		rh=$(counter_delta placesd_readmodel_hits_total); rm=$(counter_delta placesd_readmodel_misses_total)
		HIT[$cs,$r]=$(awk -v h="$h" -v m="$m" 'BEGIN { printf "%.2f", (h + m > 0 ? 100 * h / (h + m) : 0) }')
		RMHIT[$cs,$r]=$(awk -v h="$rh" -v m="$rm" 'BEGIN { printf "%.2f", (h + m > 0 ? 100 * h / (h + m) : 0) }')
		info+="cache hits ${HIT[$cs,$r]}% ($h/$((h + m))) rm hits ${RMHIT[$cs,$r]}% ($rh/$((rh + rm))) "
		;;
	esac
	db_counters "$cs" "$r"
	report_run "$cs" "$r" "${RPS[$cs,$r]}" "${P99[$cs,$r]}" "$other_pct" "$info"
}

# run_pgbench CASE ROUND SCRIPT-ARGS...: pgbench_run, a line of the table
run_pgbench() {
	local info=''
	pgbench_run "$@"
	report_run "$1" "$2" "${RPS[$1,$2]}" "${P99[$1,$2]}" "$other_pct" "$info"
}
report_run() {
	printf '%5s  %-10s %10s %9.3f %5s   %s\n' "$2" "$1" "$(fmt_rps "$3")" "$4" "$5" "$6"
	count_noisy "$5"
}
# warm_on ROUND: the warm-up pass right before place/on; entries live
# $cache_ttl from it: the runs after it must end before the first ones
# expire, or place/on measures misses too
warm_on() {
	warm_cache "$1"
	awk -v w="$warm_s" -v d="$((duration_sec * ${#id_kinds[@]}))" -v t="$ttl_sec" 'BEGIN { exit !(w + d >= 0.9 * t) }' &&
		problems+=("warm-up round $1 took ${warm_s} s: with the ${#id_kinds[@]} run(s) of ${duration_sec} s after it, close to the cache ttl ($cache_ttl): entries expire during place/on (see its cache hits; use a larger --cache-ttl)")
	return 0
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
	local cmds=() k
	for k in "${id_kinds[@]}"; do
		case $k in
		u) cmds+=("run_wrk place/$1 $2 \"\$tmp/rand.lua\" $nplaces") ;;
		z) cmds+=("run_wrk zipf/$1 $2 \"\$zipf_lua\" $nplaces $zipf_s") ;;
		esac
	done
	alternate "$2" "${cmds[@]}"
}
# the blocks of a round: one placesd each (pgbench: none), their runs in
# an order that alternates with the round
city_cmd='run_wrk city/$b $r "$tmp/list.lua" "${city_paths[@]}"'
block_off() {
	local r=$1 b=off
	places_start off 0s 0
	warm_untimed
	if [ "$readmodel" = on ]; then run_places off "$r"
	else alternate "$r" 'run_places off $r' "$city_cmd"; fi
	stop_placesd
}
# the city read model on, the TTL cache off; warmed like the cache
block_rm() {
	local r=$1
	places_start rm 0s 0 "$rm_max_bytes"
	alternate "$r" 'warm_cache $r; run_places rm $r' 'run_wrk healthz/rm $r "$tmp/list.lua" /healthz'
	stop_placesd
}
block_pgbench() {
	local r=$1
	alternate "$r" 'run_pgbench pgb/place $r -f "$pgb_dir/place.sql"' 'run_pgbench pgb/city $r "${city_scripts[@]}"'
}
block_on() {
	local r=$1 maxe=$nplaces b=on
	[ "$maxe" -lt 10000 ] && maxe=10000
	places_start on "$cache_ttl" "$maxe"
	# the warm-up pass must come right before place/on: entries live $cache_ttl
	alternate "$r" 'warm_on $r; run_places on $r' "$city_cmd" 'run_wrk healthz $r "$tmp/list.lua" /healthz'
	stop_placesd
}

# ------------------------------------------------------------------ run ------
places_header "placesd read API benchmark" "$(
	echo "  cache:      off = ttl 0; on = ttl $cache_ttl, max_entries $([ "$nplaces" -lt 10000 ] && echo 10000 || echo "$nplaces"); both with [cache] max_bytes 0 (read model off)"
	echo "  read model: --readmodel $readmodel$([ "$readmodel" = off ] || echo "; rm = [cache] max_bytes $rm_max_bytes, ttl 0, warmed")"
	echo "  ids:        --ids $ids (zipf: s = $zipf_s over 1..$nplaces, ranks permuted)")"
echo "  cities:     ${city_desc% }"
echo "  wrk:        -t$threads -c$conns -d$duration --latency; pgbench -M prepared -c $conns -j $threads -T $duration_sec"
echo "  rounds:     $rounds, order alternates each round"
echo "  machine:    $(nproc) cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null); clients, servers and PostgreSQL share the cores"
echo
warn_busy

# Does pgbench run what placesd runs?  The same statement for one place
# must give placesd's body byte for byte (cache off).
places_start off 0s 0
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
blocks=('block_off $r')
[ "$readmodel" = on ] || blocks+=('block_pgbench $r' 'block_on $r')
[ "$readmodel" = off ] || blocks+=('block_rm $r')
for r in $(seq 1 "$rounds"); do
	alternate "$r" "${blocks[@]}"
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
ratio_w=24 ratio_dashes=58 ratio_head
for pair in "place/off pgb/place >=0.8" "place/on healthz >=0.8" "zipf/on healthz >=0.8" \
	"zipf/rm healthz/rm >=0.8" "place/rm healthz/rm" "zipf/rm zipf/off" "zipf/on zipf/off" \
	"city/off pgb/city" "city/on city/off"; do
	read -r a b aim <<<"$pair"
	ratio_w=24 ratio_show "$a / $b" RPS "$a" "$b" "$aim"
done
for cs in place/off place/on pgb/place; do
	[ -n "${MED[$cs]:-}" ] && bench_row "$cs req/s" "$(printf '%.0f' "${MED[$cs]}")" req/s
done
echo "cache% / rm% = hits / (hits + misses) over the run, from /metrics: placesd_cache_* (every cache, the read model included) and placesd_readmodel_*"
echo "oth% = share of all CPU time used by processes other than placesd, PostgreSQL, wrk and pgbench during that run"
bench_finish "No non-2xx answers, no socket errors, no failed transactions, no database errors or timeouts, nothing logged."
