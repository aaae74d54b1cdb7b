# shellcheck shell=bash disable=SC2034,SC2154 # globals shared with lib.sh and the scripts
# tests/bench/lib_offers.sh -- what offers.sh and offers_storm.sh share:
# their options, the live offer stream's setup, rounds through
# sse_client.py, the probe windows, the tables and verdicts.  Sourced
# after lib.sh; bash only.
# ----------------------------------------- live offer stream (offers*) ---
# offers.sh and offers_storm.sh: N subscribers of GET /v1/offers/stream on
# a fresh placesd each round, offers published by sse_client.py; the
# scripts set the defaults of offers_optvars' variables and $probe.

# offers_optvars: optvar (common_optvars) with the offer stream's options
offers_optvars() {
	common_optvars
	optvar+=([--subscribers]=nsubs [--offers]=noffers [--interval]=interval [--rounds]=rounds
		[--workers]=workers [--procs]=procs [--client-nice]=client_nice [--read-pause]=read_pause
		[--sources]=sources)
	nplaces=2000 nsubs=10000 noffers=20 interval=500ms rounds=3 workers=auto procs='' sources=''
	client_nice=0 read_pause=0 probe=0 pool_size=4
	python_bin=/usr/bin/python3
	client=$bench_dir/sse_client.py
}
# usage_offers: the --help lines of offers_optvars' options (the defaults
# are the variables' values)
usage_offers() {
	cat <<EOF
  --places N         places to seed (default: $nplaces)
  --subscribers N    concurrent subscribers (default: $nsubs)
  --offers M         offers published per round (default: $noffers)
  --interval T       time between two offers: 500ms, 1s, or milliseconds
                     (default: $interval)
  --rounds R         rounds, placesd started afresh for each (default: $rounds)
  --workers N|auto   placesd workers (default: auto = $(nproc 2>/dev/null || echo '?') online cores, more
                     when the open-files limit cannot hold N subscribers on them)
  --procs P          client processes the subscribers are split over
                     (default: ${procs:-1, more when the open-files limit needs it})
  --client-nice N    run the load client at nice N (0..19): its CPU then goes
                     to placesd first, as remote subscribers' would; the
                     arrivals are the kernel's receive stamps either way
                     (default: $client_nice)
  --read-pause T     stop the subscriber processes (SIGSTOP) from just
                     before each publish until T after it (less than
                     --interval), so that the fan-out has the cores as
                     remote subscribers would leave them; arrivals are the
                     kernel's receive stamps either way (default: 0 = off;
                     at least 2 client processes then)
  --sources K        loopback source addresses 127.0.0.1..127.0.0.K for the
                     subscribers, against ephemeral port exhaustion
                     (default: as many as N subscribers need, 1 up to about
                     27,000 with the kernel's default port range)
EOF
}

