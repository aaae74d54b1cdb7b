#!/bin/bash
# tests/bench/digest.sh -- POST /v1/digest: does it reach the Little's-law
# bound (connections / the latency of one digest) until the CPU is the
# limit?  Requests/s and p99 at --connections (64 and 256) with the events
# service --latency (20 ms) away, beside that bound and beside the CPU
# limit (the same with the events service answering at once).
#
# Per round (order alternating): digest/c1 (one connection: its p50 is L,
# one digest without queueing), digest at each connection count, and
# digest/0ms at each count; placesd and placesd-events started afresh for
# each latency.  It prints every run, then per connection count the
# medians (req/s, p50, p99, C/lat, C/L, ratio = req/s / (C/L), the CPU
# limit and its p99) and a verdict: latency-bound (ratio >= 0.9, the aim),
# CPU-bound (within 10% of digest/0ms) or neither; and where C/L reaches
# the CPU limit.  The city read model on and off: digest_readmodel.sh.
# How it measures: tests/bench/README.md ("digest").
#
# Exit status: 0 when every run completed and no request failed, 3 when
# some requests failed (non-2xx, socket errors, digests with errors), 1
# when placesd, the events service, PostgreSQL, placesctl or wrk failed,
# 2 on a usage or setup error.  Needs: PostgreSQL's binaries, wrk, curl.

# shellcheck disable=SC2034,SC2154 # variables shared with lib.sh
set -u -o pipefail

# bench-quick: --rounds 1 --duration 3s --warmup 1s --sample 10
prog=${0##*/}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || { echo "$prog: cannot read lib.sh beside it" >&2; exit 2; }
. "$(dirname "${BASH_SOURCE[0]}")/lib_digest.sh" || { echo "$prog: cannot read lib_digest.sh beside it" >&2; exit 2; }

usage() { cat <<EOF
Usage: $prog [OPTIONS]

Benchmark placesd's POST /v1/digest against an events service with a fixed
latency: req/s, p50 and p99 at each connection count beside the
Little's-law bound (connections / latency) and the CPU limit (the same with
an events service that answers at once).

Options:
$(usage_digest)
  --readmodel MODE   on (default: [cache] max_bytes 64m) or off (0: every
                     digest queries PostgreSQL); both sides in the same
                     rounds: digest_readmodel.sh
$(usage_common)

Examples, from a build directory (SRCDIR = the source tree):
  SRCDIR/tests/bench/digest.sh --places 5000 --rounds 1 --duration 5s --warmup 1s
  SRCDIR/tests/bench/digest.sh --latency 50 --connections 16,64,256,512
  SRCDIR/tests/bench/digest.sh --keep /tmp/digest-bench
EOF
}

digest_optvars
optvar+=([--readmodel]=readmodel)
readmodel=on
parse_opts "$@"
case $readmodel in
on|off) ;;
both) die "--readmodel both is digest_readmodel.sh now: $bench_dir/digest_readmodel.sh" ;;
*) die "--readmodel: on or off, not '$readmodel'" ;;
esac
digest_check_opts
digest_setup

# block_zero ROUND: the events service at 0 ms (read model as in digest)
block_zero() {
	local r=$1 c mb=64m
	[ "$readmodel" = off ] && mb=0
	start_events d0 0
	digest_placesd d0 "$mb"
	digest_warmup
	for c in $(conns_order "$r"); do
		run_digest digest/0ms "$r" "$c" 0
	done
	stop_placesd
	stop_events
}
digest_round() {
	if [ $(($1 % 2)) -eq 1 ]; then
		block_latency "$1" "$readmodel" 1; block_zero "$1"
	else
		block_zero "$1"; block_latency "$1" "$readmodel" 1
	fi
}
digest_run "placesd POST /v1/digest benchmark" \
	"--readmodel $readmodel (digest: [cache] max_bytes $([ "$readmodel" = off ] && echo 0 || echo 64m))" \
	"-d $latency (the digest cases) and -d 0 (digest/0ms)"

