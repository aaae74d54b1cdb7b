#!/bin/bash
# tests/bench/digest_readmodel.sh -- what does the city read model buy
# POST /v1/digest?  Requests/s and p99 at --connections (64 and 256) with
# the events service --latency (20 ms) away, with the read model on
# ([cache] max_bytes 64m: "digest") and off (max_bytes 0, every digest
# queries PostgreSQL: "digest/off"), in the same rounds.
#
# Per round a fresh placesd-events and placesd for each side, the sides
# in alternating order, wrk at each connection count (order alternating
# too); the runs, the sample of digests checked for errors and every
# check are digest.sh's (lib.sh, "POST /v1/digest").  It prints every run,
# then per connection count the medians: req/s on, off, on/off, and both
# p99s.  The Little's-law bound and the CPU limit: digest.sh.  How it
# measures: tests/bench/README.md ("digest_readmodel").
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

Benchmark placesd's POST /v1/digest with the city read model on ([cache]
max_bytes 64m) and off (0) in the same rounds, against an events service
with a fixed latency: req/s and p99 of each at each connection count.

Options:
$(usage_digest)
$(usage_common)

Examples, from a build directory (SRCDIR = the source tree):
  SRCDIR/tests/bench/digest_readmodel.sh --places 5000 --rounds 1 --duration 5s --warmup 1s
  SRCDIR/tests/bench/digest_readmodel.sh --latency 5 --connections 16,64
EOF
}

digest_optvars
parse_opts "$@"
digest_check_opts
digest_setup

digest_round() { block_latency "$1" "on off" 0; }
digest_run "placesd POST /v1/digest benchmark: the city read model" \
	"digest: [cache] max_bytes 64m; digest/off: 0" "-d $latency"

echo
echo "The city read model: digest (on, [cache] max_bytes 64m) against digest/off (max_bytes 0), medians"
printf '%5s %11s %11s %9s %11s %11s\n' conns "req/s on" "req/s off" "on/off" "p99 on ms" "p99 off ms"
for c in "${conns_list[@]}"; do
	on=$(med_rounds RPS "digest@$c") off=$(med_rounds RPS "digest/off@$c")
	printf '%5s %11s %11s %9s %11.3f %11.3f\n' "$c" "$(fmt_rps "$on")" "$(fmt_rps "$off")" "$(ratio "$on" "$off")" \
		"$(med_rounds P99 "digest@$c")" "$(med_rounds P99 "digest/off@$c")"
	bench_row "c=$c req/s read model on/off" "$(ratio "$on" "$off")" x
	bench_row "c=$c req/s read model on" "$(printf '%.0f' "$on")" req/s
done

digest_problems
digest_notes
[ ${#failed_reqs[@]} -gt 0 ] && exit 3
exit 0