# offers_check_opts: check the options; the open-files limit raised for
# N subscribers; procs, workers, sources, max_clients and max_subs
offers_check_opts() {
	set_workers
	is_uint "$nplaces" && [ "$nplaces" -le 10000000 ] || die "--places: 1..10000000, not '$nplaces'"
	nplaces=$((10#$nplaces))
	is_uint "$nsubs" && [ "$nsubs" -le 1000000 ] || die "--subscribers: 1..1000000, not '$nsubs'"
	nsubs=$((10#$nsubs))
	is_uint "$noffers" && [ "$noffers" -le 100000 ] || die "--offers: 1..100000, not '$noffers'"
	noffers=$((10#$noffers))
	interval_ms=$(ms_of "$interval")
	[ -n "$interval_ms" ] && [ "$interval_ms" -le 3600000 ] ||
		die "--interval: e.g. 500ms, 1s or 250 (milliseconds), not '$interval'"
	interval_s=$(secs_of "$interval_ms")
	read_pause_ms=$(ms_of "$read_pause")
	[ -n "$read_pause_ms" ] && { [ "$read_pause_ms" = 0 ] || [ "$read_pause_ms" -lt "$interval_ms" ]; } ||
		die "--read-pause: e.g. 400ms (less than --interval), not '$read_pause'"
	read_pause_s=$(secs_of "$read_pause_ms")
	[[ $client_nice =~ ^[0-9]+$ ]] && [ "$((10#$client_nice))" -le 19 ] || die "--client-nice: 0..19, not '$client_nice'"
	[[ $probe =~ ^[0-9]+$ ]] && [ "$((10#$probe))" -le 1000 ] || die "--probe: 0..1000 connections, not '$probe'"
	[ "$probe" -gt 0 ] && ! command -v h2load >/dev/null && die "--probe needs h2load (apt-get install nghttp2-client)"
	probe_win=4                 # seconds of a probe window (probe_series)
	is_uint "$rounds" || die "--rounds: a positive integer, not '$rounds'"
	rounds=$((10#$rounds))
	if [ -n "$procs" ]; then
		is_uint "$procs" && [ "$procs" -le 64 ] || die "--procs: 1..64, not '$procs'"
		procs=$((10#$procs))
		[ "$procs" -le "$nsubs" ] || procs=$nsubs
	fi
	# ephemeral ports per source address (1000 spared for everything else)
	read -r port_lo port_hi < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || { port_lo=32768; port_hi=60999; }
	ports_per_source=$((port_hi - port_lo + 1 - 1000))
	[ "$ports_per_source" -ge 1000 ] || ports_per_source=1000
	need_sources=$(((nsubs + ports_per_source - 1) / ports_per_source))
	if [ -z "$sources" ]; then
		sources=$need_sources
	else
		is_uint "$sources" && [ "$sources" -le 254 ] || die "--sources: 1..254, not '$sources'"
		sources=$((10#$sources))
		[ "$sources" -ge "$need_sources" ] ||
			die "--sources $sources: $nsubs subscribers need $need_sources loopback source addresses ($ports_per_source ephemeral ports each)"
	fi
	[ "$sources" -le 254 ] || die "$nsubs subscribers need more than 254 loopback source addresses"
	find_binaries
	[ -x "$python_bin" ] || die "$python_bin not found (apt-get install python3)"
	"$python_bin" -c 'import sys; sys.exit(sys.version_info < (3, 7))' 2>/dev/null ||
		die "$python_bin is older than Python 3.7"
	[ -r "$client" ] || die "the load client $client is missing"

	# open files: one per subscriber in the client process and in the worker
	# that holds it (which one is the kernel's SO_REUSEPORT hash)
	want_files=65536
	[ "$want_files" -lt $((nsubs + 1024)) ] && want_files=$((nsubs + 1024))
	hard=$(ulimit -Hn)
	# raising the hard limit needs root (CAP_SYS_RESOURCE), up to fs.nr_open
	[ "$hard" != unlimited ] && [ "$hard" -lt "$want_files" ] && ulimit -Hn "$want_files" 2>/dev/null
	hard=$(ulimit -Hn)
	[ "$hard" = unlimited ] && hard=$want_files
	nofile=$(ulimit -Sn)
	[ "$nofile" = unlimited ] && nofile=$want_files
	if [ "$nofile" -lt "$want_files" ]; then
		[ "$hard" -lt "$want_files" ] && want_files=$hard
		ulimit -Sn "$want_files" 2>/dev/null
		nofile=$(ulimit -Sn)
	fi
	# without --procs / --workers: as many client processes and workers as the
	# limit needs (a hard limit only root with CAP_SYS_RESOURCE may raise)
	fits=$((nofile - 128))
	if [ -z "$procs" ]; then
		procs=$(((nsubs + fits - 1) / fits))
		[ "$procs" -ge 1 ] || procs=1
		[ "$read_pause_ms" -gt 0 ] && [ "$procs" -lt 2 ] && [ "$nsubs" -ge 2 ] && procs=2
	fi
	[ "$read_pause_ms" -gt 0 ] && [ "$procs" -lt 2 ] && die "--read-pause needs --procs 2 or more"
	if [ "$workers" = auto ]; then
		while [ "$nworkers" -lt 64 ] && [ "$nofile" -lt $((nsubs * 5 / (4 * nworkers) + 256)) ]; do
			nworkers=$((nworkers + 1))
		done
		[ "$nworkers" -ne "$ncpu" ] && workers=$nworkers &&
			note "$nworkers workers (more than the $ncpu cores) for $nsubs subscribers: the open-files limit is $nofile per process"
	fi
	per_proc=$(((nsubs + procs - 1) / procs))
	[ "$nofile" -ge $((per_proc + 64)) ] ||
		die "the open-files limit is $nofile (hard $(ulimit -Hn)); the client needs $((per_proc + 64)) per process: use --procs $(((nsubs + nofile - 200) / (nofile - 128))) or fewer --subscribers"
	[ "$nofile" -ge $((nsubs * 5 / (4 * nworkers) + 256)) ] ||
		die "the open-files limit is $nofile (hard $(ulimit -Hn)): too low for $nsubs subscribers over $nworkers worker(s)"
	nofile_note=
	[ "$nofile" -lt $((nsubs + 256)) ] &&
		nofile_note=" (below $nsubs + 256: a worker that the kernel's hash gives more than $((nofile - 256)) subscribers runs out)"
	max_clients=40000
	[ "$max_clients" -lt $((nsubs + 1024)) ] && max_clients=$((nsubs + 1024))
	max_subs=20000
	[ "$max_subs" -lt $((nsubs + 1024)) ] && max_subs=$((nsubs + 1024))
}

# offers_setup: the session (bench_begin), the cluster, the admin token,
# placesd's configuration, the seeded data and the offers' places
offers_setup() {
	client_pid='' probe_pid='' failed_subs=() noisy=0
	bench_begin obench offers_cleanup
	declare -gA R
	start_cluster "$pgdir" "$(pg_max_conn "$pool_size")" 128MB
	write_token
	conf_server="max_connections = $max_clients
keepalive_timeout = 300s
backlog = 4096"
	conf_more="[offers]
admin_token_file = $token_file
heartbeat = 15s
max_subscribers = $max_subs"
	seed_cluster
	# the offers' places: 50 spread over the ids
	place_ids=$(psql_q -c "SELECT string_agg(id::text, ',') FROM (SELECT id FROM places ORDER BY id) p
		WHERE id % greatest(1, (SELECT count(*) FROM places) / 50) = 0 OR (SELECT count(*) FROM places) < 50") ||
		{ note "cannot read place ids"; exit 1; }
	[ -n "$place_ids" ] || place_ids=$(psql_q -c "SELECT min(id) FROM places")
	# /metrics waits on 10,000 streams' worker: give fetch_metrics more time
	metrics_max_time=10
}
offers_cleanup() {
	kill_child "${probe_pid:-}"
	stop_client
}

# stop_client: the client's process group (it was started with setsid and
# its subscriber processes are in it), then reap it
stop_client() {
	[ -n "${client_pid:-}" ] || return 0
	kill -TERM -- "-$client_pid" 2>/dev/null || kill -TERM "$client_pid" 2>/dev/null
	local i
	for i in $(seq 1 50); do is_running "$client_pid" || break; sleep 0.1; done
	is_running "$client_pid" && kill -KILL -- "-$client_pid" 2>/dev/null
	wait "$client_pid" 2>/dev/null
	client_pid=
	return 0
}

# offers_placesd: a fresh placesd (fresh_placesd), once every worker's
# offer feed is connected too
offers_placesd() {
	local i up=0
	fresh_placesd "start $((nstart + 1))"
	for i in $(seq 1 100); do
		fetch_metrics "$tmp/m-start.txt" && up=$(metric placesd_offer_feed_up "$tmp/m-start.txt")
		[ "${up:-0}" -ge "$nworkers" ] && break
		sleep 0.1
	done
	[ "${up:-0}" -ge "$nworkers" ] ||
		{ note "placesd_offer_feed_up is ${up:-?} after 10 s, expected $nworkers: the offer feed is not connected"; tail -n 20 "$placesd_log" >&2; exit 1; }
	return 0
}

# json_fields FILE KEY...: the values of top-level keys of the client's
# summary (the last line of FILE), one a line ("-" for null or missing)
json_fields() {
	"$python_bin" - "$@" <<'EOF'
import json, sys
with open(sys.argv[1]) as f:
    lines = [l for l in f if l.startswith("{")]
d = json.loads(lines[-1])
for k in sys.argv[2:]:
    v = d.get(k)
    if v is None:
        print("-")
    elif isinstance(v, dict):
        print("; ".join("%s: %s" % kv for kv in v.items()) or "-")
    else:
        print(v)
EOF
}

# run_round R: placesd afresh, the client, the figures into R[key,round]
run_round() {
	local r=$1 out rdy go i m0 m1 t0 t1 rc connected gauge kb0 kb1 kb2 v
	local w_rss0 w_pss0 nw0 ma0 rk0 pg0 tcp0 w_rss1 w_pss1 ma1 rk1 pg1 tcp1
	local w_rss2 pg2 sent slow keys
	offers_placesd
	out=$tmp/client-r$r
	rdy=$out.ready
	go=$out.go
	m0=$out.m0; m1=$out.m1
	sleep 0.5
	read -r w_rss0 w_pss0 nw0 ma0 rk0 pg0 tcp0 <<<"$(mem_snapshot)"
	[ "$nw0" -eq "$nworkers" ] ||
		problems+=("round $r: found $nw0 worker processes under the master (pid $placesd_pid), expected $nworkers")
	fetch_metrics "$m0" || { note "GET /metrics failed"; exit 1; }

	probe_args=()
	[ "$probe" -gt 0 ] && probe_args=(--quiet-every "$probe_win" --started-file "$out.hz.started")
	setsid nice -n "$client_nice" "$python_bin" "$client" --port "$placesd_port" --subscribers "$nsubs" \
		--offers "$noffers" --interval "$interval_s" --token-file "$token_file" \
		--place-ids "$place_ids" --procs "$procs" --sources "$sources" \
		--read-pause "$read_pause_s" "${probe_args[@]}" \
		--ready-file "$rdy" --go-file "$go" --tag "bench r$r" \
		</dev/null >"$out.json" 2>"$out.log" &
	client_pid=$!
	# setsid made it a scheduler autogroup of its own, whose weight (not
	# the nice of its processes) decides against placesd's: nice that
	if [ "$client_nice" -gt 0 ] && [ -w "/proc/$client_pid/autogroup" ]; then
		echo "$client_nice" >"/proc/$client_pid/autogroup" 2>/dev/null ||
			problems+=("round $r: could not set the client's autogroup nice")
	fi
	# connected and idle: the client says so (after its --idle second)
	for i in $(seq 1 6000); do
		[ -s "$rdy" ] && break
		if ! is_running "$client_pid"; then
			wait "$client_pid"; rc=$?; client_pid=
			note "the load client exited with status $rc before its subscribers were connected:"
			tail -n 20 "$out.log" >&2
			exit 1
		fi
		check_placesd
		sleep 0.1
	done
	[ -s "$rdy" ] || { note "the load client did not connect its subscribers within 600 s"; tail -n 20 "$out.log" >&2; exit 1; }
	connected=$("$python_bin" -c 'import json, sys; print(json.load(open(sys.argv[1]))["connected"])' "$rdy")
	# placesd counts them too (the gauge is summed over the workers)
	for _ in $(seq 1 50); do
		fetch_metrics "$out.mc" || { note "GET /metrics failed"; exit 1; }
		gauge=$(metric placesd_sse_subscribers "$out.mc")
		[ "$gauge" = "$connected" ] && break
		sleep 0.1
	done
	[ "$gauge" = "$connected" ] ||
		problems+=("round $r: placesd_sse_subscribers is $gauge with $connected subscribers connected (the client's count)")
	read -r w_rss1 w_pss1 _ ma1 rk1 pg1 tcp1 <<<"$(mem_snapshot)"

	# the offers
	[ "$probe" -gt 0 ] && { probe_series "$out.hz" & probe_pid=$!; }
	cpu_take "+$placesd_pid" "+$pg_pid" "$client_pid"; t0=$split
	: >"$go"
	wait "$client_pid"; rc=$?
	client_pid=
	if [ -n "$probe_pid" ]; then
		wait "$probe_pid"; probe_pid=
		probe_medians "$out.hz" "$r"
		R[hz_win,$r]+="; a 1 ms sleep woke late by p50/p99 $(host_wake | tr ' ' /) ms (the host)"
	fi
	cpu_take "+$placesd_pid" "+$pg_pid" "$client_pid"; t1=$split
	R[oth,$r]=$(other_pct "$t0" "$t1")
	read -r "R[cpd,$r]" "R[cpg,$r]" "R[ccl,$r]" _ <<<"$(cores_of "$t0" "$t1" 2)"
	check_placesd
	sleep 0.3
	fetch_metrics "$m1" || { note "GET /metrics failed after the offers"; exit 1; }
	read -r w_rss2 _ _ _ _ pg2 _ <<<"$(mem_snapshot)"
	if [ "$rc" -ne 0 ] || ! grep -q '^{' "$out.json"; then
		note "the load client failed (status $rc):"
		tail -n 30 "$out.log" >&2
		exit 1
	fi
	sed -n '/^offer /,$p' "$out.log" >"$out.offers"

	keys="connected connect_failed connect_errors at_go closed_before_offers published publish_failed
		last_p50 last_p99 last_max all_p50 all_p99 first_p50 median_p50 read_last_p50 read_last_p99
		read_all_p99 lag_p99 lag_max missed_subs missed_events duplicates foreign closed closed_errors
		client_cpu_pct client_cpu_s arrivals stamps stamps_missing stamps_shared post_ms_p50 post_ms_max connect_s"
	local vals=() k j=0
	# shellcheck disable=SC2086 # $keys: a list of words
	mapfile -t vals < <(json_fields "$out.json" $keys)
	[ ${#vals[@]} -eq "$(wc -w <<<"$keys")" ] ||
		{ note "cannot read the client's summary $out.json"; tail -n 5 "$out.log" >&2; exit 1; }
	for k in $keys; do R[$k,$r]=${vals[$j]:--}; j=$((j + 1)); done

	# memory per idle subscriber
	kb0=$(awk -v a="$w_rss0" -v b="$w_rss1" -v n="$connected" 'BEGIN { printf "%.2f", (n > 0 ? (b - a) / n : 0) }')
	kb1=$(awk -v a="$w_pss0" -v b="$w_pss1" -v n="$connected" 'BEGIN { printf "%.2f", (n > 0 ? (b - a) / n : 0) }')
	kb2=$(awk -v a="$w_rss0" -v b="$w_rss2" -v n="$connected" 'BEGIN { printf "%.2f", (n > 0 ? (b - a) / n : 0) }')
	R[kbrss,$r]=$kb0
	R[kbpss,$r]=$kb1
	[ "$w_pss0" -eq 0 ] && R[kbpss,$r]=-
	R[kbafter,$r]=$kb2
	R[kbtcp,$r]=$(awk -v a="$tcp0" -v b="$tcp1" -v n="$connected" 'BEGIN { printf "%.2f", (n > 0 ? (b - a) / n : 0) }')
	R[mem,$r]="workers RSS $w_rss0 -> $w_rss1 kB (after the offers $w_rss2), PSS $w_pss0 -> $w_pss1; master RSS $ma0 -> $ma1; ranker RSS $rk0 -> $rk1; PostgreSQL PSS $pg0 -> $pg1 (after the offers $pg2); kernel TCP memory (machine-wide) $tcp0 -> $tcp1 kB"

	# placesd's counters
	sent=$(( $(metric placesd_offers_sent_total "$m1") - $(metric placesd_offers_sent_total "$m0") ))
	slow=$(( $(metric placesd_sse_slow_closed_total "$m1") - $(metric placesd_sse_slow_closed_total "$m0") ))
	v=$(( ${R[at_go,$r]} * ${R[published,$r]} ))
	R[sent,$r]=$sent
	# CPU per event: placesd's over the offers (clock ticks) per event it
	# sent, the client's per arrival it noted
	R[pdus,$r]=$(awk -v a="$t0" -v b="$t1" -v n="$sent" -v hz="$(getconf CLK_TCK 2>/dev/null || echo 100)" 'BEGIN {
		split(a, x, " "); split(b, y, " "); printf "%.1f", (n > 0 ? (y[4] - x[4]) * 1e6 / hz / n : 0) }')
	R[clus,$r]=$(awk -v c="${R[client_cpu_s,$r]}" -v n="${R[arrivals,$r]}" 'BEGIN { printf "%.1f", (n > 0 ? c * 1e6 / n : 0) }')
	[ "$sent" -eq "$v" ] ||
		problems+=("round $r: placesd_offers_sent_total rose by $sent, expected $v (${R[at_go,$r]} subscribers x ${R[published,$r]} offers)")
	[ "$slow" -gt 0 ] &&
		problems+=("round $r: placesd_sse_slow_closed_total rose by $slow (subscribers closed for being more than [offers] max_pending (256k) behind)")
	[ "${R[connect_failed,$r]}" != 0 ] &&
		failed_subs+=("round $r: ${R[connect_failed,$r]} of $nsubs subscribers did not connect (${R[connect_errors,$r]})")
	[ "${R[closed_before_offers,$r]}" != 0 ] &&
		failed_subs+=("round $r: ${R[closed_before_offers,$r]} subscribers were closed before the offers")
	[ "${R[publish_failed,$r]}" != 0 ] &&
		failed_subs+=("round $r: ${R[publish_failed,$r]} of $noffers offers could not be published (see $(basename "$out").log)")
	[ "${R[missed_subs,$r]}" != 0 ] &&
		failed_subs+=("round $r: ${R[missed_subs,$r]} open subscribers missed offers (${R[missed_events,$r]} (subscriber, offer) pairs missing in all, counting the closed ones)")
	[ "${R[closed,$r]}" != 0 ] &&
		failed_subs+=("round $r: ${R[closed,$r]} subscribers were closed during the offers (${R[closed_errors,$r]})")
	[ "${R[duplicates,$r]}" != 0 ] &&
		failed_subs+=("round $r: ${R[duplicates,$r]} offers arrived twice at the same subscriber")
	[ "${R[foreign,$r]}" != 0 ] &&
		problems+=("round $r: ${R[foreign,$r]} events with ids the client did not publish")
	[ "${R[stamps,$r]}" != kernel ] &&
		problems+=("round $r: no kernel receive stamps (SO_TIMESTAMPNS): the delays are the client's read times")
	[ "${R[stamps_missing,$r]}" != 0 ] && [ "${R[stamps_missing,$r]}" != - ] &&
		problems+=("round $r: ${R[stamps_missing,$r]} arrivals without a kernel stamp (their read time is used)")
	[ "${R[stamps_shared,$r]}" != 0 ] && [ "${R[stamps_shared,$r]}" != - ] &&
		problems+=("round $r: ${R[stamps_shared,$r]} arrivals were read together with a later offer, so their stamp is the later one's (an upper bound: the client fell an --interval behind; use a longer --interval or more --procs)")

	stop_placesd
	[ -s "$placesd_log" ] && problems+=("round $r: placesd logged $(wc -l <"$placesd_log" | tr -d ' ') line(s) at warn or above: $(head -n 3 "$placesd_log" | tr '\n' '|' | cut -c1-300)")
	[ "${R[oth,$r]:-0}" -gt 10 ] && noisy=$((noisy + 1))
	report_round "$r"
}

offers_table_head() {
	printf '%5s %6s %6s %10s %10s %9s %9s %6s %6s %7s %7s %8s %8s %5s  %-14s %4s\n' round subs offers \
		"last p50" "last p99" "all p50" "all p99" missed closed "KB RSS" "KB PSS" "rd p99" "lag p99" "cl%" "cores pd/pg/cl" "oth%"
	printf '%s\n' "-------------------------------------------------------------------------------------------------------------------------------------"
}
report_round() {
	local r=$1
	printf '%5s %6s %6s %10s %10s %9s %9s %6s %6s %7s %7s %8s %8s %5s  %-14s %4s\n' "$r" \
		"${R[connected,$r]}" "${R[published,$r]}" "${R[last_p50,$r]}" "${R[last_p99,$r]}" \
		"${R[all_p50,$r]}" "${R[all_p99,$r]}" "${R[missed_subs,$r]}" "${R[closed,$r]}" \
		"${R[kbrss,$r]}" "${R[kbpss,$r]}" "${R[read_last_p99,$r]}" "${R[lag_p99,$r]}" \
		"${R[client_cpu_pct,$r]}" "${R[cpd,$r]}/${R[cpg,$r]}/${R[ccl,$r]}" "${R[oth,$r]}"
	printf '      connect %ss; POST p50 %s ms (max %s); first/median subscriber p50 %s/%s ms; last max %s ms; %s events sent\n' \
		"${R[connect_s,$r]}" "${R[post_ms_p50,$r]}" "${R[post_ms_max,$r]}" "${R[first_p50,$r]}" "${R[median_p50,$r]}" \
		"${R[last_max,$r]}" "${R[sent,$r]}"
	printf '      CPU per event: placesd %s us, client %s us; after the offers %s KB/sub RSS; kernel TCP %s KB/sub\n' \
		"${R[pdus,$r]}" "${R[clus,$r]}" "${R[kbafter,$r]}" "${R[kbtcp,$r]}"
	printf '      %s\n' "${R[mem,$r]}"
	[ -n "${R[hz_win,$r]:-}" ] &&
		printf '      /healthz p99 per window (ms): %s\n' "${R[hz_win,$r]}"
	return 0
}

# probe_series OUT: with --probe, the client publishes in windows of
# probe_win seconds, each followed by as long a quiet one (sse_client.py
# --quiet-every), counted from the first publish (OUT.started: its
# time.time()); the paced probe (lib.sh) runs in each window, from half a
# second after it opens to half a second before it closes, until the
# client is done. Each window's "STATE P50 P99 ANSWERED NON2XX" goes to
# OUT.series, STATE storm or idle (subscribers connected, no offers).
probe_series() {
	local out=$1 t0 j=0 st at now fig
	for _ in $(seq 1 600); do [ -s "$out.started" ] && break; sleep 0.1; done
	t0=$(cat "$out.started" 2>/dev/null) || return 0
	: >"$out.series"
	while is_running "$client_pid"; do
		st=storm
		[ $((j % 2)) = 1 ] && st=idle
		at=$(awk -v t="$t0" -v j="$j" -v w="$probe_win" 'BEGIN { printf "%.3f", t + j * w + 0.5 }')
		now=$(date +%s.%N)
		sleep "$(awk -v a="$at" -v n="$now" 'BEGIN { d = a - n; printf "%.3f", (d > 0 ? d : 0) }')"
		is_running "$client_pid" || break
		fig=$(probe_paced "$out-$j-$st" "http://127.0.0.1:$placesd_port/healthz" "$probe" 25 \
			$((probe_win - 1))) || return 1
		echo "$st $fig" >>"$out.series"
		j=$((j + 1))
	done
}
# probe_medians OUT ROUND: R[hz_idle|hz_storm,ROUND] = the median over
# that state's windows of their p99 (ms); R[hz_win,ROUND] = the windows
probe_medians() {
	local st p99 n bad idle=() storm=()
	while read -r st _ p99 n bad; do
		[ "${bad:-1}" = 0 ] && [ "${n:-0}" != 0 ] ||
			problems+=("round $2: a $st window of the /healthz probe: ${n:-0} answers, ${bad:-?} non-2xx")
		if [ "$st" = idle ]; then idle+=("$p99"); else storm+=("$p99"); fi
	done <"$1.series"
	[ ${#idle[@]} -gt 0 ] && [ ${#storm[@]} -gt 0 ] ||
		{ problems+=("round $2: the /healthz probe got no idle or no storm window (offers over too soon: more --offers)"); return; }
	R[hz_idle,$2]=$(median "${idle[@]}")
	R[hz_storm,$2]=$(median "${storm[@]}")
	R[hz_win,$2]="storm ${storm[*]}; idle ${idle[*]}"
}

# offers_run TITLE: the printout's head, one round after another, the
# legend
offers_run() {
	local r
	echo "$1  $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
	echo "  placesd:    $placesd_bin ($("$placesd_bin" -V 2>/dev/null | head -n 1)), workers $workers"
	echo "  config:     max_connections $max_clients, keepalive_timeout 300s, backlog 4096; [offers] heartbeat 15s, max_subscribers $max_subs"
	echo "  PostgreSQL: $(pg_version) ($pg_bindir), Unix socket, fsync off"
	echo "  data:       $nplaces places, $seeded_offers seeded offers (seeded in ${t_seed} s)"
	echo "  client:     $client ($("$python_bin" -V 2>&1)), $nsubs subscribers over $procs process(es) and $sources source address(es); $noffers offers, one every ${interval_ms} ms$([ "$read_pause_ms" -gt 0 ] && echo "; subscribers stopped for ${read_pause_ms} ms from each publish (--read-pause)")$([ "$client_nice" -gt 0 ] && echo "; client at nice $client_nice")"
	echo "  open files: $nofile per process$nofile_note"
	echo "  rounds:     $rounds, placesd started afresh for each"
	machine_line "client, placesd and PostgreSQL"
	warn_busy
	echo

	offers_table_head
	for r in $(seq 1 "$rounds"); do
		run_round "$r"
	done
	echo "subs = subscribers connected; last = delay from publishing to the arrival at the last subscriber (p50, p99 over the offers), all = every arrival, in ms"
	echo "arrival = the kernel's receive stamp; rd p99 = the last p99 as the client read it; lag p99 = the client's delay in reading (read - stamp)"
	echo "KB RSS/PSS = workers' memory per idle subscriber; cl% = client CPU (% of one core) during the offers; cores pd/pg/cl = placesd, PostgreSQL, client; oth% = other processes' share"
}

# med KEY [DECIMALS]: the median over the rounds of R[KEY,round] (numeric
# values only; 1 decimal), "-" when there are none
med() {
	local v=() r
	for r in $(seq 1 "$rounds"); do
		[[ ${R[$1,$r]:-} =~ ^[0-9.]+$ ]] && v+=("${R[$1,$r]}")
	done
	if [ ${#v[@]} -gt 0 ]; then
		awk -v m="$(median "${v[@]}")" -v d="${2:-1}" 'BEGIN { printf "%.*f\n", d, m }'
	else
		echo -
	fi
}
# verdict VALUE LIMIT: "met" when VALUE <= LIMIT
verdict() {
	if [ "$1" = - ]; then echo "no figure"
	elif awk -v v="$1" -v l="$2" 'BEGIN { exit !(v <= l) }'; then echo "met"
	else echo "NOT met"; fi
}

# offers_summary: the medians over the rounds, what failed, the aims and
# the notes; sets p99 (delay to the last subscriber), p99_aim, kbr and kbp
# (KB per idle subscriber, RSS and PSS) and, with --probe, hz_idle,
# hz_storm and hz_ratio
offers_summary() {
	p99=$(med last_p99)
	p99_aim=100
	[ "$nsubs" -gt 10000 ] && p99_aim=250
	kbr=$(med kbrss 2)
	kbp=$(med kbpss 2)
	echo
	echo "Medians over $rounds round(s), $nsubs subscribers, $noffers offers each:"
	printf '  delay to the last subscriber:  p50 %s ms, p99 %s ms (as the client read it: p50 %s, p99 %s)\n' \
		"$(med last_p50)" "$p99" "$(med read_last_p50)" "$(med read_last_p99)"
	printf '  every arrival:                 p50 %s ms, p99 %s ms; first subscriber p50 %s ms, median subscriber p50 %s ms\n' \
		"$(med all_p50)" "$(med all_p99)" "$(med first_p50)" "$(med median_p50)"
	printf '  memory per idle subscriber:    %s KB RSS, %s KB PSS (workers); kernel TCP buffers %s KB (machine-wide)\n' \
		"$kbr" "$kbp" "$(med kbtcp 2)"
	printf '  CPU per event:                 placesd %s us per event sent, the client %s us per arrival\n' \
		"$(med pdus)" "$(med clus)"
	printf '  client:                        lag p99 %s ms, CPU %s%% of one core during the offers\n' \
		"$(med lag_p99)" "$(med client_cpu_pct)"
	if [ "$probe" -gt 0 ]; then
		hz_idle=$(med hz_idle 3) hz_storm=$(med hz_storm 3)
		hz_ratio=$(awk -v a="$hz_idle" -v b="$hz_storm" 'BEGIN { if (a > 0 && b != "-") printf "%.2f", b / a; else print "-" }')
		printf '  /healthz p99 (%s connections):  idle %s ms, during the offers %s ms: %sx\n' \
			"$probe" "$hz_idle" "$hz_storm" "$hz_ratio"
	fi
	[ "$noisy" -gt 0 ] && problems+=("$noisy round(s) shared the machine with other busy processes (oth% > 10): those figures are noisy, rerun on a quiet machine")
	pg_log_problems

	echo
	fail_banner "SUBSCRIBERS OR OFFERS FAILED" "${failed_subs[@]}"
	echo "Aims:"
	printf '  p99 delay to the last subscriber <= %3d ms:  %s ms: %s\n' "$p99_aim" "$p99" "$(verdict "$p99" "$p99_aim")"
	echo "  <= 8 KB per idle subscriber:                 $kbr KB RSS: $(verdict "$kbr" 8) (PSS $kbp KB: $(verdict "$kbp" 8))"
	[ "$probe" -gt 0 ] && echo "  /healthz p99 during the offers <= 2x idle:   ${hz_ratio}x: $(verdict "$hz_ratio" 2)"
	echo
	print_notes "No further notes: the gauge matched the connected count, every event was counted as sent, none closed for being slow, nothing logged."
}