# --------------------------------------------------------------- summary ---
L=$(med_rounds P50 "digest/c1@1")
awk -v l="$L" 'BEGIN { exit !(l > 0) }' || { note "no p50 from digest/c1 (L = '$L')"; exit 1; }
own=$(awk -v l="$L" -v t="$latency" 'BEGIN { printf "%.3f", l - t }')
echo
echo "Medians over $rounds round(s).  Latency $latency ms; L = p50 of digest/c1 = $(printf '%.3f' "$L") ms ($latency ms upstream + $own ms placesd and PostgreSQL)"
echo "C/lat = C / $latency ms (naive bound); C/L = C / L (Little's law); ratio = req/s / (C/L); CPU limit = digest/0ms req/s at C"
printf '%5s %9s %8s %9s %9s %9s %7s %10s %10s   %s\n' conns "req/s" "p50 ms" "p99 ms" "C/lat" "C/L" ratio "CPU limit" "0ms p99" "cores pd/pg/ev/cl idle: digest | digest/0ms"
printf '%s\n' "------------------------------------------------------------------------------------------------------------------------------"
printf '%5s %9s %8.3f %9.3f %9s %9s %7s %10s %10s   %s\n' 1 "$(fmt_rps "$(med_rounds RPS digest/c1@1)")" \
	"$(med_rounds P50 digest/c1@1)" "$(med_rounds P99 digest/c1@1)" \
	"$(fmt_rps "$(awk -v t="$latency" 'BEGIN { print 1000 / t }')")" \
	"$(fmt_rps "$(awk -v l="$L" 'BEGIN { print 1000 / l }')")" \
	"$(ratio "$(med_rounds RPS digest/c1@1)" "$(awk -v l="$L" 'BEGIN { print 1000 / l }')")" - - "$(cores_med digest/c1@1) (digest/c1: L)"
verdicts=()
cpu_max=0
for c in "${conns_list[@]}"; do
	rps=$(med_rounds RPS "digest@$c")
	zrps=$(med_rounds RPS "digest/0ms@$c")
	naive=$(awk -v c="$c" -v t="$latency" 'BEGIN { printf "%.1f", c * 1000 / t }')
	bound=$(awk -v c="$c" -v l="$L" 'BEGIN { printf "%.1f", c * 1000 / l }')
	rt=$(ratio "$rps" "$bound")
	printf '%5s %9s %8.3f %9.3f %9s %9s %7s %10s %10.3f   %s | %s\n' "$c" "$(fmt_rps "$rps")" \
		"$(med_rounds P50 "digest@$c")" "$(med_rounds P99 "digest@$c")" "$(fmt_rps "$naive")" "$(fmt_rps "$bound")" \
		"$rt" "$(fmt_rps "$zrps")" "$(med_rounds P99 "digest/0ms@$c")" "$(cores_med "digest@$c")" "$(cores_med "digest/0ms@$c")"
	awk -v z="$zrps" -v m="$cpu_max" 'BEGIN { exit !(z > m) }' && { cpu_max=$zrps; cpu_max_c=$c; }
	if awk -v x="$rt" 'BEGIN { exit !(x >= 0.9) }'; then
		verdict="latency-bound (ratio $rt >= 0.9)"
	elif awk -v a="$rps" -v z="$zrps" 'BEGIN { exit !(a >= 0.9 * z) }'; then
		verdict="below the bound: CPU-bound at ~$(fmt_rps "$zrps") req/s (the 0 ms case)"
	else
		verdict="below the bound and below the CPU limit (ratio $rt; the 0 ms case does $(fmt_rps "$zrps") req/s; $(printf '%.2f' "$(med_rounds CID "digest@$c")") of $ncpu cores idle meanwhile)"
	fi
	verdicts+=("$(printf '%4s connections: %s req/s, C/L %s (C/lat %s): %s' "$c" "$(fmt_rps "$rps")" "$(fmt_rps "$bound")" "$(fmt_rps "$naive")" "$verdict")")
	# the aim holds until the CPU is the limit
	bench_row "c=$c req/s / (C/L)" "$rt" x "$([[ $verdict == *CPU-bound* ]] || echo ">=0.9")"
	bench_row "c=$c req/s" "$(printf '%.0f' "$rps")" req/s
done
bench_row "L (digest/c1 p50)" "$(printf '%.3f' "$L")" ms
bench_row "CPU limit (digest/0ms)" "$(printf '%.0f' "$cpu_max")" req/s
c_at=$(awk -v z="$cpu_max" -v l="$L" 'BEGIN { printf "%.0f", z * l / 1000 }')
cpu_line="CPU limit: ~$(fmt_rps "$cpu_max") req/s (digest/0ms at ${cpu_max_c:-?} connections); C/L reaches it at C = limit x L = ~$c_at connections: >= 0.9x the bound is the aim below that, the CPU limit above it"
read -r zpd zpg zev zcl zid <<<"$(cores_med "digest/0ms@${cpu_max_c:-0}" | tr '/' ' ')"
cpu_where="there the $ncpu cores went to PostgreSQL $zpg, placesd $zpd, the events service $zev, the clients $zcl (idle $zid)"

digest_problems
echo "Aim: req/s >= 0.9x C/L until the CPU is the limit"
printf '  %s\n' "${verdicts[@]}"
echo "  $cpu_line"
echo "    ($cpu_where)"
echo
digest_notes
[ ${#failed_reqs[@]} -gt 0 ] && exit 3
exit 0
