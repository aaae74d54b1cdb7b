#!/bin/bash
# tests/bench/offers_storm.sh -- does a publish storm slow /healthz?  The
# p99 of GET /healthz, asked as a health checker does (--probe C
# keep-alive connections, 25 requests a second each, h2load at real-time
# priority), while offers are published to N subscribers of
# GET /v1/offers/stream (windows of 4 s) against the same with the
# subscribers connected and idle (the 4 s windows between them).
#
# The defaults are the storm of the project's results: 1,000 subscribers
# over 2 client processes at nice 19, 1,200 offers one every 10 ms (100
# a second), 8 probe connections.  The rounds, the subscribers and the
# offers are offers.sh's (the same client, sse_client.py, and the same
# per-round table and medians); this script adds the probe's windows and
# prints the median over each kind of its windows' p99s and their ratio.
# Aim: a publish storm keeps /healthz p99 <= 2x idle.  How it measures:
# tests/bench/README.md ("offers_storm").
#
# Exit status: 0 when every subscriber got every offer, 3 when subscribers
# failed to connect, missed offers or were closed, or publishing failed,
# 1 when placesd, PostgreSQL, placesctl or the client failed, 2 on a usage
# or setup error.  Needs: PostgreSQL's binaries, curl, h2load
# (nghttp2-client), /usr/bin/python3.

# shellcheck disable=SC2034,SC2154 # variables shared with lib.sh
set -u -o pipefail

# bench-quick: --subscribers 500 --offers 500 --rounds 1
prog=${0##*/}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || { echo "$prog: cannot read lib.sh beside it" >&2; exit 2; }
. "$(dirname "${BASH_SOURCE[0]}")/lib_offers.sh" || { echo "$prog: cannot read lib_offers.sh beside it" >&2; exit 2; }

usage() { cat <<EOF
Usage: $prog [OPTIONS]

/healthz p99 while offers are published to N subscribers of
GET /v1/offers/stream, against the same with the subscribers idle, in
alternating 4 s windows.  Aim: during the offers <= 2x idle.

Options:
  --probe C          GET /healthz on C keep-alive connections, each asking 25
                     times a second (h2load), from half a second after each
                     window opens to half a second before it closes
                     (default: $probe)
$(usage_offers)
$(usage_common)

Publishing must last longer than one window (4 s): --offers x --interval
> 4 s, or there is no idle window to compare with.

Examples, from a build directory (SRCDIR = the source tree):
  SRCDIR/tests/bench/offers_storm.sh --rounds 1
  SRCDIR/tests/bench/offers_storm.sh --subscribers 1000 --offers 1200 --interval 10ms --procs 2 --client-nice 19 --probe 8
EOF
}

offers_optvars
optvar+=([--probe]=probe)
nsubs=1000 noffers=1200 interval=10ms procs=2 client_nice=19 probe=8
parse_opts "$@"
is_uint "$probe" || die "--probe: 1..1000 connections, not '$probe'"
offers_check_opts
offers_setup
offers_run "placesd live offer stream benchmark: /healthz during a publish storm"
offers_summary

bench_row "healthz p99 storm/idle" "$hz_ratio" x "<=2"
bench_row "healthz p99 idle" "$hz_idle" ms
bench_row "healthz p99 storm" "$hz_storm" ms
[ ${#failed_subs[@]} -gt 0 ] && exit 3
exit 0
