#!/bin/bash
# tests/bench/nearby_threads.sh -- GET /v1/nearby: how ranking throughput
# scales with the [ranker] threads (1, 2 and auto by default), and the
# cost of one request without queueing.
#
# Run on demand, not by `make check`; it builds nothing.  It starts a
# throw-away PostgreSQL cluster, seeds --places places and writes the
# /v1/nearby mix (lib.sh, nearby_setup; see README.md),
# and then, for --rounds rounds whose order alternates, starts placesd
# afresh for each --ranker-threads setting and runs wrk on the mix:
#
#   nearby/t1, nearby/t2, nearby/tA   --connections, threads = 1, 2, auto
#   nearby/c1    one connection on the threads = auto placesd: the p50 is
#                the cost of one request without queueing
#
# Every run has a curl sample of the mix beside it, checked for
# "degraded":true.  Figures: the medians, and req/s threads N / threads 1.
# --ranker-timeout auto (the default) first makes a 5 s trial with
# threads = 1 and raises the timeout to 1s if over 1% was degraded.
#
# Exit status: 0 when every run completed and no request failed, 3 when
# some requests failed, 1 when a process failed, 2 on a usage error.
# Needs: PostgreSQL's server binaries, wrk, curl, python3.

# shellcheck disable=SC2154 # globals set by lib.sh (opts_common, bench_begin, ...)
set -u -o pipefail
prog=${0##*/}
# bench-quick: --places 20000 --rounds 1 --duration 2s --warmup 0 --sample 50
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || { echo "$prog: cannot read lib.sh beside it" >&2; exit 2; }
opts_nearby
rthreads_opt=1,2,auto
opts_value ranker-threads rthreads_opt

usage() {
	usage_head
	cat <<EOF
Benchmark placesd's GET /v1/nearby: throughput and p99 with 1, 2 and auto
ranker threads, and the p50 of one connection.

Options:
  --ranker-threads L the [ranker] threads settings compared, comma separated
                     (default: 1,2,auto)
EOF
	nearby_usage "" "--places 20000 --rounds 1 --duration 5s"
}
parse_opts "$@"
nearby_check
IFS=, read -r -a rthreads <<<"$rthreads_opt"
[ ${#rthreads[@]} -gt 0 ] || die "--ranker-threads: a list such as 1,2,auto"
for t in "${rthreads[@]}"; do
	[ "$t" = auto ] || { is_uint "$t" && [ "$t" -le 256 ]; } || die "--ranker-threads: 1..256 or auto, not '$t'"
done
case " ${rthreads[*]} " in *" auto "*) ;; *) rthreads+=(auto) ;; esac   # nearby/c1 runs on it

bench_begin nbench
nearby_setup "$nplaces"
nearby_header "placesd /v1/nearby ranker threads benchmark"
nearby_rtimeout
echo "  ranker:     threads ${rthreads[*]} (auto = $ncpu); timeout $rtimeout_note${rqueue:+; queue_size $rqueue}"
echo

case_of() { [ "$1" = auto ] && echo nearby/tA || echo "nearby/t$1"; }

nearby_head
for r in $(seq 1 "$rounds"); do
	list=("${rthreads[@]}")
	[ $((r % 2)) -eq 0 ] && mapfile -t list < <(printf '%s\n' "${rthreads[@]}" | tac)
	for t in "${list[@]}"; do
		nearby_start "t$t" "$t"
		nearby_warm
		nearby_run "$(case_of "$t")" "$r" "$conns"
		[ "$t" = auto ] && nearby_run nearby/c1 "$r" 1
		stop_placesd
	done
done

nearby_sum_head
for t in "${rthreads[@]}"; do
	nearby_sum "$(case_of "$t")" "/v1/nearby, -c$conns, [ranker] threads = $t$([ "$t" = auto ] && echo " ($ncpu)")"
	bench_row "req/s threads $t" "$(printf '%.0f' "$(med_rounds RPS "$(case_of "$t")")")" req/s
done
nearby_sum nearby/c1 "/v1/nearby, one connection, threads = auto"
bench_row "p50 one connection" "$(med_rounds P50 nearby/c1)" ms

nearby_ratio_head
for t in "${rthreads[@]}"; do
	[ "$t" = 1 ] && continue
	case " ${rthreads[*]} " in *" 1 "*) ;; *) continue ;; esac
	ratio_show "nearby req/s threads $t / threads 1" RPS "$(case_of "$t")" nearby/t1
	bench_row "req/s threads $t / 1" "$ratio_last" x
done
echo "oth% = share of all CPU time used by processes other than placesd, PostgreSQL, wrk and curl during that run"
echo "ranker: $nplaces places: ${snap_desc:-?}, RSS ${ranker_rss:-?} MB"
bench_finish "No non-2xx answers, no socket errors, no degraded answers, no database errors or timeouts, nothing logged at warn or above."
