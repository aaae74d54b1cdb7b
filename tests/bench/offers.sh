#!/bin/bash
# tests/bench/offers.sh -- the live offer stream: how long does an offer
# take to reach N concurrent subscribers of GET /v1/offers/stream (default
# 10,000), and how much memory does an idle subscriber cost placesd?
#
# Each round starts placesd afresh on a seeded throwaway cluster, connects
# the subscribers (sse_client.py beside this script), reads the workers'
# memory with all of them idle, publishes --offers offers (POST
# /v1/offers, one every --interval) and notes each one's arrival at every
# subscriber (the kernel's receive stamp).  It prints every round, then the
# medians: the delay from publishing to the last subscriber (p50, p99 over
# the offers), every arrival, KB per idle subscriber (RSS, PSS), CPU per
# event.  Aims: p99 to the last subscriber <= 100 ms up to 10,000
# subscribers (<= 250 ms beyond, up to 50,000); <= 8 KB per idle
# subscriber.  /healthz during a publish storm: offers_storm.sh.  How it
# measures: tests/bench/README.md ("offers").
#
# Exit status: 0 when every subscriber got every offer, 3 when subscribers
# failed to connect, missed offers or were closed, or publishing failed,
# 1 when placesd, PostgreSQL, placesctl or the client failed, 2 on a usage
# or setup error.  Needs: PostgreSQL's binaries, curl, /usr/bin/python3.

# shellcheck disable=SC2034,SC2154 # variables shared with lib.sh
set -u -o pipefail

# bench-quick: --subscribers 500 --offers 5 --rounds 1
prog=${0##*/}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || { echo "$prog: cannot read lib.sh beside it" >&2; exit 2; }
. "$(dirname "${BASH_SOURCE[0]}")/lib_offers.sh" || { echo "$prog: cannot read lib_offers.sh beside it" >&2; exit 2; }

usage() { cat <<EOF
Usage: $prog [OPTIONS]

Benchmark placesd's live offer stream: N concurrent subscribers of
GET /v1/offers/stream, the delay from POST /v1/offers to the arrival at the
last of them (p50, p99), and placesd's memory per idle subscriber.
Aims: <= 8 KB per idle subscriber; p99 <= 100 ms up to 10,000 subscribers,
<= 250 ms beyond (50,000).  (/healthz during the offers: offers_storm.sh.)

Options:
$(usage_offers)
$(usage_common)

Examples, from a build directory (SRCDIR = the source tree):
  SRCDIR/tests/bench/offers.sh --subscribers 500 --offers 5 --rounds 1
  SRCDIR/tests/bench/offers.sh --rounds 1
  SRCDIR/tests/bench/offers.sh --subscribers 20000 --procs 2 --keep /tmp/offers-bench
  SRCDIR/tests/bench/offers.sh --subscribers 50000 --procs 2 --offers 10 --rounds 1
EOF
}

offers_optvars
optvar+=([--probe]=moved_probe)
moved_probe=
parse_opts "$@"
[ -z "$moved_probe" ] || die "--probe moved to offers_storm.sh: $bench_dir/offers_storm.sh --probe $moved_probe ..."
offers_check_opts
offers_setup
offers_run "placesd live offer stream benchmark"
offers_summary

bench_row "last subscriber p99 ($nsubs subs)" "$p99" ms "<=$p99_aim"
bench_row "KB RSS per idle subscriber" "$kbr" KB "<=8"
[ ${#failed_subs[@]} -gt 0 ] && exit 3
exit 0
