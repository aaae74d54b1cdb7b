#!/bin/bash
# run-tests.sh: the whole test suite, as CI runs it (.ci/run calls this).
#  1. installs what is missing (Debian packages; needs root or sudo),
#  2. builds with -Werror and runs `make check`,
#  3. builds again with AddressSanitizer + UBSan and runs `make check`,
#  4. runs `make distcheck` (tarball, out-of-tree, read-only sources).
# The JavaScript clients the integration tests drive are pinned in
# tests/package.json and its lockfile and installed with `npm ci` (node
# and npm from Debian when missing); the tests then require them, and
# Debian's chromium, which test_browser.py drives with puppeteer-core.
# Build trees go under build/ (override with BUILD_ROOT=...).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build_root=${BUILD_ROOT:-$here/build}
jobs=${JOBS:-$(nproc)}

packages=(build-essential autoconf automake pkg-config
	libevent-dev libevhtp-dev libpq-dev libjansson-dev check libinih-dev
	libstemmer-dev zlib1g-dev
	postgresql-15 nghttp2-client wrk mandoc systemd curl python3
	procps iproute2 clang libclang-rt-14-dev valgrind
	chromium)

install_missing() {
	local missing=() p
	for p in "${packages[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "==> installing: ${missing[*]}"
	local sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${missing[@]}"
}

step() { printf '\n==> %s (%s)\n' "$*" "$(date +%T)"; }

# node and npm: Debian's, unless a node is already installed (a newer one
# from elsewhere brings its own npm, which Debian's would conflict with)
install_node() {
	command -v node >/dev/null && command -v npm >/dev/null && return 0
	local sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm
}

install_missing
install_node
cd "$here"
step "npm ci (tests/package-lock.json)"
npm ci --prefix "$here/tests" --no-audit --no-fund
export PLACESD_NODE_MODULES=$here/tests/node_modules PLACESD_REQUIRE_NODE=1
step "autoreconf"
autoreconf -fi

step "build with -Werror and make check"
mkdir -p "$build_root/werror"
(cd "$build_root/werror" && "$here/configure" -q --enable-werror &&
	make -j"$jobs" && make -j"$jobs" check) || {
	cat "$build_root/werror/test-suite.log" 2>/dev/null || true; exit 1; }

step "build with ASan + UBSan and make check"
mkdir -p "$build_root/sanitizers"
(cd "$build_root/sanitizers" && "$here/configure" -q --enable-werror \
	--enable-sanitizers && make -j"$jobs" && make -j"$jobs" check) || {
	cat "$build_root/sanitizers/test-suite.log" 2>/dev/null || true; exit 1; }

step "make distcheck"
(cd "$build_root/werror" && make -j"$jobs" distcheck) || exit 1

step "all tests passed"
