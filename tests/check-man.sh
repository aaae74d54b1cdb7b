#!/bin/bash
# check-man.sh: the man pages are clean under "mandoc -Tlint -Wwarning".
#
# Fails on a non-zero exit or on any message (WARNING, ERROR, UNSUPP).
# STYLE messages, such as "referenced manual not found", are below
# -Wwarning and not shown. Exit: 0 ok, 1 lint failed, 77 mandoc missing.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(dirname "$here")}
me=check-man

if ! command -v mandoc > /dev/null 2>&1; then
	echo "$me: SKIP: mandoc not installed"
	exit 77
fi

fail=0
for page in man/placesd.8 man/placesd.conf.5 man/placesctl.8 \
    man/placesd-events.8; do
	if [ ! -r "$top_srcdir/$page" ]; then
		echo "$me: FAIL: $page not found" >&2
		fail=1
		continue
	fi
	out=$(cd "$top_srcdir" && mandoc -Tlint -Wwarning "$page" 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
		echo "$me: FAIL: mandoc -Tlint -Wwarning $page (exit $rc):" >&2
		[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/    /' >&2
		fail=1
	else
		echo "$me: ok: $page"
	fi
done
exit "$fail"
