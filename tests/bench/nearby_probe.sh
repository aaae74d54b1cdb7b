#!/bin/bash
# tests/bench/nearby_probe.sh -- the worker loops' latency while ranking
# is saturated: the p99 of /healthz and /v1/places/{id} beside the same
# with nothing else running, with the traffic and rank controls.
#
# Run on demand, not by `make check`; it builds nothing.  It starts a
# throw-away PostgreSQL cluster, seeds --places places and writes the
# /v1/nearby mix (lib.sh; see README.md), and then, for
# --rounds rounds whose order alternates, on a fresh placesd with
# [ranker] threads = auto, runs a paced probe (--probe-connections,
# --probe-delay between requests, under SCHED_FIFO when allowed) on
# /healthz and on /v1/places/{id}:
#
#   */idle     nothing else
#   */sat      while a second wrk saturates /v1/nearby (--connections)
#   */traffic  while a second wrk sends /v1/places/{id} at the rate the
#              sat case reached: the same load on the loops and PostgreSQL
#              without ranking, the control for sat
#   */rank     while rank_flood.py saturates the ranker on its socket:
#              ranking saturated and nothing else, as the loops see it
#
# Figures: p99 sat / idle and rank / idle (aim <= 2), sat / traffic and
# traffic / idle.  nearby_big.sh asks the same at 1,000,000 places.
#
# Exit status: 0 when every run completed and no request failed, 3 when
# some requests failed, 1 when a process failed, 2 on a usage error.
# Needs: PostgreSQL's server binaries, wrk, curl, python3.

# shellcheck disable=SC2154 # globals set by lib.sh (opts_common, bench_begin, ...)
set -u -o pipefail
prog=${0##*/}
# bench-quick: --places 20000 --rounds 1 --duration 2s --warmup 0 --sample 50 --ranker-timeout 1s
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || { echo "$prog: cannot read lib.sh beside it" >&2; exit 2; }
opts_nearby

usage() {
	usage_head
	cat <<EOF
Benchmark the p99 of placesd's /healthz and /v1/places/{id} while
/v1/nearby is saturated, while the ranker alone is, and while
/v1/places/{id} is sent at the same rate, beside the same idle.

Options:
EOF
	nearby_usage probes "--places 20000 --rounds 1 --duration 5s"
}
parse_opts "$@"
nearby_check

bench_begin nprobe
nearby_setup "$nplaces"
nearby_header "placesd loop latency under saturated ranking" probes
nearby_rtimeout
echo "  ranker:     threads auto (= $ncpu); timeout $rtimeout_note${rqueue:+; queue_size $rqueue}"
echo

nearby_head
for r in $(seq 1 "$rounds"); do
	nearby_start tA auto
	nearby_warm
	nearby_probe_block "$r"
	stop_placesd
done

nearby_sum_head
nearby_sum_probes "" ""
nearby_ratio_head
nearby_probe_ratios "" ""
echo "oth% = share of all CPU time used by processes other than placesd, PostgreSQL, wrk and curl during that run"
echo "ranker: $nplaces places: ${snap_desc:-?}, RSS ${ranker_rss:-?} MB"
bench_finish "No non-2xx answers, no socket errors, no degraded answers, no database errors or timeouts, nothing logged at warn or above."
