#!/bin/bash
# tests/bench/places_flood.sh -- what the city read model costs in memory:
# each worker's RSS and placesd_readmodel_bytes when every id and then
# thousands of city lists are flooded into every worker, per [cache]
# max_bytes.
#
# Run on demand, not by `make check`; it builds nothing.  It starts a
# throw-away PostgreSQL cluster, seeds --places places (lib.sh,
# places_setup), adds --flood-cities cities (flood-1, flood-2, ...) of 5
# places each (copies of seeded ones), and then for each of
# --flood-max-bytes (8m, 0, 256m) starts a fresh placesd ([cache] ttl 0)
# and prints the VmRSS of each worker, placesd_readmodel_bytes and the
# read model's evictions:
#
#   start   after the start
#   ids     after a warm-up pass that sends every id 1..N to every worker
#   cities  after a second one that sends every flood city's list, with
#           --flood-limits distinct limits each, to every worker
#
# The bound is per worker: workers x max_bytes (see README.md).
#
# Exit status: 0 when every pass completed and no request failed, 3 when
# some requests failed, 1 when a process failed, 2 on a usage error.
# Needs: PostgreSQL's server binaries, wrk, curl.

# shellcheck disable=SC2154 # globals set by lib.sh (opts_common, bench_begin, ...)
set -u -o pipefail
prog=${0##*/}
# bench-quick: --places 20000 --flood-cities 200
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || { echo "$prog: cannot read lib.sh beside it" >&2; exit 2; }
opts_places
flood_list=8m,0,256m flood_cities=2000 flood_limits=3
opts_value flood-max-bytes flood_list flood-cities flood_cities flood-limits flood_limits

usage() {
	usage_head
	cat <<EOF
Flood every placesd worker with every id, then with the lists of many
cities, for each [cache] max_bytes, and print each worker's RSS and
placesd_readmodel_bytes before and after.

Options:
EOF
	places_usage
	cat <<EOF
  --flood-max-bytes L  comma separated max_bytes values (default: 8m,0,256m)
  --flood-cities N   cities added for the flood, 5 places each (default: 2000)
  --flood-limits K   distinct limits (1..K) asked of each city (default: 3)
EOF
	common_usage_end
	cat <<EOF

Example, from a build directory (SRCDIR = the source tree):
  SRCDIR/tests/bench/$prog --places 20000
EOF
}
parse_opts "$@"
places_check
[[ $flood_list =~ ^[0-9]+[km]?(,[0-9]+[km]?)*$ ]] || die "--flood-max-bytes: e.g. 8m,0,256m, not '$flood_list'"
is_uint "$flood_cities" && [ "$flood_cities" -ge 1 ] && [ "$flood_cities" -le 1000000 ] || die "--flood-cities: 1..1000000, not '$flood_cities'"
is_uint "$flood_limits" && [ "$flood_limits" -ge 1 ] && [ "$flood_limits" -le 100 ] || die "--flood-limits: 1..100, not '$flood_limits'"
flood_cities=$((10#$flood_cities)); flood_limits=$((10#$flood_limits))

bench_begin flood
places_setup
places_header "placesd read model flood"
echo "  machine:    $ncpu cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null); clients, servers and PostgreSQL share the cores"
warn_busy

# ------------------------------------------------------------- flood mode ---
# rss_workers: "wN=PID:KB ..." (VmRSS of /proc/PID/status) of the
# master's workers, named by their process title ("worker N (gen G)");
# the ranker's as "ranker=PID:KB" at the end
rss_workers() {
	local c name out='' rk=''
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
seed_flood_cities
echo
echo "Flood: every id 1..$nplaces, then the lists of $flood_cities cities x $flood_limits limits, into every worker, [cache] ttl 0"
echo "RSS: VmRSS of each worker (w0 w1 ...) and their sum, MiB; rm bytes = placesd_readmodel_bytes (every worker); evictions so far"
printf '%-10s %-7s %-26s %8s %12s %10s %7s\n' max_bytes phase "RSS per worker" "RSS sum" "rm bytes" evictions secs
printf '%s\n' "------------------------------------------------------------------------------------"
i=0
for mb in ${flood_list//,/ }; do
	i=$((i + 1))
	places_start "flood-$mb" 0s 0 "$mb"
	sleep 1
	fetch_metrics "$tmp/flood-$i.m0" || { note "GET /metrics failed"; exit 1; }
	flood_row "$mb" start "$tmp/flood-$i.m0" "$(rss_workers)"
	warm_cache "f$i" >"$tmp/flood-$i.warm"
	fetch_metrics "$tmp/flood-$i.m1" || { note "GET /metrics failed"; exit 1; }
	r=$(rss_workers)
	flood_row "$mb" ids "$tmp/flood-$i.m1" "$r" "$warm_s"
	echo "           (VmRSS kB: $r; $(sed 's/^ *f[0-9]* *(warm-up) *//' "$tmp/flood-$i.warm"))"
	warm_cache "c$i" $((flood_cities * flood_limits)) "$flood_cities" >"$tmp/flood-$i.warmc"
	fetch_metrics "$tmp/flood-$i.m2" || { note "GET /metrics failed"; exit 1; }
	r=$(rss_workers)
	flood_row "$mb" cities "$tmp/flood-$i.m2" "$r" "$warm_s"
	echo "           (VmRSS kB: $r; $(sed 's/^ *c[0-9]* *(warm-up) *//' "$tmp/flood-$i.warmc"))"
	bench_row "workers' RSS, max_bytes $mb, flooded" "$(rss_sum "$r")" MiB
	stop_placesd
done
echo "the bound is per worker: $nworkers x max_bytes"
echo "machine load average after the flood: $(cut -d' ' -f1-3 /proc/loadavg)"
bench_finish "No non-2xx answers, no database errors, nothing logged."
