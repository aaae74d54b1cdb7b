#!/bin/bash
# run-demo.sh: the whole service on this machine, from nothing:
#   installs what is missing (Debian packages), builds placesd, starts a
#   throwaway PostgreSQL cluster under ./demo/pg (as the postgres user when
#   run as root: PostgreSQL refuses to run as root), applies the
#   migrations, generates the demo data once (100,000 places; a second run
#   reuses them), starts the demo events service (placesd-events) on
#   127.0.0.1:8081, and runs placesd in the foreground on 127.0.0.1:8080,
#   where http://127.0.0.1:8080/ is a web page over the API (www/).
# PORT=..., EVENTS_PORT=..., PLACES=... change the ports and the size of the
# data set; EVENTS_FAULT=500 (hang, badjson, ...) makes the events service
# misbehave on 20% of its calls.
# Ctrl-C stops placesd, the events service, then the cluster: nothing is
# left running.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
port=${PORT:-8080}
evport=${EVENTS_PORT:-$((port + 1))}
places=${PLACES:-100000}
demo=$here/demo
build=$here/build/demo
pgbin=/usr/lib/postgresql/15/bin
pgdir=$demo/pg

packages=(build-essential autoconf automake pkg-config
	libevent-dev libevhtp-dev libpq-dev libjansson-dev libinih-dev libstemmer-dev zlib1g-dev
	postgresql-15 curl)

install_missing() {
	local missing=() p sudo=
	for p in "${packages[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${missing[@]}"
}

build_placesd() {
	if [ -x "$build/src/placesd" ] && [ -x "$build/src/placesctl" ] &&
		[ -x "$build/src/placesd-events" ] &&
		[ -z "$(find "$here/src" "$here/configure.ac" "$here/Makefile.am" \
		-newer "$build/src/placesd" -print -quit)" ]; then
		return 0
	fi
	echo "==> building placesd"
	(cd "$here" && autoreconf -fi)
	mkdir -p "$build"
	(cd "$build" && "$here/configure" -q && make -j"$(nproc)" >/dev/null)
}

# PostgreSQL runs as the postgres user when we are root.
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

start_cluster() {
	mkdir -p "$pgdir"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$pgdir" && chmod 755 "$pgdir"
	if [ ! -s "$pgdir/data/PG_VERSION" ]; then
		echo "==> creating a PostgreSQL cluster in $pgdir"
		as_pg "$pgbin/initdb" -D "$pgdir/data" -U placesd --auth=trust \
			-E UTF8 --locale=C.UTF-8 >/dev/null
	fi
	as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w -t 60 \
		-o "-c listen_addresses='' -c unix_socket_directories=$pgdir" \
		start >/dev/null
	as_pg "$pgbin/psql" -h "$pgdir" -U placesd -d postgres -qAt \
		-c "SELECT 1 FROM pg_database WHERE datname = 'placesd'" |
		grep -q 1 || as_pg "$pgbin/createdb" -h "$pgdir" -U placesd placesd
}

stop_all() {
	trap - EXIT INT TERM
	if [ -n "${pid:-}" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	if [ -n "${evpid:-}" ] && kill -0 "$evpid" 2>/dev/null; then
		kill -TERM "$evpid" 2>/dev/null || true
		wait "$evpid" 2>/dev/null || true
	fi
	as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -m fast -w stop >/dev/null 2>&1 ||
		true
	echo "==> stopped placesd, the demo events service and PostgreSQL"
}

install_missing
build_placesd
mkdir -p "$demo"
trap stop_all EXIT INT TERM
start_cluster

# the admin token of POST /v1/offers: made once, readable by us only
if [ ! -s "$demo/admin.token" ]; then
	(umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' \
		> "$demo/admin.token")
fi
chmod 600 "$demo/admin.token"
token=$(cat "$demo/admin.token")

cat > "$demo/placesd.conf" <<CONF
; written by run-demo.sh; see placesd.conf(5)
[server]
listen = 127.0.0.1:$port
workers = auto
shutdown_timeout = 5s

[database]
conninfo = host=$pgdir user=placesd dbname=placesd

[ranker]
socket = $demo/ranker.sock

[upstream]
events_url = http://127.0.0.1:$evport/events

[offers]
admin_token_file = $demo/admin.token

[http]
; the page at /, from the source tree (make install puts it elsewhere)
static_dir = $here/www
CONF

# the demo events service; EVENTS_FAULT=500 (or hang, badjson, ...) makes
# it misbehave on 20% of the calls: see placesd-events(8)
"$build/src/placesd-events" -l "127.0.0.1:$evport" -P "$places" \
	${EVENTS_FAULT:+-f "$EVENTS_FAULT" -r 0.2} &
evpid=$!

"$build/src/placesctl" -c "$demo/placesd.conf" migrate --dir "$here/src/sql"
"$build/src/placesctl" -c "$demo/placesd.conf" seed --places "$places" \
	--if-empty

cat <<MSG

placesd is starting on http://127.0.0.1:$port (Ctrl-C stops everything).

Open http://127.0.0.1:$port/ in a browser: search, places, the digest and
live offers (publish one with the POST below and watch it appear). Or try:

  curl -s http://127.0.0.1:$port/v1/cities
  curl -s 'http://127.0.0.1:$port/v1/cities/moscow/places?cuisine=georgian&limit=3'
  curl -s http://127.0.0.1:$port/v1/places/1
  curl -s 'http://127.0.0.1:$port/v1/nearby?lat=55.7558&lon=37.6173&q=khachapuri&limit=3'
  curl -s -H 'Content-Type: application/json' -d '{"date":"2026-11-23","city":"moscow","limit":3}' http://127.0.0.1:$port/v1/digest
  curl -sN http://127.0.0.1:$port/v1/offers/stream      # then, in another terminal:
  curl -s -H 'Authorization: Bearer $token' -H 'Content-Type: application/json' \\
    -d '{"place_id":1,"title":"Two for one","discount_pct":50,"starts_at":"2026-01-01T00:00:00Z","ends_at":"2030-01-01T00:00:00Z"}' \\
    http://127.0.0.1:$port/v1/offers
  curl -s http://127.0.0.1:$port/readyz
  curl -s http://127.0.0.1:$port/metrics | grep '^placesd_'

MSG
"$build/src/placesd" -c "$demo/placesd.conf" &
pid=$!
wait "$pid"
