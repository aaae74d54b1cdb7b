#!/bin/bash
# check-fuzz.sh: runs the libFuzzer target tests/fuzz/fuzz_edge.c (the
# edge's request framer, and libevhtp's parser on what it lets through),
# built by automake ("make fuzz": clang, ASan and UBSan, the project's
# warning flags), for FUZZ_SECONDS (default 45) from the seeds in
# tests/fuzz/seeds and the raw requests of tests/edge-corpus. Any finding
# fails the test and is kept in the build tree (tests/fuzz-findings/) with
# the fuzzer's log.
# Under make check the harness builds the target first and passes
# FUZZ_EDGE (its path, empty when configure found no clang with libFuzzer)
# and FUZZ_CC; run by hand, it takes $top_builddir/tests/fuzz/fuzz_edge.
# Exit: 0 nothing found, 1 a finding, 77 clang or libFuzzer missing (or,
# by hand, the target not built).
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
seconds=${FUZZ_SECONDS:-45}

if [ -z "${FUZZ_EDGE+set}" ]; then
	# by hand: use what "make fuzz" left, if anything
	FUZZ_EDGE=$top_builddir/tests/fuzz/fuzz_edge
	if [ ! -x "$FUZZ_EDGE" ]; then
		echo "check-fuzz: SKIP: $FUZZ_EDGE not built" \
			"(make fuzz, or make check TESTS=tests/check-fuzz.sh)"
		exit 77
	fi
elif [ -z "$FUZZ_EDGE" ]; then
	if [ -z "${FUZZ_CC:-}" ]; then
		echo "check-fuzz: SKIP: clang not installed (configure found no FUZZ_CC)"
	else
		echo "check-fuzz: SKIP: $FUZZ_CC cannot link -fsanitize=fuzzer" \
			"(with clang: its libFuzzer runtime, libclang-rt-dev; see config.log)"
	fi
	exit 77
elif [ ! -x "$FUZZ_EDGE" ]; then
	echo "check-fuzz: FAIL: $FUZZ_EDGE not built (make fuzz)"
	exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/check-fuzz.XXXXXX") || exit 99
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
cp "$top_srcdir"/tests/fuzz/seeds/* "$work/corpus/"
if [ -d "$top_srcdir/tests/edge-corpus" ]; then
	for f in "$top_srcdir"/tests/edge-corpus/*.http; do
		[ -e "$f" ] && cp "$f" "$work/corpus/"
	done
fi
findings=$top_builddir/tests/fuzz-findings
mkdir -p "$findings"
echo "check-fuzz: fuzzing the request path for ${seconds}s" \
	"($(ls "$work/corpus" | wc -l) seeds)"
(cd "$work" && "$FUZZ_EDGE" -max_total_time="$seconds" -timeout=10 \
	-rss_limit_mb=1024 -print_final_stats=1 \
	-artifact_prefix="$findings/" corpus) > "$work/fuzz.log" 2>&1
rc=$?
tail -20 "$work/fuzz.log"
if [ $rc -ne 0 ] || ls "$findings"/crash-* "$findings"/leak-* \
	"$findings"/timeout-* > /dev/null 2>&1; then
	cp "$work/fuzz.log" "$findings/fuzz.log"
	echo "check-fuzz: FAIL: the fuzzer found an input (see $findings)"
	exit 1
fi
rmdir "$findings" 2> /dev/null
echo "check-fuzz: ok: $(grep -o 'stat::number_of_executed_units: [0-9]*' \
	"$work/fuzz.log" | awk '{print $2}') inputs, nothing found"
exit 0
