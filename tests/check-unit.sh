#!/bin/bash
# check-unit.sh: the systemd unit is valid and hardened.
#
# Builds a copy of systemd/placesd.service from the template in a temporary
# directory, with @sbindir@ pointing at a directory that holds an executable
# "placesd" (verify refuses an ExecStart= that is not executable), then
#   1. "systemd-analyze verify --man=no" must exit 0 and print nothing:
#      it exits 0 even for unknown keys or bad values, so any output fails;
#   2. "systemd-analyze security --offline=yes" must rate the exposure at
#      2.0 or below. systemd 252 takes --threshold= on its internal 0..100
#      scale (the printed level is that number / 10), so 2.0 is 20.
# It also checks the few directives the daemon's contract depends on.
# Exit: 0 ok, 1 a check failed, 77 systemd-analyze missing.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(dirname "$here")}
top_builddir=${top_builddir:-$top_srcdir}
me=check-unit
template=$top_srcdir/systemd/placesd.service.in
threshold=20

if ! command -v systemd-analyze > /dev/null 2>&1; then
	echo "$me: SKIP: systemd-analyze not installed"
	exit 77
fi
if [ ! -r "$template" ]; then
	echo "$me: FAIL: $template not found" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-unit.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/sbin" "$tmp/etc" "$tmp/unit"
if [ -x "$top_builddir/src/placesd" ]; then
	ln -s "$top_builddir/src/placesd" "$tmp/sbin/placesd"
else
	ln -s "$(type -P true || echo /bin/true)" "$tmp/sbin/placesd"
fi
unit=$tmp/unit/placesd.service
# The same substitution as the Makefile rule.
sed -e "s|@sbindir[@]|$tmp/sbin|g" -e "s|@sysconfdir[@]|$tmp/etc|g" \
	"$template" > "$unit"

fail=0
problem() {
	echo "$me: FAIL: $*" >&2
	fail=1
}

if grep -n '@[a-z_]*@' "$unit" >&2; then
	problem "unsubstituted @variables@ left in the unit (above)"
fi

# 1. verify. Run from the temporary directory so that nothing is written
# next to the sources, and with a private HOME/XDG dirs for the same reason.
out=$(cd "$tmp" && HOME=$tmp XDG_RUNTIME_DIR=$tmp \
	systemd-analyze verify --man=no "$unit" 2>&1)
rc=$?
if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
	problem "systemd-analyze verify --man=no (exit $rc):"
	[ -n "$out" ] && printf '%s\n' "$out" | sed "s|$tmp/unit/||; s/^/    /" >&2
fi

# 2. security exposure.
out=$(cd "$tmp" && systemd-analyze security --offline=yes \
	--threshold="$threshold" "$unit" 2>&1)
rc=$?
level=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for placesd.service: \([0-9.]*\).*/\1/p')
if [ "$rc" -ne 0 ]; then
	problem "systemd-analyze security: exposure ${level:-unknown} is above 2.0 (exit $rc):"
	printf '%s\n' "$out" | grep '✗' | sed 's/^/    /' >&2
else
	echo "$me: ok: exposure level ${level:-unknown} (threshold 2.0)"
fi

# 3. The directives placesd's behaviour is documented with.
expect() {
	grep -qx -- "$1" "$unit" || problem "the unit lacks \"$1\""
}
expect "Type=notify"
expect "NotifyAccess=main"
expect "KillMode=mixed"
expect "Restart=on-failure"
expect "RestartPreventExitStatus=2"
expect "RuntimeDirectory=placesd"
expect "ExecReload=/bin/kill -HUP \$MAINPID"
expect "ExecStartPre=$tmp/sbin/placesd -t -c $tmp/etc/placesd/placesd.conf"
expect "ExecReload=$tmp/sbin/placesd -t -c $tmp/etc/placesd/placesd.conf"
expect "ExecStart=$tmp/sbin/placesd -c $tmp/etc/placesd/placesd.conf"

[ "$fail" -eq 0 ] && echo "$me: ok: systemd-analyze verify is silent"
exit "$fail"
