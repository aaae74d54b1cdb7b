#!/bin/bash
# tests/bench/nearby_big.sh -- GET /v1/nearby from 100,000 to 1,000,000
# places: how the cost of a request and the throughput grow, and the
# loops' latency where ranking, not the loops, is what saturates.
#
# Run on demand, not by `make check`; it builds nothing.  It starts a
# throw-away PostgreSQL cluster, seeds --places places and writes the
# /v1/nearby mix (lib.sh; see README.md), and, on one
# placesd with [ranker] threads = auto, for --rounds rounds whose order
# alternates:
#
#   nearby/c1, nearby/tA   one connection, --connections
#
# then reseeds (placesctl seed --replace) with --big-places places, which
# takes minutes, and, on a new placesd, per round:
#
#   big/c1, big/tA         the same
#   big-healthz/*, big-place/*  the probes of nearby_probe.sh (idle, sat,
#                          traffic, rank)
#
# Figures: p50 of c1 and req/s of tA, big / small, and the probes' p99
# sat / idle and rank / idle (aim <= 2).
#
# Exit status: 0 when every run completed and no request failed, 3 when
# some requests failed, 1 when a process failed, 2 on a usage error.
# Needs: PostgreSQL's server binaries, wrk, curl, python3.

# shellcheck disable=SC2154 # globals set by lib.sh (opts_common, bench_begin, ...)
set -u -o pipefail
prog=${0##*/}
# bench-quick: --places 20000 --big-places 40000 --rounds 1 --duration 2s --warmup 0 --sample 20 --ranker-timeout 1s
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || { echo "$prog: cannot read lib.sh beside it" >&2; exit 2; }
opts_nearby
big_places=1000000
opts_value big-places big_places

usage() {
	usage_head
	cat <<EOF
Benchmark placesd's GET /v1/nearby at --places and at --big-places
places: the p50 of one connection, req/s, and the p99 of /healthz and
/v1/places/{id} probes while ranking is saturated.

Options:
  --big-places N     places of the big part (default: 1000000)
EOF
	nearby_usage probes "--keep /tmp/nearby-big"
}
parse_opts "$@"
nearby_check
is_uint "$big_places" && [ "$big_places" -le 10000000 ] || die "--big-places: 1..10000000, not '$big_places'"
big_places=$((10#$big_places))

bench_begin nbig
nearby_setup "$nplaces"
nearby_header "placesd /v1/nearby benchmark, $nplaces and $big_places places" probes
nearby_rtimeout
echo "  ranker:     threads auto (= $ncpu); timeout $rtimeout_note${rqueue:+; queue_size $rqueue}"
echo

# size_block PREFIX [PROBES]: per round c1 and tA (PREFIX/c1, PREFIX/tA)
# on one placesd, and with PROBES the probes too
size_block() {
	local r
	nearby_start "$1" auto
	[ "$1" = nearby ] && nearby_warm
	for r in $(seq 1 "$rounds"); do
		if [ $((r % 2)) -eq 1 ]; then
			nearby_run "$1/c1" "$r" 1
			nearby_run "$1/tA" "$r" "$conns"
		else
			nearby_run "$1/tA" "$r" "$conns"
			nearby_run "$1/c1" "$r" 1
		fi
		[ -n "${2:-}" ] && nearby_probe_block "$r" big-
	done
	stop_placesd
}

nearby_head
size_block nearby
snap_small=$snap_desc rss_small=$ranker_rss
echo
note "seeding $big_places places (placesctl seed --replace), this takes minutes"
seed_db "$big_places" --replace
nearby_mix_files
echo "--big: $big_places places, $nmenu menu items (seeded in ${t_seed} s); the same mix around the same centres"
nearby_head
size_block big probes

nearby_sum_head
nearby_sum nearby/c1 "/v1/nearby, one connection, $nplaces places"
nearby_sum nearby/tA "/v1/nearby, -c$conns, threads = auto, $nplaces places"
nearby_sum big/c1 "/v1/nearby, one connection, $big_places places"
nearby_sum big/tA "/v1/nearby, -c$conns, threads = auto, $big_places places"
nearby_sum_probes big- ", $big_places places"
nearby_ratio_head
nearby_probe_ratios big- ", $big_places"
ratio_show "nearby p50 c1 $big_places / $nplaces" P50 big/c1 nearby/c1
bench_row "p50 one connection big / small" "$ratio_last" x
ratio_show "nearby req/s tA $big_places / $nplaces" RPS big/tA nearby/tA
bench_row "req/s big / small" "$ratio_last" x
echo "oth% = share of all CPU time used by processes other than placesd, PostgreSQL, wrk and curl during that run"
echo "ranker: $nplaces places: ${snap_small:-?}, RSS ${rss_small:-?} MB; $big_places places: ${snap_desc:-?}, RSS ${ranker_rss:-?} MB"
bench_finish "No non-2xx answers, no socket errors, no degraded answers, no database errors or timeouts, nothing logged at warn or above."
