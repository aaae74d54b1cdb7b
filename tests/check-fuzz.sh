#!/bin/bash
# check-fuzz.sh: builds the libFuzzer target tests/fuzz/fuzz_edge.c (the
# edge's request framer, and libevhtp's parser on what it lets through)
# with clang, ASan and UBSan, and runs it for FUZZ_SECONDS (default 45)
# from the seeds in tests/fuzz/seeds and the raw requests of
# tests/edge-corpus. Any finding fails the test and is kept in the build
# tree (tests/fuzz-findings/) with the fuzzer's log.
# Exit: 0 nothing found, 1 a finding, 77 clang or libFuzzer missing.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
seconds=${FUZZ_SECONDS:-45}
cc=${FUZZ_CC:-clang}

if ! command -v "$cc" > /dev/null 2>&1; then
	echo "check-fuzz: SKIP: $cc not installed"
	exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/check-fuzz.XXXXXX") || exit 99
trap 'rm -rf "$work"' EXIT
evhtp_cflags=$(pkg-config --cflags evhtp 2>/dev/null)
if ! "$cc" -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -D_GNU_SOURCE -I"$top_srcdir/src" \
	$evhtp_cflags \
	"$top_srcdir/tests/fuzz/fuzz_edge.c" \
	"$top_srcdir/src/runtime/edge_parse.c" \
	"$top_srcdir/src/common/util.c" \
	-levhtp -levent -o "$work/fuzz_edge" 2> "$work/build.log"; then
	if grep -q "libclang_rt.fuzzer\|fsanitize=fuzzer" "$work/build.log"; then
		echo "check-fuzz: SKIP: libFuzzer runtime missing (libclang-rt-dev)"
		cat "$work/build.log"
		exit 77
	fi
	cat "$work/build.log"
	echo "check-fuzz: FAIL: the fuzz target does not build"
	exit 1
fi
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
(cd "$work" && ./fuzz_edge -max_total_time="$seconds" -timeout=10 \
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
