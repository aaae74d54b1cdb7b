#!/bin/bash
# run-demo.sh: runs placesd on this machine with a throwaway configuration
# under ./demo: installs what is missing, builds, starts the master (which
# starts the ranker and the workers) in the foreground on 127.0.0.1:8080
# (PORT=... to change), and prints a few requests to try. Ctrl-C stops
# everything it started.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
port=${PORT:-8080}
demo=$here/demo
build=$here/build/demo

packages=(build-essential autoconf automake libtool pkg-config
	libevent-dev libevhtp-dev libpq-dev libjansson-dev libinih-dev curl)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${missing[@]}"
fi

if [ ! -x "$build/src/placesd" ] || [ -n "$(find "$here/src" "$here/configure.ac" \
	"$here/Makefile.am" -newer "$build/src/placesd" -print -quit)" ]; then
	echo "==> building placesd"
	(cd "$here" && autoreconf -fi)
	mkdir -p "$build"
	(cd "$build" && "$here/configure" -q && make -j"$(nproc)" >/dev/null)
fi

mkdir -p "$demo"
cat > "$demo/placesd.conf" <<CONF
; written by run-demo.sh; see placesd.conf(5)
[server]
listen = 127.0.0.1:$port
workers = auto
shutdown_timeout = 5s

[log]
level = info

[ranker]
socket = $demo/ranker.sock
CONF

cat <<MSG

placesd is starting on http://127.0.0.1:$port (Ctrl-C stops it). Try:

  curl -s http://127.0.0.1:$port/healthz
  curl -s http://127.0.0.1:$port/readyz
  curl -s http://127.0.0.1:$port/metrics | grep '^placesd_'
  kill -HUP \$(pgrep -f 'placesd: master')   # reload without losing a request

MSG
exec "$build/src/placesd" -c "$demo/placesd.conf"
